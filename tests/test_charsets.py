"""Which charset text is read in: labels that lie, labels missing, and 16-bit text."""

from __future__ import annotations

import base64
import codecs
import io
import re

import pytest

import mm7bind as mm7
from mm7bind.xmlsafe import decode_text

NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"


def envelope(subject: str, declaration: str = '<?xml version="1.0" encoding="UTF-8"?>') -> str:
    return (f'{declaration}<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header>'
            f'<TransactionID xmlns="{NS}">t1</TransactionID></env:Header><env:Body><DeliverReq xmlns="{NS}">'
            f'<MM7Version>6.8.0</MM7Version><Sender><Number>1</Number></Sender><Subject>{subject}</Subject>'
            f'</DeliverReq></env:Body></env:Envelope>')


def codes(devs) -> set[str]:
    return {d.code for d in devs}


def test_utf8_bytes_under_a_gb2312_declaration_are_read_as_utf8():
    # A Chinese MMSC simulator declares GB2312 and sends UTF-8 (with charset=utf-8 on the HTTP side).
    body = envelope("新年快乐", '<?xml version="1.0" encoding="GB2312"?>').encode("utf-8")
    env = mm7.decode(body, "text/xml; charset=utf-8")
    assert env.message.subject == "新年快乐" and "charset-mismatch" in codes(env.deviations)
    env = mm7.decode(body, "text/xml")  # the declaration alone
    assert env.message.subject == "新年快乐" and "charset-mismatch" in codes(env.deviations)


def test_an_answer_labelled_gb2312_only_on_http_but_written_in_utf8():
    """China Mobile's SDK receiver answers with `Content-Type: text/xml;charset=GB2312` and a
    declaration without encoding, its bytes in the JVM's charset (often UTF-8): read right, reported."""
    body = envelope("成功发送", '<?xml version="1.0"?>').encode("utf-8")
    env = mm7.decode(body, "text/xml;charset=GB2312")
    assert env.message.subject == "成功发送" and codes(env.deviations) == {"charset-mismatch"}
    env = mm7.decode(envelope("成功发送", '<?xml version="1.0"?>').encode("gb2312"), "text/xml;charset=GB2312")
    assert env.message.subject == "成功发送" and env.deviations == []


def test_real_gb_text_stays_gb_text():
    for label in ("GB2312", "GBK", "gb18030"):
        body = envelope("新年快乐，恭喜发财", f'<?xml version="1.0" encoding="{label}"?>').encode("gb18030")
        env = mm7.decode(body, "text/xml")
        assert env.message.subject == "新年快乐，恭喜发财" and "charset-mismatch" not in codes(env.deviations)
    # Declared UTF-8, sent as GBK with the transport saying so: the bytes decide, and it is said.
    body = envelope("中文").encode("gbk")
    env = mm7.decode(body, "text/xml; charset=gbk")
    assert env.message.subject == "中文" and "charset-mismatch" in codes(env.deviations)


def test_a_short_gbk_text_that_happens_to_be_valid_utf8_is_not_taken_for_utf8():
    # "吖" in GBK is DF B9, a valid two-byte UTF-8 sequence (U+07F9, N'Ko): not Chinese, not taken.
    assert "吖".encode("gbk") == b"\xdf\xb9"
    text, codec, _ = decode_text("吖".encode("gbk"), "gb2312", None, "part")
    assert (text, codec) == ("吖", "gb18030")


def test_text_parts_labelled_gb2312_but_written_in_utf8():
    # An operation code an SP parses ("CX XW 订阅") must not come out as "CX XW 璁㈤槄".
    part = mm7.Part.from_bytes("CX XW 订阅".encode(), "text/plain", charset="gb2312")
    assert part.text_value == "CX XW 订阅"


def test_a_charset_conflict_read_right_is_still_reported():
    body = envelope("中文").encode("utf-8")
    env = mm7.decode(body, "text/xml; charset=iso-8859-1")
    assert env.message.subject == "中文" and "charset-conflict" in codes(env.deviations)
    env = mm7.decode(envelope("plain ascii").encode(), "text/xml; charset=iso-8859-1")
    assert "charset-conflict" not in codes(env.deviations)  # (ASCII reads the same in both)


