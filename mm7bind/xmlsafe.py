"""Hardened XML reading: charset detection, DOCTYPE/entity rejection, size and nesting limits.

SOAP 1.1 forbids a DTD in a message, so any DOCTYPE is refused before the parser sees the text;
the lxml parser itself never loads DTDs, resolves entities or touches the network. Text is decoded
in Python first (GB2312 read as its superset GB18030, undeclared or mislabelled charsets recovered
with a recorded deviation) and handed to lxml as UTF-8.
"""

from __future__ import annotations

import bisect
import codecs
import encodings
import encodings.aliases
import re
import threading
from dataclasses import dataclass, field
from functools import cache, lru_cache, partial
from xml.parsers import expat

from lxml import etree

from .errors import Deviation, LimitExceededError, MalformedXMLError, XMLSecurityError


@dataclass(frozen=True)
class XmlLimits:
    """Bounds on one SOAP XML document (attachments have their own limits in the MIME codec)."""

    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 200_000
    # Characters in a namespace URI (MM7's have 78). Every element's tag carries its namespace, and
    # an element taken out of the tree a copy of it: a long one in a message of many elements cost
    # gigabytes.
    max_namespace: int = 512
    # Attributes of one element, and namespace declarations on one (each counted apart; an MM7
    # element has a handful). Hundreds of thousands on one element cost seconds in validation and
    # in reading each as an unknown attribute.
    max_attributes: int = 1000

    def __post_init__(self) -> None:
        whole_limits(self)


def whole_limits(limits, **least: int) -> None:
    """Each field of `limits` a whole number, at least 1 (or its `least`), else ValueError naming it:
    a NaN bound passed every comparison (no limit at all, without a word), a float one failed the
    request it met with a TypeError (a 500), and one below 1 refused every request."""
    import dataclasses  # noqa: PLC0415

    for f in dataclasses.fields(limits):
        value, low = getattr(limits, f.name), least.get(f.name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{type(limits).__name__}.{f.name} must be a whole number, at least {low}, "
                             f"not {value!r}")


DEFAULT_LIMITS = XmlLimits()

_UTF8_DECL = b'<?xml version="1.0" encoding="UTF-8"?>'
# Which of the first four bytes are zero → the encoding ("<" or white space is the first character).
_WIDE_WITHOUT_BOM = {(True, True, True, False): "utf-32-be", (False, True, True, True): "utf-32-le",
                     (True, False, True, False): "utf-16-be", (False, True, False, True): "utf-16-le"}
XML_DECL = re.compile(r"\A(\s*)<\?xml\b([^>]*?)\?>")  # white space before an XML declaration, its attributes
DECL_ENCODING = re.compile(r"""\bencoding\s*=\s*["']([^"']*)["']""")  # the encoding a declaration names
_VERSION = re.compile(r"""\bversion\s*=\s*["']([^"']*)["']""")
_FORBIDDEN = re.compile(r"<!(DOCTYPE|ENTITY)\b", re.IGNORECASE)
_FORBIDDEN_BYTES = re.compile(rb"<!(DOCTYPE|ENTITY)\b", re.IGNORECASE)
# libxml2, validating while it parses, joins an element's text anew at each of its pieces (a
# reference, a comment, a CDATA section): time quadratic in their number, 30 s for 4 MB of
# "&amp;". A document with more than this many is parsed plainly and its tree validated.
MAX_VALIDATED_PIECES = 10_000

# Charset names seen in MM7 traffic, mapped to the codec we decode with.
_ALIASES = {
    "gb2312": "gb18030",  # GB2312 is routinely used for GBK text; GB18030 is a superset of both
    "gb_2312-80": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "x-gbk": "gb18030",
    "gb18030": "gb18030",
    "utf8": "utf-8",
    "utf:8": "utf-8",
    "utf_8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    # UCS-2 (MMS's name for 16-bit text, in China Mobile's charset list too) is UTF-16 without
    # surrogates; both are big-endian when no byte order mark says otherwise (RFC 2781).
    "iso-10646-ucs-2": "utf-16",
    "ucs-2": "utf-16",
    "csunicode": "utf-16",
}
_STRICT_NAMES = {"utf-8", "gb2312", "gbk", "gb18030", "us-ascii", "iso-8859-1", "utf-16", "big5",
                 "iso-10646-ucs-2", "csunicode"}


def charset_codec(name: str | None) -> tuple[str | None, bool]:
    """Python codec for a declared charset name, and whether the name itself is standard."""
    if not name:
        return None, True
    key = name.strip().strip('"').lower()
    if key in _ALIASES:
        return _ALIASES[key], key in _STRICT_NAMES or key in ("gb_2312-80", "cp936")
    found = _FOUND.get(key)
    if found is not None:
        return found, True
    if not _may_look_up(key):
        return None, False
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None, False
    # Byte transforms (base64, zlib, rot13: what the codecs module itself marks as no text
    # encoding) and Python's own codecs are no character set.
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None, False
    if len(_FOUND) < 256:  # (names known are few: "utf-8" was looked up in two registries a part)
        _FOUND[key] = info.name
    return info.name, True


