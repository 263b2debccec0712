"""The one place that wires the service: config, registry, storage, judge, collector, HTTP, timers.

Threads: the asyncio loop owns the judge and the paho client (every MQTT callback runs on it). The
database is used from one worker thread (`self.db_call`), so SQLite sees one writer and the loop never
waits on a disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from aiohttp import web

from devices.events import AlarmEvent, Fix, Judgement
from devices.judge import Judge
from devices.liveness import Device, Restored, State
from devices.model import DeviceKind, Registry
from devices.payload import Outcome
from monitor.collector import Collector
from monitor.config import Config, parse_listen
from monitor.storage.db import Database
from monitor.storage.device_store import DeviceStateRow, load_device_states, save_device_states
from monitor.storage.event_store import store_alarm_event, store_judgements
from monitor.storage.registry_store import import_registry

log = logging.getLogger(__name__)
T = TypeVar("T")

SWEEP_EVERY_S = 0.2
_SEEN_EVENTS = 10_000


class App:
    def __init__(self, cfg: Config, registry: Registry, registry_source: tuple[str, str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.registry = registry
        self.registry_source = registry_source  # (filename, text) to import at start
        self.clock = clock
        self.db = Database(cfg.database.url)
        self.judge = Judge(registry)
        self.collector = Collector(cfg.mqtt, self.judge, self, clock)
        self.alarm_counts: Counter[tuple[str, str, str]] = Counter()
        self.fixes: dict[str, Fix] = {}  # last fix per bus
        self.started_at = clock()
        self.db_ok = False
        self.listeners: list[Callable[[list[Judgement]], None]] = []
        self.event_listeners: list[Callable[[AlarmEvent], None]] = []
        self.route_extensions: list[Callable[[web.Application], None]] = []
        self.metric_sources: list[Callable[[], Any]] = []  # extra metric families, built at scrape time
        self.services: list[Any] = []  # parts with async start()/stop(), started after the database
        from monitor import alerting, api, buses, digest, tracks

        self.buses = buses.install(self)
        tracks.install(self)
        self.alert_engine = alerting.install(self)
        api.install(self)
        digest.install(self)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        self._pending: list[Judgement] = []
        self._seen_events: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self.http_address: tuple[str, int] | None = None

    # ---- database from the worker thread --------------------------------------------------------

    async def in_db_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the database thread (for parts that hold their own `Database`)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, *args))

    async def db_call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, self.db, *args))

    # ---- start and stop ------------------------------------------------------------------------

    async def start(self) -> None:
        await self.db_call(lambda db: db.migrate())
        self.db_ok = True
        if self.registry_source is not None:
            filename, text = self.registry_source
            result = await self.db_call(import_registry, self.registry, text, filename)
            log.info("registry %s: %s", filename, result)
        saved = await self.db_call(load_device_states)
        now = self.clock()
        self.judge.restore(
            {key: Restored(State(row.state), row.last_seen, row.state_since) for key, row in saved.items()
             if row.state in State.__members__.values()},
            now,
        )
        for service in self.services:
            await service.start()
        standing = self.judge.standing(now)
        if standing:
            self.judgements(standing)
        self._tasks.append(asyncio.create_task(self._sweeper(), name="sweeper"))
        self._tasks.append(asyncio.create_task(self._persister(), name="persister"))
        await self.collector.start()
        await self._start_http()
        log.info("campus monitor started: %d schools, %d devices", len(self.registry.schools),
                 len(self.judge.liveness.devices))

    async def _start_http(self) -> None:
        from monitor.http import make_web_app

        host, port = parse_listen(self.cfg.http.listen)
        self._runner = web.AppRunner(make_web_app(self), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # noqa: SLF001 - the bound port when 0 was asked for
        sock = server.sockets[0] if server and server.sockets else None  # type: ignore[union-attr]
        self.http_address = (host, sock.getsockname()[1] if sock else port)

    async def stop(self) -> None:
        await self.collector.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        for service in reversed(self.services):
            await service.stop()
        await self._persist()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.db_call(lambda db: db.dispose())
        self._pool.shutdown(wait=True)

    # ---- timers --------------------------------------------------------------------------------

    async def _sweeper(self) -> None:
        while True:
            try:
                found = self.judge.sweep(self.clock())
                if found:
                    self.judgements(found)
            except Exception:  # noqa: BLE001 - the sweeper must survive anything
                log.exception("liveness sweep failed")
            await asyncio.sleep(SWEEP_EVERY_S)

    async def _persister(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.database.persist_every_s)
            await self._persist()

    async def _persist(self) -> None:
        try:
            rows = [
                DeviceStateRow(d.school, str(d.kind), d.id, str(d.state), d.last_seen, d.since)
                for d in self.judge.liveness.take_dirty()
            ]
            pending, self._pending = self._pending, []
            if rows:
                await self.db_call(save_device_states, rows)
            if pending:
                await self.db_call(store_judgements, pending)
            self.db_ok = True
        except Exception:  # noqa: BLE001
            self.db_ok = False
            log.exception("could not save device states to the database; will retry")
            for dev in (self.judge.liveness.devices.get((r.school, DeviceKind(r.kind), r.id)) for r in rows):
                if dev is not None:
                    self.judge.liveness.dirty.add(dev)
            self._pending[:0] = pending

    # ---- the collector's sink ------------------------------------------------------------------

    def judgements(self, items: list[Judgement]) -> None:
        for j in items:
            log.info("%s %s %s/%s%s at %.3f %s", j.rule, "starts" if j.active else "clears", j.school, j.subject,
                     f" zone {j.zone}" if j.zone else "", j.time, j.detail)
        self._pending.extend(items)
        for listener in self.listeners:
            try:
                listener(items)
            except Exception:  # noqa: BLE001
                log.exception("judgement listener failed")

    def alarm_event(self, dev: Device, ev: AlarmEvent, ack: Callable[[], None]) -> None:
        key = (ev.school, ev.device, ev.event_id)
        if key in self._seen_events:
            self.collector.count(dev.kind, Outcome.DUPLICATE)
            ack()
            return
        found = self.judge.beat(dev, ev.received)  # an event proves the panel is alive
        if found:
            self.judgements(found)
        asyncio.get_running_loop().create_task(self._store_event(dev, ev, ack))

    async def _store_event(self, dev: Device, ev: AlarmEvent, ack: Callable[[], None]) -> None:
        key = (ev.school, ev.device, ev.event_id)
        try:
            new = await self.db_call(store_alarm_event, ev)
        except Exception:  # noqa: BLE001 - not acknowledged: the broker delivers it again
            log.exception("could not store alarm event %s of %s; not acknowledged", ev.event_id, ev.device)
            return
        self._seen_events[key] = None
        if len(self._seen_events) > _SEEN_EVENTS:
            self._seen_events.popitem(last=False)
        ack()
        if not new:
            self.collector.count(dev.kind, Outcome.DUPLICATE)
            return
        self.collector.count(dev.kind, Outcome.ACCEPTED)
        self.alarm_counts[(ev.school, ev.device, ev.type)] += 1
        log.info("alarm %s %s/%s event %s", ev.type, ev.school, ev.device, ev.event_id)
        for listener in self.event_listeners:
            try:
                listener(ev)
            except Exception:  # noqa: BLE001
                log.exception("alarm event listener failed")

    def fix(self, dev: Device, fix: Fix) -> list[Judgement]:
        self.fixes[dev.id] = fix
        return self.buses.on_fix(dev, fix)

    def bus_view(self, bus_id: str) -> dict[str, Any]:
        fix = self.fixes.get(bus_id)
        if fix is None:
            return {"position": None}
        return {"position": {"lat": fix.lat, "lon": fix.lon, "speed_kmh": fix.speed_kmh, "ts": fix.ts}}

    def link(self, up: bool, now: float) -> None:
        if up:
            self.judge.link_up(now)
        else:
            self.judge.link_down(now)

    # ---- health --------------------------------------------------------------------------------

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        try:
            db = await asyncio.wait_for(self.db_call(lambda db: db.ping()), timeout=2.0)
        except Exception:  # noqa: BLE001
            db = False
        broker = self.collector.connected
        return bool(db and broker), {"broker": broker, "database": bool(db),
                                     "broker_refused": self.collector.refused}