@pytest.mark.parametrize("subject", ["ok", "ok!", "已送达", "已送达!"])  # (odd and even lengths)
def test_a_16_bit_declaration_on_8_bit_text_is_not_believed(subject):
    # Vibes' callbacks declare encoding="utf-16" on UTF-8: read as UTF-16, an even number of bytes
    # made nonsense (not well-formed), an odd number an error; the first byte, "<", says 8-bit.
    body = envelope(subject, '<?xml version="1.0" encoding="utf-16"?>').encode("utf-8")
    for ctype in ("text/xml", "text/xml; charset=utf-8"):
        env = mm7.decode(body, ctype)
        assert env.message.subject == subject and "charset-mismatch" in codes(env.deviations)
    env = mm7.decode(envelope(subject, "").encode("utf-8"), "text/xml; charset=UTF-16")  # the label says it
    assert env.message.subject == subject and "charset-mismatch" in codes(env.deviations)
    real = envelope(subject, '<?xml version="1.0" encoding="utf-16"?>').encode("utf-16")  # with its BOM
    env = mm7.decode(real, "text/xml")
    assert env.message.subject == subject and "charset-mismatch" not in codes(env.deviations)


def test_undeclared_gb_text_is_read_and_reported():
    # No declaration, no transport charset: XML says UTF-8; GB text is recovered, not silently.
    body = envelope("中文", "").encode("gb18030")
    env = mm7.decode(body, "text/xml")
    assert env.message.subject == "中文" and "charset-undeclared" in codes(env.deviations)


@pytest.mark.parametrize(("label", "encoding", "sent"), [
    ("utf8", "utf-8", "utf-8"), ("UTF_8", "utf-8", "utf-8"), ("x-gbk", "gbk", "gb18030"), ("GB2312", "gb2312", "GB2312"),
    # Python's spellings of IANA's names (Java's readers know no other), and IANA's as given
    ("utf-16-be", "utf-16-be", "utf-16be"), ("utf_16_le", "utf-16-le", "utf-16le"), ("utf_16", "utf-16", "utf-16"),
    ("UTF-16BE", "utf-16-be", "UTF-16BE"), ("gb18030", "gb18030", "gb18030"), ("GBK", "gbk", "GBK")])
def test_a_text_part_labelled_with_a_slip_goes_under_the_standard_name(label, encoding, sent):
    """A part labelled `utf8` (a Python alias, the slip the reader reports from peers) went out so,
    and our own strict reader refused the message; a standard label goes as it was given."""
    part = mm7.Part.from_bytes("订阅".encode(encoding), "text/plain", charset=label)
    out = mm7.encode(mm7.DeliverReq(sender="1", content=mm7.Content(parts=[part])), transaction_id="t")
    data = out.to_bytes()
    assert f'Content-Type: text/plain; charset="{sent}"'.encode() in data
    [back] = mm7.decode(data, out.content_type, strict=True).message.content.parts
    assert back.text_value == "订阅"


@pytest.mark.parametrize(("label", "text", "sent"), [
    ("latin-1", "café", "iso-8859-1"), ("latin1", "café", "iso-8859-1"), ("ascii", "abc", "us-ascii"),
    ("cp1252", "café €", "windows-1252"), ("sjis", "日本", "shift_jis"), ("euc_cn", "订阅", "gb2312"),
    ("cp936", "订阅", "gbk"), ("iso8859_15", "€", "iso-8859-15"), ("utf-8-sig", "订阅", "utf-8"),
    # IANA's names as given, in their case; a charset with no IANA name Python gives, as written
    ("ISO-8859-1", "café", "ISO-8859-1"), ("US-ASCII", "abc", "US-ASCII"), ("cp850", "café", "cp850")])
def test_a_text_part_under_a_python_name_goes_under_the_iana_name(label, text, sent):
    """`latin-1`, `ascii`, `sjis`, `cp1252` are Python's names: a reader that knows IANA's alone
    (Java's Charset knows no "latin-1") could not read the part. They go under IANA's preferred name."""
    part = mm7.Part.from_bytes(text.encode(codecs.lookup(label).name), "text/plain", charset=label)
    out = mm7.encode(mm7.DeliverReq(sender="1", content=mm7.Content(parts=[part])), transaction_id="t")
    data = out.to_bytes()
    assert f'Content-Type: text/plain; charset="{sent}"'.encode() in data
    [back] = mm7.decode(data, out.content_type).message.content.parts
    assert back.text_value == text


@pytest.mark.parametrize(("text", "encoding", "expected"), [
    ("中文短信内容", "utf-8", set()), ("中文短信内容", "gbk", {"charset-undeclared"}), ("plain", "ascii", set())])
