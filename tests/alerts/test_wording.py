"""What alerts say: every rule has a human name, none shows a raw rule, locations follow device ids."""

from __future__ import annotations

import re

import pytest

from alerts.lifecycle import HELD_WHILE_OFFLINE
from alerts.model import ALARM_TEST, ALARM_TEST_OVERDUE, ChangeKind
from alerts.wording import RULE_NAMES, RegistryNames, describe, rule_name
from devices.events import DOWN_RULES, KIND_OF_DOWN_RULE, AlarmEvent, Rule, subject_kind
from devices.model import DeviceKind
from devices.registry import parse_registry

from .conftest import NAMES, make_book

T0 = 1_764_000_000.0
EVERY_RULE = [str(r) for r in Rule] + [ALARM_TEST, ALARM_TEST_OVERDUE]
RAW_RULE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")  # camera_down, bus_moving_off_hours, ...


def test_every_rule_has_a_human_name_in_chinese_and_english() -> None:
    assert sorted(RULE_NAMES) == sorted(EVERY_RULE)
    for rule in EVERY_RULE:
        zh, en = rule_name(rule, "zh"), rule_name(rule, "en")
        assert zh and en and zh != en and not RAW_RULE.search(zh + " " + en), rule


SUBJECTS = {  # rule -> (subject, zone, detail)
    "camera_down": ("cam-dg-03", "dorm-girls", {"kind": "camera"}),
    "zone_dark": ("dorm-girls", "dorm-girls", {"live": 1, "min_live": 2}),
    "school_offline": ("panhe-ms", None, {}),
    "nvr_down": ("nvr-1", None, {"kind": "nvr", "cameras": ["cam-dg-01", "cam-dg-02"]}),
    "face_down": ("face-gate-01", None, {"kind": "face"}),
}


@pytest.mark.parametrize("rule", EVERY_RULE)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_summary_shows_a_raw_rule_name(rule: str, lang: str) -> None:
    subject, zone, detail = SUBJECTS.get(rule, ("bus-023" if rule.startswith("bus_") else "alarm-gate", None, {}))
    text = describe(rule, "panhe-ms", subject, zone, detail, NAMES, lang)
    assert not RAW_RULE.search(text), text
    assert subject in text or rule in ("zone_dark", "school_offline")


SUMMARIES = [
    # (rule, subject, zone, detail, zh, en)
    ("camera_down", "cam-dg-03", "dorm-girls", {}, "盘河中学 女生宿舍 摄像头 cam-dg-03（女生宿舍3楼东走廊）离线",
     "盘河中学 女生宿舍 camera cam-dg-03 (女生宿舍3楼东走廊) is down"),
    ("camera_down", "cam-dg-01", "dorm-girls", {}, "盘河中学 女生宿舍 摄像头 cam-dg-01 离线", "盘河中学 女生宿舍 camera cam-dg-01 is down"),
    ("nvr_down", "nvr-1", None, {"cameras": ["cam-dg-01", "cam-dg-02"]},
     "盘河中学 硬盘录像机 nvr-1（监控室）离线，其后摄像头无法查看：cam-dg-01、cam-dg-02",
     "盘河中学 NVR nvr-1 (监控室) is down; the cameras behind it cannot be seen: cam-dg-01, cam-dg-02"),
    ("nvr_down", "nvr-2", None, {"cameras": [f"c{i}" for i in range(7)]},
     "盘河中学 硬盘录像机 nvr-2 离线，其后摄像头无法查看：c0、c1、c2、c3、c4 等 7 台",
     "盘河中学 NVR nvr-2 is down; the cameras behind it cannot be seen: c0, c1, c2, c3, c4 and 2 more"),
    ("face_down", "face-gate-01", None, {}, "盘河中学 人脸识别终端 face-gate-01（校门）离线",
     "盘河中学 face terminal face-gate-01 (校门) is down"),
    ("bus_overloaded", "bus-023", None, {"passengers": 23, "capacity": 19},
     "盘河中学 校车 bus-023（云C·12345）超员（载 23 人，核载 19 人）",
     "盘河中学 school bus bus-023 (云C·12345) is overloaded (23 aboard, capacity 19)"),
    ("bus_moving_off_hours", "bus-023", None, {}, "盘河中学 校车 bus-023（云C·12345）在非运营时段行驶",
     "盘河中学 school bus bus-023 (云C·12345) is moving outside its service hours"),
    ("alarm_pressed", "bus-023", None, {"kind": "gps"}, "盘河中学 校车 bus-023（云C·12345）紧急按钮被按下，请立即处置",
     "盘河中学 school bus bus-023 (云C·12345) emergency button was pressed: respond now"),
    ("alarm_pressed", "alarm-gate", None, {"kind": "alarm"}, "盘河中学 校门 一键报警器 alarm-gate 被按下，请立即处置",
     "盘河中学 alarm panel alarm-gate (校门) was pressed: respond now"),
]


