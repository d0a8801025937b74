"""SwA codec and content model: round trips, writer rules, reader quirks, bad input."""

from __future__ import annotations

import base64
import binascii
import functools
import html
import io
import os
import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mm7bind as mm7
from mm7bind.codec import quoted_printable
from mm7bind.content import BytesBlob, FileBlob, SpooledBlob, file_name, make_smil, sniff_type
from mm7bind.mime import MimeLimits, parse_params, read_multipart

from .streams import Trickle

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS6 = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 3 + b"\r\n--boundary-like\r\n\n\r\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)
AMR = b"#!AMR\n" + bytes(range(50)) * 5
MP4 = b"\x00\x00\x00\x18ftyp3gp4" + bytes(300)


def submit(content: mm7.Content | None = None, **kw) -> mm7.SubmitReq:
    return mm7.SubmitReq(vaspid="800001", recipients=["+8613800000000"], subject="测试", content=content, **kw)


def roundtrip(msg, profile=mm7.STANDARD, strict=True) -> tuple[mm7.HttpMessage, bytes, mm7.Envelope]:
    out = mm7.encode(msg, transaction_id="tx-1", profile=profile)
    data = out.to_bytes()
    assert len(data) == out.length
    return out, data, mm7.decode(data, out.content_type, strict=strict)


# ---------------------------------------------------------------------------------------------
# Round trips


def every_kind(tmp_path) -> mm7.Content:
    (tmp_path / "photo.jpg").write_bytes(JPEG)
    (tmp_path / "noext").write_bytes(PNG)
    c = mm7.Content()
    c.add_text("你好，世界\r\n第二行", charset="utf-8")
    c.add_text("简体中文 GB2312", charset="gb2312")
    c.add_text("GBK 字符 镕", charset="gbk")
    c.add_file(tmp_path / "photo.jpg")
    c.add_file(tmp_path / "noext")
    c.add_bytes(GIF, filename="动画.gif")
    c.add(mm7.Part.from_stream(io.BytesIO(AMR), content_location="sound.amr"))
    c.add_bytes(MP4, content_id="video-1")
    c.add_bytes(b"BEGIN:VCARD\r\nEND:VCARD\r\n", "text/x-vcard", charset="us-ascii")
    return c


@pytest.mark.parametrize("cte", ["binary", "8bit", "base64", "quoted-printable"])
@pytest.mark.parametrize("names", ["rfc2231", "rfc2047"])
def test_every_content_kind_round_trips(tmp_path, cte, names):
    content = every_kind(tmp_path)
    profile = mm7.Profile(transfer_encoding=cte, filename_encoding=names)
    out, _, env = roundtrip(submit(content), profile)
    got = env.body.content
    assert got.parts == content.parts
    assert got.smil is not None and got.smil == out.content.smil
    assert got.multipart_type == "related" and got.content_id == out.content.content_id
    assert env.body.content_ref.href == "cid:" + got.content_id
    types = [p.content_type for p in got.parts]
    assert types == ["text/plain"] * 3 + ["image/jpeg", "image/png", "image/gif", "audio/amr", "video/3gpp", "text/x-vcard"]
    assert got.parts[1].text_value == "简体中文 GB2312" and got.parts[2].text_value == "GBK 字符 镕"
    assert got.parts[5].filename == "动画.gif"


@pytest.mark.parametrize("cte", ["base64", "quoted-printable"])
def test_the_soap_part_is_written_in_the_transfer_encoding_its_header_names(cte):
    # It went as it was: under a base64 label unreadable, under a quoted-printable one "=41" read as "A".
    msg = submit(mm7.Content(parts=[mm7.Part.text("t")]), service_code="=41")
    out, _, env = roundtrip(msg, mm7.Profile(soap_transfer_encoding=cte))
    assert f"Content-Transfer-Encoding: {cte}" in out.to_bytes().decode("latin-1")
    assert env.body.subject == "测试" and env.body.service_code == "=41"


def test_user_smil_and_mixed_without_smil():
    smil = mm7.Part.from_bytes(b"<smil><body><par><img src=\"cid:g\"/></par></body></smil>", content_id="s")
    assert smil.content_type == "application/smil"
    c = mm7.Content(parts=[mm7.Part.from_bytes(GIF, content_id="g")], smil=smil)
    _, data, env = roundtrip(submit(c))
    assert env.body.content.smil == smil and env.body.content.multipart_type == "related"
    assert b'start="<s>"' in data
    plain = mm7.Content(parts=[mm7.Part.from_bytes(GIF), mm7.Part.text("hi")])
    _, data, env = roundtrip(submit(plain), mm7.Profile(auto_smil=False))
    assert env.body.content.smil is None and env.body.content.multipart_type == "mixed"
    assert b"multipart/mixed; boundary=" in data and b"application/smil" not in data


def test_no_content_is_plain_text_xml():
    out, data, env = roundtrip(mm7.CancelReq(message_id="m1"))
    assert out.content_type == 'text/xml; charset="utf-8"'
    assert data.startswith(b"<?xml") and b"--" not in data[:50]
    assert out.headers["SOAPAction"] == '""' and "MIME-Version" not in out.headers
    out, data, env = roundtrip(submit(mm7.Content()))
    assert out.content_type.startswith("text/xml") and env.body.content is None


def test_replace_and_extended_replace_carry_content():
    c = mm7.Content(parts=[mm7.Part.text("new text")])
    for msg in (mm7.ReplaceReq(message_id="m", content=c), mm7.ExtendedReplaceReq(replace_id="m", content=c)):
        _, _, env = roundtrip(msg)
        assert env.body.content.parts == c.parts


def test_deliver_with_content_both_directions():
    c = mm7.Content(parts=[mm7.Part.from_bytes(JPEG, filename="a.jpg"), mm7.Part.text("caption")])
    msg = mm7.DeliverReq(sender="+8613800000000", recipients=["1065"], content=c)
    out = mm7.encode(msg, transaction_id="d", version="REL-6-MM7-1-0")
    env = mm7.decode(out.to_bytes(), out.content_type, strict=True)
    assert env.body.content.parts == c.parts and env.version.name == "REL-6-MM7-1-0"


def test_allow_adaptations_survives_the_generated_href():
    c = mm7.Content(parts=[mm7.Part.text("x")])
    _, _, env = roundtrip(submit(c, content_ref=mm7.ContentRef(href="cid:ignored", allow_adaptations=False)))
    assert env.body.content_ref.allow_adaptations is False
    assert env.body.content_ref.href == "cid:" + env.body.content.content_id


def test_encoding_does_not_change_the_callers_message():
    c = mm7.Content(parts=[mm7.Part.text("x")])
    msg = submit(c)
    mm7.encode(msg, transaction_id="t")
    assert msg.content_ref is None and c.smil is None


# ---------------------------------------------------------------------------------------------
# Writer rules


def header_blocks(data: bytes) -> list[bytes]:
    return re.findall(rb"--mm7bind-[0-9a-f]{32}\r\n(.*?)\r\n\r\n", data, re.S)


def test_writer_rules():
    c = mm7.Content(parts=[mm7.Part.from_bytes(JPEG, filename="x" * 200 + "-長い名前.jpg"), mm7.Part.text("t")])
    out, data, _ = roundtrip(submit(c))
    ctype = out.content_type
    m = re.fullmatch(r'multipart/related; boundary="(mm7bind-[0-9a-f]{32})"; type="text/xml"; start="<([^>]+)>"', ctype)
    assert m, ctype
    boundary, soap_id = m.groups()
    assert data.startswith(f"--{boundary}\r\n".encode()) and data.endswith(f"\r\n--{boundary}--\r\n".encode())
    blocks = header_blocks(data)
    assert len(blocks) == 5  # SOAP, container, SMIL, two parts
    for block in blocks:
        assert b"\n" not in block.replace(b"\r\n", b"")  # CRLF only
        assert not re.search(rb"\r\n[ \t]", block)  # never folded
    assert f"Content-ID: <{soap_id}>".encode() in blocks[0]
    container_id = re.search(rb"Content-ID: <([^>]+)>", blocks[1]).group(1)
    assert f'href="cid:{container_id.decode()}"'.encode() in data
    assert b"name*=UTF-8''" in blocks[3] and b'name="xxxxx' in blocks[3]
    assert out.headers["MIME-Version"] == "1.0" and out.headers["Content-Type"] == ctype


def test_boundaries_are_random():
    c = mm7.Content(parts=[mm7.Part.text("x")])
    a = mm7.encode(submit(c), transaction_id="t").content_type
    b = mm7.encode(submit(c), transaction_id="t").content_type
    assert a != b


def test_size_accounting_and_limit():
    c = mm7.Content(parts=[mm7.Part.from_bytes(bytes(60_000), "image/jpeg"), mm7.Part.text("x" * 100)])
    assert c.total_size == 60_100
    out = mm7.encode(submit(c), transaction_id="t")
    # (the message names the setting: the limit may be the dialect's, never written by the user)
    too_large = r"is \d+ bytes, more than the 50000 bytes allowed \(max_message_size\)"
    with pytest.raises(mm7.MessageTooLargeError, match=too_large) as err:
        mm7.encode(submit(c), transaction_id="t", profile=mm7.Profile(max_message_size=50_000))
    assert err.value.limit == 50_000 and f"is {err.value.size} bytes" in str(err.value)
    # The same message but for its generated Content-IDs, whose counters may have gained a digit.
    assert out.length <= err.value.size <= out.length + 8
    mm7.encode(submit(c), transaction_id="t", profile=mm7.Profile(max_message_size=out.length + 200))


def test_body_streams_and_rewinds():
    c = mm7.Content(parts=[mm7.Part.from_bytes(JPEG * 300, "image/jpeg")])
    out = mm7.encode(submit(c), transaction_id="t", profile=mm7.Profile(transfer_encoding="base64"))
    whole = out.to_bytes()
    body = out.body
    pieces = []
    while chunk := body.read(7000):
        pieces.append(chunk)
    assert b"".join(pieces) == whole and body.tell() == len(whole)
    body.seek(0)
    assert body.read() == whole
    assert b"".join(iter(body)) == whole
    body.seek(0)
    assert body.read(100) == whole[:100]
    assert out.to_bytes() == whole and body.read() == whole  # (joining it whole starts reading over)


# ---------------------------------------------------------------------------------------------
# Content model


