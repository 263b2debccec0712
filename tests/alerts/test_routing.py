from __future__ import annotations

import pytest

from alerts.model import AlertChange, ChangeKind
from alerts.routing import ReceiverConfigError, Router, compose, parse_receivers
from devices.events import AlarmEvent, Judgement, Rule, Severity

from .conftest import make_book

T0 = 1_764_000_000.0

RECEIVERS = [
    {"kind": "webhook", "name": "bureau", "url": "http://bureau/hook", "severities": ["critical"]},
    {"kind": "wecom", "name": "officer-panhe", "url": "https://qyapi/robot", "schools": ["panhe-ms"], "language": "en"},
    {"kind": "dingtalk", "name": "director", "url": "https://oapi/robot", "escalation": 1, "secret": "SEC"},
    {"kind": "webhook", "url": "http://all/hook"},
]


def changes_for(*judgements: Judgement) -> list[AlertChange]:
    book = make_book()
    return book.judge(list(judgements), T0)


def test_each_receiver_gets_what_its_filters_allow_and_one_without_filters_gets_all():
    router = Router(parse_receivers(RECEIVERS), group_window_s=10)
    changes = changes_for(
        Judgement(T0, Rule.CAMERA_DOWN, Severity.WARNING, "panhe-ms", "cam-c1", True, "canteen"),
        Judgement(T0, Rule.ZONE_DARK, Severity.CRITICAL, "other-ps", "dorm", True, "dorm"),
    )
    notices = router.route(changes)
    got = sorted((n.receiver, n.body["subject"]) for n in notices)
    assert got == [("bureau", "dorm"), ("officer-panhe", "cam-c1"), ("webhook", "cam-c1"), ("webhook", "dorm")]
    officer = next(n for n in notices if n.receiver == "officer-panhe")
    assert officer.body["summary"] == "盘河中学 食堂 camera cam-c1 is down"
    assert officer.hold_until == T0 + 10 and not officer.urgent


def test_the_next_receiver_in_escalation_order_hears_of_an_alert_after_a_reminder():
    book = make_book(remind_after_s=300)
    router = Router(parse_receivers(RECEIVERS), group_window_s=10)
    [fired] = book.alarm(AlarmEvent("panhe-ms", "alarm-gate", "e1", "press", T0, T0), T0)
    assert "director" not in {n.receiver for n in router.route([fired])}
    assert all(n.hold_until == T0 and n.urgent for n in router.route([fired]))
    [reminder] = book.tick(T0 + 300)
    assert "director" in {n.receiver for n in router.route([reminder])}
    [resolved] = book.ack(fired.alert.id, "bureau", T0 + 400)
    assert "director" in {n.receiver for n in router.route([resolved])}


def test_held_changes_go_nowhere_and_keys_are_stable_per_receiver_and_version():
    router = Router(parse_receivers(RECEIVERS), group_window_s=10)
    changes = changes_for(Judgement(T0, Rule.CAMERA_DOWN, Severity.CRITICAL, "panhe-ms", "cam-1", True))
    held = AlertChange(ChangeKind.HELD, changes[0].alert, T0, notify=False)
    assert router.route([held]) == []
    keys = [n.key for n in router.route(changes)]
    assert keys == [n.key for n in router.route(changes)] and len(set(keys)) == len(keys)


def test_compose_keeps_the_latest_change_of_an_alert():
    message = compose("bureau", "k1", [{"id": "a-1", "state": "firing", "school": "s"}, {"id": "a-2", "state": "firing", "school": "s"}, {"id": "a-1", "state": "resolved", "school": "s"}])
    assert [(a["id"], a["state"]) for a in message.alerts] == [("a-2", "firing"), ("a-1", "resolved")]


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ({"kind": "pager", "url": "http://x"}, "kind"),
        ({"kind": "webhook", "url": "ftp://x"}, "url"),
        ({"kind": "webhook", "url": "http://x", "colour": "red"}, "colour"),
        ({"kind": "webhook", "url": "http://x", "schools": "panhe-ms"}, "schools"),
        ({"kind": "email", "host": "smtp"}, "from"),
        ({"kind": "webhook", "url": "http://x", "language": "fr"}, "language"),
        ({"kind": "webhook", "url": "http://x", "escalation": -1}, "escalation"),
    ],
)
def test_a_bad_receiver_is_refused_with_the_key(item, key):
    with pytest.raises(ReceiverConfigError) as err:
        parse_receivers([item])
    assert err.value.key == key
