"""Job records: the lifecycle, the job row and the append-only event. Stdlib only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """``queued → running → succeeded | failed | cancelled``; ``lost`` when the process vanished."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.LOST})
RESUMABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.LOST})

# Event kinds and the keys of their ``data`` payloads.
STATUS = "status"  # {"status", "reason"?}
PROGRESS = "progress"  # {"step", "total", "eta_s"?}
METRIC = "metric"  # {"step", "values": {name: float}}
SAMPLE = "sample"  # {"prompt", "completion", "step"}
ARTEFACT = "artefact"  # {"name", "path", "checkpoint": bool, "step"?}
LOG = "log"  # {"line"}
EVENT_KINDS = (STATUS, PROGRESS, METRIC, SAMPLE, ARTEFACT, LOG)


@dataclass(frozen=True, kw_only=True)
class JobEvent:
    """One entry of a job's event log. ``seq`` is monotonic per job and never reused (1, 2, 3, …)."""

    job_id: str
    seq: int
    ts: float  # unix time the event was written
    kind: str  # one of EVENT_KINDS
    attempt: int  # 1 for the first run, +1 per resume
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "job_id": self.job_id,
                "seq": self.seq,
                "ts": self.ts,
                "kind": self.kind,
                "attempt": self.attempt,
                "data": self.data,
            },
            sort_keys=True,
        )


@dataclass(frozen=True, kw_only=True)
class JobRecord:
    """The current state of one job (one row of the ``jobs`` table)."""

    id: str
    type: str
    config: dict[str, Any]
    status: JobStatus
    created_at: float
    backend: str = "local"
    identity: str | None = None  # who launched it (app: state.current_identity(); CLI: $USER)
    started_at: float | None = None  # first time it ran
    ended_at: float | None = None  # last time it reached a terminal status
    attempt: int = 0  # number of times it has been started
    pid: int | None = None
    host: str | None = None
    heartbeat_at: float | None = None
    heartbeat_s: float = 5.0  # the worker writes a heartbeat this often
    cancel_requested: bool = False
    error: str | None = None  # reason of the last failure / loss
    run_dir: str = ""  # checkpoints, logs, artefacts of this job
    resume_from: str | None = None  # checkpoint the current attempt starts from
    external_id: str | None = None  # e.g. the Ray submission id
    module: str | None = None  # module that registers the job type (imported by the worker)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def duration(self, now: float) -> float | None:
        """Seconds from first start to end (or to ``now`` while it runs)."""
        if self.started_at is None:
            return None
        end = self.ended_at if (self.ended_at is not None and self.is_terminal) else now
        return max(0.0, end - self.started_at)
