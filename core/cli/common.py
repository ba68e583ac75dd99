"""Shared CLI plumbing: clean error messages instead of tracebacks, model loading with a spinner."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from core.capture.models import ModelSpec, load_model
from core.errors import ReasonScopeError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Show ReasonScopeError messages as one red line and exit 2 (set REASONSCOPE_DEBUG=1 for tracebacks)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ReasonScopeError as exc:
            if os.environ.get("REASONSCOPE_DEBUG"):
                raise
            typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def load(model: str, device: str = "auto", dtype: str = "float32", adapter: str | None = None) -> Any:
    typer.secho(f"Loading model {model!r}…", err=True, fg=typer.colors.BLUE)
    return load_model(ModelSpec(name=model, device=device, dtype=dtype, adapter=adapter))
