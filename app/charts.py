"""Plotly figure builders for the trace and explore views: arrays/records in, ``go.Figure`` (or HTML) out;
``line_figure`` draws the plain line charts of the other pages.

Built for fast redraws (≤ 0.3 s for 200 trajectories × 96 tokens, see benchmarks/bench_explorer.py):
trajectories are drawn as *one trace per group* with NaN gaps between paths (not one trace each), and
numpy arrays go straight into the figure (plotly serialises them as binary blocks).
Every token string shown in hover text or HTML is escaped: model output may contain ``<answer>`` etc.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from core.explore.palette import (
    INK,
    LABEL_COLOURS,
    SERIES_COLOURS,
    SPAN_COLOURS,
    ColourRange,
    color_range,
    colours_at,
    rgba,
)

NEW_COLOUR = INK
GL_ABOVE = 5000  # points per figure above which 2-D scatters use WebGL


def esc(s: str) -> str:
    """Escape a token for HTML/hover text and make whitespace visible."""
    return html.escape(s, quote=True).replace("\n", "↵")


def esc_lines(s: str) -> str:
    """Escape plain text for plotly hover text, keeping its line breaks."""
    return html.escape(s, quote=True).replace("\n", "<br>")


def line_figure(
    lines: Iterable[tuple[str, Any, Any]],
    *,
    title: str | None,
    xaxis_title: str,
    yaxis_title: str,
    height: int,
    mode: str = "lines+markers",
    marker_size: int | None = None,
) -> go.Figure:
    """One line per ``(name, x, y)``, legend across the top, tight margins (room for a title if given)."""
    fig = go.Figure()
    marker = {"size": marker_size} if marker_size else None
    for name, x, y in lines:
        fig.add_trace(go.Scatter(x=x, y=y, mode=mode, name=name, marker=marker))
    fig.update_layout(
        title=title or None,
        xaxis_title=xaxis_title,
        yaxis_title=yaxis_title,
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        legend={"orientation": "h"},
    )
    return fig


def _alpha(hex_colour: str, a: float) -> str:
    return rgba(hex_colour, a)


def _label_colour(label: str, i: int) -> str:
    return LABEL_COLOURS.get(label, SERIES_COLOURS[i % len(SERIES_COLOURS)])


def _colorbar(title: str, cr: ColourRange) -> dict[str, Any]:
    """A colour bar titled with the score's name and its true range (outliers counted)."""
    return {"title": {"text": f"{title}<br><sub>{cr.describe()}</sub>", "side": "right"}}


