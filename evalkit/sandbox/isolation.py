"""How a sandboxed child is cut off from the machine: namespaces, a private tmpfs, a read-only
view of every other mount, and an unprivileged uid.

The setup runs in the forked child before `exec` (subprocess's `preexec_fn`), while it is
still root: it unshares a new network namespace (no interfaces but a downed loopback, so
no socket can reach anything) and a mount namespace, mounts a size-capped tmpfs on its
own working directory, remounts every other mount read-only, sets the resource limits,
forbids gaining privileges (PR_SET_NO_NEW_PRIVS, so setuid binaries do not help), and
finally drops to a dedicated uid with no supplementary groups. Dropping from uid 0 clears
every capability, so the program cannot undo any of the above.

`detect()` probes this once per process and reports the level; where it cannot be set up
(not root, namespaces forbidden) the sandbox refuses to run unless the user opted out
with EVALKIT_SANDBOX=unisolated (then only the resource limits and the scrubbed
environment apply, and every result says so).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass

from evalkit.sandbox.limits import Limits

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_NO_NEW_PRIVS = 38

FULL = "netns+mountns+rofs+uid"
UNISOLATED = "rlimits-only (UNISOLATED: EVALKIT_SANDBOX=unisolated)"
OPT_OUT_ENV = "EVALKIT_SANDBOX"
OPT_OUT_VALUE = "unisolated"


class SandboxUnavailable(RuntimeError):
    """Isolation cannot be set up on this machine and the user did not opt out."""


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount_points() -> list[tuple[str, int]]:
    """Every mount point of this namespace with the flags it must keep when remounted read-only."""
    keep = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            point = parts[4].replace("\\040", " ")
            flags = 0
            for opt in parts[5].split(","):
                flags |= keep.get(opt, 0)
            out.append((point, flags))
    # Parents before children, so a child's remount is not hidden behind its parent's.
    return sorted(set(out), key=lambda p: p[0].count("/") if p[0] != "/" else 0)


def exposures(paths: list[str]) -> list[tuple[str, str]]:
    """(hidden ancestor, path) pairs: directories the sandbox uid could not traverse on the way to
    a path it needs (the interpreter's prefix under /root, say). In the child, the ancestor is
    covered by an empty tmpfs and only the needed path is bind-mounted back, so the rest of it
    (the evaluator's home, its credentials) stays out of sight."""
    out = []
    for path in paths:
        path = os.path.realpath(path)
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            anc = "/" + "/".join(parts[:i])
            if not os.stat(anc).st_mode & 0o001:
                out.append((anc, path))
                break
    return out


def _expose(libc: ctypes.CDLL, pairs: list[tuple[str, str]]) -> None:
    fds = [(anc, path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for anc, path in pairs]
    covered: set[str] = set()
    for anc, _, _ in fds:
        if anc not in covered:
            _check(libc.mount(b"tmpfs", anc.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755"), "cover")
            covered.add(anc)
    for _, path, fd in fds:
        os.makedirs(path, exist_ok=True)
        _check(
            libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None), "expose"
        )
        os.close(fd)


def _set_limits(limits: Limits) -> None:
    cpu = max(1, int(limits.cpu_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def make_preexec(
    limits: Limits,
    workdir: str,
    uid: int,
    isolated: bool,
    mounts: list[tuple[str, int]],
    result_fd: int | None = None,
    expose: list[tuple[str, str]] | None = None,
) -> Callable[[], None]:
    """The function the forked child runs before exec. Any exception aborts the spawn.

    `result_fd` is moved to fd 3 (subprocess keeps fd 3 open when it is in pass_fds).
    """

    def setup() -> None:
        libc = _libc()
        if result_fd is not None and result_fd != 3:
            os.dup2(result_fd, 3)
        if isolated:
            _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
            # Keep our mount changes out of the parent namespace.
            _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
            opts = f"size={limits.disk_bytes},mode=0700,uid={uid},gid={uid}".encode()
            _check(
                libc.mount(b"tmpfs", workdir.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts),
                "mount tmpfs",
            )
            _expose(libc, expose or [])
            extra = [(a, MS_NOSUID | MS_NODEV) for a, _ in expose or []] + [(p, 0) for _, p in expose or []]
            for point, flags in [*mounts, *extra]:
                if point == workdir or point.startswith(workdir + "/"):
                    continue
                ret = libc.mount(None, point.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, None)
                _check(ret, f"remount {point} read-only")
        os.chdir(workdir)
        _set_limits(limits)
        if isolated:
            _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    return setup


@dataclass(frozen=True)
class Isolation:
    level: str
    isolated: bool
    mounts: tuple[tuple[str, int], ...]
    expose: tuple[tuple[str, str], ...] = ()


def opted_out() -> bool:
    return os.environ.get(OPT_OUT_ENV, "").strip().lower() == OPT_OUT_VALUE


def _needed() -> list[tuple[str, str]]:
    """What the sandboxed interpreter (this one) must be able to read."""
    import sys

    paths = sorted(
        {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, os.path.dirname(sys.executable))}
    )
    # A path inside another needed path comes with it.
    roots = [p for p in paths if not any(p.startswith(q + "/") for q in paths if q != p)]
    return exposures(roots)


@functools.lru_cache(maxsize=1)
def _probe() -> str | None:
    """Why full isolation is impossible here, or None when it works (tried in a throwaway child)."""
    if os.geteuid() != 0:
        return "not running as root (namespaces and the uid drop need it)"
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="evalkit-probe-") as d:
        os.chmod(d, 0o755)
        try:
            subprocess.run(
                ["/bin/true"],
                preexec_fn=make_preexec(Limits(), d, 65533, True, mount_points(), None, _needed()),
                env={},
                timeout=10,
                check=True,
            )
        except (subprocess.SubprocessError, OSError) as e:
            return f"{type(e).__name__}: {e}"
    return None


def detect() -> Isolation:
    """The isolation this machine gives; raises SandboxUnavailable unless the user opted out."""
    why = _probe()
    if why is None:
        return Isolation(FULL, True, tuple(mount_points()), tuple(_needed()))
    if opted_out():
        return Isolation(UNISOLATED, False, ())
    raise SandboxUnavailable(
        f"cannot isolate generated code on this machine ({why}). Run as root on Linux with "
        f"namespaces allowed, or set {OPT_OUT_ENV}={OPT_OUT_VALUE} to run it with resource "
        "limits only (NOT isolated: the code can use the network and write your files)."
    )
