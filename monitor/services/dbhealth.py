"""Whether the database is taking writes, as the parts that write find out, told once per outage.

Parts that write (the alert writer, the device-state saver) report each failed and each successful
write here. The first failure of an outage logs one line; the first success after it logs one line
with the outage's length, the failed attempts and the most each part held back; nothing in between.
Listeners hear of the recovery. Only a write that was made reports success.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def short_error(exc: BaseException) -> str:
    """The driver's own message when there is one (no traceback, no SQL), on one line, cut short."""
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return " ".join(text.split())[:300]


class DbHealth:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.down_since: float | None = None
        self.failures = 0
        self.outages = 0
        self._held_most: dict[str, int] = {}
        self._listeners: list[Callable[[], None]] = []

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def on_recovery(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def failed(self, what: str, exc: BaseException, held: int = 0) -> None:
        """A write of `what` failed; `held` things of it wait in memory."""
        self.failures += 1
        self._held_most[what] = max(held, self._held_most.get(what, 0))
        if self.down_since is None:
            self.down_since = self.clock()
            self.outages += 1
            log.error("database unreachable (%s: %s): judging goes on in memory, alert changes and alarm events "
                      "are held back and written when it is back", what, short_error(exc))

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        took = self.clock() - self.down_since
        held = ", ".join(f"{what} {n}" for what, n in sorted(self._held_most.items())) or "nothing"
        log.warning("database back after %.1f s (%d failed writes); held back at most: %s", took, self.failures, held)
        self.down_since, self.failures, self._held_most = None, 0, {}
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001
                log.exception("database recovery listener failed")

    def status(self) -> dict[str, Any]:
        return {"database_down_since": self.down_since, "database_outages": self.outages}
