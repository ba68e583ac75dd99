"""Input checks and the k-NN fallback placement for ``core.explore.projection`` (numpy + scikit-learn
only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.errors import InputError

if TYPE_CHECKING:
    from core.explore.projection import ProjectionConfig


def validate_points(
    x: np.ndarray,
    config: ProjectionConfig | None = None,
    *,
    fingerprints: Sequence[str] | None = None,
    row_names: Sequence[str] | None = None,
    d: int | None = None,
) -> np.ndarray:
    """Clear errors for bad point sets; returns ``x`` as float32 ``[n, d]``."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(
            f"Nothing to project: expected a non-empty [points, dim] array, got shape {x.shape}. "
            "Select some trajectories first."
        )
    if d is not None and x.shape[1] != d:
        raise InputError(
            f"These points have dimension {x.shape[1]} but the map was fitted on dimension {d}: "
            "project trajectories of the same model and layers."
        )
    if fingerprints is not None:
        fps = sorted(set(fingerprints))
        if len(fps) > 1:
            counts = {f: list(fingerprints).count(f) for f in fps}
            raise InputError(
                "These trajectories come from different models "
                + ", ".join(f"{f[:12]} ({c} points)" for f, c in counts.items())
                + ": one map must use one model. Filter the selection by model."
            )
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        where = ""
        if row_names is not None:
            names = list(dict.fromkeys(str(row_names[i]) for i in np.flatnonzero(bad)))
            where = (
                f" from {len(names)} trajectories ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
            )
        raise InputError(
            f"{int(bad.sum())} of {x.shape[0]} points contain NaN or infinite values{where}. "
            "Capture those trajectories again in float32, or deselect them."
        )
    if config is not None:
        n = x.shape[0]
        if config.method == "umap" and n <= config.n_neighbors:
            raise InputError(
                f"UMAP needs more points than n_neighbors={config.n_neighbors}, but this selection "
                f"has {n}. Use PCA, lower n_neighbors below {n}, or select more trajectories."
            )
        if config.method == "umap" and n > config.max_points:
            raise InputError(
                f"{n} points is more than this UMAP limit of {config.max_points} (≈{n / 2500:.0f} s+ "
                "on CPU). Use PCA, fewer trajectories/layers/tokens, or raise max_points."
            )
        if n < config.n_components:
            raise InputError(
                f"A {config.n_components}-D projection needs at least {config.n_components} points; "
                f"this selection has {n}. Select more trajectories."
            )
    return x


def knn_transform(
    reference: np.ndarray, embedding: np.ndarray, x_new: np.ndarray, k: int = 15, metric: str = "euclidean"
) -> np.ndarray:
    """Place new points at the inverse-distance-weighted mean embedding of their k nearest references."""
    from sklearn.neighbors import NearestNeighbors

    k = max(1, min(k, reference.shape[0]))
    nn = NearestNeighbors(n_neighbors=k, metric=metric).fit(reference)
    dist, idx = nn.kneighbors(x_new)
    w = 1.0 / np.maximum(dist, 1e-12)
    exact = dist <= 1e-9
    w = np.where(exact.any(axis=1, keepdims=True), exact.astype(float), w)  # a duplicate lands on its twin
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", w, embedding[idx]).astype(np.float32)
