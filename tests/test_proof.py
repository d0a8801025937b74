"""The encoder skips the schema check only for documents it proved valid while writing them.

Soundness is what matters: whatever the values, a document the encoder calls proven must pass
lxml's validation against the version's schema. The schema reading behind the proof (lexical.py)
is tested on its own small schemas, including constructs it must decline to prove.
"""

from __future__ import annotations

import typing
from datetime import datetime, timezone
from enum import Enum

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import mm7bind as mm7
from mm7bind import binding, envelope, lexical, validation, xmlsafe
from mm7bind import messages as m
from mm7bind.errors import EncodeError
from mm7bind.profiles import STANDARD
from mm7bind.xmlsafe import hardened_parser

from .builders import supported

VERSIONS = mm7.versions.all_versions()
KINDS = [m.SubmitReq, m.DeliverReq, m.CancelReq, m.ReplaceReq, m.SubmitRsp, m.DeliverRsp,  # (reports carry dates)
         m.ExtendedCancelReq, m.ExtendedReplaceReq]
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
    st.text(max_size=6),
    st.from_regex(r"[A-Za-z0-9+.@ -]{1,12}", fullmatch=True),
    st.sampled_from(["", " ", "6.8.0", "5.3.0", "1.2.3", "6.8", "Normal", "High", "normal", "Informational",
                     "Personal", "Sender", "cid:x", "cid:a b", "a%zz", "&<>\"'", "\r\n", "中文", "x" * 300,
                     "+8613800000000", "1065888", "a@b.cn", "\t", "1000"]),
)


REQUIRED = {"recipients", "recipient", "sender", "message_id", "cancel_id", "replace_id"}


def _text_fields(ncls: type) -> list[tuple[str, typing.Any]]:
    hints = binding._hints(ncls)
    out = []
    for name, path in ((f.name, f.metadata["xml"]) for f in m.xml_fields(ncls)):
        args = typing.get_args(hints[name]) or (hints[name],)
        out.append((name, path, args))
    return out


@st.composite
def messages(draw, version: mm7.Version):
    ncls = draw(st.sampled_from([k for k in KINDS if version.element_class(k.ELEMENT) is not None]))
    values = {}
    for name, path, args in _text_fields(ncls):
        writable = name == "recipients" or any(a in args for a in (str, bool, m.Address, m.ContentRef))
        if not writable or not supported(version, ncls, path) or (name not in REQUIRED and draw(st.integers(0, 3)) == 0):
            continue
        if name == "mm7_version":
            values[name] = draw(st.one_of(st.sampled_from(version.mm7_versions), TEXT))
        elif name == "recipients":
            kinds = st.sampled_from([mm7.Number, mm7.ShortCode, mm7.RFC2822Address])
            values[name] = [draw(kinds)(draw(TEXT)) for _ in range(draw(st.integers(1, 3)))]
        elif m.Address in args:
            values[name] = draw(st.one_of(TEXT, st.builds(lambda k, t: k(t), st.sampled_from(
                [mm7.Number, mm7.ShortCode, mm7.RFC2822Address]), TEXT)))
        elif m.ContentRef in args:
            values[name] = m.ContentRef(href=draw(TEXT), allow_adaptations=draw(st.booleans()))
        elif bool in args:
            values[name] = draw(st.booleans())
        elif str in args:
            enums = [a for a in args if isinstance(a, type) and issubclass(a, Enum)]
            members = [st.sampled_from(list(e)) for e in enums] + [st.sampled_from([x.value for x in e]) for e in enums]
            values[name] = draw(st.one_of(*members, TEXT) if members else TEXT)
    return ncls(**values)


def _write(msg: m.Message, version: mm7.Version, tid: str) -> tuple[bytes, bool] | None:
    try:
        text, proven = envelope._encode_text(msg, tid, version, STANDARD.xml, binding.EncodeOptions(), None, None)
    except EncodeError:
        return None  # not sendable in this version at all: refused, nothing to prove
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode("utf-8"), proven


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), version=st.sampled_from(VERSIONS), tid=TEXT)
def test_what_is_called_proven_is_valid(data, version, tid):
    msg = data.draw(messages(version))
    if not tid.strip() or any(ord(c) < 32 and c not in "\t\r\n" for c in tid):
        return
    written = _write(msg, version, tid)
    if written is None or not written[1]:
        return
    root = etree.fromstring(written[0], hardened_parser())
    assert validation.validate_element(root, version) == [], written[0]


