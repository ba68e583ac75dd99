"""The one place that owns Streamlit session state and cached resources.

Pages and widgets call these typed getters and setters; nothing else in app/ touches ``st.session_state``
(an AST check in tests/unit/test_architecture.py enforces it) or ``st.cache_resource`` for shared objects. The
model is shared across sessions (one copy in RAM); ``LoadedModel.lock`` serialises traces of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from app.boundary import show_exception
from core.capture import placement
from core.capture.default_model import model_load_message
from core.capture.models import LoadedModel, ModelSpec, load_model
from core.capture.store import ActivationStore
from core.story.bundle import mtimes as story_mtimes
from core.story.read import load_story

DEFAULT_MODEL_ENV = "REASONSCOPE_MODEL"  # lets a deployment (or a test) pick the starting model


def default_model_name() -> str:
    return os.environ.get(DEFAULT_MODEL_ENV, "default")


_IN_MEMORY: list[ModelSpec] = []  # specs ``_load`` holds (its cache keeps the last 2), for the spinner text


@st.cache_resource(show_spinner=False, max_entries=2)
def _load(spec: ModelSpec) -> LoadedModel:
    return load_model(spec)


def _load_with_message(spec: ModelSpec) -> LoadedModel:
    """``_load`` with a spinner that says what is really happening (from cache vs first pull) when the
    model is not in memory yet."""
    if spec in _IN_MEMORY:
        return _load(spec)
    with st.spinner(model_load_message(spec.name)):
        model = _load(spec)
    _IN_MEMORY[:] = [*_IN_MEMORY[-1:], spec]
    return model


def ndif_api_key() -> str | None:
    """The NDIF key from the environment or Streamlit secrets. A secret is copied into this process's
    environment, where ``core.capture.placement.api_key`` reads it when a request is sent; it is never put
    in session state, a ``ModelSpec`` or anything stored."""
    key = placement.api_key()
    if key:
        return key
    try:
        secret = st.secrets.get(placement.KEY_ENV)
    except Exception:  # noqa: BLE001 - no secrets file is the normal case
        secret = None
    if secret:
        os.environ[placement.KEY_ENV] = str(secret)
    return placement.api_key()


def model_spec() -> ModelSpec:
    spec = st.session_state.get("model_spec")
    if spec is None:
        spec = ModelSpec(name=default_model_name())
        st.session_state["model_spec"] = spec
    return spec


def set_model_spec(spec: ModelSpec) -> None:
    st.session_state["model_spec"] = spec


def get_model() -> LoadedModel:
    """The active model (raises core.errors.ModelLoadError with the fix; pages show it via show_error)."""
    return _load_with_message(model_spec())


def require_model() -> LoadedModel:
    """The active model; when it cannot be loaded, the error is shown and the page stops here."""
    try:
        return get_model()
    except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
        show_error(exc)
        st.stop()


def get_store() -> ActivationStore:
    return ActivationStore()  # cheap: opens SQLite per call; the root follows REASONSCOPE_HOME/STORE


def current_identity() -> str | None:
    """Who is acting: the signed-in user when auth is on, else the name typed in the sidebar (per session)."""
    user = getattr(st, "user", None)
    try:
        if user is not None and user.get("is_logged_in"):
            return str(user.get("name") or user.get("email") or "signed-in user")
    except Exception:  # st.user raises when auth is not configured  # noqa: BLE001
        pass
    if st.session_state.get("auth_user"):
        return str(st.session_state["auth_user"])
    name = st.session_state.get("annotator_name")
    return str(name) if name else None


def show_error(exc: BaseException) -> None:
    """A clean message for errors a user can act on; the traceback in an expander for anything unexpected
    (``app.boundary.show_exception``)."""
    show_exception(exc)


def remember(key: str, default: Any = None) -> Any:
    return st.session_state.setdefault(key, default)


# ---- typed session-state accessors ------------------------------------------------------------------------
# Every other module in app/ reads and writes session state through these (tests/unit/test_architecture.py
# checks it). The keys are the same strings as before, so widgets created with ``key=<same string>`` and
# tests that preset ``AppTest.session_state[...]`` keep working.


# identity ---------------------------------------------------------------------------------------------------
def get_auth_user() -> str | None:
    """The name given at the password login (public mode), if any."""
    name = st.session_state.get("auth_user")
    return str(name) if name else None


def set_auth_user(name: str) -> None:
    st.session_state["auth_user"] = name


def get_annotator_name() -> str | None:
    """The name typed in the sidebar / on Label for this session ('' counts as none)."""
    name = st.session_state.get("annotator_name")
    return str(name) if name else None


def adopt_annotator_name(widget_key: str) -> None:
    """``on_change`` callback: the name typed into the text input ``widget_key`` becomes the annotator
    name."""
    st.session_state["annotator_name"] = st.session_state.get(widget_key, "").strip()


# explore ----------------------------------------------------------------------------------------------------
def explore_projections() -> dict[str, list[dict[str, Any]]]:
    """New prompts projected onto Explore maps: fit key -> entries ``{name, coords, mode[, text]}``
    (mutable)."""
    return remember("explore_projected", {})


# probes -----------------------------------------------------------------------------------------------------
def get_probe_result() -> tuple[Any, Any, str] | None:
    """The last trained probe of this session: ``(ProbeSet | ContrastiveProbe, FeatureSet, method)``."""
    return st.session_state.get("probe_result")


def set_probe_result(result: Any, features: Any, method: str) -> None:
    st.session_state["probe_result"] = (result, features, method)


# steer ------------------------------------------------------------------------------------------------------
def get_steer_pair() -> tuple[str, str, str, str, int] | None:
    """The last baseline/steered comparison: ``(prompt, baseline, steered, description, seed)``."""
    return st.session_state.get("steer_pair")


def set_steer_pair(prompt: str, baseline: str, steered: str, description: str, seed: int) -> None:
    st.session_state["steer_pair"] = (prompt, baseline, steered, description, seed)


def get_steer_sweep() -> list[Any] | None:
    """The last α sweep: a list of ``core.steer.sweep.SweepPoint``."""
    return st.session_state.get("steer_sweep")


def set_steer_sweep(points: list[Any]) -> None:
    st.session_state["steer_sweep"] = points


def get_residual_norms(fingerprint: str) -> Any | None:
    """The mean residual norms (``core.steer.units.ResidualNorms``) measured for a model this session."""
    return st.session_state.get("steer_norms", {}).get(fingerprint)


def set_residual_norms(fingerprint: str, norms: Any) -> None:
    st.session_state.setdefault("steer_norms", {})[fingerprint] = norms


def get_diff_means_vector(key: tuple[Any, ...]) -> Any | None:
    """The difference-in-means vector computed for the inputs ``key`` this session, or None."""
    if st.session_state.get("steer_dim_key") != key:
        return None
    return st.session_state["steer_dim_vec"]


def set_diff_means_vector(key: tuple[Any, ...], vector: Any) -> None:
    st.session_state["steer_dim_key"], st.session_state["steer_dim_vec"] = key, vector


# label ------------------------------------------------------------------------------------------------------
def set_label_flash(message: str) -> None:
    """A message shown once at the top of the Label page on its next run."""
    st.session_state["label_flash"] = message


def pop_label_flash() -> str | None:
    return st.session_state.pop("label_flash", None)


def request_label_dataset(name: str) -> None:
    """Select dataset ``name`` in the Label picker on the next run (after it was created or imported)."""
    st.session_state["label_dataset_next"] = name


def apply_requested_label_dataset(names: list[str]) -> None:
    """Before the picker is drawn: a requested dataset that exists becomes the picker's value."""
    if st.session_state.get("label_dataset_next") in names:
        st.session_state["label_dataset"] = st.session_state.pop("label_dataset_next")


