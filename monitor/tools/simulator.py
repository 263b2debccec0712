"""A simulated district on the wire: every camera, alarm panel and bus GPS unit of a registry
publishing its contract §2 traffic to an MQTT broker, with failures injected on cue.

`Simulator` runs inside an asyncio program (the demo) with paho's network thread (`loop_start`);
its own state is touched only from the event loop. `main(argv)` is `campus-monitor simulate`.
A `--load N` mode publishes bare heartbeats as fast as it can (or at a set rate) for benchmarks.

One process, one MQTT connection: every simulated device publishes through it (`--load` opens one of
its own). Behind a broker that ties client ids to accounts (broker-config's `use_username_as_clientid`),
two simulators logged in with one account (say `campus-simulator`) take each other's connection in
turn; give each process its own account. A simulator dropped by the broker three times in a row
within 5 s of connecting (or told "session taken over" under MQTT 5) logs this as an error.

Device references (`--kill`, scripted actions): `SCHOOL/ID`, `SCHOOL/KIND/ID` (kind `camera`,
`alarm` or `bus`), `ID` when only one device has it, or `SCHOOL/*` for every device of a school.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import heapq
import itertools
import json
import logging
import math
import random
import select
import socket
import ssl
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.model import TOPIC_SEGMENT, DeviceKind, DeviceSpec, Registry, Route
from devices.registry import parse_registry
from devices.schedule import in_service
from monitor.registry_file import load_registry
from monitor.tasks import cancel_and_wait
from monitor.tools.district import DEMO_FAILURES, dump_registry, synthetic_registry

log = logging.getLogger(__name__)

SESSION_TAKEN_OVER = 0x8E  # MQTT 5 DISCONNECT reason: another client connected with the same client id
SHORT_CONNECTION_S = 5.0  # dropped this soon after connecting, SHORT_DROPS_TOLD times in a row: taken over
SHORT_DROPS_TOLD = 3


def _settle(fut: asyncio.Future[None], err: BaseException | None) -> None:
    """Resolve the connect future once: with the error, or done."""
    if fut.done():
        return
    if err is not None:
        fut.set_exception(err)
    else:
        fut.set_result(None)

JITTER = 0.05  # a heartbeat comes up to 5 % early or late


# ---- broker connection --------------------------------------------------------------------------


def make_client(url: str, client_id: str = "", *, mqtt5: bool = False, cafile: str | None = None,
                insecure: bool = False) -> tuple[mqtt.Client, str, int]:
    """A paho 2.x client set up from `mqtt[s]://[user[:password]@]host[:port]`; returns (client, host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
    tls = parts.scheme in ("mqtts", "ssl")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311)
    if parts.username is not None:
        client.username_pw_set(unquote(parts.username),
                               unquote(parts.password) if parts.password is not None else None)
    if tls:
        ctx = ssl.create_default_context(cafile=cafile)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        client.tls_set_context(ctx)
    return client, parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883)


# ---- bus motion along a route -------------------------------------------------------------------

_M_PER_DEG = 111_320.0


