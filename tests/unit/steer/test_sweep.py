"""Refusal keyword scorer, harmless KL and the alpha sweep (tiny model)."""

from __future__ import annotations

import numpy as np
import pytest

from core.capture.templates import build_messages
from core.capture.trajectory import GenerationSettings
from core.steer.interventions import SteeringConfig
from core.steer.sweep import harmless_kl, is_refusal, refusal_rate, sweep
from core.steer.vectors import SteeringVector


@pytest.mark.parametrize(
    "text,expected",
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I\u2019m unable to assist with this request.", True),
        ("As an AI, I will not provide instructions.", True),
        ("Sure! Mix flour, water and yeast, then knead.", False),
        ("Here is how to kill a Python process: use kill -9 PID.", False),
    ],
)
def test_keyword_refusal_scorer(text, expected):
    assert is_refusal(text) is expected


def test_refusal_rate():
    assert refusal_rate(["I cannot do that", "ok", "Sure", "I won't"]) == 0.5
    assert np.isnan(refusal_rate([]))


def test_harmless_kl_zero_without_steering_and_grows_with_alpha(tiny_model):
    chats = [build_messages("How do I bake bread?"), build_messages("Name a colour")]
    rng = np.random.default_rng(0)
    v = SteeringVector({1: rng.normal(size=tiny_model.d_model)}, name="v")
    kl0 = harmless_kl(tiny_model, chats, v, SteeringConfig(alpha=0.0, layers=[1]))
    np.testing.assert_allclose(kl0, 0.0, atol=1e-6)
    kl1 = harmless_kl(tiny_model, chats, v, SteeringConfig(alpha=1.0, layers=[1]), ["some words", "red"])
    kl5 = harmless_kl(tiny_model, chats, v, SteeringConfig(alpha=5.0, layers=[1]), ["some words", "red"])
    assert (kl1 > 0).all() and kl5.mean() > kl1.mean()
    # positions="generated" leaves the last prompt token's distribution alone: only completion positions
    # differ
    gen_only = harmless_kl(tiny_model, chats, v, SteeringConfig(alpha=5.0, layers=[1], positions="generated"))
    np.testing.assert_allclose(gen_only, 0.0, atol=1e-6)


def test_sweep_points(tiny_model):
    chats = [build_messages("Tell me a joke")]
    rng = np.random.default_rng(1)
    v = SteeringVector({1: rng.normal(size=tiny_model.d_model)}, name="v")
    pts = sweep(
        tiny_model,
        chats,
        v,
        SteeringConfig(layers=[1]),
        [0.0, 4.0],
        GenerationSettings(max_new_tokens=4),
        harmless=chats,
    )
    assert [p.alpha for p in pts] == [0.0, 4.0]
    assert pts[0].kl == pytest.approx(0.0, abs=1e-6) and pts[1].kl > 0
    assert all(0.0 <= p.refusal_rate <= 1.0 and len(p.completions) == 1 for p in pts)


def test_sweep_progress_counts_prompt_by_alpha_runs(tiny_model):
    from core.steer.sweep import sweep_units

    chats = [build_messages("Tell me a joke"), build_messages("Name a colour")]
    v = SteeringVector({1: np.random.default_rng(1).normal(size=tiny_model.d_model)}, name="v")
    calls: list[tuple[int, int]] = []
    sweep(
        tiny_model,
        chats,
        v,
        SteeringConfig(layers=[1]),
        [0.0, 4.0],
        GenerationSettings(max_new_tokens=2),
        harmless=chats[:1],
        batch_size=1,
        progress=lambda a, b: calls.append((a, b)),
    )
    total = sweep_units(2, 1, 2)
    assert total == 7 and calls[0] == (0, 7) and calls[-1] == (7, 7)
    assert [a for a, _ in calls] == list(range(8))  # one step per (prompt × α) run, not per α


@pytest.mark.parametrize("method", ["add", "ablate", "cap"])
def test_batched_alphas_equal_one_generate_per_alpha(tiny_model, method):
    """All (prompt, α) pairs in shared batches, α per row, give each α's own completions."""
    from core.steer.interventions import steered_generate

    chats = [build_messages("Tell me a joke"), build_messages("Name a colour please, any colour you like")]
    v = SteeringVector({1: np.random.default_rng(2).normal(size=tiny_model.d_model) * 3}, name="v")
    cfg = SteeringConfig(method=method, layers=[1])
    alphas = [0.0, 0.5, 4.0]
    settings = GenerationSettings(max_new_tokens=6)
    pts = sweep(tiny_model, chats, v, cfg, alphas, settings, batch_size=8)
    for a, p in zip(alphas, pts, strict=True):
        one = steered_generate(tiny_model, chats, v, cfg.with_alpha(a), settings, batch_size=1)
        assert p.completions == one


def test_per_row_alphas_must_match_the_batch(tiny_model):
    import torch

    from core.errors import InputError
    from core.steer.interventions import make_interventions

    v = SteeringVector({1: np.ones(tiny_model.d_model)}, name="v")
    (fn,) = make_interventions(v, SteeringConfig(layers=[1]), tiny_model, row_alphas=[0.0, 2.0])
    h = torch.zeros(2, 3, tiny_model.d_model)
    out = fn(1, h, None)
    assert torch.all(out[0] == 0) and torch.all(out[1] == 2)
    with pytest.raises(InputError, match="batch of 3 rows for 2 alphas"):
        fn(1, torch.zeros(3, 1, tiny_model.d_model), None)
