"""app/align_charts.py: the frontier and "states knew" figures."""

import numpy as np

from app import align_charts


def test_frontier_figure_points_errors_base_and_bar():
    from tests.align_report_fakes import frontier_points

    pts = frontier_points()
    fig = align_charts.frontier_figure(pts, "sft_epochs")
    base, tuned = fig.data
    assert list(tuned.x) == [p["over_refusal"] for p in pts]
    assert list(tuned.y) == [p["harmful_refusal"] for p in pts]
    np.testing.assert_allclose(
        tuned.error_y.array, [p["harmful_refusal_ci95"][1] - p["harmful_refusal"] for p in pts]
    )
    np.testing.assert_allclose(
        tuned.error_y.arrayminus, [p["harmful_refusal"] - p["harmful_refusal_ci95"][0] for p in pts]
    )
    np.testing.assert_allclose(
        tuned.error_x.array, [p["over_refusal_ci95"][1] - p["over_refusal"] for p in pts]
    )
    np.testing.assert_allclose(
        tuned.error_x.arrayminus, [p["over_refusal"] - p["over_refusal_ci95"][0] for p in pts]
    )
    assert list(tuned.text) == ["sft_epochs=0.5", "sft_epochs=1.0", "sft_epochs=2.0"]
    assert (list(base.x), list(base.y)) == ([0.02], [0.4]) and base.marker.color == align_charts.BASE_COLOUR
    (bar,) = fig.layout.shapes
    assert (bar.x0, bar.x1, bar.y0, bar.y1) == (0, 0.05, 0.9, 1)
    # zoomed to the widest interval (0.15 + 0.06) with a quarter to spare, never past 100 %
    assert fig.layout.xaxis.range[0] == 0 and abs(fig.layout.xaxis.range[1] - 1.25 * 0.21) < 1e-9
    assert fig.layout.xaxis.tickformat == ".0%"
    assert list(tuned.textposition) == ["middle right", "middle left", "middle right"]
    assert fig.layout.yaxis.tickformat == ".0%"
    # points from the live metrics: no intervals, no base yet, an unfinished point left out
    live = [{"value": 1, "harmful_refusal": 0.5, "over_refusal": 0.1}, {"value": 2, "harmful_refusal": 0.7}]
    (only,) = align_charts.frontier_figure(live, "beta").data
    assert list(only.x) == [0.1] and list(only.error_y.array) == [None] and list(only.text) == ["beta=1"]


def test_states_knew_figure_colours_and_errors():
    fig = align_charts.states_knew_figure(
        ["h flagged", "b flagged"],
        [True, False],
        [0.5, None],
        [(0.3, 0.7), (None, None)],
        [0.9, 0.1],
        [(0.8, 0.95), (0.0, 0.3)],
    )
    before, after = fig.data
    assert list(after.y) == [0.9, 0.1] and list(before.y) == [0.5, None]
    assert list(after.marker.color) == [
        align_charts.LABEL_COLOURS["unsafe"],
        align_charts.LABEL_COLOURS["safe"],
    ]
    np.testing.assert_allclose(after.error_y.array, [0.05, 0.2])
    np.testing.assert_allclose(after.error_y.arrayminus, [0.1, 0.1])
    assert list(before.error_y.array)[1] is None and fig.layout.barmode == "group"
