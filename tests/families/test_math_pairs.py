"""The hand-checked answer pairs (tests/data/math/answer_pairs.jsonl): our verdicts, and where
and why they differ from math-verify's own (tests/data/math/README.md)."""

import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evalkit.scoring.math_answer import option_texts
from evalkit.scoring.math_equiv import check_answer

PAIRS_FILE = Path(__file__).resolve().parents[1] / "data" / "math" / "answer_pairs.jsonl"
PAIRS = [json.loads(line) for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
DIFFERENCE_KINDS = {
    "last-box",
    "unclosed-box",
    "fbox",
    "unicode",
    "relation-interval",
    "plus-minus",
    "digit-groups",
    "unit-words",
    "multilingual-statement",
    "decimal-comma",
    "choice-option",
}


def test_the_pair_set_covers_what_it_must():
    assert len(PAIRS) >= 150
    assert sum(p["style"] == "model" for p in PAIRS) >= len(PAIRS) / 2
    forms = Counter(p["form"] for p in PAIRS)
    for form in ("boxed-nested", "boxed-several", "fraction", "radical", "pi", "interval", "multiple"):
        assert forms[form] >= 5, form
    for form in ("integer", "units", "spanish", "korean"):
        assert forms[form] >= 5, form
    assert Counter(p["expected"] for p in PAIRS)[False] >= 40  # wrong answers must be caught too
    assert {p.get("mv_difference") for p in PAIRS} - {None} <= DIFFERENCE_KINDS


def _check(p):
    choices = option_texts(p["question"]) if p.get("question") else None
    return check_answer(p["response"], p["gold"], lang=p["lang"], choices=choices, timeout_s=10.0)


def test_every_pair_gets_its_hand_checked_verdict():
    # from several threads at once, as a threaded caller would
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = list(pool.map(_check, PAIRS))
    wrong = [
        (p["id"], p["expected"], v.correct, v.reason)
        for p, v in zip(PAIRS, verdicts, strict=True)
        if v.correct != p["expected"] or not v.reason or v.timed_out
    ]
    assert wrong == []


def test_agreement_with_math_verify_and_every_difference_is_deliberate():
    """math-verify's own verdict (its parse of the gold in $...$, of the whole response, and
    verify) agrees with the expected one except on the pairs tagged with a documented kind."""
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    undocumented, stale = [], []
    for p in PAIRS:
        mv = bool(verify(parse(f"${p['gold']}$"), parse(p["response"])))
        if p.get("mv_difference") is None and mv != p["expected"]:
            undocumented.append(p["id"])
        if p.get("mv_difference") is not None and mv == p["expected"]:
            stale.append(p["id"])  # math-verify now agrees: the tag (and README) should go
    assert undocumented == [] and stale == []
    agree = sum(1 for p in PAIRS if p.get("mv_difference") is None) / len(PAIRS)
    assert agree > 0.85  # 210 of 235 when written


@pytest.mark.parametrize("kind", sorted(DIFFERENCE_KINDS))
def test_each_difference_kind_is_explained_in_the_readme(kind):
    readme = (PAIRS_FILE.parent / "README.md").read_text(encoding="utf-8")
    assert f"`{kind}`" in readme
