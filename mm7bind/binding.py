"""Neutral messages ⇄ the xsdata classes generated for one schema version.

The walk is driven by xsdata's own metadata of the generated classes, matched by XML local name,
so it never depends on the schema's type names: an official 3GPP file dropped into schemas/ binds
the same way as our reconstruction. Fields a version lacks are refused (or dropped on request).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
import typing
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from enum import Enum
from functools import cache
from typing import Any

from lxml import etree
from xsdata.exceptions import ConverterError
from xsdata.formats.converter import converter
from xsdata.formats.dataclass.context import XmlContext
from xsdata.formats.dataclass.models.elements import XmlMeta, XmlVar
from xsdata.models.datatype import XmlDateTime, XmlDuration

from . import freecontent, lexical, versions
from . import messages as m
from .errors import EncodeError, UnsupportedFieldError
from .versions import Version
from .xmlsafe import (
    escape_attribute,
    escape_text,
    escapes_or_invalid_in_attribute,
    escapes_or_invalid_in_text,
    invalid_xml_char,
)

log = logging.getLogger("mm7bind.binding")
_MINUTE = timedelta(minutes=1)

# One context for the whole process: building class metadata is the expensive part of xsdata.
CONTEXT = XmlContext()

@dataclasses.dataclass(frozen=True)
class EncodeOptions:
    """What to do with values on the way out."""

    timezone: tzinfo | None = None  # write datetimes in this zone; None: keep theirs (naive = local)
    drop_unsupported: bool = False  # drop fields the version lacks (with a warning) instead of failing


@cache
def _index(cls: type) -> dict[str, XmlVar]:
    """Children of a generated class by local name: elements, choices, ``@attributes``, ``text()``."""
    meta: XmlMeta = CONTEXT.build(cls)
    out: dict[str, XmlVar] = {}
    for var in meta.get_all_vars():
        if var.is_text:
            out["text()"] = var
        elif var.is_attribute:
            out["@" + var.local_name] = var
        elif var.is_elements:
            for choice in var.elements.values():
                out[choice.local_name] = choice
            out["#choice"] = var
        elif var.is_element:
            out[var.local_name] = var
        elif var.is_wildcard:
            out["#any"] = var
        elif var.is_attributes:
            out["@*"] = var  # xs:anyAttribute
    return out


def _choice_var(cls: type) -> XmlVar | None:
    return _index(cls).get("#choice")


@cache
def _address_forms(cls: type) -> dict[str, XmlVar]:
    """For a class holding an address choice: element name (Number, ShortCode…) → its variable."""
    var = _choice_var(cls)
    return {c.local_name: c for c in var.elements.values()} if var is not None and var.elements else {}


@cache
def _choice_names(cls: type) -> dict[type, str]:
    """For a class holding a choice: generated choice class → element local name."""
    var = _choice_var(cls)
    return {c.clazz: c.local_name for c in var.elements.values()} if var else {}


def children(cls: type) -> dict[str, XmlVar]:
    """Public view of `_index` for the tolerance layer (element children in schema order)."""
    return _index(cls)


# ---------------------------------------------------------------------------------------------
# Encoding: neutral → generated


class ObjectBuilder:
    """Builds the xsdata-generated dataclasses (serialised by xsdata: the reference path)."""

    def make(self, cls: type, var: XmlVar | None, items: list[tuple[XmlVar, Any]], ordered: bool = False) -> Any:
        kwargs: dict[str, Any] = {}
        for v, value in items:
            if v.list_element or v.tokens or v.is_wildcard:
                kwargs.setdefault(v.name, []).extend(value if isinstance(value, list) else [value])
            else:
                kwargs[v.name] = value
        return cls(**kwargs)


_QNAMES: dict[int, str] = {}


def _qname(var: XmlVar) -> str:
    q = _QNAMES.get(id(var))  # XmlVars live as long as the shared context: safe to key by id
    if q is None:
        ns = var.namespaces[0] if var.namespaces else ""
        q = _QNAMES[id(var)] = f"{{{ns}}}{var.local_name}" if ns else var.local_name
    return q


def _text(value: Any, var: XmlVar) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if isinstance(value, Enum) and type(value.value) is str:
        return value.value
    return converter.serialize(value, format=var.format)


@cache
def _order(cls: type) -> Callable[[tuple[XmlVar, Any]], int]:
    """Sort key of (variable, value) items of `cls` in schema order; the alternatives of a choice
    share their group's place, so they keep the order they were given in (To, Cc, Bcc mixed)."""
    _, choice_pos, choice_name, _ = _shape(cls)
    return lambda item: choice_pos if item[0].name == choice_name else item[0].index


@cache
def _shape(cls: type) -> tuple[str | None, int | None, str | None, tuple[tuple[str, XmlVar], ...]]:
    """Per generated class: its own qname, the choice group's (name, position), required children."""
    index = _index(cls)
    choice = index.get("#choice")
    meta = CONTEXT.build(cls)
    required = tuple(
        (name, var) for name, var in index.items()
        if var.required and not name.startswith(("#", "text()"))
    )
    return meta.qname, (choice.index if choice is not None else None), (choice.name if choice else None), required


class Markup(str):
    """XML text already serialised by `TextBuilder` (a child element, not a value to escape)."""

    __slots__ = ()


class TextBuilder:
    """Writes the XML text directly from the walk: no intermediate objects or trees.

    One per namespace→prefix mapping (cached); produces the same document as xsdata's serializer
    (tests hold the two to identical bytes).
    """

    def __init__(self, prefixes: dict[str, str]):
        self.prefixes = prefixes  # namespace → prefix, "" for the default namespace
        self.names: dict[str, str] = {}
        self.roles: dict[int, tuple[int, str]] = {}
        self.programs: dict[int, Any] = {}  # id(_Layout) → its compiled _TextProgram (layouts are cached)
        self.headers: dict[tuple[str, bool], str] = {}  # TransactionID templates

    def item(self, var: XmlVar, value: Any) -> str:
        """One built (variable, value) item as text: child elements, an attribute, or text."""
        role, name = self.roles.get(id(var)) or self.role(var)
        if role is _ELEMENT:
            return "".join([x if type(x) is Markup else f"<{name}>{escape_text(_text(x, var))}</{name}>"
                            for x in (value if isinstance(value, list) else (value,))])
        if role is _ATTRIBUTE:
            return f' {name}="{escape_attribute(_text(value, var))}"'
        if role is _TEXT:
            return escape_text(_text(value, var))
        return escape_text("".join(value if isinstance(value, list) else [value]))

    def scope(self) -> dict[str | None, str]:
        """The namespaces in scope inside the body (prefix → namespace, None for the default),
        in the order the envelope declares them."""
        return {prefix or None: ns for ns, prefix in self.prefixes.items()}

    def name(self, qname: str) -> str:
        name = self.names.get(qname)
        if name is None:
            if qname.startswith("{"):
                ns, _, local = qname[1:].partition("}")
                if ns not in self.prefixes:
                    raise EncodeError(f"no prefix is declared for namespace {ns}")
                prefix = self.prefixes[ns]
                name = f"{prefix}:{local}" if prefix else local
            elif "" in self.prefixes.values():
                # An unqualified element under a default namespace would need xmlns="" and
                # prefixed descendants; a prefixed MM7 style (XmlStyle(mm7_prefix="mm7")) avoids it.
                raise EncodeError(f"unqualified element {qname} cannot be written with MM7 as the default namespace")
            else:
                name = qname
            self.names[qname] = name
        return name

    def role(self, var: XmlVar) -> tuple[int, str]:
        """(what the variable is, its name as written); XmlVars live as long as the shared
        context, so keying by id is safe."""
        if var.is_attribute:
            role = _ATTRIBUTE
            name = self.name(_qname(var)) if var.namespaces and var.namespaces[0] else var.local_name
        elif var.is_attributes:
            role, name = _ATTRIBUTES, ""
        else:
            role = _TEXT if var.is_text else _WILDCARD if var.is_wildcard else _ELEMENT
            name = self.name(_qname(var)) if role == _ELEMENT else ""
        found = self.roles[id(var)] = (role, name)
        return found

    def make(self, cls: type, var: XmlVar | None, items: list[tuple[XmlVar, Any]], ordered: bool = False) -> Markup:
        tag = self.name(_shape(cls)[0]) if var is None else (self.roles.get(id(var)) or self.role(var))[1]
        if not ordered and len(items) > 1:
            items = sorted(items, key=_order(cls))
        attrs = text = None
        kids: list[str] = []
        roles = self.roles
        for v, value in items:
            if type(value) is Markup:
                kids.append(value)
                continue
            role, name = roles.get(id(v)) or self.role(v)
            if role is _ELEMENT:
                for x in value if isinstance(value, list) else (value,):
                    kids.append(x if type(x) is Markup else f"<{name}>{escape_text(_text(x, v))}</{name}>")
            elif role is _ATTRIBUTE:
                attrs = (attrs or "") + f' {name}="{escape_attribute(_text(value, v))}"'
            elif role is _ATTRIBUTES:
                attrs = (attrs or "") + freecontent.write_attributes(value, self.scope())
            elif role is _TEXT:
                text = escape_text(_text(value, v))
            else:
                text = escape_text("".join(value if isinstance(value, list) else [value]))
        if text is None and not kids:
            return Markup(f"<{tag}{attrs or ''}/>")
        return Markup(f"<{tag}{attrs or ''}>{text or ''}{''.join(kids)}</{tag}>")


