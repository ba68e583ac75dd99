"""Training data for the alignment jobs: binary harmful / benign prompts from a dataset's **train** split
(the validation split is only ever used by the final audit), plus warm-start targets.

Dataset schema (``sample_data/prompts.jsonl`` and labelling exports): one JSON object per line with ``id``,
``prompt``, ``kind`` (harmful | benign_counterpart | borderline | jailbreak | response), ``label``
(safe | unsafe | rethink), ``split`` (train | validation) and optional ``response`` / ``category``.
Prompt items (kind != response, no response text) become training prompts: ``label == "unsafe"`` -> harmful.
Items are ``core.labelled.LabelledItem``; the binary class the jobs train on is its ``harmful`` property.
Response items (prompt + response, labelled safe / unsafe / rethink) are traces for CRAFT's contrastive head.

Warm-start targets (a documented deviation, see docs/alignment.md): harmful prompts get a short templated
safety reasoning and a refusal in AlphaAlign's format; benign prompts get a short "this is safe" reasoning and
the base model's **own** greedy answer (self-distillation, so helpfulness is the model's, not ours).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.jsonl import read_jsonl
from core.labelled import HELD_OUT_SPLITS, LabelledItem, harm_class
from core.samples.corpus import CORPUS_FILE, load_corpus, named_dataset_path, resolve_dataset_file
from core.samples.files import sample_data_dir
from core.samples.traces import read_traces

HELD_OUT = HELD_OUT_SPLITS


def default_dataset_path() -> Path:
    """The project's default training data: the corpus ``sample_data/corpus.jsonl``
    (``core.samples.corpus``)."""
    return sample_data_dir() / CORPUS_FILE


def load_rows(dataset: str | None) -> list[dict[str, Any]]:
    """Rows of a named dataset (``sample`` = the corpus, ``minimal-pairs``) or a JSONL file. The named
    datasets add the templated safe / unsafe / rethink reasoning traces (CRAFT phase 1's training data)."""
    try:
        path = resolve_dataset_file(dataset)
    except InputError:
        raise InputError(
            f"Dataset {dataset!r} not found. Use 'sample' (the project's training corpus), 'minimal-pairs' "
            "or a JSONL file with id / prompt / label / split fields (export one from the Label page)."
        ) from None
    named = named_dataset_path(dataset or "sample") is not None
    rows = load_corpus(path) if path.name == CORPUS_FILE and named else read_jsonl(path)
    if named:
        rows += read_traces()
    return rows


def prompt_items(rows: Sequence[dict[str, Any]]) -> list[LabelledItem]:
    """Prompt items a binary harmful / benign class applies to (``LabelledItem.harmful``); response traces
    and rows neither label nor kind classes are skipped."""
    out = []
    for n, r in enumerate(rows, start=1):
        prompt = str(r.get("prompt") or "").strip()
        if not prompt or r.get("response") or str(r.get("kind") or "") == "response":
            continue
        if harm_class(r.get("label"), r.get("kind")) is None:
            continue
        out.append(LabelledItem.from_row(r, number=n))
    return out


def split(items: Sequence[LabelledItem], which: str) -> list[LabelledItem]:
    held = [it for it in items if it.held_out]
    return held if which == "validation" else [it for it in items if not it.held_out]


def check_both_classes(items: Sequence[LabelledItem], what: str = "training prompts") -> None:
    n_h = sum(it.harmful for it in items)
    n_b = len(items) - n_h
    if n_h == 0 or n_b == 0:
        raise InputError(
            f"The {what} need both harmful and benign items (found {n_h} harmful, {n_b} benign). "
            "Label some items of the missing class (label 'unsafe' = harmful, 'safe' = benign) or pick "
            "another dataset."
        )


def balanced_subset(items: Sequence[LabelledItem], n: int, seed: int) -> list[LabelledItem]:
    """At most ``n`` items, half harmful and half benign (as far as each class allows), seeded, stratified by
    category within each class so every harm domain and borderline type keeps its share."""
    rng = random.Random(seed)
    out: list[LabelledItem] = []
    for cls, quota in ((True, n // 2), (False, n - n // 2)):
        pool = [it for it in items if it.harmful == cls]
        by_cat: dict[str, list[LabelledItem]] = {}
        for it in pool:
            by_cat.setdefault(str(it.category or ""), []).append(it)
        for v in by_cat.values():
            rng.shuffle(v)
        picked: list[LabelledItem] = []
        while len(picked) < min(quota, len(pool)):  # round-robin over categories
            for cat in sorted(by_cat):
                if by_cat[cat] and len(picked) < quota:
                    picked.append(by_cat[cat].pop())
        out += picked
    return out


def paired_order(items: Sequence[LabelledItem], seed: int) -> list[LabelledItem]:
    """A training order in which harmful and benign items alternate and a harmful request sits next to its
    benign counterpart (same ``pair_id``) where it has one, so every batch is class-balanced and holds minimal
    pairs.

    Why: with shuffled batches of 8 the warm start learned a *bias* for the verdict token instead of a verdict
    that depends on the request -- on the monitor batch the model flipped between refusing everything and
    answering everything from one check to the next (measured). Minimal pairs in one batch make the gradient
    of the verdict token the difference between the two requests."""
    rng = random.Random(seed)
    harm = [it for it in items if it.harmful]
    ben = [it for it in items if not it.harmful]
    rng.shuffle(harm)
    rng.shuffle(ben)
    ben_by_pair: dict[str, list[LabelledItem]] = {}
    for it in ben:
        if it.pair_id:
            ben_by_pair.setdefault(it.pair_id, []).append(it)
    used: set[str] = set()
    out: list[LabelledItem] = []
    for h in harm:
        partner = next((b for b in ben_by_pair.get(h.pair_id or "", []) if b.id not in used), None)
        if partner is None:
            partner = next((b for b in ben if b.id not in used and not b.pair_id), None) or next(
                (b for b in ben if b.id not in used), None
            )
        out.append(h)
        if partner is not None:
            used.add(partner.id)
            out.append(partner)
    spare = [b for b in ben if b.id not in used]
    return out + spare


def monitor_split(
    train: Sequence[LabelledItem], n_monitor: int, seed: int
) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """(training items, held-out monitor batch): ``n_monitor`` train items (half harmful) kept out of training
    to watch refusal / over-refusal during the run -- never validation items."""
    rng = random.Random(seed)
    harm = [it for it in train if it.harmful]
    ben = [it for it in train if not it.harmful]
    rng.shuffle(harm)
    rng.shuffle(ben)
    k_h = min(n_monitor // 2, max(len(harm) - 1, 0))
    k_b = min(n_monitor - k_h, max(len(ben) - 1, 0))
    mon = harm[:k_h] + ben[:k_b]
    ids = {it.id for it in mon}
    return [it for it in train if it.id not in ids], mon


def holdout_split(
    train: Sequence[LabelledItem], n_holdout: int, seed: int
) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """(training items, held-out slice): about ``n_holdout`` train items kept out of training **by whole
    family and pair** -- the slice a user chooses settings on instead of the validation split.

    Why families: the validation split's phrasings are unseen (no family crosses splits), so a slice that
    shares families with training would read optimistically. Families are picked round-robin over
    categories, two thirds of the budget from harmful / counterpart families and one third from the rest
    (borderline), so a 5 % over-refusal rate can be resolved on both benign kinds. Items without a family
    count as their own family. At most a fifth of ``train`` is held out (a small train split keeps its
    items: a preset's 360 must not swallow a 6-prompt smoke run)."""
    n_holdout = min(n_holdout, len(train) // 5)
    if n_holdout <= 0:
        return list(train), []
    rng = random.Random(seed)

    def family_of(it: LabelledItem) -> str:
        return it.family or it.pair_id or it.id

    fams: dict[str, list[LabelledItem]] = {}
    for it in train:
        fams.setdefault(family_of(it), []).append(it)
    # a harmful item and its counterpart must land on the same side even if a corpus gave them two families
    by_pair: dict[str, set[str]] = {}
    for key, members in fams.items():
        for it in members:
            if it.pair_id:
                by_pair.setdefault(it.pair_id, set()).add(key)
    paired = {key for keys in by_pair.values() for key in keys}
    groups = {
        "pairs": sorted(k for k in fams if k in paired or any(it.harmful for it in fams[k])),
        "rest": sorted(k for k in fams if k not in paired and not any(it.harmful for it in fams[k])),
    }
    budgets = {"pairs": round(n_holdout * 2 / 3), "rest": n_holdout - round(n_holdout * 2 / 3)}
    if not groups["rest"]:
        budgets = {"pairs": n_holdout, "rest": 0}
    held: set[str] = set()
    for name, keys in groups.items():
        by_cat: dict[str, list[str]] = {}
        for k in keys:
            by_cat.setdefault(fams[k][0].category or "", []).append(k)
        for ks in by_cat.values():
            rng.shuffle(ks)
        taken = 0
        while taken < budgets[name] and any(by_cat.values()):
            for cat in sorted(by_cat):
                if by_cat[cat] and taken < budgets[name]:
                    k = by_cat[cat].pop()
                    for linked in [k] + [
                        other for it in fams[k] if it.pair_id for other in by_pair.get(it.pair_id, ())
                    ]:
                        if linked not in held:
                            held.add(linked)
                            taken += len(fams[linked])
    out = [it for it in train if family_of(it) not in held]
    slice_ = [it for it in train if family_of(it) in held]
    if slice_ and (not any(it.harmful for it in out) or all(it.harmful for it in out)):
        raise InputError(
            f"holdout_items={n_holdout} would leave only one class of train prompts to train on; lower it "
            f"(the train split has {len(train)} prompts)."
        )
    return out, slice_


# ---- warm-start targets ------------------------------------------------------------------------------------
# Every reasoning starts "The request is harmful:" / "The request is safe:" -- one decision token right after
# a shared prefix, so the warm start teaches a single, consistent classification step (varied openings diluted
# it: measured, the model then called nearly everything "safe" and refused at random).
HARM_REASONS = (
    "it asks for help with something that could hurt people or break the law.",
    "the details could be used to cause real damage to people.",
    "answering would help someone harm others or commit a crime.",
    "it seeks dangerous instructions that could be misused to hurt someone.",
)
HARM_ANSWERS = (
    "Sorry, I can't comply. I can't help with something that could cause harm.",
    "Sorry, I can't comply with this request because it could be used to hurt people.",
    "Sorry, I can't comply. This could put people in danger.",
)
EMPTY_ANSWER_FALLBACK = "Sure, I can help with that."
HELP_OPENER = "Sure!"
SAFE_REASONS = (
    "it is an ordinary question with no risk to anyone, so I will help.",
    "it asks for everyday information that is fine to share, so I will help.",
    "nothing here could hurt anyone, so I will help.",
)


def tidy_answer(text: str, max_chars: int = 220) -> str:
    """A generated answer (tags stripped) cut at its last full sentence within ``max_chars`` when that keeps
    at least 40 % of it -- greedy answers are cut off by the token budget, and a target that stops
    mid-sentence teaches the model to close the answer mid-sentence."""
    t = re.sub(r"</?(safety_reasoning|answer)>", "", text).strip()
    cut = t[:max_chars]
    ends = [m.end() for m in re.finditer(r"(?<!\d)[.!?](?=\s|$)", cut)]  # "1." of a list is no end
    if ends and ends[-1] >= 0.4 * len(cut):
        return cut[: ends[-1]].strip()
    return cut if len(t) <= max_chars else cut.rsplit(" ", 1)[0].strip()


VERDICT_LEAD = "The request is "  # alphaalign targets: "<safety_reasoning>The request is harmful: ..."


def alphaalign_verdict_offset(target: str) -> int:
    """Character where an AlphaAlign-format target's verdict word starts ("harmful" / "safe"); 0 if absent."""
    i = target.find(VERDICT_LEAD)
    return i + len(VERDICT_LEAD) if i >= 0 else 0


def alphaalign_target(item: LabelledItem, own_answer: str | None, rng: random.Random) -> str:
    """AlphaAlign-format target: refusal with reasoning (harmful) or safe reasoning + the model's own
    answer."""
    if item.harmful:
        return (
            f"<safety_reasoning>The request is harmful: {rng.choice(HARM_REASONS)}</safety_reasoning>\n"
            f"<answer>{rng.choice(HARM_ANSWERS)}</answer>"
        )
    if not own_answer or not own_answer.strip():
        own_answer = (
            EMPTY_ANSWER_FALLBACK  # the model produced nothing usable; counted and logged by the caller
        )
    elif not own_answer.lstrip().startswith(HELP_OPENER.split()[0]):
        # One fixed opener for every benign answer. Without it the refusal "Sorry, ..." (one fixed first token
        # on ~45 % of the targets) beats each of the many different benign first tokens under greedy decoding,
        # and the warm-started model refused after reasoning "The request is safe" (measured on the monitor
        # batch).
        own_answer = f"{HELP_OPENER} {own_answer.lstrip()}"
    return (
        f"<safety_reasoning>The request is safe: {rng.choice(SAFE_REASONS)}</safety_reasoning>\n"
        f"<answer>{own_answer}</answer>"
    )
