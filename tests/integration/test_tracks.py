"""The stored bus track on a real Mosquitto and SQLite: fixes a bus publishes are downsampled by the
configured rule, written in batches, read back (stored and not yet written alike), kept across a
restart, and deleted by the retention sweep once older than `track_keep_s`."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from devices.registry import parse_registry
from monitor.app import App
from monitor.config import BusesConfig
from monitor.storage.db import Database
from monitor.storage.track_tables import BusFixRecord
from tests.integration.service import Device, get_json, make_config, token
from tests.registries import SMALL_REGISTRY
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

KEEP_S = 3600.0
BUSES = BusesConfig(track_keep_s=KEEP_S, track_min_interval_s=15, track_min_distance_m=50)
START, END = (103.7171, 27.3382), (103.7204, 27.3417)  # panhe-r1, about 508 m
ROUTE_M = 508.0
TOPIC = "campus/panhe-ms/bus/bus-023/gps"


def build_app(port: int, tmp_path: Path, buses: BusesConfig = BUSES) -> App:
    cfg = dataclasses.replace(make_config(port, f"sqlite:///{tmp_path / 'campus.db'}"), buses=buses)
    return App(cfg, parse_registry(SMALL_REGISTRY, "registry.yaml"), ("registry.yaml", SMALL_REGISTRY))


def along(metres: float) -> tuple[float, float]:
    """(lat, lon) `metres` along the route from its start."""
    f = metres / ROUTE_M
    return START[1] + f * (END[1] - START[1]), START[0] + f * (END[0] - START[0])


def stored_rows(db: Database) -> list[tuple[float, bool]]:
    with db.session() as s:
        return [(r.ts, r.off_route) for r in s.scalars(select(BusFixRecord).order_by(BusFixRecord.ts))]


def count_rows(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(BusFixRecord)) or 0)


async def publish_drive(port: int, base: float) -> None:
    """Eleven fixes one second and 12 m apart: the rule keeps the 1st, 6th and 11th (60 m apart)."""
    dev = Device(port)
    try:
        for i in range(11):
            lat, lon = along(12.0 * i)
            await asyncio.to_thread(dev.send, TOPIC, {"ts": base + i, "lat": lat, "lon": lon, "speed_kmh": 40})
    finally:
        dev.close()


async def test_published_fixes_are_downsampled_stored_and_expired(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    app = build_app(mosquitto[1], tmp_path)
    await app.start()
    try:
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
        base = round(time.time()) - 30.0
        await publish_drive(mosquitto[1], base)
        await wait_for(lambda: app.buses.watches["bus-023"].snapshot().last_fix_ts == base + 10, 5)

        kept = await app.tracks.since("bus-023", 0.0)  # some may still be unwritten: read them all the same
        assert [f.ts for f in kept] == [base, base + 5, base + 10]
        assert kept[1].speed_kmh == 40 and kept[1].school == "panhe-ms"
        assert [f.ts for f in await app.tracks.since("bus-023", base + 5)] == [base + 5, base + 10]
        assert await app.tracks.since("bus-999", 0.0) == []
        status, body = await get_json(app, f"/api/v1/buses/bus-023/track?since={base + 5}", await token(app, "bureau"))
        assert status == 200
        assert len(body["items"]) == 2  # the stored, downsampled track, through the API

        await wait_for(lambda: app.tracks.written == 3, 5)  # the batch writer, every ~2 s
        assert await app.db.call(stored_rows) == [(base, False), (base + 5, False), (base + 10, False)]

        assert await app.tracks.sweep(base + 5 + KEEP_S - 0.5) == 1  # only the first is older than the period
        assert [f.ts for f in await app.tracks.since("bus-023", 0.0)] == [base + 5, base + 10]
        assert await app.tracks.sweep(base + 10 + KEEP_S + 1) == 2
        assert await app.db.call(count_rows) == 0
    finally:
        await app.stop()


async def test_unwritten_fixes_are_written_on_stop_and_read_after_a_restart(
        tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    app = build_app(mosquitto[1], tmp_path)
    await app.start()
    try:
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
        base = round(time.time()) - 30.0
        await publish_drive(mosquitto[1], base)
        await wait_for(lambda: app.buses.watches["bus-023"].snapshot().last_fix_ts == base + 10, 5)
    finally:
        await app.stop()  # the stop flushes what the 2-second writer had not yet written

    again = build_app(mosquitto[1], tmp_path)
    await again.start()
    try:
        assert [f.ts for f in await again.tracks.since("bus-023", 0.0)] == [base, base + 5, base + 10]
    finally:
        await again.stop()


async def test_an_off_route_turn_marks_a_track_point_with_its_state(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    app = build_app(mosquitto[1], tmp_path, dataclasses.replace(BUSES, off_route_after_s=1.0, off_route_fixes=2))
    await app.start()
    dev = Device(mosquitto[1])
    try:
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
        base = round(time.time()) - 60.0
        for i in range(6):  # 1.2 km east of the route, 3 m apart: only the first and the turn off route are kept
            await asyncio.to_thread(dev.send, TOPIC, {"ts": base + 2 * i, "lat": 27.3382 + i * 0.00003,
                                                      "lon": 103.7300, "speed_kmh": 5})
        await wait_for(lambda: app.buses.watches["bus-023"].snapshot().last_fix_ts == base + 10, 5)
        assert app.buses.watches["bus-023"].snapshot().off_route
        await app.tracks.flush()
        rows = await app.db.call(stored_rows)
        assert rows[0] == (base, False) and rows[-1][1] is True and len(rows) == 2
    finally:
        dev.close()
        await app.stop()
