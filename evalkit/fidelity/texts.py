"""The fixed text set of a fidelity measurement: conversations and the text that follows them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import DataError
from evalkit.jsonl import iter_jsonl
from evalkit.records import Message

DEFAULT_TEXTS = Path(__file__).parent / "texts" / "default.jsonl"


@dataclass(frozen=True)
class FidelityText:
    """One teacher-forced sequence: `messages` rendered by the chat template, then `continuation`."""

    id: str
    messages: list[Message]
    continuation: str
    lang: str = ""
    kind: str = ""


def load_texts(path: Path | None = None, limit: int | None = None) -> list[FidelityText]:
    """Read a JSONL text set (default: the bundled one, see texts/SOURCE.md).

    Each row: `id`, `messages` (OpenAI-style, ending with a user turn), `continuation`
    (non-empty text); optional `lang`, `kind`. Errors name the file, row and field.
    """
    path = path or DEFAULT_TEXTS
    if not path.is_file():
        raise DataError(path, None, None, "text set not found")
    out: list[FidelityText] = []
    seen: set[str] = set()
    for n, row in iter_jsonl(path):
        tid = row.get("id")
        if not isinstance(tid, str) or not tid:
            raise DataError(path, n, "id", "missing or not a string")
        if tid in seen:
            raise DataError(path, n, "id", f"duplicate id {tid!r}")
        seen.add(tid)
        msgs = row.get("messages")
        if (
            not isinstance(msgs, list)
            or not msgs
            or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") for m in msgs
            )
        ):
            raise DataError(path, n, "messages", "expected a non-empty list of {role, content} messages")
        if msgs[-1]["role"] != "user":
            raise DataError(path, n, "messages", "the last message must be the user's")
        cont = row.get("continuation")
        if not isinstance(cont, str) or not cont.strip():
            raise DataError(path, n, "continuation", "missing or empty")
        out.append(
            FidelityText(
                id=tid,
                messages=msgs,
                continuation=cont,
                lang=str(row.get("lang", "")),
                kind=str(row.get("kind", "")),
            )
        )
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise DataError(path, None, None, "no texts")
    return out
