"""Routing: receivers from the config file, which of them hear of which alert change, and messages.

A receiver (contract §7 `[[receivers]]`) may name `schools`, `rules` and `severities`; a receiver with
no filter gets every alert. `escalation` (default 0) is its place in the escalation order: it hears of
an alert once the alert's escalation (raised by each unanswered reminder) reaches that level, and
then of every later change of it. `language` (`zh` default, or `en`) picks the summary.

`Router.route(changes)` turns alert changes into `Notice`s (one per change and receiver, the outbox
rows); `compose(...)` turns the notices that leave together into the `Message` a receiver renders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.model import AlertChange, ChangeKind, iso

KINDS = ("webhook", "wecom", "dingtalk", "email", "alertmanager")
LANGUAGES = ("zh", "en")
_COMMON_KEYS = {"kind", "name", "url", "schools", "rules", "severities", "escalation", "language", "timeout_s"}
_KIND_KEYS: dict[str, set[str]] = {
    "webhook": {"headers"},
    "wecom": set(),
    "dingtalk": {"secret"},
    "email": {"host", "port", "starttls", "ssl", "cafile", "username", "password", "from", "to"},
    "alertmanager": set(),
}


class ReceiverConfigError(ValueError):
    def __init__(self, index: int, key: str, reason: str) -> None:
        super().__init__(f"[[receivers]] #{index + 1}: {key}: {reason}")
        self.index, self.key, self.reason = index, key, reason


@dataclass(frozen=True, slots=True)
class Receiver:
    name: str
    kind: str
    url: str = ""
    schools: frozenset[str] | None = None
    rules: frozenset[str] | None = None
    severities: frozenset[str] | None = None
    escalation: int = 0
    language: str = "zh"
    timeout_s: float = 10.0
    options: Mapping[str, Any] = field(default_factory=dict)  # per kind: secret, host, port, to, ...

    def wants(self, change: AlertChange) -> bool:
        alert = change.alert
        return (
            (self.schools is None or alert.school in self.schools)
            and (self.rules is None or alert.rule in self.rules)
            and (self.severities is None or alert.severity in self.severities)
            and alert.escalation >= self.escalation
        )


def _names(index: int, key: str, value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReceiverConfigError(index, key, "must be a list of strings")
    return frozenset(value)


def parse_receivers(items: Sequence[Mapping[str, Any]]) -> list[Receiver]:
    """Receivers from the config's `[[receivers]]` tables; unknown keys and bad values are errors."""
    receivers: list[Receiver] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        kind = item.get("kind")
        if kind not in KINDS:
            raise ReceiverConfigError(i, "kind", f"must be one of {', '.join(KINDS)}")
        unknown = set(item) - _COMMON_KEYS - _KIND_KEYS[kind]
        if unknown:
            raise ReceiverConfigError(i, sorted(unknown)[0], f"unknown key for a {kind} receiver")
        url = item.get("url", "")
        if kind != "email" and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise ReceiverConfigError(i, "url", "must be an http:// or https:// URL")
        if kind == "email":
            for key in ("host", "from", "to"):
                if not item.get(key):
                    raise ReceiverConfigError(i, key, "is required for an email receiver")
        name = item.get("name") or (kind if kind not in seen else f"{kind}-{i + 1}")
        if name in seen:
            raise ReceiverConfigError(i, "name", f"{name!r} is used twice")
        seen.add(name)
        escalation = item.get("escalation", 0)
        if not isinstance(escalation, int) or escalation < 0:
            raise ReceiverConfigError(i, "escalation", "must be a whole number, 0 or more")
        language = item.get("language", "zh")
        if language not in LANGUAGES:
            raise ReceiverConfigError(i, "language", "must be zh or en")
        options = {k: v for k, v in item.items() if k in _KIND_KEYS[kind]}
        if kind == "email" and isinstance(options.get("to"), str):
            options["to"] = [options["to"]]
        receivers.append(
            Receiver(
                name=name,
                kind=kind,
                url=url,
                schools=_names(i, "schools", item.get("schools")),
                rules=_names(i, "rules", item.get("rules")),
                severities=_names(i, "severities", item.get("severities")),
                escalation=escalation,
                language=language,
                timeout_s=float(item.get("timeout_s", 10.0)),
                options=options,
            )
        )
    return receivers


@dataclass(frozen=True, slots=True)
class Notice:
    """One change for one receiver: an outbox row."""

    receiver: str
    alert_id: str
    school: str
    key: str  # Idempotency-Key when it leaves alone; a group takes its first notice's key
    created: float
    hold_until: float
    urgent: bool
    body: dict[str, Any]  # the alert as the message carries it (see `alert_body`)


def alert_body(change: AlertChange, language: str) -> dict[str, Any]:
    """The alert as contract §4 shows it, plus what it was (`change`) and who acknowledged it."""
    a = change.alert
    body: dict[str, Any] = {
        "id": a.id,
        "rule": a.rule,
        "severity": a.severity,
        "state": str(a.state),
        "school": a.school,
        "subject": a.subject,
        "zone": a.zone,
        "summary": a.summary_in(language),
        "started_at": iso(a.started_at),
        "updated_at": iso(a.updated_at),
        "change": str(change.kind),
        "escalation": a.escalation,
    }
    if a.acked_by is not None:
        body["acked_by"] = a.acked_by
        body["acked_at"] = iso(a.acked_at) if a.acked_at is not None else None
    if a.note:
        body["note"] = a.note
    return body


def notice_key(receiver: str, alert_id: str, version: int) -> str:
    return hashlib.sha256(f"{receiver}|{alert_id}|{version}".encode()).hexdigest()[:32]


class Router:
    def __init__(self, receivers: Iterable[Receiver], group_window_s: float) -> None:
        self.receivers = tuple(receivers)
        self.group_window_s = max(0.0, group_window_s)

    def route(self, changes: Iterable[AlertChange]) -> list[Notice]:
        notices = []
        for change in changes:
            if not change.notify or change.kind in (ChangeKind.HELD, ChangeKind.WITHHELD, ChangeKind.RECORDED):
                continue
            hold = 0.0 if change.urgent else self.group_window_s
            for receiver in self.receivers:
                if receiver.wants(change):
                    notices.append(
                        Notice(
                            receiver=receiver.name,
                            alert_id=change.alert.id,
                            school=change.alert.school,
                            key=notice_key(receiver.name, change.alert.id, change.alert.version),
                            created=change.at,
                            hold_until=change.at + hold,
                            urgent=change.urgent,
                            body=alert_body(change, receiver.language),
                        )
                    )
        return notices


@dataclass(frozen=True, slots=True)
class Message:
    """What one receiver gets at once: one or more alerts of one school."""

    receiver: str
    key: str
    alerts: tuple[dict[str, Any], ...]
    urgent: bool = False

    @property
    def school(self) -> str:
        return str(self.alerts[0]["school"]) if self.alerts else ""


def compose(receiver: str, key: str, bodies: Iterable[Mapping[str, Any]], urgent: bool = False) -> Message:
    """The alerts of notices leaving together; an alert changed twice shows its latest change."""
    latest: dict[str, dict[str, Any]] = {}
    for body in bodies:
        latest.pop(str(body["id"]), None)
        latest[str(body["id"])] = dict(body)
    return Message(receiver, key, tuple(latest.values()), urgent)
