"""SOAP 1.1 envelopes carrying MM7: a message or a Fault to bytes, and bytes back (sans I/O).

Encoding goes neutral message → generated classes → xsdata serializer: schema order, escaping and
namespaces come out right by construction. Decoding parses with the hardened reader, repairs what
real peers get wrong (`tolerance`), validates the repaired envelope against the caller's schema
version, and reads it with the generated classes of the newest schema (a superset of the others).
Every repair and every remaining schema violation is listed on the result; strict mode refuses any.
"""

from __future__ import annotations

import codecs
import copy
import re
from dataclasses import dataclass, field
from datetime import tzinfo
from functools import cache
from typing import NamedTuple
from xml.etree.ElementTree import QName as ETQName

from lxml import etree
from xsdata.exceptions import ConverterError, ParserError
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.formats.dataclass.parsers.handlers import LxmlEventHandler
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig
from xsdata.formats.dataclass.serializers.writers import DEFAULT_XML_WRITER

from . import binding, gbk, lexical, versions
from . import messages as m
from .errors import (
    DecodeError,
    Deviation,
    EncodeError,
    NotSOAPError,
    UnknownNamespaceError,
    UnsupportedOperationError,
    ValidationError,
    refusable,
)
from .hints import suggest_keywords
from .status import fault_code as status_fault_code
from .tolerance import (
    SOAP_ENCODING_STYLE,
    Collector,
    Normalizer,
    decode_encoded_words,
    is_mm7_namespace,
    keep_extension,
    keep_extension_attribute,
    move_to_extras,
    take_out,
    version_of_namespace,
)
from .validation import has_extension_points, readable_path, validate_element, validating_parser
from .versions import MM7_NS_BASE, SOAP_NS, Version
from .xmlsafe import (
    DEFAULT_LIMITS,
    ThreadXPath,
    XmlLimits,
    declaration_readable,
    hardened_parser,
    invalid_xml_char,
    parse_xml,
)

SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
# Envelope namespaces seen instead of SOAP 1.1's (the Rel-5 spec examples, SOAP 1.2).
WRONG_SOAP_NS = {
    "http://schemas.xmlsoap.org/soap/soap-envelope": "the TS 23.140 Rel-5 examples' misspelt SOAP namespace",
    SOAP12_NS: "SOAP 1.2 namespace",
}
# Fault detail element names seen instead of the schema's (interop quirk: vendor-prefixed names).
DETAIL_ALIASES = {"MM7RSErrorRsp": "RSErrorRsp", "MM7VASPErrorRsp": "VASPErrorRsp"}
# A Fault whose only status is a code at the start of faultstring ("3001", "3001 Server busy").
_STATUS_IN_STRING = re.compile(r"([1-4]\d{3})(?!\d)\W*(.*)", re.DOTALL)


@suggest_keywords
@dataclass(frozen=True)
class XmlStyle:
    """How the XML looks on the wire; all choices are schema-valid."""

    envelope_prefix: str = "env"  # env | soap-env | SOAP-ENV | soap | soapenv
    mm7_prefix: str | None = None  # None: MM7 as the default namespace; "mm7": prefixed elements
    encoding: str = "UTF-8"  # XML declaration and bytes: UTF-8, GB2312, GBK, GB18030
    xml_declaration: bool = True
    must_understand: bool = True  # env:mustUnderstand="1" on TransactionID (if its schema declares it)
    timezone: tzinfo | None = None  # datetimes written in this zone; None keeps theirs (naive = local)
    drop_unsupported: bool = False  # drop fields the target version lacks instead of refusing

    def __post_init__(self) -> None:
        for prefix in (self.envelope_prefix, self.mm7_prefix or "mm7"):
            if not prefix or not prefix.replace("-", "").replace("_", "").replace(".", "").isalnum() or not (
                prefix[0].isalpha() or prefix[0] == "_"
            ) or prefix.lower().startswith("xml"):
                raise ValueError(f"{prefix!r} is not a valid XML namespace prefix")
        if self.mm7_prefix == self.envelope_prefix:
            raise ValueError("the MM7 prefix must differ from the envelope prefix")
        codecs.lookup(self.encoding)  # unknown encodings fail here, not on the first message


@dataclass
class Fault:
    """A SOAP 1.1 Fault; `detail` holds RSErrorRsp (from the MMSC) or VASPErrorRsp (from the VASP)."""

    # Client (the request was wrong) or Server: SOAP's codes by their local name, a code of
    # another namespace as "{namespace}local"
    code: str = "Server"
    string: str = ""
    actor: str | None = None
    detail: m.RSErrorRsp | m.VASPErrorRsp | None = None
    detail_text: str | None = None  # free text a peer put in <detail> (read only: not schema-valid)
    # A status a peer gave only as a code in faultstring (read only: never written as a detail).
    string_status: m.Status | None = None

    @property
    def status(self) -> m.Status | None:
        """The MM7 status: the detail's, else a code that starts the faultstring; None without either."""
        return self.detail.status if self.detail is not None else self.string_status


@dataclass
class Envelope:
    """A decoded SOAP message."""

    transaction_id: str | None
    body: m.Message | Fault
    version: Version | None  # schema version of the MM7 content (answer in this one)
    deviations: list[Deviation] = field(default_factory=list)
    encoding: str = "utf-8"
    # The MM7 namespace as the sender wrote it, where that is not `version`'s (another spelling of
    # it, or a version we do not know): an answer goes in it, as the sender may compare strings.
    namespace: str | None = None

    @property
    def is_fault(self) -> bool:
        """Whether the body is a SOAP Fault."""
        return isinstance(self.body, Fault)

    @property
    def message(self) -> m.Message | None:
        """The body's MM7 message; None for a Fault."""
        return None if isinstance(self.body, Fault) else self.body


# ---------------------------------------------------------------------------------------------
# Encoding


class _Writer(DEFAULT_XML_WRITER):
    def add_attribute(self, qname: str, value, root: bool = False) -> None:
        # xsdata names an xsi:type value as the attribute comes, and only then undeclares the
        # default namespace for an unqualified element: a type in that namespace would be named
        # unprefixed, in no namespace. Undeclared first, it gets a prefix.
        self.reset_default_namespace()
        super().add_attribute(qname, value, root)


@cache
def _serializer(encoding: str, declaration: bool) -> XmlSerializer:
    config = SerializerConfig(encoding=encoding, xml_declaration=declaration, ignore_default_attributes=True)
    return XmlSerializer(context=binding.CONTEXT, config=config, writer=_Writer)


def _soap_module():
    import importlib  # noqa: PLC0415

    return importlib.import_module("mm7bind.generated.soapenv")


