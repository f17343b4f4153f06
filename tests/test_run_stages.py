"""Several runs in one process: prepared separately, generated through ONE scheduler call with
one runner, finished separately, they write what separate `run_eval` calls write."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from evalkit.pipeline import RunConfig, finish_run, generate_runs, prepare_run, run_eval
from evalkit.records import ChatRequest, Completion
from tests.fakes import ScriptedRunner

# Wall-clock fields: the only ones allowed to differ between the two ways of running.
CLOCK = {"wall_time_s", "generation_time_s", "finished", "check_s", "mean_check_s"}


def timeless(x: object) -> object:
    if isinstance(x, dict):
        return {k: timeless(v) for k, v in x.items() if k not in CLOCK}
    if isinstance(x, list):
        return [timeless(v) for v in x]
    return x


def answer(req: ChatRequest) -> str:
    """A letter and a boxed number that depend on the prompt (so verdicts vary per item and per
    GPQA repeat, whose options are shuffled per repeat)."""
    h = int(hashlib.sha256(req.messages[-1]["content"].encode()).hexdigest(), 16)
    return f"Thinking done. \\boxed{{{h % 100}}}\nAnswer: {'ABCD'[h % 4]}"


class CountingRunner(ScriptedRunner):
    """Counts generate() calls (one scheduler round of single-turn tasks is one call)."""

    def __init__(self) -> None:
        super().__init__(answer)
        self.generate_calls = 0

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        self.generate_calls += 1
        yield from super().generate(requests)


def configs(results: Path) -> list[RunConfig]:
    common = {"limit": 3, "n": 2, "data": "sample", "results_dir": results, "progress": False}
    return [RunConfig(task="gpqa_diamond", **common), RunConfig(task="aime2025", **common)]  # type: ignore[arg-type]


def read(run_dir: Path) -> str:
    """samples.jsonl and metrics.json without their timings, as JSON text (NaN reads alike)."""
    records = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return json.dumps([timeless(records), timeless(metrics)], sort_keys=True)


def test_two_tasks_through_one_scheduler_call_match_two_separate_runs(tmp_path):
    apart_runner = CountingRunner()
    apart = [run_eval(cfg, runner=apart_runner) for cfg in configs(tmp_path / "apart")]
    assert apart_runner.generate_calls == 2

    together_runner = CountingRunner()
    prepared = [prepare_run(cfg, together_runner) for cfg in configs(tmp_path / "together")]
    assert all(json.loads((p.run_dir / "run.json").read_text())["status"] == "running" for p in prepared)
    generated = generate_runs(prepared, progress=False)
    together = [finish_run(p, g) for p, g in zip(prepared, generated, strict=True)]
    assert together_runner.generate_calls == 1  # both tasks' 12 requests in one batch
    assert len(together_runner.calls) == len(apart_runner.calls) == 12

    for a, t in zip(apart, together, strict=True):
        assert a.run_dir.name == t.run_dir.name  # the same run keys, so the same run ids
        assert read(a.run_dir) == read(t.run_dir)
        assert json.loads((t.run_dir / "run.json").read_text())["status"] == "finished"
        assert (t.run_dir / "report.md").is_file()
    gpqa = [json.loads(x) for x in (together[0].run_dir / "samples.jsonl").read_text().splitlines()]
    assert len({tuple(r["info"]["permutation"]) for r in gpqa}) > 1  # shuffled per repeat, as alone

    # A second combined generation resumes every call from the runs' stores.
    again_runner = CountingRunner()
    prepared = [prepare_run(cfg, again_runner) for cfg in configs(tmp_path / "together")]
    generated = generate_runs(prepared, progress=False)
    assert again_runner.generate_calls == 0 and [g.reused for g in generated] == [6, 6]
