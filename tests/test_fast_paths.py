"""Shortcuts taken for well-formed, valid input must read exactly what the general path reads.

Decoding validates while parsing when the bytes name one MM7 namespace; the result (message,
version, TransactionID, deviations) must be the same as parsing first and validating the tree.
"""

from __future__ import annotations

import random

import pytest

import mm7bind as mm7
from mm7bind import envelope
from mm7bind import messages as m

from . import test_tolerance as quirks
from .builders import full_message
from .conftest import sample_files
from .test_corpus import ENVELOPE


def _both_ways(data: bytes, monkeypatch) -> None:
    try:
        fast = mm7.decode_envelope(data)
    except mm7.DecodeError as exc:
        fast = exc
    with monkeypatch.context() as mp:
        mp.setattr(envelope, "_sniff_version", lambda data: None)
        try:
            slow = mm7.decode_envelope(data)
        except mm7.DecodeError as exc:
            slow = exc
    if isinstance(slow, Exception):
        assert type(fast) is type(slow) and str(fast) == str(slow)
        return
    assert not isinstance(fast, Exception), fast
    assert (fast.body, fast.version, fast.transaction_id) == (slow.body, slow.version, slow.transaction_id)
    assert fast.deviations == slow.deviations


def _documents() -> list[bytes]:
    docs = []
    for version in mm7.versions.all_versions():
        for ncls in m.MESSAGE_TYPES.values():
            if version.element_class(ncls.ELEMENT) is None:
                continue
            docs.append(mm7.encode_envelope(full_message(ncls, version), transaction_id="t-1", version=version))
    for name in dir(quirks):
        value = getattr(quirks, name)
        if name.isupper() and isinstance(value, str) and "{ns}" in value:
            docs.append(quirks.envelope(value))
    # Valid as sent but for one value, and valid but for the TransactionID's namespace.
    good = mm7.encode_envelope(mm7.SubmitRsp(message_id="m-1"), transaction_id="t-1", version="REL-6-MM7-1-4")
    docs.append(good.replace(b"<StatusCode>1000", b"<StatusCode>x1000"))
    docs.append(good.replace(b"<TransactionID ", b'<TransactionID xmlns="urn:other" '))
    docs.append(good.replace(b"<SubmitRsp>", b"<submitrsp>").replace(b"</SubmitRsp>", b"</submitrsp>"))
    return docs


@pytest.mark.parametrize("index", range(len(_documents())))
def test_validating_while_parsing_reads_the_same(index, monkeypatch):
    _both_ways(_documents()[index], monkeypatch)


def test_sniffing_needs_one_mm7_namespace():
    one = mm7.encode_envelope(mm7.SubmitRsp(message_id="m-1"), transaction_id="t", version="REL-5-MM7-1-2")
    assert envelope._sniff_version(one) is mm7.versions.get("REL-5-MM7-1-2")
    two = one.replace(b"<TransactionID ", b'<TransactionID xmlns="' + mm7.versions.get("REL-6-MM7-1-4").namespace.encode() + b'" ')
    assert envelope._sniff_version(two) is None
    assert envelope._sniff_version(b"<a xmlns='urn:x'/>") is None


@pytest.mark.skipif(not sample_files(), reason="reference samples not present")
def test_corpus_reads_the_same(monkeypatch):
    seen = 0
    for path in sample_files():
        for found in ENVELOPE.finditer(path.read_bytes()):
            _both_ways(found.group(0), monkeypatch)
            seen += 1
    assert seen > 10


def test_a_valid_document_is_not_validated_twice(monkeypatch):
    data = mm7.encode_envelope(mm7.SubmitRsp(message_id="m-1"), transaction_id="t", version="REL-6-MM7-1-4")

    def second_pass(*a):
        raise AssertionError("validated again after a validating parse")

    monkeypatch.setattr(envelope, "validate_element", second_pass)
    assert mm7.decode_envelope(data).body.message_id == "m-1"


