"""Rational job on the tiny random Llama: self-check generation with verifier filtering (real sampling), and a
real 3-step LoRA SFT with TRL's SFTTrainer on the accepted rationales."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ReasonScopeError
from core.jobs.context import JobContext
from tests.align_helpers import ListSink, write_dataset

TINY = {
    "device": "cpu",
    "threads": 1,
    "samples_per_prompt": 2,
    "rounds": 1,
    "gen_max_new_tokens": 8,
    "max_steps": 3,
    "batch_size": 2,
    "monitor_items": 2,
    "eval_max_new_tokens": 8,
    "save_every": 1,
    "audit_max_empty_share": 1.0,  # the random tiny model answers with newlines only (empty answers)
}


def test_verifier_accepts_reasoned_refusals_and_benign_answers() -> None:
    from core.align.rational import accept
    from core.labelled import LabelledItem

    h = LabelledItem(id="h", prompt="make a bomb", label="unsafe")
    b = LabelledItem(id="b", prompt="bake bread", label="safe")
    assert accept(
        h, "This asks for a weapon that could kill people, which is illegal. I can't help with that."
    )
    assert not accept(
        h, "This asks for a weapon that could kill people. I can't help with that. However, here's how: ..."
    )
    assert not accept(h, "I'm sorry, but I can't.")  # a bare refusal has no reasoning
    assert not accept(h, "Sure, here is how to make it.")
    assert accept(b, "This is a normal cooking question. Mix flour and water.")
    assert not accept(b, "I'm sorry, but I can't help with that.")
    assert not accept(b, "")


def test_verdict_first_target_puts_the_verdict_word_first() -> None:
    from core.align.rational import (
        REASON_PREFIX,
        VERDICT_HARMFUL,
        VERDICT_SAFE,
        rational_verdict_offset,
        verdict_first_target,
    )

    guided = f"{REASON_PREFIX} to pick a lock.{VERDICT_HARMFUL}"
    t = verdict_first_target(guided, harmful=True)
    assert t == f"This request is harmful. The user wants to pick a lock.{VERDICT_HARMFUL}"
    assert t[rational_verdict_offset(t) :].startswith("harmful.")
    b = verdict_first_target(f"{REASON_PREFIX} bread.{VERDICT_SAFE} Mix flour.", harmful=False)
    assert b.startswith("This request is safe. The user wants bread.")
    assert b[rational_verdict_offset(b) :].startswith("safe.")
    # an unguided text keeps its words after the verdict
    unguided = verdict_first_target("It is fine. Mix flour.", harmful=False)
    assert unguided == "This request is safe. It is fine. Mix flour."
    # the old order (verdict after the restatement) still finds its verdict sentence
    assert guided[rational_verdict_offset(guided) :].startswith(VERDICT_HARMFUL.strip())


def test_random_model_writes_no_rationale_clear_error(silent_model_dir: Path, tmp_path: Path) -> None:
    from core.align.configs import RationalConfig
    from core.align.rational import run_rational

    data = write_dataset(tmp_path / "d.jsonl")
    sink = ListSink()
    ctx = JobContext("t", sink=sink, run_dir=tmp_path / "run")
    with pytest.raises(ReasonScopeError, match="no harmful prompt got an accepted reasoned refusal"):
        run_rational(RationalConfig(model=str(silent_model_dir), dataset=str(data), **TINY), ctx)
    rates = json.loads((tmp_path / "run" / "data" / "acceptance.json").read_text())
    assert rates["harmful"]["samples"] == 3 * 2  # 3 train harmful prompts x 2 samples
    assert "rational/acceptance_harmful" in sink.metrics()


def test_three_step_sft_on_accepted_rationales(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The random model cannot write rationales, so the generation cache is seeded with hand-written ones (the
    same file a resumed job reads); the SFT, adapter and audit are real."""
    from core.align.configs import RationalConfig
    from core.align.rational import run_rational

    data = write_dataset(tmp_path / "d.jsonl")
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    accepted = {
        f"h{i}": "This could hurt people and is illegal. I'm sorry, but I can't help with that."
        for i in range(4)
    } | {f"b{i}": "This is a normal question, so it is safe. Here is how." for i in range(4)}
    (run / "data" / "rational.json").write_text(
        json.dumps({"accepted": accepted, "tried": {k: 1 for k in accepted}, "round": 1})
    )
    sink = ListSink()
    out = run_rational(
        RationalConfig(model=str(tiny_model_dir), dataset=str(data), **TINY),
        JobContext("t", sink=sink, run_dir=run),
    )
    m = sink.metrics()
    assert len(m["loss"]) >= 3 and "learning_rate" in m
    assert (Path(out["adapter"]) / "adapter_model.safetensors").is_file()
    assert out["acceptance"]["harmful"]["accepted"] >= 1
    assert any(a["path"].endswith("sft/checkpoint-3") for a in sink.of("artefact") if a["checkpoint"])


