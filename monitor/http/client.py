"""Who is asking, and how: the client's address and whether the request came over TLS, believing a
reverse proxy's X-Forwarded-Proto / X-Forwarded-For only when it is one of `[http] trusted_proxies`."""

from __future__ import annotations

from ipaddress import ip_address

from aiohttp import web

from monitor.config import parse_networks
from monitor.http.context import context


def via_tls(request: web.Request) -> bool:
    """The request came over TLS: to us, or to a trusted proxy that says so in X-Forwarded-Proto."""
    if request.secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https" and from_trusted_proxy(request)


def from_trusted_proxy(request: web.Request) -> bool:
    networks = parse_networks(context(request).cfg.trusted_proxies)
    try:
        peer = ip_address((request.remote or "").split("%")[0])
    except ValueError:
        return False
    return any(peer in net for net in networks)


def client_address(request: web.Request) -> str:
    """The client's address: the peer, or behind a trusted proxy the last address it added to
    X-Forwarded-For (failed logins are counted per client, not per proxy)."""
    peer = request.remote or "?"
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and from_trusted_proxy(request):
        return forwarded.split(",")[-1].strip() or peer
    return peer
