"""The ticket desk: feeds the judge's down/up judgements to `alerts.tickets.TicketBook`, runs its
timer, stores every change (with its note and an audit row) through `monitor.storage.ticket_store`,
and keeps the figures for `/metrics`.

Threads: the book lives on the asyncio loop; storage runs on the database thread. Changes are
queued and written in order; one the database refused is kept and written at the next tick. A
refusal is told to `DbHealth` (one log line per outage for the whole service), not logged per try.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from alerts.tickets import SYSTEM, Action, DeviceKey, Ticket, TicketBook, TicketChange, TicketRules
from devices.events import KIND_OF_DOWN_RULE, Judgement
from devices.judge import Judge
from devices.liveness import LIVE_STATES, State
from devices.model import Registry
from monitor.config import TicketsConfig
from monitor.services.dbhealth import DbHealth
from monitor.storage.audit_store import Actor
from monitor.storage.runner import DbThread
from monitor.storage.ticket_store import load_open, load_repair_times, save_changes
from monitor.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)

TICK_EVERY_S = 0.5
#: Repair time buckets (seconds): 10 min to a week.
REPAIR_BUCKETS = (600.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0, 7 * 86400.0)
RULES_ACTOR = Actor(SYSTEM)


class TicketDesk:
    """The running ticket rules; `start()`/`stop()` run its timer."""

    def __init__(self, cfg: TicketsConfig, registry: Registry, judge: Judge, db: DbThread,
                 clock: Callable[[], float], health: DbHealth | None = None,
                 owns: Callable[[str], bool] | None = None) -> None:
        """`owns(school)` (several instances): the rules' own changes (verify, close, reopen) are made
        only for the schools this instance judges."""
        self.owns = owns
        self.registry = registry
        self.judge = judge
        self.db = db
        self.clock = clock
        self.health = health or DbHealth(clock)
        self.book = TicketBook(TicketRules(cfg.open_after_s, cfg.verify_s, cfg.reopen_after_s))
        self.repair_times: list[float] = []
        self._unsaved: list[tuple[TicketChange, Actor]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle --

    async def start(self) -> None:
        stored = await self.db.call(load_open)
        self.repair_times = sorted(await self.db.call(load_repair_times))
        now = self.clock()
        self.book.restore(stored, self._health(now))
        self._task = every(TICK_EVERY_S, self._tick, "tickets")
        log.info("tickets: %d not closed at start", len(stored))

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None
        await self.flush()

    def _health(self, now: float) -> Iterator[tuple[DeviceKey, bool, float, str | None]]:
        for dev in self.judge.devices():
            if dev.state is State.DOWN:
                yield (dev.school, str(dev.kind), dev.id), True, dev.since if dev.since is not None else now, dev.zone
            elif dev.state in LIVE_STATES:
                yield (dev.school, str(dev.kind), dev.id), False, dev.since if dev.since is not None else now, dev.zone

    async def _tick(self) -> None:
        changes = self.book.tick(self.clock())
        if self.owns is not None:
            changes = [c for c in changes if self.owns(c.ticket.school)]
        self._take(changes, RULES_ACTOR)
        try:
            await self.flush()
        except Exception:  # noqa: BLE001 - told to DbHealth; kept and written at a later tick
            pass

    # -- inputs --

    def on_judgements(self, items: list[Judgement]) -> None:
        """Device down and up, from the judge."""
        for j in items:
            kind = KIND_OF_DOWN_RULE.get(str(j.rule))  # the rules whose subject is a device a crew can repair
            if kind is None:
                continue
            key = (j.school, str(kind), j.subject)
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
                await self.db.call(save_changes, items)
            except Exception as exc:
                self._unsaved[:0] = items
                self.health.failed("ticket changes", exc, len(self._unsaved))
                raise
            self.health.succeeded()

    # -- crew actions (raise alerts.tickets.TicketError) --

    async def open_by_hand(self, key: DeviceKey, zone: str | None, actor: Actor, note: str | None) -> Ticket:
        change = self.book.open_by_hand(key, zone, actor.name, note, self.clock())
        return await self._act([change], actor)

    async def assign(self, ticket_id: str, assignee: str, actor: Actor) -> Ticket:
        return await self._act([self.book.assign(ticket_id, assignee, actor.name, self.clock())], actor)

    async def note(self, ticket_id: str, text: str, actor: Actor) -> Ticket:
        return await self._act([self.book.note(ticket_id, text, actor.name, self.clock())], actor)

    async def resolve(self, ticket_id: str, note: str | None, actor: Actor) -> Ticket:
        return await self._act(self.book.resolve(ticket_id, actor.name, note, self.clock()), actor)

    async def _act(self, changes: list[TicketChange], actor: Actor) -> Ticket:
        self._take(changes, actor)
        await self.flush()
        return changes[-1].ticket

    # -- metrics --

    def metrics(self) -> Iterator[Metric]:
        """`campus_tickets_open{school}` (every ticket not closed) and `campus_ticket_repair_seconds`."""
        per_school: Counter[str] = Counter(t.school for t in self.book.open_tickets())
        gauge = GaugeMetricFamily("campus_tickets_open", "Repair tickets not closed", labels=["school"])
        for school in self.registry.schools:
            gauge.add_metric([school.id], per_school.pop(school.id, 0))
        for gone, n in per_school.items():  # a school gone from the registry with tickets left
            gauge.add_metric([gone], n)
        yield gauge
        times = self.repair_times
        buckets = [(f"{b:g}", bisect.bisect_right(times, b)) for b in REPAIR_BUCKETS]
        buckets.append(("+Inf", len(times)))
        hist = HistogramMetricFamily("campus_ticket_repair_seconds",
                                     "Time from a device going down (or its ticket opening) to its ticket closing")
        hist.add_metric([], buckets, sum_value=sum(times))
        yield hist
