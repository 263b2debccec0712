"""One module per kind of receiver: a pure `render(...)` and an async `send(...)`.

`deliver(http, receiver, message, now)` picks the module by `receiver.kind`; `deliver_digest` does
the same for a daily digest (already rendered into the outbox row's body). Every send raises
`DeliveryError` (with `retryable`) when the message did not arrive.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import aiohttp

from alerts.receivers import alertmanager, dingtalk, email, webhook, wecom
from alerts.receivers.base import DeliveryError, HttpRequest
from alerts.routing import Message, Receiver

__all__ = ["DeliveryError", "HttpRequest", "deliver", "deliver_digest", "takes_digest"]


async def deliver(http: aiohttp.ClientSession, receiver: Receiver, message: Message, now: float) -> None:
    if receiver.kind == "webhook":
        await webhook.send(http, receiver, message)
    elif receiver.kind == "wecom":
        await wecom.send(http, receiver, message)
    elif receiver.kind == "dingtalk":
        await dingtalk.send(http, receiver, message, now)
    elif receiver.kind == "email":
        await email.send(receiver, message, now)
    elif receiver.kind == "alertmanager":
        await alertmanager.send(http, receiver, message)
    else:
        raise DeliveryError(f"receiver {receiver.name}: unknown kind {receiver.kind!r}", retryable=False)


def takes_digest(receiver: Receiver) -> bool:
    """The daily digest goes to receivers with no school filter; Alertmanager takes alerts, not reports."""
    return receiver.schools is None and receiver.kind != "alertmanager"


async def deliver_digest(http: aiohttp.ClientSession, receiver: Receiver, body: Mapping[str, Any], key: str,
                         now: float) -> None:
    """Send a rendered digest: `body` holds `digest` (the figures), `title`, `markdown` and `plain`."""
    title, markdown, plain = str(body["title"]), str(body["markdown"]), str(body["plain"])
    if receiver.kind == "webhook":
        await webhook.post_json(http, receiver, {"receiver": receiver.name, "digest": body["digest"], "text": markdown},
                                key)
    elif receiver.kind == "wecom":
        await wecom.post(http, receiver, wecom.markdown_request(receiver, markdown))
    elif receiver.kind == "dingtalk":
        await dingtalk.post(http, receiver, dingtalk.markdown_request(receiver, title, markdown, now))
    elif receiver.kind == "email":
        page = (f'<!DOCTYPE html><html lang="{html.escape(str(body.get("language", "zh")))}"><head><meta charset="utf-8">'
                f"</head><body><pre>{html.escape(plain)}</pre></body></html>")
        await email.send_mail(receiver, email.compose_mail(receiver, title, key, now, plain, page))
    else:
        raise DeliveryError(f"receiver {receiver.name}: a {receiver.kind} receiver takes no digest", retryable=False)