_ELEMENT, _ATTRIBUTE, _TEXT, _WILDCARD, _ATTRIBUTES = 0, 1, 2, 3, 4


@cache
def text_builder(*prefixes: tuple[str, str]) -> TextBuilder:
    """The builder for (namespace, prefix) pairs; shared, since its name cache only grows."""
    return TextBuilder(dict(prefixes))


OBJECTS = ObjectBuilder()


_STR = (str,)


class _Encoder:
    """One walk over a neutral message, guided by the generated classes' metadata; the builder
    decides what comes out (generated dataclasses or XML text)."""

    def __init__(self, version: Version, options: EncodeOptions, builder):
        self.version = version
        self.options = options
        self.builder = builder
        # Whether every value written so far is proven to be what the schema accepts (see
        # lexical.py); the generic paths do not prove, so they clear it.
        self.proven = True
        # Address ids given so far → where: an xs:ID names one element per document, and libxml2
        # checks that only on a whole tree, not while parsing (the check `envelope.encode` runs).
        self.address_ids: dict[str, str] = {}

    def message(self, msg: m.Message, content_ref: m.ContentRef | None = None) -> Any:
        cls = self.version.element_class(msg.ELEMENT)
        if cls is None:
            # (which versions have them is the schemas' say: an official file may add them earlier)
            having = [v.name for v in versions.all_versions() if v.element_class(msg.ELEMENT) is not None]
            hint = f" (extended operations are in {', '.join(having) or 'no version'} only)"
            raise UnsupportedFieldError(
                f"{msg.ELEMENT} does not exist in {self.version.name}" + (hint if msg.ELEMENT.startswith("extended") else ""),
                field=msg.ELEMENT,
                version=self.version.name,
            )
        values = dict(vars(msg))
        if values.get("mm7_version") is None:
            values["mm7_version"] = self.version.default_mm7_version
        if content_ref is not None:
            values["content_ref"] = content_ref
        return self.element(cls, None, _neutral_layout(cls, type(msg)), values, msg.ELEMENT)

    def element(self, cls: type, var: XmlVar | None, layout: _Layout, values: dict[str, Any], where: str) -> Any:
        """Generated `cls` (as element `var`, or the root) filled from the neutral values."""
        if type(self.builder) is TextBuilder:
            program = self.builder.programs.get(id(layout))
            if program is None:
                program = self.builder.programs[id(layout)] = _TextProgram.compile(cls, layout, self.builder,
                                                                                   self.version)
            if program is not _GENERIC:
                return program.run(self, var, values, where)
        self.proven = False
        return self.builder.make(cls, var, self.items(cls, layout, values, where), True)

    def items(self, cls: type, layout: _Layout, values: dict[str, Any], where: str) -> list[tuple[XmlVar, Any]]:
        """(variable, built value) pairs for generated `cls`, in schema order, from the neutral values."""
        out: list[tuple[XmlVar, Any]] = []
        for slot in layout.slots:
            kind = slot.kind
            if kind is _GROUP:
                if any(_given(values[n]) for n in slot.names):
                    var = slot.var
                    out.append((var, self.element(var.clazz, var, slot.sub, values, f"{where}/{slot.head}")))
                continue
            value = values[slot.name]
            if slot.attrs is not None and values[slot.attrs]:
                if kind is _VALUE:
                    built = self.with_attributes(slot, value, values[slot.attrs], where)
                    if built is not None:
                        out.append((slot.var, built))
                    continue
                self.unsupported(f"{where}/{slot.head}/@*", slot.attrs)
            if value is None or (isinstance(value, (list, m.Recipients)) and len(value) == 0):
                continue
            if kind is _VALUE:
                out.append((slot.var, self.convert(slot.var, value, f"{where}/{slot.head.lstrip('@')}")))
            elif kind is _CHOICE:  # the address choice held by this very element (UserAgent)
                out.extend(self.address_choice(cls, value, where))
            elif not slot.optional:
                self.unsupported(f"{where}/{slot.head}", slot.name)
        if layout.required:
            present = {v.name for v, _ in out}
            added = False
            for name, var in layout.required:
                if var.name in present:
                    continue
                if _may_be_empty(var):
                    out.append((var, self.builder.make(var.clazz, var, [])))  # e.g. an empty SenderIdentification
                    added = True
                    continue
                raise EncodeError(f"{where}/{name} is required in {self.version.name}")
            if added:
                out.sort(key=layout.order)
        return out

    def with_attributes(self, slot: _Slot, value: Any, attributes: dict[str, str], where: str) -> Any:
        """A simple-content element (ServiceCode) with attributes beyond its declared ones."""
        self.proven = False  # (attributes in a namespace the schema declares are checked by validation)
        var, where = slot.var, f"{where}/{slot.head}"
        attributes_var = _index(var.clazz).get("@*") if var.clazz is not None else None
        if attributes_var is None:
            self.unsupported(f"{where}/@*", slot.attrs)
            return None if value is None else self.convert(var, value, where)
        if value is None:
            raise EncodeError(f"{where}: attributes given ({slot.attrs}) without the element's value ({slot.name})")
        freecontent.check_attributes(attributes, where)
        text_var = _index(var.clazz)["text()"]
        return self.builder.make(var.clazz, var, [(text_var, self.scalar(text_var.types, value, where)),
                                                  (attributes_var, dict(attributes))])

    def unsupported(self, path: str, field_name: str) -> None:
        msg = f"{path} does not exist in {self.version.name}"
        if self.options.drop_unsupported:
            log.warning("dropped %s (field %s)", msg, field_name)
            return
        raise UnsupportedFieldError(msg, field=field_name, version=self.version.name)

    def convert(self, var: XmlVar, value: Any, where: str) -> Any:
        self.proven = False
        if isinstance(value, list) and not var.list_element and not var.tokens:
            raise EncodeError(f"{where} takes one value, not a list")
        if isinstance(value, list):
            return [self.convert_one(var, v, where) for v in value]
        return self.convert_one(var, value, where)

    def convert_one(self, var: XmlVar, value: Any, where: str) -> Any:
        cls = var.clazz
        if isinstance(value, m.Address) or (type(value) is str and cls is not None and _address_forms(cls)):
            return self.builder.make(cls, var, self.address_choice(cls, value, where))
        if isinstance(value, m.Recipients):
            return self.recipients(var, value, where)
        if isinstance(value, m.Status):
            return self.status(var, value, where)
        if dataclasses.is_dataclass(value):
            return self.element(cls, var, _neutral_layout(cls, type(value)), vars(value), where)
        if cls is not None:  # simple content with attributes (ServiceCode): fill its text
            text_var = _index(cls).get("text()")
            if text_var is None:
                raise EncodeError(f"{where} needs a structured value, not {value!r}")
            return self.builder.make(cls, var, [(text_var, self.scalar(text_var.types, value, where))])
        return self.scalar(var.types, value, where)

    def address_choice(self, cls: type, addr: m.Address | str, where: str) -> list[tuple[XmlVar, Any]]:
        self.proven = False
        addr = m.Address.parse(addr)
        choice = _address_forms(cls).get(str(addr.kind))
        if choice is None:
            raise EncodeError(f"{where}: address form {addr.kind} is not allowed here")
        return [(choice, self.leaf(choice, addr, where))]

    def leaf(self, choice: XmlVar, addr: m.Address, where: str) -> Any:
        if isinstance(addr.value, str) and not addr.value.strip():
            # The schema's string types take "", but no MMSC can deliver to (or from) nobody.
            raise EncodeError(f"{where}: an empty {addr.kind} address")
        values = {
            "text()": addr.value,
            "@displayOnly": addr.display_only or None,
            "@addressCoding": addr.address_coding,
            "@id": addr.id,
        }
        index = _index(choice.clazz)
        items = []
        for key, value in values.items():
            if value is None:
                continue
            var = index.get(key)
            if var is None:
                self.unsupported(f"{where}/{addr.kind}/{key}", key.lstrip("@"))
                continue
            if key == "@id":
                self.claim_address_id(value, f"{where}/{addr.kind}")
            items.append((var, self.scalar(var.types, value, f"{where}/{key}")))
        return self.builder.make(choice.clazz, choice, items)

    def claim_address_id(self, value: str, where: str) -> None:
        first = self.address_ids.get(value)
        if first is not None:
            raise EncodeError(f"{where}: address id {value!r} is already used at {first} "
                              "(an id names one address per message)")
        self.address_ids[value] = where

    def recipients(self, var: XmlVar, rcpts: m.Recipients, where: str) -> Any:
        # (To, Cc and Bcc are an unbounded choice in TS 23.140's schemas; a file that has them as
        # a sequence gets them in its order)
        choice = _choice_var(var.clazz)
        roles = ({c.local_name: c for c in choice.elements.values()} if choice is not None
                 else {k: v for k, v in _index(var.clazz).items() if k in ("To", "Cc", "Bcc")})
        items = []
        for role, addrs in (("To", rcpts.to), ("Cc", rcpts.cc), ("Bcc", rcpts.bcc)):
            if addrs:
                role_var = roles[role]
                leaves = [item for a in addrs for item in self.address_choice(role_var.clazz, a, f"{where}/{role}")]
                items.append((role_var, self.builder.make(role_var.clazz, role_var, leaves)))
        return self.builder.make(var.clazz, var, items)

    def status(self, var: XmlVar, status: m.Status, where: str) -> Any:
        index = _index(var.clazz)
        text = status.text
        if "StatusText" not in index and text not in (None, status.info.text, status.info.text_zh):
            # (a Status of a StatusCode alone, the extended responses': the code's own text, which
            # Status fills in, or its Chinese one (a China Mobile dialect's), is no loss; words of
            # the caller's own are, as any field the version lacks)
            self.unsupported(f"{where}/StatusText", "text")
        vals = {"code": status.code, "text": text}
        items = self.items(var.clazz, _layout(var.clazz, _STATUS_FIELDS), vals, where)
        if status.details is not None or status.details_xml is not None or status.details_attributes:
            if "Details" in index:
                items.append((index["Details"], self.details(index["Details"], status, f"{where}/Details")))
            else:  # (a schema of one's own, imported: as any field the version lacks)
                self.unsupported(f"{where}/Details", "details")
        return self.builder.make(var.clazz, var, items)

    def details(self, var: XmlVar, status: m.Status, where: str) -> Any:
        """Details: its text, or the content it was read with (elements and all) while `details`
        is still that content's text."""
        if status.details_xml is not None:
            content = freecontent.parse(status.details_xml, f"{where} (details_xml)")
            if freecontent.text_of(content) != status.details:
                raise EncodeError(f"{where}: details {status.details!r} is not the text of details_xml "
                                  f"({freecontent.text_of(content)!r}); set details_xml to None to send the text alone")
        else:
            content = () if status.details is None else (self.scalar(_STR, status.details, where),)
        index = _index(var.clazz)
        attributes = {}
        if status.details_attributes:
            if "@*" not in index:
                self.unsupported(f"{where}/@*", "details_attributes")
            else:
                attributes = dict(freecontent.check_attributes(status.details_attributes, where))
        if type(self.builder) is TextBuilder:
            scope = freecontent.scope_inside(attributes, self.builder.scope())
            items = [(index["#any"], Markup(freecontent.write(content, scope)))]
        else:
            items = [(index["#any"], freecontent.to_generic(content))]
        if attributes:
            items.append((index["@*"], attributes))
        return self.builder.make(var.clazz, var, items)

    def scalar(self, types: tuple[type, ...], value: Any, where: str) -> Any:
        if isinstance(value, Enum):
            value = value.value
        for t in types:
            if isinstance(t, type) and issubclass(t, Enum):
                if isinstance(value, str):
                    try:
                        return t(value)
                    except ValueError:
                        continue
            elif t is bool:
                if isinstance(value, bool):
                    return value
            elif t is int:
                if isinstance(value, int) and not isinstance(value, bool):
                    return _writable_int(value, where)
                if isinstance(value, str) and value.strip().isdigit():
                    return _writable_int(_digits(value.strip(), where), where)
            elif t is XmlDateTime:
                if isinstance(value, datetime):
                    return XmlDateTime.from_datetime(self.zoned(value))
                if isinstance(value, str) and not _looks_like_duration(value):
                    try:
                        return XmlDateTime.from_string(value)
                    except ValueError:
                        continue
            elif t is XmlDuration:
                if isinstance(value, timedelta):
                    return XmlDuration(format_duration(value))
                if isinstance(value, str) and _looks_like_duration(value):
                    try:
                        return XmlDuration(value)
                    except ValueError:
                        continue
            elif t is str:
                if isinstance(value, str):
                    bad = invalid_xml_char(value)
                    if bad is not None:
                        raise EncodeError(f"{where}: character U+{ord(bad):04X} cannot be sent in XML")
                    return value
            elif t is object:
                return value
        allowed = ", ".join(_type_name(t) for t in types)
        raise EncodeError(f"{where}: {value!r} is not valid in {self.version.name} (expected {allowed})")

    def zoned(self, value: datetime) -> datetime:
        if self.options.timezone is not None:
            value = value.astimezone(self.options.timezone)
        elif value.tzinfo is None:
            value = value.astimezone()  # naive means local time: say which offset that is
        offset = value.utcoffset()  # (None from a tzinfo that gives none: written without one, as before)
        if offset is not None and offset % _MINUTE:
            # xs:dateTime offsets are whole minutes, and xsdata drops the seconds of one (a zone's
            # local mean time before standard time, Asia/Shanghai's +08:05:43 in 1900): another
            # instant. In UTC it is the same one.
            value = value.astimezone(timezone.utc)
        return value


