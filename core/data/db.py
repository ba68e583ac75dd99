"""Engine, sessions and migrations of the labelling database.

``open_db()`` connects to ``core.config.database_url()`` (SQLite in the ReasonScope home by default,
any SQLAlchemy URL such as ``postgresql+psycopg://…`` through ``REASONSCOPE_DB``) and upgrades the schema
to the newest Alembic revision before returning, so a new release never needs a manual migration step
and upgrades keep every row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.config import database_url
from core.errors import StoreError
from core.fsio import sqlite_error

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_data"  # keep in sync with migrations/env.py


class Database:
    """A connected, migrated database. ``transaction()`` is the unit of work: commit on success, roll
    back everything on any exception (including KeyboardInterrupt)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def write_transaction(self, lock: str = "write") -> Iterator[Session]:
        """A ``transaction()`` that holds the write lock from its first statement, so what it reads (e.g.
        "which of these ids exist?") cannot change before it writes: two importers into one dataset run one
        after the other instead of colliding. SQLite: ``BEGIN IMMEDIATE`` (waits up to busy_timeout for the
        other writer); PostgreSQL: a transaction-scoped advisory lock on ``lock``. A database failure
        (disk full, locked, corrupt) becomes a ``StoreError`` saying so."""
        try:
            with self._sessions.begin() as session:
                if self.dialect == "sqlite":
                    session.execute(text("BEGIN IMMEDIATE"))
                elif self.dialect == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": lock})
                yield session
        except DBAPIError as exc:
            if isinstance(exc.orig, sqlite3.Error):
                raise sqlite_error(exc.orig, self.engine.url.database or self.url) from exc
            raise

    def session(self) -> Session:
        """A bare session for callers that manage the transaction themselves (tests, advanced use)."""
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL: readers never block the writer (app sessions keep reading during an import);
    # foreign keys are off by default in SQLite; busy_timeout waits for a concurrent writer instead of
    # failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the folder is created and WAL + foreign keys are switched on."""
    try:
        if url.startswith("sqlite"):
            db_path = url.split(":///", 1)[1] if ":///" in url else ""
            if db_path and db_path != ":memory:" and not db_path.startswith("file:"):
                Path(db_path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except ArgumentError as exc:
        raise StoreError(
            f"REASONSCOPE_DB={url!r} is not a valid database URL ({exc}). Use e.g. "
            "sqlite:////path/reasonscope.db or postgresql+psycopg://user:pass@host/db."
        ) from exc
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"The driver for {url.split(':', 1)[0]} is not installed ({exc.name}). For PostgreSQL: "
            "pip install 'reasonscope[postgres]' (psycopg 3) and use postgresql+psycopg://…"
        ) from exc
    except OSError as exc:
        raise StoreError(
            f"Cannot create the database folder for {url} ({exc}). Point REASONSCOPE_HOME or "
            "REASONSCOPE_DB at a writable location."
        ) from exc


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config  # alembic (+ mako, pygments) is 0.4 s: loaded when a database is opened

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply pending migrations in one transaction (a failed upgrade leaves the old schema and data)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def open_db(url: str | None = None, *, migrate: bool = True) -> Database:
    """Connect to ``url`` (default ``core.config.database_url()``) and bring the schema up to date."""
    url = url or database_url()
    engine = make_engine(url)
    if migrate:
        try:
            upgrade(engine)
        except OperationalError as exc:
            engine.dispose()
            raise StoreError(
                f"Cannot open the labelling database at "
                f"{engine.url.render_as_string(hide_password=True)}: {exc.orig}. Check that the "
                "server is running and the URL (REASONSCOPE_DB) is right, or that the folder "
                "is writable."
            ) from exc
    return Database(engine)
