"""A frontier, not a single point: run one alignment method at 3-5 values of one setting.

Each value is a full run of the method (its own folder ``point-<i>/`` under the sweep's run folder, its own
before/after audit on the validation split); the sweep then has one point per value: harmful refusal against
over-refusal, each with its Wilson interval. That is where a method stands when the bar is missed: e.g. more
warm-start epochs buy refusals at the price of over-refusal, or they do not.

Resume: a point whose ``summary.json`` exists is not run again. Metrics of point ``i`` are streamed under
``point<i>/…``; the frontier itself as ``frontier/harmful_refusal`` / ``frontier/over_refusal`` at step ``i``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.align.alphaalign import run_alphaalign
from core.align.configs import (
    ALPHAALIGN_PRESETS,
    CRAFT_PRESETS,
    RATIONAL_PRESETS,
    AlignBase,
    AlphaAlignConfig,
    CraftConfig,
    RationalConfig,
)
from core.align.craft import run_craft
from core.align.rational import run_rational
from core.errors import InputError
from core.jobs.context import JobContext

METHODS: dict[str, tuple[type[AlignBase], Callable[..., dict[str, Any]], dict[str, dict[str, Any]]]] = {
    "alphaalign": (AlphaAlignConfig, run_alphaalign, ALPHAALIGN_PRESETS),
    "craft": (CraftConfig, run_craft, CRAFT_PRESETS),
    "rational": (RationalConfig, run_rational, RATIONAL_PRESETS),
}
# settings a sweep should not vary: they change what is measured, not how the method trains
NOT_SWEEPABLE = {"model", "dataset", "device", "audit", "audit_suites", "audit_max_items", "threads"}


class SweepConfig(BaseModel):
    """One method, one setting, 3-5 values; every other setting from the preset plus ``overrides``."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["alphaalign", "craft", "rational"] = Field(
        "rational", description="Which alignment method to sweep."
    )
    preset: str = Field("demo-cpu", description="The method preset every point starts from.")
    setting: str = Field(
        "sft_epochs", description="The config field to vary (e.g. warm_start_epochs, over_refusal_penalty)."
    )
    values: list[float | int | str | bool] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0], description="3 to 5 values of that setting, one run each."
    )
    overrides: dict[str, Any] = Field(default_factory=dict, description="Other settings for every point.")

    @field_validator("values")
    @classmethod
    def _three_to_five(cls, v: list[Any]) -> list[Any]:
        if not 3 <= len(v) <= 5:
            raise ValueError(f"a sweep runs 3 to 5 values, got {len(v)}")
        if len({json.dumps(x) for x in v}) != len(v):
            raise ValueError("the values must differ from each other")
        return v


def point_configs(cfg: SweepConfig) -> list[AlignBase]:
    """The method config of every point, validated before anything runs (clear messages for a bad sweep)."""
    model_cls, _, presets = METHODS[cfg.method]
    if cfg.preset not in presets:
        raise InputError(f"Unknown preset {cfg.preset!r} for {cfg.method}; choose one of {sorted(presets)}.")
    fields = sorted(set(model_cls.model_fields) - NOT_SWEEPABLE)
    if cfg.setting not in model_cls.model_fields:
        raise InputError(f"{cfg.method} has no setting {cfg.setting!r}; sweep one of: {', '.join(fields)}.")
    if cfg.setting in NOT_SWEEPABLE:
        raise InputError(
            f"{cfg.setting!r} changes what is measured, not how {cfg.method} trains; sweep one of: "
            f"{', '.join(fields)}."
        )
    if cfg.setting in cfg.overrides:
        raise InputError(f"{cfg.setting!r} is both swept and overridden; remove it from overrides.")
    out = []
    for v in cfg.values:
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"Sweep value {v!r} of {cfg.setting} is not a finite number.")
        try:
            out.append(model_cls(**{**presets[cfg.preset], **cfg.overrides, cfg.setting: v}))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err.get("loc", ())) or cfg.setting
            raise InputError(f"Sweep value {v!r} is not valid for {where}: {err.get('msg')}.") from None
    return out


