"""Axes that state their reliability: cross-validated AUROC of a difference of means, probe axes, the warning
below 0.75."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from core.explore.axes import AUROC_MIN, Axis, auroc, cv_axis_auroc, diff_means_axis


def test_auroc_matches_the_rank_statistic():
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert auroc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1])) == 0.5
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([1, 1])))


def _states(sep: float, n: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2 * n, 3, 8)).astype(np.float32)
    X[n:, 2, 0] += sep  # only layer 2 separates
    return X, ["safe"] * n + ["unsafe"] * n


def test_diff_means_axis_picks_the_separating_layer_and_reports_it():
    X, labels = _states(6.0)
    axis, scores, per_layer = diff_means_axis(X, labels, [0, 4, 8])
    assert axis.layer == 8 and axis.reliable and axis.auroc > 0.95 and per_layer[0] < 0.9
    assert (axis.n_safe, axis.n_unsafe, axis.kind) == (12, 12, "axis") and "5-fold" in axis.auroc_how
    assert scores[12:].mean() > 0.5 > -0.5 > scores[:12].mean()  # safe mean near −1, unsafe near +1
    assert "layer 8" in axis.caption() and "12 safe / 12 unsafe" in axis.caption()
    assert axis.warning() is None


def test_an_axis_that_does_not_separate_warns():
    X, labels = _states(0.0)
    axis, _, _ = diff_means_axis(X, labels, [0, 4, 8], layer=4)
    assert axis.layer == 4 and axis.auroc < AUROC_MIN and not axis.reliable
    assert "not reliable" in axis.warning() and f"< {AUROC_MIN:.2f}" in axis.warning()
    few = Axis(source="x", method="m", layer=1, n_safe=1, n_unsafe=1, auroc=None, auroc_how="-", kind="axis")
    assert "cannot be measured" in few.warning()


def test_too_few_to_hold_out_and_missing_layer():
    X, labels = _states(3.0, n=1)
    aucs, k = cv_axis_auroc(X, labels)
    assert k == 0 and np.isnan(aucs).all()
    with pytest.raises(InputError, match="not among the captured layers"):
        diff_means_axis(*_states(3.0), [0, 4, 8], layer=5)


def test_probe_axis_uses_heldout_auroc_and_probability_units(tmp_path):
    from core.probes.artefacts import save_probe_set
    from core.probes.axes import probe_axis, probe_token_scores, saved_probe_axes
    from core.probes.linear import train_probes
    from tests.explorer_fakes import make_traj

    X, labels = _states(6.0)
    good = train_probes(X, labels, layers=[0, 1, 2], k=3, X_val=X[::3], labels_val=labels[::3])
    good.meta.update(model_fingerprint="fp")
    bad = train_probes(*_states(0.0, seed=1), layers=[0, 1, 2], k=3)
    bad.meta.update(model_fingerprint="fp")
    save_probe_set(bad, "bad", root=tmp_path)
    save_probe_set(good, "good", root=tmp_path)
    axis = probe_axis(good, name="good")
    assert axis.layer == 2 and axis.kind == "probability" and axis.units == "P(unsafe)"
    assert axis.auroc_how == "validation split" and (axis.n_safe, axis.n_unsafe) == (12, 12)
    saved = saved_probe_axes("fp", root=tmp_path)
    assert [s.name for s in saved] == ["good", "bad"]  # best held-out AUROC first: the default axis
    assert saved_probe_axes("other", root=tmp_path) == []
    assert "3-fold" in probe_axis(bad).auroc_how
    traj = make_traj(["a", "b", "c"], 3, d=8, seed=0)
    scores = probe_token_scores(good, traj)
    assert scores.shape == (len(traj.layers), 3) and np.nanmin(scores) >= 0 and np.nanmax(scores) <= 1
