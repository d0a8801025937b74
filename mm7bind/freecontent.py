"""What the schemas leave open: the elements and attributes of Status/Details (``xs:any``,
``mixed``) and the attributes of ServiceCode (``xs:anyAttribute``).

Read as received and kept, so that a message forwarded or stored, or a carrier's structured error
detail, loses nothing: text and elements with their namespace-qualified names and attributes.
Namespace prefixes, comments and processing instructions carry no content here and are not kept.

Markup is never pasted into a document: it is parsed, and written again from the tree, with the
namespace declarations it needs where the same walk (and xsdata's serializer, which writes the
same bytes) would put them. Nothing in it can close the element it sits in or add markup around it.

An xsi:type value is a prefixed name whose prefix may be declared anywhere up the document (on the
Envelope, say): it is kept as ``{namespace}local`` and written back under a prefix declared for it,
so that what was valid as received is valid as sent on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree
from xsdata.formats.dataclass.models.generics import AnyElement
from xsdata.models.enums import DataType

from .errors import EncodeError
from .xmlsafe import (
    ThreadXPath,
    declaration_readable,
    escape_attribute,
    escape_text,
    hardened_parser,
    invalid_xml_char,
)

XML_NS = "http://www.w3.org/XML/1998/namespace"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
# The prefixes xsdata's serializer gives these namespaces (the rest get ns0, ns1, ...).
_KNOWN_PREFIXES = {
    "http://www.w3.org/2001/XMLSchema": "xs",
    "http://www.w3.org/2001/XMLSchema-instance": "xsi",
    "http://www.w3.org/1998/Math/MathML": "mathml3",
    "http://www.w3.org/1999/xlink": "xlink",
    "http://www.w3.org/1999/xhtml": "xhtml",
    "http://schemas.xmlsoap.org/wsdl/soap/": "soap",
    "http://schemas.xmlsoap.org/wsdl/soap12/": "soap12",
    "http://schemas.xmlsoap.org/soap/envelope/": "soapenv",
    "http://schemas.xmlsoap.org/soap/encoding/": "soapenc",
}
# An attribute's local name: nothing that could end it (space, quote, =, <, >, colon). (\w admits a
# few characters XML names do not; the schema check of the document on its way out reports those.)
_NCNAME = re.compile(r"[^\W\d][\w.\-]*\Z")


@dataclass(frozen=True)
class Node:
    """One element of free content: its ``{namespace}local`` name, attributes and mixed content."""

    name: str
    attributes: tuple[tuple[str, str], ...]
    content: tuple[str | Node, ...]


Content = tuple  # of str | Node, in document order


# ---------------------------------------------------------------------------------------------
# Reading


def read(el: etree._Element) -> Content:
    """The content of `el` (text and elements) as received; comments and PIs left out, their tails kept."""
    types = _TypeScope(el) if _HAS_XSI_TYPE(el) else None
    return _read(el, types)


def _read(el: etree._Element, types: _TypeScope | None) -> Content:
    out: list[Any] = []

    def text(piece: str | None) -> None:
        if piece:
            if out and type(out[-1]) is str:
                out[-1] += piece
            else:
                out.append(piece)

    text(el.text)
    for child in el:
        if isinstance(child.tag, str):
            attributes = attributes_of(child)
            if types is not None and child.get(XSI_TYPE) is not None:
                attributes = tuple((k, types.resolved(child, v) if k == XSI_TYPE else v) for k, v in attributes)
            out.append(Node(child.tag, attributes, _read(child, types)))
        text(child.tail)
    return tuple(out)


_HAS_XSI_TYPE = ThreadXPath("boolean(.//@xsi:type)",
                            namespaces={"xsi": "http://www.w3.org/2001/XMLSchema-instance"})


class _TypeScope:
    """The prefixes in scope inside one element, for its xsi:type values: those declared outside it
    looked up once, those inside it kept per element that declares any. (An element's `nsmap` is a
    copy of every declaration in scope: asked for each of thousands of elements under thousands of
    declarations, it would cost their product.)"""

    def __init__(self, top: etree._Element) -> None:
        self.top = top
        self.outside = top.nsmap
        self.own: dict[etree._Element, dict[str | None, str]] = {}
        declared: list[tuple[str, str]] = []
        for event, item in etree.iterwalk(top, events=("start-ns", "start")):
            if event == "start-ns":
                declared.append(item)
                continue
            if declared and item is not top:
                self.own[item] = {prefix or None: uri for prefix, uri in declared}
            declared = []

    def namespace(self, el: etree._Element, prefix: str | None) -> str | None:
        while el is not None and el is not self.top:
            own = self.own.get(el)
            if own is not None and prefix in own:
                return own[prefix]
            el = el.getparent()
        return self.outside.get(prefix)

    def resolved(self, el: etree._Element, value: str) -> str:
        """An xsi:type value ("v:T", or "T" under a default namespace) as ``{namespace}T``: its
        prefix means nothing once the declarations in scope are gone. Left as written when its
        prefix is bound to nothing (invalid as received, and as sent on)."""
        prefix, _, local = value.strip().rpartition(":")
        namespace = self.namespace(el, prefix or None)
        if namespace is None:
            return value if prefix else value.strip()
        return f"{{{namespace}}}{local}"


_ATTRIBUTES = ThreadXPath("@*")


def attributes_of(el: etree._Element) -> tuple[tuple[str, str], ...]:
    """`el`'s attributes as ``("{namespace}name", value)``, in document order. (lxml's
    ``attrib.items()`` finds each value by its name, from the first attribute on: time quadratic in
    their number, 6 s for an element with 40,000.)"""
    return tuple((attribute.attrname, str(attribute)) for attribute in _ATTRIBUTES(el))


def own_attributes(el: etree._Element) -> tuple[tuple[str, str], ...]:
    """`attributes_of(el)` for an element whose attributes are kept without it (Details,
    ServiceCode): an xsi:type value among them as the ``{namespace}local`` it names there."""
    attributes = attributes_of(el)
    if el.get(XSI_TYPE) is None:
        return attributes
    return tuple((k, _TypeScope(el).resolved(el, v) if k == XSI_TYPE else v) for k, v in attributes)


def text_of(content: Content) -> str | None:
    """All the text, as the `details` field holds it: as sent (mixed content, which XML leaves as
    it is); None when there is none, or only the white space that lays out elements."""
    parts: list[str] = []

    def walk(items: Content) -> None:
        for item in items:
            if type(item) is str:
                parts.append(item)
            else:
                walk(item.content)

    walk(content)
    text = "".join(parts)
    return text if text.strip() or (text and not has_elements(content)) else None


def has_elements(content: Content) -> bool:
    return any(type(item) is not str for item in content)


def parse(markup: str, where: str) -> Content:
    """Content written as XML (``details_xml``), refused unless it is well-formed on its own."""
    if not isinstance(markup, str):
        raise EncodeError(f"{where}: markup must be a str, not {type(markup).__name__}")
    if (bad := invalid_xml_char(markup)) is not None:
        raise EncodeError(f"{where}: character U+{ord(bad):04X} cannot be sent in XML")
    try:
        # (one wrapper, no namespace: the markup declares every namespace it uses)
        wrapper = etree.fromstring(f"<content>{markup}</content>".encode(), hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise EncodeError(f"{where}: not well-formed XML content ({exc.msg})") from None
    for node in wrapper.iter():
        if isinstance(node.tag, str) and ":" in etree.QName(node).localname:
            raise EncodeError(f"{where}: element name {etree.QName(node).localname!r} is not namespace-well-formed")
    return read(wrapper)


def canonical(markup: str, where: str) -> tuple[str | None, str | None]:
    """(text, markup as read back) of content given as XML; the markup is None without elements
    (the text then says it all)."""
    content = parse(markup, where)
    return text_of(content), serialize(content) if has_elements(content) else None


def serialize(content: Content) -> str:
    """The content as XML standing on its own (the form `details_xml` holds)."""
    return write(content, {})


def check_attributes(attributes: Any, where: str) -> dict[str, str]:
    """Attributes given as ``{"{namespace}name": value}`` or ``{"name": value}``, checked to be
    writable as attributes (never markup, never a namespace declaration)."""
    if not isinstance(attributes, dict):
        raise EncodeError(f"{where}: attributes must be a dict, not {type(attributes).__name__}")
    for key, value in attributes.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise EncodeError(f"{where}: attribute names and values must be str ({key!r}: {value!r})")
        namespace, local = split(key)
        if not _NCNAME.match(local) or namespace == "" or (namespace is None and local == "xmlns") or (
                namespace == XMLNS_NS):
            raise EncodeError(f"{where}: {key!r} is not an attribute name (give '{{namespace}}name' or 'name')")
        for text in (value, namespace or ""):
            if (bad := invalid_xml_char(text)) is not None:
                raise EncodeError(f"{where}/@{local}: character U+{ord(bad):04X} cannot be sent in XML")
        if namespace is not None and not _namespace_readable(namespace):
            raise EncodeError(f"{where}/@{local}: {namespace!r} is not a namespace URI an XML parser takes")
    return attributes


def _namespace_readable(namespace: str) -> bool:
    """Whether a declaration of `namespace` parses (libxml2 refuses a URI with spaces or quotes,
    as a peer's parser may: a namespace read from a document always passed)."""
    return declaration_readable("p", namespace)


def split(name: str) -> tuple[str | None, str]:
    """(namespace, local name) of ``{namespace}local`` or ``local``."""
    if name[:1] == "{":
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return None, name


# ---------------------------------------------------------------------------------------------
# Writing, as text or as xsdata's generic elements (which its serializer writes the same)


def to_generic(content: Content) -> list[Any]:
    """The content as xsdata's mixed-content list (strings and `AnyElement`s)."""

    def element(node: Node) -> AnyElement:
        text, children = "", []
        for item in node.content:
            if type(item) is str:
                if children:
                    children[-1].tail = (children[-1].tail or "") + item
                else:
                    text += item
            else:
                children.append(element(item))
        return AnyElement(qname=node.name, text=text, children=children, attributes=dict(node.attributes))

    return [item if type(item) is str else element(item) for item in content]


def write(content: Content, scope: dict[str | None, str]) -> str:
    """The content as XML text inside an element whose namespaces in scope are `scope`
    (prefix → namespace; None for the default one)."""
    out: list[str] = []
    names = _Scope(scope)

    def element(node: Node) -> None:
        mark = names.mark()
        namespace, local = split(node.name)
        names.declare(namespace)
        if namespace is None and names.bindings.get(None, "") != "":
            # An unqualified element under a default namespace: xmlns="", undone before an xsi:type
            # value is named, which could otherwise name its type by the namespace undone here.
            names.bind(None, "")
        attributes = names.with_names_as_values(node.attributes)
        for key, _ in attributes:
            names.declare(split(key)[0], attribute=True)
        tag = names.name(namespace, local)
        out.append(f"<{tag}{names.declarations(mark)}{names.attributes(attributes)}")
        if not node.content:
            out.append("/>")
        else:
            out.append(">")
            for item in node.content:
                if type(item) is str:
                    out.append(escape_text(item))
                else:
                    element(item)
            out.append(f"</{tag}>")
        names.restore(mark)

    for item in content:
        if type(item) is str:
            out.append(escape_text(item))
        else:
            element(item)
    return "".join(out)


def write_attributes(attributes: dict[str, str], scope: dict[str | None, str]) -> str:
    """Attributes (and the declarations of their namespaces) for the start tag of an element
    whose namespaces in scope are `scope`."""
    names, written = _with_attributes(attributes, scope)
    return names.declarations(0) + names.attributes(written)


def scope_inside(attributes: dict[str, str], scope: dict[str | None, str]) -> dict[str | None, str]:
    """The namespaces in scope inside an element given `attributes` (those declare theirs)."""
    return dict(_with_attributes(attributes, scope)[0].bindings)


def _with_attributes(attributes: dict[str, str], scope: dict[str | None, str]) -> tuple[_Scope, list]:
    """`scope` with the namespaces of `attributes` bound, as their element's start tag declares
    them, and the attributes as written there."""
    names = _Scope(scope)
    written = names.with_names_as_values(attributes.items())
    for key, _ in written:
        names.declare(split(key)[0], attribute=True)
    return names, written


def _is_name_value(key: str, value: str) -> bool:
    """Whether xsdata's serializer writes an attribute value as a prefixed name: ``{namespace}local``
    in xsi:type, or naming one of XML Schema's types in any attribute."""
    return value[:1] == "{" and (key == XSI_TYPE or DataType.from_qname(value) is not None)


_UNBOUND = object()


class _Scope:
    """The namespaces in scope during one walk (prefix → namespace, None for the default one, in
    the order they were bound), bound on the way into an element and undone on the way out.

    Each question (is this namespace bound? under which prefix?) is a lookup, not a walk over the
    bindings, and no element copies them: content declaring thousands of namespaces, around
    thousands of elements, would otherwise cost their product.
    """

    def __init__(self, scope: dict[str | None, str]) -> None:
        self.bindings = dict(scope)
        self.position = {prefix: i for i, prefix in enumerate(self.bindings)}
        self.prefixed: dict[str, str] = {}  # namespace → the first prefix bound to it
        for prefix, namespace in self.bindings.items():
            if prefix is not None:
                self.prefixed.setdefault(namespace, prefix)
        self.changes: list[tuple[str | None, Any]] = []  # (prefix, what it was bound to before)

    def mark(self) -> int:
        return len(self.changes)

    def bind(self, prefix: str | None, namespace: str) -> None:
        before = self.bindings.get(prefix, _UNBOUND)
        self.changes.append((prefix, before))
        if before is _UNBOUND:
            self.position[prefix] = len(self.bindings)
        self.bindings[prefix] = namespace
        if prefix is not None:
            self.prefixed.setdefault(namespace, prefix)

    def restore(self, mark: int) -> None:
        while len(self.changes) > mark:
            prefix, before = self.changes.pop()
            namespace = self.bindings[prefix]
            if before is _UNBOUND:  # (the last bound: the bindings keep their order)
                del self.bindings[prefix], self.position[prefix]
                if self.prefixed.get(namespace) == prefix:
                    del self.prefixed[namespace]
            else:
                self.bindings[prefix] = before

    def declare(self, namespace: str | None, attribute: bool = False) -> None:
        """Bind `namespace` to a prefix unless one is bound; xsdata's serializer does the same
        (``ns`` and the number of bindings in scope, or a well-known prefix)."""
        if not namespace or namespace == XML_NS:  # (the xml prefix is bound in every document)
            return
        # (an attribute cannot be in the default namespace: unprefixed, it would be in none)
        if namespace in self.prefixed or (not attribute and self.bindings.get(None) == namespace):
            return
        prefix = _KNOWN_PREFIXES.get(namespace) or f"ns{len(self.bindings)}"
        n = len(self.bindings)
        while prefix in self.bindings:
            n += 1
            prefix = f"ns{n}"
        self.bind(prefix, namespace)

    def declarations(self, mark: int) -> str:
        """The declarations of what was bound since `mark` (the default namespace first: it was
        in scope before, and the rest are new)."""
        changed = sorted({prefix for prefix, _ in self.changes[mark:]}, key=self.position.__getitem__)
        out = []
        for prefix in changed:
            namespace = escape_attribute(self.bindings[prefix])
            out.append(f' xmlns:{prefix}="{namespace}"' if prefix else f' xmlns="{namespace}"')
        return "".join(out)

    def name(self, namespace: str | None, local: str, attribute: bool = False) -> str:
        if not namespace:
            return local
        if namespace == XML_NS:
            return f"xml:{local}"
        prefix = self.prefixed.get(namespace)
        if not attribute and self.bindings.get(None) == namespace and (
                prefix is None or self.position[None] < self.position[prefix]):
            prefix = None
        return f"{prefix}:{local}" if prefix else local

    def with_names_as_values(self, attributes: Any) -> list[tuple[str, str]]:
        """`attributes` with each ``{namespace}local`` value that is a name written prefixed, its
        namespace bound first if it is not (as xsdata's serializer does, before the attributes'
        own namespaces)."""
        out = []
        for key, value in attributes:
            if _is_name_value(key, value):
                namespace, local = split(value)
                if namespace:
                    self.declare(namespace)
                    value = self.name(namespace, local)
                else:
                    value = local
            out.append((key, value))
        return out

    def attributes(self, attributes: Any) -> str:
        return "".join(f' {self.name(*split(key), attribute=True)}="{escape_attribute(value)}"'
                       for key, value in attributes)
