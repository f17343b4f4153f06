"""Runners for the process-pool tests that load nothing (so their workers start in a second),
built inside worker processes by their "module:Class" name."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from evalkit.errors import UsageError
from evalkit.records import ChatRequest, Completion
from evalkit.runners.base import Runner


class SlowEcho(Runner):
    """Echoes each request's text and the GPUs its worker sees, `delay` seconds per request;
    its describe() is the same on every GPU, as a real engine's. "refuse" in a text raises."""

    name = "slow-echo"

    def __init__(self, model: str, delay: float = 0.0):
        self.model, self.delay = model, delay

    def describe(self) -> dict[str, Any]:
        return {"runner": "slow-echo", "model": self.model}

    def render(self, request: ChatRequest) -> str:
        return f"<{request.messages[-1]['content']}>"

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        for i, r in enumerate(requests):
            text = str(r.messages[-1]["content"])
            if "refuse" in text:
                raise UsageError(f"prompt {text!r} exceeds the context")
            time.sleep(self.delay)
            devices = os.environ.get("CUDA_VISIBLE_DEVICES", "")
            yield i, Completion(text=f"{text}@{devices}", finish_reason="stop", token_ids=[i, 7])


class CrashOnLoad:
    """A runner whose load dies hard (as a CUDA driver abort would)."""

    def __init__(self, model: str):
        print("loading shard 3 of 7: CUDA error: out of memory", file=sys.stderr, flush=True)
        os._exit(3)


class HangOnLoad:
    """A runner whose load never finishes."""

    def __init__(self, model: str):
        time.sleep(600)
