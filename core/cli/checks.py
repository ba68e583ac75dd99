"""Up-front checks of CLI option values: run before any model is loaded or anything is generated or written,
each failing with an ``InputError`` that names the option, the bad value and what is allowed.

Counts and sizes get ``callback=in_range(low, high)`` on the option itself (typer's ``min=``/``max=`` would
not show the bad value); what a range cannot express (a layer list, a choice given as free text, a
``key=value`` override, a folder to write into, a new artefact's name) is checked in the command, with the
functions below, before it loads anything.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import typer

from core.artefacts import artefact_path, kind_dir
from core.errors import InputError

MAX_JSON_DEPTH = 50  # of a --set value or a config file (deeper is refused, not a RecursionError)


def in_range(low: int, high: int | None = None) -> Callable[[int | None], int | None]:
    """A typer option callback: the value unchanged when ``low <= value <= high`` (or it is unset), else a
    usage error that names the option, the bad value and the allowed range (exit 2)."""
    allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def check(value: int | None) -> int | None:
        if value is not None and (value < low or (high is not None and value > high)):
            raise typer.BadParameter(f"{value} is out of range: give {allowed}.")
        return value

    return check


def parse_layer_list(spec: str | None, option: str = "--layers") -> list[int] | None:
    """``None`` for 'all' (or nothing), else the distinct layer indices of ``"5,10,15"`` in the given order.

    Only the form is checked here (non-negative integers); the model's layer count is checked once it is
    loaded."""
    if spec is None or spec.strip().lower() in ("", "all"):
        return None
    out: list[int] = []
    for part in spec.split(","):
        p = part.strip()
        if not p:
            continue
        if not (p.isascii() and p.isdigit()) or len(p) > 6:
            raise InputError(
                f"{option} must be 'all' or comma-separated layer indices >= 0 like 5,10,15; got {spec!r}."
            )
        if int(p) not in out:
            out.append(int(p))
    if not out:
        raise InputError(f"{option} must be 'all' or layer indices like 5,10,15; got {spec!r}.")
    return out


def check_choice(option: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` when it is one of ``allowed``, else an InputError listing them."""
    if value not in allowed:
        raise InputError(f"{option} must be one of {', '.join(allowed)}; got {value!r}.")
    return value


def check_finite(option: str, value: float, *, low: float | None = None, high: float | None = None) -> float:
    """``value`` when it is a finite number within [low, high] (either bound optional)."""
    ok = isinstance(value, int | float) and math.isfinite(value)
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise InputError(f"{option} must be a finite number in [{lo}, {hi}]; got {value!r}.")
    return value


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of lists/dicts in ``value``, counted up to ``limit + 1`` (iterative: no recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack += [(x, d + 1) for x in v.values()]
        elif isinstance(v, list):
            stack += [(x, d + 1) for x in v]
    return deepest


def non_finite_numbers(value: Any) -> bool:
    """Does ``value`` (JSON-like) hold a NaN or an infinity anywhere?"""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return True
        if isinstance(v, dict):
            stack += list(v.values())
        elif isinstance(v, list):
            stack += v
    return False


def check_json_value(what: str, value: Any) -> Any:
    """``value`` (parsed JSON/TOML) when it is at most ``MAX_JSON_DEPTH`` deep and all its numbers finite."""
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InputError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep; flatten it.")
    if non_finite_numbers(value):
        raise InputError(f"{what} holds NaN or an infinity; give finite numbers.")
    return value


def parse_override_value(raw: str) -> Any:
    """A ``--set`` value: JSON when it parses (numbers, true/false, null, lists), else the text itself."""
    if raw.lstrip()[:1] in ("[", "{") and raw.count("[") + raw.count("{") > MAX_JSON_DEPTH:
        raise InputError(f"--set value {raw[:40]!r}… is nested more than {MAX_JSON_DEPTH} levels deep.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON (or an integer of thousands of digits): plain text
        return raw


def parse_key_values(items: Iterable[str], option: str = "--set") -> dict[str, Any]:
    """``key=value`` pairs (``parse_override_value`` reads each value); InputError naming the bad item."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"{option} expects key=value, got {item!r}.")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or not key.isidentifier():
            raise InputError(
                f"{option} key {key!r} (in {item!r}) is not a field name: use letters, digits and '_', "
                "e.g. max_steps=20."
            )
        out[key] = check_json_value(f"{option} {key}", parse_override_value(raw))
    return out


def check_new_artefact(kind: str, name: str, *, overwrite: bool, option: str = "--name") -> Path:
    """Where a new artefact ``name`` of ``kind`` will be written: a valid name, and not taken unless
    ``overwrite`` (checked before any training, so nothing runs for a result that could not be saved)."""
    path = artefact_path(kind_dir(kind), name)
    if path.exists() and not overwrite:
        raise InputError(
            f"{option} {name!r}: an artefact of that name already exists at {path}; pick another name or "
            "add --overwrite."
        )
    return path


def check_output_folder(path: Path, option: str = "--out") -> Path:
    """``path`` when it is (or can be created as) a writable folder; nothing is created here."""
    p = Path(path).expanduser()
    if "\x00" in str(p):
        raise InputError(f"{option} {str(path)!r} contains a NUL byte.")
    if p.exists() and not p.is_dir():
        raise InputError(f"{option} {p} is a file; give a folder (it is created if missing).")
    probe = p
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{option} {p}: cannot write under {probe}; pick a writable folder.")
    return p


def check_output_file(path: Path, option: str) -> Path:
    """``path`` when a file can be written there (its folder exists or can be made, and it is no folder)."""
    p = Path(path).expanduser()
    if "\x00" in str(p):
        raise InputError(f"{option} {str(path)!r} contains a NUL byte.")
    if p.is_dir():
        raise InputError(f"{option} {p} is a folder; give a file name.")
    check_output_folder(p.parent, option)
    return p
