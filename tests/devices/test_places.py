"""The district map's geometry: WGS-84 to GCJ-02 for Chinese tiles, and schools placed by their routes."""

from __future__ import annotations

import math

import pytest

from devices.gcj02 import wgs84_to_gcj02
from devices.places import school_places
from devices.registry import parse_registry


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    kx = 111_320.0 * math.cos(math.radians(a[1]))
    return math.hypot((a[0] - b[0]) * kx, (a[1] - b[1]) * 110_540.0)


@pytest.mark.parametrize(("wgs", "gcj"), [
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),  # Beijing, the reference implementation's example
])
def test_a_point_in_china_moves_as_the_reference_transform_says(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    got = wgs84_to_gcj02(*wgs)
    assert got == pytest.approx(gcj, abs=1e-9)


def test_zhaotong_moves_a_few_hundred_metres_south_west_to_north_east() -> None:
    wgs = (103.7171, 27.3382)
    gcj = wgs84_to_gcj02(*wgs)
    assert 100 < metres(wgs, gcj) < 700
    assert gcj[0] > wgs[0] and gcj[1] > wgs[1] - 0.01


@pytest.mark.parametrize("point", [(-0.1276, 51.5072), (139.6917, 35.6895), (151.2093, -33.8688)])
def test_a_point_outside_china_is_left_alone(point: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*point) == point


REGISTRY = """
schools:
  - {id: a, name: 甲}
  - {id: b, name: 乙}
  - {id: c, name: 丙}
routes:
  - {id: a-r1, corridor_m: 100, speed_limit_kmh: 40, path: [[103.60, 27.30], [103.70, 27.40]]}
  - {id: a-r2, corridor_m: 100, speed_limit_kmh: 40, path: [[103.80, 27.50], [103.70, 27.40]]}
  - {id: b-r1, corridor_m: 100, speed_limit_kmh: 40, path: [[103.00, 27.00], [103.10, 27.10], [103.20, 27.20]]}
buses:
  - {id: bus-1, plate: 云C·1, school: a, route: a-r1}
  - {id: bus-2, plate: 云C·2, school: a, route: a-r2}
  - {id: bus-3, plate: 云C·3, school: a, route: a-r1}
  - {id: bus-4, plate: 云C·4, school: b, route: b-r1}
"""


def test_a_school_is_where_its_buses_routes_end_and_a_school_without_buses_has_no_place() -> None:
    places = school_places(parse_registry(REGISTRY, "registry.yaml"))
    assert places["a"] == pytest.approx((103.70, 27.40))
    assert places["b"] == pytest.approx((103.20, 27.20))
    assert "c" not in places
