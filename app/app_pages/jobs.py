"""Jobs: launch background runs, watch them live, cancel/resume, compare curves."""

import streamlit as st

from app import jobs_widgets as jw

st.title("Jobs")
st.caption(
    "Long runs (probe sweeps, alignment training) run in their own process: close the browser and "
    "come back — the history is kept. Charts update about once a second while a job runs."
)

runs, launch, compare = st.tabs(["Runs", "Launch", "Compare"])
with launch:
    jw.launch_form()
with runs:
    rows = jw.runs_panel()
with compare:
    jw.compare_runs(rows)
