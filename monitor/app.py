"""The composition root: the one place that builds every part of the service, hands each what it
needs, and starts and stops them in one order.

Parts never look each other up: each gets its collaborators as constructor arguments here.

Threads: the asyncio loop owns the judge, the bus watches, the alert book and the paho client (every
MQTT callback runs on it). The database is used from one worker thread (`DbThread`), so SQLite sees
one writer and the loop never waits on a disk.

Start order: database (migrations, registry import, stored device states, the state history's run and
detours), alerts (and the press board the pages' banner reads, fed by the alert engine's subscribe
hook), tickets, track store, digest, device watch (standing judgements and timers), MQTT events
connection, MQTT device connection, HTTP. Stop order is the reverse.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from alerts.digest import DigestNames
from alerts.wording import RegistryNames
from devices.judge import Judge
from devices.model import Registry
from monitor import heap
from monitor.cluster.keeper import LeaseKeeper
from monitor.cluster.owner import PartitionOwner
from monitor.config import Config
from monitor.http.auth import Authenticator
from monitor.http.context import HttpContext
from monitor.http.server import HttpServer, make_web_app
from monitor.mqtt.collector import Collector
from monitor.services.alerting import AlertEngine
from monitor.services.buses import BusDesk
from monitor.services.dbhealth import DbHealth
from monitor.services.digest import DigestService
from monitor.services.history import StateHistory
from monitor.services.metrics import DeviceMetrics, Exposition, metrics_registry, school_info
from monitor.services.presses import PressBoard
from monitor.services.tickets import TicketDesk
from monitor.services.tracks import TrackStore
from monitor.services.watch import DeviceWatch
from monitor.storage.auth_tables import find_principal
from monitor.storage.db import Database
from monitor.storage.detour_store import query_detours
from monitor.storage.registry_store import import_registry
from monitor.storage.runner import DbThread
from monitor.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005  # see App.start
TRIM_EVERY_S = 60.0  # free heap pages back to the system (monitor.heap) this often
DETOUR_KEEP_S = 86_400.0  # detours that ended longer ago than this are not restored (BusWatch forgets them too)


class App:
    def __init__(self, cfg: Config, registry: Registry, registry_source: tuple[str, str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.registry = registry
        self.registry_source = registry_source  # (filename, text) to import at start
        self.clock = clock
        self.database = Database(cfg.database.url)
        self.db = DbThread(self.database)
        self.db_health = DbHealth(clock)
        self.judge = Judge(registry, keep_changes=True)
        # several instances (contract §9): the partitions this one owns, and their MQTT connections
        self.owner: PartitionOwner | None = None
        self.keeper: LeaseKeeper | None = None
        self._mirror: asyncio.Task[None] | None = None
        self._trim: asyncio.Task[None] | None = None
        if cfg.cluster.node:
            self.owner = PartitionOwner(cfg.cluster, cfg.mqtt, registry, self.judge, self.db, clock)
            self.keeper = LeaseKeeper(cfg.cluster, cfg.database.url, self.owner.on_change)
        owns = self.owner.owns if self.owner is not None else None
        self.history = StateHistory(self.judge, self.db, clock, self.db_health,
                                    flush_every_s=cfg.database.persist_every_s, owns=owns,
                                    stale_after_s=cfg.cluster.lease_s if self.owner is not None else None)
        self.tracks = TrackStore(cfg.buses, self.db, clock)
        self.buses = BusDesk(cfg.buses, registry, self.tracks, clock)
        names = RegistryNames.from_registry(registry)
        self.alerts = AlertEngine(cfg.alerts, names,
                                  [(s.id, a.id) for s in registry.schools for a in s.alarms],
                                  cfg.receivers, self.db, clock, self.db_health, cluster=self.owner)
        self.presses = PressBoard(names)  # the pages' press banner
        self.alerts.subscribe(self.presses.on_changes)
        self.tickets = TicketDesk(cfg.tickets, registry, self.judge, self.db, clock, self.db_health, owns=owns)
        self.watch = DeviceWatch(self.judge, self.buses, self.db, clock,
                                 persist_every_s=cfg.database.persist_every_s,
                                 listeners=[self.alerts.on_judgements, self.tickets.on_judgements],
                                 events=self.alerts.on_alarm_event, health=self.db_health,
                                 fence=self.owner.fence if self.owner is not None else None)
        self.collector = Collector(cfg.mqtt, self.judge, self.watch, clock, events=False)
        self.events = Collector(cfg.mqtt, self.judge, self.watch, clock, events=True, counts=self.collector.counts)
        self.alerts.on_room(self.events.redeliver)  # events refused past the held-back bound, again
        if self.owner is not None and self.keeper is not None:
            keeper = self.keeper
            self.owner.attach(self.watch, self.alerts, self.tickets, lambda: keeper.held, self.collector.counts)
            self.alerts.on_room(self.owner.redeliver)
        self.digest = DigestService(cfg.alerts.digest_at, DigestNames.from_registry(registry), cfg.receivers,
                                    self.db, self.alerts.sender, clock)
        device_metrics = DeviceMetrics(self.judge, self.watch.alarm_counts, self.collector.counts,
                                       lambda: self.broker_connected, per_device=cfg.metrics.per_device, owns=owns)
        self.metrics = Exposition([device_metrics.text], metrics_registry([
            device_metrics.metrics, self.buses.metrics, self.alerts.metrics, self.tickets.metrics,
            school_info(registry),
            *([self.keeper.metrics] if self.keeper is not None else []),
        ]), max_age_s=cfg.metrics.max_age_s)
        self.auth = Authenticator(lambda token: self.db.call(find_principal, token, self.clock()))
        self.http = HttpServer(cfg.http.listen, make_web_app(HttpContext(
            cfg=cfg.http, registry=registry, judge=self.judge, clock=clock, db=self.db, alerts=self.alerts,
            tickets=self.tickets, buses=self.buses, tracks=self.tracks, auth=self.auth, metrics=self.metrics,
            ready=self.ready, presses=self.presses,
        )))

    @property
    def http_address(self) -> tuple[str, int] | None:
        return self.http.address

    # ---- start and stop ------------------------------------------------------------------------

    async def start(self) -> None:
        # the loop, the database thread and the /metrics compressor share one GIL: when the loop is
        # busy (a 200,000-device /metrics build), a thread waiting for the GIL gets it only after the
        # switch interval, at every one of the dozens of times a press's write lets it go (sqlite3,
        # psycopg): 5 ms by default made a press 0.5 s late; 0.5 ms keeps that within tens of ms
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        await self.db.call(Database.migrate)
        if self.registry_source is not None:
            filename, text = self.registry_source
            result = await self.db.call(import_registry, self.registry, text, filename)
            log.info("registry %s: %s", filename, result)
        if self.owner is None:
            await self.watch.restore()
        else:  # each partition's device states are loaded when it is taken
            self.watch.db_ok = True
        await self.history.start()
        restored = self.buses.restore_detours(await self.db.call(query_detours, None, self.clock() - DETOUR_KEEP_S))
        if restored:
            log.info("restored %d declared detours", restored)
        await self.alerts.start()
        self.presses.restore(self.alerts.book.open_alerts())
        await self.tickets.start()
        await self.tracks.start()
        await self.digest.start()
        await self.watch.start()
        if self.keeper is not None and self.owner is not None:
            await self.keeper.start()
            period = max(0.5, self.cfg.database.persist_every_s / 2)
            self._mirror = every(period, self.owner.mirror, "mirror-states", first_after_s=0)
        else:
            await self.events.start()
            await self.collector.start()
        await self.http.start()
        # the registry, the judge and their indexes live as long as the service: out of the garbage
        # collector's sight, so its full collections stay short with 200,000 devices
        gc.collect()
        gc.freeze()
        await asyncio.to_thread(heap.trim)  # the start's residue back to the system (monitor.heap)
        self._trim = every(TRIM_EVERY_S, lambda: asyncio.to_thread(heap.trim), "heap-trim")
        log.info("campus monitor started: %d schools, %d devices", len(self.registry.schools),
                 len(self.judge.liveness.devices))

    async def stop(self) -> None:
        await cancel_and_wait([self._trim])
        if self.keeper is not None and self.owner is not None:
            await cancel_and_wait([self._mirror])
            await self.keeper.stop()  # stops judging its partitions, writes their states, hands them back
            await self.owner.stop()
        else:
            await self.collector.stop()
            await self.events.stop()
        await self.watch.stop()
        await self.history.stop()
        await self.digest.stop()
        await self.tracks.stop()
        await self.tickets.stop()
        await self.alerts.stop()
        self.presses.close()  # ends the pages' event streams, so the HTTP server need not wait for them
        await self.http.stop()
        await self.db.call(Database.dispose)
        self.db.close()

    # ---- health --------------------------------------------------------------------------------

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        try:
            db = await asyncio.wait_for(self.db.call(Database.ping), timeout=2.0)
        except Exception:  # noqa: BLE001
            db = False
        broker = self.broker_connected
        if self.owner is not None:
            subscribed, refused = self.owner.subscribed, self.owner.refused
        else:
            subscribed = self.collector.subscribed and self.events.subscribed
            refused = self.collector.refused or self.events.refused
        held = self.alerts.held + len(self.watch.held_judgements)
        extra: dict[str, Any] = {}
        if self.keeper is not None:
            extra["partitions"] = sorted(self.keeper.held)
        return bool(db and broker and subscribed and not held and not self.db_health.down), {
            "broker": broker, "subscribed": subscribed, "database": bool(db), "held_back": held,
            "broker_refused": refused, **extra, **self.db_health.status()}

    @property
    def broker_connected(self) -> bool:
        """Every MQTT connection of this instance is up (several instances: its partitions')."""
        if self.owner is not None:
            return self.owner.connected
        return self.collector.connected and self.events.connected
