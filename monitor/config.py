"""The config file (TOML, contract §7), validated once at start.

Every key has a default and a missing file means all defaults. Unknown keys and bad values are
errors that name the file, the key and the reason. `[[receivers]]` tables are parsed here, once,
into typed `alerts.routing.Receiver`s by the rules the alerting package owns.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerts.routing import Receiver, ReceiverConfigError, parse_receivers
from bridges.config import SECTIONS as _BRIDGE_SECTIONS
from bridges.config import BridgesConfig
from bridges.config import check as _check_bridges


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MqttConfig:
    url: str = "mqtt://127.0.0.1:1883"
    topic_root: str = "campus"
    client_id: str = "campus-monitor"
    protocol: str = "3.1.1"  # or "5"
    keepalive_s: int = 30
    ca_file: str = ""  # for mqtts://; the system's store when empty
    events_user: str = ""  # the events connection's user; empty: `<url user>-events`, else the URL's user
    insecure: bool = False  # mqtts:// without certificate checks (tests only)
    failover: tuple[str, ...] = ()  # other broker nodes, tried in turn when `url` is lost (contract §9)


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str = "sqlite:///campus.db"
    persist_every_s: float = 5.0


@dataclass(frozen=True, slots=True)
class HttpConfig:
    listen: str = "127.0.0.1:8080"
    metrics_public: bool = True
    trusted_proxies: str = ""  # comma-separated addresses/networks whose X-Forwarded-Proto/-For are believed
    map_tiles: str = ""  # base map tile URL with {z}/{x}/{y} (and optional {s}); empty: no base map, nothing fetched
    map_datum: str = "wgs84"  # the tiles' datum: "gcj02" for Chinese tile services (AutoNavi, Tencent)
    map_attribution: str = ""  # shown in the map's corner, as the tile service asks


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """/metrics: the exposition is built in slices on the loop and cached (monitor.services.metrics)."""

    max_age_s: float = 15.0  # a scrape may get a body up to this old (less when builds are cheap)
    per_device: bool = True  # false: aggregate series only, no per-device series (very large registries)


@dataclass(frozen=True, slots=True)
class TicketsConfig:
    open_after_s: float = 600
    verify_s: float = 300
    reopen_after_s: float = 1800


@dataclass(frozen=True, slots=True)
class BusesConfig:
    off_route_after_s: float = 60
    off_route_fixes: int = 3
    overspeed_after_s: float = 10
    overload_after_s: float = 30
    track_keep_s: float = 7 * 86400
    track_min_interval_s: float = 15
    track_min_distance_m: float = 50


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    group_window_s: float = 10
    language: str = "zh"
    cancel_within_s: float = 300
    remind_after_s: float = 600
    flap_count: int = 5
    flap_window_s: float = 600
    untested_alarm_days: float = 30
    dead_letter_after_s: float = 86400
    digest_at: str = "07:00"


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Several instances against one PostgreSQL (contract §9); `node` empty: this one owns every school."""

    node: str = ""
    partitions: int = 64
    lease_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Config:
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    tickets: TicketsConfig = field(default_factory=TicketsConfig)
    buses: BusesConfig = field(default_factory=BusesConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    receivers: tuple[Receiver, ...] = ()
    bridges: BridgesConfig = field(default_factory=BridgesConfig)  # [bridges.*]: bridges/config.py
    source: str = "<defaults>"


_SECTIONS = {
    "mqtt": MqttConfig,
    "database": DatabaseConfig,
    "http": HttpConfig,
    "metrics": MetricsConfig,
    "tickets": TicketsConfig,
    "buses": BusesConfig,
    "alerts": AlertsConfig,
    "cluster": ClusterConfig,
}


def _section(cls: type, table: Any, where: str, src: str, errors: list[str]) -> Any:
    """The section's dataclass; every unknown key and bad value is added to `errors` (None then)."""
    if not isinstance(table, dict):
        errors.append(f"{src}: [{where}]: must be a table")
        return None
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    before = len(errors)
    for key, value in table.items():
        f = known.get(key)
        if f is None:
            errors.append(f"{src}: {where}.{key}: unknown key (allowed: {', '.join(sorted(known))})")
            continue
        kind = str(f.type)  # the annotation's name: "bool", "int", "float" or "str"
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind.startswith("tuple"):  # a list of strings
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            value = tuple(value) if ok else value
        elif kind in ("int", "float"):
            number = isinstance(value, int) or (kind == "float" and isinstance(value, float))
            ok = number and not isinstance(value, bool) and value >= 0
        else:
            ok = isinstance(value, str)
        if not ok:
            errors.append(f"{src}: {where}.{key}: {value!r} must be {_kind(kind)}")
            continue
        values[key] = float(value) if kind == "float" else value
    return cls(**values) if len(errors) == before else None


def _kind(kind: str) -> str:
    if kind == "bool":
        return "true or false"
    if kind.startswith("tuple"):
        return "a list of strings"
    if kind == "int":
        return "a whole number >= 0"
    if kind == "float":
        return "a number >= 0"
    return "a string"


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: TOML: {exc}") from None
    parts: dict[str, Any] = {}
    errors: list[str] = []  # every problem at once, one line each
    for key, value in doc.items():
        if key == "receivers":
            if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                errors.append(f"{source}: receivers: must be an array of tables ([[receivers]])")
                continue
            try:
                parts["receivers"] = tuple(parse_receivers(value))
            except ReceiverConfigError as exc:
                errors.append(f"{source}: {exc}")
        elif key == "bridges":
            bridges = _bridges(value, source, errors)
            if bridges is not None:
                parts["bridges"] = bridges
        elif key in _SECTIONS:
            section = _section(_SECTIONS[key], value, key, source, errors)
            if section is not None:
                parts[key] = section
        else:
            errors.append(f"{source}: {key}: unknown section (allowed: {', '.join([*_SECTIONS, 'receivers', 'bridges'])})")
    if errors:
        raise ConfigError("\n".join(errors))
    cfg = Config(**parts, source=source)
    _cross_check(cfg)
    return cfg


def _bridges(table: Any, src: str, errors: list[str]) -> BridgesConfig | None:
    """`[bridges.jt808]`, `[bridges.gb28181]`, `[bridges.rtsp]`: the dataclasses live in bridges/config.py."""
    if not isinstance(table, dict):
        errors.append(f"{src}: [bridges]: must be a table")
        return None
    before = len(errors)
    parts: dict[str, Any] = {}
    for name, value in table.items():
        if name not in _BRIDGE_SECTIONS:
            errors.append(f"{src}: bridges.{name}: unknown section (allowed: {', '.join(_BRIDGE_SECTIONS)})")
            continue
        section = _section(_BRIDGE_SECTIONS[name], value, f"bridges.{name}", src, errors)
        if section is not None:
            parts[name] = section
    if len(errors) > before:
        return None
    cfg = BridgesConfig(**parts)
    errors.extend(f"{src}: {key}: {reason}" for key, reason in _check_bridges(cfg))
    return cfg


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    p = Path(path)
    if not p.exists():
        return Config(source=str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    return parse_config(text, str(p))


def _cross_check(cfg: Config) -> None:
    src = cfg.source
    broker = urlsplit(cfg.mqtt.url)
    if broker.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ConfigError(f"{src}: mqtt.url: scheme {broker.scheme!r} must be mqtt:// or mqtts://")
    try:
        broker.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ConfigError(f"{src}: mqtt.url: the port must be a number from 0 to 65535") from None
    for i, other in enumerate(cfg.mqtt.failover):
        parts = urlsplit(other)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ConfigError(f"{src}: mqtt.failover[{i}]: {mask_url(other)!r} must be an mqtt:// or mqtts:// URL")
    cluster = cfg.cluster
    if cluster.node:
        if cfg.database.url.startswith("sqlite:"):
            raise ConfigError(f"{src}: cluster.node: several instances need one PostgreSQL database "
                              "(database.url is SQLite); leave cluster.node empty for one instance")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", cluster.node):
            raise ConfigError(f"{src}: cluster.node: {cluster.node!r} must be 1-64 of A-Z a-z 0-9 _ . -")
    if not 1 <= cluster.partitions <= 4096:
        raise ConfigError(f"{src}: cluster.partitions: must be from 1 to 4096")
    if cluster.lease_s < 3:
        raise ConfigError(f"{src}: cluster.lease_s: must be at least 3 (leases are renewed every lease_s / 3)")
    if cfg.mqtt.protocol not in ("3.1.1", "5"):
        raise ConfigError(f"{src}: mqtt.protocol: must be \"3.1.1\" or \"5\"")
    if "/" in cfg.mqtt.topic_root.strip("/") or not cfg.mqtt.topic_root.strip("/"):
        raise ConfigError(f"{src}: mqtt.topic_root: must be one topic level such as \"campus\"")
    db = cfg.database.url
    if not (db.startswith("sqlite:") or db.startswith("postgresql")):
        raise ConfigError(f"{src}: database.url: must be sqlite:///FILE or postgresql+psycopg://...")
    if cfg.database.persist_every_s <= 0:
        raise ConfigError(f"{src}: database.persist_every_s: must be greater than 0")
    parse_listen(cfg.http.listen, f"{src}: http.listen")
    try:
        parse_networks(cfg.http.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"{src}: http.trusted_proxies: {exc}") from None
    if cfg.buses.off_route_fixes < 1:
        raise ConfigError(f"{src}: buses.off_route_fixes: must be at least 1")
    if cfg.alerts.language not in ("zh", "en"):
        raise ConfigError(f"{src}: alerts.language: must be \"zh\" or \"en\"")
    if cfg.http.map_datum not in ("wgs84", "gcj02"):
        raise ConfigError(f"{src}: http.map_datum: must be \"wgs84\" or \"gcj02\"")
    tiles = cfg.http.map_tiles
    if tiles and (urlsplit(tiles).scheme not in ("http", "https") or not all(k in tiles for k in ("{x}", "{y}", "{z}"))):
        raise ConfigError(f"{src}: http.map_tiles: must be an http(s) URL with {{z}}, {{x}} and {{y}}")


def parse_networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """`"127.0.0.1, 10.0.0.0/8"` as networks (an address is a network of one)."""
    return tuple(ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())


def parse_listen(value: str, where: str = "listen") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where}: {value!r} must be HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def broker_address(url: str) -> tuple[str, int]:
    """(host, port) of an `mqtt://` or `mqtts://` URL; 1883 or 8883 when it names no port."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (8883 if parts.scheme in ("mqtts", "ssl") else 1883)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
