"""Column mapping and row validation for imports.

Files from other projects name their columns differently (HarmBench ``Behavior``, AdvBench ``goal``, …).
A ``ColumnMapping`` says which source column fills which item field, which fields get a constant, and how
foreign label values translate. ``validate_rows`` turns raw rows into canonical items (the form the
database stores and export writes) or a precise reason per rejected row; it never touches the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.data.records import FIELDS, LABELS, ROW_ERROR, RejectedRow
from core.errors import InputError

REQUIRED_FIELDS = ("prompt",)
OPTIONAL_TEXT = ("response", "pair_id", "trajectory_key")  # "" or missing -> None
PLAIN_TEXT = ("category", "source", "kind", "split")  # missing -> ""
# column sizes in core/data/schema.py (PostgreSQL enforces them; SQLite would not)
MAX_LENGTH = {
    "id": 200,
    "pair_id": 200,
    "category": 200,
    "source": 200,
    "kind": 100,
    "split": 50,
    "trajectory_key": 128,
}
EMPTY_LABELS = ("", "none", "null", "nan", "unlabelled", "unlabeled")


@dataclass(frozen=True)
class ColumnMapping:
    """``columns``: source column -> item field. ``constants``: field -> value for every row.
    ``label_values``: foreign label value (case-insensitive) -> safe|unsafe|rethink (or "" for none)."""

    columns: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    label_values: Mapping[str, str] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()  # source columns that may be absent (a preset's extras)

    def merged(self, other: ColumnMapping) -> ColumnMapping:
        """``other`` wins where both say something (explicit --map over a preset)."""
        cols = {**{k: v for k, v in self.columns.items() if v not in other.columns.values()}, **other.columns}
        optional = (self.optional | other.optional) - (set(other.columns) - other.optional)
        return ColumnMapping(
            cols,
            {**self.constants, **other.constants},
            {**self.label_values, **other.label_values},
            frozenset(optional & set(cols)),
        )


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    mapping: ColumnMapping
    signature: tuple[str, ...]  # columns that identify this format (auto-detection)
    note: str = ""


def _preset_mapping(columns: dict[str, str], constants: dict[str, str]) -> ColumnMapping:
    return ColumnMapping(columns, constants, {}, frozenset(columns))  # a preset's columns are all optional


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "harmbench",
            "HarmBench behaviors CSV (harmbench_behaviors_text_all.csv)",
            _preset_mapping(
                {
                    "BehaviorID": "id",
                    "Behavior": "prompt",
                    "SemanticCategory": "category",
                    "FunctionalCategory": "tags",
                },
                {"label": "unsafe", "source": "harmbench", "kind": "harmful"},
            ),
            ("Behavior", "SemanticCategory"),
            "Every behavior is a harmful request (label unsafe).",
        ),
        Preset(
            "xstest",
            "XSTest prompts CSV (xstest_prompts.csv)",
            _preset_mapping(
                {"id": "id", "prompt": "prompt", "type": "category", "label": "label", "focus": "tags"},
                {"source": "xstest"},
            ),
            ("prompt", "type", "label"),
            "label is safe (should be answered: over-refusal probes) or unsafe "
            "(contrast prompts); kind is left empty.",
        ),
        Preset(
            "advbench",
            "AdvBench harmful_behaviors.csv",
            _preset_mapping({"goal": "prompt"}, {"label": "unsafe", "source": "advbench", "kind": "harmful"}),
            ("goal", "target"),
            "target (the compliant opening an attack aims for, not a real answer) is left "
            "out; map it with --map target=response only if you want it as a response.",
        ),
        Preset(
            "jailbreakbench",
            "JailbreakBench behaviors CSV (JBB-Behaviors)",
            _preset_mapping(
                {"Goal": "prompt", "Category": "category", "Behavior": "tags"},
                {"label": "unsafe", "source": "jailbreakbench", "kind": "harmful"},
            ),
            ("Goal", "Category"),
            "For the benign split, override: --set label=safe --set kind=borderline.",
        ),
        Preset(
            "strongreject",
            "StrongREJECT dataset CSV (strongreject_dataset.csv)",
            _preset_mapping(
                {"forbidden_prompt": "prompt", "category": "category"},
                {"label": "unsafe", "source": "strongreject", "kind": "harmful"},
            ),
            ("forbidden_prompt", "category"),
            "Every forbidden prompt is a harmful request (label unsafe).",
        ),
    )
}


def detect_preset(columns: Sequence[str]) -> str | None:
    """Name of the preset whose signature columns are all present (None for our own schema / unknown)."""
    cols = set(columns)
    for p in PRESETS.values():
        if set(p.signature) <= cols:
            return p.name
    return None


def parse_pairs(specs: Sequence[str], what: str) -> dict[str, str]:
    """``["col=field", …]`` -> dict, with an error naming the bad spec."""
    out: dict[str, str] = {}
    for spec in specs:
        if "=" not in spec:
            raise InputError(f"{what} {spec!r} must look like NAME=VALUE (e.g. Behavior=prompt).")
        k, v = spec.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def build_mapping(
    preset: str | None = None,
    maps: Sequence[str] = (),
    sets: Sequence[str] = (),
    label_maps: Sequence[str] = (),
) -> ColumnMapping:
    """A mapping from a preset name plus CLI-style ``--map col=field`` / ``--set field=value`` overrides."""
    base = ColumnMapping()
    if preset:
        if preset not in PRESETS:
            raise InputError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
        base = PRESETS[preset].mapping
    extra = ColumnMapping(
        parse_pairs(maps, "--map"), parse_pairs(sets, "--set"), parse_pairs(label_maps, "--label-map")
    )
    return base.merged(extra)


def resolve(
    columns: Sequence[str], mapping: ColumnMapping | None, source: str
) -> tuple[dict[str, str], list[str]]:
    """Concrete ``source column -> field`` for this file, plus the ignored columns.

    Columns already named like a field map to it unless the mapping fills that field from elsewhere.
    Preset columns absent from the file are dropped (optional); explicitly wrong ones raise.
    """
    mapping = mapping or ColumnMapping()
    for fld in (*mapping.columns.values(), *mapping.constants):
        if fld not in FIELDS:
            raise InputError(f"Unknown field {fld!r} in the column mapping; fields are: {', '.join(FIELDS)}.")
    cols = list(columns)
    absent = [c for c in mapping.columns if c not in cols and c not in mapping.optional]
    if absent:
        raise InputError(
            f"{source} has no column {absent[0]!r} (mapped to {mapping.columns[absent[0]]!r}). "
            f"Available columns: {', '.join(cols) or '(none)'}."
        )
    chosen = {c: f for c, f in mapping.columns.items() if c in cols}
    filled = set(chosen.values()) | set(mapping.constants)
    for c in cols:
        if c in FIELDS and c not in chosen and c not in filled:
            chosen[c] = c
            filled.add(c)
    seen: dict[str, str] = {}
    for c, f in chosen.items():
        if f in seen:
            raise InputError(f"Columns {seen[f]!r} and {c!r} both map to field {f!r}; map only one of them.")
        seen[f] = c
    for req in REQUIRED_FIELDS:
        if req not in filled:
            guess = detect_preset(cols)
            how = (
                f"--preset {guess}" if guess else f"--map COLUMN={req}"
            ) + " (app: the column-mapping step)"
            raise InputError(
                f"{source} has no {req!r} column. Available columns: {', '.join(cols) or '(none)'}. "
                f"Say which column holds the {req}: {how}."
            )
    return chosen, [c for c in cols if c not in chosen]


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays from Parquet / pandas
        return [_text(v) for v in value.tolist()]
    text = _text(value)
    if text.lstrip().startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"tags look like a JSON list but do not parse ({exc.msg})") from exc
        if not isinstance(parsed, list):
            raise ValueError("tags must be a list")
        return [_text(v) for v in parsed]
    return [t.strip() for t in text.split(",") if t.strip()]


def _label(value: Any, label_values: Mapping[str, str]) -> str | None:
    if value is None:
        return None
    text = _text(value).strip()
    lowered = {k.strip().lower(): v for k, v in label_values.items()}
    if text.lower() in lowered:
        text = lowered[text.lower()].strip()
    if text.lower() in EMPTY_LABELS:
        return None
    if text.lower() in LABELS:
        return text.lower()
    raise ValueError(
        f"unknown label {text!r} (allowed: {', '.join(LABELS)}, or empty for unlabelled); "
        f"translate it with --label-map {text}=unsafe (or safe/rethink)"
    )


def generated_id(prompt: str, response: str | None) -> str:
    """Stable id for rows without one: re-importing the same file finds the same ids (duplicates skip)."""
    digest = hashlib.sha1(f"{prompt}\x00{response or ''}".encode()).hexdigest()
    return f"h-{digest[:16]}"


def canonical_row(
    raw: Mapping[str, Any], chosen: Mapping[str, str], mapping: ColumnMapping
) -> dict[str, Any]:
    """One raw row -> canonical item dict (keys ``FIELDS``); ValueError with the reason if invalid."""
    values: dict[str, Any] = {f: mapping.constants[f] for f in mapping.constants}
    for col, fld in chosen.items():
        v = raw.get(col)
        if v is not None and not (isinstance(v, float) and v != v):  # NaN from Parquet/pandas = missing
            values[fld] = v
    prompt = values.get("prompt")
    if prompt is None:
        raise ValueError("missing prompt")
    if not isinstance(prompt, str | int | float):
        raise ValueError(f"prompt must be text, got {type(prompt).__name__}")
    if not _text(prompt).strip():
        raise ValueError("empty prompt")
    out: dict[str, Any] = {"prompt": _text(prompt)}
    for f in OPTIONAL_TEXT:
        v = values.get(f)
        out[f] = None if v is None or _text(v) == "" else _text(v)
    for f in PLAIN_TEXT:
        v = values.get(f)
        out[f] = "" if v is None else _text(v)
    out["label"] = _label(values.get("label"), mapping.label_values)
    out["tags"] = _tags(values.get("tags"))
    rid = values.get("id")
    out["id"] = _text(rid).strip() if rid is not None and _text(rid).strip() else None
    for f, limit in MAX_LENGTH.items():
        if out[f] is not None and len(out[f]) > limit:
            raise ValueError(f"{f} is longer than {limit} characters")
    for f, v in out.items():
        texts = v if isinstance(v, list) else [v]
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            raise ValueError(f"{f} contains a NUL character (binary data?)")
    return {f: out[f] for f in FIELDS}


@dataclass
class Validated:
    """Outcome of validation: canonical rows with their file row numbers, and rejected rows."""

    rows: list[tuple[int, dict[str, Any]]]
    rejected: list[RejectedRow]
    in_file_duplicates: list[tuple[int, str, int]]  # (row, id, first row) for generated-id repeats
    chosen: dict[str, str]
    ignored: list[str]


def validate_rows(
    columns: Sequence[str],
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    mapping: ColumnMapping | None,
    source: str,
) -> Validated:
    """Map and check every row. Duplicate explicit ids in one file are an error for the whole file."""
    mapping = mapping or ColumnMapping()
    chosen, ignored = resolve(columns, mapping, source)
    good: list[tuple[int, dict[str, Any]]] = []
    rejected: list[RejectedRow] = []
    for rownum, raw in rows:
        if ROW_ERROR in raw:
            rejected.append(RejectedRow(rownum, None, str(raw[ROW_ERROR])))
            continue
        try:
            good.append((rownum, canonical_row(raw, chosen, mapping)))
        except ValueError as exc:
            rid = raw.get(next((c for c, f in chosen.items() if f == "id"), ""), None)
            rejected.append(RejectedRow(rownum, None if rid is None else _text(rid), str(exc)))
    explicit: dict[str, list[int]] = {}
    for rownum, row in good:
        if row["id"] is not None:
            explicit.setdefault(row["id"], []).append(rownum)
    dups = {k: v for k, v in explicit.items() if len(v) > 1}
    if dups:
        shown = "; ".join(f"{k!r} at rows {', '.join(map(str, v))}" for k, v in list(dups.items())[:10])
        more = f" (and {len(dups) - 10} more)" if len(dups) > 10 else ""
        raise InputError(
            f"{source}: duplicate ids in the file: {shown}{more}. Ids must be unique within a "
            "file; fix or remove the repeated rows, or drop the id column to let ReasonScope "
            "derive ids from the text. Nothing was imported."
        )
    first_seen: dict[str, int] = {}
    kept: list[tuple[int, dict[str, Any]]] = []
    repeats: list[tuple[int, str, int]] = []
    for rownum, row in good:
        if row["id"] is None:
            row = {**row, "id": generated_id(row["prompt"], row["response"])}
            if row["id"] in first_seen:
                repeats.append((rownum, row["id"], first_seen[row["id"]]))
                continue
            first_seen[row["id"]] = rownum
        kept.append((rownum, row))
    return Validated(kept, rejected, repeats, chosen, ignored)


def with_constants(mapping: ColumnMapping, **constants: str) -> ColumnMapping:
    return replace(mapping, constants={**mapping.constants, **constants})
