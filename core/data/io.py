"""Reading JSONL / CSV / Parquet files into raw rows, and writing datasets back out.

Reading checks size and encoding before parsing, so the user hears "re-save as UTF-8" rather than a
codec traceback. Limits are checked while reading and stop at the limit with a message (``LimitError``):
the file size (``REASONSCOPE_MAX_IMPORT_MB``, default 50), the decompressed size of a Parquet file
(``REASONSCOPE_MAX_IMPORT_DECODED_MB``, default 500: a small Parquet file can expand a thousandfold), the row
count (``REASONSCOPE_MAX_IMPORT_ROWS``, default 1 000 000) and the nesting depth of a JSON line
(``REASONSCOPE_MAX_JSON_DEPTH``, default 32). CSV is parsed strictly: an unclosed quote that would swallow
the rest of the file into one cell is refused with the line where the quote opened, and a
semicolon-delimited file (Excel in many locales) is recognised from its header row.

CSV export guards against formula injection (a cell starting with ``= + - @`` tab or CR gets a leading
apostrophe, so spreadsheets show it as text); CSV import reverses exactly that escape, so
export -> import round-trips every value. JSONL and Parquet round-trip without any escaping.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from core.data.records import FIELDS, ROW_ERROR
from core.errors import InputError, LimitError
from core.fsio import atomic_write_bytes
from core.jsonl import decode_text

DEFAULT_MAX_MB = 50.0
DEFAULT_MAX_DECODED_MB = 500.0
DEFAULT_MAX_ROWS = 1_000_000
DEFAULT_MAX_JSON_DEPTH = 32
CSV_DELIMITERS = ",;\t|"
FORMATS = ("jsonl", "csv", "tsv", "parquet")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class RawTable:
    """A parsed file before mapping: column names in file order and (row number, values) pairs."""

    source: str
    format: str
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]


def max_import_bytes() -> int:
    """Import size limit: ``REASONSCOPE_MAX_IMPORT_MB`` (default 50 MB)."""
    return int(float(os.environ.get("REASONSCOPE_MAX_IMPORT_MB", DEFAULT_MAX_MB)) * 1024 * 1024)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{name}={raw!r} is not a number; unset it or give a positive number.") from None
    if not value > 0 or value == float("inf"):
        raise InputError(f"{name}={raw!r} must be a positive, finite number.")
    return value


def max_decoded_bytes() -> int:
    """Decompressed-size limit of a Parquet import: ``REASONSCOPE_MAX_IMPORT_DECODED_MB`` (default 500)."""
    return int(_env_number("REASONSCOPE_MAX_IMPORT_DECODED_MB", DEFAULT_MAX_DECODED_MB) * 1024 * 1024)


def max_import_rows() -> int:
    """Row limit of one import: ``REASONSCOPE_MAX_IMPORT_ROWS`` (default 1 000 000)."""
    return int(_env_number("REASONSCOPE_MAX_IMPORT_ROWS", DEFAULT_MAX_ROWS))


def max_json_depth() -> int:
    """Deepest nesting of objects / arrays accepted in one JSON line: ``REASONSCOPE_MAX_JSON_DEPTH`` (32)."""
    return int(_env_number("REASONSCOPE_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH))


def _too_many_rows(source: str, limit: int) -> LimitError:
    return LimitError(
        f"{source} has more than {limit:,} rows, the import row limit. Split it into smaller files or raise "
        "REASONSCOPE_MAX_IMPORT_ROWS. Nothing was imported."
    )


def json_depth(obj: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``{}`` / ``[]`` is 1); iterative."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((v, depth) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def detect_format(name: str, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise InputError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
        return fmt
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(
            f"Cannot tell the format of {name!r} from its extension; name it .jsonl, .csv, .tsv "
            "or .parquet (or pass the format explicitly)."
        )
    return _SUFFIXES[suffix]


def csv_escape(value: str) -> str:
    """Prefix an apostrophe to cells a spreadsheet would run as a formula (and to already-escaped-looking
    cells, so the reverse step is exact)."""
    rest = value.lstrip("'")
    return "'" + value if rest.startswith(FORMULA_START) else value


def csv_unescape(value: str) -> str:
    rest = value.lstrip("'")
    return value[1:] if value.startswith("'") and rest.startswith(FORMULA_START) else value


def _check_size(n_bytes: int, source: str, max_bytes: int | None) -> None:
    limit = max_import_bytes() if max_bytes is None else max_bytes
    if n_bytes > limit:
        raise InputError(
            f"{source} is {n_bytes / 1024 / 1024:.1f} MB, over the {limit / 1024 / 1024:.0f} MB import "
            "limit. Split it into smaller files, or raise the limit (CLI --max-mb, or the "
            "REASONSCOPE_MAX_IMPORT_MB environment variable). Nothing was imported."
        )


def _read_jsonl(text: str, source: str) -> RawTable:
    rows: list[tuple[int, dict[str, Any]]] = []
    columns: dict[str, None] = {}
    max_rows, max_depth = max_import_rows(), max_json_depth()
    # split on "\n" only: str.splitlines() would also break on U+2028 etc., which JSON keeps raw in strings
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{source}, line {n}: malformed JSON ({exc.msg} at column {exc.colno}). "
                "Each line must be one JSON object. Nothing was imported."
            ) from exc
        except RecursionError:
            obj = None  # nested far deeper than any limit: reported just below
        depth = json_depth(obj) if obj is not None else max_depth + 1
        if depth > max_depth:
            raise LimitError(
                f"{source}, line {n}: the JSON is nested {'too' if obj is None else depth} levels deep; "
                f"at most {max_depth} are accepted (REASONSCOPE_MAX_JSON_DEPTH). Flatten it. Nothing was "
                "imported."
            )
        if not isinstance(obj, dict):
            raise InputError(f"{source}, line {n}: expected a JSON object, got {type(obj).__name__}.")
        if len(rows) >= max_rows:
            raise _too_many_rows(source, max_rows)
        columns.update(dict.fromkeys(obj))
        rows.append((n, obj))
    return RawTable(source, "jsonl", list(columns), rows)


def sniff_delimiter(text: str, default: str) -> str:
    """The delimiter of a CSV from its header row: ``default`` unless the header has none of it but does
    split on one of ``CSV_DELIMITERS`` (e.g. ``;`` from Excel in locales with a decimal comma)."""
    header = text.split("\n", 1)[0]
    if default in header:
        return default
    try:
        found = csv.Sniffer().sniff(header, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return default
    return found if found in header else default


def _read_csv(text: str, source: str, delimiter: str) -> RawTable:
    delimiter = sniff_delimiter(text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source} is empty: it needs a header row naming the columns.") from None
    except csv.Error as exc:
        raise InputError(f"{source}: cannot parse the header row ({exc}).") from exc
    header = [h.strip() for h in header]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise InputError(f"{source}: the header repeats column(s) {', '.join(map(repr, dup))}; rename them.")
    rows: list[tuple[int, dict[str, Any]]] = []
    max_rows = max_import_rows()
    n, start = 1, reader.line_num + 1  # row number (header = row 1, as in a spreadsheet); its first line
    try:
        for cells in reader:
            n += 1
            if cells and not all(c == "" for c in cells):
                if len(rows) >= max_rows:
                    raise _too_many_rows(source, max_rows)
                if len(cells) > len(header):
                    rows.append((n, {ROW_ERROR: f"has {len(cells)} cells but the header has {len(header)}"}))
                else:
                    rows.append((n, {h: csv_unescape(c) for h, c in zip(header, cells, strict=False)}))
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(
                f'{source}, line {start}: a quote (") opened there is never closed, so the rest of the file '
                'would be read as one cell. Close the quote (or double a quote inside a quoted cell: "") '
                "and import again. Nothing was imported."
            ) from exc
        raise InputError(
            f"{source}, line {reader.line_num}: cannot parse CSV ({exc}). A quoted cell must end with the "
            "quote followed by the delimiter or the end of the line. Nothing was imported."
        ) from exc
    fmt = "tsv" if delimiter == "\t" else "csv"
    return RawTable(source, fmt, header, rows)


def _read_parquet(data: bytes, source: str) -> RawTable:
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        meta = pf.metadata
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{source} is not a readable Parquet file ({exc}).") from exc
    max_rows, max_bytes = max_import_rows(), max_decoded_bytes()
    if meta.num_rows > max_rows:
        raise _too_many_rows(source, max_rows)
    rows: list[tuple[int, dict[str, Any]]] = []
    decoded = 0

    def check(size: int) -> None:
        if size > max_bytes:
            raise LimitError(
                f"{source} expands to more than {max_bytes / 1024 / 1024:.0f} MB when decompressed "
                f"(a {len(data) / 1024:.0f} KB file), over the import limit. Split it, or raise "
                "REASONSCOPE_MAX_IMPORT_DECODED_MB. Nothing was imported."
            )

    try:
        for i in range(pf.num_row_groups):  # one row group at a time: stop at the limit, not after it
            check(decoded + meta.row_group(i).total_byte_size)  # what the file declares, before reading
            table = pf.read_row_group(i)
            decoded += table.nbytes  # what it really took
            check(decoded)
            rows.extend((len(rows) + n, row) for n, row in enumerate(table.to_pylist(), start=1))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{source} is not a readable Parquet file ({exc}).") from exc
    return RawTable(source, "parquet", list(pf.schema_arrow.names), rows)


def read_bytes(data: bytes, source: str, *, fmt: str | None = None, max_bytes: int | None = None) -> RawTable:
    """Parse an uploaded or read file. Errors name the file, the row/line and what to do."""
    fmt = detect_format(source, fmt)
    _check_size(len(data), source, max_bytes)
    if fmt == "parquet":
        return _read_parquet(data, source)
    text = decode_text(data, source)
    if fmt == "jsonl":
        return _read_jsonl(text, source)
    return _read_csv(text, source, "," if fmt == "csv" else "\t")


def read_file(path: str | Path, *, fmt: str | None = None, max_bytes: int | None = None) -> RawTable:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"File not found: {path}")
    detect_format(path.name, fmt)
    _check_size(path.stat().st_size, path.name, max_bytes)  # before reading 2 GB into memory
    return read_bytes(path.read_bytes(), path.name, fmt=fmt, max_bytes=max_bytes)


# ---- export ------------------------------------------------------------------------------------------------


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = json.dumps(list(value), ensure_ascii=False)
    return csv_escape(str(value))


def rows_to_bytes(rows: Sequence[dict[str, Any]], fmt: str) -> bytes:
    """Serialise canonical rows (``ItemRecord.to_row()``) in ``fmt``; columns in ``FIELDS`` order."""
    if fmt == "jsonl":
        return "".join(
            json.dumps({f: r.get(f) for f in FIELDS}, ensure_ascii=False) + "\n" for r in rows
        ).encode("utf-8")
    if fmt in ("csv", "tsv"):
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, delimiter="," if fmt == "csv" else "\t", lineterminator="\r\n")
        writer.writerow(FIELDS)
        for r in rows:
            writer.writerow([_csv_cell(r.get(f)) for f in FIELDS])
        return buf.getvalue().encode("utf-8")
    if fmt == "parquet":
        schema = pa.schema([(f, pa.list_(pa.string()) if f == "tags" else pa.string()) for f in FIELDS])
        table = pa.Table.from_pylist([{f: r.get(f) for f in FIELDS} for r in rows], schema=schema)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return sink.getvalue().to_pybytes()
    raise InputError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")


def write_rows(rows: Sequence[dict[str, Any]], path: str | Path, *, fmt: str | None = None) -> Path:
    """Write rows to ``path`` atomically (temp file + rename: a crash never leaves half a file)."""
    path = Path(path)
    data = rows_to_bytes(rows, detect_format(path.name, fmt))
    return atomic_write_bytes(path, data, what="export the dataset")
