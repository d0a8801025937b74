"""What a request's HTTP headers say besides its body: SOAPAction (reported, never a reason to
refuse) and Content-Encoding (inflated within the body limit, or refused with a 415)."""

from __future__ import annotations

import gzip
import io
import socket
import zlib

import pytest

import mm7bind as mm7
from mm7bind.codec import decoded_body, soap_action_deviation

from .test_http_quirks import read_answer
from .test_receiver import Recorder, call_wsgi, deliver

NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"


def mo(**kw) -> mm7.HttpMessage:
    return mm7.encode(deliver(content=mm7.Content(parts=[mm7.Part.text("hello")]), **kw), transaction_id="mo-1",
                      version="REL-6-MM7-1-4")


def action_said(ctx) -> list[str]:
    return [d.message for d in ctx.deviations if d.code == "soap-action"]


def test_a_soapaction_naming_another_operation_is_reported_and_the_body_read_as_what_it_is():
    h = Recorder()
    out = mo()
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver(h)), out.to_bytes(), out.content_type,
                    headers={"SOAPAction": f'"{NS}#SubmitReq"', "Host": "vasp"})
    assert rsp["status"] == 200
    assert mm7.decode(rsp["body"], rsp["headers"]["Content-Type"]).body.ELEMENT == "DeliverRsp"
    [(msg, ctx)] = h.calls
    assert msg.content.parts[0].data == b"hello"
    assert action_said(ctx) == [f"SOAPAction '\"{NS}#SubmitReq\"' names SubmitReq, but the body is a DeliverReq "
                                '(read as the body says); MM7 sends SOAPAction: ""']


@pytest.mark.parametrize("action", [None, "", "DeliverReq", "\u201c\u201d", "''"])
def test_strict_mode_refuses_no_valid_body_for_its_soapaction(action):
    h = Recorder()
    out = mo()
    headers = {"Host": "vasp"} | ({"SOAPAction": action} if action is not None else {})
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver(h, strict=True)), out.to_bytes(), out.content_type, headers=headers)
    assert rsp["status"] == 200, rsp["body"]
    [(_, ctx)] = h.calls
    assert [d.code for d in ctx.deviations] == ["soap-action"]


def test_mm7s_own_soapaction_is_no_deviation():
    h = Recorder()
    out = mo()
    call_wsgi(mm7.wsgi_app(mm7.Receiver(h)), out.to_bytes(), out.content_type, headers={"SOAPAction": '""'})
    [(_, ctx)] = h.calls
    assert ctx.deviations == []


@pytest.mark.parametrize(("value", "said"), [
    (None, "no SOAPAction header"),
    ("", "an empty SOAPAction"),
    ("SubmitReq", "is not in plain double quotes and names SubmitReq, but the body is a DeliverReq"),
    ('"DeliverReq"', "names the body's operation"),
    (f'"{NS}"', "is the MM7 namespace URI"),
    ('"urn:example:send"', "names an action MM7 does not define"),
    ("\u201c\u201d", "is not in plain double quotes"),  # (the Rel-5 example as typeset)
])
def test_what_each_soapaction_is_said_to_be(value, said):
    env = mm7.decode(mo().to_bytes(), mo().content_type)
    assert said in soap_action_deviation(value, env).message
    assert soap_action_deviation(' "" ', env) is None


