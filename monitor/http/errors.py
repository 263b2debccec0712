"""One error shape for the whole HTTP edge: `{"error": {"status": N, "message": "..."}}`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error(status: int, message: str) -> web.Response:
    return json_response({"error": {"status": status, "message": message}}, status)
