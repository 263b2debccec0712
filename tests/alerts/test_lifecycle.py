from __future__ import annotations

import pytest

from alerts.lifecycle import UnknownAlert
from alerts.model import AlertState, ChangeKind, MaintenanceWindow
from devices.events import AlarmEvent, Judgement, Rule, Severity

from .conftest import make_book

T0 = 1_764_000_000.0


def down(t: float, subject: str = "cam-dg-01", active: bool = True, school: str = "panhe-ms", zone: str | None = "dorm-girls") -> Judgement:
    return Judgement(t, Rule.CAMERA_DOWN, Severity.CRITICAL, school, subject, active, zone)


def offline(t: float, active: bool = True) -> Judgement:
    return Judgement(t, Rule.SCHOOL_OFFLINE, Severity.CRITICAL, "panhe-ms", "panhe-ms", active)


def press(t: float, event_id: str = "e1", type_: str = "press", device: str = "alarm-gate") -> AlarmEvent:
    return AlarmEvent("panhe-ms", device, event_id, type_, t, t)


def test_a_condition_fires_once_and_resolves_when_it_clears(book):
    [fired] = book.judge([down(T0)], T0)
    assert fired.kind is ChangeKind.FIRED and fired.notify
    assert fired.alert.summary == "盘河中学 女生宿舍 摄像头 cam-dg-01 离线"
    assert fired.alert.summaries["en"] == "盘河中学 女生宿舍 camera cam-dg-01 is down"
    assert book.judge([down(T0 + 5)], T0 + 5) == []
    [resolved] = book.judge([down(T0 + 60, active=False)], T0 + 60)
    assert resolved.kind is ChangeKind.RESOLVED and resolved.alert.id == fired.alert.id
    assert resolved.alert.state is AlertState.RESOLVED and resolved.alert.version == 2
    assert book.open_alerts() == []


def test_ack_records_who_and_when_and_the_clear_still_resolves(book):
    [fired] = book.judge([down(T0)], T0)
    [acked] = book.ack(fired.alert.id, "officer-li", T0 + 30)
    assert acked.kind is ChangeKind.ACKNOWLEDGED
    assert (acked.alert.state, acked.alert.acked_by, acked.alert.acked_at) == (AlertState.ACKNOWLEDGED, "officer-li", T0 + 30)
    assert book.ack(fired.alert.id, "officer-li", T0 + 31) == []
    [resolved] = book.judge([down(T0 + 90, active=False)], T0 + 90)
    assert resolved.alert.acked_by == "officer-li"
    with pytest.raises(UnknownAlert):
        book.ack(fired.alert.id, "officer-li", T0 + 100)


def test_each_press_is_its_own_urgent_alert_and_a_repeated_event_id_does_nothing(book):
    [first] = book.alarm(press(T0, "e1"), T0)
    assert first.urgent and first.alert.rule == "alarm_pressed" and first.alert.severity == "critical"
    assert first.alert.summary == "盘河中学 校门 一键报警器 alarm-gate 被按下，请立即处置"
    assert book.alarm(press(T0 + 1, "e1"), T0 + 1) == []
    [second] = book.alarm(press(T0 + 2, "e2"), T0 + 2)
    assert second.alert.id != first.alert.id
    [tamper] = book.alarm(press(T0 + 3, "e3", "tamper"), T0 + 3)
    assert tamper.alert.rule == "alarm_tampered" and tamper.urgent


def test_cancel_from_the_same_panel_in_time_resolves_with_a_note_but_not_later(book):
    book.alarm(press(T0, "e1"), T0)
    [resolved] = book.alarm(press(T0 + 30, "c1", "cancel"), T0 + 30)
    assert resolved.alert.state is AlertState.RESOLVED and "cancelled" in resolved.alert.note
    book.alarm(press(T0 + 100, "e2"), T0 + 100)
    assert book.alarm(press(T0 + 100 + 121, "c2", "cancel"), T0 + 221) == []
    assert book.alarm(press(T0 + 230, "c3", "cancel", device="alarm-other"), T0 + 230) == []
    assert len(book.open_alerts()) == 1


def test_acknowledging_a_press_resolves_it(book):
    [fired] = book.alarm(press(T0), T0)
    [change] = book.ack(fired.alert.id, "bureau", T0 + 10)
    assert change.kind is ChangeKind.RESOLVED and change.alert.acked_by == "bureau" and change.notify


def test_a_test_press_is_recorded_not_alerted_and_an_untested_panel_warns():
    book = make_book(test_overdue_s=7 * 86400)
    book.set_panels([("panhe-ms", "alarm-gate")], T0)
    [recorded] = book.alarm(press(T0 + 10, "t1", "test"), T0 + 10)
    assert recorded.kind is ChangeKind.RECORDED and not recorded.notify and recorded.alert.rule == "alarm_test"
    assert book.open_alerts() == []
    assert book.tick(T0 + 7 * 86400) == []
    [warning] = book.tick(T0 + 7 * 86400 + 11)
    assert (warning.alert.rule, warning.alert.severity, warning.notify) == ("alarm_test_overdue", "warning", True)
    assert "已超过 7 天未测试" in warning.alert.summary
    assert book.tick(T0 + 8 * 86400) == []  # once
    changes = book.alarm(press(T0 + 8 * 86400, "t2", "test"), T0 + 8 * 86400)
    assert [c.kind for c in changes] == [ChangeKind.RECORDED, ChangeKind.RESOLVED]


