"""Scoring one single-turn BFCL answer, per category, as BFCL v3's eval runner does.

- irrelevance, live_irrelevance: right when the output holds no usable call (no block,
  undecodable blocks, or an empty list);
- live_relevance: right when it holds at least one decodable call (any function);
- every other category: the calls are decoded and checked against the accepted answers
  by the AST checker; an undecodable output is `ast_decoder:decoder_failed`.
"""

from __future__ import annotations

from typing import Any

from evalkit.benchmarks.bfcl.ast_check import Check, check_calls
from evalkit.toolcalls import DecodeError, decode_calls, is_call_list, is_empty_call_list

# The scored single-turn categories of BFCL v3.
AST_CATEGORIES = (
    "simple",
    "multiple",
    "parallel",
    "parallel_multiple",
    "java",
    "javascript",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
RELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")


def language_of(category: str) -> str:
    if "javascript" in category:
        return "javascript"
    return "java" if "java" in category else "python"


def score_single_turn(
    category: str, functions: list[dict[str, object]], answer: str, accepted: list[dict[str, object]] | None
) -> tuple[Check, list[dict[Any, Any]] | None]:
    """BFCL's verdict on the answer text (reasoning already removed) and the decoded calls."""
    try:
        decoded: list[dict[Any, Any]] | None = decode_calls(answer)
        error = ""
    except DecodeError as e:
        decoded, error = None, str(e)
    if category in RELEVANCE_CATEGORIES:
        has_call = decoded is not None and not is_empty_call_list(decoded)
        if "irrelevance" in category:
            ok = not has_call
            return (
                Check(True) if ok else Check(False, "irrelevance_error:decoder_success", "called a function")
            ), decoded
        ok = has_call
        return (
            Check(True) if ok else Check(False, "relevance_error:decoder_failed", error or "no call")
        ), decoded
    if decoded is None:
        return Check(False, "ast_decoder:decoder_failed", error), None
    if not is_call_list(decoded):
        return Check(False, "ast_decoder:decoder_wrong_output_format", "not a list of calls"), decoded
    if accepted is None:
        raise ValueError(f"category {category} needs accepted answers")
    return check_calls(functions, decoded, accepted, category, language_of(category)), decoded
