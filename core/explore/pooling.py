"""Pooled states and token scores: trajectories in, numpy arrays out (no torch).

Two kinds of point sets feed the explorer:

* **layer paths** -- one pooled state per (trajectory, layer): ``pool_layers`` / ``stack_pooled``;
* **token paths** -- every token of every trajectory at each layer: ``stack_tokens``.

Token scores (``norm_scores``, ``direction_scores``, ``centroid_cosine``) broadcast over any leading
shape, so the same function colours one layer ``[n_tokens, d]`` or a whole trajectory
``[n_layers, n_tokens, d]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from core.capture.trajectory import Trajectory
from core.errors import InputError

Pooling = Literal["last_prompt", "reasoning", "completion", "mean_all"]
POOLINGS: tuple[str, ...] = get_args(Pooling)
POOLING_HELP = {
    "last_prompt": "state at the last prompt token (what the model 'knows' when it starts to answer)",
    "reasoning": "mean over the reasoning span (<safety_reasoning> / <think>); completion if there is none",
    "completion": "mean over the generated tokens",
    "mean_all": "mean over every token, prompt and completion",
}


@dataclass(frozen=True)
class PoolSpan:
    """Which tokens ``[start, end)`` a pooling used, and whether it had to fall back."""

    start: int
    end: int
    used: str  # the pooling actually applied ("completion" when "reasoning" fell back, ...)
    fell_back: bool


def pool_span(traj: Trajectory, how: str) -> PoolSpan:
    """Token range a pooling averages over. Fallbacks: reasoning -> completion -> last_prompt.

    A prompt-only trajectory has no completion, so "completion" (and "reasoning") fall back to the last
    prompt token -- the state the model had when it would have started answering.
    """
    if how not in POOLINGS:
        raise InputError(f"Unknown pooling {how!r}; choose one of {list(POOLINGS)}.")
    n, n_prompt = traj.n_tokens, traj.n_prompt_tokens
    if n == 0:
        raise InputError("This trajectory has no tokens; capture it again.")
    last = PoolSpan(max(n_prompt, 1) - 1, max(n_prompt, 1), "last_prompt", how != "last_prompt")
    if how == "last_prompt":
        return last
    if how == "mean_all":
        return PoolSpan(0, n, "mean_all", False)
    if how == "reasoning":
        span = traj.span("reasoning")
        if span is not None and len(span) > 0:
            return PoolSpan(span.start, span.end, "reasoning", False)
    if n > n_prompt:  # completion (requested, or reasoning's fallback)
        return PoolSpan(n_prompt, n, "completion", how != "completion")
    return last


def _layer_rows(traj: Trajectory, layers: Sequence[int] | None) -> list[int]:
    if layers is None:
        return list(range(len(traj.layers)))
    missing = [layer for layer in layers if layer not in traj.layers]
    if missing:
        raise InputError(
            f"Layer(s) {missing} were not captured for trajectory {traj.key}; it has layers "
            f"{list(traj.layers)}. Pick captured layers or capture again with all layers."
        )
    return [traj.layers.index(layer) for layer in layers]


def pool_layers(
    traj: Trajectory, how: str = "last_prompt", layers: Sequence[int] | None = None
) -> np.ndarray:
    """Pooled state per layer, ``[n_layers, d_model]`` float32 (``layers`` = None: every captured layer)."""
    span = pool_span(traj, how)
    rows = _layer_rows(traj, layers)
    block = np.asarray(traj.hidden[rows, span.start : span.end, :], dtype=np.float32)  # [L, span, d]
    return block.mean(axis=1)


def common_layers(trajs: Sequence[Trajectory]) -> tuple[int, ...]:
    """Layers captured by every trajectory (sorted); InputError if there are none."""
    if not trajs:
        raise InputError("No trajectories selected: trace a prompt on the Trace page or import a dataset.")
    common = set(trajs[0].layers)
    for t in trajs[1:]:
        common &= set(t.layers)
    if not common:
        raise InputError(
            "These trajectories share no captured layer; select trajectories captured with the "
            "same layers (capture with --layers all)."
        )
    return tuple(sorted(common))


@dataclass
class PooledStack:
    """Pooled states of many trajectories: ``states[i, j]`` is trajectory i at ``layers[j]``."""

    states: np.ndarray  # [n_traj, n_layers, d]
    layers: tuple[int, ...]
    used: list[str]  # pooling actually applied per trajectory
    fell_back: np.ndarray  # [n_traj] bool

    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(points [n_traj*n_layers, d], traj_index, layer)`` -- row r is trajectory r // n_layers."""
        n, nl, d = self.states.shape
        traj_index = np.repeat(np.arange(n), nl)
        layer = np.tile(np.asarray(self.layers), n)
        return self.states.reshape(n * nl, d), traj_index, layer


