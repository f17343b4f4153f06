"""Anytime-valid confidence sequences: validity under continuous monitoring, and adaptivity."""

import numpy as np
import pytest

from evalkit.stats import confidence_sequence, sequence_bounds


def test_bounds_are_nested_over_time_and_agree_with_the_last_look():
    rng = np.random.default_rng(0)
    x = (rng.random(300) < 0.7).astype(float)
    lo, hi = confidence_sequence(x)
    assert np.all(np.diff(lo) >= 0) and np.all(np.diff(hi) <= 0)  # running intersection
    assert np.all(lo <= hi)
    b = sequence_bounds(x)
    assert (b.lower, b.upper, b.n) == (lo[-1], hi[-1], 300)
    assert b.estimate == pytest.approx(x.mean())


@pytest.mark.parametrize("p", [0.5, 0.9])
def test_time_uniform_error_rate_at_most_alpha(p):
    # 2,000 runs of 400 observations, monitored after every one: the fraction of runs in
    # which the sequence *ever* excludes the true mean must stay below alpha on each side.
    rng = np.random.default_rng(11)
    runs, n = 2000, 400
    x = (rng.random((runs, n)) < p).astype(float)
    misses_lo = misses_hi = 0
    for row in x:
        lo, hi = confidence_sequence(row, alpha_lower=0.05, alpha_upper=0.05)
        misses_lo += bool((lo > p).any())
        misses_hi += bool((hi < p).any())
    # 0.05 plus three Monte-Carlo standard errors (0.005 each)
    assert misses_lo / runs <= 0.065 and misses_hi / runs <= 0.065


def test_peeking_at_a_fixed_interval_would_not_be_valid():
    # The reason the gate uses confidence sequences: a 90 % two-sided normal interval checked
    # after each of 40 looks excludes the truth in far more than 5 % of runs on one side.
    rng = np.random.default_rng(5)
    runs, looks, step, p = 2000, 40, 10, 0.8
    x = (rng.random((runs, looks * step)) < p).astype(float)
    n = np.arange(step, looks * step + 1, step)
    means = np.cumsum(x, axis=1)[:, n - 1] / n
    se = np.sqrt(p * (1 - p) / n)
    naive = np.mean(np.any(means - 1.645 * se > p, axis=1))
    assert naive > 0.12
    seq = np.mean([bool((confidence_sequence(row, alpha_lower=0.05)[0] > p).any()) for row in x[:500]])
    assert seq <= 0.05


def test_low_variance_narrows_faster_than_high_variance():
    # Paired differences in [-1, 1]: mostly ties (two models that agree) vs coin flips.
    agree = np.zeros(500)
    agree[::50] = -1.0
    coin = np.where(np.arange(500) % 2 == 0, 1.0, -1.0)
    a = sequence_bounds(agree, low=-1, high=1)
    c = sequence_bounds(coin, low=-1, high=1)
    assert a.upper - a.lower < 0.5 * (c.upper - c.lower)
    assert a.lower <= -0.02 <= a.upper


def test_values_outside_the_range_are_rejected():
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
        confidence_sequence([0.5, 1.5])
