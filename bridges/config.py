"""The `[bridges.*]` config sections (contract §8), parsed strictly by `monitor.config`.

Plain dataclasses and one cross-check; the generic key/type checking (unknown keys are errors naming
the file and the key) is the config loader's. This module imports nothing from `monitor`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_GB_ID = re.compile(r"\d{20}")
_DOMAIN = re.compile(r"\d{10}")


@dataclass(frozen=True, slots=True)
class Jt808Config:
    listen: str = "0.0.0.0:7611"          # TCP; JT/T 808-2013 and 808-2019 frames
    metrics_listen: str = "127.0.0.1:9611"  # this bridge's /metrics and /healthz; "" = none
    idle_timeout_s: float = 600.0           # a connection silent this long is closed
    max_connections: int = 20000          # more are refused at accept
    buffer: int = 10000                   # messages kept while the broker is away (oldest dropped)


@dataclass(frozen=True, slots=True)
class Gb28181Config:
    listen: str = "0.0.0.0:5060"          # SIP over UDP and TCP
    server_id: str = "53060200002000000001"
    domain: str = "5306020000"
    password: str = ""                    # Digest password of REGISTER; empty: no challenge
    catalog_every_s: float = 300.0          # Catalog query to each registered NVR
    metrics_listen: str = "127.0.0.1:9612"
    idle_timeout_s: float = 600.0           # a SIP/TCP connection silent this long is closed
    buffer: int = 10000


@dataclass(frozen=True, slots=True)
class RtspConfig:
    every_s: float = 30.0                   # OPTIONS to every camera with an `rtsp:` URL
    timeout_s: float = 5.0
    concurrency: int = 200                # probes in flight at once
    metrics_listen: str = "127.0.0.1:9613"
    buffer: int = 10000


@dataclass(frozen=True, slots=True)
class BridgesConfig:
    jt808: Jt808Config = field(default_factory=Jt808Config)
    gb28181: Gb28181Config = field(default_factory=Gb28181Config)
    rtsp: RtspConfig = field(default_factory=RtspConfig)


#: `[bridges.NAME]` -> its dataclass, for the config loader.
SECTIONS: dict[str, type] = {"jt808": Jt808Config, "gb28181": Gb28181Config, "rtsp": RtspConfig}


def check(cfg: BridgesConfig) -> list[tuple[str, str]]:
    """Problems the per-key checks cannot see, as (key, reason)."""
    out: list[tuple[str, str]] = []
    for name in ("jt808", "gb28181"):
        if not _listen_ok(getattr(cfg, name).listen, allow_empty=False):
            out.append((f"bridges.{name}.listen", "must be HOST:PORT"))
    for name in SECTIONS:
        if not _listen_ok(getattr(cfg, name).metrics_listen, allow_empty=True):
            out.append((f"bridges.{name}.metrics_listen", "must be HOST:PORT or empty"))
        if getattr(cfg, name).buffer < 1:
            out.append((f"bridges.{name}.buffer", "must be at least 1"))
    gb = cfg.gb28181
    if not _GB_ID.fullmatch(gb.server_id):
        out.append(("bridges.gb28181.server_id", "must be 20 digits"))
    if not _DOMAIN.fullmatch(gb.domain):
        out.append(("bridges.gb28181.domain", "must be 10 digits"))
    if gb.catalog_every_s <= 0:
        out.append(("bridges.gb28181.catalog_every_s", "must be greater than 0"))
    if cfg.rtsp.every_s <= 0 or cfg.rtsp.timeout_s <= 0:
        out.append(("bridges.rtsp", "every_s and timeout_s must be greater than 0"))
    if cfg.rtsp.concurrency < 1 or cfg.jt808.max_connections < 1:
        out.append(("bridges", "rtsp.concurrency and jt808.max_connections must be at least 1"))
    return out


def split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def _listen_ok(value: str, allow_empty: bool) -> bool:
    if not value:
        return allow_empty
    host, sep, port = value.rpartition(":")
    return bool(sep) and port.isdigit() and 0 <= int(port) <= 65535
