"""The partitions this instance owns, and what owning one means (contract §9).

The lease keeper (`monitor.cluster.keeper`) decides; this carries it out, on the loop:

- **Taken** (gained): the partition's stored device states are loaded and its schools judged from
  them, blind until the partition's MQTT connection has its SUBACK; from then on one timeout of grace
  at most (`devices.judge.Judge.take`/`see`); its standing judgements (dark zones) are made; its open
  alerts, panels and unalerted events join the alert book, its open tickets the ticket desk; then its
  own MQTT connection starts:
  client id `<[mqtt] client_id>-p<NN>`, persistent session, QoS 1, subscribed to
  `<root>/<school>/+/+/<leaf>` for each of its schools and every leaf (heartbeats and events on one
  connection: a partition's backlog is its own). The session belongs to the partition, so alarm
  events published while nobody owned it wait in it and reach the new owner, which stores them and
  only then acknowledges them.
- **Lost** or handed over: its connection stops first (nothing more is heard or acknowledged), its
  device states are written while the lease is still ours, then its schools leave the judge and the
  alert book unsaid; the outbox sender sends nothing more of theirs and the partition is released
  only once their messages in flight are answered (so the next owner never sends one twice).

Writes are fenced (`fence`): device states, alarm events, alerts and outbox rows are written only in
a transaction that finds this instance still holding the schools' partitions under the epochs it
believes in (`monitor.storage.lease_store.check_fence`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from typing import Protocol

from sqlalchemy import Connection

from devices.events import AlarmEvent, Fix, Judgement
from devices.judge import Judge
from devices.liveness import Device, Restored, State
from devices.model import Registry
from monitor.cluster.partitions import partition_of
from monitor.config import ClusterConfig, MqttConfig
from monitor.mqtt.collector import Collector, Done
from monitor.storage import lease_store
from monitor.storage.device_store import load_device_states
from monitor.storage.runner import DbThread

log = logging.getLogger(__name__)


class Watch(Protocol):
    """The device watch, as the partitions' connections and take-overs use it."""

    def judgements(self, items: list[Judgement]) -> None: ...
    def alarm_event(self, dev: Device, ev: AlarmEvent, done: Done) -> None: ...
    def fix(self, dev: Device, fix: Fix) -> list[Judgement]: ...
    async def persist(self) -> None: ...


class Alerts(Protocol):
    """The alert engine and the ticket desk, as a take-over and a loss use them."""

    async def take(self, schools: set[str]) -> None: ...
    async def let_go(self, schools: set[str]) -> None: ...


class _PartitionSink:
    """A partition connection's sink: the watch's, with the link meaning "these schools are heard"."""

    def __init__(self, watch: Watch, judge: Judge, schools: Collection[str]) -> None:
        self.watch = watch
        self.judge = judge
        self.schools = tuple(schools)

    def judgements(self, items: list[Judgement]) -> None:
        self.watch.judgements(items)

    def alarm_event(self, dev: Device, ev: AlarmEvent, done: Done) -> None:
        self.watch.alarm_event(dev, ev, done)

    def fix(self, dev: Device, fix: Fix) -> list[Judgement]:
        return self.watch.fix(dev, fix)

    def link(self, up: bool, now: float) -> None:
        for school in self.schools:
            self.judge.see(school, now if up else None)


