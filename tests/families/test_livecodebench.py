"""LiveCodeBench: decoding, extraction, and grading parity with the official runner's recorded verdicts."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

from evalkit.benchmarks.livecodebench.extract import last_fenced_block
from evalkit.benchmarks.livecodebench.grade import grade
from evalkit.benchmarks.livecodebench.problems import parse_problem, safe_unpickle
from evalkit.errors import DataError
from evalkit.sandbox import Sandbox, SandboxUnavailable

DATA = Path(__file__).parent.parent / "data" / "livecodebench"


def _problems():
    rows = [json.loads(x) for x in (DATA / "problems.jsonl").read_text().splitlines()]
    return {r["question_id"]: parse_problem(r, "problems.jsonl", i + 1) for i, r in enumerate(rows)}


def _pairs():
    pairs = [json.loads(x) for x in (DATA / "pairs.jsonl").read_text().splitlines()]
    official = [json.loads(x) for x in (DATA / "official_verdicts.jsonl").read_text().splitlines()]
    assert len(pairs) == len(official) >= 200
    return list(zip(pairs, official, strict=True))


def test_private_tests_decode_both_forms():
    probs = _problems()
    assert all(len(p.private_tests) >= 1 for p in probs.values())
    assert {p.fn_name is None for p in probs.values()} == {True, False}


def test_restricted_unpickler_refuses_objects():
    evil = pickle.dumps(Path("/etc/passwd"))
    with pytest.raises(pickle.UnpicklingError):
        safe_unpickle(evil)
    rec = json.loads((DATA / "problems.jsonl").read_text().splitlines()[0])
    rec["private_test_cases"] = base64.b64encode(zlib.compress(evil)).decode()
    with pytest.raises(DataError, match="private_test_cases"):
        parse_problem(rec, "x.jsonl", 1)


def test_last_fenced_block():
    text = "```python\nprint(1)\n```\nthen\n```python\nprint(2)\n```"
    assert last_fenced_block(text) == "print(2)"
    assert last_fenced_block("no code") == ""


@pytest.mark.parametrize("subset", ["fast"])
def test_grader_agrees_with_official_runner_on_a_subset(subset):
    try:
        sandbox = Sandbox()
    except SandboxUnavailable:
        pytest.skip("no isolation on this machine")
    probs = _problems()
    chosen = [
        (p, o)
        for p, o in _pairs()
        if p["label"] != "tle" and p["question_id"] in ("sum2", "avg", "twosum", "ratio")
    ]
    got = list(
        sandbox.map(
            lambda po: grade(sandbox, probs[po[0]["question_id"]], po[0]["code"], timeout_s=1), chosen
        )
    )
    for (p, o), g in zip(chosen, got, strict=True):
        assert g.passed == o["passed"], (p, o, g)
        assert g.results == o["results"], (p, o, g)


@pytest.mark.slow
def test_grader_agrees_with_official_runner_on_every_pair():
    sandbox = Sandbox()
    probs = _problems()
    pairs = _pairs()
    got = list(
        sandbox.map(lambda po: grade(sandbox, probs[po[0]["question_id"]], po[0]["code"], timeout_s=1), pairs)
    )
    bad = [
        (p["question_id"], p["label"], o["results"], g.results)
        for (p, o), g in zip(pairs, got, strict=True)
        if g.passed != o["passed"]
    ]
    assert not bad