def get_label_conflict() -> dict[str, Any] | None:
    """A save that clashed with someone else's change: ``{dataset, comment, rows}``."""
    return st.session_state.get("label_pending_conflict")


def set_label_conflict(pending: dict[str, Any]) -> None:
    st.session_state["label_pending_conflict"] = pending


def clear_label_conflict() -> None:
    del st.session_state["label_pending_conflict"]


def get_label_bulk_pending() -> dict[str, Any] | None:
    """A "Set all N shown" waiting for its confirmation: ``{dataset, label, n, gen}``."""
    return st.session_state.get("label_bulk_pending")


def set_label_bulk_pending(pending: dict[str, Any] | None) -> None:
    st.session_state["label_bulk_pending"] = pending


def label_table_gen() -> int:
    """Generation of the Label table editor; a new one (fresh widget, fresh snapshot) after saves /
    reloads."""
    return st.session_state.get("label_table_gen", 0)


def set_label_table_gen(gen: int) -> None:
    st.session_state["label_table_gen"] = gen


def bump_label_table_gen() -> None:
    st.session_state["label_table_gen"] = st.session_state.get("label_table_gen", 0) + 1


def get_label_table_snapshot() -> dict[str, Any] | None:
    """The table rows as this session loaded them: ``{dataset, sig, gen, items, at}``."""
    return st.session_state.get("label_table_snapshot")


