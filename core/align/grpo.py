"""GRPO with TRL (``GRPOTrainer``) for AlphaAlign and CRAFT.

TRL 1.x has no PPO (AlphaAlign used PPO with a value model): GRPO's group-normalised advantages replace the
critic; the KL anchor is TRL's ``beta`` (``kl_coef``) against the reference policy -- with a warm-started LoRA
adapter TRL keeps a frozen copy of it ("ref" adapter), so the anchor is the warm-started policy.
"""

from __future__ import annotations

import time
from typing import Any

from core.align import training as T
from core.align.pipeline import RunState, require_trainable
from core.jobs.callbacks import progress_callback


def grpo_dataset(st: RunState) -> Any:
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "prompt": T.chat_for(it, st.cfg.template),
                "is_harmful": it.harmful,
                "label": "unsafe" if it.harmful else "safe",
                "item_id": it.id,
            }
            for it in st.train
        ]
    )


def grpo_config(st: RunState) -> Any:
    from trl import GRPOConfig

    cfg = st.cfg
    base = T.trainer_args(
        output_dir=st.ctx.run_dir / "grpo",
        device=st.device,
        seed=cfg.seed,
        lr=cfg.learning_rate,
        max_steps=cfg.max_steps,
        save_every=cfg.save_every,
        warmup_steps=0,
        scheduler="constant",
    )
    return GRPOConfig(
        **base,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        gradient_accumulation_steps=1,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_k=0,
        beta=cfg.kl_coef,
        loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards,
        log_completions=False,
        shuffle_dataset=True,
        disable_dropout=True,
    )


def build_trainer(
    st: RunState,
    model: Any,
    reward_funcs: list[Any],
    *,
    extra_callbacks: list[Any] | None = None,
    args: Any = None,
    with_job_callbacks: bool = True,
) -> Any:
    """A GRPOTrainer on the train prompts. ``model`` is a PeftModel (warm-started) or a plain model (a fresh
    LoRA adapter is attached)."""
    from trl import GRPOTrainer

    cfg = st.cfg
    callbacks: list[Any] = list(extra_callbacks or [])
    if with_job_callbacks:
        callbacks.insert(0, progress_callback(st.ctx))
        if st.monitor:
            callbacks.append(
                T.monitor_callback(
                    st.ctx,
                    st.monitor,
                    st.tokenizer,
                    template=cfg.template,
                    every=cfg.monitor_every,
                    max_new_tokens=cfg.max_completion_length,
                    expect_format=cfg.template == "alphaalign",
                )
            )
    is_peft = hasattr(model, "peft_config")
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args or grpo_config(st),
        train_dataset=grpo_dataset(st),
        processing_class=st.tokenizer,
        peft_config=None if is_peft else T.lora_for(cfg, model),
        callbacks=callbacks,
    )
    require_trainable(trainer.model)
    return T.quiet(trainer)


def run_grpo(st: RunState, model: Any, reward_funcs: list[Any]) -> Any:
    """Train with ``reward_funcs`` and return the trained PeftModel -- or None when the job was cancelled.
    Reward objects with a ``bind(model)`` method (CRAFT's latent reward) are bound to the policy being
    trained."""
    trainer = build_trainer(st, model, reward_funcs)
    for f in reward_funcs:
        if hasattr(f, "bind"):
            f.bind(trainer.model)
    names = [getattr(f, "__name__", type(f).__name__) for f in reward_funcs]
    resume = st.ctx.resume_from if T.checkpoint_phase(st.ctx.resume_from) == "grpo" else None
    t = time.time()
    st.ctx.set_phase("grpo", st.cfg.max_steps)
    st.ctx.log(
        f"GRPO: {st.cfg.max_steps} steps x {st.cfg.prompts_per_step} prompts x {st.cfg.num_generations} "
        f"rollouts of <= {st.cfg.max_completion_length} tokens, rewards {names}"
        + (f", resuming from {resume.name}" if resume else "")
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    st.lap("grpo_s", t)
    if st.ctx.stop_observed:
        return None
    return trainer.model
