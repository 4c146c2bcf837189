"""The gate's statistics against known values, and their properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notme.gate.stats import clopper_pearson, mcnemar_one_sided, paired_difference_ci, wilson


def test_mcnemar_known_values() -> None:
    assert mcnemar_one_sided(5, 0) == pytest.approx(0.03125)
    assert mcnemar_one_sided(4, 0) == pytest.approx(0.0625)
    assert mcnemar_one_sided(0, 0) == 1.0
    assert mcnemar_one_sided(0, 5) == 1.0
    # P(X >= 6) for Binomial(8, 1/2) = (28 + 8 + 1) / 256
    assert mcnemar_one_sided(6, 2) == pytest.approx(37 / 256)


def test_mcnemar_large_counts_do_not_overflow() -> None:
    p = mcnemar_one_sided(450, 400)
    assert 0.0 < p < 0.05
    assert mcnemar_one_sided(400, 400) > 0.5


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError):
        mcnemar_one_sided(-1, 0)
    with pytest.raises(ValueError):
        wilson(5, 3)
    with pytest.raises(ValueError):
        paired_difference_ci(3, 3, 5)


def test_wilson_known_values() -> None:
    low, high = wilson(0, 100)
    assert low == 0.0
    assert high == pytest.approx(0.0370, abs=5e-4)
    assert wilson(100, 100) == pytest.approx((1 - high, 1.0))
    low, high = wilson(50, 100)
    assert (low + high) / 2 == pytest.approx(0.5)
    assert low == pytest.approx(0.4038, abs=5e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_clopper_pearson_known_values() -> None:
    # Two-sided 95%: the k = 0 upper bound is 1 - 0.025 ** (1 / n), not the one-sided 0.0295.
    low, high = clopper_pearson(0, 100)
    assert low == 0.0
    assert high == pytest.approx(1 - 0.025 ** (1 / 100), abs=1e-6)
    assert high == pytest.approx(0.0362, abs=5e-4)
    assert clopper_pearson(3, 10) == pytest.approx((0.0667, 0.6525), abs=5e-4)
    assert clopper_pearson(100, 100) == pytest.approx((1 - high, 1.0), abs=1e-6)
    assert clopper_pearson(0, 0) == (0.0, 1.0)


def test_clopper_pearson_is_wider_than_wilson_at_zero() -> None:
    assert clopper_pearson(0, 100)[1] < wilson(0, 100)[1]  # Wilson is conservative at k = 0 …
    assert clopper_pearson(5, 100)[0] < wilson(5, 100)[0]  # … and CP's lower bound is the exact one


def test_paired_difference_ci() -> None:
    low, high = paired_difference_ci(0, 0, 500)
    assert low == pytest.approx(-high)
    assert 0 < high < 0.02  # no change on 500 probes passes a +2 pp non-inferiority bound
    low, high = paired_difference_ci(10, 2, 500)
    assert low > 0  # 8 net regressions in 500 is a real rise
    assert low < 8 / 500 < high
    low, high = paired_difference_ci(2, 10, 500)
    assert high < 0
    assert paired_difference_ci(0, 0, 0) == (-1.0, 1.0)
    assert paired_difference_ci(0, 0, 100)[1] > paired_difference_ci(0, 0, 1000)[1]


counts = st.integers(min_value=0, max_value=200)


@settings(max_examples=60, deadline=None)
@given(b=counts, c=counts)
def test_mcnemar_is_a_probability_and_non_increasing_in_b(b: int, c: int) -> None:
    p = mcnemar_one_sided(b, c)
    assert 0.0 <= p <= 1.0
    assert mcnemar_one_sided(b + 1, c) <= p + 1e-12


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=300), data=st.data())
def test_intervals_contain_the_estimate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    for low, high in (wilson(k, n), clopper_pearson(k, n)):
        assert 0.0 <= low <= k / n <= high <= 1.0
    # Symmetry: k successes is n - k failures.
    low, high = wilson(k, n)
    mirrored = wilson(n - k, n)
    assert math.isclose(low, 1 - mirrored[1], abs_tol=1e-9)
    assert math.isclose(high, 1 - mirrored[0], abs_tol=1e-9)
