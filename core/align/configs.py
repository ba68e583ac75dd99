"""Typed configs of the alignment job types and their presets (``demo-cpu``, ``full-gpu``).

``demo-cpu`` is sized for the embedded SmolLM2-135M on 2 CPU cores (float32, short completions, few steps, a
supervised warm start on the train split); ``full-gpu`` is the paper-like scale for a GPU (more rollouts,
longer completions, more steps, bf16). Every field has a description: the Jobs page builds its form from them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.align.rewards import DEFAULT_R_A, DEFAULT_R_F
from core.checks import SEED_MAX


class AlignBase(BaseModel):
    """Fields shared by every alignment method (NaN / inf refused in every float field)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str = Field(
        "default",
        description="Model to align: 'default' (embedded SmolLM2-135M), a local folder "
        "or a cached Hugging Face id.",
    )
    dataset: str = Field(
        "sample",
        description="'sample' (the project's sample data) or a JSONL file with "
        "id / prompt / label / split; only the train split is trained on.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to train.")
    seed: int = Field(0, ge=0, le=SEED_MAX, description="Seed of data order, sampling and LoRA init.")
    threads: int = Field(
        0,
        ge=0,
        le=256,
        description="torch CPU threads; 0 = auto (all cores, but 1 when other processes keep the "
        "other cores busy right now: 2 threads on 2 shared cores were measured 10x slower than 1).",
    )
    max_train_items: int | None = Field(None, ge=2, description="Use at most this many train prompts.")
    lora_r: int = Field(16, ge=1, le=512, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    lora_first_layer: int | None = Field(
        None,
        ge=0,
        description="LoRA only on decoder layers from this index up (empty = every layer). Supervised phases "
        "then compute the frozen lower layers once per prompt and train on the upper ones only.",
    )
    verdict_tokens: int = Field(
        8,
        ge=0,
        le=64,
        description="The first target tokens that carry the verdict (refuse or answer); their loss is "
        "weighted by verdict_weight (verdict SFT).",
    )
    verdict_weight: float = Field(
        3.0, gt=0, le=100, description="Loss weight of the verdict tokens relative to the rest (verdict SFT)."
    )
    benign_verdict_weight: float | None = Field(
        None,
        gt=0,
        le=400,
        description="Loss weight of the verdict tokens of benign examples (empty = verdict_weight): a "
        "per-class verdict weight, larger to move the decision toward answering benign requests.",
    )
    verdict_epochs: float = Field(
        0.0,
        ge=0,
        le=50,
        description="Extra passes of the verdict SFT over each example cut right after its verdict tokens "
        "(prompt + decision only, a fraction of a full pass's cost), interleaved with the full passes.",
    )
    lora_targets: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="Module names that get LoRA adapters.",
    )
    save_every: int = Field(
        5, ge=1, description="Checkpoint every N steps (resume restarts from the last one)."
    )
    monitor_items: int = Field(
        8,
        ge=0,
        description="Train items held out of training to watch refusal / "
        "over-refusal during the run (never validation items).",
    )
    monitor_every: int = Field(5, ge=1, description="Answer the monitor batch every N steps.")
    holdout_items: int = Field(
        0,
        ge=0,
        description="Train items held out of training by whole family and pair (about this many): the "
        "verdict is read off them without generating at a third, two thirds and the end of the verdict "
        "SFT -- the slice settings are chosen on (never the validation split).",
    )
    keep_best_checkpoint: bool = Field(
        False,
        description="With holdout_items: the verdict SFT ends with the adapter of its readout checkpoint (a "
        "third, two thirds, the end) with the best balanced accuracy on the held-out train slice -- early "
        "stopping on train families, never on validation.",
    )
    audit: bool = Field(
        True, description="Before/after audit on the validation split and representation diff."
    )
    audit_suites: list[str] = Field(
        default_factory=lambda: ["refusal", "over_refusal", "format", "reasoning_leak"],
        description="core.evals suites of the before/after audit (add 'jailbreak' "
        "for attack success; it needs more generation).",
    )
    audit_max_items: int | None = Field(
        None, ge=1, description="Audit at most this many validation items per item kind (empty = all)."
    )
    audit_max_empty_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Fail the audit when more than this share of base or tuned answers are empty (no "
        "text): empty answers are neither refusals nor compliance, so the rates would be meaningless.",
    )
    stress_audit: bool = Field(
        True,
        description="Also audit base vs tuned on the minimal-pair stress split (reported on its own; "
        "only with the project's own dataset).",
    )
    eval_max_new_tokens: int = Field(64, ge=8, le=2048, description="Tokens generated per audit answer.")
    eval_batch_size: int = Field(16, ge=1, description="Batch size of audit / data generation.")


