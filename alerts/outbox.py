"""The outbox's rules and its sender: alert changes (and daily digests) stored as outbox rows are
delivered to their receivers.

The rows are written by the storage edge in the same transaction as the alert change
(`monitor.storage.alert_store.record_changes`); this module never touches SQL itself: it works the
table through an `OutboxTable` the edge hands it. `OutboxSender` runs one asyncio task per receiver:
oldest first, grouped per school (`alerts.grouping.next_batch`), a failing batch blocks that
receiver's later ones (order is kept), retried with exponential backoff and jitter under the same
`Idempotency-Key`, and given up (dead) once older than `dead_after_s` or refused for good. All state
is in the table, so a restarted sender carries on where the last one stopped. A digest row leaves
alone, never grouped with alerts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from alerts.grouping import Queued, next_batch
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

    def pending(self, receiver: str, limit: int) -> tuple[list[OutboxRow], int]:
        """The receiver's oldest pending rows (at most `limit`, oldest first) and how many are pending."""
        ...

    def set_batch(self, ids: Sequence[int], head: int) -> None:
        """Fix the rows' batch (and so its key) from its first attempt on."""
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


class OutboxSender:
    def __init__(
        self,
        table: OutboxTable,
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
        self.table = table
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
            try:
                await self._in_db(self._warn_unknown_receivers)
            except Exception:  # noqa: BLE001 - a warning only; the receivers' tasks retry the table
                log.warning("outbox: cannot read the outbox at start; carrying on")
            async with asyncio.TaskGroup() as tasks:
                for receiver in self.receivers.values():
                    tasks.create_task(self._work(http, receiver), name=f"outbox-{receiver.name}")
        finally:
            if own_http:
                await http.close()

    def _warn_unknown_receivers(self) -> None:
        for name in self.table.pending_receivers():
            if name not in self.receivers:
                log.warning("outbox: pending messages for receiver %s, which is no longer configured", name)

    async def _work(self, http: aiohttp.ClientSession, receiver: Receiver) -> None:
        event = self._events[receiver.name]
        unreadable = False
        while True:
            event.clear()
            try:
                batch, wake_at = await self._in_db(self._next, receiver.name)
                unreadable = False
            except Exception as exc:  # the database is away: one line per outage, not one per poll
                if not unreadable:
                    log.warning("outbox %s: cannot read the outbox (%s); trying every %.0f s", receiver.name,
                                " ".join(str(getattr(exc, "orig", None) or exc).split())[:200], self.poll_s)
                unreadable = True
                batch, wake_at = None, self.clock() + self.poll_s
            if batch is None:
                timeout = self.poll_s if wake_at is None else max(0.0, min(self.poll_s, wake_at - self.clock()))
                try:
                    await asyncio.wait_for(event.wait(), timeout)
                except TimeoutError:
                    pass
                continue
            try:
                await self._attempt(http, receiver, batch)
            except Exception:  # the outcome could not be recorded (database away): sent again later, same key
                await asyncio.sleep(self.poll_s)

    async def _attempt(self, http: aiohttp.ClientSession, receiver: Receiver, batch: _Batch) -> None:
        try:
            if batch.digest is not None:
                await deliver_digest(http, receiver, batch.digest, batch.key, self.clock())
            else:
                assert batch.message is not None
                await deliver(http, receiver, batch.message, self.clock())
        except DeliveryError as exc:
            await self._in_db(self._failed, receiver.name, batch, exc)
            return
        except Exception as exc:  # a bug in rendering must not stop the receiver's queue for good
            log.exception("outbox %s: sending batch %d failed unexpectedly", receiver.name, batch.head)
            await self._in_db(self._failed, receiver.name, batch, DeliveryError(repr(exc), retryable=True))
            return
        await self._in_db(self._sent, receiver.name, batch)

    # -- table work (on the database thread) --

    def _next(self, receiver: str) -> tuple[_Batch | None, float | None]:
        now = self.clock()
        rows, depth = self.table.pending(receiver, 1000)
        self.stats.queue_depth[receiver] = depth
        queue = [Queued(r.id, r.school, r.created, r.hold_until, r.urgent, r.batch, r.next_attempt) for r in rows]
        pick = next_batch(queue, now, self.group_window_s)
        if pick.head is None:
            return None, pick.wake_at
        by_id = {r.id: r for r in rows}
        head = by_id[pick.head]
        members = [head] if head.kind == "digest" else [by_id[i] for i in pick.ids if by_id[i].kind != "digest"]
        ids = tuple(r.id for r in members)
        self.table.set_batch(ids, head.id)
        attempts = max(r.attempts for r in members)
        created = min(r.created for r in members)
        if head.kind == "digest":
            return _Batch(head.id, ids, None, created, attempts, digest=head.body, key=head.key), None
        message = compose(receiver, head.key, [r.body for r in members], urgent=head.urgent)
        return _Batch(head.id, ids, message, created, attempts, key=head.key), None

    def _sent(self, receiver: str, batch: _Batch) -> None:
        now = self.clock()
        self.table.sent(batch.ids, now)
        self.stats.notifications[(receiver, "sent")] += 1
        log.debug("outbox %s: sent %s %.3f s after the change", receiver, batch.key, now - batch.created)

    def _failed(self, receiver: str, batch: _Batch, exc: DeliveryError) -> None:
        now = self.clock()
        attempts = batch.attempts + 1
        dead = not exc.retryable or now - batch.created >= self.dead_after_s
        delay = self.backoff.delay(attempts, self.rng)
        self.table.failed(batch.ids, attempts, str(exc)[:1000], dead, now + delay)
        if dead:
            self.stats.notifications[(receiver, "dead")] += 1
            log.error("outbox %s: message %s is a dead letter after %d attempts: %s", receiver, batch.key, attempts, exc)
        else:
            self.stats.notifications[(receiver, "retry")] += 1
            log.warning("outbox %s: attempt %d of %s failed, next in %.1f s: %s", receiver, attempts, batch.key, delay, exc)
