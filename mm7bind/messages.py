"""The public, version-neutral MM7 messages.

One class per MM7 body element, holding the union of what every schema version allows. Each
field names the XML element (or ``@attribute``) it maps to, as a path from the message element;
`mm7bind.binding` uses those paths to fill the generated classes of whichever version is on the
wire, and refuses (or drops, if asked) fields that version does not have.

Times are `datetime` (absolute) or `timedelta` / ISO-8601 duration strings (relative, where the
schema allows both). Enumerated values are `StrEnum` members; a value a peer invented arrives as a
plain string, with a deviation recorded by the decoder.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from . import freecontent
from .content import Content
from .hints import suggest_keywords
from .status import DeliveryStatus, ReadStatus, StatusExtension, StatusInfo, lookup
from .xmlsafe import NOT_IN_XML, invalid_xml_char

__all__ = [
    "Address",
    "AddressKind",
    "AddressCoding",
    "address_problem",
    "written_address",
    "written_kind",
    "ChargedParty",
    "ContentClass",
    "ContentRef",
    "DeliveryStatus",
    "ForwardTime",
    "MessageClass",
    "Message",
    "Priority",
    "ReadStatus",
    "Recipients",
    "ReplyCharging",
    "Status",
    "StatusExtension",
    "UACapabilities",
    "UserAgent",
    "VendorElement",
    "Number",
    "RFC2822Address",
    "ShortCode",
    "MESSAGE_TYPES",
    "message_class",
    *[
        "SubmitReq", "SubmitRsp", "DeliverReq", "DeliverRsp", "CancelReq", "CancelRsp",
        "ReplaceReq", "ReplaceRsp", "ExtendedCancelReq", "ExtendedCancelRsp", "ExtendedReplaceReq",
        "ExtendedReplaceRsp", "DeliveryReportReq", "DeliveryReportRsp", "ReadReplyReq",
        "ReadReplyRsp", "RSErrorRsp", "VASPErrorRsp",
    ],
]  # fmt: skip

When = datetime | timedelta | str  # relative-or-absolute date: an xs:dateTime or xs:duration


def xml(path: str, default: Any = None, *, factory: Any = None, optional_in_schema: bool = False,
        attributes: str | None = None) -> Any:
    """A field mapped to the XML element/attribute at `path` (``A/B``, ``@attr``, ``text()``, ``""``).

    `optional_in_schema`: left out where the target type has no such child instead of being
    refused by the generic walk (StatusText in the code-only Status of the extended responses,
    where the encoder refuses only a text other than the code's own).
    `attributes`: the field holding the attributes the element takes beyond its declared ones
    (``xs:anyAttribute``: ServiceCode's), as ``{"{namespace}name": value}``.
    """
    md = {"xml": path, "optional_in_schema": optional_in_schema, "attributes": attributes}
    if factory is not None:
        return field(default_factory=factory, metadata=md)
    return field(default=default, metadata=md)


# ---------------------------------------------------------------------------------------------
# Enumerations


class MessageClass(StrEnum):
    """MessageClass: what kind of message a SubmitReq is."""

    PERSONAL = "Personal"
    INFORMATIONAL = "Informational"
    ADVERTISEMENT = "Advertisement"
    AUTO = "Auto"


class Priority(StrEnum):
    """Priority of a message (the recipient's MMSC may heed it)."""

    LOW = "Low"
    NORMAL = "Normal"
    HIGH = "High"


class ChargedParty(StrEnum):
    """ChargedParty: who pays for a submitted message (THIRD_PARTY: Rel-6 only)."""

    SENDER = "Sender"
    RECIPIENT = "Recipient"
    BOTH = "Both"
    NEITHER = "Neither"
    THIRD_PARTY = "ThirdParty"  # Rel-6


class ContentClass(StrEnum):
    """ContentClass of a SubmitReq or ReplaceReq: the content class (TS 23.140) it needs of the handset."""

    TEXT = "text"
    IMAGE_BASIC = "image-basic"
    IMAGE_RICH = "image-rich"
    VIDEO_BASIC = "video-basic"
    VIDEO_RICH = "video-rich"
    MEGAPIXEL = "megapixel"
    CONTENT_BASIC = "content-basic"
    CONTENT_RICH = "content-rich"


class AddressCoding(StrEnum):
    ENCRYPTED = "encrypted"
    OBFUSCATED = "obfuscated"


class AddressKind(StrEnum):
    """The three address forms; the value is the element name on the wire."""

    NUMBER = "Number"
    RFC2822 = "RFC2822Address"
    SHORT_CODE = "ShortCode"


# ---------------------------------------------------------------------------------------------
# Building blocks


@dataclass
class Address:
    """One address: an MSISDN (`Number`), an e-mail style address, or a short code."""

    value: str
    kind: AddressKind = AddressKind.NUMBER
    display_only: bool = False
    address_coding: AddressCoding | str | None = None  # Rel-6
    id: str | None = None  # Rel-6

    @classmethod
    def parse(cls, text: str | Address) -> Address:
        """``"a@b.c"`` → RFC 2822 address, anything else → number."""
        if isinstance(text, Address):
            return text
        if not isinstance(text, str):
            raise TypeError(f"an address must be a str or Address, not {type(text).__name__}")
        text = trimmed_address(text)
        return cls(text, AddressKind.RFC2822 if "@" in text else AddressKind.NUMBER)

    @property
    def msisdn(self) -> str:
        """The number without a ``/TYPE=PLMN`` suffix (Nokia MMSCs add it)."""
        return self.value.split("/TYPE=", 1)[0]

    def __str__(self) -> str:
        return self.value


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: no MMSC takes them in an
# address (a NUL ends it early, a line break splits it), and a log line that shows one is split.
_NOT_IN_ADDRESS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# The white space around an address taken off as it is read from a person (a line's end, a cell's
# padding, an ideographic space): all Python strips but the controls `_NOT_IN_ADDRESS` refuses
# (tab, CR and LF aside). An address ending in U+001F or U+2028 is a corrupt one, refused by its
# name when sent, not quietly made another.
ADDRESS_EDGE_SPACE = " \t\n\r\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
                      "\u202f\u205f\u3000"


def trimmed_address(text: str) -> str:
    """`text` without the white space around it, its control characters kept (`address_problem`)."""
    return text.strip(ADDRESS_EDGE_SPACE)


def address_problem(value: str) -> str | None:
    """Why `value` cannot be sent as an address (the character, as U+XXXX), or None when it can.
    Only what we send is checked: an address a peer sent is read and kept as it came."""
    bad = _NOT_IN_ADDRESS.search(value)
    if bad is not None:
        return f"holds a control character (U+{ord(bad.group()):04X})"
    other = invalid_xml_char(value)  # (a surrogate, U+FFFE, U+FFFF)
    return None if other is None else f"holds a character XML cannot carry (U+{ord(other):04X})"


def address_fields(msg: Any) -> Iterable[tuple[str, str]]:
    """The addresses of a message as (the name its user knows it by, its text): ``sender_address``,
    ``to[2]`` (counted from 1, as the send API counts), ``previously_sent_by[1]``; so that a
    problem with one is told by that name, not by its place in the XML."""
    return _address_walk(msg, True)


def address_texts(msg: Any) -> list[str]:
    """The texts of `address_fields` alone: what a check of every message looks at first, the
    names made only for one it refuses."""
    return _address_walk(msg, False)


def _address_walk(msg: Any, named: bool) -> list:
    out: list = []
    for name in _address_field_names(type(msg)):
        value = getattr(msg, name)
        if isinstance(value, Address) or (isinstance(value, str) and name in _ADDRESS_FIELDS):
            _add_text(out, named and name, value)
        elif isinstance(value, Recipients):
            for kind in ("to", "cc", "bcc"):
                for i, address in enumerate(getattr(value, kind), 1):
                    _add_text(out, named and f"{kind}[{i}]", address)
        elif name == "previously_sent_by" and isinstance(value, list):
            for i, agent in enumerate(value, 1):
                if isinstance(agent, UserAgent):
                    _add_text(out, named and f"{name}[{i}]", agent.address)
    return out


def _add_text(out: list, name: str | bool, address: Any) -> None:
    """(name, text) to `out`, or the text alone when `name` is False."""
    text = address.value if isinstance(address, Address) else address
    if isinstance(text, str):
        out.append((name, text) if name is not False else text)


# Every character `address_problem` or `invalid_xml_char` refuses, in one class: the addresses of
# most messages are told fine in one search of them all (`sendable_addresses`).
_NOT_SENDABLE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029{NOT_IN_XML}]")


def sendable_addresses(msg: Any) -> bool:
    """True when no address of `msg` holds a character `address_problem` refuses (nor, so, one
    `invalid_xml_char` finds); False when one may: `address_fields` then tells which."""
    texts = address_texts(msg)
    return not texts or _NOT_SENDABLE.search("".join(texts)) is None


_ADDRESS_FIELDS = frozenset({"sender_address", "sender", "recipient"})  # (an address given as text)


def _address_field_names(cls: type) -> tuple[str, ...]:
    """The fields of a message class that may hold an address (by their declared type, or their
    name for text): walked at every encode, twice, the others (most of them) not looked at."""
    names = _ADDRESS_FIELD_NAMES.get(cls)
    if names is None:
        names = _ADDRESS_FIELD_NAMES[cls] = tuple(
            f.name for f in dataclasses.fields(cls)
            if f.name in _ADDRESS_FIELDS or f.name == "previously_sent_by"
            or any(word in str(f.type) for word in ("Address", "Recipients", "UserAgent")))
    return names


_ADDRESS_FIELD_NAMES: dict[type, tuple[str, ...]] = {}

_KINDS = {k.value.lower(): k for k in AddressKind}  # (the element names, in any case)
# A number as people write it: digits with spaces, dashes, dots or brackets between ("+86 138-0000-0001",
# "(+86) 138 0000 0001", "138.0000.0001"), "tel:" before, "/TYPE=PLMN" after.
_WRITTEN_NUMBER = re.compile(r"(?:tel:)?(?:\(\+|[+(])?[\d\s().\-]*\d[\d\s().\-]*(?:/TYPE=\w+)?", re.IGNORECASE)
_NUMBER_SPACING = re.compile(r"[\s().\-]")


def written_address(text: str, *, recipient: bool = True) -> Address | str:
    """An address as a person writes one to send to or from (`mm7bind send --to` and `--from`, a
    recipient file, the send API's to, cc, bcc and sender_address): "Number:", "ShortCode:" or
    "RFC2822Address:" before it (in any case) sends it as that kind, as it is (an `Address`); else
    it is kept as written, for `Address.parse` — one with an "@" an RFC2822Address, one with a
    digit a Number. One with neither ("abc", a name, a column's header) is no phone number, short
    code or e-mail address: as a `recipient` it went out as a Number nobody has, and is a
    ValueError saying how to send it all the same; a sender (`recipient=False`) is kept (an MMSC
    may show a name, or put its own in). A recipient's number goes without its spacing (spaces,
    dashes, dots, brackets): "+86 138-0000-0001" is sent as "+8613800000001" (as written, an
    MMSC refuses it as no address: every recipient of a list exported so was refused), and one
    written in full-width characters ("＋８６ １３８...") in ASCII."""
    text = trimmed_address(text)
    kind = written_kind(text)
    if kind is not None:
        rest = trimmed_address(text.partition(":")[2])
        if not rest.strip():
            raise ValueError(f"{text!r} names the kind {kind.value} and no address after it")
        return Address(rest, kind)
    if recipient and "@" not in text and not any(ch.isdigit() for ch in text):
        raise ValueError(f"{text!r} is no phone number, short code or e-mail address (it has neither a digit nor an "
                         f"@): to send it as it is, write its kind before it, \"Number:{text}\" (or ShortCode:, "
                         "RFC2822Address:)")
    if recipient and not text.isascii():
        # Full-width digits, "＋", "－", "（）" and the ideographic space, as a Chinese input method
        # types them in a spreadsheet: they went out so (no MMSC reads "１３８..." as a number), and
        # were another recipient than the same number in ASCII digits.
        plain = unicodedata.normalize("NFKC", text)
        if plain.isascii() and _WRITTEN_NUMBER.fullmatch(plain):
            text = plain
    if recipient and _NUMBER_SPACING.search(text) and _WRITTEN_NUMBER.fullmatch(text) \
            and sum(ch.isdigit() for ch in text) >= 5:  # ("1.5": as it is)
        return _NUMBER_SPACING.sub("", text)
    return text


def written_kind(text: str) -> AddressKind | None:
    """The kind an address written with one before it names ("ShortCode:1065888"), else None."""
    head, colon, _ = text.partition(":")
    return _KINDS.get(head.strip().lower()) if colon else None


def Number(value: str, **kw: Any) -> Address:  # noqa: N802 (reads like the element)
    """An MSISDN ("+8613800138000"); `kw`: `display_only`, `address_coding`, `id` (Rel-6)."""
    return Address(value, AddressKind.NUMBER, **kw)


def RFC2822Address(value: str, **kw: Any) -> Address:  # noqa: N802
    """An e-mail style address ("someone@example.com"); `kw` as `Number`'s."""
    return Address(value, AddressKind.RFC2822, **kw)


def ShortCode(value: str, **kw: Any) -> Address:  # noqa: N802
    """A short code, a service's number ("1065888"); `kw` as `Number`'s."""
    return Address(value, AddressKind.SHORT_CODE, **kw)


def _addresses(items: Any) -> list[Address]:
    if items is None:
        return []
    if isinstance(items, (str, Address)):
        items = [items]
    return [Address.parse(a) for a in items]


Addresses = Iterable[Address | str] | Address | str | None  # what Recipients takes for each list


@dataclass(init=False)
class Recipients:
    """To, Cc and Bcc lists; plain strings are accepted and parsed with `Address.parse`."""

    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)

    # Written out: it takes more than the lists hold (strings, a single address), which a generated
    # __init__ would not tell a type checker.
    def __init__(self, to: Addresses = None, cc: Addresses = None, bcc: Addresses = None) -> None:
        self.to, self.cc, self.bcc = _addresses(to), _addresses(cc), _addresses(bcc)

    def __len__(self) -> int:
        return len(self.to) + len(self.cc) + len(self.bcc)

    def __iter__(self):
        """All addresses, To first."""
        return iter([*self.to, *self.cc, *self.bcc])


def _recipients(value: Any) -> Recipients | None:
    if value is None or isinstance(value, Recipients):
        return value
    return Recipients(to=value)


@dataclass
class ContentRef:
    """The `Content` element: where the multimedia content is, and whether it may be adapted."""

    href: str = xml("@href")
    allow_adaptations: bool = xml("@allowAdaptations", True)


@dataclass
class ReplyCharging:
    """Reply charging requested: the sender pays the recipient's reply up to a size/deadline."""

    size: int | None = xml("@replyChargingSize")
    deadline: When | None = xml("@replyDeadline")


@dataclass
class UACapabilities:
    """UACapabilities (DeliverReq, DeliveryReportReq): the handset's UAProf URL and its time stamp."""

    uaprof: str | None = xml("@UAProf")
    time_stamp: When | None = xml("@TimeStamp")


@dataclass
class UserAgent:
    """One earlier forwarder of a delivered message (Previouslysentby/UserAgent)."""

    address: Address = xml("")
    sequence: int | None = xml("@sequence")


@dataclass
class ForwardTime:
    """When an earlier forwarder sent it (Previouslysentdateandtime/DateTime)."""

    when: When = xml("text()")
    sequence: int | None = xml("@sequence")


@dataclass
class Status:
    """Status of a response. `text` defaults to the standard English text of the code.

    Details may hold elements as well as text (vendors put structured detail there): `details` is
    its text; `details_xml` its content as XML when it holds elements (each element declaring the
    namespaces it uses; prefixes, comments and processing instructions are not kept), written in
    place of `details` while `details` is its text; `details_attributes` the attributes of Details
    itself (``{"{namespace}name": value}``).
    """

    code: int = xml("StatusCode", 1000)
    text: str | None = xml("StatusText", optional_in_schema=True)
    details: str | None = xml("Details", optional_in_schema=True)
    details_xml: str | None = None
    details_attributes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # int() takes a bool (Status(True) went out as code 1) and cuts a fraction off (2000.5 as
        # 2000): both are a mistake, not a status code.
        if isinstance(self.code, bool):
            raise TypeError(f"Status: code {self.code!r} is a bool, not a status code")
        if isinstance(self.code, float) and not self.code.is_integer():
            raise ValueError(f"Status: code {self.code!r} is not a whole number")
        self.code = int(self.code)
        if self.text is None:
            self.text = lookup(self.code).text
        if self.details_xml is not None:  # kept in the form it is read in, so that equal content compares equal
            text, self.details_xml = freecontent.canonical(self.details_xml, "Status.details_xml")
            if self.details is None:
                self.details = text
            elif self.details != text:
                raise ValueError(f"Status: details {self.details!r} is not the text of details_xml ({text!r})")

    @property
    def is_success(self) -> bool:
        """Whether the code says success (1xxx)."""
        return lookup(self.code).is_success

    @property
    def info(self) -> StatusInfo:
        """What is known of the code (`status.lookup`): its texts, class, whether it is retryable."""
        return lookup(self.code)


@dataclass
class VendorElement:
    """An element a peer sent that the schema does not define; kept, never re-sent. (An attribute
    an official file's attribute wildcard takes: `name` is ``@`` and its local name, `text` its
    value, `xml` it as written, ``p:name="value"`` with its namespace's declaration.)"""

    path: str
    name: str
    namespace: str | None
    text: str | None
    xml: str


# ---------------------------------------------------------------------------------------------
# Messages


@dataclass(kw_only=True)
class Message:
    """Base of all MM7 body elements. `mm7_version` None means the target version's default."""

    ELEMENT: ClassVar[str] = ""
    DIRECTION: ClassVar[str] = ""  # "vasp->rs" or "rs->vasp"
    IS_REQUEST: ClassVar[bool] = False

    mm7_version: str | None = xml("MM7Version")
    extras: list[VendorElement] = field(default_factory=list, repr=False)

    @property
    def kind(self) -> str:
        return self.ELEMENT


@dataclass(kw_only=True)
class _VaspRequest(Message):
    """Requests from the VASP (Submit, Cancel, Replace, extendedCancel): SenderIdentification."""

    DIRECTION: ClassVar[str] = "vasp->rs"
    IS_REQUEST: ClassVar[bool] = True

    vaspid: str | None = xml("SenderIdentification/VASPID")
    vasid: str | None = xml("SenderIdentification/VASID")
    sender_address: Address | str | None = xml("SenderIdentification/SenderAddress")

    def __post_init__(self) -> None:
        if isinstance(self.sender_address, str):
            self.sender_address = Address.parse(self.sender_address)


@dataclass(kw_only=True)
class _RelayRequest(Message):
    """Requests from the relay/server (Deliver, DeliveryReport, ReadReply)."""

    DIRECTION: ClassVar[str] = "rs->vasp"
    IS_REQUEST: ClassVar[bool] = True

    relay_server_id: str | None = xml("MMSRelayServerID")

    def __post_init__(self) -> None:
        for name in ("sender", "recipient"):
            if isinstance(getattr(self, name, None), str):
                setattr(self, name, Address.parse(getattr(self, name)))


@dataclass(kw_only=True)
class _Response(Message):
    status: Status = xml("Status", factory=Status)


@dataclass(kw_only=True)
class SubmitReq(_VaspRequest):
    """MM7_submit.REQ: a multimedia message from the VASP to one or more recipients."""

    ELEMENT: ClassVar[str] = "SubmitReq"

    recipients: Recipients | list | None = xml("Recipients", factory=Recipients)
    service_code: str | None = xml("ServiceCode", attributes="service_code_attributes")
    service_code_attributes: dict[str, str] = field(default_factory=dict)
    linked_id: str | None = xml("LinkedID")
    message_class: MessageClass | str | None = xml("MessageClass")
    time_stamp: datetime | None = xml("TimeStamp")
    reply_charging: ReplyCharging | None = xml("ReplyCharging")
    earliest_delivery_time: When | None = xml("EarliestDeliveryTime")
    expiry_date: When | None = xml("ExpiryDate")
    delivery_report: bool | None = xml("DeliveryReport")
    read_reply: bool | None = xml("ReadReply")
    priority: Priority | str | None = xml("Priority")
    subject: str | None = xml("Subject")
    charged_party: ChargedParty | str | None = xml("ChargedParty")
    charged_party_id: str | None = xml("ChargedPartyID")
    distribution_indicator: bool | None = xml("DistributionIndicator")
    delivery_condition: list[int] = xml("DeliveryCondition/DC", factory=list)
    applic_id: str | None = xml("ApplicID")
    reply_applic_id: str | None = xml("ReplyApplicID")
    aux_applic_info: str | None = xml("AuxApplicInfo")
    content_class: ContentClass | str | None = xml("ContentClass")
    drm_content: bool | None = xml("DRMContent")
    content_ref: ContentRef | None = xml("Content")
    content: Content | None = field(default=None, repr=False)  # the multimedia parts (not XML)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.recipients = _recipients(self.recipients)


@dataclass(kw_only=True)
class SubmitRsp(_Response):
    """MM7_submit.RES: the MMSC's status, and the MessageID it gave the message."""

    ELEMENT: ClassVar[str] = "SubmitRsp"
    DIRECTION: ClassVar[str] = "rs->vasp"

    message_id: str | None = xml("MessageID")


@dataclass(kw_only=True)
class DeliverReq(_RelayRequest):
    """MM7_deliver.REQ: a message a subscriber sent to the VASP (mobile originated)."""

    ELEMENT: ClassVar[str] = "DeliverReq"

    vaspid: str | None = xml("VASPID")
    vasid: str | None = xml("VASID")
    linked_id: str | None = xml("LinkedID")
    sender: Address | str | None = xml("Sender")
    recipients: Recipients | list | None = xml("Recipients")
    previously_sent_by: list[UserAgent] = xml("Previouslysentby/UserAgent", factory=list)
    previously_sent_at: list[ForwardTime] = xml("Previouslysentdateandtime/DateTime", factory=list)
    sender_spi: str | None = xml("SenderSPI")
    recipient_spi: str | None = xml("RecipientSPI")
    time_stamp: datetime | None = xml("TimeStamp")
    reply_charging_id: str | None = xml("ReplyChargingID")
    priority: Priority | str | None = xml("Priority")
    subject: str | None = xml("Subject")
    applic_id: str | None = xml("ApplicID")
    reply_applic_id: str | None = xml("ReplyApplicID")
    aux_applic_info: str | None = xml("AuxApplicInfo")
    ua_capabilities: UACapabilities | None = xml("UACapabilities")
    content_ref: ContentRef | None = xml("Content")
    content: Content | None = field(default=None, repr=False)  # the multimedia parts (not XML)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.recipients = _recipients(self.recipients)


@dataclass(kw_only=True)
class DeliverRsp(_Response):
    """MM7_deliver.RES: our status for an MO message, and optionally a ServiceCode (for charging)."""

    ELEMENT: ClassVar[str] = "DeliverRsp"
    DIRECTION: ClassVar[str] = "vasp->rs"

    service_code: str | None = xml("ServiceCode", attributes="service_code_attributes")
    service_code_attributes: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class CancelReq(_VaspRequest):
    """MM7_cancel.REQ: withdraw a submitted message not yet delivered."""

    ELEMENT: ClassVar[str] = "CancelReq"

    message_id: str | None = xml("MessageID")
    recipients: Recipients | list | None = xml("Recipients")  # Rel-6: cancel for these only
    applic_id: str | None = xml("ApplicID")
    reply_applic_id: str | None = xml("ReplyApplicID")
    aux_applic_info: str | None = xml("AuxApplicInfo")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.recipients = _recipients(self.recipients)


@dataclass(kw_only=True)
class CancelRsp(_Response):
    """MM7_cancel.RES: the MMSC's status."""

    ELEMENT: ClassVar[str] = "CancelRsp"
    DIRECTION: ClassVar[str] = "rs->vasp"


@dataclass(kw_only=True)
class ReplaceReq(_VaspRequest):
    """MM7_replace.REQ: replace the content of a submitted message not yet retrieved."""

    ELEMENT: ClassVar[str] = "ReplaceReq"

    message_id: str | None = xml("MessageID")
    service_code: str | None = xml("ServiceCode", attributes="service_code_attributes")
    service_code_attributes: dict[str, str] = field(default_factory=dict)
    time_stamp: datetime | None = xml("TimeStamp")
    read_reply: bool | None = xml("ReadReply")
    earliest_delivery_time: When | None = xml("EarliestDeliveryTime")
    distribution_indicator: bool | None = xml("DistributionIndicator")
    content_class: ContentClass | str | None = xml("ContentClass")
    drm_content: bool | None = xml("DRMContent")
    applic_id: str | None = xml("ApplicID")
    reply_applic_id: str | None = xml("ReplyApplicID")
    aux_applic_info: str | None = xml("AuxApplicInfo")
    content_ref: ContentRef | None = xml("Content")
    content: Content | None = field(default=None, repr=False)  # the multimedia parts (not XML)


@dataclass(kw_only=True)
class ReplaceRsp(_Response):
    """MM7_replace.RES: the MMSC's status."""

    ELEMENT: ClassVar[str] = "ReplaceRsp"
    DIRECTION: ClassVar[str] = "rs->vasp"


@dataclass(kw_only=True)
class ExtendedCancelReq(_VaspRequest):
    """MM7_extended_cancel.REQ (REL-6-MM7-1-4)."""

    ELEMENT: ClassVar[str] = "extendedCancelReq"

    cancel_id: str | None = xml("CancelID")


@dataclass(kw_only=True)
class ExtendedCancelRsp(_Response):
    """MM7_extended_cancel.RES (REL-6-MM7-1-4): its Status carries only the code on the wire (a
    StatusText other than the code's own, or Details, is an `UnsupportedFieldError`)."""

    ELEMENT: ClassVar[str] = "extendedCancelRsp"
    DIRECTION: ClassVar[str] = "rs->vasp"


@dataclass(kw_only=True)
class ExtendedReplaceReq(Message):
    """MM7_extended_replace.REQ (REL-6-MM7-1-4): no SenderIdentification, VASPID/VASID direct."""

    ELEMENT: ClassVar[str] = "extendedReplaceReq"
    DIRECTION: ClassVar[str] = "vasp->rs"
    IS_REQUEST: ClassVar[bool] = True

    vaspid: str | None = xml("VASPID")
    vasid: str | None = xml("VASID")
    service_code: str | None = xml("ServiceCode", attributes="service_code_attributes")
    service_code_attributes: dict[str, str] = field(default_factory=dict)
    replace_id: str | None = xml("ReplaceID")
    time_stamp: datetime | None = xml("TimeStamp")
    earliest_delivery_time: When | None = xml("EarliestDeliveryTime")
    expiry_date: When | None = xml("ExpiryDate")
    read_reply: bool | None = xml("ReadReply")
    delivery_report: bool | None = xml("DeliveryReport")
    content_ref: ContentRef | None = xml("Content")
    content: Content | None = field(default=None, repr=False)  # the multimedia parts (not XML)


@dataclass(kw_only=True)
class ExtendedReplaceRsp(_Response):
    """MM7_extended_replace.RES (REL-6-MM7-1-4): the MMSC's status and the new message's MessageID."""

    ELEMENT: ClassVar[str] = "extendedReplaceRsp"
    DIRECTION: ClassVar[str] = "rs->vasp"

    message_id: str | None = xml("MessageID")


@dataclass(kw_only=True)
class DeliveryReportReq(_RelayRequest):
    """MM7_delivery_report.REQ: what became of a submitted message for one recipient."""

    ELEMENT: ClassVar[str] = "DeliveryReportReq"

    message_id: str | None = xml("MessageID")
    recipient: Address | str | None = xml("Recipient")
    sender: Address | str | None = xml("Sender")
    date: datetime | None = xml("Date")
    mm_status: DeliveryStatus | str | None = xml("MMStatus")
    mm_status_extension: StatusExtension | str | None = xml("MMStatusExtension")
    status_text: str | None = xml("StatusText")
    applic_id: str | None = xml("ApplicID")
    reply_applic_id: str | None = xml("ReplyApplicID")
    aux_applic_info: str | None = xml("AuxApplicInfo")
    ua_capabilities: UACapabilities | None = xml("UACapabilities")


@dataclass(kw_only=True)
class DeliveryReportRsp(_Response):
    """MM7_delivery_report.RES: our status for a delivery report."""

    ELEMENT: ClassVar[str] = "DeliveryReportRsp"
    DIRECTION: ClassVar[str] = "vasp->rs"


@dataclass(kw_only=True)
class ReadReplyReq(_RelayRequest):
    """MM7_read_reply.REQ: the recipient read (or deleted) a submitted message."""

    ELEMENT: ClassVar[str] = "ReadReplyReq"

    message_id: str | None = xml("MessageID")
    recipient: Address | str | None = xml("Recipient")
    sender: Address | str | None = xml("Sender")
    time_stamp: datetime | None = xml("TimeStamp")
    mm_status: ReadStatus | str | None = xml("MMStatus")
    status_text: str | None = xml("StatusText")
    applic_id: str | None = xml("ApplicID")
    reply_applic_id: str | None = xml("ReplyApplicID")
    aux_applic_info: str | None = xml("AuxApplicInfo")


@dataclass(kw_only=True)
class ReadReplyRsp(_Response):
    """MM7_read_reply.RES: our status for a read reply."""

    ELEMENT: ClassVar[str] = "ReadReplyRsp"
    DIRECTION: ClassVar[str] = "vasp->rs"


@dataclass(kw_only=True)
class RSErrorRsp(_Response):
    """Error from the relay/server, carried in a SOAP Fault's detail."""

    ELEMENT: ClassVar[str] = "RSErrorRsp"
    DIRECTION: ClassVar[str] = "rs->vasp"


@dataclass(kw_only=True)
class VASPErrorRsp(_Response):
    """Error from the VASP, carried in a SOAP Fault's detail."""

    ELEMENT: ClassVar[str] = "VASPErrorRsp"
    DIRECTION: ClassVar[str] = "vasp->rs"


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.ELEMENT: cls
    for cls in (
        SubmitReq, SubmitRsp, DeliverReq, DeliverRsp, CancelReq, CancelRsp, ReplaceReq, ReplaceRsp,
        ExtendedCancelReq, ExtendedCancelRsp, ExtendedReplaceReq, ExtendedReplaceRsp,
        DeliveryReportReq, DeliveryReportRsp, ReadReplyReq, ReadReplyRsp, RSErrorRsp, VASPErrorRsp,
    )
}  # fmt: skip
for _message in MESSAGE_TYPES.values():  # (made once per message: a misspelt field is said with the name it likely is)
    suggest_keywords(_message)

# The response that answers each request.
RESPONSE_FOR: dict[str, type[Message]] = {
    "SubmitReq": SubmitRsp,
    "DeliverReq": DeliverRsp,
    "CancelReq": CancelRsp,
    "ReplaceReq": ReplaceRsp,
    "extendedCancelReq": ExtendedCancelRsp,
    "extendedReplaceReq": ExtendedReplaceRsp,
    "DeliveryReportReq": DeliveryReportRsp,
    "ReadReplyReq": ReadReplyRsp,
}


def message_class(element: str) -> type[Message]:
    """The message class for a body element name (``SubmitReq``, ``extendedCancelReq``, ...)."""
    try:
        return MESSAGE_TYPES[element]
    except KeyError:
        raise KeyError(f"{element!r} is not an MM7 message") from None


def xml_fields(cls: type) -> list[dataclasses.Field]:
    """Fields of a neutral class that map to XML, in declaration order."""
    return [f for f in dataclasses.fields(cls) if "xml" in f.metadata]
