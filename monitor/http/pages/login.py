"""Log in with a token (a server-side session) and out."""

from __future__ import annotations

from aiohttp import web

from monitor.http.auth import AuthError
from monitor.http.context import context
from monitor.http.pages.base import (
    COOKIE,
    SESSION,
    SESSION_IDLE_S,
    SESSIONS_KEY,
    page,
    render,
)
from monitor.storage.audit_store import Actor, audit

# ---- login -----------------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    return render(request, "login.html", next=request.query.get("next", "/"), failed=None)


async def login(request: web.Request) -> web.StreamResponse:
    c = context(request)
    form = await request.post()
    nxt = str(form.get("next") or "/")
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"
    token = str(form.get("token") or "").strip()
    found = await c.auth.principal_of_token(token) if token else None
    if found is None:
        try:
            await c.auth.failed(request.remote or "?")
        except AuthError:
            return render(request, "login.html", 429, next=nxt, failed="too_many")
        return render(request, "login.html", 401, next=nxt, failed="login_failed")
    session = request.app[SESSIONS_KEY].new(token, found)
    await c.db.call(audit, Actor(found.name, found.token_id, found.role, request.remote, "page"),
                    "session.login", f"token-{found.token_id}", None, c.clock())
    if nxt == "/" and found.role == "maintenance":
        nxt = "/tickets"
    resp = web.HTTPFound(nxt)
    resp.set_cookie(COOKIE, session.id, httponly=True, samesite="Strict", path="/",
                    secure=request.secure, max_age=int(SESSION_IDLE_S))
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
