"""One engine in its own process: the child side of `evalkit.runners.process_pool`.

Run as ``python -m evalkit.runners.process_worker`` by the pool, never by hand. It speaks JSON
lines: the pool writes ops to its stdin, it answers on the stdout it was started with (fd 1 is
then pointed at stderr, so that a library's prints never corrupt the protocol). Every reply
carries the id of the op it answers.

  {"op": "start", "id": 0, "profile": {...}, "model": ...}   -> {"op": "ready", "info": {...}}
  {"op": "generate", "id": k, "requests": [...]}            -> {"op": "completion", "i": j, ...}*
                                                               then {"op": "done"}
  {"op": "render", "id": k, "request": {...}}               -> {"op": "rendered", "text": ...}
  {"op": "close"}                                            -> the runner is closed, exit 0
Any op may instead get {"op": "error", "kind": "usage" | "other", "message", "traceback"}.

Completions travel as `Completion.to_dict()` (text, finish reason, token ids, reasoning,
error): nothing is lost on the way. The worker leads its own process group; when its stdin
reaches end of file without a "close" (the pool died, even by SIGKILL) it kills that group,
itself and any engine processes of its own (vLLM's) included, so nothing outlives the pool.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Mapping
from typing import IO, Any, TypedDict

from evalkit.errors import EvalkitError
from evalkit.records import (
    ChatRequest,
    Completion,
    CompletionDict,
    Message,
    SamplingParams,
    SamplingParamsDict,
)


class WireRequest(TypedDict):
    """A `ChatRequest` as it travels to a worker (one JSON object)."""

    messages: list[Message]
    params: SamplingParamsDict
    enable_thinking: bool
    tools: list[dict[str, Any]] | None
    role: str


def request_to_wire(r: ChatRequest) -> WireRequest:
    return {
        "messages": r.messages,
        "params": r.params.to_dict(),
        "enable_thinking": r.enable_thinking,
        "tools": r.tools,
        "role": r.role,
    }


def request_from_wire(d: WireRequest) -> ChatRequest:
    return ChatRequest(
        messages=d["messages"],
        params=SamplingParams.from_dict(d["params"]),
        enable_thinking=bool(d["enable_thinking"]),
        tools=d["tools"],
        role=d["role"],
    )


def completion_from_wire(d: CompletionDict) -> Completion:
    return Completion.from_dict(d)  # written by Completion.to_dict()


def _error(op_id: object, e: BaseException) -> dict[str, object]:
    return {
        "op": "error",
        "id": op_id,
        "kind": "usage" if isinstance(e, EvalkitError) else "other",
        "message": f"{type(e).__name__}: {e}",
        "traceback": traceback.format_exc()[-4000:],
    }


def _read_ops(ops: queue.SimpleQueue[dict[str, Any]]) -> None:
    """Stdin to `ops`. End of file without "close": the pool is gone, so is this group."""
    for line in sys.stdin:
        op = json.loads(line)
        ops.put(op)
        if op.get("op") == "close":
            return
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _info(runner: Any) -> dict[str, Any]:
    """What the pool answers for this engine without asking it again."""
    return {
        "describe": runner.describe(),
        "is_placeholder_model": runner.is_placeholder_model,
        "max_context": runner.max_context(),
        "kv_bytes_per_token": runner.kv_bytes_per_token(),
        "kv_cache_budget_bytes": runner.kv_cache_budget_bytes(),
        "name": runner.name,
        "remote_model": runner.remote_model,
    }


def serve(out: IO[str]) -> int:
    from evalkit.runners.profiles import RunnerProfile, make_runner

    def send(msg: Mapping[str, object]) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    ops: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
    threading.Thread(target=_read_ops, args=(ops,), daemon=True).start()
    start = ops.get()
    try:
        runner = make_runner(RunnerProfile(**start["profile"]), start.get("model"))
        send({"op": "ready", "id": start["id"], "info": _info(runner)})
    except BaseException as e:
        send(_error(start["id"], e))
        return 1
    while True:
        op = ops.get()
        kind, op_id = op.get("op"), op.get("id")
        if kind == "close":
            runner.close()
            return 0
        try:
            if kind == "generate":
                requests = [request_from_wire(r) for r in op["requests"]]
                for i, c in runner.generate(requests):
                    send({"op": "completion", "id": op_id, "i": i, "completion": c.to_dict()})
                send({"op": "done", "id": op_id})
            elif kind == "render":
                send({"op": "rendered", "id": op_id, "text": runner.render(request_from_wire(op["request"]))})
            else:
                raise ValueError(f"unknown op {kind!r}")
        except Exception as e:  # this op failed; the engine serves the next one
            send(_error(op_id, e))


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool decides when this engine stops
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # prints (the runner's, a library's) go to the log, not into the protocol
    sys.stdout = sys.stderr
    return serve(out)


if __name__ == "__main__":
    sys.exit(main())
