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
from devices.events import AlarmEvent
from devices.registry import parse_registry
from monitor.app import App
from monitor.config import AlertsConfig
from monitor.storage.db import Database
from monitor.storage.event_store import insert_alarm_event
from tests.integration.faults import REGISTRY, Flooder, Panel, Service, Webhook, press_alerts, wait_until
from tests.integration.mosquitto import run_mosquitto
from tests.integration.postgres import PostgresServer, find_bindir
from tests.integration.service import get_json, make_config, metrics_text, sample
from tests.waiting import let_time_pass, wait_for

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
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 10)
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


async def test_a_stored_press_without_its_alert_is_alerted_at_start_exactly_once(
        tmp_path: Path, mosquitto: tuple[str, int], hook: Webhook, caplog) -> None:
    """A press stored by a version that wrote its alert apart, cut off by a crash in between: the next
    start alerts it, once; a later start does not alert it again."""
    caplog.set_level(logging.INFO)
    db_url = f"sqlite:///{tmp_path / 'campus.db'}"
    db = Database(db_url)
    db.migrate()
    pressed = time.time() - 30
    with db.begin() as conn:
        assert insert_alarm_event(conn, db.dialect, AlarmEvent("panhe-ms", "alarm-gate", "orphan-1", "press",
                                                                pressed, pressed))
    db.dispose()
    cfg = dataclasses.replace(
        make_config(mosquitto[1], db_url), alerts=AlertsConfig(group_window_s=0),
        receivers=tuple(parse_receivers([{"kind": "webhook", "name": "bureau", "url": hook.url}])))
    for run in (1, 2):
        app = App(cfg, parse_registry(REGISTRY, "registry.yaml"), ("registry.yaml", REGISTRY))
        await app.start()
        try:
            await wait_for(lambda: len(hook.presses()) == 1, 10, "the stored press at the webhook")
            await wait_for(lambda app=app: app.alerts.stats.total_queue_depth() == 0 and app.alerts.held == 0, 10,
                           "the outbox empty")
            await let_time_pass(1.0)  # time for a second message, if one were coming
        finally:
            await app.stop()
        assert len(hook.alerts("alarm_pressed")) == 1, f"run {run}: one message for the press"
    [(_, _, alert)] = hook.alerts("alarm_pressed")
    assert (alert["school"], alert["subject"], alert["state"]) == ("panhe-ms", "alarm-gate", "firing")
    assert press_alerts(db_url) == {alert["id"]: "orphan-1"}
    assert len([r for r in caplog.records if "was stored without its alert" in r.getMessage()]) == 1


def test_presses_still_arrive_under_a_heartbeat_flood(tmp_path: Path, hook: Webhook) -> None:
    """Another process floods heartbeats as fast as it can while a panel presses one at a time: every
    press arrives once, each within a generous 5 s (the contract's 500 ms is a figure of bench/faults.py)."""
    with run_mosquitto(tmp_path / "mosquitto", "set_tcp_nodelay true\n") as port:
        svc = Service(tmp_path, port, f"sqlite:///{tmp_path / 'campus.db'}", hook.url)
        svc.start()
        panel = Panel(port)
        flooder: Flooder | None = None
        try:
            wait_until(svc.ready, 30, "the monitor ready")
            flooder = Flooder(port, [f"campus/panhe-ms/camera/{cam}/heartbeat" for cam in ("cam-dg-01", "cam-dg-02")])
            time.sleep(2.0)  # scenario pause: the flood is under way before the first press, on any machine
            took = []
            for i in range(10):
                panel.press(f"flood-{i}", "alarm-gate" if i % 2 else "alarm-dorm")
                took.append(wait_until(lambda i=i: len(hook.presses()) > i, 5, f"press {i} at the webhook", step=0.01))
            flooded = flooder.stop()
            flooder = None
            assert flooded > 20_000, f"only {flooded} heartbeats: no flood"
            assert len(hook.presses()) == 10 and len(hook.alerts("alarm_pressed")) == 10, "each press once"
            assert sorted(press_alerts(svc.db_url).values()) == sorted(f"flood-{i}" for i in range(10))
        finally:
            if flooder is not None:
                flooder.stop()
            panel.close()
            svc.stop()


