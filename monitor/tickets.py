"""The tickets edge: feeds the judge's down/up judgements to `alerts.tickets.TicketBook`, runs its
timer, stores every change with its note and an audit row, and keeps the figures for `/metrics`.

Also the audit log writer used by every API and page action (`write_audit`): who (the token's
holder, its id and role), when, what (action and target), and from where (client address, api or
page). The rules' own actions are recorded as `system` via `rule`.

Threads: the book lives on the asyncio loop; storage runs on the app's database thread. Changes are
queued and written in order; one the database refused is kept and written at the next tick.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.tickets import (
    SYSTEM,
    Action,
    DeviceKey,
    Ticket,
    TicketBook,
    TicketChange,
    TicketRules,
    TicketStatus,
)
from devices.events import Judgement
from devices.liveness import LIVE_STATES, State
from monitor.storage.db import Database
from monitor.storage.query import where_given
from monitor.storage.ticket_tables import AuditRecord, TicketNoteRecord, TicketRecord

log = logging.getLogger(__name__)

TICK_EVERY_S = 0.5
#: The rules whose subject is a device a crew can repair, and the device kind they name.
DEVICE_RULES = {"camera_down": "camera", "alarm_panel_down": "alarm", "bus_gps_lost": "gps"}
#: Repair time buckets (seconds): 10 min to a week.
REPAIR_BUCKETS = (600.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0, 7 * 86400.0)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and from where: a token's holder through the API or a page, or the rules."""

    name: str
    token_id: int | None = None
    role: str | None = None
    remote: str | None = None
    via: str = "rule"  # api, page, rule


RULES_ACTOR = Actor(SYSTEM)


# ---- storage (database thread) -----------------------------------------------------------------


def ticket_from_record(r: TicketRecord) -> Ticket:
    return Ticket(
        id=r.id, school=r.school, kind=r.kind, device=r.device, zone=r.zone, status=TicketStatus(r.status),
        opened_at=r.opened_at, updated_at=r.updated_at, opened_by=r.opened_by, down_since=r.down_since,
        assignee=r.assignee, resolved_at=r.resolved_at, resolved_by=r.resolved_by, closed_at=r.closed_at,
        reopened=r.reopened, notes=r.notes, version=r.version,
    )


def write_audit(session: Session, actor: Actor, action: str, target: str, school: str | None,
                at: float, detail: dict[str, Any] | None = None) -> None:
    session.add(AuditRecord(at=at, actor=actor.name, token_id=actor.token_id, role=actor.role, action=action,
                            target=target, school=school, remote=actor.remote, via=actor.via, detail=detail or {}))


def audit(db: Database, actor: Actor, action: str, target: str, school: str | None, at: float,
          detail: dict[str, Any] | None = None) -> None:
    with db.session() as s:
        write_audit(s, actor, action, target, school, at, detail)


def save_changes(db: Database, items: list[tuple[TicketChange, Actor]]) -> None:
    with db.session() as s:
        for change, actor in items:
            t = change.ticket
            s.merge(TicketRecord(
                id=t.id, school=t.school, kind=t.kind, device=t.device, zone=t.zone, status=str(t.status),
                opened_at=t.opened_at, updated_at=t.updated_at, opened_by=t.opened_by, down_since=t.down_since,
                assignee=t.assignee, resolved_at=t.resolved_at, resolved_by=t.resolved_by, closed_at=t.closed_at,
                reopened=t.reopened, notes=t.notes, version=t.version,
            ))
            s.flush()
            if change.note:
                s.add(TicketNoteRecord(ticket_id=t.id, at=change.at, author=change.actor, action=str(change.action),
                                       text=change.note))
            detail: dict[str, Any] = {"status": str(t.status), "device": t.device, "kind": t.kind}
            if change.note:
                detail["note"] = change.note
            if t.assignee:
                detail["assignee"] = t.assignee
            write_audit(s, actor, f"ticket.{change.action}", t.id, t.school, change.at, detail)


