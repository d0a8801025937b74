"""Strict out: what mm7bind refuses to send, and how values are written."""

from __future__ import annotations

import dataclasses
import re
import logging
from datetime import datetime, timedelta, timezone

import pytest

import mm7bind as mm7
from mm7bind.profiles import CMCC, CMCC_SDK
from mm7bind.validation import validate_element
from mm7bind.xmlsafe import parse_xml

CST = timezone(timedelta(hours=8))


def xml_of(msg, version="REL-6-MM7-1-4", **style) -> str:
    return mm7.encode_envelope(msg, transaction_id="t", version=version, style=mm7.XmlStyle(**style)).decode(
        style.get("encoding", "utf-8"))


def test_rel6_field_refused_for_rel5_unless_dropping():
    msg = mm7.SubmitReq(recipients=["1"], charged_party_id="+8612")
    with pytest.raises(mm7.UnsupportedFieldError, match="ChargedPartyID does not exist in REL-5-MM7-1-3") as err:
        xml_of(msg, "REL-5-MM7-1-3")
    assert err.value.field == "charged_party_id" and err.value.version == "REL-5-MM7-1-3"


def test_drop_unsupported_logs_and_sends_the_rest(caplog):
    msg = mm7.SubmitReq(recipients=["1"], charged_party_id="+8612", subject="s")
    with caplog.at_level(logging.WARNING, logger="mm7bind.binding"):
        text = xml_of(msg, "REL-5-MM7-1-0", drop_unsupported=True)
    assert "ChargedPartyID" not in text and "<Subject>s</Subject>" in text
    assert "dropped" in caplog.text and "ChargedPartyID" in caplog.text


def test_rel6_address_attributes_refused_for_rel5():
    msg = mm7.SubmitReq(recipients=[mm7.Number("1", address_coding="obfuscated")])
    with pytest.raises(mm7.UnsupportedFieldError, match="addressCoding"):
        xml_of(msg, "REL-5-MM7-1-5")


def test_extended_operations_only_in_rel6_1_4():
    with pytest.raises(mm7.UnsupportedFieldError, match="extended operations are in REL-6-MM7-1-4 only"):
        xml_of(mm7.ExtendedCancelReq(cancel_id="1"), "REL-6-MM7-1-3")
    assert "<CancelID>1</CancelID>" in xml_of(mm7.ExtendedCancelReq(cancel_id="1"))


def test_enum_values_of_other_releases_are_refused():
    with pytest.raises(mm7.EncodeError, match="ThirdParty.*not valid in REL-5-MM7-1-0"):
        xml_of(mm7.SubmitReq(recipients=["1"], charged_party=mm7.ChargedParty.THIRD_PARTY), "REL-5-MM7-1-0")
    with pytest.raises(mm7.EncodeError, match="Urgent"):
        xml_of(mm7.SubmitReq(recipients=["1"], priority="Urgent"))


def test_required_fields():
    with pytest.raises(mm7.EncodeError, match="Recipients is required"):
        xml_of(mm7.SubmitReq())
    with pytest.raises(mm7.EncodeError, match="MessageID is required"):
        xml_of(mm7.CancelReq())
    with pytest.raises(mm7.EncodeError, match="TransactionID is required"):
        mm7.encode_envelope(mm7.CancelReq(message_id="1"), transaction_id=" ", version="REL-6-MM7-1-4")
    for tid in ("\nt-1", "t-1 ", "\tt-1\n"):  # readers strip it, so an answer would never match
        with pytest.raises(mm7.EncodeError, match="white space around it"):
            mm7.encode_envelope(mm7.CancelReq(message_id="1"), transaction_id=tid, version="REL-6-MM7-1-4")


def test_schema_facets_are_enforced_on_the_way_out():
    with pytest.raises(mm7.EncodeError, match="pattern"):
        xml_of(mm7.SubmitRsp(mm7_version="six", message_id="1"), "REL-6-MM7-1-0")
    with pytest.raises(mm7.EncodeError, match="MM7Version"):
        xml_of(mm7.SubmitRsp(mm7_version="6.7.0", message_id="1"))
    with pytest.raises(mm7.EncodeError, match="StatusCode"):
        xml_of(mm7.SubmitRsp(status=mm7.Status(0), message_id="1"))


def test_characters_xml_cannot_carry():
    with pytest.raises(mm7.EncodeError, match="U\\+0001"):
        xml_of(mm7.SubmitReq(recipients=["1"], subject="bell\x01"))