@pytest.mark.parametrize(("rule", "subject", "zone", "detail", "zh", "en"), SUMMARIES,
                         ids=[f"{s[0]} {s[1]}" for s in SUMMARIES])
def test_summary_names_the_device_its_location_and_what_is_wrong(
    rule: str, subject: str, zone: str | None, detail: dict, zh: str, en: str
) -> None:
    assert describe(rule, "panhe-ms", subject, zone, detail, NAMES, "zh") == zh
    assert describe(rule, "panhe-ms", subject, zone, detail, NAMES, "en") == en


def test_registry_names_carry_the_location_of_every_kind_of_device() -> None:
    reg = parse_registry(
        "schools:\n  - id: s\n    nvrs: [{id: x, location: 监控室}]\n    cameras: [{id: x, location: 东走廊}]\n"
        "    faces: [{id: f, location: 校门}]\n    alarms: [{id: x, location: 门卫室}]\n"
    )
    names = RegistryNames.from_registry(reg)
    assert [names.location("s", k, "x") for k in ("nvr", "camera", "alarm")] == ["监控室", "东走廊", "门卫室"]
    assert names.location("s", "face", "f") == "校门"
    assert names.location("s", "face", "nobody") is None


# ---- the one rule-to-kind map -------------------------------------------------------------------


def test_every_device_kind_has_one_down_rule_and_back() -> None:
    assert set(DOWN_RULES) == set(DeviceKind)
    assert {KIND_OF_DOWN_RULE[str(rule)] for rule in DOWN_RULES.values()} == set(DeviceKind)


@pytest.mark.parametrize(
    ("rule", "detail", "kind"),
    [("camera_down", {}, DeviceKind.CAMERA), ("nvr_down", {}, DeviceKind.NVR), ("face_down", {}, DeviceKind.FACE),
     ("bus_gps_lost", {}, DeviceKind.GPS), ("bus_overloaded", {}, DeviceKind.GPS),
     ("alarm_pressed", {}, DeviceKind.ALARM), ("alarm_pressed", {"kind": "gps"}, DeviceKind.GPS),
     ("zone_dark", {}, None), ("school_offline", {}, None)],
)
def test_subject_kind_of_each_rule(rule: str, detail: dict, kind: DeviceKind | None) -> None:
    assert subject_kind(rule, detail) is kind


def test_school_offline_holds_back_nvr_and_face_alerts_but_not_bus_ones() -> None:
    assert {"camera_down", "zone_dark", "alarm_panel_down", "nvr_down", "face_down"} == HELD_WHILE_OFFLINE


# ---- a bus's emergency button -------------------------------------------------------------------


def bus_event(t: float, event_id: str, type_: str = "press") -> AlarmEvent:
    return AlarmEvent("panhe-ms", "bus-023", event_id, type_, t, t, DeviceKind.GPS)


def test_bus_press_is_an_urgent_alarm_pressed_whose_subject_is_the_bus() -> None:
    book = make_book()
    [fired] = book.alarm(bus_event(T0, "808-1"), T0)
    assert (fired.alert.rule, fired.alert.subject, fired.alert.severity, fired.urgent) == (
        "alarm_pressed", "bus-023", "critical", True)
    assert fired.alert.detail["kind"] == "gps"
    assert fired.alert.summary == "盘河中学 校车 bus-023（云C·12345）紧急按钮被按下，请立即处置"
    assert book.alarm(bus_event(T0 + 1, "808-1"), T0 + 1) == []  # the same event_id is one event


def test_bus_cancel_resolves_its_press_and_an_ack_does_too() -> None:
    book = make_book()
    book.alarm(bus_event(T0, "808-1"), T0)
    [resolved] = book.alarm(bus_event(T0 + 20, "808-2", "cancel"), T0 + 20)
    assert resolved.kind is ChangeKind.RESOLVED and resolved.alert.subject == "bus-023"
    [fired] = book.alarm(bus_event(T0 + 30, "808-3"), T0 + 30)
    [acked] = book.ack(fired.alert.id, "bureau", T0 + 40)
    assert acked.kind is ChangeKind.RESOLVED


def test_bus_test_press_is_recorded_and_never_makes_the_bus_an_untested_panel() -> None:
    book = make_book(test_overdue_s=86400)
    [recorded] = book.alarm(bus_event(T0, "808-t", "test"), T0)
    assert recorded.kind is ChangeKind.RECORDED and "校车 bus-023" in recorded.alert.summary
    assert book.tick(T0 + 3 * 86400) == []
