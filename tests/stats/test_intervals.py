"""Closed-form intervals against worked examples."""

import math

import pytest

from evalkit.stats import clopper_pearson, clustered_mean, items_to_resolve, normal_interval, two_sided_level
from evalkit.stats.intervals import Interval, z_value


def test_normal_interval_matches_the_clustered_mean_worked_example():
    # item means 0.5, 1.0, 0.0: mean 0.5, sd 0.5 (ddof 1), SE 0.5 / sqrt(3)
    iv = normal_interval([0.5, 1.0, 0.0], 0.95)
    se = 0.5 / math.sqrt(3)
    assert iv.estimate == pytest.approx(0.5)
    assert (iv.low, iv.high) == pytest.approx((0.5 - 1.959964 * se, 0.5 + 1.959964 * se), rel=1e-6)
    est = clustered_mean([("a", 1), ("a", 0), ("b", 1), ("b", 1), ("c", 0), ("c", 0)])
    assert (iv.low, iv.high) == pytest.approx((est.mean - 1.959964 * est.se, est.mean + 1.959964 * est.se))


def test_levels():
    assert z_value(0.95) == pytest.approx(1.959964, rel=1e-6)
    assert z_value(0.90) == pytest.approx(1.644854, rel=1e-6)
    assert two_sided_level(0.95) == pytest.approx(0.90)
    with pytest.raises(ValueError, match="strictly between"):
        two_sided_level(1.0)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Standard table values of the exact binomial interval at 95 %.
        (7, 10, 0.3475, 0.9333),
        (50, 100, 0.3983, 0.6017),
        (0, 10, 0.0, 0.3085),
        (10, 10, 0.6915, 1.0),
    ],
)
def test_clopper_pearson_table_values(k, n, low, high):
    iv = clopper_pearson(k, n, 0.95)
    assert (iv.low, iv.high) == pytest.approx((low, high), abs=1e-4)
    assert iv.estimate == k / n


def test_clopper_pearson_zero_successes_closed_form():
    # With 0 successes the upper bound solves (1 - p)^n = alpha / 2.
    iv = clopper_pearson(0, 40, 0.9)
    assert iv.high == pytest.approx(1 - 0.05 ** (1 / 40))


def test_clopper_pearson_rejects_impossible_counts():
    with pytest.raises(ValueError):
        clopper_pearson(11, 10)


def test_interval_shift_and_flip():
    iv = Interval(0.7, 0.6, 0.8, 0.95, "x")
    drop = iv.shifted(0.75, -1.0)  # published 0.75 minus measured
    assert (drop.estimate, drop.low, drop.high) == pytest.approx((0.05, -0.05, 0.15))


def test_items_to_resolve_normal_approximation():
    # z(one-sided 95 %) = 1.645; sd 0.2; distance 0.02 -> (1.645 * 10)^2 = 270.6 -> 271
    assert items_to_resolve(0.2, 0.02, 0.95) == 271
    assert items_to_resolve(0.0, 0.02, 0.95) is None
    assert items_to_resolve(0.2, 0.0, 0.95) is None