def load_open(db: Database) -> list[Ticket]:
    with db.session() as s:
        rows = s.scalars(select(TicketRecord).where(TicketRecord.status != "closed").order_by(TicketRecord.opened_at))
        return [ticket_from_record(r) for r in rows]


def load_repair_times(db: Database) -> list[float]:
    with db.session() as s:
        rows = s.execute(select(TicketRecord.down_since, TicketRecord.opened_at, TicketRecord.closed_at)
                         .where(TicketRecord.status == "closed"))
        return [closed - (down if down is not None else opened) for down, opened, closed in rows if closed is not None]


def list_tickets(db: Database, schools: set[str] | None, status: str | None, device: str | None,
                 assignee: str | None) -> list[Ticket]:
    """Newest first. `schools=None` means every school."""
    with db.session() as s:
        q = where_given(select(TicketRecord), TicketRecord.school, schools,
                        [(TicketRecord.status, status), (TicketRecord.device, device), (TicketRecord.assignee, assignee)])
        rows = s.scalars(q.order_by(TicketRecord.opened_at.desc(), TicketRecord.id))
        return [ticket_from_record(r) for r in rows]


def get_ticket(db: Database, ticket_id: str) -> tuple[Ticket, list[dict[str, Any]]] | None:
    with db.session() as s:
        r = s.get(TicketRecord, ticket_id)
        if r is None:
            return None
        notes = s.scalars(select(TicketNoteRecord).where(TicketNoteRecord.ticket_id == ticket_id)
                          .order_by(TicketNoteRecord.at, TicketNoteRecord.id))
        return ticket_from_record(r), [
            {"at": n.at, "author": n.author, "action": n.action, "text": n.text} for n in notes
        ]


def list_audit(db: Database, schools: set[str] | None, target: str | None, action: str | None,
               since: float | None, limit: int) -> list[dict[str, Any]]:
    """Newest first."""
    with db.session() as s:
        q = select(AuditRecord)
        if schools is not None:
            q = q.where(AuditRecord.school.in_(sorted(schools)))
        if target is not None:
            q = q.where(AuditRecord.target == target)
        if action is not None:
            q = q.where(AuditRecord.action == action)
        if since is not None:
            q = q.where(AuditRecord.at >= since)
        rows = s.scalars(q.order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(limit))
        return [
            {"id": r.id, "at": r.at, "actor": r.actor, "token_id": r.token_id, "role": r.role, "action": r.action,
             "target": r.target, "school": r.school, "remote": r.remote, "via": r.via, "detail": r.detail}
            for r in rows
        ]


# ---- the desk (asyncio loop) -------------------------------------------------------------------


