"""`evalkit serve` + the `openai` runner over a real socket, against the in-process torch runner."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.pipeline import RunConfig, run_eval
from evalkit.records import ChatRequest, Completion, SamplingParams
from evalkit.runners.openai_api import OpenAIRunner, completion_from_response, request_body
from evalkit.serve import parse_request, response_body

REPO = Path(__file__).resolve().parents[2]
TINY_BATCH1 = (
    "runner: evalkit.runners.torch_int4.runner:TorchInt4Runner\nmodel: tiny\n"
    "settings: {device: cpu, dtype: float32, max_batch_size: 1}\nlimits: {max_new_tokens: 40}\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(profile: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalkit", "serve", "--runner", str(profile), "--port", str(port)],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            pass
        assert proc.poll() is None, "evalkit serve exited"
        time.sleep(0.2)
    raise AssertionError("evalkit serve did not come up")


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture
def profiles(tmp_path: Path) -> dict[str, Path]:
    local = tmp_path / "local.yaml"
    local.write_text(TINY_BATCH1)
    return {"local": local}


def client_profile(tmp_path: Path, endpoints: list[str], **settings: object) -> Path:
    p = tmp_path / f"client-{len(list(tmp_path.glob('client-*')))}.yaml"
    s = {
        "endpoints": endpoints,
        "concurrency": 4,
        "max_retries": 80,
        "backoff_base": 0.05,
        "backoff_max": 0.5,
        **settings,
    }
    p.write_text(
        "runner: evalkit.runners.openai_api:OpenAIRunner\nmodel: tiny\n"
        f"settings: {json.dumps(s)}\nlimits: {{max_new_tokens: 40}}\n"
    )
    return p


def samples(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]


@pytest.fixture
def server(profiles: dict[str, Path]) -> Iterator[int]:
    port = free_port()
    proc = start_server(profiles["local"], port)
    yield port
    kill(proc)


def test_served_run_matches_in_process_run(tmp_path, profiles, server):
    cfg = {"task": "kmmlu_pro", "limit": 6, "n": 1, "progress": False, "results_dir": tmp_path / "runs"}
    local = run_eval(RunConfig(runner=str(profiles["local"]), **cfg))
    served = run_eval(
        RunConfig(runner=str(client_profile(tmp_path, [f"http://127.0.0.1:{server}/v1"])), **cfg)
    )
    a, b = samples(local.run_dir), samples(served.run_dir)
    assert [(r["id"], r["extracted"], r["correct"], r["reason"]) for r in a] == [
        (r["id"], r["extracted"], r["correct"], r["reason"]) for r in b
    ]
    assert [r["raw"] for r in a] == [r["raw"] for r in b]  # greedy: the very same text
    assert [r["completion_tokens"] for r in a] == [r["completion_tokens"] for r in b]


class _Always503(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(503)
        self.end_headers()
        self.wfile.write(b'{"error": "overloaded"}')

    def log_message(self, *args: object) -> None:
        pass


def test_killed_server_and_failing_endpoint_lose_nothing(tmp_path, profiles):
    port = free_port()
    bad = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Always503)
    threading.Thread(target=bad.serve_forever, daemon=True).start()
    endpoints = [f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{bad.server_address[1]}/v1"]
    cfg = {"task": "kmmlu_pro", "limit": 8, "n": 2, "progress": False, "run_id": "r"}
    proc = start_server(profiles["local"], port)
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["res"] = run_eval(
                RunConfig(
                    runner=str(client_profile(tmp_path, endpoints)), results_dir=tmp_path / "served", **cfg
                )
            )
        except BaseException as e:  # surfaced by the assertion below
            result["err"] = e

    t = threading.Thread(target=run)
    t.start()
    store = tmp_path / "served" / "r" / "generations.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (store.exists() and store.read_text().count("\n") >= 4):
        time.sleep(0.02)
    assert t.is_alive(), "the run finished before the server could be killed"
    kill(proc)  # mid-run
    time.sleep(1.0)
    proc = start_server(profiles["local"], port)
    t.join(timeout=300)
    kill(proc)
    bad.shutdown()
    assert "err" not in result, result.get("err")
    recs = samples(tmp_path / "served" / "r")
    assert sorted((r["id"], r["repeat"]) for r in recs) == sorted(
        (str(i), k) for i in range(8) for k in range(2)
    )
    lines = [json.loads(x) for x in store.read_text().splitlines()[1:]]
    ok = [x for x in lines if x["completion"]["finish_reason"] != "error"]
    assert len(ok) == 16 and len({x["key"] for x in ok}) == 16  # every call answered exactly once
    reference = run_eval(RunConfig(runner=str(profiles["local"]), results_dir=tmp_path / "local", **cfg))
    assert [r["raw"] for r in recs] == [r["raw"] for r in samples(reference.run_dir)]


def test_request_and_response_mapping():
    req = ChatRequest(
        messages=[{"role": "user", "content": "hi"}],
        params=SamplingParams(
            temperature=0.6,
            top_p=0.95,
            top_k=20,
            presence_penalty=1.5,
            max_new_tokens=7,
            stop=("\n\n",),
            seed=3,
        ),
        enable_thinking=True,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
    )
    body = request_body("m", req, {"skip_special_tokens": False})
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert (body["top_k"], body["presence_penalty"], body["seed"], body["stop"]) == (20, 1.5, 3, ["\n\n"])
    assert body["skip_special_tokens"] is False and body["tools"][0]["function"]["name"] == "f"
    back = parse_request(body)  # the server reads what the client sends
    assert back.params == req.params and back.enable_thinking and back.tools == req.tools

    c = Completion(
        text="let me see</think>\n\nAnswer: B", finish_reason="stop", prompt_tokens=5, completion_tokens=9
    )
    inline = completion_from_response(response_body("m", c, reasoning_field=False, enable_thinking=True))
    assert inline.text == c.text and inline.reasoning_content is None and inline.completion_tokens == 9
    split = completion_from_response(response_body("m", c, reasoning_field=True, enable_thinking=True))
    assert (split.reasoning_content, split.text) == ("let me see", "Answer: B")


def test_server_parsed_tool_calls_become_exaone_blocks():
    data = {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": None,
                    "tool_calls": [
                        {"type": "function", "function": {"name": "roll", "arguments": '{"n": 6}'}},
                        {"type": "function", "function": {"name": "bad", "arguments": "{not json"}},
                    ],
                },
            }
        ]
    }
    c = completion_from_response(data)
    assert c.text == (
        '<tool_call>{"name": "roll", "arguments": {"n": 6}}</tool_call>\n'
        '<tool_call>{"name": "bad", "arguments": "{not json"}</tool_call>'
    )


@pytest.mark.parametrize(
    "body",
    [
        {"messages": []},
        {"messages": [{"content": "x"}]},
        {"messages": [{"role": "user", "content": "x"}], "stream": True},
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"},
    ],
)
def test_server_rejects_bad_requests(body):
    with pytest.raises(ValueError):
        parse_request(body)


def test_wrong_model_name_is_a_clear_error(server):
    runner = OpenAIRunner("not-served", endpoints=[f"http://127.0.0.1:{server}/v1"], max_retries=0)
    req = ChatRequest(messages=[{"role": "user", "content": "x"}], params=SamplingParams(max_new_tokens=2))
    with pytest.raises(Exception, match="not served here"):
        list(runner.generate([req]))


def test_unreachable_endpoint_gives_error_completions_not_a_crash():
    runner = OpenAIRunner(
        "tiny",
        endpoints=[f"http://127.0.0.1:{free_port()}/v1"],
        max_retries=2,
        backoff_base=0.01,
        backoff_max=0.02,
        timeout=2,
    )
    req = ChatRequest(messages=[{"role": "user", "content": "x"}], params=SamplingParams(max_new_tokens=2))
    ((i, c),) = list(runner.generate([req]))
    assert i == 0 and c.finish_reason == "error" and "Connect" in (c.error or "")


def test_api_key_comes_from_the_environment_and_is_not_described(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret")
    r = OpenAIRunner("m", endpoints="http://a/v1, http://b/v1", api_key_env="MY_KEY")
    assert r.endpoints == ["http://a/v1", "http://b/v1"]
    assert "sk-secret" not in json.dumps(r.describe())
