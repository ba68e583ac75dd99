"""Train a probe from a labelled dataset in one call (what the Probes page, the CLI and the benchmark share).

dataset items -> pooled states (``collect_features``, cached) -> per-layer linear probes with CV, or the CRAFT
contrastive head at one layer -> a ``ProbeSet`` / ``ContrastiveProbe`` whose ``meta`` records the model
fingerprint, dataset name + content hash, positions, layers and item ids (what artefacts save).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from core.capture.models import LoadedModel
from core.capture.store import ActivationStore
from core.checks import SEED_MAX, CheckedModel
from core.errors import InputError
from core.labelled import LabelledItem
from core.probes.collect import collect_features
from core.probes.contrastive import ContrastiveConfig, ContrastiveProbe, train_contrastive
from core.probes.features import FeatureSet, features_from_store, select
from core.probes.linear import DEFAULT_C, DEFAULT_MAX_FPR, ProbeSet, train_probes

StageProgress = Callable[[str, int, int], None]  # (stage, done, total): stage is "capture" or "fit"
STAGES = {  # stage -> (label, unit): what the page and the CLI call each stage and count it in
    "capture": ("Capturing hidden states", "items"),
    "fit": ("Training probes", "layer fits"),
    "epochs": ("Training the contrastive head", "epochs"),
}
ITEM_SETS = {
    "prompts": "prompt-only items (harmful requests vs benign ones)",
    "responses": "items with a response (safe / unsafe / rethink traces, teacher-forced)",
    "all": "every labelled item",
}


class ProbeRequest(CheckedModel):
    """What to train (a user config: the page's form and the CLI's options map onto it). A bad value raises
    ``InputError`` naming the field and its range."""

    method: Literal["logistic", "diff_means", "contrastive"] = "logistic"
    positions: str = "post_instruction"
    layers: list[int] | None = None  # None = every layer 0..n (linear); contrastive uses ``layer``
    layer: int | None = None  # contrastive: the layer to pool (None = the last layer, as CRAFT does)
    items: Literal["prompts", "responses", "all"] | None = (
        None  # None: prompts (linear) / responses (contrastive)
    )
    kinds: list[str] | None = None  # keep only these item kinds (e.g. harmful, benign_counterpart)
    k: int = Field(5, ge=2)
    C: float = Field(DEFAULT_C, gt=0, allow_inf_nan=False)
    max_fpr: float | None = Field(DEFAULT_MAX_FPR, ge=0, lt=1, allow_inf_nan=False)
    seed: int = Field(0, ge=0, le=SEED_MAX)
    template: str = "plain"
    system: str | None = None  # system prompt (overrides the template's); part of the feature cache key
    max_new_tokens: int = Field(
        0, ge=0, description="generate completions for prompt items (0 = prompt only)"
    )
    contrastive: dict[str, Any] = Field(default_factory=dict)  # ContrastiveConfig overrides


def pick_items(items: Sequence[LabelledItem], req: ProbeRequest) -> list[LabelledItem]:
    which = req.items or ("responses" if req.method == "contrastive" else "prompts")
    labels = ("safe", "unsafe", "rethink") if req.method == "contrastive" else ("safe", "unsafe")
    responses = {"prompts": False, "responses": True, "all": None}[which]
    picked = select(items, labels=labels, kinds=req.kinds, responses=responses)
    if not picked:
        raise InputError(
            f"No items match: {ITEM_SETS[which]} labelled {'/'.join(labels)}"
            + (f" of kinds {req.kinds}" if req.kinds else "")
            + ". Pick another dataset or item set."
        )
    return picked


def features_for(
    model: LoadedModel,
    items: Sequence[LabelledItem],
    dataset: str,
    req: ProbeRequest,
    progress: StageProgress | None = None,
    *,
    batch_size: int = 8,
    cache: bool = True,
) -> FeatureSet:
    layers = (
        [req.layer if req.layer is not None else model.n_layers]
        if req.method == "contrastive"
        else req.layers
    )
    picked = pick_items(items, req)
    if progress:
        progress("capture", 0, len(picked))  # "measuring speed" from the start, not a bar at 0 %
    return collect_features(
        model,
        picked,
        positions=req.positions,
        layers=layers,
        template=req.template,
        system=req.system,
        dataset=dataset,
        max_new_tokens=req.max_new_tokens,
        batch_size=batch_size,
        cache=cache,
        progress=(lambda a, b: progress("capture", a, b)) if progress else None,
    )


def features_from_store_for(
    model: LoadedModel, store: ActivationStore, dataset: str, req: ProbeRequest
) -> FeatureSet:
    """Features of labelled trajectories already in the activation store (this model's only; no model run)."""
    labels = ("safe", "unsafe", "rethink") if req.method == "contrastive" else ("safe", "unsafe")
    fs = features_from_store(
        store,
        dataset,
        req.positions,
        fingerprint=model.fingerprint,
        model_name=model.name,
        labels=labels,
        seed=req.seed,
    )
    if req.layers and req.method != "contrastive":
        missing = [x for x in req.layers if x not in fs.layers]
        if missing:
            raise InputError(
                f"Layers {missing} were not captured for these trajectories (have {list(fs.layers)})."
            )
        idx = [fs.layers.index(x) for x in req.layers]
        fs.train, fs.val, fs.layers = fs.train[:, idx], fs.val[:, idx], tuple(req.layers)
    return fs


def train_from_features(
    fs: FeatureSet, req: ProbeRequest, progress: StageProgress | None = None
) -> ProbeSet | ContrastiveProbe:
    """A ``ProbeSet`` (logistic / diff_means) or a ``ContrastiveProbe`` trained on ``fs``."""
    fit = (lambda a, b: progress("fit", a, b)) if progress else None
    meta = fs.meta() | {"request": req.model_dump(), "model_name": fs.model_name}
    if req.method == "contrastive":
        cfg = ContrastiveConfig(**({"seed": req.seed} | req.contrastive))
        fit = (lambda a, b: progress("epochs", a, b)) if progress else None
        if fit:
            fit(0, cfg.epochs)
        layer = req.layer if req.layer is not None else fs.layers[-1]
        if layer not in fs.layers:
            raise InputError(f"Layer {layer} is not among the captured layers {list(fs.layers)}.")
        j = fs.layers.index(layer)
        return train_contrastive(
            fs.train[:, j, :],
            fs.y_train,
            config=cfg,
            layer=layer,
            X_val=fs.val[:, j, :] if len(fs.val_items) else None,
            labels_val=fs.y_val if len(fs.val_items) else None,
            progress=fit,
            meta=meta,
        )
    if fit:
        fit(0, len(fs.layers))
    return train_probes(
        fs.train,
        fs.y_train,
        layers=fs.layers,
        method=req.method,
        k=req.k,
        C=req.C,
        max_fpr=req.max_fpr,
        seed=req.seed,
        X_val=fs.val if len(fs.val_items) else None,
        labels_val=fs.y_val or None,
        progress=fit,
        meta=meta,
    )


def train_from_items(
    model: LoadedModel,
    items: Sequence[LabelledItem],
    dataset: str,
    req: ProbeRequest,
    progress: StageProgress | None = None,
    *,
    batch_size: int = 8,
) -> tuple[ProbeSet | ContrastiveProbe, FeatureSet]:
    """Capture (cached) then train; returns (trained probe, the features it was trained on)."""
    fs = features_for(model, items, dataset, req, progress, batch_size=batch_size)
    return train_from_features(fs, req, progress), fs


def most_wrong(ps: ProbeSet, fs: FeatureSet, layer: int | None = None, n: int = 10) -> list[dict[str, Any]]:
    """Items the probe gets most wrong at ``layer`` (validation split if there is one, else out-of-fold CV):
    largest |score - label|, with their ids for the labelling queue."""
    layer = ps.best_layer if layer is None else layer
    j = ps.layers.index(layer)
    if ps.val_scores is not None and len(fs.val_items):
        scores, y, items, split = ps.val_scores[j], ps.y_val, fs.val_items, "validation"
    else:
        scores, y, items, split = ps.oof_scores[j], ps.y_train, fs.train_items, "train (out-of-fold)"
    err = np.abs(np.asarray(scores) - np.asarray(y))
    order = np.argsort(-err)[:n]
    return [
        {
            "id": items[i].id,
            "label": items[i].label,
            "p_unsafe": float(scores[i]),
            "error": float(err[i]),
            "split": split,
            "kind": items[i].kind,
            "prompt": items[i].prompt,
        }
        for i in order
    ]
