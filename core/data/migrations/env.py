"""Alembic environment of the labelling database (run programmatically by ``core.data.db.open_db``).

To write a new revision after changing ``core/data/schema.py``:
``.venv/bin/alembic -c core/data/migrations/alembic.ini revision --autogenerate -m "what changed"``
then review the file: data-preserving upgrades only (add columns with defaults, copy before dropping).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from core.config import database_url
from core.data.schema import Base

VERSION_TABLE = "alembic_version_data"  # our own version table: other areas may migrate the same DB

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or database_url()


if context.is_offline_mode():
    context.configure(
        url=_url(), target_metadata=Base.metadata, version_table=VERSION_TABLE, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    engine = create_engine(_url())
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
