"""The content model as an SP uses it: names, ids, SMIL, charsets of files, saving received parts."""

from __future__ import annotations

import os
import re
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

import mm7bind as mm7
from mm7bind import content as content_module
from mm7bind.content import make_smil, new_content_id, sniff_type
from mm7bind.profiles import CMCC

GIF = b"GIF89a" + bytes(20)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20)
AMR = b"#!AMR\n" + bytes(40)
VIDEO = b"\x00\x00\x00\x18ftyp3gp4" + bytes(40)


def sent(content: mm7.Content, profile: mm7.Profile = mm7.STANDARD) -> tuple[bytes, mm7.Envelope]:
    out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=content), transaction_id="t", profile=profile)
    data = out.to_bytes()
    return data, mm7.decode(data, out.content_type)


def test_chinese_and_spaced_file_names_come_back_as_they_were_sent(tmp_path):
    (tmp_path / "新年 贺卡.jpg").write_bytes(JPEG)
    content = mm7.Content()
    picture = content.add_file(tmp_path / "新年 贺卡.jpg")
    data, env = sent(content)
    assert b"Content-Location: %E6%96%B0%E5%B9%B4%20%E8%B4%BA%E5%8D%A1.jpg\r\n" in data  # a URL on the wire
    got = env.body.content
    assert got.parts == content.parts
    assert got.parts[0].content_location == picture.content_location == "新年 贺卡.jpg"
    assert got.by_location("新年 贺卡.jpg") is got.parts[0]
    assert got.by_location("%E6%96%B0%E5%B9%B4%20%E8%B4%BA%E5%8D%A1.jpg") is got.parts[0]  # as a SMIL src says it


def test_a_received_percent_encoded_location_is_forwarded_as_it_came():
    raw = (b'--b\r\nContent-Type: text/xml\r\n\r\n<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/'
           b'soap/envelope/" xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">'
           b'<e:Header><TransactionID>t</TransactionID></e:Header><e:Body><DeliverReq><MM7Version>6.8.0</MM7Version>'
           b'<Sender><Number>1</Number></Sender><Content href="cid:c"/></DeliverReq></e:Body></e:Envelope>\r\n'
           b'--b\r\nContent-Type: multipart/related; boundary="i"; type="application/smil"; start="<s>"\r\n'
           b'Content-ID: <c>\r\n\r\n'
           b'--i\r\nContent-Type: application/smil\r\nContent-ID: <s>\r\n\r\n'
           b'<smil><body><par><img src="my%20photo.gif"/></par></body></smil>\r\n'
           b'--i\r\nContent-Type: image/gif\r\nContent-Location: my%20photo.gif\r\n\r\n' + GIF + b'\r\n--i--\r\n--b--\r\n')
    received = mm7.decode(raw, 'multipart/related; boundary="b"').body.content
    assert received.parts[0].content_location == "my photo.gif"
    data, _ = sent(received)  # forwarded: the SMIL as it came, so the location must be too
    assert b"Content-Location: my%20photo.gif\r\n" in data and b"%2520" not in data


def test_a_users_smil_naming_parts_as_their_files_are_named_names_them_as_their_locations_are_sent(tmp_path):
    # A handset compares a src with the Content-Location as written (Android's): "照片 1.jpg"
    # would match no "%E7%85%A7%E7%89%87%201.jpg", and the slide would be blank.
    for name in ("照片 1.jpg", "my photo & me's.gif"):
        (tmp_path / name).write_bytes(JPEG)
    content = mm7.Content()
    photo, other = content.add_file(tmp_path / "照片 1.jpg"), content.add_file(tmp_path / "my photo & me's.gif")
    content.add_text("新年快乐", content_location="文字.txt")
    text = ('<smil><body><par><img src="照片 1.jpg"/><text src=\'%E6%96%87%E5%AD%97.txt\'/></par>'
            '<par><img src="my photo &amp; me&apos;s.gif"/><!-- <img src="照片 1.jpg"/> --></par>'
            '<par><img src="cid:x"/><img src="http://example.com/a b.gif"/></par></body></smil>')
    content.smil = mm7.Part.from_bytes(text.encode("gbk"), "application/smil", charset="gbk")
    content.add_bytes(GIF, content_id="x")
    data, env = sent(content)
    got = env.body.content
    heads = {p.headers["Content-Location"]: p for p in got.parts if "Content-Location" in p.headers}
    assert b"Content-Location: %E7%85%A7%E7%89%87%201.jpg\r\n" in data
    sent_text = got.smil.text_value
    assert sent_text == text.replace('"照片 1.jpg"', '"%E7%85%A7%E7%89%87%201.jpg"', 1).replace(
        "my photo &amp; me&apos;s.gif", "my%20photo%20&amp;%20me's.gif")  # the rest as it was, a comment too
    srcs = mm7.content.smil_references(got.smil)
    assert [heads.get(s) for s in srcs[:3]] == [got.parts[0], got.parts[2], got.parts[1]]  # found as written
    assert [got.by_location(s) for s in srcs[:3]] == [got.parts[0], got.parts[2], got.parts[1]]  # found decoded
    assert got.smil.charset == "gbk" and content.smil.data == text.encode("gbk")  # (the user's SMIL as it was)
    assert photo.content_location == "照片 1.jpg" and other.content_location == "my photo & me's.gif"
    # A layout that names every part (China Mobile's MMSC) names one by its file name: so does the SMIL.
    named = mm7.Content(parts=[mm7.Part.from_bytes(JPEG, filename="照片 1.jpg")],
                        smil=mm7.Part.from_bytes('<smil><body><img src="照片 1.jpg"/></body></smil>'.encode()))
    got = sent(named, mm7.profiles.CMCC_MMSC)[1].body.content
    assert mm7.content.smil_references(got.smil) == [got.parts[0].headers["Content-Location"]]


def test_content_ids_made_from_chinese_file_names_are_valid_message_ids():
    # RFC 2392 / 5322: id-left is a dot-atom, which neither starts nor ends with a dot.
    dot_atom = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9.-]+")
    for hint in ("新年.jpg", "贺卡.", "..x..y", "图"):
        assert dot_atom.fullmatch(new_content_id(hint)), new_content_id(hint)
    data, _ = sent(mm7.Content(parts=[mm7.Part.from_bytes(JPEG, filename="新年.jpg")]))
    assert b"Content-ID: <." not in data


def smil_slides(smil: mm7.Part) -> list[list[tuple[str, str]]]:
    root = etree.fromstring(smil.data)
    return [[(el.tag, el.get("src")) for el in par] for par in root.iter("par")]


