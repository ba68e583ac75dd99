"""Steering: add, ablate or cap a direction in the residual stream while the model runs.

* ``SteeringVector`` -- one direction per layer (``{layer: [d]}``; key ``ANY`` = a layer-less vector that
  applies wherever it is asked to), with algebra: ``a + b``, ``a - b``, ``2.0 * a``, ``-a``, ``a.normalise()``.
  Sources: a trained probe set, difference in means of labelled states (Arditi et al. 2024), an uploaded
  ``.safetensors`` / ``.npy`` file (numpy with ``allow_pickle=False``), or a saved artefact.
* ``SteeringConfig`` -- method, strength, layers, positions (what the page and CLI show verbatim).
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
* ``steered_generate`` / ``steered_capture`` / ``compare`` run ``core.capture.tracing`` with those interventions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from core.capture.models import LoadedModel
from core.capture.trajectory import GenerationSettings, Message, Trajectory
from core.errors import InputError

ANY = -1  # layer key of a layer-less direction
METHODS = ("add", "ablate", "cap")
POSITIONS = ("all", "prompt", "generated")


@dataclass(frozen=True)
class SteeringVector:
    """Directions per layer (float32 ``[d]`` each), plus where they came from."""

    directions: dict[int, np.ndarray]
    name: str = "vector"
    source: str = ""
    model_fingerprint: str | None = None
    default_layer: int | None = None  # e.g. a probe set's best layer (the source layer for ablation)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.directions:
            raise InputError("A steering vector needs at least one direction.")
        dims = {np.asarray(v).reshape(-1).shape[0] for v in self.directions.values()}
        if len(dims) != 1:
            raise InputError(f"All directions of a steering vector must have one size; got {sorted(dims)}.")
        clean = {int(k): np.asarray(v, dtype=np.float32).reshape(-1) for k, v in self.directions.items()}
        if any(not np.isfinite(v).all() for v in clean.values()):
            raise InputError("The steering vector contains NaN or infinite values.")
        object.__setattr__(self, "directions", clean)

    @property
    def d_model(self) -> int:
        return int(next(iter(self.directions.values())).shape[0])

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(sorted(self.directions))

    def norms(self) -> dict[int, float]:
        return {k: float(np.linalg.norm(v)) for k, v in sorted(self.directions.items())}

    def at(self, layer: int) -> np.ndarray:
        if layer in self.directions:
            return self.directions[layer]
        if ANY in self.directions:
            return self.directions[ANY]
        raise InputError(f"Vector {self.name!r} has no direction for layer {layer}; it has layers "
                         f"{[x for x in self.layers if x != ANY]}. Pick one of those or set a source layer.")

    def _like(self, directions: dict[int, np.ndarray], name: str, other: SteeringVector | None = None) -> SteeringVector:
        fp = self.model_fingerprint or (other.model_fingerprint if other else None)
        dl = self.default_layer if self.default_layer is not None else (other.default_layer if other else None)
        return SteeringVector(directions, name, "algebra", fp, dl)

    def _check_other(self, other: SteeringVector) -> None:
        if not isinstance(other, SteeringVector):
            raise InputError(f"Can only combine a steering vector with another one, not {type(other).__name__}.")
        if other.d_model != self.d_model:
            raise InputError(f"Cannot combine vectors of size {self.d_model} and {other.d_model}: they come from "
                             "different models.")
        if self.model_fingerprint and other.model_fingerprint and self.model_fingerprint != other.model_fingerprint:
            raise InputError(f"Cannot combine {self.name!r} (model {self.model_fingerprint}) with {other.name!r} "
                             f"(model {other.model_fingerprint}): they were made with different models.")

    def __add__(self, other: SteeringVector) -> SteeringVector:
        """Sum per layer over the union of layers (a layer missing on one side counts as zero)."""
        self._check_other(other)
        out = {k: v.copy() for k, v in self.directions.items()}
        for k, v in other.directions.items():
            out[k] = out[k] + v if k in out else v.copy()
        return self._like(out, f"({self.name} + {other.name})", other)

    def __neg__(self) -> SteeringVector:
        return self._like({k: -v for k, v in self.directions.items()}, f"-{self.name}")

    def __sub__(self, other: SteeringVector) -> SteeringVector:
        self._check_other(other)
        return self._like((self + (-other)).directions, f"({self.name} - {other.name})", other)

    def __mul__(self, s: float) -> SteeringVector:
        if not isinstance(s, int | float | np.floating | np.integer):
            raise InputError("A steering vector can only be scaled by a number.")
        return self._like({k: float(s) * v for k, v in self.directions.items()}, f"{float(s):g}·{self.name}")

    __rmul__ = __mul__

    def normalise(self) -> SteeringVector:
        """Unit length at every layer (a zero direction is an error)."""
        out = {}
        for k, v in self.directions.items():
            n = float(np.linalg.norm(v))
            if n == 0:
                raise InputError(f"Vector {self.name!r} is zero at layer {k}; it cannot be normalised.")
            out[k] = v / n
        return self._like(out, f"unit({self.name})")

    def restrict(self, layers: Iterable[int]) -> SteeringVector:
        keep = {k: self.at(k) for k in layers}
        return SteeringVector(keep, self.name, self.source, self.model_fingerprint, self.default_layer, self.meta)

    def check_model(self, model: LoadedModel) -> None:
        if self.d_model != model.d_model:
            raise InputError(f"Vector {self.name!r} has size {self.d_model} but the model's hidden size is "
                             f"{model.d_model}: it was made for another model.")
        bad = [k for k in self.layers if k != ANY and not 0 <= k <= model.n_layers]
        if bad:
            raise InputError(f"Vector {self.name!r} has directions for layers {bad}, but this model has layers "
                             f"0..{model.n_layers}.")


# ---- sources ------------------------------------------------------------------------------------------------
def from_probe_set(ps: Any, layers: Iterable[int] | None = None, name: str | None = None) -> SteeringVector:
    """Directions of a ``ProbeSet``: diff_means keeps the raw mean difference (Arditi's r), logistic probes
    give unit vectors (their weight norm is arbitrary), so alpha is then in the state's own units."""
    lay = list(layers) if layers is not None else list(ps.layers)
    dirs = {}
    for layer in lay:
        v = np.asarray(ps.probe(layer).direction, dtype=np.float64)
        dirs[layer] = v if ps.method == "diff_means" else v / max(np.linalg.norm(v), 1e-12)
    return SteeringVector(dirs, name or ps.meta.get("name", f"{ps.method}-probe"), f"probe:{ps.method}",
                          ps.meta.get("model_fingerprint"), ps.best_layer if ps.best_layer in dirs else None,
                          {"dataset": ps.meta.get("dataset"), "positions": ps.meta.get("positions")})


def from_diff_in_means(X: np.ndarray, labels: Sequence[Any], layers: Sequence[int], *, name: str = "diff-in-means",
                       model_fingerprint: str | None = None, default_layer: int | None = None) -> SteeringVector:
    """``mean(unsafe) - mean(safe)`` per layer of pooled states ``X [n, L, d]`` (layers name axis 1)."""
    from core.probes.linear import as_layered, diff_in_means, encode_labels

    X, lay = as_layered(X, layers)
    y = encode_labels(labels)
    if y.min() == y.max():
        raise InputError("Difference in means needs both 'safe' and 'unsafe' items.")
    dirs = {layer: diff_in_means(X[:, j, :], y) for j, layer in enumerate(lay)}
    return SteeringVector(dirs, name, "diff_means", model_fingerprint, default_layer,
                          {"n": {"safe": int((y == 0).sum()), "unsafe": int((y == 1).sum())}})


def load_vector_file(path: str | Path, *, layer: int | None = None, d_model: int | None = None,
                     name: str | None = None) -> SteeringVector:
    """An uploaded vector: ``.npy`` (``[d]`` or ``[n_layers+1, d]``) or ``.safetensors`` (tensors ``layer{i}`` /
    ``layer.{i}``, or one tensor ``[d]`` / ``[n_layers+1, d]``). A ``[d]`` vector applies at ``layer``
    (default: wherever the steering config puts it)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Vector file not found: {path}")
    meta: dict[str, Any] = {}
    if path.suffix == ".npy":
        try:
            arrays = {"vector": np.load(path, allow_pickle=False)}
        except ValueError as exc:
            raise InputError(f"{path.name} is not a plain numeric .npy array (pickled objects are refused).") from exc
    elif path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(path))
            with safe_open(str(path), "np") as f:
                meta = dict(f.metadata() or {})
        except Exception as exc:  # noqa: BLE001 - any parse failure is the same user error
            raise InputError(f"{path.name} is not a readable safetensors file ({exc}).") from exc
    else:
        raise InputError(f"Unsupported vector file {path.name}: upload a .safetensors or .npy file.")
    dirs: dict[int, np.ndarray] = {}
    for key, arr in arrays.items():
        arr = np.asarray(arr)
        if not np.issubdtype(arr.dtype, np.floating):
            raise InputError(f"{path.name}: tensor {key!r} has dtype {arr.dtype}; a direction must be floating point.")
        digits = "".join(ch for ch in key if ch.isdigit())
        if key.startswith("layer") and digits:
            dirs[int(digits)] = arr.reshape(-1)
        elif arr.ndim == 2:
            dirs.update({i: arr[i] for i in range(arr.shape[0])})
        elif arr.ndim == 1:
            dirs[layer if layer is not None else ANY] = arr
        else:
            raise InputError(f"{path.name}: tensor {key!r} has shape {arr.shape}; expected [d] or [n_layers+1, d].")
    sv = SteeringVector(dirs, name or path.stem, f"upload:{path.name}", meta.get("model_fingerprint"),
                        int(meta["default_layer"]) if meta.get("default_layer") not in (None, "") else layer)
    if d_model is not None and sv.d_model != d_model:
        raise InputError(f"{path.name} holds vectors of size {sv.d_model}, but the model's hidden size is {d_model}: "
                         "it was made for another model.")
    return sv


def save_vector_file(sv: SteeringVector, path: str | Path) -> Path:
    """Plain safetensors file (``layer{i}`` tensors + metadata) that ``load_vector_file`` reads back."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"name": sv.name, "source": sv.source, "model_fingerprint": sv.model_fingerprint or "",
            "default_layer": "" if sv.default_layer is None else str(sv.default_layer)}
    tensors = {("vector" if k == ANY else f"layer{k}"): v for k, v in sv.directions.items()}
    save_file(tensors, str(path), metadata=meta)
    return path


