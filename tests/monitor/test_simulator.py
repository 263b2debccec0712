"""The simulator's pure parts: bus motion along a route, scripted actions, device references."""

from __future__ import annotations

import functools
import math
import random

import pytest

from devices.model import Heartbeat, Registry, Route
from devices.registry import parse_registry
from monitor.tools.district import DEMO_FAILURES, district_registry, dump_registry
from monitor.tools.simulator import (
    BAD_KINDS,
    Action,
    BusMotion,
    Simulator,
    Verb,
    bad_message,
    demo_scenario,
    parse_action,
)

PATH = ((103.7171, 27.3382), (103.7204, 27.3417), (103.7260, 27.3440), (103.7301, 27.3502))


@functools.cache
def _district() -> Registry:
    return parse_registry(dump_registry(district_registry()), "district.yaml")


ROUTE = Route("r1", corridor_m=150, speed_limit_kmh=60, path=PATH)


def _distance_m(lon: float, lat: float) -> float:
    kx = 111_320.0 * math.cos(math.radians(lat))
    px, py = lon * kx, lat * 111_320.0
    best = math.inf
    for (ax, ay), (bx, by) in zip(PATH, PATH[1:], strict=False):
        ax, ay, bx, by = ax * kx, ay * 111_320.0, bx * kx, by * 111_320.0
        dx, dy = bx - ax, by - ay
        f = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(px - ax - f * dx, py - ay - f * dy))
    return best


def test_bus_drives_its_route_back_and_forth_inside_the_corridor_below_the_limit() -> None:
    bus = BusMotion(ROUTE, random.Random(1))
    fixes = [bus.advance(10.0) for _ in range(400)]  # more than an hour of driving
    assert all(_distance_m(f["lon"], f["lat"]) < 30 for f in fixes)
    assert all(0 <= f["speed_kmh"] < 60 for f in fixes)
    assert sum(1 for f in fixes if f["speed_kmh"] == 0) >= 2, "it waits at the ends"
    assert max(f["speed_kmh"] for f in fixes) > 20
    assert bus.length == pytest.approx(1800, rel=0.2)
    headings = {round(f["heading"] / 90) % 4 for f in fixes if f["speed_kmh"] > 0}
    assert len(headings) >= 2, "it drives both ways"


def test_bus_told_to_leave_its_route_ends_up_far_outside_the_corridor_and_comes_back() -> None:
    bus = BusMotion(ROUTE, random.Random(2))
    bus.offset_target_m = 600
    far = [bus.advance(10.0) for _ in range(8)]
    assert _distance_m(far[-1]["lon"], far[-1]["lat"]) > 300
    assert max(_distance_m(f["lon"], f["lat"]) for f in far) > 150
    bus.offset_target_m = 0
    back = [bus.advance(10.0) for _ in range(8)]
    assert _distance_m(back[-1]["lon"], back[-1]["lat"]) < 30


def test_speeding_bus_reports_and_drives_its_forced_speed() -> None:
    bus = BusMotion(ROUTE, random.Random(3))
    bus.forced_kmh = 85
    assert all(bus.advance(1.0)["speed_kmh"] == 85 for _ in range(5))
    bus.forced_kmh = None
    assert bus.advance(1.0)["speed_kmh"] < 60


def test_bus_drives_only_in_its_service_windows_and_stands_at_the_school_otherwise() -> None:
    route = parse_registry(
        "routes:\n  - {id: r1, corridor_m: 150, speed_limit_kmh: 60, windows: ['06:30-08:30'],\n"
        "     path: [[103.7171, 27.3382], [103.7204, 27.3417]]}\n", "r.yaml").routes[0]
    bus = BusMotion(route, random.Random(4))
    morning = 1764455400.0  # 2025-11-30 06:30 in Asia/Shanghai
    assert bus.driving(morning + 600)
    assert not bus.driving(morning - 600) and not bus.driving(morning + 3 * 3600)
    parked = bus.parked()
    assert (parked["lon"], parked["lat"], parked["speed_kmh"]) == (103.7204, 27.3417, 0.0)
    bus.offset_target_m = 600  # a scenario sends it off its route: it drives whatever the hour
    assert bus.driving(morning + 3 * 3600)


def test_parse_action_reads_time_verb_target_and_typed_options() -> None:
    a = parse_action("30 kill panhe-ms/cam-dg-04 offline=true")
    assert a == Action(30.0, Verb.KILL, "panhe-ms/cam-dg-04", offline=True)
    f = parse_action("5 flap cam-gt-01 down_s=2 up_s=3 cycles=4")
    assert (f.down_s, f.up_s, f.cycles) == (2.0, 3.0, 4)
    assert parse_action("1 bad count=7 kind=oversize") == Action(1.0, Verb.BAD, count=7, kind="oversize")
    with pytest.raises(ValueError):
        parse_action("1 explode cam-gt-01")
    with pytest.raises(ValueError):
        parse_action("1 kill cam-gt-01 colour=red")


def test_demo_scenario_kills_the_six_panhe_cameras_in_the_first_two_minutes() -> None:
    actions = demo_scenario()
    assert [a.verb for a in actions] == [Verb.KILL] * 6
    assert {a.target for a in actions} == {f"panhe-ms/camera/{f.camera}" for f in DEMO_FAILURES}
    assert max(a.at_s for a in actions) <= 120


def test_references_name_devices_exactly_and_refuse_ambiguity() -> None:
    registry = _district()
    sim = Simulator(registry, "mqtt://127.0.0.1:1", scenario=demo_scenario())  # never started
    assert [d.spec.id for d in sim.resolve("panhe-ms/cam-dg-04")] == ["cam-dg-04"]
    assert len(sim.resolve("panhe-ms/*")) == 28 + len(registry.school("panhe-ms").alarms) + sum(  # type: ignore[union-attr]
        1 for b in registry.buses if b.school == "panhe-ms")
    assert [d.spec.id for d in sim.resolve("bus-023")] == ["bus-023"]
    with pytest.raises(ValueError, match="several schools"):
        sim.resolve("cam-gt-01")
    with pytest.raises(ValueError):
        sim.resolve("panhe-ms/camera/cam-none")
    with pytest.raises(ValueError):
        Simulator(registry, "mqtt://127.0.0.1:1", scenario=[Action(1, Verb.KILL, "nowhere/cam")])


def test_rate_and_device_cap_shape_the_simulated_district() -> None:
    registry = _district()
    sim = Simulator(registry, "mqtt://127.0.0.1:1", rate=10, max_devices=100)
    assert len(sim.devices) == 100
    cam = next(d for d in sim.devices if d.spec.heartbeat == Heartbeat(30, 3))
    assert cam.period_s == pytest.approx(3.0)


def test_every_bad_kind_is_labelled_with_its_contract_outcome() -> None:
    registry = _district()
    specs = list(registry.devices())
    outcomes = {k: bad_message(k, specs, 1_764_000_000.0).outcome for k in BAD_KINDS}
    assert outcomes == {"not_json": "invalid", "wrong_types": "invalid", "oversize": "invalid",
                        "unknown_device": "unknown_device", "unknown_school": "unknown_device",
                        "lat_out_of_range": "invalid", "future_ts": "invalid"}
    with pytest.raises(ValueError):
        bad_message("cosmic_ray", specs, 0.0)
