"""The `openai` runner: a client for OpenAI-compatible chat-completions servers.

Any number of endpoints serve one model (`vllm serve`, `evalkit serve`, others). Requests
go into one shared queue that every endpoint's workers pull from, so a slow endpoint takes
less work and a failing one hands its requests back for the others (work stealing).
Retries with exponential backoff cover 429, 5xx, timeouts and dropped connections; a
request that still fails comes back as a completion with finish_reason "error", which
the store keeps but never reuses, so a rerun retries it. API keys come from the
environment only and are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from evalkit.records import ChatRequest, Completion, FinishReason
from evalkit.runners.base import Runner

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL_STATUS = {401, 403, 404}  # wrong key or model name: every request would fail the same way


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


def completion_from_response(data: dict[str, Any]) -> Completion:
    """Map a chat-completions response to a Completion, keeping the raw text evalkit parses.

    Reasoning a server split off (`reasoning_content`, or `reasoning` in newer vLLM) is kept
    separately; tool calls a server parsed are written back as EXAONE `<tool_call>` blocks so
    that evalkit's own parser scores every runner the same way.
    """
    try:
        choice = data["choices"][0]
        msg = choice.get("message") or {}
    except (KeyError, IndexError, TypeError) as e:
        raise ValueError(f"malformed chat-completions response: {str(data)[:200]}") from e
    text = msg.get("content") or ""
    for call in msg.get("tool_calls") or []:
        fn = call.get("function", call)
        args = fn.get("arguments", {})
        if isinstance(args, str):
            with contextlib.suppress(json.JSONDecodeError):  # else keep the string: the checker judges it
                args = json.loads(args)
        block = json.dumps({"name": fn.get("name"), "arguments": args}, ensure_ascii=False)
        text += ("\n" if text else "") + f"<tool_call>{block}</tool_call>"
    reasoning = msg.get("reasoning_content", msg.get("reasoning"))
    finish: FinishReason = "length" if choice.get("finish_reason") == "length" else "stop"
    usage = data.get("usage") or {}
    return Completion(
        text=text,
        finish_reason=finish,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        reasoning_content=reasoning if isinstance(reasoning, str) else None,
    )


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
        thread = threading.Thread(
            target=lambda: asyncio.run(self._run_all(list(requests), results, stop)), daemon=True
        )
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
                body = request_body(self.model, requests[i], self.extra_body)
                error: str
                try:
                    async with client.post(f"{ep.url}/chat/completions", json=body, headers=headers) as resp:
                        status, payload = resp.status, await resp.read()
                    if status == 200:
                        completion = completion_from_response(json.loads(payload))
                        ep.failures = 0
                        finish(i, completion)
                        continue
                    text = payload[:200].decode("utf-8", "replace")
                    if status in FATAL_STATUS:
                        results.put(
                            UsageError(
                                f"{ep.url} answered {status} for model {self.model!r}: {text} "
                                "(check the model name and the API key variable)"
                            )
                        )
                        stop.set()
                        all_done.set()
                        return
                    error, retryable = f"HTTP {status}: {text}", status in RETRYABLE_STATUS
                except (
                    aiohttp.ClientError,
                    TimeoutError,
                    ValueError,
                ) as e:  # refused, reset, timeout, bad JSON
                    error, retryable = f"{type(e).__name__}: {e}", True
                if retryable and attempt < self.max_retries:
                    ep.failures += 1
                    delay = min(self.backoff_max, self.backoff_base * 2 ** (ep.failures - 1))
                    ep.cool_until = time.monotonic() + delay * (0.5 + random.random() / 2)
                    todo.put_nowait((i, attempt + 1))  # any endpoint may take it now
                else:
                    finish(i, Completion(text="", finish_reason="error", error=f"{ep.url}: {error}"))

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
