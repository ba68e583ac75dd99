"""Panels of the Trace page: the prompt form (streamed generation, stored), the opened trajectory, the colour
controls and the token / heatmap views, labelling. Labels and small decisions live in app.helpers_trace."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from app import charts, state
from app.explorer_widgets import LABELS, add_to_dataset, streamed_capture
from app.helpers_trace import (
    ALL_STORED,
    SCORE_LABELS,
    SCORE_NAMES,
    completion_text,
    default_layer,
    key_from_query,
    option_index,
    parse_tags,
    reference_dataset,
)
from core.capture.store import ActivationStore, StoredMeta
from core.capture.templates import TEMPLATES, build_messages
from core.capture.trajectory import GenerationSettings, Trajectory
from core.errors import ReasonScopeError
from core.explore.pooling import SCORES, class_axis_scores, relative_to_layer, token_layer_scores
from core.explore.trajectory_sets import centroid_from_store, class_means_from_store


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
    diverging: bool


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
    centroid = None
    score_label = SCORE_LABELS[score]
    try:
        if score == "centroid_cosine":
            ref_ds = c[0].selectbox(
                "Reference set (dataset)", [ALL_STORED, *store.datasets()], key="trace_ref"
            )
            centroid, n_ref = centroid_from_store(store, store.query(dataset=reference_dataset(ref_ds)), traj)
            c[0].caption(
                f"Centroid of {n_ref} stored trajectories of this model (mean over all their tokens)."
            )
        elif score == "direction":
            pos_mean, neg_mean, n_pos, n_neg = class_means_from_store(store, store.query(), traj)
            c[0].caption(
                f"Per layer: −1 = the mean generated-token state of {n_neg} *safe*, +1 = of {n_pos} "
                "*unsafe* stored trajectories of this model (difference of means; calibrated on generated "
                "tokens). Saved probe directions appear here once the Probes page has trained one."
            )
        else:
            relative = c[0].checkbox(
                "Relative to each layer's median",
                value=True,
                key="trace_relative",
                help="Norms grow with depth; 1.0 = a typical token at that layer.",
            )
        scores = (
            class_axis_scores(traj.hidden, pos_mean, neg_mean)
            if score == "direction"
            else token_layer_scores(traj, score, centroid=centroid)
        )  # [L, T]
        if score == "norm" and relative:
            scores, score_label = relative_to_layer(scores), "norm ÷ layer median"
    except ReasonScopeError as exc:
        state.show_error(exc)
        return None
    return TokenScores(scores, score_label, layer, score != "norm")


def token_views(traj: Trajectory, ts: TokenScores) -> None:
    """The tokens coloured at the chosen layer, and the token × layer heatmap (one colour scale)."""
    spans = [(s.name, s.start, s.end) for s in traj.spans]
    row = list(traj.layers).index(ts.layer)
    lo_hi = charts.score_range(ts.scores, ts.diverging)  # one colour scale for the text and the heatmap
    st.html(
        charts.token_html(
            traj.tokens,
            ts.scores[row],
            score_name=ts.label,
            layer=ts.layer,
            diverging=ts.diverging,
            spans=spans,
            vrange=lo_hi,
        )
    )
    st.plotly_chart(
        charts.token_layer_heatmap(
            ts.scores, traj.tokens, traj.layers, spans, score_name=ts.label, diverging=ts.diverging
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
