"""The daily digest from the monitor's database to a real webhook receiver."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import update

from alerts.digest import LOCAL
from monitor import digest
from monitor.config import AlertsConfig
from monitor.storage.registry_store import import_registry
from monitor.storage.tables import AlarmEventRecord, DeviceRecord, JudgementRecord
from monitor.storage.ticket_tables import TicketRecord
from tests.integration.service import make_app
from tests.ports import free_port
from tests.registries import SMALL_REGISTRY

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=LOCAL).timestamp()  # a Thursday
H = 3600.0


@pytest.fixture
async def webhook():
    received: list[tuple[dict[str, str], dict[str, Any]]] = []
    failures = {"left": 0}

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        if failures["left"] > 0:
            failures["left"] -= 1
            received.append((dict(request.headers), {"refused": body}))
            return web.Response(status=503)
        received.append((dict(request.headers), body))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", received, failures
    await runner.cleanup()


def _fill(db: Any) -> None:
    with db.session() as s:
        s.execute(update(DeviceRecord).where(DeviceRecord.id == "cam-ct-01").values(state="down", state_since=NOW - H))
        for at, active in ((NOW - 30 * H, True), (NOW - 20 * H, False), (NOW - 3 * H, True)):
            s.add(JudgementRecord(time=at, rule="zone_dark", severity="critical", school="panhe-ms",
                                  subject="dorm-girls", zone="dorm-girls", active=active, detail={}))
        for at, rule in ((NOW - 5 * H, "bus_off_route"), (NOW - 4 * H, "bus_overspeed"), (NOW - 2 * H, "bus_overspeed")):
            s.add(JudgementRecord(time=at, rule=rule, severity="warning", school="panhe-ms", subject="bus-023",
                                  zone=None, active=True, detail={}))
        s.add(AlarmEventRecord(school="panhe-ms", device="alarm-gate", event_id="p-1", type="press", ts=NOW - H, received=NOW - H))
        s.add(AlarmEventRecord(school="panhe-ms", device="alarm-gate", event_id="t-1", type="test", ts=NOW - H, received=NOW - H))
        for i, (opened, resolved, closed) in enumerate(((NOW - 10 * H, NOW - 8 * H, NOW - 7 * H),
                                                        (NOW - 30 * H, NOW - 26 * H, NOW - 6 * H),
                                                        (NOW - 2 * H, None, None))):
            s.add(TicketRecord(id=f"t-{i}", school="panhe-ms", kind="camera", device="cam-dg-01", zone="dorm-girls",
                               status="closed" if closed else "open", opened_at=opened, updated_at=opened,
                               opened_by="system", resolved_at=resolved, closed_at=closed))


async def _app(tmp_path: Path, receivers: tuple[dict[str, Any], ...]):
    app = make_app(1, tmp_path)
    app.cfg = dataclasses.replace(app.cfg, alerts=AlertsConfig(digest_at="07:00"), receivers=receivers)
    await app.db_call(lambda db: db.migrate())
    await app.db_call(import_registry, app.registry, SMALL_REGISTRY, "registry.yaml")
    await app.db_call(_fill)
    return app


async def _close(app: Any) -> None:
    await app.db_call(lambda db: db.dispose())
    app._pool.shutdown(wait=True)  # noqa: SLF001


async def test_bureau_webhook_gets_one_digest_with_the_days_figures_and_officers_get_none(tmp_path: Path, webhook) -> None:
    url, received, _ = webhook
    app = await _app(tmp_path, ({"kind": "webhook", "name": "bureau", "url": f"{url}/hook"},
                                {"kind": "webhook", "name": "officer", "url": f"{url}/hook", "schools": ["panhe-ms"]}))
    service = digest.install(app, backoff_s=0.01)
    assert service in app.services and [r.name for r in service.receivers] == ["bureau"]
    await service.start()
    try:
        job = service.scheduler.get_job("daily-digest")
        nxt = job.next_run_time.astimezone(LOCAL)
        assert (nxt.hour, nxt.minute) == (7, 0) and nxt.weekday() < 5
        assert await service.run_once(NOW) == {"bureau": True}
    finally:
        await service.stop()
        await _close(app)
    assert len(received) == 1
    headers, body = received[0]
    assert headers["Idempotency-Key"] == digest.digest_key("bureau", NOW)
    assert body["receiver"] == "bureau"
    panhe, other = body["digest"]["schools"]
    assert (panhe["school"], other["school"]) == ("panhe-ms", "other-ps")
    assert [d["id"] for d in panhe["devices_down"]] == ["cam-ct-01"]
    assert panhe["blind_spot_hours"] == {"dorm-girls": 7.0}  # dark 30 h to 20 h ago: 4 h in the day; dark again 3 h
    assert (panhe["alarm_presses"], panhe["bus_off_route"], panhe["bus_overspeed"]) == (1, 1, 2)
    assert (panhe["tickets_opened"], panhe["tickets_closed"], panhe["median_repair_s"]) == (2, 2, 3 * H)
    assert (other["devices_down"], other["blind_spot_hours"], other["tickets_closed"]) == ([], {}, 0)
    text = body["text"]
    assert text.startswith("### 每日安全简报（2026-11-25 07:00 – 2026-11-26 07:00）")
    assert "**盘河中学**" in text and "> 宿舍盲区时长：女生宿舍 7.0 小时" in text and "> 校车超速：2 次" in text


async def test_receiver_down_gets_the_same_digest_again_under_the_same_key_in_english(tmp_path: Path, webhook) -> None:
    url, received, failures = webhook
    failures["left"] = 2
    app = await _app(tmp_path, ({"kind": "webhook", "name": "bureau", "url": f"{url}/hook", "language": "en"},))
    service = digest.install(app, backoff_s=0.01)
    try:
        assert await service.run_once(NOW) == {"bureau": True}
    finally:
        await _close(app)
    assert len(received) == 3
    assert len({h["Idempotency-Key"] for h, _ in received}) == 1
    assert [b["refused"] for _, b in received[:2]] == [received[2][1]] * 2
    assert "Alarm presses: 1" in received[2][1]["text"]


async def test_unreachable_receiver_gives_up_after_its_attempts(tmp_path: Path) -> None:
    app = await _app(tmp_path, ({"kind": "webhook", "name": "bureau", "url": f"http://127.0.0.1:{free_port()}/hook"},))
    service = digest.install(app, attempts=3, backoff_s=0.01)
    try:
        assert await service.run_once(NOW) == {"bureau": False}
    finally:
        await _close(app)


async def test_digest_runs_on_school_days_only(tmp_path: Path) -> None:
    app = await _app(tmp_path, ())
    try:
        trigger = digest.install(app).trigger()
    finally:
        await _close(app)
    friday_noon = datetime(2026, 11, 27, 12, 0, tzinfo=LOCAL)
    nxt = trigger.get_next_fire_time(None, friday_noon)
    assert nxt == datetime(2026, 11, 30, 7, 0, tzinfo=LOCAL)  # Monday, not Saturday