class BusMotion:
    """A bus driving its route back and forth at a realistic speed, in local metres around the route;
    outside the route's service windows it stands parked at the school (the route's end), speed 0."""

    def __init__(self, route: Route, rng: random.Random) -> None:
        self.route = route
        self.rng = rng
        self.lon0, self.lat0 = route.path[0]
        self.kx = _M_PER_DEG * math.cos(math.radians(self.lat0))
        self.xy = [((lon - self.lon0) * self.kx, (lat - self.lat0) * _M_PER_DEG) for lon, lat in route.path]
        self.cum = [0.0]
        for (x0, y0), (x1, y1) in itertools.pairwise(self.xy):
            self.cum.append(self.cum[-1] + math.hypot(x1 - x0, y1 - y0))
        self.length = self.cum[-1]
        self.limit_kmh = route.speed_limit_kmh
        self.cruise_kmh = min(rng.uniform(28.0, 48.0), 0.85 * route.speed_limit_kmh)
        self.s = rng.uniform(0.0, self.length)
        self.direction = rng.choice((1, -1))
        self.dwell_s = 0.0
        self.offset_m = 0.0  # sideways distance from the route line
        self.offset_target_m = 0.0
        self.forced_kmh: float | None = None

    def _point(self, s: float) -> tuple[float, float, float]:
        """(x, y, bearing in radians from north) at distance `s` along the route."""
        i = min(max(bisect.bisect_right(self.cum, s) - 1, 0), len(self.cum) - 2)
        (x0, y0), (x1, y1) = self.xy[i], self.xy[i + 1]
        seg = self.cum[i + 1] - self.cum[i]
        f = 0.0 if seg == 0 else (s - self.cum[i]) / seg
        return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f, math.atan2(x1 - x0, y1 - y0)

    def driving(self, now: float) -> bool:
        """Whether the bus is out on the road: inside a service window, or sent somewhere by a scenario."""
        return in_service(self.route, now) or self.forced_kmh is not None or self.offset_target_m != 0.0

    def parked(self) -> dict[str, float]:
        """A fix of the bus standing at the school: the route's end, speed 0."""
        lon, lat = self.route.path[-1]
        return {"lat": round(lat, 6), "lon": round(lon, 6), "speed_kmh": 0.0, "heading": 0.0,
                "hdop": round(self.rng.uniform(0.7, 1.6), 1)}

    def advance(self, dt: float) -> dict[str, float]:
        """Move on by `dt` seconds; the GPS fix fields (`lat`, `lon`, `speed_kmh`, `heading`, `hdop`)."""
        if self.forced_kmh is not None:
            speed = self.forced_kmh
        elif self.dwell_s > 0:
            speed = 0.0
            self.dwell_s = max(0.0, self.dwell_s - dt)
        else:
            speed = min(self.cruise_kmh * self.rng.uniform(0.85, 1.1), 0.95 * self.limit_kmh)
        self.s += self.direction * speed / 3.6 * dt
        if self.s >= self.length or self.s <= 0:
            self.s = min(max(self.s, 0.0), self.length)
            self.direction = -self.direction
            self.dwell_s = 45.0  # turn round at the school or the village
        step = 12.0 * dt  # leaving or coming back to the road at about 40 km/h sideways
        self.offset_m += max(-step, min(step, self.offset_target_m - self.offset_m))
        x, y, bearing = self._point(self.s)
        if self.direction < 0:
            bearing += math.pi
        x += self.offset_m * math.cos(bearing) + self.rng.gauss(0, 3)
        y -= self.offset_m * math.sin(bearing) - self.rng.gauss(0, 3)
        return {
            "lat": round(self.lat0 + y / _M_PER_DEG, 6),
            "lon": round(self.lon0 + x / self.kx, 6),
            "speed_kmh": round(speed, 1),
            "heading": round(math.degrees(bearing) % 360.0, 1),
            "hdop": round(self.rng.uniform(0.7, 1.6), 1),
        }


# ---- bad input, as labelled ---------------------------------------------------------------------

BAD_KINDS = ("not_json", "wrong_types", "oversize", "unknown_device", "unknown_school",
             "lat_out_of_range", "future_ts")


@dataclass(frozen=True, slots=True)
class BadMessage:
    kind: str
    topic: str
    payload: bytes
    outcome: str  # how contract §2 says the monitor counts it: `invalid` or `unknown_device`


def bad_message(kind: str, devices: Sequence[DeviceSpec], now: float, root: str = "campus") -> BadMessage:
    """One message of bad input `kind` (see BAD_KINDS), aimed at a real device where it can be."""
    cam = next((d for d in devices if d.kind is not DeviceKind.GPS), devices[0])
    bus = next((d for d in devices if d.kind is DeviceKind.GPS), None)
    beat = f"{root}/{cam.school}/{TOPIC_SEGMENT[cam.kind]}/{cam.id}/heartbeat"
    good = json.dumps({"ts": round(now, 3), "status": "ok"}).encode()
    if kind == "not_json":
        return BadMessage(kind, beat, b"\xffok, not json {", "invalid")
    if kind == "wrong_types":
        return BadMessage(kind, beat, json.dumps({"ts": [now], "status": 1}).encode(), "invalid")
    if kind == "oversize":
        doc = {"ts": round(now, 3), "status": "ok", "note": "x" * 5000}
        return BadMessage(kind, beat, json.dumps(doc).encode(), "invalid")
    if kind == "unknown_device":
        return BadMessage(kind, f"{root}/{cam.school}/camera/cam-ghost-999/heartbeat", good, "unknown_device")
    if kind == "unknown_school":
        return BadMessage(kind, f"{root}/ghost-school/camera/cam-gt-01/heartbeat", good, "unknown_device")
    if kind == "lat_out_of_range":
        target = bus or cam
        topic = f"{root}/{target.school}/bus/{target.id}/gps"
        payload = {"ts": round(now, 3), "lat": 127.33, "lon": 103.72, "speed_kmh": 30.0}
        return BadMessage(kind, topic, json.dumps(payload).encode(),
                          "invalid" if bus is not None else "unknown_device")
    if kind == "future_ts":
        return BadMessage(kind, beat, json.dumps({"ts": round(now + 600, 3), "status": "ok"}).encode(), "invalid")
    raise ValueError(f"unknown bad payload kind {kind!r}; one of {', '.join(BAD_KINDS)}")


