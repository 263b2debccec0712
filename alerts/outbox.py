"""The outbox's rules and its sender: alert changes (and daily digests) stored as outbox rows are
delivered to their receivers.

The rows are written by the storage edge in the same transaction as the alert change
(`monitor.storage.alert_store.record_changes`); this module never touches SQL itself: it works the
table through an `OutboxTable` the edge hands it. All state is in the table, so a restarted sender
carries on where the last one stopped.

Each receiver has two lanes, each its own asyncio task:

- the *urgent* lane: alarm presses and tampering (and their later changes), each message alone;
- the *normal* lane: every other alert change, grouped per school (`alerts.grouping.next_batch`),
  and the daily digest (alone, never grouped with alerts).

Within a lane, order is kept per school: each school's messages leave oldest first, and a failing
batch blocks that school's later ones in its lane, retried with exponential backoff and jitter under the same `Idempotency-Key`, and given up (dead)
once older than `dead_after_s` or refused for good. Between lanes there is no order: a press
overtakes a storm of `camera_down` messages waiting for the same receiver, and a receiver refusing
grouped messages still gets presses. The urgent lane's backoff is capped at a few seconds
(`urgent_backoff`), so a receiver that comes back gets a waiting press within that; and whenever
one lane gets a message through, the other lane's failing batch is tried again at once (the
receiver is back).

Up to `concurrency` batches of different schools are in flight at once per lane, so a receiver that
takes 100 ms per request still gets dozens of messages a second, and a local one hundreds.

Cost: a lane keeps its pending rows in memory and reads only rows newer than the last it saw (a
full re-read every `FULL_READ_S`, for rows committed out of id order by another instance); a
round of up to `concurrency` messages costs one write to claim their rows and one to mark them sent. Claiming
also checks the rows are still pending, so a row withdrawn meanwhile never leaves.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import aiohttp

from alerts.grouping import Queued, next_batches
from alerts.receivers import DeliveryError, deliver, deliver_digest
from alerts.routing import Message, Receiver, compose

log = logging.getLogger(__name__)


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
        ceiling = min(self.max_s, self.base_s * 2.0 ** max(0, attempts - 1))
        return ceiling / 2 + rng() * ceiling / 2


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One pending outbox row, as the sender sees it."""

    id: int
    school: str
    created: float
    hold_until: float
    urgent: bool
    batch: int | None
    next_attempt: float
    attempts: int
    key: str
    body: Mapping[str, Any]
    kind: str = "alert"  # or "digest"