# Names found a charset for (`charset_codec`), kept: only those, so that a codec an application
# registers later for a name not found still is.
_FOUND: dict[str, str] = {}


def _may_look_up(key: str) -> bool:
    """Whether to ask the codec registry about a charset name. Python's encodings package keeps
    every name it was asked about and does not know, for the life of the process: a peer naming
    a new charset in each message (or one of 60 KB) grew it without end. Names of its own codecs
    are asked about; of others (a codec an application registered) the first few hundred, no name
    longer than any charset's."""
    if len(key) > _LONGEST_NAME:
        return False
    norm = encodings.normalize_encoding(key)  # (as encodings.search_function reads a name)
    aliased = encodings.aliases.aliases.get(norm) or encodings.aliases.aliases.get(norm.replace(".", "_"))
    if aliased in _python_codecs() or norm in _python_codecs() or key in _OTHER_NAMES:
        return True
    if len(_OTHER_NAMES) >= _OTHER_NAMES_MAX:
        return False
    _OTHER_NAMES.add(key)
    return True


@cache
def _python_codecs() -> frozenset[str]:
    import pkgutil  # noqa: PLC0415 (asked once, for a charset of no alias: not at every start)

    return frozenset(module.name for module in pkgutil.iter_modules(encodings.__path__))


_LONGEST_NAME = 64  # (IANA's charset names have 40 characters at most)
_OTHER_NAMES: set[str] = set()  # names of no codec of Python's asked about so far
_OTHER_NAMES_MAX = 256


# Python's own text codecs that no peer means as a charset: host names, escapes, "undefined"
# (which refuses every byte), and "charmap" (its table given by the caller: without one, Latin-1).
_NOT_CHARSETS = {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "charmap"}


def decode_text(
    data: bytes, declared: str | None, hint: str | None, where: str
) -> tuple[str, str, list[Deviation]]:
    """Decode XML/text bytes: the declared charset, else the transport's hint, else UTF-8.

    Falls back to UTF-8 and then GB18030 when the bytes do not fit the label, recording why.
    Returns the text, the codec that read it, and the deviations.
    """
    devs: list[Deviation] = []
    tried: list[str] = []
    labels = [(label, origin) for label, origin in ((declared, "declared"), (hint, "transport")) if label]
    for label, origin in labels:
        codec, standard = charset_codec(label)
        if codec is None:
            devs.append(Deviation("charset-unknown", where, f"unknown {origin} charset {label!r}"))
            continue
        if not standard:
            devs.append(Deviation("charset-name", where, f"non-standard charset name {label!r} read as {codec}"))
        if codec in tried:
            continue
        tried.append(codec)
        if codec == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            codec = "utf-16-be"  # (Python's utf-16 would take the machine's byte order)
        if codec == "gb18030":
            # GB18030 reads almost any bytes, so UTF-8 text labelled GB2312 (a common slip) would
            # come out as plausible-looking nonsense. Bytes that are valid UTF-8 with multi-byte
            # characters are, in practice, never GBK text: read them as UTF-8.
            utf8 = as_utf8_text(data)
            if utf8 is not None:
                devs.append(Deviation("charset-mismatch", where, f"{origin} charset {label!r}, but the bytes are UTF-8"))
                return utf8, "utf-8", devs
        try:
            text = data.decode(codec)
        except UnicodeError:  # (not only UnicodeDecodeError: some codecs raise their own)
            devs.append(Deviation("charset-mismatch", where, f"bytes are not valid {label} ({origin})"))
            continue
        if codec == "gb18030" and label.lower().replace("_", "") in ("gb2312",):
            try:
                data.decode("gb2312")
            except UnicodeDecodeError:
                devs.append(Deviation("charset-superset", where, "GBK/GB18030 characters in GB2312 text"))
        others = {charset_codec(other)[0] for other, _ in labels} - {None, charset_codec(label)[0]}
        if others and not data.isascii():
            devs.append(Deviation("charset-conflict", where, f"declared {declared!r} and transport {hint!r} "
                                                              f"charsets differ; the bytes read as {codec}"))
        return text, codec, devs
    for codec in ("utf-8", "gb18030"):
        if codec in tried:
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if tried:
            devs.append(Deviation("charset-mismatch", where, f"text read as {codec}"))
        elif codec != "utf-8":  # nothing named a charset, so UTF-8 was due (XML's and MM7's default)
            devs.append(Deviation("charset-undeclared", where, f"no charset named and the bytes are not UTF-8; "
                                                                f"read as {codec}"))
        return text, codec, devs
    raise MalformedXMLError(f"{where}: text is in no known character set (tried {', '.join(tried + ['utf-8', 'gb18030'])})")


