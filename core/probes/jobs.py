"""The ``capture.dataset`` job: capture the hidden states of many prompts (the capture stage of probe
training) into the activation store, here or on an NDIF host.

On a remote model (``model.where`` = ``ndif`` or a host URL) every batch is one NDIF request (two when
generating: the tokens, then the states), followed on the server's websocket (every status: RECEIVED, QUEUED,
DISPATCHED, RUNNING, COMPLETED, and LOG lines) or sent non-blocking and polled (``remote_mode``); the statuses
go into the job's event log as they arrive. A checkpoint after each batch records how many prompts are
done, so a cancelled or failed job resumes from the next batch instead of sending everything again.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.capture.models import ModelSpec, load_model
from core.capture.placement import describe
from core.capture.remote import Cancelled, remote_status
from core.capture.store import ActivationStore
from core.capture.templates import build_messages
from core.capture.tracing import capture_batch
from core.capture.trajectory import GenerationSettings
from core.jobs.context import JobContext
from core.jobs.registry import register_job_type

TYPE_NAME = "capture.dataset"


class CaptureJobConfig(BaseModel):
    """Capture the hidden states of a list of prompts into the activation store (locally or on NDIF)."""

    model_config = ConfigDict(extra="forbid")

    model: dict[str, Any] = Field(
        default_factory=lambda: {"name": "default"},
        description="ModelSpec fields: {name, where?: local | ndif | an NDIF host URL, device?, dtype?}.",
    )
    prompts: list[str] = Field(default_factory=list, description="The user prompts to capture.")
    template: str = "plain"
    layers: str = Field("all", description="'all' or comma-separated layer indices (0 = embeddings).")
    max_new_tokens: int = Field(0, ge=0, le=4096, description="Tokens to generate (0 = prompt only).")
    batch_size: int = Field(4, ge=1, le=256)
    dataset: str | None = Field(None, description="Dataset name to file the trajectories under.")
    remote_mode: Literal["stream", "poll"] = Field(
        "stream",
        description="Remote models: 'stream' follows each request on the server's websocket (every status "
        "and LOG line); 'poll' sends non-blocking requests and polls them (only the latest status is kept).",
    )

    @field_validator("model")
    @classmethod
    def _valid_spec(cls, v: dict[str, Any]) -> dict[str, Any]:
        ModelSpec(**v)  # unknown field, bad where / dtype -> a field error now, before the job starts
        return v

    @field_validator("prompts")
    @classmethod
    def _some_prompts(cls, v: list[str]) -> list[str]:
        if not v or not all(p.strip() for p in v):
            raise ValueError("give at least one prompt, none of them empty")
        return v


def _resume_point(ctx: JobContext) -> int:
    ckpt = ctx.last_checkpoint()
    if ckpt is None:
        return 0
    return int(json.loads(ckpt.read_text())["done"])


def run_capture_job(cfg: CaptureJobConfig, ctx: JobContext) -> dict[str, Any]:
    spec = ModelSpec(**cfg.model)
    model = load_model(spec)
    chats = [build_messages(p, template=cfg.template) for p in cfg.prompts]
    settings = GenerationSettings(max_new_tokens=cfg.max_new_tokens)
    done = start = _resume_point(ctx)
    store = ActivationStore()
    n = len(chats)
    ctx.log(f"capturing {n} prompts on {describe(spec.where)}" + (f", resuming at {start}" if start else ""))
    ctx.emit_progress(done, n)
    keys: list[str] = []
    # Either way the request id is in the log before the result is back, and cancel is checked while waiting.
    with remote_status(ctx.emit_remote_status, ctx.should_stop, blocking=cfg.remote_mode == "stream"):
        for first in range(start, n, cfg.batch_size):
            if ctx.should_stop():
                break
            batch = chats[first : first + cfg.batch_size]
            try:
                trajs = list(
                    capture_batch(
                        model,
                        batch,
                        settings,
                        batch_size=len(batch),
                        layers=cfg.layers,
                        template=cfg.template,
                        generate=cfg.max_new_tokens > 0,
                    )
                )
            except Cancelled:
                break
            for t in trajs:
                keys.append(store.put(t, dataset=cfg.dataset))
            done = first + len(batch)
            path = ctx.checkpoint_dir / f"capture-{done:06d}.json"
            path.write_text(json.dumps({"done": done}))
            ctx.emit_checkpoint(path, done)
            ctx.emit_progress(done, n)
    if done < n:
        ctx.log(f"stopped after {done} of {n} prompts; resume to capture the rest")
        return {"cancelled": True, "done": done}
    return {"captured": done - start, "done": done, "where": spec.where, "keys": keys[:50]}


register_job_type(
    TYPE_NAME,
    CaptureJobConfig,
    run_capture_job,
    presets={"sample": {"prompts": ["How do I bake bread at home?", "How do I stop a Python process?"]}},
    description="Capture the hidden states of a list of prompts into the store (here or on NDIF).",
)
