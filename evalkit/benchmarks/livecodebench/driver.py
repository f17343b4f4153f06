"""The LiveCodeBench test driver that runs INSIDE the sandbox (stdlib only; run as `python -c`).

It never sees an expected output. Over its channel (the descriptor named by
$EVALKIT_CHANNEL_FD, one JSON object per line) it gets the job — {"code", "fn_name",
"timeout"} — and answers {"loaded": true} or {"load_error": "..."}; then, one test at a time,
it gets {"i", "input"} and answers with what the program did on that input:

* {"i", "status": "ok", "output", "truncated"} for stdin programs (the captured stdout);
* {"i", "status": "ok", "value"} for functional ones (the return value, typed: see `encode`),
  or {"i", "status": "ok", "unserializable": "<type>"} when it is no plain data;
* {"i", "status": "error", "code": -3 | -4, "error": repr(exception)}.

The evaluator (evalkit.benchmarks.livecodebench.grade) compares outside the sandbox and sends the next input
only after a pass. How a program is run is the official runner's (LiveCodeBench @28fef95,
lcb_runner/evaluation/testing_util.py), re-implemented:

* the same import preamble and recursion limit, and the same disabled functions (its
  `reliability_guard`), since they decide whether some solutions run at all;
* stdin programs: a trailing `if __name__ == '__main__':` block is unwrapped, every
  non-import statement is wrapped in a function, stdin/open are replaced by the test
  input and stdout is captured; SystemExit is swallowed;
* functional programs: `Solution().<fn_name>(*json_args)`;
* a per-test alarm of `timeout` seconds; codes: -3 time limit, -4 runtime/compile error.
"""

import ast
import contextlib
import json
import os
import signal
import sys
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


TIMEOUT = [6]  # seconds per test, set from the job
MAX_OUTPUT = 32 << 20  # characters of one test's stdout sent back; more is scored wrong
MAX_DEPTH = 1000  # nesting of a return value


class TimeLimit(Exception):
    pass


def _on_alarm(signum, frame):
    print("timeout occured: alarm went off")  # the official handler prints this (into captured output)
    raise TimeLimit


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


def _failure(e):
    return -3 if "timeoutexception" in repr(e).lower() or isinstance(e, TimeLimit) else -4


def run_functional(method, inp):
    args = [json.loads(line) for line in inp.split("\n")]
    signal.alarm(TIMEOUT[0])
    try:
        got = method(*args)
    finally:
        signal.alarm(0)
    try:
        return {"value": encode(got)}
    except (ValueError, TypeError, RecursionError) as e:
        return {"unserializable": f"{type(got).__name__} ({type(e).__name__}: {e})"[:200]}


def run_stdin(fn, inp):
    real_stdout = sys.stdout
    sys.stdout = captured = StringIO()
    signal.alarm(TIMEOUT[0])
    try:
        _call_with_stdin(fn, inp)
    finally:
        signal.alarm(0)
        sys.stdout = real_stdout
    out = captured.getvalue()
    return {"output": out[:MAX_OUTPUT], "truncated": len(out) > MAX_OUTPUT}


def encode(x, depth=0):
    """A return value as JSON that the evaluator turns back into an equal Python value: JSON's
    own types as they are, the others tagged ({"$": "tuple", "v": [...]}, likewise dict, set,
    frozenset, bytes, complex). Subclasses of these and numpy scalars become the plain value
    they stand for; anything else raises TypeError (the evaluator then scores a wrong answer)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH}")
    t, d = type(x), depth + 1
    if x is None or t in (bool, int, float, str):
        return x
    if t is list:
        return [encode(v, d) for v in x]
    if t in (tuple, set, frozenset):
        return {"$": t.__name__, "v": [encode(v, d) for v in x]}
    if t is dict:
        return {"$": "dict", "v": [[encode(k, d), encode(v, d)] for k, v in x.items()]}
    if t is bytes:
        return {"$": "bytes", "v": x.hex()}
    if t is complex:
        return {"$": "complex", "v": [x.real, x.imag]}
    for base in (bool, int, float, str, list, tuple, dict, set, frozenset, bytes, complex):
        if isinstance(x, base):
            return encode(base(x), d)
    if hasattr(x, "__index__"):  # numpy integers
        return encode(int(x.__index__()), d)
    if hasattr(x, "item") and getattr(x, "shape", None) == ():  # other numpy scalars
        return encode(x.item(), d)
    raise TypeError(f"a {t.__name__} is not plain data")


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


class Channel:
    """Newline-delimited JSON over the evaluator's socket (raw descriptor I/O: no imports)."""

    def __init__(self, fd):
        self.fd, self.buf = fd, b""
        self.read, self.write, self.dumps, self.loads = os.read, os.write, json.dumps, json.loads

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.read(self.fd, 1 << 20)
            if not chunk:
                os._exit(0)  # the evaluator is done with us
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return self.loads(line)

    def send(self, obj):
        data = memoryview((self.dumps(obj) + "\n").encode())
        while data:
            data = data[self.write(self.fd, data) :]


def load_program(job):
    if job.get("fn_name"):
        sol = load(PREAMBLE + "\n\n" + job["code"], TIMEOUT[0])
        return run_functional, getattr(sol, job["fn_name"])
    sol = load(wrap_in_function(unwrap_main(job["code"])), TIMEOUT[0])
    return run_stdin, sol.wrapped_function


def become_init_parent():
    """When exec'd as pid 1 of the sandbox's PID namespace: fork, and stay behind as its init.

    This is evalkit/sandbox/reaper.py's job, done here to save an interpreter start per
    program: the child returns and carries on as the driver; this process closes every
    descriptor, reaps every orphan, and exits when the driver does (the kernel then kills
    whatever is left in the namespace)."""
    child = os.fork()
    if child == 0:
        return
    os.closerange(0, 1 << 16)
    while True:
        pid, status = os.wait()
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def main():
    if os.getpid() == 1:
        become_init_parent()
    channel = Channel(int(os.environ["EVALKIT_CHANNEL_FD"]))
    job = channel.recv()
    sys.set_int_max_str_digits(50000)
    signal.signal(signal.SIGALRM, _on_alarm)
    disable_destructive()
    TIMEOUT[0] = int(job["timeout"])
    try:
        run, target = load_program(job)
    except Exception as e:  # compile errors, a missing method, a timeout while loading
        # (like the official runner, a SystemExit or KeyboardInterrupt escaping here leaves no
        # result at all, which the evaluator scores as the global timeout -1)
        channel.send({"load_error": str(e)})
        os._exit(0)
    channel.send({"loaded": True})
    while True:
        test = channel.recv()
        try:
            reply = {"status": "ok", **run(target, test["input"])}
        except Exception as e:
            reply = {"status": "error", "code": _failure(e), "error": repr(e)[:1000]}
        channel.send({"i": test["i"], **reply})


if __name__ == "__main__":
    main()
