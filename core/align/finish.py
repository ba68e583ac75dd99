"""The end of every alignment run: save the adapter, audit base vs tuned on the validation split (the base
side cached across runs), the representation diff, "the states knew -- does the model act?", the minimal-pair
stress split, and the run's summary and report.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.align import data as D
from core.align import training as T
from core.align.evaluate import (
    audit_base_vs_tuned,
    audit_numbers,
    kind_rates,
    knew_and_acted,
    prompt_states,
    representation_diff,
)
from core.align.pipeline import (
    BASE_ANSWERS_VERSION,
    RunState,
    torch_threads,
)
from core.align.readout import adapter_readout
from core.capture.models import model_fingerprint
from core.config import reasonscope_home
from core.errors import AuditFailed
from core.evals.awareness import states_knew_lines
from core.evals.runner import AuditCancelled


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
            "holdout_readout": adapter_readout(st.readouts),
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
    if st.readouts:  # the verdict on the held-out train slice of the adapter the run kept
        summary["holdout_readout"] = adapter_readout(st.readouts)
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
