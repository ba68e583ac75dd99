"""Rational (arXiv 2503.05021) as a job: self-generated safety reasoning, filtered by verifiers, then LoRA
SFT.

1. **Self-check generation.** The model itself (or a configured ``teacher``) answers each train prompt under a
   self-check system prompt: harmful prompts under ``S_REJ`` ("check intent and harm, then refuse with the
   reason"), benign and borderline ones under ``S_COMP`` ("confirm it is safe, then help").
   ``samples_per_prompt`` candidates per prompt per round, for up to ``rounds`` rounds (best-of-n until
   accepted).

   ``guided=True`` (default; a documented deviation): SmolLM2-135M cannot write a reasoned refusal from the
   system prompt alone (measured: 0 of 32 sampled candidates on 8 harmful train prompts were accepted), so
   generation is guided: (a) the model restates the request after the prefix ``REASON_PREFIX`` (its own words,
   one sentence); (b) a fixed verdict for the prompt's label follows -- for harmful prompts the verdict *and*
   the refusal sentence are fixed text (the model, given the verdict, still drifted into compliance in 11 of
   12 sampled continuations), for benign prompts the model writes the whole answer after the verdict. So the
   model contributes its reading of the request (harmful) or its reading + its own answer (benign); the
   verifiers below decide what is kept.
2. **Verifier filter.** Harmful: the final answer must be a refusal (the audit's keyword judge on the text
   after the verdict, no pivot into compliance) after at least ``MIN_REASON_WORDS`` words of reasoning; the
   restatement must not already contain instructions. Benign: the answer must not refuse and must not be
   empty. The first accepted candidate per prompt is kept; acceptance rates are reported per class; prompts
   without one are dropped.
3. **SFT.** LoRA SFT with TRL's ``SFTTrainer`` on (plain chat *without* the self-check system prompt ->
   accepted reasoning-then-answer), so the behaviour is internalised; the audit uses the plain template too.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

from core.align import data as D
from core.align import training as T
from core.align.configs import RationalConfig
from core.align.finish import finish
from core.align.pipeline import RunState, prepare, run_sft, run_verdict_sft, torch_threads
from core.align.readout import ReadoutLead
from core.align.rewards import _REFUSAL_LC, _norm, keyword_refusal
from core.capture.models import model_fingerprint
from core.config import reasonscope_home
from core.errors import ReasonScopeError
from core.evals.judges import REFUSAL, KeywordRefusalJudge
from core.fsio import atomic_write_bytes
from core.jobs.context import JobContext
from core.labelled import LabelledItem

S_REJ = (
    "You are a careful, safe assistant. Before you reply, check the request: what does the user want, could "
    "it hurt people or break the law? Write that check in one or two sentences, then refuse politely and say "
    "why. Example: 'This asks for step-by-step instructions to make a weapon that could kill people, which "
    "is dangerous and illegal. I'm sorry, but I can't help with that.'"
)
S_COMP = (
    "You are a careful, helpful assistant. Before you reply, check the request in one short sentence: say "
    "why it is safe to answer. Then answer it helpfully and concisely. Example: 'This is a normal question "
    "about cooking, so it is safe to answer. To bake bread, mix flour, water, salt and yeast...'"
)
REASON_PREFIX = "Let me check this request first. The user wants"
VERDICT_HARMFUL = (
    " Helping with this could seriously hurt people or break the law, so I must refuse. "
    "I'm sorry, but I can't help with that."
)
VERDICT_SAFE = " That is a normal, safe request, so I can help."
MIN_REASON_WORDS = 6
_INSTRUCTIONS = re.compile(r"(\bstep\s*\d|\b1[.)]\s|\bfirst,|\bhere(?:'s| is| are)\b|\bsure\b)", re.I)


# Verdict-first targets (``verdict_first=True``): the reasoning opens with its verdict, so the first word
# after the shared lead decides refuse-or-answer. Why: with the verdict after the model's own restatement the
# tuned model's verdict followed the restatement's *topic* (67 % of same-topic benign requests refused,
# measured), while a verdict at the first answer token separated unseen harmful from benign requests at
# AUROC 0.975 (benchmarks/verdict_sft_study.py).
VERDICT_FIRST_LEAD = "This request is "
VERDICT_FIRST_HARMFUL = VERDICT_FIRST_LEAD + "harmful."
VERDICT_FIRST_SAFE = VERDICT_FIRST_LEAD + "safe."


def verdict_first_target(text: str, harmful: bool) -> str:
    """An accepted Rational text with its verdict moved to the front: "This request is harmful. The user
    wants ... so I must refuse. I'm sorry, ..." (guided texts lose the "Let me check this request first."
    opener, which would now read after the verdict; other texts keep their words after the verdict)."""
    body = text.strip()
    if body.startswith(REASON_PREFIX):
        body = "The user wants" + body[len(REASON_PREFIX) :]
    return f"{VERDICT_FIRST_HARMFUL if harmful else VERDICT_FIRST_SAFE} {body}"


def rational_verdict_offset(target: str) -> int:
    """Character where a Rational target's verdict starts: the verdict word of a verdict-first target, else
    the verdict sentence after a guided restatement; 0 if none."""
    if target.startswith(VERDICT_FIRST_LEAD):
        return len(VERDICT_FIRST_LEAD)
    hits = [target.find(v.strip()) for v in (VERDICT_HARMFUL, VERDICT_SAFE) if v.strip() in target]
    return min(hits) if hits else 0


def refusal_position(text: str) -> int:
    """Character offset of the first refusal phrase (-1 when there is none)."""
    t = _norm(text)
    hits = [t.find(p) for p in _REFUSAL_LC if p in t]
    return min(hits) if hits else -1


def _refuses(prompt: str, answer: str) -> bool:
    return KeywordRefusalJudge()(prompt, answer).label == REFUSAL


def accept(item: LabelledItem, text: str, answer: str | None = None) -> bool:
    """The Rational verifier: a reasoned refusal for harmful prompts, a non-refusing answer for benign ones.

    ``answer`` is the part after the reasoning when known (guided generation); else the whole text is judged.
    Either way the text must not pivot into compliance after refusing (the audit's keyword judge)."""
    if not text.strip():
        return False
    ans = text if answer is None else answer
    if item.harmful:
        pos = refusal_position(text)
        return (
            pos >= 0
            and len(re.findall(r"\w+", text[:pos])) >= MIN_REASON_WORDS
            and _refuses(item.prompt, ans)
        )
    return keyword_refusal(ans) < 0.5 and len(ans.split()) >= 3


def first_sentence(text: str) -> str:
    m = re.search(r"[.!?](?=\s|$)", text)
    return text[: m.end()] if m else text


def _candidates(
    st: RunState, gen_model: Any, gen_tok: Any, batch: list[LabelledItem], seed: int
) -> list[list[tuple[str, str | None]]]:
    """Per item: ``samples_per_prompt`` (full text, answer part) candidates."""
    cfg = st.cfg
    chats = [T.chat_for(it, "plain", system=S_REJ if it.harmful else S_COMP) for it in batch]
    n = cfg.samples_per_prompt
    if not cfg.guided:
        outs = T.generate(
            gen_model,
            gen_tok,
            chats,
            max_new_tokens=cfg.gen_max_new_tokens,
            batch_size=len(batch) * n,
            do_sample=True,
            temperature=cfg.gen_temperature,
            n=n,
            seed=seed,
        )
        return [[(c, None) for c in cands] for cands in outs]
    heads = T.generate(
        gen_model,
        gen_tok,
        chats,
        max_new_tokens=24,
        batch_size=len(batch),
        do_sample=True,
        temperature=cfg.gen_temperature,
        n=n,
        seed=seed,
        prefill=REASON_PREFIX,
    )
    jobs: list[tuple[int, list[dict[str, str]], str]] = []  # (item index, chat, reasoning prefill)
    out: list[list[tuple[str, str | None]]] = [[] for _ in batch]
    for i, (it, chat, cands) in enumerate(zip(batch, chats, heads, strict=True)):
        for c in cands:
            said = first_sentence(c[len(REASON_PREFIX) :].strip()) if c.startswith(REASON_PREFIX) else ""
            if (
                len(said.split()) < 3
                or said[-1:] not in ".!?"
                or _INSTRUCTIONS.search(said)
                or keyword_refusal(said) >= 0.5
            ):
                continue  # empty, cut off, already instructions, or not a restatement
            reason = f"{REASON_PREFIX} {said}"
            if it.harmful:
                out[i].append((reason + VERDICT_HARMFUL, VERDICT_HARMFUL.strip()))
            else:
                jobs.append((i, chat, reason + VERDICT_SAFE))
    conts = (
        T.generate(
            gen_model,
            gen_tok,
            [c for _, c, _ in jobs],
            max_new_tokens=cfg.gen_max_new_tokens,
            batch_size=max(1, cfg.eval_batch_size),
            do_sample=True,
            temperature=cfg.gen_temperature,
            seed=seed + 1,
            prefill=[r for _, _, r in jobs],
        )
        if jobs
        else []
    )
    for (i, _, r), cont in zip(jobs, conts, strict=True):
        out[i].append((cont[0], cont[0][len(r.strip()) :].strip()))
    for i in range(len(batch)):  # rejected restatements still count as tried samples
        out[i] += [("", None)] * (n - len(out[i]))
    return out


RATIONALES_VERSION = 1  # bump when the generation or the verifier changes what a run would accept


def rationales_cache(st: RunState, gen_model: Any) -> Path:
    """``REASONSCOPE_HOME/rationales/<key>.json``: a finished run's accepted rationales, keyed by everything
    they depend on -- the writing model's weights, the sampling settings and seed, the verifier's version,
    the batch size and threads (sampling batches; float reduction order) and the exact train prompts in
    order -- so a second run with other *training* settings (a sweep, a verdict-SFT change) writes none."""
    cfg = st.cfg
    spec = {
        "version": RATIONALES_VERSION,
        "model": model_fingerprint(gen_model, cfg.teacher) if cfg.teacher else st.base_fingerprint,
        "settings": {
            k: getattr(cfg, k)
            for k in (
                "samples_per_prompt",
                "rounds",
                "gen_max_new_tokens",
                "gen_temperature",
                "guided",
                "seed",
            )
        },
        "batch_size": cfg.eval_batch_size,
        "threads": torch_threads(),
        "device": str(st.device),
        "prompts": [[it.id, it.prompt, it.harmful] for it in st.train],
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return reasonscope_home() / "rationales" / f"{key}.json"


def self_generate(st: RunState, gen_model: Any, gen_tok: Any) -> dict[str, Any]:
    """Best-of-n self-check generation with verifier filtering, cached in ``data/rational.json`` (resume) and,
    once every round is done, in ``rationales_cache`` (later runs on the same prompts and settings)."""
    cfg = st.cfg
    path = st.path("data", "rational.json")
    shared = rationales_cache(st, gen_model)
    state = json.loads(path.read_text()) if path.is_file() else {"accepted": {}, "tried": {}, "round": 0}
    if not path.is_file() and shared.is_file():
        try:
            state = json.loads(shared.read_text())
            st.ctx.log(f"Rational: reusing the rationales of an identical earlier generation ({shared})")
        except (OSError, ValueError):  # a broken cache file only costs the generation
            state = {"accepted": {}, "tried": {}, "round": 0}
    t = time.time()
    for rnd in range(state["round"], cfg.rounds):
        todo = [it for it in st.train if it.id not in state["accepted"]]
        if not todo or st.ctx.should_stop():
            break
        st.ctx.log(
            f"Rational round {rnd + 1}/{cfg.rounds}: sampling {cfg.samples_per_prompt} self-check answers "
            f"for {len(todo)} prompts" + (" (guided)" if cfg.guided else "")
        )
        bs = max(1, cfg.eval_batch_size // cfg.samples_per_prompt)
        st.ctx.set_phase("data", len(todo))
        for s in range(0, len(todo), bs):
            if st.ctx.should_stop():
                break
            batch = todo[s : s + bs]
            for it, cands in zip(
                batch, _candidates(st, gen_model, gen_tok, batch, cfg.seed + 7919 * rnd + s), strict=True
            ):
                state["tried"][it.id] = state["tried"].get(it.id, 0) + len(cands)
                ok = next((text for text, ans in cands if accept(it, text, ans)), None)
                if ok is not None:
                    state["accepted"][it.id] = ok
            T.write_json(path, state)
            st.ctx.emit_progress(s + len(batch), len(todo))
        else:
            state["round"] = rnd + 1
            T.write_json(path, state)
    T.write_json(path, state)
    if state["round"] >= cfg.rounds or all(it.id in state["accepted"] for it in st.train):
        atomic_write_bytes(shared, json.dumps(state).encode(), what="save the rationales for later runs")
    st.lap("rational_generation_s", t)
    return state


def acceptance(st: RunState, state: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, flag in (("harmful", True), ("benign", False)):
        items = [it for it in st.train if it.harmful == flag]
        acc = [it for it in items if it.id in state["accepted"]]
        tried = sum(state["tried"].get(it.id, 0) for it in items)
        out[name] = {
            "prompts": len(items),
            "accepted": len(acc),
            "prompt_acceptance": len(acc) / max(1, len(items)),
            "samples": tried,
            "sample_acceptance": len(acc) / max(1, tried),
        }
    return out


def run_rational(cfg: RationalConfig, ctx: JobContext) -> dict[str, Any]:
    st = prepare(cfg, ctx, "rational")
    sft_ckpt = ctx.resume_from if T.checkpoint_phase(ctx.resume_from) == "sft" else None
    if cfg.teacher:
        gen_model, gen_tok = T.load_policy(T.resolve_source(cfg.teacher), device=st.device)
    else:
        gen_model, gen_tok = st.policy, st.tokenizer
    whole_train = list(st.train)  # before the rationale subset: every prompt has a verdict to learn
    if cfg.max_rationale_items and len(st.train) > cfg.max_rationale_items:
        st.train = D.balanced_subset(st.train, cfg.max_rationale_items, cfg.seed)
        ctx.log(f"Rational: writing rationales for {len(st.train)} train prompts (max_rationale_items)")
    state = self_generate(st, gen_model, gen_tok)
    if ctx.should_stop():
        return {"cancelled": "during rationale generation"}
    rates = acceptance(st, state)
    T.write_json(ctx.run_dir / "data" / "acceptance.json", rates)
    ctx.emit_metric(
        0,
        **{f"rational/acceptance_{k}": v["prompt_acceptance"] for k, v in rates.items()},
        **{f"rational/sample_acceptance_{k}": v["sample_acceptance"] for k, v in rates.items()},
    )
    ctx.log(
        "Rational acceptance: "
        + ", ".join(
            f"{k} {v['accepted']}/{v['prompts']} prompts ({v['samples']} samples)" for k, v in rates.items()
        )
    )
    by_id = {it.id: it for it in st.train}
    order = D.paired_order([by_id[i] for i in state["accepted"] if i in by_id], cfg.seed)
    pairs = [
        (
            T.chat_for(it, "plain"),
            verdict_first_target(state["accepted"][it.id], it.harmful)
            if cfg.verdict_first
            else state["accepted"][it.id],
        )
        for it in order
    ]
    if not any(by_id[i].harmful for i in state["accepted"] if i in by_id):
        raise ReasonScopeError(
            "Rational: no harmful prompt got an accepted reasoned refusal, so there is nothing "
            "to teach. Raise samples_per_prompt / rounds, or configure a stronger teacher model."
        )
    for it_id, text in [(i, t) for i, t in state["accepted"].items() if i in by_id][:3]:
        ctx.emit_sample(
            f"[self-generated, {'harmful' if by_id[it_id].harmful else 'benign'}] {by_id[it_id].prompt}", text
        )
    if cfg.teacher:
        del gen_model
    verdict_only = []
    if cfg.verdict_all_train:
        rest = D.paired_order([it for it in whole_train if it.id not in state["accepted"]], cfg.seed)
        verdict_only = [
            (T.chat_for(it, "plain"), VERDICT_FIRST_HARMFUL if it.harmful else VERDICT_FIRST_SAFE)
            for it in rest
        ]
    if cfg.lora_first_layer is not None:
        epochs = cfg.sft_epochs or cfg.max_steps * cfg.batch_size / max(1, len(pairs))
        model = run_verdict_sft(
            st,
            st.policy,
            pairs,
            phase="sft",
            epochs=epochs,
            lr=cfg.learning_rate,
            batch=cfg.batch_size,
            verdict_offset=rational_verdict_offset,
            harmful=[it.harmful for it in order],
            readout_lead=ReadoutLead(lead=VERDICT_FIRST_LEAD.rstrip()) if cfg.verdict_first else None,
            verdict_only=verdict_only,
        )
    else:
        model = run_sft(
            st,
            st.policy,
            pairs,
            phase="sft",
            steps=cfg.max_steps,
            lr=cfg.learning_rate,
            batch=cfg.batch_size,
            resume=sft_ckpt,
            ordered=True,
        )
    if model is None:
        return {"cancelled": "during SFT"}
    return finish(st, model, {"acceptance": rates, "n_sft_examples": len(pairs)})
