"""Limits on what a user hands in (rows, decompressed Parquet size, JSON depth) and the CSV misparses
(an unclosed quote swallowing the rest of the file, a semicolon-delimited file)."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.data.io import read_bytes
from core.errors import InputError, LimitError


def _parquet(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, compression="zstd", row_group_size=10)
    return buf.getvalue()


def test_parquet_that_expands_past_the_limit_is_stopped(monkeypatch) -> None:
    data = _parquet([{"id": str(i), "prompt": "a" * 200_000} for i in range(40)])  # ~8 MB decoded
    assert len(data) < 200_000  # a small file ...
    monkeypatch.setenv("REASONSCOPE_MAX_IMPORT_DECODED_MB", "2")
    with pytest.raises(LimitError, match=r"expands to more than 2 MB when decompressed.*DECODED_MB"):
        read_bytes(data, "bomb.parquet")
    monkeypatch.setenv("REASONSCOPE_MAX_IMPORT_DECODED_MB", "50")
    assert len(read_bytes(data, "bomb.parquet").rows) == 40


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_row_limit_for_every_format(monkeypatch, fmt: str) -> None:
    rows = [{"id": str(i), "prompt": f"p{i}"} for i in range(11)]
    data = {
        "jsonl": "".join(json.dumps(r) + "\n" for r in rows).encode(),
        "csv": ("id,prompt\n" + "".join(f"{r['id']},{r['prompt']}\n" for r in rows)).encode(),
        "parquet": _parquet(rows),
    }[fmt]
    monkeypatch.setenv("REASONSCOPE_MAX_IMPORT_ROWS", "10")
    with pytest.raises(LimitError, match="more than 10 rows.*REASONSCOPE_MAX_IMPORT_ROWS"):
        read_bytes(data, f"f.{fmt}")
    monkeypatch.setenv("REASONSCOPE_MAX_IMPORT_ROWS", "11")
    assert len(read_bytes(data, f"f.{fmt}").rows) == 11


def test_bad_limit_setting_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("REASONSCOPE_MAX_IMPORT_ROWS", "nan")
    with pytest.raises(InputError, match="REASONSCOPE_MAX_IMPORT_ROWS='nan'"):
        read_bytes(b'{"prompt": "x"}\n', "f.jsonl")


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deep_json_is_refused_with_the_line(depth: int) -> None:
    deep = '{"prompt": "x", "meta": ' + "[" * depth + "]" * depth + "}"
    data = ('{"prompt": "ok"}\n' + deep + "\n").encode()
    with pytest.raises(LimitError, match=r"line 2: the JSON is nested .* at most 32"):
        read_bytes(data, "deep.jsonl")


def test_unclosed_quote_is_refused_with_its_line() -> None:
    data = b'id,prompt\n1,fine\n2,"this quote never closes\n3,swallowed\n4,also swallowed\n'
    with pytest.raises(InputError, match=r"line 3: a quote .* never closed"):
        read_bytes(data, "bad.csv")


def test_text_after_a_closing_quote_is_refused() -> None:
    with pytest.raises(InputError, match="line 2: cannot parse CSV"):
        read_bytes(b'id,prompt\n1,"ab"cd\n', "bad.csv")


def test_multiline_quoted_cells_still_work() -> None:
    table = read_bytes(b'id,prompt\n1,"two\nlines"\n2,"say ""hi"""\n', "ok.csv")
    assert [r for _, r in table.rows] == [
        {"id": "1", "prompt": "two\nlines"},
        {"id": "2", "prompt": 'say "hi"'},
    ]
    assert [n for n, _ in table.rows] == [2, 3]


def test_semicolon_csv_is_detected() -> None:
    table = read_bytes(b"id;prompt;label\n1;Hallo, Welt;safe\n2;zweite;unsafe\n", "excel.csv")
    assert table.columns == ["id", "prompt", "label"]
    assert table.rows[0][1] == {"id": "1", "prompt": "Hallo, Welt", "label": "safe"}