class OutboxTable(Protocol):
    """The outbox table, as the storage edge offers it (every call runs on the database thread)."""

    def pending(self, receiver: str, urgent: bool, after_id: int, limit: int) -> tuple[list[OutboxRow], int]:
        """The receiver's pending rows of one lane with an id above `after_id` (at most `limit`,
        oldest first), and how many of that lane are pending in all."""
        ...

    def claim(self, batches: Sequence[tuple[Sequence[int], int]]) -> list[int]:
        """Fix each batch's rows (ids, head) to their batch (and so its key) before their first
        attempt, in one write; the ids that are still pending (a row withdrawn or sent meanwhile is
        left out)."""
        ...

    def sent(self, ids: Sequence[int], at: float) -> None: ...

    def failed(self, ids: Sequence[int], attempts: int, error: str, dead: bool, next_attempt: float) -> None: ...

    def pending_receivers(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class _Batch:
    head: int
    ids: tuple[int, ...]
    message: Message | None  # None for a digest
    created: float
    attempts: int
    digest: Mapping[str, Any] | None = None
    key: str = ""
    school: str = ""


READ_LIMIT = 1000
FULL_READ_S = 30.0


@dataclass(eq=False)
class _Lane:
    receiver: Receiver
    urgent: bool
    backoff: Backoff
    event: asyncio.Event = field(default_factory=asyncio.Event)
    rows: dict[int, OutboxRow] = field(default_factory=dict)  # pending rows, by id, ascending
    seen: int = 0  # highest id read
    depth: int = 0  # pending rows of this lane in the table
    full_read_at: float = float("-inf")
    failing: bool = False  # its head batch failed and waits for its next attempt

    @property
    def name(self) -> str:
        return f"{self.receiver.name}/{'urgent' if self.urgent else 'normal'}"


class OutboxSender:
    def __init__(
        self,
        table: OutboxTable,
        receivers: Sequence[Receiver],
        *,
        group_window_s: float,
        dead_after_s: float = 86400.0,
        backoff: Backoff = Backoff(),
        urgent_backoff: Backoff = Backoff(0.5, 4.0),
        concurrency: int = 8,
        poll_s: float = 5.0,
        stats: OutboxStats | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        http: aiohttp.ClientSession | None = None,
        in_db: Callable[..., Awaitable[Any]] | None = None,
        in_db_urgent: Callable[..., Awaitable[Any]] | None = None,
    ) -> None:
        """`in_db(fn, *args)` runs table work off the loop; the service passes its one database thread
        so SQLite never has two writers waiting on each other (default: asyncio.to_thread), and as
        `in_db_urgent` the same thread's urgent calls, for the urgent lane (default: `in_db`)."""
        self.table = table
        self._in_db = in_db or asyncio.to_thread
        self._in_db_urgent = in_db_urgent or self._in_db  # the urgent lane's table work, ahead of other work
        self.receivers = {r.name: r for r in receivers}
        self.group_window_s = group_window_s
        self.dead_after_s = dead_after_s
        self.backoff = backoff
        self.urgent_backoff = urgent_backoff
        self.concurrency = max(1, concurrency)
        self.poll_s = poll_s
        self.stats = stats or OutboxStats()
        self.clock = clock
        self.rng = rng
        self._http = http
        self._lanes: dict[str, tuple[_Lane, _Lane]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._let_go: set[str] = set()  # schools whose rows another instance sends now
        self._in_flight: Counter[str] = Counter()  # batches being sent, per school

    def take(self, schools: Collection[str]) -> None:
        """Several instances: these schools' rows are this sender's again (a partition taken)."""
        self._let_go.difference_update(schools)
        self.reread()

    async def let_go(self, schools: Collection[str], wait_s: float = 2.0) -> None:
        """Several instances: these schools' rows are no longer this sender's (a partition lost or
        handed over). Nothing of theirs starts leaving from now on, and this returns once their
        batches already in flight are answered (at most `wait_s`), so the partition is released only
        then and its next owner never sends a message this one is still sending."""
        gone = set(schools)
        self._let_go |= gone
        for lanes in self._lanes.values():
            for lane in lanes:
                lane.rows = {i: r for i, r in lane.rows.items() if r.school not in gone}
        deadline = time.monotonic() + wait_s
        while any(self._in_flight[s] for s in gone) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        stuck = sorted(s for s in gone if self._in_flight[s])
        if stuck:
            log.warning("outbox: messages of %s still in flight after %.0f s while letting them go; "
                        "their next owner may send them again (same Idempotency-Key)", ", ".join(stuck), wait_s)
        self.reread()

    def reread(self) -> None:
        """The rows this sender may send changed (several instances: a partition gained or lost):
        every lane reads its rows afresh now."""
        for lanes in self._lanes.values():
            for lane in lanes:
                lane.full_read_at = float("-inf")
                lane.seen = 0
        self.wake()

    def wake(self, receivers: Iterable[str] | None = None) -> None:
        """New rows are committed: look now. Safe to call from any thread."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        names = list(self.receivers) if receivers is None else list(receivers)
        for name in names:
            for lane in self._lanes.get(name, ()):
                if running is loop:
                    lane.event.set()
                else:
                    loop.call_soon_threadsafe(lane.event.set)

    async def run(self) -> None:
        """Deliver until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._lanes = {
            r.name: (_Lane(r, True, self.urgent_backoff), _Lane(r, False, self.backoff)) for r in self.receivers.values()
        }
        own_http = self._http is None
        http = self._http or aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        try:
            try:
                await self._in_db(self._warn_unknown_receivers)
            except Exception:  # noqa: BLE001 - a warning only; the lanes retry the table
                log.warning("outbox: cannot read the outbox at start; carrying on")
            async with asyncio.TaskGroup() as tasks:
                for lanes in self._lanes.values():
                    for lane in lanes:
                        tasks.create_task(self._work(http, lane), name=f"outbox-{lane.name}")
        finally:
            if own_http:
                await http.close()

    def _warn_unknown_receivers(self) -> None:
        for name in self.table.pending_receivers():
            if name not in self.receivers:
                log.warning("outbox: pending messages for receiver %s, which is no longer configured", name)

    async def _work(self, http: aiohttp.ClientSession, lane: _Lane) -> None:
        read_at = float("-inf")
        unreadable = False
        while True:
            now = self.clock()
            if lane.event.is_set() or now - read_at >= self.poll_s:
                lane.event.clear()
                try:
                    await self._read(lane, now)
                    read_at = now
                    unreadable = False
                except Exception as exc:  # the database is away: one line per outage, not one per poll
                    if not unreadable:
                        log.warning("outbox %s: cannot read the outbox (%s); trying every %.0f s", lane.name,
                                    " ".join(str(getattr(exc, "orig", None) or exc).split())[:200], self.poll_s)
                    unreadable = True
                    await self._wait(lane, now + self.poll_s)
                    continue
            try:
                batches, wake_at = await self._pick(lane)
                unreadable = False
            except Exception as exc:  # the database is away
                if not unreadable:
                    log.warning("outbox %s: cannot claim the next messages (%s); trying again", lane.name,
                                " ".join(str(getattr(exc, "orig", None) or exc).split())[:200])
                unreadable = True
                batches, wake_at = [], self.clock() + self.poll_s
            if not batches:
                await self._wait(lane, min(read_at + self.poll_s, wake_at if wake_at is not None else float("inf")))
                continue
            try:
                await self._attempt(http, lane, batches)
            except Exception:  # the outcome could not be recorded (database away): sent again later, same key
                await asyncio.sleep(self.poll_s)

    async def _wait(self, lane: _Lane, until: float) -> None:
        timeout = max(0.0, until - self.clock())
        if timeout <= 0 or lane.event.is_set():
            return
        try:
            await asyncio.wait_for(lane.event.wait(), timeout)
        except TimeoutError:
            pass

    async def _attempt(self, http: aiohttp.ClientSession, lane: _Lane, batches: list[_Batch]) -> None:
        """Send the batches at once (each of another school); then mark the ones through as sent in
        one write, and the failures each with its own next attempt."""
        batches = [b for b in batches if b.school not in self._let_go]
        if not batches:
            return
        for b in batches:
            self._in_flight[b.school] += 1
        try:  # in flight until the outcome is written: a school let go meanwhile waits for that
            results = await asyncio.gather(*(self._send(http, lane.receiver, b) for b in batches))
            through = [b for b, exc in zip(batches, results, strict=True) if exc is None]
            if through:
                await self._sent(lane, through)
            for batch, exc in zip(batches, results, strict=True):
                if exc is not None:
                    await self._failed(lane, batch, exc)
        finally:
            for b in batches:
                self._in_flight[b.school] -= 1
                if not self._in_flight[b.school]:
                    del self._in_flight[b.school]
        if through:
            for other in self._lanes[lane.receiver.name]:
                if other is not lane and other.failing:
                    self._retry_now(other)

    async def _send(self, http: aiohttp.ClientSession, receiver: Receiver, batch: _Batch) -> DeliveryError | None:
        try:
            if batch.digest is not None:
                await deliver_digest(http, receiver, batch.digest, batch.key, self.clock())
            else:
                assert batch.message is not None
                await deliver(http, receiver, batch.message, self.clock())
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # a bug in rendering must not stop the receiver's queue for good
            log.exception("outbox %s: sending batch %d failed unexpectedly", receiver.name, batch.head)
            return DeliveryError(repr(exc), retryable=True)
        return None

    def _retry_now(self, lane: _Lane) -> None:
        """The receiver took a message on the other lane: try this lane's failing batch at once."""
        now = self.clock()
        for row_id, row in list(lane.rows.items()):
            if row.batch is not None and row.next_attempt > now:
                lane.rows[row_id] = replace(row, next_attempt=now)
        lane.failing = False
        lane.event.set()

    # -- table work (the table on the database thread; the lane's rows on the loop) --

    def _db(self, lane: _Lane) -> Callable[..., Awaitable[Any]]:
        return self._in_db_urgent if lane.urgent else self._in_db

    async def _read(self, lane: _Lane, now: float) -> None:
        name = lane.receiver.name
        full = now - lane.full_read_at >= FULL_READ_S
        rows, depth = await self._db(lane)(self.table.pending, name, lane.urgent, 0 if full else lane.seen, READ_LIMIT)
        if full:
            lane.full_read_at = now
            known = lane.rows
            lane.rows = {r.id: known.get(r.id, r) for r in rows}
        else:
            for r in rows:
                lane.rows.setdefault(r.id, r)
        if rows:
            lane.seen = max(lane.seen, rows[-1].id)
        lane.depth = max(depth, len(lane.rows))
        self._count_depth(name)

    def _count_depth(self, receiver: str) -> None:
        self.stats.queue_depth[receiver] = sum(lane.depth for lane in self._lanes.get(receiver, ()))

    async def _pick(self, lane: _Lane) -> tuple[list[_Batch], float | None]:
        """The batches that leave now (at most `concurrency`, each of another school), claimed in one
        write; or none, and when to look again."""
        while True:
            now = self.clock()
            queue = [Queued(r.id, r.school, r.created, r.hold_until, r.urgent, r.batch, r.next_attempt)
                     for r in lane.rows.values() if r.school not in self._let_go]
            picks, wake_at = next_batches(queue, now, self.group_window_s, self.concurrency)
            if not picks:
                return [], wake_at
            chosen: list[tuple[OutboxRow, list[OutboxRow]]] = []
            for pick in picks:
                assert pick.head is not None
                head = lane.rows[pick.head]
                members = [head] if head.kind == "digest" else [
                    lane.rows[i] for i in pick.ids if lane.rows[i].kind != "digest"]
                chosen.append((head, members))
            fresh = [(tuple(r.id for r in members), head.id) for head, members in chosen if head.batch is None]
            claimed: set[int] = set(await self._db(lane)(self.table.claim, fresh)) if fresh else set()
            batches: list[_Batch] = []
            for head, members in chosen:
                if head.batch is None:
                    for r in members:
                        if r.id in claimed:
                            lane.rows[r.id] = replace(r, batch=head.id)
                        else:
                            lane.rows.pop(r.id, None)  # withdrawn, or sent by another instance
                    if head.id not in claimed:
                        continue
                    members = [r for r in members if r.id in claimed]
                batches.append(self._batch(lane, head, members))
            if batches:
                return batches, None

    def _batch(self, lane: _Lane, head: OutboxRow, members: list[OutboxRow]) -> _Batch:
        ids = tuple(r.id for r in members)
        attempts = max(r.attempts for r in members)
        created = min(r.created for r in members)
        if head.kind == "digest":
            return _Batch(head.id, ids, None, created, attempts, digest=head.body, key=head.key, school=head.school)
        message = compose(lane.receiver.name, head.key, [r.body for r in members], urgent=head.urgent)
        return _Batch(head.id, ids, message, created, attempts, key=head.key, school=head.school)

    async def _sent(self, lane: _Lane, batches: list[_Batch]) -> None:
        now = self.clock()
        ids = [i for b in batches for i in b.ids]
        await self._db(lane)(self.table.sent, ids, now)
        for i in ids:
            lane.rows.pop(i, None)
        lane.depth = max(0, lane.depth - len(ids))
        lane.failing = any(r.batch is not None and r.attempts > 0 for r in lane.rows.values())
        name = lane.receiver.name
        self._count_depth(name)
        self.stats.notifications[(name, "sent")] += len(batches)
        for b in batches:
            log.debug("outbox %s: sent %s %.3f s after the change", lane.name, b.key, now - b.created)

    async def _failed(self, lane: _Lane, batch: _Batch, exc: DeliveryError) -> None:
        now = self.clock()
        name = lane.receiver.name
        attempts = batch.attempts + 1
        dead = not exc.retryable or now - batch.created >= self.dead_after_s
        delay = lane.backoff.delay(attempts, self.rng)
        await self._db(lane)(self.table.failed, batch.ids, attempts, str(exc)[:1000], dead, now + delay)
        for i in batch.ids:
            row = lane.rows.get(i)
            if row is None:
                continue
            if dead:
                lane.rows.pop(i)
            else:
                lane.rows[i] = replace(row, attempts=attempts, next_attempt=now + delay, batch=batch.head)
        if dead:
            lane.depth = max(0, lane.depth - len(batch.ids))
            self._count_depth(name)
            lane.failing = False
            self.stats.notifications[(name, "dead")] += 1
            log.error("outbox %s: message %s is a dead letter after %d attempts: %s", lane.name, batch.key, attempts, exc)
        else:
            lane.failing = True
            self.stats.notifications[(name, "retry")] += 1
            log.warning("outbox %s: attempt %d of %s failed, next in %.1f s: %s", lane.name, attempts, batch.key, delay, exc)
