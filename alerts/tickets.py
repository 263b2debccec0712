"""Repair tickets (contract §5): device down and up, crew actions and the time in; ticket changes out.

`TicketBook` is pure and synchronous: it never reads the clock and does no I/O. The edge
(`monitor.services.tickets`) feeds it the `camera_down` / `alarm_panel_down` / `bus_gps_lost` judgements as
`down` / `up`, calls `tick(now)` about once a second, stores every `TicketChange` it returns and
writes each one to the audit log.

Rules it keeps:
- a device down for `open_after_s` without a break opens one ticket; never two not-closed tickets
  for one device (a device that goes down again while its ticket is not closed adds nothing);
- a ticket can be opened by hand for any device without a not-closed ticket (a damaged camera found
  on a walk round);
- `open` -> `in_progress` when it is assigned (taken); the crew resolves it (`open` or `in_progress`)
  -> `verifying`;
- `verifying` -> `closed` once the device has been up, without a break, for `verify_s` counted from
  the resolve (up time before the resolve does not count; a down in between restarts the count);
- `verifying` -> `open` again (reopened) if the device is down at any moment from `reopen_after_s`
  after the resolve on; the assignee is kept, so the same crew sees it come back;
- a device that comes back by itself does not close an `open` / `in_progress` ticket: the crew says
  what was wrong and resolves it, and verification then runs as usual;
- `up` here means "not down": a faulty camera is alive (contract §6 counts it up).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from enum import StrEnum

DeviceKey = tuple[str, str, str]  # school, kind (camera, alarm, gps), device id


class TicketStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    CLOSED = "closed"


class Action(StrEnum):
    OPENED = "opened"  # by the rule, after open_after_s down
    OPENED_BY_HAND = "opened_by_hand"
    ASSIGNED = "assigned"
    NOTED = "noted"
    RESOLVED = "resolved"
    CLOSED = "closed"  # verified healthy for verify_s
    REOPENED = "reopened"  # still down reopen_after_s after resolve


SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class TicketRules:
    open_after_s: float = 600.0
    verify_s: float = 300.0
    reopen_after_s: float = 1800.0


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str
    school: str
    kind: str
    device: str
    zone: str | None
    status: TicketStatus
    opened_at: float
    updated_at: float
    opened_by: str = SYSTEM
    down_since: float | None = None  # when the device went down, for a ticket the rule opened
    assignee: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    closed_at: float | None = None
    reopened: int = 0
    notes: int = 0
    version: int = 1

    @property
    def key(self) -> DeviceKey:
        return (self.school, self.kind, self.device)

    @property
    def is_open(self) -> bool:
        return self.status is not TicketStatus.CLOSED

    def repair_s(self) -> float | None:
        """How long the device was out of service: from down (or opened) to closed."""
        if self.closed_at is None:
            return None
        return self.closed_at - (self.down_since if self.down_since is not None else self.opened_at)


def day_numbers(opened: Iterable[tuple[str, float]], tz: tzinfo) -> dict[str, str]:
    """Short ticket numbers a crew can read out on the phone: the local day and the ticket's place among
    that day's tickets (`1130-3`, the third opened on 30 November). Given every ticket of the days in
    question as (id, opened_at); the ticket's `id` stays its key everywhere."""
    by_day: dict[str, list[tuple[float, str]]] = {}
    for ticket_id, at in opened:
        day = datetime.fromtimestamp(at, UTC).astimezone(tz).strftime("%m%d")
        by_day.setdefault(day, []).append((at, ticket_id))
    numbers = {}
    for day, items in by_day.items():
        for n, (_, ticket_id) in enumerate(sorted(items), start=1):
            numbers[ticket_id] = f"{day}-{n}"
    return numbers


@dataclass(frozen=True, slots=True)
class TicketChange:
    action: Action
    ticket: Ticket
    at: float
    actor: str
    note: str | None = None


