"""Every version × every message type it defines: build, encode, validate, decode, compare."""

from __future__ import annotations

import pytest
from lxml import etree

import mm7bind as mm7
from mm7bind import messages as m
from mm7bind.validation import validate_element
from mm7bind.xmlsafe import parse_xml

from .builders import field_names, full_message
from .test_schema_tables import PARTS, expected_bodies

VERSIONS = mm7.versions.all_versions()
STYLES = [
    mm7.XmlStyle(),
    mm7.XmlStyle(envelope_prefix="soap-env", mm7_prefix="mm7"),
    mm7.XmlStyle(envelope_prefix="SOAP-ENV", encoding="GB2312"),
    mm7.XmlStyle(encoding="GB18030", mm7_prefix="mm7", must_understand=False),
]
CASES = [
    (v, cls)
    for v in VERSIONS
    for cls in m.MESSAGE_TYPES.values()
    if v.element_class(cls.ELEMENT) is not None
]


def test_every_version_defines_the_expected_operations():
    extended = {"extendedCancelReq", "extendedCancelRsp", "extendedReplaceReq", "extendedReplaceRsp"}
    for v in VERSIONS:
        defined = {cls.ELEMENT for cls in m.MESSAGE_TYPES.values() if v.element_class(cls.ELEMENT)}
        expected = set(m.MESSAGE_TYPES) - (set() if v.name == "REL-6-MM7-1-4" else extended)
        assert defined == expected, v.name


@pytest.mark.parametrize("style", STYLES, ids=lambda s: f"{s.envelope_prefix}-{s.mm7_prefix}-{s.encoding}")
@pytest.mark.parametrize(("version", "cls"), CASES, ids=[f"{v.name}-{c.ELEMENT}" for v, c in CASES])
def test_round_trip(version, cls, style):
    msg = full_message(cls, version)
    data = mm7.encode_envelope(msg, transaction_id="tx-001 <&>", version=version, style=style)
    assert data.startswith(f'<?xml version="1.0" encoding="{style.encoding}"?>'.encode())
    issues = validate_element(parse_xml(data).root, version)
    assert issues == [], issues
    env = mm7.decode_envelope(data, strict=True)
    assert env.version == version
    assert env.transaction_id == "tx-001 <&>"
    assert env.deviations == []
    assert env.body == msg
    # The reference engine (generated dataclasses + xsdata) writes the same bytes and reads the same message.
    assert mm7.encode_envelope(msg, transaction_id="tx-001 <&>", version=version, style=style, engine="xsdata") == data
    assert mm7.decode_envelope(data, strict=True, engine="xsdata").body == msg


def test_full_messages_really_are_full():
    """Guard the builder: a REL-6-MM7-1-4 SubmitReq sets every field the neutral class has."""
    v = mm7.versions.get("REL-6-MM7-1-4")
    msg = full_message(mm7.SubmitReq, v)
    expected = {f.name for f in m.xml_fields(mm7.SubmitReq)}
    assert expected <= field_names(msg)
    rel5 = full_message(mm7.SubmitReq, mm7.versions.get("REL-5-MM7-1-0"))
    assert "charged_party_id" not in field_names(rel5)
    assert "content_ref" in field_names(rel5)


