"""The ``audit.run`` job type: config validation (field errors) and the run function with a recording
context."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from core.evals.jobs import TYPE_NAME, run_audit_job
from core.jobs.registry import get_job_type


class FakeCtx:
    def __init__(self, run_dir):
        self.run_dir, self.events, self.stop = run_dir, [], False

    def emit_progress(self, step, total):
        self.events.append(("progress", step, total))

    def emit_metric(self, step, **values):
        self.events.append(("metric", step, values))

    def emit_sample(self, prompt, completion, step=None):
        self.events.append(("sample", prompt, completion))

    def emit_artefact(self, name, path, **kw):
        self.events.append(("artefact", name, str(path)))

    def log(self, line):
        self.events.append(("log", line))

    def should_stop(self):
        return self.stop


def test_config_errors_name_the_field():
    jt = get_job_type(TYPE_NAME)
    assert jt.config_for(preset="quick").options["limit"] == 5
    json.dumps(jt.config_for().model_dump())  # the Jobs page shows every field as JSON
    for bad, field in [
        ({"suites": ["refusals"]}, "suites"),
        ({"options": {"batch_size": 0}}, "options.batch_size"),
        ({"subjects": [{"template": "fancy"}]}, "subjects"),
    ]:
        with pytest.raises(InputError) as err:
            jt.config_for(config=bad)
        assert field in str(err.value)


def test_run_function_emits_progress_metrics_and_artefacts(tiny_model_dir, tmp_path, rs_home):
    jt = get_job_type(TYPE_NAME)
    cfg = jt.config_for(
        config={
            "subjects": [{"model": {"name": str(tiny_model_dir), "device": "cpu"}}],
            "suites": ["refusal", "utility"],
            "options": {"limit": 2, "max_new_tokens": 3},
        }
    )
    ctx = FakeCtx(tmp_path)
    out = run_audit_job(cfg, ctx)
    # the tiny model's random words are neither refusals nor useful answers
    assert out["n_attempts"] == 4 and out["refusal"] == 0.0 and out["utility"] == 0.0
    kinds = [e[0] for e in ctx.events]
    assert "progress" in kinds and "metric" in kinds
    assert ("artefact", "report.html", str(tmp_path / "audit" / "report.html")) in ctx.events
    assert (tmp_path / "audit" / "records.jsonl").is_file()
    ctx2 = FakeCtx(tmp_path / "b")
    ctx2.stop = True  # cancelled before the first batch
    assert run_audit_job(cfg, ctx2) == {"cancelled": True} and not (tmp_path / "b" / "audit").exists()