def test_escaping_and_whitespace_survive():
    subject = "a & b < c > d \" e ' f\r\n\tg  "
    data = mm7.encode_envelope(mm7.SubmitReq(recipients=["1"], subject=subject), transaction_id="t", version="REL-6-MM7-1-4")
    assert mm7.decode_envelope(data, strict=True).body.subject == subject


def test_times():
    naive = datetime(2024, 1, 2, 3, 4, 5)  # local time: goes out with the local offset
    text = xml_of(mm7.SubmitReq(recipients=["1"], time_stamp=naive))
    stamp = text.split("<TimeStamp>")[1].split("</TimeStamp>")[0]
    assert stamp.startswith("2024-01-02T03:04:05") and len(stamp) > len("2024-01-02T03:04:05")
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) == naive.astimezone()
    utc = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    text = xml_of(mm7.SubmitReq(recipients=["1"], time_stamp=utc, expiry_date=utc), timezone=CST)
    assert "<TimeStamp>2024-01-02T11:04:05+08:00</TimeStamp>" in text
    assert "<ExpiryDate>2024-01-02T11:04:05+08:00</ExpiryDate>" in text
    for rel, wire in ((timedelta(days=90), "P90D"), (timedelta(minutes=30), "PT30M"),
                      (timedelta(days=1, seconds=1.5), "P1DT1.5S"), ("P1Y2M", "P1Y2M"), (timedelta(0), "PT0S")):
        assert f"<EarliestDeliveryTime>{wire}</EarliestDeliveryTime>" in xml_of(
            mm7.SubmitReq(recipients=["1"], earliest_delivery_time=rel))


def test_relative_times_are_exact_to_the_microsecond_at_any_size():
    # (total_seconds() is a float: it rounds microseconds away past some 280 years)
    for rel, wire in ((timedelta(days=40000, microseconds=1), "P40000DT0.000001S"),
                      (timedelta(days=200000, microseconds=1), "P200000DT0.000001S"),
                      (timedelta.max, "P999999999DT23H59M59.999999S"), (timedelta.min, "-P999999999D"),
                      (-timedelta(days=50000, hours=1, microseconds=250), "-P50000DT1H0.00025S")):
        text = xml_of(mm7.SubmitReq(recipients=["1"], expiry_date=rel))
        assert f"<ExpiryDate>{wire}</ExpiryDate>" in text
        assert mm7.decode_envelope(text.encode(), strict=True).body.expiry_date == rel


@pytest.mark.parametrize(("encoding", "label"), [
    ("utf8", "UTF-8"), ("utf_8", "UTF-8"), ("GB2312", "GB2312"), ("euc_cn", "GB2312"), ("cp936", "GBK"),
    ("gb18030", "GB18030")])
@pytest.mark.parametrize("with_content", [False, True])
def test_the_charset_parameters_name_the_charset_the_xml_declaration_names(encoding, label, with_content):
    """An encoding given by one of Python's aliases went out as it was written in the charset
    parameter (`charset="utf8"`, the very slip the reader reports from peers) beside the IANA name
    in the declaration; `euc_cn` made a message our own strict reader refused as a conflict."""
    content = mm7.Content(parts=[mm7.Part.text("中文")]) if with_content else None
    msg = mm7.SubmitReq(recipients=["1"], subject="中文", content=content)
    out = mm7.encode(msg, transaction_id="t", profile=mm7.Profile(xml=mm7.XmlStyle(encoding=encoding)))
    data = out.to_bytes()
    assert f'<?xml version="1.0" encoding="{label}"?>'.encode() in data
    soap_type = out.content_type if not with_content else data.split(b"\r\n")[1].decode()
    assert soap_type.endswith(f'text/xml; charset="{label.lower()}"')
    assert mm7.decode(data, out.content_type, strict=True).body.subject == "中文"


def test_styles():
    msg = mm7.CancelReq(message_id="m1", vaspid="800001")
    text = xml_of(msg, envelope_prefix="SOAP-ENV", mm7_prefix="mm7")
    assert "<SOAP-ENV:Envelope" in text and "<mm7:CancelReq>" in text and 'SOAP-ENV:mustUnderstand="1"' in text
    text = xml_of(msg, must_understand=False)
    assert "mustUnderstand" not in text and "<CancelReq>" in text
    gb = mm7.encode_envelope(mm7.SubmitReq(recipients=["1"], subject="镕"), transaction_id="t", version="REL-6-MM7-1-0",
                    style=mm7.XmlStyle(encoding="GB2312"))
    assert gb.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    assert b"&#38229;" in gb  # not in GB2312: written as a character reference
    assert mm7.decode_envelope(gb, strict=True).body.subject == "镕"
    with pytest.raises(ValueError):
        mm7.XmlStyle(envelope_prefix="not a prefix")
    with pytest.raises(LookupError):
        mm7.XmlStyle(encoding="klingon")


