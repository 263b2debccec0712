"""The bus desk: one `BusWatch` per bus fed the collector's fixes, ticked once a second by the device
watch, and the §6 bus metrics. Routes are projected once and shared by their buses.

The bus watch's last accepted fix is the one source of a bus's position: the API, the pages and the
`campus_bus_latitude`/`longitude` gauges all read it from `BusWatch.snapshot()`. Accepted fixes are
handed on to the stored track.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from devices.bus import BusRules, BusWatch
from devices.events import Fix, Judgement
from devices.fixes import FixReason
from devices.geometry import RouteLine
from devices.liveness import Device
from devices.model import Registry
from monitor.config import BusesConfig
from monitor.services.tracks import TrackStore
from monitor.storage.bus_tables import DetourRecord

log = logging.getLogger(__name__)
TICK_S = 1.0


class BusDesk:
    def __init__(self, cfg: BusesConfig, registry: Registry, tracks: TrackStore, clock: Callable[[], float]) -> None:
        rules = BusRules(off_route_after_s=cfg.off_route_after_s, off_route_fixes=cfg.off_route_fixes,
                         overspeed_after_s=cfg.overspeed_after_s, overload_after_s=cfg.overload_after_s)
        self.registry = registry
        self.tracks = tracks
        self.clock = clock
        self.routes = {r.id: r for r in registry.routes}
        lines = {r.id: RouteLine.from_route(r) for r in registry.routes}
        self.watches: dict[str, BusWatch] = {
            b.id: BusWatch(b, self.routes[b.route], lines[b.route], rules) for b in registry.buses
        }
        self.dropped: dict[str, int] = {}

    def on_fix(self, dev: Device, fix: Fix) -> list[Judgement]:
        watch = self.watches.get(dev.id)
        if watch is None:
            return []
        obs = watch.observe(fix, self.clock())
        if obs.reason is not FixReason.ACCEPTED:
            self.dropped[obs.reason] = self.dropped.get(obs.reason, 0) + 1
            log.debug("fix of %s dropped: %s", dev.id, obs.reason)
        else:
            self.tracks.on_fix(fix, watch.snapshot())
        return obs.judgements

    def restore_detours(self, detours: Iterable[DetourRecord]) -> int:
        """Hand stored detours back to the bus watches, so a restart does not turn a declared detour into
        an alert; returns how many were restored."""
        restored = 0
        for r in sorted(detours, key=lambda r: r.starts):
            watch = self.watches.get(r.bus)
            if watch is not None and r.ends > r.starts:
                watch.declare_detour(r.starts, r.ends, r.reason)
                restored += 1
        return restored

    def tick(self, now: float) -> list[Judgement]:
        found: list[Judgement] = []
        for watch in self.watches.values():
            try:
                found.extend(watch.tick(now))
            except Exception:  # noqa: BLE001
                log.exception("bus tick failed for %s", watch.bus.id)
        return found

    def metrics(self) -> Iterable[Metric]:
        labels = ["school", "bus", "route"]
        fams = {
            "off": GaugeMetricFamily("campus_bus_off_route", "1 while the bus is off its route in service", labels=labels),
            "dist": GaugeMetricFamily("campus_bus_route_distance_meters", "Distance from the route line", labels=labels),
            "speed": GaugeMetricFamily("campus_bus_speed_kmh", "Speed (reported, else derived)", labels=labels),
            "lat": GaugeMetricFamily("campus_bus_latitude", "Last accepted latitude", labels=labels),
            "lon": GaugeMetricFamily("campus_bus_longitude", "Last accepted longitude", labels=labels),
            "limit": GaugeMetricFamily("campus_bus_speed_limit_kmh", "The route's speed limit", labels=labels),
            "corridor": GaugeMetricFamily("campus_bus_corridor_meters", "The route's corridor: off route beyond this",
                                          labels=labels),
            "passengers": GaugeMetricFamily("campus_bus_passengers", "Passengers in the last fix that counted them",
                                            labels=labels),
        }
        routes = self.routes
        for watch in self.watches.values():
            snap = watch.snapshot()
            lv = [snap.school, snap.bus, snap.route]
            fams["off"].add_metric(lv, 1.0 if snap.off_route else 0.0)
            fams["limit"].add_metric(lv, routes[snap.route].speed_limit_kmh)
            fams["corridor"].add_metric(lv, routes[snap.route].corridor_m)
            if snap.distance_m is not None:
                fams["dist"].add_metric(lv, snap.distance_m)
            if snap.speed_kmh is not None:
                fams["speed"].add_metric(lv, snap.speed_kmh)
            if snap.passengers is not None:
                fams["passengers"].add_metric(lv, snap.passengers)
            if snap.lat is not None and snap.lon is not None:
                fams["lat"].add_metric(lv, snap.lat)
                fams["lon"].add_metric(lv, snap.lon)
        yield from fams.values()
        dropped = CounterMetricFamily("campus_fixes_dropped", "GPS fixes decoded but not judged, by reason",
                                      labels=["reason"])
        for reason, n in self.dropped.items():
            dropped.add_metric([str(reason)], n)
        yield dropped
