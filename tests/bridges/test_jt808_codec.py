"""JT/T 808 wire format, on hand-computed frames and the standard's own escape example."""

from __future__ import annotations

from datetime import datetime

import pytest

from bridges.jt808 import codec
from bridges.jt808.codec import FrameError


def test_escape_example_of_the_standard() -> None:
    # JT/T 808-2013 and -2019 §4.4.2: "发送一包内容为 0x30 0x7e 0x08 0x7d 0x55 的数据包，则经过封装如下：
    # 0x7e 0x30 0x7d 0x02 0x08 0x7d 0x01 0x55 0x7e"
    assert codec.escape(bytes([0x30, 0x7E, 0x08, 0x7D, 0x55])) == bytes.fromhex("307d0208 7d0155".replace(" ", ""))
    assert codec.unescape(bytes.fromhex("307d02087d0155")) == bytes([0x30, 0x7E, 0x08, 0x7D, 0x55])


@pytest.mark.parametrize("bad", ["307d", "307d03", "7d00"])
def test_a_bad_escape_is_an_error(bad: str) -> None:
    with pytest.raises(FrameError) as exc:
        codec.unescape(bytes.fromhex(bad))
    assert exc.value.reason == "escape"


# Hand-computed: 0x0002 heartbeat, 2013 header, phone 013912345678, serial 1, empty body.
# XOR of 00 02 00 00 01 39 12 34 56 78 00 01 = 0x33.
HEARTBEAT_2013 = "7e000200000139123456780001337e"


def test_heartbeat_2013_hand_computed() -> None:
    assert codec.encode(0x0002, "013912345678", 1, b"").hex() == HEARTBEAT_2013
    msg = codec.decode(bytes.fromhex(HEARTBEAT_2013)[1:-1])
    assert msg.header == codec.Header(0x0002, "013912345678", 1)
    assert msg.header.terminal == "13912345678"
    assert msg.body == b""


# Hand-computed: 0x0002, 2019 header (attributes 0x4000, version 1), 20-digit phone (10 BCD bytes),
# serial 0x0075. XOR of 00 02 40 00 01, 00 00 00 00 00 01 39 12 34 56, 00 75 = 0x7e, so the check
# byte goes out escaped as 7d 02.
HEARTBEAT_2019 = "7e0002400001" + "00000000000139123456" + "0075" + "7d02" + "7e"


def test_heartbeat_2019_whose_checksum_is_the_flag() -> None:
    frame = codec.encode(0x0002, "00000000000139123456", 0x0075, b"", version=1)
    assert frame.hex() == HEARTBEAT_2019
    msg = codec.decode(frame[1:-1])
    assert msg.header.version == 1
    assert msg.header.phone == "00000000000139123456"
    assert msg.header.terminal == "139123456"
    assert msg.header.serial == 0x0075


def test_location_2013_hand_computed() -> None:
    # alarm 1 (emergency), status 0x0e (positioned, south, west), lat 27.338200 -> 0x01a125d8,
    # lon 103.717100 -> 0x062e98ec, altitude 1890 m (0x0762), speed 385 (38.5 km/h), direction 270,
    # time 26-11-25 08:00:00 (UTC+8) = 2026-11-25T00:00:00Z = 1795564800.
    body = bytes.fromhex("00000001" "0000000e" "01a125d8" "062e98ec" "0762" "0181" "010e" "261125080000")
    loc = codec.decode_location(body)
    assert (loc.lat, loc.lon) == (-27.3382, -103.7171)
    assert loc.speed_kmh == 38.5 and loc.heading == 270 and loc.altitude_m == 1890
    assert loc.ts == 1795564800.0
    assert loc.positioned and loc.emergency
    assert body == codec.location_body(-27.3382, -103.7171, speed_kmh=38.5, heading=270, alarm=1, altitude_m=1890,
                                       when=datetime.fromisoformat("2026-11-25T08:00:00+08:00"))


def test_location_additional_items() -> None:
    body = codec.location_body(27.3, 103.7) + bytes.fromhex("0104000003e8" "300119")  # mileage 100.0 km, signal 25
    loc = codec.decode_location(body)
    assert loc.extra == {0x01: bytes.fromhex("000003e8"), 0x30: b"\x19"}
    with pytest.raises(FrameError):
        codec.decode_location(body + b"\x01")  # a trailing byte
    with pytest.raises(FrameError):
        codec.decode_location(codec.location_body(27.3, 103.7) + bytes.fromhex("0104000003"))  # overrun


def test_bcd_time_that_is_no_date() -> None:
    assert codec.bcd_time(bytes(6)) is None
    assert codec.bcd_time(bytes.fromhex("2613250800aa")) is None


def test_batch() -> None:
    a = codec.location_body(27.1, 103.1)
    b = codec.location_body(27.2, 103.2, positioned=False)
    body = bytes.fromhex("0002" "01") + len(a).to_bytes(2, "big") + a + len(b).to_bytes(2, "big") + b
    locs = codec.decode_batch(body)
    assert [(x.lat, x.positioned) for x in locs] == [(27.1, True), (27.2, False)]
    with pytest.raises(FrameError):
        codec.decode_batch(bytes.fromhex("0003" "01") + body[3:])


def test_bad_checksum_and_length() -> None:
    raw = bytearray(bytes.fromhex(HEARTBEAT_2013))
    raw[-2] ^= 0xFF
    with pytest.raises(FrameError) as exc:
        codec.decode(bytes(raw[1:-1]))
    assert exc.value.reason == "checksum"
    # attributes say a 1-byte body, none follows (check byte recomputed): a length error
    inner = bytes.fromhex("000200010139123456780001")
    with pytest.raises(FrameError) as exc:
        codec.decode(inner + bytes([codec.checksum(inner)]))
    assert exc.value.reason == "length"


def test_sub_package_header() -> None:
    frame = codec.encode_packet(0x0704, "013912345678", 9, b"abc", count=2, index=1)
    msg = codec.decode(frame[1:-1])
    assert msg.header.packets == (2, 1) and msg.body == b"abc"
    frame = codec.encode_packet(0x0704, "013912345678", 9, b"abc", count=2, index=3)
    with pytest.raises(FrameError):
        codec.decode(frame[1:-1])


def test_replies() -> None:
    # 0x8001 answering serial 1 of 0x0002 with result 0: 0001 0002 00
    assert codec.general_response(1, 0x0002, 0) == bytes.fromhex("0001000200")
    assert codec.register_response(5, 0, "ab12") == bytes.fromhex("000500") + b"ab12"
    assert codec.register_response(5, 4, "ignored") == bytes.fromhex("000504")
    assert codec.decode_auth(b"ab12", None) == "ab12"
    assert codec.decode_auth(b"\x04ab12" + b"8" * 15 + b"v1".ljust(20, b"\0"), 1) == "ab12"


def test_splitter_cuts_frames_noise_and_oversize() -> None:
    s = codec.Splitter()
    hb = bytes.fromhex(HEARTBEAT_2013)
    out = list(s.feed(b"noise" + hb + hb[:5]))
    assert out == [hb[1:-1]]
    assert list(s.feed(hb[5:] + hb)) == [hb[1:-1], hb[1:-1]]
    assert list(s.feed(b"\x7e" + b"x" * (codec.MAX_FRAME + 1))) == []
    assert s.oversize == 1 and s.buf == bytearray()
