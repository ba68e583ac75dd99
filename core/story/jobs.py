"""``story.build`` as a job type (Jobs page, ``reasonscope story build``): reuse what exists, run the rest.

* the alignment run: ``run`` (a job id) if given, else the newest succeeded alignment job with a summary,
  else a new ``align.<method>`` job with the ``demo-cpu`` preset, submitted to the job backend and waited for;
* the probe: ``probe`` (a saved name or folder) if given, else the newest saved probe set of this model, else
  one trained on the sample data's train split and saved as ``story-probe``;
* then ``core.story.build.build_story`` (seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.artefacts import list_artefacts
from core.capture.models import LoadedModel, ModelSpec, load_model
from core.checks import SEED_MAX
from core.errors import InputError
from core.jobs.backend import get_backend
from core.jobs.context import JobContext
from core.jobs.records import JobStatus
from core.jobs.registry import register_job_type
from core.jobs.store import JobStore
from core.probes.artefacts import save_probe_set
from core.probes.features import load_items
from core.probes.workflow import ProbeRequest, train_from_items
from core.story.build import build_story
from core.story.bundle import StoryManifest

Say = Callable[[str], None]
STORY_PROBE = "story-probe"


class StoryBuildConfig(BaseModel):
    """Build the Story page's bundle from an alignment run and a probe (reused when they exist)."""

    model_config = ConfigDict(extra="forbid")
    model: str = "default"
    device: Literal["auto", "cpu", "cuda", "mps"] = "cpu"
    run: str | None = None  # alignment job id to reuse
    probe: str | None = None  # saved probe set (name or folder) to reuse
    # checked here, before anything runs: a bad value must not start a 20-minute alignment job
    method: Literal["alphaalign", "craft", "rational"] = "alphaalign"  # when a run has to be made
    preset: Literal["demo-cpu", "full-gpu"] = "demo-cpu"
    max_new_tokens: int = Field(32, ge=1, le=1024)
    seed: int = Field(0, ge=0, le=SEED_MAX)


def _has_summary(run_dir: str) -> bool:
    return (Path(run_dir) / "summary.json").is_file() and (
        Path(run_dir) / "audit" / "records.jsonl"
    ).is_file()


def find_run(run: str | None, store: JobStore) -> tuple[str, str] | None:
    """``(job id, run folder)`` of the given job, or of the newest finished alignment job with an audit."""
    if run:
        rec = store.get(run)
        if not _has_summary(rec.run_dir):
            raise InputError(
                f"Job {run} has no summary.json / audit records in {rec.run_dir}: is it a finished "
                "alignment run? `reasonscope jobs list` shows the jobs."
            )
        return rec.id, rec.run_dir
    for rec in store.list(status=[JobStatus.SUCCEEDED]):
        if rec.type.startswith("align.") and rec.type != "align.sweep" and _has_summary(rec.run_dir):
            return rec.id, rec.run_dir
    return None


def run_alignment(cfg: StoryBuildConfig, say: Say, poll_s: float = 10.0) -> tuple[str, str]:
    """Submit ``align.<method>`` with the preset and wait for it (20-50 min on CPU)."""
    backend = get_backend()
    job_id = backend.submit(f"align.{cfg.method}", {"model": cfg.model}, preset=cfg.preset, identity="story")
    say(f"no finished alignment run: started {job_id} (align.{cfg.method}, preset {cfg.preset})")
    while True:
        rec = backend.status(job_id)
        if rec.is_terminal:
            break
        time.sleep(poll_s)
    if rec.status != JobStatus.SUCCEEDED or not _has_summary(rec.run_dir):
        raise InputError(f"Alignment job {job_id} ended {rec.status.value}: {rec.error or 'no summary'}.")
    return job_id, rec.run_dir


def find_or_train_probe(probe: str | None, model: LoadedModel, say: Say) -> str:
    if probe:
        return probe
    mine = [a for a in list_artefacts(kind="probe_set") if a.model_fingerprint == model.fingerprint]
    if mine:
        say(f"reusing saved probe {mine[0].name}")
        return str(mine[0].path)
    say("no saved probe for this model: training one on the sample data")
    ds_name, items = load_items(file=None, dataset=None)
    ps, _ = train_from_items(model, items, ds_name, ProbeRequest())
    return str(save_probe_set(ps, STORY_PROBE, overwrite=True))


def assemble(
    cfg: StoryBuildConfig, *, say: Say, root: Path | None = None, store: JobStore | None = None
) -> StoryManifest:
    """Everything ``story build`` does, in order; ``say`` reports each stage."""
    store = store or JobStore()
    found = find_run(cfg.run, store) or run_alignment(cfg, say)
    job_id, run_dir = found
    say(f"alignment run {job_id}: {run_dir}")
    model = load_model(ModelSpec(name=cfg.model, device=cfg.device))
    probe = find_or_train_probe(cfg.probe, model, say)
    adapter = Path(run_dir) / "adapter"
    tuned = (
        load_model(ModelSpec(name=cfg.model, device=cfg.device, adapter=str(adapter)))
        if adapter.is_dir()
        else None
    )
    return build_story(
        model,
        run_dir=run_dir,
        probe=probe,
        job_id=job_id,
        tuned=tuned,
        root=root,
        jobs_db=store.path,
        max_new_tokens=cfg.max_new_tokens,
        seed=cfg.seed,
        progress=say,
    )


def run_story_job(cfg: StoryBuildConfig, ctx: JobContext) -> dict[str, Any]:
    m = assemble(cfg, say=ctx.log)
    return {"job_id": m.job_id, "run_dir": m.run_dir, "probe": m.probe["name"]}


register_job_type(
    "story.build",
    StoryBuildConfig,
    run_story_job,
    {"default-model": {}},
    description="Story page bundle: reuse (or run) an alignment run and a probe, then capture the pictures.",
)
