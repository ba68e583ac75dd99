"""The supervised warm start of AlphaAlign and CRAFT: the base model's own answers to the benign train prompts
(cached across runs), AlphaAlign-format targets, the verdict SFT, and the finished adapter shared across runs
with identical inputs (``REASONSCOPE_HOME/warmstarts/<key>``).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from core.align import data as D
from core.align import training as T
from core.align.evaluate import (
    load_base_cache,
)
from core.align.pipeline import (
    BASE_ANSWERS_VERSION,
    RunState,
    run_sft,
    run_verdict_sft,
    torch_threads,
)
from core.align.readout import ReadoutLead
from core.align.rewards import refusal_verifier
from core.capture.models import model_fingerprint
from core.config import reasonscope_home
from core.fsio import atomic_write_bytes
from core.labelled import LabelledItem

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
        # only when on, so the keys (and shared warm starts) of runs without it stay as they were
        **({"keep_best_checkpoint": True} if cfg.keep_best_checkpoint else {}),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]


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
