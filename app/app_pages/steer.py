"""Steer: add, ablate or cap a direction in the residual stream; compare baseline and steered answers for the
same seed; sweep the strength and plot refusal rate and harmless KL."""

import streamlit as st

from app import state
from app import steer_widgets as sw

st.title("Steer")
st.caption(
    "Change the model's hidden states while it generates: **add** a direction (h ← h + α·v), **ablate** it "
    "(h ← h − α·(h·v̂)v̂, at every layer by default, as Arditi et al. 2024) or **cap** the projection on it "
    "(h ← h − max(h·v̂ − α, 0)·v̂). Baseline and steered answers use the same prompt, settings and seed."
)

model = state.require_model()

st.subheader("1 · Vector")
vec = sw.pick_vector(model)
if vec is None:
    st.stop()
vec = sw.vector_algebra(model, vec)
if vec is None:
    st.stop()
sw.vector_summary(vec)

st.subheader("2 · How to apply it")
steering = sw.apply_panel(model, vec)
if steering is None:
    st.stop()

st.subheader("3 · Compare")
sw.compare_panel(model, vec, steering)

st.subheader("4 · Coefficient sweep")
sw.sweep_panel(model, vec, steering)
