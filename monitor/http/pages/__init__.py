"""Server-rendered pages for the people who act on the monitor (aiohttp + Jinja2), one module per area;
`base` holds sessions, rendering and the guards every page uses."""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

from monitor.http.pages import alerts, buses, districtmap, login, overview, presses, records, tickets
from monitor.http.pages.base import JINJA_KEY, SESSIONS_KEY, Sessions

HERE = Path(__file__).resolve().parent


def add_pages(web_app: web.Application) -> None:
    web_app[JINJA_KEY] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
    )
    web_app[SESSIONS_KEY] = Sessions()
    r = web_app.router
    for area in (login, overview, alerts, buses, districtmap, tickets, records, presses):
        area.add_routes(r)
    r.add_static("/static/", HERE / "static", append_version=True)
