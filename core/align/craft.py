"""CRAFT (arXiv 2603.17305) phase 2 as a job: GRPO on ``R = w_lat R_ls + w_txt R_txt + w_cons R_cons``.

Phase 1 (the latent contrastive head, ``core.probes.contrastive``) is either a saved head made on this model
(``head``) or trained at the start of the job on the train split's labelled response traces (safe / unsafe /
rethink), teacher-forced through the base model with the same template and pooling the reward uses.

At the end, besides the before/after audit: the shift of the validation rollouts' latent toward the safe
prototype (mean ``cos(z, mu_safe)`` base vs tuned, ``z`` from each model's own states of its own answers) and
the reasoning-leak rate before/after (keyword proxy and a latent one: the answer refuses but the head scores
the reasoning span unsafe).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from core.align import training as T
from core.align.configs import CraftConfig
from core.align.finish import finish
from core.align.grpo import run_grpo
from core.align.latent import CraftReward, pooled_policy_states
from core.align.pipeline import RunState, prepare
from core.align.warmstart import warm_start
from core.capture.models import model_fingerprint
from core.errors import InputError
from core.evals.judges import REFUSAL, KeywordRefusalJudge
from core.jobs.context import JobContext
from core.probes.artefacts import load_contrastive, save_contrastive
from core.probes.contrastive import ContrastiveConfig, ContrastiveProbe, train_contrastive


def _traces(st: RunState) -> tuple[list[Any], list[list[int]], list[str]]:
    """(chats, response token ids, labels) of the train split's response items."""
    chats, ids, labels = [], [], []
    for r in st.rows:
        if not r.get("response") or str(r.get("split") or "train") in ("validation", "val", "test"):
            continue
        if r.get("label") not in ("safe", "unsafe", "rethink"):
            continue
        chats.append(T.chat_for(str(r["prompt"]), st.cfg.template))
        ids.append(st.tokenizer(str(r["response"]) + "", add_special_tokens=False)["input_ids"])
        labels.append(str(r["label"]))
    return chats, ids, labels


def build_head(st: RunState) -> ContrastiveProbe | None:
    """Load the configured head (fingerprint-checked) or train one now (CRAFT phase 1)."""
    cfg = st.cfg
    fp = model_fingerprint(st.policy, cfg.model)
    if cfg.head:
        head = load_contrastive(cfg.head, fingerprint=fp, model_name=cfg.model)
        pool = head.meta.get("positions")
        if pool in ("reasoning", "completion", "mean_all") and pool != cfg.pool:
            st.ctx.log(f"CRAFT: the head was trained on '{pool}' pooling; using it instead of '{cfg.pool}'")
            st.cfg = cfg.model_copy(update={"pool": pool})
        return head
    chats, ids, labels = _traces(st)
    counts = {c: labels.count(c) for c in ("safe", "unsafe", "rethink")}
    if counts["safe"] < 2 or counts["unsafe"] < 2:
        raise InputError(
            f"CRAFT phase 1 needs labelled response traces in the train split (found {counts}); "
            "add response items labelled safe / unsafe / rethink, or pass a trained head (head=...)."
        )
    n_layers = st.policy.config.num_hidden_layers
    layer = cfg.head_layer if cfg.head_layer is not None else max(1, round(2 * n_layers / 3))
    st.ctx.set_phase("head", len(labels))
    st.ctx.log(f"CRAFT phase 1: capturing {len(labels)} train traces at layer {layer} ({cfg.pool} pooling)")
    X = pooled_policy_states(
        st.policy,
        st.tokenizer,
        chats,
        ids,
        layer=layer,
        pool=cfg.pool,
        progress=st.ctx.emit_progress,
        should_stop=st.ctx.should_stop,
    )
    if X is None:
        return None
    probe = train_contrastive(
        X,
        labels,
        config=ContrastiveConfig(seed=cfg.seed, epochs=60),
        layer=layer,
        meta={
            "positions": cfg.pool,
            "template": cfg.template,
            "model_fingerprint": fp,
            "model_name": cfg.model,
            "dataset": cfg.dataset,
        },
    )
    train_m = probe.metrics.get("train", {})
    st.ctx.log(
        f"CRAFT phase 1: contrastive head on {len(labels)} train traces {counts} at layer {layer} "
        f"({cfg.pool} pooling), train macro-F1 {train_m.get('macro_f1', float('nan')):.2f}"
    )
    try:
        path = save_contrastive(probe, "craft-head", root=st.ctx.run_dir / "head", overwrite=True)
        st.ctx.emit_artefact("contrastive-head", path)
    except Exception as exc:  # noqa: BLE001 - saving the head is a convenience; training goes on without it
        st.ctx.log(f"could not save the contrastive head: {exc}")
    return probe


