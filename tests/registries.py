"""The small district the tests share: 盘河中学 with a dormitory zone of three cameras (min_live 2), a canteen
camera and the gate's alarm panel; 其他小学 with one camera; bus-023 on route panhe-r1. Heartbeats are due
every 0.5 s and a device is down after two missed (1 s), so tests against a running monitor are quick.

Tests that need another shape (more zones, a second route) say so with their own registry.
"""

from __future__ import annotations

from devices.model import Registry
from devices.registry import parse_registry

SMALL_REGISTRY = """
defaults:
  camera: {interval_s: 0.5, missed: 2}
  alarm: {interval_s: 0.5, missed: 2}
  gps: {interval_s: 0.5, missed: 2}
schools:
  - id: panhe-ms
    name: 盘河中学
    zones:
      - {id: dorm-girls, name: 女生宿舍, kind: dormitory, min_live: 2}
      - {id: canteen, name: 食堂, kind: canteen}
    cameras:
      - {id: cam-dg-01, zone: dorm-girls}
      - {id: cam-dg-02, zone: dorm-girls}
      - {id: cam-dg-03, zone: dorm-girls}
      - {id: cam-ct-01, zone: canteen}
    alarms:
      - {id: alarm-gate, location: 校门}
  - id: other-ps
    name: 其他小学
    cameras:
      - {id: cam-01}
routes:
  - id: panhe-r1
    corridor_m: 150
    speed_limit_kmh: 60
    path: [[103.7171, 27.3382], [103.7204, 27.3417]]
buses:
  - {id: bus-023, plate: 云C·12345, school: panhe-ms, route: panhe-r1, capacity: 19}
"""


def small_registry() -> Registry:
    """SMALL_REGISTRY loaded, as `registry.yaml`."""
    return parse_registry(SMALL_REGISTRY, "registry.yaml")
