"""Plain records the data layer hands out (detached from any DB session) and its errors.

Everything a page, the CLI or another area reads from the labelling database arrives as one of these
dataclasses, so callers never hold a live SQLAlchemy object (no lazy loads after a session closed, no
accidental writes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from core.errors import InputError, ReasonScopeError
from core.labelled import FIELDS as FIELDS  # re-exported: the data layer's file schema
from core.labelled import LabelledItem

LABELS: tuple[str, ...] = ("safe", "unsafe", "rethink")
Label = Literal["safe", "unsafe", "rethink"]
# FIELDS (imported from core.labelled): the JSONL schema of sample_data/ (issue 2) plus the optional link to a
# stored trajectory, in file order -- the columns import maps and export writes.
ROW_ERROR = "__row_error__"  # key a reader puts in a raw row it could not split into cells (reason as value)
# History kinds: "label" changed the item's label, "vote" recorded an annotator's judgement without
# changing it (a second opinion), "resolve" settled a disagreement, "import" set it while importing a file.
HistoryKind = Literal["label", "vote", "resolve", "import"]


def check_label(value: str | None) -> str | None:
    """``value`` if it is a known label (or None = unlabelled); InputError naming the allowed values."""
    if value is None or value in LABELS:
        return value
    raise InputError(
        f"Unknown label {value!r}: use one of {', '.join(LABELS)} (or leave it empty for unlabelled)."
    )


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    id: int
    name: str
    description: str
    created_at: datetime
    created_by: str | None
    n_items: int = 0
    n_labelled: int = 0


@dataclass(frozen=True, kw_only=True)
class ItemRecord:
    """One item as stored. ``pk`` is the database key; ``item_id`` the id within its dataset.

    The database row of a ``core.labelled.LabelledItem``: it adds what only the database has (key, dataset,
    version for optimistic locking, who changed it when), so it stays its own record; ``to_item()`` is the
    converter every other area uses.
    """

    pk: int
    dataset: str
    item_id: str
    prompt: str
    response: str | None
    label: str | None
    pair_id: str | None
    category: str
    source: str
    kind: str
    split: str
    tags: tuple[str, ...]
    trajectory_key: str | None
    version: int
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None

    def to_item(self) -> LabelledItem:
        """The item itself, without the database bookkeeping."""
        return LabelledItem(
            id=self.item_id,
            prompt=self.prompt,
            response=self.response,
            label=self.label,
            pair_id=self.pair_id,
            category=self.category,
            source=self.source,
            kind=self.kind,
            split=self.split,
            tags=self.tags,
            trajectory_key=self.trajectory_key,
        )

    def to_row(self) -> dict[str, Any]:
        """The item in the file schema (``FIELDS`` order): what export writes and import reads back."""
        return self.to_item().to_row()


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    id: int
    item_pk: int
    item_id: str
    dataset: str
    old_label: str | None
    new_label: str | None
    annotator: str
    at: datetime
    comment: str | None
    kind: str


@dataclass(frozen=True)
class LabelChange:
    """A label the user wants on ``item_pk``, made while looking at ``expected_version`` of it."""

    item_pk: int
    new_label: str | None
    expected_version: int


@dataclass(frozen=True)
class Conflict:
    """The user's attempted change next to the row as it is now (someone else saved first)."""

    attempted: LabelChange
    current: ItemRecord


class ConflictError(ReasonScopeError):
    """Raised instead of overwriting: the item's version moved since the caller loaded it.

    ``conflicts`` lists every clashing item (nothing of the batch was written); ``current`` is the first
    clashing row as it is now, so a UI can show both versions and ask which one to keep.
    """

    def __init__(self, conflicts: list[Conflict]):
        self.conflicts = conflicts
        c = conflicts[0]
        who = c.current.updated_by or "someone"
        when = c.current.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        more = f" (and {len(conflicts) - 1} more item(s))" if len(conflicts) > 1 else ""
        super().__init__(
            f"Item {c.current.item_id!r} was changed by {who} at {when} after you loaded it "
            f"(you saw version {c.attempted.expected_version}, it is now version {c.current.version} with "
            f"label {c.current.label or 'none'!s}){more}. Nothing was saved: reload it, then keep their "
            "label or apply yours again."
        )

    @property
    def current(self) -> ItemRecord:
        return self.conflicts[0].current


@dataclass(frozen=True)
class SkippedRow:
    row: int
    item_id: str
    reason: str


@dataclass(frozen=True)
class RejectedRow:
    row: int
    item_id: str | None
    reason: str


@dataclass(kw_only=True)
class ImportReport:
    """What an import did (or, with ``dry_run``, would do). Row numbers are the file's own: JSONL line
    numbers, CSV rows counting the header as row 1 (as a spreadsheet shows them), Parquet rows from 1."""

    dataset: str
    source: str
    format: str
    n_rows: int
    imported: list[str] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    committed: bool = False

    def summary(self) -> str:
        verb = "would import" if self.dry_run else ("imported" if self.committed else "did not import")
        return (
            f"{self.source} → dataset {self.dataset!r}: {verb} {len(self.imported)} item(s), skipped "
            f"{len(self.skipped)} duplicate(s), rejected {len(self.rejected)} row(s) of {self.n_rows}."
        )


class ImportRejectedError(InputError):
    """Validation found bad rows and the import was set to abort: nothing was written.

    ``report`` holds every rejected row (number and reason) so a UI can list them all.
    """

    def __init__(self, report: ImportReport, *, shown: int = 10):
        self.report = report
        lines = [
            f"row {r.row}{f' (id={r.item_id})' if r.item_id else ''}: {r.reason}"
            for r in report.rejected[:shown]
        ]
        more = f"\n  … and {len(report.rejected) - shown} more" if len(report.rejected) > shown else ""
        super().__init__(
            f"{report.source}: {len(report.rejected)} of {report.n_rows} row(s) are invalid, so nothing was "
            "imported:\n  "
            + "\n  ".join(lines)
            + more
            + "\nFix those rows, or import only the valid ones (CLI: --skip-bad-rows; app: tick "
            "'skip rejected rows')."
        )


@dataclass(frozen=True, kw_only=True)
class Agreement:
    """Cohen's κ between two annotators over the items both labelled in one dataset."""

    annotator_a: str
    annotator_b: str
    n_common: int
    observed: float | None  # fraction of common items with the same label
    kappa: float | None  # None when undefined (fewer than 2 common items, or one label used by both)
    note: str


@dataclass(frozen=True)
class Disagreement:
    item: ItemRecord
    votes: dict[str, str]  # annotator -> label


@dataclass(frozen=True)
class Pair:
    pair_id: str
    items: tuple[ItemRecord, ...]
