"""A trajectory as one safetensors file: tensors ``hidden_states`` ``[n_layers+1, n_tokens, d_model]`` and
``input_ids`` ``[n_tokens]``; metadata key ``reasonscope`` holds the JSON of the rest of the record."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from core.capture.trajectory import GenerationSettings, Span, Trajectory
from core.errors import StoreError
from core.fsio import atomic_save_tensors

META_KEY = "reasonscope"
FORMAT_VERSION = 1


def save_trajectory_file(traj: Trajectory, path: str | Path) -> Path:
    """Write atomically (temp file in the same folder, then rename): a crash or a full disk never leaves half
    a file or a temp file; an existing file at ``path`` stays byte-identical on failure (``DiskError``)."""
    meta = traj.metadata_json() | {"format_version": FORMAT_VERSION, "key": traj.key}
    return atomic_save_tensors(
        path,
        {"hidden_states": traj.hidden, "input_ids": traj.token_ids.astype(np.int64)},
        metadata={META_KEY: json.dumps(meta)},
        what="write the trajectory",
    )


_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64, "I32": np.int32}


def read_safetensors_mmap(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Memory-map every tensor of a safetensors file (read-only); returns (arrays, metadata)."""
    path = Path(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    meta = header.pop("__metadata__", {}) or {}
    arrays: dict[str, np.ndarray] = {}
    base = 8 + n
    for name, info in header.items():
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise StoreError(
                f"{path}: tensor {name} has dtype {info['dtype']}, which ReasonScope does not read."
            )
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if end == start:
            arrays[name] = np.zeros(shape, dtype=dt)
            continue
        arrays[name] = np.memmap(path, dtype=dt, mode="r", offset=base + start, shape=shape)
    return arrays, meta


def load_trajectory_file(path: str | Path) -> Trajectory:
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"No trajectory file at {path}.")
    try:
        arrays, meta = read_safetensors_mmap(path)
        m = json.loads(meta[META_KEY])
        return _trajectory(m, arrays)
    except (KeyError, ValueError, TypeError, struct.error, OSError) as exc:
        raise StoreError(f"{path} is not a ReasonScope trajectory file (or it is corrupt): {exc!r}") from exc


def _trajectory(m: dict, arrays: dict[str, np.ndarray]) -> Trajectory:
    return Trajectory(
        model_fingerprint=m["model_fingerprint"],
        model_name=m["model"],
        messages=m["messages"],
        settings=GenerationSettings(**m["settings"]),
        token_ids=np.asarray(arrays["input_ids"]),
        tokens=m["tokens"],
        n_prompt_tokens=m["n_prompt_tokens"],
        completion=m["completion"],
        spans=[Span(**s) for s in m["spans"]],
        hidden=arrays["hidden_states"],
        layers=tuple(m["layers"]),
        template=m.get("template", "plain"),
        meta=m.get("meta", {}),
    )
