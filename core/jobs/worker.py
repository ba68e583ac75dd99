"""The job process: ``python -m core.jobs.worker JOB_ID [--events-stdout]``.

Local mode reads the job from the jobs database, writes heartbeats from a thread, runs the job type's
``run_fn`` and records the final status; then starts the next queued job (there is no daemon).
``--events-stdout`` (Ray) takes the job from ``REASONSCOPE_JOB_SPEC`` (JSON) and prints events as
``@@reasonscope-event`` lines instead, because a remote cluster cannot reach the local database.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from core.config import configure_numba_cache, runs_dir
from core.errors import InputError, ReasonScopeError
from core.jobs.context import DbSink, JobContext, StdoutSink, export_job_env
from core.jobs.local import LocalProcessBackend, proc_start_time
from core.jobs.records import LOG, STATUS, JobStatus
from core.jobs.registry import get_job_type
from core.jobs.store import JobStore

SPEC_ENV = "REASONSCOPE_JOB_SPEC"


def describe_exception(exc: BaseException) -> str:
    """The failure reason shown to users: what happened and what to do."""
    if isinstance(exc, ReasonScopeError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" while writing {exc.filename}" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return (
                f"disk full{where} (No space left on device). Free disk space, then resume the job: "
                "it continues from its last checkpoint."
            )
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return (
                f"no permission{where} ({exc.strerror}). Make the run folder writable, then resume the job."
            )
        return f"{type(exc).__name__}{where}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def execute(
    type_name: str, module: str | None, config: dict[str, Any], ctx: JobContext
) -> tuple[JobStatus, str | None, dict[str, Any] | None]:
    """Run one attempt; never raises. Returns (final status, failure reason, run_fn's summary)."""
    try:
        jt = get_job_type(type_name, module)
        cfg = jt.config_for(config=config)
        result = jt.run_fn(cfg, ctx)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a 'failed' status with its reason
        # an input error's message is the whole story (what to change); anything else keeps its traceback
        is_input = isinstance(exc, InputError)
        ctx.log(f"ERROR: {exc}" if is_input else "".join(traceback.format_exception(exc)).rstrip())
        return JobStatus.FAILED, describe_exception(exc), None
    summary = result if isinstance(result, dict) else None
    if ctx.stop_observed:
        return JobStatus.CANCELLED, None, summary
    return JobStatus.SUCCEEDED, None, summary


class Heartbeat(threading.Thread):
    """Writes ``heartbeat_at`` every ``interval`` seconds while the job runs, and is the watchdog of the
    other local jobs: every ``interval / WATCH_PER_BEAT`` s it marks ``lost`` those whose heartbeat is older
    than 2 intervals and whose process is gone (``reap_others``), so a crashed job is reported within 2
    heartbeats even when nobody polls."""

    WATCH_PER_BEAT = 4

    def __init__(self, store: JobStore, job_id: str, attempt: int, interval: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.store, self.job_id, self.attempt, self.interval = store, job_id, attempt, interval
        self._done = threading.Event()

    def run(self) -> None:
        next_beat = time.monotonic() + self.interval
        while not self._done.wait(self.interval / self.WATCH_PER_BEAT):
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self.interval
                try:
                    self.store.heartbeat(self.job_id, self.attempt)
                except Exception:  # noqa: BLE001,S110 - a busy database must not kill the job; next beat retries
                    pass
            reap_others(self.store)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


def reap_others(store: JobStore) -> list[str]:
    """Mark ``lost`` the local jobs whose worker died (``LocalProcessBackend.reap_lost``) and hand their
    slots to queued jobs; never raises (a busy or broken database must not stop the job that checks)."""
    try:
        backend = LocalProcessBackend(store)
        lost = backend.reap_lost()
        if lost:
            backend._start_queued()
        return lost
    except Exception:  # noqa: BLE001 - the watchdog is best effort; the app and the CLI check too
        return []


def _install_stop_signal(ctx: JobContext) -> None:
    # SIGTERM (Ray stop_job, `kill PID`) = cancel: stop at the next step and keep the last checkpoint.
    signal.signal(signal.SIGTERM, lambda *_: ctx.request_stop())


def run_local(job_id: str) -> int:
    store = JobStore()
    reap_others(store)  # at startup: jobs that crashed while nobody was watching are reported now
    rec = store.get(job_id)
    if rec.status != JobStatus.RUNNING:
        print(f"job {job_id} is {rec.status.value}, not running: nothing to do", file=sys.stderr)
        return 1
    store.update(job_id, pid=os.getpid(), pid_start=proc_start_time(os.getpid()))
    ctx = JobContext(
        job_id,
        sink=DbSink(store, job_id, rec.attempt),
        run_dir=Path(rec.run_dir),
        attempt=rec.attempt,
        resume_from=Path(rec.resume_from) if rec.resume_from else None,
    )
    _install_stop_signal(ctx)
    export_job_env(ctx, "db")
    beat = Heartbeat(store, job_id, rec.attempt, rec.heartbeat_s)
    beat.start()
    try:
        status, reason, result = execute(rec.type, rec.module, rec.config, ctx)
    finally:
        beat.stop()
    detail = {"result": result} if result else None
    store.transition(
        job_id,
        status,
        reason=reason,
        expect={JobStatus.RUNNING, JobStatus.LOST},
        attempt=rec.attempt,
        detail=detail,
    )
    LocalProcessBackend(store)._start_queued()  # hand the slot to the next queued job
    return 0 if status != JobStatus.FAILED else 3


def run_stdout(job_id: str) -> int:
    """Ray mode: the spec comes from the environment, events go to stdout."""
    try:
        spec = json.loads(os.environ[SPEC_ENV])
    except (KeyError, json.JSONDecodeError) as exc:
        print(f"{SPEC_ENV} missing or not JSON: {exc}", file=sys.stderr)
        return 2
    sink = StdoutSink()
    run_dir = Path(spec.get("run_dir") or runs_dir() / job_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = JobContext(
        job_id,
        sink=sink,
        run_dir=run_dir,
        attempt=int(spec.get("attempt", 1)),
        resume_from=Path(spec["resume_from"]) if spec.get("resume_from") else None,
    )
    _install_stop_signal(ctx)
    export_job_env(ctx, "stdout")
    sink.emit(LOG, {"line": f"worker started on {os.uname().nodename} pid {os.getpid()}"})
    status, reason, result = execute(spec["type"], spec.get("module"), spec.get("config", {}), ctx)
    data: dict[str, Any] = {"status": status.value}
    if reason:
        data["reason"] = reason
    if result:
        data["result"] = result
    sink.emit(STATUS, data)
    return 0 if status != JobStatus.FAILED else 3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.jobs.worker", description=__doc__)
    ap.add_argument("job_id")
    ap.add_argument("--events-stdout", action="store_true", help="print events as JSON lines (Ray)")
    args = ap.parse_args(argv)
    configure_numba_cache()  # the worker may fit UMAP: cached kernels instead of a compile per job
    return run_stdout(args.job_id) if args.events_stdout else run_local(args.job_id)


if __name__ == "__main__":
    sys.exit(main())