def test_sniffing_and_factories(tmp_path):
    assert sniff_type(JPEG) == "image/jpeg" and sniff_type(GIF) == "image/gif" and sniff_type(PNG) == "image/png"
    assert sniff_type(AMR) == "audio/amr" and sniff_type(MP4) == "video/3gpp"
    assert sniff_type(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "audio/wav"
    assert sniff_type(b"<smil><head/></smil>") == "application/smil"
    assert sniff_type(b"plain words", "notes.txt") == "text/plain"
    assert sniff_type(b"\x00\x01", "clip.3gp") == "video/3gpp"
    assert sniff_type(b"\x00\x01") == "application/octet-stream"
    (tmp_path / "wrong.txt").write_bytes(GIF)
    part = mm7.Part.from_file(tmp_path / "wrong.txt")
    assert part.content_type == "image/gif" and part.filename == "wrong.txt" and isinstance(part.blob, FileBlob)
    big = mm7.Part.from_stream(io.BytesIO(bytes(5 * 1024 * 1024)), "video/mp4")
    assert isinstance(big.blob, SpooledBlob) and big.size == 5 * 1024 * 1024
    small = mm7.Part.from_stream(io.BytesIO(b"abc"), "text/plain")
    assert isinstance(small.blob, BytesBlob)
    with pytest.raises(mm7.EncodeError, match="cannot be written in gb2312"):
        mm7.Part.text("emoji 😀", charset="gb2312")
    for charset in ("no-such-charset", "utf\x008"):  # (a NUL in the name: a ValueError from Python)
        with pytest.raises(mm7.EncodeError, match="cannot be written in"):
            mm7.Part.text("x", charset=charset)


def test_lookup_by_id_and_location():
    c = mm7.Content(parts=[mm7.Part.text("a", content_id="one"), mm7.Part.text("b", content_location="two.txt")])
    assert c.by_id("<one>").text_value == "a" and c.by_id("cid:one") is c.parts[0]
    assert c.by_location("two.txt") is c.parts[1] and c.by_id("missing") is None


def test_generated_smil():
    parts = [mm7.Part.from_bytes(GIF), mm7.Part.text("one"), mm7.Part.from_bytes(JPEG), mm7.Part.text("two"),
             mm7.Part.from_bytes(AMR), mm7.Part.from_bytes(b"\x00", "application/octet-stream")]
    smil = make_smil(parts)
    text = smil.data.decode()
    from lxml import etree

    root = etree.fromstring(smil.data)
    pars = root.findall(".//par")
    assert len(pars) == 2  # image+text+audio, image+text
    srcs = [el.get("src") for el in root.iter() if el.get("src")]
    assert srcs == [f"cid:{p.content_id}" for p in parts[:5]]
    assert 'region id="Image"' in text and 'region id="Text"' in text
    assert parts[5].content_id is None  # not presentable, not referenced


# ---------------------------------------------------------------------------------------------
# Reader quirks (our own fixtures after the captures in the samples' INDEX.md)


def soap_xml(body: str = "", version: str = NS6) -> bytes:
    body = body or ('<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>+861</Number></Sender>'
                    '<Content href="cid:content-1"/></DeliverReq>')
    return (f'<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="{SOAP}" xmlns="{version}">'
            f'<e:Header><TransactionID e:mustUnderstand="1">t</TransactionID></e:Header><e:Body>{body}'
            "</e:Body></e:Envelope>").encode()


def mime(parts: list[tuple[list[str], bytes]], boundary: str = "b1", nl: bytes = b"\r\n", preamble: bytes = b"",
         epilogue: bytes = b"", pad: bytes = b"", blank: bool = True) -> bytes:
    out = preamble
    for headers, body in parts:
        out += b"--" + boundary.encode() + pad + nl
        out += b"".join(h.encode("utf-8") + nl for h in headers) + (nl if blank else b"") + body + nl
    return out + b"--" + boundary.encode() + b"--" + pad + nl + epilogue


def content_part(headers: list[str] | None = None, body: bytes = b"hello", cid: str = "<content-1>") -> tuple:
    return ([f"Content-ID: {cid}", "Content-Type: text/plain; charset=utf-8", *(headers or [])], body)


def decode(data: bytes, ctype: str | None = 'multipart/related; boundary="b1"; type="text/xml"'):
    return mm7.decode(data, ctype)


def codes(env) -> set[str]:
    return {d.code for d in env.deviations}


def test_clean_fixture_has_no_deviations():
    env = decode(mime([(["Content-Type: text/xml"], soap_xml()), content_part()]))
    assert env.deviations == [] and env.body.content.parts[0].data == b"hello"


def _mo_with_smil(smil: bytes, extra: list[tuple[list[str], bytes]] = ()) -> mm7.Envelope:
    """A flat DeliverReq: the SMIL the href names, a picture (Content-ID pic, Content-Location
    IMG_01.JPG) and a text (Content-ID txt, no location), and `extra` parts."""
    return decode(mime([(["Content-Type: text/xml"], soap_xml()),
                        (["Content-ID: <content-1>", "Content-Type: application/smil"], smil),
                        (["Content-ID: <pic>", "Content-Location: IMG_01.JPG", "Content-Type: image/jpeg"],
                         b"\xff\xd8\xff\xe0jpeg"),
                        (["Content-ID: <txt>", "Content-Type: text/plain; charset=utf-8"], "你好".encode()),
                        *extra]))


def test_smil_references_that_name_no_part_are_said_at_decode():
    # A slide naming a part the message does not have (an MMSC that dropped a part, a handset's
    # stale SMIL) was read without a word: the handset shows it blank, the application never knew.
    env = _mo_with_smil(b'<smil><body><par><img src="cid:pic"/><text src="cid:gone"/></par>'
                        b'<par><img src="cid:gone"/><audio src="voice.amr"/></par></body></smil>')
    [dev] = [d for d in env.deviations if d.code == "smil-dangling"]
    assert "'cid:gone', 'voice.amr'" in dev.message and dev.path == "/part[2]"
    assert env.body.content.by_reference("cid:pic") is not None
    # Found as handsets look them up (a location ignoring case, a path's last segment, a bare
    # Content-ID), or outside the message (http:): nothing said, whatever the SMIL's charset.
    for smil in (b'<smil><body><par><img src="cid:pic"/><text src="cid:txt"/></par></body></smil>',
                 b'<smil><body><par><img src="./img_01.jpg"/><text src="txt"/></par></body></smil>',
                 b'<smil><body><par><img src="http://example.com/a.gif"/><text src=\'cid:%74xt\'/></par></body></smil>',
                 '<smil><body><!-- 旧 --><par><img src="IMG_01.JPG"/></par></body></smil>'.encode("gbk")):
        assert "smil-dangling" not in codes(_mo_with_smil(smil)), smil
    # Strict decoding reads such a message (a handset's slip, no protocol's): said, not refused.
    body = mime([(["Content-Type: text/xml"], soap_xml()),
                 (["Content-ID: <content-1>", "Content-Type: application/smil"], b'<smil><img src="cid:x"/></smil>')])
    assert codes(mm7.decode(body, 'multipart/related; boundary="b1"; type="text/xml"', strict=True)) == {"smil-dangling"}
    # Past ten references to nothing, the rest counted.
    many = b"<smil>" + b"".join(b'<img src="cid:n%d"/>' % i for i in range(25)) + b"</smil>"
    [dev] = [d for d in _mo_with_smil(many).deviations if d.code == "smil-dangling"]
    assert "'cid:n9' and 15 more" in dev.message and "cid:n10" not in dev.message


def test_an_empty_smil_part_is_said_never_refused():
    # A SMIL of no bytes, or white space alone, presents nothing: it was read without a word.
    for smil, held in ((b"", "no bytes"), (b"  \r\n\t", "5 bytes of white space"),
                       ("\ufeff \n".encode("utf-16"), "8 bytes of white space")):
        env = _mo_with_smil(smil)
        [dev] = [d for d in env.deviations if d.code == "smil-empty"]
        assert held in dev.message and dev.path == "/part[2]" and "smil-dangling" not in codes(env)
        assert [p.content_id for p in env.body.content.in_smil_order()] == ["pic", "txt"]
    body = mime([(["Content-Type: text/xml"], soap_xml()),
                 (["Content-ID: <content-1>", "Content-Type: application/smil"], b" ")])
    assert codes(mm7.decode(body, 'multipart/related; boundary="b1"; type="text/xml"', strict=True)) == {"smil-empty"}
    assert "smil-empty" not in codes(_mo_with_smil(b"<smil/>"))


def test_a_gbk_smil_without_a_charset_finds_parts_whose_gbk_names_are_utf8_as_well():
    # A handset's SMIL in GBK, no charset: "图片" in GBK (CD BC C6 AC) is UTF-8 as well ("ͼƬ"), so
    # the SMIL reads "ͼƬ.jpg", while the part's raw GBK name reads "图片.jpg": the slide named no
    # part (said as smil-dangling, put last in SMIL order, found by no by_reference).
    gbk = "图片".encode("gbk")
    smil = b'<smil><body><par><text src="cid:t"/></par><par><img src="' + gbk + b'.jpg"/></par></body></smil>'
    env = decode(mime([(["Content-Type: text/xml"], soap_xml()),
                       (["Content-ID: <content-1>", "Content-Type: application/smil"], smil),
                       (["Content-Type: image/jpeg; name=NAME.jpg"], b"\xff\xd8\xff\xe0jpeg"),
                       (["Content-ID: <t>", "Content-Type: text/plain; charset=utf-8"], "你好".encode())]
                      ).replace(b"NAME", gbk))  # (the name's raw bytes in the header)
    content = env.body.content
    assert "smil-dangling" not in codes(env)
    assert content.parts[0].filename == "图片.jpg" and content.by_reference("ͼƬ.jpg") is content.parts[0]
    assert [p.content_type for p in content.in_smil_order()] == ["text/plain", "image/jpeg"]
    assert content.by_reference("ͼƬ.png") is None  # (another name still names nothing)


def test_lf_only_line_ends():
    env = decode(mime([(["Content-Type: text/xml"], soap_xml()), content_part()], nl=b"\n"))
    assert codes(env) == {"mime-bare-lf"} and env.body.content.parts[0].data == b"hello"


def test_folded_headers_preamble_epilogue_and_padding():
    data = mime([(["Content-Type: text/xml;", "\tcharset=utf-8"], soap_xml()),
                 content_part(["Content-Disposition: attachment;", '  filename="note.txt"'])],
                preamble=b"This is a multi-part message in MIME format.\r\n\r\n", epilogue=b"trailing junk\r\n",
                pad=b"  \t")
    env = decode(data, 'multipart/related;\r\n\tboundary="b1"; type="text/xml"')
    assert env.deviations == []
    assert env.body.content.parts[0].filename == "note.txt"


@pytest.mark.parametrize("how", ["bytes", "padded", "stream", "trickle"])
def test_a_part_after_the_closing_delimiter_is_said_not_dropped_unsaid(how):
    """MIME ignores the epilogue, and so do we; but a part in it, after a delimiter closed early,
    was dropped without a word while the message was acknowledged. It is said (mime-epilogue),
    wherever the body's reader finds it: in memory, in the general reader (padding after a
    boundary), from a stream however it arrives, in a nested multipart."""
    from .streams import Trickle

    lost = b"--b1\r\nContent-Type: text/plain\r\n\r\nlost\r\n--b1--\r\n"
    pad = b" " if how == "padded" else b""
    data = mime([(["Content-Type: text/xml"], soap_xml()), content_part()], epilogue=b"\r\n" + lost, pad=pad)
    source = {"stream": io.BytesIO(data), "trickle": Trickle(data, 5)}.get(how, data)
    env = mm7.decode(source, 'multipart/related; boundary="b1"; type="text/xml"')
    assert [(d.code, d.path) for d in env.deviations] == [("mime-epilogue", "")]
    assert "a part after the closing --b1--" in env.deviations[0].message
    assert [p.data for p in env.body.content.parts] == [b"hello"]
    # A nested multipart's too; text after a closing line, or a closing line again, is none.
    inner = mime([(["Content-Type: text/plain"], b"one")], boundary="in", epilogue=lost.replace(b"b1", b"in"))
    env = decode(mime([(["Content-Type: text/xml"], soap_xml()),
                       (["Content-ID: <content-1>", 'Content-Type: multipart/mixed; boundary="in"'], inner)]))
    assert [(d.code, d.path) for d in env.deviations] == [("mime-epilogue", "/part[2]")]
    for epilogue in (b"trailing text\r\n--b1-- again\r\n", b"--b1--\r\n", b"x--b1\r\n", b"--b1"):
        env = decode(mime([(["Content-Type: text/xml"], soap_xml()), content_part()], epilogue=epilogue, pad=pad))
        assert env.deviations == [], epilogue


def test_a_soap_part_that_cannot_be_read_says_what_the_mime_said_of_it():
    """The error for a root part that is no SOAP XML said only what the XML parser saw ("Start tag
    expected"); what the MIME said of that part — the part a start= names, its type, a transfer
    encoding not undone — was dropped with the deviations. It is said with the error now, and the
    deviations go with it."""
    import gzip

    # (no part labelled XML beside it: one would be read as the SOAP part, said as a deviation)
    data = mime([(["Content-Type: application/octet-stream", "Content-ID: <s>"], soap_xml()), content_part(cid="<c1>")])
    with pytest.raises(mm7.MalformedXMLError, match=re.escape(
            "(/part[2] is the part start=<c1> names; /part[2]: the SOAP part is labelled text/plain)")) as caught:
        decode(data, 'multipart/related; boundary="b1"; type="text/xml"; start="<c1>"')
    assert "soap-content-type" in {d.code for d in caught.value.deviations}
    zipped = mime([(["Content-Type: text/xml", "Content-Transfer-Encoding: gzip"], gzip.compress(soap_xml(), mtime=0)),
                   content_part()])
    with pytest.raises(mm7.DecodeError, match=re.escape(
            "(/part[1]: unknown Content-Transfer-Encoding 'gzip', read as binary)")):
        decode(zipped)
    zipped = zipped.replace(b"Content-Transfer-Encoding: gzip", b"Content-Encoding: gzip")
    with pytest.raises(mm7.DecodeError, match=re.escape("(/part[1]: Content-Encoding 'gzip' on a part")):
        decode(zipped)


@pytest.mark.parametrize("pad", [b"", b" "])
def test_a_part_with_a_content_encoding_is_said_its_bytes_kept(pad):
    """Content-Encoding is HTTP's, no MIME part header: a part sent with one (gzip) was kept as its
    compressed bytes without a word — a JPEG that is gzip, shown as a JPEG. It is said, the bytes
    kept as they came (in memory as written, and by the general reader)."""
    import gzip

    zipped = gzip.compress(b"\xff\xd8 a picture", mtime=0)
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 (["Content-ID: <content-1>", "Content-Type: image/jpeg", "Content-Encoding: gzip"], zipped)], pad=pad)
    env = decode(data)
    assert [(d.code, d.path) for d in env.deviations] == [("mime-content-encoding", "/part[2]")]
    assert "Content-Encoding 'gzip' on a part" in env.deviations[0].message
    assert env.body.content.parts[0].data == zipped
    plain = mime([(["Content-Type: text/xml"], soap_xml()), content_part(["Content-Encoding: identity"])], pad=pad)
    assert decode(plain).deviations == []


