"""Sets of stored trajectories for the explorer: load (tolerating deleted entries), pool, fit, project.

Glue between ``ActivationStore``, ``core.explore.pooling`` and ``core.explore.projection``; numpy only, no
torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.capture.store import ActivationStore, StoredMeta
from core.capture.trajectory import Trajectory
from core.errors import InputError, StoreError
from core.explore.axes import Axis, diff_means_axis
from core.explore.fit_stages import StageCallback
from core.explore.pooling import (
    PooledStack,
    TokenStack,
    class_axis_scores,
    class_means,
    common_layers,
    layer_stats,
    normalize_layers,
    pool_layers,
    pool_span,
    reference_centroid,
    stack_pooled,
    stack_tokens,
    token_range,
)
from core.explore.projection import Fit, Progress, ProjectionConfig, ProjectionManager, fit_key


@dataclass
class TrajSet:
    metas: list[StoredMeta]
    trajs: list[Trajectory]
    missing: list[str] = field(default_factory=list)  # keys whose files are gone (deleted store entries)

    @property
    def keys(self) -> list[str]:
        return [m.key for m in self.metas]

    @property
    def labels(self) -> list[str | None]:
        return [m.label for m in self.metas]

    @property
    def fingerprints(self) -> list[str]:
        return [t.model_fingerprint for t in self.trajs]

    def hover(self, width: int = 70) -> list[str]:
        """Per trajectory, plain text (escape it before use as HTML): label, dataset, then the start of the
        prompt and, on a second line, of the completion."""
        out = []
        for m in self.metas:
            p = m.prompt.replace("\n", " ")
            c = m.completion.replace("\n", " ")
            tag = " · ".join(x for x in (m.label, m.dataset) if x)
            out.append(
                f"{'[' + tag + '] ' if tag else ''}{p[:width]}{'…' if len(p) > width else ''}"
                f"\n→ {c[:width]}{'…' if len(c) > width else ''}"
            )
        return out


def load_set(
    store: ActivationStore, metas: Sequence[StoredMeta], progress: Progress | None = None
) -> TrajSet:
    """Open every trajectory (memory-mapped); entries whose file was deleted are skipped and listed."""
    kept, trajs, missing = [], [], []
    for i, m in enumerate(metas):
        try:
            trajs.append(store.get(m.key))
            kept.append(m)
        except StoreError:
            missing.append(m.key)
        if progress:
            progress(i + 1, len(metas))
    return TrajSet(kept, trajs, missing)


def model_counts(metas: Sequence[StoredMeta]) -> dict[str, int]:
    """Trajectories per model name (for the 'mixed models' message and the model filter)."""
    out: dict[str, int] = {}
    for m in metas:
        out[m.model_name] = out.get(m.model_name, 0) + 1
    return out


def _check_models(ts: TrajSet) -> None:
    fps = sorted(set(ts.fingerprints))
    if len(fps) > 1:
        names = sorted({f"{t.model_name} ({t.model_fingerprint[:8]})" for t in ts.trajs})
        raise InputError(
            f"The selection mixes trajectories of {len(fps)} models ({', '.join(names)}): one map "
            "must use one model. Pick a model in the filter."
        )


@dataclass
class LayerPaths:
    fit: Fit
    coords: np.ndarray  # [n_traj, n_layers, k]
    layers: tuple[int, ...]
    fell_back: np.ndarray  # [n_traj] bool: pooling fell back (e.g. no reasoning span)
    pooling: str


def _normalised(states_lnd: np.ndarray, normalize: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if not normalize:
        return states_lnd, {}
    mean, scale = layer_stats(states_lnd)
    return normalize_layers(states_lnd, mean, scale), {"layer_mean": mean, "layer_scale": scale}


def _apply_stats(fit: Fit, states_lnd: np.ndarray) -> np.ndarray:
    """Apply the fit's per-layer normalisation (if it used one) to new states ``[L, m, d]``."""
    if "layer_mean" not in fit.extras:
        return states_lnd
    return normalize_layers(states_lnd, fit.extras["layer_mean"], fit.extras["layer_scale"])


def layer_paths_key(
    ts: TrajSet,
    pooling: str,
    config: ProjectionConfig,
    layers: Sequence[int] | None = None,
    normalize: bool = True,
) -> str:
    """The projection-cache key ``fit_layer_paths`` uses (to ask whether that map is fitted yet)."""
    lay = tuple(layers) if layers is not None else common_layers(ts.trajs)
    extra = {"normalize": normalize}
    return fit_key(ts.keys, layers=lay, pooling=pooling, config=config, view="layer_paths", extra=extra)


