"""The registry in force, in the database: import a registry (idempotent), read back the latest source.

An import is one transaction that diffs the registry against the stored rows: rows are added,
removed or updated one by one, so a device that stays keeps its runtime columns (state, last_seen,
state_since). Importing what is already stored writes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, select, text

from devices.model import Registry, Route
from monitor.storage.base import table_of
from monitor.storage.db import Database
from monitor.storage.tables import (
    BusRecord,
    DeviceRecord,
    RegistryImportRecord,
    RouteRecord,
    SchoolRecord,
    ZoneRecord,
)

log = logging.getLogger(__name__)

Row = dict[str, Any]
Key = tuple[Any, ...]

SCHOOLS = table_of(SchoolRecord)
ZONES = table_of(ZoneRecord)
ROUTES = table_of(RouteRecord)
BUSES = table_of(BusRecord)
DEVICES = table_of(DeviceRecord)
IMPORTS = table_of(RegistryImportRecord)

#: Parents first: inserts go in this order, deletes in the reverse.
REGISTRY_TABLES: tuple[Table, ...] = (SCHOOLS, ROUTES, ZONES, BUSES, DEVICES)
#: The columns an import owns; the devices' runtime columns are not among them.
DEVICE_REGISTRY_COLUMNS = ("school", "kind", "id", "zone", "label", "interval_s", "missed", "route")
NEW_DEVICE_STATE: Row = {"state": "unknown", "last_seen": None, "state_since": None}


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did; counts are rows of schools, zones, routes, buses and devices together."""

    changed: bool
    added: int
    removed: int
    updated: int