class WarmStart(BaseModel):
    """Supervised warm start shared by the GRPO methods."""

    model_config = ConfigDict(allow_inf_nan=False)

    warm_start: bool = Field(
        True,
        description="Short LoRA SFT on train-split targets in the AlphaAlign format "
        "before RL (a documented deviation: a base model that never refuses "
        "gives GRPO zero-variance groups).",
    )
    warm_start_steps: int = Field(40, ge=1, description="SFT steps of the warm start.")
    warm_start_lr: float = Field(5e-4, gt=0, description="Learning rate of the warm start.")
    warm_start_batch: int = Field(8, ge=1, description="Batch size of the warm start.")
    benign_answer_tokens: int = Field(
        40, ge=8, description="Tokens of the model's own answer used as the benign warm-start target."
    )
    benign_answer_chars: int = Field(
        160,
        ge=20,
        description="The benign target answer is cut at its last full sentence within this many characters.",
    )
    warm_start_epochs: float | None = Field(
        None,
        gt=0,
        le=50,
        description="Train the warm start for this many passes over the train prompts (overrides "
        "warm_start_steps; needs lora_first_layer: the verdict SFT over a cached frozen prefix).",
    )
    share_warm_start: bool = Field(
        True,
        description="Reuse a finished warm start with identical inputs (model "
        "weights, dataset content, template, seed, LoRA and warm-start "
        "settings) from an earlier run, e.g. AlphaAlign's for CRAFT; "
        "new ones are shared the same way.",
    )


