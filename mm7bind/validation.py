"""Validation of SOAP/MM7 documents against the schemas in schemas/ with lxml (libxml2).

Each version gets one compiled schema set (the SOAP 1.1 envelope plus that version's MM7 XSD), so a
whole envelope validates in one pass: the envelope's lax wildcards pick up TransactionID, the body
element and RSErrorRsp/VASPErrorRsp inside a Fault detail. Imports of the envelope by its http URL
(as official 3GPP files write them) resolve to the local copy; nothing is fetched from the network.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from dataclasses import dataclass

from lxml import etree

from . import versions
from .versions import SOAP_NS, Version, envelope_schema_path
from .xmlsafe import HARDENED, ThreadXPath

_REMOTE_ENVELOPE = {SOAP_NS, SOAP_NS.rstrip("/"), "http://schemas.xmlsoap.org/soap/envelope/envelope.xsd"}


class _LocalResolver(etree.Resolver):
    def resolve(self, url, pubid, context):  # noqa: ANN001 (lxml signature)
        if url in _REMOTE_ENVELOPE:
            return self.resolve_filename(str(envelope_schema_path()), context)
        return None


@dataclass(frozen=True)
class Issue:
    """One schema violation: where (element path), what (in our words, element names without
    their namespaces), the source line, and libxml2's own message (`raw`)."""

    path: str
    message: str
    line: int | None = None
    raw: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        return f"{self.path} ({where.rstrip(', ')}): {self.message}" if where else f"{self.path}: {self.message}"


class _Schemas(threading.local):
    """Compiled schemas per thread: an XMLSchema's error log is not safe to share between threads."""

    def __init__(self) -> None:
        self.cache: dict[str, etree.XMLSchema] = {}
        self.parsers: dict[str, etree.XMLParser] = {}


_schemas = _Schemas()
# Compiling a schema is not safe in several threads at once (libxml2); using one is, per thread.
_COMPILE = threading.Lock()


def schema_for(version: Version) -> etree.XMLSchema:
    schema = _schemas.cache.get(version.name)
    if schema is None:
        with _COMPILE:
            return _compile(version)
    return schema


def validating_parser(version: Version) -> etree.XMLParser:
    """This thread's hardened parser that validates against `version` while it parses: for a
    valid document, one pass instead of a parse and then a walk of the tree (an XMLSyntaxError
    when the document is malformed or invalid; `validate_element` then says what is wrong)."""
    parser = _schemas.parsers.get(version.name)
    if parser is None:
        parser = _schemas.parsers[version.name] = etree.XMLParser(schema=schema_for(version), **HARDENED)
    return parser


def _compile(version: Version) -> etree.XMLSchema:
    schema = _schemas.cache.get(version.name)
    if schema is None:
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        parser.resolvers.add(_LocalResolver())
        driver = (
            '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
            f'<xs:import namespace="{SOAP_NS}" schemaLocation="{envelope_schema_path().as_uri()}"/>'
            f'<xs:import namespace="{version.namespace}" schemaLocation="{version.schema_path.as_uri()}"/>'
            "</xs:schema>"
        )
        doc = etree.fromstring(driver.encode(), parser, base_url=(version.schema_path.parent / "driver.xsd").as_uri())
        schema = _schemas.cache[version.name] = etree.XMLSchema(doc)
    return schema


_QNAME_NS = re.compile(r"\{[a-zA-Z][a-zA-Z0-9+.-]*:[^}']*\}")  # {namespace}Name, not {'a', 'b'} sets
_STEP = re.compile(r"^(?:[^:\[\]]+:)?(\*|[^\[\]]+)(?:\[(\d+)\])?$")


def without_namespaces(message: str) -> str:
    """A libxml2 message with its element names' namespaces left out, as our messages write names."""
    return _QNAME_NS.sub("", message)


def readable_path(el: etree._Element) -> str:
    parts = []
    while el is not None:
        parts.append(etree.QName(el).localname)
        el = el.getparent()
    return "/" + "/".join(reversed(parts))


