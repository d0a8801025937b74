"""Peer profiles: everything about how one MMSC (or VASP) wants its bytes, in one value.

A profile bundles the schema version and MM7Version to send, the XML style, and the MIME habits
(transfer encoding, file-name encoding, SMIL, size limit, SOAPAction). `STANDARD` is what the
specification asks for; dialects for particular peers are built with `Profile.replace`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta, timezone

from . import __version__
from .envelope import XmlStyle
from .mime import MimeLimits

TRANSFER_ENCODINGS = ("binary", "8bit", "base64", "quoted-printable")


@dataclass(frozen=True)
class Profile:
    """How one peer wants its bytes: the schema version and MM7Version to send, the XML style,
    the MIME habits, and (as a server) the HTTP status of Faults. Immutable: make a variant with
    `replace`; `STANDARD`, `CMCC`, `CMCC_SDK` and `MBUNI` are the presets."""

    name: str = "standard"
    version: str = "REL-6-MM7-1-4"  # schema version (namespace) we send
    mm7_version: str | None = None  # MM7Version we send; None: the version's default
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

    def replace(self, **changes) -> Profile:
        """This profile with `changes` (its fields as keywords):
        `STANDARD.replace(version="REL-5-MM7-1-2")`."""
        return dataclasses.replace(self, **changes)


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
