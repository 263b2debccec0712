"""The daily digest's figures and wording, from fake rows on a fixed day."""

from __future__ import annotations

from datetime import datetime

from alerts.digest import (
    LOCAL,
    AlarmPress,
    DigestNames,
    DownDevice,
    TicketTimes,
    Transition,
    build_digest,
    dark_seconds,
    markdown,
    plain,
)

DAY_END = datetime(2026, 11, 26, 7, 0, tzinfo=LOCAL).timestamp()
DAY_START = DAY_END - 86400
H = 3600.0
NAMES = DigestNames(
    {"panhe-ms": "盘河中学", "other-ps": "其他小学"},
    {("panhe-ms", "dorm-girls"): ("女生宿舍", "dormitory"), ("panhe-ms", "canteen"): ("食堂", "canteen")},
)


def dark(at: float, active: bool, zone: str = "dorm-girls", school: str = "panhe-ms") -> Transition:
    return Transition(at, "zone_dark", school, zone, zone, active)


def test_dark_interval_inside_the_day_counts_whole() -> None:
    assert dark_seconds([dark(DAY_START + H, True), dark(DAY_START + 3 * H, False)], DAY_START, DAY_END) == 2 * H


def test_dark_since_yesterday_counts_from_day_start_and_still_dark_counts_to_day_end() -> None:
    rows = [dark(DAY_START - 5 * H, True), dark(DAY_START + H, False), dark(DAY_END - 2 * H, True)]
    assert dark_seconds(rows, DAY_START, DAY_END) == 3 * H


def test_dark_interval_ended_before_the_day_or_started_after_it_counts_nothing() -> None:
    rows = [dark(DAY_START - 5 * H, True), dark(DAY_START - H, False), dark(DAY_END + H, True)]
    assert dark_seconds(rows, DAY_START, DAY_END) == 0


def test_figures_per_school() -> None:
    digest = build_digest(
        down=[DownDevice("panhe-ms", "camera", "cam-dg-01", DAY_END - H), DownDevice("other-ps", "camera", "cam-01")],
        transitions=[
            dark(DAY_START + H, True), dark(DAY_START + 2.5 * H, False),
            dark(DAY_START + H, True, zone="canteen"),  # not a dormitory: not a blind spot in the digest
            Transition(DAY_START + 10, "bus_off_route", "panhe-ms", "bus-023", None, True),
            Transition(DAY_START + 20, "bus_off_route", "panhe-ms", "bus-023", None, False),  # clearing: no event
            Transition(DAY_START + 30, "bus_overspeed", "panhe-ms", "bus-023", None, True),
            Transition(DAY_START - 30, "bus_overspeed", "panhe-ms", "bus-023", None, True),  # yesterday
        ],
        alarms=[AlarmPress("panhe-ms", "alarm-gate", "press", DAY_START + H),
                AlarmPress("panhe-ms", "alarm-gate", "test", DAY_START + H),
                AlarmPress("panhe-ms", "alarm-gate", "press", DAY_START - H)],
        tickets=[TicketTimes("panhe-ms", DAY_START + H, DAY_START + 2 * H, DAY_START + 3 * H),
                 TicketTimes("panhe-ms", DAY_START - 10 * H, DAY_START + 2 * H, DAY_START + 4 * H),
                 TicketTimes("panhe-ms", DAY_START - 10 * H, None, DAY_START + 5 * H),
                 TicketTimes("panhe-ms", DAY_START + 6 * H)],
        day_start=DAY_START, day_end=DAY_END, names=NAMES,
    )
    panhe, other = digest.schools
    assert [d.id for d in panhe.devices_down] == ["cam-dg-01"] and [d.id for d in other.devices_down] == ["cam-01"]
    assert panhe.blind_hours == (("dorm-girls", "女生宿舍", 1.5),)
    assert other.blind_hours == ()
    assert (panhe.alarm_presses, panhe.off_route, panhe.overspeed) == (1, 1, 1)
    assert (panhe.tickets_opened, panhe.tickets_closed) == (2, 3)
    assert panhe.median_repair_s == 12 * H  # repairs 1 h, 12 h, 15 h
    assert (other.alarm_presses, other.tickets_closed, other.median_repair_s) == (0, 0, None)


def test_chinese_markdown_names_the_school_zone_and_figures() -> None:
    digest = build_digest([], [dark(DAY_START, True), dark(DAY_START + 2 * H, False)],
                          [AlarmPress("panhe-ms", "alarm-gate", "press", DAY_START + 1)], [], DAY_START, DAY_END, NAMES)
    text = markdown(digest)
    assert text.startswith("### 每日安全简报（2026-11-25 07:00 – 2026-11-26 07:00）")
    assert "**盘河中学**" in text and "**其他小学**" in text
    assert "> 宿舍盲区时长：女生宿舍 2.0 小时" in text
    assert "> 报警按钮按下：1 次" in text
    assert "> 维修时长中位数：—" in text


def test_english_by_language() -> None:
    digest = build_digest([DownDevice("panhe-ms", "camera", "cam-dg-01")], [], [],
                          [TicketTimes("panhe-ms", DAY_START, DAY_START + 1800, DAY_START + 1800)],
                          DAY_START, DAY_END, NAMES, language="en")
    text = plain(digest)
    assert text.startswith("Daily safety digest (2026-11-25 07:00 – 2026-11-26 07:00)")
    assert "Devices down now: 1 (camera cam-dg-01)" in text
    assert "Median repair time: 30 min" in text
    assert digest.as_dict()["schools"][0]["median_repair_s"] == 1800
