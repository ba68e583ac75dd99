"""Labelling data: datasets of safe / unsafe / rethink items in a real database, with an audit trail.

Import the submodules you need (``core.data.repo``, ``core.data.review``, ``core.data.importer``,
``core.data.io``); the names below are the common entry points. Nothing here imports torch or streamlit.
"""

from core.data.db import Database, open_db
from core.data.records import (
    FIELDS,
    LABELS,
    Agreement,
    Conflict,
    ConflictError,
    DatasetInfo,
    Disagreement,
    HistoryEntry,
    ImportRejectedError,
    ImportReport,
    ItemRecord,
    LabelChange,
    Pair,
)

__all__ = [
    "FIELDS",
    "LABELS",
    "Agreement",
    "Conflict",
    "ConflictError",
    "Database",
    "DatasetInfo",
    "Disagreement",
    "HistoryEntry",
    "ImportRejectedError",
    "ImportReport",
    "ItemRecord",
    "LabelChange",
    "Pair",
    "open_db",
]
