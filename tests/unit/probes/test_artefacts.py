"""Probe / head / vector artefacts: safetensors + JSON round-trips, fingerprint checks, no pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import InputError
from core.probes.artefacts import (
    ArtefactModelMismatch,
    list_artefacts,
    load_contrastive,
    load_probe_set,
    save_contrastive,
    save_probe_set,
)
from core.probes.linear import train_probes


def data(n=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["safe", "unsafe"] * (n // 2))
    X = rng.normal(size=(n, 3, d)).astype(np.float32)
    X[:, 2, 0] += np.where(y == "unsafe", 3.0, -3.0)
    return X, y


@pytest.mark.parametrize("method", ["logistic", "diff_means"])
def test_probe_set_round_trip(tmp_path, method):
    X, y = data()
    ps = train_probes(
        X[:30],
        y[:30],
        layers=[0, 4, 7],
        method=method,
        k=3,
        X_val=X[30:],
        labels_val=y[30:],
        meta={
            "model_fingerprint": "fpA",
            "model_name": "model-A",
            "dataset": "toy",
            "dataset_hash": "abc",
            "positions": "last_prompt",
        },
    )
    folder = save_probe_set(ps, "toy-probe", root=tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "weights.safetensors"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["model_fingerprint"] == "fpA" and meta["dataset_hash"] == "abc" and meta["method"] == method
    assert meta["best_layer"] == 7 and meta["positions"] == "last_prompt"
    back = load_probe_set("toy-probe", fingerprint="fpA", root=tmp_path)
    assert back.layers == ps.layers and back.best_layer == ps.best_layer
    for layer in ps.layers:
        np.testing.assert_allclose(
            back.probes[layer].score(X[:, 0]), ps.probes[layer].score(X[:, 0]), atol=1e-12
        )
        assert back.metrics[layer].folds == ps.metrics[layer].folds
        assert back.metrics[layer].heldout == ps.metrics[layer].heldout
    np.testing.assert_allclose(back.val_scores, ps.val_scores)
    # nothing pickled: the weights file is plain safetensors
    assert (folder / "weights.safetensors").read_bytes()[:8] != b"\x80\x04\x95"
    infos = list_artefacts(tmp_path)
    assert [(a.name, a.kind) for a in infos] == [("toy-probe", "probe_set")]
    assert "best layer 7" in infos[0].summary
    with pytest.raises(InputError, match="already exists"):
        save_probe_set(ps, "toy-probe", root=tmp_path)
    save_probe_set(ps, "toy-probe", root=tmp_path, overwrite=True)


def test_fingerprint_mismatch_names_both_models(tmp_path):
    X, y = data()
    ps = train_probes(X, y, k=2, meta={"model_fingerprint": "fpA", "model_name": "model-A"})
    save_probe_set(ps, "p1", root=tmp_path)
    with pytest.raises(
        ArtefactModelMismatch, match=r"model 'model-A' \(fingerprint fpA\).*'model-B' \(fingerprint fpB\)"
    ):
        load_probe_set("p1", fingerprint="fpB", model_name="model-B", root=tmp_path)
    with pytest.raises(InputError, match="No saved probe set named 'nope'.*Saved: \\['p1'\\]"):
        load_probe_set("nope", root=tmp_path)
    with pytest.raises(InputError, match="not allowed"):
        save_probe_set(ps, "../escape", root=tmp_path)


def test_contrastive_round_trip(tmp_path):
    from core.probes.contrastive import ContrastiveConfig, train_contrastive

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8)).astype(np.float32)
    y = ["safe", "unsafe", "rethink"] * 10
    probe = train_contrastive(
        X,
        y,
        config=ContrastiveConfig(hidden=16, dim=4, epochs=2, batch_size=8),
        layer=5,
        meta={"model_fingerprint": "fpA", "model_name": "A"},
    )
    save_contrastive(probe, "head", root=tmp_path)
    back = load_contrastive("head", fingerprint="fpA", root=tmp_path)
    assert back.layer == 5 and back.config == probe.config
    np.testing.assert_allclose(back.embed(X), probe.embed(X), atol=1e-6)
    np.testing.assert_allclose(back.p_safe(X), probe.p_safe(X), atol=1e-6)
    with pytest.raises(ArtefactModelMismatch):
        load_contrastive("head", fingerprint="other", root=tmp_path)
