"""JSON Lines that every reader splits the same way.

`json.dumps(ensure_ascii=False)` keeps U+0085, U+2028 and U+2029 as they are, and
`str.splitlines()` (used by many readers) breaks lines there; model output contains them.
Escaping those three keeps one record per physical line for every reader, at no cost in
readability for Korean or Spanish text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalkit.errors import DataError

_LINE_BREAKERS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def dumps_line(obj: Any) -> str:
    """One JSON record and its newline."""
    text = json.dumps(obj, ensure_ascii=False)
    if any(ch in text for ch in _LINE_BREAKERS):
        for ch, esc in _LINE_BREAKERS.items():
            text = text.replace(ch, esc)
    return text + "\n"


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a bad line is a DataError naming it.

    Splits on "\\n" only, never with str.splitlines(): files written by other tools may
    still hold unescaped U+2028 and friends inside strings.
    """
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, n, None, f"not JSON ({e.msg})") from e
        if not isinstance(row, dict):
            raise DataError(path, n, None, "expected a JSON object")
        yield n, row
