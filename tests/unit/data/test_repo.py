"""Datasets, items, labels: optimistic concurrency, one-transaction bulk changes, complete history."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from core.data import ConflictError, LabelChange, open_db
from core.data.importer import import_table
from core.data.io import RawTable
from core.data.repo import (
    apply_label_changes,
    bulk_relabel,
    create_dataset,
    get_dataset,
    get_item,
    label_history,
    link_trajectory,
    list_datasets,
    list_items,
    record_vote,
    set_label,
)
from core.data.schema import Item
from core.errors import InputError


def _seed(db, name="d", n=4, **extra):
    rows = [
        (i + 1, {"id": f"i{i}", "prompt": f"prompt {i}", "category": "cat" + str(i % 2), **extra})
        for i in range(n)
    ]
    import_table(
        db,
        RawTable("seed.jsonl", "jsonl", ["id", "prompt", "category", *extra], rows),
        name,
        annotator="seeder",
    )
    return list_items(db, name)


def _assert_history_explains_labels(db, dataset):
    """Every item's current label is the new_label of its latest non-vote history entry."""
    entries = label_history(db, dataset=dataset)
    for item in list_items(db, dataset):
        changes = [h for h in entries if h.item_pk == item.pk and h.kind != "vote"]
        assert (changes[0].new_label if changes else None) == item.label, item.item_id


def test_datasets_create_list_and_errors(db):
    create_dataset(db, "alpha", description="first", by="ada")
    _seed(db, "beta", n=3)
    infos = {d.name: d for d in list_datasets(db)}
    assert infos["alpha"].n_items == 0 and infos["alpha"].created_by == "ada"
    assert infos["beta"].n_items == 3 and infos["beta"].n_labelled == 0
    with pytest.raises(InputError, match="already exists"):
        create_dataset(db, "alpha")
    with pytest.raises(InputError, match="No dataset named 'gamma'.*alpha, beta"):
        get_dataset(db, "gamma")
    with pytest.raises(InputError, match="needs a name"):
        create_dataset(db, "  ")


def test_list_items_filters(db):
    items = _seed(db, n=6)
    set_label(db, items[0].pk, "unsafe", expected_version=1, annotator="ada")
    assert [i.item_id for i in list_items(db, "d", labels=["unsafe"])] == ["i0"]
    assert len(list_items(db, "d", labels=["unlabelled"])) == 5
    assert len(list_items(db, "d", labels=["unsafe", None])) == 6
    assert [i.item_id for i in list_items(db, "d", categories=["cat1"])] == ["i1", "i3", "i5"]
    assert [i.item_id for i in list_items(db, "d", search="PROMPT 4")] == ["i4"]
    assert [i.item_id for i in list_items(db, "d", limit=2, offset=1)] == ["i1", "i2"]
    with pytest.raises(InputError, match="Unknown label 'bad'"):
        list_items(db, "d", labels=["bad"])


def test_set_label_bumps_version_and_records_history(db):
    item = _seed(db)[0]
    rec = set_label(db, item.pk, "unsafe", expected_version=1, annotator="ada", comment="clearly harmful")
    assert (rec.label, rec.version, rec.updated_by) == ("unsafe", 2, "ada")
    rec = set_label(db, item.pk, "rethink", expected_version=2, annotator="bob")
    rec = set_label(db, item.pk, None, expected_version=3, annotator="bob", comment="not sure")
    assert (rec.label, rec.version) == (None, 4)
    hist = label_history(db, item_pk=item.pk)
    assert [(h.old_label, h.new_label, h.annotator, h.kind) for h in hist] == [
        ("rethink", None, "bob", "label"),
        ("unsafe", "rethink", "bob", "label"),
        (None, "unsafe", "ada", "label"),
    ]
    assert hist[-1].comment == "clearly harmful" and hist[-1].at.tzinfo is not None
    assert [h.item_id for h in label_history(db, annotator="ada")] == ["i0"]
    _assert_history_explains_labels(db, "d")
    with pytest.raises(InputError, match="Unknown label"):
        set_label(db, item.pk, "harmful", expected_version=4, annotator="ada")
    with pytest.raises(InputError, match="annotator name"):
        set_label(db, item.pk, "safe", expected_version=4, annotator=" ")


