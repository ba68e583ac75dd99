"""The story's pictures: plotly figures built from ``core.story.read.Story`` data, shared by the Story page
and the offline export (so the two cannot drift). Colours come from ``core.explore.palette`` only; fonts are
large because these are shown on a projector."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.explore.palette import (
    BASE_COLOUR,
    GROUP_COLOURS,
    INK,
    SAFE,
    SAFE_UNSAFE,
    SERIES_COLOURS,
    TUNED_COLOUR,
    UNSAFE,
)

FONT = {"size": 18}
SUBJECT_COLOURS = {"base": BASE_COLOUR, "tuned": TUNED_COLOUR}


def _style(fig: go.Figure, height: int = 420, **layout: Any) -> go.Figure:
    margin = {"l": 60, "r": 20, "t": 60, "b": 50, **layout.pop("margin", {})}
    fig.update_layout(font=FONT, height=height, margin=margin, template="plotly_white", **layout)
    return fig


def _short(tok: str) -> str:
    t = tok.replace("\n", "⏎").replace("Ġ", " ").replace("▁", " ")
    return t if len(t) <= 10 else t[:9] + "…"


def grids_figure(grids: dict[str, Any]) -> go.Figure:
    """Token x layer P(unsafe) of the two prompts, one heatmap each, on the fixed safe -> unsafe scale. For
    bundles that store them: a line before the first token the probe pools, and one last column, the probe's
    read -- P(unsafe) of the pooled state it was trained on, per layer (a gap column sets it apart)."""
    names = [k for k in ("harmful", "benign") if k in grids]
    fig = make_subplots(
        rows=len(names), cols=1, subplot_titles=[f"{n} prompt" for n in names], vertical_spacing=0.22
    )
    for i, name in enumerate(names, start=1):
        g = grids[name]
        labels = [_short(t) for t in g["tokens"]]
        z = [list(row) for row in g["p_unsafe"]]
        if "read" in g:
            labels += ["", "READ"]
            z = [row + [None, r] for row, r in zip(z, g["read"], strict=True)]
        x = list(range(len(labels)))
        fig.add_heatmap(
            z=z,
            x=x,
            y=g["layers"],
            zmin=0,
            zmax=1,
            colorscale=SAFE_UNSAFE,
            colorbar={"title": "P(unsafe)"},
            showscale=i == 1,
            customdata=[labels] * len(g["layers"]),
            hovertemplate="%{customdata}<br>layer %{y}<br>P(unsafe) %{z:.2f}<extra></extra>",
            row=i,
            col=1,
        )
        fig.update_xaxes(
            tickmode="array", tickvals=x, ticktext=labels, tickangle=-60, tickfont={"size": 11}, row=i, col=1
        )
        fig.update_yaxes(title_text="layer", row=i, col=1)
        if g.get("read_from") is not None:
            fig.add_vline(x=g["read_from"] - 0.5, line={"color": INK, "width": 3}, row=i, col=1)
    return _style(fig, height=340 * len(names) + 80, title="P(unsafe) per token (→) and layer (↑)")


def auroc_figure(auroc: dict[str, list[float | None]], layer: int) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(
        x=auroc["layers"],
        y=auroc["mean"],
        name="cross-validated",
        mode="lines+markers",
        line={"color": SERIES_COLOURS[0], "width": 3},
    )
    if any(v is not None for v in auroc.get("heldout", [])):
        fig.add_scatter(
            x=auroc["layers"],
            y=auroc["heldout"],
            name="validation",
            mode="lines+markers",
            line={"color": SERIES_COLOURS[1], "width": 3, "dash": "dot"},
        )
    fig.add_vline(x=layer, line={"color": INK, "dash": "dash"}, annotation_text=f"probe layer {layer}")
    fig.add_hline(y=0.5, line={"color": BASE_COLOUR, "dash": "dot"}, annotation_text="chance")
    return _style(
        fig,
        title="How well each layer separates harmful from benign (AUROC)",
        xaxis_title="layer",
        yaxis={"title": "AUROC", "range": [0.4, 1.02]},
        legend={"orientation": "h", "y": -0.2},
    )


def monitor_figure(monitor: dict[str, Any]) -> go.Figure:
    """Per-token P(unsafe) of the monitored generation; prompt tokens grey, the crossing marked."""
    toks = monitor["tokens"]
    fig = go.Figure()
    for gen, name, colour in ((False, "prompt", BASE_COLOUR), (True, "answer", UNSAFE)):
        sel = [t for t in toks if t["generated"] == gen]
        fig.add_scatter(
            x=[t["position"] for t in sel],
            y=[t["score"] for t in sel],
            mode="lines+markers",
            name=name,
            line={"color": colour, "width": 3},
            text=[t["text"] for t in sel],
            hovertemplate="%{text}<br>P(unsafe) %{y:.2f}<extra></extra>",
        )
    fig.add_hline(y=monitor["threshold"], line={"color": INK, "dash": "dash"}, annotation_text="threshold")
    crossing = monitor.get("crossing")
    if crossing is None:  # older bundles: the first generated token over the threshold (the monitor's rule)
        thr = monitor["threshold"]
        crossing = next((t["position"] for t in toks if t["generated"] and t["score"] >= thr), None)
    if crossing is not None:
        fig.add_vline(x=crossing, line={"color": UNSAFE, "dash": "dot"}, annotation_text="guard stops here")
    return _style(
        fig,
        title=f"Live monitor: probe at layer {monitor['layer']}",
        xaxis_title="token",
        yaxis={"title": "P(unsafe)", "range": [0, 1.05]},
        legend={"orientation": "h", "y": -0.2},
    )


CURVE_SUBTITLES = {
    "Harmful refusal": "held-out monitor batch: harmful refused",
    "Over-refusal": "held-out monitor batch: benign refused",
}


def _curve_subtitle(panel: str, metric: str) -> str:
    return CURVE_SUBTITLES[panel] if panel in CURVE_SUBTITLES and "monitor/" in metric else metric


def curves_figure(curves: dict[str, dict[str, Any]]) -> go.Figure:
    """One panel per training curve; rates on a fixed 0-100 % axis; a dotted line where GRPO follows the
    supervised warm start."""
    names = list(curves)
    fig = make_subplots(
        rows=1,
        cols=max(1, len(names)),
        subplot_titles=[f"{n}<br><sub>{_curve_subtitle(n, curves[n]['metric'])}</sub>" for n in names],
        horizontal_spacing=0.07,
    )
    for i, name in enumerate(names, start=1):
        c = curves[name]
        colour = {"Harmful refusal": UNSAFE, "Over-refusal": SAFE}.get(name, SERIES_COLOURS[0])
        few = len(c["step"]) <= 12
        fig.add_scatter(
            x=c["step"],
            y=c["value"],
            mode="lines+markers" if few else "lines",
            name=name,
            line={"color": colour, "width": 3 if few else 1.5},
            marker={"size": 9},
            hovertemplate=f"{c['metric']}<br>step %{{x}}: %{{y:.3f}}<extra></extra>",
            showlegend=False,
            row=1,
            col=i,
        )
        if name in CURVE_SUBTITLES:  # shares
            fig.update_yaxes(range=[-0.03, 1.05], tickformat=".0%", row=1, col=i)
        end = c.get("phase_end")
        if end:
            fig.add_vline(
                x=end + 0.5,
                line={"color": INK, "dash": "dot"},
                annotation_text="GRPO →" if i == 1 else "",
                annotation_position="top left",  # inside its own panel, not over the next one
                row=1,
                col=i,
            )
        if end and name != "Reward":  # the joined timeline: every phase on the same axis
            fig.update_xaxes(range=[0, max(max(x["step"]) for x in curves.values()) + 2], row=1, col=i)
        fig.update_xaxes(title_text="training step", row=1, col=i)
    phases = next((c.get("phase_end") for c in curves.values() if c.get("phase_end")), None)
    title = "Training, from the job's event log" + (
        f" (warm start: steps 1-{phases}, then GRPO)" if phases else ""
    )
    return _style(fig, height=420, title=title, margin={"t": 110})


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def scorecard_figure(rates: dict[str, Any]) -> go.Figure:
    """Base vs tuned refusal rates per suite with their 95 % intervals (report.json ``rates``)."""
    fig = go.Figure()
    titles = {"refusal": "harmful refused", "over_refusal": "benign refused"}
    for subj in ("base", "tuned"):
        rows = [(titles[s], rates.get(f"{subj}/{s}")) for s in titles if rates.get(f"{subj}/{s}")]
        fig.add_bar(
            name=subj,
            x=[t for t, _ in rows],
            y=[_pct(r["rate"]) for _, r in rows],
            marker_color=SUBJECT_COLOURS[subj],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [_pct(r["ci95"][1] - r["rate"]) for _, r in rows],
                "arrayminus": [_pct(r["rate"] - r["ci95"][0]) for _, r in rows],
            },
            text=[f"{100 * r['rate']:.1f} %" for _, r in rows],
            textposition="outside",
            customdata=[[r["n"]] for _, r in rows],
            hovertemplate="%{x}: %{y:.1f} %% (n = %{customdata[0]})<extra>" + subj + "</extra>",
        )
    return _style(
        fig,
        barmode="group",
        title="Validation split: before vs after (95 % CI)",
        yaxis={"title": "%", "range": [0, 105]},
        legend={"orientation": "h", "y": -0.15},
    )


def repdiff_figure(repdiff: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    for key, name, colour in (
        ("cos_distance_harmful", "harmful", GROUP_COLOURS["harmful"]),
        ("cos_distance_benign", "benign", GROUP_COLOURS["benign"]),
        ("cos_distance", "all", SERIES_COLOURS[0]),
    ):
        if repdiff.get(key) is not None and (key != "cos_distance" or "cos_distance_harmful" not in repdiff):
            fig.add_scatter(
                x=repdiff["layers"],
                y=repdiff[key],
                mode="lines+markers",
                name=name,
                line={"color": colour, "width": 3},
            )
    if repdiff.get("most_changed_layer") is not None:
        fig.add_vline(
            x=repdiff["most_changed_layer"],
            line={"color": INK, "dash": "dash"},
            annotation_text="most changed",
        )
    return _style(
        fig,
        title="How far each layer moved (base → tuned)",
        xaxis_title="layer",
        yaxis_title="cosine distance",
        legend={"orientation": "h", "y": -0.2},
    )


def map_figure(m: dict[str, Any]) -> go.Figure:
    """Layer paths of the same prompts, base (grey, dotted) and tuned (blue), ending in a marker coloured by
    the prompt's kind."""
    fig = go.Figure()
    paths: dict[tuple[int, str], list[tuple[int, list[float]]]] = {}
    for row, xy in zip(m["rows"], m["coords"], strict=True):
        paths.setdefault((row["prompt"], row["subject"]), []).append((row["layer"], xy))
    kinds = {r["prompt"]: r["kind"] for r in m["rows"]}
    shown: set[str] = set()
    for (prompt, subj), pts in sorted(paths.items()):
        pts.sort()
        name = f"{subj}"
        fig.add_scatter(
            x=[p[1][0] for p in pts],
            y=[p[1][1] for p in pts],
            mode="lines+markers",
            name=name,
            legendgroup=subj,
            showlegend=subj not in shown,
            line={
                "color": SUBJECT_COLOURS.get(subj, INK),
                "width": 2.5,
                "dash": "dot" if subj == "base" else "solid",
            },
            marker={
                "size": [6] * (len(pts) - 1) + [16],
                "color": GROUP_COLOURS.get(kinds[prompt], INK),
                "line": {"color": INK, "width": 1},
            },
            text=[f"{kinds[prompt]} prompt {prompt} · {subj} · layer {p[0]}" for p in pts],
            hovertemplate="%{text}<extra></extra>",
        )
        shown.add(subj)
    return _style(
        fig,
        height=480,
        title=f"Same prompts, layer by layer ({m.get('method', 'pca').upper()} map)",
        xaxis={"showticklabels": False},
        yaxis={"showticklabels": False},
        legend={"orientation": "h", "y": -0.1},
    )
