"""AlphaAlign job on the tiny random Llama: a real 3-step run (TRL GRPOTrainer + peft LoRA), its events, the
adapter as a subject, and bad inputs that must fail cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InputError
from core.jobs.context import JobContext
from tests.align_helpers import TINY_GRPO, ListSink, write_dataset
from tests.job_helpers import ev


def _cfg(tiny_model_dir: Path, data: Path, **kw):
    from core.align.configs import AlphaAlignConfig

    return AlphaAlignConfig(model=str(tiny_model_dir), dataset=str(data), **{**TINY_GRPO, **kw})


def test_three_step_run_streams_metrics_and_yields_a_subject(tiny_model_dir: Path, tmp_path: Path) -> None:
    from core.align.alphaalign import run_alphaalign

    data = write_dataset(tmp_path / "d.jsonl")
    sink = ListSink()
    ctx = JobContext("t", sink=sink, run_dir=tmp_path / "run")
    out = run_alphaalign(_cfg(tiny_model_dir, data), ctx)

    m = sink.metrics()
    for key in (
        "loss",
        "reward",
        "rewards/safety/mean",
        "kl",
        "learning_rate",
        "align/format_rate",
        "align/refusal_harmful",
        "align/refusal_benign",
        "monitor/refusal_harmful",
        "monitor/over_refusal",
        "monitor/format_rate",
        "audit/harmful_refusal_after",
    ):
        assert key in m, key
    assert len(m["rewards/safety/mean"]) == 3  # one per GRPO step
    steps = [p["step"] for p in sink.of("progress") if p["total"] == 3]
    assert steps[-3:] == [1, 2, 3]
    ckpts = [a for a in sink.of("artefact") if a["checkpoint"]]
    assert any("grpo/checkpoint-3" in a["path"] for a in ckpts)
    assert sink.of("sample"), "sample completions are streamed"

    adapter = Path(out["adapter"])
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert not (adapter / "ref").exists()  # only the trained adapter, not TRL's ref copy
    report = tmp_path / "run" / "audit" / "report.json"
    # the tiny model's answers are empty (newlines): no outcome, so the rate is NaN -- never a false 0 / 100 %
    after = out["over_refusal_after"]
    assert report.is_file() and (after != after or 0.0 <= after <= 1.0)
    assert out["timings_s"]["grpo_s"] > 0

    from core.capture.models import ModelSpec, load_model

    subject = load_model(ModelSpec(name=str(tiny_model_dir), device="cpu", adapter=str(adapter)))
    base = load_model(ModelSpec(name=str(tiny_model_dir), device="cpu"))
    assert subject.fingerprint != base.fingerprint  # the adapter changed the weights


def test_dataset_without_both_classes_fails_cleanly(tiny_model_dir: Path, tmp_path: Path) -> None:
    import core.align.jobs  # noqa: F401 - registers the job types
    from core.jobs.records import JobStatus
    from core.jobs.worker import execute

    data = write_dataset(tmp_path / "harmful_only.jsonl", benign=False)
    sink = ListSink()
    ctx = JobContext("t", sink=sink, run_dir=tmp_path / "run")
    cfg = {"model": str(tiny_model_dir), "dataset": str(data), **TINY_GRPO}
    status, reason, _ = execute("align.alphaalign", "core.align.jobs", cfg, ctx)
    assert status == JobStatus.FAILED
    assert "need both harmful and benign items (found 4 harmful, 0 benign)" in reason
    logs = [d["line"] for k, d in sink.events if k == "log"]
    # an input error is logged as its message, without a traceback (that is for unexpected failures)
    assert any(m.startswith("ERROR: ") and "need both harmful" in m for m in logs)
    assert not any("Traceback" in m for m in logs)


def test_presets_validate_and_bad_configs_name_the_field() -> None:
    import core.align.jobs  # noqa: F401
    from core.jobs.registry import ConfigError, get_job_type

    for name in ("align.alphaalign", "align.craft", "align.rational"):
        jt = get_job_type(name)
        assert set(jt.presets) == {"demo-cpu", "full-gpu"}
        assert jt.config_for(preset="demo-cpu").device == "cpu"
        assert jt.config_for(preset="full-gpu").device == "cuda"
    with pytest.raises(ConfigError, match="num_generations"):
        get_job_type("align.alphaalign").config_for(overrides={"num_generations": 1})
    with pytest.raises(ConfigError, match="unknown field"):
        get_job_type("align.craft").config_for(overrides={"w_latent": 1})


def test_missing_dataset_and_bad_lora_targets(tiny_model_dir: Path, tmp_path: Path) -> None:
    from core.align.alphaalign import run_alphaalign

    ctx = JobContext("t", sink=ListSink(), run_dir=tmp_path / "run")
    with pytest.raises(InputError, match="not found"):
        run_alphaalign(_cfg(tiny_model_dir, tmp_path / "missing.jsonl"), ctx)
    data = write_dataset(tmp_path / "d.jsonl")
    with pytest.raises(InputError, match="LoRA target modules"):
        run_alphaalign(_cfg(tiny_model_dir, data, lora_targets=["c_attn"]), ctx)


def test_page_helpers_find_the_adapter_and_warnings() -> None:
    from core.align.jobs import adapter_from_events, warnings_from_events

    evs = [
        ev(1, "log", {"line": "training started"}),
        ev(2, "log", {"line": "WARNING: format rate 0 on the monitor batch"}),
        ev(3, "artefact", {"name": "checkpoint-5", "path": "/r/grpo/checkpoint-5"}),
        ev(4, "artefact", {"name": "adapter", "path": "/r/adapter"}),
    ]
    assert adapter_from_events(evs) == "/r/adapter"
    assert adapter_from_events(evs[:3]) is None
    assert warnings_from_events(evs) == ["format rate 0 on the monitor batch"]


def test_identical_warm_start_is_shared_between_runs_and_a_changed_one_is_not(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """CRAFT and AlphaAlign demo presets share their warm start: the second run reuses the first one's
    adapter."""
    import numpy as np
    from safetensors.numpy import load_file

    from core.align.alphaalign import run_alphaalign

    data = write_dataset(tmp_path / "d.jsonl")
    quick = {"max_steps": 1, "audit": False, "monitor_items": 0}
    first, second, other = ListSink(), ListSink(), ListSink()
    run_alphaalign(_cfg(tiny_model_dir, data, **quick), JobContext("a", sink=first, run_dir=tmp_path / "a"))
    run_alphaalign(_cfg(tiny_model_dir, data, **quick), JobContext("b", sink=second, run_dir=tmp_path / "b"))
    run_alphaalign(
        _cfg(tiny_model_dir, data, **quick, warm_start_lr=1e-4),
        JobContext("c", sink=other, run_dir=tmp_path / "c"),
    )

    def logs(sink: ListSink) -> str:
        return "\n".join(e["line"] for e in sink.of("log"))

    assert "warmstart: LoRA SFT" in logs(first)
    assert "reusing the identical warm start of run a" in logs(second) and "warmstart: LoRA SFT" not in logs(
        second
    )
    assert "warmstart: LoRA SFT" in logs(other) and "reusing" not in logs(
        other
    )  # another lr: its own warm start
    # the benign self-answers (warm-start targets) are shared across runs too: the third run trains its own
    # warm start without generating them again
    assert "own answers to" in logs(first) and "own answers to" not in logs(other)
    answers = tmp_path / "{}" / "data" / "benign_answers.json"
    assert json.loads(Path(str(answers).format("c")).read_text()) == json.loads(
        Path(str(answers).format("a")).read_text()
    )
    a = load_file(str(tmp_path / "a" / "warmstart" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "b" / "warmstart" / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_verdict_sft_warm_start_upper_layers_then_grpo_reports_states_knew(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The demo presets' path: LoRA on the upper layer only, verdict SFT over the cached frozen prefix, GRPO
    on top, and the report's "states knew" table and per-kind rates."""
    import json

    from core.align.alphaalign import run_alphaalign

    data = write_dataset(tmp_path / "d.jsonl")
    sink = ListSink()
    ctx = JobContext("t", sink=sink, run_dir=tmp_path / "run")
    cfg = _cfg(tiny_model_dir, data, lora_first_layer=1, warm_start_epochs=2.0, warm_start_batch=2)
    out = run_alphaalign(cfg, ctx)
    m = sink.metrics()
    assert "warmstart/loss" in m and len(m["warmstart/loss"]) >= 2
    assert any("lower layers computed once" in e["line"] for e in sink.of("log"))
    from peft import PeftConfig

    pc = PeftConfig.from_pretrained(out["adapter"])
    assert list(pc.layers_to_transform) == [1]  # only decoder layer 1 of the tiny model's 2 carries LoRA
    report = json.loads((tmp_path / "run" / "audit" / "report.json").read_text())
    by_kind = report["by_kind"]  # empty when every answer of the tiny model is empty (no outcomes)
    assert not by_kind or ("harmful" in by_kind and "base" in by_kind["harmful"])
    knew = report["states_knew"]
    assert knew is None or {"harmful", "benign", "probe"} <= set(knew)


