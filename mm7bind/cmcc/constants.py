"""MMConstants of China Mobile's MM7 API, with the manual's numbering (manual §4.2.2, §8).

Where the SDK's constants contradict its own manual and encoder, the wire meaning wins:
ChargedParty is 0 Sender, 1 Recipient, 2 Both, 3 Neither, 4 ThirdParty (the SDK's constant class says
NONE=0, SENDER=1, ...), and "Advertisement" has no trailing space.
"""

from __future__ import annotations

from typing import Self

from .. import __version__
from ..messages import ChargedParty as _CP
from ..messages import MessageClass as _MC
from ..messages import Priority as _P
from ..profiles import CMCC_SDK_API_VERSION
from ..status import RequestStatus as _RS
from ..status import lookup as _lookup
from .status import MMStatus, ReadStatusCode

# What `mm7bind version` prints; the cmcc dialect sends it in the MM7APIVersion header.
API_VERSION = f"mm7bind-{__version__}"
SDK_API_VERSION = CMCC_SDK_API_VERSION  # what the original SDK sends (the cmcc-sdk dialect too)


class MMContentType(str):
    """The SDK's MMContentType: a content type, "image/gif" or "text/plain;charset=GB2312", here a
    string (anywhere a content type is taken, a plain string does as well) with the SDK's getters:
    `primary_type`, `sub_type`, `get_parameter(name)`, `parameter_list`. Immutable, as the SDK's
    were once `lock()`ed (its setParameter: a new one, written with the parameter). Unlike the SDK,
    which dropped the parameters, a `charset=` is honoured (an SP writing one means it)."""

    def __new__(cls, value: str) -> Self:
        return super().__new__(cls, str(value).strip())

    @property
    def primary_type(self) -> str:
        return self.split(";", 1)[0].partition("/")[0].strip().lower()

    @property
    def sub_type(self) -> str:
        return self.split(";", 1)[0].partition("/")[2].strip().lower()

    @property
    def parameter_list(self) -> dict[str, str]:
        out = {}
        for item in self.split(";")[1:]:
            key, _, value = item.partition("=")
            if key.strip():
                out[key.strip().lower()] = value.strip().strip('"')
        return out

    def get_parameter(self, name: str) -> str | None:
        return self.parameter_list.get(name.strip().lower())


class ContentType:
    TEXT = MMContentType("text/plain")
    XML = MMContentType("text/xml")
    SMIL = MMContentType("application/smil")
    AMR = MMContentType("audio/amr")
    MIDI = MMContentType("audio/midi")
    I_MELODY = MMContentType("text/i-melody")
    E_MELODY = MMContentType("text/e-melody")
    GIF = MMContentType("image/gif")
    JPEG = MMContentType("image/jpeg")
    WBMP = MMContentType("image/vnd.wap.wbmp")
    PNG = MMContentType("image/png")
    MULTIPART_RELATED = MMContentType("multipart/related")  # with SMIL
    MULTIPART_MIXED = MMContentType("multipart/mixed")  # without SMIL
    WAP_MULTIPART_MIXED = MMContentType("application/vnd.wap.multipart.mixed")
    WAP_MULTIPART_RELATED = MMContentType("application/vnd.wap.multipart.related")


class Priority:
    """Manual: 0 lowest, 1 normal, 2 urgent."""

    LOW, NORMAL, HIGH = 0, 1, 2
    TO_MM7 = {0: _P.LOW, 1: _P.NORMAL, 2: _P.HIGH}
    FROM_MM7 = {v: k for k, v in TO_MM7.items()}


class MessageClass:
    PERSONAL = "Personal"
    INFORMATIONAL = "Informational"
    ADVERTISEMENT = "Advertisement"  # the SDK's constant had a trailing space, which no schema accepts
    AUTO = "Auto"
    TO_MM7 = {v: _MC(v) for v in ("Personal", "Informational", "Advertisement", "Auto")}


class ChargedParty:
    """The manual's and the encoder's numbering (what goes on the wire).

    The SDK's own constant names are here too, meaning what they say: RECEIVER is the recipient and
    NONE is neither (in the SDK they were 2 and 0, which its encoder sent as Both and Sender).
    """

    SENDER, RECIPIENT, BOTH, NEITHER, THIRD_PARTY = 0, 1, 2, 3, 4
    RECEIVER, NONE = RECIPIENT, NEITHER
    TO_MM7 = {0: _CP.SENDER, 1: _CP.RECIPIENT, 2: _CP.BOTH, 3: _CP.NEITHER, 4: _CP.THIRD_PARTY}
    FROM_MM7 = {v: k for k, v in TO_MM7.items()}


