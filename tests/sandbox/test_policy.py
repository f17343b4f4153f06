"""The fallback policy: no isolation, no run, unless the user opts out; the level is recorded."""

from __future__ import annotations

import datetime

import pytest

from evalkit.benchmarks.livecodebench.grade import grade
from evalkit.benchmarks.livecodebench.problems import Problem, TestCase
from evalkit.sandbox import OPT_OUT_ENV, Sandbox, SandboxUnavailable, detect, isolation

TESTS = (TestCase("1 2\n", "3\n", "stdin"),), (TestCase("5 7\n", "12\n", "stdin"),)
PROBLEM = Problem("p", "t", "c", "atcoder", datetime.datetime(2025, 1, 1), "", "easy", *TESTS, None)


def test_refuses_without_isolation_unless_opted_out(monkeypatch):
    monkeypatch.setattr(isolation, "_probe", lambda: "namespaces forbidden here")
    monkeypatch.delenv(OPT_OUT_ENV, raising=False)
    with pytest.raises(SandboxUnavailable, match=r"namespaces forbidden here.*EVALKIT_SANDBOX=unisolated"):
        detect()
    monkeypatch.setenv(OPT_OUT_ENV, "unisolated")
    level = detect()
    assert not level.isolated and "UNISOLATED" in level.level
    sandbox = Sandbox(workers=1, isolation=level)
    ok = grade(sandbox, PROBLEM, "a, b = map(int, input().split())\nprint(a + b)", timeout_s=5)
    wrong = grade(sandbox, PROBLEM, "print(3)", timeout_s=5)
    assert ok.passed and wrong.results == [True, -2]
    assert sandbox.level == level.level  # what the LCB family records with every verdict
