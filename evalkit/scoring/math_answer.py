"""Finding the final answer in a model's math solution, as text (no sympy here).

Model output is untrusted, so everything in this module is plain string work in linear
time: no regular expression that can backtrack badly, no evaluation. What it returns is
handed to math-verify (in a separate, time-limited process, see `math_checker`) to decide
equivalence.

Where the final answer is, in order (the first rule that finds something decides):

1. `\\boxed{...}` / `\\fbox{...}` with nested braces. The LAST box wins, because models
   revise themselves ("\\boxed{5}... wait... \\boxed{7}"); boxes that stand right next to it,
   separated only by commas, "and", "y", "및" and the like, are read together as a list
   (HMMT Feb 2025 problem 10 has two answers). A last box that is never closed (a
   truncated output) is no answer: an earlier box is not promoted in its place.
2. An answer statement in English, Spanish or Korean ("the final answer is", "Answer:",
   "la respuesta final es", "Respuesta:", "정답은", "최종 답:"); the last one wins.
3. Nothing explicit: the tail of the text goes to math-verify's own extraction, which takes
   the last mathematical expression (the method is recorded, so such verdicts can be found).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_ANSWER_CHARS = 1000  # a final answer longer than this is not an answer (and not worth a check)
FALLBACK_TAIL_CHARS = 2000  # how much of an answer without box or statement math-verify searches

BOXED = "boxed"
STATEMENT = "statement"
FALLBACK = "last expression"


@dataclass(frozen=True)
class FoundAnswer:
    """The final answer as written (`text`), how it was found, or why nothing was (`text` None)."""

    text: str | None
    method: str  # BOXED, STATEMENT, FALLBACK, or "none"
    reason: str = ""


# ---------------------------------------------------------------------------------------
# \boxed{...}
# ---------------------------------------------------------------------------------------
_BOX_COMMANDS = ("\\boxed", "\\fbox")
_BARE_TOKEN = re.compile(r"[ \t]*([^\s${}]+)")  # \boxed 5
# Text allowed between two boxes that are read together as one list answer.
_JOINERS = re.compile(
    r"\s*(?:(?:,|;|&|\\quad|\\qquad|\\,|\\;|\\text\s*\{\s*(?:and|or|y|o|e|및|와|과|,)\s*\}"
    r"|\band\b|\bor\b|\by\b|\be\b|\bo\b|및|와|과|\$|\\\(|\\\)|\\\[|\\\])\s*)*"
)


def _closing_brace(text: str, open_at: int) -> int:
    """Index of the brace closing the one at `open_at`, or -1. Escaped braces (\\{ \\}) are literal."""
    depth = 0
    i = open_at
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2  # skip the escaped character, whatever it is
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


@dataclass(frozen=True)
class _Box:
    start: int
    end: int  # one past the closing brace; -1 when never closed
    content: str


def find_boxes(text: str) -> list[_Box]:
    """Every \\boxed{...} / \\fbox{...} in order, nested braces respected.

    `\\boxed 5` (no braces) takes the next token. A box whose brace never closes is kept with
    end == -1, so that the caller can tell a truncated final box from no box at all.
    """
    boxes: list[_Box] = []
    pos = 0
    while True:
        starts = [(text.find(cmd, pos), cmd) for cmd in _BOX_COMMANDS]
        starts = [(i, c) for i, c in starts if i >= 0]
        if not starts:
            return boxes
        i, cmd = min(starts)
        j = i + len(cmd)
        if j < len(text) and (text[j].isalpha()):  # \boxedfoo is another command
            pos = j
            continue
        k = j
        while k < len(text) and text[k] in " \t":
            k += 1
        if k < len(text) and text[k] == "{":
            close = _closing_brace(text, k)
            if close < 0:
                boxes.append(_Box(i, -1, text[k + 1 :]))
                return boxes
            boxes.append(_Box(i, close + 1, text[k + 1 : close]))
            pos = close + 1
        else:
            m = _BARE_TOKEN.match(text, j)
            if m:
                end = m.end()
                boxes.append(_Box(i, end, m.group(1).rstrip(".,;")))
                pos = end
            else:
                pos = j


def _last_box_group(text: str, boxes: list[_Box]) -> list[_Box]:
    group = [boxes[-1]]
    for prev in reversed(boxes[:-1]):
        gap = text[prev.end : group[0].start]
        if len(gap) > 40 or _JOINERS.fullmatch(gap) is None:
            break
        group.insert(0, prev)
    return group


# ---------------------------------------------------------------------------------------
# Answer statements
# ---------------------------------------------------------------------------------------
_STATEMENT = re.compile(
    r"(?:final\s+answer|the\s+answer|answer|respuesta(?:\s+final|\s+correcta)?|resultado\s+final"
    r"|최종\s*정답|최종\s*답안?|정답|답)"
    r"[\s*_]*(?:(?:is|es|será|sería)\b|은|는|이|:|：|=)[\s*_:：]*",
    re.IGNORECASE,
)
_PROSE = re.compile(r",\s+(?=[^\W\d_]{2,})|;\s|\s+\(")
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)


def _statement_answer(text: str) -> str | None:
    last = None
    for m in _STATEMENT.finditer(text):
        last = m
    if last is None:
        return None
    rest = text[last.end() :]
    span = _MATH_SPAN.match(rest.lstrip())
    if span is not None:
        return next(g for g in span.groups() if g is not None)
    line = rest.split("\n", 1)[0]
    # up to the end of the sentence: a period followed by a space or the end of the line
    stop = re.search(r"\.(?:\s|$)", line)
    if stop is not None:
        line = line[: stop.start()]
    # "19, and the other candidate 23 fails": the answer ends where the prose resumes
    stop = _PROSE.search(line)
    if stop is not None:
        line = line[: stop.start()]
    return line.strip() or None


def _capped(answer: str, method: str) -> FoundAnswer:
    if len(answer) > MAX_ANSWER_CHARS:
        return FoundAnswer(
            None, "none", f"final answer is {len(answer)} characters long (limit {MAX_ANSWER_CHARS})"
        )
    return FoundAnswer(answer, method)


# ---------------------------------------------------------------------------------------
# Public: find and normalize
# ---------------------------------------------------------------------------------------
def find_final_answer(text: str | None) -> FoundAnswer:
    """Locate the final answer in a model's answer text (its reasoning already removed)."""
    if text is None:
        return FoundAnswer(None, "none", "no answer text")
    if not text.strip():
        return FoundAnswer(None, "none", "empty answer")
    boxes = find_boxes(text)
    if boxes:
        if boxes[-1].end < 0:
            return FoundAnswer(None, "none", "the last \\boxed{} is never closed (truncated output?)")
        group = _last_box_group(text, boxes)
        parts = [b.content.strip() for b in group]
        if not any(parts):
            return FoundAnswer(None, "none", "the last \\boxed{} is empty")
        return _capped(", ".join(p for p in parts if p), BOXED)
    stated = _statement_answer(text)
    if stated:
        return _capped(stated, STATEMENT)
    return FoundAnswer(text[-FALLBACK_TAIL_CHARS:], FALLBACK)


