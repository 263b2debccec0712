"""The device state history and the monitor's runs (runs on the database thread).

Every liveness change is appended (`device_history`), in batches, with the run's `alive_at` moved
on in the same transaction. A run opens by writing every device's state at start and closes by
writing `unknown` for every device at stop, so time the monitor was stopped reads as `unknown`. A run
left open (a crash) is closed at the next start: at its last `alive_at`, every device whose last
stored state is not `unknown` gets an `unknown` row (`monitor_crashed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, func, select, update

from devices.availability import StateChange
from monitor.storage.base import table_of
from monitor.storage.db import Database
from monitor.storage.history_tables import DeviceHistoryRecord, MonitorRunRecord
from monitor.storage.tables import DeviceRecord

HISTORY = table_of(DeviceHistoryRecord)
RUNS = table_of(MonitorRunRecord)
DEVICES = table_of(DeviceRecord)
BATCH = 5_000
DeviceKey = tuple[str, str, str]  # (school, kind, device id)


class HistoryRow(NamedTuple):
    time: float
    school: str
    kind: str
    device: str
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class RunOpened:
    run_id: int
    crashed_at: float | None  # the last sign of life of a run that never stopped, if any
    closed: int  # devices closed with `unknown` at that time


def _append(conn: Connection, rows: Sequence[HistoryRow]) -> None:
    for start in range(0, len(rows), BATCH):
        conn.execute(HISTORY.insert(), [r._asdict() for r in rows[start:start + BATCH]])


def append_history(db: Database, rows: Sequence[HistoryRow]) -> None:
    if rows:
        with db.begin() as conn:
            _append(conn, rows)


def latest_states(conn: Connection) -> dict[DeviceKey, tuple[float, str]]:
    """Every device's last stored (time, state)."""
    last = select(func.max(HISTORY.c.id)).group_by(HISTORY.c.school, HISTORY.c.kind, HISTORY.c.device)
    rows = conn.execute(select(HISTORY.c.school, HISTORY.c.kind, HISTORY.c.device, HISTORY.c.time, HISTORY.c.state)
                        .where(HISTORY.c.id.in_(last)))
    return {(r.school, r.kind, r.device): (r.time, r.state) for r in rows}


def open_run(db: Database, now: float, start_rows: Sequence[HistoryRow], stale_before: float | None = None) -> RunOpened:
    """Close runs left open by a crash, open a new one at `now`, and store every device's state at start.

    Several instances (`stale_before` given): only runs not alive since `stale_before` are closed as
    crashed, and no device state is closed with them: the instances that took their partitions over
    wrote those devices' states when they took them."""
    with db.begin() as conn:
        query = select(RUNS.c.id, RUNS.c.alive_at).where(RUNS.c.stopped_at.is_(None))
        if stale_before is not None:
            query = query.where(RUNS.c.alive_at < stale_before)
        open_runs = conn.execute(query).all()
        crashed_at = max((r.alive_at for r in open_runs), default=None)
        closed: list[HistoryRow] = []
        for run in open_runs:
            conn.execute(update(RUNS).where(RUNS.c.id == run.id).values(stopped_at=run.alive_at, ended="crashed"))
        if crashed_at is not None and stale_before is None:
            for (school, kind, device), (at, state) in latest_states(conn).items():
                if state != "unknown":
                    closed.append(HistoryRow(max(crashed_at, at), school, kind, device, "unknown", "monitor_crashed"))
            _append(conn, closed)
        run_id = conn.execute(RUNS.insert().values(started_at=now, alive_at=now).returning(RUNS.c.id)).scalar_one()
        _append(conn, start_rows)
    return RunOpened(int(run_id), crashed_at, len(closed))


def mark_alive(db: Database, run_id: int, now: float, rows: Sequence[HistoryRow]) -> None:
    """Append changes and note that the run was alive at `now`, in one transaction."""
    with db.begin() as conn:
        _append(conn, rows)
        conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(alive_at=now))


def close_run(db: Database, run_id: int, now: float, rows: Sequence[HistoryRow]) -> None:
    """The last changes and the closing `unknown` rows; the run stopped cleanly at `now`."""
    with db.begin() as conn:
        _append(conn, rows)
        conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(alive_at=now, stopped_at=now, ended="stopped"))


def read_history(db: Database, schools: Iterable[str], start: float, end: float) -> dict[DeviceKey, list[StateChange]]:
    """Each registered device's changes in `[start, end)`, led by its last change before `start` (so its
    state at the start is known), oldest first."""
    wanted = sorted(set(schools))
    h = HISTORY.alias("h")
    before = (
        select(h.c.id)
        .where(h.c.school == DEVICES.c.school, h.c.kind == DEVICES.c.kind, h.c.device == DEVICES.c.id,
               h.c.time < start)
        .order_by(h.c.time.desc(), h.c.id.desc())
        .limit(1)
        .correlate(DEVICES)
        .scalar_subquery()
    )
    out: dict[DeviceKey, list[StateChange]] = {}
    cols = (HISTORY.c.school, HISTORY.c.kind, HISTORY.c.device, HISTORY.c.time, HISTORY.c.state)
    with db.begin() as conn:
        ids = select(before).where(DEVICES.c.school.in_(wanted))
        leading = conn.execute(select(*cols).where(HISTORY.c.id.in_(ids))).all()
        inside = conn.execute(
            select(*cols)
            .where(HISTORY.c.school.in_(wanted), HISTORY.c.time >= start, HISTORY.c.time < end)
            .order_by(HISTORY.c.time, HISTORY.c.id)
        ).all()
    for rows in (leading, inside):  # plain tuples: a month of a district is ~10^6 rows
        for school, kind, device, at, state in rows:
            key = (school, kind, device)
            changes = out.get(key)
            if changes is None:
                out[key] = changes = []
            changes.append((at, state))
    return out
