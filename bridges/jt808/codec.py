"""JT/T 808-2013 and JT/T 808-2019 frames, pure: framing, escapes, checksum, header, bodies, replies.

A frame on the wire is `0x7e | header | body | check | 0x7e`. Inside the flags 0x7e is sent as
0x7d 0x02 and 0x7d as 0x7d 0x01 (§4.4.2 of both editions); the check byte is the XOR of header and
body. The header (§4.4.3) is: message id (WORD), attributes (WORD: bits 0-9 body length, 10-12
encryption, 13 sub-package, 14 the 2019 version flag), then in 2019 a protocol version BYTE, then the
terminal's phone number in BCD (6 bytes in 2013, 10 in 2019), the serial number (WORD), and when the
sub-package bit is set the package count and index (WORD each, index from 1). Multi-byte numbers are
big-endian. Everything here raises `FrameError(reason)`, whose `reason` is the metric outcome.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

FLAG = 0x7E
ESC = 0x7D
MAX_BODY = 1023  # bits 0-9 of the attributes
#: The longest escaped frame: every byte of header, body and check escaped, plus the flags.
MAX_FRAME = 2 * (2 + 2 + 1 + 10 + 2 + 4 + MAX_BODY + 1) + 2

# Message ids used by the bridge.
T_GENERAL_RESPONSE = 0x0001
T_HEARTBEAT = 0x0002
T_LOGOUT = 0x0003
T_REGISTER = 0x0100
T_AUTH = 0x0102
T_LOCATION = 0x0200
T_BATCH = 0x0704
P_GENERAL_RESPONSE = 0x8001
P_REGISTER_RESPONSE = 0x8100

# 0x8001 results (§8.2) and 0x8100 results (§8.5).
OK, FAILURE, BAD_MESSAGE, UNSUPPORTED = 0, 1, 2, 3
REG_OK, REG_NO_SUCH_TERMINAL = 0, 4

# Location status and alarm bits (§8.18, tables 24 and 25).
STATUS_POSITIONED = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3
ALARM_EMERGENCY = 1 << 0

UTC8 = timezone(timedelta(hours=8))


class FrameError(ValueError):
    """A frame or body that cannot be used; `reason` is its outcome label (`checksum`, `escape`, ...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# ---- framing ---------------------------------------------------------------------------------------


def escape(data: bytes) -> bytes:
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(data: bytes) -> bytes:
    if ESC not in data:
        return data
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == ESC:
            if i + 1 >= n or data[i + 1] not in (0x01, 0x02):
                raise FrameError("escape", f"0x7d followed by {data[i + 1:i + 2].hex() or 'nothing'}")
            out.append(ESC if data[i + 1] == 0x01 else FLAG)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def checksum(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


@dataclass(slots=True)
class Splitter:
    """Cuts a TCP byte stream into the escaped contents between 0x7e flags, with a bounded buffer.

    Bytes before the first flag are noise and dropped; a run longer than `MAX_FRAME` without a closing
    flag is dropped and counted in `oversize` (so a hostile peer cannot grow the buffer).
    """

    buf: bytearray = field(default_factory=bytearray)
    oversize: int = 0
    noise: int = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        buf = self.buf
        buf += data
        while True:
            start = buf.find(FLAG)
            if start < 0:
                if buf:
                    self.noise += 1
                buf.clear()
                return
            if start:
                self.noise += 1
                del buf[:start]
            end = buf.find(FLAG, 1)
            if end < 0:
                if len(buf) > MAX_FRAME:
                    self.oversize += 1
                    buf.clear()
                return
            inner = bytes(buf[1:end])
            del buf[:end]  # keep the closing flag: it may open the next frame (7e ... 7e7e ... 7e)
            if inner:
                yield inner


# ---- header and messages -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    phone: str  # the BCD digits as sent (12 in 2013, 20 in 2019)
    serial: int
    version: int | None = None  # the 2019 protocol version byte; None for a 2013 frame
    encryption: int = 0
    packets: tuple[int, int] | None = None  # (count, index from 1) of a sub-package

    @property
    def terminal(self) -> str:
        """The phone number with leading zeros stripped: what the registry's `terminal` is matched on."""
        return self.phone.lstrip("0")


@dataclass(frozen=True, slots=True)
class Message:
    header: Header
    body: bytes


def bcd(data: bytes) -> str:
    digits = data.hex()
    if not digits.isdigit():
        raise FrameError("bcd", f"not BCD: {digits}")
    return digits


def decode(inner: bytes) -> Message:
    """One frame from its escaped contents (without the flags)."""
    raw = unescape(inner)
    if len(raw) < 13:
        raise FrameError("short", f"{len(raw)} bytes")
    if checksum(raw[:-1]) != raw[-1]:
        raise FrameError("checksum", f"{checksum(raw[:-1]):02x} != {raw[-1]:02x}")
    msg_id, attrs = struct.unpack_from(">HH", raw)
    body_len = attrs & 0x3FF
    encryption = (attrs >> 10) & 0x7
    split = bool(attrs & 0x2000)
    if attrs & 0x4000:  # 2019
        version: int | None = raw[4]
        phone = bcd(raw[5:15])
        pos = 15
    else:
        version = None
        phone = bcd(raw[4:10])
        pos = 10
    if len(raw) < pos + 2 + 1:
        raise FrameError("short", f"{len(raw)} bytes")
    (serial,) = struct.unpack_from(">H", raw, pos)
    pos += 2
    packets = None
    if split:
        if len(raw) < pos + 4 + 1:
            raise FrameError("short", "sub-package header")
        count, index = struct.unpack_from(">HH", raw, pos)
        if count < 1 or not 1 <= index <= count:
            raise FrameError("header", f"sub-package {index} of {count}")
        packets = (count, index)
        pos += 4
    body = raw[pos:-1]
    if len(body) != body_len:
        raise FrameError("length", f"body is {len(body)} bytes, header says {body_len}")
    return Message(Header(msg_id, phone, serial, version, encryption, packets), body)


def encode(msg_id: int, phone: str, serial: int, body: bytes, version: int | None = None) -> bytes:
    """A whole frame, flags included; `version` None makes a 2013 header, else a 2019 one."""
    if len(body) > MAX_BODY:
        raise ValueError("body longer than 1023 bytes: send it in sub-packages")
    attrs = len(body)
    if version is None:
        head = struct.pack(">HH", msg_id, attrs) + bytes.fromhex(phone.zfill(12)[-12:])
    else:
        head = struct.pack(">HHB", msg_id, attrs | 0x4000, version) + bytes.fromhex(phone.zfill(20)[-20:])
    raw = head + struct.pack(">H", serial & 0xFFFF) + body
    return b"\x7e" + escape(raw + bytes([checksum(raw)])) + b"\x7e"


def encode_packet(msg_id: int, phone: str, serial: int, body: bytes, count: int, index: int,
                  version: int | None = None) -> bytes:
    """One sub-package of a long message (for emulators and tests)."""
    attrs = len(body) | 0x2000
    if version is None:
        head = struct.pack(">HH", msg_id, attrs) + bytes.fromhex(phone.zfill(12)[-12:])
    else:
        head = struct.pack(">HHB", msg_id, attrs | 0x4000, version) + bytes.fromhex(phone.zfill(20)[-20:])
    raw = head + struct.pack(">HHH", serial & 0xFFFF, count, index) + body
    return b"\x7e" + escape(raw + bytes([checksum(raw)])) + b"\x7e"


# ---- bodies ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Location:
    """The location basic information (§8.18, table 23) plus its additional items."""

    alarm: int
    status: int
    lat: float  # degrees, south negative
    lon: float  # degrees, west negative
    altitude_m: int
    speed_kmh: float
    heading: int
    ts: float | None  # Unix seconds from the BCD time (UTC+8); None when that time is not a date
    extra: dict[int, bytes] = field(default_factory=dict)

    @property
    def positioned(self) -> bool:
        return bool(self.status & STATUS_POSITIONED)

    @property
    def emergency(self) -> bool:
        return bool(self.alarm & ALARM_EMERGENCY)


def bcd_time(data: bytes) -> float | None:
    """YYMMDDhhmmss in BCD, GMT+8, to Unix seconds; None when it is not a valid date."""
    digits = data.hex()
    if not digits.isdigit():
        return None
    try:
        t = datetime(2000 + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]), int(digits[6:8]),
                     int(digits[8:10]), int(digits[10:12]), tzinfo=UTC8)
    except ValueError:
        return None
    return t.timestamp()


