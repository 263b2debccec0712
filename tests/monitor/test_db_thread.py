"""The database thread: calls run one at a time in the order asked, an urgent call before every
background call still waiting (never before the one running), errors reach the caller."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from monitor.storage.db import Database
from monitor.storage.runner import DbThread


@pytest.fixture
def thread(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'campus.db'}")
    t = DbThread(db)
    yield t
    t.close()
    db.dispose()


async def test_an_urgent_call_goes_before_the_background_calls_waiting_but_not_the_one_running(thread) -> None:
    ran: list[str] = []
    release = threading.Event()
    running = threading.Event()

    def blocker() -> None:
        running.set()
        release.wait(5)
        ran.append("running")

    first = asyncio.ensure_future(thread.run(blocker))
    await asyncio.to_thread(running.wait, 5)
    background = [asyncio.ensure_future(thread.run(ran.append, f"background-{i}")) for i in range(3)]
    await asyncio.sleep(0)  # queued in this order
    urgent = asyncio.ensure_future(thread.run_urgent(ran.append, "urgent"))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(first, *background, urgent)
    assert ran == ["running", "urgent", "background-0", "background-1", "background-2"]


async def test_calls_get_the_database_and_their_errors(thread) -> None:
    assert await thread.call(lambda db, x: (db.dialect, x), 7) == ("sqlite", 7)

    def broken(db: Database) -> None:
        raise ValueError("no such table")

    with pytest.raises(ValueError, match="no such table"):
        await thread.call_urgent(broken)
    assert await thread.run(sum, [1, 2]) == 3, "the thread carries on after an error"


async def test_a_call_whose_caller_gave_up_before_it_ran_is_not_run(thread) -> None:
    ran: list[str] = []
    release = threading.Event()
    first = asyncio.ensure_future(thread.run(release.wait, 5))
    await asyncio.sleep(0.02)
    gone = asyncio.ensure_future(thread.run(ran.append, "gone"))
    await asyncio.sleep(0)
    gone.cancel()
    kept = asyncio.ensure_future(thread.run(ran.append, "kept"))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, kept)
    assert ran == ["kept"]
