"""Shared by the bridge tests: a registry with a bus terminal, an NVR with channels and an RTSP camera."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.model import Registry
from devices.registry import parse_registry
from tests.integration.mosquitto import run_mosquitto

REGISTRY = """\
schools:
  - id: panhe-ms
    name: 盘河中学
    zones:
      - {id: dorm-girls, name: 女生宿舍, kind: dormitory}
      - {id: gate, name: 校门, kind: gate}
    nvrs:
      - {id: nvr-1, gb_id: "53060200001180000001", location: 监控室}
    cameras:
      - {id: cam-dg-01, zone: dorm-girls, nvr: nvr-1, gb_id: "53060200001320000001"}
      - {id: cam-dg-02, zone: dorm-girls, nvr: nvr-1, gb_id: "53060200001320000002"}
      - {id: cam-solo, zone: gate, gb_id: "53060200001320000009"}
      - {id: cam-gate-01, zone: gate, rtsp: "rtsp://127.0.0.1:1/Streaming/Channels/101"}
routes:
  - {id: panhe-r1, corridor_m: 150, speed_limit_kmh: 60, path: [[103.7171, 27.3382], [103.7204, 27.3417]]}
buses:
  - {id: bus-023, plate: 云C·12345, school: panhe-ms, route: panhe-r1, capacity: 19, terminal: "013912345678"}
  - {id: bus-024, plate: 云C·12346, school: panhe-ms, route: panhe-r1, capacity: 19, terminal: "00000000013900000024"}
"""


def registry(text: str = REGISTRY) -> Registry:
    return parse_registry(text, "registry.yaml")


class FakePublisher:
    """Records what a bridge publishes; refuses what is not a registry device, as the real one does."""

    def __init__(self, prefixes: set[str], root: str = "campus") -> None:
        self.root = root
        self.prefixes = prefixes
        self.sent: list[tuple[str, bytes, int]] = []
        self.refused: list[str] = []

    def prefix(self, school: str, segment: str, device: str) -> str:
        return f"{self.root}/{school}/{segment}/{device}"

    def publish(self, prefix: str, leaf: str, payload: bytes, qos: int = 0, retain: bool = False) -> bool:
        if prefix not in self.prefixes:
            self.refused.append(prefix)
            return False
        self.sent.append((f"{prefix}/{leaf}", payload, qos))
        return True


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A fresh Mosquitto on a free port of 127.0.0.1 (never the system one on 1883)."""
    with run_mosquitto(tmp_path / "mosquitto") as port:
        yield ("127.0.0.1", port)
