"""The press board behind the pages' banner: a press is on it from the moment it fires until it is
acknowledged or cancelled, scoped to the viewer's schools, named by location or plate and HH:MM in the
district's time; an event stream waiting on it wakes at each change and at close."""

from __future__ import annotations

import asyncio

from alerts.model import ChangeKind
from devices.events import AlarmEvent
from devices.model import DeviceKind
from monitor.services.presses import PressBoard
from tests.alerts.conftest import NAMES, make_book

T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC = 11-25 00:00 in Asia/Shanghai


def press(event_id: str, device: str = "alarm-gate", school: str = "panhe-ms",
          kind: DeviceKind = DeviceKind.ALARM, type_: str = "press") -> AlarmEvent:
    return AlarmEvent(school, device, event_id, type_, T0, T0, kind)


def test_a_press_is_on_the_board_until_acknowledged_with_its_place_and_local_time() -> None:
    book, board = make_book(), PressBoard(NAMES)
    changes = book.alarm(press("e1"), T0 + 65)
    board.on_changes(changes)
    [p] = board.unacknowledged(lambda s: True)
    view = p.view("zh")
    assert (view["school_name"], view["place"], view["time"], view["title"]) == ("盘河中学", "校门", "00:01", "一键报警")
    assert p.view("en")["title"] == "Alarm pressed"
    acked = book.ack(p.id, "officer-li", T0 + 90, None)
    board.on_changes(acked)
    assert board.unacknowledged(lambda s: True) == []
    assert acked[0].alert.acked_by == "officer-li" and acked[0].alert.note is None  # no English stand-in note


def test_a_bus_emergency_is_named_by_the_plate_and_a_tamper_or_cancelled_press_is_not_on_the_board() -> None:
    book, board = make_book(), PressBoard(NAMES)
    board.on_changes(book.alarm(press("b1", "bus-023", kind=DeviceKind.GPS), T0))
    board.on_changes(book.alarm(press("t1", type_="tamper"), T0))
    board.on_changes(book.alarm(press("p2"), T0))
    assert [(p.bus, p.place) for p in board.unacknowledged(lambda s: True)] == [(True, "云C·12345"), (False, "校门")]
    board.on_changes(book.alarm(press("c1", type_="cancel"), T0 + 5))
    assert [p.place for p in board.unacknowledged(lambda s: True)] == ["云C·12345"]


def test_a_viewer_sees_only_the_presses_of_its_schools() -> None:
    book, board = make_book(), PressBoard(NAMES)
    board.on_changes(book.alarm(press("e1"), T0))
    assert board.unacknowledged(lambda s: s == "other-ps") == []
    assert len(board.unacknowledged(lambda s: s == "panhe-ms")) == 1


def test_restore_puts_back_presses_still_open_at_start() -> None:
    book, board = make_book(), PressBoard(NAMES)
    book.alarm(press("e1"), T0)
    board.restore(book.open_alerts())
    assert len(board.unacknowledged(lambda s: True)) == 1


async def test_a_waiting_stream_wakes_on_a_change_and_at_close_and_not_on_a_reminder() -> None:
    book, board = make_book(remind_after_s=60.0), PressBoard(NAMES)
    seen = board.version
    waiter = asyncio.create_task(board.changed(seen, 5.0))
    await asyncio.sleep(0)
    board.on_changes(book.alarm(press("e1"), T0))
    assert await waiter is True and board.version == seen + 1
    reminders = [c for c in book.tick(T0 + 61) if c.kind is ChangeKind.REMINDER]
    board.on_changes(reminders)
    assert reminders and board.version == seen + 1  # the same press, still unacknowledged: nothing to redraw
    assert await board.changed(board.version, 0.01) is False
    board.close()
    assert await board.changed(board.version, 5.0) is True
