"""Reading a request: paging (`cursor`, `limit`), times, enumerated filters, JSON bodies and fields.
Every bad value is an `HttpError(400)` that names the parameter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web

from monitor.http.auth import AuthError, Principal
from monitor.http.errors import HttpError, json_response

T = TypeVar("T")

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
MAX_CURSOR = 1_000_000_000
MAX_BODY_TEXT = 2000
EARLIEST, LATEST = 0.0, 4102444800.0  # 1970 to 2100


# ---- paging ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paging:
    """One page of a list: `{"items": [...], "next": cursor-or-null}`; the cursor is an offset, opaque
    to clients."""

    offset: int
    limit: int

    def answer(self, items: Sequence[Any], more: bool) -> web.Response:
        """`items` is this page already (at most `limit` of them)."""
        return json_response({"items": list(items), "next": str(self.offset + self.limit) if more else None})

    def of(self, every: Sequence[Any], offset: int | None = None) -> web.Response:
        """This page of the whole list `every`; or, with `offset=0`, of a list that starts at this
        page already (one item past the page tells there are more)."""
        start = self.offset if offset is None else offset
        chunk = every[start:start + self.limit]
        return self.answer(chunk, start + self.limit < len(every))


def paging(request: web.Request) -> Paging:
    return Paging(_whole(request, "cursor", 0, 0, MAX_CURSOR), _whole(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT))


def _whole(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise HttpError(400, f"{name} must be a whole number")
    n = int(raw)
    if not low <= n <= high:
        raise HttpError(400, f"{name} must be between {low} and {high}")
    return n


# ---- query values ----------------------------------------------------------------------------------


def parse_time(value: str | None, name: str) -> float | None:
    """Unix seconds or RFC 3339 (with a zone), between 1970 and 2100."""
    if value is None or value == "":
        return None
    try:
        t = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise HttpError(400, f"{name} must be Unix seconds or an RFC 3339 time") from None
        if moment.tzinfo is None:
            raise HttpError(400, f"{name} must carry a time zone (e.g. Z)") from None
        t = moment.timestamp()
    if not EARLIEST <= t <= LATEST:  # also NaN
        raise HttpError(400, f"{name} must be between 1970 and 2100")
    return t


def choice(request: web.Request, name: str, allowed: Iterable[str]) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    allowed = tuple(allowed)
    if value not in allowed:
        raise HttpError(400, f"{name} must be one of {', '.join(allowed)}")
    return value


def school_filter(request: web.Request, principal: Principal, known: set[str]) -> set[str]:
    """The schools a list may show: the `school` query (checked) or every school the token sees.
    A school outside the caller's schools is 403 whether it exists or not (contract §5)."""
    wanted = request.query.get("school")
    if wanted:
        if not principal.sees_school(wanted):
            raise AuthError(403, "this token is not for that school")
        if wanted not in known:
            raise HttpError(404, f"no school {wanted!r}")
        return {wanted}
    return {s for s in known if principal.sees_school(s)}


# ---- JSON bodies -----------------------------------------------------------------------------------


async def body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HttpError(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object")
    return data


def text_field(data: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise HttpError(400, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise HttpError(400, f"{name} must be a string")
    if len(value) > MAX_BODY_TEXT:
        raise HttpError(400, f"{name} must be at most {MAX_BODY_TEXT} characters")
    if required and not value.strip():
        raise HttpError(400, f"{name} must not be empty")
    return value


def time_field(data: dict[str, Any], name: str, required: bool = True) -> float | None:
    value = data.get(name)
    if value is None:
        if required:
            raise HttpError(400, f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise HttpError(400, f"{name} must be Unix seconds or an RFC 3339 time")
    t = parse_time(str(value), name)
    if t is None and required:
        raise HttpError(400, f"{name} is required")
    return t


__all__ = ["AuthError", "Paging", "body", "choice", "parse_time", "paging", "school_filter", "text_field", "time_field"]