def test_generated_smil_leaves_vcards_and_calendars_out_of_the_text_region():
    text = mm7.Part.text("名片见附件")
    card = mm7.Part.from_bytes(b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Zhang\r\nEND:VCARD\r\n", "text/x-vcard", charset="utf-8")
    event = mm7.Part.from_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/x-vcalendar")
    smil = make_smil([text, card, event])
    assert smil_slides(smil) == [[("text", f"cid:{text.content_id}")]]
    # Only a vCard: nothing to present, so no SMIL is made and the content goes as multipart/mixed.
    _, env = sent(mm7.Content(parts=[mm7.Part.from_bytes(b"BEGIN:VCARD\r\nEND:VCARD\r\n", "text/x-vcard")]))
    assert env.body.content.smil is None and env.body.content.multipart_type == "mixed"


def test_generated_smil_leaves_parts_of_no_bytes_out_but_sends_them():
    # A slide for an empty picture shows as a broken image on handsets.
    picture, empty_picture = mm7.Part.from_bytes(GIF), mm7.Part.from_bytes(b"", "image/gif", filename="e.gif")
    empty_sound = mm7.Part.from_bytes(b"", "audio/amr", filename="e.amr")
    empty_text = mm7.Part.text("")
    parts = [empty_picture, picture, empty_sound, empty_text]
    assert smil_slides(make_smil(parts)) == [[("img", f"cid:{picture.content_id}")]]
    _, env = sent(mm7.Content(parts=parts))
    assert [p.size for p in env.body.content.parts] == [0, len(GIF), 0, 0]
    assert smil_slides(env.body.content.smil) == [[("img", f"cid:{picture.content_id}")]]
    # Nothing with bytes to present: no SMIL, as for attachments alone.
    _, env = sent(mm7.Content(parts=[empty_picture, empty_text]))
    assert env.body.content.smil is None and env.body.content.multipart_type == "mixed"
    assert len(env.body.content.parts) == 2


def test_generated_smil_never_puts_audio_on_a_video_slide():
    video, sound, words = mm7.Part.from_bytes(VIDEO), mm7.Part.from_bytes(AMR), mm7.Part.text("hi")
    slides = smil_slides(make_smil([video, sound, words]))
    assert slides == [[("video", f"cid:{video.content_id}")],
                      [("audio", f"cid:{sound.content_id}"), ("text", f"cid:{words.content_id}")]]
    picture, sound2 = mm7.Part.from_bytes(GIF), mm7.Part.from_bytes(AMR)
    assert smil_slides(make_smil([picture, sound2])) == [[("img", f"cid:{picture.content_id}"),
                                                          ("audio", f"cid:{sound2.content_id}")]]


def test_a_users_smil_must_name_parts_that_are_sent():
    def content(src: str, **kw) -> mm7.Content:
        smil = mm7.Part.from_bytes(f'<smil><body><par><img src="{src}" region="Image"/>'
                                   f'<!-- <audio src="old.amr"/> --></par></body></smil>'.encode(), "application/smil")
        return mm7.Content(parts=[mm7.Part.from_bytes(GIF, **kw)], smil=smil)

    for src, kw in [("cid:pic@sp", {"content_id": "pic@sp"}), ("cid:pic%40sp", {"content_id": "pic@sp"}),
                    ("新年.gif", {"content_location": "新年.gif"}), ("%E6%96%B0%E5%B9%B4.gif", {"content_location": "新年.gif"}),
                    ("1.gif", {"content_id": "1.gif"}),  # a bare Content-ID, as China Mobile's SDK users write it
                    ("card.gif", {"filename": "card.gif"}),  # a file name (a Content-Type name=), as Android looks it up
                    ("http://example.com/x.gif", {})]:
        sent(content(src, **kw))  # kept as it is
    for src, kw in [("cid:missing", {"content_id": "pic"}), ("card.gif", {"filename": "other.gif"}), ("", {}),
                    # (our decoder finds these, ignoring case and a path, but a handset comparing the
                    # reference with the part's location as written shows a blank slide: refused here)
                    ("IMG_01.GIF", {"content_location": "img_01.gif"}), ("./img_01.gif", {"content_location": "img_01.gif"})]:
        with pytest.raises(mm7.EncodeError, match=re.escape(repr(src))):
            sent(content(src, **kw))


def test_a_smil_of_many_references_is_checked_against_the_parts_once(monkeypatch):
    # Each reference was looked for among all the parts (five passes) and among those missing so
    # far: a forwarded SMIL of 8,000 slides took 1.6 s to check, of 100,000 minutes.
    from mm7bind.content import dangling_references

    parts = [mm7.Part.from_bytes(GIF, "image/gif", filename=f"f{i}.gif", content_id=f"id{i}@sp") for i in range(50)]
    parts[1].content_location = "新年.gif"
    srcs = [f"cid:id{i % 60}@sp" for i in range(300)] + ["cid:ID2@SP", "%E6%96%B0%E5%B9%B4.gif", "f3.gif", "id4@sp",
                                                        "http://example.com/x.gif", "", "cid:", "gone.gif", "gone.gif"]
    smil = mm7.Part.from_bytes(("<smil><body>" + "".join(f'<par><img src="{s}"/></par>' for s in srcs)
                                + "</body></smil>").encode(), "application/smil")
    listed = []
    real = mm7.Content.all_parts
    monkeypatch.setattr(mm7.Content, "all_parts", lambda self: listed.append(1) or real(self))
    missing = dangling_references(mm7.Content(parts=parts, smil=smil), smil)
    # ("cid:" names no id: the SMIL itself, which has none, as Content.by_id finds it)
    assert missing == [f"cid:id{i}@sp" for i in range(50, 60)] + ["", "gone.gif"]  # (each once, in order)
    assert len(listed) == 1


def test_a_text_file_is_sent_with_its_charset(tmp_path):
    (tmp_path / "祝福.txt").write_bytes("新年快乐 😀".encode())
    (tmp_path / "ascii.txt").write_bytes(b"hello")
    (tmp_path / "gbk.txt").write_bytes("新年快乐".encode("gbk"))
    content = mm7.Content()
    utf8, ascii_, gbk = (content.add_file(tmp_path / n) for n in ("祝福.txt", "ascii.txt", "gbk.txt"))
    assert (utf8.charset, ascii_.charset) == ("utf-8", "utf-8")
    assert gbk.charset == "gb2312"  # not UTF-8, and Chinese text in GB2312 (as Chinese Windows writes it)
    assert content.add_file(tmp_path / "gbk.txt", charset="gbk").charset == "gbk"
    data, env = sent(content)
    assert b'Content-Type: text/plain; charset="utf-8"; name="__.txt"' in data
    assert env.body.content.parts[0].text_value == "新年快乐 😀"


def test_audio_only_mp4_is_audio():
    assert sniff_type(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00") == "audio/mp4"
    assert sniff_type(b"\x00\x00\x00\x18ftypisom") == "video/mp4"


def test_saving_never_writes_through_a_link_in_the_folder(tmp_path):
    outside = tmp_path / "outside.txt"
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.txt").symlink_to(outside)  # dangling: "exists" is false for it
    names = mm7.Content(parts=[mm7.Part.text("hostile", filename="a.txt")]).save(folder)
    assert not outside.exists() and names == ["a-2.txt"] and (folder / "a-2.txt").read_text() == "hostile"


def amr(seconds: float, wide: bool = False) -> bytes:
    """AMR in its file format (RFC 4867 §5): 20 ms frames, each a header byte and its speech bits."""
    if wide:  # mode 8 (23.85 kbit/s): 60 bytes after the header
        return b"#!AMR-WB\n" + (b"\x44" + bytes(60)) * round(seconds * 50)
    return b"#!AMR\n" + (b"\x3c" + bytes(31)) * round(seconds * 50)  # mode 7 (12.2 kbit/s): 31 bytes


def test_a_slide_with_a_long_amr_lasts_as_long_as_the_sound(tmp_path):
    (tmp_path / "greeting.amr").write_bytes(amr(12.5))
    song = mm7.Part.from_file(tmp_path / "greeting.amr")
    wide, short, picture = mm7.Part.from_bytes(amr(7.02, wide=True)), mm7.Part.from_bytes(amr(1)), mm7.Part.from_bytes(GIF)
    root = etree.fromstring(make_smil([picture, song, mm7.Part.text("新年快乐"), wide, short]).data)
    # (the last slide has nothing but its 1 s sound: no blank screen held after it)
    assert [par.get("dur") for par in root.iter("par")] == ["12500ms", "7020ms", "1000ms"]


def test_escaped_locations_of_received_parts_stay_in_the_folder(tmp_path):
    raw = (b'--b\r\nContent-Type: text/xml\r\n\r\n<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/'
           b'soap/envelope/" xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">'
           b'<e:Header><TransactionID>t</TransactionID></e:Header><e:Body><DeliverReq><MM7Version>6.8.0</MM7Version>'
           b'<Sender><Number>1</Number></Sender><Content href="cid:c"/></DeliverReq></e:Body></e:Envelope>\r\n'
           b'--b\r\nContent-Type: multipart/mixed; boundary="i"\r\nContent-ID: <c>\r\n\r\n')
    for location in (b"..%2F..%2Fout1.gif", b"%2Fetc%2Fout2.gif", b"%2e%2e"):
        raw += b"--i\r\nContent-Type: image/gif\r\nContent-Location: " + location + b"\r\n\r\n" + GIF + b"\r\n"
    received = mm7.decode(raw + b"--i--\r\n--b--\r\n", 'multipart/related; boundary="b"').body.content
    assert [p.content_location for p in received.parts] == ["../../out1.gif", "/etc/out2.gif", ".."]
    assert received.save(tmp_path / "a" / "b") == ["out1.gif", "out2.gif", "image.gif"]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "a", "a/b", "a/b/image.gif", "a/b/out1.gif", "a/b/out2.gif"]


def test_text_that_starts_like_a_short_magic_number_stays_text():
    assert sniff_type("BMW 新款车型到店".encode(), "note.txt") == "text/plain"
    assert sniff_type(b"ID3 tags, explained", "tags.txt") == "text/plain"
    assert sniff_type(b"MThd is MIDI's first chunk", "midi.txt") == "text/plain"
    bmp = b"BM" + (70).to_bytes(4, "little") + bytes(4) + (54).to_bytes(4, "little") + (40).to_bytes(4, "little")
    assert sniff_type(bmp + bytes(16), "x.txt") == "image/bmp"
    assert sniff_type(b"ID3\x03\x00\x00\x00\x00\x00\x00", "x.txt") == "audio/mpeg"
    assert sniff_type(b"MThd\x00\x00\x00\x06\x00\x01", "x.txt") == "audio/midi"
    assert sniff_type(b"\xef\xbb\xbf<?xml version='1.0'?>\r\n<smil>", "x.txt") == "application/smil"


def test_a_long_chinese_file_name_in_rfc2047_goes_as_words_of_at_most_75_characters():
    name = "二〇二七年新年快乐全家福合影留念高清原图第一张.jpg"
    data, env = sent(mm7.Content(parts=[mm7.Part.from_bytes(JPEG, filename=name)]),
                     mm7.Profile(filename_encoding="rfc2047", auto_smil=False))
    header = next(line for line in data.split(b"\r\n") if line.startswith(b"Content-Type: image/jpeg"))
    words = re.findall(rb"=\?[^?]+\?[bB]\?[^?]*\?=", header)
    assert len(words) > 1 and all(len(w) <= 75 for w in words)  # RFC 2047 §2
    assert env.body.content.parts[0].filename == name


@pytest.mark.parametrize("style", ["rfc2231", "rfc2047"])
@pytest.mark.parametrize("name", ["照片" * 60 + "的第一张原图.jpg", "新" * 400 + ".jpg", "photo-" * 200 + ".jpg"])
def test_a_very_long_file_name_is_folded_within_the_line_limit_and_read_back(style, name):
    # Written in one piece, a name of 100+ Chinese characters made a header line over 998 characters.
    data, env = sent(mm7.Content(parts=[mm7.Part.from_bytes(JPEG, filename=name, content_location=name)]),
                     mm7.Profile(filename_encoding=style, auto_smil=False))
    head = data[data.index(b"Content-Type: image/jpeg"):]
    head = head[:head.index(b"\r\n\r\n")].decode("ascii")
    lines = head.split("\r\n")
    lines = lines[:next(i for i, line in enumerate(lines) if i and not line.startswith(" "))]  # Content-Type's
    if style == "rfc2047" and len(lines) == 1:  # RFC 2047 words are shorter than escapes: 126 characters fit
        assert len(name) < 200 and len(lines[0]) <= 998
    else:
        assert len(lines) > 2 and all(len(line) <= 78 for line in lines)  # folded: each line within 78
    part = env.body.content.parts[0]
    assert part.filename == name
    # A URL has nowhere to fold: the location, too long for a line, goes with the name alone.
    assert "Content-Location" not in head and part.content_location is None
    if style == "rfc2231":
        assert "name*0*=UTF-8''" in head and "name*1*=" in head
        stand_in = re.search(r'name="([^"]*)"', head).group(1)
        assert len(stand_in) <= 40 and stand_in.endswith(".jpg")


def test_a_long_name_that_fits_its_line_is_written_as_before():
    name = "二〇二七年新年快乐全家福" * 7 + ".jpg"  # 88 characters: 760 escaped, one line of 896
    data, env = sent(mm7.Content(parts=[mm7.Part.from_bytes(JPEG, filename=name, content_location=name)]),
                     mm7.Profile(auto_smil=False))
    line = next(x for x in data.split(b"\r\n") if x.startswith(b"Content-Type: image/jpeg"))
    assert b"; name*=UTF-8''%E4%BA%8C" in line and len(line) <= 998
    assert env.body.content.parts[0].filename == name == env.body.content.parts[0].content_location


def test_a_content_location_too_long_for_one_line_is_refused_unless_it_is_the_file_name():
    where = "图" * 120 + ".jpg"  # 1084 characters URL-escaped
    with pytest.raises(mm7.EncodeError, match="Content-Location .* too long for one header line"):
        sent(mm7.Content(parts=[mm7.Part.from_bytes(JPEG, filename="a.jpg", content_location=where)]))
    with pytest.raises(mm7.EncodeError, match="too long for one header line"):
        sent(mm7.Content(parts=[mm7.Part.from_bytes(JPEG, content_location=where)]))


def test_a_sound_is_counted_once_however_often_it_is_sent(monkeypatch):
    sound = mm7.Part.from_bytes(amr(3))
    make_smil([sound])
    monkeypatch.setattr(type(sound.blob), "chunks", lambda *a, **k: pytest.fail("read again"))
    assert etree.fromstring(make_smil([sound]).data).find(".//par").get("dur") == "3000ms"


@pytest.mark.parametrize(("received", "saved"), [
    ("CON.txt", "_CON.txt"), ("nul", "_nul.txt"), ("com1.jpg", "_com1.jpg"), ("Lpt9", "_Lpt9.txt"),
    ("a.txt. . ", "a.txt"), ("console.txt", "console.txt"), ("CON-1.txt", "CON-1.txt"),
    # Nor any character a terminal or a file manager acts on: "photo\u202egpj.exe" shows as "photoexe.jpg".
    ("COM\u00b9.txt", "_COM\u00b9.txt"), ("lpt\u00b3", "_lpt\u00b3.txt"), ("CONIN$", "_CONIN$.txt"),
    ("conout$.log", "_conout$.log"),
    ("photo\u202egpj.exe", "photo_gpj.exe"), ("a\u009b2Jb\u0085.txt", "a_2Jb_.txt"), ("x\u2028y.gif", "x_y.gif"),
])
def test_received_names_that_windows_reserves_are_saved_under_another(received, saved):
    from mm7bind.content import file_name

    assert file_name(mm7.Part.text("x", filename=received)) == saved


def test_a_utf8_byte_order_mark_is_neither_sent_nor_read_as_text(tmp_path):
    # Windows editors save UTF-8 with a byte order mark: labelled utf-8, the text goes without it.
    (tmp_path / "greeting.txt").write_bytes("\ufeff新年快乐".encode())
    data, env = sent(mm7.Content(parts=[mm7.Part.from_file(tmp_path / "greeting.txt"),
                                        mm7.Part.from_bytes("\ufeff你好".encode(), filename="b.txt")]))
    assert b"\xef\xbb\xbf" not in data and [p.data.decode() for p in env.body.content.parts] == ["新年快乐", "你好"]
    # Received with one (an MO keyword, say), the text is the text without it.
    mo = mm7.Part.from_bytes("\ufeffTD".encode(), "text/plain", charset="utf-8")
    assert mo.text_value == "TD" and mo.data.startswith(b"\xef\xbb\xbf")  # (its bytes stay as they came)


def test_two_parts_never_go_with_one_content_id():
    # A SMIL's cid: finds the first part with an id: the second would never be shown.
    same = mm7.Content(parts=[mm7.Part.from_bytes(GIF, content_id="img"), mm7.Part.from_bytes(JPEG, content_id="IMG")])
    with pytest.raises(mm7.EncodeError, match="Content-ID <IMG> of <Part image/gif img"):
        sent(same)
    # Received so, the content is read (and says so); sent on, refused as above.
    body = (b"--b\r\nContent-Type: text/xml\r\n\r\n" + mm7.encode_envelope(
        mm7.DeliverReq(sender="+8613800000000"), transaction_id="mo", version="REL-6-MM7-1-0") + b"\r\n")
    for data in (GIF, JPEG):
        body += b"--b\r\nContent-Type: image/gif\r\nContent-ID: <img>\r\n\r\n" + data + b"\r\n"
    env = mm7.decode(body + b"--b--\r\n", 'multipart/related; boundary="b"')
    assert [p.data for p in env.body.content.parts] == [GIF, JPEG]
    assert [d.path for d in env.deviations if d.code == "mime-duplicate-content-id"] == ["/part[3]"]
    picture = mm7.Part.from_bytes(GIF)
    with pytest.raises(mm7.EncodeError, match="in the content twice"):
        sent(mm7.Content(parts=[picture, picture]))


def test_content_read_from_flat_parts_is_forwarded_with_ids_of_its_own():
    # Parts at the top level with the href naming the SMIL: read, the content has the SMIL's id;
    # written again, the container around the parts must not have it too.
    soap = mm7.encode_envelope(mm7.DeliverReq(sender="+8613800000000", content_ref=mm7.ContentRef(href="cid:pres")),
                               transaction_id="mo-1", version="REL-6-MM7-1-0")
    smil = b'<smil><body><par><img src="cid:pic"/></par></body></smil>'
    body = (b"--b\r\nContent-Type: text/xml\r\n\r\n" + soap + b"\r\n--b\r\nContent-Type: application/smil\r\n"
            b"Content-ID: <pres>\r\n\r\n" + smil + b"\r\n--b\r\nContent-Type: image/gif\r\nContent-ID: <pic>\r\n\r\n"
            + GIF + b"\r\n--b--\r\n")
    received = mm7.decode(body, 'multipart/related; boundary="b"').body.content
    assert received.content_id == "pres" and received.smil.content_id == "pres"
    data, env = sent(received)
    ids = re.findall(rb"Content-ID: <([^>]+)>", data)
    assert len(ids) == len(set(ids)) == 4 and ids.count(b"pres") == 1  # SOAP, container, SMIL, picture
    assert env.body.content.smil.data == smil and env.body.content.content_id != "pres"


def test_a_long_received_name_is_shortened_before_its_extension():
    from mm7bind.content import file_name

    name = "二〇二七年度全国优秀营销方案汇编及附件说明（最终定稿版本，请勿外传，谢谢合作）第三部分.docx"
    saved = file_name(mm7.Part.from_bytes(b"PK\x03\x04" + bytes(20), "application/octet-stream", filename=name))
    assert saved.endswith("谢谢合作.docx") and len(saved.encode()) <= 120  # (not "….bin": the type says nothing)


def test_a_smil_added_as_a_part_is_the_presentation(tmp_path):
    (tmp_path / "mms.smil").write_bytes(b'<smil><body><par dur="3s"><img src="1.jpg" region="Image"/>'
                                        b'<text src="1.txt" region="Text"/></par></body></smil>')
    (tmp_path / "1.jpg").write_bytes(JPEG)
    (tmp_path / "1.txt").write_bytes("第一页".encode())
    for profile in (mm7.STANDARD, CMCC):  # (China Mobile's: no SMIL generated, related with one)
        content = mm7.Content()
        smil = content.add_file(tmp_path / "mms.smil")
        content.add_file(tmp_path / "1.jpg")
        content.add_file(tmp_path / "1.txt")
        data, env = sent(content, profile)
        got = env.body.content
        assert data.count(b"Content-Type: application/smil") == 1  # not a generated one beside it
        assert got.multipart_type == "related" and got.smil == smil and got.parts == content.parts[1:]
        assert re.search(rb'start="<' + re.escape(smil.content_id.encode()) + rb'>"', data)
    content = mm7.Content()
    content.add_file(tmp_path / "mms.smil")  # its references are checked as those of a SMIL given as such
    with pytest.raises(mm7.EncodeError, match="'1.jpg'"):
        sent(content)


def test_a_smil_file_is_told_by_its_doctype_or_a_comment_before_it():
    doctype = b'<!DOCTYPE smil PUBLIC "-//W3C//DTD SMIL 2.0//EN" "http://www.w3.org/2001/SMIL20/SMIL20.dtd">\r\n'
    for head in (doctype, b"<!-- made by an MMS composer -->\r\n"):
        part = mm7.Part.from_bytes(head + b'<smil><body><par><img src="a.gif"/></par></body></smil>')
        assert part.content_type == "application/smil"
    assert sniff_type(b"<!-- a page -->\r\n<html><body>smile</body></html>", "a.html") == "text/html"


def test_a_smil_written_on_chinese_windows_is_sent_with_its_charset(tmp_path):
    # Notepad's "ANSI": GBK. Unlabelled, a handset reads it as UTF-8 and its src names no part.
    (tmp_path / "mms.smil").write_bytes('<smil><body><par><img src="新年.jpg"/></par></body></smil>'.encode("gbk"))
    content = mm7.Content(parts=[mm7.Part.from_bytes(JPEG, content_location="新年.jpg")])
    content.smil = mm7.Part.from_file(tmp_path / "mms.smil")
    assert content.smil.charset == "gb2312"
    data, env = sent(content)
    assert b'Content-Type: application/smil; charset="gb2312"' in data
    # (its src as the Content-Location goes, URL-escaped: a handset compares the two as written)
    assert env.body.content.smil.text_value == '<smil><body><par><img src="%E6%96%B0%E5%B9%B4.jpg"/></par></body></smil>'
    assert mm7.Part.from_bytes(b"<smil/>", charset="utf-8").charset == "utf-8"  # a label given is kept
    # "图片" in GBK is valid UTF-8 as well ("ͼƬ"): a declaration that names the charset is believed.
    declared = '<?xml version="1.0" encoding="GB2312"?><smil><body><par><img src="图片.jpg"/></par></body></smil>'
    content = mm7.Content(parts=[mm7.Part.from_bytes(JPEG, content_location="图片.jpg")],
                          smil=mm7.Part.from_bytes(declared.encode("gbk")))
    assert content.smil.charset == "GB2312"
    assert sent(content)[1].body.content.smil.text_value == declared.replace("图片.jpg", "%E5%9B%BE%E7%89%87.jpg")
    undeclarable = mm7.Part.from_bytes(b'<?xml version="1.0" encoding="utf-16"?><smil/>')  # (8-bit: a slip)
    assert undeclarable.charset == "utf-8"


def test_a_file_whose_name_is_gbk_bytes_is_sent_under_that_name(tmp_path):
    # An archive made on Chinese Windows, unpacked on a UTF-8 system: the names are GBK bytes,
    # which Python gives as surrogates, and no header can carry those.
    if sys.getfilesystemencoding().lower() not in ("utf-8", "utf8"):
        pytest.skip("the file system's names are not read as UTF-8 here")
    try:
        for name, data in (("新年.jpg", JPEG), ("祝福.txt", "新年快乐".encode("gbk"))):
            with open(os.path.join(os.fsencode(tmp_path), name.encode("gbk")), "wb") as out:
                out.write(data)
    except OSError:
        pytest.skip("this file system takes no names that are not UTF-8")
    content = mm7.Content()
    for name in os.listdir(tmp_path):  # (as an SP's script finds them)
        content.add_file(tmp_path / name)
    for names in ("rfc2231", "rfc2047"):
        _, env = sent(content, mm7.Profile(filename_encoding=names))
        got = {p.filename: p for p in env.body.content.parts}
        assert sorted(got) == ["新年.jpg", "祝福.txt"] and all(p.content_location == n for n, p in got.items())
        assert got["新年.jpg"].content_type == "image/jpeg" and got["祝福.txt"].text_value == "新年快乐"


def test_one_content_sent_from_several_threads_names_each_part_once(monkeypatch):
    # send_bulk encodes one Content for several recipients at once: two threads that both found
    # a part without an id gave it two, and a message's SMIL could name the one its header lost.
    made: list[str] = []
    both_inside = threading.Barrier(2)
    real_new_content_id = content_module.new_content_id

    def new_id_with_the_other_thread_waiting(hint: str = "part") -> str:
        made.append(hint)
        try:
            both_inside.wait(timeout=1)  # (the other thread gets here too unless it is kept out)
        except threading.BrokenBarrierError:
            pass
        return real_new_content_id(hint)

    monkeypatch.setattr(content_module, "new_content_id", new_id_with_the_other_thread_waiting)
    content = mm7.Content(parts=[mm7.Part.from_bytes(GIF, filename="新年.gif")])
    sent_bodies: list[bytes] = []

    def send() -> None:
        out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=content), transaction_id="t")
        sent_bodies.append(out.to_bytes())

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made.count("新年.gif") == 1
    for data in sent_bodies:
        assert re.findall(rb'<img src="cid:([^"]+)"', data) == [content.parts[0].content_id.encode()]
        assert b"Content-ID: <" + content.parts[0].content_id.encode() + b">" in data