def test_empty_sender_identification_is_written():
    text = xml_of(mm7.CancelReq(message_id="1"))
    assert "<SenderIdentification/>" in text
    assert parse_xml(text.encode()).root is not None


def test_status_text_defaults_to_the_standard_text():
    assert mm7.Status(2007).text == "Message format corrupt"
    assert mm7.Status(9999).text == "Unknown status"
    assert mm7.Status(4101).text == "General service error"


def test_encode_rejects_non_messages():
    with pytest.raises(TypeError):
        mm7.encode_envelope("SubmitReq", transaction_id="t", version="REL-6-MM7-1-4")


def test_an_address_given_as_a_string_after_construction_is_parsed_by_both_engines():
    v = mm7.versions.get("REL-6-MM7-1-4")
    msg = mm7.SubmitReq(vaspid="1", recipients=["+8613800138000"])
    msg.sender_address = "1065888"  # assigned later, so __post_init__ never saw it
    msg.recipients.cc.append("someone@example.com")
    data = mm7.encode_envelope(msg, transaction_id="t", version=v)
    assert data == mm7.encode_envelope(msg, transaction_id="t", version=v, engine="xsdata")
    back = mm7.decode_envelope(data, strict=True).body
    assert back.sender_address == mm7.Address("1065888")
    assert back.recipients.cc == [mm7.Address("someone@example.com", mm7.AddressKind.RFC2822)]


@pytest.mark.parametrize("engine", ["direct", "xsdata"])
def test_characters_xml_cannot_carry_are_refused_in_the_header_and_in_faults(engine):
    v = mm7.versions.get("REL-6-MM7-1-4")
    with pytest.raises(mm7.EncodeError, match="U\\+0001"):
        mm7.encode_envelope(mm7.DeliverRsp(), transaction_id="t\x01", version=v, engine=engine, validate=False)
    with pytest.raises(mm7.EncodeError, match="faultstring: character U\\+0008"):
        mm7.encode_envelope(mm7.Fault(string="bad\x08"), transaction_id="t", version=v, engine=engine, validate=False)


@pytest.mark.parametrize("engine", ["direct", "xsdata"])
def test_an_empty_address_is_refused(engine):
    # The schema's string types take "", but nobody can be sent to (or from) an empty address.
    v = mm7.versions.get("REL-6-MM7-1-4")
    for msg in (mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000000", " "])),
                mm7.DeliverReq(sender=""), mm7.SubmitReq(recipients=mm7.Recipients(bcc=[mm7.ShortCode("")]))):
        with pytest.raises(mm7.EncodeError, match="empty .* address"):
            mm7.encode_envelope(msg, transaction_id="t", version=v, engine=engine)


@pytest.mark.parametrize("engine", ["direct", "xsdata"])
def test_the_extended_responses_carry_only_the_status_code(engine, caplog):
    """Their Status has a StatusCode alone: a StatusText or Details given is, as any other field the
    schema lacks, an UnsupportedFieldError, or dropped with a warning on request (a StatusText of
    the caller's own was left out without a word); the code's own text, which Status fills in, is
    no loss, and goes unsaid."""
    for rsp in (mm7.ExtendedCancelRsp(status=mm7.Status(2005)),
                mm7.ExtendedReplaceRsp(status=mm7.Status(2005), message_id="m-10")):
        data = mm7.encode_envelope(rsp, transaction_id="t", version="REL-6-MM7-1-4", engine=engine)
        assert b"<Status><StatusCode>2005</StatusCode></Status>" in data
        assert mm7.decode_envelope(data, strict=True, engine=engine).body.status.code == 2005
        for field, value in (("text", "no such message"), ("details", "m-9")):
            given = dataclasses.replace(rsp, status=dataclasses.replace(rsp.status, **{field: value}))
            path = "StatusText" if field == "text" else "Details"
            with pytest.raises(mm7.UnsupportedFieldError, match=f"Status/{path} does not exist in REL-6-MM7-1-4") as err:
                mm7.encode_envelope(given, transaction_id="t", version="REL-6-MM7-1-4", engine=engine)
            assert err.value.field == field
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="mm7bind.binding"):
                dropped = mm7.encode_envelope(given, transaction_id="t", version="REL-6-MM7-1-4", engine=engine,
                                              style=mm7.XmlStyle(drop_unsupported=True))
            assert dropped == data and "dropped" in caplog.text and f"(field {field})" in caplog.text


