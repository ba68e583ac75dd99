"""Every chart builder paints a known unsafe point in the palette's unsafe colour (issue 16 item 2).

Label-coloured traces are read directly; for continuous scales the colour is resolved from the figure itself:
its colorscale evaluated (``plotly.colors.sample_colorscale``) at the point's value within its cmin / cmax (or
zmin / zmax), as plotly.js draws it."""

from __future__ import annotations

import re

import numpy as np
from plotly.colors import sample_colorscale

from app import align_charts, charts
from app.audit_repdiff_widgets import pca_figure
from app.label_widgets import counts_figure
from app.monitor_widgets import score_colour, score_trace_figure, tokens_html
from app.probe_widgets import prototype_scatter, score_histogram
from core.data.review import CategoryCount
from core.evals import html_report
from core.explore.palette import SAFE, UNSAFE, colours_at
from core.steer.monitor import TokenScore


def _hex(colour: str) -> str:
    """``rgb(r, g, b)`` / ``#rrggbb`` -> ``#RRGGBB``."""
    if colour.startswith("#"):
        return colour.upper()
    r, g, b = (int(float(x)) for x in re.findall(r"[\d.]+", colour)[:3])
    return f"#{r:02X}{g:02X}{b:02X}"


def _resolved(colorscale, value: float, lo: float, hi: float) -> str:
    """The colour plotly draws for ``value`` on ``colorscale`` spanning [lo, hi] (clipped)."""
    pos = min(max((value - lo) / (hi - lo), 0.0), 1.0)
    scale = [[float(p), c] for p, c in colorscale]
    return _hex(sample_colorscale(scale, [pos])[0])


def _trace(fig, prefix: str):
    return next(t for t in fig.data if (t.name or "").startswith(prefix))


COORDS = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
KEYS = ["s0", "u1", "s2", "u3"]
LABELS = ["safe", "unsafe", "safe", "unsafe"]


def test_layer_paths_by_label():
    fig = charts.layer_path_figure(COORDS, [0, 1, 2], KEYS, labels=LABELS)
    assert _hex(_trace(fig, "unsafe").marker.color) == UNSAFE
    assert _hex(_trace(fig, "safe").marker.color) == SAFE


def test_layer_paths_by_axis_and_probability_resolve_unsafe_to_the_unsafe_colour():
    # a difference-of-means axis: the unsafe trajectories sit at +1..+3.7, the safe ones below 0
    scores = np.array([-1.0, 3.7, -2.0, 1.0])
    fig = charts.layer_path_figure(
        COORDS, [0, 1, 2], KEYS, scores=scores, color_by="score", score_kind="axis"
    )
    m = fig.data[1].marker
    unsafe_value = float(np.asarray(m.color)[4])  # trajectory 1: points 4-6 (3 per path + a gap)
    assert unsafe_value == 3.7
    assert _resolved(m.colorscale, unsafe_value, m.cmin, m.cmax) == UNSAFE
    assert _resolved(m.colorscale, -2.0, m.cmin, m.cmax) != UNSAFE
    assert m.cmin == -m.cmax  # centred on 0: halfway between the class means
    assert "true range -2 … 3.7" in m.colorbar.title.text
    prob = charts.layer_path_figure(
        COORDS,
        [0, 1, 2],
        KEYS,
        scores=np.array([0.1, 1.0, 0.2, 0.9]),
        color_by="score",
        score_kind="probability",
    )
    pm = prob.data[1].marker
    assert (pm.cmin, pm.cmax) == (0.0, 1.0) and _resolved(pm.colorscale, 1.0, pm.cmin, pm.cmax) == UNSAFE


def test_layer_paths_mark_outliers_instead_of_clipping_silently():
    coords = np.zeros((12, 2, 2), dtype=np.float32)
    scores = np.r_[np.linspace(-1, 1, 11), -495.0]
    fig = charts.layer_path_figure(
        coords, [0, 1], [f"k{i}" for i in range(12)], scores=scores, color_by="score"
    )
    out = _trace(fig, "outliers")
    assert len(out.x) == 2 and set(out.customdata) == {"k11"}  # both layers of the outlier trajectory
    assert "OUTLIER" in out.hovertext[0] and "-495" in out.hovertext[0]


