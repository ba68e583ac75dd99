"""Shared fixtures of the app tier (AppTest): the app's environment and a page runner.

Cross-tier fixtures (``rs_home``, ``tiny_model``, ``tiny_model_dir``, ``repo_root``, ``jobs_home``) live in
tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE_TIMEOUT = 180  # seconds one script run may take under AppTest (the tiny model generates on CPU)


@pytest.fixture()
def app_env(rs_home: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private REASONSCOPE_HOME and the tiny random model as the app's model."""
    monkeypatch.setenv("REASONSCOPE_MODEL", str(tiny_model_dir))
    return rs_home


@pytest.fixture()
def run_page(repo_root: Path) -> Callable[..., AppTest]:
    """``run_page("app/app_pages/x.py", query={"key": k}, **session_state)`` -> the page's AppTest after its
    first script run, with the given query parameters and session state set before it (AppTest needs the
    script's absolute path)."""

    def run(
        script: str,
        *,
        query: dict[str, str] | None = None,
        timeout: float = PAGE_TIMEOUT,
        **session_state: object,
    ) -> AppTest:
        at = AppTest.from_file(str(repo_root / script), default_timeout=timeout)
        for k, v in (query or {}).items():
            at.query_params[k] = v
        for k, v in session_state.items():
            at.session_state[k] = v
        return at.run()

    return run
