"""Background fits: one thread per key, errors kept for the page, finished entries bounded."""

from __future__ import annotations

import threading

from core.explore.background import KEEP, BackgroundFits


def test_a_key_runs_once_and_reports_done() -> None:
    fits, calls, gate = BackgroundFits(), [], threading.Event()
    job = fits.start("k", lambda: (gate.wait(5), calls.append(1)))
    again = fits.start("k", lambda: calls.append(2))  # already running: not started twice
    assert again is job and not job.done
    gate.set()
    assert job.wait(5) and job.error is None and calls == [1]
    assert fits.start("k", lambda: calls.append(3)) is job and calls == [1]  # finished: not re-run


def test_errors_are_kept_and_can_be_retried() -> None:
    fits = BackgroundFits()
    job = fits.start("bad", lambda: 1 / 0)
    assert job.wait(5) and isinstance(job.error, ZeroDivisionError)
    fits.forget("bad")
    assert fits.get("bad") is None
    assert fits.start("bad", lambda: None).wait(5)


def test_finished_entries_are_bounded() -> None:
    fits = BackgroundFits()
    for i in range(KEEP + 10):
        fits.start(f"k{i}", lambda: None).wait(5)
    assert len(fits._jobs) <= KEEP + 1
