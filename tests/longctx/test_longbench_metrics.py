"""LongBench metrics against worked examples computed by LongBench's own metrics.py (run in a
separate venv with its requirements; tests/data/longbench/worked_examples.json says which)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.benchmarks.longbench import metrics as M

CASES = json.loads((Path(__file__).parents[1] / "data" / "longbench" / "worked_examples.json").read_text())


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: f"{c['metric']}:{c['prediction'][:20]}")
def test_metric_matches_upstream(case: dict) -> None:
    got = getattr(M, case["metric"])(case["prediction"], case["ground_truth"], **case["kwargs"])
    assert got == pytest.approx(case["score"], abs=1e-12)


def test_sample_score_takes_first_line_and_max_over_answers() -> None:
    # trec scores only the first line; the max runs over the ground truths.
    assert M.sample_score("trec", "Location\nHuman being", ["Location"], ["Location", "Human being"]) == 1.0
    assert M.sample_score("triviaqa", "x\nParis", ["Paris"], None) == 0.0
    assert M.sample_score("hotpotqa", "Paris", ["London", "Paris"], None) == 1.0
