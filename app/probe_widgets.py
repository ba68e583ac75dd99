"""Figures, the dataset picker and the panels of the Probes page (also used by Steer). Figure builders take
arrays and return go.Figure; what to show is decided in core.probes.views."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import state
from core.explore.palette import COUNTS, INK, LABEL_COLOURS, SERIES_COLOURS, UNLABELLED
from core.jobs.eta import StagedEta
from core.labelled import LabelledItem
from core.probes.artefacts import list_artefacts, load_probe_set, save_contrastive, save_probe_set
from core.probes.features import POSITION_HELP, POSITIONS
from core.probes.linear import confusion
from core.probes.views import (
    PROBE_METHODS,
    comparable_probe_sets,
    contrastive_inputs,
    default_kinds,
    default_save_name,
    format_score,
    inspect_scores,
    item_kinds,
    probe_artefacts,
    request_from_form,
    saved_probe_rows,
)
from core.probes.workflow import ITEM_SETS, STAGES, most_wrong, train_from_features

CLASS_COLOURS = LABEL_COLOURS  # safe / unsafe / rethink: the one palette (core.explore.palette)
SOURCES = (
    "Sample data (sample_data/prompts.jsonl)",
    "Labelling database",
    "Activation store (captured trajectories)",
    "JSONL file on the server",
)


@dataclass
class PickedData:
    """Labelled items to capture, or a dataset of already-captured trajectories in the activation store."""

    name: str
    items: list[LabelledItem] | None = None
    store_dataset: str | None = None


# ---- figures --------------------------------------------------------------------------------------------
def layer_curve_figure(
    curves: dict[str, dict[str, np.ndarray]], metric: str = "AUROC", best_layer: int | None = None
) -> go.Figure:
    """Per-layer CV mean with ±1 std error bars (and dashed held-out values) for one or more probe sets."""
    fig = go.Figure()
    palette = SERIES_COLOURS  # probe sets are series: neither the safe nor the unsafe colour
    for i, (name, c) in enumerate(curves.items()):
        col = palette[i % len(palette)]
        x = np.asarray(c["layers"]).tolist()  # plain lists: readable JSON for tests and exports
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(c["mean"]).tolist(),
                error_y={"type": "data", "array": np.asarray(c["std"]).tolist(), "visible": True},
                mode="lines+markers",
                name=f"{name} · CV mean ± std",
                line={"color": col},
            )
        )
        if np.isfinite(c["heldout"]).any():
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=np.asarray(c["heldout"]).tolist(),
                    mode="lines",
                    name=f"{name} · validation",
                    line={"color": col, "dash": "dash"},
                )
            )
    if best_layer is not None:
        fig.add_vline(
            x=best_layer,
            line={"color": UNLABELLED, "dash": "dot"},
            annotation_text=f"best layer {best_layer}",
        )
    fig.update_layout(
        xaxis_title="layer (0 = embeddings)",
        yaxis_title=metric,
        height=380,
        legend={"orientation": "h"},
        margin={"t": 30, "b": 40},
    )
    return fig


def confusion_figure(matrix: np.ndarray, labels: Sequence[str], title: str = "") -> go.Figure:
    m = np.asarray(matrix)
    fig = go.Figure(
        go.Heatmap(
            z=m,
            x=[f"predicted {x}" for x in labels],
            y=[f"true {x}" for x in labels],
            colorscale=COUNTS,
            showscale=False,
            text=m,
            texttemplate="%{text}",
        )
    )
    fig.update_layout(title=title, height=300, yaxis={"autorange": "reversed"}, margin={"t": 40, "b": 30})
    return fig


def _class_masks(labels: Sequence[str]) -> Iterator[tuple[str, np.ndarray]]:
    """``(label, mask)`` for each of safe / unsafe / rethink that occurs in ``labels``, in that order."""
    for lab in ("safe", "unsafe", "rethink"):
        sel = np.asarray([x == lab for x in labels])
        if sel.any():
            yield lab, sel


def score_histogram(
    scores: np.ndarray, labels: Sequence[str], threshold: float = 0.5, title: str = ""
) -> go.Figure:
    fig = go.Figure()
    for lab, sel in _class_masks(labels):
        fig.add_trace(
            go.Histogram(
                x=np.asarray(scores)[sel], name=lab, opacity=0.65, nbinsx=25, marker_color=CLASS_COLOURS[lab]
            )
        )
    fig.add_vline(x=threshold, line={"dash": "dot", "color": INK})
    fig.update_layout(
        barmode="overlay",
        xaxis_title="P(unsafe)",
        yaxis_title="items",
        title=title,
        height=300,
        margin={"t": 40, "b": 30},
        xaxis={"range": [0, 1]},
    )
    return fig


def sweep_figure(alphas: Sequence[float], refusal: Sequence[float], kl: Sequence[float]) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=list(alphas),
            y=list(refusal),
            name="refusal rate (keyword)",
            mode="lines+markers",
            line={"color": SERIES_COLOURS[0]},
        )
    )
    if np.isfinite(np.asarray(kl, dtype=float)).any():
        fig.add_trace(
            go.Scatter(
                x=list(alphas),
                y=list(kl),
                name="harmless KL (nats)",
                mode="lines+markers",
                yaxis="y2",
                line={"color": SERIES_COLOURS[1], "dash": "dash"},
            )
        )
    fig.update_layout(
        xaxis_title="α",
        yaxis={"title": "refusal rate", "range": [0, 1.02]},
        yaxis2={"title": "KL (nats)", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        height=360,
        legend={"orientation": "h"},
        margin={"t": 30},
    )
    return fig


def loss_figure(history: list[dict[str, float]]) -> go.Figure:
    fig = go.Figure()
    for k in ("loss", "proto", "nce", "ce"):
        fig.add_trace(
            go.Scatter(x=[h["epoch"] for h in history], y=[h[k] for h in history], name=k, mode="lines")
        )
    fig.update_layout(xaxis_title="epoch", yaxis_title="loss", height=280, margin={"t": 20})
    return fig


def prototype_scatter(cos: np.ndarray, labels: Sequence[str]) -> go.Figure:
    """cos(z, μ_safe) against cos(z, μ_unsafe) per item, coloured by label (rethink should sit between)."""
    fig = go.Figure()
    for lab, sel in _class_masks(labels):
        fig.add_trace(
            go.Scatter(
                x=cos[sel, 0],
                y=cos[sel, 1],
                mode="markers",
                name=lab,
                marker={"color": CLASS_COLOURS[lab], "size": 8},
            )
        )
    fig.update_layout(
        xaxis_title="cos(z, μ_safe)", yaxis_title="cos(z, μ_unsafe)", height=340, margin={"t": 20}
    )
    return fig


def positions_select(container: Any, key: str) -> str:
    """Where states are read (``POSITIONS``, each with its help text); ``post_instruction`` by default."""
    return container.selectbox(
        "Positions",
        list(POSITIONS),
        index=POSITIONS.index("post_instruction"),
        format_func=lambda p: f"{p} — {POSITION_HELP[p]}",
        key=key,
    )


# ---- dataset picker -------------------------------------------------------------------------------------
def dataset_picker(prefix: str) -> PickedData | None:
    """Pick labelled data: sample data, a labelling-database dataset, a store dataset or a JSONL path.
    Returns None after showing what to do next."""
    from core.probes.features import load_items

    src = st.radio("Dataset", SOURCES, key=f"{prefix}_source", horizontal=True)
    try:
        if src == SOURCES[1]:
            names = _db_datasets()
            if not names:
                st.info(
                    "The labelling database has no labelled datasets yet — import one on **Label**, or use "
                    "the sample data."
                )
                return None
            name, items = load_items(dataset=st.selectbox("Labelling dataset", names, key=f"{prefix}_db"))
            return PickedData(name, items)
        if src == SOURCES[2]:
            names = state.get_store().datasets()
            if not names:
                st.info(
                    "No dataset in the activation store yet — label trajectories on **Trace** or load the "
                    "demo set on **Home**."
                )
                return None
            name = st.selectbox("Store dataset", names, key=f"{prefix}_store")
            st.caption(
                "Uses the stored trajectories as captured (prompt + the model's completion); items tagged "
                "`validation` are held out, otherwise a seeded stratified 25 %."
            )
            return PickedData(f"store:{name}", store_dataset=name)
        if src == SOURCES[3]:
            path = st.text_input("Path of a JSONL file (sample_data schema)", key=f"{prefix}_path")
            if not path.strip():
                st.info("Type the path of a JSONL file with `prompt`, `label` and `split` fields.")
                return None
            return PickedData(*load_items(file=path.strip()))
        return PickedData(*load_items())
    except Exception as exc:  # noqa: BLE001 - shown as a message
        state.show_error(exc)
        return None


def features(model: Any, picked: PickedData, req: Any, bar: Any, progress: StageBar | None = None) -> Any:
    """FeatureSet for ``req`` from the picked data (captures and caches, or reads the store)."""
    from core.probes.workflow import features_for, features_from_store_for

    if picked.store_dataset is not None:
        return features_from_store_for(model, state.get_store(), picked.store_dataset, req)
    return features_for(model, picked.items or [], picked.name, req, progress or StageBar(bar))


def _db_datasets() -> list[str]:
    try:
        from core.data import open_db
        from core.data.repo import list_datasets

        db = open_db()
        try:
            return [d.name for d in list_datasets(db) if d.n_labelled]
        finally:
            db.close()
    except Exception:  # noqa: BLE001 - no database: offer the other sources
        return []


class StageBar:
    """A ``(stage, done, total)`` callback driving one ``st.progress`` bar: each stage (capture N items, then
    the per-layer fits) shows its rate and time left measured so far (``core.jobs.eta.StagedEta``)."""

    def __init__(self, bar: Any) -> None:
        self.bar, self.eta = bar, StagedEta(STAGES)

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.bar.progress(min(done / max(total, 1), 1.0), text=self.eta.text(stage, done, total))

    def summary(self) -> str:
        return self.eta.summary()


# ---- panels of the Probes page --------------------------------------------------------------------------
def train_panel(model: Any, picked: PickedData) -> None:
    """The training form; a trained probe is kept in the session (``state.get_probe_result``)."""
    kinds = item_kinds(picked.items)
    with st.form("probe_form"):
        c = st.columns([2, 2, 1])
        method = c[0].selectbox(
            "Method",
            list(PROBE_METHODS),
            format_func=lambda m: f"{m} — {PROBE_METHODS[m]}",
            key="probe_method",
        )
        positions = positions_select(c[1], "probe_positions")
        seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="probe_seed")
        c = st.columns([2, 2, 1, 1])
        item_set = c[0].selectbox(
            "Items",
            ["default", *ITEM_SETS],
            key="probe_items",
            format_func=lambda k: (
                "default (prompts for linear probes, responses for the head)"
                if k == "default"
                else f"{k} — {ITEM_SETS[k]}"
            ),
        )
        chosen_kinds = c[1].multiselect(
            "Item kinds (empty = all)", kinds, default=default_kinds(kinds), key="probe_kinds"
        )
        k = c[2].number_input("CV folds k", 2, 20, 5, key="probe_k")
        C = c[3].number_input("C (inverse L2)", 1e-4, 100.0, 1.0, format="%.4f", key="probe_C")
        all_layers = list(range(model.n_layers + 1))
        c = st.columns([3, 1])
        layers = c[0].multiselect("Layers (empty = all; linear probes)", all_layers, key="probe_layers")
        head_layer = c[1].selectbox(
            "Head layer (contrastive)", all_layers, index=model.n_layers, key="probe_head_layer"
        )
        system = st.text_input("System prompt while capturing (optional)", key="probe_system")
        submitted = st.form_submit_button("Train", type="primary")
    if not submitted:
        return
    req = request_from_form(
        method=method,
        positions=positions,
        layers=layers,
        head_layer=head_layer,
        item_set=item_set,
        kinds=chosen_kinds,
        k=k,
        C=C,
        seed=seed,
        system=system,
    )
    bar = st.progress(0.0, text="Starting…")
    progress = StageBar(bar)
    try:
        fs = features(model, picked, req, bar, progress)
        result = train_from_features(fs, req, progress)
        state.set_probe_result(result, fs, req.method)
        bar.progress(1.0, text="Done")
        st.caption(f"Done, measured: {progress.summary() or 'features from the store'}.")
    except Exception as exc:  # noqa: BLE001
        bar.empty()
        state.show_error(exc)


def result_panel() -> None:
    """The session's trained probe: metrics and figures (contrastive head or per-layer probes), and saving."""
    res = state.get_probe_result()
    if res is None:
        st.info(
            "Pick a dataset and press **Train** — the sample data's harmful vs benign requests are a good "
            "start. Or load a saved probe below."
        )
        return
    result, fs, method = res
    st.subheader("Result")
    st.caption(
        f"Dataset `{fs.dataset}` (hash `{fs.dataset_hash}`) · positions `{fs.positions}` · "
        f"{len(fs.train_items)} train / {len(fs.val_items)} validation items · model `{fs.model_name}`"
    )
    if method == "contrastive":
        _contrastive_result(result, fs)
    else:
        _linear_result(result, fs)
    _save_form(result, fs, method)


