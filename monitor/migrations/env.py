"""Alembic environment for the service's schema.

Run programmatically by `monitor.storage.db.Database.migrate()`, which hands over its connection in
`config.attributes["connection"]`; no alembic.ini is needed. With the `alembic` command line, the URL
comes from the `sqlalchemy.url` option instead. The metadata is the whole `Base.metadata`: the core
tables and every `monitor.storage.*_tables` module.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from monitor.storage.base import load_table_modules

#: Any constant: PostgreSQL holds this advisory lock while migrating, so two starting services migrate
#: one after the other.
MIGRATION_LOCK_ID = 0x63616D70  # "camp"

target_metadata = load_table_modules()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
