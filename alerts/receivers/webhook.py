"""Generic webhook: contract §4's JSON body, `Idempotency-Key` header, one key per message."""

from __future__ import annotations

from typing import Any

import aiohttp

from alerts.receivers.base import HttpRequest, json_request, perform
from alerts.routing import Message, Receiver

#: The fields of contract §4, always present, in this order.
FIELDS = ("id", "rule", "severity", "state", "school", "subject", "zone", "summary", "started_at", "updated_at")
#: Present only when set.
OPTIONAL = ("acked_by", "acked_at", "note")


def wire_alert(alert: dict[str, Any]) -> dict[str, Any]:
    out = {k: alert.get(k) for k in FIELDS}
    out.update({k: alert[k] for k in OPTIONAL if alert.get(k) is not None})
    return out


def render(receiver: Receiver, message: Message) -> HttpRequest:
    body = {"receiver": receiver.name, "alerts": [wire_alert(a) for a in message.alerts]}
    headers = {"Idempotency-Key": message.key, **dict(receiver.options.get("headers", {}))}
    return json_request(receiver.url, body, headers)


async def send(http: aiohttp.ClientSession, receiver: Receiver, message: Message) -> None:
    await perform(http, render(receiver, message), receiver.timeout_s)


async def post_json(http: aiohttp.ClientSession, receiver: Receiver, body: Any, key: str) -> None:
    """POST any JSON body under an `Idempotency-Key` (the daily digest uses this)."""
    headers = {"Idempotency-Key": key, **dict(receiver.options.get("headers", {}))}
    await perform(http, json_request(receiver.url, body, headers), receiver.timeout_s)
