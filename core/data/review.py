"""Reviewing a dataset: counts, inter-annotator agreement (Cohen's κ), disagreements, the labelling queue
and contrastive pairs. Read-only queries; every function returns detached records."""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select

from core.data.db import Database
from core.data.records import LABELS, Agreement, Disagreement, ItemRecord, Pair
from core.data.repo import PROVENANCE_PREFIX, UNLABELLED, dataset_row, to_record
from core.data.schema import Annotation, Annotator, Item, LabelHistory
from core.errors import InputError

QueueMode = Literal["unlabelled", "unreviewed"]


@dataclass(frozen=True)
class CategoryCount:
    category: str
    label: str  # safe | unsafe | rethink | unlabelled
    n: int


def counts_by_label(db: Database, dataset: str) -> dict[str, int]:
    """``{"safe": n, "unsafe": n, "rethink": n, "unlabelled": n}`` (every key present)."""
    out = dict.fromkeys((*LABELS, UNLABELLED), 0)
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        for label, n in s.execute(
            select(Item.label, func.count()).where(Item.dataset_id == ds.id).group_by(Item.label)
        ):
            out[label or UNLABELLED] = n
    return out


def counts_by_category(db: Database, dataset: str) -> list[CategoryCount]:
    """Item counts per (category, label), sorted by category then label order."""
    order = {v: i for i, v in enumerate((*LABELS, UNLABELLED))}
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        rows = s.execute(
            select(Item.category, Item.label, func.count())
            .where(Item.dataset_id == ds.id)
            .group_by(Item.category, Item.label)
        ).all()
    counts = [CategoryCount(c or "(none)", lab or UNLABELLED, n) for c, lab, n in rows]
    return sorted(counts, key=lambda r: (r.category, order[r.label]))


def annotators(db: Database, dataset: str) -> dict[str, int]:
    """People who voted on items of ``dataset`` -> number of their votes, most active first (labels that came
    with an imported file are provenance, not votes, and are never counted)."""
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        rows = s.execute(
            select(Annotator.name, func.count())
            .join(Annotation, Annotation.annotator_id == Annotator.id)
            .join(Item, Item.pk == Annotation.item_pk)
            .where(Item.dataset_id == ds.id, _human())
            .group_by(Annotator.name)
        ).all()
    return dict(sorted(rows, key=lambda r: (-r[1], r[0])))


def _human() -> Any:
    """SQL condition: the annotator is a person, not a provenance (``repo.provenance_author``)."""
    return ~Annotator.name.startswith(PROVENANCE_PREFIX, autoescape=True)


def _votes(
    db: Database, dataset: str, names: Iterable[str] | None = None
) -> tuple[dict[int, dict[str, str]], dict[int, ItemRecord]]:
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        q = (
            select(Annotation.item_pk, Annotator.name, Annotation.label)
            .join(Annotator, Annotator.id == Annotation.annotator_id)
            .join(Item, Item.pk == Annotation.item_pk)
            .where(Item.dataset_id == ds.id, _human())
        )
        if names is not None:
            q = q.where(Annotator.name.in_(list(names)))
        votes: dict[int, dict[str, str]] = defaultdict(dict)
        for pk, name, label in s.execute(q):
            votes[pk][name] = label
        items = {i.pk: to_record(i) for i in s.scalars(select(Item).where(Item.pk.in_(list(votes)))).unique()}
    return votes, items


def agreement(db: Database, dataset: str, annotator_a: str, annotator_b: str) -> Agreement:
    """Cohen's κ (``sklearn.metrics.cohen_kappa_score``) over the items both annotators labelled."""
    if annotator_a == annotator_b:
        raise InputError("Pick two different annotators to compare.")
    votes, _ = _votes(db, dataset, [annotator_a, annotator_b])
    pairs = [
        (v[annotator_a], v[annotator_b])
        for _, v in sorted(votes.items())
        if annotator_a in v and annotator_b in v
    ]
    n = len(pairs)
    if n == 0:
        return Agreement(
            annotator_a=annotator_a,
            annotator_b=annotator_b,
            n_common=0,
            observed=None,
            kappa=None,
            note=f"{annotator_a} and {annotator_b} have not labelled any item in common yet.",
        )
    observed = sum(a == b for a, b in pairs) / n
    if n < 2:
        return Agreement(
            annotator_a=annotator_a,
            annotator_b=annotator_b,
            n_common=n,
            observed=observed,
            kappa=None,
            note="κ needs at least 2 items labelled by both.",
        )
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():  # sklearn warns (and returns nan) when κ is 0/0
        warnings.simplefilter("ignore")
        kappa = float(cohen_kappa_score([a for a, _ in pairs], [b for _, b in pairs], labels=list(LABELS)))
    if math.isnan(kappa):
        return Agreement(
            annotator_a=annotator_a,
            annotator_b=annotator_b,
            n_common=n,
            observed=observed,
            kappa=None,
            note=f"κ is undefined: both used a single label on all {n} common items "
            f"(raw agreement {observed:.0%}).",
        )
    return Agreement(
        annotator_a=annotator_a,
        annotator_b=annotator_b,
        n_common=n,
        observed=observed,
        kappa=kappa,
        note=f"κ = {kappa:.3f} over {n} items both labelled (raw agreement {observed:.0%}).",
    )


