"""The GB/T 28181 bridge: the platform side of SIP over UDP and TCP, publishing §2 camera/NVR topics.

- `REGISTER` from a registry `gb_id` (an NVR or a camera): with `password` set, a Digest (MD5)
  challenge (401 with WWW-Authenticate; nonces are HMACs of their time, good for 5 minutes, so no
  state is kept per challenge); a wrong answer gets 403, an unknown id 403 (counted). Accepted: 200
  with Expires and Date (the device's clock source), and a retained `status` `online`. `Expires: 0`
  unregisters: 200 and a retained `status` `offline`.
- `MESSAGE` (or `NOTIFY`) with a MANSCDP `Keepalive`: 200 and a `heartbeat` of that NVR or camera
  (`Status` ERROR -> `fault`). With a `Catalog` response or notification: 200, and the NVR's
  heartbeat with `channels` {camera id: on/off} for the items that are registry cameras of its school
  (others are counted as `foreign_channel`).
- The channel states an NVR last reported (merged over its Catalog messages: a catalog may come in
  several, a notification names only what changed) go with each of its Keepalives' heartbeats, as a
  GB/T 28181 platform keeps a channel's status until a Catalog changes it. So the cameras behind an
  NVR are heard as often as the NVR is (Keepalive every 60 s by default), not only once per
  `catalog_every_s` (300 s, longer than a camera's 90 s timeout), and when the NVR dies its cameras
  fall silent with it: `nvr_down` and `unreachable`, never a `camera_down` each. The states are
  forgotten when the NVR unregisters or its registration expires.
- After an NVR registers, and every `catalog_every_s`, a `MESSAGE` `Catalog` query is sent to it over
  the transport and address it registered from.
- Anything malformed is answered 400 when it can be (a request) and counted; nothing stops the bridge.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bridges import payloads
from bridges.config import Gb28181Config, split_listen
from bridges.connection import TcpConnection
from bridges.gb28181 import manscdp, sip
from bridges.gb28181.sip import SipError, SipMessage
from bridges.metrics import Stats
from bridges.publisher import Publisher
from bridges.targets import Target, Targets
from devices.model import DeviceKind
from monitor.mqtt.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

NONCE_TTL_S = 300.0
_UTC8 = timezone(timedelta(hours=8))
Send = Callable[[bytes], None]


@dataclass(slots=True)
class Registration:
    target: Target
    gb_id: str
    transport: str  # "UDP" or "TCP"
    addr: tuple[str, int]
    send: Send
    expires_at: float  # monotonic


class Gb28181Bridge:
    def __init__(self, cfg: Gb28181Config, targets: Targets, publisher: Publisher, stats: Stats,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.targets = targets
        self.publisher = publisher
        self.stats = stats
        self.clock = clock
        self.registered: dict[str, Registration] = {}
        self.channels: dict[Target, dict[str, str]] = {}  # NVR -> {camera id: on/off}, from its Catalogs
        self.bad = RateLimitedLog(log)  # refusals and bad input: a few lines a minute per outcome
        self._secret = secrets.token_bytes(16)
        self._cseq = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_conns: set[_SipTcp] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        stats.devices = lambda: len(self.registered)

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        host, port = split_listen(self.cfg.listen)
        loop = self._loop = asyncio.get_running_loop()
        self._tcp = await loop.create_server(lambda: _SipTcp(self), host, port, reuse_address=True)
        self.port = self._tcp.sockets[0].getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(lambda: _SipUdp(self), local_addr=(host, self.port))
        self._udp = transport
        self._tasks = [loop.create_task(self._catalog_loop()), loop.create_task(self._sweep())]
        log.info("GB/T 28181 bridge %s listening on %s:%d (UDP and TCP; %d gb_ids in the registry)",
                 self.cfg.server_id, host, self.port, len(self.targets.gb))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self._udp:
            self._udp.close()
        if self._tcp:
            self._tcp.close()
            for c in list(self._tcp_conns):
                c.close()
            await self._tcp.wait_closed()

    async def _catalog_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.catalog_every_s)
            for reg in list(self.registered.values()):
                if reg.target.kind is DeviceKind.NVR:
                    self.query_catalog(reg)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            self.bad.flush(self.clock())
            now = time.monotonic()
            for gb_id in [k for k, r in self.registered.items() if r.expires_at < now]:
                log.info("GB/T 28181 registration of %s expired", gb_id)
                self.channels.pop(self.registered.pop(gb_id).target, None)

    # ---- one message ---------------------------------------------------------------------------

    def datagram(self, data: bytes, transport: str, addr: tuple[str, int], send: Send) -> None:
        """Handle one SIP message from `addr`; `send` answers on the same transport."""
        if not data.strip(b"\r\n"):  # keep-alive CRLF
            return
        try:
            msg = sip.parse(data)
        except SipError as exc:
            self.stats.frame(exc.reason)
            self.bad.warn(exc.reason, self.clock(), "bad SIP message from %s: %s", addr[0], exc)
            self._bad_request(data, send, exc)
            return
        try:
            if msg.method is None:
                self.stats.frame("response")  # answers to our Catalog queries
                return
            out = self.handle(msg, transport, addr, send)
        except Exception:  # noqa: BLE001 - one message never stops the bridge
            self.stats.frame("error")
            log.exception("error handling SIP %s from %s", msg.method, addr[0])
            out = sip.response(msg, 500, "Server Internal Error")
        if out:
            send(out)

    def _bad_request(self, data: bytes, send: Send, exc: SipError) -> None:
        # answer 400 when the start line and the dialog headers are there to answer with
        head = data.split(b"\r\n\r\n", 1)[0]
        if head[:8] == b"SIP/2.0 " or b"\r\n" not in head:
            return
        try:
            msg = sip.parse(head + b"\r\n\r\n")
        except SipError:
            return
        if msg.method not in (None, "ACK"):
            send(sip.response(msg, 400, "Bad Request"))

    def handle(self, msg: SipMessage, transport: str, addr: tuple[str, int], send: Send) -> bytes | None:
        method = msg.method
        if method == "REGISTER":
            return self._register(msg, transport, addr, send)
        if method in ("MESSAGE", "NOTIFY"):
            return self._message(msg)
        if method == "ACK":
            return None
        if method == "OPTIONS":
            self.stats.frame("accepted")
            return sip.response(msg, 200, "OK", to_tag=self._tag())
        self.stats.frame("unsupported")
        return sip.response(msg, 405, "Method Not Allowed", [("Allow", "REGISTER, MESSAGE, NOTIFY, OPTIONS")])

    def _register(self, msg: SipMessage, transport: str, addr: tuple[str, int], send: Send) -> bytes:
        gb_id = sip.user_of(msg.get("from")) or ""
        target = self.targets.gb.get(gb_id)
        if target is None:
            self.stats.frame("unknown_device")
            self.bad.warn("unknown_device", self.clock(), "GB/T 28181 REGISTER from %s (%s): not a gb_id of the registry; 403",
                          gb_id[:40], addr[0])
            return sip.response(msg, 403, "Forbidden", to_tag=self._tag())
        if self.cfg.password:
            refusal = self._check_auth(msg, gb_id)
            if refusal is not None:
                return refusal
        expires = _expires(msg)
        now = self.clock()
        if expires == 0:
            self.registered.pop(gb_id, None)
            self.channels.pop(target, None)
            self.stats.frame("accepted")
            log.info("GB/T 28181 %s %s (%s) unregistered", target.kind, target.id, gb_id)
            self._publish(target, "status", b"offline", qos=1, retain=True)
            return sip.response(msg, 200, "OK", [("Expires", "0")], to_tag=self._tag())
        first = gb_id not in self.registered
        self.registered[gb_id] = Registration(target, gb_id, transport, addr, send, time.monotonic() + expires)
        self.stats.frame("accepted")
        if first:
            log.info("GB/T 28181 %s %s (%s) registered from %s over %s", target.kind, target.id, gb_id, addr[0], transport)
        self._publish(target, "status", b"online", qos=1, retain=True)
        date = datetime.fromtimestamp(now, _UTC8).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(now * 1000) % 1000:03d}"
        out = sip.response(msg, 200, "OK", [("Expires", str(expires)), ("Date", date)], to_tag=self._tag())
        if target.kind is DeviceKind.NVR and self._loop is not None:
            self._loop.call_soon(self.query_catalog, self.registered[gb_id])  # after the 200 has left
        return out

    def _check_auth(self, msg: SipMessage, gb_id: str) -> bytes | None:
        header = msg.get("authorization")
        if header is None:
            self.stats.frame("challenged")
            return self._challenge(msg, stale=False)
        try:
            p = sip.params(header)
            username, nonce, uri, answer = p["username"], p["nonce"], p["uri"], p["response"]
        except (SipError, KeyError):
            self.stats.frame("auth_failed")
            return sip.response(msg, 403, "Forbidden", to_tag=self._tag())
        age = self._nonce_age(nonce)
        if age is None or p.get("realm", self.cfg.domain) != self.cfg.domain:
            self.stats.frame("auth_failed")
            self.bad.warn("auth_failed", self.clock(), "GB/T 28181 REGISTER of %s with a nonce or realm not ours; 403", gb_id)
            return sip.response(msg, 403, "Forbidden", to_tag=self._tag())
        if age > NONCE_TTL_S:
            self.stats.frame("challenged")
            return self._challenge(msg, stale=True)
        expected = sip.digest(username, self.cfg.domain, self.cfg.password, "REGISTER", uri, nonce,
                              p.get("qop"), p.get("nc"), p.get("cnonce"))
        if not hmac.compare_digest(expected, answer.lower()):
            self.stats.frame("auth_failed")
            self.bad.warn("auth_failed", self.clock(), "GB/T 28181 REGISTER of %s: wrong digest password; 403", gb_id)
            return sip.response(msg, 403, "Forbidden", to_tag=self._tag())
        return None

    def _challenge(self, msg: SipMessage, stale: bool) -> bytes:
        nonce = self._nonce()
        value = f'Digest realm="{self.cfg.domain}", nonce="{nonce}", algorithm=MD5, qop="auth"'
        if stale:
            value += ", stale=TRUE"
        return sip.response(msg, 401, "Unauthorized", [("WWW-Authenticate", value)], to_tag=self._tag())

    def _nonce(self) -> str:
        stamp = f"{int(self.clock()):x}"
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:16]
        return f"{stamp}{mac}"

    def _nonce_age(self, nonce: str) -> float | None:
        stamp, mac = nonce[:-16], nonce[-16:]
        good = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:16]
        if not stamp or not hmac.compare_digest(mac, good):
            return None
        try:
            return self.clock() - int(stamp, 16)
        except ValueError:
            return None

    def _message(self, msg: SipMessage) -> bytes:
        try:
            body = manscdp.decode(msg.body)
        except manscdp.XmlError as exc:
            self.stats.frame("xml")
            self.bad.warn("xml", self.clock(), "bad MANSCDP body from %s: %s", (sip.user_of(msg.get("from")) or "?")[:40], exc)
            return sip.response(msg, 400, "Bad Request", to_tag=self._tag())
        gb_id = body.device_id or sip.user_of(msg.get("from")) or ""
        target = self.targets.gb.get(gb_id) or self.targets.gb.get(sip.user_of(msg.get("from")) or "")
        if target is None:
            self.stats.frame("unknown_device")
            self.bad.warn("unknown_device", self.clock(), "GB/T 28181 %s %s from %s: not a gb_id of the registry; 403",
                          msg.method, body.cmd_type[:40], gb_id[:40])
            return sip.response(msg, 403, "Forbidden", to_tag=self._tag())
        now = self.clock()
        if body.cmd_type == "Keepalive":
            status = "ok" if body.status in ("OK", "") else "fault"
            known = self.channels.get(target)
            self._publish(target, "heartbeat", payloads.heartbeat(now, status, dict(known) if known else None))
        elif body.cmd_type == "Catalog" and body.root in ("Response", "Notify"):
            self._catalog(target, body, now)
        else:
            self.stats.frame("ignored")
            return sip.response(msg, 200, "OK", to_tag=self._tag())
        self.stats.frame("accepted")
        return sip.response(msg, 200, "OK", to_tag=self._tag())

    def _catalog(self, nvr: Target, body: manscdp.Body, now: float) -> None:
        channels: dict[str, str] = {}
        for item in body.items:
            cam = self.targets.gb.get(item.device_id)
            if cam is None or cam.kind is not DeviceKind.CAMERA or cam.school != nvr.school or item.status is None:
                if item.device_id != body.device_id:
                    self.stats.frame("foreign_channel")
                continue
            channels[cam.id] = item.status
        if nvr.kind is not DeviceKind.NVR:
            self._publish(nvr, "heartbeat", payloads.heartbeat(now))
        elif channels:
            self.channels.setdefault(nvr, {}).update(channels)
            self._publish(nvr, "heartbeat", payloads.heartbeat(now, channels=channels))

    def query_catalog(self, reg: Registration) -> None:
        if self.registered.get(reg.gb_id) is not reg:
            return
        self._cseq += 1
        host, port = self._local_addr(reg)
        domain, sid = self.cfg.domain, self.cfg.server_id
        body = manscdp.catalog_query(self._cseq, reg.gb_id)
        data = sip.request("MESSAGE", f"sip:{reg.gb_id}@{reg.addr[0]}:{reg.addr[1]}", [
            ("Via", f"SIP/2.0/{reg.transport} {host}:{port};rport;branch=z9hG4bK{secrets.token_hex(6)}"),
            ("From", f"<sip:{sid}@{domain}>;tag={self._tag()}"),
            ("To", f"<sip:{reg.gb_id}@{domain}>"),
            ("Call-ID", f"{secrets.token_hex(8)}@{host}"),
            ("CSeq", f"{self._cseq} MESSAGE"),
            ("Max-Forwards", "70"),
            ("User-Agent", "campus-monitor"),
            ("Content-Type", "Application/MANSCDP+xml"),
        ], body)
        self.stats.frame("catalog_query")
        try:
            reg.send(data)
        except OSError as exc:
            log.warning("cannot send a Catalog query to %s: %s", reg.gb_id, exc)

    def _local_addr(self, reg: Registration) -> tuple[str, int]:
        host, _ = split_listen(self.cfg.listen)
        if host in ("0.0.0.0", "::", ""):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.connect(reg.addr)
                    host = s.getsockname()[0]
                except OSError:
                    host = "127.0.0.1"
        return host, self.port

    def _publish(self, target: Target, leaf: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self.publisher.publish(self.publisher.prefix(target.school, target.segment, target.id), leaf, payload, qos, retain)

    @staticmethod
    def _tag() -> str:
        return secrets.token_hex(4)


def _expires(msg: SipMessage) -> int:
    value = msg.get("expires")
    if value is None:
        contact = msg.get("contact") or ""
        for part in contact.split(";")[1:]:
            k, _, v = part.partition("=")
            if k.strip().lower() == "expires":
                value = v.strip()
    if value is None or not value.strip().isdigit():
        return 3600
    return min(int(value), 86400)


class _SipUdp(asyncio.DatagramProtocol):
    def __init__(self, bridge: Gb28181Bridge) -> None:
        self.bridge = bridge
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        transport = self.transport
        assert transport is not None

        def send(out: bytes) -> None:
            transport.sendto(out, addr)

        self.bridge.datagram(data, "UDP", addr, send)


class _SipTcp(TcpConnection):
    def __init__(self, bridge: Gb28181Bridge) -> None:
        self.bridge = bridge
        self.splitter = sip.StreamSplitter()
        self.addr: tuple[str, int] = ("?", 0)
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = self.attach(transport, 64 * 1024)
        self.addr = tcp.get_extra_info("peername") or ("?", 0)
        self.bridge._tcp_conns.add(self)
        self._arm()

    def _arm(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(self.bridge.cfg.idle_timeout_s, self.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.bridge._tcp_conns.discard(self)
        if self._idle is not None:
            self._idle.cancel()

    def send(self, out: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)

    def data_received(self, data: bytes) -> None:
        self._arm()
        try:
            for message in self.splitter.feed(data):
                self.bridge.datagram(message, "TCP", self.addr, self.send)
        except SipError as exc:  # the stream cannot be re-synchronised: count and close
            self.bridge.stats.frame(exc.reason)
            self.bridge.bad.warn(exc.reason, self.bridge.clock(), "closing SIP/TCP connection from %s: %s", self.addr[0], exc)
            self.close()