def test_a_smil_given_as_text_is_refused_and_one_typed_smil_xml_is_a_smil():
    text = '<smil><body><par><text src="cid:t"/></par></body></smil>'
    content = mm7.Content(parts=[mm7.Part.text("你好", content_id="t")], smil=mm7.Part.text(text))  # (text/plain)
    with pytest.raises(mm7.EncodeError, match="typed text/plain"):
        sent(content)
    content.smil = mm7.Part.text(text, content_type="application/smil+xml")  # (RFC 4536's name for it)
    data, env = sent(content)
    assert b'type="application/smil+xml"' in data and env.body.content.smil == content.smil


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="<!->a", max_size=40))
def test_comments_are_taken_out_of_a_smil_as_the_pattern_for_them_takes_them(text):
    from mm7bind.content import _without_comments

    assert _without_comments(text) == re.sub(r"<!--.*?-->", "", text, flags=re.S)


def test_a_smil_of_many_comments_never_closed_is_read_in_linear_time():
    # "<!--.*?-->" searched to the end from each "<!--" that no "-->" closes: 6 s for 80 KB of
    # them, some 10 min for these 800 KB, in a SMIL sent (or forwarded) with its content.
    from mm7bind.content import smil_references

    smil = b'<smil><img src="cid:a"/><!-- <img src="cid:gone"/> -->' + b"<!--" * 200_000 + b'<img src="b.gif"/>'
    assert smil_references(mm7.Part.from_bytes(smil, "application/smil")) == ["cid:a", "b.gif"]


