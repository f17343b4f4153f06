"""Paired comparisons: pairing on (id, repeat), paired bootstrap, exact McNemar, exact interval."""

import math

import numpy as np
import pytest

from evalkit.stats import (
    mcnemar_exact,
    pair_records,
    paired_bootstrap_interval,
    score_paired_interval,
)


def rec(i, r, s):
    return {"id": i, "repeat": r, "score": s}


def test_pairing_on_id_and_repeat_with_item_means():
    cand = [rec("a", 0, 1), rec("a", 1, 0), rec("b", 0, 1), rec("c", 0, 1)]
    ref = [rec("a", 0, 1), rec("a", 1, 1), rec("b", 0, 0), rec("d", 0, 1)]
    p = pair_records(cand, ref)
    assert p.ids == ("a", "b")
    assert p.candidate.tolist() == [0.5, 1.0] and p.reference.tolist() == [1.0, 0.0]
    assert p.diffs.tolist() == [-0.5, 1.0]
    assert (p.n_items, p.n_pairs, p.only_candidate, p.only_reference) == (2, 3, 1, 1)
    assert not p.binary_single  # item a has two pairs


def test_binary_single_and_discordant_counts():
    cand = [rec(str(i), 0, s) for i, s in enumerate([1, 1, 0, 0, 1])]
    ref = [rec(str(i), 0, s) for i, s in enumerate([1, 0, 1, 1, 1])]
    p = pair_records(cand, ref)
    assert p.binary_single and p.discordant() == (1, 2)


def test_mcnemar_exact_worked_example():
    # 10 discordant items, 2 candidate wins: P(X <= 2 | Bin(10, 1/2)) = (1 + 10 + 45) / 1024
    r = mcnemar_exact(2, 8, 50)
    assert r.p_candidate_worse == pytest.approx(56 / 1024)
    assert r.p_two_sided == pytest.approx(112 / 1024)
    assert r.discordant == 10
    assert mcnemar_exact(5, 5, 20).p_two_sided == pytest.approx(1.0)
    assert mcnemar_exact(0, 0, 20).p_two_sided == 1.0


def test_score_interval_all_concordant_closed_form():
    # With no discordant item the score equation reduces to n·δ² = z²·(−δ)(1 + δ),
    # so the bounds are ±z² / (n + z²).
    iv = score_paired_interval(0, 0, 100, 0.95)
    z2 = 1.959963984540054**2
    assert (iv.estimate, iv.low, iv.high) == pytest.approx((0.0, -z2 / (100 + z2), z2 / (100 + z2)))


def _brute_force_score(b, c, n, delta):
    """Tango's statistic with p01 maximised on a grid instead of the closed form."""
    grid = np.linspace(max(0.0, -delta) + 1e-9, (1 - delta) / 2 - 1e-9, 400_001)
    loglik = (
        b * np.log(grid + delta + 1e-300)
        + c * np.log(grid + 1e-300)
        + (n - b - c) * np.log(np.clip(1 - 2 * grid - delta, 1e-300, None))
    )
    p01 = grid[loglik.argmax()]
    return (b - c - n * delta) / math.sqrt(n * (2 * p01 + delta * (1 - delta)))


@pytest.mark.parametrize(("wins", "losses", "n"), [(3, 9, 60), (5, 15, 44), (30, 90, 600)])
def test_score_interval_bounds_solve_the_score_equation(wins, losses, n):
    iv = score_paired_interval(wins, losses, n, 0.95)
    assert iv.low < iv.estimate < iv.high
    assert _brute_force_score(wins, losses, n, iv.low) == pytest.approx(1.959964, abs=1e-3)
    assert _brute_force_score(wins, losses, n, iv.high) == pytest.approx(-1.959964, abs=1e-3)


def test_score_interval_at_the_edges():
    iv = score_paired_interval(0, 10, 10, 0.95)  # the candidate lost every item
    assert iv.low == -1.0 and iv.high < -0.4


def test_paired_bootstrap_interval_sign_and_width():
    rng = np.random.default_rng(0)
    ref = (rng.random(400) < 0.8).astype(float)
    cand = ref.copy()
    flip = rng.choice(400, 40, replace=False)  # the candidate loses 40 items it had right...
    cand[flip] = 0.0
    cand[rng.choice(np.nonzero(ref == 0)[0], 8, replace=False)] = 1.0  # ...and wins 8
    p = pair_records(
        [rec(str(i), 0, s) for i, s in enumerate(cand)], [rec(str(i), 0, s) for i, s in enumerate(ref)]
    )
    iv = paired_bootstrap_interval(p, 0.95, seed=1)
    assert iv.estimate == pytest.approx(p.diffs.mean())
    assert iv.high < 0
    # The paired interval is far narrower than an unpaired one would be.
    unpaired_se = math.sqrt(cand.var(ddof=1) / 400 + ref.var(ddof=1) / 400)
    assert iv.width < 0.6 * (2 * 1.96 * unpaired_se)


def test_pairing_without_shared_keys_cannot_give_an_interval():
    p = pair_records([rec("a", 0, 1)], [rec("b", 0, 1)])
    assert p.n_items == 0
    with pytest.raises(ValueError, match="share no"):
        paired_bootstrap_interval(p)
