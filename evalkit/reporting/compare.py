"""Intervals of a run's score and of paired differences between runs: what reports and gates show.

Method names (policy files and report footnotes use them):

- measured score of one run: `auto` (the default, and what every report shows) is
  `evalkit.stats.rates.rate_interval`: exact Clopper-Pearson for binary items scored once,
  else Clopper-Pearson on the item-clustered effective sample size; it keeps its coverage at
  0 % and 100 % and is never of zero width. `exact` insists on binary items scored once;
  `bootstrap` (cluster bootstrap over items) and `normal` (item-clustered SE) remain for
  comparison, and collapse to a point when every item mean is 0 or 1.
- paired difference of two runs: `auto` is `evalkit.stats.rates.paired_rate_interval`
  (Tango's score interval, on the effective sample size when there are repeats); `score`
  insists on binary items scored once; `bootstrap` and `normal` as above. For binary items
  the exact McNemar test is reported beside the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evalkit.errors import UsageError
from evalkit.reporting.runs import RunData
from evalkit.stats import (
    Interval,
    McNemarResult,
    PairedItems,
    clopper_pearson,
    cluster_bootstrap_interval,
    mcnemar_exact,
    normal_interval,
    pair_records,
    paired_bootstrap_interval,
    paired_rate_interval,
    rate_interval,
    score_paired_interval,
)
from evalkit.stats.intervals import z_value

MEASURED_METHODS = ("auto", "exact", "bootstrap", "normal")
PAIRED_METHODS = ("auto", "score", "bootstrap", "normal")


@dataclass(frozen=True)
class Measured:
    """A run's score with its interval (fractions in [0, 1])."""

    interval: Interval
    n_items: int
    sd: float  # spread of item means (for "items needed" estimates)


@dataclass(frozen=True)
class PairedComparison:
    """candidate − reference over shared (id, repeat) pairs (fractions; positive = candidate better)."""

    interval: Interval
    paired: PairedItems
    mcnemar: McNemarResult | None
    sd: float  # spread of item differences
    seeds_match: bool


def measured_interval(run: RunData, level: float = 0.95, method: str = "auto") -> Measured:
    """Interval of a run's score; without samples.jsonl, the normal interval from metrics.json."""
    if method not in MEASURED_METHODS:
        raise UsageError(f"unknown method {method!r} (known: {', '.join(MEASURED_METHODS)})")
    if not run.has_samples:
        se = run.se
        half = z_value(level) * se if not math.isnan(se) else math.inf
        iv = Interval(run.value, run.value - half, run.value + half, level, "normal, from metrics.json")
        return Measured(iv, run.n_items, se * math.sqrt(run.n_items))
    _, means, binary = run.item_means()
    if means.size == 0:
        raise UsageError(f"{run.path}/samples.jsonl has no samples")
    sd = float(np.std(means, ddof=1)) if means.size > 1 else math.nan
    if method == "auto" and not np.any((means < 0) | (means > 1)):
        return Measured(rate_interval(means, run.samples_per_item(), level), int(means.size), sd)
    if method == "exact" or (method == "auto" and binary):
        if not binary:
            raise UsageError(f"method exact needs binary items scored once ({run.path})")
        return Measured(clopper_pearson(int(means.sum()), int(means.size), level), int(means.size), sd)
    if method == "normal":
        return Measured(normal_interval(means, level), int(means.size), sd)
    return Measured(cluster_bootstrap_interval(means, level, seed=0), int(means.size), sd)


def paired_comparison(
    candidate: RunData, reference: RunData, level: float = 0.95, method: str = "auto"
) -> PairedComparison:
    """Pair two runs on (id, repeat) and give the interval of candidate − reference."""
    if method not in PAIRED_METHODS:
        raise UsageError(f"unknown method {method!r} (known: {', '.join(PAIRED_METHODS)})")
    paired = pair_records(candidate.records(), reference.records())
    if paired.n_items == 0:
        raise UsageError(
            f"runs {candidate.run_id} and {reference.run_id} share no (id, repeat) pairs: "
            "were they run on the same data?"
        )
    d = paired.diffs
    sd = float(np.std(d, ddof=1)) if d.size > 1 else math.nan
    mcn = None
    if paired.binary_single:
        wins, losses = paired.discordant()
        mcn = mcnemar_exact(wins, losses, paired.n_items)
    in_unit_range = all(bool(np.all((v >= 0) & (v <= 1))) for v in (paired.candidate, paired.reference))
    if method == "auto" and in_unit_range:
        iv = paired_rate_interval(paired, level)
    elif method == "score" or (method == "auto" and paired.binary_single):
        if mcn is None:
            raise UsageError("method score needs binary items scored once in both runs")
        iv = score_paired_interval(mcn.candidate_wins, mcn.reference_wins, paired.n_items, level)
    elif method == "normal":
        iv = normal_interval(d, level)
        iv = Interval(iv.estimate, iv.low, iv.high, level, "paired normal, SE clustered by item")
    else:
        iv = paired_bootstrap_interval(paired, level, seed=0)
    seeds_match = candidate.metrics.get("seed") == reference.metrics.get("seed")
    return PairedComparison(iv, paired, mcn, sd, seeds_match)
