"""The `openai` runner against a scripted server on loopback that misbehaves on purpose.

Every malformed 200 reply must come back as an error completion naming what is wrong
(never an empty answer, never a hang); `Retry-After` is honoured and capped.
"""

from __future__ import annotations

import email.utils
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from evalkit.records import ChatRequest, Completion, SamplingParams
from evalkit.runners.openai_api import OpenAIRunner, retry_after_seconds

OK = {"choices": [{"message": {"content": "Answer: A"}, "finish_reason": "stop"}]}


@dataclass
class Reply:
    status: int = 200
    body: bytes | object = field(default_factory=lambda: OK)
    headers: dict[str, str] = field(default_factory=dict)


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 that gives `replies` in turn (the last one from then on)
    and records when each request arrived."""

    def __init__(self, replies: list[Reply]):
        self.replies = replies
        self.arrivals: list[float] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.arrivals.append(time.monotonic())
                r = outer.replies[min(len(outer.arrivals), len(outer.replies)) - 1]
                payload = r.body if isinstance(r.body, bytes) else json.dumps(r.body).encode()
                self.send_response(r.status)
                for k, v in r.headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[object]:
    servers: list[ScriptedServer] = []

    def start(*replies: Reply) -> ScriptedServer:
        servers.append(ScriptedServer(list(replies)))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def ask(url: str, **settings: object) -> Completion:
    """One request through the runner, in a thread: a hang fails the test instead of stalling it."""
    runner = OpenAIRunner(
        "m",
        endpoints=[url],
        api_key_env=None,
        concurrency=1,
        **{"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.02, "timeout": 20, **settings},  # type: ignore[arg-type]
    )
    req = ChatRequest(messages=[{"role": "user", "content": "x"}], params=SamplingParams(max_new_tokens=4))
    got: list[tuple[int, Completion]] = []
    t = threading.Thread(target=lambda: got.extend(runner.generate([req])), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the client hung"
    ((i, c),) = got
    assert i == 0
    return c


MALFORMED: list[tuple[str, bytes | object, str]] = [
    ("choices holds a non-object", {"choices": ["Answer: A"]}, "'choices[0]' is a string, not an object"),
    ("choices holds a number", {"choices": [7]}, "'choices[0]' is a number"),
    ("message is a string", {"choices": [{"message": "Answer: A"}]}, "'choices[0].message' is a string"),
    (
        "usage is a list",
        {"choices": [{"message": {"content": "A"}}], "usage": [1, 2]},
        "'usage' is a list, not an object",
    ),
    (
        "usage count is a string",
        {"choices": [{"message": {"content": "A"}}], "usage": {"completion_tokens": "many"}},
        "'usage.completion_tokens' is 'many'",
    ),
    ("empty choice", {"choices": [{}]}, "'choices[0].message' is null"),
    ("null content", {"choices": [{"message": {"content": None}}]}, "'message.content' is null"),
    ("content is a number", {"choices": [{"message": {"content": 5}}]}, "'message.content' is a number"),
    ("no choices", {"id": "x"}, "'choices' is null, not a list"),
    ("choices empty", {"choices": []}, "'choices' is empty"),
    ("choices an object", {"choices": {"0": OK["choices"][0]}}, "'choices' is an object, not a list"),  # type: ignore[index]
    ("reply is a list", [OK], "the reply is a list, not an object"),
    ("reply is a string", "Answer: A", "the reply is a string"),
    ("not JSON", b"<html>502 Bad Gateway</html>", "not JSON"),
    ("not UTF-8", b"\xff\xfe\x00garbage", "not JSON"),
    ("empty body", b"", "not JSON"),
    (
        "tool_calls is a string",
        {"choices": [{"message": {"content": None, "tool_calls": "f(1)"}}]},
        "'message.tool_calls' is a string, not a list",
    ),
    (
        "tool call is a number",
        {"choices": [{"message": {"content": None, "tool_calls": [3]}}]},
        "'message.tool_calls[0]' is a number",
    ),
    (
        "reasoning is an object",
        {"choices": [{"message": {"content": "A", "reasoning_content": {"x": 1}}}]},
        "'reasoning_content' is an object",
    ),
    (
        "finished with error",
        {"choices": [{"message": {"content": ""}, "finish_reason": "error"}]},
        "finished the request with 'error'",
    ),
    ("error object in a 200", {"error": {"message": "overloaded"}}, "the server reported an error"),
]


@pytest.mark.parametrize(("shape", "body", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_reply_is_an_error_with_its_reason(serve, shape, body, reason):
    server = serve(Reply(body=body))
    c = ask(server.url)
    assert c.finish_reason == "error" and c.text == ""
    assert "malformed reply" in (c.error or "") and reason in (c.error or ""), c.error
    assert "after 2 attempts" in (c.error or "")
    assert len(server.arrivals) == 2  # malformed replies are retried like 5xx


def test_a_malformed_reply_then_a_good_one_is_an_answer(serve):
    server = serve(Reply(body={"choices": [{}]}), Reply())
    c = ask(server.url)
    assert (c.finish_reason, c.text, c.error) == ("stop", "Answer: A", None)


def test_empty_content_and_reasoning_only_replies_are_answers(serve):
    # An empty string is what the model said; null content beside reasoning is a think block that
    # never closed (a reasoning parser's output): both are answers, scored as such.
    assert ask(serve(Reply(body={"choices": [{"message": {"content": ""}}]})).url).text == ""
    c = ask(serve(Reply(body={"choices": [{"message": {"content": None, "reasoning_content": "hm"}}]})).url)
    assert (c.finish_reason, c.text, c.reasoning_content) == ("stop", "", "hm")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_exhausted_retries_are_an_error_with_the_status(serve, status):
    server = serve(Reply(status=status, body=b'{"error": "busy"}'))
    c = ask(server.url, max_retries=2)
    assert (
        c.finish_reason == "error"
        and f"HTTP {status}" in (c.error or "")
        and "after 3 attempts" in (c.error or "")
    )
    assert len(server.arrivals) == 3


def test_retry_after_seconds_is_honoured(serve):
    server = serve(Reply(status=429, headers={"Retry-After": "1"}), Reply())
    assert ask(server.url).text == "Answer: A"
    assert server.arrivals[1] - server.arrivals[0] >= 0.95  # backoff alone would wait ~0.01 s


def test_retry_after_http_date_is_honoured(serve):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: at least 1 s away
    server = serve(Reply(status=503, headers={"Retry-After": when}), Reply())
    assert ask(server.url).text == "Answer: A"
    assert server.arrivals[1] - server.arrivals[0] >= 0.95


def test_retry_after_is_capped(serve):
    server = serve(Reply(status=429, headers={"Retry-After": "86400"}), Reply())
    assert ask(server.url, retry_after_max=0.1).text == "Answer: A"  # not a day later


def test_retry_after_parsing():
    now = 1_000_000.0
    assert retry_after_seconds("5", 60, now) == 5.0
    assert retry_after_seconds(" 2.5 ", 60, now) == 2.5
    assert retry_after_seconds("-3", 60, now) == 0.0
    assert retry_after_seconds("600", 60, now) == 60.0
    assert retry_after_seconds(email.utils.formatdate(now + 30, usegmt=True), 60, now) == 30.0
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), 60, now) == 0.0
    assert retry_after_seconds(email.utils.formatdate(now + 9999, usegmt=True), 60, now) == 60.0
    for junk in (None, "", "soon", "nan", "Mon, 99 Foo 2026"):
        assert retry_after_seconds(junk, 60, now) is None


def test_evalkit_serve_passes_a_runner_failure_on_as_an_error(tmp_path):
    import socket

    import uvicorn

    from evalkit.serve import build_app
    from tests.fakes import FlakyRunner

    runner = FlakyRunner(lambda r: "Answer: B", failing={0, 1})  # fails twice, then answers
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(runner, "m"), host="127.0.0.1", port=port, log_level="error")
    )
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        failed = ask(f"http://127.0.0.1:{port}/v1", max_retries=0)
        assert failed.finish_reason == "error" and "HTTP 502" in (failed.error or "")
        assert "HTTP 503 on request 0" in (failed.error or "")  # the runner's own reason
        assert ask(f"http://127.0.0.1:{port}/v1", max_retries=1).text == "Answer: B"  # 502 is retried
    finally:
        server.should_exit = True
        t.join(10)