def latent_report(
    st: RunState, head: ContrastiveProbe, model: Any, answers: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """Validation answers' mean cos(z, mu_safe) and latent reasoning-leak rate, base vs tuned (each model's
    own states of its own answers, pooled like the reward)."""
    judge = KeywordRefusalJudge()
    items = [it for it in st.validation if it.prompt in answers.get("tuned", {})]
    chats = [T.chat_for(it, st.cfg.template) for it in items]
    harmful = np.array([it.harmful for it in items], dtype=bool)
    out: dict[str, Any] = {"n_items": len(items), "n_harmful": int(harmful.sum()), "layer": int(head.layer)}
    # one forward of prompt + answer per item and subject (~2.5 min on 2 CPU cores for 643 items): a phase of
    # its own, so the Jobs page does not sit on the previous phase's last line meanwhile
    st.ctx.set_phase("audit: CRAFT latent report (base and tuned answers)", 2 * len(items))
    for k, (subject, when) in enumerate((("base", "before"), ("tuned", "after"))):
        texts = [answers[subject][it.prompt] for it in items]
        ids = [
            st.tokenizer(a, add_special_tokens=False)["input_ids"] or [st.tokenizer.eos_token_id]
            for a in texts
        ]

        def tick(done: int, _total: int, k: int = k) -> None:
            st.ctx.emit_progress(k * len(items) + done, 2 * len(items))

        # base: the adapter switched off; tuned: the adapter folded into the weights for the pass (the
        # same states as the unmerged forward, without LoRA's extra matmuls)
        with model.disable_adapter() if subject == "base" else T.merged_lora(model):
            h = pooled_policy_states(
                model, st.tokenizer, chats, ids, layer=int(head.layer), pool=st.cfg.pool, progress=tick
            )
        cos = head.prototype_cosines(head.embed(h))
        p_head = np.asarray(head.p_safe(h))
        refused = np.array([judge(it.prompt, a).label == REFUSAL for it, a in zip(items, texts, strict=True)])
        leak = refused & harmful & (p_head < 0.5)
        out[when] = {
            "cos_safe_all": float(cos[:, 0].mean()),
            "cos_safe_harmful": float(cos[harmful, 0].mean()),
            "cos_unsafe_harmful": float(cos[harmful, 1].mean()),
            "p_safe_head_harmful": float(p_head[harmful].mean()),
            "latent_reasoning_leak": float(leak[harmful].mean()) if harmful.any() else float("nan"),
        }
    out["shift_cos_safe_harmful"] = out["after"]["cos_safe_harmful"] - out["before"]["cos_safe_harmful"]
    return out


def run_craft(cfg: CraftConfig, ctx: JobContext) -> dict[str, Any]:
    st = prepare(cfg, ctx, "craft")
    head = build_head(st)
    if head is None:
        return {"cancelled": "during phase 1 (contrastive head)"}
    cfg = st.cfg
    reward = CraftReward(
        head,
        st.tokenizer,
        pool=cfg.pool,
        w_lat=cfg.w_lat,
        w_txt=cfg.w_txt,
        w_cons=cfg.w_cons,
        alpha=cfg.alpha,
        beta=cfg.beta,
        gamma=cfg.gamma,
        shaped=cfg.shaped,
        over_refusal_penalty=cfg.over_refusal_penalty,
    )
    random.seed(cfg.seed)
    model = warm_start(st) if cfg.warm_start else st.policy
    if model is None:
        return {"cancelled": "during the warm start"}
    model = run_grpo(st, model, [reward])
    if model is None:
        return {"cancelled": "during GRPO"}
    return finish(
        st,
        model,
        extra=lambda m, answers: {
            "latent": latent_report(st, head, m, answers),
            "head_layer": int(head.layer),
            "pool": cfg.pool,
        },
    )
