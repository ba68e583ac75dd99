"""Batches chosen from sequence lengths: sort by length so each batch pads little, and size each batch by a
token budget (short prompts go in bigger batches, long ones in smaller) instead of a fixed count.

Padding is pure waste on CPU (every pad token costs a full forward); the sample data's prompts range from
≈20 to ≈120 tokens, so fixed-size batches in file order spend a large share of each forward on padding.
Callers process batches in this order and put the results back in theirs (``restore_order``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

# Tokens per forward (batch × padded width) where a 2-core CPU is already at full throughput with a
# 135M model: bigger batches do not go faster there, they only hold more states in RAM.
DEFAULT_TOKEN_BUDGET = 2048


def length_batches(
    lengths: Sequence[int], *, batch_size: int, token_budget: int | None = DEFAULT_TOKEN_BUDGET
) -> list[list[int]]:
    """Index groups into ``lengths``: sorted by length (stable, so equal lengths keep their order), at most
    ``batch_size`` rows per group and, with ``token_budget``, at most that many tokens (rows × the group's
    longest row) -- but always at least one row. Every index appears exactly once."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[i]  # sorted ascending: the newest row is the group's longest
        too_many = len(current) >= batch_size
        too_wide = token_budget is not None and current and (len(current) + 1) * width > token_budget
        if current and (too_many or too_wide):
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def restore_order(groups: Sequence[Sequence[int]], results: Sequence[Sequence[T]]) -> list[T]:
    """Flatten per-group results back into the caller's order (``groups`` as from ``length_batches``)."""
    n = sum(len(g) for g in groups)
    out: list[T | None] = [None] * n
    for group, res in zip(groups, results, strict=True):
        if len(group) != len(res):
            raise ValueError(f"group of {len(group)} rows got {len(res)} results")
        for i, r in zip(group, res, strict=True):
            out[i] = r
    return out  # type: ignore[return-value]
