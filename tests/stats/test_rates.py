"""The intervals reports and gates use (evalkit.stats.rates): worked examples at the edges."""

import numpy as np
import pytest

from evalkit.stats import (
    PairedItems,
    clopper_pearson,
    paired_rate_interval,
    rate_interval,
    score_paired_interval,
)
from evalkit.stats.rates import (
    EFFECTIVE,
    EXACT,
    ITEMS_AS_TRIALS,
    PAIRED_ITEMS_AS_TRIALS,
    ratio_rate_interval,
    score_interval,
)


def paired(cand, ref):
    """PairedItems from [items, repeats] 0/1 arrays (the same repeat paired)."""
    cand, ref = np.asarray(cand, float), np.asarray(ref, float)
    n = cand.shape[0]
    return PairedItems(
        ids=tuple(map(str, range(n))),
        candidate=cand.mean(1),
        reference=ref.mean(1),
        pairs_per_item=np.full(n, cand.shape[1]),
        binary_single=cand.shape[1] == 1,
        only_candidate=0,
        only_reference=0,
        candidate_gain=np.clip(cand - ref, 0, None).mean(1),
        reference_gain=np.clip(ref - cand, 0, None).mean(1),
    )


def test_binary_items_scored_once_get_the_exact_interval():
    iv = rate_interval([1, 0, 1, 1, 0, 1, 1, 1, 0, 1], level=0.95)
    cp = clopper_pearson(7, 10, 0.95)
    assert (iv.low, iv.high, iv.method) == (pytest.approx(cp.low), pytest.approx(cp.high), EXACT)


@pytest.mark.parametrize("repeats", [1, 8, 32])
def test_all_wrong_on_two_items_is_0_to_84_percent_however_many_repeats(repeats):
    # issue 17: 0.0 (95% CI 0.0–0.0) for repeated tasks; a model that solved 0 of 2 problems
    # may solve a good share of them. Every item counts as one trial: 0 of 2.
    iv = rate_interval([0.0, 0.0], [repeats, repeats])
    assert iv.estimate == 0 and iv.low == 0 and iv.high == pytest.approx(0.8419, abs=1e-4)
    assert iv.method in (EXACT, ITEMS_AS_TRIALS)


def test_all_right_on_30_items_with_repeats():
    iv = rate_interval(np.ones(30), np.full(30, 32))
    assert iv.high == 1 and iv.low == pytest.approx(clopper_pearson(30, 30).low)


@pytest.mark.parametrize(
    "means",
    [[0.5], [0.0], [1.0], [0.5, 0.5, 0.5], [0.25] * 40, [0, 0, 0, 1 / 32], [1, 1, 31 / 32]],
)
def test_never_zero_width(means):
    iv = rate_interval(means, [32] * len(means))
    assert iv.width > 0.02 and iv.low <= iv.estimate <= iv.high


def test_one_success_never_narrows_the_upper_bound_below_none_at_all():
    # one success among 30 items x 32 repeats: the spread of the mean comes from one item,
    # which estimates nothing; the interval must not claim more than 0 of 30 items would
    none = rate_interval(np.zeros(30), np.full(30, 32))
    one = rate_interval(np.r_[1 / 32, np.zeros(29)], np.full(30, 32))
    assert one.high >= none.high


def test_repeats_narrow_the_interval_when_items_are_alike():
    # 200 items of equal difficulty 0.6: repeats are nearly independent evidence, and the
    # effective sample size grows with them (never beyond the number of samples)
    rng = np.random.default_rng(0)
    once = rate_interval((rng.random(200) < 0.6).astype(float))
    k = rng.binomial(16, 0.6, size=200)
    many = rate_interval(k / 16, np.full(200, 16))
    assert many.method == EFFECTIVE and many.width < 0.5 * once.width
    assert many.width > clopper_pearson(int(k.sum()), 3200).width * 0.9


def test_score_interval_groups_by_item():
    iv = score_interval([("a", 1), ("a", 0), ("b", 1), ("b", 1), ("c", 0), ("c", 0)])
    assert iv.estimate == pytest.approx(0.5)
    assert iv == rate_interval([0.5, 1.0, 0.0], [2, 2, 2])


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="no items"):
        rate_interval([])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rate_interval([0.5, 1.5])
    with pytest.raises(ValueError, match="sample count"):
        rate_interval([0.5, 0.5], [1])


def test_paired_binary_once_is_tango():
    cand = [[1]] * 8 + [[0]] * 2 + [[1]] * 40
    ref = [[0]] * 3 + [[1]] * 7 + [[1]] * 40
    iv = paired_rate_interval(paired(cand, ref))
    tango = score_paired_interval(3, 2, 50)
    assert (iv.low, iv.high) == (pytest.approx(tango.low), pytest.approx(tango.high))


def test_paired_all_wrong_against_all_right_is_not_a_point():
    # issue 17: the differences table showed −75.4 [−75.4, −75.4]
    iv = paired_rate_interval(paired(np.zeros((4, 8)), np.ones((4, 8))))
    assert iv.estimate == -1 and iv.low == pytest.approx(-1) and iv.high > -0.6
    assert iv.method == PAIRED_ITEMS_AS_TRIALS


def test_identical_runs_with_repeats_bound_the_difference_by_the_items():
    rng = np.random.default_rng(1)
    s = (rng.random((30, 8)) < 0.7).astype(float)
    iv = paired_rate_interval(paired(s, s))
    assert iv.estimate == 0 and iv.low < 0 < iv.high
    assert iv.high == pytest.approx(score_paired_interval(0, 0, 30).high)


def test_ratio_rate_interval_at_full_agreement_is_not_a_point():
    # fidelity's top-1 agreement: 48 texts of 60-70 tokens, every token agrees
    tokens = np.arange(48) % 11 + 60
    iv = ratio_rate_interval(tokens, tokens)
    kish = tokens.sum() ** 2 / np.sum(tokens**2)
    assert iv.estimate == 1 and iv.high == 1
    assert iv.low == pytest.approx(clopper_pearson(48, 48).low, abs=0.002) and kish == pytest.approx(
        48, rel=0.01
    )


def test_ratio_rate_interval_mid_range_uses_the_tokens():
    rng = np.random.default_rng(3)
    tokens = rng.integers(50, 80, size=60)
    agree = rng.binomial(tokens, 0.9)
    iv = ratio_rate_interval(agree, tokens)
    assert iv.method == EFFECTIVE and iv.low < agree.sum() / tokens.sum() < iv.high
    assert iv.width < clopper_pearson(54, 60).width / 2  # far tighter than one trial per text
