"""The int4 benchmark's Markdown tables (for BENCHMARKS.md) from the JSON files of one GPU run.

    python bench/int4_report.py --hw hw.json --engine ours.json vllm_machete.json vllm_marlin.json ... \
        [--checkpoint /data/exaone4-32b-random-gptq] [--ours torch_int4] [--kernels best.json] \
        [--out report.md]
    python bench/int4_report.py --kernels best.json     # the W4A16 kernel table alone

Inputs: ``hw.json`` from bench/hw_ceilings.py and one ``EngineResult`` JSON per engine
(bench/int4_schema.py). Bytes come from the checkpoint's own tensors when ``--checkpoint`` is
given, else they are computed for the random EXAONE-4.0-32B GPTQ checkpoint (same numbers).

Per decode scenario (batch B, prompt T, N new tokens; mean context T + N/2):
- weight GB/s = tok/s / B · W, where W = weight bytes one decode step streams (qweight + scales +
  bf16 lm_head + norms + one embedding row; ``ModelFacts.decode_weight_bytes``);
- % copy BW = weight GB/s / measured copy bandwidth (the issue's batch-1 target);
- KV-incl. GB/s = tok/s / B · (W + B · KV(T + N/2)), and % roofline = that / copy bandwidth, i.e.
  tok/s over the KV-inclusive roofline ``B · BW / (W + B · KV)`` (docs/exaone4-architecture.md#roofline).
Prefill: TFLOP/s (useful causal FLOPs) and its fraction of the measured bf16 matmul rate.

Kernels (``--kernels``, the best.json of bench/w4a16_sweep.py): per linear shape and rows M,
the kernel before and after (µs, weight GB/s, TFLOP/s, % of copy bandwidth), and a batch-1
decode estimate: 64 layers x the four M = 1 linears + ATTN_GLUE_MS_B1 (attention, glue and
lm_head per token, from the 2026-11-29 profile in BENCHMARKS.md). An estimate, not a run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.int4_schema import SCENARIOS, EngineResult, HwCeilings, ModelFacts, exaone4_32b_config

SCENARIO_LABEL = {
    "batch1_1k_tok_s": "batch 1, 1K",
    "batch1_32k_tok_s": "batch 1, 32K",
    "batch16_4k_tok_s": "batch 16, 4K",
    "batch64_4k_tok_s": "batch 64, 4K",
    "batch256_1k_tok_s": "batch 256, 1K",
}
# Targets of issue #6 for our engine.
TARGET_B1_COPY_FRACTION = 0.80
TARGET_B64_ROOFLINE_FRACTION = 0.60
TARGET_PREFILL_MATMUL_FRACTION = 0.50
TARGET_WEIGHTS_GB = 18.5


def _f(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def decode_row(r: EngineResult, field: str, facts: ModelFacts, hw: HwCeilings) -> dict[str, Any]:
    """Derived figures of one engine in one decode scenario (None where the engine has no figure)."""
    batch, context = SCENARIOS[field]
    tok_s = getattr(r, field)
    mean_ctx = context + r.decode_tokens / 2
    w = facts.decode_weight_bytes()
    roof = facts.decode_roofline_tok_s(batch, mean_ctx, hw.copy_gbs)
    row: dict[str, Any] = {"engine": r.engine, "scenario": field, "tok_s": tok_s, "roofline_tok_s": roof}
    if tok_s is None:
        return row | {"weight_gbs": None, "copy_fraction": None, "kv_gbs": None, "roofline_fraction": None}
    steps = tok_s / batch
    weight_gbs = steps * w / 1e9
    kv_gbs = steps * (w + batch * facts.kv_bytes(mean_ctx)) / 1e9
    return row | {
        "weight_gbs": weight_gbs,
        "copy_fraction": weight_gbs / hw.copy_gbs,
        "kv_gbs": kv_gbs,
        "roofline_fraction": tok_s / roof,
    }


def prefill_row(r: EngineResult, facts: ModelFacts, hw: HwCeilings) -> dict[str, Any]:
    tflops = r.prefill_tflops
    if tflops is None and r.prefill_tok_s is not None:
        tflops = r.prefill_tok_s * facts.prefill_flops_per_token(r.prefill_prompt_len) / 1e12
    return {
        "engine": r.engine,
        "prefill_tok_s": r.prefill_tok_s,
        "tflops": tflops,
        "matmul_fraction": None if tflops is None else tflops / hw.matmul_tflops,
    }


def render(results: list[EngineResult], hw: HwCeilings, facts: ModelFacts, *, ours: str | None = None) -> str:
    """The Markdown section: ceilings, model bytes, absolute figures, fractions, targets."""
    w = facts.decode_weight_bytes()
    stored = facts.decode_weight_bytes(as_stored=True)
    per_token = facts.kv_shape().layer_token_bytes()  # K and V, one layer
    lines = [
        f"Device: **{hw.device}**; measured copy bandwidth **{hw.copy_gbs / 1e3:.2f} TB/s** "
        f"(read + write, {hw.copy_bytes / 2**20:,.0f} MiB buffers), bf16 matmul "
        f"**{hw.matmul_tflops:,.0f} TFLOP/s** (n = {hw.matmul_n}).",
        "",
        f"Model: checkpoint {facts.total_bytes / 1e9:.2f} GB; a decode step streams W = {w / 1e9:.3f} GB of "
        f"weights (qweight + scales + bf16 lm_head + norms; {stored / 1e9:.3f} GB "
        f"with qzeros and g_idx); KV cache per sequence KV(T) = "
        f"{per_token * facts.num_global_layers:,}·T + "
        f"{per_token * (facts.num_layers - facts.num_global_layers):,}"
        f"·min(T, {facts.sliding_window}) bytes. Roofline at batch B, context T: B · BW / (W + B · KV(T)), "
        f"evaluated at the mean decode context (prompt + half the new tokens).",
        "",
        "| engine | kernel | b1 1K tok/s | b1 32K tok/s | b16 4K tok/s | b64 4K tok/s | b256 1K tok/s "
        "| prefill tok/s | prefill TFLOP/s | peak mem GB | weights GB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p = prefill_row(r, facts, hw)
        lines.append(
            f"| {r.engine} | {r.kernel or '–'} | {_f(r.batch1_1k_tok_s)} | {_f(r.batch1_32k_tok_s)} | "
            f"{_f(r.batch16_4k_tok_s)} | {_f(r.batch64_4k_tok_s)} | {_f(r.batch256_1k_tok_s)} | "
            f"{_f(r.prefill_tok_s, 0)} | "
            f"{_f(p['tflops'])} | {_f(r.peak_mem_gb, 2)} | {_f(r.weights_gb, 2)} |"
        )
    vllm_best: dict[str, float] = {}
    for r in results:
        if r.engine.lower().startswith("vllm"):
            for field in SCENARIOS:
                v = getattr(r, field)
                if v is not None:
                    vllm_best[field] = max(vllm_best.get(field, 0.0), v)
    lines += [
        "",
        "| engine | scenario | tok/s | roofline tok/s | weight GB/s | % copy BW (weights) | KV-incl. GB/s "
        "| % KV-incl. roofline | × best vLLM |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for field in SCENARIOS:
        for r in results:
            d = decode_row(r, field, facts, hw)
            if d["tok_s"] is None:
                continue
            vs = f"{d['tok_s'] / vllm_best[field]:.2f}" if field in vllm_best else "–"
            lines.append(
                f"| {r.engine} | {SCENARIO_LABEL[field]} | {_f(d['tok_s'])} | {_f(d['roofline_tok_s'])} | "
                f"{_f(d['weight_gbs'], 0)} | {_pct(d['copy_fraction'])} | {_f(d['kv_gbs'], 0)} | "
                f"{_pct(d['roofline_fraction'])} | {vs} |"
            )
    lines += ["", "| engine | prefill tok/s | TFLOP/s | % bf16 matmul |", "|---|---:|---:|---:|"]
    for r in results:
        p = prefill_row(r, facts, hw)
        if p["prefill_tok_s"] is not None:
            lines.append(
                f"| {r.engine} | {_f(p['prefill_tok_s'], 0)} | {_f(p['tflops'])} | "
                f"{_pct(p['matmul_fraction'])} |"
            )
    if ours is not None:
        lines += ["", *targets(results, ours, facts, hw, vllm_best)]
    return "\n".join(lines) + "\n"


def targets(
    results: list[EngineResult], ours: str, facts: ModelFacts, hw: HwCeilings, vllm_best: dict[str, float]
) -> list[str]:
    """The issue's targets for engine ``ours``: met or missed, with the margin."""
    r = next((x for x in results if x.engine == ours), None)
    if r is None:
        return [f"(no engine named {ours!r} among the results: targets not evaluated)"]

    def verdict(value: float | None, goal: float, text: str) -> str:
        if value is None:
            return f"| {text} | – | {goal:.2f} | not measured |"
        ok = value >= goal
        word = "met" if ok else "MISSED"
        return f"| {text} | {value:.3f} | {goal:.2f} | {word} ({value / goal:.2f}× of goal) |"

    b1 = decode_row(r, "batch1_1k_tok_s", facts, hw)
    b64 = decode_row(r, "batch64_4k_tok_s", facts, hw)
    pf = prefill_row(r, facts, hw)
    out = [
        f"Targets of issue #6 for **{ours}**:",
        "",
        "| target | measured | goal | verdict |",
        "|---|---:|---:|---|",
        verdict(b1["copy_fraction"], TARGET_B1_COPY_FRACTION, "batch 1, 1K: weight bytes/s ÷ copy BW"),
        verdict(b64["roofline_fraction"], TARGET_B64_ROOFLINE_FRACTION, "batch 64, 4K: ÷ KV-incl. roofline"),
    ]
    if "batch64_4k_tok_s" in vllm_best:
        best = vllm_best["batch64_4k_tok_s"]
        out.append(
            verdict(
                None if r.batch64_4k_tok_s is None else r.batch64_4k_tok_s / best,
                1.0,
                "batch 64, 4K: ÷ best vLLM",
            )
        )
    out.append(verdict(pf["matmul_fraction"], TARGET_PREFILL_MATMUL_FRACTION, "prefill: ÷ bf16 matmul"))
    if r.weights_gb is None:
        out.append(
            f"| weights in GPU memory ≤ {TARGET_WEIGHTS_GB} GB | – | {TARGET_WEIGHTS_GB} | not measured |"
        )
    else:
        ok = r.weights_gb <= TARGET_WEIGHTS_GB
        out.append(
            f"| weights in GPU memory ≤ {TARGET_WEIGHTS_GB} GB | {r.weights_gb:.2f} | {TARGET_WEIGHTS_GB} | "
            f"{'met' if ok else 'MISSED'} |"
        )
    return out


