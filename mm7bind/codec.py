"""An MM7 message with its content ⇄ an HTTP body and Content-Type (sans I/O).

`encode` builds the SOAP envelope (`envelope`) and, when the message carries content, the SOAP
with attachments multipart around it (`mime`): the SOAP part first with its Content-ID as `start`,
then the content as one nested multipart/related (with SMIL) or multipart/mixed part that the
`<Content href>` points at. `decode` does the reverse for whatever a peer sent, resolving the
href by cid:, bare id or Content-Location, and records every deviation on the result.
"""

from __future__ import annotations

import binascii
import bisect
import dataclasses
import html
import io
import logging
import mimetypes
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import BinaryIO, Callable
from urllib.parse import unquote

from . import envelope as soap
from . import messages as m
from . import versions
from .content import (
    CHUNK,
    HAS_EXTENSION,
    Blob,
    BlobWriter,
    BytesBlob,
    Content,
    Part,
    cid_url,
    dangling_references,
    decode_part_text,
    ensure_content_id,
    given_as_url,
    id_file_name,
    location_name,
    location_url,
    read_back,
    make_smil,
    named_id,
    new_content_id,
    smil_kind,
    sniff_blob_type,
    unresolved_references,
    wire_id,
)
from .envelope import Envelope  # noqa: F401 (what decode returns, importable beside it)
from .errors import (
    DecodeError,
    Deviation,
    EncodeError,
    LimitExceededError,
    MessageTooLargeError,
    UnsupportedEncodingError,
    ValidationError,
    refusable,
)
from .inflating import MAX_GZIP_MEMBERS, inflate_body  # noqa: F401 (MAX_GZIP_MEMBERS: its bound, named here too)
from .mime import (
    DEFAULT_MIME_LIMITS,
    MAX_LINE,
    Body,
    Encoded,
    InPart,
    MimeError,
    MimeLimits,
    OutPart,
    format_filename_params,
    header_fields,
    new_boundaries,
    parse_params,
    quoted_string,
    read_multipart,
    sniff_boundary,
    strip_id,
    write_multipart,
)
from .profiles import STANDARD, Profile
from .tolerance import Collector
from .xmlsafe import DEFAULT_LIMITS, XmlLimits, charset_codec

XML_TYPES = ("text/xml", "application/xml", "application/soap+xml")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class HttpMessage:
    """An encoded MM7 message: HTTP headers and a body whose length is known."""

    content_type: str
    body: Body
    headers: dict[str, str] = field(default_factory=dict)
    content: Content | None = None  # what was sent, with the generated ids and SMIL

    @property
    def length(self) -> int:
        """The body's length in bytes, known before it is read (a Content-Length)."""
        return len(self.body)

    def to_bytes(self) -> bytes:
        """The whole body in memory (for a large one, read `body` as a stream instead)."""
        return self.body.to_bytes()


# ---------------------------------------------------------------------------------------------
# Encoding


def encode(
    body: m.Message | soap.Fault,
    *,
    transaction_id: str,
    version: versions.Version | str | None = None,
    profile: Profile = STANDARD,
    namespace: str | None = None,
) -> HttpMessage:
    """The HTTP body and headers for `body` as `profile` wants it; `namespace`: the MM7 elements
    in it instead of the version's (an answer in its caller's, `Envelope.namespace`), else the
    profile's `namespace` when `version` is the profile's."""
    version = versions.get(version or profile.version)
    if namespace is None and profile.namespace is not None and version is versions.get(profile.version):
        namespace = profile.namespace
    content: Content | None = getattr(body, "content", None)
    if content is not None and not isinstance(content, Content):
        # (a list of parts, a text: refused as any value that cannot be sent, not an AttributeError from within)
        if isinstance(content, Part):  # (`content=Content().add_text("hi")`: add_* return the part they add)
            raise EncodeError(f"{type(body).__name__}.content must be a Content, not a Part (Content().add_text(...) "
                              "returns the part it adds: make the Content first, content = Content(); "
                              "content.add_text(...), or Content(parts=[part]))")
        raise EncodeError(f"{type(body).__name__}.content must be a Content, not {type(content).__name__} "
                          "(Content(parts=[...]) holds parts, Content().add_text(...) a text)")
    if content is not None and not content.parts and content.smil is None:
        content = None
    smil = container_id = content_ref = None
    if content is not None:
        smil = content.smil
        if smil is not None and smil.kind != "smil":  # (Part.text's type is text/plain)
            raise EncodeError(f"the SMIL {smil!r} is typed {smil.content_type}: handsets would show it as such, not "
                              "play it (a SMIL is application/smil: Part.text(..., content_type='application/smil'))")
        if smil is None:
            # A SMIL added as a part (add_file("mms.smil")) is the presentation, as readers take it:
            # sent as the root, not beside a generated one (which handsets would show instead).
            smil = next((p for p in content.parts if p.kind == "smil"), None)
            if smil is not None:
                content = dataclasses.replace(content, parts=[p for p in content.parts if p is not smil], smil=smil)
        if smil is not None:
            _check_references(content, smil, profile)
        _say_empty_parts(content, smil)
        if smil is None and profile.auto_smil and any(smil_kind(p) for p in content.parts):
            for part in content.parts:  # (checked before a SMIL names them, as their headers will)
                if part.content_id:
                    _checked_id(part, part.content_id)
            smil = make_smil(content.parts)
        content, smil = _with_ascii_ids(content, smil)
        container_id = _checked_id("the content", content.content_id) if content.content_id else None
        if profile.layout.content_id is not None:  # (the peer's one id for every message's content)
            container_id = _checked_id("MimeLayout.content_id", wire_id(profile.layout.content_id))
        # Content read from flat parts has the id its href gave, a part's own (the SMIL's, say): the
        # container we write is another part and needs another (the href names it alone).
        if container_id is None or any((p.content_id or "").lower() == container_id.lower()
                                       for p in ([smil] if smil else []) + content.parts):
            container_id = new_content_id("content")
        if profile.content_href:
            allow = body.content_ref.allow_adaptations if body.content_ref else True
            content_ref = m.ContentRef(href=cid_url(container_id, every_percent=True), allow_adaptations=allow)
        elif getattr(body, "content_ref", None) is not None:
            # No href, as the profile wants: not the message's own either (one read from a DeliverReq
            # names a part of that message, none of this one's).
            body = dataclasses.replace(body, content_ref=None)
    if isinstance(body, m.Message) and profile.mm7_version and body.mm7_version is None:
        body = dataclasses.replace(body, mm7_version=profile.mm7_version)
    checked = isinstance(body, m.Message) and body.DIRECTION == "vasp->rs"
    if checked:
        _check_addresses(body)
    if isinstance(body, m.Message) and not profile.plus_in_numbers:
        body = _without_plus(body)
    xml = soap.encode(body, transaction_id=transaction_id, version=version, style=profile.xml, content_ref=content_ref,
                      namespace=namespace, _addresses_checked=checked)
    if profile.xml_rewrite is not None:  # (a peer's deviations, reproduced on purpose)
        xml = profile.xml_rewrite(xml)
    charset = soap.charset_label(profile.xml.encoding).lower()  # (what the XML declaration says)
    # (None: no SOAPAction at all, as some peers send; a header without a value is no header)
    headers = {"SOAPAction": profile.soap_action} if profile.soap_action is not None else {}
    if profile.extra_headers:
        headers.update(profile.extra_headers)
    if content is None:
        out = HttpMessage(_soap_type(charset, profile), Body([xml]), headers)
    else:
        out = _multipart(xml, charset, content, smil, container_id, profile)
        out.headers.update(headers)
        out.headers["MIME-Version"] = "1.0"
    out.headers["Content-Type"] = out.content_type
    if profile.max_message_size is not None and out.length > profile.max_message_size:
        raise MessageTooLargeError(out.length, profile.max_message_size)
    return out


def _check_references(content: Content, smil: Part, profile: Profile) -> None:
    """A SMIL the user gave goes as it is, but each part it shows must be in the message: a
    reference to nothing is a blank slide on the handset, found out only there. A part is named
    by its own location, or by the one it is sent under (photo-2.jpg: `_unique_locations`)."""
    # (the SMIL's digest, not its bytes: 256 checks kept, a forwarded SMIL may be megabytes)
    key = (smil.sha256(), profile.layout.content_locations,
           tuple((p.content_id, p.content_location, p.filename) for p in content.parts))
    if key in _CHECKED_SMILS:  # (the same content is sent again and again: bulk sending)
        return
    missing = dangling_references(content, smil)
    if missing:  # (only then the locations as sent: most SMILs name parts by their own)
        leaves = [smil, *content.parts]
        sent = [spelling for part, location in zip(leaves, _unique_locations(leaves, profile))
                if location is not None and location != part.content_location
                for spelling in (location, location_name(location_url(location, given_as_url(part))))]
        missing = dangling_references(content, smil, sent) if sent else missing
    if missing:
        raise EncodeError(f"the SMIL refers to {', '.join(map(repr, missing))}, which no part has as Content-ID "
                          "(cid:), Content-Location or file name")
    if len(_CHECKED_SMILS) >= 256:
        _CHECKED_SMILS.clear()
    _CHECKED_SMILS.add(key)


