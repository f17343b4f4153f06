"""Grading a program against a LiveCodeBench problem: run in the sandbox, judged outside it.

The driver (driver.py) runs inside the sandboxed child and gets the program and, one at
a time, the test inputs; it answers with what the program printed or returned. Expected
outputs never leave this process: the comparison (verdict.py) happens here, and the
next input is sent only once the previous test passed (the official runner also stops at
the first failure). Whatever comes back is data: a reply that is not what the driver sends
(a program writing `{"results": [true]}` to the channel, say) is a wrong answer with that
reason. As in the official runner, a run that ends without answering, or does not finish
within the global backstop ((timeout + 1) * tests + 5 seconds), counts -1 on every test.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.benchmarks.livecodebench import verdict as lcb_verdict
from evalkit.benchmarks.livecodebench.problems import Problem
from evalkit.sandbox import Channel, ChannelClosed, ChannelError, Limits, Sandbox
from evalkit.sandbox.limits import GiB

DRIVER = Path(__file__).with_name("driver.py").read_text(encoding="utf-8")
DEFAULT_TIMEOUT_S = 6  # the official runner's default per-test limit
CODE_NAMES = {-1: "global timeout", -2: "wrong answer", -3: "time limit exceeded", -4: "runtime error"}


@dataclass(frozen=True)
class GradeResult:
    passed: bool
    results: list[Any]  # per test until the first failure: True, False, -1, -2, -3, -4
    reason: str
    meta: dict[str, object] = field(default_factory=dict)
    sandbox: str = ""  # what the sandbox saw: "ok", "wall-time limit", "killed by SIGKILL", ...


def grade_limits(n_tests: int, timeout_s: int, memory_bytes: int = 4 * GiB) -> Limits:
    backstop = (timeout_s + 1) * n_tests + 5
    return Limits(wall_s=backstop, cpu_s=backstop, memory_bytes=memory_bytes)


@dataclass(frozen=True)
class NoResult:
    """The program ended before answering."""

    why: str


class _Forged(Exception):
    """A reply the driver would never send."""


def _reply(channel: Channel, deadline: float, i: int) -> dict[str, object]:
    try:
        reply = channel.recv(deadline)
    except ChannelError as e:
        raise _Forged(str(e)) from e
    if reply.get("i") != i or reply.get("status") not in ("ok", "error"):
        raise _Forged(f"a reply for test {i} without its index or status: {lcb_verdict.short(reply, 120)}")
    return reply


def _judge(reply: dict[str, object], inp: str, want: Any, functional: bool) -> tuple[Any, dict[str, object]]:
    """One test's verdict from the driver's reply (raises _Forged for a reply of the wrong shape)."""
    if reply["status"] == "error":
        code, error = reply.get("code"), reply.get("error")
        if code not in (-3, -4) or not isinstance(error, str):
            raise _Forged("an error reply without a code or message")
        return code, lcb_verdict.error_meta(code, error, inp, want)
    if functional:
        if "unserializable" in reply:
            what = lcb_verdict.Unserializable(str(reply["unserializable"]))
            return lcb_verdict.judge_value(what, inp, want)
        if "value" not in reply:
            raise _Forged("a reply without a value")
        return lcb_verdict.judge_value(reply["value"], inp, want)
    output, truncated = reply.get("output"), reply.get("truncated")
    if not isinstance(output, str) or not isinstance(truncated, bool):
        raise _Forged("a reply without its output")
    return lcb_verdict.judge_stdout(output, truncated, inp, want)


def _talk(problem: Problem, code: str, timeout_s: int, expected: list[Any]):
    functional = bool(problem.fn_name)

    def talk(channel: Channel, deadline: float) -> tuple[list[Any], dict[str, object]] | NoResult:
        channel.loads = lcb_verdict.loads_reply  # typed return values rebuilt as they are parsed
        results: list[Any] = []
        try:
            channel.send({"code": code, "fn_name": problem.fn_name, "timeout": timeout_s}, deadline)
            loaded = channel.recv(deadline)
            if "load_error" in loaded:
                message = f"Error during testing: {loaded['load_error']}"
                return [-4], {"error_code": -4, "error_message": message}
            if loaded != {"loaded": True}:
                raise _Forged(f"an unexpected reply to the job: {lcb_verdict.short(loaded, 120)}")
            for i, (test, want) in enumerate(zip(problem.tests, expected, strict=True)):
                channel.send({"i": i, "input": test.input}, deadline)
                verdict, meta = _judge(_reply(channel, deadline, i), test.input, want, functional)
                results.append(verdict)
                if verdict is not True:
                    return results, meta
            return results, {}
        except (ChannelError, _Forged) as e:
            return _forged(results, str(e))
        except ChannelClosed as e:
            return NoResult(str(e))  # like the official runner: -1 on every test

    return talk


def _forged(results: list[Any], why: str) -> tuple[list[Any], dict[str, object]]:
    message = f"forged or malformed reply from the sandbox: {why}"
    return [*results, -2], {"error_code": -2, "error_message": message[:300]}


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
    try:
        expected = [lcb_verdict.loads_expected(t.output) if problem.fn_name else t.output for t in tests]
    except ValueError as e:  # the official runner fails the same way, before running anything
        return GradeResult(False, [-4], f"runtime error on test 1: Error during testing: {e}"[:300])
    run = sandbox.run(
        [sys.executable, "-I", "-c", DRIVER],
        limits=limits or grade_limits(len(tests), timeout_s),
        talk=_talk(problem, code, timeout_s, expected),
        reaps=True,  # the driver forks first thing and stays behind as init (lcb_driver.become_init_parent)
    )
    if not isinstance(run.talked, tuple):  # None when the deadline passed
        tail = run.stderr.strip().splitlines()[-1:] or [""]
        why = "wall-time limit" if run.timed_out else run.reason
        if isinstance(run.talked, NoResult) and "middle of a reply" in run.talked.why:
            why += f"; {run.talked.why}"
        reason = f"no result ({why}) {tail[0][:200]}".strip()[:300]
        return GradeResult(False, [-1] * len(tests), reason, {}, why)
    results, meta = run.talked
    passed = len(results) == len(tests) and all(r is True for r in results)
    if passed:
        return GradeResult(True, results, "passed", meta, run.reason)
    code_ = next((r for r in results if r is not True), None)
    what = "wrong answer" if code_ is False else CODE_NAMES.get(int(code_ or 0), "failed")
    detail = meta.get("error_message") or meta.get("error") or ""
    return GradeResult(False, results, f"{what} on test {len(results)}: {detail}"[:300], meta, run.reason)