def decode_location(body: bytes) -> Location:
    if len(body) < 28:
        raise FrameError("body", f"location is {len(body)} bytes, needs 28")
    alarm, status, lat, lon, alt, speed, heading = struct.unpack_from(">IIIIHHH", body)
    if lat > 90_000_000 or lon > 180_000_000:
        raise FrameError("body", f"latitude/longitude out of range: {lat}, {lon}")
    extra: dict[int, bytes] = {}
    pos = 28
    while pos + 2 <= len(body):
        item, size = body[pos], body[pos + 1]
        if pos + 2 + size > len(body):
            raise FrameError("body", f"additional item 0x{item:02x} overruns the body")
        extra[item] = body[pos + 2:pos + 2 + size]
        pos += 2 + size
    if pos != len(body):
        raise FrameError("body", "trailing byte after the additional items")
    return Location(
        alarm=alarm,
        status=status,
        lat=(-lat if status & STATUS_SOUTH else lat) / 1e6,
        lon=(-lon if status & STATUS_WEST else lon) / 1e6,
        altitude_m=alt,
        speed_kmh=speed / 10.0,
        heading=heading,
        ts=bcd_time(body[22:28]),
        extra=extra,
    )


def decode_batch(body: bytes) -> list[Location]:
    """0x0704 (§8.56): count WORD, type BYTE, then `count` items of length WORD + location body."""
    if len(body) < 3:
        raise FrameError("body", "batch shorter than its header")
    (count,) = struct.unpack_from(">H", body)
    pos, out = 3, []
    for _ in range(count):
        if pos + 2 > len(body):
            raise FrameError("body", "batch ends before its count")
        (size,) = struct.unpack_from(">H", body, pos)
        pos += 2
        if pos + size > len(body):
            raise FrameError("body", "batch item overruns the body")
        out.append(decode_location(body[pos:pos + size]))
        pos += size
    if pos != len(body):
        raise FrameError("body", "trailing bytes after the batch items")
    return out