def _digits(text: str, where: str) -> int:
    """A number given as text: ASCII digits, or another script's decimal digits (int() reads
    those); a digit that is no decimal one ("²") is refused, as Python's own refusal would not say where."""
    if not text.isdecimal():
        raise EncodeError(f"{where}: {text!r} is not a number")
    try:
        return int(text)
    except ValueError:  # (more digits than Python converts: sys.get_int_max_str_digits())
        raise EncodeError(f"{where}: a number of {len(text)} digits is more than can be written") from None


def _writable_int(value: int, where: str) -> int:
    """`value`, once it is known to have a decimal form: Python refuses to write an int of more
    than sys.get_int_max_str_digits() digits (4300), which would fail only as the text is made."""
    if value.bit_length() > _SURELY_WRITABLE_BITS:
        try:
            str(value)
        except ValueError:
            raise EncodeError(f"{where}: a number of more than {sys.get_int_max_str_digits()} digits "
                              "is more than can be written") from None
    return value


_SURELY_WRITABLE_BITS = 640  # (fewer than 200 digits: within any limit Python lets be set, 640 at least)


@cache
def _plan(ncls: type) -> list[tuple[dataclasses.Field, str]]:
    return [(f, f.metadata["xml"]) for f in m.xml_fields(ncls)]


@cache
def _fields(ncls: type) -> tuple[tuple[str, str, bool, str | None], ...]:
    """A neutral class's XML fields as (name, path, optional_in_schema, the field holding the
    element's further attributes): the key of its layouts."""
    return tuple((f.name, path, bool(f.metadata.get("optional_in_schema")), f.metadata.get("attributes"))
                 for f, path in _plan(ncls))


_STATUS_FIELDS = tuple(f for f in _fields(m.Status) if f[0] != "details")  # Details is free content
_VALUE, _CHOICE, _GROUP, _ABSENT = "value", "choice", "group", "absent"


def _may_be_empty(var: XmlVar) -> bool:
    """A required child element whose type has no required content (written as <X/> when unset)."""
    sub = _index(var.clazz) if var.clazz is not None else None
    return sub is not None and "#choice" not in sub and not any(v.required for v in sub.values())


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, (list, m.Recipients)) and len(value) == 0)


@dataclasses.dataclass(frozen=True)
class _Slot:
    """Where one neutral field (or a group of them, below a child element) goes in a generated class."""

    key: int  # schema position; a choice's members share their group's
    kind: str  # _VALUE: a child or attribute; _CHOICE: the address choice of the element itself;
    #            _GROUP: a child element built from several fields; _ABSENT: not in this version
    name: str | None  # the neutral field (all kinds but _GROUP)
    head: str  # the child's name in the field path
    var: XmlVar | None = None
    sub: _Layout | None = None  # _GROUP: the child's own layout
    names: tuple[str, ...] = ()  # _GROUP: the fields below it
    optional: bool = False  # _ABSENT: left out silently (optional_in_schema)
    plain: bool = False  # _VALUE: a plain string child or attribute (a str value needs no conversion)
    attrs: str | None = None  # _VALUE, _ABSENT: the field holding the element's further attributes


@dataclasses.dataclass(frozen=True)
class _Layout:
    slots: tuple[_Slot, ...]  # in schema order, so the walk emits children in order without sorting
    required: tuple[tuple[str, XmlVar], ...]
    order: Callable[[tuple[XmlVar, Any]], int]  # sort key of (variable, value) items


def _neutral_layout(cls: type, ncls: type) -> _Layout:
    """`_layout` for all fields of neutral class `ncls` (keyed by the two classes: cheaper to look
    up than the fields themselves, on every message)."""
    layout = _LAYOUTS.get((cls, ncls))
    if layout is None:
        layout = _LAYOUTS[(cls, ncls)] = _layout(cls, _fields(ncls))
    return layout


