"""Run one untrusted program in a sandboxed child and collect what it did.

The child gets an empty private working directory, a scrubbed environment, the limits of
`Limits`, and the isolation of `evalkit.sandbox.isolation`. Its stdin, stdout and stderr
are regular files in a directory only the evaluator can reach: RLIMIT_FSIZE then caps what
the program can write, and the evaluator needs no reader threads. A program that is driven
step by step gets one end of a socket pair (its number in $EVALKIT_CHANNEL_FD), and the
evaluator's `talk` function the other end as a `Channel` (see evalkit.benchmarks.livecodebench.grade). At the
end every process of the program is killed: its process group, every other process still
running under the program's uid (a program that calls setsid() leaves its group, not its
uid), and so its PID namespace's pid 1, whose exit takes the rest of the namespace with it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from evalkit.sandbox.channel import Channel, ChannelTimeout
from evalkit.sandbox.isolation import Isolation, make_preexec, wrap_argv
from evalkit.sandbox.limits import Limits

# A minimal environment: nothing of the evaluator's (tokens, paths, proxies) leaks in.
CLEAN_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/nonexistent",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
}
EXIT_GRACE_S = 0.2  # how long a driven program gets to exit by itself once its channel is closed
CHANNEL_ENV = "EVALKIT_CHANNEL_FD"  # the number of a driven program's channel descriptor


@dataclass(frozen=True)
class RunResult:
    """What one sandboxed program did. `reason` is a short label when it did not exit cleanly."""

    exit_code: int | None  # None when killed by a signal
    signal: int | None
    stdout: str
    stderr: str
    wall_s: float
    timed_out: bool
    reason: str  # "ok", "exit N", "wall-time limit", "cpu-time limit", "killed by SIGx"
    isolation: str
    talked: Any = None  # what `talk` returned, for a program driven over its channel


def _reason(code: int | None, sig: int | None, timed_out: bool) -> str:
    if timed_out:
        return "wall-time limit"
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and code is None):
        return "cpu-time limit" if sig == signal.SIGXCPU else "killed by SIGKILL"
    if sig is not None:
        return f"killed by {signal.Signals(sig).name}"
    if code == 0:
        return "ok"
    return f"exit {code}"


def _uid_processes(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except (OSError, ValueError):
            continue
    return pids


def kill_all(pgid: int, uid: int | None) -> None:
    """Kill the program's process group and, when it ran under its own uid, every process of that uid."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if uid is None:
        return
    for _ in range(50):  # a fork bomb keeps forking while we kill; its NPROC limit bounds it
        pids = _uid_processes(uid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def _read(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def run_in_sandbox(
    argv: Sequence[str],
    *,
    stdin: str | bytes = b"",
    limits: Limits,
    isolation: Isolation,
    uid: int,
    talk: Callable[[Channel, float], Any] | None = None,
    reaps: bool = False,
) -> RunResult:
    """Run `argv` sandboxed under `uid` (a uid no other live program uses) until it exits, or
    until `talk(channel, deadline)` returns when given; either way within `limits.wall_s`.
    A ChannelTimeout escaping `talk` counts as the wall-time limit. `reaps`: the program
    acts as its PID namespace's init itself (see isolation.wrap_argv)."""
    private = tempfile.mkdtemp(prefix="evalkit-sbx-")  # 0700, root-only: the child cannot open it
    ours, theirs = socket.socketpair() if talk else (None, None)
    try:
        os.mkdir(os.path.join(private, "root" if isolation.isolated else "work"), 0o700)
        if not isolation.isolated:
            os.chmod(private, 0o755)
        paths = {name: os.path.join(private, name) for name in ("stdin", "stdout", "stderr")}
        with open(paths["stdin"], "wb") as sink:
            sink.write(stdin.encode() if isinstance(stdin, str) else stdin)
        files: dict[str, BinaryIO] = {
            "stdin": open(paths["stdin"], "rb"),  # noqa: SIM115 - closed below
            **{n: open(paths[n], "wb") for n in ("stdout", "stderr")},  # noqa: SIM115
        }
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                wrap_argv(list(argv), isolation.isolated, reaps),
                stdin=files["stdin"],
                stdout=files["stdout"],
                stderr=files["stderr"],
                pass_fds=(theirs.fileno(),) if theirs else (),
                env={**CLEAN_ENV, CHANNEL_ENV: str(theirs.fileno())} if theirs else CLEAN_ENV,
                cwd="/",
                start_new_session=True,
                preexec_fn=make_preexec(limits, private, uid, isolation.isolated, isolation.view),
            )
        finally:
            for f in files.values():
                f.close()
            if theirs:
                theirs.close()
        timed_out = False
        talked = None
        try:
            if talk and ours:
                talked = talk(Channel(ours), t0 + limits.wall_s)
                ours.close()  # the driver's cue to exit; a moment for it, then the kill below
                proc.wait(timeout=max(0.0, min(EXIT_GRACE_S, t0 + limits.wall_s - time.monotonic())))
            else:
                proc.wait(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            timed_out = not talk
        except ChannelTimeout:
            timed_out = True
        finally:
            kill_all(proc.pid, uid if isolation.isolated else None)
            proc.wait()
        wall = time.monotonic() - t0
        code = proc.returncode
        sig = -code if code is not None and code < 0 else None
        exit_code = None if sig is not None else code
        return RunResult(
            exit_code=exit_code,
            signal=sig,
            stdout=_read(paths["stdout"], limits.output_bytes),
            stderr=_read(paths["stderr"], limits.output_bytes),
            wall_s=wall,
            timed_out=timed_out,
            reason=_reason(exit_code, sig, timed_out),
            isolation=isolation.level,
            talked=talked,
        )
    finally:
        if ours:
            ours.close()
        shutil.rmtree(private, ignore_errors=True)
