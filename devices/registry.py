"""Loading the registry file (contract §1) into `devices.model.Registry`, strictly.

Every error names the file, the line, the key and the reason; unknown keys are errors; a file with any
error is rejected whole (`RegistryError` lists every error found, not just the first).

No file is read here: the edge passes the registry's text, and a `read_file(name) -> text` for the
files the registry names (`geojson:` routes), resolved as it sees fit (`monitor.registry_file`
resolves them beside the registry file). Without `read_file`, a `geojson:` route is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from devices.model import (
    DEFAULT_HEARTBEATS,
    ZONE_KINDS,
    Alarm,
    Bus,
    Camera,
    DeviceKind,
    Face,
    Heartbeat,
    Nvr,
    Registry,
    Route,
    School,
    SlowStretch,
    Window,
    Zone,
)

SCHOOL_ID = re.compile(r"[a-z0-9-]{1,64}")
DEVICE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
WINDOW = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
GB_ID = re.compile(r"\d{20}")  # GB/T 28181 device or channel id
TERMINAL = re.compile(r"\d{1,20}")  # JT/T 808 phone number: 12 BCD digits (2013) or 20 (2019)

#: Read a file the registry names (a `geojson:` route) and return its text; raise OSError when it cannot.
ReadFile = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    key: str
    reason: str

    def __str__(self) -> str:
        """`file:line: key: reason`; a problem of the whole file (unreadable) is `file: reason`."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.reason}" if self.key else f"{where}: {self.reason}"


class RegistryError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = f"registry rejected, {len(problems)} error(s):\n" if len(problems) > 1 else ""
        super().__init__(head + "\n".join(str(p) for p in problems[:50]))


# ---- YAML with line numbers ---------------------------------------------------------------------


class _Map(dict):  # type: ignore[type-arg]
    line: int
    lines: dict[Any, int]
    raw: dict[Any, str]  # scalars of _AS_WRITTEN keys as written in the file, before YAML typed them


#: Keys whose scalar values are taken as written: digits with leading zeros (`terminal: 013912345678`
#: unquoted would otherwise be an octal or decimal int) and free text that YAML may read as a number.
_AS_WRITTEN = frozenset({"gb_id", "terminal", "location", "keeper"})


