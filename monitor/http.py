"""The HTTP edge: health, metrics and the JSON API (contract §5), with one error shape everywhere.

Every /api/v1 route names the roles it admits and checks the school of what it shows; an officer
never sees another school's data. Errors are `{"error": {"status": N, "message": "..."}}`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from devices.model import DeviceKind
from monitor.auth import AuthError, Principal, digest, require
from monitor.metrics import make_registry
from monitor.storage.auth_tables import find_principal

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
APP_KEY = web.AppKey("campus_app", object)
AUTH_KEY = web.AppKey("auth", object)
METRICS_KEY = web.AppKey("metrics_registry", object)
PRINCIPAL = "principal"
DEVICE_STATES = ("unknown", "up", "faulty", "down")
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
FAILED_AUTH_PER_MINUTE = 30
_TOKEN_CACHE_S = 10.0


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error(status: int, message: str) -> web.Response:
    return json_response({"error": {"status": status, "message": message}}, status)


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---- authentication --------------------------------------------------------------------------------


class Authenticator:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._failures: dict[str, tuple[float, int]] = {}

    async def principal(self, request: web.Request) -> Principal | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self._failed(request)
            raise AuthError(401, "Authorization must be `Bearer TOKEN`")
        token = token.strip()
        now = time.monotonic()
        key = digest(token)
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < _TOKEN_CACHE_S:
            found = hit[1]
        else:
            found = await self.app.db_call(find_principal, token)
            self._cache[key] = (now, found)
            if len(self._cache) > 10_000:
                self._cache.clear()
        if found is None:
            self._failed(request)
            raise AuthError(401, "the token is not valid")
        return found

    def limited(self, request: web.Request) -> bool:
        peer = request.remote or "?"
        start, n = self._failures.get(peer, (0.0, 0))
        return time.monotonic() - start < 60 and n >= FAILED_AUTH_PER_MINUTE

    def failed(self, request: web.Request) -> None:
        """Count a failed authentication from the request's peer (API tokens and page logins alike)."""
        self._failed(request)

    def _failed(self, request: web.Request) -> None:
        peer = request.remote or "?"
        now = time.monotonic()
        start, n = self._failures.get(peer, (now, 0))
        if now - start >= 60:
            start, n = now, 0
        self._failures[peer] = (start, n + 1)
        log.warning("failed API authentication from %s", peer)


