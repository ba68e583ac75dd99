"""The training corpus (``sample_data/corpus.jsonl``) and the named datasets every area resolves.

``"sample"`` (the default of ``probe train``, the alignment jobs and ``eval``) is the corpus: 17 harm
categories in 6 surface forms, a benign counterpart for every harmful request, borderline-benign requests with
alarming words, train/validation split by *family* (no topic phrasing or template crosses splits).
``"minimal-pairs"`` is the older, harder stress set (``sample_data/prompts.jsonl``): near-identical harmful /
benign questions, reported on its own. ``sample_data/CORPUS.md`` documents the corpus;
``sample_data/generate_corpus.py`` writes it.

Plain Python only (no torch): the labelling, probe and audit areas import it cheaply.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.jsonl import read_jsonl
from core.samples.files import sample_data_dir

CORPUS_FILE = "corpus.jsonl"
MINIMAL_PAIRS_FILE = "prompts.jsonl"
# dataset name -> file under sample_data/ ("sample" is the default everywhere)
NAMED_DATASETS: dict[str, str] = {
    "sample": CORPUS_FILE,
    "corpus": CORPUS_FILE,
    "minimal-pairs": MINIMAL_PAIRS_FILE,
}
CORPUS_FIELDS = ("id", "prompt", "label", "kind", "category", "form", "family", "pair_id", "split", "source")
CORPUS_KIND_LABEL = {
    "harmful": "unsafe",
    "benign_counterpart": "safe",
    "borderline": "safe",
    "jailbreak": "unsafe",
}
MIN_HARM_CATEGORIES = 14
MIN_FORMS = 6
NGRAM = 8


def named_dataset_path(name: str) -> Path | None:
    """The file behind a named dataset (``sample``, ``corpus``, ``minimal-pairs``), None for any other
    string."""
    file = NAMED_DATASETS.get((name or "sample").strip())
    return sample_data_dir() / file if file else None


def resolve_dataset_file(dataset: str | None) -> Path:
    """A named dataset's file, else ``dataset`` as a path (checked to exist, with the names it could have
    been)."""
    named = named_dataset_path(dataset or "sample")
    if named is not None:
        return named
    path = Path(str(dataset)).expanduser()
    if not path.is_file():
        raise InputError(
            f"Dataset {dataset!r} is neither a file nor one of the named datasets {sorted(NAMED_DATASETS)}; "
            "give a JSONL file path or one of those names."
        )
    return path


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    w = _words(text)
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def cross_split_overlaps(rows: Iterable[dict[str, Any]], n: int = NGRAM, limit: int = 20) -> list[str]:
    """Pairs of prompts in different splits that share an ``n``-word sequence (lower-cased, punctuation
    dropped)."""
    seen: dict[tuple[str, ...], tuple[str, str]] = {}
    problems: list[str] = []
    for r in rows:
        for g in ngrams(str(r.get("prompt", "")), n):
            other = seen.setdefault(g, (str(r.get("split")), str(r.get("id"))))
            if other[0] != r.get("split"):
                problems.append(
                    f"items {other[1]} ({other[0]}) and {r.get('id')} ({r.get('split')}) share the "
                    f"{n}-word sequence {' '.join(g)!r}: validation phrasings must be unseen in train"
                )
                if len(problems) >= limit:
                    return problems
                break
    return problems


def validate_corpus(rows: list[dict[str, Any]]) -> list[str]:
    """Every problem of a corpus file (empty = valid): fields, labels, benign counterparts, families, overlap.

    The rules: each ``harmful`` item has exactly one ``benign_counterpart`` with the same ``pair_id``,
    category, form, family and split; every harm category has benign counterparts; a ``family`` never crosses
    splits; no two prompts in different splits share an 8-word sequence."""
    problems: list[str] = []
    ids = Counter(str(r.get("id")) for r in rows)
    problems += [f"duplicate id {i!r} ({n} times)" for i, n in sorted(ids.items()) if n > 1]
    for n, r in enumerate(rows, start=1):
        where = f"line {n} (id={r.get('id', '?')})"
        missing = [f for f in CORPUS_FIELDS if f not in r]
        if missing:
            problems.append(f"{where}: missing field(s) {', '.join(missing)}")
            continue
        if not isinstance(r["prompt"], str) or not r["prompt"].strip():
            problems.append(f"{where}: empty prompt")
        want = CORPUS_KIND_LABEL.get(str(r["kind"]))
        if want is None:
            problems.append(f"{where}: unknown kind {r['kind']!r}; use one of {sorted(CORPUS_KIND_LABEL)}")
        elif r["label"] != want:
            problems.append(f"{where}: kind {r['kind']!r} needs label {want!r}, got {r['label']!r}")
        if r["split"] not in ("train", "validation"):
            problems.append(f"{where}: split must be 'train' or 'validation', got {r['split']!r}")
    if problems:
        return problems  # the cross-item checks below assume well-formed rows
    pairs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["kind"] in ("harmful", "benign_counterpart"):
            if not r["pair_id"]:
                problems.append(f"item {r['id']}: a {r['kind']} item needs a pair_id")
            else:
                pairs[str(r["pair_id"])].append(r)
    for pid, members in sorted(pairs.items()):
        harm = [m for m in members if m["kind"] == "harmful"]
        ben = [m for m in members if m["kind"] == "benign_counterpart"]
        if len(harm) != 1 or len(ben) != 1:
            problems.append(
                f"pair {pid}: {len(harm)} harmful and {len(ben)} benign counterpart items; every harmful "
                "request needs exactly one benign counterpart on the same topic in the same form"
            )
            continue
        for key in ("category", "form", "family", "split"):
            if harm[0][key] != ben[0][key]:
                problems.append(f"pair {pid}: {key} differs ({harm[0][key]!r} vs {ben[0][key]!r})")
    harm_cats = {r["category"] for r in rows if r["kind"] == "harmful"}
    ben_cats = {r["category"] for r in rows if r["kind"] == "benign_counterpart"}
    for cat in sorted(harm_cats - ben_cats):
        problems.append(
            f"category {cat!r} has harmful items but no benign counterpart; add one per harmful item"
        )
    if len(harm_cats) < MIN_HARM_CATEGORIES:
        problems.append(
            f"only {len(harm_cats)} harm categories; the corpus needs at least {MIN_HARM_CATEGORIES}"
        )
    forms = {r["form"] for r in rows if r["kind"] == "harmful"}
    if len(forms) < MIN_FORMS:
        problems.append(
            f"only {len(forms)} surface forms of harmful items; the corpus needs at least {MIN_FORMS}"
        )
    family_splits: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        family_splits[str(r["family"])].add(str(r["split"]))
    for fam, splits in sorted(family_splits.items()):
        if len(splits) > 1:
            problems.append(f"family {fam!r} crosses splits {sorted(splits)}: put all its items in one split")
    return problems + cross_split_overlaps(rows)


def load_corpus(path: str | Path | None = None, *, check: bool = True) -> list[dict[str, Any]]:
    """The corpus rows (default ``sample_data/corpus.jsonl``); InputError listing the problems if invalid."""
    file = Path(path) if path else sample_data_dir() / CORPUS_FILE
    rows = read_jsonl(file)
    if check:
        problems = validate_corpus(rows)
        if problems:
            more = f"\n  … and {len(problems) - 12} more" if len(problems) > 12 else ""
            raise InputError(f"{file} is not a valid corpus:\n  " + "\n  ".join(problems[:12]) + more)
    return rows


def counts(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{"category x form x split": …, "kind x split": …}`` counts (the closing note's table)."""
    cfs = Counter(f"{r['category']}|{r['form']}|{r['split']}" for r in rows)
    ks = Counter(f"{r['kind']}|{r['split']}" for r in rows)
    return {"category_form_split": dict(sorted(cfs.items())), "kind_split": dict(sorted(ks.items()))}
