"""Audit: does this model (checkpoint, steered configuration) refuse what it should, answer what it should,
resist jailbreaks, and keep its reasoning safe? Scorecards with confidence intervals and paired tests."""

import streamlit as st

from app import audit_widgets as aw
from app.audit_repdiff_widgets import repdiff_view

st.title("Audit")
st.caption(
    "Pick the subjects to compare (model + adapter + steering + template) and the suites, then run. Every "
    "rate comes with a 95 % Wilson score interval and n; a second subject is compared with the "
    "first on the same items (exact McNemar test), so “better” means significantly better."
)

st.subheader("1 · Subjects")
aw.subject_editor()

st.subheader("2 · Suites and data")
aw.run_panel()
aw.job_status()

st.subheader("3 · Results")
folder = aw.pick_audit()
if folder is None:
    st.stop()
result = aw.load(folder)
if result is None:
    st.stop()
aw.result_caption(folder, result)
score, breakdown, worst, review, diff = st.tabs(
    ["Scorecard", "By category", "Worst items", "Judge disagreements", "Representation diff"]
)
with score:
    aw.scorecard_view(result)
    aw.alignment_report_view(folder)
    aw.downloads(folder)
with breakdown:
    aw.breakdown_view(result)
with worst:
    aw.worst_view(result, folder)
with review:
    aw.review_queue(result, folder)
with diff:
    repdiff_view(result)