def _contrastive_result(result: Any, fs: Any) -> None:
    val = result.metrics.get("validation")
    c = st.columns(3)
    c[0].metric("Validation macro-F1", format_score(val, "macro_f1"))
    c[1].metric("Train macro-F1", f"{result.metrics['train']['macro_f1']:.3f}")
    c[2].metric("Layer", result.layer)
    show, labels = contrastive_inputs(fs)
    c = st.columns(2)
    if val:
        c[0].plotly_chart(
            confusion_figure(
                np.array(val["confusion"]), ["safe", "unsafe", "rethink"], "Validation confusion"
            ),
            key="probe_conf3",
        )
    c[1].plotly_chart(
        prototype_scatter(result.prototype_cosines(result.embed(show)), labels), key="probe_protos"
    )
    st.plotly_chart(loss_figure(result.history), key="probe_loss")


def _linear_result(result: Any, fs: Any) -> None:
    best = result.metrics[result.best_layer]
    held = best.heldout or {}
    c = st.columns(4)
    c[0].metric(
        "Suggested layer", result.best_layer, help="Highest mean CV AUROC (validation never used to pick)"
    )
    c[1].metric("CV AUROC", f"{best.mean('auroc'):.3f} ± {best.std('auroc'):.3f}")
    c[2].metric("Validation AUROC", format_score(held, "auroc"))
    c[3].metric("Validation accuracy", format_score(held, "accuracy"))
    metric = st.radio("Curve", ["auroc", "accuracy", "f1"], horizontal=True, key="probe_curve_metric")
    st.plotly_chart(
        layer_curve_figure({result.method: result.curve(metric)}, metric.upper(), result.best_layer),
        key="probe_curve",
    )
    layer = st.select_slider(
        "Inspect layer", options=list(result.layers), value=result.best_layer, key="probe_inspect_layer"
    )
    view = inspect_scores(result, fs, layer)
    c = st.columns(2)
    c[0].plotly_chart(
        confusion_figure(confusion(view.y, view.scores), ["safe", "unsafe"], f"Confusion ({view.where})"),
        key="probe_conf",
    )
    c[1].plotly_chart(
        score_histogram(view.scores, view.labels, title=f"Scores by class ({view.where})"), key="probe_hist"
    )
    st.markdown(
        "**Items the probe gets most wrong** at this layer — search their ids on **Label** to check "
        "the labels (a wrong label looks exactly like this)."
    )
    st.dataframe(most_wrong(result, fs, layer), hide_index=True, key="probe_wrong")


