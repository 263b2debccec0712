"""A simulated school district modelled on 昭阳区 (Zhaoyang, Zhaotong, Yunnan).

The 2019 inspection report (`../shared/seed/`) gives the figures: 56 schools on the safe-campus
platform, 50 of them with one-touch alarm panels, 135 school buses with GPS, and 盘河中学 with 28
cameras in its dormitories and canteen, six of them dead (two in the girls' dormitory, four in the
boys'). `district_registry()` builds a contract §1 registry document from those figures; the rest
(camera counts of other schools, routes, plates) is drawn from a seeded random generator, so the
same seed always gives the same district.
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Zhaotong city centre; townships of 昭阳区 with rough centres (lon, lat).
CITY = (103.7171, 27.3382)
TOWNS: dict[str, tuple[str, tuple[float, float]]] = {
    "beizha": ("北闸镇", (103.6935, 27.4268)),
    "sayu": ("洒渔镇", (103.6187, 27.4522)),
    "panhe": ("盘河镇", (103.7660, 27.4785)),
    "jingan": ("靖安镇", (103.8559, 27.5437)),
    "yongfeng": ("永丰镇", (103.7413, 27.2768)),
    "shouwang": ("守望回族乡", (103.6521, 27.2709)),
    "dashanbao": ("大山包镇", (103.3107, 27.3724)),
    "yanshan": ("炎山镇", (103.3720, 27.5190)),
    "tianba": ("田坝乡", (103.4617, 27.5493)),
    "leju": ("乐居镇", (103.5462, 27.3701)),
    "sujiayuan": ("苏家院镇", (103.8021, 27.2298)),
    "buga": ("布嘎回族乡", (103.8833, 27.3305)),
    "xiaolongdong": ("小龙洞回族彝族乡", (103.8310, 27.4012)),
    "sujia": ("苏甲乡", (103.5705, 27.5388)),
    "qinggangling": ("青岗岭回族彝族乡", (103.9207, 27.4815)),
    "jiupu": ("旧圃镇", (103.7196, 27.1980)),
}

# School kinds: ms middle school, hs high school, ps primary, cs township central school, kg kindergarten.
_URBAN: list[tuple[str, str, str]] = [
    ("zhaoyang-no1-hs", "昭阳区第一中学", "hs"),
    ("zhaoyang-no2-ms", "昭阳区第二中学", "ms"),
    ("zhaoyang-no3-ms", "昭阳区第三中学", "ms"),
    ("zhaoyang-no4-ms", "昭阳区第四中学", "ms"),
    ("zhaoyang-no5-ms", "昭阳区第五中学", "ms"),
    ("zhaoyang-no6-ms", "昭阳区第六中学", "ms"),
    ("zhaoyang-no7-ms", "昭阳区第七中学", "ms"),
    ("zhaoyang-voc-hs", "昭阳区职业高级中学", "hs"),
    ("zhaoyang-exp-ps", "昭阳区实验小学", "ps"),
    ("zhaoyang-no1-ps", "昭阳区第一小学", "ps"),
    ("zhaoyang-no2-ps", "昭阳区第二小学", "ps"),
    ("zhaoyang-no3-ps", "昭阳区第三小学", "ps"),
    ("zhaoyang-no4-ps", "昭阳区第四小学", "ps"),
    ("zhaoyang-no5-ps", "昭阳区第五小学", "ps"),
    ("fenghuang-ps", "凤凰街道中心小学", "ps"),
    ("longquan-ps", "龙泉街道中心小学", "ps"),
    ("taiping-ms", "太平中学", "ms"),
    ("taiping-cs", "太平街道中心校", "cs"),
    ("boyi-kg", "昭阳区博艺幼儿园", "kg"),
    ("zhaoyang-no1-kg", "昭阳区第一幼儿园", "kg"),
    ("zhaoyang-no2-kg", "昭阳区第二幼儿园", "kg"),
]
_TOWN_KINDERGARTENS = ("beizha", "panhe", "yongfeng")

SCHOOL_COUNT = 56
ALARM_SCHOOL_COUNT = 50
BUS_COUNT = 135
PANHE = "panhe-ms"

# (zone id, name, kind, camera id prefix)
_ZONES: dict[str, tuple[str, str, str]] = {
    "gate": ("校门", "gate", "gt"),
    "classroom": ("教学楼", "classroom", "cl"),
    "playground": ("操场", "playground", "pg"),
    "canteen": ("食堂", "canteen", "ct"),
    "dorm-boys": ("男生宿舍", "dormitory", "db"),
    "dorm-girls": ("女生宿舍", "dormitory", "dg"),
}
DORM_MIN_LIVE = 2

# 盘河中学: 28 cameras in the dormitories and the canteen (seed report).
PANHE_CAMERAS = {"dorm-boys": 12, "dorm-girls": 10, "canteen": 6}


@dataclass(frozen=True, slots=True)
class Failure:
    """A camera that dies during the demo, `at_s` seconds after the simulator starts."""

    school: str
    camera: str
    zone: str
    at_s: float


#: The six 盘河中学 cameras found dead in 2019 (two in the girls' dormitory, four in the boys'),
#: dying one after another within the demo's first two minutes.
DEMO_FAILURES: tuple[Failure, ...] = (
    Failure(PANHE, "cam-db-03", "dorm-boys", 15.0),
    Failure(PANHE, "cam-dg-04", "dorm-girls", 30.0),
    Failure(PANHE, "cam-db-07", "dorm-boys", 50.0),
    Failure(PANHE, "cam-db-11", "dorm-boys", 70.0),
    Failure(PANHE, "cam-dg-09", "dorm-girls", 90.0),
    Failure(PANHE, "cam-db-12", "dorm-boys", 110.0),
)


@dataclass(frozen=True, slots=True)
class _School:
    id: str
    name: str
    kind: str
    centre: tuple[float, float]
    rural: bool

    @property
    def boarding(self) -> bool:
        return self.kind in ("hs", "cs") or (self.kind == "ms" and self.rural) or self.id == PANHE


def _offset(point: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    lon, lat = point
    dlat = north_m / 111_320.0
    dlon = east_m / (111_320.0 * math.cos(math.radians(lat)))
    return (lon + dlon, lat + dlat)


def _schools(rng: random.Random) -> list[_School]:
    def near(centre: tuple[float, float], spread_m: float) -> tuple[float, float]:
        return _offset(centre, rng.uniform(-spread_m, spread_m), rng.uniform(-spread_m, spread_m))

    out = [_School(sid, name, kind, near(CITY, 3000), False) for sid, name, kind in _URBAN]
    for town, (tname, centre) in TOWNS.items():
        short = tname.removesuffix("回族彝族乡").removesuffix("回族乡").removesuffix("镇").removesuffix("乡")
        out.append(_School(f"{town}-ms", f"{short}中学", "ms", near(centre, 1200), True))
        out.append(_School(f"{town}-cs", f"{tname}中心校", "cs", near(centre, 1200), True))
        if town in _TOWN_KINDERGARTENS:
            out.append(_School(f"{town}-kg", f"{tname}中心幼儿园", "kg", near(centre, 1200), True))
    assert len(out) == SCHOOL_COUNT, len(out)
    return out


def _camera_plan(school: _School, rng: random.Random) -> dict[str, int]:
    """How many cameras in each zone of a school."""
    if school.id == PANHE:
        return dict(PANHE_CAMERAS)
    if school.kind == "kg":
        return {"gate": rng.randint(1, 2), "classroom": rng.randint(3, 6),
                "playground": rng.randint(1, 2), "canteen": rng.randint(1, 2)}
    plan = {"gate": rng.randint(2, 4), "classroom": rng.randint(4, 10),
            "playground": rng.randint(1, 3), "canteen": rng.randint(2, 5)}
    if school.boarding:
        plan["dorm-boys"] = rng.randint(4, 8)
        plan["dorm-girls"] = rng.randint(4, 8)
    return plan


def _alarms(school: _School, rng: random.Random) -> list[dict[str, Any]]:
    alarms = [{"id": "alarm-gate", "location": "校门"}]
    extra = rng.randint(0, 2)
    if extra >= 1:
        alarms.append({"id": "alarm-duty", "location": "值班室"})
    if extra >= 2:
        alarms.append({"id": "alarm-dorm" if school.boarding else "alarm-office",
                       "location": "宿舍楼" if school.boarding else "教务处"})
    return alarms


_SPOTS = ("东走廊", "西走廊", "楼梯口", "出入口")


def _spot(zone_name: str, n: int) -> str:
    """Where the zone's n-th camera hangs, as a crew would look for it: 女生宿舍3楼东走廊."""
    return f"{zone_name}{(n - 1) // len(_SPOTS) + 1}楼{_SPOTS[(n - 1) % len(_SPOTS)]}"