def test_boundary_starting_with_dashes_and_capitalised_parameters():
    data = mime([(["Content-Type:text/xml;charset=\"UTF-8\""], soap_xml()), content_part()], boundary="--NextPart_0_1")
    env = decode(data, 'Multipart/Related; Boundary="--NextPart_0_1"; Type="text/xml"; Start="<s>"')
    assert {"mime-start"} == codes(env)  # start names no part: first part used, and said so
    nested = mime([(["Content-Type: application/smil", "Content-ID: <sm>"], b"<smil/>"),
                   (["Content-Type: text/plain"], b"one")], boundary="inner")
    data = mime([(["Content-Type: text/xml", "Content-Id: <s>"], soap_xml()),
                 (["Content-Id: <content-1>", 'Content-Type: multipart/related; Type="application/smil"; '
                   'Start="<sm>"; boundary="inner"'], nested)])
    env = decode(data, 'multipart/related; boundary="b1"; start="<s>"')
    assert env.deviations == [] and env.body.content.parts[0].data == b"one"


def test_missing_blank_line_after_part_headers():
    data = mime([(["Content-Type:text/xml;charset=\"GB2312\"", "Content-ID:</tnn-200102/mm7-vasp>"], soap_xml()),
                 content_part()], blank=False)
    env = decode(data, 'multipart/related; boundary="b1"; start="</tnn-200102/mm7-vasp>"')
    assert "mime-missing-blank-line" in codes(env)
    assert env.body.sender == mm7.Number("+861") and env.body.content.parts[0].data == b"hello"


def test_nested_multiparts_and_smil_by_start():
    inner = mime([(["Content-Type: application/smil", "Content-ID: <sm>"], b"<smil/>"),
                  (["Content-Type: multipart/alternative; boundary=alt"],
                   mime([(["Content-Type: text/plain"], b"plain"), (["Content-Type: text/html"], b"<b>x</b>")],
                        boundary="alt")),
                  (["Content-Type: image/gif", "Content-Location: pic.gif"], GIF)], boundary="inner")
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 (["Content-ID: <content-1>", 'Content-Type: multipart/related; start="<sm>"; boundary=inner'], inner)])
    env = decode(data)
    c = env.body.content
    assert c.smil.data == b"<smil/>" and [p.data for p in c.parts] == [b"plain", b"<b>x</b>", GIF]
    assert c.by_location("pic.gif").content_type == "image/gif"


@pytest.mark.parametrize("cte", ["binary", "8bit", "7bit", "BASE64", "base64-unwrapped", "Quoted-Printable"])
def test_transfer_encodings(cte):
    payload = JPEG if cte != "7bit" else b"ascii only\r\nline 2"
    if cte.lower() == "base64":
        body = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    elif cte == "base64-unwrapped":
        body, cte = base64.b64encode(payload), "base64"
    elif cte.lower() == "quoted-printable":
        import binascii

        body = binascii.b2a_qp(payload, istext=False)  # (the quopri module drops CRs before LF)
    else:
        body = payload
    env = decode(mime([(["Content-Type: text/xml"], soap_xml()),
                       content_part([f"Content-Transfer-Encoding: {cte}"], body)]))
    assert env.body.content.parts[0].data == payload


def test_charsets_and_encoded_words():
    gb = "简体中文镕".encode("gbk")
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 (["Content-ID: <content-1>", "Content-Type: multipart/mixed; boundary=in"],
                  mime([(['Content-Type: text/plain; charset="GB2312"; name="=?GB2312?B?'
                          + base64.b64encode("文件.txt".encode("gb2312")).decode() + '?="'], gb),
                        (["Content-Type: text/plain; charset=utf8",
                          "Content-Disposition: attachment; filename*=UTF-8''%E6%96%87%E6%A1%A3.txt"],
                         "UTF-8 文字".encode()),
                        (["Content-Type: text/plain; charset=GBK"], gb)], boundary="in"))])
    parts = decode(data).body.content.parts
    assert parts[0].text_value == "简体中文镕" and parts[0].filename == "文件.txt"
    assert parts[1].text_value == "UTF-8 文字" and parts[1].filename == "文档.txt"
    assert parts[2].text_value == "简体中文镕"


def test_root_found_by_start_with_or_without_brackets():
    parts = [content_part(cid="<content-1>"), (["Content-Type: text/xml", "Content-ID: <soap>"], soap_xml())]
    env = decode(mime(parts), 'multipart/related; boundary=b1; start="<soap>"')
    assert env.deviations == []
    env = decode(mime(parts), 'multipart/related; boundary=b1; start="soap"')
    assert codes(env) == {"mime-start"}
    env = decode(mime(parts), "multipart/related; boundary=b1")  # no start: SOAP part found by type
    assert codes(env) == {"mime-root"}


@pytest.mark.parametrize(("href", "headers", "code"), [
    ("cid:content-1", ["Content-ID: <content-1>"], None),
    ("content-1", ["Content-ID: <content-1>"], "href-form"),
    ("cid: content-1", ["Content-ID: content-1"], "href-form"),
    ("cid:%63ontent-1", ["Content-ID: <content-1>"], None),
    ("pic.txt", ["Content-Location: pic.txt"], "href-form"),
    ("cid:nowhere", ["Content-ID: <content-1>"], "href-dangling"),
    ("cid:Content-1", ["Content-ID: <content-1>"], "href-inexact"),  # (found ignoring case: said so)
])
def test_href_resolution(href, headers, code):
    xml = soap_xml(f'<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
                   f'<Content href="{href}"/></DeliverReq>')
    env = decode(mime([(["Content-Type: text/xml"], xml), ([*headers, "Content-Type: text/plain"], b"it")]))
    assert env.body.content.parts[0].data == b"it"
    assert ({code} if code else set()) <= codes(env)
    if code is None:
        assert not {"href-form", "href-dangling"} & codes(env)
    # (at the attribute's whole path, as the XML's deviations about it are: "/Content/@href" it was)
    assert {d.path for d in env.deviations if d.code.startswith("href-")} <= {"/Envelope/Body/DeliverReq/Content/@href"}


def test_an_href_naming_the_smil_inside_the_content_takes_the_content_and_says_so():
    """Some senders name the SMIL's Content-ID in the href, not the multipart around it: the
    multipart is the content, and the loose reference is reported (it was tolerated silently)."""
    xml = soap_xml('<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
                   '<Content href="cid:sm"/></DeliverReq>')
    inner = mime([(["Content-Type: application/smil", "Content-ID: <sm>"], b"<smil/>"),
                  (["Content-Type: text/plain"], b"one")], boundary="in")
    env = decode(mime([(["Content-Type: text/xml"], xml),
                       (["Content-ID: <content-1>", 'Content-Type: multipart/related; start="<sm>"; boundary=in'], inner)]))
    assert codes(env) == {"href-inexact"}
    assert env.body.content.smil.data == b"<smil/>" and [p.data for p in env.body.content.parts] == [b"one"]


def test_a_start_matching_a_content_id_only_ignoring_case_is_reported():
    parts = [(["Content-Type: text/xml", "Content-ID: <Soap-1>"], soap_xml()), content_part()]
    env = decode(mime(parts), 'multipart/related; boundary=b1; start="<soap-1>"')
    assert codes(env) == {"mime-start"} and env.body.content.parts[0].data == b"hello"


def test_a_start_naming_the_content_rather_than_the_soap_part_takes_the_xml_part_and_says_so():
    """An MMSC that names its content (or the SMIL) in start=: the part labelled XML is the SOAP
    part; the message was refused as not XML before."""
    xml = soap_xml('<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
                   '<Content href="cid:content-1"/></DeliverReq>')
    parts = [(["Content-Type: text/xml", "Content-ID: <soap>"], xml),
             (["Content-Type: image/jpeg", "Content-ID: <content-1>"], b"\xff\xd8\xff\xe0 jpeg")]
    env = decode(mime(parts), 'multipart/related; boundary=b1; type="text/xml"; start="<content-1>"')
    assert codes(env) == {"mime-start"}
    assert "not XML; the SOAP part is /part[1]" in next(d.message for d in env.deviations if d.code == "mime-start")
    assert env.body.content.parts[0].data == b"\xff\xd8\xff\xe0 jpeg"


@pytest.mark.parametrize("named", [
    b"<?xml version='1.0'?><x/>",  # XML under another label: read as the part start= names
    b"\xef\xbb\xbf  <x/>",
])
def test_a_start_naming_a_part_that_is_xml_under_another_label_is_still_that_part(named):
    parts = [(["Content-Type: text/xml"], soap_xml()),
             (["Content-Type: text/plain", "Content-ID: <other>"], named)]
    with pytest.raises(mm7.DecodeError):
        decode(mime(parts), 'multipart/related; boundary=b1; start="<other>"')


def test_a_start_naming_a_non_xml_part_with_two_xml_parts_beside_it_is_not_guessed():
    parts = [(["Content-Type: image/gif", "Content-ID: <pic>"], b"GIF89a"),
             (["Content-Type: text/xml"], soap_xml()), (["Content-Type: text/xml"], soap_xml())]
    with pytest.raises(mm7.DecodeError, match="start=<pic>"):
        decode(mime(parts), 'multipart/related; boundary=b1; start="<pic>"')


@pytest.mark.parametrize("nested", [False, True])
def test_an_attachment_with_the_soap_parts_content_id_is_reported(nested):
    """A cid: reference to that id (the href's, the SMIL's) may find either part: said, as two
    attachments sharing one are."""
    xml = soap_xml('<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
                   '<Content href="cid:content-1"/></DeliverReq>')
    leaf = (["Content-Type: text/plain", "Content-ID: <SOAP>"], b"it")
    content = ((["Content-Type: multipart/mixed; boundary=in", "Content-ID: <content-1>"], mime([leaf], boundary="in"))
               if nested else (["Content-Type: text/plain", "Content-ID: <content-1>"], b"one"))
    parts = [(["Content-Type: text/xml", "Content-ID: <soap>"], xml), content] + ([] if nested else [leaf])
    env = decode(mime(parts), 'multipart/related; boundary=b1; type="text/xml"; start="<soap>"')
    dup = [d for d in env.deviations if d.code == "mime-duplicate-content-id"]
    assert [d.message for d in dup] == ["Content-ID <SOAP> of the SOAP part too"]
    assert dup[0].path == ("/part[2]/part[1]" if nested else "/part[3]")
    # The content's multipart itself under that id: said too.
    inner = mime([(["Content-Type: text/plain"], b"it")], boundary="in")
    env = decode(mime([(["Content-Type: text/xml", "Content-ID: <soap>"], xml.replace(b"content-1", b"soap")),
                       (["Content-Type: multipart/mixed; boundary=in", "Content-ID: <Soap>"], inner)]),
                 'multipart/related; boundary=b1; type="text/xml"; start="<soap>"')
    assert [(d.path, d.message) for d in env.deviations if d.code == "mime-duplicate-content-id"] == [
        ("/part[2]", "Content-ID <Soap> of the SOAP part too")]
    plain = [(["Content-Type: text/xml", "Content-ID: <soap>"], xml), (["Content-Type: text/plain", "Content-ID: <content-1>"], b"one")]
    assert "mime-duplicate-content-id" not in codes(decode(mime(plain), 'multipart/related; boundary=b1; type="text/xml"; start="<soap>"'))


