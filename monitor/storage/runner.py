"""The service's one database thread.

Every table operation of the running service goes through a `DbThread`, so SQLite sees a single
writer and the asyncio loop never waits on a disk. Calls run one at a time, in the order asked,
except that an *urgent* call (`call_urgent`, `run_urgent`: an alarm press's write, the outbox's
urgent lane) goes before every background call still waiting (device states, the state history,
the normal outbox lane, tickets). A press's write thus waits for the one call running at most, never
for the queue behind it: at 200,000 devices a persist of device states is many writes of a few hundred
rows, and a press used to wait for all of them that were asked before it.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from monitor.storage.db import Database

P = ParamSpec("P")
T = TypeVar("T")

URGENT, BACKGROUND, CLOSING = 0, 1, 2

_Job = tuple[int, int, Callable[[], Any] | None, "asyncio.Future[Any] | None", "asyncio.AbstractEventLoop | None"]


class DbThread:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._work, name="db", daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(db, *args, **kwargs)` on the database thread."""
        return await self._submit(BACKGROUND, partial(fn, self.db, *args, **kwargs))

    async def call_urgent(self, fn: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call`, ahead of every background call waiting."""
        return await self._submit(URGENT, partial(fn, self.db, *args, **kwargs))

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the database thread, for parts that hold the handle themselves."""
        return await self._submit(BACKGROUND, partial(fn, *args, **kwargs))

    async def run_urgent(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`run`, ahead of every background call waiting."""
        return await self._submit(URGENT, partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Run what was asked, then end the thread."""
        self._jobs.put((CLOSING, next(self._order), None, None, None))
        self._thread.join()

    async def _submit(self, priority: int, job: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._jobs.put((priority, next(self._order), job, done, loop))
        return await done

    def _work(self) -> None:
        while True:
            _, _, job, done, loop = self._jobs.get()
            if job is None or done is None or loop is None:
                return
            if done.cancelled():  # its caller gave up before it ran (as an executor's queued call)
                continue
            try:
                result = job()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                _settle(loop, done, None, exc)
            else:
                _settle(loop, done, result, None)


def _settle(loop: asyncio.AbstractEventLoop, done: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    def settle() -> None:
        if done.cancelled():
            return
        if exc is not None:
            done.set_exception(exc)
        else:
            done.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass
