"""AppTest of the Jobs page with real worker processes (fragments run once per script run under AppTest;
their polling logic is tested in tests/unit/jobs/test_view.py)."""

from __future__ import annotations

import json

import pytest

from core.jobs import JobStatus, JobStore, get_backend
from tests.job_helpers import stale_running_job, wait_for, wait_terminal

pytestmark = pytest.mark.app
PAGE = "app/app_pages/jobs.py"
TYPE = "demo.probe_sweep"


def finished(job_id):
    return wait_terminal(get_backend(), job_id)


def test_empty_state_says_what_to_do(jobs_home, run_page):
    at = run_page(PAGE, annotator_name="ada")
    assert not at.exception
    assert any("No jobs yet" in i.value for i in at.info)
    assert any("at least two jobs" in i.value for i in at.info)


def test_opening_the_page_reports_a_job_that_crashed_while_nobody_watched(jobs_home, run_page):
    crashed = stale_running_job(JobStore())
    at = run_page(PAGE, annotator_name="ada")
    assert not at.exception
    rec = JobStore().get(crashed)
    assert rec.status == JobStatus.LOST and "stopped without reporting" in rec.error
    assert at.selectbox(key="jobs_selected").value == crashed
    assert any("lost" in str(m.value) for m in at.markdown)


def test_launch_from_generated_form_with_preset(jobs_home, run_page):
    at = run_page(PAGE, annotator_name="ada")
    at.selectbox(key="launch_type").set_value(TYPE).run()  # other areas register job types too
    at.selectbox(key=f"launch_preset-{TYPE}").set_value("quick").run()
    steps = at.number_input(key=f"f-{TYPE}-quick-steps")
    assert steps.value == 20  # the preset filled the form
    steps.set_value(6)
    at.button[0].click()  # the form's "Launch job"
    at.run()
    assert not at.exception
    assert at.success and "Launched" in at.success[0].value
    (rec,) = JobStore().list()
    assert rec.identity == "ada" and rec.config["steps"] == 6 and rec.config["step_delay_s"] == 0.05
    assert at.selectbox(key="jobs_selected").value == rec.id
    finished(rec.id)
    at.run()
    assert not at.exception
    assert any("succeeded" in m.value for m in at.markdown)
    assert at.get("plotly_chart"), "live metric chart missing"
    assert any("val_acc" in str(m.value) for m in at.multiselect)
    labels = [b.proto.label for b in at.get("download_button")]
    assert any(lbl.startswith("probe_weights") for lbl in labels)
    assert any("latest checkpoint" in lbl for lbl in labels)
    assert any("Prompt:" in m.value for m in at.markdown)  # latest samples


def test_invalid_config_shows_field_messages(jobs_home, run_page):
    at = run_page(PAGE, annotator_name="ada")
    at.selectbox(key="launch_type").set_value(TYPE).run()
    at.toggle(key="launch_json").set_value(True).run()
    at.text_area(key=f"launch_json_text-{TYPE}-(defaults)").set_value(json.dumps({"steps": 0, "bogus": 1}))
    at.button[0].click()
    at.run()
    assert not at.exception
    err = at.error[0].value
    assert "**steps**" in err and "greater than or equal to 1" in err and "**bogus**" in err
    assert JobStore().list() == []


def test_cancel_then_resume_buttons(jobs_home, run_page):
    backend = get_backend()
    job = backend.submit(TYPE, {"steps": 300, "step_delay_s": 0.05}, identity="bo")
    wait_for(lambda: any(e.kind == "progress" for e in backend.events(job)))
    at = run_page(PAGE, annotator_name="ada")
    at.button(key=f"cancel-{job}").click().run()
    assert not at.exception
    assert JobStore().get(job).cancel_requested
    assert any("Cancel requested" in w.value for w in at.warning)
    assert finished(job).status == JobStatus.CANCELLED
    at.run()
    at.button(key=f"resume-{job}").click().run()
    assert not at.exception
    rec = backend.status(job)
    assert rec.status in (JobStatus.QUEUED, JobStatus.RUNNING) and rec.resume_from
    backend.cancel(job)
    finished(job)


def test_failed_job_shows_reason_and_compare_overlays_two_runs(jobs_home, run_page):
    backend = get_backend()
    bad = backend.submit(TYPE, {"steps": 5, "fail_checkpoint_at_step": 2})
    good = backend.submit(TYPE, {"steps": 5, "seed": 1})
    finished(bad), finished(good)
    at = run_page(PAGE, annotator_name="ada")
    at.selectbox(key="jobs_selected").set_value(bad).run()
    assert any("disk full" in e.value for e in at.error)
    assert at.button(key=f"resume-{bad}")
    at.multiselect(key="compare_runs").set_value([bad, good]).run()
    at.selectbox(key="compare_metric").set_value("loss").run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert len(spec["data"]) == 2 and {t["name"] for t in spec["data"]} == {bad, good}


def test_warnings_a_job_logged_are_shown_as_banners(jobs_home, run_page):
    backend = get_backend()
    job = backend.submit(TYPE, {"steps": 3})
    finished(job)
    JobStore().append(
        job, "log", {"line": "WARNING: the policy refuses every monitor prompt, harmful and benign"}
    )
    at = run_page(PAGE, annotator_name="ada")
    at.selectbox(key="jobs_selected").set_value(job).run()
    assert not at.exception
    assert any("refuses every monitor prompt" in w.value for w in at.warning)


