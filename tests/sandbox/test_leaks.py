"""Each leak found in the sandbox (issue 16) tried again: every attack must fail.

The programs run straight in the sandbox (no grader) and print a JSON report of what they
managed; the assertions check that report and, where the attack aims at the host, the host.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evalkit.sandbox import Limits, Sandbox, SandboxUnavailable

try:
    SANDBOX: Sandbox | None = Sandbox(workers=1)
except SandboxUnavailable:  # pragma: no cover - machines without namespaces
    SANDBOX = None
pytestmark = pytest.mark.skipif(SANDBOX is None, reason="no isolation on this machine")

REPO = Path(__file__).resolve().parents[2]
LIMITS = Limits(wall_s=20, cpu_s=10)
IPC_CREAT, IPC_RMID = 0o1000, 0


def probe(code: str) -> dict[str, Any]:
    """Run `code` in the sandbox; its last stdout line is a JSON report."""
    assert SANDBOX is not None
    res = SANDBOX.run([sys.executable, "-I", "-c", code], limits=LIMITS)
    lines = res.stdout.strip().splitlines()
    assert lines, (res.reason, res.stderr[-2000:])
    return json.loads(lines[-1])


def attempt(expr: str) -> str:
    """Program text that evaluates `expr` and reports `ok: <value>` or the exception's name."""
    return (
        "import json, os\n"
        f"try:\n    r = 'ok: ' + repr({expr})\nexcept Exception as e:\n    r = type(e).__name__\n"
        "print(json.dumps({'r': r}))"
    )


def test_unix_socket_of_a_host_listener_under_tmp_is_out_of_reach(tmp_path: Path):
    path = f"/tmp/evalkit-leak-{secrets.token_hex(4)}.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(1)
    server.settimeout(0.5)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(b"\0" + path.encode())
    abstract.listen(1)
    abstract.settimeout(0.5)
    try:
        code = (
            "import json, socket\nout = {}\n"
            f"for name, addr in (('file', {path!r}), ('abstract', b'\\0' + {path!r}.encode())):\n"
            "    s = socket.socket(socket.AF_UNIX)\n"
            "    try:\n        s.connect(addr); s.sendall(b'leak'); out[name] = 'connected'\n"
            "    except OSError as e:\n        out[name] = type(e).__name__\n"
            "print(json.dumps(out))"
        )
        report = probe(code)
        assert report == {"file": "FileNotFoundError", "abstract": "ConnectionRefusedError"}
        for listener in (server, abstract):
            with pytest.raises(TimeoutError):
                listener.accept()
    finally:
        server.close()
        abstract.close()
        os.unlink(path)


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if not hasattr(libc, "mq_open"):  # pragma: no cover - glibc < 2.34 keeps it in librt
        libc = ctypes.CDLL(ctypes.util.find_library("rt"), use_errno=True)
    return libc


def test_sysv_shm_and_posix_mqueue_die_with_the_program():
    key = secrets.randbelow(1 << 30) + 1
    name = f"/evalkit-leak-{secrets.token_hex(4)}"
    code = (
        "import ctypes, ctypes.util, json, os\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)\n"
        f"shm = libc.shmget({key}, 4096, 0o1000 | 0o666)\n"
        "libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]\n"
        f"mq = libc.mq_open({name!r}.encode(), os.O_CREAT | os.O_RDWR, 0o666, None)\n"
        "print(json.dumps({'shm': shm, 'mq': mq}))"
    )
    report = probe(code)
    assert report["shm"] >= 0 and report["mq"] >= 0  # both were created inside
    libc = _libc()
    assert libc.shmget(key, 0, 0) == -1 and ctypes.get_errno() == 2  # ENOENT: gone with the program
    libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
    assert libc.mq_open(name.encode(), os.O_RDONLY) == -1 and ctypes.get_errno() == 2
    assert str(key) not in Path("/proc/sysvipc/shm").read_text()
    # ... and a second program finds nothing either
    again = f"import ctypes, json\nprint(json.dumps({{'r': ctypes.CDLL(None).shmget({key}, 0, 0)}}))"
    assert probe(again) == {"r": -1}


def test_host_sysv_shm_is_not_visible():
    libc = _libc()
    key = secrets.randbelow(1 << 30) + 1
    shmid = libc.shmget(key, 4096, IPC_CREAT | 0o666)
    assert shmid >= 0
    try:
        code = f"import ctypes, json\nprint(json.dumps({{'r': ctypes.CDLL(None).shmget({key}, 0, 0)}}))"
        assert probe(code) == {"r": -1}
    finally:
        libc.shmctl(shmid, IPC_RMID, None)


