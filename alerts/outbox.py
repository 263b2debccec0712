"""The durable outbox: alert changes and their notices stored together; a sender that delivers them.

`record_changes(session, changes, notices)` runs in the caller's transaction (the one that stores the
alert change). `OutboxSender` works the `outbox` table, one asyncio task per receiver: oldest first,
grouped per school (`alerts.grouping.next_batch`), a failing batch blocks that receiver's later ones
(order is kept), retried with exponential backoff and jitter under the same `Idempotency-Key`, and
given up (dead) once older than `dead_after_s` or refused for good. All state is in the table, so a
restarted sender carries on where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alerts.grouping import Queued, next_batch
from alerts.model import Alert, AlertChange, AlertState, ChangeKind, MaintenanceWindow
from alerts.receivers import DeliveryError, deliver
from alerts.routing import Message, Notice, Receiver, compose
from monitor.storage.alert_tables import (
    AlertHistoryRecord,
    AlertRecord,
    MaintenanceWindowRecord,
    OutboxRecord,
)
from monitor.storage.db import Database

log = logging.getLogger(__name__)


# ---- writing, in the caller's transaction --------------------------------------------------------


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
                state="pending",
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


def load_open_alerts(session: Session) -> list[Alert]:
    """Open alerts, for `AlertBook.restore` at start."""
    rows = session.scalars(select(AlertRecord).where(AlertRecord.state != "resolved").order_by(AlertRecord.started_at))
    return [alert_from_record(r) for r in rows]


def load_last_tests(session: Session) -> dict[tuple[str, str], float]:
    """The last test press of each alarm panel, for `AlertBook.note_test` at start."""
    rows = session.execute(
        select(AlertRecord.school, AlertRecord.subject, func.max(AlertRecord.started_at))
        .where(AlertRecord.rule == "alarm_test")
        .group_by(AlertRecord.school, AlertRecord.subject)
    )
    return {(school, panel): at for school, panel, at in rows}


def list_outbox(session: Session, state: str = "dead", receiver: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox rows in a state (dead letters by default), newest first: for the API."""
    query = select(OutboxRecord).where(OutboxRecord.state == state)
    if receiver is not None:
        query = query.where(OutboxRecord.receiver == receiver)
    rows = session.scalars(query.order_by(OutboxRecord.id.desc()).limit(limit))
    return [
        {
            "id": r.id, "receiver": r.receiver, "idempotency_key": r.idempotency_key, "alert_id": r.alert_id,
            "school": r.school, "state": r.state, "attempts": r.attempts, "created": r.created,
            "last_error": r.last_error, "body": r.body,
        }
        for r in rows
    ]


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


# ---- the sender ------------------------------------------------------------------------------


@dataclass
class OutboxStats:
    """Plain numbers for the metrics collector: `campus_notifications_total{receiver,outcome}`
    (outcome `sent`, `retry`, `dead`) and `campus_notification_queue_depth{receiver}` (pending rows)."""

    notifications: Counter[tuple[str, str]] = field(default_factory=Counter)
    queue_depth: dict[str, int] = field(default_factory=dict)

    def total_queue_depth(self) -> int:
        return sum(self.queue_depth.values())


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 1.0
    max_s: float = 300.0

    def delay(self, attempts: int, rng: Callable[[], float]) -> float:
        """Exponential in the attempts made, with "equal jitter": half fixed, half random."""
        ceiling = min(self.max_s, self.base_s * 2 ** max(0, attempts - 1))
        return ceiling / 2 + rng() * ceiling / 2


@dataclass(frozen=True, slots=True)
class _Batch:
    head: int
    ids: tuple[int, ...]
    message: Message
    created: float