@pytest.mark.parametrize("engine", ["direct", "xsdata"])
def test_an_address_id_used_twice_is_refused(engine):
    """The address `id` is an xs:ID: one value names one element of the document. libxml2 checks
    that only when it validates a whole tree, not while it parses (the encoder's own check), so a
    message giving two addresses one id left here valid and was refused by validating peers."""
    v = mm7.versions.get("REL-6-MM7-1-4")
    first, second = mm7.Number("+8613800000000", id="r1"), mm7.Number("+8613800000001", id="r1")
    for msg in (mm7.SubmitReq(recipients=[first, second]),
                mm7.SubmitReq(sender_address=mm7.ShortCode("1065888", id="a"),
                              recipients=mm7.Recipients(cc=[mm7.RFC2822Address("x@example.com", id="a")]))):
        with pytest.raises(mm7.EncodeError, match="id 'r1'|id 'a'"):
            mm7.encode_envelope(msg, transaction_id="t", version=v, engine=engine)
    distinct = mm7.SubmitReq(sender_address=mm7.ShortCode("1065888", id="s1"),
                             recipients=[first, mm7.Number("+8613800000001", id="r2")])
    data = mm7.encode_envelope(distinct, transaction_id="t", version=v, engine=engine)
    assert validate_element(parse_xml(data).root, v) == []
    # Where the version has no address id, ids dropped on request are not written, so not counted.
    dropping = mm7.XmlStyle(drop_unsupported=True)
    data = mm7.encode_envelope(mm7.SubmitReq(recipients=[first, second]), transaction_id="t",
                               version="REL-5-MM7-1-5", engine=engine, style=dropping)
    assert b"r1" not in data


@pytest.mark.parametrize("content_id", ['a"b@sp', "a\\b@sp"])
def test_a_root_content_id_with_a_quote_or_backslash_is_escaped_in_start(content_id):
    content = mm7.Content(parts=[mm7.Part.from_bytes(b"GIF89a" + bytes(20), content_id=content_id), mm7.Part.text("hi")],
                          multipart_type="related")
    for profile in (CMCC, mm7.STANDARD.replace(soap_content_id=content_id.replace("@", "-soap@"))):
        out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=content), transaction_id="t",
                         profile=profile)
        env = mm7.decode(out.to_bytes(), out.content_type)
        assert env.deviations == []  # (the start parameters, read back, name the parts they should)
        got = env.body.content
        assert got.parts == content.parts and got.multipart_type == "related"


@pytest.mark.parametrize(("content_id", "url", "href"), [
    ("100%41.gif", "cid:100%2541.gif", "cid:all 100%2541.gif"), ("100%.gif", "cid:100%.gif", "cid:all 100%25.gif"),
    ("my picture@sp", "cid:my picture@sp", "cid:all my picture@sp"),
    # (beyond ASCII: the header its UTF-8 escapes, the SMIL's URL that same string, `content.wire_id`)
    ("新年.gif", "cid:%E6%96%B0%E5%B9%B4.gif", "cid:all %25E6%2596%25B0%25E5%25B9%25B4.gif")])
def test_the_cid_urls_of_the_href_and_the_smil_name_their_parts_whatever_the_id(content_id, url, href):
    # Readers percent-decode a cid: URL (RFC 2392; ours): "cid:100%41.gif" would name the part
    # 100A.gif. Handsets compare it as written: what reads the same to both goes as it is. The
    # href is an xs:anyURI, read by MMSCs: each "%" escaped ("100%.gif" was refused as invalid).
    picture = mm7.Part.from_bytes(b"GIF89a" + bytes(20), content_id=content_id)
    content = mm7.Content(parts=[picture, mm7.Part.text("hi")], content_id="all " + content_id)
    out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=content), transaction_id="t")
    data = out.to_bytes()
    env = mm7.decode(data, out.content_type)
    assert env.deviations == []  # (no href-dangling: the href names the content)
    got = env.body.content
    sent_id = mm7.content.wire_id(content_id)
    assert got.parts[1:] == content.parts[1:] and got.content_id == "all " + sent_id
    assert got.parts[0].content_id == sent_id and got.by_id(content_id) is got.parts[0]
    sources = mm7.content.smil_references(got.smil)
    assert sources[0] == url and got.by_id(sources[0]).data == picture.data  # (the generated SMIL's slide shows the picture)
    assert env.body.content_ref.href == href


