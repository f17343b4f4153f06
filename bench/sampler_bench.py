"""The fast engine's sampler at a large batch: what one step's token choice costs.

``SlotSampler.sample`` on random logits [rows, vocab] of three spreads (sigma 0.5 and 2: flat,
as the random checkpoint of ``gptq_random.py`` gives, where top-p 0.95 keeps thousands of tokens
and every row takes the full sort; sigma 8: peaked, as a trained model's, where the top-256
candidates settle every row), greedy and sampled (temperature 0.6, top-p 0.95: reasoning
mode), and the parts of ``token_probs`` and ``draw`` on their own; on a GPU (or in Triton's
interpreter) also the sort-free top-p kernel that sampled rows without top-k take there
(``kernels.top_p``) and how many of its draws equal the definition's (``token_probs`` +
``draw``) on the same uniform numbers. Milliseconds per call.

    python bench/sampler_bench.py --out FILE [--rows 256] [--vocab 102400] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from evalkit.records import SamplingParams
from evalkit.runners.torch_int4 import sampling
from evalkit.runners.torch_int4.kernels.top_p import top_p_draw
from evalkit.runners.torch_int4.slot_sampler import SlotSampler

SPREADS = (0.5, 2.0, 8.0)
SAMPLED = SamplingParams(temperature=0.6, top_p=0.95)


def ms_per_call(fn: Callable[[], object], device: torch.device, n: int) -> float:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    fn()
    sync()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return round((time.perf_counter() - t) / n * 1e3, 3)


def host_launch_ms(fn: Callable[[], object], device: torch.device, n: int) -> float:
    """Host time until `fn` returns, the device idle before each call: what the engine's loop
    spends queueing a step's sampling (a host wait for the device shows up here; on 2026-12-03 a
    scatter of a host scalar into ``seen`` made every sampled step wait for its own forward)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    fn()
    total = 0.0
    for _ in range(n):
        sync()
        t = time.perf_counter()
        fn()
        total += time.perf_counter() - t
    sync()
    return round(total / n * 1e3, 3)


def measure(
    rows: int, vocab: int, device: torch.device, n: int = 10, variants: bool = False
) -> dict[str, Any]:
    res: dict[str, Any] = {"rows": rows, "vocab": vocab, "device": str(device)}
    # the host's part: one uniform number per sampled row, by a generator call or from its stream
    gens = [sampling.make_generator(r) for r in range(rows)]
    streams = [sampling.UniformStream(r) for r in range(rows)]
    cpu = torch.device("cpu")
    res["host uniforms by generator call ms"] = ms_per_call(
        lambda: [torch.rand((), generator=g, dtype=torch.float64) for g in gens], cpu, 50
    )
    res["host uniforms from streams ms"] = ms_per_call(
        lambda: torch.tensor([st.next() for st in streams], dtype=torch.float64), cpu, 50
    )
    for sigma in SPREADS:
        logits = torch.randn(rows, vocab, device=device) * sigma
        res.update(_spread(sigma, logits, n, variants))
    return res


def _spread(sigma: float, logits: torch.Tensor, n: int, variants: bool = False) -> dict[str, Any]:
    rows, device = logits.shape[0], logits.device
    batch = list(range(rows))
    res: dict[str, Any] = {}
    for name, params in (("greedy", SamplingParams(temperature=0.0)), ("t0.6 p0.95", SAMPLED)):
        s = SlotSampler(rows, logits.shape[1], device)
        for r in batch:
            s.assign(r, params, sampling.UniformStream(r), [])
        step = partial(s.sample, logits, batch)
        res[f"sigma {sigma} {name} sample ms"] = ms_per_call(step, device, n)
        res[f"sigma {sigma} {name} host launch ms"] = host_launch_ms(step, device, n)
    scaled = logits / SAMPLED.temperature
    top_k = torch.zeros(rows, dtype=torch.long, device=device)
    top_p = torch.full((rows,), SAMPLED.top_p, device=device)
    filters = (scaled, top_k, top_p)
    res[f"sigma {sigma} candidate ms"] = ms_per_call(partial(sampling._candidate_probs, *filters), device, n)
    res[f"sigma {sigma} exact rows"] = int(sampling._candidate_probs(*filters)[1].sum())
    res[f"sigma {sigma} sorted ms"] = ms_per_call(partial(sampling._sorted_probs, *filters), device, n)
    res[f"sigma {sigma} sort only ms"] = ms_per_call(
        partial(scaled.sort, dim=-1, descending=True, stable=True), device, n
    )
    probs = sampling._sorted_probs(*filters)
    uniforms = torch.rand(rows, dtype=torch.float64)
    res[f"sigma {sigma} draw ms"] = ms_per_call(partial(sampling.draw, probs, uniforms), device, n)
    res[f"sigma {sigma} kept tokens per row"] = round(float((probs > 0).sum(1).float().mean()), 1)
    if device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1":
        temp = torch.full((rows,), SAMPLED.temperature, device=device)
        u_dev = uniforms.to(device)
        res[f"sigma {sigma} top-p kernel ms"] = ms_per_call(
            partial(top_p_draw, logits, temp, top_p, u_dev), device, n
        )
        if variants:  # the kernel's block and warps
            for block, warps in ((512, 4), (1024, 4), (2048, 8), (4096, 8), (1024, 16), (2048, 16)):
                fn = partial(top_p_draw, logits, temp, top_p, u_dev, block=block, num_warps=warps)
                key = f"sigma {sigma} top-p kernel block {block} warps {warps} ms"
                res[key] = ms_per_call(fn, device, n)
        same = total = 0
        for draw_no in range(4):
            u = torch.rand(rows, dtype=torch.float64, generator=torch.Generator().manual_seed(draw_no))
            got = top_p_draw(logits, temp, top_p, u.to(device))
            same += int((got == sampling.draw(probs, u)).sum())
            total += rows
        res[f"sigma {sigma} top-p kernel draws equal to the definition"] = f"{same}/{total}"
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=102400)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--kernel-variants", action="store_true", help="time other blocks/warps too")
    args = ap.parse_args()
    res = measure(args.rows, args.vocab, torch.device(args.device), args.calls, args.kernel_variants)
    print(json.dumps(res, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
