"""``JobBackend``: the bookkeeping every backend shares (submit, status, events, cancel, resume, list).

Subclasses (``core.jobs.local``, ``core.jobs.ray_backend``) start, stop and observe the processes;
``core.jobs.backend`` picks one. The job row and the event log live in the local ``JobStore`` whatever the
backend, so the app and the CLI read the same history for local and Ray jobs.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from core.config import ensure_writable, runs_dir
from core.errors import InputError, ReasonScopeError, StoreError
from core.jobs.records import ARTEFACT, LOG, RESUMABLE, TERMINAL, JobEvent, JobRecord, JobStatus
from core.jobs.registry import get_job_type
from core.jobs.store import JobStore

DEFAULT_HEARTBEAT_S = 5.0
_log = logging.getLogger(__name__)


def heartbeat_interval() -> float:
    """Seconds between worker heartbeats (``REASONSCOPE_JOB_HEARTBEAT``, default 5)."""
    try:
        return max(0.05, float(os.environ.get("REASONSCOPE_JOB_HEARTBEAT", DEFAULT_HEARTBEAT_S)))
    except ValueError:
        return DEFAULT_HEARTBEAT_S


def new_job_id(type_name: str) -> str:
    """Sortable, readable and unique: ``demo-probe_sweep-20261123-071200-a1b2c3``."""
    return f"{type_name.replace('.', '-')}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def last_checkpoint(events: list[JobEvent], *, must_exist: bool = True) -> str | None:
    """Path of the newest checkpoint artefact in an event log (that still exists on disk)."""
    for ev in reversed(events):
        if ev.kind == ARTEFACT and ev.data.get("checkpoint"):
            path = ev.data.get("path")
            if path and (not must_exist or Path(path).exists()):
                return str(path)
    return None


class JobBackend(ABC):
    """Base class: bookkeeping shared by all backends; subclasses start, stop and observe processes."""

    name = "base"
    checkpoints_are_local = True  # can this process see the checkpoint files the job writes?

    def __init__(self, store: JobStore | None = None) -> None:
        self.store = store or JobStore()

    # -- the interface ------------------------------------------------------------------------------
    def submit(
        self,
        type_name: str,
        config: dict[str, Any] | None = None,
        *,
        preset: str | None = None,
        overrides: dict[str, Any] | None = None,
        identity: str | None = None,
    ) -> str:
        """Validate the config (field-level errors) and queue the job; returns its id."""
        jt = get_job_type(type_name)
        cfg = jt.config_for(preset=preset, config=config, overrides=overrides)
        self._check_ready()
        job_id = new_job_id(type_name)
        try:
            run_dir = ensure_writable(runs_dir() / job_id)
        except PermissionError as exc:
            raise StoreError(str(exc)) from exc
        rec = JobRecord(
            id=job_id,
            type=type_name,
            config=cfg.model_dump(mode="json"),
            status=JobStatus.QUEUED,
            created_at=time.time(),
            backend=self.name,
            identity=identity,
            run_dir=str(run_dir),
            heartbeat_s=heartbeat_interval(),
            module=jt.module,
        )
        line = (
            f"submitted by {identity or 'unknown'}"
            + (f" with preset {preset!r}" if preset else "")
            + f" to the {self.name} backend"
        )
        try:
            self.store.create(rec, log=line)  # the row, its status and its log line: all or nothing
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)  # a failed submit leaves no run folder behind
            raise
        try:
            self._start_queued()
        except ReasonScopeError as exc:  # the job is safely queued; the next poll starts it
            _log.warning("job %s is queued but could not be started yet: %s", job_id, exc)
        return job_id

    def status(self, job_id: str) -> JobRecord:
        self.refresh(job_id)
        return self.store.get(job_id)

    def events(self, job_id: str, since_seq: int = 0) -> list[JobEvent]:
        self.refresh(job_id)
        return self.store.events(job_id, since_seq)

    def list(self, limit: int | None = None) -> list[JobRecord]:
        self.refresh(None)
        return self.store.list(backend=self.name, limit=limit)

    def cancel(self, job_id: str, *, identity: str | None = None) -> JobRecord:
        """Queued: cancelled at once. Running: stops at its next step, keeping its last checkpoint."""
        rec = self.store.get(job_id)
        if rec.status in TERMINAL:
            raise InputError(f"Job {job_id} has already ended ({rec.status.value}); nothing to cancel.")
        if self.store.transition(
            job_id,
            JobStatus.CANCELLED,
            reason=f"cancelled by {identity or 'user'} before it started",
            expect={JobStatus.QUEUED},
        ):
            return self.store.get(job_id)
        self.store.update(job_id, cancel_requested=True)
        self.store.append(
            job_id,
            LOG,
            {"line": f"cancel requested by {identity or 'user'}; the job stops after its current step"},
        )
        self._stop_running(self.store.get(job_id))
        return self.store.get(job_id)

    def resume(self, job_id: str, *, identity: str | None = None) -> JobRecord:
        """Queue a new attempt of a failed/cancelled/lost job from its last checkpoint (same event log)."""
        rec = self.status(job_id)
        if rec.status not in RESUMABLE:
            allowed = ", ".join(sorted(s.value for s in RESUMABLE))
            raise InputError(f"Job {job_id} is {rec.status.value}; only {allowed} jobs can be resumed.")
        ckpt = last_checkpoint(self.store.events(job_id), must_exist=self.checkpoints_are_local)
        ok = self.store.transition(
            job_id,
            JobStatus.QUEUED,
            expect=RESUMABLE,
            cancel_requested=False,
            resume_from=ckpt,
            error=None,
            ended_at=None,
        )
        if not ok:
            raise InputError(f"Job {job_id} changed state while resuming; look at it again.")
        where = f"from checkpoint {ckpt}" if ckpt else "from the start (no checkpoint was saved)"
        self.store.append(job_id, LOG, {"line": f"resume requested by {identity or 'user'} {where}"})
        self._start_queued()
        return self.store.get(job_id)

    # -- what subclasses provide ----------------------------------------------------------------------
    def refresh(self, job_id: str | None) -> None:
        """Bring the store up to date (start queued jobs, detect lost ones, pull remote events)."""
        self._start_queued()

    def _check_ready(self) -> None:  # noqa: B027 - optional hook, most backends are always ready
        """Raise a clear error when the backend cannot take jobs (e.g. cluster unreachable)."""

    @abstractmethod
    def _start_queued(self) -> None: ...

    @abstractmethod
    def _stop_running(self, rec: JobRecord) -> None: ...
