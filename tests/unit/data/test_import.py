"""Import: presets, validation messages for every kind of bad input, all-or-nothing writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from core.data import ImportRejectedError
from core.data.importer import export_bytes, import_file, import_table
from core.data.io import read_bytes
from core.data.mapping import PRESETS, build_mapping, detect_preset
from core.data.repo import get_dataset, label_history, list_datasets, list_items
from core.data.schema import Annotation, Annotator, Dataset, Item, LabelHistory
from core.errors import InputError

REPO = Path(__file__).resolve().parents[3]


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def snapshot(db) -> dict[str, list[tuple]]:
    """Every row of every table, to prove a failed import left the database exactly as it was."""
    out = {}
    with db.transaction() as s:
        for model in (Annotator, Dataset, Item, LabelHistory, Annotation):
            cols = list(model.__table__.columns)
            out[model.__tablename__] = [tuple(r) for r in s.execute(select(*cols).order_by(cols[0]))]
    return out


def seed(db, tmp_path) -> dict:
    import_file(
        db,
        jsonl(tmp_path / "seed.jsonl", [{"id": "a", "prompt": "hello", "label": "safe"}]),
        "d",
        annotator="seeder",
    )
    return snapshot(db)


# ---- presets and mapping -----------------------------------------------------------------------------------

PRESET_FILES = {  # the real header names, with invented rows (no benchmark content is copied)
    "harmbench": (
        "Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID\n"
        "Explain how to do harmful thing A,standard,misinformation_disinformation,,,beh_a\n",
        {
            "id": "beh_a",
            "prompt": "Explain how to do harmful thing A",
            "label": "unsafe",
            "category": "misinformation_disinformation",
            "source": "harmbench",
            "tags": ["standard"],
            "kind": "harmful",
        },
    ),
    "xstest": (
        "id,prompt,type,label,focus,note\n7,How do I kill a stuck process?,homonyms,safe,kill,violence\n",
        {
            "id": "7",
            "prompt": "How do I kill a stuck process?",
            "label": "safe",
            "category": "homonyms",
            "source": "xstest",
            "tags": ["kill"],
        },
    ),
    "advbench": (
        'goal,target\nWrite a harmful thing B,"Sure, here is a harmful thing B"\n',
        {
            "prompt": "Write a harmful thing B",
            "response": None,
            "label": "unsafe",
            "source": "advbench",
            "kind": "harmful",
        },
    ),
    "jailbreakbench": (
        "Index,Goal,Target,Behavior,Category,Source\n1,Do harmful thing C,Sure,Thing C,"
        "Harassment/Discrimination,Original\n",
        {
            "prompt": "Do harmful thing C",
            "category": "Harassment/Discrimination",
            "tags": ["Thing C"],
            "label": "unsafe",
            "source": "jailbreakbench",
        },
    ),
    "strongreject": (
        "category,source,forbidden_prompt\nIllegal goods and services,custom,Do harmful thing D\n",
        {
            "prompt": "Do harmful thing D",
            "category": "Illegal goods and services",
            "label": "unsafe",
            "source": "strongreject",
        },
    ),
}


@pytest.mark.parametrize("preset", sorted(PRESET_FILES))
def test_presets_map_public_benchmark_headers(db, tmp_path, preset):
    text, expected = PRESET_FILES[preset]
    path = tmp_path / f"{preset}.csv"
    path.write_text(text, encoding="utf-8")
    table = read_bytes(path.read_bytes(), path.name)
    assert detect_preset(table.columns) == preset
    if preset == "xstest":  # already has id/prompt/label columns: imports as is, 'type' is ignored
        report = import_file(db, path, "raw", annotator="ada")
        assert report.ignored_columns == ["type", "focus", "note"] and list_items(db, "raw")[0].category == ""
    else:
        with pytest.raises(InputError, match=f"no 'prompt' column.*Available columns: .*--preset {preset}"):
            import_file(db, path, preset, annotator="ada")  # the message names the mapping to use
    report = import_file(db, path, preset, annotator="ada", mapping=build_mapping(preset))
    assert report.committed and len(report.imported) == 1
    row = list_items(db, preset)[0].to_row()
    assert {k: row[k] for k in expected} == expected
    assert label_history(db, dataset=preset)[0].kind == "import"
    assert set(PRESETS) == set(PRESET_FILES)


def test_explicit_map_set_and_label_map(db, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "text,verdict,topic\nhow to shoot a sunset photo,benign,photo\nhow to X,harmful,weapons\n"
    )
    mapping = build_mapping(
        None,
        ["text=prompt", "verdict=label", "topic=category"],
        ["source=mine"],
        ["benign=safe", "harmful=unsafe"],
    )
    report = import_file(db, path, "m", annotator="ada", mapping=mapping)
    assert [(i.label, i.category, i.source) for i in list_items(db, "m")] == [
        ("safe", "photo", "mine"),
        ("unsafe", "weapons", "mine"),
    ]
    assert report.mapping == {"text": "prompt", "verdict": "label", "topic": "category"}
    with pytest.raises(InputError, match="no column 'missing'.*Available columns: text, verdict, topic"):
        import_file(db, path, "m2", annotator="ada", mapping=build_mapping(None, ["missing=prompt"]))
    with pytest.raises(InputError, match="Unknown field 'promt'"):
        import_file(db, path, "m2", annotator="ada", mapping=build_mapping(None, ["text=promt"]))
    with pytest.raises(InputError, match="NAME=VALUE"):
        build_mapping(None, ["text"])
    with pytest.raises(InputError, match="Unknown preset 'harmbnch'.*harmbench"):
        build_mapping("harmbnch")
    with pytest.raises(InputError, match="both map to field 'prompt'"):
        import_file(
            db, path, "m2", annotator="ada", mapping=build_mapping(None, ["text=prompt", "topic=prompt"])
        )


# ---- bad input: precise messages, nothing written ----------------------------------------------------------


def test_wrong_encoding_names_the_byte_offset(db, tmp_path):
    before = seed(db, tmp_path)
    data = "id,prompt\n1,caf\u00e9 au lait\n".encode("latin-1")
    path = tmp_path / "latin1.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        import_file(db, path, "d", annotator="ada")
    msg, offset = str(err.value), data.index(b"\xe9")
    assert f"byte offset {offset}" in msg and "(line 2)" in msg and "re-save it as UTF-8" in msg
    path.write_bytes("id,prompt\n1,x\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16.*Re-save it as UTF-8"):
        import_file(db, path, "d", annotator="ada")
    assert snapshot(db) == before


def test_unknown_label_rejects_the_whole_file_by_default(db, tmp_path):
    before = seed(db, tmp_path)
    path = jsonl(
        tmp_path / "bad.jsonl",
        [
            {"id": "b", "prompt": "ok", "label": "safe"},
            {"id": "c", "prompt": "x", "label": "harmful"},
            {"id": "d", "prompt": "   ", "label": "unsafe"},
        ],
    )
    with pytest.raises(ImportRejectedError) as err:
        import_file(db, path, "d", annotator="ada")
    msg = str(err.value)
    assert "row 2 (id=c): unknown label 'harmful'" in msg and "--label-map harmful=unsafe" in msg
    assert "row 3 (id=d): empty prompt" in msg and "nothing was imported" in msg
    assert [r.row for r in err.value.report.rejected] == [2, 3]
    assert snapshot(db) == before
    # opting in imports the valid rows and reports the rest with row numbers
    report = import_file(db, path, "d", annotator="ada", on_error="skip")
    assert report.imported == ["b"] and [(r.row, r.item_id) for r in report.rejected] == [(2, "c"), (3, "d")]


def test_file_over_the_size_limit(db, tmp_path, monkeypatch):
    before = seed(db, tmp_path)
    big = tmp_path / "big.jsonl"
    with big.open("wb") as fh:  # sparse: 51 MB on paper, nothing read
        fh.truncate(51 * 1024 * 1024)
    with pytest.raises(InputError, match=r"big.jsonl is 51.0 MB, over the 50 MB import limit.*--max-mb"):
        import_file(db, big, "d", annotator="ada")
    small = jsonl(tmp_path / "small.jsonl", [{"prompt": "x" * 2000}])
    monkeypatch.setenv("REASONSCOPE_MAX_IMPORT_MB", "0.001")
    with pytest.raises(InputError, match="over the 0 MB import limit"):
        import_file(db, small, "d", annotator="ada")
    with pytest.raises(InputError, match="import limit"):
        import_file(db, small, "d", annotator="ada", max_bytes=100)
    assert snapshot(db) == before


def test_duplicate_ids_in_the_file(db, tmp_path):
    before = seed(db, tmp_path)
    path = jsonl(
        tmp_path / "dup.jsonl",
        [
            {"id": "x", "prompt": "1"},
            {"id": "y", "prompt": "2"},
            {"id": "x", "prompt": "3"},
            {"id": 5, "prompt": "4"},
            {"id": "5", "prompt": "5"},
        ],
    )
    with pytest.raises(InputError, match=r"duplicate ids in the file: 'x' at rows 1, 3; '5' at rows 4, 5"):
        import_file(db, path, "d", annotator="ada")
    assert snapshot(db) == before


def test_malformed_files(db, tmp_path):
    before = seed(db, tmp_path)
    cases = {
        "broken.jsonl": (b'{"prompt": "a"}\n{"prompt": \n', r"line 2: malformed JSON"),
        "list.jsonl": (b'["prompt"]\n', r"line 1: expected a JSON object"),
        "empty.csv": (b"", r"empty: it needs a header row"),
        "hdr.csv": (b"prompt,prompt\nx,y\n", r"repeats column\(s\) 'prompt'"),
        "junk.parquet": (b"not parquet", r"not a readable Parquet file"),
        "notes.txt": (b"prompt\n", r"Cannot tell the format"),
        "none.jsonl": (b"\n\n", r"has no rows"),
    }
    for name, (data, pattern) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=pattern):
            import_file(db, tmp_path / name, "d", annotator="ada")
    with pytest.raises(InputError, match="File not found"):
        import_file(db, tmp_path / "nope.csv", "d", annotator="ada")
    (tmp_path / "cells.csv").write_text("id,prompt\n1,a\n2,b,extra\n")
    with pytest.raises(ImportRejectedError, match="row 3: has 3 cells but the header has 2"):
        import_file(db, tmp_path / "cells.csv", "d", annotator="ada")
    assert snapshot(db) == before


# ---- duplicates, dry run -----------------------------------------------------------------------------------


def test_duplicates_are_skipped_never_overwritten(db, tmp_path):
    seed(db, tmp_path)
    path = jsonl(
        tmp_path / "more.jsonl",
        [
            {"id": "a", "prompt": "hello", "label": "safe"},
            {"id": "b", "prompt": "new"},
            {"prompt": "no id"},
            {"prompt": "no id"},
        ],
    )
    report = import_file(db, path, "d", annotator="ada")
    assert len(report.imported) == 2 and report.imported[0] == "b" and report.imported[1].startswith("h-")
    assert [(s.row, s.reason) for s in report.skipped] == [
        (1, "id already in the dataset (identical)"),
        (4, "same prompt and response as row 3"),
    ]
    changed = jsonl(tmp_path / "changed.jsonl", [{"id": "a", "prompt": "hello!", "label": "unsafe"}])
    report = import_file(db, changed, "d", annotator="ada")
    assert "different content; the stored item was kept" in report.skipped[0].reason
    assert list_items(db, "d")[0].label == "safe"
    again = import_file(db, path, "d", annotator="ada")  # generated ids are stable: a re-import skips all
    assert again.imported == [] and len(again.skipped) == 4


def test_dry_run_writes_nothing(db, tmp_path):
    before = seed(db, tmp_path)
    report = import_file(
        db, jsonl(tmp_path / "n.jsonl", [{"prompt": "x"}]), "newds", annotator="ada", dry_run=True
    )
    assert report.dry_run and not report.committed and len(report.imported) == 1
    assert "would import 1" in report.summary()
    assert snapshot(db) == before and [d.name for d in list_datasets(db)] == ["d"]


# ---- crashes mid-import ---------------------------------------------------------------------------------


def _big_file(tmp_path: Path, n: int) -> Path:
    return jsonl(
        tmp_path / "big.jsonl",
        [{"id": f"r{i}", "prompt": f"prompt {i}", "label": "unsafe"} for i in range(n)],
    )


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_exception_inside_the_transaction_rolls_everything_back(db, tmp_path, exc):
    before = seed(db, tmp_path)
    calls = []

    def explode(done: int, total: int) -> None:
        calls.append(done)
        if done >= 1000:  # two chunks are already INSERTed (uncommitted) when this fires
            raise exc

    with pytest.raises(type(exc)):
        import_file(db, _big_file(tmp_path, 2500), "d", annotator="ada", progress=explode)
    assert calls == [500, 1000]
    assert snapshot(db) == before
    with pytest.raises(type(exc)):  # a brand-new dataset is not left behind either
        import_file(db, _big_file(tmp_path, 1200), "fresh", annotator="ada", progress=explode)
    with pytest.raises(InputError, match="No dataset named 'fresh'"):
        get_dataset(db, "fresh")


CHILD = """
import sys, time
from pathlib import Path
from core.data import open_db
from core.data.importer import import_file
db = open_db(sys.argv[1])
def progress(done, total):
    if done >= 1000:
        Path(sys.argv[3]).write_text(str(done))
        time.sleep(600)
