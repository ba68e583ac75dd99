"""Registers the alignment job types with ``core.jobs``: ``align.alphaalign``, ``align.craft``,
``align.rational``.

Imported by ``core.jobs.registry.load_builtin_types`` (listed in its BUILTIN_MODULES) and by the worker
process; it imports no torch -- the run functions import the training stack when they start.
"""

from __future__ import annotations

from typing import Any

from core.align.alphaalign import run_alphaalign
from core.align.configs import (
    ALPHAALIGN_PRESETS,
    CRAFT_PRESETS,
    RATIONAL_PRESETS,
    AlphaAlignConfig,
    CraftConfig,
    RationalConfig,
)
from core.align.craft import run_craft
from core.align.rational import run_rational
from core.align.sweep import SweepConfig, run_sweep
from core.jobs.context import JobContext
from core.jobs.registry import register_job_type
from core.jobs.view import warnings


def run_alphaalign_job(cfg: AlphaAlignConfig, ctx: JobContext) -> dict[str, Any]:
    return run_alphaalign(cfg, ctx)


def run_craft_job(cfg: CraftConfig, ctx: JobContext) -> dict[str, Any]:
    return run_craft(cfg, ctx)


def run_rational_job(cfg: RationalConfig, ctx: JobContext) -> dict[str, Any]:
    return run_rational(cfg, ctx)


JOB_TYPES = {
    "align.alphaalign": (
        AlphaAlignConfig,
        run_alphaalign_job,
        ALPHAALIGN_PRESETS,
        "AlphaAlign: teach the model to reason about safety first (verifiable reward, GRPO).",
    ),
    "align.craft": (
        CraftConfig,
        run_craft_job,
        CRAFT_PRESETS,
        "CRAFT: GRPO on latent + text safety rewards over a contrastive head of hidden states.",
    ),
    "align.rational": (
        RationalConfig,
        run_rational_job,
        RATIONAL_PRESETS,
        "Rational: self-generated safety reasoning, verifier-filtered, then LoRA SFT.",
    ),
}

for _name, (_cfg, _fn, _presets, _desc) in JOB_TYPES.items():
    register_job_type(_name, _cfg, _fn, _presets, description=_desc, key_metric="harmful_refusal_after")


def run_sweep_job(cfg: SweepConfig, ctx: JobContext) -> dict[str, Any]:
    return run_sweep(cfg, ctx)


register_job_type(
    "align.sweep",
    SweepConfig,
    run_sweep_job,
    {
        "rational-epochs": {"method": "rational", "setting": "sft_epochs", "values": [0.5, 1.0, 2.0]},
        "alphaalign-warmstart": {
            "method": "alphaalign",
            "setting": "warm_start_epochs",
            "values": [0.5, 1.0, 2.0],
        },
        "craft-over-refusal": {
            "method": "craft",
            "setting": "over_refusal_penalty",
            "values": [0.0, 0.5, 1.0],
        },
    },
    description="Frontier: one alignment method at 3-5 values of one setting (harmful refusal vs "
    "over-refusal).",
    key_metric="frontier/harmful_refusal",
)


# ---- helpers for pages / CLI (pure: JobEvents in, values out) ----------------------------------------------
def adapter_from_events(events: list[Any]) -> str | None:
    """The final adapter folder of an alignment job (its ``adapter`` artefact), or None before it exists.
    Make it a subject with ``ModelSpec(name=<the job's model>, adapter=<this>)``."""
    path = None
    for ev in events:
        if ev.kind == "artefact" and ev.data.get("name") == "adapter":
            path = ev.data.get("path")
    return path


def warnings_from_events(events: list[Any]) -> list[str]:
    """Log lines an alignment job flagged as warnings (e.g. the format rate stuck at 0), for a page banner."""
    return warnings(events)
