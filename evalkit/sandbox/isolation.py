"""How a sandboxed child is cut off from the machine: namespaces, a minimal root of its own, an
init that reaps, and an unprivileged uid.

The setup runs in the forked child before `exec` (subprocess's `preexec_fn`), while it is
still root. That child unshares new mount, network, IPC, PID and UTS namespaces, then forks:
it stays behind outside the new PID namespace only to wait (closing every descriptor, so it
holds nothing of the program's), and its child, pid 1 of the new namespace, builds the
program's view of the filesystem and drops to the program's uid:

* a fresh tmpfs becomes the root, holding only read-only bind mounts of what an interpreter
  needs (/usr and its /bin, /lib... links, the dynamic linker's cache, the Python prefixes
  in use), the device files /dev/null, zero, full, random, urandom, a /proc of the new PID
  namespace, and a private size-capped tmpfs on /tmp, which is also the working directory.
  `pivot_root` then detaches every host mount: no host /tmp, /run, home, repository, data
  or results, no host unix socket file (abstract sockets belong to the network namespace);
  inotify can only watch the program's own files and the read-only system files;
* the network namespace has only a downed loopback; the IPC namespace gives the program its
  own SysV IPC and POSIX message queues, which die with it;
* then the resource limits, PR_SET_NO_NEW_PRIVS, the uid drop (which clears every
  capability, so nothing above can be undone) and a parent-death signal.

What is exec'd as pid 1 is `reaper.py` (an init that runs the program as its child and reaps
every orphan; when it exits the kernel kills whatever is left in the namespace), or a
program that does the same itself (`reaps=True`: it forks first thing, as the LCB driver does).

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
import platform
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evalkit.sandbox.limits import Limits

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())  # glibc has no wrapper

FULL = "pidns+ipcns+netns+mountns+minimal-root+uid"
UNISOLATED = "rlimits-only (UNISOLATED: EVALKIT_SANDBOX=unisolated)"
OPT_OUT_ENV = "EVALKIT_SANDBOX"
OPT_OUT_VALUE = "unisolated"
WORKDIR = "/tmp"  # the program's working directory inside its root (its private tmpfs)
DEVICES = ("null", "zero", "full", "random", "urandom")
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = ("/etc/ld.so.cache", "/etc/localtime")
REAPER = (Path(__file__).with_name("reaper.py")).read_text(encoding="utf-8")


class SandboxUnavailable(RuntimeError):
    """Isolation cannot be set up on this machine and the user did not opt out."""


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


@dataclass(frozen=True)
class View:
    """What of the host the program sees: host paths bound read-only at the same place, and
    symbolic links recreated as they are (/bin -> usr/bin on merged-/usr systems)."""

    binds: tuple[str, ...]
    links: tuple[tuple[str, str], ...]


def _covered(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


def minimal_view() -> View:
    """The system directories, the linker cache, and the prefixes of this interpreter (its venv and
    the base installation it points to), nothing else."""
    binds: list[str] = []
    links: list[tuple[str, str]] = []
    for p in (*SYSTEM, *ETC):
        if os.path.islink(p):
            links.append((p, os.readlink(p)))
        elif os.path.exists(p):
            binds.append(p)
    wanted = {sys.prefix, sys.base_prefix, os.path.dirname(sys.executable)}
    wanted |= {os.path.realpath(p) for p in wanted}
    resolved = [os.path.realpath(b) for b in binds] + [os.path.realpath(p) for p, _ in links]
    for p in sorted({os.path.abspath(w) for w in wanted}, key=len):
        if os.path.isdir(p) and not _covered(p, binds) and not _covered(p, resolved):
            binds.append(p)
    return View(tuple(binds), tuple(links))


def _mount(
    libc: ctypes.CDLL, src: str | None, dst: str, fstype: str | None, flags: int, data: str | None
) -> None:
    def b(s: str | None) -> bytes | None:
        return s.encode() if s else None

    _check(libc.mount(b(src), dst.encode(), b(fstype), flags, b(data)), f"mount {src or fstype} on {dst}")


def _bind_ro(libc: ctypes.CDLL, src: str, dst: str) -> None:
    _mount(libc, src, dst, None, MS_BIND, None)
    _mount(libc, None, dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def _touch(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def _build_root(libc: ctypes.CDLL, root: str, view: View, limits: Limits, uid: int) -> None:
    """Assemble the program's root under `root` (a directory only the evaluator can reach)."""
    _mount(libc, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    # The private /tmp first: an interpreter or venv that lives under the host's /tmp (a CI clone
    # there, say) is then bound inside it, read-only, instead of being hidden by it.
    os.makedirs(root + WORKDIR, exist_ok=True)
    opts = f"size={limits.disk_bytes},mode=0700,uid={uid},gid={uid}"
    _mount(libc, "tmpfs", root + WORKDIR, "tmpfs", MS_NOSUID | MS_NODEV, opts)
    for src in view.binds:
        dst = root + src
        if os.path.isdir(src):
            os.makedirs(dst, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            _touch(dst)
        _bind_ro(libc, src, dst)
    for link, target in view.links:
        os.makedirs(os.path.dirname(root + link), exist_ok=True)
        os.symlink(target, root + link)
    os.mkdir(root + "/dev", 0o755)
    for dev in DEVICES:
        _touch(f"{root}/dev/{dev}")
        _mount(libc, f"/dev/{dev}", f"{root}/dev/{dev}", None, MS_BIND, None)
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{root}/dev/{name}")
    os.symlink("/proc/self/fd", f"{root}/dev/fd")
    os.mkdir(root + "/proc", 0o555)
    # The new PID namespace's /proc: this process is its pid 1, so only the program's tree shows.
    _mount(libc, "proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    os.mkdir(root + "/.old")
    if PIVOT_ROOT is not None and libc.syscall(PIVOT_ROOT, root.encode(), (root + "/.old").encode()) == 0:
        os.chdir("/")
        _check(libc.umount2(b"/.old", MNT_DETACH), "detach the host's mounts")
    else:  # pivot_root unknown here or refused (the host root is no mount point): chroot, which
        os.chroot(root)  # the uid drop below makes just as final; the host's mounts stay out of reach
        os.chdir("/")
    os.rmdir("/.old")
    _mount(libc, None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def _set_limits(limits: Limits) -> None:
    cpu = max(1, int(limits.cpu_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _wait_and_exit(pid: int) -> None:
    """The forked child's parent, left outside the new PID namespace: wait for pid 1 and exit as it did.

    It closes every descriptor first: subprocess's error pipe must see EOF once pid 1 has
    exec'd, and the program's channel must see EOF once the program is gone."""
    os.closerange(0, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    for default in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(default, signal.SIG_DFL)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(255)
    code = os.waitstatus_to_exitcode(status)
    if code > 128:  # the reaper reports "killed by signal N" as 128 + N, as shells do
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        sig = code - 128
        if sig < signal.NSIG:
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)  # signals whose default is to be ignored fall through
    os._exit(code if code >= 0 else 128 - code)


def make_preexec(
    limits: Limits,
    private: str,
    uid: int,
    isolated: bool,
    view: View | None,
) -> Callable[[], None]:
    """The function the forked child runs before exec. Any exception aborts the spawn.

    `private` is a root-only directory of the evaluator's: the unisolated program works in
    private/work, the isolated one's root is assembled on private/root.
    """

    # Loaded here, in the evaluator: find_library runs `ldconfig -p`, which the child must not
    # have to do (it would cost a process per program, and imports after fork can deadlock).
    libc = _libc()

    def setup() -> None:
        if not isolated:
            os.chdir(os.path.join(private, "work"))
            _set_limits(limits)
            return
        assert view is not None
        flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWUTS
        _check(libc.unshare(flags), "unshare")
        # Keep our mount changes out of the parent namespace.
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE, None)
        pid = os.fork()
        if pid != 0:
            _wait_and_exit(pid)
        _check(libc.sethostname(b"sandbox", 7), "sethostname")  # its own UTS namespace: not the host's name
        _build_root(libc, os.path.join(private, "root"), view, limits, uid)
        os.chdir(WORKDIR)
        _set_limits(limits)
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        # After setuid, which clears it: pid 1 (and so the namespace) dies with its waiting parent.
        _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")

    return setup


def wrap_argv(argv: list[str], isolated: bool, reaps: bool = False) -> list[str]:
    """What is exec'd: the program under the reaper as pid 1 when isolated, else itself; or
    itself when it `reaps` (it forks first thing and stays behind as init, as the LCB driver does)."""
    if not isolated or reaps:
        return argv
    return [sys.executable, "-I", "-S", "-c", REAPER, *argv]


@dataclass(frozen=True)
class Isolation:
    level: str
    isolated: bool
    view: View | None = None


def opted_out() -> bool:
    return os.environ.get(OPT_OUT_ENV, "").strip().lower() == OPT_OUT_VALUE


@functools.lru_cache(maxsize=1)
def _probe() -> str | None:
    """Why full isolation is impossible here, or None when it works (tried in a throwaway child)."""
    if os.geteuid() != 0:
        return "not running as root (namespaces and the uid drop need it)"
    if sys.platform != "linux":
        return "not Linux"
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="evalkit-probe-") as d:
        os.mkdir(os.path.join(d, "root"), 0o700)
        try:
            subprocess.run(
                wrap_argv(["/bin/true"], True),
                preexec_fn=make_preexec(Limits(), d, 65533, True, minimal_view()),
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
        return Isolation(FULL, True, minimal_view())
    if opted_out():
        return Isolation(UNISOLATED, False)
    raise SandboxUnavailable(
        f"cannot isolate generated code on this machine ({why}). Run as root on Linux with "
        f"namespaces allowed, or set {OPT_OUT_ENV}={OPT_OUT_VALUE} to run it with resource "
        "limits only (NOT isolated: the code can use the network and write your files)."
    )
