"""Live safety monitor widgets for the Trace page.

Usage on a page (two calls)::

    choice = monitor_controls(model)                 # sidebar-free controls; None when the monitor is off
    ...
    if choice is not None:
        result = monitored_generation(model, messages, settings, template, choice)
        traj = result.trajectory                     # full capture (None in guard mode "stop")
    else:
        traj = streamed_capture(...)                 # the page's normal path

While the model generates, the text streams in coloured by each token's P(unsafe) at the probe's layer, a
running gauge shows the latest score, and the first generated token at or above the threshold is flagged
("reasoning turned here"). Guard mode stops generation there or switches on a saved steering vector.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core.explore.axes import Axis
from core.explore.palette import INK, NEUTRAL, UNSAFE
from core.explore.palette import score_colour as palette_score_colour
from core.probes.artefacts import list_artefacts
from core.probes.axes import probe_axis, saved_probe_axes
from core.steer.interventions import SteeringConfig
from core.steer.monitor import MonitorResult, TokenScore, monitor_capture, monitor_generate
from core.steer.vectors import load_vector


@dataclass
class MonitorChoice:
    probe: Any  # core.probes.linear.Probe
    probe_name: str
    threshold: float
    guard: str  # off | stop | steer
    steering: tuple[Any, Any] | None = None
    axis: Axis | None = None  # which probe / layer / n / held-out AUROC colours the tokens
    coloured: bool = True  # False: the probe is unreliable (warned), tokens are not coloured by it


def monitor_controls(model: Any, key: str = "monitor") -> MonitorChoice | None:
    """Controls for the monitor; returns None when it is off or no probe exists (with a hint)."""
    on = st.toggle(
        "Live safety monitor",
        key=f"{key}_on",
        help="Score every generated token with a saved probe while the model writes.",
    )
    if not on:
        return None
    saved = {sa.name: sa for sa in saved_probe_axes(model.fingerprint)}  # best held-out AUROC first
    if not saved:
        st.info(
            "No saved probe for this model yet: train one on **Probes** and save it, "
            "then switch the monitor on."
        )
        return None
    c = st.columns([2, 1, 1, 1])
    name = c[0].selectbox("Probe", list(saved), key=f"{key}_probe", help="Default: the best saved probe")
    ps = saved[name].probes
    layer = c[1].selectbox(
        "Layer", list(ps.layers), index=list(ps.layers).index(ps.best_layer), key=f"{key}_layer"
    )
    axis = probe_axis(ps, layer, name=name)
    st.caption(axis.caption())
    coloured = True
    if axis.warning():
        st.warning(axis.warning())
        coloured = st.checkbox("Colour tokens with it anyway", key=f"{key}_anyway")
    threshold = c[2].slider("Threshold P(unsafe)", 0.05, 0.95, 0.5, 0.05, key=f"{key}_threshold")
    guard = c[3].radio(
        "Guard",
        ["off", "stop", "steer"],
        key=f"{key}_guard",
        help="When the threshold is crossed: do nothing, stop generating, or switch on steering",
    )
    steering = None
    if guard == "steer":
        vecs = [
            a.name for a in list_artefacts(kind="steering_vector") if a.model_fingerprint == model.fingerprint
        ]
        if not vecs:
            st.info("Guard 'steer' needs a saved steering vector for this model: build one on **Steer**.")
            return None
        s = st.columns([2, 1, 1])
        vname = s[0].selectbox("Steering vector", vecs, key=f"{key}_vec")
        method = s[1].radio("Method", ["add", "ablate"], key=f"{key}_method", horizontal=True)
        alpha = s[2].number_input("α", value=1.0, step=0.5, key=f"{key}_alpha")
        steering = (
            load_vector(vname, fingerprint=model.fingerprint, model_name=model.name),
            SteeringConfig(method=method, alpha=float(alpha)),
        )
    return MonitorChoice(ps.probe(layer), name, float(threshold), guard, steering, axis, coloured)


def score_colour(score: float) -> str:
    """The palette's P(unsafe) colour: safe colour at 0, grey at 0.5, unsafe colour at 1."""
    return palette_score_colour(min(max(float(score), 0.0), 1.0))


