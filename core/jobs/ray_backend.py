"""RayJobsBackend: the same job on a Ray cluster, through the Ray Jobs API (``RAY_ADDRESS``).

The cluster cannot reach this machine's jobs database, so the worker runs with ``--events-stdout``
and prints each event as an ``@@reasonscope-event {json}`` line; polling this backend (``status``,
``events``, ``list``) reads the job's logs and appends the new events to the local store, so the app
and the CLI see Ray jobs exactly like local ones. Cancel = ``stop_job`` (SIGTERM → the worker stops at
its next step and reports ``cancelled``). Ray is optional (``pip install 'reasonscope[ray]'``).

Pointing at a real cluster: ``RAY_ADDRESS=http://HEAD:8265``; the project folder is shipped as the
job's ``working_dir`` (dependencies must be installed on the cluster, or add them to its runtime env);
``REASONSCOPE_RAY_PYTHON`` picks the interpreter there (default ``python``) and
``REASONSCOPE_RAY_RUN_DIR`` a run folder on shared storage so checkpoints survive for ``resume``;
``REASONSCOPE_RAY_GPUS`` / ``REASONSCOPE_RAY_CPUS`` reserve resources for the job's entrypoint.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from core.errors import InputError, ReasonScopeError
from core.jobs.base import JobBackend
from core.jobs.context import EVENT_PREFIX
from core.jobs.records import STATUS, JobRecord, JobStatus
from core.jobs.store import JobStore
from core.jobs.worker import SPEC_ENV

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADDRESS = "http://127.0.0.1:8265"
EXCLUDES = [
    ".venv",
    ".git",
    "**/__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".import_linter_cache",
    ".hypothesis",
    "tests",
    "benchmarks",
    "docs",
    "*.safetensors",
    "*.gguf",
    "*.whl",
]


def parse_event_lines(text: str) -> list[dict[str, Any]]:
    """The ``@@reasonscope-event`` records in a log, in order (other lines and torn lines are skipped)."""
    out = []
    for line in text.splitlines():
        pos = line.find(EVENT_PREFIX)
        if pos < 0:
            continue
        try:
            rec = json.loads(line[pos + len(EVENT_PREFIX) :])
        except json.JSONDecodeError:
            continue  # a line still being written; it is read complete on the next poll
        if isinstance(rec, dict) and "i" in rec and "kind" in rec:
            out.append(rec)
    return out


class RayJobsBackend(JobBackend):
    """Jobs submitted to a Ray cluster; their events are pulled from the job logs into the local store."""

    name = "ray"
    checkpoints_are_local = False  # checkpoints live on the cluster

    def __init__(self, store: JobStore | None = None, address: str | None = None) -> None:
        super().__init__(store)
        self.address = address or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS
        self._client: Any = None

    def client(self) -> Any:
        """The JobSubmissionClient (clear errors when Ray is missing or the cluster is unreachable)."""
        if self._client is not None:
            return self._client
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError as exc:
            raise InputError(
                "The Ray backend needs Ray: pip install 'reasonscope[ray]' (or use the local backend)."
            ) from exc
        for name in ("ray", "ray.dashboard", "ray._private"):  # packaging chatter in the CLI/app output
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            self._client = JobSubmissionClient(self.address)
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, HTTP errors…
            raise ReasonScopeError(
                f"Cannot reach the Ray cluster at {self.address} ({type(exc).__name__}: {str(exc)[:200]}). "
                "Start one with `ray start --head` or set RAY_ADDRESS to the dashboard address of your "
                "cluster, e.g. http://head-node:8265."
            ) from exc
        return self._client

    def _check_ready(self) -> None:
        self.client()

    # -- starting ------------------------------------------------------------------------------------
    def _start_queued(self) -> None:
        queued = self.store.list(status=[JobStatus.QUEUED], backend=self.name)
        if not queued:
            return
        client = self.client()
        while (job := self.store.claim_next(backend=self.name, limit=10**9, host=self.address)) is not None:
            self._submit_to_ray(client, job)

    def _submit_to_ray(self, client: Any, job: JobRecord) -> None:
        run_dir = os.environ.get("REASONSCOPE_RAY_RUN_DIR")
        spec = {
            "type": job.type,
            "module": job.module,
            "config": job.config,
            "attempt": job.attempt,
            "resume_from": job.resume_from,
            "run_dir": str(Path(run_dir) / job.id) if run_dir else job.run_dir,
        }
        python = os.environ.get("REASONSCOPE_RAY_PYTHON", "python")
        sid = f"{job.id}-a{job.attempt}"
        resources = {
            k: float(os.environ[env])
            for k, env in (
                ("entrypoint_num_gpus", "REASONSCOPE_RAY_GPUS"),
                ("entrypoint_num_cpus", "REASONSCOPE_RAY_CPUS"),
            )
            if os.environ.get(env)
        }
        try:
            client.submit_job(
                **resources,
                entrypoint=f"{python} -m core.jobs.worker {job.id} --events-stdout",
                submission_id=sid,
                runtime_env={
                    "working_dir": str(PROJECT_ROOT),
                    "excludes": EXCLUDES,
                    "env_vars": {SPEC_ENV: json.dumps(spec), "PYTHONUNBUFFERED": "1"},
                },
                metadata={"reasonscope_job": job.id, "type": job.type, "by": job.identity or ""},
            )
        except Exception as exc:  # noqa: BLE001 - becomes the job's failure reason
            self.store.transition(
                job.id,
                JobStatus.FAILED,
                expect={JobStatus.RUNNING},
                reason=f"Ray refused the job at {self.address}: {str(exc)[:300]}",
            )
            return
        self.store.update(job.id, external_id=sid, external_cursor=0)
        self.store.append(job.id, "log", {"line": f"submitted to Ray at {self.address} as {sid}"})

    # -- observing -------------------------------------------------------------------------------------
    def refresh(self, job_id: str | None) -> None:
        """Submit queued jobs, then pull new events of running Ray jobs (one job, or all)."""
        self._start_queued()
        if job_id is not None:
            recs = [self.store.get(job_id)]
        else:
            recs = self.store.list(status=[JobStatus.RUNNING], backend=self.name)
        for rec in recs:
            if rec.backend == self.name and rec.status == JobStatus.RUNNING and rec.external_id:
                self._sync(rec)

    def _sync(self, rec: JobRecord) -> None:
        from ray.job_submission import JobStatus as RayStatus

        client = self.client()
        sid = rec.external_id
        try:
            ray_status = client.get_job_status(sid)  # status first: when terminal, the logs are complete
            logs = client.get_job_logs(sid)
        except Exception as exc:  # noqa: BLE001
            if "does not exist" in str(exc).lower() or "not found" in str(exc).lower():
                self.store.transition(
                    rec.id,
                    JobStatus.LOST,
                    expect={JobStatus.RUNNING},
                    attempt=rec.attempt,
                    reason=f"Ray no longer knows submission {sid} (cluster restarted?). "
                    "Resume the job to start it again from its last checkpoint.",
                )
            return  # cluster briefly unreachable: try again on the next poll
        # The cursor counts event lines already ingested: logs only grow, and processes the job starts
        # (accelerate ranks) print their own lines, so positions, not the writers' counters, are the key.
        cursor = int(self.store.raw(rec.id, "external_cursor") or 0)
        parsed = parse_event_lines(logs)
        fresh = parsed[cursor:]
        final = None
        items = []
        for e in fresh:
            if e["kind"] == STATUS:
                final = e["data"]
            else:
                items.append((e["kind"], e["data"]))
        if fresh:
            self.store.append_many(rec.id, items, attempt=rec.attempt, external_cursor=len(parsed))
        if final is not None:
            status = JobStatus(final["status"])
            detail = {"result": final["result"]} if final.get("result") else None
            self.store.transition(
                rec.id,
                status,
                reason=final.get("reason"),
                expect={JobStatus.RUNNING},
                attempt=rec.attempt,
                detail=detail,
            )
        elif ray_status in (RayStatus.SUCCEEDED, RayStatus.FAILED, RayStatus.STOPPED):
            # the process ended without its final event (killed, crashed before starting, …)
            info = client.get_job_info(sid)
            if ray_status == RayStatus.STOPPED and self.store.cancel_requested(rec.id):
                self.store.transition(
                    rec.id, JobStatus.CANCELLED, expect={JobStatus.RUNNING}, attempt=rec.attempt
                )
            else:
                tail = "\n".join(logs.strip().splitlines()[-5:])
                self.store.transition(
                    rec.id,
                    JobStatus.FAILED,
                    expect={JobStatus.RUNNING},
                    attempt=rec.attempt,
                    reason=f"Ray job {sid} ended {ray_status.value} without a final report: "
                    f"{info.message or ''} {tail}".strip(),
                )

    def _stop_running(self, rec: JobRecord) -> None:
        if rec.external_id:
            self.client().stop_job(rec.external_id)
