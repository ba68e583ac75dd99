"""Remote equals local on the tiny model: prompt states, logits, steered states, greedy tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.ndif

CHAT = [{"role": "user", "content": "How do I bake bread at home?"}]


def test_meta_loaded_model_facts(ndif_models) -> None:
    local, remote = ndif_models
    assert remote.is_remote and not local.is_remote
    assert (remote.n_layers, remote.d_model) == (local.n_layers, local.d_model)
    assert str(next(remote.hf_model.parameters()).device) == "meta"  # no weights were loaded here


def test_prompt_capture_equal(ndif_models) -> None:
    from core.capture.tracing import capture_prompt

    local, remote = ndif_models
    a = capture_prompt(local, CHAT)
    b = capture_prompt(remote, CHAT)
    assert a.hidden.shape == b.hidden.shape
    assert np.abs(a.hidden - b.hidden).max() <= 1e-5


def test_only_requested_layers_come_back(ndif_models) -> None:
    from core.capture.tracing import capture_prompt

    _, remote = ndif_models
    t = capture_prompt(remote, CHAT, layers=[1])
    assert t.layers == (1,) and t.hidden.shape[0] == 1


def test_generation_with_capture_equal(ndif_models) -> None:
    from core.capture.tracing import capture
    from core.capture.trajectory import GenerationSettings

    local, remote = ndif_models
    s = GenerationSettings(max_new_tokens=6)
    a = capture(local, CHAT, s)
    b = capture(remote, CHAT, s)
    assert a.token_ids.tolist() == b.token_ids.tolist()
    assert np.abs(a.hidden - b.hidden).max() <= 1e-5


@pytest.mark.parametrize("method,alpha", [("add", 4.0), ("ablate", 1.0), ("cap", 0.1)])
def test_steering_equal(ndif_models, method: str, alpha: float) -> None:
    from core.capture.trajectory import GenerationSettings
    from core.steer.interventions import SteeringConfig, steered_capture
    from core.steer.vectors import SteeringVector

    local, remote = ndif_models
    rng = np.random.default_rng(0)
    vec = SteeringVector(
        name="r", directions={1: rng.normal(size=local.d_model).astype(np.float32)}, default_layer=1
    )
    cfg = SteeringConfig(method=method, alpha=alpha, layers=[1])
    s = GenerationSettings(max_new_tokens=5)
    a = steered_capture(local, CHAT, vec, cfg, s)
    b = steered_capture(remote, CHAT, vec, cfg, s)
    assert a.token_ids.tolist() == b.token_ids.tolist()
    assert np.abs(a.hidden - b.hidden).max() <= 1e-5


def test_steered_logits_equal(ndif_models) -> None:
    from core.steer.interventions import SteeringConfig, make_interventions
    from core.steer.vectors import SteeringVector

    local, remote = ndif_models
    vec = SteeringVector(name="r", directions={1: np.ones(local.d_model, np.float32)}, default_layer=1)
    outs = []
    for m in (local, remote):
        fns = make_interventions(vec, SteeringConfig(method="add", alpha=2.0, layers=[1]), m)
        ids = torch.tensor([m.encode_chat(CHAT)])
        outs.append(_steered_logits(m, ids, fns))
    assert torch.equal(outs[0].argmax(-1), outs[1].argmax(-1))
    assert (outs[0] - outs[1]).abs().max().item() <= 1e-5


def _steered_logits(model, ids, fns):
    from core.capture.context import InterventionContext

    ctx = InterventionContext(n_prompt=ids.shape[1], position_offset=0)
    envoys = model.layer_envoys()
    lm = model.lm  # the block may reference envoys and tensors, not the LoadedModel (it holds a lock)
    with torch.no_grad():
        with lm.trace(ids, **model.runner.trace_kwargs()):
            for i, env in enumerate(envoys):
                h = env.output
                for f in fns:
                    h = f(i + 1, h, ctx)
                env.output = h
            logits = lm.lm_head.output.save()
    return logits