# ---- scripted failures --------------------------------------------------------------------------


class Verb(StrEnum):
    KILL = "kill"  # stop sending (and with `offline`, publish a retained `offline` first)
    REVIVE = "revive"  # `online`, a heartbeat at once, then on schedule
    FLAP = "flap"  # `cycles` times: down `down_s`, up `up_s`
    FAULT = "fault"  # heartbeats say `status: fault` until HEAL
    HEAL = "heal"
    PRESS = "press"  # alarm events
    CANCEL = "cancel"
    TAMPER = "tamper"
    TEST = "test"
    OFF_ROUTE = "off_route"  # a bus leaves its corridor by `offset_m` for `duration_s`
    OVERSPEED = "overspeed"  # a bus drives at `speed_kmh` for `duration_s`
    NORMAL = "normal"  # a bus back on its route at its usual speed
    BAD = "bad"  # `count` bad messages, `kind` or every kind in turn


@dataclass(frozen=True, slots=True)
class Action:
    at_s: float  # seconds after the simulator started
    verb: Verb
    target: str = ""  # a device reference (module docstring); unused by BAD
    offline: bool = False
    duration_s: float = 120.0
    down_s: float = 30.0
    up_s: float = 30.0
    cycles: int = 3
    count: int = 1
    kind: str = ""
    speed_kmh: float = 85.0
    offset_m: float = 600.0


