"""The runner contract: every runner that can run on this machine passes the same checks.

Parametrized over the runners, not over a list of checks per runner: the scripted test runner,
torch-int4 on the embedded tiny model with each engine (the fast one runs its kernels' torch
twins on a CPU), transformers on the tiny fp32 model, the OpenAI-compatible client against an
in-process `evalkit serve` (over a real socket), and vLLM (skipped where it cannot run). A new
runner joins by adding one builder to ``BUILDERS``.

What every runner must do: ``generate()`` yields exactly one well-formed ``Completion`` per
request, honours ``max_new_tokens``, is deterministic when greedy, and answers requests of any
role; ``describe()`` is JSON, stable, and changes with a setting that changes results; a runner
that reports its KV memory gets a plan whose bytes per token are the one KV-size formula's
(``evalkit.kv_planning.KVShape``), and one that does not gets no plan.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evalkit.kv_planning import KVShape, planner_for
from evalkit.models import resolve_model
from evalkit.records import ChatRequest, SamplingParams
from evalkit.runners.base import Runner
from tests.fakes import ScriptedRunner

# The fast engine's longest sequence on a CPU (its pool holds max_batch_size of them).
FAST_MAX_SEQ_LEN = 512


@dataclass
class Case:
    runner: Runner
    # The same runner with one setting changed that changes its outputs.
    changed: Callable[[], Runner]
    # The model directory whose config.json and tokenizer the runner uses (None: no model files).
    model_dir: Path | None = None
    # Bytes per element of the runner's KV cache, where it reports its KV memory (None: it does not).
    kv_dtype_bytes: int | None = None
    # Whether the runner also reports a KV-cache budget here (so that planning applies).
    plans: bool = False


def _torch_int4(engine: str) -> Case:
    from evalkit.runners.torch_int4.runner import TorchInt4Runner

    def make(**kw: Any) -> Runner:
        return TorchInt4Runner(
            "tiny", device="cpu", max_batch_size=2, engine=engine, max_seq_len=FAST_MAX_SEQ_LEN, **kw
        )

    other = "reference" if engine == "fast" else "fast"
    return Case(
        runner=make(),
        # The engine is a result-changing setting (other kernels, other rounding); so is the dtype.
        changed=lambda: TorchInt4Runner("tiny", device="cpu", engine=other, max_seq_len=FAST_MAX_SEQ_LEN),
        model_dir=resolve_model("tiny"),
        kv_dtype_bytes=4,
        plans=engine == "fast",  # the fast engine's block pool is its budget; a CPU is not planned
    )


def _transformers() -> Case:
    from evalkit.runners.hf_transformers import TransformersRunner

    return Case(
        runner=TransformersRunner("tiny-fp32", device="cpu"),
        changed=lambda: TransformersRunner("tiny-fp32", device="cpu", dtype="bfloat16"),
        model_dir=resolve_model("tiny-fp32"),
        kv_dtype_bytes=4,
    )


def _data_parallel() -> Case:
    """Two fast-engine replicas behind one queue (evalkit.runners.data_parallel), as on two GPUs."""
    from evalkit.runners.data_parallel import DataParallelRunner

    def pair(engine: str) -> Runner:
        return DataParallelRunner([_torch_int4(engine).runner for _ in range(2)])

    case = _torch_int4("fast")
    case.runner.close()
    return dataclasses.replace(case, runner=pair("fast"), changed=lambda: pair("reference"))


def _process_pool() -> Case:
    """Two fast-engine workers, each in its own process (evalkit.runners.process_pool)."""
    from evalkit.runners.process_pool import start_process_pool
    from evalkit.runners.profiles import RunnerProfile

    def pool(engine: str, workers: int) -> Runner:
        settings = {"device": "cpu", "max_batch_size": 2, "engine": engine, "max_seq_len": FAST_MAX_SEQ_LEN}
        profile = RunnerProfile(
            name="t",
            runner="evalkit.runners.torch_int4.runner:TorchInt4Runner",
            model="tiny",
            settings=settings,
        )
        return start_process_pool(profile, None, workers)

    return Case(
        runner=pool("fast", 2),
        changed=lambda: pool("reference", 1),
        model_dir=resolve_model("tiny"),
        kv_dtype_bytes=4,
        plans=True,  # the budget is the workers' block pools
    )


def _scripted() -> Case:
    return Case(
        runner=ScriptedRunner(lambda r: "ok"), changed=lambda: ScriptedRunner(lambda r: "ok", tag="v2")
    )


def _openai() -> Case:
    from evalkit.runners.openai_api import OpenAIRunner

    url = _server()
    return Case(
        runner=OpenAIRunner("tiny", endpoints=[url], api_key_env=None, max_retries=0),
        changed=lambda: OpenAIRunner("tiny", endpoints=[url], api_key_env=None, extra_body={"top_k": 5}),
    )


def _vllm() -> Case:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not importable here (its runner is checked on a GPU machine)")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vllm needs a CUDA device")
    from evalkit.runners.vllm_runner import VLLMRunner

    def make(dtype: str) -> Runner:
        return VLLMRunner(
            "tiny", dtype=dtype, max_model_len=2048, gpu_memory_utilization=0.3, enforce_eager=True
        )

    return Case(
        runner=make("float16"),
        changed=lambda: make("bfloat16"),
        model_dir=resolve_model("tiny"),
        kv_dtype_bytes=2,  # the model's dtype (kv_cache_dtype auto)
        plans=True,  # the KV cache vLLM allocated
    )


BUILDERS: dict[str, Callable[[], Case]] = {
    "scripted": _scripted,
    "torch_int4-reference": lambda: _torch_int4("reference"),
    "torch_int4-fast": lambda: _torch_int4("fast"),
    "transformers": _transformers,
    "data-parallel": _data_parallel,
    "process-pool": _process_pool,
    "openai": _openai,
    "vllm": _vllm,
}

_servers: list[Any] = []


def _server() -> str:
    """An in-process `evalkit serve` app on a free loopback port, backed by the tiny torch-int4
    runner; its base URL."""
    import uvicorn

    from evalkit.runners.torch_int4.runner import TorchInt4Runner
    from evalkit.serve import build_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    backend = TorchInt4Runner("tiny", device="cpu", max_batch_size=2)
    server = uvicorn.Server(
        uvicorn.Config(build_app(backend, "tiny"), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _servers.append((server, thread))
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "evalkit serve did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module", autouse=True)
def _stop_servers() -> Iterator[None]:
    yield
    for server, thread in _servers:
        server.should_exit = True
        thread.join(10)


# Builders that start processes: checked by `make check-data`, kept out of `make test`'s time.
SLOW_BUILDERS = {"process-pool"}


@pytest.fixture(
    scope="module",
    params=[pytest.param(k, marks=pytest.mark.slow) if k in SLOW_BUILDERS else k for k in BUILDERS],
)
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    built = BUILDERS[request.param]()
    yield built
    built.runner.close()


def chat(text: str, *, role: str = "model", **params: Any) -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": text}], params=SamplingParams(**params), role=role
    )


REQUESTS = [
    chat("What is 2+2?", max_new_tokens=5),
    chat("Name a colour. " * 6, max_new_tokens=1),
    chat("안녕하세요", max_new_tokens=8),
]


def test_generate_yields_one_wellformed_completion_per_request(case: Case) -> None:
    got = list(case.runner.generate(REQUESTS))
    assert sorted(i for i, _ in got) == list(range(len(REQUESTS)))  # each index exactly once
    for i, c in got:
        budget = REQUESTS[i].params.max_new_tokens
        assert isinstance(c.text, str)
        assert c.finish_reason in ("stop", "length"), (i, c.finish_reason, c.error)
        assert c.prompt_tokens > 0
        assert 0 <= c.completion_tokens <= budget
        if c.finish_reason == "length":
            assert c.completion_tokens == budget
        if c.token_ids is not None:
            assert len(c.token_ids) == c.completion_tokens
    assert list(case.runner.generate([])) == []


def test_greedy_generation_is_deterministic(case: Case) -> None:
    first = dict(case.runner.generate(REQUESTS))
    again = dict(case.runner.generate(list(reversed(REQUESTS))))
    n = len(REQUESTS)
    for i in range(n):
        a, b = first[i], again[n - 1 - i]
        assert (a.text, a.token_ids, a.completion_tokens) == (b.text, b.token_ids, b.completion_tokens)


def test_requests_of_any_role_are_answered(case: Case) -> None:
    """The scheduler routes a role's requests to the runner the run gave that role; the runner
    itself answers whatever role a request carries, exactly as it answers the model's."""
    as_model = dict(case.runner.generate(REQUESTS[:2]))
    for role in ("judge", "user_simulator"):
        other = dict(case.runner.generate([dataclasses.replace(r, role=role) for r in REQUESTS[:2]]))
        assert [other[i].text for i in range(2)] == [as_model[i].text for i in range(2)]


