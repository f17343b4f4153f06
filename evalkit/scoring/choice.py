"""Multiple-choice answer extraction, hardened for real model output in English, Korean, Spanish.

Rules, in order (the first tier that finds anything decides; within a tier the LAST
committed answer in the text wins, because models revise themselves):
1. an explicit answer statement: `Answer: C`, `the answer is (C)`, `정답: C`, `정답은 C입니다`,
   `La respuesta correcta es C`, `\\boxed{C}`, ... — the letter, or an option's text after it;
2. (not in strict mode) a standalone bold letter `**C**`, or a last line that is only a
   letter such as `C`, `(C)`, `C.`;
3. (not in strict mode) the whole answer, or its last line, equal to one option's text.
Nothing found gives `value=None` with a reason, never a guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

LETTERS = "ABCDEFGHIJ"
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"


@dataclass(frozen=True)
class Extraction:
    value: str | None  # the letter, or None
    reason: str  # how it was found, or why nothing was


# Words that commit to an answer. Case-insensitive; the letter itself must be upper case
# (or sit inside brackets) so that English articles ("a") are never read as option A.
_MARKERS = [
    r"(?:the\s+)?(?:correct|final|best|right)\s+(?:answer|option|choice)\s*(?:is|would\s+be|:)",
    r"(?:the\s+)?answer\s*(?:is|would\s+be|should\s+be|:|：)",
    r"\banswer\s*[-=]",
    r"정답\s*(?:은|는|:|：|=|\s)",
    r"(?<![가-힣])답\s*(?:은|는|:|：)",
    r"(?:la\s+)?respuesta\s*(?:correcta|final)?\s*(?:es|sería|:|：)",
    r"(?:la\s+)?opci[óo]n\s+correcta\s*(?:es|:)",
]
_FILLER = r"[\s:：*_]*(?:(?:option|choice|opci[óo]n|la\s+opci[óo]n|보기|선택지)\s*)?"
_LETTER_FORM = (
    r"(?:\*\*|__)?"
    r"(?:\((?P<l1>[A-Ja-j])\)|\[(?P<l2>[A-Ja-j])\]|(?P<l3>[A-J])(?![A-Za-z0-9_])|(?P<l4>[①-⑩]))"
    r"(?:\*\*|__)?"
)
_EXPLICIT = re.compile(
    r"(?:" + "|".join(_MARKERS) + r")" + _FILLER + r"(?P<form>" + _LETTER_FORM + r")?(?=(?P<rest>[^\n]*))",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed\s*\{(?P<body>(?:[^{}]|\{[^{}]*\})*)\}")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}")
_BOLD_LETTER = re.compile(r"(?:\*\*|__)\s*\(?(?P<l>[A-J])\)?[.)]?\s*(?:\*\*|__)")
_BARE_LINE = re.compile(r"^[\s>*_#`]*[\(\[]?(?P<l>[A-J])[\)\]]?[.:]?[\s*_`]*$")


def _letter_from(m: re.Match[str]) -> str | None:
    for g in ("l1", "l2", "l3"):
        v = m.group(g)
        if v:
            return v.upper()
    c = m.group("l4")
    if c:
        return LETTERS[_CIRCLED.index(c)]
    return None


def normalize_text(s: str) -> str:
    """Casefold, drop markup, punctuation and spaces: for matching option texts."""
    s = unicodedata.normalize("NFKC", s)
    s = _TEXT_CMD.sub(r"\1", s)
    s = re.sub(r"[\s*_`$\\.,;:!?'\"()\[\]{}。、]+", "", s)
    return s.casefold()


def _match_option_text(text: str, options: Sequence[str]) -> str | None:
    target = normalize_text(text)
    if not target:
        return None
    hits = [i for i, opt in enumerate(options) if normalize_text(str(opt)) == target]
    return LETTERS[hits[0]] if len(hits) == 1 else None


def _check(letter: str, n_options: int, how: str) -> Extraction:
    if LETTERS.index(letter) >= n_options:
        return Extraction(None, f"{how} gives {letter}, which is not an option (A–{LETTERS[n_options - 1]})")
    return Extraction(letter, how)


def extract_choice(
    text: str | None, n_options: int, options: Sequence[str] = (), *, strict: bool = False
) -> Extraction:
    """Extract the committed option letter from a model's answer text (reasoning removed)."""
    if not 2 <= n_options <= len(LETTERS):
        raise ValueError(f"n_options must be 2..{len(LETTERS)}, got {n_options}")
    if text is None:
        return Extraction(None, "no answer text")
    if not text.strip():
        return Extraction(None, "empty answer")

    # Tier 1: explicit statements and \boxed{}; the one that ends last wins.
    found: list[tuple[int, str, str]] = []  # (position, letter, how)
    for m in _EXPLICIT.finditer(text):
        if m.group("form"):
            letter = _letter_from(m)
            if letter:
                found.append((m.start("form"), letter, "explicit answer statement"))
                continue
        by_text = _match_option_text(m.group("rest"), options) if options else None
        if by_text:
            found.append((m.start("rest"), by_text, "answer statement naming an option's text"))
    for m in _BOXED.finditer(text):
        body = _TEXT_CMD.sub(r"\1", m.group("body")).strip().strip("()[]. ")
        if len(body) == 1 and body.upper() in LETTERS:
            found.append((m.start(), body.upper(), "\\boxed{} letter"))
        elif body in _CIRCLED:
            found.append((m.start(), LETTERS[_CIRCLED.index(body)], "\\boxed{} letter"))
        elif options and (by_text := _match_option_text(body, options)):
            found.append((m.start(), by_text, "\\boxed{} option text"))
    if found:
        _, letter, how = max(found, key=lambda t: t[0])
        return _check(letter, n_options, how)
    if strict:
        return Extraction(None, "no explicit answer statement (strict mode)")

    # Tier 2: a standalone bold letter, or a last line that is only a letter.
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    bare = _BARE_LINE.match(lines[-1]) if lines else None
    bold = list(_BOLD_LETTER.finditer(text))
    if bare:
        return _check(bare.group("l"), n_options, "bare letter on the last line")
    if bold:
        return _check(bold[-1].group("l"), n_options, "bold letter")

    # Tier 3: the answer is an option's text.
    if options:
        for candidate, how in (
            (text, "answer equals an option's text"),
            (lines[-1] if lines else "", "last line equals an option's text"),
        ):
            letter = _match_option_text(candidate, options)
            if letter:
                return Extraction(letter, how)
    return Extraction(None, "no answer found")
