"""Progress plumbing into job events: a ``transformers.TrainerCallback`` and a tqdm-compatible bar.

``JobProgressCallback(ctx)`` is built on first access so importing this module does not import
transformers (or torch): ``from core.jobs.callbacks import JobProgressCallback`` inside a training job.
"""

from __future__ import annotations

import numbers
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm as _tqdm

if TYPE_CHECKING:
    from transformers import TrainerCallback

    from core.jobs.context import JobContext

__all__ = [
    "JobProgressCallback",  # noqa: F822 - lazy (__getattr__): defined on first use, it needs transformers
    "JobTqdm",
    "progress_callback",
    "trainer_logs_to_scalars",
]


def trainer_logs_to_scalars(logs: dict[str, Any] | None) -> dict[str, float]:
    """The numeric entries of a Trainer ``logs`` dict (drops strings, bools and nested values)."""
    out: dict[str, float] = {}
    for k, v in (logs or {}).items():
        if isinstance(v, numbers.Real) and not isinstance(v, bool):
            out[k] = float(v)
        elif hasattr(v, "item") and getattr(v, "ndim", 1) == 0:  # 0-d tensors/arrays
            out[k] = float(v.item())
    return out


def _callback_class() -> type:
    from transformers import TrainerCallback

    class JobProgressCallback(TrainerCallback):  # type: ignore[misc]
        """Trainer logs → metric events, steps → progress events, saves → checkpoint artefacts.

        Cancel: ``ctx.should_stop()`` is checked after every step; when set, the trainer saves a checkpoint
        and stops (``control.should_training_stop``), so the job ends ``cancelled`` and can be resumed with
        ``trainer.train(resume_from_checkpoint=str(ctx.last_checkpoint()))``.
        """

        def __init__(self, ctx: JobContext) -> None:
            self.ctx = ctx

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.ctx.log(f"training started: {state.max_steps} steps, output {args.output_dir}")

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            scalars = trainer_logs_to_scalars(logs)
            if scalars:
                self.ctx.emit_metric(state.global_step, **scalars)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.ctx.emit_progress(state.global_step, state.max_steps)
            if self.ctx.should_stop():
                control.should_save = True  # keep the work done so far
                control.should_training_stop = True

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if path.exists():
                self.ctx.emit_checkpoint(path, state.global_step)

    return JobProgressCallback


_CLASS: type | None = None


def __getattr__(name: str) -> Any:
    global _CLASS
    if name == "JobProgressCallback":
        if _CLASS is None:
            _CLASS = _callback_class()
        return _CLASS
    raise AttributeError(name)


def progress_callback(ctx: JobContext) -> TrainerCallback:
    """A ``JobProgressCallback`` reporting to ``ctx`` (the class, and transformers, are loaded on this first
    use)."""
    cls: type[TrainerCallback] = __getattr__("JobProgressCallback")
    return cls(ctx)


class JobTqdm(_tqdm):  # type: ignore[misc]
    """``tqdm`` that also emits progress events (at most every ``min_event_interval`` s) and stops
    iterating when the job is cancelled, so ``for x in ctx.tqdm(items): ...`` is cancel-aware."""

    def __init__(self, *args: Any, ctx: JobContext, min_event_interval: float = 0.5, **kwargs: Any) -> None:
        self._ctx = ctx
        self._min_dt = min_event_interval
        self._last_emit = 0.0
        kwargs.setdefault("mininterval", 1.0)
        super().__init__(*args, **kwargs)

    def _emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_emit >= self._min_dt:
            self._last_emit = now
            self._ctx.emit_progress(int(self.n), None if self.total is None else int(self.total))

    def update(self, n: float | None = 1) -> bool | None:
        if self.disable:  # tqdm stops counting when disabled; events still need n
            self.n += n or 0
            out = None
        else:
            out = super().update(n)
        self._emit(force=self.total is not None and self.n >= self.total)
        return out

    def __iter__(self) -> Any:
        # tqdm's own loop updates ``n`` lazily; count every item so events are exact.
        if self.iterable is None:
            raise TypeError("JobTqdm needs an iterable to iterate over")
        try:
            for item in self.iterable:
                if self._ctx.should_stop():
                    break
                yield item
                self.update(1)
        finally:
            self.close()

    def close(self) -> None:
        if getattr(self, "_ctx", None) is not None and self.n and not getattr(self, "_closed_emit", False):
            self._closed_emit = True
            self._emit(force=True)
        super().close()
