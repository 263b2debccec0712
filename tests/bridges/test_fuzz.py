"""Fuzzing the JT/T 808 and SIP parsers (hypothesis): only their own errors ever come out, and the
bridges survive any bytes. `bench/fuzz_bridges.py` runs the same properties for minutes; crashers it
finds are kept at the bottom of this file as regression cases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridges.config import Gb28181Config, Jt808Config
from bridges.gb28181 import manscdp, sip
from bridges.gb28181.server import Gb28181Bridge
from bridges.jt808 import codec
from bridges.jt808.server import Jt808Bridge, _Conn
from bridges.metrics import Stats
from bridges.targets import index
from tests.bridges.conftest import FakePublisher, registry

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def jt808_frames() -> st.SearchStrategy[bytes]:
    """Valid-looking frames with fuzzed ids, versions, bodies and mutations, and raw noise."""
    ids = st.sampled_from([0x0001, 0x0002, 0x0003, 0x0100, 0x0102, 0x0200, 0x0704, 0x0900])
    phones = st.sampled_from(["013912345678", "013999999999", "00000000013912345678"])
    framed = st.builds(lambda i, p, s, b, v: codec.encode(i, p, s, b, v), ids, phones, st.integers(0, 0xFFFF),
                       st.binary(max_size=200), st.sampled_from([None, 1]))
    located = st.builds(lambda b, a, st_: codec.encode(0x0200, "013912345678", 1, b[:4] + a + b[8:]),
                        st.builds(codec.location_body, st.floats(-90, 90), st.floats(-180, 180)),
                        st.binary(min_size=4, max_size=4), st.binary())
    mutated = st.builds(lambda f, i, x: f[:i] + bytes([x]) + f[i + 1:], framed, st.integers(0, 40), st.integers(0, 255))
    return st.one_of(framed, located, mutated, st.binary(max_size=300))


def check_jt808_decode(data: bytes) -> None:
    try:
        msg = codec.decode(data.strip(b"\x7e"))
    except codec.FrameError:
        return
    for fn in (codec.decode_location, codec.decode_batch):
        try:
            fn(msg.body)
        except codec.FrameError:
            pass
    try:
        codec.decode_auth(msg.body, msg.header.version)
    except codec.FrameError:
        pass


def jt808_session() -> tuple[Jt808Bridge, _Conn]:
    targets = index(registry())
    bridge = Jt808Bridge(Jt808Config(), targets, FakePublisher(targets.prefixes("campus")), Stats("jt808"))  # type: ignore[arg-type]
    conn = _Conn(bridge)
    conn.transport = type("T", (), {"write": lambda self, b: None, "is_closing": lambda self: False})()  # type: ignore[assignment]
    return bridge, conn


def check_jt808_bridge(chunks: list[bytes]) -> None:
    bridge, conn = jt808_session()
    for c in chunks:
        conn.data_received(c)
    assert bridge.stats.frames["error"] == 0
    assert len(conn.splitter.buf) <= codec.MAX_FRAME + max((len(c) for c in chunks), default=0)


def sip_messages() -> st.SearchStrategy[bytes]:
    base = (b"MESSAGE sip:53060200002000000001@5306020000 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1\r\n"
            b"From: <sip:53060200001180000001@5306020000>;tag=1\r\nTo: <sip:53060200002000000001@5306020000>\r\n"
            b"Call-ID: 1\r\nCSeq: 1 MESSAGE\r\nContent-Type: Application/MANSCDP+xml\r\nContent-Length: %d\r\n\r\n")
    bodies = st.one_of(st.binary(max_size=300), st.sampled_from([
        b'<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Keepalive</CmdType><DeviceID>53060200001180000001</DeviceID></Notify>',
        b'<?xml version="1.0" encoding="GB2312"?><Response><CmdType>Catalog</CmdType><DeviceID>53060200001180000001</DeviceID>'
        b"<DeviceList><Item><DeviceID>53060200001320000001</DeviceID><Status>ON</Status></Item></DeviceList></Response>",
        b'<?xml version="1.0" encoding="x-unknown"?><a/>',
    ]))
    whole = st.builds(lambda b: base % len(b) + b, bodies)
    mutated = st.builds(lambda m, i, x: m[:i] + x + m[i + 1:], whole, st.integers(0, 400), st.binary(max_size=3))
    return st.one_of(whole, mutated, st.binary(max_size=400))


def check_sip(data: bytes) -> None:
    try:
        msg = sip.parse(data)
    except sip.SipError:
        return
    try:
        manscdp.decode(msg.body)
    except manscdp.XmlError:
        pass
    for value in msg.all("authorization"):
        try:
            sip.params(value)
        except sip.SipError:
            pass


_GB: Gb28181Bridge | None = None


def check_gb_bridge(data: bytes) -> None:
    global _GB
    if _GB is None:
        targets = index(registry())
        _GB = Gb28181Bridge(Gb28181Config(password="x"), targets, FakePublisher(targets.prefixes("campus")),  # type: ignore[arg-type]
                            Stats("gb28181"))
    _GB.datagram(data, "UDP", ("127.0.0.1", 5060), lambda out: sip.parse(out) and None)
    assert _GB.stats.frames["error"] == 0


def check_sip_stream(chunks: list[bytes]) -> None:
    s = sip.StreamSplitter()
    for c in chunks:
        try:
            for m in s.feed(c):
                check_sip(m)
        except sip.SipError:
            s = sip.StreamSplitter()
        assert len(s.buf) <= sip.MAX_MESSAGE + len(c)


@FUZZ
@given(jt808_frames())
def test_jt808_decoders_raise_only_frame_errors(data: bytes) -> None:
    check_jt808_decode(data)


@FUZZ
@given(st.lists(st.one_of(jt808_frames(), st.binary(max_size=50)), max_size=8))
def test_jt808_connection_survives_any_bytes(chunks: list[bytes]) -> None:
    check_jt808_bridge(chunks)


@FUZZ
@given(sip_messages())
def test_sip_parser_raises_only_sip_errors(data: bytes) -> None:
    check_sip(data)


@FUZZ
@given(sip_messages())
def test_gb28181_bridge_answers_any_datagram(data: bytes) -> None:
    check_gb_bridge(data)


@FUZZ
@given(st.lists(sip_messages(), max_size=5))
def test_sip_stream_splitter(chunks: list[bytes]) -> None:
    check_sip_stream(chunks)


# ---- crashers found by bench/fuzz_bridges.py, kept as regression cases ---------------------------

CRASHERS_JT808: list[bytes] = []
CRASHERS_SIP: list[bytes] = []


@pytest.mark.parametrize("data", CRASHERS_JT808 or [b""])
def test_jt808_crashers(data: bytes) -> None:
    check_jt808_decode(data)
    check_jt808_bridge([data])


@pytest.mark.parametrize("data", CRASHERS_SIP or [b""])
def test_sip_crashers(data: bytes) -> None:
    check_sip(data)
    check_gb_bridge(data)
