"""Steering vectors: one direction per layer, their algebra, where they come from, and their files.

* ``SteeringVector`` -- one direction per layer (``{layer: [d]}``; key ``ANY`` = a layer-less vector that
  applies wherever it is asked to), with algebra: ``a + b``, ``a - b``, ``2.0 * a``, ``-a``,
  ``a.normalise()``. Sources: a trained probe set, difference in means of labelled states (Arditi et al.
  2024), an uploaded ``.safetensors`` / ``.npy`` file (numpy with ``allow_pickle=False``), or a saved artefact
  (``save_vector`` / ``load_vector``, through ``core.artefacts``).

Applying a vector while the model runs (``SteeringConfig``, ``make_interventions``, ``steered_generate`` ...)
is ``core.steer.interventions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

from core import checks
from core.artefacts import kind_dir, load_artefact, write_artefact, write_tensor_file
from core.capture.models import LoadedModel
from core.errors import InputError
from core.probes.linear import ProbeSet, as_layered, diff_in_means, encode_labels

ANY = -1  # layer key of a layer-less direction


@dataclass(frozen=True)
class SteeringVector:
    """Directions per layer (float32 ``[d]`` each), plus where they came from (keyword-only after
    ``directions``; a variant is ``dataclasses.replace(sv, ...)``)."""

    directions: dict[int, np.ndarray]
    _: KW_ONLY
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
        hint = "Steering vectors hold hidden-state-sized values (well below 1e4); re-create or re-export it."
        clean = {}
        for k, v in self.directions.items():
            where = f"Steering vector {self.name!r}" + ("" if int(k) == ANY else f" at layer {int(k)}")
            clean[int(k)] = checks.finite_array(where, v, hint=hint).astype(np.float32).reshape(-1)
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
        raise InputError(
            f"Vector {self.name!r} has no direction for layer {layer}; it has layers "
            f"{[x for x in self.layers if x != ANY]}. Pick one of those or set a source layer."
        )

    def _like(
        self, directions: dict[int, np.ndarray], name: str, other: SteeringVector | None = None
    ) -> SteeringVector:
        fp = self.model_fingerprint or (other.model_fingerprint if other else None)
        dl = (
            self.default_layer if self.default_layer is not None else (other.default_layer if other else None)
        )
        return SteeringVector(directions, name=name, source="algebra", model_fingerprint=fp, default_layer=dl)

    def _check_other(self, other: SteeringVector) -> None:
        if not isinstance(other, SteeringVector):
            raise InputError(
                f"Can only combine a steering vector with another one, not {type(other).__name__}."
            )
        if other.d_model != self.d_model:
            raise InputError(
                f"Cannot combine vectors of size {self.d_model} and {other.d_model}: they come from "
                "different models."
            )
        if (
            self.model_fingerprint
            and other.model_fingerprint
            and self.model_fingerprint != other.model_fingerprint
        ):
            raise InputError(
                f"Cannot combine {self.name!r} (model {self.model_fingerprint}) with {other.name!r} "
                f"(model {other.model_fingerprint}): they were made with different models."
            )

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
        s = checks.real("scale", s, low=-checks.MAX_ABS, high=checks.MAX_ABS)
        return self._like({k: float(s) * v for k, v in self.directions.items()}, f"{float(s):g}·{self.name}")

    __rmul__ = __mul__

    def normalise(self) -> SteeringVector:
        """Unit length at every layer (a zero direction is an error)."""
        out = {}
        for k, v in self.directions.items():
            n = float(np.linalg.norm(v.astype(np.float64)))
            if not n > 1e-12:
                raise InputError(
                    f"Vector {self.name!r} has norm {n:g} at layer {k} (zero), so it cannot be normalised; "
                    "drop that layer (restrict) or use another vector."
                )
            out[k] = (v.astype(np.float64) / n).astype(np.float32)
        return self._like(out, f"unit({self.name})")

    def restrict(self, layers: Iterable[int]) -> SteeringVector:
        keep = {k: self.at(k) for k in layers}
        return replace(self, directions=keep)

    def check_model(self, model: LoadedModel) -> None:
        if self.d_model != model.d_model:
            raise InputError(
                f"Vector {self.name!r} has size {self.d_model} but the model's hidden size is "
                f"{model.d_model}: it was made for another model."
            )
        bad = [k for k in self.layers if k != ANY and not 0 <= k <= model.n_layers]
        if bad:
            raise InputError(
                f"Vector {self.name!r} has directions for layers {bad}, but this model has layers "
                f"0..{model.n_layers}."
            )


# ---- sources -----------------------------------------------------------------------------------------------
def from_probe_set(
    ps: ProbeSet, layers: Iterable[int] | None = None, name: str | None = None
) -> SteeringVector:
    """Directions of a ``ProbeSet``: diff_means keeps the raw mean difference (Arditi's r), logistic probes
    give unit vectors (their weight norm is arbitrary), so alpha is then in the state's own units."""
    lay = list(layers) if layers is not None else list(ps.layers)
    dirs = {}
    for layer in lay:
        v = np.asarray(ps.probe(layer).direction, dtype=np.float64)
        dirs[layer] = v if ps.method == "diff_means" else v / max(np.linalg.norm(v), 1e-12)
    return SteeringVector(
        dirs,
        name=name or ps.meta.get("name", f"{ps.method}-probe"),
        source=f"probe:{ps.method}",
        model_fingerprint=ps.meta.get("model_fingerprint"),
        default_layer=ps.best_layer if ps.best_layer in dirs else None,
        meta={"dataset": ps.meta.get("dataset"), "positions": ps.meta.get("positions")},
    )


def from_diff_in_means(
    X: np.ndarray,
    labels: Sequence[Any],
    layers: Sequence[int],
    *,
    name: str = "diff-in-means",
    model_fingerprint: str | None = None,
    default_layer: int | None = None,
) -> SteeringVector:
    """``mean(unsafe) - mean(safe)`` per layer of pooled states ``X [n, L, d]`` (layers name axis 1)."""
    X, lay = as_layered(X, layers)
    y = encode_labels(labels)
    if y.min() == y.max():
        raise InputError("Difference in means needs both 'safe' and 'unsafe' items.")
    dirs = {layer: diff_in_means(X[:, j, :], y) for j, layer in enumerate(lay)}
    return SteeringVector(
        dirs,
        name=name,
        source="diff_means",
        model_fingerprint=model_fingerprint,
        default_layer=default_layer,
        meta={"n": {"safe": int((y == 0).sum()), "unsafe": int((y == 1).sum())}},
    )


def load_vector_file(
    path: str | Path, *, layer: int | None = None, d_model: int | None = None, name: str | None = None
) -> SteeringVector:
    """An uploaded vector: ``.npy`` (``[d]`` or ``[n_layers+1, d]``) or ``.safetensors`` (tensors ``layer{i}``
    / ``layer.{i}``, or one tensor ``[d]`` / ``[n_layers+1, d]``). A ``[d]`` vector applies at ``layer``
    (default: wherever the steering config puts it)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Vector file not found: {path}")
    meta: dict[str, Any] = {}
    if path.suffix == ".npy":
        try:
            arrays = {"vector": np.load(path, allow_pickle=False)}
        except ValueError as exc:
            raise InputError(
                f"{path.name} is not a plain numeric .npy array (pickled objects are refused)."
            ) from exc
    elif path.suffix == ".safetensors":
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
            raise InputError(
                f"{path.name}: tensor {key!r} has dtype {arr.dtype}; a direction must be floating point."
            )
        digits = "".join(ch for ch in key if ch.isdigit())
        if key.startswith("layer") and digits:
            dirs[int(digits)] = arr.reshape(-1)
        elif arr.ndim == 2:
            dirs.update({i: arr[i] for i in range(arr.shape[0])})
        elif arr.ndim == 1:
            dirs[layer if layer is not None else ANY] = arr
        else:
            raise InputError(
                f"{path.name}: tensor {key!r} has shape {arr.shape}; expected [d] or [n_layers+1, d]."
            )
    sv = SteeringVector(
        dirs,
        name=name or path.stem,
        source=f"upload:{path.name}",
        model_fingerprint=meta.get("model_fingerprint"),
        default_layer=int(meta["default_layer"]) if meta.get("default_layer") not in (None, "") else layer,
    )
    if d_model is not None and sv.d_model != d_model:
        raise InputError(
            f"{path.name} holds vectors of size {sv.d_model}, but the model's hidden size is {d_model}: "
            "it was made for another model."
        )
    return sv


def save_vector_file(sv: SteeringVector, path: str | Path) -> Path:
    """Plain safetensors file (``layer{i}`` tensors + metadata) that ``load_vector_file`` reads back, written
    atomically (``core.artefacts.write_tensor_file``)."""
    meta = {
        "name": sv.name,
        "source": sv.source,
        "model_fingerprint": sv.model_fingerprint or "",
        "default_layer": "" if sv.default_layer is None else str(sv.default_layer),
    }
    return write_tensor_file(path, _tensors(sv), metadata=meta)


def _tensors(sv: SteeringVector) -> dict[str, np.ndarray]:
    """The on-disk tensor names: ``layer{i}`` per layer, ``vector`` for the layer-less direction."""
    return {("vector" if k == ANY else f"layer{k}"): v for k, v in sv.directions.items()}


def save_vector(sv: SteeringVector, name: str, *, root: Path | None = None, overwrite: bool = False) -> Path:
    """Save as an artefact (``artefacts_dir()/steering_vectors/<name>``)."""
    meta = {
        "kind": "steering_vector",
        "method": sv.source,
        "model_fingerprint": sv.model_fingerprint,
        "model_name": sv.meta.get("model_name", ""),
        "default_layer": sv.default_layer,
        "vector_name": sv.name,
        "summary": f"{sv.source} · layers {[x for x in sv.layers if x != ANY] or 'any'}",
        **sv.meta,
    }
    return write_artefact(kind_dir("steering_vector", root), name, _tensors(sv), meta, overwrite=overwrite)


def load_vector(
    name_or_path: str | Path,
    *,
    fingerprint: str | None = None,
    model_name: str | None = None,
    root: Path | None = None,
) -> SteeringVector:
    folder, tensors, meta = load_artefact(
        name_or_path,
        "steering_vector",
        root=root,
        fingerprint=fingerprint,
        model_name=model_name,
        what="Steering vector",
    )
    dirs = {(ANY if k == "vector" else int(k.removeprefix("layer"))): v for k, v in tensors.items()}
    return SteeringVector(
        dirs,
        name=meta.get("vector_name", folder.name),
        source=meta.get("method", ""),
        model_fingerprint=meta.get("model_fingerprint"),
        default_layer=meta.get("default_layer"),
    )
