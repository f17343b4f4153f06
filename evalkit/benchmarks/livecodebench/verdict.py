"""The LiveCodeBench verdict on one test, decided in the evaluator from what the sandbox sent back.

The rules are the official runner's (LiveCodeBench @28fef95, lcb_runner/evaluation/
testing_util.py), re-implemented; only the place differs (there they run in the process that
runs the solution, which is how a solution could reach the expected outputs):

* stdin programs: whole output stripped, split on newlines, each line stripped; line counts
  must match; a line matches exactly or, failing that, as a list of Decimals; failures are
  coded -2 with the official messages;
* functional programs: the return value, rebuilt from the driver's typed JSON
  (evalkit.benchmarks.livecodebench.driver.encode), a tuple counted as a list, compared with `==` against
  the JSON-decoded expected output; a failure is recorded as False, as the official runner does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DIGITS = 50_000  # the official runner raises Python's int-digit limit to this


@dataclass(frozen=True)
class Unserializable:
    """A return value the driver could not send as plain data (an object with its own __eq__, say)."""

    what: str


def _int(text: str) -> int:
    """int(text) for up to MAX_DIGITS digits, whatever this interpreter's int-digit limit."""
    digits = text.lstrip("-")
    if len(digits) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(digits)} digits")
    if len(digits) <= 4000:
        return int(text)
    n = 0
    for i in range(0, len(digits), 4000):
        chunk = digits[i : i + 4000]
        n = n * 10 ** len(chunk) + int(chunk)
    return -n if text.startswith("-") else n


def _tagged(obj: dict[str, object]) -> Any:
    tag = obj.get("$")
    if tag is None:
        return obj  # a reply frame itself; typed values never use a bare object
    v: Any = obj.get("v")
    if tag == "tuple":
        return tuple(v)
    if tag == "set":
        return set(v)
    if tag == "frozenset":
        return frozenset(v)
    if tag == "dict":
        return {k: val for k, val in v}
    if tag == "bytes":
        return bytes.fromhex(v)
    if tag == "complex":
        return complex(*v)
    raise ValueError(f"unknown type tag {tag!r}")


def loads_reply(line: bytes) -> Any:
    """Parse one line from the driver, typed values rebuilt. Raises ValueError/TypeError/RecursionError."""
    return json.loads(line, object_hook=_tagged, parse_int=_int)


def loads_expected(text: str) -> Any:
    return json.loads(text, parse_int=_int)


def short(x: Any, n: int = 300) -> str:
    s = x if isinstance(x, str) else str(x)
    return s if len(s) <= n else s[: n // 2] + "...(truncated) ..." + s[-n // 2 :]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> tuple[bool, list[Decimal]]:
    try:
        return True, [Decimal(x) for x in line.split()]
    except (InvalidOperation, ValueError, TypeError, ArithmeticError):
        return False, []


def judge_stdout(got: str, truncated: bool, inp: str, want: str) -> tuple[Any, dict[str, object]]:
    """(True, {}) or (-2, the official wrong-answer meta)."""
    wa = {"output": short(got), "inputs": short(inp), "expected": short(want), "error_code": -2}
    if truncated:
        return -2, {**wa, "error_message": f"Wrong answer: more than {len(got)} characters of output"}
    got_lines, want_lines = _lines(got), _lines(want)
    if len(got_lines) != len(want_lines):
        return -2, {**wa, "error_message": "Wrong answer: mismatched output length"}
    for i, (g, w) in enumerate(zip(got_lines, want_lines, strict=True)):
        if g == w:
            continue
        ok_g, dg = _decimals(g)
        ok_w, dw = _decimals(w)
        if not (ok_g and ok_w and dg == dw):
            return -2, {**wa, "error_message": f"Wrong answer at line {i}: {short(g)} != {short(w)}"}
    return True, {}


def judge_value(got: Any, inp: str, want: Any) -> tuple[Any, dict[str, object]]:
    """(True, {}) or (False, the official wrong-answer meta)."""
    message = "Wrong Answer"
    if isinstance(got, Unserializable):
        message = f"Wrong Answer: the return value ({got.what}) cannot be compared outside the sandbox"
        ok = False
    else:
        if isinstance(got, tuple):
            got = list(got)
        try:
            ok = bool(got == want)
        except RecursionError:
            ok = False
    if ok:
        return True, {}
    return False, {
        "output": short(got),
        "inputs": short(_args(inp)),
        "expected": short(want),
        "error_code": -2,
        "error_message": message,
    }


def _args(inp: str) -> Any:
    try:
        return [loads_expected(line) for line in inp.split("\n")]
    except ValueError:
        return inp


def error_meta(code: int, error: str, inp: str, want: Any) -> dict[str, object]:
    name = "Time Limit Exceeded" if code == -3 else "Runtime Error"
    return {
        "error": error,
        "error_code": code,
        "error_message": name,
        "inputs": short(inp),
        "expected": short(want),
    }
