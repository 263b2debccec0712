"""The ticket desk while the database is away: one log line per outage (through DbHealth), no
traceback per retry, and the changes kept and written in order when it is back."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from devices.judge import Judge
from devices.registry import parse_registry
from monitor.config import TicketsConfig
from monitor.services.dbhealth import DbHealth
from monitor.services.tickets import TicketDesk
from monitor.storage.audit_store import Actor
from tests.registries import SMALL_REGISTRY


class FlakyDb:
    """Stands in for the DbThread: refuses every call while `down`, records what it stored."""

    def __init__(self) -> None:
        self.down = False
        self.stored: list[Any] = []

    async def call(self, fn: Any, *args: Any) -> Any:
        if self.down:
            raise ConnectionRefusedError("connection refused (the database is away)")
        self.stored.extend(args[0])
        return None


async def test_a_database_outage_is_one_line_and_ticket_changes_are_kept(caplog) -> None:
    caplog.set_level(logging.INFO)
    registry = parse_registry(SMALL_REGISTRY, "registry.yaml")
    now = [1000.0]
    db = FlakyDb()
    health = DbHealth(lambda: now[0])
    desk = TicketDesk(TicketsConfig(), registry, Judge(registry), db, lambda: now[0], health)  # type: ignore[arg-type]
    db.down = True
    with pytest.raises(ConnectionRefusedError):  # a crew action is answered with the failure
        await desk.open_by_hand(("panhe-ms", "camera", "cam-dg-01"), "dorm-girls", Actor("crew"), "lens cracked")
    for _ in range(20):  # the timer retries every tick
        now[0] += 0.5
        await desk._tick()
    assert health.down and health.failures == 21
    db.down = False
    now[0] += 0.5
    await desk._tick()
    assert not health.down
    assert [change.ticket.device for change, _ in db.stored] == ["cam-dg-01"]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [m for m in lines if "database unreachable" in m] and len(lines) == 2, lines
    assert "database back after 10.5 s (21 failed writes); held back at most: ticket changes 1" in lines[1], lines
    assert not [r for r in caplog.records if r.exc_info], "no traceback per retry"
