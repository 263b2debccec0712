"""Declared bus detours through the API on a real Mosquitto: an officer declares one, the bus then
leaves its corridor and is shown off route on the detour with the reason while the off-route judgement
is marked suppressed; bad input, unknown buses and other schools are refused; the audit log says who;
a restart restores the detour into the bus's watch."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devices.events import Judgement, Rule
from devices.registry import parse_registry
from monitor.app import App
from monitor.config import BusesConfig
from tests.integration.service import Device, make_config, token
from tests.registries import SMALL_REGISTRY
from tests.waiting import let_time_pass, wait_for

pytestmark = pytest.mark.integration

FAST_BUSES = BusesConfig(off_route_after_s=1.0, off_route_fixes=2)


def build_app(port: int, tmp_path: Path) -> App:
    cfg = dataclasses.replace(make_config(port, f"sqlite:///{tmp_path / 'campus.db'}"), buses=FAST_BUSES)
    return App(cfg, parse_registry(SMALL_REGISTRY, "registry.yaml"), ("registry.yaml", SMALL_REGISTRY))


async def call(app: App, method: str, path: str, tok: str | None = None, json: Any = None) -> tuple[int, Any]:
    host, port = app.http_address  # type: ignore[misc]
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    async with aiohttp.ClientSession() as s, s.request(method, f"http://{host}:{port}{path}", headers=headers,
                                                       json=json) as r:
        return r.status, await r.json(content_type=None)


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def running(tmp_path: Path, mosquitto: tuple[str, int]):
    app = build_app(mosquitto[1], tmp_path)
    seen: list[Judgement] = []
    app.watch.listeners.append(seen.extend)
    await app.start()
    await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
    toks = {
        "bureau": await token(app, "bureau"),
        "panhe": await token(app, "officer", ["panhe-ms"]),
        "other": await token(app, "officer", ["other-ps"]),
        "crew": await token(app, "maintenance"),
    }
    try:
        yield app, toks, seen
    finally:
        await app.stop()


async def test_a_declared_detour_shows_the_off_route_bus_with_its_reason_and_suppresses_the_alert(
        running, mosquitto: tuple[str, int]) -> None:
    app, toks, seen = running
    now = time.time()
    status, made = await call(app, "POST", "/api/v1/buses/bus-023/detours", toks["panhe"],
                              {"start": rfc3339(now - 60), "end": now + 600, "reason": "road works on 南环路"})
    assert status == 201, made
    assert made["bus"] == "bus-023" and made["school"] == "panhe-ms" and made["active"] is True
    assert made["reason"] == "road works on 南环路" and made["created_by"] == "test officer"
    assert app.buses.watches["bus-023"].detours[-1].reason == "road works on 南环路"

    status, listed = await call(app, "GET", "/api/v1/buses/bus-023/detours", toks["bureau"])
    assert status == 200 and [d["id"] for d in listed["items"]] == [made["id"]]

    dev = Device(mosquitto[1])
    try:
        for i in range(4):  # about 1.2 km east of the route, moving slowly
            await asyncio.to_thread(dev.send, "campus/panhe-ms/bus/bus-023/gps",
                                    {"ts": time.time(), "lat": 27.3382 + i * 0.00003, "lon": 103.7300, "speed_kmh": 15})
            await let_time_pass(0.5)  # the bus drives on between fixes
        await wait_for(lambda: app.buses.watches["bus-023"].snapshot().off_route, 5)
    finally:
        dev.close()

    status, bus = await call(app, "GET", "/api/v1/buses/bus-023", toks["panhe"])
    assert status == 200
    assert bus["off_route"] is True and bus["detour"] == "road works on 南环路"
    assert bus["distance_m"] > 1000 and bus["speed_kmh"] is not None
    _, buses = await call(app, "GET", "/api/v1/buses", toks["bureau"])
    assert [b["detour"] for b in buses["items"] if b["id"] == "bus-023"] == ["road works on 南环路"]

    await wait_for(lambda: any(j.rule is Rule.BUS_OFF_ROUTE and j.active for j in seen), 5)
    off = [j for j in seen if j.rule is Rule.BUS_OFF_ROUTE and j.active]
    assert all(j.detail.get("suppressed") is True and j.detail.get("detour") == "road works on 南环路" for j in off)

    status, log = await call(app, "GET", "/api/v1/audit?action=bus.detour_declared", toks["bureau"])
    assert status == 200
    (entry,) = log["items"]
    assert entry["target"] == "bus-023" and entry["actor"] == "test officer" and entry["remote"] == "127.0.0.1"
    assert entry["detail"]["reason"] == "road works on 南环路" and entry["detail"]["detour"] == made["id"]


async def test_a_bus_without_a_detour_shows_the_snapshot_fields_on_route(running) -> None:
    app, toks, _ = running
    status, bus = await call(app, "GET", "/api/v1/buses/bus-023", toks["bureau"])
    assert status == 200
    assert bus["off_route"] is False and bus["detour"] is None
    assert bus["distance_m"] is None and bus["speed_kmh"] is None
    status, listed = await call(app, "GET", "/api/v1/buses/bus-023/detours", toks["panhe"])
    assert status == 200 and listed["items"] == []


@pytest.mark.parametrize("payload", [
    {"end": 2_000_000_000, "reason": "x"},
    {"start": 1_900_000_000, "reason": "x"},
    {"start": 1_900_000_000, "end": 1_900_000_000, "reason": "x"},
    {"start": 1_900_000_600, "end": 1_900_000_000, "reason": "x"},
    {"start": "yesterday", "end": 1_900_000_000, "reason": "x"},
    {"start": "2030-03-01T08:00:00", "end": "2030-03-01T09:00:00", "reason": "no time zone"},
    {"start": True, "end": 1_900_000_000, "reason": "x"},
    {"start": [1], "end": 1_900_000_000, "reason": "x"},
    {"start": 1_900_000_000, "end": 1e20, "reason": "x"},
    {"start": 1_900_000_000, "end": 1_900_000_600},
    {"start": 1_900_000_000, "end": 1_900_000_600, "reason": "   "},
    {"start": 1_900_000_000, "end": 1_900_000_600, "reason": 7},
    {"start": 1_900_000_000, "end": 1_900_000_600, "reason": "x" * 2001},
])
async def test_bad_detours_are_refused_with_400_and_not_declared(running, payload: dict[str, Any]) -> None:
    app, toks, _ = running
    status, err = await call(app, "POST", "/api/v1/buses/bus-023/detours", toks["bureau"], payload)
    assert status == 400, err
    assert err["error"]["status"] == 400
    assert app.buses.watches["bus-023"].detours == ()


async def test_unknown_buses_other_schools_and_other_roles_cannot_declare_detours(running) -> None:
    app, toks, _ = running
    ok = {"start": 1_900_000_000, "end": 1_900_000_600, "reason": "flooded bridge"}
    assert (await call(app, "POST", "/api/v1/buses/bus-999/detours", toks["bureau"], ok))[0] == 404
    assert (await call(app, "GET", "/api/v1/buses/bus-999/detours", toks["bureau"]))[0] == 404
    assert (await call(app, "POST", "/api/v1/buses/bus-023/detours", toks["other"], ok))[0] == 403
    assert (await call(app, "GET", "/api/v1/buses/bus-023/detours", toks["other"]))[0] == 403
    assert (await call(app, "POST", "/api/v1/buses/bus-023/detours", toks["crew"], ok))[0] == 403
    assert (await call(app, "POST", "/api/v1/buses/bus-023/detours", None, ok))[0] == 401
    assert app.buses.watches["bus-023"].detours == ()
    assert (await call(app, "POST", "/api/v1/buses/bus-023/detours", toks["bureau"], ok))[0] == 201


async def test_a_declared_detour_is_restored_into_the_bus_watch_after_a_restart(
        tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    now = time.time()
    app = build_app(mosquitto[1], tmp_path)
    await app.start()
    try:
        tok = await token(app, "bureau")
        status, _ = await call(app, "POST", "/api/v1/buses/bus-023/detours", tok,
                               {"start": now, "end": now + 3600, "reason": "accident on G85"})
        assert status == 201
        old = await call(app, "POST", "/api/v1/buses/bus-023/detours", tok,
                         {"start": now - 3 * 86400, "end": now - 2 * 86400, "reason": "long over"})
        assert old[0] == 201
    finally:
        await app.stop()

    again = build_app(mosquitto[1], tmp_path)
    await again.start()
    try:
        detours = again.buses.watches["bus-023"].detours
        assert [(d.reason, d.start, d.end) for d in detours] == [("accident on G85", now, now + 3600)]
        _, listed = await call(again, "GET", "/api/v1/buses/bus-023/detours", await token(again, "bureau"))
        assert [d["reason"] for d in listed["items"]] == ["accident on G85", "long over"]
    finally:
        await again.stop()
