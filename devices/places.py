"""Where a school is, for the district map. The registry (contract §1) gives schools no coordinates, so
a school is placed where its buses' routes end: a school-bus route runs from the villages to the
school gate (`path` is written in the morning's direction). The mean of those end points is the
school's place; a school with no bus has none (the map lists it beside). Pure.
"""

from __future__ import annotations

from devices.model import Registry


def school_places(registry: Registry) -> dict[str, tuple[float, float]]:
    """school id -> (lon, lat), WGS-84, for every school with at least one bus on a known route."""
    ends: dict[str, set[tuple[float, float]]] = {}
    for bus in registry.buses:
        route = registry.route(bus.route)
        if route is None or not route.path:
            continue
        lon, lat = route.path[-1]
        ends.setdefault(bus.school, set()).add((float(lon), float(lat)))
    return {school: (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
            for school, pts in ends.items()}
