"""Estimates from repeated samples: unbiased pass@k and majority vote (maj@n).

pass@k is the chance that at least one of k samples drawn (without replacement) from an
item's n samples is correct. With c correct out of n, the unbiased estimator of Chen et
al. (2021, "Evaluating Large Language Models Trained on Code") is

    pass@k = 1 - C(n - c, k) / C(n, k)

computed here as the product 1 - prod_{i = n-c+1}^{n} (1 - k / i), which never forms the
huge binomials. pass@1 equals c / n, the average over repeats.

maj@n takes, per item, the answer given most often among its n samples (answers that do
not parse or are missing do not vote) and scores that answer. A tie goes to the answer
that appeared first, by repeat index, so the result never depends on which answer is
right. An item whose samples give no answer at all scores 0.

Both are averaged over items; their standard error is the sample standard deviation of
the per-item values over sqrt(items), the item being the unit (as in `clustered_mean`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence

from evalkit.stats.estimates import Estimate, interval95


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one item with `c` correct among `n` samples."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def _over_items(values: Sequence[float], n_samples: int) -> Estimate:
    """Mean over items of one value per item (its interval counts each item once)."""
    if not values:
        return Estimate(mean=math.nan, se=math.nan, n_items=0, n_samples=0)
    mean = sum(values) / len(values)
    ci = interval95(list(values), [1] * len(values))
    if len(values) < 2:
        return Estimate(mean=mean, se=math.nan, n_items=len(values), n_samples=n_samples, interval95=ci)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    se = math.sqrt(var / len(values))
    return Estimate(mean=mean, se=se, n_items=len(values), n_samples=n_samples, interval95=ci)


def pass_at_k_estimate(correct: Mapping[str, Sequence[bool]], k: int) -> Estimate:
    """Mean unbiased pass@k over items ({item: [correct per sample]}); every item needs >= k samples."""
    values = []
    for item, flags in correct.items():
        if len(flags) < k:
            raise ValueError(f"item {item!r} has {len(flags)} samples, fewer than k={k}")
        values.append(pass_at_k(len(flags), sum(bool(f) for f in flags), k))
    return _over_items(values, sum(len(f) for f in correct.values()))


def majority_vote(votes: Iterable[tuple[Hashable | None, bool]]) -> bool:
    """Is the most frequent answer correct? `votes` are (answer key or None, correct) in repeat
    order; None does not vote; ties go to the answer seen first; no votes at all is False."""
    counts: dict[Hashable, int] = {}
    verdict: dict[Hashable, bool] = {}
    for key, ok in votes:
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        verdict.setdefault(key, bool(ok))  # equal keys are the same answer, so the same verdict
    if not counts:
        return False
    best = max(counts.values())
    winner = next(k for k in counts if counts[k] == best)  # dicts keep first-seen order
    return verdict[winner]


def majority_estimate(votes: Mapping[str, Sequence[tuple[Hashable | None, bool]]]) -> Estimate:
    """maj@n over items: {item: [(answer key, correct) per sample, in repeat order]}."""
    values = [1.0 if majority_vote(v) else 0.0 for v in votes.values()]
    return _over_items(values, sum(len(v) for v in votes.values()))


def default_ks(n: int) -> list[int]:
    """The k reported for n samples: powers of two below n, and n itself."""
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k < n]
    return [*ks, n]
