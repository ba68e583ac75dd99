"""Wilson intervals: the closed form (Wilson 1927), the n = 3 edge the browser shows, and coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import InputError
from core.evals.awareness import states_knew
from core.evals.stats import rate_ci, wilson_interval


def _wilson_closed_form(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(0, 3), (3, 3), (1, 10), (5, 10), (17, 40), (0, 1), (99, 100)])
def test_matches_the_closed_form(k: int, n: int) -> None:
    lo, hi = wilson_interval(k, n)
    rlo, rhi = _wilson_closed_form(k, n)
    assert lo == pytest.approx(max(0.0, rlo), abs=1e-9) and hi == pytest.approx(min(1.0, rhi), abs=1e-9)


def test_zero_of_three_is_not_certain() -> None:
    r = rate_ci([0, 0, 0])
    assert r.rate == 0 and r.low == 0 and r.high >= 0.40
    r = rate_ci([1, 1, 1])
    assert r.high == 1 and r.low <= 0.60


def test_coverage_is_near_nominal_on_simulated_binomials() -> None:
    rng = np.random.default_rng(0)
    for n, p in [(20, 0.1), (50, 0.5), (100, 0.9), (30, 0.3)]:
        ks = rng.binomial(n, p, size=4000)
        cover = np.mean([lo <= p <= hi for lo, hi in (wilson_interval(int(k), n) for k in ks)])
        assert abs(cover - 0.95) <= 0.03, (n, p, cover)  # Wilson oscillates around nominal at small n


def test_empty_is_nan() -> None:
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_states_knew_table_counts() -> None:
    t = states_knew(
        harmful=[True, True, True, False, False],
        flagged=[True, True, False, True, False],
        refused_before=[False, True, False, True, False],
        refused_after=[True, True, False, False, False],
    )
    assert t["harmful"]["flag_rate"]["k"] == 2 and t["harmful"]["flag_rate"]["n"] == 3
    assert t["harmful"]["flagged"]["refused_before"]["rate"] == 0.5
    assert t["harmful"]["flagged"]["refused_after"]["rate"] == 1.0
    assert t["benign"]["flagged"]["refused_before"]["k"] == 1 and t["benign"]["not_flagged"]["n"] == 1


@pytest.mark.parametrize(
    "lengths",
    [
        {"harmful": 3, "flagged": 2, "refused_before": 3},
        {"harmful": 3, "flagged": 3, "refused_before": 4},
        {"harmful": 3, "flagged": 3, "refused_before": 3, "refused_after": 2},
    ],
)
def test_states_knew_mismatched_lengths_raise(lengths: dict[str, int]) -> None:
    with pytest.raises(InputError, match="lengths differ"):
        states_knew(**{k: [True] * n for k, n in lengths.items()})
