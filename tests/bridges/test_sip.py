"""The SIP and MANSCDP codecs: strict parsing, Digest (RFC 2617's worked example), GB2312 bodies."""

from __future__ import annotations

import pytest

from bridges.gb28181 import manscdp, sip
from bridges.gb28181.sip import SipError
from tests.bridges.gb_device import catalog_response, keepalive

REGISTER = (
    b"REGISTER sip:53060200002000000001@5306020000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK1\r\n"
    b"f: <sip:53060200001180000001@5306020000>;tag=a\r\n"
    b"t: <sip:53060200001180000001@5306020000>\r\n"
    b"i: 1@10.0.0.5\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Expires: 3600\r\n"
    b"l: 0\r\n\r\n"
)


def test_parse_register_with_compact_headers() -> None:
    msg = sip.parse(REGISTER)
    assert msg.method == "REGISTER" and msg.cseq == (1, "REGISTER")
    assert sip.user_of(msg.get("from")) == "53060200001180000001"
    assert msg.get("call-id") == "1@10.0.0.5"
    out = sip.parse(sip.response(msg, 200, "OK", [("Expires", "3600")], to_tag="x"))
    assert out.status == 200 and out.get("to", ).endswith(";tag=x") and out.get("via") == msg.get("via")


@pytest.mark.parametrize("broken, reason", [
    (REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: 1 MESSAGE"), "malformed"),
    (REGISTER.replace(b"i: 1@10.0.0.5\r\n", b""), "malformed"),
    (REGISTER.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), "malformed"),
    (REGISTER.replace(b"Expires: 3600", b"Expires 3600"), "malformed"),
    (REGISTER.replace(b"l: 0", b"l: 10"), "length"),
    (REGISTER.replace(b"l: 0", b"l: x"), "malformed"),
    (REGISTER[:-4], "malformed"),
    (b"x" * 70000, "oversize"),
])
def test_malformed_messages_are_refused(broken: bytes, reason: str) -> None:
    with pytest.raises(SipError) as exc:
        sip.parse(broken)
    assert exc.value.reason == reason


def test_digest_worked_example_of_rfc_2617() -> None:
    # RFC 2617 §3.5: Mufasa / "Circle Of Life" -> response="6629fae49393a05397450978507c4ef1"
    assert sip.digest("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                      "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001", "0a4f113b") == "6629fae49393a05397450978507c4ef1"
    p = sip.params('Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd9", uri="/dir/index.html", '
                   'qop=auth, nc=00000001, cnonce="0a4f113b", response="6629"')
    assert p["username"] == "Mufasa" and p["qop"] == "auth" and p["nc"] == "00000001"


def test_stream_splitter_cuts_tcp_messages() -> None:
    s = sip.StreamSplitter()
    body = b"<x/>"
    msg = REGISTER.replace(b"l: 0", b"l: 4") + body
    assert list(s.feed(b"\r\n\r\n" + msg + msg[:30])) == [msg]
    assert list(s.feed(msg[30:])) == [msg]
    with pytest.raises(SipError):
        list(s.feed(REGISTER.replace(b"l: 0\r\n", b"")))


def test_keepalive_gb2312_and_utf8() -> None:
    body = manscdp.decode(keepalive("53060200001180000001"))
    assert (body.root, body.cmd_type, body.device_id, body.status) == ("Notify", "Keepalive", "53060200001180000001", "OK")
    assert manscdp.decode(keepalive("53060200001180000001", encoding="UTF-8")).cmd_type == "Keepalive"


def test_catalog_response_with_chinese_names_in_gb2312() -> None:
    raw = catalog_response("53060200001180000001", [("53060200001320000001", "女生宿舍3楼", "ON"),
                                                     ("53060200001320000002", "女生宿舍4楼", "OFF")])
    assert "女生宿舍".encode("gb2312") in raw
    body = manscdp.decode(raw)
    assert body.cmd_type == "Catalog" and body.sum_num == 2
    assert [(i.device_id, i.status) for i in body.items] == [("53060200001320000001", "on"), ("53060200001320000002", "off")]
    # declared GB2312 but sent as UTF-8 (it happens): still read
    assert manscdp.decode(raw.decode("gb2312").encode("utf-8")).items[0].status == "on"


def test_entities_are_refused() -> None:
    with pytest.raises(manscdp.XmlError):
        manscdp.decode(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Notify>&a;</Notify>')
    with pytest.raises(manscdp.XmlError):
        manscdp.decode(b"<Notify><CmdType>")


def test_catalog_query() -> None:
    body = manscdp.decode(manscdp.catalog_query(7, "53060200001180000001"))
    assert (body.root, body.cmd_type, body.sn, body.device_id) == ("Query", "Catalog", "7", "53060200001180000001")
