"""Ticket rules on a fake clock: every boundary of open_after_s, verify_s and reopen_after_s."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from alerts.tickets import Action, TicketBook, TicketError, TicketRules, TicketStatus

CAM = ("panhe-ms", "camera", "cam-dg-01")
OTHER = ("panhe-ms", "camera", "cam-dg-02")
RULES = TicketRules(open_after_s=600, verify_s=300, reopen_after_s=1800)


def make_book(rules: TicketRules = RULES) -> TicketBook:
    counter = itertools.count(1)
    return TicketBook(rules, new_id=lambda: f"t-{next(counter)}")


def opened(book: TicketBook, key=CAM, down_at: float = 0.0) -> str:
    book.down(key, down_at, "dorm-girls")
    changes = book.tick(down_at + RULES.open_after_s)
    assert [c.action for c in changes] == [Action.OPENED]
    return changes[0].ticket.id


def test_a_device_down_one_tick_short_of_open_after_has_no_ticket() -> None:
    book = make_book()
    book.down(CAM, 100.0, "dorm-girls")
    assert book.tick(699.999) == []
    assert book.open_tickets() == []


def test_a_device_down_exactly_open_after_opens_one_ticket_naming_it() -> None:
    book = make_book()
    book.down(CAM, 100.0, "dorm-girls")
    changes = book.tick(700.0)
    assert len(changes) == 1
    t = changes[0].ticket
    assert (t.status, t.school, t.kind, t.device, t.zone) == (TicketStatus.OPEN, *CAM, "dorm-girls")
    assert (t.opened_at, t.down_since, t.opened_by) == (700.0, 100.0, "system")


def test_a_device_that_comes_back_before_open_after_opens_nothing_and_the_clock_restarts() -> None:
    book = make_book()
    book.down(CAM, 0.0)
    book.up(CAM, 599.0)
    book.down(CAM, 650.0)
    assert book.tick(1249.0) == []
    assert [c.action for c in book.tick(1250.0)] == [Action.OPENED]


def test_never_two_tickets_for_one_device_while_one_is_not_closed() -> None:
    book = make_book()
    tid = opened(book)
    book.up(CAM, 700.0)
    book.down(CAM, 800.0)
    assert book.tick(5000.0) == []
    assert [t.id for t in book.open_tickets()] == [tid]


def test_repeated_down_judgements_do_not_restart_the_clock() -> None:
    book = make_book()
    book.down(CAM, 0.0)
    book.down(CAM, 500.0)
    assert [c.action for c in book.tick(600.0)] == [Action.OPENED]


def test_two_devices_get_a_ticket_each() -> None:
    book = make_book()
    book.down(CAM, 0.0)
    book.down(OTHER, 10.0)
    assert [c.ticket.device for c in book.tick(610.0)] == ["cam-dg-01", "cam-dg-02"]


def test_assign_takes_an_open_ticket_into_progress() -> None:
    book = make_book()
    tid = opened(book)
    change = book.assign(tid, "crew-wang", "crew-wang", 700.0)
    assert change.action is Action.ASSIGNED
    assert (change.ticket.status, change.ticket.assignee) == (TicketStatus.IN_PROGRESS, "crew-wang")


def test_resolve_makes_verifying_and_up_for_verify_s_after_resolve_closes() -> None:
    book = make_book()
    tid = opened(book)
    book.up(CAM, 900.0)
    [resolved] = book.resolve(tid, "crew-wang", "replaced the PoE switch", 1000.0)
    assert resolved.ticket.status is TicketStatus.VERIFYING
    assert resolved.note == "replaced the PoE switch"
    assert book.tick(1299.999) == []  # up before the resolve does not count
    [closed] = book.tick(1300.0)
    assert closed.action is Action.CLOSED
    assert closed.ticket.status is TicketStatus.CLOSED
    assert closed.ticket.repair_s() == 1300.0  # from down at 0
    assert book.open_tickets() == []


def test_verification_counts_from_the_device_coming_back_after_resolve() -> None:
    book = make_book()
    tid = opened(book)
    book.resolve(tid, "crew", None, 1000.0)
    book.up(CAM, 1100.0)
    assert book.tick(1399.0) == []
    assert [c.action for c in book.tick(1400.0)] == [Action.CLOSED]


def test_a_break_while_verifying_restarts_the_healthy_count() -> None:
    book = make_book()
    tid = opened(book)
    book.up(CAM, 900.0)
    book.resolve(tid, "crew", None, 1000.0)
    book.down(CAM, 1200.0)
    book.up(CAM, 1210.0)
    assert book.tick(1509.0) == []
    assert [c.action for c in book.tick(1510.0)] == [Action.CLOSED]


def test_still_down_one_tick_before_reopen_after_stays_verifying_and_at_it_reopens() -> None:
    book = make_book()
    tid = opened(book)
    book.assign(tid, "crew-wang", "crew-wang", 650.0)
    book.resolve(tid, "crew-wang", "rebooted", 1000.0)
    assert book.tick(2799.999) == []
    [reopened] = book.tick(2800.0)
    assert reopened.action is Action.REOPENED
    t = reopened.ticket
    assert (t.status, t.assignee, t.reopened, t.resolved_at) == (TicketStatus.OPEN, "crew-wang", 1, None)
    assert [x.id for x in book.open_tickets()] == [tid]


def test_down_again_after_reopen_after_while_still_verifying_reopens() -> None:
    rules = TicketRules(open_after_s=600, verify_s=3000, reopen_after_s=1800)
    book = make_book(rules)
    tid = opened(book)
    book.resolve(tid, "crew", None, 1000.0)
    book.up(CAM, 1010.0)
    assert book.tick(2900.0) == []
    [change] = book.down(CAM, 2900.0)
    assert (change.action, change.ticket.id) == (Action.REOPENED, tid)


def test_down_then_up_before_reopen_after_then_healthy_closes() -> None:
    book = make_book()
    tid = opened(book)
    book.resolve(tid, "crew", None, 1000.0)
    book.up(CAM, 2700.0)
    assert book.tick(2800.0) == []
    assert [c.action for c in book.tick(3000.0)] == [Action.CLOSED]


def test_verify_s_zero_closes_at_resolve_when_the_device_is_up() -> None:
    book = make_book(TicketRules(open_after_s=600, verify_s=0, reopen_after_s=1800))
    tid = opened(book)
    book.up(CAM, 700.0)
    changes = book.resolve(tid, "crew", None, 800.0)
    assert [c.action for c in changes] == [Action.RESOLVED, Action.CLOSED]


def test_after_closing_a_new_failure_opens_a_new_ticket() -> None:
    book = make_book()
    first = opened(book)
    book.up(CAM, 700.0)
    book.resolve(first, "crew", None, 700.0)
    book.tick(1000.0)
    book.down(CAM, 2000.0)
    [change] = book.tick(2600.0)
    assert change.action is Action.OPENED and change.ticket.id != first


def test_open_by_hand_for_a_healthy_device_then_resolve_and_close() -> None:
    book = make_book()
    book.up(CAM, 0.0)
    change = book.open_by_hand(CAM, "dorm-girls", "officer-li", "lens cracked", 50.0)
    assert change.action is Action.OPENED_BY_HAND
    assert (change.ticket.opened_by, change.ticket.notes, change.ticket.down_since) == ("officer-li", 1, None)
    book.resolve(change.ticket.id, "crew", "new lens", 100.0)
    assert [c.action for c in book.tick(400.0)] == [Action.CLOSED]


def test_open_by_hand_while_one_is_open_is_refused_with_the_existing_id() -> None:
    book = make_book()
    tid = opened(book)
    with pytest.raises(TicketError) as err:
        book.open_by_hand(CAM, None, "officer", None, 700.0)
    assert (err.value.status, err.value.ticket_id) == (409, tid)


def test_a_hand_opened_ticket_for_a_down_device_stops_the_rule_from_opening_another() -> None:
    book = make_book()
    book.down(CAM, 0.0)
    book.open_by_hand(CAM, None, "officer", None, 100.0)
    assert book.tick(10_000.0) == []
    assert len(book.open_tickets()) == 1


def test_resolve_of_a_verifying_ticket_and_assign_after_resolve_are_refused() -> None:
    book = make_book()
    tid = opened(book)
    book.resolve(tid, "crew", None, 700.0)
    with pytest.raises(TicketError):
        book.resolve(tid, "crew", None, 710.0)
    with pytest.raises(TicketError):
        book.assign(tid, "crew", "crew", 710.0)


def test_actions_on_closed_or_unknown_tickets_are_refused() -> None:
    book = make_book()
    with pytest.raises(TicketError):
        book.note("t-404", "x", "crew", 1.0)
    with pytest.raises(TicketError):
        book.resolve("t-404", "crew", None, 1.0)


def test_notes_count_and_empty_notes_are_refused() -> None:
    book = make_book()
    tid = opened(book)
    assert book.note(tid, "  ladder needed  ", "crew", 700.0).note == "ladder needed"
    with pytest.raises(TicketError):
        book.note(tid, "   ", "crew", 701.0)
    assert book.get(tid).notes == 1  # type: ignore[union-attr]


def test_a_device_coming_back_alone_leaves_the_ticket_open_for_the_crew() -> None:
    book = make_book()
    tid = opened(book)
    book.up(CAM, 700.0)
    assert book.tick(100_000.0) == []
    assert book.get(tid).status is TicketStatus.OPEN  # type: ignore[union-attr]


def test_restore_keeps_tickets_and_counts_down_time_from_the_stored_since() -> None:
    book = make_book()
    tid = opened(book)
    stored = book.open_tickets()
    fresh = make_book()
    fresh.restore(stored, [(CAM, True, 0.0, "dorm-girls"), (OTHER, True, 500.0, "dorm-girls")])
    changes = fresh.tick(1100.0)
    assert [c.ticket.device for c in changes] == ["cam-dg-02"]
    assert fresh.for_device(CAM).id == tid  # type: ignore[union-attr]


def test_letting_a_school_go_forgets_its_tickets_and_devices_and_keeps_the_others() -> None:
    book = make_book()
    mine = opened(book, OTHER)
    other_school = ("other-ps", "camera", "cam-01")
    book.down(other_school, 0.0)
    theirs = book.tick(RULES.open_after_s)[0].ticket.id
    book.down(CAM, 1000.0)  # down, no ticket yet
    book.let_go(["panhe-ms"])
    assert [t.id for t in book.open_tickets()] == [theirs]
    assert book.get(mine) is None and not book.is_down(CAM)
    assert book.tick(10_000.0) == [], "a school let go opens nothing"


def test_a_newer_stored_version_replaces_the_ticket_and_a_closed_one_leaves() -> None:
    book = make_book()
    tid = opened(book)
    ticket = book.get(tid)
    assert ticket is not None
    stale = ticket
    resolved = dataclasses.replace(ticket, status=TicketStatus.VERIFYING, resolved_at=700.0, resolved_by="crew",
                                   version=ticket.version + 1)
    book.merge([resolved])
    assert book.get(tid) == resolved
    book.merge([stale])  # an older version changes nothing
    assert book.get(tid) == resolved
    book.merge([dataclasses.replace(resolved, status=TicketStatus.CLOSED, closed_at=800.0, version=resolved.version + 1)])
    assert book.get(tid) is None and book.for_device(CAM) is None


def test_a_ticket_opened_elsewhere_for_a_down_device_stops_this_book_opening_its_own() -> None:
    book = make_book()
    book.down(CAM, 0.0, "dorm-girls")
    by_hand = make_book().open_by_hand(CAM, "dorm-girls", "crew", None, 100.0).ticket
    book.merge([by_hand])
    assert book.tick(RULES.open_after_s) == []
    assert book.for_device(CAM) == by_hand
