"""Evaluation-shaped throughput: the in-house int4 runner and vLLM on the same random checkpoint.

Three workloads (issue 14), every request with its own output length drawn from one seeded
distribution and forced by ``max_new_tokens`` with EOS ignored, so both runners generate
exactly the same number of tokens:

- W1 multiple choice, non-reasoning: 1,024 prompts of ~700 tokens (600-800), outputs 32-512
  (uniform), greedy;
- W2 reasoning with repeats: 16 prompts x 16 repeats (~500-token prompts), outputs log-normal
  around 2,048 (sigma 0.6) capped at 8,192, temperature 0.6, top-p 0.95, a seed per request;
- W3 long context: 16 prompts of 32,768 tokens, outputs 64, greedy.

``--scale`` multiplies the number of prompts (W2: of distinct prompts; repeats stay 16).
Prompts are random token ids below 4,000 (the random checkpoint's tokenizer size).

Usage (the checkpoint from ``bench/gptq_random.py``; vLLM from the bundle, see vllm_baseline.py)::

    python bench/bench_eval.py --runner ours --model CKPT --out bench/results/DATE/bench_eval.json
    python bench/bench_eval.py --runner vllm --model CKPT --out bench/results/DATE/bench_eval.json
    python bench/bench_eval.py --runner ours --shape exaone4-32b [--layers 16]   # weights made in memory

For vLLM use the environment of ``bench/vllm_baseline.py`` (``VLLM_USE_FLASHINFER_SAMPLER=0
VLLM_ENABLE_V1_MULTIPROCESSING=0``, the bundle on ``PYTHONPATH``); its prefix caching stays on
(its default), as our prompt sharing does. Ours and vLLM can run in separate processes back to
back: the JSON is merged (``ours_*`` and ``vllm_*`` keys per workload, and ``ratio`` = ours /
vLLM generated tok/s once both exist).
The in-memory weights equal those ``gptq_random.py --device cuda --seed S`` writes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

ID_LO, ID_HI = 10, 4000


@dataclass(frozen=True)
class Request:
    prompt: list[int]
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int


def workload(name: str, scale: float, seed: int = 0) -> list[Request]:
    """The requests of workload `name` (W1, W2, W3), the same for every runner."""
    rng = np.random.default_rng([seed, int(name[1:])])

    def ids(n: int) -> list[int]:
        return rng.integers(ID_LO, ID_HI, size=n).tolist()

    if name == "W1":
        n = max(1, round(1024 * scale))
        return [
            Request(ids(int(rng.integers(600, 801))), int(rng.integers(32, 513)), 0.0, 1.0, i)
            for i in range(n)
        ]
    if name == "W2":
        prompts = [ids(int(rng.integers(300, 701))) for _ in range(max(1, round(16 * scale)))]
        out: list[Request] = []
        for p in prompts:
            for _ in range(16):
                m = int(min(8192, max(16, rng.lognormal(np.log(2048), 0.6))))
                out.append(Request(p, m, 0.6, 0.95, len(out)))
        return out
    if name == "W3":
        return [Request(ids(32768), 64, 0.0, 1.0, i) for i in range(max(1, round(16 * scale)))]
    raise SystemExit(f"unknown workload {name!r} (W1, W2, W3)")


# --------------------------------------------------------------------------- runners


def run_ours(args: argparse.Namespace, loads: dict[str, list[Request]], save: Callable[..., None]) -> None:
    import torch

    from evalkit.records import SamplingParams
    from evalkit.runners.torch_int4.engine import GenerationRequest
    from evalkit.runners.torch_int4.fast_engine import FastEngine

    cuda = args.device == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    model = _load_ours(args)
    sync()
    load_s = time.perf_counter() - t0
    longest = max(len(r.prompt) + r.max_new_tokens for rs in loads.values() for r in rs)
    engine = FastEngine(
        model,
        decode=lambda ids: "",
        eos_ids=[],  # EOS ignored: every request generates exactly max_new_tokens
        max_batch_size=args.max_seqs,
        max_seq_len=max(longest, args.max_seq_len),
        prefill_tokens=args.prefill_tokens,
        memory_fraction=args.memory_fraction,
    )
    engine.warmup()
    sync()
    start_s = time.perf_counter() - t0
    print(
        f"[ours] load {load_s:.1f} s, start (load + graphs) {start_s:.1f} s; {engine.plan.summary()}",
        flush=True,
    )
    # --profile: each decode step synchronised and split (forward, sampling, bookkeeping), which
    # turns the engine's pipelining off; by default the run is timed as a user runs it.
    engine.sync_prefill = True
    common = {
        "ours_load_s": round(load_s, 1),
        "ours_start_s": round(start_s, 1),
        "ours_cache": engine.plan.summary(),
    }
    # (name, requests, shared-prefix path, profiled)
    runs = [(name, reqs, True, args.profile) for name, reqs in loads.items()]
    if args.ab_shared_prefix:  # each workload first without the path, then with it
        runs = [
            (f"{name}/no-shared-prefix", reqs, False, args.profile) for name, reqs in loads.items()
        ] + runs
    if args.overhead:  # each workload first as users run it, then profiled
        runs = [
            r
            for name, reqs, sp, _ in runs
            for r in ((f"{name}/pipelined", reqs, sp, False), (name, reqs, sp, True))
        ]
    pipelined_ms: dict[str, float] = {}  # step ms of each workload's pipelined run (--overhead)
    for name, reqs, shared_prefix, profiled in runs:
        engine.shared_prefix_attention = shared_prefix and not args.no_shared_prefix
        engine.profile = profiled
        engine.pool.drop_cached()  # each run computes its prompts (an A/B's second run included)
        batch = [
            GenerationRequest(
                r.prompt,
                SamplingParams(
                    max_new_tokens=r.max_new_tokens, temperature=r.temperature, top_p=r.top_p, seed=r.seed
                ),
            )
            for r in reqs
        ]
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        sync()
        t = time.perf_counter()
        engine.step_log = []
        results = dict(engine.generate(batch))
        sync()
        wall = time.perf_counter() - t
        st = engine.stats
        assert sorted(results) == list(range(len(reqs)))
        generated = sum(len(r.token_ids) for r in results.values())
        assert generated == sum(r.max_new_tokens for r in reqs)
        floor = min(256, st.peak_running)
        log = engine.step_log or []
        # the loop's time of each decode step with >= `floor` rows followed by another (start to start)
        loop = [b[0] - a[0] for a, b in itertools.pairwise(log) if a[2] >= floor and b[2] >= floor]
        timing: dict[str, Any] = {
            "ours_decode_steps": st.decode_steps,
            "ours_pipelined_steps": st.pipelined_steps,
            "ours_discarded_tokens": st.discarded,
            "ours_step_rows": f">= {floor}",
            "ours_step_ms": round(1e3 * sum(loop) / len(loop), 2) if loop else None,
        }
        if not profiled and timing["ours_step_ms"] is not None:
            pipelined_ms[name.removesuffix("/pipelined")] = timing["ours_step_ms"]
        if profiled:
            big = [s for s in st.step_times if s[3] >= floor]
            steps = big or st.step_times
            fwd, smp, book = (sum(s[i] for s in steps) for i in range(3))
            total = fwd + smp + book
            timing["ours_profile_rows"] = f">= {floor}" if big else "all"
            timing["ours_profile_step_ms"] = round(1e3 * total / max(1, len(steps)), 2)
            timing["ours_sampling_share"] = round(smp / total, 4) if total else None
            timing["ours_bookkeeping_share"] = round(book / total, 4) if total else None
            forward_ms = 1e3 * fwd / max(1, len(steps))
            timing["ours_profile_forward_ms"] = round(forward_ms, 2)
            if args.overhead and name in pipelined_ms:
                # what sampling and bookkeeping add to a step of the loop as users run it: its
                # pipelined step beyond the profiled forward (two runs of the same requests)
                step = pipelined_ms[name]
                timing["ours_pipelined_step_ms"] = step
                timing["ours_loop_overhead_share"] = round((step - forward_ms) / step, 4)
        save(
            name,
            {
                **common,
                "ours_wall_s": round(wall, 2),
                "ours_tok_s": round(generated / wall, 1),
                "ours_prefill_requested_tokens": st.prompt_tokens,
                "ours_prefill_computed_tokens": st.prefill_computed,
                "ours_prefill_requested_tok_s": round(st.prompt_tokens / st.prefill_seconds, 1)
                if st.prefill_seconds
                else None,
                "ours_prefill_computed_tok_s": round(st.prefill_computed / st.prefill_seconds, 1)
                if st.prefill_seconds
                else None,
                "ours_prefill_s": round(st.prefill_seconds, 2),
                "ours_prefill_passes": len(st.prefill_passes),
                # (tokens, chunks, ms) of the first passes
                "ours_prefill_pass_log": [[n, c, round(1e3 * s, 1)] for n, c, s in st.prefill_passes[:40]],
                "ours_shared_prefix_attention": engine.shared_prefix_attention,
                "ours_shared_prefix_rows": st.shared_prefix_rows,
                "ours_shared_prefix_keys_saved": st.shared_prefix_keys_saved,
                "ours_preemptions": st.preemptions,
                "ours_peak_running": st.peak_running,
                "ours_peak_mem_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None,
                **timing,
            },
            generated=generated,
        )


def _load_ours(args: argparse.Namespace) -> Any:
    import torch

    from evalkit.runners.torch_int4.fast_model import FastExaone4

    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    if args.model:
        from evalkit.runners.torch_int4.loader import load_model

        lm = load_model(args.model, device=torch.device(args.device), dtype=dtype, cache_dequantized=False)
        return FastExaone4.from_reference(lm)
    from bench.gptq_random import SHAPES, config_json, iter_state_groups
    from evalkit.runners.torch_int4.config import parse_config

    shape = SHAPES[args.shape]
    if args.layers:
        shape = replace(shape, num_layers=args.layers)
    cfg = parse_config(config_json(shape, bos=1, eos=2, pad=0), generation_config=None, source=Path("random"))
    groups = iter_state_groups(shape, device=args.device, seed=args.seed)
    return FastExaone4.from_gptq_groups(cfg, groups, group_size=shape.group_size, zero_offset=1, dtype=dtype)


def run_vllm(args: argparse.Namespace, loads: dict[str, list[Request]], save: Callable[..., None]) -> None:
    import torch

    try:
        import vllm
    except ImportError as e:
        raise SystemExit(
            f"vLLM is not importable ({e}); on the GPU machine unpack the bundle "
            "(../shared/tools/build-vllm-bundle.sh) and put it on PYTHONPATH, or run --runner ours"
        ) from e

    longest = max(len(r.prompt) + r.max_new_tokens for rs in loads.values() for r in rs)
    kwargs: dict[str, Any] = {
        "model": str(args.model),
        "tokenizer": str(args.model),
        "gpu_memory_utilization": args.memory_fraction,
        "max_model_len": max(longest, 4096),
        "max_num_seqs": args.max_seqs,
        "seed": args.seed,
    }
    if args.attention_backend:
        kwargs["attention_backend"] = args.attention_backend
    kwargs.update(json.loads(args.llm_kwargs))
    t0 = time.perf_counter()
    llm = vllm.LLM(**kwargs)
    start_s = time.perf_counter() - t0
    for name, reqs in loads.items():
        params = [
            vllm.SamplingParams(
                max_tokens=r.max_new_tokens,
                min_tokens=r.max_new_tokens,
                ignore_eos=True,
                temperature=r.temperature,
                top_p=r.top_p,
                seed=r.seed if r.temperature > 0 else None,
                detokenize=False,
            )
            for r in reqs
        ]
        prompts = [{"prompt_token_ids": r.prompt} for r in reqs]
        torch.cuda.synchronize()
        t = time.perf_counter()
        outs = llm.generate(prompts, params, use_tqdm=False)
        wall = time.perf_counter() - t
        generated = sum(len(o.outputs[0].token_ids) for o in outs)
        free, total = torch.cuda.mem_get_info()
        save(
            name,
            {
                "vllm_version": getattr(vllm, "__version__", "?"),
                "vllm_start_s": round(start_s, 1),
                "vllm_wall_s": round(wall, 2),
                "vllm_tok_s": round(generated / wall, 1),
                "vllm_peak_mem_gb": round((total - free) / 1e9, 2),
                "vllm_llm_kwargs": {k: v for k, v in kwargs.items() if k not in ("model", "tokenizer")},
            },
            generated=generated,
        )
        gc.collect()


# --------------------------------------------------------------------------- results


def merge(path: Path, gpu: str, meta: dict[str, Any], name: str, figures: dict[str, Any]) -> dict[str, Any]:
    """Add one workload's figures to the JSON at `path` (kept: the other runner's figures)."""
    doc: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    doc.setdefault("workloads", [])
    doc.update({"gpu": gpu, "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")})
    doc.setdefault("meta", {}).update(meta)
    row = next((w for w in doc["workloads"] if w["name"] == name), None)
    if row is None:
        row = {"name": name}
        doc["workloads"].append(row)
    row.update(figures)
    if row.get("ours_tok_s") and row.get("vllm_tok_s"):
        row["ratio"] = round(row["ours_tok_s"] / row["vllm_tok_s"], 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def table(doc: dict[str, Any]) -> str:
    lines = [
        "| workload | requests | generated | ours tok/s | vLLM tok/s | ours / vLLM | ours wall s "
        "| prefill computed / requested |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in doc["workloads"]:
        pre = "-"
        if "ours_prefill_computed_tokens" in w:
            pre = f"{w['ours_prefill_computed_tokens']:,} / {w['ours_prefill_requested_tokens']:,}"
        lines.append(
            f"| {w['name']} | {w.get('requests', '?')} | {w.get('generated_tokens', '?')} | "
            f"{w.get('ours_tok_s', '-')} | {w.get('vllm_tok_s', '-')} | {w.get('ratio', '-')} | "
            f"{w.get('ours_wall_s', '-')} | {pre} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runner", choices=("ours", "vllm", "both"), default="both")
    ap.add_argument("--model", type=Path, default=None, help="GPTQ checkpoint (bench/gptq_random.py)")
    ap.add_argument("--shape", default="exaone4-32b", help="ours without --model: random weights in memory")
    ap.add_argument("--layers", type=int, default=None, help="ours without --model: fewer layers")
    ap.add_argument("--workloads", default="W1,W2,W3")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cap-new-tokens", type=int, default=0, help="smoke runs: cap every output length")
    ap.add_argument("--device", default=None, help="ours: cuda (default when present) or cpu (tests)")
    ap.add_argument("--max-seqs", type=int, default=512)
    ap.add_argument(
        "--max-seq-len", type=int, default=0, help="ours: longest sequence (default: the workloads')"
    )
    ap.add_argument("--prefill-tokens", type=int, default=16384, help="ours: prompt tokens per prefill pass")
    ap.add_argument("--memory-fraction", type=float, default=0.9)
    ap.add_argument(
        "--profile",
        action="store_true",
        help="ours: synchronise and split every decode step (sampling and bookkeeping shares; "
        "turns the engine's pipelining off)",
    )
    ap.add_argument(
        "--overhead",
        action="store_true",
        help="ours: run each workload as users run it (pipelined), then profiled, and report what "
        "sampling and bookkeeping add to the pipelined step beyond the profiled forward",
    )
    ap.add_argument(
        "--no-shared-prefix",
        action="store_true",
        help="ours: decode attention reads shared prefixes per row (the shared-prefix path off)",
    )
    ap.add_argument(
        "--ab-shared-prefix",
        action="store_true",
        help="ours: run each workload first with the shared-prefix path off, then on (same engine)",
    )
    ap.add_argument(
        "--attention-backend", default="TRITON_ATTN", help="vLLM (no FlashAttention in the bundle)"
    )
    ap.add_argument("--llm-kwargs", default="{}", help="JSON of extra vllm.LLM kwargs")
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/<date>/bench_eval.json")
    ap.add_argument(
        "--tuned-tc",
        type=Path,
        default=None,
        help="ours: add a kernel sweep's winners (its best.json, bench/w4a16_sweep.py) to TUNED_TC first",
    )
    args = ap.parse_args(argv)
    if args.tuned_tc is not None:
        from bench.w4a16_sweep import tuned_from_best
        from evalkit.runners.torch_int4.kernels import w4a16

        tuned = tuned_from_best(args.tuned_tc)
        w4a16.TUNED_TC.update(tuned)
        print(f"[tuned-tc] {len(tuned)} entries from {args.tuned_tc}: {sorted(tuned)}", flush=True)
    if args.runner in ("vllm", "both") and args.model is None:
        raise SystemExit("--runner vllm needs --model CKPT (a checkpoint directory)")
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    out = args.out or Path(__file__).parent / "results" / date / "bench_eval.json"
    loads = {n: workload(n, args.scale, args.seed) for n in args.workloads.split(",") if n}
    if args.cap_new_tokens:
        loads = {
            n: [replace(r, max_new_tokens=min(r.max_new_tokens, args.cap_new_tokens)) for r in rs]
            for n, rs in loads.items()
        }
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    meta = {
        "scale": args.scale,
        "cap_new_tokens": args.cap_new_tokens or None,
        "seed": args.seed,
        "checkpoint": str(args.model)
        if args.model
        else f"random {args.shape} in memory" + (f", {args.layers} layers" if args.layers else ""),
        "torch": torch.__version__,
    }
    try:
        import triton

        meta["triton"] = triton.__version__
    except ImportError:
        pass
    if args.tuned_tc is not None:
        meta["tuned_tc"] = {str(k): str(v) for k, v in sorted(tuned.items())}

    def save(name: str, figures: dict[str, Any], *, generated: int) -> None:
        reqs = loads[name.split("/")[0]]  # (an A/B variant: "W2/no-shared-prefix")
        figures = {
            "requests": len(reqs),
            "prompt_tokens": sum(len(r.prompt) for r in reqs),
            "generated_tokens": generated,
            **figures,
        }
        doc = merge(out, gpu, meta, name, figures)
        print(json.dumps({"name": name, **figures}), flush=True)
        print(table(doc), flush=True)

    if args.runner in ("ours", "both"):
        run_ours(args, loads, save)
    if args.runner in ("vllm", "both"):
        gc.collect()
        if args.device == "cuda":
            torch.cuda.empty_cache()
        run_vllm(args, loads, save)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
