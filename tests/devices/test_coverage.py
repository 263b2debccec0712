"""Zones, schools and the judge's contract §3 judgements, on a fake clock."""

from __future__ import annotations

from textwrap import dedent

import pytest

from devices.coverage import Coverage
from devices.events import Judgement, Rule, Severity
from devices.judge import Judge
from devices.liveness import Change, Device, Restored, State
from devices.model import DeviceKind
from devices.registry import parse_registry

T0 = 1_764_000_000.0  # 2025-11-25 00:00 in Asia/Shanghai

DISTRICT = parse_registry(
    dedent(
        """\
        schools:
          - id: panhe-ms
            name: 盘河中学
            zones:
              - {id: dorm-girls, name: 女生宿舍, kind: dormitory, min_live: 2}
              - {id: canteen, name: 食堂, kind: canteen}
              - {id: gate, name: 校门, kind: gate}
              - {id: yard, kind: playground, min_live: 0}
            cameras:
              - {id: cam-dg-01, zone: dorm-girls}
              - {id: cam-dg-02, zone: dorm-girls}
              - {id: cam-dg-03, zone: dorm-girls}
              - {id: cam-ct-01, zone: canteen}
              - {id: cam-yd-01, zone: yard}
              - {id: cam-loose}
            alarms:
              - {id: alarm-gate, location: 校门}
          - id: other-ms
            cameras:
              - {id: cam-1}
        routes:
          - {id: panhe-r1, path: [[103.7171, 27.3382], [103.7204, 27.3417]]}
        buses:
          - {id: bus-023, school: panhe-ms, route: panhe-r1}
        """
    ),
    "district.yaml",
)
PANHE_DEVICES = ("cam-dg-01", "cam-dg-02", "cam-dg-03", "cam-ct-01", "cam-yd-01", "cam-loose", "alarm-gate")


@pytest.fixture
def judge() -> Judge:
    j = Judge(DISTRICT)
    j.restore({}, T0)
    j.link_up(T0)
    return j


def dev(judge: Judge, device_id: str, school: str = "panhe-ms") -> Device:
    for d in judge.devices():
        if d.school == school and d.id == device_id:
            return d
    raise KeyError(device_id)


def summary(found: list[Judgement]) -> list[tuple[Rule, str, bool]]:
    return [(j.rule, j.subject, j.active) for j in found]


# ---- device judgements -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "rule", "severity", "zone"),
    [
        ("cam-dg-01", Rule.CAMERA_DOWN, Severity.CRITICAL, "dorm-girls"),
        ("cam-ct-01", Rule.CAMERA_DOWN, Severity.WARNING, "canteen"),
        ("cam-loose", Rule.CAMERA_DOWN, Severity.WARNING, None),
        ("alarm-gate", Rule.ALARM_PANEL_DOWN, Severity.CRITICAL, None),
        ("bus-023", Rule.BUS_GPS_LOST, Severity.WARNING, None),
    ],
)
def test_device_going_offline_is_judged_with_its_rule_and_severity(
    judge: Judge, device: str, rule: Rule, severity: Severity, zone: str | None
) -> None:
    d = dev(judge, device)
    judge.beat(d, T0 + 1)
    found = judge.offline(d, T0 + 5)
    j = found[0]
    assert (j.rule, j.severity, j.school, j.subject, j.zone, j.active, j.time) == (
        rule, severity, "panhe-ms", device, zone, True, T0 + 5
    )
    assert j.detail["reason"] == "offline"


def test_camera_silent_past_timeout_is_judged_down_by_the_sweep(judge: Judge) -> None:
    cam = dev(judge, "cam-ct-01")
    assert judge.beat(cam, T0 + 10) == []
    assert [j for j in judge.sweep(T0 + 99) if j.subject in ("cam-ct-01", "canteen")] == []
    found = [j for j in judge.sweep(T0 + 100) if j.subject in ("cam-ct-01", "canteen")]
    assert summary(found) == [(Rule.CAMERA_DOWN, "cam-ct-01", True), (Rule.ZONE_DARK, "canteen", True)]
    assert found[0].time == T0 + 100 and found[0].detail["reason"] == "silent"


def test_camera_coming_back_clears_its_judgement(judge: Judge) -> None:
    cam = dev(judge, "cam-ct-01")
    judge.beat(cam, T0 + 1)
    judge.offline(cam, T0 + 2)
    found = judge.beat(cam, T0 + 3)
    assert (Rule.CAMERA_DOWN, "cam-ct-01", False) in summary(found)
    assert found[0].severity is Severity.WARNING and found[0].time == T0 + 3