_LAYOUTS: dict[tuple[type, type], Any] = {}


@cache
def _layout(cls: type, fields: tuple[tuple[str, str, bool, str | None], ...]) -> _Layout:
    """The walk for `fields` into generated `cls`, worked out once: paths split, children looked up
    in xsdata's metadata, slots put in schema order. The official XSD binds the same way."""
    index = _index(cls)
    _, choice_pos, _, required = _shape(cls)
    order = _order(cls)

    def key(var: XmlVar) -> int:
        return order((var, None))

    slots: list[_Slot] = []
    nested: dict[str, list[tuple[str, str, bool, str | None]]] = {}
    for name, path, optional, attrs in fields:
        head, _, rest = path.partition("/")
        if rest:
            nested.setdefault(head, []).append((name, rest, optional, attrs))
        elif head == "":
            slots.append(_Slot(choice_pos if choice_pos is not None else -1, _CHOICE, name, head))
        elif (var := index.get(head)) is None:
            slots.append(_Slot(-1, _ABSENT, name, head, optional=optional, attrs=attrs))
        else:
            plain = var.clazz is None and var.types == _STR and not var.is_wildcard
            slots.append(_Slot(key(var), _VALUE, name, head, var, plain=plain, attrs=attrs))
    for head, sub in nested.items():
        var = index.get(head)
        if var is None:
            slots.extend(_Slot(-1, _ABSENT, name, head) for name, _, _, _ in sub)
        else:
            slots.append(_Slot(key(var), _GROUP, None, head, var, _layout(var.clazz, tuple(sub)), tuple(n for n, *_ in sub)))
    slots.sort(key=lambda s: s.key)  # stable: fields keep their order within one position
    return _Layout(tuple(slots), required, order)


# ---------------------------------------------------------------------------------------------
# The text engine's hot path: a layout compiled into one small function per slot.
#
# Common values (strings, booleans, enumeration values, nested groups) are written straight from
# the neutral message; anything else goes through the generic walk for that one slot, so every
# value is converted and refused exactly as by the reference path. Tests hold the two engines to
# identical bytes.

_GENERIC = object()  # a layout the program does not cover (wildcards, ambiguous required children)


class _TextProgram:
    __slots__ = ("kid_ops", "attr_ops", "qname")

    def __init__(self, kid_ops: tuple, attr_ops: tuple, qname: str):
        self.kid_ops, self.attr_ops, self.qname = kid_ops, attr_ops, qname

    def run(self, enc: _Encoder, var: XmlVar | None, values: dict[str, Any], where: str) -> Markup:
        builder = enc.builder
        tag = builder.name(self.qname) if var is None else (builder.roles.get(id(var)) or builder.role(var))[1]
        kids = []
        for name, op in self.kid_ops:  # most fields of a message are unset: skipped without a call
            if name is None or values[name] is not None:
                k = op(enc, values, where)
                if k is not None:
                    kids.append(k)
        attrs = "".join([a for name, op in self.attr_ops if (name is None or values[name] is not None)
                         and (a := op(enc, values, where)) is not None]) if self.attr_ops else ""
        if not kids:
            return Markup(f"<{tag}{attrs}/>")
        return Markup(f"<{tag}{attrs}>{''.join(kids)}</{tag}>")

    @classmethod
    def compile(cls_, cls: type, layout: _Layout, builder: TextBuilder, version: Version) -> Any:
        required = {var.name: (name, var) for name, var in layout.required}
        fed: dict[str, int] = {}
        for slot in layout.slots:
            if slot.var is not None:
                fed[slot.var.name] = fed.get(slot.var.name, 0) + 1
            if slot.var is not None and slot.kind is not _ABSENT and builder.role(slot.var)[0] is _WILDCARD:
                return _GENERIC
        if any(fed.get(n, 0) > 1 for n in required):
            return _GENERIC
        # (position, role, the field whose None means "nothing here" or None, op)
        entries: list[tuple[int, int, str | None, Callable]] = []
        for slot in layout.slots:
            role, op = _slot_op(cls, slot, builder, version)
            # (a field whose element takes further attributes: those may be given alone, and refused)
            skip_if_none = slot.name if slot.kind in (_VALUE, _CHOICE, _ABSENT) and slot.attrs is None else None
            if slot.var is not None and slot.var.name in required:
                op, skip_if_none = _or_missing(op, *required[slot.var.name]), None
            entries.append((slot.key, role, skip_if_none, op))
        for var_name, (name, var) in required.items():
            if var_name not in fed:
                entries.append((layout.order((var, None)), _ELEMENT, None, _or_missing(_nothing, name, var)))
        entries.sort(key=lambda e: e[0])
        kid_ops = tuple((n, op) for _, role, n, op in entries if role is not _ATTRIBUTE)
        attr_ops = tuple((n, op) for _, role, n, op in entries if role is _ATTRIBUTE)
        return cls_(kid_ops, attr_ops, _shape(cls)[0])


def _nothing(enc: _Encoder, values: dict[str, Any], where: str) -> None:
    return None


def _or_missing(op: Callable, name: str, var: XmlVar) -> Callable:
    """A required child: when the slot gives nothing, an empty element if that is valid, else an error."""
    can_be_empty = _may_be_empty(var)

    def required_op(enc: _Encoder, values: dict[str, Any], where: str) -> str | None:
        out = op(enc, values, where)
        if out is not None:
            return out
        if can_be_empty:
            return enc.builder.make(var.clazz, var, [])  # e.g. an empty SenderIdentification
        raise EncodeError(f"{where}/{name} is required in {enc.version.name}")

    return required_op


def _bare_forms(cls: type, builder: TextBuilder, version: Version) -> dict[str, tuple[str, Any]] | None:
    """For a class holding an address choice whose leaves are plain text: form → (element name,
    the check of its text)."""
    forms = _address_forms(cls)
    if not forms or any(v.required and n != "#choice" and n not in forms for n, v in _index(cls).items()):
        return None
    out = {}
    for kind, choice in forms.items():
        text_var = _index(choice.clazz).get("text()") if choice.clazz is not None else None
        if text_var is None or text_var.types != _STR:
            return None
        out[kind] = (builder.role(choice)[1], _text_check(version, kind))
    return out


def _bare(addr: Any, forms: dict[str, tuple[str, Any]], enc: _Encoder) -> str | None:
    """`<Number>…</Number>` for an address with nothing but its value, else None (the general path)."""
    if type(addr) is str:
        addr = m.Address.parse(addr)
    elif type(addr) is not m.Address:
        return None
    if (addr.display_only or addr.address_coding is not None or addr.id is not None or type(addr.value) is not str
            or not addr.value.strip()):
        return None  # (an empty one is refused there, with where it is)
    form = forms.get(addr.kind)
    if form is None:
        return None
    tag, check = form
    value = addr.value
    if escapes_or_invalid_in_text(value) is None:
        if check is None or not check(value):
            enc.proven = False
        return f"<{tag}>{value}</{tag}>"
    if invalid_xml_char(value) is not None:
        return None
    if check is None or not check(value):
        enc.proven = False
    return f"<{tag}>{escape_text(value)}</{tag}>"


def _text_check(version: Version, local_name: str, attribute: bool = False) -> Callable[[str], bool] | None:
    return lexical.checks(version)[1 if attribute else 0].get(local_name)


def _prove(enc: _Encoder, check: Callable[[str], bool] | None, text: str) -> None:
    if check is None or not check(text):
        enc.proven = False