_CHECKED_SMILS: set[tuple] = set()


def _with_ascii_ids(content: Content, smil: Part | None) -> tuple[Content, Part | None]:
    """`content` and its presentation `smil` as sent: a Content-ID beyond ASCII ("图.gif") goes as
    `wire_id` spells it ("%E5%9B%BE.gif"; a header is ASCII on the wire), and the SMIL's `cid:`
    URLs of it, and a bare `src` of it (as China Mobile's SDK users wrote them) when no part has
    that name as its Content-Location or file name, as that same string: handsets compare the two
    as written, a reader that decodes the escapes (ours: `Content.by_id`, `content.id_name`) finds
    the part by the name it spells. The parts the user holds keep their ids; most content has no
    such id and comes back as it is."""
    leaves = [*([smil] if smil is not None else []), *content.parts]
    if (all(not p.content_id or p.content_id.isascii() for p in leaves)  # (`wire_id` keeps ASCII as it is)
            and (content.content_id is None or (content.content_id and content.content_id.isascii()))):
        return content, smil
    sent_ids = {p.content_id: sent for p in leaves if p.content_id and (sent := wire_id(p.content_id)) != p.content_id}
    root_id = wire_id(content.content_id) if content.content_id else None
    if not sent_ids and root_id == content.content_id:
        return content, smil
    on_wire: dict[str, Part] = {}
    for part in leaves:  # (told here, by the ids as given: the check of the parts as sent shows the escapes alone)
        if part.content_id:
            other = on_wire.setdefault(sent_ids.get(part.content_id, part.content_id).lower(), part)
            if other is part or (other.content_id not in sent_ids and part.content_id not in sent_ids):
                continue  # (ASCII ids alike: `_check_unique_ids` says it)
            if other.content_id == part.content_id:
                raise EncodeError(f"{part!r} has the Content-ID <{part.content_id}> of {other!r}: each part needs "
                                  "its own")
            raise EncodeError(f"{part!r} and {other!r} would both go as Content-ID "
                              f"<{sent_ids.get(part.content_id, part.content_id)}> (an id beyond ASCII is sent as "
                              "its UTF-8 escapes, and ids are compared without regard to case): each part needs "
                              "its own")

    def sent(part: Part) -> Part:
        return dataclasses.replace(part, content_id=sent_ids[part.content_id]) if part.content_id in sent_ids else part

    sent_smil = None
    if smil is not None:
        names = frozenset(n for p in content.parts for n in (p.content_location, p.filename) if n)
        sent_smil = sent(_smil_naming_sent_ids(smil, sent_ids, names) if sent_ids else smil)
    return dataclasses.replace(content, parts=[sent(p) for p in content.parts], content_id=root_id,
                               smil=sent_smil if content.smil is not None else None), sent_smil


def _smil_naming_sent_ids(smil: Part, sent_ids: dict[str, str], names: frozenset[str]) -> Part:
    """`smil` with each reference to a part whose Content-ID goes otherwise (`_with_ascii_ids`)
    written as that id is sent; comments and anything else as they were. The SMIL itself when
    nothing changes or its bytes do not read back the same from its charset. Worked out once for
    the same SMIL and ids (a campaign sends one content to each recipient)."""

    def as_sent(src: str) -> str | None:
        if src[:4].lower() == "cid:":
            sent = sent_ids.get(named_id(src))
            return None if sent is None else "cid:" + sent
        if not src or src in names or location_name(src) in names or _URL_SCHEME.match(src):
            return None
        return sent_ids.get(src) or sent_ids.get(location_name(src))

    return _smil_rewritten(smil, ("ids", tuple(sent_ids.items()), names), as_sent)


log = logging.getLogger("mm7bind.codec")


def _say_empty_parts(content: Content, smil: Part | None) -> None:
    """A WARNING for a part of no bytes. It is sent: MIME and the MM7 schema allow it (the schema
    does not see the parts), a forwarded message may hold one, and no MMSC in the reference
    captures is known to refuse it; but no handset shows it (a broken picture, an empty slide),
    so it is most often a file not yet written or a text left empty. Said once per part: a
    campaign encodes its content for every recipient."""
    empty = [p for p in content.parts if not p.size]
    if smil is not None and not smil.size:
        empty.append(smil)
    for part in empty:
        key = (part.content_type, part.filename, id(part.blob))  # (not its Content-ID: a first send gives it one)
        if key in _SAID_EMPTY:
            continue
        if len(_SAID_EMPTY) >= 256:
            _SAID_EMPTY.clear()
        _SAID_EMPTY.add(key)
        log.warning("the %s part %s holds no bytes: sent as it is, but no handset shows it (a broken picture, an "
                    "empty slide)", part.content_type, part.filename or part.content_location or part.content_id or "")


_SAID_EMPTY: set[tuple] = set()


def _check_addresses(msg: m.Message) -> None:
    """Refuse an address of a request we send that holds a control character, naming it by its
    place (to[2], sender_address) and shown escaped: XML carries a line break or a DEL, so the
    MMSC would get it, and refuse or misroute the message. What a peer sent is decoded as it came;
    an MMSC's messages (the simulator's) are its to choose."""
    if m.sendable_addresses(msg):  # (most messages: one search of all their addresses)
        return
    for where, value in m.address_fields(msg):
        if problem := m.address_problem(value):
            raise EncodeError(f"{where}: the address {value!r} {problem}: no MMSC takes it in an address")


def _without_plus(value):
    """`value` (a message, or anything in one) with every Number written without a leading "+";
    what holds none comes back as it is, so the caller's message is never changed."""
    if isinstance(value, m.Address):
        if value.kind is m.AddressKind.NUMBER and value.value.startswith("+"):
            return dataclasses.replace(value, value=value.value[1:])
        return value
    if isinstance(value, list):
        new = [_without_plus(item) for item in value]
        return new if any(a is not b for a, b in zip(new, value, strict=True)) else value
    if dataclasses.is_dataclass(value) and not isinstance(value, (type, Content)):
        changes = {}
        for f in dataclasses.fields(value):
            old = getattr(value, f.name)
            if isinstance(old, (m.Address, list)) or dataclasses.is_dataclass(old):
                new = _without_plus(old)
                if new is not old:
                    changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value


def _soap_type(charset: str, profile: Profile) -> str:
    """The SOAP XML's Content-Type, alone or as the root part."""
    sep = profile.layout.parameter_separator
    if profile.layout.upper_charsets:
        charset = charset.upper()
    return f'text/xml{sep}charset="{charset}"' if profile.soap_charset_param else "text/xml"


