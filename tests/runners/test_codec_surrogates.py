"""A lone surrogate quoted into a prompt (another model's output) reaches the tokenizer as U+FFFD."""

from __future__ import annotations

from evalkit.models import resolve_model
from evalkit.runners.codec import ChatCodec


def test_encode_replaces_lone_surrogates_instead_of_raising() -> None:
    codec = ChatCodec(resolve_model("tiny"))
    hostile = "answer: \ud800 and \udfff end"
    assert codec.encode(hostile) == codec.encode("answer: \ufffd and \ufffd end")
    assert codec.encode("plain text") == codec.tokenizer.encode("plain text", add_special_tokens=False)
