"""Faults against real processes (issue 10): the monitor killed with presses in flight, its database
stopped under load, its receiver down and up, a heartbeat flood. Every press reaches a real webhook
exactly once (one alert per press; a message sent twice carries the same Idempotency-Key)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path

import pytest

from alerts.routing import parse_receivers
from devices.registry import parse_registry
from monitor.app import App
from monitor.config import AlertsConfig
from tests.integration.faults import REGISTRY, Panel, Service, Webhook, wait_until
from tests.integration.postgres import PostgresServer, find_bindir
from tests.integration.service import get_json, make_config
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

PRESSES = 300


@pytest.fixture
def hook():
    w = Webhook().start()
    yield w
    w.stop()


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test alone (it is stopped and started again by the test)."""
    server = PostgresServer(find_bindir()).start()
    yield server
    server.stop()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_kill_9_with_presses_in_flight_loses_no_press_and_sends_none_twice(
        tmp_path: Path, mosquitto: tuple[str, int], hook: Webhook, database: str, request) -> None:
    if database == "sqlite":
        db_url = f"sqlite:///{tmp_path / 'campus.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        db_url = server.create_database("faults")
    svc = Service(tmp_path, mosquitto[1], db_url, hook.url)
    svc.start()
    panel = Panel(mosquitto[1])
    try:
        wait_until(svc.ready, 30, "the monitor ready")
        infos = []
        for i in range(PRESSES):  # 300 presses at about 200/s; kill -9 in the middle
            infos.append(panel.press(f"p-{i}", "alarm-gate" if i % 2 else "alarm-dorm"))
            if i == PRESSES // 2:
                wait_until(lambda: len(hook.presses()) > 20, 10, "some presses delivered before the kill")
                svc.kill()
            time.sleep(0.005)  # the pace of the presses, not a wait for anything
        for info in infos:
            info.wait_for_publish(10)  # the broker has every press
        svc.start()
        took = wait_until(lambda: len(hook.presses()) >= PRESSES, 60, f"{PRESSES} presses at the webhook")
        wait_until(svc.ready, 30, "the monitor ready again")
        assert len(hook.presses()) == PRESSES, "one alert per press, none twice"
        assert took < 30, took
    finally:
        panel.close()
        svc.stop()


async def test_postgresql_stopped_under_load_holds_presses_and_alerts_and_writes_them_when_back(
        tmp_path: Path, mosquitto: tuple[str, int], hook: Webhook, own_postgres: PostgresServer, caplog) -> None:
    caplog.set_level(logging.INFO)
    db_url = own_postgres.create_database("outage")
    cfg = dataclasses.replace(
        make_config(mosquitto[1], db_url), alerts=AlertsConfig(group_window_s=0),
        receivers=tuple(parse_receivers([{"kind": "webhook", "name": "bureau", "url": hook.url}])))
    app = App(cfg, parse_registry(REGISTRY, "registry.yaml"), ("registry.yaml", REGISTRY))
    await app.start()
    panel = Panel(mosquitto[1])
    try:
        await wait_for(lambda: app.collector.connected and app.events.connected, 10)
        await asyncio.to_thread(panel.press, "before")
        await wait_for(lambda: len(hook.presses()) == 1, 5)
        await asyncio.to_thread(own_postgres.halt)
        sent = 0
        for i in range(40):  # presses and a camera going down while the database is away (about 4 s)
            await asyncio.to_thread(panel.press, f"during-{i}", "alarm-gate" if i % 2 else "alarm-dorm")
            sent += 1
            if i == 5:
                await asyncio.to_thread(panel.publish, "campus/panhe-ms/camera/cam-dg-01/status", b"offline", 1)
            await asyncio.sleep(0.1)  # the pace of the presses
        status, body = await get_json(app, "/readyz")
        assert status == 503 and body["held_back"] > 0, body
        assert len(hook.presses()) == 1  # nothing stored, so nothing sent yet
        await asyncio.to_thread(own_postgres.resume)
        await wait_for(lambda: len(hook.presses()) == 1 + sent, 30)
        await wait_for(lambda: any(a["subject"] == "cam-dg-01" for _, _, a in hook.alerts("camera_down")), 10)
        await wait_for(lambda: app.alerts.held == 0, 10)
        status, body = await get_json(app, "/readyz")
        assert status == 200, body
        assert len(hook.presses()) == 1 + sent
        outage_lines = [r for r in caplog.records if "database unreachable" in r.getMessage()]
        recovery_lines = [r for r in caplog.records if "database back after" in r.getMessage()]
        assert len(outage_lines) == 1 and len(recovery_lines) == 1, [r.getMessage() for r in outage_lines]
        assert not [r for r in caplog.records if r.exc_info and r.name.startswith("monitor")]
    finally:
        panel.close()
        await app.stop()