class TicketDesk:
    """The running ticket rules of one app. `install(app)` wires it; `start()`/`stop()` run its timer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        cfg = app.cfg.tickets
        self.book = TicketBook(TicketRules(cfg.open_after_s, cfg.verify_s, cfg.reopen_after_s))
        self.repair_times: list[float] = []
        self._unsaved: list[tuple[TicketChange, Actor]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._ready = False
        self._early: list[Judgement] = []

    # -- lifecycle --

    async def start(self) -> None:
        stored = await self.app.db_call(load_open)
        self.repair_times = sorted(await self.app.db_call(load_repair_times))
        now = self.app.clock()
        self.book.restore(stored, self._health(now))
        self._ready = True
        early, self._early = self._early, []
        self.on_judgements(early)
        self._task = asyncio.create_task(self._ticker(), name="tickets")
        log.info("tickets: %d not closed at start", len(stored))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self.flush()

    def _health(self, now: float) -> Iterator[tuple[DeviceKey, bool, float, str | None]]:
        for dev in self.app.judge.devices():
            if dev.state is State.DOWN:
                yield (dev.school, str(dev.kind), dev.id), True, dev.since if dev.since is not None else now, dev.zone
            elif dev.state in LIVE_STATES:
                yield (dev.school, str(dev.kind), dev.id), False, dev.since if dev.since is not None else now, dev.zone

    async def _ticker(self) -> None:
        while True:
            try:
                self._take(self.book.tick(self.app.clock()), RULES_ACTOR)
                await self.flush()
            except Exception:  # noqa: BLE001 - the timer must survive anything
                log.exception("ticket tick failed")
            await asyncio.sleep(TICK_EVERY_S)

    # -- inputs --

    def on_judgements(self, items: list[Judgement]) -> None:
        """An `App.listeners` entry: device down and up, from the judge."""
        if not self._ready:
            self._early.extend(items)
            return
        for j in items:
            kind = DEVICE_RULES.get(str(j.rule))
            if kind is None:
                continue
            key = (j.school, kind, j.subject)
            changes = self.book.down(key, j.time, j.zone) if j.active else self.book.up(key, j.time)
            self._take(changes, RULES_ACTOR)

    def _take(self, changes: Iterable[TicketChange], actor: Actor) -> None:
        for change in changes:
            who = actor if change.actor == actor.name else RULES_ACTOR
            self._unsaved.append((change, who))
            if change.action is Action.CLOSED:
                repair = change.ticket.repair_s()
                if repair is not None:
                    bisect.insort(self.repair_times, repair)
            log.info("ticket %s %s: %s/%s %s -> %s%s", change.ticket.id, change.action, change.ticket.school,
                     change.ticket.device, change.actor, change.ticket.status,
                     f" ({change.note})" if change.note else "")

    async def flush(self) -> None:
        """Write every queued change, in order. Raises when the database refuses (kept for later)."""
        async with self._lock:
            items, self._unsaved = self._unsaved, []
            if not items:
                return
            try:
                await self.app.db_call(save_changes, items)
            except Exception:
                self._unsaved[:0] = items
                log.exception("could not store %d ticket changes; will retry", len(items))
                raise

    # -- crew actions (raise alerts.tickets.TicketError) --

    async def open_by_hand(self, key: DeviceKey, zone: str | None, actor: Actor, note: str | None) -> Ticket:
        change = self.book.open_by_hand(key, zone, actor.name, note, self.app.clock())
        return await self._act([change], actor)

    async def assign(self, ticket_id: str, assignee: str, actor: Actor) -> Ticket:
        return await self._act([self.book.assign(ticket_id, assignee, actor.name, self.app.clock())], actor)

    async def note(self, ticket_id: str, text: str, actor: Actor) -> Ticket:
        return await self._act([self.book.note(ticket_id, text, actor.name, self.app.clock())], actor)

    async def resolve(self, ticket_id: str, note: str | None, actor: Actor) -> Ticket:
        return await self._act(self.book.resolve(ticket_id, actor.name, note, self.app.clock()), actor)

    async def _act(self, changes: list[TicketChange], actor: Actor) -> Ticket:
        self._take(changes, actor)
        await self.flush()
        return changes[-1].ticket

    # -- metrics --

    def metrics(self) -> Iterator[Metric]:
        """`campus_tickets_open{school}` (every ticket not closed) and `campus_ticket_repair_seconds`."""
        per_school: Counter[str] = Counter(t.school for t in self.book.open_tickets())
        gauge = GaugeMetricFamily("campus_tickets_open", "Repair tickets not closed", labels=["school"])
        for school in self.app.registry.schools:
            gauge.add_metric([school.id], per_school.pop(school.id, 0))
        for school, n in per_school.items():  # a school gone from the registry with tickets left
            gauge.add_metric([school], n)
        yield gauge
        times = self.repair_times
        buckets = [(f"{b:g}", bisect.bisect_right(times, b)) for b in REPAIR_BUCKETS]
        buckets.append(("+Inf", len(times)))
        hist = HistogramMetricFamily("campus_ticket_repair_seconds",
                                     "Time from a device going down (or its ticket opening) to its ticket closing")
        hist.add_metric([], buckets, sum_value=sum(times))
        yield hist
