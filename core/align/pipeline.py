"""The steps every alignment job shares: load data and policy (``RunState``), the supervised fine-tuning
loops (TRL's ``SFTTrainer`` and the verdict SFT over a cached frozen prefix) with the verdict read off the
held-out train families. The warm start lives in ``core.align.warmstart``, the end of a run (adapter, audit,
summary) in ``core.align.finish``.

Resume: each step leaves its result in the run folder (``core.align.training`` documents the layout) and is
skipped when that result exists; trainer phases restart from their last checkpoint.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.align import data as D
from core.align import training as T
from core.align.configs import AlignBase
from core.align.prefix_sft import PrefixSFTSettings, train_prefix_sft
from core.align.readout import (
    ReadoutLead,
    balanced_accuracy,
    chosen_offset,
    readout_line,
    readout_summary,
    verdict_scores,
)
from core.capture.models import model_fingerprint
from core.errors import InputError
from core.jobs.callbacks import progress_callback
from core.jobs.context import JobContext
from core.jobs.view import PREFIX_PHASE
from core.labelled import LabelledItem

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(kw_only=True)
class RunState:
    cfg: AlignBase  # the job's AlphaAlignConfig / CraftConfig / RationalConfig
    ctx: JobContext
    method: str
    device: str
    source: str
    policy: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    train: list[LabelledItem]
    monitor: list[LabelledItem]
    validation: list[LabelledItem]
    rows: list[dict[str, Any]]
    t0: float = field(default_factory=time.time)
    cpu0: float = field(
        default_factory=time.process_time
    )  # CPU seconds of all threads (load-independent-ish)
    timings: dict[str, float] = field(default_factory=dict)
    base_fingerprint: str = ""  # the weights before any adapter (model_fingerprint at load)
    holdout: list[LabelledItem] = field(default_factory=list)  # whole families kept out of training
    readouts: list[dict[str, Any]] = field(default_factory=list)  # verdict readouts on ``holdout``

    def path(self, *parts: str) -> Path:
        p = self.ctx.run_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def lap(self, name: str, since: float) -> None:
        self.timings[name] = round(time.time() - since, 1)
        self.timings[name.replace("_s", "_cpu_s")] = round(time.process_time() - self.cpu0, 1)  # cumulative


def prepare(cfg: AlignBase, ctx: JobContext, method: str) -> RunState:
    """Validate the dataset (both classes in train), split off the monitor batch, load the policy."""
    T.seed_all(cfg.seed)
    threads = T.set_threads(cfg.threads) if T.pick_device(cfg.device) == "cpu" else 0
    rows = D.load_rows(cfg.dataset)
    items = D.prompt_items(rows)
    train = D.split(items, "train")
    D.check_both_classes(train, "train-split prompts")
    if cfg.max_train_items and len(train) > cfg.max_train_items:
        train = D.balanced_subset(train, cfg.max_train_items, cfg.seed)  # class-balanced, every category
    train, holdout = D.holdout_split(train, cfg.holdout_items, cfg.seed)
    train, monitor = D.monitor_split(train, cfg.monitor_items, cfg.seed)
    val = D.split(items, "validation")
    if cfg.audit_max_items and len(val) > cfg.audit_max_items:
        val = random.Random(cfg.seed).sample(val, cfg.audit_max_items)
    device = T.pick_device(cfg.device)
    source = T.resolve_source(cfg.model)
    policy, tok = T.load_policy(source, device=device)
    T.check_lora_targets(policy, cfg.lora_targets)
    ctx.log(
        f"{method}: {len(train)} train prompts ({sum(i.harmful for i in train)} harmful), {len(monitor)} "
        f"held-out monitor prompts, "
        + (f"{len(holdout)} held-out train prompts (whole families) for the readout, " if holdout else "")
        + f"{len(val)} validation prompts (audit only); model {cfg.model} on {device}"
        + (f" ({threads} torch threads)" if threads else "")
    )
    return RunState(
        cfg=cfg,
        ctx=ctx,
        method=method,
        device=device,
        source=source,
        policy=policy,
        tokenizer=tok,
        train=train,
        monitor=monitor,
        holdout=holdout,
        validation=val,
        rows=rows,
        base_fingerprint=model_fingerprint(policy, cfg.model),
    )


def sft_dataset(pairs: list[tuple[list[dict[str, str]], str]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(
        [{"prompt": chat, "completion": [{"role": "assistant", "content": target}]} for chat, target in pairs]
    )


def run_sft(
    st: RunState,
    model: Any,
    pairs: list[tuple[list[dict[str, str]], str]],
    *,
    phase: str,
    steps: int,
    lr: float,
    batch: int,
    resume: Path | None,
    ordered: bool = False,
) -> Any:
    """LoRA SFT with TRL's SFTTrainer on (chat, target) pairs; returns the PeftModel (None when cancelled).
    ``ordered``: keep the given order (see ``data.paired_order``) instead of length-grouped random batches."""
    from trl import SFTConfig, SFTTrainer

    cfg = st.cfg
    out = st.ctx.run_dir / phase
    st.ctx.set_phase(phase, steps)
    args = SFTConfig(
        **T.trainer_args(
            output_dir=out,
            device=st.device,
            seed=cfg.seed,
            lr=lr,
            max_steps=steps,
            save_every=cfg.save_every,
            warmup_steps=max(1, steps // 10),
            scheduler="cosine",
        ),
        per_device_train_batch_size=batch,
        max_length=512,
        completion_only_loss=True,
        packing=False,
        dataset_num_proc=None,
        # batches of similar length: long jailbreak prompts would otherwise pad whole batches
        train_sampling_strategy="sequential" if ordered else "group_by_length",
    )
    is_peft = hasattr(model, "peft_config")
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=sft_dataset(pairs),
        processing_class=st.tokenizer,
        peft_config=None if is_peft else T.lora_for(cfg, model),
        callbacks=[progress_callback(st.ctx)],
    )
    if st.monitor:
        trainer.add_callback(
            T.monitor_callback(
                st.ctx,
                st.monitor,
                st.tokenizer,
                template=cfg.template,
                every=cfg.monitor_every,
                max_new_tokens=cfg.eval_max_new_tokens,
                expect_format=cfg.template == "alphaalign",
                prefix=f"{phase}/",
            )
        )
    T.quiet(trainer)
    t = time.time()
    st.ctx.log(f"{phase}: LoRA SFT on {len(pairs)} examples, {steps} steps, lr {lr}")
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    st.lap(f"{phase}_s", t)
    if st.ctx.stop_observed:
        return None
    return trainer.model


def run_verdict_sft(
    st: RunState,
    model: Any,
    pairs: list[tuple[list[dict[str, str]], str]],
    *,
    phase: str,
    epochs: float,
    lr: float,
    batch: int,
    verdict_offset: Callable[[str], int] | None = None,
    harmful: Sequence[bool] | None = None,
    readout_lead: ReadoutLead | None = None,
    verdict_only: Sequence[tuple[list[dict[str, str]], str]] = (),
) -> Any:
    """LoRA SFT over a cached frozen prefix (``core.align.prefix_sft``): adapters on layers
    ``cfg.lora_first_layer..`` only, verdict tokens weighted (benign pairs by ``cfg.benign_verdict_weight``
    when set; ``harmful[i]`` says which pairs are harmful). ``verdict_only`` pairs join the verdict-only
    passes only (``train_prefix_sft(verdict_only_pairs=...)``). Returns the PeftModel, None when cancelled.

    Progress: ``<phase>/loss`` etc. per step, the held-out monitor batch answered at a third, two thirds and
    the end; at the same checkpoints, with ``readout_lead`` and a held-out slice (``holdout_items``), the
    verdict read off that slice without generating (``core.align.readout``): ``<phase>/holdout/*`` metrics,
    a log line, and ``data/holdout_readout.json``.
    A cancelled verdict SFT restarts from its beginning on resume (it is minutes long; no mid-phase
    checkpoint)."""
    from peft import get_peft_model

    cfg, ctx = st.cfg, st.ctx
    if not hasattr(model, "peft_config"):
        model = get_peft_model(model, T.lora_for(cfg, model))
    require_trainable(model)
    settings = PrefixSFTSettings(
        first_layer=int(cfg.lora_first_layer),
        epochs=epochs,
        verdict_epochs=cfg.verdict_epochs,
        lr=lr,
        batch_size=batch,
        verdict_tokens=cfg.verdict_tokens,
        verdict_weight=cfg.verdict_weight,
        seed=cfg.seed,
    )
    weights = None
    if cfg.benign_verdict_weight is not None and harmful is not None:
        weights = [None if h else float(cfg.benign_verdict_weight) for h in harmful]
    chats = [T.chat_for(it, cfg.template) for it in st.monitor]
    checks: set[int] = set()
    best = BestCheckpoint(enabled=bool(cfg.keep_best_checkpoint and st.holdout and readout_lead is not None))
    ctx.set_phase(f"{phase}{PREFIX_PHASE}")  # the frozen lower layers are computed once first

    def on_step(step: int, total: int, m: dict[str, float]) -> None:
        if ctx.phase != phase:  # training started: its ETA is measured on training steps only
            ctx.set_phase(phase, total)
        ctx.emit_metric(step, **{f"{phase}/{k}": v for k, v in m.items()})
        ctx.emit_progress(step, total)
        at_check = step in {max(1, total // 3), max(1, 2 * total // 3), total} - checks
        if at_check and st.holdout and readout_lead is not None:
            entry = holdout_readout(st, model, phase, step, total, readout_lead, cfg.template)
            best.offer(model, entry)
        if st.monitor and at_check:  # ~20 s each; the Story page's training curves are these points
            checks.add(step)
            outs = [
                o[0] for o in T.generate(model, st.tokenizer, chats, max_new_tokens=cfg.eval_max_new_tokens)
            ]
            mm = T.monitor_metrics(st.monitor, outs, f"{phase}/")
            ctx.emit_metric(step, **mm)
            verdict = T.same_verdict_for_all(mm, f"{phase}/")
            if verdict:
                ctx.log(
                    f"WARNING: after {step} {phase} steps the policy {verdict} every monitor prompt (a bias)"
                )
            model.train()

    t = time.time()
    ctx.log(
        f"{phase}: verdict SFT on {len(pairs)} examples, {epochs:g} epochs"
        + (f" + {cfg.verdict_epochs:g} verdict-only passes" if cfg.verdict_epochs else "")
        + (f" (with {len(verdict_only)} more prompts, verdict only)" if verdict_only else "")
        + f", lr {lr}, LoRA on layers "
        f"{cfg.lora_first_layer}..{T.n_decoder_layers(model) - 1} (lower layers computed once)"
    )
    res = train_prefix_sft(
        model,
        st.tokenizer,
        pairs,
        settings,
        on_step=on_step,
        should_stop=ctx.should_stop,
        on_prefix_progress=ctx.emit_progress,
        verdict_offset=verdict_offset,
        verdict_weights=weights,
        verdict_only_pairs=verdict_only,
    )
    st.lap(f"{phase}_s", t)
    ctx.log(
        f"{phase}: {res['steps']} steps; frozen prefix {res['prefix_s']} s, training {res['train_s']} s"
        + (
            f"; the {res['shared_prefix_tokens']} prompt tokens every example starts with ran once per step"
            if res.get("shared_prefix_tokens")
            else ""
        )
        + ("" if res["cached"] else " (this architecture has no prefix cache: full forward passes)")
    )
    if res["cancelled"]:
        return None
    kept = best.restore(model)
    if kept is not None:
        kept["kept"] = True
        T.write_json(st.path("data", "holdout_readout.json"), st.readouts)
        last = st.readouts[-1]
        ctx.log(
            f"{phase}: kept the adapter of step {kept['step']}/{kept['of']} (keep_best_checkpoint): balanced "
            f"accuracy {100 * best.score:.1f} % on the held-out train slice"
            + ("" if last is kept else f", against {100 * (balanced_accuracy(last) or 0.0):.1f} % at the end")
        )
    return model


@dataclass(kw_only=True)
class BestCheckpoint:
    """The trainable (LoRA) weights at the readout with the best balanced accuracy so far; ties go to the
    later step. A copy of the adapter only: 14 MB for the ``demo-cpu`` LoRA."""

    enabled: bool
    score: float = float("-inf")
    entry: dict[str, Any] | None = None
    weights: dict[str, Any] = field(default_factory=dict)

    def offer(self, model: Any, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        score = balanced_accuracy(entry)
        if score is not None and score >= self.score:
            self.score, self.entry = score, entry
            self.weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    def restore(self, model: Any) -> dict[str, Any] | None:
        """Load the best weights into ``model`` (the same weights again when the best readout was the
        last); the kept readout entry, None when disabled or no readout could be ranked."""
        import torch

        if not self.enabled or self.entry is None:
            return None
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n in self.weights:
                    p.copy_(self.weights[n])
        return self.entry


def holdout_readout(
    st: RunState, model: Any, phase: str, step: int, total: int, lead: ReadoutLead, template: str
) -> dict[str, Any]:
    """Read the verdict off the held-out train slice (no generation), emit it and append it to
    ``data/holdout_readout.json``."""
    t = time.time()
    chats = [T.chat_for(it, template) for it in st.holdout]
    scores = verdict_scores(
        model, st.tokenizer, chats, lead=lead.lead, unsafe_word=lead.unsafe, safe_word=lead.safe
    )
    res = readout_summary(scores, [it.harmful for it in st.holdout], [it.kind for it in st.holdout])
    at0 = res["refused"]["0"]
    entry = {"phase": phase, "step": step, "of": total, "seconds": round(time.time() - t, 1), **res}
    entry["offset_within_bars"] = chosen_offset(res)
    st.readouts.append(entry)
    T.write_json(st.path("data", "holdout_readout.json"), st.readouts)
    st.ctx.emit_metric(
        step,
        **{f"{phase}/holdout/refused_{k}": v for k, v in at0.items()},
        **({f"{phase}/holdout/auroc": res["auroc"]} if res["auroc"] is not None else {}),
    )
    st.ctx.log(f"{phase} step {step}/{total}: {readout_line(entry)}")
    model.train()
    return entry


# bump when generation (T.generate, chat templates) changes what the base would say; 2: generate sorts prompts
# by length, so batches (and left padding) differ
BASE_ANSWERS_VERSION = 2


def torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def require_trainable(model: Any) -> None:
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n == 0:
        raise InputError("No trainable parameters: the LoRA adapter was not attached (check lora_targets).")