def transaction_id_text(value: object) -> str | None:
    """A TransactionID as it goes out: text as given, a whole number (a sender's counter) as its
    digits, None as None. Anything else is refused: written as str() makes it ("b'abc'", "True",
    "12.5"), the MMSC took the message and its answer, echoing that, was taken for another
    request's."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise EncodeError(f"a TransactionID is text or a whole number, not {type(value).__name__} "
                      f"({repr(value)[:60]})")


def encode(
    body: m.Message | Fault,
    *,
    transaction_id: str,
    version: Version | str,
    style: XmlStyle = XmlStyle(),
    validate: bool | str = True,
    engine: str = "direct",
    content_ref: m.ContentRef | None = None,
    namespace: str | None = None,
    _addresses_checked: bool = False,
) -> bytes:
    """The SOAP envelope for `body` in `version`, as bytes in `style.encoding`.

    What leaves here is valid: either every value was proven against the schema's own types as it
    was written (lexical.py; the structure comes from the schema's layouts), or the document is
    checked against the version's schema (xsdata does not enforce patterns or number ranges).
    `validate="always"` checks every document; `validate=False` skips the check for trusted hot paths.
    `engine="xsdata"` goes through the generated dataclasses and xsdata's serializer (the
    reference); the default writes the same document directly from the same walk, several times faster.
    `content_ref` replaces the message's own (the codec points it at the content part).
    `namespace` writes the MM7 elements in that namespace instead of `version`'s (an answer in the
    caller's spelling of it, `Envelope.namespace`); the document is checked as `version`'s.
    (`_addresses_checked`: the codec's, which refused every address holding a character this
    refuses, and more, as it checked a request's: not looked at again.)
    """
    version = versions.get(version)
    if namespace == version.namespace:
        namespace = None
    elif namespace is not None and (not isinstance(namespace, str) or invalid_xml_char(namespace) is not None
                                    or not declaration_readable("mm7", namespace)):
        raise EncodeError(f"{namespace!r} is not a namespace URI an XML parser takes")
    if not isinstance(body, (m.Message, Fault)):
        raise TypeError(f"cannot encode {type(body).__name__}: expected an MM7 message or a Fault")
    # An answer echoes the request's TransactionID, and one that came empty or without any is
    # echoed empty: a placeholder ("0") would claim an id the caller never used. A request of ours
    # always has one.
    answer = isinstance(body, Fault) or not body.IS_REQUEST
    tid = transaction_id_text(transaction_id)
    if tid is None or tid.isspace() or (not tid and not answer):
        raise EncodeError("a TransactionID is required")
    if tid.strip() != tid:
        raise EncodeError(f"TransactionID {transaction_id!r} has white space around it, which readers strip "
                          "(ours too): answers would not match it")
    texts = [("TransactionID", tid)]
    if isinstance(body, Fault):
        texts += [("faultcode", body.code), ("faultstring", body.string), ("faultactor", body.actor or "")]
    for where, text in texts:
        if (bad := invalid_xml_char(text)) is not None:
            raise EncodeError(f"{where}: character U+{ord(bad):04X} cannot be sent in XML")
    if isinstance(body, m.Message) and not _addresses_checked and not m.sendable_addresses(body):  # (else none holds one: one search)
        # Told by the name the caller gave it (to[2]), which its place in the XML does not say.
        for where, text in m.address_fields(body):
            if (bad := invalid_xml_char(text)) is not None:
                raise EncodeError(f"{where}: the address {text!r} holds character U+{ord(bad):04X}, "
                                  "which XML cannot carry")
    options = _options(style.timezone, style.drop_unsupported)
    # A Fault's detail resets the default namespace; a prefix reads better there.
    mm7_prefix = style.mm7_prefix or ("mm7" if isinstance(body, Fault) else None)
    label = charset_label(style.encoding)
    proven = False
    if engine == "xsdata":
        data = _encode_objects(body, tid, version, style, options, mm7_prefix, label, content_ref)
    elif engine == "direct":
        text, proven = _encode_text(body, tid, version, style, options, mm7_prefix, content_ref)
        head = f'<?xml version="1.0" encoding="{label}"?>\n' if style.xml_declaration else ""
        data = _in_encoding(head + text, style.encoding)
        # (a reference where a name held the character would be malformed: the check says so)
        proven = proven and not _references_needed(text, style.encoding)
    else:
        raise ValueError(f"unknown engine {engine!r} (direct or xsdata)")
    if validate == "always" or (validate and not proven):
        checked = _as_parsers_read_it(data, style)
        try:
            etree.fromstring(checked, validating_parser(version))
        except etree.XMLSyntaxError as exc:
            try:
                issues = validate_element(etree.fromstring(checked, hardened_parser()), version) or [exc.msg]
            except etree.XMLSyntaxError as malformed:  # (not well-formed: nothing to validate)
                issues = [malformed.msg]
            raise EncodeError(f"the {_kind(body)} would not be valid {version.name}: " + "; ".join(map(str, issues))) from None
    if namespace is not None:  # (the same document, checked above, declaring the other namespace)
        text, _ = _encode_text(body, tid, version, style, options, mm7_prefix, content_ref, namespace)
        head = f'<?xml version="1.0" encoding="{label}"?>\n' if style.xml_declaration else ""
        data = _in_encoding(head + text, style.encoding)
    return data


# Characters Python's GB2312 codec writes as bytes that GBK and GB18030 read as others (see gbk):
# they go as character references, which every reader takes alike.
_AMBIGUOUS = {"gb2312": gbk.AMBIGUOUS_IN_GB2312}


@cache
def _ambiguous_in(encoding: str) -> re.Pattern | None:
    return _AMBIGUOUS.get(codecs.lookup(encoding).name)


def _references_needed(text: str, encoding: str) -> bool:
    ambiguous = _ambiguous_in(encoding)
    return ambiguous is not None and ambiguous.search(text) is not None


def _in_encoding(text: str, encoding: str) -> bytes:
    """`text` in `encoding`, a character it lacks (or writes ambiguously) as a character reference;
    EncodeError for one in a name (a vendor's element or attribute name), which takes none."""
    ambiguous = _ambiguous_in(encoding)
    if ambiguous is None or ambiguous.search(text) is None:
        try:
            return text.encode(encoding)
        except UnicodeEncodeError:
            pass
    _check_names(text, encoding, ambiguous)
    if ambiguous is not None:
        text = ambiguous.sub(lambda c: f"&#{ord(c.group())};", text)
    return text.encode(encoding, errors="xmlcharrefreplace")


# Our markup as both engines write it: "<" and ">" only around tags (escaped in text and in
# attribute values), each attribute value quoted; what is left of a tag without them is its names.
_TAG = re.compile(r"<[^>]*>")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_NAME_AROUND = r"[^\s</>=]*"


_REFERENCE = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);")


def _check_names(text: str, encoding: str, ambiguous: re.Pattern | None) -> None:
    """EncodeError for a name holding a character `encoding` lacks (or writes ambiguously), or
    holding a character reference already (xsdata's serializer writes one for such a character)."""
    for tag in _TAG.finditer(text):
        names = _QUOTED.sub(" ", tag.group())
        if (ref := _REFERENCE.search(names)) is not None:
            names = _REFERENCE.sub(lambda r: chr(int("0" + r[1], 0) if r[1][0] == "x" else int(r[1])), names)
            bad = chr(int("0" + ref[1], 0) if ref[1][0] == "x" else int(ref[1]))
        elif ambiguous is not None and (found := ambiguous.search(names)) is not None:
            bad = found.group()
        else:
            try:
                names.encode(encoding)
                continue
            except UnicodeEncodeError as exc:
                bad = names[exc.start]
        name = re.search(_NAME_AROUND + re.escape(bad) + _NAME_AROUND, names).group()
        raise EncodeError(f"the name {name!r} cannot be written in {charset_label(encoding)}: a name takes no "
                          f"character reference for U+{ord(bad):04X} (UTF-8 or GB18030 write it)")


def _as_parsers_read_it(data: bytes, style: XmlStyle) -> bytes:
    """The document as a parser reads it on its own: without a declaration, bytes in another
    encoding than UTF-8 are named only by the charset parameter that carries them, so the same
    text is checked in UTF-8 (read as they are, they are malformed from the first such character)."""
    if style.xml_declaration or codecs.lookup(style.encoding).name == "utf-8":
        return data
    return data.decode(style.encoding).encode("utf-8")


@cache
def _options(timezone: tzinfo | None, drop_unsupported: bool) -> binding.EncodeOptions:
    return binding.EncodeOptions(timezone=timezone, drop_unsupported=drop_unsupported)


# The IANA preferred MIME names `charset_label` gives (lower case): a label Python reads as one of
# these (`latin-1`, `ascii`, `sjis`, `cp1252`, `euc_cn`) goes out under it. Others it gives (CP850,
# CP949, UTF-8-SIG) are Python's names, no IANA one: a label read as those goes as written.
PREFERRED_MIME_NAMES = frozenset(name.lower() for name in (
    "US-ASCII", "UTF-8", "UTF-7", "UTF-16", "UTF-16BE", "UTF-16LE", "UTF-32", "UTF-32BE", "UTF-32LE",
    *(f"ISO-8859-{n}" for n in range(1, 17) if n != 12), *(f"windows-125{n}" for n in range(9)),
    "GBK", "GB2312", "GB18030", "HZ-GB-2312", "Big5", "Big5-HKSCS", "Shift_JIS", "EUC-JP", "ISO-2022-JP",
    "EUC-KR", "ISO-2022-KR", "KOI8-R", "KOI8-U", "TIS-620", "macintosh", "IBM866", "IBM437"))


@cache
def charset_label(encoding: str) -> str:
    """The IANA name for the XML declaration and the charset parameters: Python's codec names and
    aliases are not all IANA's ("ascii", "utf8", "cp936")."""
    label = codecs.lookup(encoding).name.upper().replace("_", "-")
    if label.startswith("ISO8859-"):
        return "ISO-8859-" + label[8:]
    if label.startswith(("UTF-16-", "UTF-32-")):
        return label[:6] + label[7:]  # UTF-16BE
    if label.startswith("CP125"):
        return "windows-" + label[2:]
    if label.startswith("ISO2022-"):
        return "ISO-2022-" + label[8:]  # ISO-2022-JP
    return {"ASCII": "US-ASCII", "SHIFT-JIS": "Shift_JIS", "BIG5HKSCS": "Big5-HKSCS", "HZ": "HZ-GB-2312",
            "MAC-ROMAN": "macintosh", "CP866": "IBM866", "CP437": "IBM437",
            "UTF-8-SIG": "UTF-8"}.get(label, label)  # (UTF-8 after a byte order mark: no charset of its own)


def _encode_objects(body, transaction_id, version, style, options, mm7_prefix, label, content_ref) -> bytes:
    soap = _soap_module()
    if isinstance(body, Fault):
        content = _fault_objects(soap, body, version, options)
    else:
        content = binding.to_generated(body, version, options, content_ref)
    envelope = soap.Envelope(
        header=soap.Header(other_element=[binding.transaction_id(version, transaction_id, style.must_understand)]),
        body=soap.Body(any_element=[content]),
    )
    text = _serializer(label, style.xml_declaration).render(
        envelope, ns_map={style.envelope_prefix: SOAP_NS, mm7_prefix: version.namespace}
    )
    if "&#" in text:  # (the serializer wrote a character the encoding lacks as a reference: in a name?)
        _check_names(text, style.encoding, None)
    return _in_encoding(text, style.encoding)


def _encode_text(body, transaction_id, version, style, options, mm7_prefix, content_ref,
                 declared: str | None = None) -> tuple[str, bool]:
    """The envelope's text, and whether all of it is proven valid as written (Faults never are).
    `declared`: the namespace declared for the MM7 elements, if not `version`'s."""
    env = style.envelope_prefix
    builder, head, middle, tail = _frame(env, version.namespace, mm7_prefix or "", declared)
    header = binding.transaction_id(version, transaction_id, style.must_understand, builder)
    if isinstance(body, Fault):
        content, proven = _fault_text(body, env, builder, version, options), False
    else:
        content, proven = binding.write_text(body, version, builder, options, content_ref)
        if proven:
            check = _transaction_id_check(version)
            proven = check is not None and check(transaction_id)
    return f"{head}{header}{middle}{content}{tail}", proven


def _frame(env: str, ns: str, mm7_prefix: str, declared: str | None = None) -> tuple[binding.TextBuilder, str, str, str]:
    """The text builder for these prefixes, and the envelope's markup around the header and body
    (the same for every message written this way); `declared` is declared for `ns` when given."""
    if declared is None:
        return _standard_frame(env, ns, mm7_prefix)
    builder = binding.text_builder((SOAP_NS, env), (ns, mm7_prefix))
    return (builder, *_markup(env, binding.escape_attribute(declared), mm7_prefix))


@cache
def _standard_frame(env: str, ns: str, mm7_prefix: str) -> tuple[binding.TextBuilder, str, str, str]:
    return (binding.text_builder((SOAP_NS, env), (ns, mm7_prefix)), *_markup(env, ns, mm7_prefix))


def _markup(env: str, ns: str, mm7_prefix: str) -> tuple[str, str, str]:
    declare = f'xmlns:{env}="{SOAP_NS}" ' + (f'xmlns:{mm7_prefix}="{ns}"' if mm7_prefix else f'xmlns="{ns}"')
    return (f"<{env}:Envelope {declare}><{env}:Header>", f"</{env}:Header><{env}:Body>",
            f"</{env}:Body></{env}:Envelope>")


def _transaction_id_check(version: Version):
    """The schema's check of a TransactionID in `version` (looked up by the object itself: hashing a
    Version costs more than the rest of the lookup)."""
    found = _TRANSACTION_ID_CHECKS.get(id(version))
    if found is None or found[0] is not version:
        found = _TRANSACTION_ID_CHECKS[id(version)] = (version, lexical.checks(version)[0].get("TransactionID"))
    return found[1]


_TRANSACTION_ID_CHECKS: dict[int, tuple[Version, object]] = {}


def _fault_text(fault: Fault, env: str, builder: binding.TextBuilder, version: Version, options) -> str:
    esc = binding.escape_text
    code = fault.code
    if code.startswith("{"):  # a code in another namespace: declared where it is used
        ns, _, local = code[1:].partition("}")
        prefix = builder.prefixes.get(ns)
        if prefix:
            code_xml = f"<faultcode>{prefix}:{esc(local)}</faultcode>"
        else:
            code_xml = f'<faultcode xmlns:ns2="{binding.escape_attribute(ns)}">ns2:{esc(local)}</faultcode>'
    else:
        code_xml = f"<faultcode>{env}:{esc(code)}</faultcode>"
    out = [code_xml, f"<faultstring>{esc(_fault_string(fault))}</faultstring>"]
    if fault.actor is not None:
        out.append(f"<faultactor>{esc(fault.actor)}</faultactor>")
    detail = _detail_to_write(fault)
    if detail is not None:
        out.append(f"<detail>{binding.to_text(detail, version, builder, options)}</detail>")
    return f"<{env}:Fault>{''.join(out)}</{env}:Fault>"


def _fault_string(fault: Fault) -> str:
    return fault.string or (fault.status.text if fault.status else fault.code)


def _detail_to_write(fault: Fault) -> m.RSErrorRsp | m.VASPErrorRsp | None:
    """The error response written in the Fault's detail. `detail_text` beside it (a peer's words,
    read from a Fault that is now passed on) goes in its Status/Details, the schema's place for
    free text, where that is empty; text beside the error response is not schema-valid, and
    leaving it out would lose what the peer said without a word."""
    if fault.detail is None and fault.detail_text:
        raise EncodeError("free text in a Fault detail is not schema-valid; use faultstring or an error response")
    if fault.detail is not None and not isinstance(fault.detail, (m.RSErrorRsp, m.VASPErrorRsp)):
        raise EncodeError("a Fault detail must be an RSErrorRsp or a VASPErrorRsp")
    if fault.detail is None or not fault.detail_text or not fault.detail_text.strip():
        return fault.detail
    status = fault.detail.status
    if status.details is not None or status.details_xml is not None:
        raise EncodeError(f"the Fault's detail_text {fault.detail_text!r} has no schema-valid place: the "
                          f"{fault.detail.ELEMENT}'s Status/Details, where free text goes, holds "
                          f"{status.details_xml or status.details!r}; put the text in details, or set detail_text "
                          "to None to leave it out")
    detail = copy.copy(fault.detail)
    detail.status = copy.copy(status)
    detail.status.details = fault.detail_text
    return detail


def _kind(body: m.Message | Fault) -> str:
    return "Fault" if isinstance(body, Fault) else body.ELEMENT


def _fault_objects(soap, fault: Fault, version: Version, options: binding.EncodeOptions):
    code = fault.code if fault.code.startswith("{") else f"{{{SOAP_NS}}}{fault.code}"
    detail = _detail_to_write(fault)
    if detail is not None:
        detail = soap.Detail(any_element=[binding.to_generated(detail, version, options)])
    return soap.Fault(faultcode=ETQName(code), faultstring=_fault_string(fault), faultactor=fault.actor, detail=detail)


# ---------------------------------------------------------------------------------------------
# Decoding


def decode(
    data: bytes,
    *,
    strict: bool = False,
    charset_hint: str | None = None,
    limits: XmlLimits = DEFAULT_LIMITS,
    engine: str = "direct",
    expect: str | None = None,
) -> Envelope:
    """Read a SOAP envelope carrying MM7. Tolerant by default; `strict` refuses any deviation.

    `engine="xsdata"` reads the repaired tree with xsdata's parser into the generated classes
    (the reference); the default reads the same tree directly, with the same converters.
    `expect` names the response the caller's request calls for ("SubmitRsp"): only with it is a
    Body holding a response's children without the response element around them (the Rel-5
    specification's SubmitRsp example) read, as that response.
    """
    if engine not in ("direct", "xsdata"):
        raise ValueError(f"unknown engine {engine!r} (direct or xsdata)")
    if expect is not None and expect not in m.MESSAGE_TYPES:
        raise ValueError(f"expect: {expect!r} is not an MM7 operation")
    sniffed = _sniff_version(data)
    parsed = parse_xml(data, charset_hint=charset_hint, limits=limits, where="SOAP envelope",
                       validating=validating_parser(sniffed) if sniffed is not None else None,
                       repair_unescaped=True)
    dev = Collector()
    dev.extend(parsed.deviations)
    # (validating while parsing does not check that each xs:ID, an address id, is unique: a
    # document with ids is read as one not known valid, and the tolerant reading checks the tree)
    # (parsed valid: UTF-8, where an id attribute is written "id=", maybe spaced: looked for in the tree only then)
    valid_as = sniffed if parsed.valid and not (_MAY_HAVE_IDS(data) and _HAS_IDS(parsed.root)) else None
    reader = _Reader(parsed.root, dev, engine, valid_as, expect)
    env = reader.read()
    env.encoding = parsed.encoding
    env.deviations = dev.result()
    if strict and (refused := refusable(env.deviations)):
        raise ValidationError.refusing(refused, "deviation(s) from the schema", env)
    return env


_MM7_NS = MM7_NS_BASE.encode("ascii")
_HAS_IDS = ThreadXPath("boolean(//@id)")
_MAY_HAVE_IDS = re.compile(rb"id\s*=").search


def _sniff_version(data: bytes) -> Version | None:
    """The version whose namespace is the only MM7 namespace the bytes mention, if any: the
    document can then be validated while it is parsed (most are valid as sent)."""
    i = data.find(_MM7_NS)
    if i < 0:
        return None
    j = i + len(_MM7_NS)
    ends = [e for e in (data.find(b'"', j, j + 64), data.find(b"'", j, j + 64)) if e >= 0]
    if not ends:
        return None
    ns = data[i : min(ends)]
    k = data.find(_MM7_NS, j)
    while k >= 0:
        if not data.startswith(ns, k) or data[k + len(ns) : k + len(ns) + 1] not in (b'"', b"'"):
            return None
        k = data.find(_MM7_NS, k + len(ns))
    return versions.by_namespace(ns.decode("latin-1"))


class _Name(NamedTuple):
    namespace: str | None
    localname: str


_NAMES: dict[str, _Name] = {}


def _qname(el: etree._Element) -> _Name:
    """(namespace, local name) of an element: lxml's QName, without building one per look."""
    tag = el.tag
    name = _NAMES.get(tag)
    if name is None:
        if len(_NAMES) > 4096:  # tags come from peers: keep the memo bounded
            _NAMES.clear()
        ns, _, local = tag[1:].partition("}") if tag[:1] == "{" else (None, "", tag)
        name = _NAMES[tag] = _Name(ns, local)
    return name


_ENVELOPE, _HEADER, _BODY = (f"{{{SOAP_NS}}}{n}" for n in ("Envelope", "Header", "Body"))


def _mm7_status(el: etree._Element | None) -> etree._Element | None:
    """`el` when it is an MM7 Status (in an MM7 namespace, or in none), else None."""
    if el is None or not isinstance(el.tag, str):
        return None
    name = _qname(el)
    return el if name.localname == "Status" and (name.namespace is None or is_mm7_namespace(name.namespace)) else None


def _out_of_namespace(el: etree._Element, namespace: str) -> None:
    """`el` and the elements inside it in `namespace` put in no namespace, in place."""
    for node in el.iter():
        if isinstance(node.tag, str) and _qname(node).namespace == namespace:
            node.tag = _qname(node).localname


def _soap12_text(el: etree._Element | None, child: str) -> str:
    """The text of a SOAP 1.2 Fault part's first `child` (Reason's Text), or ""."""
    found = _soap12_child(el, child)
    return "" if found is None else "".join(found.itertext())


def _soap12_child(el: etree._Element | None, child: str) -> etree._Element | None:
    """A SOAP 1.2 Fault part's first `child` (Code's Value or Subcode), in any namespace, or None."""
    if el is None:
        return None
    return next((c for c in el if isinstance(c.tag, str) and _qname(c).localname == child), None)


def _collapsed(text: str | None) -> str:
    """`text` as XSD's whiteSpace="collapse" reads it (xs:QName, xs:anyURI): XML's white space
    characters alone, not every character Python calls a space."""
    return " ".join(_XML_SPACE.split(text or "")).strip(" ")


_XML_SPACE = re.compile(r"[ \t\r\n]+")


def _detail_text(detail_el: etree._Element, error_rsp: etree._Element | None = None) -> str | None:
    """The text of a Fault's detail beside its error response `error_rsp` (or all of it, without
    one); None for white space alone. A text alone is read as sent, as faultstring and
    Status/Details are: its white space may be the peer's layout (a stack trace, lines of a table).
    Beside elements (another application's, or the error response), each text goes on a line of its
    own, without the white space around it: run together, the entries
    ``<code>E42</code><reason>disk full</reason>`` read "E42disk full"."""
    if not any(isinstance(child.tag, str) for child in detail_el):
        text = "".join(detail_el.itertext())
        return text if text.strip() else None
    pieces = [detail_el.text]
    for child in detail_el:
        if child is not error_rsp:  # (the error response's own words are its status')
            pieces.extend(child.itertext() if isinstance(child.tag, str) else ())
        pieces.append(child.tail)
    return "\n".join(piece.strip() for piece in pieces if piece and piece.strip()) or None


def _drop_encoding_style(el: etree._Element | None) -> None:
    """SOAP's encodingStyle taken off an element of the envelope: SOAP 1.1 allows it on any element,
    the envelope schema (which admits only other namespaces' attributes on Envelope, Header and
    Fault) does not; a header entry keeps it (TransactionID declares it)."""
    if el is not None and SOAP_ENCODING_STYLE in el.attrib:
        del el.attrib[SOAP_ENCODING_STYLE]


def _attributes_renamed(root: etree._Element, old: str, new: str) -> None:
    """Every attribute in namespace `old` moved to `new`, in place (their order kept)."""
    prefix = f"{{{old}}}"
    for el in root.iter():
        if isinstance(el.tag, str) and any(name.startswith(prefix) for name in el.attrib):
            items = [(f"{{{new}}}{k[len(prefix):]}" if k.startswith(prefix) else k, v) for k, v in el.attrib.items()]
            el.attrib.clear()
            el.attrib.update(items)


_MUST_UNDERSTAND = f"{{{SOAP_NS}}}mustUnderstand"
_ACTOR = f"{{{SOAP_NS}}}actor"
_NEXT = "http://schemas.xmlsoap.org/soap/actor/next"
_MUST_UNDERSTAND_IGNORED = (" marked mustUnderstand for us and not understood: ignored (SOAP 1.1, 4.2.3, refuses the "
                            "message with a MustUnderstand Fault, as the receiver does)")


def _asks_to_be_understood(entry: etree._Element) -> bool:
    """Whether a header entry is marked mustUnderstand="1" for its ultimate recipient (no actor, or
    the next one): SOAP 1.1 has such an entry obeyed or the message refused. ("true", SOAP 1.2's
    spelling and not SOAP 1.1's, means it as plainly.)"""
    return ((entry.get(_MUST_UNDERSTAND) or "").strip() in ("1", "true")
            and entry.get(_ACTOR, _NEXT).strip() == _NEXT)


class _Reader:
    def __init__(self, root: etree._Element, dev: Collector, engine: str = "direct", valid_as: Version | None = None,
                 expect: str | None = None):
        self.root = root
        self.dev = dev
        self.engine = engine
        self.valid_as = valid_as  # the version whose schema accepted the tree while it was parsed
        self.expect = expect  # the response the caller's request calls for, if known
        self.namespaces_met: set[str] = set()
        self.surplus: list[m.VendorElement] = []  # copies the message holds one of (`keep_one`)
        self.faultcode_missing = False  # a Fault without faultcode: its status's, once read, gives it

    def version_of(self, namespace: str, path: str) -> Version | None:
        """The version of an MM7 namespace; how it was read is reported where it is first met (the
        header and the body in one odd namespace are one slip)."""
        version, devs = version_of_namespace(namespace)
        if namespace not in self.namespaces_met:
            self.namespaces_met.add(namespace)
            for d in devs:
                self.dev.add(d.code, path, d.message)
        return version

    def read(self) -> Envelope:
        env = self.read_plain() if self.valid_as is not None else None
        if env is None:
            env = self.read_any()
        self.check_mm7_version(env)
        return env

    def check_mm7_version(self, env: Envelope) -> None:
        """An MM7Version of a later release than the namespace's (6.3.0 in a REL-5 namespace) is
        one no schema of the namespace's release lists, whatever a reconstructed x.y.z pattern
        takes: reported, the message read in its namespace's version. One of the same release
        later than the namespace is known to go with (6.5.0 in REL-6-MM7-1-0) is reported where
        the pairing is confirmed (`versions.later_than_paired`), and never refused: real traffic
        pairs the two loosely."""
        body = env.body.detail if isinstance(env.body, Fault) else env.body
        if body is None or env.version is None:
            return
        value = (body.mm7_version or "").strip()
        said = versions.release_of(value)
        # (a namespace we know spelt otherwise, "….xsd" say, is of its version's release)
        release = versions.namespace_release(env.namespace, env.version)
        where = "/Envelope/Body/Fault/detail/" if isinstance(env.body, Fault) else "/Envelope/Body/"
        if said == release and env.version.release == release and (
                env.namespace is None or versions.by_spelling(env.namespace) is env.version):
            # (a namespace we do not know, read as its release's newest, says nothing of its pairing)
            why = versions.later_than_paired(env.version, value)
            if why is not None:
                self.dev.add("mm7version-pairing", f"{where}{body.ELEMENT}/MM7Version",
                             f"MM7Version {value} with namespace {env.namespace or env.version.namespace}: {why}")
            return
        if versions.later_release(value, env.version, env.namespace) is None:
            return
        self.dev.add("mm7version-namespace", f"{where}{body.ELEMENT}/MM7Version",
                     f"MM7Version {value} is of Release {said}, the namespace "
                     f"{env.namespace or env.version.namespace} of Release {release}")

    def read_plain(self) -> Envelope | None:
        """The envelope as we and most peers write it — Header with one TransactionID, Body with one
        MM7 request or response, all in the version the schema accepted while parsing — read
        without the checks `read_any` makes for everything else; None for anything else."""
        root, ns = self.root, self.valid_as.namespace
        if root.tag != _ENVELOPE or len(root) != 2:
            return None
        header, body = root
        if header.tag != _HEADER or body.tag != _BODY or len(header) != 1 or len(body) != 1:
            return None
        tid_el, el = header[0], body[0]
        if tid_el.tag != f"{{{ns}}}TransactionID" or len(tid_el) or not isinstance(el.tag, str):
            return None
        tid = tid_el.text
        name = _qname(el)
        if not tid or tid.strip() != tid or name.namespace != ns or name.localname not in m.MESSAGE_TYPES:
            return None
        if self.valid_as.element_class(name.localname) is None:
            return None
        ncls, gen_cls = self.classes(el)
        try:
            message = self.bind(el, ncls, gen_cls, self.valid_as)
        except DecodeError:
            return None  # a valid value Python cannot hold: `read_any` repairs what it can
        message.extras = self.surplus
        return Envelope(tid, message, self.valid_as)

    def read_any(self) -> Envelope:
        root = self.root
        qn = _qname(root)
        if qn.localname != "Envelope":
            err = NotSOAPError(f"the document is not a SOAP envelope (root element {qn.localname})")
            err.root = qn.localname
            raise err
        self.soap_element(root, "/Envelope")
        header = body = None
        for child in root:
            cq = _qname(child)
            if cq.localname == "Header" and header is None and body is None:
                header = child
            elif cq.localname == "Body" and body is None:
                body = child
            else:
                continue
            self.soap_element(child, f"/Envelope/{cq.localname}")
        if body is None:
            raise NotSOAPError("the SOAP envelope has no Body")
        for el in (root, header, body):
            _drop_encoding_style(el)
        tid_el = self.transaction_element(header)
        content = [c for c in body if isinstance(c.tag, str)]
        if not content:
            raise NotSOAPError("the SOAP Body holds no MM7 element")
        if _qname(content[0]).localname == "MM7Version":
            content = [self.unwrapped(body, content)]
        if len(content) > 1:
            self.dev.add("extra-body-element", "/Envelope/Body", f"{len(content) - 1} more element(s) after the first ignored")
            extras = content[1:]
            del content[1:]
            while extras:  # (one at a time: each removed element holds copies of the namespaces it used)
                take_out(extras.pop())
        first = content[0]
        header_version = self.header_version(tid_el)
        if _qname(first).localname == "Fault" and (
            _qname(first).namespace in (SOAP_NS, *WRONG_SOAP_NS) or _qname(first).namespace is None
        ):
            self.soap_element(first, "/Envelope/Body/Fault")
            _drop_encoding_style(first)
            fault, mm7_el, version = self.fault(first, header_version)
        else:
            fault = None
            version = self.locate(first, header_version)
            mm7_el = first
        body_ns = _qname(mm7_el).namespace if mm7_el is not None else None
        # (before transaction_value puts the header in `version`'s namespace)
        sent_ns = body_ns or (_qname(tid_el).namespace if tid_el is not None and version is not None else None)
        transaction_id = self.transaction_value(tid_el, version, body_ns)
        if mm7_el is not None:
            source_ns = body_ns
            if source_ns != version.namespace:
                mm7_el.tag = f"{{{version.namespace}}}{_qname(mm7_el).localname}"
            ncls, gen_cls = self.classes(mm7_el)
            if version.element_class(ncls.ELEMENT) is None:
                # Lax envelope validation would skip an element the version does not declare.
                self.dev.add("not-in-version", f"/Envelope/Body/{ncls.ELEMENT}", f"{ncls.ELEMENT} is not defined in {version.name}")
        # A valid document needs no repair: only what fails validation is normalised and re-checked.
        # Without a deviation so far the tree is as parsed, so a parse-time validation in this
        # version stands.
        if self.valid_as is not None and version is self.valid_as and not self.dev:
            issues = []
        else:  # (with an MM7 element to repair, only whether there is anything to repair counts here)
            issues = validate_element(self.root, version or versions.latest(), limit=1 if mm7_el is not None else None)
        extras: list[m.VendorElement] = []
        normalized = bool(issues and mm7_el is not None)
        if normalized:
            normalizer = Normalizer(version.namespace, self.dev, source_ns)
            normalizer.run(mm7_el, gen_cls)
            extras = normalizer.extras
            issues = validate_element(self.root, version or versions.latest())
        for issue in issues:
            self.dev.add("schema", issue.path, issue.message, issue.raw)
        namespace = _as_sent(sent_ns, version)
        if mm7_el is None:
            return Envelope(transaction_id, fault, version, namespace=namespace)
        try:
            message = self.bind(mm7_el, ncls, gen_cls, version)
        except DecodeError:
            if normalized:
                raise
            # Valid in the schema yet not readable into Python values (a date in the year 10000):
            # the normaliser leaves such values out, with a deviation.
            normalizer = Normalizer(version.namespace, self.dev, _qname(mm7_el).namespace)
            normalizer.run(mm7_el, gen_cls)
            extras = normalizer.extras
            message = self.bind(mm7_el, ncls, gen_cls, version)
        message.extras = extras + self.surplus
        if fault is not None:
            fault.detail = message
            self.with_status_code(fault)
            return Envelope(transaction_id, fault, version, namespace=namespace)
        return Envelope(transaction_id, message, version, namespace=namespace)

    # -- envelope ------------------------------------------------------------------------------

    def soap_element(self, el: etree._Element, path: str) -> None:
        ns = _qname(el).namespace
        if ns == SOAP_NS:
            return
        if ns in self.namespaces_met:  # (reported where first met, the Envelope)
            pass
        elif ns == SOAP12_NS:  # (a receiver refuses it: VersionMismatch)
            self.dev.add("soap-version", path, f"SOAP 1.2 envelope ({ns}) read as SOAP 1.1")
        elif ns in WRONG_SOAP_NS:
            self.dev.add("soap-namespace", path, f"{WRONG_SOAP_NS[ns]} ({ns}) read as SOAP 1.1")
            if ns != SOAP12_NS:  # (its env:mustUnderstand, env:actor are SOAP 1.1's too, misspelt with it)
                _attributes_renamed(self.root, ns, SOAP_NS)
        elif ns is None:
            self.dev.add("soap-namespace", path, "SOAP element in no namespace read as SOAP 1.1")
        else:
            raise NotSOAPError(f"{path} is in namespace {ns}, not SOAP 1.1")
        if ns is not None:
            self.namespaces_met.add(ns)
        el.tag = f"{{{SOAP_NS}}}{_qname(el).localname}"

    def transaction_element(self, header: etree._Element | None) -> etree._Element | None:
        if header is None:
            self.dev.add("missing-transaction-id", "/Envelope", "no SOAP Header, so no TransactionID")
            return None
        found = None
        for child in header:
            if not isinstance(child.tag, str):
                continue
            name = _qname(child)
            if name.localname == "TransactionID" and found is None:
                found = child
            elif name.localname != "TransactionID" and _asks_to_be_understood(child):
                # (a second TransactionID is one we understand, and ignore)
                self.dev.add("must-understand", f"/Envelope/Header/{name.localname}",
                             f"header entry {etree.QName(*name).text if name.namespace else name.localname}"
                             + _MUST_UNDERSTAND_IGNORED)
            else:
                self.dev.add("unknown-header", f"/Envelope/Header/{name.localname}", "header entry ignored")
        if found is None:
            self.dev.add("missing-transaction-id", "/Envelope/Header", "no TransactionID in the SOAP Header")
        return found

    def header_version(self, tid_el: etree._Element | None) -> Version | None:
        if tid_el is None:
            return None
        ns = _qname(tid_el).namespace
        return None if ns is None else self.version_of(ns, "/Envelope/Header/TransactionID")

    def transaction_value(self, tid_el: etree._Element | None, version: Version | None,
                          body_ns: str | None = None) -> str | None:
        if tid_el is None:
            return None
        path = "/Envelope/Header/TransactionID"
        ns = _qname(tid_el).namespace
        # Compared as sent: an invented namespace in both places is one namespace, though read as
        # a known version. A body in no namespace has no namespace to differ in: only where it was
        # read in another version than the header's (an extendedCancelReq under a REL-6-MM7-1-0
        # TransactionID) is that said, as what it is.
        if ns is None:
            self.dev.add("unqualified-header", path, "TransactionID in no namespace (SOAP needs qualified headers)")
        elif body_ns is not None and ns != body_ns:
            self.dev.add("header-namespace", path, f"TransactionID in {ns}, the body in {body_ns}")
        elif body_ns is None and version is not None and version_of_namespace(ns)[0] is not version:
            self.dev.add("header-namespace", path, f"TransactionID in {ns}, the body in no namespace, "
                                                   f"read as {version.name}")
        if version is not None and ns != version.namespace:
            tid_el.tag = f"{{{version.namespace}}}TransactionID"
        if len(tid_el):
            self.dev.add("unexpected-text", path, "child elements inside TransactionID ignored")
            raw = "".join(tid_el.itertext())
        else:
            raw = tid_el.text or ""
        value = raw.strip()
        if value != raw:
            self.dev.add("whitespace", path, "whitespace around the TransactionID removed")
            for child in list(tid_el):
                tid_el.remove(child)
            tid_el.text = value
        if not value:
            self.dev.add("missing-transaction-id", path, "empty TransactionID")
        return value or None

    def unwrapped(self, body: etree._Element, content: list[etree._Element]) -> etree._Element:
        """The response element the Rel-5 specification's SubmitRsp example leaves out (MM7Version,
        Status and MessageID directly in the Body), put back around its children: the children do
        not say which response they are, so only a caller that knows what it asked may read them."""
        names = ", ".join(dict.fromkeys(_qname(c).localname for c in content))
        if self.expect is None or any(_qname(c).localname in m.MESSAGE_TYPES for c in content):
            raise UnsupportedOperationError(
                f"the SOAP Body holds {names} without the operation element around them; "
                "only the sender of the request can tell which response this is")
        wrapper = etree.Element(etree.QName(_qname(content[0]).namespace, self.expect).text
                                if _qname(content[0]).namespace else self.expect)
        body.insert(body.index(content[0]), wrapper)
        wrapper.extend(content)  # (moved, not copied)
        self.dev.add("missing-body-element", f"/Envelope/Body/{self.expect}",
                     f"{names} directly in the Body, read as the {self.expect} the request calls for")
        return wrapper

    # -- MM7 content ---------------------------------------------------------------------------

    def locate(self, el: etree._Element, header_version: Version | None) -> Version:
        qn = _qname(el)
        if qn.localname not in m.MESSAGE_TYPES:
            # (the misnamed error responses are met in a Fault's detail, and outside one from HTTP 200 senders)
            alias = DETAIL_ALIASES.get(qn.localname) or next(
                (k for k in m.MESSAGE_TYPES if k.lower() == qn.localname.lower()), None)
            if alias is None:
                ns = f" in {qn.namespace}" if qn.namespace else ""
                raise UnsupportedOperationError(f"{qn.localname}{ns} is not an MM7 operation")
            self.dev.add("element-name", f"/Envelope/Body/{qn.localname}", f"read as {alias}")
            el.tag = etree.QName(qn.namespace, alias).text if qn.namespace else alias
        return self.content_version(el, header_version)

    def content_version(self, el: etree._Element, header_version: Version | None) -> Version:
        qn = _qname(el)
        path = f"/Envelope/Body/{qn.localname}"
        if qn.namespace is None:
            version, why = header_version, "the TransactionID's namespace"
            # (not a TransactionID's version that lacks the operation: an extendedCancelReq under a
            # REL-6-MM7-1-0 one is read in a schema that has it, as one without a TransactionID is)
            lacking = version is not None and qn.localname in m.MESSAGE_TYPES and version.element_class(qn.localname) is None
            if version is None or lacking:
                mm7v = next((c.text for c in el if _qname(c).localname == "MM7Version"), None)
                # (of the schemas that have the operation: 6.3.0 alone names REL-6-MM7-1-0, which has
                # no extendedCancelReq)
                version, why = versions.reading_of_mm7_version((mm7v or "").strip(), qn.localname)
                if version is None:
                    version, why = versions.latest(), f"the newest ({why})"
                if lacking:
                    why += f"; the TransactionID's namespace, {header_version.name}'s, has no {qn.localname}"
            self.dev.add("unqualified-body", path, f"MM7 element in no namespace read as {version.name}, {why}")
            return version
        version = self.version_of(qn.namespace, path)
        if version is None:
            raise UnknownNamespaceError(f"{qn.localname} is in namespace {qn.namespace}, which is not an MM7 namespace")
        return version

    def classes(self, el: etree._Element) -> tuple[type, type]:
        name = _qname(el).localname
        gen_cls = versions.latest().element_class(name)
        if gen_cls is None:
            raise UnsupportedOperationError(f"{name} is not an MM7 operation")
        return m.MESSAGE_TYPES[name], gen_cls

    def fault(
        self, el: etree._Element, header_version: Version | None
    ) -> tuple[Fault, etree._Element | None, Version | None]:
        fault = Fault(code="", string="")
        parts: dict[str, etree._Element] = {}
        for child in el:
            if not isinstance(child.tag, str):
                continue
            cq = _qname(child)
            path = f"/Envelope/Body/Fault/{cq.localname}"
            if cq.namespace is not None and not (cq.localname == "Status" and is_mm7_namespace(cq.namespace)):
                self.dev.add("qualified-fault-child", path, f"{cq.localname} should be unqualified")
                child.tag = cq.localname
            _drop_encoding_style(child)
            parts.setdefault(cq.localname, child)
        code_el = parts.get("faultcode")
        # A SOAP 1.2 Fault (read as 1.1, with its deviation) says its code in Code/Value and its
        # words in Reason/Text: a Sender fault read as the default "Server" was sent again.
        soap12_code = self.soap12_code(parts.get("Code"))
        if (code_el is None or not (code_el.text or "").strip()) and soap12_code:
            fault.code = soap12_code
        elif code_el is None or not (code_el.text or "").strip():
            self.dev.add("fault-missing", "/Envelope/Body/Fault", "no faultcode")
            # (without a status too, "Server" leaves retrying to the HTTP status, as the sender's
            # "Client" would not; with one, the status decides, and gives the code: `with_status_code`)
            fault.code = "Server"
            self.faultcode_missing = True
        else:
            raw = _collapsed(code_el.text)  # (an xs:QName)
            namespace, local = self.resolved_qname(code_el, raw, "/Envelope/Body/Fault/faultcode")
            # A code of another namespace is valid SOAP 1.1 and means what that namespace says:
            # kept qualified, so that it is not taken for SOAP's Client or Server.
            fault.code = local if namespace is None else f"{{{namespace}}}{local}"
            prefix = raw.rpartition(":")[0]
            if namespace is None and not (prefix and code_el.nsmap.get(prefix) == SOAP_NS):
                self._soap_qname(code_el, local)  # (as SOAP's, for the schema check that follows)
        # faultstring is an xs:string: read as sent; faultactor an xs:anyURI, its white space collapsed.
        string_el = parts.get("faultstring")
        if string_el is None and "Reason" in parts:
            fault.string = _soap12_text(parts["Reason"], "Text")
        elif string_el is None:
            self.dev.add("fault-missing", "/Envelope/Body/Fault", "no faultstring")
        else:
            fault.string = "".join(string_el.itertext())
        actor_el = parts.get("faultactor")
        if actor_el is not None:
            fault.actor = _collapsed(actor_el.text) or None
        mm7_el = None
        version = header_version
        detail_el = parts.get("detail", parts.get("Detail"))  # (SOAP 1.2's name)
        where = "in detail"
        if _mm7_status(parts.get("Status")) is not None and (
                detail_el is None or not any(isinstance(c.tag, str) for c in detail_el)):
            if detail_el is None:  # (where detail would be: put in one, as meant)
                detail_el = etree.SubElement(el, "detail")
            detail_el.append(parts["Status"])
            where = "directly in Fault"
        if detail_el is not None:
            for child in detail_el:
                if not isinstance(child.tag, str):
                    continue
                cq = _qname(child)
                if cq.namespace is not None and not is_mm7_namespace(cq.namespace):
                    if cq.localname not in DETAIL_ALIASES and cq.localname not in ("RSErrorRsp", "VASPErrorRsp"):
                        continue  # (another application's detail entry: valid SOAP, not ours to read)
                    # An error response in no MM7 namespace (SOAP's, inherited from a default
                    # declaration, or a vendor's): its status says whether to send again, so it
                    # is read as one in no namespace is, in the header's version or its MM7Version's.
                    self.dev.add("detail-namespace", f"/Envelope/Body/Fault/detail/{cq.localname}",
                                 f"{cq.localname} in {cq.namespace}, not an MM7 namespace: read as MM7")
                    _out_of_namespace(child, cq.namespace)
                    cq = _qname(child)
                if cq.localname in DETAIL_ALIASES:
                    alias = DETAIL_ALIASES[cq.localname]
                    self.dev.add("element-name", f"/Envelope/Body/Fault/detail/{cq.localname}", f"read as {alias}")
                    child.tag = etree.QName(cq.namespace, alias).text if cq.namespace else alias
                    cq = _qname(child)
                if cq.localname in ("RSErrorRsp", "VASPErrorRsp"):
                    mm7_el = child
                    version = self.content_version(child, header_version)
                    break
            status_el = next((c for c in detail_el if _mm7_status(c) is not None), None) if mm7_el is None else None
            if status_el is not None:
                mm7_el = self.status_alone(status_el, where)
                version = self.content_version(mm7_el, header_version)
            # (text beside the error response is the peer's words too: "disk full<RSErrorRsp>")
            fault.detail_text = _detail_text(detail_el, mm7_el)
        if mm7_el is None and (found := _STATUS_IN_STRING.fullmatch(fault.string.strip())):
            # Without it a client would go by the HTTP 500 alone and retry a permanent refusal.
            code, text = found.groups()
            fault.string_status = m.Status(int(code), text.strip() or None)
            self.dev.add("fault-status-in-string", "/Envelope/Body/Fault/faultstring",
                         f"no error response in detail; status {code} read from faultstring")
            self.with_status_code(fault)
        return fault, mm7_el, version

    def with_status_code(self, fault: Fault) -> None:
        """A Fault that named no faultcode given its status's (`status.fault_code`), the one rule
        every Fault written with a status follows, as an RSErrorRsp alone in the Body is read."""
        if self.faultcode_missing and fault.status is not None:
            fault.code = status_fault_code(fault.status.code)

    def status_alone(self, status_el: etree._Element, where: str) -> etree._Element:
        """A Status in detail without the error response around it (its status says whether to
        send again, and what was refused) put in one: the VASP's VASPErrorRsp where the answer is to
        an MMSC's request, else the MMSC's RSErrorRsp (the two are alike but for their names)."""
        answers_the_mmsc = self.expect is not None and m.MESSAGE_TYPES[self.expect].DIRECTION == "vasp->rs"
        name = "VASPErrorRsp" if answers_the_mmsc else "RSErrorRsp"
        namespace = _qname(status_el).namespace
        wrapper = etree.Element(etree.QName(namespace, name).text if namespace else name)
        status_el.addprevious(wrapper)
        wrapper.append(status_el)  # (moved, not copied)
        self.dev.add("detail-status", f"/Envelope/Body/Fault/detail/{name}",
                     f"Status {where} without the error response around it, read as an {name}'s")
        return wrapper

    def soap12_code(self, code_el: etree._Element | None) -> str:
        """A SOAP 1.2 Fault's Code as a SOAP 1.1 faultcode, or "" without one: its Value resolved
        as faultcode's QName is (SOAP's Sender and Receiver are 1.1's Client and Server, a code of
        another namespace "{namespace}local"), and a Subcode's local name after a dot, as SOAP 1.1
        writes a more specific code ("Client.Authentication"); the Subcode's namespace is said in
        a deviation, as that form has no room for it."""
        value_el = _soap12_child(code_el, "Value")
        raw = _collapsed("".join(value_el.itertext())) if value_el is not None else ""
        if not raw:
            return ""
        namespace, local = self.resolved_qname(value_el, raw, "/Envelope/Body/Fault/Code/Value")
        if namespace is not None:
            return f"{{{namespace}}}{local}"
        code = {"Receiver": "Server", "Sender": "Client"}.get(local, local)
        sub_el = _soap12_child(_soap12_child(code_el, "Subcode"), "Value")
        sub = _collapsed("".join(sub_el.itertext())) if sub_el is not None else ""
        if sub:
            sub_ns, sub_local = self.resolved_qname(sub_el, sub, "/Envelope/Body/Fault/Code/Subcode/Value", own=False)
            named = f"{{{sub_ns}}}{sub_local}" if sub_ns else sub_local
            self.dev.add("soap12-subcode", "/Envelope/Body/Fault/Code/Subcode",
                         f"Subcode {named} read as faultcode {code}.{sub_local}")
            code = f"{code}.{sub_local}"
        return code

    def resolved_qname(self, el: etree._Element, raw: str, path: str, own: bool = True) -> tuple[str | None, str]:
        """A fault code's QName (collapsed `raw`, the text of `el`) as (namespace, local name): the
        namespace None for SOAP's own (1.1 or 1.2, or a prefix declared nowhere, reported); with
        `own` an unprefixed name is SOAP's too, reported, else in no namespace."""
        prefix, _, local = raw.rpartition(":")
        namespace = el.nsmap.get(prefix or None)
        if not prefix:
            if own:
                self.dev.add("faultcode-unqualified", path, f"{raw!r} has no namespace prefix")
                return None, local
            return namespace, local
        if namespace is None:  # (a prefix declared nowhere: read as SOAP's, the usual meaning)
            self.dev.add("faultcode-namespace", path, f"prefix {prefix!r} is not declared; {local!r} read as SOAP's")
            return None, local
        if namespace == SOAP_NS or namespace in WRONG_SOAP_NS:
            return None, local
        return namespace, local

    @staticmethod
    def _soap_qname(code_el: etree._Element, local: str) -> None:
        """Rewrite faultcode as a SOAP-namespace QName, declaring the prefix if none is in scope."""
        prefix = next((p for p, ns in code_el.nsmap.items() if ns == SOAP_NS and p), None)
        if prefix is None:
            fresh = etree.Element(code_el.tag, nsmap={"soap11": SOAP_NS})
            code_el.getparent().replace(code_el, fresh)
            code_el, prefix = fresh, "soap11"
        code_el.text = f"{prefix}:{local}"

    def bind(self, el: etree._Element, ncls: type, gen_cls: type, version: Version) -> m.Message:
        self.keep_one(el, ncls, gen_cls)
        # (the reading model is the newest schema: an earlier version's official file may have
        # extension points it has not)
        everywhere = version.origin == "official" and has_extension_points(version)
        self.keep_extensions(el, gen_cls, everywhere)
        self.keep_extension_attributes(el, ncls, gen_cls, everywhere)
        decode_encoded_words(el, self.dev)
        free = binding.read_free_content(el, ncls, gen_cls)  # (before the reference engine renames the tree)
        message = self.bind_typed(el, ncls, gen_cls, version)
        binding.keep_free_content(message, free)
        return message

    def keep_one(self, el: etree._Element, ncls: type, gen_cls: type) -> None:
        """Further copies of an element a schema lets repeat and the message holds one of (Content
        0..n): valid, yet not read, so reported and kept as extras, as a second copy where the
        schema allows one is."""
        for name in binding.held_once(ncls, gen_cls):
            copies = [c for c in el if isinstance(c.tag, str) and _qname(c).localname == name]
            for extra in copies[1:]:
                path = f"{readable_path(el)}/{name}"
                self.dev.add("repeated-element", path, f"{name} ignored: {ncls.ELEMENT} holds one")
                move_to_extras(extra, path, self.surplus)  # (MAX_EXTRAS at most: a hostile message has thousands)

    def keep_extensions(self, el: etree._Element, gen_cls: type, everywhere: bool) -> None:
        """Elements an official file's extension point (``xs:any``) takes: valid, yet no field of
        the message holds them, so they are kept as extras and reported (never refused)."""
        if not everywhere and not binding.reaches_extension_point(gen_cls):
            return  # (every schema of ours: no walk, no path)
        for extra, path in binding.extension_elements(el, gen_cls, readable_path(el), everywhere):
            keep_extension(extra, path, self.dev, self.surplus)

    def keep_extension_attributes(self, el: etree._Element, ncls: type, gen_cls: type, everywhere: bool) -> None:
        """Attributes an official file's attribute wildcard (``xs:anyAttribute``) takes where no
        field holds them: valid, so reported and kept as extras, as elements its ``xs:any`` takes."""
        if not everywhere and not binding.reaches_open_attributes(ncls, gen_cls):
            return  # (every schema of ours: no walk, no path)
        for holder, key, value, path in binding.extension_attributes(el, ncls, gen_cls, readable_path(el),
                                                                     everywhere=everywhere):
            keep_extension_attribute(holder, key, value, path, self.dev, self.surplus)

    def bind_typed(self, el: etree._Element, ncls: type, gen_cls: type, version: Version) -> m.Message:
        if self.engine == "direct":
            try:
                return binding.from_element(el, ncls, gen_cls)
            except (TypeError, ValueError, ConverterError) as exc:
                raise DecodeError(f"cannot read {_qname(el).localname}: {exc}", deviations=self.dev.result()) from None
        reading_ns = versions.latest().namespace
        if version.namespace != reading_ns:
            for node in el.iter():
                if isinstance(node.tag, str) and _qname(node).namespace == version.namespace:
                    node.tag = f"{{{reading_ns}}}{_qname(node).localname}"
        parser = _parser()
        try:
            # xsdata's lxml handler clears each element it has read; a copy keeps the tree for a retry.
            obj = parser.parse(_copy_in_scope(el), gen_cls)
        except (ParserError, TypeError, ValueError) as exc:
            raise ValidationError(f"cannot read {_qname(el).localname}: {exc}", deviations=self.dev.result()) from None
        try:
            return binding.from_generated(obj, ncls)
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"cannot read {_qname(el).localname}: {exc}", deviations=self.dev.result()) from None


