"""Chat rendering through the model's own template, and the reasoning split on `</think>`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from evalkit.records import ChatRequest

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


class ChatTokenizer(Protocol):
    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...


def render_chat(tokenizer: ChatTokenizer, request: ChatRequest) -> str:
    """Render a request with the tokenizer's own chat template (never a hand-written copy)."""
    kwargs: dict[str, object] = {
        "tokenize": False,
        "add_generation_prompt": True,
        "enable_thinking": request.enable_thinking,
    }
    if request.tools:
        kwargs["tools"] = request.tools
    text = tokenizer.apply_chat_template([dict(m) for m in request.messages], **kwargs)
    if not isinstance(text, str):  # some tokenizers return a list for batched input
        raise TypeError(f"apply_chat_template returned {type(text).__name__}, expected str")
    return text


@dataclass(frozen=True)
class ReasoningSplit:
    """A completion split into reasoning and answer.

    `answer` is None when the model never closed its think block in reasoning mode:
    such a sample has no answer and is counted as such, never scored on its reasoning.
    """

    reasoning: str | None
    answer: str | None
    unclosed_think: bool = False


def split_reasoning(text: str, *, reasoning_mode: bool) -> ReasoningSplit:
    """Split raw model output on the last `</think>`.

    In reasoning mode the prompt ends with `<think>\\n`, so the output is
    `{reasoning}</think>{answer}`; a missing `</think>` means no answer. In
    non-reasoning mode the empty think block is prefilled and the whole output is
    the answer, unless the model closes a think block anyway.
    """
    head, sep, tail = text.rpartition(THINK_CLOSE)
    if sep:
        reasoning = head.strip()
        if reasoning.startswith(THINK_OPEN):
            reasoning = reasoning[len(THINK_OPEN) :].strip()
        return ReasoningSplit(reasoning=reasoning, answer=tail.strip())
    if reasoning_mode:
        return ReasoningSplit(reasoning=text.strip(), answer=None, unclosed_think=True)
    return ReasoningSplit(reasoning=None, answer=text.strip())


def split_completion(text: str, reasoning_content: str | None, *, reasoning_mode: bool) -> ReasoningSplit:
    """Split a completion; a server that already separated the reasoning is taken at its word."""
    if reasoning_content is not None:
        return ReasoningSplit(reasoning=reasoning_content.strip(), answer=text.strip())
    return split_reasoning(text, reasoning_mode=reasoning_mode)
