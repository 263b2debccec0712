"""The simulated district matches the inspection report's figures and the registry contract (§1)."""

from __future__ import annotations

import re
from collections import Counter

import yaml

from monitor.tools.district import DEMO_FAILURES, district_registry, synthetic_registry, write_district

ID = re.compile(r"^[a-z0-9-]{1,64}$")
ZONE_KINDS = {"dormitory", "canteen", "gate", "classroom", "playground", "other"}


def _school(doc: dict, school_id: str) -> dict:
    return next(s for s in doc["schools"] if s["id"] == school_id)


def test_district_has_the_reports_counts() -> None:
    doc = district_registry()
    assert len(doc["schools"]) == 56
    assert sum(1 for s in doc["schools"] if s.get("alarms")) == 50
    assert all(1 <= len(s["alarms"]) <= 3 for s in doc["schools"] if s.get("alarms"))
    assert len(doc["buses"]) == 135


def test_panhe_middle_school_has_28_cameras_in_dorms_and_canteen() -> None:
    panhe = _school(district_registry(), "panhe-ms")
    assert panhe["name"] == "盘河中学"
    assert len(panhe["cameras"]) == 28
    zones = {z["id"]: z for z in panhe["zones"]}
    assert set(zones) == {"dorm-boys", "dorm-girls", "canteen"}
    assert zones["dorm-boys"]["name"] == "男生宿舍" and zones["dorm-girls"]["name"] == "女生宿舍"
    assert zones["canteen"]["name"] == "食堂" and zones["canteen"]["kind"] == "canteen"
    assert zones["dorm-girls"]["kind"] == zones["dorm-boys"]["kind"] == "dormitory"
    assert zones["dorm-girls"]["min_live"] == 2
    assert {c["zone"] for c in panhe["cameras"]} == set(zones)


def test_ids_are_valid_and_unique_where_they_must_be() -> None:
    doc = district_registry()
    school_ids = [s["id"] for s in doc["schools"]]
    assert len(set(school_ids)) == len(school_ids)
    for school in doc["schools"]:
        device_ids = [c["id"] for c in school["cameras"]] + [a["id"] for a in school.get("alarms", [])]
        zone_ids = [z["id"] for z in school["zones"]]
        assert len(set(device_ids)) == len(device_ids), school["id"]
        assert len(set(zone_ids)) == len(zone_ids), school["id"]
        assert all(ID.match(i) for i in [school["id"], *device_ids, *zone_ids])
        assert {c["zone"] for c in school["cameras"]} <= set(zone_ids)
        assert all(z["kind"] in ZONE_KINDS for z in school["zones"])
    for key in ("buses", "routes"):
        ids = [x["id"] for x in doc[key]]
        assert len(set(ids)) == len(ids) and all(ID.match(i) for i in ids)
    plates = [b["plate"] for b in doc["buses"]]
    assert len(set(plates)) == len(plates)


def test_dormitory_zones_need_two_live_cameras_where_a_school_boards() -> None:
    doc = district_registry()
    dorms = [z for s in doc["schools"] for z in s["zones"] if z["kind"] == "dormitory"]
    assert dorms, "some schools board pupils"
    assert all(z["min_live"] == 2 for z in dorms)


def test_every_bus_belongs_to_a_school_and_drives_a_route_near_zhaotong() -> None:
    doc = district_registry()
    schools = {s["id"] for s in doc["schools"]}
    routes = {r["id"]: r for r in doc["routes"]}
    for bus in doc["buses"]:
        assert bus["school"] in schools and bus["route"] in routes
        assert re.fullmatch(r"云C·\d{5}", bus["plate"])
        assert 19 <= bus["capacity"] <= 45
    for route in routes.values():
        assert 20 <= len(route["path"]) <= 60
        assert route["corridor_m"] == 150 and route["speed_limit_kmh"] == 60
        assert route["windows"] == ["06:30-08:30", "16:00-18:30"]
        for lon, lat in route["path"]:
            assert 103.2 < lon < 104.1 and 27.1 < lat < 27.7


def test_six_demo_failures_are_panhe_cameras_two_in_the_girls_dormitory() -> None:
    panhe = _school(district_registry(), "panhe-ms")
    cameras = {c["id"]: c["zone"] for c in panhe["cameras"]}
    assert len(DEMO_FAILURES) == 6
    assert len({f.camera for f in DEMO_FAILURES}) == 6
    for failure in DEMO_FAILURES:
        assert failure.school == "panhe-ms"
        assert cameras[failure.camera] == failure.zone
    assert Counter(f.zone for f in DEMO_FAILURES) == {"dorm-boys": 4, "dorm-girls": 2}
    times = sorted(f.at_s for f in DEMO_FAILURES)
    assert len(set(times)) == 6 and 0 < times[0] and times[-1] <= 120


def test_same_seed_same_district_other_seed_other_routes() -> None:
    assert district_registry(7) == district_registry(7)
    assert district_registry(7)["routes"] != district_registry(8)["routes"]
    assert len(district_registry(8)["buses"]) == 135


def test_written_file_round_trips_through_yaml_with_chinese_names(tmp_path) -> None:
    path = write_district(tmp_path / "district.yaml")
    text = path.read_text(encoding="utf-8")
    assert "盘河中学" in text and "云C·" in text
    assert yaml.safe_load(text) == district_registry()


def test_synthetic_registry_holds_exactly_the_requested_cameras() -> None:
    doc = synthetic_registry(1001, cameras_per_school=200)
    cameras = [c["id"] for s in doc["schools"] for c in s["cameras"]]
    assert len(cameras) == 1001 == len(set(cameras))
    assert len(doc["schools"]) == 6
