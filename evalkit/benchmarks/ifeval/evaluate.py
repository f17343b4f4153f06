"""Strict and loose instruction following, as IFEval defines them.

Strict: the check passes on the response as it is (an empty response follows nothing).
Loose: it passes on any of eight variants: the response with its first line, its last
line, or both removed, each with and without every "*" deleted (markdown emphasis).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.benchmarks.ifeval.args import ArgError
from evalkit.benchmarks.ifeval.dialect import Dialect
from evalkit.benchmarks.ifeval.registry import CHECKS


@dataclass(frozen=True)
class Instruction:
    """One instruction of an item: its id and its validated arguments."""

    id: str
    args: dict[str, object]

    def test(self, response: str, dialect: Dialect = Dialect.IFEVAL) -> bool:
        return CHECKS[self.id].test(response, self.args, dialect)


def parse_instructions(ids: Sequence[str], kwargs: Sequence[dict[str, object] | None]) -> list[Instruction]:
    """Validate an item's instruction ids and kwargs (None values, as in the HF copy, are unset).

    Raises ArgError whose field says which list entry and argument is wrong.
    """
    if len(ids) != len(kwargs):
        raise ArgError("kwargs", f"has {len(kwargs)} entries for {len(ids)} instructions")
    out = []
    for i, (iid, kw) in enumerate(zip(ids, kwargs, strict=True)):
        if iid not in CHECKS:
            raise ArgError(f"instruction_id_list[{i}]", f"unknown instruction {iid!r}")
        given = {k: v for k, v in (kw or {}).items() if v is not None}
        extra = set(given) - CHECKS[iid].arg_names
        if extra:
            raise ArgError(f"kwargs[{i}].{sorted(extra)[0]}", f"not an argument of {iid}")
        try:
            args = CHECKS[iid].prepare(given)
        except ArgError as e:
            raise ArgError(f"kwargs[{i}].{e.field}", str(e).split(": ", 1)[-1]) from e
        out.append(Instruction(iid, args))
    return out


def loose_variants(response: str) -> list[str]:
    """The eight texts the loose test tries, in the reference's order."""
    lines = response.split("\n")
    drop_first = "\n".join(lines[1:]).strip()
    drop_last = "\n".join(lines[:-1]).strip()
    drop_both = "\n".join(lines[1:-1]).strip()
    variants = [response, response.replace("*", ""), drop_first, drop_last, drop_both]
    return variants + [v.replace("*", "") for v in (drop_first, drop_last, drop_both)]


@dataclass(frozen=True)
class Following:
    """Per-instruction verdicts of one response."""

    strict: list[bool]
    loose: list[bool]

    @property
    def prompt_strict(self) -> bool:
        return all(self.strict)

    @property
    def prompt_loose(self) -> bool:
        return all(self.loose)


def check_response(
    response: str, instructions: Sequence[Instruction], dialect: Dialect = Dialect.IFEVAL
) -> Following:
    """Strict and loose verdicts of `response` for each instruction."""
    # IFEval skips whitespace-only responses in the strict test; Multi-IF only empty ones.
    strict_ok = bool(response.strip()) if dialect is Dialect.IFEVAL else bool(response)
    strict = [strict_ok and ins.test(response, dialect) for ins in instructions]
    variants = [v for v in loose_variants(response) if v.strip()]
    loose = [any(ins.test(v, dialect) for v in variants) for ins in instructions]
    return Following(strict=strict, loose=loose)
