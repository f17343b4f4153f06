"""Cluster bootstrap intervals: resample items (with all their repeats), never single samples.

The estimate of a benchmark is the mean over items of each item's mean score, so
resampling items is the same as resampling item means. Percentile intervals; resamples
are drawn in chunks so that a 12,000-item benchmark with 10,000 resamples stays within a
few hundred MB.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalkit.stats.intervals import Interval, _check_level

DEFAULT_RESAMPLES = 2000
_CHUNK_ELEMENTS = 4_000_000  # indices drawn per chunk (32 MB of int64)


def _resampled_sums(values: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator) -> list[np.ndarray]:
    """For each array in `values` (all over the same items), its sum over each of `n_boot`
    resamples of the items. The same resampled items are used for every array."""
    n = values[0].shape[0]
    out = [np.empty(n_boot) for _ in values]
    rows = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        for v, o in zip(values, out, strict=True):
            o[start:stop] = v[idx].sum(axis=1)
    return out


def _percentile(estimate: float, draws: np.ndarray, level: float, method: str) -> Interval:
    alpha = 1.0 - level
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return Interval(estimate, float(low), float(high), level, method)


def cluster_bootstrap_interval(
    item_values: Sequence[float] | np.ndarray,
    level: float = 0.95,
    *,
    n_boot: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Percentile interval of the mean of per-item values (item means, or paired differences)."""
    _check_level(level)
    x = np.asarray(item_values, dtype=float)
    if x.size == 0:
        raise ValueError("no items")
    (sums,) = _resampled_sums([x], n_boot, np.random.default_rng(seed))
    return _percentile(
        float(x.mean()), sums / x.size, level, f"cluster bootstrap over items ({n_boot} resamples)"
    )


def bootstrap_ratio_interval(
    numerators: Sequence[float] | np.ndarray,
    denominators: Sequence[float] | np.ndarray,
    level: float = 0.95,
    *,
    n_boot: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Percentile interval of sum(numerators) / sum(denominators), resampling clusters.

    A token-weighted mean over texts (e.g. mean KL per token, with each text a cluster of
    tokens): numerator = the text's total, denominator = its token count.
    """
    _check_level(level)
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    if num.size == 0 or num.shape != den.shape:
        raise ValueError("need equally long, non-empty numerators and denominators")
    if den.sum() <= 0:
        raise ValueError("the denominators sum to zero")
    s_num, s_den = _resampled_sums([num, den], n_boot, np.random.default_rng(seed))
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = s_num / s_den
    draws = draws[np.isfinite(draws)]
    return _percentile(
        float(num.sum() / den.sum()),
        draws,
        level,
        f"cluster bootstrap of a ratio ({n_boot} resamples)",
    )
