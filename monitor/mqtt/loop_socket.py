"""A paho-mqtt client's socket driven from the asyncio loop.

paho reads, writes and keeps the connection alive when told to; here the loop tells it (add_reader,
add_writer), so every paho callback runs on the loop thread and needs no lock. Used by the monitor's
collector and by the bridges' publisher.

- The writer is watched only while paho has something to write. paho often writes a packet at once
  and unregisters before a deferred add_writer runs; a writer left on an idle socket is called on
  every turn of the loop (the monitor and the bridges at rest spun at half a core, ~150,000
  `loop_write` calls a second).
- `hold()` ... `release()`: while the owner runs paho's blocking `connect()` in a worker thread, the
  loop neither reads nor writes through the client, and the socket callbacks paho makes from that
  thread are handed to the loop; `release()` watches the new socket.
"""

from __future__ import annotations

import asyncio
import threading
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
        self.held = False
        self._loop_thread: int | None = None
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._wrote_all

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._loop_thread = threading.get_ident()

    def hold(self) -> None:
        """Leave the client alone (its `connect()` runs in a worker thread): stop watching its socket."""
        self.held = True
        self.drop(self.client.socket())

    def release(self) -> None:
        """Watch the client's (new) socket again, for writes too if paho has any."""
        self.held = False
        sock: Any = self.client.socket()
        if sock is not None and self.loop is not None:
            self.loop.add_reader(sock, self._readable)
            self._add_writer(sock)

    def _on_loop(self, fn: Callable[[Any], None], sock: Any) -> None:
        """Run `fn(sock)` now on the loop thread, or hand it to the loop from another thread."""
        if self.loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            fn(sock)
        else:
            self.loop.call_soon_threadsafe(fn, sock)

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
        self.loop.call_soon_threadsafe(self._add_reader, sock)

    def _add_reader(self, sock: Any) -> None:
        current: Any = self.client.socket()
        if self.loop is not None and not self.held and current is not None and current is sock:
            self.loop.add_reader(current, self._readable)

    def _closed(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self.drop, sock)

    def _want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._add_writer, sock)

    def _add_writer(self, sock: Any) -> None:
        current: Any = self.client.socket()
        if (self.loop is not None and not self.held and current is not None and current is sock
                and self.client.want_write()):
            self.loop.add_writer(current, self._writable)

    def _wrote_all(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._remove_writer, sock)

    def _remove_writer(self, sock: Any) -> None:
        if self.loop is None or sock is None:
            return
        try:
            self.loop.remove_writer(sock)
        except (ValueError, OSError):
            pass

    def _readable(self) -> None:
        if self.held:
            return
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
        if self.held:
            return
        self.client.loop_write()
        if self.after_write is not None:
            self.after_write()
        if not self.client.want_write():  # all written: no more calls for a writable socket
            self._remove_writer(self.client.socket())
