"""The fix filter: each reason a fix is dropped, and recovery from a bad accepted fix."""

from __future__ import annotations

import math

import pytest

from devices.events import Fix
from devices.fixes import FixFilter, FixReason, FixRules, distance_m

T0 = 1_764_000_000.0
LAT, LON = 27.3382, 103.7171
DEG_LAT_M = 111_000.0  # roughly, for building offsets in tests


def fix(ts: float, lat: float = LAT, lon: float = LON, received: float | None = None) -> Fix:
    return Fix("panhe-ms", "bus-023", ts, ts if received is None else received, lat, lon)


def north(metres: float) -> float:
    return LAT + metres / DEG_LAT_M


@pytest.mark.parametrize(
    ("lat", "lon", "reason"),
    [
        (0.0, 0.0, FixReason.ZERO),
        (91.0, LON, FixReason.INVALID),
        (LAT, -180.5, FixReason.INVALID),
        (math.nan, LON, FixReason.INVALID),
        (LAT, math.inf, FixReason.INVALID),
    ],
)
def test_bad_positions_are_dropped(lat: float, lon: float, reason: FixReason) -> None:
    assert FixFilter().check(fix(T0, lat, lon)) is reason


def test_zero_latitude_alone_is_a_real_place() -> None:
    assert FixFilter().check(fix(T0, 0.0, 9.5)) is FixReason.ACCEPTED


def test_future_boundary_is_three_hundred_seconds_after_receipt() -> None:
    assert FixFilter().check(fix(T0 + 300.0, received=T0)) is FixReason.ACCEPTED
    assert FixFilter().check(fix(T0 + 300.5, received=T0)) is FixReason.FUTURE


def test_stale_boundary_is_three_hundred_seconds_before_receipt() -> None:
    assert FixFilter().check(fix(T0 - 300.0, received=T0)) is FixReason.ACCEPTED
    assert FixFilter().check(fix(T0 - 300.5, received=T0)) is FixReason.STALE
    assert FixFilter(FixRules(stale_s=3600)).check(fix(T0 - 1800, received=T0)) is FixReason.ACCEPTED


def test_same_time_again_is_a_duplicate_and_older_is_out_of_order() -> None:
    f = FixFilter()
    assert f.check(fix(T0)) is FixReason.ACCEPTED
    assert f.check(fix(T0)) is FixReason.DUPLICATE
    assert f.check(fix(T0, north(5))) is FixReason.DUPLICATE
    assert f.check(fix(T0 - 1)) is FixReason.OUT_OF_ORDER
    assert f.check(fix(T0 + 1)) is FixReason.ACCEPTED
    assert f.last_ts == T0 + 1


def test_dropped_fixes_do_not_move_the_reference() -> None:
    f = FixFilter()
    f.check(fix(T0))
    f.check(fix(T0 + 400, received=T0 + 10))  # future: dropped
    assert f.check(fix(T0 + 10)) is FixReason.ACCEPTED


def test_jump_faster_than_two_hundred_kmh_is_impossible() -> None:
    # 200 km/h for 10 s is 555.6 m, plus 50 m of GPS error allowed
    f = FixFilter()
    f.check(fix(T0))
    assert f.check(fix(T0 + 10, north(620))) is FixReason.IMPOSSIBLE_JUMP
    assert f.check(fix(T0 + 10, north(590))) is FixReason.ACCEPTED


def test_short_interval_jitter_is_not_a_jump() -> None:
    f = FixFilter()
    f.check(fix(T0))
    assert f.check(fix(T0 + 1, north(45))) is FixReason.ACCEPTED


def test_two_agreeing_fixes_after_a_bad_one_replace_it() -> None:
    f = FixFilter()
    f.check(fix(T0, north(5000)))  # a wild first fix, accepted because nothing came before
    assert f.check(fix(T0 + 10)) is FixReason.IMPOSSIBLE_JUMP
    assert f.check(fix(T0 + 20, north(100))) is FixReason.ACCEPTED
    assert f.check(fix(T0 + 30, north(200))) is FixReason.ACCEPTED


def test_isolated_outlier_is_dropped_and_track_goes_on() -> None:
    f = FixFilter()
    f.check(fix(T0))
    assert f.check(fix(T0 + 10, north(5000))) is FixReason.IMPOSSIBLE_JUMP
    assert f.check(fix(T0 + 20, north(100))) is FixReason.ACCEPTED


def test_haversine_distance() -> None:
    # one degree of latitude is about 111.2 km on the mean sphere
    assert distance_m(27.0, 103.0, 28.0, 103.0) == pytest.approx(111_195, rel=1e-4)
