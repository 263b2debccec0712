"""The track downsampling rule at its boundaries: first fix, interval, distance, state changes, per bus."""

from __future__ import annotations

from devices.events import Fix
from devices.track import Downsampler, TrackFlags, distance_m

LAT, LON = 27.3382, 103.7171
METRE_LAT = 1 / 111_194.9  # degrees of latitude per metre on the haversine sphere


def fix(ts: float, north_m: float = 0.0, bus: str = "bus-1") -> Fix:
    return Fix("s", bus, ts, ts, LAT + north_m * METRE_LAT, LON)


def sampler() -> Downsampler:
    return Downsampler(min_interval_s=15, min_distance_m=50)


def test_the_first_fix_of_a_bus_is_always_kept() -> None:
    assert sampler().keep(fix(100.0))


def test_a_fix_just_short_of_the_interval_and_distance_is_skipped() -> None:
    s = sampler()
    s.keep(fix(100.0))
    assert not s.keep(fix(114.999, 49.9))


def test_a_fix_exactly_at_the_interval_is_kept() -> None:
    s = sampler()
    s.keep(fix(100.0))
    assert s.keep(fix(115.0))


def test_a_fix_exactly_at_the_distance_is_kept_even_right_away() -> None:
    s = sampler()
    s.keep(fix(100.0))
    assert distance_m(LAT, LON, LAT + 50.0 * METRE_LAT, LON) >= 50.0 - 1e-6
    assert s.keep(fix(101.0, 50.001))


def test_skipped_fixes_do_not_move_the_reference() -> None:
    s = sampler()
    s.keep(fix(100.0))
    assert [s.keep(fix(100.0 + i, 10.0 * i)) for i in range(1, 6)] == [False, False, False, False, True]


def test_a_change_of_off_route_or_overspeed_is_kept_and_so_is_the_change_back() -> None:
    s = sampler()
    s.keep(fix(100.0))
    assert s.keep(fix(101.0), TrackFlags(off_route=True))
    assert not s.keep(fix(102.0), TrackFlags(off_route=True))
    assert s.keep(fix(103.0), TrackFlags(off_route=True, overspeed=True))
    assert s.keep(fix(104.0), TrackFlags())


def test_each_bus_has_its_own_reference() -> None:
    s = sampler()
    assert s.keep(fix(100.0, bus="a"))
    assert s.keep(fix(101.0, bus="b"))
    assert not s.keep(fix(102.0, bus="a"))
    s.forget("a")
    assert s.keep(fix(103.0, bus="a"))
