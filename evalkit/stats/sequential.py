"""Anytime-valid confidence sequences, so a gate can look at its data as often as it likes.

A fixed-size confidence interval is valid once, at a sample size chosen in advance:
looking after every batch and stopping when it clears a threshold inflates its error rate
(five looks at a nominal 5 % err about 14 % of the time). A *confidence sequence* holds at
every sample size at once: with probability at least 1 − α its bounds contain the true
mean at all times, so stopping as soon as they clear a threshold keeps the error rate at α.

This module implements the predictable plug-in empirical-Bernstein confidence sequence
(PrPl-EB) of Waudby-Smith & Ramdas, "Estimating means of bounded random variables by
betting", JRSS-B 2024 (arXiv 2010.09686), Theorem 2 with the λ of their eq. (26)–(27),
for observations in a known range [low, high] (item means in [0, 1]; paired differences
in [−1, 1]). It adapts to the variance: where two models agree on most items the paired
differences are mostly 0 and the sequence narrows far faster than a Hoeffding bound.

Each side is computed at its own α (log(1/α) rather than the two-sided log(2/α)):
`evalkit.gate` needs two one-sided statements, "the drop is below the allowance" and
"the drop is above it", each at its own error rate.

Observations must come in an order fixed before they are seen (the gate shuffles items
with a seed); the guarantee treats them as independent draws from the population of items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_LAMBDA_CAP = 0.5  # the paper's c: bets stay in [0, c], c in (0, 1)


@dataclass(frozen=True)
class SequenceBounds:
    """One-sided anytime-valid bounds after `n` observations (running intersection)."""

    n: int
    estimate: float  # plain mean of the observations
    lower: float  # P(mean < lower at any time) <= alpha_lower
    upper: float  # P(mean > upper at any time) <= alpha_upper
    alpha_lower: float
    alpha_upper: float
    method: str = "empirical-Bernstein confidence sequence (Waudby-Smith & Ramdas, PrPl-EB)"


def _one_sided_lower(x: np.ndarray, alpha: float) -> np.ndarray:
    """Lower confidence sequence [t] for the mean of x in [0, 1], before the running max."""
    n = x.size
    t = np.arange(1, n + 1, dtype=float)
    log_term = math.log(1.0 / alpha)
    # Running mean and variance estimates with the paper's priors (1/2 and 1/4).
    mu_hat = (0.5 + np.cumsum(x)) / (t + 1.0)  # mu_hat[i] uses x[0..i]
    mu_prev = np.concatenate(([0.5], mu_hat[:-1]))  # predictable: before x[i] is seen
    sigma2 = (0.25 + np.cumsum((x - mu_hat) ** 2)) / (t + 1.0)
    sigma2_prev = np.concatenate(([0.25], sigma2[:-1]))
    lam = np.minimum(np.sqrt(2.0 * log_term / (sigma2_prev * t * np.log1p(t))), _LAMBDA_CAP)
    v = 4.0 * (x - mu_prev) ** 2
    psi = (-np.log1p(-lam) - lam) / 4.0
    sum_lam = np.cumsum(lam)
    center = np.cumsum(lam * x) / sum_lam
    radius = (log_term + np.cumsum(v * psi)) / sum_lam
    lower: np.ndarray = center - radius
    return lower


def confidence_sequence(
    values: Sequence[float] | np.ndarray,
    *,
    alpha_lower: float = 0.05,
    alpha_upper: float = 0.05,
    low: float = 0.0,
    high: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper anytime-valid bounds after each of the observations, in order.

    Both arrays have one entry per observation; each is the running intersection (a
    confidence sequence may be intersected over time without losing validity).
    """
    for a in (alpha_lower, alpha_upper):
        if not 0.0 < a < 1.0:
            raise ValueError(f"alpha must lie strictly between 0 and 1, got {a}")
    if not high > low:
        raise ValueError(f"need high > low, got [{low}, {high}]")
    x = (np.asarray(values, dtype=float) - low) / (high - low)
    if x.size == 0:
        return np.empty(0), np.empty(0)
    if np.any(x < -1e-12) or np.any(x > 1 + 1e-12):
        raise ValueError(f"observations must lie in [{low}, {high}]")
    x = np.clip(x, 0.0, 1.0)
    lower = np.maximum.accumulate(np.clip(_one_sided_lower(x, alpha_lower), 0.0, 1.0))
    # The upper bound of x is one minus the lower bound of 1 - x.
    upper = np.minimum.accumulate(1.0 - np.clip(_one_sided_lower(1.0 - x, alpha_upper), 0.0, 1.0))
    scale = high - low
    return low + scale * lower, low + scale * upper


def sequence_bounds(
    values: Sequence[float] | np.ndarray,
    *,
    alpha_lower: float = 0.05,
    alpha_upper: float = 0.05,
    low: float = 0.0,
    high: float = 1.0,
) -> SequenceBounds:
    """The bounds after the last observation (valid however many looks came before)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return SequenceBounds(0, math.nan, low, high, alpha_lower, alpha_upper)
    lo, hi = confidence_sequence(x, alpha_lower=alpha_lower, alpha_upper=alpha_upper, low=low, high=high)
    return SequenceBounds(
        int(x.size), float(x.mean()), float(lo[-1]), float(hi[-1]), alpha_lower, alpha_upper
    )