class PartitionOwner:
    def __init__(self, cfg: ClusterConfig, mqtt: MqttConfig, registry: Registry, judge: Judge, db: DbThread,
                 clock: Callable[[], float]) -> None:
        self.cfg = cfg
        self.mqtt = mqtt
        self.judge = judge
        self.db = db
        self.clock = clock
        self.node = cfg.node
        self.partition_of = {s.id: partition_of(s.id, cfg.partitions) for s in registry.schools}
        self.schools: dict[int, list[str]] = {}
        for school, p in sorted(self.partition_of.items()):
            self.schools.setdefault(p, []).append(school)
        self.held: dict[int, int] = {}  # partition -> epoch, as the keeper last told
        self.owned: set[str] = set()
        self.connections: dict[int, Collector] = {}
        self.watch: Watch | None = None
        self.alerts: Alerts | None = None
        self.tickets: Alerts | None = None
        self.epochs: Callable[[], dict[int, int]] = dict  # the keeper's `held`, read at each write
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = asyncio.Lock()
        self._takes: set[asyncio.Task[None]] = set()
        judge.liveness.school_grace = {}  # nothing is judged here until its partition is taken

    def attach(self, watch: Watch, alerts: Alerts, tickets: Alerts, epochs: Callable[[], dict[int, int]],
               counts: Counter[tuple[str, str]]) -> None:
        """Its collaborators: the watch, alert service and ticket desk it feeds, the keeper's leases
        (partition -> epoch) and the message counts its connections add to."""
        self.watch, self.alerts, self.tickets, self.epochs, self.counts = watch, alerts, tickets, epochs, counts

    # ---- what the other parts ask ------------------------------------------------------------

    def owns(self, school: str) -> bool:
        return school in self.owned

    def sent_schools(self) -> set[str] | None:
        """The outbox rows this instance sends: its schools', and digests while it holds partition 0."""
        return self.owned | ({"_digest"} if 0 in self.held else set())

    def schools_of(self, partitions: Iterable[int]) -> set[str]:
        return {s for p in partitions for s in self.schools.get(p, ())}

    def fence(self, conn: Connection, schools: Collection[str]) -> None:
        """Inside a write transaction: refuse it (`Fenced`) unless every school's partition is still
        held by this instance under the epoch it believes in."""
        epochs = self.epochs()
        wanted = {self.partition_of[s] for s in schools if s in self.partition_of}
        missing = sorted(p for p in wanted if p not in epochs)
        try:
            if missing:
                raise lease_store.Fenced(f"{self.node} does not hold partitions {missing}", missing)
            lease_store.check_fence(conn, self.node, {p: epochs[p] for p in wanted})
        except lease_store.Fenced as exc:  # name the schools refused, so a writer can keep the others
            raise lease_store.Fenced(str(exc), exc.partitions, {
                s for s in schools if self.partition_of.get(s) in exc.partitions}) from None

    @property
    def connected(self) -> bool:
        """Every owned partition's connection is up (True with none: nothing to hear)."""
        return all(c.connected for c in self.connections.values())

    @property
    def subscribed(self) -> bool:
        return all(c.subscribed for c in self.connections.values())

    @property
    def refused(self) -> str | None:
        return next((c.refused for c in self.connections.values() if c.refused), None)

    def redeliver(self) -> None:
        for c in self.connections.values():
            c.redeliver()

    # ---- the keeper's calls ------------------------------------------------------------------

    async def on_change(self, gained: set[int], lost: set[int]) -> None:
        """The keeper's call: lost partitions are let go before it returns (a hand-over releases only
        then); gained ones are taken on a task of their own, so no renewal waits for a take."""
        async with self._lock:
            for p in sorted(lost):
                await self._lose(p)
        if gained:
            task = asyncio.create_task(self._take_all(sorted(gained)), name="take-partitions")
            self._takes.add(task)
            task.add_done_callback(self._takes.discard)

    async def _take_all(self, partitions: list[int]) -> None:
        async with self._lock:
            for p in partitions:
                epoch = self.epochs().get(p)
                if epoch is None:  # lost again meanwhile
                    continue
                try:
                    await self._take(p, epoch)
                except Exception:  # noqa: BLE001 - the next round's gain tries again
                    log.exception("cluster %s: could not take partition %d", self.node, p)

    async def _take(self, p: int, epoch: int | None) -> None:
        assert self.watch is not None and self.alerts is not None and self.tickets is not None
        if epoch is not None:
            self.held[p] = epoch
        schools = self.schools.get(p, [])
        if p in self.connections or not schools:
            if schools:
                self.owned.update(schools)
            return
        now = self.clock()
        saved = await self.db.call(load_device_states, True, schools)
        self.judge.take(schools, {key: Restored(State(row.state), row.last_seen, row.state_since)
                                  for key, row in saved.items() if row.state in State.__members__.values()}, now)
        self.owned.update(schools)
        standing = self.judge.standing(now, schools)
        if standing:
            self.watch.judgements(standing)
        await self.alerts.take(set(schools))
        await self.tickets.take(set(schools))
        conn = Collector(self.mqtt, self.judge, _PartitionSink(self.watch, self.judge, schools), self.clock,
                         events=None, counts=self.counts, client_id=f"{self.mqtt.client_id}-p{p:02d}",
                         schools=schools)
        self.connections[p] = conn
        await conn.start()
        log.info("cluster %s: took partition %d (%d schools, %d device states stored)", self.node, p,
                 len(schools), len(saved))

    async def _lose(self, p: int) -> None:
        assert self.watch is not None and self.alerts is not None and self.tickets is not None
        schools = set(self.schools.get(p, []))
        conn = self.connections.pop(p, None)
        if conn is not None:
            await conn.stop()
        try:
            await self.watch.persist()  # while the lease is still ours (fenced otherwise)
        except Exception:  # noqa: BLE001 - the new owner starts from what was stored before
            log.exception("cluster %s: could not write partition %d's device states", self.node, p)
        self.owned -= schools
        self.held.pop(p, None)
        self.judge.let_go(schools, self.clock())
        await self.alerts.let_go(schools)
        await self.tickets.let_go(schools)
        log.info("cluster %s: let go of partition %d (%d schools)", self.node, p, len(schools))

    async def mirror(self) -> None:
        """The stored states of the schools other instances judge, into this judge for the API and
        pages (at most `[database] persist_every_s` plus this period old)."""
        others = [s for s in self.partition_of if s not in self.owned]
        if not others:
            return
        saved = await self.db.call(load_device_states, True, others)
        self.judge.mirror({key: Restored(State(row.state), row.last_seen, row.state_since)
                           for key, row in saved.items() if row.state in State.__members__.values()},
                          self.owns, self.clock())

    async def stop(self) -> None:
        for task in list(self._takes):
            task.cancel()
        for p in list(self.connections):
            conn = self.connections.pop(p)
            await conn.stop()
