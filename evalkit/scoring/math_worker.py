"""The equivalence checker's worker process: math-verify in forked, time-limited checkers.

Run as `python -m evalkit.scoring.math_worker` (evalkit.scoring.math_checker starts it).
It imports math-verify and sympy once, then reads one JSON request per line on stdin and
writes one JSON reply per line on stdout. Requests are checked by checker processes forked
from this warm, single-threaded process (each serves many requests, one at a time), so that:

* a check that runs past its time limit is killed (SIGKILL) however it is stuck, even
  inside sympy's C code, where no signal handler would ever run; the other checkers and
  this process are untouched, and its replacement is forked in milliseconds;
* the kernel caps each checker's address space, so an expression like 10^{10^{10}}
  cannot eat the machine's memory before its deadline;
* nothing here needs signals in the caller, which may be any thread of any program.

The check itself is math-verify's `parse` (its parsers are built for untrusted text) and
`verify`. Only where math-verify says "not equivalent" do three deliberate extensions get
a say, each reported in the reply's "how": a one-variable inequality is compared with an
interval gold as the set it describes (`2 < x \\le 5` equals `(2, 5]`); `a \\pm b` that
math-verify cannot read counts as the two answers a + b, a - b; and for choice questions
the text of the gold option counts as the gold answer (KSM gives the option number as the
answer). The maj@n vote key is built after the verdict: failing to build it loses the
vote, never the verdict.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

ADDRESS_SPACE_EXTRA = 2 << 30  # bytes a check may add to the worker's address space


# ---------------------------------------------------------------------------------------
# The check (runs in a forked child)
# ---------------------------------------------------------------------------------------
def _parse(text: str, raw: bool) -> list[Any]:
    from math_verify import parse

    # raw: search free text for its last expression; else the text IS the answer, as LaTeX.
    result: list[Any] = parse(text if raw else f"${text}$", parsing_timeout=None)
    return result


def _verify(gold: list[Any], pred: list[Any]) -> bool:
    from math_verify import verify

    return bool(verify(gold, pred, timeout_seconds=None))


def _as_set(expr: Any) -> Any:
    """The set a one-variable relation describes (x \\in S gives S), or None."""
    from sympy import Eq, Set
    from sympy.core.relational import Relational
    from sympy.logic.boolalg import And

    if isinstance(expr, Set):
        return expr
    if isinstance(expr, Eq) and isinstance(expr.rhs, Set):
        return expr.rhs
    if isinstance(expr, (Relational, And)) and len(expr.free_symbols) == 1:
        return expr.as_set()
    return None


def _same_set(gold: Any, pred: Any) -> bool:
    from sympy import Set

    if not (isinstance(gold, Set) or isinstance(pred, Set)):
        return False
    g, p = _as_set(gold), _as_set(pred)
    return g is not None and p is not None and bool(g == p)


def vote_key(pred: Any) -> str:
    """A key under which equal answers vote together for maj@n: numbers by value (12
    significant digits), `x = v` as v, a one-variable inequality as its interval, sets by
    their sorted members, the rest as sympy writes it."""
    from sympy import Basic, Eq, FiniteSet, Float, Set, Symbol
    from sympy.core.relational import Relational
    from sympy.logic.boolalg import And

    if isinstance(pred, str):
        return "str:" + pred.strip()
    if isinstance(pred, Eq) and isinstance(pred.lhs, Symbol):
        return vote_key(pred.rhs)
    if isinstance(pred, (Relational, And)) and len(pred.free_symbols) == 1:
        as_set = _as_set(pred)  # "2 <= x < 5" votes with "[2, 5)"
        if isinstance(as_set, Set):
            return "expr:" + str(as_set)
    if isinstance(pred, FiniteSet):
        return "set:{" + ",".join(sorted(vote_key(a) for a in pred.args)) + "}"
    if isinstance(pred, Basic) and pred.is_number:
        v = pred.evalf(15)
        if v.is_real:
            return "num:" + str(Float(v, 12))
        return "num:" + str(v.evalf(12))
    return "expr:" + str(pred)


def safe_vote_key(pred: Any) -> str | None:
    """`vote_key`, or None when it cannot be built (the answer then loses its vote, nothing else)."""
    try:
        return vote_key(pred)
    except Exception:  # sympy raises anything (NotImplementedError for as_set, TypeError, ...)
        return None


def _decide(req: dict[str, Any], gold: list[Any], pred: list[Any]) -> tuple[bool, str]:
    """(correct, how): math-verify's verdict first; evalkit's extensions only when it says no."""
    gold_s, answer = str(req["gold"]), str(req["answer"])
    if not gold:  # trusted data math-verify cannot read: compare as written
        return answer.replace(" ", "") == gold_s.replace(" ", ""), "string match (gold not parseable)"
    if _verify(gold, pred):
        return True, "math-verify"
    with contextlib.suppress(Exception):  # an extension that fails leaves math-verify's "no"
        if _same_set(gold[0], pred[0]):
            return True, "relation read as the interval it describes"
    both = req.get("plus_minus")
    if both:
        alt = _parse(str(both), False)
        if alt and _verify(gold, alt):
            return True, "a \\pm b read as the two answers a + b, a - b"
    option = (req.get("choices") or {}).get(gold_s.strip())
    if option:
        opt = _parse(option, False)
        if opt and _verify(opt, pred):
            return True, f"text of option {gold_s}"
    return False, "math-verify"


def check(req: dict[str, object]) -> dict[str, object]:
    """One equivalence check: {"gold", "answer", "raw", "choices", "plus_minus"} -> reply fields.

    The verdict comes first; the maj@n vote key is built after it and never changes it.
    """
    gold_s, answer, raw = str(req["gold"]), str(req["answer"]), bool(req.get("raw"))
    gold = _parse(gold_s, False)
    pred = _parse(answer, raw)
    out: dict[str, object] = {
        "gold_parsed": str(gold[0])[:200] if gold else None,
        "parsed": str(pred[0])[:200] if pred else None,
        "found": str(pred[1])[:200] if len(pred) > 1 else (str(pred[0])[:200] if pred else None),
    }
    # Free text counts only if math-verify found an expression in it, not just a string.
    if not pred or (raw and all(isinstance(p, str) for p in pred)):
        return {**out, "correct": False, "how": "unparsed", "vote_key": None}
    correct, how = _decide(req, gold, pred)
    return {**out, "correct": correct, "how": how, "vote_key": safe_vote_key(pred[0])}


# ---------------------------------------------------------------------------------------
# The worker loop: a single-threaded dispatcher over forked checker processes
# ---------------------------------------------------------------------------------------
def _limit_memory() -> None:
    import resource

    try:
        with open("/proc/self/statm") as f:
            vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        cap = vm + ADDRESS_SPACE_EXTRA
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (OSError, ValueError):
        pass  # no /proc: the wall-clock deadline still holds


def _answer(req: dict[str, object]) -> dict[str, object]:
    try:
        return {"status": "ok", **check(req)}
    except MemoryError:
        return {"status": "error", "detail": "ran out of its memory limit"}
    except RecursionError:
        return {"status": "error", "detail": "expression nested too deeply"}
    except Exception as e:  # model output is untrusted: any failure is a verdict, not a crash
        return {"status": "error", "detail": f"{type(e).__name__}: {str(e)[:200]}"}


def _checker_main(inp: int, out: int) -> None:
    """A forked checker: one request per line in, one reply per line out, until EOF."""
    try:
        _limit_memory()
        with os.fdopen(inp, "rb") as reader:
            for line in reader:
                reply = {**_answer(json.loads(line)), "id": json.loads(line).get("id")}
                data = memoryview((json.dumps(reply) + "\n").encode())
                while data:
                    data = data[os.write(out, data) :]
    finally:
        os._exit(0)


@dataclass
class _Checker:
    pid: int
    to_fd: int  # requests go here
    from_fd: int  # replies come from here
    request: dict[str, object] | None = None  # the one it is working on
    deadline: float = 0.0
    started: float = 0.0
    buf: bytearray = field(default_factory=bytearray)


def _die_with_parent() -> None:
    """Linux: the kernel kills a checker when the worker dies, even mid-computation."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _close_fds_except(keep: set[int]) -> None:
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 256))
    for fd in fds:
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _fork_checker() -> _Checker:
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _die_with_parent()
        # Not the worker's stdin/stdout (whose closing tells the caller the worker is gone),
        # nor its siblings' pipes.
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        _close_fds_except({0, 1, 2, req_r, rep_w})
        _checker_main(req_r, rep_w)
    os.close(req_r)
    os.close(rep_w)
    return _Checker(pid, req_w, rep_r)


