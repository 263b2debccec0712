"""A small, strict SIP (RFC 3261) message codec: what the GB/T 28181 platform side needs, no more.

`parse` takes one whole message (a UDP datagram, or one cut from a TCP stream by `StreamSplitter`)
and raises `SipError(reason)` for anything malformed: a bad start line, a header line without a
colon, a missing Via/From/To/Call-ID/CSeq, a CSeq whose method differs from the request's, a
Content-Length that is not a number or exceeds the body, more than `MAX_HEADERS` headers or more than
`MAX_MESSAGE` bytes. Compact header names (`v`, `f`, `t`, `i`, `m`, `l`, `c`) are expanded. Digest
(RFC 2617, MD5) is computed here too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_MESSAGE = 65535
MAX_HEAD = 8192
MAX_HEADERS = 64

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
            "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding"}
_REQUIRED = ("via", "from", "to", "call-id", "cseq")
_METHOD = re.compile(r"[A-Z]{2,16}")
_REQUEST_LINE = re.compile(r"([A-Z]{2,16}) (\S{1,512}) SIP/2\.0")
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6]\d\d) ([^\r\n]{0,128})")
_TOKEN = re.compile(r"[A-Za-z0-9!%*_+`'~.-]{1,64}")
_USER = re.compile(r"<?\s*sips?:([^@;>\s]{1,64})@")
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)\s*(?:,|$)')


class SipError(ValueError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(slots=True)
class SipMessage:
    method: str | None = None  # None for a response
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)  # (lower-case name, value), in order
    body: bytes = b""

    def get(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    @property
    def cseq(self) -> tuple[int, str]:
        num, _, method = (self.get("cseq") or "").partition(" ")
        return int(num), method.strip()


def parse(data: bytes) -> SipMessage:
    if len(data) > MAX_MESSAGE:
        raise SipError("oversize", f"{len(data)} bytes")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipError("malformed", "no blank line after the headers")
    if len(head) > MAX_HEAD:
        raise SipError("oversize", "headers longer than 8 KiB")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipError("malformed", "headers are not UTF-8") from None
    lines = text.split("\r\n")
    msg = SipMessage()
    start = lines[0]
    if m := _REQUEST_LINE.fullmatch(start):
        msg.method, msg.uri = m.group(1), m.group(2)
    elif m := _STATUS_LINE.fullmatch(start):
        msg.status, msg.reason = int(m.group(1)), m.group(2)
    else:
        raise SipError("malformed", f"start line {start[:80]!r}")
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):  # folded continuation
            if not msg.headers:
                raise SipError("malformed", "continuation before any header")
            k, v = msg.headers[-1]
            msg.headers[-1] = (k, f"{v} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.fullmatch(name):
            raise SipError("malformed", f"header line {line[:80]!r}")
        name = name.lower()
        msg.headers.append((_COMPACT.get(name, name), value.strip()))
        if len(msg.headers) > MAX_HEADERS:
            raise SipError("oversize", "too many headers")
    for name in _REQUIRED:
        if msg.get(name) is None:
            raise SipError("malformed", f"no {name} header")
    num, _, method = (msg.get("cseq") or "").partition(" ")
    if not num.isdigit() or len(num) > 10 or not _METHOD.fullmatch(method.strip()):
        raise SipError("malformed", f"CSeq {msg.get('cseq')!r}")
    if msg.method is not None and method.strip() != msg.method:
        raise SipError("malformed", "CSeq method differs from the request's")
    length = msg.get("content-length")
    if length is not None:
        if not length.isdigit() or len(length) > 6:
            raise SipError("malformed", f"Content-Length {length!r}")
        if int(length) > len(body):
            raise SipError("length", f"Content-Length {length} but {len(body)} bytes")
        body = body[: int(length)]
    msg.body = body
    return msg


class StreamSplitter:
    """Cuts SIP messages out of a TCP stream (each must carry Content-Length), with bounded buffering."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes]:
        buf = self.buf
        buf += data
        while True:
            while buf[:2] == b"\r\n":  # keep-alive CRLFs between messages (RFC 5626)
                del buf[:2]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    buf.clear()
                    raise SipError("oversize", "headers longer than 8 KiB")
                return
            m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d{1,6})[ \t]*$", bytes(buf[:end]))
            if m is None:
                buf.clear()
                raise SipError("malformed", "a SIP message over TCP without Content-Length")
            total = end + 4 + int(m.group(1))
            if total > MAX_MESSAGE:
                buf.clear()
                raise SipError("oversize", f"{total} bytes")
            if len(buf) < total:
                return
            out = bytes(buf[:total])
            del buf[:total]
            yield out


def user_of(value: str | None) -> str | None:
    """The user part of a From/To/Contact value: `<sip:34020000001320000001@3402000000>;tag=1` -> the id."""
    if not value:
        return None
    m = _USER.search(value)
    return m.group(1) if m else None


def params(value: str) -> dict[str, str]:
    """The parameters of a `Digest k=v, k="v"` header, unquoted (keys lower-case)."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipError("auth", f"scheme {scheme!r}")
    out: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None or m.end() == pos:
            raise SipError("auth", "malformed Authorization")
        v = m.group(2)
        out[m.group(1).lower()] = v[1:-1].replace('\\"', '"') if v.startswith('"') else v
        pos = m.end()
    return out


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - the protocol's own choice


def digest(username: str, realm: str, password: str, method: str, uri: str, nonce: str,
           qop: str | None = None, nc: str | None = None, cnonce: str | None = None) -> str:
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def response(req: SipMessage, status: int, reason: str, extra: list[tuple[str, str]] | None = None,
             to_tag: str = "") -> bytes:
    """A response to `req`: its Via(s), From, To (with our tag), Call-ID and CSeq, then `extra`."""
    lines = [f"SIP/2.0 {status} {reason}"]
    for via in req.all("via"):
        lines.append(f"Via: {via}")
    lines.append(f"From: {req.get('from')}")
    to = req.get("to") or ""
    if to_tag and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {req.get('call-id')}")
    lines.append(f"CSeq: {req.get('cseq')}")
    for k, v in extra or ():
        lines.append(f"{k}: {v}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def request(method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"{method} {uri} SIP/2.0", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
