"""Activation store: trajectories on disk, content-addressed, with an SQLite index for search.

Layout under the store root::

    objects/<key[:2]>/<key>.safetensors   arrays + record metadata (core.capture.export format)
    index.sqlite                          one row per trajectory (model, dataset, label, tags, text)
    annotations.jsonl                     append-only log of dataset / label / tags / item id changes

The key is ``Trajectory.key`` (model fingerprint + chat + generation settings + seed + layers), so
capturing the same thing twice is a cache hit. Files are written to a temp name and renamed, then
indexed in one transaction: a crash leaves at worst an unindexed file, never a corrupt entry.

Keys are validated (``core.paths.check_key``: 32 hex characters) before they reach the filesystem, and
every object path is checked to resolve inside the root, so no key can read or delete a file outside the
store. The index is derived data: the objects hold every record and the annotation log every label, so a
corrupted index (detected when it is opened: ``CorruptIndexError``) is rebuilt with nothing lost by
``repair()`` (``reasonscope store repair``). Disk and SQLite failures become ``DiskError`` / ``StoreError``
messages naming the fix.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.capture.export import META_KEY, load_trajectory_file, read_safetensors_mmap, save_trajectory_file
from core.capture.trajectory import Trajectory
from core.config import ensure_writable, store_dir
from core.errors import CorruptIndexError, InputError, StoreError
from core.fsio import TMP_PREFIX, WRITE_ERRORS, check_destination, disk_error, sqlite_error
from core.paths import check_key, confined, valid_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trajectories (
  key TEXT PRIMARY KEY, model_name TEXT, model_fingerprint TEXT, prompt TEXT, completion TEXT,
  n_tokens INTEGER, n_prompt_tokens INTEGER, layers TEXT, d_model INTEGER, template TEXT,
  dataset TEXT, label TEXT, tags TEXT, item_id TEXT, created_at REAL);
CREATE INDEX IF NOT EXISTS ix_traj_dataset ON trajectories(dataset);
CREATE INDEX IF NOT EXISTS ix_traj_label ON trajectories(label);
CREATE INDEX IF NOT EXISTS ix_traj_model ON trajectories(model_fingerprint);
"""
_UNSET = object()
JOURNAL = "annotations.jsonl"
_ANNOTATED = ("dataset", "label", "tags", "item_id")
_REPAIR_HINT = (
    "Run `reasonscope store repair` to rebuild it from the stored trajectory files (nothing in objects/ "
    "or the annotation log is lost; the damaged index is kept as a backup)."
)


@dataclass(frozen=True, kw_only=True)
class StoredMeta:
    key: str
    model_name: str
    model_fingerprint: str
    prompt: str
    completion: str
    n_tokens: int
    n_prompt_tokens: int
    layers: tuple[int, ...]
    d_model: int
    template: str
    dataset: str | None
    label: str | None
    tags: tuple[str, ...]
    item_id: str | None
    created_at: float


@dataclass(kw_only=True)
class RepairReport:
    """What ``ActivationStore.repair`` did."""

    rebuilt: bool = False  # the index was corrupt and was rebuilt from the files
    backup: Path | None = None  # where the damaged index was moved
    added: list[str] = field(default_factory=list)  # files that were not indexed, now are
    dropped: list[str] = field(default_factory=list)  # index rows whose file is gone
    unreadable: list[Path] = field(default_factory=list)  # object files that cannot be read (left alone)
    temp_removed: int = 0  # leftover temp files of interrupted writes

    def summary(self) -> str:
        parts = [f"rebuilt the index (damaged copy kept at {self.backup})"] if self.rebuilt else []
        parts += [
            f"indexed {len(self.added)} unindexed file(s)",
            f"removed {len(self.dropped)} dangling entries",
            f"removed {self.temp_removed} temp file(s)",
        ]
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable file(s) left in place: {self.unreadable[:3]}")
        return "; ".join(parts)


