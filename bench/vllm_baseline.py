"""vLLM on the random EXAONE-4.0-32B GPTQ checkpoint: the baseline figures of the int4 benchmark.

Run it as its own process on the GPU machine, once per mixed-precision kernel::

    export PYTHONPATH=/root/v:$PWD VLLM_USE_FLASHINFER_SAMPLER=0 VLLM_ENABLE_V1_MULTIPROCESSING=0
    CKPT=/data/exaone4-32b-random-gptq
    python bench/vllm_baseline.py --model $CKPT --kernel machete --out $OUT/vllm_machete.json
    python bench/vllm_baseline.py --model $CKPT --kernel marlin  --out $OUT/vllm_marlin.json

(the checkpoint comes from ``bench/gptq_random.py``). Each run is one engine start plus about
two to four minutes of measurement; the JSON (bench/int4_schema.py ``EngineResult``) is rewritten
after every scenario, so a run cut short still leaves what it measured.

Kernel choice. vLLM upgrades ``quant_method: gptq`` (sym, 4-bit, g128) to ``gptq_marlin``, whose
linear method asks ``choose_mp_linear_kernel`` for the first kernel of its CUDA priority list
(``CutlassW4A8LinearKernel, MacheteLinearKernel, MarlinLinearKernel, ConchLinearKernel,
ExllamaLinearKernel, TritonW4A16LinearKernel, ...``) that can implement the layer, skipping those
named in the comma-separated env ``VLLM_DISABLED_KERNELS``. On an H200 (SM 9.0) Machete comes first.
``--kernel marlin`` sets ``VLLM_DISABLED_KERNELS=MacheteLinearKernel`` (CutlassW4A8 needs int8/fp8
activations and never takes a W4A16 layer); ``--kernel machete`` sets
``VLLM_DISABLED_KERNELS=MarlinLinearKernel``; ``--kernel auto`` leaves it alone. The kernel actually
used is read back twice: from vLLM's log line "Using <Kernel> for GPTQMarlinLinearMethod" (or "... for
mixed-precision linear") and, where ``LLM.apply_model`` works, from ``layer.quant_method.kernel`` of
every quantized layer (counts by class; 4 per decoder layer: qkv, o, gate_up, down).
Each kernel mode gets its own ``VLLM_CACHE_ROOT`` (unless set): the torch.compile cache of a Machete
run must never be replayed by a Marlin run, whose weights are packed differently.

Scenarios (random token prompts, greedy, ``ignore_eos=True``, exactly ``--decode-tokens`` new
tokens, prefix caching off so no prompt is ever served from cache):

- ``b1_1k``, ``b1_32k``: batch 1 after a 1,024 / 32,768-token prompt;
- ``b16_4k``, ``b64_4k``: batch 16 / 64, every prompt 4,096 tokens;
- ``b256_1k``: batch 256, every prompt 1,024 tokens (issue 15's large-batch target);
- ``prefill``: ``--prefill-batch`` (64) prompts of 4,096 tokens, ``max_tokens=1``.

Decode method (``--method steps``, default): the requests are added to vLLM's engine and the
engine is stepped by hand (as ``LLM.generate`` does); after each step the time and the number of
generated tokens are recorded. Decode tokens/s is counted only over the window where every
request of the batch has produced its first token (all prefills done) and none has finished yet:
tokens generated in that window divided by its wall time. Prefill, and the ramp where chunked
prefills of a large batch still mix with decodes, are outside the window. ``--method diff``
instead uses ``LLM.generate`` twice on fresh prompts: ``B·(N−1) / (t(prompt+N) − t(prompt+1))``.

Prefill tokens/s is prompt tokens over the wall time of the whole ``max_tokens=1`` call; its
FLOP/s uses ``ModelFacts.prefill_flops_per_token`` (useful causal FLOPs, bench/int4_schema.py).

Memory: ``peak_mem_gb`` is the device memory in use (total − free, 1e9 B) at its highest after
a scenario; vLLM reserves ``--gpu-memory-utilization`` of the GPU for weights, activations and
KV cache up front, so this is mostly that reservation. ``weights_gb`` is vLLM's own
"Model loading took X GiB" figure, converted to 1e9 B.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import statistics
import sys
import time
import traceback
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.int4_schema import (
    DEFAULT_DECODE_TOKENS,
    DEFAULT_PREFILL_BATCH,
    DEFAULT_PREFILL_PROMPT_LEN,
    EngineResult,
    ModelFacts,
)

KERNEL_ENV = {
    "marlin": "MacheteLinearKernel",
    "machete": "MarlinLinearKernel",
    "auto": None,
}
SCENARIOS = {  # name -> (EngineResult field, batch, prompt_len)
    "b1_1k": ("batch1_1k_tok_s", 1, 1024),
    "b1_32k": ("batch1_32k_tok_s", 1, 32768),
    "b16_4k": ("batch16_4k_tok_s", 16, 4096),
    "b64_4k": ("batch64_4k_tok_s", 64, 4096),
    "b256_1k": ("batch256_1k_tok_s", 256, 1024),
}
ALL_SCENARIOS = (*SCENARIOS, "prefill")
_KERNEL_LOG = re.compile(r"Using (\w+Kernel) for")
_LOAD_LOG = re.compile(r"Model loading took ([\d.]+) ?GiB")
_KV_LOG = re.compile(r"GPU KV cache size: ([\d,]+) tokens")


class _Capture(logging.Handler):
    """Keeps every vLLM log message (the engine runs in this process)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a malformed record must not break the benchmark
            self.messages.append(record.getMessage())

    def find(self, pattern: re.Pattern[str]) -> list[str]:
        return [m.group(1) for msg in self.messages for m in [pattern.search(msg)] if m]


