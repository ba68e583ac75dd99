"""Panels of the Home page: what each page is for, and facts about the active model (with demo data)."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from app import state
from core.jobs.eta import Eta

DEMO_N = 48
# length-sorted batches of 32 (the first one also times the machine): the demo load with all-layer capture
# ran 1.26x raw generate at 32, 1.40x at 24 and 1.70x at 16 (benchmarks/bench_demo_load.py --batch-size B;
# raw generate itself is fastest at 32)
DEMO_BATCH = 32

PAGE_HELP = {
    "Trace": "Type a prompt and watch the model answer. Every layer's hidden state at every token is "
    "captured; a heatmap shows where in the network and in the text the states move.",
    "Explore": "Project many trajectories into one 2-D/3-D map (UMAP or PCA). Follow each answer's path "
    "through the layers and see safe and unsafe reasoning separate.",
    "Label": "Build labelled data: harmful requests, benign counterparts, safe/unsafe/rethink traces. Every "
    "label change is recorded with who made it and when.",
    "Probes": "Train linear probes and the CRAFT contrastive head on labelled trajectories. Find the layer "
    "that best separates safe from unsafe reasoning.",
    "Steer": "Add or remove a direction in the residual stream and compare baseline and steered answers side "
    "by side, with the exact layers and strength shown.",
    "Jobs": "Launch long runs (alignment training, probe sweeps) in the background and watch their metrics "
    "live. Jobs keep running if you close the browser.",
    "Audit": "Measure refusal, over-refusal, jailbreak success and reasoning leaks with confidence "
    "intervals, and export a report a stakeholder can read.",
}


def story_link() -> None:
    """New here? The six-step story (prebuilt, opens in seconds) is the quickest way in."""
    # a button + switch_page (not st.page_link, which needs the entrypoint's navigation while drawing)
    if st.button(
        "▶ New here? Start with the story: the model knew, it complied, we changed it — six steps",
        key="home_story",
        type="primary",
    ):
        st.switch_page("app_pages/story.py")


def page_guide() -> None:
    """One card per page, two columns."""
    cols = st.columns(2)
    for i, (page, text) in enumerate(PAGE_HELP.items()):
        with cols[i % 2].container(border=True):
            st.markdown(f"**{page}** — {text}")


def active_model_panel() -> None:
    """The active model's facts and the store's size; offers demo trajectories when the store is empty."""
    try:
        model = state.get_model()
    except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
        state.show_error(exc)
        st.info("Pick another model in the sidebar, or use the embedded default.")
        return
    info = model.info()
    c = st.columns(4)
    c[0].metric("Decoder layers", info["n_layers"])
    c[1].metric("Hidden size", info["d_model"])
    c[2].metric("Parameters", f"{info['n_params'] / 1e6:.0f} M")
    c[3].metric("Device", info["device"])
    st.caption(
        f"{info['architecture']} · context window {info['context_window']} tokens · fingerprint "
        f"`{info['fingerprint']}` · loaded from `{info['source']}`"
    )
    n = len(state.get_store().query(limit=1000))
    if n == 0:
        _demo_offer(model)
    else:
        st.success(f"{n} trajectories in the store. Open **Explore** to see them on one map.")


def _demo_offer(model: Any) -> None:
    from core.capture.templates import build_messages
    from core.samples.demo import DEMO_NEW_TOKENS, demo_items, seed_demo_store
    from core.samples.speed import demo_speed, minutes_text, record_demo_load

    chats = [build_messages(it["prompt"]) for it in demo_items(DEMO_N)]
    with st.spinner("Measuring this machine's speed with the active model…"):
        speed = demo_speed(model, chats, DEMO_BATCH)  # once per model and install, then recorded
    expected = speed.seconds(DEMO_N, DEMO_NEW_TOKENS)
    how = (
        f"measured on {speed.measured_loads} earlier load(s)"
        if speed.measured_loads
        else "from a timed batch of the active model"
    )
    st.info(
        "No trajectories yet — open **Trace** and run a prompt, or import a dataset on **Label**. "
        f"Or load demo trajectories: {DEMO_N} harmful, benign and borderline prompts from the project's "
        f"sample data, answered by the active model — {minutes_text(expected)} on this machine ({how}). "
        f"The first {DEMO_BATCH} prompts are timed and the estimate is updated as it goes."
    )
    if st.button("Load demo trajectories", type="primary"):
        eta = Eta(total=DEMO_N, unit="prompts")
        bar = st.progress(0.0, text=f"Capturing the first {DEMO_BATCH} prompts to measure the speed…")
        t0 = time.perf_counter()
        try:
            keys = seed_demo_store(
                model,
                state.get_store(),
                n=DEMO_N,
                max_new_tokens=DEMO_NEW_TOKENS,
                batch_size=DEMO_BATCH,
                progress=lambda d, t: bar.progress(d / t, text=f"Demo trajectories: {eta.text(d)}"),
            )
        except Exception as exc:  # noqa: BLE001
            state.show_error(exc)
        else:
            record_demo_load(model, speed, DEMO_N, DEMO_NEW_TOKENS, time.perf_counter() - t0)
            st.success(f"Stored {len(keys)} trajectories in dataset 'demo'. Open **Explore** to see them.")
