import math

import pytest

from evalkit.stats import clustered_mean, rate_interval


def test_clustered_mean_worked_example():
    # items a: [1, 0] -> 0.5 ; b: [1, 1] -> 1.0 ; c: [0, 0] -> 0.0
    est = clustered_mean([("a", 1), ("a", 0), ("b", 1), ("b", 1), ("c", 0), ("c", 0)])
    assert est.mean == pytest.approx(0.5)
    # sd of item means (0.5, 1, 0) with ddof=1 is 0.5 -> se = 0.5 / sqrt(3)
    assert est.se == pytest.approx(0.5 / math.sqrt(3))
    assert (est.n_items, est.n_samples) == (3, 6)
    # the 95 % interval is the one reports print (evalkit.stats.rates), not mean ± 1.96 SE
    lo, hi = est.ci95
    iv = rate_interval([0.5, 1.0, 0.0], [2, 2, 2], 0.95)
    assert (lo, hi) == pytest.approx((iv.low, iv.high))
    assert hi > est.mean > lo


def test_an_all_wrong_run_has_an_interval_of_nonzero_width():
    # issue 17: report.md showed 0.0 ± 0.0 (95% CI 0.0–0.0) for 0 of 2 items
    est = clustered_mean([("a", 0), ("a", 0), ("b", 0), ("b", 0)])
    lo, hi = est.ci95
    assert est.mean == 0 and lo == 0 and hi == pytest.approx(0.8419, abs=1e-4)


def test_items_weigh_equally_whatever_their_repeats():
    est = clustered_mean([("a", 1), ("b", 0), ("b", 0), ("b", 0)])
    assert est.mean == pytest.approx(0.5)


def test_single_item_has_no_standard_error():
    est = clustered_mean([("a", 1)])
    assert est.mean == 1 and math.isnan(est.se)
