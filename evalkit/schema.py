"""Schemas of the YAML configs (task specs, runner profiles, gate policies), checked with pydantic.

Each loader validates the raw YAML mapping against its schema before it builds its typed
record, so a wrong type, an unknown key, a zero or negative count, an out-of-range value or
a string where a boolean belongs (`strict: "false"`) is a DataError naming the file and the
field (exit 2), never a traceback and never a silently different setting. The schemas are
strict: 2.5 is not an integer, "false" is not a boolean, 1 is a number (YAML writes 1.0 so).
The loaders still read the raw mapping themselves, so every valid config loads as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evalkit.errors import DataError

# Counts are positive integers; a seed or a retry count may be 0.
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class Strict(BaseModel):
    """Base of every config schema: no unknown keys, no type coercion, no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "missing required key"
    got = repr(err.get("input"))
    if len(got) > 60:
        got = got[:57] + "..."
    msg = re.sub(r" or instance of \w+", "", str(err["msg"]))  # not the schema's class name
    msg = msg.removeprefix("Value error, ")  # a validator's own message reads as it is
    msg = msg[0].lower() + msg[1:] if msg else msg
    return f"{msg}, got {got}"


def _first_error(e: ValidationError) -> dict[str, Any]:
    # Unions report one error per member; the one that got furthest into the value names the
    # field best (e.g. `modes.reasoning.n`, not the union member `modes.reasoning`). At equal
    # depth an unknown key wins: a misspelt key also makes the right one look missing.
    errors: list[Any] = list(e.errors())
    return max(errors, key=lambda x: (len(x["loc"]), x["type"] == "extra_forbidden"))


def validate(
    schema: type[Strict],
    raw: Any,
    path: str | Path,
    *,
    prefix: str = "",
    rows: str | None = None,
) -> None:
    """Check `raw` against `schema`; the first problem becomes a DataError naming the field.

    `prefix` is put before every field (e.g. "settings." for a profile's runner settings).
    `rows` names a list whose entries are reported as the row (gate policies: "tasks", so an
    error reads `tasks[3], field 'allow_placeholder'`).
    """
    try:
        schema.model_validate(raw)
    except ValidationError as e:
        err = _first_error(e)
        loc = tuple(err["loc"])
        # Members of a union are named in loc by their type (e.g. 'list[str]', 'str'): drop them.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _TYPE_NAMES)))
        row = None
        if rows is not None and len(loc) >= 2 and loc[0] == rows and isinstance(loc[1], int):
            row, loc = f"{rows}[{loc[1] + 1}]", loc[2:]
        field = prefix + _dotted(loc) if loc else (prefix.rstrip(".") or None)
        raise DataError(path, row, field, _problem(err)) from None


_TYPE_NAMES = {"str", "int", "float", "bool", "dict", "list", "date", "none", "function-after"}