# ---------------------------------------------------------------------------------------------
# The MIME reader splits bodies written the canonical way with a few searches.

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mm7bind import mime  # noqa: E402

from .test_mime import BOUNDARYISH, JPEG, mime as handwritten, submit  # noqa: E402


def _shape(parts) -> list:
    # (each header looked up by its name as given and in lower case: the canonical reader hands
    # its parts the lower-cased names it read, the general reader's parts lower them on first look)
    return [(p.path, p.headers.items, [(p.headers.get(k), p.headers.get(k.lower())) for k, _ in p.headers.items],
             p.content_type, p.params, p.content_id, p.is_multipart,
             p.blob.read() if p.blob else None, _shape(p.children)) for p in parts]


def _read_both(body: bytes, boundary: str):
    outcomes = []
    for canonical in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            if not canonical:
                mp.setattr(mime._Reader, "canonical", lambda *a: None)
            try:
                parts, devs = mime.read_multipart(body, boundary, mime.MimeLimits(max_parts=12))
                outcomes.append((_shape(parts), devs))
            except mime.DecodeError as exc:
                outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]


# Mostly plain bytes, so that most bodies are canonical; now and then something boundary-like.
PAYLOAD = st.lists(st.one_of(st.binary(min_size=1, max_size=80), st.binary(min_size=1, max_size=80),
                             st.binary(min_size=1, max_size=80), BOUNDARYISH, st.just(b"\r\n--b1"),
                             st.just(b"\n--b1\r\n")), max_size=8).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(PAYLOAD, min_size=1, max_size=4), nl=st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"]),
       pad=st.sampled_from([b"", b"", b"", b" "]), data=st.data())
def test_canonical_split_reads_what_the_general_reader_reads(payloads, nl, pad, data):
    parts = [(["Content-Type: application/octet-stream", "Content-ID: <p%d>" % i], p) for i, p in enumerate(payloads)]
    body = bytearray(handwritten(parts, boundary="b1", nl=nl, pad=pad))
    for _ in range(data.draw(st.sampled_from([0, 0, 0, 1, 2]))):  # and now and then some damage
        pos = data.draw(st.integers(0, len(body) - 1))
        body[pos : pos + data.draw(st.integers(0, 4))] = data.draw(st.sampled_from([b"", b"\n", b"\r\n", b"--b1", b" "]))
    _read_both(bytes(body), "b1")


@pytest.mark.parametrize("cte", ["binary", "base64", "quoted-printable"])
def test_canonical_split_of_our_own_bodies(cte):
    c = mm7.Content(parts=[mm7.Part.from_bytes(JPEG, "image/jpeg"), mm7.Part.text("你好\r\n--x")])
    out = mm7.encode(submit(c), transaction_id="t", profile=mm7.Profile(transfer_encoding=cte))
    boundary = mime.parse_params(out.content_type)[1]["boundary"]
    _read_both(out.to_bytes(), boundary)


SIZED = st.tuples(st.integers(0, 2**32), st.integers(0, 3000)).map(lambda t: random.Random(t[0]).randbytes(t[1]))


@settings(max_examples=100, deadline=None)
@given(payloads=st.lists(st.one_of(st.binary(max_size=40), SIZED), min_size=1, max_size=4))
def test_canonical_split_of_clean_bodies_is_taken_and_exact(payloads):
    parts = [(["Content-Type: application/octet-stream", "Content-ID: <p%d>" % i], p) for i, p in enumerate(payloads)
             if b"\n--b1" not in p]
    if not parts:
        return
    body = handwritten(parts, boundary="b1")
    assert mime._Reader(mime.MimeLimits(), []).canonical(body, 0, len(body), b"--b1", 1, "") is not None
    _read_both(body, "b1")


