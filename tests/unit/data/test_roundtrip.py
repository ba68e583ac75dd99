"""Property-based round trips: export -> import gives back exactly the stored items, in every format,
including formula-looking strings (CSV escape reversed), unicode, line separators and empty values."""

from __future__ import annotations

import csv
import io
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.data.importer import export_bytes, import_table
from core.data.io import FORMULA_START, csv_escape, csv_unescape, read_bytes, rows_to_bytes
from core.data.mapping import MAX_LENGTH, validate_rows
from core.data.records import FIELDS, LABELS
from core.data.repo import list_items

TRICKY = [
    "=cmd|' /C calc'!A0",
    "=1+1",
    "+1",
    "-2",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "'=x",
    "''+y",
    "'",
    "'Tis",
    "=",
    "é中文🙂",
    "line\u2028sep",
    "a\r\nb",
    '"quoted", with comma',
    "\x85nel",
    " padded ",
]
chars = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
plain = st.text(chars, max_size=30)
text = st.one_of(
    plain,
    st.sampled_from(TRICKY),
    st.builds(str.__add__, st.sampled_from([*FORMULA_START, "'", "'="]), plain),
)


def _short(limit: int) -> st.SearchStrategy[str]:
    return text.map(lambda s: s[:limit])


nonempty = text.filter(lambda s: s.strip() != "")
optional = st.one_of(st.none(), nonempty.map(lambda s: s[:128]))


@st.composite
def canonical_rows(draw: st.DrawFn) -> list[dict]:
    n = draw(st.integers(1, 6))
    ids = draw(
        st.lists(nonempty.map(lambda s: s.strip()[:200]).filter(bool), min_size=n, max_size=n, unique=True)
    )
    rows = []
    for rid in ids:
        rows.append(
            {
                "id": rid,
                "prompt": draw(nonempty),
                "response": draw(optional),
                "label": draw(st.sampled_from([None, *LABELS])),
                "pair_id": draw(optional),
                "category": draw(_short(MAX_LENGTH["category"])),
                "source": draw(_short(200)),
                "kind": draw(_short(100)),
                "split": draw(_short(50)),
                "tags": draw(st.lists(text, max_size=3)),
                "trajectory_key": draw(optional),
            }
        )
    return rows


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet"])
@settings(max_examples=60, deadline=None)
@given(rows=canonical_rows())
def test_file_round_trip_is_exact(fmt, rows):
    table = read_bytes(rows_to_bytes(rows, fmt), f"x.{fmt}")
    checked = validate_rows(table.columns, table.rows, None, table.source)
    assert checked.rejected == []
    assert [r for _, r in checked.rows] == rows


@settings(max_examples=60, deadline=None)
@given(rows=canonical_rows())
def test_csv_export_never_starts_a_cell_with_a_formula_character(rows):
    raw = rows_to_bytes(rows, "csv").decode("utf-8")
    for record in csv.reader(io.StringIO(raw, newline="")):
        for cell in record:
            assert not cell.startswith(FORMULA_START), cell


@given(value=text)
def test_csv_escape_is_reversible(value):
    assert csv_unescape(csv_escape(value)) == value


def test_formula_injection_examples():
    assert csv_escape("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert [csv_escape(s) for s in ("+1", "-1", "@x", "\tx", "\rx")] == ["'+1", "'-1", "'@x", "'\tx", "'\rx"]
    assert csv_escape("'Tis") == "'Tis" and csv_escape("plain") == "plain"
    assert (
        csv_escape("'=x") == "''=x"
    )  # already-apostrophed formulas keep their apostrophe after a round trip


_names = itertools.count()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=canonical_rows())
def test_database_export_import_round_trip(db, fmt, rows):
    src, dst = f"src{next(_names)}", f"dst{next(_names)}"
    from core.data.io import RawTable

    import_table(db, RawTable("gen", "jsonl", list(FIELDS), list(enumerate(rows, 1))), src, annotator="ada")
    stored = [i.to_row() for i in list_items(db, src)]
    assert stored == rows
    data = export_bytes(db, src, fmt)
    report = import_table(db, read_bytes(data, f"export.{fmt}"), dst, annotator="ada")
    assert report.rejected == [] and report.skipped == []
    assert [i.to_row() for i in list_items(db, dst)] == stored
