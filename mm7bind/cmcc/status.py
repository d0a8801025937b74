"""China Mobile's status numbering (manual §5) and the API's own error codes (§7).

§5.2 MMStatus and §5.3 ReadStatus are small integers in the SDK; they map to and from the 3GPP
values here. The negative codes −100 … −113 are what the SDK returned from `send()` for its own
failures; `mm7bind.cmcc` raises them as exceptions with that `code`, in the same situations.
"""

from __future__ import annotations

from ..status import DeliveryStatus, ReadStatus, lookup


class MMStatus:
    """§5.2: delivery report MMStatus numbering."""

    EXPIRED, RETRIEVED, SYSTEM_REJECT, RECIPIENT_REJECT, INDETERMINATE, FORWARDED = 0, 1, 2, 3, 4, 5
    TEXTS = {0: ("过期", "expired"), 1: ("接收", "retrieved"), 2: ("系统拒绝", "system rejected"),
             3: ("用户拒绝", "recipient rejected"), 4: ("未知", "indeterminate"), 5: ("转发", "forwarded")}
    # The SDK's MMConstants.MMStatus.TEXT_* (its manual's texts, §5.2)
    TEXT_EXPIRED, TEXT_RETRIEVED, TEXT_SYSTEM_REJECT = "过期", "接收", "系统拒绝"
    TEXT_RECIPIENT_REJECT, TEXT_INDETERMINATE, TEXT_FORWARDED = "用户拒绝", "未知", "转发"

    @staticmethod
    def from_mm7(value, extension=None) -> int:
        """A 3GPP MMStatus (and Rel-6 extension) as the manual's number; unknown values are 4."""
        text = str(getattr(value, "value", value) or "").strip().lower()
        if text == "rejected" or text == "system rejected":
            ext = str(getattr(extension, "value", extension) or "").lower()
            return MMStatus.RECIPIENT_REJECT if ext == "rejectionbymmsrecipient" else MMStatus.SYSTEM_REJECT
        return {"expired": 0, "retrieved": 1, "recipient rejected": 3, "indeterminate": 4, "forwarded": 5}.get(text, 4)

    @staticmethod
    def to_mm7(code: int) -> tuple[DeliveryStatus, str | None]:
        """The 3GPP MMStatus (and MMStatusExtension for "recipient rejected") for a manual number
        (0–5, or its digits); another is a ValueError naming the numbers there are."""
        return _numbered(MMStatus, code, {
            0: (DeliveryStatus.EXPIRED, None), 1: (DeliveryStatus.RETRIEVED, None),
            2: (DeliveryStatus.REJECTED, None), 3: (DeliveryStatus.REJECTED, "RejectionByMMSRecipient"),
            4: (DeliveryStatus.INDETERMINATE, None), 5: (DeliveryStatus.FORWARDED, None),
        })


class ReadStatusCode:
    """§5.3: read-reply status numbering."""

    READ, DELETED, INDETERMINATE = 0, 1, 2
    TEXTS = {0: ("已读取", "read"), 1: ("未读被删", "deleted without being read"), 2: ("未知", "indeterminate")}
    TEXT_READ, TEXT_DELETED, TEXT_INDETERMINATE = "已读取", "未读被删", "未知"  # (the SDK's, §5.3)

    @staticmethod
    def from_mm7(value) -> int:
        text = str(getattr(value, "value", value) or "").strip().lower()
        return {"read": 0, "deleted": 1}.get(text, 2)

    @staticmethod
    def to_mm7(code: int) -> ReadStatus:
        """The 3GPP read status for a manual number (0–2, or its digits); another is a ValueError
        naming the numbers there are."""
        return _numbered(ReadStatusCode, code, {0: ReadStatus.READ, 1: ReadStatus.DELETED,
                                                2: ReadStatus.INDETERMINATE})


def _numbered(table: type, code: object, values: dict):
    """`values[code]` for a code given as an int or its digits ("3", as read from a file); anything
    else — a number the manual has not, 1.5, "read" — a ValueError saying the numbers there are
    (a bare KeyError or int()'s message said neither)."""
    try:
        number = int(code) if isinstance(code, (int, str)) and not isinstance(code, bool) else None
    except ValueError:
        number = None
    if number is None or number not in values:
        known = ", ".join(f"{n} ({table.TEXTS[n][1]})" for n in values)
        raise ValueError(f"{table.__name__} {code!r} is none of the manual's numbers: {known}")
    return values[number]


