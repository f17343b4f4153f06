"""The LiveCodeBench test harness that runs INSIDE the sandbox (stdlib only; run as a script).

It reads one job as JSON on stdin — {"code", "inputs", "outputs", "fn_name", "timeout"} —
and writes {"results": [...], "meta": {...}} to fd 3. The grading rules are the official
runner's (LiveCodeBench @28fef95, lcb_runner/evaluation/testing_util.py), re-implemented:

* the same import preamble and recursion limit, and the same disabled functions (its
  `reliability_guard`), since they decide whether some solutions run at all;
* stdin programs: a trailing `if __name__ == '__main__':` block is unwrapped, every
  non-import statement is wrapped in a function, stdin/open are replaced by the test
  input and stdout is captured; SystemExit is swallowed;
* functional programs: `Solution().<fn_name>(*json_args)`, tuples count as lists, exact `==`;
* a per-test alarm of `timeout` seconds, tests in order, stop at the first failure;
* codes: True pass, -2 wrong answer, -3 time limit, -4 runtime/compile error;
* output comparison: whole output stripped, split on newlines, each line stripped; line
  counts must match; a line matches exactly or, failing that, as a list of Decimals.

This file is executed by the sandboxed interpreter; it never imports evalkit.
"""

import ast
import contextlib
import json
import os
import signal
import sys
from decimal import Decimal, InvalidOperation
from io import StringIO
from types import ModuleType
from unittest import mock

PREAMBLE_MODULES = [
    "string",
    "re",
    "datetime",
    "collections",
    "heapq",
    "bisect",
    "copy",
    "math",
    "random",
    "statistics",
    "itertools",
    "functools",
    "operator",
    "io",
    "sys",
    "json",
    "builtins",
    "typing",
]
PREAMBLE = (
    "".join(f"from {m} import *\n" for m in PREAMBLE_MODULES)
    + "".join(f"import {m}\n" for m in PREAMBLE_MODULES if m not in ("builtins", "typing"))
    + "sys.setrecursionlimit(50000)\n"
)
DISABLED_OS = [
    "kill",
    "system",
    "putenv",
    "remove",
    "removedirs",
    "rmdir",
    "fchdir",
    "setuid",
    "fork",
    "forkpty",
    "killpg",
    "rename",
    "renames",
    "truncate",
    "replace",
    "unlink",
    "fchmod",
    "fchown",
    "chmod",
    "chown",
    "chroot",
    "lchflags",
    "lchmod",
    "lchown",
    "getcwd",
    "chdir",
]


class TimeLimit(Exception):
    pass


def _on_alarm(signum, frame):
    print("timeout occured: alarm went off")  # the official handler prints this (into captured output)
    raise TimeLimit


def _short(x, n=300):
    s = x if isinstance(x, str) else str(x)
    return s if len(s) <= n else s[: n // 2] + "...(truncated) ..." + s[-n // 2 :]


def unwrap_main(code):
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
            return ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)
    except Exception:
        pass
    return code


def wrap_in_function(code):
    try:
        tree = ast.parse(code)
        imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        rest = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
        fn = ast.FunctionDef(
            name="wrapped_function",
            args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=rest,
            decorator_list=[],
            lineno=-1,
        )
        return PREAMBLE + "\n" + ast.unparse(imports) + "\n" + ast.unparse(fn)
    except Exception:
        return code


def load(code, timeout):
    signal.alarm(timeout)
    try:
        module = ModuleType("tmp_sol", "")
        exec(code, module.__dict__)
        return module.Solution() if "class Solution" in code else module
    finally:
        signal.alarm(0)


class _Stdin:
    def __init__(self, text):
        self.text = text
        self._io = StringIO(text)
        self.buffer = _Buffer(text)

    def read(self, *a):
        return self.text

    def readline(self, *a):
        return self._io.readline(*a)

    def readlines(self, *a):
        return self.text.split("\n")

    def __getattr__(self, name):
        return getattr(self._io, name)


class _Buffer:
    def __init__(self, text):
        self.data = text.encode("utf-8")

    def read(self, *a):
        return self.data

    def readline(self, *a):
        return self.data.split(b"\n")[0] + b"\n"


def _call_with_stdin(fn, text):
    lines = iter(text.split("\n"))
    stdin = _Stdin(text)
    with (
        mock.patch("builtins.open", mock.mock_open(read_data=text)),
        mock.patch("sys.stdin", stdin),
        mock.patch("sys.stdin.readline", lambda *a: next(lines)),
        mock.patch("sys.stdin.readlines", lambda *a: text.split("\n")),
        mock.patch("sys.stdin.read", lambda *a: text),
        contextlib.suppress(SystemExit),
    ):
        fn()


