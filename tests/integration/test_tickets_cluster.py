"""Tickets with several instances (contract §9), two ticket desks on one real PostgreSQL: a partition
taken brings its open tickets; a crew acting through the instance that does not judge the school is
heard by the one that does, whose rules go on from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerts.tickets import TicketStatus
from devices.events import Judgement, Rule, Severity
from devices.judge import Judge
from devices.registry import parse_registry
from monitor.config import TicketsConfig
from monitor.services.tickets import TicketDesk
from monitor.storage.audit_store import Actor
from monitor.storage.db import Database
from monitor.storage.runner import DbThread
from monitor.storage.ticket_store import list_tickets
from tests.registries import SMALL_REGISTRY

pytestmark = pytest.mark.integration

SCHOOL = "panhe-ms"
CAM = (SCHOOL, "camera", "cam-dg-01")
RULES = TicketsConfig(open_after_s=60, verify_s=30, reopen_after_s=600)


class Instance:
    """One instance's ticket desk and its database thread, on a shared clock."""

    def __init__(self, url: str, now: list[float]) -> None:
        registry = parse_registry(SMALL_REGISTRY, "registry.yaml")
        self.thread = DbThread(Database(url))
        self.owned: set[str] = set()
        self.desk = TicketDesk(RULES, registry, Judge(registry), self.thread, lambda: now[0],
                               owns=lambda school: school in self.owned)

    async def take(self) -> None:
        self.owned.add(SCHOOL)
        await self.desk.take({SCHOOL})

    async def let_go(self) -> None:
        await self.desk.let_go({SCHOOL})
        self.owned.discard(SCHOOL)


@pytest.fixture
def two(postgres_url: str) -> Iterator[tuple[Instance, Instance, list[float], Database]]:
    db = Database(postgres_url)
    db.migrate()
    now = [1_000_000.0]
    a, b = Instance(postgres_url, now), Instance(postgres_url, now)
    yield a, b, now, db
    for i in (a, b):
        i.thread.close()
    db.dispose()


def stored(db: Database) -> list[tuple[str, str]]:
    return [(t.device, str(t.status)) for t in list_tickets(db, None, None, None, None)]


async def open_ticket(owner: Instance, now: list[float]) -> str:
    owner.desk.on_judgements([Judgement(now[0], Rule.CAMERA_DOWN, Severity.WARNING, SCHOOL, CAM[2], True, "dorm-girls")])
    now[0] += RULES.open_after_s
    await owner.desk._tick()
    ticket = owner.desk.book.for_device(CAM)
    assert ticket is not None
    return ticket.id


async def test_a_partition_taken_brings_its_open_tickets_and_the_new_owner_closes_them(two) -> None:
    a, b, now, db = two
    await a.take()
    await b.desk.start()
    tid = await open_ticket(a, now)
    assert b.desk.book.get(tid) is None  # b judges nothing yet

    await a.let_go()
    assert a.desk.book.open_tickets() == []
    await b.take()
    ticket = b.desk.book.get(tid)
    assert ticket is not None and ticket.status is TicketStatus.OPEN

    # the device is still down on b's watch: no second ticket; repaired, resolved and verified by b
    b.desk.on_judgements([Judgement(now[0], Rule.CAMERA_DOWN, Severity.WARNING, SCHOOL, CAM[2], True, "dorm-girls")])
    now[0] += RULES.open_after_s
    await b.desk._tick()
    assert stored(db) == [("cam-dg-01", "open")]
    b.desk.on_judgements([Judgement(now[0], Rule.CAMERA_DOWN, Severity.WARNING, SCHOOL, CAM[2], False, "dorm-girls")])
    await b.desk.resolve(tid, "new power supply", Actor("crew"))
    now[0] += RULES.verify_s
    await b.desk._tick()
    assert stored(db) == [("cam-dg-01", "closed")]
    await b.desk.stop()


async def test_a_crew_resolving_through_the_other_instance_is_verified_and_closed_by_the_owner(two) -> None:
    a, b, now, db = two
    await a.desk.start()
    await b.desk.start()
    await a.take()
    tid = await open_ticket(a, now)

    # the crew's phone reaches b, which does not judge the school: b acts on the ticket as stored
    resolved = await b.desk.resolve(tid, "lens replaced", Actor("crew"))
    assert resolved.status is TicketStatus.VERIFYING
    assert stored(db) == [("cam-dg-01", "verifying")]
    assert b.desk.book.open_tickets() == [], "b keeps no ticket of a school it does not judge"

    await a.desk._sync()
    ticket = a.desk.book.get(tid)
    assert ticket is not None and ticket.status is TicketStatus.VERIFYING, "the owner heard of the resolve"
    a.desk.on_judgements([Judgement(now[0], Rule.CAMERA_DOWN, Severity.WARNING, SCHOOL, CAM[2], False, "dorm-girls")])
    now[0] += RULES.verify_s
    await a.desk._tick()
    assert stored(db) == [("cam-dg-01", "closed")]
    assert a.desk.book.get(tid) is None

    # a crew acting on a ticket of that school through b again: 409 from the stored state, not b's memory
    with pytest.raises(Exception, match="closed or does not exist"):
        await b.desk.note(tid, "one more thing", Actor("crew"))
    await a.desk.stop()
    await b.desk.stop()
