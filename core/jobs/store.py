"""The job table and the append-only event log, in SQLite next to the run folders.

``runs_dir()/jobs.sqlite`` in WAL mode: the job workers, the app and the CLI are separate processes that
read and write it at the same time; readers never block the writer. Writes run in ``BEGIN IMMEDIATE``
transactions so the per-job ``seq`` counter (kept on the job row) is allocated without races, and a
status change and its status event are one atomic write. ``synchronous=NORMAL`` in WAL mode survives a
crash of any process (kill -9) without losing committed events; only an OS crash could drop the last few.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.config import runs_dir
from core.errors import InputError, StoreError
from core.fsio import sqlite_error
from core.jobs.records import LOG, STATUS, TERMINAL, JobEvent, JobRecord, JobStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, module TEXT, config TEXT NOT NULL, status TEXT NOT NULL,
    backend TEXT NOT NULL, identity TEXT, created_at REAL NOT NULL, started_at REAL, ended_at REAL,
    attempt INTEGER NOT NULL DEFAULT 0, pid INTEGER, pid_start TEXT, host TEXT, heartbeat_at REAL,
    heartbeat_s REAL NOT NULL DEFAULT 5, cancel_requested INTEGER NOT NULL DEFAULT 0, error TEXT,
    run_dir TEXT NOT NULL, resume_from TEXT, external_id TEXT, external_cursor INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, backend, created_at);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL, seq INTEGER NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL,
    attempt INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
"""
# Columns a caller may set through ``update``/``transition`` (never id/type/config/seq).
_MUTABLE = {
    "status",
    "started_at",
    "ended_at",
    "attempt",
    "pid",
    "pid_start",
    "host",
    "heartbeat_at",
    "cancel_requested",
    "error",
    "resume_from",
    "external_id",
    "external_cursor",
    "identity",
}


def jobs_db_path() -> Path:
    """``runs_dir()/jobs.sqlite`` (follows REASONSCOPE_HOME at call time)."""
    return runs_dir() / "jobs.sqlite"


def _row_to_record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        type=row["type"],
        config=json.loads(row["config"]),
        status=JobStatus(row["status"]),
        created_at=row["created_at"],
        backend=row["backend"],
        identity=row["identity"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        attempt=row["attempt"],
        pid=row["pid"],
        host=row["host"],
        heartbeat_at=row["heartbeat_at"],
        heartbeat_s=row["heartbeat_s"],
        cancel_requested=bool(row["cancel_requested"]),
        error=row["error"],
        run_dir=row["run_dir"],
        resume_from=row["resume_from"],
        external_id=row["external_id"],
        module=row["module"],
    )


