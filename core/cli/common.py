"""Shared CLI plumbing: option checks, model loading with a spinner.

Errors are not handled here: ``core.cli.boundary`` turns every failure of every command into one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from core.capture.models import ModelSpec, load_model
from core.capture.placement import LOCAL, describe, parse_where

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Kept for the commands that still carry it: a no-op since the top-level boundary
    (``core.cli.boundary.BoundaryGroup``) shows every failure, of every command, as one line."""
    return fn


# Every command that runs a model takes it. The key comes from NDIF_API_KEY, never from an option, so it stays
# out of shell history and job configs.
RemoteOpt = Annotated[
    str | None,
    typer.Option(
        "--remote",
        help="Run the model's traces on NDIF: 'ndif' (the public service, key from NDIF_API_KEY) or an NDIF "
        "host URL such as http://127.0.0.1:8001. Default: this machine.",
        callback=lambda v: parse_where(v) if v is not None else None,
    ),
]


def load(
    model: str,
    device: str = "auto",
    dtype: str = "float32",
    adapter: str | None = None,
    *,
    remote: str | None = None,
) -> Any:
    where = remote or LOCAL
    typer.secho(f"Loading model {model!r} (runs on {describe(where)})…", err=True, fg=typer.colors.BLUE)
    return load_model(ModelSpec(name=model, device=device, dtype=dtype, adapter=adapter, where=where))
