"""Taking the program out of a model's answer, as LiveCodeBench does for chat models."""

from __future__ import annotations


def last_fenced_block(text: str) -> str:
    """The lines between the last two lines that contain a ``` fence; "" when there are fewer than two.

    This is LiveCodeBench's `extract_code` for chat styles (lcb_runner/utils/extraction_utils.py
    @28fef95): a fence line counts wherever ``` appears in it, and the language tag is dropped
    with the fence line. Call it on the answer part only (after the think block).
    """
    lines = text.split("\n")
    fences = [i for i, line in enumerate(lines) if "```" in line]
    if len(fences) < 2:
        return ""
    return "\n".join(lines[fences[-2] + 1 : fences[-1]])
