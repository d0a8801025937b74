"""Peer profiles: everything about how one MMSC (or VASP) wants its bytes, in one value.

A profile bundles the schema version and MM7Version to send, the XML style, and the MIME habits
(transfer encoding, file-name encoding, SMIL, size limit, SOAPAction). `STANDARD` is what the
specification asks for; dialects for particular peers are built with `Profile.replace`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta, timezone

from . import __version__, versions
from .envelope import XmlStyle
from .hints import suggest_keywords
from .mime import MimeLimits
from .tolerance import is_mm7_namespace
from .xmlsafe import declaration_readable, invalid_xml_char

TRANSFER_ENCODINGS = ("binary", "8bit", "base64", "quoted-printable")
BOUNDARY_STYLES = ("random", "nextpart")
PART_HEADERS = ("Content-Type", "Content-Transfer-Encoding", "Content-ID", "Content-Location")  # (ours, in our order)
PART_HEADER = re.compile(r"(?i)(content-type|content-transfer-encoding|content-id|content-location)(: ?)?")


@suggest_keywords
@dataclass(frozen=True)
class MimeLayout:
    """How a peer lays out the multipart it sends where MIME leaves the choice to the writer.
    Readers take any of these (ours too); they matter to a test of a receiver written against
    one peer's captures. The default is the encoder's own layout."""

    header_separator: str = ": "  # ":" writes "Content-Type:text/xml", as China Mobile's SDK and MMSC do
    parameter_separator: str = "; "  # ";" writes 'text/xml;charset="UTF-8"'
    leading_crlf: bool = False  # the body starts with an empty line (an empty preamble)
    # "random": mm7bind-<hex>; "nextpart": "--NextPart_0_<n>_<n>" outside (delimiter lines start
    # "----") and "SubPart_1_<n>_<n>" inside, the numbers drawn for each message.
    boundaries: str = "random"
    content_id: str | None = None  # the content's Content-ID in place of a generated one ("defaultID")
    bare_content_id: bool = False  # the content's Content-ID written without angle brackets
    # Each part gets a Content-Location (and a name parameter) when it has none: its file name,
    # else its Content-ID with the extension of its type.
    content_locations: bool = False
    # Each part of the content followed by an empty line, and the content's closing delimiter
    # straight before the message's: the framing of a Chinese MMSC's MO (readers other than ours
    # find a CRLF more at the end of each part, as in what that MMSC sends).
    padded_parts: bool = False
    # A content part's headers in this order, each name followed by the separator it is written
    # with when that is not `header_separator` ("Content-Transfer-Encoding: "); () the encoder's
    # order (Content-Type, Content-Transfer-Encoding, Content-ID, Content-Location). Headers not
    # named follow in the encoder's order.
    part_headers: tuple[str, ...] = ()
    upper_charsets: bool = False  # charset parameters in upper case ("UTF-8", Java's names), as given else
    # The order of a multipart/related content's parameters (the capture's: start, type, boundary).
    related_parameters: tuple[str, ...] = ("type", "start", "boundary")

    def __post_init__(self) -> None:
        if self.header_separator not in (": ", ":"):
            raise ValueError('header_separator must be ": " or ":"')
        if self.parameter_separator not in ("; ", ";"):
            raise ValueError('parameter_separator must be "; " or ";"')
        if self.boundaries not in BOUNDARY_STYLES:
            raise ValueError(f"boundaries must be one of {', '.join(BOUNDARY_STYLES)}")
        names = [PART_HEADER.fullmatch(entry) for entry in self.part_headers]
        if not all(names) or len({n[1].lower() for n in names}) != len(names):
            raise ValueError(f"part_headers: each of {', '.join(PART_HEADERS)} at most once, each with no "
                             'separator or ":" or ": " after it')
        if sorted(self.related_parameters) != ["boundary", "start", "type"]:
            raise ValueError("related_parameters: type, start and boundary, each once, in any order")

    def part_header_layout(self) -> tuple[dict[str, int], dict[str, str]]:
        """`part_headers` as each header's rank, and the separators other than `header_separator`."""
        ranks, seps = {}, {}
        for rank, entry in enumerate(self.part_headers):
            found = PART_HEADER.fullmatch(entry)
            name = next(h for h in PART_HEADERS if h.lower() == found[1].lower())
            ranks[name] = rank
            if found[2] and found[2] != self.header_separator:
                seps[name] = found[2]
        return ranks, seps