def as_utf8_text(data: bytes) -> str | None:
    """`data` as UTF-8 when it is valid UTF-8 holding a character of three bytes or more (as every
    Chinese character is); None otherwise (ASCII alone proves nothing)."""
    if data.isascii():
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _WIDE.search(text) else None


_WIDE = re.compile("[\u0800-\U0010ffff]")


HARDENED = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


class _ParserPool(threading.local):
    def __init__(self) -> None:
        self.parser = etree.XMLParser(**HARDENED)


_pool = _ParserPool()


def hardened_parser() -> etree.XMLParser:
    """This thread's parser: no DTD, no entities, no network (lxml parsers are not shared)."""
    return _pool.parser


@dataclass
class ParsedXml:
    root: etree._Element
    deviations: list[Deviation]
    encoding: str  # the codec the text was read with
    valid: bool = False  # parsed by a validating parser, so schema-valid as it stands


def parse_xml(
    data: bytes,
    *,
    charset_hint: str | None = None,
    limits: XmlLimits = DEFAULT_LIMITS,
    where: str = "XML",
    validating: etree.XMLParser | None = None,
    repair_unescaped: bool = False,
) -> ParsedXml:
    """Parse untrusted XML bytes into an lxml tree, or raise a DecodeError subclass saying why.

    `validating` (a hardened parser with a schema, see validation.validating_parser) is tried
    first on well-labelled UTF-8: one pass both parses and validates, and `ParsedXml.valid` says
    the schema accepted the document as it is. Anything it refuses is parsed again as usual.

    `repair_unescaped`: a document that is not well-formed because a sender did not escape its
    values (China Mobile's SDK, with a Subject "A&B" or "<新品>") is parsed once more with what
    cannot be markup read as text (see `repair_unescaped`)."""
    if len(data) > limits.max_bytes:
        raise LimitExceededError(f"{where}: {len(data)} bytes exceeds the limit of {limits.max_bytes}")
    if not data.strip():
        raise MalformedXMLError(f"{where}: empty document")
    devs: list[Deviation] = []
    wrong_declaration = False  # one naming a 16- or 32-bit encoding on 8-bit text (lxml would heed it)
    if data.startswith(_UTF8_DECL):  # the declaration most senders write: no need to read it
        declared_bom, declared = None, "utf-8"
    else:
        if data.startswith(codecs.BOM_UTF8):
            data = data[3:]
            declared_bom = "utf-8"
        elif data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # (before UTF-16's: FF FE starts both)
            declared_bom = "utf-32"
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            declared_bom = "utf-16"
        else:
            # 16- or 32-bit text without a byte order mark: libxml2 would find its encoding from
            # the zero bytes by itself, past our byte scan for DOCTYPE; decoded here instead.
            declared_bom = _WIDE_WITHOUT_BOM.get(tuple(b == 0 for b in data[:4]))
        head = data[:400].decode("latin-1")
        m = XML_DECL.match(head)
        if m is None and declared_bom not in (None, "utf-8"):  # (a 16- or 32-bit declaration)
            m = XML_DECL.match(data[:1600].decode(declared_bom, "ignore").lstrip("\ufeff"))
        declared = declared_bom
        if m:
            _check_version(m.group(2), where, devs)
            enc = DECL_ENCODING.search(m.group(2))
            if enc and not declared_bom:
                declared = enc.group(1)
        if declared_bom in (None, "utf-8"):
            # The first characters ("<" or white space) are single bytes, so the document is in an
            # 8-bit encoding whatever its labels say: a 16- or 32-bit one begins with a byte order
            # mark or zero bytes. Vibes' callbacks declare encoding="utf-16" on UTF-8 text, which
            # read as UTF-16 makes either an error or, as often, nonsense.
            if _wide(declared):
                devs.append(Deviation("charset-mismatch", where, f"declared charset {declared!r}, "
                                                                  "but the document is in an 8-bit encoding"))
                declared, wrong_declaration = None, True
            if _wide(charset_hint):
                devs.append(Deviation("charset-mismatch", where, f"transport charset {charset_hint!r}, "
                                                                  "but the document is in an 8-bit encoding"))
                charset_hint = None
    root = None
    declarations = None  # the tree's namespace declarations, once listed
    valid = False
    used = "utf-8"
    label = (declared if declared is not None else charset_hint or "utf-8").strip().lower()
    if label == "utf-8" and not declared_bom and not data[:1].isspace() and not wrong_declaration:
        # The usual case: UTF-8 as labelled. lxml reads the bytes as they are (it checks the UTF-8).
        if b"<!" in data and _FORBIDDEN_BYTES.search(data):
            raise XMLSecurityError(f"{where}: DOCTYPE or ENTITY declarations are not allowed in SOAP messages")
        check_declarations(data, limits, where)
        if validating is not None and (data.count(b"&") + data.count(b"<!") + data.count(b"<?")
                                       > MAX_VALIDATED_PIECES):
            validating = None
        if validating is not None:
            try:
                root = etree.fromstring(data, validating)
                valid = True
            except etree.XMLSyntaxError:
                root = None  # invalid (or malformed): the plain parser and the reader's repairs decide
            if root is not None:
                declarations = _declarations(root)
                if not namespace_well_formed(root, data, declarations):
                    # libxml2 validating as it parses lets namespace errors by (an undeclared prefix, a
                    # declaration the plain parser refuses): such a document goes the plain parser's
                    # way, as any other would (namespace URIs with spaces squeezed, the rest refused).
                    root, valid, declarations = None, False, None
        if root is None:
            try:
                root = etree.fromstring(data, _pool.parser)
            except etree.XMLSyntaxError:
                root = None  # mislabelled, or malformed: the careful path below says which
        if (root is not None and charset_hint and charset_hint.strip().lower() != "utf-8"
                and charset_codec(charset_hint)[0] != "utf-8" and not data.isascii()):
            devs.append(Deviation("charset-conflict", where, f"declared {declared!r} and transport "
                                                              f"{charset_hint!r} charsets differ; the bytes read as utf-8"))
    if root is None:
        root, used = _parse_decoded(data, declared, charset_hint, where, devs, repair_unescaped, limits)
    if root is None:
        raise MalformedXMLError(f"{where}: no root element")
    # Belt and braces, whatever the scans saw: the byte scan reads ASCII, and a libxml2 built
    # with iconv reads an EBCDIC document (its "<?xm" is 4C 6F A7 94) by itself, "<!" and all
    # in other bytes. The tree says whether the parser read a DOCTYPE (a fraction of a microsecond).
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XMLSecurityError(f"{where}: DOCTYPE is not allowed in SOAP messages")
    check_shape(root, limits, where, data.count(b"<"))
    check_namespaces(root, limits, where, declarations)
    if data.count(b"=") > limits.max_attributes:  # (every attribute and declaration takes one "=")
        check_attributes(root, limits, where)
    return ParsedXml(root=root, deviations=devs, encoding=used, valid=valid)


