"""The one place that owns Streamlit session state and cached resources.

Pages call these typed getters; nothing else in app/ touches ``st.cache_resource`` for shared
objects. The model is shared across sessions (one copy in RAM); ``LoadedModel.lock`` serialises
traces of it.
"""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from core.capture.models import LoadedModel, ModelSpec, load_model
from core.capture.store import ActivationStore

DEFAULT_MODEL_ENV = "REASONSCOPE_MODEL"  # lets a deployment (or a test) pick the starting model


def default_model_name() -> str:
    return os.environ.get(DEFAULT_MODEL_ENV, "default")


@st.cache_resource(show_spinner="Loading model (first time: pulling the embedded model, ≈1 min)…", max_entries=2)
def _load(spec: ModelSpec) -> LoadedModel:
    return load_model(spec)


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
    return _load(model_spec())


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
    """A clean message for errors a user can act on; an expandable detail for anything unexpected."""
    from core.errors import ReasonScopeError

    if isinstance(exc, ReasonScopeError):
        st.error(str(exc))
    else:
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")


def remember(key: str, default: Any = None) -> Any:
    return st.session_state.setdefault(key, default)
