"""The declarative base every table of the service is declared on, with one naming convention.

Tables live in `monitor.storage.tables` (the core: registry, device states, events, judgements) and in
`monitor.storage.<name>_tables` modules owned by other parts (alerts, tickets, ...). `load_table_modules`
imports all of them, so `Base.metadata` is complete for Alembic and for the schema test.
"""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

#: Constraint and index names are derived, never left to the database, so migrations can name them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_module_names() -> list[str]:
    """`monitor.storage.tables` and every `monitor.storage.*_tables` module, sorted."""
    from monitor import storage

    names = [
        f"{storage.__name__}.{info.name}"
        for info in pkgutil.iter_modules(storage.__path__)
        if info.name == "tables" or info.name.endswith("_tables")
    ]
    return sorted(names)


def load_table_modules() -> MetaData:
    """Import every table module so that `Base.metadata` knows every table; return it."""
    for name in table_module_names():
        importlib.import_module(name)
    return Base.metadata


def table_of(record: type[Base]) -> Table:
    """The Core `Table` behind a declarative record class (for bulk statements)."""
    table = record.__table__
    assert isinstance(table, Table)
    return table
