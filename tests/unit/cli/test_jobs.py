"""`reasonscope jobs …` end to end with real workers: submit/follow, ls, show, cancel/resume, bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from core.cli.main import app
from core.jobs import JobStore

runner = CliRunner()


def test_submit_follow_ls_show(jobs_home, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("steps = 4\nseed = 2\n")
    res = runner.invoke(
        app,
        ["jobs", "submit", "demo.probe_sweep", "--config", str(cfg), "--set", "sample_every=2", "--follow"],
    )
    assert res.exit_code == 0, res.output
    job = res.output.splitlines()[0]
    assert (
        "step 4/4" in res.output
        and "status  succeeded (attempt 1)" in res.output
        and "sample  step 2" in res.output
    )
    rec = JobStore().get(job)
    assert (
        rec.config["steps"] == 4
        and rec.config["seed"] == 2
        and rec.config["sample_every"] == 2
        and rec.identity
    )
    ls = runner.invoke(app, ["jobs", "ls", "--json"])
    row = json.loads(ls.output.splitlines()[0])
    assert row["id"] == job and row["status"] == "succeeded" and row["key metric"].startswith("val_acc = ")
    show = runner.invoke(app, ["jobs", "show", job, "--last", "3"])
    assert show.exit_code == 0 and "succeeded" in show.output and "probe_weights" in show.output
    assert "demo.probe_sweep" in runner.invoke(app, ["jobs", "types"]).output


def test_cancel_resume_and_clean_errors(jobs_home, tmp_path):
    res = runner.invoke(
        app, ["jobs", "submit", "demo.probe_sweep", "--set", "steps=400", "--set", "step_delay_s=0.05"]
    )
    job = res.output.strip()
    assert "cancel requested" in runner.invoke(app, ["jobs", "cancel", job]).output
    shown = runner.invoke(app, ["jobs", "show", job, "--follow"])
    assert shown.exit_code == 1 and "status  cancelled" in shown.output  # non-zero: it did not succeed
    res = runner.invoke(app, ["jobs", "resume", job])
    assert res.exit_code == 0 and "queued again" in res.output
    runner.invoke(app, ["jobs", "cancel", job])
    runner.invoke(app, ["jobs", "show", job, "--follow"])

    bad = runner.invoke(app, ["jobs", "submit", "demo.probe_sweep", "--set", "steps=0", "--set", "nope=1"])
    assert bad.exit_code == 2 and "steps: Input should be greater than or equal to 1" in bad.output
    assert "nope: unknown field" in bad.output and "Traceback" not in bad.output
    assert "Unknown job type 'x'" in runner.invoke(app, ["jobs", "submit", "x"]).output
    assert "No job with id 'zzz'" in runner.invoke(app, ["jobs", "show", "zzz"]).output
    broken = tmp_path / "c.json"
    broken.write_text("{steps: 3")
    assert (
        "is not valid json"
        in runner.invoke(app, ["jobs", "submit", "demo.probe_sweep", "--config", str(broken)]).output
    )
