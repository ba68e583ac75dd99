"""Honest progress text: the rate and the time left are measured from the work done so far, never a
constant. Before anything is done the text says the speed is being measured."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def duration_text(seconds: float) -> str:
    """``45 s``, ``3 min 10 s``, ``1 h 05 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


@dataclass(kw_only=True)
class Eta:
    """``total`` units of work (prompts, attempts, sweep points…) started at ``started`` (monotonic)."""

    total: int
    unit: str = "items"
    started: float = field(default_factory=time.monotonic)

    def seconds_left(self, done: int, now: float | None = None) -> float | None:
        """Time left at the speed measured so far; None before the first unit is done."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        if done <= 0 or elapsed <= 0:
            return None
        return max(0.0, (self.total - done) * elapsed / done)

    def text(self, done: int, now: float | None = None) -> str:
        """``12/48 prompts · 0.40 prompts/s · about 1 min 30 s left`` (measured), or the measuring note."""
        head = f"{done}/{self.total} {self.unit}"
        elapsed = (time.monotonic() if now is None else now) - self.started
        left = self.seconds_left(done, now)
        if left is None:
            return f"{head} · measuring speed ({duration_text(elapsed)} so far)…"
        if done >= self.total:
            return f"{head} · done in {duration_text(elapsed)}"
        return f"{head} · {done / elapsed:.2f} {self.unit}/s · about {duration_text(left)} left"


class StagedEta:
    """One ``Eta`` per named stage (e.g. capture then per-layer fits), restarted when the stage or its total
    changes: ``text("capture", 12, 48)`` -> ``Capturing hidden states: 12/48 items · 3.10 items/s · about
    12 s left``. ``stages`` maps a stage to (label, unit)."""

    def __init__(self, stages: dict[str, tuple[str, str]]) -> None:
        self.stages = stages
        self._eta: dict[str, Eta] = {}
        self.seconds: dict[str, float] = {}  # measured length of every stage seen, so far

    def text(self, stage: str, done: int, total: int, now: float | None = None) -> str:
        label, unit = self.stages.get(stage, (stage, "steps"))
        eta = self._eta.get(stage)
        if eta is None or eta.total != total:
            eta = self._eta[stage] = Eta(
                total=total, unit=unit, started=time.monotonic() if now is None else now
            )
        self.seconds[stage] = (time.monotonic() if now is None else now) - eta.started
        return f"{label}: {eta.text(done, now)}"

    def summary(self) -> str:
        """``Capturing hidden states 3 s · Training 1 s`` (the stages seen, in order)."""
        return " · ".join(
            f"{self.stages.get(s, (s, ''))[0]} {duration_text(v)}" for s, v in self.seconds.items()
        )
