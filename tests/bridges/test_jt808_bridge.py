"""The JT/T 808 bridge: replies and §2 messages for each frame, then end to end through a real Mosquitto."""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import datetime

import orjson
import pytest

from bridges.cli import build
from bridges.config import Jt808Config
from bridges.jt808 import codec
from bridges.jt808.server import Jt808Bridge, _Conn
from bridges.metrics import Stats
from bridges.targets import index
from monitor.config import parse_config
from tests.bridges.conftest import FakePublisher, registry
from tests.bridges.jt808_terminal import Terminal, batch_body, general_result
from tests.bridges.mqtt_sub import Subscriber, until

T0 = datetime.fromisoformat("2026-11-25T08:00:00+08:00")
BUS = "campus/panhe-ms/bus/bus-023"


def make() -> tuple[Jt808Bridge, _Conn, FakePublisher]:
    targets = index(registry())
    pub = FakePublisher(targets.prefixes("campus"))
    bridge = Jt808Bridge(Jt808Config(), targets, pub, Stats("jt808"), clock=lambda: 1795564801.0)  # type: ignore[arg-type]
    return bridge, _Conn(bridge), pub


def feed(bridge: Jt808Bridge, conn: _Conn, frame: bytes) -> list[codec.Message]:
    """Run one frame through the connection's path; the decoded replies."""
    out: list[bytes] = []
    conn.transport = type("T", (), {"write": out.append, "is_closing": lambda self: False})()  # type: ignore[assignment]
    conn.data_received(frame)
    splitter = codec.Splitter()
    return [codec.decode(i) for chunk in out for i in splitter.feed(chunk)]


def test_register_auth_location_2013() -> None:
    bridge, conn, pub = make()
    (reply,) = feed(bridge, conn, codec.encode(codec.T_REGISTER, "013912345678", 1, b"x" * 37))
    assert reply.header.msg_id == codec.P_REGISTER_RESPONSE and reply.header.version is None
    assert reply.body[:3] == bytes.fromhex("000100")  # reply serial 1, result 0
    code = reply.body[3:].decode()
    assert len(code) == 16
    (reply,) = feed(bridge, conn, codec.encode(codec.T_AUTH, "013912345678", 2, code.encode()))
    assert reply.body == bytes.fromhex("0002" "0102" "00")
    (reply,) = feed(bridge, conn, codec.encode(codec.T_AUTH, "013912345678", 3, b"wrong"))
    assert reply.body[-1] == codec.FAILURE
    body = codec.location_body(27.3382, 103.7171, speed_kmh=38.5, heading=90, when=T0)
    (reply,) = feed(bridge, conn, codec.encode(codec.T_LOCATION, "013912345678", 4, body))
    assert reply.body == bytes.fromhex("0004" "0200" "00")
    assert [(t, orjson.loads(p)) for t, p, _ in pub.sent] == [
        (f"{BUS}/gps", {"ts": 1795564800.0, "lat": 27.3382, "lon": 103.7171, "speed_kmh": 38.5, "heading": 90}),
    ]


def test_2019_terminal_with_twenty_digits_matches_stripped_number() -> None:
    bridge, conn, pub = make()
    (reply,) = feed(bridge, conn, codec.encode(codec.T_HEARTBEAT, "00000000013912345678", 7, b"", version=1))
    assert reply.header.version == 1 and reply.header.phone == "00000000013912345678"
    assert reply.body == bytes.fromhex("0007" "0002" "00")
    assert pub.sent == [(f"{BUS}/heartbeat", b'{"ts":1795564801.0,"status":"ok"}', 0)]
    # and a registry terminal written with 20 digits matches a 2013 frame's 12
    feed(bridge, conn, codec.encode(codec.T_HEARTBEAT, "013900000024", 8, b""))
    assert pub.sent[-1][0] == "campus/panhe-ms/bus/bus-024/heartbeat"


def test_unknown_terminal_gets_result_4_and_nothing_is_published() -> None:
    bridge, conn, pub = make()
    (reply,) = feed(bridge, conn, codec.encode(codec.T_REGISTER, "013999999999", 1, b""))
    assert reply.body == bytes.fromhex("0001" "04")
    (reply,) = feed(bridge, conn, codec.encode(codec.T_LOCATION, "013999999999", 2, codec.location_body(27, 103)))
    assert reply.body[-1] == codec.FAILURE
    assert pub.sent == [] and bridge.stats.frames["unknown_device"] == 2


def test_no_fix_is_a_heartbeat_and_emergency_rising_edge_is_one_press() -> None:
    bridge, conn, pub = make()
    feed(bridge, conn, codec.encode(codec.T_LOCATION, "013912345678", 1, codec.location_body(0, 0, positioned=False)))
    assert pub.sent[-1][0] == f"{BUS}/heartbeat"
    for serial in (2, 3):  # the bit stays set: one press
        feed(bridge, conn, codec.encode(codec.T_LOCATION, "013912345678", serial, codec.location_body(27.3, 103.7, alarm=1, when=T0)))
    feed(bridge, conn, codec.encode(codec.T_LOCATION, "013912345678", 4, codec.location_body(27.3, 103.7, when=T0)))
    events = [(t, orjson.loads(p), q) for t, p, q in pub.sent if t.endswith("/event")]
    assert events == [(f"{BUS}/event", {"ts": 1795564800.0, "event_id": "jt808-bus-023-1795564800", "type": "press"}, 1)]
    feed(bridge, conn, codec.encode(codec.T_LOCATION, "013912345678", 5, codec.location_body(27.3, 103.7, alarm=1)))
    assert sum(t.endswith("/event") for t, _, _ in pub.sent) == 2


