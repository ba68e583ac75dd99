"""Shared helpers of the job tests: compact ``JobEvent`` construction and polling until a condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.jobs.records import JobEvent, JobRecord


def ev(seq: int, kind: str, data: dict[str, Any], attempt: int = 1, ts: float | None = None) -> JobEvent:
    """Event ``seq`` of job ``"j"``; ``ts`` defaults to ``1000 + seq`` (so events are in time order)."""
    return JobEvent(
        job_id="j", seq=seq, ts=ts if ts is not None else 1000.0 + seq, kind=kind, attempt=attempt, data=data
    )


def wait_for(pred: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    """The first truthy ``pred()``, polled every ``every`` s; AssertionError after ``timeout`` s."""
    end = time.time() + timeout
    while time.time() < end:
        out = pred()
        if out:
            return out
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout:g} s")


def wait_terminal(backend: Any, job_id: str, timeout: float = 20.0, every: float = 0.05) -> JobRecord:
    """The job's record once its status is terminal (succeeded, failed, cancelled, lost)."""
    return wait_for(lambda: (r := backend.status(job_id)).is_terminal and r, timeout, every)


def stale_running_job(store: Any, *, age_s: float = 100.0) -> str:
    """A local job left ``running`` by a worker that died ``age_s`` seconds ago without reporting (its pid is
    a finished process, its last heartbeat old); returns its id. Nothing has looked at it since."""
    import subprocess
    import sys

    from core.jobs.base import new_job_id
    from core.jobs.local import HOST
    from core.jobs.records import JobStatus

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job_id = new_job_id("demo.crashed")
    store.create(
        JobRecord(
            id=job_id,
            type="demo.probe_sweep",
            config={},
            status=JobStatus.QUEUED,
            created_at=time.time() - age_s,
            run_dir=str(store.path.parent / job_id),
            heartbeat_s=0.5,
        )
    )
    claimed = store.claim_next(backend="local", limit=1000, host=HOST)
    assert claimed is not None and claimed.id == job_id
    store.update(job_id, pid=dead.pid, heartbeat_at=time.time() - age_s)
    return job_id
