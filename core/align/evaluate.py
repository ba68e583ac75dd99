"""Before/after audit of an alignment run on the dataset's **validation** split, and a representation diff.

The audit is the audit area's ``core.evals.run_audit`` (same judges, suites, bootstrap CIs and paired McNemar
/ bootstrap tests as every other audit), with two subjects -- the base model and base + the run's adapter,
same template -- whose answers come from the policy already in memory (a ``responder``: adapter disabled for
the base, enabled for the tuned model) instead of loading both models again. It is saved with ``save_audit``
(records JSONL, summary, HTML report), so the Audit page and ``reasonscope report`` read it like any other.

The representation diff compares last-prompt hidden states of both policies per layer (mean cosine distance).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.align.latent import _decoder_layers
from core.capture.models import ModelSpec
from core.capture.shared_prefix import plan_shared_prefix
from core.evals.awareness import states_knew
from core.evals.report import save_audit
from core.evals.result import AuditResult
from core.evals.runner import run_audit
from core.evals.stats import rate_ci
from core.evals.suites import AuditOptions, Subject
from core.fsio import atomic_write_bytes
from core.probes.linear import train_probes

AUDIT_SUITES = ("refusal", "over_refusal", "format", "reasoning_leak")


def audit_base_vs_tuned(
    model: Any,
    generate_fn: Callable[[Sequence[str]], list[str]],
    *,
    dataset: str,
    template: str,
    model_name: str,
    adapter: Path,
    suites: Sequence[str] = AUDIT_SUITES,
    max_new_tokens: int = 64,
    limit: int | None = None,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
    out_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_empty_share: float = 0.5,
    base_cache: Path | None = None,
) -> tuple[AuditResult, dict[str, dict[str, str]]]:
    """``run_audit`` of base vs tuned on the validation split; returns (AuditResult,
    answers[subject][prompt]).

    ``generate_fn(prompts)`` answers user prompts with ``model`` as it currently is; the base subject's
    answers are produced inside ``model.disable_adapter()``. Empty answers get the audit's "empty" verdict
    (no outcome, so ``refused_by_item`` / ``kind_rates`` skip them, as the scorecard does); more than
    ``max_empty_share`` of them for either subject raises ``core.errors.AuditFailed``.

    ``base_cache``: a JSON file {prompt: answer} of the base model's greedy answers under exactly these
    generation settings (the caller keys its path by model fingerprint, template and settings). Cached
    prompts are not generated again -- the base half of every audit after the first run is free -- and new
    answers are added to it after the audit.
    """
    base = Subject(ModelSpec(name=model_name), template=template, name="base")
    tuned = Subject(ModelSpec(name=model_name, adapter=str(adapter)), template=template, name="tuned")
    answers: dict[str, dict[str, str]] = {}
    cached = load_base_cache(base_cache)

    def responder(subject: Subject, prompts: Sequence[str]) -> list[str]:
        if subject.label == "base":
            todo = [p for p in prompts if p not in cached]
            if todo:
                with model.disable_adapter():
                    cached.update(zip(todo, generate_fn(todo), strict=True))
            out = [cached[p] for p in prompts]
        else:
            out = generate_fn(prompts)
        answers.setdefault(subject.label, {}).update(zip(prompts, out, strict=True))  # called per chunk
        return out

    opts = AuditOptions(
        max_new_tokens=max_new_tokens, seed=seed, limit=limit, max_empty_share=max_empty_share
    )
    result = run_audit(
        [base, tuned],
        list(suites),
        dataset=dataset or "sample",
        split="validation",
        options=opts,
        responder=responder,
        should_stop=should_stop,
        progress=progress,
    )
    if out_dir is not None:
        save_audit(result, out_dir)
    if base_cache is not None:
        atomic_write_bytes(base_cache, json.dumps(cached).encode(), what="save the base answers")
    return result, answers


def load_base_cache(path: Path | None) -> dict[str, str]:
    """The cached base answers, or {} (no file, or a file that is not a {prompt: answer} object -- a broken
    cache only costs regeneration)."""
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def audit_numbers(result: AuditResult) -> dict[str, Any]:
    """Rates with CIs per subject and suite, and the paired comparisons, as plain JSON."""
    rates = {
        f"{s.subject}/{s.suite}": {"rate": s.rate.rate, "ci95": [s.rate.low, s.rate.high], "n": s.rate.n}
        for s in result.summaries
    }
    comps = {
        c.suite: {
            "before": c.rate_baseline,
            "after": c.rate_subject,
            "delta": c.delta,
            "delta_ci95": [c.delta_low, c.delta_high],
            "p_mcnemar": c.p_mcnemar,
            "discordant": list(c.discordant),
            "significant": c.significant,
            "verdict": c.verdict,
        }
        for c in result.comparisons
    }
    return {"rates": rates, "comparisons": comps}


def prompt_states(
    model: Any,
    tokenizer: Any,
    chats: Sequence[list[dict[str, str]]],
    *,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``[n, n_layers + 1, d]`` residual stream at the last prompt token (hooks; 0 = embeddings), rows in
    ``chats`` order. Batches are length-sorted (less padding) and run the decoder only: the 49k-wide LM
    head's logits are never needed here. The prompt prefix every chat shares (system prompt + chat
    header: 75 of ~160 tokens under the AlphaAlign template) runs once, its key/value cache copied into
    each batch (``core.capture.shared_prefix``; positions from the mask, as in the plain batch)."""
    import torch

    layers = _decoder_layers(model)
    texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(rows[i]))
    out: list[np.ndarray | None] = [None] * len(texts)
    cap: list[Any] = []
    hooks = [model.get_input_embeddings().register_forward_hook(lambda _m, _i, o: cap.append(o))]
    for layer in layers:
        hooks.append(
            layer.register_forward_hook(lambda _m, _i, o: cap.append(o[0] if isinstance(o, tuple) else o))
        )
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            plan = plan_shared_prefix(decoder, rows, device)  # n = 0: the plain left-padded batch
            for s in range(0, len(order), batch_size):
                idx = order[s : s + batch_size]
                cap.clear()
                decoder(**plan.inputs([rows[i] for i in idx], pad_id, device))
                # [B, L + 1, d]: the last column is every row's last prompt token (left padding)
                block = torch.stack([h[:, -1, :].float().cpu() for h in cap[: len(layers) + 1]], dim=1)
                for j, i in enumerate(idx):
                    out[i] = block[j].numpy()
                if progress is not None:
                    progress(min(s + batch_size, len(order)), len(order))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if not out:
        return np.zeros((0, len(layers) + 1, 0), dtype=np.float32)
    return np.stack(out, axis=0)


