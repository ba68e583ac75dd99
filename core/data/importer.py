"""Import and export of whole datasets: validate everything first, then write in ONE transaction.

A crash, a kill or an exception anywhere during the write leaves the database exactly as it was (the
transaction never commits); rows already in the dataset are skipped and reported, never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import insert, select

from core.data.db import Database
from core.data.io import RawTable, read_file, rows_to_bytes, write_rows
from core.data.mapping import ColumnMapping, validate_rows
from core.data.records import FIELDS, ImportRejectedError, ImportReport, SkippedRow
from core.data.repo import (
    annotator_id,
    dataset_row,
    ensure_dataset,
    insert_history_rows,
    list_datasets,
    provenance_author,
)
from core.data.schema import Dataset, Item, utcnow
from core.errors import InputError

Progress = Callable[[int, int], None]
CHUNK = 500  # rows per INSERT batch (progress is reported after each)


ROW_COLUMNS = (
    Item.item_id,
    Item.prompt,
    Item.response,
    Item.label,
    Item.pair_id,
    Item.category,
    Item.source,
    Item.kind,
    Item.split,
    Item.tags,
    Item.trajectory_key,
)


def _as_row(values: Any) -> dict[str, Any]:
    row = dict(zip(FIELDS, values, strict=True))
    row["tags"] = list(row["tags"] or [])
    return row


def _existing(session: Any, dataset: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Canonical rows of the dataset's items whose id is in ``ids`` (empty if the dataset is new)."""
    ds = session.scalar(select(Dataset.id).where(Dataset.name == dataset))
    if ds is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), CHUNK):  # keep the IN (...) list under SQLite's parameter limit
        q = select(*ROW_COLUMNS).where(Item.dataset_id == ds, Item.item_id.in_(ids[start : start + CHUNK]))
        for values in session.execute(q):
            out[values[0]] = _as_row(values)
    return out


def dataset_rows(db: Database, dataset: str) -> list[dict[str, Any]]:
    """Every item of ``dataset`` in the file schema, insertion order (plain columns: fast for export)."""
    with db.transaction() as s:
        ds = dataset_row(s, dataset)
        return [
            _as_row(v)
            for v in s.execute(select(*ROW_COLUMNS).where(Item.dataset_id == ds.id).order_by(Item.pk))
        ]


def _plan(
    session: Any, table: RawTable, dataset: str, mapping: ColumnMapping | None
) -> tuple[ImportReport, list[dict[str, Any]]]:
    checked = validate_rows(table.columns, table.rows, mapping, table.source)
    report = ImportReport(
        dataset=dataset,
        source=table.source,
        format=table.format,
        n_rows=len(table.rows),
        rejected=checked.rejected,
        mapping=dict(checked.chosen),
        ignored_columns=checked.ignored,
    )
    for row, rid, first in checked.in_file_duplicates:
        report.skipped.append(SkippedRow(row, rid, f"same prompt and response as row {first}"))
    existing = _existing(session, dataset, [r["id"] for _, r in checked.rows])
    new: list[dict[str, Any]] = []
    for rownum, row in checked.rows:
        old = existing.get(row["id"])
        if old is None:
            new.append(row)
            report.imported.append(row["id"])
        else:
            same = old == row
            report.skipped.append(
                SkippedRow(
                    rownum,
                    row["id"],
                    "id already in the dataset"
                    + (
                        " (identical)"
                        if same
                        else " with different content; the stored item was kept — relabel it "
                        "on the Label page or import under a new id"
                    ),
                )
            )
    report.skipped.sort(key=lambda s: s.row)
    return report, new


