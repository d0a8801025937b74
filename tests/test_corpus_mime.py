"""The reference captures through the real MIME decoder: each capture with attachments yields the
parts its INDEX.md entry describes (used in place; skipped when the folder is absent)."""

from __future__ import annotations

import hashlib

import pytest

import mm7bind as mm7
from mm7bind.codec import split_http

from .conftest import SAMPLES


def load(name: str) -> mm7.Envelope:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip("reference samples are not present")
    _, headers, body = split_http(path.read_bytes())
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    return mm7.decode(body, ctype)


def kinds(env) -> list[tuple[str, str | None, str | None]]:
    c = env.body.content
    return [(p.content_type, p.content_id, p.content_location) for p in c.all_parts()]


def codes(env) -> set[str]:
    return {d.code for d in env.deviations}


def test_chinese_mmsc_mo_with_raw_binary_jpeg():
    env = load("instantcom-mm7__caixin.txt")
    c = env.body.content
    assert env.version.name == "REL-6-MM7-1-0" and env.body.sender == mm7.Number("+8618703815655")
    assert [p.content_location for p in c.all_parts()] == ["smil.xml", "1447137257000.jpg", "text_0.txt"]
    jpeg = c.by_location("1447137257000.jpg")
    # Raw 8-bit bytes kept exact. The sender writes "bytes CRLF CRLF" before each delimiter, and
    # MIME gives only the last CRLF to the delimiter: every part ended CR LF (the JPEG FF D9 CR LF),
    # which is that sender's framing, dropped and noted.
    assert jpeg.data[:3] == b"\xff\xd8\xff" and jpeg.data[-2:] == b"\xff\xd9"
    assert c.by_location("text_0.txt").text_value == "524测试" and "mime-part-trailing-crlf" in codes(env)
    assert c.by_location("text_0.txt").content_type == "text/plain"
    assert env.body.content_ref.href == "cid:defaultID" and c.content_id == "defaultID"
    assert "mime-content-id" in codes(env)  # (the container's "Content-ID:defaultID")


def test_spec_style_deliver_with_dangling_href():
    env = load("instantcom-mm7__deliver-req-post.txt")
    assert codes(env) >= {"mime-bare-lf", "href-dangling"}
    [part] = env.body.content.parts
    assert part.content_id == "forecast-location2000102-86453" and part.content_type == "text/plain"
    env = load("instantcom-mm7__deliver-req1.txt")  # same body, href and Content-ID match
    assert "href-dangling" not in codes(env) and len(env.body.content.parts) == 1


def test_nested_mixed_with_spaced_boundary_and_truncated_gif():
    env = load("instantcom-mm7__deliver-req2.txt")
    c = env.body.content
    assert "href-dangling" in codes(env)
    assert [p.content_type for p in c.parts] == ["text/plain", "image/gif"]
    assert c.parts[1].data.startswith(b"GIF8")


def test_nokia_mc5_capture():
    env = load("instantcom-mm7__deliver-req3.txt")
    c = env.body.content
    assert c.smil.content_id == "AAAA" and c.smil.filename == "main.smil"
    assert b'src="Bomb.gif"' in c.smil.data
    [gif] = c.parts
    assert gif.content_id is None and gif.content_location == "Bomb.gif" and gif.data.startswith(b"GIF89a")
    assert c.by_location("Bomb.gif") is gif


def test_large_nokia_style_capture_smil_last():
    env = load("instantcom-mm7__deliver-req4.txt")
    c = env.body.content
    assert c.smil.content_id == "580210102" and c.smil.filename == "pres.smil"
    [jpeg] = c.parts
    assert jpeg.filename == "flowers_6.jpg" and jpeg.size > 290_000 and jpeg.data[:2] == b"\xff\xd8"
    assert env.body.sender is None  # the capture has no Sender: a schema deviation, not a failure
    # Its SMIL shows "flowers_.jpg", a name no part has (the picture is flowers_6.jpg): said.
    assert [d.message for d in env.deviations if d.code == "smil-dangling"] == [
        "the SMIL refers to 'flowers_.jpg', which no part of the message is: a slide the handset showed blank"]


