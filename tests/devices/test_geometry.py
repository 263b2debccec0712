"""Route geometry: projection accuracy, distance to the line, progress along it, passes."""

from __future__ import annotations

import math

import pytest
from pyproj import Geod

from devices.geometry import EDGE_TOLERANCE_M, LocalProjection, RouteLine

ORIGIN = (103.7171, 27.3382)  # Zhaotong, Yunnan
GEOD = Geod(ellps="WGS84")


def path_from_metres(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    proj = LocalProjection(*ORIGIN)
    return [proj.inverse(x, y) for x, y in points]


def geodesic_length(path: list[tuple[float, float]]) -> float:
    lons, lats = zip(*path, strict=True)
    return GEOD.line_length(lons, lats)


def test_length_matches_geodesic_within_a_metre_over_twenty_km() -> None:
    # a zigzag 20 km long, 10 m spacing: the kind of route a bus runs
    pts = [(float(x), 300.0 * math.sin(x / 900.0)) for x in range(-10_000, 10_001, 10)]
    path = path_from_metres(pts)
    line = RouteLine(path)
    assert line.length_m == pytest.approx(geodesic_length(path), abs=1.0)


def test_distance_to_line_matches_geodesic_distance_to_foot() -> None:
    line = RouteLine(path_from_metres([(0.0, 0.0), (5000.0, 0.0)]))
    lon, lat = line.point_at(2500.0, 120.0)
    foot = line.point_at(2500.0)
    m = line.locate(lon, lat)
    _, _, geodesic = GEOD.inv(lon, lat, *foot)
    assert m.distance_m == pytest.approx(geodesic, abs=0.05)
    assert m.distance_m == pytest.approx(120.0, abs=1e-6)
    assert m.progress_m == pytest.approx(2500.0, abs=1e-6)


def test_point_beyond_the_end_measures_to_the_end_point() -> None:
    line = RouteLine(path_from_metres([(0.0, 0.0), (1000.0, 0.0)]))
    x, y = line.project(*line.point_at(1000.0))
    m = line.nearest(x + 30.0, y + 40.0)
    assert m.distance_m == pytest.approx(50.0, abs=1e-6)
    assert m.progress_m == pytest.approx(line.length_m)


def test_point_at_offset_left_and_right() -> None:
    line = RouteLine(path_from_metres([(0.0, 0.0), (1000.0, 0.0)]))
    lx, ly = line.project(*line.point_at(500.0, 50.0))
    rx, ry = line.project(*line.point_at(500.0, -50.0))
    assert ly - ry == pytest.approx(100.0, abs=1e-6)  # the line runs east: left is north
    assert lx == pytest.approx(rx, abs=0.01)


def test_out_and_back_route_gives_two_passes_in_progress_order() -> None:
    # out 1 km east along y=0, back along y=20 (the other side of the street)
    line = RouteLine(path_from_metres([(0.0, 0.0), (1000.0, 0.0), (1000.0, 20.0), (0.0, 20.0)]))
    x, y = line.project(*line.point_at(300.0, 10.0))
    passes = line.passes(x, y, 50.0)
    assert [round(p.progress_m) for p in passes] == [300, 1720]
    assert all(p.distance_m == pytest.approx(10.0, abs=1e-6) for p in passes)


def test_passes_searches_only_the_given_progress_window() -> None:
    line = RouteLine(path_from_metres([(0.0, 0.0), (1000.0, 0.0), (1000.0, 20.0), (0.0, 20.0)]))
    x, y = line.project(*line.point_at(300.0, 10.0))
    assert [round(p.progress_m) for p in line.passes(x, y, 50.0, 0.0, 800.0)] == [300]
    assert [round(p.progress_m) for p in line.passes(x, y, 50.0, 1200.0, 2020.0)] == [1720]
    assert line.passes(x, y, 50.0, 500.0, 1200.0) == []  # segments overlap it, their feet do not


def test_corridor_edge_is_inside_and_just_beyond_is_not() -> None:
    line = RouteLine(path_from_metres([(0.0, 0.0), (2000.0, 0.0)]))
    at_edge = line.project(*line.point_at(1000.0, 150.0))
    beyond = line.project(*line.point_at(1000.0, 150.0 + 10 * EDGE_TOLERANCE_M))
    assert len(line.passes(*at_edge, 150.0)) == 1
    assert line.passes(*beyond, 150.0) == []


def test_repeated_points_are_harmless() -> None:
    pts = [(0.0, 0.0), (0.0, 0.0), (100.0, 0.0), (100.0, 0.0), (200.0, 0.0)]
    line = RouteLine(path_from_metres(pts))
    assert line.length_m == pytest.approx(200.0, abs=0.01)
    m = line.nearest(*line.project(*line.point_at(150.0, 5.0)))
    assert m.progress_m == pytest.approx(150.0, abs=0.01)


@pytest.mark.parametrize("path", [[], [(103.7, 27.3)], [(103.7, 27.3), (103.7, 27.3)]])
def test_a_route_needs_two_distinct_points(path: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError):
        RouteLine(path)


def test_memory_is_a_few_arrays_of_the_points_size() -> None:
    line = RouteLine(path_from_metres([(float(x), 0.0) for x in range(0, 20_000, 10)]))
    assert len(line) == 2000
    assert line.nbytes == 48 * 1999 + 8 * 2000  # three complex numbers a segment, progress a point
