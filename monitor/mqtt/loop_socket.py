"""A paho-mqtt client's socket driven from the asyncio loop.

paho reads, writes and keeps the connection alive when told to; here the loop tells it (add_reader,
add_writer), so every paho callback runs on the loop thread and needs no lock. Used by the monitor's
collector and by the bridges' publisher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

MAX_BATCH = 512  # packets read in one wake-up of the loop at most


class LoopSocket:
    def __init__(self, client: mqtt.Client, *, progress: Callable[[], int] | None = None,
                 after_write: Callable[[], None] | None = None) -> None:
        """`progress()` counts packets handled: reading goes on while it grows (one wake-up absorbs a
        burst); without it, while the socket holds pending bytes (TLS). `after_write` runs after each
        write, when paho has room again."""
        self.client = client
        self.progress = progress
        self.after_write = after_write
        self.loop: asyncio.AbstractEventLoop | None = None
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._wrote_all

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def drop(self, sock: Any) -> None:
        """Stop watching `sock` (closed, or the client is stopping)."""
        if sock is None or self.loop is None:
            return
        try:
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
        except (ValueError, OSError):
            pass

    def _opened(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.loop.add_reader, sock, self._readable)

    def _closed(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.drop(sock)

    def _want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.loop.add_writer, sock, self._writable)

    def _wrote_all(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self.loop is None:
            return
        try:
            self.loop.remove_writer(sock)
        except (ValueError, OSError):
            pass

    def _readable(self) -> None:
        client = self.client
        for _ in range(MAX_BATCH):
            before = self.progress() if self.progress is not None else 0
            if client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                break
            if self.progress is not None:
                if self.progress() == before:
                    break
            else:
                sock = client.socket()
                if sock is None or not getattr(sock, "pending", lambda: 0)():
                    break

    def _writable(self) -> None:
        self.client.loop_write()
        if self.after_write is not None:
            self.after_write()
