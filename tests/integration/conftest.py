"""Fixtures of the integration tier: the real embedded default model."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def default_model():
    """The real embedded SmolLM2-135M-Instruct (pulled once; `make test` pulls it before the suite)."""
    from core.capture.models import ModelSpec, load_model

    return load_model(ModelSpec(name="default", device="cpu"))
