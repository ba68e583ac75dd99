"""Engine, migrations and database-level guarantees."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.data import open_db
from core.data.db import VERSION_TABLE, current_revision, head_revision
from core.data.repo import create_dataset, list_datasets
from core.data.schema import Base, Dataset, Item
from core.errors import StoreError


def test_default_url_is_sqlite_in_home_with_wal_and_foreign_keys(rs_home):
    with open_db() as db:
        assert db.dialect == "sqlite"
        assert (rs_home / "reasonscope.db").is_file()
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_reach_head_and_match_the_orm_models(db):
    assert current_revision(db.engine) == head_revision() == "0001_initial"
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": False})
        diffs = compare_metadata(ctx, Base.metadata)
    assert diffs == [], diffs


def test_reopening_keeps_data_and_does_not_migrate_again(db_url):
    with open_db(db_url) as db:
        create_dataset(db, "kept", by="ada")
    with open_db(db_url) as db:  # a second open (e.g. after an upgrade) is a no-op on data
        assert [d.name for d in list_datasets(db)] == ["kept"]
        assert current_revision(db.engine) == head_revision()


def test_label_history_is_append_only_in_the_database(db):
    from core.data.repo import set_label
    from core.data.review import counts_by_label  # noqa: F401 - imported to prove no circularity

    ds = create_dataset(db, "d", by="ada")
    with db.transaction() as s:
        s.add(Item(dataset_id=ds.id, item_id="1", prompt="p", tags=[]))
    with db.transaction() as s:
        pk = s.scalar(text("SELECT pk FROM items"))
    set_label(db, pk, "safe", expected_version=1, annotator="ada")
    for stmt in ("UPDATE label_history SET new_label = 'unsafe'", "DELETE FROM label_history"):
        with pytest.raises(DBAPIError, match="append-only"), db.transaction() as s:
            s.execute(text(stmt))
    with db.transaction() as s:
        assert s.scalar(text("SELECT count(*) FROM label_history")) == 1


def test_constraints_reject_bad_labels_and_orphans(db):
    ds = create_dataset(db, "d", by="ada")
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(Item(dataset_id=ds.id, item_id="1", prompt="p", tags=[], label="maybe"))
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(Item(dataset_id=ds.id + 999, item_id="1", prompt="p", tags=[]))  # foreign key enforced
    with db.transaction() as s:
        assert s.query(Dataset).count() == 1 and s.query(Item).count() == 0


def test_bad_urls_give_actionable_errors(rs_home):
    with pytest.raises(StoreError, match="not a valid database URL"):
        open_db("nonsense://")
    with pytest.raises(StoreError, match="driver|reasonscope\\[postgres\\]"):
        open_db("mysql+notadriver://u:p@localhost/db")


def test_data_layer_imports_without_torch_or_streamlit():
    import subprocess
    import sys

    code = (
        "import sys, core.data, core.data.repo, core.data.review, core.data.importer, core.data.hub, "
        "core.cli.data; print(','.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = {"torch", "transformers", "nnsight", "streamlit", "datasets", "sklearn"} & set(
        out.stdout.strip().split(",")
    )
    assert not heavy, heavy
