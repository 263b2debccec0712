"""Prometheus metrics (contract §6), built fresh from the service's state.

Every part that has figures offers a `metrics()` generator of metric families; `metrics_registry`
registers each of them, one way, in the service's own `CollectorRegistry`. No gauge objects kept in
step by hand, and no stale series after a device leaves the registry.

The /metrics body is an `Exposition`: the per-device series (hundreds of thousands of lines at
province scale) are written as text in slices of `SLICE` devices, and the loop is given back
between slices, so a scrape never holds the loop for more than a millisecond or two and an alarm
press is never queued behind one. The body is cached: at most one build is in flight (scrapes that
come meanwhile wait for it), and a body younger than `min(max_age_s, AGE_PER_BUILD * build time)`
is served as is, so back-to-back scrapers cost at most about a tenth of the loop while a small
registry is always answered fresh. A gzip copy is made off the loop (zlib lets go of the GIL) when
a scraper asks for it. `[metrics] per_device = false` leaves out the per-device series
(`campus_device_up`, `campus_device_last_seen_timestamp_seconds`); the per-school counts
`campus_devices{school,kind,state}` are always there: for registries so large that a per-device
series per instance is more than Prometheus should hold.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from devices.judge import Judge
from devices.liveness import LIVE_STATES, Device, State
from devices.model import Registry

_DEVICE_LABELS = ["school", "kind", "device", "zone"]
SLICE = 500  # devices written between two returns to the loop
STATE_NAMES = tuple(str(s) for s in State)
AGE_PER_BUILD = 10.0  # a cached body is fresh for this many times the last build's duration (capped)


MetricSource = Callable[[], Iterable[Metric]]
#: Exposition text in slices: each item is complete lines; the builder yields the loop between items.
TextSource = Callable[[], Iterator[str]]


class Families(Collector):
    """A prometheus_client collector over a part's `metrics()`."""

    def __init__(self, source: MetricSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source()


def metrics_registry(sources: Iterable[MetricSource]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for source in sources:
        registry.register(Families(source))
    return registry


def school_info(registry: Registry) -> MetricSource:
    """`campus_school_info{school, name} 1`: dashboards join it to show a school's name, not its id."""

    def metrics() -> Iterator[Metric]:
        info = GaugeMetricFamily("campus_school_info", "A school's name (always 1)", labels=["school", "name"])
        for school in registry.schools:
            info.add_metric([school.id, school.name], 1.0)
        yield info

    return metrics


class DeviceMetrics:
    """Devices, zones, schools, alarm events and the collector's message counts (contract §6).

    `text()` writes the per-device series in slices; `metrics()` the rest as metric families.
    `owns(school)` limits both to the schools this instance judges (every school by default)."""

    def __init__(self, judge: Judge, alarm_counts: Mapping[tuple[str, str, str], int],
                 message_counts: Mapping[tuple[str, str], int], connected: Callable[[], bool], *,
                 per_device: bool = True, owns: Callable[[str], bool] | None = None) -> None:
        self.judge = judge
        self.alarm_counts = alarm_counts
        self.message_counts = message_counts
        self.connected = connected
        self.per_device = per_device
        self.owns = owns
        self._counted: dict[tuple[str, str], int] | None = None

    def _devices(self) -> list[Device]:
        devices = list(self.judge.devices())  # one C-level copy: the slices below may outlive a change
        owns = self.owns
        return devices if owns is None else [d for d in devices if owns(d.school)]

    def text(self) -> Iterator[str]:
        """`campus_device_up` and `campus_device_last_seen_timestamp_seconds` as exposition text.
        Registry ids, zones and kinds never need label escaping (devices.registry's patterns)."""
        if not self.per_device:
            return
        devices = self._devices()
        yield ("# HELP campus_device_up 1 when the device is up or faulty, 0 when down or unknown\n"
               "# TYPE campus_device_up gauge\n")
        for i in range(0, len(devices), SLICE):
            yield "".join(
                f'campus_device_up{{school="{d.school}",kind="{d.kind}",device="{d.id}",zone="{d.zone or ""}"}} '
                f'{"1.0" if d.state in LIVE_STATES else "0.0"}\n'
                for d in devices[i:i + SLICE])
        yield ("# HELP campus_device_last_seen_timestamp_seconds When the device was last heard (Unix seconds)\n"
               "# TYPE campus_device_last_seen_timestamp_seconds gauge\n")
        for i in range(0, len(devices), SLICE):
            yield "".join(
                f'campus_device_last_seen_timestamp_seconds{{school="{d.school}",kind="{d.kind}",device="{d.id}",'
                f'zone="{d.zone or ""}"}} {floatToGoString(d.last_seen)}\n'  # type: ignore[no-untyped-call]
                for d in devices[i:i + SLICE] if d.last_seen is not None)

    def _totals(self) -> dict[tuple[str, str], int]:
        """Registered devices per (school, kind), counted once: the registry does not change while
        the service runs."""
        if self._counted is None:
            totals: dict[tuple[str, str], int] = {}
            for dev in self.judge.devices():
                k = (dev.school, str(dev.kind))
                totals[k] = totals.get(k, 0) + 1
            self._counted = totals
        return self._counted

    def _state_counts(self, owns: Callable[[str], bool]) -> dict[tuple[str, str, str], int]:
        """Devices per (school, kind, state), from the judge's index of the devices not `up` (a few,
        usually; all of them only before the first heartbeats): `up` is the rest."""
        counts: dict[tuple[str, str, str], int] = {}
        not_up: dict[tuple[str, str], int] = {}
        for state, members in self.judge.by_state.items():
            name = str(state)
            for dev in list(members):
                if owns(dev.school):
                    kind = str(dev.kind)
                    counts[(dev.school, kind, name)] = counts.get((dev.school, kind, name), 0) + 1
                    not_up[(dev.school, kind)] = not_up.get((dev.school, kind), 0) + 1
        up = str(State.UP)
        for (school, kind), n in self._totals().items():
            if owns(school):
                counts[(school, kind, up)] = n - not_up.get((school, kind), 0)
        return counts

    def metrics(self) -> Iterator[Metric]:
        """Each family built only when the one before it is written (the exposition gives the loop back
        between families)."""
        judge = self.judge
        owns = self.owns or (lambda school: True)
        zl = ["school", "zone", "zone_kind"]
        zones = [(zc, [school, zone_id, zc.zone.kind]) for (school, zone_id), zc in judge.coverage.zones.items()
                 if owns(school)]
        live = GaugeMetricFamily("campus_zone_live_cameras", "Cameras up or faulty in the zone", labels=zl)
        for zc, labels in zones:
            live.add_metric(labels, zc.live)
        yield live
        total = GaugeMetricFamily("campus_zone_cameras", "Cameras registered in the zone", labels=zl)
        for zc, labels in zones:
            total.add_metric(labels, zc.cameras)
        yield total
        dark = GaugeMetricFamily("campus_zone_dark", "1 when the zone has fewer live cameras than its min_live", labels=zl)
        for zc, labels in zones:
            dark.add_metric(labels, 1.0 if zc.dark else 0.0)
        yield dark
        blind = GaugeMetricFamily("campus_blind_spots", "Dormitory cameras down or unreachable (blind spots)",
                                  labels=["school", "zone"])
        for zc in judge.coverage.blind_spot_zones():
            if owns(zc.school):
                blind.add_metric([zc.school, zc.zone.id], zc.blind_spots)
        yield blind

        offline = GaugeMetricFamily("campus_school_offline", "1 when every camera and alarm panel of the school is down", labels=["school"])
        for school, sc in judge.coverage.schools.items():
            if owns(school):
                offline.add_metric([school], 1.0 if sc.offline else 0.0)
        yield offline

        events = CounterMetricFamily("campus_alarm_events", "Alarm panel events stored", labels=["school", "device", "type"])
        for (school, device, kind), n in list(self.alarm_counts.items()):
            events.add_metric([school, device, kind], n)
        yield events

        msgs = CounterMetricFamily("campus_messages", "MQTT messages by outcome", labels=["kind", "outcome"])
        for (kind, outcome), n in list(self.message_counts.items()):
            msgs.add_metric([str(kind), str(outcome)], n)
        yield msgs

        yield GaugeMetricFamily("campus_mqtt_connected", "1 while the monitor is connected to the broker",
                                value=1.0 if self.connected() else 0.0)
        counts = self._state_counts(owns)
        devices = GaugeMetricFamily("campus_devices", "Registered devices by school, kind and state (unknown apart "
                                    "from down)", labels=["school", "kind", "state"])
        for (school, kind) in sorted(self._totals()):
            if owns(school):
                for state in STATE_NAMES:
                    devices.add_metric([school, kind, state], counts.get((school, kind, state), 0))
        yield devices


class _One:
    """One metric family, as `generate_latest` takes a registry."""

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> Iterable[Metric]:
        return (self.family,)


@dataclass(frozen=True, slots=True)
class Body:
    """One built exposition, kept gzipped only (a few MiB where the text is tens), in pieces that are
    never joined into one large buffer; and when it was built."""

    gzip: tuple[bytes, ...]
    built: float

    def text(self) -> bytes:
        """The plain text, for a scraper that does not take gzip (made off the loop by the caller)."""
        return zlib.decompress(b"".join(self.gzip), 31)


class Exposition:
    """The /metrics body: text sources written in slices with the loop given back between them, then
    the metric-family registry, compressed piece by piece on a worker thread while the loop writes
    the next piece (zlib lets go of the GIL); cached (see the module's docstring)."""

    def __init__(self, texts: Sequence[TextSource], families: CollectorRegistry, *, max_age_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.texts = list(texts)
        self.families = families
        self.max_age_s = max_age_s
        self.clock = clock
        self.last_build_s = 0.0
        self.builds = 0
        self._body: Body | None = None
        self._building: asyncio.Future[Body] | None = None

    async def body(self) -> Body:
        body = self._body
        fresh_for = min(self.max_age_s, AGE_PER_BUILD * self.last_build_s)
        if body is None or self.clock() - body.built > fresh_for:
            body = await self._build()
        return body

    async def _build(self) -> Body:
        if self._building is None:
            self._building = asyncio.ensure_future(self._write())
            self._building.add_done_callback(self._built)
        return await asyncio.shield(self._building)

    def _pieces(self) -> Iterator[bytes]:
        """The body in pieces, each short to make: the text sources' slices, then one metric family at
        a time (a family is only built when the piece before it is written)."""
        for source in self.texts:
            for text in source():
                yield text.encode()
        for family in self.families.collect():
            yield generate_latest(_One(family))

    def _built(self, fut: asyncio.Future[Body]) -> None:
        self._building = None
        if not fut.cancelled() and fut.exception() is None:
            self._body = fut.result()

    async def _write(self) -> Body:
        started = self.clock()
        loop = asyncio.get_running_loop()
        z = zlib.compressobj(1, zlib.DEFLATED, 31)  # level 1: the text is repetitive; wbits 31: gzip
        out: list[bytes] = []
        zipping: asyncio.Future[bytes] | None = None
        for piece in self._pieces():
            if zipping is not None:
                out.append(await zipping)  # the loop is given back here, too
            zipping = loop.run_in_executor(None, z.compress, piece) if piece else None
            if zipping is None:
                await asyncio.sleep(0)
        if zipping is not None:
            out.append(await zipping)
        out.append(z.flush())
        self.builds += 1
        self.last_build_s = self.clock() - started
        return Body(tuple(p for p in out if p), self.clock())
