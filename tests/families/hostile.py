"""Hostile model outputs for the scorer fuzz tests: deep nesting, huge numbers, lone
surrogates, multi-MB texts and control characters, wrapped in the shapes scorers look for
(boxed answers, `Answer: X` lines, tool-call blocks, code fences, think blocks).

Everything is drawn from a seeded `random.Random`, so a failure names a reproducible case.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

# Lone surrogates: what a broken UTF-16 decoder or a byte-level tokenizer can hand back.
_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00"]
_OPENERS = [
    ("[", "]"),
    ("{", "}"),
    ("(", ")"),
    ("\\frac{", "}{2}"),
    ("\\boxed{", "}"),
    ("\\sqrt{", "}"),
    ('{"a": ', "}"),
    ("[f(a=", ")]"),
    ("<", ">"),
    ("\\left(", "\\right)"),
]


def _surrogate(rng: random.Random) -> str:
    return rng.choice(_SURROGATES) if rng.random() < 0.7 else chr(rng.randint(0xD800, 0xDFFF))


def _nested(rng: random.Random, big: bool) -> str:
    opener, closer = rng.choice(_OPENERS)
    depth = rng.randint(1_000, 100_000) if big else rng.randint(200, 3_000)
    inner = rng.choice(["1", "x", '"a"', "", "A"])
    closed = rng.random() < 0.7
    return opener * depth + inner + (closer * depth if closed else "")


def _huge_number(rng: random.Random, big: bool) -> str:
    # Past Python's 4300-digit int/str limit, or past float range but within that limit.
    n = rng.randint(4_301, 50_000 if big else 12_000) if rng.random() < 0.6 else rng.randint(309, 4_300)
    digits = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(n - 1))
    return rng.choice(
        [
            digits + "L",
            digits + "f",
            digits + "n",
            "9**9**9**9",
            f"({digits}) * ({digits})",
            digits,
            "-" + digits,
            digits + ".5",
            f"{digits}/{digits[: n // 2]}",
            f"1e{digits[:6]}",
            f"10^{{{digits[:7]}}}",
            f"2**{digits[:8]}",
            f"\\frac{{{digits}}}{{7}}",
            f"{digits}e-{digits[:5]}",
            "0x" + "f" * n,
        ]
    )


def _multi_mb(rng: random.Random) -> str:
    unit = rng.choice(["A", "the answer is 42. ", "가나다라 ", "\\boxed{1}", "Answer: B\n", "<tool_call>"])
    return unit * (rng.randint(1_000_000, 3_000_000) // len(unit))


def _garbage(rng: random.Random) -> str:
    pieces = [
        "\x00",
        "\r\n",
        "\u2028",
        "\u0085",
        "\ufeff",
        "</think>",
        "<think>",
        "```",
        "```python\n",
        "<tool_call>",
        "</tool_call>",
        "\\boxed{",
        "}",
        "Answer:",
        "\U0001f600",
        "NaN",
        "inf",
        "-0",
        "\\",
        '"',
    ]
    return "".join(
        rng.choice(pieces) if rng.random() < 0.6 else chr(rng.randint(1, 0x2FFF))
        for _ in range(rng.randint(1, 80))
    )


_PAYLOADS: list[Callable[[random.Random, bool], str]] = [
    _nested,
    _huge_number,
    lambda rng, big: _surrogate(rng) * rng.randint(1, 5),
    lambda rng, big: "".join(
        _surrogate(rng) if rng.random() < 0.2 else "a7B"[rng.randint(0, 2)] for _ in range(30)
    ),
    lambda rng, big: _garbage(rng),
]


def _call(rng: random.Random, payload: str, tools: list[tuple[str, list[str]]]) -> str:
    """A well-formed tool-call block of one of the task's own tools, the payload in an argument
    (as JSON, or as a string: Java and JavaScript arguments are source text)."""
    name, params = rng.choice(tools)
    value = payload if rng.random() < 0.5 else json.dumps(payload)
    params = params or ["x"]
    args = ", ".join(f'"{p}": {value if p == params[0] else json.dumps("x")}' for p in params)
    return f'<tool_call>{{"name": {json.dumps(name)}, "arguments": {{{args}}}}}</tool_call>'


def _wrap(rng: random.Random, payload: str, tools: list[tuple[str, list[str]]]) -> str:
    shape = rng.randrange(14 if tools else 12)
    if shape >= 12:
        return _call(rng, payload, tools)
    if shape == 0:
        return f"The answer is \\boxed{{{payload}}}."
    if shape == 1:
        return f"Reasoning...\nAnswer: {payload}"
    if shape == 2:
        args = rng.choice([payload, json.dumps(payload)])
        return f'<tool_call>{{"name": "f", "arguments": {{"x": {args}}}}}</tool_call>'
    if shape == 3:
        return f"<tool_call>{payload}</tool_call>"
    if shape == 4:
        return f"```python\n{payload}\n```"
    if shape == 5:
        return f"<think>{payload}</think>\n{payload}"
    if shape == 6:
        return f"<think>\n{payload}"  # never closed
    if shape == 7:
        return f"[{payload}]"
    if shape == 8:
        return f"Final answer: ({payload}) {_surrogate(rng)}"
    if shape == 9:
        return f'{{"answer": "{payload}"}}'
    return payload


def hostile_outputs(
    seed: int,
    n: int,
    *,
    n_multi_mb: int = 1,
    big: bool = False,
    tools: list[tuple[str, list[str]]] | None = None,
) -> list[str]:
    """`n` hostile outputs drawn from `seed`, `n_multi_mb` of them several megabytes long.
    `tools` (name, parameter names) adds well-formed calls of those tools with hostile arguments."""
    rng = random.Random(seed)
    out = [_multi_mb(rng) for _ in range(n_multi_mb)]
    while len(out) < n:
        payload = rng.choice(_PAYLOADS)(rng, big)
        if rng.random() < 0.3:  # two kinds at once
            payload += rng.choice(_PAYLOADS)(rng, False)
        out.append(_wrap(rng, payload, tools or []))
    return out