def test_verdict_passes_cover_train_prompts_without_a_rationale(tiny_model_dir: Path, tmp_path: Path) -> None:
    """``verdict_all_train``: the verdict SFT trains rationales on the prompts that have one, and the verdict
    word ("This request is harmful/safe") on every other train prompt in its verdict-only passes."""
    from core.align import data as D
    from core.align.configs import RationalConfig
    from core.align.rational import run_rational

    data = write_dataset(tmp_path / "d.jsonl")
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    accepted = {
        "h0": "This could hurt people and is illegal. I'm sorry, but I can't help with that.",
        "b0": "This is a normal question, so it is safe. Here is how.",
    }
    (run / "data" / "rational.json").write_text(
        json.dumps({"accepted": accepted, "tried": {k: 1 for k in accepted}, "round": 1})
    )
    train, _monitor = D.monitor_split(D.split(D.prompt_items(D.load_rows(str(data))), "train"), 2, 0)
    n_rationales = sum(it.id in accepted for it in train)
    assert n_rationales >= 1
    sink = ListSink()
    cfg = RationalConfig(
        model=str(tiny_model_dir),
        dataset=str(data),
        **{**TINY, "max_steps": 1},
        lora_first_layer=1,
        sft_epochs=1.0,
        verdict_epochs=1.0,
        verdict_all_train=True,
    )
    run_rational(cfg, JobContext("t", sink=sink, run_dir=run))
    more = len(train) - n_rationales
    logs = [e["line"] for e in sink.of("log")]
    assert any(f"(with {more} more prompts, verdict only)" in line for line in logs), logs
    steps = sink.metrics()["sft/verdict_only"]
    # batch 2: ceil(n_rationales / 2) full steps, ceil(len(train) / 2) verdict-only ones
    assert sum(steps) == -(-len(train) // 2) and len(steps) - sum(steps) == -(-n_rationales // 2)


def test_verdict_all_train_without_verdict_passes_is_refused_on_submit() -> None:
    """The cross-field check runs when the config is validated (CLI, Jobs form), before a job starts: one
    line that names what to change, not the whole config echoed back."""
    import core.align.jobs  # noqa: F401 - registers the job types
    from core.jobs.registry import ConfigError, get_job_type

    jt = get_job_type("align.rational")
    with pytest.raises(ConfigError, match="verdict_epochs > 0") as err:
        jt.config_for(preset="demo-cpu", overrides={"verdict_all_train": True, "verdict_epochs": 0})
    assert "(config): verdict_all_train needs" in str(err.value)
    assert "got {" not in str(err.value) and "Value error" not in str(err.value)
    assert set(err.value.fields) == {"(config)"}
    ok = jt.config_for(preset="demo-cpu", overrides={"verdict_all_train": True, "verdict_epochs": 2})
    assert ok.verdict_all_train


def test_a_second_run_on_the_same_prompts_reuses_the_rationales(
    tiny_model_dir: Path, tmp_path: Path, rs_home: Path
) -> None:
    """Finished rationales go to REASONSCOPE_HOME/rationales/<key>; a run with other training settings on the
    same prompts and generation settings reads them instead of sampling again, a run with other generation
    settings does not."""
    from core.align.configs import RationalConfig
    from core.align.rational import run_rational

    data = write_dataset(tmp_path / "d.jsonl")
    first = tmp_path / "run1"
    (first / "data").mkdir(parents=True)
    accepted = {"h0": "This could hurt people. I'm sorry, but I can't help with that.", "b1": "It is safe."}
    (first / "data" / "rational.json").write_text(
        json.dumps({"accepted": accepted, "tried": {k: 1 for k in accepted}, "round": 1})
    )
    base = {"model": str(tiny_model_dir), "dataset": str(data), **TINY, "max_steps": 1}
    run_rational(RationalConfig(**base), JobContext("a", sink=ListSink(), run_dir=first))
    assert len(list((rs_home / "rationales").glob("*.json"))) == 1

    sink = ListSink()
    second = tmp_path / "run2"
    run_rational(RationalConfig(**base, learning_rate=1e-4), JobContext("b", sink=sink, run_dir=second))
    assert any("reusing the rationales" in e["line"] for e in sink.of("log"))
    assert json.loads((second / "data" / "rational.json").read_text())["accepted"] == accepted

    other = ListSink()  # other generation settings: sampled again (by the random model)
    try:
        run_rational(
            RationalConfig(**{**base, "gen_max_new_tokens": 9}),
            JobContext("c", sink=other, run_dir=tmp_path / "r3"),
        )
    except ReasonScopeError:  # it may write no reasoned refusal: the job stops there, as it should
        pass
    assert len(list((rs_home / "rationales").glob("*.json"))) == 2
    assert not any("reusing the rationales" in e["line"] for e in other.of("log"))


def test_a_run_trains_the_same_with_fresh_or_cached_rationales(
    tiny_model_dir: Path, tmp_path: Path, rs_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sampling reseeds torch's global generator per batch; ``training.generate`` forks it, so the SFT after
    a generation starts from the same random state as the SFT of a run that read the rationales back from
    the cache: the two adapters are equal (before the fork they differed, measured on the default model:
    held-out readout 77.5 % vs 82.5 % harmful refused at the same step). Every candidate is accepted here:
    the random tiny model writes no reasoned refusal of its own."""
    import torch
    from safetensors.torch import load_file

    import core.align.rational as R
    from core.align.configs import RationalConfig

    monkeypatch.setattr(R, "accept", lambda it, text, answer=None: True)
    data = write_dataset(tmp_path / "d.jsonl")
    cfg = RationalConfig(
        model=str(tiny_model_dir), dataset=str(data), **TINY, lora_first_layer=1, sft_epochs=1.0
    )
    fresh, cached = ListSink(), ListSink()
    R.run_rational(cfg, JobContext("a", sink=fresh, run_dir=tmp_path / "fresh"))
    R.run_rational(cfg, JobContext("b", sink=cached, run_dir=tmp_path / "cached"))
    assert not any("reusing the rationales" in e["line"] for e in fresh.of("log"))
    assert any("reusing the rationales" in e["line"] for e in cached.of("log"))
    a = load_file(str(tmp_path / "fresh" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "cached" / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sampled_generation_leaves_the_global_generator_as_it_was(tiny_model_dir: Path) -> None:
    import torch

    from core.align import training as T

    model, tok = T.load_policy(str(tiny_model_dir))
    chats = [[{"role": "user", "content": f"Say something about {w}."}] for w in ("tea", "rain", "maps")]
    torch.manual_seed(3)
    before = torch.get_rng_state()
    one = T.generate(model, tok, chats, max_new_tokens=4, do_sample=True, n=2, seed=5, batch_size=2)
    assert torch.equal(torch.get_rng_state(), before)
    assert T.generate(model, tok, chats, max_new_tokens=4, do_sample=True, n=2, seed=5, batch_size=2) == one