def test_a_part_of_no_bytes_is_sent_with_a_warning_said_once(caplog):
    """MIME and the schema allow it, so it goes; but no handset shows it, and it is most often a
    file not yet written: a WARNING, once for the content a campaign encodes again and again."""
    import logging

    content = mm7.Content()
    content.add_text("hello")
    content.add_bytes(b"", "image/jpeg", filename="empty.jpg")
    msg = mm7.SubmitReq(recipients=["+8613800000000"], content=content)
    with caplog.at_level(logging.WARNING, logger="mm7bind.codec"):
        out = mm7.encode(msg, transaction_id="t-1")
        mm7.encode(msg, transaction_id="t-2")
    assert [r.getMessage() for r in caplog.records if "holds no bytes" in r.getMessage()] == [
        ("the image/jpeg part empty.jpg holds no bytes: sent as it is, but no handset shows it "
         "(a broken picture, an empty slide)")]
    parts = mm7.decode(out.to_bytes(), out.content_type).body.content.parts
    assert [p.size for p in parts] == [5, 0]


PRESETS = [mm7.STANDARD, CMCC, mm7.profiles.CMCC_SDK, mm7.profiles.MBUNI, mm7.profiles.CMCC_MMSC]


@pytest.mark.parametrize("profile", PRESETS, ids=lambda p: p.name)
def test_a_location_given_escaped_is_sent_as_it_is_and_a_name_escaped_once(profile):
    # "%E6%B5%8B.gif" went as "%25E6%25B5%258B.gif": a reader decoding it found "%E6%B5%8B.gif",
    # and a SMIL naming the part as the user wrote it named nothing a handset could find.
    for location, wire, name in [("%E6%B5%8B.gif", "%E6%B5%8B.gif", "测.gif"),
                                 ("测.gif", "%E6%B5%8B.gif", "测.gif"),
                                 ("100%.gif", "100%25.gif", "100%.gif"),
                                 ("a%20b c.gif", "a%2520b%20c.gif", "a%20b c.gif"),
                                 ("my%20photo.gif", "my%20photo.gif", "my photo.gif")]:
        for src in {location, name, wire}:
            smil = mm7.Part.from_bytes(f'<smil><body><par><img src="{src}"/></par></body></smil>'.encode(),
                                       "application/smil")
            content = mm7.Content(parts=[mm7.Part.from_bytes(GIF, "image/gif", content_location=location)],
                                  smil=smil)
            assert content.by_location(src) is content.parts[0]
            data, env = sent(content, profile)
            got = env.body.content
            assert b"%25E6" not in data
            assert got.parts[0].headers["Content-Location"] == wire and got.parts[0].content_location == name
            # the SMIL names the part as its header is written (a handset's lookup), and so as a name
            assert mm7.content.smil_references(got.smil) == [wire] and got.by_location(wire) is got.parts[0]
            assert content.parts[0].content_location == location and content.smil is smil  # (as they were)
    # A file's name is a name, whatever it holds (add_file names the location after it), as is one
    # the layout makes up of a Content-ID: escaped, and read back as it is.
    for part in [mm7.Part.from_bytes(GIF, "image/gif", filename="100%41.gif", content_location="100%41.gif"),
                 mm7.Part.from_bytes(GIF, "image/gif", filename="测.gif", content_location="%E6%B5%8B.gif"),
                 mm7.Part.from_bytes(GIF, "image/gif", content_id="x%41@sp")]:
        named_by = part.filename or ("x%41.gif" if profile.layout.content_locations else None)
        got = sent(mm7.Content(parts=[part]), profile)[1].body.content.parts[-1]
        assert got.content_location == (None if named_by is None else "测.gif" if part.filename == "测.gif"
                                        else named_by)
        assert got.filename == (part.filename or (named_by if profile.layout.content_locations else None))