def fit_layer_paths(
    pm: ProjectionManager,
    ts: TrajSet,
    pooling: str,
    config: ProjectionConfig,
    layers: Sequence[int] | None = None,
    progress: Progress | None = None,
    normalize: bool = True,
    on_stage: StageCallback | None = None,
) -> LayerPaths:
    """One fit over every (trajectory, layer) pooled state; cached by trajectory keys + params (a cache hit
    does not read the hidden states). ``normalize``: centre and scale each layer first (``layer_stats``)."""
    _check_models(ts)
    lay = tuple(layers) if layers is not None else common_layers(ts.trajs)
    key = layer_paths_key(ts, pooling, config, lay, normalize)
    fell_back = np.array([pool_span(t, pooling).fell_back for t in ts.trajs], dtype=bool)
    fit = pm.get(key)
    if fit is None:
        stack: PooledStack = stack_pooled(ts.trajs, pooling, lay)
        states, extras = _normalised(stack.states.transpose(1, 0, 2), normalize)  # [L, n, d]
        stack.states = states.transpose(1, 0, 2)
        x, ti, _ = stack.flat()
        fit = pm.fit(
            x,
            key=key,
            config=config,
            fingerprints=[ts.fingerprints[i] for i in ti],
            row_names=[ts.keys[i][:12] for i in ti],
            progress=progress,
            on_stage=on_stage,
            extras=extras,
            meta={"view": "layer_paths", "n_traj": len(ts.trajs), "layers": list(lay), "pooling": pooling},
        )
    return LayerPaths(fit, fit.embedding.reshape(len(ts.trajs), len(lay), -1), lay, fell_back, pooling)


def project_layer_path(
    pm: ProjectionManager, lp: LayerPaths, traj: Trajectory, progress: Progress | None = None
) -> tuple[np.ndarray, str]:
    """A new trajectory's pooled path in an existing layer-path map: ``([n_layers, k], mode)``."""
    x = _apply_stats(lp.fit, pool_layers(traj, lp.pooling, lp.layers)[:, None, :])[:, 0, :]  # [L, d]
    out, mode = pm.transform_with_mode(lp.fit, x, fingerprint=traj.model_fingerprint, progress=progress)
    return out, mode


@dataclass(kw_only=True)
class TokenPaths:
    fit: Fit
    coords: np.ndarray  # [n_layers, n_points, k]
    layers: tuple[int, ...]
    traj_index: np.ndarray  # [n_points]
    token_index: np.ndarray  # [n_points]
    which: str
    max_tokens: int | None


