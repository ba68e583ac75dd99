"""The training corpus (sample_data/corpus.jsonl): its invariants, checked independently of the validator; the
generator reproduces it byte for byte; broken corpora are rejected with messages that say what to fix; the
named datasets resolve to their files."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from core.errors import InputError
from core.samples.corpus import (
    CORPUS_FIELDS,
    NAMED_DATASETS,
    counts,
    cross_split_overlaps,
    load_corpus,
    named_dataset_path,
    resolve_dataset_file,
    validate_corpus,
)
from core.samples.files import sample_data_dir

CORPUS = sample_data_dir() / "corpus.jsonl"
GENERATOR = sample_data_dir() / "generate_corpus.py"
SPLITS = ("train", "validation")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _kind(rows: list[dict], kind: str) -> list[dict]:
    return [r for r in rows if r["kind"] == kind]


# ---- the committed corpus ------------------------------------------------------------------------------
def test_committed_corpus_is_valid(rows: list[dict]) -> None:
    assert validate_corpus(rows) == []
    assert load_corpus() == rows  # the default path is the committed file, and it loads without error


def test_every_item_has_exactly_the_schema_fields_unique_ids_sorted(rows: list[dict]) -> None:
    assert all(tuple(r) == CORPUS_FIELDS for r in rows)
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_size_categories_and_forms(rows: list[dict]) -> None:
    assert len(rows) >= 2000
    harmful = _kind(rows, "harmful")
    cats = {r["category"] for r in harmful}
    forms = {r["form"] for r in harmful}
    assert len(cats) >= 14
    assert len(forms) >= 6
    for kind in ("harmful", "benign_counterpart"):
        have = {(r["category"], r["form"]) for r in _kind(rows, kind)}
        missing = {(c, f) for c in cats for f in forms} - have
        assert not missing, f"{kind}: harm categories missing a form: {sorted(missing)}"
    assert len(_kind(rows, "borderline")) >= 400


def test_labels_follow_kinds_and_source(rows: list[dict]) -> None:
    want = {"harmful": "unsafe", "benign_counterpart": "safe", "borderline": "safe"}
    assert {r["kind"] for r in rows} <= set(want)
    assert all(r["label"] == want[r["kind"]] for r in rows)
    assert {r["source"] for r in rows} == {"reasonscope-authored"}
    assert {r["split"] for r in rows} == set(SPLITS)
    assert all(isinstance(r["prompt"], str) and r["prompt"].strip() for r in rows)


def test_every_harmful_item_has_exactly_one_matching_benign_counterpart(rows: list[dict]) -> None:
    by_pair: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["kind"] in ("harmful", "benign_counterpart"):
            by_pair[r["pair_id"]].append(r)
    assert None not in by_pair and "" not in by_pair
    for pid, members in by_pair.items():
        assert sorted(m["kind"] for m in members) == ["benign_counterpart", "harmful"], pid
        h, b = members
        for key in ("category", "form", "family", "split"):
            assert h[key] == b[key], (pid, key)
        assert h["prompt"] != b["prompt"]
    assert len(by_pair) == len(_kind(rows, "harmful")) == len(_kind(rows, "benign_counterpart"))
    assert all(r["pair_id"] is None for r in _kind(rows, "borderline"))


def test_no_family_crosses_splits(rows: list[dict]) -> None:
    splits: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        splits[r["family"]].add(r["split"])
    crossing = {f: s for f, s in splits.items() if len(s) > 1}
    assert not crossing


def _independent_words(text: str) -> list[str]:
    """Lower-case, every Unicode punctuation character becomes a space, split on whitespace."""
    chars = (" " if unicodedata.category(c).startswith("P") else c for c in text.lower())
    return "".join(chars).split()


def test_no_cross_split_8_gram(rows: list[dict]) -> None:
    assert cross_split_overlaps(rows) == []
    grams: dict[str, set[tuple[str, ...]]] = {s: set() for s in SPLITS}
    for r in rows:
        w = _independent_words(r["prompt"])
        grams[r["split"]].update(tuple(w[i : i + 8]) for i in range(len(w) - 7))
    shared = grams["train"] & grams["validation"]
    assert not shared, f"{len(shared)} shared 8-grams, e.g. {sorted(shared)[:3]}"
    assert len(grams["validation"]) > 1000  # the check had material to work on


def test_harmful_and_benign_lengths_match(rows: list[dict]) -> None:
    def mean_words(kind: str) -> float:
        wc = [len(r["prompt"].split()) for r in _kind(rows, kind)]
        return sum(wc) / len(wc)

    mh, mb = mean_words("harmful"), mean_words("benign_counterpart")
    assert abs(mh - mb) / max(mh, mb) <= 0.10


def test_validation_share_per_kind(rows: list[dict]) -> None:
    for kind in ("harmful", "benign_counterpart", "borderline"):
        items = _kind(rows, kind)
        share = sum(r["split"] == "validation" for r in items) / len(items)
        assert 0.15 <= share <= 0.35, (kind, share)


def test_counts_tables_add_up(rows: list[dict]) -> None:
    c = counts(rows)
    assert sum(c["kind_split"].values()) == len(rows) == sum(c["category_form_split"].values())
    kinds = Counter(f"{r['kind']}|{r['split']}" for r in rows)
    assert c["kind_split"] == dict(kinds)


def test_generator_reproduces_the_committed_file(tmp_path: Path) -> None:
    """The generator writes next to itself only, so it runs on a copy (it must need nothing else)."""
    script = tmp_path / "generate_corpus.py"
    shutil.copy(GENERATOR, script)
    res = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout
    out = tmp_path / "corpus.jsonl"
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(CORPUS.read_bytes()).hexdigest()


# ---- broken corpora ---------------------------------------------------------------------------------------
def _write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "broken.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _rejected(tmp_path: Path, rows: list[dict], *fragments: str) -> list[str]:
    """validate_corpus reports every fragment in one problem line, and load_corpus raises InputError naming
    the file and the same problem."""
    problems = validate_corpus(rows)
    assert any(all(f in p for f in fragments) for p in problems), problems[:5]
    path = _write(tmp_path, rows)
    with pytest.raises(InputError) as exc:
        load_corpus(path)
    msg = str(exc.value)
    assert str(path) in msg and "not a valid corpus" in msg
    assert any(all(f in line for f in fragments) for line in msg.splitlines()), msg
    load_corpus(path, check=False)  # check=False reads it anyway
    return problems


def test_family_crossing_splits(tmp_path: Path, rows: list[dict]) -> None:
    bad = copy.deepcopy(rows)
    moved = next(r for r in bad if r["kind"] == "harmful" and r["split"] == "train")
    for r in bad:  # move one whole pair (both halves) to validation, so only the family rule breaks
        if r["pair_id"] == moved["pair_id"]:
            r["split"] = "validation"
    _rejected(
        tmp_path,
        bad,
        f"family {moved['family']!r} crosses splits ['train', 'validation']",
        "put all its items in one split",
    )


def test_category_without_benign_counterparts(tmp_path: Path, rows: list[dict]) -> None:
    bad = [r for r in rows if not (r["kind"] == "benign_counterpart" and r["category"] == "weapons")]
    problems = _rejected(tmp_path, bad, "every harmful request needs exactly one benign counterpart")
    assert (
        "category 'weapons' has harmful items but no benign counterpart; add one per harmful item" in problems
    )


def test_pair_with_two_harmful_items(tmp_path: Path, rows: list[dict]) -> None:
    bad = copy.deepcopy(rows)
    ben = next(r for r in bad if r["kind"] == "benign_counterpart")
    ben.update(kind="harmful", label="unsafe")
    _rejected(
        tmp_path,
        bad,
        f"pair {ben['pair_id']}: 2 harmful and 0 benign counterpart items",
        "needs exactly one benign counterpart",
    )


def test_validation_prompt_sharing_an_8_word_sequence_with_train(tmp_path: Path, rows: list[dict]) -> None:
    bad = copy.deepcopy(rows)
    train = next(
        r for r in bad if r["split"] == "train" and len(r["prompt"].split()) >= 12 and "'" not in r["prompt"]
    )
    val = next(r for r in bad if r["split"] == "validation" and r["kind"] == "borderline")
    words = _independent_words(train["prompt"])[:8]
    val["prompt"] = val["prompt"] + " Also, " + " ".join(words) + "."
    problems = _rejected(
        tmp_path,
        bad,
        train["id"],
        val["id"],
        "8-word sequence",
        "validation phrasings must be unseen in train",
    )
    assert any(" ".join(words) in p for p in problems)
    assert cross_split_overlaps(bad)  # the helper finds it too


def test_missing_fields(tmp_path: Path, rows: list[dict]) -> None:
    bad = copy.deepcopy(rows)
    del bad[3]["family"]
    del bad[3]["split"]
    _rejected(tmp_path, bad, f"line 4 (id={bad[3]['id']})", "missing field(s) family, split")


def test_kind_label_mismatch(tmp_path: Path, rows: list[dict]) -> None:
    bad = copy.deepcopy(rows)
    h = next(r for r in bad if r["kind"] == "harmful")
    h["label"] = "safe"
    _rejected(tmp_path, bad, h["id"], "kind 'harmful' needs label 'unsafe', got 'safe'")


def test_unknown_kind_and_bad_split_name_the_allowed_values(rows: list[dict]) -> None:
    bad = copy.deepcopy(rows[:4])
    bad[0]["kind"] = "jailbrake"
    bad[1]["split"] = "test"
    problems = validate_corpus(bad)
    assert any("unknown kind 'jailbrake'; use one of" in p and "benign_counterpart" in p for p in problems)
    assert any("split must be 'train' or 'validation', got 'test'" in p for p in problems)


def test_load_corpus_of_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="File not found"):
        load_corpus(tmp_path / "nope.jsonl")


# ---- named datasets --------------------------------------------------------------------------------------
def test_named_datasets_resolve_to_their_files(tmp_path: Path) -> None:
    assert resolve_dataset_file("sample") == CORPUS
    assert resolve_dataset_file(None) == CORPUS
    assert resolve_dataset_file("corpus") == CORPUS
    assert resolve_dataset_file("minimal-pairs") == sample_data_dir() / "prompts.jsonl"
    assert resolve_dataset_file("minimal-pairs").is_file()
    assert named_dataset_path("sample") == CORPUS and named_dataset_path("no-such") is None
    own = tmp_path / "mine.jsonl"
    own.write_text("{}\n")
    assert resolve_dataset_file(str(own)) == own


def test_unknown_dataset_name_lists_the_names() -> None:
    with pytest.raises(InputError) as exc:
        resolve_dataset_file("no-such-dataset")
    msg = str(exc.value)
    assert "'no-such-dataset'" in msg and "give a JSONL file path or one of those names" in msg
    assert all(name in msg for name in NAMED_DATASETS)
