"""The banner's feeds without a browser: `/events` (server-sent events) and `/presses` (the polling
fallback) take the page session, admit only the bureau and officers, show each viewer only its schools'
presses, push a press published on a real Mosquitto at once, and end the stream of a revoked token.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from monitor.app import App
from monitor.storage.auth_tables import create_token, revoke_token
from tests.integration.service import Device, serving
from tests.integration.test_api import build_app, call

pytestmark = pytest.mark.integration


@pytest.fixture
async def service(tmp_path: Path, mosquitto: tuple[str, int]) -> AsyncIterator[tuple[App, Device]]:
    app = build_app(mosquitto[1], tmp_path)
    async with serving(app, mosquitto[1]) as running:
        yield running


def url_of(app: App) -> str:
    host, port = app.http_address  # type: ignore[misc]
    return f"http://{host}:{port}"


async def session_for(app: App, tok: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies of 127.0.0.1
    async with http.get(url_of(app) + "/login") as r:  # the form carries its CSRF token
        csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert csrf is not None
    async with http.post(url_of(app) + "/login", data={"token": tok, "next": "/", "csrf": csrf.group(1)},
                         allow_redirects=False) as r:
        assert r.status == 302
    return http


async def next_event(stream: aiohttp.StreamReader, timeout: float = 2.0) -> dict[str, Any] | None:
    """The next `presses` event's data; None when the stream ended."""
    async def read() -> dict[str, Any] | None:
        event: str | None = None
        while True:
            line = await stream.readline()
            if not line:
                return None
            text = line.decode().rstrip("\n")
            if text.startswith("event: "):
                event = text[7:]
            elif text.startswith("data: ") and event == "presses":
                return dict(orjson.loads(text[6:]))
    return await asyncio.wait_for(read(), timeout)


async def test_the_event_stream_pushes_a_press_to_its_schools_only_and_ends_for_a_revoked_token(service) -> None:
    app, dev = service
    url = url_of(app)
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url + "/events") as r:
        assert r.status == 401
    officer_info, officer = await app.db.call(create_token, "officer", ["panhe-ms"], "安全员")
    _, stranger = await app.db.call(create_token, "officer", ["other-ps"], "他校安全员")
    _, crew = await app.db.call(create_token, "maintenance", [], "维修")
    _, bureau = await app.db.call(create_token, "bureau", [], "教育局")
    mine, theirs, crews = [await session_for(app, t) for t in (officer, stranger, crew)]
    try:
        async with crews.get(url + "/events") as r:
            assert r.status == 403
        async with mine.get(url + "/events") as own, theirs.get(url + "/events") as other:
            assert own.headers["Content-Type"].startswith("text/event-stream")
            assert await next_event(own.content) == {"items": [], "count": 0}
            assert await next_event(other.content) == {"items": [], "count": 0}
            await asyncio.to_thread(dev.send, "campus/panhe-ms/alarm/alarm-gate/event",
                                    {"ts": time.time(), "event_id": "feed-1", "type": "press"})
            pushed = await next_event(own.content)
            assert pushed is not None
            [item] = pushed["items"]
            assert (item["school_name"], item["place"], item["bus"]) == ("盘河中学", "校门", False)
            async with theirs.get(url + "/presses") as r:
                assert (await r.json())["items"] == []
            async with mine.get(url + "/presses") as r:
                assert [p["id"] for p in (await r.json())["items"]] == [item["id"]]

            await app.db.call(revoke_token, officer_info.id)
            await asyncio.sleep(0.6)  # past the session's re-check interval
            status, _ = await call(app, "POST", f"/api/v1/alerts/{item['id']}/ack", bureau, json={"note": "处理完毕"})
            assert status == 200
            assert await next_event(own.content) is None  # the revoked officer's stream ended
    finally:
        for http in (mine, theirs, crews):
            await http.close()
