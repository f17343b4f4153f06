"""Tools both tau-bench domains share, and the helpers the domain tools use."""

from __future__ import annotations

import json
from typing import Any

Data = dict[str, Any]


class ToolError(Exception):
    """A tool refused the call; the agent sees "Error: <message>" (as tau-bench's tools return)."""


def dumps(obj: Any) -> str:
    return json.dumps(obj)


def calculate(data: Data, expression: str) -> str:
    """Evaluate +-*/() arithmetic, rounded to 2 decimals. Only digits and operators are let through,
    and no names are reachable, so eval cannot call anything."""
    if not all(ch in "0123456789+-*/(). " for ch in expression):
        raise ToolError("invalid characters in expression")
    # `**` passes the character check, and 9**9**9**9 never finishes (tau-bench's own tool
    # hangs there too); no task needs a power, so it is refused like an invalid character.
    if "**" in expression.replace(" ", ""):
        raise ToolError("exponentiation (**) is not supported")
    try:
        value = eval(expression, {"__builtins__": None}, {})  # only digits and operators pass the check above
        return str(round(float(value), 2))
    except Exception as e:
        raise ToolError(str(e)) from e


def think(data: Data, thought: str) -> str:
    return ""


def transfer_to_human_agents(data: Data, summary: str) -> str:
    return "Transfer successful"
