"""Data parallelism on one host: one engine per GPU, all fed from one queue.

`DataParallelRunner` wraps N runners of the same model and settings (one per device). A
`generate()` batch is cut into chunks that the engines pull from one queue as they free up
(a faster engine takes more), each engine in its own thread; completions are yielded as they
finish, each tagged with the index of its request in the whole batch, as the Runner interface
asks. Outputs do not depend on the number of engines (every request keeps its own seed), so
`describe()` is one engine's and the stores of a one-GPU run and an N-GPU run are shared.

Threads suit engines that spend their time outside the Python interpreter (CUDA kernels, CUDA
graphs, vLLM's engine processes); docs/scale-out.md says when to use this and when the
endpoint fan-out (one server per GPU, the `openai` runner) instead.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from evalkit.errors import UsageError
from evalkit.records import ChatRequest, Completion
from evalkit.registry import import_object
from evalkit.runners.base import Runner
from evalkit.runners.profiles import RunnerProfile, make_runner
from evalkit.wording import plural

# Chunks per engine in one generate() call: more balance the load, fewer keep each engine's
# own batches large (continuous batching wants many requests at once).
CHUNKS_PER_ENGINE = 4
_DONE = object()


class EngineLost(RuntimeError):
    """Raised by an engine's generate() when the engine is gone for good (its process died),
    after it has yielded an error completion for every request of the chunk it held. The other
    engines take the rest of the queue; when none is left, the caller gets a RuntimeError."""


class DataParallelRunner(Runner):
    name = "data-parallel"

    def __init__(self, engines: Sequence[Runner], chunks_per_engine: int = CHUNKS_PER_ENGINE):
        if not engines:
            raise UsageError("data parallelism needs at least one engine")
        if chunks_per_engine < 1:
            raise UsageError(f"chunks_per_engine must be a positive integer, got {chunks_per_engine}")
        first = engines[0].describe()
        for i, e in enumerate(engines[1:], 2):
            if e.describe() != first:
                raise UsageError(
                    f"engine {i} differs from engine 1 (model or settings): they must be replicas"
                )
        self.engines = list(engines)
        self.chunks_per_engine = chunks_per_engine

    def describe(self) -> dict[str, Any]:
        return self.engines[0].describe()

    def render(self, request: ChatRequest) -> str | None:
        return self.engines[0].render(request)

    @property
    def is_placeholder_model(self) -> bool:
        return self.engines[0].is_placeholder_model

    def max_context(self) -> int | None:
        return self.engines[0].max_context()

    def kv_bytes_per_token(self) -> int | None:
        return self.engines[0].kv_bytes_per_token()

    def kv_cache_budget_bytes(self) -> int | None:
        """N times the smallest engine's budget: a batch planned on it, cut in N or more chunks,
        gives every engine at most what fits in its own memory."""
        budgets = [e.kv_cache_budget_bytes() for e in self.engines]
        if any(b is None for b in budgets):
            return None
        return len(self.engines) * min(b for b in budgets if b is not None)

    def _chunks(self, n: int) -> list[tuple[int, int]]:
        size = max(1, math.ceil(n / (len(self.engines) * self.chunks_per_engine)))
        return [(lo, min(lo + size, n)) for lo in range(0, n, size)]

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        if len(self.engines) == 1:
            yield from self.engines[0].generate(requests)
            return
        work: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        for chunk in self._chunks(len(requests)):
            work.put(chunk)
        out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stop = threading.Event()
        lost: list[str] = []

        def serve(engine: Runner) -> None:
            try:
                while not stop.is_set():
                    try:
                        lo, hi = work.get_nowait()
                    except queue.Empty:
                        return
                    for j, completion in engine.generate(requests[lo:hi]):
                        if not 0 <= j < hi - lo:
                            raise RuntimeError(f"{type(engine).__name__} answered request {j} of {hi - lo}")
                        out.put((lo + j, completion))
            except EngineLost as e:  # this engine takes no more work; the others go on
                lost.append(str(e))
            except BaseException as e:  # handed to the caller's thread, which raises it
                out.put(e)
            finally:
                out.put(_DONE)

        threads = [threading.Thread(target=serve, args=(e,), daemon=True) for e in self.engines]
        for t in threads:
            t.start()
        running = len(threads)
        try:
            while running:
                item = out.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
            if not work.empty():
                raise RuntimeError(
                    f"every engine is lost, {plural(work.qsize(), 'chunk')} of requests unanswered: "
                    + "; ".join(lost)
                )
        finally:
            stop.set()  # engines finish the chunk they hold and take no other

    def close(self) -> None:
        for e in self.engines:
            e.close()


def visible_gpus() -> int:
    """CUDA devices this process sees (0 without CUDA)."""
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


DP_MODES = ("auto", "threads", "processes")


def make_engines(
    profile: RunnerProfile,
    model: str | None,
    gpus: int | None,
    make: Callable[[RunnerProfile, str | None], Runner] | None = None,
    dp: str = "auto",
) -> Runner:
    """The profile's runner on `gpus` GPUs of this host, one engine each, fed from one queue.

    `gpus` None: every visible GPU when the profile runs on them (a `device` of cuda/auto, or a
    local runner without a `device` setting such as vLLM), else one engine. `dp` says where the
    engines live: "threads" (in this process, one `cuda:i` each; needs a `device` setting),
    "processes" (one worker process per engine, evalkit.runners.process_pool), "auto" (threads
    where the profile has a `device` setting, else processes). A remote runner (`openai`) is
    refused: one server per GPU and the endpoint fan-out are the way (docs/scale-out.md)."""
    if dp not in DP_MODES:
        raise UsageError(f"DP must be one of {', '.join(DP_MODES)}, got {dp!r}")
    make = make or make_runner
    remote = bool(getattr(import_object(profile.runner), "remote_model", False))
    has_device = "device" in profile.settings
    if gpus is None:
        device = str(profile.settings.get("device", ""))
        on_gpus = device in ("cuda", "auto") or (not has_device and not remote)
        gpus = visible_gpus() if on_gpus else 1
    if gpus <= 1 and dp != "processes":
        return make(profile, model)
    if remote:
        raise UsageError(
            f"runner profile {profile.name} is a client of servers, so evalkit cannot place one engine per "
            "GPU: run one server per GPU (vllm serve, evalkit serve) and fan out "
            "with the openai runner (docs/scale-out.md)"
        )
    if dp == "auto":
        dp = "threads" if has_device else "processes"
    if dp == "processes":
        from evalkit.runners.process_pool import start_process_pool

        return start_process_pool(profile, model, max(gpus, 1))
    if not has_device:
        raise UsageError(
            f"runner profile {profile.name} has no device setting, so its engines cannot share one process: "
            "use processes (DP=processes, --dp processes)"
        )
    engines: list[Runner] = []
    try:
        for i in range(gpus):
            settings = {**profile.settings, "device": f"cuda:{i}"}
            engines.append(make(dataclasses.replace(profile, settings=settings), model))
    except BaseException:
        for e in engines:
            e.close()
        raise
    return DataParallelRunner(engines)
