"""Explore: many trajectories on one 2-D/3-D map -- paths through the layers, or tokens at a layer."""

import numpy as np
import streamlit as st

from app import charts, state
from app.explorer_widgets import EMPTY_STORE, progress_callback, trajectory_filter
from core.capture.templates import TEMPLATES, build_messages
from core.errors import ReasonScopeError
from core.explore.pooling import (
    POOLING_HELP,
    POOLINGS,
    class_axis_scores,
    class_means,
    common_layers,
    stack_pooled,
)
from core.explore.projection import ProjectionConfig, default_manager
from core.explore.trajectory_sets import (
    fit_layer_paths,
    fit_token_paths,
    load_set,
    project_layer_path,
    project_token_path,
)

st.title("Explore")
st.caption("Each stored trajectory projected into one map (UMAP or PCA). **Layer paths**: one pooled state per "
           "layer, joined from embeddings to the last layer. **Token paths**: every token at a layer, joined in "
           "text order; slide or play through the layers. Click a point to open that trajectory in Trace.")
store = state.get_store()
if not store.query(limit=1):
    st.info(EMPTY_STORE)
    st.stop()

metas, _ = trajectory_filter(store, "explore")
if not metas:
    st.info("No stored trajectories match these filters — widen them, or trace / import more.")
    st.stop()

c = st.columns([2.2, 1.4, 1.2])
view = c[0].radio("View", ["Layer paths", "Token paths at a layer"], horizontal=True, key="explore_view")
method = c[1].radio("Projection", ["UMAP", "PCA"], horizontal=True, key="explore_method",
                    help="UMAP keeps neighbourhoods (first fit in a session compiles numba, ≈15 s; fits are cached). "
                         "PCA is instant and linear.")
dims = c[2].radio("Dimensions", [2, 3], horizontal=True, key="explore_dims",
                  help="Click-to-open works on 2-D maps; on 3-D use 'Open a trajectory' below.")
with st.expander("Projection parameters"):
    p = st.columns(5)
    n_neighbors = p[0].slider("n_neighbors", 2, 100, 15, key="explore_nn", help="UMAP: neighbourhood size")
    min_dist = p[1].slider("min_dist", 0.0, 1.0, 0.1, 0.05, key="explore_min_dist")
    metric = p[2].selectbox("metric", ["euclidean", "cosine"], key="explore_metric")
    seed = p[3].number_input("seed", 0, 2**31 - 1, 0, key="explore_seed")
    normalize = p[4].checkbox("Normalise each layer", value=True, key="explore_normalize",
                              help="Centre and scale every layer before projecting. Depth changes the hidden "
                                   "state's offset and size far more than the prompt does; normalised maps show "
                                   "how trajectories differ within a layer. Off: raw states (layers separate).")
config = ProjectionConfig(method=method.lower(), n_components=dims, n_neighbors=n_neighbors, min_dist=min_dist,
                          metric=metric, seed=int(seed))

ts = load_set(store, metas)
if ts.missing:
    st.warning(f"{len(ts.missing)} selected trajectories were deleted from the store and are left out "
               f"({', '.join(k[:12] for k in ts.missing[:3])}{'…' if len(ts.missing) > 3 else ''}). "
               "Run `reasonscope store repair` to tidy the index.")
if not ts.trajs:
    st.info("None of the selected trajectories can be opened. " + EMPTY_STORE)
    st.stop()

