"""LocalProcessBackend: each job in its own OS process, a queue with a concurrency limit, heartbeats.

There is no daemon. Whoever submits or polls (the app, the CLI) runs ``_start_queued``: it marks jobs
whose process vanished as ``lost`` and starts queued jobs while fewer than ``max_parallel`` run; a worker
that finishes does the same, so a queue drains even when nobody watches. Workers run in a new session
(``start_new_session=True``) so they survive the app or the terminal being killed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from core.jobs.base import JobBackend
from core.jobs.records import JobRecord, JobStatus
from core.jobs.store import JobStore

HOST = socket.gethostname()
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # workers this process started (reaped to avoid zombies)


def max_parallel() -> int:
    """Jobs run at once by the local backend (``REASONSCOPE_JOBS_MAX_PARALLEL``, default 1: CPU-bound)."""
    try:
        return max(1, int(os.environ.get("REASONSCOPE_JOBS_MAX_PARALLEL", "1")))
    except ValueError:
        return 1


def proc_start_time(pid: int) -> str | None:
    """Kernel start time of ``pid`` (field 22 of /proc/PID/stat): tells a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _reap_children() -> None:
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def pid_alive(pid: int | None, start: str | None = None) -> bool:
    """Is the process running (not a zombie, and the same process when ``start`` is given)?"""
    if pid is None:
        return False
    _reap_children()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True  # no /proc (macOS): os.kill is all we know
    if state in ("Z", "X"):
        return False
    return start is None or proc_start_time(pid) in (None, start)


class LocalProcessBackend(JobBackend):
    """Jobs as child processes of nobody: ``python -m core.jobs.worker JOB_ID``."""

    name = "local"

    def __init__(self, store: JobStore | None = None, *, parallel: int | None = None) -> None:
        super().__init__(store)
        self.parallel = parallel or max_parallel()

    def _start_queued(self) -> None:
        self.reap_lost()
        if not self.store.count(status=JobStatus.QUEUED.value, backend=self.name):
            return  # the common case for pollers: no write transaction at all
        while (job := self.store.claim_next(backend=self.name, limit=self.parallel, host=HOST)) is not None:
            self._spawn(job)

    def _spawn(self, job: JobRecord) -> None:
        env = os.environ.copy()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
        try:
            with open(Path(job.run_dir) / "worker.log", "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "core.jobs.worker", job.id],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=str(PROJECT_ROOT),
                    start_new_session=True,
                )
        except OSError as exc:  # never leave it "running": it did not start
            self.store.transition(
                job.id,
                JobStatus.FAILED,
                reason=f"could not start the worker process: {exc}. Free disk space / memory and resume it.",
                expect={JobStatus.RUNNING},
                attempt=job.attempt,
            )
            return
        _CHILDREN[proc.pid] = proc
        self.store.update(job.id, pid=proc.pid, pid_start=proc_start_time(proc.pid))

    def reap_lost(self, now: float | None = None) -> list[str]:
        """Mark ``lost`` the running jobs whose heartbeat is older than 2 intervals and whose pid is gone."""
        now = time.time() if now is None else now
        lost = []
        if not self.store.count(status=JobStatus.RUNNING.value, backend=self.name):
            return lost
        for rec in self.store.list(status=[JobStatus.RUNNING], backend=self.name):
            beat = rec.heartbeat_at or rec.started_at or rec.created_at
            age = now - beat
            if age <= 2 * rec.heartbeat_s:
                continue
            if rec.host == HOST and pid_alive(rec.pid, self.store.raw(rec.id, "pid_start")):
                continue  # alive but slow to beat (e.g. a long C call holding the GIL)
            reason = (
                f"the worker process (pid {rec.pid} on {rec.host}) stopped without reporting — killed, "
                f"out of memory or the machine restarted; last heartbeat {age:.1f} s ago. "
                "Resume the job to continue from its last checkpoint."
            )
            if self.store.transition(
                rec.id, JobStatus.LOST, reason=reason, expect={JobStatus.RUNNING}, attempt=rec.attempt
            ):
                lost.append(rec.id)
        return lost

    def _stop_running(self, rec: JobRecord) -> None:
        """Nothing to do: the worker reads the cancel flag at its next ``should_stop()``."""