@suggest_keywords
@dataclass(frozen=True)
class Profile:
    """How one peer wants its bytes: the schema version and MM7Version to send, the XML style,
    the MIME habits, and (as a server) the HTTP status of Faults. Immutable: make a variant with
    `replace`; `STANDARD`, `CMCC`, `CMCC_SDK` and `MBUNI` are the presets (and `CMCC_MMSC`, what
    China Mobile's MMSC sends a VASP)."""

    name: str = "standard"
    version: str = "REL-6-MM7-1-4"  # schema version (namespace) we send
    mm7_version: str | None = None  # MM7Version we send; None: the version's default
    # The MM7 namespace written for `version` where a peer wants it spelt otherwise (a trailing
    # slash, another case, ".xsd"): an opt-in for a peer comparing namespaces as strings. What is
    # sent is still checked as `version`'s. None: the version's own, as the schema has it.
    namespace: str | None = None
    xml: XmlStyle = field(default_factory=XmlStyle)
    # Attachments: binary (default), 8bit, base64, or quoted-printable (text parts; others base64).
    transfer_encoding: str = "binary"
    soap_transfer_encoding: str = "binary"  # the SOAP part: one long XML line, so not "8bit"
    filename_encoding: str = "rfc2231"  # non-ASCII file names: rfc2231 or rfc2047
    auto_smil: bool = True  # generate a SMIL presentation when the content has none
    max_message_size: int | None = None  # whole HTTP body, checked before sending
    # MIME parts of a message (the SOAP part, the content's multipart and each part in it), checked
    # before sending: readers refuse more (MimeLimits.max_parts, ours included). None: unchecked.
    max_parts: int | None = MimeLimits.max_parts
    soap_action: str | None = '""'  # None: no SOAPAction header
    # False: the SOAP XML typed bare "text/xml", without a charset parameter, as Mbuni sends it (its
    # XML declaration, or UTF-8 without one, says the charset).
    soap_charset_param: bool = True
    content_href: bool = True  # write <Content href="cid:..."> (China Mobile's SDK leaves it out)
    plus_in_numbers: bool = True  # False: Number "+8613..." goes as "8613..." (Sinch, Skycore refuse "+")
    mime_preamble: str | None = None
    boundary: str | None = None  # fixed outer boundary; None: a random one per message
    inner_boundary: str | None = None
    soap_content_id: str | None = None  # fixed Content-ID of the SOAP part; None: generated
    extra_headers: tuple[tuple[str, str], ...] = ()
    layout: MimeLayout = field(default_factory=MimeLayout)
    # The SOAP XML as encoded (valid) → as the peer writes it, before it is packed into MIME: for
    # reproducing a peer's deviations in tests (the Content-Type and length stay right). None:
    # the XML goes as encoded.
    xml_rewrite: Callable[[bytes], bytes] | None = None
    # As a server:
    fault_http_status: int = 500  # SOAP 1.1 says 500; some peers send (and want) Faults with 200
    answer_in_own_version: bool = False  # the simulator answers in `version` whatever the caller used

    def __post_init__(self) -> None:
        for name in ("transfer_encoding", "soap_transfer_encoding"):
            if getattr(self, name) not in TRANSFER_ENCODINGS:
                raise ValueError(f"{name} must be one of {', '.join(TRANSFER_ENCODINGS)}")
        if self.filename_encoding not in ("rfc2231", "rfc2047"):
            raise ValueError("filename_encoding must be rfc2231 or rfc2047")
        if not self.soap_charset_param and not self.xml.xml_declaration and \
                self.xml.encoding.replace("-", "").lower() != "utf8":
            raise ValueError(f"{self.xml.encoding} XML without a declaration needs soap_charset_param: "
                             "nothing else would say its charset")
        if self.max_parts is not None and self.max_parts < 3:
            raise ValueError("max_parts must be at least 3 (the SOAP part, the content, one part of it) or None")
        try:  # (here, not as a KeyError from every encode and send made with it)
            versions.get(self.version)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        if self.namespace is not None:
            _check_namespace(self.namespace, self.version)

    def replace(self, **changes) -> Profile:
        """This profile with `changes` (its fields as keywords):
        `STANDARD.replace(version="REL-5-MM7-1-2")`."""
        return dataclasses.replace(self, **changes)