def test_cid_href_resolved_by_content_location_when_no_part_has_that_id():
    xml = soap_xml('<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
                   '<Content href="cid:b.txt"/></DeliverReq>')
    env = decode(mime([(["Content-Type: text/xml"], xml),
                       (["Content-ID: <a.txt>", "Content-Type: text/plain"], b"other"),
                       (["Content-Location: b.txt", "Content-Type: text/plain"], b"it")]))
    assert env.body.content.parts[0].data == b"it"
    assert "href-location" in codes(env) and "href-dangling" not in codes(env)


def test_a_quoted_content_location_is_read_as_the_name_inside_its_quotes():
    """Some handsets quote a Content-Location as a file name ("蚛.gif" in quotes): the quotes were
    kept as part of the name, the SMIL's src="蚛.gif" found nothing, and saved it was _蚛.gif_.gif."""
    smil = '<smil><body><par><img src="蚛.gif"/><text src="a b.txt"/></par></body></smil>'.encode()
    xml = soap_xml('<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
                   '<Content href="cid:pres"/></DeliverReq>')
    env = decode(mime([(["Content-Type: text/xml"], xml),
                       (["Content-Type: multipart/related; boundary=inner"],
                        mime([(["Content-ID: <pres>", "Content-Type: application/smil"], smil),
                              (['Content-Location: "%E8%9A%9B.gif"', "Content-Type: image/gif"], GIF),
                              (['Content-Location: "a b.txt"', "Content-Type: text/plain"], b"hi")],
                             boundary="inner"))]))
    content = env.body.content
    assert [p.content_location for p in content.parts] == ["蚛.gif", "a b.txt"]
    assert "smil-dangling" not in codes(env) and content.by_reference("蚛.gif").data == GIF


def test_flat_parts_with_the_href_naming_the_smil():
    smil = b'<smil><body><par><img src="cid:pic"/></par></body></smil>'
    xml = soap_xml('<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
                   '<Content href="cid:pres"/></DeliverReq>')
    env = decode(mime([(["Content-Type: text/xml"], xml), (["Content-ID: <pres>", "Content-Type: application/smil"], smil),
                       (["Content-ID: <pic>", "Content-Type: image/gif"], GIF)]))
    content = env.body.content
    assert content.smil is not None and content.smil.data == smil and [p.data for p in content.parts] == [GIF]
    out = mm7.encode(mm7.SubmitReq(recipients=["1"], content=content), transaction_id="f")
    forwarded = mm7.decode(out.to_bytes(), out.content_type)
    sent = forwarded.body.content
    assert sent.smil.data == smil and [p.kind for p in sent.parts] == ["image"]  # no second, generated SMIL


def test_no_content_element_but_attachments():
    xml = soap_xml("<SubmitReq><MM7Version>6.8.0</MM7Version><SenderIdentification/><Recipients><To><Number>1"
                   "</Number></To></Recipients></SubmitReq>")
    env = decode(mime([(["Content-Type: text/xml"], xml), content_part()]))
    assert "content-ref-missing" in codes(env) and env.body.content.parts[0].data == b"hello"


def test_attachments_spread_at_top_level():
    xml = soap_xml()
    env = decode(mime([(["Content-Type: text/xml"], xml), content_part(), (["Content-Type: image/gif"], GIF)]))
    assert "content-spread" in codes(env) and [p.data for p in env.body.content.parts] == [b"hello", GIF]


@pytest.mark.parametrize("href", ["cid:pic", None])
def test_a_smil_spread_beside_the_part_the_href_names_is_the_presentation(href):
    """Parts spread at the top level are read as one content: its SMIL, wherever it stands, is the
    presentation. It was kept only when the href named it (or it came first), else it went among
    the parts, and forwarding the content made a second SMIL for it."""
    ref = f'<Content href="{href}"/>' if href else ""
    xml = soap_xml("<SubmitReq><MM7Version>6.8.0</MM7Version><SenderIdentification/><Recipients><To><Number>1"
                   f"</Number></To></Recipients>{ref}</SubmitReq>")
    smil = b'<smil><body><par><img src="cid:pic"/><text src="cid:txt"/></par></body></smil>'
    env = decode(mime([(["Content-Type: text/xml"], xml), (["Content-ID: <pic>", "Content-Type: image/gif"], GIF),
                       (["Content-ID: <txt>", "Content-Type: text/plain"], b"hello"),
                       (["Content-ID: <pres>", "Content-Type: application/smil"], smil)]))
    content = env.body.content
    assert "content-spread" in codes(env)
    assert content.smil.data == smil and [p.content_id for p in content.parts] == ["pic", "txt"]
    out = mm7.encode(mm7.SubmitReq(recipients=["1"], content=content), transaction_id="f")
    sent = mm7.decode(out.to_bytes(), out.content_type, strict=True).body.content
    assert sent.smil.data == smil and [p.kind for p in sent.parts] == ["image", "text"]


def test_multipart_type_without_boundary_but_bare_xml():
    env = decode(soap_xml(), 'multipart/related; type="text/xml";')
    assert codes(env) == {"mime-no-boundary"}


def test_a_nested_boundary_with_spaces_padded_delimiters_and_a_trailing_semicolon():
    """The spec example's inner boundary "StoryParts 74526 8432 2002-77645" (spaces are allowed
    inside a boundary), its delimiter lines padded with spaces, and `image/gif; ` with nothing after
    the semicolon: all MIME allows, so no deviation."""
    spaced = "StoryParts 74526 8432 2002-77645"
    inner = mime([(["Content-Type: text/plain; charset=us-ascii"], b"story"),
                  (["Content-Type: image/gif; ", "Content-ID: <pic>"], GIF)], boundary=spaced, pad=b" ")
    env = decode(mime([(["Content-Type: text/xml"], soap_xml()),
                       (["Content-ID: <content-1>", f'Content-Type: multipart/mixed; boundary="{spaced}"'], inner)]))
    assert env.deviations == []
    assert [(p.content_type, p.data) for p in env.body.content.parts] == [("text/plain", b"story"), ("image/gif", GIF)]


def test_nokia_style_smil_last_found_by_a_capitalised_start_and_media_by_location():
    """Nokia MMSCs: `Start=`/`Type=` capitalised, the SMIL the last part, `Name=`/`Charset=`
    capitalised, the picture with only a Content-Location that the SMIL's `src` names."""
    smil = b'<smil><body><par><img src="Bomb.gif"/></par></body></smil>'
    inner = mime([(["Content-Type: image/gif", "Content-Location: Bomb.gif"], GIF),
                  (["Content-Type: application/smil; Name=main.smil; Charset=UTF-8", "Content-ID: <5802>"], smil)],
                 boundary="in")
    container = 'Content-Type: multipart/related; Start="<5802>"; Type="application/smil"; boundary="in"'
    env = decode(mime([(["Content-Type: text/xml"], soap_xml()), (["Content-ID: <content-1>", container], inner)]))
    c = env.body.content
    assert env.deviations == []
    assert c.smil.data == smil and c.smil.filename == "main.smil" and c.smil.charset == "UTF-8"
    [gif] = c.parts
    assert gif.content_id is None and c.by_location("Bomb.gif") is gif


def test_momentum_style_inline_soap_part_charset_on_the_container_and_a_mixed_preamble():
    """Momentum's example: the SOAP part marked `Content-Disposition: inline`, a charset parameter
    on the outer multipart/related, and the attachments in a multipart/mixed with a preamble line."""
    inner = b"This is a multipart message\r\n" + mime([(["Content-Type: text/plain"], b"hi"),
                                                      (["Content-Type: image/gif"], GIF)], boundary="in")
    env = decode(mime([(["Content-Type: text/xml", "Content-ID: <soap>", "Content-Disposition: inline"], soap_xml()),
                       (["Content-ID: <content-1>", 'Content-Type: multipart/mixed; boundary="in"'], inner)]),
                 'multipart/related; charset=utf-8; boundary="b1"; type="text/xml"; start="<soap>"')
    assert env.deviations == [] and [p.data for p in env.body.content.parts] == [b"hi", GIF]


def test_a_multipart_inside_the_content_is_read_as_its_parts_and_said_so():
    """A Content is one list of parts: a multipart/alternative inside the content's multipart/mixed
    is read as its leaves beside the others, which the message says (it would be sent on flat)."""
    alt = mime([(["Content-Type: text/plain; charset=utf-8"], "你好".encode()),
                (["Content-Type: text/html; charset=utf-8"], b"<b>hi</b>")], boundary="alt")
    inner = mime([(['Content-Type: multipart/alternative; boundary="alt"'], alt),
                  (["Content-Type: image/gif"], GIF)], boundary="in")
    env = decode(mime([(["Content-Type: text/xml", "Content-ID: <soap>"], soap_xml()),
                       (["Content-ID: <content-1>", 'Content-Type: multipart/mixed; boundary="in"'], inner)]),
                 'multipart/related; boundary="b1"; type="text/xml"; start="<soap>"')
    assert [(d.code, d.path, d.message) for d in env.deviations] == [
        ("mime-nested", "/part[2]/part[1]", "multipart/alternative inside the content, read as its 2 part(s) beside "
                                            "the others")]
    assert [p.content_type for p in env.body.content.parts] == ["text/plain", "text/html", "image/gif"]


def test_content_ids_without_angle_brackets_are_matched_and_reported():
    """`Content-ID: content_15` (JavaMail, Chinese MMSCs): the href finds it, and the slip is named."""
    xml = soap_xml('<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
                   '<Content href="cid:content_15"/></DeliverReq>')
    env = decode(mime([(["Content-Type: text/xml"], xml), (["Content-ID: content_15", "Content-Type: image/gif"], GIF)]))
    assert codes(env) == {"mime-content-id"}
    assert env.body.content.content_id == "content_15" and env.body.content.parts[0].data == GIF


def test_content_ids_without_angle_brackets_are_reported_on_containers_and_the_soap_part_too():
    # JavaMail's and a Chinese MMSC's content container ("Content-ID: content_15", "Content-ID:defaultID")
    # and a SOAP part's: only a leaf's was looked at.
    xml = soap_xml('<DeliverReq><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
                   '<Content href="cid:content_15"/></DeliverReq>')
    inner = mime([(["Content-Type: application/smil", "Content-ID: <smil>"], b"<smil/>"),
                  (["Content-Type: image/gif", "Content-ID: <g>"], GIF)], boundary="in")
    container = (["Content-ID: content_15",
                  'Content-Type: multipart/related; type="application/smil"; start="<smil>"; boundary="in"'], inner)
    env = decode(mime([(["Content-Type: text/xml", "Content-ID: <soap>"], xml), container]))
    said = "[mime-content-id] /part[2]: Content-ID 'content_15' without angle brackets"
    assert [str(d) for d in env.deviations] == [said]
    assert env.body.content.content_id == "content_15" and env.body.content.parts[0].data == GIF
    env = decode(mime([(["Content-Type: text/xml", "Content-ID: soap"], xml), container]),
                 'multipart/related; boundary="b1"; type="text/xml"; start="<soap>"')
    assert [(d.code, d.path) for d in env.deviations] == [("mime-content-id", "/part[1]")]  # (the first said)


def test_a_related_type_parameter_that_is_not_its_roots_type_is_reported():
    # Skycore's content: start="<mms.smil>" with type="text/xml" (the SMIL is application/smil).
    xml = soap_xml()
    inner = mime([(["Content-Type: text/plain", "Content-ID: <t>"], b"hello"),
                  (["Content-Type: application/smil", "Content-ID: <mms.smil>"], b"<smil/>")], boundary="in")
    related = 'Content-Type: multipart/related; start="<mms.smil>"; boundary="in"; type='
    data = mime([(["Content-Type: text/xml"], xml), (["Content-ID: <content-1>", related + '"text/xml"'], inner)])
    env = decode(data)
    said = ("[mime-related-type] /part[2]: multipart/related type='text/xml', but its root part (/part[2]/part[2]) "
            "is application/smil")
    assert [str(d) for d in env.deviations] == [said]
    assert env.body.content.smil.data == b"<smil/>" and env.body.content.parts[0].data == b"hello"
    right = mime([(["Content-Type: text/xml"], xml), (["Content-ID: <content-1>", related + "Application/SMIL"], inner)])
    assert decode(right).deviations == []  # (the type's case is not its own)
    # the message's own: its root is the SOAP part (no start: the first part)
    env = decode(right, 'multipart/related; boundary="b1"; type="application/soap+xml"')
    said = "[mime-related-type] multipart/related type='application/soap+xml', but its root part (/part[1]) is text/xml"
    assert [str(d) for d in env.deviations] == [said]
    # a start naming no part is said as that alone (the first part is the root only as a fallback)
    assert codes(decode(right, 'multipart/related; boundary="b1"; type="application/smil"; start="<x>"')) == {"mime-start"}