def _as_sent(namespace: str | None, version: Version | None) -> str | None:
    """The MM7 namespace a sender wrote, when it is an MM7 namespace other than `version`'s (white
    space inside it, a line broken in a declaration, left out)."""
    if namespace is None or version is None or not is_mm7_namespace(namespace):
        return None
    namespace = re.sub(r"\s+", "", namespace)
    return None if namespace == version.namespace else namespace


def _copy_in_scope(el: etree._Element) -> etree._Element:
    """A copy of `el` under the declarations its xsi:type values use where it stands: lxml's copy
    keeps only those its names use, and xsi:type="v:T" with v declared further out would name an
    unknown prefix to xsdata's parser. (Only those: each element xsdata reads copies every one.)"""
    types = _XSI_TYPES(el)
    if not types:
        return copy.deepcopy(el)
    outside = el.nsmap
    used = {prefix or None for prefix, _, _ in (t.strip().rpartition(":") for t in types)}
    holder = etree.Element("scope", nsmap={p: outside[p] for p in used if p in outside})
    holder.append(copy.deepcopy(el))
    return holder[0]


_XSI_TYPES = ThreadXPath(".//@xsi:type", namespaces={"xsi": "http://www.w3.org/2001/XMLSchema-instance"})


_PARSER_CONFIG = ParserConfig(
    fail_on_unknown_properties=True,
    fail_on_unknown_attributes=False,
    class_factory=binding.tolerant_factory,
)


def _parser() -> XmlParser:
    # XmlParser keeps per-parse state (namespace map), so each call gets its own; they are cheap.
    return XmlParser(context=binding.CONTEXT, config=_PARSER_CONFIG, handler=LxmlEventHandler)