def _reply(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _warm_up() -> None:
    import logging

    # math-verify warns once that its own (signal-based) timeouts are off: ours replace them.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    check({"gold": "\\frac{1}{2}", "answer": "0.5"})
    check({"gold": "[1, 2)", "answer": "1 \\le x < 2"})
    check({"gold": "3", "answer": "The answer is 3", "raw": True})


def serve(max_checkers: int = 2) -> None:
    """Answer requests from stdin until it closes, with up to `max_checkers` forked checkers.

    A request waits in a queue until a checker is free; its time limit runs from the moment
    a checker takes it. A checker past its deadline is killed and a fresh one forked.
    """
    _warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sel = selectors.DefaultSelector()
    stdin_fd = sys.stdin.fileno()
    sel.register(stdin_fd, selectors.EVENT_READ, None)
    checkers: dict[int, _Checker] = {}  # by from_fd
    queue: list[dict[str, Any]] = []
    pending = bytearray()
    _reply({"ready": True, "pid": os.getpid()})

    def retire(c: _Checker, kill: bool) -> None:
        checkers.pop(c.from_fd, None)
        sel.unregister(c.from_fd)
        os.close(c.from_fd)
        os.close(c.to_fd)
        if kill:
            os.kill(c.pid, signal.SIGKILL)
        os.waitpid(c.pid, 0)

    def dispatch() -> None:
        while queue:
            idle = next((c for c in checkers.values() if c.request is None), None)
            if idle is None:
                if len(checkers) >= max_checkers:
                    return
                idle = _fork_checker()
                checkers[idle.from_fd] = idle
                sel.register(idle.from_fd, selectors.EVENT_READ, None)
            req = queue.pop(0)
            idle.request, idle.started = req, time.monotonic()
            idle.deadline = idle.started + float(req.get("timeout", 5.0))
            try:
                os.write(idle.to_fd, (json.dumps(req) + "\n").encode())
            except OSError:  # it died while idle: answer from a fresh one
                queue.insert(0, req)
                idle.request = None
                retire(idle, kill=True)

    while True:
        busy = [c.deadline for c in checkers.values() if c.request is not None]
        wait = max(0.0, min(busy) - time.monotonic()) if busy else None
        for key, _ in sel.select(wait):
            fd = key.fd
            if fd == stdin_fd:
                chunk = os.read(stdin_fd, 1 << 16)
                if not chunk:  # the caller is gone: stop everything
                    for c in list(checkers.values()):
                        retire(c, kill=True)
                    return
                pending += chunk
                while b"\n" in pending:
                    line, _, rest = bytes(pending).partition(b"\n")
                    pending[:] = rest
                    if line.strip():
                        queue.append(json.loads(line))
            elif fd in checkers:
                c = checkers[fd]
                data = os.read(fd, 1 << 16)
                if not data:  # it died: whatever it was doing failed
                    if c.request is not None:
                        _reply({"id": c.request.get("id"), "status": "error", "detail": "check process died"})
                    retire(c, kill=False)
                    continue
                c.buf += data
                while b"\n" in c.buf and c.request is not None:
                    line, _, rest = bytes(c.buf).partition(b"\n")
                    c.buf[:] = rest
                    reply = json.loads(line)
                    reply["elapsed"] = time.monotonic() - c.started
                    _reply(reply)
                    c.request = None
        now = time.monotonic()
        for c in list(checkers.values()):
            if c.request is not None and c.deadline <= now:
                _reply({"id": c.request.get("id"), "status": "timeout", "detail": "time limit"})
                retire(c, kill=True)
        dispatch()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