# ---- trace view ------------------------------------------------------------------------------------
def token_layer_heatmap(
    scores: np.ndarray,
    tokens: Sequence[str],
    layers: Sequence[int],
    spans: Sequence[tuple[str, int, int]] = (),
    *,
    score_name: str = "norm",
    kind: str = "magnitude",
    title: str | None = None,
) -> go.Figure:
    """Token × layer heatmap of ``scores [n_layers, n_tokens]``; spans ``(name, start, end)`` marked on
    top. ``kind`` is the palette's score kind (probability / axis / magnitude); cells beyond the colour range
    (outliers, see ``core.explore.palette``) are marked with a cross, and the colour bar states the true
    range."""
    n_layers, n_tok = scores.shape
    toks = np.array([esc(t) for t in tokens], dtype=object)
    tick_toks = [esc(t[:12]) for t in tokens]  # cut before escaping, so no entity is cut in half
    cr = color_range(scores, kind)
    fig = go.Figure(
        go.Heatmap(
            z=scores,
            x=np.arange(n_tok),
            y=np.arange(n_layers),
            zmin=cr.lo,
            zmax=cr.hi,
            colorscale=cr.scale,
            colorbar=_colorbar(score_name, cr),
            zauto=False,
            customdata=np.broadcast_to(toks, (n_layers, n_tok)),
            text=np.broadcast_to(np.asarray(layers)[:, None], (n_layers, n_tok)),
            hovertemplate="token %{x}: <b>%{customdata}</b><br>layer %{text}<br>"
            + score_name
            + " %{z:.4g}<extra></extra>",
        )
    )
    out_y, out_x = np.nonzero(cr.outside(scores))
    if out_x.size:
        fig.add_trace(
            go.Scatter(
                x=out_x,
                y=out_y,
                mode="markers",
                name=f"outlier (beyond the colour range): {out_x.size}",
                marker={"symbol": "x-thin", "size": 9, "line": {"width": 2, "color": INK}, "color": INK},
                customdata=np.stack([toks[out_x], scores[out_y, out_x]], axis=-1),
                text=np.asarray(layers)[out_y],
                hovertemplate="OUTLIER token %{x}: <b>%{customdata[0]}</b><br>layer %{text}<br>"
                + score_name
                + " %{customdata[1]:.4g} (beyond the colour range)<extra></extra>",
                showlegend=True,
            )
        )
    shapes, annotations = [], []
    for name, s, e in spans:
        if e <= s:
            continue
        colour = SPAN_COLOURS.get(name, "#555")
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": s - 0.5,
                "x1": e - 0.5,
                "y0": 1.01,
                "y1": 1.06,
                "fillcolor": colour,
                "line": {"width": 0},
            }
        )
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": s - 0.5,
                "x1": s - 0.5,
                "y0": 0,
                "y1": 1.0,
                "line": {"color": colour, "width": 2, "dash": "dot"},
            }
        )
        annotations.append(
            {
                "xref": "x",
                "yref": "paper",
                "x": (s + e - 1) / 2,
                "y": 1.075,
                "text": name,
                "showarrow": False,
                "font": {"color": colour, "size": 12},
                "yanchor": "bottom",
            }
        )
    step = max(1, int(np.ceil(n_tok / 60)))
    fig.update_layout(
        shapes=shapes,
        annotations=annotations,
        height=max(320, 14 * n_layers + 190),
        modebar={"orientation": "v"},
        margin={"t": 70, "l": 50, "r": 20, "b": 90},
        title=title,
        xaxis={
            "title": "token",
            "tickmode": "array",
            "tickvals": list(range(0, n_tok, step)),
            "ticktext": [tick_toks[i] for i in range(0, n_tok, step)],
            "tickangle": -60,
        },
        yaxis={
            "title": "layer",
            "tickmode": "array",
            "tickvals": list(range(n_layers)),
            "ticktext": [str(x) for x in layers],
        },
    )
    return fig


def token_html(
    tokens: Sequence[str],
    scores: np.ndarray,
    *,
    score_name: str = "norm",
    layer: int | None = None,
    kind: str = "magnitude",
    spans: Sequence[tuple[str, int, int]] = (),
    crange: ColourRange | None = None,
) -> str:
    """Tokens as HTML with background colour = score, a hover title per token, span badges and a legend with
    the true range. Tokens beyond the colour range (outliers) get a dashed outline. ``crange``: share one
    colour range with a heatmap (default: from these scores)."""
    cr = crange or color_range(np.asarray(scores, dtype=float), kind)
    values = np.asarray(scores, dtype=float)
    colours = colours_at(cr.scale, cr.position(values))
    outside = cr.outside(values)
    starts = {s: name for name, s, e in spans if e > s}  # reasoning/answer come later and win over completion
    where = f" at layer {layer}" if layer is not None else ""
    parts = []
    for i, (tok, c, v, out) in enumerate(zip(tokens, colours, values, outside, strict=True)):
        if i in starts:
            col = SPAN_COLOURS.get(starts[i], "#555")
            parts.append(
                f'<span style="font-size:0.7em;color:{col};border:1px solid {col};border-radius:3px;'
                f'padding:0 3px;margin:0 3px">{html.escape(starts[i])} ▸</span>'
            )
        r, g, b = (int(c[k : k + 2], 16) for k in (1, 3, 5))
        fg = "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"
        note = " · OUTLIER: beyond the colour range" if out else ""
        title = esc(f"#{i} {tok!r} · {score_name}{where} = {float(v):.4g}{note}")
        text = esc(tok).replace("↵", "↵<br>")
        mark = f"outline:2px dashed {INK};outline-offset:-1px;" if out else ""
        parts.append(
            f'<span title="{title}" style="background:{c};color:{fg};border-radius:2px;{mark}'
            f'padding:1px 0;white-space:pre-wrap">{text}</span>'
        )
    grad = ", ".join(colours_at(cr.scale, [i / 8 for i in range(9)]))
    legend = (
        f'<div style="display:flex;align-items:center;gap:8px;font-size:0.8em;margin-top:8px">'
        f"<span>{html.escape(score_name)}{html.escape(where)}:</span><span>≤ {cr.lo:.3g}</span>"
        f'<span style="width:180px;height:12px;background:linear-gradient(to right, {grad})"></span>'
        f"<span>≥ {cr.hi:.3g}</span><span>· {html.escape(cr.describe())}"
        f"{' (dashed outline)' if cr.n_outliers else ''}</span>"
        f'<span style="opacity:0.7">(hover a token for its value)</span></div>'
    )
    return (
        f'<div style="font-family:ui-monospace,monospace;line-height:1.9;font-size:0.9em">{"".join(parts)}'
        f"</div>{legend}"
    )


