"""The contract every task keeps, checked for every task `list_tasks()` returns, in each mode its
spec declares (adding a task needs no edit here): its bundled sample builds into samples, a run
with a scripted model (and scripted judge and simulated user) writes a record for every planned
(item, repeat), metrics.json carries a finite headline figure under the metric it names, the
report is written, and a rerun makes no call: every one comes back from the store.

Long-context tasks size their prompts with the embedded tiny model's tokenizer (the profile's
model); two items and two repeats per task keep the module fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evalkit.pipeline import RunConfig, run_eval
from evalkit.records import ChatRequest
from evalkit.registry import get_task, list_tasks
from tests.fakes import ScriptedRunner

CASES = [(task, mode) for task in list_tasks() for mode in get_task(task).modes]


def model(req: ChatRequest) -> str:
    """An answer every family can read something from (a letter, a boxed number, code, JSON)."""
    return (
        "<think>\nShort.\n</think>\n" if req.enable_thinking else ""
    ) + 'The answer is \\boxed{42}.\nAnswer: B\n```python\nprint(42)\n```\n{"answer": "42"}'


def judge(req: ChatRequest) -> str:
    return '{"fluency": 1, "recall": 1, "precision": 1, "score": 2}\nScore: 75'


def user(req: ChatRequest) -> str:
    """The simulated user: one request, then the end of the conversation."""
    return "###STOP###" if len(req.messages) > 2 else "Please cancel my order."


def runners() -> dict[str, ScriptedRunner]:
    return {
        "model": ScriptedRunner(model),
        "judge": ScriptedRunner(judge, "judge"),
        "user": ScriptedRunner(user, "user"),
    }


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]


def timeless(records: list[dict]) -> list[dict]:
    """Records without the time a check took (math-verify's `check_s`)."""
    return [{**r, "details": {k: v for k, v in r["details"].items() if k != "check_s"}} for r in records]


@pytest.mark.parametrize(("task", "mode"), CASES, ids=[f"{t}-{m}" for t, m in CASES])
def test_task_runs_end_to_end_and_resumes(task: str, mode: str, tmp_path: Path) -> None:
    spec = get_task(task)
    cfg = RunConfig(task=task, mode=mode, limit=2, n=2, data="sample", results_dir=tmp_path, progress=False)
    first = runners()
    res = run_eval(cfg, runner=first.pop("model"), aux_runners=first)
    records = read_jsonl(res.run_dir / "samples.jsonl")
    assert not (res.run_dir / "errors.jsonl").exists()
    planned = {(r["id"], r["repeat"]) for r in records}
    assert len(records) == len(planned) == 2 * len({r["id"] for r in records}) == 4
    for r in records:
        assert isinstance(r["correct"], bool) and r["reason"], (r["id"], r["repeat"])
        assert 0.0 <= r["score"] <= 1.0

    metrics = json.loads((res.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["task"] == spec.name and metrics["mode"] == mode and not metrics["incomplete"]
    assert isinstance(metrics["metric"], str) and metrics["metric"]
    assert isinstance(metrics["value"], float) and math.isfinite(metrics["value"])
    assert (res.run_dir / "report.md").read_text(encoding="utf-8").strip()
    assert json.loads((res.run_dir / "run.json").read_text(encoding="utf-8"))["status"] == "finished"

    again = runners()
    rerun = run_eval(cfg, runner=again["model"], aux_runners={k: v for k, v in again.items() if k != "model"})
    assert rerun.run_dir == res.run_dir
    assert all(not r.calls for r in again.values())  # nothing generated: every call from the store
    assert rerun.metrics["calls_reused_from_store"] == sum(r["n_calls"] for r in records)
    assert timeless(read_jsonl(res.run_dir / "samples.jsonl")) == timeless(records)