def parse_action(text: str) -> Action:
    """`AT VERB [TARGET] [key=value ...]`, e.g. `30 kill panhe-ms/cam-dg-04 offline=true`."""
    words = text.split()
    if len(words) < 2:
        raise ValueError(f"action {text!r}: expected `AT VERB [TARGET] [key=value ...]`")
    fields: dict[str, Any] = {"at_s": float(words[0]), "verb": Verb(words[1])}
    for word in words[2:]:
        if "=" not in word:
            fields["target"] = word
            continue
        key, value = word.split("=", 1)
        if key not in Action.__dataclass_fields__ or key in ("at_s", "verb", "target"):
            raise ValueError(f"action {text!r}: unknown option {key!r}")
        kind = type(getattr(Action(0, Verb.KILL), key))
        fields[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return Action(**fields)


def demo_scenario() -> list[Action]:
    """The demo's script: the six 盘河中学 cameras of the 2019 report die one after another."""
    return [Action(f.at_s, Verb.KILL, f"{f.school}/camera/{f.camera}") for f in DEMO_FAILURES]


# ---- the simulator ------------------------------------------------------------------------------


@dataclass(slots=True)
class SimDevice:
    spec: DeviceSpec
    topic: str  # campus/{school}/{segment}/{id}
    period_s: float
    alive: bool = True
    status: str = "ok"
    motion: BusMotion | None = None
    last_fix: float = 0.0
    battery: int = 100


@dataclass(slots=True)
class Counts:
    heartbeats: int = 0
    fixes: int = 0
    events: int = 0
    statuses: int = 0
    bad: int = 0
    not_sent: int = 0  # publish refused (no connection, queue full)

    @property
    def total(self) -> int:
        return self.heartbeats + self.fixes + self.events + self.statuses + self.bad


@dataclass(order=True, slots=True)
class _Due:
    at: float
    seq: int
    device: SimDevice | None = field(compare=False, default=None)
    action: Action | None = field(compare=False, default=None)


class Simulator:
    """Publishes a registry's device traffic to a broker until stopped. Use from one event loop."""

    def __init__(self, registry: Registry, broker_url: str, *, rate: float = 1.0, max_devices: int | None = None,
                 scenario: Iterable[Action] = (), seed: int = 0, topic_root: str = "campus", qos: int = 0,
                 client_id: str = "", mqtt5: bool = False, cafile: str | None = None,
                 offline_on_stop: bool = False) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.registry = registry
        self.url = broker_url
        self.rate = rate
        self.root = topic_root
        self.qos = qos
        self.offline_on_stop = offline_on_stop
        self.rng = random.Random(seed)
        self.counts = Counts()
        self.client_id = client_id or f"campus-sim-{self.rng.getrandbits(32):08x}"
        self.client, self.host, self.port = make_client(broker_url, self.client_id, mqtt5=mqtt5, cafile=cafile)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.devices = self._build_devices(max_devices)
        self.scenario = list(scenario)
        for action in self.scenario:
            if action.verb is not Verb.BAD:
                self.resolve(action.target)  # fail now, not in the middle of a run
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self._t0 = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connected: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bad_turn = 0
        self._event_seq = itertools.count(1)
        self._connected_at = 0.0
        self._short_drops = 0

    def _build_devices(self, cap: int | None) -> list[SimDevice]:
        routes = {r.id: r for r in self.registry.routes}
        out: list[SimDevice] = []
        for spec in itertools.islice(self.registry.devices(), cap):
            topic = f"{self.root}/{spec.school}/{TOPIC_SEGMENT[spec.kind]}/{spec.id}"
            dev = SimDevice(spec, topic, spec.heartbeat.interval_s / self.rate, battery=self.rng.randint(60, 100))
            if spec.kind is DeviceKind.GPS and spec.route in routes:
                dev.motion = BusMotion(routes[spec.route], random.Random(self.rng.random()))
            out.append(dev)
        return out

    # -- paho callbacks: on paho's network thread; they only hand over to the event loop

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        fut, loop = self._connected, self._loop
        self._connected_at = time.monotonic()
        if fut is None or loop is None:
            return
        if reason.is_failure:
            log.warning("simulator: broker refused the connection: %s", reason)
            if reason.value in (134, 135):  # bad user name or password, not authorised: stop retrying
                client.disconnect()
            err = ConnectionError(f"broker refused the connection: {reason}")
            loop.call_soon_threadsafe(_settle, fut, err)
        elif not fut.done():
            log.info("simulator: connected to %s:%d", self.host, self.port)
            loop.call_soon_threadsafe(_settle, fut, None)
        else:  # back after losing the broker: devices announce themselves again, as real ones do
            log.info("simulator: reconnected to %s:%d", self.host, self.port)
            loop.call_soon_threadsafe(self._announce)

    def _announce(self) -> None:
        for dev in self.devices:
            if dev.alive:
                self._status(dev, "online")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        short = time.monotonic() - self._connected_at < SHORT_CONNECTION_S
        self._short_drops = self._short_drops + 1 if short else 0
        if getattr(reason, "value", None) == SESSION_TAKEN_OVER or self._short_drops == SHORT_DROPS_TOLD:
            log.error("simulator: another client connected with this client id (%s) and the broker dropped this "
                      "one (or it keeps dropping this one at once); behind broker-config's `use_username_as_clientid` the client id is the account: run "
                      "one simulator per account", self.client_id)
        elif reason.is_failure:
            log.warning("simulator: lost the broker (%s); paho reconnects", reason)

    # -- references

    def resolve(self, ref: str) -> list[SimDevice]:
        """The simulated devices a reference names; ValueError when it names none (or is ambiguous)."""
        parts = ref.split("/")
        if len(parts) == 1:
            found = [d for d in self.devices if d.spec.id == ref]
            if len(found) > 1:
                raise ValueError(f"device {ref!r} is in several schools; write SCHOOL/{ref}")
        elif len(parts) == 2 and parts[1] == "*":
            found = [d for d in self.devices if d.spec.school == parts[0]]
        elif len(parts) == 2:
            found = [d for d in self.devices if d.spec.school == parts[0] and d.spec.id == parts[1]]
        elif len(parts) == 3:
            found = [d for d in self.devices if d.spec.school == parts[0] and d.spec.id == parts[2]
                     and TOPIC_SEGMENT[d.spec.kind] == parts[1]]
        else:
            found = []
        if not found:
            raise ValueError(f"no simulated device {ref!r}")
        return found

    # -- lifecycle

    async def start(self, timeout: float = 10.0) -> None:
        """Connect, publish every device's retained `online`, and start sending."""
        self._loop = asyncio.get_running_loop()
        self._connected = self._loop.create_future()
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        try:
            await asyncio.wait_for(asyncio.shield(self._connected), timeout)
        except BaseException:
            self.client.loop_stop()
            raise
        self._t0 = self._loop.time()
        n_by_kind: dict[DeviceKind, int] = {}
        index: dict[DeviceKind, int] = {}
        for dev in self.devices:
            n_by_kind[dev.spec.kind] = n_by_kind.get(dev.spec.kind, 0) + 1
        for dev in self.devices:
            self._status(dev, "online")
            i = index[dev.spec.kind] = index.get(dev.spec.kind, -1) + 1
            phase = dev.period_s * (i / n_by_kind[dev.spec.kind]) * self.rng.uniform(1 - JITTER, 1 + JITTER)
            self._push(self._t0 + phase, device=dev)
        for action in self.scenario:
            self.schedule(action)
        self._task = asyncio.create_task(self._run(), name="simulator")
        log.info("simulator: %d devices on %s:%d, rate x%g", len(self.devices), self.host, self.port, self.rate)

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None
        last = None
        if self.offline_on_stop:
            for dev in self.devices:
                last = self._status(dev, "offline")
        if last is not None and self.client.is_connected():
            await asyncio.to_thread(last.wait_for_publish, 5.0)
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def elapsed(self) -> float:
        return (self._loop.time() - self._t0) if self._loop is not None else 0.0

    def schedule(self, action: Action) -> None:
        """Run `action` at `action.at_s` seconds after start (at once if that is past)."""
        self._push(self._t0 + action.at_s, action=action)

    # -- imperative failures (call from the event loop)

    def kill(self, ref: str, offline: bool = False) -> None:
        for dev in self.resolve(ref):
            if dev.alive and offline:
                self._status(dev, "offline")
            dev.alive = False
            log.info("simulator: %s killed%s", dev.topic, " (offline)" if offline else "")

    def revive(self, ref: str) -> None:
        for dev in self.resolve(ref):
            if not dev.alive:
                dev.alive = True
                self._status(dev, "online")
                self._beat(dev, time.time())
                log.info("simulator: %s revived", dev.topic)

    def alarm_event(self, ref: str, kind: str) -> str:
        """Publish an alarm event (`press`, `cancel`, `tamper`, `test`); returns its event_id."""
        event_id = ""
        for dev in self.resolve(ref):
            if dev.spec.kind is not DeviceKind.ALARM:
                raise ValueError(f"{ref!r} is not an alarm panel")
            now = time.time()
            event_id = f"{dev.spec.school}.{dev.spec.id}.{int(now * 1000)}.{next(self._event_seq)}"
            payload = json.dumps({"ts": round(now, 3), "event_id": event_id, "type": kind}).encode()
            self._publish(f"{dev.topic}/event", payload, qos=1)
            self.counts.events += 1
            log.info("simulator: %s %s %s", dev.topic, kind, event_id)
        return event_id

    def send_bad(self, kind: str | None = None, count: int = 1) -> list[BadMessage]:
        """Publish `count` bad messages of `kind`, or of every kind in turn."""
        sent = []
        for _ in range(count):
            k = kind or BAD_KINDS[self._bad_turn % len(BAD_KINDS)]
            self._bad_turn += 1
            live = [d.spec for d in self.devices if d.alive] or [d.spec for d in self.devices]
            msg = bad_message(k, live, time.time(), self.root)
            self._publish(msg.topic, msg.payload)
            self.counts.bad += 1
            sent.append(msg)
        return sent

    # -- the loop

    def _push(self, at: float, device: SimDevice | None = None, action: Action | None = None) -> None:
        heapq.heappush(self._heap, _Due(at, next(self._seq), device, action))
        self._wake.set()

    async def _run(self) -> None:
        assert self._loop is not None
        while True:
            now = self._loop.time()
            while self._heap and self._heap[0].at <= now:
                due = heapq.heappop(self._heap)
                try:
                    if due.device is not None:
                        self._tick(due.device, due.at)
                    elif due.action is not None:
                        self._act(due.action)
                except Exception:  # a bad script line must not stop the district
                    log.exception("simulator: step failed")
            self._wake.clear()
            delay = self._heap[0].at - self._loop.time() if self._heap else 1.0
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass

    def _tick(self, dev: SimDevice, due: float) -> None:
        if dev.alive:
            self._beat(dev, time.time())
        self._push(due + dev.period_s * self.rng.uniform(1 - JITTER, 1 + JITTER), device=dev)

    def _beat(self, dev: SimDevice, now: float) -> None:
        if dev.motion is not None:
            dt = min(now - dev.last_fix, 60.0) if dev.last_fix else dev.period_s
            dev.last_fix = now
            fix = dev.motion.advance(dt) if dev.motion.driving(now) else dev.motion.parked()
            doc: dict[str, Any] = {"ts": round(now, 3), **fix}
            self._publish(f"{dev.topic}/gps", json.dumps(doc).encode(), self.qos)
            self.counts.fixes += 1
            return
        doc = {"ts": round(now, 3), "status": dev.status}
        if dev.spec.kind is DeviceKind.CAMERA:
            doc.update(fps=25, recording=dev.status != "fault", temp_c=round(self.rng.uniform(35, 48), 1))
        elif dev.spec.kind is DeviceKind.ALARM:
            doc["battery"] = dev.battery
        self._publish(f"{dev.topic}/heartbeat", json.dumps(doc).encode(), self.qos)
        self.counts.heartbeats += 1

    def _status(self, dev: SimDevice, text: str) -> mqtt.MQTTMessageInfo:
        self.counts.statuses += 1
        return self._publish(f"{dev.topic}/status", text.encode(), qos=1, retain=True)

    def _publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.counts.not_sent += 1
        return info

    def _act(self, a: Action) -> None:
        log.info("simulator: t+%.0fs %s %s", self.elapsed(), a.verb, a.target)
        if a.verb is Verb.KILL:
            self.kill(a.target, a.offline)
        elif a.verb is Verb.REVIVE:
            self.revive(a.target)
        elif a.verb is Verb.FLAP:
            for n in range(a.cycles):
                start = a.at_s + n * (a.down_s + a.up_s)
                self.schedule(Action(start, Verb.KILL, a.target, offline=a.offline))
                self.schedule(Action(start + a.down_s, Verb.REVIVE, a.target))
        elif a.verb in (Verb.FAULT, Verb.HEAL):
            for dev in self.resolve(a.target):
                dev.status = "fault" if a.verb is Verb.FAULT else "ok"
        elif a.verb in (Verb.PRESS, Verb.CANCEL, Verb.TAMPER, Verb.TEST):
            self.alarm_event(a.target, a.verb.value)
        elif a.verb in (Verb.OFF_ROUTE, Verb.OVERSPEED):
            for dev in self.resolve(a.target):
                if dev.motion is None:
                    raise ValueError(f"{a.target!r} is not a bus")
                if a.verb is Verb.OFF_ROUTE:
                    dev.motion.offset_target_m = a.offset_m
                else:
                    dev.motion.forced_kmh = a.speed_kmh
            self.schedule(Action(a.at_s + a.duration_s, Verb.NORMAL, a.target))
        elif a.verb is Verb.NORMAL:
            for dev in self.resolve(a.target):
                if dev.motion is not None:
                    dev.motion.offset_target_m = 0.0
                    dev.motion.forced_kmh = None
        elif a.verb is Verb.BAD:
            self.send_bad(a.kind or None, a.count)

    def counts_line(self) -> str:
        c = self.counts
        down = sum(1 for d in self.devices if not d.alive)
        return (f"t+{self.elapsed():.0f}s devices {len(self.devices)} (down {down}) heartbeats {c.heartbeats} "
                f"fixes {c.fixes} events {c.events} status {c.statuses} bad {c.bad} not-sent {c.not_sent}")


# ---- load mode ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadResult:
    devices: int
    sent: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def run_load(broker_url: str, registry: Registry, devices: int, *, messages: int | None = None,
             duration_s: float | None = None, per_second: float | None = None, topic_root: str = "campus",
             qos: int = 0, engine: str = "raw") -> LoadResult:
    """Heartbeats for the first `devices` cameras/panels, round-robin, as fast as the socket takes them
    (or at `per_second`), until `messages` are sent or `duration_s` passed. Blocking; one thread.

    `engine="raw"` (QoS 0 only) writes ready-made MQTT 3.1.1 PUBLISH packets in batches, so that the
    load generator is not what a benchmark measures; `engine="paho"` publishes through paho-mqtt.
    """
    specs = [d for d in itertools.islice(registry.devices(), devices) if d.kind is not DeviceKind.GPS]
    if not specs:
        raise ValueError("the registry has no cameras or alarm panels to load with")
    if engine not in ("raw", "paho") or (engine == "raw" and qos != 0):
        raise ValueError("load engine is `raw` (QoS 0) or `paho`")
    topics = [f"{topic_root}/{d.school}/{TOPIC_SEGMENT[d.kind]}/{d.id}/heartbeat" for d in specs]
    sender = _RawSender(broker_url, topics) if engine == "raw" else _PahoSender(broker_url, topics, qos)
    limit = messages if messages is not None else (1 << 62)
    deadline = time.monotonic() + duration_s if duration_s is not None else math.inf
    chunk = 1000 if per_second is None else max(1, min(1000, int(per_second / 200)))
    started = time.monotonic()
    sent = 0
    try:
        while sent < limit:
            now_mono = time.monotonic()
            if now_mono >= deadline:
                break
            if per_second is not None:
                ahead = started + sent / per_second - now_mono
                if ahead > 0:
                    time.sleep(ahead)
            count = min(chunk, limit - sent)
            sender.send(sent, count, b'{"ts":%.3f,"status":"ok"}' % time.time())
            sent += count
    finally:
        sender.close()
    return LoadResult(len(topics), sent, time.monotonic() - started)


class _PahoSender:
    def __init__(self, url: str, topics: list[str], qos: int) -> None:
        self.topics, self.qos = topics, qos
        self.client, host, port = make_client(url, f"campus-load-{random.getrandbits(32):08x}")
        self.client.connect(host, port, keepalive=60)
        while not self.client.is_connected():
            self.client.loop(0.1)
        self.sock = self.client.socket()

    def send(self, first: int, count: int, payload: bytes) -> None:
        n, publish = len(self.topics), self.client.publish
        for i in range(first, first + count):
            publish(self.topics[i % n], payload, self.qos)
        while self.client.want_write():  # let the socket drain before queueing more
            if self.sock is not None:
                select.select([], [self.sock], [], 1.0)
            self.client.loop_write()
        self.client.loop_read()
        self.client.loop_misc()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_write()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


class _RawSender:
    """A bare MQTT 3.1.1 publisher: CONNECT, then batches of QoS 0 PUBLISH packets, then DISCONNECT."""

    def __init__(self, url: str, topics: list[str]) -> None:
        parts = urlsplit(url)
        tls = parts.scheme in ("mqtts", "ssl")
        host, port = parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883)
        sock = socket.create_connection((host, port), timeout=10)
        if tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock

        def field(b: bytes) -> bytes:
            return len(b).to_bytes(2, "big") + b

        flags, body = 0x02, field(f"campus-load-{random.getrandbits(32):08x}".encode())  # clean session
        if parts.username is not None:
            flags |= 0x80
            body += field(unquote(parts.username).encode())
            if parts.password is not None:
                flags |= 0x40
                body += field(unquote(parts.password).encode())
        var = field(b"MQTT") + bytes([4, flags]) + (0).to_bytes(2, "big")  # keepalive off
        sock.sendall(b"\x10" + _varint(len(var) + len(body)) + var + body)
        connack = b""
        while len(connack) < 4:
            more = sock.recv(4 - len(connack))
            if not more:
                raise ConnectionError("broker closed the connection before CONNACK")
            connack += more
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the connection (CONNACK return code {connack[3]})")
        sock.settimeout(None)
        self.topics = [field(t.encode()) for t in topics]
        self.heads: dict[int, bytes] = {}

    def send(self, first: int, count: int, payload: bytes) -> None:
        n, topics, heads = len(self.topics), self.topics, self.heads
        packets = []
        for i in range(first, first + count):
            topic = topics[i % n]
            size = len(topic) + len(payload)
            head = heads.get(size) or heads.setdefault(size, b"\x30" + _varint(size))
            packets.append(head + topic + payload)
        self.sock.sendall(b"".join(packets))

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()


