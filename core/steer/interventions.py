"""Applying a steering vector: add, ablate or cap a direction in the residual stream while the model runs.

* ``SteeringConfig`` -- method, strength, layers, positions (what the page and CLI show verbatim).
* ``resolve_directions`` -- the direction actually applied at each target layer.
* ``make_interventions`` -- callables for ``core.capture.tracing``'s ``interventions`` seam,
  ``f(layer_index, hidden [batch, seq, d], ctx) -> hidden``, implementing

  - ``add``:    ``h <- h + alpha * v``                        (activation addition, at the chosen layers);
  - ``ablate``: ``h <- h - alpha * (h . v^) v^``              (directional ablation; alpha = 1 removes the
    component; by default at *every* layer 0..n with one direction, as Arditi et al. do);
  - ``cap``:    ``h <- h - max(h . v^ - alpha, 0) v^``        (projection capping: the component along v^ is
    limited to at most alpha).

  Positions: ``prompt`` (absolute position < prompt length), ``generated`` (the rest), ``all``.
  Note: ablation acts on each layer's *output* (= the next block's input); Arditi et al. also ablate inside
  the block (attention and MLP outputs), which this seam does not reach.
* ``steering_meta`` / ``steered_generate`` / ``steered_capture`` / ``compare`` run ``core.capture.tracing``
  with those interventions.

The vector itself (value type, algebra, sources, files) is ``core.steer.vectors.SteeringVector``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from core import checks
from core.capture.models import LoadedModel
from core.capture.tracing import capture, generate_texts
from core.capture.trajectory import GenerationSettings, Message, Trajectory
from core.errors import InputError
from core.steer.vectors import ANY, SteeringVector

METHODS = ("add", "ablate", "cap")
POSITIONS = ("all", "prompt", "generated")


ALPHA_HINT = "Steering coefficients of real use are within ±100; a non-finite alpha breaks the model."


def check_alpha(alpha: object) -> float:
    """A steering coefficient: finite and ``|alpha| ≤ core.checks.MAX_ABS`` (``InputError`` otherwise)."""
    return checks.real("alpha", alpha, low=-checks.MAX_ABS, high=checks.MAX_ABS, hint=ALPHA_HINT)


class SteeringConfig(checks.CheckedModel):
    """How to apply a vector. ``layers=None``: add -> the vector's default layer (else all its layers);
    ablate / cap -> every layer 0..n. ``source_layer``: use that layer's direction at every target layer
    (default for ablate / cap: the vector's default layer, as Arditi et al. ablate one direction
    everywhere). ``alpha`` must be finite with ``|alpha| ≤ 1e6`` (``InputError`` naming the field)."""

    method: Literal["add", "ablate", "cap"] = "add"
    alpha: float = Field(
        1.0, description="add: coefficient; ablate: fraction removed (1 = all); cap: max projection"
    )
    layers: list[int] | None = None
    positions: Literal["all", "prompt", "generated"] = "all"
    source_layer: int | None = None

    @field_validator("alpha")
    @classmethod
    def _finite_alpha(cls, v: object) -> float:
        return check_alpha(v)

    def with_alpha(self, alpha: float) -> SteeringConfig:
        """The same config at another alpha (checked; ``model_copy`` would skip the check)."""
        return SteeringConfig(**{**self.model_dump(), "alpha": alpha})

    def describe(self, directions: dict[int, np.ndarray] | None = None) -> str:
        formula = {"add": "h ← h + α·v", "ablate": "h ← h − α·(h·v̂)v̂", "cap": "h ← h − max(h·v̂ − α, 0)·v̂"}
        lay = sorted(directions) if directions is not None else self.layers
        return (
            f"{self.method} ({formula[self.method]}), α = {self.alpha:g}, layers "
            f"{lay if lay is not None else 'default'}, positions: {self.positions}"
            + (f", direction from layer {self.source_layer}" if self.source_layer is not None else "")
        )


def resolve_directions(
    vector: SteeringVector, config: SteeringConfig, n_layers: int
) -> dict[int, np.ndarray]:
    """Target layer -> direction actually applied there."""
    if config.layers is not None:
        targets = sorted(set(config.layers))
    elif config.method == "add":
        concrete = [x for x in vector.layers if x != ANY]
        targets = ([vector.default_layer] if vector.default_layer is not None else concrete) or [
            n_layers // 2
        ]
    else:
        targets = list(range(n_layers + 1))
    bad = [x for x in targets if not 0 <= x <= n_layers]
    if bad or not targets:
        raise InputError(
            f"Steering layers {bad or targets} invalid: this model has layers 0..{n_layers} "
            "(0 = embeddings, i = output of decoder layer i-1)."
        )
    source = config.source_layer
    concrete = [x for x in vector.layers if x != ANY]
    if source is None and config.method != "add":  # one direction at every layer (Arditi et al.)
        if vector.default_layer is not None:
            source = vector.default_layer
        elif len(concrete) == 1 and ANY not in vector.directions:
            source = concrete[0]
        elif concrete and not all(t in vector.directions for t in targets):
            raise InputError(
                f"Vector {vector.name!r} has a direction per layer: pick the source layer whose "
                "direction to ablate / cap at every layer."
            )
    if source is not None:
        v = vector.at(source)
        return {t: v for t in targets}
    return {t: vector.at(t) for t in targets}


def make_interventions(
    vector: SteeringVector,
    config: SteeringConfig,
    model: LoadedModel,
    *,
    row_alphas: Sequence[float] | None = None,
) -> list[Any]:
    """One callable for ``core.capture.tracing`` (``interventions=``) applying ``config`` with ``vector``.

    ``row_alphas``: one alpha per batch row instead of ``config.alpha`` (a sweep generates every
    (prompt, alpha) pair in one batch); the batch must then have exactly that many rows, in that order."""
    vector.check_model(model)
    alpha: float | tuple[float, ...] = check_alpha(config.alpha)  # again: model_copy skips the validation
    if row_alphas is not None:
        alpha = tuple(check_alpha(a) for a in row_alphas)
        if not alpha:
            raise InputError("row_alphas needs at least one alpha (one per batch row).")
    dirs = resolve_directions(vector, config, model.n_layers)
    for layer, v in dirs.items():
        checks.finite_array(f"steering vector {vector.name!r} at layer {layer}", v)
    if config.method != "add":  # a zero direction has nothing to remove (e.g. embeddings of one shared token)
        dirs = {k: u for k, v in dirs.items() if (u := _unit(v)) is not None}
        if not dirs:
            raise InputError(
                f"The direction of {vector.name!r} is zero at every target layer, so it cannot be "
                "normalised; ablation / capping needs a non-zero direction (pick another source layer or "
                "vector)."
            )
    what = config.describe(dirs)
    if isinstance(alpha, tuple):
        what = what.replace(f"α = {config.alpha:g}", "α per row " + ", ".join(f"{a:g}" for a in alpha))
    return [_Intervention(dirs, config.method, alpha, config.positions, description=what)]


def _unit(v: np.ndarray) -> np.ndarray | None:
    """``v / |v|`` computed in float64 (None for a zero or numerically zero direction)."""
    x = np.asarray(v, dtype=np.float64)
    n = float(np.linalg.norm(x))
    if not np.isfinite(n) or n < 1e-12:
        return None
    return (x / n).astype(np.float32)


class _Intervention:
    """``f(layer_index, hidden [B, S, d], ctx) -> hidden`` (torch); tensors cached per device/dtype.
    ``dirs`` are unit vectors for ablate / cap (``make_interventions`` normalises them). ``alpha`` is one
    number, or one per batch row (a tuple of B)."""

    def __init__(
        self,
        dirs: dict[int, np.ndarray],
        method: str,
        alpha: float | tuple[float, ...],
        positions: str,
        *,
        description: str = "",
    ) -> None:
        self.dirs, self.method, self.alpha, self.positions = dirs, method, alpha, positions
        self.description = description  # named in the error when the steered states become NaN / inf
        self._cache: dict[tuple[int, Any, Any], Any] = {}

    def _vec(self, layer: int, like: Any) -> Any:
        import torch

        key = (layer, like.device, like.dtype)
        if key not in self._cache:
            v = torch.as_tensor(self.dirs[layer], dtype=torch.float32)
            self._cache[key] = v.to(device=like.device, dtype=like.dtype)
        return self._cache[key]

    def _alpha(self, like: Any) -> Any:
        """A float, or per-row alphas as a ``[B, 1]`` tensor (broadcast over positions)."""
        if not isinstance(self.alpha, tuple):
            return self.alpha
        if like.shape[0] != len(self.alpha):
            raise InputError(
                f"Per-row steering got a batch of {like.shape[0]} rows for {len(self.alpha)} alphas."
            )
        key = (-1, like.device, like.dtype)  # layer -1: the alphas, cached like the directions
        if key not in self._cache:
            import torch

            self._cache[key] = torch.tensor(self.alpha, dtype=like.dtype, device=like.device).view(-1, 1)
        return self._cache[key]

    def __call__(self, layer: int, hidden: Any, ctx: Any) -> Any:
        if layer not in self.dirs:
            return hidden
        import torch

        v = self._vec(layer, hidden)
        a = self._alpha(hidden)  # float, or [B, 1]
        if self.method == "add":
            # [d] (one alpha) or [B, 1, d] (per row), broadcast over batch and positions
            delta = a * v if not isinstance(self.alpha, tuple) else a.unsqueeze(-1) * v
        else:
            proj = hidden @ v  # [B, S]
            coef = a * proj if self.method == "ablate" else torch.clamp(proj - a, min=0)
            delta = -coef.unsqueeze(-1) * v
        if self.positions != "all":
            pos = ctx.position_offset + torch.arange(hidden.shape[1], device=hidden.device)
            mask = pos < ctx.n_prompt if self.positions == "prompt" else pos >= ctx.n_prompt
            if not bool(mask.any()):
                return hidden
            delta = delta * mask.to(hidden.dtype).view(1, -1, 1)
        return hidden + delta


# ---- running -----------------------------------------------------------------------------------------------
def steering_meta(vector: SteeringVector, config: SteeringConfig, model: LoadedModel) -> dict[str, Any]:
    dirs = resolve_directions(vector, config, model.n_layers)
    return {
        "vector": vector.name,
        "source": vector.source,
        "config": config.model_dump(),
        "layers": sorted(dirs),
        "description": config.describe(dirs),
    }


def steered_generate(
    model: LoadedModel,
    chats: list[list[Message]],
    vector: SteeringVector | None,
    config: SteeringConfig | None,
    settings: GenerationSettings | None = None,
    *,
    batch_size: int = 8,
    progress: Any = None,
) -> list[str]:
    """Completions with the vector applied (``vector=None``: the baseline, same settings and seed)."""
    fns = make_interventions(vector, config or SteeringConfig(), model) if vector is not None else None
    return generate_texts(
        model,
        chats,
        settings or GenerationSettings(),
        batch_size=batch_size,
        interventions=fns,
        progress=progress,
    )


def steered_capture(
    model: LoadedModel,
    messages: list[Message],
    vector: SteeringVector,
    config: SteeringConfig,
    settings: GenerationSettings | None = None,
    *,
    template: str = "plain",
    layers: Any = None,
    streamer: Any = None,
) -> Trajectory:
    """A full trajectory of the steered run; ``traj.meta["steering"]`` records exactly what was applied."""
    return capture(
        model,
        messages,
        settings or GenerationSettings(),
        template=template,
        layers=layers,
        streamer=streamer,
        interventions=make_interventions(vector, config, model),
        steering_meta=steering_meta(vector, config, model),
    )


def compare(
    model: LoadedModel,
    chats: list[list[Message]],
    vector: SteeringVector,
    config: SteeringConfig,
    settings: GenerationSettings | None = None,
    *,
    batch_size: int = 8,
) -> list[tuple[str, str]]:
    """(baseline, steered) completion per chat, same settings and seed."""
    base = steered_generate(model, chats, None, None, settings, batch_size=batch_size)
    steered = steered_generate(model, chats, vector, config, settings, batch_size=batch_size)
    return list(zip(base, steered, strict=True))
