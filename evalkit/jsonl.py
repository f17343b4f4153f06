"""JSON Lines that every reader splits the same way.

`json.dumps(ensure_ascii=False)` keeps U+0085, U+2028 and U+2029 as they are, and
`str.splitlines()` (used by many readers) breaks lines there; model output contains them.
Escaping those three keeps one record per physical line for every reader, at no cost in
readability for Korean or Spanish text.
"""

from __future__ import annotations

import json
from typing import Any

_LINE_BREAKERS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def dumps_line(obj: Any) -> str:
    """One JSON record and its newline."""
    text = json.dumps(obj, ensure_ascii=False)
    if any(ch in text for ch in _LINE_BREAKERS):
        for ch, esc in _LINE_BREAKERS.items():
            text = text.replace(ch, esc)
    return text + "\n"
