"""What an Explore map shows, decided without any UI: colouring, the safe → unsafe axis per layer, the default
and visible animation frames (pure numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.capture.trajectory import Trajectory
from core.explore.axes import Axis, diff_means_axis
from core.explore.pooling import class_axis_scores, class_means, stack_pooled

COLOUR_CHOICES = ("label", "layer", "safe → unsafe axis")  # the "Colour by" options of layer-path maps


def color_mode(choice: str) -> str:
    """``layer_path_figure``'s ``color_by`` for a "Colour by" choice: label, layer, else score (the axis)."""
    return {"label": "label", "layer": "layer"}.get(choice, "score")


def layer_axis_scores(
    trajs: Sequence[Trajectory], labels: Sequence[str | None], pooling: str, layers: Sequence[int]
) -> np.ndarray:
    """``[n_traj, n_layers]``: each trajectory's pooled state on the axis from the mean of the *safe* ones
    (−1) to the mean of the *unsafe* ones (+1) of this selection, per layer (raises ``InputError`` when a
    class is missing)."""
    states = stack_pooled(trajs, pooling, layers).states  # [n, L, d]
    pos_mean, neg_mean = class_means(states, labels)
    return class_axis_scores(states.transpose(1, 0, 2), pos_mean, neg_mean).T


def selection_axis(
    trajs: Sequence[Trajectory],
    labels: Sequence[str | None],
    pooling: str,
    layers: Sequence[int],
    layer: int | None = None,
) -> tuple[Axis, np.ndarray]:
    """The difference-of-means axis of this selection at one ``layer`` (default: the layer where it separates
    best on held-out trajectories): its ``Axis`` and every trajectory's position on it ``[n_traj]``."""
    states = stack_pooled(trajs, pooling, layers).states
    axis, scores, _ = diff_means_axis(states, labels, layers, layer)
    return axis, scores


def default_frames(layers: Sequence[int], n: int = 7) -> list[int]:
    """About ``n`` evenly spaced layers, always including the last one (the token map's default frames)."""
    layers = list(layers)
    return sorted(set(layers[:: max(1, len(layers) // n)]) | {layers[-1]})


def frame_window(frames: Sequence[int], start: int, animate: bool) -> slice:
    """The frames drawn: all of them when animating, else only ``start``."""
    if animate:
        return slice(None)
    i = list(frames).index(start)
    return slice(i, i + 1)
