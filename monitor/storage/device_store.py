"""Device runtime state (state, last_seen, state_since), saved in batches and loaded at start.

The engine marks devices dirty as heartbeats arrive; the app saves only those, every few seconds,
in one transaction (never one write per heartbeat). After a restart `load_device_states` gives the
liveness engine what it needs to judge each device on the time it has left.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Table, and_, bindparam, select

from devices.model import DeviceKind
from monitor.storage.db import Database
from monitor.storage.tables import DeviceRecord

DEVICES: Table = DeviceRecord.__table__  # type: ignore[assignment]
#: Rows per executemany call: bounds the memory of one call, not the transaction.
BATCH = 20_000


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


def save_device_states(db: Database, rows: Iterable[DeviceStateRow]) -> int:
    """Store the runtime state of these devices in one transaction; return how many were given.

    A device no longer in the registry is skipped silently (its row was removed by an import).
    """
    params = [
        {
            "k_school": r.school,
            "k_kind": str(r.kind),
            "k_id": r.id,
            "v_state": str(r.state),
            "v_last_seen": r.last_seen,
            "v_since": r.state_since,
        }
        for r in rows
    ]
    if not params:
        return 0
    with db.begin() as conn:
        for start in range(0, len(params), BATCH):
            conn.execute(_UPDATE, params[start : start + BATCH])
    return len(params)


def load_device_states(db: Database) -> dict[tuple[str, DeviceKind, str], DeviceStateRow]:
    """Every registered device's stored state, keyed like `DeviceSpec.key`."""
    columns = (
        DEVICES.c.school,
        DEVICES.c.kind,
        DEVICES.c.id,
        DEVICES.c.state,
        DEVICES.c.last_seen,
        DEVICES.c.state_since,
    )
    out: dict[tuple[str, DeviceKind, str], DeviceStateRow] = {}
    with db.begin() as conn:
        for school, kind, dev_id, state, last_seen, since in conn.execute(select(*columns)):
            row = DeviceStateRow(school, DeviceKind(kind), dev_id, state, last_seen, since)
            out[(school, row.kind, dev_id)] = row  # type: ignore[index]
    return out
