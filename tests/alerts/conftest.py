from __future__ import annotations

import itertools

import pytest

from alerts.lifecycle import AlertBook, LifecycleConfig
from alerts.wording import RegistryNames

NAMES = RegistryNames(
    schools={"panhe-ms": "盘河中学", "other-ps": "other-ps"},
    zones={("panhe-ms", "dorm-girls"): "女生宿舍", ("panhe-ms", "canteen"): "食堂"},
    locations={("panhe-ms", "alarm", "alarm-gate"): "校门", ("panhe-ms", "camera", "cam-dg-03"): "女生宿舍3楼东走廊",
               ("panhe-ms", "nvr", "nvr-1"): "监控室", ("panhe-ms", "face", "face-gate-01"): "校门"},
    plates={"bus-023": "云C·12345"},
)


def make_book(**config: object) -> AlertBook:
    counter = itertools.count(1)
    return AlertBook(LifecycleConfig(**config), NAMES, new_id=lambda: f"a-{next(counter)}")  # type: ignore[arg-type]


@pytest.fixture
def book() -> AlertBook:
    return make_book()
