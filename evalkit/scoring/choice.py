"""Multiple-choice answer extraction, hardened for real model output in English, Korean, Spanish.

Rules, in order (the first tier that finds anything decides):

1. Committed statements, and the one that ENDS LAST in the text wins, because models revise
   themselves: ``Answer: C``, ``the answer is (C)``, ``정답: C``, ``정답은 C입니다``, ``B가 정답``,
   ``La respuesta correcta es la C``, ``I'll go with C``, ``Elijo la opción C``, ``\\boxed{C}``.
   After the statement comes a letter (``C``, ``(C)``, ``**C**``, ``c.``, ``③``, ``3번``) or an
   option's text (``정답: 서울입니다``). A statement naming two letters (``A and C``) or negating
   one (``정답은 C가 아니라 D``: D) is read as such, never as its first letter.
2. (not in strict mode) The last line is only a letter (``C``, ``(C)``, ``Option C``, ``3번``),
   or a letter with its own option's text (``C. 대구``); else the last standalone bold letter.
   A response that just lists the options is not an answer.
3. (not in strict mode) The whole answer, or its last line, is one option's text.

Nothing found gives ``value=None`` with a reason, never a guess. Letters beyond the item's
options (``Answer: F`` with five options) are reported as not an option.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.scoring.extractors import Extraction, ExtractOptions, register_extractor

LETTERS = "ABCDEFGHIJ"
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
# Full-width letters and brackets become ASCII; NFKC is not used on the whole text because it
# would also turn the circled digits that Korean exams use into plain digits.
_WIDTH = str.maketrans({chr(0xFF21 + i): LETTERS[i] for i in range(10)} | {"（": "(", "）": ")", "：": ":"})


_MAX_STATEMENTS = 200  # answer statements read per text, from its end
_PHRASE_MAX = 2000  # characters after a statement searched for an option's text


# --- statements that commit to an answer (case-insensitive) -------------------------------
_SEP = r"\s*(?:is|are|would\s+be|should\s+be|must\s+be|will\s+be|:|=|[-–—])"
_MARKERS = (
    # English
    r"\b(?:correct|final|best|right|true)\s+(?:answer|option|choice|response)" + _SEP,
    r"\banswer" + _SEP,
    r"\bI\s*(?:would|will|'d|'ll|’d|’ll)?\s*(?:choose|pick|select|go\s+with)\b",
    # Korean
    r"(?:정답|해답|답변|(?<![가-힣])답)\s*(?:은|는|:|=|[-–—])",
    r"정답[ \t]+(?=\S)",
    r"(?:옳은|맞는|알맞은|올바른|적절한)\s*(?:것|답|보기|선택지)\s*(?:은|는|:)",
    # Spanish
    r"\brespuesta\s*(?:correcta|final|definitiva)?\s*(?:es|ser[íi]a|ser[áa]|debe\s+ser|:|=|[-–—])",
    r"\b(?:opci[óo]n|alternativa)\s+(?:correcta|final)\s*(?:es|ser[íi]a|:)",
    r"\b(?:la|el)\s+correct[ao]\s+es",
    r"\b(?:elijo|eleg[íi]r[íi]a|escojo|escoger[íi]a|selecciono|seleccionar[íi]a|me\s+quedo\s+con)\b",
)
_MARKER = re.compile("|".join(f"(?:{m})" for m in _MARKERS), re.IGNORECASE)
# Between the statement and the letter: markup, quotes, and words such as "option" or "la".
_FILLER = re.compile(
    r"""[\s:*_=\-–—"'“”‘’`]*
        (?:(?:the\s+)?(?:option|choice|letter)\b\s*
          |(?:la|el)\s+(?:(?:opci[óo]n|alternativa|letra)\s+)?
          |(?:opci[óo]n|alternativa)\s+
          |(?:보기|선택지)\s*)?
        [\s:*_"'“”`$]*""",
    re.IGNORECASE | re.VERBOSE,
)
# One answer letter as models write it.
_FORM = re.compile(
    r"""(?:\\text(?:bf)?\{|\\mathrm\{)?
        (?:[(\[]\s*(?P<b>[A-Ja-j])\s*[)\]]
          |(?P<u>[A-J])(?![A-Za-z0-9_])
          |(?P<lc>[a-j])(?=[ \t]*(?:$|[.)\]:,;!*}]))
          |(?P<c>[①-⑩])
          |(?P<n>10|[1-9])\s*번)
        \}?(?:\*\*|__|\$)?""",
    re.VERBOSE | re.MULTILINE,
)
# "I think" and "A good ..." are a pronoun and an article, not options I and A.
_NOT_A_LETTER = re.compile(
    r"""(?:(?<=I)\s+(?:think|believe|guess|would|will|am|was|have|had|can|could|cannot|can't|don't|do|
            feel|must|need|should|might|may|agree|choose|chose|pick|select|go|hope|see|'m|'d|'ll|'ve)\b
        |(?<=A)\s+(?:good|bit|few|lot|great|little|single|possible|more|very|better|reasonable|
            simple|common|key|similar|careful|quick|closer|detailed|clear|correct\s+answer)\b)""",
    re.VERBOSE,
)
_NEGATION = re.compile(r"\s*(?:가|이)?\s*아니(?:라|고|며)\s*", re.IGNORECASE)
# "Answer: A is wrong", "A는 틀렸다": a letter being ruled out, not chosen.
_RULED_OUT = re.compile(
    r"\s+(?:is|es)\s+(?:not|wrong|incorrect|false|incorrecta|falsa|err[óo]nea)\b|\s+isn't\b|\s+no\s+es\b"
    r"|\s*(?:는|은|이|가|도)\s*(?:틀|오답|아님|아닙)",
    re.IGNORECASE,
)
_LIST_JOIN = re.compile(
    r"\s*(?:,|/|&|\band\b|\bor\b|\by\b|\bo\b|와|과|및|또는|이나|나)\s*(?:(?:option|opci[óo]n|la)\s+)?",
    re.IGNORECASE,
)
_BRACKETED_LIST = re.compile(r"[(\[]\s*[A-J](?:\s*(?:,|/|&|and|or)\s*[A-J])+\s*[)\]]")
_NOT_A_LIST = re.compile(
    r"\s+(?:is|are|was|were|es|son|fue|seems|parece)\b|\s*(?:는|은|이|가)\s", re.IGNORECASE
)
# Korean puts the letter first: "B가 정답입니다", "3번이 답", "C를 선택합니다".
_REVERSED = re.compile(
    r"(?<![A-Za-z0-9])(?P<form>[(\[]?[A-J][)\]]?|[①-⑩]|(?:10|[1-9])\s*번)\s*"
    r"(?:(?:이|가)\s*(?:최종\s*)?(?:정답|답(?!변|안|장|하|을|를)|옳|맞는\s*답)|(?:을|를)\s*(?:선택|고르))"
)
_BOXED = re.compile(r"\\boxed\s*\{(?P<body>(?:[^{}]|\{[^{}]*\})*)\}")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}")
_BOLD_LETTER = re.compile(r"(?:\*\*|__)\s*\(?(?P<l>[A-J])\)?[.)]?\s*(?:\*\*|__)")
_BARE_LINE = re.compile(
    r"^[\s>*_#`]*(?:(?:option|choice|opci[óo]n|보기|선택지)\s*)?"
    r"(?:[(\[]?(?P<l>[A-J])[)\]]?|(?P<c>[①-⑩])|(?P<n>10|[1-9])\s*번)[.:]?[\s*_`]*$",
    re.IGNORECASE,
)
_LETTERED_LINE = re.compile(r"^[\s>*_#`-]*[(\[]?(?P<l>[A-J])[)\].:][\s*_]*(?P<text>\S.*?)[\s*_.]*$")
_CLAUSE_BREAK = re.compile(r"[,;。]|\.(?:\s|$)|\s[-–—]\s|\s(?:because|since|porque|ya\s+que|이므로)\s")
_COPULAS = ("입니다", "이다", "이에요", "예요", "에요", "임", "다", "です")