def save_vector(sv: SteeringVector, name: str, *, root: Path | None = None, overwrite: bool = False) -> Path:
    """Save as an artefact (``artefacts_dir()/steering_vectors/<name>``)."""
    from core.probes.artefacts import check_name, kind_dir, write_artefact

    tensors = {("vector" if k == ANY else f"layer{k}"): v for k, v in sv.directions.items()}
    meta = {"kind": "steering_vector", "method": sv.source, "model_fingerprint": sv.model_fingerprint,
            "model_name": sv.meta.get("model_name", ""), "default_layer": sv.default_layer, "vector_name": sv.name,
            "summary": f"{sv.source} · layers {[x for x in sv.layers if x != ANY] or 'any'}", **sv.meta}
    return write_artefact(kind_dir("steering_vector", root) / check_name(name), tensors, meta, overwrite=overwrite)


def load_vector(name_or_path: str | Path, *, fingerprint: str | None = None, model_name: str | None = None,
                root: Path | None = None) -> SteeringVector:
    from core.probes.artefacts import check_model, read_artefact, resolve

    folder = resolve(name_or_path, "steering_vector", root)
    tensors, meta = read_artefact(folder)
    check_model(meta, fingerprint, model_name, f"Steering vector {folder.name!r}")
    dirs = {(ANY if k == "vector" else int(k.removeprefix("layer"))): v for k, v in tensors.items()}
    return SteeringVector(dirs, meta.get("vector_name", folder.name), meta.get("method", ""),
                          meta.get("model_fingerprint"), meta.get("default_layer"))