@web.middleware
async def errors_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    auth: Authenticator = request.app[AUTH_KEY]
    try:
        if request.path.startswith("/api/") and request.path != "/api/v1/openapi.json":
            if auth.limited(request):
                return error(429, "too many failed authentication attempts; wait a minute")
            request[PRINCIPAL] = await auth.principal(request)
        return await handler(request)
    except AuthError as exc:
        return error(exc.status, exc.message)
    except HttpError as exc:
        return error(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error(exc.status, exc.reason)
        raise
    except Exception:  # noqa: BLE001
        log.exception("error serving %s %s", request.method, request.path)
        return error(500, "internal error; see the monitor's log")


def who(request: web.Request, roles: tuple[str, ...], school: str | None = None) -> Principal:
    return require(request.get(PRINCIPAL), roles, school)


# ---- helpers for lists ---------------------------------------------------------------------------------


def page(request: web.Request, items: list[Any]) -> web.Response:
    """`{"items": [...], "next": cursor-or-null}`; the cursor is an offset, opaque to clients."""
    limit = _int(request.query.get("limit"), DEFAULT_LIMIT, "limit", 1, MAX_LIMIT)
    start = _int(request.query.get("cursor"), 0, "cursor", 0, None)
    chunk = items[start:start + limit]
    nxt = str(start + limit) if start + limit < len(items) else None
    return json_response({"items": chunk, "next": nxt})


def _int(value: str | None, default: int, name: str, low: int, high: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise HttpError(400, f"{name} must be a whole number") from None
    if n < low or (high is not None and n > high):
        raise HttpError(400, f"{name} must be between {low} and {high}" if high else f"{name} must be >= {low}")
    return n


def choice(request: web.Request, name: str, allowed: Iterable[str]) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    allowed = tuple(allowed)
    if value not in allowed:
        raise HttpError(400, f"{name} must be one of {', '.join(allowed)}")
    return value


def school_filter(request: web.Request, principal: Principal, known: set[str]) -> set[str]:
    """The schools a list may show: the `school` query (checked) or every school the token sees."""
    wanted = request.query.get("school")
    if wanted:
        if wanted not in known:
            raise HttpError(404, f"no school {wanted!r}")
        if not principal.sees_school(wanted):
            raise AuthError(403, f"this token is not for school {wanted}")
        return {wanted}
    return {s for s in known if principal.sees_school(s)}


# ---- views of the judge --------------------------------------------------------------------------------


def device_view(dev: Any) -> dict[str, Any]:
    return {
        "id": dev.id, "school": dev.school, "kind": str(dev.kind), "zone": dev.zone,
        "state": str(dev.state), "last_seen": iso(dev.last_seen), "last_seen_ts": dev.last_seen,
        "since": iso(dev.since), "reason": dev.reason or None,
    }


def school_view(app: Any, school_id: str) -> dict[str, Any]:
    reg = app.registry
    school = reg.school(school_id)
    judge = app.judge
    devices = [d for d in judge.devices() if d.school == school_id]
    zones = []
    for zone in school.zones:
        zc = judge.coverage.zones.get((school_id, zone.id))
        zones.append({
            "id": zone.id, "name": zone.name, "kind": zone.kind, "min_live": zone.min_live,
            "cameras": zc.cameras if zc else 0, "live": zc.live if zc else 0, "dark": bool(zc and zc.dark),
        })
    buses = []
    for bus in reg.buses:
        if bus.school != school_id:
            continue
        dev = judge.liveness.devices.get((school_id, DeviceKind.GPS, bus.id))
        buses.append({"id": bus.id, "plate": bus.plate, "route": bus.route, "capacity": bus.capacity,
                      "gps": str(dev.state) if dev else "unknown", "last_seen": iso(dev.last_seen) if dev else None,
                      **app.bus_view(bus.id)})
    sc = judge.coverage.schools.get(school_id)
    return {
        "id": school.id, "name": school.name, "offline": bool(sc and sc.offline),
        "zones": zones,
        "devices": [device_view(d) for d in devices if d.kind is not DeviceKind.GPS],
        "buses": buses,
    }


# ---- routes --------------------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ok, detail = await request.app[APP_KEY].ready()  # type: ignore[attr-defined]
    return json_response({"status": "ready" if ok else "not ready", **detail}, 200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    if not app.cfg.http.metrics_public:  # type: ignore[attr-defined]
        request[PRINCIPAL] = await request.app[AUTH_KEY].principal(request)
        who(request, ("bureau", "officer", "maintenance"))
    body = generate_latest(request.app[METRICS_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def list_schools(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    principal = who(request, ("bureau", "officer"))
    known = {s.id for s in app.registry.schools}  # type: ignore[attr-defined]
    allowed = school_filter(request, principal, known)
    items = [school_view(app, s.id) for s in app.registry.schools if s.id in allowed]  # type: ignore[attr-defined]
    return page(request, items)


async def get_school(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    school_id = request.match_info["id"]
    who(request, ("bureau", "officer"), school_id)
    if app.registry.school(school_id) is None:  # type: ignore[attr-defined]
        raise HttpError(404, f"no school {school_id!r}")
    return json_response(school_view(app, school_id))


async def list_devices(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    principal = who(request, ("bureau", "officer"))
    known = {s.id for s in app.registry.schools}  # type: ignore[attr-defined]
    allowed = school_filter(request, principal, known)
    state = choice(request, "state", DEVICE_STATES)
    kind = choice(request, "kind", [k.value for k in DeviceKind])
    items = [
        device_view(d) for d in app.judge.devices()  # type: ignore[attr-defined]
        if d.school in allowed and (state is None or d.state == state) and (kind is None or d.kind == kind)
    ]
    items.sort(key=lambda v: (v["school"], v["kind"], v["id"]))
    return page(request, items)


def make_web_app(app: Any) -> web.Application:
    web_app = web.Application(middlewares=[errors_and_auth], client_max_size=64 * 1024)
    web_app[APP_KEY] = app
    web_app[AUTH_KEY] = Authenticator(app)
    registry, _ = make_registry(app)
    web_app[METRICS_KEY] = registry
    r = web_app.router
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/metrics", metrics)
    r.add_get("/api/v1/schools", list_schools)
    r.add_get("/api/v1/schools/{id}", get_school)
    r.add_get("/api/v1/devices", list_devices)
    for extend in app.route_extensions:
        extend(web_app)
    return web_app
