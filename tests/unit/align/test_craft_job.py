"""CRAFT job on the tiny random Llama: phase-1 head trained in the job on the train traces, then a real 3-step
GRPO run whose reward does a forward pass of the current policy; every reward component is streamed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InputError
from core.jobs.context import JobContext
from tests.align_helpers import TINY_GRPO, ListSink, write_dataset


def test_three_step_craft_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    from core.align.configs import CraftConfig
    from core.align.craft import run_craft

    data = write_dataset(tmp_path / "d.jsonl")
    sink = ListSink()
    ctx = JobContext("t", sink=sink, run_dir=tmp_path / "run")
    cfg = CraftConfig(model=str(tiny_model_dir), dataset=str(data), head_layer=1, **TINY_GRPO)
    out = run_craft(cfg, ctx)

    m = sink.metrics()
    for key in (
        "reward",
        "rewards/craft/mean",
        "craft/R_ls",
        "craft/R_txt",
        "craft/R_cons",
        "craft/cos_safe",
        "craft/p_safe_head",
        "craft/p_safe_text",
        "kl",
        "loss",
        "learning_rate",
        "monitor/over_refusal",
    ):
        assert key in m, key
    assert len(m["craft/R_ls"]) == 3
    assert any(a["name"] == "contrastive-head" for a in sink.of("artefact"))
    # every phase's progress carries its name, in order; each phase starts at step 0 (measuring speed)
    phases = [p.get("phase") for p in sink.of("progress")]
    order = [x for i, x in enumerate(phases) if x and (i == 0 or phases[i - 1] != x)]
    assert order[0] == "head" and "grpo" in order and order.index("grpo") > order.index("head"), order
    # the audit comes last; its own later steps (representation diff, states knew) are named "audit: ..."
    assert "audit" not in order or all(x.startswith("audit") for x in order[order.index("audit") :]), order
    grpo = [p for p in sink.of("progress") if p.get("phase") == "grpo"]
    assert grpo[0]["step"] == 0 and grpo[-1]["step"] == grpo[-1]["total"] == 3
    assert all(p["eta_s"] >= 0 for p in grpo[2:])  # measured on GRPO's own steps
    latent = out["latent"]
    # the latent report is a phase of its own (a forward per answer and subject), counted to its end
    rep = [
        p
        for p in sink.of("progress")
        if p.get("phase") == "audit: CRAFT latent report (base and tuned answers)"
    ]
    assert rep[0]["step"] == 0 and rep[-1]["step"] == rep[-1]["total"] == 2 * latent["n_items"]
    for when in ("before", "after"):
        assert -1.0 <= latent[when]["cos_safe_harmful"] <= 1.0
        assert latent[when]["latent_reasoning_leak"] != 2.0  # a rate (NaN when no harmful item)
    assert "shift_cos_safe_harmful" in latent
    assert (Path(out["adapter"]) / "adapter_config.json").is_file()


def test_craft_needs_traces_or_a_head(tiny_model_dir: Path, tmp_path: Path) -> None:
    import json

    from core.align.configs import CraftConfig
    from core.align.craft import run_craft

    data = write_dataset(tmp_path / "d.jsonl")
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    data.write_text("\n".join(json.dumps(r) for r in rows if r["kind"] != "response") + "\n")
    ctx = JobContext("t", sink=ListSink(), run_dir=tmp_path / "run")
    with pytest.raises(InputError, match="response traces"):
        run_craft(CraftConfig(model=str(tiny_model_dir), dataset=str(data), **TINY_GRPO), ctx)
