"""GTFS import on a small hand-written feed: shape order, shape choice, errors, registry rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.gtfs import GtfsError, read_shape, registry_id, route_from_gtfs, route_to_registry
from devices.model import SlowStretch, Window


def write_feed(root: Path, shapes: str | None = None) -> Path:
    (root / "agency.txt").write_text(
        "agency_id,agency_name,agency_url,agency_timezone\n1,Zhaotong Bus,http://x,Asia/Shanghai\n"
    )
    (root / "routes.txt").write_text(
        "\ufeffroute_id,route_short_name,route_long_name,route_type\nR1,1,Panhe line,3\nR2,2,,3\n"
    )
    (root / "trips.txt").write_text(
        "route_id,service_id,trip_id,shape_id\nR1,s,t1,R1:out\nR1,s,t2,R1:out\nR1,s,t3,R1:back\nR2,s,t4,R2:a\n"
    )
    (root / "shapes.txt").write_text(
        shapes
        or "shape_id,shape_pt_sequence,shape_pt_lat,shape_pt_lon\n"
        "R1:out,30001,27.34,103.72\n"
        "R1:out,10001,27.33,103.71\n"
        "R1:back,1,27.34,103.72\n"
        "R1:out,20001,27.335,103.715\n"
        "R1:back,2,27.33,103.71\n"
        "R2:a,1,27.30,103.70\n"
        "R2:a,2,27.31,103.70\n"
    )
    return root


def test_shape_points_are_ordered_by_sparse_sequence(tmp_path: Path) -> None:
    feed = write_feed(tmp_path)
    assert read_shape(feed, "R1:out") == ((103.71, 27.33), (103.715, 27.335), (103.72, 27.34))


def test_route_takes_names_timezone_and_the_chosen_shape(tmp_path: Path) -> None:
    feed = write_feed(tmp_path)
    route = route_from_gtfs(feed, "R1", "R1:back", corridor_m=80.0, speed_limit_kmh=40.0)
    assert (route.id, route.name, route.timezone, route.corridor_m) == (
        "r1",
        "1 Panhe line",
        "Asia/Shanghai",
        80.0,
    )
    assert route.path == ((103.72, 27.34), (103.71, 27.33))


def test_route_with_one_shape_needs_no_choice(tmp_path: Path) -> None:
    route = route_from_gtfs(write_feed(tmp_path), "R2", id="panhe-r2")
    assert route.id == "panhe-r2" and route.name == "2" and len(route.path) == 2


@pytest.mark.parametrize(
    ("route_id", "shape", "message"),
    [("R1", None, "choose one"), ("R1", "R2:a", "no trip"), ("R9", None, "no route")],
)
def test_wrong_choices_name_the_file_and_reason(
    tmp_path: Path, route_id: str, shape: str | None, message: str
) -> None:
    with pytest.raises(GtfsError, match=message):
        route_from_gtfs(write_feed(tmp_path), route_id, shape)


def test_bad_shape_point_is_reported_with_its_line(tmp_path: Path) -> None:
    feed = write_feed(tmp_path, "shape_id,shape_pt_sequence,shape_pt_lat,shape_pt_lon\nR2:a,1,x,103.7\n")
    with pytest.raises(GtfsError, match="line 2"):
        route_from_gtfs(feed, "R2")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(GtfsError, match="file missing"):
        read_shape(tmp_path, "R1:out")


def test_registry_rendering_has_the_contract_keys() -> None:
    from devices.model import Route

    route = Route(
        "panhe-r1",
        150.0,
        60.0,
        ((103.71712345678, 27.3382), (103.7204, 27.3417)),
        (Window(390, 510), Window(960, 1440)),
        "Asia/Shanghai",
        (SlowStretch(100.0, 300.0, 20.0, "bridge"),),
        "Panhe line",
    )
    assert route_to_registry(route) == {
        "id": "panhe-r1",
        "name": "Panhe line",
        "corridor_m": 150.0,
        "speed_limit_kmh": 60.0,
        "windows": ["06:30-08:30", "16:00-24:00"],
        "timezone": "Asia/Shanghai",
        "slow_stretches": [{"from_m": 100.0, "to_m": 300.0, "speed_limit_kmh": 20.0, "name": "bridge"}],
        "path": [[103.717123, 27.3382], [103.7204, 27.3417]],
    }


def test_registry_ids_are_slugs() -> None:
    assert registry_id("S2:10") == "s2-10"
    assert registry_id("3T") == "3t"
    assert registry_id("::") == "route"
