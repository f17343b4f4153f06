"""RULER's scoring (scripts/eval/evaluate.py and scripts/eval/synthetic/constants.py): a
prediction is stripped, control characters become newlines, and each reference is looked
for case-insensitively. `all`: the fraction of references found; `part`: 1 if any is found.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f]")


def postprocess(prediction: str) -> str:
    return _CONTROL.sub("\n", prediction.strip()).strip()


def string_match_all(prediction: str, references: list[str]) -> float:
    """Fraction of the references contained in the prediction (case-insensitive)."""
    if not references:
        return 0.0
    pred = postprocess(prediction).lower()
    return sum(1.0 for r in references if r.lower() in pred) / len(references)


def string_match_part(prediction: str, references: list[str]) -> float:
    """1.0 if any reference is contained in the prediction (case-insensitive), else 0.0."""
    pred = postprocess(prediction).lower()
    return 1.0 if any(r.lower() in pred for r in references) else 0.0
