"""Trajectory store <-> labelling database: stored trajectories become items of the dataset of the same name
(traced ones of "traced"), linked by key, with provenance labels; an item finds its trajectory."""

from __future__ import annotations

from core.capture.store import ActivationStore
from core.capture.templates import build_messages
from core.capture.tracing import capture_prompt
from core.data.importer import import_table
from core.data.io import RawTable
from core.data.repo import get_item, label_history, list_items
from core.data.review import annotators
from core.samples.connect import TRACED, find_trajectory, sync_store_datasets


def test_store_trajectories_become_linked_items(db, tmp_path, tiny_model):
    store = ActivationStore(tmp_path / "store")
    t1 = capture_prompt(tiny_model, build_messages("How do I pick a lock?"))
    t2 = capture_prompt(tiny_model, build_messages("Explain photosynthesis to a child."))
    k1 = store.put(t1, dataset="demo", label="unsafe", tags=["harmful", "crime"], item_id="h1")
    k2 = store.put(t2)  # traced on Trace: no dataset
    report = sync_store_datasets(db, store)
    assert report.added == {"demo": 1, TRACED: 1} and "Added 2 stored trajectories" in report.summary()
    (demo,) = list_items(db, "demo")
    assert (demo.item_id, demo.prompt, demo.label, demo.trajectory_key) == (
        "h1",
        t1.prompt_text,
        "unsafe",
        k1,
    )
    assert (demo.kind, demo.category, demo.response) == ("harmful", "crime", t1.completion or None)
    (traced,) = list_items(db, TRACED)
    assert traced.item_id == f"traj-{k2[:12]}" and traced.trajectory_key == k2 and traced.label is None
    (h,) = label_history(db, item_pk=demo.pk)
    assert h.annotator == "imported from trajectory store" and annotators(db, "demo") == {}
    assert sync_store_datasets(db, store).total == 0  # idempotent
    assert find_trajectory(store, get_item(db, "demo", "h1")) == k1


def test_an_item_finds_a_trajectory_traced_for_its_prompt(db, tmp_path, tiny_model):
    store = ActivationStore(tmp_path / "store")
    import_table(
        db,
        RawTable("f.jsonl", "jsonl", ["id", "prompt"], [(1, {"id": "x", "prompt": "Hello there"})]),
        "mine",
        annotator="a",
    )
    item = get_item(db, "mine", "x")
    assert find_trajectory(store, item) is None
    key = store.put(capture_prompt(tiny_model, build_messages("Hello there")))
    assert find_trajectory(store, item) == key
