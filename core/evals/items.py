"""What an audit runs on: prompt items from a dataset, utility tasks, and the automatic checks.

Datasets: ``"sample"`` (the project's ``sample_data/prompts.jsonl``), a JSONL file in the same schema, or
``"db:<name>"`` (a dataset of the labelling database, ``core.data``). Items carry ``kind`` (harmful /
benign_counterpart / borderline / jailbreak / response) and ``split``; files without ``kind`` fall back to the
label (``unsafe`` -> harmful, ``safe`` -> benign_counterpart). Dataset items are
``core.labelled.LabelledItem``; utility tasks are ``UtilityTask`` (a ``LabelledItem`` with the expected answer
and its check).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from core.data import open_db
from core.data.repo import list_items
from core.errors import InputError
from core.labelled import LabelledItem
from core.samples.corpus import resolve_dataset_file
from core.samples.files import load_jsonl, sample_data_dir

SPLITS = ("train", "validation", "all")
_T = TypeVar("_T", bound=LabelledItem)
FORMAT_RE = re.compile(
    r"<safety_reasoning>.*</safety_reasoning>.*<answer>.*</answer>", re.S
)  # AlphaAlign V_f
THINK_FORMAT_RE = re.compile(r"<think>.*</think>\s*\S", re.S)
FORMATS = {
    "alphaalign": (FORMAT_RE, "<safety_reasoning>…</safety_reasoning><answer>…</answer>"),
    "think": (THINK_FORMAT_RE, "<think>…</think> followed by an answer"),
}


@dataclass(frozen=True, kw_only=True)
class UtilityTask(LabelledItem):
    """A utility task (kind ``utility``, no label): a ``LabelledItem`` plus what its automatic check needs.

    A subclass rather than two more fields on every item: only the utility suite has an expected answer, and
    ``check_utility`` needs both of these to score one."""

    answer: Any = None  # the expected answer
    check: str | None = None  # "number" | "contains"


def _kind_of(row: dict[str, Any]) -> str:
    kind = str(row.get("kind") or "")
    if kind:
        return kind
    return {"unsafe": "harmful", "safe": "benign_counterpart"}.get(str(row.get("label")), "")


def _to_items(rows: Iterable[dict[str, Any]], where: str) -> list[LabelledItem]:
    out = []
    for n, r in enumerate(rows, start=1):
        prompt = str(r.get("prompt") or "").strip()
        if not prompt:
            raise InputError(f"{where}, item {n} (id={r.get('id', '?')}): missing or empty 'prompt'.")
        # no split in the file = in no split (only "all" selects it); no kind = the label's
        out.append(replace(LabelledItem.from_row(r, number=n, default_split=""), kind=_kind_of(r)))
    return out


def load_items(dataset: str = "sample") -> tuple[list[LabelledItem], str]:
    """All items of a dataset plus a content hash of what was read (for reproducibility metadata)."""
    if dataset.startswith("db:"):
        name = dataset[3:]
        with open_db() as db:
            rows = [r.to_row() for r in list_items(db, name)]
        where = f"database dataset {name!r}"
    else:
        path = resolve_dataset_file(dataset)
        rows = load_jsonl(path)
        where = str(path)
        if not rows:  # said here, not later as "no harmful items in split ..." of a suite
            raise InputError(f"{path} has no items: it is empty (or only blank lines).")
    items = _to_items(rows, where)
    return items, content_hash(rows)


def content_hash(rows: Sequence[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(r, sort_keys=True, ensure_ascii=False, default=str).encode())
    return h.hexdigest()[:16]


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def stratified_sample(items: Sequence[_T], limit: int | None, seed: int = 0) -> list[_T]:
    """At most ``limit`` of ``items``, spread evenly across their categories (round robin over the
    categories, each one's items in a seeded random order), returned in file order. Deterministic given
    ``seed``; all items when ``limit`` is None or not smaller than their number."""
    if not limit or limit >= len(items):
        return list(items)
    rng = random.Random(f"limit|{seed}")
    by_cat: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        by_cat.setdefault(str(it.category or ""), []).append(i)
    queues = []
    for cat in sorted(by_cat):
        idx = by_cat[cat][:]
        rng.shuffle(idx)
        queues.append(idx)
    rng.shuffle(queues)  # which categories get the extra item when limit is not a multiple
    chosen: list[int] = []
    while len(chosen) < limit:
        for q in queues:
            if q and len(chosen) < limit:
                chosen.append(q.pop())
    return [items[i] for i in sorted(chosen)]


def select_items(
    items: Sequence[LabelledItem], kinds: Iterable[str], split: str, limit: int | None = None, seed: int = 0
) -> list[LabelledItem]:
    """Items of ``kinds`` in ``split`` ("all" = every split), at most ``limit`` per kind, sampled with
    ``seed`` stratified across categories (``stratified_sample``) -- not the first ``limit`` in the file,
    which can all come from one category."""
    if split not in SPLITS:
        raise InputError(f"Unknown split {split!r}; use one of {SPLITS}.")
    out: list[LabelledItem] = []
    for kind in kinds:
        of_kind = [it for it in items if it.kind == kind and (split == "all" or it.split == split)]
        out.extend(stratified_sample(of_kind, limit, seed))
    return out


def load_utility(
    path: str | Path | None = None, limit: int | None = None, seed: int = 0
) -> tuple[list[UtilityTask], str]:
    """Utility tasks (``{"id", "prompt", "answer", "check"}``) and their content hash; at most ``limit``,
    stratified across categories with ``seed``."""
    path = Path(path) if path else sample_data_dir() / "utility_tasks.jsonl"
    rows = load_jsonl(path)
    out = []
    for n, r in enumerate(rows, start=1):
        check = r.get("check")
        if check not in ("number", "contains"):
            raise InputError(f"{path}, item {n}: 'check' must be 'number' or 'contains', got {check!r}.")
        if not str(r.get("prompt") or "").strip():
            raise InputError(f"{path}, item {n}: empty prompt.")
        out.append(
            UtilityTask(
                id=str(r.get("id", n)),
                prompt=str(r["prompt"]),
                kind="utility",
                category=(
                    str(r.get("id", "")).split("-")[1] if str(r.get("id", "")).count("-") >= 2 else check
                ),
                split="all",
                label=None,
                tags=(),
                answer=r.get("answer"),
                check=check,
            )
        )
    return stratified_sample(out, limit, seed), content_hash(rows)


# ---- checks ---------------------------------------------------------------------------------------------
_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def check_utility(answer_text: str, expected: Any, check: str) -> tuple[bool, str]:
    """(correct, what was found). ``number``: ``expected`` is the first or the last number of the answer
    (commas ignored, 1e-6 tolerance) -- "391" and "17 x 23 = 391" both count, a list of guesses does not;
    ``contains``: any expected lower-case string occurs in the lower-cased answer."""
    if check == "number":
        found = _NUM.findall(answer_text or "")
        if not found:
            return False, "no number in the answer"
        vals = []
        for f in (found[0], found[-1]):
            try:
                vals.append(float(f.replace(",", "")))
            except ValueError:
                continue
        ok = any(math.isclose(v, float(expected), rel_tol=1e-6, abs_tol=1e-6) for v in vals)
        return ok, f"numbers {found[0]}…{found[-1]} (expected {expected})" if len(
            found
        ) > 1 else f"number {found[0]} (expected {expected})"
    if check == "contains":
        low = (answer_text or "").lower()
        hit = next((a for a in expected if a in low), None)
        return hit is not None, (f"contains '{hit}'" if hit else f"none of {list(expected)} in the answer")
    raise InputError(f"Unknown utility check {check!r}; use 'number' or 'contains'.")


def format_ok(text: str, template: str) -> bool:
    """Does the completion follow the template's tag format (AlphaAlign regex, DOTALL, for ``alphaalign``)?"""
    if template not in FORMATS:
        raise InputError(
            f"Format compliance needs a template that asks for tags ({', '.join(FORMATS)}); "
            f"{template!r} does not. Pick the alphaalign or think template for this subject."
        )
    return bool(FORMATS[template][0].search(text or ""))
