"""MM7 request status codes, delivery statuses (MMStatus) and read statuses.

The code list lives in the TS 23.140 text, not in the schemas (StatusCode is a positive integer
there). Codes are grouped by thousands: 1xxx success, 2xxx client error, 3xxx server error, 4xxx
service error. Unknown codes (carriers add private ones) are classified by that digit, never refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum

from .versions import Version, get


class StatusClass(Enum):
    SUCCESS = 1
    CLIENT_ERROR = 2
    SERVER_ERROR = 3
    SERVICE_ERROR = 4
    UNKNOWN = 0


class RequestStatus(IntEnum):
    """The standard request status codes (TS 23.140 §8.4 / China Mobile manual §5.1)."""

    SUCCESS = 1000
    PARTIAL_SUCCESS = 1100
    CLIENT_ERROR = 2000
    OPERATION_RESTRICTED = 2001
    ADDRESS_ERROR = 2002
    ADDRESS_NOT_FOUND = 2003
    MULTIMEDIA_CONTENT_REFUSED = 2004
    MESSAGE_ID_NOT_FOUND = 2005
    LINKED_ID_NOT_FOUND = 2006
    MESSAGE_FORMAT_CORRUPT = 2007
    APPLICATION_ID_NOT_FOUND = 2008
    REPLY_APPLICATION_ID_NOT_FOUND = 2009
    SERVER_ERROR = 3000
    NOT_POSSIBLE = 3001
    MESSAGE_REJECTED = 3002
    MULTIPLE_ADDRESSES_NOT_SUPPORTED = 3003
    APPLICATION_ADDRESSING_NOT_SUPPORTED = 3004
    GENERAL_SERVICE_ERROR = 4000
    IMPROPER_IDENTIFICATION = 4001
    UNSUPPORTED_VERSION = 4002
    UNSUPPORTED_OPERATION = 4003
    VALIDATION_ERROR = 4004
    SERVICE_ERROR = 4005
    SERVICE_UNAVAILABLE = 4006
    SERVICE_DENIED = 4007
    APPLICATION_DENIED = 4008


@dataclass(frozen=True)
class StatusInfo:
    code: int
    text: str  # English text of TS 23.140
    text_zh: str  # Chinese text (China Mobile manual §5.1 where it lists the code)
    release: int  # release that introduced the code (0 for unknown codes)
    zh_from_manual: bool = True

    @property
    def status_class(self) -> StatusClass:
        return classify(self.code)

    @property
    def is_success(self) -> bool:
        return self.status_class is StatusClass.SUCCESS

    @property
    def retryable(self) -> bool:
        return is_retryable(self.code)


def _info(code: int, text: str, zh: str, release: int = 5, manual: bool = True) -> StatusInfo:
    return StatusInfo(code, text, zh, release, manual)


_TABLE: dict[int, StatusInfo] = {
    s.code: s
    for s in (
        _info(1000, "Success", "成功"),
        _info(1100, "Partial success", "部分成功"),
        _info(2000, "Client error", "客户机错误"),
        _info(2001, "Operation restricted", "操作受限"),
        _info(2002, "Address Error", "地址错误"),
        _info(2003, "Address Not Found", "找不到地址"),
        _info(2004, "Multimedia content refused", "多媒体内容被拒绝"),
        _info(2005, "Message ID Not found", "找不到消息ID"),
        _info(2006, "LinkedID not found", "找不到链接ID"),
        _info(2007, "Message format corrupt", "消息格式破坏"),
        _info(2008, "Application ID not found", "找不到应用ID", 6, False),
        _info(2009, "Reply Application ID not found", "找不到回复应用ID", 6, False),
        _info(3000, "Server Error", "服务器错误"),
        _info(3001, "Not Possible", "不可接受"),
        _info(3002, "Message rejected", "消息被拒绝"),
        _info(3003, "Multiple addresses not supported", "不支持多个地址"),
        _info(3004, "Application Addressing not supported", "不支持应用寻址", 6, False),
        _info(4000, "General service error", "一般服务错误"),
        _info(4001, "Improper identification", "标识不正确"),
        _info(4002, "Unsupported version", "版本不支持"),
        _info(4003, "Unsupported operation", "操作不支持"),
        _info(4004, "Validation error", "验证错误"),
        _info(4005, "Service error", "服务错误"),
        _info(4006, "Service unavailable", "无法提供服务"),
        _info(4007, "Service denied", "服务被拒绝"),
        _info(4008, "Application denied", "应用被拒绝", 6, False),
    )
}
# China Mobile's manual and SDK number "partial success" 1001; read it as 1100.
ALIASES = {1001: 1100}
_GENERIC = {1: 1000, 2: 2000, 3: 3000, 4: 4000}


def classify(code: int) -> StatusClass:
    try:
        return StatusClass(int(code) // 1000)
    except ValueError:
        return StatusClass.UNKNOWN


def lookup(code: int) -> StatusInfo:
    """Texts and class of any status code; unknown codes get their class's generic texts."""
    code = int(code)
    known = _TABLE.get(ALIASES.get(code, code))
    if known:
        return known if known.code == code else StatusInfo(code, known.text, known.text_zh, 5)
    generic = _TABLE.get(_GENERIC.get(code // 1000, 0))
    if generic:
        return StatusInfo(code, generic.text, generic.text_zh, 0, False)
    return StatusInfo(code, "Unknown status", "未知状态", 0, False)


def all_codes() -> list[StatusInfo]:
    return list(_TABLE.values())


def is_success(code: int) -> bool:
    return classify(code) is StatusClass.SUCCESS


# Server errors that say the request can never succeed as sent: repeating it only spends the retry
# budget and delays the caller's own remedy (e.g. one recipient per SubmitReq after a 3003).
# 3002 "Message rejected" is not among them: its TS 23.140 text ("could not complete the services
# requested") names no lasting cause, so it stays retryable like 3000.
FINAL_SERVER_ERRORS: frozenset[int] = frozenset({
    RequestStatus.NOT_POSSIBLE, RequestStatus.MULTIPLE_ADDRESSES_NOT_SUPPORTED,
    RequestStatus.APPLICATION_ADDRESSING_NOT_SUPPORTED})


def is_retryable(code: int) -> bool:
    """Server errors and "service unavailable" may succeed later; client errors never will, nor the
    server errors in FINAL_SERVER_ERRORS."""
    code = int(code)
    if code in FINAL_SERVER_ERRORS:
        return False
    return classify(code) is StatusClass.SERVER_ERROR or code == RequestStatus.SERVICE_UNAVAILABLE


# Service errors (4xxx) that lay the fault with the request as sent: who sent it (4001 Improper
# identification, 4007 Service denied, 4008 Application denied) or what it is (4002 Unsupported
# version, 4003 Unsupported operation, 4004 Validation error). The others (4000 General service
# error, 4005 Service error: a failure while processing; 4006 Service unavailable; a carrier's
# private 4xxx, whose cause we cannot know) are the server's.
SENDERS_SERVICE_ERRORS: frozenset[int] = frozenset({
    RequestStatus.IMPROPER_IDENTIFICATION, RequestStatus.UNSUPPORTED_VERSION,
    RequestStatus.UNSUPPORTED_OPERATION, RequestStatus.VALIDATION_ERROR, RequestStatus.SERVICE_DENIED,
    RequestStatus.APPLICATION_DENIED})


def fault_code(code: int) -> str:
    """The SOAP 1.1 faultcode of a Fault carrying status `code`: "Client" where the request as
    sent is at fault (a 2xxx, or one of `SENDERS_SERVICE_ERRORS`), so that a peer reading the
    faultcode alone does not send it again unchanged; "Server" for the rest (3xxx, the other 4xxx,
    and a code of no error class). Every Fault mm7bind writes with an MM7 status takes its code from here."""
    code = int(code)
    if classify(code) is StatusClass.CLIENT_ERROR or code in SENDERS_SERVICE_ERRORS:
        return "Client"
    return "Server"


# ---------------------------------------------------------------------------------------------
# MMStatus (DeliveryReportReq) and ReadStatus (ReadReplyReq)


class DeliveryStatus(StrEnum):
    """MMStatus of a delivery report: every value any schema version defines."""

    EXPIRED = "Expired"
    RETRIEVED = "Retrieved"
    REJECTED = "Rejected"
    INDETERMINATE = "Indeterminate"
    FORWARDED = "Forwarded"
    UNRECOGNISED = "Unrecognised"  # Rel-6
    DEFERRED = "Deferred"  # Rel-6
    DELIVERY_CONDITION_NOT_MET = "DeliveryConditionNotMet"  # Rel-6


class ReadStatus(StrEnum):
    """MMStatus of a read-reply report."""

    INDETERMINATE = "Indeterminate"
    READ = "Read"
    DELETED = "Deleted"


class StatusExtension(StrEnum):
    """MMStatusExtension of a delivery report (REL-6-MM7-1-4)."""

    REJECTION_BY_MMS_RECIPIENT = "RejectionByMMSRecipient"
    REJECTION_BY_OTHER_RS = "RejectionByOtherRS"


def _enum_values(version: Version, element: str, child: str) -> tuple[str, ...]:
    from .binding import field_enum_values  # noqa: PLC0415 (keeps status importable without xsdata)

    return field_enum_values(version, element, child)


def delivery_statuses(version: Version | str) -> tuple[str, ...]:
    """MMStatus values a delivery report may carry in this version (read from its schema)."""
    return _enum_values(get(version), "DeliveryReportReq", "MMStatus")


def read_statuses(version: Version | str) -> tuple[str, ...]:
    """MMStatus values a read-reply report may carry in this version (read from its schema)."""
    return _enum_values(get(version), "ReadReplyReq", "MMStatus")
