"""One long prompt through the in-house torch int4 runner: prints prompt tokens, prefill and
decode time, peak GPU memory, and the batch size a run would plan at this length (from the
runner's `kv_cache_budget_bytes()`, else the GPU's free memory).

    PYTHONPATH=. python3 bench/long_prompt_gpu.py --length 131072 --new-tokens 32 [--model tiny]

The prompt is RULER's noise haystack (niah_single_1's filler sentence) with one needle in
the middle, sized in the model's own tokens so that chat template + prompt + new tokens fill
`--length` exactly. On the embedded tiny model the answer is gibberish; what counts is that
a 128K prompt runs, and its memory and time.
"""

from __future__ import annotations

import argparse
import time

import torch

from evalkit.kv_planning import plan_batch_size
from evalkit.records import ChatRequest, SamplingParams
from evalkit.runners.torch_int4.runner import TorchInt4Runner

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
NEEDLE = "One of the special magic numbers for frozen-lake is: 4182957."


def build_prompt(runner: TorchInt4Runner, length: int, new_tokens: int) -> tuple[str, int]:
    """A haystack whose rendered prompt has exactly length - new_tokens tokens (or one less)."""
    target = length - new_tokens
    question = "\nWhat is the special magic number for frozen-lake mentioned in the provided text?"

    def rendered(n: int) -> int:
        text = "\n".join([NOISE] * (n // 2) + [NEEDLE] + [NOISE] * (n - n // 2)) + question
        req = ChatRequest([{"role": "user", "content": text}], SamplingParams(max_new_tokens=new_tokens))
        return len(runner.encode(runner.render(req)))

    per = rendered(200) / 200
    lo, hi, best = 1, int(target / per * 1.2) + 10, 1
    while lo <= hi:  # the most filler lines that fit
        mid = (lo + hi) // 2
        if rendered(mid) <= target:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    text = "\n".join([NOISE] * (best // 2) + [NEEDLE] + [NOISE] * (best - best // 2)) + question
    return text, rendered(best)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--length", type=int, default=131072, help="prompt + new tokens")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--engine", default="auto", help="auto (fast on a GPU), fast, reference")
    a = p.parse_args()

    t0 = time.perf_counter()
    runner = TorchInt4Runner(a.model, device=a.device, max_batch_size=1, engine=a.engine)
    load_s = time.perf_counter() - t0
    dev = runner.device
    print(
        f"device: {torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}; model {a.model}; "
        f"engine {runner.engine_kind}"
    )
    print(f"max_context {runner.max_context()} tokens; KV cache {runner.kv_bytes_per_token()} bytes/token")
    text, prompt_tokens = build_prompt(runner, a.length, a.new_tokens)
    print(f"prompt: {prompt_tokens} tokens (+{a.new_tokens} new = {prompt_tokens + a.new_tokens})")
    req = ChatRequest([{"role": "user", "content": text}], SamplingParams(max_new_tokens=a.new_tokens))

    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    t1 = time.perf_counter()
    (_, c), *_ = list(runner.generate([req]))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    total_s = time.perf_counter() - t1
    print(
        f"load {load_s:.1f} s; generate {total_s:.2f} s for {c.prompt_tokens} prompt + "
        f"{c.completion_tokens} new tokens"
    )
    print(f"prefill+decode throughput: {(c.prompt_tokens + c.completion_tokens) / total_s:,.0f} tok/s")
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev)
        free, total = torch.cuda.mem_get_info(dev)
        kv = runner.kv_bytes_per_token() * (c.prompt_tokens + c.completion_tokens)
        print(
            f"peak GPU memory {peak / 2**30:.2f} GiB (weights etc. before the call {base / 2**30:.2f} GiB);"
        )
        print(
            f"KV cache of this sequence {kv / 2**30:.3f} GiB; "
            f"GPU free {free / 2**30:.1f} of {total / 2**30:.1f} GiB"
        )
        budget = runner.kv_cache_budget_bytes()  # what a run plans with (evalkit.kv_planning)
        source = "the runner's KV-cache budget" if budget else "free memory (the runner reports no budget)"
        budget = budget or free
        bs = plan_batch_size(runner.kv_bytes_per_token(), c.prompt_tokens + c.completion_tokens, budget, 1024)
        print(f"planned batch size at this length from {source}, {budget / 2**30:.1f} GiB: {bs}")
    print(f"finish_reason {c.finish_reason}; text {c.text[:80]!r}")
    runner.close()


if __name__ == "__main__":
    main()