def _save_form(result: Any, fs: Any, method: str) -> None:
    with st.form("probe_save_form"):
        c = st.columns([3, 1])
        name = c[0].text_input("Save as", value=default_save_name(fs, method), key="probe_save_name")
        overwrite = c[1].checkbox("Overwrite", key="probe_overwrite")
        if st.form_submit_button("Save probe"):
            try:
                save = save_contrastive if method == "contrastive" else save_probe_set
                st.success(f"Saved to `{save(result, name, overwrite=overwrite)}`")
            except Exception as exc:  # noqa: BLE001
                state.show_error(exc)


def saved_probes_panel(model: Any) -> None:
    """Saved probes of every model, and this model's probe sets compared per layer."""
    arts, mine = probe_artefacts(list_artefacts(), model.fingerprint)
    if not arts:
        st.info("No saved probes yet — train one above and press **Save probe**.")
        return
    st.dataframe(saved_probe_rows(arts, mine), hide_index=True, key="probe_saved_table")
    names = comparable_probe_sets(mine)
    linked = st.query_params.get("probe")  # a deep link (Story page): show that probe's curve first
    default = [linked] + [n for n in names[:1] if n != linked] if linked in names else names[:2]
    chosen = st.multiselect(
        "Compare saved probe sets (this model)", names, default=default, key="probe_compare"
    )
    curves = {}
    for n in chosen:
        try:
            curves[n] = load_probe_set(n, fingerprint=model.fingerprint, model_name=model.name).curve("auroc")
        except Exception as exc:  # noqa: BLE001
            state.show_error(exc)
    if curves:
        st.plotly_chart(layer_curve_figure(curves, "AUROC"), key="probe_compare_curve")
    if len(mine) < len(arts):
        st.caption(
            f"{len(arts) - len(mine)} saved probe(s) belong to other models; switch model in the sidebar to "
            "use them."
        )
