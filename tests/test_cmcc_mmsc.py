"""What the simulator's China Mobile dialects send a VASP, compared with a Chinese MMSC's MO capture
(instantcom-mm7__caixin.txt, read in place when the reference samples are there)."""

from __future__ import annotations

import base64
import re

import pytest

import mm7bind as mm7
from mm7bind import messages as m
from mm7bind import profiles
from mm7bind.mime import parse_params
from mm7bind.simulator import Simulator
from mm7bind.testing import RunningReceiver

from .conftest import SAMPLES
from .fake_http import FakeServer

CAPTURE = SAMPLES / "instantcom-mm7__caixin.txt"
NS = b"http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0"
# A JPEG's start and end around bytes no text holds (NUL, CR and LF alone, 0x80-0xFF): raw 8-bit.
JPEG = bytes.fromhex("ffd8ffe000104a46494600") + bytes(range(256)) * 3 + b"\r\r\n\n\x00" + bytes.fromhex("ffd9")
SMIL = ('<smil><head><layout><root-layout width="540px" height="960px"/></layout></head><body><par dur="5000ms">'
        '<img src="1447137257000.jpg"/><text src="text_0.txt"/></par></body></smil>')
TEXT = "524测试"
# What our reader notes on the capture, and must note on ours: the plain Sender, MMSRelayServerID
# out of schema order, the content's Content-ID without brackets.
CAPTURE_DEVIATIONS = {"plain-text-address", "element-order", "mime-content-id", "mime-part-trailing-crlf"}


def mo_parts() -> list[mm7.Part]:
    return [mm7.Part.text(SMIL, content_type="application/smil"),
            mm7.Part.from_bytes(JPEG, "image/jpeg", filename="1447137257000.jpg"),
            mm7.Part.text(TEXT, charset="utf-8", filename="text_0.txt")]


def capture_like_mo() -> m.DeliverReq:
    return m.DeliverReq(sender=mm7.Number("+8618703815655"), recipients=m.Recipients(to=["10085"]),
                        priority=m.Priority.HIGH, relay_server_id="910062",
                        content=mm7.Content(parts=mo_parts()))