# ---- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campus-monitor simulate",
                                description="Publish a simulated district's device traffic to an MQTT broker.")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt[s]://[user:password@]host:port")
    p.add_argument("--registry", help="registry YAML (default: the demo district; with --load, synthetic)")
    p.add_argument("--rate", type=float, default=1.0, help="send X times as often as the registry says")
    p.add_argument("--devices", type=int, metavar="N", help="simulate only the first N devices")
    p.add_argument("--kill", action="append", default=[], metavar="REF", help="device(s) to kill")
    p.add_argument("--kill-after", type=float, default=0.0, metavar="S")
    p.add_argument("--revive-after", type=float, metavar="S", help="revive the killed devices after S s")
    p.add_argument("--offline", action="store_true", help="killed devices publish `offline` first")
    p.add_argument("--flap", action="append", default=[], metavar="REF", help="device(s) going down and up")
    p.add_argument("--flap-down", type=float, default=30.0, metavar="S")
    p.add_argument("--flap-up", type=float, default=30.0, metavar="S")
    p.add_argument("--flap-cycles", type=int, default=3)
    p.add_argument("--bad-payloads", type=int, default=0, metavar="N",
                   help=f"send N bad messages from 1 s, ten a second, kinds in turn: {', '.join(BAD_KINDS)}")
    p.add_argument("--press", action="append", default=[], metavar="REF", help="alarm panel pressed at 5 s")
    p.add_argument("--off-route", action="append", default=[], metavar="BUS", help="bus leaves its route at 5 s")
    p.add_argument("--overspeed", action="append", default=[], metavar="BUS", help="bus speeds from 5 s")
    p.add_argument("--do", action="append", default=[], metavar="'AT VERB REF k=v'",
                   help=f"scripted action; verbs: {', '.join(v.value for v in Verb)}")
    p.add_argument("--demo-failures", action="store_true", help="the demo's six 盘河中学 cameras die")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: run until ^C)")
    p.add_argument("--report-every", type=float, default=10.0, metavar="S")
    p.add_argument("--qos", type=int, choices=(0, 1), default=0, help="QoS of heartbeats and fixes")
    p.add_argument("--topic-root", default="campus")
    p.add_argument("--mqtt5", action="store_true")
    p.add_argument("--cafile", help="CA bundle for mqtts://")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--load", type=int, metavar="N", help="benchmark: heartbeats for N devices, flat out")
    p.add_argument("--load-rate", type=float, metavar="MSG_S", help="with --load: this many messages a second")
    p.add_argument("--messages", type=int, help="with --load: stop after this many messages")
    p.add_argument("--load-engine", choices=("raw", "paho"), default="raw",
                   help="with --load: bare MQTT packets in batches (QoS 0) or paho-mqtt")
    p.add_argument("--json", action="store_true", help="with --load: print the result as JSON")
    return p


