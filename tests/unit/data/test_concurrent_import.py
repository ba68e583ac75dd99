"""Two processes importing into the same dataset at the same moment: both succeed; the second skips the rows
the first wrote (the id check and the insert run in one transaction under the write lock)."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from core.data import open_db
from core.data.importer import import_file
from core.data.repo import list_items


def _rows(ids: range) -> str:
    return "".join(
        json.dumps({"id": f"r{i}", "prompt": f"prompt {i}", "label": "safe" if i % 2 else "unsafe"}) + "\n"
        for i in ids
    )


def _import(url: str, path: str, who: str, barrier, out) -> None:
    db = open_db(url)
    try:
        barrier.wait(timeout=60)  # both start together: the race the write lock must win
        rep = import_file(db, path, "shared", annotator="ann")
        out.put((who, sorted(rep.imported), len(rep.skipped), rep.committed, None))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        out.put((who, [], 0, False, f"{type(exc).__name__}: {exc}"))
    finally:
        db.close()


def test_two_processes_import_into_one_dataset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    a, b, seed = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "seed.jsonl"
    seed.write_text(_rows(range(1)))
    with open_db(url) as db:  # migrate and create the annotator before the race (as on a used install)
        import_file(db, seed, "other", annotator="ann")
    a.write_text(_rows(range(0, 1500)))
    b.write_text(_rows(range(500, 2000)))  # 1000 ids overlap
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_import, args=(url, str(p), who, barrier, out)) for p, who in ((a, "A"), (b, "B"))
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert [r[4] for r in results] == [None, None], results  # no IntegrityError, no "database is locked"
    assert all(r[3] for r in results)
    imported = [i for r in results for i in r[1]]
    assert len(imported) == len(set(imported)) == 2000  # every row written exactly once
    assert sum(r[2] for r in results) == 1000  # the overlap, skipped by whichever came second
    db = open_db(url)
    assert len(list_items(db, "shared", limit=5000)) == 2000
    db.close()
