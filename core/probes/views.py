"""What the Probes page shows, decided without any UI: the methods offered, the request a form describes,
which scores to inspect (validation split or out-of-fold), and which saved probes belong to a model."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.labelled import LabelledItem
from core.probes.features import FeatureSet
from core.probes.linear import METHOD_HELP
from core.probes.workflow import ProbeRequest

PROBE_METHODS: dict[str, str] = {
    "logistic": METHOD_HELP["logistic"],
    "diff_means": METHOD_HELP["diff_means"],
    "contrastive": "CRAFT phase-1 latent contrastive head at one layer (safe / unsafe / rethink)",
}
DEFAULT_KINDS = ("harmful", "benign_counterpart")  # a harmful request and its benign counterpart
PROBE_KINDS = ("probe_set", "contrastive")  # artefact kinds listed under "Saved probes"


def item_kinds(items: Iterable[LabelledItem] | None) -> list[str]:
    """The item kinds present (sorted), e.g. ``["benign_counterpart", "harmful", "response"]``."""
    return sorted({it.kind for it in items or [] if it.kind})


def default_kinds(kinds: Sequence[str]) -> list[str]:
    """Kinds pre-selected: harmful requests and their benign counterparts, when the dataset has them."""
    return [k for k in DEFAULT_KINDS if k in kinds]


def request_from_form(
    *,
    method: str,
    positions: str,
    layers: Sequence[int],
    head_layer: int,
    item_set: str,
    kinds: Sequence[str],
    k: int,
    C: float,
    seed: int,
    system: str,
) -> ProbeRequest:
    """The ``ProbeRequest`` the training form describes (empty layers = all; "default" item set = the method's
    own; kinds apply to linear probes only; a blank system prompt = none)."""
    return ProbeRequest(
        method=method,
        positions=positions,
        layers=list(layers) or None,
        layer=int(head_layer),
        items=None if item_set == "default" else item_set,
        kinds=(list(kinds) or None) if method != "contrastive" else None,
        k=int(k),
        C=float(C),
        seed=int(seed),
        system=system.strip() or None,
    )


@dataclass(frozen=True)
class ScoreView:
    """The scores to inspect at one layer, with their true classes."""

    scores: np.ndarray  # P(unsafe) per item
    y: np.ndarray  # 1 = unsafe
    labels: list[str]  # "safe" / "unsafe" per item
    where: str  # which items these are, for titles
    on_validation: bool


def inspect_scores(result: Any, fs: FeatureSet, layer: int) -> ScoreView:
    """Scores of a ``ProbeSet`` at ``layer``: the validation split when there is one (models fitted on all
    training items), otherwise the training items' out-of-fold scores (never in-sample scores)."""
    j = result.layers.index(layer)
    on_val = result.val_scores is not None and len(fs.val_items) > 0
    scores = result.val_scores[j] if on_val else result.oof_scores[j]
    y = result.y_val if on_val else result.y_train
    return ScoreView(
        scores,
        y,
        [("unsafe" if v else "safe") for v in y],
        "validation split" if on_val else "training items, out-of-fold",
        on_val,
    )


def contrastive_inputs(fs: FeatureSet) -> tuple[np.ndarray, list[str | None]]:
    """States ``[n, d]`` (the one captured layer) and labels of the items a contrastive head is shown on: the
    validation split when there is one, else the training items."""
    if len(fs.val_items):
        return fs.val[:, 0, :], fs.y_val
    return fs.train[:, 0, :], fs.y_train


def format_score(values: dict[str, Any] | None, key: str) -> str:
    """``values[key]`` with three decimals, or "—" when it is missing."""
    return f"{values[key]:.3f}" if values and key in values else "—"


def default_save_name(fs: FeatureSet, method: str) -> str:
    return f"{fs.dataset}-{method}-{fs.positions}"


def probe_artefacts(artefacts: Iterable[Any], fingerprint: str) -> tuple[list[Any], list[Any]]:
    """(every saved probe artefact, the ones made with the model ``fingerprint``)."""
    arts = [a for a in artefacts if a.kind in PROBE_KINDS]
    return arts, [a for a in arts if a.model_fingerprint == fingerprint]


def saved_probe_rows(arts: Sequence[Any], mine: Sequence[Any]) -> list[dict[str, Any]]:
    """The "Saved probes" table."""
    return [
        {"name": a.name, "kind": a.kind, "model": a.model_name, "this model": a in mine, "summary": a.summary}
        for a in arts
    ]


def comparable_probe_sets(mine: Sequence[Any]) -> list[str]:
    """Names of this model's saved probe sets (what can be compared per layer)."""
    return [a.name for a in mine if a.kind == "probe_set"]
