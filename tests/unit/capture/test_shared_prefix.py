"""The shared-prefix helpers, and the plain left-padded batch every caller falls back to when an
architecture cannot take a copied prefix cache."""

from __future__ import annotations

import numpy as np
import torch

from core.capture import tracing
from core.capture.shared_prefix import cache_argument, repeatable, shared_prefix_batch
from core.capture.templates import build_messages
from core.capture.trajectory import GenerationSettings
from tests.unit.capture.test_tracing import assert_close_rel, reference_states


class _NoPositions(torch.nn.Module):  # ALiBi-style: no position_ids, so no shared prefix
    def forward(self, input_ids, attention_mask=None, past_key_values=None):  # noqa: ANN001, ANN201
        return input_ids


class _Positions(torch.nn.Module):
    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None):  # noqa: ANN001, ANN201
        return input_ids


def test_cache_argument_names_the_keyword_or_refuses() -> None:
    assert cache_argument(_Positions()) == "cache"
    assert cache_argument(_NoPositions()) is None
    copyable = type("Cache", (), {"batch_repeat_interleave": lambda self, n: self})()
    assert repeatable(copyable) and not repeatable(object())


def test_shared_prefix_batch_layout() -> None:
    enc = shared_prefix_batch([[1, 2, 3, 7], [1, 2, 3, 8, 9]], 3, 0, "cpu")
    assert enc["input_ids"].tolist() == [[1, 2, 3, 0, 7], [1, 2, 3, 8, 9]]
    assert enc["attention_mask"].tolist() == [[1, 1, 1, 0, 1], [1, 1, 1, 1, 1]]
    # positions from the mask: the row's own tokens follow the prefix with no gap
    pos = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    assert pos[0, -1].item() == 3


def test_a_cache_that_cannot_be_copied_falls_back_to_the_plain_batch(tiny_model, monkeypatch) -> None:
    monkeypatch.setattr(tracing, "repeatable", lambda cache: False)
    chats = [build_messages(p) for p in ("hi", "a much longer request than the other", "ok then")]
    batch = list(tracing.capture_batch(tiny_model, chats, GenerationSettings(max_new_tokens=5), batch_size=3))
    prompt_only = list(tracing.capture_batch(tiny_model, chats, batch_size=3, generate=False))
    for traj in batch + prompt_only:
        assert_close_rel(traj.hidden, reference_states(tiny_model, traj.token_ids))
    for a, b in zip(batch, prompt_only, strict=True):  # causal: the prompt's states do not see the answer
        np.testing.assert_allclose(a.hidden[:, : a.n_prompt_tokens], b.hidden, atol=1e-4)


def test_plan_keeps_a_token_of_each_row_and_falls_back_to_plain_batches(tiny_model_dir) -> None:
    """``plan_shared_prefix``: every row keeps its last token of its own (a row that is all prefix still has
    a last position to read); rows sharing fewer than MIN_SHARED_PREFIX tokens get the plain batch."""
    import torch
    from transformers import AutoModelForCausalLM

    from core.capture.shared_prefix import MIN_SHARED_PREFIX, plan_shared_prefix

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    dec = model.get_decoder()
    base = list(range(5, 5 + MIN_SHARED_PREFIX + 3))
    plan = plan_shared_prefix(dec, [base, base + [40, 41]], "cpu")
    assert plan.n == len(base) - 1 and plan.cache is not None
    kw = plan.inputs([base, base + [40, 41]], 0, "cpu")
    assert kw["input_ids"].shape == (2, 3) and kw["attention_mask"].shape == (2, len(base) + 2)
    # row 0: two pads (masked; they repeat the position before them), then its own last token
    assert kw["position_ids"][0].tolist() == [len(base) - 2, len(base) - 2, len(base) - 1]
    assert kw["position_ids"][1].tolist() == [len(base) - 1, len(base), len(base) + 1]
    assert plan_shared_prefix(dec, [[1, 2, 3], [1, 2, 4]], "cpu").n == 0
    assert plan_shared_prefix(dec, [], "cpu").n == 0
