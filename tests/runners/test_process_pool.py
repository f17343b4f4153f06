"""One engine per worker process (evalkit.runners.process_pool): the same completions and
describe() as the runner in-process, clear errors for workers that fail to start or die, and no
process left behind (on close, on a dead pool, on Ctrl-C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.errors import UsageError
from evalkit.records import ChatRequest, SamplingParams
from evalkit.runners.data_parallel import make_engines
from evalkit.runners.process_pool import ProcessPoolRunner, device_groups, start_process_pool
from evalkit.runners.profiles import RunnerProfile, load_profile, make_runner

REPO = Path(__file__).resolve().parents[2]


def _fake(cls: str, **settings: object) -> RunnerProfile:
    return RunnerProfile(
        name=cls, runner=f"tests.runners.process_fakes:{cls}", model="m", settings=dict(settings)
    )


def _chat(text: str, **params: object) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], params=SamplingParams(**params))  # type: ignore[arg-type]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _gone(pids: list[int], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(autouse=True)
def _logs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers' logs (kept where a worker failed) go under the test's tmp_path, not /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))


@pytest.fixture(scope="module")
def tiny_pool() -> Iterator[ProcessPoolRunner]:
    profile = load_profile("torch-int4")
    pool = start_process_pool(profile, None, 2)
    yield pool
    pids = [w.proc.pid for w in pool.workers]
    pool.close()
    assert _gone(pids)


def test_two_worker_processes_answer_as_the_runner_in_process(tiny_pool: ProcessPoolRunner) -> None:
    """Greedy and seeded sampling: every completion (text, token ids, finish reason, counts) is the
    in-process runner's, whichever worker took it; describe() and render() too."""
    requests = [
        _chat(
            f"Question {i}: what is {i} + {i}?",
            max_new_tokens=10,
            seed=50 + i,
            temperature=0.0 if i % 2 else 0.9,
        )
        for i in range(10)
    ]
    got = dict(tiny_pool.generate(requests))
    here = make_runner(load_profile("torch-int4"))
    try:
        want = dict(here.generate(requests))
        assert tiny_pool.describe() == here.describe()
        assert tiny_pool.render(requests[3]) == here.render(requests[3])
        assert tiny_pool.max_context() == here.max_context()
        assert tiny_pool.kv_bytes_per_token() == here.kv_bytes_per_token()
    finally:
        here.close()
    assert sorted(got) == list(range(10))
    for i in range(10):
        assert got[i] == want[i], i
    assert any(c.token_ids for c in got.values())


def test_a_runner_error_in_a_worker_is_raised_as_in_process() -> None:
    with start_process_pool(_fake("SlowEcho"), None, 2) as pool:
        with pytest.raises(UsageError, match="exceeds the context"):
            list(pool.generate([_chat("fine"), _chat("refuse this")]))
        got = dict(pool.generate([_chat(f"q{i}") for i in range(8)]))  # the workers serve on
    assert {c.text.split("@")[0] for c in got.values()} == {f"q{i}" for i in range(8)}
    assert {c.text.split("@")[1] for c in got.values()} <= {"0", "1"}  # each its own GPU


def test_lone_surrogates_and_any_unicode_cross_the_pipe_both_ways() -> None:
    """Prompts and completions are text the model or a dataset made, lone surrogates included:
    they travel as JSON escapes and come back unchanged (no lost reply, no hang)."""
    texts = ["lone \ud800 high", "lone \udfff low", "한국어 ¿sí? \u2028 \x00"]
    with start_process_pool(_fake("SlowEcho"), None, 2) as pool:
        got = dict(pool.generate([_chat(t) for t in texts]))
    assert [got[i].text.rsplit("@", 1)[0] for i in range(3)] == texts


@pytest.mark.parametrize(
    "profile,words",
    [
        (_fake("CrashOnLoad"), r"worker 0 \(CUDA_VISIBLE_DEVICES=0\) failed to start.*code 3.*out of memory"),
        (
            RunnerProfile(name="bad", runner="tests.runners.process_fakes:NoSuchRunner", model="m"),
            "NoSuchRunner",
        ),
    ],
)
def test_a_worker_that_fails_to_start_says_why_at_once(profile: RunnerProfile, words: str) -> None:
    t = time.monotonic()
    with pytest.raises((RuntimeError, UsageError), match=f"(?s){words}"):
        start_process_pool(profile, None, 2)
    assert time.monotonic() - t < 30