def test_text_parts_without_a_charset_are_read_as_their_bytes_say(text, encoding, expected):
    """Mbuni drops the charset of text parts, and the CMCC world writes them in GB2312: UTF-8 (and
    ASCII) bytes are read as such without a word, GB bytes recovered and reported."""
    body = (b'--b1\r\nContent-Type: text/xml\r\n\r\n'
            + envelope("s").replace("</Subject>", '</Subject><Content href="cid:c"/>').encode()
            + b"\r\n--b1\r\nContent-Type: text/plain\r\nContent-ID: <c>\r\n\r\n" + text.encode(encoding)
            + b"\r\n--b1--\r\n")
    env = mm7.decode(body, 'multipart/related; boundary="b1"')
    [part] = env.message.content.parts
    assert part.charset is None and part.text_value == text and codes(env.deviations) == expected


def received_text(content_type: str, data: bytes) -> tuple[mm7.Part, set[str]]:
    """The text part of a DeliverReq whose part came with `content_type` and `data`, and the deviation codes."""
    body = (b'--b1\r\nContent-Type: text/xml\r\n\r\n'
            + envelope("s").replace("</Subject>", '</Subject><Content href="cid:c"/>').encode()
            + f"\r\n--b1\r\nContent-Type: {content_type}\r\nContent-ID: <c>\r\n\r\n".encode() + data + b"\r\n--b1--\r\n")
    env = mm7.decode(body, 'multipart/related; boundary="b1"')
    [part] = env.message.content.parts
    return part, codes(env.deviations)


MO_TEXT = "新年快乐，恭喜发财"


@pytest.mark.parametrize(("content_type", "data", "said"), [
    # A byte order mark under an 8-bit label or none (a handset's UTF-16 text relabelled by a gateway,
    # Mbuni dropping the label): read as UTF-16 in its order, where UTF-8 and GB18030 read nothing.
    ("text/plain; charset=utf-8", codecs.BOM_UTF16_LE + MO_TEXT.encode("utf-16-le"), "charset-mismatch"),
    ("text/plain; charset=us-ascii", codecs.BOM_UTF16_BE + MO_TEXT.encode("utf-16-be"), "charset-mismatch"),
    ("text/plain", codecs.BOM_UTF16_LE + MO_TEXT.encode("utf-16-le"), "charset-undeclared"),
    # Little-endian without a mark (Windows, Android) under UTF-16, which RFC 2781 makes big-endian
    ("text/plain; charset=utf-16", MO_TEXT.encode("utf-16-le"), "charset-mismatch"),
    ("text/plain; charset=ucs-2", (MO_TEXT + " TD").encode("utf-16-le"), "charset-mismatch"),
    # ASCII in 16 bits under an 8-bit label: the zero bytes say which order
    ("text/plain; charset=utf-8", "TD 退订".encode("utf-16-le"), "charset-mismatch"),
    # GBK and UTF-8 text under a one-byte label (ISO-8859-1, MMS's default for 8-bit text), which
    # reads any bytes: "ÐÂÄê¿ìÀÖ" before
    ("text/plain; charset=iso-8859-1", MO_TEXT.encode("gbk"), "charset-mismatch"),
    ("text/plain; charset=windows-1252", MO_TEXT.encode("gbk"), "charset-mismatch"),
    ("text/plain; charset=ISO-8859-1", MO_TEXT.encode("utf-8"), "charset-mismatch"),
])
def test_text_under_a_label_it_is_not_in_is_read_as_what_it_is_and_said(content_type, data, said):
    part, found = received_text(content_type, data)
    assert part.text_value.removesuffix(" TD").removeprefix("TD ") in (MO_TEXT, "退订") and said in found
    assert part.data == data  # (the bytes as they came: forwarded, they go on so)


