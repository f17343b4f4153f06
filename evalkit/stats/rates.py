"""The intervals evalkit prints and gates on: a mean score in [0, 1], and a paired difference.

One function per situation, used by metrics.json, report.md, the comparison tables (Markdown,
HTML, CSV) and the gate alike:

- `rate_interval`: a run's score, the mean over items of each item's mean score.
- `paired_rate_interval`: candidate − reference over items paired on (id, repeat).

Both keep their coverage at 0 % and 100 % and with few items, and are never of zero width.
How (docs/statistics.md has the reasons and the simulation that checks them):

* Binary items scored once are the textbook case and get the textbook interval: exact
  Clopper-Pearson for a score, Tango's score interval for a paired difference.
* With repeats (or scores between 0 and 1), the repeats of one item are correlated, so the
  same interval is computed on an *effective sample size*: the number of independent
  samples that would give the item-clustered variance, n_eff = p(1 − p) / Var_clustered
  (Korn & Graubard 1998, Survey Methodology 24:193-201, for clustered surveys), capped at the
  number of samples, and shrunk by (t_{N−1} / t_{k−1})² for the few degrees of freedom the
  variance has: k counts the items that carry the spread — all items in mid-range, but near
  0 % only those with a success, near 100 % only those with a failure, and for a paired
  difference only those with a discordant pair. Without this, one success in one item of 30
  (a variance from a single item) would give an interval far narrower than no success at all.
* When that variance cannot be estimated — every item mean is 0 or 1, fewer than two
  informative items, a single item — nothing says how much the repeats of an item agree,
  so each item counts as one trial (the largest design effect possible): 0 of 2 items right
  gives [0, 84.2 %], however many repeats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from evalkit.stats.intervals import Interval, _check_level
from evalkit.stats.paired import PairedItems, score_paired_interval

EXACT = "exact (Clopper-Pearson)"
EFFECTIVE = "Clopper-Pearson on the item-clustered effective sample size"
ITEMS_AS_TRIALS = "Clopper-Pearson, each item one trial"
PAIRED_EXACT = "Tango score interval (paired binary)"
PAIRED_EFFECTIVE = "Tango score interval on the item-clustered effective sample size"
PAIRED_ITEMS_AS_TRIALS = "Tango score interval, each item one pair"


def beta_interval(successes: float, trials: float, level: float) -> tuple[float, float]:
    """Clopper-Pearson bounds for `successes` of `trials`, both possibly fractional (> 0 trials)."""
    from scipy.special import betaincinv  # scipy.special imports far faster than scipy.stats

    alpha = 1.0 - level
    x, n = successes, trials
    low = 0.0 if x <= 0 else float(betaincinv(x, n - x + 1, alpha / 2))
    high = 1.0 if x >= n else float(betaincinv(x + 1, n - x, 1 - alpha / 2))
    return low, high


def _df_shrink(samples: float, items: int, level: float) -> float:
    """(t_{N-1} / t_{I-1})²: the effective sample size shrinks for a variance from few items."""
    from scipy.special import stdtrit

    q = 0.5 + level / 2.0
    t_items = float(stdtrit(items - 1, q))
    t_samples = float(stdtrit(max(samples - 1.0, 1.0), q))
    return (t_samples / t_items) ** 2


def effective_size(
    spread_var: float, iid_var: float, informative: int, samples: float, level: float
) -> float | None:
    """Samples of independent data with the clustered variance `spread_var` of a mean whose
    single-sample variance is `iid_var`, capped at `samples` and shrunk for the degrees of
    freedom of that variance: `informative` − 1, where `informative` counts the items that
    carry the spread (all of them in mid-range; near 0 % only those with a success). None when
    the clustered variance cannot be estimated (then each item counts as one trial)."""
    if informative < 2 or not iid_var > 0:
        return None
    # no spread at all between items that are not at 0 or 1: less than binomial, so all samples
    n_eff = min(iid_var / spread_var, samples) if spread_var > 0 else samples
    return n_eff * _df_shrink(samples, informative, level)


def _at_least_items(n_eff: float | None, items: int) -> tuple[float, bool]:
    """(effective size, estimated?): never below the item count. Item means lie in [0, 1] (a
    paired difference's in [-1, 1]), so their variance is at most that of one trial per item:
    counting each item as one trial is always safe, and the estimate only ever narrows it."""
    if n_eff is None:
        return float(items), False
    return max(n_eff, float(items)), n_eff > items


def rate_interval(
    item_means: Sequence[float] | np.ndarray,
    samples_per_item: Sequence[int] | np.ndarray | None = None,
    level: float = 0.95,
) -> Interval:
    """Interval of the mean over items of per-item mean scores in [0, 1].

    `samples_per_item` (default 1 each) is how many scores each item mean averages.
    """
    _check_level(level)
    x = np.asarray(item_means, dtype=float)
    if x.size == 0:
        raise ValueError("no items")
    if np.any((x < 0) | (x > 1)) or not np.all(np.isfinite(x)):
        raise ValueError("item means must lie in [0, 1]")
    m = np.ones(x.size) if samples_per_item is None else np.asarray(samples_per_item, dtype=float)
    if m.shape != x.shape or np.any(m < 1):
        raise ValueError("need one sample count (>= 1) per item")
    items, samples, p = int(x.size), float(m.sum()), float(x.mean())
    if np.all(m == 1) and np.all((x == 0) | (x == 1)):
        low, high = beta_interval(p * items, items, level)
        return Interval(p, low, high, level, EXACT)
    var = float(np.var(x, ddof=1)) / items if items > 1 else 0.0
    # Near 0 % the spread comes from the few items with a success (near 100 %, with a failure):
    # its degrees of freedom are theirs, not the item count's.
    informative = min(int(np.sum(x > 0)), int(np.sum(x < 1)))
    n_eff, estimated = _at_least_items(effective_size(var, p * (1 - p), informative, samples, level), items)
    method = EFFECTIVE if estimated else ITEMS_AS_TRIALS
    low, high = beta_interval(p * n_eff, n_eff, level)
    return Interval(p, min(low, p), max(high, p), level, method)


def score_interval(scores: Iterable[tuple[str, float]], level: float = 0.95) -> Interval:
    """`rate_interval` of (item id, score) pairs, several per item when there are repeats."""
    by_item: dict[str, list[float]] = defaultdict(list)
    for item, s in scores:
        by_item[item].append(float(s))
    means = [sum(v) / len(v) for v in by_item.values()]
    counts = [len(v) for v in by_item.values()]
    return rate_interval(means, counts, level)


def ratio_rate_interval(
    successes: Sequence[float] | np.ndarray, trials: Sequence[float] | np.ndarray, level: float = 0.95
) -> Interval:
    """Interval of sum(successes) / sum(trials) over clusters (e.g. texts of tokens that agree).

    The token-weighted version of `rate_interval`: the clustered variance of the ratio gives
    the effective sample size, never below Kish's effective number of clusters
    (sum t)² / sum t², which is what an all-agreeing set of texts is left with.
    """
    _check_level(level)
    a = np.asarray(successes, dtype=float)
    t = np.asarray(trials, dtype=float)
    if a.size == 0 or a.shape != t.shape or np.any(t <= 0) or np.any((a < 0) | (a > t)):
        raise ValueError("need as many trial counts (> 0) as success counts, each in [0, trials]")
    total = float(t.sum())
    p = float(a.sum()) / total
    items = int(a.size)
    var = float(np.sum((a - p * t) ** 2)) / total**2 * items / (items - 1) if items > 1 else 0.0
    informative = min(int(np.sum(a > 0)), int(np.sum(a < t)))
    n_eff = effective_size(var, p * (1 - p), informative, total, level)
    kish = total**2 / float(np.sum(t * t))
    n = kish if n_eff is None else max(n_eff, kish)
    method = (
        EFFECTIVE if n_eff is not None and n_eff > kish else "Clopper-Pearson, each cluster one trial (Kish)"
    )
    low, high = beta_interval(p * n, n, level)
    return Interval(p, min(low, p), max(high, p), level, method)


def paired_rate_interval(paired: PairedItems, level: float = 0.95) -> Interval:
    """Interval of candidate − reference over the items of `paired` (scores in [0, 1]).

    Per item, the candidate's gain is the mean over its paired repeats of max(cand − ref, 0)
    and the reference's gain of max(ref − cand, 0): for binary scores, the discordant pairs.
    """
    _check_level(level)
    items = paired.n_items
    if items == 0:
        raise ValueError("the two runs share no (id, repeat) pairs")
    gain_c, gain_r = paired.gains()
    if paired.binary_single:
        wins, losses = paired.discordant()
        return score_paired_interval(wins, losses, items, level)
    b, c = float(gain_c.mean()), float(gain_r.mean())
    d = gain_c - gain_r
    est = float(d.mean())
    spread = float(np.var(d, ddof=1)) / items if items > 1 else 0.0
    informative = int(np.sum((gain_c > 0) | (gain_r > 0)))  # items with a discordant pair
    n_eff, estimated = _at_least_items(
        effective_size(spread, b + c - est * est, informative, float(paired.n_pairs), level), items
    )
    method = PAIRED_EFFECTIVE if estimated else PAIRED_ITEMS_AS_TRIALS
    iv = score_paired_interval(b * n_eff, c * n_eff, n_eff, level)  # Tango's formulas hold for real counts
    return Interval(est, min(iv.low, est), max(iv.high, est), level, method)


__all__ = [
    "beta_interval",
    "effective_size",
    "paired_rate_interval",
    "rate_interval",
    "ratio_rate_interval",
    "score_interval",
]
