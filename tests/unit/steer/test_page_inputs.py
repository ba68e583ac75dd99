"""The Steer page's parsed inputs and choices (core.steer.alphas, core.steer.controls): pure, no model."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from core.steer.alphas import parse_alphas, prompt_lines, sweep_inputs
from core.steer.controls import (
    STEER_METHODS,
    alpha_label,
    concrete_layers,
    default_target_layers,
    source_layer_options,
)
from core.steer.vectors import ANY, SteeringVector


def _vec(layers, default_layer=None):
    return SteeringVector({x: np.ones(4) for x in layers}, name="v", default_layer=default_layer)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0, 1, 2, 4", [0.0, 1.0, 2.0, 4.0]),
        ("0 1,2 ,, 4", [0.0, 1.0, 2.0, 4.0]),
        ("-1.5, 2e1", [-1.5, 20.0]),
        ("", []),
        ("  ,  ", []),
    ],
)
def test_parse_alphas(text, expected):
    assert parse_alphas(text) == expected


def test_parse_alphas_rejects_a_word():
    with pytest.raises(ValueError, match="'two' is not a number"):
        parse_alphas("1, two")


@pytest.mark.parametrize("text", ["nan", "1, inf", "-inf", "3e38"])
def test_parse_alphas_refuses_non_finite_and_absurd_values(text):
    with pytest.raises(InputError, match=r"alpha = .* allowed|\|alpha\| ≤ 1e\+06"):
        parse_alphas(text)


def test_prompt_lines_and_sweep_inputs():
    assert prompt_lines("  a \n\n b\n   \n") == ["a", "b"]
    got = sweep_inputs("Tell me a joke\n\nName a colour ", "", "0, 2")
    assert got.alphas == [0.0, 2.0] and got.harmless is None
    assert [c[-1]["content"] for c in got.chats] == ["Tell me a joke", "Name a colour"]
    assert got.chats[0][-1]["role"] == "user"
    assert sweep_inputs("a", "b", "1").harmless[0][-1]["content"] == "b"
    for prompts, alphas in (("", "1"), ("a", " , ")):
        with pytest.raises(ValueError, match="at least one prompt and one α"):
            sweep_inputs(prompts, "", alphas)


def test_alpha_labels_cover_every_method():
    assert [alpha_label(m) for m in STEER_METHODS] == [
        "α (coefficient)",
        "α (fraction removed)",
        "α (max projection)",
    ]


def test_default_target_layers():
    assert default_target_layers(_vec([1, 3], default_layer=3), "add", 4) == [3]
    assert default_target_layers(_vec([2, 1]), "add", 4) == [1]  # no default layer: the first of its layers
    assert default_target_layers(_vec([7], default_layer=7), "add", 4) == []  # not a layer of this model
    assert default_target_layers(_vec([ANY]), "add", 4) == []  # layer-less vector: the config's default
    assert default_target_layers(_vec([1, 3], default_layer=3), "ablate", 4) == []  # empty = every layer
    assert concrete_layers(_vec([ANY, 2])) == [2]


def test_source_layer_options():
    assert source_layer_options(_vec([1, 2, 3], default_layer=2), "ablate") == ([1, 2, 3], 1)
    assert source_layer_options(_vec([1, 2, 3]), "cap") == ([1, 2, 3], 0)
    assert source_layer_options(_vec([1, 2, 3], default_layer=2), "add") is None
    assert source_layer_options(_vec([2]), "ablate") is None
