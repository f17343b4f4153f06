"""tau-bench through the CLI with a scripted user simulator and a scripted agent, each served
by a local OpenAI-compatible server over a real socket (the `openai` runner on both sides)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from evalkit.cli import main
from evalkit.records import ChatRequest
from evalkit.serve import build_app
from tests.fakes import ScriptedRunner

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "tau_bench"


def _serve(script: Callable[[ChatRequest], str], name: str) -> tuple[int, uvicorn.Server]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(ScriptedRunner(script, tag=name), name), host="127.0.0.1", port=port, log_level="error"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    assert server.started
    return port, server


@pytest.fixture
def scripted_servers() -> Iterator[tuple[int, int, list[dict]]]:
    rec = json.loads((DATA / "airline_tasks_test.jsonl").read_text().split("\n")[0])
    actions = rec["actions"]

    def agent(req: ChatRequest) -> str:
        assert req.tools, "the agent must be offered the domain's tools"
        done = sum(1 for m in req.messages if m["role"] == "tool")
        if done < len(actions):
            a = actions[done]
            return json.dumps({"name": a["name"], "arguments": a["kwargs"]}).join(
                ("<tool_call>", "</tool_call>")
            )
        return "Your reservation is done."

    def user(req: ChatRequest) -> str:  # a fixed script: ask once, then stop
        return "###STOP###" if len(req.messages) > 2 else "Hi, I need to change my flight."

    agent_port, agent_srv = _serve(agent, "agent")
    user_port, user_srv = _serve(user, "user")
    yield agent_port, user_port, actions
    agent_srv.should_exit = user_srv.should_exit = True


def _profile(path: Path, model: str, port: int) -> Path:
    path.write_text(
        f"runner: evalkit.runners.openai_api:OpenAIRunner\nmodel: {model}\n"
        f"settings: {{endpoints: ['http://127.0.0.1:{port}/v1'], concurrency: 2}}\n"
    )
    return path


def test_cli_runs_tau_bench_with_a_served_user_simulator(tmp_path, monkeypatch, scripted_servers):
    agent_port, user_port, actions = scripted_servers
    monkeypatch.setenv("EVALKIT_TAU_DATA", str(DATA))
    rc = main(
        [
            "run",
            "tau_bench_airline",
            "--runner",
            str(_profile(tmp_path / "agent.yaml", "agent", agent_port)),
            "--user-sim",
            str(_profile(tmp_path / "user.yaml", "user", user_port)),
            "--limit",
            "1",
            "--n",
            "2",
            "--data",
            "sample",
            "--results-dir",
            str(tmp_path / "runs"),
            "--no-progress",
        ]
    )
    assert rc == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["value"] == 1.0 and metrics["pass_hat_k"]["pass^2"] == 1.0
    rows = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().split("\n") if x]
    info = rows[0]["info"]
    assert [c["name"] for c in info["tool_calls"]] == [a["name"] for a in actions]
    assert info["user_turns"][-1] == "###STOP###"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["runner"]["runner"] == "openai"  # the agent really went over HTTP
    assert run["aux_runners"]["user"]["model"] == "user"  # the simulator is recorded with the run
    assert metrics["aux_runners"] == run["aux_runners"]
