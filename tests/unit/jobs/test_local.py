"""The local job runner with real worker processes (no mocks): lifecycle, ordering, cancel, resume,
crash detection, surviving the submitter, concurrent readers, bad input, disk full."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from core.jobs import ConfigError, JobStatus, JobStore, get_backend
from core.jobs.base import last_checkpoint
from core.jobs.demo import TYPE_NAME, load_checkpoint
from core.jobs.worker import main as worker_main
from tests.job_helpers import stale_running_job, wait_for, wait_terminal

HEARTBEAT = 0.5  # seconds: what the jobs_home fixture (tests/conftest.py) sets
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture()
def backend(jobs_home, monkeypatch):  # jobs_home never leaves a worker behind
    monkeypatch.delenv("REASONSCOPE_JOBS_MAX_PARALLEL", raising=False)
    return get_backend("local")


def progress_step_raw(store, job_id):
    """The job's last progress step, read from the store without refreshing any backend (no polling)."""
    evs = store.events(job_id, kinds=["progress"])
    return evs[-1].data["step"] if evs else 0


def progress_step(b, job_id):
    evs = [e for e in b.events(job_id) if e.kind == "progress"]
    return evs[-1].data["step"] if evs else 0


def test_lifecycle_and_event_order(backend):
    job = backend.submit(TYPE_NAME, {"steps": 12, "sample_every": 4}, identity="ada")
    rec = wait_terminal(backend, job)
    assert rec.status == JobStatus.SUCCEEDED and rec.identity == "ada" and rec.attempt == 1
    evs = backend.events(job)
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert all(a.ts <= b.ts for a, b in zip(evs, evs[1:], strict=False))
    assert [e.data["status"] for e in evs if e.kind == "status"] == ["queued", "running", "succeeded"]
    steps = [e.data["step"] for e in evs if e.kind == "metric"]
    assert steps == list(range(1, 13))
    assert [e.data["step"] for e in evs if e.kind == "sample"] == [4, 8, 12]
    assert evs[-1].data["result"]["best_layer"] in range(8)
    final = [e for e in evs if e.kind == "artefact" and e.data["name"] == "probe_weights"]
    assert final and Path(final[0].data["path"]).is_file()
    assert backend.events(job, since_seq=evs[-3].seq) == evs[-2:]
    assert rec.started_at and rec.ended_at and rec.ended_at >= rec.started_at


def test_cancel_keeps_last_checkpoint_then_resume_matches_uninterrupted_run(backend, tmp_path):
    cfg = {"steps": 40, "step_delay_s": 0.05, "seed": 3}
    job = backend.submit(TYPE_NAME, cfg)
    wait_for(lambda: progress_step(backend, job) >= 5)
    backend.cancel(job, identity="ada")
    rec = wait_terminal(backend, job)
    assert rec.status == JobStatus.CANCELLED
    evs = backend.events(job)
    ckpt = last_checkpoint(evs)
    assert ckpt is not None and Path(ckpt).is_file()
    _, _, ckpt_step = load_checkpoint(Path(ckpt))
    assert ckpt_step == progress_step(backend, job) < 40  # it stopped at a step boundary, state saved
    assert not any(e.kind == "metric" and e.data["step"] > ckpt_step for e in evs)

    with pytest.raises(InputError, match="already ended"):
        backend.cancel(job)
    rec = backend.resume(job, identity="ada")
    assert rec.resume_from == ckpt
    rec = wait_terminal(backend, job)
    assert rec.status == JobStatus.SUCCEEDED and rec.attempt == 2
    evs2 = backend.events(job)
    assert evs2[: len(evs)] == evs  # the same log continues
    att2 = [e.data["step"] for e in evs2 if e.kind == "metric" and e.attempt == 2]
    assert att2 == list(range(ckpt_step + 1, 41))
    # Same weights as an uninterrupted run with the same config (deterministic training).
    ref = backend.submit(TYPE_NAME, {**cfg, "step_delay_s": 0.0})
    wait_terminal(backend, ref)
    w_resumed = load_checkpoint(Path(rec.run_dir) / "probe_weights.safetensors")[0]
    w_ref = load_checkpoint(Path(backend.status(ref).run_dir) / "probe_weights.safetensors")[0]
    np.testing.assert_allclose(w_resumed, w_ref, rtol=0, atol=0)