def test_canonical_split_stops_counting_at_the_part_limit(monkeypatch):
    # A body of a million empty parts must not be listed before the limit is applied.
    body = b"--b1\r\n" + b"Content-Type: a/b\r\n\r\n\r\n--b1\r\n" * 1_000_000 + b"\r\n--b1--\r\n"
    seen = []
    real = mime._Reader.canonical

    def spy(self, buf, lo, hi, *rest):
        result = real(self, buf, lo, hi, *rest)
        seen.append(result)
        return result

    monkeypatch.setattr(mime._Reader, "canonical", spy)
    with pytest.raises(mime.LimitExceededError, match="more than 256 MIME parts"):
        mime.read_multipart(body, "b1")
    assert seen == [None]


HEADER_NAME = st.sampled_from(["Content-Type", "content-id", "CONTENT-LOCATION", "X-Mms-Thing", "MIME-Version",
                               "Name", "name", "Subject", "Content Type", "Content-Type ", "Content-Type\t", ":"])
HEADER_VALUE = st.text(st.sampled_from(list("ab;=\"<> \t\x0b\x0c\x1c\x1f\r:") + ["é", "中", "\x85", "\xa0"]),
                       max_size=12)


@settings(max_examples=300, deadline=None)
@given(headers=st.lists(st.tuples(HEADER_NAME, HEADER_VALUE), min_size=1, max_size=4))
def test_canonical_split_reads_header_lines_as_the_general_reader(headers):
    # Part headers in ASCII are read as text at once, others line by line from their bytes: the
    # same names and values either way (white space, control characters, names that are none).
    lines = [f"{name}:{value}".encode() for name, value in headers]
    body = b"--b1\r\n" + b"\r\n".join(lines) + b"\r\n\r\nbody\r\n--b1--\r\n"
    _read_both(body, "b1")


def test_canonical_split_takes_exactly_the_header_blocks_of_part_headers_alone():
    # The ASCII header block is read with one search: taken iff every line is a part header the
    # general reader would take (a line that is none, or empty, sends the body to that reader).
    def taken(block: bytes) -> bool:
        body = b"--b1\r\n" + block + b"\r\n\r\nbody\r\n--b1--\r\n"
        return mime._Reader(mime.MimeLimits(), []).canonical(body, 0, len(body), b"--b1", 1, "") is not None

    for block in (b"Content-Type: a/b", b"content-id:<x>", b"X-Any : 1\r\nMIME-Version:\t1.0 ", b"Name: n",
                  b"NAME: n\r\nContent-Type: a/b\r", b"Content-: v", b"Content-Type: a\rb\x0b\x1c"):
        assert taken(block), block
        _read_both(b"--b1\r\n" + block + b"\r\n\r\nbody\r\n--b1--\r\n", "b1")
    for block in (b"Subject: s", b"Content-Type: a/b\r\nNames: n", b"Content-Type: a/b\r\n: v",
                  b"Content Type: a/b", b"Content-Type: a/b\r\nnam: e", b"", b"Content-Type: a/b\r\n\x7f: v"):
        assert not taken(block), block
        _read_both(b"--b1\r\n" + block + b"\r\n\r\nbody\r\n--b1--\r\n", "b1")


HEADER_ITEM_NAME = st.text(st.sampled_from(list("aAzZ-_:") + ["İ", "ß", "Σ", "ς", "K", "ǅ"]), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(st.tuples(HEADER_ITEM_NAME, st.text(max_size=3)), max_size=5), asked=HEADER_ITEM_NAME)
def test_headers_are_looked_up_by_name_in_any_case_the_first_given_winning(items, asked):
    # A name asked for as it is lower-cased is found without lowering it again: the same answers
    # as comparing lower-cased names one by one, whatever the name's characters and case.
    def expected(name):
        return next((v for k, v in items if k.lower() == name.lower()), "default")

    headers = mime.Headers(items)
    for name in (asked, asked.lower(), asked.upper(), *(k for k, _ in items)):
        assert headers.get(name, "default") == expected(name), name
    first = {}
    for k, v in reversed(items):
        first[k.lower()] = v
    assert mime.Headers(items, first).get(asked, "default") == expected(asked)
    assert headers.as_dict() == {k: next(v for k2, v in items if k2 == k) for k, _ in items}
    assert list(headers.as_dict()) == list(dict.fromkeys(k for k, _ in items))