async def test_events_over_the_held_back_bound_stay_unacknowledged_and_arrive_when_the_database_is_back(
        tmp_path: Path, mosquitto: tuple[str, int], hook: Webhook, own_postgres: PostgresServer, caplog) -> None:
    """The database down and more presses than the bound of held-back events: those past the bound are
    not acknowledged to the broker; when the database is back the events connection is renewed, the
    broker hands them over again, and every press reaches the webhook once."""
    caplog.set_level(logging.INFO)
    db_url = own_postgres.create_database("overflow")
    cfg = dataclasses.replace(
        make_config(mosquitto[1], db_url), alerts=AlertsConfig(group_window_s=0),
        receivers=tuple(parse_receivers([{"kind": "webhook", "name": "bureau", "url": hook.url}])))
    app = App(cfg, parse_registry(REGISTRY, "registry.yaml"), ("registry.yaml", REGISTRY))
    app.alerts.max_held_events = 5  # the documented bound is 10,000
    await app.start()
    panel = Panel(mosquitto[1])
    try:
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 10)
        await asyncio.to_thread(panel.press, "before")
        await wait_for(lambda: len(hook.presses()) == 1, 5)
        await asyncio.to_thread(own_postgres.halt)
        for i in range(15):  # under Mosquitto's 20 in flight, so the broker hands every one over now
            info = await asyncio.to_thread(panel.press, f"during-{i}", "alarm-gate" if i % 2 else "alarm-dorm")
            await asyncio.to_thread(info.wait_for_publish, 5)
        await wait_for(lambda: app.alerts.events_refused == 10, 15, "10 presses refused past the bound")
        assert app.events.unacked_events == 10
        text = await metrics_text(app)
        assert sample(text, "campus_held_back", what="alarm_events") == 5
        assert sample(text, "campus_held_back_overflow_total", what="alarm_events") == 10
        status, body = await get_json(app, "/readyz")
        assert status == 503 and body["held_back"] >= 5, body
        assert len(hook.presses()) == 1
        await asyncio.to_thread(own_postgres.resume)
        await wait_for(lambda: len(hook.presses()) == 16, 30, "every press at the webhook")
        await wait_for(lambda: app.alerts.held == 0 and app.events.connected, 10)
        await let_time_pass(1.0)  # time for a second alert of a redelivered press, if one were coming
        assert len(hook.alerts("alarm_pressed")) == 16, "each press once"
        events = sorted(press_alerts(db_url).values())
        assert events == sorted(["before", *(f"during-{i}" for i in range(15))])
        assert [r for r in caplog.records if "renewing MQTT connection" in r.getMessage()]
        status, body = await get_json(app, "/readyz")
        assert status == 200, body
    finally:
        panel.close()
        await app.stop()


def test_a_press_reaches_a_receiver_within_10_s_of_its_recovery(tmp_path: Path, mosquitto: tuple[str, int],
                                                               hook: Webhook) -> None:
    """The receiver answers 503 while a press waits, and comes back right after refusing the 5th attempt
    (about 15-30 s into its outage, the outbox's backoff then at 16-32 s): the press arrives within 10 s."""
    svc = Service(tmp_path, mosquitto[1], f"sqlite:///{tmp_path / 'campus.db'}", hook.url)
    svc.start()
    panel = Panel(mosquitto[1])
    try:
        wait_until(svc.ready, 30, "the monitor ready")
        hook.up = False
        panel.press("while-down")
        wait_until(lambda: hook.refused >= 5, 40, "5 attempts refused", step=0.01)
        hook.up = True
        took = wait_until(lambda: len(hook.presses()) == 1, 10, "the press after the receiver's recovery", step=0.01)
        assert took <= 10
    finally:
        panel.close()
        svc.stop()
