"""Availability from stored state changes (inspection report, contract §5), on literal timestamps.

The period is one day, 2025-11-25 in Asia/Shanghai: [D0, D1); the report is asked for at NOW.
"""

from __future__ import annotations

import pytest

from devices.availability import Availability, StateChange, availability, blind_spot_seconds

D0 = 1_764_000_000.0  # 2025-11-25 00:00 Asia/Shanghai
D1 = D0 + 86_400.0
NOW = D1 + 3_600.0  # asked the next morning
HOUR = 3_600.0

CASES: list[tuple[str, list[StateChange], float, tuple[float, float, int]]] = [
    # (what, changes, request time, (down_s, judged_s, outages))
    ("up all day", [(D0 - 10, "up")], NOW, (0.0, 86_400.0, 0)),
    ("never heard of", [], NOW, (0.0, 0.0, 0)),
    ("unknown all day", [(D0 - 10, "unknown")], NOW, (0.0, 0.0, 0)),
    ("down for an hour inside the day", [(D0 - 10, "up"), (D0 + HOUR, "down"), (D0 + 2 * HOUR, "up")], NOW,
     (3_600.0, 86_400.0, 1)),
    ("to a fraction of a second", [(D0, "up"), (D0 + 100.25, "down"), (D0 + 160.5, "up")], NOW, (60.25, 86_400.0, 1)),
    ("down since the day before: counted from the start", [(D0 - HOUR, "down"), (D0 + HOUR, "up")], NOW,
     (3_600.0, 86_400.0, 1)),
    ("down until after the day: counted to the end", [(D0, "up"), (D1 - HOUR, "down"), (D1 + 60, "up")], NOW,
     (3_600.0, 86_400.0, 1)),
    ("still down at the request: counted up to it", [(D0, "up"), (D0 + 20 * HOUR, "down")], D0 + 22 * HOUR,
     (7_200.0, 79_200.0, 1)),
    ("unreachable counts as down", [(D0, "up"), (D0 + HOUR, "unreachable"), (D0 + 3 * HOUR, "up")], NOW,
     (7_200.0, 86_400.0, 1)),
    ("unreachable then down is one outage", [(D0, "up"), (D0 + HOUR, "unreachable"), (D0 + 2 * HOUR, "down"),
                                             (D0 + 3 * HOUR, "up")], NOW, (7_200.0, 86_400.0, 1)),
    ("down, unknown (restart), down is two outages", [(D0, "down"), (D0 + HOUR, "unknown"), (D0 + 2 * HOUR, "down"),
                                                      (D0 + 3 * HOUR, "up")], NOW, (7_200.0, 82_800.0, 2)),
    ("unknown time is neither down nor up", [(D0, "unknown"), (D0 + 6 * HOUR, "up"), (D0 + 7 * HOUR, "down")], NOW,
     (61_200.0, 64_800.0, 1)),
    ("faulty is up", [(D0, "faulty"), (D0 + HOUR, "up")], NOW, (0.0, 86_400.0, 0)),
    ("down repeated is one outage", [(D0, "up"), (D0 + HOUR, "down"), (D0 + 2 * HOUR, "down"), (D0 + 3 * HOUR, "up")],
     NOW, (7_200.0, 86_400.0, 1)),
    ("three outages", [(D0, "up"), (D0 + 1 * HOUR, "down"), (D0 + 1.5 * HOUR, "up"), (D0 + 2 * HOUR, "down"),
                       (D0 + 2.5 * HOUR, "up"), (D0 + 3 * HOUR, "down"), (D0 + 3.5 * HOUR, "faulty")], NOW,
     (5_400.0, 86_400.0, 3)),
    ("an outage starting at the end belongs to the next day", [(D0, "up"), (D1, "down")], NOW, (0.0, 86_400.0, 0)),
    ("an outage ending at the start is not in the day", [(D0 - HOUR, "down"), (D0, "up")], NOW, (0.0, 86_400.0, 0)),
    ("changes out of order are sorted", [(D0 + 2 * HOUR, "up"), (D0 - 10, "up"), (D0 + HOUR, "down")], NOW,
     (3_600.0, 86_400.0, 1)),
    ("asked before the day began", [(D0 - 10, "down")], D0 - 5, (0.0, 0.0, 0)),
    ("a state this version does not know is unknown", [(D0, "up"), (D0 + HOUR, "exploded"), (D0 + 2 * HOUR, "up")],
     NOW, (0.0, 82_800.0, 0)),
]


@pytest.mark.parametrize(("what", "changes", "now", "expected"), CASES, ids=[c[0] for c in CASES])
def test_availability_of_one_device_over_a_day(
    what: str, changes: list[StateChange], now: float, expected: tuple[float, float, int]
) -> None:
    got = availability(changes, D0, D1, now)
    assert (got.down_s, got.judged_s, got.outages) == expected


@pytest.mark.parametrize(
    ("changes", "uptime"),
    [([(D0, "up"), (D0 + 21_600.0, "down")], 0.25), ([(D0, "up")], 1.0), ([(D0, "down")], 0.0), ([], None),
     ([(D0, "unknown"), (D1 - 100, "up"), (D1 - 25, "down")], 0.75)],
)
def test_uptime_is_over_judged_time_only(changes: list[StateChange], uptime: float | None) -> None:
    assert availability(changes, D0, D1, NOW).uptime == uptime


def test_camera_figures_add_up_to_a_pooled_uptime() -> None:
    a = availability([(D0, "up"), (D0 + 43_200.0, "down")], D0, D1, NOW)  # half a day down
    b = availability([(D0, "up")], D0, D1, NOW)
    c = availability([], D0, D1, NOW)  # never judged: adds nothing
    total = a + b + c
    assert total == Availability(43_200.0, 172_800.0, 1)
    assert total.uptime == 0.75


def test_blind_spot_seconds_of_a_zone_sum_its_cameras_down_and_unreachable_time() -> None:
    cameras = [
        [(D0, "up"), (D0 + HOUR, "unreachable"), (D0 + 2 * HOUR, "up")],  # 1 h
        [(D0, "up"), (D0 + HOUR, "down"), (D0 + 1.5 * HOUR, "up")],  # 0.5 h, at the same time
        [(D0 - 10, "down")],  # down all day: 24 h
        [(D0, "unknown")],  # never judged: 0
    ]
    assert blind_spot_seconds(cameras, D0, D1, NOW) == 3_600.0 + 1_800.0 + 86_400.0


def test_blind_spot_seconds_of_an_open_outage_count_up_to_the_request() -> None:
    assert blind_spot_seconds([[(D0, "up"), (D0 + 10 * HOUR, "down")]], D0, D1, D0 + 10 * HOUR + 1.5) == 1.5
