"""Shared CLI plumbing: option checks, model loading with a spinner.

Errors are not handled here: ``core.cli.boundary`` turns every failure of every command into one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer

from core.capture.models import ModelSpec, load_model

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Kept for the commands that still carry it: a no-op since the top-level boundary
    (``core.cli.boundary.BoundaryGroup``) shows every failure, of every command, as one line."""
    return fn


def load(model: str, device: str = "auto", dtype: str = "float32", adapter: str | None = None) -> Any:
    typer.secho(f"Loading model {model!r}…", err=True, fg=typer.colors.BLUE)
    return load_model(ModelSpec(name=model, device=device, dtype=dtype, adapter=adapter))