def _multipart(xml: bytes, charset: str, content: Content, smil: Part | None, container_id: str,
               profile: Profile) -> HttpMessage:
    layout = profile.layout
    sep = layout.parameter_separator
    soap_id = _checked_id("Profile.soap_content_id", wire_id(profile.soap_content_id)) if profile.soap_content_id else (
        new_content_id("soap"))
    outer, inner = new_boundaries() if layout.boundaries == "random" else _nextpart_boundaries(xml, content)
    outer, inner = profile.boundary or outer, profile.inner_boundary or inner
    soap_cte = profile.soap_transfer_encoding
    soap_part = OutPart(
        [
            ("Content-Type", _soap_type(charset, profile)),
            ("Content-Transfer-Encoding", soap_cte),
            ("Content-ID", f"<{soap_id}>"),
        ],
        # In the transfer encoding the header names (written as it is, base64 would be garbage).
        Encoded(BytesBlob(xml), "base64") if soap_cte == "base64"
        else quoted_printable(xml) if soap_cte == "quoted-printable" else xml,
    )
    leaves = ([smil] if smil else []) + list(content.parts)
    if profile.max_parts is not None and len(leaves) + 2 > profile.max_parts:
        raise EncodeError(f"the message would have {len(leaves) + 2} MIME parts (the SOAP part, the content and its "
                          f"{len(leaves)}{' with the SMIL' if smil else ''}), more than the {profile.max_parts} "
                          "readers take (MimeLimits.max_parts): send fewer, or raise Profile.max_parts "
                          "([mmsc] max_parts) for a peer that takes more")
    mtype = (content.multipart_type or ("related" if smil else "mixed")).lower()
    if not _SUBTYPE.fullmatch(mtype):
        raise EncodeError(f"multipart type {content.multipart_type!r} is not a MIME subtype")
    if len(mtype) + len(inner) > _LONGEST_TYPE - len('multipart/; boundary=""'):  # (told by length first)
        _one_line("the content", "a multipart type", mtype, f'Content-Type: multipart/{mtype}; boundary="{inner}"')
    if mtype == "related":
        # RFC 2387: the root (the SMIL, else the first part) is named by start, its type by type.
        root = leaves[0]
        ensure_content_id(root, "smil" if root is smil else "part")
        _checked_id(root, root.content_id)  # (before it is a parameter: the id's own refusal, if any)
        # (an id may hold '"' or a backslash: escaped, they do not end the parameter early)
        written = {"type": f'type="{root.content_type}"',
                   "start": f"start={quoted_string(f'<{root.content_id}>')}",
                   "boundary": f'boundary="{inner}"'}
        params = [written[name] for name in layout.related_parameters]
        ctype = "multipart/related" + sep + sep.join(params)
        if len("Content-Type: " + ctype) > MAX_LINE:  # a long root id: a parameter a line (folded where FWS may be)
            ctype = "multipart/related;\r\n " + ";\r\n ".join(params)
            if len(f" {written['start']};") > MAX_LINE:  # (its escapes made it longer than the Content-ID line)
                raise EncodeError(f"the root part's Content-ID ({root.content_id[:40]!r}...), escaped as the start "
                                  f"parameter, is too long for one header line ({MAX_LINE}): give it a shorter one")
    else:
        ctype = f'multipart/{mtype}{sep}boundary="{inner}"'  # (mixed: the SMIL, if any, is one part among them)
    container_cid = container_id if layout.bare_content_id else f"<{container_id}>"
    container = OutPart([("Content-Type", ctype), ("Content-ID", container_cid)], boundary=inner)
    locations = _unique_locations(leaves, profile)
    located = any(locations)
    # The SMIL's leaf last: its references are written as the others' locations are.
    children = {i: _leaf(p, profile, locations[i]) for i, p in enumerate(leaves) if p is not smil}
    sent_smil = smil
    if smil is not None:
        if located and _located_otherwise(leaves, locations, smil):
            sent_smil = _smil_naming_sent_locations(smil, leaves, children, locations)
        children[0] = _leaf(sent_smil, profile, locations[0])
    container.children = [children[i] for i in range(len(leaves))]
    _check_unique_ids(leaves, container_id, soap_id)
    if profile.boundary or profile.inner_boundary:
        _check_not_in_payloads([soap_part, *container.children], [b for b in (profile.boundary, profile.inner_boundary) if b])
    preamble = profile.mime_preamble or ("" if layout.leading_crlf else None)
    segments = write_multipart([soap_part, container], outer, preamble, layout.header_separator,
                               layout.padded_parts)
    content_type = (f'multipart/related{sep}boundary="{outer}"{sep}type="text/xml"{sep}'
                    f'start={quoted_string(f"<{soap_id}>")}')
    # (a part's own location made unique, or given as a URL, goes as a reader reads it back: what
    # was sent, not the part the user holds)
    parts = list(content.parts) if not located else [
        p if locations[i] is None or p.content_location is None
        or p.content_location == (read := location_name(location_url(locations[i], given_as_url(p))))
        else dataclasses.replace(p, content_location=read)
        for i, p in enumerate(leaves) if p is not smil]
    sent = Content(parts=parts, smil=sent_smil, content_id=container_id, multipart_type=mtype)
    return HttpMessage(content_type, Body(segments), {}, sent)


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 2045's token
_SUBTYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*")  # a multipart subtype as we write it
MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")  # a media type, type/subtype (no parameters)
CHARSET = re.compile(_TOKEN)  # a charset name as a parameter may carry it unquoted
_NOT_IN_ID = re.compile(r"[\x00-\x1f\x7f<>\ud800-\udfff]")  # (a lone surrogate: no charset writes it)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_GOOD_TYPES: set[str] = set()  # content types already checked (they repeat)
_LOOSE_TYPE = re.compile(rf'\s*"?\s*({_TOKEN})\s*/\s*({_TOKEN})')  # spaces around "/", quotes, junk after


def _nextpart_boundaries(xml: bytes, content: Content) -> tuple[str, str]:
    """China Mobile's boundaries, "--NextPart_0_<n>_<n>" and "SubPart_1_<n>_<n>", the numbers drawn
    for each message. Fewer random digits than ours: drawn again in the rare case a text part or
    the XML holds one (raw binary parts are not searched: a match there is as unlikely as with ours)."""
    for _ in range(8):
        a, b, c, d = (int.from_bytes(os.urandom(4), "big") for _ in range(4))
        outer, inner = f"--NextPart_0_{a % 9000 + 1000}_{b % 90000 + 10000}", f"SubPart_1_{c % 9000 + 1000}_{d % 90000 + 10000}"
        texts = [xml, *(p.data for p in content.parts if p.kind in ("text", "smil") and p.size < 1_000_000)]
        if not any(drawn.encode("ascii") in t for t in texts for drawn in (outer, inner)):
            return outer, inner
    return new_boundaries()


def _check_unique_ids(leaves: list[Part], container_id: str, soap_id: str) -> None:
    """Each part's Content-ID names it alone: a SMIL's `cid:` (and a reader's lookup) finds the
    first part with an id, so a second part with the same one would never be shown. Ids are
    compared as readers look them up, without regard to case."""
    ids = {soap_id.lower(), container_id.lower(), *(part.content_id.lower() for part in leaves)}
    if len(ids) == len(leaves) + 2:  # (all distinct: the usual case, told apart in one set)
        return
    seen: dict[str, Part | None] = {soap_id.lower(): None, container_id.lower(): None}
    for part in leaves:
        key = part.content_id.lower()
        if key in seen:
            other = seen[key]
            what = ("is in the content twice" if other is part
                    else f"has the Content-ID <{part.content_id}> of {other!r}" if other is not None
                    else f"has the Content-ID <{part.content_id}> of the SOAP part or of the content")
            raise EncodeError(f"{part!r} {what}: each part needs its own")
        seen[key] = part


def _check_not_in_payloads(parts: list[OutPart], boundaries: list[str]) -> None:
    """A boundary the profile fixes is known to all: a Subject or a text holding its delimiter
    would end the part there and start one of the writer's choosing (readers take a delimiter
    after a bare LF too). A random boundary is in no content; base64 has no "-" to make one."""
    delimiters = [b"--" + b.encode("ascii", "replace") for b in boundaries]
    overlap = max(map(len, delimiters)) - 1
    for part in parts:
        payload = part.payload
        if isinstance(payload, Encoded):
            if payload.cte == "base64":
                continue
            chunks = payload.blob.chunks()
        else:
            chunks = [payload or b""]
        tail = b""
        for chunk in chunks:
            window = tail + bytes(chunk)
            found = next((d for d in delimiters if d in window), None)
            if found is not None:
                what = dict(part.headers).get("Content-ID", "")
                raise EncodeError(f"the part with Content-ID {what} holds {found.decode('ascii', 'replace')!r}, the "
                                  "delimiter of a boundary the profile fixes: it would end the part there")
            tail = window[-overlap:] if overlap else b""


def _checked_id(what: object, content_id: str) -> str:
    """A Content-ID as it may be written between angle brackets: a line break would start a header
    of the sender's choosing, a '>' would end the id early."""
    if not content_id or content_id.strip() != content_id or _NOT_IN_ID.search(content_id):
        raise EncodeError(f"{what}: Content-ID {content_id!r} cannot be sent (empty, a control character, < or >, "
                          "a lone surrogate, or white space around it, which readers strip)")
    # (an id has no white space to fold at: RFC 5322 msg-id; most ids are far shorter than a line,
    # told by their length alone: this runs for every part of every message)
    if len(content_id) > _LONGEST_ID:
        who = what if isinstance(what, str) else f"the {getattr(what, 'content_type', 'part')[:40]} part"
        _one_line(who, "a Content-ID", content_id, f"Content-ID: <{content_id}>")
    return content_id


_LONGEST_ID = MAX_LINE - len("Content-ID: <>")  # (the longest that fits `_one_line`'s header line)


def _one_line(who: str, what: str, value: str, line: str) -> None:
    """Refuse a header `line` longer than a line may be (RFC 5322 §2.1.1) that `value` (`what`)
    makes so and that cannot be folded there: a mail-grade reader, or a gateway, cuts or refuses it."""
    if len(line) > MAX_LINE:
        raise EncodeError(f"{who}: {what} of {len(value)} characters ({value[:40]!r}...) is too long for one header "
                          f"line ({MAX_LINE} characters, RFC 5322) and cannot be folded: give a shorter one")


