"""Access control. Local by default (bound to 127.0.0.1, no login). When served beyond localhost
(``REASONSCOPE_PUBLIC=1``), a login is required: Streamlit's OIDC ``st.login`` when ``[auth]`` is
configured in secrets, otherwise a password from ``REASONSCOPE_PASSWORD`` compared in constant time.
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

from app import state


def is_public() -> bool:
    return os.environ.get("REASONSCOPE_PUBLIC", "") in ("1", "true", "yes")


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all  # noqa: BLE001
        return False


def check_password(candidate: str, expected: str) -> bool:
    return hmac.compare_digest(candidate.encode(), expected.encode())


def require_login() -> bool:
    """Render the login gate when needed; True when the visitor may see the app."""
    if not is_public():
        return True
    if _oidc_configured():
        if not st.user.is_logged_in:
            st.title("ReasonScope")
            st.write("This ReasonScope instance is shared: sign in to continue.")
            st.button("Sign in", on_click=st.login, type="primary")
            return False
        return True
    expected = os.environ.get("REASONSCOPE_PASSWORD")
    if not expected:
        st.error(
            "This app is served beyond localhost (REASONSCOPE_PUBLIC=1) but no login is configured. "
            "Set REASONSCOPE_PASSWORD, or configure OIDC in .streamlit/secrets.toml ([auth])."
        )
        return False
    if state.get_auth_user():
        return True
    st.title("ReasonScope — sign in")
    with st.form("login"):
        name = st.text_input("Your name (recorded on labels, jobs and audits)")
        pw = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            if name.strip() and check_password(pw, expected):
                state.set_auth_user(name.strip())
                st.rerun()
            st.error("Wrong password, or no name given.")
    return False