def test_faulty_camera_coming_back_also_clears_camera_down(judge: Judge) -> None:
    cam = dev(judge, "cam-dg-01")
    judge.offline(cam, T0 + 2)
    found = judge.beat(cam, T0 + 3, faulty=True)
    assert summary(found)[0] == (Rule.CAMERA_DOWN, "cam-dg-01", False)


@pytest.mark.parametrize("faulty", [False, True])
def test_first_heartbeat_and_a_fault_are_not_judgements(judge: Judge, faulty: bool) -> None:
    cam = dev(judge, "cam-dg-01")
    assert judge.beat(cam, T0 + 1, faulty=faulty) == []
    assert judge.beat(cam, T0 + 2, faulty=not faulty) == []


def test_device_never_heard_is_judged_down_one_timeout_after_connecting(judge: Judge) -> None:
    found = judge.sweep(T0 + 90)
    cams = {j.subject for j in found if j.rule is Rule.CAMERA_DOWN}
    assert cams == {"cam-dg-01", "cam-dg-02", "cam-dg-03", "cam-ct-01", "cam-yd-01", "cam-loose", "cam-1"}
    assert all(j.time == T0 + 90 for j in found)


# ---- zones -------------------------------------------------------------------------------------


def test_zone_is_dark_when_fewer_than_min_live_cameras_can_be_live(judge: Judge) -> None:
    cams = [dev(judge, f"cam-dg-0{i}") for i in (1, 2, 3)]
    for c in cams:
        judge.beat(c, T0 + 1)
    assert summary(judge.offline(cams[0], T0 + 2)) == [(Rule.CAMERA_DOWN, "cam-dg-01", True)]  # 2 left: enough
    found = judge.offline(cams[1], T0 + 3)  # 1 left, min_live 2
    assert summary(found) == [(Rule.CAMERA_DOWN, "cam-dg-02", True), (Rule.ZONE_DARK, "dorm-girls", True)]
    dark = found[1]
    assert (dark.severity, dark.school, dark.zone, dark.time) == (Severity.CRITICAL, "panhe-ms", "dorm-girls", T0 + 3)
    assert (dark.detail["live"], dark.detail["cameras"], dark.detail["min_live"]) == (1, 3, 2)


def test_dark_zone_clears_when_enough_cameras_come_back(judge: Judge) -> None:
    cams = [dev(judge, f"cam-dg-0{i}") for i in (1, 2, 3)]
    for c in cams:
        judge.offline(c, T0 + 1)
    assert Rule.ZONE_DARK not in [j.rule for j in judge.beat(cams[2], T0 + 5)]  # one live: still dark
    found = judge.beat(cams[1], T0 + 6)
    assert summary(found) == [(Rule.CAMERA_DOWN, "cam-dg-02", False), (Rule.ZONE_DARK, "dorm-girls", False)]
    assert found[1].time == T0 + 6 and found[1].detail["live"] == 2


def test_zone_turns_dark_only_once_as_more_cameras_die(judge: Judge) -> None:
    cams = [dev(judge, f"cam-dg-0{i}") for i in (1, 2, 3)]
    rules = [j.rule for c in cams for j in judge.offline(c, T0 + 1)]
    assert rules.count(Rule.ZONE_DARK) == 1


def test_unknown_cameras_do_not_count_as_down(judge: Judge) -> None:
    # Only one of three dormitory cameras has been judged (down); the other two are unknown.
    found = judge.offline(dev(judge, "cam-dg-01"), T0 + 1)
    assert Rule.ZONE_DARK not in [j.rule for j in found]
    assert not judge.coverage.zones[("panhe-ms", "dorm-girls")].dark


def test_zone_with_a_single_camera_goes_dark_with_it(judge: Judge) -> None:
    found = judge.offline(dev(judge, "cam-ct-01"), T0 + 1)
    assert summary(found) == [(Rule.CAMERA_DOWN, "cam-ct-01", True), (Rule.ZONE_DARK, "canteen", True)]


def test_zone_with_no_cameras_is_never_dark(judge: Judge) -> None:
    gate = judge.coverage.zones[("panhe-ms", "gate")]
    assert gate.cameras == 0 and not gate.dark
    for d in list(judge.devices()):
        judge.offline(d, T0 + 1)
    assert not gate.dark