def _unique_locations(leaves: list[Part], profile: Profile) -> list[str | None]:
    """The Content-Location (as a name) each leaf is sent with: its own, else one made up where the
    layout names every part. Two parts of one name (two folders' photo.jpg) would have one
    location, and a reader that finds parts by location would show the first for both: the first
    keeps it (a SMIL that names it meant that one, as `Content.by_location` finds it), a later one
    gets "-2", "-3"... before its extension (photo-2.jpg), a name no other part has. A name the
    user gave a media part goes before the SMIL's (a generated one's "presentation.smil"), and
    those before names made up: a SMIL names media by them."""
    names: list[str | None] = []
    made_up: set[int] = set()
    for i, part in enumerate(leaves):
        location = part.content_location
        if not location and profile.layout.content_locations:  # (named as the peer names every part)
            if not part.content_id:
                ensure_content_id(part, part.filename or part.kind)
            location = part.filename or _id_file_name(part)
            made_up.add(i)
        names.append(location or None)
    if not any(names):  # (no part named by location: most messages)
        return names
    # (compared as written: the name "a b.gif" and the URL "a%20b.gif" are one header)
    urls = [given_as_url(part) for part in leaves]
    given = [location_url(name, urls[i]) for i, name in enumerate(names) if name is not None]
    taken = set(given)
    if len(taken) == len(given):  # (the common case: every encode passes here)
        return names
    ranks = [2 if i in made_up else 1 if i == 0 and part.kind == "smil" else 0 for i, part in enumerate(leaves)]
    seen: set[str] = set()
    unique = list(names)
    for i in sorted(range(len(names)), key=ranks.__getitem__):  # (stable: in their order within a rank)
        name = names[i]
        if name is None:
            continue
        if location_url(name, urls[i]) in seen:
            stem, ext = posixpath.splitext(name)
            n = 2
            while ((written := location_url(candidate := f"{stem}-{n}{ext}", urls[i])) in taken
                   or written in seen):
                n += 1
            name = unique[i] = candidate
        seen.add(location_url(name, urls[i]))
    return unique


def _id_file_name(part: Part) -> str:
    """A file name made from a part's Content-ID: the id before its "@", as the name it spells
    when sent as its UTF-8 escapes ("%E5%9B%BE.gif" is "图.gif": `wire_id`), with the extension of
    its type when it has none of its own ("1.gif" stays, "image-1" is "image-1.gif")."""
    name = id_file_name(part.content_id.partition("@")[0])
    if HAS_EXTENSION.search(name):
        return name
    kind = part.content_type.lower()
    return name + (_EXTENSIONS.get(kind) or mimetypes.guess_extension(kind) or "")



def _located_otherwise(leaves: list[Part], locations: list[str | None], smil: Part) -> bool:
    """Whether a part other than the SMIL goes with a Content-Location spelt otherwise than its own
    location (or file name): escaped, or made unique; or has a location given as a URL, which a
    SMIL may name as the name it spells. Only then may a SMIL's references need writing as sent
    (`_smil_naming_sent_locations`); most messages have no such part."""
    for part, location in zip(leaves, locations):
        if location is not None and part is not smil:
            own = part.content_location if part.content_location is not None else part.filename
            if own and (location_url(location, given_as_url(part)) != own or given_as_url(part)):
                return True
    return False


def _smil_naming_sent_locations(smil: Part, leaves: list[Part], children: dict[int, OutPart],
                                locations: list[str | None]) -> Part:
    """`smil` with each `src` that names a part by its Content-Location, spelt otherwise than the
    header that is sent (as a name, "照片 1.jpg", where the header has the URL
    "%E7%85%A7%E7%89%87%201.jpg"), written as that header is: a handset compares the two as
    written (Android's), and a reader that percent-decodes both finds the part either way. A part
    is named by its own location as given or as the name it spells, or by the location it is
    sent under (`locations`: "照片-2.jpg", a later part of a name taken). Any other reference, and
    the rest of the text, is left as it is. The SMIL itself when nothing is to change, or when its
    bytes do not read back the same from its charset. Worked out once for the same SMIL and parts
    (a campaign sends one content to each recipient)."""
    written: dict[str, str] = {}  # a part's own location (as given, and as a name) -> the header's value
    by_filename: dict[str, str] = {}  # a file name, a location as sent -> that header (the first part's)
    for i, part in enumerate(leaves):
        header = next((v for k, v in children[i].headers if k == "Content-Location"), None) if i in children else None
        if header is not None:
            if part.content_location is not None:
                written.setdefault(part.content_location, header)
                written.setdefault(read_back(part), header)
            elif part.filename:
                by_filename.setdefault(part.filename, header)
    for i, location in enumerate(locations):  # (after every part's own: those are named first)
        header = (next((v for k, v in children[i].headers if k == "Content-Location"), None)
                  if i in children and location is not None else None)
        if header is not None:
            by_filename.setdefault(location, header)
            by_filename.setdefault(location_name(header), header)
    if all(name == value for name, value in (*written.items(), *by_filename.items())):
        return smil
    ids = frozenset((p.content_id or "").lower() for p in leaves)

    def spelt_as_sent(src: str) -> str | None:
        if not src or src.lower().startswith("cid:") or _URL_SCHEME.match(src):
            return None
        value = written.get(src) or written.get(location_name(src))
        if value is None and src.lower() not in ids:
            value = by_filename.get(src) or by_filename.get(location_name(src))
        return value

    return _smil_rewritten(smil, ("locations", tuple(written.items()), tuple(by_filename.items()), ids),
                           spelt_as_sent)


# `_smil_rewritten`'s work, by what it depends on: at most 32 SMILs of 32 KiB kept
_SENT_SMILS: dict[tuple, BytesBlob | None] = {}
_SENT_SMIL_BYTES = 32 * 1024


def _smil_rewritten(smil: Part, key: tuple, new_src: Callable[[str], str | None]) -> Part:
    """`smil` with each `src` outside comments that `new_src` (given it unescaped and stripped)
    names another value for written as that value, escaped for its attribute; the rest of the
    text as it was. The SMIL itself when nothing changes, or when its bytes do not read back the
    same from its charset. Worked out once for the same SMIL and `key` (what `new_src` depends on):
    a campaign sends one content to each recipient."""
    key = (smil.sha256(), smil.charset, *key)
    blob = _SENT_SMILS.get(key, False)
    if blob is False:
        blob = _srcs_rewritten(smil, new_src)
        if blob is None or blob.size <= _SENT_SMIL_BYTES:  # (a forwarded SMIL of megabytes is not kept)
            if len(_SENT_SMILS) >= 32:
                _SENT_SMILS.clear()
            _SENT_SMILS[key] = blob
    return smil if blob is None else dataclasses.replace(smil, blob=blob)


def _srcs_rewritten(smil: Part, new_src: Callable[[str], str | None]) -> BytesBlob | None:
    """The bytes of `smil` rewritten as `_smil_rewritten` says, or None when they are as they were."""
    data = smil.data
    codec = charset_codec(smil.charset)[0] or "utf-8"
    try:
        text = data.decode(codec)
        if text.encode(codec) != data:
            return None
    except (UnicodeError, LookupError):
        return None
    comments = _comment_spans(text)
    comment_starts = [start for start, _end in comments]

    def rewritten_src(m: re.Match) -> str:
        before = bisect.bisect_right(comment_starts, m.start()) - 1  # (the comment it may be in)
        if before >= 0 and m.start() < comments[before][1]:
            return m.group(0)
        raw = m.group(1) if m.group(1) is not None else m.group(2)
        src = html.unescape(raw).strip()
        value = new_src(src)
        if value is None or value == src:
            return m.group(0)
        # (a value may hold "&" or a quote: escaped, the attribute stays XML)
        quote_char = '"' if m.group(1) is not None else "'"
        escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(quote_char, "&quot;" if quote_char == '"'
                                                                            else "&apos;")
        return m.group(0)[:m.start(1 if m.group(1) is not None else 2) - m.start()] + escaped + quote_char

    rewritten = _SRC_ATTRIBUTE.sub(rewritten_src, text)
    if rewritten == text:
        return None
    try:
        return BytesBlob(rewritten.encode(codec))
    except UnicodeError:
        return None


_SRC_ATTRIBUTE = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)  # (content.smil_references')


def _comment_spans(text: str) -> list[tuple[int, int]]:
    """Where `text`'s comments are (one never closed is none, as `content.smil_references` reads it)."""
    spans, pos = [], 0
    while (start := text.find("<!--", pos)) >= 0 and (end := text.find("-->", start + 4)) >= 0:
        spans.append((start, end + 3))
        pos = end + 3
    return spans


