"""The ticket desk: feeds the judge's down/up judgements to `alerts.tickets.TicketBook`, runs its
timer, stores every change (with its note and an audit row) through `monitor.storage.ticket_store`,
and keeps the figures for `/metrics`.

Several instances (contract §9): the book holds the tickets of the schools this instance judges.
A partition taken loads its schools' open tickets as stored (`take`), one lost forgets them
(`let_go`). A crew acting through an instance that does not judge the school acts on the ticket as
stored (read afresh first) and writes it; the judging instance reads its schools' tickets changed
since its last look every `SYNC_EVERY_S` and takes the newer version (`TicketBook.merge`), so its
rules (verify, close, reopen) go on from what the crew did. Two instances changing one ticket in
the same second: the later write wins.

Threads: the book lives on the asyncio loop; storage runs on the database thread. Changes are
queued and written in order; one the database refused is kept and written at the next tick. A
refusal is told to `DbHealth` (one log line per outage for the whole service), not logged per try.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator

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
from monitor.storage.ticket_store import load_changed, load_open, load_repair_times, load_ticket, save_changes
from monitor.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)

TICK_EVERY_S = 0.5
SYNC_EVERY_S = 2.0  # several instances: tickets of owned schools changed through other instances
SYNC_OVERLAP_S = 30.0  # read back this far before the last look (clocks of instances differ a little)
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
        self._sync_task: asyncio.Task[None] | None = None
        self._owned: set[str] = set()  # several instances: the schools whose tickets the book holds
        self._synced = float("-inf")  # several instances: when `_sync` last looked

    # -- lifecycle --

    async def start(self) -> None:
        self.repair_times = sorted(await self.db.call(load_repair_times))
        if self.owns is not None:  # several instances: each partition's tickets are loaded when it is taken
            self._task = every(TICK_EVERY_S, self._tick, "tickets")
            self._sync_task = every(SYNC_EVERY_S, self._sync, "tickets-sync")
            return
        stored = await self.db.call(load_open)
        now = self.clock()
        self.book.restore(stored, self._health(now))
        self._task = every(TICK_EVERY_S, self._tick, "tickets")
        log.info("tickets: %d not closed at start", len(stored))

    async def stop(self) -> None:
        await cancel_and_wait([self._task, self._sync_task])
        self._task = self._sync_task = None
        await self.flush()

    async def take(self, schools: set[str]) -> None:
        """Several instances: a partition taken: its schools' open tickets as stored join the book."""
        await self._flush_quietly()
        await self._load(schools)
        self._owned |= schools

    async def let_go(self, schools: set[str]) -> None:
        """Several instances: a partition lost or handed over: its schools' tickets leave the book
        (their changes made here are written first, while the lease is still ours)."""
        await self._flush_quietly()
        self.book.let_go(schools)
        self._owned -= schools

    async def _sync(self) -> None:
        """Several instances: what crews did through other instances to the tickets of schools judged here."""
        started = self.clock()
        if self._owned:
            changed = await self.db.call(load_changed, set(self._owned), self._synced - SYNC_OVERLAP_S)
            self.book.merge(t for t in changed if t.school in self._owned)
        self._synced = started

    async def _fresh(self, school: str | None, ticket_id: str | None = None) -> str | None:
        """Several instances: before a crew action on a school judged elsewhere, its tickets as stored
        join the book (until the action is written); that school, or None when it is judged here."""
        if self.owns is None:
            return None
        if school is None and ticket_id is not None:
            stored = await self.db.call(load_ticket, ticket_id)
            school = stored.school if stored is not None else None
        if school is None or school in self._owned:
            return None
        await self._load({school})
        return school

    async def _load(self, schools: set[str]) -> None:
        """These schools' open tickets in the book as stored, with their devices' health as judged."""
        stored = await self.db.call(load_open, schools)
        self.book.let_go(schools)
        self.book.restore(stored, self._health(self.clock(), schools))

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception:  # noqa: BLE001 - told to DbHealth; kept and written later
            pass

    def _health(self, now: float, schools: Collection[str] | None = None
                ) -> Iterator[tuple[DeviceKey, bool, float, str | None]]:
        for dev in self.judge.devices():
            if schools is not None and dev.school not in schools:
                continue
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
        return await self._act(key[0], None, lambda now: [self.book.open_by_hand(key, zone, actor.name, note, now)],
                               actor)

    async def assign(self, ticket_id: str, assignee: str, actor: Actor) -> Ticket:
        return await self._act(None, ticket_id, lambda now: [self.book.assign(ticket_id, assignee, actor.name, now)],
                               actor)

    async def note(self, ticket_id: str, text: str, actor: Actor) -> Ticket:
        return await self._act(None, ticket_id, lambda now: [self.book.note(ticket_id, text, actor.name, now)], actor)

    async def resolve(self, ticket_id: str, note: str | None, actor: Actor) -> Ticket:
        return await self._act(None, ticket_id, lambda now: self.book.resolve(ticket_id, actor.name, note, now), actor)

    async def _act(self, school: str | None, ticket_id: str | None,
                   action: Callable[[float], list[TicketChange]], actor: Actor) -> Ticket:
        elsewhere = await self._fresh(school, ticket_id)
        try:
            changes = action(self.clock())
            self._take(changes, actor)
            await self.flush()
            return changes[-1].ticket
        finally:
            if elsewhere is not None:  # judged by another instance: not kept here
                self.book.let_go({elsewhere})

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
