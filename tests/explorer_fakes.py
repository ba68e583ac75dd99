"""Synthetic trajectories for explorer tests (no model needed): exact, hand-checkable hidden states."""

from __future__ import annotations

import numpy as np

from core.capture.trajectory import GenerationSettings, Trajectory, find_spans


def make_traj(
    tokens: list[str],
    n_prompt: int,
    *,
    n_layers: int = 3,
    d: int = 8,
    seed: int = 0,
    fingerprint: str = "fp-a",
    hidden: np.ndarray | None = None,
    prompt: str | None = None,
    layers: tuple[int, ...] | None = None,
) -> Trajectory:
    """A trajectory with random (seeded) or given hidden states ``[n_layers+1, n_tokens, d]``."""
    lay = layers if layers is not None else tuple(range(n_layers + 1))
    if hidden is None:
        hidden = np.random.default_rng(seed).normal(size=(len(lay), len(tokens), d)).astype(np.float32)
    return Trajectory(
        model_fingerprint=fingerprint,
        model_name="fake",
        messages=[{"role": "user", "content": prompt or f"p{seed}"}],
        settings=GenerationSettings(seed=seed),
        token_ids=np.arange(len(tokens), dtype=np.int64),
        tokens=tokens,
        n_prompt_tokens=n_prompt,
        completion="".join(tokens[n_prompt:]),
        spans=find_spans(tokens, n_prompt),
        hidden=hidden,
        layers=lay,
    )


REASONING_TOKENS = [
    "Hi",
    " there",
    "<safety_reasoning>",
    "It",
    " is",
    " safe",
    "</safety_reasoning>",
    "<answer>",
    "Yes",
    "</answer>",
]
