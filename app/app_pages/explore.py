"""Explore: many trajectories on one 2-D/3-D map -- paths through the layers, or tokens at a layer."""

import streamlit as st

from app import explore_map_widgets as mw
from app import state

st.title("Explore")
st.caption(
    "Each stored trajectory projected into one map (UMAP or PCA). **Layer paths**: one pooled state per "
    "layer, joined from embeddings to the last layer. **Token paths**: every token at a layer, joined in "
    "text order; slide or play through the layers. Click a point to open that trajectory in Trace."
)

store = state.get_store()
metas = mw.selection_panel(store)
if metas is None:
    st.stop()
controls = mw.map_controls()
ts = mw.load_panel(store, metas)
if ts is None:
    st.stop()
shown = mw.map_panel(ts, controls)
if shown is None:
    st.stop()
mw.open_panel(ts)
mw.project_panel(controls, shown)