def test_typical_messages_are_proven_and_the_check_is_skipped():
    content = mm7.Content(parts=[mm7.Part.from_bytes(b"GIF89a" + bytes(20), "image/gif")])
    msg = mm7.SubmitReq(vaspid="800001", vasid="1065888", service_code="100001", recipients=["+8613800000000"],
                        sender_address=mm7.ShortCode("1065888"), subject="你好 & <hi>", delivery_report=True,
                        priority="High", content=content)
    real = envelope.validating_parser
    for version in VERSIONS:
        parsed = []
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(envelope, "validating_parser", lambda v: parsed.append(v) or real(v))
            out = mm7.encode(msg, transaction_id="t-1", version=version)
            assert parsed == [], version.name  # proven: no schema pass
            # a value the proof does not cover (a date) sends the document through the schema check
            mm7.encode(mm7.SubmitReq(recipients=["1"], expiry_date=datetime(2030, 1, 2, tzinfo=timezone.utc)),
                       transaction_id="t", version=version)
            assert parsed == [version], version.name
            # and a value the schema refuses is refused, whichever way it is caught
            with pytest.raises(EncodeError, match="MM7Version"):
                mm7.encode(mm7.SubmitReq(mm7_version="6.8", recipients=["1"]), transaction_id="t", version=version)
        env = mm7.decode(out.to_bytes(), out.content_type, strict=True)
        assert env.body.subject == "你好 & <hi>"


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(max_size=16), TEXT, st.sampled_from(["a\x00", "\ud800", "\ufffe", "x\x7f", "\x85\u2028"])))
def test_text_written_as_it_is_is_what_escaping_would_leave_alone(text):
    # The writer's shortcut for values with nothing to escape: one search must find exactly what
    # escaping would change or the XML check would refuse.
    as_is = xmlsafe.escape_text(text) == text and xmlsafe.invalid_xml_char(text) is None
    assert (xmlsafe.escapes_or_invalid_in_text(text) is None) == as_is
    as_is = xmlsafe.escape_attribute(text) == text and xmlsafe.invalid_xml_char(text) is None
    assert (xmlsafe.escapes_or_invalid_in_attribute(text) is None) == as_is


def test_always_validates_on_request(monkeypatch):
    parsed = []
    real = envelope.validating_parser
    monkeypatch.setattr(envelope, "validating_parser", lambda v: parsed.append(v) or real(v))
    mm7.encode_envelope(mm7.CancelReq(message_id="m"), transaction_id="t", version="REL-6-MM7-1-4", validate="always")
    assert parsed


# ---------------------------------------------------------------------------------------------
# Reading the schema


def _schema(tmp_path, body: str) -> tuple[dict, dict]:
    path = tmp_path / "s.xsd"
    path.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" xmlns:o="urn:o"'
                    ' targetNamespace="urn:t">'
                    + body + "</xs:schema>")
    elements, attributes = {}, {}
    lexical._read(path, elements, attributes)
    return elements, attributes


def test_schema_reading(tmp_path):
    el, at = _schema(tmp_path, """
      <xs:simpleType name="Id"><xs:restriction base="xs:string"/></xs:simpleType>
      <xs:simpleType name="V"><xs:restriction base="xs:string"><xs:pattern value="[0-9]+\\.[0-9]+"/></xs:restriction></xs:simpleType>
      <xs:simpleType name="E"><xs:restriction base="t:Id"><xs:enumeration value="a"/><xs:enumeration value="b"/></xs:restriction></xs:simpleType>
      <xs:simpleType name="Dot"><xs:restriction base="xs:string"><xs:pattern value="a.b"/></xs:restriction></xs:simpleType>
      <xs:simpleType name="Sub"><xs:restriction base="xs:string"><xs:pattern value="[a-z-[aeiou]]+"/></xs:restriction></xs:simpleType>
      <xs:simpleType name="U"><xs:union memberTypes="xs:string xs:int"/></xs:simpleType>
      <xs:simpleType name="L"><xs:restriction base="xs:string"><xs:maxLength value="3"/></xs:restriction></xs:simpleType>
      <xs:complexType name="A"><xs:simpleContent><xs:extension base="t:Id"><xs:attribute name="k" type="xs:anyURI"/></xs:extension></xs:simpleContent></xs:complexType>
      <xs:element name="Free" type="t:Id"/>
      <xs:element name="Ver" type="t:V"/>
      <xs:element name="Enum" type="t:E"/>
      <xs:element name="Dotted" type="t:Dot"/>
      <xs:element name="Consonants" type="t:Sub"/>
      <xs:element name="Union" type="t:U"/>
      <xs:element name="Short" type="t:L"/>
      <xs:element name="Addr" type="t:A"/>
      <xs:element name="Int" type="xs:positiveInteger"/>
      <xs:element name="Fixed" type="xs:string" fixed="x"/>
      <xs:element name="Twice" type="xs:string"/>
      <xs:element name="Twice" type="t:V"/>
      <xs:element name="Refd" type="xs:string"/>
      <xs:element name="Holder"><xs:complexType><xs:sequence><xs:element ref="o:Refd"/><xs:element ref="t:Free"/>
        </xs:sequence></xs:complexType></xs:element>
    """)
    assert el["Free"]("any <text> at all") and el["Addr"]("") and at["k"]("cid:a@b") and not at["k"]("a b")
    assert el["Ver"]("1.2") and not el["Ver"]("1.2.3") and not el["Ver"]("1x2")
    assert el["Enum"]("a") and not el["Enum"]("c")
    assert el["Short"]("abc") and not el["Short"]("abcd")
    assert el["Free"] is not None  # a reference within the schema's own namespace changes nothing
    for unproven in ("Dotted", "Consonants", "Union", "Int", "Fixed", "Twice", "Refd", "Holder"):
        assert el[unproven] is None, unproven


