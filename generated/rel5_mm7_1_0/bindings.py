from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import ForwardRef

from xsdata.models.datatype import XmlDateTime, XmlDuration

__NAMESPACE__ = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class AddressValue:
    value: str = field(default="")
    display_only: bool = field(
        default=False,
        metadata={
            "name": "displayOnly",
            "type": "Attribute",
        },
    )


@dataclass(slots=True, kw_only=True)
class AnyData:
    any_attributes: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "type": "Attributes",
            "namespace": "##any",
        },
    )
    content: list[object] = field(
        default_factory=list,
        metadata={
            "type": "Wildcard",
            "namespace": "##any",
            "mixed": True,
        },
    )


class ChargedPartyValue(Enum):
    SENDER = "Sender"
    RECIPIENT = "Recipient"
    BOTH = "Both"
    NEITHER = "Neither"


@dataclass(slots=True, kw_only=True)
class ContentReference:
    href: str = field(
        metadata={
            "type": "Attribute",
        }
    )
    allow_adaptations: bool = field(
        default=True,
        metadata={
            "name": "allowAdaptations",
            "type": "Attribute",
        },
    )


class DeliveryStatusValue(Enum):
    EXPIRED = "Expired"
    RETRIEVED = "Retrieved"
    REJECTED = "Rejected"
    INDETERMINATE = "Indeterminate"
    FORWARDED = "Forwarded"


class MessageClassValue(Enum):
    PERSONAL = "Personal"
    INFORMATIONAL = "Informational"
    ADVERTISEMENT = "Advertisement"
    AUTO = "Auto"


class PriorityValue(Enum):
    NORMAL = "Normal"
    HIGH = "High"
    LOW = "Low"


class ReadStatusValue(Enum):
    INDETERMINATE = "Indeterminate"
    READ = "Read"
    DELETED = "Deleted"


@dataclass(slots=True, kw_only=True)
class RelayRequestBase:
    mm7_version: str = field(
        metadata={
            "name": "MM7Version",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
            "pattern": r"[0-9]+\.[0-9]+\.[0-9]+",
        }
    )
    mmsrelay_server_id: None | str = field(
        default=None,
        metadata={
            "name": "MMSRelayServerID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )


@dataclass(slots=True, kw_only=True)
class ReplyChargingRequest:
    reply_charging_size: None | int = field(
        default=None,
        metadata={
            "name": "replyChargingSize",
            "type": "Attribute",
        },
    )
    reply_deadline: None | XmlDateTime | XmlDuration = field(
        default=None,
        metadata={
            "name": "replyDeadline",
            "type": "Attribute",
        },
    )


@dataclass(slots=True, kw_only=True)
class ServiceCodeValue:
    value: str = field(default="")
    any_attributes: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "type": "Attributes",
            "namespace": "##any",
        },
    )


@dataclass(slots=True, kw_only=True)
class TransactionID:
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"

    value: str = field(default="")
    must_understand: None | str = field(
        default=None,
        metadata={
            "name": "mustUnderstand",
            "type": "Attribute",
            "namespace": "http://schemas.xmlsoap.org/soap/envelope/",
            "pattern": r"0|1",
        },
    )
    encoding_style: list[str] = field(
        default_factory=list,
        metadata={
            "name": "encodingStyle",
            "type": "Attribute",
            "namespace": "http://schemas.xmlsoap.org/soap/envelope/",
            "tokens": True,
        },
    )
    actor: None | str = field(
        default=None,
        metadata={
            "type": "Attribute",
            "namespace": "http://schemas.xmlsoap.org/soap/envelope/",
        },
    )


@dataclass(slots=True, kw_only=True)
class AddressList:
    rfc2822_address_or_number_or_short_code: list[
        AddressList.Rfc2822Address | AddressList.Number | AddressList.ShortCode
    ] = field(
        default_factory=list,
        metadata={
            "type": "Elements",
            "choices": (
                {
                    "name": "RFC2822Address",
                    "type": ForwardRef("AddressList.Rfc2822Address"),
                    "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
                },
                {
                    "name": "Number",
                    "type": ForwardRef("AddressList.Number"),
                    "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
                },
                {
                    "name": "ShortCode",
                    "type": ForwardRef("AddressList.ShortCode"),
                    "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
                },
            ),
        },
    )

    @dataclass(slots=True, kw_only=True)
    class Rfc2822Address(AddressValue):
        pass

    @dataclass(slots=True, kw_only=True)
    class Number(AddressValue):
        pass

    @dataclass(slots=True, kw_only=True)
    class ShortCode(AddressValue):
        pass