def validate_element(root: etree._Element, version: Version | str, limit: int | None = None) -> list[Issue]:
    """Schema violations of a document (an Envelope, or a bare MM7 element) in `version` (a
    Version or its name); the first `limit` of them when a limit is given."""
    if _has_wide_element(root):
        return _issues_while_parsing(root, versions.get(version))[:limit]
    schema = schema_for(versions.get(version))
    tree = root.getroottree() if root.getparent() is None else etree.ElementTree(root)
    try:
        if schema.validate(tree):
            return []
    except etree.XMLSchemaValidateError as exc:  # ("internal error": an entity reference left in the tree)
        return [Issue(readable_path(root), f"cannot be validated: {exc}", None)]
    issues = []
    known: dict = {}  # what `_resolve` found, for all errors
    checks = [_REQUIRED_CHECKS]  # (what is left of the budget of `_required_where`)
    for err in list(schema.error_log):
        if limit is not None and len(issues) >= limit:
            break
        found, where = _resolve(tree.getroot(), err.path or "", known)
        message = worded(_QNAME_NS.sub("", err.message), found, schema, checks, versions.get(version))
        issues.append(Issue(where, message, err.line or None, err.message))
    return issues


# libxml2's messages on a content model, as they read once names have lost their namespaces.
_MISSING = re.compile(r"Element '([^']+)': Missing child element\(s\)\. Expected is (?:one of )?\( (.*) \)\.")
_UNEXPECTED = re.compile(r"Element '([^']+)': This element is not expected\.(?: Expected is (?:one of )?\( (.*) \)\.)?")
_NO_ATTRIBUTE = re.compile(r"Element '([^']+)': The attribute '([^']+)' is required but missing\.")
# Past this many errors of one document, an element out of place is not checked for a required one
# missing before it (a copy validated again each time).
_REQUIRED_CHECKS = 5


def _names(listed: str) -> str:
    """libxml2's list of expected elements as prose: "A", "A or B", "A, B or C"."""
    items = [_WILDCARDS.get(n.strip(), n.strip()) for n in listed.split(",") if n.strip()]
    if len(items) >= _LISTED_AT_MOST:  # (libxml2 names so many, and no more)
        return ", ".join(items) + " or another"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


_LISTED_AT_MOST = 10


_WILDCARDS = {"##other*": "an element of another namespace", "##any*": "any element", "*": "any element"}


def _place(el: etree._Element | None) -> str:
    """Where an element stands among its siblings: "after X", or "as its first child"."""
    prev = el.getprevious() if el is not None else None
    while prev is not None and not isinstance(prev.tag, str):
        prev = prev.getprevious()
    return f"after {etree.QName(prev).localname}" if prev is not None else "as its first child"


def worded(message: str, el: etree._Element | None = None, schema: etree.XMLSchema | None = None,
           checks: list[int] | None = None, version: Version | None = None) -> str:
    """A libxml2 message (names without namespaces) in our words where it is about a missing or
    misplaced element or a missing attribute: which one, in what, where. `el` is the element the
    message is about, when known; with `version`, the optional elements libxml2 lists beside a
    required one are left out (what is missing is the required one). Other messages are returned
    as they are."""
    found = _MISSING.fullmatch(message)
    if found is not None:
        parent, expected = found.groups()
        expected = _required_of(expected, el, version)
        last = el[-1] if el is not None and len(el) else None
        while last is not None and not isinstance(last.tag, str):
            last = last.getprevious()
        where = f"after {etree.QName(last).localname}" if last is not None else "as its first child"
        if "," not in expected:
            return f"{parent} lacks {_names(expected)}, which is required {where}"
        return f"{parent} lacks a required element {where}: one of {_names(expected)} must come there"
    found = _UNEXPECTED.fullmatch(message)
    if found is not None:
        name, expected = found.groups()
        parent = el.getparent() if el is not None else None
        within = etree.QName(parent).localname if parent is not None else "its parent"
        where = _place(el) if parent is not None else "here"
        if expected is None:
            return f"{name} is not allowed in {within} {where}"
        required = _required_where(el, schema, checks) if parent is not None else None
        if required:
            required = _required_of(required, parent, version)
            if "," not in required:
                return f"{within} lacks {_names(required)}, which is required {where} ({name} came there instead)"
            return (f"{within} lacks a required element {where}: one of {_names(required)} must come there "
                    f"({name} came instead)")
        many = "," in expected
        return f"{name} is not allowed in {within} {where}: {'one of ' if many else 'only '}{_names(expected)} may come there"
    found = _NO_ATTRIBUTE.fullmatch(message)
    if found is not None:
        return f"{found[1]} lacks its required attribute {found[2]}"
    return message