def _wide(charset: str | None) -> bool:
    """Whether a charset name means a 16- or 32-bit encoding (UTF-16, UCS-2, UTF-32)."""
    codec = charset_codec(charset)[0]
    return codec is not None and codec.startswith(("utf-16", "utf-32"))


def _check_version(declaration: str, where: str, devs: list[Deviation]) -> None:
    """An XML declaration's version other than 1.0 (or none: it is required), read as 1.0 as
    libxml2 reads it, said: XML 1.1 rules (NEL line ends, more control characters) are not
    applied, and a document meant for them may read otherwise."""
    version = _VERSION.search(declaration)
    if version is None:
        devs.append(Deviation("xml-declaration", where, "an XML declaration without its version: read as XML 1.0"))
    elif version.group(1) != "1.0":
        devs.append(Deviation("xml-declaration", where, f"XML version {version.group(1)!r}: read as XML 1.0"))


def _parse_decoded(data: bytes, declared: str | None, charset_hint: str | None, where: str,
                   devs: list[Deviation], repair_unescaped: bool = False,
                   limits: XmlLimits = DEFAULT_LIMITS) -> tuple[etree._Element, str]:
    """Decode in Python (charset fallbacks recorded), then hand lxml clean UTF-8."""
    text, used, cs_devs = decode_text(data, declared, charset_hint, where)
    devs += cs_devs
    if _FORBIDDEN.search(text):
        raise XMLSecurityError(f"{where}: DOCTYPE or ENTITY declarations are not allowed in SOAP messages")
    check_declarations(text, limits, where)
    m = XML_DECL.match(text)
    if m:
        if m.group(1):
            devs.append(Deviation("xml-declaration", where, "whitespace before the XML declaration"))
        text = text[m.end():]
    elif text[:1].isspace():
        text = text.lstrip()
    squeezed: list[str] | None = None
    unescaped: Unescaped | None = None
    while True:  # each repair is tried at most once: three parses at most, never one per error
        try:
            root = etree.fromstring(text.encode("utf-8"), _pool.parser)
            break
        except etree.XMLSyntaxError as exc:
            if "is not a valid URI" in exc.msg and squeezed is None:
                # Well-formed XML 1.0, but a namespace URI with whitespace in it (a declaration
                # broken over lines), or an IRI (characters outside ASCII, which Namespaces 1.0
                # does not take and 1.1 does); libxml2 refuses those, so close the gaps, write
                # the IRI as the URI it maps to (RFC 3987, 3.1), and say so.
                squeezed, mapped = [], []
                text = _NS_DECL.sub(partial(_repair_ns, squeezed=squeezed, mapped=mapped), text)
                if squeezed:
                    devs.append(Deviation("namespace-whitespace", where,
                                          f"whitespace removed from {len(squeezed)} namespace URI(s)"))
                if mapped:
                    iri, uri = mapped[0]
                    more = f" (and {len(mapped) - 1} more)" if len(mapped) > 1 else ""
                    devs.append(Deviation("namespace-iri", where, f"namespace IRI {iri!r} read as the URI it maps to, "
                                                                  f"{uri!r}{more}"))
                continue
            if repair_unescaped and unescaped is None:
                text, unescaped = repair_unescaped_text(text)
                if unescaped.ampersands:
                    devs.append(Deviation("unescaped-ampersand", where, f"{unescaped.ampersands} '&' starting "
                                                                        "no character or entity reference read as text"))
                for name, count in unescaped.elements.items():
                    times = f" ({count} elements)" if count > 1 else ""
                    devs.append(Deviation("unescaped-markup", where, f"'<' in {name} read as text{times}"))
                if unescaped:
                    continue
            if exc.msg.startswith("Excessive depth in document"):  # (libxml2 stops at 256, before our check)
                raise LimitExceededError(f"{where}: elements nested deeper than {min(limits.max_depth, 256)}") from None
            after = f" (after reading {unescaped} as text)" if unescaped else ""
            after += _prefixes_told(exc.msg, text)
            if text.startswith("&lt;"):  # (copied from a web page)
                after += " (the text starts '&lt;': its markup is escaped as in HTML)"
            raise MalformedXMLError(f"{where}: not well-formed XML: {exc.msg}{after}") from None
    return root, used


