"""Routes from a GTFS feed: a shape's points become a `Route` path, ready to write to the registry.

Only `routes.txt`, `trips.txt`, `shapes.txt` and (for the timezone) `agency.txt` are read. Shapes
are ordered by `shape_pt_sequence`, which may be sparse; `shape_dist_traveled` is not needed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devices.model import Route, SlowStretch, Window


class GtfsError(ValueError):
    """A feed that cannot give the asked route: names the file and the reason."""

    def __init__(self, file: Path, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


def _rows(path: Path) -> Iterator[dict[str, str]]:
    if not path.is_file():
        raise GtfsError(path, "file missing")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            yield {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}


def read_shape(feed_dir: Path, shape_id: str) -> tuple[tuple[float, float], ...]:
    """The (lon, lat) points of one shape, in `shape_pt_sequence` order."""
    path = Path(feed_dir) / "shapes.txt"
    points: list[tuple[int, float, float]] = []
    for line, row in enumerate(_rows(path), start=2):
        if row.get("shape_id") != shape_id:
            continue
        try:
            seq = int(row["shape_pt_sequence"])
            lat = float(row["shape_pt_lat"])
            lon = float(row["shape_pt_lon"])
        except (KeyError, ValueError) as exc:
            raise GtfsError(path, f"line {line}: bad shape point ({exc})") from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise GtfsError(path, f"line {line}: point out of range")
        points.append((seq, lon, lat))
    if len(points) < 2:
        raise GtfsError(path, f"shape {shape_id!r} has {len(points)} point(s); a route needs 2 or more")
    points.sort(key=lambda p: p[0])
    return tuple((lon, lat) for _, lon, lat in points)


def shapes_of_route(feed_dir: Path, route_id: str) -> list[str]:
    """The shape ids the route's trips use, most used first."""
    counts: dict[str, int] = {}
    for row in _rows(Path(feed_dir) / "trips.txt"):
        if row.get("route_id") == route_id and row.get("shape_id"):
            counts[row["shape_id"]] = counts.get(row["shape_id"], 0) + 1
    return sorted(counts, key=lambda s: (-counts[s], s))


def _route_row(feed_dir: Path, route_id: str) -> dict[str, str]:
    path = Path(feed_dir) / "routes.txt"
    for row in _rows(path):
        if row.get("route_id") == route_id:
            return row
    raise GtfsError(path, f"no route {route_id!r}")


def _agency_timezone(feed_dir: Path) -> str | None:
    path = Path(feed_dir) / "agency.txt"
    if not path.is_file():
        return None
    for row in _rows(path):
        if row.get("agency_timezone"):
            return row["agency_timezone"]
    return None


def registry_id(text: str) -> str:
    """A registry id ([a-z0-9-]{1,64}) made from a GTFS id such as `3T` or `S2:10`."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64].strip("-")
    return slug or "route"


def route_from_gtfs(
    feed_dir: Path,
    route_id: str,
    shape_id: str | None = None,
    *,
    id: str | None = None,
    corridor_m: float = 150.0,
    speed_limit_kmh: float = 60.0,
    windows: tuple[Window, ...] = (),
    timezone: str | None = None,
    slow_stretches: tuple[SlowStretch, ...] = (),
) -> Route:
    """A registry `Route` from a GTFS route and one of its shapes.

    Without `shape_id`, the route must use exactly one shape. The timezone defaults to the
    agency's, the id to a slug of the GTFS route id, the name to the GTFS route's names.
    """
    feed_dir = Path(feed_dir)
    row = _route_row(feed_dir, route_id)
    shapes = shapes_of_route(feed_dir, route_id)
    if shape_id is None:
        if len(shapes) != 1:
            raise GtfsError(
                feed_dir / "trips.txt", f"route {route_id!r} uses shapes {shapes}; choose one with --shape"
            )
        shape_id = shapes[0]
    elif shape_id not in shapes:
        raise GtfsError(
            feed_dir / "trips.txt",
            f"no trip of route {route_id!r} uses shape {shape_id!r}; its shapes: {shapes}",
        )
    path = read_shape(feed_dir, shape_id)
    short, long_ = row.get("route_short_name", ""), row.get("route_long_name", "")
    name = f"{short} {long_}".strip() if short != long_ else short
    return Route(
        id=id or registry_id(route_id),
        corridor_m=corridor_m,
        speed_limit_kmh=speed_limit_kmh,
        path=path,
        windows=windows,
        timezone=timezone or _agency_timezone(feed_dir) or "Asia/Shanghai",
        slow_stretches=slow_stretches,
        name=name,
    )


def route_to_registry(route: Route, decimals: int = 6) -> dict[str, Any]:
    """The route as a registry YAML mapping (contract §1 `routes:` item)."""
    doc: dict[str, Any] = {"id": route.id}
    if route.name:
        doc["name"] = route.name
    doc["corridor_m"] = route.corridor_m
    doc["speed_limit_kmh"] = route.speed_limit_kmh
    if route.windows:
        doc["windows"] = [str(w) for w in route.windows]
    doc["timezone"] = route.timezone
    if route.slow_stretches:
        doc["slow_stretches"] = [
            {"from_m": s.from_m, "to_m": s.to_m, "speed_limit_kmh": s.speed_limit_kmh}
            | ({"name": s.name} if s.name else {})
            for s in route.slow_stretches
        ]
    doc["path"] = [[round(lon, decimals), round(lat, decimals)] for lon, lat in route.path]
    return doc
