"""What the math checker's process isolation costs, and how tightly it keeps its time limit.

    python bench/math_checker.py [--rounds 2] [--limit 1.0]

Takes the 235 hand-checked answer pairs (tests/data/math/answer_pairs.jsonl) and prints:
- the worker's start-up time (paid once per evaluating process);
- seconds per check when math-verify runs in this process (no time limit possible off the
  main thread) and through the worker (forked checkers, killed at their deadline), both
  with warm caches, and the difference: the isolation's overhead;
- checks per second from 2 threads through the worker;
- for expressions that never finish (10^{10^{10}}, 9999999999!), how far past the limit
  the caller gets its answer, and how long the next check then takes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evalkit.scoring import math_worker
from evalkit.scoring.math_answer import find_final_answer
from evalkit.scoring.math_checker import MathChecker
from evalkit.scoring.math_equiv import check_request

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "math" / "answer_pairs.jsonl"


def requests() -> list[dict]:
    out = []
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        req = check_request(find_final_answer(p["response"]), p["gold"], p["lang"])
        if req is not None:
            out.append(req)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--limit", type=float, default=1.0)
    args = ap.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    reqs = requests()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"{len(reqs)} checks per round, {args.rounds} rounds after one warm-up round")

    for r in reqs:  # warm sympy's and math-verify's caches in this process
        math_worker.check(r)
    t0 = time.perf_counter()
    for _ in range(args.rounds):
        for r in reqs:
            math_worker.check(r)
    in_process = (time.perf_counter() - t0) / (args.rounds * len(reqs))

    checker = MathChecker(max_parallel=2)
    t0 = time.perf_counter()
    checker._send({"gold": "1", "answer": "1", "raw": False, "choices": {}}, 30.0)
    start_up = time.perf_counter() - t0
    for r in reqs:  # warm the checkers' caches (no parent-side cache: _send bypasses it)
        checker._send(r, 10.0)
    t0 = time.perf_counter()
    for _ in range(args.rounds):
        for r in reqs:
            checker._send(r, 10.0)
    isolated = (time.perf_counter() - t0) / (args.rounds * len(reqs))
    with ThreadPoolExecutor(2) as pool:
        t0 = time.perf_counter()
        list(pool.map(lambda r: checker._send(r, 10.0), reqs * args.rounds))
        threaded = args.rounds * len(reqs) / (time.perf_counter() - t0)

    print(f"worker start-up: {start_up:.2f} s")
    print(f"per check, in-process math-verify: {1000 * in_process:.1f} ms")
    print(f"per check, through the worker:     {1000 * isolated:.1f} ms")
    print(f"isolation overhead per check:      {1000 * (isolated - in_process):.1f} ms")
    print(f"throughput from 2 threads:         {threaded:.0f} checks/s")

    over, after = [], []
    for answer in ["10^{10^{10}}", "9999999999!", "2^{2^{2^{2^{2^{2}}}}}"] * 2:
        t0 = time.perf_counter()
        reply = checker._send({"gold": "5", "answer": answer, "raw": False, "choices": {}}, args.limit)
        over.append(time.perf_counter() - t0 - args.limit)
        t0 = time.perf_counter()
        checker._send({"gold": "2", "answer": "1+1", "raw": False, "choices": {}}, args.limit)
        after.append(time.perf_counter() - t0)
        assert reply["status"] == "timeout", reply
    print(
        f"time limit {args.limit:g} s on never-ending checks: answered {1000 * statistics.mean(over):.0f} ms "
        f"(max {1000 * max(over):.0f} ms) past the limit; next check {1000 * statistics.mean(after):.0f} ms "
        f"(a fresh checker forked)"
    )
    checker.close()


if __name__ == "__main__":
    main()