def test_two_sessions_editing_the_same_item_conflict_instead_of_overwriting(db_url):
    """Two browser sessions = two independent connections that both loaded version 1."""
    with open_db(db_url) as setup:
        _seed(setup)
    with open_db(db_url) as first, open_db(db_url) as second:
        seen_by_first = get_item(first, "d", "i0")
        seen_by_second = get_item(second, "d", "i0")
        set_label(first, seen_by_first.pk, "unsafe", expected_version=seen_by_first.version, annotator="ada")
        with pytest.raises(ConflictError) as err:
            set_label(
                second, seen_by_second.pk, "safe", expected_version=seen_by_second.version, annotator="bob"
            )
        current = err.value.current
        assert (current.label, current.version, current.updated_by) == ("unsafe", 2, "ada")
        assert err.value.conflicts[0].attempted.new_label == "safe"
        assert "changed by ada" in str(err.value) and "Nothing was saved" in str(err.value)
        # the second session decides, knowing the current version: now it is a deliberate change
        set_label(
            second,
            current.pk,
            "safe",
            expected_version=current.version,
            annotator="bob",
            comment="overrides ada after review",
        )
        assert get_item(first, "d", "i0").label == "safe"
        assert len(label_history(first, item_pk=current.pk)) == 2


def test_orm_refuses_a_stale_write_that_raced_past_the_check(db_url):
    """If another session commits between our read and our UPDATE, the version guard still catches it."""
    with open_db(db_url) as setup:
        _seed(setup)
    with open_db(db_url) as a, open_db(db_url) as b:
        s = a.session()
        item = s.scalars(select(Item).where(Item.item_id == "i0")).unique().one()
        assert item.version == 1
        other = get_item(b, "d", "i0")
        set_label(b, other.pk, "unsafe", expected_version=1, annotator="bob")
        item.label = "safe"
        with pytest.raises(StaleDataError):
            s.flush()
        s.rollback()
        s.close()
        assert get_item(b, "d", "i0").label == "unsafe"


def test_bulk_relabel_is_one_transaction(db):
    items = _seed(db, n=5)
    set_label(db, items[2].pk, "safe", expected_version=1, annotator="bob")  # moves i2 to version 2
    with pytest.raises(ConflictError) as err:
        bulk_relabel(db, items, "unsafe", annotator="ada")  # items as loaded before bob's change
    assert [c.current.item_id for c in err.value.conflicts] == ["i2"]
    assert [i.label for i in list_items(db, "d")] == [None, None, "safe", None, None]  # nothing applied
    fresh = list_items(db, "d")
    out = bulk_relabel(db, fresh, "unsafe", annotator="ada", comment="bulk")
    assert [i.label for i in out] == ["unsafe"] * 5
    assert sum(h.comment == "bulk" for h in label_history(db, dataset="d")) == 5
    _assert_history_explains_labels(db, "d")


def test_apply_label_changes_mixed_labels_and_missing_items(db):
    items = _seed(db, n=3)
    out = apply_label_changes(
        db, [LabelChange(items[0].pk, "safe", 1), LabelChange(items[1].pk, "rethink", 1)], annotator="ada"
    )
    assert [i.label for i in out] == ["safe", "rethink"]
    with pytest.raises(InputError, match="No item with key"):
        apply_label_changes(db, [LabelChange(999_999, "safe", 1)], annotator="ada")
    assert apply_label_changes(db, [], annotator="ada") == []


def test_record_vote_labels_unlabelled_items_and_keeps_existing_labels(db):
    items = _seed(db, n=2)
    first = record_vote(db, items[0].pk, "unsafe", annotator="ada")
    assert (first.label, first.version) == ("unsafe", 2)
    second = record_vote(db, items[0].pk, "safe", annotator="bob")  # a second opinion, not an overwrite
    assert (second.label, second.version) == ("unsafe", 2)
    kinds = [(h.annotator, h.kind, h.old_label, h.new_label) for h in label_history(db, item_pk=items[0].pk)]
    assert kinds == [("bob", "vote", "unsafe", "safe"), ("ada", "label", None, "unsafe")]
    with pytest.raises(InputError, match="needs a label"):
        record_vote(db, items[1].pk, None, annotator="ada")  # type: ignore[arg-type]
    _assert_history_explains_labels(db, "d")


def test_link_trajectory(db):
    item = _seed(db, n=1)[0]
    rec = link_trajectory(db, item.pk, "abc123", by="ada")
    assert rec.trajectory_key == "abc123" and rec.version == 2
    assert get_item(db, "d", "i0").trajectory_key == "abc123"
    with pytest.raises(InputError, match="has no item with id 'zzz'"):
        get_item(db, "d", "zzz")
