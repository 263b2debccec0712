"""The registry loader (contract §1): strict, and every error names file, line, key and reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from textwrap import dedent

import pytest

from devices.model import DEFAULT_HEARTBEATS, DeviceKind, Heartbeat, Window
from devices.registry import Problem, RegistryError, parse_registry

CONTRACT_EXAMPLE = dedent(
    """\
    defaults:
      camera: {interval_s: 30, missed: 3}
      alarm:  {interval_s: 60, missed: 3}
      gps:    {interval_s: 10, missed: 6}
    schools:
      - id: panhe-ms
        name: 盘河中学
        zones:
          - {id: dorm-girls, name: 女生宿舍, kind: dormitory, min_live: 2}
          - {id: canteen, name: 食堂, kind: canteen}
        cameras:
          - {id: cam-dg-01, zone: dorm-girls}
        alarms:
          - {id: alarm-gate, location: 校门}
    routes:
      - id: panhe-r1
        corridor_m: 150
        speed_limit_kmh: 60
        windows: ["06:30-08:30", "16:00-18:30"]
        path: [[103.7171, 27.3382], [103.7204, 27.3417]]
    buses:
      - {id: bus-023, plate: 云C·12345, school: panhe-ms, route: panhe-r1, capacity: 19}
    """
)


def reader(files: dict[str, str]) -> Callable[[str], str]:
    """A `read_file` over named texts, as the edge would give; a missing name is an OSError."""

    def read(name: str) -> str:
        if name not in files:
            raise FileNotFoundError(2, "No such file or directory")
        return files[name]

    return read


def problems(text: str, files: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, "district.yaml", reader(files) if files is not None else None)
    assert caught.value.problems, "a RegistryError always lists its problems"
    return caught.value.problems


def only_problem(text: str, files: dict[str, str] | None = None) -> Problem:
    found = problems(text, files)
    assert len(found) == 1, found
    return found[0]


# ---- what a good file gives --------------------------------------------------------------------


def test_contract_example_loads_into_typed_models() -> None:
    reg = parse_registry(CONTRACT_EXAMPLE, "district.yaml")
    [school] = reg.schools
    assert (school.id, school.name) == ("panhe-ms", "盘河中学")
    assert [(z.id, z.name, z.kind, z.min_live) for z in school.zones] == [
        ("dorm-girls", "女生宿舍", "dormitory", 2),
        ("canteen", "食堂", "canteen", 1),
    ]
    [cam] = school.cameras
    assert (cam.id, cam.zone, cam.heartbeat) == ("cam-dg-01", "dorm-girls", Heartbeat(30.0, 3))
    [alarm] = school.alarms
    assert (alarm.id, alarm.location, alarm.heartbeat) == ("alarm-gate", "校门", Heartbeat(60.0, 3))
    [route] = reg.routes
    assert (route.id, route.corridor_m, route.speed_limit_kmh) == ("panhe-r1", 150.0, 60.0)
    assert route.windows == (Window(390, 510), Window(960, 1110))
    assert route.timezone == "Asia/Shanghai"
    assert route.path == ((103.7171, 27.3382), (103.7204, 27.3417))
    [bus] = reg.buses
    assert (bus.id, bus.plate, bus.school, bus.route, bus.capacity) == ("bus-023", "云C·12345", "panhe-ms", "panhe-r1", 19)
    assert bus.heartbeat == Heartbeat(10.0, 6)


def test_registry_lists_every_watched_device_with_its_key() -> None:
    reg = parse_registry(CONTRACT_EXAMPLE)
    assert [(d.kind, d.id, d.zone, d.route) for d in reg.devices()] == [
        (DeviceKind.CAMERA, "cam-dg-01", "dorm-girls", None),
        (DeviceKind.ALARM, "alarm-gate", None, None),
        (DeviceKind.GPS, "bus-023", None, "panhe-r1"),
    ]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "schools: []\n", "schools:\n"])
def test_empty_registry_is_valid(text: str) -> None:
    reg = parse_registry(text)
    assert reg.schools == () and reg.routes == () and reg.buses == ()
    assert reg.defaults == DEFAULT_HEARTBEATS


def test_without_defaults_each_kind_gets_the_contract_default() -> None:
    reg = parse_registry("schools:\n  - id: s\n    cameras: [{id: c}]\n    alarms: [{id: a}]\n")
    assert reg.defaults[DeviceKind.CAMERA] == Heartbeat(30.0, 3)
    assert reg.defaults[DeviceKind.ALARM] == Heartbeat(60.0, 3)
    assert reg.defaults[DeviceKind.GPS] == Heartbeat(10.0, 6)
    assert reg.schools[0].cameras[0].heartbeat.timeout_s == 90.0
    assert reg.schools[0].alarms[0].heartbeat.timeout_s == 180.0


def test_partial_defaults_keep_the_other_values() -> None:
    reg = parse_registry("defaults:\n  camera: {missed: 5}\n  gps: {interval_s: 2}\n")
    assert reg.defaults[DeviceKind.CAMERA] == Heartbeat(30.0, 5)
    assert reg.defaults[DeviceKind.GPS] == Heartbeat(2.0, 6)
    assert reg.defaults[DeviceKind.ALARM] == Heartbeat(60.0, 3)


def test_device_heartbeat_overrides_the_kind_default() -> None:
    reg = parse_registry(
        dedent(
            """\
            defaults:
              camera: {interval_s: 20, missed: 4}
            schools:
              - id: s
                cameras:
                  - {id: c-default}
                  - {id: c-fast, interval_s: 5}
                  - {id: c-patient, missed: 10}
                alarms:
                  - {id: a-own, interval_s: 120, missed: 2}
            routes:
              - {id: r, path: [[1, 2], [3, 4]]}
            buses:
              - {id: b, school: s, route: r, interval_s: 1, missed: 30}
            """
        )
    )
    cams = {c.id: c.heartbeat for c in reg.schools[0].cameras}
    assert cams == {
        "c-default": Heartbeat(20.0, 4),
        "c-fast": Heartbeat(5.0, 4),
        "c-patient": Heartbeat(20.0, 10),
    }
    assert reg.schools[0].alarms[0].heartbeat == Heartbeat(120.0, 2)
    assert reg.buses[0].heartbeat == Heartbeat(1.0, 30)


def test_route_without_windows_is_always_in_service_and_may_name_its_timezone() -> None:
    reg = parse_registry("routes:\n  - {id: r, path: [[1, 2], [3, 4]], timezone: Europe/Berlin}\n")
    assert reg.routes[0].windows == ()
    assert reg.routes[0].timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("window", "start", "end"),
    [("00:00-24:00", 0, 1440), ("22:15-24:00", 1335, 1440), ("06:30-08:30", 390, 510), ("23:59-24:00", 1439, 1440)],
)
def test_window_may_end_at_24_00(window: str, start: int, end: int) -> None:
    reg = parse_registry(f'routes:\n  - {{id: r, path: [[1, 2], [3, 4]], windows: ["{window}"]}}\n')
    assert reg.routes[0].windows == (Window(start, end),)


def test_same_device_id_in_two_schools_is_fine() -> None:
    reg = parse_registry("schools:\n  - {id: a, cameras: [{id: cam-1}]}\n  - {id: b, cameras: [{id: cam-1}]}\n")
    assert [s.cameras[0].id for s in reg.schools] == ["cam-1", "cam-1"]


def test_camera_without_a_zone_is_allowed() -> None:
    reg = parse_registry("schools:\n  - {id: a, cameras: [{id: cam-1}]}\n")
    assert reg.schools[0].cameras[0].zone is None


# ---- errors: line, key, reason -----------------------------------------------------------------

SCHOOL = "schools:\n  - id: panhe-ms\n"  # lines 1-2; what follows starts at line 3
ROUTE = "routes:\n  - id: r1\n"  # the same for a route

ERRORS = [
    # (what, text, line, key, words in the reason)
    ("unknown top-level key", "schools: []\nbusses: []\n", 2, "registry.busses", "unknown key"),
    ("unknown school key", SCHOOL + "    adress: x\n", 3, "schools[0].adress", "unknown key"),
    ("unknown camera key", SCHOOL + "    cameras:\n      - {id: c, fps: 25}\n", 4, "schools[0].cameras[0].fps", "unknown key"),
    ("unknown defaults kind", "defaults:\n  doorbell: {interval_s: 1}\n", 2, "defaults.doorbell", "unknown key"),
    ("unknown heartbeat key", "defaults:\n  camera: {interval: 1}\n", 2, "defaults.camera.interval", "unknown key"),
    ("school id with capitals", "schools:\n  - id: PanHe\n", 2, "schools[0].id", "not a valid school id"),
    ("school id with a slash", "schools:\n  - id: pan/he\n", 2, "schools[0].id", "not a valid school id"),
    ("school id too long", "schools:\n  - id: " + "a" * 65 + "\n", 2, "schools[0].id", "not a valid school id"),
    ("school without id", "schools:\n  - name: x\n", 2, "schools[0].id", "is required"),
    ("camera id with a space", SCHOOL + "    cameras:\n      - {id: cam 1}\n", 4, "schools[0].cameras[0].id", "not a valid camera id"),
    ("camera id with a plus", SCHOOL + "    cameras:\n      - {id: cam+1}\n", 4, "schools[0].cameras[0].id", "not a valid camera id"),
    ("camera in a zone the school lacks", SCHOOL + "    cameras:\n      - {id: c, zone: attic}\n", 4, "schools[0].cameras[0].zone", "not a zone of school"),
    ("duplicate school id", "schools:\n  - id: a\n  - id: a\n", 3, "schools[1].id", "appears twice"),
    ("duplicate camera id", SCHOOL + "    cameras:\n      - {id: c}\n      - {id: c}\n", 5, "schools[0].cameras[1].id", "appears twice"),
    ("duplicate alarm id", SCHOOL + "    alarms:\n      - {id: a}\n      - {id: a}\n", 5, "schools[0].alarms[1].id", "appears twice"),
    ("duplicate zone id", SCHOOL + "    zones:\n      - {id: z}\n      - {id: z}\n", 5, "schools[0].zones[1].id", "appears twice"),
    ("duplicate route id", "routes:\n  - {id: r, path: [[1, 2], [3, 4]]}\n  - {id: r, path: [[1, 2], [3, 4]]}\n", 3, "routes[1].id", "appears twice"),
    ("zone kind unknown", SCHOOL + "    zones:\n      - {id: z, kind: bathroom}\n", 4, "schools[0].zones[0].kind", "not a zone kind"),
    ("min_live negative", SCHOOL + "    zones:\n      - {id: z, min_live: -1}\n", 4, "schools[0].zones[0].min_live", "whole number"),
    ("min_live fractional", SCHOOL + "    zones:\n      - {id: z, min_live: 1.5}\n", 4, "schools[0].zones[0].min_live", "whole number"),
    ("interval zero", "defaults:\n  camera: {interval_s: 0}\n", 2, "defaults.camera.interval_s", "positive"),
    ("interval negative", "defaults:\n  alarm: {interval_s: -5}\n", 2, "defaults.alarm.interval_s", "positive"),
    ("interval a word", "defaults:\n  gps: {interval_s: fast}\n", 2, "defaults.gps.interval_s", "positive"),
    ("interval a bool", "defaults:\n  gps: {interval_s: true}\n", 2, "defaults.gps.interval_s", "positive"),
    ("missed zero", "defaults:\n  camera: {missed: 0}\n", 2, "defaults.camera.missed", "whole number >= 1"),
    ("missed fractional", SCHOOL + "    cameras:\n      - {id: c, missed: 2.5}\n", 4, "schools[0].cameras[0].missed", "whole number"),
    ("bus of an unknown school", "routes:\n  - {id: r, path: [[1, 2], [3, 4]]}\nbuses:\n  - {id: b, school: nowhere, route: r}\n", 4, "buses[0].school", "not in the registry"),
    ("bus on an unknown route", "schools:\n  - id: s\nbuses:\n  - {id: b, school: s, route: r9}\n", 4, "buses[0].route", "not in the registry"),
    ("bus without a route", "schools:\n  - id: s\nbuses:\n  - {id: b, school: s}\n", 4, "buses[0].route", "is required"),
    ("schools not a list", "schools: {id: a}\n", 1, "schools", "must be a list"),
    ("school not a mapping", "schools:\n  - panhe-ms\n", 2, "schools[0]", "must be a mapping"),
    ("top level a list", "- id: a\n", 1, "registry", "must be a mapping"),
    ("unknown timezone", ROUTE + "    path: [[1, 2], [3, 4]]\n    timezone: Mars/Olympus\n", 4, "routes[0].timezone", "time zone"),
    ("route with neither path nor geojson", ROUTE + "    corridor_m: 100\n", 2, "routes[0]", "exactly one of"),
    ("route with both path and geojson", ROUTE + "    path: [[1, 2], [3, 4]]\n    geojson: r.geojson\n", 2, "routes[0]", "exactly one of"),
    ("corridor zero", ROUTE + "    path: [[1, 2], [3, 4]]\n    corridor_m: 0\n", 4, "routes[0].corridor_m", "positive"),
]


@pytest.mark.parametrize(("what", "text", "line", "key", "reason"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_registry_names_line_key_and_reason(what: str, text: str, line: int, key: str, reason: str) -> None:
    p = only_problem(text)
    assert p.file == "district.yaml"
    assert (p.line, p.key) == (line, key)
    assert reason in p.reason


BAD_WINDOWS = [
    ("6:30-8:30", "not a window"),
    ("06:30 - 08:30", "not a window"),
    ("0630-0830", "not a window"),
    ("08:30-06:30", "start before its end"),
    ("10:00-10:00", "start before its end"),
    ("00:00-24:01", "24:00 may end it"),
    ("10:00-25:00", "24:00 may end it"),
    ("24:00-24:00", "start before its end"),
    ("12:60-13:00", "start before its end"),
    ("12:00-12:75", "start before its end"),
]


@pytest.mark.parametrize(("window", "reason"), BAD_WINDOWS, ids=[w for w, _ in BAD_WINDOWS])
def test_bad_service_window_is_an_error_on_its_line(window: str, reason: str) -> None:
    text = ROUTE + "    path: [[1, 2], [3, 4]]\n    windows:\n      - \"06:30-08:30\"\n      - \"" + window + "\"\n"
    p = only_problem(text)
    assert (p.line, p.key) == (6, "routes[0].windows[1]")
    assert reason in p.reason


@pytest.mark.parametrize("windows", ["\"06:30-08:30\"", "[630]", "[null]"])
def test_windows_that_are_not_a_list_of_strings_are_an_error(windows: str) -> None:
    p = only_problem(ROUTE + f"    path: [[1, 2], [3, 4]]\n    windows: {windows}\n")
    assert p.key.startswith("routes[0].windows")


BAD_PATHS = [
    ("one point", "[[103.7, 27.3]]", "at least two"),
    ("not a list", "103.7", "at least two"),
    ("a point of three numbers", "[[103.7, 27.3, 5], [103.8, 27.4]]", "point 0"),
    ("a point of one number", "[[103.7, 27.3], [103.8]]", "point 1"),
    ("a coordinate that is a word", "[[103.7, 27.3], [east, 27.4]]", "point 1"),
    ("a coordinate that is a bool", "[[true, 27.3], [103.8, 27.4]]", "point 0"),
    ("longitude out of range", "[[103.7, 27.3], [190.0, 27.4]]", "out of range"),
    ("latitude out of range (lat, lon swapped)", "[[27.3, 103.7], [27.4, 103.8]]", "out of range"),
]


@pytest.mark.parametrize(("what", "path", "reason"), BAD_PATHS, ids=[b[0] for b in BAD_PATHS])
def test_bad_route_path_is_an_error(what: str, path: str, reason: str) -> None:
    p = only_problem(ROUTE + f"    path: {path}\n")
    assert (p.line, p.key) == (3, "routes[0].path")
    assert reason in p.reason


def test_every_error_in_the_file_is_reported_at_once() -> None:
    text = dedent(
        """\
        schools:
          - id: Bad School
            zones:
              - {id: z, kind: attic}
            cameras:
              - {id: c, zone: nowhere, colour: red}
        routes:
          - {id: r, path: [[1, 2]]}
        """
    )
    found = problems(text)
    assert sorted((p.line, p.key) for p in found) == [
        (2, "schools[0].id"),
        (4, "schools[0].zones[0].kind"),
        (6, "schools[0].cameras[0].colour"),
        (6, "schools[0].cameras[0].zone"),
        (8, "routes[0].path"),
    ]


def test_error_text_reads_file_line_key_reason() -> None:
    with pytest.raises(RegistryError) as caught:
        parse_registry("schools:\n  - id: a\n    colour: red\n", "district.yaml")
    assert str(caught.value).startswith("district.yaml:3: schools[0].colour: unknown key")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("schools:\n  - id: a\n    name: [unclosed\n", 4, "YAML"),
        ("schools:\n  - id: a\n  bad indent: x\n", 3, "YAML"),
        ("schools: []\nschools: []\n", 2, "duplicate key 'schools'"),
        ("schools:\n  - id: a\n    id: b\n", 3, "duplicate key 'id'"),
        ("a: 1\n? [x]\n: 1\n", 2, "cannot be a key"),
        ("---\nschools: []\n---\nroutes: []\n", 3, "YAML"),
    ],
)
def test_yaml_that_does_not_parse_is_one_error_with_its_line(text: str, line: int, words: str) -> None:
    p = only_problem(text)
    assert p.line == line
    assert words in p.reason


# ---- slow stretches ----------------------------------------------------------------------------


def test_slow_stretch_may_start_at_zero() -> None:
    reg = parse_registry(ROUTE + "    path: [[1, 2], [3, 4]]\n    slow_stretches: [{from_m: 0, to_m: 300, speed_limit_kmh: 30}]\n")
    assert reg.routes[0].slow_stretches[0].from_m == 0.0


@pytest.mark.parametrize(
    ("stretch", "reason"),
    [
        ("{from_m: 300, to_m: 100, speed_limit_kmh: 30}", "greater than from_m"),
        ("{from_m: -1, to_m: 100, speed_limit_kmh: 30}", ">= 0"),
        ("{from_m: false, to_m: 100, speed_limit_kmh: 30}", ">= 0"),
        ("{from_m: 0, to_m: 100}", "is required"),
    ],
)
def test_bad_slow_stretch_is_an_error(stretch: str, reason: str) -> None:
    p = only_problem(ROUTE + f"    path: [[1, 2], [3, 4]]\n    slow_stretches: [{stretch}]\n")
    assert reason in p.reason


# ---- GeoJSON route files -----------------------------------------------------------------------

LINE = {"type": "LineString", "coordinates": [[103.7171, 27.3382], [103.7204, 27.3417]]}


@pytest.mark.parametrize(
    "doc",
    [
        LINE,
        {"type": "Feature", "properties": {}, "geometry": LINE},
        {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": LINE}]},
        {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [103.7, 27.3]}},
            {"type": "Feature", "geometry": None},
            {"type": "Feature", "geometry": LINE},
        ]},
        {"type": "LineString", "coordinates": [[103.7171, 27.3382, 1890.5], [103.7204, 27.3417, 1902]]},
    ],
    ids=["LineString", "Feature", "FeatureCollection", "FeatureCollection with other features", "with altitude"],
)
def test_route_path_may_come_from_a_geojson_file_the_edge_reads(doc: object) -> None:
    reg = parse_registry(ROUTE + "    geojson: r1.geojson\n", "district.yaml", reader({"r1.geojson": json.dumps(doc)}))
    assert reg.routes[0].path == ((103.7171, 27.3382), (103.7204, 27.3417))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        (json.dumps({"type": "Point", "coordinates": [1, 2]}), "must be a LineString"),
        (json.dumps({"type": "FeatureCollection", "features": []}), "exactly one LineString"),
        (json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": LINE}] * 2}), "exactly one LineString"),
        (json.dumps({"type": "FeatureCollection", "features": [1, {"type": "Feature", "geometry": LINE}]}), "Feature objects"),
        (json.dumps({"type": "FeatureCollection", "features": {"a": 1}}), "Feature objects"),
        (json.dumps({"type": "LineString", "coordinates": [[103.7, 27.3]]}), "at least two"),
        (json.dumps({"type": "LineString", "coordinates": [[103.7, 27.3], [103.8, 27.4, 1, 2]]}), "point 1"),
        (json.dumps({"type": "LineString", "coordinates": [[27.3, 103.7], [27.4, 103.8]]}), "out of range"),
    ],
    ids=["missing", "not JSON", "a Point", "no line", "two lines", "a non-object feature",
         "features not a list", "one point", "four numbers", "lat/lon swapped"],
)
def test_bad_geojson_file_is_an_error_on_the_geojson_key(content: str | None, reason: str) -> None:
    p = only_problem(ROUTE + "    geojson: r1.geojson\n", {} if content is None else {"r1.geojson": content})
    assert (p.line, p.key) == (3, "routes[0].geojson")
    assert reason in p.reason


def test_geojson_route_without_a_file_reader_is_an_error_not_a_read() -> None:
    p = only_problem(ROUTE + "    geojson: r1.geojson\n")
    assert (p.line, p.key) == (3, "routes[0].geojson")
    assert "cannot read r1.geojson" in p.reason


# ---- round 2: faces, NVRs, GB/T 28181 and RTSP cameras, JT/T 808 terminals ----------------------

ROUND2_EXAMPLE = dedent(
    """\
    defaults:
      face: {interval_s: 30, missed: 3}
      nvr:  {interval_s: 60, missed: 3}
    schools:
      - id: panhe-ms
        keeper: 王老师
        zones:
          - {id: dorm-girls, name: 女生宿舍, kind: dormitory, min_live: 2}
          - {id: gate, kind: gate}
        nvrs:
          - {id: nvr-1, gb_id: "53060200001180000001", location: 监控室}
        cameras:
          - {id: cam-dg-01, zone: dorm-girls, location: 女生宿舍3楼东走廊, nvr: nvr-1,
             gb_id: "53060200001320000001"}
          - {id: cam-gate-01, zone: gate, rtsp: "rtsp://10.20.1.31:554/Streaming/Channels/101"}
        faces:
          - {id: face-gate-01, zone: gate, location: 校门}
    routes:
      - {id: panhe-r1, path: [[103.7171, 27.3382], [103.7204, 27.3417]]}
    buses:
      - {id: bus-023, plate: 云C·12345, school: panhe-ms, route: panhe-r1, capacity: 19,
         terminal: "013912345678"}
    """
)


def test_round2_example_loads_nvrs_faces_and_camera_links() -> None:
    reg = parse_registry(ROUND2_EXAMPLE, "district.yaml")
    [school] = reg.schools
    assert school.keeper == "王老师"
    [nvr] = school.nvrs
    assert (nvr.id, nvr.gb_id, nvr.location, nvr.heartbeat) == ("nvr-1", "53060200001180000001", "监控室", Heartbeat(60.0, 3))
    dg, gate = school.cameras
    assert (dg.location, dg.nvr, dg.gb_id, dg.rtsp) == ("女生宿舍3楼东走廊", "nvr-1", "53060200001320000001", None)
    assert (gate.location, gate.nvr, gate.gb_id, gate.rtsp) == ("", None, None, "rtsp://10.20.1.31:554/Streaming/Channels/101")
    [face] = school.faces
    assert (face.id, face.zone, face.location, face.heartbeat) == ("face-gate-01", "gate", "校门", Heartbeat(30.0, 3))
    assert reg.buses[0].terminal == "013912345678"


def test_registry_devices_include_faces_and_nvrs_with_location_and_nvr() -> None:
    reg = parse_registry(ROUND2_EXAMPLE)
    assert [(d.kind, d.id, d.zone, d.location, d.nvr) for d in reg.devices()] == [
        (DeviceKind.CAMERA, "cam-dg-01", "dorm-girls", "女生宿舍3楼东走廊", "nvr-1"),
        (DeviceKind.CAMERA, "cam-gate-01", "gate", "", None),
        (DeviceKind.FACE, "face-gate-01", "gate", "校门", None),
        (DeviceKind.NVR, "nvr-1", None, "监控室", None),
        (DeviceKind.GPS, "bus-023", None, "", None),
    ]


def test_without_round2_defaults_faces_and_nvrs_get_the_contract_default() -> None:
    reg = parse_registry("schools:\n  - id: s\n    faces: [{id: f}]\n    nvrs: [{id: n}]\n")
    assert reg.schools[0].faces[0].heartbeat == Heartbeat(30.0, 3)
    assert reg.schools[0].nvrs[0].heartbeat == Heartbeat(60.0, 3)
    assert reg.schools[0].keeper == ""


def test_round2_defaults_and_device_overrides_apply_to_faces_and_nvrs() -> None:
    reg = parse_registry(dedent("""\
        defaults:
          face: {interval_s: 10}
          nvr: {missed: 5}
        schools:
          - id: s
            faces: [{id: f}, {id: f-own, missed: 1}]
            nvrs: [{id: n, interval_s: 20}]
        """))
    assert [f.heartbeat for f in reg.schools[0].faces] == [Heartbeat(10.0, 3), Heartbeat(10.0, 1)]
    assert reg.schools[0].nvrs[0].heartbeat == Heartbeat(20.0, 5)


@pytest.mark.parametrize(
    ("written", "kept"),
    [('"013912345678"', "013912345678"), ("013912345678", "013912345678"), ("0123", "0123"),
     ("13912345678", "13912345678"), ('"00000000013912345678"', "00000000013912345678")],
    ids=["quoted", "unquoted with a leading zero", "unquoted octal-looking", "unquoted number", "20 digits"],
)
def test_bus_terminal_keeps_its_digits_as_written(written: str, kept: str) -> None:
    reg = parse_registry(f"schools: [{{id: s}}]\nroutes: [{{id: r, path: [[1, 2], [3, 4]]}}]\n"
                         f"buses:\n  - {{id: b, school: s, route: r, terminal: {written}}}\n")
    assert reg.buses[0].terminal == kept


def test_gb_id_written_as_a_number_keeps_its_digits() -> None:
    reg = parse_registry(SCHOOL + "    nvrs: [{id: n, gb_id: 53060200001180000001}]\n")
    assert reg.schools[0].nvrs[0].gb_id == "53060200001180000001"


@pytest.mark.parametrize("location", ["301", "3.5楼", "'  东门 '"])
def test_location_is_free_text_even_when_it_looks_like_a_number(location: str) -> None:
    reg = parse_registry(SCHOOL + f"    cameras: [{{id: c, location: {location}}}]\n")
    assert reg.schools[0].cameras[0].location == location.strip("'")


BUSES = "routes: [{id: r, path: [[1, 2], [3, 4]]}]\nschools: [{id: s}]\nbuses:\n"  # buses from line 4
TWO_SCHOOLS = "schools:\n  - id: a\n    nvrs: [{id: n, gb_id: '53060200001180000001'}]\n  - id: b\n"  # line 5 on

ROUND2_ERRORS = [
    # (what, text, line, key, words in the reason)
    ("camera names an nvr its school lacks", SCHOOL + "    cameras:\n      - {id: c, nvr: nvr-9}\n", 4,
     "schools[0].cameras[0].nvr", "not an nvr of school 'panhe-ms'"),
    ("camera names another school's nvr", TWO_SCHOOLS + "    cameras: [{id: c, nvr: n}]\n", 5,
     "schools[1].cameras[0].nvr", "not an nvr of school 'b'"),
    ("gb_id too short", SCHOOL + "    nvrs: [{id: n, gb_id: '5306020000118'}]\n", 3, "schools[0].nvrs[0].gb_id", "GB/T 28181 id"),
    ("gb_id with a letter", SCHOOL + "    cameras: [{id: c, gb_id: '5306020000118000000A'}]\n", 3,
     "schools[0].cameras[0].gb_id", "GB/T 28181 id"),
    ("gb_id a list", SCHOOL + "    cameras: [{id: c, gb_id: [1]}]\n", 3, "schools[0].cameras[0].gb_id", "single value"),
    ("gb_id of a camera reused by an nvr of another school",
     TWO_SCHOOLS + "    cameras: [{id: c, gb_id: '53060200001180000001'}]\n", 5, "schools[1].cameras[0].gb_id",
     "already used by schools[0].nvrs[0].gb_id"),
    ("gb_id twice in one school", SCHOOL + "    cameras:\n      - {id: c1, gb_id: '53060200001320000001'}\n"
     "      - {id: c2, gb_id: '53060200001320000001'}\n", 5, "schools[0].cameras[1].gb_id", "already used"),
    ("rtsp of another scheme", SCHOOL + "    cameras: [{id: c, rtsp: 'http://10.0.0.1/'}]\n", 3,
     "schools[0].cameras[0].rtsp", "must start with rtsp://"),
    ("rtsp without a host", SCHOOL + "    cameras: [{id: c, rtsp: 'rtsp://'}]\n", 3, "schools[0].cameras[0].rtsp", "name a host"),
    ("face in a zone the school lacks", SCHOOL + "    faces: [{id: f, zone: attic}]\n", 3, "schools[0].faces[0].zone",
     "not a zone of school"),
    ("duplicate face id", SCHOOL + "    faces:\n      - {id: f}\n      - {id: f}\n", 5, "schools[0].faces[1].id", "appears twice"),
    ("duplicate nvr id", SCHOOL + "    nvrs:\n      - {id: n}\n      - {id: n}\n", 5, "schools[0].nvrs[1].id", "appears twice"),
    ("unknown nvr key", SCHOOL + "    nvrs: [{id: n, zone: z}]\n", 3, "schools[0].nvrs[0].zone", "unknown key"),
    ("unknown face key", SCHOOL + "    faces: [{id: f, rtsp: 'rtsp://x'}]\n", 3, "schools[0].faces[0].rtsp", "unknown key"),
    ("empty keeper", SCHOOL + "    keeper: ''\n", 3, "schools[0].keeper", "non-empty"),
    ("empty location", SCHOOL + "    faces: [{id: f, location: ' '}]\n", 3, "schools[0].faces[0].location", "non-empty"),
    ("terminal with a dash", BUSES + "  - {id: b, school: s, route: r, terminal: 139-1234}\n", 4, "buses[0].terminal",
     "JT/T 808 terminal number"),
    ("terminal too long", BUSES + "  - {id: b, school: s, route: r, terminal: '0" + "1" * 20 + "'}\n", 4,
     "buses[0].terminal", "JT/T 808 terminal number"),
    ("terminal reused, zero-padded to 20 digits", BUSES + "  - {id: b1, school: s, route: r, terminal: '013912345678'}\n"
     "  - {id: b2, school: s, route: r, terminal: '00000000013912345678'}\n", 5, "buses[1].terminal",
     "already used by buses[0].terminal"),
    ("nvr interval zero", "defaults:\n  nvr: {interval_s: 0}\n", 2, "defaults.nvr.interval_s", "positive"),
]


@pytest.mark.parametrize(("what", "text", "line", "key", "reason"), ROUND2_ERRORS, ids=[e[0] for e in ROUND2_ERRORS])
def test_bad_round2_key_names_line_key_and_reason(what: str, text: str, line: int, key: str, reason: str) -> None:
    p = only_problem(text)
    assert (p.line, p.key) == (line, key)
    assert reason in p.reason


def test_round2_errors_are_reported_with_the_others_at_once() -> None:
    text = dedent(
        """\
        schools:
          - id: s
            nvrs: [{id: n, gb_id: '1'}]
            cameras: [{id: c, nvr: m, rtsp: 'ftp://x'}]
        """
    )
    assert sorted((p.line, p.key) for p in problems(text)) == [
        (3, "schools[0].nvrs[0].gb_id"),
        (4, "schools[0].cameras[0].nvr"),
        (4, "schools[0].cameras[0].rtsp"),
    ]
