"""The equivalence checker under stress: time limits in any thread, dead workers, fuzzed LaTeX."""

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.scoring import math_checker
from evalkit.scoring.math_equiv import MathCheck, check_answer

LIMIT = 1.0  # a short limit keeps these tests quick; tasks use 5 s
SLACK = 1.0  # the promise: no check runs more than 1 s past its limit

PATHOLOGICAL = [
    "\\boxed{10^{10^{10}}}",  # a bigint power: sympy computes it in C, no signal gets in
    "\\boxed{9999999999!}",
    "\\boxed{2^{2^{2^{2^{2^{2}}}}}}",
]


@pytest.fixture(scope="module", autouse=True)
def warm_worker():
    """Start the worker once, so that start-up time is not charged to a check's limit."""
    assert check_answer("\\boxed{1}", "1").correct


def _timed(answer: str, gold: str = "5", limit: float = LIMIT) -> tuple[MathCheck, float]:
    t0 = time.monotonic()
    v = check_answer(answer, gold, timeout_s=limit)
    return v, time.monotonic() - t0


@pytest.mark.parametrize("answer", PATHOLOGICAL)
def test_pathological_expression_times_out_in_the_main_thread(answer):
    v, elapsed = _timed(answer)
    assert elapsed <= LIMIT + SLACK
    assert not v.correct
    if v.timed_out:
        assert "time limit" in v.reason
    # the checker that was killed is replaced at once: the next check is quick and right
    ok, quick = _timed("\\boxed{\\frac{10}{2}}")
    assert ok.correct and quick < LIMIT


def test_time_limit_holds_in_worker_threads_too():
    results: list[tuple[MathCheck, float]] = []

    def work(answer: str) -> None:
        results.append(_timed(answer))

    threads = [threading.Thread(target=work, args=(a,)) for a in ["\\boxed{10^{10^{10}}}", "\\boxed{5}"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    for _, elapsed in results:
        assert elapsed <= LIMIT + SLACK
    verdicts = sorted((v.correct, v.timed_out) for v, _ in results)
    assert verdicts == [(False, True), (True, False)]


def test_a_dead_worker_is_replaced_and_its_checks_fail_with_a_reason():
    checker = math_checker.default_checker()
    starts = checker.starts
    proc = checker._proc
    assert proc is not None
    # kill the worker while a slow check is running: the caller gets an error, not a hang
    killer = threading.Timer(0.3, proc.kill)
    killer.start()
    t0 = time.monotonic()
    reply = checker.run({"gold": "1", "answer": "10^{10^{10}}", "raw": False, "choices": {}}, 5.0)
    assert time.monotonic() - t0 < 5.0
    assert reply["status"] == "error" and "died" in reply["detail"]
    # the next check starts a fresh worker
    assert checker.run({"gold": "3", "answer": "\\frac{9}{3}", "raw": False, "choices": {}}, 5.0)["correct"]
    assert checker.starts == starts + 1


def test_repeated_identical_checks_are_answered_from_the_cache():
    checker = math_checker.default_checker()
    req = {"gold": "7170", "answer": "007170", "raw": False, "choices": {}}  # asked nowhere else
    first = checker.run(req, 5.0)
    again = checker.run(req, 5.0)
    assert first["correct"] and again["correct"] and again.get("cached") and not first.get("cached")


PIECES = [
    "\\boxed{",
    "}",
    "{",
    "\\frac",
    "\\sqrt",
    "^",
    "_",
    "{10}",
    "!",
    "\\pm",
    "\\left(",
    "\\right)",
    "(",
    ")",
    "[",
    "]",
    "$",
    "$$",
    "\\\\",
    "999999",
    "\\int",
    "\\sum_{n=1}^{\\infty}",
    "\\begin{pmatrix}",
    "&",
    "\\end{pmatrix}",
    "x",
    "=",
    ",",
    "\\text{",
    "③",
    "정답은 ",
    "La respuesta es ",
    "The final answer is ",
    "\\infty",
    "\\cdots",
    "\\,",
    "{,}",
    "\\%",
    "^\\circ",
    "\\fbox",
    "\\in",
    "\\le",
    "\\cup",
    "\\emptyset",
    "\\mathbb{R}",
    "\\log",
    "\\sin",
    "0.",
    "-",
    "/",
    " ",
    "\n",
    "\x00",
    "\\begin{cases}",
]
latexish = st.lists(st.sampled_from(PIECES), min_size=1, max_size=40).map("".join)
anything = st.one_of(latexish, st.text(max_size=200), latexish.map(lambda s: "\\boxed{" + s + "}"))


def _never_raises_and_respects_the_limit(answer: str, gold: str) -> None:
    t0 = time.monotonic()
    v = check_answer(answer, gold, lang="es", timeout_s=LIMIT)
    elapsed = time.monotonic() - t0
    assert isinstance(v, MathCheck) and isinstance(v.correct, bool)
    assert v.correct or v.reason
    assert elapsed <= LIMIT + SLACK, (answer, elapsed)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=anything, gold=st.sampled_from(["5", "\\frac{1}{2}", "[2, 5)", "\\sqrt{2}, -\\sqrt{2}"]))
def test_fuzzed_latex_never_raises_nor_overruns(answer, gold):
    _never_raises_and_respects_the_limit(answer, gold)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=anything, gold=st.sampled_from(["5", "\\frac{1}{2}", "[2, 5)", "\\sqrt{2}, -\\sqrt{2}", "x^2"]))
def test_fuzzed_latex_never_raises_nor_overruns_long_run(answer, gold):
    _never_raises_and_respects_the_limit(answer, gold)