def test_a_nested_multipart_without_boundary_is_split_by_its_first_delimiter_or_kept_whole():
    inner = mime([(["Content-Type: text/plain"], b"hello"), (["Content-Type: image/gif"], GIF)], boundary="inner")
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 (["Content-ID: <content-1>", "Content-Type: multipart/related"], inner)])
    env = decode(data)
    assert "mime-no-boundary" in codes(env)
    assert [p.data for p in env.body.content.parts] == [b"hello", GIF]
    # Nothing in it reads as a delimiter: the part is kept whole, as the deviation says.
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 (["Content-ID: <content-1>", "Content-Type: multipart/mixed"], b"no delimiter here")])
    env = decode(data)
    assert "mime-no-boundary" in codes(env)
    assert [(p.content_type, p.data) for p in env.body.content.parts] == [("multipart/mixed", b"no delimiter here")]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("label", ['"c1 "', '"c1\t"', "'c1'", '""c1""'])
def test_a_nested_boundary_the_part_does_not_use_is_read_as_the_part_says(label, stream):
    # A boundary label no delimiter line matches (a trailing space, which RFC 2046 forbids and a
    # delimiter line may carry as padding; quotes around quotes) refused the whole message.
    inner = mime([(["Content-Type: text/plain"], b"hello"), (["Content-Type: image/gif"], GIF)], boundary="c1")
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 (["Content-ID: <content-1>", f"Content-Type: multipart/related; boundary={label}"], inner)])
    env = mm7.decode(io.BytesIO(data) if stream else data, 'multipart/related; boundary="b1"')
    assert codes(env) == {"mime-boundary"}
    assert [p.data for p in env.body.content.parts] == [b"hello", GIF]


@pytest.mark.parametrize("stream", [False, True])
def test_a_boundary_label_ending_in_white_space_reads_its_body_from_a_stream_too(stream):
    data = mime([(["Content-Type: text/xml"], soap_xml()), content_part()])
    env = mm7.decode(Trickle(data, 7) if stream else data, 'multipart/related; boundary="b1 "')
    assert codes(env) == {"mime-boundary"} and env.body.content.parts[0].data == b"hello"


@pytest.mark.parametrize("how", ["memory", "stream", "trickle"])
def test_a_body_whose_label_names_another_boundary_is_read_from_a_stream_as_from_memory(how, tmp_path, monkeypatch):
    # Read from memory, the body's own first delimiter line said its boundary; read from a stream,
    # the same body was refused ("no part starts with the boundary").
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    big = os.urandom(300_000)
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 content_part(["Content-Transfer-Encoding: binary"], big)], boundary="real")
    source = {"memory": data, "stream": io.BytesIO(data), "trickle": Trickle(data, 1000)}[how]
    limits = MimeLimits(spool_threshold=100_000)  # (the copy of the stream goes to a temporary file)
    env = mm7.decode(source, 'multipart/related; boundary="label"', limits=limits)
    assert [str(d) for d in env.deviations] == ["[mime-boundary] boundary 'label' is not in the body; 'real' is"]
    assert env.body.content.parts[0].data == big
    del env
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stream", [False, True])
def test_a_label_whose_boundary_comes_after_a_line_like_a_delimiter_is_kept(stream):
    # The first "--" line is preamble; the label's boundary comes after the stream's first read.
    preamble = b"--not the boundary\r\n" + b"x" * 10_000 + b"\r\n"
    data = mime([(["Content-Type: text/xml"], soap_xml()), content_part()], boundary="b1", preamble=preamble)
    env = mm7.decode(io.BytesIO(data) if stream else data, 'multipart/related; boundary="b1"')
    assert codes(env) == set() and env.body.content.parts[0].data == b"hello"


def test_a_stream_searched_for_its_labelled_boundary_is_held_to_the_body_limit(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = mime([(["Content-Type: text/xml"], soap_xml()), content_part([], bytes(500_000))], boundary="real")
    with pytest.raises(mm7.LimitExceededError, match="more than 300000 bytes"):
        mm7.decode(io.BytesIO(data), 'multipart/related; boundary="label"',
                   limits=MimeLimits(spool_threshold=100_000, max_body_bytes=300_000))
    assert list(tmp_path.iterdir()) == []


def test_a_delimiter_is_found_in_a_spooled_part_across_its_chunks():
    from mm7bind.content import CHUNK
    from mm7bind.mime import _holds

    blob = BytesBlob(b"x" * (CHUNK - 3) + b"--c1\r\n")
    assert _holds(blob, b"--c1") and not _holds(blob, b"--c2") and _holds(BytesBlob(b"--c1"), b"--c1")


def test_mime_body_without_headers_sniffs_its_boundary():
    env = mm7.decode(mime([(["Content-Type: text/xml"], soap_xml()), content_part()], boundary="==x=="), None)
    assert env.body.content.parts[0].data == b"hello"


def test_application_xml_is_tolerated():
    env = mm7.decode(soap_xml(), "application/xml; charset=utf-8")
    assert codes(env) == {"soap-content-type"}


def test_raw_8bit_binary_parts_are_never_decoded_as_text():
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 content_part(["Content-Transfer-Encoding: 8bit"], JPEG)])
    assert decode(data).body.content.parts[0].data == JPEG


def test_strict_mode_refuses_mime_deviations():
    data = mime([(["Content-Type: text/xml"], soap_xml()), content_part()], nl=b"\n")
    with pytest.raises(mm7.ValidationError, match="mime-bare-lf"):
        mm7.decode(data, 'multipart/related; boundary="b1"', strict=True)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(("data", "ctype", "pattern"), [
    (b"just words", None, "neither XML nor MIME"),
    (b"", None, "the body is empty"),  # (a file cut to nothing: said so, not "neither XML nor MIME")
    (b" \r\n", None, "the body is empty"),
    (b" " * 5000 + b"just words", None, "neither XML nor MIME"),  # (blank as far as looked: not all of it)
    (b"just words", "multipart/related", "without a boundary"),
    (b"no delimiter here at all", "multipart/related; boundary=b1", "no part starts with the boundary"),
    (b"%PDF", "application/pdf", "unexpected Content-Type"),
    (b"--\xe4\xb9\xb5\r\n", "multipart/related; boundary=\u4e75", "not a valid MIME boundary"),
])
def test_not_mime(data, ctype, pattern):
    with pytest.raises(mm7.MimeError, match=pattern):
        mm7.decode(data, ctype)


def test_a_sniffed_boundary_that_is_not_ascii_is_quoted_as_written():
    # A body without its headers, copied from a document with typographic quotes: the error quoted
    # the delimiter line's UTF-8 bytes read as Latin-1 ('\xe2\x80\x9d' for a closing quote)
    data = "--NextPart_01\u201d\r\nContent-Type: text/xml\r\n\r\n<a/>\r\n--NextPart_01\u201d--\r\n".encode()
    with pytest.raises(mm7.MimeError, match="boundary 'NextPart_01\u201d' is not a valid MIME boundary"):
        mm7.decode(data, None)


def test_undecodable_base64():
    data = mime([(["Content-Type: text/xml"], soap_xml()), content_part(["Content-Transfer-Encoding: base64"],
                                                                          b"!!!not base64***")])
    with pytest.raises(mm7.MimeError, match="undecodable base64"):
        decode(data)


def test_limits():
    many = mime([(["Content-Type: text/plain"], b"x")] * 50)
    with pytest.raises(mm7.LimitExceededError, match="more than 20 MIME parts"):
        read_multipart(many, "b1", MimeLimits(max_parts=20))
    deep = b"leaf"
    for level in range(8):
        deep = mime([([f"Content-Type: multipart/mixed; boundary=l{level - 1}"] if level else ["Content-Type: text/plain"],
                      deep)], boundary=f"l{level}")
    with pytest.raises(mm7.LimitExceededError, match="nested deeper than 4"):
        read_multipart(deep, "l7")
    long_headers = mime([(["X-Long: " + "a" * 100_000], b"x")])
    with pytest.raises(mm7.LimitExceededError, match="headers longer than"):
        read_multipart(long_headers, "b1")
    big = mime([(["Content-Type: application/octet-stream"], bytes(3000))])
    with pytest.raises(mm7.LimitExceededError, match="larger than the limit of 1000"):
        read_multipart(big, "b1", MimeLimits(max_part_bytes=1000))


def test_soap_part_size_limit():
    data = mime([(["Content-Type: text/xml"], soap_xml()), content_part()])
    with pytest.raises(mm7.LimitExceededError, match="SOAP part"):
        mm7.decode(data, 'multipart/related; boundary="b1"', xml_limits=mm7.XmlLimits(max_bytes=100))


def test_params_parser():
    main, p = parse_params('Multipart/Related; Type="text/xml"; start="<a;b>"; boundary="x \\"y\\""; empty=; ')
    assert main == "multipart/related" and p["type"] == "text/xml" and p["start"] == "<a;b>"
    assert p["boundary"] == 'x "y"'
    _, p = parse_params("image/jpeg; name*0*=UTF-8''%E5%9B%BE; name*1*=%E7%89%87; name*2=.jpg")
    assert p["name"] == "图片.jpg"
    # an odd number of quotes because one is escaped, a backslash escaping itself, a quote never closed
    _, p = parse_params('image/jpeg; name="a\\"b.jpg"; c=d')
    assert p == {"name": 'a"b.jpg', "c": "d"}
    _, p = parse_params('image/jpeg; name="dir\\\\"; c=d')
    assert p == {"name": "dir\\", "c": "d"}
    main, p = parse_params('image/jpeg; c=d; name="open.jpg')
    assert main == "image/jpeg" and p == {"c": "d", "name": "open.jpg"}


def test_header_parameters_whose_encoding_cannot_be_read_are_read_as_far_as_they_can():
    # "=?utf-8?B?A?=" (base64 cut short) made the email package raise HeaderParseError, and a
    # charset name with a NUL in it made bytes.decode raise ValueError: decoding a part's
    # Content-Type crashed instead of reading the parameter.
    assert parse_params('image/gif; name="=?utf-8?B?A?="')[1] == {"name": "=?utf-8?B?A?="}
    assert parse_params("image/gif; name*=utf-8\x00''a%E4%B8%AD.gif")[1] == {"name": "a中.gif"}
    assert parse_params('image/gif; name="=?x\x00?Q?b=E4=B8=AD.gif?="')[1] == {"name": "b中.gif"}
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 (["Content-ID: <content-1>", 'Content-Type: image/gif; name="=?utf-8?B?AAAAA?="'], GIF)])
    assert decode(data).body.content.parts[0].filename == "=?utf-8?B?AAAAA?="


def test_an_rfc2231_section_number_of_thousands_of_digits_is_a_parameter_of_its_own():
    # int() refuses a string of more than 4300 digits (ValueError): a part's Content-Type so
    # written made decode raise no DecodeError, and the receiver answer a Server fault.
    big = "9" * 5000
    assert parse_params(f"image/gif; name*{big}*=x; name*0=a.gif")[1] == {f"name*{big}*": "x", "name": "a.gif"}
    data = mime([(["Content-Type: text/xml"], soap_xml()),
                 content_part([f"Content-Disposition: attachment; filename*{big}=x"])])
    assert decode(data).body.content.parts[0].data == b"hello"
    env = mm7.decode(mime([(["Content-Type: text/xml"], soap_xml()), content_part()]),
                     f'multipart/related; boundary="b1"; start*{big}=x')
    assert env.body.content.parts[0].data == b"hello"


