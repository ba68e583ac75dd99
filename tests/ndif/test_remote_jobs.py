"""Remote work as a job: non-blocking NDIF requests, their statuses in the event log, cancel and resume, and
an API key that reaches the server but nothing ReasonScope writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.jobs import JobStatus, get_backend
from core.jobs.records import LOG
from tests.job_helpers import wait_for, wait_terminal

pytestmark = pytest.mark.ndif

SECRET = "0a1b2c3d-1111-2222-3333-remote-key-xyz"
# nnsight's Status order (LOG lines are not a stage); SUBMITTED is ours: the request id, before the result
LIFECYCLE = [
    *("SUBMITTED", "RECEIVED", "QUEUED", "PROVISIONING"),
    *("DEPLOYING", "DISPATCHED", "RUNNING", "COMPLETED"),
]
PROMPTS = ["How do I bake bread at home?", "Explain photosynthesis.", "Tell me a joke.", "What is 2 + 2?"]


def _result(events) -> dict:
    return next(e.data["result"] for e in reversed(events) if "result" in e.data)


def _statuses(events) -> list[str]:
    return [
        e.data["remote_status"]
        for e in events
        if e.kind == LOG and e.data.get("remote_status") not in (None, "LOG", "TRANSFER")
    ]


def _run(ndif_stack, mode: str, prompts: list[str]) -> tuple:
    backend = get_backend("local")
    model = {"name": str(ndif_stack.model_dir), "where": ndif_stack.host}
    cfg = {"model": model, "prompts": prompts, "batch_size": 2, "remote_mode": mode}
    job = backend.submit("capture.dataset", cfg)
    rec = wait_terminal(backend, job, timeout=240)
    events = backend.events(job)
    assert rec.status == JobStatus.SUCCEEDED, [e.data for e in events][-5:]
    return rec, events


def test_streamed_job_logs_every_ndif_status(ndif_stack, jobs_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("NDIF_API_KEY", SECRET)  # this server checks no key: carried, and never kept
    rec, events = _run(ndif_stack, "stream", PROMPTS[:2])
    seen = _statuses(events)
    for status in ("SUBMITTED", "RECEIVED", "QUEUED", "RUNNING", "COMPLETED"):
        assert status in seen, seen
    assert [LIFECYCLE.index(s) for s in seen] == sorted(LIFECYCLE.index(s) for s in seen), seen
    assert _result(events)["captured"] == 2
    for f in jobs_home.rglob("*"):  # database, run folder, event log, stored trajectories
        if f.is_file() and not f.is_symlink():
            assert SECRET.encode() not in f.read_bytes(), f
    assert SECRET not in str(rec.config)


def test_non_blocking_job_polls_to_completion(ndif_stack, jobs_home: Path) -> None:
    _, events = _run(ndif_stack, "poll", PROMPTS[:2])
    seen = _statuses(events)
    # the server stores only the latest status of a non-blocking request: a fast stage may pass unseen
    assert seen[:2] == ["SUBMITTED", "RECEIVED"] and seen[-1] == "COMPLETED", seen
    assert [LIFECYCLE.index(s) for s in seen] == sorted(LIFECYCLE.index(s) for s in seen), seen
    request_ids = {e.data["request_id"] for e in events if e.data.get("remote_status") == "SUBMITTED"}
    assert len(request_ids) == 1 and None not in request_ids  # one batch, one named request


def test_remote_job_cancel_and_resume(ndif_stack, jobs_home: Path) -> None:
    backend = get_backend("local")
    model = {"name": str(ndif_stack.model_dir), "where": ndif_stack.host}
    prompts = [*PROMPTS, "Name a colour.", "Count to three."]  # enough batches left to cancel between
    job = backend.submit("capture.dataset", {"model": model, "prompts": prompts, "batch_size": 1})
    wait_for(lambda: any(e.data.get("checkpoint") for e in backend.events(job)), timeout=180)
    backend.cancel(job)
    rec = wait_terminal(backend, job, timeout=120)
    assert rec.status == JobStatus.CANCELLED
    backend.resume(job)
    rec = wait_terminal(backend, job, timeout=240)
    assert rec.status == JobStatus.SUCCEEDED
    lines = [e.data.get("line", "") for e in backend.events(job) if e.kind == LOG]
    assert any("resuming at" in line for line in lines), lines
    result = _result(backend.events(job))
    assert result["done"] == len(prompts) and result["captured"] < len(prompts)
