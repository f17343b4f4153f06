"""evalkit's simple-evals extraction against simple-evals' own code (see tests/data/simple_evals)."""

import gzip
import json
from pathlib import Path

import pytest

from evalkit.scoring.simple_evals import extract_simple_evals, extract_simple_evals_multilingual

CASES = Path(__file__).resolve().parent.parent / "data" / "simple_evals" / "cases.jsonl.gz"


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    with gzip.open(CASES, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_cases_cover_hits_misses_and_languages(cases):
    assert len(cases) > 800
    assert sum(c["mmlu"] is not None for c in cases) > 200 and sum(c["mmlu"] is None for c in cases) > 200
    assert any("정답" in c["text"] and c["mmlu"] for c in cases)
    assert any("Respuesta" in c["text"] and c["mmlu"] for c in cases)


def test_gpqa_extraction_matches_upstream(cases):
    wrong = [c["text"] for c in cases if extract_simple_evals(c["text"]).value != c["gpqa"]]
    assert not wrong, wrong[:5]


def test_multilingual_extraction_matches_upstream(cases):
    wrong = [c["text"] for c in cases if extract_simple_evals_multilingual(c["text"]).value != c["mmlu"]]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Respuesta: C\nAnswer: D", "D"),  # "Answer" comes first in upstream's list of answer words
        ("Answer: A\nAnswer: B", "A"),  # the first occurrence, not the last
        ("**Answer:** C", "C"),  # markdown bold is removed first
        ("Answer: $\\boxed{B}$", "B"),
        ("정답: C", "C"),
        ("الإجابة: ب", "B"),
        ("The answer is C", None),  # no "Answer:" statement: nothing, never a guess
    ],
)
def test_multilingual_order_and_normalisation(text, expected):
    assert extract_simple_evals_multilingual(text).value == expected


def test_gpqa_reads_the_raw_text():
    assert extract_simple_evals("**Answer:** C").value is None  # gpqa_eval.py does not normalise
    assert extract_simple_evals("Answer: $C$").value == "C"
    assert extract_simple_evals(None).value is None