def test_kill9_is_lost_within_two_heartbeats_and_resumable(backend):
    job = backend.submit(TYPE_NAME, {"steps": 200, "step_delay_s": 0.05})
    wait_for(lambda: progress_step(backend, job) >= 3)
    pid = backend.status(job).pid
    os.kill(pid, signal.SIGKILL)
    t_kill = time.time()
    rec = wait_for(lambda: (r := backend.status(job)).status == JobStatus.LOST and r, timeout=5, every=0.02)
    detected = time.time() - t_kill
    assert detected <= 2 * HEARTBEAT + 0.3, detected
    assert "stopped without reporting" in rec.error and str(pid) in rec.error
    ckpt = last_checkpoint(backend.events(job))
    assert ckpt is not None
    backend.resume(job)
    wait_for(lambda: backend.status(job).attempt == 2 and progress_step(backend, job) > 3)
    backend.cancel(job)
    assert wait_terminal(backend, job).status == JobStatus.CANCELLED


def test_kill9_is_lost_within_two_heartbeats_when_nobody_polls(backend, monkeypatch):
    """Nobody calls status()/events(): the other running worker's watchdog reports the crash."""
    monkeypatch.setenv("REASONSCOPE_JOBS_MAX_PARALLEL", "2")
    backend = get_backend("local")
    store = JobStore()
    victim = backend.submit(TYPE_NAME, {"steps": 400, "step_delay_s": 0.05})
    watcher = backend.submit(TYPE_NAME, {"steps": 400, "step_delay_s": 0.05})
    wait_for(lambda: all(store.get(j).pid and progress_step_raw(store, j) >= 2 for j in (victim, watcher)))
    pid = store.get(victim).pid
    os.kill(pid, signal.SIGKILL)
    t_kill = time.time()
    rec = wait_for(lambda: (r := store.get(victim)).status == JobStatus.LOST and r, timeout=5, every=0.02)
    detected = time.time() - t_kill
    assert detected <= 2 * HEARTBEAT + 0.4, detected
    assert str(pid) in rec.error
    assert store.get(watcher).status == JobStatus.RUNNING
    backend.cancel(watcher)
    assert wait_terminal(backend, watcher).status == JobStatus.CANCELLED


def test_a_starting_worker_reports_jobs_that_crashed_while_nobody_watched(jobs_home):
    store = JobStore()
    crashed = stale_running_job(store)
    assert store.get(crashed).status == JobStatus.RUNNING  # nobody has looked yet
    other = stale_running_job(store, age_s=0.0)
    store.transition(other, JobStatus.CANCELLED, expect={JobStatus.RUNNING})  # the worker has nothing to do
    assert worker_main([other]) == 1  # "not running: nothing to do" -- after checking the others
    rec = store.get(crashed)
    assert rec.status == JobStatus.LOST and "stopped without reporting" in rec.error


def test_job_survives_submitter_kill9_and_history_is_complete(backend):
    code = (
        "import sys, time; from core.jobs import get_backend; "
        "print(get_backend().submit('demo.probe_sweep', {'steps': 15, 'step_delay_s': 0.1}), flush=True); "
        "time.sleep(60)"
    )
    sub = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    job = sub.stdout.readline().strip()
    wait_for(lambda: progress_step(backend, job) >= 1)
    sub.send_signal(signal.SIGKILL)  # the "app" dies while the job runs
    sub.wait()
    rec = wait_terminal(backend, job)
    assert rec.status == JobStatus.SUCCEEDED
    evs = JobStore().events(job)  # a "restarted app" reads the full history
    assert [e.data["step"] for e in evs if e.kind == "metric"] == list(range(1, 16))


READER = """
import json, sys, time
from core.jobs import get_backend
b, job, seen = get_backend(), sys.argv[1], []
while True:
    done = b.status(job).is_terminal
    new = b.events(job, since_seq=seen[-1][0] if seen else 0)
    seen += [(e.seq, e.kind, e.attempt, e.data) for e in new]
    if done and not new:
        break
    time.sleep(0.03)
print(json.dumps(seen))
"""


def test_two_readers_see_identical_events(backend):
    job = backend.submit(TYPE_NAME, {"steps": 15, "step_delay_s": 0.03})
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, job], stdout=subprocess.PIPE, text=True, cwd=REPO)
        for _ in range(2)
    ]
    outs = [json.loads(r.communicate(timeout=30)[0]) for r in readers]
    assert outs[0] == outs[1]
    mine = [[e.seq, e.kind, e.attempt, e.data] for e in backend.events(job)]
    assert outs[0] == mine and mine[-1][3]["status"] == "succeeded"