_MISMATCH = re.compile(r"Opening and ending tag mismatch: ([\w.-]+) line (\d+) and ([\w.-]+), line (\d+)")


def _prefixes_told(msg: str, text: str) -> str:
    """What libxml2's "tag mismatch: TransactionID line 3 and TransactionID" leaves out, the prefixes
    that differ (`<mm7:TransactionID>` closed by `</TransactionID>`, the Rel-5 examples' slip)."""
    m = _MISMATCH.match(msg)
    if m is None or m.group(1) != m.group(3):
        return ""
    lines = text.split("\n")
    name, opened, closed = re.escape(m.group(1)), int(m.group(2)) - 1, int(m.group(4)) - 1
    start = re.findall(rf"<((?:[\w.-]+:)?{name})\b", lines[opened]) if opened < len(lines) else []
    end = re.findall(rf"</((?:[\w.-]+:)?{name})\s*>", lines[closed]) if closed < len(lines) else []
    if not start or not end or start[-1] == end[0]:
        return ""
    return f" (<{start[-1]}> closed by </{end[0]}>)"


# An "&" that starts no reference: not followed by a name or a character number and ";". One that
# does ("&nbsp;", "&xxe;") is left alone, so a reference to an entity no DTD declares is still
# refused by the parser as it is.
_REFERENCE = r"(?:[^\W\d][\w.:-]*;|:[\w.:-]*;|#[0-9]+;|#x[0-9A-Fa-f]+;)"
_BARE_AMPERSAND = re.compile(f"&(?!{_REFERENCE})")
# Markup whose inside is not character data, and where it ends.
_MARKUP_ENDS = (("<![CDATA[", "]]>"), ("<!--", "-->"), ("<?", "?>"))
# The rest of a start or end tag after its "<": quoted attribute values may hold ">".
_TAG_REST = re.compile(r"""[^>"']*+(?:(?:"[^"]*+"|'[^']*+')[^>"']*+)*+>""")
_START_TAG = re.compile(r"<((?:[\w.-]+:)?([\w.-]+))(?:\s[^>]*)?>")
# Elements of free text, typed in by people, that hold no markup: a "<" in one that is not
# well-formed as it stands ("<新品>", "a<b", "Li <li@example.com>") is text.
FREE_TEXT = frozenset({"Subject", "RFC2822Address", "StatusText", "faultstring"})
# What needs no repair, scanned in C: character data without a bare "&", references, closed
# CDATA sections, comments and processing instructions, and tags but those that may start an
# element of free text (each looked at as `repair_unescaped_text` says). It stops at a bare "&",
# at such a tag, and at markup never closed.
_AS_IT_IS = re.compile(
    r"(?:[^<&]++|&" + _REFERENCE + r"|<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>"
    r"|<(?!!\[CDATA\[|!--|\?|(?:[\w.-]+:)?(?:" + "|".join(sorted(FREE_TEXT)) + r")[\s>])" + _TAG_REST.pattern + ")++")
# A start tag of an element of free text without quotes (so without a quoted ">").
_FREE_START = re.compile(r"<((?:[\w.-]+:)?(" + "|".join(sorted(FREE_TEXT)) + r"))(?:\s[^>\"']*)?>")
# An end tag of an element of free text (wherever it is: a CDATA section's text ends one too), and
# its name as written.
_FREE_END_TAG = re.compile(r"</((?:[\w.-]+:)?(?:" + "|".join(sorted(FREE_TEXT)) + r"))\s*>")


