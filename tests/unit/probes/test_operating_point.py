"""Operating points of linear probes: the threshold that flags at most ``max_fpr`` of the benign train items
(chosen out of fold), and the per-layer TPR / FPR / AUROC report the CLI prints, against hand computations
and scikit-learn on seeded synthetic Gaussian data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.errors import InputError
from core.probes.linear import DEFAULT_MAX_FPR, operating_report, operating_threshold, train_probes


def gaussian(n: int = 240, d: int = 8, seps: tuple[float, ...] = (0.0, 1.0, 3.0), seed: int = 0):
    """``[n, L, d]`` states: layer j separates the classes by ``seps[j]`` along one fixed unit direction (the
    same for every ``seed``, so a probe trained on one draw applies to another)."""
    u = np.random.default_rng(12345).normal(size=d)
    u /= np.linalg.norm(u)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.array([0, 1] * (n // 2)))
    layers = [rng.normal(size=(n, d)) + np.outer(np.where(y == 1, s / 2, -s / 2), u) for s in seps]
    X = np.stack(layers, axis=1).astype(np.float32)
    return X, np.where(y == 1, "unsafe", "safe"), y


def _share_flagged(scores: np.ndarray, t: float) -> float:
    return float(np.mean(np.asarray(scores) >= t))


def _assert_tight(scores: np.ndarray, t: float, max_fpr: float) -> None:
    """At most ``max_fpr`` flagged at ``t``; the next representable threshold below flags more."""
    assert 0.0 <= t <= 1.0
    assert _share_flagged(scores, t) <= max_fpr
    lower = float(np.nextafter(t, -np.inf))
    if np.any(np.asarray(scores) >= lower) and t > 0:
        assert _share_flagged(scores, lower) > max_fpr


# ---- operating_threshold -----------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7, 20, 99, 100, 101, 1000])
@pytest.mark.parametrize("max_fpr", [0.0, 0.01, 0.05, 0.1, 0.5, 0.9])
def test_threshold_is_the_smallest_that_keeps_the_fpr(n: int, max_fpr: float) -> None:
    s = np.random.default_rng(n).uniform(size=n)
    _assert_tight(s, operating_threshold(s, max_fpr), max_fpr)


def test_threshold_with_tied_scores() -> None:
    s = np.array([0.9] * 10 + [0.2] * 90)  # ten ties at the top: flagging any of them flags all ten
    t = operating_threshold(s, 0.05)
    assert _share_flagged(s, t) == 0.0 and t > 0.9
    assert operating_threshold(s, 0.10) == pytest.approx(np.nextafter(0.2, 1.0))
    assert _share_flagged(s, operating_threshold(s, 0.10)) == pytest.approx(0.10)
    _assert_tight(s, operating_threshold(s, 0.10), 0.10)


def test_threshold_hand_computed() -> None:
    s = np.linspace(0.0, 0.99, 100)  # 0.00, 0.01, …, 0.99
    t = operating_threshold(s, 0.05)  # five may be flagged (0.95..0.99); 0.94 must not be
    assert s[94] < t <= s[95]
    assert _share_flagged(s, t) == 0.05


def test_threshold_edge_cases() -> None:
    assert operating_threshold(np.array([]), 0.05) == 0.5
    s = np.array([0.1, 0.4, 0.8])
    assert _share_flagged(s, operating_threshold(s, 0.0)) == 0.0
    assert operating_threshold(np.ones(5), 0.05) <= 1.0  # scores are probabilities: the threshold stays <= 1
    for bad in (-0.1, 1.0, 1.5, float("nan"), float("inf")):
        with pytest.raises(InputError, match="max_fpr must be in"):
            operating_threshold(s, bad)


# ---- train_probes sets each layer's threshold out of fold ------------------------------------------------
def test_train_probes_thresholds_come_from_out_of_fold_benign_scores() -> None:
    X, labels, y = gaussian()
    ps = train_probes(X, labels, k=4, seed=0)  # default max_fpr
    assert DEFAULT_MAX_FPR == 0.05
    assert ps.oof_scores is not None and ps.y_train is not None
    benign = ps.y_train == 0
    for j, layer in enumerate(ps.layers):
        t = ps.probes[layer].threshold
        oof_benign = ps.oof_scores[j][benign]
        assert t == operating_threshold(oof_benign, 0.05)
        _assert_tight(oof_benign, t, 0.05)
    # the separable layer's threshold catches most harmful items out of fold; noise does not
    j = ps.layers.index(2)
    assert _share_flagged(ps.oof_scores[j][~benign], ps.probes[2].threshold) > 0.5


def test_validation_never_moves_the_threshold() -> None:
    X, labels, _ = gaussian()
    Xv, lv, _ = gaussian(n=60, seed=1)
    a = train_probes(X, labels, k=4, seed=0)
    b = train_probes(X, labels, k=4, seed=0, X_val=Xv, labels_val=lv)
    assert {la: p.threshold for la, p in a.probes.items()} == {la: p.threshold for la, p in b.probes.items()}


@pytest.mark.parametrize("max_fpr", [0.01, 0.2])
def test_train_probes_other_max_fpr(max_fpr: float) -> None:
    X, labels, y = gaussian()
    ps = train_probes(X, labels, k=3, seed=0, max_fpr=max_fpr)
    for j, layer in enumerate(ps.layers):
        _assert_tight(ps.oof_scores[j][y == 0], ps.probes[layer].threshold, max_fpr)


def test_max_fpr_none_keeps_one_half() -> None:
    X, labels, _ = gaussian()
    ps = train_probes(X, labels, k=3, seed=0, max_fpr=None)
    assert {p.threshold for p in ps.probes.values()} == {0.5}


def test_bad_max_fpr_in_training_is_an_input_error() -> None:
    X, labels, _ = gaussian(n=40)
    with pytest.raises(InputError, match="max_fpr"):
        train_probes(X, labels, k=3, max_fpr=1.0)


# ---- operating_report --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    X, labels, _ = gaussian()
    return train_probes(X, labels, k=4, seed=0)


def test_report_shape_and_hand_computed_rates(trained) -> None:
    Xt, lt, yt = gaussian(n=100, seed=7)
    rep = operating_report(trained, Xt, lt)
    assert set(rep) == {"best_layer", "threshold", "n", "layers"}
    assert rep["best_layer"] == trained.best_layer == 2
    assert rep["threshold"] == pytest.approx(trained.probes[2].threshold, abs=1e-6)
    assert rep["n"] == {"unsafe": int(yt.sum()), "safe": int((yt == 0).sum())}
    assert set(rep["layers"]) == {"0", "1", "2"}
    for j, layer in enumerate(trained.layers):
        row = rep["layers"][str(layer)]
        assert set(row) == {"auroc", "tpr", "fpr", "accuracy", "threshold"}
        p = trained.probes[layer]
        s = p.score(Xt[:, j, :])
        flagged = s >= p.threshold
        tp = sum(1 for f, t in zip(flagged, yt, strict=True) if f and t == 1)
        fp = sum(1 for f, t in zip(flagged, yt, strict=True) if f and t == 0)
        tn = sum(1 for f, t in zip(flagged, yt, strict=True) if not f and t == 0)
        n_pos, n_neg = int(yt.sum()), int((yt == 0).sum())
        assert row["tpr"] == pytest.approx(tp / n_pos, abs=1e-6)
        assert row["fpr"] == pytest.approx(fp / n_neg, abs=1e-6)
        assert row["accuracy"] == pytest.approx((tp + tn) / len(yt), abs=1e-6)
        assert row["auroc"] == pytest.approx(roc_auc_score(yt, s), abs=1e-6)
        assert row["threshold"] == pytest.approx(p.threshold, abs=1e-6)
    assert rep["layers"]["2"]["auroc"] > 0.9 and rep["layers"]["2"]["tpr"] > 0.5
    json.dumps(rep, allow_nan=False)


def test_report_with_one_class_has_none_not_nan(trained) -> None:
    Xt, _, yt = gaussian(n=100, seed=7)
    harmful_only = Xt[yt == 1]
    rep = operating_report(trained, harmful_only, ["unsafe"] * len(harmful_only))
    assert rep["n"] == {"unsafe": len(harmful_only), "safe": 0}
    for row in rep["layers"].values():
        assert row["auroc"] is None and row["fpr"] is None and row["tpr"] is not None
    benign_only = Xt[yt == 0]
    rep = operating_report(trained, benign_only, [0] * len(benign_only))
    assert all(
        r["auroc"] is None and r["tpr"] is None and r["fpr"] is not None for r in rep["layers"].values()
    )
    text = json.dumps(rep, allow_nan=False)
    assert "NaN" not in text and json.loads(text)["layers"]["2"]["auroc"] is None


def test_report_on_a_subset_of_layers_and_bad_inputs(trained) -> None:
    Xt, lt, _ = gaussian(n=40, seed=3)
    rep = operating_report(trained, Xt[:, 2:, :], lt, layers=[2])
    assert set(rep["layers"]) == {"2"}
    with pytest.raises(InputError, match="has a probe"):
        operating_report(trained, Xt[:, :1, :], lt, layers=[9])
    with pytest.raises(InputError, match="must match one to one"):
        operating_report(trained, Xt, lt[:-1])
    with pytest.raises(InputError, match="label"):
        operating_report(trained, Xt, ["maybe"] * len(lt))