def _drop_copula(s: str) -> str:
    """'서울입니다.' -> '서울' (string ops, not a regex: answers can be long runs of junk)."""
    s = s.rstrip().rstrip(".。!").rstrip()
    for suffix in _COPULAS:
        if s.endswith(suffix):
            return s[: -len(suffix)].rstrip()
    return s


def normalize_text(s: str) -> str:
    """Casefold, drop markup, punctuation and spaces: for matching option texts."""
    s = unicodedata.normalize("NFKC", s)
    s = _TEXT_CMD.sub(r"\1", s)
    s = re.sub(r"[\s*_`$\\.,;:!?'\"()\[\]{}。、“”‘’]+", "", s)
    return s.casefold()


def _match_option_text(text: str, options: Sequence[str]) -> str | None:
    target = normalize_text(text)
    if not target:
        return None
    hits = [i for i, opt in enumerate(options) if normalize_text(str(opt)) == target]
    return LETTERS[hits[0]] if len(hits) == 1 else None


def _option_in_phrase(rest: str, options: Sequence[str]) -> str | None:
    """An option's text at the start of what follows a statement: the whole line, the line up to
    its first clause break, or either without a Korean/Japanese copula ("서울입니다")."""
    if not options:
        return None
    line = rest.split("\n", 1)[0]
    clause = _CLAUSE_BREAK.split(line)[0]
    for cand in (line, clause):
        for c in (cand, _drop_copula(cand)):
            letter = _match_option_text(c, options)
            if letter:
                return letter
    return None


