"""Label: build and review datasets of safe / unsafe / rethink items, with who-changed-what history."""

import streamlit as st

from app import label_widgets as lw

st.title("Label")
st.caption(
    "Harmful requests and their benign counterparts, safe / unsafe / *rethink* answers: the data probes, "
    "contrastive heads, rewards and audits learn from. Every label change is recorded with its author and "
    "time; two people editing the same item never overwrite each other silently."
)

db = lw.db_or_none()
if db is None:
    st.stop()

who = lw.annotator_field()
lw.flash_message()
dataset = lw.dataset_picker(db, who)
if dataset is None:
    lw.empty_state(db, who)
    st.stop()

lw.conflict_panel(db, dataset, who)
lw.tabs_panel(db, dataset, who)
