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
    markdown,
    plain,
)

DAY_END = datetime(2026, 11, 26, 7, 0, tzinfo=LOCAL).timestamp()
DAY_START = DAY_END - 86400
H = 3600.0
NAMES = DigestNames(
    {"panhe-ms": "盘河中学", "other-ps": "其他小学"},
    {("panhe-ms", "dorm-girls"): ("女生宿舍", "dormitory"), ("panhe-ms", "canteen"): ("食堂", "canteen")},
    {("panhe-ms", "dorm-girls"): ("cam-dg-01", "cam-dg-02"), ("panhe-ms", "canteen"): ("cam-ct-01",)},
)


def cam(cam_id: str, *changes: tuple[float, str]) -> dict[tuple[str, str, str], list[tuple[float, str]]]:
    return {("panhe-ms", "camera", cam_id): list(changes)}


def test_two_dead_dormitory_cameras_are_two_blind_spots_counted_from_the_state_history() -> None:
    # cam-dg-01 down since yesterday, back 1 h into the day; cam-dg-02 down for the last 2 h, still down;
    # unknown time (the monitor stopped) is no blind spot; the canteen camera is no blind spot
    history = {
        **cam("cam-dg-01", (DAY_START - 5 * H, "down"), (DAY_START + H, "up")),
        **cam("cam-dg-02", (DAY_START, "up"), (DAY_START + 3 * H, "unknown"), (DAY_START + 4 * H, "up"),
              (DAY_END - 2 * H, "unreachable")),
        **cam("cam-ct-01", (DAY_START, "down")),
    }
    digest = build_digest([], [], [], [], DAY_START, DAY_END, NAMES, history=history)
    assert digest.schools[0].blind_hours == (("dorm-girls", "女生宿舍", 3.0),)


def test_the_digest_names_the_schools_with_no_keeper_entry_that_day() -> None:
    entries = [("panhe-ms", DAY_START + H), ("panhe-ms", DAY_START + 2 * H), ("other-ps", DAY_START - H)]
    digest = build_digest([], [], [], [], DAY_START, DAY_END, NAMES, entries=entries)
    assert [s.watch_log_entries for s in digest.schools] == [2, 0]
    assert digest.as_dict()["no_keeper_entry"] == ["other-ps"]
    text = markdown(digest)
    assert "**当日无监控使用记录的学校：其他小学（1 所）**" in text
    assert "> 监控使用记录：2 条" in text
    assert "Schools with no keeper entry today: 其他小学 (1)" in plain(
        build_digest([], [], [], [], DAY_START, DAY_END, NAMES, "en", entries=entries))
    every = build_digest([], [], [], [], DAY_START, DAY_END, NAMES, entries=[("other-ps", DAY_START), *entries])
    assert "各校当日均有监控使用记录" in markdown(every)


def test_figures_per_school() -> None:
    digest = build_digest(
        down=[DownDevice("panhe-ms", "camera", "cam-dg-01", DAY_END - H), DownDevice("other-ps", "camera", "cam-01")],
        transitions=[
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
        history={**cam("cam-dg-01", (DAY_START + H, "down"), (DAY_START + 2.5 * H, "up")),
                 **cam("cam-ct-01", (DAY_START + H, "down"))},  # not a dormitory: not a blind spot
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
    digest = build_digest([], [], [AlarmPress("panhe-ms", "alarm-gate", "press", DAY_START + 1)], [], DAY_START,
                          DAY_END, NAMES, history=cam("cam-dg-02", (DAY_START, "down"), (DAY_START + 2 * H, "up")))
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


def test_names_from_the_registry_list_each_zones_cameras() -> None:
    from devices.registry import parse_registry
    from tests.registries import SMALL_REGISTRY

    names = DigestNames.from_registry(parse_registry(SMALL_REGISTRY, "registry.yaml"))
    assert names.cameras_of("panhe-ms", "dorm-girls") == ("cam-dg-01", "cam-dg-02", "cam-dg-03")
    assert names.cameras_of("panhe-ms", "no-such-zone") == ()
