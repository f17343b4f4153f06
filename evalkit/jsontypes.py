"""Types of values that are JSON by nature: tool-call arguments, simulated API results, rows
of a data file, what a server sent.

`JSONValue` is recursive and strict: reading a field of a `JSONObject` gives a `JSONValue`,
which mypy makes the reader narrow (`isinstance`) before using it as a number, a string or a
container. Records whose shape evalkit fixes (samples.jsonl, metrics.json) are TypedDicts in
`evalkit.run_records`, not these.

Containers inside a value are read-only views (`Sequence`, `Mapping`), so a `list[str]` or a
`dict[str, int]` is a JSON value as it is; the top level `JSONObject` is a plain `dict`, which
code builds and changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = "JSONScalar | Sequence[JSONValue] | Mapping[str, JSONValue]"
JSONObject: TypeAlias = dict[str, JSONValue]

__all__ = ["JSONObject", "JSONScalar", "JSONValue"]