def stack_pooled(
    trajs: Sequence[Trajectory], how: str = "last_prompt", layers: Sequence[int] | None = None
) -> PooledStack:
    """Pool every trajectory at ``layers`` (default: the layers all of them captured)."""
    lay = tuple(layers) if layers is not None else common_layers(trajs)
    _check_dims(trajs)
    states = np.stack([pool_layers(t, how, lay) for t in trajs]) if trajs else np.zeros((0, len(lay), 0))
    spans = [pool_span(t, how) for t in trajs]
    return PooledStack(
        states.astype(np.float32, copy=False),
        lay,
        [s.used for s in spans],
        np.array([s.fell_back for s in spans], dtype=bool),
    )


@dataclass
class TokenStack:
    """Token states of many trajectories at several layers: ``states[j, r]`` is point r at ``layers[j]``.

    Point r is token ``token_index[r]`` of trajectory ``traj_index[r]``; points of one trajectory are
    contiguous and in token order (so consecutive rows can be joined into a path).
    """

    states: np.ndarray  # [n_layers, n_points, d]
    layers: tuple[int, ...]
    traj_index: np.ndarray  # [n_points] int
    token_index: np.ndarray  # [n_points] int

    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(points [n_layers*n_points, d], layer, traj_index, token_index)``, layer-major."""
        nl, n, d = self.states.shape
        return (
            self.states.reshape(nl * n, d),
            np.repeat(np.asarray(self.layers), n),
            np.tile(self.traj_index, nl),
            np.tile(self.token_index, nl),
        )


def token_range(traj: Trajectory, which: str = "all", max_tokens: int | None = None) -> tuple[int, int]:
    """Token range for token views: "all", "completion" (falls back to all for prompt-only), "prompt".

    ``max_tokens`` keeps the *last* tokens of the range (the end of the prompt plus the completion is
    where the answer is decided).
    """
    n, n_prompt = traj.n_tokens, traj.n_prompt_tokens
    start, end = {"all": (0, n), "prompt": (0, n_prompt), "completion": (n_prompt, n)}.get(
        which, (None, None)
    )
    if start is None:
        raise InputError(f"Unknown token range {which!r}; choose all, prompt or completion.")
    if end <= start:
        start, end = 0, n
    if max_tokens is not None and end - start > max_tokens:
        start = end - max_tokens
    return start, end


def stack_tokens(
    trajs: Sequence[Trajectory],
    layers: Sequence[int] | None = None,
    *,
    which: str = "all",
    max_tokens: int | None = None,
) -> TokenStack:
    """Every token's state at each of ``layers`` for all ``trajs`` (float32)."""
    lay = tuple(layers) if layers is not None else common_layers(trajs)
    _check_dims(trajs)
    blocks, ti, tok = [], [], []
    for i, t in enumerate(trajs):
        s, e = token_range(t, which, max_tokens)
        rows = _layer_rows(t, lay)
        blocks.append(np.asarray(t.hidden[rows, s:e, :], dtype=np.float32))  # [L, e-s, d]
        ti.append(np.full(e - s, i, dtype=np.int64))
        tok.append(np.arange(s, e, dtype=np.int64))
    if not blocks:
        raise InputError("No trajectories selected: trace a prompt on the Trace page or import a dataset.")
    return TokenStack(np.concatenate(blocks, axis=1), lay, np.concatenate(ti), np.concatenate(tok))


def _check_dims(trajs: Sequence[Trajectory]) -> None:
    dims = {t.d_model for t in trajs}
    if len(dims) > 1:
        raise InputError(
            f"These trajectories have different hidden sizes {sorted(dims)}: they come from "
            "different models. Select trajectories of one model."
        )


# ---- token scores --------------------------------------------------------------------------------
SCORES = {
    "norm": "L2 norm of the hidden state",
    "centroid_cosine": "cosine similarity to the mean state of a reference set at the same layer",
    "direction": "projection on a saved direction (probe or steering vector), in units of the state",
}


def norm_scores(h: np.ndarray) -> np.ndarray:
    """L2 norm over the last axis: ``[..., d] -> [...]``."""
    return np.linalg.norm(np.asarray(h, dtype=np.float32), axis=-1)


