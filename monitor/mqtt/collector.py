"""The MQTT collector: a paho-mqtt 2 client driven from the asyncio loop.

The paho socket is read from the loop (add_reader), so every callback runs on the loop thread, the
thread that owns the judge: no locks on the per-message path. The path itself is: look the topic up,
decode, hand to the judge, count. No database write, lock or log line per message; bad input is logged
at a limited rate. No exception escapes a paho callback.

The service runs two of them. The *device* connection (client id `[mqtt] client_id`, clean
session) reads heartbeats, fixes and statuses. The *events* connection (client id
`<client_id>-events`, persistent session, QoS 1) reads only alarm and bus events, so no heartbeat
backlog delays a press. Events arrive with `manual_ack`: the PUBACK leaves only after the event is
stored with its alert, so a crash loses none; one that could not be taken (too many held back while
the database is away) is left unacknowledged, and the events connection is renewed once the held
events are written, so the broker delivers it again.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices.events import AlarmEvent, Fix, Judgement
from devices.judge import Judge
from devices.liveness import Device
from devices.model import KIND_OF_SEGMENT, DeviceKind
from devices.payload import (
    Invalid,
    Outcome,
    decode_alarm_event,
    decode_fix,
    decode_heartbeat,
    decode_nvr_heartbeat,
    decode_status,
)
from monitor.config import MqttConfig, broker_address, mask_url
from monitor.mqtt.loop_socket import LoopSocket
from monitor.mqtt.ratelog import RateLimitedLog, truncate

log = logging.getLogger(__name__)

_REFUSED_AUTH = {4, 5, 134, 135}  # 3.1.1: bad user/password, not authorised; 5: 0x86, 0x87
RESUBSCRIBE_S = 2.0  # after a refused SUBACK
#: The last topic level of every §2 topic the monitor reads.
TOPIC_LEAVES = ("heartbeat", "event", "gps", "status")
DEVICE_LEAVES = ("heartbeat", "gps", "status")
EVENT_LEAVES = ("event",)
EVENTS_SUFFIX = "-events"


class Done(Protocol):
    def __call__(self, outcome: Outcome | None, stored: bool = True) -> None:
        """The event is stored (or known): acknowledge and count it. `stored=False`: it could not be
        stored: never acknowledged, and the events connection is renewed once the database is back,
        so the broker delivers it again."""
        ...


class Sink(Protocol):
    def judgements(self, items: list[Judgement]) -> None: ...
    def alarm_event(self, dev: Device, ev: AlarmEvent, done: Done) -> None:
        """Store the event, then call `done(outcome)`; an event never stored is never acknowledged."""
        ...
    def fix(self, dev: Device, fix: Fix) -> list[Judgement]: ...
    def link(self, up: bool, now: float) -> None: ...


class Collector:
    def __init__(self, cfg: MqttConfig, judge: Judge, sink: Sink, clock: Callable[[], float] = time.time, *,
                 events: bool | None = None, counts: Counter[tuple[str, str]] | None = None,
                 client_id: str | None = None, schools: Sequence[str] | None = None) -> None:
        """`events=None`: one connection reads everything (persistent session); False: the device
        connection; True: the events connection (`<client_id>-events`, persistent session).

        Several instances (contract §9): `client_id` a partition's own, `schools` its schools: only
        their topics are subscribed, and the sink's `link(True)` waits for the SUBACK (the schools
        are heard from then on)."""
        self.cfg = cfg
        self.judge = judge
        self.sink = sink
        self.clock = clock
        self.events = events
        self.leaves = TOPIC_LEAVES if events is None else EVENT_LEAVES if events else DEVICE_LEAVES
        self.client_id = client_id or cfg.client_id + (EVENTS_SUFFIX if events else "")
        self.schools = tuple(schools) if schools is not None else None
        self.urls = (cfg.url, *cfg.failover)  # tried in turn when the one in use is lost
        self._url_at = 0
        self._heard = False  # link(True) told for the current connection
        self.persistent = events is not False
        self.root = cfg.topic_root.strip("/")
        self.counts: Counter[tuple[str, str]] = Counter() if counts is None else counts
        self.connected = False
        self._refusal_seen = False
        self.unacked_events = 0  # events handed on but not stored: renew the session to have them again
        self.refused: str | None = None  # set when the broker refused our credentials: no more retries
        self.subscribed = False  # every subscription granted (a refused SUBACK is never passed over)
        self._sub_mid: int | None = None
        self.status_topic = f"{self.root}/_monitor/status"
        self._bad = RateLimitedLog(log)
        self._devices = judge.liveness.devices
        self._loop: asyncio.AbstractEventLoop | None = None
        self._misc: asyncio.TimerHandle | None = None
        self._stopping = False
        self._backoff = 1.0
        self._client = self._make_client()
        self._socket = LoopSocket(self._client, progress=lambda: self._received)

    # ---- setup ---------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        url = urlsplit(self.cfg.url)
        v5 = self.cfg.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else not self.persistent,
            manual_ack=True,
        )
        self._logins: list[tuple[str, str | None]] = []
        if url.username:
            user, password = unquote(url.username), unquote(url.password) if url.password else None
            if not self.events:
                self._logins = [(user, password)]
            elif self.cfg.events_user:
                self._logins = [(self.cfg.events_user, password)]
            else:  # broker-config's account for it; a broker with one account for the monitor: the URL's
                self._logins = [(user + EVENTS_SUFFIX, password), (user, password)]
            client.username_pw_set(*self._logins[0])
        if url.scheme in ("mqtts", "ssl"):
            ctx = ssl.create_default_context(cafile=self.cfg.ca_file or None)
            if self.cfg.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            client.tls_set_context(ctx)
        if not self.events:
            client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.suppress_exceptions = True
        return client

    @property
    def url(self) -> str:
        return self.urls[self._url_at]

    def _next_url(self) -> None:
        """The broker node in use is lost: the next of `[mqtt] url` and `failover`, in turn."""
        if len(self.urls) > 1:
            self._url_at = (self._url_at + 1) % len(self.urls)
            log.warning("MQTT %s: trying broker %s next", self.client_id, mask_url(self.url))

    @property
    def address(self) -> tuple[str, int]:
        return broker_address(self.url)

    # ---- run -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._socket.attach(self._loop)
        self._loop.create_task(self._connect_loop())
        self._misc = self._loop.call_later(1.0, self._tick)

    async def stop(self) -> None:
        self._stopping = True
        if self._misc:
            self._misc.cancel()
        if self.connected and self.events is False:
            try:
                self._client.publish(self.status_topic, b"offline", qos=1, retain=True)
                self._client.loop_write()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._client.disconnect()
        self._socket.drop(self._client.socket())

    def redeliver(self) -> None:
        """There is room again for events: when some were left unacknowledged, renew the connection
        (the session stays) so the broker delivers them again. Done on the loop's next turn, after the
        acknowledgements already asked for, so those leave first."""
        if self._loop is not None and not self._stopping:
            self._loop.call_soon(self._renew)

    def _renew(self) -> None:
        if not self.unacked_events or not self.connected or self._stopping:
            return
        log.warning("renewing MQTT connection %s: the broker delivers the %d events left unacknowledged again",
                    self.client_id, self.unacked_events)
        self.unacked_events = 0
        self._client.disconnect()  # on_disconnect connects again

    async def _connect_loop(self) -> None:
        assert self._loop is not None
        props = None
        if self.cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho ships no annotation here
            props.SessionExpiryInterval = 3600 if self.persistent else 0
        while not self._stopping and not self.connected and self.refused is None:
            try:
                host, port = self.address
                log.info("connecting to MQTT broker %s as %s", mask_url(self.url), self.client_id)
                await self._loop.run_in_executor(
                    None,
                    lambda host=host, port=port: self._client.connect(  # type: ignore[misc]
                        host, port, self.cfg.keepalive_s, clean_start=not self.persistent, properties=props)
                    if self.cfg.protocol == "5"
                    else self._client.connect(host, port, self.cfg.keepalive_s),
                )
                return  # on_connect takes over; a refusal comes back through on_disconnect
            except (OSError, ssl.SSLError, mqtt.WebsocketConnectionError) as exc:
                log.warning("MQTT broker %s unreachable: %s; retrying in %.0f s", mask_url(self.url), exc, self._backoff)
                self._next_url()
            await asyncio.sleep(self._backoff)
            # with failover nodes, the whole list is tried quickly before backing off further
            if self._url_at == 0:
                self._backoff = min(self._backoff * 2, 30.0)

    def _tick(self) -> None:
        """Once a second: keepalive pings and paho's timers, plus reconnect after a lost link."""
        assert self._loop is not None
        try:
            if self._client.socket() is not None:
                self._client.loop_misc()
        except Exception:  # noqa: BLE001
            log.exception("MQTT housekeeping failed")
        self._bad.flush(self.clock())
        if not self._stopping:
            self._misc = self._loop.call_later(1.0, self._tick)

    # ---- connection events ---------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            if reason.is_failure:
                code = reason.value
                if code in _REFUSED_AUTH:
                    self._auth_refused(reason)
                    self._refusal_seen = True  # the disconnect that follows is the same refusal
                else:
                    log.warning("MQTT broker refused the connection: %s", reason)
                return
            self.connected = True
            self._backoff = 1.0
            self._subscribe()
            log.info("connected to MQTT broker %s as %s (session present: %s)", mask_url(self.url),
                     self.client_id, flags.session_present)
            if self.events is False:
                client.publish(self.status_topic, b"online", qos=1, retain=True)
            if not self.events and self.schools is None:
                self._heard = True
                self.sink.link(True, self.clock())
        except Exception:  # noqa: BLE001 - never out of a paho callback
            log.exception("error handling MQTT connect")

    def _subscribe(self) -> None:
        self.subscribed = False
        schools = ("+",) if self.schools is None else self.schools
        subs = [(f"{self.root}/{school}/+/+/{leaf}", 1) for school in schools for leaf in self.leaves]
        _, self._sub_mid = self._client.subscribe(subs)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        """A SUBACK: every filter granted, or the monitor is not ready and subscribes again (some
        brokers, NATS's MQTT among them, refuse a subscription while a cluster node is lost)."""
        try:
            if mid != self._sub_mid:
                return
            refused = [str(r) for r in reasons if r.is_failure]
            if not refused:
                self.subscribed = True
                if self.schools is not None and not self._heard:
                    self._heard = True
                    self.sink.link(True, self.clock())
                return
            self.subscribed = False
            log.error("MQTT broker refused %d of %d subscriptions (%s): devices would go unheard; "
                      "not ready, subscribing again in %.0f s", len(refused), len(reasons), ", ".join(refused),
                      RESUBSCRIBE_S)
            if self._loop is not None and not self._stopping:
                self._loop.call_later(RESUBSCRIBE_S, self._resubscribe)
        except Exception:  # noqa: BLE001 - never out of a paho callback
            log.exception("error handling a SUBACK")

    def _resubscribe(self) -> None:
        if self.connected and not self.subscribed and not self._stopping:
            self._subscribe()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            was = self.connected
            self.connected = False
            self.subscribed = False
            if was and self._stopping:
                log.info("disconnected from the MQTT broker")
            elif was and self.events:
                log.warning("lost the MQTT broker's events connection %s (%s)", self.client_id, reason)
            elif was:
                log.warning("lost the MQTT broker %s as %s (%s): judging no device down until it is back",
                            mask_url(self.url), self.client_id, reason)
            if self._heard:
                self._heard = False
                self.sink.link(False, self.clock())
            if not self._stopping and self.refused is None:  # lost, or never answered (no CONNACK)
                self._next_url()
            if reason is not None and getattr(reason, "value", 0) in _REFUSED_AUTH and self.refused is None \
                    and not self._refusal_seen:
                self._auth_refused(reason)
            self._refusal_seen = False
            if not self._stopping and self.refused is None and self._loop is not None:
                loop = self._loop
                loop.call_later(self._backoff, lambda: loop.create_task(self._connect_loop()))
                self._backoff = min(self._backoff * 2, 30.0)
        except Exception:  # noqa: BLE001
            log.exception("error handling MQTT disconnect")

    def _auth_refused(self, reason: Any) -> None:
        if len(self._logins) > 1:
            tried = self._logins.pop(0)[0]
            log.warning("MQTT broker refused account %s for %s (%s); using %s", tried, self.client_id, reason,
                        self._logins[0][0])
            self._client.username_pw_set(*self._logins[0])
            return
        self.refused = str(reason)
        log.error("MQTT broker refused the monitor's credentials (%s); not retrying", reason)

    # ---- messages ------------------------------------------------------------------------------

    _received = 0
    _deferred = False

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._received += 1
        self._deferred = False
        try:
            self.handle(msg.topic, bytes(msg.payload), msg.retain, self.clock(), msg)
        except Exception:  # noqa: BLE001 - the collector never stops on a message
            self.counts[("unknown", Outcome.INVALID)] += 1
            log.exception("error handling a message on %s", msg.topic[:200])
        if msg.qos and not self._deferred:
            client.ack(msg.mid, msg.qos)

    def handle(self, topic: str, payload: bytes, retained: bool, now: float, msg: Any = None) -> None:
        # root/school/segment/id/leaf, looked up in the judge's own device map: no per-device topic
        # strings kept (they were about 120 bytes a device at 200,000 devices)
        parts = topic.split("/")
        kind_of = KIND_OF_SEGMENT.get(parts[2]) if len(parts) == 5 and parts[0] == self.root else None
        dev = self._devices.get((parts[1], kind_of, parts[3])) if kind_of is not None else None
        leaf = parts[-1]
        if dev is None:
            self._unknown(topic, payload, now)
            return
        kind = dev.kind
        try:
            if leaf == "heartbeat":
                if kind is DeviceKind.NVR:
                    nvr = decode_nvr_heartbeat(payload, now)
                    if retained:  # a stored heartbeat says nothing about now
                        self.counts[(kind, Outcome.DUPLICATE)] += 1
                        return
                    found = self.judge.nvr_beat(dev, now, nvr.faulty, nvr.channels)
                else:  # camera, alarm panel, face terminal, or a bus's GPS unit without a fix
                    faulty = decode_heartbeat(payload, now)
                    if retained:
                        self.counts[(kind, Outcome.DUPLICATE)] += 1
                        return
                    found = self.judge.beat(dev, now, faulty)
            elif leaf == "gps" and kind is DeviceKind.GPS:
                fix = decode_fix(payload, dev.school, dev.id, now)
                if retained:
                    self.counts[(kind, Outcome.DUPLICATE)] += 1
                    return
                found = self.judge.beat(dev, now)
                found.extend(self.sink.fix(dev, fix))
            elif leaf == "status":
                online = decode_status(payload)
                if online:
                    found = [] if retained else self.judge.beat(dev, now, dev.state == "faulty")
                else:
                    found = self.judge.offline(dev, now)
            elif leaf == "event" and kind in (DeviceKind.ALARM, DeviceKind.GPS):
                ev = decode_alarm_event(payload, dev.school, dev.id, now, kind)
                self._alarm_event(dev, ev, msg)
                return
            else:
                raise Invalid(f"no such topic for a {kind}: {leaf!r}")
        except Invalid as bad:
            self.counts[(kind, bad.outcome)] += 1
            self._bad.warn(bad.outcome, now, "dropped message on %s from %s: %s; payload %r",
                           topic[:200], dev.id, bad.reason, truncate(payload))
            return
        self.counts[(kind, Outcome.ACCEPTED)] += 1
        if found:
            self.sink.judgements(found)

    def _alarm_event(self, dev: Device, ev: AlarmEvent, msg: Any) -> None:
        ack: Callable[[], None] = _noop
        if msg is not None and msg.qos:
            self._deferred = True
            mid, qos, client, loop = msg.mid, msg.qos, self._client, self._loop

            def ack() -> None:
                if loop is not None:
                    loop.call_soon_threadsafe(client.ack, mid, qos)

        kind = dev.kind

        def done(outcome: Outcome | None, stored: bool = True) -> None:
            if not stored:
                self.unacked_events += 1
                return
            ack()
            if outcome is not None:
                self.counts[(kind, outcome)] += 1

        self.sink.alarm_event(dev, ev, done)

    def _unknown(self, topic: str, payload: bytes, now: float) -> None:
        parts = topic.split("/")
        if len(parts) == 5 and parts[0] == self.root and parts[2] in KIND_OF_SEGMENT and parts[4] in TOPIC_LEAVES:
            outcome, kind = Outcome.UNKNOWN_DEVICE, str(KIND_OF_SEGMENT[parts[2]])
            why = "unknown school or device"
        else:
            outcome, kind, why = Outcome.INVALID, "unknown", "not a topic of the contract"
        self.counts[(kind, outcome)] += 1
        self._bad.warn(outcome, now, "dropped message on %s: %s; payload %r", topic[:200], why, truncate(payload))


def _noop() -> None:
    return None
