"""JSONL reading with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import InputError


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 text of a file a user handed in (a UTF-8 byte-order mark, as Windows tools write it, is
    dropped); InputError naming UTF-16 or the first undecodable byte and its line otherwise."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{source} is UTF-16 encoded. Re-save it as UTF-8 (in Excel: Save As → 'CSV UTF-8'; "
            "in an editor: encoding UTF-8) and try again."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{source} is not valid UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start} "
            f"(line {line}) cannot be decoded. The file is probably Latin-1/Windows-1252; re-save "
            "it as UTF-8 (Excel: Save As → 'CSV UTF-8') and try again."
        ) from exc


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"File not found: {path}")
    rows: list[dict[str, Any]] = []
    text = decode_text(path.read_bytes(), str(path))
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}, line {n}: malformed JSON ({exc.msg} at column {exc.colno}).") from exc
        if not isinstance(obj, dict):
            raise InputError(f"{path}, line {n}: expected a JSON object, got {type(obj).__name__}.")
        rows.append(obj)
    return rows


def read_prompt_file(path: str | Path) -> list[dict[str, Any]]:
    """Items with a non-empty ``prompt`` (the sample_data schema); errors name the line."""
    rows = read_jsonl(path)
    for n, row in enumerate(rows, start=1):
        if not str(row.get("prompt", "")).strip():
            raise InputError(f"{path}, item {n} (id={row.get('id', '?')}): missing or empty 'prompt' field.")
    if not rows:
        raise InputError(f"{path} has no items.")
    return rows