def direction_scores(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Scalar projection of each state on the unit direction ``v``: ``[..., d] -> [...]``.

    ``v`` is ``[d]`` or, per layer, ``[n_layers, d]`` against ``h`` of ``[n_layers, n_tokens, d]``.
    """
    h = np.asarray(h, dtype=np.float32)
    v = np.asarray(v, dtype=np.float32)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    if np.all(norm == 0):
        raise InputError("The direction is the zero vector; pick another saved direction.")
    # a per-layer direction may vanish at some layers (e.g. the embedding of a shared last prompt token):
    # those layers score 0 instead of failing the whole view
    u = np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)
    if u.ndim == 2 and h.ndim == 3:
        return np.einsum("ltd,ld->lt", h, u)
    return h @ u


def centroid_cosine(h: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """Cosine between each state and ``centroid`` (``[d]``, or ``[n_layers, d]`` for
    ``h [n_layers, n_tokens, d]``)."""
    h = np.asarray(h, dtype=np.float32)
    c = np.asarray(centroid, dtype=np.float32)
    if c.ndim == 2 and h.ndim == 3:
        c = c[:, None, :]
    num = (h * c).sum(-1)
    den = np.linalg.norm(h, axis=-1) * np.linalg.norm(c, axis=-1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def reference_centroid(
    trajs: Sequence[Trajectory], layers: Sequence[int], how: str = "mean_all"
) -> np.ndarray:
    """Mean pooled state of a reference set per layer, ``[len(layers), d]``."""
    if not trajs:
        raise InputError("The reference set is empty: pick a dataset/label with stored trajectories.")
    return stack_pooled(trajs, how, layers).states.mean(axis=0)


def token_layer_scores(
    traj: Trajectory, score: str, *, centroid: np.ndarray | None = None, direction: np.ndarray | None = None
) -> np.ndarray:
    """Score of every token at every captured layer, ``[n_layers, n_tokens]`` (heatmap + colouring)."""
    h = traj.hidden  # [L, T, d]
    if score == "norm":
        return norm_scores(h)
    if score == "centroid_cosine":
        if centroid is None:
            raise InputError("Cosine to a centroid needs a reference set: pick one with stored trajectories.")
        return centroid_cosine(h, centroid)
    if score == "direction":
        if direction is None:
            raise InputError("No saved direction selected: train a probe (Probes page) or pick a direction.")
        return direction_scores(h, direction)
    raise InputError(f"Unknown score {score!r}; choose one of {list(SCORES)}.")


def class_means(
    states: np.ndarray, labels: Sequence[str | None], positive: str = "unsafe", negative: str = "safe"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer mean of the ``positive`` and of the ``negative`` rows: ``states [n, n_layers, d]`` ->
    two ``[n_layers, d]`` arrays (the ends of a difference-in-means axis)."""
    lab = np.asarray([str(x) for x in labels])
    pos, neg = lab == positive, lab == negative
    if not pos.any() or not neg.any():
        raise InputError(
            f"Colouring by the {negative} → {positive} axis needs both labels in the selection "
            f"(it has {int(pos.sum())} {positive} and {int(neg.sum())} {negative}). Label some "
            "trajectories (Trace or Label page) or colour by label/layer."
        )
    return states[pos].mean(axis=0), states[neg].mean(axis=0)


def layer_stats(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer mean ``[L, d]`` and scale ``[L]`` (RMS norm of the centred states) of ``states [L, n, d]``.

    Depth changes the residual stream's offset and norm far more than the prompt does, so a map of raw
    states mostly separates layers; normalising each layer shows how trajectories differ *within* it.
    """
    x = np.asarray(states, dtype=np.float32)
    mean = x.mean(axis=1)
    scale = np.sqrt(((x - mean[:, None, :]) ** 2).sum(-1).mean(axis=1))
    return mean, np.where(scale > 1e-12, scale, 1.0).astype(np.float32)  # a constant layer stays at 0


def normalize_layers(states: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(states [L, n, d] - mean[l]) / scale[l]`` -- apply stats from ``layer_stats`` (also to new
    points)."""
    return ((np.asarray(states, dtype=np.float32) - mean[:, None, :]) / scale[:, None, None]).astype(
        np.float32
    )


def relative_to_layer(scores: np.ndarray) -> np.ndarray:
    """``scores [n_layers, n_tokens]`` divided by each layer's median (for norms: 1.0 = typical at that
    layer).

    State norms grow with depth, so one colour scale over all layers hides within-layer differences.
    """
    med = np.median(np.asarray(scores, dtype=np.float32), axis=1, keepdims=True)
    return np.divide(scores, med, out=np.zeros_like(scores, dtype=np.float32), where=med != 0)


def class_axis_scores(h: np.ndarray, pos_mean: np.ndarray, neg_mean: np.ndarray) -> np.ndarray:
    """Position of each state on the axis between two class means, per layer: −1 = at the negative (e.g. safe)
    mean, +1 = at the positive (unsafe) mean, 0 = halfway. ``h [L, T, d]``, means ``[L, d]`` -> ``[L, T]``.

    The raw projection on a direction grows with depth and is not centred; this one reads the same at every
    layer. Layers where the two means coincide score 0.
    """
    h = np.asarray(h, dtype=np.float32)
    diff = np.asarray(pos_mean, dtype=np.float32) - np.asarray(neg_mean, dtype=np.float32)
    mid = (np.asarray(pos_mean, dtype=np.float32) + np.asarray(neg_mean, dtype=np.float32)) / 2
    half = np.linalg.norm(diff, axis=-1) / 2  # [L]
    proj = np.einsum("ltd,ld->lt", h - mid[:, None, :], diff)  # = |diff| * signed distance along the axis
    return np.divide(proj, (2 * half**2)[:, None], out=np.zeros_like(proj), where=half[:, None] > 0)
