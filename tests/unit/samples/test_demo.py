"""Home's demo load: trajectories stored while the next batch generates (one writer thread)."""

from __future__ import annotations

import pytest

from core.capture.store import ActivationStore
from core.errors import DiskError
from core.samples.demo import DEMO_DATASET, demo_items, seed_demo_store


def test_demo_store_holds_every_item_in_order_with_its_labels(tiny_model, tmp_path):
    store = ActivationStore(tmp_path / "store")
    seen: list[tuple[int, int]] = []
    keys = seed_demo_store(
        tiny_model, store, n=7, max_new_tokens=3, batch_size=2, progress=lambda d, t: seen.append((d, t))
    )
    items = demo_items(7)
    assert len(keys) == len(set(keys)) == 7
    assert seen[-1] == (7, 7)
    for key, it in zip(keys, items, strict=True):  # the items' order, whatever order batches finished in
        meta = store.meta(key)
        assert meta.dataset == DEMO_DATASET
        assert meta.label == it.get("label") and meta.item_id == it.get("id")
        assert it["prompt"] in meta.prompt
        assert store.get(key).hidden.shape[1] == meta.n_tokens
    assert {m.key for m in store.query(dataset=DEMO_DATASET)} == set(keys)


def test_a_failing_write_is_raised_and_keeps_what_was_stored(tiny_model, tmp_path, monkeypatch):
    store = ActivationStore(tmp_path / "store")
    real_put, calls = store.put, []

    def put(traj, **kw):
        calls.append(1)
        if len(calls) == 4:
            raise DiskError("No space left on device: free some disk and load the demo again.")
        return real_put(traj, **kw)

    monkeypatch.setattr(store, "put", put)
    with pytest.raises(DiskError, match="free some disk"):
        seed_demo_store(tiny_model, store, n=6, max_new_tokens=2, batch_size=2)
    stored = store.query(dataset=DEMO_DATASET)
    assert len(stored) >= 3  # the three written before the failure are still there, readable
    for m in stored:
        assert store.get(m.key).n_tokens == m.n_tokens
