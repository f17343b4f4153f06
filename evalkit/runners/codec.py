"""Prompt text in, token ids in and out: one tokenizer wrapper shared by the local runners.

Every local runner renders with the model's own chat template and decodes generated ids
the same way, so that raw texts (and therefore scores) are comparable across runners.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalkit.chat import THINK_CLOSE, THINK_OPEN, render_chat
from evalkit.records import ChatRequest

# Markers the scorers read from the raw text; they must survive decoding even if a
# tokenizer marks them special (EXAONE's does not, but the split must not depend on it).
VISIBLE_MARKERS = (THINK_OPEN, THINK_CLOSE, "<tool_call>", "</tool_call>")
# Lone surrogates (from another model's output, quoted into a later turn) cannot be encoded as
# UTF-8, so the tokenizer would raise; the model sees U+FFFD in their place.
_SURROGATE = re.compile("[\ud800-\udfff]")


class ChatCodec:
    """The model's tokenizer with evalkit's rendering and decoding rules."""

    def __init__(self, model_dir: Path | str):
        from transformers import AutoTokenizer

        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir))
        vocab = self.tokenizer.get_vocab()
        keep = {vocab[t] for t in VISIBLE_MARKERS if t in vocab}
        special = set(self.tokenizer.all_special_ids) | {
            i for i, tok in self.tokenizer.added_tokens_decoder.items() if tok.special
        }
        self.hidden_ids = frozenset(special - keep)

    def render(self, request: ChatRequest) -> str:
        """The prompt exactly as the model's own chat template renders it."""
        return render_chat(self.tokenizer, request)

    def encode(self, text: str) -> list[int]:
        """Token ids of a rendered prompt; the template already holds every special token."""
        ids: list[int] = self.tokenizer.encode(_SURROGATE.sub("\ufffd", text), add_special_tokens=False)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of generated ids with special tokens dropped but think/tool-call markers kept."""
        kept = [i for i in ids if i not in self.hidden_ids]
        text: str = self.tokenizer.decode(kept, skip_special_tokens=False)
        return text
