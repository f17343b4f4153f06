"""pass@k and maj@n against worked examples."""

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalkit.stats import default_ks, majority_estimate, majority_vote, pass_at_k, pass_at_k_estimate


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        # n=5, c=2: pass@1 = 2/5; pass@2 = 1 - C(3,2)/C(5,2) = 1 - 3/10; pass@3 = 1 - C(3,3)/C(5,3) = 1 - 1/10
        (5, 2, 1, Fraction(2, 5)),
        (5, 2, 2, Fraction(7, 10)),
        (5, 2, 3, Fraction(9, 10)),
        (5, 2, 4, Fraction(1)),  # only 3 wrong samples: any 4 contain a right one
        (5, 0, 3, Fraction(0)),
        (5, 5, 1, Fraction(1)),
        # n=32, c=8, k=8: 1 - C(24,8)/C(32,8) = 1 - 735471/10518300
        (32, 8, 8, 1 - Fraction(735471, 10518300)),
        # n=4, c=1: pass@2 = 1 - C(3,2)/C(4,2) = 1 - 3/6
        (4, 1, 2, Fraction(1, 2)),
    ],
)
def test_pass_at_k_worked_examples(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(float(expected), abs=1e-12)


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_equals_the_binomial_formula(nck):
    n, c, k = nck
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12)
    assert pass_at_k(n, c, 1) == pytest.approx(c / n)
    if k > 1:
        assert pass_at_k(n, c, k) >= pass_at_k(n, c, k - 1) - 1e-12


def test_pass_at_k_rejects_impossible_counts():
    for n, c, k in [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)]:
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_pass_at_k_estimate_averages_items_with_item_level_se():
    # item a: 1 of 4 right -> pass@2 = 1/2; item b: 4 of 4 -> 1; item c: 0 of 4 -> 0
    est = pass_at_k_estimate({"a": [1, 0, 0, 0], "b": [1, 1, 1, 1], "c": [0, 0, 0, 0]}, 2)
    assert est.mean == pytest.approx(0.5)
    # sd of (0.5, 1, 0) is 0.5; se = 0.5 / sqrt(3)
    assert est.se == pytest.approx(0.5 / math.sqrt(3))
    assert (est.n_items, est.n_samples) == (3, 12)
    with pytest.raises(ValueError, match="fewer than k"):
        pass_at_k_estimate({"a": [1, 0]}, 4)


def test_majority_vote_worked_examples():
    # 7 is given twice, 5 once: the majority answer 7 is right
    assert majority_vote([("5", False), ("7", True), ("7", True)]) is True
    # the majority answer is wrong even though one sample was right
    assert majority_vote([("5", False), ("5", False), ("7", True)]) is False
    # a tie goes to the answer seen first (repeat order), never to the right one by design
    assert majority_vote([("5", False), ("7", True)]) is False
    assert majority_vote([("7", True), ("5", False)]) is True
    # missing answers do not vote; no answer at all scores 0
    assert majority_vote([(None, False), (None, False), ("7", True)]) is True
    assert majority_vote([(None, False), (None, False)]) is False


def test_majority_estimate_over_items():
    votes = {
        "a": [("1", True), ("1", True), ("2", False), ("3", False)],  # majority 1: right
        "b": [("4", False), ("4", False), ("9", True), ("9", True)],  # tie 4/9: 4 seen first: wrong
        "c": [(None, False)] * 4,  # nothing to vote on: wrong
        "d": [("x", True)] * 4,
    }
    est = majority_estimate(votes)
    assert est.mean == pytest.approx(0.5) and est.n_items == 4 and est.n_samples == 16
    assert est.se == pytest.approx(math.sqrt((4 * 0.25 / 3) / 4))


def test_default_ks():
    assert default_ks(1) == [1]
    assert default_ks(4) == [1, 2, 4]
    assert default_ks(32) == [1, 2, 4, 8, 16, 32]
    assert default_ks(10) == [1, 2, 4, 8, 10]
