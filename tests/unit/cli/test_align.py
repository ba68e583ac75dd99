"""`reasonscope align …`: the three methods are there, bad configs fail with field-level messages before any
job is queued."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from core.cli.main import app

runner = CliRunner()


def test_align_lists_the_three_methods() -> None:
    res = runner.invoke(app, ["align", "--help"])
    assert res.exit_code == 0
    for method in ("alphaalign", "craft", "rational"):
        assert method in res.output


def test_bad_override_is_a_clean_error_and_queues_nothing(rs_home: Path) -> None:
    res = runner.invoke(app, ["align", "craft", "--preset", "demo-cpu", "--set", "w_latent=1"])
    assert res.exit_code == 2
    assert "w_latent" in res.output and "unknown field" in res.output
    res = runner.invoke(app, ["align", "alphaalign", "--preset", "nope"])
    assert res.exit_code == 2 and "demo-cpu" in res.output
    runs = rs_home / "runs"
    assert not runs.exists() or not [p for p in runs.iterdir() if p.is_dir()]  # no job folder was made


def test_config_file_is_read(rs_home: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"num_generations": 1}')
    res = runner.invoke(app, ["align", "alphaalign", "--config", str(cfg)])
    assert res.exit_code == 2 and "num_generations" in res.output