def test_a_worker_that_does_not_load_in_time_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    import evalkit.runners.process_pool as pp

    started: list[int] = []
    real = pp.ProcessEngine.start

    def start(self: pp.ProcessEngine, *a: object) -> None:
        started.append(self.proc.pid)
        real(self, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(pp.ProcessEngine, "start", start)
    with pytest.raises(RuntimeError, match="did not load its runner within"):
        start_process_pool(_fake("HangOnLoad"), None, 1, start_timeout=2)
    assert _gone(started)


def test_a_worker_killed_mid_batch_fails_its_chunk_and_the_other_finishes() -> None:
    """Design: the dead worker's chunk comes back as error completions (the store keeps them
    and a rerun retries them), the other worker takes the rest of the queue; with no worker
    left a batch raises."""
    pool = start_process_pool(_fake("SlowEcho", delay=0.05), None, 2)
    pids = [w.proc.pid for w in pool.workers]
    try:
        got = {}
        for i, c in pool.generate([_chat(f"q{i}") for i in range(40)]):
            got[i] = c
            if len(got) == 1:
                os.kill(pids[0], signal.SIGKILL)
        assert sorted(got) == list(range(40))
        failed = [c for c in got.values() if c.finish_reason == "error"]
        assert failed and len(failed) < 40
        assert all("worker 0 (CUDA_VISIBLE_DEVICES=0) exited with code -9" in (c.error or "") for c in failed)
        answered_by = {c.text.split("@")[1] for c in got.values() if c.finish_reason != "error"}
        assert "1" in answered_by and answered_by <= {"0", "1"}  # worker 0's are from before the kill
        again = dict(pool.generate([_chat(f"r{i}") for i in range(6)]))  # all on worker 1 now
        assert all(c.text.endswith("@1") for c in again.values())
        os.kill(pids[1], signal.SIGKILL)
        with pytest.raises(RuntimeError, match="every engine is lost"):
            list(pool.generate([_chat(f"s{i}") for i in range(6)]))
    finally:
        pool.close()
    assert _gone(pids)


_SCRIPT = """
import sys, time
from evalkit.records import ChatRequest, SamplingParams
from evalkit.runners.process_pool import start_process_pool
from evalkit.runners.profiles import RunnerProfile
profile = RunnerProfile(name="slow", runner="tests.runners.process_fakes:SlowEcho", model="m",
                        settings={"delay": 1.0})
pool = start_process_pool(profile, None, 2)
print(" ".join(str(w.proc.pid) for w in pool.workers), flush=True)
reqs = [ChatRequest(messages=[{"role": "user", "content": str(i)}], params=SamplingParams())
        for i in range(50)]
for i, c in pool.generate(reqs):
    print(i, flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_worker_outlives_a_pool_stopped_mid_batch(sig: signal.Signals) -> None:
    """Ctrl-C (the pool never closed explicitly) or SIGKILL of the pool's process: every worker
    goes too."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT)], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        parent.stdout.readline()  # generation is under way
        parent.send_signal(sig)
        parent.wait(timeout=30)
        assert _gone(pids), "a worker outlived its pool"
    finally:
        parent.kill()


def test_make_engines_chooses_processes_for_a_profile_without_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import evalkit.runners.data_parallel as dp

    with make_engines(_fake("SlowEcho"), None, 2) as runner:  # no device setting: processes
        assert isinstance(runner, ProcessPoolRunner) and len(runner.workers) == 2
    monkeypatch.setattr(dp, "visible_gpus", lambda: 3)  # GPUS unset: every visible GPU
    with make_engines(_fake("SlowEcho"), None, None) as runner:
        assert isinstance(runner, ProcessPoolRunner) and len(runner.workers) == 3
    with pytest.raises(UsageError, match="no device setting"):
        make_engines(_fake("SlowEcho"), None, 2, dp="threads")


def test_device_groups_follow_the_visible_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert device_groups(2, 1) == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert device_groups(2, 2) == ["4,5", "6,7"]
    with pytest.raises(UsageError, match="lists only 4"):
        device_groups(3, 2)


def test_a_run_through_worker_processes_is_the_run_in_process(
    tiny_pool: ProcessPoolRunner, tmp_path: Path
) -> None:
    """Same describe(), same request keys: the in-process run finds every call of the pooled run
    in the store (a run moves between one GPU and N processes and resumes)."""
    from evalkit.pipeline import RunConfig, run_eval

    cfg = RunConfig(task="kmmlu_pro", limit=3, n=1, max_new_tokens=8, progress=False, results_dir=tmp_path)
    pooled = run_eval(cfg, runner=tiny_pool)
    here = run_eval(cfg)
    assert here.run_dir == pooled.run_dir
    assert here.metrics["calls_reused_from_store"] == here.metrics["n_samples"] == 3


def test_evalkit_run_takes_gpus_and_dp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evalkit.cli import main

    profile = tmp_path / "echo.yaml"
    profile.write_text(
        "runner: tests.runners.process_fakes:SlowEcho\nmodel: m\nsettings: {delay: 0.3}\n", encoding="utf-8"
    )
    argv = ["run", "kmmlu_pro", "--runner", str(profile), "--data", "sample", "--limit", "4", "--n", "1"]
    argv += ["--results-dir", str(tmp_path / "runs"), "--no-progress", "--gpus", "2", "--dp", "processes"]
    assert main(argv) == 0
    samples = next((tmp_path / "runs").glob("*/samples.jsonl")).read_text(encoding="utf-8")
    assert "@0" in samples and "@1" in samples  # answered by both workers, each on its own GPU


def test_the_card_places_its_model_runner_per_gpus_and_dp(tmp_path: Path) -> None:
    """`evalkit card --gpus 2 --dp processes`: the card's one model runner is the pool."""
    from evalkit.cards.options import CardOptions
    from evalkit.cards.run import SharedRunners

    profile = tmp_path / "echo.yaml"
    profile.write_text("runner: tests.runners.process_fakes:SlowEcho\nmodel: m\n", encoding="utf-8")
    shared = SharedRunners(CardOptions(runner=str(profile), gpus=2, dp="processes"), "m")
    try:
        runner = shared.model_runner()
        assert isinstance(runner, ProcessPoolRunner) and len(runner.workers) == 2
        assert shared.model_runner() is runner and shared.loads == 1
    finally:
        shared.close()
    with pytest.raises(UsageError, match="no device setting"):
        SharedRunners(CardOptions(runner=str(profile), gpus=2, dp="threads"), "m").model_runner()
