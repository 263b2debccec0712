"""The daily digest from the monitor's database to a real webhook receiver: figures of the day, blind
spots from the stored state history, the keeper line, and the same digest again after a refusal."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import update

from alerts.digest import LOCAL, DigestNames
from alerts.outbox import Backoff, OutboxSender
from alerts.routing import parse_receivers
from devices.registry import parse_registry
from monitor.services.digest import DigestService, digest_key
from monitor.storage.db import Database
from monitor.storage.history_tables import DeviceHistoryRecord, WatchLogRecord
from monitor.storage.outbox_store import SqlOutbox, list_outbox
from monitor.storage.registry_store import import_registry
from monitor.storage.runner import DbThread
from monitor.storage.tables import AlarmEventRecord, DeviceRecord, JudgementRecord
from monitor.storage.ticket_tables import TicketRecord
from monitor.tasks import cancel_and_wait
from tests.ports import free_port
from tests.registries import SMALL_REGISTRY
from tests.waiting import let_time_pass, wait_for

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=LOCAL).timestamp()  # a Thursday
H = 3600.0
# timeouts long enough that the running monitor judges nobody down while the test reads the day
REGISTRY = (SMALL_REGISTRY.replace("    name: 盘河中学\n", "    name: 盘河中学\n    keeper: 王老师\n")
            .replace("interval_s: 0.5, missed: 2", "interval_s: 60, missed: 3"))


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
        # two dead cameras in the girls' dormitory: cam-dg-01 down 30 h ago and back 20 h ago (4 h in the
        # day), cam-dg-02 down for the last 3 h (still down): 7 blind-spot hours; the monitor stopped
        # for an hour in between (unknown: no blind spot)
        for at, cam, state_ in ((NOW - 30 * H, "cam-dg-01", "down"), (NOW - 20 * H, "cam-dg-01", "up"),
                                (NOW - 12 * H, "cam-dg-02", "unknown"), (NOW - 11 * H, "cam-dg-02", "up"),
                                (NOW - 3 * H, "cam-dg-02", "down"), (NOW - 2 * H, "cam-ct-01", "down")):
            s.add(DeviceHistoryRecord(time=at, school="panhe-ms", kind="camera", device=cam, state=state_,
                                      reason="test"))
        s.add(WatchLogRecord(school="panhe-ms", at=NOW - 5 * H, author="王老师", token_id=None,
                             zones=["dorm-girls"], note="巡查女生宿舍监控", via="api"))
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


class Desk:
    """The digest's parts over a real SQLite database: the database thread, the outbox sender that
    delivers what the digest queues, and the digest service itself."""

    def __init__(self, tmp_path: Path, receivers: list[dict[str, Any]]) -> None:
        self.db = DbThread(Database(f"sqlite:///{tmp_path / 'campus.db'}"))
        self.receivers = parse_receivers(receivers)
        self.registry = parse_registry(SMALL_REGISTRY, "registry.yaml")
        started = time.monotonic()
        self.clock = lambda: NOW + (time.monotonic() - started)  # the digest's day, moving on as usual
        self.sender = self.new_sender()
        self.service = DigestService("07:00", DigestNames.from_registry(self.registry), self.receivers, self.db,
                                     self.sender, self.clock)
        self.task: asyncio.Task[None] | None = None

    def new_sender(self) -> OutboxSender:
        return OutboxSender(SqlOutbox(self.db.db), self.receivers, group_window_s=0, backoff=Backoff(0.05, 0.2),
                            poll_s=0.2, dead_after_s=5.0, clock=self.clock, in_db=self.db.run)

    async def prepare(self) -> None:
        await self.db.call(Database.migrate)
        await self.db.call(import_registry, self.registry, SMALL_REGISTRY, "registry.yaml")
        await self.db.call(_fill)

    async def send(self) -> None:
        self.task = asyncio.create_task(self.sender.run())

    async def stop_sending(self) -> None:
        await cancel_and_wait([self.task])
        self.task = None

    async def close(self) -> None:
        await self.stop_sending()
        await self.db.call(Database.dispose)
        self.db.close()


@pytest.fixture
async def desk_for(tmp_path: Path):
    made: list[Desk] = []

    async def make(receivers: list[dict[str, Any]]) -> Desk:
        desk = Desk(tmp_path, receivers)
        await desk.prepare()
        made.append(desk)
        return desk

    yield make
    for desk in made:
        await desk.close()


async def test_bureau_webhook_gets_one_digest_with_the_days_figures_and_officers_get_none(desk_for, webhook) -> None:
    url, received, _ = webhook
    desk = await desk_for([{"kind": "webhook", "name": "bureau", "url": f"{url}/hook"},
                           {"kind": "webhook", "name": "officer", "url": f"{url}/hook", "schools": ["panhe-ms"]}])
    service = desk.service
    assert [r.name for r in service.receivers] == ["bureau"]
    await service.start()
    try:
        job = service.scheduler.get_job("daily-digest")
        nxt = job.next_run_time.astimezone(LOCAL)
        assert (nxt.hour, nxt.minute) == (7, 0) and nxt.weekday() < 5
        await desk.send()
        assert await service.run_once(NOW) == {"bureau": True}
        await wait_for(lambda: len(received) == 1, 5, "the digest at the webhook")
    finally:
        await service.stop()
    headers, body = received[0]
    assert headers["Idempotency-Key"] == digest_key("bureau", NOW)
    assert body["receiver"] == "bureau"
    panhe, other = body["digest"]["schools"]
    assert (panhe["school"], other["school"]) == ("panhe-ms", "other-ps")
    assert [d["id"] for d in panhe["devices_down"]] == ["cam-ct-01"]
    assert panhe["blind_spot_hours"] == {"dorm-girls": 7.0}
    assert (panhe["alarm_presses"], panhe["bus_off_route"], panhe["bus_overspeed"]) == (1, 1, 2)
    assert (panhe["tickets_opened"], panhe["tickets_closed"], panhe["median_repair_s"]) == (2, 2, 3 * H)
    assert (other["devices_down"], other["blind_spot_hours"], other["tickets_closed"]) == ([], {}, 0)
    assert (panhe["watch_log_entries"], body["digest"]["no_keeper_entry"]) == (1, ["other-ps"])
    text = body["text"]
    assert text.startswith("### 每日安全简报（2026-11-25 07:00 – 2026-11-26 07:00）")
    assert "**当日无监控使用记录的学校：其他小学（1 所）**" in text
    assert "**盘河中学**" in text and "> 宿舍盲区时长：女生宿舍 7.0 小时" in text and "> 校车超速：2 次" in text


async def test_a_receiver_down_gets_the_same_digest_again_under_the_same_key_in_english(desk_for, webhook) -> None:
    url, received, failures = webhook
    failures["left"] = 2
    desk = await desk_for([{"kind": "webhook", "name": "bureau", "url": f"{url}/hook", "language": "en"}])
    await desk.send()
    assert await desk.service.run_once(NOW) == {"bureau": True}
    await wait_for(lambda: len(received) == 3, 10, "two refusals and the delivery")
    assert len({h["Idempotency-Key"] for h, _ in received}) == 1
    assert [b["refused"] for _, b in received[:2]] == [received[2][1]] * 2
    assert "Alarm presses: 1" in received[2][1]["text"]


async def test_the_same_day_queued_twice_is_sent_once(desk_for, webhook) -> None:
    url, received, _ = webhook
    desk = await desk_for([{"kind": "webhook", "name": "bureau", "url": f"{url}/hook"}])
    assert await desk.service.run_once(NOW) == {"bureau": True}
    assert await desk.service.run_once(NOW) == {"bureau": False}  # e.g. rerun after a restart
    await desk.send()
    await wait_for(lambda: len(received) == 1, 5, "the digest at the webhook")
    await let_time_pass(0.6)  # a few sender polls: nothing more leaves
    assert len(received) == 1


async def test_a_restart_during_the_retries_still_delivers_that_days_digest(desk_for, webhook) -> None:
    url, received, failures = webhook
    failures["left"] = 1_000  # the receiver is down
    desk = await desk_for([{"kind": "webhook", "name": "bureau", "url": f"{url}/hook"}])
    await desk.send()
    await desk.service.run_once(NOW)
    await wait_for(lambda: len(received) >= 2, 5, "retries while the receiver is down")
    await desk.stop_sending()  # the monitor stops in the middle of the retries
    failures["left"] = 0
    desk.sender = desk.new_sender()  # and starts again: the outbox still holds the digest
    await desk.send()
    await wait_for(lambda: "digest" in received[-1][1], 5, "the digest after the restart")
    assert len({h["Idempotency-Key"] for h, _ in received}) == 1


async def test_an_unreachable_receiver_makes_the_digest_a_dead_letter(desk_for) -> None:
    desk = await desk_for([{"kind": "webhook", "name": "bureau", "url": f"http://127.0.0.1:{free_port()}/hook"}])
    await desk.send()
    await desk.service.run_once(NOW - 10)  # queued 10 s before the clock: older than dead_after_s (5 s)
    dead = await wait_for(lambda: desk.db.call(list_outbox, "dead", "bureau"), 5, "a dead letter")
    assert [(r["kind"], r["idempotency_key"]) for r in dead] == [("digest", digest_key("bureau", NOW - 10))]


async def test_digest_runs_on_school_days_only(desk_for) -> None:
    desk = await desk_for([])
    friday_noon = datetime(2026, 11, 27, 12, 0, tzinfo=LOCAL)
    nxt = desk.service.trigger().get_next_fire_time(None, friday_noon)
    assert nxt == datetime(2026, 11, 30, 7, 0, tzinfo=LOCAL)  # Monday, not Saturday

