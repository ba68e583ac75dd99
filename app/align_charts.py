"""Plotly figures of alignment results (Audit and Jobs pages): "states knew -> model acts" bars and the
frontier of an ``align.sweep`` job, rates with Wilson intervals as asymmetric error bars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from core.explore.palette import BASE_COLOUR, LABEL_COLOURS, TUNED_COLOUR, rgba

BAR_HARMFUL, BAR_OVER_REFUSAL = 0.90, 0.05  # the bar: harmful refusal >= 90 %, over-refusal <= 5 %


def _err(rates: Sequence[float | None], cis: Sequence[Sequence[float | None] | None]) -> dict[str, Any]:
    """Asymmetric error bars from ``[low, high]`` intervals (None where a rate or its interval is missing)."""
    plus, minus = [], []
    for r, ci in zip(rates, cis, strict=True):
        lo, hi = (list(ci or []) + [None, None])[:2]
        ok = r is not None and lo is not None and hi is not None
        plus.append(hi - r if ok else None)
        minus.append(r - lo if ok else None)
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus, "thickness": 1.2}


def states_knew_figure(
    labels: Sequence[str],
    harmful: Sequence[bool],
    before: Sequence[float | None],
    before_ci: Sequence[Sequence[float | None]],
    after: Sequence[float | None],
    after_ci: Sequence[Sequence[float | None]],
    *,
    title: str | None = "Refused before vs after training, by what the probe says",
) -> go.Figure:
    """Grouped bars: per group the refusal rate before (light) and after (solid) training, with Wilson 95 %
    intervals; red = harmful requests, green = benign (the label palette). Rates are fractions."""
    colours = [LABEL_COLOURS["unsafe" if h else "safe"] for h in harmful]
    fig = go.Figure()
    for name, rates, cis, fill in (
        ("before training", before, before_ci, [rgba(c, 0.35) for c in colours]),
        ("after training", after, after_ci, colours),
    ):
        fig.add_trace(
            go.Bar(
                x=list(labels),
                y=list(rates),
                name=name,
                marker={"color": fill, "line": {"color": colours, "width": 1.5}},
                error_y=_err(rates, cis),
                hovertemplate="%{x}<br>" + name + ": %{y:.1%}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        barmode="group",
        height=360,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        legend={"orientation": "h"},
        yaxis={"title": "refused", "range": [0, 1.05], "tickformat": ".0%"},
    )
    return fig


def frontier_figure(points: Sequence[dict[str, Any]], setting: str) -> go.Figure:
    """The frontier of an ``align.sweep`` job: harmful refusal (y) against over-refusal (x) after training,
    one point per value of ``setting`` (labelled ``setting=value``), Wilson 95 % intervals both ways; the base
    model before training as a grey marker and the bar (harmful >= 90 %, over-refusal <= 5 %) shaded. Points
    without both rates are left out; intervals may be missing (e.g. points read from the live metrics)."""
    pts = [p for p in points if p.get("harmful_refusal") is not None and p.get("over_refusal") is not None]
    x = [p["over_refusal"] for p in pts]
    y = [p["harmful_refusal"] for p in pts]
    text = [f"{setting}={p.get('value')}" for p in pts]
    fig = go.Figure()
    fig.add_shape(
        type="rect",
        x0=0,
        x1=BAR_OVER_REFUSAL,
        y0=BAR_HARMFUL,
        y1=1,
        fillcolor=rgba(LABEL_COLOURS["safe"], 0.15),
        line={"width": 0},
        layer="below",
    )
    fig.add_annotation(
        x=BAR_OVER_REFUSAL,
        y=BAR_HARMFUL,
        text="the bar",
        showarrow=False,
        xanchor="left",
        yanchor="top",
        font={"size": 11, "color": LABEL_COLOURS["safe"]},
    )
    base = sorted(
        {
            (p["over_refusal_before"], p["harmful_refusal_before"])
            for p in points
            if p.get("over_refusal_before") is not None and p.get("harmful_refusal_before") is not None
        }
    )
    if base:
        fig.add_trace(
            go.Scatter(
                x=[b[0] for b in base],
                y=[b[1] for b in base],
                mode="markers+text",
                name="base model (before training)",
                text=["base"] * len(base),
                textposition="bottom center",
                marker={"size": 11, "color": BASE_COLOUR, "symbol": "diamond"},
                hovertemplate="base model<br>over-refusal %{x:.1%}<br>harmful refusal "
                "%{y:.1%}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines+markers+text",
            name=f"after training, by {setting}",
            text=text,
            # neighbouring values often land a point apart: labels alternate sides so they do not overprint
            textposition=["middle right" if i % 2 == 0 else "middle left" for i in range(len(pts))],
            line={"width": 1, "dash": "dot", "color": TUNED_COLOUR},
            marker={"size": 10, "color": TUNED_COLOUR},
            error_x=_err(x, [p.get("over_refusal_ci95") for p in pts]),
            error_y=_err(y, [p.get("harmful_refusal_ci95") for p in pts]),
            hovertemplate="%{text}<br>over-refusal %{x:.1%}<br>harmful refusal %{y:.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Frontier over {setting}: harmful refusal vs over-refusal",
        height=460,
        margin={"l": 10, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.22},
        xaxis={
            "title": "over-refusal (benign refused, lower is better)",
            "range": _frontier_x_range(pts, base),
            "tickformat": ".0%",
        },
        yaxis={"title": "harmful refusal (higher is better)", "range": [0, 1.02], "tickformat": ".0%"},
    )
    return fig


def _frontier_x_range(pts: Sequence[dict[str, Any]], base: Sequence[tuple[float, float]]) -> list[float]:
    """Over-refusal axis zoomed to the points, their intervals, the base and the bar (at least 0-20 %): a
    sweep's points crowd a corner of the unit square, where their intervals cannot be told apart."""
    xs = [BAR_OVER_REFUSAL, *(b[0] for b in base)]
    for p in pts:
        xs += [p["over_refusal"], *(v for v in (p.get("over_refusal_ci95") or []) if v is not None)]
    return [0, min(1.0, max(0.2, 1.25 * max(xs)))]