class OutboxSender:
    def __init__(
        self,
        db: Database,
        receivers: Sequence[Receiver],
        *,
        group_window_s: float,
        dead_after_s: float = 86400.0,
        backoff: Backoff = Backoff(),
        poll_s: float = 5.0,
        stats: OutboxStats | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        http: aiohttp.ClientSession | None = None,
        in_db: Callable[..., Awaitable[Any]] | None = None,
    ) -> None:
        """`in_db(fn, *args)` runs table work off the loop; the service passes its one database thread
        so SQLite never has two writers waiting on each other (default: asyncio.to_thread)."""
        self.db = db
        self._in_db = in_db or asyncio.to_thread
        self.receivers = {r.name: r for r in receivers}
        self.group_window_s = group_window_s
        self.dead_after_s = dead_after_s
        self.backoff = backoff
        self.poll_s = poll_s
        self.stats = stats or OutboxStats()
        self.clock = clock
        self.rng = rng
        self._http = http
        self._events: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self, receivers: Iterable[str] | None = None) -> None:
        """New rows are committed: look now. Safe to call from any thread."""
        names = list(self.receivers) if receivers is None else list(receivers)
        loop = self._loop
        if loop is None:
            return
        for name in names:
            event = self._events.get(name)
            if event is None:
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                event.set()
            else:
                loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Deliver until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._events = {name: asyncio.Event() for name in self.receivers}
        own_http = self._http is None
        http = self._http or aiohttp.ClientSession()
        try:
            await self._in_db(self._warn_unknown_receivers)
            async with asyncio.TaskGroup() as tasks:
                for receiver in self.receivers.values():
                    tasks.create_task(self._work(http, receiver), name=f"outbox-{receiver.name}")
        finally:
            if own_http:
                await http.close()

    def _warn_unknown_receivers(self) -> None:
        with self.db.session() as s:
            names = s.scalars(select(OutboxRecord.receiver).where(OutboxRecord.state == "pending").distinct()).all()
        for name in names:
            if name not in self.receivers:
                log.warning("outbox: pending messages for receiver %s, which is no longer configured", name)

    async def _work(self, http: aiohttp.ClientSession, receiver: Receiver) -> None:
        event = self._events[receiver.name]
        while True:
            event.clear()
            try:
                batch, wake_at = await self._in_db(self._next, receiver.name)
            except Exception:
                log.exception("outbox %s: cannot read the outbox; trying again", receiver.name)
                batch, wake_at = None, self.clock() + self.poll_s
            if batch is None:
                timeout = self.poll_s if wake_at is None else max(0.0, min(self.poll_s, wake_at - self.clock()))
                try:
                    await asyncio.wait_for(event.wait(), timeout)
                except TimeoutError:
                    pass
                continue
            await self._attempt(http, receiver, batch)

    async def _attempt(self, http: aiohttp.ClientSession, receiver: Receiver, batch: _Batch) -> None:
        try:
            await deliver(http, receiver, batch.message, self.clock())
        except DeliveryError as exc:
            await self._in_db(self._failed, receiver.name, batch, exc)
            return
        except Exception as exc:  # a bug in rendering must not stop the receiver's queue for good
            log.exception("outbox %s: sending batch %d failed unexpectedly", receiver.name, batch.head)
            await self._in_db(self._failed, receiver.name, batch, DeliveryError(repr(exc), retryable=True))
            return
        await self._in_db(self._sent, receiver.name, batch)

    # -- table work (in a worker thread) --

    def _next(self, receiver: str) -> tuple[_Batch | None, float | None]:
        now = self.clock()
        with self.db.session() as s:
            rows = s.scalars(
                select(OutboxRecord)
                .where(OutboxRecord.receiver == receiver, OutboxRecord.state == "pending")
                .order_by(OutboxRecord.id)
                .limit(1000)
            ).all()
            self.stats.queue_depth[receiver] = s.scalar(
                select(func.count()).select_from(OutboxRecord).where(OutboxRecord.receiver == receiver, OutboxRecord.state == "pending")
            ) or 0
            queue = [Queued(r.id, r.school, r.created, r.hold_until, r.urgent, r.batch, r.next_attempt) for r in rows]
            pick = next_batch(queue, now, self.group_window_s)
            if pick.head is None:
                return None, pick.wake_at
            by_id = {r.id: r for r in rows}
            members = [by_id[i] for i in pick.ids]
            for row in members:
                row.batch = pick.head  # the batch (and its key) is fixed from its first attempt on
            head = by_id[pick.head]
            message = compose(receiver, head.idempotency_key, [r.body for r in members], urgent=head.urgent)
            return _Batch(pick.head, pick.ids, message, min(r.created for r in members)), None

    def _sent(self, receiver: str, batch: _Batch) -> None:
        now = self.clock()
        with self.db.session() as s:
            s.execute(update(OutboxRecord).where(OutboxRecord.id.in_(batch.ids)).values(state="sent", sent_at=now))
        self.stats.notifications[(receiver, "sent")] += 1
        log.debug("outbox %s: sent %s (%d alerts) %.3f s after the change", receiver, batch.message.key, len(batch.message.alerts), now - batch.created)

    def _failed(self, receiver: str, batch: _Batch, exc: DeliveryError) -> None:
        now = self.clock()
        with self.db.session() as s:
            rows = s.scalars(select(OutboxRecord).where(OutboxRecord.id.in_(batch.ids))).all()
            attempts = max((r.attempts for r in rows), default=0) + 1
            dead = not exc.retryable or now - batch.created >= self.dead_after_s
            delay = self.backoff.delay(attempts, self.rng)
            for row in rows:
                row.attempts = attempts
                row.last_error = str(exc)[:1000]
                if dead:
                    row.state = "dead"
                else:
                    row.next_attempt = now + delay
        if dead:
            self.stats.notifications[(receiver, "dead")] += 1
            log.error("outbox %s: message %s is a dead letter after %d attempts: %s", receiver, batch.message.key, attempts, exc)
        else:
            self.stats.notifications[(receiver, "retry")] += 1
            log.warning("outbox %s: attempt %d of %s failed, next in %.1f s: %s", receiver, attempts, batch.message.key, delay, exc)
