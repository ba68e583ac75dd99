"""The activation store under hostile keys, full disks and a corrupted index: keys are confined to the store,
failed writes leave no temp files and prior content byte-identical, a damaged index is detected and rebuilt
with nothing lost."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from safetensors import SafetensorError

from core.capture.store import ActivationStore
from core.capture.templates import build_messages
from core.capture.tracing import capture
from core.capture.trajectory import GenerationSettings
from core.errors import CorruptIndexError, DiskError, StoreError
from core.paths import UnsafePathError

BAD_KEYS = [
    "../../x",
    "../../outside",
    "/etc/passwd",
    "a\x00b" + "0" * 29,
    "",
    "0" * 31,
    "0" * 33,
    "A" * 32,  # hashes are lowercase
    "../" + "0" * 29,
    "0" * 30 + "/.",
]


@pytest.fixture()
def traj(tiny_model):
    return capture(tiny_model, build_messages("hello"), GenerationSettings(max_new_tokens=4))


@pytest.fixture()
def traj2(tiny_model):
    return capture(tiny_model, build_messages("another one"), GenerationSettings(max_new_tokens=3))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _no_temp(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.startswith(".tmp")]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused_everywhere(tmp_path: Path, traj, key: str) -> None:
    store = ActivationStore(tmp_path / "s")
    store.put(traj)
    victim = tmp_path / "x"
    victim.write_text("keep me")
    (tmp_path / "outside").write_text("secret")
    before = _snapshot(tmp_path)
    for call in (
        lambda: store.delete(key),
        lambda: store.get(key),
        lambda: store.meta(key),
        lambda: store.has(key),
        lambda: store.annotate(key, label="unsafe"),
        lambda: store.export(key, tmp_path / "o.safetensors"),
    ):
        with pytest.raises(UnsafePathError, match="32 lowercase hex"):
            call()
    assert _snapshot(tmp_path) == before  # nothing read out, nothing deleted, nothing written


def test_symlink_out_of_the_store_is_never_followed(tmp_path: Path, traj) -> None:
    store = ActivationStore(tmp_path / "s")
    key = store.put(traj)
    outside = tmp_path / "outside.safetensors"
    store.path_of(key).rename(outside)  # a real trajectory file, but outside the root ...
    store.path_of(key).symlink_to(outside)  # ... reached through a symlink planted in objects/
    for call in (
        lambda: store.get(key),
        lambda: store.delete(key),
        lambda: store.export(key, tmp_path / "o"),
    ):
        with pytest.raises(UnsafePathError, match="leads outside"):
            call()
    assert outside.is_file() and not (tmp_path / "o").exists()


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _safetensors_full(*args, **kwargs):
    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


@pytest.mark.parametrize(
    ("target", "fault"),
    [("core.fsio._write_all", _disk_full), ("core.fsio.safetensors_save", _safetensors_full)],
)
def test_full_disk_on_put_and_export(tmp_path: Path, traj, traj2, monkeypatch, target, fault) -> None:
    store = ActivationStore(tmp_path / "s")
    key = store.put(traj, label="safe")
    out = tmp_path / "out" / "t.safetensors"
    store.export(key, out)
    before = _snapshot(tmp_path)
    monkeypatch.setattr(target, fault)
    with pytest.raises(DiskError, match=r"no space left .*\d+\.\d MB free"):
        store.put(traj2)
    with pytest.raises(DiskError, match="no space left"):
        store.export(key, out)  # overwriting an existing export
    assert _snapshot(tmp_path) == before and _no_temp(tmp_path)  # old export byte-identical, no temp files
    monkeypatch.undo()
    assert store.has(key) and not store.has(traj2.key)


def test_corrupt_index_is_detected_and_repaired_with_nothing_lost(tmp_path: Path, traj, traj2) -> None:
    store = ActivationStore(tmp_path / "s")
    k1 = store.put(traj, dataset="demo", label="safe", tags=["a"], item_id="i1")
    k2 = store.put(traj2)
    store.annotate(k2, label="unsafe", tags=["b", "c"])
    before = {m.key: m for m in store.query()}
    objects = _snapshot(tmp_path / "s" / "objects")

    index = tmp_path / "s" / "index.sqlite"
    index.write_bytes(b"this is not an sqlite file" * 100)  # the disk scribbled over the index
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    with pytest.raises(CorruptIndexError, match="store repair"):
        store.query()

    report = store.repair()
    assert report.rebuilt and report.backup is not None and report.backup.is_file()
    assert sorted(report.added) == sorted([k1, k2]) and not report.unreadable
    after = {m.key: m for m in store.query()}
    assert after.keys() == before.keys()
    for k, old in before.items():  # every column comes back (created_at from the file's time)
        new = after[k]
        assert {**vars(new), "created_at": 0} == {**vars(old), "created_at": 0}
    assert _snapshot(tmp_path / "s" / "objects") == objects
    assert store.get(k1).completion == traj.completion
    assert store.repair().added == []  # idempotent


def test_repair_indexes_orphans_and_removes_temp_files(tmp_path: Path, traj, traj2) -> None:
    store = ActivationStore(tmp_path / "s")
    key = store.put(traj, label="safe")
    store.delete(store.put(traj2))
    (store.path_of(key).parent / ".tmp-crashed.safetensors").write_bytes(b"half")
    (tmp_path / "s" / "index.sqlite").unlink()  # a crash between the rename and the index write
    report = ActivationStore(tmp_path / "s").repair()
    assert report.added == [key] and report.temp_removed == 1 and not report.rebuilt
    assert [(m.key, m.label) for m in store.query()] == [(key, "safe")]  # the deleted one stays deleted


def test_annotate_unknown_key_writes_nothing(tmp_path: Path, traj) -> None:
    store = ActivationStore(tmp_path / "s")
    store.put(traj)
    before = _snapshot(tmp_path)
    with pytest.raises(StoreError, match="not in the store"):
        store.annotate("0" * 32, label="x")
    assert _snapshot(tmp_path) == before
