"""The stored state history, the monitoring-use record and the inspection report end to end on a real
Mosquitto: cameras killed and revived at known times, the monitor restarted in between, and the
report's figures compared to the second with what was scripted.

Judging granularity: a silent camera is judged down within one sweep (0.2 s) after its timeout (1 s
here), an `offline` at once; so a camera told `offline` at t and heard again at t' is down for t' - t
up to the message's trip through the broker (milliseconds). Times are read back from the monitor's own
clock around each step, so the comparison allows 0.25 s per edge.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alerts.inspection import LOCAL
from monitor.app import App
from tests.integration.service import Device, keep_beating, make_app, state, token
from tests.registries import SMALL_REGISTRY
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

REGISTRY = SMALL_REGISTRY.replace("    name: 盘河中学\n", "    name: 盘河中学\n    keeper: 王老师\n")
EDGE = 0.25  # seconds: judging granularity plus the broker trip, per edge of an outage
BEATING = [("panhe-ms", "camera", "cam-dg-01"), ("panhe-ms", "camera", "cam-dg-02"),
           ("panhe-ms", "camera", "cam-dg-03"), ("panhe-ms", "camera", "cam-ct-01"),
           ("panhe-ms", "alarm", "alarm-gate"), ("other-ps", "camera", "cam-01")]


async def call(app: App, method: str, path: str, tok: str | None = None, json: Any = None) -> tuple[int, Any, str]:
    host, port = app.http_address  # type: ignore[misc]
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    async with aiohttp.ClientSession() as s, s.request(method, f"http://{host}:{port}{path}", headers=headers,
                                                       json=json) as r:
        text = await r.text()
        ctype = r.headers.get("Content-Type", "")
        return r.status, (await r.json(content_type=None) if "json" in ctype else text), ctype


def today() -> str:
    return datetime.now(LOCAL).date().isoformat()


async def start(port: int, tmp_path: Path) -> App:
    app = make_app(port, tmp_path, REGISTRY)
    await app.start()
    await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
    return app


async def test_report_matches_a_scripted_history_across_a_restart_to_the_second(
        tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    port = mosquitto[1]
    dev = Device(port)
    stop_beats = asyncio.Event()
    beating = list(BEATING)
    beats = asyncio.create_task(keep_beating(dev, stop_beats, beating))
    app = await start(port, tmp_path)
    try:
        await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "up", 5)
        # cam-dg-01: offline for 2 s, back; cam-dg-02: silent until judged down, down across the restart
        beating.remove(("panhe-ms", "camera", "cam-dg-01"))
        await asyncio.to_thread(dev.send, "campus/panhe-ms/camera/cam-dg-01/status", "offline", 1, False)
        await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "down", 2)
        t1_down = app.clock()
        await asyncio.sleep(2.0)  # scenario pause: cam-dg-01 stays offline for 2 s
        beating.append(("panhe-ms", "camera", "cam-dg-01"))
        await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "up", 2)
        t1_up = app.clock()
        beating.remove(("panhe-ms", "camera", "cam-dg-02"))
        await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-02") == "down", 3)
        t2_down = app.clock()
        await asyncio.sleep(1.0)  # scenario pause: cam-dg-02 down for 1 s before the stop
        t_stop = app.clock()
        await app.stop()
        await asyncio.sleep(1.5)  # scenario pause: the monitor is stopped 1.5 s (unknown, not down)
        app = await start(port, tmp_path)
        t_start = app.clock()
        assert state(app, "panhe-ms", "camera", "cam-dg-02") == "down"  # a stored down stays down
        await asyncio.sleep(1.0)  # scenario pause: down 1 s after the restart
        beating.append(("panhe-ms", "camera", "cam-dg-02"))
        await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-02") == "up", 2)
        t2_up = app.clock()

        bureau = await token(app, "bureau")
        status, report, _ = await call(app, "GET", f"/api/v1/reports/inspection?school=panhe-ms&from={today()}"
                                                   f"&to={today()}", bureau)
        assert status == 200, report
        (school,) = report["schools"]
        devices = {d["id"]: d for d in school["devices"]}
        assert devices["cam-dg-01"]["outages"] == 1
        assert devices["cam-dg-01"]["down_s"] == pytest.approx(t1_up - t1_down, abs=2 * EDGE)
        # down before the stop and after the start, never while stopped; the restart splits the outage
        expected = (t_stop - t2_down) + (t2_up - t_start)
        assert devices["cam-dg-02"]["down_s"] == pytest.approx(expected, abs=2 * EDGE)
        assert devices["cam-dg-02"]["outages"] == 2
        assert devices["cam-dg-03"]["down_s"] == 0 and devices["cam-ct-01"]["outages"] == 0
        hours = school["blind_spot_hours"]
        assert set(hours) == {"dorm-girls"}
        assert hours["dorm-girls"] * 3600 == pytest.approx(devices["cam-dg-01"]["down_s"] + expected, abs=4 * EDGE)
        assert 0.0 < school["camera_uptime"] < 1.0
        assert school["cameras"] == 4 and school["keeper"] == "王老师"
        # CSV: a header and one row per device
        status, text, ctype = await call(app, "GET", f"/api/v1/reports/inspection?school=panhe-ms&from={today()}"
                                                     f"&to={today()}&format=csv", bureau)
        assert status == 200 and ctype.startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["device"] for r in rows] == [d["id"] for d in school["devices"]]
        assert float(next(r for r in rows if r["device"] == "cam-dg-02")["down_s"]) == pytest.approx(expected, abs=0.5)
        # the watch log shows the system's own events of the school (judgements are stored in batches)
        await app.watch.persist()
        status, log, _ = await call(app, "GET", "/api/v1/schools/panhe-ms/watch-log", bureau)
        kinds = [(i["kind"], i["subject"]) for i in log["items"]]
        assert ("device_down", "cam-dg-01") in kinds and ("device_up", "cam-dg-02") in kinds
    finally:
        stop_beats.set()
        await beats
        dev.close()
        await app.stop()


async def test_a_crash_leaves_states_open_until_the_next_start_closes_them_at_the_last_sign_of_life(
        tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    from monitor.storage.history_store import HISTORY, RUNS

    port = mosquitto[1]
    app = await start(port, tmp_path)
    dev = Device(port)
    await asyncio.to_thread(dev.send, "campus/panhe-ms/camera/cam-dg-01/status", "offline", 1, False)
    await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "down", 2)
    await app.history.flush()
    alive = app.clock()
    # a crash: nothing more is written, the run stays open
    await app.collector.stop()
    app.history._task.cancel()  # type: ignore[union-attr]
    app.history.run_id = None
    await asyncio.sleep(0.5)  # scenario pause: the monitor is "dead"
    await app.stop()
    app = await start(port, tmp_path)
    try:
        def rows(db: Any) -> tuple[list[Any], list[Any]]:
            with db.begin() as conn:
                return (conn.execute(HISTORY.select().where(HISTORY.c.device == "cam-dg-01")
                                     .order_by(HISTORY.c.id)).all(),
                        conn.execute(RUNS.select().order_by(RUNS.c.id)).all())

        history, runs = await app.db.call(rows)
        assert [r.ended for r in runs] == ["crashed", None]
        states = [(r.state, r.reason) for r in history]
        assert states[-3:] == [("down", "offline"), ("unknown", "monitor_crashed"), ("down", "monitor_start")]
        assert history[-2].time == pytest.approx(alive, abs=0.3)
    finally:
        dev.close()
        await app.stop()


async def test_watch_log_scopes_and_entries(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    app = await start(mosquitto[1], tmp_path)
    try:
        toks = {"bureau": await token(app, "bureau"), "panhe": await token(app, "officer", ["panhe-ms"]),
                "other": await token(app, "officer", ["other-ps"]), "crew": await token(app, "maintenance")}
        path = "/api/v1/schools/panhe-ms/watch-log"
        entry = {"note": "查看女生宿舍走廊录像，无异常", "zones": ["dorm-girls"]}
        status, made, _ = await call(app, "POST", path, toks["panhe"], entry)
        assert status == 201, made
        assert (made["kind"], made["by"], made["zones"], made["note"]) == ("entry", "test officer", ["dorm-girls"],
                                                                          entry["note"])
        for who_, method, body, expected in [
            ("other", "POST", entry, 403), ("other", "GET", None, 403),
            ("bureau", "POST", entry, 403), ("crew", "GET", None, 403), ("crew", "POST", entry, 403),
            ("panhe", "POST", {"note": "x", "zones": ["no-such-zone"]}, 400),
            ("panhe", "POST", {"note": ""}, 400), ("panhe", "POST", {"zones": ["canteen"]}, 400),
            ("panhe", "POST", {"note": "x", "zones": "canteen"}, 400),
        ]:
            status, answer, _ = await call(app, method, path, toks[who_], body)
            assert status == expected, (who_, method, body, answer)
        # a school that does not exist: the same 403 for an officer; 404 for the bureau
        assert (await call(app, "GET", "/api/v1/schools/nowhere/watch-log", toks["panhe"]))[0] == 403
        assert (await call(app, "GET", "/api/v1/schools/nowhere/watch-log", toks["bureau"]))[0] == 404
        status, answer, _ = await call(app, "POST", path, toks["panhe"], {"note": "更正：上一条应为男生宿舍"})
        assert status == 201
        for who_ in ("bureau", "panhe"):
            status, log, _ = await call(app, "GET", path, toks[who_])
            assert status == 200 and log["keeper"] == "王老师"
            notes = [i["note"] for i in log["items"] if i["kind"] == "entry"]
            assert notes == [entry["note"], "更正：上一条应为男生宿舍"]  # oldest first, nothing edited
        status, page1, _ = await call(app, "GET", path + "?limit=1", toks["bureau"])
        status, page2, _ = await call(app, "GET", path + f"?limit=1&cursor={page1['next']}", toks["bureau"])
        assert [i["id"] for i in page1["items"] + page2["items"]] == [i["id"] for i in log["items"][:2]]
        status, empty, _ = await call(app, "GET", path + "?until=1000", toks["bureau"])
        assert status == 200 and empty["items"] == []
        assert (await call(app, "GET", path + "?since=yesterday", toks["bureau"]))[0] == 400
        # the report counts the day with entries; an officer reads its own school only
        q = f"/api/v1/reports/inspection?from={today()}&to={today()}"
        status, report, _ = await call(app, "GET", q, toks["panhe"])
        assert status == 200 and [s["school"] for s in report["schools"]] == ["panhe-ms"]
        assert report["schools"][0]["watch_log_days"] == 1
        status, report, _ = await call(app, "GET", q, toks["bureau"])
        assert [s["school"] for s in report["schools"]] == ["panhe-ms", "other-ps"]
        assert (await call(app, "GET", q + "&school=other-ps", toks["panhe"]))[0] == 403
        assert (await call(app, "GET", q, toks["crew"]))[0] == 403
        for bad, name in [("from=2026-13-01&to=2026-12-01", "from"), (f"from={today()}", "to"),
                          ("from=2026-12-02&to=2026-12-01", "to"), (f"from={today()}&to={today()}&format=xml", "format")]:
            status, answer, _ = await call(app, "GET", f"/api/v1/reports/inspection?{bad}", toks["bureau"])
            assert status == 400 and name in answer["error"]["message"], (bad, answer)
    finally:
        await app.stop()


def test_the_record_is_only_ever_added_to() -> None:
    from monitor.storage import watchlog_store

    names = {n for n in dir(watchlog_store) if not n.startswith("_")}
    assert not {n for n in names if any(w in n for w in ("update", "delete", "edit", "remove"))}
