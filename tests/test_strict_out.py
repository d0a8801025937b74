"""Strict out, swept: every message type of every version, filled with hostile but legal values
(markup characters, quotes in attributes, line ends, characters beyond the BMP and beyond what the
encoding holds), in every encoding and prefix style and both engines, is written schema-valid and
read back equal; characters XML 1.0 cannot carry are refused naming the field; datetimes keep their
instant and durations their length at the edges. Values are drawn from a seeded generator: a
failure names its seed and reproduces."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta, timezone, tzinfo

import pytest
from lxml import etree

import mm7bind as mm7
from mm7bind import messages as m
from mm7bind.validation import schema_for

from .builders import full_message

VERSIONS = mm7.versions.all_versions()
CASES = [(v, cls) for v in VERSIONS for cls in m.MESSAGE_TYPES.values() if v.element_class(cls.ELEMENT) is not None]
ENCODINGS = ["UTF-8", "GB2312", "GBK", "GB18030"]
STYLES = [mm7.XmlStyle(encoding=e, envelope_prefix=p, mm7_prefix=q)
          for e in ENCODINGS for p, q in (("env", None), ("SOAP-ENV", "mm7"), ("soapenv", "m-7.x"))] + [
    # without the declaration: the encoding is the charset parameter's
    mm7.XmlStyle(encoding=e, xml_declaration=False, must_understand=False, mm7_prefix="mm7") for e in ENCODINGS[::3]]

# Pieces of hostile text: markup, what looks like an escape or a CDATA end, quotes, line ends and
# tabs (kept as sent: CR is written as a reference), no-break and odd spaces, a C1 control and DEL
# (legal in XML 1.0), characters beyond the BMP, and ones GB2312 or GBK lack (written as references).
PIECES = ["&", "<", ">", "]]>", "<![CDATA[x]]>", '"', "'", "&amp;", "&#13;", "\r\n", "\r", "\n", "\t", " ", "\u00a0",
          "\u3000", "\x7f", "\x85", "\u2028", "😀", "𠮷", "\U0010fffd", "中文", "€", "ñ", "\ufeff", "\ufffd", "ok", "-->",
          "\u30fb", "\u2015", "\u00b7", "\u2014"]
# Addresses of a request may not hold control characters (messages.address_problem): the rest go.
ADDRESS_PIECES = [p for p in PIECES if not any(c in p for c in "\r\n\t\x7f\x85\u2028")]
FORBIDDEN = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"]
NOT_TEXT = {"mm7_version", "expiry_date"}  # a version string the schema enumerates; a time


def hostile(rng: random.Random, pieces=PIECES, most=8) -> str:
    text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, most)))
    return text if text.strip() else text + "x"  # (an address or a TransactionID of white space alone is no value)


def text_fields(msg: m.Message) -> list[str]:
    return [f.name for f in dataclasses.fields(msg) if type(getattr(msg, f.name)) is str and f.name not in NOT_TEXT]


def hostile_message(cls, version, rng: random.Random) -> m.Message:
    """The builder's full message with hostile text in every text field, address and status."""
    msg = full_message(cls, version)
    changes: dict = {name: hostile(rng) for name in text_fields(msg)}

    def address(a: mm7.Address) -> mm7.Address:
        return dataclasses.replace(a, value=hostile(rng, ADDRESS_PIECES).strip() or "x")

    if isinstance(getattr(msg, "recipients", None), mm7.Recipients):
        r = msg.recipients
        changes["recipients"] = mm7.Recipients(to=[address(a) for a in r.to], cc=[address(a) for a in r.cc],
                                               bcc=[address(a) for a in r.bcc])
    for name in ("sender_address", "sender", "recipient"):
        if isinstance(getattr(msg, name, None), mm7.Address):
            changes[name] = address(getattr(msg, name))
    if getattr(msg, "service_code_attributes", None):
        changes["service_code_attributes"] = {k: hostile(rng) for k in msg.service_code_attributes}
    status = getattr(msg, "status", None)
    if isinstance(status, mm7.Status) and status.details_xml:  # text, details and attributes all written
        # (Details is mixed content: its text, white space and all, reads back as sent)
        changes["status"] = mm7.Status(status.code, hostile(rng), details=hostile(rng),
                                       details_attributes={k: hostile(rng) for k in status.details_attributes})
    return dataclasses.replace(msg, **changes)


