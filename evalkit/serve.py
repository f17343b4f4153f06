"""`evalkit serve`: a local runner behind an OpenAI-compatible chat-completions API.

Built on FastAPI + uvicorn. Concurrent requests are gathered into batches by one worker
thread that owns the runner, so the in-house engine batches them as it would in-process.
Reasoning is returned inline in `content` by default (the raw text, as vLLM without a
reasoning parser does), or split into `reasoning_content` with `--reasoning-field`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from evalkit.chat import split_reasoning
from evalkit.records import ChatRequest, Completion, SamplingParams
from evalkit.runners.base import Runner


@dataclass
class _Job:
    request: ChatRequest
    future: asyncio.Future[Completion]
    loop: asyncio.AbstractEventLoop


class Batcher:
    """One thread owns the runner; it takes every waiting job (up to `max_batch`) per round."""

    def __init__(self, runner: Runner, max_batch: int = 64):
        self.runner = runner
        self.max_batch = max_batch
        self.jobs: queue.Queue[_Job] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="evalkit-batcher")
        self.thread.start()

    def _loop(self) -> None:
        while True:
            batch = [self.jobs.get()]
            time.sleep(0.002)  # let concurrent arrivals join this batch
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            try:
                for i, completion in self.runner.generate([j.request for j in batch]):
                    job = batch[i]
                    job.loop.call_soon_threadsafe(_resolve, job.future, completion)
            except Exception as e:  # a failed batch fails its requests, not the server
                for job in batch:
                    job.loop.call_soon_threadsafe(_fail, job.future, e)

    async def submit(self, request: ChatRequest) -> Completion:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Completion] = loop.create_future()
        self.jobs.put(_Job(request, fut, loop))
        return await fut


def _resolve(fut: asyncio.Future[Completion], c: Completion) -> None:
    if not fut.done():
        fut.set_result(c)


def _fail(fut: asyncio.Future[Completion], e: Exception) -> None:
    if not fut.done():
        fut.set_exception(e)


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """Validate an OpenAI chat-completions body; ValueError names the offending field."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ValueError(f"messages[{i}] must be an object with a 'role'")
    if body.get("stream"):
        raise ValueError("'stream' is not supported")
    if int(body.get("n") or 1) != 1:
        raise ValueError("only n=1 is supported (send repeats as separate requests)")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", 1024))
    stop = body.get("stop") or ()
    if isinstance(stop, str):
        stop = (stop,)
    kwargs = body.get("chat_template_kwargs") or {}
    try:
        params = SamplingParams(
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            top_k=max(int(body.get("top_k") or 0), 0),
            presence_penalty=float(body.get("presence_penalty") or 0.0),
            max_new_tokens=int(max_tokens),
            stop=tuple(str(s) for s in stop),
            seed=None if body.get("seed") is None else int(body["seed"]),
        )
    except (TypeError, ValueError) as e:
        raise ValueError(f"bad sampling parameter: {e}") from e
    if params.max_new_tokens < 1:
        raise ValueError("'max_tokens' must be at least 1")
    return ChatRequest(
        messages=messages,
        params=params,
        enable_thinking=bool(kwargs.get("enable_thinking", False)),
        tools=body.get("tools") or None,
    )


def response_body(
    model: str, c: Completion, *, reasoning_field: bool, enable_thinking: bool
) -> dict[str, object]:
    message: dict[str, object] = {"role": "assistant", "content": c.text}
    if reasoning_field:
        split = split_reasoning(c.text, reasoning_mode=enable_thinking)
        message = {"role": "assistant", "content": split.answer or "", "reasoning_content": split.reasoning}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": c.finish_reason}],
        "usage": {
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "total_tokens": c.prompt_tokens + c.completion_tokens,
        },
    }


def build_app(
    runner: Runner, served_model_name: str, *, max_batch: int = 64, reasoning_field: bool = False
) -> Any:
    """The ASGI app: /v1/models, /v1/chat/completions, /health."""
    app = FastAPI(title="evalkit serve")
    batcher = Batcher(runner, max_batch=max_batch)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        return {
            "object": "list",
            "data": [{"id": served_model_name, "object": "model", "owned_by": "evalkit"}],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": {"message": "body is not JSON", "type": "invalid_request"}}, 400)
        if body.get("model") not in (None, served_model_name):
            msg = f"model {body.get('model')!r} is not served here (serving {served_model_name!r})"
            return JSONResponse({"error": {"message": msg, "type": "not_found"}}, 404)
        try:
            req = parse_request(body)
        except ValueError as e:
            return JSONResponse({"error": {"message": str(e), "type": "invalid_request"}}, 400)
        completion = await batcher.submit(req)
        if completion.finish_reason == "error":  # the runner failed it: no answer to send
            msg = completion.error or "the runner failed this request"
            return JSONResponse({"error": {"message": msg, "type": "runner_error"}}, 502)
        return response_body(
            served_model_name,
            completion,
            reasoning_field=reasoning_field,
            enable_thinking=req.enable_thinking,
        )

    return app


def serve(
    runner: Runner,
    served_model_name: str,
    *,
    host: str,
    port: int,
    max_batch: int = 64,
    reasoning_field: bool = False,
) -> None:
    import uvicorn

    app = build_app(runner, served_model_name, max_batch=max_batch, reasoning_field=reasoning_field)
    uvicorn.run(app, host=host, port=port, log_level="warning")
