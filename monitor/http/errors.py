"""One error shape for the whole HTTP edge: `{"error": {"status": N, "message": "..."}}`."""

from __future__ import annotations

import errno
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


class CannotListen(Exception):
    """The HTTP address cannot be bound (taken, not ours): one line for the operator, no traceback."""

    def __init__(self, listen: str, exc: OSError) -> None:
        reason = "the address is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        super().__init__(f"cannot serve HTTP on {listen}: {reason}; choose another with --listen or [http] listen")
