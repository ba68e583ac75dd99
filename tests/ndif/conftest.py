"""The ``ndif`` tier: a real, self-hosted NDIF on 127.0.0.1 (tests/ndif/harness.py), started once per session.

It skips, with the one-line reason, only where the harness cannot start (no redis-server and no apt-get, an
install that failed, a service that never came up). Everything it started is stopped at the session's end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.ndif.harness import HarnessError, NdifStack, cache_root, start_stack


@pytest.fixture(scope="session")
def ndif_stack() -> Iterator[NdifStack]:
    from core.capture.tiny import build_tiny_model

    _remove_stale_runs()
    root = cache_root() / f"run-{os.getpid()}"
    model_dir = build_tiny_model(root / "tiny-llama", seed=0)
    try:
        stack = start_stack(model_dir, root)
    except HarnessError as exc:
        pytest.skip(f"the self-hosted NDIF could not start: {exc}")
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def ndif_models(ndif_stack: NdifStack) -> tuple:
    """(local, remote) LoadedModel of the same tiny checkpoint: weights here vs. on the NDIF host."""
    from core.capture.models import ModelSpec, load_model

    local = load_model(ModelSpec(name=str(ndif_stack.model_dir), device="cpu"))
    remote = load_model(ModelSpec(name=str(ndif_stack.model_dir), where=ndif_stack.host))
    return local, remote


def _remove_stale_runs() -> None:
    """Folders of earlier sessions (model, logs) whose pytest is gone; the latest failed run's logs stay
    until the next session starts."""
    import shutil

    for old in cache_root().glob("run-*"):
        pid = old.name.removeprefix("run-")
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(old, ignore_errors=True)
