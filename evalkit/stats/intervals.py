"""Confidence intervals of a benchmark score: the record they share, and the closed-form ones.

Every interval here is for a mean over *items* (the unit of a benchmark): a run with
repeats is first reduced to one mean score per item, so repeats of one item never count
as independent evidence.

One-sided use: a gate asks "is the drop below the allowance?" and "is it above?", each
at a confidence c. A symmetric two-sided interval at level 2c - 1 gives both one-sided
bounds at level c (`two_sided_level`). Exact intervals are not symmetric in that sense;
`evalkit.gate` calls them at level c for each side instead, which is conservative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval [low, high] at `level`."""

    estimate: float
    low: float
    high: float
    level: float  # two-sided coverage, e.g. 0.95
    method: str  # how it was computed, spelled for a reader ("cluster bootstrap, 2000 resamples")

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def width(self) -> float:
        return self.high - self.low

    def shifted(self, offset: float, scale: float = 1.0) -> Interval:
        """The interval of `scale * x + offset` (a negative scale swaps the ends)."""
        a, b = scale * self.low + offset, scale * self.high + offset
        return Interval(scale * self.estimate + offset, min(a, b), max(a, b), self.level, self.method)


def two_sided_level(one_sided_confidence: float) -> float:
    """The two-sided level whose interval ends are one-sided bounds at `one_sided_confidence`."""
    _check_level(one_sided_confidence)
    return 2.0 * one_sided_confidence - 1.0


def z_value(level: float) -> float:
    """The standard-normal quantile of a two-sided `level` (1.96 for 0.95)."""
    _check_level(level)
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def item_means_sd(item_means: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation (ddof 1) of per-item means; NaN with fewer than two items."""
    x = np.asarray(item_means, dtype=float)
    return float(np.std(x, ddof=1)) if x.size >= 2 else math.nan


def normal_interval(item_means: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean of item means ± z · SE, with the SE clustered by item (sd of item means / sqrt(I)).

    The same estimate as `evalkit.stats.clustered_mean`, at any level.
    """
    x = np.asarray(item_means, dtype=float)
    if x.size == 0:
        raise ValueError("no items")
    mean = float(x.mean())
    se = item_means_sd(x) / math.sqrt(x.size)
    half = z_value(level) * se if not math.isnan(se) else math.inf
    return Interval(mean, mean - half, mean + half, level, "normal, SE clustered by item")


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> Interval:
    """Exact (Clopper-Pearson) interval of a binomial proportion: coverage is at least `level`.

    For binary items scored once each, this is the interval of the accuracy.
    """
    # scipy.special, not scipy.stats: the same beta quantiles at a third of the import time.
    from scipy.special import betaincinv

    _check_level(level)
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    alpha = 1.0 - level
    k, n = successes, trials
    low = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return Interval(successes / trials, low, high, level, "exact (Clopper-Pearson)")


def items_to_resolve(sd: float, distance: float, confidence: float) -> int | None:
    """Items a fixed-size run needs for a one-sided bound at `confidence` to move `distance`
    away from its estimate, given the spread `sd` of item means (normal approximation).

    Used to tell a user how many items would settle an undecided gate; None when it cannot
    be said (no spread measured, or the estimate sits exactly on the threshold).
    """
    if not (sd > 0 and distance > 0) or math.isnan(sd):
        return None
    z = z_value(two_sided_level(confidence))
    return math.ceil((z * sd / distance) ** 2)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"a confidence level must lie strictly between 0 and 1, got {level}")
