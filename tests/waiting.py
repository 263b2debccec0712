"""Waiting in tests: for a condition with a deadline, never for a guessed while.

- `wait_for(condition, timeout, what)` (async) and `wait_until(...)` (sync) poll `condition` until it
  returns something truthy and return that; past the deadline the test fails naming `what`. An async
  `condition` (returning an awaitable) is awaited at each poll.
- `let_time_pass(seconds)` is a pause that is part of the scenario: devices stay silent until a deadline
  passes, a bus drives between two fixes, nothing may happen for a while. It waits for nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(condition: Callable[[], T | Awaitable[T]], timeout: float, what: str = "the condition",
                   step: float = 0.05) -> T:
    """Poll `condition()` every `step` s until it is truthy; return its value. Fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(step)


def wait_until(condition: Callable[[], T], timeout: float, what: str = "the condition", step: float = 0.02) -> T:
    """`wait_for` for code that is not async: blocks the calling thread."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)
    return result


async def let_time_pass(seconds: float) -> None:
    """A pause the scenario needs (a deadline passes, devices keep silent); not a wait for anything."""
    await asyncio.sleep(seconds)