_UNICODE = {
    "π": "\\pi ",
    "√": "\\sqrt ",
    "−": "-",  # U+2212 minus sign
    "–": "-",  # en dash used as a minus
    "×": "\\times ",
    "·": "\\cdot ",
    "⋅": "\\cdot ",
    "∞": "\\infty ",
    "≤": "\\le ",
    "≥": "\\ge ",
    "≠": "\\ne ",
    "°": "^\\circ",
    "⁄": "/",
    "∪": "\\cup ",
    "±": "\\pm ",
}
_CIRCLED = {c: str(i) for i, c in enumerate("①②③④⑤⑥⑦⑧⑨⑩", 1)}
# Digit groups: 1,000  1{,}000  1\,000  1 000  6,\!300 (TeX spacing commands between groups)
_SEP = r"(?:,|\{,\}|\\[,;:! ]|\u2009|\u202f| )+"
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:" + _SEP + r"\d{3})+(?:\.\d+)?")
_SEPARATOR = re.compile(_SEP)
_DECIMAL_COMMA = re.compile(r"[-+]?\d+(?:,|\{,\})\d+")
_TRAILING_HANGUL = re.compile(r"(?<=[0-9}$)\s])\s*[가-힣]+[.!]?$")
_PM = re.compile(r"\\pm(?![A-Za-z])")  # not \pmod
_MP = re.compile(r"\\mp(?![A-Za-z])")
_NUMERIC_HEAD = re.compile(r"^[-+]?(?:\d[\d.,]*|\\frac\{[^{}]*\}\{[^{}]*\}|\\d?frac\d\d)")
# words separated by mandatory spaces, so that a failed match cannot backtrack exponentially
_TRAILING_WORDS = re.compile(r"\s+[A-Za-zÁÉÍÓÚÑáéíóúñü]{2,}(?:\s+[A-Za-zÁÉÍÓÚÑáéíóúñü]{2,})*\.?\s*$")