def _school_doc(school: _School, rng: random.Random, with_alarms: bool) -> dict[str, Any]:
    plan = _camera_plan(school, rng)
    zones: list[dict[str, Any]] = []
    cameras: list[dict[str, Any]] = []
    for zone_id, count in plan.items():
        name, kind, prefix = _ZONES[zone_id]
        zone: dict[str, Any] = {"id": zone_id, "name": name, "kind": kind}
        if kind == "dormitory":
            zone["min_live"] = DORM_MIN_LIVE
        zones.append(zone)
        cameras.extend({"id": f"cam-{prefix}-{n:02d}", "zone": zone_id, "location": _spot(name, n)}
                       for n in range(1, count + 1))
    doc: dict[str, Any] = {"id": school.id, "name": school.name, "zones": zones, "cameras": cameras}
    if with_alarms:
        doc["alarms"] = _alarms(school, rng)
    return doc


def _bus_counts(schools: list[_School], rng: random.Random) -> dict[str, int]:
    """135 buses, all at township schools and kindergartens (urban pupils walk or take the city bus)."""
    served = [s for s in schools if s.rural or s.kind == "kg"]
    counts = dict.fromkeys((s.id for s in served), 1)
    weights = [3 if s.kind == "ms" else 2 for s in served]
    for _ in range(BUS_COUNT - len(served)):
        counts[rng.choices(served, weights)[0].id] += 1
    return counts


