"""BusWatch scenarios on literal timestamps: off-route hysteresis, progress, detours, overspeed."""

from __future__ import annotations

import pytest

from devices.bus import OFF_HOURS_RULE, BusRules, BusWatch, Observation, Place
from devices.events import Fix, Judgement, Rule, Severity
from devices.fixes import FixReason
from devices.geometry import LocalProjection, RouteLine
from devices.model import Bus, Heartbeat, Route, SlowStretch, Window

T0 = 1_764_000_000.0  # 2025-11-25 00:00 Asia/Shanghai
ORIGIN = (103.7171, 27.3382)
SCHOOL, BUS = "panhe-ms", "bus-023"


def make_route(
    legs: list[tuple[float, float]] | None = None,
    *,
    corridor_m: float = 150.0,
    limit: float = 60.0,
    windows: tuple[Window, ...] = (),
    stretches: tuple[SlowStretch, ...] = (),
) -> Route:
    """A route through the given corner points (metres east/north of ORIGIN), a point every 10 m."""
    corners = legs or [(0.0, 0.0), (20_000.0, 0.0)]
    proj = LocalProjection(*ORIGIN)
    pts: list[tuple[float, float]] = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:], strict=False):
        n = max(1, int(max(abs(x1 - x0), abs(y1 - y0)) // 10))
        pts += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n)]
    pts.append(corners[-1])
    path = tuple(proj.inverse(x, y) for x, y in pts)
    return Route("panhe-r1", corridor_m, limit, path, windows, "Asia/Shanghai", stretches)


class Trip:
    """A bus on a route, driven by hand: `at(t, progress, offset)` with t in seconds after T0."""

    def __init__(self, route: Route | None = None, rules: BusRules | None = None) -> None:
        self.route = route or make_route()
        self.line = RouteLine.from_route(self.route)
        bus = Bus(BUS, "云C·12345", SCHOOL, self.route.id, 19, Heartbeat(10.0, 6))
        self.watch = BusWatch(bus, self.route, self.line, rules)
        self.judgements: list[Judgement] = []
        self.proj = LocalProjection(*ORIGIN)

    def at(self, t: float, progress: float, offset: float = 0.0, speed: float | None = None) -> Observation:
        lon, lat = self.line.point_at(progress, offset)
        return self.fix(t, lat, lon, speed)

    def xy(self, t: float, x: float, y: float, speed: float | None = None) -> Observation:
        lon, lat = self.proj.inverse(x, y)
        return self.fix(t, lat, lon, speed)

    def fix(self, t: float, lat: float, lon: float, speed: float | None = None) -> Observation:
        obs = self.watch.observe(Fix(SCHOOL, BUS, T0 + t, T0 + t, lat, lon, speed), T0 + t)
        self.judgements += obs.judgements
        return obs

    def tick(self, t: float) -> list[Judgement]:
        out = self.watch.tick(T0 + t)
        self.judgements += out
        return out

    def rules(self, rule: Rule | str) -> list[Judgement]:
        return [j for j in self.judgements if j.rule == rule]


def off_route(obs: Observation) -> list[bool]:
    return [j.active for j in obs.judgements if j.rule == Rule.BUS_OFF_ROUTE]


# ---- the corridor and the hysteresis ---------------------------------------------------------


def test_fix_exactly_at_the_corridor_edge_is_on_route() -> None:
    trip = Trip()
    for i in range(10):
        obs = trip.at(10.0 * i, 1000.0 + 100 * i, offset=150.0)
        assert obs.place is Place.ON_ROUTE
    assert trip.judgements == []


def test_just_beyond_the_corridor_is_out() -> None:
    trip = Trip()
    trip.at(0, 1000)
    assert trip.at(10, 1100, offset=150.01).place is Place.OUTSIDE


