"""The outbox against a real HTTP receiver that goes down and comes back, on SQLite."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from alerts.lifecycle import AlertBook, LifecycleConfig
from alerts.outbox import Backoff, OutboxSender, OutboxStats
from alerts.routing import Router, parse_receivers
from alerts.wording import RegistryNames
from devices.events import AlarmEvent, Judgement, Rule, Severity
from monitor.storage.alert_store import record_changes
from monitor.storage.alert_tables import OutboxRecord
from monitor.storage.db import Database
from monitor.storage.outbox_store import SqlOutbox
from monitor.storage.runner import DbThread
from tests.ports import free_port
from tests.waiting import let_time_pass, wait_for

pytestmark = pytest.mark.integration


class Hook:
    """A webhook receiver that records every request, can refuse (503) after reading, or be stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.attempts: list[str] = []  # Idempotency-Key of every request, failed ones too
        self.delivered: dict[str, dict] = {}  # key -> body, as a deduplicating receiver keeps them
        self.order: list[str] = []
        self.failing = False
        self.delay_s = 0.0  # how long it takes to answer
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        body = await request.json()
        self.attempts.append(key)
        await asyncio.sleep(self.delay_s)
        if self.failing:
            return web.Response(status=503)
        if key not in self.delivered:
            self.delivered[key] = body
            self.order.append(key)
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def make_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'campus.db'}")
    db.migrate()
    return db


def alerts_in_order(hook: Hook) -> list[tuple[str, str]]:
    return [(a["subject"], a["state"]) for key in hook.order for a in hook.delivered[key]["alerts"]]


def feed(db: Database, book: AlertBook, router: Router, sender: OutboxSender | None, changes) -> None:
    notices = router.route(changes)
    with db.session() as s:
        record_changes(s, changes, notices)
    if sender is not None:
        sender.wake()


@pytest.fixture
def setup(tmp_path: Path):
    port = free_port()
    receivers = parse_receivers([{"kind": "webhook", "name": "bureau", "url": f"http://127.0.0.1:{port}/hook"}])
    book = AlertBook(LifecycleConfig(remind_after_s=0), RegistryNames())
    return make_db(tmp_path), book, Router(receivers, group_window_s=0), receivers, Hook(port)


_threads: list[DbThread] = []


@pytest.fixture(autouse=True)
def _close_db_threads():
    yield
    while _threads:
        _threads.pop().close()


def one_db_thread(db: Database):
    """The table work on one database thread, as the service runs it (SQLite has one writer: two
    threads writing at once would wait on SQLite's busy backoff, which the service never does)."""
    thread = DbThread(db)
    _threads.append(thread)
    return thread.run


def sender_for(db, receivers, stats=None) -> OutboxSender:
    return OutboxSender(SqlOutbox(db), receivers, group_window_s=0, backoff=Backoff(0.05, 0.2), poll_s=0.5, stats=stats,
                        in_db=one_db_thread(db))


async def test_a_receiver_down_for_a_while_gets_everything_once_and_in_order(setup):
    db, book, router, receivers, hook = setup
    stats = OutboxStats()
    sender = sender_for(db, receivers, stats)
    task = asyncio.create_task(sender.run())
    await hook.start()
    t = time.time()
    feed(db, book, router, sender, book.judge([Judgement(t, Rule.CAMERA_DOWN, Severity.WARNING, "s1", "cam-0", True)], t))
    await wait_for(lambda: len(hook.order) == 1, 10)

    hook.failing = True  # answers 503: every attempt must carry the same key
    expected = [("cam-0", "firing")]
    for i in range(1, 4):
        feed(db, book, router, sender, book.judge([Judgement(t, Rule.CAMERA_DOWN, Severity.WARNING, "s1", f"cam-{i}", True)], t))
        expected.append((f"cam-{i}", "firing"))
    await wait_for(lambda: len(hook.attempts) >= 4, 10)
    assert set(hook.attempts[1:]) == {hook.attempts[1]}, "retries of the head message reuse its key; later ones wait"
    await hook.stop()  # now gone entirely: connection refused
    for i in range(1, 3):
        feed(db, book, router, sender, book.judge([Judgement(t, Rule.CAMERA_DOWN, Severity.WARNING, "s1", f"cam-{i}", False)], t))
        expected.append((f"cam-{i}", "resolved"))
    feed(db, book, router, sender, book.alarm(AlarmEvent("s1", "alarm-1", "e1", "press", t, t), t))
    expected.append(("alarm-1", "firing"))
    await wait_for(lambda: stats.queue_depth.get("bureau") == 6 and stats.notifications[("bureau", "retry")] >= 2, 10,
                   "six messages queued and the head retried twice")

    hook.failing = False
    await hook.start()
    await wait_for(lambda: len(hook.order) == len(expected), 10, "every message delivered")
    await wait_for(lambda: stats.notifications[("bureau", "sent")] == len(expected), 10, "every delivery counted")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await hook.stop()
    # the press has its own lane: it may overtake the older grouped messages; the rest keep their order
    got = alerts_in_order(hook)
    assert sorted(got) == sorted(expected)
    assert [a for a in got if a[0] != "alarm-1"] == [a for a in expected if a[0] != "alarm-1"]
    assert len(hook.attempts) - len(set(hook.attempts)) >= 2  # retried, yet each delivered once
    assert stats.notifications[("bureau", "sent")] == len(expected)
    with db.session() as s:
        assert set(s.scalars(select(OutboxRecord.state))) == {"sent"}


