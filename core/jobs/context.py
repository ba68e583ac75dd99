"""What a job's run function sees: ``JobContext`` (emit events, checkpoints, the cancel flag).

Events go to a sink: ``DbSink`` writes them straight into the jobs database (local worker);
``StdoutSink`` prints them as ``@@reasonscope-event {json}`` lines so a backend that only sees the
job's logs (a remote Ray cluster) can rebuild the same event log.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol, TextIO

from core.jobs.callbacks import JobTqdm
from core.jobs.records import ARTEFACT, LOG, METRIC, PROGRESS, SAMPLE
from core.jobs.store import JobStore

EVENT_PREFIX = "@@reasonscope-event "


class EventSink(Protocol):
    def emit(self, kind: str, data: dict[str, Any]) -> None: ...
    def cancel_requested(self) -> bool: ...


class DbSink:
    """Writes events into the local jobs database; the cancel flag is read from the job row."""

    def __init__(self, store: JobStore, job_id: str, attempt: int) -> None:
        self.store, self.job_id, self.attempt = store, job_id, attempt

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.store.append(self.job_id, kind, data, attempt=self.attempt)

    def cancel_requested(self) -> bool:
        return self.store.cancel_requested(self.job_id)


class StdoutSink:
    """JSON lines on a stream (stdout by default); cancel arrives as SIGTERM (Ray ``stop_job``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self.n = 0

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            self.n += 1
            line = json.dumps({"i": self.n, "ts": time.time(), "kind": kind, "data": data}, default=str)
            self.stream.write(EVENT_PREFIX + line + "\n")
            self.stream.flush()

    def cancel_requested(self) -> bool:
        return False


def _scalar(v: Any) -> float | None:
    """Metric values as JSON-safe floats; NaN/inf become None (charts show a gap, not a crash)."""
    try:
        f = float(v.item() if hasattr(v, "item") else v)
    except (TypeError, ValueError):
        raise TypeError(f"metric values must be numbers, got {type(v).__name__}") from None
    return f if math.isfinite(f) else None


class NullSink:
    """For non-zero ranks of a multi-process job: they read the cancel flag but emit nothing."""

    def __init__(self, cancel: EventSink | None = None) -> None:
        self._cancel = cancel

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        return None

    def cancel_requested(self) -> bool:
        return self._cancel.cancel_requested() if self._cancel is not None else False


# Set by the worker so processes a job starts (e.g. `accelerate launch` ranks) can attach to it.
ENV_JOB_ID, ENV_ATTEMPT, ENV_RUN_DIR, ENV_SINK, ENV_RESUME = (
    "REASONSCOPE_JOB_ID",
    "REASONSCOPE_JOB_ATTEMPT",
    "REASONSCOPE_JOB_RUN_DIR",
    "REASONSCOPE_JOB_SINK",
    "REASONSCOPE_JOB_RESUME_FROM",
)


def export_job_env(ctx: JobContext, sink_kind: str) -> None:
    """Put the job's identity in ``os.environ`` so child processes inherit it (see ``attach_context``)."""
    os.environ.update(
        {
            ENV_JOB_ID: ctx.job_id,
            ENV_ATTEMPT: str(ctx.attempt),
            ENV_RUN_DIR: str(ctx.run_dir),
            ENV_SINK: sink_kind,
            ENV_RESUME: str(ctx.resume_from or ""),
        }
    )


def attach_context() -> JobContext:
    """The running job's context from inside a process it started, e.g. a script run by
    ``accelerate launch`` for multi-GPU training. Only rank 0 (``RANK``) emits events; every rank sees
    the cancel flag (local jobs) or SIGTERM (Ray ``stop_job`` signals the whole process group)."""
    job_id = os.environ.get(ENV_JOB_ID)
    if not job_id:
        raise RuntimeError("attach_context() only works inside a ReasonScope job (REASONSCOPE_JOB_ID unset).")
    attempt = int(os.environ.get(ENV_ATTEMPT, "1"))
    sink: EventSink
    if os.environ.get(ENV_SINK) == "stdout":
        sink = StdoutSink()
    else:
        sink = DbSink(JobStore(), job_id, attempt)
    if int(os.environ.get("RANK", "0")) != 0:
        sink = NullSink(sink)
    resume = os.environ.get(ENV_RESUME) or None
    ctx = JobContext(
        job_id,
        sink=sink,
        run_dir=Path(os.environ.get(ENV_RUN_DIR, ".")),
        attempt=attempt,
        resume_from=Path(resume) if resume else None,
    )
    signal.signal(signal.SIGTERM, lambda *_: ctx.request_stop())
    return ctx


class JobContext:
    """Handed to ``run_fn(config, ctx)``. Methods are cheap enough to call every step."""

    def __init__(
        self,
        job_id: str,
        *,
        sink: EventSink,
        run_dir: Path,
        attempt: int = 1,
        resume_from: Path | None = None,
    ) -> None:
        self.job_id = job_id
        self.sink = sink
        self.run_dir = Path(run_dir)
        self.attempt = attempt
        self.resume_from = Path(resume_from) if resume_from else None  # checkpoint this attempt starts from
        self._last_ckpt = self.resume_from
        self._stop = threading.Event()
        self.stop_observed = False  # True once should_stop() has returned True
        self._t0: float | None = None  # ETA: rate measured over this attempt's current phase only
        self._step0 = 0
        self.phase: str | None = None  # e.g. "data", "warmstart", "grpo", "audit" (set_phase)

    # -- events ------------------------------------------------------------------------------------
    def set_phase(self, name: str, total: int | None = None) -> None:
        """Start a named phase of a multi-phase job (data generation, warm start, GRPO, audit): the
        following progress events carry its name and their ETA is measured on this phase's steps only.
        Emits ``step 0`` so the Jobs page shows the phase at once (measuring its speed)."""
        self.phase, self._t0 = str(name), None
        self.emit_progress(0, total)

    def emit_progress(self, step: int, total: int | None) -> None:
        """Progress with an ETA from the step rate of this attempt's current phase (``set_phase``)."""
        now = time.time()
        data: dict[str, Any] = {"step": int(step), "total": None if total is None else int(total)}
        if self.phase is not None:
            data["phase"] = self.phase
        if self._t0 is None or step < self._step0:  # a new phase, or its steps started again
            self._t0, self._step0 = now, int(step)
        elif total is not None and step > self._step0:
            rate = (step - self._step0) / max(now - self._t0, 1e-9)
            data["eta_s"] = round(max(0, total - step) / rate, 2)
        self.sink.emit(PROGRESS, data)

    def emit_metric(self, step: int, **scalars: Any) -> None:
        """Named scalars at a step, e.g. ``ctx.emit_metric(3, loss=0.2, reward=1.0)``."""
        if not scalars:
            return
        self.sink.emit(METRIC, {"step": int(step), "values": {k: _scalar(v) for k, v in scalars.items()}})

    def emit_sample(self, prompt: str, completion: str, step: int | None = None) -> None:
        self.sink.emit(SAMPLE, {"prompt": str(prompt), "completion": str(completion), "step": step})

    def emit_artefact(
        self, name: str, path: str | Path, *, checkpoint: bool = False, step: int | None = None
    ) -> None:
        """A file or folder the job produced; ``checkpoint=True`` marks a resumable state."""
        p = str(Path(path).resolve())
        if checkpoint:
            self._last_ckpt = Path(p)
        self.sink.emit(ARTEFACT, {"name": name, "path": p, "checkpoint": checkpoint, "step": step})

    def emit_checkpoint(self, path: str | Path, step: int) -> None:
        self.emit_artefact(f"checkpoint-{step}", path, checkpoint=True, step=step)

    def log(self, line: str) -> None:
        self.sink.emit(LOG, {"line": str(line)})

    def emit_remote_status(self, status: str, description: str = "", request_id: str | None = None) -> None:
        """A remote (NDIF) request's status as a log line the Jobs page shows, with the status and the
        server's request id as fields (a listener for ``core.capture.remote.remote_status``)."""
        line = f"NDIF {status}" + (f": {description}" if description else "")
        if request_id and status == "SUBMITTED":
            line += f" (request {request_id})"
        self.sink.emit(LOG, {"line": line, "remote_status": str(status), "request_id": request_id})

    # -- checkpoints -------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        d = self.run_dir / "checkpoints"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def last_checkpoint(self) -> Path | None:
        """The newest checkpoint of this job (this attempt's, else the one it resumed from)."""
        return self._last_ckpt if self._last_ckpt is not None and self._last_ckpt.exists() else None

    # -- cancellation ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the job to stop at its next step (signal handlers call this)."""
        self._stop.set()

    def should_stop(self) -> bool:
        """True when the user cancelled: finish the current step, checkpoint, and return."""
        if not self._stop.is_set() and self.sink.cancel_requested():
            self._stop.set()
        if self._stop.is_set():
            self.stop_observed = True
        return self._stop.is_set()

    def tqdm(self, iterable: Any = None, total: int | None = None, **kwargs: Any) -> Any:
        """A tqdm-compatible progress bar that also emits progress events (see ``JobTqdm``)."""
        return JobTqdm(iterable, total=total, ctx=self, **kwargs)
