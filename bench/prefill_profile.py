"""Where a prefill pass of the int4 fast model spends its time, at the EXAONE-4.0-32B shape.

On a GPU, with the random 32B weights built in memory (``bench/gptq_random.py``'s, seed 0):

- the varlen prefill attention (``kernels/prefill_attention.py``) against its SDPA twin at the
  32B head shapes (40 query / 8 KV heads, D 128): scattered blocks, histories, the 4K window
  with the blocks before it released (out-of-range table entries), bf16 and fp32;
- one layer's attention alone, the kernel (a few tile configs) against the chunk-by-chunk SDPA
  path it replaced, on W1-shaped passes (chunks of ~700 tokens) and a W3-shaped one (an
  8,192-token chunk after 24,576 tokens of history);
- whole prefill passes (8,192 and 16,384 tokens of ~700-token prompts) with either attention,
  and a ``torch.profiler`` table of one pass: time per kernel family;
- the linears at 128-256 rows through the fused GEMM and through dequantize + cuBLAS (where
  ``DEQUANT_MATMUL_ROWS`` should sit);
- ``--steps order`` / ``--steps pdl``: one decode step with and without the producers writing
  r128's input order / with and without programmatic dependent launch (logits bitwise equal;
  eager ms / ms per CUDA-graph replay).

    python bench/prefill_profile.py --out DIR      # writes DIR/prefill_profile.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from evalkit.runners.torch_int4 import fast_model
from evalkit.runners.torch_int4.fast_model import FastExaone4
from evalkit.runners.torch_int4.kernels import prefill_attention as pa
from evalkit.runners.torch_int4.kernels import torch_ops
from evalkit.runners.torch_int4.paged_cache import PagedKVCache

DEV = torch.device("cuda")
DEQUANT_ROWS = fast_model.DEQUANT_MATMUL_ROWS
H, HKV, D, BS, WINDOW = 40, 8, 128, 32, 4096


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def timed(fn: Callable[[], Any], reps: int = 5) -> float:
    """Median seconds of `fn` (synchronised), after one warm-up call."""
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def paged_store(
    rows: int, per_row: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    nb = rows * per_row
    kc = torch.randn(nb + 1, BS, HKV, D, device=DEV, dtype=dtype)
    vc = torch.randn_like(kc)
    table = torch.randperm(nb, device=DEV).to(torch.int32).view(rows, per_row)
    return kc, vc, table


def w1_bounds(total: int, seed: int = 0) -> list[tuple[int, int, int, int]]:
    """~700-token fresh prompts (600-800) filling `total` tokens, one table row each."""
    g = torch.Generator().manual_seed(seed)
    bounds: list[tuple[int, int, int, int]] = []
    at = 0
    while at < total:
        n = min(int(torch.randint(600, 801, (1,), generator=g)), total - at)
        bounds.append((at, at + n, len(bounds), 0))
        at += n
    return bounds


def flops(bounds: list[tuple[int, int, int, int]], window: int | None) -> float:
    """Attention FLOPs (QK and PV) of the chunks' queries over their visible keys."""
    total = 0.0
    for a, b, _, p0 in bounds:
        for p in range(p0, p0 + b - a, 64):  # rows in steps of 64, exact enough
            seen = p + 1 if window is None else min(p + 1, window)
            total += 4 * H * D * seen * min(64, p0 + b - a - p)
    return total