def test_content_holding_a_fixed_boundary_is_refused(tmp_path):
    # China Mobile's SDK boundaries are public: a Subject or a text with one would end its part
    # there, and what follows would be parts of the writer's choosing.
    injected = "\n--SubPart_7452684322002_77645\r\nContent-Type: image/gif\r\n\r\nGIF89a"
    (tmp_path / "big.txt").write_bytes(b"x" * 300_000 + injected.encode() + b"x" * 300_000)  # (read in chunks)
    cases = [("x\n----NextPart_0_2817_24856\nContent-Type: text/plain\n\nboo", mm7.Part.text("hi")),
             ("ok", mm7.Part.text("hello" + injected)), ("ok", mm7.Part.from_file(tmp_path / "big.txt"))]
    for subject, part in cases:
        msg = mm7.SubmitReq(recipients=["+8613800000000"], subject=subject, content=mm7.Content(parts=[part]))
        with pytest.raises(mm7.EncodeError, match="delimiter of a boundary the profile fixes"):
            mm7.encode(msg, transaction_id="t", profile=CMCC_SDK.replace(max_message_size=None))
        mm7.encode(msg, transaction_id="t", profile=CMCC.replace(max_message_size=None))  # (random boundaries)


def test_text_near_a_fixed_boundary_or_in_base64_is_sent():
    for profile, text in [(CMCC_SDK, "-- SubPart_7452684322002_77645"),
                          (CMCC_SDK.replace(transfer_encoding="base64"), "\n--SubPart_7452684322002_77645")]:
        msg = mm7.SubmitReq(recipients=["+8613800000000"], subject="--SubPart_7452684322002_7764",
                            content=mm7.Content(parts=[mm7.Part.text(text)]))
        out = mm7.encode(msg, transaction_id="t", profile=profile)
        env = mm7.decode(out.to_bytes(), out.content_type)
        assert env.body.content.parts[0].text_value == text and env.body.subject == "--SubPart_7452684322002_7764"


@pytest.mark.parametrize("content", ["新年快乐", [mm7.Part.text("新年快乐")]])
def test_content_that_is_no_content_is_an_encode_error(content):
    msg = mm7.SubmitReq(recipients=["+8613800000000"], content=content)
    with pytest.raises(mm7.EncodeError, match=f"SubmitReq.content must be a Content, not {type(content).__name__}"):
        mm7.encode(msg, transaction_id="t")


@pytest.mark.parametrize("field", ["filename", "content_location", "content_id"])
def test_a_name_with_a_lone_surrogate_is_an_encode_error(field):
    # (what os.listdir gives for bytes it cannot read, or JSON's "\udcd0": no charset writes it)
    part = mm7.Part.from_bytes(b"GIF89a" + bytes(20), **{field: "\udcd0\udcc2.gif"})
    msg = mm7.SubmitReq(recipients=["+8613800000000"], content=mm7.Content(parts=[part]))
    for names in ("rfc2231", "rfc2047"):
        with pytest.raises(mm7.EncodeError, match="lone surrogate"):
            mm7.encode(msg, transaction_id="t", profile=mm7.Profile(filename_encoding=names))


def test_a_profile_without_content_href_writes_no_href_the_message_brought():
    # A DeliverReq's content and href, sent on: the href names a part of that message alone.
    msg = mm7.SubmitReq(recipients=["+8613800000000"], content=mm7.Content(parts=[mm7.Part.text("hi")]),
                        content_ref=mm7.ContentRef(href="cid:forwarded@mmsc", allow_adaptations=False))
    out = mm7.encode(msg, transaction_id="t", profile=CMCC_SDK)
    env = mm7.decode(out.to_bytes(), out.content_type)
    assert b"<Content" not in out.to_bytes() and env.body.content.parts[0].text_value == "hi"
    assert msg.content_ref.href == "cid:forwarded@mmsc"  # (the caller's message unchanged)
    out = mm7.encode(msg, transaction_id="t", profile=CMCC)  # (with an href: this message's own)
    assert mm7.decode(out.to_bytes(), out.content_type).body.content_ref.href == "cid:" + out.content.content_id


