"""Saved probes and contrastive heads: safetensors weights + JSON metadata, never pickle.

One folder per artefact under ``artefacts_dir()/<kind>s/<name>/``, written and read by ``core.artefacts``
(atomic writes, name validation, the model-fingerprint check; steering vectors use it too)::

    weights.safetensors   arrays only (probe coefficients, scaler mean/scale, head state dict)
    meta.json             kind, method, model name + fingerprint, layer(s), positions, dataset + content hash,
                          metrics, config, created_at

Loading checks the artefact's model fingerprint against the model it will be used with and raises an
``ArtefactModelMismatch`` naming both models. The logistic probe is rebuilt from its stored coef / intercept /
scaler arrays (``core.probes.linear.Probe``), so no estimator object is ever serialised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.artefacts import KINDS as KINDS  # re-exported: the artefact registry lives in core.artefacts
from core.artefacts import ArtefactInfo as ArtefactInfo
from core.artefacts import ArtefactModelMismatch as ArtefactModelMismatch
from core.artefacts import delete_artefact as delete_artefact
from core.artefacts import kind_dir, load_artefact, write_artefact
from core.artefacts import list_artefacts as list_artefacts
from core.probes.contrastive import ContrastiveConfig, ContrastiveProbe, head_class
from core.probes.linear import LayerMetrics, Probe, ProbeSet


# ---- probe sets --------------------------------------------------------------------------------------------
def save_probe_set(ps: ProbeSet, name: str, *, root: Path | None = None, overwrite: bool = False) -> Path:
    tensors: dict[str, np.ndarray] = {}
    for layer, p in ps.probes.items():
        for k, v in p.params.items():
            tensors[f"layer{layer}.{k}"] = np.asarray(v, dtype=np.float64)
    for k in ("y_train", "oof_scores", "y_val", "val_scores"):
        v = getattr(ps, k)
        if v is not None and np.asarray(v).size:
            tensors[k] = np.asarray(v)
    best = ps.metrics[ps.best_layer]
    held = best.heldout or {}
    summary = f"{ps.method} · best layer {ps.best_layer} · CV AUROC {best.mean('auroc'):.3f}" + (
        f" · val AUROC {held['auroc']:.3f}" if "auroc" in held else ""
    )
    meta = {
        "kind": "probe_set",
        "method": ps.method,
        "layers": list(ps.layers),
        "best_layer": ps.best_layer,
        "thresholds": {str(k): p.threshold for k, p in ps.probes.items()},
        "metrics": [ps.metrics[layer].to_json() for layer in ps.layers],
        "summary": summary,
        **ps.meta,
    }
    return write_artefact(kind_dir("probe_set", root), name, tensors, meta, overwrite=overwrite)


def load_probe_set(
    name_or_path: str | Path,
    *,
    fingerprint: str | None = None,
    model_name: str | None = None,
    root: Path | None = None,
) -> ProbeSet:
    """Load a probe set; with ``fingerprint``, refuse one trained on another model."""
    folder, tensors, meta = load_artefact(
        name_or_path, "probe_set", root=root, fingerprint=fingerprint, model_name=model_name, what="Probe"
    )
    layers = tuple(int(x) for x in meta["layers"])
    probes = {}
    for layer in layers:
        prefix = f"layer{layer}."
        params = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        probes[layer] = Probe(meta["method"], layer, params, float(meta["thresholds"].get(str(layer), 0.5)))
    metrics = {int(m["layer"]): LayerMetrics.from_json(m) for m in meta["metrics"]}
    skip = {"kind", "method", "layers", "best_layer", "thresholds", "metrics", "summary", "format_version"}
    return ProbeSet(
        method=meta["method"],
        layers=layers,
        probes=probes,
        metrics=metrics,
        best_layer=int(meta["best_layer"]),
        meta={k: v for k, v in meta.items() if k not in skip} | {"name": folder.name},
        y_train=tensors.get("y_train"),
        oof_scores=tensors.get("oof_scores"),
        y_val=tensors.get("y_val"),
        val_scores=tensors.get("val_scores"),
    )


# ---- contrastive heads (torch imported lazily) -------------------------------------------------------------
def save_contrastive(
    probe: ContrastiveProbe, name: str, *, root: Path | None = None, overwrite: bool = False
) -> Path:
    tensors = {k: v.detach().cpu().numpy() for k, v in probe.module.state_dict().items()}
    val = probe.metrics.get("validation") or {}
    summary = f"contrastive · layer {probe.layer}" + (
        f" · val macro-F1 {val['macro_f1']:.3f}" if "macro_f1" in val else ""
    )
    meta = {
        "kind": "contrastive",
        "method": "craft_contrastive",
        "layer": probe.layer,
        "config": probe.config.model_dump(),
        "metrics": probe.metrics,
        "history": probe.history,
        "summary": summary,
        **probe.meta,
    }
    return write_artefact(kind_dir("contrastive", root), name, tensors, meta, overwrite=overwrite)


def load_contrastive(
    name_or_path: str | Path,
    *,
    fingerprint: str | None = None,
    model_name: str | None = None,
    root: Path | None = None,
) -> ContrastiveProbe:
    import torch

    folder, tensors, meta = load_artefact(
        name_or_path,
        "contrastive",
        root=root,
        fingerprint=fingerprint,
        model_name=model_name,
        what="Contrastive head",
    )
    cfg = ContrastiveConfig(**meta["config"])
    d = int(tensors["mean"].shape[0])
    head = head_class()(d, cfg.hidden, cfg.dim, head_scale=cfg.head_scale)
    head.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
    skip = {"kind", "method", "layer", "config", "metrics", "history", "summary", "format_version"}
    return ContrastiveProbe(
        head.eval(),
        cfg,
        int(meta["layer"]),
        meta={k: v for k, v in meta.items() if k not in skip} | {"name": folder.name},
        metrics=meta.get("metrics", {}),
        history=meta.get("history", []),
    )
