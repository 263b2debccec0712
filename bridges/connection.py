"""What every bridge's TCP connection does alike: a bounded write buffer, and a peer that does not read
its replies stops being read from (back-pressure) instead of growing the buffer."""

from __future__ import annotations

import asyncio


class TcpConnection(asyncio.Protocol):
    transport: asyncio.Transport | None = None

    def attach(self, transport: asyncio.BaseTransport, write_high: int) -> asyncio.Transport:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=write_high)
        return transport

    def pause_writing(self) -> None:  # the peer does not read its replies: stop reading from it
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
