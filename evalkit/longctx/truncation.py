"""Fitting long prompts into a context: LongBench's middle truncation, and the refusal of a
prompt that does not fit when the protocol says nothing about cutting it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalkit.errors import UsageError


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
