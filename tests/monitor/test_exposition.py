"""The /metrics exposition: same series as before, written in slices with the loop given back, cached
with at most one build in flight, and the aggregate-only option."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from devices.judge import Judge
from devices.registry import parse_registry
from monitor.services.metrics import SLICE, DeviceMetrics, Exposition, metrics_registry
from monitor.tools.district import dump_registry, synthetic_registry


def _judge(n: int) -> Judge:
    return Judge(parse_registry(dump_registry(synthetic_registry(n)), "r.yaml"))


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _exposition(judge: Judge, clock: Clock, per_device: bool = True, max_age_s: float = 5.0) -> Exposition:
    dm = DeviceMetrics(judge, Counter(), Counter({("camera", "accepted"): 3}), lambda: True, per_device=per_device)
    return Exposition([dm.text], metrics_registry([dm.metrics]), max_age_s=max_age_s, clock=clock)


def test_the_exposition_carries_every_device_with_its_state_and_last_seen() -> None:
    judge = _judge(2500)
    judge.link_up(0.0)
    devs = list(judge.devices())
    judge.beat(devs[0], 50.0)
    clock = Clock()
    body = asyncio.run(_exposition(judge, clock).body())
    samples = _samples(body.text())
    d = devs[0]
    labels = tuple(sorted({"school": d.school, "kind": str(d.kind), "device": d.id, "zone": d.zone or ""}.items()))
    assert samples[("campus_device_up", labels)] == 1.0
    assert samples[("campus_device_last_seen_timestamp_seconds", labels)] == 50.0
    assert sum(1 for k in samples if k[0] == "campus_device_up") == len(devs)
    assert sum(v for k, v in samples.items() if k[0] == "campus_device_up") == 1.0
    assert samples[("campus_messages_total", (("kind", "camera"), ("outcome", "accepted")))] == 3
    assert samples[("campus_mqtt_connected", ())] == 1.0


def test_a_build_gives_the_loop_back_between_slices() -> None:
    judge = _judge(20_000)

    async def scenario() -> tuple[int, int]:
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await _exposition(judge, Clock()).body()
        stop = True
        await task
        return ticks, 2 * 20_000 // SLICE

    ticks, slices = asyncio.run(scenario())
    assert ticks >= slices - 2  # the other task ran between (nearly) every two slices


def test_concurrent_scrapes_share_one_build_and_a_fresh_body_is_served_from_the_cache() -> None:
    judge = _judge(3000)
    clock = Clock()
    exp = _exposition(judge, clock)

    async def scenario() -> None:
        bodies = await asyncio.gather(*(exp.body() for _ in range(5)))
        assert exp.builds == 1
        assert all(b is bodies[0] for b in bodies)
        exp.last_build_s = 0.4  # as if the build had taken 0.4 s: fresh for 4 s
        clock.t += 3.9
        assert await exp.body() is bodies[0]
        clock.t += 0.2
        await exp.body()
        assert exp.builds == 2

    asyncio.run(scenario())


def test_a_cheap_build_is_never_served_stale() -> None:
    judge = _judge(10)
    judge.link_up(0.0)
    clock = Clock()
    exp = _exposition(judge, clock)

    async def scenario() -> None:
        await exp.body()
        exp.last_build_s = 0.001
        clock.t += 0.01
        dev = next(iter(judge.devices()))
        judge.beat(dev, 99.0)
        body = await exp.body()
        assert exp.builds == 2
        assert b'campus_device_last_seen_timestamp_seconds{school="%s"' % dev.school.encode() in body.text()

    asyncio.run(scenario())


def test_the_body_is_one_gzip_stream() -> None:
    judge = _judge(2000)
    body = asyncio.run(_exposition(judge, Clock()).body())
    assert gzip.decompress(b"".join(body.gzip)) == body.text()
    assert body.text().startswith(b"# HELP campus_device_up")


def test_aggregate_only_leaves_out_per_device_series_and_counts_per_school() -> None:
    judge = _judge(500)
    body = asyncio.run(_exposition(judge, Clock(), per_device=False).body())
    samples = _samples(body.text())
    assert not any(k[0] in ("campus_device_up", "campus_device_last_seen_timestamp_seconds") for k in samples)
    per_school = sum(v for k, v in samples.items() if k[0] == "campus_devices")
    assert per_school == len(list(judge.devices()))
