"""core.jsonl: the JSONL reader every user-supplied prompt file goes through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InputError
from core.jsonl import read_jsonl, read_prompt_file


def test_a_utf8_byte_order_mark_is_read_like_plain_utf8(tmp_path: Path) -> None:
    rows = [{"id": "a", "prompt": "Wie schärft man ein Messer?"}, {"id": "b", "prompt": "hi"}]
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    plain, bom = tmp_path / "plain.jsonl", tmp_path / "bom.jsonl"
    plain.write_bytes(text.encode("utf-8"))
    bom.write_bytes(text.encode("utf-8-sig"))  # what Notepad / Excel write
    assert read_jsonl(bom) == read_jsonl(plain) == rows


def test_utf16_and_latin1_files_are_named_with_the_fix(tmp_path: Path) -> None:
    u16 = tmp_path / "u16.jsonl"
    u16.write_bytes('{"prompt": "hi"}\n'.encode("utf-16"))
    with pytest.raises(InputError, match=r"UTF-16 encoded\. Re-save it as UTF-8"):
        read_jsonl(u16)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"prompt": "ok"}\n{"prompt": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match=r"byte 0xe9 .*\(line 2\).*Latin-1"):
        read_jsonl(latin)


def test_malformed_lines_and_empty_files_name_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a"}\n{bad\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2: malformed JSON"):
        read_jsonl(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="has no items"):
        read_prompt_file(empty)


def test_an_empty_audit_dataset_says_so_before_any_suite(tmp_path: Path) -> None:
    from core.evals.items import load_items

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"empty\.jsonl has no items: it is empty"):
        load_items(str(empty))
