"""Length-sorted batches: less padding, every row once, results back in the caller's order."""

from __future__ import annotations

import numpy as np
import pytest

from core.capture.batching import length_batches, restore_order
from core.capture.templates import build_messages
from core.capture.tracing import capture, capture_batch, capture_batch_indexed, generate_texts
from core.capture.trajectory import GenerationSettings
from core.labelled import LabelledItem
from core.probes.collect import capture_forced
from tests.unit.capture.test_tracing import assert_close_rel, reference_states


def test_groups_are_sorted_capped_and_cover_every_row() -> None:
    lengths = [50, 10, 40, 10, 30, 20, 60, 10]
    groups = length_batches(lengths, batch_size=3, token_budget=None)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert all(len(g) <= 3 for g in groups)
    flat = [lengths[i] for g in groups for i in g]
    assert flat == sorted(flat)
    assert groups[0] == [1, 3, 7]  # stable: equal lengths keep their order


def test_token_budget_shrinks_batches_of_long_rows() -> None:
    lengths = [10] * 8 + [100] * 4
    groups = length_batches(lengths, batch_size=8, token_budget=200)
    assert [len(g) for g in groups] == [8, 2, 2]  # 8 × 10 fits; 2 × 100 = 200 is the most per batch
    assert length_batches([500], batch_size=4, token_budget=100) == [[0]]  # one row always goes


def test_padding_is_less_than_in_input_order() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 120, size=64).tolist()

    def padded(groups: list[list[int]]) -> int:
        return sum(len(g) * max(lengths[i] for i in g) for g in groups)

    fixed = [list(range(s, min(s + 8, 64))) for s in range(0, 64, 8)]
    assert padded(length_batches(lengths, batch_size=8, token_budget=None)) < 0.8 * padded(fixed)


def test_restore_order() -> None:
    groups = [[2, 0], [1]]
    assert restore_order(groups, [["c", "a"], ["b"]]) == ["a", "b", "c"]
    with pytest.raises(ValueError):
        restore_order(groups, [["c"], ["b"]])
    with pytest.raises(ValueError):
        length_batches([1], batch_size=0)


PROMPTS = [
    "tell me a very long story about a dog, a cat and a small red boat on the river",
    "hi",
    "what is 2+2?",
    "explain photosynthesis to me in a few words please",
]


def test_forced_capture_keeps_item_order_and_matches_the_reference(tiny_model) -> None:
    items = [LabelledItem(id=f"i{k}", prompt=p, label="safe", split="train") for k, p in enumerate(PROMPTS)]
    seen: list[tuple[int, int]] = []
    trajs = capture_forced(tiny_model, items, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert [t.meta["item_id"] for t in trajs] == [it.id for it in items]
    assert seen == [(2, 4), (4, 4)]
    for t in trajs:
        assert_close_rel(t.hidden, reference_states(tiny_model, t.token_ids))


def test_capture_batch_and_generate_texts_keep_the_callers_order(tiny_model) -> None:
    chats = [build_messages(p) for p in PROMPTS]
    settings = GenerationSettings(max_new_tokens=6)
    indexed = list(capture_batch_indexed(tiny_model, chats, settings, batch_size=2))
    assert sorted(i for i, _ in indexed) == [0, 1, 2, 3]
    assert [i for i, _ in indexed][:2] == [1, 2]  # the two shortest prompts come first
    ordered = list(capture_batch(tiny_model, chats, settings, batch_size=2))
    texts = generate_texts(tiny_model, chats, settings, batch_size=2)
    for chat, traj, text in zip(chats, ordered, texts, strict=True):
        single = capture(tiny_model, chat, settings)
        assert traj.token_ids.tolist() == single.token_ids.tolist()
        assert traj.completion == text == single.completion
        np.testing.assert_allclose(traj.hidden, single.hidden, atol=1e-4)
