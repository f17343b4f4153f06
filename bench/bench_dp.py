"""Data parallelism on one host: workload W1 through a runner profile on 1 GPU, then on N.

Issue 18 asks for W1 (bench_eval.py's multiple-choice workload: 1,024 prompts of 600-800
tokens, outputs of 32-512, greedy) at >= 1.9x one GPU on two. This drives it through the
Runner interface, as `make card GPUS=N` does: the same requests go to the profile's runner
in-process on one GPU, then to `make_engines(profile, model, N, dp=...)` (one engine per GPU,
threads or worker processes, fed from one queue); it prints both throughputs, the ratio, and
checks that every completion is the same in both runs (every request keeps its own seed).

Prompts are bench_eval.py's W1 token ids decoded by the model's tokenizer and sent as a user
turn; outputs may stop at EOS before their budget (the same in both runs, which is what the
ratio needs). Times count generation only, not the loads.

    python bench/bench_dp.py --runner torch-int4 --model CKPT --gpus 2 [--dp processes|threads]
    python bench/bench_dp.py --runner vllm --model CKPT --gpus 2            # processes
    python bench/bench_dp.py --scale 0.016 --cap-new-tokens 8 --gpus 2 --dp processes   # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def requests(model: str, scale: float, cap: int, seed: int) -> list[Any]:
    from transformers import AutoTokenizer

    from bench.bench_eval import workload
    from evalkit.models import resolve_model
    from evalkit.records import ChatRequest, SamplingParams

    tok = AutoTokenizer.from_pretrained(resolve_model(model))
    out = []
    for r in workload("W1", scale, seed):
        text = tok.decode([i % len(tok) for i in r.prompt], skip_special_tokens=True)
        budget = min(r.max_new_tokens, cap) if cap else r.max_new_tokens
        params = SamplingParams(temperature=0.0, max_new_tokens=budget, seed=r.seed)
        out.append(ChatRequest(messages=[{"role": "user", "content": text}], params=params))
    return out


def measure(runner: Any, reqs: list[Any]) -> tuple[float, int, dict[int, Any]]:
    t = time.perf_counter()
    got = dict(runner.generate(reqs))
    wall = time.perf_counter() - t
    return wall, sum(c.completion_tokens for c in got.values()), got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runner", default="torch-int4", help="a runner profile (runners/*.yaml)")
    ap.add_argument("--model", default=None, help="override the profile's model")
    ap.add_argument("--gpus", type=int, required=True, help="engines of the data-parallel run")
    ap.add_argument("--dp", choices=["auto", "threads", "processes"], default="auto")
    ap.add_argument("--scale", type=float, default=1.0, help="W1's 1,024 prompts times this")
    ap.add_argument("--cap-new-tokens", type=int, default=0, help="smoke runs: cap every output length")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures here (JSON)")
    args = ap.parse_args(argv)

    from evalkit.runners.data_parallel import make_engines
    from evalkit.runners.profiles import load_profile

    profile = load_profile(args.runner)
    model = args.model or profile.model
    reqs = requests(model, args.scale, args.cap_new_tokens, args.seed)
    figures: dict[str, Any] = {"workload": "W1", "requests": len(reqs), "runner": args.runner, "model": model}
    # The one-GPU run as the N-GPU run places its engines: a worker process where those are
    # processes (vLLM frees a GPU only with its process), else in this process.
    processes = args.dp == "processes" or (args.dp == "auto" and "device" not in profile.settings)
    with make_engines(profile, args.model, 1, dp="processes" if processes else "threads") as one:
        wall1, gen1, got1 = measure(one, reqs)
    with make_engines(profile, args.model, args.gpus, dp=args.dp) as many:
        walln, genn, gotn = measure(many, reqs)
        figures["engines"] = type(many).__name__
    same = all(got1[i].text == gotn[i].text for i in range(len(reqs)))
    figures.update(
        {
            "gpus": args.gpus,
            "dp": args.dp,
            "one_gpu_wall_s": round(wall1, 2),
            "one_gpu_tok_s": round(gen1 / wall1, 1),
            "n_gpu_wall_s": round(walln, 2),
            "n_gpu_tok_s": round(genn / walln, 1),
            "speedup": round(wall1 / walln, 3),
            "generated_tokens": gen1,
            "same_completions": same,
        }
    )
    print(json.dumps(figures), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