def test_south_west_and_batch_in_order() -> None:
    bridge, conn, pub = make()
    bodies = [codec.location_body(-1.5 - i, -2.5, when=T0) for i in range(3)]
    (reply,) = feed(bridge, conn, codec.encode(codec.T_BATCH, "013912345678", 1, batch_body(*bodies)))
    assert reply.body == bytes.fromhex("0001" "0704" "00")
    assert [orjson.loads(p)["lat"] for _, p, _ in pub.sent] == [-1.5, -2.5, -3.5]
    assert all(orjson.loads(p)["lon"] == -2.5 for _, p, _ in pub.sent)


def test_bad_frames_are_counted_and_the_next_frame_still_works() -> None:
    bridge, conn, pub = make()
    good = codec.encode(codec.T_HEARTBEAT, "013912345678", 1, b"")
    bad_sum = good[:-2] + bytes([good[-2] ^ 1]) + b"\x7e"
    bad_esc = b"\x7e\x00\x02\x7d\x05\x7e"
    replies = feed(bridge, conn, bad_sum + bad_esc + good)
    assert len(replies) == 1 and len(pub.sent) == 1
    assert bridge.stats.frames["checksum"] == 1 and bridge.stats.frames["escape"] == 1


def test_bad_body_answers_result_2_and_unsupported_message_result_3() -> None:
    bridge, conn, pub = make()
    (reply,) = feed(bridge, conn, codec.encode(codec.T_LOCATION, "013912345678", 1, b"short"))
    assert reply.body[-1] == codec.BAD_MESSAGE
    (reply,) = feed(bridge, conn, codec.encode(0x0900, "013912345678", 2, b"pass-through"))
    assert reply.body == bytes.fromhex("0002" "0900" "03")
    assert pub.sent == []


def test_sub_packages_are_reassembled() -> None:
    bridge, conn, pub = make()
    whole = batch_body(*[codec.location_body(27.0 + i / 10, 103.0, when=T0) for i in range(3)])
    a, b = whole[:40], whole[40:]
    r1 = feed(bridge, conn, codec.encode_packet(codec.T_BATCH, "013912345678", 10, a, 2, 1))
    assert pub.sent == [] and [general_result(r) for r in r1] == [0]
    r2 = feed(bridge, conn, codec.encode_packet(codec.T_BATCH, "013912345678", 11, b, 2, 2))
    assert [general_result(r) for r in r2] == [0]
    assert [orjson.loads(p)["lat"] for _, p, _ in pub.sent] == [27.0, 27.1, 27.2]


@pytest.mark.integration
async def test_terminal_end_to_end_through_mosquitto(mosquitto: tuple[str, int]) -> None:
    host, port = mosquitto
    cfg = parse_config(f'[mqtt]\nurl = "mqtt://{host}:{port}"\n[bridges.jt808]\nlisten = "127.0.0.1:0"\n'
                       f'metrics_listen = "127.0.0.1:0"\nidle_timeout_s = 1\n')
    running = build("jt808", cfg, index(registry()))
    sub = Subscriber(host, port)
    await running.start()
    bridge: Jt808Bridge = running.bridge  # type: ignore[assignment]
    try:
        await until(lambda: running.publisher.connected, what="the bridge's broker link")
        term = Terminal("013912345678")
        await term.connect("127.0.0.1", bridge.port)
        result, code = await term.register()
        assert result == 0
        assert await term.auth(code) == 0
        assert general_result(await term.request(codec.T_HEARTBEAT)) == 0
        now = datetime.now().astimezone()
        assert await term.location(27.3382, 103.7171, speed_kmh=38.5, heading=90, when=now) == 0
        assert await term.location(27.3390, 103.7180, alarm=1, when=now) == 0
        old = Terminal("00000000013912345678", version=1)  # the same bus, a 2019 frame
        await old.connect("127.0.0.1", bridge.port)
        assert await old.location(27.34, 103.72, positioned=False) == 0
        await until(lambda: len(sub.on(f"{BUS}/gps")) == 2 and len(sub.on(f"{BUS}/heartbeat")) == 2
                    and sub.on(f"{BUS}/event"), what="the bus messages")
        gps = sub.on(f"{BUS}/gps")
        assert gps[0] == {"ts": float(int(now.timestamp())), "lat": 27.3382, "lon": 103.7171, "speed_kmh": 38.5, "heading": 90}
        (event,) = sub.on(f"{BUS}/event")
        assert isinstance(event, dict) and event["type"] == "press"
        stranger = Terminal("013999999999")
        await stranger.connect("127.0.0.1", bridge.port)
        assert (await stranger.register())[0] == 4
        metrics_port = running.metrics.port  # type: ignore[union-attr]
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode())
        assert 'campus_bridge_frames_total{bridge="jt808",outcome="unknown_device"} 1.0' in text
        assert 'campus_bridge_mqtt_connected{bridge="jt808"} 1.0' in text
        assert 'campus_bridge_devices_connected{bridge="jt808"} 2.0' in text
        # idle connections are closed (idle_timeout_s = 1)
        await until(lambda: not bridge.conns, timeout=5, what="idle connections closed")
        for t in (term, old, stranger):
            await t.close()
        assert not any(t.startswith("campus/panhe-ms/bus/") and "99999" in t for t, _, _ in sub.messages)
    finally:
        await running.stop()
        sub.close()
