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
   truncated output) is no answer: an earlier box is not promoted in its place. Boxes
   labelled as parts ("\\boxed{a} for part (a) and \\boxed{b}", "y_1 = \\boxed{a} and
   y_2 = \\boxed{b}") are read together too.
2. An answer statement in English, Spanish or Korean ("the final answer is", "Answer:",
   "la respuesta final es", "Respuesta:", "정답은", "최종 답:"); the last one wins. A
   statement written after the last box wins over it ("...\\boxed{255}... Final Answer: The
   final answer is $10,455$"). A statement in prose ("The largest $n$ is 34.") is handed to
   math-verify as free text (`FoundAnswer.raw`), which takes its last expression.
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
    raw: bool = False  # free text (a FALLBACK tail, or a statement in prose): math-verify searches it


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
# Labels of parts between boxes, removed before the joiners are matched: "for part (a)",
# "y_2 =", "(b)"; a \text{...} between boxes is read as its content.
_TEXT_WRAP = re.compile(r"\\text\s*\{([^{}]{0,40})\}")
_PART_LABELS = re.compile(
    r"(?:for|in)\s+part\s*\(?[a-z0-9]{1,3}\)?"
    r"|(?<![\w\\])[A-Za-z](?:_\{?\w{1,3}\}?)?\s*=(?!=)"
    r"|(?<![\w\\])\(?[a-z0-9]\)(?=\s|$)",
    re.IGNORECASE,
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
        if len(gap) > 60:
            break
        gap = _PART_LABELS.sub(" ", _TEXT_WRAP.sub(lambda m: f" {m.group(1)} ", gap))
        if _JOINERS.fullmatch(gap) is None:
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


@dataclass(frozen=True)
class _Statement:
    start: int  # where the answer phrase begins
    text: str
    prose: bool  # a sentence about the answer rather than the answer itself


# "The largest $n$ is 34", "Jane started 3 hours ago": starts with two words (math spans
# removed first), not with a number or an expression.
_PROSE_START = re.compile(r"[^\W\d_]{2,}\s+[^\W\d_]+")


def _statement(text: str) -> _Statement | None:
    last = None
    for m in _STATEMENT.finditer(text):
        last = m
    if last is None:
        return None
    rest = text[last.end() :]
    span = _MATH_SPAN.match(rest.lstrip())
    if span is not None:
        return _Statement(last.start(), next(g for g in span.groups() if g is not None), False)
    line = rest.split("\n", 1)[0]
    # up to the end of the sentence: a period followed by a space or the end of the line
    stop = re.search(r"\.(?:\s|$)", line)
    if stop is not None:
        line = line[: stop.start()]
    if _PROSE_START.match(_MATH_SPAN.sub("x", line).strip()):
        return _Statement(last.start(), line.strip(), True)
    # "19, and the other candidate 23 fails": the answer ends where the prose resumes
    stop = _PROSE.search(line)
    if stop is not None:
        line = line[: stop.start()]
    return _Statement(last.start(), line.strip(), False) if line.strip() else None


def _overrides_box(stated: _Statement | None, box: _Box) -> bool:
    """A statement written after the last box replaces it when it clearly gives an answer:
    a number or expression, not "The answer is correct." nor a mix of text and $...$ pieces."""
    if stated is None or box.end < 0 or stated.start < box.end:
        return False
    return re.search(r"[\d\\]", stated.text) is not None and "$" not in stated.text


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
    stated = _statement(text)
    if boxes and not _overrides_box(stated, boxes[-1]):
        if boxes[-1].end < 0:
            return FoundAnswer(None, "none", "the last \\boxed{} is never closed (truncated output?)")
        group = _last_box_group(text, boxes)
        parts = [b.content.strip() for b in group]
        if not any(parts):
            return FoundAnswer(None, "none", "the last \\boxed{} is empty")
        return _capped(", ".join(p for p in parts if p), BOXED)
    if stated is not None:
        found = _capped(stated.text, STATEMENT)
        prose = stated.prose and found.text is not None
        return FoundAnswer(found.text, found.method, found.reason, raw=prose)
    return FoundAnswer(text[-FALLBACK_TAIL_CHARS:], FALLBACK, raw=True)


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
    if _NUMERIC_HEAD.match(s):
        s = _TRAILING_WORDS.sub("", s).strip()
        if _THOUSANDS.fullmatch(s):
            s = _SEPARATOR.sub("", s)
    return s


def plus_minus_both(answer: str) -> str | None:
    """`a \\pm b` as the list `a + b, a - b` (one \\pm, no \\mp), else None.

    Only a fallback: math-verify reads `1 \\pm \\sqrt{5}` and `\\{1 \\pm \\sqrt{5}, -2\\}` itself,
    but not `\\frac{-1 \\pm \\sqrt{17}}{2}`; the checker tries this form when math-verify's own
    reading of the answer is not equivalent.
    """
    if len(_PM.findall(answer)) != 1 or _MP.search(answer):
        return None
    return f"{_PM.sub('+', answer)}, {_PM.sub('-', answer)}"


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