def test_schema_with_includes_proves_nothing(tmp_path):
    el, _ = _schema(tmp_path, '<xs:include schemaLocation="other.xsd"/><xs:element name="Free" type="xs:string"/>')
    assert el["Free"] is None


def test_a_bracket_outside_an_ipv6_host_is_not_proven_a_uri():
    """libxml2 takes "[" and "]" in xs:anyURI only around an IPv6 host: an href "[" proven valid
    by the fast check was refused by the schema (found by the property test above)."""
    version = mm7.versions.get("REL-5-MM7-1-0")
    for href in ("[", "a]b", "cid:x[1]"):
        written = _write(m.ReplaceReq(message_id="m1", content_ref=m.ContentRef(href=href)), version, "0")
        assert written is None or not written[1], href
    written = _write(m.ReplaceReq(message_id="m1", content_ref=m.ContentRef(href="cid:part-1")), version, "0")
    assert written is not None and written[1]


def test_a_second_hash_or_an_authority_libxml2_refuses_is_not_proven_a_uri():
    """libxml2 refuses an xs:anyURI with a second "#" (a fragment holds none), a port that is no
    number ("//a:b", "http://a:/", "http://a:80x/"), or two "@" in its authority: the fast check
    had proven such an href valid and the invalid envelope went out unchecked. Plain hosts and
    one user stay proven; a port is left to the schema check."""
    version = mm7.versions.get("REL-6-MM7-1-4")
    for href in ("cid:a#b#c", "##", "a#b#", "//a:b", "http://a:/", "http://a:80x/", "http://a:9999999999/",
                 "//a@b@c", "http://a:b@c:d/"):
        written = _write(m.ReplaceReq(message_id="m1", content_ref=m.ContentRef(href=href)), version, "0")
        assert written is None or not written[1], href
        with pytest.raises(EncodeError, match="anyURI"):
            mm7.encode_envelope(m.ReplaceReq(mm7_version="6.8.0", message_id="m1", content_ref=m.ContentRef(href=href)),
                                transaction_id="0", version=version)
    for href in ("cid:a#b", "http://ua.example/profile.xml", "http://u@host/x?y#z", "//host/p", "a/b//c:d", "#frag"):
        written = _write(m.ReplaceReq(message_id="m1", content_ref=m.ContentRef(href=href)), version, "0")
        assert written is not None and written[1], href
        assert validation.validate_element(etree.fromstring(written[0], hardened_parser()), version) == [], href


def test_the_plain_uri_proven_in_one_match_leaves_its_neighbours_to_the_full_check():
    """"scheme:" and plain characters is proven in one match (every Content href the codec writes);
    an authority with a port, a second "#", an escape or a bracket after such a start still goes
    through the full check, which does not prove them, as a scheme of no letter first does not."""
    for href in ("cid:content-1@mm7bind", "cid:a:b/c?d", "http:x"):
        assert lexical._any_uri(href), href
    for href in ("cid://a:b", "http://a:/", "x://a@b@c", "cid:a#b#c", "cid:a%41", "cid:a[1]", "cid:a b", "1:x",
                 "-a:b", ":x"):
        assert not lexical._any_uri(href), href


def test_a_colon_that_ends_no_scheme_is_not_proven_a_uri():
    """A ":" before the first "/", "?" or "#" ends a scheme, which starts with a letter: libxml2
    refuses an href ":", ":x" or "1:x" as xs:anyURI, which the fast check had proven valid (found
    by the property test above). "a:", "x/y:z", "?:" and "cid:x" are URIs."""
    version = mm7.versions.get("REL-6-MM7-1-0")
    for href in (":", ":x", "1:x", "-a:b", "@:"):
        written = _write(m.ReplaceReq(message_id="m1", content_ref=m.ContentRef(href=href)), version, "0")
        assert written is None or not written[1], href
    for href in ("a:", "x/y:z", "?:", "cid:x", "a+b:c"):
        written = _write(m.ReplaceReq(message_id="m1", content_ref=m.ContentRef(href=href)), version, "0")
        assert written is not None and written[1], href
        root = etree.fromstring(written[0], hardened_parser())
        assert validation.validate_element(root, version) == [], href