def test_more_parts_than_readers_take_are_refused_unless_the_profile_raises_the_limit():
    # 2 (the SOAP part, the content's multipart) + the parts: our reader's limit is on all of them.
    def content(n: int) -> mm7.Content:
        return mm7.Content(parts=[mm7.Part.text(f"t{i}") for i in range(n)])

    def send(n: int, profile: mm7.Profile) -> mm7.HttpMessage:
        return mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=content(n)), transaction_id="t",
                          profile=profile)

    out = send(254, mm7.Profile(auto_smil=False))
    assert len(mm7.decode(out.to_bytes(), out.content_type).body.content.parts) == 254
    with pytest.raises(mm7.EncodeError, match=r"257 MIME parts .* more than the 256 .*Profile\.max_parts"):
        send(255, mm7.Profile(auto_smil=False))
    with pytest.raises(mm7.EncodeError, match="with the SMIL"):  # a generated SMIL is a part too
        send(254, mm7.STANDARD)
    out = send(300, mm7.Profile(max_parts=303))  # with the SMIL
    env = mm7.decode(out.to_bytes(), out.content_type, limits=mm7.MimeLimits(max_parts=303))
    assert len(env.body.content.parts) == 300
    send(300, mm7.Profile(max_parts=None))
    with pytest.raises(ValueError, match="max_parts"):
        mm7.Profile(max_parts=2)


def test_a_content_id_longer_than_a_header_line_is_refused_and_a_long_start_folded():
    """A caller's Content-ID went out as it was, on a `Content-ID:` line of any length and in the
    content's `start=` parameter, past the 998 characters a line may have (RFC 5322 §2.1.1): a
    mail-grade MIME reader, or a gateway, cuts or refuses such a line. An id cannot be folded (no
    white space in it); the parameters around it can."""
    def sent(part_id: str, **content) -> tuple[bytes, mm7.Envelope]:
        body = mm7.Content(**content)
        body.add_text("hi").content_id = part_id
        body.add_bytes(b"GIF89a", "image/gif")
        out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=body), transaction_id="t",
                         profile=mm7.Profile(auto_smil=False))
        data = out.to_bytes()
        return data, mm7.decode(data, out.content_type, strict=True)

    longest = "a" * 984  # ("Content-ID: <" and ">" make 998)
    data, env = sent(longest, multipart_type="related")  # the root: named by start= too
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert env.body.content.parts[0].content_id == longest and env.body.content.multipart_type == "related"
    assert env.deviations == []
    data, env = sent("b" * 900)  # (mixed: no start=)
    assert max(len(line) for line in data.split(b"\r\n")) <= 998 and env.body.content.parts[0].content_id == "b" * 900
    for content_id, content in (("a" * 985, {}), ("c" * 3000, {"multipart_type": "related"})):
        with pytest.raises(mm7.EncodeError, match=f"a Content-ID of {len(content_id)} characters .* too long"):
            sent(content_id, **content)
    with pytest.raises(mm7.EncodeError, match="escaped as the start parameter, is too long"):
        sent("d" * 960 + '"' * 20, multipart_type="related")  # (each " written \")
    with pytest.raises(mm7.EncodeError, match="the content: a Content-ID of 990 characters"):
        sent("e", content_id="e" * 990)


def test_a_media_type_longer_than_a_header_line_is_refused_as_a_long_content_id_is():
    """An absurdly long media type (a part's, forwarded from a peer, or a multipart subtype) went
    out on a Content-Type line past 998 characters, which a reader cuts or refuses."""
    def sent(ctype: str = "image/gif", charset: str | None = None, **content) -> bytes:
        body = mm7.Content(**content)
        part = body.add_bytes(b"GIF89a", ctype)
        if charset:
            part.content_type, part.charset = "text/plain", charset
        out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=body), transaction_id="t",
                         profile=mm7.Profile(auto_smil=False))
        return out.to_bytes()

    fits = "image/" + "x" * (998 - len("Content-Type: image/"))
    assert max(len(line) for line in sent(fits).split(b"\r\n")) == 998
    for ctype in (fits + "x", "image/" + "y" * 5000):
        with pytest.raises(mm7.EncodeError, match=f"a part: a content type of {len(ctype)} characters .* too long for "
                                                  "one header line \\(998 characters, RFC 5322\\)"):
            sent(ctype)
    with pytest.raises(mm7.EncodeError, match="the text/plain part: a charset of 990 characters .* too long"):
        sent(charset="c" * 990)
    with pytest.raises(mm7.EncodeError, match="the content: a multipart type of 990 characters .* too long"):
        sent(multipart_type="m" * 990)


