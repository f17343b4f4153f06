"""openai/simple-evals' multiple-choice answer extraction, reimplemented (GPQA, MMLU, MMMLU).

Read from openai/simple-evals at commit ee3b0318d8d1d9d72755a4120879be65f7c07e9e (MIT):
`common.py` (ANSWER_PATTERN_MULTICHOICE, MULTILINGUAL_ANSWER_REGEXES and the template around
them, normalize_response, normalize_extracted_answer), `gpqa_eval.py` and `mmlu_eval.py`.

* ``simple_evals`` (GPQA): the FIRST ``Answer: X`` (case-insensitive, letters A–D, an optional
  ``$`` around the letter) in the raw response.
* ``simple_evals_multilingual`` (MMLU / MMMLU): the response loses its markdown bold and LaTeX
  wrappers first; then each answer word of the list below is tried in order ("Answer:", "정답:",
  "Respuesta:", ...), and the first one that occurs decides, at its first occurrence. Arabic,
  Bengali and full-width letters map to A–D.

Both are already "explicit statements only": there is no fallback to a bare letter. Because the
patterns are case-insensitive, "answer: b" extracts "b", which upstream then scores as wrong
(it compares with "B"); that is kept, so that figures match upstream.
"""

from __future__ import annotations

import re

from evalkit.scoring.extractors import Extraction, ExtractOptions, register_extractor

_MULTICHOICE = re.compile(r"(?i)Answer[ \t]*:[ \t]*\$?([A-D])\$?")

# The answer words of simple-evals' MULTILINGUAL_ANSWER_REGEXES, in upstream order (order
# matters: the first word that occurs anywhere wins). Data, not code: the protocol is the list.
_ANSWER_WORDS = (
    r"Answer\s*:",
    "Answer\\s*:\u200b\u200b\u200b\u200b\u200b\u200b",  # upstream's "Korean invisible character" entry
    r"উত্তর\s*:",
    r"उत्तर\s*:",
    r"উত্তরঃ",
    r"উত্তর\s*:",
    r"Antwort\s*:",
    r"답변\s*:",
    r"정답\s*:",
    r"답\s*:",
    r"答案\s*：",
    r"答案\s*:",
    r"答\s*：",
    r"答\s*:",
    r"答复\s*：",
    r"答曰\s*：",
    r"الإجابة:",
    r"الجواب:",
    r"إجابة:",
    r"الإجابة النهائية:",
    r"الإجابة الصحيحة:",
    r"الإجابة الصحيحة هي:",
    r"الإجابة هي:",
    r"الجواب النهائي:",
    r"Respuesta\s*:",
    r"Risposta\s*:",
    r"答え\s*:",
    r"答え\s*：",
    r"回答\s*:",
    r"回答\s*：",
    r"解答\s*:",
    r"Jawaban\s*:",
    r"Réponse\s*:",
    r"Resposta\s*:",
    r"Jibu\s*:",
    r"Idahun\s*:",
    r"Ìdáhùn\s*:",
    r"Idáhùn\s*:",
    r"Àmọ̀nà\s*:",
    r"Àdáhùn\s*:",
    r"Ànúgọ\s*:",
    r"Àṣàyàn\s*:",
)
_LETTER_ALTERNATIVES = r"[ \t]*([A-D]|[أ-د]|[অ]|[ব]|[ড]|[ঢ]|[Ａ]|[Ｂ]|[Ｃ]|[Ｄ])"
_MULTILINGUAL = tuple(re.compile("(?i)" + w + _LETTER_ALTERNATIVES) for w in _ANSWER_WORDS)

# normalize_response: removals applied in this order (order matters: "$\\boxed{" before "$").
_RESPONSE_REMOVALS = (
    "**",
    "$\\boxed{",
    "}$",
    "\\$",
    "$\\text{",
    "$",
    "\\mathrm{",
    "\\{",
    "\\text",
    "\\(",
    "\\mathbf{",
    "{",
    "\\boxed",
)
# normalize_extracted_answer: other scripts' letters for A-D ("أ" -> " A", then stripped).
_LETTER_MAP = str.maketrans(
    {
        "أ": "A",
        "ب": "B",
        "ج": "C",
        "د": "D",
        "অ": "A",
        "ব": "B",
        "ড": "C",
        "ঢ": "D",
        "Ａ": "A",
        "Ｂ": "B",
        "Ｃ": "C",
        "Ｄ": "D",
    }
)


def normalize_response(text: str) -> str:
    """simple-evals' normalize_response: drop markdown bold and common LaTeX wrappers."""
    for piece in _RESPONSE_REMOVALS:
        text = text.replace(piece, "")
    return text


def extract_simple_evals(text: str | None) -> Extraction:
    """GPQA's extraction in simple-evals: the first `Answer: X` of the raw response."""
    if text is None:
        return Extraction(None, "no answer text")
    m = _MULTICHOICE.search(text)
    if m is None:
        return Extraction(None, "no 'Answer: X' line (simple-evals pattern)")
    return Extraction(m.group(1), "simple-evals 'Answer: X'")


def extract_simple_evals_multilingual(text: str | None) -> Extraction:
    """MMLU/MMMLU's extraction in simple-evals: answer words in upstream order, first occurrence."""
    if text is None:
        return Extraction(None, "no answer text")
    normalized = normalize_response(text)
    for word, pattern in zip(_ANSWER_WORDS, _MULTILINGUAL, strict=True):
        m = pattern.search(normalized)
        if m:
            label = word.replace("\\s*", "").replace("\u200b", "")
            return Extraction(m.group(1).translate(_LETTER_MAP).strip(), f"simple-evals '{label}' statement")
    return Extraction(None, "no answer statement in any language (simple-evals patterns)")


@register_extractor("simple_evals", letters=True)
def simple_evals_extractor(text: str | None, opts: ExtractOptions) -> Extraction:
    """simple-evals' GPQA extraction: the first `Answer: X` of the raw response (A-D)."""
    return extract_simple_evals(text)


@register_extractor("simple_evals_multilingual", letters=True)
def simple_evals_multilingual_extractor(text: str | None, opts: ExtractOptions) -> Extraction:
    """simple-evals' MMLU/MMMLU extraction: answer words in upstream order (A-D)."""
    return extract_simple_evals_multilingual(text)