def _fg(colour: str) -> str:
    r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def tokens_html(tokens: list[TokenScore], threshold: float, *, coloured: bool = True) -> str:
    """Generated tokens coloured by P(unsafe) (``coloured=False``: an unreliable probe, no colour; the score
    stays in each token's hover title)."""
    parts = []
    for t in tokens:
        bg = score_colour(t.score) if coloured else NEUTRAL
        mark = f"outline:2px solid {INK};" if t.crossed else ""
        title = html.escape(
            f"#{t.position} {t.text!r} · P(unsafe) = {t.score:.3f}"
            + (" · crossed the threshold" if t.crossed else "")
            + (" · steered" if t.steering else "")
        )
        parts.append(
            f'<span title="{title}" style="background:{bg};color:{_fg(bg)};border-radius:2px;'
            f'{mark}white-space:pre-wrap">{html.escape(t.text)}</span>'
        )
    if not coloured:
        legend = (
            f'<div style="font-size:0.8em;margin-top:6px">Not coloured: the probe is not reliable (see the '
            f"warning); hover a token for its P(unsafe) · threshold {threshold:.2f}</div>"
        )
        return (
            f'<div style="font-family:ui-monospace,monospace;line-height:1.9">{"".join(parts)}</div>{legend}'
        )
    legend = (
        f'<div style="font-size:0.8em;margin-top:6px">P(unsafe): <span style="background:{score_colour(0)};'
        f'color:#fff;padding:0 4px">0 safe</span> <span style="background:{score_colour(0.5)};color:#000;'
        f'padding:0 4px">0.5</span> <span style="background:{score_colour(1)};color:#fff;padding:0 4px">1 '
        f"unsafe</span> · threshold {threshold:.2f} · outlined token = where it crossed</div>"
    )
    return f'<div style="font-family:ui-monospace,monospace;line-height:1.9">{"".join(parts)}</div>{legend}'


def score_trace_figure(tokens: list[TokenScore], threshold: float) -> go.Figure:
    gen = [t for t in tokens if t.generated]
    fig = go.Figure(
        go.Scatter(
            x=list(range(len(gen))),
            y=[t.score for t in gen],
            mode="lines+markers",
            text=[t.text for t in gen],
            hovertemplate="%{text!r}: %{y:.3f}<extra></extra>",
            name="P(unsafe)",
        )
    )
    fig.add_hline(y=threshold, line={"dash": "dot", "color": UNSAFE}, annotation_text="threshold")
    fig.update_layout(
        xaxis_title="generated token",
        yaxis={"title": "P(unsafe)", "range": [0, 1]},
        height=260,
        margin={"t": 20, "b": 30},
    )
    return fig


def monitored_generation(
    model: Any,
    messages: list[dict[str, str]],
    settings: Any,
    template: str,
    choice: MonitorChoice,
    *,
    capture: bool = True,
) -> MonitorResult:
    """Generate with the monitor, rendering coloured text, a gauge and the crossing flag live."""
    use_capture = capture and choice.guard != "stop"
    run = monitor_capture if use_capture else monitor_generate
    kwargs = {"template": template} if use_capture else {}
    events = run(
        model,
        messages,
        choice.probe,
        settings,
        threshold=choice.threshold,
        guard=choice.guard,
        steering=choice.steering,
        **kwargs,
    )
    st.caption(
        f"Monitor: probe `{choice.probe_name}` at layer {choice.probe.layer}, threshold "
        f"{choice.threshold:.2f}, guard {choice.guard}"
        + (f" · n = {choice.axis.n_safe} safe / {choice.axis.n_unsafe} unsafe" if choice.axis else "")
        + (
            f" · held-out AUROC {choice.axis.auroc:.2f} ({choice.axis.auroc_how})"
            if choice.axis and choice.axis.auroc is not None
            else ""
        )
    )
    gauge = st.progress(0.0, text="P(unsafe) of the latest token: —")
    text_box = st.empty()
    flag = st.empty()
    shown: list[TokenScore] = []
    last = 0.0
    result: MonitorResult | None = None
    for ev in events:
        if isinstance(ev, MonitorResult):
            result = ev
            break
        if not ev.generated:
            continue
        shown.append(ev)
        if ev.crossed:
            flag.warning(
                f"Reasoning turned at generated token {len(shown)} ({ev.text!r}): P(unsafe) = {ev.score:.2f} "
                f"≥ {choice.threshold:.2f}"
                + {"stop": " — stopping.", "steer": " — steering switched on.", "off": "."}[choice.guard]
            )
        now = time.perf_counter()
        if now - last > 0.05:  # throttle redraws
            gauge.progress(
                min(max(ev.score, 0.0), 1.0), text=f"P(unsafe) of the latest token: {ev.score:.2f}"
            )
            text_box.html(tokens_html(shown, choice.threshold, coloured=choice.coloured))
            last = now
    if shown:
        gauge.progress(
            min(max(shown[-1].score, 0.0), 1.0),
            text=f"P(unsafe) of the latest token: {shown[-1].score:.2f}"
            f" · max {max(t.score for t in shown):.2f}",
        )
    text_box.html(tokens_html(shown, choice.threshold, coloured=choice.coloured))
    assert result is not None
    if result.crossing is None:
        flag.success(f"No generated token reached P(unsafe) ≥ {choice.threshold:.2f}.")
    st.plotly_chart(score_trace_figure(result.tokens, choice.threshold), key="monitor_trace_chart")
    return result