def _letter_of(m: re.Match[str]) -> str | None:
    if m.group("b"):
        return m.group("b").upper()
    if m.group("u"):
        return m.group("u")
    if m.group("lc"):
        return m.group("lc").upper()
    if m.group("c"):
        return LETTERS[_CIRCLED.index(m.group("c"))]
    n = m.group("n")
    return LETTERS[int(n) - 1] if n else None


@dataclass(frozen=True)
class _Found:
    end: int  # where the statement ends: the last one in the text wins
    letter: str | None  # None: the statement names several letters
    how: str


def _form_at(text: str, pos: int) -> tuple[str, re.Match[str]] | None:
    m = _FORM.match(text, pos)
    if m is None:
        return None
    letter = _letter_of(m)
    if letter is None or (m.group("u") in ("I", "A") and _NOT_A_LETTER.match(text, m.end("u"))):
        return None
    return letter, m


def _statement(text: str, pos: int, options: Sequence[str], how: str) -> _Found | None:
    """Read what follows a committing statement that ends at `pos`."""
    start = _FILLER.match(text, pos)
    p = start.end() if start else pos
    form = _form_at(text, p)
    if form is None:
        listed = _BRACKETED_LIST.match(text, p)
        if listed:  # "The answer is (A, G)"
            return _Found(listed.end(), None, f"{how} naming several letters ({listed.group(0)})")
        letter = _option_in_phrase(text[p : p + _PHRASE_MAX], options)
        return _Found(p, letter, f"{how} naming an option's text") if letter else None
    letter, m = form
    if m.group("u") and _RULED_OUT.match(text, m.end()):  # "Answer: A is wrong" (not "(A) is ...")
        return None
    neg = _NEGATION.match(text, m.end())
    if neg:  # "정답은 C가 아니라 D입니다": the letter after the negation is the answer
        after = _form_at(text, neg.end())
        return _Found(after[1].end(), after[0], how) if after else None
    join = _LIST_JOIN.match(text, m.end())
    if join:
        other = _form_at(text, join.end())
        if other and other[0] != letter and not _NOT_A_LIST.match(text, other[1].end()):
            return _Found(other[1].end(), None, f"{how} naming several letters ({letter}, {other[0]})")
    return _Found(m.end(), letter, how)


