"""Probes: train per-layer probes (or the CRAFT contrastive head) on labelled items, see which layer separates
safe from unsafe best, inspect mistakes, save / load / compare."""

import streamlit as st

from app import probe_widgets as pw
from app import state

st.title("Probes")
st.caption(
    "Train a probe on the model's hidden states to find *where* it separates safe from unsafe: a logistic "
    "regression or a difference-in-means direction per layer (with k-fold cross-validation), or the CRAFT "
    "contrastive head (safe / unsafe / rethink). Scores are P(unsafe)."
)

model = state.require_model()
picked = pw.dataset_picker("probes")
if picked is not None:
    pw.train_panel(model, picked)
pw.result_panel()

st.subheader("Saved probes")
pw.saved_probes_panel(model)