def traits(body: bytes, content_type: str | None = None) -> dict[str, bool]:
    """The capture's MIME and XML habits, each as found (True) or not in `body`."""
    first = body.split(b"\r\n", 2)[1] if body.startswith(b"\r\n") else b""
    soap_headers = body[:body.find(b"<?xml")]
    container = re.search(rb"\r\nContent-Type:multipart/related;([^\r\n]*)\r\nContent-ID:([^\r\n]*)\r\n", body)
    inner = {}
    if container is not None:
        params = parse_params("multipart/related;" + container.group(1).decode("ascii"))[1]
        inner_delimiter = b"--" + params["boundary"].encode("ascii") + b"\r\n"
        heads = [chunk.split(b"\r\n\r\n", 1)[0] for chunk in body.split(inner_delimiter)[1:]]
        smil = next((h for h in heads if b"Content-Type:application/smil" in h), b"")
        inner_line = b"\r\n--" + params["boundary"].encode("ascii")
        outer = body.split(b"\r\n", 2)[1][2:] if body.startswith(b"\r\n--") else b"?"
        inner = {
            # (each part's content, then an empty line, then the delimiter: the closing one too)
            "an empty line after each inner part": body.count(inner_line) > 1
                                                   and body.count(b"\r\n" + inner_line) == body.count(inner_line),
            "inner closing delimiter straight before the outer one": inner_line + b"--\r\n--" + outer + b"--\r\n"
                                                                    in body,
            "container start= names the SMIL": b"Content-ID:" + params.get("start", "").encode("ascii") in smil,
            "Content-Location on every inner part": bool(heads) and all(b"\r\nContent-Location:" in h for h in heads),
            "inner headers without a space": bool(heads) and all(h.startswith(b"Content-Type:") for h in heads),
            # (the order, and the one header with a space after its colon, the transfer encoding last)
            "inner headers in the capture's order": bool(heads) and all(
                re.fullmatch(rb"Content-Type:[^\r\n]+\r\nContent-ID:<[^\r\n]+>\r\nContent-Location:[^\r\n]+"
                             rb"\r\nContent-Transfer-Encoding: 8bit", h) for h in heads),
            "container start= before type=": container.group(1).startswith(b'start="<')
                                             and container.group(1).index(b"start=") < container.group(1).index(b"type="),
        }
    charsets = re.findall(rb'charset="([^"]*)"', body)
    raw_jpeg = re.search(rb"Content-Type:image/jpeg[^\r\n]*(\r\n[^\r\n]+)*\r\n\r\n\xff\xd8\xff", body)
    return {
        "charsets in upper case": bool(charsets) and all(c == c.upper() for c in charsets),
        "body starts with a bare CRLF": body.startswith(b"\r\n--"),
        "boundary value begins with --": first.startswith(b"----"),
        "SOAP part headers without a space": b"\r\nContent-Type:text/xml;" in soap_headers
                                             and b"\r\nContent-ID:" in soap_headers,
        "UTF-8 SOAP part": b'<?xml version="1.0" encoding="UTF-8"?><env:Envelope' in body,
        "namespace declared on DeliverReq": b'<DeliverReq xmlns="' + NS + b'">' in body
                                            and b'<mm7:TransactionID xmlns:mm7="' + NS + b'"' in body,
        "MMSRelayServerID after Priority": re.search(rb"</Priority><MMSRelayServerID>", body) is not None,
        "plain Sender": re.search(rb"<Sender>\+?\d+</Sender>", body) is not None,
        "Content href with an end tag": b'<Content href="cid:defaultID"></Content>' in body,
        "content multipart/related, Content-ID:defaultID": container is not None
                                                          and container.group(2) == b"defaultID",
        **inner,
        "raw 8-bit JPEG": raw_jpeg is not None and b"Content-Transfer-Encoding:" in raw_jpeg.group(0)
                          and b"8bit" in raw_jpeg.group(0),
    }


def sent_by(dialect: str, quirks: bool = True, msg: m.DeliverReq | None = None):
    """The HTTP request the simulator sends a VASP for `msg` (capture_like_mo by default)."""
    with FakeServer() as vasp, Simulator(dialect=dialect, quirks=quirks) as sim:
        sim.config.vasp_url = vasp.url
        assert sim.client().send(msg or capture_like_mo(), transaction_id="mo-1").ok
        [req] = vasp.requests
    return req


@pytest.mark.parametrize("dialect", ["cmcc", "cmcc-sdk"])
def test_a_china_mobile_mo_is_laid_out_as_the_chinese_mmscs_capture(dialect):
    """The cmcc dialects' MO came in the SDK's VASP-side layout (cmcc-sdk: its preamble, fixed
    boundary, no <Content href>) or the standard one: a VASP tested against it met another in
    production. Each habit of the capture is now in what the simulator sends."""
    req = sent_by(dialect)
    found = traits(req.body)
    assert all(found.values()), {k: v for k, v in found.items() if not v}
    ctype, params = parse_params(req.header("content-type"))
    assert ctype == "multipart/related" and params["boundary"].startswith("--NextPart_0_")
    assert params["start"] == "</tnn-200102/mm7-vasp>" and params["type"] == "text/xml"
    assert b"\r\n--" + params["boundary"].encode("ascii") + b"--\r\n" in req.body  # (the closing delimiter)
    assert req.header("mm7apiversion") is None  # (the SDK's header, a VASP's)
    if CAPTURE.is_file():  # the same habits, all of them, as the real MMSC's
        assert traits(CAPTURE.read_bytes()) == found


def delivered_by(dialect: str, quirks: bool = True, **given):
    """The HTTP request `simulator.deliver` sends a VASP, with the caller giving `given` alone."""
    with FakeServer() as vasp, Simulator(dialect=dialect, quirks=quirks) as sim:
        sim.config.vasp_url = vasp.url
        assert sim.deliver("+8618703815655", ["10085"], parts=mo_parts(), **given)["status"] == 1000
        [req] = vasp.requests
    return req


