"""Explore's fast first views: the quick PCA map while UMAP fits in the background, and the density +
picked-paths token map (what a selection of many trajectories needs to stay readable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app import density_charts
from app.explorer_widgets import StageDisplay
from core.explore.background import background_fits
from core.explore.projection import ProjectionConfig, ProjectionManager
from core.explore.trajectory_sets import TrajSet


def fit_progressively(
    pm: ProjectionManager,
    cfg: ProjectionConfig,
    progressive: bool,
    key: str,
    fit: Callable[[ProjectionConfig, Any], Any],
    stages: StageDisplay,
) -> Any:
    """The map to draw now. UMAP already fitted, PCA, or progressive off: ``fit`` in the foreground with its
    stages shown. Otherwise the UMAP fit starts in the background (the projection manager's lock queues it
    behind other sessions' fits) and the PCA map of the same points is returned at once; a background
    failure is raised here on the next run, as a foreground one would be (and retried on the one after)."""
    if cfg.method != "umap" or not progressive or pm.get(key) is not None:
        return fit(cfg, stages)
    fits = background_fits()
    old = fits.get(key)
    if old is not None and old.done and old.error is None:  # finished, yet not in this manager: fit again
        fits.forget(key)
    job = fits.start(key, lambda: fit(cfg, None))
    job.wait(0.2)  # a fit refused at once (too few points, …) is reported now, not after the PCA map
    if job.error is not None:
        fits.forget(key)  # reported once; the next run tries again (the user may have fixed the cause)
        raise job.error
    quick = fit(cfg.model_copy(update={"method": "pca"}), stages)
    if not job.done:
        _switch_when_fitted(key)
    elif job.error is None and pm.get(key) is not None:  # finished while PCA was drawn: show UMAP now
        st.rerun()
    return quick


@st.fragment(run_every=1.0)
def _switch_when_fitted(key: str) -> None:
    """Polls the background fit; reruns the page once it is done (UMAP then comes from the cache)."""
    job = background_fits().get(key)
    if job is not None and job.done:
        st.rerun()


def refining_notice(n_points: int) -> None:
    st.info(
        f"Showing **PCA** now — the UMAP map of these {n_points} points is being fitted in the background "
        "and replaces this one when it is ready (compiled kernels are cached on disk after the first fit).",
        icon=":material/hourglass_top:",
    )


def density_choice(ts: TrajSet, n_components: int) -> list[int] | None:
    """2-D token maps: 'Density + picked paths' (the default above ``DENSITY_FROM`` trajectories) returns the
    trajectories to draw on top of the density; 'Every path' returns None."""
    if n_components != 2:
        return None
    options = ["Density + picked paths", "Every path"]
    draw = st.radio(
        "Draw",
        options,
        index=0 if len(ts.trajs) > density_charts.DENSITY_FROM else 1,
        horizontal=True,
        key="explore_draw",
        help="Density: where all tokens of the selection lie (filled contours), with the paths of the few "
        "trajectories you pick drawn on top. Every path: each trajectory's tokens joined (a hairball beyond "
        "a dozen answers).",
    )
    if draw != options[0]:
        return None
    picks = st.multiselect(
        "Paths to highlight",
        list(range(len(ts.trajs))),
        default=density_charts.default_highlights(ts.labels),
        format_func=lambda i: short_name(ts, i),
        max_selections=density_charts.MAX_HIGHLIGHTS,
        key="explore_highlight",
    )
    return sorted(picks)


def short_name(ts: TrajSet, i: int) -> str:
    m = ts.metas[i]
    prompt = " ".join(m.prompt.split())
    return f"{m.label or 'unlabelled'} · {prompt[:40]}{'…' if len(prompt) > 40 else ''}"
