"""Alerts in the database: their latest state and history, the outbox rows written with them, the
maintenance windows, and the queries the API and pages make of them.

`record_changes(session, changes, notices)` runs in the caller's transaction (the one that stores
the alert change), so an alert change and its messages are stored together or not at all.
`store_writes` stores a run of them, alarm events with their alerts, in one transaction: an event
is never stored without its alert and outbox rows, nor they without it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from alerts.model import Alert, AlertChange, AlertState, ChangeKind, MaintenanceWindow
from alerts.routing import Notice
from devices.events import AlarmEvent
from monitor.storage.alert_tables import (
    AlertAckRequest,
    AlertHistoryRecord,
    AlertRecord,
    MaintenanceWindowRecord,
    OutboxRecord,
)
from monitor.storage.db import Database
from monitor.storage.event_store import ALARM_EVENTS, insert_alarm_event
from monitor.storage.lease_store import Fence
from monitor.storage.query import where_given


def _snapshot(alert: Alert) -> dict[str, Any]:
    data = asdict(alert)
    data["state"] = str(alert.state)
    return data


def record_changes(session: Session, changes: Iterable[AlertChange], notices: Iterable[Notice]) -> None:
    """Store alert changes (latest snapshot + history) and their notices (outbox rows)."""
    for change in changes:
        alert = change.alert
        session.merge(
            AlertRecord(
                id=alert.id, rule=alert.rule, severity=alert.severity, state=str(alert.state),
                school=alert.school, subject=alert.subject, zone=alert.zone, summary=alert.summary,
                summaries=dict(alert.summaries), detail=dict(alert.detail), event_id=alert.event_id,
                started_at=alert.started_at, updated_at=alert.updated_at, acked_by=alert.acked_by,
                acked_at=alert.acked_at, note=alert.note, escalation=alert.escalation,
                flapping=alert.flapping, notified=alert.notified, version=alert.version,
            )
        )
        session.flush()
        session.add(
            AlertHistoryRecord(
                alert_id=alert.id, version=alert.version, kind=str(change.kind), state=str(alert.state),
                at=change.at, actor=alert.acked_by if change.kind in (ChangeKind.ACKNOWLEDGED,) or (
                    change.kind is ChangeKind.RESOLVED and alert.acked_at == change.at) else None,
                note=alert.note, notified=change.notify, snapshot=_snapshot(alert),
            )
        )
        if change.kind is ChangeKind.WITHHELD:
            session.execute(
                update(OutboxRecord)
                .where(OutboxRecord.alert_id == alert.id, OutboxRecord.state == "pending", OutboxRecord.batch.is_(None))
                .values(state="withdrawn")
            )
    for notice in notices:
        session.add(
            OutboxRecord(
                receiver=notice.receiver, idempotency_key=notice.key, alert_id=notice.alert_id,
                school=notice.school, body=notice.body, urgent=notice.urgent, created=notice.created,
                hold_until=notice.hold_until, batch=None, attempts=0, next_attempt=notice.hold_until,
                state="pending", kind="alert",
            )
        )
    session.flush()


# ---- reading back ----------------------------------------------------------------------------


def alert_from_record(rec: AlertRecord) -> Alert:
    return Alert(
        id=rec.id, rule=rec.rule, severity=rec.severity, state=AlertState(rec.state), school=rec.school,
        subject=rec.subject, zone=rec.zone, summary=rec.summary, started_at=rec.started_at,
        updated_at=rec.updated_at, acked_by=rec.acked_by, acked_at=rec.acked_at, note=rec.note,
        event_id=rec.event_id, escalation=rec.escalation, flapping=rec.flapping, notified=rec.notified,
        version=rec.version, summaries=dict(rec.summaries or {}), detail=dict(rec.detail or {}),
    )


def load_open_alerts(session: Session, schools: Collection[str] | None = None) -> list[Alert]:
    """Open alerts (of `schools` only, when given), for `AlertBook.restore` at start or a take-over."""
    query = select(AlertRecord).where(AlertRecord.state != "resolved")
    if schools is not None:
        query = query.where(AlertRecord.school.in_(list(schools)))
    rows = session.scalars(query.order_by(AlertRecord.started_at))
    return [alert_from_record(r) for r in rows]


def load_last_tests(session: Session) -> dict[tuple[str, str], float]:
    """The last test press of each alarm panel, for `AlertBook.note_test` at start."""
    rows = session.execute(
        select(AlertRecord.school, AlertRecord.subject, func.max(AlertRecord.started_at))
        .where(AlertRecord.rule == "alarm_test")
        .group_by(AlertRecord.school, AlertRecord.subject)
    )
    return {(school, panel): at for school, panel, at in rows}


def save_maintenance(session: Session, window: MaintenanceWindow, now: float) -> None:
    session.merge(
        MaintenanceWindowRecord(
            id=window.id, school=window.school, zone=window.zone, starts=window.starts, ends=window.ends,
            reason=window.reason, created_by=window.created_by, created_at=now,
        )
    )


def delete_maintenance(session: Session, window_id: str) -> bool:
    record = session.get(MaintenanceWindowRecord, window_id)
    if record is None:
        return False
    session.delete(record)
    return True


def load_maintenance(session: Session, now: float) -> list[MaintenanceWindow]:
    """Windows not yet over, for `AlertBook.set_maintenance`."""
    rows = session.scalars(select(MaintenanceWindowRecord).where(MaintenanceWindowRecord.ends > now).order_by(MaintenanceWindowRecord.starts))
    return [
        MaintenanceWindow(id=r.id, school=r.school, starts=r.starts, ends=r.ends, zone=r.zone, reason=r.reason, created_by=r.created_by)
        for r in rows
    ]




# ---- for the API and pages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertWrite:
    """Alert changes and their outbox rows, and the alarm event they come from (if any)."""

    changes: Sequence[AlertChange]
    notices: Sequence[Notice]
    event: AlarmEvent | None = None


def store_writes(db: Database, writes: Sequence[AlertWrite], fence: Fence | None = None) -> list[bool]:
    """Store the writes in order in one transaction. For each: whether its event is new (True when it
    has none). The changes of an event that was stored before are not stored again: the event was
    alerted when it was first stored. With `fence` (several instances), the transaction is refused
    (`Fenced`) when this instance no longer owns a school written."""
    out: list[bool] = []
    with db.session() as s:
        if fence is not None:
            fence(s.connection(), {c.alert.school for w in writes for c in w.changes}
                  | {w.event.school for w in writes if w.event is not None})
        for w in writes:
            new = True if w.event is None else insert_alarm_event(s, db.dialect, w.event)
            if new:
                record_changes(s, w.changes, w.notices)
            out.append(new)
    return out


def events_without_alert(db: Database, since: float) -> list[AlarmEvent]:
    """Presses and tampers received since `since` that have no alert (stored by a version that wrote
    the alert later, and cut off by a crash in between): to be alerted at start. Oldest first; the
    event's kind is left to the caller (ALARM here)."""
    e = ALARM_EVENTS.c
    alerted = select(AlertRecord.id).where(AlertRecord.event_id == e.event_id, AlertRecord.school == e.school,
                                           AlertRecord.subject == e.device).exists()
    with db.begin() as conn:
        rows = conn.execute(select(e.school, e.device, e.event_id, e.type, e.ts, e.received)
                            .where(e.received >= since, e.type.in_(("press", "tamper")), ~alerted)
                            .order_by(e.received, e.id)).all()
    return [AlarmEvent(r.school, r.device, r.event_id, r.type, r.ts, r.received) for r in rows]


