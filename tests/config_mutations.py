"""Broken variants of a real config: each changes one value or adds one key so that the
config is certainly invalid, and says which field the error must name.

Rules (each breaks the config whatever the field's type, except where noted):
- a boolean becomes the string "false" / "true", or 1;
- an integer becomes the string "3", true, or -1 (no integer or number field takes -1);
  an integer count (COUNT_KEYS) also 0 and 2.5, another integer field (INT_KEYS) 2.5;
- a number becomes "abc", -1000 (every range starts above it), or .nan;
- a string becomes 5 or a list of numbers;
- any scalar becomes a mapping;
- every mapping gets an unknown key.
Free-form blocks (dataset column maps, request bodies, judge settings) are left alone:
anything is valid there.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

FREE_FORM = [("data", "fields"), ("data", "filter"), ("extra", "judge"), ("settings", "extra_body")]
# Mappings whose keys are free but whose values are checked (e.g. {default: 100, ICL: 500}).
FREE_KEYS = [("extra", "max_test_samples"), ("extra", "languages")]
# Integer fields that count something: 0 and 2.5 are both wrong.
COUNT_KEYS = {
    "max_new_tokens",
    "n",
    "batch_items",
    "max_items",
    "min_items",
    "max_batch_size",
    "max_seq_len",
    "prefill_tokens",
    "concurrency",
    "max_steps",
    "max_input_tokens",
    "answer_max_new_tokens",
    "input_max_length",
    "card_length",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "max_model_len",
    "max_num_seqs",
    "version",
}
# Other integer fields (0 allowed): 2.5 is wrong.
INT_KEYS = {"max_retries", "seed", "order_seed", "top_k"}


@dataclass(frozen=True)
class Variant:
    what: str  # e.g. "modes.reasoning.n = 2.5"
    raw: Any
    field: str  # the field the error must name, e.g. "modes.reasoning.n" or "tasks[3].mode"


def dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p + 1}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _free(path: tuple[Any, ...]) -> bool:
    return any(path[: len(p)] == p for p in FREE_FORM)


def _set(raw: Any, path: tuple[Any, ...], value: Any) -> Any:
    new = copy.deepcopy(raw)
    node = new
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return new


def _bad_values(key: Any, v: Any) -> list[Any]:
    if isinstance(v, bool):
        return ["false", "true", 1]
    if isinstance(v, int):
        return ["3", True, -1] + ([0, 2.5] if key in COUNT_KEYS else [2.5] if key in INT_KEYS else [])
    if isinstance(v, float):
        return ["abc", -1000.0, math.nan]
    if isinstance(v, str):
        return [5, [1]]
    return []


def _walk(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))


def variants(raw: dict[str, Any]) -> Iterator[Variant]:
    """Every broken variant of `raw`, in a fixed order."""
    for path, value in _walk(raw, ()):
        if not path or _free(path):
            continue
        name = dotted(path)
        if isinstance(value, dict):
            if path in FREE_KEYS:
                continue
            yield Variant(
                f"{name}.zz_unknown added", _set(raw, path, {**value, "zz_unknown": 1}), f"{name}.zz_unknown"
            )
            continue
        if isinstance(value, list):
            continue  # its items are walked
        key = next((p for p in reversed(path) if isinstance(p, str)), None)
        for bad in [*_bad_values(key, value), {"x": 1}]:
            yield Variant(f"{name} = {bad!r}", _set(raw, path, bad), name)
    yield Variant("zz_unknown added at the top", {**raw, "zz_unknown": 1}, "zz_unknown")
