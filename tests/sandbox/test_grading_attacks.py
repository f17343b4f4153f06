"""Solutions that try to be judged correct without solving anything (issue 16): each must be
judged wrong, with a reason, and must never get to see an expected output."""

from __future__ import annotations

import datetime
import secrets

import pytest

from evalkit.benchmarks.livecodebench.grade import grade
from evalkit.benchmarks.livecodebench.problems import Problem, TestCase
from evalkit.sandbox import Limits, Sandbox, SandboxUnavailable
from evalkit.sandbox.limits import GiB

try:
    SANDBOX: Sandbox | None = Sandbox(workers=2)
except SandboxUnavailable:  # pragma: no cover - machines without namespaces
    SANDBOX = None
pytestmark = pytest.mark.skipif(SANDBOX is None, reason="no isolation on this machine")

PREFIX = "EVALKIT-SECRET-"
LIMITS = Limits(wall_s=30, cpu_s=20, memory_bytes=2 * GiB)
DATE = datetime.datetime(2025, 1, 1)

# Every string starting with PREFIX that the program can find in its frames, its objects, the
# memory of every process it can see, and its files; printed, so that the verdict's meta shows it.
SEARCH = """
import gc, os, re, sys
found = set()
pattern = re.compile(("EVALKIT" + "-SECRET-").encode() + rb"[0-9a-f]{8,}")
f = sys._getframe()
while f is not None:
    for v in list(f.f_locals.values()) + list(f.f_globals.values()):
        found.update(m.decode() for m in pattern.findall(repr(v).encode(errors="replace")))
    f = f.f_back
for o in gc.get_objects():
    if isinstance(o, (str, bytes, list, dict, tuple)):
        found.update(m.decode() for m in pattern.findall(repr(o)[:100000].encode(errors="replace")))
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
    except OSError:
        continue
    for line in maps:
        span, perms = line.split()[:2]
        start, end = (int(x, 16) for x in span.split("-"))
        if "r" not in perms or end - start > 1 << 28 or "[vvar" in line:
            continue
        try:
            mem.seek(start)
            found.update(m.decode() for m in pattern.findall(mem.read(end - start)))
        except (OSError, ValueError, OverflowError):
            pass
for root, _, names in os.walk("/"):
    if root.startswith(("/proc", "/usr", "/dev", sys.base_prefix, sys.prefix)):
        continue
    for name in names:
        try:
            found.update(m.decode() for m in pattern.findall(open(os.path.join(root, name), "rb").read()))
        except OSError:
            pass
"""


def _secrets(n: int) -> list[str]:
    return [PREFIX + secrets.token_hex(8) for _ in range(n)]


def stdin_problem(outputs: list[str], second_input: str = "5 7\n", first_input: str = "1 2\n") -> Problem:
    public = (TestCase(first_input, outputs[0] + "\n", "stdin"),)
    private = tuple(TestCase(second_input, out + "\n", "stdin") for out in outputs[1:])
    return Problem("p", "t", "c", "atcoder", DATE, "", "easy", public, private, None)


def functional_problem(outputs: list[str]) -> Problem:
    tests = [TestCase('"probe"', f'"{out}"', "functional") for out in outputs]
    public, private = tuple(tests[:1]), tuple(tests[1:])
    return Problem("f", "t", "c", "leetcode", DATE, "class Solution:", "easy", public, private, "answer")


def _grade(problem: Problem, code: str):
    assert SANDBOX is not None
    return grade(SANDBOX, problem, code, timeout_s=15, limits=LIMITS)


def test_searching_frames_objects_memory_and_files_finds_no_expected_output():
    given, *hidden = _secrets(4)  # test 1's input; test 1's and 2's expected outputs, test 2's input
    problem = stdin_problem(hidden[:2], second_input=hidden[2] + "\n", first_input=given + "\n")
    res = _grade(problem, SEARCH + "print(' '.join(sorted(found)) or 'nothing')")
    assert res.results == [-2] and "wrong answer" in res.reason
    found = set(res.meta["output"].split())
    # The search works: it finds its own input (and pieces of it, cut at a chunk's end), only that.
    assert given in found and all(given.startswith(f) for f in found), found