def _pk(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


def _keyed(table: Table, rows: Iterable[Row]) -> dict[Key, Row]:
    pk = _pk(table)
    out: dict[Key, Row] = {}
    for row in rows:
        key = tuple(row[c] for c in pk)
        if key in out:
            raise ValueError(f"registry has {table.name} {'/'.join(map(str, key))} twice")
        out[key] = row
    return out


def _route_row(route: Route) -> Row:
    return {
        "id": route.id,
        "name": route.name,
        "corridor_m": route.corridor_m,
        "speed_limit_kmh": route.speed_limit_kmh,
        "timezone": route.timezone,
        "windows": [str(w) for w in route.windows],
        "path": [[lon, lat] for lon, lat in route.path],
        "slow_stretches": [
            {"from_m": s.from_m, "to_m": s.to_m, "speed_limit_kmh": s.speed_limit_kmh, "name": s.name}
            for s in route.slow_stretches
        ],
    }


def registry_rows(registry: Registry) -> dict[Table, dict[Key, Row]]:
    """The rows (registry columns only) that represent `registry`, by table and primary key."""
    labels: dict[Key, str] = {}
    for school in registry.schools:
        labels.update({(school.id, "camera", c.id): c.name for c in school.cameras})
        labels.update({(school.id, "alarm", a.id): a.location for a in school.alarms})
    labels.update({(b.school, "gps", b.id): b.plate for b in registry.buses})
    devices = (
        {
            "school": d.school,
            "kind": str(d.kind),
            "id": d.id,
            "zone": d.zone,
            "label": labels.get((d.school, str(d.kind), d.id), ""),
            "interval_s": d.heartbeat.interval_s,
            "missed": d.heartbeat.missed,
            "route": d.route,
        }
        for d in registry.devices()
    )
    return {
        SCHOOLS: _keyed(SCHOOLS, ({"id": s.id, "name": s.name} for s in registry.schools)),
        ROUTES: _keyed(ROUTES, (_route_row(r) for r in registry.routes)),
        ZONES: _keyed(
            ZONES,
            (
                {"school": s.id, "id": z.id, "name": z.name, "kind": z.kind, "min_live": z.min_live}
                for s in registry.schools
                for z in s.zones
            ),
        ),
        BUSES: _keyed(
            BUSES,
            (
                {"id": b.id, "school": b.school, "route": b.route, "plate": b.plate, "capacity": b.capacity}
                for b in registry.buses
            ),
        ),
        DEVICES: _keyed(DEVICES, devices),
    }


def _stored_rows(conn: Connection, table: Table) -> dict[Key, Row]:
    columns = DEVICE_REGISTRY_COLUMNS if table is DEVICES else tuple(c.name for c in table.columns)
    result = conn.execute(select(*(table.c[c] for c in columns)))
    return _keyed(table, (dict(r) for r in result.mappings()))


@dataclass(slots=True)
class _Diff:
    added: list[Row]
    removed: list[Key]
    updated: list[Row]


def _diff(wanted: dict[Key, Row], stored: dict[Key, Row]) -> _Diff:
    added = [row for key, row in wanted.items() if key not in stored]
    removed = [key for key in stored if key not in wanted]
    updated = [row for key, row in wanted.items() if key in stored and stored[key] != row]
    return _Diff(added, removed, updated)


def _where_pk(table: Table) -> Any:
    return and_(*(table.c[c] == bindparam(f"k_{c}") for c in _pk(table)))


def _apply_inserts(conn: Connection, table: Table, rows: list[Row]) -> None:
    if rows:
        if table is DEVICES:
            rows = [{**row, **NEW_DEVICE_STATE} for row in rows]
        conn.execute(table.insert(), rows)


def _apply_updates(conn: Connection, table: Table, rows: list[Row]) -> None:
    if not rows:
        return
    pk = _pk(table)
    values = [c for c in rows[0] if c not in pk]
    stmt = table.update().where(_where_pk(table)).values({c: bindparam(f"v_{c}") for c in values})
    conn.execute(stmt, [{**{f"k_{c}": r[c] for c in pk}, **{f"v_{c}": r[c] for c in values}} for r in rows])


def _apply_deletes(conn: Connection, table: Table, keys: list[Key]) -> None:
    if keys:
        pk = _pk(table)
        conn.execute(
            table.delete().where(_where_pk(table)),
            [dict(zip((f"k_{c}" for c in pk), k, strict=True)) for k in keys],
        )


REGISTRY_IMPORT_LOCK = 0x63616D7075730001  # a PostgreSQL advisory lock key of our own ("campus" + 1)


def import_registry(
    db: Database, registry: Registry, source: str, filename: str, *, now: float | None = None
) -> ImportResult:
    """Make `registry` the registry in force, in one transaction.

    `source` is the file's text and `filename` its path (pass an absolute path: a restart without
    `--registry` re-reads the source from here, and a `geojson:` path is relative to it). Importing the
    same registry and source again changes nothing and writes nothing. Raises (and writes nothing) when
    the rows break a constraint, e.g. a bus whose school is not in the registry.
    """
    sha = hashlib.sha256(source.encode()).hexdigest()
    wanted = registry_rows(registry)
    with db.begin() as conn:
        if db.dialect == "postgresql":  # instances starting together import one after the other
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRY_IMPORT_LOCK})
        latest = conn.execute(select(IMPORTS.c.sha256).order_by(IMPORTS.c.id.desc()).limit(1)).scalar()
        diffs = {table: _diff(wanted[table], _stored_rows(conn, table)) for table in REGISTRY_TABLES}
        added = sum(len(d.added) for d in diffs.values())
        removed = sum(len(d.removed) for d in diffs.values())
        updated = sum(len(d.updated) for d in diffs.values())
        if latest == sha and added == removed == updated == 0:
            return ImportResult(False, 0, 0, 0)
        for table in REGISTRY_TABLES:
            _apply_inserts(conn, table, diffs[table].added)
        for table in REGISTRY_TABLES:
            _apply_updates(conn, table, diffs[table].updated)
        for table in reversed(REGISTRY_TABLES):
            _apply_deletes(conn, table, diffs[table].removed)
        conn.execute(
            IMPORTS.insert(),
            {
                "sha256": sha,
                "filename": filename,
                "imported_at": time.time() if now is None else now,
                "source": source,
            },
        )
    log.info("registry %s imported: %d rows added, %d removed, %d updated", filename, added, removed, updated)
    return ImportResult(True, added, removed, updated)


def latest_registry_source(db: Database) -> tuple[str, str] | None:
    """(filename, text) of the registry last imported, or None when none ever was."""
    with db.begin() as conn:
        row = conn.execute(
            select(IMPORTS.c.filename, IMPORTS.c.source).order_by(IMPORTS.c.id.desc()).limit(1)
        ).first()
    return None if row is None else (row.filename, row.source)