def _structured_op(name: str, var: XmlVar, tag: str, path: str, builder: TextBuilder,
                   version: Version) -> Callable | None:
    """Fast ops for the structured children every message has: an address, the recipients, and
    simple content with optional attributes (ServiceCode); None when `var` is none of these."""
    index = _index(var.clazz)
    forms = _bare_forms(var.clazz, builder, version)
    if forms is not None:

        def address_op(enc: _Encoder, values: dict[str, Any], where: str) -> str | None:
            value = values[name]
            leaf = _bare(value, forms, enc)
            if leaf is not None:
                return f"<{tag}>{leaf}</{tag}>"
            return None if value is None else builder.item(var, enc.convert(var, value, f"{where}/{path}"))

        return address_op
    choice = index.get("#choice")
    roles = {c.local_name: c for c in choice.elements.values()} if choice is not None else {}
    if roles and set(roles) <= {"To", "Cc", "Bcc"} and len(index) == len(roles) + 1:
        role_forms = {r: (builder.role(v)[1], _bare_forms(v.clazz, builder, version)) for r, v in roles.items()}
        if all(f is not None for _, f in role_forms.values()):

            def recipients_op(enc: _Encoder, values: dict[str, Any], where: str) -> str | None:
                value = values[name]
                if type(value) is m.Recipients:
                    parts = []
                    for role, addrs in (("To", value.to), ("Cc", value.cc), ("Bcc", value.bcc)):
                        if not addrs:
                            continue
                        role_tag, forms_ = role_forms.get(role, (None, None))
                        leaves = [_bare(a, forms_, enc) for a in addrs] if forms_ is not None else [None]
                        if None in leaves:
                            break
                        parts.append(f"<{role_tag}>{''.join(leaves)}</{role_tag}>")
                    else:
                        if parts:
                            return f"<{tag}>{''.join(parts)}</{tag}>"
                if value is None or (isinstance(value, (list, m.Recipients)) and len(value) == 0):
                    return None
                return builder.item(var, enc.convert(var, value, f"{where}/{path}"))

            return recipients_op
    text_var = index.get("text()")
    if text_var is None or any(v.required for v in index.values() if v is not text_var):
        return None
    plain = text_var.types == _STR
    # Text of an enumeration or boolean type, in a class of its own: an element declared globally
    # and used by reference, as official files do (Priority). Its values are written as constants,
    # valid by construction, as those of an element declared in place are.
    literal = _literal_texts(text_var)
    if not (plain or literal):
        return None
    check = _text_check(version, var.local_name) if plain else None

    def text_op(enc: _Encoder, values: dict[str, Any], where: str) -> str | None:
        value = values[name]
        kind_ = type(value)
        if plain and kind_ is str:
            if escapes_or_invalid_in_text(value) is None:  # (most values: nothing to escape)
                if check is None or not check(value):
                    enc.proven = False
                return f"<{tag}>{value}</{tag}>"
            if invalid_xml_char(value) is None:
                _prove(enc, check, value)
                return f"<{tag}>{escape_text(value)}</{tag}>"
        if literal:
            key = value.value if isinstance(value, Enum) else value if kind_ is str or kind_ is bool else None
            text = literal.get(key) if key is not None else None
            if text is not None:
                return f"<{tag}>{text}</{tag}>"
        return None if value is None else builder.item(var, enc.convert(var, value, f"{where}/{path}"))

    return text_op


def _literal_texts(var: XmlVar) -> dict[Any, str]:
    """The escaped texts of a boolean or (string) enumeration variable's values; empty for others."""
    if var.list_element or var.tokens:
        return {}
    if var.types == (bool,):
        return {True: "true", False: "false"}
    if len(var.types) == 1 and isinstance(var.types[0], type) and issubclass(var.types[0], Enum):
        return {e.value: escape_text(e.value) for e in var.types[0] if isinstance(e.value, str)}
    return {}


def _slot_op(cls: type, slot: _Slot, builder: TextBuilder, version: Version) -> tuple[int, Callable]:
    name, head, var, kind = slot.name, slot.head, slot.var, slot.kind
    if kind is _ABSENT:
        optional, attrs = slot.optional, slot.attrs

        def absent(enc: _Encoder, values: dict[str, Any], where: str) -> None:
            if not optional and _given(values[name]):
                enc.unsupported(f"{where}/{head}", name)
            if attrs is not None and values[attrs]:
                enc.unsupported(f"{where}/{head}/@*", attrs)

        return _ELEMENT, absent
    if kind is _CHOICE:

        def choice(enc: _Encoder, values: dict[str, Any], where: str) -> str | None:
            value = values[name]
            if not _given(value):
                return None
            return "".join([builder.item(v, built) for v, built in enc.address_choice(cls, value, where)])

        return _ELEMENT, choice
    if kind is _GROUP:
        names, sub, sub_cls = slot.names, slot.sub, var.clazz

        def group(enc: _Encoder, values: dict[str, Any], where: str) -> str | None:
            for n in names:
                if _given(values[n]):
                    return enc.element(sub_cls, var, sub, values, f"{where}/{head}")
            return None

        return _ELEMENT, group
    role, op = _value_op(cls, slot, builder, version)
    if slot.attrs is None:
        return role, op
    attrs = slot.attrs

    def value_with_attributes(enc: _Encoder, values: dict[str, Any], where: str) -> str | None:
        if not values[attrs]:
            return None if values[name] is None else op(enc, values, where)
        built = enc.with_attributes(slot, values[name], values[attrs], where)
        return None if built is None else builder.item(var, built)

    return role, value_with_attributes


def _value_op(cls: type, slot: _Slot, builder: TextBuilder, version: Version) -> tuple[int, Callable]:
    name, head, var = slot.name, slot.head, slot.var
    role, tag = builder.role(var)
    path = head.lstrip("@")
    if role is _ELEMENT and var.clazz is not None and not var.list_element:
        special = _structured_op(name, var, tag, path, builder, version)
        if special is not None:
            return role, special
    esc = escape_attribute if role is _ATTRIBUTE else escape_text
    as_is = escapes_or_invalid_in_attribute if role is _ATTRIBUTE else escapes_or_invalid_in_text
    before, after = ((f' {tag}="', '"') if role is _ATTRIBUTE else (f"<{tag}>", f"</{tag}>") if role is _ELEMENT
                     else ("", ""))
    fmt = f"{before}{{}}{after}".format
    literal: dict[Any, str] = {}  # values written as constants: booleans, enumeration members
    if var.clazz is None and not var.list_element and not var.tokens:
        if var.types == (bool,):
            literal = {True: fmt("true"), False: fmt("false")}
        elif len(var.types) == 1 and isinstance(var.types[0], type) and issubclass(var.types[0], Enum):
            literal = {e.value: fmt(esc(e.value)) for e in var.types[0] if isinstance(e.value, str)}
    plain = slot.plain
    # (an element's or attribute's own declaration; simple content is checked by its element's op)
    check = _text_check(version, var.local_name, role is _ATTRIBUTE) if plain and role in (_ELEMENT, _ATTRIBUTE) else None
    nested = role is _ELEMENT and var.clazz is not None and not var.list_element

    def value_op(enc: _Encoder, values: dict[str, Any], where: str) -> str | None:
        value = values[name]
        if value is None:
            return None
        kind_ = type(value)
        if kind_ is str:
            if plain:
                if as_is(value) is None:  # (most values: nothing to escape)
                    if check is None or not check(value):
                        enc.proven = False
                    return before + value + after
                if invalid_xml_char(value) is None:
                    _prove(enc, check, value)
                    return fmt(esc(value))
            if literal and value in literal:
                return literal[value]
        elif kind_ is bool:
            if literal and value in literal:
                return literal[value]
        elif isinstance(value, Enum) and literal and value.value in literal:
            return literal[value.value]
        elif nested and kind_ in _NESTED:  # a structure of its own (Content): its program writes it
            return enc.element(var.clazz, var, _neutral_layout(var.clazz, kind_), vars(value), f"{where}/{path}")
        if isinstance(value, (list, m.Recipients)) and len(value) == 0:
            return None
        return builder.item(var, enc.convert(var, value, f"{where}/{path}"))

    return role, value_op


# Neutral structures written by their own compiled layout when they sit in an element slot.
_NESTED = frozenset({m.ContentRef})


def _type_name(t: type) -> str:
    if isinstance(t, type) and issubclass(t, Enum):
        return "one of " + "|".join(str(e.value) for e in t)
    return {XmlDateTime: "datetime", XmlDuration: "duration"}.get(t, getattr(t, "__name__", str(t)))


