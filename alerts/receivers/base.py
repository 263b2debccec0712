"""What every receiver shares: the request it renders, and the error `send` raises."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

#: HTTP answers worth trying again; any other 4xx means the message itself is refused.
RETRYABLE_STATUS = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """The message did not arrive. `retryable` False: sending it again will not help."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def json_request(url: str, payload: Any, headers: dict[str, str] | None = None) -> HttpRequest:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HttpRequest("POST", url, {"Content-Type": "application/json", **(headers or {})}, body)


async def perform(http: aiohttp.ClientSession, request: HttpRequest, timeout_s: float) -> tuple[int, bytes]:
    """Send; raise `DeliveryError` on a connection failure, a timeout or a status that is not 2xx."""
    try:
        async with http.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.body,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            text = await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise DeliveryError(f"{request.method} {request.url}: {type(exc).__name__}: {exc}", retryable=True) from exc
    if 200 <= status < 300:
        return status, text
    retryable = status >= 500 or status in RETRYABLE_STATUS
    snippet = text[:200].decode("utf-8", "replace")
    raise DeliveryError(f"{request.method} {request.url}: HTTP {status}: {snippet}", retryable=retryable)


def check_robot_answer(name: str, text: bytes, retryable_codes: frozenset[int]) -> None:
    """WeCom and DingTalk answer 200 with `{"errcode": 0}`; anything else is a refusal."""
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise DeliveryError(f"{name}: answer is not JSON: {text[:200]!r}", retryable=True) from exc
    code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
    if code != 0:
        raise DeliveryError(f"{name}: errcode {code}: {answer.get('errmsg', '')}", retryable=code in retryable_codes)