class _PointContext:
    """The sweep's JobContext seen by one point: its own run folder, metrics under ``point<i>/``."""

    def __init__(self, ctx: JobContext, index: int) -> None:
        self._ctx = ctx
        self._prefix = f"point{index}/"
        self.run_dir = Path(ctx.run_dir) / f"point-{index}"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.job_id = f"{ctx.job_id}-p{index}"
        self.resume_from = None  # a point restarts from scratch unless it finished (then it is skipped)

    def emit_metric(self, step: int, **scalars: Any) -> None:
        self._ctx.emit_metric(step, **{self._prefix + k: v for k, v in scalars.items()})

    def log(self, line: str) -> None:
        self._ctx.log(f"[{self._prefix[:-1]}] {line}")

    def __getattr__(self, name: str) -> Any:  # progress, samples, artefacts, cancellation: the sweep's own
        return getattr(self._ctx, name)


def holdout_point(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The run's verdict on its held-out train slice at greedy decoding (``holdout_readout``, offset 0):
    ``{auroc, harmful, benign_counterpart, borderline}`` -- the side of the frontier to choose on."""
    ho = summary.get("holdout_readout")
    at0 = (ho.get("refused") or {}).get("0") if isinstance(ho, dict) else None
    if not isinstance(at0, dict):
        return None
    return {
        "auroc": ho.get("auroc"),
        **{k: at0.get(k) for k in ("harmful", "benign_counterpart", "borderline")},
    }


def frontier_point(value: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """One point of the frontier from a run's summary (rates and Wilson intervals after training on the
    validation split, and the held-out train slice's readout when the run had one)."""
    return {
        "holdout": holdout_point(summary),
        "value": value,
        "harmful_refusal": summary.get("harmful_refusal_after"),
        "harmful_refusal_ci95": summary.get("harmful_refusal_after_ci95"),
        "over_refusal": summary.get("over_refusal_after"),
        "over_refusal_ci95": summary.get("over_refusal_after_ci95"),
        "harmful_refusal_before": summary.get("harmful_refusal_before"),
        "over_refusal_before": summary.get("over_refusal_before"),
        "wall_s": (summary.get("timings_s") or {}).get("total_s"),
    }


def run_sweep(cfg: SweepConfig, ctx: JobContext) -> dict[str, Any]:
    configs = point_configs(cfg)  # every point validated up front
    _, run_fn, _ = METHODS[cfg.method]
    points: list[dict[str, Any]] = []
    ctx.log(f"sweep of {cfg.method} over {cfg.setting} = {cfg.values} (preset {cfg.preset})")
    for i, (value, pcfg) in enumerate(zip(cfg.values, configs, strict=True)):
        pctx = _PointContext(ctx, i)
        done = pctx.run_dir / "summary.json"
        if done.is_file():
            summary = json.loads(done.read_text())
            ctx.log(f"point {i} ({cfg.setting}={value!r}) already finished; reusing its summary")
        else:
            if ctx.should_stop():
                break
            ctx.log(f"point {i}: {cfg.setting}={value!r}")
            summary = run_fn(pcfg, pctx)
            if "cancelled" in summary:
                return {"cancelled": f"during point {i}", "points": points}
        pt = frontier_point(value, summary)
        points.append(pt)
        ctx.emit_metric(
            i,
            **{
                k: v
                for k, v in {
                    "frontier/harmful_refusal": pt["harmful_refusal"],
                    "frontier/over_refusal": pt["over_refusal"],
                    **{f"frontier/holdout_{k}": v for k, v in (pt["holdout"] or {}).items()},
                }.items()
                if v is not None
            },
        )
    result = {"method": cfg.method, "setting": cfg.setting, "points": points}
    (Path(ctx.run_dir) / "frontier.json").write_text(json.dumps(result, indent=2))
    ctx.emit_artefact("frontier", Path(ctx.run_dir) / "frontier.json")
    return result
