"""Metrics the dashboards join and split on: a school's name, and device counts with unknown apart."""

from __future__ import annotations

from devices.judge import Judge
from devices.registry import parse_registry
from monitor.services.metrics import DeviceMetrics, metrics_registry, school_info
from tests.registries import SMALL_REGISTRY


def test_school_info_names_every_school_and_device_counts_keep_unknown_apart_from_down() -> None:
    registry = parse_registry(SMALL_REGISTRY, "registry.yaml")
    judge = Judge(registry)
    reg = metrics_registry([school_info(registry), DeviceMetrics(judge, {}, {}, lambda: True).metrics])
    assert reg.get_sample_value("campus_school_info", {"school": "panhe-ms", "name": "盘河中学"}) == 1
    assert reg.get_sample_value("campus_school_info", {"school": "other-ps", "name": "其他小学"}) == 1
    assert reg.get_sample_value("campus_devices", {"school": "panhe-ms", "kind": "camera", "state": "unknown"}) == 4
    assert reg.get_sample_value("campus_devices", {"school": "panhe-ms", "kind": "camera", "state": "down"}) == 0
    assert reg.get_sample_value("campus_devices", {"school": "other-ps", "kind": "alarm", "state": "unknown"}) is None