class GRPOFields(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    template: str = Field("alphaalign", description="Prompt template used for rollouts and the audit.")
    max_steps: int = Field(12, ge=1, description="GRPO steps.")
    learning_rate: float = Field(2e-4, gt=0, description="GRPO learning rate (LoRA).")
    prompts_per_step: int = Field(4, ge=1, description="Prompts per GRPO step.")
    num_generations: int = Field(4, ge=2, description="Rollouts per prompt (the GRPO group).")
    max_completion_length: int = Field(64, ge=8, description="Max new tokens per rollout.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the rollouts.")
    kl_coef: float = Field(0.04, ge=0, description="KL anchor to the reference policy (TRL's beta).")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field("dapo", description="TRL loss aggregation.")
    scale_rewards: Literal["group", "batch", "none"] = Field("group", description="Advantage scaling.")


class AlphaAlignConfig(AlignBase, WarmStart, GRPOFields):
    """AlphaAlign (arXiv 2507.14987): verifiable safety reward with GRPO; AlphaAlign-Zero offline."""

    r_f: float = Field(DEFAULT_R_F, description="Weight of the format verifier V_f (paper: unstated).")
    r_a: float = Field(DEFAULT_R_A, description="Weight of the refusal verifier V_r (paper: unstated).")
    shaped: bool = Field(True, description="Graded V_f / V_r so groups have reward variance (see docs).")
    reward_model: str | None = Field(
        None,
        description="Local sequence-classification reward model folder for the "
        "helpfulness reward; empty = AlphaAlign-Zero (safety only).",
    )
    reward_tokenizer: str | None = Field(
        None, description="Tokenizer of the reward model (default: its folder)."
    )


class CraftConfig(AlignBase, WarmStart, GRPOFields):
    """CRAFT phase 2 (arXiv 2603.17305): GRPO on latent + text + consistency rewards over a contrastive
    head."""

    head: str | None = Field(
        None,
        description="Saved contrastive head (name or folder, made on this model); "
        "empty = train one now on the train split's traces (phase 1).",
    )
    head_layer: int | None = Field(
        None, ge=0, description="Layer of the in-job head; empty = 2/3 of the depth."
    )
    pool: Literal["reasoning", "completion", "mean_all"] = Field(
        "reasoning", description="Pooling of the policy's rollout for z."
    )
    w_lat: float = Field(0.5, description="Weight of R_ls.")
    w_txt: float = Field(0.4, description="Weight of R_txt.")
    w_cons: float = Field(0.2, description="Weight of R_cons.")
    alpha: float = Field(1.0, description="R_ls weight of cos(z, mu_safe).")
    beta: float = Field(1.0, description="R_ls weight of -cos(z, mu_unsafe).")
    gamma: float = Field(0.5, description="R_ls weight of cos(z, mu_rethink).")
    shaped: bool = Field(True, description="Graded keyword P(safe | text) so groups have variance.")
    over_refusal_penalty: float = Field(
        0.0, ge=0, description="Subtract this x V_r on benign prompts (off by default, as in the paper)."
    )


class RationalConfig(AlignBase):
    """Rational (arXiv 2503.05021): self-generated safety reasoning, verifier-filtered, then LoRA SFT."""

    template: str = Field(
        "plain", description="Template of the audit (Rational trains without a system prompt)."
    )
    teacher: str | None = Field(
        None, description="Model that writes the rationales; empty = the model itself."
    )
    guided: bool = Field(
        True,
        description="Two-stage guided self-check generation (the model restates the "
        "request, a verdict sentence is added, the model answers); see docs.",
    )
    verdict_first: bool = Field(
        True,
        description="Move each accepted reasoning's verdict to its first sentence ('This request is harmful. "
        "The user wants ...'), so the tuned model decides before it restates the request.",
    )
    samples_per_prompt: int = Field(4, ge=1, le=64, description="Best-of-n: candidates sampled per prompt.")
    rounds: int = Field(
        2, ge=1, le=10, description="Sampling rounds for prompts still without an accepted output."
    )
    gen_max_new_tokens: int = Field(64, ge=8, description="Tokens per generated rationale.")
    gen_temperature: float = Field(0.8, gt=0, description="Sampling temperature of the rationales.")
    max_steps: int = Field(60, ge=1, description="SFT steps.")
    sft_epochs: float | None = Field(
        None,
        gt=0,
        le=50,
        description="Train the SFT for this many passes over the accepted examples (overrides max_steps; "
        "needs lora_first_layer: the verdict SFT over a cached frozen prefix).",
    )
    max_rationale_items: int | None = Field(
        None,
        ge=2,
        description="Write rationales for at most this many train prompts (class-balanced, seeded); "
        "empty = all.",
    )
    learning_rate: float = Field(5e-4, gt=0, description="SFT learning rate (LoRA).")
    batch_size: int = Field(8, ge=1, description="SFT batch size.")
    verdict_all_train: bool = Field(
        False,
        description="With verdict_first and verdict_epochs > 0: the verdict-only passes also cover every "
        "train prompt that has no rationale ('This request is harmful/safe', cut after the verdict word), so "
        "the decision is learned from the whole train split and the reasoning from the prompts with one.",
    )

    @model_validator(mode="after")
    def _verdict_all_train_needs_verdict_sft(self) -> RationalConfig:
        # checked on submit (CLI, Jobs form), not after the job has started and loaded the model
        if self.verdict_all_train and not (
            self.verdict_first and self.verdict_epochs > 0 and self.lora_first_layer is not None
        ):
            raise ValueError(
                "verdict_all_train needs verdict_first = true, verdict_epochs > 0 and lora_first_layer set "
                "(the verdict SFT): set those, or verdict_all_train = false"
            )
        return self


_DEMO_COMMON = {
    "model": "default",
    "device": "cpu",
    "save_every": 5,
    # 48 held-out train prompts, answered at the end of each phase: the slice of train settings are chosen on
    "monitor_items": 48,
    "monitor_every": 1000,
    # ~360 train prompts held out by whole family: the verdict read off them (no generation, ~12 s) at a
    # third, two thirds and the end of the verdict SFT. The random monitor batch shares families with
    # training and read 100 % harmful refused where these unseen families read 86.7 % (measured)
    "holdout_items": 360,
    "eval_max_new_tokens": 64,
    "eval_batch_size": 32,
    "lora_targets": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    # LoRA on layers 8-29: the verdict SFT computes layers 0-7 once per prompt. From layer 16 up the tuned
    # verdict separated unseen harmful from benign requests at AUROC 0.927, from layer 8 at 0.975
    # (benchmarks/verdict_sft_study.py)
    "lora_first_layer": 8,
    # every train prompt: fewer (1 000, 480, 240) learned a verdict bias, not a verdict
    "max_train_items": None,
    # the verdict word alone ("harmful" / "safe", the token that decides refuse-or-answer) weighs 16x
    "verdict_tokens": 1,
    "verdict_weight": 16.0,
}
_GPU_COMMON = {
    "device": "cuda",
    "save_every": 25,
    "monitor_items": 32,
    "monitor_every": 25,
    "lora_r": 64,
    "lora_alpha": 128,
    "eval_max_new_tokens": 256,
    "eval_batch_size": 64,
    "lora_targets": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}
_GRPO_GPU = {
    "max_steps": 200,
    "learning_rate": 1e-5,
    "prompts_per_step": 16,
    "num_generations": 8,
    "max_completion_length": 512,
    "warm_start_steps": 100,
    "warm_start_lr": 1e-4,
    "benign_answer_tokens": 256,
    "benign_answer_chars": 1200,
}

# warm start: half a full pass (the format and the benign answers) plus two verdict-only passes (each
# example cut after its verdict word, interleaved, at half a full step's cost). Chosen on the held-out train
# families (docs/alignment.md, twelfth session): against one full + one verdict pass, verdict AUROC 0.974 ->
# 0.982, refused harmful 86.7 -> 89.2 %, counterparts 4.2 -> 1.7 %, borderline 9.0 -> 7.4 %, and 703 -> 631 s
# of training. Short benign targets keep CPU steps cheap. GRPO: 2 steps at a learning rate that refines
# without undoing the verdict (6 steps at 2e-4 pushed every prompt to "refuse")
_GRPO_DEMO = {
    "warm_start_epochs": 0.5,
    "verdict_epochs": 2.0,
    "warm_start_batch": 16,
    "warm_start_lr": 1e-3,
    "benign_answer_tokens": 16,
    "benign_answer_chars": 80,
    "max_steps": 2,
    "learning_rate": 1e-5,
}

ALPHAALIGN_PRESETS = {
    "demo-cpu": {**_DEMO_COMMON, **_GRPO_DEMO},
    "full-gpu": {**_GPU_COMMON, **_GRPO_GPU},
}
CRAFT_PRESETS = {
    # the same warm start as AlphaAlign's (shared through REASONSCOPE_HOME/warmstarts), plus CRAFT's
    # over-refusal penalty on benign prompts
    "demo-cpu": {**_DEMO_COMMON, **_GRPO_DEMO, "over_refusal_penalty": 1.0},
    "full-gpu": {**_GPU_COMMON, **_GRPO_GPU},
}
RATIONAL_PRESETS = {
    "demo-cpu": {
        **_DEMO_COMMON,
        "samples_per_prompt": 2,
        "rounds": 2,
        "gen_max_new_tokens": 40,
        "max_rationale_items": 600,
        "sft_epochs": 2.0,
        "learning_rate": 1e-3,
        "batch_size": 16,
        "eval_max_new_tokens": 48,
    },
    "full-gpu": {
        **_GPU_COMMON,
        "samples_per_prompt": 8,
        "gen_max_new_tokens": 384,
        "max_steps": 400,
        "learning_rate": 1e-4,
        "batch_size": 16,
    },
}
