"""RayJobsBackend against a real local Ray head (opt-in: REASONSCOPE_TEST_RAY=1; needs the `ray` extra).

The fixture runs `ray start --head` on 127.0.0.1 with its own ports and temp dir, and `ray stop` after.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import job_helpers

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(
        os.environ.get("REASONSCOPE_TEST_RAY") != "1", reason="set REASONSCOPE_TEST_RAY=1 to run the Ray tier"
    ),
]
TYPE = "demo.probe_sweep"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    pytest.importorskip("ray")
    bin_dir = Path(sys.executable).parent
    ray = shutil.which("ray", path=str(bin_dir)) or "ray"
    dash = _free_port()
    tmp = Path("/tmp") / f"rsray{os.getpid()}"  # Ray needs a short socket path
    env = dict(
        os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", RAY_USAGE_STATS_ENABLED="0"
    )
    cmd = [
        ray,
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        f"--port={_free_port()}",
        "--num-cpus=1",
        "--disable-usage-stats",
        f"--temp-dir={tmp}",
    ]
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=120)
    try:
        yield f"http://127.0.0.1:{dash}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


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