class _Seq(list):  # type: ignore[type-arg]
    line: int
    lines: list[int]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """LibYAML's parser where present (fast, small), with our line-keeping constructors."""


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
    out.lines = {}
    out.raw = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            raise yaml.constructor.ConstructorError(
                None, None, "a list or a mapping cannot be a key", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
        if key in _AS_WRITTEN and isinstance(value_node, yaml.ScalarNode) and out[key] is not None:
            out.raw[key] = value_node.value
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


# ---- validation ---------------------------------------------------------------------------------


class _Checker:
    def __init__(self, filename: str, read_file: ReadFile | None) -> None:
        self.file = filename
        self.read_file = read_file
        self.problems: list[Problem] = []
        self.registry_wide: dict[str, dict[str, str]] = {}  # what -> normalised value -> key of its first use

    def fail(self, line: int, key: str, reason: str) -> None:
        self.problems.append(Problem(self.file, line, key, reason))

    def mapping(self, value: Any, line: int, key: str, allowed: set[str], required: set[str] = frozenset()) -> _Map | None:  # type: ignore[assignment]
        if not isinstance(value, _Map):
            self.fail(line, key, "must be a mapping")
            return None
        for k in value:
            if k not in allowed:
                self.fail(value.lines.get(k, value.line), f"{key}.{k}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for k in sorted(required - set(value)):
            self.fail(value.line, f"{key}.{k}", "is required")
        return value

    def items(self, parent: _Map, name: str, key: str) -> list[tuple[int, str, Any]]:
        value = parent.get(name)
        if value is None:
            return []
        line = parent.lines.get(name, parent.line)
        if not isinstance(value, _Seq):
            self.fail(line, key, "must be a list")
            return []
        return [(value.lines[i], f"{key}[{i}]", item) for i, item in enumerate(value)]

    def get(self, m: _Map, name: str, key: str, check: Callable[[Any], Any], default: Any = None) -> Any:
        if name not in m:
            return default
        line = m.lines.get(name, m.line)
        try:
            return check(m[name])
        except ValueError as exc:
            self.fail(line, f"{key}.{name}", str(exc))
            return default

    def as_written(self, m: _Map, name: str, key: str, check: Callable[[str], str]) -> str | None:
        """The value of `name` as written in the file (`_AS_WRITTEN` keys), checked; None when absent."""
        if name not in m or m[name] is None:
            return None
        value = m.raw.get(name)
        if value is None:  # a list or a mapping
            self.fail(self.line_of(m, name), f"{key}.{name}", "must be a single value, not a list or a mapping")
            return None
        try:
            return check(value)
        except ValueError as exc:
            self.fail(self.line_of(m, name), f"{key}.{name}", str(exc))
            return None

    def unique_in_registry(self, what: str, value: str | None, normalised: str | None, line: int, key: str) -> None:
        """`value` may appear once in the whole registry (compared as `normalised`)."""
        if value is None or normalised is None:
            return
        seen = self.registry_wide.setdefault(what, {})
        first = seen.setdefault(normalised, key)
        if first != key:
            self.fail(line, key, f"{what} {value!r} is already used by {first} ({what} values are unique in the registry)")

    def line_of(self, m: _Map, name: str) -> int:
        return m.lines.get(name, m.line)


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("must be a non-empty string")
    return v


def _pattern(rx: re.Pattern[str], what: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str) or not rx.fullmatch(v):
            raise ValueError(f"{v!r} is not a valid {what} (must match {rx.pattern})")
        return v

    return check


def _digits(rx: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(v: str) -> str:
        if not rx.fullmatch(v):
            raise ValueError(f"{v!r} is not a valid {what} (must match {rx.pattern}; quote it to keep leading zeros)")
        return v

    return check


def _free_text(v: str) -> str:
    if not v.strip():
        raise ValueError("must be a non-empty string")
    return v


def _rtsp(v: Any) -> str:
    if not isinstance(v, str) or not v.startswith("rtsp://") or not urlsplit(v).hostname:
        raise ValueError(f"{v!r} is not an RTSP URL (must start with rtsp:// and name a host)")
    return v


def _positive(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise ValueError(f"{v!r} must be a positive number")
    return float(v)


def _non_negative(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise ValueError(f"{v!r} must be a number >= 0")
    return float(v)


def _count(low: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{v!r} must be a whole number >= {low}")
        return v

    return check


def _window(v: Any) -> Window:
    m = WINDOW.fullmatch(v) if isinstance(v, str) else None
    if m is None:
        raise ValueError(f"{v!r} is not a window like \"06:30-08:30\"")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 1440 or end <= start:
        raise ValueError(f"{v!r} is not a window of one day with its start before its end (24:00 may end it)")
    return Window(start, end)


def _timezone(v: Any) -> str:
    name = _text(v)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{v!r} is not a known IANA time zone") from None
    return name


def _point(v: Any) -> tuple[float, float]:
    if not isinstance(v, list | tuple) or len(v) != 2 or not all(
        isinstance(c, int | float) and not isinstance(c, bool) for c in v
    ):
        raise ValueError(f"{v!r} is not a [lon, lat] pair")
    lon, lat = float(v[0]), float(v[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"{v!r} is out of range: [lon, lat] with lon in -180..180 and lat in -90..90")
    return (lon, lat)


def _path(v: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(v, list) or len(v) < 2:
        raise ValueError("must be a list of at least two [lon, lat] pairs")
    out = []
    for i, p in enumerate(v):
        try:
            out.append(_point(p))
        except ValueError as exc:
            raise ValueError(f"point {i}: {exc}") from None
    return tuple(out)


def _geojson_path(read_file: ReadFile | None) -> Callable[[Any], tuple[tuple[float, float], ...]]:
    def check(v: Any) -> tuple[tuple[float, float], ...]:
        name = _text(v)
        if read_file is None:
            raise ValueError(f"cannot read {name}: this registry was given as text, without its files")
        try:
            doc = json.loads(read_file(name))
        except OSError as exc:
            raise ValueError(f"cannot read {name}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{name} is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} is not JSON: {exc}") from None
        return _path(_linestring(doc))

    return check


def _linestring(doc: Any) -> Any:
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
            raise ValueError("a FeatureCollection's `features` must be a list of Feature objects")
        lines = [f for f in features if isinstance(f.get("geometry"), dict) and f["geometry"].get("type") == "LineString"]
        if len(lines) != 1:
            raise ValueError("a FeatureCollection must hold exactly one LineString")
        doc = lines[0]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry")
    if not isinstance(doc, dict) or doc.get("type") != "LineString":
        raise ValueError("GeoJSON must be a LineString (or a Feature or FeatureCollection of one)")
    coords = doc.get("coordinates")
    if isinstance(coords, list):  # RFC 7946 §3.1.1: a position may carry an altitude third; drop it
        coords = [p[:2] if isinstance(p, list) and len(p) == 3 and _altitude(p[2]) else p for p in coords]
    return coords


def _altitude(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _heartbeat(c: _Checker, m: _Map, key: str, base: Heartbeat) -> Heartbeat:
    interval = c.get(m, "interval_s", key, _positive, base.interval_s)
    missed = c.get(m, "missed", key, _count(1), base.missed)
    if interval == base.interval_s and missed == base.missed:
        return base  # devices without an override share their kind's default object
    return Heartbeat(interval, missed)


# ---- the document -------------------------------------------------------------------------------

_TOP = {"defaults", "schools", "routes", "buses"}
_HB = {"interval_s", "missed"}


def parse_registry(text: str, filename: str = "<registry>", read_file: ReadFile | None = None) -> Registry:
    """The registry in `text` (named `filename` in errors); `read_file` reads the files it names."""
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise RegistryError([Problem(filename, line, "", f"YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise RegistryError([Problem(filename, 0, "", f"YAML: {exc}")]) from None
    c = _Checker(filename, read_file)
    if doc is None:
        doc = _Map()
        doc.line, doc.lines, doc.raw = 1, {}, {}
    top = c.mapping(doc, 1, "registry", _TOP)
    if top is None:
        raise RegistryError(c.problems)
    defaults = _defaults(c, top)
    routes = _routes(c, top)
    schools = _schools(c, top, defaults)
    buses = _buses(c, top, defaults, {s.id for s in schools}, {r.id for r in routes})
    if c.problems:
        raise RegistryError(c.problems)
    return Registry(tuple(schools), tuple(routes), tuple(buses), defaults)


def _defaults(c: _Checker, top: _Map) -> dict[DeviceKind, Heartbeat]:
    out = dict(DEFAULT_HEARTBEATS)
    if "defaults" not in top:
        return out
    kinds = [kind.value for kind in DEFAULT_HEARTBEATS]
    d = c.mapping(top["defaults"], c.line_of(top, "defaults"), "defaults", set(kinds))
    if d is None:
        return out
    for name in kinds:
        if name in d:
            kind = DeviceKind(name)
            hb = c.mapping(d[name], c.line_of(d, name), f"defaults.{name}", _HB)
            if hb is not None:
                out[kind] = _heartbeat(c, hb, f"defaults.{name}", out[kind])
    return out


def _unique(c: _Checker, seen: set[str], value: str | None, line: int, key: str, what: str) -> None:
    if value is None:
        return
    if value in seen:
        c.fail(line, key, f"{what} {value!r} appears twice")
    seen.add(value)


def _schools(c: _Checker, top: _Map, defaults: dict[DeviceKind, Heartbeat]) -> list[School]:
    schools: list[School] = []
    seen: set[str] = set()
    for line, key, item in c.items(top, "schools", "schools"):
        m = c.mapping(item, line, key, {"id", "name", "keeper", "zones", "cameras", "alarms", "faces", "nvrs"}, {"id"})
        if m is None:
            continue
        sid = c.get(m, "id", key, _pattern(SCHOOL_ID, "school id"))
        _unique(c, seen, sid, c.line_of(m, "id"), f"{key}.id", "school id")
        name = c.get(m, "name", key, _text, sid or "")
        keeper = c.as_written(m, "keeper", key, _free_text) or ""
        zones = _zones(c, m, key)
        zone_ids = {z.id for z in zones}
        nvrs = _nvrs(c, m, key, defaults[DeviceKind.NVR])
        cameras = _cameras(c, m, key, sid, zone_ids, {n.id for n in nvrs}, defaults[DeviceKind.CAMERA])
        alarms = _alarms(c, m, key, defaults[DeviceKind.ALARM])
        faces = _faces(c, m, key, sid, zone_ids, defaults[DeviceKind.FACE])
        if sid is not None:
            schools.append(School(sid, name, tuple(zones), tuple(cameras), tuple(alarms), keeper, tuple(faces), tuple(nvrs)))
    return schools


def _entries(c: _Checker, school: _Map, name: str, key: str, allowed: set[str], what: str
             ) -> Iterator[tuple[_Map, str, str]]:
    """Each device entry under `school[name]` that is a mapping with a valid, unique id: (entry, key, id)."""
    seen: set[str] = set()
    for line, ekey, item in c.items(school, name, f"{key}.{name}"):
        m = c.mapping(item, line, ekey, allowed | _HB, {"id"})
        if m is None:
            continue
        eid = c.get(m, "id", ekey, _pattern(DEVICE_ID, f"{what} id"))
        _unique(c, seen, eid, c.line_of(m, "id"), f"{ekey}.id", f"{what} id")
        if eid is not None:
            yield m, ekey, eid


def _zone_of(c: _Checker, m: _Map, key: str, sid: str | None, zone_ids: set[str]) -> str | None:
    zone: str | None = c.get(m, "zone", key, _text)
    if zone is not None and zone not in zone_ids:
        c.fail(c.line_of(m, "zone"), f"{key}.zone", f"zone {zone!r} is not a zone of school {sid!r}")
    return zone


def _gb_id(c: _Checker, m: _Map, key: str) -> str | None:
    gb_id = c.as_written(m, "gb_id", key, _digits(GB_ID, "GB/T 28181 id"))
    c.unique_in_registry("gb_id", gb_id, gb_id, c.line_of(m, "gb_id"), f"{key}.gb_id")
    return gb_id


def _cameras(c: _Checker, school: _Map, key: str, sid: str | None, zone_ids: set[str], nvr_ids: set[str],
             base: Heartbeat) -> list[Camera]:
    cameras: list[Camera] = []
    allowed = {"id", "zone", "name", "location", "nvr", "gb_id", "rtsp"}
    for cm, ckey, cid in _entries(c, school, "cameras", key, allowed, "camera"):
        zone = _zone_of(c, cm, ckey, sid, zone_ids)
        nvr = c.get(cm, "nvr", ckey, _text)
        if nvr is not None and nvr not in nvr_ids:
            c.fail(c.line_of(cm, "nvr"), f"{ckey}.nvr", f"nvr {nvr!r} is not an nvr of school {sid!r}")
        cameras.append(Camera(
            cid, zone, _heartbeat(c, cm, ckey, base), c.get(cm, "name", ckey, _text, ""),
            location=c.as_written(cm, "location", ckey, _free_text) or "",
            nvr=nvr, gb_id=_gb_id(c, cm, ckey), rtsp=c.get(cm, "rtsp", ckey, _rtsp),
        ))
    return cameras


def _alarms(c: _Checker, school: _Map, key: str, base: Heartbeat) -> list[Alarm]:
    alarms: list[Alarm] = []
    for am, akey, aid in _entries(c, school, "alarms", key, {"id", "location", "name"}, "alarm"):
        location = c.as_written(am, "location", akey, _free_text) or c.get(am, "name", akey, _text, "")
        alarms.append(Alarm(aid, location, _heartbeat(c, am, akey, base)))
    return alarms


def _faces(c: _Checker, school: _Map, key: str, sid: str | None, zone_ids: set[str], base: Heartbeat) -> list[Face]:
    faces: list[Face] = []
    for fm, fkey, fid in _entries(c, school, "faces", key, {"id", "zone", "location"}, "face terminal"):
        zone = _zone_of(c, fm, fkey, sid, zone_ids)
        location = c.as_written(fm, "location", fkey, _free_text) or ""
        faces.append(Face(fid, zone, _heartbeat(c, fm, fkey, base), location))
    return faces


def _nvrs(c: _Checker, school: _Map, key: str, base: Heartbeat) -> list[Nvr]:
    nvrs: list[Nvr] = []
    for nm, nkey, nid in _entries(c, school, "nvrs", key, {"id", "gb_id", "location"}, "nvr"):
        location = c.as_written(nm, "location", nkey, _free_text) or ""
        nvrs.append(Nvr(nid, _heartbeat(c, nm, nkey, base), _gb_id(c, nm, nkey), location))
    return nvrs


def _zones(c: _Checker, school: _Map, key: str) -> list[Zone]:
    zones: list[Zone] = []
    seen: set[str] = set()
    for line, zkey, item in c.items(school, "zones", f"{key}.zones"):
        m = c.mapping(item, line, zkey, {"id", "name", "kind", "min_live"}, {"id"})
        if m is None:
            continue
        zid = c.get(m, "id", zkey, _pattern(DEVICE_ID, "zone id"))
        _unique(c, seen, zid, c.line_of(m, "id"), f"{zkey}.id", "zone id")

        def kind(v: Any) -> str:
            if v not in ZONE_KINDS:
                raise ValueError(f"{v!r} is not a zone kind ({', '.join(ZONE_KINDS)})")
            return str(v)

        zkind = c.get(m, "kind", zkey, kind, "other")
        min_live = c.get(m, "min_live", zkey, _count(0), 1)
        if zid is not None:
            zones.append(Zone(zid, c.get(m, "name", zkey, _text, zid), zkind, min_live))
    return zones


_ROUTE_KEYS = {"id", "name", "corridor_m", "speed_limit_kmh", "windows", "timezone", "path", "geojson", "slow_stretches"}


def _routes(c: _Checker, top: _Map) -> list[Route]:
    routes: list[Route] = []
    seen: set[str] = set()
    for line, key, item in c.items(top, "routes", "routes"):
        m = c.mapping(item, line, key, _ROUTE_KEYS, {"id"})
        if m is None:
            continue
        rid = c.get(m, "id", key, _pattern(DEVICE_ID, "route id"))
        _unique(c, seen, rid, c.line_of(m, "id"), f"{key}.id", "route id")
        corridor = c.get(m, "corridor_m", key, _positive, 150.0)
        limit = c.get(m, "speed_limit_kmh", key, _positive, 60.0)
        tz = c.get(m, "timezone", key, _timezone, "Asia/Shanghai")
        windows: list[Window] = []
        for wline, wkey, w in c.items(m, "windows", f"{key}.windows"):
            try:
                windows.append(_window(w))
            except ValueError as exc:
                c.fail(wline, wkey, str(exc))
        path: tuple[tuple[float, float], ...] | None = None
        if ("path" in m) == ("geojson" in m):
            c.fail(m.line, key, "needs exactly one of `path` or `geojson`")
        elif "path" in m:
            path = c.get(m, "path", key, _path)
        else:
            path = c.get(m, "geojson", key, _geojson_path(c.read_file))
        stretches: list[SlowStretch] = []
        for sline, skey, s in c.items(m, "slow_stretches", f"{key}.slow_stretches"):
            sm = c.mapping(s, sline, skey, {"from_m", "to_m", "speed_limit_kmh", "name"}, {"from_m", "to_m", "speed_limit_kmh"})
            if sm is None:
                continue
            a = c.get(sm, "from_m", skey, _non_negative)
            b = c.get(sm, "to_m", skey, _positive)
            lim = c.get(sm, "speed_limit_kmh", skey, _positive)
            if a is not None and b is not None and lim is not None:
                if b <= a:
                    c.fail(sline, skey, "to_m must be greater than from_m")
                stretches.append(SlowStretch(a, b, lim, c.get(sm, "name", skey, _text, "")))
        if rid is not None and path is not None:
            routes.append(
                Route(rid, corridor, limit, path, tuple(windows), tz, tuple(stretches), c.get(m, "name", key, _text, ""))
            )
    return routes


def _buses(
    c: _Checker, top: _Map, defaults: dict[DeviceKind, Heartbeat], schools: set[str], routes: set[str]
) -> list[Bus]:
    buses: list[Bus] = []
    seen: set[str] = set()
    for line, key, item in c.items(top, "buses", "buses"):
        m = c.mapping(item, line, key, {"id", "plate", "school", "route", "capacity", "terminal"} | _HB,
                      {"id", "school", "route"})
        if m is None:
            continue
        bid = c.get(m, "id", key, _pattern(DEVICE_ID, "bus id"))
        _unique(c, seen, bid, c.line_of(m, "id"), f"{key}.id", "bus id")
        school = c.get(m, "school", key, _text)
        if school is not None and school not in schools:
            c.fail(c.line_of(m, "school"), f"{key}.school", f"school {school!r} is not in the registry")
        route = c.get(m, "route", key, _text)
        if route is not None and route not in routes:
            c.fail(c.line_of(m, "route"), f"{key}.route", f"route {route!r} is not in the registry")
        plate = c.get(m, "plate", key, _text, "")
        capacity = c.get(m, "capacity", key, _count(1), 0)
        hb = _heartbeat(c, m, key, defaults[DeviceKind.GPS])
        terminal = c.as_written(m, "terminal", key, _digits(TERMINAL, "JT/T 808 terminal number"))
        # JT/T 808 2013 frames carry 12 digits, 2019 frames 20: the same terminal, zero-padded differently
        normalised = terminal.lstrip("0") if terminal is not None else None
        c.unique_in_registry("terminal", terminal, normalised, c.line_of(m, "terminal"), f"{key}.terminal")
        if bid is not None and school is not None and route is not None:
            buses.append(Bus(bid, plate, school, route, capacity, hb, terminal))
    return buses