def fail(msg: str) -> None:
    print(f"vllm_baseline: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def preflight(model_dir: Path, kernel: str) -> None:
    """Set vLLM's env before it is imported; fail at once without CUDA, vLLM or a checkpoint."""
    if not (model_dir / "config.json").is_file():
        fail(
            f"{model_dir} has no config.json; write the checkpoint first: "
            f"python bench/gptq_random.py --out {model_dir}"
        )
    os.environ.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")
    os.environ.setdefault(
        "VLLM_ENABLE_V1_MULTIPROCESSING", "0"
    )  # engine in this process: logs and apply_model
    os.environ.setdefault("VLLM_CACHE_ROOT", str(Path.home() / ".cache" / f"vllm-int4-bench-{kernel}"))
    disabled = KERNEL_ENV[kernel]
    if disabled is not None:
        os.environ["VLLM_DISABLED_KERNELS"] = disabled
    try:
        import torch
    except ImportError as e:
        fail(f"torch is not importable ({e})")
    if not torch.cuda.is_available():
        fail("no CUDA device: this benchmark runs vLLM on a GPU (run it on the GPU machine)")
    try:
        import vllm  # noqa: F401
    except ImportError as e:
        fail(
            f"vLLM is not importable ({e}); on the GPU machine unpack the trimmed bundle "
            "(../shared/tools/build-vllm-bundle.sh) and put it on PYTHONPATH (docs/vllm-on-gpu.md)"
        )


def _random_prompts(rng: Any, batch: int, length: int, lo: int, hi: int) -> list[list[int]]:
    return [rng.integers(lo, hi, size=length).tolist() for _ in range(batch)]


def _sampling_params(vllm: Any, max_tokens: int, temperature: float, seed: int, delta: bool) -> Any:
    p = vllm.SamplingParams(
        n=1,
        temperature=temperature,
        max_tokens=max_tokens,
        min_tokens=max_tokens,
        ignore_eos=True,
        detokenize=False,  # ids past the 4,032-token tokenizer would not decode; nothing needs text
        seed=seed if temperature > 0 else None,
    )
    kind = getattr(getattr(vllm, "sampling_params", None), "RequestOutputKind", None)
    if delta and kind is not None:
        p.output_kind = kind.DELTA
    return p


def _gpu_used_gb() -> float:
    import torch

    free, total = torch.cuda.mem_get_info()
    return (total - free) / 1e9


def decode_by_steps(
    llm: Any, vllm: Any, prompts: list[list[int]], new_tokens: int, temperature: float
) -> dict[str, Any]:
    """Step the engine by hand; decode rate over the window where all requests decode together."""
    engine = llm.llm_engine
    kind = getattr(getattr(vllm, "sampling_params", None), "RequestOutputKind", None)
    delta = kind is not None
    params = _sampling_params(vllm, new_tokens, temperature, 0, delta)
    tag = uuid.uuid4().hex[:8]
    t0 = time.perf_counter()
    for i, p in enumerate(prompts):
        engine.add_request(f"bench-{tag}-{i}", {"prompt_token_ids": p}, params)
    counts: dict[str, int] = {}
    finished: set[str] = set()
    snaps: list[tuple[float, int, int, int]] = []  # (time, tokens generated, requests started, finished)
    while engine.has_unfinished_requests():
        outs = engine.step()
        now = time.perf_counter()
        for out in outs:
            n = len(out.outputs[0].token_ids)
            counts[out.request_id] = counts.get(out.request_id, 0) + n if delta else n
            if out.finished:
                finished.add(out.request_id)
        snaps.append((now, sum(counts.values()), sum(c > 0 for c in counts.values()), len(finished)))
    batch = len(prompts)
    total = sum(counts.values())
    if total != batch * new_tokens:
        raise RuntimeError(f"expected {batch * new_tokens} generated tokens, got {total} ({counts})")
    a = next(i for i, s in enumerate(snaps) if s[2] == batch)
    b = next((i for i, s in enumerate(snaps) if s[3] > 0), len(snaps) - 1)
    tokens = snaps[b][1] - snaps[a][1]
    window = snaps[b][0] - snaps[a][0]
    warning = None
    if b <= a or window <= 0:
        # A request finished before the last one started: no step had the whole batch decoding.
        warning = "no window with the whole batch decoding; raise --decode-tokens"
    return {
        "decode_tok_s": None if warning else tokens / window,
        "warning": warning,
        "window_tokens": tokens,
        "window_s": window,
        "window_steps": b - a,
        "all_started_s": snaps[a][0] - t0,
        "total_s": snaps[-1][0] - t0,
        "steps": len(snaps),
    }


def _generate_s(llm: Any, vllm: Any, prompts: list[list[int]], max_tokens: int, temperature: float) -> float:
    params = _sampling_params(vllm, max_tokens, temperature, 0, delta=False)
    t0 = time.perf_counter()
    outs = llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
    dt = time.perf_counter() - t0
    got = sum(len(o.outputs[0].token_ids) for o in outs)
    if got != len(prompts) * max_tokens:
        raise RuntimeError(f"expected {len(prompts) * max_tokens} generated tokens, got {got}")
    return dt


def decode_by_diff(
    llm: Any, vllm: Any, make_prompts: Any, new_tokens: int, temperature: float
) -> dict[str, Any]:
    """B·(N−1) / (t(prompt + N tokens) − t(prompt + 1 token)), on fresh prompts each time."""
    t_n = _generate_s(llm, vllm, make_prompts(), new_tokens, temperature)
    prompts = make_prompts()
    t_1 = _generate_s(llm, vllm, prompts, 1, temperature)
    batch = len(prompts)
    dt = t_n - t_1
    return {
        "decode_tok_s": batch * (new_tokens - 1) / dt if dt > 0 else None,
        "t_prompt_plus_n_s": t_n,
        "t_prompt_plus_1_s": t_1,
    }


def _collect_kernels(model: Any) -> dict[str, int]:
    """Runs inside vLLM's worker: kernel class of every quantized linear (``layer.quant_method.kernel``)."""
    c: Counter[str] = Counter()
    for _, module in model.named_modules():
        kernel = getattr(getattr(module, "quant_method", None), "kernel", None)
        if kernel is not None:
            c[type(kernel).__name__] += 1
    return dict(c)


def kernel_counts(llm: Any) -> dict[str, int] | None:
    """Class names of the mixed-precision kernel objects in the loaded model, counted; None if unreachable."""
    try:
        res = llm.apply_model(_collect_kernels)
    except Exception as e:  # API drift: fall back to the log line
        print(
            f"vllm_baseline: LLM.apply_model unavailable ({type(e).__name__}: {e}); kernel from the log only"
        )
        return None
    merged: Counter[str] = Counter()
    for r in res if isinstance(res, list) else [res]:
        merged.update(r or {})
    return dict(merged)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="checkpoint dir from bench/gptq_random.py")
    ap.add_argument("--kernel", choices=sorted(KERNEL_ENV), default="auto")
    ap.add_argument("--out", type=Path, required=True, help="result JSON (EngineResult)")
    ap.add_argument(
        "--scenarios", default=",".join(ALL_SCENARIOS), help=f"comma list of {','.join(ALL_SCENARIOS)}"
    )
    ap.add_argument("--decode-tokens", type=int, default=DEFAULT_DECODE_TOKENS)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the batch-1 scenarios (median kept)")
    ap.add_argument("--prefill-batch", type=int, default=DEFAULT_PREFILL_BATCH)
    ap.add_argument("--prefill-len", type=int, default=DEFAULT_PREFILL_PROMPT_LEN)
    ap.add_argument("--method", choices=("steps", "diff"), default="steps")
    ap.add_argument("--max-model-len", type=int, default=33792)
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.90)
    ap.add_argument("--max-num-seqs", type=int, default=256)  # b256_1k runs 256 at once
    ap.add_argument("--max-num-batched-tokens", type=int, default=None)
    ap.add_argument("--enforce-eager", action="store_true", help="no CUDA graphs / torch.compile")
    ap.add_argument("--attention-backend", default="TRITON_ATTN", help="'' to let vLLM choose")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--llm-kwargs", default="{}", help="JSON dict of extra vllm.LLM kwargs (override the above)"
    )
    args = ap.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = sorted(set(scenarios) - set(ALL_SCENARIOS))
    if unknown:
        fail(f"unknown scenario(s) {unknown}; expected some of {list(ALL_SCENARIOS)}")
    longest = max([SCENARIOS[s][2] for s in scenarios if s in SCENARIOS] + [args.prefill_len])
    if longest + args.decode_tokens > args.max_model_len:
        fail(
            f"--max-model-len {args.max_model_len} < longest prompt {longest} "
            f"+ {args.decode_tokens} new tokens"
        )

    preflight(args.model, args.kernel)
    import numpy as np
    import torch
    import vllm

    capture = _Capture()
    logging.getLogger("vllm").addHandler(capture)  # after `import vllm`, which configures its loggers

    facts = ModelFacts.from_checkpoint(args.model)
    marker = args.model / "evalkit_random.json"
    tok_vocab = json.loads(marker.read_text()).get("tokenizer_vocab_size") if marker.is_file() else None
    id_hi = min(facts.vocab_size, tok_vocab or facts.vocab_size)
    id_lo = min(100, id_hi - 1)
    rng = np.random.default_rng(args.seed)

    llm_kwargs: dict[str, Any] = {
        "model": str(args.model),
        "dtype": args.dtype,
        "max_model_len": args.max_model_len,
        "gpu_memory_utilization": args.gpu_memory_utilization,
        "max_num_seqs": args.max_num_seqs,
        "enable_prefix_caching": False,
        "enforce_eager": args.enforce_eager,
        "seed": args.seed,
    }
    if args.attention_backend:
        llm_kwargs["attention_backend"] = args.attention_backend
    if args.max_num_batched_tokens:
        llm_kwargs["max_num_batched_tokens"] = args.max_num_batched_tokens
    llm_kwargs.update(json.loads(args.llm_kwargs))

    result = EngineResult(
        engine=f"vllm-{args.kernel}", decode_tokens=args.decode_tokens, prefill_prompt_len=args.prefill_len
    )
    extra: dict[str, Any] = {
        "vllm_version": getattr(vllm, "__version__", "?"),
        "torch_version": torch.__version__,
        "gpu": torch.cuda.get_device_name(0),
        "kernel_mode": args.kernel,
        "env": {
            k: os.environ.get(k)
            for k in (
                "VLLM_DISABLED_KERNELS",
                "VLLM_USE_FLASHINFER_SAMPLER",
                "VLLM_ENABLE_V1_MULTIPROCESSING",
                "VLLM_CACHE_ROOT",
            )
        },
        "llm_kwargs": {k: v for k, v in llm_kwargs.items() if k != "model"},
        "model_dir": str(args.model),
        "method": args.method,
        "decode_method": (
            "engine stepped by hand; tokens/s over the window from 'every request has its first token' "
            "to 'first request finished'"
            if args.method == "steps"
            else "B*(N-1) / (t(prompt+N) - t(prompt+1)) with LLM.generate on fresh prompts"
        ),
        "prompt_id_range": [id_lo, id_hi],
        "scenarios": {},
    }
    result.extra = extra
    peak = [0.0]

    def save() -> None:
        result.peak_mem_gb = round(peak[0], 2) if peak[0] else None
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result.save(args.out)

    t_start = time.perf_counter()
    llm = vllm.LLM(**llm_kwargs)
    extra["engine_start_s"] = round(time.perf_counter() - t_start, 1)
    logged = sorted(set(capture.find(_KERNEL_LOG)))
    counts = kernel_counts(llm)
    extra["kernels_logged"] = logged
    extra["kernel_counts"] = counts
    used = sorted(counts) if counts else logged
    result.kernel = ",".join(used) or None
    loads = capture.find(_LOAD_LOG)
    result.weights_gb = round(float(loads[-1]) * 2**30 / 1e9, 2) if loads else None
    kv = capture.find(_KV_LOG)
    extra["kv_cache_tokens"] = int(kv[-1].replace(",", "")) if kv else None
    extra["weights_bytes_checkpoint"] = facts.total_bytes
    peak[0] = max(peak[0], _gpu_used_gb())
    print(
        f"vllm_baseline: engine up in {extra['engine_start_s']} s; kernel(s) {result.kernel} "
        f"(log: {logged}, layers: {counts}); weights {result.weights_gb} GB",
        flush=True,
    )
    if args.kernel != "auto" and result.kernel and args.kernel not in result.kernel.lower():
        print(f"vllm_baseline: WARNING asked for {args.kernel} but vLLM used {result.kernel}", flush=True)
    save()

    # Warm-up: one short request through every path (prefill, decode, sampler).
    _generate_s(llm, vllm, _random_prompts(rng, 2, 256, id_lo, id_hi), 8, args.temperature)

    for name in scenarios:
        t_sc = time.perf_counter()
        try:
            if name == "prefill":
                prompts = _random_prompts(rng, args.prefill_batch, args.prefill_len, id_lo, id_hi)
                dt = _generate_s(llm, vllm, prompts, 1, args.temperature)
                tok_s = args.prefill_batch * args.prefill_len / dt
                result.prefill_tok_s = round(tok_s, 1)
                result.prefill_tflops = round(
                    tok_s * facts.prefill_flops_per_token(args.prefill_len) / 1e12, 1
                )
                extra["scenarios"][name] = {
                    "batch": args.prefill_batch,
                    "prompt_len": args.prefill_len,
                    "wall_s": dt,
                    "tok_s": tok_s,
                }
            else:
                field, batch, plen = SCENARIOS[name]
                reps = args.repeats if batch == 1 else 1
                runs = []
                for _ in range(reps):

                    def make(batch: int = batch, plen: int = plen) -> list[list[int]]:
                        return _random_prompts(rng, batch, plen, id_lo, id_hi)

                    if args.method == "steps":
                        runs.append(decode_by_steps(llm, vllm, make(), args.decode_tokens, args.temperature))
                    else:
                        runs.append(decode_by_diff(llm, vllm, make, args.decode_tokens, args.temperature))
                rates = [r["decode_tok_s"] for r in runs if r["decode_tok_s"]]
                value = statistics.median(rates) if rates else None
                setattr(result, field, round(value, 2) if value else None)
                extra["scenarios"][name] = {"batch": batch, "prompt_len": plen, "runs": runs, "tok_s": value}
        except Exception as e:  # keep the other scenarios; the error is in the JSON
            traceback.print_exc()
            extra["scenarios"][name] = {"error": f"{type(e).__name__}: {e}"}
        extra["scenarios"][name]["scenario_s"] = round(time.perf_counter() - t_sc, 1)
        peak[0] = max(peak[0], _gpu_used_gb())
        extra["torch_max_reserved_gb"] = round(torch.cuda.max_memory_reserved() / 1e9, 2)
        save()
        print(
            f"vllm_baseline: {name}: "
            f"{json.dumps({k: v for k, v in extra['scenarios'][name].items() if k != 'runs'})}",
            flush=True,
        )
    extra["total_s"] = round(time.perf_counter() - t_start, 1)
    save()
    print(json.dumps(result.to_dict(), indent=2, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