@pytest.mark.parametrize("engine", ["direct", "xsdata"])
def test_a_number_with_more_digits_than_python_writes_is_refused_as_an_encode_error(engine):
    # Python refuses to write (or read) an int of more than 4300 digits with a plain ValueError.
    def encode(msg):
        return mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4", engine=engine)

    huge, digits = 10**5000, "9" * 5000
    for msg, where in [
        (mm7.SubmitRsp(status=mm7.Status(huge), message_id="1"), "StatusCode"),
        (mm7.SubmitReq(recipients=["1"], reply_charging=mm7.ReplyCharging(size=huge)), "replyChargingSize"),
        (mm7.SubmitReq(recipients=["1"], reply_charging=mm7.ReplyCharging(size=digits)), "replyChargingSize"),
        (mm7.SubmitReq(recipients=["1"], delivery_condition=[digits]), "DeliveryCondition/DC"),
    ]:
        with pytest.raises(mm7.EncodeError, match=f"{where}: a number of .*digits is more than can be written"):
            encode(msg)
    # a digit int() does not read ("²" is one to str.isdigit) is named as not a number
    with pytest.raises(mm7.EncodeError, match="replyChargingSize: '²' is not a number"):
        encode(mm7.SubmitReq(recipients=["1"], reply_charging=mm7.ReplyCharging(size="²")))
    # a long number within the limit still goes out as it is
    assert b'replyChargingSize="' + b"9" * 4000 + b'"' in encode(
        mm7.SubmitReq(recipients=["1"], reply_charging=mm7.ReplyCharging(size="9" * 4000)))


# A peer's spelling of the MM7 namespace (Profile.namespace): an explicit opt-in, checked as the version's.

REL5_1_2 = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2"


def test_a_profile_namespace_is_what_the_header_and_body_are_written_in():
    profile = mm7.STANDARD.replace(version="REL-5-MM7-1-2", namespace=REL5_1_2 + "/")
    data = mm7.encode(mm7.CancelReq(vaspid="v", message_id="1"), transaction_id="t", profile=profile).to_bytes()
    root = parse_xml(data).root
    header, body = root
    assert header[0].tag == "{%s/}TransactionID" % REL5_1_2 and body[0].tag == "{%s/}CancelReq" % REL5_1_2
    assert REL5_1_2.encode() + b'"' not in data  # (the version's own spelling is nowhere)
    env = mm7.decode(data, "text/xml")
    assert env.version.name == "REL-5-MM7-1-2" and env.namespace == REL5_1_2 + "/"
    assert [d.code for d in env.deviations] == ["namespace-spelling"]
    # By default, and for another version than the profile's, the schema's own namespace.
    plain = mm7.encode(mm7.CancelReq(vaspid="v", message_id="1"), transaction_id="t",
                       profile=mm7.STANDARD.replace(version="REL-5-MM7-1-2")).to_bytes()
    assert parse_xml(plain).root[1][0].tag == "{%s}CancelReq" % REL5_1_2
    other = mm7.encode(mm7.CancelReq(vaspid="v", message_id="1"), transaction_id="t", version="REL-6-MM7-1-4",
                       profile=profile).to_bytes()
    assert parse_xml(other).root[1][0].tag == "{%s}CancelReq" % REL5_1_2.replace("REL-5-MM7-1-2", "REL-6-MM7-1-4")


def test_a_message_in_a_profile_namespace_is_still_checked_against_the_schema():
    profile = mm7.STANDARD.replace(version="REL-5-MM7-1-2", namespace=REL5_1_2.lower())
    with pytest.raises(mm7.EncodeError, match="REL-5-MM7-1-2"):  # (a Rel-6 operation: not in the schema)
        mm7.encode(mm7.ExtendedCancelReq(vaspid="v", cancel_id="1"), transaction_id="t", profile=profile)
    with pytest.raises(mm7.EncodeError):
        mm7.encode(mm7.SubmitReq(vaspid="v", recipients=["+1"], priority="Urgent"), transaction_id="t",
                   profile=profile)


@pytest.mark.parametrize("namespace", ["", " " + REL5_1_2, "http://example.com/mm7", "http://a b/REL-5-MM7-1-2",
                                       REL5_1_2.replace("1-2", "1-0"), REL5_1_2.replace("1-2", "1-0") + "/"])
def test_a_profile_namespace_must_be_an_mm7_namespace_of_its_version(namespace):
    with pytest.raises(ValueError, match="namespace"):
        mm7.STANDARD.replace(version="REL-5-MM7-1-2", namespace=namespace)


def test_a_profile_of_a_version_we_do_not_have_is_refused_when_made():
    """`Profile(version="REL-9")` was taken, and every encode and send made with it then failed
    with a KeyError; its other settings are checked when it is made."""
    with pytest.raises(ValueError, match="unknown MM7 schema version 'REL-9'"):
        mm7.Profile(version="REL-9")
    with pytest.raises(ValueError, match="REL-6-MM7-1-9"):
        mm7.STANDARD.replace(version="REL-6-MM7-1-9")
    assert mm7.Profile(version="5-1-2").version == "5-1-2"  # (the short forms `versions.get` takes)


