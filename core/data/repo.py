"""Repository: datasets, items and labels, with optimistic concurrency and an append-only history.

Every public function is one transaction on a ``Database`` (all or nothing) and returns detached records
(``core.data.records``). A label write names the ``version`` of the item the user was looking at; if the
row moved since then the write is refused with ``ConflictError`` carrying the current row, never applied
over someone else's change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.data.db import Database
from core.data.records import (
    LABELS,
    Conflict,
    ConflictError,
    DatasetInfo,
    HistoryEntry,
    ItemRecord,
    LabelChange,
    check_label,
)
from core.data.schema import Annotation, Annotator, Dataset, Item, LabelHistory, utcnow
from core.errors import InputError

UNLABELLED = "unlabelled"  # filter value meaning label IS NULL
PROVENANCE_PREFIX = "imported from "  # author of labels that came with a file: a source, not a person


def provenance_author(source: str) -> str:
    """The author recorded for labels that came with ``source`` (``imported from prompts.csv``): a
    provenance, not a person, so it never votes and never counts in agreement statistics."""
    name = str(source).replace("\\", "/").rsplit("/", 1)[-1].strip() or "a file"
    return (PROVENANCE_PREFIX + name)[:200]


def is_human(name: str | None) -> bool:
    """False for provenance authors (``provenance_author``); True for people."""
    return bool(name) and not str(name).startswith(PROVENANCE_PREFIX)


# ---- helpers shared with review.py / importer.py -----------------------------------------------------


def dialect_insert(session: Session, table: Any) -> Any:
    """``INSERT`` supporting ``on_conflict_do_*`` on SQLite and PostgreSQL."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def annotator_id(session: Session, name: str | None) -> int:
    """Id of annotator ``name``, created on first use (safe against two sessions creating it at once)."""
    name = (name or "").strip()
    if not name:
        raise InputError(
            "Who is labelling? Give an annotator name (CLI: --annotator NAME; app: the name field)."
        )
    if len(name) > 200:
        raise InputError("Annotator names are limited to 200 characters.")
    aid = session.scalar(select(Annotator.id).where(Annotator.name == name))
    if aid is None:
        session.execute(
            dialect_insert(session, Annotator)
            .values(name=name, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        aid = session.scalar(select(Annotator.id).where(Annotator.name == name))
    assert aid is not None
    return aid


def dataset_row(session: Session, name: str) -> Dataset:
    ds = session.scalar(select(Dataset).where(Dataset.name == name))
    if ds is None:
        names = session.scalars(select(Dataset.name).order_by(Dataset.name)).all()
        hint = f"Existing datasets: {', '.join(names)}." if names else "There are no datasets yet."
        raise InputError(
            f"No dataset named {name!r}. {hint} Create it by importing a file "
            f"(reasonscope data import FILE --dataset {name}) or on the Label page."
        )
    return ds


def to_record(item: Item) -> ItemRecord:
    return ItemRecord(
        pk=item.pk,
        dataset=item.dataset.name,
        item_id=item.item_id,
        prompt=item.prompt,
        response=item.response,
        label=item.label,
        pair_id=item.pair_id,
        category=item.category,
        source=item.source,
        kind=item.kind,
        split=item.split,
        tags=tuple(item.tags or ()),
        trajectory_key=item.trajectory_key,
        version=item.version,
        created_at=item.created_at,
        created_by=item.created_by.name if item.created_by else None,
        updated_at=item.updated_at,
        updated_by=item.updated_by.name if item.updated_by else None,
    )


_DATASET_NAME = re.compile(r"[\w .,()+-]+")  # \w: letters (any script), digits, _


def _check_dataset_name(name: str) -> str:
    """A dataset name a person can read and no file path can be made from: letters, digits, spaces and
    ``- _ . , ( ) +``; no ``/``, ``\\``, control characters or NUL; not starting with ``.``."""
    name = (name or "").strip()
    if not name:
        raise InputError("A dataset needs a name (letters, digits, spaces, - _ . are fine).")
    if len(name) > 200:
        raise InputError("Dataset names are limited to 200 characters.")
    if not _DATASET_NAME.fullmatch(name) or name.startswith("."):
        raise InputError(
            f"Dataset name {name[:80]!r} is not allowed: use letters, digits, spaces and - _ . , ( ) + "
            "(no '/', '\\', control characters, and not starting with '.')."
        )
    return name


# ---- datasets --------------------------------------------------------------------------------------------


def create_dataset(db: Database, name: str, *, description: str = "", by: str | None = None) -> DatasetInfo:
    """A new, empty dataset (InputError if the name is taken)."""
    name = _check_dataset_name(name)
    with db.transaction() as s:
        if s.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
            raise InputError(f"A dataset named {name!r} already exists: pick another name or import into it.")
        aid = annotator_id(s, by) if by else None
        s.add(Dataset(name=name, description=description, created_by_id=aid, updated_by_id=aid))
    return get_dataset(db, name)


def ensure_dataset(session: Session, name: str, *, by: str | None) -> Dataset:
    """The dataset row named ``name``, created inside the caller's transaction if missing."""
    name = _check_dataset_name(name)
    ds = session.scalar(select(Dataset).where(Dataset.name == name))
    if ds is None:
        aid = annotator_id(session, by) if by else None
        ds = Dataset(name=name, description="", created_by_id=aid, updated_by_id=aid)
        session.add(ds)
        session.flush()
    return ds


def _dataset_infos(session: Session, where: Any = None) -> list[DatasetInfo]:
    n_items = func.count(Item.pk)
    n_labelled = func.count(Item.label)  # COUNT(col) skips NULLs
    q = (
        select(Dataset, n_items, n_labelled)
        .outerjoin(Item, Item.dataset_id == Dataset.id)
        .group_by(Dataset.id)
        .order_by(Dataset.name)
    )
    if where is not None:
        q = q.where(where)
    return [
        DatasetInfo(
            id=d.id,
            name=d.name,
            description=d.description,
            created_at=d.created_at,
            created_by=d.created_by.name if d.created_by else None,
            n_items=n,
            n_labelled=nl,
        )
        for d, n, nl in session.execute(q).unique().all()
    ]


def list_datasets(db: Database) -> list[DatasetInfo]:
    with db.transaction() as s:
        return _dataset_infos(s)


def get_dataset(db: Database, name: str) -> DatasetInfo:
    with db.transaction() as s:
        dataset_row(s, name)  # raises with the list of existing names
        return _dataset_infos(s, Dataset.name == name)[0]


# ---- items -------------------------------------------------------------------------------------------------


def _items_query(
    session: Session,
    dataset: str,
    *,
    labels: Iterable[str | None] | None = None,
    categories: Iterable[str] | None = None,
    kinds: Iterable[str] | None = None,
    splits: Iterable[str] | None = None,
    search: str | None = None,
) -> Select[tuple[Item]]:
    ds = dataset_row(session, dataset)
    q = select(Item).where(Item.dataset_id == ds.id)
    if labels is not None:
        wanted = [None if v in (None, UNLABELLED) else check_label(v) for v in labels]
        known = [v for v in wanted if v is not None]
        q = q.where(
            or_(Item.label.in_(known), Item.label.is_(None)) if None in wanted else Item.label.in_(known)
        )
    if categories is not None:
        q = q.where(Item.category.in_(list(categories)))
    if kinds is not None:
        q = q.where(Item.kind.in_(list(kinds)))
    if splits is not None:
        q = q.where(Item.split.in_(list(splits)))
    if search:
        pat = f"%{search.strip()}%"
        q = q.where(or_(Item.prompt.ilike(pat), Item.response.ilike(pat), Item.item_id.ilike(pat)))
    return q


def list_items(
    db: Database,
    dataset: str,
    *,
    labels: Iterable[str | None] | None = None,
    categories: Iterable[str] | None = None,
    kinds: Iterable[str] | None = None,
    splits: Iterable[str] | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ItemRecord]:
    """Items of ``dataset`` in insertion order, filtered (``labels`` may contain None / "unlabelled")."""
    with db.transaction() as s:
        q = (
            _items_query(
                s, dataset, labels=labels, categories=categories, kinds=kinds, splits=splits, search=search
            )
            .order_by(Item.pk)
            .offset(offset)
            .limit(limit)
        )
        return [to_record(i) for i in s.scalars(q).unique()]


def get_item(db: Database, dataset: str, item_id: str) -> ItemRecord:
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        item = s.scalar(select(Item).where(Item.dataset_id == ds.id, Item.item_id == item_id))
        if item is None:
            raise InputError(
                f"Dataset {dataset!r} has no item with id {item_id!r} (list them with "
                f"`reasonscope data stats {dataset}` or on the Label page)."
            )
        return to_record(item)


def get_items(db: Database, pks: Sequence[int]) -> dict[int, ItemRecord]:
    with db.transaction() as s:
        return {i.pk: to_record(i) for i in s.scalars(select(Item).where(Item.pk.in_(list(pks)))).unique()}


def link_trajectory(db: Database, item_pk: int, key: str | None, *, by: str) -> ItemRecord:
    """Point an item at a stored trajectory (``ActivationStore`` key), or clear the link with None."""
    with db.transaction() as s:
        aid = annotator_id(s, by)
        item = s.get(Item, item_pk)
        if item is None:
            raise InputError(f"No item with key {item_pk}.")
        item.trajectory_key = key
        _touch(s, item, aid)
        s.flush()
        return to_record(item)


# ---- labels ------------------------------------------------------------------------------------------------


def _touch(session: Session, item: Item, aid: int) -> None:
    with session.no_autoflush:  # one UPDATE per item (an autoflush here would bump the version twice)
        item.updated_by = session.get(Annotator, aid)  # the object, so records built after flush name them
    item.updated_at = utcnow()


def _upsert_vote(session: Session, item_pk: int, aid: int, label: str | None) -> None:
    if label is None:  # clearing a label withdraws this annotator's vote
        session.query(Annotation).filter_by(item_pk=item_pk, annotator_id=aid).delete()
        return
    now = utcnow()
    stmt = dialect_insert(session, Annotation).values(
        item_pk=item_pk, annotator_id=aid, label=label, created_at=now, updated_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["item_pk", "annotator_id"], set_={"label": label, "updated_at": now}
        )
    )


def _history(
    session: Session, item_pk: int, old: str | None, new: str | None, aid: int, comment: str | None, kind: str
) -> None:
    session.add(
        LabelHistory(
            item_pk=item_pk,
            old_label=old,
            new_label=new,
            annotator_id=aid,
            comment=(comment or None),
            kind=kind,
            at=utcnow(),
        )
    )


def _apply_in(
    s: Session, aid: int, changes: Sequence[LabelChange], comment: str | None, vote: bool
) -> dict[int, Item]:
    """Apply ``changes`` inside the caller's transaction; raise ConflictError before writing anything."""
    items = {
        i.pk: i for i in s.scalars(select(Item).where(Item.pk.in_([c.item_pk for c in changes]))).unique()
    }
    missing = [c.item_pk for c in changes if c.item_pk not in items]
    if missing:
        raise InputError(f"No item with key(s) {missing}: they may have been deleted; reload the list.")
    conflicts = [
        Conflict(c, to_record(items[c.item_pk]))
        for c in changes
        if items[c.item_pk].version != c.expected_version
    ]
    if conflicts:
        raise ConflictError(conflicts)
    for ch in changes:
        item = items[ch.item_pk]
        old = item.label
        if old != ch.new_label or not vote:  # a resolution is recorded even when it keeps the label
            item.label = ch.new_label
            _touch(s, item, aid)
            _history(s, item.pk, old, ch.new_label, aid, comment, "label" if vote else "resolve")
        else:
            _history(s, item.pk, old, ch.new_label, aid, comment, "vote")
        if vote:
            _upsert_vote(s, item.pk, aid, ch.new_label)
    s.flush()  # UPDATE … WHERE version = <loaded>: a concurrent commit makes this raise StaleDataError
    return items


def apply_label_changes(
    db: Database,
    changes: Sequence[LabelChange],
    *,
    annotator: str,
    comment: str | None = None,
    vote: bool = True,
) -> list[ItemRecord]:
    """Apply several label changes in ONE transaction, or none of them.

    Each change names the version the user saw; if any item moved, nothing is written and
    ``ConflictError`` lists every clash with the current row. ``vote=False`` resolves a disagreement: it sets
    the item's label without counting it as this annotator's own vote, and is logged as "resolve" (even when
    the label stays the same), which takes the item off the disagreement list until someone votes again.
    """
    for ch in changes:
        check_label(ch.new_label)
    if not changes:
        return []
    try:
        with db.transaction() as s:
            items = _apply_in(s, annotator_id(s, annotator), changes, comment, vote)
            return [to_record(items[c.item_pk]) for c in changes]
    except StaleDataError:
        current = get_items(db, [c.item_pk for c in changes])
        clashes = [
            Conflict(c, current[c.item_pk])
            for c in changes
            if c.item_pk in current and current[c.item_pk].version != c.expected_version
        ]
        raise ConflictError(clashes or [Conflict(changes[0], current[changes[0].item_pk])]) from None


def set_label(
    db: Database,
    item_pk: int,
    label: str | None,
    *,
    expected_version: int,
    annotator: str,
    comment: str | None = None,
    vote: bool = True,
) -> ItemRecord:
    """Set one item's label if it is still at ``expected_version`` (else ``ConflictError``)."""
    return apply_label_changes(
        db, [LabelChange(item_pk, label, expected_version)], annotator=annotator, comment=comment, vote=vote
    )[0]


def bulk_relabel(
    db: Database,
    items: Sequence[ItemRecord],
    label: str | None,
    *,
    annotator: str,
    comment: str | None = None,
) -> list[ItemRecord]:
    """Give every item in ``items`` (as loaded) the same label, in one transaction."""
    return apply_label_changes(
        db, [LabelChange(i.pk, label, i.version) for i in items], annotator=annotator, comment=comment
    )


def record_vote(
    db: Database, item_pk: int, label: str, *, annotator: str, comment: str | None = None
) -> ItemRecord:
    """The labelling-queue action: record ``annotator``'s judgement of an item.

    An unlabelled item takes the label (a "label" history entry, version bumped). An item someone already
    labelled keeps its label; the vote is stored as a second opinion ("vote" entry) and shows up in the
    agreement view if it differs. Either way nothing another annotator wrote is overwritten.
    """
    if label not in LABELS:
        raise InputError(f"A vote needs a label: one of {', '.join(LABELS)} (got {label!r}).")
    for _attempt in range(3):  # someone labelling it first between our read and write turns it into a vote
        try:
            with db.transaction() as s:
                aid = annotator_id(s, annotator)
                item = s.get(Item, item_pk)
                if item is None:
                    raise InputError(f"No item with key {item_pk}.")
                if item.label is None:
                    _apply_in(s, aid, [LabelChange(item_pk, label, item.version)], comment, True)
                else:
                    _history(s, item.pk, item.label, label, aid, comment, "vote")
                    _upsert_vote(s, item.pk, aid, label)
                    s.flush()
                return to_record(item)
        except StaleDataError:
            continue
    raise InputError("The item kept changing while saving your vote; reload it and try again.")


def label_history(
    db: Database,
    *,
    dataset: str | None = None,
    item_pk: int | None = None,
    annotator: str | None = None,
    limit: int | None = None,
) -> list[HistoryEntry]:
    """Label history, newest first, optionally for one dataset / item / annotator."""
    with db.transaction() as s:
        q = select(LabelHistory).join(Item, Item.pk == LabelHistory.item_pk)
        if dataset is not None:
            q = q.where(Item.dataset_id == dataset_row(s, dataset).id)
        if item_pk is not None:
            q = q.where(LabelHistory.item_pk == item_pk)
        if annotator is not None:
            q = q.join(Annotator, Annotator.id == LabelHistory.annotator_id).where(
                Annotator.name == annotator
            )
        q = q.order_by(LabelHistory.id.desc()).limit(limit)
        return [
            HistoryEntry(
                id=h.id,
                item_pk=h.item_pk,
                item_id=h.item.item_id,
                dataset=h.item.dataset.name,
                old_label=h.old_label,
                new_label=h.new_label,
                annotator=h.annotator.name,
                at=h.at,
                comment=h.comment,
                kind=h.kind,
            )
            for h in s.scalars(q).unique()
        ]


def insert_history_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk-append history rows (importer)."""
    if rows:
        session.execute(insert(LabelHistory), rows)
