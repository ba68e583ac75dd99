"""One dataset notion for the trajectory store and the labelling database.

A trajectory stored with ``dataset="demo"`` (Home's demo load) or traced on Trace (no dataset: ``TRACED``)
is also an item of the labelling database's dataset of the same name, linked by its store key; and an item of
any dataset finds its stored trajectory (by link, by dataset + item id, or by the same prompt).

``sync_store_datasets`` brings store trajectories the database does not know yet in as items (through the
importer, so their labels carry the provenance "imported from trajectory store"); it never changes an item
that is already there. Lives in ``core.samples`` because it joins two sibling layers (capture and data).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from core.capture.store import ActivationStore, StoredMeta
from core.data import Database
from core.data.importer import import_table
from core.data.io import RawTable
from core.data.records import ItemRecord
from core.data.schema import Dataset, Item

TRACED = "traced"  # the database dataset of trajectories stored without one (Trace)
STORE_SOURCE = "trajectory store"
STORE_AUTHOR = "trajectory store"  # created_by of synced items: not a person, never a vote
_COLUMNS = ["id", "prompt", "response", "label", "category", "kind", "source", "trajectory_key"]
_LABELS = ("safe", "unsafe", "rethink")


@dataclass(kw_only=True)
class SyncReport:
    """Items added per dataset by one ``sync_store_datasets`` call."""

    added: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.added.values())

    def summary(self) -> str:
        parts = ", ".join(f"{n} into '{d}'" for d, n in sorted(self.added.items()))
        return f"Added {self.total} stored trajectories as items ({parts})." if self.total else ""


def dataset_of(meta: StoredMeta) -> str:
    """The database dataset a stored trajectory belongs to (``TRACED`` when it was stored without one)."""
    return meta.dataset or TRACED


def item_id_of(meta: StoredMeta) -> str:
    """The item id of a stored trajectory: its own item id, else ``traj-`` + the first 12 hex of its key."""
    return meta.item_id or f"traj-{meta.key[:12]}"


def _row(meta: StoredMeta) -> dict[str, object]:
    tags = list(meta.tags)
    return {
        "id": item_id_of(meta),
        "prompt": meta.prompt,
        "response": meta.completion or None,
        "label": meta.label if meta.label in _LABELS else None,
        "category": tags[1] if len(tags) > 1 else "",
        "kind": tags[0] if tags else "",
        "source": STORE_SOURCE,
        "trajectory_key": meta.key,
    }


def _known(db: Database) -> tuple[set[str], set[tuple[str, str]]]:
    """Store keys the database links to, and its (dataset, item id) pairs."""
    with db.transaction() as s:
        keys = {k for (k,) in s.execute(select(Item.trajectory_key).where(Item.trajectory_key.is_not(None)))}
        ids = {(d, i) for d, i in s.execute(select(Dataset.name, Item.item_id).join(Dataset))}
    return keys, ids


def missing_items(db: Database, metas: Iterable[StoredMeta]) -> dict[str, list[StoredMeta]]:
    """Stored trajectories (by database dataset) that are not items yet: neither linked by key nor present
    under their item id; one per item id, newest first as the store lists them."""
    keys, ids = _known(db)
    out: dict[str, list[StoredMeta]] = {}
    seen: set[tuple[str, str]] = set()
    for m in metas:
        where = (dataset_of(m), item_id_of(m))
        if m.key in keys or where in ids or where in seen or not m.prompt.strip():
            continue
        seen.add(where)
        out.setdefault(where[0], []).append(m)
    return out


def sync_store_datasets(db: Database, store: ActivationStore) -> SyncReport:
    """Add every stored trajectory the database does not know yet as an item of its dataset (created when
    needed), linked by its store key; labels from the store are recorded as "imported from trajectory
    store", never as anyone's vote. Items already in the database are left as they are."""
    report = SyncReport()
    for dataset, metas in missing_items(db, store.query()).items():
        table = RawTable(
            source=STORE_SOURCE,
            format="jsonl",
            columns=list(_COLUMNS),
            rows=[(n, _row(m)) for n, m in enumerate(reversed(metas), start=1)],  # oldest first
        )
        done = import_table(db, table, dataset, annotator=STORE_AUTHOR, on_error="skip")
        if done.imported:
            report.added[dataset] = len(done.imported)
    return report


def find_trajectory(store: ActivationStore, item: ItemRecord) -> str | None:
    """The store key of an item's trajectory: its link, else one stored under the same dataset and item id,
    else the newest one of the same prompt (e.g. traced on Trace). None when there is none."""
    if item.trajectory_key and store.has(item.trajectory_key):
        return item.trajectory_key
    stored = store.query()
    for m in stored:
        if dataset_of(m) == item.dataset and item_id_of(m) == item.item_id and store.has(m.key):
            return m.key
    for m in stored:
        if m.prompt == item.prompt and store.has(m.key):
            return m.key
    return None
