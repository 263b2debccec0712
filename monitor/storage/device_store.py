"""Device runtime state (state, last_seen, state_since), saved in batches and loaded at start.

The engine marks devices dirty as heartbeats arrive; the app saves only those, every few seconds,
in one transaction (never one write per heartbeat). After a restart `load_device_states` gives the
liveness engine what it needs to judge each device on the time it has left.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import NamedTuple

from sqlalchemy import Connection, and_, bindparam, select, text

from devices.model import DeviceKind
from monitor.storage.base import table_of
from monitor.storage.db import Database
from monitor.storage.lease_store import Fence
from monitor.storage.tables import DeviceRecord

DEVICES = table_of(DeviceRecord)
#: Rows per statement: bounds the memory of one call, not the transaction (one for the whole save).
BATCH = 5_000


class DeviceStateRow(NamedTuple):
    school: str
    kind: str  # a DeviceKind (a str) or its value
    id: str
    state: str
    last_seen: float | None
    state_since: float | None


_UPDATE = (
    DEVICES.update()
    .where(
        and_(
            DEVICES.c.school == bindparam("k_school"),
            DEVICES.c.kind == bindparam("k_kind"),
            DEVICES.c.id == bindparam("k_id"),
        )
    )
    .values(state=bindparam("v_state"), last_seen=bindparam("v_last_seen"), state_since=bindparam("v_since"))
)


# PostgreSQL: one UPDATE ... FROM unnest(arrays) per batch, about twice as fast as executemany.
_UPDATE_PG = text(
    """
    UPDATE devices AS d SET state = v.state, last_seen = v.last_seen, state_since = v.state_since
    FROM unnest(CAST(:school AS text[]), CAST(:kind AS text[]), CAST(:id AS text[]), CAST(:state AS text[]),
                CAST(:last_seen AS float8[]), CAST(:since AS float8[]))
         AS v(school, kind, id, state, last_seen, state_since)
    WHERE d.school = v.school AND d.kind = v.kind AND d.id = v.id
    """
)


def _save_postgresql(conn: Connection, rows: list[DeviceStateRow]) -> None:
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        conn.execute(
            _UPDATE_PG,
            {
                "school": [r.school for r in batch],
                "kind": [str(r.kind) for r in batch],
                "id": [r.id for r in batch],
                "state": [str(r.state) for r in batch],
                "last_seen": [r.last_seen for r in batch],
                "since": [r.state_since for r in batch],
            },
        )


def _save_executemany(conn: Connection, rows: list[DeviceStateRow]) -> None:
    for start in range(0, len(rows), BATCH):
        conn.execute(
            _UPDATE,
            [
                {
                    "k_school": r.school,
                    "k_kind": str(r.kind),
                    "k_id": r.id,
                    "v_state": str(r.state),
                    "v_last_seen": r.last_seen,
                    "v_since": r.state_since,
                }
                for r in rows[start : start + BATCH]
            ],
        )


def save_device_states(db: Database, rows: Iterable[DeviceStateRow], fence: Fence | None = None) -> int:
    """Store the runtime state of these devices in one transaction; return how many distinct devices.

    A device given twice is saved as its last row. A device no longer in the registry is skipped
    silently (an import removed its row).
    """
    latest = list({(r.school, str(r.kind), r.id): r for r in rows}.values())
    if not latest:
        return 0
    with db.begin() as conn:
        if fence is not None:  # several instances: refused (`Fenced`) for a school no longer ours
            fence(conn, {r.school for r in latest})
        if db.dialect == "postgresql":
            _save_postgresql(conn, latest)
        else:
            _save_executemany(conn, latest)
    return len(latest)


def load_device_states(db: Database, heard_only: bool = False, schools: Collection[str] | None = None,
                       ) -> dict[tuple[str, DeviceKind, str], DeviceStateRow]:
    """Every registered device's stored state, keyed like `DeviceSpec.key`; with `heard_only`,
    devices never heard (`unknown`, no last_seen: a fresh import) are left out (they start
    `unknown` anyway, and a start after importing 200,000 devices need not read them)."""
    columns = (
        DEVICES.c.school,
        DEVICES.c.kind,
        DEVICES.c.id,
        DEVICES.c.state,
        DEVICES.c.last_seen,
        DEVICES.c.state_since,
    )
    out: dict[tuple[str, DeviceKind, str], DeviceStateRow] = {}
    query = select(*columns)
    if schools is not None:
        query = query.where(DEVICES.c.school.in_(list(schools)))
    if heard_only:
        query = query.where(~((DEVICES.c.state == "unknown") & DEVICES.c.last_seen.is_(None)))
    with db.begin() as conn:
        for school, kind, dev_id, state, last_seen, since in conn.execute(query):
            row = DeviceStateRow(school, DeviceKind(kind), dev_id, state, last_seen, since)
            out[(school, row.kind, dev_id)] = row  # type: ignore[index]
    return out
