"""Saved probes as colouring axes (``core.explore.axes.Axis``): which probe, its layer, n per class, its
held-out AUROC; the best saved probe of a model is the default axis once one exists. A probe's score is its
calibrated P(unsafe)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.artefacts import ArtefactInfo, list_artefacts
from core.capture.trajectory import Trajectory
from core.errors import ReasonScopeError
from core.explore.axes import Axis
from core.explore.pooling import stack_pooled
from core.probes.artefacts import load_probe_set
from core.probes.linear import ProbeSet


def heldout_auroc(ps: ProbeSet, layer: int) -> tuple[float | None, str]:
    """(AUROC at ``layer`` on items the probe never saw, how): the validation split when there is one, else
    the out-of-fold cross-validation mean."""
    m = ps.metrics.get(layer)
    if m is None:
        return None, "no metrics at this layer"
    held = (m.heldout or {}).get("auroc")
    if held is not None and np.isfinite(held):
        return float(held), "validation split"
    cv = m.mean("auroc")
    k = ps.meta.get("k")
    return (float(cv) if np.isfinite(cv) else None), f"{k}-fold cross-validated" if k else "cross-validated"


def probe_axis(ps: ProbeSet, layer: int | None = None, name: str | None = None) -> Axis:
    """The ``Axis`` of a probe set at ``layer`` (default: its best layer)."""
    layer = ps.best_layer if layer is None else int(layer)
    ps.probe(layer)  # InputError naming the layers it covers
    n = ps.meta.get("n_train") or {}
    auc, how = heldout_auroc(ps, layer)
    return Axis(
        source=f"saved probe '{name or ps.meta.get('name', '?')}'",
        method=ps.method,
        layer=layer,
        n_safe=int(n.get("safe", 0)),
        n_unsafe=int(n.get("unsafe", 0)),
        auroc=auc,
        auroc_how=how,
        kind="probability",
    )


@dataclass(frozen=True, kw_only=True)
class SavedAxis:
    name: str
    probes: ProbeSet
    axis: Axis  # at the probe set's best layer


def saved_probe_axes(
    fingerprint: str, *, root: Path | None = None, artefacts: Iterable[ArtefactInfo] | None = None
) -> list[SavedAxis]:
    """This model's saved probe sets as axes, best first (highest held-out AUROC at their best layer, then
    newest). Unreadable probe sets are left out."""
    infos = artefacts if artefacts is not None else list_artefacts(root, "probe_set")
    out = []
    for info in infos:
        if info.kind != "probe_set" or info.model_fingerprint != fingerprint:
            continue
        try:
            ps = load_probe_set(info.path, fingerprint=fingerprint)
        except (ReasonScopeError, OSError, ValueError, KeyError):
            continue
        out.append(SavedAxis(name=info.name, probes=ps, axis=probe_axis(ps, name=info.name)))
    return sorted(out, key=lambda s: -(s.axis.auroc if s.axis.auroc is not None else -1.0))


def probe_trajectory_scores(
    ps: ProbeSet, trajs: Sequence[Trajectory], pooling: str, layer: int | None = None
) -> np.ndarray:
    """P(unsafe) of each trajectory's ``pooling``-pooled state at ``layer`` (default: the best layer),
    ``[n_traj]``. ``InputError`` when a trajectory did not capture that layer or has another state size."""
    layer = ps.best_layer if layer is None else int(layer)
    states = stack_pooled(trajs, pooling, [layer]).states[:, 0]
    return ps.score(states, layer)


def probe_token_scores(ps: ProbeSet, traj: Trajectory) -> np.ndarray:
    """P(unsafe) of every token at every captured layer, ``[L, T]``; NaN at layers the probe set does not
    cover."""
    out = np.full(traj.hidden.shape[:2], np.nan, dtype=np.float64)
    for j, layer in enumerate(traj.layers):
        if layer in ps.probes:
            out[j] = ps.score(np.asarray(traj.hidden[j], dtype=np.float64), layer)
    return out