def representation_diff(base: np.ndarray, tuned: np.ndarray, harmful: Sequence[bool]) -> dict[str, Any]:
    """Per-layer mean cosine distance base vs tuned (all / harmful / benign items) and the layer that moved
    most."""

    def cosd(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # [n, L, d] -> [L]
        num = (a * b).sum(-1)
        den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-9
        return (1 - num / den).mean(0)

    h = np.asarray(harmful, dtype=bool)
    all_d = cosd(base, tuned)
    out = {
        "layers": list(range(base.shape[1])),
        "cos_distance": all_d.tolist(),
        "most_changed_layer": int(np.argmax(all_d)),
    }
    if h.any():
        out["cos_distance_harmful"] = cosd(base[h], tuned[h]).tolist()
    if (~h).any():
        out["cos_distance_benign"] = cosd(base[~h], tuned[~h]).tolist()
    return out


def refused_by_item(records: Sequence[Any], subject: str) -> dict[str, bool]:
    """``{item id: refused}`` from the refusal / over-refusal suites of one subject (plain requests only)."""
    out: dict[str, bool] = {}
    for r in records:
        if (
            r.subject == subject
            and r.suite in ("refusal", "over_refusal")
            and not r.attack
            and r.outcome is not None
        ):
            out[r.item_id] = bool(r.outcome >= 0.5)
    return out


def kind_rates(records: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Refusal rate per item kind (harmful, benign_counterpart, borderline, …) and subject, Wilson 95 %
    CIs."""
    by: dict[str, dict[str, list[float]]] = {}
    for r in records:
        if r.suite in ("refusal", "over_refusal") and not r.attack and r.outcome is not None:
            by.setdefault(r.kind or "?", {}).setdefault(r.subject, []).append(float(r.outcome >= 0.5))
    return {
        kind: {subj: rate_ci(v).to_json() for subj, v in sorted(subjects.items())}
        for kind, subjects in sorted(by.items())
    }


def knew_and_acted(
    *,
    train_states: np.ndarray,
    train_harmful: Sequence[bool],
    val_states: np.ndarray,
    val_items: Sequence[Any],
    records: Sequence[Any],
    layers: Sequence[int],
    seed: int = 0,
) -> dict[str, Any]:
    """ "The states knew -- does the model act?" on the validation split.

    A logistic probe is trained on the base model's last-prompt-token states of train prompts (best of
    ``layers`` by CV, threshold from out-of-fold train scores at <= 5 % benign flagged), flags each validation
    prompt from the base states, and the table gives the refusal rates before / after per flag group."""
    lay = [int(x) for x in layers]
    ps = train_probes(train_states[:, lay, :], [int(h) for h in train_harmful], layers=lay, k=5, seed=seed)
    j = lay.index(ps.best_layer)
    probe = ps.probes[ps.best_layer]
    flags = probe.score(val_states[:, ps.best_layer, :]) >= probe.threshold
    before, after = refused_by_item(records, "base"), refused_by_item(records, "tuned")
    keep = [i for i, it in enumerate(val_items) if it.id in before and it.id in after]
    table = states_knew(
        harmful=[val_items[i].harmful for i in keep],
        flagged=[bool(flags[i]) for i in keep],
        refused_before=[before[val_items[i].id] for i in keep],
        refused_after=[after[val_items[i].id] for i in keep],
    )
    cv = ps.metrics[ps.best_layer]
    return {
        "probe": {
            "layer": ps.best_layer,
            "positions": "last_prompt",
            "threshold": probe.threshold,
            "cv_auroc": cv.mean("auroc"),
            "n_train": {
                "harmful": int(sum(train_harmful)),
                "benign": int(len(train_harmful) - sum(train_harmful)),
            },
            "column": j,
        },
        **table,
    }
