"""The bus rules on real bus GPS: WMATA Metrobus AVL traces with their GTFS shapes (2016).

Data: WMATA, via Transitime/core test fixtures; read in place from ../shared/data/realgps (see its
SOURCES.md), never copied into the project. The AVL times are America/New_York local time and the
traces carry no speed, so overspeed is derived from positions.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from devices.bus import BusWatch, Place
from devices.events import Fix, Judgement, Rule
from devices.fixes import FixReason
from devices.geometry import RouteLine
from devices.gtfs import GtfsError, route_from_gtfs, route_to_registry, shapes_of_route
from devices.model import Bus, Heartbeat, Route
from devices.registry import parse_registry

REALGPS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realgps"
WMATA = REALGPS / "wmata_2016"
NEW_YORK = ZoneInfo("America/New_York")

pytestmark = pytest.mark.skipif(
    not (WMATA / "avl").is_dir(),
    reason=f"real GPS traces not found at {WMATA} (the shared data directory is outside the repository)",
)


@dataclass(frozen=True)
class Step:
    clock: str  # HH:MM:SS local
    reason: FixReason
    place: Place | None
    distance_m: float | None
    speed_kmh: float | None
    judgements: list[Judgement]


def local(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=NEW_YORK).timestamp()


def read_avl(name: str) -> list[tuple[str, float, float, float]]:
    with (WMATA / "avl" / f"{name}.csv").open(newline="") as fh:
        return [
            (r["time"][11:], local(r["time"]), float(r["latitude"]), float(r["longitude"]))
            for r in csv.DictReader(fh)
        ]


def wmata_route(route_id: str, shape: str, corridor_m: float = 100.0, limit: float = 60.0) -> Route:
    return route_from_gtfs(
        WMATA / "gtfs" / route_id, route_id, shape, corridor_m=corridor_m, speed_limit_kmh=limit
    )


def replay(route: Route, trace: str, until: str = "99:99:99") -> list[Step]:
    """Feed a trace to a BusWatch as if each fix arrived at its own time."""
    bus = Bus("bus-" + trace.split("_")[1], "", "wmata", route.id, 40, Heartbeat(10.0, 6))
    watch = BusWatch(bus, route, RouteLine.from_route(route))
    steps = []
    for clock, t, lat, lon in read_avl(trace):
        if clock > until:
            break
        obs = watch.observe(Fix("wmata", bus.id, t, t, lat, lon), t)
        snap = watch.snapshot()
        steps.append(Step(clock, obs.reason, obs.place, snap.distance_m, snap.speed_kmh, obs.judgements))
    return steps


def episodes(steps: list[Step], rule: Rule) -> list[tuple[str, bool]]:
    return [(s.clock, j.active) for s in steps for j in s.judgements if j.rule == rule]


# ---- GTFS ------------------------------------------------------------------------------------


def test_gtfs_shape_becomes_a_route_in_sequence_order() -> None:
    route = wmata_route("3T", "3T:02")
    line = RouteLine.from_route(route)
    assert len(route.path) == 1477
    assert line.length_m == pytest.approx(15_200, rel=0.01)
    assert route.timezone == "America/New_York"  # from agency.txt
    assert route.id == "3t" and "PIMMIT HILLS" in route.name
    assert sorted(shapes_of_route(WMATA / "gtfs" / "3T", "3T")) == ["3T:01", "3T:02"]


def test_gtfs_route_with_two_shapes_needs_one_chosen() -> None:
    with pytest.raises(GtfsError, match="choose one"):
        route_from_gtfs(WMATA / "gtfs" / "3T", "3T")
    with pytest.raises(GtfsError, match="no trip"):
        route_from_gtfs(WMATA / "gtfs" / "3T", "3T", "S2:10")


def test_gtfs_route_renders_to_registry_yaml_that_loads_back() -> None:
    route = wmata_route("S2", "S2:10")
    text = yaml.safe_dump({"routes": [route_to_registry(route)]}, allow_unicode=True, sort_keys=False)
    [loaded] = parse_registry(text, "gtfs-import.yaml").routes
    assert (loaded.id, loaded.corridor_m, loaded.timezone, len(loaded.path)) == (
        route.id,
        100.0,
        "America/New_York",
        1036,
    )
    assert loaded.path[0] == pytest.approx(route.path[0], abs=1e-6)


# ---- 3T: the labelled detour -----------------------------------------------------------------


@pytest.mark.parametrize("corridor_m", [100.0, 150.0])
def test_3t_labelled_detour_is_detected_with_its_jump_ahead_and_backward_run(corridor_m: float) -> None:
    steps = replay(wmata_route("3T", "3T:02", corridor_m), "3T_3757")
    by_clock = {s.clock: s for s in steps}
    assert all(s.reason is FixReason.ACCEPTED for s in steps)
    assert all(s.place is Place.ON_ROUTE for s in steps if s.clock <= "15:05:36")
    assert by_clock["15:06:45"].place is Place.AHEAD  # 4.2 km -> 6.3 km in 35 s
    assert by_clock["15:07:15"].place is Place.BACKWARD  # 6.3 -> 5.9 km
    assert by_clock["15:07:49"].place is Place.BACKWARD  # -> 5.6 km
    assert all(s.place is Place.ON_ROUTE for s in steps if s.clock >= "15:09:29")
    [(start, began), (end, ended)] = episodes(steps, Rule.BUS_OFF_ROUTE)
    assert (began, ended) == (True, False)
    assert "15:06:45" <= start <= "15:07:49"
    assert end == "15:10:36"  # three fixes and 67 s back on the route
    assert episodes(steps, Rule.BUS_OVERSPEED) == []


def test_3t_detour_stays_inside_a_150_m_corridor_so_distance_alone_misses_it() -> None:
    steps = replay(wmata_route("3T", "3T:02", 150.0), "3T_3757")
    assert max(s.distance_m or 0.0 for s in steps) <= 150.0
    assert [a for _, a in episodes(steps, Rule.BUS_OFF_ROUTE)] == [True, False]


# ---- S2: a clean trip with jitter and a gap --------------------------------------------------


def test_s2_trip_raises_no_off_route_despite_jitter_and_a_265_second_gap() -> None:
    steps = replay(wmata_route("S2", "S2:10"), "S2_2113", until="08:56:45")
    avl = read_avl("S2_2113")
    gaps = [b[1] - a[1] for a, b in zip(avl, avl[1:], strict=False)]
    assert max(gaps) == 265.0
    assert all(s.place is Place.ON_ROUTE for s in steps)
    assert episodes(steps, Rule.BUS_OFF_ROUTE) == []


def test_s2_jitter_does_not_make_overspeed() -> None:
    steps = replay(wmata_route("S2", "S2:10", limit=40.0), "S2_2113", until="08:56:45")
    assert episodes(steps, Rule.BUS_OVERSPEED) == []
    assert max(s.speed_kmh or 0.0 for s in steps) < 40.0  # 10-s pairs imply up to 97 km/h


def test_s2_deadhead_after_the_trip_is_off_route() -> None:
    steps = replay(wmata_route("S2", "S2:10"), "S2_2113")
    assert episodes(steps, Rule.BUS_OFF_ROUTE) == [("08:58:22", True)]


# ---- 5A: an unlabelled deviation and highway speed ------------------------------------------


def test_5a_deviation_near_the_14th_street_bridge_is_off_route_then_back() -> None:
    steps = replay(wmata_route("5A", "5A:02", limit=80.0), "5A_8062", until="11:47:16")
    assert episodes(steps, Rule.BUS_OFF_ROUTE) == [("10:52:56", True), ("10:54:30", False)]
