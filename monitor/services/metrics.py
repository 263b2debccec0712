"""Prometheus metrics (contract §6), built fresh at each scrape from the service's state.

Every part that has figures offers a `metrics()` generator of metric families; `metrics_registry`
registers each of them, one way, in the service's own `CollectorRegistry`. No gauge objects kept in
step by hand, and no stale series after a device leaves the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from devices.judge import Judge
from devices.liveness import LIVE_STATES, State
from devices.model import Registry

_DEVICE_LABELS = ["school", "kind", "device", "zone"]


MetricSource = Callable[[], Iterable[Metric]]


class Families(Collector):
    """A prometheus_client collector over a part's `metrics()`."""

    def __init__(self, source: MetricSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source()


def metrics_registry(sources: Iterable[MetricSource]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for source in sources:
        registry.register(Families(source))
    return registry


def school_info(registry: Registry) -> MetricSource:
    """`campus_school_info{school, name} 1`: dashboards join it to show a school's name, not its id."""

    def metrics() -> Iterator[Metric]:
        info = GaugeMetricFamily("campus_school_info", "A school's name (always 1)", labels=["school", "name"])
        for school in registry.schools:
            info.add_metric([school.id, school.name], 1.0)
        yield info

    return metrics


class DeviceMetrics:
    """Devices, zones, schools, alarm events and the collector's message counts (contract §6)."""

    def __init__(self, judge: Judge, alarm_counts: Mapping[tuple[str, str, str], int],
                 message_counts: Mapping[tuple[str, str], int], connected: Callable[[], bool]) -> None:
        self.judge = judge
        self.alarm_counts = alarm_counts
        self.message_counts = message_counts
        self.connected = connected

    def metrics(self) -> Iterator[Metric]:
        judge = self.judge
        up = GaugeMetricFamily("campus_device_up", "1 when the device is up or faulty, 0 when down or unknown", labels=_DEVICE_LABELS)
        seen = GaugeMetricFamily("campus_device_last_seen_timestamp_seconds", "When the device was last heard (Unix seconds)", labels=_DEVICE_LABELS)
        counts: dict[tuple[str, str, str], int] = {}
        kinds: set[tuple[str, str]] = set()
        for dev in judge.devices():
            labels = [dev.school, str(dev.kind), dev.id, dev.zone or ""]
            up.add_metric(labels, 1.0 if dev.state in LIVE_STATES else 0.0)
            if dev.last_seen is not None:
                seen.add_metric(labels, dev.last_seen)
            k = (dev.school, str(dev.kind), str(dev.state))
            counts[k] = counts.get(k, 0) + 1
            kinds.add((dev.school, str(dev.kind)))
        yield up
        yield seen

        zl = ["school", "zone", "zone_kind"]
        live = GaugeMetricFamily("campus_zone_live_cameras", "Cameras up or faulty in the zone", labels=zl)
        total = GaugeMetricFamily("campus_zone_cameras", "Cameras registered in the zone", labels=zl)
        dark = GaugeMetricFamily("campus_zone_dark", "1 when the zone has fewer live cameras than its min_live", labels=zl)
        for (school, zone_id), zc in judge.coverage.zones.items():
            labels = [school, zone_id, zc.zone.kind]
            live.add_metric(labels, zc.live)
            total.add_metric(labels, zc.cameras)
            dark.add_metric(labels, 1.0 if zc.dark else 0.0)
        yield live
        yield total
        yield dark
        blind = GaugeMetricFamily("campus_blind_spots", "Dormitory cameras down or unreachable (blind spots)",
                                  labels=["school", "zone"])
        for zc in judge.coverage.blind_spot_zones():
            blind.add_metric([zc.school, zc.zone.id], zc.blind_spots)
        yield blind

        offline = GaugeMetricFamily("campus_school_offline", "1 when every camera and alarm panel of the school is down", labels=["school"])
        for school, sc in judge.coverage.schools.items():
            offline.add_metric([school], 1.0 if sc.offline else 0.0)
        yield offline

        events = CounterMetricFamily("campus_alarm_events", "Alarm panel events stored", labels=["school", "device", "type"])
        for (school, device, kind), n in self.alarm_counts.items():
            events.add_metric([school, device, kind], n)
        yield events

        msgs = CounterMetricFamily("campus_messages", "MQTT messages by outcome", labels=["kind", "outcome"])
        for (kind, outcome), n in self.message_counts.items():
            msgs.add_metric([str(kind), str(outcome)], n)
        yield msgs

        yield GaugeMetricFamily("campus_mqtt_connected", "1 while the monitor is connected to the broker",
                                value=1.0 if self.connected() else 0.0)
        devices = GaugeMetricFamily("campus_devices", "Registered devices by school, kind and state (unknown apart "
                                    "from down)", labels=["school", "kind", "state"])
        for (school, kind) in sorted(kinds):
            for state in State:
                devices.add_metric([school, kind, str(state)], counts.get((school, kind, str(state)), 0))
        yield devices