# ---- explore view ------------------------------------------------------------------------------------
def _gapped(coords: np.ndarray) -> np.ndarray:
    """``[n_paths, n_steps, k] -> [n_paths*(n_steps+1), k]`` with a NaN row after each path (line gaps)."""
    n, s, k = coords.shape
    out = np.full((n, s + 1, k), np.nan, dtype=np.float32)
    out[:, :s] = coords
    return out.reshape(n * (s + 1), k)


def _gap_repeat(values: np.ndarray, n_steps: int, fill: object = None) -> np.ndarray:
    """Per-point values ``[n_paths, n_steps]`` laid out like ``_gapped`` (``fill`` in the gaps)."""
    n = values.shape[0]
    keep = fill is None or (values.dtype.kind == "U" and isinstance(fill, str))  # unicode stays fixed-width
    out = np.empty((n, n_steps + 1), dtype=values.dtype if keep else object)
    out[:, :n_steps] = values
    out[:, n_steps] = fill if fill is not None else values[:, -1]
    return out.reshape(-1)


def _scatter(dims: int, n_points: int, **kw: object) -> dict:
    """A scatter trace as a dict (see ``_figure``): SVG, WebGL above ``GL_ABOVE`` points, or 3-D."""
    if dims == 3:
        if "marker" in kw and isinstance(kw["marker"], dict):
            size = kw["marker"].get("size", 6)  # 3-D markers look twice as big: halve them
            kw["marker"] = {
                **kw["marker"],
                "size": np.asarray(size, dtype=np.float32) * 0.5 if np.ndim(size) else min(float(size), 4.0),
            }
        return {"type": "scatter3d", **kw}
    return {"type": "scattergl" if n_points > GL_ABOVE else "scatter", **kw}


def _figure(traces: list[dict], frames: list[dict] | None = None) -> go.Figure:
    """Build a figure from trace dicts without plotly's per-property validation, which is most of the build
    time for 20 000-point figures (measured 300 -> 65 ms); the inputs are arrays this module built itself."""
    try:
        return go.Figure(data=traces, frames=frames or None, _validate=False)
    except TypeError:  # a plotly without the (private) switch: same figure, validated
        return go.Figure(data=traces, frames=frames or None)


def _xyz(points: np.ndarray) -> dict[str, np.ndarray]:
    d = {"x": points[:, 0], "y": points[:, 1]}
    if points.shape[1] > 2:
        d["z"] = points[:, 2]
    return d


