"""Which backend runs a job: ``get_backend()`` the default one (``REASONSCOPE_JOBS_BACKEND``: ``local`` |
``ray``), ``backend_for(job_id)`` the one a job was submitted to; ``job_table`` the job list of the CLI and
the app.

Every backend has the interface of ``core.jobs.base.JobBackend`` (submit, status, events, cancel, resume,
list). The job row and the event log live in the local ``JobStore`` whatever the backend, so the app and the
CLI read the same history for local and Ray jobs.
"""

from __future__ import annotations

import os
from typing import Any

from core.errors import InputError
from core.jobs.base import JobBackend
from core.jobs.local import LocalProcessBackend
from core.jobs.ray_backend import RayJobsBackend
from core.jobs.records import METRIC, JobRecord, JobStatus
from core.jobs.registry import get_job_type
from core.jobs.store import JobStore
from core.jobs.view import job_row


def get_backend(name: str | None = None, store: JobStore | None = None) -> JobBackend:
    """The backend called ``name`` (default ``REASONSCOPE_JOBS_BACKEND`` or ``local``)."""
    name = (name or os.environ.get("REASONSCOPE_JOBS_BACKEND") or "local").lower()
    if name == "local":
        return LocalProcessBackend(store)
    if name == "ray":
        return RayJobsBackend(store)
    raise InputError(f"Unknown jobs backend {name!r}: use 'local' or 'ray'.")


def refresh_all(store: JobStore | None = None) -> list[JobRecord]:
    """Refresh every backend that has unfinished jobs, then list all jobs (newest first)."""
    store = store or JobStore()
    active = store.list(status=[JobStatus.QUEUED, JobStatus.RUNNING])
    for name in sorted({r.backend for r in active} | {"local"}):
        get_backend(name, store).refresh(None)
    return store.list()


def job_table(store: JobStore | None = None, limit: int | None = 50) -> list[dict[str, Any]]:
    """Rows for job lists (CLI and app): status, type, start, duration, key metric, who, backend."""
    store = store or JobStore()
    rows = []
    for rec in refresh_all(store)[:limit]:
        try:
            name = get_job_type(rec.type, rec.module).key_metric
        except Exception:  # noqa: BLE001 - a job whose type no longer loads is still listed
            name = None
        ev = store.latest(rec.id, METRIC) if name else None
        key = (name, (ev.data.get("values") or {}).get(name)) if name and ev is not None else None
        rows.append(job_row(rec, key))
    return rows


def backend_for(job_id: str, store: JobStore | None = None) -> JobBackend:
    """The backend a job was submitted to (InputError when the id is unknown)."""
    store = store or JobStore()
    return get_backend(store.get(job_id).backend, store)
