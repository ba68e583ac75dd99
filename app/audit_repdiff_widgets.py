"""Representation diff on the Audit page: where in the network do two audited subjects differ?

Prompt-only states (last prompt token, every layer) of both subjects on the same audited prompts; per-layer
cosine distance (all / harmful / benign), optional probe-score shift, and both subjects in one shared PCA map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import state
from app.charts import line_figure
from core.evals.repdiff import joint_pca, repdiff, subject_states
from core.evals.runner import AuditResult
from core.evals.suites import Subject
from core.explore.palette import GROUP_COLOURS, UNLABELLED

COLOURS = GROUP_COLOURS  # harmful = the unsafe colour, benign = the safe colour (core.explore.palette)


def layer_figure(layers: list[int], curves: dict[str, np.ndarray], title: str, ytitle: str) -> go.Figure:
    return line_figure(
        ((name, layers, y) for name, y in curves.items()),
        title=title,
        xaxis_title="layer (0 = embeddings)",
        yaxis_title=ytitle,
        height=340,
        marker_size=5,
    )


def pca_figure(
    za: np.ndarray, zb: np.ndarray, groups: list[str], names: tuple[str, str], layer: int
) -> go.Figure:
    """Both subjects in one PCA map; a line joins each prompt's two points (how far the subject moved it)."""
    fig = go.Figure()
    for g in dict.fromkeys(groups):
        idx = [i for i, x in enumerate(groups) if x == g]
        for z, name, symbol in ((za, names[0], "circle"), (zb, names[1], "diamond")):
            fig.add_trace(
                go.Scatter(
                    x=z[idx, 0],
                    y=z[idx, 1],
                    mode="markers",
                    name=f"{name} · {g}",
                    marker={"symbol": symbol, "size": 9, "color": COLOURS.get(g, UNLABELLED)},
                )
            )
    xs, ys = [], []
    for a, b in zip(za, zb, strict=True):
        xs += [a[0], b[0], None]
        ys += [a[1], b[1], None]
    fig.add_trace(
        go.Scatter(
            x=xs, y=ys, mode="lines", line={"color": "rgba(0,0,0,0.15)"}, showlegend=False, hoverinfo="skip"
        )
    )
    fig.update_layout(
        title=f"Shared PCA of layer {layer}", height=420, margin={"l": 10, "r": 10, "t": 40, "b": 10}
    )
    return fig


def _model(spec: Any) -> Any:
    if spec == state.model_spec():
        return state.get_model()
    from core.capture.models import load_model

    return load_model(spec)  # another model: loaded for this comparison only


def repdiff_view(result: AuditResult) -> None:
    subs = [s for s in result.meta.get("subjects", []) if s.get("fingerprint")]
    if len(subs) < 2:
        st.info(
            "Representation diff compares two audited subjects: run an audit with at least two subjects "
            "(e.g. the base model and an adapter, or plain vs steered)."
        )
        return
    names = [s["name"] for s in subs]
    c = st.columns(3)
    a_name = c[0].selectbox("Subject A", names, index=0, key="audit_rd_a")
    b_name = c[1].selectbox("Subject B", names, index=1, key="audit_rd_b")
    n = c[2].number_input("Prompts (harmful + benign)", 2, 200, 16, key="audit_rd_n")
    from app.audit_widgets import _saved_probes

    probe = st.selectbox(
        "Probe set for the score shift (optional)", ["(none)", *_saved_probes()], key="audit_rd_probe"
    )
    seen: dict[str, str] = {}
    for r in result.records:
        if r.kind in ("harmful", "benign_counterpart") and r.source_prompt and not r.attack:
            seen.setdefault(r.source_prompt, "harmful" if r.kind == "harmful" else "benign")
    prompts = list(seen)[: int(n)]
    if st.button("Compare representations", key="audit_rd_go", disabled=a_name == b_name or not prompts):
        try:
            out = []
            for name in (a_name, b_name):
                subject = Subject.from_json(next(s for s in subs if s["name"] == name))
                with st.spinner(f"Capturing prompt states of {name}…"):
                    out.append(subject_states(_model(subject.model), subject, prompts))
            (xa, layers), (xb, _) = out
            state.set_audit_repdiff(
                {
                    "a": xa,
                    "b": xb,
                    "layers": list(layers),
                    "groups": [seen[p] for p in prompts],
                    "names": (a_name, b_name),
                    "probe": None if probe == "(none)" else probe,
                }
            )
        except Exception as exc:  # noqa: BLE001
            state.show_error(exc)
    if not prompts:
        st.info(
            "This audit has no harmful or benign items to compare on (run the refusal / over-refusal suites)."
        )
    got = state.get_audit_repdiff()
    if not got:
        return
    score = None
    if got.get("probe"):
        from core.probes.artefacts import load_probe_set

        try:
            ps = load_probe_set(got["probe"])
            score = lambda h, layer: ps.score(h, layer)  # noqa: E731 - P(unsafe) at that layer
        except Exception as exc:  # noqa: BLE001
            state.show_error(exc)
    d = repdiff(got["a"], got["b"], got["layers"], groups=got["groups"], score=score)
    curves = {"all prompts": d.cosine_distance, **{f"{g} only": v for g, v in d.by_group.items()}}
    st.plotly_chart(
        layer_figure(
            got["layers"],
            curves,
            f"{got['names'][1]} vs {got['names'][0]}: mean cosine distance per layer",
            "1 − cos",
        ),
        key="audit_rd_cos",
    )
    st.plotly_chart(
        layer_figure(
            got["layers"],
            {"relative shift": d.relative_shift},
            "Relative shift |B − A| / |A|",
            "relative shift",
        ),
        key="audit_rd_shift",
    )
    if d.probe_shift is not None and np.isfinite(d.probe_shift).any():
        st.plotly_chart(
            layer_figure(
                got["layers"],
                {"P(unsafe) B − A": d.probe_shift},
                f"Probe-score shift ({got['probe']})",
                "Δ P(unsafe)",
            ),
            key="audit_rd_probe_chart",
        )
    st.caption(f"Most changed layer: **{d.most_changed_layer}** (largest mean cosine distance).")
    layer = st.select_slider(
        "Layer for the shared map", options=got["layers"], value=d.most_changed_layer, key="audit_rd_layer"
    )
    za, zb = joint_pca(got["a"], got["b"], got["layers"].index(layer))
    st.plotly_chart(pca_figure(za, zb, got["groups"], got["names"], layer), key="audit_rd_pca")