def test_school_offline_holds_back_its_device_alerts_and_releases_those_still_down():
    book = make_book(offline_release_grace_s=60)
    changes = book.judge([down(T0, "cam-1"), down(T0, "cam-2"), offline(T0)], T0)
    notified = [c for c in changes if c.notify]
    assert [c.alert.rule for c in notified] == ["school_offline"]
    assert {c.kind for c in changes if not c.notify} == {ChangeKind.HELD}
    changes = book.judge([down(T0 + 100, "cam-1", active=False), offline(T0 + 100, active=False)], T0 + 100)
    assert [(c.kind, c.notify) for c in changes] == [(ChangeKind.RESOLVED, False), (ChangeKind.RESOLVED, True)]
    assert book.tick(T0 + 150) == []  # grace: devices are still coming back
    [released] = book.tick(T0 + 161)
    assert (released.kind, released.alert.subject, released.notify) == (ChangeKind.FIRED, "cam-2", True)


def test_device_alerts_of_the_moments_before_a_school_goes_offline_are_withheld():
    book = make_book(withhold_lookback_s=10)
    [early] = book.judge([down(T0, "cam-1")], T0 - 60)
    [young] = book.judge([down(T0 + 55, "cam-2")], T0 + 55)
    changes = book.judge([offline(T0 + 60)], T0 + 60)
    assert [(c.kind, c.alert.id) for c in changes] == [(ChangeKind.WITHHELD, young.alert.id), (ChangeKind.FIRED, changes[-1].alert.id)]
    assert book.get(early.alert.id).notified


def test_a_flapping_device_is_reported_once_and_resolves_when_calm():
    book = make_book(flap_downs=3, flap_window_s=600, remind_after_s=0)
    kinds = []
    for i in range(6):
        kinds += [c.kind for c in book.judge([down(T0 + 60 * i)], T0 + 60 * i)]
        kinds += [c.kind for c in book.judge([down(T0 + 60 * i + 30, active=False)], T0 + 60 * i + 30)]
    assert kinds == [ChangeKind.FIRED, ChangeKind.RESOLVED] * 3 + [ChangeKind.FLAPPING]
    [flapping] = book.open_alerts()
    assert "频繁掉线（10 分钟内 4 次）" in flapping.summary
    assert book.tick(T0 + 330 + 599) == []
    [calm] = book.tick(T0 + 330 + 600)
    assert calm.kind is ChangeKind.RESOLVED and calm.alert.note == "stopped flapping" and calm.notify


def test_an_unacknowledged_critical_alert_is_reminded_and_escalated_until_acked():
    book = make_book(remind_after_s=300)
    [fired] = book.judge([down(T0)], T0)
    book.judge([Judgement(T0, Rule.BUS_OVERSPEED, Severity.WARNING, "panhe-ms", "bus-023", True)], T0)
    assert book.tick(T0 + 299) == []
    [reminder] = book.tick(T0 + 300)
    assert (reminder.kind, reminder.alert.escalation, reminder.notify) == (ChangeKind.REMINDER, 1, True)
    [again] = book.tick(T0 + 600)
    assert again.alert.escalation == 2
    book.ack(fired.alert.id, "officer", T0 + 700)
    assert book.tick(T0 + 2000) == []


def test_maintenance_holds_back_alerts_of_its_zone_but_never_a_press():
    book = make_book(remind_after_s=0)
    window = MaintenanceWindow("m1", "panhe-ms", T0, T0 + 3600, zone="dorm-girls", reason="rewiring")
    assert book.set_maintenance([window], T0) == []
    [held] = book.judge([down(T0 + 10)], T0 + 10)
    assert held.kind is ChangeKind.HELD and not held.notify
    [elsewhere] = book.judge([down(T0 + 10, "cam-c1", zone="canteen")], T0 + 10)
    assert elsewhere.notify
    [pressed] = book.alarm(press(T0 + 20), T0 + 20)
    assert pressed.notify and pressed.urgent
    [released] = book.tick(T0 + 3600)
    assert (released.kind, released.alert.id, released.notify) == (ChangeKind.FIRED, held.alert.id, True)


def test_an_alert_resolved_while_held_back_is_never_sent():
    book = make_book()
    book.set_maintenance([MaintenanceWindow("m1", "panhe-ms", T0, T0 + 3600)], T0)
    book.judge([down(T0 + 10)], T0 + 10)
    [resolved] = book.judge([down(T0 + 20, active=False)], T0 + 20)
    assert not resolved.notify
    assert book.tick(T0 + 4000) == []


def test_english_summaries_by_config_and_restore_after_restart():
    book = make_book(language="en")
    [fired] = book.judge([Judgement(T0, Rule.BUS_OFF_ROUTE, Severity.CRITICAL, "panhe-ms", "bus-023", True, detail={"distance_m": 412.4})], T0)
    assert fired.alert.summary == "盘河中学 school bus bus-023 (云C·12345) is off route (412 m away)"
    assert fired.alert.summaries["zh"] == "盘河中学 校车 bus-023（云C·12345）偏离路线（距路线 412 米）"
    again = make_book(language="en")
    again.restore([fired.alert])
    assert again.judge([Judgement(T0 + 1, Rule.BUS_OFF_ROUTE, Severity.CRITICAL, "panhe-ms", "bus-023", True)], T0 + 1) == []
    [resolved] = again.judge([Judgement(T0 + 9, Rule.BUS_OFF_ROUTE, Severity.CRITICAL, "panhe-ms", "bus-023", False)], T0 + 9)
    assert resolved.alert.id == fired.alert.id
