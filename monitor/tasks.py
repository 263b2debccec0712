"""Small helpers for the service's background tasks: a job run every so often, and stopping tasks."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object] | object]


def every(period_s: float, job: Job, name: str, *, first_after_s: float | None = None) -> asyncio.Task[None]:
    """A task that runs `job` (plain or async) every `period_s` seconds until cancelled. An exception
    in one run is logged with the task's name and never ends the task."""

    async def loop() -> None:
        await asyncio.sleep(period_s if first_after_s is None else first_after_s)
        while True:
            try:
                result = job()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001 - a periodic job must survive anything
                log.exception("periodic job %s failed", name)
            await asyncio.sleep(period_s)

    return asyncio.create_task(loop(), name=name)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object] | asyncio.Task[None] | None]) -> None:
    """Cancel the tasks and wait until each has ended; what they raise while ending is dropped."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass


def stop_on_signals() -> asyncio.Event:
    """An event set when the process is asked to stop (SIGINT, SIGTERM): what a command waits on."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    return stop