def _check_namespace(namespace: str, version: str) -> None:
    """A `Profile.namespace` must be an MM7 namespace an XML parser takes, and no other version's:
    a reader (ours too) would take the message for that version."""
    if not isinstance(namespace, str) or not namespace or namespace != namespace.strip():
        raise ValueError(f"namespace {namespace!r} is not a namespace URI (empty, or white space around it)")
    if invalid_xml_char(namespace) is not None or not declaration_readable("mm7", namespace):
        raise ValueError(f"namespace {namespace!r} is not a namespace URI an XML parser takes")
    if not is_mm7_namespace(namespace) and versions.closest_for_namespace(namespace) is None:
        raise ValueError(f"namespace {namespace!r} is not an MM7 namespace (…/23.140/schema/REL-x-MM7-y-z): "
                         "readers would refuse every message")
    try:
        own = versions.get(version)
    except KeyError:
        return  # (an unknown version is refused where it is used)
    spelt = versions.by_spelling(namespace)
    if spelt is not None and spelt is not own:
        raise ValueError(f"namespace {namespace} is {spelt.name}'s, not {own.name}'s: readers would take the "
                         f"messages for {spelt.name} (set the version to it instead)")


STANDARD = Profile()

CHINA = timezone(timedelta(hours=8), "CST")

# China Mobile's MM7 API (SDK V1.5.3): REL-6-MM7-1-0 with 6.3.0, GB2312, times in +08:00 written as
# real offsets, 8-bit parts, 100000-byte messages. Its API version travels in a header. The SDK never
# made up a SMIL: content goes as the SP built it (multipart/mixed without one).
CMCC = Profile(
    name="cmcc",
    version="REL-6-MM7-1-0",
    mm7_version="6.3.0",
    xml=XmlStyle(encoding="GB2312", timezone=CHINA),
    transfer_encoding="8bit",
    auto_smil=False,
    max_message_size=100_000,
    extra_headers=(("MM7APIVersion", f"mm7bind-{__version__}"),),
)

# The API version China Mobile's SDK V1.5.3 sends in its MM7APIVersion header.
CMCC_SDK_API_VERSION = "V1.5.3_20040621"

# The same with the SDK's fixed MIME habits reproduced: a preamble, boundaries starting with "--",
# fixed ids, and no <Content href> (readers then take the first attachment as the content); and
# the SDK's own API version, for a gateway that checks it.
CMCC_SDK = CMCC.replace(
    name="cmcc-sdk",
    extra_headers=(("MM7APIVersion", CMCC_SDK_API_VERSION),),
    mime_preamble="this is a multi-part message in MIME format",
    boundary="--NextPart_0_2817_24856",
    inner_boundary="SubPart_7452684322002_77645",
    soap_content_id="/tnn-200102/mm7-vasp",
    content_href=False,
)


# ---------------------------------------------------------------------------------------------
# What China Mobile's MMSC sends a VASP (DeliverReq, DeliveryReportReq, ReadReplyReq): not the
# SDK's VASP-side habits but those of Chinese MMSC captures (an MO with a JPEG, and the delivery
# reports of a China Unicom gateway and of a Chinese MMSC simulator).


def _plain_sender(data: bytes) -> bytes:
    """Sender as plain text, not wrapped in Number (nor ShortCode: a service code, the sender of
    the reports on a submit without SenderAddress)."""
    return re.sub(rb"<((?:\w+:)?Sender)><((?:\w+:)?(?:Number|ShortCode|RFC2822Address))>([^<]*)</\2></\1>",
                  rb"<\1>\3</\1>", data)


# MM1's X-Mms-Status codes (OMA MMS encapsulation), which Chinese MMSCs add to a delivery report as
# MMSStatusErrorCode (129 beside Retrieved in a China Unicom gateway's report).
_MM1_STATUS = {"Expired": 128, "Retrieved": 129, "Rejected": 130, "Deferred": 131, "Unrecognised": 132,
               "Indeterminate": 133, "Forwarded": 134}


def _china_report(data: bytes) -> bytes:
    """A DeliveryReportReq with TimeStamp where the schema has Date, and the MM1 status code in
    MMSStatusErrorCode after MMStatus. Anything else as it is."""
    if b"DeliveryReportReq" not in data:
        return data
    data = re.sub(rb"<((?:\w+:)?)Date>([^<]*)</\1Date>", rb"<\1TimeStamp>\2</\1TimeStamp>", data, count=1)

    def with_code(found: re.Match) -> bytes:
        code = _MM1_STATUS.get(found.group(2).decode("ascii", "replace"))
        if code is None:
            return found.group(0)
        prefix = found.group(1)
        return found.group(0) + b"<%bMMSStatusErrorCode>%d</%bMMSStatusErrorCode>" % (prefix, code, prefix)

    return re.sub(rb"<((?:\w+:)?)MMStatus>([^<]*)</\1MMStatus>", with_code, data, count=1)


_DEFAULT_NS_ENVELOPE = re.compile(
    rb'\A(<\?xml[^>]*\?>)?\s*<env:Envelope xmlns:env="([^"]*)" xmlns="([^"]*)"><env:Header>'
    rb'<TransactionID( [^>]*)?>([^<]*)</TransactionID></env:Header><env:Body><(\w+)')