class TicketError(Exception):
    """A ticket action that the rules refuse; `status` is the HTTP status it maps to."""

    def __init__(self, status: int, message: str, ticket_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.ticket_id = ticket_id


def _new_id() -> str:
    return "t-" + uuid.uuid4().hex[:12]


@dataclass(slots=True)
class _Health:
    down: bool
    since: float
    zone: str | None = None


class TicketBook:
    def __init__(self, rules: TicketRules, new_id: Callable[[], str] = _new_id) -> None:
        self.rules = rules
        self._new_id = new_id
        self._tickets: dict[str, Ticket] = {}  # not closed only
        self._by_device: dict[DeviceKey, str] = {}
        self._health: dict[DeviceKey, _Health] = {}
        self._due: set[DeviceKey] = set()  # down devices without a ticket yet

    # ---- reading --------------------------------------------------------------------------------

    def open_tickets(self) -> list[Ticket]:
        return sorted(self._tickets.values(), key=lambda t: (t.opened_at, t.id))

    def get(self, ticket_id: str) -> Ticket | None:
        return self._tickets.get(ticket_id)

    def for_device(self, key: DeviceKey) -> Ticket | None:
        return self._tickets.get(self._by_device.get(key, ""))

    def is_down(self, key: DeviceKey) -> bool:
        h = self._health.get(key)
        return bool(h and h.down)

    # ---- device health --------------------------------------------------------------------------

    def down(self, key: DeviceKey, at: float, zone: str | None = None) -> list[TicketChange]:
        h = self._health.get(key)
        if h is not None and h.down:
            return []
        self._health[key] = _Health(True, at, zone)
        if key not in self._by_device:
            self._due.add(key)
        return self.tick(at)

    def up(self, key: DeviceKey, at: float) -> list[TicketChange]:
        h = self._health.get(key)
        if h is not None and not h.down:
            return []
        self._health[key] = _Health(False, at, h.zone if h else None)
        self._due.discard(key)
        return self.tick(at)

    # ---- timers ---------------------------------------------------------------------------------

    def tick(self, now: float) -> list[TicketChange]:
        changes: list[TicketChange] = []
        for key in sorted(self._due):
            h = self._health[key]
            if now - h.since >= self.rules.open_after_s:
                self._due.discard(key)
                changes.append(self._open(key, h.zone, now, SYSTEM, down_since=h.since, action=Action.OPENED))
        for ticket in [t for t in self.open_tickets() if t.status is TicketStatus.VERIFYING]:
            change = self._verify(ticket, now)
            if change is not None:
                changes.append(change)
        return changes

    def _verify(self, ticket: Ticket, now: float) -> TicketChange | None:
        assert ticket.resolved_at is not None
        h = self._health.get(ticket.key)
        down = bool(h and h.down)
        if down and now - ticket.resolved_at >= self.rules.reopen_after_s:
            t = self._put(replace(ticket, status=TicketStatus.OPEN, updated_at=now, resolved_at=None,
                                  resolved_by=None, reopened=ticket.reopened + 1, version=ticket.version + 1))
            return TicketChange(Action.REOPENED, t, now, SYSTEM,
                                f"device still down {self.rules.reopen_after_s:g} s after resolve")
        if not down:
            healthy_from = max(ticket.resolved_at, h.since if h else ticket.resolved_at)
            if now - healthy_from >= self.rules.verify_s:
                closed = replace(ticket, status=TicketStatus.CLOSED, updated_at=now, closed_at=now,
                                 version=ticket.version + 1)
                self._drop(closed)
                return TicketChange(Action.CLOSED, closed, now, SYSTEM,
                                    f"device up {self.rules.verify_s:g} s without a break")
        return None

    # ---- crew actions ---------------------------------------------------------------------------

    def open_by_hand(self, key: DeviceKey, zone: str | None, actor: str, note: str | None, now: float) -> TicketChange:
        existing = self.for_device(key)
        if existing is not None:
            raise TicketError(409, f"ticket {existing.id} is already {existing.status} for {key[2]}", existing.id)
        self._due.discard(key)
        h = self._health.get(key)
        down_since = h.since if h and h.down else None
        change = self._open(key, zone, now, actor, down_since=down_since, action=Action.OPENED_BY_HAND, note=note)
        if note:
            change = replace(change, ticket=self._put(replace(change.ticket, notes=1)))
        return change

    def assign(self, ticket_id: str, assignee: str, actor: str, now: float) -> TicketChange:
        ticket = self._must(ticket_id)
        if ticket.status not in (TicketStatus.OPEN, TicketStatus.IN_PROGRESS):
            raise TicketError(409, f"ticket {ticket_id} is {ticket.status}; only open or in_progress tickets are assigned")
        if not assignee.strip():
            raise TicketError(400, "assignee must not be empty")
        t = self._put(replace(ticket, status=TicketStatus.IN_PROGRESS, assignee=assignee.strip(), updated_at=now,
                              version=ticket.version + 1))
        return TicketChange(Action.ASSIGNED, t, now, actor, f"assigned to {t.assignee}")

    def note(self, ticket_id: str, text: str, actor: str, now: float) -> TicketChange:
        ticket = self._must(ticket_id)
        if not text.strip():
            raise TicketError(400, "note must not be empty")
        t = self._put(replace(ticket, notes=ticket.notes + 1, updated_at=now, version=ticket.version + 1))
        return TicketChange(Action.NOTED, t, now, actor, text.strip())

    def resolve(self, ticket_id: str, actor: str, note: str | None, now: float) -> list[TicketChange]:
        """The crew says it is fixed: verifying (and at once closed if `verify_s` is 0 and it is up)."""
        ticket = self._must(ticket_id)
        if ticket.status not in (TicketStatus.OPEN, TicketStatus.IN_PROGRESS):
            raise TicketError(409, f"ticket {ticket_id} is {ticket.status}; only open or in_progress tickets are resolved")
        text = note.strip() if note else None
        t = self._put(replace(ticket, status=TicketStatus.VERIFYING, resolved_at=now, resolved_by=actor,
                              assignee=ticket.assignee or actor, updated_at=now,
                              notes=ticket.notes + (1 if text else 0), version=ticket.version + 1))
        changes = [TicketChange(Action.RESOLVED, t, now, actor, text)]
        follow = self._verify(t, now)
        if follow is not None:
            changes.append(follow)
        return changes

    # ---- start ----------------------------------------------------------------------------------

    def restore(self, tickets: Iterable[Ticket], health: Iterable[tuple[DeviceKey, bool, float, str | None]]) -> None:
        """Not-closed tickets as stored and each device's health as the judge has it (key, down, since, zone)."""
        for ticket in tickets:
            if ticket.is_open:
                self._put(ticket)
        for key, down, since, zone in health:
            self._health[key] = _Health(down, since, zone)
            if down and key not in self._by_device:
                self._due.add(key)

    def let_go(self, schools: Collection[str]) -> None:
        """Several instances: forget these schools' tickets and devices (another instance judges them)."""
        gone = set(schools)
        for ticket in [t for t in self._tickets.values() if t.school in gone]:
            del self._tickets[ticket.id]
        for mapping in (self._by_device, self._health):
            for key in [k for k in mapping if k[0] in gone]:
                del mapping[key]
        self._due = {k for k in self._due if k[0] not in gone}

    def merge(self, tickets: Iterable[Ticket]) -> None:
        """Several instances: tickets as another instance stored them (a crew acted through it). A
        stored ticket newer than the one here (by `version`) replaces it; a closed one leaves."""
        for t in tickets:
            mine = self._tickets.get(t.id)
            if mine is not None and mine.version >= t.version:
                continue
            if t.status is TicketStatus.CLOSED:
                if mine is not None:
                    self._drop(t)
                continue
            self._put(t)
            self._due.discard(t.key)

    # ---- internals ------------------------------------------------------------------------------

    def _open(self, key: DeviceKey, zone: str | None, now: float, actor: str, *, down_since: float | None,
              action: Action, note: str | None = None) -> TicketChange:
        school, kind, device = key
        t = self._put(Ticket(id=self._new_id(), school=school, kind=kind, device=device, zone=zone,
                             status=TicketStatus.OPEN, opened_at=now, updated_at=now, opened_by=actor,
                             down_since=down_since))
        return TicketChange(action, t, now, actor, note)

    def _must(self, ticket_id: str) -> Ticket:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            raise TicketError(409, f"ticket {ticket_id} is closed or does not exist")
        return ticket

    def _put(self, ticket: Ticket) -> Ticket:
        self._tickets[ticket.id] = ticket
        self._by_device[ticket.key] = ticket.id
        return ticket

    def _drop(self, ticket: Ticket) -> None:
        self._tickets.pop(ticket.id, None)
        if self._by_device.get(ticket.key) == ticket.id:
            del self._by_device[ticket.key]
        h = self._health.get(ticket.key)
        if h is not None and h.down:  # down again after closing: counts from now as a new failure
            self._due.add(ticket.key)