_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _leaf(part: Part, profile: Profile, location: str | None) -> OutPart:
    if not part.content_id:
        ensure_content_id(part, part.filename or part.kind)  # safe as made
    else:
        _checked_id(part, part.content_id)
    ctype = part.content_type
    # What peers sent may be forwarded: checked here, where it becomes a header.
    if ctype not in _GOOD_TYPES:
        if not MEDIA_TYPE.fullmatch(ctype):
            raise EncodeError(f"{part!r}: content type {ctype!r} is not type/subtype (parameters go elsewhere)")
        if len(ctype) > _LONGEST_TYPE:
            _one_line("a part", "a content type", ctype, "Content-Type: " + ctype)
        if len(_GOOD_TYPES) < 256:
            _GOOD_TYPES.add(ctype)
    if part.charset and (part.kind in ("text", "smil") or ctype.endswith("+xml")):
        label = (type(part.charset) is str and _CHARSET_PARAMS.get(part.charset)) or _written_charset(part)
        label = label.upper() if profile.layout.upper_charsets else label
        ctype += f'{profile.layout.parameter_separator}charset="{label}"'
        if len(ctype) > _LONGEST_TYPE:  # (told by its length first: most are far shorter than a line)
            _one_line(f"the {part.content_type[:40]} part", "a charset", part.charset, "Content-Type: " + ctype)
    for what, name in (("file name", part.filename), ("Content-Location", part.content_location)):
        if name and _SURROGATE.search(name):  # (os.listdir's for bytes it cannot read, say)
            raise EncodeError(f"{part!r}: {what} {name!r} holds a lone surrogate, which no charset writes")
    name = part.filename or (location if profile.layout.content_locations else None)
    if name:
        params = format_filename_params("name", name, profile.filename_encoding, len("Content-Type: " + ctype))
        if profile.layout.parameter_separator == ";" and params.startswith("; "):
            params = ";" + params[2:]
        ctype += params
    cte = profile.transfer_encoding
    if cte == "quoted-printable" and part.kind not in ("text", "smil"):
        cte = "base64"
    headers = [("Content-Type", ctype), ("Content-Transfer-Encoding", cte), ("Content-ID", f"<{part.content_id}>")]
    if location:
        written = location_url(location, given_as_url(part))
        if len("Content-Location: " + written) > MAX_LINE:
            # A URL has no white space to fold at (a reader would keep it). The same name as the
            # file name (add_file's) travels in the name parameter, folded: a reference finds it there.
            if part.content_location and part.content_location != part.filename:  # (one made up is left out)
                raise EncodeError(f"{part!r}: Content-Location {part.content_location!r} is {len(written)} "
                                  f"characters URL-escaped, too long for one header line ({MAX_LINE}); give a "
                                  "shorter one, or none")
        else:
            headers.append(("Content-Location", written))
    if cte == "quoted-printable":
        payload: bytes | Encoded = quoted_printable(part.data)
    else:
        payload = Encoded(part.blob, "base64" if cte == "base64" else "binary")
    if profile.layout.part_headers:  # (a peer's order, and a separator of its own for some)
        ranks, seps = profile.layout.part_header_layout()
        headers.sort(key=lambda h: ranks.get(h[0], len(ranks)))  # (stable: the others keep ours)
        return OutPart(headers, payload, separators=seps or None)
    return OutPart(headers, payload)


def _written_charset(part: Part) -> str:
    """`_charset_param` of a part's charset, refused when it is no charset name; kept for a name
    of a charset found (`_CHARSET_PARAMS`: the registry's answer for it does not change), not for
    one unknown (a codec registered later for it is one)."""
    if not CHARSET.fullmatch(part.charset):
        raise EncodeError(f"{part!r}: charset {part.charset!r} is not a charset name")
    param = _charset_param(part.charset)
    if len(_CHARSET_PARAMS) < 256 and type(part.charset) is str and charset_codec(part.charset)[0] is not None:
        _CHARSET_PARAMS[part.charset] = param
    return param


# A part's charset (a name `_written_charset` took, of a charset found) → the parameter as written:
# a few names, on every text part.
_CHARSET_PARAMS: dict[str, str] = {}
_LONGEST_TYPE = MAX_LINE - len("Content-Type: ")  # (the longest a Content-Type value fits one line)


def _charset_param(label: str) -> str:
    """A part's charset as written: the label given, unless it is a name readers take only as a
    slip (Python's `utf8`, `utf_8`; `x-gbk`), which goes as the IANA name of the same charset, or
    Python's name or spelling of a charset with an IANA preferred name (`utf-16-be`, `utf_16`,
    `latin-1`, `ascii`, `sjis`, `cp1252`: `utf-16be`, `utf-16`, `iso-8859-1`, `us-ascii`,
    `shift_jis`, `windows-1252`; Java's readers know no other)."""
    codec, standard = charset_codec(label)
    if codec is None:
        return label
    if not standard:
        return soap.charset_label(codec).lower()
    try:
        iana = soap.charset_label(label)
    except LookupError:  # (GB2312 and the names read as another charset: as given)
        return label
    if iana.lower() == label.lower():
        return label  # (as given, in its case)
    return iana.lower() if _squeezed(iana) == _squeezed(label) or iana.lower() in soap.PREFERRED_MIME_NAMES else label


