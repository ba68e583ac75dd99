"""Choices the Steer page offers: methods, what α means for each, default target and source layers (pure)."""

from __future__ import annotations

from typing import Any

from core.steer.interventions import METHODS, POSITIONS

STEER_METHODS = METHODS  # add / ablate / cap, in the order the page offers them
STEER_POSITIONS = POSITIONS  # all / prompt / generated
ALPHA_LABELS = {"add": "α (coefficient)", "ablate": "α (fraction removed)", "cap": "α (max projection)"}


def alpha_label(method: str) -> str:
    """What α means for ``method`` (the number input's label)."""
    return ALPHA_LABELS[method]


def concrete_layers(vector: Any) -> list[int]:
    """The vector's own layers (without the layer-independent entry, stored as a negative layer)."""
    return [x for x in vector.layers if x >= 0]


def default_target_layers(vector: Any, method: str, n_layers: int) -> list[int]:
    """Pre-selected target layers: add -> the vector's default layer (else its first layer); ablate / cap ->
    none (empty = every layer). Only layers 0..n_layers of the model are offered."""
    if method != "add":
        return []
    concrete = concrete_layers(vector)
    chosen = [vector.default_layer] if vector.default_layer is not None else concrete[:1]
    return [x for x in chosen if 0 <= x <= n_layers]


def source_layer_options(vector: Any, method: str) -> tuple[list[int], int] | None:
    """For ablate / cap with a vector that has several layers: the layers whose direction may be used at every
    target layer, and the index pre-selected (the vector's default layer). None when there is nothing to
    pick."""
    concrete = concrete_layers(vector)
    if method == "add" or len(concrete) <= 1:
        return None
    return concrete, concrete.index(vector.default_layer) if vector.default_layer in concrete else 0