@pytest.mark.parametrize("dialect", ["cmcc", "cmcc-sdk"])
def test_a_china_mobile_mo_sent_by_deliver_carries_the_captures_priority_with_mmsrelayserverid_after_it(dialect):
    """The capture's MMSC writes a Priority into its MO, MMSRelayServerID after it; deliver() gave
    none unless asked, and MMSRelayServerID came after TimeStamp: not the capture's layout. Normal
    by default, the caller's when given."""
    req = delivered_by(dialect)
    found = traits(req.body)
    assert all(found.values()), {k: v for k, v in found.items() if not v}
    if CAPTURE.is_file():
        assert traits(CAPTURE.read_bytes()) == found
    assert re.search(rb"</TimeStamp><Priority>Normal</Priority><MMSRelayServerID>[^<]*</MMSRelayServerID>"
                     rb"<Content ", req.body), req.body[:1500]
    assert b"<Priority>High</Priority><MMSRelayServerID>" in delivered_by(dialect, priority="High").body
    plain = delivered_by(dialect, quirks=False)  # (valid MM7, in schema order: the Priority all the same)
    assert mm7.decode(plain.body, plain.header("content-type"), strict=True).body.priority == m.Priority.NORMAL


def test_other_dialects_mo_has_no_priority_unless_given():
    assert b"Priority" not in delivered_by("standard").body
    req = delivered_by("standard", priority=m.Priority.LOW)
    assert mm7.decode(req.body, req.header("content-type")).body.priority == m.Priority.LOW


def test_the_boundaries_differ_from_message_to_message():
    """As in the capture, where the numbers are the message's own (a fixed one would be known to any
    sender of content, as the SDK's is)."""
    assert parse_params(sent_by("cmcc").header("content-type"))[1]["boundary"] != \
        parse_params(sent_by("cmcc").header("content-type"))[1]["boundary"]


@pytest.mark.parametrize("dialect", ["cmcc", "cmcc-sdk"])
def test_our_receiver_takes_the_china_mobile_mo_noting_the_captures_deviations_and_its_content_intact(dialect):
    with Simulator(dialect=dialect) as sim, RunningReceiver() as rcv:
        sim.config.vasp_url = rcv.url
        outcome = sim.deliver("+8618703815655", ["10085"], parts=mo_parts())
        assert outcome["status"] == 1000, outcome
        [(mo, ctx)] = rcv.wait_for("DeliverReq")
    assert {d.code for d in ctx.deviations} == CAPTURE_DEVIATIONS, ctx.deviations
    assert str(mo.sender) == "+8618703815655" and mo.relay_server_id == sim.config.relay_server_id
    content = mo.content
    assert content.smil is not None and content.smil.text_value == SMIL
    assert content.by_location("1447137257000.jpg").data == JPEG
    assert content.by_location("text_0.txt").text_value == TEXT
    if CAPTURE.is_file():  # (what our reader notes on the real one)
        env = mm7.decode(CAPTURE.read_bytes(), 'multipart/related; boundary="--NextPart_0_9094_20600"')
        assert {d.code for d in env.deviations} == CAPTURE_DEVIATIONS


@pytest.mark.parametrize("dialect", ["cmcc", "cmcc-sdk"])
def test_without_quirks_the_china_mobile_mo_is_strict(dialect):
    """`--no-quirks`: valid MM7 in the encoder's own layout, read strictly without a deviation."""
    req = sent_by(dialect, quirks=False)
    assert not any(traits(req.body).values())
    assert not req.body.startswith(b"\r\n") and b"\r\nContent-Type: text/xml; charset=" in req.body
    env = mm7.decode(req.body, req.header("content-type"), strict=True)
    assert [p.data for p in env.body.content.all_parts() if p.content_type == "image/jpeg"] == [JPEG]


