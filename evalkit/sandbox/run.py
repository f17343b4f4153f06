"""Run one untrusted program in a sandboxed child and collect what it did.

The child gets an empty private working directory, a scrubbed environment, the limits of
`Limits`, and the isolation of `evalkit.sandbox.isolation`. Its stdin, stdout, stderr and
one extra "result" descriptor (fd 3, for a trusted harness running inside) are regular
files in a directory only the evaluator can reach: RLIMIT_FSIZE then caps what the
program can write, and the evaluator needs no reader threads. At the end the whole
process group is killed, and so is every other process still running under the
program's uid (a program that calls setsid() leaves its group, not its uid).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from evalkit.sandbox.isolation import Isolation, make_preexec
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
RESULT_FD = 3


@dataclass(frozen=True)
class RunResult:
    """What one sandboxed program did. `reason` is a short label when it did not exit cleanly."""

    exit_code: int | None  # None when killed by a signal
    signal: int | None
    stdout: str
    stderr: str
    result: str  # what the trusted harness wrote on fd 3 ("" if nothing)
    wall_s: float
    timed_out: bool
    reason: str  # "ok", "exit N", "wall-time limit", "cpu-time limit", "killed by SIGx"
    isolation: str


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
) -> RunResult:
    """Run `argv` sandboxed under `uid` (a uid no other live program uses) and wait for it."""
    private = tempfile.mkdtemp(prefix="evalkit-sbx-")  # 0700, root-only: the child cannot open it
    try:
        workdir = os.path.join(private, "work")
        os.mkdir(workdir, 0o700)
        if not isolation.isolated:
            os.chmod(private, 0o755)
        paths = {name: os.path.join(private, name) for name in ("stdin", "stdout", "stderr", "result")}
        with open(paths["stdin"], "wb") as sink:
            sink.write(stdin.encode() if isinstance(stdin, str) else stdin)
        files: dict[str, BinaryIO] = {
            "stdin": open(paths["stdin"], "rb"),  # noqa: SIM115 - closed below
            **{n: open(paths[n], "wb") for n in ("stdout", "stderr", "result")},  # noqa: SIM115
        }
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=files["stdin"],
                stdout=files["stdout"],
                stderr=files["stderr"],
                pass_fds=(RESULT_FD,),
                env=CLEAN_ENV,
                cwd="/",
                start_new_session=True,
                preexec_fn=make_preexec(
                    limits,
                    workdir,
                    uid,
                    isolation.isolated,
                    list(isolation.mounts),
                    files["result"].fileno(),
                    list(isolation.expose),
                ),
            )
        finally:
            for f in files.values():
                f.close()
        timed_out = False
        try:
            proc.wait(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
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
            result=_read(paths["result"], limits.output_bytes),
            wall_s=wall,
            timed_out=timed_out,
            reason=_reason(exit_code, sig, timed_out),
            isolation=isolation.level,
        )
    finally:
        shutil.rmtree(private, ignore_errors=True)