def test_xmmc_capture_prefixed_href_and_raw_images():
    env = load("instantcom-mm7__deliver-req5.txt")
    c = env.body.content
    assert codes(env) >= {"qualified-attribute", "href-form", "mime-content-id"}  # ("Content-ID: content_15")
    assert env.body.content_ref.href == "cid: content_15" and c.content_id == "content_15"
    assert c.smil.content_id == "smil"
    [jpeg] = c.parts
    assert jpeg.content_id == "DCIM_11" and jpeg.filename == "DCIM_11.jpg"


def test_huawei_style_fixture_reuses_the_nokia_body():
    env = load("instantcom-mm7__deliver-req6-hw.txt")
    assert env.version.name == "REL-5-MM7-1-0" and env.body.mm7_version == "5.2.0"
    assert [p.content_location for p in env.body.content.parts] == ["Bomb.gif"]
    nokia = load("instantcom-mm7__deliver-req3.txt").body.content.parts[0]
    assert env.body.content.parts[0].sha256() == nokia.sha256()


def test_skycore_submit_over_http():
    env = load("skycore-docs__submit_req_http.txt")
    c = env.body.content
    assert c.smil.content_id == "mms.smil" and c.content_id == "generic_content_id"
    assert "mime-related-type" in codes(env)  # (type="text/xml", and its start the SMIL)
    [text] = c.parts
    assert text.text_value.strip() and text.content_type == "text/plain"
    assert b"cid:" in c.smil.data


def test_vectorcore_multipart_without_soap_content_id():
    env = load("vectorcore-mmsc__submit_req.multipart")
    [part] = env.body.content.parts
    assert part.content_id == "message-content" and env.version.name == "REL-5-MM7-1-0"


def test_china_mobile_submit_no_content_element():
    env = load("cn-mmsmp__VaspSendTest_submit_req_body.txt")
    assert codes(env) >= {"mime-missing-blank-line", "content-ref-missing", "mime-content-id", "mime-start"}
    [text] = env.body.content.parts
    assert text.content_id == "1.text" and text.charset == "GB2312"
    assert text.text_value.startswith("you received this message")
    assert env.body.sender_address == mm7.Number("106558888")


def test_delivery_report_with_multipart_type_but_bare_xml():
    env = load("skycore-docs__delivery_report_req_http.txt")
    assert codes(env) == {"mime-no-boundary"}
    assert env.body.mm_status is mm7.DeliveryStatus.RETRIEVED


def test_glued_unicom_test_literal_is_refused():
    with pytest.raises(mm7.DecodeError):
        load("cn-mmsmp__MM7SubmitReqTest_deliver_req_body.txt")
    data = (SAMPLES / "cn-mmsmp__MM7SubmitReqTest_deliver_req_body.txt").read_bytes()
    with pytest.raises(mm7.DecodeError):  # even with the headers its test set
        mm7.decode(data, 'multipart/related; boundary="==SimpleTeam=88025833=="; start="<SimpleTeam88025833>"')


@pytest.mark.parametrize("name", ["spec-rel5-zh-translation__submit_req_http.txt",
                                  "spec-rel5-zh-translation__deliver_req_http.txt"])
def test_spec_translation_mime_defects_are_named(name):
    with pytest.raises(mm7.DecodeError, match="not terminated|not well-formed|not a valid MIME boundary"):
        load(name)


def test_attachment_digests_are_stable():
    env = load("instantcom-mm7__deliver-req3.txt")
    gif = env.body.content.parts[0]
    assert gif.sha256() == hashlib.sha256(gif.data).hexdigest()


@pytest.mark.parametrize(("name", "said"), [
    ("skycore-docs__submit_req_http.txt", "is the MM7 namespace URI"),
    ("skycore-docs__delivery_report_req_http.txt", "is the MM7 namespace URI"),
    ("instantcom-mm7__deliver-req-post.txt", None),  # (SOAPAction: "")
])
def test_the_captured_requests_soapaction_is_said_as_the_receiver_says_it(name, said):
    from mm7bind.codec import soap_action_deviation
    from mm7bind.mime import header_value

    env = load(name)  # (skipped when the samples are absent)
    _, headers, _ = split_http((SAMPLES / name).read_bytes())
    deviation = soap_action_deviation(header_value(headers, "soapaction"), env)
    assert (deviation and said in deviation.message) if said else deviation is None
