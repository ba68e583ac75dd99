"""The ``audit.run`` background job: ``run_audit`` in a worker process, results in the job's run folder.

Registered when this module is imported (the Audit page imports it before submitting; the worker imports it
by the module name recorded on the job). Cheap to import: no torch until the job runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core import checks
from core.errors import InputError
from core.evals.records import worst_items
from core.evals.report import save_audit, scorecard
from core.evals.runner import AuditCancelled, run_audit
from core.evals.suites import AuditOptions, Subject, check_suites
from core.jobs.context import JobContext
from core.jobs.registry import register_job_type

TYPE_NAME = "audit.run"


class AuditJobConfig(BaseModel):
    """Audit subjects on safety suites: refusal, over-refusal, jailbreaks, reasoning leaks, format,
    utility."""

    model_config = ConfigDict(extra="forbid")

    subjects: list[dict[str, Any]] = Field(
        default_factory=lambda: [{"model": {"name": "default"}, "template": "plain"}],
        description="Subjects as JSON: {model: {name, adapter?}, template, steering_vector?, steering?, "
        "name?}. The first is the baseline.",
    )
    suites: list[str] = Field(
        default_factory=lambda: ["refusal", "over_refusal", "jailbreak", "utility"],
        description="refusal, over_refusal, jailbreak, reasoning_leak, format, utility.",
    )
    dataset: str = Field("sample", description="'sample', a JSONL file, or db:<dataset>.")
    split: Literal["validation", "train", "all"] = "validation"
    options: dict[str, Any] = Field(
        default_factory=lambda: AuditOptions().model_dump(),
        description="Generation, attacks and judges (AuditOptions fields).",
    )
    out_dir: str | None = Field(None, description="Where to write the audit (default: the job's run folder).")

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, v: list[str]) -> list[str]:
        return check_suites(v)

    @field_validator("subjects")
    @classmethod
    def _valid_subjects(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not v:
            raise ValueError("add at least one subject")
        for d in v:
            Subject.from_json(d)  # unknown template, steering without a vector, ... -> field error now
        return v

    @field_validator("options")
    @classmethod
    def _full_options(cls, v: dict[str, Any]) -> dict[str, Any]:
        """Validated and completed with defaults; kept as a plain dict so forms can show it as JSON."""
        try:
            return AuditOptions(**v).model_dump()
        except InputError as exc:
            raise checks.nested_errors(exc) from None  # one error per field, path kept (options.batch_size)


def run_audit_job(cfg: AuditJobConfig, ctx: JobContext) -> dict[str, Any]:
    subjects = [Subject.from_json(d) for d in cfg.subjects]
    out = Path(cfg.out_dir).expanduser() if cfg.out_dir else Path(ctx.run_dir) / "audit"
    ctx.log(
        f"auditing {', '.join(s.label for s in subjects)} on {', '.join(cfg.suites)} "
        f"({cfg.dataset}, split {cfg.split})"
    )
    try:
        result = run_audit(
            subjects,
            cfg.suites,
            dataset=cfg.dataset,
            split=cfg.split,
            options=AuditOptions(**cfg.options),
            progress=ctx.emit_progress,
            should_stop=ctx.should_stop,
        )
    except AuditCancelled:
        ctx.log("cancelled before the audit finished; nothing was written")
        return {"cancelled": True}
    save_audit(result, out)
    rows = scorecard(result)
    base = result.subjects[0]
    step = len(result.records)
    ctx.emit_metric(
        step, **{r["suite"]: r["rate"] for r in rows if r["subject"] == base and r["rate"] is not None}
    )
    ctx.emit_metric(
        step, **{f"{r['suite']}/{r['subject']}": r["rate"] for r in rows if r["rate"] is not None}
    )
    for suite in result.meta["suites"]:
        for w in worst_items(result.records, suite, 1):
            ctx.emit_sample(f"[{suite} failure · {w.subject}] {w.prompt}", w.response, step)
    ctx.emit_artefact("audit", out)
    ctx.emit_artefact("report.html", out / "report.html")
    for w in result.meta.get("warnings", []):
        ctx.log(f"note: {w}")
    return {
        "audit_dir": str(out),
        "n_attempts": len(result.records),
        **{r["suite"]: round(r["rate"], 4) for r in rows if r["subject"] == base and r["rate"] is not None},
    }


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"options": {"limit": 5, "max_new_tokens": 32}},
    "validation": {"options": {"max_new_tokens": 64}},
    "alphaalign-format": {
        "subjects": [{"model": {"name": "default"}, "template": "alphaalign"}],
        "suites": ["refusal", "over_refusal", "reasoning_leak", "format"],
        "options": {"max_new_tokens": 96},
    },
}

register_job_type(
    TYPE_NAME,
    AuditJobConfig,
    run_audit_job,
    PRESETS,
    description="Audit subjects on refusal, over-refusal, jailbreak, leak, format and utility suites.",
    key_metric="refusal",
)