def test_a_china_mobile_delivery_report_declares_its_namespaces_as_chinese_mmscs_do():
    """Both Chinese delivery reports in the samples declare the namespace on TransactionID (mm7:) and
    on DeliveryReportReq, with no line break after the XML declaration, and give times to the second."""
    with FakeServer() as vasp, Simulator(dialect="cmcc", report_delay=0) as sim, \
            mm7.Client(sim.url, profile=sim.profile) as client:
        sim.config.vasp_url = vasp.url
        client.submit(m.SubmitReq(vaspid="805555", vasid="5555", service_code="123456", sender_address="5555",
                                  recipients=["13800138000"], delivery_report=True))
        assert sim.wait_idle()
        [req] = vasp.requests
    body = req.body
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env=')
    assert b'<mm7:TransactionID xmlns:mm7="' + NS + b'"' in body and b'<DeliveryReportReq xmlns="' + NS + b'">' in body
    assert re.search(rb"<TimeStamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00</TimeStamp>", body)
    assert b"<Sender>5555</Sender>" in body and b"<MMSStatusErrorCode>129</MMSStatusErrorCode>" in body


def test_mime_layout_settings_are_checked_and_the_default_is_the_encoders_own():
    assert profiles.STANDARD.layout == profiles.MimeLayout() and profiles.STANDARD.xml_rewrite is None
    for bad in ({"header_separator": " : "}, {"parameter_separator": ","}, {"boundaries": "fixed"},
                {"part_headers": ("Content-Type", "X-Mine")}, {"part_headers": ("Content-ID", "content-id")},
                {"part_headers": ("Content-ID :",)}, {"related_parameters": ("type", "start")}):
        with pytest.raises(ValueError):
            profiles.MimeLayout(**bad)
    # A peer's order of a part's headers, names in any case, one written with a separator of its own
    layout = profiles.MimeLayout(part_headers=("content-id", "Content-Type: "), header_separator=":")
    assert layout.part_header_layout() == ({"Content-ID": 0, "Content-Type": 1}, {"Content-Type": ": "})
    out = mm7.encode(m.DeliverReq(sender="+8613800138000", content=mm7.Content(parts=[mm7.Part.text("hi")])),
                     transaction_id="t-1", profile=profiles.STANDARD.replace(layout=layout))
    body = out.to_bytes()
    assert re.search(rb"\r\nContent-ID:<[^>]+>\r\nContent-Type: text/plain;[^\r\n]+\r\nContent-Transfer-Encoding:",
                     body), body
    assert mm7.decode(body, out.content_type).body.content.parts[0].text_value == "hi"


def test_a_nextpart_boundary_a_text_holds_is_drawn_again(monkeypatch):
    """Its numbers are few next to our random boundaries': a text part holding the first one drawn
    would end its part there."""
    from mm7bind import codec

    draws = iter([bytes(4)] * 4 + [b"\x00\x00\x00\x01"] * 4)
    monkeypatch.setattr(codec.os, "urandom", lambda n: next(draws))
    text = mm7.Part.text("look: ----NextPart_0_1000_10000 here", charset="utf-8")
    out = mm7.encode(m.DeliverReq(sender=mm7.Number("+8613800000000"), content=mm7.Content(parts=[text])),
                     transaction_id="t", profile=profiles.CMCC_MMSC)
    assert parse_params(out.content_type)[1]["boundary"] == "--NextPart_0_1001_10001"
    assert mm7.decode(out.to_bytes(), out.content_type).body.content.parts[0].text_value == text.text_value