def layer_path_figure(
    coords: np.ndarray,
    layers: Sequence[int],
    keys: Sequence[str],
    *,
    labels: Sequence[str | None] | None = None,
    scores: np.ndarray | None = None,
    color_by: str = "label",
    hover: Sequence[str] | None = None,
    score_name: str = "score",
    score_kind: str = "axis",
    new_coords: np.ndarray | None = None,
    new_names: Sequence[str] = (),
    title: str | None = None,
) -> go.Figure:
    """Each trajectory as one path through the layers: ``coords [n_traj, n_layers, 2|3]``.

    ``color_by``: "label" (one trace per label, legend), "layer" or "score" (``scores [n_traj]`` or
    ``[n_traj, n_layers]``, of the palette kind ``score_kind``: "probability" = P(unsafe), "axis" = a signed
    safe → unsafe position centred on 0, "magnitude"). Points beyond the colour range are marked with a cross
    (an "outliers" trace); the colour bar states the true range. ``customdata`` of every point is its
    trajectory key (click to open).
    ``new_coords [m, n_layers, k]`` are projected new prompts, drawn highlighted on top.
    """
    n, nl, dims = coords.shape
    hover = list(hover) if hover is not None else [k[:8] for k in keys]
    layer_txt = np.asarray([str(x) for x in layers], dtype=object)
    # fixed-width unicode arrays: plotly copies them as one block (object arrays: element by element)
    htext = (
        np.array([[f"{esc_lines(h)}<br>layer {ly}" for ly in layer_txt] for h in hover], dtype=str)
        if n
        else np.empty((0, nl), dtype=str)
    )
    keys_arr = np.broadcast_to(np.asarray(keys, dtype=str)[:, None], (n, nl))
    # marker size grows with depth, so a path's direction (embeddings -> last layer) is visible
    sizes = np.broadcast_to(np.linspace(3, 9, nl, dtype=np.float32), (n, nl))
    traces: list[dict] = []
    line = {"width": 1.2}
    if color_by == "label":
        labs = np.array([lab or "unlabelled" for lab in (labels or [None] * n)], dtype=object)
        for i, lab in enumerate(sorted(set(labs), key=lambda s: (s == "unlabelled", s))):
            m = labs == lab
            pts = _gapped(coords[m])
            traces.append(
                _scatter(
                    dims,
                    len(pts),
                    **_xyz(pts),
                    mode="lines+markers",
                    name=f"{lab} ({m.sum()})",
                    line={**line, "color": _label_colour(lab, i)},
                    marker={"size": _gap_repeat(sizes[m], nl), "color": _label_colour(lab, i)},
                    customdata=_gap_repeat(keys_arr[m], nl, ""),
                    hovertext=_gap_repeat(htext[m], nl, ""),
                    hoverinfo="text",
                )
            )
    else:
        pts = _gapped(coords)
        if color_by == "layer":
            values = np.broadcast_to(np.asarray(layers, dtype=float), (n, nl))
            cbar, cr = "layer", color_range(np.asarray(layers, dtype=float), "magnitude")
        else:
            s = np.asarray(scores if scores is not None else np.zeros(n), dtype=float)
            values = np.broadcast_to(s[:, None], (n, nl)) if s.ndim == 1 else s
            cbar, cr = score_name, color_range(values, score_kind)
        traces.append(
            _scatter(
                dims,
                len(pts),
                **_xyz(pts),
                mode="lines",
                name="paths",
                showlegend=False,
                line={"width": 0.8, "color": "rgba(120,120,120,0.45)"},
                hoverinfo="skip",
            )
        )
        traces.append(
            _scatter(
                dims,
                len(pts),
                **_xyz(pts),
                mode="markers",
                name=cbar,
                showlegend=False,
                marker={
                    "size": _gap_repeat(sizes, nl),
                    "color": _gap_repeat(np.asarray(values, float), nl),
                    "colorscale": cr.scale,
                    "cmin": cr.lo,
                    "cmax": cr.hi,
                    "showscale": True,
                    "colorbar": _colorbar(cbar, cr) if color_by != "layer" else {"title": {"text": cbar}},
                },
                customdata=_gap_repeat(keys_arr, nl, ""),
                hovertext=_gap_repeat(htext, nl, ""),
                hoverinfo="text",
            )
        )
        out = cr.outside(values)
        if out.any():
            flat = coords[out]
            traces.append(
                _scatter(
                    dims,
                    len(flat),
                    **_xyz(flat),
                    mode="markers",
                    name=f"outliers beyond the colour range ({int(out.sum())})",
                    marker={"symbol": "x", "size": 7, "color": INK},
                    customdata=keys_arr[out],
                    hovertext=[
                        f"OUTLIER {score_name} = {v:.4g}<br>{h}"
                        for v, h in zip(values[out], htext[out], strict=True)
                    ],
                    hoverinfo="text",
                )
            )
    if new_coords is not None and len(new_coords):
        for j in range(new_coords.shape[0]):
            name = new_names[j] if j < len(new_names) else f"new prompt {j + 1}"
            traces.append(
                _scatter(
                    dims,
                    nl,
                    **_xyz(new_coords[j]),
                    mode="lines+markers+text",
                    name=f"★ {esc(name)[:40]}",
                    line={"width": 3, "color": NEW_COLOUR},
                    marker={
                        "size": 11,
                        "symbol": "star" if dims == 2 else "diamond",
                        "color": NEW_COLOUR,
                        "line": {"width": 1, "color": "#fff"},
                    },
                    text=[str(x) for x in layers],
                    textposition="top center",
                    hovertext=[f"NEW: {esc(name)}<br>layer {ly}" for ly in layers],
                    hoverinfo="text",
                )
            )
    return _finish(_figure(traces), dims, title)