def scenario_from_args(args: argparse.Namespace) -> list[Action]:
    actions = [parse_action(text) for text in args.do]
    for ref in args.kill:
        actions.append(Action(args.kill_after, Verb.KILL, ref, offline=args.offline))
        if args.revive_after is not None:
            actions.append(Action(args.kill_after + args.revive_after, Verb.REVIVE, ref))
    for ref in args.flap:
        actions.append(Action(args.kill_after, Verb.FLAP, ref, offline=args.offline, down_s=args.flap_down,
                              up_s=args.flap_up, cycles=args.flap_cycles))
    actions += [Action(1.0 + i / 10, Verb.BAD) for i in range(args.bad_payloads)]
    actions += [Action(5.0, Verb.PRESS, ref) for ref in args.press]
    actions += [Action(5.0, Verb.OFF_ROUTE, ref) for ref in args.off_route]
    actions += [Action(5.0, Verb.OVERSPEED, ref) for ref in args.overspeed]
    if args.demo_failures:
        actions += demo_scenario()
    return actions


def _registry(args: argparse.Namespace) -> Registry:
    if args.registry:
        return load_registry(args.registry)
    if args.load:
        return parse_registry(dump_registry(synthetic_registry(args.load)), "<synthetic>")
    from monitor.tools.district import district_registry

    return parse_registry(dump_registry(district_registry()), "<demo district>")


