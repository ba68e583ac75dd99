"""Representation diff: where in the network do two subjects' states differ on the same prompts?

Arrays in, arrays out: ``a`` and ``b`` are ``[n_items, n_layers, d_model]`` states of subjects A and B on the
same items in the same order (e.g. the last prompt token of every layer). ``collect_states`` captures them
(prompt-only, no generation) through ``core.capture.tracing.capture_batch`` with each subject's template,
adapter and steering.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.capture.templates import build_messages
from core.capture.tracing import capture_batch
from core.errors import InputError
from core.evals.runner import _interventions

Progress = Callable[[int, int], None]


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 3 or a.shape != b.shape:
        raise InputError(
            f"Both subjects need states [n_items, n_layers, d] of one shape; got {a.shape} and {b.shape}."
        )
    if a.shape[0] == 0:
        raise InputError("No items to compare.")
    return a, b


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean over items of ``1 - cos(a_i, b_i)`` per layer: ``[n, L, d] x2 -> [L]`` (0 = same direction)."""
    a, b = _check(a, b)
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    cos = np.divide(num, den, out=np.ones_like(num), where=den > 0)  # two zero vectors count as identical
    return (1.0 - cos).mean(axis=0)


def relative_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean ``|b_i - a_i| / |a_i|`` per layer: ``[L]`` (how far B moved relative to A's state norm)."""
    a, b = _check(a, b)
    na = np.linalg.norm(a, axis=-1)
    d = np.linalg.norm(b - a, axis=-1)
    return np.divide(d, na, out=np.zeros_like(d), where=na > 0).mean(axis=0)


def probe_shift(
    a: np.ndarray, b: np.ndarray, layers: Sequence[int], score: Callable[[np.ndarray, int], np.ndarray]
) -> np.ndarray:
    """Mean ``score(b) - score(a)`` per layer, ``score(h [n, d], layer) -> [n]`` (e.g. a probe set's P(unsafe)
    at that layer); NaN at layers the scorer does not cover (it raises there)."""
    a, b = _check(a, b)
    if len(layers) != a.shape[1]:
        raise InputError(f"{len(layers)} layer indices for states with {a.shape[1]} layers.")
    out = np.full(a.shape[1], np.nan)
    for j, layer in enumerate(layers):
        try:
            out[j] = float(np.mean(score(b[:, j], layer) - score(a[:, j], layer)))
        except (InputError, KeyError):
            continue
    return out


def joint_pca(a: np.ndarray, b: np.ndarray, layer_index: int, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both subjects' states at one layer in one shared PCA space (fit on A and B together): ``[n, k]``
    each."""
    a, b = _check(a, b)
    x = np.concatenate([a[:, layer_index], b[:, layer_index]])
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    z = x @ vt[:k].T
    return z[: a.shape[0]], z[a.shape[0] :]


@dataclass
class RepDiff:
    layers: tuple[int, ...]
    cosine_distance: np.ndarray  # [L]
    relative_shift: np.ndarray  # [L]
    probe_shift: np.ndarray | None = None  # [L]
    by_group: dict[str, np.ndarray] = field(default_factory=dict)  # group -> cosine distance [L]

    @property
    def most_changed_layer(self) -> int:
        return int(self.layers[int(np.argmax(self.cosine_distance))])


def repdiff(
    a: np.ndarray,
    b: np.ndarray,
    layers: Sequence[int],
    *,
    groups: Sequence[str] | None = None,
    score: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> RepDiff:
    """All per-layer differences at once; ``groups`` (one label per item, e.g. harmful / benign) adds a
    cosine-distance curve per group."""
    by = {}
    if groups is not None:
        g = np.asarray(groups)
        if g.shape[0] != np.asarray(a).shape[0]:
            raise InputError(f"{g.shape[0]} group labels for {np.asarray(a).shape[0]} items.")
        by = {str(k): cosine_distance(np.asarray(a)[g == k], np.asarray(b)[g == k]) for k in dict.fromkeys(g)}
    return RepDiff(
        tuple(int(x) for x in layers),
        cosine_distance(a, b),
        relative_shift(a, b),
        probe_shift(a, b, layers, score) if score is not None else None,
        by,
    )


def collect_states(
    model: Any,
    prompts: Sequence[str],
    *,
    template: str = "plain",
    system: str | None = None,
    interventions: Sequence[Any] | None = None,
    layers: Sequence[int] | None = None,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """States at the last prompt token of every layer for each prompt (no generation): ``[n, L, d]``,
    layers."""
    if not prompts:
        raise InputError("No prompts to collect states for.")
    chats = [build_messages(p, template=template, system=system) for p in prompts]
    rows, lay = [], None
    for traj in capture_batch(
        model,
        chats,
        batch_size=batch_size,
        layers=layers,
        template=template,
        generate=False,
        interventions=interventions,
        progress=progress,
    ):
        rows.append(traj.hidden[:, traj.n_prompt_tokens - 1, :].astype(np.float32))  # [L, d]
        lay = traj.layers
    return np.stack(rows), tuple(lay or ())


def subject_states(
    model: Any,
    subject: Any,
    prompts: Sequence[str],
    *,
    layers: Sequence[int] | None = None,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """``collect_states`` for an audit ``Subject`` (its template, system prompt and steering applied)."""
    fns, _ = _interventions(subject, model)
    return collect_states(
        model,
        prompts,
        template=subject.template,
        system=subject.system,
        interventions=fns,
        layers=layers,
        batch_size=batch_size,
        progress=progress,
    )