def _finish(fig: go.Figure, dims: int, title: str | None) -> go.Figure:
    fig.update_layout(
        title=title,
        height=620,
        margin={"t": 50 if title else 20, "l": 10, "r": 10, "b": 10},
        legend={"itemsizing": "constant"},
        clickmode="event+select",
        dragmode="pan" if dims == 2 else "orbit",
        uirevision="explore",
    )
    if dims == 2:
        fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
        fig.update_yaxes(showticklabels=False, title=None, zeroline=False, scaleanchor="x", scaleratio=1)
    return fig


def token_context(tokens: Sequence[str], i: int, width: int = 4) -> str:
    """``… a b [c] d e …`` around token i, escaped."""
    left = "".join(tokens[max(0, i - width) : i])
    right = "".join(tokens[i + 1 : i + 1 + width])
    return f"…{esc(left)}<b>[{esc(tokens[i])}]</b>{esc(right)}…"


def token_path_figure(
    coords: np.ndarray,
    layers: Sequence[int],
    traj_index: np.ndarray,
    keys: Sequence[str],
    point_text: Sequence[str],
    *,
    labels: Sequence[str | None] | None = None,
    start_layer: int | None = None,
    animate: bool = True,
    new_coords: np.ndarray | None = None,
    new_text: Sequence[str] = (),
    title: str | None = None,
) -> go.Figure:
    """Tokens at a layer, consecutive tokens of a trajectory joined: ``coords [n_layers, n_points, 2|3]``
    from one shared fit. With ``animate`` every layer is a plotly frame (slider + play); otherwise only
    ``start_layer`` is drawn. ``point_text`` is the (escaped) hover text of each point; ``customdata`` is
    the trajectory's index into ``keys`` (``layout.meta["keys"]`` holds the keys; -1 in the gaps).
    ``new_coords [n_layers, m, k]`` is a projected new prompt, highlighted."""
    nl, n_pts, dims = coords.shape
    layers = list(layers)
    li = layers.index(start_layer) if start_layer in layers else nl - 1
    labs = np.array([lab or "unlabelled" for lab in (labels or [None] * len(keys))], dtype=object)
    point_lab = labs[traj_index]
    groups = sorted(set(point_lab), key=lambda s: (s == "unlabelled", s))
    # customdata = trajectory index (numeric: serialised as one binary block; 19 200 key strings would cost
    # ~50 ms per redraw); the keys travel once, in layout.meta
    text_arr = np.asarray(point_text, dtype=str)  # fixed-width: plotly copies it as one block
    group_rows: list[np.ndarray] = []
    traces: list[dict] = []

    def gap(values: np.ndarray, rows: np.ndarray, fill: object) -> np.ndarray:
        # a gap wherever the trajectory changes, so each trajectory is its own path inside a group trace
        b = np.flatnonzero(np.diff(traj_index[rows]) != 0) + 1
        return np.insert(values, b, fill, axis=0)

    for g_i, lab in enumerate(groups):
        rows = np.flatnonzero(point_lab == lab)
        group_rows.append(rows)
        pts = gap(coords[li, rows], rows, np.nan)
        colour = _label_colour(lab, g_i)
        traces.append(
            _scatter(
                dims,
                len(pts),
                **_xyz(pts),
                mode="lines+markers",
                name=f"{lab} ({len(set(traj_index[rows].tolist()))})",
                line={"width": 0.8, "color": _alpha(colour, 0.35)},
                marker={"size": 4, "color": colour},
                customdata=gap(traj_index[rows].astype(np.int32), rows, -1),
                hovertext=gap(text_arr[rows], rows, ""),
                hoverinfo="text",
            )
        )
    if new_coords is not None:
        traces.append(
            _scatter(
                dims,
                new_coords.shape[1],
                **_xyz(new_coords[li]),
                mode="lines+markers",
                name="★ new prompt",
                line={"width": 2.5, "color": NEW_COLOUR},
                marker={"size": 8, "color": NEW_COLOUR, "symbol": "star" if dims == 2 else "diamond"},
                hovertext=list(new_text),
                hoverinfo="text",
            )
        )
    frames = []
    if animate and nl > 1:
        for j, layer in enumerate(layers):
            data = [_xyz(gap(coords[j, rows], rows, np.nan)) for rows in group_rows]
            if new_coords is not None:
                data.append(_xyz(new_coords[j]))
            frames.append({"data": data, "name": str(layer), "traces": list(range(len(data)))})
    fig = _figure(traces, frames)
    if frames:
        redraw = dims == 3 or n_pts > GL_ABOVE
        step_args = {
            "mode": "immediate",
            "frame": {"duration": 0, "redraw": redraw},
            "transition": {"duration": 0},
        }
        fig.update_layout(
            updatemenus=[
                {
                    "type": "buttons",
                    "x": 0,
                    "y": 0,
                    "xanchor": "left",
                    "yanchor": "top",
                    "pad": {"t": 40},
                    "buttons": [
                        {
                            "label": "▶ Play",
                            "method": "animate",
                            "args": [
                                None,
                                {
                                    **step_args,
                                    "frame": {"duration": 600, "redraw": redraw},
                                    "fromcurrent": True,
                                },
                            ],
                        },
                        {
                            "label": "❚❚ Pause",
                            "method": "animate",
                            "args": [[None], {**step_args, "mode": "immediate"}],
                        },
                    ],
                }
            ],
            sliders=[
                {
                    "active": li,
                    "x": 0.15,
                    "len": 0.85,
                    "y": 0,
                    "pad": {"t": 30},
                    "currentvalue": {"prefix": "layer "},
                    "steps": [
                        {"label": str(ly), "method": "animate", "args": [[str(ly)], step_args]}
                        for ly in layers
                    ],
                }
            ],
        )
    fig = _finish(fig, dims, title)
    fig.update_layout(meta={"keys": list(keys)})
    if dims == 2 and animate and nl > 1:  # fixed axes so frames don't rescale (the map is shared)
        allc = coords.reshape(-1, 2)
        if new_coords is not None:
            allc = np.concatenate([allc, new_coords.reshape(-1, 2)])
        # robust range: a few extreme tokens (e.g. attention-sink states) must not shrink the rest to a dot;
        # the modebar's autoscale still shows everything
        lo, hi = np.nanpercentile(allc, 0.5, axis=0), np.nanpercentile(allc, 99.5, axis=0)
        pad = 0.08 * (hi - lo + 1e-6)
        fig.update_xaxes(range=[lo[0] - pad[0], hi[0] + pad[0]], autorange=False)
        fig.update_yaxes(range=[lo[1] - pad[1], hi[1] + pad[1]], autorange=False)
    return fig
