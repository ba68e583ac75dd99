"""Remote work as a job: non-blocking NDIF requests, their statuses in the event log, cancel and resume, and
an API key that reaches the server but nothing ReasonScope writes."""

from __future__ import annotations

from pathlib import Path

from core.jobs import JobStatus, get_backend
from core.jobs.records import LOG
from tests.job_helpers import wait_for, wait_terminal

SECRET = "0a1b2c3d-1111-2222-3333-remote-key-xyz"
LIFECYCLE = ["SUBMITTED", "RECEIVED", "QUEUED", "DISPATCHED", "RUNNING", "COMPLETED"]
PROMPTS = ["How do I bake bread at home?", "Explain photosynthesis.", "Tell me a joke.", "What is 2 + 2?"]


def _statuses(events) -> list[str]:
    return [e.data["remote_status"] for e in events if e.kind == LOG and "remote_status" in e.data]


def test_capture_job_streams_ndif_status_and_never_stores_the_key(ndif_stack, jobs_home: Path, monkeypatch):
    monkeypatch.setenv(
        "NDIF_API_KEY", SECRET
    )  # this server checks no key: it is carried, and must not be kept
    backend = get_backend("local")
    model = {"name": str(ndif_stack.model_dir), "where": ndif_stack.host}
    job = backend.submit("capture.dataset", {"model": model, "prompts": PROMPTS[:2], "batch_size": 2})
    rec = wait_terminal(backend, job, timeout=240)
    events = backend.events(job)
    assert rec.status == JobStatus.SUCCEEDED, [e.data for e in events][-5:]
    seen = _statuses(events)
    assert seen[0] == "SUBMITTED" and seen[1] == "RECEIVED" and seen[-1] == "COMPLETED", seen
    assert "RUNNING" in seen or "QUEUED" in seen, seen  # polled: a fast stage may pass between two polls
    order = [LIFECYCLE.index(s) for s in seen]
    assert order == sorted(order), seen  # each request's statuses arrive in lifecycle order
    assert rec.result["captured"] == 2
    for f in jobs_home.rglob("*"):  # database, run folder, event log, stored trajectories
        if f.is_file() and not f.is_symlink():
            assert SECRET.encode() not in f.read_bytes(), f
    assert SECRET not in str(rec.config)


def test_remote_job_cancel_and_resume(ndif_stack, jobs_home: Path) -> None:
    backend = get_backend("local")
    model = {"name": str(ndif_stack.model_dir), "where": ndif_stack.host}
    job = backend.submit("capture.dataset", {"model": model, "prompts": PROMPTS, "batch_size": 1})
    wait_for(lambda: any(e.data.get("checkpoint") for e in backend.events(job)), timeout=180)
    backend.cancel(job)
    rec = wait_terminal(backend, job, timeout=120)
    assert rec.status == JobStatus.CANCELLED
    backend.resume(job)
    rec = wait_terminal(backend, job, timeout=240)
    assert rec.status == JobStatus.SUCCEEDED
    lines = [e.data.get("line", "") for e in backend.events(job) if e.kind == LOG]
    assert any("resuming at" in line for line in lines), lines
    assert rec.result["done"] == len(PROMPTS) and rec.result["captured"] < len(PROMPTS)
