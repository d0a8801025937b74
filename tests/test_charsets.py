"""Which charset text is read in: labels that lie, labels missing, and 16-bit text."""

from __future__ import annotations

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


def test_undeclared_gb_text_is_read_and_reported():
    # No declaration, no transport charset: XML says UTF-8; GB text is recovered, not silently.
    body = envelope("中文", "").encode("gb18030")
    env = mm7.decode(body, "text/xml")
    assert env.message.subject == "中文" and "charset-undeclared" in codes(env.deviations)


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