@pytest.mark.parametrize("dialect", ["cmcc", "cmcc-sdk"])
def test_china_mobiles_mmsc_answers_with_its_manuals_chinese_status_texts(dialect):
    """Its manual (§5.1) gives the StatusText of each code in Chinese; the dialects answered in
    English. What the simulator says about a refusal goes in Details; a scripted text, and the text of
    a code the manual does not list, stay as they are."""
    with Simulator(dialect=dialect, report_delay=60) as sim, \
            mm7.Client(sim.url, profile=sim.profile, retry=mm7.RetryPolicy.never()) as client:
        submit = m.SubmitReq(vaspid="805555", vasid="5555", service_code="123456", sender_address="5555",
                             recipients=["13800138000"])
        assert client.submit(submit).status.text == "成功"
        with pytest.raises(mm7.FaultError) as info:
            client.cancel("no-such")
        assert (info.value.status.code, info.value.status.text, info.value.status.details) == \
            (2005, "找不到消息ID", "no message no-such")
        for scripted, text in ({"status": 4006}, "无法提供服务"), ({"status": 4006, "text": "网关忙"}, "网关忙"), \
                ({"status": 4008}, "Application denied"):
            sim.fail_next(**scripted)
            with pytest.raises(mm7.FaultError) as info:
                client.submit(submit)
            assert info.value.status.text == text
    with Simulator(report_delay=60) as sim, mm7.Client(sim.url) as client:
        assert client.submit(submit).status.text == "Success"


def sdk_cancel(message_id: str, extra: str = "") -> bytes:
    """A CancelReq as China Mobile's SDK (V1.5.3) writes it: the namespace declared under a prefix
    none of its elements uses, env:mustUnderstand on CancelReq, SenderAddress after SenderIdentification."""
    ns = NS.decode("ascii")
    return ('<?xml version="1.0" encoding="GB2312"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
            f'<env:Header><mm7:TransactionID xmlns:mm7="{ns}" env:mustUnderstand="1">c-1</mm7:TransactionID>'
            f'</env:Header><env:Body><CancelReq xmlns:mm7="{ns}" env:mustUnderstand="1"><MM7Version>6.3.0</MM7Version>'
            '<SenderIdentification><VASPID>805555</VASPID><VASID>5555</VASID></SenderIdentification>'
            f'<SenderAddress>5555</SenderAddress><MessageID>{message_id}</MessageID>{extra}</CancelReq></env:Body>'
            '</env:Envelope>').encode("gb2312")


@pytest.mark.parametrize("dialect", ["cmcc", "cmcc-sdk"])
def test_strict_china_mobile_takes_its_own_sdks_requests_and_refuses_any_other_deviation(dialect, caplog):
    """Strict, the cmcc dialects refused the SDK's CancelReq (4004) and, with content, its SubmitReq
    (no <Content href>): China Mobile's MMSC takes what its own SDK sends, the manual's Cancel (§4.6)
    included. Its deviations are noted; one the SDK does not make is refused as before."""
    caplog.set_level("INFO", logger="mm7bind.simulator")
    with Simulator(dialect=dialect, strict=True, report_delay=60) as sim, \
            mm7.Client(sim.url, profile=profiles.CMCC_SDK, retry=mm7.RetryPolicy.never()) as client:
        submit = m.SubmitReq(vaspid="805555", vasid="5555", service_code="123456", sender_address="5555",
                             recipients=["13800138000"], content=mm7.Content(parts=[mm7.Part.text("hi")]))
        mid = client.submit(submit).message_id
        assert {d.code for d in sim.messages[mid].deviations} == {"content-ref-missing"}
        ns = NS.decode("ascii")
        plain = ('<?xml version="1.0" encoding="GB2312"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/'
                 f'envelope/"><env:Header><mm7:TransactionID xmlns:mm7="{ns}" env:mustUnderstand="1">s-1</mm7:'
                 f'TransactionID></env:Header><env:Body><SubmitReq xmlns="{ns}"><MM7Version>6.3.0</MM7Version>'
                 '<SenderIdentification><VASPID>805555</VASPID><VASID>5555</VASID><SenderAddress>5555</SenderAddress>'
                 '</SenderIdentification><Recipients><To><Number>13915002000</Number></To></Recipients>'
                 '<ServiceCode>123456</ServiceCode></SubmitReq></env:Body></env:Envelope>')
        assert sim.handle(plain.encode("gb2312"), 'text/xml;charset="GB2312"', {}).status == 200  # (its plain SenderAddress)
        rsp = sim.handle(sdk_cancel(mid), 'text/xml;charset="GB2312"', {})
        assert rsp.status == 200 and mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"]).body.status.code == 1000
        assert sim.messages[mid].state == "cancelled"
        assert "accepted with 4 deviation(s): [unqualified-body]" in caplog.text
        rsp = sim.handle(sdk_cancel(mid, "<Foo>1</Foo>"), 'text/xml;charset="GB2312"', {})
        env = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
        assert rsp.status == 500 and env.body.status.code == 4004 and "unknown-element" in env.body.status.details
    with Simulator(strict=True) as sim:  # (another MMSC, strict, takes none of it)
        rsp = sim.handle(sdk_cancel("m-1"), 'text/xml;charset="GB2312"', {})
        assert rsp.status == 500 and b"unqualified-body" in rsp.body


