"""JSON Lines that every reader splits the same way.

`json.dumps(ensure_ascii=False)` keeps U+0085, U+2028 and U+2029 as they are, and
`str.splitlines()` (used by many readers) breaks lines there; model output contains them.
Escaping those three keeps one record per physical line for every reader, at no cost in
readability for Korean or Spanish text.

Lone surrogates ("\\ud800": a broken UTF-16 decoder, a byte-level tokenizer cut mid-character)
cannot be written as UTF-8 at all. They are written as JSON escapes, the way
`ensure_ascii=True` would write them, so `json.loads` gives back the very same string: the
text is kept, not replaced, and rerunning a store that holds one reads it back unchanged.
(A high surrogate directly followed by a low one reads back as the one character the pair
encodes, as JSON's UTF-16 escapes mean.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalkit.errors import DataError

_LINE_BREAKERS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def dumps_line(obj: Any) -> str:
    """One JSON record and its newline."""
    text = json.dumps(obj, ensure_ascii=False)
    if any(ch in text for ch in _LINE_BREAKERS):
        for ch, esc in _LINE_BREAKERS.items():
            text = text.replace(ch, esc)
    # Outside strings JSON text is ASCII, so every surrogate sits inside a string literal.
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(_escape_surrogate, text)
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