def normalize_answer(answer: str, lang: str = "en", *, multi: bool = False) -> str:
    """Rewrite what math-verify would misread, and nothing else.

    Unicode math symbols become LaTeX; digit groups (1,000 / 1\\,000 / 1 000) become plain
    integers; a Spanish decimal comma (3,5) becomes a point when `lang` is "es" and the gold
    is not a list (`multi`); Korean endings and unit words after a number (5개, 12명입니다)
    and plain unit words after a number (30 grados, 12 metros) are dropped; a circled
    option number (③) becomes its digit.
    """
    s = unicodedata.normalize("NFKC", answer)
    for k, v in _UNICODE.items():
        s = s.replace(k, v)
    s = s.strip().strip("$").strip()
    s = re.sub(r"^\*\*|\*\*$", "", s).strip()
    if s.endswith((".", "。")) and not s.endswith(".."):
        s = s[:-1].rstrip()
    if s in _CIRCLED:
        return _CIRCLED[s]
    # NFKC has already turned ① into "1" in some fonts' compatibility forms; keep both paths.
    s = _TRAILING_HANGUL.sub("", s).strip()
    if _THOUSANDS.fullmatch(s):
        s = _SEPARATOR.sub("", s)
    elif lang == "es" and not multi and _DECIMAL_COMMA.fullmatch(s):
        s = s.replace("{,}", ".").replace(",", ".")
    if len(_PM.findall(s)) == 1 and not _MP.search(s):  # a \pm b is the list a + b, a - b
        s = f"{_PM.sub('+', s)}, {_PM.sub('-', s)}"
    if _NUMERIC_HEAD.match(s):
        s = _TRAILING_WORDS.sub("", s).strip()
        if _THOUSANDS.fullmatch(s):
            s = _SEPARATOR.sub("", s)
    return s


def option_texts(question: str) -> dict[str, str]:
    """Numbered options in a question, {"1": text, ...}: circled markers (① ... ⑤) or lines that
    start "1." ... "5.". Needs at least four options in order; otherwise {} (not a choice question)."""
    circled = "①②③④⑤"
    pos = [question.find(c) for c in circled]
    if all(p >= 0 for p in pos[:4]) and pos[:4] == sorted(pos[:4]):
        marks = [p for p in pos if p >= 0]
        if marks == sorted(marks):
            out = {}
            for i, p in enumerate(marks):
                end = marks[i + 1] if i + 1 < len(marks) else len(question)
                out[str(i + 1)] = question[p + 1 : end].strip().rstrip(",;")
            return out
    lines = re.findall(r"(?m)^\s*([1-5])[.)]\s*(.+?)\s*$", question)
    nums = [n for n, _ in lines]
    if len(lines) >= 4 and nums == [str(i) for i in range(1, len(nums) + 1)]:
        return {n: t for n, t in lines}
    return {}