@pytest.mark.parametrize("profile", PRESETS, ids=lambda p: p.name)
def test_a_received_location_of_gbk_escapes_is_forwarded_as_it_came(profile):
    # A GBK peer sends Content-Location: %C4%E3.gif with name="%C4%E3.gif" (the same escapes). The
    # location equal to the file name was taken for a name and forwarded escaped again,
    # "%25C4%25E3.gif", and the SMIL's reference rewritten to that spelling: a location the peer
    # never wrote. A received location that is a valid URL goes on as it came.
    smil = mm7.Part.from_bytes(b'<smil><body><par><img src="%C4%E3.gif"/></par></body></smil>', "application/smil")
    made = mm7.Part.from_bytes(GIF, "image/gif", content_location="%C4%E3.gif", filename="%C4%E3.gif")
    out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=mm7.Content(parts=[made], smil=smil)),
                     transaction_id="t", profile=profile)
    # (made here, the location is the file's name: escaped, as a file named so is)
    assert re.search(rb"Content-Location: ?%25C4%25E3\.gif\r\n", out.to_bytes())
    received = out.to_bytes().replace(b"%25C4%25E3", b"%C4%E3")
    got = mm7.decode(received, out.content_type).body.content
    assert got.parts[0].content_location == got.parts[0].filename == "%C4%E3.gif"
    data, env = sent(got, profile)
    assert b"%25C4" not in data and re.search(rb"Content-Location: ?%C4%E3\.gif\r\n", data)
    forwarded = env.body.content
    assert forwarded.parts[0].headers["Content-Location"] == "%C4%E3.gif"
    assert mm7.content.smil_references(forwarded.smil) == ["%C4%E3.gif"]
    assert forwarded.by_location("%C4%E3.gif") is forwarded.parts[0]


