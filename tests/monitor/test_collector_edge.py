"""The collector's edge checks, fed straight through `Collector.handle` (no broker needed for these)."""

from __future__ import annotations

import time

from devices.events import AlarmEvent, Fix, Judgement
from devices.judge import Judge
from devices.liveness import Device
from devices.registry import parse_registry
from monitor.config import MqttConfig
from monitor.mqtt.collector import Collector, Done

REGISTRY = """
schools:
  - id: panhe-ms
    name: 盘河中学
    zones:
      - {id: dorm-girls, name: 女生宿舍, kind: dormitory}
    cameras:
      - {id: cam-dg-01, zone: dorm-girls}
"""
NOW = 1_764_000_000.0


class Sink:
    def __init__(self) -> None:
        self.judged: list[Judgement] = []

    def judgements(self, items: list[Judgement]) -> None:
        self.judged.extend(items)

    def alarm_event(self, dev: Device, ev: AlarmEvent, done: Done) -> None:
        done(None)

    def fix(self, dev: Device, fix: Fix) -> list[Judgement]:
        return []

    def link(self, up: bool, now: float) -> None:
        return None


def collector() -> tuple[Collector, Judge]:
    judge = Judge(parse_registry(REGISTRY, "registry.yaml"))
    judge.link_up(NOW - 1000)
    return Collector(MqttConfig(), judge, Sink(), clock=time.time, events=False), judge


def test_a_heartbeat_from_1970_is_counted_invalid_and_is_no_liveness() -> None:
    c, judge = collector()
    cam = judge.liveness.devices[next(iter(judge.liveness.devices))]
    c.handle("campus/panhe-ms/camera/cam-dg-01/heartbeat", b'{"ts": 1.0, "status": "ok"}', False, NOW)
    assert c.counts[("camera", "invalid")] == 1
    assert cam.last_seen is None and str(cam.state) == "unknown"


def test_a_heartbeat_of_now_is_liveness() -> None:
    c, judge = collector()
    cam = judge.liveness.devices[next(iter(judge.liveness.devices))]
    c.handle("campus/panhe-ms/camera/cam-dg-01/heartbeat", b'{"ts": %f, "status": "ok"}' % NOW, False, NOW)
    assert c.counts[("camera", "accepted")] == 1
    assert cam.last_seen == NOW and str(cam.state) == "up"


def test_the_events_connection_has_its_own_client_id_and_persistent_session_and_reads_only_events() -> None:
    judge = Judge(parse_registry(REGISTRY, "registry.yaml"))
    cfg = MqttConfig(client_id="campus-monitor")
    devices, events = Collector(cfg, judge, Sink(), events=False), Collector(cfg, judge, Sink(), events=True)
    assert (devices.client_id, devices.persistent, devices.leaves) == (
        "campus-monitor", False, ("heartbeat", "gps", "status"))
    assert (events.client_id, events.persistent, events.leaves) == ("campus-monitor-events", True, ("event",))