# DeliverReq's children that follow Priority: MMSRelayServerID goes before the first one there is.
_AFTER_PRIORITY = re.compile(rb"<(?:Subject|ApplicID|ReplyApplicID|AuxApplicInfo|UACapabilities|Content)[ >/]"
                             rb"|</DeliverReq>")


def _china_mmsc_xml(data: bytes) -> bytes:
    """The namespace declared on TransactionID (prefix mm7) and on the body element (default), not
    on the Envelope, and no line break after the XML declaration; times to the second; in a
    DeliverReq MMSRelayServerID after Priority and `<Content href="cid:..."></Content>`."""
    found = _DEFAULT_NS_ENVELOPE.match(data)
    if found is None:  # (not the style this rewrites: left as it is)
        return data
    decl, soap_ns, ns, attrs, tid, element = found.groups()
    head = (decl or b"") + (b'<env:Envelope xmlns:env="%s"><env:Header><mm7:TransactionID xmlns:mm7="%s"%s>%s'
                            b'</mm7:TransactionID></env:Header><env:Body><%s xmlns="%s"'
                            % (soap_ns, ns, attrs or b"", tid, element, ns))
    data = head + data[found.end():]
    data = re.sub(rb"(<TimeStamp>[^<.]*)\.\d+", rb"\1", data)
    if element == b"DeliverReq":
        relay = re.search(rb"<MMSRelayServerID>[^<]*</MMSRelayServerID>", data)
        if relay is not None:
            data = data[:relay.start()] + data[relay.end():]
            at = _AFTER_PRIORITY.search(data, relay.start())
            if at is not None:
                data = data[:at.start()] + relay.group(0) + data[at.start():]
        data = re.sub(rb'<Content href="([^"]*)"( allowAdaptations="true")?( allowAdaptations="false")?/>',
                      rb'<Content href="\1"\3></Content>', data, count=1)
    return data


def china_mobile_mmsc(data: bytes) -> bytes:
    """A request's SOAP XML as China Mobile's MMSC writes it (`CMCC_MMSC.xml_rewrite`): plain-text
    Sender; in a delivery report TimeStamp for Date and MMSStatusErrorCode; namespaces declared
    where it declares them; in a DeliverReq MMSRelayServerID after Priority (not in schema order)."""
    return _china_mmsc_xml(_china_report(_plain_sender(data)))


# The MO capture's MIME: an empty line first, "----NextPart_0_..." delimiters, headers without a
# space after the colon, the content's Content-ID "defaultID" without brackets, a Content-Location
# on every part, an empty line after each part of the content; each part's headers in its order,
# Content-Transfer-Encoding last and with a space ("Content-Transfer-Encoding: 8bit"); charsets in
# upper case; the content's start parameter before its type.
CMCC_MMSC_LAYOUT = MimeLayout(header_separator=":", parameter_separator=";", leading_crlf=True,
                              boundaries="nextpart", content_id="defaultID", bare_content_id=True,
                              content_locations=True, padded_parts=True,
                              part_headers=("Content-Type", "Content-ID", "Content-Location",
                                            "Content-Transfer-Encoding: "),
                              upper_charsets=True, related_parameters=("start", "type", "boundary"))

# China Mobile's MMSC as it writes to a VASP: REL-6-MM7-1-0 / 6.3.0 in UTF-8, +08:00 times, the
# SDK's SOAP Content-ID, 8-bit parts (binary ones raw), a SMIL with the content (a handset's MMS has
# one), no MM7APIVersion (a VASP's header); with its deviations from the schema (`china_mobile_mmsc`).
CMCC_MMSC = CMCC.replace(
    name="cmcc-mmsc",
    xml=XmlStyle(encoding="UTF-8", timezone=CHINA),
    soap_transfer_encoding="8bit",
    soap_content_id="/tnn-200102/mm7-vasp",
    auto_smil=True,
    max_message_size=None,
    extra_headers=(),
    layout=CMCC_MMSC_LAYOUT,
    xml_rewrite=china_mobile_mmsc,
)

# Mbuni: REL-5-MM7-1-0 with 5.3.0 whatever the peer used, Faults with HTTP 200, 500 KB messages.
MBUNI = Profile(
    name="mbuni",
    version="REL-5-MM7-1-0",
    mm7_version="5.3.0",
    max_message_size=500 * 1024,
    fault_http_status=200,
    answer_in_own_version=True,
)

DIALECTS = {"standard": STANDARD, "cmcc": CMCC, "cmcc-sdk": CMCC_SDK, "mbuni": MBUNI}
