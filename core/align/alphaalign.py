"""AlphaAlign (arXiv 2507.14987) as a job: verifiable safety reward (+ optional helpfulness reward) with GRPO.

Steps: load the train-split prompts -> supervised warm start in the AlphaAlign format (optional, default on
for the demo) -> GRPO on ``R_s`` (AlphaAlign-Zero offline; ``+ R_h`` for benign prompts when a reward model is
configured) with a KL anchor -> adapter -> before/after audit on the validation split.
"""

from __future__ import annotations

from typing import Any

from core.align.configs import AlphaAlignConfig
from core.align.finish import finish
from core.align.grpo import run_grpo
from core.align.helpful import HelpfulnessReward
from core.align.pipeline import prepare
from core.align.rewards import SafetyReward
from core.align.warmstart import warm_start
from core.jobs.context import JobContext


def alphaalign_rewards(cfg: AlphaAlignConfig) -> list[Any]:
    rewards: list[Any] = [SafetyReward(r_f=cfg.r_f, r_a=cfg.r_a, shaped=cfg.shaped)]
    if cfg.reward_model:
        rewards.append(HelpfulnessReward.from_path(cfg.reward_model, cfg.reward_tokenizer))
    return rewards


def run_alphaalign(cfg: AlphaAlignConfig, ctx: JobContext) -> dict[str, Any]:
    st = prepare(cfg, ctx, "alphaalign")
    rewards = alphaalign_rewards(cfg)  # fail fast on a bad reward model, before any training
    model = warm_start(st) if cfg.warm_start else st.policy
    if model is None:
        return {"cancelled": "during the warm start"}
    model = run_grpo(st, model, rewards)
    if model is None:
        return {"cancelled": "during GRPO"}
    return finish(st, model, {"variant": "AlphaAlign" if cfg.reward_model else "AlphaAlign-Zero"})
