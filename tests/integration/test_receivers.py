"""Every receiver kind against a real endpoint: aiohttp stand-ins for the webhook, WeCom and DingTalk
robots (checking their formats and signatures), a real SMTP server (aiosmtpd, STARTTLS + AUTH), and a
real Prometheus Alertmanager (Debian package `prometheus-alertmanager`) started on a free port."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import subprocess
import time
from email import message_from_bytes, policy
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from alerts.lifecycle import AlertBook, LifecycleConfig
from alerts.receivers import DeliveryError, deliver
from alerts.routing import Receiver, Router, compose, parse_receivers
from alerts.wording import RegistryNames
from devices.events import Judgement, Rule, Severity
from tests.ports import free_port
from tests.services import require_binary
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

NAMES = RegistryNames(schools={"panhe-ms": "盘河中学"}, zones={("panhe-ms", "dorm-girls"): "女生宿舍"})
SECRET = "SEC0123456789"


def camera(active: bool, t: float) -> Judgement:
    return Judgement(t, Rule.CAMERA_DOWN, Severity.CRITICAL, "panhe-ms", "cam-dg-01", active, "dorm-girls")


def messages(receiver: Receiver, *batches: list[Judgement]):
    """One message per judgement batch, through the real book and router."""
    book = AlertBook(LifecycleConfig(), NAMES)
    out = []
    for batch in batches:
        t = batch[0].time
        [notice] = Router([receiver], 0).route(book.judge(batch, t))
        out.append(compose(receiver.name, notice.key, [notice.body]))
    return out


class Robots:
    """Stand-ins for the webhook and the WeCom and DingTalk robot endpoints."""

    def __init__(self) -> None:
        self.received: dict[str, list[tuple[dict, web.Request]]] = {"hook": [], "wecom": [], "dingtalk": []}
        self.wecom_code = 0

    async def hook(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        self.received["hook"].append((await request.json(), request))
        return web.Response(status=200)

    async def wecom(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received["wecom"].append((body, request))
        ok = body.get("msgtype") == "markdown" and isinstance(body.get("markdown", {}).get("content"), str)
        code = self.wecom_code if ok else 40008
        return web.json_response({"errcode": code, "errmsg": "ok" if code == 0 else "refused"})

    async def dingtalk(self, request: web.Request) -> web.Response:
        timestamp, sign = request.query.get("timestamp", ""), request.query.get("sign", "")
        digest = hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
        fresh = timestamp.isdigit() and abs(int(timestamp) / 1000 - time.time()) < 3600
        if not fresh or not hmac.compare_digest(sign, base64.b64encode(digest).decode()):
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        body = await request.json()
        self.received["dingtalk"].append((body, request))
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def robots():
    robots = Robots()
    app = web.Application()
    app.router.add_post("/hook", robots.hook)
    app.router.add_post("/cgi-bin/webhook/send", robots.wecom)
    app.router.add_post("/robot/send", robots.dingtalk)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield robots, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_webhook_gets_the_contract_body_with_an_idempotency_key(robots):
    robots, base = robots
    [receiver] = parse_receivers([{"kind": "webhook", "name": "bureau", "url": f"{base}/hook"}])
    [message] = messages(receiver, [camera(True, 1_764_057_600.0)])
    async with aiohttp.ClientSession() as http:
        await deliver(http, receiver, message, time.time())
    [(body, request)] = robots.received["hook"]
    assert request.headers["Idempotency-Key"] == message.key
    assert body["receiver"] == "bureau"
    [alert] = body["alerts"]
    assert alert["summary"] == "盘河中学 女生宿舍 摄像头 cam-dg-01 离线"
    assert (alert["state"], alert["started_at"], alert["zone"]) == ("firing", "2025-11-25T08:00:00Z", "dorm-girls")


async def test_wecom_robot_gets_markdown_and_a_refusal_is_reported(robots):
    robots, base = robots
    [receiver] = parse_receivers([{"kind": "wecom", "url": f"{base}/cgi-bin/webhook/send?key=K"}])
    [message] = messages(receiver, [camera(True, time.time())])
    async with aiohttp.ClientSession() as http:
        await deliver(http, receiver, message, time.time())
        robots.wecom_code = 45009  # over the robot's rate limit
        with pytest.raises(DeliveryError) as err:
            await deliver(http, receiver, message, time.time())
    assert err.value.retryable and "45009" in str(err.value)
    body, request = robots.received["wecom"][0]
    assert request.query["key"] == "K"
    assert "摄像头 cam-dg-01 离线" in body["markdown"]["content"]


async def test_dingtalk_robot_accepts_the_signature_and_refuses_a_wrong_secret(robots):
    robots, base = robots
    url = f"{base}/robot/send?access_token=T"
    [good, bad] = parse_receivers([
        {"kind": "dingtalk", "name": "good", "url": url, "secret": SECRET},
        {"kind": "dingtalk", "name": "bad", "url": url, "secret": "wrong"},
    ])
    [message] = messages(good, [camera(True, time.time())])
    async with aiohttp.ClientSession() as http:
        await deliver(http, good, message, time.time())
        with pytest.raises(DeliveryError) as err:
            await deliver(http, bad, message, time.time())
    assert not err.value.retryable and "310000" in str(err.value)
    [(body, request)] = robots.received["dingtalk"]
    assert request.query["access_token"] == "T"
    assert body["msgtype"] == "markdown" and body["markdown"]["title"].startswith("【紧急·告警】")


# ---- e-mail ------------------------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], bytes, str]] = []  # from, to, content, login

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.mails.append((envelope.mail_from, envelope.rcpt_tos, envelope.content, session.auth_data.login.decode()))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"monitor", b"s3cret")
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def smtp_server(tmp_path: Path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticator, auth_require_tls=True,
    )
    controller.start()
    yield mailbox, port, cert
    controller.stop()


async def test_email_goes_over_starttls_with_login_and_a_chinese_subject(smtp_server):
    mailbox, port, cert = smtp_server
    item = {"kind": "email", "host": "127.0.0.1", "port": port, "starttls": True, "cafile": str(cert),
            "username": "monitor", "password": "s3cret", "from": "monitor@edu.example", "to": ["duty@edu.example"]}
    [receiver] = parse_receivers([item])
    [message] = messages(receiver, [camera(True, time.time())])
    async with aiohttp.ClientSession() as http:
        await deliver(http, receiver, message, time.time())
        [wrong] = parse_receivers([{**item, "password": "nope"}])
        with pytest.raises(DeliveryError) as err:
            await deliver(http, wrong, message, time.time())
    assert not err.value.retryable
    [(sender, rcpts, content, login)] = mailbox.mails
    assert (sender, rcpts, login) == ("monitor@edu.example", ["duty@edu.example"], "monitor")
    mail = message_from_bytes(content, policy=policy.default)
    assert mail["Subject"] == "【紧急·告警】盘河中学 女生宿舍 摄像头 cam-dg-01 离线"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert "cam-dg-01" in mail.get_body(("html",)).get_content()


# ---- Alertmanager --------------------------------------------------------------------------------



@pytest.fixture
async def alertmanager(tmp_path: Path):
    alertmanager = require_binary("prometheus-alertmanager", "prometheus-alertmanager", also=("alertmanager",))
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    port = free_port()
    proc = subprocess.Popen(
        [alertmanager, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async def ready() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"alertmanager exited: {proc.stderr.read().decode()[-2000:]}")
                try:
                    async with http.get(f"{base}/-/ready") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(ready, 10, "alertmanager to be ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


async def am_alerts(http: aiohttp.ClientSession, base: str) -> list[dict]:
    async with http.get(f"{base}/api/v2/alerts") as r:
        assert r.status == 200
        return json.loads(await r.text())


async def test_alertmanager_lists_the_alert_and_ends_it_on_resolve(alertmanager):
    [receiver] = parse_receivers([{"kind": "alertmanager", "url": alertmanager}])
    t = time.time() - 5
    firing, resolved = messages(receiver, [camera(True, t)], [camera(False, t + 2)])
    async with aiohttp.ClientSession() as http:
        await deliver(http, receiver, firing, time.time())
        [listed] = await am_alerts(http, alertmanager)
        assert listed["labels"] == {"alertname": "camera_down", "school": "panhe-ms", "subject": "cam-dg-01",
                                    "severity": "critical", "zone": "dorm-girls"}
        assert listed["annotations"]["summary"] == "盘河中学 女生宿舍 摄像头 cam-dg-01 离线"
        assert listed["status"]["state"] == "active"
        await deliver(http, receiver, resolved, time.time())
        # Alertmanager's API leaves out alerts whose endsAt has passed: that is how it shows "resolved".
        assert await am_alerts(http, alertmanager) == []