def _explicit(text: str, options: Sequence[str]) -> list[_Found]:
    found: list[_Found] = []
    # The last statement wins, so read them from the end and stop at the first that commits;
    # junk that repeats "answer:" thousands of times costs at most _MAX_STATEMENTS reads.
    for m in reversed(list(_MARKER.finditer(text))[-_MAX_STATEMENTS:]):
        f = _statement(text, m.end(), options, "explicit answer statement")
        if f:
            found.append(f)
            break
    for m in _REVERSED.finditer(text):
        form = _form_at(text, m.start("form"))
        if form:
            found.append(_Found(m.end(), form[0], "explicit answer statement (letter first)"))
    for m in _BOXED.finditer(text):
        body = _TEXT_CMD.sub(r"\1", m.group("body")).strip()
        form = _form_at(body, 0)
        # "\boxed{C}", or "\boxed{C: 42}" (a letter, a separator, then its content)
        tail = body[form[1].end() :] if form else ""
        if form and (not tail.strip(" .:)-") or re.match(r"\s*[.:)\-–]\s*\S", tail)):
            found.append(_Found(m.end(), form[0], "\\boxed{} letter"))
        elif options and (by_text := _match_option_text(body, options)):
            found.append(_Found(m.end(), by_text, "\\boxed{} option text"))
    return found


def _check(letter: str, n_options: int, how: str) -> Extraction:
    if LETTERS.index(letter) >= n_options:
        return Extraction(None, f"{how} gives {letter}, which is not an option (A–{LETTERS[n_options - 1]})")
    return Extraction(letter, how)


def _last_line(lines: list[str], options: Sequence[str], text: str) -> Extraction | None:
    if not lines:
        return None
    bare = _BARE_LINE.match(lines[-1])
    if bare:
        letter = bare.group("l") or (
            LETTERS[_CIRCLED.index(bare.group("c"))] if bare.group("c") else LETTERS[int(bare.group("n")) - 1]
        )
        return Extraction(letter.upper(), "bare letter on the last line")
    lettered = _LETTERED_LINE.match(lines[-1])
    if lettered and options:
        listed = {m.group("l") for ln in lines if (m := _LETTERED_LINE.match(ln))}
        by_text = _match_option_text(lettered.group("text"), options)
        if len(listed) == 1 and by_text == lettered.group("l"):
            return Extraction(by_text, "last line is a letter with its option's text")
    bold = list(_BOLD_LETTER.finditer(text))
    if bold:
        return Extraction(bold[-1].group("l"), "bold letter")
    return None


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
    text = text.translate(_WIDTH)

    found = _explicit(text, options)
    if found:
        last = max(found, key=lambda f: f.end)
        if last.letter is None:
            return Extraction(None, last.how)
        return _check(last.letter, n_options, last.how)
    if strict:
        return Extraction(None, "no explicit answer statement (strict mode)")

    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    tier2 = _last_line(lines, options, text)
    if tier2 is not None and tier2.value is not None:
        return _check(tier2.value, n_options, tier2.reason)

    if options:
        for candidate, how in (
            (text, "answer equals an option's text"),
            (lines[-1] if lines else "", "last line equals an option's text"),
            (_drop_copula(lines[-1]) if lines else "", "last line equals an option's text"),
        ):
            letter = _match_option_text(candidate, options)
            if letter:
                return Extraction(letter, how)
    return Extraction(None, "no answer found")


@register_extractor("choice", letters=True)
def choice_extractor(text: str | None, opts: ExtractOptions) -> Extraction:
    """evalkit's hardened extractor: the committed option letter (English, Korean, Spanish).

    Without option texts (a short-answer task) it reads any letter A-J."""
    n = len(opts.options) or len(LETTERS)
    return extract_choice(text, n, opts.options, strict=opts.strict)
