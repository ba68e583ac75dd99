import json

import numpy as np

from app import charts
from core.explore.palette import color_range

EVIL = "<script>alert(1)</script>"


def test_token_html_escapes_tokens_titles_and_marks_spans():
    html = charts.token_html(
        ["Hi", EVIL, "\n", "<answer>"],
        np.array([0.0, 1.0, 2.0, 3.0]),
        score_name="norm",
        layer=3,
        spans=[("prompt", 0, 2), ("answer", 3, 4)],
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;answer&gt;" in html and "answer ▸" in html and "prompt ▸" in html
    assert html.count('title="#') == 4 and "norm at layer 3" in html
    assert "↵<br>" in html  # newlines visible and kept


def test_colour_range_covers_the_bulk_and_counts_the_extreme_token_as_an_outlier():
    s = np.concatenate([np.linspace(0, 1, 99), [1e4]])
    cr = color_range(s, "magnitude")
    assert (cr.lo, cr.hi) == (0.0, 1.0) and cr.true_hi == 1e4 and cr.n_outliers == 1
    assert "true range 0 … 1e+04" in cr.describe() and "1 outlier" in cr.describe()
    cr = color_range(np.concatenate([np.linspace(-1, 1, 99), [-495]]), "axis")
    assert cr.lo == -cr.hi and cr.hi == 1.0 and cr.true_lo == -495 and cr.n_outliers == 1


def test_heatmap_hover_is_escaped_and_spans_drawn():
    fig = charts.token_layer_heatmap(
        np.arange(12, dtype=float).reshape(3, 4),
        ["a", EVIL, "c", "d"],
        [0, 5, 10],
        [("prompt", 0, 2), ("completion", 2, 4)],
    )
    spec = json.loads(fig.to_json())
    custom = spec["data"][0]["customdata"]
    assert custom[0][1] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert [a["text"] for a in spec["layout"]["annotations"]] == ["prompt", "completion"]
    assert spec["layout"]["yaxis"]["ticktext"] == ["0", "5", "10"]


def test_layer_paths_one_trace_per_label_with_gaps_and_keys():
    coords = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    fig = charts.layer_path_figure(
        coords,
        [0, 1, 2, 3],
        ["k0", "k1", "k2"],
        labels=["safe", None, "safe"],
        hover=[f"p {EVIL}\n→ c", "q", "r"],
    )
    assert [t.name for t in fig.data] == ["safe (2)", "unlabelled (1)"]
    safe = fig.data[0]
    assert len(safe.x) == 2 * 5 and np.isnan(safe.x[4])  # 4 layers + 1 gap per trajectory
    assert list(safe.customdata[:4]) == ["k0"] * 4 and list(safe.customdata[5:9]) == ["k2"] * 4
    assert "&lt;script&gt;" in safe.hovertext[0] and "<br>→ c<br>layer 0" in safe.hovertext[0]
    by_layer = charts.layer_path_figure(
        coords,
        [0, 1, 2, 3],
        ["k0", "k1", "k2"],
        color_by="layer",
        new_coords=coords[:1] + 1,
        new_names=["new one"],
    )
    assert len(by_layer.data) == 3 and by_layer.data[-1].name.startswith("★")


def test_token_paths_frames_and_per_trajectory_gaps():
    traj_index = np.array([0, 0, 1, 1, 1, 2])
    coords = np.random.default_rng(0).normal(size=(3, 6, 2)).astype(np.float32)
    fig = charts.token_path_figure(
        coords,
        [4, 8, 12],
        traj_index,
        ["a", "b", "c"],
        [f"t{i}" for i in range(6)],
        labels=["safe", "unsafe", "safe"],
        start_layer=8,
    )
    assert len(fig.frames) == 3 and [f.name for f in fig.frames] == ["4", "8", "12"]
    safe = fig.data[0]  # trajectories 0 and 2, not adjacent: still two paths
    assert len(safe.x) == 3 + 1 and np.isnan(safe.x[2])
    np.testing.assert_allclose(safe.x[:2], coords[1, :2, 0])  # start layer 8 is frame 1
    assert fig.layout.sliders[0].active == 1
    static = charts.token_path_figure(coords[1:2], [8], traj_index, ["a", "b", "c"], ["t"] * 6, animate=False)
    assert not static.frames
