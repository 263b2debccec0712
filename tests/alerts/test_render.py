from __future__ import annotations

import base64
import hashlib
import hmac
from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlsplit

from alerts.receivers import alertmanager, dingtalk, email, webhook, wecom
from alerts.routing import Router, compose, parse_receivers
from devices.events import Judgement, Rule, Severity

from .conftest import make_book

T0 = 1_764_057_600.0  # 2025-11-25T08:00:00Z


def message_for(receiver_item: dict, *, resolve: bool = False):
    [receiver] = parse_receivers([receiver_item])
    book = make_book()
    j = Judgement(T0, Rule.CAMERA_DOWN, Severity.CRITICAL, "panhe-ms", "cam-dg-01", True, "dorm-girls")
    changes = book.judge([j], T0)
    if resolve:
        changes = book.judge([Judgement(T0 + 60, Rule.CAMERA_DOWN, Severity.CRITICAL, "panhe-ms", "cam-dg-01", False, "dorm-girls")], T0 + 60)
    [notice] = Router([receiver], 10).route(changes)
    return receiver, compose(receiver.name, notice.key, [notice.body])


def test_webhook_body_is_the_contract_one_with_an_idempotency_key():
    receiver, message = message_for({"kind": "webhook", "name": "bureau", "url": "http://h/hook"})
    request = webhook.render(receiver, message)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == message.key
    assert request.json() == {"receiver": "bureau", "alerts": [{
        "id": "a-1", "rule": "camera_down", "severity": "critical", "state": "firing",
        "school": "panhe-ms", "subject": "cam-dg-01", "zone": "dorm-girls",
        "summary": "盘河中学 女生宿舍 摄像头 cam-dg-01 离线", "started_at": "2025-11-25T08:00:00Z",
        "updated_at": "2025-11-25T08:00:00Z"}]}


def test_wecom_is_a_markdown_message_in_chinese():
    receiver, message = message_for({"kind": "wecom", "url": "https://qyapi/robot?key=K"})
    body = wecom.render(receiver, message).json()
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith("### 【紧急·告警】盘河中学 女生宿舍 摄像头 cam-dg-01 离线")
    assert "2025-11-25 16:00:00" in content  # Beijing time


def test_dingtalk_url_carries_timestamp_and_hmac_signature():
    receiver, message = message_for({"kind": "dingtalk", "url": "https://oapi/robot/send?access_token=T", "secret": "SEC", "language": "en"})
    request = dingtalk.render(receiver, message, T0)
    query = parse_qs(urlsplit(request.url).query)
    assert query["access_token"] == ["T"] and query["timestamp"] == [str(int(T0 * 1000))]
    expected = base64.b64encode(hmac.new(b"SEC", f"{int(T0 * 1000)}\nSEC".encode(), hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]
    body = request.json()
    assert body["markdown"]["title"].startswith("[critical FIRING]") and "camera cam-dg-01 is down" in body["markdown"]["text"]


def test_email_has_text_and_html_parts_and_an_encoded_chinese_subject():
    receiver, message = message_for({"kind": "email", "host": "smtp", "from": "monitor@edu.cn", "to": ["duty@edu.cn"]})
    raw = email.render(receiver, message, T0).as_bytes()
    assert b"=?utf-8?" in raw.split(b"\n\n")[0]  # RFC 2047 subject, not raw UTF-8
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "【紧急·告警】盘河中学 女生宿舍 摄像头 cam-dg-01 离线"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_alertmanager_labels_and_ends_at_on_resolve():
    receiver, message = message_for({"kind": "alertmanager", "url": "http://am:9093"}, resolve=True)
    request = alertmanager.render(receiver, message)
    assert request.url == "http://am:9093/api/v2/alerts"
    [entry] = request.json()
    assert entry["labels"] == {"alertname": "camera_down", "school": "panhe-ms", "subject": "cam-dg-01", "severity": "critical", "zone": "dorm-girls"}
    assert entry["startsAt"] == "2025-11-25T08:00:00Z" and entry["endsAt"] == "2025-11-25T08:01:00Z"
