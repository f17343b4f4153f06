"""Fitting long prompts into a context: LongBench's middle truncation (of a task prompt, and of
a chat request's user turn when the run's KV-cache plan needs it shorter), and the refusal of
a prompt that does not fit when the protocol says nothing about cutting it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evalkit.errors import UsageError
from evalkit.records import ChatRequest


@dataclass(frozen=True)
class Truncated:
    text: str
    tokens_before: int
    tokens_after: int

    @property
    def truncated(self) -> bool:
        return self.tokens_after < self.tokens_before


def middle_truncate(tokenizer: Any, text: str, max_tokens: int) -> Truncated:
    """LongBench (pred.py): if the prompt has more than `max_tokens` tokens, keep the first and
    the last `max_tokens // 2` and decode each half back to text; applied before the chat
    template, on the task prompt with its instructions (the ends hold the instructions)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return Truncated(text, len(ids), len(ids))
    half = int(max_tokens / 2)
    head = tokenizer.decode(ids[:half], skip_special_tokens=True)
    tail = tokenizer.decode(ids[-half:], skip_special_tokens=True)
    return Truncated(head + tail, len(ids), 2 * half)


def check_fits(prompt_tokens: int, max_new_tokens: int, context: int, what: str) -> None:
    """Refuse, with the numbers, a prompt that would not fit the model's context."""
    if prompt_tokens + max_new_tokens > context:
        raise UsageError(
            f"{what}: {prompt_tokens} prompt tokens + {max_new_tokens} new tokens exceed the model's "
            f"context of {context} tokens; this task's protocol does not cut prompts, so shorten the "
            "length setting or use a model with a longer context"
        )


def middle_truncate_request(
    tokenizer: Any,
    request: ChatRequest,
    max_prompt_tokens: int,
    *,
    render: Callable[[ChatRequest], str | None],
    count: Callable[[str], int],
) -> ChatRequest | None:
    """`middle_truncate` applied to the request's last user turn (the task prompt, before the
    chat template) so that the rendered prompt has at most `max_prompt_tokens` tokens; None
    when there is no such turn or it cannot be cut that short. Re-tokenising the joined halves
    may merge or split a token, so the cut is tightened until the rendered prompt fits."""
    turns = [i for i, m in enumerate(request.messages) if m.get("role") == "user"]
    if not turns or not isinstance(request.messages[turns[-1]].get("content"), str):
        return None
    at = turns[-1]
    content = str(request.messages[at]["content"])
    first = render(request)
    if first is None:
        return None
    frame = count(first) - len(tokenizer(content, add_special_tokens=False)["input_ids"])
    budget = max_prompt_tokens - frame
    for _ in range(16):
        if budget < 2:
            return None
        cut = middle_truncate(tokenizer, content, budget)
        messages = list(request.messages)
        messages[at] = {**messages[at], "content": cut.text}
        candidate = dataclasses.replace(request, messages=messages)
        rendered = render(candidate)
        n = count(rendered) if rendered is not None else 0
        if n <= max_prompt_tokens:
            return candidate
        budget -= n - max_prompt_tokens
    return None