class RequestStatus:
    """§5.1 status codes; PARTIAL_SUCCESS is the manual's 1001 (3GPP: 1100)."""

    SUCCESS = 1000
    PARTIAL_SUCCESS = 1001
    CLIENT_ERROR = _RS.CLIENT_ERROR
    OPERATION_RESTRICTED = _RS.OPERATION_RESTRICTED
    ADDRESS_ERROR = _RS.ADDRESS_ERROR
    ADDRESS_NOTFOUND = _RS.ADDRESS_NOT_FOUND
    CONTENT_REFUSED = _RS.MULTIMEDIA_CONTENT_REFUSED
    MESSAGEID_NOTFOUND = _RS.MESSAGE_ID_NOT_FOUND
    LINKEDID_NOTFOUND = _RS.LINKED_ID_NOT_FOUND
    MESSAGE_FORMAT_CORRUPT = _RS.MESSAGE_FORMAT_CORRUPT
    SERVER_ERROR = _RS.SERVER_ERROR
    NOT_POSSIBLE = _RS.NOT_POSSIBLE
    MESSAGE_REJECTED = _RS.MESSAGE_REJECTED
    MULTIADDRESS_NOTSUPPORT = _RS.MULTIPLE_ADDRESSES_NOT_SUPPORTED
    GENERAL_SERVICE_ERROR = _RS.GENERAL_SERVICE_ERROR
    IMPROPER_ID = _RS.IMPROPER_IDENTIFICATION
    UNSUPPORT_VERSION = _RS.UNSUPPORTED_VERSION
    UNSUPPORT_OPERATION = _RS.UNSUPPORTED_OPERATION
    VALIDATION_ERROR = _RS.VALIDATION_ERROR
    SERVICE_ERROR = _RS.SERVICE_ERROR
    SERVICE_UNAVAILABLE = _RS.SERVICE_UNAVAILABLE
    SERVICE_DENIED = _RS.SERVICE_DENIED


# The SDK's TEXT_* constants: the manual's Chinese text of each code (TEXT_SUCCESS = "成功", ...).
for _name, _code in list(vars(RequestStatus).items()):
    if _name.isupper():
        setattr(RequestStatus, f"TEXT_{_name}", _lookup(int(_code)).text_zh)


class Charset:
    US_ASCII = "US-ASCII"
    ISO_8859_1 = "ISO-8859-1"
    ISO_8859_2 = "ISO-8859-2"
    ISO_10646_UCS_2 = "ISO-10646-UCS-2"
    UTF_8 = "UTF-8"
    GBK = "GBK"
    GB2312 = "GB2312"
    # The SDK's own names for them, so that code ported as written finds them
    ISO8859_1, ISO8859_2, ISO10646_UCS_2, UTF8 = ISO_8859_1, ISO_8859_2, ISO_10646_UCS_2, UTF_8


class MMConstants:
    """The SDK's MMConstants under its own name, so code ported as written reads the same
    (`MMConstants.RequestStatus.SUCCESS`, `MMConstants.ContentType.GIF`, as the manual's samples)."""

    ContentType, Priority, MessageClass, ChargedParty, RequestStatus, Charset = (
        ContentType, Priority, MessageClass, ChargedParty, RequestStatus, Charset)
    MMStatus, ReadStatus = MMStatus, ReadStatusCode
    # Its plain constants: the names of MM7 elements and HTTP headers and parameters its own code read
    # and wrote (an SP's code may compare with them), and its read buffer's size.
    ARRAYLIMIT = 256
    CONTENT_LENGTH, CONTENT_TYPE, CHARSET = "content-length", "content-type", "charset"
    CONTENT_ID, BOUNDARY, CONNECTION = "content-id", "boundary", "connection"
    BEGINXMLFLAG, ENDXMLFLAG, HTTP = "<?xml", "env:Envelope>", "http://"
    SUBMITREQ, CANCELREQ, REPLACEREQ = "SubmitReq", "CancelReq", "ReplaceReq"
    DELIVERREQ, DELIVERYREPORTREQ, READREPLYREQ = "DeliverReq", "DeliveryReportReq", "ReadReplyReq"
    STATUS, STATUSCODE, STATUSTEXT, STATUSDETAIL = "Status", "StatusCode", "StatusText", "Details"
    MESSAGEID, AUTHENTICATION, AUTHORIZATION = "MessageID", "WWW-Authenticate", "Authorization"
    REALM, NONCE, ALGORITHM, QOP, OPAQUE = "realm", "nonce", "algorithm", "qop", "opaque"
    DIGEST, BASIC = "Digest", "Basic"
