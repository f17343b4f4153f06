"""Free-text answer extractors for short-answer tasks (registered by name, see `extractors`).

    boxed         the content of the last \\boxed{...}
    final_answer  evalkit's math answer finder: the last box, else an answer statement
                  ("The final answer is", "Respuesta:", "정답은"), else the text's tail
    last_line     the last non-empty line

All are linear-time string work on untrusted text (see `math_answer`).
"""

from __future__ import annotations

from evalkit.scoring.extractors import Extraction, ExtractOptions, register_extractor
from evalkit.scoring.math_answer import MAX_ANSWER_CHARS, find_boxes, find_final_answer


@register_extractor("boxed")
def boxed(text: str | None, opts: ExtractOptions) -> Extraction:
    """The content of the last \\boxed{} / \\fbox{} (nested braces respected)."""
    if text is None or not text.strip():
        return Extraction(None, "no answer text")
    boxes = find_boxes(text)
    if not boxes:
        return Extraction(None, "no \\boxed{} answer")
    last = boxes[-1]
    if last.end < 0:
        return Extraction(None, "the last \\boxed{} is never closed (truncated output?)")
    content = last.content.strip()
    if not content:
        return Extraction(None, "the last \\boxed{} is empty")
    if len(content) > MAX_ANSWER_CHARS:
        reason = f"the last \\boxed{{}} holds {len(content)} characters (limit {MAX_ANSWER_CHARS})"
        return Extraction(None, reason)
    return Extraction(content, "last \\boxed{}")


@register_extractor("final_answer")
def final_answer(text: str | None, opts: ExtractOptions) -> Extraction:
    """evalkit's math answer finder: the last box, an answer statement, else the text's tail."""
    found = find_final_answer(text)
    if found.text is None:
        return Extraction(None, found.reason)
    return Extraction(found.text, f"final answer ({found.method})")


@register_extractor("last_line")
def last_line(text: str | None, opts: ExtractOptions) -> Extraction:
    """The last non-empty line of the answer, stripped."""
    if text is None:
        return Extraction(None, "no answer text")
    for line in reversed(text.splitlines()):
        if line.strip():
            return Extraction(line.strip(), "last line")
    return Extraction(None, "empty answer")
