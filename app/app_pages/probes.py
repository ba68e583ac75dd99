"""Probes: train per-layer probes (or the CRAFT contrastive head) on labelled items, see which layer separates
safe from unsafe best, inspect mistakes, save / load / compare."""

import numpy as np
import streamlit as st

from app import probe_widgets as pw
from app import state
from core.probes.artefacts import (
    list_artefacts,
    load_probe_set,
    save_contrastive,
    save_probe_set,
)
from core.probes.features import POSITION_HELP, POSITIONS
from core.probes.linear import METHOD_HELP, confusion
from core.probes.workflow import ITEM_SETS, ProbeRequest, most_wrong, train_from_features

st.title("Probes")
st.caption("Train a probe on the model's hidden states to find *where* it separates safe from unsafe: a logistic "
           "regression or a difference-in-means direction per layer (with k-fold cross-validation), or the CRAFT "
           "contrastive head (safe / unsafe / rethink). Scores are P(unsafe).")

try:
    model = state.get_model()
except Exception as exc:  # noqa: BLE001
    state.show_error(exc)
    st.stop()

picked = pw.dataset_picker("probes")
METHODS = {"logistic": METHOD_HELP["logistic"], "diff_means": METHOD_HELP["diff_means"],
           "contrastive": "CRAFT phase-1 latent contrastive head at one layer (safe / unsafe / rethink)"}
if picked is not None:
    kinds = sorted({it.kind for it in picked.items or [] if it.kind})
    with st.form("probe_form"):
        c = st.columns([2, 2, 1])
        method = c[0].selectbox("Method", list(METHODS), format_func=lambda m: f"{m} — {METHODS[m]}", key="probe_method")
        positions = c[1].selectbox("Positions", list(POSITIONS), index=POSITIONS.index("post_instruction"),
                                   format_func=lambda p: f"{p} — {POSITION_HELP[p]}", key="probe_positions")
        seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="probe_seed")
        c = st.columns([2, 2, 1, 1])
        item_set = c[0].selectbox("Items", ["default", *ITEM_SETS], key="probe_items",
                                  format_func=lambda k: "default (prompts for linear probes, responses for the head)"
                                  if k == "default" else f"{k} — {ITEM_SETS[k]}")
        default_kinds = [k for k in ("harmful", "benign_counterpart") if k in kinds]
        chosen_kinds = c[1].multiselect("Item kinds (empty = all)", kinds, default=default_kinds, key="probe_kinds")
        k = c[2].number_input("CV folds k", 2, 20, 5, key="probe_k")
        C = c[3].number_input("C (inverse L2)", 1e-4, 100.0, 1.0, format="%.4f", key="probe_C")
        all_layers = list(range(model.n_layers + 1))
        c = st.columns([3, 1])
        layers = c[0].multiselect("Layers (empty = all; linear probes)", all_layers, key="probe_layers")
        head_layer = c[1].selectbox("Head layer (contrastive)", all_layers, index=model.n_layers, key="probe_head_layer")
        system = st.text_input("System prompt while capturing (optional)", key="probe_system")
        submitted = st.form_submit_button("Train", type="primary")
    if submitted:
        req = ProbeRequest(method=method, positions=positions, layers=layers or None, layer=int(head_layer),
                           items=None if item_set == "default" else item_set,
                           kinds=(chosen_kinds or None) if method != "contrastive" else None,
                           k=int(k), C=float(C), seed=int(seed), system=system.strip() or None)
        bar = st.progress(0.0, text="Starting…")
        try:
            fs = pw.features(model, picked, req, bar)
            result = train_from_features(fs, req, pw.stage_progress(bar))
            st.session_state["probe_result"] = (result, fs, req.method)
            bar.progress(1.0, text="Done")
        except Exception as exc:  # noqa: BLE001
            bar.empty()
            state.show_error(exc)

res = st.session_state.get("probe_result")
if res is None:
    st.info("Pick a dataset and press **Train** — the sample data's harmful vs benign requests are a good start. "
            "Or load a saved probe below.")