_DURATION = re.compile(r"^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def _looks_like_duration(text: str) -> bool:
    return bool(_DURATION.match(text.strip()))


def format_duration(value: timedelta) -> str:
    """ISO 8601 duration for a timedelta (days, hours, minutes, seconds), exact to the microsecond
    (in whole numbers: total_seconds() is a float, which rounds them away past some 280 years)."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    days, rem = value.days, value.seconds
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    micros = value.microseconds
    out = f"{sign}P"
    if days:
        out += f"{days}D"
    if hours or minutes or seconds or micros or not days:
        out += "T"
        if hours:
            out += f"{hours}H"
        if minutes:
            out += f"{minutes}M"
        if seconds or micros or not (hours or minutes):
            out += (f"{seconds}.{micros:06d}".rstrip("0") if micros else str(seconds)) + "S"
    return out


def to_generated(msg: m.Message, version: Version, options: EncodeOptions = EncodeOptions(),
                 content_ref: m.ContentRef | None = None) -> Any:
    """The generated (xsdata) object for `msg` in `version`; EncodeError when it cannot be valid."""
    return _Encoder(version, options, OBJECTS).message(msg, content_ref)


def to_text(msg: m.Message, version: Version, builder: TextBuilder, options: EncodeOptions = EncodeOptions(),
            content_ref: m.ContentRef | None = None) -> Markup:
    """The XML text of `msg` in `version`, written in one pass from the same walk."""
    return write_text(msg, version, builder, options, content_ref)[0]


def write_text(msg: m.Message, version: Version, builder: TextBuilder, options: EncodeOptions = EncodeOptions(),
               content_ref: m.ContentRef | None = None) -> tuple[Markup, bool]:
    """`to_text`, and whether every value in it is proven to be what the schema accepts (when it
    is, the document needs no schema check: its structure comes from the schema's own layouts)."""
    enc = _Encoder(version, options, builder)
    return enc.message(msg, content_ref), enc.proven


def transaction_id(version: Version, value: str, must_understand: bool = True, builder=OBJECTS) -> Any:
    if type(builder) is TextBuilder:  # the same element every time: written once, then filled in
        key = (version.name, must_understand)
        template = builder.headers.get(key)
        if template is None:
            template = builder.headers[key] = _transaction_id(version, "{}", must_understand, builder)
        if not value:  # (an answer echoing none) closed empty, as xsdata's serializer writes it
            return Markup(template.partition(">{}<")[0] + "/>")
        return Markup(template.format(escape_text(value)))
    return _transaction_id(version, value, must_understand, builder)


def _transaction_id(version: Version, value: str, must_understand: bool, builder) -> Any:
    cls = version.element_class("TransactionID")
    index = _index(cls)
    items = [(index["text()"], value)]
    # A schema whose TransactionID does not declare env:mustUnderstand refuses it there (the
    # header is validated against the MM7 declaration): the attribute is optional, so leave it out.
    if must_understand and "@mustUnderstand" in index:
        items.append((index["@mustUnderstand"], "1"))
    elif must_understand and "@*" in index and index["@*"].match_namespace(_SOAP_MUST_UNDERSTAND):
        # (a file may take the SOAP attributes by an attribute wildcard instead of importing them)
        items.append((index["@*"], {_SOAP_MUST_UNDERSTAND: "1"}))
    return builder.make(cls, None, items)


_SOAP_MUST_UNDERSTAND = f"{{{versions.SOAP_NS}}}mustUnderstand"
_SOAP_ENCODING_STYLE = f"{{{versions.SOAP_NS}}}encodingStyle"


# ---------------------------------------------------------------------------------------------
# Decoding: generated → neutral


@cache
def _hints(ncls: type) -> dict[str, Any]:
    return typing.get_type_hints(ncls, vars(m))


def _target(ncls: type, name: str) -> type | None:
    """The structured class or enum a neutral field holds (None for plain scalars)."""
    hint = _hints(ncls)[name]
    args = typing.get_args(hint) or (hint,)
    for a in args:
        origin = typing.get_origin(a)
        if origin is list:
            a = typing.get_args(a)[0]
        if isinstance(a, type) and (dataclasses.is_dataclass(a) or issubclass(a, Enum)):
            return a
    return None


def from_generated(obj: Any, ncls: type[m.Message]) -> m.Message:
    return _decode(obj, ncls)


def _decode(obj: Any, ncls: type) -> Any:
    kwargs = {}
    for f in m.xml_fields(ncls):
        raw = _get_path(obj, f.metadata["xml"])
        if raw is None or (isinstance(raw, list) and not raw):
            continue
        target = _target(ncls, f.name)
        if isinstance(raw, list) and typing.get_origin(_hints(ncls)[f.name]) is list:
            kwargs[f.name] = [_value(r, target) for r in raw]
        else:
            kwargs[f.name] = _value(raw, target)
        if type(kwargs[f.name]) is str and _holds_times(ncls, f.name):
            kwargs[f.name] = _time_text(kwargs[f.name])
    return ncls(**kwargs)


@cache
def _holds_times(ncls: type, name: str) -> bool:
    """Whether a neutral field holds a relative-or-absolute time (`messages.When`)."""
    return timedelta in typing.get_args(_hints(ncls)[name])


def _time_text(text: str) -> Any:
    """A relative-or-absolute time xsdata's parser left as text: its union member types do not
    collapse white space around a duration as XSD does (``" P1D "`` is valid), the direct reader's do."""
    stripped = text.strip()
    try:
        return scalar_in(XmlDuration(stripped) if _looks_like_duration(stripped) else XmlDateTime.from_string(stripped))
    except ValueError:
        return text  # not a time at all: as xsdata kept it (schema validation has reported it)


def _get_path(obj: Any, path: str) -> Any:
    if path == "":
        return obj  # the address choice held by this element itself
    for head in path.split("/"):
        if obj is None:
            return None
        if isinstance(obj, list):  # a list along the way (DeliveryCondition/DC has none)
            obj = obj[0] if obj else None
            if obj is None:
                return None
        var = _index(type(obj)).get(head)
        if var is None:
            return None
        obj = getattr(obj, var.name)
    return obj


def _value(raw: Any, target: type | None) -> Any:
    if target is m.Address:
        return _address(raw)
    if target is m.Recipients:
        return _recipients(raw)
    if target is m.Status:
        return _status(raw)
    if target is not None and dataclasses.is_dataclass(target):
        return _decode(raw, target)
    if dataclasses.is_dataclass(raw):  # simple content with attributes (ServiceCode)
        text_var = _index(type(raw)).get("text()")
        raw = getattr(raw, text_var.name) if text_var else None
    return _neutral_scalar(raw, target)


def _neutral_scalar(raw: Any, target: type | None) -> Any:
    """A converted value as the neutral model holds it: its enum member (or the raw string when a
    peer invented a value), a datetime, a timedelta, or the value itself."""
    if isinstance(raw, Enum):
        raw = raw.value
    if target is not None and issubclass(target, Enum):
        try:
            return target(raw)
        except ValueError:
            return raw
    return scalar_in(raw)


def scalar_in(raw: Any) -> Any:
    if isinstance(raw, XmlDateTime):
        if raw.hour == 24 and not (raw.minute or raw.second or raw.fractional_second):
            # xs:dateTime's end of the day, which datetime cannot hold: the next day's midnight.
            return raw.replace(hour=0).to_datetime() + timedelta(days=1)
        return raw.to_datetime()
    if isinstance(raw, XmlDuration):
        if raw.years or raw.months:
            return str(raw)
        # Seconds from the text, not xsdata's float: a fraction finer than a microsecond (PT0.0000001S)
        # would round to another length, or to zero, which says something else; kept as written.
        found = _SECONDS.search(str(raw)) if raw.seconds else None
        whole, fraction = found.groups() if found is not None else ("%d" % (raw.seconds or 0), None)
        fraction = (fraction or "").rstrip("0")
        if len(fraction) > 6:
            return str(raw)
        try:  # (by component: whole days and hours stay exact, where a sum of seconds in a float would not)
            value = timedelta(days=raw.days or 0, hours=raw.hours or 0, minutes=raw.minutes or 0,
                              seconds=int(whole), microseconds=int(fraction.ljust(6, "0")))
            return -value if raw.negative else value
        except OverflowError:  # valid, but past timedelta's 999999999 days: kept as written, as P1M is
            return str(raw)
    return raw


_SECONDS = re.compile(r"(\d+)(?:\.(\d*))?S$")


def _leaf_address(leaf: Any, kind: str) -> m.Address:
    index = _index(type(leaf))

    def attr(name: str) -> Any:
        var = index.get(name)
        value = getattr(leaf, var.name) if var else None
        return value.value if isinstance(value, Enum) else value

    coding = attr("@addressCoding")
    try:
        coding = m.AddressCoding(coding) if coding is not None else None
    except ValueError:
        pass
    return m.Address(
        value=(attr("text()") or "").strip(),
        kind=m.AddressKind(kind),
        display_only=bool(attr("@displayOnly")),
        address_coding=coding,
        id=attr("@id"),
    )


def _address(holder: Any) -> m.Address | None:
    var = _choice_var(type(holder))
    leaf = getattr(holder, var.name) if var else None
    if isinstance(leaf, list):
        leaf = leaf[0] if leaf else None
    if leaf is None:
        return None
    return _leaf_address(leaf, _choice_names(type(holder))[type(leaf)])


def _addresses(holder: Any) -> list[m.Address]:
    var = _choice_var(type(holder))
    names = _choice_names(type(holder))
    return [_leaf_address(leaf, names[type(leaf)]) for leaf in getattr(holder, var.name)]


def _recipients(raw: Any) -> m.Recipients:
    var = _choice_var(type(raw))
    names = _choice_names(type(raw))
    out = m.Recipients()
    for item in getattr(raw, var.name):
        getattr(out, names[type(item)].lower()).extend(_addresses(item))
    return out


def _status(raw: Any) -> m.Status:
    """Status without its Details, which `read_free_content` reads (for both engines)."""
    index = _index(type(raw))
    code = getattr(raw, index["StatusCode"].name)
    text = getattr(raw, index["StatusText"].name) if "StatusText" in index else None
    return m.Status(code=status_code(code), text=text)


def status_code(raw: Any) -> int:
    """StatusCode as a number; what the normaliser could not repair is refused by name."""
    if raw is None:
        raise ValueError("Status has no StatusCode")
    try:
        return int(raw.strip() if isinstance(raw, str) else raw)
    except ValueError:
        raise ValueError(f"StatusCode {raw!r} is not a number") from None


def read_free_content(el: etree._Element, ncls: type, cls: type) -> dict[str, Any]:
    """What the schema leaves open in message element `el` (generated class `cls`): Status/Details
    and the further attributes of a child such as ServiceCode, as neutral field values.

    Read from the tree for both engines alike: xsdata's generic elements drop text after a comment
    and white space between elements, rewrite attribute values that look like prefixed names, and
    bind an element of free content to a generated class when their names match.
    """
    out: dict[str, Any] = {}
    plan = _free_plan(ncls, cls)
    if not plan:  # (most messages: no Status, no element taking further attributes)
        return out
    ns = el.tag[: el.tag.find("}") + 1]  # (the tree is in schema shape: children in its namespace)
    for name, path, attrs, clazz in plan:
        # (a child's name, as the plan holds: iterchildren finds it as find does, without
        # ElementPath's parsing of the path on every message)
        node = next(el.iterchildren(ns + path), None)
        if node is None:
            continue
        if attrs is not None:
            out[attrs] = _further_attributes(node, clazz)
        elif (details := next(node.iterchildren(ns + "Details"), None)) is not None:
            content = freecontent.read(details)
            out[name] = (freecontent.text_of(content),
                         freecontent.serialize(content) if freecontent.has_elements(content) else None,
                         dict(freecontent.own_attributes(details)))
    return out


@cache
def _free_plan(ncls: type, cls: type) -> tuple[tuple[str, str, str | None, type], ...]:
    """The children of a message where free content may be, as (field, element, the field holding
    its further attributes or None for Status/Details, the child's generated class): the same for
    every message of a type, so worked out once."""
    index = _index(cls)
    plan = []
    for name, path, _, attrs in _fields(ncls):
        if (attrs is None and path != "Status") or (var := index.get(path)) is None or var.clazz is None:
            continue
        plan.append((name, path, attrs, var.clazz))
    return tuple(plan)


def _further_attributes(node: etree._Element, cls: type) -> dict[str, str]:
    """`node`'s attributes that its type does not declare (those its attribute wildcard took)."""
    index = _index(cls)
    if "@*" not in index:
        return {}
    declared = {_qname(v) if v.namespaces and v.namespaces[0] else v.local_name
                for k, v in index.items() if k.startswith("@") and k != "@*"}
    return {k: v for k, v in freecontent.own_attributes(node) if k not in declared}


def keep_free_content(msg: m.Message, free: dict[str, Any]) -> None:
    """Put what `read_free_content` read on the message."""
    for name, value in free.items():
        if name == "status":
            msg.status.details, msg.status.details_xml, msg.status.details_attributes = value
        else:
            setattr(msg, name, value)


# ---------------------------------------------------------------------------------------------
# Decoding straight from a (normalised) lxml tree: the same field paths, no generated objects.


def from_element(el: etree._Element, ncls: type, cls: type) -> Any:
    """Neutral `ncls` from element `el` whose schema type is generated `cls` (the reading model).

    The tree must already be in schema shape (see `tolerance`); values are converted with
    xsdata's own converters, so both decoding engines read every value the same way.
    """
    kwargs = {}
    kids = _children_by_name(el)
    for name, path, first, target, is_list, child, read in _read_plan(ncls, cls):
        if child is not None:  # one child element: no path to walk
            if first not in kids:  # (most fields are absent: told without a call)
                continue
            nodes = kids[first]  # (never empty)
            var = child
        else:
            if path and first not in kids and first[0] not in "@t":
                continue  # nothing there: the common case, checked without walking the path
            raw = _element_path(el, kids, cls, path)
            if raw is None:
                continue
            var, nodes = raw
            read = None
        if read is not None:
            kwargs[name] = [read(n) for n in nodes] if is_list else read(nodes[0])
        else:
            kwargs[name] = [_element_value(n, var, target) for n in nodes] if is_list else _element_value(nodes[0], var, target)
    return ncls(**kwargs)


@cache
def _read_plan(ncls: type, cls: type) -> tuple[tuple, ...]:
    """Per field: (name, path, first step, target, is a list, the child's XmlVar when the path is
    one child element, how to read such a child when it holds a plain value)."""
    index = _index(cls)
    plan = []
    for f, path in _plan(ncls):
        first = path.split("/", 1)[0]
        target = _target(ncls, f.name)
        child = index.get(path) if path and "/" not in path and path[0] not in "@t" else None
        read = None
        if child is not None and child.clazz is None and (target is None or issubclass(target, Enum)):
            read = _plain_reader(child, target)
        plan.append((f.name, path, first, target, typing.get_origin(_hints(ncls)[f.name]) is list, child, read))
    return tuple(plan)


@cache
def held_once(ncls: type, cls: type) -> frozenset[str]:
    """Children that generated `cls` lets repeat and a neutral field of `ncls` holds one of (a
    schema with ``Content`` 0..n, as one transcription of REL-6-MM7-1-4 has it): read, the first."""
    return frozenset(path for _, path, _, _, is_list, child, _ in _read_plan(ncls, cls)
                     if child is not None and child.list_element and not is_list)


def extension_point(cls: type) -> XmlVar | None:
    """The element wildcard of a generated class that declares elements besides (an official
    file's ``xs:any`` extension point); None without one, and for free content such as Status's
    Details, which is all wildcard and read as such."""
    index = _index(cls)
    wildcard = index.get("#any")
    if wildcard is None or not any(k[0] not in "@#" and k != "text()" for k in index):
        return None
    return wildcard


@cache
def reaches_extension_point(cls: type, _seen: frozenset[type] = frozenset()) -> bool:
    """Whether `cls` or a class of its children has an extension point (none in our schemas)."""
    if extension_point(cls) is not None:
        return True
    seen = _seen | {cls}
    return any(var.clazz is not None and var.clazz not in seen and reaches_extension_point(var.clazz, seen)
               for key, var in _index(cls).items() if key[0] not in "@#" and key != "text()")


def extension_elements(el: etree._Element, cls: type, path: str,
                       everywhere: bool = False) -> list[tuple[etree._Element, str]]:
    """Elements of a valid tree below `el` (of generated `cls`) that an extension point takes:
    valid, yet no field of a message holds them. With their paths, in document order.
    `everywhere`: the message's own schema has extension points the reading model (`cls`) may not
    have (an official file of an earlier version): in a valid tree, an element of another
    namespace in any type with elements is one an extension point took."""
    if not everywhere and not reaches_extension_point(cls):
        return []
    tag = el.tag
    prefix = tag[: tag.find("}") + 1] if tag[0] == "{" else ""
    index, wildcard = _index(cls), extension_point(cls)
    if everywhere and "#any" in index and wildcard is None:
        return []  # free content (Status/Details): read as such
    found = []
    for child in el.iterchildren(etree.Element):
        ctag = child.tag
        local = ctag[ctag.find("}") + 1:]
        var = index.get(local) if ctag == prefix + local and local[0] not in "@#" and local != "text()" else None
        if var is not None:
            if var.clazz is not None:
                found += extension_elements(child, var.clazz, f"{path}/{local}", everywhere)
        elif (wildcard is not None and wildcard.match_namespace(ctag)) or (everywhere and ctag[:1] == "{"
                                                                            and not ctag.startswith(prefix)):
            found.append((child, f"{path}/{local}"))
    return found


@cache
def _held_attributes(ncls: type) -> frozenset[str]:
    """Paths below a message of `ncls` whose further attributes a field holds (ServiceCode's,
    Status/Details')."""
    held = {path for _, path, _, attrs in _fields(ncls) if attrs is not None}
    if any(path == "Status" for _, path, _, _ in _fields(ncls)):
        held.add("Status/Details")
    return frozenset(held)


@cache
def reaches_open_attributes(ncls: type, cls: type, below: str = "", _seen: frozenset[type] = frozenset()) -> bool:
    """Whether `cls` (at path `below` in a message of `ncls`) or a class of its children takes
    further attributes by a wildcard (``xs:anyAttribute``, as official files have) that no field of
    the message holds: none in our schemas."""
    index = _index(cls)
    if "@*" in index and below not in _held_attributes(ncls):
        return True
    seen = _seen | {cls}
    return any(var.clazz is not None and var.clazz not in seen
               and reaches_open_attributes(ncls, var.clazz, f"{below}/{key}".lstrip("/"), seen)
               for key, var in index.items() if key[0] not in "@#" and key != "text()")


def extension_attributes(el: etree._Element, ncls: type, cls: type, path: str, below: str = "",
                         everywhere: bool = False) -> list[tuple[etree._Element, str, str, str]]:
    """Attributes in a valid tree at or below message element `el` (of neutral `ncls`, generated
    `cls`) that an attribute wildcard takes and no field holds, as (element, attribute in Clark
    notation, value, path of the attribute), in document order. `everywhere`: the message's own
    schema has wildcards the reading model (`cls`) may not have (see `extension_elements`): an
    attribute of another namespace that `cls` does not declare is one a wildcard took."""
    if not everywhere and not reaches_open_attributes(ncls, cls, below):
        return []
    index = _index(cls)
    if everywhere and "#any" in index and not any(k[0] not in "@#" and k != "text()" for k in index):
        return []  # free content (Status/Details): read as such
    found = []
    if below not in _held_attributes(ncls) and ("@*" in index or everywhere):
        for key, value in _undeclared_attributes(el, cls).items():
            if key != _SOAP_ENCODING_STYLE and not key.startswith(_XSI) and ("@*" in index or key[:1] == "{"):
                found.append((el, key, value, f"{path}/@{etree.QName(key).localname}"))
    tag = el.tag
    prefix = tag[: tag.find("}") + 1] if tag[0] == "{" else ""
    for child in el.iterchildren(etree.Element):
        ctag = child.tag
        local = ctag[ctag.find("}") + 1:]
        var = index.get(local) if ctag == prefix + local and local[0] not in "@#" and local != "text()" else None
        if var is not None and var.clazz is not None:
            found += extension_attributes(child, ncls, var.clazz, f"{path}/{local}", f"{below}/{local}".lstrip("/"),
                                          everywhere)
    return found


_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"  # (xsi:type, xsi:nil: allowed anywhere, no wildcard's)


def _undeclared_attributes(node: etree._Element, cls: type) -> dict[str, str]:
    """`node`'s attributes that its type (generated `cls`) does not declare."""
    index = _index(cls)
    declared = {_qname(v) if v.namespaces and v.namespaces[0] else v.local_name
                for k, v in index.items() if k.startswith("@") and k != "@*"}
    return {k: v for k, v in node.attrib.items() if k not in declared}


def _plain_reader(var: XmlVar, target: type | None) -> Callable[[Any], Any]:
    """What `_element_value` does for an element holding a plain value, decided once."""
    if var.types == _STR and target is None:
        return lambda node: node.text or ""
    return lambda node: _neutral_scalar(_parse_scalar(node.text or "", var), target)


def _children_by_name(el: etree._Element) -> dict[str, list[etree._Element]]:
    out: dict[str, list[etree._Element]] = {}
    for child in el:
        tag = child.tag
        if isinstance(tag, str):
            name = tag[tag.find("}") + 1 :]
            if name in out:
                out[name].append(child)
            else:
                out[name] = [child]  # (no list made and dropped for each child, as setdefault's)
    return out


def _element_path(el, kids, cls: type, path: str):
    """(XmlVar, [nodes]) at `path` below `el`; attributes and text come back as strings."""
    if path == "":
        return None, [el]
    heads = path.split("/")
    for i, head in enumerate(heads):
        var = _index(cls).get(head)
        if var is None:
            return None
        if head.startswith("@"):
            value = el.get(_qname(var) if var.namespaces and var.namespaces[0] else var.local_name)
            return None if value is None else (var, [value])
        if head == "text()":
            return None if el.text is None else (var, [el.text])
        nodes = kids.get(head)
        if not nodes:
            return None
        if i == len(heads) - 1:
            return var, nodes
        el, cls = nodes[0], var.clazz
        kids = _children_by_name(el)
    return None


def _parse_scalar(text: str, var: XmlVar) -> Any:
    read = _READERS.get(id(var))  # XmlVars live as long as the shared context: safe to key by id
    if read is None:
        read = _READERS[id(var)] = _reader(var)
    return read(text)


_READERS: dict[int, Callable[[str], Any]] = {}


def _reader(var: XmlVar) -> Callable[[str], Any]:
    """How to read one variable's text: the common types directly, the rest with xsdata's
    converters. Both give the same values (xsdata's rules: white space stripped, then int(),
    "true"/"1"/"false"/"0", an enumeration member by value)."""
    types, fmt = var.types, var.format

    def general(text: str) -> Any:
        if str not in types:
            text = text.strip()  # XSD collapses white space around numbers, booleans and dates
        try:
            return converter.deserialize(text, types, format=fmt)
        except ConverterError:
            return text  # as xsdata's parser does: kept as sent; schema validation has reported it

    if types == _STR:
        return str
    known: dict[str, Any] = {}
    if types == (bool,):
        known = {"true": True, "1": True, "false": False, "0": False}
    elif len(types) == 1 and isinstance(types[0], type) and issubclass(types[0], Enum):
        known = {e.value: e for e in types[0] if isinstance(e.value, str) and " " not in e.value}
    elif types == (int,):

        def read_int(text: str) -> Any:
            try:
                return int(text)
            except ValueError:
                digits = text.strip().lstrip("+-")
                if digits.isdigit() and digits.isascii():
                    # More digits than int() reads (4300): schema-valid, and no typed field may hold
                    # it as a string. Refused (a DecodeError naming the element).
                    raise ValueError(f"a number of {len(digits)} digits") from None
                return general(text)

        return read_int
    elif types == (XmlDateTime,):

        def read_datetime(text: str) -> Any:
            # The usual form, read in a few calls (xsdata's parser takes some sixty a value, one a
            # character); anything else (white space, a year past 9999, 24:00:00, a leap second, a
            # zone past 14:00) as before.
            found = _PLAIN_DATETIME.fullmatch(text)
            if found is None:
                return general(text)
            y, mo, d, h, mi, sec, fraction, zone, sign, zh, zm = found.groups()
            offset = None
            if zone == "Z":
                offset = 0
            elif zone:
                offset = int(zh) * 60 + int(zm)
                if offset > 14 * 60 or int(zm) > 59:
                    return general(text)
                offset = -offset if sign == "-" else offset
            try:
                datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec))  # (a date that exists)
            except ValueError:
                return general(text)
            return XmlDateTime(int(y), int(mo), int(d), int(h), int(mi), int(sec),
                               int(fraction.ljust(9, "0")) if fraction else 0, offset)

        return read_datetime
    if known:
        return lambda text: known[text] if text in known else general(text)
    return general


