"""``LabelledItem``: one labelled prompt item, the record every area passes around.

The labelling database (``core.data``), the probes (``core.probes``), the audits (``core.evals``) and the
alignment jobs (``core.align``) all read the same JSONL schema (``sample_data/prompts.jsonl``, labelling
exports, ``sample_data/corpus.jsonl``) and all hold its rows as this one frozen record. Modules convert at
their edges only where they need something the schema does not carry:

* ``core.data.ItemRecord`` is the *database row* (primary key, dataset, version, audit timestamps) and gives
  ``to_item()`` / ``to_row()``;
* ``core.evals.items.UtilityTask`` adds the expected answer and the check of a utility task;
* the alignment jobs' binary class is the ``harmful`` property below (from the label, else the kind).

Plain Python (no torch, no numpy) so any layer can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The file schema of sample_data/ and of labelling exports (issue 2) plus the optional link to a stored
# trajectory, in file order: what ``to_row`` always writes (``core.data`` imports / exports exactly these).
FIELDS: tuple[str, ...] = (
    "id",
    "prompt",
    "response",
    "label",
    "pair_id",
    "category",
    "source",
    "kind",
    "split",
    "tags",
    "trajectory_key",
)
# Optional fields of newer files (the training corpus): read when present, written only when set.
OPTIONAL_FIELDS: tuple[str, ...] = ("form", "family")
HELD_OUT_SPLITS: tuple[str, ...] = ("validation", "val", "test")


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def harm_class(label: Any, kind: Any) -> bool | None:
    """Binary harmful (True) / benign (False) class of a label and kind; None = neither says.

    The label decides (``unsafe``/``harmful`` -> True, ``safe``/``benign`` -> False); without one the kind
    does (``harmful``/``jailbreak`` -> True, ``benign``/``benign_counterpart``/``borderline`` -> False)."""
    lab = str(label or "").lower()
    if lab in ("unsafe", "harmful"):
        return True
    if lab in ("safe", "benign"):
        return False
    k = str(kind or "").lower()
    if k in ("harmful", "jailbreak"):
        return True
    if k in ("benign", "benign_counterpart", "borderline"):
        return False
    return None


@dataclass(frozen=True, kw_only=True)
class LabelledItem:
    """One labelled prompt item (the JSONL schema). Build variants with ``dataclasses.replace``.

    ``label`` is ``safe`` / ``unsafe`` / ``rethink`` or None (unlabelled); ``kind`` is harmful /
    benign_counterpart / borderline / jailbreak / response; ``split`` train / validation; ``response`` is set
    on response items (a trace to judge or to pool); ``form`` and ``family`` come with the training corpus.
    """

    id: str
    prompt: str
    label: str | None = None
    kind: str = ""
    category: str = ""
    split: str = "train"
    pair_id: str | None = None
    tags: tuple[str, ...] = ()
    response: str | None = None
    source: str = ""
    trajectory_key: str | None = None
    form: str | None = None
    family: str | None = None

    @property
    def harmful(self) -> bool:
        """The alignment jobs' binary class (see ``harm_class``; an item neither label nor kind classes is not
        harmful -- ``core.align.data.prompt_items`` skips those)."""
        return harm_class(self.label, self.kind) is True

    @property
    def held_out(self) -> bool:
        """In a held-out split (validation / val / test); anything else trains."""
        return self.split in HELD_OUT_SPLITS

    @classmethod
    def from_row(
        cls, row: Mapping[str, Any], *, number: int | None = None, default_split: str = "train"
    ) -> LabelledItem:
        """An item from a row of the file schema (unknown keys are ignored).

        ``number`` (the row's position) is the id of a row without one; ``default_split`` the split of a row
        without one. Text fields are stringified, the prompt stripped, empty optional values become None."""
        return cls(
            id=str(row.get("id", number)),
            prompt=str(row.get("prompt") or "").strip(),
            label=row.get("label") or None,
            kind=str(row.get("kind") or ""),
            category=str(row.get("category") or ""),
            split=str(row.get("split") or default_split),
            pair_id=row.get("pair_id") or None,
            tags=tuple(row.get("tags") or ()),
            response=row.get("response") or None,
            source=str(row.get("source") or ""),
            trajectory_key=row.get("trajectory_key") or None,
            form=_opt_str(row.get("form")),
            family=_opt_str(row.get("family")),
        )

    def to_row(self) -> dict[str, Any]:
        """The item in the file schema: every ``FIELDS`` key in order, then the optional fields that are
        set."""
        row: dict[str, Any] = {
            "id": self.id,
            "prompt": self.prompt,
            "response": self.response,
            "label": self.label,
            "pair_id": self.pair_id,
            "category": self.category,
            "source": self.source,
            "kind": self.kind,
            "split": self.split,
            "tags": list(self.tags),
            "trajectory_key": self.trajectory_key,
        }
        row.update({f: getattr(self, f) for f in OPTIONAL_FIELDS if getattr(self, f) is not None})
        return row
