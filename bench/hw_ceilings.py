"""Measured ceilings of the current device: copy bandwidth and dense bf16 matmul throughput.

    python bench/hw_ceilings.py [--json OUT.json] [--device cuda|cpu] [--copy-mib 1024] [--matmul-n 8192]

Copy bandwidth: ``dst.copy_(src)`` between large device buffers, counted as bytes read + bytes
written per second (1e9 B/s). Several buffer pairs are rotated, their total at least 4 × L2 (and
each 1 GiB by default on CUDA, far beyond the H200's L2), so no copy is served from cache. The
figure is the median over many timed copies (CUDA events around each).

Matmul: ``A @ B`` with random bf16 n × n operands (default n = 8192), 2·n³ FLOPs each; two operand
sets rotate; median over many runs, in 1e12 FLOP/s.

On CPU (no GPU here) the same code runs with small defaults, slowly, so it can be tested.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.int4_schema import HwCeilings

MiB = 1 << 20


def _timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """Return ``time_one(fn) -> seconds`` for one call of fn on ``device``."""
    if device.type == "cuda":

        def time_cuda(fn: Callable[[], object]) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3

        return time_cuda

    def time_cpu(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return time_cpu


def _l2_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0) or 0)
    return 0


def copy_bandwidth(
    device: torch.device | str, *, nbytes: int, iters: int = 50, warmup: int = 5, min_total_l2: int = 4
) -> dict[str, Any]:
    """Median device-to-device copy bandwidth in 1e9 B/s (read + write)."""
    device = torch.device(device)
    l2 = _l2_bytes(device)
    n_pairs = max(2, -(-min_total_l2 * l2 // nbytes))
    numel = nbytes // 4
    srcs = [torch.empty(numel, dtype=torch.float32, device=device).uniform_() for _ in range(n_pairs)]
    dsts = [torch.empty(numel, dtype=torch.float32, device=device) for _ in range(n_pairs)]
    time_one = _timer(device)
    times: list[float] = []
    pairs = list(zip(srcs, dsts, strict=True))
    for i in range(warmup + iters):
        src, dst = pairs[i % n_pairs]
        t = time_one(functools.partial(dst.copy_, src))
        if i >= warmup:
            times.append(t)
    med = statistics.median(times)
    moved = 2 * numel * 4
    pairs.clear()
    srcs.clear()
    dsts.clear()
    return {
        "copy_gbs": moved / med / 1e9,
        "copy_bytes": numel * 4,
        "copy_buffers": n_pairs,
        "copy_median_s": med,
        "copy_best_gbs": moved / min(times) / 1e9,
        "l2_bytes": l2,
    }


def matmul_throughput(
    device: torch.device | str,
    *,
    n: int,
    iters: int = 30,
    warmup: int = 5,
    dtype: torch.dtype = torch.bfloat16,
) -> dict[str, Any]:
    """Median dense matmul throughput in 1e12 FLOP/s for n × n × n."""
    device = torch.device(device)
    g = torch.Generator(device=device).manual_seed(0)
    operands = [
        (
            torch.randn(n, n, generator=g, device=device).to(dtype),
            torch.randn(n, n, generator=g, device=device).to(dtype),
        )
        for _ in range(2)
    ]
    out = torch.empty(n, n, dtype=dtype, device=device)
    time_one = _timer(device)
    times: list[float] = []
    for i in range(warmup + iters):
        a, b = operands[i % 2]
        t = time_one(functools.partial(torch.matmul, a, b, out=out))
        if i >= warmup:
            times.append(t)
    med = statistics.median(times)
    flops = 2.0 * n**3
    return {
        "matmul_tflops": flops / med / 1e12,
        "matmul_n": n,
        "matmul_dtype": str(dtype).removeprefix("torch."),
        "matmul_median_s": med,
        "matmul_best_tflops": flops / min(times) / 1e12,
    }


def measure(
    device: torch.device | str | None = None,
    *,
    copy_bytes: int | None = None,
    matmul_n: int | None = None,
    copy_iters: int = 50,
    matmul_iters: int = 30,
) -> dict[str, Any]:
    """Both ceilings on ``device`` (default: CUDA if available); returns an ``HwCeilings`` dict."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    on_gpu = dev.type == "cuda"
    copy_bytes = copy_bytes or (1024 * MiB if on_gpu else 16 * MiB)
    matmul_n = matmul_n or (8192 if on_gpu else 256)
    name = torch.cuda.get_device_name(dev) if on_gpu else "cpu"
    c = copy_bandwidth(dev, nbytes=copy_bytes, iters=copy_iters)
    m = matmul_throughput(dev, n=matmul_n, iters=matmul_iters)
    extra = {
        k: v
        for k, v in {**c, **m}.items()
        if k not in ("copy_gbs", "matmul_tflops", "copy_bytes", "matmul_n")
    }
    extra["torch"] = torch.__version__
    if on_gpu:
        extra["cuda"] = torch.version.cuda
        extra["capability"] = list(torch.cuda.get_device_capability(dev))
    result = HwCeilings(
        device=name,
        copy_gbs=c["copy_gbs"],
        matmul_tflops=m["matmul_tflops"],
        copy_bytes=c["copy_bytes"],
        matmul_n=m["matmul_n"],
        extra=extra,
    )
    if on_gpu:
        torch.cuda.empty_cache()
    return result.to_dict()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="write the result here")
    ap.add_argument("--device", default=None)
    ap.add_argument("--copy-mib", type=int, default=None, help="one copy buffer, MiB (GPU 1024, CPU 16)")
    ap.add_argument("--matmul-n", type=int, default=None, help="matmul size (GPU 8192, CPU 256)")
    ap.add_argument("--copy-iters", type=int, default=50)
    ap.add_argument("--matmul-iters", type=int, default=30)
    args = ap.parse_args(argv)
    r = measure(
        args.device,
        copy_bytes=args.copy_mib * MiB if args.copy_mib else None,
        matmul_n=args.matmul_n,
        copy_iters=args.copy_iters,
        matmul_iters=args.matmul_iters,
    )
    print(
        f"{r['device']}: copy {r['copy_gbs']:.0f} GB/s (read+write, {r['copy_bytes'] // MiB} MiB buffers), "
        f"bf16 matmul {r['matmul_tflops']:.1f} TFLOP/s (n={r['matmul_n']})",
        flush=True,
    )
    print(json.dumps(r, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
