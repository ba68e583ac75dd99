"""Up-front checks of the numbers a user hands in: finite, in range, whole where it must be.

Every check raises ``core.errors.InputError`` with a message that names the field, the bad value and the
allowed range, so a NaN coefficient or a 3e38 vector is refused before a model is loaded or a token
generated (issue 15: a ``nan`` steering alpha used to make an audit report a broken model as safe).

* ``real`` / ``whole`` / ``probability`` / ``seed`` -- one scalar each; return the clean value.
* ``finite_array`` -- every entry finite and at most ``MAX_ABS`` in magnitude.
* ``CheckedModel`` -- a pydantic base whose constructor raises ``InputError`` (one line per bad field)
  instead of pydantic's ``ValidationError``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from core.errors import InputError

MAX_ABS = 1e6  # largest |value| accepted in a steering coefficient or vector (real ones are < 1e4)
SEED_MAX = 2**32 - 1  # numpy, scikit-learn and torch all accept 0..2**32-1


def _fmt(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range_text(name: str, low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """``|alpha| ≤ 1e+06``, ``0 < temperature ≤ 100``, ``seed ≥ 0`` ..."""
    lo = f"{_fmt(low)} {'<' if low_open else '≤'} " if low is not None else ""
    hi = f" {'<' if high_open else '≤'} {_fmt(high)}" if high is not None else ""
    if low is not None and high is not None and low == -high and not (low_open or high_open):
        return f"|{name}| ≤ {_fmt(high)}"
    if low is not None and high is None:
        return f"{name} {'>' if low_open else '≥'} {_fmt(low)}"
    return f"{lo}{name}{hi}" if lo or hi else f"any finite {name}"


def real(
    field: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> float:
    """``value`` as a finite float within the bounds (``*_open``: the bound itself is excluded)."""
    allowed = _range_text(field, low, high, low_open, high_open)
    tail = f" {hint}" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{field} = {value!r} is not a number; allowed: {allowed}.{tail}")
    x = float(value)
    if not math.isfinite(x):
        raise InputError(f"{field} = {x} is not allowed: it must be a finite number ({allowed}).{tail}")
    bad = (low is not None and (x < low or (low_open and x == low))) or (
        high is not None and (x > high or (high_open and x == high))
    )
    if bad:
        raise InputError(f"{field} = {_fmt(x)} is out of range; allowed: {allowed}.{tail}")
    return x


def whole(field: str, value: Any, *, low: int | None = None, high: int | None = None, hint: str = "") -> int:
    """``value`` as an int within ``[low, high]`` (a bool, a float or a string is refused)."""
    allowed = _range_text(field, low, high, False, False)
    tail = f" {hint}" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{field} = {value!r} is not a whole number; allowed: {allowed}.{tail}")
    n = int(value)
    if (low is not None and n < low) or (high is not None and n > high):
        raise InputError(f"{field} = {n} is out of range; allowed: {allowed}.{tail}")
    return n


def probability(field: str, value: Any, *, hint: str = "") -> float:
    """A finite number in [0, 1] (thresholds on P(unsafe), shares)."""
    return real(field, value, low=0.0, high=1.0, hint=hint)


def seed(field: str, value: Any) -> int:
    """A random seed: a whole number in 0..2**32-1."""
    return whole(field, value, low=0, high=SEED_MAX)


def finite_array(field: str, values: Any, *, max_abs: float = MAX_ABS, hint: str = "") -> np.ndarray:
    """``values`` as a float64 array whose entries are all finite and at most ``max_abs`` in magnitude."""
    tail = f" {hint}" if hint else ""
    arr = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        raise InputError(
            f"{field} contains {int(bad.sum())} NaN or infinite value(s) (first: {arr.reshape(-1)[i]} at "
            f"index {i}); every value must be finite with |value| ≤ {_fmt(max_abs)}.{tail}"
        )
    if arr.size:
        peak = float(np.abs(arr).max())
        if peak > max_abs:
            raise InputError(
                f"{field} has a value of magnitude {_fmt(peak)}; allowed: |value| ≤ {_fmt(max_abs)}.{tail}"
            )
    return arr


def validation_message(exc: ValidationError, what: str) -> str:
    """One readable line per bad field of a pydantic ``ValidationError``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or what
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if msg.startswith(f"{loc} ") or msg.startswith(f"{loc.rsplit('.', 1)[-1]} "):
            lines.append(msg)  # a check from this module already names the field and the value
        else:
            lines.append(f"{loc} = {err.get('input')!r}: {msg}")
    return f"Invalid {what}: " + "; ".join(lines)


class CheckedModel(BaseModel):
    """A pydantic model whose constructor raises ``InputError`` (a ``ValueError``) naming each bad field; the
    original ``ValidationError`` is its ``__cause__`` (``nested_errors`` re-raises it inside a validator)."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InputError(validation_message(exc, type(self).__name__)) from exc


def nested_errors(exc: InputError) -> Exception:
    """Inside an outer model's validator: the ``ValidationError`` behind a ``CheckedModel``'s ``InputError``
    (pydantic then reports each bad field under the outer field's path, e.g. ``options.batch_size``)."""
    return exc.__cause__ if isinstance(exc.__cause__, ValidationError) else exc