def _squeezed(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


# The extension a part named after its Content-ID gets (MimeLayout.content_locations): what MMS
# content types are, where the platform's table has none or an odd one.
_EXTENSIONS = {"application/smil": ".smil", "text/plain": ".txt", "image/jpeg": ".jpg", "audio/amr": ".amr",
               "audio/midi": ".mid", "image/vnd.wap.wbmp": ".wbmp", "text/x-vcard": ".vcf", "text/x-vcalendar": ".vcs"}


def quoted_printable(data: bytes) -> bytes:
    """Quoted-printable that decodes to exactly `data`, with CRLF line ends.

    Text with CRLF line breaks keeps them as hard breaks (readable); text with bare CR or LF has
    every CR and LF encoded, so that nothing is normalised on the way.
    """
    def soft(encoded: bytes) -> bytes:
        return encoded.replace(b"=\n", b"=\r\n")

    lines = data.split(b"\r\n")
    if any(b"\r" in line or b"\n" in line for line in lines):
        return _qp_escaped(data)
    out = []
    for line in lines:
        enc = soft(binascii.b2a_qp(line, quotetabs=False, istext=False))
        if enc.endswith((b" ", b"\t")):  # trailing white space would be stripped in transit
            enc = enc[:-1] + b"=%02X" % enc[-1]
        out.append(enc)
    return b"\r\n".join(out)


_QP_BYTES = [bytes([b]) if 33 <= b <= 126 and b != 0x3D else b"=%02X" % b for b in range(256)]


def _qp_escaped(data: bytes) -> bytes:
    """Quoted-printable with every byte but printable ASCII escaped (CR, LF, space and tab
    included), in lines of at most 76 characters (RFC 2045 §6.7). Not binascii's, which writes
    lines of 77 and 78 now and then ("a\\n" 38 times, say)."""
    enc = b"".join([_QP_BYTES[b] for b in data])
    out, pos = [], 0
    while len(enc) - pos > 76:
        cut = pos + 75
        escape = enc.rfind(b"=", cut - 2, cut)  # (an escape is never cut in two)
        cut = escape if escape >= 0 else cut
        out.append(enc[pos:cut] + b"=")
        pos = cut
    out.append(enc[pos:])
    return b"\r\n".join(out)


# ---------------------------------------------------------------------------------------------
# Decoding


def decode(
    body: bytes | BinaryIO,
    content_type: str | None = None,
    *,
    strict: bool = False,
    limits: MimeLimits = DEFAULT_MIME_LIMITS,
    xml_limits: XmlLimits = DEFAULT_LIMITS,
    expect: str | None = None,
) -> soap.Envelope:
    """Read an MM7 HTTP body (bare SOAP, or SOAP with attachments) with its Content-Type.

    `expect`: the response the caller's request calls for (see `envelope.decode`)."""
    in_memory = isinstance(body, (bytes, bytearray, memoryview))
    if in_memory:
        body = bytes(body) if not isinstance(body, bytes) else body
    devs: list[Deviation] = []
    ctype, params = parse_params(content_type or "")
    if ctype == "text/xml" and in_memory and not body.startswith((b"--", GZIP_MAGIC)):  # bare SOAP as labelled
        env = soap.decode(body, charset_hint=params.get("charset"), limits=xml_limits, expect=expect)
        return _finish(env, strict)
    if in_memory:
        head = body[:4096]
    else:
        head, body = _peek(body, 4096)
    if head.startswith(GZIP_MAGIC):  # (neither XML nor MIME starts so: not to be searched for a boundary)
        raise DecodeError("the body is gzip-compressed: it is to be inflated first (over HTTP its "
                          "Content-Encoding says so, and the receiver does)")
    boundary = params.get("boundary") if ctype.startswith("multipart/") else None
    looks_xml = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    spooled = None  # (a stream copied to be read again: kept alive while it is read)
    if boundary and (b"--" + boundary.encode("latin-1", "replace")) not in (body if in_memory else head):
        # The label's boundary is nowhere in the body (a stream: not near its start): the body
        # says what it is.
        sniffed = None if looks_xml else sniff_boundary(head)
        if sniffed is not None and not in_memory:
            # A stream's may come later: it is copied (to a temporary file past the spool
            # threshold) as it is searched, and read again from the copy.
            spooled, seen = _spool_looking_for(body, b"--" + boundary.encode("latin-1", "replace"), limits)
            body = spooled.open()
            if seen:
                sniffed = None
        if looks_xml:
            devs.append(Deviation("mime-not-multipart", "", f"labelled {ctype}, the body is bare XML"))
            boundary, ctype = None, "text/xml"
        elif sniffed is not None:
            devs.append(Deviation("mime-boundary", "", f"boundary {boundary!r} is not in the body; "
                                                       f"{sniffed!r} is"))
            boundary = sniffed
    if not ctype.startswith("multipart/") and not looks_xml and head.startswith(b"--"):
        sniffed = sniff_boundary(head)
        if sniffed is not None:  # a multipart body under an XML (or no) label
            if ctype:
                devs.append(Deviation("mime-mislabelled", "", f"labelled {ctype}, the body is multipart"))
            ctype, boundary = "multipart/related", sniffed
    if ctype.startswith("multipart/") and not boundary:
        if looks_xml:
            devs.append(Deviation("mime-no-boundary", "", "multipart Content-Type without boundary; the body is bare XML"))
        else:
            boundary = sniff_boundary(head)
            if boundary is None:
                raise MimeError("multipart Content-Type without a boundary, and none found in the body")
            devs.append(Deviation("mime-no-boundary", "", f"no boundary parameter; found {boundary!r} in the body"))
    elif not ctype:
        if not looks_xml:
            boundary = sniff_boundary(head)
            if boundary is None:
                raise MimeError("no Content-Type, and the body is empty" if len(head) < 4096 and not head.strip() else
                                "no Content-Type, and the body is neither XML nor MIME")
    elif not ctype.startswith("multipart/"):
        if ctype not in XML_TYPES:
            if not looks_xml:
                raise MimeError(f"unexpected Content-Type {ctype}")
            devs.append(Deviation("soap-content-type", "", f"SOAP sent as {ctype}"))
        elif ctype != "text/xml":
            devs.append(Deviation("soap-content-type", "", f"SOAP 1.1 is text/xml, not {ctype}"))
    if boundary is None:
        xml = body if in_memory else _read_limited(body, xml_limits.max_bytes)
        env = soap.decode(xml, charset_hint=params.get("charset"), limits=xml_limits, expect=expect)
        env.deviations[:0] = devs
        return _finish(env, strict)
    try:
        parts, mime_devs = read_multipart(body, boundary, limits)
    finally:
        if spooled is not None:
            body.close()
    devs += mime_devs
    root, others = _root(parts, params.get("start"), devs)
    _note_bare_id(root, devs)
    start = strip_id(params.get("start"))
    if ctype == "multipart/related" and (start is None or (root.content_id or "").lower() == start.lower()):
        _check_related_type(params.get("type"), root, "", devs)  # (a start naming no part: said as such)
    xml_size = root.blob.size if root.blob else 0
    if xml_size > xml_limits.max_bytes:
        raise LimitExceededError(f"the SOAP part is {xml_size} bytes, more than {xml_limits.max_bytes}")
    try:
        env = soap.decode(root.blob.read() if root.blob else b"", charset_hint=root.params.get("charset"),
                          limits=xml_limits, expect=expect)
    except DecodeError as exc:
        # What the MIME said of the part read as the SOAP XML is often why it is none (the part
        # a start= names, a transfer encoding not undone): said with the error, not lost with it.
        why = [f"{d.path}: {d.message}" if d.path else d.message
               for d in devs if d.code in _ROOT_SAID and d.path in ("", root.path)]
        if why and start is not None and (root.content_id or "").lower() == start.lower():
            why.insert(0, f"{root.path} is the part start=<{start}> names")
        if why:
            exc.args = (f"{exc} ({'; '.join(why)})", *exc.args[1:])
        exc.deviations[:0] = devs
        raise
    devs += env.deviations
    env.deviations = devs
    _attach(env, others, root.content_id)
    return _finish(env, strict)


# MIME deviations that may say why the part read as the SOAP XML could not be read as such.
_ROOT_SAID = frozenset({"mime-start", "mime-root", "soap-content-type", "mime-cte-unknown", "mime-content-encoding"})


def _finish(env: soap.Envelope, strict: bool) -> soap.Envelope:
    if strict and (refused := refusable(env.deviations)):
        raise ValidationError.refusing(refused, envelope=env)
    return env


def _peek(stream: BinaryIO, n: int) -> tuple[bytes, BinaryIO]:
    """The first `n` bytes (fewer only when the body is shorter), and a stream that still yields
    them (pipes and sockets cannot seek). A read may give less than it was asked for before the
    end, so it reads until it has them: what the body is must not depend on how it arrives."""
    head = bytearray()
    while len(head) < n:
        chunk = stream.read(n - len(head))
        if not chunk:
            break
        head += chunk
    head = bytes(head)
    return head, _Prefixed(head, stream)


class _Prefixed(io.RawIOBase):
    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n is None or n < 0:
                data, self.head = self.head + self.rest.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.rest.read(n)


def _spool_looking_for(stream: BinaryIO, needle: bytes, limits: MimeLimits) -> tuple[Blob, bool]:
    """A copy of the whole stream (within the body's limit, in memory up to the spool threshold),
    and whether `needle` is anywhere in it (each chunk searched with the end of the one before)."""
    writer = BlobWriter(limits.spool_threshold)
    seen, carry = False, b""
    try:
        while chunk := stream.read(CHUNK * 4):
            if writer.size + len(chunk) > limits.max_body_bytes:
                raise LimitExceededError(f"the body is more than {limits.max_body_bytes} bytes")
            writer.write(chunk)
            if not seen:
                text = carry + chunk
                seen = needle in text
                carry = text[-(len(needle) - 1):] if len(needle) > 1 else b""
    except BaseException:
        writer.discard()
        raise
    return writer.blob(), seen


def _read_limited(stream: BinaryIO, limit: int) -> bytes:
    """The whole stream, up to `limit` bytes. A read may give less than it was asked for before
    the end (a pipe, a socket, the peeked head then the rest), so it reads until the end."""
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(limit + 1 - len(data))
        if not chunk:
            break
        data += chunk
    if len(data) > limit:
        raise LimitExceededError(f"the SOAP body is larger than {limit} bytes")
    return bytes(data)


def _root(parts: list[InPart], start: str | None, devs: list[Deviation]) -> tuple[InPart, list[InPart]]:
    if not parts:
        raise MimeError("the multipart body has no parts")
    root = None
    if start is not None:
        wanted = strip_id(start)
        if not start.strip().startswith("<"):
            devs.append(Deviation("mime-start", "", f"start={start!r} without angle brackets"))
        root = next((p for p in parts if p.content_id == wanted), None)
        if root is None:
            root = next((p for p in parts if (p.content_id or "").lower() == (wanted or "").lower()), None)
            if root is not None:
                devs.append(Deviation("mime-start", "", f"start={start!r} matches Content-ID <{root.content_id}> "
                                                        "only ignoring case"))
        if root is None:
            devs.append(Deviation("mime-start", "", f"start={start!r} matches no part; the first part is the SOAP part"))
        elif root.content_type not in XML_TYPES and not _looks_like_xml(root):
            # A start= naming the content (its container, the SMIL) rather than the SOAP part: the
            # one part labelled XML is read as the SOAP part, and the message not refused for a slip.
            xml_parts = [p for p in parts if p is not root and p.content_type in XML_TYPES]
            if len(xml_parts) == 1:
                devs.append(Deviation("mime-start", "", f"start={start!r} names {root.path} ({root.content_type}), "
                                                        f"not XML; the SOAP part is {xml_parts[0].path}"))
                root = xml_parts[0]
    if root is None:
        root = parts[0]
        if root.content_type not in XML_TYPES:
            xml_part = next((p for p in parts if p.content_type in XML_TYPES), None)
            if xml_part is not None:
                devs.append(Deviation("mime-root", "", f"the first part is {root.content_type}; the SOAP part is {xml_part.path}"))
                root = xml_part
    if root.content_type not in XML_TYPES:
        devs.append(Deviation("soap-content-type", root.path, f"the SOAP part is labelled {root.content_type}"))
    return root, [p for p in parts if p is not root]


def _looks_like_xml(part: InPart) -> bool:
    """Whether a part's bytes begin as XML does (after a byte order mark and white space)."""
    if part.blob is None:
        return False
    with part.blob.open() as f:
        head = f.read(256)
    for bom, codec in ((b"\xef\xbb\xbf", None), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            head = head[len(bom):]
            if codec is not None:
                head = head.decode(codec, "ignore").encode("ascii", "ignore")
            break
    return head.lstrip(b" \t\r\n").startswith(b"<")


CONTENT_MESSAGES = (m.SubmitReq, m.DeliverReq, m.ReplaceReq, m.ExtendedReplaceReq)


def _attach(env: soap.Envelope, others: list[InPart], soap_id: str | None = None) -> None:
    msg = env.message
    if not isinstance(msg, CONTENT_MESSAGES):
        if others:
            env.deviations.append(Deviation("unexpected-attachments", "", f"{len(others)} attachment part(s) ignored"))
        return
    # (the attribute's path as the XML's deviations write it: one attribute, one path to filter by)
    where = f"/Envelope/Body/{msg.ELEMENT}/Content/@href"
    if not others:
        if msg.content_ref is not None:
            env.deviations.append(Deviation("href-dangling", where, f"{msg.content_ref.href} but no attachments"))
        return
    target = _resolve(msg.content_ref.href if msg.content_ref else None, others, env.deviations, where)
    before = len(env.deviations)
    msg.content = _content(target, others, env.deviations, soap_id)
    if len(env.deviations) - before > Collector.MAX_LISTED:  # (one slip per part: listed as the XML's are)
        parts = Collector()
        parts.extend(env.deviations[before:])
        env.deviations[before:] = parts.result()


def _resolve(href: str | None, others: list[InPart], devs: list[Deviation],
             where: str) -> InPart:
    if href is None:
        devs.append(Deviation("content-ref-missing", "", "attachments without a <Content href>; the first one is the content"))
        return others[0]
    ref = href.strip()
    named = location_name(ref)  # (locations are read as names: "a%20b.gif" is the part "a b.gif")
    if ref.lower().startswith("cid:"):
        cid = unquote(ref[4:].strip())
        if ref[4:5].isspace():
            devs.append(Deviation("href-form", where, f"space after cid: in {href!r}"))
        found = _by_id(others, cid, href, devs, where)
        if found:
            return found
        # Gateways that drop Content-IDs keep the name as Content-Location (Nokia's parts have only that).
        found = next((p for p in others if p.content_location and p.content_location == cid), None)
        if found:
            devs.append(Deviation("href-location", where,
                                  f"{href!r} names no Content-ID; the part with Content-Location {cid!r} is the content"))
            return found
    else:
        devs.append(Deviation("href-form", where, f"href {href!r} is not a cid: URL"))
        found = _by_id(others, ref.strip("<>"), href, devs, where) or next(
            (p for p in others if p.content_location in (ref, named)), None)
        if found:
            return found
    found = next((p for p in others if p.content_location and p.content_location in (ref, named)), None)
    if found:
        return found
    devs.append(Deviation("href-dangling", where, f"{href!r} matches no part; the first attachment is the content"))
    return others[0]


def _by_id(parts: list[InPart], cid: str, href: str, devs: list[Deviation],
           where: str) -> InPart | None:
    """The part whose Content-ID `cid` is; failing that, one it names only loosely, reported."""
    for p in parts:
        if p.content_id == cid:
            return p
    for p in parts:
        if (p.content_id or "").lower() == cid.lower():
            devs.append(Deviation("href-inexact", where,
                                  f"{href!r} matches Content-ID <{p.content_id}> only ignoring case"))
            return p
    # The reference may name a part inside a nested multipart (some send the SMIL's id).
    for p in parts:
        if p.is_multipart and any(leaf.content_id == cid for leaf in p.leaves()):
            devs.append(Deviation("href-inexact", where,
                                  f"{href!r} names a part inside the content, not the content: the multipart holding it is"))
            return p
    return None


def _content(target: InPart, others: list[InPart], devs: list[Deviation], soap_id: str | None = None) -> Content:
    # (`soap_id`: the SOAP part's Content-ID; a part of the content with it too is said, as two
    # parts sharing one are: a cid: reference to it, the href's or the SMIL's, may find either)
    soap_id = soap_id.lower() if soap_id else None
    containers = [target] + ([p for p in others if p is not target] if not target.is_multipart else [])
    for node in (n for c in containers for n in _multiparts(c)):  # (the leaves: in _part)
        _note_bare_id(node, devs)
        if soap_id and node.content_id and node.content_id.lower() == soap_id:
            devs.append(Deviation("mime-duplicate-content-id", node.path, f"Content-ID <{node.content_id}> of the SOAP part too"))
        if node not in containers:  # (a Content is one list of parts: what nests in it is said, not lost unsaid)
            devs.append(Deviation("mime-nested", node.path, f"{node.content_type} inside the content, read as its "
                                                            f"{len(node.leaves())} part(s) beside the others"))
        if node.content_type == "multipart/related" and node.children:
            start = strip_id(node.params.get("start"))
            root = next((c for c in node.children if c.content_id == start), None) if start else node.children[0]
            if root is not None:  # (a start naming no part is said as such below)
                _check_related_type(node.params.get("type"), root, node.path, devs)
    if len(containers) > 1:
        devs.append(Deviation("content-spread", "", f"{len(containers)} content parts at the top level, read as one content"))
    leaves = [leaf for c in containers for leaf in c.leaves()]
    parts = [_part(leaf, devs) for leaf in leaves]
    ids: set[str] = set()
    for leaf, part in zip(leaves, parts, strict=True):
        if part.kind == "text" and part.size <= _TEXT_CHECKED:
            _check_text(part, leaf.path, devs)
        if part.content_id:
            low = part.content_id.lower()
            if low in ids or low == soap_id:  # (a cid: finds the first: this one is shown nowhere)
                whose = "the SOAP part" if low == soap_id else "an earlier part"
                devs.append(Deviation("mime-duplicate-content-id", leaf.path, f"Content-ID <{part.content_id}> of {whose} too"))
            ids.add(low)
    smil = None
    if target.is_multipart:
        start = strip_id(target.params.get("start"))
        root = next((p for p in parts if start and p.content_id == start), None)
        if start and root is None:
            devs.append(Deviation("mime-start", target.path, f"the content's start <{start}> matches no part"))
        # The root is the presentation when it is one; a related content without SMIL has an
        # ordinary part for root (RFC 2387), which stays among the parts.
        smil = root if root is not None and root.kind == "smil" else next((p for p in parts if p.kind == "smil"), None)
    else:
        # Flat layout: the SMIL is the part the href names (alone, or with the others beside it),
        # else one beside it: parts spread at the top level are one content, its SMIL among them.
        smil = next((p for p in parts if p.kind == "smil"), None)
    smil_path = ""
    if smil is not None:
        at = parts.index(smil)
        smil_path = leaves[at].path
        del parts[at]
    content = Content(parts=parts, smil=smil, content_id=target.content_id,
                      multipart_type=target.content_type.split("/", 1)[1] if target.is_multipart else None)
    if smil is not None and smil.size <= _BLANK_CHECKED and not smil.text_value.strip():
        # (a handset's or a gateway's slip, read without a word: the parts are there; never refused)
        held = f"{smil.size} bytes of white space" if smil.size else "no bytes"
        devs.append(Deviation("smil-empty", smil_path, f"the SMIL part holds {held}, no presentation: the parts "
                                                       "are in the order they came"))
    elif smil is not None and (missing := unresolved_references(content)):
        shown = ", ".join(map(repr, missing[:_LISTED_REFERENCES]))
        more = f" and {len(missing) - _LISTED_REFERENCES} more" if len(missing) > _LISTED_REFERENCES else ""
        devs.append(Deviation("smil-dangling", smil_path, f"the SMIL refers to {shown}{more}, which no part of the "
                                                      "message is: a slide the handset showed blank"))
    return content


_BLANK_CHECKED = 64  # (a SMIL this small is read as text to find it blank; none is: "<smil/>" is the least)
_LISTED_REFERENCES = 10  # (a SMIL of a thousand references to nothing: the first ones named, the rest counted)


_TEXT_CHECKED = 256 * 1024  # text parts up to this size are decoded once on arrival, to report their charset


def _check_text(part: Part, path: str, devs: list[Deviation]) -> None:
    """Report how a text part's bytes fit its charset label (what `text_value` will make of them)."""
    try:
        _text, _codec, found = decode_part_text(part.data, part.charset, path)
    except DecodeError as exc:
        devs.append(Deviation("charset-unreadable", path, f"{exc} (text_value reads it as UTF-8 with U+FFFD)"))
        return
    devs += found


_noted_cid = "mime-content-id"


def _note_bare_id(part: InPart, devs: list[Deviation]) -> None:
    """Report a Content-ID without its angle brackets (the first one only: one slip a sender
    makes on every part), on any part: the SOAP part, a container, a leaf."""
    raw_cid = part.headers.get("content-id")
    # (a value as written, "<" first, is told without a call: this runs for every part)
    if raw_cid and raw_cid[0] != "<" and not raw_cid.strip().startswith("<") and not any(
            d.code == _noted_cid for d in devs):
        devs.append(Deviation(_noted_cid, part.path, f"Content-ID {raw_cid!r} without angle brackets"))


def _multiparts(part: InPart):
    """`part` and every multipart inside it, if it is one."""
    if part.is_multipart:
        yield part
        for child in part.children:
            yield from _multiparts(child)


def _check_related_type(type_param: str | None, root: InPart, path: str, devs: list[Deviation]) -> None:
    """RFC 2387: a multipart/related's type parameter is its root part's type (a reader may
    choose how to show the whole by it). The root is read as it is labelled; the slip is said."""
    if type_param is None:
        return
    named = parse_params(type_param)[0]
    if named and named != root.content_type:
        devs.append(Deviation("mime-related-type", path, f"multipart/related type={type_param!r}, but its root part "
                                                         f"({root.path}) is {root.content_type}"))


def _part(leaf: InPart, devs: list[Deviation]) -> Part:
    _note_bare_id(leaf, devs)
    params = leaf.params
    raw_disposition = leaf.headers.get("content-disposition")
    disposition = parse_params(raw_disposition)[1] if raw_disposition else {}
    ctype = leaf.content_type
    if ctype not in _GOOD_TYPES and not MEDIA_TYPE.fullmatch(ctype):
        # Read as the type it most likely means, so the part can be sent on as it is (forwarded).
        m = _LOOSE_TYPE.match(ctype)
        fixed = f"{m.group(1)}/{m.group(2)}" if m else "text/plain" if ctype.strip(' "') == "text" else (
            "application/octet-stream")
        devs.append(Deviation("mime-content-type", leaf.path, f"Content-Type {ctype!r} read as {fixed}"))
        ctype = fixed
    if leaf.untyped and leaf.blob is not None:
        # RFC 2045 makes a part without a Content-Type text/plain; handsets and gateways leave it
        # out of pictures, sounds and the SMIL too, which read as text no handler takes for them.
        found = sniff_blob_type(leaf.blob, disposition.get("filename") or params.get("name") or leaf.content_location)
        if found not in ("text/plain", "application/octet-stream"):
            devs.append(Deviation("mime-content-type", leaf.path, f"no Content-Type; read as {found}, as its "
                                                                  f"bytes or its name say"))
            ctype = found
    charset = params.get("charset")
    if charset is not None and not CHARSET.fullmatch(charset):
        m = CHARSET.search(charset)
        cleaned = charset.strip(' \t"')
        fixed = (cleaned if CHARSET.fullmatch(cleaned)  # the name kept (forwarded as it came)
                 else charset_codec(charset)[0] or (m.group(0) if m else None))  # "utf:8" is utf-8, not "utf"
        devs.append(Deviation("mime-charset", leaf.path, f"charset {charset!r} read as {fixed or 'none'}"))
        charset = fixed
    return Part(
        leaf.blob,
        ctype,
        charset=charset,
        content_id=leaf.content_id,
        content_location=leaf.content_location,
        filename=disposition.get("filename") or params.get("name"),
        headers=leaf.headers.as_dict(),
    )


# A request line whose spaces were lost ("POST/mm7HTTP/1.1", a specification example as typeset):
# read as the capture it is, so that what is wrong in it is what is said.
_GLUED_REQUEST_LINE = re.compile(rb"[A-Z]{3,7}/\S*HTTP/\d\.\d\Z")


def split_http(data: bytes) -> tuple[str | None, dict[str, str], bytes]:
    """A captured HTTP request or response: (start line, headers, body). Bodies of non-HTTP
    input come back unchanged with no headers."""
    first, sep, _ = data.partition(b"\n")
    line = first.strip()
    if not (line.startswith(b"HTTP/") or (line.split(b" ")[-1:] and line.split(b" ")[-1].startswith(b"HTTP/"))
            or _GLUED_REQUEST_LINE.match(line)):
        return None, {}, data
    end = data.find(b"\r\n\r\n")
    end_lf = data.find(b"\n\n")
    if end < 0 or (0 <= end_lf < end):
        end, skip = end_lf, 2
    else:
        skip = 4
    if end < 0:
        raise DecodeError("an HTTP capture without the blank line after its headers")
    headers = header_fields(data[len(first) + 1 : end].decode("latin-1").splitlines())
    return line.decode("latin-1"), headers, data[end + skip :]


# ---------------------------------------------------------------------------------------------
# What a request's HTTP headers say besides its body


_QUOTES = "\"'\u201c\u201d\u2018\u2019"  # (typographic ones from specifications copied by hand)
_OPERATIONS = {name.lower(): name for name in m.MESSAGE_TYPES}


def soap_action_deviation(value: str | None, env: soap.Envelope) -> Deviation | None:
    """A request's SOAPAction header (None: it had none) against MM7's `""`, as a `soap-action`
    deviation, or None when it is `""`. Only ever reported: MM7 is dispatched on the body, so a
    header naming another operation, or none, never changes how the body is read or whether it
    is taken (strict mode too: the header is HTTP's, not the message)."""
    if value is None:
        return Deviation("soap-action", "", 'no SOAPAction header (SOAP 1.1 wants one; MM7 sends SOAPAction: "")')
    text = value.strip()
    if text == '""':
        return None
    if not text:
        return Deviation("soap-action", "", 'an empty SOAPAction (MM7 sends SOAPAction: "")')
    said = [] if len(text) >= 2 and text[0] == text[-1] == '"' else ["is not in plain double quotes"]
    inner = text.strip(_QUOTES + " \t")
    name = re.split(r"[/#:]", inner.rstrip("/"))[-1].strip() if inner else ""
    body = "Fault" if env.is_fault else env.body.ELEMENT
    if name.lower() in _OPERATIONS:
        said.append(f"names {_OPERATIONS[name.lower()]}, but the body is a {body} (read as the body says)"
                    if _OPERATIONS[name.lower()] != body else "names the body's operation")
    elif inner and (versions.by_spelling(inner) or versions.closest_for_namespace(inner)):
        said.append("is the MM7 namespace URI")
    elif inner:
        said.append("names an action MM7 does not define")
    shown = repr(text if len(text) <= 200 else text[:200] + "...")
    return Deviation("soap-action", "", f"SOAPAction {shown} " + " and ".join(said) + '; MM7 sends SOAPAction: ""')


def content_type_deviation(content_type: str | None) -> Deviation | None:
    """A request without a Content-Type, as a `soap-content-type` deviation (None: it has one).
    `decode` reads such a body, as from a file; over HTTP it is a slip, refused when strict."""
    if (content_type or "").strip():
        return None
    return Deviation("soap-content-type", "", "the request has no Content-Type")


CONTENT_CODINGS = ("gzip", "x-gzip", "deflate")  # the Content-Encodings a request body is inflated from


def decoded_body(body: bytes, coding: str | None, limit: int) -> bytes:
    """A request body with its Content-Encoding undone (`coding` as the header says it: gzip,
    x-gzip or deflate — zlib's or raw —, several in the order applied, identity), never past
    `limit` bytes: a body that inflates further is a `LimitExceededError` however little arrived
    (a decompression bomb is stopped there, not held), one that does not inflate a `DecodeError`,
    and another coding an `UnsupportedEncodingError` (the receiver's 415). Compressed bytes are
    never read as MIME or XML."""
    codings = [c.strip().lower() for c in (coding or "").split(",")]
    applied = [c for c in codings if c and c != "identity"]
    if len(applied) > MAX_CODINGS:  # (each inflates all the others left: time quadratic in their number)
        raise DecodeError(f"the body is sent with {len(applied)} content codings, more than {MAX_CODINGS}")
    for name in reversed(applied):
        if name not in CONTENT_CODINGS:
            raise UnsupportedEncodingError(f"the body is sent with Content-Encoding {name!r}; "
                                           f"{', '.join(CONTENT_CODINGS)} are taken")
        body = inflate_body(body, name, limit)[0]
    return body


_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def request_body(body: bytes, coding: str | None, limit: int) -> tuple[bytes, Deviation | None]:
    """`decoded_body` as the receiver takes it: a body labelled with a coding but sent plain (XML or
    MIME as it stands: `Content-Encoding: utf-8` or `binary` from a client that took it for a
    charset or a transfer encoding, gzip named and not applied) is read as it came, said in a
    `content-encoding` deviation, rather than refused; anything else as `decoded_body` says."""
    try:
        return decoded_body(body, coding, limit), None
    except LimitExceededError:
        raise
    except DecodeError:
        # Text: no control byte but white space in its first 512 bytes (compressed data has dozens).
        if not body or _CONTROL.search(body, 0, 512):
            raise
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    what = "XML" if head.startswith(b"<") else "MIME" if b"--" in head else "text"
    shown = repr(coding if len(coding or "") <= 100 else coding[:100] + "...")
    return body, Deviation("content-encoding", "", f"Content-Encoding {shown}, but the body is plain {what}: "
                                                   "read as it came")


# Content codings applied to one body, one after another ("gzip, gzip"): a few at most.
MAX_CODINGS = 8
