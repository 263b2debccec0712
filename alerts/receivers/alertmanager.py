"""Prometheus Alertmanager: `POST /api/v2/alerts` with one entry per alert.

Labels: alertname (the rule), school, subject, severity, zone (when there is one); annotations:
summary, alert_id, state (and acked_by, note when set). `startsAt` is the alert's start; a resolved
alert carries `endsAt` (its resolution time), which ends it in Alertmanager. Alertmanager ends a
firing alert by itself `resolve_timeout` (default 5 min) after it last heard of it, so the caller
should send the open alerts again periodically (`refresh(...)`), as Prometheus does.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from alerts.receivers.base import HttpRequest, json_request, perform
from alerts.routing import Message, Receiver

PATH = "/api/v2/alerts"


def endpoint(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith(PATH) else url + PATH


def am_alert(alert: dict[str, Any]) -> dict[str, Any]:
    labels = {
        "alertname": str(alert["rule"]),
        "school": str(alert["school"]),
        "subject": str(alert["subject"]),
        "severity": str(alert["severity"]),
    }
    if alert.get("zone"):
        labels["zone"] = str(alert["zone"])
    annotations = {"summary": str(alert["summary"]), "alert_id": str(alert["id"]), "state": str(alert["state"])}
    for key in ("acked_by", "note"):
        if alert.get(key):
            annotations[key] = str(alert[key])
    entry: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": alert["started_at"]}
    if alert["state"] == "resolved":
        entry["endsAt"] = alert["updated_at"]
    return entry


def render(receiver: Receiver, message: Message) -> HttpRequest:
    return json_request(endpoint(receiver.url), [am_alert(a) for a in message.alerts])


async def send(http: aiohttp.ClientSession, receiver: Receiver, message: Message) -> None:
    await perform(http, render(receiver, message), receiver.timeout_s)


async def refresh(http: aiohttp.ClientSession, receiver: Receiver, open_alerts: list[dict[str, Any]]) -> None:
    """Send the open alerts again so Alertmanager keeps them firing (call every minute or so)."""
    if open_alerts:
        await send(http, receiver, Message(receiver.name, "refresh", tuple(open_alerts)))
