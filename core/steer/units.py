"""Steering strength in meaningful units: α as a multiple of the mean residual-stream norm at the target
layer(s), and a word-level diff of baseline vs steered text (numpy + difflib; no torch at import).

A probe direction is unit-norm while the residual stream at a middle layer has a norm of tens to hundreds, so
"α = 8" says nothing by itself. Here:

* ``add``  (h ← h + α·v): the shift ‖α·v‖ = ``multiple`` × mean ‖h‖  ⇒  α = multiple · mean‖h‖ / ‖v‖;
* ``cap``  (projection on v̂ capped at α): α = ``multiple`` × mean ‖h‖;
* ``ablate``: α is already a fraction of the component removed (no conversion).

The mean norm is over every token except the first (the attention-sink token's norm is 100-1000 × the
rest and would dominate the mean), from stored trajectories of the model or one captured reference prompt.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.capture.store import ActivationStore
from core.capture.templates import build_messages
from core.capture.tracing import capture_prompt
from core.capture.trajectory import Trajectory
from core.errors import InputError, ReasonScopeError

REFERENCE_PROMPT = "Explain, step by step, how a bicycle's gears make it easier to ride up a hill."
DEFAULT_MULTIPLES = (0.0, 0.125, 0.25, 0.5, 1.0)  # a sweep's default range, in × mean ‖h‖
DEFAULT_MULTIPLE = 0.25  # the compare panel's default strength
CONVERTIBLE = ("add", "cap")  # methods whose α has units of the residual stream


@dataclass(frozen=True, kw_only=True)
class ResidualNorms:
    """Mean ‖h‖ per layer (first token of each sequence left out) and where it was measured."""

    per_layer: dict[int, float]
    source: str  # "12 stored trajectories" / "a captured reference prompt"
    n_tokens: int

    def at(self, layers: Iterable[int]) -> float:
        """The mean norm over ``layers`` (their average); ``InputError`` when none was measured."""
        layers = list(layers)
        have = [self.per_layer[x] for x in layers if x in self.per_layer]
        if not have:
            raise InputError(
                f"No residual norm was measured at layers {layers} (measured: {sorted(self.per_layer)}); "
                "capture a prompt with every layer."
            )
        return float(np.mean(have))


def mean_norms(trajs: Sequence[Trajectory]) -> tuple[dict[int, float], int]:
    """(``{layer: mean ‖h‖}`` over every token but the first of each trajectory, tokens used)."""
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    n_tok = 0
    for t in trajs:
        h = np.asarray(t.hidden[:, 1:], dtype=np.float32) if t.hidden.shape[1] > 1 else t.hidden
        norms = np.linalg.norm(h, axis=-1)  # [L, T-1]
        n_tok += norms.shape[1]
        for j, layer in enumerate(t.layers):
            finite = norms[j][np.isfinite(norms[j])]
            sums[layer] = sums.get(layer, 0.0) + float(finite.sum())
            counts[layer] = counts.get(layer, 0) + int(finite.size)
    return {k: sums[k] / counts[k] for k in sums if counts[k]}, n_tok


def norms_from_store(store: ActivationStore, fingerprint: str, limit: int = 20) -> ResidualNorms | None:
    """Mean norms from up to ``limit`` stored trajectories of the model (None when there are none)."""
    trajs = []
    for m in store.query():
        if m.model_fingerprint != fingerprint:
            continue
        try:
            trajs.append(store.get(m.key))
        except (OSError, ValueError, ReasonScopeError):
            continue
        if len(trajs) >= limit:
            break
    if not trajs:
        return None
    per_layer, n_tok = mean_norms(trajs)
    return ResidualNorms(
        per_layer=per_layer,
        source=f"{len(trajs)} stored trajector{'y' if len(trajs) == 1 else 'ies'}",
        n_tokens=n_tok,
    )


def norms_from_prompt(model: object, prompt: str = REFERENCE_PROMPT) -> ResidualNorms:
    """Mean norms of one captured reference prompt (every layer)."""
    traj = capture_prompt(model, build_messages(prompt), layers="all")  # type: ignore[arg-type]
    per_layer, n_tok = mean_norms([traj])
    return ResidualNorms(per_layer=per_layer, source="a captured reference prompt", n_tokens=n_tok)


def residual_norms(model: object, store: ActivationStore | None) -> ResidualNorms:
    """Stored trajectories of the model when there are some, else one captured reference prompt."""
    found = norms_from_store(store, model.fingerprint) if store is not None else None  # type: ignore[attr-defined]
    return found or norms_from_prompt(model)


def alpha_from_multiple(multiple: float, method: str, norm: float, vector_norm: float) -> float:
    """The absolute α of a strength given as ``multiple`` × mean ‖h‖ (ablate: unchanged)."""
    if method == "add":
        if vector_norm <= 0:
            raise InputError("The steering vector is zero at the target layer; pick another layer or vector.")
        return float(multiple) * norm / vector_norm
    if method == "cap":
        return float(multiple) * norm
    return float(multiple)


def multiple_from_alpha(alpha: float, method: str, norm: float, vector_norm: float) -> float:
    """The inverse of ``alpha_from_multiple``: ‖α·v‖ (add) or α (cap) as a multiple of mean ‖h‖."""
    if norm <= 0:
        return float("nan")
    if method == "add":
        return float(alpha) * vector_norm / norm
    if method == "cap":
        return float(alpha) / norm
    return float(alpha)


def describe_strength(
    alpha: float, method: str, norm: float, vector_norm: float, layers: Sequence[int]
) -> str:
    """``"α = 12.3 (‖α·v‖ = 0.25 × mean ‖h‖ = 49.2 at layer 14)"``."""
    if method not in CONVERTIBLE:
        return f"α = {alpha:g} (fraction of the component along v̂ removed)"
    m = multiple_from_alpha(alpha, method, norm, vector_norm)
    what = "‖α·v‖" if method == "add" else "cap"
    where = f"layer {layers[0]}" if len(layers) == 1 else f"layers {list(layers)} (mean)"
    return f"α = {alpha:.4g} ({what} = {m:.3g} × mean ‖h‖, mean ‖h‖ = {norm:.4g} at {where})"


# ---- word-level diff ---------------------------------------------------------------------------------------
_WORDS = re.compile(r"\s+|[^\s]+")


def word_diff(baseline: str, steered: str) -> list[tuple[str, str]]:
    """``[(op, text)]`` with op ``"same"`` / ``"delete"`` (only in the baseline) / ``"insert"`` (only in the
    steered text), over words and the whitespace between them (difflib on the word sequence)."""
    a, b = _WORDS.findall(baseline), _WORDS.findall(steered)
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("delete", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("insert", "".join(b[j1:j2])))
    return out


def diff_stats(ops: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Words kept / deleted / inserted."""
    out = {"same": 0, "delete": 0, "insert": 0}
    for op, text in ops:
        out[op] += len(text.split())
    return out
