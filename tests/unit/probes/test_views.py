"""What the Probes page shows (core.probes.views): the request a form describes, validation vs out-of-fold
scores, saved-probe lists. Pure numpy; a real ProbeSet trained on planted data."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.labelled import LabelledItem
from core.probes.features import FeatureSet
from core.probes.linear import METHOD_HELP, train_probes
from core.probes.views import (
    PROBE_METHODS,
    comparable_probe_sets,
    contrastive_inputs,
    default_kinds,
    default_save_name,
    format_score,
    inspect_scores,
    item_kinds,
    probe_artefacts,
    request_from_form,
    saved_probe_rows,
)


def _items(labels, split):
    return [
        LabelledItem(
            id=f"{split}{i}",
            prompt=f"p{i}",
            label=lab,
            kind="harmful" if lab == "unsafe" else "benign_counterpart",
            split=split,
        )
        for i, lab in enumerate(labels)
    ]


def _shift(labels):
    return np.where(np.asarray(labels) == "unsafe", 2.0, -2.0)[:, None, None]


def _features(n_train=20, n_val=6, seed=0):
    rng = np.random.default_rng(seed)
    ytr = ["unsafe" if i % 2 else "safe" for i in range(n_train)]
    yva = ["unsafe" if i % 2 else "safe" for i in range(n_val)]
    train = (rng.normal(size=(n_train, 2, 5)) + _shift(ytr)).astype(np.float32)
    val = (rng.normal(size=(n_val, 2, 5)) + _shift(yva)).astype(np.float32) if n_val else np.zeros((0, 2, 5))
    return FeatureSet(
        train=train,
        train_items=_items(ytr, "train"),
        val=val,
        val_items=_items(yva, "validation"),
        layers=(0, 1),
        positions="last_prompt",
        dataset="toy",
        dataset_hash="h",
        model_fingerprint="fp",
        model_name="m",
    )


def _train(fs):
    return train_probes(
        fs.train,
        fs.y_train,
        layers=fs.layers,
        k=2,
        X_val=fs.val if len(fs.val_items) else None,
        labels_val=fs.y_val or None,
    )


def test_methods_and_kinds():
    assert list(PROBE_METHODS) == ["logistic", "diff_means", "contrastive"]
    assert PROBE_METHODS["logistic"] == METHOD_HELP["logistic"]
    items = [
        *_items(["safe", "unsafe"], "train"),
        LabelledItem(id="r", prompt="p", kind="response"),
        LabelledItem(id="x", prompt="p"),
    ]
    kinds = item_kinds(items)
    assert kinds == ["benign_counterpart", "harmful", "response"] and item_kinds(None) == []
    assert default_kinds(kinds) == ["harmful", "benign_counterpart"] and default_kinds(["response"]) == []


def test_request_from_form():
    req = request_from_form(
        method="logistic",
        positions="completion",
        layers=[],
        head_layer=2,
        item_set="default",
        kinds=["harmful"],
        k=3,
        C=0.5,
        seed=1,
        system="  ",
    )
    assert (req.layers, req.layer, req.items, req.kinds, req.k, req.C, req.seed, req.system) == (
        None,
        2,
        None,
        ["harmful"],
        3,
        0.5,
        1,
        None,
    )
    req = request_from_form(
        method="contrastive",
        positions="completion",
        layers=[1, 2],
        head_layer=1,
        item_set="responses",
        kinds=["harmful"],
        k=5,
        C=1.0,
        seed=0,
        system=" Be safe ",
    )
    assert (req.layers, req.items, req.kinds, req.system) == ([1, 2], "responses", None, "Be safe")
    assert (
        request_from_form(
            method="diff_means",
            positions="completion",
            layers=[],
            head_layer=0,
            item_set="all",
            kinds=[],
            k=2,
            C=1.0,
            seed=0,
            system="",
        ).kinds
        is None
    )


def test_inspect_scores_prefers_the_validation_split():
    fs = _features()
    ps = _train(fs)
    view = inspect_scores(ps, fs, 1)
    assert view.on_validation and view.where == "validation split"
    np.testing.assert_array_equal(view.scores, ps.val_scores[1])
    assert view.labels == fs.y_val and len(view.y) == 6


def test_inspect_scores_falls_back_to_out_of_fold_scores():
    fs = _features(n_val=0)
    ps = _train(fs)
    assert ps.val_scores is None
    view = inspect_scores(ps, fs, 0)
    assert not view.on_validation and view.where == "training items, out-of-fold"
    np.testing.assert_array_equal(view.scores, ps.oof_scores[0])  # never the refit model's in-sample scores
    assert view.labels == fs.y_train


def test_contrastive_inputs_and_formatting():
    fs = _features()
    x, labels = contrastive_inputs(fs)
    np.testing.assert_array_equal(x, fs.val[:, 0, :])
    assert labels == fs.y_val
    x, labels = contrastive_inputs(_features(n_val=0))
    assert x.shape == (20, 5) and len(labels) == 20
    assert format_score({"auroc": 0.91234}, "auroc") == "0.912"
    assert (
        format_score({}, "auroc") == format_score(None, "auroc") == format_score({"f1": 1.0}, "auroc") == "—"
    )
    assert default_save_name(fs, "logistic") == "toy-logistic-last_prompt"


def _art(name, kind, fp):
    return SimpleNamespace(name=name, kind=kind, model_fingerprint=fp, model_name="m", summary="s")


@pytest.mark.parametrize("fingerprint, n_mine", [("fp-a", 2), ("fp-b", 1), ("fp-z", 0)])
def test_saved_probe_lists(fingerprint, n_mine):
    all_arts = [
        _art("a", "probe_set", "fp-a"),
        _art("b", "contrastive", "fp-a"),
        _art("c", "probe_set", "fp-b"),
        _art("v", "steering_vector", "fp-a"),
    ]
    arts, mine = probe_artefacts(all_arts, fingerprint)
    assert [a.name for a in arts] == ["a", "b", "c"] and len(mine) == n_mine
    rows = saved_probe_rows(arts, mine)
    assert [r["this model"] for r in rows].count(True) == n_mine and set(rows[0]) == {
        "name",
        "kind",
        "model",
        "this model",
        "summary",
    }
    assert comparable_probe_sets(mine) == {"fp-a": ["a"], "fp-b": ["c"], "fp-z": []}[fingerprint]
