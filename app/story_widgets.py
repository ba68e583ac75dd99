"""Panels of the Story page: presenter controls, one step at a time, deep links to the full pages.

Everything shown comes from ``core.story.read.Story`` (read from the bundle's artefacts, cached on their
mtimes in ``app.state``); the figures are ``core.story.figures``, the same ones the offline export embeds.
No model is loaded here: the page opens in well under 3 s once a bundle exists.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app import state
from core.errors import InputError
from core.jobs.backend import get_backend
from core.story import facts, figures
from core.story.bundle import story_dir
from core.story.read import Story
from core.story.steps import STEPS, Step

PAGES = {
    "audit": "app_pages/audit.py",
    "probes": "app_pages/probes.py",
    "steer": "app_pages/steer.py",
    "jobs": "app_pages/jobs.py",
}
# Large type for a projector; the step title and sentence are what a room reads.
CSS = """<style>
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li {font-size: 1.3rem;}
.story-answer {white-space: pre-wrap; font-size: 1.1rem; border-left: 5px solid #7F7F7F; padding-left: .6rem;}
.story-sentence {font-size: 1.9rem !important; line-height: 1.35; margin: 0.2rem 0 0.8rem;}
</style>"""


def large_type() -> None:
    st.markdown(CSS, unsafe_allow_html=True)


def open_story(root: Path | None = None) -> Story | None:
    """The bundle's story (cached on its artefacts' mtimes), or None after saying how to build one."""
    try:
        return state.get_story(root or story_dir())
    except InputError as exc:  # no bundle yet, or one pointing at a run that is gone
        st.info(str(exc))
        rebuild_button("Build the story on the active model")
        return None


def rebuild_button(label: str = "Rebuild on the active model") -> None:
    """Queue a ``story.build`` job for the sidebar's model (it reuses the newest finished alignment run)."""
    if st.button(label, key="story_rebuild"):
        spec = state.model_spec()
        job_id = get_backend().submit(
            "story.build", {"model": spec.name, "device": spec.device}, identity=state.current_identity()
        )
        state.select_job(job_id)
        st.success(f"Queued {job_id}: follow it on the Jobs page; the story updates when it ends.")


def presenter(n: int) -> int:
    """Previous / next (← / → keys), the step picker; returns the current step."""
    i = state.story_step(n)  # callbacks run before the script: this is already the new step
    c = st.columns([1.3, 1.1, 4, 1.6])
    c[0].button(
        "← Previous",
        key="story_prev",
        shortcut="ArrowLeft",
        disabled=i == 0,
        width="stretch",
        on_click=state.set_story_step,
        args=(i - 1,),
    )
    c[1].button(
        "Next →",
        key="story_next",
        shortcut="ArrowRight",
        disabled=i == n - 1,
        width="stretch",
        on_click=state.set_story_step,
        args=(i + 1,),
    )
    c[2].progress((i + 1) / n, text=f"Step {i + 1} of {n}: {STEPS[i].title}")
    c[3].caption("Keys: ← previous · → next")
    return i


def deep_link(step: Step, story: Story) -> None:
    """'Open this in the full page', with the same data selected there."""
    m = story.manifest
    params = {
        "audit": {"audit": m.audit_dir},
        "probes": {"probe": m.probe.get("name", "")},
        "steer": {"probe": m.probe.get("name", "")},
        "jobs": {"job": m.job_id or ""},
    }[step.page]
    # a button, not st.page_link: a link is resolved while drawing, which needs the navigation of the app's
    # entrypoint; switch_page runs on click only (the pages' own deep links do the same)
    if st.button(f"↗ {step.link_label} (full page)", key=f"story_link_{step.key}", help=str(params)):
        st.switch_page(PAGES[step.page], query_params=params)


def _answer(col: Any, title: str, a: dict[str, Any]) -> None:
    with col.container(border=True):
        st.markdown(f"**{title}**")
        st.markdown(f"> {a.get('prompt') or '—'}")
        answer = html.escape(a.get("answer") or "—")  # model text: escaped, wrapped, never markdown
        st.markdown(f"<div class='story-answer'>{answer}</div>", unsafe_allow_html=True)
        if a.get("id") is None:  # the live monitor's own generations (step 3), not audit records
            st.caption(f"Live monitor: **{a.get('label') or '—'}**")
        else:
            st.caption(f"Audit verdict: **{a.get('label') or '—'}** · item `{a.get('id')}`")


def step_view(i: int, story: Story) -> None:
    step = STEPS[i]
    st.header(step.title)
    st.markdown(f"<p class='story-sentence'>{step.sentence}</p>", unsafe_allow_html=True)
    with st.expander("What am I looking at?"):
        st.write(step.explainer)
    VIEWS[step.key](story)
    deep_link(step, story)


def _complies(s: Story) -> None:
    c = st.columns(2)
    _answer(c[0], "Harmful request", s.pair["harmful"])
    _answer(c[1], "Benign counterpart", s.pair["benign"])


def _knows(s: Story) -> None:
    c = st.columns([3, 2])
    if s.grids:
        c[0].plotly_chart(figures.grids_figure(s.grids), key="story_grids")
    c[1].plotly_chart(figures.auroc_figure(s.auroc, s.probe_layer), key="story_auroc")
    for line in facts.knows_lines(s):
        st.markdown(f"- {line}")


def _guard(s: Story) -> None:
    mon = s.monitor
    if not mon:
        st.info("No monitor run in this bundle.")
        return
    st.plotly_chart(figures.monitor_figure(mon), key="story_monitor")
    for line in facts.guard_lines(s):
        st.markdown(f"- {line}")
    c = st.columns(2)
    _answer(c[0], "No guard", {"prompt": mon["prompt"], "answer": mon["completion"], "label": "unguarded"})
    guarded = mon.get("guarded_completion") or "(stopped before the first answer token)"
    label = "stopped at the flag" if mon.get("stopped") else "not stopped"
    _answer(c[1], "Guard: stop at the flag", {"prompt": mon["prompt"], "answer": guarded, "label": label})


def _training(s: Story) -> None:
    if not s.curves:
        st.info("The job's event log has no training metrics.")
        return
    st.plotly_chart(figures.curves_figure(s.curves), key="story_curves")


def _proof(s: Story) -> None:
    st.dataframe(pd.DataFrame(facts.scorecard_rows(s)), hide_index=True, width="stretch", key="story_score")
    st.plotly_chart(figures.scorecard_figure(s.rates), key="story_scorecard")
    for line in facts.states_knew_lines(s):
        st.markdown(f"- {line}")
    for j, e in enumerate(s.examples):
        c = st.columns(2)
        _answer(c[0], f"Example {j + 1} · before", {**e, "answer": e["before"], "label": e["before_label"]})
        _answer(c[1], f"Example {j + 1} · after", {**e, "answer": e["after"], "label": e["after_label"]})


def _moved(s: Story) -> None:
    c = st.columns(2)
    if s.repdiff:
        c[0].plotly_chart(figures.repdiff_figure(s.repdiff), key="story_repdiff")
    if s.map:
        c[1].plotly_chart(figures.map_figure(s.map), key="story_map")


VIEWS = {
    "complies": _complies,
    "knows": _knows,
    "guard": _guard,
    "training": _training,
    "proof": _proof,
    "moved": _moved,
}


def provenance(story: Story) -> None:
    with st.expander("Where every number comes from"):
        for line in facts.provenance_lines(story):
            st.markdown(f"- {line}")
        for note in story.notes:
            st.warning(note)
        st.caption("Export for people without the app: `reasonscope story export --out story.html`.")