@dataclass
class Unescaped:
    """What `repair_unescaped_text` read as text."""

    ampersands: int = 0
    elements: dict[str, int] = field(default_factory=dict)  # element name → how many had "<" read as text

    def __bool__(self) -> bool:
        return bool(self.ampersands or self.elements)

    def __str__(self) -> str:
        said = [f"{self.ampersands} bare '&'"] if self.ampersands else []
        return ", ".join(said + [f"'<' in {name}" for name in self.elements])


def repair_unescaped_text(text: str) -> tuple[str, Unescaped]:
    """`text` with what a sender that does not escape values (China Mobile's SDK) left unescaped
    written as XML wants it, and what that was:

    * an "&" of character data that starts no reference becomes "&amp;" — no well-formed document
      has one, and nothing is declared or expanded;
    * in an element of free text (`FREE_TEXT`) whose content is not well-formed as it stands, each
      "<" becomes "&lt;" (a "<" elsewhere cannot be told from markup).

    Attribute values, CDATA sections, comments and processing instructions are left as they are,
    and so is the rest of a document once a piece of markup is not closed. One pass over the text,
    what needs no repair scanned in C, each free-text element checked once."""
    out: list[str] = []
    found = Unescaped()
    ends: dict[str, list[int]] | None = None  # where each free-text element's end tags start
    checked = 0  # the end of the last content checked well-formed: what is inside it, checked too
    i, n = 0, len(text)
    while i < n:
        m = _AS_IT_IS.match(text, i)
        if m:
            out.append(m.group())
            i = m.end()
            if i == n:
                break
        lt = text.find("<", i)
        if lt != i:  # a bare "&": the character data up to the next markup, repaired
            data, k = _escape_bare_ampersands(text[i:] if lt < 0 else text[i:lt])
            found.ampersands += k
            out.append(data)
            if lt < 0:
                break
            i = lt
            continue
        # A tag that may start an element of free text, or markup never closed.
        tag = _FREE_START.match(text, lt)  # (the usual tag: no quotes, the end found as the next does)
        if tag:
            end = tag.end()
        else:
            for opening, closing in _MARKUP_ENDS:
                if text.startswith(opening, lt):
                    end = text.find(closing, lt + len(opening))
                    end = -1 if end < 0 else end + len(closing)
                    break
            else:
                m = _TAG_REST.match(text, lt + 1)
                end = m.end() if m else -1
            if end < 0:  # markup never closed: leave the rest as it is (the parser will say why)
                out.append(text[lt:])
                break
            tag = _START_TAG.fullmatch(text, lt, end)
        out.append(text[lt:end])
        i = end
        if tag and tag.group(2) in FREE_TEXT and text[end - 2] != "/" and lt >= checked:
            if ends is None:
                ends = {}
                for e in _FREE_END_TAG.finditer(text):
                    ends.setdefault(e.group(1), []).append(e.start())
            after = ends.get(tag.group(1), ())
            at = bisect.bisect_left(after, end)
            if at == len(after):
                continue
            close = after[at]
            inner = text[end:close]
            if "<" not in inner:
                continue
            # (an "&" alone, the usual scan reads; CDATA content is opaque, so "&amp;" written
            # into one here changes no verdict)
            inner, k = _escape_bare_ampersands(inner)
            if _well_formed_content(inner):
                checked = close
            else:
                found.ampersands += k
                found.elements[tag.group(2)] = found.elements.get(tag.group(2), 0) + 1
                out.append(inner.replace("<", "&lt;"))
                i = close
    return "".join(out), found


def _escape_bare_ampersands(data: str) -> tuple[str, int]:
    """`data` with each "&" that starts no reference written "&amp;", and how many. A substitution
    holds each piece of its result apart until it joins them (50 bytes apiece): over a long text
    of many it is made in pieces, each ending before an "&" (no reference holds one), so what it
    holds is bounded, where 4 MB of "a&b" held 100 MB."""
    if len(data) <= _ESCAPED_AT_ONCE:
        return _BARE_AMPERSAND.subn("&amp;", data)
    pieces, count, start = [], 0, 0
    while start < len(data):
        cut = data.find("&", start + _ESCAPED_AT_ONCE)
        cut = len(data) if cut < 0 else cut
        piece, k = _BARE_AMPERSAND.subn("&amp;", data[start:cut])
        pieces.append(piece)
        count += k
        start = cut
    return "".join(pieces), count


_ESCAPED_AT_ONCE = 64 * 1024  # characters


# A "<" that starts no markup in element content, as a person's text writes one ("a<b", "x < y",
# "Li <li@example.com>"): one followed by what begins no name, "/", "!" or "?"; one whose tag
# meets another "<" or the end before its ">"; one whose ASCII name runs into a character no tag
# has after one (a character from U+0080 on may be a name's: left to the parser). Only where no
# comment, CDATA section or processing instruction could hold it.
_NO_MARKUP = re.compile(r"<(?:(?![A-Za-z_:/!?\x80-\U0010ffff])|[^<>]*+(?:<|\Z)"
                        r"|/?[A-Za-z_:][A-Za-z0-9_:.\-]*+[^A-Za-z0-9_:.\-\s/>\x80-\U0010ffff])")