def test_zone_with_min_live_zero_is_never_dark(judge: Judge) -> None:
    found = judge.offline(dev(judge, "cam-yd-01"), T0 + 1)
    assert Rule.ZONE_DARK not in [j.rule for j in found]


def test_zone_counts_live_and_total_cameras(judge: Judge) -> None:
    judge.beat(dev(judge, "cam-dg-01"), T0 + 1)
    judge.beat(dev(judge, "cam-dg-02"), T0 + 1, faulty=True)  # faulty is still live
    judge.offline(dev(judge, "cam-dg-03"), T0 + 1)
    zc = judge.coverage.zones[("panhe-ms", "dorm-girls")]
    assert (zc.cameras, zc.live, zc.down) == (3, 2, 1)


def test_camera_without_a_zone_touches_no_zone(judge: Judge) -> None:
    before = {k: (z.live, z.down) for k, z in judge.coverage.zones.items()}
    judge.offline(dev(judge, "cam-loose"), T0 + 1)
    assert {k: (z.live, z.down) for k, z in judge.coverage.zones.items()} == before


# ---- schools -----------------------------------------------------------------------------------


def test_school_is_offline_when_every_camera_and_alarm_is_down(judge: Judge) -> None:
    found: list[Judgement] = []
    for name in PANHE_DEVICES:
        found = judge.offline(dev(judge, name), T0 + 1)
        if name != PANHE_DEVICES[-1]:
            assert Rule.SCHOOL_OFFLINE not in [j.rule for j in found]
    offline = [j for j in found if j.rule is Rule.SCHOOL_OFFLINE]
    assert [(j.subject, j.school, j.severity, j.active, j.zone) for j in offline] == [
        ("panhe-ms", "panhe-ms", Severity.CRITICAL, True, None)
    ]


def test_school_offline_ignores_its_buses(judge: Judge) -> None:
    judge.beat(dev(judge, "bus-023"), T0 + 1)
    found = [j for name in PANHE_DEVICES for j in judge.offline(dev(judge, name), T0 + 2)]
    assert (Rule.SCHOOL_OFFLINE, "panhe-ms", True) in summary(found)


def test_school_offline_clears_when_one_device_comes_back(judge: Judge) -> None:
    for name in PANHE_DEVICES:
        judge.offline(dev(judge, name), T0 + 1)
    found = judge.beat(dev(judge, "alarm-gate"), T0 + 60)
    assert summary(found) == [(Rule.ALARM_PANEL_DOWN, "alarm-gate", False), (Rule.SCHOOL_OFFLINE, "panhe-ms", False)]


def test_school_with_unknown_devices_is_not_offline(judge: Judge) -> None:
    for name in PANHE_DEVICES[:-1]:
        judge.offline(dev(judge, name), T0 + 1)
    assert not judge.coverage.schools["panhe-ms"].offline  # the alarm panel is still unknown


def test_one_school_going_silent_leaves_another_alone(judge: Judge) -> None:
    found = judge.offline(dev(judge, "cam-1", "other-ms"), T0 + 1)
    assert summary(found) == [(Rule.CAMERA_DOWN, "cam-1", True), (Rule.SCHOOL_OFFLINE, "other-ms", True)]
    assert not judge.coverage.schools["panhe-ms"].offline


def test_whole_school_silent_is_judged_by_one_sweep(judge: Judge) -> None:
    for name in PANHE_DEVICES:
        judge.beat(dev(judge, name), T0 + 1)
    found = judge.sweep(T0 + 181)  # the alarm panel's 180 s timeout; cameras went at 91 s
    assert (Rule.SCHOOL_OFFLINE, "panhe-ms", True) in summary(found)


# ---- restart -----------------------------------------------------------------------------------


def test_restore_recounts_coverage_without_emitting_judgements() -> None:
    judge = Judge(DISTRICT)
    saved = {
        ("panhe-ms", DeviceKind.CAMERA, "cam-dg-01"): Restored(State.DOWN, T0 - 900, T0 - 800),
        ("panhe-ms", DeviceKind.CAMERA, "cam-dg-02"): Restored(State.DOWN, T0 - 900, T0 - 800),
        ("panhe-ms", DeviceKind.CAMERA, "cam-dg-03"): Restored(State.UP, T0 - 10, T0 - 800),
    }
    judge.restore(saved, T0)
    zc = judge.coverage.zones[("panhe-ms", "dorm-girls")]
    assert (zc.live, zc.down, zc.dark) == (1, 2, True)
    judge.link_up(T0)
    found = judge.beat(judge.liveness.devices[("panhe-ms", DeviceKind.CAMERA, "cam-dg-01")], T0 + 5)
    assert summary(found) == [(Rule.CAMERA_DOWN, "cam-dg-01", False), (Rule.ZONE_DARK, "dorm-girls", False)]


