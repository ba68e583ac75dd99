"""Activation store: trajectories on disk, content-addressed, with an SQLite index for search.

Layout under the store root::

    objects/<key[:2]>/<key>.safetensors   arrays + record metadata (core.capture.export format)
    index.sqlite                          one row per trajectory (model, dataset, label, tags, text)

The key is ``Trajectory.key`` (model fingerprint + chat + generation settings + seed + layers), so
capturing the same thing twice is a cache hit. Files are written to a temp name and renamed, then
indexed in one transaction: a crash leaves at worst an unindexed file, never a corrupt entry.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.capture.export import load_trajectory_file, save_trajectory_file
from core.capture.trajectory import Trajectory
from core.config import ensure_writable, store_dir
from core.errors import StoreError

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


class ActivationStore:
    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else store_dir()
        self._db_path = self.root / "index.sqlite"

    # ---- plumbing --------------------------------------------------------------------------------
    def _connect(self, write: bool = False) -> sqlite3.Connection:
        if write:
            ensure_writable(self.root)
        con = sqlite3.connect(self._db_path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_SCHEMA)
        return con

    def path_of(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / f"{key}.safetensors"

    # ---- API -------------------------------------------------------------------------------------
    def has(self, key: str) -> bool:
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
        if existed and (dataset or label or tags_t or item_id):
            self.annotate(
                key,
                **{
                    k: v
                    for k, v in {"dataset": dataset, "label": label, "item_id": item_id}.items()
                    if v is not None
                },
                **({"tags": tags_t} if tags_t else {}),
            )
        return key

    def get(self, key: str) -> Trajectory:
        path = self.path_of(key)
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
        sets, args = [], []
        for col, val in (("dataset", dataset), ("label", label), ("item_id", item_id)):
            if val is not _UNSET:
                sets.append(f"{col}=?")
                args.append(val)
        if tags is not _UNSET:
            sets.append("tags=?")
            args.append(json.dumps(list(tags)))  # type: ignore[arg-type]
        if not sets:
            return
        with self._connect(write=True) as con:
            cur = con.execute(f"UPDATE trajectories SET {', '.join(sets)} WHERE key=?", (*args, key))
            if cur.rowcount == 0:
                raise StoreError(f"Trajectory {key} is not in the store; nothing to annotate.")

    def delete(self, key: str) -> None:
        with self._connect(write=True) as con:
            con.execute("DELETE FROM trajectories WHERE key=?", (key,))
        self.path_of(key).unlink(missing_ok=True)

    def repair(self) -> list[str]:
        """Drop index rows whose file is gone; returns their keys."""
        dangling = [m.key for m in self.query() if not self.path_of(m.key).is_file()]
        with self._connect(write=True) as con:
            for k in dangling:
                con.execute("DELETE FROM trajectories WHERE key=?", (k,))
        return dangling

    def export(self, key: str, path: str | Path) -> Path:
        return save_trajectory_file(self.get(key), path)

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
