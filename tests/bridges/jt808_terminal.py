"""A JT/T 808 terminal emulator (asyncio), for the tests and `bench/bridges.py`."""

from __future__ import annotations

import asyncio
import struct
from datetime import datetime

from bridges.jt808 import codec


class Terminal:
    def __init__(self, phone: str, version: int | None = None) -> None:
        self.phone = phone
        self.version = version
        self.serial = 0
        self.replies: asyncio.Queue[codec.Message] = asyncio.Queue()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, host: str, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.reader is not None
        splitter = codec.Splitter()
        while data := await self.reader.read(65536):
            for inner in splitter.feed(data):
                self.replies.put_nowait(codec.decode(inner))

    def frame(self, msg_id: int, body: bytes = b"") -> bytes:
        self.serial = (self.serial + 1) & 0xFFFF
        return codec.encode(msg_id, self.phone, self.serial, body, self.version)

    async def send_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, msg_id: int, body: bytes = b"") -> int:
        await self.send_raw(self.frame(msg_id, body))
        return self.serial

    async def reply(self, timeout: float = 5.0) -> codec.Message:
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def request(self, msg_id: int, body: bytes = b"") -> codec.Message:
        await self.send(msg_id, body)
        return await self.reply()

    async def register(self, plate: str = "云C·12345") -> tuple[int, str]:
        body = struct.pack(">HH", 53, 602) + b"MAKER" + b"MODEL".ljust(20, b"\0") + b"T000001" + b"\x02" + plate.encode("gbk")
        if self.version is not None:
            body = struct.pack(">HH", 53, 602) + b"MAKER".ljust(11, b"\0") + b"MODEL".ljust(30, b"\0") + \
                b"T000001".ljust(30, b"\0") + b"\x02" + plate.encode("gbk")
        msg = await self.request(codec.T_REGISTER, body)
        assert msg.header.msg_id == codec.P_REGISTER_RESPONSE
        result = msg.body[2]
        return result, msg.body[3:].decode("ascii")

    async def auth(self, code: str) -> int:
        raw = code.encode("ascii")
        body = raw if self.version is None else bytes([len(raw)]) + raw + b"8" * 15 + b"1.0".ljust(20, b"\0")
        return general_result(await self.request(codec.T_AUTH, body))

    async def location(self, lat: float, lon: float, *, when: datetime | None = None, **kw: object) -> int:
        return general_result(await self.request(codec.T_LOCATION, codec.location_body(lat, lon, when=when, **kw)))  # type: ignore[arg-type]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._task is not None:
            self._task.cancel()


def general_result(msg: codec.Message) -> int:
    """The result byte of a 0x8001 reply (and a check that it is one)."""
    assert msg.header.msg_id == codec.P_GENERAL_RESPONSE, hex(msg.header.msg_id)
    return msg.body[4]


def batch_body(*bodies: bytes, kind: int = 0) -> bytes:
    out = struct.pack(">HB", len(bodies), kind)
    for b in bodies:
        out += struct.pack(">H", len(b)) + b
    return out