class ActivationStore:
    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else store_dir()
        self._db_path = self.root / "index.sqlite"

    # ---- plumbing --------------------------------------------------------------------------------
    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction on the index (commit on success); sqlite errors become StoreErrors (a damaged
        index: ``CorruptIndexError`` naming ``store repair``; a full disk: ``DiskError``)."""
        if write:
            ensure_writable(self.root)
        try:
            con = sqlite3.connect(self._db_path, timeout=30)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self._db_path, repair_hint=_REPAIR_HINT) from exc
        try:
            con.execute("PRAGMA journal_mode=WAL")  # reads the header: a non-database file fails here
            con.executescript(_SCHEMA)
            with con:
                yield con
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self._db_path, repair_hint=_REPAIR_HINT) from exc
        finally:
            con.close()

    def path_of(self, key: str) -> Path:
        """The object file of ``key`` (validated: 32 hex characters, and the path stays inside the root)."""
        check_key(key)
        return confined(self.root, "objects", key[:2], f"{key}.safetensors")

    def _journal(self, op: str, key: str, fields: dict[str, Any]) -> None:
        """Append one annotation change to the log ``repair`` replays (written before the index)."""
        line = json.dumps({"op": op, "key": key, "at": time.time(), **fields}, sort_keys=True) + "\n"
        path = self.root / JOURNAL
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise disk_error(exc, path, "record the annotation") from exc

    # ---- API -------------------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        check_key(key)
        if not self._db_path.exists():
            return False
        with self._connect() as con:
            row = con.execute("SELECT 1 FROM trajectories WHERE key=?", (key,)).fetchone()
        return row is not None and self.path_of(key).is_file()

    def put(
        self,
        traj: Trajectory,
        *,
        dataset: str | None = None,
        label: str | None = None,
        tags: Iterable[str] = (),
        item_id: str | None = None,
    ) -> str:
        """Store ``traj`` (idempotent: an existing key keeps its arrays; labels given here are applied)."""
        key = traj.key
        path = self.path_of(key)
        ensure_writable(self.root)
        if not path.is_file():
            save_trajectory_file(traj, path)
        tags_t = tuple(tags)
        given = {"dataset": dataset, "label": label, "item_id": item_id}
        given = {k: v for k, v in given.items() if v is not None} | ({"tags": list(tags_t)} if tags_t else {})
        if given:
            self._journal("annotate", key, given)
        with self._connect(write=True) as con:
            existed = con.execute("SELECT 1 FROM trajectories WHERE key=?", (key,)).fetchone()
            if not existed:
                con.execute(
                    "INSERT INTO trajectories VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        key,
                        traj.model_name,
                        traj.model_fingerprint,
                        traj.prompt_text,
                        traj.completion,
                        traj.n_tokens,
                        traj.n_prompt_tokens,
                        json.dumps(list(traj.layers)),
                        traj.d_model,
                        traj.template,
                        dataset,
                        label,
                        json.dumps(list(tags_t)),
                        item_id,
                        time.time(),
                    ),
                )
        if existed and given:
            self._annotate_index(key, given)
        return key

    def get(self, key: str) -> Trajectory:
        path = self.path_of(key)  # validates the key
        if not path.is_file():
            known = self._db_path.exists() and self._row(key) is not None
            hint = (
                (
                    "its file was deleted; run `reasonscope store repair` to drop the dangling entry and "
                    "capture it again"
                )
                if known
                else "no such key; list stored trajectories with `reasonscope store ls`"
            )
            raise StoreError(f"Trajectory {key} is not in the store at {self.root}: {hint}.")
        return load_trajectory_file(path)

    def _row(self, key: str) -> StoredMeta | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM trajectories WHERE key=?", (key,)).fetchone()
        return _to_meta(row) if row else None

    def meta(self, key: str) -> StoredMeta:
        check_key(key)
        m = self._row(key) if self._db_path.exists() else None
        if m is None:
            raise StoreError(f"Trajectory {key} is not in the store at {self.root}.")
        return m

    def query(
        self,
        *,
        dataset: str | None = None,
        label: str | None = None,
        tag: str | None = None,
        model: str | None = None,
        limit: int | None = None,
    ) -> list[StoredMeta]:
        """Search the index. ``model`` matches the model name or fingerprint."""
        if not self._db_path.exists():
            return []
        sql, args = "SELECT * FROM trajectories WHERE 1=1", []
        if dataset is not None:
            sql += " AND dataset=?"
            args.append(dataset)
        if label is not None:
            sql += " AND label=?"
            args.append(label)
        if model is not None:
            sql += " AND (model_name=? OR model_fingerprint=?)"
            args += [model, model]
        if tag is not None:
            sql += " AND EXISTS (SELECT 1 FROM json_each(trajectories.tags) WHERE value=?)"
            args.append(tag)
        sql += " ORDER BY created_at DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as con:
            return [_to_meta(r) for r in con.execute(sql, args).fetchall()]

    def annotate(
        self,
        key: str,
        *,
        dataset: object = _UNSET,
        label: object = _UNSET,
        tags: object = _UNSET,
        item_id: object = _UNSET,
    ) -> None:
        check_key(key)
        given: dict[str, Any] = {"dataset": dataset, "label": label, "item_id": item_id}
        fields = {k: v for k, v in given.items() if v is not _UNSET}
        if tags is not _UNSET:
            fields["tags"] = list(tags)  # type: ignore[call-overload]
        if not fields:
            return
        self.meta(key)  # StoreError when the key is unknown, before anything is written
        self._journal("annotate", key, fields)
        self._annotate_index(key, fields)

    def _annotate_index(self, key: str, fields: dict[str, Any]) -> None:
        sets = [f"{col}=?" for col in fields]
        args = [json.dumps(v) if col == "tags" else v for col, v in fields.items()]
        with self._connect(write=True) as con:
            cur = con.execute(f"UPDATE trajectories SET {', '.join(sets)} WHERE key=?", (*args, key))  # noqa: S608
            if cur.rowcount == 0:
                raise StoreError(f"Trajectory {key} is not in the store; nothing to annotate.")

    def delete(self, key: str) -> None:
        """Remove a trajectory (index row, annotation history and file). The key is validated first."""
        path = self.path_of(key)
        self._journal("delete", key, {})
        with self._connect(write=True) as con:
            con.execute("DELETE FROM trajectories WHERE key=?", (key,))
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise disk_error(exc, path, "delete the trajectory file") from exc

    def export(self, key: str, path: str | Path) -> Path:
        """Write one stored trajectory to ``path`` (validated before anything is read)."""
        dest = check_destination(path, "Export file")
        return save_trajectory_file(self.get(key), dest)

    # ---- repair ----------------------------------------------------------------------------------
    def check_index(self) -> None:
        """Raise ``CorruptIndexError`` if the index is damaged (``PRAGMA quick_check``)."""
        if not self._db_path.exists():
            return
        with self._connect() as con:
            result = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
        if result != ["ok"]:
            raise CorruptIndexError(
                f"The store index {self._db_path} is damaged ({result[:3]}). {_REPAIR_HINT}"
            )

    def repair(self) -> RepairReport:
        """Bring the index back in line with the files, losing nothing.

        A damaged index is moved aside (``index.sqlite.corrupt-<time>``) and rebuilt from the object files'
        own metadata plus the annotation log; otherwise files that were never indexed (a crash between the
        rename and the index write) are added, rows whose file is gone are dropped, and temp files of
        interrupted writes are removed."""
        ensure_writable(self.root)
        report = RepairReport()
        try:
            self.check_index()
        except CorruptIndexError:
            report.backup = self._move_index_aside()
            report.rebuilt = True
        objects = self._object_files(report)
        indexed = {m.key for m in self.query()}
        dangling = sorted(indexed - set(objects))
        journal = self._read_journal()
        with self._connect(write=True) as con:
            for key in dangling:
                con.execute("DELETE FROM trajectories WHERE key=?", (key,))
            for key, path in sorted(objects.items()):
                if key in indexed:
                    continue
                row = self._row_from_file(path, journal.get(key, {}))
                if row is None:
                    report.unreadable.append(path)
                    continue
                con.execute("INSERT INTO trajectories VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
                report.added.append(key)
        report.dropped = dangling
        return report

    def _move_index_aside(self) -> Path:
        backup = self._db_path.with_name(f"{self._db_path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self._db_path}{suffix}")
                if src.exists():
                    os.replace(src, f"{backup}{suffix}")
        except OSError as exc:
            raise disk_error(exc, self._db_path, "move the damaged index aside") from exc
        return backup

    def _object_files(self, report: RepairReport) -> dict[str, Path]:
        """key -> object file for every well-named file under objects/ (temp leftovers are removed)."""
        out: dict[str, Path] = {}
        base = self.root / "objects"
        if not base.is_dir():
            return out
        for path in base.glob("*/*"):
            if path.name.startswith(TMP_PREFIX) and path.is_file():
                path.unlink(missing_ok=True)
                report.temp_removed += 1
                continue
            key = path.name.removesuffix(".safetensors")
            if path.suffix == ".safetensors" and valid_key(key) and path.parent.name == key[:2]:
                try:
                    out[key] = self.path_of(key)
                except InputError:  # a symlink out of the root: not ours, never read
                    report.unreadable.append(path)
        return out

    def _read_journal(self) -> dict[str, dict[str, Any]]:
        """key -> latest annotations, replaying the log (a delete clears what came before)."""
        state: dict[str, dict[str, Any]] = {}
        path = self.root / JOURNAL
        if not path.is_file():
            return state
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a torn last line from a crash
                key = entry.get("key") if isinstance(entry, dict) else None
                if not valid_key(key):
                    continue
                if entry.get("op") == "delete":
                    state.pop(key, None)
                else:
                    state.setdefault(key, {}).update({k: entry[k] for k in _ANNOTATED if k in entry})
        return state

    @staticmethod
    def _row_from_file(path: Path, notes: dict[str, Any]) -> tuple | None:
        try:
            arrays, meta = read_safetensors_mmap(path)
            m = json.loads(meta[META_KEY])
            users = [x["content"] for x in m["messages"] if x.get("role") == "user"]
            return (
                path.name.removesuffix(".safetensors"),
                m["model"],
                m["model_fingerprint"],
                m.get("prompt", users[-1] if users else ""),
                m["completion"],
                int(arrays["input_ids"].shape[0]),
                int(m["n_prompt_tokens"]),
                json.dumps(list(m["layers"])),
                int(arrays["hidden_states"].shape[-1]),
                m.get("template", "plain"),
                notes.get("dataset"),
                notes.get("label"),
                json.dumps(list(notes.get("tags") or [])),
                notes.get("item_id"),
                path.stat().st_mtime,
            )
        except (*WRITE_ERRORS, KeyError, ValueError, TypeError, StoreError):
            return None

    def datasets(self) -> list[str]:
        if not self._db_path.exists():
            return []
        with self._connect() as con:
            return [
                r[0]
                for r in con.execute("SELECT DISTINCT dataset FROM trajectories WHERE dataset IS NOT NULL")
            ]


def _to_meta(row: tuple) -> StoredMeta:
    (
        key,
        mname,
        fp,
        prompt,
        completion,
        n_tok,
        n_prompt,
        layers,
        d_model,
        template,
        dataset,
        label,
        tags,
        item_id,
        created,
    ) = row
    return StoredMeta(
        key=key,
        model_name=mname,
        model_fingerprint=fp,
        prompt=prompt,
        completion=completion,
        n_tokens=n_tok,
        n_prompt_tokens=n_prompt,
        layers=tuple(json.loads(layers)),
        d_model=d_model,
        template=template,
        dataset=dataset,
        label=label,
        tags=tuple(json.loads(tags or "[]")),
        item_id=item_id,
        created_at=created,
    )
