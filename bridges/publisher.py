"""The bridges' MQTT side: a paho-mqtt 2 client driven from the asyncio loop, publishing §2 topics.

Every publish names a registry device by its topic prefix (`campus/{school}/{segment}/{id}`); any
other prefix is refused and counted, so a bridge can never speak for a device the registry does not
hold. While the broker is away messages wait in a bounded buffer (the oldest dropped and counted when
it is full) and leave in order once the link is back; the link is retried with backoff (1 s doubling
to 30 s), and bad credentials stop the retries. The paho socket is read and written from the loop
(add_reader/add_writer), so every callback runs on the loop thread and nothing here takes a lock; no
exception escapes a paho callback.

The one exception is paho's blocking `connect()` (name lookup, TCP, TLS), run in a worker thread so
it cannot stall the devices' side. While it runs the loop leaves the client alone (`_connecting`,
`LoopSocket.hold`): no reads, writes, keepalive checks or publishes. Before this, a reconnect under a
flood (the loop writing out paho's queue, or sending a PINGREQ, while `connect()` walked that queue
in the worker) died with "deque mutated during iteration" and the bridge never reconnected.

At most `_PAHO_QUEUE_MAX` packets wait inside paho, whose QoS 0 queue has no bound: under a flood
faster than the socket, a PINGREQ once waited behind it past the keepalive and the link was dropped.
The rest wait in order in the bounded buffer, as they do while the broker is away.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bridges.metrics import Stats
from monitor.config import MqttConfig, broker_address, mask_url
from monitor.mqtt.loop_socket import LoopSocket

log = logging.getLogger(__name__)

_REFUSED_AUTH = {4, 5, 134, 135}
_BACKOFF_MAX = 30.0
#: Packets paho may hold unwritten before publishes wait in our own (bounded, counted) buffer instead.
_PAHO_QUEUE_MAX = 1000


class Publisher:
    def __init__(self, cfg: MqttConfig, bridge: str, prefixes: Iterable[str], stats: Stats,
                 buffer: int = 10000) -> None:
        self.cfg = cfg
        self.bridge = bridge
        self.stats = stats
        self.root = cfg.topic_root.strip("/")
        self.prefixes = frozenset(prefixes)
        self.buffer: deque[tuple[str, bytes, int, bool]] = deque()
        self.buffer_max = buffer
        self.connected = False
        self.refused: str | None = None
        self.status_topic = f"{self.root}/_bridge/{bridge}/status"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._backoff = 1.0
        self._connecting = False  # paho's connect() is running in a worker thread: hands off the client
        self._tick_handle: asyncio.TimerHandle | None = None
        self._client = self._make_client()
        self._socket = LoopSocket(self._client, after_write=self._after_write)

    # ---- the API the bridges use -----------------------------------------------------------------

    def prefix(self, school: str, segment: str, device: str) -> str:
        return f"{self.root}/{school}/{segment}/{device}"

    def publish(self, prefix: str, leaf: str, payload: bytes, qos: int = 0, retain: bool = False) -> bool:
        """Publish `payload` on `prefix/leaf`; False when refused (not a registry device) or dropped."""
        if prefix not in self.prefixes:
            self.stats.failure("refused")
            log.warning("refused to publish for %s: not a device of the registry", prefix[:200])
            return False
        topic = f"{prefix}/{leaf}"
        if self.connected and not self.buffer and not self._connecting and self._paho_backlog() < _PAHO_QUEUE_MAX:
            if self._send(topic, payload, qos, retain):
                self.stats.published(leaf)
                return True
        return self._keep(topic, payload, qos, retain)

    def _send(self, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except (ValueError, RuntimeError) as exc:  # paho refuses e.g. a payload over its limits
            self.stats.failure("error")
            log.warning("cannot publish on %s: %s", topic[:200], exc)
            return True  # not worth keeping: it would fail again
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _keep(self, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        if len(self.buffer) >= self.buffer_max:
            self.buffer.popleft()
            self.stats.failure("dropped")
        self.buffer.append((topic, payload, qos, retain))
        return True

    def _paho_backlog(self) -> int:
        """Packets paho holds unwritten (its private queue; 0 if a paho release renames it)."""
        return len(getattr(self._client, "_out_packet", ()))

    def _flush(self) -> None:
        while self.buffer and self.connected and not self._connecting and self._paho_backlog() < _PAHO_QUEUE_MAX:
            topic, payload, qos, retain = self.buffer[0]
            if not self._send(topic, payload, qos, retain):
                return
            self.buffer.popleft()
            self.stats.published(topic.rpartition("/")[2])

    # ---- setup -----------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        url = urlsplit(self.cfg.url)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{self.cfg.client_id}-bridge-{self.bridge}",
            protocol=mqtt.MQTTv5 if self.cfg.protocol == "5" else mqtt.MQTTv311,
        )
        if url.username:
            client.username_pw_set(unquote(url.username), unquote(url.password) if url.password else None)
        if url.scheme in ("mqtts", "ssl"):
            ctx = ssl.create_default_context(cafile=self.cfg.ca_file or None)
            if self.cfg.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            client.tls_set_context(ctx)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(self.buffer_max)
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.suppress_exceptions = True
        return client

    @property
    def address(self) -> tuple[str, int]:
        return broker_address(self.cfg.url)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._socket.attach(self._loop)
        self._loop.create_task(self._connect_loop())
        self._tick_handle = self._loop.call_later(1.0, self._tick)

    async def stop(self) -> None:
        self._stopping = True
        if self._tick_handle:
            self._tick_handle.cancel()
        if self.connected:
            try:
                self._client.publish(self.status_topic, b"offline", qos=1, retain=True)
                for _ in range(50):  # drain what paho still holds, briefly
                    if self._client.want_write():
                        self._client.loop_write()
                    else:
                        break
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._client.disconnect()
        self._socket.drop(self._client.socket())

    async def _connect_loop(self) -> None:
        assert self._loop is not None
        host, port = self.address
        while not self._stopping and not self.connected and self.refused is None and not self._connecting:
            try:
                log.info("bridge %s connecting to MQTT broker %s", self.bridge, mask_url(self.cfg.url))
                self._connecting = True
                self._socket.hold()
                await self._loop.run_in_executor(None, self._client.connect, host, port, self.cfg.keepalive_s)
                return  # on_connect takes over; a refusal comes back through on_disconnect
            except (OSError, ssl.SSLError, mqtt.WebsocketConnectionError) as exc:
                log.warning("MQTT broker %s unreachable: %s; retrying in %.0f s", mask_url(self.cfg.url), exc, self._backoff)
            except Exception:  # noqa: BLE001 - the connect loop must not die: the bridge would never reconnect
                log.exception("connecting to MQTT broker %s failed; retrying in %.0f s", mask_url(self.cfg.url), self._backoff)
            finally:
                self._connecting = False
                self._socket.release()
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, _BACKOFF_MAX)

    def _tick(self) -> None:
        assert self._loop is not None
        try:
            if self._client.socket() is not None and not self._connecting:
                self._client.loop_misc()
            if self.connected and self.buffer:
                self._flush()
        except Exception:  # noqa: BLE001
            log.exception("MQTT housekeeping failed")
        if not self._stopping:
            self._tick_handle = self._loop.call_later(1.0, self._tick)

    def _after_write(self) -> None:
        if self.buffer and self.connected:  # paho had no room for these: it has some now
            self._flush()

    # ---- connection events -----------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            if reason.is_failure:
                if reason.value in _REFUSED_AUTH:
                    self.refused = str(reason)
                    log.error("MQTT broker refused bridge %s's credentials (%s); not retrying", self.bridge, reason)
                else:
                    log.warning("MQTT broker refused the connection: %s", reason)
                return
            self.connected = True
            self._backoff = 1.0
            client.publish(self.status_topic, b"online", qos=1, retain=True)
            log.info("bridge %s connected to MQTT broker %s; %d message(s) buffered", self.bridge,
                     mask_url(self.cfg.url), len(self.buffer))
            self._flush()
        except Exception:  # noqa: BLE001 - never out of a paho callback
            log.exception("error handling MQTT connect")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            was, self.connected = self.connected, False
            if was and not self._stopping:
                log.warning("bridge %s lost the MQTT broker (%s); buffering up to %d messages", self.bridge,
                            reason, self.buffer_max)
            if reason is not None and getattr(reason, "value", 0) in _REFUSED_AUTH:
                self.refused = str(reason)
                log.error("MQTT broker refused bridge %s's credentials (%s); not retrying", self.bridge, reason)
            if not self._stopping and self.refused is None and self._loop is not None:
                loop = self._loop
                loop.call_later(self._backoff, lambda: loop.create_task(self._connect_loop()))
                self._backoff = min(self._backoff * 2, _BACKOFF_MAX)
        except Exception:  # noqa: BLE001
            log.exception("error handling MQTT disconnect")
