"""Aggregating scored sample records into a task's metrics."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from evalkit.stats import clustered_mean


def _rate(records: list[dict[str, Any]], pred: Any) -> float:
    return sum(1 for r in records if pred(r)) / len(records) if records else 0.0


def aggregate(
    records: list[dict[str, Any]],
    *,
    n_repeats: int,
    breakdown_field: str | None = "subject",
) -> dict[str, Any]:
    """pass@1[avg-of-n] (accuracy averaged over repeats) with its item-clustered SE and 95% CI
    (`evalkit.stats.rates.rate_interval`: never of zero width, also at 0 % and 100 %),
    plus the rates a reader needs to trust it: no answer, truncated, unclosed think."""
    est = clustered_mean((r["id"], r["score"]) for r in records)
    lo, hi = est.ci95
    out: dict[str, Any] = {
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
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            groups[str(r.get(breakdown_field) or "(none)")].append(r)
        out["breakdown"] = {
            "field": breakdown_field,
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
    return out


def _mean(xs: Any) -> float:
    vals = list(xs)
    return sum(vals) / len(vals) if vals else 0.0