def test_describe_is_json_stable_and_tracks_result_changing_settings(case: Case) -> None:
    d = case.runner.describe()
    assert json.loads(json.dumps(d)) == d
    assert json.dumps(case.runner.describe()) == json.dumps(d)  # stable, key order included
    assert isinstance(d.get("runner"), str)
    changed = case.changed()
    try:
        assert changed.describe() != d
    finally:
        changed.close()


def test_kv_planning_follows_the_one_formula(case: Case) -> None:
    runner = case.runner
    per_token = runner.kv_bytes_per_token()
    if case.kv_dtype_bytes is None:
        assert per_token is None
    else:
        assert case.model_dir is not None
        config = json.loads((case.model_dir / "config.json").read_text())
        assert per_token == KVShape.from_hf_config(config, case.kv_dtype_bytes).bytes_per_token()

    def tokenizer() -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(case.model_dir)

    planner = planner_for(runner, tokenizer)
    if not case.plans:
        assert planner is None
        return
    budget = runner.kv_cache_budget_bytes()
    assert planner is not None and per_token and budget
    assert (planner.kv_bytes_per_token, planner.budget_bytes) == (per_token, budget)
    assert planner.max_sequence_tokens == min(budget // per_token, runner.max_context() or budget)
    from evalkit.runners.torch_int4.runner import TorchInt4Runner

    if isinstance(runner, TorchInt4Runner):
        fast_pool_follows_the_formula(runner)


def fast_pool_follows_the_formula(runner: Any) -> None:
    """The fast engine's pool (its budget) holds max_batch_size sequences of max_seq_len tokens
    by KV(T), the formula with sliding windows; the per-token unit counts every layer in full,
    so KV(T) never exceeds it."""
    from evalkit.runners.torch_int4.kv_cache import kv_shape

    shape = kv_shape(runner.cfg, runner.dtype)
    budget = runner.kv_cache_budget_bytes()
    assert budget is not None and budget >= 2 * shape.sequence_bytes(FAST_MAX_SEQ_LEN)
    assert shape.sequence_bytes(FAST_MAX_SEQ_LEN) <= FAST_MAX_SEQ_LEN * runner.kv_bytes_per_token()


def test_torch_int4_describe_is_pinned_for_both_engines() -> None:
    """describe() enters every cache key: the engine refactor of issue 20 (and any later one)
    must leave it byte for byte as stored runs have it."""
    from evalkit.runners.torch_int4.runner import TorchInt4Runner

    fingerprint = "64bb84f2cb3b71ec41bed45a89d17e4882b85d7a5a8b32668e8dfecf0ba1b4db"  # embedded "tiny"
    base = (
        f'{{"runner": "torch_int4", "model_fingerprint": "{fingerprint}", "model": "tiny", '
        '"dtype": "float32", "device_type": "cpu"'
    )
    for engine, tail in (("reference", "}"), ("fast", ', "engine": "fast-paged"}')):
        r = TorchInt4Runner("tiny", device="cpu", engine=engine, max_seq_len=FAST_MAX_SEQ_LEN)
        assert json.dumps(r.describe()) == base + tail
        r.close()
