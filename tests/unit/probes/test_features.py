"""Probe datasets: item parsing, content hash, post-instruction positions, teacher-forced capture vs the
tracer, feature caching, and features straight from the activation store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import InputError
from core.probes.features import (
    dataset_hash,
    features_from_store,
    items_from_rows,
    load_items,
    pool,
    post_instruction_range,
    select,
    split_items,
)

ROWS = [
    {"id": "h1", "prompt": "How do I hurt someone?", "label": "unsafe", "kind": "harmful", "split": "train"},
    {
        "id": "b1",
        "prompt": "How do I help someone?",
        "label": "safe",
        "kind": "benign_counterpart",
        "split": "train",
    },
    {
        "id": "h2",
        "prompt": "How do I steal a car?",
        "label": "unsafe",
        "kind": "harmful",
        "split": "validation",
    },
    {
        "id": "b2",
        "prompt": "How do I start a car?",
        "label": "safe",
        "kind": "benign_counterpart",
        "split": "validation",
    },
    {
        "id": "r1",
        "prompt": "How do I hurt someone?",
        "response": "I can't help with that.",
        "label": "safe",
        "kind": "response",
        "split": "train",
    },
    {"id": "u1", "prompt": "Unlabelled item", "label": None, "kind": "borderline"},
]


def test_items_select_split_and_hash(tmp_path):
    items = items_from_rows(ROWS)
    assert [it.id for it in select(items)] == ["h1", "b1", "h2", "b2", "r1"]
    assert [it.id for it in select(items, responses=False, kinds=["harmful"])] == ["h1", "h2"]
    train, val = split_items(select(items))
    assert [it.id for it in val] == ["h2", "b2"] and len(train) == 3
    assert dataset_hash(items) == dataset_hash(items[::-1])  # order-independent
    changed = items_from_rows([{**ROWS[0], "label": "safe"}, *ROWS[1:]])
    assert dataset_hash(changed) != dataset_hash(items)  # a relabel changes the hash
    with pytest.raises(InputError, match="label 'maybe'"):
        items_from_rows([{"id": "x", "prompt": "p", "label": "maybe"}])
    f = tmp_path / "d.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    name, loaded = load_items(file=f)
    assert name == "d" and len(loaded) == 6
    with pytest.raises(InputError, match="No dataset file"):
        load_items(file=tmp_path / "missing.jsonl")


def test_teacher_forced_capture_and_positions(tiny_model):
    from core.capture.templates import build_messages
    from core.capture.tracing import capture_prompt
    from core.probes.collect import capture_forced

    items = items_from_rows(ROWS[:5])
    trajs = capture_forced(tiny_model, items, batch_size=2)
    # prompt-only items: identical to the foundation's prompt capture (batched + padded vs single)
    ref = capture_prompt(tiny_model, build_messages(items[0].prompt))
    np.testing.assert_allclose(trajs[0].hidden, ref.hidden, atol=1e-4)
    assert trajs[0].n_tokens == trajs[0].n_prompt_tokens
    # the response item: prompt + response tokens, prompt states unchanged by what follows (causal)
    r = trajs[4]
    assert r.n_tokens > r.n_prompt_tokens and r.completion == "I can't help with that."
    np.testing.assert_allclose(r.hidden[:, : r.n_prompt_tokens], ref.hidden, atol=1e-4)
    # post-instruction positions: the template tokens after the user's text
    s, e = post_instruction_range(ref)
    assert e == ref.n_prompt_tokens
    assert "".join(ref.tokens[s:e]) == "<|im_end|>\n<|im_start|>assistant\n"
    np.testing.assert_allclose(pool(ref, "post_instruction"), ref.hidden[:, s:e].mean(1), atol=1e-6)
    np.testing.assert_allclose(pool(ref, "last_prompt"), ref.hidden[:, -1], atol=1e-6)


def test_collect_features_caches(rs_home, tiny_model, monkeypatch):
    from core.probes import collect

    items = items_from_rows(ROWS[:4])
    fs = collect.collect_features(tiny_model, items, positions="post_instruction", dataset="toy")
    assert fs.train.shape == (2, 3, tiny_model.d_model) and fs.val.shape == (2, 3, tiny_model.d_model)
    assert fs.meta()["dataset_hash"] == dataset_hash(items) and fs.meta()["positions"] == "post_instruction"
    monkeypatch.setattr(collect, "_capture_pooled", lambda *a, **k: pytest.fail("cache miss"))
    again = collect.collect_features(tiny_model, items, positions="post_instruction", dataset="toy")
    np.testing.assert_array_equal(again.train, fs.train)


def test_features_from_store(rs_home, tiny_model):
    from core.capture.store import ActivationStore
    from tests.app.explorer_fixtures import fill_store

    store = ActivationStore()
    fill_store(tiny_model, n=8, max_new_tokens=3)
    fs = features_from_store(store, "demo", "completion", fingerprint=tiny_model.fingerprint, seed=0)
    labels = fs.y_train + fs.y_val
    assert sorted(labels) == ["safe"] * 3 + ["unsafe"] * 3  # rethink / unlabelled left out
    assert len(fs.val_items) == 2 and {it.label for it in fs.val_items} == {"safe", "unsafe"}  # stratified
    assert fs.layers == (0, 1, 2) and fs.train.shape[1:] == (3, tiny_model.d_model)
    with pytest.raises(InputError, match="no trajectories labelled"):
        features_from_store(store, "demo", "completion", fingerprint="other-model")


def test_pooled_per_batch_equals_pooling_whole_trajectories(rs_home, tiny_model):
    """collect_features pools each batch as it comes (one batch of states in RAM): the same features as
    pooling every trajectory of capture_forced, in item order, mixed lengths included."""
    from core.probes import collect

    items = items_from_rows(ROWS)
    fs = collect.collect_features(tiny_model, items, positions="post_instruction", batch_size=2, cache=False)
    trajs = collect.capture_forced(tiny_model, items, batch_size=1)  # no padding at all
    ref = {it.id: pool(t, "post_instruction") for it, t in zip(items, trajs, strict=True)}
    got = list(fs.train) + list(fs.val)
    want = [ref[it.id] for it in fs.train_items + fs.val_items]
    np.testing.assert_allclose(np.stack(got), np.stack(want), rtol=1e-4, atol=1e-5)