@pytest.mark.parametrize(("content_type", "text", "encoding"), [
    ("text/plain; charset=iso-8859-1", "Grüße aus Köln", "latin-1"),
    # accented letters side by side, which GB2312 reads as Chinese characters ("cr殚e", "a珲es")
    ("text/plain; charset=iso-8859-1", "Une vidéo créée pour vous", "latin-1"),
    ("text/plain; charset=iso-8859-1", "Informações e promoções", "latin-1"),
    ("text/plain; charset=windows-1252", "Größe: 10 cm²", "cp1252"),
    ("text/plain; charset=windows-1252", "café crème, naïve — “quoted”", "cp1252"),
    ("text/plain; charset=utf-16", MO_TEXT, "utf-16-be"),
    ("text/plain; charset=utf-16", "hello TD", "utf-16-be"),
    ("text/plain; charset=utf-16le", MO_TEXT, "utf-16"),  # (its mark and its label agree)
    ("text/plain; charset=utf-8", "TD\x00", "utf-8"),  # (a C string's end is no 16-bit text)
])
def test_text_in_the_charset_of_its_label_is_read_so_without_a_word(content_type, text, encoding):
    part, found = received_text(content_type, text.encode(encoding))
    assert part.text_value == text and not {c for c in found if c.startswith("charset-")}


@pytest.mark.parametrize("label", ["utf-16", "UTF-16", "iso-10646-ucs-2", "ucs-2"])
def test_16_bit_text_without_a_byte_order_mark_is_big_endian(label):
    part = mm7.Part.from_bytes("新年快乐".encode("utf-16-be"), "text/plain", charset=label)
    assert part.text_value == "新年快乐"
    with_bom = mm7.Part.from_bytes("新年快乐".encode("utf-16"), "text/plain", charset=label)  # (BOM, machine order)
    assert with_bom.text_value == "新年快乐"


def test_a_mangled_charset_name_is_read_as_the_charset_it_means():
    body = (b'--b1\r\nContent-Type: text/xml\r\n\r\n' + envelope("s").replace(
        "</Subject>", '</Subject><Content href="cid:c"/>').encode() + b'\r\n'
        b'--b1\r\nContent-Type: text/plain; charset="utf:8"\r\nContent-ID: <c>\r\n\r\n\xe4\xb8\xad\r\n--b1--\r\n')
    env = mm7.decode(body, 'multipart/related; boundary="b1"')
    [part] = env.message.content.parts
    assert part.charset == "utf-8" and part.text_value == "中"  # (not "utf", a charset that does not exist)
    assert "mime-charset" in codes(env.deviations)


def test_a_text_part_whose_bytes_do_not_fit_its_label_is_reported_on_arrival():
    parts = [mm7.Part.from_bytes("订阅".encode(), "text/plain", charset="gb2312", content_id="a"),
             mm7.Part.from_bytes("订阅".encode("gbk"), "text/plain", charset="gbk", content_id="b")]
    out = mm7.encode(mm7.DeliverReq(sender="1", content=mm7.Content(parts=parts)), transaction_id="t")
    env = mm7.decode(out.to_bytes(), out.content_type)
    [mismatch] = [d for d in env.deviations if d.code == "charset-mismatch"]
    assert mismatch.path.endswith("]") and "UTF-8" in mismatch.message  # the first part only: the second is fine
    assert [p.text_value for p in env.message.content.parts] == ["订阅", "订阅"]


# Python knows these names, but as byte transforms (base64, zlib, rot13) or as devices of its own
# (host names, escapes, "undefined", which refuses every byte, "charmap", which read text as Latin-1
# without a word): no peer means them as charsets.
NOT_CHARSETS = ["base64", "zip", "rot13", "punycode", "idna", "undefined", "unicode_escape", "charmap"]


@pytest.mark.parametrize("label", NOT_CHARSETS)
def test_python_codecs_that_are_no_charset_are_unknown_charsets(label):
    body = envelope("新年", f'<?xml version="1.0" encoding="{label}"?>').encode()
    env = mm7.decode(body, "text/xml")
    assert env.message.subject == "新年" and "charset-unknown" in codes(env.deviations)
    text_part = (b'--b1\r\nContent-Type: text/xml\r\n\r\n'
                 + envelope("s").replace("</Subject>", '</Subject><Content href="cid:c"/>').encode()
                 + f'\r\n--b1\r\nContent-Type: text/plain; charset={label}\r\nContent-ID: <c>\r\n'
                   f"Content-Disposition: attachment; filename*={label}''a%3Cb.txt\r\n\r\n".encode()
                 + b"a<b \xe4\xb8\xad\r\n--b1--\r\n")
    env = mm7.decode(text_part, 'multipart/related; boundary="b1"')
    [part] = env.message.content.parts
    assert part.text_value == "a<b 中" and part.filename == "a<b.txt"