def assert_valid(data: bytes, version: mm7.Version, style: mm7.XmlStyle) -> None:
    """Well-formed in the encoding it declares (or the charset parameter would name), and valid
    against the version's schema with lxml."""
    text = data.decode(style.encoding)  # (strict: every byte is the encoding's)
    if style.xml_declaration:
        assert data.startswith(f'<?xml version="1.0" encoding="{style.encoding}"?>'.encode())
    else:
        assert text.startswith("<") and not text.startswith("<?xml")
        data = text.encode()  # (as a reader told the charset reads it)
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    schema = schema_for(version)
    assert schema.validate(root), schema.error_log


@pytest.mark.parametrize(("version", "cls"), CASES, ids=[f"{v.name}-{c.ELEMENT}" for v, c in CASES])
def test_hostile_text_in_every_field_is_written_valid_and_read_back_equal(version, cls):
    for seed, style in enumerate(STYLES):
        rng = random.Random(f"{version.name}/{cls.ELEMENT}/{seed}")
        msg = hostile_message(cls, version, rng)
        tid = hostile(rng).strip() or "t"
        data = mm7.encode_envelope(msg, transaction_id=tid, version=version, style=style)
        assert_valid(data, version, style)
        env = mm7.decode_envelope(data, strict=True, charset_hint=style.encoding)
        assert (env.transaction_id, env.body) == (tid, msg), f"seed {seed}, {style}"
        assert env.deviations == []
        assert mm7.encode_envelope(msg, transaction_id=tid, version=version, style=style, engine="xsdata") == data
        assert mm7.decode_envelope(data, strict=True, engine="xsdata", charset_hint=style.encoding).body == msg


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
def test_faults_with_hostile_text_are_written_valid_and_read_back_equal(version):
    for seed, style in enumerate(STYLES):
        rng = random.Random(f"{version.name}/fault/{seed}")
        for detail_cls in (mm7.RSErrorRsp, mm7.VASPErrorRsp):
            detail = hostile_message(detail_cls, version, rng)
            # (faultstring is an xs:string, read as sent; faultactor is a URI)
            fault = mm7.Fault(code=rng.choice(["Client", "Server"]), string=hostile(rng),
                              actor=f"http://mmsc.example/mm7?a={seed}&b='<{seed}>'", detail=detail)
            data = mm7.encode_envelope(fault, transaction_id="f-1", version=version, style=style)
            assert_valid(data, version, style)
            assert mm7.decode_envelope(data, strict=True, charset_hint=style.encoding).body == fault, f"seed {seed}"
            assert mm7.encode_envelope(fault, transaction_id="f-1", version=version, style=style, engine="xsdata") == data


def test_a_long_subject_with_every_hostile_piece_goes_whole():
    version = mm7.versions.get("REL-6-MM7-1-4")
    subject = "".join(PIECES) * 2000
    for style in STYLES[::3]:
        msg = mm7.SubmitReq(mm7_version="6.8.0", recipients=["+8613800000000"], subject=subject)
        data = mm7.encode_envelope(msg, transaction_id="long", version=version, style=style, validate="always")
        assert_valid(data, version, style)
        assert mm7.decode_envelope(data, strict=True).body.subject == subject


@pytest.mark.parametrize("engine", ["direct", "xsdata"])
def test_characters_gb2312_writes_as_gbks_others_go_as_character_references(engine):
    # Python's GB2312 writes U+30FB as A1A4 and U+2015 as A1AA, which GBK and GB18030 (how readers
    # take GB2312, ours too) read as U+00B7 and U+2014: the MMSC got another character.
    msg = mm7.SubmitReq(mm7_version="6.8.0", recipients=["1"], subject="a\u30fbb\u2015c\u00b7d\u2014e")
    data = mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4", engine=engine,
                               style=mm7.XmlStyle(encoding="GB2312"))
    assert b"<Subject>a&#12539;b&#8213;c&#183;d&#8212;e</Subject>" in data
    assert mm7.decode_envelope(data, strict=True).body == msg
    assert etree.fromstring(data).findtext(".//{*}Subject") == msg.subject  # (libxml2's own GB2312 alike)


