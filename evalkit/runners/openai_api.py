"""The `openai` runner: a client for OpenAI-compatible chat-completions servers.

Any number of endpoints serve one model (`vllm serve`, `evalkit serve`, others). Requests
go into one shared queue that every endpoint's workers pull from, so a slow endpoint takes
less work and a failing one hands its requests back for the others (work stealing).
Retries with exponential backoff cover 429, 5xx, timeouts, dropped connections and
malformed replies, waiting at least what a `Retry-After` header asks (capped); a request
that still fails comes back as a completion with finish_reason "error" and the reason,
which the store keeps but never reuses, so a rerun retries it, and which is never scored.
API keys come from the environment only and are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import json
import os
import queue
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.errors import UsageError
from evalkit.models import is_tiny
from evalkit.records import ChatRequest, Completion
from evalkit.runners.base import Runner

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL_STATUS = {401, 403, 404}  # wrong key or model name: every request would fail the same way


@dataclass
class _Outcome:
    """What one attempt of one request came to."""

    completion: Completion | None = None
    error: str = ""
    retryable: bool = True
    retry_after: float | None = None  # seconds the server asked to wait
    fatal: BaseException | None = None  # every request would fail the same way: stop the run


@dataclass
class _Endpoint:
    url: str
    failures: int = 0  # consecutive
    cool_until: float = 0.0


def request_body(model: str, req: ChatRequest, extra_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of one chat-completions call (vLLM's extensions included)."""
    p = req.params
    body: dict[str, Any] = {
        "model": model,
        "messages": req.messages,
        "max_tokens": p.max_new_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "n": 1,
        "chat_template_kwargs": {"enable_thinking": req.enable_thinking},
    }
    if p.top_k > 0:
        body["top_k"] = p.top_k
    if p.presence_penalty:
        body["presence_penalty"] = p.presence_penalty
    if p.stop:
        body["stop"] = list(p.stop)
    if p.seed is not None:
        body["seed"] = p.seed
    if req.tools:
        body["tools"] = req.tools
    body.update(extra_body or {})
    return body


class MalformedReply(ValueError):
    """A 200 reply that is not a usable chat completion; the message says what is wrong."""


_KINDS: dict[type, str] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


def _kind(x: Any) -> str:
    """How a reply's field is described in an error: "a list", "null", "a number"."""
    return "null" if x is None else _KINDS.get(type(x), f"of type {type(x).__name__}")


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise MalformedReply(what)


def _token_count(usage: dict[str, Any], name: str) -> int:
    n = usage.get(name)
    if n is None:
        return 0
    _need(isinstance(n, int) and not isinstance(n, bool) and n >= 0, f"'usage.{name}' is {n!r}, not a count")
    return int(n)


def _tool_call_blocks(calls: Any) -> list[str]:
    """Server-parsed tool calls as EXAONE `<tool_call>` blocks (the text evalkit's parser reads)."""
    _need(calls is None or isinstance(calls, list), f"'message.tool_calls' is {_kind(calls)}, not a list")
    blocks = []
    for k, call in enumerate(calls or []):
        _need(isinstance(call, dict), f"'message.tool_calls[{k}]' is {_kind(call)}, not an object")
        fn = call.get("function", call)
        _need(isinstance(fn, dict), f"'message.tool_calls[{k}].function' is {_kind(fn)}, not an object")
        args = fn.get("arguments", {})
        if isinstance(args, str):
            with contextlib.suppress(json.JSONDecodeError):  # else keep the string: the checker judges it
                args = json.loads(args)
        block = json.dumps({"name": fn.get("name"), "arguments": args}, ensure_ascii=False)
        blocks.append(f"<tool_call>{block}</tool_call>")
    return blocks


