"""Data parallelism on one host: one batch split over engines fed from one queue, every
completion back under its request's index; checked with scripted engines on the CPU."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import evalkit.runners.data_parallel as dp
from evalkit.errors import UsageError
from evalkit.pipeline import RunConfig, run_eval
from evalkit.records import ChatRequest, Completion, SamplingParams
from evalkit.runners.data_parallel import DataParallelRunner, make_engines
from evalkit.runners.profiles import load_profile
from tests.fakes import ScriptedRunner


def _requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest(messages=[{"role": "user", "content": f"q{i}"}], params=SamplingParams(temperature=0.0))
        for i in range(n)
    ]


def _echo(req: ChatRequest) -> str:
    return f"answer to {req.messages[0]['content']}"


def test_every_request_is_answered_once_under_its_own_index() -> None:
    engines = [ScriptedRunner(_echo) for _ in range(3)]  # each yields its chunk in reverse order
    reqs = _requests(50)
    got = list(DataParallelRunner(engines).generate(reqs))
    assert sorted(i for i, _ in got) == list(range(50))
    assert all(c.text == f"answer to q{i}" for i, c in got)
    assert sum(len(e.calls) for e in engines) == 50


class _Gated(ScriptedRunner):
    """An engine held on its first chunk until `release` is set (a slow GPU)."""

    def __init__(self, release: threading.Event):
        super().__init__(_echo)
        self.release = release

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        self.release.wait(timeout=30)
        yield from super().generate(requests)


def test_a_free_engine_takes_the_work_a_busy_one_cannot() -> None:
    """Fed from one queue: while engine 1 is held on its first chunk, engine 2 answers all the
    others (a split fixed in advance would leave half the batch waiting on engine 1)."""
    release = threading.Event()
    slow, fast = _Gated(release), ScriptedRunner(_echo)
    runner = DataParallelRunner([slow, fast], chunks_per_engine=4)  # 8 chunks of 5 for 40 requests
    got: dict[int, str] = {}
    for i, c in runner.generate(_requests(40)):
        got[i] = c.text
        if len(got) == 35:
            release.set()  # all but the held chunk are in
    assert len(got) == 40 and len(slow.calls) == 5 and len(fast.calls) == 35


class _Broken(ScriptedRunner):
    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        raise RuntimeError("CUDA error: device-side assert")
        yield  # a generator


class _WrongIndex(ScriptedRunner):
    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        for i, c in super().generate(requests):
            yield i + len(requests), c


@pytest.mark.parametrize("bad,words", [(_Broken, "device-side assert"), (_WrongIndex, "answered request")])
def test_an_engine_failure_reaches_the_caller(bad: Any, words: str) -> None:
    release = threading.Event()  # the good engine holds its first chunk: the bad one gets work
    runner = DataParallelRunner([_Gated(release), bad(_echo)])
    try:
        with pytest.raises(RuntimeError, match=words):
            list(runner.generate(_requests(20)))
    finally:
        release.set()


def test_engines_must_be_replicas() -> None:
    with pytest.raises(UsageError, match="engine 2 differs"):
        DataParallelRunner([ScriptedRunner(_echo, tag="a"), ScriptedRunner(_echo, tag="b")])


def test_a_run_on_two_engines_is_the_run_on_one(tmp_path: Path) -> None:
    """The same cache key and the same records: a run moves between GPU counts and resumes."""
    cfg = RunConfig(task="kmmlu_pro", n=2, data="sample", progress=False, results_dir=tmp_path)
    one = run_eval(cfg, runner=ScriptedRunner(lambda r: "Answer: A"))
    two = run_eval(cfg, runner=DataParallelRunner([ScriptedRunner(lambda r: "Answer: A") for _ in range(2)]))
    assert two.run_dir == one.run_dir and two.metrics["value"] == one.metrics["value"]
    assert two.metrics["calls_reused_from_store"] == one.metrics["n_samples"]


def test_make_engines_places_one_engine_per_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []

    def fake(profile: Any, model: str | None = None) -> ScriptedRunner:
        made.append(dict(profile.settings))
        return ScriptedRunner(_echo)

    monkeypatch.setattr(dp, "make_runner", fake)
    profile = load_profile("exaone-4.0-32b-gptq")
    runner = make_engines(profile, None, 2)
    assert isinstance(runner, DataParallelRunner) and len(runner.engines) == 2
    assert [m["device"] for m in made] == ["cuda:0", "cuda:1"]
    assert not isinstance(make_engines(profile, None, 1), DataParallelRunner)
    monkeypatch.setattr(dp, "visible_gpus", lambda: 0)  # GPUS unset: every visible GPU (here none)
    assert not isinstance(make_engines(profile, None, None), DataParallelRunner)
    with pytest.raises(UsageError, match="one server per GPU"):
        make_engines(load_profile("openai"), None, 2)