def status_text(code: int, lang: str = "zh") -> str:
    """The manual's text of a status code, Chinese or English: §5.1 for the MMSC's, §7 for the
    API's own negative ones (which `MM7RSErrorRes.status_code` holds as well); a code the manual
    does not list has mm7bind's translation (`lookup(code).zh_from_manual` is False)."""
    error = API_ERRORS.get(code) if code < 0 else None
    if error is not None:
        return error.text_zh if lang == "zh" else error.text_en
    info = lookup(code)
    return info.text_zh if lang == "zh" else info.text


# ---------------------------------------------------------------------------------------------
# §7: the API's own codes


class APIError(Exception):
    """An error of the API itself (not of the MMSC), with the manual's negative `code`.
    `may_have_arrived`: the request went out and no answer was read (a timeout, say), so the MMSC
    may have the message; `earlier_unanswered`: an attempt before the last got no answer
    (`mm7bind.arrival`)."""

    code = -100
    text_zh = "系统错误"
    text_en = "System error"
    # The StatusText SDK V1.5.3 gave the code, as its logs show it ([Comments={-102;接收失败！}]): the
    # manual's words (text_zh, the contract) but for their punctuation, and for −107 and −110 its own.
    # To −100 and −109 it appended 原因： and the Java exception, which is `detail` here.
    text_sdk = "系统错误！"
    may_have_arrived = False
    earlier_unanswered = False

    def __init__(self, detail: str = ""):
        self.detail = detail
        super().__init__(f"{self.code} {self.text_zh} ({self.text_en})" + (f": {detail}" if detail else ""))


def _error(name: str, code: int, zh: str, en: str, sdk: str) -> type[APIError]:
    return type(name, (APIError,), {"code": code, "text_zh": zh, "text_en": en, "text_sdk": sdk,
                                    "__doc__": f"{code}: {en}."})


SystemError_ = _error("SystemError_", -100, "系统错误", "System error", "系统错误！")
SendTimeout = _error("SendTimeout", -101, "超时发送失败", "Send failed: timeout", "超时发送失败！")
ReceiveFailed = _error("ReceiveFailed", -102, "接收失败", "Receive failed", "接收失败！")
# Never raised: V1.5.3 could not reach its own -103 (a failed write, then a re-send bringing nothing),
# and a failed write cannot be told from a failed read here either (both are -102). Kept for the table.
NoCorrectMessage = _error("NoCorrectMessage", -103, "没有返回正确的消息", "No correct message returned", "没有返回正确的消息")
SocketUnreachable = _error("SocketUnreachable", -104, "Socket不通", "Socket unreachable", "Socket不通！")
EmptyMessage = _error("EmptyMessage", -105, "待发送的消息为空", "The message to send is empty", "待发送的消息为空!")
# (the SDK's words for a request that is no Submit, Cancel or Replace, its only -106)
WrongMessage = _error("WrongMessage", -106, "发送消息不正确", "Wrong message to send",
                      "没有匹配的消息，请确认要发送的消息是否正确！")
EmptyResponse = _error("EmptyResponse", -107, "接收消息为空", "The received message is empty", "错误！接收到的消息为空！")
# (the SDK meant to give the HTTP status line's text, but looked for "HTTP1.1": always "Bad Request")
BadRequest = _error("BadRequest", -108, "Bad Request", "Bad Request (no XML in the answer)", "Bad Request")
XMLParseError = _error("XMLParseError", -109, "XML解析错误", "XML parse error", "XML解析错误！")
ServerFault = _error("ServerFault", -110, "Server Could not fulfill the request", "The answer is a SOAP Fault",
                     "Server could not fulfill the request")
ServerError = _error("ServerError", -111, "Server error", "The answer is not the response to this request",
                     "Server error")
# V1.5.3 kept its -101 to itself: a read that timed out ReSendCount times reached the application as
# -102, like every other failure to receive an answer. A subclass, so it can still be told apart; of
# SendTimeout too, so a port written to the manual's -101 catches its timeouts with `except SendTimeout`.
# (Annotated: type checkers do not take what type() makes for a class, and would refuse it in except.)
ReadTimeout: type[APIError] = type("ReadTimeout", (ReceiveFailed, SendTimeout), {
    "text_en": "Receive failed: no answer in time", "__doc__": "-102: no answer within TimeOut."})
MessageTooLarge = _error("MessageTooLarge", -113, "消息内容的尺寸超出允许发送的大小",
                         "The message is larger than allowed", "消息内容的尺寸超出允许发送的大小！")

API_ERRORS = {cls.code: cls for cls in (SystemError_, SendTimeout, ReceiveFailed, NoCorrectMessage, SocketUnreachable,
                                        EmptyMessage, WrongMessage, EmptyResponse, BadRequest, XMLParseError,
                                        ServerFault, ServerError, MessageTooLarge)}