async def test_a_restarted_sender_resumes_the_pending_messages(setup):
    db, book, router, receivers, hook = setup
    t = time.time()
    first = sender_for(db, receivers)
    task = asyncio.create_task(first.run())
    for i in range(5):
        feed(db, book, router, first, book.judge([Judgement(t, Rule.CAMERA_DOWN, Severity.WARNING, "s1", f"cam-{i}", True)], t))
    await let_time_pass(0.3)  # receiver not up: all stay pending, the head is being retried
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    with db.session() as s:
        assert list(s.scalars(select(OutboxRecord.state))) == ["pending"] * 5

    await hook.start()
    second = sender_for(db, receivers)
    task = asyncio.create_task(second.run())
    await wait_for(lambda: len(hook.order) == 5, 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await hook.stop()
    assert alerts_in_order(hook) == [(f"cam-{i}", "firing") for i in range(5)]


async def test_a_message_older_than_the_dead_letter_age_is_given_up(setup):
    db, book, router, receivers, hook = setup
    stats = OutboxStats()
    sender = OutboxSender(SqlOutbox(db), receivers, group_window_s=0, dead_after_s=0.3, backoff=Backoff(0.05, 0.1), poll_s=0.2, stats=stats,
                          in_db=one_db_thread(db))
    t = time.time()
    task = asyncio.create_task(sender.run())
    feed(db, book, router, sender, book.judge([Judgement(t, Rule.CAMERA_DOWN, Severity.WARNING, "s1", "cam-0", True)], t))
    await wait_for(lambda: stats.notifications[("bureau", "dead")] == 1, 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    with db.session() as s:
        row = s.scalars(select(OutboxRecord)).one()
    assert row.state == "dead" and row.attempts >= 2 and "ClientConnectorError" in (row.last_error or "")


async def test_changes_of_one_school_within_the_window_arrive_as_one_message(tmp_path: Path):
    port = free_port()
    receivers = parse_receivers([{"kind": "webhook", "name": "bureau", "url": f"http://127.0.0.1:{port}/hook"}])
    db, book, hook = make_db(tmp_path), AlertBook(LifecycleConfig(remind_after_s=0), RegistryNames()), Hook(port)
    router = Router(receivers, group_window_s=0.5)
    sender = OutboxSender(SqlOutbox(db), receivers, group_window_s=0.5, backoff=Backoff(0.05, 0.2), poll_s=0.2,
                          in_db=one_db_thread(db))
    await hook.start()
    task = asyncio.create_task(sender.run())
    t = time.time()
    for i in range(3):
        feed(db, book, router, sender, book.judge([Judgement(t, Rule.CAMERA_DOWN, Severity.WARNING, "s1", f"cam-{i}", True)], t))
    feed(db, book, router, sender, book.alarm(AlarmEvent("s1", "alarm-1", "e1", "press", t, t), t))
    await wait_for(lambda: len(hook.order) == 2, 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await hook.stop()
    press, group = (hook.delivered[k]["alerts"] for k in hook.order)
    assert [a["subject"] for a in press] == ["alarm-1"]  # the press did not wait
    assert [a["subject"] for a in group] == ["cam-0", "cam-1", "cam-2"]


async def test_a_press_overtakes_a_storm_waiting_for_the_same_receiver(setup):
    db, book, router, receivers, hook = setup
    sender = sender_for(db, receivers)
    await hook.start()
    t = time.time()
    storm = [Judgement(t, Rule.CAMERA_DOWN, Severity.WARNING, f"s{i}", f"cam-{i}", True) for i in range(300)]
    feed(db, book, router, None, book.judge(storm, t))
    task = asyncio.create_task(sender.run())
    await wait_for(lambda: len(hook.order) >= 5, 10)
    fed = time.monotonic()
    feed(db, book, router, sender, book.alarm(AlarmEvent("s1", "alarm-1", "e1", "press", t, t), t))
    await wait_for(lambda: any(a["subject"] == "alarm-1" for k in hook.order for a in hook.delivered[k]["alerts"]), 10)
    waited = time.monotonic() - fed
    before = next(i for i, k in enumerate(hook.order) if hook.delivered[k]["alerts"][0]["subject"] == "alarm-1")
    await wait_for(lambda: len(hook.order) == 301, timeout=30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await hook.stop()
    assert before < 150, f"the press left after {before} of the storm's 300 messages"
    assert waited < 1.0
    storm = [a[0] for a in alerts_in_order(hook) if a[0] != "alarm-1"]
    assert sorted(storm) == sorted(f"cam-{i}" for i in range(300))  # each once


async def test_a_receiver_that_comes_back_gets_a_waiting_press_within_the_urgent_backoff(setup):
    db, book, router, receivers, hook = setup
    sender = OutboxSender(SqlOutbox(db), receivers, group_window_s=0, backoff=Backoff(2.0, 300.0),
                          urgent_backoff=Backoff(0.2, 0.5), poll_s=5.0,
                          in_db=one_db_thread(db))
    task = asyncio.create_task(sender.run())
    t = time.time()
    hook.failing = True
    await hook.start()
    feed(db, book, router, sender, book.judge([Judgement(t, Rule.CAMERA_DOWN, Severity.WARNING, "s1", "cam-0", True)], t))
    feed(db, book, router, sender, book.alarm(AlarmEvent("s1", "alarm-1", "e1", "press", t, t), t))
    await wait_for(lambda: len(hook.attempts) >= 6, 10)  # the normal lane backs off for seconds; the urgent one probes
    hook.failing = False
    back = time.monotonic()
    await wait_for(lambda: len(hook.order) == 2, timeout=5)
    took = time.monotonic() - back
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await hook.stop()
    assert took < 1.5, "the press probe found the receiver back, and the grouped message followed at once"
    assert sorted(hook.delivered[k]["alerts"][0]["subject"] for k in hook.order) == ["alarm-1", "cam-0"]


async def test_a_school_let_go_waits_for_its_message_in_flight_and_sends_nothing_more_until_taken_again(setup):
    """Several instances hand a partition over: the old owner must have written "sent" before it
    releases the partition, or the next owner sends the same message again."""
    db, book, router, receivers, hook = setup
    sender = sender_for(db, receivers)
    hook.delay_s = 0.5
    await hook.start()
    task = asyncio.create_task(sender.run())
    t = time.time()
    feed(db, book, router, sender, book.alarm(AlarmEvent("s1", "alarm-1", "e1", "press", t, t), t))
    await wait_for(lambda: len(hook.attempts) == 1, 10, "the press is at the receiver, not yet answered")
    await sender.let_go({"s1"})
    assert len(hook.order) == 1, "let_go returned before the message in flight was answered"
    with db.session() as s:
        assert s.scalars(select(OutboxRecord.state)).all() == ["sent"], "released before 'sent' was written"

    hook.delay_s = 0.0
    feed(db, book, router, sender, book.alarm(AlarmEvent("s1", "alarm-2", "e2", "press", t, t), t))
    feed(db, book, router, sender, book.alarm(AlarmEvent("s2", "alarm-3", "e3", "press", t, t), t))
    await wait_for(lambda: len(hook.order) == 2, 10, "the press of a school still ours")
    await let_time_pass(0.5)
    assert [a[0] for a in alerts_in_order(hook)] == ["alarm-1", "alarm-3"], "a school let go sent a message"

    sender.take({"s1"})
    await wait_for(lambda: len(hook.order) == 3, 10, "the school's press once it is taken again")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await hook.stop()
    assert [a[0] for a in alerts_in_order(hook)] == ["alarm-1", "alarm-3", "alarm-2"]
