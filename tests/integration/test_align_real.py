"""A short real-model alignment run (the embedded SmolLM2-135M): AlphaAlign with a warm start and GRPO on a
few train prompts, through the job-type registry, then the before/after audit on a few validation items.
Checks the plumbing on the real model and tokenizer (chat template, stop token, answer format), not
efficacy -- the efficacy numbers of the demo-cpu presets are in docs/alignment.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.jobs.context import JobContext
from tests.align_helpers import ListSink

pytestmark = pytest.mark.integration


def test_short_alphaalign_run_on_the_default_model(tmp_path: Path) -> None:
    import core.align.jobs  # noqa: F401
    from core.jobs.registry import get_job_type

    jt = get_job_type("align.alphaalign")
    cfg = jt.config_for(
        preset="demo-cpu",
        overrides={
            "max_train_items": 6,
            "monitor_items": 2,
            "monitor_every": 2,
            "warm_start_steps": 2,
            "warm_start_batch": 2,
            "max_steps": 2,
            "prompts_per_step": 1,
            "num_generations": 2,
            "max_completion_length": 16,
            "benign_answer_tokens": 12,
            "audit_max_items": 1,
            "eval_max_new_tokens": 16,
            "save_every": 2,
            "threads": 0,
        },
    )
    sink = ListSink()
    out = jt.run_fn(cfg, JobContext("it", sink=sink, run_dir=tmp_path / "run"))

    m = sink.metrics()
    assert len(m["rewards/safety/mean"]) == 2 and "kl" in m and "warmstart/monitor/format_rate" in m
    # the warm-start targets are in the AlphaAlign format with the model's own benign answers
    targets = (tmp_path / "run" / "data" / "warmstart_targets.json").read_text()
    assert "<safety_reasoning>" in targets and "Sorry, I can't comply" in targets
    for key in (
        "harmful_refusal_before",
        "harmful_refusal_after",
        "over_refusal_before",
        "over_refusal_after",
    ):
        assert 0.0 <= out[key] <= 1.0
    assert (tmp_path / "run" / "audit" / "report.json").is_file()

    from core.capture.models import ModelSpec, load_model

    subject = load_model(ModelSpec(name="default", device="cpu", adapter=out["adapter"]))
    assert subject.name.startswith("default+")
