"""API states in a canonical JSON form, for comparing runs and recording them as hashes."""

from __future__ import annotations

import json
from typing import Any


def canonical(o: Any) -> Any:
    """A JSON form in which equal states are equal (dicts and sets unordered, floats exact).

    A file-system `Directory` or `File` stands for its name and contents (what its `==`
    compares: a directory's parent link is not part of it).
    """
    kind = type(o).__name__
    if kind == "Directory":
        return {"dir": o.name, "contents": canonical(o.contents)}
    if kind == "File":
        return {"file": o.name, "content": o.content}
    if o is Ellipsis:
        return {"ellipsis": True}
    if isinstance(o, dict):
        pairs = [[canonical(k), canonical(v)] for k, v in o.items()]
        return {"d": sorted(pairs, key=lambda kv: json.dumps(kv, sort_keys=True))}
    if isinstance(o, set | frozenset):
        return {"s": sorted(json.dumps(canonical(x), sort_keys=True) for x in o)}
    if isinstance(o, list | tuple):
        return [canonical(x) for x in o]
    if isinstance(o, float):
        return {"f": repr(o)}
    if o is None or isinstance(o, str | int | bool):
        return o
    return {"object": kind, "repr": repr(o)}


def canonical_state(instances: dict[str, object]) -> dict[str, dict[str, object]]:
    """Per class, the canonical form of each public attribute (those BFCL's checker compares)."""
    return {
        name: {k: canonical(v) for k, v in vars(obj).items() if not k.startswith("_")}
        for name, obj in instances.items()
    }