def store_changes(db: Database, changes: list[AlertChange], notices: list[Notice]) -> None:
    """Alert changes and their outbox rows in one transaction."""
    with db.session() as s:
        record_changes(s, changes, notices)


def open_alerts(db: Database, schools: Collection[str] | None = None) -> list[Alert]:
    with db.session() as s:
        return load_open_alerts(s, schools)


def restore_state(db: Database, now: float) -> tuple[list[Alert], dict[tuple[str, str], float], list[MaintenanceWindow]]:
    """What the alert book needs at start: open alerts, last test presses, maintenance windows."""
    with db.session() as s:
        return load_open_alerts(s), load_last_tests(s), load_maintenance(s, now)


def maintenance_windows(db: Database, now: float) -> list[MaintenanceWindow]:
    with db.session() as s:
        return load_maintenance(s, now)


def query_alerts(db: Database, schools: set[str] | None, state: str | None, rule: str | None,
                 severity: str | None, offset: int, limit: int) -> tuple[list[AlertRecord], bool]:
    """Alerts newest first, one page (`offset`, `limit`) and whether more follow."""
    with db.session() as s:
        q = where_given(select(AlertRecord), AlertRecord.school, schools,
                        [(AlertRecord.state, state), (AlertRecord.rule, rule), (AlertRecord.severity, severity)])
        rows = s.scalars(q.order_by(AlertRecord.started_at.desc(), AlertRecord.id).offset(offset).limit(limit + 1)).all()
        return list(rows[:limit]), len(rows) > limit


def page_alerts(db: Database, schools: set[str] | None, states: set[str] | None, rules: set[str] | None,
                severities: set[str] | None, subject: str | None, limit: int) -> tuple[list[AlertRecord], int]:
    """For the alerts page: newest first, up to `limit`, and how many match in all. A `None` filter
    admits everything."""
    with db.session() as s:
        q = where_given(select(AlertRecord), AlertRecord.school, schools, [(AlertRecord.subject, subject)])
        for column, wanted in ((AlertRecord.state, states), (AlertRecord.rule, rules), (AlertRecord.severity, severities)):
            if wanted is not None:
                q = q.where(column.in_(sorted(wanted)))
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.scalars(q.order_by(AlertRecord.started_at.desc(), AlertRecord.id).limit(limit)).all()
        return list(rows), int(total)


