"""One module per kind of receiver: a pure `render(...)` and an async `send(...)`.

`deliver(http, receiver, message, now)` picks the module by `receiver.kind`. Every `send` raises
`DeliveryError` (with `retryable`) when the message did not arrive.
"""

from __future__ import annotations

import aiohttp

from alerts.receivers import alertmanager, dingtalk, email, webhook, wecom
from alerts.receivers.base import DeliveryError, HttpRequest
from alerts.routing import Message, Receiver

__all__ = ["DeliveryError", "HttpRequest", "deliver"]


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
