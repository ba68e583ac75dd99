"""Fits that run in a background thread while the page shows a quick map (PCA at once, UMAP refined later).

One registry per process, shared by every app session: a key already fitting is not started twice, and the
fits themselves go through ``ProjectionManager``'s process-wide lock (umap is not thread-safe), so sessions
queue behind one another instead of fitting in parallel. No streamlit here: the page polls ``get(key)``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

KEEP = 32  # finished entries remembered (a failed key is not retried on every rerun)


@dataclass(kw_only=True)
class BackgroundFit:
    key: str
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: BaseException | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the fit finished (successfully or not) within ``timeout`` seconds."""
        return self._done.wait(timeout)


class BackgroundFits:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, BackgroundFit] = OrderedDict()

    def get(self, key: str) -> BackgroundFit | None:
        with self._lock:
            return self._jobs.get(key)

    def start(self, key: str, fit: Callable[[], object]) -> BackgroundFit:
        """Run ``fit()`` in a daemon thread unless ``key`` is running or already finished; returns its entry.
        ``fit`` must store its result where the page finds it (the projection manager's cache)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                return job
            job = self._jobs[key] = BackgroundFit(key=key)
            while len(self._jobs) > KEEP:
                oldest = next(iter(self._jobs))
                if not self._jobs[oldest].done:
                    break
                self._jobs.pop(oldest)

        def run() -> None:
            try:
                fit()
            except BaseException as exc:  # noqa: BLE001 - kept for the page to show, never lost in a thread
                job.error = exc
            finally:
                job.finished = time.time()
                job._done.set()

        threading.Thread(target=run, name=f"reasonscope-fit-{key[:8]}", daemon=True).start()
        return job

    def forget(self, key: str) -> None:
        """Drop a finished entry (e.g. to retry a failed fit)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.done:
                self._jobs.pop(key)


_FITS = BackgroundFits()


def background_fits() -> BackgroundFits:
    """The process-wide registry (every app session of this server shares it)."""
    return _FITS
