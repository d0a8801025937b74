"""What the schemas leave open: the elements and attributes of Status/Details (``xs:any``,
``mixed``) and the attributes of ServiceCode (``xs:anyAttribute``).

Read as received and kept, so that a message forwarded or stored, or a carrier's structured error
detail, loses nothing: text and elements with their namespace-qualified names and attributes.
Namespace prefixes, comments and processing instructions carry no content here and are not kept.

Markup is never pasted into a document: it is parsed, and written again from the tree, with the
namespace declarations it needs where the same walk (and xsdata's serializer, which writes the
same bytes) would put them. Nothing in it can close the element it sits in or add markup around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lxml import etree
from xsdata.formats.dataclass.models.generics import AnyElement

from .errors import EncodeError
from .xmlsafe import escape_attribute, escape_text, hardened_parser, invalid_xml_char

XML_NS = "http://www.w3.org/XML/1998/namespace"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"
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
            out.append(Node(child.tag, tuple(child.attrib.items()), read(child)))
        text(child.tail)
    return tuple(out)


def text_of(content: Content) -> str | None:
    """All the text, as the `details` field holds it (stripped; None when there is none)."""
    parts: list[str] = []

    def walk(items: Content) -> None:
        for item in items:
            if type(item) is str:
                parts.append(item)
            else:
                walk(item.content)

    walk(content)
    return "".join(parts).strip() or None


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


@lru_cache(maxsize=256)
def _namespace_readable(namespace: str) -> bool:
    """Whether a declaration of `namespace` parses (libxml2 refuses a URI with spaces or quotes,
    as a peer's parser may: a namespace read from a document always passed)."""
    try:
        etree.fromstring(f'<a xmlns:p="{escape_attribute(namespace)}"/>'.encode(), hardened_parser())
    except etree.XMLSyntaxError:
        return False
    return True


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

    def element(node: Node, parent: dict[str | None, str]) -> None:
        scope = dict(parent)
        namespace, local = split(node.name)
        _declare(namespace, scope)
        attributes = dict(node.attributes)
        for key in attributes:
            _declare(split(key)[0], scope, attribute=True)
        if namespace is None and None in scope:
            scope[None] = ""  # an unqualified element under a default namespace: xmlns=""
        tag = _name(namespace, local, scope)
        out.append(f"<{tag}{_declarations(scope, parent)}{_attributes(attributes, scope)}")
        if not node.content:
            out.append("/>")
            return
        out.append(">")
        for item in node.content:
            if type(item) is str:
                out.append(escape_text(item))
            else:
                element(item, scope)
        out.append(f"</{tag}>")

    for item in content:
        if type(item) is str:
            out.append(escape_text(item))
        else:
            element(item, scope)
    return "".join(out)


def write_attributes(attributes: dict[str, str], scope: dict[str | None, str]) -> str:
    """Attributes (and the declarations of their namespaces) for the start tag of an element
    whose namespaces in scope are `scope`."""
    inner = scope_inside(attributes, scope)
    return _declarations(inner, scope) + _attributes(attributes, inner)


def scope_inside(attributes: dict[str, str], scope: dict[str | None, str]) -> dict[str | None, str]:
    """The namespaces in scope inside an element given `attributes` (those declare theirs)."""
    inner = dict(scope)
    for key in attributes:
        _declare(split(key)[0], inner, attribute=True)
    return inner


def _declare(namespace: str | None, scope: dict[str | None, str], attribute: bool = False) -> None:
    """Bind `namespace` to a prefix in `scope` unless one is bound; xsdata's serializer does the
    same (``ns`` and the number of bindings in scope, or a well-known prefix)."""
    if not namespace or namespace == XML_NS:  # (the xml prefix is bound in every document)
        return
    bound = [p for p, ns in scope.items() if ns == namespace]
    if bound and (not attribute or any(p is not None for p in bound)):
        return
    # (an attribute cannot be in the default namespace: unprefixed, it would be in none)
    prefix = _KNOWN_PREFIXES.get(namespace) or f"ns{len(scope)}"
    n = len(scope)
    while prefix in scope:
        n += 1
        prefix = f"ns{n}"
    scope[prefix] = namespace


def _declarations(scope: dict[str | None, str], parent: dict[str | None, str]) -> str:
    out = []
    for prefix, namespace in scope.items():
        if parent.get(prefix) != namespace:
            out.append(f' xmlns:{prefix}="{escape_attribute(namespace)}"' if prefix
                       else f' xmlns="{escape_attribute(namespace)}"')
    return "".join(out)


def _name(namespace: str | None, local: str, scope: dict[str | None, str], attribute: bool = False) -> str:
    if not namespace:
        return local
    if namespace == XML_NS:
        return f"xml:{local}"
    prefix = next(p for p, ns in scope.items() if ns == namespace and (p is not None or not attribute))
    return f"{prefix}:{local}" if prefix else local


def _attributes(attributes: dict[str, str], scope: dict[str | None, str]) -> str:
    return "".join(f' {_name(*split(key), scope, attribute=True)}="{escape_attribute(value)}"'
                   for key, value in attributes.items())