def check_kernel(res: dict[str, Any]) -> None:
    """Four chunks in one launch: a fresh 700-token prompt, 2,000 tokens after 5,000 of history,
    one token after 6,000, a fresh 4,500-token prompt (longer than the window). With the window,
    the blocks before it point at a block of NaN (a read of a released block shows)."""
    bounds = [(0, 700, 0, 0), (700, 2700, 1, 5000), (2700, 2701, 2, 6000), (2701, 7201, 3, 0)]
    for dt in (torch.bfloat16, torch.float32):
        for window in (WINDOW, None):
            kc, vc, table = paged_store(4, 256, dt)  # rows of 8,192 tokens
            nan = kc.shape[0] - 1
            kc[nan], vc[nan] = float("nan"), float("nan")
            if window is not None:
                table[1, : (5000 - window + 1) // BS] = nan
                table[2, : (6000 - window + 1) // BS] = nan
            packed = pa.pack_chunks(bounds, DEV)
            q = torch.randn(bounds[-1][1], H, D, device=DEV, dtype=dt)
            out = pa.prefill_attention(q, kc, vc, table, packed, window=window)
            ref = torch_ops.prefill_attention(q.float(), kc.float(), vc.float(), table, packed, window=window)
            res[f"check prefill_attention {str(dt)[6:]} window={window} rel err vs fp32 twin"] = rel(out, ref)


def attention_alone(res: dict[str, Any]) -> None:
    dt = torch.bfloat16
    cases = {
        "W1 8192 tokens (~700-token prompts)": (w1_bounds(8192), 16, 32),
        "W1 16384 tokens": (w1_bounds(16384), 32, 32),
        "W3 8192-token chunk after 24576": ([(0, 8192, 0, 24576)], 1, 1024),
    }
    configs = [(64, 64, 4, 2), (64, 64, 4, 3), (128, 64, 8, 2), (128, 32, 4, 2), (64, 32, 4, 2)]
    for name, (bounds, rows, per_row) in cases.items():
        kc, vc, table = paged_store(rows, per_row, dt)
        q = torch.randn(bounds[-1][1], H, D, device=DEV, dtype=dt)
        for window in (WINDOW, None):
            fl = flops(bounds, window)
            key = f"{name}, window={window}"
            packed = pa.pack_chunks(bounds, DEV)
            s = timed(partial(torch_ops.prefill_attention, q, kc, vc, table, packed, window=window))
            row: dict[str, Any] = {
                "sdpa per chunk ms": round(1e3 * s, 3),
                "sdpa TFLOP/s": round(fl / s / 1e12, 1),
            }
            for bm, bn, warps, stages in configs:
                p = pa.pack_chunks(bounds, DEV, block_m=bm)
                s = timed(
                    partial(
                        pa.prefill_attention,
                        q,
                        kc,
                        vc,
                        table,
                        p,
                        window=window,
                        block_n=bn,
                        num_warps=warps,
                        num_stages=stages,
                    )
                )
                row[f"kernel BM{bm} BN{bn} w{warps} s{stages} ms"] = round(1e3 * s, 3)
                row[f"kernel BM{bm} BN{bn} w{warps} s{stages} TFLOP/s"] = round(fl / s / 1e12, 1)
            res[f"attention one layer: {key}"] = row
            print(key, row, flush=True)


def passes(res: dict[str, Any], model: FastExaone4) -> None:
    for total in (8192, 16384):
        bounds = w1_bounds(total, seed=1)
        cache = PagedKVCache.contiguous(model.cfg, len(bounds), 1024, model.dtype, DEV)
        chunks = [(torch.randint(10, 4000, (b - a,)), r, 0) for a, b, r, _ in bounds]
        row: dict[str, Any] = {}
        for label, fn in (("kernel", pa.prefill_attention), ("sdpa per chunk", torch_ops.prefill_attention)):
            model._prefill_attention = fn
            s = timed(partial(model.prefill, chunks, cache), reps=3)
            row[f"{label} s"] = round(s, 3)
            row[f"{label} tok/s"] = round(total / s, 1)
        model._prefill_attention = pa.prefill_attention
        res[f"prefill pass {total} tokens of ~700-token prompts"] = row
        print(total, row, flush=True)
        if total == 8192:
            profile(res, model, chunks, cache)
        del cache
        torch.cuda.empty_cache()


def family(name: str) -> str:
    """The kernel family of a profiler event's name (CUDA kernels: cuBLAS's, Triton's by function)."""
    n = name.lower()
    if n.startswith(("_gemm", "_gemv")):  # the tl W4A16 kernels (cuBLAS names never start so)
        return "W4A16 GEMM/GEMV (Triton)"
    for key, fam in (
        ("prefill_attention", "prefill attention (Triton)"),
        ("flash", "SDPA flash"),
        ("fmha", "SDPA mem-efficient"),
        ("efficient_attention", "SDPA mem-efficient"),
        ("dequant", "dequantize (Triton)"),
        ("decode_split", "decode attention (Triton)"),
        ("decode_merge", "decode attention (Triton)"),
        # the W4A16 kernels before cuBLAS's names (which contain "gemm" too)
        ("gemm_g128", "W4A16 GEMM (Gluon g128)"),
        ("gemm_r128", "W4A16 GEMM (Gluon r128)"),
        ("gemm", "cuBLAS GEMM"),
        ("nvjet", "cuBLAS GEMM"),
        ("sm90", "cuBLAS GEMM"),
        ("qkv_post", "qkv_post"),
        ("add_norm", "add_norm"),
        ("silu_mul", "silu_mul"),
        ("index", "index/gather"),
        ("copy", "copies"),
        ("cat", "copies"),
    ):
        if key in n:
            return fam
    return "other"


def profile(res: dict[str, Any], model: FastExaone4, chunks: list[Any], cache: PagedKVCache) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    for label, fn in (("kernel", pa.prefill_attention), ("sdpa per chunk", torch_ops.prefill_attention)):
        model._prefill_attention = fn
        model.prefill(chunks, cache)
        torch.cuda.synchronize()
        with prof(activities=[ProfilerActivity.CUDA]) as p:
            model.prefill(chunks, cache)
            torch.cuda.synchronize()
        fams: dict[str, float] = {}
        top = []
        for ev in p.key_averages():
            us = ev.device_time_total if hasattr(ev, "device_time_total") else ev.cuda_time_total
            if us <= 0:
                continue
            fams[family(ev.key)] = fams.get(family(ev.key), 0.0) + us / 1e3
            top.append((us / 1e3, ev.count, ev.key[:90]))
        top.sort(reverse=True)
        res[f"profile 8192-token pass ({label}): ms per kernel family"] = {
            k: round(v, 1) for k, v in sorted(fams.items(), key=lambda kv: -kv[1])
        }
        res[f"profile 8192-token pass ({label}): top kernels (ms, calls, name)"] = [
            (round(a, 2), c, n) for a, c, n in top[:14]
        ]
        print(label, res[f"profile 8192-token pass ({label}): ms per kernel family"], flush=True)
    model._prefill_attention = pa.prefill_attention


def linears(res: dict[str, Any], model: FastExaone4) -> None:
    layer = model.layers[0]
    row: dict[str, Any] = {}
    for m in (64, 96, 128, 160, 256):
        x = torch.randn(m, model.cfg.hidden_size, device=DEV, dtype=model.dtype)
        xi = torch.randn(m, layer.down.in_features, device=DEV, dtype=model.dtype)  # type: ignore[union-attr]
        for path, rows in (("fused", 1 << 30), ("dequant+cuBLAS", 1)):
            fast_model.DEQUANT_MATMUL_ROWS = rows

            def run(x: torch.Tensor = x, xi: torch.Tensor = xi) -> None:
                for w in (layer.qkv, layer.o, layer.gate_up):
                    model.linear(x, w)
                model.linear(xi, layer.down)

            row[f"M={m} {path} us/layer"] = round(1e6 * timed(run, reps=10), 1)
    fast_model.DEQUANT_MATMUL_ROWS = DEQUANT_ROWS
    res["linears of one layer (q|k|v, o, gate|up, down)"] = row
    print(row, flush=True)


def dequant(res: dict[str, Any], model: FastExaone4) -> None:
    """The dequantize kernels alone on layer 0's four linears: GB/s of codes read + bf16 written."""
    from evalkit.runners.torch_int4.kernels import w4a16

    layer = model.layers[0]
    variants = [{"transposed": False}] + [
        {"block_n": bn, "block_k": bk, "num_warps": nw}
        for bn, bk, nw in ((64, 128, 4), (32, 128, 4), (128, 128, 8), (64, 64, 4), (128, 64, 4), (64, 128, 8))
    ]
    for name in ("qkv", "o", "gate_up", "down"):
        w = getattr(layer, name)
        out = torch.empty((w.out_features, w.in_features), dtype=model.dtype, device=DEV)
        ref = w4a16.dequantize(w, model.dtype, transposed=False).clone()
        moved = w.nbytes + out.numel() * out.element_size()
        row: dict[str, Any] = {}
        for v in variants:
            label = (
                "first kernel"
                if v.get("transposed") is False
                else "t BN{block_n} BK{block_k} w{num_warps}".format(**v)
            )
            us = 1e6 * timed(partial(w4a16.dequantize, w, model.dtype, out, **v), reps=10)
            row[label] = f"{us:.1f} us, {moved / us / 1e3:.0f} GB/s" + (
                "" if torch.equal(out, ref) else ", DIFFERS"
            )
        res[f"dequantize {name} {w.in_features}->{w.out_features}"] = row
        print(name, row, flush=True)


DECODE_ROWS = (256, 128)


def _decode_step(model: FastExaone4, cache: PagedKVCache, rows: int) -> Callable[[], torch.Tensor]:
    """One decode step of `rows` random tokens at 800-1000 tokens of context (rows 0..rows-1)."""
    tokens = torch.randint(10, 4000, (rows,), device=DEV)
    pos = torch.randint(800, 1000, (rows,), device=DEV, dtype=torch.int32)
    r = torch.arange(rows, device=DEV, dtype=torch.int32)
    return partial(model.decode, tokens, pos, r, cache)


def decode_profile(res: dict[str, Any], model: FastExaone4, rows_list: tuple[int, ...] = DECODE_ROWS) -> None:
    """One eager decode step at each of `rows_list` rows (at most 256), ~900 tokens of context
    each: ms of device time per kernel family (linears, attention, the glue between them)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    cache = PagedKVCache.contiguous(model.cfg, 256, 1024, model.dtype, DEV)
    for rows in rows_list:
        step = _decode_step(model, cache, rows)
        res[f"decode step {rows} rows eager ms"] = round(1e3 * timed(step, reps=5), 2)
        with prof(activities=[ProfilerActivity.CUDA]) as p:
            step()
            torch.cuda.synchronize()
        fams: dict[str, float] = {}
        kernels: list[tuple[float, int, str]] = []
        for ev in p.key_averages():
            fam = family(ev.key)
            fams[fam] = fams.get(fam, 0.0) + ev.device_time_total / 1e3
            if ev.device_time_total > 0:
                kernels.append((ev.device_time_total / 1e3, ev.count, ev.key[:100]))
        # the kernels behind the families, largest first: what "other" and the glue are made of
        res[f"profile decode step {rows} rows: top kernels (ms, launches, name)"] = [
            (round(ms, 3), n, name) for ms, n, name in sorted(kernels, reverse=True)[:24]
        ]
        res[f"profile decode step {rows} rows: ms per kernel family"] = {
            k: round(v, 2) for k, v in sorted(fams.items(), key=lambda kv: -kv[1]) if v > 0
        }
        print(rows, res[f"profile decode step {rows} rows: ms per kernel family"], flush=True)
    del cache
    torch.cuda.empty_cache()


def order_check(res: dict[str, Any], model: FastExaone4, rows_list: tuple[int, ...] = DECODE_ROWS) -> None:
    """One decode step at each of `rows_list` rows with the producers writing the r128 GEMM's
    input order (the default) and with the GEMM making its own copy: logits must be bitwise
    equal; eager ms of each."""
    cache = PagedKVCache.contiguous(model.cfg, 256, 1024, model.dtype, DEV)
    for rows in rows_list:
        step = _decode_step(model, cache, rows)
        fused = step().clone()
        fused_ms = 1e3 * timed(step, reps=5)
        saved = model._input_order
        model._input_order = lambda w, rows, dtype: None
        try:
            copied = step().clone()
            copied_ms = 1e3 * timed(step, reps=5)
        finally:
            model._input_order = saved
        res[f"order {rows} rows"] = {
            "bitwise_equal": bool(torch.equal(fused, copied)),
            "max_abs_diff": float((fused - copied).abs().max()),
            "eager ms, producers order x": round(fused_ms, 2),
            "eager ms, the GEMM copies x": round(copied_ms, 2),
        }
        print(rows, res[f"order {rows} rows"], flush=True)
    del cache
    torch.cuda.empty_cache()


def _graph_ab(step: Callable[[], torch.Tensor], settings: dict[str, Callable[[], None]]) -> dict[str, Any]:
    """For each setting (applied by calling it): the step's logits eagerly and in five replays of
    a CUDA graph of it, ms per replay. Bitwise equal against the first setting's eager logits?"""
    runs: dict[str, list[torch.Tensor]] = {}
    ms: dict[str, float] = {}
    for name, apply in settings.items():
        apply()
        runs[name] = [step().clone()]
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            logits = step()
        for _ in range(5):
            graph.replay()
            runs[name].append(logits.clone())
        ms[name] = 1e3 * timed(graph.replay, reps=20)
        del graph
    ref = next(iter(runs.values()))[0]
    return {
        "bitwise_equal": all(torch.equal(t, ref) for ts in runs.values() for t in ts),
        "max_abs_diff": max(float((t - ref).abs().max()) for ts in runs.values() for t in ts),
        **{f"graph ms, {name}": round(v, 3) for name, v in ms.items()},
    }


def silu_check(res: dict[str, Any], model: FastExaone4, rows_list: tuple[int, ...] = DECODE_ROWS) -> None:
    """One decode step at each of `rows_list` rows as a CUDA graph (as the engine runs it), with
    silu(gate) * up in gate|up's epilogue where its kernel can (``model.fused_silu``) and with
    gate|up's fp32 output through ``glue.silu_mul``: logits must be bitwise equal (the
    first call and five replays of each graph); ms per replay of each."""
    cache = PagedKVCache.contiguous(model.cfg, 256, 1024, model.dtype, DEV)
    saved = model.fused_silu

    def fused(on: bool) -> Callable[[], None]:
        return lambda: setattr(model, "fused_silu", on)

    try:
        for rows in rows_list:
            step = _decode_step(model, cache, rows)
            res[f"silu {rows} rows"] = _graph_ab(
                step, {"gate|up then silu_mul": fused(False), "silu in gate|up's epilogue": fused(True)}
            )
            print(rows, res[f"silu {rows} rows"], flush=True)
    finally:
        model.fused_silu = saved
    del cache
    torch.cuda.empty_cache()


def with_tuned_tc(path: Path, res: dict[str, Any], fn: Callable[..., None], holder: dict[str, Any]) -> None:
    """Run a step again with the sweep's winning TUNED_TC entries installed (then restored)."""
    from bench.w4a16_sweep import tuned_from_best
    from evalkit.runners.torch_int4.kernels import w4a16

    saved = dict(w4a16.TUNED_TC)
    tuned = tuned_from_best(path)
    res["tuned: TUNED_TC entries"] = {str(k): str(v) for k, v in tuned.items()}
    print("tuned:", res["tuned: TUNED_TC entries"], flush=True)
    w4a16.TUNED_TC.update(tuned)
    sub: dict[str, Any] = {}
    try:
        fn(sub, holder["m"])
    finally:
        w4a16.TUNED_TC.clear()
        w4a16.TUNED_TC.update(saved)
    res.update({f"tuned: {k}": v for k, v in sub.items()})


def pdl_check(res: dict[str, Any], model: FastExaone4, rows_list: tuple[int, ...] = DECODE_ROWS) -> None:
    """One decode step at each of `rows_list` rows, eager and as a CUDA graph (as the engine
    runs it), with programmatic dependent launch on and off (``kernels/pdl.py``): every logit
    must be bitwise equal (eager off, eager on, five replays of each graph); ms per replay."""
    import os

    cache = PagedKVCache.contiguous(model.cfg, 256, 1024, model.dtype, DEV)
    saved = os.environ.get("EVALKIT_PDL")

    def pdl(flag: str) -> Callable[[], None]:
        return lambda: os.environ.__setitem__("EVALKIT_PDL", flag)

    try:
        for rows in rows_list:
            step = _decode_step(model, cache, rows)
            res[f"pdl {rows} rows"] = _graph_ab(step, {"PDL off": pdl("0"), "PDL on": pdl("1")})
            print(rows, res[f"pdl {rows} rows"], flush=True)
    finally:
        if saved is None:
            os.environ.pop("EVALKIT_PDL", None)
        else:
            os.environ["EVALKIT_PDL"] = saved
    del cache
    torch.cuda.empty_cache()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--steps",
        default="check,attention,dequant,linears,decode,passes",
        help="which parts, comma-separated",
    )
    ap.add_argument(
        "--tuned-tc",
        type=Path,
        default=None,
        help="a w4a16_sweep best.json: the linears and decode steps run with TUNED_TC as in the code, "
        "then again with the sweep's winning large-M / p16 configs added (results prefixed 'tuned: ')",
    )
    ap.add_argument(
        "--decode-rows",
        default=",".join(map(str, DECODE_ROWS)),
        help="rows of the profiled decode steps (the decode step), comma-separated, at most 256",
    )
    args = ap.parse_args()
    decode_rows = tuple(int(v) for v in args.decode_rows.split(","))
    if not all(1 <= r <= 256 for r in decode_rows):
        ap.error(f"--decode-rows must be 1..256, got {args.decode_rows}")
    import triton

    res: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    want = set(args.steps.split(","))
    steps: list[Callable[[], object]] = []
    if "check" in want:
        steps.append(lambda: check_kernel(res))
    if "attention" in want:
        steps.append(lambda: attention_alone(res))
    decode = partial(decode_profile, rows_list=decode_rows)
    order = partial(order_check, rows_list=decode_rows)
    pdl_steps = partial(pdl_check, rows_list=decode_rows)
    silu = partial(silu_check, rows_list=decode_rows)
    with_model: list[tuple[str, Callable[..., None]]] = [
        ("dequant", dequant),
        ("linears", linears),
        ("decode", decode),
        ("order", order),
        ("pdl", pdl_steps),
        ("silu", silu),
        ("passes", passes),
    ]
    if want & {name for name, _ in with_model}:
        from bench.bench_eval import _load_ours

        ns = argparse.Namespace(model=None, shape="exaone4-32b", layers=None, device="cuda", seed=0)
        holder: dict[str, FastExaone4] = {}
        steps.append(lambda: holder.setdefault("m", _load_ours(ns)))
        for name, fn in with_model:
            if name in want:
                steps.append(partial(lambda f: f(res, holder["m"]), fn))
                if args.tuned_tc is not None and name in ("linears", "decode", "order"):
                    steps.append(partial(with_tuned_tc, args.tuned_tc, res, fn, holder))
    for step in steps:
        try:
            with torch.inference_mode():
                step()
        except Exception as e:  # keep what the other steps found
            res.setdefault("errors", []).append(repr(e))
            print("error:", repr(e), flush=True)
        (args.out / "prefill_profile.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
