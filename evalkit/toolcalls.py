"""Tool calls in EXAONE 4.0 output: `<tool_call>{"name": …, "arguments": {…}}</tool_call>` blocks.

The chat template tells the model to emit one such block per call. Parsing follows the
BFCL EXAONE 4.0 handler (gorilla da7f73a8, `exaone4_fc.py`) and vLLM's hermes parser: the
text between the tags is JSON; a block that does not parse is retried up to the brace that
closes its first object (trailing text after the object is forgiven), and skipped if that
fails too. Model output is untrusted: nothing here raises on malformed text. A block that
cannot become a value Python can handle (nested deeper than MAX_DEPTH, which recursive
checkers and `json.dumps` cannot walk; an integer beyond Python's 4300-digit limit) counts
as unparseable, like any other bad JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
# Far beyond any real call's arguments (BFCL's deepest accepted answer nests 6 levels), far
# below the interpreter's recursion limit.
MAX_DEPTH = 100


@dataclass(frozen=True)
class ParsedCalls:
    """The JSON values of the parseable blocks, in order, and how many blocks were skipped."""

    values: list[Any] = field(default_factory=list)
    skipped: int = 0


def _first_object(text: str) -> str | None:
    """The text up to the brace that closes the first `{` (None when it never closes)."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[: i + 1]
    return None


def _depth(value: Any) -> int:
    """How deep lists and objects nest in a decoded JSON value (iteratively: no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            if d <= MAX_DEPTH:
                stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def _loads(text: str) -> Any:
    """json.loads, with every way hostile text can fail it raised as ValueError."""
    try:
        value = json.loads(text)
    except RecursionError as e:  # json's C decoder recurses once per level
        raise ValueError("nested too deep") from e
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return value


def parse_tool_call_blocks(text: str) -> ParsedCalls:
    """Every `<tool_call>` block of `text`, JSON-decoded where possible."""
    values: list[Any] = []
    skipped = 0
    for body in _BLOCK.findall(text):
        body = body.strip()
        try:
            values.append(_loads(body))
            continue
        except ValueError:  # JSONDecodeError, the 4300-digit integer limit, depth
            pass
        head = _first_object(body)
        try:
            if head is None:
                raise ValueError("unclosed object")
            values.append(_loads(head))
        except ValueError:
            skipped += 1
    return ParsedCalls(values, skipped)


class DecodeError(ValueError):
    """The output is not a list of function calls (BFCL's `ast_decoder:decoder_failed`)."""


def decode_calls(text: str, json_string_arguments: bool = False) -> list[dict[Any, Any]]:
    """BFCL's decoded form `[{name: {param: value}}, …]`; raises DecodeError like the handler.

    No block at all decodes to `[]` (no call); a block whose JSON is not an object with a
    `name` and an `arguments` object makes the whole output undecodable.
    `json_string_arguments`: also accept `arguments` given as a string holding a JSON object,
    as BFCL's executable conversion (`convert_to_function_call`, used for the multi-turn
    categories) does with `json.loads`; its AST decoding (single-turn) does not.
    """
    parsed = parse_tool_call_blocks(text)
    out: list[dict[Any, Any]] = []
    for v in parsed.values:
        if not isinstance(v, dict):
            raise DecodeError(f"a tool call is not a JSON object: {v!r:.80}")
        if "name" not in v or "arguments" not in v:
            raise DecodeError(f"a tool call lacks 'name' or 'arguments': {v!r:.80}")
        args = v["arguments"]
        if json_string_arguments and isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError as e:
                raise DecodeError(f"'arguments' is a string but not JSON: {args!r:.80}") from e
        if not isinstance(args, dict):
            raise DecodeError(f"'arguments' is not an object: {args!r:.80}")
        try:
            out.append({v["name"]: dict(args)})
        except TypeError as e:  # an unhashable name (a list, an object)
            raise DecodeError(f"unusable function name {v['name']!r:.80}") from e
    return out


def is_call_list(decoded: Any) -> bool:
    """BFCL's format check: a list of one-entry `{name: {params}}` dicts."""
    if not isinstance(decoded, list):
        return False
    return all(
        isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item.values())), dict)
        for item in decoded
    )


def is_empty_call_list(decoded: Any) -> bool:
    """BFCL's `is_empty_output`: no usable call ([], [{}], or not a call list at all)."""
    return not is_call_list(decoded) or len(decoded) == 0