def _required_of(listed: str, parent: etree._Element | None, version: Version | None) -> str:
    """libxml2's list of the elements that may come next in `parent` (all those up to the first
    required one: "MMSRelayServerID, VASPID, VASID, LinkedID, Sender"), without the optional ones
    its schema class in `version` has: the required one(s) missing. The list as it is when that
    class is not found, or nothing would be left (alternatives of a choice are kept)."""
    if parent is None or version is None or "," not in listed:
        return listed
    from . import binding  # noqa: PLC0415 (binding's generated classes: only when an element is missing)

    cls = _class_of(parent, version)
    if cls is None:
        return listed
    index = binding.children(cls)
    choice = index.get("#choice")
    names = [n.strip() for n in listed.split(",") if n.strip()]
    kept = [n for n in names if (var := index.get(n)) is None or var.required or (
        choice is not None and var.name == choice.name)]
    return ", ".join(kept) if kept and len(kept) < len(names) else listed


def _class_of(el: etree._Element, version: Version) -> type | None:
    """The generated class `el` is read with in `version`: down from the MM7 element holding it
    (a body element, an error response in a Fault's detail)."""
    from . import binding  # noqa: PLC0415

    chain = [el, *el.iterancestors()]
    chain.reverse()
    for start, node in enumerate(chain):
        cls = version.element_class(etree.QName(node).localname)
        if cls is not None:
            break
    else:
        return None
    for node in chain[start + 1:]:
        var = binding.children(cls).get(etree.QName(node).localname)
        cls = var.clazz if var is not None else None
        if cls is None:
            return None
    return cls


def _required_where(el: etree._Element, schema: etree.XMLSchema | None, checks: list[int] | None) -> str | None:
    """The required element(s) missing where `el` stands, as libxml2 lists them when the content
    stops there (a copy without `el` and what follows it); None when nothing is required there
    (`el` is out of place or unknown) or it was not checked."""
    if schema is None or checks is None or checks[0] <= 0:
        return None
    checks[0] -= 1
    parent = el.getparent()
    steps = []
    node = parent
    while node.getparent() is not None:
        steps.append(node.getparent().index(node))
        node = node.getparent()
    top = copy.deepcopy(node)
    target = top
    for i in reversed(steps):
        target = target[i]
    for child in list(target)[parent.index(el):]:
        target.remove(child)
    if schema.validate(top):
        return None
    known: dict = {}
    for err in schema.error_log:
        if _resolve(top, err.path or "", known)[0] is target:
            found = _MISSING.fullmatch(_QNAME_NS.sub("", err.message))
            if found is not None:
                return found[2]
    return None


# lxml works out each error's element path as libxml2 writes it (/*/*[k]) by counting the element's
# like-named siblings: an error in every item of a list of 30,000 costs time quadratic in its length
# (15 s). Past this many children in one element, the errors come from validating while parsing
# the serialised document instead: linear, but without element paths.
_WIDE = 1000
_has_wide_element = ThreadXPath(f"boolean(descendant-or-self::*[count(*) > {_WIDE}])")


def _issues_while_parsing(root: etree._Element, version: Version) -> list[Issue]:
    try:
        etree.fromstring(etree.tostring(root), validating_parser(version))
    except etree.XMLSyntaxError as exc:
        where = readable_path(root)
        note = f" (no element path: the document has an element with more than {_WIDE} children)"
        return [Issue(where, worded(_QNAME_NS.sub("", err.message)) + note, None, err.message)
                for err in exc.error_log] or [
            Issue(where, str(exc) + note, None)]
    return _reused_ids(root)


_IDS = ThreadXPath("descendant-or-self::*/@id")


def _reused_ids(root: etree._Element) -> list[Issue]:
    """The `id` attributes (the addresses' xs:ID) whose value an earlier one has: libxml2 checks
    that an ID is unique only when it validates a tree, not while it parses."""
    seen: set[str] = set()
    issues = []
    for value in _IDS(root):
        if value in seen:
            owner = value.getparent()
            name = etree.QName(owner).localname
            message = (f"Element '{name}', attribute 'id': '{value}' is not a valid value of the atomic type "
                       "'xs:ID' (an earlier element has it).")
            issues.append(Issue(readable_path(owner), message, owner.sourceline))
        seen.add(str(value))
    return issues


