"""Panels of the Explore page: the trajectory selection, map controls, the fitted map (click a point to open
it in Trace), opening a trajectory, projecting a new prompt. Decisions live in core.explore.views /
core.explore.selection and app.helpers_explore; projected prompts are kept through app.state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import charts, density_charts, state
from app import explore_quick_widgets as qw
from app.explorer_widgets import EMPTY_STORE, StageDisplay, trajectory_filter
from app.helpers_explore import (
    BEST_LAYER,
    DIFF_MEANS_CHOICE,
    axis_labels,
    axis_layer_label,
    fit_caption,
    layer_entry,
    layer_overlay,
    missing_message,
    probe_layer_options,
    projected_caption,
    token_entry,
    token_overlay,
    token_point_text,
)
from core.capture.store import ActivationStore, StoredMeta
from core.capture.templates import TEMPLATES, build_messages
from core.errors import InputError, ReasonScopeError
from core.explore.axes import Axis
from core.explore.pooling import POOLING_HELP, POOLINGS, common_layers
from core.explore.projection import Fit, ProjectionConfig, ProjectionManager, default_manager
from core.explore.selection import selected_keys
from core.explore.trajectory_sets import (
    LayerPaths,
    TokenPaths,
    TrajSet,
    fit_layer_paths,
    fit_token_paths,
    layer_paths_key,
    load_set,
    project_layer_path,
    project_token_path,
    token_paths_key,
)
from core.explore.views import COLOUR_CHOICES, color_mode, default_frames, frame_window, selection_axis
from core.probes.axes import probe_axis, probe_trajectory_scores, saved_probe_axes

VIEWS = ("Layer paths", "Token paths at a layer")
TRACE_PAGE = "app_pages/trace.py"


@dataclass(frozen=True)
class MapControls:
    view: str  # one of VIEWS
    method: str  # "UMAP" | "PCA" (as shown)
    config: ProjectionConfig
    normalize: bool
    progressive: bool = True  # UMAP not fitted yet: show PCA at once, fit UMAP in the background

    @property
    def layer_paths(self) -> bool:
        return self.view == VIEWS[0]


@dataclass(frozen=True)
class MapView:
    """The map on screen: its fit and the layer or token paths it was drawn from."""

    pm: ProjectionManager
    fit: Fit
    paths: LayerPaths | TokenPaths


def selection_panel(store: ActivationStore) -> list[StoredMeta] | None:
    """Filters over the store; None (after saying what to do) when the store is empty or nothing matches."""
    if not store.query(limit=1):
        st.info(EMPTY_STORE)
        return None
    metas, _ = trajectory_filter(store, "explore")
    if not metas:
        st.info("No stored trajectories match these filters — widen them, or trace / import more.")
        return None
    return metas


def map_controls() -> MapControls:
    """View, projection method, dimensions and projection parameters."""
    c = st.columns([2.2, 1.4, 1.2])
    view = c[0].radio("View", list(VIEWS), horizontal=True, key="explore_view")
    method = c[1].radio(
        "Projection",
        ["UMAP", "PCA"],
        horizontal=True,
        key="explore_method",
        help="UMAP keeps neighbourhoods; a map not fitted yet shows PCA first while UMAP fits in the "
        "background (its compiled kernels and fits are cached on disk). PCA is instant and linear.",
    )
    dims = c[2].radio(
        "Dimensions",
        [2, 3],
        horizontal=True,
        key="explore_dims",
        help="Click-to-open works on 2-D maps; on 3-D use 'Open a trajectory' below.",
    )
    with st.expander("Projection parameters"):
        p = st.columns(5)
        n_neighbors = p[0].slider(
            "n_neighbors", 2, 100, 15, key="explore_nn", help="UMAP: neighbourhood size"
        )
        min_dist = p[1].slider("min_dist", 0.0, 1.0, 0.1, 0.05, key="explore_min_dist")
        metric = p[2].selectbox("metric", ["euclidean", "cosine"], key="explore_metric")
        seed = p[3].number_input("seed", 0, 2**31 - 1, 0, key="explore_seed")
        normalize = p[4].checkbox(
            "Normalise each layer",
            value=True,
            key="explore_normalize",
            help="Centre and scale every layer before projecting. Depth changes the hidden "
            "state's offset and size far more than the prompt does; normalised maps show "
            "how trajectories differ within a layer. Off: raw states (layers separate).",
        )
        progressive = st.checkbox(
            "PCA first while UMAP fits",
            value=True,
            key="explore_progressive",
            help="A UMAP map not fitted yet: show the PCA map at once and fit UMAP in the background; the "
            "page switches to UMAP when it is ready. Off: wait for UMAP with its progress shown.",
        )
    config = ProjectionConfig(
        method=method.lower(),
        n_components=dims,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        seed=int(seed),
    )
    return MapControls(view, method, config, normalize, progressive)


def load_panel(store: ActivationStore, metas: list[StoredMeta]) -> TrajSet | None:
    """The selected trajectories (warning about deleted ones); None when none can be opened."""
    ts = load_set(store, metas)
    if ts.missing:
        st.warning(missing_message(ts.missing))
    if not ts.trajs:
        st.info("None of the selected trajectories can be opened. " + EMPTY_STORE)
        return None
    return ts


def map_panel(ts: TrajSet, controls: MapControls) -> MapView | None:
    """Fit (cached) and draw the map; a click on a point opens that trajectory in Trace. None after an
    error."""
    pm = default_manager()
    projected = state.explore_projections()
    stages = StageDisplay(f"Fitting {controls.method} on {len(ts.trajs)} trajectories:")
    try:
        layers_all = list(common_layers(ts.trajs))
        drawn = (
            _layer_paths(pm, ts, controls, stages, projected)
            if controls.layer_paths
            else _token_paths(pm, ts, layers_all, controls, stages, projected)
        )
    except ReasonScopeError as exc:
        stages.clear()
        state.show_error(exc)
        return None
    stages.clear()
    if drawn is None:
        return None
    fig, paths = drawn
    fit = paths.fit
    shown_method = fit.config.method.upper()  # PCA while a UMAP fit runs in the background
    if shown_method != controls.method:
        qw.refining_notice(fit.n_points)
    event = st.plotly_chart(fig, key="explore_map", on_select="rerun", selection_mode="points")
    st.caption(fit_caption(fit, len(ts.trajs), shown_method))
    if projected.get(fit.key):
        st.caption(projected_caption(projected[fit.key]))
    chosen = selected_keys(event.selection.points if event else [], ts.keys)
    if chosen:
        st.switch_page(TRACE_PAGE, query_params={"key": chosen[0]})
    return MapView(pm, fit, paths)


def _layer_paths(
    pm: ProjectionManager,
    ts: TrajSet,
    controls: MapControls,
    stages: StageDisplay,
    projected: dict[str, list[dict[str, Any]]],
) -> tuple[go.Figure, LayerPaths]:
    o = st.columns([2, 2])
    pooling = o[0].selectbox(
        "Pooled state per layer",
        POOLINGS,
        key="explore_pooling",
        format_func=lambda k: f"{k} — {POOLING_HELP[k]}",
    )
    colour = o[1].radio(
        "Colour by",
        list(COLOUR_CHOICES),
        horizontal=True,
        key="explore_colour",
        help="Axis: the best saved probe of this model (P(unsafe)) once one exists, else the difference of "
        "means of this selection (−1 = mean of its safe, +1 = of its unsafe trajectories). Its layer, n per "
        "class and held-out AUROC are shown; below AUROC 0.75 it warns instead of colouring.",
    )
    stages.waiting("pooling the hidden states…")
    lp = qw.fit_progressively(
        pm,
        controls.config,
        controls.progressive,
        layer_paths_key(ts, pooling, controls.config, normalize=controls.normalize),
        lambda cfg, on_stage: fit_layer_paths(
            pm, ts, pooling, cfg, on_stage=on_stage, normalize=controls.normalize
        ),
        stages,
    )
    if lp.fell_back.any():
        st.caption(
            f"{int(lp.fell_back.sum())} of {len(ts.trajs)} trajectories have no span for '{pooling}'; "
            "they use the fallback (reasoning → completion → last prompt token)."
        )
    st.caption("Marker size grows with depth: small = embeddings, large = last layer. Hover for the layer.")
    mode = color_mode(colour)
    scores, axis = _axis_scores(ts, lp, pooling) if mode == "score" else (None, None)
    if mode == "score" and axis is None:
        mode = "label"
        st.caption("Coloured by label instead.")
    new_coords, new_names = layer_overlay(projected.get(lp.fit.key, []))
    fig = charts.layer_path_figure(
        lp.coords,
        lp.layers,
        ts.keys,
        labels=ts.labels,
        hover=ts.hover(),
        scores=scores,
        color_by=mode,
        score_name=f"{axis.units} at layer {axis.layer}" if axis is not None else "score",
        score_kind=axis.kind if axis is not None else "axis",
        new_coords=new_coords,
        new_names=new_names,
    )
    return fig, lp


def _axis_scores(ts: TrajSet, lp: LayerPaths, pooling: str) -> tuple[np.ndarray | None, Axis | None]:
    """The safe → unsafe axis picker (saved probes of this model, best first, or the selection's difference of
    means), its reliability line, and each trajectory's score ``[n]``; ``(None, None)`` when the axis is not
    reliable and the user did not ask to colour with it anyway."""
    saved = saved_probe_axes(ts.fingerprints[0]) if ts.trajs else []
    by_name = {sa.name: sa for sa in saved}
    labels = axis_labels(saved)
    c = st.columns([3, 1])
    choice = c[0].selectbox("Axis", list(labels), format_func=labels.get, key="explore_axis")
    if choice == DIFF_MEANS_CHOICE or choice not in by_name:
        layer = c[1].selectbox(
            "Axis layer", [BEST_LAYER, *lp.layers], format_func=axis_layer_label, key="explore_axis_layer"
        )
        axis, scores = selection_axis(ts.trajs, ts.labels, pooling, lp.layers, layer)
    else:
        sa = by_name[choice]
        options, index = probe_layer_options(sa.probes.layers, lp.layers, sa.probes.best_layer)
        if not options:
            raise InputError(
                f"Probe set '{sa.name}' covers layers {list(sa.probes.layers)}, none of them on this map; "
                "pick another axis."
            )
        layer = c[1].selectbox("Probe layer", options, index=index, key=f"explore_probe_layer_{sa.name}")
        axis = probe_axis(sa.probes, layer, name=sa.name)
        scores = probe_trajectory_scores(sa.probes, ts.trajs, pooling, layer)
    st.caption(axis.caption())
    warning = axis.warning()
    if warning:
        st.warning(warning)
        if not st.checkbox("Colour with it anyway", key="explore_axis_anyway"):
            return None, None
    return scores, axis


def _token_paths(
    pm: ProjectionManager,
    ts: TrajSet,
    layers_all: list[int],
    controls: MapControls,
    stages: StageDisplay,
    projected: dict[str, list[dict[str, Any]]],
) -> tuple[go.Figure, TokenPaths] | None:
    o = st.columns([3, 1.3, 1, 1.3])
    frames = o[0].multiselect(
        "Layers (one shared fit; animation frames)",
        layers_all,
        default=default_frames(layers_all),
        key="explore_frames",
    )
    which = o[1].selectbox(
        "Tokens",
        ["completion", "all", "prompt"],
        key="explore_which",
        help="Prompt-only trajectories use all their tokens.",
    )
    max_tokens = o[2].number_input(
        "Max tokens each",
        4,
        1024,
        96,
        key="explore_max_tokens",
        help="The last N tokens of each trajectory's range.",
    )
    animate = o[3].toggle("Animate", value=True, key="explore_animate")
    if not frames:
        st.info("Pick at least one layer.")
        return None
    frames = sorted(frames)
    highlight = qw.density_choice(ts, controls.config.n_components)  # None: every path drawn
    animate = animate and highlight is None  # the density view shows one layer at a time
    start = (
        st.select_slider("Layer", frames, value=frames[-1], key="explore_layer")
        if not animate or len(frames) == 1
        else frames[-1]
    )
    stages.waiting("reading every token's hidden states…")
    key = token_paths_key(
        ts, frames, controls.config, which=which, max_tokens=int(max_tokens), normalize=controls.normalize
    )
    tp = qw.fit_progressively(
        pm,
        controls.config,
        controls.progressive,
        key,
        lambda cfg, on_stage: fit_token_paths(
            pm,
            ts,
            frames,
            cfg,
            which=which,
            max_tokens=int(max_tokens),
            on_stage=on_stage,
            normalize=controls.normalize,
        ),
        stages,
    )
    sel = frame_window(frames, start, animate)
    new_coords, new_text = token_overlay(projected.get(tp.fit.key, []), sel)
    if highlight is not None:
        fig = density_charts.token_density_figure(
            tp.coords[sel][0],
            tp.traj_index,
            ts.keys,
            token_point_text(ts, tp),
            highlight=highlight,
            names=[qw.short_name(ts, i) for i in highlight],
            labels=ts.labels,
            new_coords=new_coords[0] if new_coords is not None else None,
            new_text=new_text,
        )
        return fig, tp
    fig = charts.token_path_figure(
        tp.coords[sel],
        frames[sel],
        tp.traj_index,
        ts.keys,
        token_point_text(ts, tp),
        labels=ts.labels,
        start_layer=start,
        animate=animate,
        new_coords=new_coords,
        new_text=new_text,
    )
    return fig, tp


def open_panel(ts: TrajSet) -> None:
    """Open any selected trajectory in Trace (3-D maps cannot be clicked)."""
    with st.expander("Open a trajectory"):
        pick = st.selectbox(
            "Trajectory",
            range(len(ts.trajs)),
            key="explore_open",
            format_func=lambda i: f"[{ts.labels[i] or '—'}] {ts.metas[i].prompt[:90]}",
        )
        if st.button("Open in Trace", key="explore_open_btn"):
            st.switch_page(TRACE_PAGE, query_params={"key": ts.keys[pick]})


def project_panel(controls: MapControls, shown: MapView) -> None:
    """Trace a new prompt and place it on the current map (kept per fit for this session)."""
    projected = state.explore_projections()
    key = shown.fit.key
    with st.expander("Project a new prompt onto this map"):
        with st.form("explore_project_form"):
            text_in = st.text_area("Prompt", key="explore_new_prompt")
            f = st.columns(3)
            tmpl = f[0].selectbox(
                "Template",
                list(TEMPLATES),
                format_func=lambda k: TEMPLATES[k].label,
                key="explore_new_template",
            )
            gen = f[1].checkbox(
                "Generate a completion", value=not controls.layer_paths, key="explore_new_gen"
            )
            max_new = f[2].number_input("Max new tokens", 1, 512, 32, key="explore_new_max")
            go_project = st.form_submit_button("Project", type="primary")
        if go_project:
            try:
                from core.capture.tracing import capture, capture_prompt
                from core.capture.trajectory import GenerationSettings

                model = state.get_model()
                messages = build_messages(text_in, template=tmpl)
                with st.spinner("Tracing the new prompt…"):
                    new_traj = (
                        capture(
                            model, messages, GenerationSettings(max_new_tokens=int(max_new)), template=tmpl
                        )
                        if gen
                        else capture_prompt(model, messages, template=tmpl)
                    )
                if isinstance(shown.paths, LayerPaths):
                    xy, mode = project_layer_path(shown.pm, shown.paths, new_traj)
                    entry = layer_entry(text_in, xy, mode)
                else:
                    xy, tok_idx, mode = project_token_path(shown.pm, shown.paths, new_traj)
                    entry = token_entry(text_in, xy, tok_idx, new_traj.tokens, mode)
                projected.setdefault(key, []).append(entry)
                st.rerun()
            except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
                state.show_error(exc)
        if projected.get(key) and st.button("Clear projected prompts", key="explore_clear_new"):
            projected.pop(key, None)
            st.rerun()
