"""Trace: type a prompt, watch the answer stream, then see every token's hidden state at every layer."""

import streamlit as st

from app import state
from app import trace_widgets as tw

st.title("Trace")
st.caption(
    "Type a prompt and watch the model answer. Every layer's hidden state at every prompt and generated "
    "token is captured and stored; below, colour shows how the states move — by token and by layer."
)
store = state.get_store()

tw.generate_panel(store)
opened = tw.open_trajectory(store)
if opened is None:
    st.stop()

st.subheader("Trajectory")
tw.summary_panel(opened)
scores = tw.score_panel(store, opened.traj)
tw.token_views(opened.traj, scores)
tw.label_panel(store, opened)
