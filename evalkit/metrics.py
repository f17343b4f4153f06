"""Aggregating scored sample records into a task's metrics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Literal

from evalkit.run_records import Breakdown, FamilyMetrics, SampleRecord
from evalkit.stats import clustered_mean


def _rate(records: list[SampleRecord], pred: Callable[[SampleRecord], bool]) -> float:
    return sum(1 for r in records if pred(r)) / len(records) if records else 0.0


def aggregate(
    records: list[SampleRecord],
    *,
    n_repeats: int,
    breakdown_field: Literal["subject"] | None = "subject",
) -> FamilyMetrics:
    """pass@1[avg-of-n] (accuracy averaged over repeats) with its item-clustered SE and 95% CI
    (`evalkit.stats.rates.rate_interval`: never of zero width, also at 0 % and 100 %),
    plus the rates a reader needs to trust it: no answer, truncated, unclosed think."""
    est = clustered_mean((r["id"], r["score"]) for r in records)
    lo, hi = est.ci95
    out: FamilyMetrics = {
        "metric": f"pass@1[avg-of-{n_repeats}]" if n_repeats > 1 else "accuracy",
        "value": est.mean,
        "se": est.se,
        "ci95": [lo, hi],
        "n_items": est.n_items,
        "n_samples": est.n_samples,
        "n_repeats": n_repeats,
        "no_answer_rate": _rate(records, lambda r: r["extracted"] is None),
        "truncation_rate": _rate(records, lambda r: r["finish_reason"] == "length"),
        "unclosed_think_rate": _rate(records, lambda r: r.get("unclosed_think", False)),
        "tokens": {
            "prompt_mean": _mean(r["prompt_tokens"] for r in records),
            "completion_mean": _mean(r["completion_tokens"] for r in records),
            "completion_max": max((r["completion_tokens"] for r in records), default=0),
            "completion_total": sum(r["completion_tokens"] for r in records),
        },
    }
    if breakdown_field:
        out["breakdown"] = breakdown(records, breakdown_field, lambda r: r["subject"])
    return out


def breakdown(
    records: list[SampleRecord], field: str, group_of: Callable[[SampleRecord], object]
) -> Breakdown:
    """The mean score of each group (`group_of` a record; None or empty: "(none)"), with its
    item-clustered SE and 95 % interval, groups in sorted order."""
    groups: dict[str, list[SampleRecord]] = defaultdict(list)
    for r in records:
        groups[str(group_of(r) or "(none)")].append(r)
    return {
        "field": field,
        "groups": {
            g: {
                "value": (e := clustered_mean((r["id"], r["score"]) for r in rs)).mean,
                "se": e.se,
                "ci95": list(e.ci95),
                "n_items": e.n_items,
            }
            for g, rs in sorted(groups.items())
        },
    }


def _mean(xs: Iterable[int]) -> float:
    vals = list(xs)
    return sum(vals) / len(vals) if vals else 0.0
