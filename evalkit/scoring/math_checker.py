"""Running equivalence checks in the worker process, each under a time limit.

`run_check(request, timeout_s)` works from the main thread and from any other thread:
the caller only waits on a reply (no signals), and the worker (evalkit.scoring.math_worker,
one per evaluating process, started on first use) kills a check that passes its deadline.
A worker that stops answering altogether is replaced; its pending checks come back as
failed, with the reason.

Identical requests (the same answer to the same problem, as happens across repeats) are
answered from a small cache; a timed-out or failed check is never cached.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

from evalkit.errors import EvalkitError

GRACE_S = 0.5  # how long past its deadline a caller waits for the worker's own verdict
START_TIMEOUT_S = 120.0  # importing sympy on a loaded machine can be slow
CACHE_SIZE = 4096


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: dict[str, object] | None = None


class MathChecker:
    """A handle on one worker process; thread-safe. Use `default_checker()`."""

    def __init__(self, max_parallel: int | None = None) -> None:
        self._lock = threading.Lock()
        self._parallel = max_parallel or max(1, os.cpu_count() or 1)
        self._slots = threading.BoundedSemaphore(self._parallel)
        self._proc: subprocess.Popen[bytes] | None = None
        self._waiting: dict[int, tuple[subprocess.Popen[bytes], _Waiter]] = {}
        self._next = 0
        self._cache: OrderedDict[str, dict[str, object]] = OrderedDict()
        self.starts = 0  # how many worker processes this checker has started (for tests and health)

    # -- worker lifecycle ------------------------------------------------------------------
    def _start(self) -> subprocess.Popen[bytes]:
        try:
            import math_verify  # noqa: F401  - fail here, with a clear message, not in the worker
        except ImportError as e:
            raise EvalkitError(
                "math tasks need math-verify: pip install 'math-verify>=0.8,<0.10' "
                f"(it is a dependency of evalkit; {e})"
            ) from e
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # so the worker imports this evalkit
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.Popen(
            [sys.executable, "-m", "evalkit.scoring.math_worker", str(self._parallel)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        assert proc.stdout is not None
        ready = _read_line_with_timeout(proc.stdout, START_TIMEOUT_S)
        if not ready or not json.loads(ready).get("ready"):
            proc.kill()
            raise EvalkitError("the math equivalence worker did not start (see the messages above)")
        self.starts += 1
        threading.Thread(target=self._read_replies, args=(proc,), daemon=True).start()
        return proc

    def _read_replies(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                entry = self._waiting.pop(reply.get("id"), None)
            if entry is not None:
                entry[1].reply = reply
                entry[1].event.set()
        # EOF: the worker died. Whoever still waits on it gets a failure now.
        with self._lock:
            if self._proc is proc:
                self._proc = None
            orphans = [rid for rid, (p, _) in self._waiting.items() if p is proc]
            waiters = [self._waiting.pop(rid)[1] for rid in orphans]
        for w in waiters:
            w.reply = {"status": "error", "detail": "the checker process died"}
            w.event.set()

    def close(self) -> None:
        """Stop the worker (it kills its running checks when its input closes)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(timeout=5)
            except Exception:
                proc.kill()

    # -- checks ----------------------------------------------------------------------------
    def run(self, request: dict[str, object], timeout_s: float) -> dict[str, object]:
        """Send one check; return the worker's reply, or a timeout/error reply. Never raises
        for anything the request contains."""
        key = json.dumps(request, sort_keys=True, ensure_ascii=False)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return {**hit, "cached": True}
        with self._slots:
            reply = self._send(request, timeout_s)
        if reply.get("status") == "ok":
            with self._lock:
                self._cache[key] = reply
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return reply

    def _send(self, request: dict[str, object], timeout_s: float) -> dict[str, object]:
        w = _Waiter()
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            rid = self._next
            self._next += 1
            self._waiting[rid] = (proc, w)
            # ASCII JSON (escapes), here and in the worker: a lone surrogate of model output
            # travels as "\\ud800" instead of failing to encode as UTF-8.
            line = json.dumps({**request, "id": rid, "timeout": timeout_s}) + "\n"
            try:
                assert proc.stdin is not None
                proc.stdin.write(line.encode())
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._waiting.pop(rid, None)
                self._proc = None
                return {"status": "error", "detail": "the checker process died"}
        if w.event.wait(timeout_s + GRACE_S):
            assert w.reply is not None
            return w.reply
        # The worker itself is stuck (it should have killed the check at its deadline).
        with self._lock:
            self._waiting.pop(rid, None)
            if self._proc is proc:
                self._proc = None
        proc.kill()
        return {"status": "timeout", "detail": "the checker process stopped answering"}


def _read_line_with_timeout(stream: IO[bytes], timeout: float) -> bytes | None:
    box: list[bytes] = []
    t = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return box[0] if box else None


_DEFAULT: MathChecker | None = None
_DEFAULT_LOCK = threading.Lock()


def default_checker() -> MathChecker:
    """The process-wide checker (its worker starts on the first check and stops at exit)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = MathChecker()
            atexit.register(_DEFAULT.close)
        return _DEFAULT


def run_check(request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Check one request with the process-wide checker (see `MathChecker.run`)."""
    return default_checker().run(request, timeout_s)
