"""The CLI's one error boundary: every failure of every command (and of every sub-app) becomes one line on
stderr and a non-zero exit, never a traceback.

``BoundaryGroup`` is the click group class of the top-level ``reasonscope`` app, so the boundary wraps the
whole command tree once, whether it runs as the installed script, ``python -m core.cli.main`` or typer's
``CliRunner``. Exit codes:

- 2: bad input (a ``ReasonScopeError``, an invalid option value, typer/click usage errors);
- 1: the environment failed (disk, permissions, database) or an internal error (a bug: please report it);
- 130: interrupted (Ctrl-C).

``--debug`` (a global option: ``reasonscope --debug COMMAND …``) or ``REASONSCOPE_DEBUG=1`` prints the full
traceback before the message.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from core.config import reasonscope_home
from core.errors import ReasonScopeError
from core.jobs.registry import format_validation_error

try:  # typer >= 0.22 vendors click as typer._click; older typers use click itself
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import ClickException, NoArgsIsHelpError

DEBUG_ENV = "REASONSCOPE_DEBUG"
DEBUG_KEY = "reasonscope.debug"  # set in click's context meta by the root ``--debug`` option
EXIT_INPUT = 2
EXIT_FAULT = 1
EXIT_INTERRUPTED = 130
MAX_MESSAGE_CHARS = 600
DEBUG_HINT = f"(rerun with --debug or {DEBUG_ENV}=1 for the traceback)"


def debug_requested(ctx: typer.Context | None = None) -> bool:
    """``--debug`` was given, or ``REASONSCOPE_DEBUG`` is set to anything but empty/0/false/no/off."""
    if ctx is not None and ctx.meta.get(DEBUG_KEY):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` on one line: its lines joined ("a:\\n  b\\n  c" -> "a: b; c"), shortened to ``limit``."""
    parts = [p.strip() for p in str(text).splitlines() if p.strip()]
    out = ""
    for p in parts:
        out += p if not out else (" " if out.endswith(":") else "; ") + p
    out = out.replace("\x00", "\\x00") or "(no message)"
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _free_mb(path: str | None) -> str:
    for p in (path, str(reasonscope_home())):
        while p:
            try:
                return f"{shutil.disk_usage(p).free / 1e6:.0f} MB free"
            except OSError:
                parent = os.path.dirname(p.rstrip("/"))
                p = parent if parent != p else ""
    return "free space unknown"


def _os_message(exc: OSError) -> str:
    name = exc.filename if isinstance(exc.filename, str | bytes) else None
    where = f" ({os.fsdecode(name)})" if name else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the device{where}, {_free_mb(os.fsdecode(name) if name else None)}; "
            f"free disk space (or point REASONSCOPE_HOME elsewhere) and retry."
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied{where}: make it writable or pick another path."
    if exc.errno == errno.ENOENT:
        return f"no such file or folder{where}: check the path."
    if exc.errno in (errno.EISDIR, errno.ENOTDIR):
        return f"{exc.strerror}{where}: give a file where a file is expected, a folder where a folder is."
    if exc.errno is None:  # raised with a message of ours, e.g. core.config.ensure_writable
        return one_line(str(exc))
    return f"{exc.strerror or exc}{where}."


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """The one line shown for ``exc`` and the exit code. Total: never raises, whatever ``exc`` holds."""
    try:
        return _describe(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not escape the boundary
        return f"internal error: {type(exc).__name__} {DEBUG_HINT}", EXIT_FAULT


def _describe(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, ReasonScopeError):
        return f"Error: {one_line(str(exc))}", EXIT_INPUT
    if isinstance(exc, ValidationError):
        return f"Error: invalid value: {one_line('; '.join(format_validation_error(exc)))}", EXIT_INPUT
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"Error: the input is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 "
            "and retry.",
            EXIT_INPUT,
        )
    if isinstance(exc, RecursionError):
        return "Error: the input is nested too deeply to read; flatten it and retry.", EXIT_INPUT
    if isinstance(exc, MemoryError):
        return "Error: out of memory; use a smaller input (--limit, --batch-size) and retry.", EXIT_FAULT
    if isinstance(exc, OSError):
        return f"Error: {_os_message(exc)}", EXIT_FAULT
    if isinstance(exc, sqlite3.Error | SQLAlchemyError):
        orig = getattr(exc, "orig", None) or exc
        return (
            f"Error: database error ({type(orig).__name__}: {one_line(str(orig), 200)}). If it says the file "
            "is corrupt, run `reasonscope store repair` or restore REASONSCOPE_HOME from a backup.",
            EXIT_FAULT,
        )
    msg = one_line(str(exc), 300)
    return f"internal error: {type(exc).__name__}: {msg} {DEBUG_HINT}", EXIT_FAULT


def report_failure(exc: BaseException, *, debug: bool = False) -> int:
    """Print ``exc`` as one line on stderr (after its traceback when ``debug``); returns the exit code."""
    line, code = describe_failure(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    typer.secho(line, fg=typer.colors.RED, err=True)
    return code


def show_click_error(exc: ClickException) -> int:
    """A click/typer usage error as ONE line ("Error: … (see `reasonscope probe score --help`)"); a help
    screen (no arguments given) as click shows it. Returns the exit code."""
    if isinstance(exc, NoArgsIsHelpError):
        exc.show()
        return exc.exit_code
    ctx = getattr(exc, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    typer.secho(f"Error: {one_line(exc.format_message())}{where}", fg=typer.colors.RED, err=True)
    return exc.exit_code


class BoundaryGroup(TyperGroup):
    """The top-level group: its ``invoke`` runs the whole command tree, so one ``try`` covers it all;
    ``main`` also catches what fails before any command runs (an unknown top-level option)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(EXIT_FAULT)
        except ClickException as exc:
            sys.exit(show_click_error(exc))
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - outside any command: still one line
            sys.exit(report_failure(exc, debug=debug_requested() or "--debug" in (args or sys.argv[1:])))
        sys.exit(rv if isinstance(rv, int) else 0)  # typer returns the code of a typer.Exit here

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, NoArgsIsHelpError):
            raise  # deliberate exits, help screens, click's own abort: unchanged
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `reasonscope … | head`: typer exits quietly
                raise
            raise typer.Exit(report_failure(exc, debug=debug_requested(ctx))) from None
        except ClickException as exc:  # usage errors: one line naming the option and the help command
            raise typer.Exit(show_click_error(exc)) from None
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - this is the boundary
            raise typer.Exit(report_failure(exc, debug=debug_requested(ctx))) from None