def test_token_paths_by_label():
    fig = charts.token_path_figure(
        np.zeros((1, 4, 2), dtype=np.float32),
        [3],
        np.array([0, 0, 1, 1]),
        ["a", "b"],
        ["t"] * 4,
        labels=["safe", "unsafe"],
        animate=False,
    )
    assert _hex(_trace(fig, "unsafe").marker.color) == UNSAFE


def test_heatmap_resolves_an_unsafe_token_and_marks_the_sink_token():
    p = np.array([[0.05, 0.5, 1.0], [0.1, 0.2, 0.97]])
    fig = charts.token_layer_heatmap(p, ["a", "b", "c"], [0, 1], kind="probability", score_name="P(unsafe)")
    hm = fig.data[0]
    assert (hm.zmin, hm.zmax) == (0.0, 1.0)
    assert _resolved(hm.colorscale, 1.0, hm.zmin, hm.zmax) == UNSAFE
    assert _resolved(hm.colorscale, 0.0, hm.zmin, hm.zmax) == SAFE
    norms = np.r_[[495.0], np.linspace(1.0, 2.0, 15)][None, :]
    fig = charts.token_layer_heatmap(norms, [f"t{i}" for i in range(16)], [3], kind="magnitude")
    hm, out = fig.data
    assert hm.zmax == 2.0 and "true range 1 … 495" in hm.colorbar.title.text
    assert list(out.x) == [0] and "outlier" in out.name


def test_token_html_paints_unsafe_tokens_and_outlines_outliers():
    html = charts.token_html(["ok", "bad"], np.array([0.0, 1.0]), kind="probability", score_name="P(unsafe)")
    assert f"background:{UNSAFE}" in html and f"background:{SAFE}" in html
    axis = charts.token_html(
        [f"t{i}" for i in range(12)], np.r_[np.linspace(-1, 1, 11), -495.0], kind="axis", score_name="axis"
    )
    assert axis.count("outline:2px dashed") == 1 and "OUTLIER" in axis and "true range -495" in axis


def test_alignment_bars_probe_histograms_and_scatter():
    bars = align_charts.states_knew_figure(
        ["harmful", "benign"], [True, False], [0.2, 0.1], [None, None], [0.9, 0.1], [None, None]
    )
    assert _hex(bars.data[1].marker.color[0]) == UNSAFE and _hex(bars.data[1].marker.color[1]) == SAFE
    hist = score_histogram(np.array([0.1, 0.9]), ["safe", "unsafe"])
    assert _hex(_trace(hist, "unsafe").marker.color) == UNSAFE
    scatter = prototype_scatter(np.array([[0.1, 0.9], [0.9, 0.1]]), ["unsafe", "safe"])
    assert _hex(_trace(scatter, "unsafe").marker.color) == UNSAFE


def test_monitor_colours_p_unsafe_with_the_palette():
    assert _hex(score_colour(1.0)) == UNSAFE and _hex(score_colour(0.0)) == SAFE
    toks = [
        TokenScore(
            position=5, token_id=1, text="bad", score=1.0, generated=True, crossed=True, steering=False
        )
    ]
    assert f"background:{UNSAFE}" in tokens_html(toks, 0.5)
    plain = tokens_html(toks, 0.5, coloured=False)
    assert f"background:{UNSAFE}" not in plain.split("P(unsafe) =")[0] and "Not coloured" in plain
    fig = score_trace_figure(toks, 0.5)
    assert _hex(fig.layout.shapes[0].line.color) == UNSAFE


def test_label_counts_repdiff_and_the_html_report():
    fig = counts_figure(
        [CategoryCount(category="c", label="unsafe", n=3), CategoryCount(category="c", label="safe", n=1)]
    )
    assert _hex(_trace(fig, "unsafe").marker.color) == UNSAFE
    z = np.zeros((2, 2))
    rep = pca_figure(z, z, ["harmful", "benign"], ("a", "b"), 3)
    assert _hex(_trace(rep, "a · harmful").marker.color) == UNSAFE
    assert _hex(_trace(rep, "a · benign").marker.color) == SAFE
    assert f".bad{{color:{UNSAFE}}}" in html_report.CSS and f".good{{color:{SAFE}}}" in html_report.CSS
    assert SAFE not in html_report.PALETTE and UNSAFE not in html_report.PALETTE  # subjects are not verdicts
    assert colours_at([[0, SAFE], [1, UNSAFE]], [1.0]) == [UNSAFE]
