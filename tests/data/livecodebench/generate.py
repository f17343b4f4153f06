"""Writes problems.jsonl and pairs.jsonl: LiveCodeBench-schema problems written for evalkit's
tests (synthetic, no real LiveCodeBench content) and (problem, solution) pairs that pass,
fail, time out and crash. Run from the repository root: python tests/data/livecodebench/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.benchmarks.livecodebench.problems import encode_private_tests

HERE = Path(__file__).parent

# (id, statement, stdin inputs, reference solution source). Outputs come from running it.
STDIN = [
    (
        "sum2",
        "Print A+B.",
        ["1 2\n", "100 -5\n", "0 0\n", "99999999999 1\n"],
        "a,b=map(int,input().split())\nprint(a+b)",
    ),
    (
        "maxn",
        "First line N, then N ints; print the max.",
        ["3\n1 5 2\n", "1\n-7\n", "4\n4 4 4 4\n"],
        "n=int(input())\nprint(max(map(int,input().split())))",
    ),
    ("rev", "Print the string reversed.", ["abc\n", "x\n", "racecar\n"], "print(input()[::-1])"),
    (
        "lines",
        "N then N words; print each upper-case on its own line.",
        ["2\nab\ncd\n", "1\nz\n"],
        "n=int(input())\nfor _ in range(n):\n    print(input().upper())",
    ),
    (
        "avg",
        "N then N ints; print the mean with 2 decimals.",
        ["2\n1 2\n", "3\n1 1 2\n"],
        "n=int(input())\nv=list(map(int,input().split()))\nprint(f'{sum(v)/n:.2f}')",
    ),
    (
        "fizz",
        "Print FizzBuzz from 1 to N.",
        ["5\n", "15\n"],
        "n=int(input())\nfor i in range(1,n+1):\n    print('FizzBuzz' if i%15==0 else 'Fizz' if i%3==0 else 'Buzz' if i%5==0 else i)",
    ),
    (
        "grid",
        "H W then a grid; print the count of #.",
        ["2 2\n#.\n.#\n", "1 3\n###\n"],
        "h,w=map(int,input().split())\nprint(sum(input().count('#') for _ in range(h)))",
    ),
    (
        "sortn",
        "N ints on one line; print them sorted, space separated.",
        ["3 1 2\n", "5\n", "9 -1 0 3\n"],
        "print(*sorted(map(int,input().split())))",
    ),
    ("pow2", "Print 2**N.", ["10\n", "100\n", "0\n"], "print(2**int(input()))"),
    (
        "yesno",
        "Print Yes if N is even else No.",
        ["2\n", "7\n", "0\n"],
        "print('Yes' if int(input())%2==0 else 'No')",
    ),
]
# (id, fn_name, starter, [args...], reference body using `self` method)
FUNC = [
    (
        "twosum",
        "twoSum",
        [[[2, 7, 11, 15], 9], [[3, 2, 4], 6], [[3, 3], 6]],
        "def twoSum(self, nums, target):\n        seen={}\n        for i,x in enumerate(nums):\n            if target-x in seen: return [seen[target-x], i]\n            seen[x]=i",
    ),
    (
        "countbits",
        "countBits",
        [[0], [5], [8]],
        "def countBits(self, n):\n        return [bin(i).count('1') for i in range(n+1)]",
    ),
    (
        "ispal",
        "isPalindrome",
        [["abba"], ["abc"], [""]],
        "def isPalindrome(self, s):\n        return s==s[::-1]",
    ),
    (
        "maxsub",
        "maxSubArray",
        [[[-2, 1, -3, 4, -1, 2, 1, -5, 4]], [[1]], [[-1, -2]]],
        "def maxSubArray(self, nums):\n        best=cur=nums[0]\n        for x in nums[1:]:\n            cur=max(x,cur+x); best=max(best,cur)\n        return best",
    ),
    ("ratio", "ratio", [[1, 4], [3, 4], [1, 8]], "def ratio(self, a, b):\n        return a/b"),
    (
        "pairs",
        "pairs",
        [[[1, 2, 3]], [[5]]],
        "def pairs(self, nums):\n        return [[a,b] for i,a in enumerate(nums) for b in nums[i+1:]]",
    ),
    (
        "wordlen",
        "wordLengths",
        [[["a", "bb"]], [[]]],
        "def wordLengths(self, words):\n        return {w: len(w) for w in words}",
    ),
    (
        "gcd",
        "gcd",
        [[12, 18], [7, 5], [0, 9]],
        "def gcd(self, a, b):\n        import math\n        return math.gcd(a, b)",
    ),
    ("dividesafe", "divide", [[7, 2], [9, 3], [1, 1]], "def divide(self, a, b):\n        return a//b"),
    (
        "fib",
        "fib",
        [[0], [1], [10], [30]],
        "def fib(self, n):\n        a,b=0,1\n        for _ in range(n): a,b=b,a+b\n        return a",
    ),
]


def run_stdin(src: str, inp: str) -> str:
    import contextlib
    import io
    import sys

    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(inp)
    try:
        with contextlib.redirect_stdout(out):
            exec(
                src,
                {
                    "__name__": "__main__",
                    "input": sys.stdin.readline and (lambda: sys.stdin.readline().rstrip("\n")),
                },
            )
    finally:
        sys.stdin = old
    return out.getvalue()


def problem_row(qid, content, starter, tests, fn_name, date, compress):
    public, private = tests[:1], tests[1:]
    return {
        "question_title": qid,
        "question_content": content,
        "platform": "leetcode" if fn_name else "atcoder",
        "question_id": qid,
        "contest_id": "synthetic",
        "contest_date": date,
        "starter_code": starter,
        "difficulty": "easy",
        "public_test_cases": json.dumps(public),
        "private_test_cases": encode_private_tests(private) if compress else json.dumps(private),
        "metadata": json.dumps({"func_name": fn_name} if fn_name else {}),
    }


def stdin_solutions(src: str) -> list[tuple[str, str]]:
    body = "\n".join("    " + line for line in src.split("\n"))
    return [
        ("pass", src),
        ("pass-main", f"def main():\n{body}\n\nif __name__ == '__main__':\n    main()"),
        (
            "pass-stdin-read",
            "import sys\n_data = sys.stdin.read()\n"
            + src.replace("input()", "_it.pop(0)")
            .replace("_data", "_data")
            .replace("import sys\n", "import sys\n")
            if False
            else "import sys\n_lines = sys.stdin.read().split('\\n')\n_pos = [0]\ndef input():\n    _pos[0] += 1\n    return _lines[_pos[0]-1]\n"
            + src,
        ),
        (
            "pass-extra-space",
            src.replace("print(", "print(' ',", 1)
            if src.count("print(") == 1 and "*" not in src and "f'" not in src
            else src,
        ),
        ("wrong-constant", "print(42)"),
        ("wrong-extra-line", src + "\nprint('debug')"),
        ("tle", "while True:\n    pass"),
        ("crash", "raise RuntimeError('boom')"),
        ("syntax", "def f(:\n    pass"),
        ("no-output", "x = 1"),
        ("exit-early", "import sys\nsys.exit(0)\n" + src),
    ]


def func_solutions(fn: str, body: str) -> list[tuple[str, str]]:
    return [
        ("pass", f"class Solution:\n    {body}"),
        (
            "pass-helper",
            f"from typing import List\nimport collections\n\nclass Solution:\n    {body}\n\n    def _unused(self):\n        return None",
        ),
        ("wrong-none", f"class Solution:\n    def {fn}(self, *args):\n        return None"),
        ("wrong-str", f"class Solution:\n    def {fn}(self, *args):\n        return str(args)"),
        ("tle", f"class Solution:\n    def {fn}(self, *args):\n        while True:\n            pass"),
        ("crash", f"class Solution:\n    def {fn}(self, *args):\n        return 1 // 0"),
        ("missing-method", "class Solution:\n    def other(self):\n        return 0"),
        ("syntax", "class Solution:\n    def f(self:\n        return"),
        ("no-class", f"def {fn}(*args):\n    return None"),
        (
            "tuple-return",
            f"class Solution:\n    {body}\n\n_orig = Solution.{fn}\ndef _wrapped(self, *a):\n    r = _orig(self, *a)\n    return tuple(r) if isinstance(r, list) else r\nSolution.{fn} = _wrapped",
        ),
        ("toplevel-crash", f"raise ValueError('at import')\nclass Solution:\n    {body}"),
    ]


def main() -> None:
    problems, pairs = [], []
    for i, (qid, content, inputs, src) in enumerate(STDIN):
        tests = [{"input": x, "output": run_stdin(src, x), "testtype": "stdin"} for x in inputs]
        date = (
            f"2024-{10 + i % 3:02d}-{1 + i:02d}T00:00:00"
            if i % 2 == 0
            else f"2025-0{2 + i % 3}-{1 + i:02d}T00:00:00"
        )
        problems.append(problem_row(qid, content, "", tests, None, date, compress=i % 2 == 0))
        for label, code in stdin_solutions(src):
            pairs.append({"question_id": qid, "label": label, "code": code})
    for i, (qid, fn, args_list, body) in enumerate(FUNC):
        ns: dict = {}
        exec(f"class Solution:\n    {body}", ns)
        sol = ns["Solution"]()
        tests = []
        for args in args_list:
            out = getattr(sol, fn)(*args)
            tests.append(
                {
                    "input": "\n".join(json.dumps(a) for a in args),
                    "output": json.dumps(out),
                    "testtype": "functional",
                }
            )
        starter = f"class Solution:\n    def {fn}(self, *args):\n        "
        date = (
            f"2024-{10 + i % 3:02d}-{10 + i:02d}T00:00:00"
            if i % 2 == 0
            else f"2025-0{2 + i % 3}-{10 + i:02d}T00:00:00"
        )
        problems.append(problem_row(qid, f"Implement {fn}.", starter, tests, fn, date, compress=i % 2 == 1))
        for label, code in func_solutions(fn, body):
            pairs.append({"question_id": qid, "label": label, "code": code})
    (HERE / "problems.jsonl").write_text("".join(json.dumps(p) + "\n" for p in problems))
    (HERE / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    print(f"{len(problems)} problems, {len(pairs)} pairs")


if __name__ == "__main__":
    main()
