"""Service windows in the route's local time (Asia/Shanghai unless the route says otherwise)."""

from __future__ import annotations

import pytest

from devices.model import Route, Window
from devices.schedule import in_service, next_window_start, window_start

MIDNIGHT = 1_764_000_000.0  # 2025-11-25 00:00:00 in Asia/Shanghai (UTC+8)
DAY = 86400.0


def at(hh: int, mm: int = 0, ss: float = 0.0, day: int = 0) -> float:
    """A literal Shanghai wall-clock time on 2025-11-25 (+ `day`), as Unix seconds."""
    return MIDNIGHT + day * DAY + hh * 3600 + mm * 60 + ss


SCHOOL_RUNS = (Window(6 * 60 + 30, 8 * 60 + 30), Window(16 * 60, 18 * 60 + 30))
SHANGHAI = "Asia/Shanghai"


def route(windows: tuple[Window, ...] = SCHOOL_RUNS, timezone: str = SHANGHAI) -> Route:
    return Route("panhe-r1", 150.0, 60.0, ((103.7171, 27.3382), (103.7204, 27.3417)), windows, timezone)


@pytest.mark.parametrize(
    ("t", "opened"),
    [
        (at(6, 30), at(6, 30)),
        (at(7, 15, 12.5), at(6, 30)),
        (at(8, 29, 59.999), at(6, 30)),
        (at(16, 0), at(16, 0)),
        (at(18, 29, 59), at(16, 0)),
        (at(7, 0, day=1), at(6, 30, day=1)),
    ],
)
def test_inside_a_window_gives_the_time_it_opened(t: float, opened: float) -> None:
    assert window_start(SCHOOL_RUNS, SHANGHAI, t) == opened
    assert in_service(route(), t)


@pytest.mark.parametrize("t", [at(0), at(6, 29, 59.9), at(8, 30), at(12), at(15, 59, 59), at(18, 30), at(23, 59, 59)])
def test_outside_every_window_is_not_in_service(t: float) -> None:
    assert window_start(SCHOOL_RUNS, SHANGHAI, t) is None
    assert not in_service(route(), t)


def test_route_without_windows_is_always_in_service() -> None:
    assert window_start((), SHANGHAI, at(3)) == float("-inf")
    assert all(in_service(route(()), at(h)) for h in range(24))
    assert next_window_start((), SHANGHAI, at(3)) is None


def test_window_ending_at_24_00_runs_to_midnight() -> None:
    evening = (Window(20 * 60, 24 * 60),)
    assert window_start(evening, SHANGHAI, at(23, 59, 59.999)) == at(20)
    assert window_start(evening, SHANGHAI, at(0, day=1)) is None
    assert window_start(evening, SHANGHAI, at(19, 59, 59)) is None


def test_all_day_window_covers_every_second_of_the_day() -> None:
    all_day = (Window(0, 24 * 60),)
    assert window_start(all_day, SHANGHAI, at(0)) == at(0)
    assert window_start(all_day, SHANGHAI, at(23, 59, 59.5)) == at(0)
    assert window_start(all_day, SHANGHAI, at(0, 0, 0.5, day=1)) == at(0, day=1)


def test_windows_are_local_time_of_the_route_timezone() -> None:
    # 06:30 in Shanghai is 22:30 UTC the evening before; the same windows in UTC are 8 hours later.
    assert in_service(route(), at(6, 45))
    assert not in_service(route(timezone="UTC"), at(6, 45))
    assert in_service(route(timezone="UTC"), at(6, 45) + 8 * 3600)


def test_windows_follow_daylight_saving_in_a_zone_that_has_it() -> None:
    # Europe/Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST. 07:00 local is 06:00Z before, 05:00Z after.
    morning = (Window(7 * 60, 8 * 60),)
    before = 1_774_591_200.0  # 2026-03-27T06:00:00Z = 07:00 CET
    after = 1_774_846_800.0  # 2026-03-30T05:00:00Z = 07:00 CEST
    assert window_start(morning, "Europe/Berlin", before) == before
    assert window_start(morning, "Europe/Berlin", after) == after
    assert window_start(morning, "Europe/Berlin", after + 3600) is None


@pytest.mark.parametrize(
    ("t", "following"),
    [
        (at(0), at(6, 30)),
        (at(6, 29, 59), at(6, 30)),
        (at(6, 30), at(16, 0)),  # strictly after: a window opening now is not the next one
        (at(7), at(16, 0)),
        (at(12), at(16, 0)),
        (at(16, 0), at(6, 30, day=1)),
        (at(19), at(6, 30, day=1)),
        (at(23, 59, 59), at(6, 30, day=1)),
    ],
)
def test_next_window_start_is_the_first_opening_strictly_after(t: float, following: float) -> None:
    assert next_window_start(SCHOOL_RUNS, SHANGHAI, t) == following


def test_windows_need_not_be_listed_in_order() -> None:
    reversed_runs = tuple(reversed(SCHOOL_RUNS))
    assert next_window_start(reversed_runs, SHANGHAI, at(1)) == at(6, 30)
    assert window_start(reversed_runs, SHANGHAI, at(17)) == at(16)