def test_a_header_folded_or_given_many_times_is_joined_once():
    # Each folded line (or repeat, joined after ", ") was added to the value so far: work quadratic
    # in their number, 15 s for a captured request head of 300,000 lines. The characters copied count.
    from mm7bind.mime import header_fields

    copied = []

    class Text(str):
        def strip(self, *args):
            return Text(str.strip(self, *args))

        def partition(self, sep):
            return tuple(Text(piece) for piece in str.partition(self, sep))

        def __add__(self, other):
            copied.append(len(self) + len(other))
            return Text(str.__add__(self, other))

        def __radd__(self, other):
            copied.append(len(other) + len(self))
            return Text(str.__add__(other, self))

    n = 2000
    lines = [Text("Subject: a")] + [Text(" b")] * n + [Text("X: y")] * n + [Text("x: z"), Text("\tz")]
    assert header_fields(lines, join_repeated=True) == {"Subject": "a" + " b" * n, "X": ", ".join(["y"] * n),
                                                        "x": "z z"}
    assert header_fields(lines) == {"Subject": "a" + " b" * n, "X": "y", "x": "z z"}
    assert sum(copied) < 10 * sum(map(len, lines))



def test_encoded_words_beside_plain_text_long_values_and_broken_words():
    # Plain text beside an encoded word came out as Python escapes ("\\u4e2d\\u6587 文"), one word
    # that could not be decoded kept all the others encoded, and a value of many "=?" never closed
    # took time quadratic in its length (the email package's pattern: 8 s for 112 KB).
    from mm7bind.mime import decode_words

    assert decode_words("中文 =?utf-8?B?5paH?=") == "中文 文"
    assert decode_words("=?utf-8?B?5paH?= =?utf-8?B?A?= =?GB2312?B?1tDOxA==?=") == "文 =?utf-8?B?A?= 中文"
    assert decode_words("=?utf-8?q?a_b?= \r\n =?utf-8?q?c?=, =?utf-8*en?Q?d?=") == "a bc, d"
    assert decode_words("=?x?q?a" * 20000) == "=?x?q?a" * 20000


def test_joined_utf16_encoded_words_keep_no_byte_order_mark_of_a_later_word():
    # Each UTF-16 word begins with its own byte order mark; joined as one run of bytes (a character
    # may be cut between words), the second word's mark was read as a U+FEFF inside the subject.
    import base64

    from mm7bind.mime import decode_words

    def word(label: str, data: bytes) -> str:
        return f"=?{label}?B?{base64.b64encode(data).decode()}?="

    assert decode_words(word("UTF-16", b"\xff\xfe" + "你好".encode("utf-16-le")) + " "
                        + word("UTF-16", b"\xff\xfe" + "世界".encode("utf-16-le"))) == "你好世界"
    big = b"\xfe\xff" + "新年快乐".encode("utf-16-be")
    assert decode_words(word("utf-16", big[:5]) + "\r\n " + word("utf-16", big[5:])) == "新年快乐"  # (cut in a unit)
    assert decode_words(word("UTF-16BE", big) + " " + word("UTF-16BE", big)) == "新年快乐新年快乐"
    assert decode_words(word("UTF-16LE", b"\xff\xfe" + "好".encode("utf-16-le"))) == "好"
    # A later word marked in the other order is read in its own.
    assert decode_words(word("UTF-16", b"\xff\xfe" + "你".encode("utf-16-le")) + " "
                        + word("UTF-16", b"\xfe\xff" + "好".encode("utf-16-be"))) == "你好"


def test_a_utf16_encoded_word_without_a_byte_order_mark_is_big_endian_unless_only_little_endian_reads():
    # RFC 2781: UTF-16 without a mark is big-endian. It was read in the machine's order
    # (little-endian), "新年快乐" as "沆瑞뾫꺐". Handsets write little-endian without a mark too:
    # read so when that reading alone is a message's text, and said.
    import base64

    from mm7bind.mime import decode_words

    def word(label: str, data: bytes) -> str:
        return f"=?{label}?B?{base64.b64encode(data).decode()}?="

    for text in ("新年快乐", "Hi 你好", "OK"):
        notes: list[str] = []
        assert decode_words(word("UTF-16", text.encode("utf-16-be")), notes) == text and notes == []
        assert decode_words(word("utf-16", text.encode("utf-16-le")), notes) == text
        assert notes == ["labelled 'utf-16' without a byte order mark (big-endian, RFC 2781), the bytes are UTF-16LE"]
    # Cut between words, joined as one run first; a reading neither way makes plausible is big-endian.
    big = "新年快乐".encode("utf-16-be")
    assert decode_words(word("UTF-16", big[:3]) + " " + word("UTF-16", big[3:])) == "新年快乐"
    assert decode_words(word("UTF-16", "\ue000\ue001".encode("utf-16-be"))) == "\ue000\ue001"
    # A file name's RFC 2231 value labelled UTF-16 is read alike.
    from urllib.parse import quote

    for order in ("utf-16-be", "utf-16-le"):
        value = quote("新年.gif".encode(order))
        assert mm7.mime.parse_params(f"image/gif; name*=utf-16''{value}")[1]["name"] == "新年.gif"


# ---------------------------------------------------------------------------------------------
# Properties


BOUNDARYISH = st.sampled_from([b"\r\n", b"\n", b"\r", b"--", b"--mm7bind-", b"\r\n--mm7bind-0\r\n", b"=", b" \r\n",
                               b"\r\n\r\n", b"--b1--", b"\x00", b"\xff"])
PAYLOAD = st.lists(st.one_of(st.binary(max_size=64), BOUNDARYISH), max_size=40).map(b"".join)


@settings(max_examples=120, deadline=None)
@given(payloads=st.lists(PAYLOAD, min_size=1, max_size=4),
       cte=st.sampled_from(["binary", "base64", "quoted-printable", "8bit"]))
def test_binary_payloads_survive_byte_exact(payloads, cte):
    c = mm7.Content(parts=[mm7.Part.from_bytes(p, "application/octet-stream") for p in payloads])
    out = mm7.encode(submit(c), transaction_id="p", profile=mm7.Profile(transfer_encoding=cte, auto_smil=False))
    env = mm7.decode(out.to_bytes(), out.content_type, strict=True)
    assert [p.data for p in env.body.content.parts] == payloads


# Names as users give them: Chinese, spaces, quotes, semicolons, escapes of URLs and of RFC 2231
# ("%41"), RFC 2047's markers, characters beyond the BMP.
NAME = st.lists(st.one_of(st.sampled_from(list('新年快乐照片 "\\;=?*%\'()<>@,:/_-.~') + ["=?", "%41", "%E6", "😀"]),
                          st.characters(exclude_categories=("Cs",))), min_size=1, max_size=24).map("".join)
ID = st.lists(st.sampled_from(list("ab.@%_-/新 \"\\;") + ["%41"]), min_size=1, max_size=10).map("".join).filter(
    lambda s: s.strip() == s)
TEXT_CHARSETS = ["utf-8", "gb2312", "gbk", "gb18030", "utf-16", "iso-8859-1", "big5", "us-ascii", "UTF-8"]


@st.composite
def named_parts(draw) -> mm7.Part:
    names = {key: draw(strategy) for key, strategy in
             (("filename", NAME), ("content_location", NAME), ("content_id", ID)) if draw(st.booleans())}
    if draw(st.booleans()):
        charset = draw(st.sampled_from(TEXT_CHARSETS))
        # (no NUL: 8-bit text with one every other character is read as the 16-bit text it looks
        # like, `content.byte_order`)
        text = draw(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30))
        try:
            text.encode(charset)
        except UnicodeEncodeError:
            text = "".join(c for c in text if c.isascii())
        if charset == "iso-8859-1":  # (8-bit letters side by side can be UTF-8's or GBK's bytes as well,
            # "Â°" UTF-8's "°", and are read as those: test_charsets; one alone between others cannot)
            text = "".join(c for i, c in enumerate(text) if c.isascii() or i == 0 or text[i - 1].isascii())
        return mm7.Part.text(text, charset, **names)
    head = draw(st.sampled_from([b"GIF89a", b"\xff\xd8\xff", b""]))
    return mm7.Part.from_bytes(head + draw(st.binary(max_size=40)), **names)


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(named_parts(), min_size=1, max_size=4),
       content_id=st.one_of(st.none(), ID), version=st.sampled_from([v.name for v in mm7.versions.all_versions()]),
       preset=st.sampled_from([mm7.STANDARD, mm7.profiles.CMCC, mm7.profiles.CMCC_SDK, mm7.profiles.MBUNI]),
       cte=st.sampled_from(["binary", "8bit", "base64", "quoted-printable"]),
       names=st.sampled_from(["rfc2231", "rfc2047"]))
def test_names_ids_and_charsets_survive_every_version_and_profile(parts, content_id, version, preset, cte, names):
    if len({p.content_id.lower() for p in parts if p.content_id}) < len([p for p in parts if p.content_id]):
        return  # (one id twice: refused, test_encode_rules)
    profile = preset.replace(version=version, mm7_version=None, transfer_encoding=cte, filename_encoding=names,
                             max_message_size=None)
    msg = mm7.SubmitReq(vaspid="1", recipients=["+8613800000000"], content=mm7.Content(parts, content_id=content_id))
    try:
        out = mm7.encode(msg, transaction_id="t", profile=profile)
    except mm7.EncodeError as exc:  # (a name or id that makes a header line too long: said, not sent)
        assert "too long for one header line" in str(exc)
        return
    env = mm7.decode(out.to_bytes(), out.content_type)
    # (China Mobile's SDK writes no <Content href>: readers take the first attachment, and say so)
    assert [d.code for d in env.deviations] == (["content-ref-missing"] if not profile.content_href else [])
    got = env.body.content
    assert got.parts == out.content.parts and got.smil == out.content.smil  # (type, charset, ids, names, bytes)
    if got.smil is not None:
        assert mm7.content.dangling_references(got, got.smil) == []  # (each slide shows its part)


def shown_as_written(content: mm7.Content, src: str) -> mm7.Part | None:
    """The part a handset shows for a SMIL `src` when it compares the reference with each part's
    Content-Location, then Content-ID, as written, the first match winning (Android's lookup)."""
    for header in ("Content-Location", "Content-ID"):
        for part in content.parts:
            value = part.headers.get(header)
            if value is not None and (value.strip("<>") if header == "Content-ID" else value) == src:
                return part
    return None


# A name as users' files have it: some the same, some needing URL escapes ("照片 1.jpg").
SAME_NAMES = st.sampled_from(["photo.jpg", "照片 1.jpg", "photo-2.jpg", "a&b's.gif", "presentation.smil", "x",
                              "100%41.jpg", "%E7%85%A7%E7%89%87.jpg"])


@settings(max_examples=100, deadline=None)
@given(names=st.lists(SAME_NAMES, min_size=2, max_size=5), version=st.sampled_from([v.name for v in
                                                                                     mm7.versions.all_versions()]),
       preset=st.sampled_from([mm7.STANDARD, mm7.profiles.CMCC, mm7.profiles.CMCC_SDK, mm7.profiles.MBUNI,
                               mm7.profiles.CMCC_MMSC]),
       cte=st.sampled_from(["binary", "8bit", "base64", "quoted-printable"]),
       filename_encoding=st.sampled_from(["rfc2231", "rfc2047"]), own_smil=st.booleans())
