"""The CLI's one error boundary (core.cli.boundary): every failure of every command is one line on stderr and
a non-zero exit; --debug / REASONSCOPE_DEBUG=1 add the traceback; Ctrl-C is "interrupted" (130); typer's
usage errors keep exit 2."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import core.cli.data as cli_data
from core.cli.main import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[3]


def _raise(exc: BaseException):
    def boom(*args, **kwargs):
        raise exc

    return boom


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_unexpected_exception_is_one_internal_error_line(rs_home, monkeypatch):
    monkeypatch.setattr(cli_data, "list_datasets", _raise(RuntimeError("boom\nsecond line")))
    res = runner.invoke(app, ["data", "ls"])
    assert res.exit_code == 1
    assert _lines(res.stderr) == [
        "internal error: RuntimeError: boom; second line "
        "(rerun with --debug or REASONSCOPE_DEBUG=1 for the traceback)"
    ]
    assert "Traceback" not in res.output


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(rs_home, monkeypatch, how):
    monkeypatch.setattr(cli_data, "list_datasets", _raise(RuntimeError("boom")))
    if how == "env":
        monkeypatch.setenv("REASONSCOPE_DEBUG", "1")
    res = runner.invoke(app, (["--debug"] if how == "flag" else []) + ["data", "ls"])
    assert res.exit_code == 1
    assert "Traceback (most recent call last)" in res.stderr and "RuntimeError: boom" in res.stderr
    assert _lines(res.stderr)[-1].startswith("internal error: RuntimeError: boom")


def test_keyboard_interrupt_is_interrupted_130(rs_home, monkeypatch):
    monkeypatch.setattr(cli_data, "list_datasets", _raise(KeyboardInterrupt()))
    res = runner.invoke(app, ["data", "ls"])
    assert res.exit_code == 130 and _lines(res.stderr) == ["interrupted"]


def test_disk_full_names_the_problem_and_the_free_space(rs_home, monkeypatch):
    err = OSError(errno.ENOSPC, "No space left on device", str(rs_home / "x.db"))
    monkeypatch.setattr(cli_data, "list_datasets", _raise(err))
    res = runner.invoke(app, ["data", "ls"])
    (line,) = _lines(res.stderr)
    assert res.exit_code == 1 and line.startswith("Error: no space left") and "MB free" in line


def test_user_errors_exit_2_with_one_line(rs_home):
    res = runner.invoke(app, ["jobs", "submit", "demo.probe_sweep", "--set", "steps=0", "--set", "nope=1"])
    assert res.exit_code == 2
    (line,) = _lines(res.stderr)
    assert (
        "steps: Input should be greater than or equal to 1 (got 0)" in line and "nope: unknown field" in line
    )


def test_usage_errors_keep_exit_2_and_say_the_field_the_value_and_the_range(rs_home):
    res = runner.invoke(app, ["store", "ls", "--limit", "-1"])
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert _lines(res.stderr) == [  # one line: the option, the value, the range and where the help is
        "Error: Invalid value for '--limit': -1 is out of range: give an integer >= 1. "
        "(see `root store ls --help`)"
    ]
    res = runner.invoke(app, ["--no-such-option"])
    (line,) = [x for x in _lines(res.stderr) if x.startswith("Error")]
    assert res.exit_code == 2 and line.startswith("Error: No such option: --no-such-option")


def test_help_and_deliberate_exits_are_unchanged(rs_home):
    assert runner.invoke(app, ["--help"]).exit_code == 0
    res = runner.invoke(app, ["store"])  # a sub-app without a command shows its help
    assert "Usage" in res.output and "internal error" not in res.output


def test_the_installed_entry_point_has_the_same_boundary(rs_home):
    """``[project.scripts] reasonscope = core.cli.main:main`` (run here as ``python -m core.cli.main``)."""
    res = subprocess.run(
        [sys.executable, "-m", "core.cli.main", "data", "export", "nope", "x.jsonl"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert _lines(res.stderr) == [line for line in _lines(res.stderr) if line.startswith("Error: No dataset")]
    assert len(_lines(res.stderr)) == 1
    scripts = (REPO / "pyproject.toml").read_text()
    assert 'reasonscope = "core.cli.main:main"' in scripts
