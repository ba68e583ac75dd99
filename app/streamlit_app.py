"""ReasonScope entrypoint: page config, login gate, the shared sidebar and the page router."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import state
from app.auth import require_login
from app.boundary import user_errors
from app.remote_widgets import run_on_caption, run_on_choice
from core.capture.models import ModelSpec
from core.config import configure_numba_cache, store_dir
from core.story.bundle import MANIFEST, story_dir

configure_numba_cache()  # before any page imports umap: its kernels compile once per install, not per session

# page_icon is an emoji, not a Material icon: a Material favicon is fetched from a font CDN
# (breaks air-gapped use)
st.set_page_config(page_title="ReasonScope", page_icon="🔬", layout="wide")

PAGES_DIR = Path(__file__).parent / "app_pages"
# (file, title, icon): a page appears once its file exists.
PAGES = [
    ("story.py", "Story", ":material/slideshow:"),
    ("home.py", "Home", ":material/home:"),
    ("trace.py", "Trace", ":material/timeline:"),
    ("explore.py", "Explore", ":material/scatter_plot:"),
    ("label.py", "Label", ":material/label:"),
    ("probes.py", "Probes", ":material/sensors:"),
    ("steer.py", "Steer", ":material/tune:"),
    ("jobs.py", "Jobs", ":material/work_history:"),
    ("audit.py", "Audit", ":material/fact_check:"),
]


def sidebar() -> None:
    with st.sidebar:
        st.subheader("Model")
        spec = state.model_spec()
        choice = st.radio(
            "Model source",
            ["Embedded default (SmolLM2-135M-Instruct)", "Other (HF id or local path)"],
            index=0 if spec.name == "default" else 1,
            key="model_source",
        )
        name = "default"
        if choice.startswith("Other"):
            name = st.text_input(
                "Hugging Face id or local folder",
                value="" if spec.name == "default" else spec.name,
                key="model_name_input",
            )
        device = st.selectbox(
            "Device",
            ["auto", "cpu", "cuda", "mps"],
            index=["auto", "cpu", "cuda", "mps"].index(spec.device),
            key="model_device",
        )
        adapter = st.text_input(
            "LoRA adapter folder (optional)", value=spec.adapter or "", key="model_adapter"
        )
        where = run_on_choice(spec.where)
        if st.button("Use this model", width="stretch"):
            if name.strip():
                state.set_model_spec(  # a bad host URL is an InputError: the sidebar's boundary shows it
                    ModelSpec(name=name.strip(), device=device, adapter=adapter.strip() or None, where=where)
                )
                st.rerun()
            st.warning("Type a model id or folder first.")
        st.caption(
            f"Active: `{spec.name}`{' + ' + spec.adapter if spec.adapter else ''} on `{device}`"
            + run_on_caption(spec.where)
        )
        st.divider()
        if state.current_identity() is None or state.get_annotator_name():
            st.text_input("Your name (for labels, jobs, audits)", key="annotator_name")
        else:
            st.caption(f"Signed in as **{state.current_identity()}**")
        st.caption(f"Store: `{store_dir()}`")


if require_login():
    # A first-time visitor lands on the story when one is built (the Docker image builds it); Home otherwise.
    first = "story.py" if (story_dir() / MANIFEST).is_file() else "home.py"
    pages = [
        st.Page(str(PAGES_DIR / f), title=t, icon=i, default=(f == first))
        for f, t, i in PAGES
        if (PAGES_DIR / f).is_file()
    ]
    nav = st.navigation(pages)
    with user_errors():  # a broken sidebar must not take the page down with it
        sidebar()
    with user_errors():  # the one error boundary of every page
        nav.run()
