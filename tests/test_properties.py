"""Property tests: random field values round-trip exactly through every encoding style."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

import mm7bind as mm7
from mm7bind.status import delivery_statuses

XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\ufffe\uffff",
                           min_codepoint=0x09).filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20),
    max_size=300,
)
NON_EMPTY = XML_TEXT.filter(lambda s: s.strip() == s and s != "")
OFFSETS = st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
DATETIMES = st.datetimes(timezones=OFFSETS).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def address(kinds=tuple(mm7.AddressKind)):
    return st.builds(mm7.Address, value=NON_EMPTY, kind=st.sampled_from(kinds), display_only=st.booleans())


@settings(max_examples=150, deadline=None)
@given(
    subject=XML_TEXT,
    to=st.lists(address(), min_size=1, max_size=8),
    cc=st.lists(address(), max_size=3),
    priority=st.sampled_from(list(mm7.Priority)),
    message_class=st.sampled_from(list(mm7.MessageClass)),
    charged_party=st.sampled_from(list(mm7.ChargedParty)),
    content_class=st.sampled_from(list(mm7.ContentClass)),
    when=DATETIMES,
    expiry=st.one_of(DATETIMES, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400))),
    size=st.integers(min_value=1, max_value=10**12),
    linked=st.one_of(st.none(), NON_EMPTY),
    style=st.sampled_from([mm7.XmlStyle(), mm7.XmlStyle(encoding="GB18030", mm7_prefix="mm7"),
                           mm7.XmlStyle(encoding="GB2312", envelope_prefix="soap-env")]),
)
def test_submit_round_trip(subject, to, cc, priority, message_class, charged_party, content_class, when, expiry,
                           size, linked, style):
    msg = mm7.SubmitReq(
        mm7_version="6.8.0", vaspid="800001", sender_address=mm7.ShortCode("1065"),
        recipients=mm7.Recipients(to=to, cc=cc), subject=subject, priority=priority,
        message_class=message_class, charged_party=charged_party, content_class=content_class,
        time_stamp=when, expiry_date=expiry, reply_charging=mm7.ReplyCharging(size=size, deadline=expiry),
        linked_id=linked,
    )
    data = mm7.encode_envelope(msg, transaction_id="p-1", version="REL-6-MM7-1-4", style=style)
    env = mm7.decode_envelope(data, strict=True)
    assert env.body == msg


@settings(max_examples=60, deadline=None)
@given(status=st.sampled_from(list(mm7.DeliveryStatus)), text=XML_TEXT,
       version=st.sampled_from(mm7.versions.all_versions()))
def test_delivery_report_statuses_by_version(status, text, version):
    msg = mm7.DeliveryReportReq(mm7_version=version.default_mm7_version, message_id="m", sender="1",
                                recipient="2", date=datetime(2024, 1, 1, tzinfo=timezone.utc),
                                mm_status=status, status_text=text or None)
    if status.value in delivery_statuses(version):
        env = mm7.decode_envelope(mm7.encode_envelope(msg, transaction_id="t", version=version), strict=True)
        assert env.body == msg
    else:
        try:
            mm7.encode_envelope(msg, transaction_id="t", version=version)
        except mm7.EncodeError as exc:
            assert status.value in str(exc)
        else:
            raise AssertionError(f"{status} should be refused in {version}")


@settings(max_examples=100, deadline=None)
@given(tid=NON_EMPTY, code=st.integers(min_value=1, max_value=99999), details=st.one_of(st.none(), NON_EMPTY))
def test_fault_round_trip(tid, code, details):
    fault = mm7.Fault(code="Server", string="e", detail=mm7.RSErrorRsp(
        mm7_version="5.3.0", status=mm7.Status(code, details=details)))
    env = mm7.decode_envelope(mm7.encode_envelope(fault, transaction_id=tid, version="REL-5-MM7-1-5"), strict=True)
    assert env.transaction_id == tid and env.body == fault


ENUM_FIELDS = [
    ("priority", mm7.Priority), ("message_class", mm7.MessageClass), ("charged_party", mm7.ChargedParty),
    ("content_class", mm7.ContentClass),
]


def test_every_enum_member_round_trips():
    for name, enum in ENUM_FIELDS:
        for member in enum:
            msg = mm7.SubmitReq(mm7_version="6.8.0", recipients=["1"], **{name: member})
            env = mm7.decode_envelope(mm7.encode_envelope(msg, transaction_id="e", version="REL-6-MM7-1-4"), strict=True)
            assert getattr(env.body, name) is member
    for member in mm7.ReadStatus:
        msg = mm7.ReadReplyReq(mm7_version="5.3.0", message_id="m", sender="1", recipient="2",
                               time_stamp=datetime(2024, 1, 1, tzinfo=timezone.utc), mm_status=member)
        assert mm7.decode_envelope(mm7.encode_envelope(msg, transaction_id="r", version="REL-5-MM7-1-0"), strict=True).body == msg
    for member in mm7.messages.AddressCoding:
        msg = mm7.CancelReq(mm7_version="6.8.0", message_id="m", recipients=[mm7.Number("1", address_coding=member)])
        assert mm7.decode_envelope(mm7.encode_envelope(msg, transaction_id="c", version="REL-6-MM7-1-4"), strict=True).body == msg


def test_long_values():
    subject = "长" * 100_000 + "<&>" * 1000
    msg = mm7.SubmitReq(mm7_version="6.3.0", recipients=[f"+86138{i:08d}" for i in range(2000)], subject=subject,
                        linked_id="L" * 10_000)
    env = mm7.decode_envelope(mm7.encode_envelope(msg, transaction_id="T" * 1000, version="REL-6-MM7-1-0",
                                style=mm7.XmlStyle(encoding="GB18030")), strict=True)
    assert env.body == msg and env.transaction_id == "T" * 1000