def _well_formed_content(inner: str) -> bool:
    """Whether `inner` is well-formed as the content of an element (namespaces aside: a prefix
    declared further out is not declared here)."""
    if "<" in inner and "<!" not in inner and "<?" not in inner and ("/" not in inner or _NO_MARKUP.search(inner)):
        # (said without a parser: a parser made and failing for each of 180,000 such Subjects
        # took 0.8 s, nearly half of their repair. Without a "/", no tag is ever closed: "<新品>".)
        return False
    parser = expat.ParserCreate()  # (no namespace processing; element content cannot hold a DTD)
    try:
        parser.Parse("<x>" + inner + "</x>", True)
    except expat.ExpatError:
        return False
    return True


class ThreadXPath(threading.local):
    """An XPath compiled once in each thread that evaluates it: lxml lets one XPath object
    evaluate in one thread at a time (a lock), so one shared by a server's threads would queue
    them, each wait a hand-over of the GIL."""

    def __init__(self, path: str, **kwargs) -> None:
        self.xpath = etree.XPath(path, **kwargs)

    def __call__(self, node, **variables):
        return self.xpath(node, **variables)


@cache
def _depth_probe(depth: int) -> ThreadXPath:
    # An element exists at depth `depth` iff this path matches; evaluated in C.
    return ThreadXPath("boolean(/" + "/".join(["*"] * depth) + ")")


_COUNT = ThreadXPath("count(//*)")


# A name that is no QName: an element or attribute whose prefix no declaration binds (libxml2
# keeps "p:name" in no namespace), or one with two colons (kept whole, in the default namespace).
# (Two searches: one for elements and their attributes together costs more.)
_COLON_IN_NAME = ThreadXPath("boolean(descendant-or-self::*[contains(local-name(), ':')])"
                             " or boolean(descendant-or-self::*/@*[contains(local-name(), ':')])")


def _declarations(root: etree._Element) -> list[tuple[str, str]]:
    """Every namespace declaration in the tree, as (prefix, URI)."""
    return [item for _event, item in etree.iterwalk(root, events=("start-ns",))]


def namespace_well_formed(root: etree._Element, data: bytes, declarations: list[tuple[str, str]]) -> bool:
    """Whether a tree from the validating parser, read from `data` (its `declarations`), holds
    nothing the plain parser would refuse: every name a QName, every prefix used declared, every
    declaration one it takes. A declaration it refuses outright (the reserved xml and xmlns
    prefixes and names, a prefix bound to "") it leaves out of the tree: the bytes then say
    "xmlns" more often than the tree has declarations (so does a text that says it, read as
    the plain parser reads it, a little slower). Of two attributes of one element naming one
    attribute under two prefixes of one namespace it keeps the first: a document giving a
    namespace two prefixes is read as the plain parser reads it too."""
    if data.count(b"xmlns") != len(declarations):
        return False
    prefixed = {(prefix, uri) for prefix, uri in declarations if prefix}
    if len({uri for _, uri in prefixed}) != len(prefixed):
        return False
    for prefix, uri in declarations:  # (a loop, not all() of a generator: this runs for every message)
        if not declaration_readable(prefix or None, uri):
            return False
    if len(data) > _WALK_BYTES:
        return not _COLON_IN_NAME(root)
    # A small tree is walked here rather than searched by XPath: about as fast, and the GIL is
    # kept (an XPath evaluation releases it, and a server thread then waits to get it back).
    for el in root.iter(etree.Element):
        if ":" in el.tag.rpartition("}")[2]:
            return False
        for name in el.keys():  # noqa: SIM118 (an element iterates over its children)
            if ":" in name.rpartition("}")[2]:
                return False
    return True


_WALK_BYTES = 8192  # (MM7 envelopes: 1-3 KB)


@lru_cache(maxsize=256)
def declaration_readable(prefix: str | None, namespace: str) -> bool:
    """Whether the plain parser takes a declaration of `namespace` (libxml2 refuses a URI with
    spaces, quotes or characters outside ASCII, an empty one for a prefix, a rebound xml prefix)."""
    name = f"xmlns:{prefix}" if prefix else "xmlns"
    try:
        etree.fromstring(f'<a {name}="{escape_attribute(namespace)}"/>'.encode(), _pool.parser)
    except etree.XMLSyntaxError:
        return False
    return True


def check_namespaces(root: etree._Element, limits: XmlLimits, where: str,
                     declarations: list[tuple[str, str]] | None = None) -> None:
    """Refuse a namespace URI longer than `limits.max_namespace`: every tag read carries it, and
    every element taken out of the tree a copy (each declaration is looked at once; `declarations`:
    the tree's, when they were listed already)."""
    for _prefix, uri in declarations if declarations is not None else _declarations(root):
        if len(uri) > limits.max_namespace:
            raise LimitExceededError(f"{where}: a namespace URI longer than {limits.max_namespace} characters")


