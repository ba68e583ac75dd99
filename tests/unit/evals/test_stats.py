"""Statistics: Wilson rate CIs (coverage on synthetic data), exact McNemar against a hand computation, the
Newcombe paired-difference interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import InputError
from core.evals.stats import compare_paired, mcnemar, paired_interval, rate_ci, rate_text


def test_rate_ci_basic_and_seeded():
    v = [1] * 30 + [0] * 70
    r = rate_ci(v, seed=3)
    assert r.rate == pytest.approx(0.3) and r.n == 100 and r.k == 30
    assert r.low < 0.3 < r.high
    # normal-approximation half-width sqrt(.3*.7/100)*1.96 = 0.0898; Wilson is close to it at n = 100
    assert r.high - r.low == pytest.approx(2 * 0.0898, abs=0.01)
    assert rate_ci(v, seed=3) == r == rate_ci(v, seed=4)  # no resampling: the seed does not matter
    assert "30.0 %" in r.fmt() and "n = 100" in r.fmt() and r.method == "wilson" and not r.too_few


def test_rate_text_marks_too_few():
    assert rate_text(0.0, 0.0, 0.5615, 3) == "0.0 % [0.0, 56.1] · n = 3 · too few"
    assert rate_text(0.5, 0.3, 0.7, 10) == "50.0 % [30.0, 70.0] · n = 10"
    assert rate_text(None, None, None, 0) == "— (n = 0)"
    assert "too few" in rate_ci([1, 0, 1]).fmt()


def test_rate_ci_empty_and_nan_and_bad_values():
    r = rate_ci([])
    assert r.n == 0 and math.isnan(r.rate) and r.fmt() == "— (n = 0)"
    assert rate_ci([1, float("nan"), 0]).n == 2  # NaN = no outcome
    with pytest.raises(InputError, match="0/1"):
        rate_ci([0.5, 1])


@pytest.mark.parametrize("p,n", [(0.2, 80), (0.5, 60)])
def test_rate_ci_coverage_on_synthetic_data(p, n):
    """Over many synthetic samples the 95 % interval should contain the true rate about 95 % of the time."""
    rng = np.random.default_rng(1234)
    trials = 400
    hits = 0
    for _ in range(trials):
        sample = (rng.random(n) < p).astype(float)
        r = rate_ci(sample)
        hits += r.low <= p <= r.high
    coverage = hits / trials
    print(f"Wilson CI coverage p={p} n={n}: {coverage:.3f}")
    assert 0.89 <= coverage <= 0.99


def test_mcnemar_matches_hand_computed_exact_p():
    # 10 items: subject a right / b wrong on 8 (b = 8), a wrong / b right on 2 (c = 2), plus 5 concordant
    a = [1] * 8 + [0] * 2 + [1] * 3 + [0] * 2
    b = [0] * 8 + [1] * 2 + [1] * 3 + [0] * 2
    m = mcnemar(a, b)
    assert (m.b, m.c, m.n) == (8, 2, 15)
    # two-sided exact: 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * (1 + 10 + 45) / 1024
    assert m.p_value == pytest.approx(112 / 1024)
    assert mcnemar([1, 0], [1, 0]).p_value == 1.0  # no discordant pairs
    # 10 vs 0 discordant: 2 / 2^10
    assert mcnemar([1] * 10, [0] * 10).p_value == pytest.approx(2 / 1024)


def test_paired_interval_uses_the_pairing():
    rng = np.random.default_rng(0)
    a = (rng.random(200) < 0.5).astype(float)
    b = a.copy()
    flip = rng.choice(np.flatnonzero(a == 0), 20, replace=False)  # b fixes 20 of a's failures, breaks none
    b[flip] = 1
    pb = paired_interval(a, b)
    assert pb.diff == pytest.approx(0.1) and pb.method == "newcombe"
    assert 0 < pb.low < 0.1 < pb.high and pb.p_value < 0.01
    same = paired_interval(a, a)
    assert same.diff == 0 and same.p_value == 1.0 and same.low < 0 < same.high
    c = compare_paired(a, b)
    assert c.significant and c.delta == pytest.approx(0.1)
    assert c.verdict(higher_is_better=True) == "significantly better"
    assert c.verdict(higher_is_better=False) == "significantly worse"
    assert compare_paired(a, a).verdict(True) == "no significant difference"


def test_paired_inputs_must_match():
    with pytest.raises(InputError, match="same items"):
        mcnemar([1, 0], [1])


def test_evals_import_without_torch_or_streamlit():
    """Analysis code (judges, statistics, records, reports, suites, job registration) imports without
    torch."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, core.evals.judges, core.evals.stats, core.evals.records, core.evals.report, "
        "core.evals.html_report, core.evals.suites, core.evals.runner, core.evals.attacks, "
        "core.evals.repdiff, core.evals.model_judges, core.evals.jobs, core.cli.evals; "
        "print(','.join(m for m in ('torch', 'transformers', 'nnsight', 'streamlit') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert out.stdout.strip() == ""
