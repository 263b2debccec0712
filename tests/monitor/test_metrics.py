"""The metrics collector (contract §6) without a server: values read back from its registry with
`get_sample_value`, over a real judge and collector fed on a fixed clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from devices.judge import Judge
from devices.model import DeviceKind
from devices.payload import Outcome
from monitor.services.metrics import DeviceMetrics, metrics_registry
from tests.registries import small_registry

T0 = 1_764_000_000.0


@dataclass
class Collector:
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    connected: bool = True


@dataclass
class App:
    """What the metrics collector reads: the judge, the collector's counters, the stored alarm events."""

    judge: Judge
    collector: Collector = field(default_factory=Collector)
    alarm_counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    metric_sources: list[Callable[[], Iterable[Metric]]] = field(default_factory=list)


class Scrape:
    """What one scrape shows: the metric families of the registry and the per-device series that
    `DeviceMetrics.text()` writes as exposition text, read back with `get_sample_value`."""

    def __init__(self, registry: CollectorRegistry, device_metrics: DeviceMetrics) -> None:
        self.registry = registry
        self.device_metrics = device_metrics

    def get_sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        value = self.registry.get_sample_value(name, labels)
        if value is not None:
            return value
        for family in text_string_to_metric_families("".join(self.device_metrics.text())):
            for sample in family.samples:
                if sample.name == name and sample.labels == (labels or {}):
                    return float(sample.value)
        return None


def district() -> tuple[App, Scrape]:
    judge = Judge(small_registry())
    judge.restore({}, T0)
    judge.link_up(T0)
    app = App(judge)
    device_metrics = DeviceMetrics(judge, app.alarm_counts, app.collector.counts, lambda: app.collector.connected)
    registry = metrics_registry([
        device_metrics.metrics,
        lambda: (m for source in app.metric_sources for m in source()),
    ])
    return app, Scrape(registry, device_metrics)


def beat(app: App, device: str, kind: DeviceKind = DeviceKind.CAMERA, school: str = "panhe-ms", at: float = T0) -> None:
    app.judge.beat(app.judge.liveness.devices[(school, kind, device)], at)


def offline(app: App, device: str, kind: DeviceKind = DeviceKind.CAMERA, school: str = "panhe-ms") -> None:
    app.judge.offline(app.judge.liveness.devices[(school, kind, device)], T0 + 1)


def camera(device: str, zone: str, school: str = "panhe-ms") -> dict[str, str]:
    return {"school": school, "kind": "camera", "device": device, "zone": zone}


def dorm(registry: Scrape, name: str) -> float | None:
    return registry.get_sample_value(name, {"school": "panhe-ms", "zone": "dorm-girls", "zone_kind": "dormitory"})


def test_a_device_is_up_once_heard_and_down_when_offline_with_its_last_seen_time() -> None:
    app, registry = district()
    assert registry.get_sample_value("campus_device_up", camera("cam-dg-01", "dorm-girls")) == 0.0  # unknown
    assert registry.get_sample_value("campus_device_last_seen_timestamp_seconds", camera("cam-dg-01", "dorm-girls")) is None
    beat(app, "cam-dg-01", at=T0 + 0.25)
    assert registry.get_sample_value("campus_device_up", camera("cam-dg-01", "dorm-girls")) == 1.0
    assert registry.get_sample_value("campus_device_last_seen_timestamp_seconds", camera("cam-dg-01", "dorm-girls")) == T0 + 0.25
    offline(app, "cam-dg-01")
    assert registry.get_sample_value("campus_device_up", camera("cam-dg-01", "dorm-girls")) == 0.0


def test_a_device_outside_any_zone_has_an_empty_zone_label() -> None:
    app, registry = district()
    beat(app, "cam-01", school="other-ps")
    assert registry.get_sample_value("campus_device_up", camera("cam-01", "", "other-ps")) == 1.0


def test_a_zone_goes_dark_when_its_live_cameras_fall_below_min_live() -> None:
    app, registry = district()
    for cam in ("cam-dg-01", "cam-dg-02", "cam-dg-03"):
        beat(app, cam)
    assert (dorm(registry, "campus_zone_cameras"), dorm(registry, "campus_zone_live_cameras")) == (3.0, 3.0)
    assert dorm(registry, "campus_zone_dark") == 0.0
    offline(app, "cam-dg-01")
    offline(app, "cam-dg-02")
    assert dorm(registry, "campus_zone_live_cameras") == 1.0
    assert dorm(registry, "campus_zone_dark") == 1.0


def test_a_school_is_offline_when_every_camera_and_panel_is_down() -> None:
    app, registry = district()
    beat(app, "cam-01", school="other-ps")
    assert registry.get_sample_value("campus_school_offline", {"school": "other-ps"}) == 0.0
    offline(app, "cam-01", school="other-ps")
    assert registry.get_sample_value("campus_school_offline", {"school": "other-ps"}) == 1.0
    assert registry.get_sample_value("campus_school_offline", {"school": "panhe-ms"}) == 0.0


def test_devices_are_counted_by_school_kind_and_state_with_every_state_present() -> None:
    app, registry = district()
    beat(app, "cam-dg-01")
    offline(app, "cam-dg-02")
    counts = {state: registry.get_sample_value("campus_devices", {"school": "panhe-ms", "kind": "camera",
                                                                 "state": state})
              for state in ("unknown", "up", "faulty", "down", "unreachable")}
    assert counts == {"unknown": 2.0, "up": 1.0, "faulty": 0.0, "down": 1.0, "unreachable": 0.0}
    assert registry.get_sample_value("campus_devices", {"school": "other-ps", "kind": "camera",
                                                        "state": "unknown"}) == 1.0
    assert registry.get_sample_value("campus_devices", {"school": "panhe-ms", "kind": "gps",
                                                        "state": "unknown"}) == 1.0


def test_messages_and_alarm_events_are_counters_with_their_labels() -> None:
    app, registry = district()
    app.collector.counts[("camera", Outcome.ACCEPTED)] += 7
    app.collector.counts[("unknown", Outcome.INVALID)] += 2
    app.alarm_counts[("panhe-ms", "alarm-gate", "press")] += 1
    assert registry.get_sample_value("campus_messages_total", {"kind": "camera", "outcome": "accepted"}) == 7.0
    assert registry.get_sample_value("campus_messages_total", {"kind": "unknown", "outcome": "invalid"}) == 2.0
    assert registry.get_sample_value("campus_alarm_events_total",
                                     {"school": "panhe-ms", "device": "alarm-gate", "type": "press"}) == 1.0


def test_the_broker_link_is_a_gauge() -> None:
    app, registry = district()
    assert registry.get_sample_value("campus_mqtt_connected") == 1.0
    app.collector.connected = False
    assert registry.get_sample_value("campus_mqtt_connected") == 0.0


def test_extra_metric_sources_are_built_at_each_scrape() -> None:
    app, registry = district()
    depth = {"bureau": 3}

    def outbox() -> Iterable[Metric]:
        g = GaugeMetricFamily("campus_notification_queue_depth", "Messages waiting", labels=["receiver"])
        for receiver, n in depth.items():
            g.add_metric([receiver], n)
        yield g

    app.metric_sources.append(outbox)
    assert registry.get_sample_value("campus_notification_queue_depth", {"receiver": "bureau"}) == 3.0
    del depth["bureau"]  # a series whose source is gone does not linger
    assert registry.get_sample_value("campus_notification_queue_depth", {"receiver": "bureau"}) is None