def _lines(text):
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line):
    try:
        return True, [Decimal(x) for x in line.split()]
    except (InvalidOperation, ValueError, TypeError, ArithmeticError):
        return False, []


def _error(code, e, inp, expected):
    name = "Time Limit Exceeded" if code == -3 else "Runtime Error"
    return {
        "error": repr(e),
        "error_code": code,
        "error_message": name,
        "inputs": _short(inp),
        "expected": _short(expected),
    }


def _failure(e):
    return -3 if "timeoutexception" in repr(e).lower() or isinstance(e, TimeLimit) else -4


def grade_functional(code, inputs, outputs, fn_name, timeout):
    sol = load(PREAMBLE + "\n\n" + code, timeout)
    method = getattr(sol, fn_name)
    args = [[json.loads(line) for line in inp.split("\n")] for inp in inputs]
    expected = [json.loads(out) for out in outputs]
    results = []
    for a, want in zip(args, expected, strict=False):
        signal.alarm(timeout)
        try:
            got = method(*a)
            signal.alarm(0)
            if isinstance(got, tuple):
                got = list(got)
            ok = got == want
            results.append(ok)
            if not ok:
                return results, {
                    "output": _short(got),
                    "inputs": _short(a),
                    "expected": _short(want),
                    "error_code": -2,
                    "error_message": "Wrong Answer",
                }
        except Exception as e:
            signal.alarm(0)
            results.append(_failure(e))
            return results, _error(_failure(e), e, a, want)
        finally:
            signal.alarm(0)
    return results, {}


def grade_stdin(code, inputs, outputs, timeout):
    sol = load(wrap_in_function(unwrap_main(code)), timeout)
    fn = sol.wrapped_function
    results = []
    for inp, want in zip(inputs, outputs, strict=False):
        real_stdout = sys.stdout
        sys.stdout = captured = StringIO()
        signal.alarm(timeout)
        try:
            _call_with_stdin(fn, inp)
            signal.alarm(0)
        except Exception as e:
            signal.alarm(0)
            sys.stdout = real_stdout
            results.append(_failure(e))
            return results, _error(_failure(e), e, inp, want)
        finally:
            signal.alarm(0)
            sys.stdout = real_stdout
        got = captured.getvalue()
        wa = {"output": _short(got), "inputs": _short(inp), "expected": _short(want), "error_code": -2}
        got_lines, want_lines = _lines(got), _lines(want)
        if len(got_lines) != len(want_lines):
            results.append(-2)
            return results, {**wa, "error_message": "Wrong answer: mismatched output length"}
        for i, (g, w) in enumerate(zip(got_lines, want_lines, strict=False)):
            if g == w:
                continue
            ok_g, dg = _decimals(g)
            ok_w, dw = _decimals(w)
            if not (ok_g and ok_w and dg == dw):
                results.append(-2)
                return results, {
                    **wa,
                    "error_message": f"Wrong answer at line {i}: {_short(g)} != {_short(w)}",
                }
        results.append(True)
    return results, {}


def disable_destructive():
    """What the official harness switches off before running a solution."""
    import builtins
    import shutil
    import subprocess

    builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in DISABLED_OS:
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    builtins.help = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None


def main():
    job = json.loads(sys.stdin.read())
    out = os.fdopen(3, "w")
    sys.set_int_max_str_digits(50000)
    signal.signal(signal.SIGALRM, _on_alarm)
    disable_destructive()
    timeout = int(job["timeout"])
    try:
        if job.get("fn_name"):
            results, meta = grade_functional(
                job["code"], job["inputs"], job["outputs"], job["fn_name"], timeout
            )
        else:
            results, meta = grade_stdin(job["code"], job["inputs"], job["outputs"], timeout)
    except Exception as e:  # compile errors, a missing method, a timeout while loading
        # (like the official runner, a SystemExit or KeyboardInterrupt escaping here leaves no
        # result at all, which the evaluator scores as the global timeout -1)
        results, meta = [-4], {"error_code": -4, "error_message": f"Error during testing: {e}"}
    out.write(json.dumps({"results": results, "meta": meta}))
    out.flush()
    os._exit(0)  # skip interpreter teardown: the solution may have left threads or broken state


if __name__ == "__main__":
    main()