@pytest.mark.parametrize("label", NOT_CHARSETS)
def test_encoded_words_in_such_charsets_are_read_as_utf8(label):
    env = mm7.decode(envelope(f"=?{label}?Q?a&lt;b?=").encode(), "text/xml")
    assert env.message.subject == "a<b" and "encoded-word" in codes(env.deviations)


def test_text_in_no_charset_at_all_still_has_a_text_value():
    # Bytes no charset reads (0xFF is neither UTF-8 nor GB18030): reported on arrival, and what a
    # handler reads is the text with U+FFFD in place of them, not an exception (which would fail
    # the message, and every retry and replay of it).
    body = (b'--b1\r\nContent-Type: text/xml\r\n\r\n'
            + envelope("s").replace("</Subject>", '</Subject><Content href="cid:c"/>').encode()
            + b'\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-ID: <c>\r\n\r\nok \xff\xff\r\n--b1--\r\n')
    env = mm7.decode(body, 'multipart/related; boundary="b1"')
    [part] = env.message.content.parts
    assert part.text_value == "ok \ufffd\ufffd" and "charset-unreadable" in codes(env.deviations)
    assert mm7.Part.from_bytes(b"\x81\xff", "text/plain").text_value == "\ufffd\ufffd"


# -- GBK where nothing says which charset ------------------------------------------------------


def received_names(raw_name: bytes, stream: bool = False) -> tuple[str, str]:
    """(file name, location) of a part whose headers give its name as raw 8-bit bytes."""
    body = (b'--b1\r\nContent-Type: text/xml\r\n\r\n'
            + envelope("s").replace("</Subject>", '</Subject><Content href="cid:c"/>').encode()
            + b'\r\n--b1\r\nContent-Type: image/gif; name="' + raw_name + b'"\r\nContent-ID: <c>\r\n'
            + b"Content-Location: " + raw_name + b"\r\n\r\nGIF89a\r\n--b1--\r\n")
    env = mm7.decode(io.BytesIO(body) if stream else body, 'multipart/related; boundary="b1"')
    [part] = env.message.content.parts
    return part.filename, part.content_location


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("name", "charset"), [
    ("图.gif", "gbk"),          # CD BC: UTF-8's "ͼ"
    ("为什么.gif", "gbk"),      # UTF-8's "Ϊʲô": Greek, a modifier letter, Latin
    ("路.gif", "gbk"),          # UTF-8's "·": a sign beside no letter nor digit
    ("新年快乐.gif", "gbk"),    # not UTF-8 at all
    ("新年快乐.gif", "utf-8"),  # UTF-8 Chinese: three bytes a character
    ("café.gif", "utf-8"),      # GB2312 reads it too: "caf茅"
    ("Müller-Lüdenscheid.gif", "utf-8"),
    ("βιβλίο.gif", "utf-8"),    # all six GB2312 Chinese characters as well
    ("10°C.gif", "utf-8"),
])
def test_a_raw_file_name_is_read_in_the_charset_it_makes_sense_in(name, charset, stream):
    assert received_names(name.encode(charset), stream) == (name, name)


def test_a_gbk_text_file_is_labelled_and_read_as_chinese(tmp_path):
    text = "新年快乐！\r\n恭喜发财，万事如意。"
    (tmp_path / "祝福.txt").write_bytes(text.encode("gbk"))
    part = mm7.Part.from_file(tmp_path / "祝福.txt")
    assert part.charset == "gb2312" and part.text_value == text
    news = "朱镕基总理今天访问了上海市"  # (镕: GBK's, not GB2312's)
    assert mm7.Part.from_bytes(news.encode("gbk"), "text/plain").charset == "gbk"
    out = mm7.encode(mm7.SubmitReq(recipients=["1"], content=mm7.Content(parts=[part])), transaction_id="t")
    assert b'Content-Type: text/plain; charset="gb2312"' in out.to_bytes()
    notice = "尊敬的用户您好，您订阅的手机报今日内容已送达，请查收。"
    assert mm7.Part.from_bytes(notice.encode("gb2312"), "text/plain").charset == "gb2312"
    # UTF-8 Chinese stays UTF-8, whatever GBK would make of its bytes.
    assert mm7.Part.from_bytes(text.encode(), "text/plain").charset == "utf-8"


