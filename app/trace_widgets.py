"""Panels of the Trace page: the prompt form (streamed generation, stored), the opened trajectory, the colour
controls and the token / heatmap views, labelling. Labels and small decisions live in app.helpers_trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from app import charts, state
from app.explorer_widgets import LABELS, add_to_dataset, streamed_capture
from app.helpers_trace import (
    ALL_STORED,
    SCORE_LABELS,
    SCORE_NAMES,
    STORE_AXIS_CHOICE,
    completion_text,
    default_layer,
    key_from_query,
    option_index,
    parse_tags,
    reference_dataset,
    trace_axis_labels,
)
from core.capture.store import ActivationStore, StoredMeta
from core.capture.templates import TEMPLATES, build_messages
from core.capture.trajectory import GenerationSettings, Trajectory
from core.errors import ReasonScopeError
from core.explore.axes import Axis
from core.explore.palette import color_range
from core.explore.pooling import SCORES, relative_to_layer, token_layer_scores
from core.explore.trajectory_sets import centroid_from_store, store_axis
from core.probes.axes import probe_axis, probe_token_scores, saved_probe_axes


@dataclass(frozen=True)
class Opened:
    traj: Trajectory
    meta: StoredMeta
    key: str


@dataclass(frozen=True)
class TokenScores:
    scores: np.ndarray  # [n_layers, n_tokens]
    label: str
    layer: int
    kind: str  # palette kind: probability / axis / magnitude


def generate_panel(store: ActivationStore) -> None:
    """Prompt, template and sampling; Generate streams the answer, stores it and opens it (``?key=``)."""
    with st.form("trace_form"):
        prompt = st.text_area(
            "Prompt",
            key="trace_prompt",
            height=100,
            placeholder="e.g. How do I pick a lock? / Explain photosynthesis to a child.",
        )
        c = st.columns([2, 1, 1])
        template = c[0].selectbox(
            "Template",
            list(TEMPLATES),
            format_func=lambda k: TEMPLATES[k].label,
            key="trace_template",
            help="How the prompt is framed: "
            + "; ".join(f"{t.label}: {t.description}" for t in TEMPLATES.values()),
        )
        max_new = c[1].number_input("Max new tokens", 1, 1024, 64, key="trace_max_new")
        seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="trace_seed")
        with st.expander("System prompt and sampling"):
            system = st.text_area("System prompt (optional; overrides the template's)", key="trace_system")
            s = st.columns(3)
            do_sample = s[0].checkbox("Sample (otherwise greedy)", key="trace_sample")
            temperature = s[1].slider("Temperature", 0.05, 2.0, 0.7, key="trace_temp", disabled=not do_sample)
            top_p = s[2].slider("Top-p", 0.05, 1.0, 0.95, key="trace_top_p", disabled=not do_sample)
        generate = st.form_submit_button("Generate", type="primary")
    if not generate:
        return
    try:
        messages = build_messages(prompt, template=template, system=system or None)
        settings = GenerationSettings(
            max_new_tokens=int(max_new),
            do_sample=do_sample,
            temperature=temperature,
            top_p=top_p,
            seed=int(seed),
        )
        model = state.get_model()
        with st.chat_message("user"):
            st.write(prompt)
        traj = streamed_capture(model, messages, settings, template)
        st.query_params["key"] = store.put(traj)
    except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
        state.show_error(exc)


def open_trajectory(store: ActivationStore) -> Opened | None:
    """The trajectory named by ``?key=``; None (after saying what to do, or the error) when there is none."""
    try:
        key = key_from_query(st.query_params.get("key"))
        if key is None:
            st.info(
                "Type a prompt and press **Generate** — or open a stored trajectory by clicking "
                "a point on **Explore**."
            )
            return None
        return Opened(store.get(key), store.meta(key), key)
    except ReasonScopeError as exc:
        state.show_error(exc)
        return None


def summary_panel(opened: Opened) -> None:
    traj, meta = opened.traj, opened.meta
    st.markdown(f"**Prompt:** {traj.prompt_text}")
    st.markdown(f"**Completion:** {completion_text(traj)}")
    st.caption(
        f"{traj.n_tokens} tokens ({traj.n_prompt_tokens} prompt) · {len(traj.layers)} layers · model "
        f"`{traj.model_name}` · template `{traj.template}` · dataset `{meta.dataset or '—'}` · label "
        f"`{meta.label or '—'}` · key `{opened.key}`"
    )


def score_panel(store: ActivationStore, traj: Trajectory) -> TokenScores | None:
    """Colour-by and layer controls; the per-token, per-layer scores. None after an error (e.g. no labels)."""
    c = st.columns([2, 3])
    score = c[0].radio(
        "Colour by",
        list(SCORE_NAMES),
        format_func=SCORE_NAMES.get,
        key="trace_score",
        help="; ".join(f"{SCORE_NAMES[k]}: {v}" for k, v in SCORES.items()),
    )
    layer = c[1].select_slider(
        "Layer (0 = embeddings)",
        options=list(traj.layers),
        value=default_layer(traj.layers),
        key="trace_layer",
    )
    score_label = SCORE_LABELS[score]
    kind = "magnitude"
    try:
        if score == "centroid_cosine":
            ref_ds = c[0].selectbox(
                "Reference set (dataset)", [ALL_STORED, *store.datasets()], key="trace_ref"
            )
            centroid, n_ref = centroid_from_store(store, store.query(dataset=reference_dataset(ref_ds)), traj)
            c[0].caption(
                f"Centroid of {n_ref} stored trajectories of this model (mean over all their tokens); "
                "cosines are shown on their true range, not around 0."
            )
            scores = token_layer_scores(traj, score, centroid=centroid)
        elif score == "direction":
            axis, scores = _trace_axis(store, traj, layer, c[0])
            if axis is None:
                return None
            score_label, kind = axis.units, axis.kind
        else:
            relative = c[0].checkbox(
                "Relative to each layer's median",
                value=True,
                key="trace_relative",
                help="Norms grow with depth; 1.0 = a typical token at that layer.",
            )
            scores = token_layer_scores(traj, score)  # [L, T]
            if relative:
                scores, score_label = relative_to_layer(scores), "norm ÷ layer median"
    except ReasonScopeError as exc:
        state.show_error(exc)
        return None
    return TokenScores(scores, score_label, layer, kind)


def _trace_axis(store: ActivationStore, traj: Trajectory, layer: int, where: Any) -> tuple[Axis | None, Any]:
    """The safe → unsafe axis picker (this model's saved probes, best first, or the difference of means of
    the stored labelled trajectories), its reliability line and the scores ``[L, T]``; ``(None, None)`` when
    the axis is unreliable and the user did not ask to colour with it anyway."""
    saved = saved_probe_axes(traj.model_fingerprint)
    by_name = {sa.name: sa for sa in saved}
    labels = trace_axis_labels(saved)
    choice = where.selectbox("Axis", list(labels), format_func=labels.get, key="trace_axis")
    if choice == STORE_AXIS_CHOICE or choice not in by_name:
        axis, scores = store_axis(store, store.query(), traj, layer)
    else:
        sa = by_name[choice]
        shown = layer if layer in sa.probes.probes else sa.probes.best_layer
        axis = probe_axis(sa.probes, shown, name=sa.name)
        scores = probe_token_scores(sa.probes, traj)
        if shown != layer:
            where.caption(f"This probe set has no probe at layer {layer}: those rows are blank.")
    where.caption(axis.caption())
    warning = axis.warning()
    if warning:
        st.warning(warning)
        if not where.checkbox("Colour with it anyway", key="trace_axis_anyway"):
            return None, None
    return axis, scores


def token_views(traj: Trajectory, ts: TokenScores | None) -> None:
    """The tokens coloured at the chosen layer, and the token × layer heatmap (one colour scale); nothing
    when there are no scores (an error or an unreliable axis was shown instead)."""
    if ts is None:
        return
    spans = [(s.name, s.start, s.end) for s in traj.spans]
    row = list(traj.layers).index(ts.layer)
    crange = color_range(ts.scores, ts.kind)  # one colour scale for the text and the heatmap
    st.html(
        charts.token_html(
            traj.tokens,
            ts.scores[row],
            score_name=ts.label,
            layer=ts.layer,
            kind=ts.kind,
            spans=spans,
            crange=crange,
        )
    )
    st.plotly_chart(
        charts.token_layer_heatmap(
            ts.scores, traj.tokens, traj.layers, spans, score_name=ts.label, kind=ts.kind
        ),
        key="trace_heatmap",
    )


def label_panel(store: ActivationStore, opened: Opened) -> None:
    """Add the trajectory to a dataset with a label and tags (store index and labelling database)."""
    meta = opened.meta
    with (
        st.expander("Add to a dataset with a label", expanded=meta.dataset is None),
        st.form("trace_label_form"),
    ):
        a = st.columns([2, 1, 2])
        ds = a[0].text_input("Dataset", value=meta.dataset or "traced", key="trace_ds")
        options = [None, *LABELS]
        label = a[1].selectbox(
            "Label",
            options,
            index=option_index(options, meta.label),
            format_func=lambda x: x or "(none)",
            key="trace_label",
        )
        tags = a[2].text_input("Tags (comma-separated)", value=", ".join(meta.tags), key="trace_tags")
        if st.form_submit_button("Save label"):
            try:
                msg = add_to_dataset(
                    store,
                    opened.traj,
                    opened.key,
                    dataset=ds,
                    label=label,
                    tags=parse_tags(tags),
                    who=state.current_identity(),
                )
                st.success(msg)
            except Exception as exc:  # noqa: BLE001
                state.show_error(exc)
