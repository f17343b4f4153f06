"""Validating an instruction's kwargs once, when the item is loaded.

The reference checkers draw a random value when an argument is missing or out of range
(they double as a prompt generator). For scoring that would make a verdict depend on
chance, so here such an argument is a data error that names the field.
"""

from __future__ import annotations

import re
from typing import Any

RELATIONS = ("less than", "at least")


class ArgError(ValueError):
    """A bad instruction argument; `field` names it."""

    def __init__(self, field: str, problem: str):
        self.field = field
        super().__init__(f"{field}: {problem}")


def get_int(kw: dict[str, object], name: str, *, minimum: int = 0) -> int:
    v = kw.get(name)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ArgError(name, f"needs an integer >= {minimum}, got {v!r}")
    return v


def get_str(kw: dict[str, object], name: str) -> str:
    v = kw.get(name)
    if not isinstance(v, str) or not v.strip():
        raise ArgError(name, f"needs a non-empty string, got {v!r}")
    return v


def get_relation(kw: dict[str, object], name: str) -> str:
    v = kw.get(name)
    if v not in RELATIONS:
        raise ArgError(name, f"must be one of {RELATIONS}, got {v!r}")
    return str(v)


def get_pattern(kw: dict[str, object], name: str, value: str) -> str:
    """The reference uses keywords as regular expressions; one that does not compile is bad data."""
    try:
        re.compile(value)
    except re.error as e:
        raise ArgError(name, f"{value!r} is not a valid regular expression ({e})") from e
    return value


def get_str_list(kw: dict[str, object], name: str) -> list[str]:
    v: Any = kw.get(name)
    if hasattr(v, "tolist"):  # numpy arrays from parquet
        v = v.tolist()
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise ArgError(name, f"needs a non-empty list of strings, got {v!r}")
    return [get_pattern(kw, name, x) for x in v]


def compare(count: int, relation: str, threshold: int) -> bool:
    """'less than' is strict; 'at least' is inclusive."""
    return count < threshold if relation == RELATIONS[0] else count >= threshold