# ---- coverage on its own -----------------------------------------------------------------------


def test_coverage_ignores_gps_units() -> None:
    cov = Coverage.of(DISTRICT)
    bus = Device(next(d for d in DISTRICT.devices() if d.kind is DeviceKind.GPS))
    assert cov.apply(Change(bus, State.UP, State.DOWN, T0, "silent")) == (None, None)
    assert cov.schools["panhe-ms"].down == 0


def test_coverage_counts_cameras_and_alarms_per_school() -> None:
    cov = Coverage.of(DISTRICT)
    assert cov.schools["panhe-ms"].devices == 7
    assert cov.schools["other-ms"].devices == 1
    assert {k: z.cameras for k, z in cov.zones.items()} == {
        ("panhe-ms", "dorm-girls"): 3, ("panhe-ms", "canteen"): 1, ("panhe-ms", "gate"): 0, ("panhe-ms", "yard"): 1,
    }


# ---- buses -------------------------------------------------------------------------------------

WINDOWED = parse_registry(
    dedent(
        """\
        schools:
          - id: panhe-ms
        routes:
          - {id: panhe-r1, windows: ["06:30-08:30"], path: [[103.7171, 27.3382], [103.7204, 27.3417]]}
        buses:
          - {id: bus-023, school: panhe-ms, route: panhe-r1}
        """
    )
)
AT_0630 = T0 + 6.5 * 3600


def test_bus_gps_is_judged_only_inside_its_route_windows_in_local_time() -> None:
    judge = Judge(WINDOWED)
    judge.restore({}, T0)
    judge.link_up(T0)
    assert judge.sweep(T0 + 3600) == []  # 01:00 Shanghai: out of service
    assert judge.sweep(AT_0630 + 59) == []
    assert summary(judge.sweep(AT_0630 + 60)) == [(Rule.BUS_GPS_LOST, "bus-023", True)]


def test_bus_switched_off_after_service_raises_no_bus_gps_lost() -> None:
    judge = Judge(WINDOWED)
    judge.restore({}, T0)
    judge.link_up(T0)
    bus = dev(judge, "bus-023")
    judge.beat(bus, AT_0630 + 600)
    found = judge.offline(bus, T0 + 19 * 3600)  # parked at 19:00, its Last Will says offline
    assert Rule.BUS_GPS_LOST not in [j.rule for j in found]
    assert bus.state == "unknown"
    next_day_0630 = AT_0630 + 86400
    assert judge.sweep(next_day_0630 + bus.timeout - 1) == []  # the window has just opened
    lost = judge.sweep(next_day_0630 + bus.timeout + 0.5)  # still silent one timeout into service
    assert [(j.rule, j.active) for j in lost] == [(Rule.BUS_GPS_LOST, True)]


def test_zone_with_fewer_cameras_than_min_live_is_judged_dark_at_start() -> None:
    reg = parse_registry(dedent("""\
        schools:
          - id: panhe-ms
            zones:
              - {id: dorm-girls, kind: dormitory, min_live: 2}
              - {id: canteen, kind: canteen}
            cameras:
              - {id: cam-dg-01, zone: dorm-girls}
              - {id: cam-ct-01, zone: canteen}
        """), "r.yaml")
    judge = Judge(reg)
    judge.restore({}, T0)
    found = judge.standing(T0)
    assert [(j.rule, j.subject, j.active, j.severity) for j in found] == [
        (Rule.ZONE_DARK, "dorm-girls", True, Severity.CRITICAL)]


def test_bus_heartbeat_without_a_fix_keeps_its_gps_unit_alive_and_brings_it_back(judge: Judge) -> None:
    bus = dev(judge, "bus-023")
    judge.beat(bus, T0 + 1)  # a fix
    judge.beat(bus, T0 + 50)  # a heartbeat: alive, no position
    assert [j for j in judge.sweep(T0 + 109) if j.subject == "bus-023"] == []
    assert summary([j for j in judge.sweep(T0 + 110) if j.subject == "bus-023"]) == [(Rule.BUS_GPS_LOST, "bus-023", True)]
    assert summary(judge.beat(bus, T0 + 120)) == [(Rule.BUS_GPS_LOST, "bus-023", False)]