def test_a_functional_solution_searching_for_the_expected_value_finds_nothing():
    hidden = _secrets(2)
    code = (
        "class Solution:\n    def answer(self, probe):\n"
        + "".join("        " + line + "\n" for line in SEARCH.strip().splitlines())
        + "        return ' '.join(sorted(found)) or 'nothing'\n"
    )
    res = _grade(functional_problem(hidden), code)
    assert res.results == [False] and res.meta["output"] == "nothing"


FORGED = '{"results": [true, true], "meta": {}}'


@pytest.mark.parametrize(
    "write",
    [
        FORGED,  # the old harness's result format
        '{"i": 0, "status": "ok", "output": "GUESS", "truncated": false}',  # the driver's format, a guess
        '{"i": 1, "status": "ok", "output": "x", "truncated": false}',  # a reply for a test not asked yet
        '{"i": 0, "status": "error", "code": 1, "error": "x"}',  # a code the driver never sends
        "[true, true]",
        "not json",
    ],
)
def test_writing_to_every_descriptor_then_exiting_is_judged_wrong(write: str):
    code = (
        "import os\n"
        f"for fd in range(3, 256):\n    try:\n        os.write(fd, {(write + chr(10)).encode()!r})\n"
        "    except OSError:\n        pass\nos._exit(0)"
    )
    res = _grade(stdin_problem(_secrets(2)), code)
    assert not res.passed and res.reason.startswith("wrong answer on test 1:"), res.reason


def test_a_forged_channel_without_a_newline_scores_no_result():
    code = (
        "import os\n"
        f"for fd in range(3, 256):\n    try:\n        os.write(fd, {FORGED.encode()!r})\n"
        "    except OSError:\n        pass\nos._exit(0)"
    )
    res = _grade(stdin_problem(_secrets(2)), code)
    assert not res.passed and res.results == [-1, -1] and res.reason.startswith("no result")
    assert "the channel closed in the middle of a reply" in res.reason


def test_an_object_equal_to_everything_is_not_accepted():
    # The official runner compares the live object, so its own __eq__ decides; here only plain
    # data leaves the sandbox (docs/sandbox.md lists this difference).
    code = (
        "class Anything:\n    def __eq__(self, other):\n        return True\n\n"
        "class Solution:\n    def answer(self, probe):\n        return Anything()\n"
    )
    res = _grade(functional_problem(_secrets(2)), code)
    assert res.results == [False] and "cannot be compared outside the sandbox" in res.reason


def test_typed_return_values_compare_as_the_official_runner_compares_them():
    assert SANDBOX is not None
    equal = [  # (returned, expected JSON): equal for the official runner's `==`
        ("(1, 2)", "[1, 2]"),  # a tuple counts as a list
        ("True", "1"),
        ("1.0", "1"),
        ("{'a': [1]}", '{"a": [1]}'),
        ("10 ** 5000", "1" + "0" * 5000),
        ("__import__('collections').Counter('aab')", '{"a": 2, "b": 1}'),
        ("'\\ud800'", '"\\ud800"'),
    ]
    unequal = [("[(1, 2)]", "[[1, 2]]"), ("{1: 2}", '{"1": 2}'), ("{1, 2}", "[1, 2]")]
    unequal.append(("float('nan')", "NaN"))

    def problem(cases: list[tuple[str, str]]) -> tuple[Problem, str]:
        tests = tuple(TestCase(str(k), expected, "functional") for k, (_, expected) in enumerate(cases))
        values = ", ".join(returned for returned, _ in cases)
        code = f"class Solution:\n    def answer(self, k):\n        return [{values}][k]\n"
        return Problem("f", "t", "c", "leetcode", DATE, "class Solution:", "easy", tests, (), "answer"), code

    jobs = [problem(equal)] + [problem([case]) for case in unequal]
    results = list(SANDBOX.map(lambda job: grade(SANDBOX, *job, timeout_s=5, limits=LIMITS), jobs))
    assert results[0].passed and results[0].results == [True] * len(equal), results[0]
    assert [r.results for r in results[1:]] == [[False]] * len(unequal)