_MANY_ATTRIBUTES = ThreadXPath("boolean(//*[count(@*) > $n])")


def check_attributes(root: etree._Element, limits: XmlLimits, where: str) -> None:
    """Refuse an element with more than `limits.max_attributes` attributes (in C: an XPath)."""
    if _MANY_ATTRIBUTES(root, n=limits.max_attributes):
        raise LimitExceededError(f"{where}: an element with more than {limits.max_attributes} attributes")


_PIECE, _PIECE_BYTES = re.compile("<[^<]*"), re.compile(b"<[^<]*")


def check_declarations(doc: bytes | str, limits: XmlLimits, where: str) -> None:
    """Refuse, before parsing, a start tag with more than `limits.max_attributes` namespace
    declarations: lxml lists an element's declarations in time quadratic in their number (6 s for
    the 300,000 a 4 MB body holds). A tag ends before the next "<" (no attribute value holds one);
    "xmlns" in the text after it counts too, which no real message has a thousand of."""
    pieces, xmlns = (_PIECE, "xmlns") if isinstance(doc, str) else (_PIECE_BYTES, b"xmlns")
    if doc.count(xmlns) > limits.max_attributes and any(  # (pieces found one at a time: none held)
            doc.count(xmlns, *piece.span()) > limits.max_attributes for piece in pieces.finditer(doc)):
        raise LimitExceededError(f"{where}: an element with more than {limits.max_attributes} "
                                 "namespace declarations")


def check_shape(root: etree._Element, limits: XmlLimits, where: str, tags: int | None = None) -> None:
    """Depth and element count within limits. `tags` (how many "<" the document's bytes hold)
    skips the checks it cannot fail: every element takes one "<", and n levels of nesting at least
    2n - 1 (every start tag but the innermost has its end tag)."""
    if tags is None or tags >= 2 * (limits.max_depth + 1) - 1:
        if _depth_probe(limits.max_depth + 1)(root):
            raise LimitExceededError(f"{where}: elements nested deeper than {limits.max_depth}")
    if tags is None or tags > limits.max_elements:
        if _COUNT(root) > limits.max_elements:
            raise LimitExceededError(f"{where}: more than {limits.max_elements} elements")


# A namespace declaration and its quoted value (one way to match each: linear time, where a value
# "with whitespace inside" as a pattern backtracked over every space of one not closed as opened).
_NS_DECL = re.compile(r"""(\bxmlns(?::[\w.-]+)?\s*=\s*)(?:"([^"]*)"|'([^']*)')""")
_SPACE = re.compile(r"\s+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _repair_ns(mt: re.Match, squeezed: list[str], mapped: list[tuple[str, str]]) -> str:
    quote = '"' if mt.group(2) is not None else "'"
    value = original = mt.group(2) if mt.group(2) is not None else mt.group(3)
    if _SPACE.search(value):
        squeezed.append(value)
        value = _SPACE.sub("", value)
    if not value.isascii():
        value = _NON_ASCII.sub(lambda c: "".join(f"%{b:02X}" for b in c.group(0).encode("utf-8", "surrogatepass")),
                               value)
        mapped.append((original, value))
    return mt.group(0) if value == original else mt.group(1) + quote + value + quote


NOT_IN_XML = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff"  # (a character class's ranges)
_XML_INVALID = re.compile(f"[{NOT_IN_XML}]")


def escape_text(text: str) -> str:
    # The escapes libxml2 writes, so both engines give identical bytes (CR would be lost otherwise).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def escape_attribute(text: str) -> str:
    return (escape_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;"))


# A character `escape_text` (or `escape_attribute`) rewrites, or one XML cannot carry: text with
# none of them is written as it is, found in one search instead of a search and the replacements.
_TEXT_NOT_AS_IS = re.compile(f"[&<>\r{NOT_IN_XML}]")
_ATTRIBUTE_NOT_AS_IS = re.compile(f'[&<>\r"\n\t{NOT_IN_XML}]')
# (bound searches, not functions: these run for every value written; a match or None)
escapes_or_invalid_in_text = _TEXT_NOT_AS_IS.search  # None: `text` is its own escaped form, and valid
escapes_or_invalid_in_attribute = _ATTRIBUTE_NOT_AS_IS.search  # the same for an attribute value


def invalid_xml_char(text: str) -> str | None:
    """The first character XML 1.0 cannot carry, if any."""
    m = _XML_INVALID.search(text)
    return m.group(0) if m else None


def printable_in_xml(text: str) -> str:
    """`text` with each character XML 1.0 cannot carry written out as an escape (\\x07, \\ud800).
    Error messages quote what peers sent; a Fault carrying one must still be valid XML."""
    return _XML_INVALID.sub(lambda m: m.group(0).encode("unicode_escape", "backslashreplace").decode("ascii"), text)
