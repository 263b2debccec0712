"""The RTSP probe against an asyncio RTSP responder: any status line is a heartbeat, silence is nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from bridges.config import RtspConfig
from bridges.metrics import Stats
from bridges.rtsp import RtspProber, probe, public_url
from bridges.targets import index
from tests.bridges.conftest import REGISTRY, FakePublisher, registry


class Responder:
    """Answers OPTIONS with `status`, or stays silent when `status` is None; records request lines."""

    def __init__(self, status: int | None) -> None:
        self.status = status
        self.lines: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Responder:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.lines.append(await reader.readuntil(b"\r\n\r\n"))
            if self.status is not None:
                writer.write(f"RTSP/1.0 {self.status} X\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n".encode())
                await writer.drain()
            else:
                await asyncio.sleep(10)
        finally:
            writer.close()


@pytest.fixture
async def responders() -> AsyncIterator[tuple[Responder, Responder, Responder]]:
    async with Responder(200) as ok, Responder(401) as auth, Responder(None) as silent:
        yield ok, auth, silent


def test_public_url_drops_credentials() -> None:
    assert public_url("rtsp://admin:p%40ss@10.20.1.31:554/Streaming/Channels/101") == "rtsp://10.20.1.31:554/Streaming/Channels/101"
    assert public_url("rtsp://10.20.1.31/x") == "rtsp://10.20.1.31/x"


async def test_probe_status_lines(responders: tuple[Responder, Responder, Responder]) -> None:
    ok, auth, silent = responders
    assert await probe(f"rtsp://127.0.0.1:{ok.port}/a", 2) == 200
    assert await probe(f"rtsp://u:secret@127.0.0.1:{auth.port}/a", 2) == 401
    assert await probe(f"rtsp://127.0.0.1:{silent.port}/a", 0.2) is None
    assert b"secret" not in auth.lines[0] and auth.lines[0].startswith(b"OPTIONS rtsp://127.0.0.1:")


async def test_round_publishes_heartbeats_for_answering_cameras(
        responders: tuple[Responder, Responder, Responder], caplog: pytest.LogCaptureFixture) -> None:
    ok, auth, silent = responders
    text = REGISTRY.replace(
        '      - {id: cam-gate-01, zone: gate, rtsp: "rtsp://127.0.0.1:1/Streaming/Channels/101"}\n',
        f'      - {{id: cam-a, zone: gate, rtsp: "rtsp://127.0.0.1:{ok.port}/1"}}\n'
        f'      - {{id: cam-b, zone: gate, rtsp: "rtsp://admin:hunter2@127.0.0.1:{auth.port}/1"}}\n'
        f'      - {{id: cam-c, zone: gate, rtsp: "rtsp://127.0.0.1:{silent.port}/1"}}\n')
    targets = index(registry(text))
    pub = FakePublisher(targets.prefixes("campus"))
    stats = Stats("rtsp", "probes")
    prober = RtspProber(RtspConfig(timeout_s=0.3, concurrency=2), targets, pub, stats, clock=lambda: 1795564800.0)  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    assert await prober.round() == 2
    assert sorted(t for t, _, _ in pub.sent) == ["campus/panhe-ms/camera/cam-a/heartbeat", "campus/panhe-ms/camera/cam-b/heartbeat"]
    assert pub.sent[0][1] == b'{"ts":1795564800.0,"status":"ok"}'
    assert stats.frames == {"answered": 2, "no_answer": 1}
    assert "hunter2" not in caplog.text
