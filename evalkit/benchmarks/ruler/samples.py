"""RULER rows -> generated samples, cached per (model tokenizer, task, length, seed, corpus).

A RULER "dataset" is a plan: rows {id, task, index, length[, num_samples]} naming which
generated sample to evaluate. The samples themselves are generated here with the
evaluated model's tokenizer (see `generate.py`), so that the same plan gives each model
prompts of the stated length in its own tokens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from evalkit.benchmarks.ruler.generate import RulerSample, generate_task
from evalkit.benchmarks.ruler.tasks import SEQ_LENGTHS, TASKS
from evalkit.longctx.tokens import chat_overhead, count_tokens

_CACHE: dict[tuple[Any, ...], list[RulerSample]] = {}


def generated(
    tokenizer: Any, task: str, length: int, index: int, *, want: int, seed: int, corpus: Path
) -> RulerSample:
    """Sample `index` of `task` at `length` tokens; generates at least `want` samples at once."""
    key = (id(tokenizer), getattr(tokenizer, "name_or_path", ""), task, length, seed, str(corpus))
    have = _CACHE.get(key, [])
    if index >= len(have):
        n = max(want, index + 1)
        have = generate_task(
            task,
            lambda text: count_tokens(tokenizer, text),
            length,
            n,
            corpus=corpus,
            seed=seed,
            template_tokens=chat_overhead(tokenizer),
        )
        _CACHE[key] = have
    return have[index]


def plan_rows(
    lengths: list[int], num_samples: int, tasks: list[str] | None = None
) -> list[dict[str, object]]:
    """A plan: every task at every length, `num_samples` each (RULER's default is 500)."""
    return [
        {"id": f"{t}/{n}/{i}", "task": t, "index": i, "length": n, "num_samples": num_samples}
        for n in lengths
        for t in tasks or list(TASKS)
        for i in range(num_samples)
    ]


def main(argv: list[str] | None = None) -> int:
    """`python -m evalkit.benchmarks.ruler.samples --length 131072 --samples 500 > plan.jsonl`."""
    import argparse

    p = argparse.ArgumentParser(description="write a RULER plan (JSONL) for `evalkit run ruler --data`")
    p.add_argument(
        "--length", type=int, nargs="+", default=[131072], help=f"e.g. {' '.join(map(str, SEQ_LENGTHS))}"
    )
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--tasks", nargs="+", choices=list(TASKS))
    a = p.parse_args(argv)
    for row in plan_rows(a.length, a.samples, a.tasks):
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
