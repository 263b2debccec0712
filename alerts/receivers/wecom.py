"""WeCom (企业微信) group robot: `{"msgtype": "markdown", "markdown": {"content": ...}}`.

The robot answers HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`; 45009 (over the rate limit of
20 messages a minute) is worth retrying, other codes are refusals. Content is capped at 4096 bytes.
"""

from __future__ import annotations

import aiohttp

from alerts.receivers import text
from alerts.receivers.base import HttpRequest, check_robot_answer, json_request, perform
from alerts.routing import Message, Receiver

MAX_BYTES = 4096
RETRYABLE_CODES = frozenset({-1, 45009})


def clip(content: str, limit: int = MAX_BYTES) -> str:
    data = content.encode("utf-8")
    if len(data) <= limit:
        return content
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def markdown_request(receiver: Receiver, markdown: str) -> HttpRequest:
    return json_request(receiver.url, {"msgtype": "markdown", "markdown": {"content": clip(markdown)}})


def render(receiver: Receiver, message: Message) -> HttpRequest:
    return markdown_request(receiver, text.markdown(message, receiver.language))


async def post(http: aiohttp.ClientSession, receiver: Receiver, request: HttpRequest) -> None:
    """Send a robot request; the robot's own error codes decide whether another try may succeed."""
    _, answer = await perform(http, request, receiver.timeout_s)
    check_robot_answer(f"wecom {receiver.name}", answer, RETRYABLE_CODES)


async def send(http: aiohttp.ClientSession, receiver: Receiver, message: Message) -> None:
    await post(http, receiver, render(receiver, message))
