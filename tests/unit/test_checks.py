"""core.checks and the value types built on it: a bad number is refused with a message naming the field, the
value and the allowed range (issue 15, "numbers are finite or refused")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import checks
from core.capture.trajectory import GenerationSettings
from core.errors import InputError
from core.evals.suites import AuditOptions
from core.probes.workflow import ProbeRequest


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2e6, "1", None, True])
def test_real_refuses_non_finite_out_of_range_and_non_numbers(bad):
    with pytest.raises(InputError, match=r"^alpha = .*\|alpha\| ≤ 1e\+06"):
        checks.real("alpha", bad, low=-1e6, high=1e6)


def test_real_bounds_and_open_bounds():
    assert checks.real("t", 0.5, low=0, high=1) == 0.5
    assert checks.real("t", 1, low=0, high=1) == 1.0
    with pytest.raises(InputError, match=r"t = 0 is out of range; allowed: 0 < t ≤ 1"):
        checks.real("t", 0, low=0, high=1, low_open=True)


def test_whole_and_seed():
    assert checks.whole("n", np.int64(3), low=0) == 3
    for bad in (1.5, "3", True):
        with pytest.raises(InputError, match="is not a whole number"):
            checks.whole("n", bad, low=0)
    with pytest.raises(
        InputError, match=r"seed = 1180591620717411303424 is out of range.*0 ≤ seed ≤ 4294967295"
    ):
        checks.seed("seed", 2**70)
    with pytest.raises(InputError, match="seed = -1"):
        checks.seed("seed", -1)


def test_probability():
    with pytest.raises(InputError, match=r"threshold = nan .*0 ≤ threshold ≤ 1"):
        checks.probability("threshold", float("nan"))
    with pytest.raises(InputError, match="threshold = 1.5 is out of range"):
        checks.probability("threshold", 1.5)


def test_finite_array():
    assert checks.finite_array("v", [1, -2.5]).dtype == np.float64
    with pytest.raises(
        InputError, match=r"v contains 2 NaN or infinite value\(s\) \(first: nan at index 1\)"
    ):
        checks.finite_array("v", [0.0, np.nan, np.inf])
    with pytest.raises(InputError, match=r"v has a value of magnitude 3e\+38; allowed: \|value\| ≤ 1e\+06"):
        checks.finite_array("v", np.full(4, 3e38, dtype=np.float32))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"max_new_tokens": -1}, "max_new_tokens = -1"),
        ({"max_new_tokens": 1.5}, "max_new_tokens = 1.5"),
        ({"max_new_tokens": 10**9}, "max_new_tokens = 1000000000"),
        ({"temperature": 0}, "temperature = 0"),
        ({"temperature": math.nan}, "temperature = nan"),
        ({"top_p": 0.0}, "top_p = 0"),
        ({"top_p": 1.5}, "top_p = 1.5"),
        ({"seed": 2**70}, "seed = 1180591620717411303424"),
        ({"seed": -3}, "seed = -3"),
        ({"do_sample": "yes"}, "do_sample = 'yes'"),
    ],
)
def test_generation_settings_refuse_bad_numbers(kwargs, field):
    with pytest.raises(InputError, match=rf"^{field}"):
        GenerationSettings(**kwargs)


def test_generation_settings_accept_prompt_only_and_sampling():
    assert GenerationSettings(max_new_tokens=0).max_new_tokens == 0
    assert GenerationSettings(do_sample=True, temperature=0.7, top_p=0.9, seed=2**32 - 1).seed == 2**32 - 1
    assert "temperature" not in GenerationSettings(temperature=0.7).to_generate_kwargs()


def test_checked_models_raise_input_error_naming_the_field():
    with pytest.raises(InputError, match=r"seed = 1180591620717411303424: Input should be less than"):
        AuditOptions(seed=2**70)
    with pytest.raises(InputError, match=r"leak_threshold = nan"):
        AuditOptions(leak_threshold=float("nan"))
    with pytest.raises(InputError, match=r"max_empty_share = 2"):
        AuditOptions(max_empty_share=2)
    with pytest.raises(InputError, match=r"seed = -1"):
        ProbeRequest(seed=-1)
    with pytest.raises(InputError, match=r"C = inf"):
        ProbeRequest(C=float("inf"))