def test_off_route_after_three_fixes_and_sixty_seconds() -> None:
    trip = Trip()
    trip.at(0, 1000)
    assert off_route(trip.at(30, 1200, offset=400)) == []
    assert off_route(trip.at(60, 1400, offset=400)) == []
    assert off_route(trip.at(90, 1600, offset=400)) == [True]
    j = trip.rules(Rule.BUS_OFF_ROUTE)[0]
    assert (j.severity, j.school, j.subject, j.time) == (Severity.CRITICAL, SCHOOL, BUS, T0 + 90)
    assert j.detail["since"] == T0 + 30
    assert j.detail["distance_m"] == pytest.approx(400.0, abs=0.1)
    assert "suppressed" not in j.detail
    assert trip.watch.snapshot().off_route


def test_one_fix_short_of_the_count_is_not_off_route() -> None:
    trip = Trip()
    trip.at(0, 1000)
    trip.at(10, 1100, offset=400)
    trip.at(100, 1200, offset=400)  # 90 s out, but only two fixes
    assert trip.at(110, 1300).place is Place.ON_ROUTE
    trip.at(120, 1400, offset=400)
    trip.at(190, 1500, offset=400)
    assert trip.judgements == []


def test_one_second_short_of_the_time_is_not_off_route() -> None:
    trip = Trip()
    trip.at(0, 1000)
    trip.at(10, 1100, offset=400)
    trip.at(30, 1200, offset=400)
    assert off_route(trip.at(69, 1300, offset=400)) == []  # three fixes, 59 s
    assert off_route(trip.at(70, 1400, offset=400)) == [True]  # four fixes, 60 s


def test_back_on_route_needs_the_same_three_fixes_and_sixty_seconds() -> None:
    trip = Trip()
    trip.at(0, 1000)
    for t in (10, 40, 70):
        trip.at(t, 1000 + 3 * t, offset=400)
    assert trip.watch.snapshot().off_route
    assert off_route(trip.at(80, 1240)) == []
    assert off_route(trip.at(90, 1270)) == []
    assert off_route(trip.at(139, 1417)) == []  # three fixes but 59 s
    obs = trip.at(140, 1420)
    assert off_route(obs) == [False]
    assert obs.judgements[0].detail["reason"] == "back_on_route"
    assert not trip.watch.snapshot().off_route


def test_an_out_fix_while_returning_restarts_the_count() -> None:
    trip = Trip()
    trip.at(0, 1000)
    for t in (10, 40, 70):
        trip.at(t, 1000 + 3 * t, offset=400)
    trip.at(80, 1240)
    trip.at(110, 1330)
    trip.at(120, 1360, offset=400)
    trip.at(150, 1450)
    trip.at(180, 1540)
    assert off_route(trip.at(209, 1630)) == []
    assert off_route(trip.at(210, 1640)) == [True, False][1:]


def test_jitter_across_the_corridor_edge_never_flaps() -> None:
    trip = Trip()
    for i in range(120):  # 20 minutes, a fix every 10 s, alternating 140 m and 160 m off
        trip.at(10.0 * i, 1000.0 + 80 * i, offset=140.0 if i % 2 else 160.0)
    assert trip.rules(Rule.BUS_OFF_ROUTE) == []


def test_two_out_of_three_fixes_outside_never_alerts() -> None:
    trip = Trip()
    for i in range(60):
        trip.at(10.0 * i, 1000.0 + 80 * i, offset=0.0 if i % 3 == 0 else 300.0)
    assert trip.rules(Rule.BUS_OFF_ROUTE) == []


# ---- progress along the route ----------------------------------------------------------------

U_ROUTE = [(0.0, 0.0), (5000.0, 0.0), (5000.0, 100.0), (0.0, 100.0)]  # out and back, 100 m apart
WIDE_U = [(0.0, 0.0), (5000.0, 0.0), (5000.0, 1000.0), (0.0, 1000.0)]