else:
    result, fs, method = res
    st.subheader("Result")
    st.caption(f"Dataset `{fs.dataset}` (hash `{fs.dataset_hash}`) · positions `{fs.positions}` · "
               f"{len(fs.train_items)} train / {len(fs.val_items)} validation items · model `{fs.model_name}`")
    if method == "contrastive":
        val = result.metrics.get("validation")
        c = st.columns(3)
        c[0].metric("Validation macro-F1", f"{val['macro_f1']:.3f}" if val else "—")
        c[1].metric("Train macro-F1", f"{result.metrics['train']['macro_f1']:.3f}")
        c[2].metric("Layer", result.layer)
        show = fs.val if len(fs.val_items) else fs.train
        labels = fs.y_val if len(fs.val_items) else fs.y_train
        c = st.columns(2)
        if val:
            c[0].plotly_chart(pw.confusion_figure(np.array(val["confusion"]), ["safe", "unsafe", "rethink"],
                                                  "Validation confusion"), key="probe_conf3")
        c[1].plotly_chart(pw.prototype_scatter(result.prototype_cosines(result.embed(show[:, 0, :])), labels),
                          key="probe_protos")
        st.plotly_chart(pw.loss_figure(result.history), key="probe_loss")
    else:
        best = result.metrics[result.best_layer]
        held = best.heldout or {}
        c = st.columns(4)
        c[0].metric("Suggested layer", result.best_layer, help="Highest mean CV AUROC (validation never used to pick)")
        c[1].metric("CV AUROC", f"{best.mean('auroc'):.3f} ± {best.std('auroc'):.3f}")
        c[2].metric("Validation AUROC", f"{held['auroc']:.3f}" if "auroc" in held else "—")
        c[3].metric("Validation accuracy", f"{held['accuracy']:.3f}" if "accuracy" in held else "—")
        metric = st.radio("Curve", ["auroc", "accuracy", "f1"], horizontal=True, key="probe_curve_metric")
        st.plotly_chart(pw.layer_curve_figure({result.method: result.curve(metric)}, metric.upper(), result.best_layer),
                        key="probe_curve")
        layer = st.select_slider("Inspect layer", options=list(result.layers), value=result.best_layer,
                                 key="probe_inspect_layer")
        j = result.layers.index(layer)
        on_val = result.val_scores is not None and len(fs.val_items) > 0
        scores = result.val_scores[j] if on_val else result.oof_scores[j]
        y = result.y_val if on_val else result.y_train
        labels = [("unsafe" if v else "safe") for v in y]
        where = "validation split" if on_val else "training items, out-of-fold"
        c = st.columns(2)
        c[0].plotly_chart(pw.confusion_figure(confusion(y, scores), ["safe", "unsafe"], f"Confusion ({where})"),
                          key="probe_conf")
        c[1].plotly_chart(pw.score_histogram(scores, labels, title=f"Scores by class ({where})"), key="probe_hist")
        st.markdown("**Items the probe gets most wrong** at this layer — search their ids on **Label** to check "
                    "the labels (a wrong label looks exactly like this).")
        st.dataframe(most_wrong(result, fs, layer), hide_index=True, key="probe_wrong")

    with st.form("probe_save_form"):
        c = st.columns([3, 1])
        name = c[0].text_input("Save as", value=f"{fs.dataset}-{method}-{fs.positions}", key="probe_save_name")
        overwrite = c[1].checkbox("Overwrite", key="probe_overwrite")
        if st.form_submit_button("Save probe"):
            try:
                save = save_contrastive if method == "contrastive" else save_probe_set
                st.success(f"Saved to `{save(result, name, overwrite=overwrite)}`")
            except Exception as exc:  # noqa: BLE001
                state.show_error(exc)


st.subheader("Saved probes")
arts = [a for a in list_artefacts() if a.kind in ("probe_set", "contrastive")]
mine = [a for a in arts if a.model_fingerprint == model.fingerprint]
if not arts:
    st.info("No saved probes yet — train one above and press **Save probe**.")
else:
    st.dataframe([{"name": a.name, "kind": a.kind, "model": a.model_name, "this model": a in mine,
                   "summary": a.summary} for a in arts], hide_index=True, key="probe_saved_table")
    names = [a.name for a in mine if a.kind == "probe_set"]
    chosen = st.multiselect("Compare saved probe sets (this model)", names, default=names[:2], key="probe_compare")
    curves = {}
    for n in chosen:
        try:
            curves[n] = load_probe_set(n, fingerprint=model.fingerprint, model_name=model.name).curve("auroc")
        except Exception as exc:  # noqa: BLE001
            state.show_error(exc)
    if curves:
        st.plotly_chart(pw.layer_curve_figure(curves, "AUROC"), key="probe_compare_curve")
    if len(mine) < len(arts):
        st.caption(f"{len(arts) - len(mine)} saved probe(s) belong to other models; switch model in the sidebar to "
                   "use them.")
