"""What an intervention is told about the states it edits (shared by the local and the traced generation)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InterventionContext:
    """Where the hidden states passed to an intervention sit in the sequence."""

    n_prompt: int  # (padded) prompt length: absolute positions >= n_prompt are generated tokens
    position_offset: int  # absolute position of hidden[:, 0] (0 for a full forward, grows while decoding)


# f(layer_index, hidden [batch, seq, d_model], ctx) -> new hidden. layer_index 0 = embeddings.
Intervention = Callable[[int, Any, InterventionContext], Any]