def test_characters_an_encoding_lacks_go_as_character_references():
    msg = mm7.SubmitReq(mm7_version="6.8.0", recipients=["1"], subject="中€😀")
    for encoding, references in (("GB2312", [b"&#8364;", b"&#128512;"]), ("GBK", [b"&#8364;", b"&#128512;"]),
                                 ("GB18030", []), ("UTF-8", [])):
        data = mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4",
                                   style=mm7.XmlStyle(encoding=encoding))
        assert [r for r in (b"&#8364;", b"&#128512;") if r in data] == references, encoding
        assert "中".encode(encoding) in data
        assert mm7.decode_envelope(data, strict=True).body.subject == "中€😀"


NAMES = [  # (Status fields, the name that holds the character)
    ({"details_xml": "<v:reasonñ xmlns:v='urn:v'>x</v:reasonñ>"}, "reasonñ"),
    ({"details_xml": "<a bñ='1'>x</a>"}, "bñ"),
    ({"details": "x", "details_attributes": {"{urn:v}refñ": "1"}}, "refñ"),
    ({"details_xml": "<a\u30fb>x</a\u30fb>"}, "a\u30fb"),
]


@pytest.mark.parametrize("engine", ["direct", "xsdata"])
@pytest.mark.parametrize("encoding", ["GB2312", "GBK"])
def test_a_name_the_encoding_lacks_a_character_of_is_refused_naming_it(encoding, engine):
    # A name takes no character reference: written as one, the envelope was malformed (lxml's raw
    # XMLSyntaxError from the check, or sent so with validate=False).
    for fields, name in NAMES:
        msg = mm7.SubmitRsp(mm7_version="6.8.0", message_id="m", status=mm7.Status(4000, "t", **fields))
        for validate in (True, False):
            with pytest.raises(mm7.EncodeError, match=f"name '.*{name}' cannot be written in {encoding}"):
                mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4", engine=engine, validate=validate,
                                    style=mm7.XmlStyle(encoding=encoding))
        data = mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4", engine=engine,
                                   style=mm7.XmlStyle(encoding="GB18030"))
        assert mm7.decode_envelope(data, strict=True).body == msg
    # in values the same characters go as references
    msg = mm7.SubmitRsp(mm7_version="6.8.0", message_id="m", status=mm7.Status(
        4000, "t", details_xml="<a b='ñ\u30fb&gt;'>ñ\u30fb</a>", details_attributes={"k": "ñ\u30fb"}))
    data = mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4", engine=engine,
                               style=mm7.XmlStyle(encoding=encoding))
    assert mm7.decode_envelope(data, strict=True).body == msg


@pytest.mark.parametrize("encoding", ENCODINGS[1:])
def test_an_undeclared_encoding_is_checked_as_its_charset_parameter_names_it(encoding):
    # Without a declaration the bytes are named by the charset parameter alone. A message that
    # needs the schema check (a TimeStamp) with text beyond ASCII was checked as UTF-8 and failed
    # with lxml's own "Invalid bytes" error instead of going out.
    msg = mm7.SubmitReq(mm7_version="6.8.0", recipients=["1"], subject="中文 <&>",
                        time_stamp=datetime(2024, 1, 1, tzinfo=timezone.utc))
    style = mm7.XmlStyle(encoding=encoding, xml_declaration=False)
    for validate in (True, "always"):
        data = mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4", style=style, validate=validate)
        assert data.startswith(b"<env:Envelope") and "中文".encode(encoding) in data
        assert mm7.decode_envelope(data, strict=True, charset_hint=encoding).body == msg
    http = mm7.encode(msg, transaction_id="t", profile=mm7.Profile(xml=style))
    assert mm7.decode(http.to_bytes(), http.content_type, strict=True).body == msg
    # and what is invalid is still said in the schema's words
    bad = dataclasses.replace(msg, time_stamp=datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=15))))
    with pytest.raises(mm7.EncodeError, match="TimeStamp"):
        mm7.encode_envelope(bad, transaction_id="t", version="REL-6-MM7-1-4", style=style)


