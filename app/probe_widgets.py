"""Figures and small widgets for the Probes and Steer pages (figure builders take arrays, return go.Figure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import state
from core.probes.features import LabelledItem

CLASS_COLOURS = {"safe": "#2a9d8f", "unsafe": "#e76f51", "rethink": "#e9c46a"}
SOURCES = ("Sample data (sample_data/prompts.jsonl)", "Labelling database", "Activation store (captured trajectories)",
           "JSONL file on the server")


@dataclass
class PickedData:
    """Labelled items to capture, or a dataset of already-captured trajectories in the activation store."""

    name: str
    items: list[LabelledItem] | None = None
    store_dataset: str | None = None


# ---- figures --------------------------------------------------------------------------------------------
def layer_curve_figure(curves: dict[str, dict[str, np.ndarray]], metric: str = "AUROC",
                       best_layer: int | None = None) -> go.Figure:
    """Per-layer CV mean with ±1 std error bars (and dashed held-out values) for one or more probe sets."""
    fig = go.Figure()
    palette = ["#264653", "#e76f51", "#2a9d8f", "#8338ec", "#f4a261"]
    for i, (name, c) in enumerate(curves.items()):
        col = palette[i % len(palette)]
        x = np.asarray(c["layers"]).tolist()  # plain lists: readable JSON for tests and exports
        fig.add_trace(go.Scatter(x=x, y=np.asarray(c["mean"]).tolist(),
                                 error_y={"type": "data", "array": np.asarray(c["std"]).tolist(), "visible": True},
                                 mode="lines+markers", name=f"{name} · CV mean ± std", line={"color": col}))
        if np.isfinite(c["heldout"]).any():
            fig.add_trace(go.Scatter(x=x, y=np.asarray(c["heldout"]).tolist(), mode="lines", name=f"{name} · validation",
                                     line={"color": col, "dash": "dash"}))
    if best_layer is not None:
        fig.add_vline(x=best_layer, line={"color": "#999", "dash": "dot"}, annotation_text=f"best layer {best_layer}")
    fig.update_layout(xaxis_title="layer (0 = embeddings)", yaxis_title=metric, height=380, legend={"orientation": "h"},
                      margin={"t": 30, "b": 40})
    return fig


def confusion_figure(matrix: np.ndarray, labels: Sequence[str], title: str = "") -> go.Figure:
    m = np.asarray(matrix)
    fig = go.Figure(go.Heatmap(z=m, x=[f"predicted {x}" for x in labels], y=[f"true {x}" for x in labels],
                               colorscale="Blues", showscale=False, text=m, texttemplate="%{text}"))
    fig.update_layout(title=title, height=300, yaxis={"autorange": "reversed"}, margin={"t": 40, "b": 30})
    return fig


def score_histogram(scores: np.ndarray, labels: Sequence[str], threshold: float = 0.5, title: str = "") -> go.Figure:
    fig = go.Figure()
    for lab in ("safe", "unsafe", "rethink"):
        sel = np.asarray([x == lab for x in labels])
        if sel.any():
            fig.add_trace(go.Histogram(x=np.asarray(scores)[sel], name=lab, opacity=0.65, nbinsx=25,
                                       marker_color=CLASS_COLOURS[lab]))
    fig.add_vline(x=threshold, line={"dash": "dot", "color": "#555"})
    fig.update_layout(barmode="overlay", xaxis_title="P(unsafe)", yaxis_title="items", title=title, height=300,
                      margin={"t": 40, "b": 30}, xaxis={"range": [0, 1]})
    return fig


def sweep_figure(alphas: Sequence[float], refusal: Sequence[float], kl: Sequence[float]) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(alphas), y=list(refusal), name="refusal rate (keyword)", mode="lines+markers",
                             line={"color": "#e76f51"}))
    if np.isfinite(np.asarray(kl, dtype=float)).any():
        fig.add_trace(go.Scatter(x=list(alphas), y=list(kl), name="harmless KL (nats)", mode="lines+markers",
                                 yaxis="y2", line={"color": "#264653", "dash": "dash"}))
    fig.update_layout(xaxis_title="α", yaxis={"title": "refusal rate", "range": [0, 1.02]},
                      yaxis2={"title": "KL (nats)", "overlaying": "y", "side": "right", "rangemode": "tozero"},
                      height=360, legend={"orientation": "h"}, margin={"t": 30})
    return fig


def loss_figure(history: list[dict[str, float]]) -> go.Figure:
    fig = go.Figure()
    for k in ("loss", "proto", "nce", "ce"):
        fig.add_trace(go.Scatter(x=[h["epoch"] for h in history], y=[h[k] for h in history], name=k, mode="lines"))
    fig.update_layout(xaxis_title="epoch", yaxis_title="loss", height=280, margin={"t": 20})
    return fig


def prototype_scatter(cos: np.ndarray, labels: Sequence[str]) -> go.Figure:
    """cos(z, μ_safe) against cos(z, μ_unsafe) per item, coloured by label (rethink should sit between)."""
    fig = go.Figure()
    for lab in ("safe", "unsafe", "rethink"):
        sel = np.asarray([x == lab for x in labels])
        if sel.any():
            fig.add_trace(go.Scatter(x=cos[sel, 0], y=cos[sel, 1], mode="markers", name=lab,
                                     marker={"color": CLASS_COLOURS[lab], "size": 8}))
    fig.update_layout(xaxis_title="cos(z, μ_safe)", yaxis_title="cos(z, μ_unsafe)", height=340, margin={"t": 20})
    return fig


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
                st.info("The labelling database has no labelled datasets yet — import one on **Label**, or use the "
                        "sample data.")
                return None
            name, items = load_items(dataset=st.selectbox("Labelling dataset", names, key=f"{prefix}_db"))
            return PickedData(name, items)
        if src == SOURCES[2]:
            names = state.get_store().datasets()
            if not names:
                st.info("No dataset in the activation store yet — label trajectories on **Trace** or load the demo "
                        "set on **Home**.")
                return None
            name = st.selectbox("Store dataset", names, key=f"{prefix}_store")
            st.caption("Uses the stored trajectories as captured (prompt + the model's completion); items tagged "
                       "`validation` are held out, otherwise a seeded stratified 25 %.")
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


def features(model: Any, picked: PickedData, req: Any, bar: Any) -> Any:
    """FeatureSet for ``req`` from the picked data (captures and caches, or reads the store)."""
    from core.probes.workflow import features_for, features_from_store_for

    if picked.store_dataset is not None:
        return features_from_store_for(model, state.get_store(), picked.store_dataset, req)
    return features_for(model, picked.items or [], picked.name, req, stage_progress(bar))


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


def stage_progress(bar: Any) -> Any:
    """A ``(stage, done, total)`` callback driving one ``st.progress`` bar."""
    names = {"capture": "Capturing hidden states", "fit": "Training"}

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"{names.get(stage, stage)}: {done}/{total}")
    return progress