import_file(db, sys.argv[2], "d", annotator="child", progress=progress)
"""


def test_killing_the_process_mid_import_leaves_the_database_unchanged(db, db_url, tmp_path):
    before = seed(db, tmp_path)
    marker = tmp_path / "inside-transaction"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, str(_big_file(tmp_path, 3000)), str(marker)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "child never reached the middle of the import"
            time.sleep(0.05)
        assert marker.read_text() == "1000"
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup, no rollback call: like a crash or `kill -9`
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    db.engine.dispose()  # fresh connections, as the next app start would open
    assert snapshot(db) == before
    if db.dialect == "sqlite":
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    report = import_file(db, tmp_path / "big.jsonl", "d", annotator="ada")  # and the DB still works
    assert len(report.imported) == 3000


def test_export_bytes_unknown_dataset(db):
    with pytest.raises(InputError, match="No dataset named"):
        export_bytes(db, "ghost", "jsonl")


def test_import_table_refuses_bad_on_error(db):
    from core.data.io import RawTable

    with pytest.raises(InputError, match="on_error"):
        import_table(
            db,
            RawTable("x", "jsonl", ["prompt"], [(1, {"prompt": "p"})]),
            "d",
            annotator="a",
            on_error="ignore",
        )  # type: ignore[arg-type]


def test_bundled_sample_set_imports_cleanly(db):
    """sample_data/prompts.jsonl (written by the sample-data work) goes in without rejects and keeps its
    pairs."""
    path = REPO / "sample_data" / "prompts.jsonl"
    if not path.is_file():
        pytest.skip("sample_data/prompts.jsonl not written yet")
    report = import_file(db, path, "sample", annotator="ada")
    assert report.rejected == [] and report.skipped == [] and len(report.imported) == report.n_rows
    from core.data.review import counts_by_label, pairs

    assert pairs(db, "sample") and sum(counts_by_label(db, "sample").values()) == report.n_rows
    assert export_bytes(db, "sample", "jsonl").count(b"\n") == report.n_rows
