"""Programs that try to escape the sandbox: each must be contained, scored as a failure with a
reason, and leave the evaluator (this process) and the machine untouched."""

from __future__ import annotations

import datetime
import os
import socket
import threading
from pathlib import Path

import pytest

from evalkit.benchmarks.livecodebench.grade import grade
from evalkit.benchmarks.livecodebench.problems import Problem, TestCase
from evalkit.sandbox import Limits, Sandbox, SandboxUnavailable, detect
from evalkit.sandbox.limits import GiB, MiB

try:
    SANDBOX: Sandbox | None = Sandbox(workers=2)
except SandboxUnavailable:  # pragma: no cover - machines without namespaces
    SANDBOX = None
pytestmark = pytest.mark.skipif(SANDBOX is None, reason="no isolation on this machine")

PROBLEM = Problem("p", "t", "c", "atcoder", datetime.datetime(2025, 1, 1), "", "easy",
                  (TestCase("1 2\n", "3\n", "stdin"),), (), None)  # fmt: skip
LIMITS = Limits(wall_s=5, cpu_s=3, memory_bytes=1 * GiB, processes=16, file_bytes=1 * MiB)


def run(code: str):
    assert SANDBOX is not None
    return grade(SANDBOX, PROBLEM, code, timeout_s=2, limits=LIMITS)


def test_isolation_is_detected_and_reported():
    assert detect().isolated
    assert SANDBOX is not None and "netns" in SANDBOX.level


def test_a_correct_program_passes():
    assert run("a, b = map(int, input().split())\nprint(a + b)").passed


def test_no_network():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint(3)"
    res = run(code)
    server.close()
    assert not res.passed and "runtime error" in res.reason


def test_cannot_write_outside_its_directory(tmp_path: Path):
    target = tmp_path / "pwned"
    os.chmod(tmp_path, 0o777)
    for path in (target, Path(__file__).with_name("pwned")):
        res = run(f"open({str(path)!r}, 'w').write('x')\nprint(3)")
        assert not res.passed and "runtime error" in res.reason
        assert not path.exists()
    # /tmp is the program's own tmpfs: the write succeeds there and never reaches the host's /tmp
    assert run("open('/tmp/evalkit-pwned', 'w').write('x')\nprint(3)").passed
    assert not Path("/tmp/evalkit-pwned").exists()


def test_cannot_read_the_evaluators_environment(monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_SECRET", "hunter2")
    code = (
        "import os\nseen = str(dict(os.environ))\n"
        "try:\n    seen += open(f'/proc/{os.getppid()}/environ').read()\nexcept OSError:\n    pass\n"
        "print(3 if 'hunter2' not in seen else 4)"
    )
    assert run(code).passed  # it ran, and saw no secret


def test_fork_bomb_is_contained():
    res = run("import importlib, os\nimportlib.reload(os)\nwhile True:\n    os.fork()")
    assert not res.passed


def test_ten_gigabytes_fail():
    res = run("x = bytearray(10 * 1024 ** 3)\nprint(3)")
    assert not res.passed and "MemoryError" in str(res.meta)


def test_spinning_forever_times_out():
    res = run("while True:\n    pass")
    assert not res.passed and "time limit" in res.reason


def test_reload_os_then_system_cannot_harm(tmp_path: Path):
    target = tmp_path / "sys"
    os.chmod(tmp_path, 0o777)
    res = run(f"import importlib, os\nimportlib.reload(os)\nos.system('touch {target}')\nprint(4)")
    assert not res.passed and not target.exists()


def test_ctypes_cannot_kill_the_parent():
    # Its parent is the reaper, pid 1 of its namespace (which ignores the signal); the evaluator's
    # pid does not exist there.
    code = (
        "import ctypes, os\nlibc = ctypes.CDLL(None)\nlibc.kill(os.getppid(), 9)\n"
        f"r = libc.kill({os.getpid()}, 9)\nprint(3 if r != 0 and os.getppid() == 1 else 4)"
    )
    assert run(code).passed  # kill() failed (ESRCH) and the evaluator is still here
    assert threading.main_thread().is_alive()


def test_posix_system_cannot_reach_out(tmp_path: Path):
    target = tmp_path / "posix"
    os.chmod(tmp_path, 0o777)
    res = run(f"import posix\nposix.system('echo x > {target}')\nprint(4)")
    assert not res.passed and not target.exists()


def test_kill_the_parent_fails():
    code = (
        "import importlib, os, signal\nimportlib.reload(os)\nos.kill(os.getppid(), signal.SIGKILL)\n"
        f"os.kill({os.getpid()}, signal.SIGKILL)\nprint(3)"
    )
    res = run(code)
    assert not res.passed and "ProcessLookupError" in str(res.meta)


def test_many_run_in_parallel():
    assert SANDBOX is not None
    codes = ["a, b = map(int, input().split())\nprint(a + b)", "print(4)"] * 4
    results = list(SANDBOX.map(run, codes))
    assert [r.passed for r in results] == [True, False] * 4
