import math

import pytest

from evalkit.stats import clustered_mean


def test_clustered_mean_worked_example():
    # items a: [1, 0] -> 0.5 ; b: [1, 1] -> 1.0 ; c: [0, 0] -> 0.0
    est = clustered_mean([("a", 1), ("a", 0), ("b", 1), ("b", 1), ("c", 0), ("c", 0)])
    assert est.mean == pytest.approx(0.5)
    # sd of item means (0.5, 1, 0) with ddof=1 is 0.5 -> se = 0.5 / sqrt(3)
    assert est.se == pytest.approx(0.5 / math.sqrt(3))
    assert (est.n_items, est.n_samples) == (3, 6)
    lo, hi = est.ci95
    assert lo == pytest.approx(0.5 - 1.959963984540054 * est.se)
    assert hi > est.mean > lo


def test_items_weigh_equally_whatever_their_repeats():
    est = clustered_mean([("a", 1), ("b", 0), ("b", 0), ("b", 0)])
    assert est.mean == pytest.approx(0.5)


def test_single_item_has_no_standard_error():
    est = clustered_mean([("a", 1)])
    assert est.mean == 1 and math.isnan(est.se)