def test_gb18030_text_is_labelled_gb18030_not_left_to_a_default():
    # A rare character of a name ("䶮", GB18030's FE9F; GBK has it not): the bytes read in no GBK,
    # went unlabelled, and China Mobile's layer labelled them with the configured UTF-8: garbled.
    from mm7bind import cmcc  # noqa: PLC0415

    text = "王䶮：新年快乐，万事如意！恭喜发财。"
    part = mm7.Part.from_bytes(text.encode("gb18030"), "text/plain")
    assert part.charset == "gb18030" and part.text_value == text
    wide = "新年快乐，万事如意，恭喜发财，身体健康" + chr(0x20000)  # (a four-byte one)
    assert mm7.Part.from_bytes(wide.encode("gb18030"), "text/plain").charset == "gb18030"
    sub = cmcc.MMContent.create_from_bytes(text.encode("gb18030"))
    sub.content_type = cmcc.ContentType.TEXT
    assert sub.to_part("UTF-8").charset == "gb18030"
    assert mm7.Part.from_bytes("新年快乐".encode("gbk"), "text/plain").charset == "gb2312"  # (as before)


def test_gb2312_text_with_its_dash_or_middle_dot_is_labelled_gb2312():
    # GBK reads A1AA and A1A4, GB2312's "——" and "·", as U+2014 and U+00B7, which Python's GB2312
    # codec does not write (its own are U+2015 and U+30FB): they were counted outside GB2312, a
    # short text holding them left without a charset, a longer one labelled GBK.
    for text in ("新年快乐——小明", "列夫·托尔斯泰", "他说：“好的——明天见。”"):
        part = mm7.Part.from_bytes(text.encode("gbk"), "text/plain")  # (GB2312 bytes alone)
        assert part.charset == "gb2312" and part.text_value == text
    notice = "尊敬的用户您好——您订阅的手机报今日内容已送达，请查收。"
    assert mm7.Part.from_bytes(notice.encode("gbk"), "text/plain").charset == "gb2312"


@pytest.mark.parametrize("data", [
    "Müller, Straße 5".encode("latin-1"),
    "é1é2 à3è4 café9".encode("latin-1"),            # (four bytes GB18030 reads as one character)        # Latin-1: what follows an accent is a plain letter
    "日本語のテキストです".encode("shift_jis"),
    "中文測試內容，繁體字".encode("big5"),
    "안녕하세요. 오늘 날씨가 좋습니다. 우리 같이 공원에 산책하러 갑시다.".encode("euc-kr"),  # (GB2312's shape)
    "新年".encode("utf-16-le"),                  # no byte order mark: NULs
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)),     # not text at all
    "新年快乐".encode("gbk") + b"\x01\x02",       # Chinese, but with control characters: data
])
def test_bytes_that_are_not_chinese_text_stay_unlabelled(data):
    assert mm7.Part.from_bytes(data, "text/plain").charset is None


@pytest.mark.parametrize(("param", "name"), [
    ("name*=''%CD%BC.gif", "图.gif"),                 # RFC 2231 without its charset: GBK, valid UTF-8 too
    ("name*=''%C4%E3%BA%C3.gif", "你好.gif"),         # GBK, not UTF-8: was read as UTF-8, "��.gif"
    ("name*0*=''%C4%E3; name*1=.gif", "你.gif"),
    ("name*=''%E5%9B%BE.gif", "图.gif"),              # UTF-8
    ("name*=UTF-8''%CD%BC.gif", "ͼ.gif"),             # a charset named is a charset believed
    ('name*0="新"; name*1="年.gif"', "新年.gif"),      # raw 8-bit continuations (read with the header): were "??"
    ("name*0*=UTF-8''%E6%96%B0; name*1=\"年.gif\"", "新年.gif"),
    ("name*0*=UTF-8''%E6%96; name*1*=%B0; name*2=.gif", "新.gif"),  # one character split between pieces
])
def test_an_rfc2231_name_without_its_charset_is_read_as_raw_bytes_are(param, name):
    assert mm7.mime.parse_params(f"image/gif; {param}")[1]["name"] == name


