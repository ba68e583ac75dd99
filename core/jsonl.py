"""JSONL reading with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import InputError


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"File not found: {path}")
    rows: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 (bad byte at offset {exc.start}); re-save it as UTF-8."
        ) from exc
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
