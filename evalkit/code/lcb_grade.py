"""Grading a program against a LiveCodeBench problem, in the sandbox.

The harness (lcb_harness.py) runs inside the sandboxed child with the official runner's
rules; this side builds its job, sets the limits and turns what came back into a
GradeResult. As in the official runner, a run that returns nothing within the global
backstop ((timeout + 1) * tests + 5 seconds) counts -1 on every test.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.code.lcb_problems import Problem
from evalkit.sandbox import Limits, Sandbox
from evalkit.sandbox.limits import GiB

HARNESS = Path(__file__).with_name("lcb_harness.py")
DEFAULT_TIMEOUT_S = 6  # the official runner's default per-test limit
CODE_NAMES = {-1: "global timeout", -2: "wrong answer", -3: "time limit exceeded", -4: "runtime error"}


@dataclass(frozen=True)
class GradeResult:
    passed: bool
    results: list[Any]  # per test until the first failure: True, -1, -2, -3, -4
    reason: str
    meta: dict[str, Any] = field(default_factory=dict)
    sandbox: str = ""  # what the sandbox saw: "ok", "wall-time limit", "killed by SIGKILL", ...


def grade_limits(n_tests: int, timeout_s: int, memory_bytes: int = 4 * GiB) -> Limits:
    backstop = (timeout_s + 1) * n_tests + 5
    return Limits(wall_s=backstop, cpu_s=backstop, memory_bytes=memory_bytes)


def grade(
    sandbox: Sandbox,
    problem: Problem,
    code: str,
    *,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    limits: Limits | None = None,
) -> GradeResult:
    """Run `code` on every test of `problem` (public then private); never raises on bad code."""
    tests = problem.tests
    if not code.strip():
        return GradeResult(False, [], "no code: the answer has no fenced block")
    job = {
        "code": code,
        "inputs": [t.input for t in tests],
        "outputs": [t.output for t in tests],
        "fn_name": problem.fn_name,
        "timeout": timeout_s,
    }
    run = sandbox.run(
        [sys.executable, "-I", str(HARNESS)],
        stdin=json.dumps(job),
        limits=limits or grade_limits(len(tests), timeout_s),
    )
    try:
        got = json.loads(run.result)
        results, meta = list(got["results"]), dict(got["meta"])
    except (json.JSONDecodeError, KeyError, TypeError):
        tail = run.stderr.strip().splitlines()[-1:] or [""]
        return GradeResult(
            False, [-1] * len(tests), f"no result ({run.reason}) {tail[0][:200]}".strip(), {}, run.reason
        )
    passed = len(results) == len(tests) and all(r is True for r in results)
    if passed:
        return GradeResult(True, results, "passed", meta, run.reason)
    code_ = next((r for r in results if r is not True), None)
    what = CODE_NAMES.get(code_, "failed") if isinstance(code_, int) else "failed"
    detail = meta.get("error_message") or meta.get("error") or ""
    return GradeResult(False, results, f"{what} on test {len(results)}: {detail}"[:300], meta, run.reason)
