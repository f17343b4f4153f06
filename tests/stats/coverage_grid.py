"""Simulated benchmark runs for the coverage study of `evalkit.stats.rates` (issue 17).

A run draws `items` items afresh from a population whose difficulties spread as
p_i ~ Beta(mu * kappa, (1 - mu) * kappa) (mean `mu`; kappa = 2 is a wide spread: at mu = 0.5
difficulties are uniform, at mu = 0.01 most items are hopeless and a few are easy), and
scores each item `repeats` times. An interval covers when it contains the population mean
(`mu`; for a paired difference, the population mean difference).

Paired runs: the candidate's chance on each item is 0.9 times the reference's (a 10 % relative
loss, true difference -0.1 * mu); a candidate sample reuses the reference sample's random
number with probability `shared` (same seed, same item: correlated outcomes), else draws its
own. shared = 1 gives few discordant pairs (the hard case near 0 % and 100 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.stats import PairedItems, paired_rate_interval, rate_interval

RATES = (0.01, 0.05, 0.5, 0.95, 0.99)
ITEMS = (2, 5, 30, 198, 1000)
REPEATS = (1, 8, 32)


@dataclass(frozen=True)
class Cell:
    mu: float
    items: int
    repeats: int
    coverage: float
    zero_width: int  # intervals of zero width (must be 0)
    mean_width: float


def measured_cell(mu: float, items: int, repeats: int, runs: int, seed: int, kappa: float = 2.0) -> Cell:
    rng = np.random.default_rng(seed)
    p = rng.beta(mu * kappa, (1 - mu) * kappa, size=(runs, items))
    k = rng.binomial(repeats, p)
    m = np.full(items, repeats)
    hits = zero = 0
    width = 0.0
    for j in range(runs):
        iv = rate_interval(k[j] / repeats, m, 0.95)
        hits += iv.low <= mu <= iv.high
        zero += iv.high <= iv.low
        width += iv.width
    return Cell(mu, items, repeats, hits / runs, zero, width / runs)


def paired_cell(
    mu: float, items: int, repeats: int, runs: int, seed: int, kappa: float = 2.0, shared: float = 0.7
) -> Cell:
    rng = np.random.default_rng(seed)
    truth = -0.1 * mu
    ids = tuple(map(str, range(items)))
    counts = np.full(items, repeats)
    hits = zero = 0
    width = 0.0
    for _ in range(runs):
        p = rng.beta(mu * kappa, (1 - mu) * kappa, size=items)
        u = rng.random((items, repeats))
        u2 = np.where(rng.random((items, repeats)) < shared, u, rng.random((items, repeats)))
        ref = (u < p[:, None]).astype(float)
        cand = (u2 < 0.9 * p[:, None]).astype(float)
        paired = PairedItems(
            ids=ids,
            candidate=cand.mean(1),
            reference=ref.mean(1),
            pairs_per_item=counts,
            binary_single=repeats == 1,
            only_candidate=0,
            only_reference=0,
            candidate_gain=np.clip(cand - ref, 0, None).mean(1),
            reference_gain=np.clip(ref - cand, 0, None).mean(1),
        )
        iv = paired_rate_interval(paired, 0.95)
        hits += iv.low <= truth <= iv.high
        zero += iv.high <= iv.low
        width += iv.width
    return Cell(mu, items, repeats, hits / runs, zero, width / runs)
