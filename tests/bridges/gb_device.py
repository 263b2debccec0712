"""A small GB/T 28181 device (a SIP UA over UDP or TCP, asyncio) for the tests and `bench/bridges.py`:
registers (answering a Digest challenge), sends Keepalives and Catalog responses, and answers the
platform's Catalog query with 200 (recording it)."""

from __future__ import annotations

import asyncio
import secrets

from bridges.gb28181 import sip

DOMAIN = "5306020000"
SERVER = "53060200002000000001"


class Device(asyncio.DatagramProtocol):
    def __init__(self, gb_id: str, password: str = "") -> None:
        self.gb_id = gb_id
        self.password = password
        self.cseq = 0
        self.responses: asyncio.Queue[sip.SipMessage] = asyncio.Queue()
        self.queries: asyncio.Queue[sip.SipMessage] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.tcp: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.local = ("127.0.0.1", 0)
        self._reader_task: asyncio.Task[None] | None = None

    async def open(self, host: str, port: int, tcp: bool = False) -> None:
        loop = asyncio.get_running_loop()
        if tcp:
            reader, writer = await asyncio.open_connection(host, port)
            self.tcp = (reader, writer)
            self.local = writer.get_extra_info("sockname")[:2]
            self._reader_task = asyncio.create_task(self._read_tcp(reader))
        else:
            await loop.create_datagram_endpoint(lambda: self, remote_addr=(host, port))
            assert self.transport is not None
            self.local = self.transport.get_extra_info("sockname")[:2]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._received(data)

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        splitter = sip.StreamSplitter()
        while data := await reader.read(65536):
            for m in splitter.feed(data):
                self._received(m)

    def _received(self, data: bytes) -> None:
        msg = sip.parse(data)
        if msg.method is None:
            self.responses.put_nowait(msg)
            return
        self.queries.put_nowait(msg)
        self._send(sip.response(msg, 200, "OK", to_tag="dev"))

    def _send(self, data: bytes) -> None:
        if self.tcp is not None:
            self.tcp[1].write(data)
        else:
            assert self.transport is not None
            self.transport.sendto(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.tcp is not None:
            self.tcp[1].close()
        if self._reader_task is not None:
            self._reader_task.cancel()

    @property
    def proto(self) -> str:
        return "TCP" if self.tcp is not None else "UDP"

    def _headers(self, method: str, to: str, extra: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:  # type: ignore[assignment]
        self.cseq += 1
        return [
            ("Via", f"SIP/2.0/{self.proto} {self.local[0]}:{self.local[1]};rport;branch=z9hG4bK{secrets.token_hex(6)}"),
            ("From", f"<sip:{self.gb_id}@{DOMAIN}>;tag={secrets.token_hex(4)}"),
            ("To", f"<sip:{to}@{DOMAIN}>"),
            ("Call-ID", f"{secrets.token_hex(8)}@{self.local[0]}"),
            ("CSeq", f"{self.cseq} {method}"),
            ("Max-Forwards", "70"),
            *extra,
        ]

    async def request(self, method: str, to: str, extra: list[tuple[str, str]] = (), body: bytes = b"",  # type: ignore[assignment]
                      timeout: float = 5.0) -> sip.SipMessage:
        self._send(sip.request(method, f"sip:{SERVER}@{DOMAIN}", self._headers(method, to, extra), body))
        return await asyncio.wait_for(self.responses.get(), timeout)

    async def register(self, expires: int = 3600) -> int:
        uri = f"sip:{SERVER}@{DOMAIN}"
        extra = [("Contact", f"<sip:{self.gb_id}@{self.local[0]}:{self.local[1]}>"), ("Expires", str(expires))]
        r = await self.request("REGISTER", self.gb_id, extra)
        if r.status == 401:
            p = sip.params(r.get("www-authenticate") or "")
            answer = sip.digest(self.gb_id, p["realm"], self.password, "REGISTER", uri, p["nonce"])
            auth = f'Digest username="{self.gb_id}", realm="{p["realm"]}", nonce="{p["nonce"]}", uri="{uri}", response="{answer}", algorithm=MD5'
            r = await self.request("REGISTER", self.gb_id, [*extra, ("Authorization", auth)])
        return r.status

    async def message(self, body: bytes) -> int:
        r = await self.request("MESSAGE", SERVER, [("Content-Type", "Application/MANSCDP+xml")], body)
        return r.status


def keepalive(device_id: str, sn: int = 1, encoding: str = "GB2312") -> bytes:
    return (f'<?xml version="1.0" encoding="{encoding}"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>{sn}</SN>\r\n'
            f"<DeviceID>{device_id}</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n").encode("gb18030" if encoding == "GB2312" else encoding)


def catalog_response(device_id: str, items: list[tuple[str, str, str]], sn: int = 1, root: str = "Response") -> bytes:
    """`items`: (DeviceID, Name, Status); the body in GB2312, as most NVRs send it."""
    xml_items = "".join(f"<Item>\r\n<DeviceID>{i}</DeviceID>\r\n<Name>{n}</Name>\r\n<Status>{s}</Status>\r\n</Item>\r\n"
                        for i, n, s in items)
    return (f'<?xml version="1.0" encoding="GB2312"?>\r\n<{root}>\r\n<CmdType>Catalog</CmdType>\r\n<SN>{sn}</SN>\r\n'
            f"<DeviceID>{device_id}</DeviceID>\r\n<SumNum>{len(items)}</SumNum>\r\n<DeviceList Num=\"{len(items)}\">\r\n"
            f"{xml_items}</DeviceList>\r\n</{root}>\r\n").encode("gb2312")
