"""``core.labelled.LabelledItem``: the one labelled prompt item (rows in and out, the binary class)."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from core.data.records import FIELDS as DATA_FIELDS
from core.data.records import ItemRecord
from core.labelled import FIELDS, LabelledItem, harm_class
from core.samples.files import sample_data_dir


def _rows() -> list[dict]:
    return [
        json.loads(line)
        for line in (sample_data_dir() / "prompts.jsonl").read_text().splitlines()
        if line.strip()
    ]


def test_every_sample_row_round_trips() -> None:
    rows = _rows()
    assert rows
    for n, row in enumerate(rows, start=1):
        item = LabelledItem.from_row(row, number=n)
        out = item.to_row()
        assert list(out)[: len(FIELDS)] == list(FIELDS)
        assert {k: out[k] for k in row} == row  # every field of the file comes back unchanged
        assert LabelledItem.from_row(out) == item


def test_corpus_fields_are_read_and_written() -> None:
    row = {
        "id": "c-1",
        "prompt": "  How do I pick a lock?  ",
        "label": "unsafe",
        "kind": "harmful",
        "category": "crime",
        "form": "question",
        "family": "lockpicking",
        "pair_id": "p-1",
        "split": "train",
        "source": "corpus",
        "extra": "ignored",
    }
    item = LabelledItem.from_row(row)
    assert item.prompt == "How do I pick a lock?" and item.form == "question" and item.family == "lockpicking"
    assert item.tags == () and item.response is None and item.trajectory_key is None
    out = item.to_row()
    assert out["form"] == "question" and out["family"] == "lockpicking" and "extra" not in out
    assert "form" not in LabelledItem(id="x", prompt="y").to_row()  # optional fields only when set


def test_defaults_for_missing_fields() -> None:
    item = LabelledItem.from_row({"prompt": "hi"}, number=7)
    assert item.id == "7" and item.label is None and item.split == "train" and item.kind == ""
    assert LabelledItem.from_row({"prompt": "hi"}, default_split="").split == ""
    assert LabelledItem.from_row({"id": "a", "prompt": "p", "label": "", "pair_id": ""}).label is None


def test_keyword_only_frozen_and_replace() -> None:
    with pytest.raises(TypeError):
        LabelledItem("a", "b")  # type: ignore[misc]
    item = LabelledItem(id="a", prompt="b", label="safe")
    with pytest.raises(FrozenInstanceError):
        item.label = "unsafe"  # type: ignore[misc]
    assert replace(item, label="unsafe").harmful and not item.harmful


@pytest.mark.parametrize(
    "label,kind,expected",
    [
        ("unsafe", "", True),
        ("UNSAFE", "benign", True),
        ("safe", "harmful", False),
        ("harmful", "", True),
        (None, "jailbreak", True),
        (None, "borderline", False),
        ("rethink", "response", None),
        (None, "", None),
    ],
)
def test_harm_class(label, kind, expected) -> None:
    assert harm_class(label, kind) is expected
    assert LabelledItem(id="i", prompt="p", label=label, kind=kind).harmful is (expected is True)


def test_database_row_converts_to_the_item() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    # the fields the item and its database row share; the row adds its key, dataset, version and audit trail
    shared: dict[str, Any] = dict(
        prompt="p",
        response=None,
        label="unsafe",
        pair_id="p-1",
        category="weapons",
        source="s",
        kind="harmful",
        split="train",
        tags=("a",),
        trajectory_key="k",
    )
    rec = ItemRecord(
        pk=1,
        dataset="d",
        item_id="h-1",
        **shared,
        version=3,
        created_at=now,
        created_by=None,
        updated_at=now,
        updated_by="ann",
    )
    item = rec.to_item()
    assert item == LabelledItem(id="h-1", **shared)
    assert list(rec.to_row()) == list(DATA_FIELDS) and rec.to_row()["tags"] == ["a"]
    assert DATA_FIELDS is FIELDS
