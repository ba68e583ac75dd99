"""Stages of a UMAP fit as the user should see them, and expected durations from fits measured earlier.

umap-learn has no progress callback. What can be observed is: the one-time kernel compilation (numba, the
first map of a process: ~8 s here), the k-nearest-neighbour graph (ends when umap starts the layout), and
the layout's epochs (umap's tqdm bar). A stage whose length is unknown carries no ``done``/``total``: show a
spinner with the elapsed time and the stage's name, never a bar that sits still. Expected durations come
from earlier fits of this process and of the projection cache (seconds scaled by the number of points),
never from constants.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.jobs.eta import Eta, duration_text

COMPILE, KNN, LAYOUT = "compile", "knn", "layout"
STAGE_LABELS = {
    COMPILE: "compiling UMAP's kernels (first map in this process)",
    KNN: "building the k-nearest-neighbour graph",
    LAYOUT: "optimising the layout",
}
SHORT_LABELS = {COMPILE: "compiling kernels", KNN: "kNN graph", LAYOUT: "layout"}


@dataclass(frozen=True, kw_only=True)
class FitStage:
    """One report of a fit's stage. ``done``/``total`` are set only when the stage's progress is observable
    (the layout's epochs); ``finished`` on the stage's last report."""

    name: str
    index: int  # 1-based
    count: int
    n_points: int
    elapsed_s: float
    done: int | None = None
    total: int | None = None
    expected_s: float | None = None
    basis: str = ""  # where expected_s comes from, e.g. "600 points took 0.7 s earlier"
    finished: bool = False

    @property
    def fraction(self) -> float | None:
        return None if self.total is None or self.done is None else min(1.0, self.done / max(self.total, 1))


StageCallback = Callable[[FitStage], None]


def stage_text(ev: FitStage) -> str:
    """``Stage 2/3 · building the k-nearest-neighbour graph of 600 points · 1 s so far · expected ≈ 1 s
    (600 points took 0.7 s earlier)``; the layout says epochs, rate and time left measured on its epochs."""
    head = f"Stage {ev.index}/{ev.count} · {STAGE_LABELS.get(ev.name, ev.name)}"
    if ev.name == KNN:
        head += f" of {ev.n_points} points"
    if ev.finished:
        return f"{head} · done in {duration_text(ev.elapsed_s)}"
    if ev.total is not None and ev.done is not None:
        eta = Eta(total=ev.total, unit="epochs", started=0.0)
        return f"{head} · {eta.text(ev.done, now=ev.elapsed_s)}"
    tail = f" · {duration_text(ev.elapsed_s)} so far"
    if ev.expected_s is not None:
        tail += f" · expected ≈ {duration_text(ev.expected_s)}" + (f" ({ev.basis})" if ev.basis else "")
    else:
        tail += " · no earlier fit to estimate from"
    return head + tail


def stages_summary(stage_seconds: dict[str, float]) -> str:
    """``compiling kernels 8.0 s · kNN graph 0.2 s · layout 0.5 s`` (the order of the fit)."""
    order = [s for s in (COMPILE, KNN, LAYOUT) if s in stage_seconds]
    return " · ".join(f"{SHORT_LABELS[s]} {stage_seconds[s]:.1f} s" for s in order)


class SpeedBook:
    """Measured stage durations ``(stage, n_points, seconds)``; thread-safe. ``expected`` scales the
    nearest earlier fit (by point count) linearly; compilation does not depend on the points."""

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep
        self._rows: list[tuple[str, int, float]] = []
        self._lock = threading.Lock()

    def record(self, stage: str, n_points: int, seconds: float) -> None:
        if seconds < 0 or n_points <= 0:
            return
        with self._lock:
            self._rows.append((stage, int(n_points), float(seconds)))
            del self._rows[: max(0, len(self._rows) - self.keep)]

    def record_all(self, stage_seconds: dict[str, float], n_points: int) -> None:
        for stage, s in stage_seconds.items():
            self.record(stage, n_points, s)

    def seed(self, rows: Iterable[tuple[dict[str, float], int]]) -> None:
        """Earlier fits, e.g. from the projection cache's ``stage_seconds`` and ``n_points``."""
        for stage_seconds, n in rows:
            self.record_all({k: v for k, v in stage_seconds.items() if k != COMPILE}, n)

    def expected(self, stage: str, n_points: int) -> tuple[float, str] | None:
        """(seconds, basis) for ``stage`` on ``n_points`` points, or None with nothing measured."""
        with self._lock:
            rows = [(n, s) for st, n, s in self._rows if st == stage]
        if not rows:
            return None
        n_ref, s_ref = min(rows, key=lambda r: (abs(r[0] - n_points), -r[0]))
        if stage == COMPILE:
            return s_ref, f"it took {s_ref:.1f} s before"
        return s_ref * n_points / n_ref, f"{n_ref} points took {s_ref:.1f} s earlier"


class StageReporter:
    """Sends ``FitStage`` reports to a callback (which may be None) and times each stage."""

    def __init__(self, callback: StageCallback | None, stages: list[str], n_points: int, book: SpeedBook):
        self.callback, self.stages, self.n_points, self.book = callback, stages, n_points, book
        self.seconds: dict[str, float] = {}
        self._current: str | None = None
        self._t0 = time.monotonic()

    def _send(self, name: str, **kw: object) -> None:
        if self.callback is None:
            return
        exp = self.book.expected(name, self.n_points)
        self.callback(
            FitStage(
                name=name,
                index=self.stages.index(name) + 1,
                count=len(self.stages),
                n_points=self.n_points,
                elapsed_s=time.monotonic() - self._t0,
                expected_s=exp[0] if exp else None,
                basis=exp[1] if exp else "",
                **kw,  # type: ignore[arg-type]
            )
        )

    def start(self, name: str) -> None:
        """End the current stage (if any) and start ``name``."""
        self.end()
        self._current, self._t0 = name, time.monotonic()
        self._send(name)

    def step(self, done: int, total: int) -> None:
        """Observable progress within the current stage (the layout's epochs)."""
        if self._current is not None:
            self._send(self._current, done=done, total=total)

    def end(self) -> None:
        if self._current is None:
            return
        name, self._current = self._current, None
        self.seconds[name] = round(time.monotonic() - self._t0, 3)
        self._send(name, finished=True)

    def record(self) -> dict[str, float]:
        """End the current stage and add the measured seconds to the book; returns them."""
        self.end()
        self.book.record_all(self.seconds, self.n_points)
        return dict(self.seconds)
