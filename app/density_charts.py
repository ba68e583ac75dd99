"""The token map at scale: the density of every token at a layer (a filled contour) with a few trajectories'
paths drawn on top, instead of every path (50 answers x 96 tokens of joined lines is an unreadable hairball).

Figure builders only (plotly): inputs are arrays the Explore page already has from its fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from app.charts import NEW_COLOUR, _finish, _label_colour, _scatter, _xyz, esc

DENSITY_FROM = 12  # trajectories above which the page starts in density mode
MAX_HIGHLIGHTS = 8  # paths drawn on top of the density: more and it is a hairball again
DENSITY_SCALE = [[0.0, "rgba(255,255,255,0)"], [0.15, "#eef1f5"], [1.0, "#5b6b80"]]  # white -> slate


def default_highlights(labels: Sequence[str | None], n: int = 4) -> list[int]:
    """One trajectory per label (first of each, labelled ones first), then the next ones, up to ``n``."""
    firsts: dict[str, int] = {}
    for i, lab in enumerate(labels):
        firsts.setdefault(lab or "unlabelled", i)
    order = sorted(firsts, key=lambda s: (s == "unlabelled", s))
    picks = [firsts[lab] for lab in order][:n]
    picks += [i for i in range(len(labels)) if i not in picks][: n - len(picks)]
    return sorted(picks)


def token_density_figure(
    coords: np.ndarray,
    traj_index: np.ndarray,
    keys: Sequence[str],
    point_text: Sequence[str],
    *,
    highlight: Sequence[int],
    names: Sequence[str],
    labels: Sequence[str | None] | None = None,
    new_coords: np.ndarray | None = None,
    new_text: Sequence[str] = (),
    title: str | None = None,
) -> go.Figure:
    """``coords [n_points, 2]`` at one layer: a filled density contour of all points, and the token paths of
    the trajectories in ``highlight`` (indices into ``keys``; ``names`` their legend text) on top, coloured by
    label, with ``customdata`` = the trajectory index (a click opens it). ``new_coords [m, 2]``: a projected
    new prompt, highlighted too. ``layout.meta["keys"]`` holds the keys."""
    labs = [lab or "unlabelled" for lab in (labels or [None] * len(keys))]
    groups = sorted(set(labs), key=lambda s: (s == "unlabelled", s))
    text_arr = np.asarray(point_text, dtype=str)
    traces: list[dict] = [
        {
            "type": "histogram2dcontour",
            "x": coords[:, 0],
            "y": coords[:, 1],
            "name": f"all {len(coords)} tokens (density)",
            "colorscale": DENSITY_SCALE,
            "contours": {"coloring": "fill", "showlines": False},
            "ncontours": 18,
            "showscale": False,
            "hoverinfo": "skip",
            "showlegend": True,
        }
    ]
    for i, name in zip(highlight, names, strict=True):
        rows = np.flatnonzero(traj_index == i)
        colour = _label_colour(labs[i], groups.index(labs[i]))
        traces.append(
            _scatter(
                2,
                len(rows),
                **_xyz(coords[rows]),
                mode="lines+markers",
                name=esc(name),
                line={"width": 1.6, "color": colour},
                marker={"size": 5, "color": colour},
                customdata=np.full(len(rows), i, dtype=np.int32),
                hovertext=text_arr[rows],
                hoverinfo="text",
            )
        )
    if new_coords is not None:
        traces.append(
            _scatter(
                2,
                len(new_coords),
                **_xyz(new_coords),
                mode="lines+markers",
                name="★ new prompt",
                line={"width": 2.5, "color": NEW_COLOUR},
                marker={"size": 8, "color": NEW_COLOUR, "symbol": "star"},
                hovertext=list(new_text),
                hoverinfo="text",
            )
        )
    fig = _finish(go.Figure(data=traces), 2, title)
    fig.update_layout(meta={"keys": list(keys)})
    return fig
