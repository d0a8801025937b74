"""Which text a version's schema accepts in an element or attribute, read from the XSD itself.

The text encoder uses this to prove a document valid as it writes it: a string written where the
schema says `xs:string` (or a restriction of it by enumeration, length or a simple pattern) is
checked here, and when every value of a message is proven that way the schema check of the whole
document can be skipped. Anything this module does not understand gives no check, and the
document is validated as before — so an official schema file with other constructs only costs
speed, never correctness.

Checks are per local name, over every declaration of that name in the file: a name declared with
two different types gets a check only if both types give the same one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from lxml import etree

from .versions import Version, envelope_schema_path
from .xmlsafe import HARDENED

XS = "http://www.w3.org/2001/XMLSchema"
Check = Callable[[str], bool]

_ANY: Check = lambda text: True  # noqa: E731 (xs:string: any text XML can carry)
# xs:anyURI, conservatively: RFC 3986 characters without "%" (libxml2 refuses some escapes), spaces,
# or brackets (libxml2 takes them only around an IPv6 host: "[" alone is refused). A value outside
# this set is not proven here, and the document is validated whole instead.
_URI = re.compile(r"[A-Za-z0-9._~:/?#@!$&'()*+,;=-]+")
# A ":" before the first "/", "?" or "#" ends a scheme, which RFC 3986 starts with a letter: libxml2
# refuses ":", ":x" and "1:x", which no relative reference can be either.
_SCHEME_COLON = re.compile(r"[^/?#]*:")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# An authority ("//" first, or after the scheme): libxml2 refuses a port that is not a number it
# takes ("//a:b", "http://a:/", ten digits) and a second "@" in it. One with neither ":" nor a
# second "@" is proven; a port or a password is left to the schema check.
_AUTHORITY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//([^/?#]*)")


# The common form, "scheme:" and no authority, fragment or escape ("cid:content-1@mm7bind"): proven
# in one match, as each check below would prove it.
_PLAIN_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?!//)[A-Za-z0-9._~:/?@!$&'()*+,;=-]*")


def _any_uri(text: str) -> bool:
    if _PLAIN_URI.fullmatch(text) is not None:
        return True
    if _URI.fullmatch(text) is None or text.count("#") > 1:  # (a fragment holds no "#": libxml2 refuses "a#b#c")
        return False
    if _SCHEME_COLON.match(text) is not None and _SCHEME.match(text) is None:
        return False
    authority = _AUTHORITY.match(text)
    return authority is None or (":" not in authority.group(1) and authority.group(1).count("@") <= 1)


_BUILTIN: dict[str, Check] = {"string": _ANY, "anyURI": _any_uri}
# Patterns in the subset where XSD and Python regular expressions agree (anchoring aside).
# ("." is left out: XSD's refuses CR, Python's takes it.)
_SAFE_PATTERN = re.compile(r"(?:[A-Za-z0-9 _,:;@#/|()\[\]{}?*+-]|\\[.\-+*?()\[\]{}|\\d])*")
_FACETS = {"enumeration", "pattern", "length", "minLength", "maxLength"}


class _Unknown(Exception):
    """A construct this reading does not cover: no check for that type."""


@cache
def checks(version: Version) -> tuple[dict[str, Check | None], dict[str, Check | None]]:
    """(element local name → check of its text, attribute local name → check of its value) for
    `version`; None where the schema says something this module cannot prove."""
    elements: dict[str, Check | None] = {}
    attributes: dict[str, Check | None] = {}
    for path in (Path(version.schema_path), envelope_schema_path()):
        _read(path, elements, attributes)
    return elements, attributes


def _read(path: Path, elements: dict, attributes: dict) -> None:
    root = etree.parse(str(path), etree.XMLParser(**HARDENED)).getroot()
    if any(c.tag in (f"{{{XS}}}include", f"{{{XS}}}redefine", f"{{{XS}}}override") for c in root):
        # Declarations elsewhere could reuse names: prove nothing from this file.
        for el in root.iter(f"{{{XS}}}element", f"{{{XS}}}attribute"):
            if el.get("name"):
                (elements if el.tag.endswith("element") else attributes)[el.get("name")] = None
        return
    # A name also used by reference to another schema's declaration may mean that one: no check.
    target_ns = root.get("targetNamespace")
    foreign = set()
    for el in root.iter(f"{{{XS}}}element", f"{{{XS}}}attribute"):
        ref = el.get("ref")
        if ref:
            prefix, _, local = ref.rpartition(":")
            if el.nsmap.get(prefix or None) != target_ns:
                foreign.add((el.tag, local))
    simple = {t.get("name"): t for t in root.findall(f"{{{XS}}}simpleType")}
    complex_ = {t.get("name"): t for t in root.findall(f"{{{XS}}}complexType")}
    reader = _Types(simple, complex_)
    for el in root.iter(f"{{{XS}}}element", f"{{{XS}}}attribute"):
        name = el.get("name")
        if not name:
            continue  # a reference: the referenced global declaration is read by its own name
        target = elements if el.tag == f"{{{XS}}}element" else attributes
        try:
            check = reader.declaration(el)
        except _Unknown:
            check = None
        if name in target and target[name] is not check:
            check = None  # declared twice with different meanings
        target[name] = check
    for tag, local in foreign:
        (elements if tag == f"{{{XS}}}element" else attributes)[local] = None


class _Types:
    def __init__(self, simple: dict, complex_: dict):
        self.simple, self.complex = simple, complex_
        self.memo: dict[str, Check] = {}

    def declaration(self, el: etree._Element) -> Check:
        if el.get("fixed") is not None:
            raise _Unknown("a fixed value")
        if el.get("type"):
            return self.named(el, el.get("type"))
        inline = el.find(f"{{{XS}}}simpleType")
        if inline is not None:
            return self.simple_type(inline)
        inline = el.find(f"{{{XS}}}complexType")
        if inline is not None:
            return self.complex_type(inline)
        raise _Unknown("no type: anything goes, nothing proven")

    def named(self, where: etree._Element, qname: str) -> Check:
        prefix, _, local = qname.rpartition(":")
        ns = where.nsmap.get(prefix or None)
        if ns == XS:
            if local not in _BUILTIN:
                raise _Unknown(local)
            return _BUILTIN[local]
        if local in self.memo:
            return self.memo[local]
        if local in self.simple:
            check = self.simple_type(self.simple[local])
        elif local in self.complex:
            check = self.complex_type(self.complex[local])
        else:
            raise _Unknown(qname)
        self.memo[local] = check
        return check

    def simple_type(self, node: etree._Element) -> Check:
        restriction = node.find(f"{{{XS}}}restriction")
        if restriction is None or len(node) != 1 + len(node.findall(f"{{{XS}}}annotation")):
            raise _Unknown("a list or union")
        return self.restriction(restriction)

    def complex_type(self, node: etree._Element) -> Check:
        content = node.find(f"{{{XS}}}simpleContent")
        if content is None:
            raise _Unknown("element content, not text")
        extension = content.find(f"{{{XS}}}extension")
        if extension is not None:
            return self.named(extension, extension.get("base"))
        restriction = content.find(f"{{{XS}}}restriction")
        if restriction is None:
            raise _Unknown("simple content")
        return self.restriction(restriction)

    def restriction(self, node: etree._Element) -> Check:
        if node.get("base") is None:
            raise _Unknown("an inline base type")
        base = self.named(node, node.get("base"))
        facets = [c for c in node if isinstance(c.tag, str) and c.tag != f"{{{XS}}}annotation"
                  and not (c.tag.startswith(f"{{{XS}}}attribute"))]
        if not facets:
            return base
        tests: list[Check] = [base]
        values = [f.get("value") for f in facets if f.tag == f"{{{XS}}}enumeration"]
        if values:
            allowed = frozenset(values)
            tests.append(allowed.__contains__)
        for f in facets:
            kind = f.tag.rpartition("}")[2]
            if kind not in _FACETS:
                raise _Unknown(kind)
            value = f.get("value") or ""
            if kind == "pattern":
                if _SAFE_PATTERN.fullmatch(value) is None or "-[" in value:  # (-[ is XSD class subtraction)
                    raise _Unknown(f"pattern {value!r}")
                tests.append(re.compile(f"(?:{value})").fullmatch)
            elif kind in ("length", "minLength", "maxLength"):
                n = int(value)
                tests.append({"length": lambda t, n=n: len(t) == n, "minLength": lambda t, n=n: len(t) >= n,
                              "maxLength": lambda t, n=n: len(t) <= n}[kind])
        if len([f for f in facets if f.tag == f"{{{XS}}}pattern"]) > 1:
            raise _Unknown("several patterns (alternatives)")
        return lambda text: all(bool(test(text)) for test in tests)
