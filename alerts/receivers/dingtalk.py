"""DingTalk (钉钉) group robot: markdown message, signed webhook when a `secret` is configured.

Signing: `sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))` with the
timestamp in milliseconds, both added to the webhook URL as `timestamp` and `sign` query parameters.
The robot answers `{"errcode": 0}`; 130101 (sending too fast) is worth retrying.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

import aiohttp

from alerts.receivers import text
from alerts.receivers.base import HttpRequest, check_robot_answer, json_request, perform
from alerts.routing import Message, Receiver

RETRYABLE_CODES = frozenset({-1, 130101})


def sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def signed_url(url: str, secret: str, now: float) -> str:
    timestamp_ms = int(now * 1000)
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


def markdown_request(receiver: Receiver, title: str, markdown: str, now: float) -> HttpRequest:
    payload = {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}
    secret = receiver.options.get("secret")
    url = signed_url(receiver.url, str(secret), now) if secret else receiver.url
    return json_request(url, payload)


def render(receiver: Receiver, message: Message, now: float) -> HttpRequest:
    lang = receiver.language
    return markdown_request(receiver, text.title(message, lang), text.markdown(message, lang), now)


async def post(http: aiohttp.ClientSession, receiver: Receiver, request: HttpRequest) -> None:
    """Send a robot request; the robot's own error codes decide whether another try may succeed."""
    _, answer = await perform(http, request, receiver.timeout_s)
    check_robot_answer(f"dingtalk {receiver.name}", answer, RETRYABLE_CODES)


async def send(http: aiohttp.ClientSession, receiver: Receiver, message: Message, now: float) -> None:
    await post(http, receiver, render(receiver, message, now))