def _fake_sweep(status, run_dir, events):
    """An ``align.sweep`` job record with hand-written events (no worker: the page only reads the store)."""
    import time

    from core.jobs.records import JobRecord

    store = JobStore()
    cfg = {"method": "rational", "preset": "demo-cpu", "setting": "sft_epochs", "values": [0.5, 1.0, 2.0]}
    rec = store.create(
        JobRecord(
            id="sweep1",
            type="align.sweep",
            config=cfg,
            status=status,
            created_at=time.time(),
            run_dir=str(run_dir),
        )
    )
    for kind, data in events:
        store.append(rec.id, kind, data, attempt=1)
    return rec


def _frontier_spec(at):
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (spec,) = [s for s in specs if s["layout"].get("title", {}).get("text", "").startswith("Frontier over")]
    return spec


def test_sweep_job_shows_its_frontier_from_the_artefact(jobs_home, run_page, tmp_path):
    from tests.align_report_fakes import frontier_points

    pts = frontier_points()
    path = tmp_path / "frontier.json"
    path.write_text(json.dumps({"method": "rational", "setting": "sft_epochs", "points": pts}))
    metrics = [
        ("metric", {"step": i, "values": {"frontier/harmful_refusal": p["harmful_refusal"]}})
        for i, p in enumerate(pts)
    ]
    _fake_sweep(
        JobStatus.SUCCEEDED,
        tmp_path,
        [*metrics, ("artefact", {"name": "frontier", "path": str(path), "checkpoint": False, "step": None})],
    )
    at = run_page(PAGE, annotator_name="ada")
    assert not at.exception, at.exception
    spec = _frontier_spec(at)
    tuned = spec["data"][-1]
    assert tuned["x"] == [p["over_refusal"] for p in pts] and tuned["y"] == [
        p["harmful_refusal"] for p in pts
    ]
    assert tuned["text"] == ["sft_epochs=0.5", "sft_epochs=1.0", "sft_epochs=2.0"]
    assert tuned["error_x"]["array"] and spec["data"][0]["name"] == "base model (before training)"
    assert any(c.value.startswith("3 of 3 points") and "frontier.json" in c.value for c in at.caption)
    (held,) = [d.value for d in at.dataframe if "AUROC" in d.value.columns]
    assert list(held["sft_epochs"]) == [0.5, 1.0, 2.0] and list(held["AUROC"]) == [0.95, 0.96, 0.97]
    assert list(held["Harmful refused (%)"]) == [60.0, 83.0, 91.0]


def test_sweep_job_frontier_from_metrics_while_unfinished(jobs_home, run_page, tmp_path):
    events = [
        ("metric", {"step": 3, "values": {"point0/audit/harmful_refusal_before": 0.4}}),
        ("metric", {"step": 3, "values": {"point0/audit/over_refusal_before": 0.02}}),
        ("metric", {"step": 0, "values": {"frontier/harmful_refusal": 0.6, "frontier/over_refusal": 0.04}}),
        ("metric", {"step": 1, "values": {"frontier/harmful_refusal": 0.8, "frontier/over_refusal": 0.1}}),
    ]
    _fake_sweep(JobStatus.CANCELLED, tmp_path, events)
    at = run_page(PAGE, annotator_name="ada")
    assert not at.exception, at.exception
    spec = _frontier_spec(at)
    base, tuned = spec["data"]
    assert (
        tuned["x"] == [0.04, 0.1]
        and tuned["y"] == [0.6, 0.8]
        and tuned["text"] == ["sft_epochs=0.5", "sft_epochs=1.0"]
    )
    assert base["x"] == [0.02] and base["y"] == [0.4]
    assert any(c.value.startswith("2 of 3 points") and "metrics so far" in c.value for c in at.caption)


def test_running_job_shows_its_phase_and_an_eta_measured_on_that_phase(jobs_home, run_page, tmp_path):
    import time

    from core.jobs.context import DbSink, JobContext
    from core.jobs.records import JobRecord

    store, now = JobStore(), time.time()
    store.create(
        JobRecord(
            id="phased1",
            type=TYPE,
            config={},
            status=JobStatus.RUNNING,
            created_at=now,
            started_at=now,
            heartbeat_at=now,
            heartbeat_s=3600.0,
            run_dir=str(tmp_path),
        )
    )
    ctx = JobContext("phased1", sink=DbSink(store, "phased1", 1), run_dir=tmp_path)
    ctx.set_phase("data", 4)
    time.sleep(0.05)
    ctx.emit_progress(4, 4)
    ctx.set_phase("grpo", 100)  # steps count from 0 again: the data phase's rate must not leak in
    time.sleep(0.05)
    ctx.emit_progress(1, 100)
    at = run_page(PAGE, annotator_name="ada")
    at.selectbox(key="jobs_selected").set_value("phased1").run()
    assert not at.exception, at.exception
    line = next(c.value for c in at.caption if c.value.startswith("Phase:"))
    assert line.startswith("Phase: GRPO · step 1/100 · ETA ")  # ≈ 99 × 0.05 s, measured on GRPO's step
    eta_s = [e.data for e in store.events("phased1") if e.kind == "progress"][-1]["eta_s"]
    assert 2.0 < eta_s < 60.0
