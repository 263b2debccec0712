"""The database handle: one engine, migrations, sessions. SQLite by default, PostgreSQL via psycopg.

The service calls storage from one worker thread; the handle is safe to create on one thread and use
on another. The URL's password never reaches a log line or an error message (`Database.safe_url`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5


class DatabaseError(Exception):
    """The database cannot be reached or migrated; the message holds no password."""


def mask_url(url: str | URL) -> str:
    """The URL as text with its password replaced by `***`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def _normalise(url: URL) -> URL:
    """`postgresql://` and `postgres://` mean psycopg 3 (the only PostgreSQL driver we ship)."""
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    memory = database in ("", ":memory:") or "mode=memory" in database
    if not memory and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool  # one connection, or every checkout sees an empty database
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=FULL")  # a stored alarm event survives a power cut
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Take the write lock up front: a deferred transaction that reads, then writes, fails at once
        # with SQLITE_BUSY (no waiting) when another process (`registry import`) wrote in between.
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for our migrations, built in code (no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


class Database:
    """The service's database: `Database("sqlite:///campus.db")` or `Database("postgresql+psycopg://...")`."""

    def __init__(self, url: str) -> None:
        try:
            parsed = _normalise(make_url(url))
        except ArgumentError as exc:
            raise DatabaseError(f"not a database URL: {mask_url(url)}") from exc
        self.url = parsed
        self.safe_url = parsed.render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(parsed)
        elif self.dialect == "postgresql":
            self.engine = _postgres_engine(parsed)
        else:
            raise DatabaseError(
                f"unsupported database {self.safe_url}: use sqlite:/// or postgresql+psycopg://"
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({self.safe_url!r})"

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op on an up-to-date database."""
        try:
            with self.engine.begin() as conn:
                command.upgrade(alembic_config(conn), "heads")
        except OperationalError as exc:
            raise DatabaseError(f"cannot migrate {self.safe_url}: {exc.orig}") from None
        log.info("database %s at schema %s", self.safe_url, ", ".join(self.revisions()))

    def revisions(self) -> list[str]:
        """The schema revisions the database is at (one per migration branch head)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return sorted(MigrationContext.configure(conn).get_current_heads())

    def ping(self) -> bool:
        """Is the database reachable? Never raises; says why not at debug level (an outage is logged
        once by the service, not once per probe)."""
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            log.debug("database %s unreachable: %s", self.safe_url, getattr(exc, "orig", None) or exc)
            return False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session in one transaction: committed on exit, rolled back on an exception."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A Core connection in one transaction: committed on exit, rolled back on an exception."""
        with self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