def test_validate_reports_the_soapaction_of_a_captured_request(tmp_path, capsys):
    out = mo()
    head = f"POST /mm7 HTTP/1.1\r\nHost: vasp\r\nContent-Type: {out.content_type}\r\n"
    (tmp_path / "ns.txt").write_bytes((head + f'SOAPAction: "{NS}"\r\n\r\n').encode() + out.to_bytes())
    (tmp_path / "plain.txt").write_bytes((head + 'SOAPAction: ""\r\n\r\n').encode() + out.to_bytes())
    (tmp_path / "answer.txt").write_bytes(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n" + mm7.encode_envelope(
        mm7.DeliverRsp(), transaction_id="mo-1", version="REL-6-MM7-1-4"))
    from mm7bind.cli import main

    assert main(["validate", str(tmp_path / "ns.txt"), str(tmp_path / "plain.txt"), str(tmp_path / "answer.txt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("ns.txt: accepted with 1 deviation(s) (DeliverReq, REL-6-MM7-1-4)")
    assert lines[1].startswith("  [soap-action] SOAPAction ") and "the MM7 namespace URI" in lines[1]
    assert lines[2].endswith("plain.txt: valid (DeliverReq, REL-6-MM7-1-4)")
    assert lines[3].endswith("answer.txt: valid (DeliverRsp, REL-6-MM7-1-4)")  # (an answer has none to say)


# -- Content-Encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "deflate-raw", "gzip, identity", "deflate, gzip"])
def test_a_compressed_request_is_inflated_handled_and_stored_as_read(coding, store):
    out = mo()
    raw = out.to_bytes()
    if coding == "deflate-raw":  # (deflate without zlib's wrapper, as some write it)
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body, coding = packer.compress(raw) + packer.flush(), "deflate"
    elif coding == "deflate, gzip":
        body = gzip.compress(zlib.compress(raw))
    else:
        body = (gzip.compress if "gzip" in coding else zlib.compress)(raw)
    h = Recorder()
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver(h, store=store)), body, out.content_type,
                    headers={"Content-Encoding": coding, "SOAPAction": '""'})
    assert rsp["status"] == 200, rsp["body"]
    [(msg, ctx)] = h.calls
    assert msg.content.parts[0].data == b"hello" and ctx.deviations == []
    assert "content-encoding" not in {k.lower() for k in ctx.headers}  # (the body it has is not encoded)
    [record] = store.inbox()
    assert bytes(store.inbox_get(record.id).body) == raw


def test_a_compression_bomb_is_a_413_and_a_coding_we_do_not_undo_a_415_the_server_serving_on():
    out = mo()
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MiB of zeros in about 8 KiB
    h = Recorder()
    answers = []
    with mm7.serve(mm7.Receiver(h, max_body=1 << 20), port=0) as srv:
        for body, coding in ((bomb, "gzip"), (zlib.compress(out.to_bytes()), "br"), (b"\x1f\x8b\x08garbage", "gzip"),
                             (gzip.compress(out.to_bytes()), "gzip")):
            with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
                sock.sendall((f"POST /mm7 HTTP/1.1\r\nHost: vasp\r\nContent-Type: {out.content_type}\r\n"
                              f"SOAPAction: \"\"\r\nContent-Encoding: {coding}\r\n"
                              f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
                answers.append(read_answer(sock))
    (bomb_head, _), (br_head, br_body), (bad_head, bad_body), (ok_head, _) = answers
    assert bomb_head.startswith(b"HTTP/1.1 413 ")
    assert br_head.startswith(b"HTTP/1.1 415 ") and b"\r\nAccept-Encoding: gzip, x-gzip, deflate" in br_head
    assert b"Content-Encoding 'br'" in br_body
    assert bad_head.startswith(b"HTTP/1.1 500 ")  # a Client Fault: bytes that do not inflate
    bad = mm7.decode(bad_body, "text/xml").body
    assert bad.code == "Client" and bad.detail.status.code == 2007 and "does not inflate" in bad.string
    assert ok_head.startswith(b"HTTP/1.1 200 ") and len(h.calls) == 1


@pytest.mark.parametrize(("coding", "strict"), [("utf-8", False), ("binary", True), ("gzip", False), ("deflate", True)])
def test_a_plain_body_under_a_content_encoding_is_read_as_it_came_and_said(coding, strict):
    """A client taking Content-Encoding for a charset or a transfer encoding, or naming gzip and
    not applying it: the body is plain MIME, read so (strict mode too: the header is HTTP's)."""
    h = Recorder()
    out = mo()
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver(h, strict=strict)), out.to_bytes(), out.content_type,
                    headers={"Content-Encoding": coding, "SOAPAction": '""'})
    assert rsp["status"] == 200, rsp["body"]
    [(msg, ctx)] = h.calls
    assert msg.content.parts[0].data == b"hello"
    assert [(d.code, d.message) for d in ctx.deviations] == [
        ("content-encoding", f"Content-Encoding {coding!r}, but the body is plain MIME: read as it came")]


def test_only_text_is_taken_for_a_plain_body():
    from mm7bind.codec import request_body

    assert request_body(b"\xef\xbb\xbf <a/>", "utf-8", 100)[1].message.endswith("the body is plain XML: read as it came")
    assert request_body(b"gzip", "x-unknown", 100)[1].message.endswith("the body is plain text: read as it came")
    with pytest.raises(mm7.UnsupportedEncodingError):  # (compressed bytes: control bytes among them)
        request_body(zlib.compress(b"<a/>" * 50), "br", 10_000)
    with pytest.raises(mm7.DecodeError, match="does not inflate"):
        request_body(b"\x1f\x8b\x08 not gzip", "gzip", 10_000)
    with pytest.raises(mm7.LimitExceededError):  # (a bomb is never read as it came)
        request_body(gzip.compress(b"<" * 5000), "gzip", 100)


def test_decoded_body_never_holds_more_than_its_limit():
    data = b"x" * 5000
    assert decoded_body(gzip.compress(data) + gzip.compress(data), "gzip", 10_000) == data * 2  # (two members)
    assert decoded_body(gzip.compress(data) + b"\0" * 8, "gzip", 10_000) == data  # (zero padding, as gzip -d)
    with pytest.raises(mm7.LimitExceededError, match="inflates past 9999 bytes"):
        decoded_body(gzip.compress(data) + gzip.compress(data), "gzip", 9999)
    with pytest.raises(mm7.DecodeError, match="cut short"):
        decoded_body(gzip.compress(data)[:-12], "gzip", 10_000)
    with pytest.raises(mm7.DecodeError, match="does not inflate"):
        decoded_body(gzip.compress(data) + b"trailing", "gzip", 10_000)
    with pytest.raises(mm7.UnsupportedEncodingError, match="'compress'"):
        decoded_body(data, "compress", 10_000)
    assert decoded_body(data, "identity", 10) == data
    assert decoded_body(b"", "gzip", 10) == decoded_body(b"", "deflate", 10) == b""  # (an empty body, labelled)
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = packer.compress(data) + packer.flush()
    assert decoded_body(raw + b"after", "deflate", 10_000) == data  # (after a deflate stream: ignored, as zlib does)


def test_compressed_bytes_without_a_content_encoding_are_said_to_be_so():
    out = mo()
    with pytest.raises(mm7.DecodeError, match="gzip-compressed"):
        mm7.decode(gzip.compress(out.to_bytes()), out.content_type)
    with pytest.raises(mm7.DecodeError, match="gzip-compressed"):
        mm7.decode(gzip.compress(out.to_bytes()), "text/xml")
    with pytest.raises(mm7.DecodeError, match="gzip-compressed"):  # (a stream, as a server hands it on)
        mm7.decode(io.BytesIO(gzip.compress(out.to_bytes())), out.content_type)


def test_validate_and_inspect_say_a_packet_captures_requests_soapaction(tmp_path, capsys):
    import json

    from mm7bind.cli import main

    from .pcapgen import Flow, http, pcap

    out = mo()
    flow = Flow().open()
    flow.send(True, http("POST /mm7 HTTP/1.1", {"Host": "vasp", "Content-Type": out.content_type,
                                                "Content-Length": str(out.length)}, out.to_bytes()))
    answer = mm7.encode_envelope(mm7.DeliverRsp(), transaction_id="mo-1", version="REL-6-MM7-1-4")
    flow.send(False, http("HTTP/1.1 200 OK", {"Content-Type": "text/xml", "Content-Length": str(len(answer))}, answer))
    path = tmp_path / "mo.pcap"
    path.write_bytes(pcap(flow.close().packets))
    assert main(["validate", "--json", str(path)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [(f["result"], [d["code"] for d in f["deviations"]]) for f in found] == [
        ("accepted", ["soap-action"]), ("valid", [])]  # (no SOAPAction: said, not refused; the answer has none)
    assert main(["inspect", str(path)]) == 0
    request, response = json.loads(capsys.readouterr().out)["messages"]
    assert [d["code"] for d in request["deviations"]] == ["soap-action"] and not response.get("deviations")


@pytest.mark.parametrize("content_type", ["from the message", None])
def test_a_replay_reports_what_the_request_headers_said_as_the_first_handling_did(store, content_type):
    """A replay decodes the stored body: the SOAPAction, a Content-Encoding the body was sent plain
    under, a missing Content-Type — said by the headers, not the body — are said again from the
    headers stored with it, so the handler sees the deviations the first handling saw."""
    out = mo()
    seen = []
    rcv = mm7.Receiver(store=store)

    @rcv.on("deliver")
    def on_deliver(msg, ctx):
        seen.append([(d.code, d.message) for d in ctx.deviations])
        if not ctx.replay:
            raise mm7.Unavailable("the database is down")

    given = out.content_type if content_type else None
    rsp = call_wsgi(mm7.wsgi_app(rcv), out.to_bytes(), given,
                    headers={"Content-Encoding": "utf-8", "SOAPAction": "DeliverReq"})
    assert rsp["status"] == 500  # (failed: kept for replay)
    [record] = store.inbox()
    assert store.inbox_get(record.id).headers["Content-Encoding"] == "utf-8"  # (the body stored is as it came)
    codes = ["content-encoding", "soap-action"]
    assert [code for code, _ in seen[0]] == ([] if content_type else ["soap-content-type"]) + codes
    assert rcv.replay() == [(record.id, "handled")]
    assert seen[1] == seen[0]


def test_many_gzip_members_or_codings_are_inflated_in_linear_time_and_bounded(inflater_feeds):
    # gzip reads one member after another, and so does the receiver: after each it took the rest
    # of the body as a copy, time quadratic in their number (1 s for 40,000 empty ones in 800 KB,
    # minutes for the 20 MiB a request may hold). Each member costs microseconds whatever its
    # size: past 1,000 a body is refused; so is one under more than 8 codings (each inflated
    # all the others: 10,000 "gzip, " in a header, seconds).
    from mm7bind.codec import request_body

    MAX_GZIP_MEMBERS = 1000

    fed = inflater_feeds
    members = [gzip.compress(b"<a/>" if i % 2 else b"") for i in range(MAX_GZIP_MEMBERS)]
    body = b"".join(members) + b"\0" * 10
    assert request_body(body, "gzip", 10_000) == (b"<a/>" * (MAX_GZIP_MEMBERS // 2), None)
    assert sum(fed) < 1100 * MAX_GZIP_MEMBERS  # (the rest after each member: 12 MB)
    with pytest.raises(mm7.DecodeError, match="more than 1000 gzip members"):
        request_body(b"".join(members) + members[0], "gzip", 10_000)
    layered = b"<a/>"
    for _ in range(9):
        layered = gzip.compress(layered)
    assert request_body(gzip.decompress(layered), ", ".join(["gzip"] * 8), 10_000) == (b"<a/>", None)
    with pytest.raises(mm7.DecodeError, match="9 content codings, more than 8"):
        request_body(layered, ", ".join(["gzip"] * 9), 10_000)
