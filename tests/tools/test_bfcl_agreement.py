"""evalkit's BFCL scoring agrees with BFCL's own checker on 11,539 outputs (valid and error_type)."""

from __future__ import annotations

import collections
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.benchmarks.bfcl.single import score_single_turn
from evalkit.data import read_records

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "data" / "bfcl" / "single_turn_cases.jsonl.gz"
ENTRIES = ROOT / "tasks" / "samples" / "bfcl_v3.full.jsonl.gz"


@pytest.fixture(scope="module")
def entries() -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in read_records(ENTRIES)}


def test_every_generated_output_gets_bfcls_verdict(entries: dict[str, dict[str, Any]]) -> None:
    with gzip.open(CASES, "rt", encoding="utf-8") as f:
        cases = [json.loads(line) for line in f]
    assert len(cases) == 11_539
    kinds = collections.Counter(c["kind"] for c in cases)
    assert kinds["correct"] == 2501 and min(kinds.values()) > 200
    valid = collections.Counter(c["valid"] for c in cases)
    assert valid[True] > 4000 and valid[False] > 4000  # both verdicts well represented
    diffs = []
    for c in cases:
        e = entries[c["id"]]
        check, _ = score_single_turn(c["category"], e["function"], c["output"], e["ground_truth"])
        if (check.valid, check.error_type) != (c["valid"], c["error_type"]):
            diffs.append(
                f"{c['id']} {c['kind']}: evalkit {check.valid} {check.error_type}, "
                f"BFCL {c['valid']} {c['error_type']}"
            )
    assert diffs == []