def test_a_made_up_content_location_too_long_for_its_line_is_left_out():
    """A part's own Content-Location that long is refused (it would be cut); one the layout makes up
    from a long Content-ID is not the sender's to lose, and is left out."""
    part = mm7.Part.from_bytes(JPEG, "image/jpeg", content_id="x" * 980)
    out = mm7.encode(m.DeliverReq(sender=mm7.Number("+8613800000000"), content=mm7.Content(parts=[part])),
                     transaction_id="t", profile=profiles.CMCC_MMSC)
    assert b"Content-Location:x" not in out.to_bytes()
    assert mm7.decode(out.to_bytes(), out.content_type).body.content.by_id("x" * 980).data == JPEG


@pytest.mark.parametrize("stream", [False, True])
def test_the_empty_line_after_each_part_is_framing_only_where_unmistakable(stream):
    """The Chinese MMSC ends each part of its content with an empty line, and the content's closing
    delimiter with none: MIME gives that CRLF to the part, and its JPEG, SMIL and text each came with
    a tail they never had. Dropped (and noted) where a nested multipart is closed so and every part
    of it, two or more, sent as it is, ends so; kept anywhere else (written as MIME writers write
    it, content ending so is content)."""
    from mm7bind.mime import MimeLimits, read_multipart

    from .streams import Trickle

    def parts_of(*parts: tuple[str, bytes], cte: str = "8bit", close: bytes = b"--b--"):
        content = b"".join(b"--b\r\nContent-Type: %s\r\nContent-Transfer-Encoding: %s\r\n\r\n%s\r\n"
                           % (ctype.encode(), cte.encode(), data) for ctype, data in parts) + close
        body = (b"--o\r\nContent-Type: text/xml\r\n\r\n<x/>\r\n--o\r\nContent-Type: multipart/mixed; "
                b'boundary="b"\r\n\r\n' + content + b"\r\n--o--\r\n")
        # (streamed in small reads, spooling parts over 100 bytes to files: each kind of part it makes)
        source = Trickle(body, 7) if stream else body
        got, devs = read_multipart(source, "o", MimeLimits(spool_threshold=100))
        return [p.blob.read() for p in got[1].children], {d.code for d in devs}

    padded = [("image/jpeg", JPEG + b"\r\n"), ("text/plain", TEXT.encode() + b"\r\n")]
    assert parts_of(*padded) == ([JPEG, TEXT.encode()], {"mime-part-trailing-crlf"})
    # Closed with a line break of its own (as MIME writers close it), one part alone, one part
    # without the empty line, base64 parts: the content as MIME has it.
    assert parts_of(*padded, close=b"--b--\r\n") == ([JPEG + b"\r\n", TEXT.encode() + b"\r\n"], set())
    assert parts_of(padded[0]) == ([JPEG + b"\r\n"], set())
    assert parts_of(padded[0], ("text/plain", b"hi")) == ([JPEG + b"\r\n", b"hi"], set())
    encoded = [(t, base64.b64encode(d) + b"\r\n") for t, d in padded]
    assert parts_of(*encoded, cte="base64")[0] == [JPEG + b"\r\n", TEXT.encode() + b"\r\n"]