# ---------------------------------------------------------------------------------------------
# What XML cannot carry


def forbidden_placements(version: mm7.Version):
    """(label, the place the error must name, message or Fault with `bad` there) for every text field."""
    for cls in m.MESSAGE_TYPES.values():
        if version.element_class(cls.ELEMENT) is None:
            continue
        base = full_message(cls, version)
        for name in text_fields(base):
            yield f"{cls.__name__}.{name}", cls.ELEMENT, lambda bad, base=base, name=name: dataclasses.replace(
                base, **{name: getattr(base, name) + bad + "z"})
    submit = full_message(mm7.SubmitReq, version)
    yield "subject", "Subject", lambda bad: dataclasses.replace(submit, subject="s" + bad)
    # An address by the name its caller gave it, which its place in the XML (Recipients/To) does not tell.
    yield "a recipient", "to[2]: ", lambda bad: dataclasses.replace(
        submit, recipients=mm7.Recipients(to=["1", mm7.Number("2" + bad)]))
    yield "an e-mail recipient", "bcc[1]: ", lambda bad: dataclasses.replace(
        submit, recipients=mm7.Recipients(to="1", bcc=[mm7.RFC2822Address(f"a{bad}@b")]))
    yield "the sender", "sender_address: ", lambda bad: dataclasses.replace(
        submit, sender_address=mm7.ShortCode("1" + bad))
    deliver = full_message(mm7.DeliverReq, version)
    yield "a DeliverReq's sender", "sender: ", lambda bad: dataclasses.replace(deliver, sender="1" + bad + "2")
    if deliver.previously_sent_by:
        yield "an earlier forwarder", "previously_sent_by[1]: ", lambda bad: dataclasses.replace(
            deliver, previously_sent_by=[m.UserAgent(address="1" + bad + "2")])
    yield "a ServiceCode attribute", "@plan", lambda bad: dataclasses.replace(submit, service_code_attributes={"plan": bad})
    yield "the content href", "Content", lambda bad: dataclasses.replace(submit, content_ref=mm7.ContentRef(href="cid:a" + bad))
    yield "StatusText", "StatusText", lambda bad: mm7.SubmitRsp(mm7_version=version.default_mm7_version,
                                                                status=mm7.Status(1000, "ok" + bad))
    yield "faultstring", "faultstring", lambda bad: mm7.Fault(string="x" + bad)
    yield "faultactor", "faultactor", lambda bad: mm7.Fault(string="x", actor=bad)
    yield "faultcode", "faultcode", lambda bad: mm7.Fault(code="Server" + bad)
    yield "a Fault detail's StatusText", "StatusText", lambda bad: mm7.Fault(string="x", detail=mm7.RSErrorRsp(
        mm7_version=version.default_mm7_version, status=mm7.Status(3000, bad)))


@pytest.mark.parametrize("version", [VERSIONS[0], VERSIONS[-1]], ids=lambda v: v.name)
def test_characters_xml_cannot_carry_are_refused_naming_the_field(version):
    for label, place, build in forbidden_placements(version):
        for bad in FORBIDDEN:
            msg = build(bad)
            for engine in ("direct", "xsdata"):
                with pytest.raises(mm7.EncodeError) as caught:  # (validate=False: refused, not found invalid)
                    mm7.encode_envelope(msg, transaction_id="t", version=version, engine=engine, validate=False)
                said = str(caught.value)
                assert f"U+{ord(bad):04X}" in said, (label, said)
                assert place in said, (label, said)
        with pytest.raises(mm7.EncodeError, match="TransactionID.*U\\+0000"):
            mm7.encode_envelope(mm7.SubmitRsp(mm7_version=version.default_mm7_version), transaction_id="t\x00",
                                version=version)


