"""Axes that state their reliability: whatever colours states safe → unsafe (a difference of means or a saved
probe) is described by an ``Axis`` -- which one, its layer, n per class, its held-out AUROC -- and is not used
for colour when that AUROC is below ``AUROC_MIN`` (pure numpy; probes build theirs in core.probes.axes).

The difference-of-means axis of a selection is scored with ``core.explore.pooling.class_axis_scores`` (0 =
halfway between the class means, −1 = the safe mean, +1 = the unsafe mean; values run past ±1) and its AUROC
is k-fold cross-validated: the means are taken without the held-out trajectories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import InputError
from core.explore.pooling import class_axis_scores, class_means

AUROC_MIN = 0.75  # below this an axis is shown with a warning, not as colour
DIFF_MEANS_UNITS = "safe → unsafe axis (−1 = safe mean, +1 = unsafe mean)"
PROBE_UNITS = "P(unsafe)"


@dataclass(frozen=True, kw_only=True)
class Axis:
    """What colours states safe → unsafe, and how far to trust it."""

    source: str  # "difference of means (this selection)" / "saved probe 'name'"
    method: str  # "diff_means" | "logistic" | ...
    layer: int
    n_safe: int
    n_unsafe: int
    auroc: float | None  # held-out; None when there are too few items to hold any out
    auroc_how: str  # how it was held out, e.g. "5-fold cross-validated" / "validation split"
    kind: str  # palette kind: "axis" (diff of means) | "probability" (a probe's calibrated P(unsafe))

    @property
    def units(self) -> str:
        return PROBE_UNITS if self.kind == "probability" else DIFF_MEANS_UNITS

    @property
    def reliable(self) -> bool:
        return self.auroc is not None and np.isfinite(self.auroc) and self.auroc >= AUROC_MIN

    def caption(self) -> str:
        """One line: which axis, layer, n per class, held-out AUROC, units."""
        auc = f"{self.auroc:.2f}" if self.auroc is not None and np.isfinite(self.auroc) else "—"
        return (
            f"Axis: **{self.source}** ({self.method}) at layer {self.layer} · n = {self.n_safe} safe / "
            f"{self.n_unsafe} unsafe · held-out AUROC {auc} ({self.auroc_how}) · colour = {self.units}"
        )

    def warning(self) -> str | None:
        """Why this axis should not colour anything (None when it is reliable)."""
        if self.reliable:
            return None
        if self.auroc is None or not np.isfinite(self.auroc):
            why = "its held-out AUROC cannot be measured (too few labelled items of a class)"
        else:
            why = f"its held-out AUROC is {self.auroc:.2f} < {AUROC_MIN:.2f}"
        return (
            f"The {self.source} axis at layer {self.layer} is not reliable: {why}, so its colours would "
            "mislead. Label more safe and unsafe items, train and save a probe on **Probes**, or pick "
            "another layer."
        )


def auroc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``y`` (1 = unsafe), ties counted half (the
    Mann–Whitney statistic); NaN when a class is missing."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks of ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _binary(labels: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(mask of safe/unsafe rows, y over those rows: 1 = unsafe)."""
    lab = np.asarray([str(x) for x in labels])
    keep = (lab == "safe") | (lab == "unsafe")
    return keep, (lab[keep] == "unsafe").astype(np.int64)


def cv_axis_auroc(
    states: np.ndarray, labels: Sequence[str | None], k: int = 5, seed: int = 0
) -> tuple[np.ndarray, int]:
    """Per layer, the AUROC of the difference-of-means axis on held-out trajectories (stratified k-fold over
    the safe / unsafe rows; means from the other folds). ``states [n, L, d]`` -> (``[L]`` AUROCs, k used);
    all NaN and k = 0 when a class has fewer than 2 rows."""
    keep, y = _binary(labels)
    X = np.asarray(states, dtype=np.float32)[keep]
    n_layers = X.shape[1] if X.ndim == 3 else 0
    k = min(k, int((y == 1).sum()), int((y == 0).sum()))
    if k < 2:
        return np.full(n_layers, np.nan), 0
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for cls in (0, 1):  # stratified: each class dealt round-robin over the folds in a seeded order
        idx = rng.permutation(np.flatnonzero(y == cls))
        fold[idx] = np.arange(len(idx)) % k
    oof = np.zeros((n_layers, len(y)), dtype=np.float64)
    for f in range(k):
        test, train = fold == f, fold != f
        pos, neg = class_means(X[train], ["unsafe" if v else "safe" for v in y[train]])
        oof[:, test] = class_axis_scores(X[test].transpose(1, 0, 2), pos, neg)
    return np.array([auroc(oof[j], y) for j in range(n_layers)]), k


def diff_means_axis(
    states: np.ndarray,
    labels: Sequence[str | None],
    layers: Sequence[int],
    layer: int | None = None,
    *,
    source: str = "difference of means (this selection)",
) -> tuple[Axis, np.ndarray, dict[int, float]]:
    """The difference-of-means axis of ``states [n, L, d]`` at ``layer`` (default: the layer with the best
    cross-validated AUROC): (its ``Axis``, every row's position on it ``[n]`` with means from all labelled
    rows, ``{layer: CV AUROC}``). ``InputError`` when a class is missing or ``layer`` is not captured."""
    layers = [int(x) for x in layers]
    pos, neg = class_means(states, labels)
    aucs, k = cv_axis_auroc(states, labels)
    per_layer = {ly: float(a) for ly, a in zip(layers, aucs, strict=True)}
    # a layer where every row holds the same state (e.g. the embedding of the shared last template token) has
    # no axis at all: its "AUROC 0.5" must not win the pick over informative layers
    spread = np.asarray(states, dtype=np.float32).std(axis=0).max(axis=-1)  # [L]
    per_layer = {ly: (a if spread[i] > 1e-6 else float("nan")) for i, (ly, a) in enumerate(per_layer.items())}
    if layer is None:
        finite = {ly: a for ly, a in per_layer.items() if np.isfinite(a)}
        layer = max(finite, key=lambda ly: (finite[ly], ly)) if finite else layers[-1]
    if layer not in layers:
        raise InputError(f"Layer {layer} is not among the captured layers {layers}; pick one of them.")
    j = layers.index(layer)
    at_layer = np.asarray(states, dtype=np.float32)[:, j][None]  # [1, n, d]
    scores = class_axis_scores(at_layer, pos[j : j + 1], neg[j : j + 1])
    _, y = _binary(labels)
    auc = per_layer[layer]
    axis = Axis(
        source=source,
        method="diff_means",
        layer=layer,
        n_safe=int((y == 0).sum()),
        n_unsafe=int((y == 1).sum()),
        auroc=auc if np.isfinite(auc) else None,
        auroc_how=f"{k}-fold cross-validated" if k else "too few to hold out",
        kind="axis",
    )
    return axis, scores[0], per_layer
