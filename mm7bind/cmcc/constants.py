"""MMConstants of China Mobile's MM7 API, with the manual's numbering (manual §4.2.2, §8).

Where the SDK's constants contradict its own manual and encoder, the wire meaning wins:
ChargedParty is 0 Sender, 1 Recipient, 2 Both, 3 Neither, 4 ThirdParty (the SDK's constant class says
NONE=0, SENDER=1, ...), and "Advertisement" has no trailing space.
"""

from __future__ import annotations

import re

from .. import __version__
from ..messages import ChargedParty as _CP
from ..mime import parse_params
from ..messages import MessageClass as _MC
from ..messages import Priority as _P
from ..profiles import CMCC_SDK_API_VERSION
from ..status import RequestStatus as _RS
from ..status import lookup as _lookup
from .status import MMStatus, ReadStatusCode

# What `mm7bind version` prints; the cmcc dialect sends it in the MM7APIVersion header.
API_VERSION = f"mm7bind-{__version__}"
SDK_API_VERSION = CMCC_SDK_API_VERSION  # what the original SDK sends (the cmcc-sdk dialect too)


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class MMContentType:
    """The SDK's MMContentType: a content type, "image/gif" or "text/plain;charset=GB2312", with its
    getters and setters — `primary_type`, `sub_type` (both settable), `get_parameter(name)`,
    `set_parameter(name, value)` (None removes it), `parameter_list`, `lock()`, `is_locked`,
    `match(other)` — and its string as `str(ct)`. It equals the string of the same type (`ct ==
    "image/gif"`, names compared without regard to case, as MIME has them), so a plain string does
    wherever a content type goes. The `ContentType` constants are locked: setting on one is a
    TypeError (the SDK's lock() locked nothing, and a parameter set on a constant went with every
    part of that type); an `MMContent` given one holds a copy of its own, which takes setters.
    Unlike the SDK, which dropped the parameters it was written with, a `charset=` is honoured (an
    SP writing one means it)."""

    __slots__ = ("_primary", "_sub", "_params", "_locked")
    __hash__ = None  # type: ignore[assignment]  # (changeable: no dictionary key)

    def __init__(self, value: str | MMContentType = ""):
        self._locked = False
        self._params: dict[str, str] = {}
        text = str(value).strip()
        self._primary, _, self._sub = (s.strip() for s in text.split(";", 1)[0].partition("/"))
        if ";" in text:  # (quoted values, escapes, RFC 2231: as MIME reads them)
            self._params = parse_params(text)[1]

    def __getattr__(self, name: str):
        # ct.getPrimaryType(), as ported Java calls it, said as the Python name (a bare
        # AttributeError otherwise: the messages and MMContent say theirs)
        if name.startswith("_"):
            raise AttributeError(name)
        from .api import java_name_hint  # noqa: PLC0415

        hint = " (read the field: .is_locked)" if name.lower() == "islock" else java_name_hint(self, name)
        raise AttributeError(f"{type(self).__name__} has no {name}{hint}")

    def _check(self) -> None:
        if self._locked:
            raise TypeError(f"{self} is locked (a ContentType constant is shared): change a copy, "
                            f"MMContentType({str(self)!r})")

    @property
    def primary_type(self) -> str:
        return self._primary.lower()

    @primary_type.setter
    def primary_type(self, value: str) -> None:
        self._check()
        self._primary = str(value).strip()

    @property
    def sub_type(self) -> str:
        return self._sub.lower()

    @sub_type.setter
    def sub_type(self, value: str) -> None:
        self._check()
        self._sub = str(value).strip()

    @property
    def parameter_list(self) -> dict[str, str]:
        """The parameters (names in lower case): a copy, set them with `set_parameter`."""
        return dict(self._params)

    def get_parameter(self, name: str) -> str | None:
        return self._params.get(name.strip().lower())

    def set_parameter(self, name: str, value: str | None) -> None:
        self._check()
        if value is None:
            self._params.pop(name.strip().lower(), None)
        else:
            self._params[name.strip().lower()] = str(value)

    def lock(self) -> MMContentType:
        """No setter works on it afterwards (the SDK's lock(), which did not stop them)."""
        self._locked = True
        return self

    @property
    def is_locked(self) -> bool:
        return self._locked

    def match(self, other: str | MMContentType) -> bool:
        """Whether `other` is the same type and subtype, parameters aside (the SDK's match()
        compared the other's primary type with its own subtype)."""
        other = other if isinstance(other, MMContentType) else MMContentType(other)
        return (self.primary_type, self.sub_type) == (other.primary_type, other.sub_type)

    def copy(self) -> MMContentType:
        """An unlocked copy."""
        return MMContentType(self)

    def _key(self) -> tuple:
        return self.primary_type, self.sub_type, sorted(self._params.items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = MMContentType(other)
        if not isinstance(other, MMContentType):
            return NotImplemented
        return self._key() == other._key()

    def __str__(self) -> str:
        if not self._primary and not self._sub:
            return ""
        head = f"{self._primary}/{self._sub}" if self._sub else self._primary  # (no "/": refused when sent)
        return head + "".join(f'; {k}="{_escaped(v)}"' if re.search(r'[\s;,"()<>@:/\[\]?=\\]', v) else f"; {k}={v}"
                              for k, v in self._params.items())

    def __bool__(self) -> bool:
        return bool(self._primary or self._sub)

    def __repr__(self) -> str:
        return f"MMContentType({str(self)!r})"


class ContentType:
    TEXT = MMContentType("text/plain").lock()
    XML = MMContentType("text/xml").lock()
    SMIL = MMContentType("application/smil").lock()
    AMR = MMContentType("audio/amr").lock()
    MIDI = MMContentType("audio/midi").lock()
    I_MELODY = MMContentType("text/i-melody").lock()
    E_MELODY = MMContentType("text/e-melody").lock()
    GIF = MMContentType("image/gif").lock()
    JPEG = MMContentType("image/jpeg").lock()
    WBMP = MMContentType("image/vnd.wap.wbmp").lock()
    PNG = MMContentType("image/png").lock()
    MULTIPART_RELATED = MMContentType("multipart/related").lock()  # with SMIL
    MULTIPART_MIXED = MMContentType("multipart/mixed").lock()  # without SMIL
    WAP_MULTIPART_MIXED = MMContentType("application/vnd.wap.multipart.mixed").lock()
    WAP_MULTIPART_RELATED = MMContentType("application/vnd.wap.multipart.related").lock()


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