# ---- configuration and interventions -----------------------------------------------------------------------
class SteeringConfig(BaseModel):
    """How to apply a vector. ``layers=None``: add -> the vector's default layer (else all its layers);
    ablate / cap -> every layer 0..n. ``source_layer``: use that layer's direction at every target layer
    (default for ablate / cap: the vector's default layer, as Arditi et al. ablate one direction everywhere)."""

    method: Literal["add", "ablate", "cap"] = "add"
    alpha: float = Field(1.0, description="add: coefficient; ablate: fraction removed (1 = all); cap: max projection")
    layers: list[int] | None = None
    positions: Literal["all", "prompt", "generated"] = "all"
    source_layer: int | None = None

    def describe(self, directions: dict[int, np.ndarray] | None = None) -> str:
        formula = {"add": "h ← h + α·v", "ablate": "h ← h − α·(h·v̂)v̂", "cap": "h ← h − max(h·v̂ − α, 0)·v̂"}
        lay = sorted(directions) if directions is not None else self.layers
        return (f"{self.method} ({formula[self.method]}), α = {self.alpha:g}, layers {lay if lay is not None else 'default'}, "
                f"positions: {self.positions}" + (f", direction from layer {self.source_layer}"
                                                  if self.source_layer is not None else ""))


def resolve_directions(vector: SteeringVector, config: SteeringConfig, n_layers: int) -> dict[int, np.ndarray]:
    """Target layer -> direction actually applied there."""
    if config.layers is not None:
        targets = sorted(set(config.layers))
    elif config.method == "add":
        concrete = [x for x in vector.layers if x != ANY]
        targets = ([vector.default_layer] if vector.default_layer is not None else concrete) or [n_layers // 2]
    else:
        targets = list(range(n_layers + 1))
    bad = [x for x in targets if not 0 <= x <= n_layers]
    if bad or not targets:
        raise InputError(f"Steering layers {bad or targets} invalid: this model has layers 0..{n_layers} "
                         "(0 = embeddings, i = output of decoder layer i-1).")
    source = config.source_layer
    concrete = [x for x in vector.layers if x != ANY]
    if source is None and config.method != "add":  # one direction at every layer (Arditi et al.)
        if vector.default_layer is not None:
            source = vector.default_layer
        elif len(concrete) == 1 and ANY not in vector.directions:
            source = concrete[0]
        elif concrete and not all(t in vector.directions for t in targets):
            raise InputError(f"Vector {vector.name!r} has a direction per layer: pick the source layer whose "
                             "direction to ablate / cap at every layer.")
    if source is not None:
        v = vector.at(source)
        return {t: v for t in targets}
    return {t: vector.at(t) for t in targets}


def make_interventions(vector: SteeringVector, config: SteeringConfig, model: LoadedModel) -> list[Any]:
    """One callable for ``core.capture.tracing`` (``interventions=``) applying ``config`` with ``vector``."""
    vector.check_model(model)
    dirs = resolve_directions(vector, config, model.n_layers)
    if config.method != "add":  # a zero direction has nothing to remove (e.g. embeddings of one shared token)
        dirs = {k: v for k, v in dirs.items() if np.linalg.norm(v) > 0}
        if not dirs:
            raise InputError("The direction is zero at every target layer; ablation / capping needs a non-zero one.")
    return [_Intervention(dirs, config.method, float(config.alpha), config.positions)]


class _Intervention:
    """``f(layer_index, hidden [B, S, d], ctx) -> hidden`` (torch); tensors cached per device/dtype."""

    def __init__(self, dirs: dict[int, np.ndarray], method: str, alpha: float, positions: str) -> None:
        self.dirs, self.method, self.alpha, self.positions = dirs, method, alpha, positions
        self._cache: dict[tuple[int, Any, Any], Any] = {}

    def _vec(self, layer: int, like: Any) -> Any:
        import torch

        key = (layer, like.device, like.dtype)
        if key not in self._cache:
            v = torch.as_tensor(self.dirs[layer], dtype=torch.float32)
            if self.method != "add":
                v = v / v.norm()
            self._cache[key] = v.to(device=like.device, dtype=like.dtype)
        return self._cache[key]

    def __call__(self, layer: int, hidden: Any, ctx: Any) -> Any:
        if layer not in self.dirs:
            return hidden
        import torch

        v = self._vec(layer, hidden)
        if self.method == "add":
            delta = self.alpha * v  # [d] broadcast over batch and positions
        else:
            proj = hidden @ v  # [B, S]
            coef = self.alpha * proj if self.method == "ablate" else torch.clamp(proj - self.alpha, min=0)
            delta = -coef.unsqueeze(-1) * v
        if self.positions != "all":
            pos = ctx.position_offset + torch.arange(hidden.shape[1], device=hidden.device)
            mask = pos < ctx.n_prompt if self.positions == "prompt" else pos >= ctx.n_prompt
            if not bool(mask.any()):
                return hidden
            delta = delta * mask.to(hidden.dtype).view(1, -1, 1)
        return hidden + delta


# ---- running ------------------------------------------------------------------------------------------------
def steering_meta(vector: SteeringVector, config: SteeringConfig, model: LoadedModel) -> dict[str, Any]:
    dirs = resolve_directions(vector, config, model.n_layers)
    return {"vector": vector.name, "source": vector.source, "config": config.model_dump(),
            "layers": sorted(dirs), "description": config.describe(dirs)}


def steered_generate(model: LoadedModel, chats: list[list[Message]], vector: SteeringVector | None,
                     config: SteeringConfig | None, settings: GenerationSettings | None = None, *,
                     batch_size: int = 8, progress: Any = None) -> list[str]:
    """Completions with the vector applied (``vector=None``: the baseline, same settings and seed)."""
    from core.capture.tracing import generate_texts

    fns = make_interventions(vector, config or SteeringConfig(), model) if vector is not None else None
    return generate_texts(model, chats, settings or GenerationSettings(), batch_size=batch_size, interventions=fns, progress=progress)


def steered_capture(model: LoadedModel, messages: list[Message], vector: SteeringVector, config: SteeringConfig,
                    settings: GenerationSettings | None = None, *, template: str = "plain",
                    layers: Any = None, streamer: Any = None) -> Trajectory:
    """A full trajectory of the steered run; ``traj.meta["steering"]`` records exactly what was applied."""
    from core.capture.tracing import capture

    return capture(model, messages, settings or GenerationSettings(), template=template, layers=layers, streamer=streamer,
                   interventions=make_interventions(vector, config, model),
                   steering_meta=steering_meta(vector, config, model))


def compare(model: LoadedModel, chats: list[list[Message]], vector: SteeringVector, config: SteeringConfig,
            settings: GenerationSettings | None = None, *, batch_size: int = 8) -> list[tuple[str, str]]:
    """(baseline, steered) completion per chat, same settings and seed."""
    base = steered_generate(model, chats, None, None, settings, batch_size=batch_size)
    steered = steered_generate(model, chats, vector, config, settings, batch_size=batch_size)
    return list(zip(base, steered, strict=True))
