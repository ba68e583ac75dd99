"""The job store on a full disk: the real error is reported (never "cannot rollback - no transaction is
active"), a failed submit leaves no job and no run folder, and a worker that could not start is never shown
as running."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from core.errors import DiskError
from core.jobs import JobStatus, JobStore
from core.jobs.demo import TYPE_NAME
from core.jobs.local import LocalProcessBackend


class _FullDisk:
    """A connection whose writes hit a full disk. Like SQLite itself, it rolls the transaction back before
    raising on COMMIT, so a second ROLLBACK would fail with "no transaction is active"."""

    def __init__(self, con: sqlite3.Connection, fail_on: str) -> None:
        self._con, self.fail_on = con, fail_on

    def execute(self, sql: str, *args):
        if sql.lstrip().upper().startswith(self.fail_on):
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


@pytest.fixture()
def full_disk(jobs_home, monkeypatch):
    real = JobStore._con

    def arm(fail_on: str | None) -> None:  # None: the disk has room again
        if fail_on is None:
            monkeypatch.setattr(JobStore, "_con", real)
        else:
            monkeypatch.setattr(JobStore, "_con", lambda self: _FullDisk(real(self), fail_on))

    return arm


@pytest.mark.parametrize("fail_on", ["COMMIT", "INSERT INTO EVENTS"])
def test_failed_submit_reports_the_disk_and_leaves_no_ghost(jobs_home, full_disk, monkeypatch, fail_on):
    monkeypatch.setattr(LocalProcessBackend, "_start_queued", lambda self: None)
    backend = LocalProcessBackend(JobStore(), parallel=1)
    full_disk(fail_on)
    with pytest.raises(DiskError, match="no space left") as info:
        backend.submit(TYPE_NAME, {"steps": 2})
    assert "rollback" not in str(info.value)
    full_disk(None)
    store = JobStore()
    assert store.list() == []  # no half-created job
    assert not [p for p in (jobs_home / "runs").iterdir() if p.is_dir()]  # no run folder left behind
    job = LocalProcessBackend(store, parallel=1).submit(TYPE_NAME, {"steps": 2})  # the queue is not blocked
    rec = store.get(job)
    assert rec.status == JobStatus.QUEUED
    assert [e.kind for e in store.events(job)] == ["status", "log"]


def test_worker_that_cannot_start_is_failed_not_running(jobs_home, monkeypatch):
    def no_fork(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(subprocess, "Popen", no_fork)
    backend = LocalProcessBackend(JobStore(), parallel=1)
    job = backend.submit(TYPE_NAME, {"steps": 2})
    rec = backend.store.get(job)
    assert rec.status == JobStatus.FAILED and "could not start the worker" in (rec.error or "")
    assert backend.store.count(status=JobStatus.RUNNING.value, backend="local") == 0