def test_concurrent_writers_get_unique_monotonic_seq(rs_home):
    from core.jobs.records import JobRecord

    store = JobStore()
    store.create(
        JobRecord(
            id="j1",
            type="t",
            config={},
            status=JobStatus.RUNNING,
            created_at=time.time(),
            run_dir=str(rs_home),
        )
    )
    code = (
        "import sys; from core.jobs import JobStore; s = JobStore(); "
        "[s.append('j1', 'log', {'line': f'{sys.argv[1]}-{i}'}) for i in range(150)]"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, w], cwd=REPO) for w in ("a", "b")]
    assert all(p.wait(timeout=30) == 0 for p in procs)
    evs = store.events("j1")
    assert [e.seq for e in evs] == list(range(1, 302))
    for w in ("a", "b"):  # each writer's own order is preserved
        mine = [int(e.data["line"].split("-")[1]) for e in evs if e.data.get("line", "").startswith(w)]
        assert mine == list(range(150))


def test_invalid_config_gives_field_messages_and_creates_nothing(backend):
    with pytest.raises(ConfigError) as err:
        backend.submit(TYPE_NAME, {"steps": -1, "learning_rate": "fast", "stpes": 3})
    msg = str(err.value)
    assert set(err.value.fields) == {"steps", "learning_rate", "stpes"}
    assert "steps: Input should be greater than or equal to 1" in msg
    assert "learning_rate" in msg and "'fast'" in msg and "stpes: unknown field" in msg
    with pytest.raises(InputError, match="no preset 'huge'.*quick, slow"):
        backend.submit(TYPE_NAME, preset="huge")
    assert JobStore().list() == []


def test_unknown_type_and_unknown_id_are_clear(backend):
    with pytest.raises(InputError, match=r"Unknown job type 'nope'.*demo\.probe_sweep"):
        backend.submit("nope")
    with pytest.raises(InputError, match="No job with id 'missing'"):
        backend.status("missing")


def test_disk_full_fails_with_reason_queue_goes_on_and_resume_recovers(backend):
    bad = backend.submit(TYPE_NAME, {"steps": 10, "fail_checkpoint_at_step": 4, "step_delay_s": 0.05})
    good = backend.submit(TYPE_NAME, {"steps": 5})
    assert backend.status(good).status == JobStatus.QUEUED  # concurrency limit 1 on CPU
    rec = wait_terminal(backend, bad)
    assert rec.status == JobStatus.FAILED
    assert "disk full" in rec.error and "No space left on device" in rec.error and "step-000004" in rec.error
    ckpt = last_checkpoint(backend.events(bad))
    assert ckpt and ckpt.endswith("step-000003.safetensors")
    # the failing worker handed its slot to the queued job; nothing else was affected
    assert wait_terminal(backend, good).status == JobStatus.SUCCEEDED
    t_fail = [e.ts for e in backend.events(bad) if e.kind == "status"][-1]
    t_start = [e.ts for e in backend.events(good) if e.kind == "status" and e.data["status"] == "running"][0]
    assert t_start >= t_fail
    backend.resume(bad)
    rec = wait_terminal(backend, bad)
    assert rec.status == JobStatus.SUCCEEDED and rec.error is None
    assert [e.data["step"] for e in backend.events(bad) if e.kind == "metric" and e.attempt == 2] == list(
        range(4, 11)
    )


def test_cancel_queued_job_and_resume_rules(backend):
    first = backend.submit(TYPE_NAME, {"steps": 100, "step_delay_s": 0.05})
    queued = backend.submit(TYPE_NAME, {"steps": 5})
    rec = backend.cancel(queued)
    assert (
        rec.status == JobStatus.CANCELLED and "before it started" in backend.events(queued)[-1].data["reason"]
    )
    with pytest.raises(InputError, match="only cancelled, failed, lost jobs can be resumed"):
        backend.resume(first)
    backend.cancel(first)
    assert wait_terminal(backend, first).status == JobStatus.CANCELLED


def test_metric_visible_to_another_process_quickly(backend):
    """Latency from ctx.emit_metric in the worker to a read in another process (this one)."""
    job = backend.submit(TYPE_NAME, {"steps": 25, "step_delay_s": 0.04})
    lags, since = [], 0
    while True:
        evs = backend.store.events(job, since)
        now = time.time()
        lags += [now - e.ts for e in evs if e.kind == "metric"]
        since = evs[-1].seq if evs else since
        if evs and evs[-1].kind == "status" and evs[-1].data["status"] == "succeeded":
            break
        time.sleep(0.005)
    assert len(lags) == 25
    assert float(np.median(lags)) < 0.1 and max(lags) < 1.0, lags
