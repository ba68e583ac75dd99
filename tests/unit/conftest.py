"""Fixtures for the labelling database tests.

Every test using ``db_url`` / ``db`` runs against SQLite in a private REASONSCOPE_HOME and, when the
environment variable ``REASONSCOPE_TEST_PG`` holds a PostgreSQL URL (``postgresql+psycopg://…``), again
against PostgreSQL inside a throw-away schema that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.data import Database, open_db

PG_ENV = "REASONSCOPE_TEST_PG"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, rs_home: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{rs_home / 'reasonscope.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL variant: set {PG_ENV}=postgresql+psycopg://user:pass@host/db to run it")
    from sqlalchemy import create_engine, text

    schema = f"rs_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture()
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("REASONSCOPE_DB", db_url)
    database = open_db(db_url)
    yield database
    database.close()

