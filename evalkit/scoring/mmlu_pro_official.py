"""MMLU-Pro's official answer extraction, reimplemented so that figures compare with its leaderboard.

Read from TIGER-AI-Lab/MMLU-Pro at commit f418b116db00b065c2aea046518d8fcf74d39872 (Apache-2.0):
`evaluate_from_local.py` and `evaluate_from_api.py` (functions extract_answer -> extract_again ->
extract_final, also `compute_accuracy.py` level "l2"), and `evaluate_from_apiX.py` (_PATTERNS).
The behaviour is matched on real model outputs by tests/families/test_mmlu_pro_official.py.

Variants (the task spec's `scoring.variant`):

* ``local`` (default; what the repository runs for open-weights models):
  1. the FIRST ``answer is \\(?([A-J])\\)?`` in the text (case-sensitive);
  2. else ``.*[aA]nswer:\\s*([A-J])`` searched without DOTALL: the first line that holds an
     ``answer:`` followed by a letter, and on that line the last such ``answer:``;
  3. else the LAST standalone capital letter A–J (``\\b[A-J]\\b``, Unicode word boundaries).
* ``api``: the same chain after every ``**`` is removed (the API script strips markdown bold).
* ``last_match``: the 2025 API runner: for each of the three patterns in turn, its LAST match.

``strict`` keeps only pattern 1 (the repository's level "l1"). Letters are returned as found,
even beyond the item's options: upstream scores such a letter as wrong, not as missing.
Upstream replaces a missing answer by a random guess; evalkit never guesses (see the family's
`no_answer` setting for the expected-value equivalent).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from evalkit.scoring.extractors import Extraction, ExtractOptions, register_extractor

VARIANTS = ("local", "api", "last_match")

_ANSWER_IS = re.compile(r"answer is \(?([A-J])\)?")
_ANSWER_COLON = re.compile(r"[aA]nswer:\s*([A-J])")
_LONE_LETTER = re.compile(r"\b[A-J]\b")

_HOW = (
    "official pattern 1 ('answer is (X)')",
    "official fallback 2 ('Answer: X')",
    "official fallback 3 (last standalone letter A-J)",
)


def _answer_colon_first_line(text: str) -> str | None:
    """Upstream's `re.search(r'.*[aA]nswer:\\s*([A-J])', text)`: `.` stops at newlines, so the
    search settles on the first line where a match starts, and greedy `.*` takes its last one."""
    first = _ANSWER_COLON.search(text)
    if first is None:
        return None
    line_end = text.find("\n", first.start())
    if line_end < 0:
        line_end = len(text)
    last = first
    # Only where the match STARTS is bound to the line: `\s*` may run on over newlines.
    for m in _ANSWER_COLON.finditer(text, first.end()):
        if m.start() >= line_end:
            break
        last = m
    return last.group(1)


def _last_lone_letter(text: str) -> str | None:
    """Upstream's `\\b[A-J]\\b(?!.*\\b[A-J]\\b)` with DOTALL: a standalone letter with no other
    after it, i.e. the last one (two single letters can never be adjacent word characters)."""
    last = None
    for last in _LONE_LETTER.finditer(text):  # noqa: B007 - only the last match is wanted
        pass
    return last.group(0) if last else None


def _first_answer_is(text: str) -> str | None:
    m = _ANSWER_IS.search(text)
    return m.group(1) if m else None


def _last_of(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    def find(text: str) -> str | None:
        found = pattern.findall(text)
        return str(found[-1]) if found else None

    return find


_CHAIN: tuple[Callable[[str], str | None], ...] = (
    _first_answer_is,
    _answer_colon_first_line,
    _last_lone_letter,
)
_LAST_MATCH_CHAIN: tuple[Callable[[str], str | None], ...] = (
    _last_of(_ANSWER_IS),
    _last_of(_ANSWER_COLON),
    _last_lone_letter,
)


def extract_mmlu_pro(text: str | None, *, variant: str = "local", strict: bool = False) -> Extraction:
    """The letter MMLU-Pro's official scripts would extract from `text`, or None with a reason."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown MMLU-Pro extraction variant {variant!r} (known: {', '.join(VARIANTS)})")
    if text is None:
        return Extraction(None, "no answer text")
    if variant == "api":
        text = text.replace("**", "")
    chain = _LAST_MATCH_CHAIN if variant == "last_match" else _CHAIN
    for how, find in zip(_HOW, chain[:1] if strict else chain, strict=False):
        letter = find(text)
        if letter:
            return Extraction(letter, f"{how}, {variant} variant")
    if strict:
        return Extraction(None, "no 'answer is (X)' statement (strict: official pattern 1 only)")
    return Extraction(None, "no letter A-J found by the official chain")


@register_extractor("mmlu_pro_official", letters=True)
def mmlu_pro_extractor(text: str | None, opts: ExtractOptions) -> Extraction:
    """MMLU-Pro's official extraction chain (`scoring.variant`: local, api, last_match)."""
    return extract_mmlu_pro(text, variant=opts.variant, strict=opts.strict)
