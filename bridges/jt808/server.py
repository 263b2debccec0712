"""The JT/T 808 bridge: an asyncio TCP server for bus terminals, publishing §2 bus topics.

Each connection is an `asyncio.Protocol`: bytes are cut into frames (`codec.Splitter`, bounded),
every frame is answered as the standard says and handled synchronously, so no terminal can hold the
loop; a terminal that does not read its replies is paused (write-buffer limits), one that stays
silent past `idle_timeout_s` is closed. A bad frame (checksum, escape, length) is dropped and counted
and the connection stays. What is published, for a terminal whose number is a registry bus's
`terminal` (leading zeros stripped on both sides):

- 0x0200 with the positioned bit: a `gps` fix (ts from the BCD time, UTC+8); without it a `heartbeat`.
- 0x0704: the fixes of the batch, in order, each as 0x0200.
- 0x0002: a `heartbeat`.
- the emergency alarm bit (bit 0) rising: an `event` `press` (QoS 1), event id
  `jt808-{bus}-{unix time of the frame}`, so a resent frame is the same event.

Registering (0x0100) issues an auth code kept per terminal for the life of the process; 0x0102 must
present it (else result 1, and the terminal registers again, as the standard has it). Locations are
published whether or not the terminal authenticated on this connection, as Traccar does: the registry,
not the handshake, decides who is a bus. An unknown terminal gets 0x8100 result 4 or 0x8001 result 1
and nothing is published.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from bridges import payloads
from bridges.config import Jt808Config, split_listen
from bridges.connection import TcpConnection
from bridges.jt808 import codec
from bridges.jt808.codec import FrameError, Header, Location, Message
from bridges.metrics import Stats
from bridges.publisher import Publisher
from bridges.targets import Target, Targets
from monitor.mqtt.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

_WRITE_HIGH = 64 * 1024  # reply bytes a terminal may leave unread before we stop reading from it
_MAX_PENDING_PACKETS = 4  # sub-packaged messages being reassembled per connection
_MAX_PACKET_BYTES = 64 * 1024


class Jt808Bridge:
    def __init__(self, cfg: Jt808Config, targets: Targets, publisher: Publisher, stats: Stats,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.targets = targets
        self.publisher = publisher
        self.stats = stats
        self.clock = clock
        self.conns: set[_Conn] = set()
        self.auth_codes: dict[str, str] = {}  # stripped terminal number -> issued code
        self.emergency: dict[str, bool] = {}  # bus id -> the alarm bit last seen
        self.bad = RateLimitedLog(log)  # bad input is logged a few lines a minute per outcome
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        stats.devices = lambda: sum(1 for c in self.conns if c.target is not None)
        self.port = 0

    async def start(self) -> None:
        host, port = split_listen(self.cfg.listen)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Conn(self), host, port, reuse_address=True, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = loop.create_task(self._sweep())
        log.info("JT/T 808 bridge listening on %s:%d (%d terminals in the registry)", host, self.port,
                 len(self.targets.terminals))

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        if self._server:
            self._server.close()
        for conn in list(self.conns):
            conn.close()
        if self._server:
            await self._server.wait_closed()

    async def _sweep(self) -> None:
        every = max(0.05, min(self.cfg.idle_timeout_s / 4, 30.0))
        while True:
            await asyncio.sleep(every)
            self.bad.flush(self.clock())
            cutoff = time.monotonic() - self.cfg.idle_timeout_s
            for conn in [c for c in self.conns if c.last_rx < cutoff]:
                self.stats.frame("idle_closed")
                log.info("closing idle JT/T 808 connection from %s (terminal %s)", conn.peer, conn.terminal or "?")
                conn.close()

    # ---- one message ---------------------------------------------------------------------------

    def handle(self, conn: _Conn, msg: Message) -> list[bytes]:
        """Answer and publish one whole message; returns the reply frames."""
        h = msg.header
        if conn.terminal != h.terminal:
            conn.terminal = h.terminal
            conn.target = self.targets.terminals.get(h.terminal)
        target = conn.target
        if h.encryption:
            self.stats.frame("encrypted")
            return [self._general(conn, h, codec.UNSUPPORTED)]
        if h.msg_id == codec.T_REGISTER:
            if target is None:
                self.stats.frame("unknown_device")
                self.bad.warn("unknown_device", self.clock(), "JT/T 808 register from unknown terminal %s (%s)", h.phone, conn.peer)
                return [self._reply(conn, h, codec.P_REGISTER_RESPONSE,
                                    codec.register_response(h.serial, codec.REG_NO_SUCH_TERMINAL))]
            code = self.auth_codes.setdefault(h.terminal, secrets.token_hex(8))
            self.stats.frame("accepted")
            log.info("JT/T 808 terminal %s registered as bus %s", h.phone, target.id)
            return [self._reply(conn, h, codec.P_REGISTER_RESPONSE, codec.register_response(h.serial, codec.REG_OK, code))]
        if target is None:
            self.stats.frame("unknown_device")
            conn.warn_unknown(h)
            return [self._general(conn, h, codec.FAILURE)]
        now = self.clock()
        try:
            result = self._dispatch(conn, h, msg.body, target, now)
        except FrameError as exc:
            self.stats.frame(exc.reason)
            self.bad.warn(exc.reason, now, "bad JT/T 808 0x%04x body from terminal %s (bus %s): %s", h.msg_id, h.phone, target.id, exc)
            result = codec.BAD_MESSAGE
        return [self._general(conn, h, result)]

    def _dispatch(self, conn: _Conn, h: Header, body: bytes, target: Target, now: float) -> int:
        mid = h.msg_id
        if mid == codec.T_LOCATION:
            loc = codec.decode_location(body)
            self._location(target, loc, now)
        elif mid == codec.T_BATCH:
            for loc in codec.decode_batch(body):
                self._location(target, loc, now)
        elif mid == codec.T_HEARTBEAT:
            self._publish(target, "heartbeat", payloads.heartbeat(now))
        elif mid == codec.T_AUTH:
            code = codec.decode_auth(body, h.version)
            if self.auth_codes.get(h.terminal) != code:
                self.stats.frame("auth_failed")
                self.bad.warn("auth_failed", now, "JT/T 808 terminal %s (bus %s) presented an unknown auth code", h.phone, target.id)
                return codec.FAILURE
            conn.authenticated = True
        elif mid == codec.T_LOGOUT:
            self.auth_codes.pop(h.terminal, None)
            log.info("JT/T 808 terminal %s (bus %s) logged out", h.phone, target.id)
        elif mid == codec.T_GENERAL_RESPONSE:
            self.stats.frame("accepted")
            return codec.OK
        else:
            self.stats.frame("unsupported")
            return codec.UNSUPPORTED
        self.stats.frame("accepted")
        return codec.OK

    def _location(self, target: Target, loc: Location, now: float) -> None:
        ts = loc.ts if loc.ts is not None else now
        was = self.emergency.get(target.id, False)
        self.emergency[target.id] = loc.emergency
        if loc.emergency and not was:
            log.warning("bus %s: emergency alarm from its JT/T 808 terminal", target.id)
            self._publish(target, "event", payloads.event(ts, f"jt808-{target.id}-{int(ts)}"), qos=1)
        if loc.positioned:
            self._publish(target, "gps", payloads.fix(ts, loc.lat, loc.lon, loc.speed_kmh, loc.heading))
        else:
            self._publish(target, "heartbeat", payloads.heartbeat(now))

    def _publish(self, target: Target, leaf: str, payload: bytes, qos: int = 0) -> None:
        self.publisher.publish(self.publisher.prefix(target.school, target.segment, target.id), leaf, payload, qos)

    def _general(self, conn: _Conn, h: Header, result: int) -> bytes:
        return self._reply(conn, h, codec.P_GENERAL_RESPONSE, codec.general_response(h.serial, h.msg_id, result))

    def _reply(self, conn: _Conn, h: Header, msg_id: int, body: bytes) -> bytes:
        conn.serial = (conn.serial + 1) & 0xFFFF
        return codec.encode(msg_id, h.phone, conn.serial, body, h.version)


class _Conn(TcpConnection):
    def __init__(self, bridge: Jt808Bridge) -> None:
        self.bridge = bridge
        self.splitter = codec.Splitter()
        self.peer = "?"
        self.terminal: str | None = None
        self.target: Target | None = None
        self.authenticated = False
        self.serial = 0
        self.last_rx = time.monotonic()
        self.packets: OrderedDict[tuple[int, int, int], dict[int, bytes]] = OrderedDict()
        self._warned_unknown = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = self.attach(transport, _WRITE_HIGH)
        peer = tcp.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        if len(self.bridge.conns) >= self.bridge.cfg.max_connections:
            self.bridge.stats.frame("connection_refused")
            tcp.abort()
            return
        self.bridge.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.bridge.conns.discard(self)

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        stats = self.bridge.stats
        before = self.splitter.oversize
        replies: list[bytes] = []
        for inner in self.splitter.feed(data):
            try:
                msg = codec.decode(inner)
            except FrameError as exc:
                stats.frame(exc.reason)
                continue
            try:
                if msg.header.packets is None:
                    replies.extend(self.bridge.handle(self, msg))
                    continue
                # each sub-package is answered on its own; the whole message only when it is a register
                replies.append(self.bridge._general(self, msg.header, codec.OK))
                whole = self._reassemble(msg)
                if whole is not None:
                    answers = self.bridge.handle(self, whole)
                    if whole.header.msg_id == codec.T_REGISTER:
                        replies.extend(answers)
            except Exception:  # noqa: BLE001 - one frame never takes the connection down
                stats.frame("error")
                log.exception("error handling JT/T 808 0x%04x from %s", msg.header.msg_id, self.peer)
        if self.splitter.oversize != before:
            stats.frame("oversize")
        if replies and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(replies))

    def _reassemble(self, msg: Message) -> Message | None:
        h = msg.header
        assert h.packets is not None
        count, index = h.packets
        key = (h.msg_id, count, (h.serial - index + 1) & 0xFFFF)
        parts = self.packets.get(key)
        if parts is None:
            if len(self.packets) >= _MAX_PENDING_PACKETS:
                self.packets.popitem(last=False)
                self.bridge.stats.frame("packets_dropped")
            parts = self.packets[key] = {}
        parts[index] = msg.body
        if sum(len(b) for b in parts.values()) > _MAX_PACKET_BYTES:
            del self.packets[key]
            self.bridge.stats.frame("oversize")
            return None
        if len(parts) < count:
            return None
        del self.packets[key]
        body = b"".join(parts[i] for i in range(1, count + 1))
        first = Header(h.msg_id, h.phone, key[2], h.version, h.encryption, None)
        return Message(first, body)

    def warn_unknown(self, h: Header) -> None:
        if not self._warned_unknown:
            self._warned_unknown = True
            self.bridge.bad.warn("unknown_device", self.bridge.clock(),
                                 "JT/T 808 frames from terminal %s (%s): not a bus of the registry; dropped", h.phone, self.peer)