def test_parts_of_one_name_go_under_locations_of_their_own_and_a_smil_naming_them_still_shows_them(
        names, version, preset, cte, filename_encoding, own_smil):
    profile = preset.replace(version=version, mm7_version=None, transfer_encoding=cte,
                             filename_encoding=filename_encoding, max_message_size=None)
    parts = [mm7.Part.from_bytes(b"GIF89a" + bytes([i]), "image/gif", filename=name, content_location=name)
             for i, name in enumerate(names)]
    # (a SMIL of the user's names each part as written, once per name: the first of that name is meant)
    refs = list(dict.fromkeys(names))
    smil = mm7.Part.from_bytes(("<smil><body>" + "".join(
        f'<par><img src="{html.escape(n)}"/></par>' for n in refs) + "</body></smil>").encode(), "application/smil")
    content = mm7.Content(parts, smil=smil if own_smil else None)
    msg = mm7.SubmitReq(vaspid="1", recipients=["+8613800000000"], content=content)
    out = mm7.encode(msg, transaction_id="t", profile=profile)
    got = mm7.decode(out.to_bytes(), out.content_type).body.content
    written = [p.headers.get("Content-Location") for p in got.all_parts()]
    assert None not in written[-len(parts):]
    written = [w for w in written if w is not None]
    assert len(set(written)) == len(written)  # each part found by a location of its own
    firsts = {}
    for name, part in zip(names, got.parts):
        firsts.setdefault(name, part)
        if firsts[name] is part:
            assert part.content_location == name  # the first of a name keeps it
    assert [p.content_location for p in parts] == names  # (the user's parts as they were)
    assert got.parts == out.content.parts and [p.data for p in got.parts] == [p.data for p in parts]
    assert {n for n in names} == {p.filename for p in got.parts}  # (file names as given)
    if own_smil:
        srcs = mm7.content.smil_references(got.smil)
        assert len(srcs) == len(refs)
        for name, src in zip(refs, srcs):
            assert shown_as_written(got, src) is firsts[name]  # a handset comparing as written
            assert got.by_location(src) is firsts[name]  # a reader decoding the URL
        # A SMIL naming each part by the location it was sent under (photo-2.jpg) shows that part.
        as_sent = [p.content_location for p in out.content.parts]
        again = mm7.Content(parts, smil=mm7.Part.from_bytes(("<smil><body>" + "".join(
            f'<par><img src="{html.escape(n)}"/></par>' for n in as_sent) + "</body></smil>").encode(),
            "application/smil"))
        out = mm7.encode(mm7.SubmitReq(vaspid="1", recipients=["+8613800000000"], content=again),
                         transaction_id="t", profile=profile)
        got_again = mm7.decode(out.to_bytes(), out.content_type).body.content
        srcs = mm7.content.smil_references(got_again.smil)
        assert [shown_as_written(got_again, s) for s in srcs] == got_again.parts
        assert [got_again.by_location(s) for s in srcs] == got_again.parts
    for part in got.parts:  # the generated SMIL names each part by cid:, whatever its location
        if not own_smil:
            assert got.by_id(f"cid:{part.content_id}") is part



@settings(max_examples=200, deadline=None)
@given(payload=st.one_of(PAYLOAD, st.tuples(st.sampled_from([b"a\n", b"\na", b"ab\n", b" \n", b"\xff\r"]),
                                            st.integers(0, 60)).map(lambda unit_times: unit_times[0] * unit_times[1])))
def test_quoted_printable_lines_are_never_longer_than_76_characters(payload):
    assert binascii.a2b_qp(quoted_printable(payload)) == payload
    assert max(len(line) for line in quoted_printable(payload).split(b"\r\n")) <= 76  # RFC 2045 §6.7


def test_a_text_with_bare_line_ends_is_quoted_printable_in_lines_of_76_at_most():
    # (binascii's encoder wrote a line of 77 for it)
    out = mm7.encode(submit(mm7.Content(parts=[mm7.Part.text("a\n" * 38)])), transaction_id="q",
                     profile=mm7.Profile(transfer_encoding="quoted-printable", auto_smil=False))
    data = out.to_bytes()
    payload = data.split(b"Content-Type: text/plain", 1)[1].split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]
    assert payload.startswith(b"a=0Aa") and max(len(line) for line in payload.split(b"\r\n")) <= 76
    assert mm7.decode(data, out.content_type).body.content.parts[0].text_value == "a\n" * 38


@settings(max_examples=60, deadline=None)
@given(payloads=st.lists(PAYLOAD, min_size=1, max_size=3), nl=st.sampled_from([b"\r\n", b"\n"]),
       pad=st.sampled_from([b"", b"  ", b"\t"]))
def test_reader_splits_handwritten_bodies_exactly(payloads, nl, pad):
    boundary = "Zz_" + "q" * 30
    # With LF line ends a payload ending in CR is ambiguous (CR LF before a delimiter is one line end).
    parts = [(["Content-Type: application/octet-stream"], p) for p in payloads
             if (b"--" + boundary.encode()) not in p and not (nl == b"\n" and p.endswith(b"\r"))]
    if not parts:
        return
    got, _ = read_multipart(mime(parts, boundary=boundary, nl=nl, pad=pad), boundary)
    assert [p.blob.read() for p in got] == [p for _, p in parts]


@functools.cache
def _mutation_base() -> tuple[bytes, str]:
    """The body the mutation test damages, encoded once: each encoding has its own boundary and
    Content-IDs, of varying length, and hypothesis refuses a test whose draws' bounds (a position
    in it) change from one example to the next ("Inconsistent data generation")."""
    c = mm7.Content(parts=[mm7.Part.from_bytes(JPEG[:80], "image/jpeg"), mm7.Part.text("hi")])
    out = mm7.encode(submit(c), transaction_id="m", profile=mm7.Profile(transfer_encoding="base64"))
    return out.to_bytes(), out.content_type


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_mime_bodies_raise_only_decode_errors(data):
    body, content_type = _mutation_base()
    blob = bytearray(body)
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        if data.draw(st.booleans()):
            blob[pos] = data.draw(st.integers(0, 255))
        else:
            del blob[pos : pos + data.draw(st.integers(1, 30))]
    try:
        mm7.decode(bytes(blob), content_type)
    except mm7.DecodeError:
        pass


def test_decode_from_a_stream_that_cannot_seek():
    import os as _os

    c = mm7.Content(parts=[mm7.Part.from_bytes(JPEG * 50, "image/jpeg"), mm7.Part.text("t")])
    out = mm7.encode(submit(c), transaction_id="pipe")
    data = out.to_bytes()
    r, w = _os.pipe()
    writer = threading.Thread(target=lambda: (_os.write(w, data), _os.close(w)))
    writer.start()
    with _os.fdopen(r, "rb", buffering=0) as pipe:  # raw: no peek, no seek
        env = mm7.decode(pipe, out.content_type, strict=True)
    writer.join()
    assert [p.data for p in env.body.content.parts] == [p.data for p in c.parts]
    r, w = _os.pipe()
    xml = mm7.encode(mm7.CancelReq(message_id="m"), transaction_id="x").to_bytes()
    _os.write(w, xml)
    _os.close(w)
    with _os.fdopen(r, "rb", buffering=0) as pipe:
        assert mm7.decode(pipe, "text/xml").body.message_id == "m"


@pytest.mark.parametrize("with_label", [True, False])
def test_a_stream_that_arrives_a_few_bytes_per_read_decodes_as_its_bytes_do(with_label):
    # What the body is (XML or MIME, and its boundary when the label has none) is judged from its
    # head, which was one read: three bytes made the boundary "-" (or left none at all).
    c = mm7.Content(parts=[mm7.Part.from_bytes(GIF, "image/gif"), mm7.Part.text("文字", "gb2312")])
    out = mm7.encode(submit(c), transaction_id="slow", profile=mm7.Profile(mime_preamble="preamble"))
    ctype = out.content_type if with_label else None
    expected = mm7.decode(out.to_bytes(), ctype)
    env = mm7.decode(Trickle(out.to_bytes(), 3), ctype)
    assert env.body == expected.body and env.deviations == expected.deviations


def test_a_delimiter_padded_before_its_line_break_is_found_whatever_the_reads():
    # After padding ("--b \r\n"), the CR and the LF of the delimiter's line were looked at as they
    # had arrived: split between two reads, the line was no delimiter, and the part ran on.
    body = b"--b \r\nContent-Type: text/plain\r\n\r\none\r\n--b\t\r\n\r\ntwo\r\n--b-- \r\n"
    expected = [p.blob.read() for p in read_multipart(body, "b")[0]]
    assert expected == [b"one", b"two"]
    for size in (1, 2, 3, 5):
        assert [p.blob.read() for p in read_multipart(Trickle(body, size), "b")[0]] == expected


def test_a_stream_that_arrives_a_few_bytes_per_read_is_searched_once(monkeypatch):
    # A preamble (or a header line) was searched again from its start after every read: work
    # quadratic in its length when a peer sends a few bytes at a time. The bytes searched count.
    searched = []

    class CountingBuffer(bytearray):
        def find(self, sub, start=0, end=None):
            searched.append((len(self) if end is None else end) - start)
            return super().find(sub, start, len(self) if end is None else end)

    monkeypatch.setattr(mm7.mime, "bytearray", CountingBuffer, raising=False)
    body = (b"x" * 20000 + b"\r\n--b\r\nX-Long: " + b"y" * 20000 + b"\r\nContent-Type: text/plain\r\n\r\n"
            b"hello\r\n--b--\r\n")
    parts, _ = read_multipart(Trickle(body, 7), "b")
    assert parts[0].blob.read() == b"hello" and parts[0].headers.get("x-long") == "y" * 20000
    assert sum(searched) < 20 * len(body)


def test_bare_soap_from_a_stream_is_read_to_its_end():
    # Longer than the head the decoder looks at first, and than one read of a pipe gives.
    msg = mm7.SubmitReq(vaspid="800001", recipients=["+8613800000000"], subject="长" * 30_000)
    xml = mm7.encode(msg, transaction_id="long").to_bytes()
    assert len(xml) > 65536
    assert mm7.decode(io.BytesIO(xml), "text/xml").body.subject == msg.subject
    assert mm7.decode(io.BytesIO(xml), None).body.subject == msg.subject
    r, w = os.pipe()

    def write() -> None:
        with os.fdopen(w, "wb") as out:
            out.write(xml)

    writer = threading.Thread(target=write)
    writer.start()
    with os.fdopen(r, "rb", buffering=0) as pipe:  # raw: each read gives what the pipe holds
        assert mm7.decode(pipe, "text/xml").body.subject == msg.subject
    writer.join()
    with pytest.raises(mm7.LimitExceededError):
        mm7.decode(io.BytesIO(xml), "text/xml", xml_limits=mm7.XmlLimits(max_bytes=len(xml) - 1))


@pytest.mark.parametrize(("kw", "expected"), [
    ({"filename": "../../etc/passwd"}, "passwd.txt"),            # never a path; the type gives the extension
    ({"filename": "..\\..\\boot.ini"}, "boot.ini"),
    ({"filename": "新年 card.jpg"}, "新年 card.jpg"),             # Chinese names kept
    ({"filename": 'a<b>:"c|?*.gif\x00'}, "a_b___c___.gif_.txt"),
    ({"content_location": "images/photo.jpg"}, "photo.jpg"),
    ({"content_id": "text-1f2e-1@mm7bind"}, "text-1f2e-1.txt"),   # Content-ID: no @domain, type's extension
    ({"content_id": "@odd"}, "@odd.txt"),
    ({}, "text.txt"),
    ({"filename": ".hidden"}, "hidden.txt"),
])
def test_file_name_for_a_part(kw, expected):
    assert file_name(mm7.Part.text("x", **kw)) == expected


def test_file_names_by_type():
    assert file_name(mm7.Part.from_bytes(b"\xff\xd8\xff\xe0", "image/jpeg")) == "image.jpg"
    assert file_name(mm7.Part.from_bytes(b"#!AMR\n", "audio/amr")) == "audio.amr"
    assert file_name(mm7.Part.from_bytes(b"<smil/>", "application/smil")) == "presentation.smil"
    assert file_name(mm7.Part.from_bytes(b"?", "application/x-unheard-of")) == "other.bin"


