"""Messages with every field a schema version allows, built through the public API."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import mm7bind as mm7
from mm7bind import binding, messages as m
from mm7bind.status import StatusExtension

CST = timezone(timedelta(hours=8))
DT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=CST)
DT2 = datetime(2024, 12, 31, 23, 59, 58, 250000, tzinfo=timezone.utc)


def supported(version: mm7.Version, ncls: type, path: str) -> bool:
    cls = version.element_class(ncls.ELEMENT)
    if cls is None:
        return False
    for head in [p for p in path.split("/") if p]:
        var = binding.children(cls).get(head)
        if var is None:
            return False
        cls = var.clazz
    return True


def values(version: mm7.Version, ncls: type) -> dict:
    rel6 = version.release >= 6
    to_first = mm7.Number("+8613800000000")
    if rel6:
        to_first = mm7.Number("+8613800000000", address_coding=m.AddressCoding.OBFUSCATED, id="r1")
    recipients = mm7.Recipients(
        to=[to_first, mm7.RFC2822Address("张三@example.cn", display_only=True)],
        cc=[mm7.ShortCode("10086")],
        bcc=[mm7.Number("+8613900000000")],
    )
    status_full = supported(version, ncls, "Status/Details")
    return {
        "vaspid": "800001",
        "vasid": "1065888",
        "sender_address": mm7.ShortCode("1065888"),
        "recipients": recipients,
        "service_code": "100001",
        "linked_id": "LNK-0001",
        "message_class": mm7.MessageClass.INFORMATIONAL,
        "time_stamp": DT,
        "reply_charging": mm7.ReplyCharging(size=2048, deadline=timedelta(days=3)),
        "earliest_delivery_time": DT2,
        "expiry_date": "P1M",
        "delivery_report": True,
        "read_reply": False,
        "priority": mm7.Priority.LOW,
        "subject": "主题 <&> \"quoted\" 'apos' \u00e9\u20ac",
        "charged_party": mm7.ChargedParty.THIRD_PARTY if rel6 else mm7.ChargedParty.BOTH,
        "charged_party_id": "+8613700000000",
        "distribution_indicator": False,
        "delivery_condition": [1, 2],
        "applic_id": "com.example.app",
        "reply_applic_id": "com.example.reply",
        "aux_applic_info": "aux & info",
        "content_class": mm7.ContentClass.IMAGE_RICH,
        "drm_content": True,
        "content_ref": mm7.ContentRef(href="cid:content-1@example", allow_adaptations=False),
        # Details with elements and attributes of its own, as vendors send them (xs:any, mixed)
        "status": mm7.Status(1100, "Partial success", details_xml=DETAILS_XML,
                             details_attributes={"{urn:example:vendor}ref": "A-1", "lang": "en"})
                  if status_full else mm7.Status(1000),
        "message_id": "MSG-0001",
        "relay_server_id": "MMSC-01",
        "sender": mm7.Number("+8613800138000"),
        "recipient": mm7.RFC2822Address("user@example.com"),
        "previously_sent_by": [m.UserAgent(mm7.Number("+8611"), 1), m.UserAgent(mm7.RFC2822Address("x@y.z"), 2)],
        "previously_sent_at": [m.ForwardTime(DT, 1), m.ForwardTime(timedelta(hours=1), 2)],
        "sender_spi": "spi-a",
        "recipient_spi": "spi-b",
        "reply_charging_id": "RC-0001",
        "ua_capabilities": mm7.UACapabilities("http://ua.example/profile.xml", DT),
        "date": DT2,
        "mm_status": mm7.ReadStatus.DELETED if ncls is mm7.ReadReplyReq else mm7.DeliveryStatus.FORWARDED,
        "mm_status_extension": StatusExtension.REJECTION_BY_OTHER_RS,
        "status_text": "delivered to handset",
        "cancel_id": "MSG-0009",
        "replace_id": "MSG-0008",
    }


DETAILS_XML = ('2 of 3 &lt;ok&gt; <v:reason xmlns:v="urn:example:vendor" code="7">quota <b xmlns="">day</b></v:reason>'
               '<v:next xmlns:v="urn:example:vendor"/>')
# ServiceCode's further attributes (xs:anyAttribute), one in a namespace and one in none
SERVICE_CODE_ATTRIBUTES = {"{urn:example:billing}feeType": "2", "plan": "A&B"}


def full_message(ncls: type[mm7.Message], version: mm7.Version) -> mm7.Message:
    """`ncls` with every field `version` supports set (and mm7_version filled in)."""
    table = values(version, ncls)
    kwargs = {"mm7_version": version.default_mm7_version}
    for f in m.xml_fields(ncls):
        if f.name == "mm7_version":
            continue
        if supported(version, ncls, f.metadata["xml"]):
            kwargs[f.name] = table[f.name]
            if f.metadata.get("attributes") and supported(version, ncls, f.metadata["xml"] + "/@*"):
                kwargs[f.metadata["attributes"]] = SERVICE_CODE_ATTRIBUTES
    return ncls(**kwargs)


def field_names(msg: mm7.Message) -> set[str]:
    return {f.name for f in dataclasses.fields(msg) if getattr(msg, f.name) not in (None, [], "")}
