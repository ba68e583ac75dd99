"""Bulk relabels that can be undone: one batch id in every history entry of the relabel, and an undo that
restores each item's previous label (recorded as an "undo" entry; nothing in the history is rewritten).

An item somebody changed after the bulk relabel is left alone and reported, never overwritten.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from core.data.db import Database
from core.data.records import ItemRecord, LabelChange, check_label
from core.data.repo import _history, _touch, annotator_id, apply_label_changes, dataset_row
from core.data.schema import Annotation, Item, LabelHistory
from core.errors import InputError

_TAG = re.compile(r"\[bulk ([0-9a-f]{8})\]")
_UNDO = re.compile(r"\[undo of bulk ([0-9a-f]{8})\]")


@dataclass(frozen=True, kw_only=True)
class BulkBatch:
    """One bulk relabel as the history records it."""

    batch: str
    annotator: str
    at: datetime
    new_label: str | None
    n: int
    undone: bool

    def describe(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S} UTC · {self.annotator} set {self.n} item(s) to "
            f"'{self.new_label or 'none'}'" + (" · undone" if self.undone else "")
        )


@dataclass(kw_only=True)
class UndoReport:
    restored: list[str] = field(default_factory=list)  # item ids given back their previous label
    kept: list[str] = field(default_factory=list)  # changed again since the bulk relabel: left alone

    def summary(self) -> str:
        text = f"Undid the bulk relabel: {len(self.restored)} item(s) have their previous label back."
        if self.kept:
            text += f" {len(self.kept)} changed since and were left alone: {', '.join(self.kept[:10])}."
        return text


def relabel_all(
    db: Database,
    items: list[ItemRecord],
    label: str | None,
    *,
    annotator: str,
    comment: str | None = None,
) -> tuple[str, list[ItemRecord]]:
    """Give every item (as loaded) ``label`` in one transaction, tagged with a new batch id so the whole
    relabel can be undone from the history (``undo_bulk``). ConflictError if any item moved."""
    check_label(label)
    batch = uuid.uuid4().hex[:8]
    note = f"{comment.strip()} [bulk {batch}]" if comment and comment.strip() else f"[bulk {batch}]"
    changes = [LabelChange(i.pk, label, i.version) for i in items]
    return batch, apply_label_changes(db, changes, annotator=annotator, comment=note)


def _entries(db: Database, dataset: str) -> list[tuple[LabelHistory, str, str | None]]:
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        rows = s.scalars(
            select(LabelHistory)
            .join(Item, Item.pk == LabelHistory.item_pk)
            .where(Item.dataset_id == ds.id, LabelHistory.comment.contains("bulk "))
            .order_by(LabelHistory.id)
        ).unique()
        out = []
        for h in rows:
            tag, undo = _TAG.search(h.comment or ""), _UNDO.search(h.comment or "")
            if undo:
                out.append((h, undo.group(1), "undo"))
            elif tag:
                out.append((h, tag.group(1), None))
        for h, _, _ in out:  # load what describe() needs while the session is open
            _ = (h.annotator.name, h.item.item_id)
        return out


def bulk_batches(db: Database, dataset: str) -> list[BulkBatch]:
    """The dataset's bulk relabels, newest first."""
    found: dict[str, list[LabelHistory]] = {}
    undone: set[str] = set()
    for h, batch, what in _entries(db, dataset):
        if what == "undo":
            undone.add(batch)
        else:
            found.setdefault(batch, []).append(h)
    out = [
        BulkBatch(
            batch=b,
            annotator=hs[0].annotator.name,
            at=hs[0].at,
            new_label=hs[0].new_label,
            n=len(hs),
            undone=b in undone,
        )
        for b, hs in found.items()
    ]
    return sorted(out, key=lambda b: b.at, reverse=True)


def undo_bulk(db: Database, dataset: str, batch: str, *, annotator: str) -> UndoReport:
    """Give every item of bulk relabel ``batch`` its label from before it, in one transaction, as "undo"
    history entries; the relabel's own votes are withdrawn. Items changed since are kept and reported."""
    with db.transaction() as s:
        aid = annotator_id(s, annotator)
        ds = dataset_row(s, dataset)
        hist = s.scalars(
            select(LabelHistory)
            .join(Item, Item.pk == LabelHistory.item_pk)
            .where(Item.dataset_id == ds.id, LabelHistory.comment.contains(f"[bulk {batch}]"))
            .order_by(LabelHistory.id)
        ).unique()
        hist = list(hist)
        if not hist:
            raise InputError(
                f"No bulk relabel {batch!r} in dataset {dataset!r}; pick one from the History tab."
            )
        if s.scalar(select(LabelHistory.id).where(LabelHistory.comment.contains(f"[undo of bulk {batch}]"))):
            raise InputError("This bulk relabel was already undone.")
        report = UndoReport()
        for h in hist:
            item = s.get(Item, h.item_pk)
            assert item is not None
            later = s.scalar(
                select(LabelHistory.id)
                .where(LabelHistory.item_pk == item.pk, LabelHistory.id > h.id)
                .limit(1)
            )
            if later is not None or item.label != h.new_label:
                report.kept.append(item.item_id)
                continue
            item.label = h.old_label
            _touch(s, item, aid)
            _history(s, item.pk, h.new_label, h.old_label, aid, f"[undo of bulk {batch}]", "undo")
            s.query(Annotation).filter_by(
                item_pk=item.pk, annotator_id=h.annotator_id, label=h.new_label
            ).delete()
            report.restored.append(item.item_id)
        s.flush()
    return report