@pytest.mark.parametrize(("text", "charset", "refused"), [
    # Python's GB2312 writes U+2015 as A1AA and U+30FB as A1A4, which GBK and GB18030 (and so
    # text_value, and most handsets) read as U+2014 and U+00B7: a text part that read back otherwise
    # than it was written. Said instead, naming a charset that holds it.
    ("破折号―号", "gb2312", "U+2015 goes as A1AA, which GBK and GB18030 readers read as U+2014: write it in gbk"),
    ("中点・号", "GB2312", "U+30FB goes as A1A4, which GBK and GB18030 readers read as U+00B7: write it in gb18030"),
    ("中点・号", "euc-cn", "U+30FB goes as A1A4"),
    ("中点・号", "gbk", "can't encode character '\\u30fb'"),
    ("约翰·史密斯——说", "gb2312", "can't encode character '\\xb7'"),
    ("约翰·史密斯——破折号―", "gbk", None),
    ("约翰・史密斯―说", "gb18030", None),
    ("中文内容", "gb2312", None),
])
def test_a_text_part_in_a_gb_charset_reads_back_as_it_was_written(text, charset, refused):
    if refused:
        with pytest.raises(mm7.EncodeError, match=re.escape(refused)):
            mm7.Part.text(text, charset)
        return
    part = mm7.Part.text(text, charset)
    assert part.data.decode(charset) == text and part.text_value == text
    out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=mm7.Content(parts=[part])), transaction_id="t")
    assert mm7.decode(out.to_bytes(), out.content_type).body.content.parts[0].text_value == text


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


GBK_WISH = "新年快乐".encode("gbk")


@pytest.mark.parametrize("subject", [
    # one character's bytes cut into two words (encoders fold long values anywhere): each word alone
    # read as U+FFFD before
    f"=?gb2312?B?{b64(GBK_WISH[:3])}?= =?gb2312?B?{b64(GBK_WISH[3:])}?=",
    "=?GBK?Q?=D0=C2=C4?=\r\n =?gbk?Q?=EA=BF=EC=C0=D6?=",
    f"=?utf-8?B?{b64('新年快乐'.encode()[:4])}?= =?UTF-8?B?{b64('新年快乐'.encode()[4:])}?=",
])
def test_a_subject_whose_characters_are_cut_between_encoded_words_is_read_whole(subject):
    env = mm7.decode(envelope(subject).encode(), "text/xml")
    assert env.message.subject == "新年快乐" and codes(env.deviations) == {"encoded-word"}


@pytest.mark.parametrize(("subject", "read_as"), [
    (f"=?utf-8?B?{b64(GBK_WISH)}?=", "GB18030"),  # (U+FFFD before)
    (f"=?gb2312?B?{b64('新年快乐'.encode())}?=", "UTF-8"),  # ("鏂板勾蹇..." before)
    (f"=?iso-8859-1?B?{b64(GBK_WISH)}?=", "GB18030"),  # ("ÐÂÄê¿ìÀÖ" before)
])
def test_encoded_words_in_another_charset_than_their_label_are_read_as_it_and_said(subject, read_as):
    env = mm7.decode(envelope(subject).encode(), "text/xml")
    [said] = env.deviations
    assert env.message.subject == "新年快乐" and said.code == "encoded-word" and f"bytes are {read_as}" in said.message


def test_encoded_words_of_two_charsets_or_apart_are_read_each_alone():
    subject = f"=?gb2312?B?{b64('新年'.encode('gbk'))}?= =?utf-8?B?{b64('快乐'.encode())}?= and =?us-ascii?Q?ok?="
    env = mm7.decode(envelope(subject).encode(), "text/xml")
    assert env.message.subject == "新年快乐 and ok"
    assert mm7.decode(envelope("=?iso-8859-1?Q?Gr=FC=DFe?=").encode(), "text/xml").message.subject == "Grüße"
    env = mm7.decode(envelope("=?iso-8859-1?Q?Vid=E9o_cr=E9=E9e?=").encode(), "text/xml")
    assert env.message.subject == "Vidéo créée" and "bytes are" not in env.deviations[0].message  # ("cr殚e" before)


@pytest.mark.parametrize(("label", "encoding"), [("utf-8", "gbk"), ("gb2312", "utf-8"), ("iso-8859-1", "gbk")])
def test_an_rfc2231_name_in_another_charset_than_it_names_is_read_as_it(label, encoding):
    escaped = "".join(f"%{byte:02X}" for byte in "新年.jpg".encode(encoding))
    assert mm7.mime.parse_params(f"attachment; filename*={label}''{escaped}")[1]["filename"] == "新年.jpg"
    half = len(escaped) // 2 // 3 * 3  # (continuations cut between characters' bytes too)
    continued = f"attachment; filename*0*={label}''{escaped[:half]}; filename*1*={escaped[half:]}"
    assert mm7.mime.parse_params(continued)[1]["filename"] == "新年.jpg"
