"""Data parallelism over processes: one engine per GPU, each in a process of its own.

`start_process_pool(profile, model, gpus)` starts one worker process per engine
(`evalkit.runners.process_worker`), worker i seeing only its own GPU(s) through
CUDA_VISIBLE_DEVICES, and builds the profile's runner inside it; the workers load at the same
time. Each worker is a `ProcessEngine` (a Runner that forwards over a JSON-lines pipe), and
the engines sit in a `DataParallelRunner`, which feeds them from one queue exactly as it feeds
in-process engines. This is the way for runners that own their GPU process-wide (vLLM) and for
in-house engines whose Python work would contend for one interpreter.

Outputs are those of the runner in-process: each request travels whole (its own seed
included) and each completion comes back whole (text, finish reason, token ids, reasoning,
error); `describe()` is the worker's runner's, so stores are shared with one-GPU runs.

Failures: a worker that exits, reports an error or does not answer within `start_timeout`
while loading fails the start with its log's tail, and every worker is stopped. A worker that
dies during a batch answers the requests of the chunk it held with error completions (kept by
the store, never reused: a rerun retries them) and takes no more work; the others finish the
batch; when none is left the batch raises. A runner error (a prompt too long...) is raised as
in-process. Every worker leads its own process group, killed by `close()`, at interpreter exit,
and by the worker itself when the pool's end of its pipe closes (the pool killed by any signal).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from evalkit.errors import UsageError
from evalkit.records import ChatRequest, Completion
from evalkit.runners.base import Runner
from evalkit.runners.data_parallel import DataParallelRunner, EngineLost
from evalkit.runners.process_worker import completion_from_wire, request_to_wire
from evalkit.runners.profiles import RunnerProfile

START_TIMEOUT_S = 1800.0  # a 32B load plus graph capture or vLLM's start, with room
CLOSE_GRACE_S = 20.0  # a worker's own close (freeing the GPU) before it is killed
_EXITED = object()


def _log_tail(path: Path, chars: int = 2000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return text[-chars:].strip() or "(empty log)"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker's process group (the worker and any process it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


class ProcessEngine(Runner):
    """One worker process holding one engine; a Runner that forwards to it."""

    def __init__(self, index: int, devices: str, log: Path, env: dict[str, str]):
        self.index, self.devices, self.log = index, devices, log
        self.label = f"worker {index} (CUDA_VISIBLE_DEVICES={devices})"
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evalkit.runners.process_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env={**env, "CUDA_VISIBLE_DEVICES": devices},
            start_new_session=True,  # its own group: killed whole; Ctrl-C goes to the pool only
        )
        self._finalizer = weakref.finalize(self, _kill_group, self.proc)
        self._replies: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ids = itertools.count()
        self._lock = threading.Lock()  # one op at a time on the pipe
        self.lost: str | None = None
        self.info: dict[str, Any] = {}
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stdout: IO[bytes]) -> None:
        for line in stdout:
            try:
                self._replies.put(json.loads(line))
            except ValueError:
                continue  # not the protocol: cannot happen while fd 1 points at the log
        self._replies.put(_EXITED)

    def _send(self, msg: dict[str, object]) -> int:
        op_id: int = next(self._ids)
        msg["id"] = op_id
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the reader sees it exit
        return op_id

    def _why_gone(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = f"exited with code {code}" if code is not None else "closed its pipe"
        return f"{self.label} {how}; the end of its log ({self.log}):\n{_log_tail(self.log)}"

    def _reply(self, op_id: int, deadline: float | None = None) -> dict[str, Any]:
        """The next reply to op `op_id` (older ops' replies are dropped); EngineLost when the
        worker is gone, TimeoutError past `deadline`."""
        while True:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise TimeoutError(f"{self.label} did not answer in time")
            try:
                msg = self._replies.get(timeout=wait)
            except queue.Empty:
                continue
            if msg is _EXITED:
                self.lost = self._why_gone()
                self._replies.put(_EXITED)  # every later wait sees it too
                raise EngineLost(self.lost)
            if msg.get("id") != op_id:
                continue
            if msg["op"] == "error":
                message = f"{self.label}: {msg['message']}"
                if msg.get("kind") == "usage":
                    raise UsageError(message)
                raise RuntimeError(f"{message}\n{msg.get('traceback', '')}")
            return dict(msg)

    def start(self, profile: RunnerProfile, model: str | None) -> None:
        """Ask the worker to build the runner (no wait)."""
        self._start_id = self._send({"op": "start", "profile": dataclasses.asdict(profile), "model": model})

    def wait_ready(self, deadline: float) -> None:
        try:
            self.info = self._reply(self._start_id, deadline)["info"]
        except TimeoutError as e:
            raise RuntimeError(
                f"{self.label} did not load its runner within the start timeout; "
                f"the end of its log ({self.log}):\n{_log_tail(self.log)}"
            ) from e
        except EngineLost as e:
            raise RuntimeError(f"{self.label} failed to start: {e}") from None
        except UsageError as e:
            raise UsageError(f"{e} (log: {self.log})") from None

    # -- Runner ------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return dict(self.info["describe"])

    @property
    def is_placeholder_model(self) -> bool:
        return bool(self.info.get("is_placeholder_model"))

    def max_context(self) -> int | None:
        return self.info.get("max_context")

    def kv_bytes_per_token(self) -> int | None:
        return self.info.get("kv_bytes_per_token")

    def kv_cache_budget_bytes(self) -> int | None:
        return self.info.get("kv_cache_budget_bytes")  # as of the load: engines size it then

    def render(self, request: ChatRequest) -> str | None:
        with self._lock:
            if self.lost:
                raise EngineLost(self.lost)
            text = self._reply(self._send({"op": "render", "request": request_to_wire(request)}))["text"]
            return None if text is None else str(text)

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        with self._lock:
            if self.lost:
                raise EngineLost(self.lost)
            op_id = self._send({"op": "generate", "requests": [request_to_wire(r) for r in requests]})
            answered: set[int] = set()
            while True:
                try:
                    msg = self._reply(op_id)
                except EngineLost as e:
                    for j in range(len(requests)):
                        if j not in answered:
                            yield j, Completion(text="", finish_reason="error", error=str(e)[:2000])
                    raise
                if msg["op"] == "done":
                    return
                answered.add(int(msg["i"]))
                yield int(msg["i"]), completion_from_wire(msg["completion"])

    def begin_close(self) -> None:
        self._send({"op": "close"})
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass

    def finish_close(self, deadline: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        self._finalizer()  # the group, whatever is left of it
        self._log_file.close()

    def close(self) -> None:
        self.begin_close()
        self.finish_close(time.monotonic() + CLOSE_GRACE_S)


class ProcessPoolRunner(DataParallelRunner):
    """`DataParallelRunner` over `ProcessEngine`s; closes its workers together."""

    name = "process-pool"

    def __init__(self, engines: Sequence[ProcessEngine], log_dir: Path):
        super().__init__(engines)
        self.workers = list(engines)
        self.log_dir = log_dir

    def render(self, request: ChatRequest) -> str | None:
        """Rendered by the first worker still alive."""
        for w in self.workers:
            if not w.lost:
                try:
                    return w.render(request)
                except EngineLost:
                    continue
        raise RuntimeError("every worker is lost: " + "; ".join(str(w.lost) for w in self.workers))

    def close(self) -> None:
        close_all(self.workers)
        if not any(w.lost for w in self.workers):
            shutil.rmtree(self.log_dir, ignore_errors=True)


def close_all(workers: Sequence[ProcessEngine], grace: float = CLOSE_GRACE_S) -> None:
    """Ask every worker to close, wait up to `grace` seconds for all, kill what is left."""
    busy = [w._lock.locked() for w in workers]  # mid-chunk (Ctrl-C, an error): its work is dropped
    for w in workers:
        w.begin_close()
    deadline = time.monotonic() + grace
    for w, mid_chunk in zip(workers, busy, strict=True):
        w.finish_close(0.0 if mid_chunk else deadline)


def device_groups(engines: int, per_engine: int) -> list[str]:
    """CUDA_VISIBLE_DEVICES of each engine: consecutive groups of this process's visible GPUs
    (its own CUDA_VISIBLE_DEVICES list when set, else 0, 1, ...)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [d.strip() for d in visible.split(",") if d.strip()] if visible else []
    need = engines * per_engine
    if visible and len(ids) < need:
        raise UsageError(f"{need} GPUs asked for, but CUDA_VISIBLE_DEVICES lists only {len(ids)}: {visible}")
    ids = ids or [str(i) for i in range(need)]
    return [",".join(ids[i * per_engine : (i + 1) * per_engine]) for i in range(engines)]


def gpus_per_engine(profile: RunnerProfile) -> int:
    """GPUs one engine of the profile takes (vLLM's tensor x pipeline parallel sizes, else 1)."""
    s = profile.settings
    return int(s.get("tensor_parallel_size") or 1) * int(s.get("pipeline_parallel_size") or 1)


def start_process_pool(
    profile: RunnerProfile,
    model: str | None,
    gpus: int,
    *,
    start_timeout: float = START_TIMEOUT_S,
) -> ProcessPoolRunner:
    """The profile's runner on `gpus` GPUs, one worker process per engine, loaded in parallel."""
    per = gpus_per_engine(profile)
    if gpus % per:
        raise UsageError(
            f"GPUS={gpus} is not a multiple of the {per} GPUs one engine of {profile.name} takes"
        )
    device = str(profile.settings.get("device", ""))
    if device.startswith("cuda:"):  # each worker sees only its own GPU, as cuda:0
        profile = dataclasses.replace(profile, settings={**profile.settings, "device": "cuda"})
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    log_dir = Path(tempfile.mkdtemp(prefix="evalkit-workers-"))
    workers: list[ProcessEngine] = []
    try:
        for i, devices in enumerate(device_groups(gpus // per, per)):
            workers.append(ProcessEngine(i, devices, log_dir / f"worker-{i}.log", env))
            workers[-1].start(profile, model)
        deadline = time.monotonic() + start_timeout
        for w in workers:
            w.wait_ready(deadline)
        return ProcessPoolRunner(workers, log_dir)
    except BaseException:
        close_all(workers, grace=0.0)  # a failed start: nobody waits for the others to load
        raise
