"""The sidebar's "Run on" choice: this machine, the public NDIF service, or a self-hosted NDIF host.

The choice becomes ``ModelSpec.where``; the API key is never typed here, stored in session state or shown:
it comes from the environment or Streamlit secrets (``NDIF_API_KEY``) and the sidebar shows it masked.
"""

from __future__ import annotations

import streamlit as st

from app import state
from core.capture.placement import LOCAL, PUBLIC, describe, mask_key

RUN_ON = ("This machine", "NDIF (public service)", "An NDIF host")


def run_on_choice(current: str) -> str:
    """The ``where`` the user picked (not applied until "Use this model")."""
    index = 0 if current == LOCAL else 1 if current == PUBLIC else 2
    choice = st.radio("Run on", RUN_ON, index=index, key="model_run_on", horizontal=False)
    if choice == RUN_ON[0]:
        return LOCAL
    key = state.ndif_api_key()
    if choice == RUN_ON[1]:
        st.caption(f"NDIF API key: `{mask_key(key)}`" + ("" if key else " — set NDIF_API_KEY or a secret"))
        return PUBLIC
    host = st.text_input(
        "NDIF host URL",
        value=current if current not in (LOCAL, PUBLIC) else "http://127.0.0.1:8001",
        key="model_ndif_host",
    )
    st.caption(f"API key (optional on a self-hosted NDIF): `{mask_key(key)}`")
    return host.strip()


def run_on_caption(where: str) -> str:
    return "" if where == LOCAL else f" · traces run on {describe(where)}"