# xs:dateTime as nearly every sender writes it: four-digit year, seconds, up to nine digits of
# fraction, a zone or none.
_PLAIN_DATETIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?:\.(\d{1,9}))?"
                             r"(Z|([+-])(\d\d):(\d\d))?", re.ASCII)


def _element_value(node, var: XmlVar | None, target: type | None) -> Any:
    if target is m.Address:
        return _element_address(node)
    if target is m.Recipients:
        out = m.Recipients()
        for role in node:
            if isinstance(role.tag, str):
                name = role.tag.rpartition("}")[2].lower()
                getattr(out, name).extend(_element_addresses(role))
        return out
    if target is m.Status:
        kids = _children_by_name(node)
        code = kids.get("StatusCode")
        text = kids.get("StatusText")
        return m.Status(  # (Details: see `read_free_content`)
            code=status_code((code[0].text or "") if code else None),
            text=text[0].text or "" if text else None,
        )
    if target is not None and dataclasses.is_dataclass(target):
        return from_element(node, target, var.clazz)
    if isinstance(node, str):
        value = _parse_scalar(node, var)
    elif var is not None and var.clazz is not None:  # simple content with attributes (ServiceCode)
        value = node.text or ""
    else:
        value = _parse_scalar(node.text or "", var)
    return _neutral_scalar(value, target)


