"""Explore-map decisions (core.explore.selection, core.explore.views): click decoding, colouring, the safe ->
unsafe axis, animation frames. Synthetic trajectories with hand-checkable states."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from core.explore.selection import selected_keys
from core.explore.views import COLOUR_CHOICES, color_mode, default_frames, frame_window, layer_axis_scores
from tests.explorer_fakes import make_traj

KEYS = ["k0", "k1", "k2"]


@pytest.mark.parametrize(
    "points, expected",
    [
        ([{"customdata": "k1"}], ["k1"]),  # layer paths: the key itself
        ([{"customdata": ["k2"]}], ["k2"]),  # wrapped in a list
        ([{"customdata": 1}, {"customdata": 0.0}], ["k1", "k0"]),  # token paths: index into the keys
        ([{"customdata": [2]}], ["k2"]),
        (
            [{"customdata": -1}, {"customdata": 3}, {"customdata": ""}, {}, {"customdata": None}],
            [],
        ),  # gaps, new prompt
        ([], []),
    ],
)
def test_selected_keys(points, expected):
    assert selected_keys(points, KEYS) == expected


def test_color_mode():
    assert [color_mode(c) for c in COLOUR_CHOICES] == ["label", "layer", "score"]


def test_default_frames():
    assert default_frames([0, 1, 2]) == [0, 1, 2]
    assert default_frames(list(range(31))) == [
        0,
        4,
        8,
        12,
        16,
        20,
        24,
        28,
        30,
    ]  # every 31 // 7 = 4th, and the last
    assert default_frames([5]) == [5]


def test_frame_window():
    frames = [0, 4, 8]
    assert frame_window(frames, 4, animate=True) == slice(None)
    assert frame_window(frames, 4, animate=False) == slice(1, 2)
    assert list(np.arange(3)[frame_window(frames, 8, animate=False)]) == [2]


def _traj(value, seed):
    """3 tokens (2 prompt), layers 0..2; the last prompt token's state is ``value`` * (1, 2, 3, 4) at each
    layer."""
    hidden = np.zeros((3, 3, 4), dtype=np.float32)
    for layer in range(3):
        hidden[layer, 1] = value * (layer + 1) * np.arange(1, 5)
    return make_traj(["a", "b", "c"], 2, n_layers=2, d=4, seed=seed, hidden=hidden)


def test_layer_axis_scores_against_the_class_means():
    trajs = [_traj(1.0, 0), _traj(-1.0, 1), _traj(0.0, 2), _traj(0.5, 3)]
    labels = ["unsafe", "safe", None, "rethink"]
    got = layer_axis_scores(trajs, labels, "last_prompt", (0, 1, 2))
    assert got.shape == (4, 3)
    # on the line from the safe mean (-1) to the unsafe mean (+1): a state at value v sits at v
    np.testing.assert_allclose(got, np.repeat([[1.0], [-1.0], [0.0], [0.5]], 3, axis=1), atol=1e-6)


def test_layer_axis_scores_need_both_classes():
    with pytest.raises(InputError, match="needs both labels"):
        layer_axis_scores([_traj(1.0, 0), _traj(2.0, 1)], ["unsafe", "unsafe"], "last_prompt", (0, 1, 2))
