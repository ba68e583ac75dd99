"""Where traces run: this machine, the public NDIF service, or a self-hosted NDIF host.

A ``where`` string travels in ``ModelSpec`` (and so in job configs and reports): ``"local"``, ``"ndif"`` or an
``http(s)://`` URL. It never carries the API key: the key is read from the environment (``NDIF_API_KEY``) at
the moment a request is sent, so nothing that is stored or logged can hold it.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from core.errors import InputError

LOCAL = "local"
PUBLIC = "ndif"
PUBLIC_HOST = "https://api.ndif.us"  # nnsight's default CONFIG.API.HOST
KEY_ENV = "NDIF_API_KEY"


def parse_where(text: str | None) -> str:
    """Normalise a ``--remote`` / "Run on" value: ``local`` (or empty), ``ndif``, or an NDIF host URL."""
    value = (text or "").strip()
    if value.lower() in ("", LOCAL, "this machine"):
        return LOCAL
    if value.lower() == PUBLIC:
        return PUBLIC
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InputError(
            f"Remote {value!r} is not understood: use 'local', 'ndif' (the public service, key from "
            f"{KEY_ENV}) or an NDIF host URL such as http://127.0.0.1:8001."
        )
    if parts.username or parts.password:
        raise InputError("Put no credentials in the NDIF host URL: the API key is read from NDIF_API_KEY.")
    return value.rstrip("/")


def host_of(where: str) -> str | None:
    """The HTTP base URL for a remote ``where`` (None for local)."""
    if where == LOCAL:
        return None
    return PUBLIC_HOST if where == PUBLIC else where


def describe(where: str) -> str:
    if where == LOCAL:
        return "this machine"
    return "NDIF (public service)" if where == PUBLIC else f"NDIF host {where}"


def api_key() -> str | None:
    """The key for this request, from the environment only (the app copies Streamlit secrets there)."""
    key = os.environ.get(KEY_ENV, "").strip()
    return key or None


def mask_key(key: str | None) -> str:
    """What a UI may show of a key: its last four characters at most."""
    if not key:
        return "(none)"
    return "••••" + key[-4:] if len(key) > 8 else "••••"