@pytest.mark.parametrize("profile", PRESETS, ids=lambda p: p.name)
def test_a_smil_naming_a_part_by_the_location_it_is_sent_under_shows_it(profile):
    # Parts of one name go as photo.jpg, photo-2.jpg...: a SMIL naming "photo-2.jpg", knowing the
    # rule, was refused as naming nothing, though it names the second part as it is sent.
    def content(srcs: list[str], names: list[str]) -> mm7.Content:
        smil = mm7.Part.from_bytes(("<smil><body>" + "".join(f'<par><img src="{s}"/></par>' for s in srcs)
                                    + "</body></smil>").encode(), "application/smil")
        return mm7.Content(parts=[mm7.Part.from_bytes(JPEG + bytes([i]), "image/jpeg", content_location=n)
                                  for i, n in enumerate(names)], smil=smil)

    for srcs, names, wires, shows in [
            (["photo.jpg", "photo-2.jpg", "photo-3.jpg"], ["photo.jpg"] * 3,
             ["photo.jpg", "photo-2.jpg", "photo-3.jpg"], [0, 1, 2]),
            (["照片.jpg", "照片-2.jpg"], ["照片.jpg"] * 2,
             ["%E7%85%A7%E7%89%87.jpg", "%E7%85%A7%E7%89%87-2.jpg"], [0, 1]),
            (["%E7%85%A7%E7%89%87-2.jpg"], ["照片.jpg"] * 2,
             ["%E7%85%A7%E7%89%87.jpg", "%E7%85%A7%E7%89%87-2.jpg"], [1]),
            # one location as a name and as a URL: one on the wire, so the second goes under another
            (["a b.gif", "a%20b.gif"], ["a b.gif", "a%20b.gif"], ["a%20b.gif", "a%20b-2.gif"], [0, 1])]:
        _, env = sent(content(srcs, names), profile)
        got = env.body.content
        assert [p.headers["Content-Location"] for p in got.parts] == wires
        srcs_sent = mm7.content.smil_references(got.smil)
        # found as written, as a handset looks, and as a name, as a reader decoding URLs does
        assert [wires.index(s) for s in srcs_sent] == shows
        assert [got.parts.index(got.by_location(s)) for s in srcs_sent] == shows
    with pytest.raises(mm7.EncodeError, match="'photo-3.jpg'"):  # (two parts: there is no third)
        sent(content(["photo-3.jpg"], ["photo.jpg"] * 2), profile)