def test_the_receiver_answers_in_the_callers_namespace_not_the_profiles():
    profile = mm7.STANDARD.replace(version="REL-5-MM7-1-2", namespace=REL5_1_2 + "/")
    request = mm7.encode(mm7.DeliveryReportReq(message_id="m", recipient="+1", sender="+2",
                                               date=datetime(2024, 1, 1, tzinfo=timezone.utc),
                                               mm_status=mm7.DeliveryStatus.RETRIEVED),
                         transaction_id="t", version="REL-5-MM7-1-2").to_bytes()
    rsp = mm7.Receiver(mm7.Handler(), profile=profile).handle(request, "text/xml")
    back = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
    assert back.namespace is None and back.deviations == [] and back.body.status.code == 1000


def test_each_message_class_has_its_own_addresses_checked():
    """The fields looked at for addresses are worked out once per class: a subclass's own address
    field is checked after its base class's message was encoded, and the base's not after it."""
    import dataclasses

    @dataclasses.dataclass
    class Relayed(mm7.SubmitReq):
        via: mm7.Address | None = None

    mm7.encode(mm7.SubmitReq(recipients=["1"]), transaction_id="t")
    with pytest.raises(mm7.EncodeError, match=r"^via: the address '1\\n2'"):
        mm7.encode(Relayed(recipients=["1"], via=mm7.Number("1\n2")), transaction_id="t")
    with pytest.raises(mm7.EncodeError, match=r"^sender_address: the address '3\\x7f'"):
        mm7.encode(mm7.SubmitReq(recipients=["1"], sender_address=mm7.Number("3\x7f")), transaction_id="t")
    mm7.encode(mm7.SubmitReq(recipients=["1"]), transaction_id="t")  # (no via read on a SubmitReq)


def test_content_given_the_part_add_text_returns_says_how_to_make_the_content():
    """`content=mm7.Content().add_text("hi")` reads as a chain, but add_text returns the part it adds:
    the error said "Content().add_text(...) a text", as if that were what to write."""
    msg = mm7.SubmitReq(recipients=["+8613800000000"], content=mm7.Content().add_text("hi"))
    with pytest.raises(mm7.EncodeError) as err:
        mm7.encode(msg, transaction_id="t")
    assert str(err.value).startswith("SubmitReq.content must be a Content, not a Part (Content().add_text(...) "
                                     "returns the part it adds: make the Content first"), err.value


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x1f", "\x7f", "\x85", "\x9f", "\u2028", "\u2029", "\ud800",
                                  "\udfff", "\ufffe", "\uffff"])
def test_each_character_an_address_may_not_hold_is_refused_among_good_addresses(char):
    """The addresses of a message are looked at in one search of them all first: each character
    `address_problem` refuses still is, in any of them, told by that address's name."""
    for where, msg in (
        ("to[3]", mm7.SubmitReq(recipients=["+8613800000000", "+8613800000001", f"1{char}2"])),
        ("cc[1]", mm7.SubmitReq(recipients=mm7.Recipients(to=["1"], cc=[mm7.ShortCode(f"10{char}")]))),
        ("sender_address", mm7.SubmitReq(recipients=["1"], sender_address=mm7.Number(f"{char}1065"))),
    ):
        with pytest.raises(mm7.EncodeError, match=rf"^{re.escape(where)}: the address .* \(U\+{ord(char):04X}\)"):
            mm7.encode(msg, transaction_id="t")
        if char in "\x7f\x85\x9f\u2028\u2029":  # (XML carries these: the codec refuses them in a request)
            continue
        with pytest.raises(mm7.EncodeError, match=rf"^{re.escape(where)}: .*U\+{ord(char):04X}"):
            mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4", validate=False)


def test_an_address_xml_cannot_carry_is_refused_in_a_message_the_codec_does_not_check_as_a_request():
    """The codec checks a request's addresses and tells the envelope writer so, which then does
    not look again; an MMSC's message (a DeliverReq) is not checked there, and still is here."""
    for char in ("\x00", "\ufffe", "\ud800"):
        msg = mm7.DeliverReq(sender=mm7.Number(f"1{char}2"), recipients=["+8613800000000"])
        with pytest.raises(mm7.EncodeError, match=rf"^sender: the address .*U\+{ord(char):04X}"):
            mm7.encode(msg, transaction_id="t")
    assert b"<Number>1\x7f2</Number>" in mm7.encode(  # (XML carries DEL: an MMSC's message goes as it is)
        mm7.DeliverReq(sender=mm7.Number("1\x7f2"), recipients=["+8613800000000"]), transaction_id="t").to_bytes()
