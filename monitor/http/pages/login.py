"""Log in with a token (a server-side session) and out."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from monitor.http.auth import AuthError
from monitor.http.client import client_address, via_tls
from monitor.http.context import context
from monitor.http.pages.base import (
    COOKIE,
    SESSION,
    SESSION_IDLE_S,
    SESSIONS_KEY,
    local_path,
    page,
    render,
)
from monitor.storage.audit_store import Actor, audit

LOGIN_CSRF_COOKIE = "csm_login_csrf"

# ---- login -----------------------------------------------------------------------------------------


def _form(request: web.Request, nxt: str, code: int = 200, failed: str | None = None) -> web.Response:
    """The login form with a fresh CSRF token, also set as a cookie the POST must match (no session
    exists yet, so the token is checked double-submit: a forged form from another site has no cookie)."""
    csrf = secrets.token_urlsafe(24)
    resp = render(request, "login.html", code, next=nxt, failed=failed, csrf=csrf)
    resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict", path="/login",
                    secure=via_tls(request), max_age=3600)
    return resp


async def login_form(request: web.Request) -> web.Response:
    return _form(request, local_path(request.query.get("next", "/")))


async def login(request: web.Request) -> web.StreamResponse:
    c = context(request)
    form = await request.post()
    nxt = local_path(str(form.get("next") or "/"))
    sent, expected = str(form.get("csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(sent, expected):
        return _form(request, nxt, 403, failed="stale_form")
    token = str(form.get("token") or "").strip()
    found = await c.auth.principal_of_token(token) if token else None
    if found is None:
        try:
            await c.auth.failed(client_address(request))
        except AuthError:
            return _form(request, nxt, 429, failed="too_many")
        return _form(request, nxt, 401, failed="login_failed")
    session = request.app[SESSIONS_KEY].new(token, found)
    await c.db.call(audit, Actor(found.name, found.token_id, found.role, request.remote, "page"),
                    "session.login", f"token-{found.token_id}", None, c.clock())
    if nxt == "/" and found.role == "maintenance":
        nxt = "/tickets"
    resp = web.HTTPFound(nxt)
    resp.set_cookie(COOKIE, session.id, httponly=True, samesite="Strict", path="/",
                    secure=via_tls(request), max_age=int(SESSION_IDLE_S))
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise resp


@page(("bureau", "officer", "maintenance"), post=True)
async def logout(request: web.Request) -> web.StreamResponse:
    request.app[SESSIONS_KEY].items.pop(request[SESSION].id, None)
    resp = web.HTTPFound("/login")
    resp.del_cookie(COOKIE, path="/")
    raise resp


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/login", login_form)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