def _resolve(root: etree._Element, path: str, known: dict) -> tuple[etree._Element | None, str]:
    """The element a libxml2 error path (``/env:Envelope/env:Body/*/*[2]``) points at, and its
    readable path (as `readable_path` writes it; the error path itself when nothing is there).
    `known` keeps what was found so far: the errors in a list of 1,000 recipients share their
    parent, which is then found once and its children listed once, not once per error."""
    found = known.get(path)
    if found is None:
        found = known[path] = _find(root, path, known)
    return found


def _find(root: etree._Element, path: str, known: dict) -> tuple[etree._Element | None, str]:
    head, _, step = path.rstrip("/").rpartition("/")
    m = _STEP.match(step)
    if m is None:
        return None, path
    parent, where = _resolve(root, head, known) if head.strip("/") else (None, "")
    name, pos = m.group(1), int(m.group(2) or 1)
    if parent is None and head.strip("/"):
        return None, path
    if parent is None:  # the first step: the root itself
        candidates = [root] if name == "*" or etree.QName(root).localname == name else []
    else:
        candidates = known.get((parent, name))
        if candidates is None:
            candidates = [c for c in parent if isinstance(c.tag, str)]
            if name != "*":
                candidates = [c for c in candidates if etree.QName(c).localname == name]
            known[(parent, name)] = candidates
    if len(candidates) < pos:
        return None, path
    node = candidates[pos - 1]
    return node, f"{where}/{etree.QName(node).localname}"


# ---------------------------------------------------------------------------------------------
# Where a schema's extension points (xs:any) stand


_XS = "{http://www.w3.org/2001/XMLSchema}"
_MODEL_GROUPS = (f"{_XS}sequence", f"{_XS}choice", f"{_XS}all")


def at_extension_point(version: Version, names: tuple[str, ...], before: str | None, after: str | None,
                       namespace: str | None) -> bool | None:
    """Whether `version`'s schema takes an element of `namespace` between children `before` and
    `after` (local names; None: the start, the end) of the element at `names` (the message element's
    local name, then its descendants'): a wildcard (xs:any) stands between the two in its content
    model, and admits the namespace. None when the schema does not say (an element it does not
    declare, a layout this reading does not follow)."""
    slots = _slots(version.name, version.schema_path, names)
    if slots is None:
        return None
    places = {name: i for i, (kind, name) in reversed(list(enumerate(slots))) if kind == "element"}
    low = places.get(before, -2) if before is not None else -1
    high = max((i for i, (kind, name) in enumerate(slots) if kind == "element" and name == after),
               default=-2) if after is not None else len(slots)
    if low == -2 or high == -2:
        return None
    return any(kind == "any" and low < i < high and _admits(constraint, namespace, version.namespace)
               for i, (kind, constraint) in enumerate(slots))


def _admits(constraint: str, namespace: str | None, target: str) -> bool:
    """Whether an xs:any's `namespace` attribute admits an element of `namespace`."""
    tokens = constraint.split() or ["##any"]
    if tokens == ["##any"]:
        return True
    if tokens == ["##other"]:
        return namespace is not None and namespace != target
    allowed = {None if t == "##local" else target if t == "##targetNamespace" else t for t in tokens}
    return namespace in allowed