def completion_from_response(data: Any) -> Completion:
    """Map a chat-completions response to a Completion, keeping the raw text evalkit parses.

    Reasoning a server split off (`reasoning_content`, or `reasoning` in newer vLLM) is kept
    separately; tool calls a server parsed are written back as EXAONE `<tool_call>` blocks so
    that evalkit's own parser scores every runner the same way. A reply that holds no answer
    (no choice, no message, null content without tool calls or reasoning, a field of the
    wrong type, a choice the server finished with "error") raises MalformedReply saying why:
    it is a failed request, never an empty answer.
    """
    _need(isinstance(data, dict), f"the reply is {_kind(data)}, not an object")
    if "choices" not in data and "error" in data:
        raise MalformedReply(f"the server reported an error: {str(data['error'])[:200]}")
    choices = data.get("choices")
    _need(isinstance(choices, list), f"'choices' is {_kind(choices)}, not a list")
    _need(bool(choices), "'choices' is empty")
    choice = choices[0]
    _need(isinstance(choice, dict), f"'choices[0]' is {_kind(choice)}, not an object")
    reason = choice.get("finish_reason")
    _need(reason not in ("error", "abort"), f"the server finished the request with {reason!r}")
    msg = choice.get("message")
    _need(isinstance(msg, dict), f"'choices[0].message' is {_kind(msg)}, not an object")
    content = msg.get("content")
    _need(content is None or isinstance(content, str), f"'message.content' is {_kind(content)}, not a string")
    reasoning = msg.get("reasoning_content", msg.get("reasoning"))
    _need(reasoning is None or isinstance(reasoning, str), f"'reasoning_content' is {_kind(reasoning)}")
    blocks = _tool_call_blocks(msg.get("tool_calls"))
    # A reasoning parser leaves content null when the think block never closed: that is an answer
    # (scored as no answer); null content with nothing else is not.
    _need(content is not None or bool(blocks) or reasoning is not None, "'message.content' is null")
    usage = data.get("usage")
    _need(usage is None or isinstance(usage, dict), f"'usage' is {_kind(usage)}, not an object")
    usage = usage or {}
    return Completion(
        text="\n".join(([content] if content else []) + blocks),
        finish_reason="length" if reason == "length" else "stop",
        prompt_tokens=_token_count(usage, "prompt_tokens"),
        completion_tokens=_token_count(usage, "completion_tokens"),
        reasoning_content=reasoning,
    )