def test_content_saved_into_a_folder(tmp_path):
    content = mm7.Content(parts=[mm7.Part.text("one", filename="a.txt"), mm7.Part.text("two", filename="a.txt"),
                                 mm7.Part.text("three", filename="../a.txt")], smil=mm7.Part.from_bytes(b"<smil/>", "application/smil"))
    assert content.save(tmp_path / "plain") == ["presentation.smil", "a.txt", "a-2.txt", "a-3.txt"]
    assert [(tmp_path / "plain" / n).read_bytes() for n in ("a.txt", "a-2.txt", "a-3.txt")] == [b"one", b"two", b"three"]
    assert content.save(tmp_path / "plain") == ["presentation-2.smil", "a-4.txt", "a-5.txt", "a-6.txt"]  # nothing overwritten
    assert content.save(tmp_path / "numbered", numbered=True) == ["01-presentation.smil", "02-a.txt", "03-a.txt", "04-a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["numbered", "plain"]  # nothing written outside


@pytest.mark.parametrize("style", ["rfc2231", "rfc2047"])
@pytest.mark.parametrize("name", ["a\r\nX-Injected: yes.jpg", "line\nbreak.gif", "del\x7f.png", "tab\there.txt",
                                  "nul\x00.bin", "新年\r\n快乐.jpg"])
def test_file_names_with_control_characters_never_reach_a_header_as_they_are(name, style):
    part = mm7.Part.from_bytes(JPEG, "image/jpeg", filename=name)
    out = mm7.encode(submit(mm7.Content(parts=[part])), transaction_id="t",
                     profile=mm7.Profile(filename_encoding=style))
    data = out.to_bytes()
    head = data[data.rindex(b"\r\n--", 0, data.index(JPEG)):data.index(JPEG)]  # the image part's headers
    assert b"\nX-Injected" not in head
    for line in head.split(b"\r\n"):
        assert not re.search(rb"[\x00-\x1f\x7f]", line), line
    env = mm7.decode(data, out.content_type, strict=True)
    assert env.body.content.parts[0].filename == name and env.body.content.parts[0].data == JPEG


@pytest.mark.parametrize("style", ["rfc2231", "rfc2047"])
@pytest.mark.parametrize("name", ["=?utf-8?B?5paH?=.jpg", "x =?GB2312?Q?a?= y.jpg", "新=?utf-8?q?a?=.jpg"])
def test_a_file_name_holding_an_encoded_word_is_read_back_as_given_not_decoded(name, style):
    # Readers decode an encoded word in a quoted name (ours too: "文.jpg"): such a name goes encoded,
    # and the ASCII stand-in beside an RFC 2231 name holds none either.
    part = mm7.Part.from_bytes(JPEG, "image/jpeg", filename=name)
    out = mm7.encode(submit(mm7.Content(parts=[part])), transaction_id="t",
                     profile=mm7.Profile(filename_encoding=style))
    data = out.to_bytes()
    env = mm7.decode(data, out.content_type, strict=True)
    assert env.body.content.parts[0].filename == name
    head = data[data.rindex(b"\r\n--", 0, data.index(JPEG)):data.index(JPEG)]  # the image part's headers
    plain = re.search(rb'name="([^"]*)"', head).group(1).decode("ascii")  # what a reader without RFC 2231 reads
    assert mm7.mime.decode_words(plain) == (plain if style == "rfc2231" else name)


@pytest.mark.parametrize(("kw", "problem"), [
    ({"content_id": "a\r\nX-Injected: yes"}, "Content-ID"),
    ({"content_id": "a>b"}, "Content-ID"),
    ({"content_id": "   "}, "Content-ID"),
    ({"content_id": " a@b"}, "Content-ID"),  # readers strip it: the SMIL's cid: would not find it
    ({"content_type": "image/Z,> ="}, "content type"),
    ({"content_type": "text/plain; charset=gbk"}, "content type"),
    ({"content_type": "image/jpeg\r\nX-Injected: yes"}, "content type"),
    ({"content_type": "text/plain", "charset": "utf-8\r\nX-Injected: yes"}, "charset"),
])
def test_part_headers_that_cannot_be_written_are_refused(kw, problem):
    kw.setdefault("content_type", "image/jpeg")
    part = mm7.Part(BytesBlob(JPEG), **kw)
    with pytest.raises(mm7.errors.EncodeError, match=problem):
        mm7.encode(submit(mm7.Content(parts=[part])), transaction_id="t")
    with pytest.raises(mm7.errors.EncodeError, match="Content-ID"):
        mm7.encode(submit(mm7.Content(parts=[mm7.Part.text("x")], content_id="c\nd")), transaction_id="t")
    generated = mm7.Part.text("x", content_id="")  # empty: one is made, as for None
    mm7.encode(submit(mm7.Content(parts=[generated])), transaction_id="t")
    assert generated.content_id


def test_by_id_reads_cid_urls_as_real_traffic_writes_them():
    part = mm7.Part.text("x", content_id="content_15")
    c = mm7.Content(parts=[part])
    assert c.by_id("cid:content_15") is part and c.by_id("cid: content_15") is part
    assert c.by_id("<content_15>") is part and c.by_id("CID:content_15") is part and c.by_id("cid:other") is None
    assert c.by_id("< content_15 >") is part and c.by_id("<cid:content_15>") is part
    assert c.by_id("CONTENT_15") is part  # Content-IDs compared exactly first, then ignoring case
    named = mm7.Part.text("x", content_id="a b@example.com")
    assert mm7.Content(parts=[named]).by_id("cid:a%20b%40example.com") is named  # a URL is percent-encoded


def test_odd_part_types_are_read_as_what_they_mean_so_content_can_be_forwarded():
    soap = mm7.encode_envelope(mm7.DeliverReq(sender="+8613800000000"), transaction_id="mo-1", version="REL-6-MM7-1-0")
    body = b"--b\r\nContent-Type: text/xml\r\nContent-ID: <soap>\r\n\r\n" + soap + b"\r\n"
    odd = {b"text": "text/plain", b"image / jpeg": "image/jpeg", b"image/gif name=a.gif": "image/gif",
           b'"audio/amr"': "audio/amr", b"x-unknown": "application/octet-stream",
           b'text/plain; charset=" gb2312 "': "text/plain"}
    for i, raw in enumerate(odd):
        body += b"--b\r\nContent-Type: " + raw + b"\r\nContent-ID: <p%d>\r\n\r\nDATA\r\n" % i
    body += b"--b--\r\n"
    env = mm7.decode(body, 'multipart/related; boundary="b"; start="<soap>"')
    assert [p.content_type for p in env.body.content.parts] == list(odd.values())
    assert [d.code for d in env.deviations].count("mime-content-type") == len(odd) - 1
    assert [p.charset for p in env.body.content.parts][-1] == "gb2312"
    assert "mime-charset" in [d.code for d in env.deviations]
    assert mm7.decode(body, 'multipart/related; boundary="b"; start="<soap>"', strict=False).deviations
    # ...and the content goes out again as it came in, each part under a valid type.
    out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=env.body.content), transaction_id="re-1")
    again = mm7.decode(out.to_bytes(), out.content_type, strict=True)
    assert [p.content_type for p in again.body.content.parts] == list(odd.values())


def test_a_slip_in_each_of_many_parts_is_listed_as_often_as_an_xml_one():
    # The README's rule (a code listed 100 times, then once with the count of the rest) held for
    # the XML alone: 200 parts with one Content-ID gave 199 deviations.
    parts = [content_part(body=b"x") for _ in range(200)]
    env = decode(mime([(["Content-Type: text/xml"], soap_xml()), *parts]))
    same = [d for d in env.deviations if d.code == "mime-duplicate-content-id"]
    assert len(same) == 101 and same[-1].message == "99 more like the above"
    assert len(env.body.content.parts) == 200


def test_content_ids_lose_their_brackets_even_unpaired():
    from mm7bind.mime import strip_id

    assert [strip_id(v) for v in ("<a@b>", " < a@b > ", "<a@b", "a@b>", "a@b", "<>", "", None)] == [
        "a@b", "a@b", "a@b", "a@b", "a@b", None, None, None]


def test_the_content_goes_as_the_multipart_type_it_asks_for():
    def sent(content: mm7.Content, auto_smil: bool = True):
        out = mm7.encode(mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000000"]), content=content),
                         transaction_id="t", profile=mm7.Profile(auto_smil=auto_smil))
        return out.to_bytes(), mm7.decode(out.to_bytes(), out.content_type).body.content

    def parts():
        return [mm7.Part.from_bytes(b"GIF89a" + bytes(10), "image/gif", content_id="1.gif"), mm7.Part.text("hi")]

    # Related without a SMIL: the first part is the root (RFC 2387), and stays a part when read back.
    data, back = sent(mm7.Content(parts=parts(), multipart_type="related"), auto_smil=False)
    assert b'multipart/related; type="image/gif"; start="<1.gif>"' in data
    assert back.multipart_type == "related" and back.smil is None and [p.content_id for p in back.parts][0] == "1.gif"
    # Mixed with a SMIL: the SMIL is one part among the others, first.
    smil = mm7.Part.from_bytes(b"<smil><body/></smil>", "application/smil", content_id="s.smil")
    data, back = sent(mm7.Content(parts=parts(), smil=smil, multipart_type="mixed"))
    assert b"multipart/mixed;" in data and back.multipart_type == "mixed" and back.smil.content_id == "s.smil"
    # Unset: related with the (generated) SMIL, mixed without one.
    assert sent(mm7.Content(parts=parts()))[1].multipart_type == "related"
    assert sent(mm7.Content(parts=parts()), auto_smil=False)[1].multipart_type == "mixed"
    with pytest.raises(mm7.EncodeError, match="not a MIME subtype"):
        sent(mm7.Content(parts=parts(), multipart_type='mixed"; x="y'))


@pytest.mark.parametrize("read", [lambda body: body, lambda body: Trickle(body, 1000)])
def test_lines_that_only_start_like_a_delimiter_are_passed_over_in_one_search(read, monkeypatch):
    # Each line starting with "--boundary" but no delimiter line ("--bx", "--b x") was looked at in
    # Python: 5 µs apiece, a minute for 100 MB of them. Past a few they are passed over by one
    # search, which still stops at every line that may be a delimiter (padding, a bare LF, the end).
    from mm7bind import mime

    looked_at = []
    padding = mime._PADDING

    class Counting:
        def match(self, *args):
            looked_at.append(args[1])
            return padding.match(*args)

    monkeypatch.setattr(mime, "_PADDING", Counting())
    text = b"x\r\n--bx\r\n--b x\r\n--b-x\r\n--b\rx\r\n" * 1500 + b"y"
    body = (b"--b\r\nContent-Type: text/plain\r\n\r\n" + text + b"\r\n--b \t\nContent-Type: text/plain\r\n\r\n"
            + text + b"\n--b\r\nContent-Type: text/plain\r\n\r\nz\r\n--b--")
    parts, devs = read_multipart(read(body), "b")
    assert [p.blob.read() for p in parts] == [text, text, b"z"]
    assert [d.code for d in devs] == ["mime-bare-lf"]
    assert len(looked_at) < 1000  # (each of the 12,000 was, without the search; ~200 with it)
    # A few bytes a read: each read's end may be a delimiter's start, and is looked at again.
    monkeypatch.setattr(mime, "_PADDING", padding)
    short = body.replace(text, text[:3000] + b"y")
    assert [p.blob.read() for p in read_multipart(Trickle(short, 3), "b")[0]] == [text[:3000] + b"y"] * 2 + [b"z"]


def test_parts_without_a_content_type_are_typed_by_their_bytes_or_name():
    # RFC 2045 makes an untyped part text/plain; handsets and gateways leave the type off pictures,
    # sounds and the SMIL too: read as text, the SMIL was no presentation and the picture no image.
    smil = b'<smil><body><par><img src="cid:p"/><audio src="cid:a"/><text src="cid:t"/></par></body></smil>'
    inner = [(b"Content-ID: <s>", smil), (b"Content-ID: <p>", JPEG),
             (b"Content-ID: <a>\r\nContent-Disposition: attachment; filename=voice.amr", AMR),
             (b"Content-ID: <t>", "新年快乐".encode())]
    content = b"".join(b"--in\r\n" + headers + b"\r\n\r\n" + data + b"\r\n" for headers, data in inner) + b"--in--"
    body = (b'--b1\r\nContent-Type: text/xml\r\n\r\n<e:Envelope xmlns:e="' + SOAP.encode() + b'"><e:Header>'
            b'<TransactionID xmlns="' + NS6.encode() + b'">t</TransactionID></e:Header><e:Body><DeliverReq xmlns="'
            + NS6.encode() + b'"><MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender>'
            b'<Content href="cid:c"/></DeliverReq></e:Body></e:Envelope>\r\n'
            b'--b1\r\nContent-Type: multipart/related; boundary=in; start="<s>"\r\nContent-ID: <c>\r\n\r\n'
            + content + b"\r\n--b1--\r\n")
    env = mm7.decode(body, 'multipart/related; boundary="b1"')
    c = env.body.content
    assert c.smil is not None and c.smil.content_id == "s" and c.smil.content_type == "application/smil"
    assert [(p.content_id, p.content_type) for p in c.parts] == [("p", "image/jpeg"), ("a", "audio/amr"),
                                                                 ("t", "text/plain")]
    assert c.parts[2].text_value == "新年快乐" and c.parts[0].data == JPEG
    said = [d.path for d in env.deviations if d.code == "mime-content-type"]
    assert len(said) == 3  # (the text is text/plain by RFC 2045: nothing to say of it)
