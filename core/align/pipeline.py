"""The steps every alignment job shares: load data and policy, generate benign self-answers, the supervised
warm start, and the end of a run (adapter, before/after audit, representation diff, summary).

Resume: each step leaves its result in the run folder (``core.align.training`` documents the layout) and is
skipped when that result exists; trainer phases restart from their last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.align import data as D
from core.align import training as T
from core.align.configs import AlignBase
from core.align.evaluate import (
    audit_base_vs_tuned,
    audit_numbers,
    kind_rates,
    knew_and_acted,
    load_base_cache,
    prompt_states,
    representation_diff,
)
from core.align.prefix_sft import PrefixSFTSettings, train_prefix_sft
from core.align.readout import ReadoutLead, chosen_offset, readout_line, readout_summary, verdict_scores
from core.align.rewards import refusal_verifier
from core.capture.models import model_fingerprint
from core.config import reasonscope_home
from core.errors import AuditFailed, InputError
from core.evals.awareness import states_knew_lines
from core.evals.runner import AuditCancelled
from core.fsio import atomic_write_bytes
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


def benign_answers(st: RunState, items: list[LabelledItem]) -> dict[str, str]:
    """The base model's own greedy answers (plain template) to benign items, {item id: answer}: cached in
    data/ for resume, and shared across runs through ``benign_answers_cache`` (a sweep or a second method on
    the same model generates none)."""
    path = st.path("data", "benign_answers.json")
    cached: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    shared_path = benign_answers_cache(st)
    shared = load_base_cache(shared_path)  # {prompt: answer}; a broken file only costs regeneration
    for it in items:
        if not it.harmful and it.id not in cached and it.prompt in shared:
            cached[it.id] = shared[it.prompt]
    todo = [it for it in items if not it.harmful and it.id not in cached]
    if todo:
        t = time.time()
        st.ctx.log(
            f"generating the model's own answers to {len(todo)} benign train prompts (warm-start targets)"
        )
        chats = [T.chat_for(it, "plain") for it in todo]
        bs = st.cfg.eval_batch_size
        chunk = bs * 4  # generate sorts each chunk by length; progress and cancel between chunks
        st.ctx.set_phase("data", len(todo))
        for s in range(0, len(todo), chunk):
            if st.ctx.should_stop():
                break
            outs = T.generate(
                st.policy,
                st.tokenizer,
                chats[s : s + chunk],
                max_new_tokens=st.cfg.benign_answer_tokens,
                batch_size=bs,
            )
            for it, o in zip(todo[s : s + chunk], outs, strict=True):
                cached[it.id] = shared[it.prompt] = D.tidy_answer(o[0])
            T.write_json(path, cached)
            st.ctx.emit_progress(min(s + chunk, len(todo)), len(todo))
        atomic_write_bytes(shared_path, json.dumps(shared).encode(), what="save the benign self-answers")
        st.lap("benign_answers_s", t)
    else:
        T.write_json(path, cached)
    return cached


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
) -> Any:
    """LoRA SFT over a cached frozen prefix (``core.align.prefix_sft``): adapters on layers
    ``cfg.lora_first_layer..`` only, verdict tokens weighted (benign pairs by ``cfg.benign_verdict_weight``
    when set; ``harmful[i]`` says which pairs are harmful). Returns the PeftModel, None when cancelled.

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
    ctx.set_phase(f"{phase}{PREFIX_PHASE}")  # the frozen lower layers are computed once first

    def on_step(step: int, total: int, m: dict[str, float]) -> None:
        if ctx.phase != phase:  # training started: its ETA is measured on training steps only
            ctx.set_phase(phase, total)
        ctx.emit_metric(step, **{f"{phase}/{k}": v for k, v in m.items()})
        ctx.emit_progress(step, total)
        at_check = step in {max(1, total // 3), max(1, 2 * total // 3), total} - checks
        if at_check and st.holdout and readout_lead is not None:
            holdout_readout(st, model, phase, step, total, readout_lead, cfg.template)
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
    return model


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


WARM_START_VERSION = (
    4  # bump when the warm-start targets or training change: old shared adapters stop matching
)


def warm_start_key(st: RunState) -> str:
    """Hash of everything a warm start depends on; equal keys -> the same adapter (up to float reduction
    order)."""
    cfg = st.cfg
    fields = [
        "template",
        "seed",
        "max_train_items",
        "monitor_items",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "lora_targets",
        "warm_start_steps",
        "warm_start_epochs",
        "lora_first_layer",
        "verdict_tokens",
        "verdict_weight",
        "verdict_epochs",
        "benign_verdict_weight",
        "holdout_items",
        "warm_start_lr",
        "warm_start_batch",
        "benign_answer_tokens",
        "benign_answer_chars",
    ]
    spec = {
        "version": WARM_START_VERSION,
        "model": model_fingerprint(st.policy, cfg.model),
        "data": hashlib.sha256(json.dumps(st.rows, sort_keys=True, default=str).encode()).hexdigest(),
        **{f: getattr(cfg, f) for f in fields},
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]


# bump when generation (T.generate, chat templates) changes what the base would say; 2: generate sorts prompts
# by length, so batches (and left padding) differ
BASE_ANSWERS_VERSION = 2


def base_answers_cache(st: RunState) -> Path:
    """``REASONSCOPE_HOME/base_answers/<key>.json``: the base model's greedy audit answers, keyed by
    everything they depend on -- the model's weights, the rendered template, the token budget and the batch
    size (left padding can flip a greedy tie) -- so every run after the first on the same model audits
    only the tuned side."""
    cfg = st.cfg
    spec = {
        "version": BASE_ANSWERS_VERSION,
        "model": st.base_fingerprint or model_fingerprint(st.policy, cfg.model),
        "chat": T.chat_for("PROMPT", cfg.template),
        "threads": torch_threads(),  # float reduction order: greedy ties can flip across thread counts
        "max_new_tokens": cfg.eval_max_new_tokens,
        "batch_size": cfg.eval_batch_size,
        "device": str(st.device),
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return reasonscope_home() / "base_answers" / f"{key}.json"


def benign_answers_cache(st: RunState) -> Path:
    """``REASONSCOPE_HOME/benign_answers/<key>.json``: the base model's greedy answers to benign train
    prompts under the plain template ({prompt: answer}, the warm-start targets), keyed like
    ``base_answers_cache`` by what they depend on."""
    cfg = st.cfg
    spec = {
        "version": BASE_ANSWERS_VERSION,
        "model": st.base_fingerprint or model_fingerprint(st.policy, cfg.model),
        "chat": T.chat_for("PROMPT", "plain"),
        "threads": torch_threads(),
        "max_new_tokens": cfg.benign_answer_tokens,
        "batch_size": cfg.eval_batch_size,
        "device": str(st.device),
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return reasonscope_home() / "benign_answers" / f"{key}.json"


def torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def shared_warm_start_dir(key: str) -> Path:
    """``REASONSCOPE_HOME/warmstarts/<key>`` (``REASONSCOPE_WARMSTARTS`` overrides the folder)."""
    env = os.environ.get("REASONSCOPE_WARMSTARTS")
    return (Path(env).expanduser() if env else reasonscope_home() / "warmstarts") / key


def _share(adapter: Path, key: str, st: RunState) -> None:
    """Copy a finished warm-start adapter into the shared cache (atomic rename; a failure only logs)."""
    dest = shared_warm_start_dir(key)
    if dest.is_dir():
        return
    try:
        tmp = dest.with_name(f".{key}.{st.ctx.job_id}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(adapter, tmp)
        source = {"job": st.ctx.job_id, "method": st.method, "holdout_readout": st.readouts}
        (tmp / "source.json").write_text(json.dumps(source))
        tmp.rename(dest)
    except OSError as exc:
        st.ctx.log(f"warm start: could not share the adapter ({exc}); later runs will train their own")


def warm_start(st: RunState) -> Any:
    """The supervised warm start (AlphaAlign-format targets on the train split) -> PeftModel, or None if
    cancelled.

    Skipped when ``warmstart/adapter`` exists (resume) or, with ``share_warm_start``, when an earlier run
    finished a warm start with identical inputs; restarts from a warm-start checkpoint when given."""
    from peft import PeftModel

    cfg = st.cfg
    adapter = st.ctx.run_dir / "warmstart" / "adapter"
    if (adapter / "adapter_config.json").is_file():
        st.ctx.log("warm start: reusing the finished warm-start adapter")
        return PeftModel.from_pretrained(st.policy, str(adapter), is_trainable=True)
    key = warm_start_key(st) if cfg.share_warm_start else None
    shared = shared_warm_start_dir(key) if key else None
    if shared is not None and (shared / "adapter_config.json").is_file():
        src = json.loads((shared / "source.json").read_text()) if (shared / "source.json").is_file() else {}
        shutil.copytree(shared, adapter, dirs_exist_ok=True)
        st.ctx.log(
            f"warm start: reusing the identical warm start of run {src.get('job', '?')} ({shared}); set "
            "share_warm_start=false to train a fresh one"
        )
        if src.get("holdout_readout"):  # the readout of that warm start is this run's too
            st.readouts = list(src["holdout_readout"])
            T.write_json(st.path("data", "holdout_readout.json"), st.readouts)
        st.ctx.emit_artefact("warmstart-adapter", adapter, checkpoint=True)
        return PeftModel.from_pretrained(st.policy, str(adapter), is_trainable=True)
    answers = benign_answers(st, st.train)
    if st.ctx.should_stop():
        return None
    rng = random.Random(cfg.seed)
    tidy = {k: D.tidy_answer(v, cfg.benign_answer_chars) for k, v in answers.items()}
    # the base model refuses some benign prompts itself: those answers would teach over-refusal -> dropped
    refusing = {k for k, v in tidy.items() if refusal_verifier(v) >= 0.5}
    empty = sum(1 for it in st.train if not it.harmful and not tidy.get(it.id, "").strip())
    if empty:
        st.ctx.log(
            f"warm start: {empty} benign answers were empty; they use the neutral opener "
            f"{D.EMPTY_ANSWER_FALLBACK!r}"
        )
    if refusing:
        st.ctx.log(f"warm start: dropped {len(refusing)} benign items whose own answer was a refusal")
    kept = D.paired_order([it for it in st.train if it.id not in refusing], cfg.seed)
    pairs = [(T.chat_for(it, cfg.template), D.alphaalign_target(it, tidy.get(it.id), rng)) for it in kept]
    T.write_json(st.path("data", "warmstart_targets.json"), [{"messages": c, "target": t} for c, t in pairs])
    resume = st.ctx.resume_from if T.checkpoint_phase(st.ctx.resume_from) == "warmstart" else None
    if cfg.lora_first_layer is not None:
        epochs = cfg.warm_start_epochs or cfg.warm_start_steps * cfg.warm_start_batch / max(1, len(pairs))
        model = run_verdict_sft(
            st,
            st.policy,
            pairs,
            phase="warmstart",
            epochs=epochs,
            lr=cfg.warm_start_lr,
            batch=cfg.warm_start_batch,
            verdict_offset=D.alphaalign_verdict_offset,
            harmful=[it.harmful for it in kept],
            readout_lead=ReadoutLead(lead="<safety_reasoning>" + D.VERDICT_LEAD.rstrip()),
        )
    else:
        model = run_sft(
            st,
            st.policy,
            pairs,
            phase="warmstart",
            steps=cfg.warm_start_steps,
            lr=cfg.warm_start_lr,
            batch=cfg.warm_start_batch,
            resume=resume,
            ordered=True,
        )
    if model is None:
        return None
    T.save_adapter(model, adapter)
    st.ctx.emit_artefact("warmstart-adapter", adapter, checkpoint=True)
    if key:
        _share(adapter, key, st)
    return model


def finish(
    st: RunState, model: Any, extra: dict[str, Any] | Callable[..., dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Save the adapter, audit base vs tuned on the validation split (``core.evals``), diff representations,
    summarise. ``extra`` adds method-specific results: a dict, or ``extra(model, answers) -> dict`` called
    after the audit with ``answers[subject][prompt]`` (CRAFT's latent shift)."""
    cfg, ctx = st.cfg, st.ctx
    adapter = T.save_adapter(model, ctx.run_dir / "adapter")
    ctx.emit_artefact("adapter", adapter)
    more: dict[str, Any] = {} if callable(extra) else dict(extra or {})
    summary: dict[str, Any] = {
        "method": st.method,
        "adapter": str(adapter.resolve()),
        "subject": {"model": cfg.model, "adapter": str(adapter.resolve()), "template": cfg.template},
    }
    # a plain-template subject asks for no tags: format compliance is not measurable there
    suites = [s for s in cfg.audit_suites if not (s == "format" and cfg.template == "plain")]
    if cfg.audit and st.validation:
        ctx.log(
            f"audit: base vs tuned on the validation split ({', '.join(suites)}), template {cfg.template!r}"
        )

        def gen(prompts: list[str]) -> list[str]:
            chats = [T.chat_for(p, cfg.template) for p in prompts]
            return [
                o[0]
                for o in T.generate(
                    model,
                    st.tokenizer,
                    chats,
                    max_new_tokens=cfg.eval_max_new_tokens,
                    batch_size=cfg.eval_batch_size,
                )
            ]

        t = time.time()
        ctx.set_phase("audit")
        try:
            result, answers = audit_base_vs_tuned(
                model,
                gen,
                dataset=cfg.dataset,
                template=cfg.template,
                model_name=cfg.model,
                adapter=adapter,
                suites=suites,
                max_new_tokens=cfg.eval_max_new_tokens,
                limit=cfg.audit_max_items,
                seed=cfg.seed,
                should_stop=ctx.should_stop,
                out_dir=ctx.run_dir / "audit",
                progress=ctx.emit_progress,
                max_empty_share=cfg.audit_max_empty_share,
                base_cache=base_answers_cache(st),
            )
        except AuditCancelled:
            ctx.log("audit cancelled; the adapter is saved, resume the job to run the audit")
            return summary
        except AuditFailed as exc:  # e.g. the tuned model answers mostly with empty responses
            ctx.log(f"{exc} (the adapter is saved at {adapter})")
            raise
        st.lap("audit_s", t)
        numbers = audit_numbers(result)
        chats = [T.chat_for(it, cfg.template) for it in st.validation]
        n = len(chats)
        ctx.set_phase(
            "audit: representation diff", 2 * n
        )  # base, then tuned states of every validation prompt
        with model.disable_adapter():
            base_states = prompt_states(model, st.tokenizer, chats, progress=ctx.emit_progress)
        with T.merged_lora(model):  # the tuned weights folded in: plain-model speed
            tuned_states = prompt_states(
                model, st.tokenizer, chats, progress=lambda done, _total: ctx.emit_progress(n + done, 2 * n)
            )
        diff = representation_diff(base_states, tuned_states, [it.harmful for it in st.validation])
        T.write_json(ctx.run_dir / "audit" / "representation_diff.json", diff)
        knew = _knew_and_acted(st, model, base_states, result.records)
        by_kind = kind_rates(result.records)
        stress = _stress_audit(st, model, gen, adapter, suites)
        if callable(extra):
            more = extra(model, answers)
        report = {
            "template": cfg.template,
            **numbers,
            "most_changed_layer": diff["most_changed_layer"],
            "by_kind": by_kind,
            "states_knew": knew,
            "stress_minimal_pairs": stress,
            "holdout_readout": st.readouts[-1] if st.readouts else None,
            **more,
        }
        T.write_json(ctx.run_dir / "audit" / "report.json", report)
        ctx.emit_artefact("audit", ctx.run_dir / "audit")
        r = numbers["rates"]
        flat = {}
        for suite, key in (
            ("refusal", "harmful_refusal"),
            ("over_refusal", "over_refusal"),
            ("format", "format_rate"),
            ("reasoning_leak", "reasoning_leak"),
        ):
            for subj, when in (("base", "before"), ("tuned", "after")):
                if f"{subj}/{suite}" in r:
                    flat[f"{key}_{when}"] = round(r[f"{subj}/{suite}"]["rate"], 4)
                    flat[f"{key}_{when}_ci95"] = [round(x, 4) for x in r[f"{subj}/{suite}"]["ci95"]]
            if suite in numbers["comparisons"]:
                flat[f"p_{key}"] = numbers["comparisons"][suite]["p_mcnemar"]
        for kind, subj in by_kind.items():
            for s, when in (("base", "before"), ("tuned", "after")):
                if s in subj:
                    flat[f"refusal_{kind}_{when}"] = round(subj[s]["rate"], 4)
                    flat[f"refusal_{kind}_{when}_ci95"] = [
                        round(subj[s]["low"], 4),
                        round(subj[s]["high"], 4),
                    ]
        summary.update(flat)
        if knew:
            summary["states_knew"] = knew
            for line in states_knew_lines(knew):
                ctx.log(f"states knew: {line}")
        if stress:
            summary["stress_minimal_pairs"] = stress
        ctx.emit_metric(
            int(getattr(cfg, "max_steps", 0)),
            **{f"audit/{k}": v for k, v in flat.items() if not k.endswith("ci95") and not k.startswith("p_")},
        )
        for rec in [
            x for x in result.records if x.subject == "tuned" and x.suite in ("refusal", "over_refusal")
        ][::15][:4]:
            ctx.emit_sample(f"[validation, {rec.kind}] {rec.prompt}", rec.response)
    elif cfg.audit:
        ctx.log("audit skipped: the dataset has no validation split")
    summary.update(more)
    if st.readouts:  # the verdict on the held-out train slice at the end of the verdict SFT
        summary["holdout_readout"] = st.readouts[-1]
    summary["timings_s"] = {
        **st.timings,
        "total_s": round(time.time() - st.t0, 1),
        "total_cpu_s": round(time.process_time() - st.cpu0, 1),
    }
    T.write_json(ctx.run_dir / "summary.json", summary)
    return summary


STATES_KNEW_TRAIN_ITEMS = 400  # class-balanced train prompts the awareness probe is fitted on (~15 s on CPU)


def _knew_and_acted(st: RunState, model: Any, base_val_states: Any, records: Any) -> dict[str, Any] | None:
    """The "states knew -- does the model act?" table (``evaluate.knew_and_acted``); None when impossible."""
    train = D.balanced_subset(st.train, STATES_KNEW_TRAIN_ITEMS, st.cfg.seed)
    if sum(it.harmful for it in train) < 5 or sum(not it.harmful for it in train) < 5:
        return None
    chats = [T.chat_for(it, st.cfg.template) for it in train]
    st.ctx.set_phase("audit: states knew (probe train states)", len(chats))
    with model.disable_adapter():
        train_states = prompt_states(model, st.tokenizer, chats, progress=st.ctx.emit_progress)
    n = train_states.shape[1] - 1
    layers = sorted({max(1, round(n * f)) for f in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)})
    return knew_and_acted(
        train_states=train_states,
        train_harmful=[it.harmful for it in train],
        val_states=base_val_states,
        val_items=st.validation,
        records=records,
        layers=layers,
        seed=st.cfg.seed,
    )


def _stress_audit(
    st: RunState, model: Any, gen: Any, adapter: Path, suites: list[str]
) -> dict[str, Any] | None:
    """Base vs tuned on the minimal-pair stress set (``minimal-pairs`` validation), reported on its own."""
    cfg = st.cfg
    if not getattr(cfg, "stress_audit", False) or cfg.dataset not in (None, "", "sample", "corpus"):
        return None
    t = time.time()
    st.ctx.log("audit: the minimal-pair stress split (reported on its own, no bar)")
    result, _ = audit_base_vs_tuned(
        model,
        gen,
        dataset="minimal-pairs",
        template=cfg.template,
        model_name=cfg.model,
        adapter=adapter,
        suites=[s for s in suites if s in ("refusal", "over_refusal")],
        max_new_tokens=cfg.eval_max_new_tokens,
        limit=None,
        seed=cfg.seed,
        should_stop=st.ctx.should_stop,
        out_dir=st.ctx.run_dir / "audit" / "stress_minimal_pairs",
        max_empty_share=cfg.audit_max_empty_share,
        base_cache=base_answers_cache(st),
    )
    st.lap("stress_audit_s", t)
    return {"by_kind": kind_rates(result.records), **audit_numbers(result)}


def require_trainable(model: Any) -> None:
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n == 0:
        raise InputError("No trainable parameters: the LoRA adapter was not attached (check lora_targets).")