def decode_auth(body: bytes, version: int | None) -> str:
    """0x0102: in 2013 the whole body is the auth code; in 2019 a length BYTE comes first (IMEI and
    software version follow)."""
    if version is None:
        code = body
    else:
        if not body or body[0] + 1 > len(body):
            raise FrameError("body", "auth code length overruns the body")
        code = body[1:1 + body[0]]
    return code.decode("gbk", "replace").rstrip("\x00")


def general_response(reply_serial: int, reply_id: int, result: int) -> bytes:
    return struct.pack(">HHB", reply_serial, reply_id, result)


def register_response(reply_serial: int, result: int, auth_code: str = "") -> bytes:
    body = struct.pack(">HB", reply_serial, result)
    return body + auth_code.encode("ascii") if result == REG_OK else body


def location_body(lat: float, lon: float, *, speed_kmh: float = 0.0, heading: int = 0, alarm: int = 0,
                  positioned: bool = True, when: datetime | None = None, altitude_m: int = 0,
                  extra: bytes = b"") -> bytes:
    """A 0x0200 body (for emulators, tests and benchmarks)."""
    status = (STATUS_POSITIONED if positioned else 0) | (STATUS_SOUTH if lat < 0 else 0) | (STATUS_WEST if lon < 0 else 0)
    when = (when or datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC8)).astimezone(UTC8)
    stamp = bytes.fromhex(when.strftime("%y%m%d%H%M%S"))
    return struct.pack(">IIIIHHH", alarm, status, round(abs(lat) * 1e6), round(abs(lon) * 1e6), altitude_m,
                       round(speed_kmh * 10), heading) + stamp + extra
