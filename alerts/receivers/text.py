"""Human wording of a message, shared by the chat robots and e-mail: titles, markdown, text, HTML."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.model import parse_iso
from alerts.routing import Message
from alerts.wording import REMINDER_WORD, severity_word, state_word

LOCAL = ZoneInfo("Asia/Shanghai")
_LABELS = {
    "zh": {"school": "学校", "rule": "规则", "severity": "级别", "state": "状态", "since": "开始",
           "acked": "确认人", "note": "备注", "count": "条告警", "id": "编号"},
    "en": {"school": "school", "rule": "rule", "severity": "severity", "state": "state", "since": "since",
           "acked": "acknowledged by", "note": "note", "count": "alerts", "id": "id"},
}


def local_time(text: str) -> str:
    return datetime.fromtimestamp(parse_iso(text), LOCAL).strftime("%Y-%m-%d %H:%M:%S")


def _status(alert: dict[str, Any], lang: str) -> str:
    if alert.get("change") == "reminder":
        return REMINDER_WORD.get(lang, REMINDER_WORD["en"])
    return state_word(str(alert["state"]), lang)


def title(message: Message, lang: str) -> str:
    """"【紧急·告警】盘河中学 女生宿舍 摄像头 cam-dg-01 离线", or "3 条告警" for a group."""
    first = message.alerts[0]
    head = f"{severity_word(str(first['severity']), lang)}·{_status(first, lang)}" if lang == "zh" else (
        f"{severity_word(str(first['severity']), lang)} {_status(first, lang)}")
    if len(message.alerts) == 1:
        return f"【{head}】{first['summary']}" if lang == "zh" else f"[{head}] {first['summary']}"
    words = _LABELS.get(lang, _LABELS["en"])
    school = message.school
    return f"【{school}】{len(message.alerts)} {words['count']}" if lang == "zh" else (
        f"[{school}] {len(message.alerts)} {words['count']}")


def alert_lines(alert: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    words = _LABELS.get(lang, _LABELS["en"])
    lines = [
        (words["state"], _status(alert, lang)),
        (words["severity"], severity_word(str(alert["severity"]), lang)),
        (words["rule"], str(alert["rule"])),
        (words["since"], local_time(str(alert["started_at"]))),
        (words["id"], str(alert["id"])),
    ]
    if alert.get("acked_by"):
        lines.append((words["acked"], str(alert["acked_by"])))
    if alert.get("note"):
        lines.append((words["note"], str(alert["note"])))
    return lines


def markdown(message: Message, lang: str) -> str:
    sep = "：" if lang == "zh" else ": "
    parts = [f"### {title(message, lang)}"]
    for alert in message.alerts:
        parts.append(f"**{alert['summary']}**")
        parts.extend(f"> {k}{sep}{v}" for k, v in alert_lines(alert, lang))
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def plain(message: Message, lang: str) -> str:
    sep = "：" if lang == "zh" else ": "
    parts = [title(message, lang), ""]
    for alert in message.alerts:
        parts.append(str(alert["summary"]))
        parts.extend(f"  {k}{sep}{v}" for k, v in alert_lines(alert, lang))
        parts.append("")
    return "\n".join(parts)


def as_html(message: Message, lang: str) -> str:
    sep = "：" if lang == "zh" else ": "
    rows = []
    for alert in message.alerts:
        items = "".join(f"<li>{html.escape(k)}{sep}{html.escape(v)}</li>" for k, v in alert_lines(alert, lang))
        rows.append(f"<h3>{html.escape(str(alert['summary']))}</h3><ul>{items}</ul>")
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"></head><body>'
        f"<h2>{html.escape(title(message, lang))}</h2>{''.join(rows)}</body></html>"
    )
