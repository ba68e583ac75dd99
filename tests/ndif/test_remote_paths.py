"""Monitor and probe scoring through NDIF, and the errors only a real server can give."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.errors import RemoteModelError, RemoteTimeoutError

pytestmark = pytest.mark.ndif

CHAT = [{"role": "user", "content": "How do I bake bread at home?"}]


def _probe(d: int, layer: int):
    from core.probes.linear import Probe

    rng = np.random.default_rng(0)
    params = {
        "coef": rng.normal(size=d),
        "intercept": np.array([0.0]),
        "mean": np.zeros(d),
        "scale": np.ones(d),
    }
    return Probe(method="logistic", layer=layer, params=params)


def test_monitor_scores_equal(ndif_models) -> None:
    from core.capture.trajectory import GenerationSettings
    from core.steer.monitor import monitor_generate
    from core.steer.monitor_records import MonitorResult

    local, remote = ndif_models
    probe = _probe(local.d_model, 1)
    s = GenerationSettings(max_new_tokens=5)
    runs = []
    for m in (local, remote):
        out = list(monitor_generate(m, CHAT, probe, s, threshold=0.5))
        assert isinstance(out[-1], MonitorResult)
        runs.append(out[-1])
    a, b = runs
    assert [t.token_id for t in a.tokens] == [t.token_id for t in b.tokens]
    assert np.abs(np.array([t.score for t in a.tokens]) - np.array([t.score for t in b.tokens])).max() <= 1e-5
    assert a.crossing == b.crossing


def test_probe_features_equal(ndif_models) -> None:
    from core.capture.tracing import capture_batch

    local, remote = ndif_models
    chats = [CHAT, [{"role": "user", "content": "Tell me a joke."}]]
    a = list(capture_batch(local, chats, generate=False, layers=[0, 2]))
    b = list(capture_batch(remote, chats, generate=False, layers=[0, 2]))
    for x, y in zip(a, b, strict=True):
        assert np.abs(x.hidden - y.hidden).max() <= 1e-5


def test_timeout_is_one_clear_error(ndif_models) -> None:
    from core.capture.tracing import capture_prompt

    _, remote = ndif_models
    slow = dataclasses.replace(remote, runner=dataclasses.replace(remote.runner, timeout=0.001))
    with pytest.raises(RemoteTimeoutError, match="within 0 s"):
        capture_prompt(slow, CHAT)


def test_model_not_deployed(ndif_stack, tmp_path) -> None:
    from core.capture.models import ModelSpec, load_model
    from core.capture.tiny import build_tiny_model
    from core.capture.tracing import capture_prompt

    other = build_tiny_model(tmp_path / "not-deployed", seed=1)
    m = load_model(ModelSpec(name=str(other), where=ndif_stack.host))
    m = dataclasses.replace(m, runner=dataclasses.replace(m.runner, timeout=90))
    with pytest.raises(RemoteModelError, match="does not serve this model"):
        capture_prompt(m, CHAT)


def test_the_stack_listens_on_loopback_only(ndif_stack) -> None:
    addrs = ndif_stack.listeners()
    assert any(a.endswith(f":{ndif_stack.ports['api']}") for a in addrs), addrs  # the check sees our sockets
    wide = [a for a in addrs if not a.startswith(("127.", "::1:", "::ffff:127."))]  # v4-mapped loopback too
    assert wide == [], wide
