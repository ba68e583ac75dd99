"""`reasonscope jobs …`: submit, list, watch, cancel and resume background jobs."""

from __future__ import annotations

import getpass
import json
import time
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from core.cli.checks import check_json_value, in_range, parse_key_values
from core.cli.common import friendly_errors
from core.errors import InputError
from core.jobs import backend_for, get_backend, job_types
from core.jobs.backend import job_table
from core.jobs.registry import load_builtin_types
from core.jobs.view import format_duration, format_event

jobs_app = typer.Typer(
    help="Background jobs (probe sweeps, alignment runs): submit, watch, cancel, resume.",
    no_args_is_help=True,
)


def _identity() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return None


def read_config_file(path: Path) -> dict[str, Any]:
    """A job config from a .json or .toml file (InputError with the fix when unreadable)."""
    if not path.is_file():
        raise InputError(f"Config file {path} not found.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"Config file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8."
        ) from exc
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise InputError(
            f"Config file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise InputError(f'Config file {path} must hold one object of fields, e.g. {{"steps": 10}}.')
    return check_json_value(f"Config file {path}", data)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set key=value`` pairs; values are read as JSON when they parse (numbers, true, null), else text.
    Keys must be field names, numbers finite (InputError naming the bad item otherwise)."""
    return parse_key_values(items, "--set")


def follow(job_id: str, *, since: int = 0, poll_s: float = 0.5) -> str:
    """Print a job's events as they arrive until it ends; returns the final status."""
    backend = backend_for(job_id)
    while True:
        done = backend.status(job_id).is_terminal
        new = backend.events(job_id, since)
        for ev in new:
            typer.echo(format_event(ev))
        since = new[-1].seq if new else since
        if done and not new:
            return backend.status(job_id).status.value
        time.sleep(poll_s)


@jobs_app.command("types")
@friendly_errors
def types_cmd() -> None:
    """Job types with their presets and config fields."""
    for name, jt in job_types().items():
        typer.secho(name, bold=True)
        typer.echo(f"  {jt.description}")
        typer.echo(f"  presets: {', '.join(jt.presets) or '—'}")
        for fname, field in jt.config_model.model_fields.items():
            default = field.default if field.default is not None else "—"
            typer.echo(f"    {fname:<26} default {default!s:<10} {field.description or ''}")
    for mod, err in load_builtin_types().items():
        typer.secho(f"(could not load job types from {mod}: {err})", fg=typer.colors.YELLOW, err=True)


@jobs_app.command("submit")
@friendly_errors
def submit_cmd(
    type_name: Annotated[
        str, typer.Argument(metavar="TYPE", help="Job type (see `reasonscope jobs types`).")
    ],
    config: Annotated[Path | None, typer.Option(help="Config file (.json or .toml).")] = None,
    preset: Annotated[str | None, typer.Option(help="Named preset of the job type, e.g. quick.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override one field: key=value (repeatable).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="local | ray (default REASONSCOPE_JOBS_BACKEND or local).")
    ] = None,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Stream its events until it ends.")] = False,
) -> None:
    """Validate a config and queue a job; prints its id."""
    cfg = read_config_file(config) if config else None
    job_id = get_backend(backend).submit(
        type_name, cfg, preset=preset, overrides=parse_overrides(set_ or []), identity=_identity()
    )
    typer.echo(job_id)
    if follow_:
        _exit_for(follow(job_id))


def _exit_for(status: str) -> None:
    if status != "succeeded":
        raise typer.Exit(1)


@jobs_app.command("ls")
@friendly_errors
def ls_cmd(
    limit: Annotated[
        int, typer.Option(callback=in_range(1), help="Show at most this many (newest first).")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Jobs with status, type, start time, duration and key metric."""
    rows = job_table(limit=limit)
    if not rows:
        typer.echo("No jobs yet. Start one: reasonscope jobs submit demo.probe_sweep --preset quick")
        return
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row))
        else:
            typer.echo(
                f"{row['id']:<44} {row['status']:<10} {row['type']:<22} {row['started']:<17} "
                f"{row['duration']:>8}  {row['key metric']}"
            )


@jobs_app.command("show")
@friendly_errors
def show_cmd(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing events until the job ends.")
    ] = False,
    last: Annotated[int, typer.Option(callback=in_range(0), help="Print the last N events (0 = all).")] = 30,
) -> None:
    """A job's state and its latest events (live with --follow)."""
    backend = backend_for(job_id)
    rec = backend.status(job_id)
    typer.secho(
        f"{rec.id}  {rec.type}  {rec.status.value}  attempt {rec.attempt}  backend {rec.backend}", bold=True
    )
    typer.echo(
        f"by {rec.identity or '—'} · run folder {rec.run_dir} · duration "
        f"{format_duration(rec.duration(time.time()))}"
    )
    if rec.error:
        typer.secho(f"reason: {rec.error}", fg=typer.colors.RED)
    evs = backend.events(job_id)
    for ev in evs[-last:] if last else evs:
        typer.echo(format_event(ev))
    if follow_:  # exit status says whether the job succeeded, also when it had already ended
        _exit_for(rec.status if rec.is_terminal else follow(job_id, since=evs[-1].seq if evs else 0))


@jobs_app.command("cancel")
@friendly_errors
def cancel_cmd(job_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Cancel: a queued job never starts; a running one stops after its current step (checkpoint kept)."""
    rec = backend_for(job_id).cancel(job_id, identity=_identity())
    typer.echo(
        f"{job_id}: {'cancelled' if rec.is_terminal else 'cancel requested; it stops after its current step'}"
    )


@jobs_app.command("resume")
@friendly_errors
def resume_cmd(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Stream its events until it ends.")] = False,
) -> None:
    """Start a new attempt of a cancelled/failed/lost job from its last checkpoint."""
    backend = backend_for(job_id)
    since = backend.store.last_seq(job_id)
    rec = backend.resume(job_id, identity=_identity())
    where = f"from {rec.resume_from}" if rec.resume_from else "from the start (no checkpoint)"
    typer.echo(f"{job_id}: queued again {where}")
    if follow_:
        _exit_for(follow(job_id, since=since))