@dataclass(slots=True, kw_only=True)
class ResponseStatus:
    status_code: int = field(
        metadata={
            "name": "StatusCode",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    status_text: str = field(
        metadata={
            "name": "StatusText",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    details: None | AnyData = field(
        default=None,
        metadata={
            "name": "Details",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )


@dataclass(slots=True, kw_only=True)
class SingleAddress:
    rfc2822_address_or_number_or_short_code: (
        None | SingleAddress.Rfc2822Address | SingleAddress.Number | SingleAddress.ShortCode
    ) = field(
        default=None,
        metadata={
            "type": "Elements",
            "choices": (
                {
                    "name": "RFC2822Address",
                    "type": ForwardRef("SingleAddress.Rfc2822Address"),
                    "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
                },
                {
                    "name": "Number",
                    "type": ForwardRef("SingleAddress.Number"),
                    "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
                },
                {
                    "name": "ShortCode",
                    "type": ForwardRef("SingleAddress.ShortCode"),
                    "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
                },
            ),
        },
    )

    @dataclass(slots=True, kw_only=True)
    class Rfc2822Address(AddressValue):
        pass

    @dataclass(slots=True, kw_only=True)
    class Number(AddressValue):
        pass

    @dataclass(slots=True, kw_only=True)
    class ShortCode(AddressValue):
        pass


@dataclass(slots=True, kw_only=True)
class DeliveryReportRequest(RelayRequestBase):
    message_id: str = field(
        metadata={
            "name": "MessageID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    recipient: SingleAddress = field(
        metadata={
            "name": "Recipient",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    sender: SingleAddress = field(
        metadata={
            "name": "Sender",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    date: XmlDateTime = field(
        metadata={
            "name": "Date",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    mmstatus: DeliveryStatusValue = field(
        metadata={
            "name": "MMStatus",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    status_text: None | str = field(
        default=None,
        metadata={
            "name": "StatusText",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )


@dataclass(slots=True, kw_only=True)
class PlainResponse:
    mm7_version: str = field(
        metadata={
            "name": "MM7Version",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
            "pattern": r"[0-9]+\.[0-9]+\.[0-9]+",
        }
    )
    status: ResponseStatus = field(
        metadata={
            "name": "Status",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )


@dataclass(slots=True, kw_only=True)
class ReadReplyRequest(RelayRequestBase):
    message_id: str = field(
        metadata={
            "name": "MessageID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    recipient: SingleAddress = field(
        metadata={
            "name": "Recipient",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    sender: SingleAddress = field(
        metadata={
            "name": "Sender",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    time_stamp: XmlDateTime = field(
        metadata={
            "name": "TimeStamp",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    mmstatus: ReadStatusValue = field(
        metadata={
            "name": "MMStatus",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    status_text: None | str = field(
        default=None,
        metadata={
            "name": "StatusText",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )


@dataclass(slots=True, kw_only=True)
class RecipientList:
    to_or_cc_or_bcc: list[RecipientList.To | RecipientList.Cc | RecipientList.Bcc] = field(
        default_factory=list,
        metadata={
            "type": "Elements",
            "choices": (
                {
                    "name": "To",
                    "type": ForwardRef("RecipientList.To"),
                    "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
                },
                {
                    "name": "Cc",
                    "type": ForwardRef("RecipientList.Cc"),
                    "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
                },
                {
                    "name": "Bcc",
                    "type": ForwardRef("RecipientList.Bcc"),
                    "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
                },
            ),
        },
    )

    @dataclass(slots=True, kw_only=True)
    class To(AddressList):
        pass

    @dataclass(slots=True, kw_only=True)
    class Cc(AddressList):
        pass

    @dataclass(slots=True, kw_only=True)
    class Bcc(AddressList):
        pass


@dataclass(slots=True, kw_only=True)
class SenderIdentity:
    vaspid: None | str = field(
        default=None,
        metadata={
            "name": "VASPID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    vasid: None | str = field(
        default=None,
        metadata={
            "name": "VASID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    sender_address: None | SingleAddress = field(
        default=None,
        metadata={
            "name": "SenderAddress",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )


@dataclass(slots=True, kw_only=True)
class CancelRsp(PlainResponse):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class DeliverRequest(RelayRequestBase):
    linked_id: None | str = field(
        default=None,
        metadata={
            "name": "LinkedID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    sender: SingleAddress = field(
        metadata={
            "name": "Sender",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    recipients: None | RecipientList = field(
        default=None,
        metadata={
            "name": "Recipients",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    time_stamp: None | XmlDateTime = field(
        default=None,
        metadata={
            "name": "TimeStamp",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    reply_charging_id: None | str = field(
        default=None,
        metadata={
            "name": "ReplyChargingID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    priority: None | PriorityValue = field(
        default=None,
        metadata={
            "name": "Priority",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    subject: None | str = field(
        default=None,
        metadata={
            "name": "Subject",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    content: None | ContentReference = field(
        default=None,
        metadata={
            "name": "Content",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )


@dataclass(slots=True, kw_only=True)
class DeliverResponse(PlainResponse):
    service_code: None | ServiceCodeValue = field(
        default=None,
        metadata={
            "name": "ServiceCode",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )


@dataclass(slots=True, kw_only=True)
class DeliveryReportReq(DeliveryReportRequest):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class DeliveryReportRsp(PlainResponse):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class RSErrorRsp(PlainResponse):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class ReadReplyReq(ReadReplyRequest):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class ReadReplyRsp(PlainResponse):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class ReplaceRsp(PlainResponse):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class SubmitResponse(PlainResponse):
    message_id: str = field(
        metadata={
            "name": "MessageID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )


@dataclass(slots=True, kw_only=True)
class VASPErrorRsp(PlainResponse):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class VaspRequestBase:
    mm7_version: str = field(
        metadata={
            "name": "MM7Version",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
            "pattern": r"[0-9]+\.[0-9]+\.[0-9]+",
        }
    )
    sender_identification: SenderIdentity = field(
        metadata={
            "name": "SenderIdentification",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )


@dataclass(slots=True, kw_only=True)
class CancelRequest(VaspRequestBase):
    message_id: str = field(
        metadata={
            "name": "MessageID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )


@dataclass(slots=True, kw_only=True)
class DeliverReq(DeliverRequest):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class DeliverRsp(DeliverResponse):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class ReplaceRequest(VaspRequestBase):
    message_id: str = field(
        metadata={
            "name": "MessageID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    service_code: None | ServiceCodeValue = field(
        default=None,
        metadata={
            "name": "ServiceCode",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    time_stamp: None | XmlDateTime = field(
        default=None,
        metadata={
            "name": "TimeStamp",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    read_reply: None | bool = field(
        default=None,
        metadata={
            "name": "ReadReply",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    earliest_delivery_time: None | XmlDateTime | XmlDuration = field(
        default=None,
        metadata={
            "name": "EarliestDeliveryTime",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    distribution_indicator: None | bool = field(
        default=None,
        metadata={
            "name": "DistributionIndicator",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    content: None | ContentReference = field(
        default=None,
        metadata={
            "name": "Content",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )


@dataclass(slots=True, kw_only=True)
class SubmitRequest(VaspRequestBase):
    recipients: RecipientList = field(
        metadata={
            "name": "Recipients",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        }
    )
    service_code: None | ServiceCodeValue = field(
        default=None,
        metadata={
            "name": "ServiceCode",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    linked_id: None | str = field(
        default=None,
        metadata={
            "name": "LinkedID",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    message_class: None | MessageClassValue = field(
        default=None,
        metadata={
            "name": "MessageClass",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    time_stamp: None | XmlDateTime = field(
        default=None,
        metadata={
            "name": "TimeStamp",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    reply_charging: None | ReplyChargingRequest = field(
        default=None,
        metadata={
            "name": "ReplyCharging",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    earliest_delivery_time: None | XmlDateTime | XmlDuration = field(
        default=None,
        metadata={
            "name": "EarliestDeliveryTime",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    expiry_date: None | XmlDateTime | XmlDuration = field(
        default=None,
        metadata={
            "name": "ExpiryDate",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    delivery_report: None | bool = field(
        default=None,
        metadata={
            "name": "DeliveryReport",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    read_reply: None | bool = field(
        default=None,
        metadata={
            "name": "ReadReply",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    priority: None | PriorityValue = field(
        default=None,
        metadata={
            "name": "Priority",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    subject: None | str = field(
        default=None,
        metadata={
            "name": "Subject",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    charged_party: None | ChargedPartyValue = field(
        default=None,
        metadata={
            "name": "ChargedParty",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    distribution_indicator: None | bool = field(
        default=None,
        metadata={
            "name": "DistributionIndicator",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )
    content: None | ContentReference = field(
        default=None,
        metadata={
            "name": "Content",
            "type": "Element",
            "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0",
        },
    )


@dataclass(slots=True, kw_only=True)
class SubmitRsp(SubmitResponse):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class CancelReq(CancelRequest):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class ReplaceReq(ReplaceRequest):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"


@dataclass(slots=True, kw_only=True)
class SubmitReq(SubmitRequest):
    class Meta:
        namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"
