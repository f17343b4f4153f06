"""A scripted runner for tests of the harness that need no model."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from evalkit.records import ChatRequest, Completion
from evalkit.runners.base import Runner


class ScriptedRunner(Runner):
    """Answers each request with `script(request)`; yields completions in reverse order
    so that callers cannot rely on completions arriving in request order."""

    name = "scripted"

    def __init__(self, script: Callable[[ChatRequest], str], tag: str = "v1"):
        self.script = script
        self.tag = tag
        self.calls: list[ChatRequest] = []

    def describe(self) -> dict[str, Any]:
        return {"runner": "scripted", "tag": self.tag}

    def render(self, request: ChatRequest) -> str | None:
        return json.dumps([request.messages, request.enable_thinking], ensure_ascii=False)

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        for i in reversed(range(len(requests))):
            self.calls.append(requests[i])
            text = self.script(requests[i])
            yield (
                i,
                Completion(
                    text=text, finish_reason="stop", prompt_tokens=10, completion_tokens=len(text.split())
                ),
            )


class FlakyRunner(ScriptedRunner):
    """A ScriptedRunner whose requests number `failing` (counted from 0 over every generate()
    call) come back as failed calls (finish_reason "error"), as a server would after its retries."""

    def __init__(self, script: Callable[[ChatRequest], str], failing: set[int], tag: str = "v1"):
        super().__init__(script, tag)
        self.failing = failing
        self.seen = 0

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        for i, c in super().generate(requests):
            self.seen += 1
            if self.seen - 1 in self.failing:
                c = Completion(text="", finish_reason="error", error=f"HTTP 503 on request {self.seen - 1}")
            yield i, c
