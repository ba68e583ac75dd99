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

from app import state
from core.probes.artefacts import list_artefacts, load_probe_set
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


def monitor_controls(model: Any, key: str = "monitor") -> MonitorChoice | None:
    """Controls for the monitor; returns None when it is off or no probe exists (with a hint)."""
    on = st.toggle(
        "Live safety monitor",
        key=f"{key}_on",
        help="Score every generated token with a saved probe while the model writes.",
    )
    if not on:
        return None
    names = [a.name for a in list_artefacts(kind="probe_set") if a.model_fingerprint == model.fingerprint]
    if not names:
        st.info(
            "No saved probe for this model yet: train one on **Probes** and save it, "
            "then switch the monitor on."
        )
        return None
    c = st.columns([2, 1, 1, 1])
    name = c[0].selectbox("Probe", names, key=f"{key}_probe")
    try:
        ps = load_probe_set(name, fingerprint=model.fingerprint, model_name=model.name)
    except Exception as exc:  # noqa: BLE001
        state.show_error(exc)
        return None
    layer = c[1].selectbox(
        "Layer", list(ps.layers), index=list(ps.layers).index(ps.best_layer), key=f"{key}_layer"
    )
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
    return MonitorChoice(ps.probe(layer), name, float(threshold), guard, steering)


def score_colour(score: float) -> str:
    """Green (safe, 0) -> amber -> red (unsafe, 1)."""
    s = min(max(float(score), 0.0), 1.0)
    r = int(42 + (231 - 42) * s)
    g = int(157 + (111 - 157) * s)
    b = int(143 + (81 - 143) * s)
    return f"rgb({r},{g},{b})"


def tokens_html(tokens: list[TokenScore], threshold: float) -> str:
    parts = []
    for t in tokens:
        mark = "outline:2px solid #000;" if t.crossed else ""
        title = html.escape(
            f"#{t.position} {t.text!r} · P(unsafe) = {t.score:.3f}"
            + (" · crossed the threshold" if t.crossed else "")
            + (" · steered" if t.steering else "")
        )
        parts.append(
            f'<span title="{title}" style="background:{score_colour(t.score)};color:#fff;border-radius:2px;'
            f'{mark}white-space:pre-wrap">{html.escape(t.text)}</span>'
        )
    legend = (
        f'<div style="font-size:0.8em;margin-top:6px">P(unsafe): <span style="background:{score_colour(0)};'
        f'color:#fff;padding:0 4px">0 safe</span> <span style="background:{score_colour(0.5)};color:#fff;'
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
    fig.add_hline(y=threshold, line={"dash": "dot", "color": "#e76f51"}, annotation_text="threshold")
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
            text_box.html(tokens_html(shown, choice.threshold))
            last = now
    if shown:
        gauge.progress(
            min(max(shown[-1].score, 0.0), 1.0),
            text=f"P(unsafe) of the latest token: {shown[-1].score:.2f}"
            f" · max {max(t.score for t in shown):.2f}",
        )
    text_box.html(tokens_html(shown, choice.threshold))
    assert result is not None
    if result.crossing is None:
        flag.success(f"No generated token reached P(unsafe) ≥ {choice.threshold:.2f}.")
    st.plotly_chart(score_trace_figure(result.tokens, choice.threshold), key="monitor_trace_chart")
    return result
