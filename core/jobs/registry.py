"""Job types: a name, a pydantic config model, a run function and named presets.

A module registers its types when imported (``register_job_type`` at module level is the registration,
not a side effect of importing ``core.jobs``). The worker process imports the module recorded on the job,
so types registered anywhere run in a worker; ``load_builtin_types`` imports the known modules so the
CLI and the app can list them.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from core.errors import InputError

if TYPE_CHECKING:
    from core.jobs.context import JobContext

log = logging.getLogger(__name__)

RunFn = Callable[[Any, "JobContext"], "dict[str, Any] | None"]
# Modules that register job types. Missing ones are skipped (areas land at different times);
# REASONSCOPE_JOB_MODULES adds more (comma-separated module names).
BUILTIN_MODULES = (
    "core.jobs.demo",
    "core.align.jobs",
    "core.probes.jobs",
    "core.evals.jobs",
    "core.story.jobs",
)


@dataclass(frozen=True, kw_only=True)
class JobType:
    """A registered job type. ``run_fn(config, ctx)`` does the work and may return a summary dict."""

    name: str
    config_model: type[BaseModel]
    run_fn: RunFn
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    key_metric: str | None = None  # the metric shown in job lists
    module: str = ""

    def config_for(
        self,
        *,
        preset: str | None = None,
        config: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> BaseModel:
        """Defaults < preset < config < overrides, validated; InputError with one line per bad field."""
        merged: dict[str, Any] = {}
        if preset is not None:
            if preset not in self.presets:
                known = ", ".join(sorted(self.presets)) or "none"
                raise InputError(f"Job type {self.name!r} has no preset {preset!r}. Presets: {known}.")
            merged.update(self.presets[preset])
        merged.update(config or {})
        merged.update(overrides or {})
        return validate_config(self.config_model, merged, type_name=self.name)


_REGISTRY: dict[str, JobType] = {}
_LOAD_ERRORS: dict[str, str] = {}


def register_job_type(
    name: str,
    config_model: type[BaseModel],
    run_fn: RunFn,
    presets: dict[str, dict[str, Any]] | None = None,
    *,
    description: str = "",
    key_metric: str | None = None,
) -> JobType:
    """Register (or re-register) a job type; presets are validated now so a broken one fails early."""
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"job type name must be non-empty without spaces, got {name!r}")
    jt = JobType(
        name=name,
        config_model=config_model,
        run_fn=run_fn,
        presets=dict(presets or {}),
        description=description or (config_model.__doc__ or "").strip().split("\n")[0],
        key_metric=key_metric,
        module=getattr(run_fn, "__module__", "") or "",
    )
    for pname in jt.presets:
        jt.config_for(preset=pname)
    _REGISTRY[name] = jt
    return jt


def _extra_modules() -> tuple[str, ...]:
    env = os.environ.get("REASONSCOPE_JOB_MODULES", "")
    return tuple(m.strip() for m in env.split(",") if m.strip())


def load_builtin_types() -> dict[str, str]:
    """Import every module that registers job types; returns ``{module: error}`` for those that failed."""
    for mod in BUILTIN_MODULES + _extra_modules():
        if mod in _LOAD_ERRORS:
            continue
        try:
            if importlib.util.find_spec(mod) is None:
                continue
        except ModuleNotFoundError:  # parent package not there yet
            continue
        try:
            importlib.import_module(mod)
        except Exception as exc:  # noqa: BLE001 - one broken area must not hide the other job types
            _LOAD_ERRORS[mod] = f"{type(exc).__name__}: {exc}"
            log.warning("could not load job types from %s: %s", mod, exc)
    return dict(_LOAD_ERRORS)


def job_types() -> dict[str, JobType]:
    """All registered job types (loading the built-in modules first)."""
    load_builtin_types()
    return dict(sorted(_REGISTRY.items()))


def get_job_type(name: str, module: str | None = None) -> JobType:
    """The type called ``name``; imports ``module`` first when given (the worker's path)."""
    if name not in _REGISTRY and module:
        importlib.import_module(module)
    if name not in _REGISTRY:
        load_builtin_types()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise InputError(f"Unknown job type {name!r}. Known types: {known}. See `reasonscope jobs types`.")
    return _REGISTRY[name]


def format_validation_error(exc: ValidationError) -> list[str]:
    """One human line per bad field: ``field.path: message (got value)``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field (check the spelling; `reasonscope jobs types` lists the fields)"
        got = err.get("input")
        # a check across fields (a model validator) has no one field to show: its input is the whole config
        shown = "" if err.get("type") in ("missing", "extra_forbidden") or not loc else f" (got {got!r})"
        if not loc:
            loc, msg = "(config)", msg.removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}{shown}")
    return lines


class ConfigError(InputError):
    """Invalid job config; ``fields`` maps each bad field to its message (for forms)."""

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.fields = fields


def validate_config(model: type[BaseModel], data: dict[str, Any], *, type_name: str = "") -> BaseModel:
    """``model.model_validate(data)`` with field-level messages in a ConfigError."""
    if not isinstance(data, dict):
        raise InputError(f"A job config must be a JSON object of fields, got {type(data).__name__}.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = format_validation_error(exc)
        fields = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in lines}
        head = f"Invalid config for job type {type_name!r}" if type_name else "Invalid config"
        raise ConfigError(head + ":\n  " + "\n  ".join(lines), fields) from None
