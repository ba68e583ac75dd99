"""Steering numbers are finite or refused, and steered states that blow up abort the attempt (tiny model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.capture.templates import build_messages
from core.capture.tracing import _left_pad, generate_texts, trace_hidden
from core.capture.trajectory import GenerationSettings
from core.errors import InputError, NonFiniteError
from core.probes.linear import Probe
from core.steer.interventions import SteeringConfig, _Intervention, make_interventions, steered_generate
from core.steer.monitor import monitor_generate
from core.steer.sweep import sweep
from core.steer.vectors import SteeringVector

SETTINGS = GenerationSettings(max_new_tokens=3)


@pytest.fixture()
def chats():
    return [build_messages("How do I bake bread?")]


def _vec(d: int, value: float = 1.0) -> SteeringVector:
    return SteeringVector({1: np.full(d, value)}, name="v")


@pytest.mark.parametrize("alpha", [math.nan, math.inf, -math.inf, 1e7])
def test_steering_config_refuses_a_non_finite_or_absurd_alpha(alpha):
    with pytest.raises(InputError, match=r"alpha = .*\|alpha\| ≤ 1e\+06") as err:
        SteeringConfig(alpha=alpha)
    assert "\n" not in str(err.value)


def test_a_bypassed_config_is_still_refused_before_generating(tiny_model, chats):
    bad = SteeringConfig(layers=[1]).model_copy(update={"alpha": math.nan})  # model_copy skips validation
    with pytest.raises(InputError, match="alpha = nan"):
        steered_generate(tiny_model, chats, _vec(tiny_model.d_model), bad, SETTINGS)
    with pytest.raises(InputError, match="alpha = nan"):
        sweep(tiny_model, chats, _vec(tiny_model.d_model), SteeringConfig(layers=[1]), [0.0, math.nan])


@pytest.mark.parametrize("value, what", [(3e38, "magnitude 3e\\+38"), (math.nan, "NaN"), (math.inf, "NaN")])
def test_vector_values_must_be_finite_and_not_absurd(value, what):
    with pytest.raises(InputError, match=rf"Steering vector 'v' at layer 1 .*{what}"):
        _vec(8, value)


def test_vector_algebra_cannot_make_a_bad_vector():
    v = _vec(8, 1e3)
    with pytest.raises(InputError, match="scale = nan"):
        _ = float("nan") * v
    with pytest.raises(InputError, match="magnitude 1e\\+09"):
        _ = 1e6 * v


def test_zero_direction_cannot_be_normalised(tiny_model):
    zero = SteeringVector({1: np.zeros(tiny_model.d_model)}, name="z")
    with pytest.raises(InputError, match="norm 0 at layer 1"):
        zero.normalise()
    tiny = SteeringVector({1: np.full(tiny_model.d_model, 1e-30)}, name="z")  # numerically zero
    with pytest.raises(InputError, match="zero at every target layer, so it cannot be normalised"):
        make_interventions(tiny, SteeringConfig(method="ablate", layers=[1]), tiny_model)


def test_steered_states_that_become_nan_abort_the_generation(tiny_model, chats):
    broken = _Intervention(
        {1: np.ones(tiny_model.d_model, dtype=np.float32)}, "add", math.nan, "all", description="add, α = nan"
    )  # what a NaN coefficient would do if it got past the checks
    with pytest.raises(NonFiniteError, match=r"NaN or infinite at layer 1, from position 0 \(add, α = nan\)"):
        generate_texts(tiny_model, chats, SETTINGS, interventions=[broken])
    # the model is usable afterwards: the hooks were removed
    assert generate_texts(tiny_model, chats, SETTINGS) == steered_generate(
        tiny_model, chats, None, None, SETTINGS
    )


def test_steered_states_that_overflow_abort_the_generation(tiny_model, chats):
    def overflow(layer, hidden, ctx):
        return hidden * 1e38 * 1e38 if layer == 2 else hidden  # inf

    with pytest.raises(NonFiniteError, match="at layer 2"):
        generate_texts(tiny_model, chats, SETTINGS, interventions=[overflow])


def test_the_traced_pass_is_checked_after_the_trace(tiny_model):
    import torch

    ids, mask = _left_pad(
        [tiny_model.encode_chat(build_messages("hello"))], tiny_model.tokenizer.pad_token_id
    )

    def nan_at_1(layer, hidden, ctx):
        return hidden * float("nan") if layer == 1 else hidden

    with pytest.raises(NonFiniteError, match="at layer 1"):
        trace_hidden(tiny_model, ids, mask, (0, 1, 2), interventions=[nan_at_1])
    with torch.no_grad():
        assert torch.isfinite(trace_hidden(tiny_model, ids, mask, (0, 1, 2))).all()


def test_untouched_states_are_not_checked(tiny_model, chats, monkeypatch):
    """The normal path pays nothing: a layer no intervention changed is not reduced."""
    import torch

    calls = []
    real = torch.isfinite
    monkeypatch.setattr(torch, "isfinite", lambda t: calls.append(1) or real(t))
    generate_texts(tiny_model, chats, SETTINGS, interventions=[lambda layer, h, ctx: h])
    assert calls == []
    cfg = SteeringConfig(alpha=1.0, layers=[1])
    steered_generate(tiny_model, chats, _vec(tiny_model.d_model), cfg, SETTINGS)
    assert len(calls) == 3  # one check per steered layer and forward (prefill + 2 decoding steps)


@pytest.mark.parametrize("threshold", [math.nan, math.inf, -0.1, 1.5])
def test_monitor_threshold_must_be_a_probability(tiny_model, threshold):
    d = tiny_model.d_model
    params = {"coef": np.ones(d), "intercept": np.zeros(1), "mean": np.zeros(d), "scale": np.ones(d)}
    probe = Probe("logistic", 1, params)
    with pytest.raises(InputError, match=r"threshold = .*0 ≤ threshold ≤ 1"):
        next(monitor_generate(tiny_model, build_messages("hi"), probe, SETTINGS, threshold=threshold))