def _route_path(school: _School, rng: random.Random) -> list[list[float]]:
    """A winding road from a village 3-12 km out to the school gate: 20-60 [lon, lat] points."""
    points = rng.randint(20, 60)
    length_m = rng.uniform(3000, 12000)
    bearing = rng.uniform(0, 2 * math.pi)
    start = _offset(school.centre, length_m * math.sin(bearing), length_m * math.cos(bearing))
    # Walk from the village towards the school; sideways wiggle vanishes at both ends.
    wiggle_m = rng.uniform(150, 600)
    phase = rng.uniform(0, 2 * math.pi)
    path: list[list[float]] = []
    for i in range(points):
        f = i / (points - 1)
        along_e = (school.centre[0] - start[0]) * f
        along_n = (school.centre[1] - start[1]) * f
        side = wiggle_m * math.sin(math.pi * f) * math.sin(3 * math.pi * f + phase) + rng.uniform(-20, 20)
        side = 0.0 if i in (0, points - 1) else side
        lon, lat = _offset((start[0] + along_e, start[1] + along_n), side * math.cos(bearing),
                           -side * math.sin(bearing))
        path.append([round(lon, 5), round(lat, 5)])
    return path


def district_registry(seed: int = 7) -> dict[str, Any]:
    """The simulated 昭阳区 district as a contract §1 registry document (a plain dict)."""
    rng = random.Random(seed)
    schools = _schools(rng)
    no_alarm = set(rng.sample([s.id for s in schools if s.id != PANHE], SCHOOL_COUNT - ALARM_SCHOOL_COUNT))
    school_docs = [_school_doc(s, rng, s.id not in no_alarm) for s in schools]

    routes: list[dict[str, Any]] = []
    buses: list[dict[str, Any]] = []
    plates: set[str] = set()
    by_id = {s.id: s for s in schools}
    for school_id, count in _bus_counts(schools, rng).items():
        for n in range(1, count + 1):
            route_id = f"{school_id}-r{n}"
            routes.append({
                "id": route_id,
                "corridor_m": 150,
                "speed_limit_kmh": 60,
                "windows": ["06:30-08:30", "16:00-18:30"],
                "path": _route_path(by_id[school_id], rng),
            })
            plate = f"云C·{rng.randint(10000, 99999)}"
            while plate in plates:
                plate = f"云C·{rng.randint(10000, 99999)}"
            plates.add(plate)
            buses.append({"id": f"bus-{len(buses) + 1:03d}", "plate": plate, "school": school_id,
                          "route": route_id, "capacity": rng.randint(19, 45)})
    return {
        "defaults": {
            "camera": {"interval_s": 30, "missed": 3},
            "alarm": {"interval_s": 60, "missed": 3},
            "gps": {"interval_s": 10, "missed": 6},
        },
        "schools": school_docs,
        "routes": routes,
        "buses": buses,
    }


def synthetic_registry(devices: int, *, cameras_per_school: int = 200) -> dict[str, Any]:
    """A registry of `devices` cameras (for benchmarks), `cameras_per_school` to a school, ids `cam-NNNNNN`."""
    schools: list[dict[str, Any]] = []
    for first in range(0, devices, cameras_per_school):
        n = min(cameras_per_school, devices - first)
        schools.append({
            "id": f"load-{len(schools) + 1:05d}",
            "name": f"负载测试学校{len(schools) + 1}",
            "zones": [{"id": "classroom", "name": "教学楼", "kind": "classroom"}],
            "cameras": [{"id": f"cam-{first + i + 1:06d}", "zone": "classroom"} for i in range(n)],
        })
    return {"schools": schools}


def dump_registry(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=None, width=120)


def write_district(path: str | Path, seed: int = 7) -> Path:
    """Write the simulated district's registry YAML to `path` and return the path."""
    path = Path(path)
    path.write_text(dump_registry(district_registry(seed)), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """`campus-monitor district [-o FILE] [--seed N] [--synthetic N]`: write a registry file."""
    parser = argparse.ArgumentParser(prog="campus-monitor district", description=main.__doc__)
    parser.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--synthetic", type=int, metavar="N",
                        help="instead of the district, N cameras for benchmarks")
    args = parser.parse_args(argv)
    doc = synthetic_registry(args.synthetic) if args.synthetic else district_registry(args.seed)
    text = dump_registry(doc)
    if args.output == "-":
        print(text, end="")
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