def _rollback_quietly(con: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any; never raise (so the error that caused it stays visible)."""
    if not con.in_transaction:
        return
    try:
        con.execute("ROLLBACK")
    except sqlite3.Error:
        pass


# Connections are shared by every JobStore of a thread (pages build stores per call); keyed by path.
_THREAD = threading.local()
_READY: set[Path] = set()  # databases whose schema this process has created


class JobStore:
    """Jobs and their events. Cheap to construct; one SQLite connection per thread and database file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else jobs_db_path()
        if self.path in _READY and self.path.exists():
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.close()  # the file may have been deleted: reconnect
            self._con().executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from exc
        except OSError as exc:
            raise StoreError(
                f"Cannot create the jobs database at {self.path} ({exc}). "
                "Point REASONSCOPE_HOME at a writable folder with free space."
            ) from exc
        _READY.add(self.path)

    # -- connections -------------------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        cons: dict[Path, sqlite3.Connection] = _THREAD.__dict__.setdefault("cons", {})
        con = cons.get(self.path)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=30000")
            cons[self.path] = con
        return con

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction. On any failure it is rolled back once (only if SQLite has not
        already rolled it back itself, as it does on a full disk), and the *original* error is raised --
        an sqlite3 error as a ``StoreError`` saying what happened (disk full, read-only, corrupt, busy)."""
        con = self._con()
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from exc
        try:
            yield con
            con.execute("COMMIT")
        except BaseException as exc:
            _rollback_quietly(con)
            if isinstance(exc, sqlite3.Error):
                raise sqlite_error(exc, self.path) from exc
            raise

    def close(self) -> None:
        """Close this thread's connection to the database (a new one opens on the next call)."""
        con = _THREAD.__dict__.get("cons", {}).pop(self.path, None)
        if con is not None:
            con.close()

    # -- jobs --------------------------------------------------------------------------------------
    def create(self, job: JobRecord, *, log: str | None = None) -> JobRecord:
        """Insert a new job, its first status event (``queued``) and an optional log line, in one
        transaction: a failure leaves no job row at all (never a half-created job)."""
        with self._write() as con:
            con.execute(
                "INSERT INTO jobs (id, type, module, config, status, backend, identity, created_at, "
                "heartbeat_s, run_dir, external_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job.id,
                    job.type,
                    job.module,
                    json.dumps(job.config, sort_keys=True),
                    job.status.value,
                    job.backend,
                    job.identity,
                    job.created_at,
                    job.heartbeat_s,
                    job.run_dir,
                    job.external_id,
                ),
            )
            self._append(con, job.id, STATUS, {"status": job.status.value}, attempt=0)
            if log is not None:
                self._append(con, job.id, LOG, {"line": log}, attempt=0)
        return self.get(job.id)

    def get(self, job_id: str) -> JobRecord:
        row = self._con().execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise InputError(
                f"No job with id {job_id!r}. List jobs with `reasonscope jobs ls` "
                "(or the Jobs page); ids are printed by `jobs submit`."
            )
        return _row_to_record(row)

    def raw(self, job_id: str, column: str) -> Any:
        """One column of the job row (e.g. ``pid_start``, ``external_cursor``)."""
        if column not in _MUTABLE | {"last_seq", "type", "config", "backend", "module", "run_dir"}:
            raise ValueError(f"unknown column {column!r}")
        row = self._con().execute(f"SELECT {column} FROM jobs WHERE id=?", (job_id,)).fetchone()  # noqa: S608
        return None if row is None else row[0]

    def list(
        self, *, status: Iterable[str] | None = None, backend: str | None = None, limit: int | None = None
    ) -> list[JobRecord]:
        """Jobs, newest first."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if status is not None:
            st = list(status)
            sql += f" AND status IN ({','.join('?' * len(st))})"
            args += [str(s) for s in st]
        if backend is not None:
            sql += " AND backend=?"
            args.append(backend)
        sql += " ORDER BY created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_row_to_record(r) for r in self._con().execute(sql, args).fetchall()]

    def update(self, job_id: str, **fields: Any) -> None:
        """Set columns of a job row without an event (pid, heartbeat, cursors…)."""
        bad = set(fields) - _MUTABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        with self._write() as con:
            self._set(con, job_id, fields)

    def transition(
        self,
        job_id: str,
        status: JobStatus,
        *,
        reason: str | None = None,
        expect: Iterable[JobStatus] | None = None,
        attempt: int | None = None,
        detail: dict[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Change the status and append its status event atomically.

        Applied only when the current status is in ``expect`` (and the current attempt equals ``attempt``
        when given), so a late writer cannot overwrite a newer state. Returns whether it was applied.
        """
        with self._write() as con:
            row = con.execute("SELECT status, attempt FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                raise InputError(f"No job with id {job_id!r}.")
            if expect is not None and JobStatus(row["status"]) not in set(expect):
                return False
            if attempt is not None and row["attempt"] != attempt:
                return False
            fields = dict(fields, status=status.value)
            if status in TERMINAL:
                fields.setdefault("ended_at", time.time())
            if reason is not None and status in (JobStatus.FAILED, JobStatus.LOST):
                fields.setdefault("error", reason)
            self._set(con, job_id, fields)
            data: dict[str, Any] = {"status": status.value, **(detail or {})}
            if reason:
                data["reason"] = reason
            self._append(con, job_id, STATUS, data, attempt=None)
            return True

    def claim_next(self, *, backend: str, limit: int, host: str) -> JobRecord | None:
        """Atomically move the oldest queued job of ``backend`` to ``running`` if fewer than ``limit`` run."""
        with self._write() as con:
            running = con.execute(
                "SELECT COUNT(*) FROM jobs WHERE status=? AND backend=?", (JobStatus.RUNNING.value, backend)
            ).fetchone()[0]
            if running >= limit:
                return None
            row = con.execute(
                "SELECT id, attempt, started_at FROM jobs WHERE status=? AND backend=? "
                "ORDER BY created_at, id LIMIT 1",
                (JobStatus.QUEUED.value, backend),
            ).fetchone()
            if row is None:
                return None
            now = time.time()
            self._set(
                con,
                row["id"],
                {
                    "status": JobStatus.RUNNING.value,
                    "attempt": row["attempt"] + 1,
                    "host": host,
                    "pid": None,
                    "pid_start": None,
                    "heartbeat_at": now,
                    "started_at": row["started_at"] or now,
                    "ended_at": None,
                },
            )
            self._append(con, row["id"], STATUS, {"status": JobStatus.RUNNING.value}, attempt=None)
            job_id = row["id"]
        return self.get(job_id)

    def heartbeat(self, job_id: str, attempt: int) -> None:
        with self._write() as con:
            con.execute(
                "UPDATE jobs SET heartbeat_at=? WHERE id=? AND attempt=? AND status=?",
                (time.time(), job_id, attempt, JobStatus.RUNNING.value),
            )

    def count(self, *, status: str, backend: str) -> int:
        return int(
            self._con()
            .execute("SELECT COUNT(*) FROM jobs WHERE status=? AND backend=?", (status, backend))
            .fetchone()[0]
        )

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.raw(job_id, "cancel_requested"))

    # -- events ------------------------------------------------------------------------------------
    def append(self, job_id: str, kind: str, data: dict[str, Any], *, attempt: int | None = None) -> JobEvent:
        """Append one event; returns it with its ``seq``."""
        with self._write() as con:
            return self._append(con, job_id, kind, data, attempt=attempt)

    def append_many(
        self,
        job_id: str,
        items: list[tuple[str, dict[str, Any]]],
        *,
        attempt: int | None = None,
        **fields: Any,
    ) -> list[JobEvent]:
        """Append several events (and optionally set row fields) in one transaction."""
        with self._write() as con:
            out = [self._append(con, job_id, kind, data, attempt=attempt) for kind, data in items]
            if fields:
                self._set(con, job_id, fields)
            return out

    def events(
        self, job_id: str, since_seq: int = 0, *, kinds: Iterable[str] | None = None, limit: int | None = None
    ) -> list[JobEvent]:
        """Events with ``seq > since_seq`` in order."""
        sql, args = "SELECT * FROM events WHERE job_id=? AND seq>?", [job_id, since_seq]
        if kinds is not None:
            ks = list(kinds)
            sql += f" AND kind IN ({','.join('?' * len(ks))})"
            args += ks
        sql += " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            JobEvent(
                job_id=r["job_id"],
                seq=r["seq"],
                ts=r["ts"],
                kind=r["kind"],
                attempt=r["attempt"],
                data=json.loads(r["data"]),
            )
            for r in self._con().execute(sql, args).fetchall()
        ]

    def latest(self, job_id: str, kind: str) -> JobEvent | None:
        """The newest event of one kind (e.g. the last metric, for job lists)."""
        r = (
            self._con()
            .execute(
                "SELECT * FROM events WHERE job_id=? AND kind=? ORDER BY seq DESC LIMIT 1", (job_id, kind)
            )
            .fetchone()
        )
        if r is None:
            return None
        return JobEvent(
            job_id=r["job_id"],
            seq=r["seq"],
            ts=r["ts"],
            kind=r["kind"],
            attempt=r["attempt"],
            data=json.loads(r["data"]),
        )

    def last_seq(self, job_id: str) -> int:
        return int(self.raw(job_id, "last_seq") or 0)

    # -- internals ---------------------------------------------------------------------------------
    @staticmethod
    def _set(con: sqlite3.Connection, job_id: str, fields: dict[str, Any]) -> None:
        if not fields:
            return
        cols = ", ".join(f"{k}=?" for k in fields)
        vals = [int(v) if isinstance(v, bool) else v for v in fields.values()]
        con.execute(f"UPDATE jobs SET {cols} WHERE id=?", [*vals, job_id])  # noqa: S608 - keys checked

    @staticmethod
    def _append(
        con: sqlite3.Connection, job_id: str, kind: str, data: dict[str, Any], attempt: int | None
    ) -> JobEvent:
        row = con.execute(
            "UPDATE jobs SET last_seq=last_seq+1 WHERE id=? RETURNING last_seq, attempt", (job_id,)
        ).fetchone()
        if row is None:
            raise InputError(f"No job with id {job_id!r}.")
        seq, att = int(row[0]), int(attempt if attempt is not None else row[1])
        ts = time.time()
        payload = json.dumps(data, sort_keys=True, default=str)
        con.execute(
            "INSERT INTO events (job_id, seq, ts, kind, attempt, data) VALUES (?,?,?,?,?,?)",
            (job_id, seq, ts, kind, att, payload),
        )
        return JobEvent(job_id=job_id, seq=seq, ts=ts, kind=kind, attempt=att, data=json.loads(payload))