def test_other_processes_and_their_command_lines_are_invisible():
    marker = f"evalkit-leak-{secrets.token_hex(4)}"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        code = (
            "import json, os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "seen = ''.join(open(f'/proc/{p}/cmdline', 'rb').read().decode(errors='replace') for p in pids)\n"
            # (the marker is spelled backwards here: this program's own command line shows too)
            f"print(json.dumps({{'pids': sorted(map(int, pids)), 'marker': {marker[::-1]!r}[::-1] in seen, "
            "'me': os.getpid(), 'parent': os.getppid()}))"
        )
        report = probe(code)
    finally:
        other.kill()
        other.wait()
    assert not report["marker"]
    assert report["pids"] == [1, 2] and report["me"] == 2 and report["parent"] == 1  # the reaper and itself


@pytest.mark.parametrize(
    "target",
    [
        "tasks/samples/livecodebench_v6.jsonl",  # the task's hidden tests
        "tests/data/livecodebench/problems.jsonl",
        "results",  # other runs' samples.jsonl live under results/runs
        ".",  # the repository itself
    ],
)
def test_the_repository_its_tasks_and_results_are_unreadable(target: str):
    path = REPO / target
    assert path.exists()
    if path.is_file():
        assert probe(attempt(f"open({str(path)!r}).read(10)")) == {"r": "FileNotFoundError"}
    else:
        assert_hidden(path)


def on_the_way_to_python(directory: Path) -> set[str]:
    """The names the sandbox may show in `directory`: the next step towards a Python prefix it
    needs (a venv inside the repository, as CI makes it, or pyenv's under the home directory)."""
    names = set()
    for prefix in {
        sys.prefix,
        sys.base_prefix,
        os.path.realpath(sys.prefix),
        os.path.realpath(sys.base_prefix),
    }:
        rel = os.path.relpath(prefix, directory)
        if not rel.startswith(".."):
            names.add(rel.split(os.sep)[0])
    return names


def assert_hidden(directory: Path) -> None:
    report = probe(attempt(f"os.listdir({str(directory)!r})"))
    if report["r"] != "FileNotFoundError":
        shown = eval(report["r"].removeprefix("ok: "))  # a list literal of names
        assert set(shown) <= on_the_way_to_python(directory), shown


def test_other_runs_data_and_home_are_unreadable(tmp_path: Path):
    run_dir = tmp_path / "results" / "runs" / "other-run"
    run_dir.mkdir(parents=True)
    (run_dir / "samples.jsonl").write_text('{"id": "x"}\n')
    os.chmod(tmp_path, 0o755)
    assert probe(attempt(f"open({str(run_dir / 'samples.jsonl')!r}).read()")) == {"r": "FileNotFoundError"}
    for data in (REPO.parent / "shared" / "data", REPO / "tests" / "data"):
        if data.is_dir():
            assert probe(attempt(f"os.listdir({str(data)!r})")) == {"r": "FileNotFoundError"}
    cache = Path(os.environ.get("EVALKIT_CACHE", Path.home() / ".cache" / "evalkit"))
    assert probe(attempt(f"os.listdir({str(cache)!r})")) == {"r": "FileNotFoundError"}
    assert_hidden(Path.home())


def test_inotify_on_tmp_sees_no_host_activity():
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            p = Path(f"/tmp/evalkit-churn-{secrets.token_hex(4)}")
            p.write_text("x")
            p.unlink()
            time.sleep(0.01)

    code = (
        "import ctypes, json, os, select, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "fd = libc.inotify_init1(os.O_NONBLOCK)\nwatches = [libc.inotify_add_watch(fd, p, 0xfff) "
        "for p in (b'/tmp', b'/')]\nevents, t0 = 0, time.monotonic()\n"
        "while time.monotonic() - t0 < 1.5:\n    if select.select([fd], [], [], 0.1)[0]:\n"
        "        events += len(os.read(fd, 65536))\nprint(json.dumps({'watches': watches, 'bytes': events}))"
    )
    worker = threading.Thread(target=churn)
    worker.start()
    try:
        report = probe(code)
    finally:
        stop.set()
        worker.join()
    assert min(report["watches"]) >= 1 and report["bytes"] == 0
