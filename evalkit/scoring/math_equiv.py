"""Is a model's math answer equivalent to the gold answer? math-verify decides, under a time limit.

    check_answer(answer_text, gold, lang="en", choices=None, timeout_s=5.0) -> MathCheck
    check_found(found_answer, gold, ...) -> MathCheck      (the answer already located)

1. `math_answer.find_final_answer` locates the final answer (the last \\boxed{}, adjacent
   boxes read as a list; else, or when written after it, an answer statement in English,
   Spanish or Korean; else math-verify's own search for the last expression).
2. `math_answer.normalize_answer` rewrites only what math-verify misreads (digit groups
   with thin spaces, a Spanish decimal comma, Korean endings, unit words, Unicode symbols).
3. A worker process runs math-verify's `parse` and `verify` on it (`math_worker`), killed at
   the time limit; model text reaches sympy only through math-verify's parsers. Its
   verdict stands unless an extension (interval, a \\pm b, option text) turns a "no" into
   a "yes"; the maj@n vote key is computed after the verdict and never changes it.

Model output never raises here: whatever goes wrong (nothing found, unparseable, time
limit, a crash of the check) is a `MathCheck` with correct=False and the reason.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from evalkit.scoring.math_answer import (
    STATEMENT,
    FoundAnswer,
    find_final_answer,
    normalize_answer,
    plus_minus_both,
)
from evalkit.scoring.math_checker import run_check

DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class MathCheck:
    """The verdict on one answer."""

    extracted: str | None  # the final answer as found (after normalization), None if none
    correct: bool
    reason: str
    method: str  # where the answer was found: boxed, statement, last expression, none
    how: str = ""  # what decided: math-verify, relation read as interval, option text, ...
    vote_key: str | None = None  # answers with equal keys are the same answer (maj@n)
    elapsed_s: float = 0.0
    timed_out: bool = False


def is_list_answer(gold: str) -> bool:
    """True when the gold lists several answers ("a, b" at the top level of braces)."""
    depth = 0
    for ch in gold:
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif ch == "," and depth == 0:
            return True
    return False


def check_request(
    found: FoundAnswer, gold: str, lang: str = "en", choices: Mapping[str, str] | None = None
) -> dict[str, object] | None:
    """The worker's request for a found answer (None when the answer normalizes to nothing)."""
    if found.text is None:
        return None
    answer = found.text if found.raw else normalize_answer(found.text, lang, multi=is_list_answer(gold))
    if not answer:
        return None
    request: dict[str, object] = {"gold": gold, "answer": answer, "raw": found.raw}
    request["choices"] = dict(choices or {})
    both = None if found.raw else plus_minus_both(answer)
    if both is not None:
        request["plus_minus"] = both
    return request


def check_answer(
    answer_text: str | None,
    gold: str,
    *,
    lang: str = "en",
    choices: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> MathCheck:
    """Check a model's answer text (reasoning removed) against the gold answer."""
    return check_found(find_final_answer(answer_text), gold, lang=lang, choices=choices, timeout_s=timeout_s)


def check_found(
    found: FoundAnswer,
    gold: str,
    *,
    lang: str = "en",
    choices: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> MathCheck:
    """Check an answer already found (by `find_final_answer`, or by a task's own patterns)."""
    t0 = time.monotonic()
    if found.text is None:
        return MathCheck(None, False, found.reason, found.method)
    request = check_request(found, gold, lang, choices)
    if request is None:
        return MathCheck(None, False, "empty final answer", found.method)
    raw, answer = bool(request["raw"]), str(request["answer"])
    reply = run_check(request, timeout_s)
    elapsed = time.monotonic() - t0
    status = reply.get("status")
    # free text: what math-verify picked out of it (nothing, if the check did not finish)
    extracted = reply.get("found") if raw else answer
    if status == "timeout":
        return MathCheck(
            extracted,
            False,
            f"equivalence check exceeded its {timeout_s:g} s time limit"
            + ("" if reply.get("detail") == "time limit" else f" ({reply.get('detail', '')})"),
            found.method,
            elapsed_s=elapsed,
            timed_out=True,
        )
    if status != "ok":
        return MathCheck(
            extracted,
            False,
            f"equivalence check failed: {reply.get('detail', 'unknown error')}",
            found.method,
            elapsed_s=elapsed,
        )
    where = {"boxed": "\\boxed{}", "statement": "answer statement"}.get(found.method, found.method)
    how = str(reply.get("how", ""))
    if how == "unparsed":
        if raw and found.method != STATEMENT:  # free text with no mathematics in it: no answer at all
            reason = "no \\boxed{} answer, no answer statement, and no mathematical expression"
            return MathCheck(None, False, reason, "none", how, None, elapsed)
        reason = f"final answer ({where}) could not be read as mathematics"
        return MathCheck(extracted, False, reason, found.method, how, None, elapsed)
    if reply.get("correct"):
        reason = f"equivalent to the gold answer ({how}; found in {where})"
    else:
        reason = (
            f"not equivalent: {reply.get('parsed')} vs gold {reply.get('gold_parsed')} (found in {where})"
        )
    return MathCheck(
        extracted,
        bool(reply.get("correct")),
        reason,
        found.method,
        how,
        reply.get("vote_key"),
        elapsed,
    )