def test_ascii_part_headers_are_not_decoded_line_by_line(monkeypatch):
    decoded = []
    real = mime.decode_header_bytes

    def per_line(raw: bytes) -> str:
        decoded.append(raw)
        return real(raw)

    monkeypatch.setattr(mime, "decode_header_bytes", per_line)
    body = (b"--b1\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-ID:  <a>\t\r\n\r\n"
            b"hi\r\n--b1\r\nContent-Type: image/jpeg\r\nContent-Location: \xe4\xb8\xad.jpg\r\n\r\n\xff\xd8\r\n--b1--\r\n")
    parts, devs = mime.read_multipart(body, "b1")
    assert [p.headers.items for p in parts] == [
        [("Content-Type", 'text/plain; charset="utf-8"'), ("Content-ID", "<a>")],
        [("Content-Type", "image/jpeg"), ("Content-Location", "中.jpg")]]
    assert devs == []
    assert decoded == [b"image/jpeg", "中.jpg".encode()]  # (only the part whose headers are not ASCII)


def test_parameters_parsed_once_are_handed_out_as_copies():
    value = 'text/xml; charset="utf-8"; x-test-copy=1'
    _, params = mime.parse_params(value)
    params["charset"] = "changed"
    assert mime.parse_params(value) == ("text/xml", {"charset": "utf-8", "x-test-copy": "1"})
    assert value in mime._PARAMS_SEEN  # parsed once, looked up since
    long_value = "text/plain; name=" + "x" * 300
    assert mime.parse_params(long_value)[1]["name"] == "x" * 300
    assert long_value not in mime._PARAMS_SEEN  # (values from peers: only short ones are kept)
    for i in range(mime._PARAMS_SEEN_MAX + 10):
        mime.parse_params(f"a/b; n={i}")
    assert len(mime._PARAMS_SEEN) <= mime._PARAMS_SEEN_MAX


# ---------------------------------------------------------------------------------------------
# Names that are no QName: a small tree is walked in Python, a large one searched by XPath.

import threading  # noqa: E402

from lxml import etree  # noqa: E402

from mm7bind import xmlsafe  # noqa: E402

from .test_tolerance import details_envelope  # noqa: E402


@pytest.mark.parametrize("walk_bytes", [0, 1 << 30], ids=["xpath", "walk"])
@pytest.mark.parametrize("details, colon", [
    ('<a xmlns:v="urn:example:v"><v:b v:c="1">q</v:b></a>', False),
    ('<a><b:c:d xmlns:b="urn:example:b">q</b:c:d></a>', True),  # an element's name with two colons
    ('<a><b x:y:z="1">q</b></a>', True),  # an attribute's
    ('<a><c:d/></a>', True),  # an unbound prefix: a name with a colon in no namespace
    ('<a><b c:d="1"/></a>', True),  # an attribute's, the last name of the tree
    ('<a xmlns:v="urn:a:"><v:b v:c="1"/></a>', False),  # colons in the namespace only, one just before its "}"
])
def test_names_that_are_no_qname_are_found_either_way(details, colon, walk_bytes, monkeypatch):
    monkeypatch.setattr(xmlsafe, "_WALK_BYTES", walk_bytes)
    data = details_envelope(details, "UTF-8")
    sniffed = envelope._sniff_version(data)
    root = etree.fromstring(data, mm7.validation.validating_parser(sniffed))  # (keeps such names in the tree)
    declarations = list(xmlsafe._declarations(root))
    assert xmlsafe.namespace_well_formed(root, data, declarations) is not colon


def test_unbound_prefixes_are_refused_alike_either_way(monkeypatch):
    for walk_bytes in (0, 1 << 30):
        monkeypatch.setattr(xmlsafe, "_WALK_BYTES", walk_bytes)
        for details in ('<v:a:b xmlns:v="urn:example:v">q</v:a:b>', '<a><b x:y:z="1">q</b></a>'):
            with pytest.raises(mm7.MalformedXMLError):
                mm7.decode_envelope(details_envelope(details, "UTF-8"))