pm = default_manager()
projected = state.remember("explore_projected", {})  # fit key -> list of projected new prompts
progress, clear_progress = progress_callback(f"Fitting {method} on {len(ts.trajs)} trajectories…")
try:
    layers_all = common_layers(ts.trajs)
    if view == "Layer paths":
        o = st.columns([2, 2])
        pooling = o[0].selectbox("Pooled state per layer", POOLINGS, key="explore_pooling",
                                 format_func=lambda k: f"{k} — {POOLING_HELP[k]}")
        colour = o[1].radio("Colour by", ["label", "layer", "safe → unsafe axis"], horizontal=True,
                            key="explore_colour", help="Axis: per layer, −1 = mean of the safe trajectories in "
                            "this selection, +1 = mean of the unsafe ones (difference of means).")
        lp = fit_layer_paths(pm, ts, pooling, config, progress=progress, normalize=normalize)
        fit, scores = lp.fit, None
        if lp.fell_back.any():
            st.caption(f"{int(lp.fell_back.sum())} of {len(ts.trajs)} trajectories have no span for '{pooling}'; "
                       "they use the fallback (reasoning → completion → last prompt token).")
        st.caption("Marker size grows with depth: small = embeddings, large = last layer. Hover for the layer.")
        if colour.startswith("safe"):
            states = stack_pooled(ts.trajs, pooling, lp.layers).states  # [n, L, d]
            pos_mean, neg_mean = class_means(states, ts.labels)
            scores = class_axis_scores(states.transpose(1, 0, 2), pos_mean, neg_mean).T  # [n, L]
        new = projected.get(fit.key, [])
        fig = charts.layer_path_figure(
            lp.coords, lp.layers, ts.keys, labels=ts.labels, hover=ts.hover(), scores=scores,
            color_by={"label": "label", "layer": "layer"}.get(colour, "score"), score_name="safe → unsafe",
            new_coords=np.stack([n["coords"] for n in new]) if new else None, new_names=[n["name"] for n in new])
    else:
        o = st.columns([3, 1.3, 1, 1.3])
        default = sorted(set(layers_all[:: max(1, len(layers_all) // 7)]) | {layers_all[-1]})
        frames = o[0].multiselect("Layers (one shared fit; animation frames)", layers_all, default=default,
                                  key="explore_frames")
        which = o[1].selectbox("Tokens", ["completion", "all", "prompt"], key="explore_which",
                               help="Prompt-only trajectories use all their tokens.")
        max_tokens = o[2].number_input("Max tokens each", 4, 1024, 96, key="explore_max_tokens",
                                       help="The last N tokens of each trajectory's range.")
        animate = o[3].toggle("Animate", value=True, key="explore_animate")
        if not frames:
            st.info("Pick at least one layer.")
            st.stop()
        frames = sorted(frames)
        start = st.select_slider("Layer", frames, value=frames[-1], key="explore_layer") if not animate \
            or len(frames) == 1 else frames[-1]
        tp = fit_token_paths(pm, ts, frames, config, which=which, max_tokens=int(max_tokens), progress=progress,
                             normalize=normalize)
        fit = tp.fit
        heads = np.asarray([charts.esc_lines(h) for h in ts.hover(40)], dtype=object)
        text = [f"{h}<br>#{int(j)}: {charts.token_context(ts.trajs[i].tokens, int(j))}"
                for h, i, j in zip(heads[tp.traj_index], tp.traj_index,
                                   tp.token_index, strict=False)]
        sel = slice(None) if animate else slice(frames.index(start), frames.index(start) + 1)
        new = projected.get(fit.key, [])
        fig = charts.token_path_figure(
            tp.coords[sel], frames[sel], tp.traj_index, ts.keys, text, labels=ts.labels, start_layer=start,
            animate=animate, new_coords=new[-1]["coords"][sel] if new else None,
            new_text=new[-1]["text"] if new else ())
except ReasonScopeError as exc:
    clear_progress()
    state.show_error(exc)
    st.stop()
clear_progress()

event = st.plotly_chart(fig, key="explore_map", on_select="rerun", selection_mode="points")
st.caption(f"{len(ts.trajs)} trajectories · {fit.n_points} points · {method} fitted in {fit.seconds:.1f} s "
           f"(init {fit.init_used}; cached, key `{fit.key[:12]}`)")
if projected.get(fit.key):
    st.caption("★ projected new prompt(s): " + "; ".join(f"“{n['name']}” (placed by {n['mode']})"
                                                        for n in projected[fit.key]))
chosen = [pt.get("customdata") for pt in (event.selection.points if event else [])]
chosen = [k[0] if isinstance(k, list) else k for k in chosen]
# layer paths carry the key itself; token paths carry the trajectory's index (-1 = gap)
chosen = [ts.keys[int(k)] if isinstance(k, int | float) and 0 <= k < len(ts.keys) else k for k in chosen]
chosen = [k for k in chosen if isinstance(k, str) and k]
if chosen:
    st.switch_page("app_pages/trace.py", query_params={"key": chosen[0]})

with st.expander("Open a trajectory"):
    pick = st.selectbox("Trajectory", range(len(ts.trajs)), key="explore_open",
                        format_func=lambda i: f"[{ts.labels[i] or '—'}] {ts.metas[i].prompt[:90]}")
    if st.button("Open in Trace", key="explore_open_btn"):
        st.switch_page("app_pages/trace.py", query_params={"key": ts.keys[pick]})

with st.expander("Project a new prompt onto this map"):
    with st.form("explore_project_form"):
        text_in = st.text_area("Prompt", key="explore_new_prompt")
        f = st.columns(3)
        tmpl = f[0].selectbox("Template", list(TEMPLATES), format_func=lambda k: TEMPLATES[k].label,
                              key="explore_new_template")
        gen = f[1].checkbox("Generate a completion", value=view == "Token paths at a layer", key="explore_new_gen")
        max_new = f[2].number_input("Max new tokens", 1, 512, 32, key="explore_new_max")
        go_project = st.form_submit_button("Project", type="primary")
    if go_project:
        try:
            from core.capture.tracing import capture, capture_prompt
            from core.capture.trajectory import GenerationSettings

            model = state.get_model()
            messages = build_messages(text_in, template=tmpl)
            with st.spinner("Tracing the new prompt…"):
                new_traj = (capture(model, messages, GenerationSettings(max_new_tokens=int(max_new)), template=tmpl)
                            if gen else capture_prompt(model, messages, template=tmpl))
            if view == "Layer paths":
                xy, mode = project_layer_path(pm, lp, new_traj)
                entry = {"name": text_in[:60], "coords": xy}
            else:
                xy, tok_idx, mode = project_token_path(pm, tp, new_traj)
                entry = {"name": text_in[:60], "coords": xy,
                         "text": [f"NEW #{int(j)}: {charts.token_context(new_traj.tokens, int(j))}" for j in tok_idx]}
            entry["mode"] = mode
            projected.setdefault(fit.key, []).append(entry)
            st.rerun()
        except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
            state.show_error(exc)
    if projected.get(fit.key) and st.button("Clear projected prompts", key="explore_clear_new"):
        projected.pop(fit.key, None)
        st.rerun()