ATTN_GLUE_MS_B1 = 2.1
LINEARS = ("qkv", "o", "gate_up", "down")


def batch1_estimate(best: dict[str, Any], layers: int = 64) -> dict[str, float] | None:
    """tok/s of a batch-1 decode step from the M = 1 kernel times (before and after)."""
    rows = [best.get(f"{name} M=1") for name in LINEARS]
    if not all(rows):
        return None
    after = sum(r["best"]["us"] for r in rows if r)
    before = sum(r["before"]["us"] for r in rows if r)
    return {
        "layer_us_after": after,
        "layer_us_before": before,
        "tok_s_after": 1e3 / (layers * after / 1e3 + ATTN_GLUE_MS_B1),
        "tok_s_before": 1e3 / (layers * before / 1e3 + ATTN_GLUE_MS_B1),
    }


def kernel_table(best: dict[str, Any]) -> str:
    """Markdown table of bench/w4a16_sweep.py's best.json ``best`` entries, plus the estimate."""
    lines = [
        "| linear | M | before | before µs | before GB/s | after | after µs | after GB/s | TFLOP/s "
        "| % copy BW | speed-up |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]

    def kind(cfg: str) -> str:
        if cfg.startswith("GemvConfig"):
            return "GEMV " + cfg.split("variant='")[1].rstrip("')")
        if cfg.startswith("TcConfig"):
            return "large-M GEMM"
        return "GEMM" if cfg.startswith("GemmConfig") else cfg

    for key, b in best.items():
        bf, af = b["before"], b["best"]
        speed = bf["us"] / af["us"] if "us" in bf else None
        lines.append(
            f"| {key.split()[0]} | {b['M']} | {kind(bf['cfg'])} | {_f(bf.get('us'))} "
            f"| {_f(bf.get('gbs'), 0)} | {kind(af['cfg'])} | {_f(af['us'])} | {_f(af['gbs'], 0)} "
            f"| {_f(af['tflops'])} | {_f(af['pct_copy'])} % | {_f(speed, 2)} |"
        )
    est = batch1_estimate(best)
    if est:
        lines.append("")
        lines.append(
            f"Batch-1 decode estimate (64 layers x the four M = 1 linears + {ATTN_GLUE_MS_B1} ms of "
            f"attention, glue and lm_head): {est['layer_us_before']:.1f} -> {est['layer_us_after']:.1f} "
            f"µs of linears per layer, {est['tok_s_before']:.1f} -> {est['tok_s_after']:.1f} tok/s."
        )
    return "\n".join(lines) + "\n"


def load_results(paths: list[Path]) -> list[EngineResult]:
    out = []
    for p in paths:
        data = json.loads(p.read_text(encoding="utf-8"))
        for d in data if isinstance(data, list) else [data]:
            out.append(EngineResult.from_dict(d))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hw", type=Path, default=None, help="JSON of bench/hw_ceilings.py (with --engine)")
    ap.add_argument("--engine", type=Path, nargs="+", default=[], help="EngineResult JSON files (or lists)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="checkpoint dir (bytes from its tensors)")
    ap.add_argument("--ours", default=None, help="engine name to check against the issue's targets")
    ap.add_argument("--kernels", type=Path, default=None, help="best.json of bench/w4a16_sweep.py")
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown here (also printed)")
    args = ap.parse_args(argv)
    if not args.engine and not args.kernels:
        ap.error("give --engine (with --hw) and/or --kernels")
    if args.engine and not args.hw:
        ap.error("--engine needs --hw")
    parts = []
    if args.engine:
        hw = HwCeilings.load(args.hw)
        facts = (
            ModelFacts.from_checkpoint(args.checkpoint)
            if args.checkpoint
            else ModelFacts.from_config(exaone4_32b_config())
        )
        parts.append(render(load_results(args.engine), hw, facts, ours=args.ours))
    if args.kernels:
        parts.append(kernel_table(json.loads(args.kernels.read_text(encoding="utf-8"))["best"]))
    md = "\n".join(parts)
    print(md)
    if args.out:
        args.out.write_text(md, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
