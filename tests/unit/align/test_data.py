"""Training data of the alignment jobs: splits, classes, the monitor batch and warm-start targets (no
model)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from core.align import data as D
from core.align.rewards import format_verifier, refusal_verifier
from core.errors import InputError
from core.labelled import LabelledItem
from tests.align_helpers import write_dataset


def test_prompt_items_skip_traces_and_map_labels(tmp_path: Path) -> None:
    items = D.prompt_items(D.load_rows(str(write_dataset(tmp_path / "d.jsonl"))))
    assert len(items) == 12  # the 5 response traces are not prompts
    assert sum(it.harmful for it in items) == 6
    train, val = D.split(items, "train"), D.split(items, "validation")
    assert len(train) == 8 and len(val) == 4 and not {i.id for i in train} & {i.id for i in val}


def test_sample_data_is_the_corpus_with_both_classes_in_train() -> None:
    items = D.split(D.prompt_items(D.load_rows("sample")), "train")
    D.check_both_classes(items)
    assert {it.kind for it in items if it.harmful} == {"harmful"}
    assert {it.kind for it in items if not it.harmful} == {"benign_counterpart", "borderline"}
    assert all(it.form for it in items) and len(items) > 1500


def test_minimal_pairs_stay_available_as_the_stress_set() -> None:
    items = D.prompt_items(D.load_rows("minimal-pairs"))
    assert {"harmful", "jailbreak"} <= {it.kind for it in items if it.harmful}


def test_balanced_subset_keeps_classes_and_categories() -> None:
    items = D.split(D.prompt_items(D.load_rows("sample")), "train")
    sub = D.balanced_subset(items, 100, seed=0)
    assert len(sub) == 100 and sum(it.harmful for it in sub) == 50
    assert len({it.category for it in sub if it.harmful}) >= 14
    assert sub == D.balanced_subset(items, 100, seed=0)


def test_one_class_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="found 2 harmful, 0 benign"):
        D.check_both_classes(
            [
                LabelledItem(id="a", prompt="x", label="unsafe"),
                LabelledItem(id="b", prompt="y", label="unsafe"),
            ]
        )


def test_monitor_batch_comes_from_train_and_keeps_both_classes(tmp_path: Path) -> None:
    train = D.split(D.prompt_items(D.load_rows(str(write_dataset(tmp_path / "d.jsonl")))), "train")
    rest, mon = D.monitor_split(train, 4, seed=0)
    assert len(mon) == 4 and {it.harmful for it in mon} == {True, False}
    assert not {it.id for it in rest} & {it.id for it in mon} and len(rest) + len(mon) == len(train)
    assert all(it.split == "train" for it in mon)


def test_warm_start_targets_are_in_format_and_verifiable() -> None:
    rng = random.Random(0)
    harm = D.alphaalign_target(LabelledItem(id="h", prompt="bomb?", label="unsafe"), None, rng)
    safe = D.alphaalign_target(
        LabelledItem(id="b", prompt="bread?", label="safe"), "Mix flour and water.", rng
    )
    assert format_verifier(harm) == 1.0 and refusal_verifier(harm) == 1.0
    assert format_verifier(safe) == 1.0 and refusal_verifier(safe) == 0.0
    assert (
        "<safety_reasoning>The request is harmful:" in harm
        and "<safety_reasoning>The request is safe:" in safe
    )
    assert "Mix flour and water." in safe
    assert D.EMPTY_ANSWER_FALLBACK in D.alphaalign_target(
        LabelledItem(id="b", prompt="x", label="safe"), "  ", rng
    )


def test_tidy_answer_cuts_at_a_sentence_end() -> None:
    text = "Mix flour and water. Knead for ten minutes. Let it rise in a warm place for about an hour and th"
    assert D.tidy_answer(text, 80) == "Mix flour and water. Knead for ten minutes."
    assert D.tidy_answer("Steps:\n\n1. Heat", 80) == "Steps:\n\n1. Heat"  # "1." is not a sentence end
    assert D.tidy_answer("<answer>Short.</answer>", 80) == "Short."


def test_paired_order_alternates_classes_and_keeps_minimal_pairs_together():
    items = (
        [LabelledItem(id=f"h{i}", prompt=f"harm {i}", label="unsafe", pair_id=f"p{i}") for i in range(5)]
        + [LabelledItem(id=f"b{i}", prompt=f"ok {i}", label="safe", pair_id=f"p{i}") for i in range(5)]
        + [
            LabelledItem(id="bl0", prompt="borderline", label="safe"),
            LabelledItem(id="bl1", prompt="borderline 2", label="safe"),
        ]
    )
    order = D.paired_order(items, seed=0)
    assert sorted(it.id for it in order) == sorted(it.id for it in items)
    for k in range(0, 10, 2):  # harmful, then its own benign counterpart
        h, b = order[k], order[k + 1]
        assert h.harmful and not b.harmful and h.pair_id == b.pair_id
    assert [it.id for it in order[10:]] == [it.id for it in order[10:] if not it.harmful]
    assert D.paired_order(items, seed=0) == order and D.paired_order(items, seed=1) != order


def test_holdout_slice_takes_whole_families_and_pairs_from_train() -> None:
    """The slice settings are chosen on: no family or pair on both sides, both benign kinds resolvable."""
    train = D.split(D.prompt_items(D.load_rows(None)), "train")
    rest, held = D.holdout_split(train, 360, seed=0)
    assert len(rest) + len(held) == len(train) and 330 <= len(held) <= 400
    assert not {it.family for it in rest} & {it.family for it in held}
    assert not {it.pair_id for it in rest if it.pair_id} & {it.pair_id for it in held if it.pair_id}
    kinds = {k: sum(it.kind == k for it in held) for k in ("harmful", "benign_counterpart", "borderline")}
    assert min(kinds.values()) >= 100, kinds  # a 5 % rate is ~5 items, not 1
    assert len({it.category for it in held if it.harmful}) >= 14  # round-robin over categories
    assert D.holdout_split(train, 360, seed=0) == (rest, held)  # seeded
    assert D.holdout_split(train, 0, seed=0) == (list(train), [])


def test_a_holdout_that_leaves_one_class_is_refused_and_a_small_split_keeps_its_items() -> None:
    harm = [
        LabelledItem(id=f"h{i}", prompt=f"harm {i}", label="unsafe", kind="harmful", family=f"f{i}")
        for i in range(15)
    ]
    only_benign = LabelledItem(id="b0", prompt="hello", label="safe", kind="borderline", family="g0")
    with pytest.raises(InputError, match="holdout_items"):
        D.holdout_split([*harm, only_benign], 3, seed=0)  # the one benign family would be held out
    small = harm[:3] + [only_benign]
    assert D.holdout_split(small, 360, seed=0) == (small, [])  # at most a fifth: 4 // 5 = 0 items