def test_a_status_code_that_is_not_a_whole_number_is_refused():
    """int() takes True as 1 and 2000.5 as 2000: a Status so made went out with another code."""
    for code in (True, False):
        with pytest.raises(TypeError, match="bool"):
            mm7.Status(code)
        with pytest.raises(TypeError, match="bool"):
            mm7.Reject(code)
    with pytest.raises(ValueError, match="whole number"):
        mm7.Status(2000.5)
    assert mm7.Status(2000.0).code == mm7.Status("2000").code == mm7.Reject(2000).status.code == 2000
    status = mm7.Status(1000)
    status.code = True  # (set afterwards: the encoder refuses it)
    with pytest.raises(mm7.EncodeError, match="StatusCode"):
        mm7.encode_envelope(mm7.SubmitRsp(status=status, message_id="m"), transaction_id="t", version=VERSIONS[-1])


# ---------------------------------------------------------------------------------------------
# Times

HK = timezone(timedelta(hours=8))
NEPAL = timezone(timedelta(hours=5, minutes=45))
NEWFOUNDLAND = timezone(timedelta(hours=-3, minutes=-30))
# UTC offsets with seconds, as a zone's local mean time has them before standard time
# (Asia/Shanghai's +08:05:43 before 1928, America/New_York's -04:56:02 before 1883).
SHANGHAI_LMT = timezone(timedelta(hours=8, minutes=5, seconds=43))
NEW_YORK_LMT = timezone(-timedelta(hours=4, minutes=56, seconds=2))
DATETIMES = [
    datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc),
    datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=HK),
    datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=NEWFOUNDLAND),  # a year's end, not in UTC
    datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=NEPAL),  # a year's start, the previous year in UTC
    datetime(2024, 2, 29, 12, tzinfo=timezone(timedelta(hours=14))),  # the offsets' limits
    datetime(2024, 2, 29, 12, tzinfo=timezone(timedelta(hours=-14))),
    datetime(1, 1, 1, tzinfo=timezone.utc),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    datetime(1900, 1, 1, tzinfo=SHANGHAI_LMT),
    datetime(1850, 6, 1, 12, 0, 0, 500000, tzinfo=NEW_YORK_LMT),
    datetime(2024, 1, 1, tzinfo=timezone(timedelta(seconds=30))),
    datetime(2024, 6, 1, 12, 30),  # naive: local time
]


