"""Our engine on a random EXAONE-4.0-32B-shaped GPTQ model, on one GPU: kernel sweep, decode,
prefill and memory figures, plus the bf16-weights and dequantize-then-matmul baselines.

    python bench/int4_engine.py --out DIR [--shape exaone4-32b] [--decode-tokens 256]
                                [--skip-bf16] [--skip-dequant] [--skip-sweep]

Writes DIR/torch_int4.json, DIR/bf16.json, DIR/dequant_matmul.json (bench/int4_schema.py's
EngineResult), DIR/ceilings.json and DIR/kernels.json (per-shape GEMV/GEMM sweep), and prints a
table. Decode tokens/s = B / the mean time of the engine loop's steps with all B sequences
decoding (from one step's start to the next's): prefill and the ramp are excluded, the engine's
whole loop (graph replay, sampling, Python bookkeeping, admission checks) is included. (Until the
seventh session of 2026-12-02 the time was a step's start to its tokens on the host, without the
bookkeeping after them: less by at most the bookkeeping's share, 2.3-3.1 % at batch 256 in W1's
two profiles of that session.) The batch-1 scenarios are run `--repeats` times (3) and their
median kept, as bench/vllm_baseline.py does (since the eighteenth session; one run before; 2 runs,
whose median is their mean, in the eighteenth session). The
model is built on the GPU from the same seeded generator that bench/gptq_random.py writes to
disk for vLLM, so every engine reads the same weights.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gptq_random import SHAPES, Shape, config_json, iter_state_groups
from bench.hw_ceilings import measure
from bench.int4_schema import EngineResult
from evalkit.records import SamplingParams
from evalkit.runners.torch_int4.config import parse_config
from evalkit.runners.torch_int4.engine import GenerationRequest
from evalkit.runners.torch_int4.fast_engine import FastEngine, MemoryPlanError
from evalkit.runners.torch_int4.fast_model import FastExaone4
from evalkit.runners.torch_int4.kernels import w4a16
from evalkit.runners.torch_int4.kernels.attention import SplitLaunch

GB = 1e9


def build(shape: Shape, *, dense: bool, seed: int = 0, device: str = "cuda") -> FastExaone4:
    cfg = parse_config(config_json(shape, bos=1, eos=2, pad=0), generation_config=None, source=Path("random"))
    groups = iter_state_groups(shape, device=device, seed=seed)
    return FastExaone4.from_gptq_groups(
        cfg,
        groups,
        group_size=shape.group_size,
        zero_offset=1,
        dense=dense,
        dtype=torch.bfloat16 if device == "cuda" else torch.float32,
    )


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _sync_time(fn: Any) -> float:
    _sync()
    t = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - t


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _run(engine: FastEngine, prompts: list[list[int]], new: int) -> None:
    params = SamplingParams(max_new_tokens=new, temperature=0.0)
    for _ in engine.generate([GenerationRequest(p, params) for p in prompts]):
        pass


def full_batch_steps(log: list[tuple[float, float, int]], batch: int) -> tuple[list[float], list[float]]:
    """From a FastEngine step_log: the loop time of each step with `batch` rows followed by another
    (its start to the next one's), and each such step's time to its tokens (start to tokens)."""
    pairs = [(a, b) for a, b in itertools.pairwise(log) if a[2] == batch and b[2] == batch]
    return [b[0] - a[0] for a, b in pairs], [a[1] for a, _ in pairs]


def bench_engine(
    model: FastExaone4, batch: int, context: int, max_seq_len: int, seed: int, *, pipeline: bool = True
) -> tuple[list[list[int]], FastEngine]:
    """`batch` random prompts of `context` tokens (seeded) and an engine for them, warmed up:
    every kernel compiled and every batch bucket captured outside the timing."""
    g = torch.Generator().manual_seed(seed)
    vocab = model.cfg.vocab_size
    prompts = [torch.randint(10, vocab, (context,), generator=g).tolist() for _ in range(batch)]
    engine = FastEngine(
        model,
        decode=lambda ids: "",
        eos_ids=[],
        max_batch_size=batch,
        max_seq_len=max_seq_len,
        prefill_tokens=8192,
        pipeline=pipeline,
    )
    engine.warmup()
    return prompts, engine


def decode_tps(
    model: FastExaone4, batch: int, context: int, new: int, seed: int = 1, pipeline: bool = True
) -> dict[str, float]:
    prompts, engine = bench_engine(model, batch, context, context + new + 8, seed, pipeline=pipeline)
    engine.step_log = []
    total = _sync_time(lambda: _run(engine, prompts, new))
    # Steps with the whole batch decoding: prefill and the ramp while prompts are still being
    # prefilled are excluded. A step's time is the loop's, from its start to the next step's
    # (graph replay, sampling, the engine's bookkeeping, admission and prefill checks), as vLLM's
    # figures are the time between its engine steps (bench/vllm_baseline.py).
    loop, inner = full_batch_steps(engine.step_log, batch)
    if len(loop) < 8:
        raise RuntimeError(f"only {len(loop)} decode steps ran at batch {batch}; raise --decode-tokens")
    loop, inner = loop[2:], inner[2:]  # the first full steps can overlap the last prefill's tail
    step = sum(loop) / len(loop)
    med = sorted(loop)[len(loop) // 2]
    return {
        "tok_s": batch / step,
        "step_ms": step * 1e3,
        "step_median_ms": med * 1e3,
        # the step without the bookkeeping after its tokens (the definition before 2026-12-02's
        # seventh session, whose figures were so measured)
        "step_to_tokens_ms": sum(inner) / len(inner) * 1e3,
        "run_s": total,
    }


def median_of_runs(
    run: Callable[[], dict[str, float]], repeats: int
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """`repeats` runs of a measurement: each figure's median over them (``statistics.median``: for
    two runs their mean), and the runs. bench/vllm_baseline.py measures its batch-1 scenarios so
    (``--repeats``, 3 by default: with 2 the median is the mean, and takes half of the slow first
    run); here the first decode run after the model is built has been ≈ 5 % slower at batch 1 in
    every session since the seventeenth (not explained)."""
    runs = [run() for _ in range(max(1, repeats))]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}, runs


def prefill_tps(model: FastExaone4, batch: int, context: int, seed: int = 2) -> dict[str, float]:
    prompts, engine = bench_engine(model, batch, context, context + 8, seed)
    t = _sync_time(lambda: _run(engine, prompts, 1))
    return {"tok_s": batch * context / t, "seconds": t}


def time_decode_attention(
    rows: int,
    keys: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    splits: int,
    *,
    seed: int = 0,
    launch: SplitLaunch | None = None,
) -> tuple[float, int]:
    """Decode attention alone, seconds per layer call and the bytes of keys and values it reads:
    caches at full length, each row's keys in 32-token blocks of a shared pool (scattered), a
    graph of 64 calls, median of 5. `launch`: the split kernel's (its measured default if None)."""
    from evalkit.runners.torch_int4.kernels.attention import decode_attention

    call = functools.partial(decode_attention, window=None, splits=splits, launch=launch)

    torch.manual_seed(seed)
    kc = torch.randn(rows * keys // 32, 32, kv_heads, head_dim, device="cuda", dtype=torch.bfloat16)
    vc = torch.randn_like(kc)
    q = torch.randn(rows, heads, head_dim, device="cuda", dtype=torch.bfloat16)
    table = torch.randperm(rows * keys // 32, device="cuda").to(torch.int32).view(rows, keys // 32)
    slots = torch.arange(rows, device="cuda", dtype=torch.int32)
    pos = torch.full((rows,), keys - 1, device="cuda", dtype=torch.int32)
    call(q, kc, vc, table, slots, pos)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(64):
            call(q, kc, vc, table, slots, pos)
    graph.replay()
    t = sorted(_sync_time(graph.replay) for _ in range(5))[2] / 64
    del kc, vc, graph
    _free()
    return t, 2 * rows * keys * kv_heads * head_dim * 2


def attention_profile(model: FastExaone4) -> dict[str, Any]:
    """Decode attention alone at the benchmark's shapes with ``default_splits``' choice:
    microseconds per layer call and achieved GB/s of KV read (``time_decode_attention``)."""
    from evalkit.runners.torch_int4.kernels.attention import default_splits

    cfg = model.cfg
    out: dict[str, Any] = {}
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    for b, n in ((1, 1024), (1, 4096), (1, 32768), (16, 4096), (64, 4096)):
        splits = default_splits(n, b, cfg.num_kv_heads, sms)
        t, nbytes = time_decode_attention(b, n, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, splits)
        out[f"B={b} keys={n}"] = {"us": round(t * 1e6, 1), "gbs": round(nbytes / t / GB), "splits": splits}
        print(f"[attention] B={b} keys={n}: {t * 1e6:.1f} us, {nbytes / t / GB:.0f} GB/s", flush=True)
    return out


def prefill_flops_per_token(shape: Shape, context: int) -> tuple[float, float]:
    """(linear FLOPs, attention FLOPs) per prompt token, averaged over a causal prompt of `context`."""
    linear = 2.0 * shape.num_layers * shape.linear_params_per_layer()
    per_layer = 0.0
    for kind in shape.layer_types:
        keys = context / 2 if kind == "full_attention" else min(context, shape.sliding_window) / 2
        per_layer += 4.0 * shape.num_heads * shape.head_dim * keys  # QK^T and PV, 2 FLOP per MAC
    return linear, per_layer


SWEEP_MS = (1, 16, 64, 128, 256, 512)


def sweep_kernels(model: FastExaone4, ms: tuple[int, ...] = SWEEP_MS) -> dict[str, Any]:
    """Time each linear of all layers (one graph of L calls) for the launch configs of
    bench/w4a16_sweep.py, at M = 1 (GEMV) and the GEMM batch sizes, with dequantize + cuBLAS
    as a candidate from M = 64; install the fastest kernel config per (shape, M) in the kernel
    tables (M at or above fast_model.DEQUANT_MATMUL_ROWS takes dequantize + cuBLAS whatever the
    sweep finds; the report says which won). Returns what was measured."""
    from bench import w4a16_sweep as sw
    from evalkit.runners.torch_int4.kernels import torch_ops

    report: dict[str, Any] = {}
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    for name in ("qkv", "o", "gate_up", "down"):
        ws = [getattr(layer, name) for layer in model.layers]
        w0 = ws[0]
        k, n = w0.in_features, w0.out_features
        timer = sw.Timer(ws)
        for m in ms:
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            cands: list[Any] = sw.gemv_candidates(n, k, sms) if m == 1 else sw.gemm_candidates(m, n, k, sms)
            if m >= 64:
                cands.append("dequant+cublas")
            results = []
            for cfg in cands:
                try:
                    results.append((timer(functools.partial(sw.run_on, x, cfg)), cfg))
                except Exception as exc:  # a config the compiler rejects is skipped, not fatal
                    results.append((float("inf"), f"{cfg}: {type(exc).__name__}: {exc}"[:200]))
            results.sort(key=lambda r: r[0])
            best_t, best = results[0]
            # The chosen config must compute the right thing on this GPU (bf16 tolerance).
            got = sw.run_one(x, w0, best).sum(0).double()
            want = torch_ops.w4_matmul(x.float(), w0).sum(0).double()
            err = float((got - want).norm() / want.norm())
            torch_ops._DENSE.clear()
            key = f"{name} M={m} K={k} N={n}"
            report[key] = {
                "best": str(best),
                "us": best_t * 1e6,
                "gbs": w0.nbytes / best_t / GB,
                "tflops": 2.0 * m * k * n / best_t / 1e12,
                "worst_us": results[-1][0] * 1e6 if results[-1][0] != float("inf") else None,
                "tried": len(results),
                "rel_err_vs_torch": err,
            }
            if isinstance(best, w4a16.GemvConfig):
                w4a16.TUNED_GEMV[(n, k)] = best
            elif isinstance(best, w4a16.GemmConfig):
                w4a16.TUNED_GEMM[(w4a16._m_bucket(m), n, k)] = best
            print(
                f"[sweep] {key}: {report[key]['us']:.1f} us, {report[key]['gbs']:.0f} GB/s, {best}",
                flush=True,
            )
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", default="exaone4-32b", choices=sorted(SHAPES))
    ap.add_argument("--decode-tokens", type=int, default=128)
    ap.add_argument("--skip-bf16", action="store_true")
    ap.add_argument("--skip-dequant", action="store_true")
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--skip-32k", action="store_true")
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each batch-1 scenario, median kept (as vllm_baseline.py)",
    )
    ap.add_argument("--quick", action="store_true", help="memory and batch-1 1K decode only")
    ap.add_argument(
        "--compare-unpipelined",
        action="store_true",
        help="also run each decode scenario with the engine's pipelining off (extra.*_unpipelined_*)",
    )
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench/int4_engine.py needs a CUDA GPU", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    shape = SHAPES[args.shape]
    new = args.decode_tokens
    ceilings = measure(torch.device("cuda")) if not args.quick else {"copy_gbs": None}
    (args.out / "ceilings.json").write_text(json.dumps(ceilings, indent=2))
    copy_gbs = ceilings["copy_gbs"]
    print(f"[ceilings] {ceilings}", flush=True)

    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    model = build(shape, dense=False)
    torch.cuda.synchronize()
    _free()
    weights_peak = torch.cuda.max_memory_allocated() / GB
    weights_resident = torch.cuda.memory_allocated() / GB
    print(
        f"[memory] weights resident {weights_resident:.3f} GB, peak while building {weights_peak:.3f} GB",
        flush=True,
    )
    if args.quick:
        r = decode_tps(model, 1, 1024, new)
        print(f"[quick] batch1_1k_tok_s: {r['tok_s']:.1f} tok/s ({r['step_ms']:.2f} ms/step)", flush=True)
        if args.compare_unpipelined:
            u = decode_tps(model, 1, 1024, new, pipeline=False)
            print(f"[quick] unpipelined: {u['tok_s']:.1f} tok/s ({u['step_ms']:.2f} ms/step)", flush=True)
            r.update({f"unpipelined_{k}": v for k, v in u.items()})
        (args.out / "quick.json").write_text(
            json.dumps(
                {"weights_resident_gb": weights_resident, "weights_peak_gb": weights_peak, **r}, indent=2
            )
        )
        return 0
    wbytes = model.weight_bytes_per_token()
    print(
        f"[build] int4 model in {time.time() - t0:.0f} s; peak {weights_peak:.2f} GB; "
        f"{wbytes / GB:.3f} GB read per decode step",
        flush=True,
    )
    if not args.skip_sweep:
        (args.out / "kernels.json").write_text(json.dumps(sweep_kernels(model), indent=2))

    def scenarios(m: FastExaone4, name: str, big: bool) -> EngineResult:
        res = EngineResult(engine=name, decode_tokens=new, weights_gb=round(weights_peak, 3))
        extra: dict[str, Any] = {"weight_bytes_per_token": m.weight_bytes_per_token(), "copy_gbs": copy_gbs}
        todo = [("batch1_1k_tok_s", 1, 1024)]
        if not args.skip_32k:
            todo.append(("batch1_32k_tok_s", 1, 32768))
        todo.append(("batch16_4k_tok_s", 16, 4096))
        if big:
            todo.append(("batch64_4k_tok_s", 64, 4096))
            todo.append(("batch256_1k_tok_s", 256, 1024))
        for field, b, ctx in todo:
            try:
                reps = args.repeats if b == 1 else 1
                r, runs = median_of_runs(functools.partial(decode_tps, m, b, ctx, new), reps)
                if reps > 1:
                    extra[field.replace("tok_s", "runs_tok_s")] = [round(x["tok_s"], 1) for x in runs]
            except Exception as exc:
                extra[field + "_error"] = f"{type(exc).__name__}: {exc}"[:300]
                print(f"[{name}] {field} failed: {exc}", flush=True)
                continue
            finally:
                _free()
            setattr(res, field, round(r["tok_s"], 1))
            extra[field.replace("tok_s", "step_ms")] = round(r["step_ms"], 3)
            extra[field.replace("tok_s", "step_median_ms")] = round(r["step_median_ms"], 3)
            extra[field.replace("tok_s", "step_to_tokens_ms")] = round(r["step_to_tokens_ms"], 3)
            print(f"[{name}] {field}: {r['tok_s']:.1f} tok/s ({r['step_ms']:.2f} ms/step)", flush=True)
            if args.compare_unpipelined:
                try:
                    u = decode_tps(m, b, ctx, new, pipeline=False)
                finally:
                    _free()
                extra[field.replace("tok_s", "unpipelined_tok_s")] = round(u["tok_s"], 1)
                extra[field.replace("tok_s", "unpipelined_step_ms")] = round(u["step_ms"], 3)
                print(
                    f"[{name}] {field} unpipelined: {u['tok_s']:.1f} tok/s ({u['step_ms']:.2f} ms/step)",
                    flush=True,
                )
        try:
            try:
                p = prefill_tps(m, 64 if big else 16, 4096)
            except MemoryPlanError:
                _free()
                extra["prefill_note"] = "64 x 4K did not fit beside the weights; 32 x 4K measured"
                p = prefill_tps(m, 32, 4096)
            lin, att = prefill_flops_per_token(shape, 4096)
            res.prefill_tok_s = round(p["tok_s"], 1)
            res.prefill_tflops = round(p["tok_s"] * (lin + att) / 1e12, 1)
            extra["prefill_linear_tflops"] = round(p["tok_s"] * lin / 1e12, 1)
            extra["prefill_batch"] = 64 if big else 16
            print(f"[{name}] prefill: {p['tok_s']:.0f} tok/s, {res.prefill_tflops} TFLOP/s", flush=True)
        except Exception as exc:
            extra["prefill_error"] = f"{type(exc).__name__}: {exc}"[:300]
            print(f"[{name}] prefill failed: {exc}", flush=True)
        _free()
        if name == "torch_int4":
            extra["attention"] = attention_profile(m)
        res.peak_mem_gb = round(torch.cuda.max_memory_allocated() / GB, 2)
        res.extra = extra
        res.save(args.out / f"{name}.json")
        return res

    scenarios(model, "torch_int4", big=True)
    if not args.skip_dequant:
        # Plain PyTorch: dequantize each weight on every call, then matmul (the reference model
        # code on the GPU with cache_dequantized=False), batch 1, 1K context, a few tokens.
        from evalkit.runners.torch_int4.kernels import torch_ops

        dq = EngineResult(engine="dequant_matmul", decode_tokens=8, weights_gb=round(weights_peak, 3))
        x = torch.randn(1, shape.hidden_size, device="cuda", dtype=torch.bfloat16)

        def one_token() -> None:
            for layer in model.layers:
                for w in (layer.qkv, layer.o, layer.gate_up, layer.down):
                    assert isinstance(w, w4a16.W4Weight)
                    xin = (
                        x
                        if w.in_features == shape.hidden_size
                        else torch.zeros(1, w.in_features, device="cuda", dtype=torch.bfloat16)
                    )
                    torch.nn.functional.linear(xin, torch_ops.dense_weight(w, torch.bfloat16))

        one_token()
        t = min(_sync_time(one_token) for _ in range(3))
        dq.batch1_1k_tok_s = round(1 / t, 2)
        dq.notes = "linears only (dequantize per call + matmul), batch 1; attention and lm_head excluded"
        dq.save(args.out / "dequant_matmul.json")
        print(f"[dequant_matmul] {1 / t:.2f} tok/s (linears only)", flush=True)
    model = None  # type: ignore[assignment]  # free the int4 weights before the bf16 ones
    gc.collect()
    torch.cuda.empty_cache()
    if not args.skip_bf16:
        torch.cuda.reset_peak_memory_stats()
        dense = build(shape, dense=True)
        weights_peak = torch.cuda.max_memory_allocated() / GB
        scenarios(dense, "bf16", big=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