def token_tables(
    trajs: Sequence[Trajectory], which: str, max_tokens: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(traj_index, token_index)`` of ``stack_tokens`` without touching the hidden states."""
    ti, tok = [], []
    for i, t in enumerate(trajs):
        s, e = token_range(t, which, max_tokens)
        ti.append(np.full(e - s, i, dtype=np.int64))
        tok.append(np.arange(s, e, dtype=np.int64))
    return np.concatenate(ti), np.concatenate(tok)


def token_paths_key(
    ts: TrajSet,
    layers: Sequence[int],
    config: ProjectionConfig,
    *,
    which: str = "all",
    max_tokens: int | None = 96,
    normalize: bool = True,
) -> str:
    """The projection-cache key ``fit_token_paths`` uses."""
    return fit_key(
        ts.keys,
        layers=tuple(layers),
        pooling=f"tokens:{which}",
        config=config,
        view="token_paths",
        extra={"max_tokens": max_tokens, "normalize": normalize},
    )


def fit_token_paths(
    pm: ProjectionManager,
    ts: TrajSet,
    layers: Sequence[int],
    config: ProjectionConfig,
    *,
    which: str = "all",
    max_tokens: int | None = 96,
    normalize: bool = True,
    progress: Progress | None = None,
    on_stage: StageCallback | None = None,
) -> TokenPaths:
    """One shared fit over every token at every chosen layer (the animation's frames share one map)."""
    _check_models(ts)
    lay = tuple(layers)
    key = token_paths_key(ts, lay, config, which=which, max_tokens=max_tokens, normalize=normalize)
    cached = pm.get(key)
    if cached is not None:  # skip reading the hidden states at all
        ti, tok = token_tables(ts.trajs, which, max_tokens)
        return TokenPaths(
            fit=cached,
            coords=cached.embedding.reshape(len(lay), len(ti), -1),
            layers=lay,
            traj_index=ti,
            token_index=tok,
            which=which,
            max_tokens=max_tokens,
        )
    stack: TokenStack = stack_tokens(ts.trajs, lay, which=which, max_tokens=max_tokens)
    states, extras = _normalised(stack.states, normalize)
    fit, coords = pm.fit_shared(
        states,
        key=key,
        config=config,
        extras=extras,
        fingerprints=[ts.fingerprints[i] for i in stack.traj_index],
        row_names=[ts.keys[i][:12] for i in stack.traj_index],
        progress=progress,
        on_stage=on_stage,
        meta={"view": "token_paths", "layers": list(lay), "which": which},
    )
    return TokenPaths(
        fit=fit,
        coords=coords,
        layers=lay,
        traj_index=stack.traj_index,
        token_index=stack.token_index,
        which=which,
        max_tokens=max_tokens,
    )


def project_token_path(
    pm: ProjectionManager, tp: TokenPaths, traj: Trajectory, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """A new trajectory's tokens in an existing token map: ``(coords [n_layers, m, k], token_index,
    mode)``."""
    stack = stack_tokens([traj], tp.layers, which=tp.which, max_tokens=tp.max_tokens)
    nl, m, d = stack.states.shape
    states = _apply_stats(tp.fit, stack.states)
    out, mode = pm.transform_with_mode(
        tp.fit, states.reshape(nl * m, d), fingerprint=traj.model_fingerprint, progress=progress
    )
    return out.reshape(nl, m, -1), stack.token_index, mode


def centroid_from_store(
    store: ActivationStore,
    metas: Sequence[StoredMeta],
    traj: Trajectory,
    limit: int = 200,
    how: str = "mean_all",
) -> tuple[np.ndarray, int]:
    """Per-layer centroid ``[len(traj.layers), d]`` of stored trajectories of ``traj``'s model (the reference
    set), and how many were used. Other models' trajectories are ignored (their states are not comparable)."""
    same = [m for m in metas if m.model_fingerprint == traj.model_fingerprint and m.key != traj.key][:limit]
    ts = load_set(store, same)
    usable = [t for t in ts.trajs if set(traj.layers) <= set(t.layers)]
    if not usable:
        raise InputError(
            "No stored trajectories of this model in that reference set: trace or import some, "
            "or pick another dataset/label."
        )
    return reference_centroid(usable, traj.layers, how), len(usable)


def class_means_from_store(
    store: ActivationStore,
    metas: Sequence[StoredMeta],
    traj: Trajectory,
    *,
    positive: str = "unsafe",
    negative: str = "safe",
    limit: int = 200,
    how: str = "completion",
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per-layer mean states ``[len(traj.layers), d]`` of stored ``positive``- and ``negative``-labelled
    trajectories of ``traj``'s model, pooled with ``how``, with their counts -- the two ends of a
    difference-in-means axis (``core.explore.pooling.class_axis_scores``).

    Default pooling "completion": every prompt shares the chat template's tokens, so means over all tokens
    differ little between classes and the axis would be mostly noise; generated tokens differ."""
    pos = [m for m in metas if m.label == positive]
    neg = [m for m in metas if m.label == negative]
    try:
        c_pos, n_pos = centroid_from_store(store, pos, traj, limit, how)
        c_neg, n_neg = centroid_from_store(store, neg, traj, limit, how)
    except InputError as exc:
        raise InputError(
            f"The {positive} − {negative} axis needs stored trajectories of this model labelled "
            f"'{positive}' and '{negative}' (found {len(pos)} and {len(neg)} of any model). Label some "
            "below or on the Label page, or colour by norm."
        ) from exc
    return c_pos, c_neg, n_pos, n_neg


def store_axis(
    store: ActivationStore,
    metas: Sequence[StoredMeta],
    traj: Trajectory,
    layer: int,
    *,
    limit: int = 200,
    how: str = "completion",
) -> tuple[Axis, np.ndarray]:
    """The difference-of-means axis of stored ``safe`` / ``unsafe`` trajectories of ``traj``'s model (up to
    ``limit`` of each, ``traj`` itself left out, pooled with ``how``): its ``Axis`` at ``layer`` (held-out
    AUROC cross-validated over those trajectories) and ``traj``'s scores on it at every layer ``[L, T]``
    (−1 = the safe mean, +1 = the unsafe mean)."""
    same = [m for m in metas if m.model_fingerprint == traj.model_fingerprint and m.key != traj.key]
    pos = [m for m in same if m.label == "unsafe"][:limit]
    neg = [m for m in same if m.label == "safe"][:limit]
    ts = load_set(store, pos + neg)
    keep = [i for i, t in enumerate(ts.trajs) if set(traj.layers) <= set(t.layers)]
    labels = [ts.labels[i] for i in keep]
    if "unsafe" not in labels or "safe" not in labels:
        raise InputError(
            "The unsafe − safe axis needs stored trajectories of this model labelled 'unsafe' and 'safe' "
            f"(found {sum(m.label == 'unsafe' for m in metas)} and {sum(m.label == 'safe' for m in metas)} "
            "of any model). Label some below or on the Label page, or colour by norm."
        )
    states = stack_pooled([ts.trajs[i] for i in keep], how, traj.layers).states
    axis, _, _ = diff_means_axis(
        states, labels, traj.layers, layer, source="difference of means (stored trajectories)"
    )
    pos_mean, neg_mean = class_means(states, labels)
    return axis, class_axis_scores(traj.hidden, pos_mean, neg_mean)
