"""Linear probes against scikit-learn / closed-form references on synthetic data with a planted direction."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from core.probes.linear import (
    binary_metrics,
    confusion,
    diff_in_means,
    encode_labels,
    evaluate,
    fit_probe,
    train_probes,
)


def planted(n: int = 120, d: int = 16, seed: int = 0, sep: float = 3.0):
    """Layer 0: pure noise; layer 1: classes separated along a planted unit direction; labels as strings."""
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    noise = rng.normal(size=(n, d))
    sep_layer = (
        rng.normal(size=(n, d)) + np.outer(np.where(y == 1, sep / 2, -sep / 2), u) + 5.0
    )  # offset mean
    X = np.stack([noise, sep_layer], axis=1).astype(np.float32)  # [n, 2, d]
    labels = np.where(y == 1, "unsafe", "safe")
    return X, labels, y, u


def test_logistic_probe_matches_sklearn_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _, y, _ = planted()
    Xl = X[:, 1, :]
    probe = fit_probe(Xl, y, layer=1, method="logistic", C=0.5)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(
        Xl.astype(np.float64), y
    )
    np.testing.assert_allclose(probe.score(Xl), ref.predict_proba(Xl.astype(np.float64))[:, 1], atol=1e-6)
    # the affine form in raw space is exactly the pipeline's decision function
    np.testing.assert_allclose(probe.logit(Xl), ref.decision_function(Xl.astype(np.float64)), atol=1e-6)


def test_diff_in_means_is_the_closed_form_mean_difference_and_separates():
    X, _, y, u = planted(sep=4.0)
    Xl = X[:, 1, :].astype(np.float64)
    expected = Xl[y == 1].mean(0) - Xl[y == 0].mean(0)
    np.testing.assert_allclose(diff_in_means(Xl, y), expected, atol=1e-10)
    probe = fit_probe(Xl, y, layer=1, method="diff_means")
    np.testing.assert_allclose(probe.direction, expected, atol=1e-10)
    cos = probe.direction @ u / np.linalg.norm(probe.direction)
    assert cos > 0.9  # recovers the planted direction
    # the score is monotone in the projection on r/|r| (the calibration slope is positive)
    proj = Xl @ (expected / np.linalg.norm(expected))
    order = np.argsort(proj)
    assert np.all(np.diff(probe.score(Xl)[order]) >= -1e-12)
    assert binary_metrics(y, probe.score(Xl))["auroc"] > 0.99


@pytest.mark.parametrize("method", ["logistic", "diff_means"])
def test_train_probes_cv_picks_the_separable_layer(method):
    from sklearn.model_selection import StratifiedKFold

    X, labels, y, _ = planted(n=140, sep=5.0)
    X, Xv, labels, labels_v, y = X[:100], X[100:], labels[:100], labels[100:], y[:100]  # held-out split
    ps = train_probes(X, labels, layers=[0, 5], method=method, k=4, seed=0, X_val=Xv, labels_val=labels_v)
    assert ps.layers == (0, 5) and ps.best_layer == 5
    assert ps.metrics[5].mean("auroc") > 0.98 and ps.metrics[0].mean("auroc") < 0.75
    assert ps.metrics[5].heldout["auroc"] > 0.98
    assert len(ps.metrics[5].folds["accuracy"]) == 4
    # fold values equal an independent re-run of the same stratified folds
    folds = StratifiedKFold(4, shuffle=True, random_state=0).split(np.zeros(len(y)), y)
    accs = []
    for tr, te in folds:
        p = fit_probe(X[tr, 1], y[tr], method=method)
        accs.append(binary_metrics(y[te], p.score(X[te, 1]))["accuracy"])
    np.testing.assert_allclose(ps.metrics[5].folds["accuracy"], accs)
    assert ps.oof_scores.shape == (2, 100)
    assert ps.val_scores.shape == (2, 40)
    curve = ps.curve("auroc")
    assert curve["layers"].tolist() == [0, 5] and curve["std"].shape == (2,)
    # evaluate() on new data agrees with the stored held-out metrics
    ev = evaluate(ps, Xv, labels_v)
    assert ev[5]["auroc"] == pytest.approx(ps.metrics[5].heldout["auroc"])
    assert ps.score(Xv[:, 1, :]).shape == (40,)


def test_metrics_and_confusion_against_hand_counts():
    y = np.array([0, 0, 1, 1, 1])
    s = np.array([0.1, 0.7, 0.8, 0.4, 0.9])
    m = binary_metrics(y, s)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))  # precision 2/3, recall 2/3
    assert m["auroc"] == pytest.approx(5 / 6)  # 5 of 6 (pos, neg) pairs ordered correctly
    assert confusion(y, s).tolist() == [[1, 1], [1, 2]]


def test_bad_input_messages():
    X, labels, _, _ = planted(n=20)
    with pytest.raises(InputError, match="All 20 items are labelled 'safe'"):
        train_probes(X, ["safe"] * 20)
    few = np.array(["safe"] * 17 + ["unsafe"] * 3)
    with pytest.raises(InputError, match=r"at least 5 items of each class.*safe: 17, unsafe: 3"):
        train_probes(X, few, k=5)
    with pytest.raises(InputError, match="rethink"):
        encode_labels(["safe", "rethink"])
    ps = train_probes(X, labels, k=2)
    with pytest.raises(InputError, match="expects hidden states of size 16.*got 8"):
        ps.score(np.zeros((3, 8)))
    with pytest.raises(InputError, match="shape"):
        train_probes(np.zeros((4, 2, 3, 5)), ["safe", "unsafe"] * 2, k=2)
    with pytest.raises(InputError, match="Unknown probe method"):
        train_probes(X, labels, method="svm")