@functools.cache
def _slots(version_name: str, path, names: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    """The content model of the element at `names`, flattened: ("element", local name) and
    ("any", its namespace attribute), in the order the schema has them (a choice's alternatives side
    by side). (`version_name` and `path` key the cache: a test may point a version elsewhere.)"""
    try:
        return _SchemaReading(path).slots(names)
    except (OSError, etree.XMLSyntaxError, KeyError, ValueError, RecursionError):
        return None


def has_extension_points(version: Version) -> bool:
    """Whether `version`'s schema has an xs:any in a type that has elements besides (an official
    file's extension point), not only in free content such as Status's Details, or any
    xs:anyAttribute (whether a field holds what it takes is the reader's to say)."""
    return _has_extension_points(version.name, version.schema_path)


@functools.cache
def _has_extension_points(version_name: str, path) -> bool:
    try:
        reading = _SchemaReading(path)
    except (OSError, etree.XMLSyntaxError):
        return False
    for root in reading.roots:
        if next(root.iter(f"{_XS}anyAttribute"), None) is not None:
            return True
        for wildcard in root.iter(f"{_XS}any"):
            kind = next(wildcard.iterancestors(f"{_XS}complexType"), None)
            if kind is not None and (kind.find(f"{_XS}complexContent") is not None
                                     or next(kind.iter(f"{_XS}element", f"{_XS}group"), None) is not None):
                return True
    return False


class _SchemaReading:
    """Just enough of an MM7 XSD (and the files beside it that it includes) to follow content models."""

    def __init__(self, path) -> None:
        parser = etree.XMLParser(**HARDENED)
        roots = [etree.parse(str(path), parser).getroot()]
        roots += [etree.parse(str(path.parent / inc.get("schemaLocation")), parser).getroot()
                  for inc in roots[0].iterchildren(f"{_XS}include")]
        self.roots = roots
        self.ns = roots[0].get("targetNamespace")
        self.top = {(etree.QName(n).localname, n.get("name")): n for root in roots for n in root
                    if isinstance(n.tag, str) and n.get("name")}

    def named(self, where: etree._Element, value: str, kind: str) -> etree._Element | None:
        prefix, _, local = value.rpartition(":")
        if where.nsmap.get(prefix or None) != self.ns:
            return None  # (a built-in type, or another namespace's: no element content of ours)
        return self.top.get((kind, local))  # (a simple type's name: None for "complexType")

    def slots(self, names: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
        decl = self.top[("element", names[0])]
        for name in names[1:]:
            found = [d for d in self.declarations(self.content(decl)) if self.element(d).get("name") == name]
            if not found:
                return None
            decl = self.element(found[0])
        out: list[tuple[str, str]] = []
        for node in self.flat(self.content(decl)):
            out.append(("any", node.get("namespace", "##any")) if node.tag == f"{_XS}any"
                       else ("element", self.element(node).get("name")))
        return tuple(out)

    def element(self, node: etree._Element) -> etree._Element:
        if not node.get("ref"):
            return node
        found = self.named(node, node.get("ref"), "element")
        if found is None:
            raise KeyError(node.get("ref"))
        return found

    def content(self, decl: etree._Element) -> list[etree._Element]:
        """The model groups that make up an element's content, in order (a base type's first)."""
        if decl.get("type"):
            kind = self.named(decl, decl.get("type"), "complexType")
        else:
            kind = decl.find(f"{_XS}complexType")
        return self.type_content(kind) if kind is not None and kind.tag == f"{_XS}complexType" else []

    def type_content(self, kind: etree._Element) -> list[etree._Element]:
        derived = kind.find(f"{_XS}complexContent")
        if derived is None:
            return [c for c in kind if c.tag in (*_MODEL_GROUPS, f"{_XS}group")]
        extension = derived.find(f"{_XS}extension")
        if extension is None:  # (a restriction states the whole model again)
            restriction = derived.find(f"{_XS}restriction")
            return [c for c in restriction if c.tag in (*_MODEL_GROUPS, f"{_XS}group")]
        base = self.named(extension, extension.get("base"), "complexType")
        inherited = self.type_content(base) if base is not None else []
        return inherited + [c for c in extension if c.tag in (*_MODEL_GROUPS, f"{_XS}group")]

    def flat(self, groups: list[etree._Element]) -> list[etree._Element]:
        """The xs:element and xs:any particles of `groups`, at any depth, in document order."""
        out = []
        for node in groups:
            if node.tag == f"{_XS}group":
                node = self.named(node, node.get("ref"), "group")
            for child in node.iterchildren(f"{_XS}element", f"{_XS}any", f"{_XS}group", *_MODEL_GROUPS):
                out += [child] if child.tag in (f"{_XS}element", f"{_XS}any") else self.flat([child])
        return out

    def declarations(self, groups: list[etree._Element]) -> list[etree._Element]:
        return [n for n in self.flat(groups) if n.tag == f"{_XS}element"]