def retry_after_seconds(value: str | None, cap: float, now: float | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delay-seconds or an HTTP-date), at most `cap`;
    None when there is no usable header."""
    if not value:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # HTTP-dates are GMT
            when = when.replace(tzinfo=datetime.UTC)
        secs = when.timestamp() - (time.time() if now is None else now)
    if secs != secs:  # NaN
        return None
    return min(max(secs, 0.0), cap)


class OpenAIRunner(Runner):
    """Client runner for one model behind one or more OpenAI-compatible endpoints."""

    name = "openai"
    remote_model = True  # a name the server knows

    def __init__(
        self,
        model: str,
        *,
        endpoints: Sequence[str] | str = ("http://127.0.0.1:8000/v1",),
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 32,
        timeout: float = 600.0,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        extra_body: dict[str, Any] | None = None,
        model_fingerprint: str | None = None,
    ):
        env_endpoints = os.environ.get("EVALKIT_OPENAI_ENDPOINTS")
        if env_endpoints:
            endpoints = env_endpoints
        if isinstance(endpoints, str):
            endpoints = [e.strip() for e in endpoints.split(",") if e.strip()]
        if not endpoints:
            raise UsageError("the openai runner needs at least one endpoint URL")
        self.model = model
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self._api_key = os.environ.get(api_key_env) if api_key_env else None
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max  # a server's Retry-After is honoured up to this
        self.extra_body = dict(extra_body or {})
        self.model_fingerprint = model_fingerprint

    def describe(self) -> dict[str, Any]:
        # Endpoints are not part of the key: the same model on other servers gives the same outputs.
        return {
            "runner": "openai",
            "model": self.model,
            "model_fingerprint": self.model_fingerprint,
            "extra_body": self.extra_body,
        }

    @property
    def is_placeholder_model(self) -> bool:
        return is_tiny(self.model)

    def render(self, request: ChatRequest) -> str | None:
        return None  # the server applies the chat template

    def kv_cache_budget_bytes(self) -> int | None:
        """Unknown: each server plans its own KV cache (and refuses what does not fit)."""
        return None

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        """Send every request; yield (index, completion) as each one comes back."""
        if not requests:
            return
        results: queue.Queue[tuple[int, Completion] | BaseException] = queue.Queue()
        stop = threading.Event()

        def run_all() -> None:
            try:
                asyncio.run(self._run_all(list(requests), results, stop))
            except BaseException as e:  # surfaced to the caller, who would otherwise wait forever
                results.put(e)

        thread = threading.Thread(target=run_all, daemon=True)
        thread.start()
        try:
            for _ in range(len(requests)):
                item = results.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=5)

    async def _run_all(
        self, requests: list[ChatRequest], results: queue.Queue[Any], stop: threading.Event
    ) -> None:
        import aiohttp

        todo: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()  # None: stop
        for i in range(len(requests)):
            todo.put_nowait((i, 0))
        remaining = len(requests)
        all_done = asyncio.Event()
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

        def finish(i: int, c: Completion) -> None:
            nonlocal remaining
            results.put((i, c))
            remaining -= 1
            if remaining == 0:
                all_done.set()

        async def worker(ep: _Endpoint, client: aiohttp.ClientSession) -> None:
            while not stop.is_set():
                wait = ep.cool_until - time.monotonic()
                if wait > 0:  # this endpoint is failing: let the others take the work meanwhile
                    await asyncio.sleep(wait)
                    continue
                item = await todo.get()
                if item is None:
                    return
                i, attempt = item
                try:
                    out = await self._attempt(client, ep, requests[i], headers)
                except Exception as e:  # a bug here must fail this request, never hang the run
                    out = _Outcome(error=f"client error {type(e).__name__}: {e}", retryable=False)
                if out.fatal is not None:
                    results.put(out.fatal)
                    stop.set()
                    all_done.set()
                    return
                if out.completion is not None:
                    ep.failures = 0
                    finish(i, out.completion)
                elif out.retryable and attempt < self.max_retries:
                    ep.failures += 1
                    delay = min(self.backoff_max, self.backoff_base * 2 ** (ep.failures - 1))
                    delay *= 0.5 + random.random() / 2
                    if out.retry_after is not None:  # the server said when: not sooner
                        delay = max(delay, out.retry_after)
                    ep.cool_until = time.monotonic() + delay
                    todo.put_nowait((i, attempt + 1))  # any endpoint may take it now
                else:
                    tries = f" (after {attempt + 1} attempts)" if attempt else ""
                    error = f"{ep.url}: {out.error}{tries}"
                    finish(i, Completion(text="", finish_reason="error", error=error))

        timeout = aiohttp.ClientTimeout(total=self.timeout, sock_connect=min(10.0, self.timeout))
        connector = aiohttp.TCPConnector(limit=self.concurrency * len(self.endpoints), limit_per_host=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as client:
            eps = [_Endpoint(u) for u in self.endpoints]
            tasks = [asyncio.create_task(worker(ep, client)) for ep in eps for _ in range(self.concurrency)]

            async def watch_consumer() -> None:  # the caller stopped reading: wind down
                while not stop.is_set():
                    await asyncio.sleep(0.1)
                all_done.set()

            watcher = asyncio.create_task(watch_consumer())
            await all_done.wait()
            watcher.cancel()
            for _ in tasks:
                todo.put_nowait(None)
            for t in tasks:  # workers asleep in a backoff need not finish it
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _attempt(
        self, client: Any, ep: _Endpoint, request: ChatRequest, headers: dict[str, str]
    ) -> _Outcome:
        """One POST to one endpoint: a completion, or why not (and whether to retry, and when)."""
        import aiohttp

        body = request_body(self.model, request, self.extra_body)
        try:
            async with client.post(f"{ep.url}/chat/completions", json=body, headers=headers) as resp:
                status, payload = resp.status, await resp.read()
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"), self.retry_after_max)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:  # refused, reset, timeout
            return _Outcome(error=f"{type(e).__name__}: {e}")
        if status == 200:
            try:
                data = json.loads(payload)
            except ValueError as e:  # not JSON, or not UTF-8
                return _Outcome(error=f"malformed reply: not JSON ({e}): {payload[:120]!r}")
            try:
                return _Outcome(completion=completion_from_response(data))
            except MalformedReply as e:
                return _Outcome(error=f"malformed reply: {e}")
        text = payload[:200].decode("utf-8", "replace")
        if status in FATAL_STATUS:
            return _Outcome(
                fatal=UsageError(
                    f"{ep.url} answered {status} for model {self.model!r}: {text} "
                    "(check the model name and the API key variable)"
                )
            )
        return _Outcome(
            error=f"HTTP {status}: {text}", retryable=status in RETRYABLE_STATUS, retry_after=retry_after
        )