def import_table(
    db: Database,
    table: RawTable,
    dataset: str,
    *,
    annotator: str,
    mapping: ColumnMapping | None = None,
    on_error: Literal["abort", "skip"] = "abort",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate ``table`` against ``mapping``, then insert the new items in one transaction.

    ``on_error="abort"`` (default) writes nothing if any row is invalid (``ImportRejectedError`` lists them
    all); ``"skip"`` imports the valid rows and reports the rest. ``dry_run`` only reports. Labelled items
    get an "import" entry in the label history whose author is the provenance ``imported from FILE``
    (``repo.provenance_author``), not ``annotator``: a label that came with a file is not the importing
    person's vote, so their own later judgement is a first opinion, and agreement counts only people.
    ``annotator`` is recorded as who created the items (and named in the history comment).
    """
    if not table.rows:
        raise InputError(f"{table.source} has no rows to import.")
    if on_error not in ("abort", "skip"):
        raise InputError("on_error must be 'abort' or 'skip'.")
    if dry_run:
        with db.transaction() as s:
            report, _ = _plan(s, table, dataset, mapping)
        report.dry_run = True
        return report
    # Everything below commits together or not at all, under the write lock: the check for ids already in
    # the dataset and the insert of the new ones see the same rows, so a concurrent import of the same
    # dataset waits, then skips what the other one wrote (reported as "id already in the dataset").
    with db.write_transaction(f"dataset:{dataset}") as s:
        aid = annotator_id(s, annotator)
        prov = annotator_id(s, provenance_author(table.source))
        report, new = _plan(s, table, dataset, mapping)
        if report.rejected and on_error == "abort":
            raise ImportRejectedError(report)
        ds = ensure_dataset(s, dataset, by=annotator)
        now = utcnow()
        for start in range(0, len(new), CHUNK):
            chunk = new[start : start + CHUNK]
            params = [
                {
                    "dataset_id": ds.id,
                    "item_id": r["id"],
                    "prompt": r["prompt"],
                    "response": r["response"],
                    "label": r["label"],
                    "pair_id": r["pair_id"],
                    "category": r["category"],
                    "source": r["source"],
                    "kind": r["kind"],
                    "split": r["split"],
                    "tags": r["tags"],
                    "trajectory_key": r["trajectory_key"],
                    "version": 1,
                    "created_at": now,
                    "created_by_id": aid,
                    "updated_at": now,
                    "updated_by_id": prov if r["label"] is not None else aid,
                }
                for r in chunk
            ]
            s.execute(insert(Item.__table__), params)  # Core executemany: one prepared INSERT per chunk
            labelled = {r["id"]: r["label"] for r in chunk if r["label"] is not None}
            pks = s.execute(
                select(Item.item_id, Item.pk).where(
                    Item.dataset_id == ds.id, Item.item_id.in_(list(labelled))
                )
            ).all()
            insert_history_rows(
                s,
                [
                    {
                        "item_pk": pk,
                        "old_label": None,
                        "new_label": labelled[iid],
                        "annotator_id": prov,
                        "at": now,
                        "comment": f"imported from {table.source} by {annotator}",
                        "kind": "import",
                    }
                    for iid, pk in pks
                ],
            )
            if progress is not None:
                progress(min(start + CHUNK, len(new)), len(new))
        report.committed = True
    return report


def default_dataset_name(filename: str, existing: list[str]) -> str:
    """A NEW dataset named after the file (``prompts.csv`` -> ``prompts``), with ``-2``, ``-3``... when that
    name is taken: an import never merges into an existing dataset unless asked to."""
    stem = Path(filename).stem.strip() or "imported"
    name, i = stem, 1
    while name in existing:
        i += 1
        name = f"{stem}-{i}"
    return name


def new_dataset_name(db: Database, filename: str) -> str:
    """``default_dataset_name`` against the datasets of ``db``."""
    return default_dataset_name(filename, [d.name for d in list_datasets(db)])


def import_file(
    db: Database,
    path: str | Path,
    dataset: str,
    *,
    annotator: str,
    mapping: ColumnMapping | None = None,
    fmt: str | None = None,
    max_bytes: int | None = None,
    on_error: Literal["abort", "skip"] = "abort",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Read a JSONL / CSV / TSV / Parquet file and import it (see ``import_table``)."""
    table = read_file(path, fmt=fmt, max_bytes=max_bytes)
    return import_table(
        db,
        table,
        dataset,
        annotator=annotator,
        mapping=mapping,
        on_error=on_error,
        dry_run=dry_run,
        progress=progress,
    )


def export_bytes(db: Database, dataset: str, fmt: str) -> bytes:
    """The whole dataset in ``fmt`` (jsonl | csv | tsv | parquet), items in insertion order."""
    return rows_to_bytes(dataset_rows(db, dataset), fmt)


def export_dataset(db: Database, dataset: str, path: str | Path, *, fmt: str | None = None) -> Path:
    """Write the dataset to ``path`` (format from the extension unless ``fmt``); atomic."""
    return write_rows(dataset_rows(db, dataset), path, fmt=fmt)
