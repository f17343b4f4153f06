"""Fitting a HELMET prompt into the model's input budget the way HELMET's `tokenize`
(model_utils.py @4526dfb) does: if the prompt has more than `input_max_length -
generation_max_length` tokens of the evaluated model's tokenizer, the excess is cut from the
**end of the context** (the documents, the demonstrations of ICL), keeping the instruction
and the question; one cut, at the character offset of the first token dropped.

evalkit counts the prompt as the chat template renders it (the template's tokens around one
user turn plus the user text); HELMET counts its own rendering (no chat template for Recall,
RAG, Re-rank and ICL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fitted:
    text: str
    prompt_tokens: int  # before any cut (user text + chat template)
    cut_tokens: int  # tokens removed from the end of the context (0: none)


def _ids(tokenizer: Any, text: str, offsets: bool = False) -> Any:
    return tokenizer(text, add_special_tokens=False, return_offsets_mapping=offsets)


def fit(tokenizer: Any, template: str, fields: dict[str, object], budget: int, overhead: int) -> Fitted:
    """`template.format(**fields)`, with `fields["context"]` cut from its end so that the prompt
    plus `overhead` (the chat template's tokens) has at most `budget` tokens."""
    text = template.format(**fields)
    n = len(_ids(tokenizer, text)["input_ids"]) + overhead
    excess = n - budget
    if excess <= 0:
        return Fitted(text, n, 0)
    context = str(fields["context"])
    if getattr(tokenizer, "is_fast", False):
        enc = _ids(tokenizer, context, offsets=True)
        keep = len(enc["input_ids"]) - excess
        context = context[: enc["offset_mapping"][keep][0]] if keep > 0 else ""
    else:  # slow tokenizers have no offsets: upstream decodes the kept ids
        ids = _ids(tokenizer, context)["input_ids"]
        context = tokenizer.decode(ids[:-excess]) if excess < len(ids) else ""
    return Fitted(template.format(**{**fields, "context": context}), n, excess)
