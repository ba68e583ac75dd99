"""The one artefact writer / reader: safetensors tensors + a JSON meta file in a named folder, never pickle.

Probe sets, contrastive heads (``core.probes.artefacts``) and steering vectors (``core.steer.vectors``) are
all saved as one folder per artefact under ``artefacts_dir()/<kind>s/<name>/``::

    weights.safetensors   arrays only
    meta.json             kind, method, model name + fingerprint, ... plus format_version and created_at

* **Names** are a fixed character set, ``[A-Za-z0-9._-]{1,100}`` not starting with ``.`` (so no ``..``, no
  ``/``, no absolute paths, no NUL, and never one of the hidden temp folders), and the resolved folder must
  stay inside its root.
* **Writes are atomic**: everything goes to a hidden temp folder inside the root, which is then renamed into
  place (``os.replace``); an existing artefact is only replaced with ``overwrite=True``, and the temp files
  are removed on any failure, so readers see the old artefact or the new one, never half of one.
* **Loads check the model**: ``check_model`` refuses an artefact whose ``model_fingerprint`` differs from the
  model it is used with (``ArtefactModelMismatch`` naming both models and the fix).

``write_tensor_file`` is the same atomic write for a single ``.safetensors`` file (exports, caches).
numpy, safetensors and stdlib only (no torch).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from core.config import artefacts_dir
from core.errors import InputError, StoreError
from core.fsio import TMP_PREFIX, WRITE_ERRORS, atomic_save_tensors, disk_error, tensors_bytes, write_new_file
from core.paths import NAME_PATTERN as NAME_PATTERN  # re-exported: the one name rule lives in core.paths
from core.paths import check_name as _check_name
from core.paths import confined
from core.paths import valid_name as valid_name

KINDS: tuple[str, ...] = ("probe_set", "contrastive", "steering_vector")
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "meta.json"
_TMP_PREFIX = TMP_PREFIX  # hidden (a valid name never starts with "."), skipped by list_artefacts


class ArtefactModelMismatch(InputError):
    """The artefact was made with another model than the one it is being used with."""


@dataclass(frozen=True, kw_only=True)
class ArtefactInfo:
    name: str
    kind: str
    path: Path
    method: str
    model_name: str
    model_fingerprint: str
    dataset: str | None
    created_at: float
    summary: str


# ---- names and places -----------------------------------------------------------------------------------
def check_name(name: str) -> str:
    """``name`` if it is a valid artefact name, else InputError (``UnsafePathError``) saying what is
    allowed."""
    return _check_name(name, "Artefact name")


def kind_dir(kind: str, root: Path | None = None) -> Path:
    """The folder holding artefacts of ``kind`` (``<root or artefacts_dir()>/<kind>s``)."""
    if kind not in KINDS:
        raise InputError(f"Unknown artefact kind {kind!r}; one of {list(KINDS)}.")
    return (Path(root) if root is not None else artefacts_dir()) / f"{kind}s"


def artefact_path(root: str | Path, name: str) -> Path:
    """``root/name`` for a valid ``name``, checked to resolve inside ``root`` (InputError otherwise, e.g. when
    ``root/name`` is a symlink to somewhere else)."""
    check_name(name)
    return confined(root, name)


# ---- writing ----------------------------------------------------------------------------------------------
def json_default(o: Any) -> Any:
    """JSON for numpy arrays / scalars and paths in meta dicts."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_artefact(
    root: str | Path,
    name: str,
    tensors: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``root/name/{weights.safetensors, meta.json}`` atomically; the folder path.

    ``meta`` gets ``format_version`` and ``created_at`` in front. An existing artefact of that name is an
    InputError unless ``overwrite``; a failed write leaves no temp files and the old artefact (if any) intact;
    an OSError or SafetensorError becomes a ``DiskError`` naming the folder and the free space."""
    folder = artefact_path(root, name)
    if folder.exists() and not overwrite:
        raise InputError(
            f"An artefact named {name!r} already exists at {folder}; pick another name or overwrite it."
        )
    tmp: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=_TMP_PREFIX))
        write_new_file(tmp / WEIGHTS_FILE, tensors_bytes(tensors))
        full = {"format_version": FORMAT_VERSION, "created_at": time.time(), **meta}
        write_new_file(tmp / META_FILE, json.dumps(full, indent=2, default=json_default).encode())
        _swap_into_place(tmp, folder)
    except WRITE_ERRORS as exc:
        raise disk_error(exc, folder, "save the artefact") from exc
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _swap_into_place(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``; an existing ``folder`` is moved aside first and restored if that
    fails."""
    if not folder.exists():
        os.replace(tmp, folder)
        return
    aside = Path(tempfile.mkdtemp(dir=folder.parent, prefix=_TMP_PREFIX + "old-"))
    os.replace(folder, aside / "old")
    try:
        os.replace(tmp, folder)
    except BaseException:
        os.replace(aside / "old", folder)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def write_tensor_file(
    path: str | Path, tensors: Mapping[str, np.ndarray], *, metadata: Mapping[str, str] | None = None
) -> Path:
    """One ``.safetensors`` file written atomically (temp file next to it, then ``os.replace``); the path.
    A failed write leaves no temp file and the old file (if any) intact; disk faults become a DiskError."""
    return atomic_save_tensors(path, tensors, metadata=metadata)


