"""The app's error boundary: ``with user_errors():`` around a page (app/streamlit_app.py wraps every page
once, around ``nav.run()``). Nothing a page raises reaches Streamlit's raw exception view:

- a ``ReasonScopeError`` (bad input, missing data, a full disk…) is a red box with its message;
- anything unexpected is a red box with the exception's one-line summary, the traceback in an expander
  underneath, and a log record (``logging``, logger ``reasonscope.app``) with the traceback.

Streamlit's own control flow (``st.stop()``, ``st.rerun()``, ``st.switch_page()``) raises
``ScriptControlException`` subclasses of ``BaseException``; they pass through untouched.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from core.errors import ReasonScopeError

LOG = logging.getLogger("reasonscope.app")


def show_exception(exc: BaseException) -> None:
    """Render ``exc`` in the page: a clean message for errors a user can act on; for anything unexpected,
    the summary plus the traceback in an expander (and a log record with it)."""
    if isinstance(exc, ReasonScopeError):
        st.error(str(exc), icon=":material/error:")
        return
    LOG.error("unexpected error in the app: %s: %s", type(exc).__name__, exc, exc_info=exc)
    st.error(
        f"Something went wrong: {type(exc).__name__}: {exc}. This is a bug in ReasonScope: please report it "
        "with the traceback below.",
        icon=":material/bug_report:",
    )
    with st.expander("Traceback"):
        st.code("".join(traceback.format_exception(exc)), language="text")


@contextmanager
def user_errors() -> Iterator[None]:
    """Run a page's body; show what it raises (``show_exception``) instead of letting it escape."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the page boundary; st.stop/st.rerun are BaseExceptions
        show_exception(exc)
