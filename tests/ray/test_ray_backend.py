"""RayJobsBackend against a real local Ray head (tier ``ray``; the `ray` extra, which `make test` installs).

The module's fixture starts a head on 127.0.0.1 with free ports and its own temp dir (tests/services.py) and
stops it by PID after the module; ``REASONSCOPE_TEST_RAY=http://127.0.0.1:8265`` uses a head that is already
running instead (the checkpoints of resume must be reachable from this machine).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from tests import job_helpers
from tests.services import RayHead, ServiceUnavailable, tier_skip

pytestmark = pytest.mark.ray
RAY_ENV = "REASONSCOPE_TEST_RAY"
TYPE = "demo.probe_sweep"


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    override = os.environ.get(RAY_ENV, "")
    if override.startswith(("http://", "https://")):
        yield override
        return
    try:
        head = RayHead.start()
    except ServiceUnavailable as exc:
        tier_skip("Ray", exc)
    try:
        yield head.address
    finally:
        head.stop()


@pytest.fixture()
def backend(ray_head, rs_home, monkeypatch):
    from core.jobs.ray_backend import RayJobsBackend

    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    monkeypatch.setenv("REASONSCOPE_RAY_PYTHON", sys.executable)
    return RayJobsBackend()


def wait_for(pred):
    return job_helpers.wait_for(pred, timeout=60.0, every=0.2)


def finished(b, job):
    return job_helpers.wait_terminal(b, job, timeout=60.0, every=0.2)


def progress(b, job):
    p = [e for e in b.events(job) if e.kind == "progress"]
    return p[-1].data["step"] if p else 0


def test_ray_job_streams_events_into_the_local_store(backend):
    from core.jobs import JobStatus, JobStore, backend_for

    job = backend.submit(TYPE, {"steps": 8}, identity="ada")
    rec = finished(backend, job)
    assert rec.status == JobStatus.SUCCEEDED and rec.backend == "ray" and rec.external_id == f"{job}-a1"
    evs = JobStore().events(job)
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert [e.data["step"] for e in evs if e.kind == "metric"] == list(range(1, 9))
    assert evs[-1].data["result"]["best_layer"] in range(8)
    assert backend_for(job).name == "ray"  # the CLI/app dispatch by the job's backend


def test_ray_cancel_via_stop_job_then_resume_from_checkpoint(backend):
    from core.jobs import JobStatus

    job = backend.submit(TYPE, {"steps": 300, "step_delay_s": 0.05})
    wait_for(lambda: progress(backend, job) >= 3)
    backend.cancel(job)
    rec = finished(backend, job)
    assert rec.status == JobStatus.CANCELLED
    stopped_at = progress(backend, job)
    rec = backend.resume(job)
    assert rec.resume_from and rec.resume_from.endswith(f"step-{stopped_at:06d}.safetensors")
    wait_for(lambda: progress(backend, job) > stopped_at + 2)
    first = [e.data["step"] for e in backend.events(job) if e.kind == "metric" and e.attempt == 2][0]
    assert first == stopped_at + 1 and backend.status(job).external_id == f"{job}-a2"
    backend.cancel(job)
    assert finished(backend, job).status == JobStatus.CANCELLED
