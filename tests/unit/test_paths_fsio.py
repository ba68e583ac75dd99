"""``core.paths`` (keys, names, confinement) and ``core.fsio`` (atomic writes, disk faults as messages)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from core import fsio
from core.errors import CorruptIndexError, DiskError
from core.paths import UnsafePathError, check_name, check_path_text, confined


def test_confined_refuses_dotdot_absolute_symlinks_and_nul(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "inner").mkdir(parents=True)
    (root / "link").symlink_to(tmp_path)
    assert confined(root, "inner", "x") == root / "inner" / "x"
    for parts in (("..", "x"), ("/etc/passwd",), ("link", "x"), ("a\x00b",), (".",)):
        with pytest.raises(UnsafePathError):
            confined(root, *parts)


@pytest.mark.parametrize("name", ["..", "a/b", "/abs", "a\x00", "", ".hidden", "x" * 101])
def test_names_are_a_fixed_character_set(name: str) -> None:
    with pytest.raises(UnsafePathError, match="not allowed"):
        check_name(name, "Run name")


def test_path_text_refuses_nul_and_empty() -> None:
    for bad in ("", "  ", "a\x00b"):
        with pytest.raises(UnsafePathError):
            check_path_text(bad)


def test_atomic_write_keeps_old_content_on_full_disk(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "f.txt"
    fsio.atomic_write_bytes(path, b"old")

    def half_then_full(fh, data):
        fh.write(data[:1])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsio, "_write_all", half_then_full)
    with pytest.raises(DiskError, match=r"no space left .*MB free"):
        fsio.atomic_write_bytes(path, b"new content")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_check_destination_leaves_no_trace(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "out.safetensors"
    assert fsio.check_destination(dest) == dest
    assert list(tmp_path.iterdir()) == []  # the folders it created to test are gone again
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "file" / "o", tmp_path):
        with pytest.raises(DiskError):
            fsio.check_destination(bad)


def test_sqlite_errors_become_store_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"junk" * 400)
    with pytest.raises(sqlite3.DatabaseError) as info:
        sqlite3.connect(bad).execute("PRAGMA journal_mode=WAL")
    assert isinstance(fsio.sqlite_error(info.value, bad, repair_hint="Run X."), CorruptIndexError)
    full = fsio.sqlite_error(sqlite3.OperationalError("database or disk is full"), tmp_path / "j.sqlite")
    assert isinstance(full, DiskError) and "no space left" in str(full)
