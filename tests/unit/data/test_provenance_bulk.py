"""Imported labels carry their provenance ("imported from FILE"), not the importer's vote; agreement counts
only people; imports default to a new dataset named after the file; bulk relabels can be undone."""

from __future__ import annotations

import pytest

from core.data import bulk
from core.data.importer import default_dataset_name, import_table, new_dataset_name
from core.data.io import RawTable
from core.data.repo import (
    get_item,
    is_human,
    label_history,
    list_items,
    provenance_author,
    record_vote,
    set_label,
)
from core.data.review import agreement, annotators
from core.errors import InputError


def _import(db, name="d", source="upload/prompts.csv"):
    rows = [
        (i + 1, {"id": f"i{i}", "prompt": f"p{i}", "label": ["unsafe", "safe", ""][i % 3]}) for i in range(6)
    ]
    import_table(db, RawTable(source, "csv", ["id", "prompt", "label"], rows), name, annotator="ada")
    return list_items(db, name)


def test_imported_labels_are_provenance_not_the_importers_vote(db):
    items = _import(db)
    first = items[0]
    assert first.label == "unsafe" and first.updated_by == "imported from prompts.csv"
    (h,) = label_history(db, item_pk=first.pk)
    assert (h.kind, h.annotator) == ("import", "imported from prompts.csv")
    assert h.comment == "imported from upload/prompts.csv by ada"
    assert items[2].label is None and items[2].updated_by == "ada"  # no label: nothing to attribute
    assert annotators(db, "d") == {}  # an import is nobody's vote
    # ada's own judgement is her first vote, not "a second opinion" on herself
    record_vote(db, first.pk, "safe", annotator="ada")
    record_vote(db, first.pk, "safe", annotator="bob")
    assert annotators(db, "d") == {"ada": 1, "bob": 1}
    assert agreement(db, "d", "ada", "bob").n_common == 1
    assert not is_human("imported from prompts.csv") and is_human("ada") and not is_human(None)
    assert provenance_author("C:\\data\\x.tsv") == "imported from x.tsv"


def test_import_defaults_to_a_new_dataset_named_after_the_file(db):
    assert default_dataset_name("harmbench.csv", []) == "harmbench"
    assert default_dataset_name("harmbench.csv", ["harmbench", "harmbench-2"]) == "harmbench-3"
    _import(db, name="prompts")
    assert new_dataset_name(db, "prompts.csv") == "prompts-2"


def test_bulk_relabel_is_undoable_and_never_overwrites_later_changes(db):
    items = _import(db)
    before = [i.label for i in items]
    batch, saved = bulk.relabel_all(db, items, "safe", annotator="ada", comment="all fine")
    assert [r.label for r in saved] == ["safe"] * 6
    (b,) = bulk.bulk_batches(db, "d")
    assert (b.batch, b.n, b.new_label, b.annotator, b.undone) == (batch, 6, "safe", "ada", False)
    assert "ada set 6 item(s) to 'safe'" in b.describe()
    # bob changes one item after the bulk relabel: the undo leaves it alone
    i1 = get_item(db, "d", "i1")
    set_label(db, i1.pk, "rethink", expected_version=i1.version, annotator="bob")
    report = bulk.undo_bulk(db, "d", batch, annotator="ada")
    assert report.kept == ["i1"] and len(report.restored) == 5 and "left alone: i1" in report.summary()
    after = [i.label for i in list_items(db, "d")]
    assert after == [before[0], "rethink", *before[2:]]
    assert annotators(db, "d") == {"ada": 1, "bob": 1}  # withdrawn where undone; kept on i1
    assert [h.kind for h in label_history(db, item_pk=items[0].pk)][:2] == ["undo", "label"]
    assert bulk.bulk_batches(db, "d")[0].undone
    with pytest.raises(InputError, match="already undone"):
        bulk.undo_bulk(db, "d", batch, annotator="ada")
    with pytest.raises(InputError, match="No bulk relabel"):
        bulk.undo_bulk(db, "d", "deadbeef", annotator="ada")