def test_a_campaign_spells_its_smil_as_sent_once_not_once_a_recipient(monkeypatch):
    from mm7bind import bulk, codec
    from mm7bind.simulator import Simulator

    # A SMIL naming a part "照片.jpg" is sent naming it "%E7%85%A7%E7%89%87.jpg": its text was
    # decoded, searched and written again for each recipient of a campaign.
    written = []

    class CountedSources:  # (the search of a SMIL's src attributes that writes them as sent)
        def sub(self, repl, text):
            written.append(1)
            return real.sub(repl, text)

    real = codec._SRC_ATTRIBUTE
    monkeypatch.setattr(codec, "_SRC_ATTRIBUTE", CountedSources())
    monkeypatch.setattr(codec, "_SENT_SMILS", {}, raising=False)
    smil = mm7.Part.from_bytes('<smil><body><par><img src="照片.jpg"/></par></body></smil>'.encode(),
                               "application/smil")
    content = mm7.Content(parts=[mm7.Part.from_bytes(JPEG, content_location="照片.jpg")], smil=smil)
    with Simulator() as sim, mm7.Client(sim.url) as client:
        result = bulk.send_bulk(client, mm7.SubmitReq(content=content),
                                [f"+861380000000{i}" for i in range(6)])
        assert result.sent == 6
        smils = [r.message.content.smil.text_value for r in sim.received]
    assert len(written) == 1
    assert len(smils) == 6 and all('src="%E7%85%A7%E7%89%87.jpg"' in text for text in smils)
    sent(mm7.Content(parts=content.parts, smil=smil.from_bytes(smil.data + b" ", "application/smil")))
    assert len(written) == 2  # (another SMIL is worked out anew)


def test_part_text_makes_a_part_and_on_a_part_says_where_its_text_is():
    # `Part.text` is a constructor: on a part it was that constructor, bound, so `part.text ==
    # "hello"` was False whatever the part held, silently. On a part it is an error naming text_value.
    part = mm7.Part.text("hello", content_id="t@sp")
    assert part.text_value == "hello" and part.content_id == "t@sp" and part.charset == "utf-8"
    with pytest.raises(AttributeError, match=r"Part\.text\(\) makes a new part; the text of this one is part\.text_value"):
        part.text == "hello"  # noqa: B015
    assert not hasattr(part, "text") and mm7.Content().add_text("hi").text_value == "hi"

    class Note(mm7.Part):
        pass

    assert type(Note.text("x")) is Note  # (as a classmethod: the class it is called on)
    assert "A text part" in mm7.Part.text.__doc__


def handset_mo() -> bytes:
    """A DeliverReq as handsets' MO arrives: the content a multipart/mixed holding a
    multipart/related (the SMIL last, parts written in another order than it shows them) and an
    attachment; the SMIL names a part by its Content-Location in other case, one by `cid:` and a
    Content-ID sent without angle brackets, one by a path to a bare name."""
    smil = ('<smil><head><layout><region id="Image"/><region id="Text"/></layout></head><body>'
            '<par dur="5000ms"><img src="IMG_0001.JPG" region="Image"/><text src="cid:txt01" region="Text"/></par>'
            '<par dur="5000ms"><audio src="./sdcard/voice.amr"/></par></body></smil>').encode()
    related = [(b"Content-Type: audio/amr\r\nContent-Location: voice.amr", AMR),
               (b"Content-Type: text/plain; charset=utf-8\r\nContent-ID: txt01\r\nContent-Location: text_0.txt",
                "周末一起吃饭".encode()),
               (b"Content-Type: image/jpeg\r\nContent-Location: img_0001.jpg\r\nContent-ID: <1>", JPEG),
               (b"Content-Type: application/smil\r\nContent-ID: <smil>\r\nContent-Location: smil.xml", smil)]
    inner = b"".join(b"--rel\r\n" + h + b"\r\n\r\n" + d + b"\r\n" for h, d in related) + b"--rel--"
    mixed = (b'--mix\r\nContent-Type: multipart/related; boundary=rel; type="application/smil"; start="<smil>"'
             b"\r\n\r\n" + inner + b"\r\n--mix\r\nContent-Type: image/gif\r\nContent-Location: extra.gif\r\n\r\n"
             + GIF + b"\r\n--mix--")
    ns = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0"
    soap = (f'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header><TransactionID xmlns="{ns}">'
            f't</TransactionID></e:Header><e:Body><DeliverReq xmlns="{ns}"><MM7Version>6.3.0</MM7Version>'
            f'<Sender><Number>+8613800138000</Number></Sender><Content href="cid:mo"/></DeliverReq></e:Body></e:Envelope>')
    return (b"--b1\r\nContent-Type: text/xml\r\n\r\n" + soap.encode() + b"\r\n--b1\r\n"
            b"Content-Type: multipart/mixed; boundary=mix\r\nContent-ID: <mo>\r\n\r\n" + mixed + b"\r\n--b1--\r\n")


def test_a_handler_gets_a_handsets_parts_in_the_order_its_smil_shows_them():
    c = mm7.decode(handset_mo(), 'multipart/related; boundary="b1"').body.content
    assert c.smil is not None and [p.content_location for p in c.parts] == [
        "voice.amr", "text_0.txt", "img_0001.jpg", "extra.gif"]
    # The picture, its caption, the sound (as the slides show them), then the attachment no slide shows
    assert [p.content_location for p in c.in_smil_order()] == ["img_0001.jpg", "text_0.txt", "voice.amr", "extra.gif"]
    assert c.by_reference("IMG_0001.JPG") is c.parts[2] and c.by_reference("cid:txt01") is c.parts[1]
    assert c.by_reference("./sdcard/voice.amr") is c.parts[0] and c.by_reference("file:///sdcard/voice.amr") is c.parts[0]
    assert c.by_reference("text_0.txt") is c.parts[1] and c.by_reference("txt01") is c.parts[1]  # (a bare Content-ID)
    assert c.by_reference("http://example.com/img_0001.jpg") is None and c.by_reference("missing.jpg") is None
    assert c.in_smil_order()[1].text_value == "周末一起吃饭"
    assert mm7.Content(parts=list(c.parts)).in_smil_order() == c.parts  # (no SMIL: as they came)


def test_an_exact_name_wins_over_one_only_alike_in_case_or_path():
    first = mm7.Part.from_bytes(JPEG, "image/jpeg", content_location="dir/photo.jpg")
    second = mm7.Part.from_bytes(GIF, "image/gif", content_location="PHOTO.JPG")
    third = mm7.Part.from_bytes(GIF, "image/gif", content_location="photo.jpg")
    c = mm7.Content(parts=[first, second, third])
    assert c.by_reference("photo.jpg") is third  # (exact, though two parts before are alike)
    assert c.by_reference("Photo.jpg") is second  # (alike in case, before alike in its path's last segment)
    assert c.by_reference("other/Photo.jpg") is first  # (the first whose last segment is alike)