def test_driving_the_route_backwards_inside_the_corridor_is_off_route() -> None:
    trip = Trip(make_route(U_ROUTE))
    for t in range(0, 60, 10):
        trip.xy(t, 1000 + 10 * t, 0)  # east at 36 km/h
    places = []
    for t in range(60, 150, 10):
        obs = trip.xy(t, 1600 - 10 * (t - 60), 0)  # turns round, drives west on the outbound leg
        places.append(obs.place)
    assert places[0] is Place.ON_ROUTE  # 10 m back is jitter
    assert set(places[1:]) == {Place.BACKWARD}
    assert [j.active for j in trip.rules(Rule.BUS_OFF_ROUTE)] == [True]
    assert trip.rules(Rule.BUS_OFF_ROUTE)[0].detail["reason"] == "backward"


def test_out_and_back_route_driven_properly_stays_on_route() -> None:
    trip = Trip(make_route([(0.0, 0.0), (2000.0, 0.0), (2000.0, 10.0), (0.0, 10.0)]))
    jitter = [0.0, 8.0, -6.0, 4.0, -8.0]
    t = 0
    for x in range(0, 2001, 100):  # east on one lane, 10 m/s
        trip.xy(t, x, jitter[t // 10 % 5])
        t += 10
    for x in range(2000, -1, -100):  # and back west on the other
        obs = trip.xy(t, x, 10 + jitter[t // 10 % 5])
        assert obs.place is Place.ON_ROUTE, (t, x)
        t += 10
    assert trip.judgements == []


def test_shortcut_onto_a_later_part_of_the_route_is_the_third_out_fix() -> None:
    trip = Trip(make_route(WIDE_U))
    trip.xy(0, 1000, 0)
    assert trip.xy(30, 1300, 250).place is Place.OUTSIDE
    assert trip.xy(60, 1600, 400).place is Place.OUTSIDE
    obs = trip.xy(90, 1900, 1000)  # on the return leg, 7 km further along the route
    assert obs.place is Place.AHEAD
    assert off_route(obs) == [True]
    assert obs.judgements[0].detail["progress_m"] == pytest.approx(9100.0, abs=1.0)


def test_one_skipped_fix_then_normal_driving_is_one_out_fix() -> None:
    trip = Trip()
    trip.at(0, 1000)
    assert trip.at(30, 2500).place is Place.AHEAD  # 1.5 km along the route in 30 s: not by road
    for t in range(40, 200, 10):
        assert trip.at(t, 2500 + 10 * (t - 30)).place is Place.ON_ROUTE
    assert trip.rules(Rule.BUS_OFF_ROUTE) == []


def test_long_gap_is_not_a_skip() -> None:
    trip = Trip()
    trip.at(0, 1000)
    assert trip.at(265, 3500).place is Place.ON_ROUTE  # 2.5 km in 265 s is 34 km/h


def test_starting_the_route_again_from_the_end_is_a_new_lap() -> None:
    route = make_route([(0.0, 0.0), (3000.0, 0.0), (3000.0, 500.0), (0.0, 500.0), (0.0, 0.0)])
    trip = Trip(route)
    length = trip.line.length_m
    trip.at(0, length - 150)
    trip.at(10, length - 50)
    assert trip.at(20, 50).place is Place.ON_ROUTE
    assert trip.at(30, 150).place is Place.ON_ROUTE
    assert trip.judgements == []


# ---- service windows -------------------------------------------------------------------------

MORNING = Window(6 * 60 + 30, 8 * 60 + 30)  # 06:30-08:30 Asia/Shanghai
W0 = 6.5 * 3600  # 06:30 as seconds after T0


def test_off_route_is_judged_only_inside_service_windows() -> None:
    trip = Trip(make_route(windows=(MORNING,)))
    for i in range(10):  # 05:00, well before service: far off route
        trip.at(5 * 3600 + 30 * i, 1000 + 300 * i, offset=2000)
    assert trip.rules(Rule.BUS_OFF_ROUTE) == []
    assert not trip.watch.snapshot().off_route
    assert not trip.watch.snapshot().in_service


def test_out_fixes_before_the_window_do_not_count_inside_it() -> None:
    trip = Trip(make_route(windows=(MORNING,)))
    trip.at(W0 - 60, 1000, offset=400)
    trip.at(W0 - 30, 1100, offset=400)
    assert off_route(trip.at(W0, 1200, offset=400)) == []
    trip.at(W0 + 30, 1300, offset=400)
    assert off_route(trip.at(W0 + 60, 1400, offset=400)) == [True]


def test_service_window_ending_clears_off_route_on_tick() -> None:
    trip = Trip(make_route(windows=(MORNING,)))
    end = 8.5 * 3600
    for t in (end - 120, end - 90, end - 60, end - 30):
        trip.at(t, 1000 + t - end, offset=400)
    assert trip.watch.snapshot().off_route
    assert trip.tick(end - 1) == []
    cleared = trip.tick(end)
    assert [(j.active, j.detail["reason"]) for j in cleared] == [(False, "service_ended")]
    assert trip.tick(end + 1) == []


def test_bus_moving_outside_every_window_gives_an_info_judgement() -> None:
    trip = Trip(make_route(windows=(MORNING,)))
    for i in range(6):  # 22:00, driving at 36 km/h
        trip.at(22 * 3600 + 10 * i, 1000 + 100 * i)
    roaming = trip.rules(OFF_HOURS_RULE)
    assert [(j.active, j.severity) for j in roaming] == [(True, Severity.INFO)]
    assert roaming[0].time == T0 + 22 * 3600 + 30  # the first derived speed, over 30 s
    for i in range(6, 40):  # parked
        trip.at(22 * 3600 + 10 * i, 1500)
    assert [j.active for j in trip.rules(OFF_HOURS_RULE)] == [True, False]
    assert trip.rules(OFF_HOURS_RULE)[1].detail["reason"] == "parked"


def test_bus_standing_outside_windows_gives_nothing() -> None:
    trip = Trip(make_route(windows=(MORNING,)))
    for i in range(30):
        trip.at(22 * 3600 + 10 * i, 1000, offset=5.0 * (i % 3))
    assert trip.judgements == []


# ---- declared detours ------------------------------------------------------------------------


def drive_off(trip: Trip, t0: float, n: int = 4) -> None:
    for i in range(n):
        trip.at(t0 + 30 * i, 1000 + 200 * i, offset=500)


def test_off_route_inside_a_declared_detour_is_recorded_suppressed_with_the_reason() -> None:
    trip = Trip()
    trip.watch.declare_detour(T0, T0 + 3600, "road works on Huancheng Rd")
    drive_off(trip, 0)
    [j] = trip.rules(Rule.BUS_OFF_ROUTE)
    assert j.active
    assert j.detail["suppressed"] is True
    assert j.detail["detour"] == "road works on Huancheng Rd"
    snap = trip.watch.snapshot()
    assert snap.off_route and snap.detour == "road works on Huancheng Rd"


def test_detour_expiring_while_still_off_route_alerts() -> None:
    trip = Trip()
    trip.watch.declare_detour(T0, T0 + 100, "flooding")
    drive_off(trip, 0)  # off route (suppressed) at t=60
    assert [j.detail.get("suppressed") for j in trip.rules(Rule.BUS_OFF_ROUTE)] == [True]
    assert trip.tick(99) == []
    changed = trip.tick(100)
    assert [(j.active, j.detail.get("suppressed"), j.detail["reason"]) for j in changed] == [
        (False, True, "detour_ended"),
        (True, None, "outside_corridor"),
    ]
    assert trip.watch.snapshot().detour is None


def test_detour_expiring_is_also_seen_at_the_next_fix() -> None:
    trip = Trip()
    trip.watch.declare_detour(T0, T0 + 100, "flooding")
    drive_off(trip, 0, n=6)  # fixes at 0..150
    assert [(j.active, bool(j.detail.get("suppressed"))) for j in trip.rules(Rule.BUS_OFF_ROUTE)] == [
        (True, True),
        (False, True),
        (True, False),
    ]
    assert trip.rules(Rule.BUS_OFF_ROUTE)[-1].time == T0 + 120


def test_detour_declared_while_alerting_ends_the_alert_and_records_the_rest() -> None:
    trip = Trip()
    drive_off(trip, 0)
    trip.watch.declare_detour(T0 + 100, T0 + 1000, "accident ahead")
    changed = trip.tick(100)
    assert [(j.active, j.detail.get("suppressed"), j.detail["reason"]) for j in changed] == [
        (False, None, "detour_declared"),
        (True, True, "outside_corridor"),
    ]


def test_detour_that_has_ended_does_not_suppress() -> None:
    trip = Trip()
    trip.watch.declare_detour(T0 - 3600, T0 - 1, "yesterday's market")
    drive_off(trip, 0)
    [j] = trip.rules(Rule.BUS_OFF_ROUTE)
    assert "suppressed" not in j.detail


def test_detour_on_route_changes_nothing() -> None:
    trip = Trip()
    trip.watch.declare_detour(T0, T0 + 3600, "festival")
    for i in range(10):
        trip.at(10 * i, 1000 + 100 * i)
    assert trip.judgements == [] and trip.tick(50) == []


def test_detour_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError):
        Trip().watch.declare_detour(T0, T0, "x")


# ---- overspeed -------------------------------------------------------------------------------


def overspeed(obs: Observation) -> list[bool]:
    return [j.active for j in obs.judgements if j.rule == Rule.BUS_OVERSPEED]


def test_reported_overspeed_after_ten_seconds_and_back_after_ten() -> None:
    trip = Trip()
    trip.at(0, 1000, speed=55)
    assert overspeed(trip.at(5, 1080, speed=72)) == []
    assert overspeed(trip.at(14, 1260, speed=75)) == []  # 9 s over
    obs = trip.at(15, 1280, speed=74)
    assert overspeed(obs) == [True]
    j = obs.judgements[0]
    assert (j.severity, j.detail["limit_kmh"], j.detail["source"], j.detail["since"]) == (
        Severity.WARNING,
        60.0,
        "reported",
        T0 + 5,
    )
    assert overspeed(trip.at(20, 1380, speed=58)) == []
    assert overspeed(trip.at(25, 1460, speed=61)) == []  # over again: the clearing restarts
    assert overspeed(trip.at(30, 1540, speed=50)) == []
    assert overspeed(trip.at(39, 1660, speed=50)) == []
    assert overspeed(trip.at(40, 1680, speed=50)) == [False]


def test_exactly_at_the_limit_is_not_overspeed() -> None:
    trip = Trip()
    for i in range(10):
        trip.at(5 * i, 1000 + 83 * i, speed=60.0)
    assert trip.judgements == []


def test_overspeed_derived_from_positions_without_speed() -> None:
    trip = Trip()
    for i in range(10):  # 25 m/s = 90 km/h, a fix every 10 s
        obs = trip.at(10 * i, 1000 + 250 * i)
    js = trip.rules(Rule.BUS_OVERSPEED)
    assert [j.active for j in js] == [True]
    assert js[0].detail["source"] == "derived"
    assert js[0].detail["speed_kmh"] == pytest.approx(90.0, abs=0.5)
    assert js[0].time == T0 + 40  # first derived speed at 30 s, over for 10 s at 40 s
    assert obs.reason is FixReason.ACCEPTED
    assert trip.watch.snapshot().speed_kmh == pytest.approx(90.0, abs=0.5)


def test_jitter_on_short_intervals_is_not_overspeed() -> None:
    trip = Trip()
    jitter = [0.0, 25.0, -20.0, 30.0, -25.0, 10.0]  # metres along the road, like S2's fixes
    for i in range(90):  # 30 km/h with a fix every 5 s for 7.5 minutes
        trip.at(5 * i, 1000 + 41.7 * i + jitter[i % 6], offset=jitter[(i + 3) % 6] / 2)
    assert trip.rules(Rule.BUS_OVERSPEED) == []
    assert trip.watch.snapshot().speed_kmh == pytest.approx(30.0, abs=5.0)


def test_slow_stretch_has_its_own_limit() -> None:
    bridge = SlowStretch(2000.0, 2500.0, 20.0, "Sala River bridge")
    trip = Trip(make_route(stretches=(bridge,)))
    for i in range(8):  # 40 km/h reported: fine on the road...
        trip.at(5 * i, 1500 + 55 * i, speed=40)
    assert trip.judgements == []
    for i in range(8, 12):  # ...too fast on the bridge
        trip.at(5 * i, 2000 + 55 * (i - 8), speed=40)
    [j] = trip.rules(Rule.BUS_OVERSPEED)
    assert j.active and j.detail["limit_kmh"] == 20.0 and j.detail["stretch"] == "Sala River bridge"
    assert j.time == T0 + 50


def test_overspeed_is_judged_outside_service_windows_too() -> None:
    trip = Trip(make_route(windows=(MORNING,)))
    for i in range(4):
        trip.at(22 * 3600 + 5 * i, 1000 + 100 * i, speed=80)
    assert [j.active for j in trip.rules(Rule.BUS_OVERSPEED)] == [True]


# ---- filtering and snapshot ------------------------------------------------------------------


def test_dropped_fixes_are_not_judged_and_say_why() -> None:
    trip = Trip()
    trip.at(0, 1000)
    lon, lat = trip.line.point_at(1100, 500)
    assert trip.watch.observe(Fix(SCHOOL, BUS, T0, T0 + 1, lat, lon), T0 + 1).reason is FixReason.DUPLICATE
    assert trip.watch.observe(Fix(SCHOOL, BUS, T0 + 5, T0 + 5, 0.0, 0.0), T0 + 5).reason is FixReason.ZERO
    assert trip.watch.snapshot().distance_m == pytest.approx(0.0, abs=0.01)


def test_duplicates_do_not_count_towards_the_three_fixes() -> None:
    trip = Trip()
    trip.at(0, 1000)
    trip.at(10, 1100, offset=400)
    trip.at(70, 1200, offset=400)
    assert trip.at(70, 1200, offset=400).reason is FixReason.DUPLICATE
    assert trip.judgements == []


def test_snapshot_shows_position_distance_progress_and_speed() -> None:
    trip = Trip()
    assert trip.watch.snapshot().last_fix_ts is None
    trip.at(0, 1000, speed=30)
    trip.at(10, 1083, offset=-40, speed=31.5)
    s = trip.watch.snapshot()
    lon, lat = trip.line.point_at(1083, -40)
    assert (s.bus, s.school, s.route) == (BUS, SCHOOL, "panhe-r1")
    assert (s.lat, s.lon, s.last_fix_ts, s.speed_kmh) == (lat, lon, T0 + 10, 31.5)
    assert s.distance_m == pytest.approx(40.0, abs=0.01)
    assert s.progress_m == pytest.approx(1083.0, abs=0.01)
    assert s.place is Place.ON_ROUTE and not s.off_route and not s.overspeed and s.in_service


# ---- passengers and overload (capacity 19) ------------------------------------------------------


def load(trip: Trip, t: float, passengers: int | None, received: float | None = None) -> Observation:
    """A fix at `t` s after T0 on the route at 10 m/s with a passenger count, received at `received`."""
    lon, lat = trip.line.point_at(100.0 + 10.0 * t)
    fix = Fix(SCHOOL, BUS, T0 + t, T0 + (t if received is None else received), lat, lon, 36.0, passengers=passengers)
    obs = trip.watch.observe(fix, T0 + (t if received is None else received))
    trip.judgements += obs.judgements
    return obs


def overloaded(trip: Trip) -> list[tuple[float, bool]]:
    return [(j.time - T0, j.active) for j in trip.rules(Rule.BUS_OVERLOADED)]


OVERLOADS = [
    # (what, [(t, passengers)], expected [(time, active)])
    ("over capacity for 30 s fires", [(0, 20), (10, 21), (20, 20), (30, 22)], [(30, True)]),
    ("over capacity for 29 s does not", [(0, 20), (10, 21), (20, 20), (29, 22)], []),
    ("exactly capacity is not over", [(0, 19), (30, 19), (60, 19)], []),
    ("a dip to capacity restarts the count", [(0, 25), (20, 19), (30, 25), (50, 25), (60, 25)], [(60, True)]),
    ("resolves at the first fix at or below capacity", [(0, 25), (30, 25), (40, 24), (50, 19)], [(30, True), (50, False)]),
    ("fixes without a count change nothing", [(0, 25), (10, None), (20, None), (30, 25), (40, None)], [(30, True)]),
    ("a fix without a count does not resolve", [(0, 25), (30, 25), (40, None)], [(30, True)]),
]


@pytest.mark.parametrize(("what", "fixes", "expected"), OVERLOADS, ids=[o[0] for o in OVERLOADS])
def test_bus_overloaded_after_overload_after_s_over_capacity(
    what: str, fixes: list[tuple[float, int | None]], expected: list[tuple[float, bool]]
) -> None:
    trip = Trip()
    for t, passengers in fixes:
        load(trip, t, passengers)
    assert overloaded(trip) == expected


def test_overload_judgement_is_critical_and_names_the_count_and_capacity() -> None:
    trip = Trip()
    load(trip, 0, 23)
    [j] = load(trip, 30, 24).judgements
    assert (j.rule, j.severity, j.school, j.subject, j.active) == (Rule.BUS_OVERLOADED, Severity.CRITICAL, SCHOOL, BUS, True)
    assert (j.detail["passengers"], j.detail["capacity"], j.detail["since"]) == (24, 19, T0)


def test_overload_fires_on_the_tick_when_fixes_are_sparse() -> None:
    trip = Trip()
    load(trip, 0, 25)
    assert trip.tick(29) == []
    assert [(j.rule, j.active, j.time) for j in trip.tick(30)] == [(Rule.BUS_OVERLOADED, True, T0 + 30)]
    assert load(trip, 45, 25).judgements == []  # already firing
    assert overloaded(trip) == [(30, True)]


def test_overload_tick_counts_from_the_receipt_of_the_first_fix_over_capacity() -> None:
    trip = Trip()
    load(trip, 0, 25, received=4)  # four seconds on the way
    assert trip.tick(33) == []
    assert [j.active for j in trip.tick(34)] == [True]


def test_overload_is_configured_by_overload_after_s() -> None:
    trip = Trip(rules=BusRules(overload_after_s=10.0))
    load(trip, 0, 25)
    load(trip, 10, 25)
    assert overloaded(trip) == [(10, True)]


def test_bus_without_a_capacity_is_never_overloaded_but_its_count_is_kept() -> None:
    trip = Trip()
    trip.watch.bus = Bus(BUS, "", SCHOOL, trip.route.id, 0, Heartbeat(10.0, 6))
    for t in (0, 30, 60):
        load(trip, t, 80)
    trip.tick(90)
    assert overloaded(trip) == []
    assert trip.watch.snapshot().passengers == 80


def test_snapshot_shows_the_last_passenger_count_and_overload() -> None:
    trip = Trip()
    assert (trip.watch.snapshot().passengers, trip.watch.snapshot().overloaded) == (None, False)
    load(trip, 0, 25)
    load(trip, 30, 26)
    load(trip, 40, None)
    snap = trip.watch.snapshot()
    assert (snap.passengers, snap.overloaded) == (26, True)


def test_overload_is_judged_outside_service_windows_too() -> None:
    trip = Trip(make_route(windows=(Window(6 * 60 + 30, 8 * 60 + 30),)))  # T0 is midnight: out of service
    load(trip, 0, 25)
    load(trip, 30, 25)
    assert overloaded(trip) == [(30, True)]