# ---- reading ----------------------------------------------------------------------------------------------
def locate(name_or_path: str | Path, kind: str, root: Path | None = None) -> Path:
    """The folder of an artefact: a folder path holding ``meta.json``, or a saved name of ``kind``."""
    name = str(name_or_path)
    p = Path(name_or_path)
    if "\x00" not in name and (p / META_FILE).is_file():
        return p
    base = kind_dir(kind, root)
    folder = base / name
    if not valid_name(name) or not (folder / META_FILE).is_file() or not _inside(base, name):
        have = [a.name for a in list_artefacts(root, kind)]
        raise InputError(
            f"No saved {kind.replace('_', ' ')} named {name!r} (looked in {base}). Saved: {have or 'none'}."
        )
    return folder


def _inside(base: Path, name: str) -> bool:
    try:
        confined(base, name)
    except InputError:
        return False
    return True


def read_artefact(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(tensors, meta) of an artefact folder; StoreError naming the fix when it is unreadable."""
    try:
        meta = json.loads((folder / META_FILE).read_text())
        tensors = load_file(str(folder / WEIGHTS_FILE))
    except (OSError, ValueError, SafetensorError) as exc:
        raise StoreError(
            f"The artefact at {folder} is unreadable ({exc}); delete it and save it again."
        ) from exc
    return tensors, meta


def check_model(
    meta: Mapping[str, Any],
    fingerprint: str | None,
    model_name: str | None = None,
    what: str = "This artefact",
) -> None:
    """Raise ``ArtefactModelMismatch`` naming both models when fingerprints differ (None = skip the check)."""
    if fingerprint is None or meta.get("model_fingerprint") in (None, fingerprint):
        return
    raise ArtefactModelMismatch(
        f"{what} was made with model {meta.get('model_name', '?')!r} (fingerprint "
        f"{meta.get('model_fingerprint')}), but the active model is {model_name or '?'!r} (fingerprint "
        f"{fingerprint}). Switch to the model it was made with, or train / compute it again "
        "on the active model."
    )


def load_artefact(
    name_or_path: str | Path,
    kind: str,
    *,
    root: Path | None = None,
    fingerprint: str | None = None,
    model_name: str | None = None,
    what: str = "Artefact",
) -> tuple[Path, dict[str, np.ndarray], dict[str, Any]]:
    """(folder, tensors, meta) of a saved artefact, refusing one made with another model than ``fingerprint``
    (``what`` names the artefact in that error, e.g. "Probe")."""
    folder = locate(name_or_path, kind, root)
    tensors, meta = read_artefact(folder)
    check_model(meta, fingerprint, model_name, f"{what} {folder.name!r}")
    return folder, tensors, meta


def list_artefacts(root: Path | None = None, kind: str | None = None) -> list[ArtefactInfo]:
    """Saved artefacts (newest first), optionally of one kind."""
    out = []
    for k in [kind] if kind else KINDS:
        base = kind_dir(k, root)
        if not base.is_dir():
            continue
        for folder in base.iterdir():
            mf = folder / META_FILE
            if folder.name.startswith(".") or not mf.is_file():
                continue
            try:
                m = json.loads(mf.read_text())
            except (OSError, ValueError):
                continue
            out.append(
                ArtefactInfo(
                    name=folder.name,
                    kind=k,
                    path=folder,
                    method=str(m.get("method", "")),
                    model_name=str(m.get("model_name", "")),
                    model_fingerprint=str(m.get("model_fingerprint", "")),
                    dataset=m.get("dataset"),
                    created_at=float(m.get("created_at", 0)),
                    summary=str(m.get("summary", "")),
                )
            )
    return sorted(out, key=lambda a: -a.created_at)


def delete_artefact(name: str, kind: str, root: Path | None = None) -> None:
    shutil.rmtree(locate(name, kind, root))