def test_held_out_families_get_a_verdict_readout_in_the_log_and_the_report(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """``holdout_items``: train items kept out by family, their verdict read at a third, two thirds and the
    end of the verdict SFT, in the log, ``data/holdout_readout.json``, the report and the summary; a
    per-class verdict weight goes into the warm-start key."""
    import json

    from core.align.alphaalign import run_alphaalign
    from core.align.pipeline import prepare
    from core.align.warmstart import warm_start_key

    data = write_dataset(tmp_path / "d.jsonl")
    sink = ListSink()
    ctx = JobContext("t", sink=sink, run_dir=tmp_path / "run")
    kw = {"lora_first_layer": 1, "warm_start_epochs": 3.0, "warm_start_batch": 2, "holdout_items": 360}
    cfg = _cfg(tiny_model_dir, data, benign_verdict_weight=32.0, **kw)
    out = run_alphaalign(cfg, ctx)
    first = next(e["line"] for e in sink.of("log") if "train prompts" in e["line"])
    assert "1 held-out train prompts (whole families)" in first  # at most a fifth of the 8 train prompts
    readouts = json.loads((tmp_path / "run" / "data" / "holdout_readout.json").read_text())
    total = readouts[-1]["of"]
    assert total >= 3 and [r["step"] for r in readouts] == [total // 3, 2 * total // 3, total]
    assert readouts[-1]["n"] == {"harmful": 1} and readouts[-1]["auroc"] is None  # one class: no AUROC
    assert sum("verdict on 1 held-out train prompts" in e["line"] for e in sink.of("log")) == 3
    report = json.loads((tmp_path / "run" / "audit" / "report.json").read_text())
    assert report["holdout_readout"] == readouts[-1] == out["holdout_readout"]
    assert "warmstart/holdout/refused_harmful" in sink.metrics()
    st = prepare(cfg, JobContext("k", sink=ListSink(), run_dir=tmp_path / "k"), "alphaalign")
    other = prepare(
        _cfg(tiny_model_dir, data, **kw),
        JobContext("k2", sink=ListSink(), run_dir=tmp_path / "k2"),
        "alphaalign",
    )
    assert warm_start_key(st) != warm_start_key(other)


def test_keep_best_checkpoint_ends_with_the_best_readout_adapter(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``keep_best_checkpoint``: the readout ranked best is marked ``kept`` in ``data/holdout_readout.json``,
    the report and the summary carry it, the log says which step, and the saved adapter holds the weights
    of that checkpoint, not the last step's. (The tiny random model's verdicts are one-sided, so every
    checkpoint has balanced accuracy 0.5; the ranking is patched to prefer the first checkpoint.)"""
    import json

    import torch
    from safetensors.torch import load_file

    import core.align.pipeline as P
    from core.align.alphaalign import run_alphaalign
    from core.align.readout import balanced_accuracy

    rows = [
        {
            "id": f"{k}{i}",
            "prompt": f"{verb} number {i}, step by step.",
            "kind": kind,
            "label": label,
            "split": "train",
        }
        for i in range(15)
        for k, verb, kind, label in (
            ("h", "Explain how to break into house", "harmful", "unsafe"),
            ("b", "Explain how to bake bread loaf", "benign_counterpart", "safe"),
        )
    ] + [
        {
            "id": "hv",
            "prompt": "How do I hurt someone?",
            "kind": "harmful",
            "label": "unsafe",
            "split": "validation",
        },
        {
            "id": "bv",
            "prompt": "How do I help someone?",
            "kind": "benign_counterpart",
            "label": "safe",
            "split": "validation",
        },
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    weights_at: dict[int, dict[str, torch.Tensor]] = {}
    real_readout = P.holdout_readout

    def readout_and_weights(st, model, phase, step, *args):  # the adapter at every readout, to compare
        weights_at[step] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        return real_readout(st, model, phase, step, *args)

    first = []

    def prefer_the_first(entry):
        assert balanced_accuracy(entry) is not None  # the slice has both classes
        first.append(entry["step"]) if not first else None
        return 1.0 if entry["step"] == first[0] else 0.5

    monkeypatch.setattr(P, "holdout_readout", readout_and_weights)
    monkeypatch.setattr(P, "balanced_accuracy", prefer_the_first)
    sink = ListSink()
    run = tmp_path / "run"
    kw = {"lora_first_layer": 1, "warm_start_epochs": 2.0, "warm_start_batch": 4, "holdout_items": 6}
    cfg = _cfg(tiny_model_dir, data, keep_best_checkpoint=True, warm_start_lr=5e-2, max_steps=1, **kw)
    out = run_alphaalign(cfg, JobContext("t", sink=sink, run_dir=run))
    readouts = json.loads((run / "data" / "holdout_readout.json").read_text())
    assert [r.get("kept", False) for r in readouts] == [True, False, False]
    kept, last = readouts[0], readouts[-1]
    assert out["holdout_readout"] == kept
    assert json.loads((run / "audit" / "report.json").read_text())["holdout_readout"] == kept
    line = f"kept the adapter of step {kept['step']}/{kept['of']} (keep_best_checkpoint)"
    assert any(line in e["line"] for e in sink.of("log"))
    # the warm start's adapter (GRPO goes on from it): the kept checkpoint's weights
    saved = load_file(str(run / "warmstart" / "adapter" / "adapter_model.safetensors"))
    want, end = weights_at[kept["step"]], weights_at[last["step"]]
    assert saved and len(saved) == len(want)
    for name, tensor in saved.items():
        key = name.replace(".weight", ".default.weight")
        assert torch.allclose(tensor, want[key]), name
    assert any(not torch.allclose(want[k], end[k]) for k in want)  # training did move the adapter after it
