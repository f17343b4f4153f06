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
