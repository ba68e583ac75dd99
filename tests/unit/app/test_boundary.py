"""The app's page boundary (app.boundary.user_errors): ReasonScopeErrors as an error box, anything else as an
error box with the traceback in an expander (and logged); st.stop() passes through untouched."""

from __future__ import annotations

import logging

from streamlit.testing.v1 import AppTest


def _user_error_page() -> None:
    from app.boundary import user_errors
    from core.errors import InputError

    with user_errors():
        raise InputError("The prompt is empty: type a request.")


def _bug_page() -> None:
    from app.boundary import user_errors

    with user_errors():
        {}["missing"]  # noqa: B018 - a KeyError, as from a malformed file


def _stop_page() -> None:
    import streamlit as st

    from app.boundary import user_errors

    with user_errors():
        st.write("before")
        st.stop()
    st.write("never shown")


def test_reasonscope_errors_are_a_clean_error_box():
    at = AppTest.from_function(_user_error_page).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["The prompt is empty: type a request."]
    assert not at.expander


def test_unexpected_errors_show_the_traceback_in_an_expander_and_are_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="reasonscope.app"):
        at = AppTest.from_function(_bug_page).run()
    assert not at.exception
    assert "KeyError" in at.error[0].value and "report it" in at.error[0].value
    assert at.expander and "Traceback" in at.expander[0].code[0].value
    assert any("KeyError" in r.getMessage() and r.exc_info for r in caplog.records)


def test_st_stop_passes_through():
    at = AppTest.from_function(_stop_page).run()
    assert not at.exception and not at.error
    assert [m.value for m in at.markdown] == ["before"]
