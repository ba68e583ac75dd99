"""A small synthetic alignment run (audit, report, representation diff, job event log) and a probe set for the
tiny model, made with the core functions that write the real ones; then a story bundle built on them with the
real ``build_story`` (tiny model, so seconds)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.evals.report import save_audit
from core.evals.result import scorecard
from core.evals.runner import run_audit
from core.evals.suites import AuditOptions, Subject
from core.jobs.records import JobRecord, JobStatus
from core.jobs.store import JobStore
from core.probes.artefacts import save_probe_set
from core.probes.linear import train_probes
from core.story.build import build_story
from core.story.bundle import StoryManifest
from tests.align_report_fakes import states_knew_block

JOB_ID = "align-alphaalign-20261201-000000-story1"
REFUSAL = "I'm sorry, but I can't help with that."


def _respond(subject: Any, prompts: list[str]) -> list[str]:
    """Base complies with everything; tuned refuses every other harmful-looking request (by position)."""
    if subject.label == "base":
        return [f"Sure, here is how: step 1 for {p[:30]} ..." for p in prompts]
    return [REFUSAL if i % 3 else f"Sure: {p[:20]}" for i, p in enumerate(prompts)]


def _report(result: Any) -> dict[str, Any]:
    rates, comparisons = {}, {}
    for r in scorecard(result):
        ci = [r["ci_low"], r["ci_high"]]
        rates[f"{r['subject']}/{r['suite']}"] = {"rate": r["rate"], "ci95": ci, "n": r["n"]}
        if r["delta"] is not None:
            comparisons[r["suite"]] = {
                "delta": r["delta"],
                "delta_ci95": r["delta_ci"],
                "p_mcnemar": r["p_mcnemar"],
                "verdict": r["verdict"],
            }
    knew = states_knew_block()
    return {"template": "plain", "rates": rates, "comparisons": comparisons, "states_knew": knew}


def make_run(home: Path, n_layers: int) -> tuple[str, Path]:
    """A finished alignment job in the home's job store with its run folder."""
    run = home / "runs" / JOB_ID
    res = run_audit(
        [Subject(name="base"), Subject(name="tuned")],
        ["refusal", "over_refusal"],
        options=AuditOptions(limit=12),
        responder=_respond,
    )
    audit = save_audit(res, run / "audit", html=False)
    (audit / "report.json").write_text(json.dumps(_report(res)))
    layers = list(range(n_layers))
    diff = [0.0] + [0.01 * i * i for i in range(1, n_layers)]
    (audit / "representation_diff.json").write_text(
        json.dumps(
            {
                "layers": layers,
                "cos_distance": diff,
                "cos_distance_harmful": [1.2 * d for d in diff],
                "cos_distance_benign": [0.8 * d for d in diff],
                "most_changed_layer": layers[-1],
            }
        )
    )
    (run / "summary.json").write_text(json.dumps({"method": "alphaalign"}))
    store = JobStore()
    store.create(
        JobRecord(
            id=JOB_ID,
            type="align.alphaalign",
            config={},
            status=JobStatus.SUCCEEDED,
            created_at=time.time(),
            run_dir=str(run),
        )
    )
    for step in range(1, 9):
        store.append(
            JOB_ID,
            "metric",
            {
                "step": step,
                "values": {"reward": 0.1 * step, "loss": 2 / step, "align/refusal_harmful": step / 20},
            },
            attempt=1,
        )
    store.append(JOB_ID, "metric", {"step": 8, "values": {"align/refusal_benign": 0.04}}, attempt=1)
    store.close()
    return JOB_ID, run


def make_probe(model: Any) -> Path:
    """A logistic probe set on random states of the tiny model's width (every hidden-state layer)."""
    rng = np.random.default_rng(0)
    n_layers = model.n_layers + 1
    X = rng.normal(size=(40, n_layers, model.d_model)).astype(np.float32)
    y = np.array(["unsafe", "safe"] * 20)
    X[y == "unsafe"] += 0.5
    ps = train_probes(
        X,
        y,
        k=3,
        meta={
            "model_fingerprint": model.fingerprint,
            "model_name": model.name,
            "dataset": "toy",
            "seed": 0,
            "positions": "post_instruction",  # what `probe train` saves by default
            "template": "plain",
        },
    )
    return save_probe_set(ps, "story-test-probe", overwrite=True)


def make_bundle(home: Path, model: Any) -> StoryManifest:
    job_id, run = make_run(home, model.n_layers + 1)
    probe = make_probe(model)
    return build_story(model, run_dir=run, probe=probe, job_id=job_id, max_new_tokens=6)