def set_label_table_snapshot(snapshot: dict[str, Any]) -> None:
    st.session_state["label_table_snapshot"] = snapshot


def label_skipped(dataset: str, mode: str) -> list[int]:
    """Item pks skipped in this queue this session (mutable; append to skip)."""
    return st.session_state.setdefault(f"label_skipped::{dataset}::{mode}", [])


def clear_label_skipped(dataset: str, mode: str) -> None:
    st.session_state[f"label_skipped::{dataset}::{mode}"] = []


def get_resolve_shown_versions() -> dict[int, int]:
    """Item pk -> version of the disagreements shown on the previous run (what the user saw)."""
    return st.session_state.get("resolve_shown_versions", {})


def set_resolve_shown_versions(versions: dict[int, int]) -> None:
    st.session_state["resolve_shown_versions"] = versions


# jobs -------------------------------------------------------------------------------------------------------
JOB_SELECTOR = "jobs_selected"  # key of the Jobs page's "Open a job" selectbox


def select_job(job_id: str) -> None:
    """Make ``job_id`` the Jobs page's selection (set before the selectbox is drawn)."""
    st.session_state[JOB_SELECTOR] = job_id


def job_event_cache(job_id: str) -> list[Any]:
    """This session's copy of a job's event log (mutable; extended on every poll)."""
    return remember(f"jobs_events:{job_id}", [])


# audit ------------------------------------------------------------------------------------------------------
def get_audit_subjects() -> list[dict[str, Any]] | None:
    """Subjects being set up on Audit (``Subject.to_json()`` dicts; the list is mutable), None before the
    first."""
    return st.session_state.get("audit_subjects")


def set_audit_subjects(subjects: list[dict[str, Any]]) -> None:
    st.session_state["audit_subjects"] = subjects


def audit_jobs() -> list[tuple[str, str]]:
    """Audit jobs launched from this session: ``(job id, audit folder)``."""
    return st.session_state.get("audit_jobs") or []


def add_audit_job(job_id: str, folder: str) -> None:
    st.session_state.setdefault("audit_jobs", []).append((job_id, folder))


def get_audit_folder() -> str | None:
    """The audit folder whose results are shown."""
    return st.session_state.get("audit_folder")


def set_audit_folder(folder: str) -> None:
    st.session_state["audit_folder"] = folder


def get_audit_repdiff() -> dict[str, Any] | None:
    """The last representation diff: ``{a, b, layers, groups, names, probe}``."""
    return st.session_state.get("audit_repdiff")


def set_audit_repdiff(result: dict[str, Any]) -> None:
    st.session_state["audit_repdiff"] = result


# story ------------------------------------------------------------------------------------------------------
STORY_STEP = "story_step"


@st.cache_data(show_spinner=False, max_entries=4)
def _story(root: str, key: tuple[tuple[str, float], ...]) -> Any:
    """The bundle's data; ``key`` (every source file's mtime) makes an edited artefact a cache miss."""
    return load_story(Path(root))


def get_story(root: Path) -> Any:
    """``core.story.read.Story`` of the bundle at ``root``, cached until one of its artefacts changes."""
    return _story(str(root), story_mtimes(root))


def story_step(n: int) -> int:
    """The presenter's current step (0-based), clamped to ``[0, n)``."""
    return max(0, min(n - 1, int(st.session_state.get(STORY_STEP, 0))))


def set_story_step(i: int) -> None:
    st.session_state[STORY_STEP] = i


def new_deep_link(kind: str, value: str) -> bool:
    """True the first time this session follows a deep link ``?<kind>=<value>``: the linked page selects it
    once, and the visitor's own later choice is not overridden on every rerun."""
    seen = st.session_state.setdefault("deep_links", {})
    if seen.get(kind) == value:
        return False
    seen[kind] = value
    return True