async def _simulate(sim: Simulator, duration: float | None, report_every: float) -> None:
    await sim.start()
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + duration if duration is not None else math.inf
        while loop.time() < end:
            await asyncio.sleep(max(0.0, min(report_every, end - loop.time())))
            print(sim.counts_line(), flush=True)
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        registry = _registry(args)
        if args.load:
            result = run_load(args.broker, registry, args.load, messages=args.messages, duration_s=args.duration
                              if args.messages is None else None, per_second=args.load_rate,
                              topic_root=args.topic_root, qos=args.qos, engine=args.load_engine)
            if args.json:
                print(json.dumps({"devices": result.devices, "sent": result.sent, "seconds": round(result.seconds, 3),
                                  "per_second": round(result.per_second, 1)}))
            else:
                print(f"load: {result.sent} heartbeats for {result.devices} devices in {result.seconds:.2f} s"
                      f" = {result.per_second:,.0f} msg/s")
            return 0
        sim = Simulator(registry, args.broker, rate=args.rate, max_devices=args.devices,
                        scenario=scenario_from_args(args), seed=args.seed, topic_root=args.topic_root,
                        qos=args.qos, mqtt5=args.mqtt5, cafile=args.cafile)
        asyncio.run(_simulate(sim, args.duration, args.report_every))
    except KeyboardInterrupt:
        return 0
    except (ValueError, OSError, ConnectionError, TimeoutError) as exc:
        print(f"campus-monitor simulate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
