"""Describe a job type's pydantic config as form fields, and turn submitted values back into a config.

The app renders one widget per ``FieldSpec``; keeping this mapping here (UI-free) makes it testable.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

# Widget kinds: int, float, bool, str, choice (Literal/Enum), json (anything else: lists, dicts, models).


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    name: str
    kind: str
    default: Any
    help: str = ""
    optional: bool = False  # None allowed: blank input means None
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive: tuple[bool, bool] = (False, False)  # (gt, lt) instead of (ge, le)
    required: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _bounds(info: FieldInfo) -> tuple[float | None, float | None, tuple[bool, bool]]:
    lo = hi = None
    gt = lt = False
    for m in info.metadata:
        if getattr(m, "ge", None) is not None:
            lo = m.ge
        if getattr(m, "gt", None) is not None:
            lo, gt = m.gt, True
        if getattr(m, "le", None) is not None:
            hi = m.le
        if getattr(m, "lt", None) is not None:
            hi, lt = m.lt, True
    return lo, hi, (gt, lt)


def field_specs(model: type[BaseModel], values: dict[str, Any] | None = None) -> list[FieldSpec]:
    """One spec per config field; ``values`` (e.g. a preset) override the model's defaults."""
    values = values or {}
    out = []
    for name, info in model.model_fields.items():
        tp, optional = _unwrap_optional(info.annotation)
        origin = typing.get_origin(tp)
        choices: tuple[Any, ...] = ()
        if tp is bool:
            kind = "bool"
        elif tp is int:
            kind = "int"
        elif tp is float:
            kind = "float"
        elif tp is str:
            kind = "str"
        elif origin is typing.Literal:
            kind, choices = "choice", tuple(typing.get_args(tp))
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            kind, choices = "choice", tuple(m.value for m in tp)
        else:
            kind = "json"
        required = info.is_required()
        default = values.get(name, None if required else info.get_default(call_default_factory=True))
        if isinstance(default, enum.Enum):
            default = default.value
        lo, hi, excl = _bounds(info)
        out.append(
            FieldSpec(
                name=name,
                kind=kind,
                default=default,
                help=info.description or "",
                optional=optional,
                choices=choices,
                minimum=lo,
                maximum=hi,
                exclusive=excl,
                required=required,
            )
        )
    return out


def form_to_config(specs: list[FieldSpec], raw: dict[str, Any]) -> dict[str, Any]:
    """Widget values → config dict: blank optional fields become None, JSON fields are parsed.

    Validation stays with pydantic (``JobType.config_for``) so messages are the same as the CLI's.
    """
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in raw:
            continue
        v = raw[spec.name]
        if isinstance(v, str) and spec.kind in ("str", "json", "int", "float") and v.strip() == "":
            if spec.optional:
                out[spec.name] = None
                continue
            if spec.kind != "str":
                out[spec.name] = v  # let pydantic say what is wrong with an empty number
                continue
        if spec.kind == "json" and isinstance(v, str):
            try:
                v = json.loads(v)
            except json.JSONDecodeError:
                pass  # pydantic reports the field
        out[spec.name] = v
    return out
