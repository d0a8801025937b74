"""`mm7bind demo`: the binding end to end on built-in data, printed readably.

Builds a SubmitReq with a Chinese subject, encodes it for a China Mobile style peer
(REL-6-MM7-1-0, GB2312) and for a Rel-6 1-4 peer, validates both against their schemas, decodes a
tolerant reading of a sloppy DeliverReq, and answers it in the caller's own version.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TextIO

from . import messages as m
from .envelope import Fault, XmlStyle, decode, encode
from .validation import validate_element
from .versions import get
from .xmlsafe import parse_xml

CHINA = timezone(timedelta(hours=8), "CST")

SLOPPY_DELIVER = """<?xml version="1.0" encoding="UTF-8"?>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">
 <soap-env:Header>
  <mm7:TransactionID xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0"
      soap-env:mustUnderstand="1">
     demo-mo-0001
  </mm7:TransactionID>
 </soap-env:Header>
 <soap-env:Body>
  <mm7:DeliverReq xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0">
   <MM7Version>6.3.0</MM7Version>
   <Sender>+8613800138000</Sender>
   <Recipients><To><ShortCode>1065888</ShortCode></To></Recipients>
   <Subject>回复：你好</Subject>
   <MMSRelayServerID>demo-mmsc</MMSRelayServerID>
   <MMSStatusErrorCode>0</MMSStatusErrorCode>
   <Content href="cid:mo-content"/>
  </mm7:DeliverReq>
 </soap-env:Body>
</soap-env:Envelope>
""".encode()


def run(out: TextIO) -> int:
    def say(text: str = "") -> None:
        print(text, file=out)

    submit = m.SubmitReq(
        vaspid="800001",
        vasid="1065888",
        service_code="100001",
        sender_address=m.ShortCode("1065888"),
        recipients=m.Recipients(to=["+8613800138000", "someone@example.com"], cc=["+8613900139000"]),
        subject="新年快乐 <Happy New Year> & more",
        priority=m.Priority.HIGH,
        delivery_report=True,
        read_reply=True,
        time_stamp=datetime(2026, 1, 1, 9, 0, tzinfo=CHINA),
        expiry_date=timedelta(days=2),
        content_ref=m.ContentRef(href="cid:greeting"),
    )
    say("== SubmitReq, VASP -> MMSC ==")
    for version, style in (
        ("REL-6-MM7-1-0", XmlStyle(encoding="GB2312", mm7_prefix="mm7")),
        ("REL-6-MM7-1-4", XmlStyle()),
        ("REL-5-MM7-1-2", XmlStyle(envelope_prefix="SOAP-ENV")),
    ):
        data = encode(submit, transaction_id="demo-0001", version=version, style=style)
        issues = validate_element(parse_xml(data).root, get(version))
        verdict = "valid" if not issues else f"INVALID: {issues[0]}"
        say(f"  {version:<14} {style.encoding:<7} {len(data):>5} bytes, schema: {verdict}")
    print_xml = encode(submit, transaction_id="demo-0001", version="REL-6-MM7-1-4")
    say()
    say(print_xml.decode("utf-8"))

    say()
    say("== A sloppy DeliverReq from an MMSC, read tolerantly ==")
    env = decode(SLOPPY_DELIVER)
    mo = env.message
    say(f"  version {env.version}, TransactionID {env.transaction_id!r}")
    say(f"  from {mo.sender} to {', '.join(map(str, mo.recipients))}: {mo.subject!r}")
    say(f"  {len(env.deviations)} deviation(s) tolerated:")
    for d in env.deviations:
        say(f"    {d}")

    say()
    say("== Answer in the caller's version ==")
    rsp = encode(m.DeliverRsp(service_code="100001"), transaction_id=env.transaction_id, version=env.version)
    say(rsp.decode("utf-8"))
    fault = encode(
        Fault(code="Client", string="Validation error", detail=m.VASPErrorRsp(status=m.Status(4004))),
        transaction_id=env.transaction_id,
        version=env.version,
    )
    say()
    say("  ...or, had the handler refused it:")
    say(fault.decode("utf-8"))
    back = decode(fault, strict=True)
    say(f"\n  round trip: Fault {back.body.code}, status {back.body.status.code} {back.body.status.text!r}")
    return 0
