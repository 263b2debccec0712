"""The §5 API end to end on a real Mosquitto: tickets from a killed camera, role and school checks route
by route, the failed-authentication limit, the audit log, and schemathesis against the live server.

The alert routes need the alert edge; until the service wires one (`app.alerts`), the tests
stand up `BookEngine`: the real `AlertBook` storing its changes with `monitor.storage.alert_store.record_changes`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devices.events import Judgement
from devices.registry import parse_registry
from monitor.app import App
from monitor.config import TicketsConfig
from monitor.http.openapi import document
from tests.integration.service import Device, keep_beating, make_config, metrics_text, sample, state, token
from tests.registries import SMALL_REGISTRY
from tests.services import require_tool
from tests.waiting import let_time_pass, wait_for

pytestmark = pytest.mark.integration

REGISTRY = SMALL_REGISTRY.replace(
    "buses:\n",
    "  - id: other-r1\n    corridor_m: 100\n    speed_limit_kmh: 50\n    path: [[103.70, 27.33], [103.71, 27.34]]\nbuses:\n",
) + "  - {id: bus-900, plate: 云C·99999, school: other-ps, route: other-r1, capacity: 30}\n"

FAST_TICKETS = TicketsConfig(open_after_s=1.0, verify_s=1.0, reopen_after_s=30.0)


def build_app(port: int, tmp_path: Path, tickets: TicketsConfig = FAST_TICKETS) -> App:
    cfg = dataclasses.replace(make_config(port, f"sqlite:///{tmp_path / 'campus.db'}"), tickets=tickets)
    return App(cfg, parse_registry(REGISTRY, "registry.yaml"), ("registry.yaml", REGISTRY))


async def call(app: App, method: str, path: str, tok: str | None = None, json: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    host, port = app.http_address  # type: ignore[misc]
    h = dict(headers or {})
    if tok:
        h["Authorization"] = f"Bearer {tok}"
    async with aiohttp.ClientSession() as s, s.request(method, f"http://{host}:{port}{path}", headers=h, json=json) as r:
        try:
            return r.status, await r.json(content_type=None)
        except ValueError:
            return r.status, await r.text()


@pytest.fixture
async def running(tmp_path: Path, mosquitto: tuple[str, int]):
    app = build_app(mosquitto[1], tmp_path)
    await app.start()
    await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
    dev = Device(mosquitto[1])
    toks = {
        "bureau": await token(app, "bureau"),
        "admin": await token(app, "admin"),
        "panhe": await token(app, "officer", ["panhe-ms"]),
        "other": await token(app, "officer", ["other-ps"]),
        "crew": await token(app, "maintenance"),
    }
    yield app, dev, toks
    dev.close()
    await app.stop()


# ---- tickets from the simulator's point of view ---------------------------------------------------


async def test_a_killed_camera_opens_one_ticket_the_crew_resolves_and_it_closes_when_back(running) -> None:
    app, dev, toks = running
    stop = asyncio.Event()
    everyone = [("panhe-ms", "camera", c) for c in ("cam-dg-02", "cam-dg-03", "cam-ct-01")]
    beater = asyncio.create_task(keep_beating(dev, stop, everyone))
    try:
        await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
        await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "up", 3)
        await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "down", 4)
        down_at = time.monotonic()
        opened: list[Any] = []

        async def ticket_is_open() -> bool:
            _, body = await call(app, "GET", "/api/v1/tickets?status=open", toks["crew"])
            opened[:] = [t for t in body["items"] if t["device"] == "cam-dg-01"]
            return bool(opened)

        await wait_for(ticket_is_open, 1.0 + 1.5 - (time.monotonic() - down_at), "a ticket within open_after_s + 1.5 s")
        ticket = opened[0]
        assert (ticket["school"], ticket["kind"], ticket["zone"]) == ("panhe-ms", "camera", "dorm-girls")
        await let_time_pass(1.5)  # still down: never a second ticket
        _, body = await call(app, "GET", "/api/v1/tickets?device=cam-dg-01", toks["bureau"])
        assert len(body["items"]) == 1
        _, body = await call(app, "GET", "/api/v1/tickets?school=panhe-ms", toks["bureau"])
        not_closed = len([t for t in body["items"] if t["status"] != "closed"])  # the unbeaten alarm and bus too
        assert sample(await metrics_text(app), "campus_tickets_open", school="panhe-ms") == not_closed

        status, taken = await call(app, "POST", f"/api/v1/tickets/{ticket['id']}/assign", toks["crew"], {})
        assert (status, taken["status"], taken["assignee"]) == (200, "in_progress", "test maintenance")
        status, _ = await call(app, "POST", f"/api/v1/tickets/{ticket['id']}/resolve", toks["panhe"], {"note": "x"})
        assert status == 403  # only the crew resolves
        status, resolved = await call(app, "POST", f"/api/v1/tickets/{ticket['id']}/resolve", toks["crew"],
                                      {"note": "replaced the power supply"})
        assert (status, resolved["status"]) == (200, "verifying")
        status, _ = await call(app, "POST", f"/api/v1/tickets/{ticket['id']}/resolve", toks["crew"], {})
        assert status == 409

        everyone.append(("panhe-ms", "camera", "cam-dg-01"))  # the camera comes back
        await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "up", 3)
        back_at = time.monotonic()

        async def closed() -> bool:
            _, t = await call(app, "GET", f"/api/v1/tickets/{ticket['id']}", toks["panhe"])
            return t["status"] == "closed"

        await wait_for(closed, 1.0 + 1.5 - (time.monotonic() - back_at), "the ticket closed within verify_s + 1.5 s")
        _, shown = await call(app, "GET", f"/api/v1/tickets/{ticket['id']}", toks["crew"])
        assert [n["text"] for n in shown["note_list"] if n["action"] == "resolved"] == ["replaced the power supply"]
        assert shown["repair_s"] > 0

        text = await metrics_text(app)
        assert sample(text, "campus_tickets_open", school="panhe-ms") == not_closed - 1
        assert sample(text, "campus_ticket_repair_seconds_count") == 1.0

        _, audit = await call(app, "GET", f"/api/v1/audit?target={ticket['id']}", toks["bureau"])
        actions = [(e["action"], e["actor"], e["via"]) for e in reversed(audit["items"])]
        assert actions == [
            ("ticket.opened", "system", "rule"),
            ("ticket.assigned", "test maintenance", "api"),
            ("ticket.resolved", "test maintenance", "api"),
            ("ticket.closed", "system", "rule"),
        ]
        assert all(e["remote"] == "127.0.0.1" for e in audit["items"] if e["via"] == "api")
    finally:
        stop.set()
        await beater


async def test_a_ticket_opened_by_hand_is_refused_twice_and_noted(running) -> None:
    app, _, toks = running
    status, t = await call(app, "POST", "/api/v1/tickets", toks["panhe"],
                           {"school": "panhe-ms", "device": "cam-ct-01", "note": "lens cracked on the walk round"})
    assert (status, t["status"], t["opened_by"], t["notes"]) == (201, "open", "test officer", 1)
    status, err = await call(app, "POST", "/api/v1/tickets", toks["crew"], {"school": "panhe-ms", "device": "cam-ct-01"})
    assert status == 409 and t["id"] in err["error"]["message"]
    status, _ = await call(app, "POST", "/api/v1/tickets", toks["panhe"], {"school": "other-ps", "device": "cam-01"})
    assert status == 403
    status, _ = await call(app, "POST", "/api/v1/tickets", toks["panhe"], {"school": "panhe-ms", "device": "nope"})
    assert status == 404
    status, noted = await call(app, "POST", f"/api/v1/tickets/{t['id']}/note", toks["crew"], {"note": "ladder needed"})
    assert (status, noted["notes"]) == (200, 2)
    status, _ = await call(app, "POST", f"/api/v1/tickets/{t['id']}/note", toks["crew"], {"note": "  "})
    assert status == 400


# ---- access control, route by route ---------------------------------------------------------------


def api_routes() -> list[tuple[str, str]]:
    return [(m.upper(), p) for p, ops in document()["paths"].items() for m in ops if p.startswith("/api/")]


def test_the_openapi_document_names_every_route_the_server_has(tmp_path: Path) -> None:
    from monitor.http.server import make_web_app

    app = build_app(1, tmp_path)
    web_app = make_web_app(app)
    served = {(r.method, r.resource.canonical) for r in web_app.router.routes()  # type: ignore[union-attr]
              if r.resource is not None and r.method != "HEAD"
              and (r.resource.canonical.startswith("/api/") or r.resource.canonical in ("/healthz", "/readyz", "/metrics"))}
    documented = {(m.upper(), p) for p, ops in document()["paths"].items() for m in ops}
    assert served == documented


async def test_every_api_route_but_the_document_answers_401_without_a_valid_token(running) -> None:
    app, _, _ = running
    for method, path in api_routes():
        concrete = path.replace("{id}", "x")
        expected = 200 if path == "/api/v1/openapi.json" else 401
        status, body = await call(app, method, concrete)
        assert status == expected, (method, path)
        if expected == 401:
            assert set(body["error"]) == {"status", "message"}
        status, _ = await call(app, method, concrete, "csm_not-a-token")
        assert status == expected, (method, path, "bad token")


async def seed_other_school(app: App, toks: dict[str, str]) -> dict[str, str]:
    """A ticket, an alert and a maintenance window in other-ps, a ticket in panhe-ms."""
    _, other_ticket = await call(app, "POST", "/api/v1/tickets", toks["bureau"], {"school": "other-ps", "device": "cam-01"})
    _, own_ticket = await call(app, "POST", "/api/v1/tickets", toks["bureau"], {"school": "panhe-ms", "device": "cam-dg-02"})
    _, window = await call(app, "POST", "/api/v1/maintenance", toks["bureau"],
                           {"school": "other-ps", "ends": time.time() + 3600, "reason": "rewiring"})
    now = app.clock()
    engine = app.alerts
    from devices.events import Rule, Severity

    engine.on_judgements([Judgement(now, Rule.CAMERA_DOWN, Severity.WARNING, "other-ps", "cam-01", True),
                          Judgement(now, Rule.CAMERA_DOWN, Severity.WARNING, "panhe-ms", "cam-ct-01", True, "canteen")])
    await wait_for(lambda: len(engine.book.open_alerts()) == 2, 2)

    async def stored() -> bool:
        _, alerts = await call(app, "GET", "/api/v1/alerts?rule=camera_down", toks["bureau"])
        return len(alerts["items"]) == 2

    await wait_for(stored, 5, "both alerts stored")
    other_alert = next(a.id for a in engine.book.open_alerts() if a.school == "other-ps")
    return {"ticket": other_ticket["id"], "own_ticket": own_ticket["id"], "window": window["id"], "alert": other_alert,
            "school": "other-ps", "bus": "bus-900"}


async def test_an_officer_never_sees_another_schools_data_through_any_route(running) -> None:
    app, _, toks = running
    other = await seed_other_school(app, toks)
    officer = toks["panhe"]
    checked = set()
    for method, path in api_routes():
        if path == "/api/v1/openapi.json":
            continue
        checked.add((method, path))
        if "{id}" in path:
            kind = path.split("/")[3]
            target = {"schools": other["school"], "alerts": other["alert"], "tickets": other["ticket"],
                      "buses": other["bus"], "maintenance": other["window"]}[kind]
            body = {"note": "x", "assignee": "me"} if method == "POST" else None
            status, answer = await call(app, method, path.replace("{id}", target), officer, body)
            assert status == 403, (method, path, status, answer)
            continue
        if method == "POST":
            payload = {"school": "other-ps", "device": "cam-01", "ends": time.time() + 60}
            status, answer = await call(app, method, path, officer, payload)
            assert status == 403, (method, path, answer)
            continue
        if path == "/api/v1/reports/inspection":  # not a list: one report of the schools asked for
            day = time.strftime("%Y-%m-%d")
            status, answer = await call(app, method, f"{path}?from={day}&to={day}", officer)
            assert status == 200 and [s["school"] for s in answer["schools"]] == ["panhe-ms"], answer
            assert "other-ps" not in str(answer)
            status, _ = await call(app, method, f"{path}?from={day}&to={day}&school=other-ps", officer)
            assert status == 403
            continue
        status, answer = await call(app, method, path, officer)
        if path in ("/api/v1/audit", "/api/v1/notifications"):  # bureau-only views of the whole district
            assert status == 403
            continue
        assert status == 200, (path, answer)
        schools = {item.get("school", item.get("id")) for item in answer["items"]}
        assert schools <= {"panhe-ms"}, (path, schools)
        blob = str(answer)
        assert "other-ps" not in blob and "cam-01'" not in blob, path
        status, _ = await call(app, method, f"{path}?school=other-ps", officer)
        assert status == 403, (path, "school filter")
    assert len(checked) == len(api_routes()) - 1
    # the officer of other-ps does see them
    status, answer = await call(app, "GET", "/api/v1/tickets", toks["other"])
    assert status == 200 and [t["id"] for t in answer["items"]] == [other["ticket"]]
    status, _ = await call(app, "GET", f"/api/v1/buses/{other['bus']}/track", toks["other"])
    assert status == 200
    status, _ = await call(app, "GET", f"/api/v1/tickets/{other['own_ticket']}", toks["other"])
    assert status == 403


async def test_roles_each_route_admits(running) -> None:
    app, _, toks = running
    other = await seed_other_school(app, toks)
    expect = [
        ("crew", "GET", "/api/v1/alerts", 403),
        ("crew", "GET", "/api/v1/schools", 403),
        ("crew", "GET", "/api/v1/tickets", 200),
        ("crew", "GET", "/api/v1/audit", 403),
        ("crew", "GET", f"/api/v1/buses/{other['bus']}/track", 403),
        ("panhe", "GET", "/api/v1/audit", 403),
        ("bureau", "GET", "/api/v1/audit", 200),
        ("admin", "GET", "/api/v1/audit", 200),
        ("admin", "GET", "/api/v1/alerts", 200),
        ("bureau", "POST", f"/api/v1/tickets/{other['ticket']}/resolve", 403),
        ("other", "POST", f"/api/v1/tickets/{other['ticket']}/assign", 403),
        ("other", "POST", f"/api/v1/tickets/{other['ticket']}/note", 200),
    ]
    for who_, method, path, status in expect:
        got, body = await call(app, method, path, toks[who_], {"note": "seen"} if method == "POST" else None)
        assert got == status, (who_, method, path, body)


async def test_an_officer_acknowledges_its_alert_and_the_audit_log_says_who_and_from_where(running) -> None:
    app, _, toks = running
    other = await seed_other_school(app, toks)
    status, _ = await call(app, "POST", f"/api/v1/alerts/{other['alert']}/ack", toks["panhe"], {})
    assert status == 403
    status, alert = await call(app, "POST", f"/api/v1/alerts/{other['alert']}/ack", toks["other"], {"note": "on it"})
    assert (status, alert["state"], alert["acked_by"]) == (200, "acknowledged", "test officer")
    status, firing = await call(app, "GET", "/api/v1/alerts?state=firing", toks["other"])
    assert status == 200 and firing["items"] == []
    _, audit = await call(app, "GET", f"/api/v1/audit?target={other['alert']}", toks["bureau"])
    [entry] = audit["items"]
    assert (entry["action"], entry["actor"], entry["role"], entry["remote"], entry["school"]) == (
        "alert.acknowledged", "test officer", "officer", "127.0.0.1", "other-ps")
    assert re.match(r"\d{4}-\d\d-\d\dT", entry["at"])


async def test_lists_page_with_a_cursor_and_reject_bad_filters(running) -> None:
    app, _, toks = running
    for dev_id in ("cam-dg-01", "cam-dg-02", "cam-dg-03"):
        await call(app, "POST", "/api/v1/tickets", toks["crew"], {"school": "panhe-ms", "device": dev_id})
    status, first = await call(app, "GET", "/api/v1/tickets?limit=2", toks["crew"])
    assert status == 200 and len(first["items"]) == 2 and first["next"]
    _, second = await call(app, "GET", f"/api/v1/tickets?limit=2&cursor={first['next']}", toks["crew"])
    assert len(second["items"]) == 1 and second["next"] is None
    ids = {t["id"] for t in first["items"] + second["items"]}
    assert len(ids) == 3
    for bad in ("/api/v1/tickets?status=lost", "/api/v1/alerts?state=x", "/api/v1/tickets?limit=0",
                "/api/v1/buses/bus-023/track?since=yesterday"):
        status, body = await call(app, "GET", bad, toks["bureau"])
        assert status == 400 and body["error"]["status"] == 400, bad


async def test_bad_tokens_are_slowed_down_but_a_valid_token_from_the_same_address_still_works(running) -> None:
    app, _, toks = running
    statuses = [(await call(app, "GET", "/api/v1/schools", f"csm_wrong{i}"))[0] for i in range(30)]
    assert statuses == [401] * 30
    started = time.monotonic()
    status, _ = await call(app, "GET", "/api/v1/schools", "csm_wrong-31")
    assert status == 429 and time.monotonic() - started >= 0.9  # the 31st bad token in a minute waits, then 429
    status, _ = await call(app, "GET", "/api/v1/schools", toks["bureau"])
    assert status == 200  # the limit never refuses a valid token, even from the same address


async def test_a_bus_track_shows_recent_fixes_since_a_time(running) -> None:
    app, dev, toks = running
    t0 = time.time()
    for i in range(3):
        await asyncio.to_thread(dev.send, "campus/panhe-ms/bus/bus-023/gps",
                                {"ts": time.time(), "lat": 27.3382 + i * 0.0005, "lon": 103.7171 + i * 0.0005, "speed_kmh": 30})
        await let_time_pass(0.6)  # the bus drives on between fixes

    async def three_fixes() -> dict[str, Any]:
        status, track = await call(app, "GET", f"/api/v1/buses/bus-023/track?since={t0 - 1}", toks["panhe"])
        assert status == 200
        return track if len(track["items"]) == 3 else {}

    track = await wait_for(three_fixes, 5, "three fixes in the track")
    assert track["items"][0]["lat"] < track["items"][-1]["lat"]
    iso_since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    _, later = await call(app, "GET", f"/api/v1/buses/bus-023/track?since={iso_since}", toks["panhe"])
    assert later["items"] == []


# ---- schemathesis ---------------------------------------------------------------------------------


async def test_schemathesis_finds_no_server_error_or_schema_mismatch(running, tmp_path: Path) -> None:
    app, _, toks = running
    await seed_other_school(app, toks)
    host, port = app.http_address  # type: ignore[misc]
    exe = require_tool("schemathesis", "schemathesis")
    proc = await asyncio.create_subprocess_exec(
        exe, "run", f"http://{host}:{port}/api/v1/openapi.json",
        "--header", f"Authorization: Bearer {toks['admin']}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--max-examples", "60", "--workers", "1", "--phases", "examples,coverage,fuzzing",
        "--request-timeout", "5", "--no-color",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