def test_a_thread_xpath_is_compiled_per_thread_and_answers_alike():
    """lxml lets one XPath object evaluate in one thread at a time: each thread has its own."""
    probe = xmlsafe.ThreadXPath("count(//*[@x])")
    root = etree.fromstring(b'<a x="1"><b x="2"/><c/></a>')
    compiled, answers = [], []
    start = threading.Barrier(2)

    def use() -> None:
        start.wait()
        answers.append([probe(root) for _ in range(200)])
        compiled.append(probe.xpath)

    threads = [threading.Thread(target=use) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [[2.0] * 200] * 2
    assert compiled[0] is not compiled[1] and probe.xpath not in compiled


_DATETIME_PIECES = (
    ["2026", "0001", "9999", "2024", "2023", "1900", "0000", "12345", "-2026"],
    ["01", "02", "12", "13", "00", "1"], ["01", "28", "29", "30", "31", "32", "00"],
    ["00", "23", "24", "12", "25", "9"], ["00", "59", "60"], ["00", "59", "60", "5"],
    ["", ".5", ".123456", ".123456789", ".1234567891", ".", ".000"],
    ["", "Z", "+08:00", "-05:30", "+14:00", "-14:00", "+14:01", "+15:00", "+08:60", "+0800", "z", " ", "-00:00"],
)


@given(st.tuples(*(st.sampled_from(p) for p in _DATETIME_PIECES)), st.sampled_from(["", " ", "\n\t"]))
@settings(max_examples=600, deadline=None)
def test_a_datetime_read_the_short_way_is_what_xsdata_reads(pieces, pad):
    """The direct reader reads the usual xs:dateTime itself; every other form (and every value
    it would refuse) goes to xsdata's parser, as all did. Both give the same value, or the same
    text kept as sent."""
    from xsdata.formats.converter import converter
    from xsdata.models.datatype import XmlDateTime

    from mm7bind import binding

    y, mo, d, h, mi, s, fraction, zone = pieces
    text = f"{pad}{y}-{mo}-{d}T{h}:{mi}:{s}{fraction}{zone}{pad}"
    var = type("Var", (), {"types": (XmlDateTime,), "format": None})
    try:
        expected = converter.deserialize(text.strip(), (XmlDateTime,))
    except Exception:  # noqa: BLE001 (xsdata's refusal: the text kept)
        expected = text.strip()
    got = binding._reader(var)(text)
    assert (type(got), got) == (type(expected), expected)


# ---------------------------------------------------------------------------------------------
# A SMIL's references, told in ASCII text by a pattern that finds them faster.


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["src", "SRC", "sRc", "xsrc", "_src", "-src", "1src", "src2", "s", "rc", " ", "\t",
                                 "\x1c", "=", '"', "'", "cid:a", "<img ", "/>", "\n", "ſ"]), max_size=24).map("".join))
def test_the_ascii_pattern_finds_the_references_the_general_one_does(text):
    from mm7bind import content

    if text.isascii():
        assert content._SRC_ASCII.findall(text) == content._SRC.findall(text)


def test_a_smil_in_ascii_whose_references_name_parts_is_told_so_and_one_that_does_not_is_looked_at():
    smil = mm7.Part.from_bytes(b'<smil><body><par><img SRC = "cid:a"/><text src=\'cid:b\'/></par></body></smil>',
                               "application/smil")
    parts = [mm7.Part.from_bytes(b"x", "image/gif", content_id="a"), mm7.Part.text("t", content_id="b")]
    assert mm7.content.unresolved_references(mm7.Content(parts=parts, smil=smil)) == []
    assert mm7.content.unresolved_references(mm7.Content(parts=parts[:1], smil=smil)) == ["cid:b"]
