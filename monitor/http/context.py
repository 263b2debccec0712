"""What the HTTP edge is handed by the composition root: the parts its handlers read and act on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from devices.judge import Judge
from devices.model import Registry
from monitor.config import HttpConfig
from monitor.http.auth import Authenticator
from monitor.services.alerting import AlertEngine
from monitor.services.buses import BusDesk
from monitor.services.metrics import Exposition
from monitor.services.presses import PressBoard
from monitor.services.tickets import TicketDesk
from monitor.services.tracks import TrackStore
from monitor.storage.runner import DbThread


@dataclass(frozen=True, slots=True)
class HttpContext:
    cfg: HttpConfig
    registry: Registry
    judge: Judge
    clock: Callable[[], float]
    db: DbThread
    alerts: AlertEngine
    tickets: TicketDesk
    buses: BusDesk
    tracks: TrackStore
    auth: Authenticator
    metrics: Exposition
    ready: Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
    presses: PressBoard


CTX = web.AppKey("campus", HttpContext)


def context(request: web.Request) -> HttpContext:
    return request.app[CTX]
