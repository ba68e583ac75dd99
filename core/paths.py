"""Keys and names that reach the filesystem: validated, then resolved and confined to their root.

* **Store keys** are content hashes: exactly ``KEY_LENGTH`` lowercase hex characters (``Trajectory.key``).
* **Names** (artefacts, probe sets, steering vectors, runs) are ``[A-Za-z0-9._-]{1,100}`` not starting with
  ``.``: no ``/``, no ``..``, no absolute paths, no NUL bytes, never a hidden temp folder.
* ``confined(root, *parts)`` joins and resolves (following symlinks), and refuses anything that lands outside
  ``root`` -- so a symlink planted inside the root cannot lead out of it.

Every refusal is an ``UnsafePathError`` (an ``InputError``) that says what is allowed. Stdlib only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.errors import InputError

KEY_LENGTH = 32
KEY_PATTERN = re.compile(rf"[0-9a-f]{{{KEY_LENGTH}}}")
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,100}")


class UnsafePathError(InputError):
    """A key, name or path that is malformed or would reach outside its folder."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def valid_key(key: Any) -> bool:
    return isinstance(key, str) and KEY_PATTERN.fullmatch(key) is not None


def check_key(key: Any, what: str = "Store key") -> str:
    """``key`` if it is a well-formed content hash, else ``UnsafePathError`` saying what a key looks like."""
    if not valid_key(key):
        raise UnsafePathError(
            f"{what} {_shown(key)} is not valid: keys are {KEY_LENGTH} lowercase hex characters (0-9, a-f), "
            "as printed by `reasonscope store ls`."
        )
    return key


def valid_name(name: Any) -> bool:
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None and not name.startswith(".")


def check_name(name: Any, what: str = "Name") -> str:
    """``name`` if it is in the allowed character set, else ``UnsafePathError`` saying what is allowed."""
    if not valid_name(name):
        raise UnsafePathError(
            f"{what} {_shown(name)} is not allowed: use letters, digits, '_', '-' or '.' (1-100 "
            "characters, not starting with '.')."
        )
    return name


def check_path_text(path: Any, what: str = "Path") -> Path:
    """A user-given path as a ``Path``: refuses empty strings and NUL bytes (which the OS cannot take)."""
    text = str(path) if path is not None else ""
    if not text.strip():
        raise UnsafePathError(f"{what} is empty: give a file or folder path.")
    if "\x00" in text:
        raise UnsafePathError(f"{what} {_shown(text)} contains a NUL byte; give a plain path.")
    return Path(text).expanduser()


def confined(root: str | Path, *parts: str) -> Path:
    """``root/parts...``, refused unless it resolves (symlinks followed) to somewhere inside ``root``."""
    base = Path(root).resolve()
    for part in parts:
        if "\x00" in part:
            raise UnsafePathError(f"{_shown(part)} contains a NUL byte; give a plain name.")
    target = base.joinpath(*parts).resolve()
    if target == base or not target.is_relative_to(base):
        raise UnsafePathError(
            f"{_shown('/'.join(parts))} leads outside {base} (through '..', an absolute path or a symlink); "
            "use a plain name."
        )
    return Path(root).joinpath(*parts)
