"""LongBench middle truncation at and around the limit, and the context refusal."""

from __future__ import annotations

import pytest

from evalkit.errors import UsageError
from evalkit.kv_planning import plan_batch_size
from evalkit.longctx.tokens import load_tokenizer
from evalkit.longctx.truncation import check_fits, middle_truncate

TEXT = "Instruction: answer the question.\n" + " ".join(f"word{i}" for i in range(400)) + "\nQuestion: why?"


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("tiny")


def test_prompt_at_or_under_the_limit_is_untouched(tok) -> None:
    n = len(tok(TEXT, add_special_tokens=False)["input_ids"])
    for limit in (n, n + 1):
        cut = middle_truncate(tok, TEXT, limit)
        assert cut.text == TEXT and not cut.truncated and cut.tokens_before == n


def test_prompt_just_over_the_limit_loses_its_middle(tok) -> None:
    n = len(tok(TEXT, add_special_tokens=False)["input_ids"])
    cut = middle_truncate(tok, TEXT, n - 1)
    assert cut.truncated and cut.tokens_before == n and cut.tokens_after == 2 * ((n - 1) // 2)
    assert cut.text.startswith("Instruction: answer") and cut.text.endswith("Question: why?")
    assert len(tok(cut.text, add_special_tokens=False)["input_ids"]) <= n - 1 + 2  # re-tokenising may merge


def test_far_over_the_limit_keeps_both_ends(tok) -> None:
    cut = middle_truncate(tok, TEXT, 40)
    assert cut.text.startswith("Instruction") and cut.text.endswith("why?") and "word200" not in cut.text


def test_check_fits_refuses_with_numbers() -> None:
    check_fits(100, 28, 128, "x")
    with pytest.raises(
        UsageError, match="101 prompt tokens \\+ 28 new tokens exceed the model's context of 128"
    ):
        check_fits(101, 28, 128, "x")


def test_plan_batch_size() -> None:
    assert plan_batch_size(2048, 131072, 100 * 2**30, 1024) == 400
    assert plan_batch_size(2048, 131072, 1, 1024) == 1
    assert plan_batch_size(None, 131072, 1, 8) == 8
