"""No way in (issue 10): redirects, the login form's CSRF, Secure cookies behind a trusted proxy, token
scope, expiry and revocation, and the failed-auth limit, against the running service."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from pathlib import Path

import aiohttp
import pytest

from devices.registry import parse_registry
from monitor.app import App
from monitor.cli import main as cli
from monitor.config import HttpConfig
from monitor.http.auth import validate_new
from monitor.http.pages.base import local_path
from monitor.storage.auth_tables import create_token, revoke_token
from tests.integration.service import get_json, make_config, token
from tests.registries import SMALL_REGISTRY

pytestmark = pytest.mark.integration


@pytest.fixture
async def app(tmp_path: Path, mosquitto: tuple[str, int]):
    cfg = make_config(mosquitto[1], f"sqlite:///{tmp_path / 'campus.db'}")
    cfg = dataclasses.replace(cfg, http=HttpConfig(listen="127.0.0.1:0", trusted_proxies="127.0.0.1"))
    a = App(cfg, parse_registry(SMALL_REGISTRY, "registry.yaml"), ("registry.yaml", SMALL_REGISTRY))
    await a.start()
    yield a
    await a.stop()


def base(app: App) -> str:
    host, port = app.http_address  # type: ignore[misc]
    return f"http://{host}:{port}"


async def login(http: aiohttp.ClientSession, app: App, tok: str, nxt: str = "/",
                headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    async with http.get(f"{base(app)}/login", params={"next": nxt}) as r:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert csrf is not None
    return await http.post(f"{base(app)}/login", data={"token": tok, "next": nxt, "csrf": csrf.group(1)},
                           allow_redirects=False, headers=headers or {})


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\r\n/evil.example", "/\\evil.example", "\\\\evil.example",
                                    "//evil.example", "https://evil.example/", "/\t\\evil.example", " //evil.example",
                                    "javascript:alert(1)", "/%0a"])
def test_a_redirect_target_off_the_site_is_refused_after_normalising(target: str) -> None:
    assert local_path(target) in ("/", "/%0a")
    assert not local_path(target).startswith("//")


def test_a_path_on_the_site_is_kept() -> None:
    assert local_path("/alerts?state=firing") == "/alerts?state=firing"


async def test_login_goes_to_next_only_on_this_site_and_needs_the_forms_csrf_token(app: App) -> None:
    tok = await token(app, "bureau")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        r = await login(http, app, tok, "/\t/evil.example")
        assert r.status == 302 and r.headers["Location"] == "/"
        r = await login(http, app, tok, "/alerts")
        assert r.status == 302 and r.headers["Location"] == "/alerts"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # a forged form: no cookie, no token from our form
        async with http.post(f"{base(app)}/login", data={"token": tok, "next": "/", "csrf": "x"},
                             allow_redirects=False) as r:
            assert r.status == 403
            assert "csm_session" not in r.cookies


async def test_the_session_cookie_is_secure_behind_a_trusted_proxy_that_says_https(app: App) -> None:
    tok = await token(app, "bureau")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        r = await login(http, app, tok, headers={"X-Forwarded-Proto": "https"})
        assert r.cookies["csm_session"]["secure"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        r = await login(http, app, tok)
        assert not r.cookies["csm_session"]["secure"]


async def test_a_maintenance_token_for_one_school_sees_only_that_school(app: App) -> None:
    tok = await token(app, "maintenance", ["other-ps"])
    status, body = await get_json(app, "/api/v1/tickets?school=panhe-ms", tok)
    assert status in (403, 404), body
    status, body = await get_json(app, "/api/v1/tickets?school=other-ps", tok)
    assert status == 200
    unscoped = await token(app, "maintenance")
    assert (await get_json(app, "/api/v1/tickets?school=panhe-ms", unscoped))[0] == 200


def test_school_is_refused_for_bureau_and_admin_tokens(tmp_path: Path, capsys) -> None:
    for role in ("bureau", "admin"):
        with pytest.raises(ValueError, match="every school"):
            validate_new(role, ["panhe-ms"], {"panhe-ms"})
    (tmp_path / "campus.toml").write_text(f'[database]\nurl = "sqlite:///{tmp_path / "t.db"}"\n')
    assert cli(["token", "create", "--role", "bureau", "--school", "panhe-ms", "--config",
                str(tmp_path / "campus.toml")]) != 0
    assert "every school" in capsys.readouterr().err


def test_token_expiry_is_shown_in_token_list(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "campus.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "t.db"}"\n')
    assert cli(["token", "create", "--role", "bureau", "--expires-in", "12h", "--config", str(cfg)]) == 0
    assert cli(["token", "create", "--role", "bureau", "--config", str(cfg)]) == 0
    assert cli(["token", "create", "--role", "bureau", "--expires-in", "soon", "--config", str(cfg)]) != 0
    capsys.readouterr()
    assert cli(["token", "list", "--config", str(cfg)]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == ["1", "2"]
    assert rows[0][4] == "active" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[0][5])
    assert rows[1][5] == "never"


async def test_an_expired_token_is_refused_with_401(app: App) -> None:
    _, tok = await app.db.call(create_token, "bureau", [], "short", 0.5)
    assert (await get_json(app, "/api/v1/schools", tok))[0] == 200
    deadline = time.monotonic() + 3
    while (await get_json(app, "/api/v1/schools", tok))[0] != 401:
        assert time.monotonic() < deadline, "an expired token still works"
        await asyncio.sleep(0.05)


async def test_a_revoked_token_is_refused_by_the_api_and_the_pages_within_one_second(app: App) -> None:
    info, tok = await app.db.call(create_token, "bureau", [], "to revoke")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        r = await login(http, app, tok)
        assert r.status == 302
        async with http.get(f"{base(app)}/alerts", allow_redirects=False) as page:
            assert page.status == 200
        assert (await get_json(app, "/api/v1/schools", tok))[0] == 200
        await app.db.call(revoke_token, info.id)
        revoked = time.monotonic()
        api_at = page_at = None
        while api_at is None or page_at is None:
            assert time.monotonic() - revoked < 1.0, (api_at, page_at)
            if api_at is None and (await get_json(app, "/api/v1/schools", tok))[0] == 401:
                api_at = time.monotonic() - revoked
            async with http.get(f"{base(app)}/alerts", allow_redirects=False) as page:
                if page_at is None and page.status == 302 and page.headers["Location"].startswith("/login"):
                    page_at = time.monotonic() - revoked
            await asyncio.sleep(0.02)


async def test_bad_tokens_from_one_address_never_lock_out_a_valid_token(app: App) -> None:
    tok = await token(app, "bureau")
    for i in range(40):
        status, _ = await get_json(app, "/api/v1/schools", f"csm_wrong{i}")
        assert status in (401, 429)
    assert status == 429  # the bad ones are slowed down and refused
    assert (await get_json(app, "/api/v1/schools", tok))[0] == 200
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        r = await login(http, app, tok)
        assert r.status == 302
