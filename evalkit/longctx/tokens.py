"""The evaluated model's tokenizer, for sizing long prompts while samples are built.

Samples are built before a runner exists (bad input fails cheaply), yet RULER and the
LongBench truncation need the model's tokens. The pipeline names the model in the
`BuildContext` it passes to `build_sample` (evalkit.families.base); `ctx.tokenizer(task)`
loads that model's tokenizer through `load_tokenizer`, once per model.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4)
def load_tokenizer(model: str) -> Any:
    """The HF tokenizer of a model name as MODEL= takes it (embedded tiny, path or hub id)."""
    from transformers import AutoTokenizer

    from evalkit.models import resolve_model

    return AutoTokenizer.from_pretrained(str(resolve_model(model)))


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens of plain text, without special tokens (as RULER's HFTokenizer.text_to_tokens counts)."""
    return len(tokenizer.tokenize(text))


def chat_overhead(tokenizer: Any) -> int:
    """Tokens the chat template adds around one user turn (non-reasoning generation prompt)."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": ""}], tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    return len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
