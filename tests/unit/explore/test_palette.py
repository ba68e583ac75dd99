"""The one palette: the safe / unsafe pair stays distinct under colour-vision deficiency, scales are explicit
lists (never names plotly.js reads differently), ranges state the truth and mark outliers."""

from __future__ import annotations

import numpy as np
import pytest

from core.explore import palette

# Machado, Oliveira & Fernandes 2009, severity 1.0, on linear RGB
DEUTERANOPIA = np.array(
    [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.01182, 0.04294, 0.968881]]
)
PROTANOPIA = np.array(
    [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
)


def _linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(lin: np.ndarray) -> np.ndarray:
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ np.clip(lin, 0, 1) / np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _delta_e(a: str, b: str, sim: np.ndarray | None = None) -> float:
    la, lb = _linear(a), _linear(b)
    if sim is not None:
        la, lb = sim @ la, sim @ lb
    return float(np.linalg.norm(_lab(la) - _lab(lb)))


@pytest.mark.parametrize(
    "sim", [None, DEUTERANOPIA, PROTANOPIA], ids=["normal", "deuteranopia", "protanopia"]
)
def test_safe_and_unsafe_stay_distinct_under_colour_blindness(sim):
    assert _delta_e(palette.SAFE, palette.UNSAFE, sim) > 30
    # the pair it replaces collapses under deuteranopia: the reason for the choice
    if sim is DEUTERANOPIA:
        assert _delta_e("#2ca02c", "#d62728", sim) < 10


def test_scales_are_explicit_lists_running_safe_to_unsafe():
    for kind in palette.KINDS:
        scale = palette.scale_for(kind)
        assert isinstance(scale, list) and scale[0][0] == 0.0 and scale[-1][0] == 1.0
    assert palette.colour_at(palette.SAFE_UNSAFE, 1.0) == palette.UNSAFE
    assert palette.colour_at(palette.SAFE_UNSAFE, 0.0) == palette.SAFE
    assert palette.score_colour(1.0) == palette.UNSAFE and palette.score_colour(0.0) == palette.SAFE
    assert palette.colour_at(palette.SAFE_UNSAFE, -3.7, -3.7, 3.7) == palette.SAFE
    with pytest.raises(ValueError, match="Unknown score kind"):
        palette.scale_for("rainbow")


def test_series_and_diff_colours_never_mean_safe_or_unsafe():
    assert palette.SAFE not in palette.SERIES_COLOURS and palette.UNSAFE not in palette.SERIES_COLOURS
    assert palette.SAFE not in palette.SPAN_COLOURS.values()
    assert palette.GROUP_COLOURS == {"harmful": palette.UNSAFE, "benign": palette.SAFE}


def test_colour_range_per_kind():
    cos = np.linspace(0.6, 0.95, 50)  # every value positive: no centre at 0
    cr = palette.color_range(cos, "magnitude")
    assert cr.lo == pytest.approx(0.6) and cr.hi == pytest.approx(0.95) and not cr.clipped
    p = palette.color_range(np.array([0.1, 0.7]), "probability")
    assert (p.lo, p.hi) == (0.0, 1.0)
    axis = palette.color_range(np.r_[np.linspace(-3.7, 2.0, 40), -495.0], "axis")
    assert axis.hi == pytest.approx(3.7) and axis.lo == -axis.hi and axis.n_outliers == 1
    assert axis.true_lo == -495 and axis.clipped and "true range -495" in axis.describe()
    assert axis.outside(np.array([-495.0, 0.0])).tolist() == [True, False]
    assert palette.color_range(np.array([np.nan]), "axis").describe() == "no finite values"
    assert not palette.outlier_mask(np.array([1.0, 1e6])).any()  # too few values to call anything an outlier