def alert_with_history(db: Database, alert_id: str) -> tuple[AlertRecord, list[AlertHistoryRecord]] | None:
    with db.session() as s:
        r = s.get(AlertRecord, alert_id)
        if r is None:
            return None
        history = s.scalars(select(AlertHistoryRecord).where(AlertHistoryRecord.alert_id == alert_id)
                            .order_by(AlertHistoryRecord.version, AlertHistoryRecord.id)).all()
        return r, list(history)


def count_firing_alerts(db: Database) -> dict[str, dict[str, int]]:
    """school -> severity -> firing alerts (not yet acknowledged); for the overview page."""
    with db.session() as s:
        rows = s.execute(select(AlertRecord.school, AlertRecord.severity, func.count())
                         .where(AlertRecord.state == "firing").group_by(AlertRecord.school, AlertRecord.severity))
        out: dict[str, dict[str, int]] = {}
        for school, severity, n in rows:
            out.setdefault(school, {})[severity] = n
        return out


def count_open_by_rule(db: Database) -> dict[str, dict[str, int]]:
    """school -> rule -> alerts not yet resolved."""
    with db.session() as s:
        rows = s.execute(select(AlertRecord.school, AlertRecord.rule, func.count())
                         .where(AlertRecord.state != "resolved").group_by(AlertRecord.school, AlertRecord.rule))
        out: dict[str, dict[str, int]] = {}
        for school, rule, n in rows:
            out.setdefault(school, {})[rule] = n
        return out


def alert_school(db: Database, alert_id: str) -> str | None:
    with db.session() as s:
        return s.scalar(select(AlertRecord.school).where(AlertRecord.id == alert_id))


# ---- acknowledgements asked of another instance (contract §9) -------------------------------------


def request_ack(db: Database, alert_id: str, actor: str, note: str | None, at: float) -> str | None:
    """Record an acknowledgement for the owning instance to apply when the alert is firing; the
    alert's state (the request is recorded only when it is "firing"), None when there is no such alert."""
    with db.session() as s:
        r = s.get(AlertRecord, alert_id)
        if r is None:
            return None
        if r.state == AlertState.FIRING:
            s.add(AlertAckRequest(alert_id=alert_id, school=r.school, actor=actor, note=note, at=at))
        return str(r.state)


def ack_requests(db: Database, schools: Collection[str]) -> list[tuple[int, str, str, str | None, float]]:
    """The requests for these schools, oldest first: (id, alert_id, actor, note, at)."""
    if not schools:
        return []
    with db.session() as s:
        rows = s.execute(select(AlertAckRequest.id, AlertAckRequest.alert_id, AlertAckRequest.actor,
                                AlertAckRequest.note, AlertAckRequest.at)
                         .where(AlertAckRequest.school.in_(sorted(schools))).order_by(AlertAckRequest.id))
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def alert_states(db: Database, alert_ids: Collection[str]) -> dict[str, str]:
    with db.session() as s:
        rows = s.execute(select(AlertRecord.id, AlertRecord.state).where(AlertRecord.id.in_(sorted(alert_ids))))
        return {r[0]: r[1] for r in rows}


def drop_ack_requests(db: Database, ids: Collection[int]) -> None:
    if not ids:
        return
    with db.session() as s:
        s.execute(delete(AlertAckRequest).where(AlertAckRequest.id.in_(sorted(ids))))


# ---- maintenance windows ----------------------------------------------------------------------


def query_windows(db: Database, schools: set[str] | None, now: float) -> list[MaintenanceWindowRecord]:
    with db.session() as s:
        q = select(MaintenanceWindowRecord).where(MaintenanceWindowRecord.ends > now)
        if schools is not None:
            q = q.where(MaintenanceWindowRecord.school.in_(sorted(schools)))
        return list(s.scalars(q.order_by(MaintenanceWindowRecord.starts, MaintenanceWindowRecord.id)))


def save_window(db: Database, w: MaintenanceWindow, now: float) -> None:
    with db.session() as s:
        save_maintenance(s, w, now)


def remove_window(db: Database, window_id: str) -> str | None:
    """The deleted window's school, or None when there was none."""
    with db.session() as s:
        r = s.get(MaintenanceWindowRecord, window_id)
        if r is None:
            return None
        school = r.school
        s.delete(r)
        return school


def window_school(db: Database, window_id: str) -> str | None:
    with db.session() as s:
        return s.scalar(select(MaintenanceWindowRecord.school).where(MaintenanceWindowRecord.id == window_id))
