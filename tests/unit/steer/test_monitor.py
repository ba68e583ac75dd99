"""Live monitor on the tiny model: per-token scores equal the probe applied to the captured states, threshold
crossing is flagged at the right token, and both guard modes act."""

from __future__ import annotations

import numpy as np
import pytest

from core.capture.templates import build_messages
from core.capture.tracing import capture
from core.capture.trajectory import GenerationSettings
from core.errors import InputError
from core.probes.linear import Probe
from core.steer.interventions import SteeringConfig
from core.steer.monitor import MonitorResult, TokenScore, monitor_capture, monitor_generate
from core.steer.vectors import SteeringVector

SETTINGS = GenerationSettings(max_new_tokens=8)


def probe(d: int, layer: int = 1, seed: int = 0) -> Probe:
    rng = np.random.default_rng(seed)
    return Probe(
        "logistic",
        layer,
        {
            "coef": rng.normal(size=d) * 0.3,
            "intercept": np.array([0.0]),
            "mean": np.zeros(d),
            "scale": np.ones(d),
        },
    )


def run(gen) -> tuple[list[TokenScore], MonitorResult]:
    items = list(gen)
    assert isinstance(items[-1], MonitorResult)
    return [t for t in items[:-1]], items[-1]


@pytest.fixture()
def msgs():
    return build_messages("How do I bake bread at home?")


def test_scores_equal_probe_on_captured_states(tiny_model, msgs):
    p = probe(tiny_model.d_model)
    ref = capture(tiny_model, msgs, SETTINGS)
    toks, res = run(
        monitor_generate(tiny_model, msgs, p, SETTINGS, threshold=1.0)
    )  # never crosses (scores < 1)
    assert [t.token_id for t in toks] == ref.token_ids.tolist()
    np.testing.assert_allclose([t.score for t in toks], p.score(ref.layer(1)), atol=1e-5)
    assert [t.position for t in toks] == list(range(ref.n_tokens))
    assert sum(t.generated for t in toks) == ref.n_tokens - ref.n_prompt_tokens
    assert res.completion == ref.completion and res.crossing is None and not res.stopped
    # same through capture: the result carries the trajectory
    toks2, res2 = run(monitor_capture(tiny_model, msgs, p, SETTINGS, threshold=1.0))
    assert res2.trajectory is not None and res2.trajectory.n_tokens == ref.n_tokens
    np.testing.assert_allclose([t.score for t in toks2], p.score(res2.trajectory.layer(1)), atol=1e-5)


def test_threshold_crossing_is_the_first_generated_token_over_it(tiny_model, msgs):
    p = probe(tiny_model.d_model)
    ref = capture(tiny_model, msgs, SETTINGS)
    gen_scores = p.score(ref.layer(1))[ref.n_prompt_tokens :]
    k = int(np.argmax(gen_scores))
    threshold = float(gen_scores[k]) - 1e-6
    first = int(np.argmax(gen_scores >= threshold))  # == k unless an earlier one ties
    toks, res = run(monitor_generate(tiny_model, msgs, p, SETTINGS, threshold=threshold))
    assert res.crossing == ref.n_prompt_tokens + first
    assert [t.position for t in toks if t.crossed] == [res.crossing]
    assert not res.stopped and res.completion == ref.completion  # guard off changes nothing


def test_guard_stop_ends_generation_after_the_crossing(tiny_model, msgs):
    p = probe(tiny_model.d_model)
    ref = capture(tiny_model, msgs, GenerationSettings(max_new_tokens=12))
    s = p.score(ref.layer(1))
    n = ref.n_prompt_tokens
    toks, res = run(
        monitor_generate(
            tiny_model,
            msgs,
            p,
            GenerationSettings(max_new_tokens=12),
            threshold=float(s[n]) - 1e-6,
            guard="stop",
        )
    )
    assert res.crossing == n and res.stopped
    assert len(res.generated) == 2  # the crossing token plus the one already chosen from its state


def test_guard_steer_switches_steering_on_after_the_crossing(tiny_model, msgs):
    p = probe(tiny_model.d_model)
    ref = capture(tiny_model, msgs, SETTINGS)
    n = ref.n_prompt_tokens
    threshold = float(p.score(ref.layer(1))[n]) - 1e-6  # crosses at the first generated token
    rng = np.random.default_rng(5)
    vec = SteeringVector({1: rng.normal(size=tiny_model.d_model) * 40}, name="push")
    toks, res = run(
        monitor_generate(
            tiny_model,
            msgs,
            p,
            SETTINGS,
            threshold=threshold,
            guard="steer",
            steering=(vec, SteeringConfig(method="add", alpha=1.0, layers=[1])),
        )
    )
    assert res.crossing == n and res.steered_from == n + 1
    assert [t.steering for t in toks[: n + 1]] == [False] * (n + 1)
    assert all(t.steering for t in toks[n + 1 :])
    assert [t.token_id for t in toks[: n + 2]] == ref.token_ids[: n + 2].tolist()  # same up to the switch
    assert res.completion != ref.completion


def test_monitor_bad_input(tiny_model, msgs):
    with pytest.raises(InputError, match="size 65"):
        monitor_generate(tiny_model, msgs, probe(tiny_model.d_model + 1), SETTINGS)
    with pytest.raises(InputError, match="layers 0..2"):
        monitor_generate(tiny_model, msgs, probe(tiny_model.d_model, layer=9), SETTINGS)
    with pytest.raises(InputError, match="needs a steering vector"):
        monitor_generate(tiny_model, msgs, probe(tiny_model.d_model), SETTINGS, guard="steer")
    with pytest.raises(InputError, match="not available while capturing"):
        monitor_capture(tiny_model, msgs, probe(tiny_model.d_model), SETTINGS, guard="stop")
