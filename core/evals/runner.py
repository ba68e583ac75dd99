"""``run_audit``: subjects x suites -> generations (batched) -> judges -> records, summaries, comparisons.

Per subject, every distinct user prompt any chosen suite needs is generated once (greedy, seeded), in
batches of similar prompt length: ``core.capture.tracing.generate_texts`` for most, ``capture_batch`` (one
layer only) for the reasoning-leak prompts when a leak probe must read the reasoning tokens. Each response is
then judged once by the refusal ensemble and reused by every suite that asked for it.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.capture.models import LoadedModel, ModelSpec, hash_folder, load_model
from core.capture.templates import build_messages
from core.capture.tracing import capture, capture_batch, generate_texts
from core.capture.trajectory import GenerationSettings, Trajectory
from core.errors import AuditFailed, InputError, ReasonScopeError
from core.evals.attacks import assign_attacks, load_templates, select_templates
from core.evals.items import (
    FORMATS,
    UtilityTask,
    check_utility,
    file_hash,
    format_ok,
    load_items,
    load_utility,
)
from core.evals.judges import (
    KeywordRefusalJudge,
    ReasoningLeakJudge,
    Verdict,
    answer_span,
    is_empty_response,
    reasoning_span,
)
from core.evals.model_judges import HFClassifierJudge, ProbeJudge, pool_trajectory, teacher_forced_states
from core.evals.records import AttemptRecord, compare_subjects, outcome_of, summarise
from core.evals.result import AuditResult
from core.evals.review import Ensemble
from core.evals.suites import AuditOptions, Subject, check_subjects, check_suites, suite_items
from core.labelled import LabelledItem
from core.probes.artefacts import load_probe_set
from core.probes.linear import Probe
from core.provenance import package_versions
from core.samples.files import ATTACK_FAMILIES
from core.steer.interventions import SteeringConfig, make_interventions, steering_meta
from core.steer.vectors import load_vector, load_vector_file

Progress = Callable[[int, int], None]
Loader = Callable[[ModelSpec], LoadedModel]
Responder = Callable[["Subject", Sequence[str]], Sequence[str]]


class AuditCancelled(ReasonScopeError):
    """The audit was stopped by its caller (a cancelled job)."""


@dataclass
class _Need:
    suite: str
    item: LabelledItem  # a UtilityTask in the utility suite
    prompt: str
    attack: str | None = None
    family: str | None = None


def attempt_id(subject: str, suite: str, item_id: str, attack: str | None) -> str:
    return hashlib.sha256(f"{subject}|{suite}|{item_id}|{attack or ''}".encode()).hexdigest()[:16]


def _plan(
    suites: list[str], items: list[LabelledItem], utility: list[UtilityTask], split: str, opts: AuditOptions
) -> tuple[list[_Need], dict[str, str]]:
    needs: list[_Need] = []
    attack_hashes: dict[str, str] = {}
    for suite in suites:
        chosen = suite_items(
            items, utility, suite, split, opts.limit, opts.include_dataset_jailbreaks, seed=opts.seed
        )
        if suite != "jailbreak":
            needs += [_Need(suite, it, it.prompt) for it in chosen]
            continue
        templates = select_templates(
            load_templates(opts.attack_files, include_builtin=opts.builtin_attacks),
            opts.attack_families or None,
        )
        for t in templates:
            attack_hashes.setdefault(t.source, file_hash(t.source))
        harmful = {it.id: it for it in chosen if it.kind == "harmful"}
        for a in assign_attacks(
            list(harmful),
            [i.prompt for i in harmful.values()],
            templates,
            mode=opts.attack_mode,
            seed=opts.seed,
        ):
            needs.append(_Need(suite, harmful[a.item_id], a.prompt, a.attack_id, a.family))
        for it in chosen:
            if it.kind == "jailbreak":
                fam = next((t for t in it.tags if t in ATTACK_FAMILIES), "dataset")
                needs.append(_Need(suite, it, it.prompt, f"dataset:{it.id}", fam))
    return needs, attack_hashes


def _refusal_judges(opts: AuditOptions, model: LoadedModel, template: str) -> list[Any]:
    judges: list[Any] = []
    for spec in opts.judges:
        kind, _, arg = spec.partition(":")
        if kind == "keyword":
            judges.append(KeywordRefusalJudge())
        elif kind == "probe" and arg:
            ps = load_probe_set(arg, fingerprint=model.fingerprint, model_name=model.name)
            judges.append(
                ProbeJudge(
                    ps.probe(),
                    teacher_forced_states(model, ps.best_layer, template=template),
                    name=f"probe:{ps.meta.get('name', arg)}",
                )
            )
        elif kind == "hf" and arg:
            judges.append(
                HFClassifierJudge(arg, opts.hf_positive_label, opts.hf_positive_means, name=f"hf:{arg}")
            )
        else:
            raise InputError(
                f"Unknown judge {spec!r}: use 'keyword', 'probe:<probe set>' or 'hf:<model folder>'."
            )
    return judges


def _interventions(subject: Subject, model: LoadedModel) -> tuple[list[Any] | None, dict[str, Any] | None]:
    if not subject.steering_vector:
        return None, None
    p = Path(subject.steering_vector)
    vec = (
        load_vector_file(p, d_model=model.d_model)
        if p.is_file()
        else load_vector(subject.steering_vector, fingerprint=model.fingerprint, model_name=model.name)
    )
    cfg = SteeringConfig(**(subject.steering or {}))
    return make_interventions(vec, cfg, model), steering_meta(vec, cfg, model)


def first_chunk(n_prompts: int, batch_size: int, first_batch_size: int | None) -> int:
    """How many prompts the first generation batch takes: ``first_batch_size`` when one ``batch_size``
    batch would be more than a quarter of the work (the first measured speed would come too late), else a
    whole batch."""
    if first_batch_size is None or first_batch_size >= batch_size or batch_size * 4 <= n_prompts:
        return batch_size
    return first_batch_size


def _chunks(order: list[str], batch_size: int, first: int | None) -> list[tuple[list[str], int]]:
    """(prompts, batch size) chunks: an optional short first batch, then four batches at a time (the cancel
    flag is checked between chunks)."""
    out, s = [], 0
    if first is not None and first < batch_size and order:
        out.append((order[:first], first))
        s = first
    step = batch_size * 4
    out += [(order[i : i + step], batch_size) for i in range(s, len(order), step)]
    return out


def _generate(
    model: LoadedModel,
    subject: Subject,
    prompts: list[str],
    capture: set[str],
    opts: AuditOptions,
    fns: list[Any] | None,
    leak_layer: int | None,
    tick: Callable[[Sequence[str]], None],
    should_stop: Callable[[], bool] | None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """prompt -> completion, and prompt -> pooled reasoning state (captured prompts only). ``tick(prompts)``
    after every generation batch with the prompts it finished."""
    settings = GenerationSettings(max_new_tokens=opts.max_new_tokens, seed=opts.seed)
    chats = {p: build_messages(p, template=subject.template, system=subject.system) for p in prompts}
    lengths = {p: len(model.encode_chat(c)) for p, c in chats.items()}
    out: dict[str, str] = {}
    states: dict[str, Any] = {}
    first: int | None = first_chunk(len(prompts), opts.batch_size, opts.first_batch_size)
    for group in ([p for p in prompts if p not in capture], [p for p in prompts if p in capture]):
        order = sorted(group, key=lambda p: lengths[p])  # similar lengths per batch: less padding
        chunks = _chunks(order, opts.batch_size, first)
        if order:
            first = None  # only the audit's very first batch is short
        for chunk, bs in chunks:
            if should_stop and should_stop():
                raise AuditCancelled("Audit cancelled; partial results were not saved.")
            per_batch = _batch_ticks(chunk, tick)
            if chunk[0] in capture:
                for p, traj in zip(
                    chunk,
                    capture_batch(
                        model,
                        [chats[p] for p in chunk],
                        settings,
                        batch_size=bs,
                        layers=(leak_layer,),
                        template=subject.template,
                        interventions=fns,
                        progress=per_batch,
                    ),
                    strict=True,
                ):
                    out[p] = traj.completion
                    states[p] = pool_trajectory(traj, leak_layer, "reasoning")
            else:
                texts = generate_texts(
                    model,
                    [chats[p] for p in chunk],
                    settings,
                    batch_size=bs,
                    interventions=fns,
                    progress=per_batch,
                )
                out.update(zip(chunk, texts, strict=True))
    return out, states


def _batch_ticks(chunk: list[str], tick: Callable[[Sequence[str]], None]) -> Callable[[int, int], None]:
    """A generation ``progress(done, n)`` -> ``tick`` with the prompts of ``chunk`` finished since the last
    call."""
    sent = [0]

    def cb(done: int, _n: int) -> None:
        tick(chunk[sent[0] : done])
        sent[0] = max(sent[0], done)

    return cb


@dataclass(kw_only=True)
class _Run:
    texts: dict[str, str]
    states: dict[str, Any]
    ens: Ensemble
    gen_s: float
    model: LoadedModel | None = None
    steer: dict[str, Any] | None = None
    leak_probe: Probe | None = None
    leak_layer: int | None = None


def _given(
    subject: Subject,
    prompts: list[str],
    responder: Responder,
    opts: AuditOptions,
    leak_prompts: set[str],
    tick: Callable[[Sequence[str]], None],
    should_stop: Callable[[], bool] | None = None,
) -> _Run:
    """Responses produced elsewhere: only text judges apply."""
    if leak_prompts or any(j != "keyword" for j in opts.judges):
        raise InputError(
            "Probe and classifier judges need the model's states; with given responses use the "
            "keyword judge and no leak probe."
        )
    t0 = time.time()
    got: list[str] = []
    step = max(1, opts.batch_size * 4)  # in chunks: progress (and cancel) between them, not per subject
    for s in range(0, len(prompts), step):
        if should_stop and should_stop():
            raise AuditCancelled("Audit cancelled; partial results were not saved.")
        chunk = prompts[s : s + step]
        out = list(responder(subject, chunk))
        if len(out) != len(chunk):
            raise InputError(f"The responder returned {len(out)} responses for {len(chunk)} prompts.")
        got += out
        tick(chunk)
    return _Run(
        texts=dict(zip(prompts, got, strict=True)),
        states={},
        ens=Ensemble([KeywordRefusalJudge()], opts.ensemble_rule),
        gen_s=time.time() - t0,
    )


def _generated(
    subject: Subject,
    prompts: list[str],
    opts: AuditOptions,
    leak_prompts: set[str],
    cache: dict[ModelSpec, LoadedModel],
    loader: Loader | None,
    tick: Callable[[Sequence[str]], None],
    should_stop: Callable[[], bool] | None,
) -> _Run:
    """Load (once per model spec), steer, generate and set up the judges for one subject."""
    if subject.model not in cache:
        cache[subject.model] = (loader or load_model)(subject.model)
    model = cache[subject.model]
    fns, steer = _interventions(subject, model)
    leak_probe, leak_layer = None, None
    if leak_prompts:
        ps = load_probe_set(opts.leak_probe, fingerprint=model.fingerprint, model_name=model.name)
        leak_layer = opts.leak_probe_layer if opts.leak_probe_layer is not None else ps.best_layer
        leak_probe = ps.probe(leak_layer)
    ens = Ensemble(_refusal_judges(opts, model, subject.template), rule=opts.ensemble_rule)
    t0 = time.time()
    texts, states = _generate(model, subject, prompts, leak_prompts, opts, fns, leak_layer, tick, should_stop)
    return _Run(
        texts=texts,
        states=states,
        ens=ens,
        gen_s=time.time() - t0,
        model=model,
        steer=steer,
        leak_probe=leak_probe,
        leak_layer=leak_layer,
    )


def run_audit(
    subjects: Sequence[Subject],
    suites: Sequence[str] | str,
    *,
    dataset: str = "sample",
    split: str = "validation",
    options: AuditOptions | None = None,
    loader: Loader | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    responder: Responder | None = None,
) -> AuditResult:
    """Audit every subject on every suite (same items, same seed) and summarise with CIs and paired tests.

    ``progress(done, total)`` counts attempts (one per item × suite × attack × subject), from 0 and after
    every generation batch; ``options.first_batch_size`` makes the first batch short so the speed is
    measured early.

    ``responder(subject, prompts) -> responses`` replaces generation (responses produced elsewhere, e.g. by
    an API model, or constructed ones in tests); no model is loaded then, so probe-based judges are
    unavailable.
    """
    opts = options or AuditOptions()
    suite_list = check_suites(list(suites) if not isinstance(suites, str) else suites)
    subjects = list(subjects)
    check_subjects(subjects, suite_list)
    t0 = time.time()
    items, data_hash = load_items(dataset) if set(suite_list) != {"utility"} else ([], "")
    utility, util_hash = (
        load_utility(opts.utility_file, opts.limit, opts.seed) if "utility" in suite_list else ([], "")
    )
    needs, attack_hashes = _plan(suite_list, items, utility, split, opts)
    unique = list(dict.fromkeys(n.prompt for n in needs))
    leak_prompts = {n.prompt for n in needs if n.suite == "reasoning_leak"} if opts.leak_probe else set()
    per_prompt = Counter(n.prompt for n in needs)  # attempts a generated prompt completes
    total, done = len(needs) * len(subjects), 0

    def tick(finished: Sequence[str]) -> None:
        nonlocal done
        done += sum(per_prompt[p] for p in finished)
        if progress and finished:
            progress(done, total)

    if progress:
        progress(0, total)
    cache: dict[ModelSpec, LoadedModel] = {}
    records: list[AttemptRecord] = []
    subject_meta = []
    for subject in subjects:
        run = (
            _given(subject, unique, responder, opts, leak_prompts, tick, should_stop)
            if responder is not None
            else _generated(subject, unique, opts, leak_prompts, cache, loader, tick, should_stop)
        )
        check_not_mostly_empty(subject, [run.texts[p] for p in unique], opts.max_empty_share)
        tj = time.time()
        verdicts = dict(zip(unique, run.ens.judge_all(unique, [run.texts[p] for p in unique]), strict=True))
        records += _records(subject, needs, run.texts, verdicts, run.states, run.ens, run.leak_probe, opts)
        subject_meta.append(
            {
                **subject.to_json(),
                **_model_meta(run.model, subject, run.texts, unique),
                "steering_applied": run.steer,
                "n_prompts": len(unique),
                "generation_seconds": round(run.gen_s, 3),
                "judge_seconds": round(time.time() - tj, 3),
                "leak_probe_layer": run.leak_layer,
                "judges": [j.name for j in run.ens.judges],
            }
        )
    seed, n_boot = opts.seed, opts.n_boot
    meta = {
        "suites": suite_list,
        "dataset": dataset,
        "split": split,
        "dataset_hash": data_hash,
        "utility_hash": util_hash,
        "attack_file_hashes": attack_hashes,
        "options": opts.model_dump(),
        "subjects": subject_meta,
        "seeds": {"generation": seed, "attacks": seed, "sampling": seed, "bootstrap": seed},
        "packages": package_versions(),
        "started_at": t0,
        "seconds": round(time.time() - t0, 3),
        "n_attempts": len(records),
        "warnings": _warnings(subjects, suite_list, records),
    }
    return AuditResult(
        records,
        summarise(records, seed=seed, n_boot=n_boot),
        compare_subjects(records, seed=seed, n_boot=n_boot),
        meta,
    )


def check_not_mostly_empty(subject: Subject, responses: Sequence[str], max_share: float = 0.5) -> None:
    """``AuditFailed`` when more than ``max_share`` of a subject's responses are empty: its rates would be
    computed from the few responses left (or from none), and an empty answer must never read as a refusal."""
    n = len(responses)
    k = sum(is_empty_response(r) for r in responses)
    if n and k / n > max_share:
        steer = (
            f" It is steered with {subject.steering_vector!r} ({subject.steering or {}}): try a smaller "
            "|alpha|."
            if subject.steering_vector
            else ""
        )
        raise AuditFailed(
            f"Audit failed: subject {subject.label!r} gave {k} empty responses out of {n} "
            f"({100 * k / n:.0f} %; at most {100 * max_share:.0f} % allowed) -- no text, only whitespace or "
            "special tokens. The model is broken for these prompts (a steering alpha or vector that is too "
            "large, a damaged adapter or checkpoint), so its refusal rates cannot be measured and nothing "
            f"was saved.{steer} Fix the subject and run the audit again."
        )


def _records(
    subject: Subject,
    needs: list[_Need],
    texts: dict[str, str],
    verdicts: dict[str, dict[str, Verdict]],
    states: dict[str, Any],
    ens: Ensemble,
    leak_probe: Probe | None,
    opts: AuditOptions,
) -> list[AttemptRecord]:
    leak_text = ReasoningLeakJudge()
    out = []
    for n in needs:
        resp = texts[n.prompt]
        v = verdicts[n.prompt]
        reasoning = reasoning_span(resp)
        rv: dict[str, Verdict] = {}
        checks: dict[str, Any] = {}
        if n.suite == "reasoning_leak" and reasoning:
            rv[leak_text.name] = leak_text(n.prompt, resp)
            if leak_probe is not None:
                pj = ProbeJudge(
                    leak_probe,
                    lambda p, r: None,
                    threshold=opts.leak_threshold,
                    mode="harm",
                    name="reasoning-probe",
                )
                rv[pj.name] = pj.score_state(states.get(n.prompt))
        if subject.template in FORMATS:
            checks["format_ok"] = format_ok(resp, subject.template)
        if n.suite == "utility":
            task = n.item
            assert isinstance(task, UtilityTask), "utility needs come from load_utility"
            ok, found = check_utility(answer_span(resp), task.answer, task.check or "")
            checks.update(correct=ok, found=found, expected=task.answer)
        rec = AttemptRecord(
            attempt_id=attempt_id(subject.label, n.suite, n.item.id, n.attack),
            subject=subject.label,
            suite=n.suite,
            item_id=n.item.id,
            category=n.item.category,
            kind=n.item.kind,
            prompt=n.prompt,
            response=resp,
            answer=answer_span(resp),
            reasoning=reasoning,
            verdicts=v,
            final=ens.combine(v),
            outcome=None,
            attack=n.attack,
            attack_family=n.family,
            reasoning_verdicts=rv,
            human=None,
            checks=checks,
            trajectory_key=None,
            source_prompt=n.item.prompt,
        )
        rec.outcome = outcome_of(rec)
        out.append(rec)
    return out


def _model_meta(
    model: LoadedModel | None, subject: Subject, texts: dict[str, str], prompts: list[str]
) -> dict[str, Any]:
    if model is None:
        return {
            "fingerprint": None,
            "model_name": None,
            "source_path": None,
            "adapter_hash": None,
            "n_generated_tokens": None,
            "responses": "given (not generated)",
        }
    n_tok = sum(len(model.tokenizer(texts[p], add_special_tokens=False)["input_ids"]) for p in prompts)
    return {
        "fingerprint": model.fingerprint,
        "model_name": model.name,
        "source_path": model.source_path,
        "adapter_hash": _adapter_hash(subject),
        "n_generated_tokens": n_tok,
    }


def _adapter_hash(subject: Subject) -> str | None:
    if not subject.model.adapter:
        return None
    return hash_folder(Path(subject.model.adapter))


def _warnings(subjects: list[Subject], suites: list[str], records: list[AttemptRecord]) -> list[str]:
    out = []
    if "reasoning_leak" in suites:
        for s in subjects:
            recs = [r for r in records if r.subject == s.label and r.suite == "reasoning_leak"]
            if recs and not any(r.reasoning for r in recs):
                fix = (
                    "Use the alphaalign or think template."
                    if s.template == "plain"
                    else f"The model never wrote the tags its {s.template} template asks for; audit a "
                    "checkpoint trained to reason in tags (e.g. an AlphaAlign run)."
                )
                out.append(
                    f"{s.label}: no response had a reasoning span (<safety_reasoning>/<think>), so the "
                    f"reasoning-leak rate is 0 by construction. {fix}"
                )
    return out


def trace_attempt(
    model: LoadedModel, subject: Subject, record: AttemptRecord, *, max_new_tokens: int = 64, seed: int = 0
) -> Trajectory:
    """Re-run one attempt with full capture (all layers) for the trace view: same prompt, template, steering
    and greedy settings as the audit, so the completion matches the audited response."""
    fns, steer = _interventions(subject, model)
    messages = build_messages(record.prompt, template=subject.template, system=subject.system)
    return capture(
        model,
        messages,
        GenerationSettings(max_new_tokens=max_new_tokens, seed=seed),
        template=subject.template,
        interventions=fns,
        steering_meta=steer,
    )
