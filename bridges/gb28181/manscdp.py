"""MANSCDP (GB/T 28181 §A) XML bodies: Keepalive, Catalog responses and notifications, the Catalog query.

Devices declare `GB2312` or `UTF-8` in the XML declaration (and some send the other one): the body is
decoded with the declared codec (GB2312 read as its superset GB18030), falling back to UTF-8 and then
GB18030, and parsed as text. A DOCTYPE or entity declaration is refused outright (no entity tricks).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

MAX_BODY = 65535
_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.-]{1,32})[\"'][^>]*\?>")
_ANY_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


class XmlError(ValueError):
    reason = "xml"


@dataclass(frozen=True, slots=True)
class Item:
    device_id: str
    status: str | None  # "on", "off" or None when the item says neither


@dataclass(frozen=True, slots=True)
class Body:
    root: str  # Notify, Response, Query, Control
    cmd_type: str
    sn: str
    device_id: str
    status: str  # the Keepalive's <Status> (OK, ERROR), "" when absent
    items: tuple[Item, ...] = field(default_factory=tuple)
    sum_num: int | None = None


def text_of(body: bytes) -> str:
    if len(body) > MAX_BODY:
        raise XmlError("body longer than 64 KiB")
    m = _DECL.match(body)
    declared = m.group(1).decode("ascii").lower() if m else "utf-8"
    codecs = ["gb18030" if declared in ("gb2312", "gbk", "gb18030") else declared, "utf-8", "gb18030"]
    for codec in codecs:
        try:
            return body.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    raise XmlError("undecodable body")


def decode(body: bytes) -> Body:
    text = _ANY_DECL.sub("", text_of(body), count=1).strip()
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise XmlError("DOCTYPE or ENTITY in a MANSCDP body")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise XmlError(f"not XML: {exc}") from None
    items = []
    for item in root.iter("Item"):
        did = (item.findtext("DeviceID") or "").strip()
        raw = (item.findtext("Status") or item.findtext("Event") or "").strip().upper()
        status = "on" if raw in ("ON", "ONLINE", "OK") else "off" if raw in ("OFF", "OFFLINE") else None
        if did:
            items.append(Item(did, status))
    sum_num = (root.findtext("SumNum") or "").strip()
    return Body(
        root=root.tag,
        cmd_type=(root.findtext("CmdType") or "").strip(),
        sn=(root.findtext("SN") or "").strip(),
        device_id=(root.findtext("DeviceID") or "").strip(),
        status=(root.findtext("Status") or "").strip().upper(),
        items=tuple(items),
        sum_num=int(sum_num) if sum_num.isdigit() else None,
    )


def catalog_query(sn: int, device_id: str) -> bytes:
    return (f'<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>Catalog</CmdType>\r\n'
            f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n</Query>\r\n").encode("gb2312")
