"""The inspection report's figures from a scripted state history, on a fixed period."""

from __future__ import annotations

import csv
import io
from datetime import date

from alerts.inspection import ReportDevice, ReportRows, ReportSchool, as_csv, inspection, period

FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
START, END = period(FIRST, LAST)
H = 3600.0
SCHOOL = ReportSchool("panhe-ms", "盘河中学", "王老师", ("dorm-girls",), (
    ReportDevice("camera", "cam-dg-01", "dorm-girls", "女生宿舍3楼东走廊"),
    ReportDevice("camera", "cam-dg-02", "dorm-girls", ""),
    ReportDevice("camera", "cam-ct-01", "canteen", ""),
    ReportDevice("alarm", "alarm-gate", None, "校门"),
    ReportDevice("gps", "bus-023", None, "云C·12345"),
))


def key(dev: str, kind: str = "camera") -> tuple[str, str, str]:
    return ("panhe-ms", kind, dev)


def test_days_are_inclusive_in_the_district_time_zone() -> None:
    assert START == 1793462400.0  # 2026-11-01 00:00 +08:00 (2026-10-31 16:00 UTC)
    assert END - START == 30 * 86400


def test_figures_from_a_scripted_history() -> None:
    history = {
        # up all month but one outage of 2 h, then an outage still open for the last 1 h before the request
        key("cam-dg-01"): [(START - 5 * H, "up"), (START + 10 * H, "down"), (START + 12 * H, "up"),
                           (START + 20 * H, "unknown"),  # the monitor stopped: neither down nor up
                           (START + 21 * H, "up"), (START + 99 * H, "unreachable")],
        # down since before the period, back 3 h in: one outage overlapping the period
        key("cam-dg-02"): [(START - 50 * H, "down"), (START + 3 * H, "up")],
        key("cam-ct-01"): [(START - H, "down"), (START + 100 * H, "up")],  # not a dormitory: no blind spot
    }
    rows = ReportRows(
        history=history,
        tickets=[("panhe-ms", START + H, START + 5 * H, 4 * H), ("panhe-ms", START - H, START + 2 * H, 3 * H),
                 ("panhe-ms", START + 7 * H, None, None), ("panhe-ms", START - 9 * H, START - H, 8 * H)],
        presses=[("panhe-ms", START + H), ("panhe-ms", START + 2 * H), ("panhe-ms", END + 1)],
        acks=[("panhe-ms", START + H, START + H + 30), ("panhe-ms", START + 2 * H, START + 2 * H + 90),
              ("panhe-ms", START + 3 * H, None)],
        bus_events=[("panhe-ms", "bus_off_route", START + H), ("panhe-ms", "bus_overloaded", START + 2 * H),
                    ("panhe-ms", "bus_overloaded", START + 3 * H), ("panhe-ms", "bus_overspeed", START - 1)],
        entries=[("panhe-ms", START + H), ("panhe-ms", START + 2 * H), ("panhe-ms", START + 30 * H),
                 ("other-ps", START + H)],
    )
    now = START + 100 * H
    report = inspection([SCHOOL], rows, FIRST, LAST, now)
    assert (report["from"], report["to"]) == ("2026-11-01", "2026-11-30")
    (s,) = report["schools"]
    devices = {d["id"]: d for d in s["devices"]}
    assert (devices["cam-dg-01"]["down_s"], devices["cam-dg-01"]["outages"]) == (3 * H, 2)
    assert (devices["cam-dg-02"]["down_s"], devices["cam-dg-02"]["outages"]) == (3 * H, 1)
    assert devices["alarm-gate"] == {"id": "alarm-gate", "kind": "alarm", "zone": None, "location": "校门",
                                     "down_s": 0.0, "outages": 0}
    assert s["blind_spot_hours"] == {"dorm-girls": 6.0}
    # judged: dg-01 99 h (1 h unknown), dg-02 100 h, ct-01 100 h; down 3 + 3 + 100 h
    assert s["camera_uptime"] == round(1 - 106 / 299, 6)
    assert s["cameras"] == 3 and s["keeper"] == "王老师"
    assert s["tickets"] == {"opened": 2, "closed": 2, "median_repair_s": 3.5 * H}
    assert s["presses"] == {"count": 2, "median_ack_s": 60.0}
    assert s["buses"] == {"off_route": 1, "overspeed": 0, "overloaded": 2}
    assert s["watch_log_days"] == 2


def test_a_device_never_judged_has_no_uptime_and_no_down_time() -> None:
    report = inspection([SCHOOL], ReportRows(), FIRST, LAST, END + H)
    (s,) = report["schools"]
    assert s["camera_uptime"] is None
    assert all(d["down_s"] == 0 and d["outages"] == 0 for d in s["devices"])
    assert s["tickets"]["median_repair_s"] is None and s["presses"]["median_ack_s"] is None


def test_down_time_is_kept_finer_than_a_second() -> None:
    history = {key("cam-dg-01"): [(START + 10.25, "down"), (START + 12.5, "up")]}
    (s,) = inspection([SCHOOL], ReportRows(history=history), FIRST, LAST, END)["schools"]
    assert s["devices"][0]["down_s"] == 2.25


def test_csv_has_a_header_and_one_row_per_device() -> None:
    history = {key("cam-dg-01"): [(START, "down"), (START + 90.5, "up")]}
    text = as_csv(inspection([SCHOOL], ReportRows(history=history), FIRST, LAST, END))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["device"] for r in rows] == ["cam-dg-01", "cam-dg-02", "cam-ct-01", "alarm-gate", "bus-023"]
    assert (rows[0]["down_s"], rows[0]["outages"], rows[0]["location"]) == ("90.500", "1", "女生宿舍3楼东走廊")
    assert rows[0]["from"] == "2026-11-01" and rows[0]["school_name"] == "盘河中学"
