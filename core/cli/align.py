"""`reasonscope align alphaalign|craft|rational`: launch an alignment job (background, resumable).

    reasonscope align alphaalign --preset demo-cpu --follow
    reasonscope align craft --preset demo-cpu --set max_steps=20 --set head=my-head
    reasonscope align rational --config rational.toml

The job runs in its own process (``reasonscope jobs show/cancel/resume ID``); at the end its adapter is a
subject everywhere: ``--model default --adapter RUN/adapter`` or ModelSpec(adapter=...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.align.sweep import SweepConfig, point_configs
from core.cli.checks import check_finite
from core.cli.common import friendly_errors
from core.cli.jobs import _exit_for, _identity, follow, parse_overrides, read_config_file
from core.jobs import get_backend

align_app = typer.Typer(
    help="Align a model's safety reasoning: AlphaAlign, CRAFT, Rational (background jobs).",
    no_args_is_help=True,
)
METHODS = ("alphaalign", "craft", "rational")


def _launch(
    method: str,
    preset: str | None,
    config: Path | None,
    set_: list[str] | None,
    follow_: bool,
    backend: str | None,
) -> None:
    cfg = read_config_file(config) if config else None
    if preset is None and cfg is None:
        preset = "demo-cpu"
    job_id = get_backend(backend).submit(
        f"align.{method}", cfg, preset=preset, overrides=parse_overrides(set_ or []), identity=_identity()
    )
    typer.echo(job_id)
    typer.echo(
        f"watch: reasonscope jobs show {job_id} --follow · cancel: reasonscope jobs cancel {job_id}", err=True
    )
    if follow_:
        _exit_for(follow(job_id))


def _make(method: str) -> None:
    @align_app.command(method)
    @friendly_errors
    def cmd(
        preset: Annotated[
            str | None,
            typer.Option(help="demo-cpu (2 idle CPU cores, ~25 min from an empty home) or full-gpu."),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option(help="Config file (.json or .toml); fields as in `reasonscope jobs types`."),
        ] = None,
        set_: Annotated[
            list[str] | None, typer.Option("--set", help="Override one field: key=value.")
        ] = None,
        follow_: Annotated[
            bool, typer.Option("--follow", "-f", help="Stream the job's events until it ends.")
        ] = False,
        backend: Annotated[str | None, typer.Option(help="local | ray.")] = None,
    ) -> None:
        _launch(method, preset, config, set_, follow_, backend)

    cmd.__doc__ = {
        "alphaalign": "AlphaAlign: verifiable safety reward + GRPO (AlphaAlign-Zero offline).",
        "craft": "CRAFT phase 2: GRPO on latent + text + consistency rewards over a contrastive head.",
        "rational": "Rational: self-generated safety reasoning, verifier-filtered, LoRA SFT.",
    }[method]


for _m in METHODS:
    _make(_m)


@align_app.command("sweep")
@friendly_errors
def sweep_cmd(
    method: Annotated[str, typer.Option(help="alphaalign | craft | rational")] = "rational",
    setting: Annotated[str, typer.Option(help="The config field to vary, e.g. sft_epochs.")] = "sft_epochs",
    values: Annotated[str, typer.Option(help="3 to 5 comma-separated values, e.g. 0.5,1,2.")] = "0.5,1,2",
    preset: Annotated[str, typer.Option(help="The method preset every point starts from.")] = "demo-cpu",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override one other field of every point: key=value.")
    ] = None,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Stream the job's events.")] = False,
    backend: Annotated[str | None, typer.Option(help="local | ray.")] = None,
) -> None:
    """A frontier: run one method at 3-5 values of one setting (harmful refusal vs over-refusal, with CIs)."""
    vals = [_parse_value(v) for v in values.split(",") if v.strip()]
    cfg = {
        "method": method,
        "setting": setting,
        "values": vals,
        "preset": preset,
        "overrides": parse_overrides(set_ or []),
    }
    point_configs(SweepConfig(**cfg))  # every point validated here, before the job is queued
    job_id = get_backend(backend).submit("align.sweep", cfg, identity=_identity())
    typer.echo(job_id)
    if follow_:
        _exit_for(follow(job_id))


def _parse_value(v: str) -> float | int | str | bool:
    """One ``--values`` entry: a bool, an int, a finite float, else the text (InputError for nan/inf)."""
    s = v.strip()
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    for cast in (int, float):
        try:
            out = cast(s)
        except ValueError:
            continue
        return check_finite("--values entry", out) if cast is float else out
    return s
