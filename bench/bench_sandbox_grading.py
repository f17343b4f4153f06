"""Grades 1,000 small solutions (pass / wrong answer / crash mix) in the sandbox and prints the rate.

.venv/bin/python bench/bench_sandbox_grading.py [N]
"""

from __future__ import annotations

import datetime
import sys
import time

from evalkit.benchmarks.livecodebench.grade import grade
from evalkit.benchmarks.livecodebench.problems import Problem, TestCase
from evalkit.sandbox import Sandbox

PUBLIC = (TestCase("1 2\n", "3\n", "stdin"),)
PRIVATE = (TestCase("5 7\n", "12\n", "stdin"),)
DATE = datetime.datetime(2025, 1, 1)
PROBLEM = Problem("sum2", "t", "c", "atcoder", DATE, "", "easy", PUBLIC, PRIVATE, None)
CODES = ["a, b = map(int, input().split())\nprint(a + b)", "print(3)", "raise ValueError('x')"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    sandbox = Sandbox()
    t0 = time.perf_counter()
    results = list(sandbox.map(lambda i: grade(sandbox, PROBLEM, CODES[i % 3], timeout_s=6), range(n)))
    dt = time.perf_counter() - t0
    passed = sum(r.passed for r in results)
    print(f"isolation: {sandbox.level}; workers: {sandbox.workers}")
    print(f"graded {n} solutions in {dt:.1f} s: {n / dt:.1f} solutions/s ({passed} passed)")


if __name__ == "__main__":
    main()
