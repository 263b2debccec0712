"""The bus edge: one `BusWatch` per bus fed the collector's fixes, a once-a-second tick, and the §6 bus
metrics. Routes are projected once and shared by their buses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from devices.bus import BusRules, BusWatch
from devices.events import Fix, Judgement
from devices.fixes import FixReason
from devices.geometry import RouteLine
from devices.liveness import Device

log = logging.getLogger(__name__)
TICK_S = 1.0


class BusDesk:
    def __init__(self, app: Any) -> None:
        cfg = app.cfg.buses
        rules = BusRules(off_route_after_s=cfg.off_route_after_s, off_route_fixes=cfg.off_route_fixes,
                         overspeed_after_s=cfg.overspeed_after_s)
        self.app = app
        routes = {r.id: r for r in app.registry.routes}
        lines = {r.id: RouteLine.from_route(r) for r in app.registry.routes}
        self.watches: dict[str, BusWatch] = {
            b.id: BusWatch(b, routes[b.route], lines[b.route], rules) for b in app.registry.buses
        }
        self.dropped: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def on_fix(self, dev: Device, fix: Fix) -> list[Judgement]:
        watch = self.watches.get(dev.id)
        if watch is None:
            return []
        obs = watch.observe(fix, self.app.clock())
        if obs.reason is not FixReason.ACCEPTED:
            self.dropped[obs.reason] = self.dropped.get(obs.reason, 0) + 1
            log.debug("fix of %s dropped: %s", dev.id, obs.reason)
        elif getattr(self.app, "tracks", None) is not None:
            self.app.tracks.on_fix(dev, fix, watch.snapshot())
        return obs.judgements

    async def start(self) -> None:
        self._task = asyncio.create_task(self._ticker(), name="bus-ticker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = self.app.clock()
            found: list[Judgement] = []
            for watch in self.watches.values():
                try:
                    found.extend(watch.tick(now))
                except Exception:  # noqa: BLE001
                    log.exception("bus tick failed for %s", watch.bus.id)
            if found:
                self.app.judgements(found)

    def metrics(self) -> Iterable[Metric]:
        labels = ["school", "bus", "route"]
        fams = {
            "off": GaugeMetricFamily("campus_bus_off_route", "1 while the bus is off its route in service", labels=labels),
            "dist": GaugeMetricFamily("campus_bus_route_distance_meters", "Distance from the route line", labels=labels),
            "speed": GaugeMetricFamily("campus_bus_speed_kmh", "Speed (reported, else derived)", labels=labels),
            "lat": GaugeMetricFamily("campus_bus_latitude", "Last accepted latitude", labels=labels),
            "lon": GaugeMetricFamily("campus_bus_longitude", "Last accepted longitude", labels=labels),
            "limit": GaugeMetricFamily("campus_bus_speed_limit_kmh", "The route's speed limit", labels=labels),
        }
        routes = {r.id: r for r in self.app.registry.routes}
        for watch in self.watches.values():
            snap = watch.snapshot()
            lv = [snap.school, snap.bus, snap.route]
            fams["off"].add_metric(lv, 1.0 if snap.off_route else 0.0)
            fams["limit"].add_metric(lv, routes[snap.route].speed_limit_kmh)
            if snap.distance_m is not None:
                fams["dist"].add_metric(lv, snap.distance_m)
            if snap.speed_kmh is not None:
                fams["speed"].add_metric(lv, snap.speed_kmh)
            if snap.lat is not None and snap.lon is not None:
                fams["lat"].add_metric(lv, snap.lat)
                fams["lon"].add_metric(lv, snap.lon)
        yield from fams.values()
        dropped = CounterMetricFamily("campus_fixes_dropped", "GPS fixes decoded but not judged, by reason",
                                      labels=["reason"])
        for reason, n in self.dropped.items():
            dropped.add_metric([str(reason)], n)
        yield dropped


def install(app: Any) -> BusDesk:
    desk = BusDesk(app)
    app.buses = desk
    app.metric_sources.append(desk.metrics)
    app.services.append(desk)
    return desk
