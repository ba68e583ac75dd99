"""Interval properties against reference implementations: Wilson against scipy's ``binomtest(...)
.proportion_ci(method="wilson")``, coverage of Wilson and Newcombe on simulated binomials, Newcombe's paired
interval against a hand computation of the paper's worked example, and the n = 3 edge."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from core.errors import InputError
from core.evals.stats import compare_paired, newcombe_paired, paired_interval, rate_ci, wilson_interval

Z = 1.959963984540054  # the 97.5 % normal quantile


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 400), data=st.data(), level=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_matches_scipy_reference(n: int, data: st.DataObject, level: float) -> None:
    k = data.draw(st.integers(0, n))
    ref = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    lo, hi = wilson_interval(k, n, level)
    assert lo == pytest.approx(max(0.0, ref.low), abs=1e-12) and hi == pytest.approx(
        min(1.0, ref.high), abs=1e-12
    )
    assert 0.0 <= lo <= k / n <= hi <= 1.0


@settings(max_examples=100, deadline=None)
@given(outcomes=st.lists(st.integers(0, 1), min_size=1, max_size=60))
def test_rate_ci_never_collapses_and_matches_scipy(outcomes: list[int]) -> None:
    r = rate_ci(outcomes)
    ref = binomtest(sum(outcomes), len(outcomes)).proportion_ci(method="wilson")
    assert (r.low, r.high) == pytest.approx((max(0.0, ref.low), min(1.0, ref.high)), abs=1e-12)
    assert r.high - r.low > 0  # width > 0 at 0/n and n/n too


@pytest.mark.parametrize("n", [5, 10, 30, 100])
def test_wilson_coverage_within_two_points_of_nominal(n: int) -> None:
    """Simulated binomials with the true rate drawn uniformly from [0.05, 0.95]: the share of intervals that
    contain it is within ±2 points of 95 % (Wilson's pointwise coverage oscillates with p at small n; its
    average over p is close to nominal)."""
    rng = np.random.default_rng(n)
    ps = rng.uniform(0.05, 0.95, size=6000)
    ks = rng.binomial(n, ps)
    bounds = [wilson_interval(int(k), n) for k in ks]
    cover = np.mean([lo <= p <= hi for p, (lo, hi) in zip(ps, bounds, strict=True)])
    assert abs(cover - 0.95) <= 0.02, (n, cover)


def test_newcombe_coverage_within_two_points_of_nominal() -> None:
    """Paired binomials (correlated 0/1 outcomes of two subjects on the same n items): Newcombe's interval of
    the difference covers the true difference about 95 % of the time."""
    rng = np.random.default_rng(7)
    hits, trials = 0, 3000
    for _ in range(trials):
        n = int(rng.integers(20, 120))
        cells = rng.dirichlet([2, 1, 1, 2])  # both, only_b, only_a, neither
        counts = rng.multinomial(n, cells)
        lo, hi = newcombe_paired(*map(int, counts))
        hits += lo <= cells[1] - cells[2] <= hi
    assert abs(hits / trials - 0.95) <= 0.02, hits / trials


def _wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (2 * n * p + Z * Z) / (2 * (n + Z * Z))
    half = Z * math.sqrt(Z * Z + 4 * n * p * (1 - p)) / (2 * (n + Z * Z))
    return centre - half, centre + half


def test_newcombe_reproduces_the_papers_worked_example() -> None:
    """Newcombe (1998), Stat Med 17:2635, example (a): 2x2 table e = 36 (both), f = 12, g = 2, h = 0 over
    n = 50; method 10 gives 0.0569 to 0.3404 for the difference 0.2. Computed here step by step."""
    e, f, g, h = 36, 12, 2, 0
    n = e + f + g + h
    p1, p2 = (e + f) / n, (e + g) / n  # 0.96, 0.76
    l1, u1 = _wilson_by_hand(e + f, n)
    l2, u2 = _wilson_by_hand(e + g, n)
    num = e * h - f * g  # -24 < 0: no n/2 shrinkage
    phi = num / math.sqrt((e + f) * (g + h) * (e + g) * (f + h))
    lower = p1 - p2 - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    upper = p1 - p2 + math.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    assert (round(lower, 4), round(upper, 4)) == (0.0569, 0.3404)  # the paper's values
    assert newcombe_paired(e, f, g, h) == pytest.approx((lower, upper), abs=1e-12)
    # the same table as outcomes: subject b scores 1 on e + f items, subject a on e + g
    a = [1] * e + [0] * f + [1] * g + [0] * h
    b = [1] * e + [1] * f + [0] * g + [0] * h
    pd = paired_interval(a, b)
    assert pd.diff == pytest.approx(0.2) and (pd.low, pd.high) == pytest.approx((lower, upper), abs=1e-12)


def test_newcombe_positive_correlation_shrinks_by_half_n() -> None:
    # ad - bc = 40*40 - 5*15 = 1525 > n/2 = 50: phi uses 1525 - 50
    both, only_b, only_a, neither = 40, 5, 15, 40
    n = 100
    lo, hi = newcombe_paired(both, only_b, only_a, neither)
    p1, p2 = 0.45, 0.55
    l1, u1 = _wilson_by_hand(45, n)
    l2, u2 = _wilson_by_hand(55, n)
    phi = (40 * 40 - 5 * 15 - n / 2) / math.sqrt(45 * 55 * 55 * 45)
    assert lo == pytest.approx(
        p1 - p2 - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    )
    assert hi == pytest.approx(
        p1 - p2 + math.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    )


def test_newcombe_edges() -> None:
    lo, hi = newcombe_paired(0, 3, 0, 0)  # 0/3 -> 3/3: difference 1, but not certain at n = 3
    assert hi == 1.0 and lo < 0.6
    lo, hi = newcombe_paired(0, 0, 0, 3)  # both 0/3: no difference, yet a real interval
    assert lo < 0 < hi and hi >= 0.40
    assert all(math.isnan(x) for x in newcombe_paired(0, 0, 0, 0))
    with pytest.raises(InputError, match="non-negative"):
        newcombe_paired(-1, 0, 0, 1)


def test_comparison_json_has_newcombe_interval_not_bootstrap() -> None:
    c = compare_paired([0, 0, 0], [1, 1, 1])
    js = c.to_json()
    assert "bootstrap" not in js and js["interval"]["method"] == "newcombe"
    assert js["interval"]["low"] < 0.6 and js["interval"]["high"] == 1.0