def zoned(name: str) -> list[datetime]:
    """Around DST changes and before standard time in a tz database zone (none without the data)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    try:
        zone = ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return []
    return [datetime(2024, 11, 3, 1, 30, tzinfo=zone), datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=zone),
            datetime(2024, 3, 10, 2, 30, tzinfo=zone), datetime(2024, 3, 10, 3, 0, tzinfo=zone),
            datetime(1850, 1, 1, tzinfo=zone)]


def same_instant(sent: datetime, read: datetime) -> bool:
    # (timestamp(), not ==: an aware datetime in a repeated hour equals none in another zone)
    return read.tzinfo is not None and sent.timestamp() == read.timestamp() and sent.microsecond == read.microsecond


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
def test_datetimes_keep_their_instant(version):
    when = DATETIMES + zoned("America/New_York") + zoned("Asia/Shanghai")
    for engine in ("direct", "xsdata"):
        for i, dt in enumerate(when):
            later = dt if dt.year == 9999 else dt + timedelta(days=1)
            msg = mm7.SubmitReq(mm7_version=version.default_mm7_version, recipients=["1"], time_stamp=dt,
                                earliest_delivery_time=later, expiry_date=later,
                                reply_charging=mm7.ReplyCharging(size=1, deadline=later))
            data = mm7.encode_envelope(msg, transaction_id="t", version=version, engine=engine, validate="always")
            back = mm7.decode_envelope(data, strict=True).body
            for name, sent, read in (("time_stamp", dt, back.time_stamp),
                                     ("earliest_delivery_time", later, back.earliest_delivery_time),
                                     ("expiry_date", later, back.expiry_date),
                                     ("deadline", later, back.reply_charging.deadline)):
                assert same_instant(sent, read), (i, name, sent, read, engine)
            offset = dt.utcoffset() if dt.tzinfo is not None else None
            if offset is not None and not offset % timedelta(minutes=1):
                assert back.time_stamp.utcoffset() == offset  # a whole-minute offset is kept as given


def test_a_datetime_whose_offset_has_seconds_goes_in_utc():
    msg = mm7.SubmitReq(mm7_version="6.8.0", recipients=["1"], time_stamp=datetime(1900, 1, 1, tzinfo=SHANGHAI_LMT))
    data = mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4")
    assert b"<TimeStamp>1899-12-31T15:54:17Z</TimeStamp>" in data
    # XmlStyle.timezone in such an offset too
    data = mm7.encode_envelope(dataclasses.replace(msg, time_stamp=datetime(1900, 1, 1, tzinfo=timezone.utc)),
                               transaction_id="t", version="REL-6-MM7-1-4", style=mm7.XmlStyle(timezone=NEW_YORK_LMT))
    assert b"<TimeStamp>1900-01-01T00:00:00Z</TimeStamp>" in data


def test_a_tzinfo_that_gives_no_offset_still_writes_the_time():
    class Floating(tzinfo):
        def utcoffset(self, dt):
            return None

        def dst(self, dt):
            return None

    msg = mm7.SubmitReq(mm7_version="6.8.0", recipients=["1"], time_stamp=datetime(2024, 1, 1, 12, tzinfo=Floating()))
    data = mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4")
    assert b"<TimeStamp>2024-01-01T12:00:00</TimeStamp>" in data


@pytest.mark.parametrize("offset", [timedelta(hours=14, minutes=1), timedelta(hours=-23, minutes=-59)])
def test_an_offset_beyond_fourteen_hours_is_refused_naming_the_element(offset):
    msg = mm7.SubmitReq(mm7_version="6.8.0", recipients=["1"], time_stamp=datetime(2024, 1, 1, tzinfo=timezone(offset)))
    with pytest.raises(mm7.EncodeError, match="TimeStamp"):
        mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-4")


DURATIONS = [  # (sent, read back)
    (timedelta(0), timedelta(0)),
    (timedelta(microseconds=1), timedelta(microseconds=1)),
    (timedelta(days=3650000, microseconds=1), timedelta(days=3650000, microseconds=1)),
    (timedelta.max, timedelta.max),
    (-timedelta(days=1), -timedelta(days=1)),
    (timedelta.min, timedelta.min),
    (timedelta(hours=25, minutes=61, seconds=61), timedelta(hours=25, minutes=61, seconds=61)),
    ("P1M", "P1M"),  # months and years have no fixed length: kept as text
    ("P1Y2M3DT4H5M6.789S", "P1Y2M3DT4H5M6.789S"),
    ("P0D", timedelta(0)),
    ("PT0S", timedelta(0)),
    ("-P1D", -timedelta(days=1)),
    ("PT36H", timedelta(hours=36)),
    # finer than a microsecond: no timedelta is that length (nor is zero), kept as text
    ("PT0.0000001S", "PT0.0000001S"),
    ("-PT1.0000004S", "-PT1.0000004S"),
    ("PT0.0000010S", timedelta(microseconds=1)),  # (trailing zeros are no finer)
    ("PT100000000000.000001S", timedelta(seconds=100000000000, microseconds=1)),  # (past a float's precision)
]


@pytest.mark.parametrize("version", [VERSIONS[0], VERSIONS[-1]], ids=lambda v: v.name)
@pytest.mark.parametrize(("sent", "read"), DURATIONS, ids=[str(s) for s, _ in DURATIONS])
def test_relative_times_at_the_extremes(version, sent, read):
    msg = mm7.SubmitReq(mm7_version=version.default_mm7_version, recipients=["1"], expiry_date=sent,
                        earliest_delivery_time=sent, reply_charging=mm7.ReplyCharging(size=1, deadline=sent))
    for engine in ("direct", "xsdata"):
        data = mm7.encode_envelope(msg, transaction_id="t", version=version, engine=engine, validate="always")
        back = mm7.decode_envelope(data, strict=True).body
        assert (back.expiry_date, back.earliest_delivery_time, back.reply_charging.deadline) == (read, read, read)