@pytest.mark.parametrize(("version", "cls"), CASES, ids=[f"{v.name}-{c.ELEMENT}" for v, c in CASES])
def test_a_full_message_carries_every_element_its_version_has(version, cls):
    """The round trip above compares a message with itself, and `full_message` sets what the
    generated classes have: here the written body is held to the protocol's tables instead, so an
    element of the version that no field fills (or that the writer leaves out) shows up."""
    data = mm7.encode_envelope(full_message(cls, version), transaction_id="t", version=version)
    body = parse_xml(data).root[1][0]
    if etree.QName(body).localname == "Fault":
        body = body.find("detail")[0]
    assert [etree.QName(c).localname for c in body] == [e[0] for e in expected_bodies(version)[cls.ELEMENT]]
    for child in body:  # (and the structures inside it: SenderIdentification, Status with Details, …)
        expected = PARTS.get((cls.ELEMENT, etree.QName(child).localname))
        if expected is not None:
            assert list(dict.fromkeys(etree.QName(c).localname for c in child)) == [name for name, _, _ in expected], child.tag
    assert mm7.decode_envelope(data, strict=True).body == full_message(cls, version)


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
def test_fault_round_trip(version):
    for code, detail in (("Client", mm7.RSErrorRsp), ("Server", mm7.VASPErrorRsp)):
        fault = mm7.Fault(code=code, string="it went wrong & why", actor="http://mmsc.example/mm7",
                          detail=detail(status=mm7.Status(3001, "Not possible", "quota <exceeded>")))
        data = mm7.encode_envelope(fault, transaction_id="f-1", version=version)
        assert data == mm7.encode_envelope(fault, transaction_id="f-1", version=version, engine="xsdata")
        assert validate_element(parse_xml(data).root, version) == []
        env = mm7.decode_envelope(data, strict=True)
        assert env.is_fault and env.body.detail.mm7_version == version.default_mm7_version
        fault.detail.mm7_version = version.default_mm7_version
        assert env.body == fault
    bare = mm7.Fault(code="Server", string="down")
    env = mm7.decode_envelope(mm7.encode_envelope(bare, transaction_id="f-2", version=version), strict=True)
    assert env.body == bare and env.version == version
    with pytest.raises(mm7.EncodeError, match="detail"):
        mm7.encode_envelope(mm7.Fault(string="x", detail_text="free text"), transaction_id="f-3", version=version)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: f"{s.envelope_prefix}-{s.mm7_prefix}-{s.encoding}")
def test_awkward_characters_are_written_as_the_reference_writes_them(style):
    """Escapes in text and attributes (quotes, CR, LF, tab, ]]>), characters the charset lacks."""
    awkward = 'a&b<c>d"e\'f\r\ng\th ]]> 中文 € 𝄞'
    sender = mm7.Address("+8613800138000", id=awkward)
    msg = mm7.SubmitReq(vaspid=awkward, recipients=[mm7.Address("x@example.com", id='q"\n\t\r')],
                        sender_address=sender, subject=awkward)
    v = mm7.versions.get("REL-6-MM7-1-4")
    # (an xs:ID cannot hold these, so schema validation is off to test the escaping alone)
    data = mm7.encode_envelope(msg, transaction_id=awkward, version=v, style=style, validate=False)
    assert data == mm7.encode_envelope(msg, transaction_id=awkward, version=v, style=style, engine="xsdata",
                                       validate=False)
    env = mm7.decode_envelope(data)
    assert [d.code for d in env.deviations] == ["schema", "schema"]
    assert env.transaction_id == awkward.strip()
    assert env.body.subject == awkward and env.body.vaspid == awkward
    assert env.body.sender_address.id == awkward


@pytest.mark.parametrize("code", ["Client", "{http://schemas.xmlsoap.org/soap/envelope/}Server",
                                  "{urn:example:faults}QuotaExceeded", None])
def test_fault_codes_in_any_namespace(code):
    v = mm7.versions.get("REL-6-MM7-1-4")
    code = code or "{%s}Local" % v.namespace
    fault = mm7.Fault(code=code, string="no")
    for style in STYLES:
        data = mm7.encode_envelope(fault, transaction_id="f", version=v, style=style)
        assert data == mm7.encode_envelope(fault, transaction_id="f", version=v, style=style, engine="xsdata")


@pytest.mark.parametrize("kwargs", [{"envelope_prefix": ""}, {"envelope_prefix": "1x"}, {"mm7_prefix": "a b"},
                                    {"envelope_prefix": "xmlns"}, {"envelope_prefix": "mm7", "mm7_prefix": "mm7"}])
def test_unusable_prefixes_are_refused_up_front(kwargs):
    with pytest.raises(ValueError, match="prefix"):
        mm7.XmlStyle(**kwargs)
