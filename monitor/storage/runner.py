"""The service's one database thread.

Every table operation of the running service goes through `DbThread.call`, so SQLite sees a single
writer, writes stay in the order they were asked for, and the asyncio loop never waits on a disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Concatenate, ParamSpec, TypeVar

from monitor.storage.db import Database

P = ParamSpec("P")
T = TypeVar("T")


class DbThread:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")

    async def call(self, fn: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(db, *args, **kwargs)` on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, self.db, *args, **kwargs))

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the database thread, for parts that hold the handle themselves."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