def disagreements(
    db: Database, dataset: str, annotators_: Iterable[str] | None = None, *, include_resolved: bool = False
) -> list[Disagreement]:
    """Items whose annotators (all, or only the given ones) voted different labels, in item order.

    An item counts as resolved once someone settled it (``set_label(..., vote=False)``) after the last vote.
    """
    names = list(annotators_) if annotators_ is not None else None
    votes, items = _votes(db, dataset, names)
    split = [pk for pk, v in votes.items() if len(set(v.values())) > 1]
    if split and not include_resolved:
        with db.transaction() as s:
            resolved_at = dict(
                s.execute(
                    select(LabelHistory.item_pk, func.max(LabelHistory.at))
                    .where(LabelHistory.kind == "resolve", LabelHistory.item_pk.in_(split))
                    .group_by(LabelHistory.item_pk)
                )
                .tuples()
                .all()
            )
            voted_at = dict(
                s.execute(
                    select(Annotation.item_pk, func.max(Annotation.updated_at))
                    .where(Annotation.item_pk.in_(split))
                    .group_by(Annotation.item_pk)
                )
                .tuples()
                .all()
            )
        split = [pk for pk in split if pk not in resolved_at or _utc(voted_at[pk]) > _utc(resolved_at[pk])]
    return [Disagreement(items[pk], dict(sorted(votes[pk].items()))) for pk in sorted(split)]


def _utc(value: Any) -> Any:
    """Aggregates bypass the column type on SQLite (naive text): compare everything as aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _queue_query(
    db_session, dataset_id: int, annotator: str, mode: QueueMode, skip: Iterable[int], category: str | None
):
    q = select(Item).where(Item.dataset_id == dataset_id)
    if mode == "unlabelled":
        q = q.where(Item.label.is_(None))
    elif mode == "unreviewed":
        mine = (
            select(Annotation.item_pk)
            .join(Annotator, Annotator.id == Annotation.annotator_id)
            .where(Annotator.name == annotator)
        )
        q = q.where(Item.pk.not_in(mine))
    else:
        raise InputError(f"Unknown queue mode {mode!r}: use 'unlabelled' or 'unreviewed'.")
    skip = list(skip)
    if skip:
        q = q.where(Item.pk.not_in(skip))
    if category:
        q = q.where(Item.category == category)
    return q


def next_in_queue(
    db: Database,
    dataset: str,
    annotator: str,
    *,
    mode: QueueMode = "unlabelled",
    skip: Iterable[int] = (),
    category: str | None = None,
) -> ItemRecord | None:
    """The next item to label, in dataset order, or None when the queue is empty.

    ``unlabelled``: items nobody labelled yet. ``unreviewed``: items ``annotator`` has not voted on (second
    opinions for agreement). ``skip`` holds item keys the annotator skipped in this session.
    """
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        q = _queue_query(s, ds.id, annotator, mode, skip, category).order_by(Item.pk).limit(1)
        item = s.scalars(q).unique().first()
        return to_record(item) if item is not None else None


def queue_size(
    db: Database,
    dataset: str,
    annotator: str,
    *,
    mode: QueueMode = "unlabelled",
    skip: Iterable[int] = (),
    category: str | None = None,
) -> int:
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        sub = _queue_query(s, ds.id, annotator, mode, skip, category).subquery()
        return int(s.scalar(select(func.count()).select_from(sub)) or 0)


def pairs(db: Database, dataset: str) -> list[Pair]:
    """Groups of items sharing a ``pair_id`` (2 or more members), sorted by pair id."""
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        rows = (
            s.scalars(
                select(Item)
                .where(Item.dataset_id == ds.id, Item.pair_id.is_not(None))
                .order_by(Item.pair_id, Item.pk)
            )
            .unique()
            .all()
        )
        groups: dict[str, list[ItemRecord]] = defaultdict(list)
        for item in rows:
            groups[item.pair_id].append(to_record(item))  # type: ignore[index]
    return [Pair(pid, tuple(members)) for pid, members in sorted(groups.items()) if len(members) >= 2]


def pair_of(db: Database, dataset: str, pair_id: str) -> Pair:
    """All items of one pair (InputError if no item has that pair id)."""
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        rows = (
            s.scalars(select(Item).where(Item.dataset_id == ds.id, Item.pair_id == pair_id).order_by(Item.pk))
            .unique()
            .all()
        )
        if not rows:
            raise InputError(f"No item in {dataset!r} has pair_id {pair_id!r}.")
        return Pair(pair_id, tuple(to_record(i) for i in rows))


def labels_by_item_id(db: Database, dataset: str) -> dict[str, str | None]:
    """``item_id -> label`` for a whole dataset (what other views use to colour points)."""
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        return dict(
            s.execute(select(Item.item_id, Item.label).where(Item.dataset_id == ds.id)).tuples().all()
        )
