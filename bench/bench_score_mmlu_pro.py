"""Scoring speed of `evalkit score mmlu_pro` on the full test set (12,032 responses).

Every MMLU-Pro test question (from the task's local copy, ../shared/data) is paired with a
real chain-of-thought response from tests/data/mmlu_pro_official (reused in turn), and the
whole `evalkit score` path runs: reading the responses, loading and building all 12,032
items, the official extraction chain, verdicts written as JSONL. Prints the figures.

    .venv/bin/python bench/bench_score_mmlu_pro.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import platform
import tempfile
import time
from pathlib import Path

from evalkit.data import load_rows
from evalkit.registry import get_task
from evalkit.scoring.mmlu_pro_official import extract_mmlu_pro
from evalkit.scoring.responses import score_responses

REPO = Path(__file__).resolve().parent.parent
RESPONSES = REPO / "tests" / "data" / "mmlu_pro_official" / "responses.jsonl.gz"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    items = load_rows(get_task("mmlu_pro"), "local").rows
    with gzip.open(RESPONSES, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["response"] for line in f]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "responses.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i, row in enumerate(items):
                f.write(json.dumps({"id": row.id, "response": texts[i % len(texts)]}) + "\n")
        chars = sum(len(texts[i % len(texts)]) for i in range(len(items)))
        cpu = platform.processor() or platform.machine()
        print(f"{len(items)} responses, {chars / 1e6:.1f} M characters, {cpu}")

        for _ in range(args.repeat):
            out = io.StringIO()
            t0 = time.perf_counter()
            summary = score_responses("mmlu_pro", path, data="local", mode="non-reasoning", out=out)
            dt = time.perf_counter() - t0
            assert out.getvalue().count("\n") == len(items)
            print(f"evalkit score (end to end): {dt:.2f} s, {len(items) / dt:,.0f} responses/s  [{summary}]")

        for variant in ("local", "api", "last_match"):
            t0 = time.perf_counter()
            for i in range(len(items)):
                extract_mmlu_pro(texts[i % len(texts)], variant=variant)
            dt = time.perf_counter() - t0
            print(f"extraction only, variant {variant}: {dt:.2f} s, {len(items) / dt:,.0f} responses/s")


if __name__ == "__main__":
    main()
