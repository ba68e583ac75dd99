"""The prompt prefix every row of a batch shares (system prompt + chat header), computed once.

A chat template puts the same tokens before every request (SmolLM2's default: 24 tokens of a ~60-token demo
prompt; AlphaAlign's system prompt: 75 of ~160). Prefilling them once at batch 1 and giving every row a copy
of that key/value cache removes that share of every prefill, with the same result: the rows' own tokens
attend to the same keys and values, at the same positions (``shared_prefix_batch`` keeps the cached prefix at
the start of every row and pads between it and the row's own tokens; ``generate`` derives position ids from
the attention mask). Used by capture (``core.capture.tracing``) and by the alignment jobs' generation.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MIN_SHARED_PREFIX = 8  # fewer shared tokens than this: not worth the extra forward and cache copies


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Tokens every row starts with, leaving each row at least one token of its own (the prefill must see
    one new token per row)."""
    if not rows:
        return 0
    first, n = rows[0], min(len(r) for r in rows) - 1
    for r in rows[1:]:
        k = 0
        while k < n and r[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


def cache_argument(module: Any) -> str | None:
    """The keyword ``module.forward`` takes a key/value cache by (``cache`` in transformers 5, else
    ``past_key_values``), or None when it takes no cache or no ``position_ids`` (e.g. ALiBi models): the
    shared prefix needs both, so such models keep the plain left-padded batch."""
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return None
    if "position_ids" not in params:
        return None
    return next((name for name in ("cache", "past_key_values") if name in params), None)


def repeatable(cache: Any) -> bool:
    """Whether a batch-1 cache can be copied into a batch (``expanded_cache``)."""
    return callable(getattr(cache, "batch_repeat_interleave", None))


def prefix_cache(model: Any, prefix: Sequence[int], device: Any) -> Any:
    """The key/value cache of ``prefix`` (batch 1) under the model's current weights (forward hooks on the
    model see this forward too: ``[1, len(prefix), d]`` per layer)."""
    import torch

    with torch.no_grad():
        out = model(input_ids=torch.tensor([list(prefix)], device=device), use_cache=True)
    return out.past_key_values


def expanded_cache(cache: Any, batch: int) -> Any:
    """A copy of a batch-1 cache repeated ``batch`` times (``generate`` extends the cache it is given, so
    every call gets its own copy)."""
    out = copy.deepcopy(cache)
    out.batch_repeat_interleave(batch)
    return out


def shared_prefix_batch(
    rows: Sequence[Sequence[int]], n_shared: int, pad_id: int, device: Any
) -> dict[str, Any]:
    """``input_ids`` / ``attention_mask`` [B, T]: the shared prefix, then left padding, then each row's own
    tokens -- so the cached prefix sits at the same positions in every row. ``generate`` derives position
    ids from the mask (cumsum), so every token keeps the position it has in the plain left-padded batch,
    and padding is masked either way. With ``n_shared = 0`` this is plain left padding."""
    import torch

    own = [list(r[n_shared:]) for r in rows]
    width = max(len(o) for o in own)
    prefix = list(rows[0][:n_shared])
    ids = [prefix + [pad_id] * (width - len(o)) + o for o in own]
    mask = [[1] * n_shared + [0] * (width - len(o)) + [1] * len(o) for o in own]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


@dataclass(frozen=True, kw_only=True)
class PrefixPlan:
    """How a set of prompt-only rows is batched: ``n`` shared tokens run once (their batch-1 ``cache``
    passed under the forward's ``arg``), or ``n = 0``: plain left-padded batches."""

    n: int = 0
    cache: Any = None
    arg: str | None = None

    def inputs(self, rows: Sequence[Sequence[int]], pad_id: int, device: Any) -> dict[str, Any]:
        """Keyword arguments of one decoder forward over ``rows``: the own tokens ``[B, T - n]``, the full
        mask ``[B, T]``, position ids from the mask (as in the plain left-padded batch) and a fresh copy of
        the shared cache."""
        enc = shared_prefix_batch(rows, self.n, pad_id, device)
        mask = enc["attention_mask"]
        kw: dict[str, Any] = {
            "input_ids": enc["input_ids"][:, self.n :],
            "attention_mask": mask,
            "position_ids": (mask.cumsum(-1) - 1).clamp(min=0)[:, self.n :],
            "use_cache": self.cache is not None,
        }
        if self.cache is not None:
            kw[str(self.arg)] = expanded_cache(self.cache, len(rows))
        return kw


def plan_shared_prefix(decoder: Any, rows: Sequence[Sequence[int]], device: Any) -> PrefixPlan:
    """The shared prefix of ``rows`` when it is exact to share it: the forward takes a cache argument and
    position ids (``cache_argument``), the rows share >= ``MIN_SHARED_PREFIX`` tokens (every row keeps at
    least its last token of its own), and the cache can be copied into a batch (``repeatable``). Runs the
    prefix once (no grad; forward hooks see it)."""
    arg = cache_argument(decoder)
    if arg is None or not rows:
        return PrefixPlan()
    n = min(common_prefix_length(rows), min(len(r) for r in rows) - 1)
    if n < MIN_SHARED_PREFIX:
        return PrefixPlan()
    cache = prefix_cache(decoder, rows[0][:n], device)
    if cache is None or not repeatable(cache):
        return PrefixPlan()
    return PrefixPlan(n=n, cache=cache, arg=arg)
