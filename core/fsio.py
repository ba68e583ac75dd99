"""Atomic file writes and disk / database faults as messages a user can act on.

* ``atomic_write_bytes`` / ``atomic_save_tensors`` write to a hidden temp file in the target folder, then
  ``os.replace`` it into place: readers see the old file or the new one, never half of one. Every failure
  path removes the temp file, and the old file (if any) is left byte-identical.
* ``disk_error`` turns an ``OSError`` or a ``SafetensorError`` (safetensors' own exception type, raised
  instead of ``OSError`` when its Rust writer fails) into a ``DiskError`` such as "no space left under
  REASONSCOPE_HOME (3.2 MB free)"; ``sqlite_error`` does the same for ``sqlite3`` errors (full disk,
  read-only file, corrupt database).
* ``check_destination`` validates an output file *before* any work is done (NUL bytes, folders, read-only
  places), so a command never computes and stores something it then cannot write.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import save as safetensors_save

from core.config import reasonscope_home
from core.errors import CorruptIndexError, DiskError, StoreError
from core.paths import check_path_text

TMP_PREFIX = ".tmp-"
WRITE_ERRORS: tuple[type[BaseException], ...] = (OSError, SafetensorError)


def free_mb(path: str | Path) -> float | None:
    """Free space in MB on the filesystem holding ``path`` (its nearest existing parent); None if unknown."""
    p = Path(path)
    for candidate in (p, *p.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free / 1024 / 1024
            except OSError:
                return None
    return None


def _where(path: Path) -> str:
    home = reasonscope_home()
    try:
        inside = path.resolve().is_relative_to(home.resolve())
    except OSError:
        inside = False
    return "under REASONSCOPE_HOME" if inside else f"on the disk holding {path.parent}"


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError):
        return exc.errno
    m = re.search(r"os error (\d+)", str(exc))  # SafetensorError: "I/O error: ... (os error 28)"
    return int(m.group(1)) if m else None


def disk_error(exc: BaseException, path: str | Path, what: str = "write") -> DiskError:
    """A ``DiskError`` explaining why ``what`` (e.g. "write the trajectory") failed at ``path``."""
    path = Path(path)
    code = _errno_of(exc)
    free = free_mb(path)
    free_txt = f"{free:.1f} MB free" if free is not None else "free space unknown"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return DiskError(
            f"Could not {what} at {path}: no space left {_where(path)} ({free_txt}). Free disk space "
            "or point REASONSCOPE_HOME at a disk with room; nothing was changed."
        )
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DiskError(
            f"Could not {what} at {path}: the location is read-only or not yours ({os.strerror(code)}). "
            "Choose a writable folder or point REASONSCOPE_HOME at one; nothing was changed."
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return DiskError(
        f"Could not {what} at {path}: {reason} ({free_txt}). Check the disk and that the folder is "
        "writable (REASONSCOPE_HOME); nothing was changed."
    )


def sqlite_error(exc: sqlite3.Error, path: str | Path, *, repair_hint: str = "") -> StoreError:
    """A ``StoreError`` for an ``sqlite3`` failure on the database file ``path``."""
    path = Path(path)
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name in ("SQLITE_FULL",) or "disk is full" in text:
        return disk_error(OSError(errno.ENOSPC, text), path, "write to the database")
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM")) or "readonly" in text:
        return disk_error(OSError(errno.EROFS, text), path, "write to the database")
    if (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        or "malformed" in text
        or "not a database" in text
    ):
        return CorruptIndexError(
            f"The database {path} is corrupt ({text}). "
            + (repair_hint or "Restore it from a backup or delete it to start afresh.")
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StoreError(
            f"The database {path} is busy ({text}): another ReasonScope process is writing. Try again."
        )
    return StoreError(f"The database {path} failed: {text}. Check the disk and REASONSCOPE_HOME.")


def _write_all(fh: IO[bytes], data: bytes) -> None:
    """Write ``data`` to ``fh`` and flush it to disk (one place for tests to simulate a full disk)."""
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def write_new_file(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a file inside a temp folder the caller renames into place (no temp of its own)."""
    with open(path, "wb") as fh:
        _write_all(fh, data)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes, *, what: str = "write the file") -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder + ``os.replace``; ``DiskError`` on
    failure, with no temp file left and any previous ``path`` untouched."""
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=path.suffix)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as fh:
            _write_all(fh, data)
        os.replace(tmp, path)
        tmp = None
    except WRITE_ERRORS as exc:
        raise disk_error(exc, path, what) from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def tensors_bytes(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors serialisation of ``tensors`` (contiguous copies where needed); may raise
    ``SafetensorError`` (callers turn it into a ``DiskError`` with ``disk_error``)."""
    return safetensors_save(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()},
        metadata=dict(metadata) if metadata is not None else None,
    )


def atomic_save_tensors(
    path: str | Path,
    tensors: Mapping[str, np.ndarray],
    *,
    metadata: Mapping[str, str] | None = None,
    what: str = "write the safetensors file",
) -> Path:
    """One ``.safetensors`` file written atomically (see ``atomic_write_bytes``)."""
    try:
        data = tensors_bytes(tensors, metadata)
    except SafetensorError as exc:
        raise disk_error(exc, Path(path), what) from exc
    return atomic_write_bytes(path, data, what=what)


def check_destination(path: str | Path, what: str = "Output file") -> Path:
    """Validate an output file before doing the work: not a folder, no NUL bytes, and its folder exists (or
    can be created) and accepts a new file. Nothing is left behind."""
    p = check_path_text(path, what)
    if p.is_dir():
        raise DiskError(f"{what} {p} is a folder; give a file name (e.g. {p / 'out.safetensors'}).")
    parent = p.parent
    missing = next((q for q in (parent, *parent.parents) if q.exists()), None)
    if missing is not None and not missing.is_dir():
        raise DiskError(f"{what} {p}: {missing} is a file, not a folder; choose another location.")
    try:
        created = [q for q in (parent, *parent.parents) if not q.exists()]
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=TMP_PREFIX)
        os.close(fd)
        os.unlink(probe)
        for q in created:  # leave no trace of the check: remove the folders it made (deepest first)
            q.rmdir()
    except OSError as exc:
        raise disk_error(exc, p, f"write {what.lower()}") from exc
    return p
