"""Many sandboxed programs at once, bounded by the cores, each under a uid of its own.

A uid per slot keeps RLIMIT_NPROC per program (the limit counts every process of a uid)
and lets the evaluator find and kill whatever a program left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from evalkit.sandbox.channel import Channel
from evalkit.sandbox.isolation import Isolation, detect
from evalkit.sandbox.limits import Limits
from evalkit.sandbox.run import RunResult, run_in_sandbox

T = TypeVar("T")
R = TypeVar("R")
UID_BASE = 61000  # unused by the system; one uid per concurrent program
UID_RANGE = 4096  # uids this machine's sandboxes may take, across all evaluator processes
LOCK_DIR = "/tmp/evalkit-sandbox-uids"


def _claim_uids(n: int) -> tuple[list[int], list[int]]:
    """Take `n` uids no other evaluator process holds: one flock'ed file per uid.

    Two evaluators (a run and a benchmark, say) must never share a uid, or the sweep that
    kills whatever a program left behind under its uid would kill the other's programs.
    The locks live as long as the returned file descriptors, i.e. as long as the pool.
    """
    os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
    uids: list[int] = []
    fds: list[int] = []
    for uid in range(UID_BASE, UID_BASE + UID_RANGE):
        fd = os.open(os.path.join(LOCK_DIR, str(uid)), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        uids.append(uid)
        fds.append(fd)
        if len(uids) == n:
            return uids, fds
    for fd in fds:
        os.close(fd)
    raise RuntimeError(f"no free sandbox uids in {UID_BASE}..{UID_BASE + UID_RANGE - 1}")


class Sandbox:
    """Runs programs in isolated children, at most `workers` at a time (default: the cores)."""

    def __init__(self, workers: int | None = None, isolation: Isolation | None = None):
        self.isolation = isolation or detect()
        self.workers = max(1, workers or len(os.sched_getaffinity(0)))
        self._uids: queue.Queue[int] = queue.Queue()
        uids, self._lock_fds = _claim_uids(self.workers)
        for uid in uids:
            self._uids.put(uid)

    def __del__(self) -> None:
        for fd in getattr(self, "_lock_fds", []):
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def level(self) -> str:
        """The isolation level in effect, for the run record."""
        return self.isolation.level

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | bytes = b"",
        limits: Limits,
        talk: Callable[[Channel, float], Any] | None = None,
        reaps: bool = False,
    ) -> RunResult:
        """Run `argv` to the end, or drive it with `talk(channel, deadline)` (see run_in_sandbox)."""
        uid = self._uids.get()
        try:
            return run_in_sandbox(
                argv, stdin=stdin, limits=limits, isolation=self.isolation, uid=uid, talk=talk, reaps=reaps
            )
        finally:
            self._uids.put(uid)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """fn(item) for every item, `workers` at a time, in order. `fn` calls `self.run`."""
        with ThreadPoolExecutor(self.workers) as ex:
            yield from ex.map(fn, items)
