"""BFCL's long-context filler data (long_context.json; see long_context.SOURCE.txt)."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

_PATH = Path(__file__).with_name("long_context.json")


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_PATH.read_text(encoding="utf-8"))
    # BFCL's watch-list filler ends with a literal `...`, stored as null.
    data["WATCH_LIST_EXTENSION"] = [Ellipsis if x is None else x for x in data["WATCH_LIST_EXTENSION"]]
    return data


def long_context_data() -> dict[str, Any]:
    """The filler data (shared and read-only: copy before mutating; see `fresh`)."""
    return _raw()


def fresh(name: str) -> Any:
    """A private deep copy of one filler constant, safe to put into a state."""
    return copy.deepcopy(_raw()[name])