def test_a_gbk_peers_escaped_names_are_saved_as_the_names_they_spell(tmp_path):
    # "%C4%E3.gif" (GBK's 你) stays the location as it came, to be forwarded so; saved, it was a
    # file named "%C4%E3.gif". UTF-8 escapes are decoded as parts are read; a "%" that starts no
    # escape is part of the name.
    parts = [mm7.Part.from_bytes(GIF, "image/gif", content_location="%C4%E3.gif", filename="%C4%E3.gif"),
             mm7.Part.from_bytes(GIF, "image/gif", content_location="%D0%C2%C4%EA"),
             mm7.Part.from_bytes(GIF, "image/gif", content_location="100%.gif"),
             mm7.Part.from_bytes(GIF, "image/gif", content_location="%C4%E3%2F..%2F..%2Fup.gif")]
    assert mm7.Content(parts=parts).save(tmp_path) == ["你.gif", "新年.gif", "100%.gif", "up.gif"]
    assert parts[0].content_location == "%C4%E3.gif"  # (the part as it came)


def test_a_content_id_beyond_ascii_goes_percent_encoded_and_the_smil_names_it_so():
    """A header is ASCII on the wire (a GBK-only MMSC garbles UTF-8): a Content-ID "图.gif" goes
    as its UTF-8 bytes percent-encoded ("%" as "%25"), as the container's and the root's in
    start=, and a SMIL's `cid:` URLs of it (generated, or the user's) and a bare id as that same
    string: handsets compare them as written, and a lookup by the name still finds the part."""
    picture = mm7.Part.from_bytes(GIF, content_id="图.gif")
    text = mm7.Part.text("你好", content_id="文%41.txt")
    for content in (mm7.Content(parts=[picture, text], content_id="内容"),
                    mm7.Content(parts=[picture, text], smil=mm7.Part.from_bytes(
                        '<smil><body><par><img src="cid:图.gif"/><text src=\'cid:文%2541.txt\'/></par>'
                        '<par><img src="图.gif"/><!-- <img src="cid:图.gif"/> --></par></body></smil>'.encode(),
                        "application/smil", content_id="根.smil"))):
        data, env = sent(content)
        heads = [line for line in data.split(b"\r\n") if line.lower().startswith((b"content-", b" start"))]
        assert all(line.isascii() for line in heads), [line for line in heads if not line.isascii()]
        assert b"Content-ID: <%E5%9B%BE.gif>" in data and b"Content-ID: <%E6%96%87%2541.txt>" in data
        assert b"Content-ID: <%E5%86%85%E5%AE%B9>" in data or content.smil is not None
        got = env.body.content
        srcs = mm7.content.smil_references(got.smil)
        assert srcs[:2] == ["cid:%E5%9B%BE.gif", "cid:%E6%96%87%2541.txt"]
        assert [got.by_reference(s) for s in srcs[:2]] == got.parts
        assert not mm7.content.unresolved_references(got)
        assert got.by_id("图.gif").data == GIF and got.by_id("文%41.txt").text_value == "你好"
        assert picture.content_id == "图.gif" and text.content_id == "文%41.txt"  # (the user's parts as they were)
    assert srcs == ["cid:%E5%9B%BE.gif", "cid:%E6%96%87%2541.txt", "%E5%9B%BE.gif"]
    assert '<!-- <img src="cid:图.gif"/> -->' in got.smil.text_value  # (a comment as it was)
    assert b"start=\"<%E6%A0%B9.smil>\"" in data and got.smil.content_id == "%E6%A0%B9.smil"


@pytest.mark.parametrize(("first", "second", "says"), [
    ("图.gif", "%E5%9B%BE.gif", "would both go as Content-ID <%E5%9B%BE.gif>"),
    ("图.gif", "图.GIF", "would both go as Content-ID <%E5%9B%BE.GIF>"),
    ("图.gif", "图.gif", "has the Content-ID <图.gif> of"),
    ("a.gif", "A.gif", "has the Content-ID <A.gif> of")])
def test_two_parts_under_one_content_id_on_the_wire_are_named_by_the_ids_given(first, second, says):
    """An ASCII id that is another's UTF-8 escapes ("%E5%9B%BE.gif", "图.gif") goes as the same
    Content-ID: refused, as two parts of one id are, the message naming both ids as the user gave
    them (it showed the escaped form alone, for both parts)."""
    parts = [mm7.Part.from_bytes(GIF, content_id=first), mm7.Part.from_bytes(GIF + b"1", content_id=second)]
    with pytest.raises(mm7.EncodeError) as err:
        sent(mm7.Content(parts=parts))
    assert says in str(err.value) and "each part needs its own" in str(err.value)
    assert f" {first} " in str(err.value) and f" {second} " in str(err.value), err.value  # (the parts' reprs)


def test_a_content_id_holding_an_ampersand_or_a_quote_is_named_in_the_smil_as_xml():
    content = mm7.Content(parts=[mm7.Part.from_bytes(GIF, content_id='图&"1.gif')],
                          smil=mm7.Part.from_bytes('<smil><body><img src="cid:图&amp;&quot;1.gif"/></body></smil>'
                                                   .encode(), "application/smil"))
    data, env = sent(content)
    got = env.body.content
    etree.fromstring(got.smil.data)  # (well-formed)
    assert mm7.content.smil_references(got.smil) == ['cid:%E5%9B%BE&"1.gif'] and not mm7.content.unresolved_references(got)


def test_a_layout_naming_every_part_names_one_after_its_content_id_as_the_name_it_spells():
    # China Mobile's MMSC names every part: one with no name of its own after its Content-ID. An id
    # sent as its UTF-8 escapes is named as the name they spell, and an id with an extension of its
    # own keeps it alone ("1.gif" was "1.gif.gif").
    parts = [mm7.Part.from_bytes(GIF, content_id="图.gif"), mm7.Part.from_bytes(GIF + b"1", content_id="1.gif"),
             mm7.Part.from_bytes(GIF + b"2")]
    data, env = sent(mm7.Content(parts=parts), mm7.profiles.CMCC_MMSC)
    got = env.body.content.parts
    assert [p.content_location for p in got[:2]] == ["图.gif", "1.gif"] and [p.filename for p in got[:2]] == ["图.gif", "1.gif"]
    assert b"Content-Location:%E5%9B%BE.gif\r\n" in data and b"%25E5" not in data
    assert got[2].content_location.endswith(".gif") and not got[2].content_location.endswith(".gif.gif")


def test_a_part_named_by_a_content_id_sent_escaped_is_saved_under_the_name_it_spells(tmp_path):
    parts = [mm7.Part.from_bytes(GIF, content_id="图.gif"), mm7.Part.from_bytes(GIF + b"1", content_id="a%41.gif")]
    _, env = sent(mm7.Content(parts=parts))
    assert sorted(env.body.content.save(tmp_path)) == ["a%41.gif", "presentation.smil", "图.gif"]