def _element_address(node) -> m.Address | None:
    for leaf in node:
        if isinstance(leaf.tag, str):
            return _leaf_from_element(leaf)
    return None


def _element_addresses(node) -> list[m.Address]:
    return [_leaf_from_element(leaf) for leaf in node if isinstance(leaf.tag, str)]


_ADDRESS_KINDS = {kind.value: kind for kind in m.AddressKind}


def _leaf_from_element(leaf) -> m.Address:
    coding = leaf.get("addressCoding")
    try:
        coding = m.AddressCoding(coding) if coding is not None else None
    except ValueError:
        pass
    local = leaf.tag.rpartition("}")[2]
    return m.Address(
        value=(leaf.text or "").strip(),
        kind=_ADDRESS_KINDS.get(local) or m.AddressKind(local),  # (an enum call costs a microsecond)
        display_only=(leaf.get("displayOnly") or "").strip() in ("true", "1"),
        address_coding=coding,
        id=leaf.get("id"),
    )


def field_enum_values(version: Version, element: str, child: str) -> tuple[str, ...]:
    """Enumeration values of a child element's type in one version (from the generated enum)."""
    cls = version.element_class(element)
    var = _index(cls).get(child) if cls else None
    if var is not None and var.clazz is not None:
        # A child declared globally and used by reference (as official files may declare
        # MM7Version) has a class of its own: the enumeration is its text's type.
        var = _index(var.clazz).get("text()")
    for t in var.types if var else ():
        if isinstance(t, type) and issubclass(t, Enum):
            return tuple(e.value for e in t)
    return ()


def tolerant_factory(cls: type, params: dict) -> Any:
    """xsdata class factory that lets a required child be missing (recorded as a deviation)."""
    try:
        return cls(**params)
    except TypeError:
        for f in dataclasses.fields(cls):
            if f.init and f.name not in params and f.default is dataclasses.MISSING and (
                f.default_factory is dataclasses.MISSING
            ):
                params[f.name] = None
        return cls(**params)

