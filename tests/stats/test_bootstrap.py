"""Cluster bootstrap intervals: worked examples and agreement with the analytic SE."""

import numpy as np
import pytest

from evalkit.stats import bootstrap_ratio_interval, cluster_bootstrap_interval, normal_interval


def test_constant_items_give_a_point_interval():
    iv = cluster_bootstrap_interval([0.25] * 30)
    assert (iv.estimate, iv.low, iv.high) == pytest.approx((0.25, 0.25, 0.25))


def test_two_valued_items_worked_example():
    # 2 items, 0 and 1: a resample's mean is 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4;
    # the 2.5 % and 97.5 % percentiles are therefore 0 and 1.
    iv = cluster_bootstrap_interval([0.0, 1.0], n_boot=4000, seed=3)
    assert (iv.estimate, iv.low, iv.high) == (0.5, 0.0, 1.0)


def test_bootstrap_agrees_with_the_clustered_normal_interval_on_many_items():
    rng = np.random.default_rng(0)
    x = rng.beta(2, 1, size=800)
    boot = cluster_bootstrap_interval(x, 0.95, n_boot=4000, seed=1)
    norm = normal_interval(x, 0.95)
    # Both estimate the same sampling spread; with 800 items they agree to a few percent.
    assert boot.width == pytest.approx(norm.width, rel=0.06)
    assert boot.estimate == pytest.approx(norm.estimate)


def test_the_same_seed_gives_the_same_interval():
    x = np.linspace(0, 1, 50)
    assert cluster_bootstrap_interval(x, seed=5) == cluster_bootstrap_interval(x, seed=5)


def test_ratio_estimate_is_token_weighted():
    # Two texts: 3 tokens with total KL 0.3, 1 token with KL 0.9 -> (0.3 + 0.9) / 4 = 0.3
    iv = bootstrap_ratio_interval([0.3, 0.9], [3, 1], n_boot=2000, seed=0)
    assert iv.estimate == pytest.approx(0.3)
    # Resamples are (text1, text1) 0.1, (text2, text2) 0.9, mixed 0.3: the bounds are 0.1 and 0.9.
    assert (iv.low, iv.high) == pytest.approx((0.1, 0.9))


def test_empty_input_is_an_error():
    with pytest.raises(ValueError, match="no items"):
        cluster_bootstrap_interval([])
