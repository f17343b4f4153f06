"""tau-bench: every gold trajectory earns reward 1, and a scripted episode runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.benchmarks.tau_bench.env import TauEnv, gold_state, load_db, parse_task, reward
from evalkit.pipeline import RunConfig, run_eval
from evalkit.records import ChatRequest
from tests.fakes import ScriptedRunner

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "tau_bench"


@pytest.mark.parametrize(("domain", "n"), [("airline", 50), ("retail", 115)])
def test_gold_actions_replayed_earn_reward_one_for_every_task(domain, n):
    rows = [json.loads(x) for x in (DATA / f"{domain}_tasks_test.jsonl").read_text().splitlines()]
    assert len(rows) == n
    changed = 0
    for i, rec in enumerate(rows):
        task = parse_task(rec, "tasks", i + 1)
        env = gold_state(DATA, domain, task)
        changed += any(c["db_diff"] for c in env.calls)
        assert reward(DATA, domain, task, env.data, list(task.outputs)).reward == 1.0, i
    assert changed > n // 2  # most tasks write to the database: the replay really ran


def test_wrong_state_or_missing_output_earns_zero():
    rec = json.loads((DATA / "airline_tasks_test.jsonl").read_text().splitlines()[0])
    task = parse_task(rec, "tasks", 1)
    untouched = TauEnv("airline", load_db(DATA, "airline"))
    assert reward(DATA, "airline", task, untouched.data, []).reward == 0.0
    out_task = next(
        parse_task(json.loads(x), "t", 0)
        for x in (DATA / "retail_tasks_test.jsonl").read_text().splitlines()
        if json.loads(x).get("outputs")
    )
    env = gold_state(DATA, "retail", out_task)
    assert reward(DATA, "retail", out_task, env.data, ["nothing useful"]).reward == 0.0


def test_scripted_episode_end_to_end(tmp_path, monkeypatch):
    """The model replays the gold actions as tool calls, then says the outputs; the user stops."""
    monkeypatch.setenv("EVALKIT_TAU_DATA", str(DATA))
    rec = json.loads((DATA / "airline_tasks_test.jsonl").read_text().splitlines()[0])
    actions = rec["actions"]

    def model(req: ChatRequest) -> str:
        done = sum(1 for m in req.messages if m["role"] == "tool")
        if done < len(actions):
            a = actions[done]
            return f'<tool_call>{{"name": "{a["name"]}", "arguments": {json.dumps(a["kwargs"])}}}</tool_call>'
        return "Your booking is complete."

    def user(req: ChatRequest) -> str:
        return "###STOP###" if len(req.messages) > 2 else "I want to book a flight."

    res = run_eval(
        RunConfig(
            task="tau_bench_airline", limit=1, n=2, results_dir=tmp_path, progress=False, data="sample"
        ),
        runner=ScriptedRunner(model),
        aux_runners={"user": ScriptedRunner(user, tag="user")},
    )
    assert res.metrics["value"] == 1.0
    assert res.metrics["pass_hat_k"]["pass^2"] == 1.0
    rows = [json.loads(x) for x in (res.run_dir / "samples.jsonl").read_text().splitlines()]
    info = rows[0]["info"]
    assert [c["name"] for c in info["tool_calls"]] == [a["name"] for a in actions]
    assert info["user_turns"][-1] == "###STOP###" and info["end"] == "user stop"
    assert any(c["db_diff"] for c in info["tool_calls"])
