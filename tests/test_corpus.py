"""The reference captures, used in place: well-formed SOAP decodes tolerantly, the rest fails clearly.

The SOAP XML is cut out of each capture with a plain search here; the MIME-level corpus test
(which goes through the real multipart decoder) lives in test_corpus_mime.py.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

import mm7bind as mm7

from .conftest import sample_files

ENVELOPE = re.compile(rb"(<\?xml[^>]*\?>\s*)?<([\w-]+:)?Envelope\b.*?</([\w-]+:)?Envelope\s*>", re.S)

# What each capture must decode to: body type, version, and deviation codes that must be reported.
EXPECTED = {
    "cn-mmsc-simulator__delivery_report_req_template.xml": ("DeliveryReportReq", "REL-6-MM7-1-0", {"renamed-element", "date-format", "unknown-element"}),
    "cn-mmsmp__MM7SubmitReqTest_deliver_req_body.txt": ("DeliverReq", "REL-6-MM7-1-0", {"plain-text-address", "unknown-element", "element-order"}),
    "cn-mmsmp__Sender_delivery_report_req.xml": ("DeliveryReportReq", "REL-5-MM7-1-2", {"plain-text-address", "renamed-element", "unknown-element"}),
    "cn-mmsmp__VaspSendTest_submit_req_body.txt": ("SubmitReq", "REL-6-MM7-1-0", {"plain-text-address"}),
    "instantcom-mm7__caixin.txt": ("DeliverReq", "REL-6-MM7-1-0", {"plain-text-address", "element-order"}),
    "instantcom-mm7__deliver-req-post.txt": ("DeliverReq", "REL-6-MM7-1-4", {"whitespace", "element-order", "schema"}),
    "instantcom-mm7__deliver-req1.txt": ("DeliverReq", "REL-6-MM7-1-4", {"whitespace", "element-order"}),
    "instantcom-mm7__deliver-req2.txt": ("DeliverReq", "REL-6-MM7-1-4", {"whitespace"}),
    "instantcom-mm7__deliver-req3.txt": ("DeliverReq", "REL-6-MM7-1-4", {"whitespace-content"}),
    "instantcom-mm7__deliver-req4.txt": ("DeliverReq", "REL-6-MM7-1-4", {"schema"}),
    "instantcom-mm7__deliver-req5.txt": ("DeliverReq", "REL-6-MM7-1-4", {"qualified-attribute"}),
    "instantcom-mm7__deliver-req6-hw.txt": ("DeliverReq", "REL-5-MM7-1-0", {"plain-text-address", "element-order"}),
    "instantcom-mm7__fault.xml": ("Fault", "REL-6-MM7-1-4", {"faultcode-unqualified"}),
    "instantcom-mm7__fault_02.xml": ("Fault", "REL-5-MM7-1-3", {"qualified-fault-child"}),
    "instantcom-mm7__submit-rsp.xml": ("SubmitRsp", "REL-6-MM7-1-4", {"unknown-version", "unknown-element"}),
    "skycore-docs__deliver_rsp_body.xml": ("DeliverRsp", "REL-6-MM7-1-4", {"namespace-whitespace"}),
    "skycore-docs__deliver_rsp_http.txt": ("DeliverRsp", "REL-6-MM7-1-4", {"namespace-whitespace"}),
    "skycore-docs__delivery_report_req_body.xml": ("DeliveryReportReq", "REL-6-MM7-1-4", set()),
    "skycore-docs__delivery_report_req_http.txt": ("DeliveryReportReq", "REL-6-MM7-1-4", set()),
    "skycore-docs__delivery_report_rsp_body.xml": ("DeliveryReportRsp", "REL-6-MM7-1-4", {"unqualified-body", "unqualified-header"}),
    "skycore-docs__delivery_report_rsp_http.txt": ("DeliveryReportRsp", "REL-6-MM7-1-4", {"unqualified-body"}),
    "skycore-docs__submit_req_body.xml": ("SubmitReq", "REL-6-MM7-1-4", set()),
    "skycore-docs__submit_req_http.txt": ("SubmitReq", "REL-6-MM7-1-4", {"unqualified-body", "element-order"}),
    "skycore-docs__submit_rsp_http.txt": ("SubmitRsp", "REL-6-MM7-1-4", set()),
    "skycore-docs__submit_rsp_success.xml": ("SubmitRsp", "REL-6-MM7-1-4", set()),
    "vectorcore-mmsc__deliver_rsp.soap": ("DeliverRsp", "REL-5-MM7-1-0", {"unqualified-element", "unknown-element"}),
    "vectorcore-mmsc__delivery_report_rsp.soap": ("DeliveryReportRsp", "REL-5-MM7-1-0", {"unknown-element"}),
    "vectorcore-mmsc__read_reply_rsp.soap": ("ReadReplyRsp", "REL-5-MM7-1-0", {"unknown-element"}),
    "vectorcore-mmsc__submit_req.multipart": ("SubmitReq", "REL-5-MM7-1-0", {"unqualified-element"}),
}


def soap_xml(data: bytes) -> bytes | None:
    m = ENVELOPE.search(data)
    return m.group(0) if m else None


def well_formed(xml: bytes) -> bool:
    """The samples' own judgement: does the stdlib (expat) accept it? (declaration dropped: expat
    cannot read GB2312, which says nothing about well-formedness)."""
    body = re.sub(rb"^\s*<\?xml[^>]*\?>", b"", xml)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("gb18030")
    try:
        ET.fromstring(text)
    except ET.ParseError:
        return False
    return True


CAPTURES = [p for p in sample_files() if soap_xml(p.read_bytes()) is not None]


def test_corpus_is_present_or_skipped(samples_dir):
    assert len(CAPTURES) >= 34


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_capture(path):
    xml = soap_xml(path.read_bytes())
    if not well_formed(xml):
        with pytest.raises(mm7.MalformedXMLError, match=r"not well-formed XML: \S"):
            mm7.decode_envelope(xml)
        assert path.name not in EXPECTED
        return
    env = mm7.decode_envelope(xml)
    kind = "Fault" if env.is_fault else env.body.ELEMENT
    expected = EXPECTED.get(path.name)
    assert expected is not None, f"{path.name}: decoded as {kind} {env.version} {env.deviations}; add an expectation"
    want_kind, want_version, want_codes = expected
    assert (kind, env.version.name) == (want_kind, want_version)
    assert want_codes <= {d.code for d in env.deviations}, env.deviations
    if not want_codes:
        assert mm7.decode_envelope(xml, strict=True).body == env.body
    reference = mm7.decode_envelope(xml, engine="xsdata")
    assert reference.body == env.body and reference.deviations == env.deviations


def test_selected_values(samples_dir):
    def body(name):
        return mm7.decode_envelope(soap_xml((samples_dir / name).read_bytes())).body

    nokia = body("instantcom-mm7__deliver-req3.txt")
    assert nokia.relay_server_id == "Nokia MMS Center MC5.0"
    assert nokia.sender.msisdn == "+3859100010010" and nokia.subject == "Bomb"
    assert nokia.content_ref.href == "cid:57626X20-1VO9-A93941F7"
    report = body("skycore-docs__delivery_report_req_body.xml")
    assert report.mm_status is mm7.DeliveryStatus.RETRIEVED and report.ua_capabilities.uaprof
    cn = body("cn-mmsmp__Sender_delivery_report_req.xml")
    assert [e.name for e in cn.extras] == ["MMSStatusErrorCode"] and cn.date is not None
    fault = body("instantcom-mm7__fault.xml")
    assert fault.code == "Client" and fault.status.code == 4002


def test_invented_namespace_in_header_and_body_is_one_namespace(samples_dir):
    env = mm7.decode_envelope(soap_xml((samples_dir / "instantcom-mm7__submit-rsp.xml").read_bytes()))
    assert "unknown-version" in {d.code for d in env.deviations}
    assert "header-namespace" not in {d.code for d in env.deviations}  # both are REL-6-MM7-6-7
