"""Statistics of scores with repeats: mean over items of the per-item mean, clustered by item.

A benchmark with I items and n_i repeats per item reports pass@1[avg-of-n]: the mean
over items of each item's mean score. Its standard error treats the item as the unit
(repeats of one item are correlated), i.e. the sample standard deviation of the item
means divided by sqrt(I). Its 95 % interval (`Estimate.ci95`) is not mean ± 1.96 SE, which
collapses to a point when every item mean is 0 or 1, but `evalkit.stats.rates.rate_interval`
for scores in [0, 1] (the interval every report and gate uses).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    mean: float
    se: float
    n_items: int
    n_samples: int
    interval95: tuple[float, float] | None = None  # set by the functions here; else mean ± 1.96 SE

    @property
    def ci95(self) -> tuple[float, float]:
        if self.interval95 is not None:
            return self.interval95
        return (self.mean - Z95 * self.se, self.mean + Z95 * self.se)


def interval95(item_means: Sequence[float], samples_per_item: Sequence[int]) -> tuple[float, float] | None:
    """The 95 % interval of scores in [0, 1] (`rates.rate_interval`); None for other scores."""
    from evalkit.stats.rates import rate_interval

    if not item_means or any(not 0.0 <= m <= 1.0 for m in item_means):
        return None
    iv = rate_interval(item_means, samples_per_item, 0.95)
    return (iv.low, iv.high)


def clustered_mean(scores: Iterable[tuple[str, float]]) -> Estimate:
    """Mean of per-item means with the item-clustered standard error.

    `scores` are (item id, score) pairs, several per item when there are repeats.
    """
    by_item: dict[str, list[float]] = defaultdict(list)
    n = 0
    for item, s in scores:
        by_item[item].append(float(s))
        n += 1
    if not by_item:
        return Estimate(mean=math.nan, se=math.nan, n_items=0, n_samples=0)
    means = [sum(v) / len(v) for v in by_item.values()]
    ci = interval95(means, [len(v) for v in by_item.values()])
    k = len(means)
    mean = sum(means) / k
    if k < 2:
        return Estimate(mean=mean, se=math.nan, n_items=k, n_samples=n, interval95=ci)
    var = sum((m - mean) ** 2 for m in means) / (k - 1)
    return Estimate(mean=mean, se=math.sqrt(var / k), n_items=k, n_samples=n, interval95=ci)
