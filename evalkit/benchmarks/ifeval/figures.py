"""IFEval's four figures over many scored responses, with item-level standard errors.

Prompt-level accuracy is the share of responses that follow all their instructions;
instruction-level accuracy pools every instruction of every response (a micro-average),
as the reference `print_report` and lm-eval's `agg_inst_level_acc` compute it. Both are
ratios of sums over items, so one delete-one-item jackknife gives the standard error of
each figure and of any average of them, with repeats of an item kept together.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

FIGURES = ("prompt_level_strict", "inst_level_strict", "prompt_level_loose", "inst_level_loose")


@dataclass(frozen=True)
class Scored:
    """One scored response: the item it answers and its per-instruction verdicts."""

    item: str
    strict: Sequence[bool]
    loose: Sequence[bool]


@dataclass(frozen=True)
class Figure:
    value: float
    se: float


def _sums(responses: Iterable[Scored]) -> dict[str, list[float]]:
    """Per item: [prompts, prompts strict-ok, prompts loose-ok, instructions, strict-ok, loose-ok]."""
    out: dict[str, list[float]] = defaultdict(lambda: [0.0] * 6)
    for r in responses:
        s = out[r.item]
        s[0] += 1
        s[1] += all(r.strict)
        s[2] += all(r.loose)
        s[3] += len(r.strict)
        s[4] += sum(r.strict)
        s[5] += sum(r.loose)
    return out


def _ratios(t: Sequence[float]) -> dict[str, float]:
    def div(a: float, b: float) -> float:
        return a / b if b else math.nan

    return {
        "prompt_level_strict": div(t[1], t[0]),
        "inst_level_strict": div(t[4], t[3]),
        "prompt_level_loose": div(t[2], t[0]),
        "inst_level_loose": div(t[5], t[3]),
    }


def jackknife(per_item: dict[str, list[float]], stat: Callable[[Sequence[float]], float]) -> Figure:
    """`stat` of the summed item vectors, with its delete-one-item jackknife SE."""
    items = list(per_item.values())
    if not items:
        return Figure(math.nan, math.nan)
    total = [sum(col) for col in zip(*items, strict=True)]
    value = stat(total)
    n = len(items)
    if n < 2:
        return Figure(value, math.nan)
    loo = [stat([t - x for t, x in zip(total, it, strict=True)]) for it in items]
    mean = sum(loo) / n
    return Figure(value, math.sqrt((n - 1) / n * sum((v - mean) ** 2 for v in loo)))


def ifeval_figures(responses: Iterable[Scored]) -> dict[str, Figure]:
    """The four IFEval figures of a set of scored responses."""
    sums = _sums(responses)
    return {name: jackknife(sums, _ratio_of(name)) for name in FIGURES}


def _ratio_of(name: str) -> Callable[[Sequence[float]], float]:
    return lambda totals: _ratios(totals)[name]


def item_sums(responses: Iterable[Scored]) -> dict[str, list[float]]:
    """Per-item sums for combining several turns (see the multi_if family)."""
    return dict(_sums(responses))


def ratios(totals: Sequence[float]) -> dict[str, float]:
    """The four figures from a summed vector of `item_sums`."""
    return _ratios(totals)
