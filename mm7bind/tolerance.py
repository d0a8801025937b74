"""Tolerant reading: bring what real MMSCs send into schema shape, recording every change.

Works on the lxml tree of one MM7 element before xsdata sees it. The schema knowledge comes from
the generated classes of the reading model (the newest schema, a superset of the others), so this
module has no element tables of its own beyond the vendor misspellings seen in real traffic.
Whatever cannot be fixed is left for schema validation to report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from functools import cache

from lxml import etree

from . import binding, versions
from . import messages as m
from .messages import ADDRESS_EDGE_SPACE, trimmed_address
from .errors import Deviation
from .mime import decode_words
from .validation import at_extension_point, readable_path
from .versions import MM7_NS_BASE, SOAP_NS, Version
from .xmlsafe import invalid_xml_char
from xsdata.models.datatype import XmlDateTime, XmlDuration

# Misspellings and vendor names seen on the wire → the schema's element, per parent element.
RENAMES: dict[str | None, dict[str, str]] = {
    None: {
        "AuxApplicID": "AuxApplicInfo",  # InstantCom
        "EarlistDeliveryTime": "EarliestDeliveryTime",  # InstantCom
        "EarlestDeliveryTime": "EarliestDeliveryTime",  # MSAG
        "ReplayChargingID": "ReplyChargingID",  # MSAG
        "Detail": "Details",  # spec example
    },
    "DeliveryReportReq": {"TimeStamp": "Date",  # China Mobile / Unicom gateways
                          "Recipients": "Recipient"},  # a C MM7 library's reports: <Recipients><Number>
    "ReadReplyReq": {"Recipients": "Recipient"},  # (the same library's read replies)
}
# Children written beside the element that holds them → that element, per parent element.
MISPLACED: dict[str, dict[str, str]] = {
    "CancelReq": {"SenderAddress": "SenderIdentification"},  # China Mobile's SDK
}
# SOAP 1.1 (4.1.1) lets encodingStyle stand on any element; the schemas declare it on TransactionID
# alone. It names serialization rules, and MM7 is read as the literal XML it is whatever it names.
SOAP_ENCODING_STYLE = f"{{{SOAP_NS}}}encodingStyle"
ENUM_ALIASES = {
    "Unrecognized": "Unrecognised",  # Sinch/Skycore spelling
    "Advertisment": "Advertisement",  # InstantCom's MessageClass
}

_INT = re.compile(r"[+-]?\d+")
_BOOLEAN_WORDS = {"yes": "true", "no": "false", "y": "true", "n": "false", "on": "true", "off": "false"}
# A number followed by words ("1000 OK", "2002: address error"): the number is the value.
_LEADING_INT = re.compile(r"([+-]?\d+)(?:\s*[:;-])?\s+(\S.*)", re.DOTALL)
# Dates as peers write them: one-digit fields, a space for T, no seconds, "z", a space before the
# zone, a zone without minutes ("+08") or without its colon ("+0800").
_DATE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})[Tt ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(\.\d+)?)?\s*(Z|z|[+-]\d{1,2}(?::?\d{2})?)?$"
)


def _same_but_case(name: str, index: dict) -> str | None:
    """The child `index` defines that `name` spells in another case (`PreviouslySentBy` for the
    schema's `Previouslysentby`, whose capitalisation rests on transcriptions of the schema)."""
    lowered = name.lower()
    return next((k for k in index if k.lower() == lowered and k[0] not in "@#" and k != "text()"), None)


class Collector:
    """Deviations of one message; namespace slips are summarised rather than listed per element,
    and any other kind is listed up to `MAX_LISTED` times, then counted (a hostile message repeats
    one slip for each of its 200,000 elements)."""

    SUMMARISED = ("unqualified-element", "foreign-namespace")
    MAX_LISTED = 100

    def __init__(self) -> None:
        self.items: list[Deviation] = []
        self._counts: dict[str, list] = {}
        self._listed: dict[str, int] = {}

    def add(self, code: str, path: str, message: str, details: str = "") -> None:
        if code in self.SUMMARISED:
            entry = self._counts.setdefault(code, [path, message, 0])
            entry[2] += 1
            return
        listed = self._listed[code] = self._listed.get(code, 0) + 1
        if listed <= self.MAX_LISTED:
            self.items.append(Deviation(code, path, message, details))

    def __bool__(self) -> bool:
        return bool(self.items or self._counts)

    def extend(self, devs: Iterable[Deviation]) -> None:
        for d in devs:
            self.add(d.code, d.path, d.message, d.details)

    def result(self) -> list[Deviation]:
        out = list(self.items)
        for code, listed in self._listed.items():
            if listed > self.MAX_LISTED:
                out.append(Deviation(code, "", f"{listed - self.MAX_LISTED} more like the above"))
        for code, (path, message, count) in self._counts.items():
            suffix = f" ({count} elements, first shown)" if count > 1 else ""
            out.append(Deviation(code, path, message + suffix))
        return out


def is_mm7_namespace(ns: str | None) -> bool:
    return bool(ns) and (ns.startswith(MM7_NS_BASE) or "/23.140/schema/" in ns.lower())


_AT_WILDCARD = "#any"  # (what `child_name` says of an element the reading model's wildcard takes)
_SLIPS_NAMED = 5  # children out of order named in an element-order deviation, the rest counted
MAX_EXTRAS = 100  # elements kept on `message.extras`; vendors add a few, a hostile message thousands


class Normalizer:
    """Rewrites one MM7 element (and its subtree) into the namespace `target_ns` and schema shape."""

    def __init__(self, target_ns: str, collector: Collector, source_ns: str | None = None):
        self.ns = target_ns
        self._prefix = f"{{{target_ns}}}"
        # Children in the namespace the message element itself came in are not slips of their own.
        self.source_ns = source_ns
        self.dev = collector
        self.extras: list[m.VendorElement] = []
        self.version = versions.by_namespace(target_ns)

    def run(self, el: etree._Element, cls: type) -> None:
        self.element(el, cls, el.getparent() is not None and readable_path(el) or "/" + etree.QName(el).localname,
                     (etree.QName(el).localname,))

    def element(self, el: etree._Element, cls: type, path: str, names: tuple[str, ...] = ()) -> None:
        index = binding.children(cls)
        if "#any" in index and not _has_elements(index):
            return  # free content (Status/Details): anything goes
        if len(el):
            self.promote_attribute_children(el, index, path)
        self.attributes(el, index, path)
        # (Tags are read one child at a time: lxml keeps each tag read on its element object, and a
        # list of 200,000 of them, each with its namespace, would hold all those strings at once.)
        kids = list(el.iterchildren(etree.Element))
        if "text()" in index:  # simple content (an address, ServiceCode)
            if kids and self.unwrap_nested(el, path):
                kids = []
            self.text_value(el, index["text()"], path)
        else:
            text = (el.text or "").strip()
            if text and not kids and _is_address_holder(index):
                self.wrap_plain_address(el, path)
                kids = list(el.iterchildren(etree.Element))
            elif text:
                self.dev.add("unexpected-text", path, f"text {text[:40]!r} in an element-only type dropped")
            elif el.text and not kids and not _has_elements(index):
                self.dev.add("whitespace-content", path, "whitespace inside an empty element ignored")
            el.text = None
            for child in kids:
                child.tail = None
        seen: set[str] = set()
        keys: list[int] = []  # the place in the schema's order of each child kept
        kept: list[str] = []  # and its name
        # Elements of another namespace the reading model's wildcard takes, with the number of
        # children kept before them: whether the schema has its wildcard just there is known once
        # the children after them are read.
        wildcard_taken: list[tuple[etree._Element, str, int]] = []
        choice = index.get("#choice")
        parent_name = el.tag[el.tag.find("}") + 1:]
        if parent_name in MISPLACED:
            kids = self.move_misplaced(kids, index, MISPLACED[parent_name], path)
        siblings = _Siblings(el)
        for i, child in enumerate(kids):
            # A child moved out of the tree (to the extras) holds a copy of each namespace
            # declaration it used as long as it is referenced: one at a time, not all of them.
            kids[i] = None
            tag = child.tag
            name = self.child_name(child, index, parent_name, path, siblings)
            if name is _AT_WILDCARD:
                wildcard_taken.append((child, f"{path}/{_split(tag)[1]}", len(kept)))
                continue
            if name is None:
                siblings.changed(tag, child)
                continue
            var = index[name]
            child_path = f"{path}/{name}"
            if not var.list_element and var.name in seen:
                self.keep_extra(child, child_path, "repeated-element", f"{name} ignored: only one allowed here")
                siblings.changed(tag, child)
                continue
            seen.add(var.name)
            if var.clazz is not None:
                self.element(child, var.clazz, child_path, (*names, name))
            else:
                self.attributes(child, {}, child_path)
                self.text_value(child, var, child_path)
            siblings.changed(tag, child)
            if child.getparent() is el:  # (not moved to the extras for an unusable value)
                # Alternatives of one choice share their group's place (To/Cc/Bcc in any order).
                keys.append(choice.index if choice is not None and var.name == choice.name else var.index)
                kept.append(name)
        for child, child_path, before in wildcard_taken:
            self.wildcard_child(child, child_path, names, kept[before - 1] if before else None,
                                kept[before] if before < len(kept) else None)
        self.order(el, keys, path)

    # -- pieces ---------------------------------------------------------------------------------

    def child_name(self, child: etree._Element, index: dict, parent: str, path: str,
                   siblings: _Siblings) -> str | None:
        tag = child.tag
        if tag.startswith(self._prefix):  # the common case: already right
            name = tag[len(self._prefix):]
            if name in index and name[0] not in "@#" and name != "text()":
                return name
        namespace, name = _split(tag)
        if namespace not in (self.ns, self.source_ns):
            if namespace is None:
                self.dev.add("unqualified-element", f"{path}/{name}", "element in no namespace read as MM7")
            elif is_mm7_namespace(namespace):
                self.dev.add("foreign-namespace", f"{path}/{name}", f"element in namespace {namespace}")
            elif (wildcard := index.get("#any")) is not None and wildcard.match_namespace(tag):
                return _AT_WILDCARD  # (an official file's extension point, if it stands there)
            else:
                self.keep_extra(child, f"{path}/{name}", "unknown-element", f"element in foreign namespace {namespace}")
                return None
        if name not in index or name.startswith(("@", "#")) or name == "text()":
            renamed = RENAMES.get(parent, {}).get(name) or RENAMES[None].get(name) or _same_but_case(name, index)
            if renamed and renamed in index:
                if siblings.has(renamed):
                    self.keep_extra(child, f"{path}/{name}", "unknown-element", f"{name} next to {renamed}")
                    return None
                self.dev.add("renamed-element", f"{path}/{name}", f"{name} read as {renamed}")
                name = renamed
            else:
                self.keep_extra(child, f"{path}/{name}", "unknown-element", f"{name} is not defined here; kept as extra")
                return None
        child.tag = f"{{{self.ns}}}{name}"
        return name

    def wildcard_child(self, child: etree._Element, path: str, names: tuple[str, ...], before: str | None,
                       after: str | None) -> None:
        """An element of another namespace, between children `before` and `after`, in an element
        (at `names`) whose type has an extension point (xs:any): valid and kept as extra if the
        schema has the wildcard just there, else an unknown element (the schema would refuse it)."""
        namespace = _split(child.tag)[0]
        there = at_extension_point(self.version, names, before, after, namespace) if self.version else None
        if there is False:
            where = f"after {before}" if before else "first"
            self.keep_extra(child, path, "unknown-element", f"element in foreign namespace {namespace} {where}, "
                            "where the schema has no extension point (xs:any)")
        else:  # (None: the schema does not say, and the reading model takes it)
            keep_extension(child, path, self.dev, self.extras)

    def move_misplaced(self, kids: list, index: dict, moves: dict[str, str],
                       path: str) -> list:
        """Children written beside their holder (the SDK's SenderAddress after SenderIdentification)
        moved into it, when it has none of its own; the children left to read here."""
        holders = {_split(k.tag)[1]: k for k in kids if _split(k.tag)[1] in moves.values()}
        kept = []
        for child in kids:
            name = _split(child.tag)[1]
            holder = holders.get(moves.get(name, ""))
            if name in index or holder is None or any(_split(c.tag)[1] == name for c in holder):
                kept.append(child)
                continue
            holder.append(child)
            self.dev.add("moved-element", f"{path}/{name}", f"{name} read inside {moves[name]}")
        return kept

    def promote_attribute_children(self, el: etree._Element, index: dict, path: str) -> None:
        """Attributes written as child elements (InstantCom's `<ReplyCharging><ReplyChargingSize>`)
        become the attributes they stand for; the value is checked like any attribute's."""
        promoted: dict[str, tuple[etree._Element, str]] = {}  # attribute → (child, its local name)
        for child in el.iterchildren(etree.Element):  # (one at a time: see `element`)
            if len(child):
                continue
            namespace, local = _split(child.tag)  # (no QName object per child: messages can hold 200,000)
            if namespace is not None and not is_mm7_namespace(namespace):
                continue
            name = local[:1].lower() + local[1:]
            if local in index or "@" + name not in index or el.get(name) is not None or name in promoted:
                continue
            promoted[name] = (child, local)
        for name, (child, local) in promoted.items():
            el.set(name, (child.text or "").strip())
            el.remove(child)
            self.dev.add("element-as-attribute", f"{path}/{local}", f"read as attribute {name}")

    def keep_extra(self, child: etree._Element, path: str, code: str, message: str) -> None:
        self.dev.add(code, path, message)
        self.stash(child, path)

    def stash(self, child: etree._Element, path: str) -> None:
        """Move `child` from the tree to the extras (past `MAX_EXTRAS`, only out of the tree)."""
        move_to_extras(child, path, self.extras)

    def attributes(self, el: etree._Element, index: dict, path: str) -> None:
        for key in list(el.attrib):
            qn = etree.QName(key)
            value = el.attrib[key]
            name = "@" + qn.localname
            var = index.get(name)
            if var is None and "@*" in index and index["@*"].match_namespace(key):
                continue  # taken by the type's attribute wildcard: valid, kept (by a field, or as extra)
            if key == SOAP_ENCODING_STYLE and var is None:
                del el.attrib[key]  # SOAP's own, allowed anywhere (see SOAP_ENCODING_STYLE): no deviation
                continue
            if qn.namespace and (var is None or qn.namespace not in (var.namespaces or ())):
                if var is not None and not var.namespaces:
                    del el.attrib[key]
                    el.set(qn.localname, value)
                    self.dev.add("qualified-attribute", f"{path}/@{qn.localname}", "prefixed attribute read unprefixed")
                    key = qn.localname
                else:
                    del el.attrib[key]
                    self.dev.add("unknown-attribute", f"{path}/@{qn.localname}", f"attribute {qn.text} dropped")
                    continue
            elif var is None:
                del el.attrib[key]
                self.dev.add("unknown-attribute", f"{path}/@{qn.localname}", "attribute not defined here, dropped")
                continue
            fixed = self.fix_scalar(value, var.types, f"{path}/@{qn.localname}")
            if fixed is None:  # unusable: its text is in the deviation
                del el.attrib[key]
            elif fixed != value:
                el.set(key, fixed)

    def text_value(self, el: etree._Element, var, path: str) -> None:
        if el.text is None:
            return
        fixed = self.fix_scalar(el.text, var.types, path)
        if fixed is None:  # unusable (reported): the element, attributes and all, goes to the extras
            self.stash(el, path)
        elif fixed != el.text:
            el.text = fixed

    def fix_scalar(self, value: str, types: tuple, path: str) -> str | None:
        """The value repaired into the schema's lexical form where we know how; None when a
        date/time, number or boolean cannot be read at all (so no typed field is left holding the
        raw text; an enumeration keeps a value it does not list, as vendors extend them)."""
        if str in types and not any(isinstance(t, type) and issubclass(t, Enum) for t in types):
            return value  # strings keep their whitespace
        text = value.strip()
        if int in types and bool not in types and (found := _LEADING_INT.fullmatch(text)):
            number, rest = found.groups()
            self.dev.add("number-format", path, f"{text!r} read as {number} ({rest!r} dropped)")
            return number
        if bool in types and text in ("True", "False", "TRUE", "FALSE"):
            self.dev.add("boolean-case", path, f"{text!r} read as {text.lower()!r}")
            return text.lower()
        if bool in types and text.lower() in _BOOLEAN_WORDS:
            fixed = _BOOLEAN_WORDS[text.lower()]
            self.dev.add("boolean-case", path, f"{text!r} read as {fixed!r}")
            return fixed
        if (bool in types and text not in ("true", "false", "1", "0")) or (
                int in types and bool not in types and not _INT.fullmatch(text)
                and not path.endswith("/StatusCode")):  # (no status without its code: refused by name)
            # As for dates: a typed field never holds a string. Left out, its text kept here.
            self.dev.add("value-unreadable", path, f"{value!r} is not a {'boolean' if bool in types else 'number'}; "
                                                   f"left out")
            return None
        if XmlDateTime in types or XmlDuration in types:
            if XmlDateTime in types and not (XmlDuration in types and text.startswith(("P", "-P"))):
                fixed = _fix_date(text)
                if fixed != text:
                    self.dev.add("date-format", path, f"{text!r} read as {fixed!r}")
                    text = fixed
            if not _readable_time(text, types):
                # A typed field never holds a string: the value is left out, its text kept here.
                self.dev.add("date-unreadable", path, f"{value!r} is not a date/time or duration we can read; left out")
                return None
            return text
        for t in types:
            if isinstance(t, type) and issubclass(t, Enum):
                values = [e.value for e in t]
                if text in values:
                    return text
                alias = ENUM_ALIASES.get(text) or next((v for v in values if v.lower() == text.lower()), None)
                if alias in values:
                    self.dev.add("enum-spelling", path, f"{text!r} read as {alias!r}")
                    return alias
        return text

    def unwrap_nested(self, el: etree._Element, path: str) -> bool:
        """A value wrapped in a further element (`<Number><Number>1</Number></Number>`, Mbuni's
        "buggy senders"): the innermost text is the value. Anything but a single chain of elements
        holding one text stays for `keep_extra`."""
        chain, inner = [], el
        while kids := [c for c in inner if isinstance(c.tag, str)]:
            if len(kids) != 1 or (inner.text or "").strip() or (kids[0].tail or "").strip():
                return False
            inner = kids[0]
            chain.append(inner)
        if inner is el or not (inner.text or "").strip():
            return False
        message = f"value inside {'/'.join(etree.QName(n).localname for n in chain)} read as the element's own"
        if dropped := {k: v for n in chain for k, v in n.attrib.items()}:
            message += f"; attributes of the inner element(s) ignored: {dropped}"
        for child in list(el):
            el.remove(child)
        el.text = inner.text
        self.dev.add("nested-element", path, message)
        return True

    def wrap_plain_address(self, el: etree._Element, path: str) -> None:
        text = el.text
        form = "RFC2822Address" if "@" in text else "Number"
        el.text = None
        # (white space and all: read without it as any address is, a control character said there)
        etree.SubElement(el, f"{{{self.ns}}}{form}").text = text
        self.dev.add("plain-text-address", path, f"address without Number/RFC2822Address/ShortCode read as {form}")

    def order(self, el: etree._Element, keys: list[int], path: str) -> None:
        """Put `el`'s children (those kept, whose places in the schema's order `keys` gives) in order."""
        if keys == sorted(keys):
            return
        kids = list(el.iterchildren(etree.Element))
        # Each child that came after one the schema puts later (the latest so far) is a slip; the
        # first few are named, so the peer's developer finds them all without a schema at hand.
        slips: list[tuple[int, int]] = []
        latest = 0
        for i in range(1, len(keys)):
            if keys[i] < keys[latest]:
                slips.append((i, latest))
            else:
                latest = i
        named = [f"{_split(kids[early].tag)[1]}{' came' if not n else ''} after {_split(kids[late].tag)[1]}"
                 for n, (early, late) in enumerate(slips[:_SLIPS_NAMED])]
        more = f", and {len(slips) - _SLIPS_NAMED} more" if len(slips) > _SLIPS_NAMED else ""
        self.dev.add("element-order", path, f"children out of schema order, reordered ({', '.join(named)}{more}; "
                                            f"the schema has {'it' if len(slips) == 1 else 'each'} before)")
        # Appending moves a child to the end: in sorted order, that is the order. (Taken out of the
        # tree first, each would have carried a copy of every namespace declaration it used.)
        for _, c in sorted(zip(keys, range(len(kids)), strict=True), key=lambda kv: kv[0]):
            el.append(kids[c])


def move_to_extras(child: etree._Element, path: str, extras: list[m.VendorElement]) -> None:
    """Move `child` from the tree to `extras` as a `VendorElement` found at `path` (past
    `MAX_EXTRAS` of them, only out of the tree)."""
    if len(extras) < MAX_EXTRAS:
        qn = etree.QName(child)
        extras.append(m.VendorElement(path, qn.localname, qn.namespace, "".join(child.itertext()).strip() or None,
                                      etree.tostring(child, encoding="unicode", with_tail=False)))
    take_out(child)


def keep_extension(child: etree._Element, path: str, dev: Collector, extras: list[m.VendorElement]) -> None:
    """An element an extension point (``xs:any``) takes, at `path`: valid, yet no field of a
    message holds it, so it is reported and kept as extra (never refused)."""
    dev.add("extension-element", path, f"element in namespace {etree.QName(child).namespace} where the schema "
            "has an extension point (xs:any): kept as extra")
    move_to_extras(child, path, extras)


def keep_extension_attribute(holder: etree._Element, key: str, value: str, path: str, dev: Collector,
                             extras: list[m.VendorElement]) -> None:
    """An attribute (`key` in Clark notation) of `holder` an attribute wildcard takes, at `path`:
    valid, yet no field of a message holds it, so it is reported and kept as extra, written as
    ``prefix:name="value"`` with the declaration of its namespace."""
    qn = etree.QName(key)
    dev.add("extension-attribute", path, f"attribute {qn.localname} in namespace {qn.namespace} where the schema "
            "has an attribute wildcard (xs:anyAttribute): kept as extra" if qn.namespace else
            f"attribute {qn.localname} where the schema has an attribute wildcard (xs:anyAttribute): kept as extra")
    if len(extras) < MAX_EXTRAS:
        probe = etree.Element("a", nsmap={p: n for p, n in holder.nsmap.items() if n == qn.namespace and p})
        probe.set(key, value)
        xml = etree.tostring(probe, encoding="unicode")[len("<a "):-len("/>")]
        extras.append(m.VendorElement(path, "@" + qn.localname, qn.namespace, value, xml))


def take_out(el: etree._Element) -> None:
    """Remove `el` from its tree, emptied first: lxml takes an element out in time quadratic in
    the number of its children (2.6 s for 131,000), and frees them in linear time."""
    el.clear()
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)


class _Siblings:
    """The local names of an element's children, counted when a child read under another name
    first asks whether that name is there already, then kept up to date as its children are
    renamed or taken out. (Each such child looked through all its siblings: thousands of
    TimeStamps in a report, each read as Date, took time quadratic in their number, minutes.)"""

    def __init__(self, parent: etree._Element):
        self.parent = parent
        self.counts: dict[str, int] | None = None

    def has(self, name: str) -> bool:
        if self.counts is None:
            self.counts = {}
            for child in self.parent.iterchildren(etree.Element):
                local = _split(child.tag)[1]
                self.counts[local] = self.counts.get(local, 0) + 1
        return self.counts.get(name, 0) > 0

    def changed(self, tag: str, child: etree._Element) -> None:
        """`child`, a child whose tag was `tag`, read: renamed, taken out, or as it was."""
        if self.counts is None:
            return
        now = child.tag if child.getparent() is self.parent else None
        if now != tag:
            before = _split(tag)[1]
            self.counts[before] -= 1
            if now is not None:
                after = _split(now)[1]
                self.counts[after] = self.counts.get(after, 0) + 1


def _split(tag: str) -> tuple[str | None, str]:
    """(namespace, local name) of an lxml tag ("{ns}local" or "local")."""
    if tag[:1] == "{":
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def _has_elements(index: dict) -> bool:
    return any(not k.startswith(("@", "#")) and k != "text()" for k in index)


def _is_address_holder(index: dict) -> bool:
    return {"Number", "RFC2822Address", "ShortCode"} <= set(index)


def _readable_time(text: str, types: tuple) -> bool:
    """Whether `text` reads as one of the date/duration `types`, as the binding will read it."""
    if XmlDuration in types and text.startswith(("P", "-P")):
        try:
            XmlDuration(text)
            return True
        except ValueError:
            return False
    if XmlDateTime not in types:
        return False
    try:
        binding.scalar_in(XmlDateTime.from_string(text))
        return True
    except (ValueError, OverflowError):
        return False


def _fix_date(text: str) -> str:
    mt = _DATE.match(text)
    if not mt:
        return text
    y, mo, d, h, mi, s, frac, tz = mt.groups()
    tz = "Z" if tz in ("Z", "z") else tz or ""
    if tz[:1] in ("+", "-"):
        sign, rest = tz[0], tz[1:].replace(":", "")
        hours, minutes = (rest, "00") if len(rest) <= 2 else (rest[:-2], rest[-2:])
        tz = f"{sign}{hours.zfill(2)}:{minutes}"
    return f"{y}-{int(mo):02d}-{int(d):02d}T{int(h):02d}:{int(mi):02d}:{int(s or 0):02d}{frac or ''}{tz}"


# Values peers send as RFC 2047 encoded words (mail habits; the CMCC world's GB2312 subjects).
ENCODED_WORD_ELEMENTS = ("Subject", "RFC2822Address")
# Addresses, whose text is read without the white space around it (Python's, which takes U+0085,
# U+2028 and U+001C-U+001F for white space too).
ADDRESS_ELEMENTS = ("Number", "ShortCode", "RFC2822Address")
_PLAIN_EDGE = frozenset(map(chr, range(0x21, 0x7F)))  # (an address that starts and ends so: no call)


@cache
def _encoded_word_tags(ns: str | None) -> tuple[str, ...]:
    return tuple(f"{{{ns}}}{n}" if ns else n for n in ENCODED_WORD_ELEMENTS)


@cache
def _address_tags(ns: str | None) -> frozenset[str]:
    return frozenset(f"{{{ns}}}{n}" if ns else n for n in ADDRESS_ELEMENTS)


def decode_encoded_words(el: etree._Element, collector: Collector) -> None:
    """Decode RFC 2047 encoded words in the text of `el`'s Subject and RFC2822Address elements.

    Such values are schema-valid strings, so this runs on every message, not only on those
    the normaliser repairs; the raw text stays in the deviation. Elements of those names inside
    Status/Details are free content, not MM7 fields: kept as written.
    """
    tag = el.tag
    ns = tag[1:tag.find("}")] if tag[:1] == "{" else None
    details = f"{{{ns}}}Details" if ns else "Details"
    words, addresses = _encoded_word_tags(ns), _address_tags(ns)
    for node in el.iter(*words, *addresses):
        raw = node.text
        if raw and node.tag in addresses and (raw[0] not in _PLAIN_EDGE or raw[-1] not in _PLAIN_EDGE):
            _note_control_edges(node, raw, details, collector)
        if node.tag not in words:
            continue
        # (the ancestors looked at only for a text with encoded words: a message may have
        # thousands of addresses)
        if not raw or "=?" not in raw or next(node.iterancestors(details), None) is not None:
            continue
        notes: list[str] = []
        if (decoded := decode_words(raw, notes)) != raw:
            if (bad := invalid_xml_char(decoded)) is not None:
                # (a NUL or a control character: no XML text, nor any sensible subject or address)
                collector.add("encoded-word", readable_path(node), f"RFC 2047 encoded words {raw!r} decode to "
                                                                   f"U+{ord(bad):04X}, which XML cannot carry: kept as sent")
                continue
            node.text = decoded
            said = "".join(f"; {note}" for note in notes)  # (a charset their label is not)
            collector.add("encoded-word", readable_path(node), f"RFC 2047 encoded words {raw!r} decoded{said}")


def _note_control_edges(node: etree._Element, raw: str, details: str, collector: Collector) -> None:
    """An address read from a peer whose text starts or ends with a control character (U+0085,
    U+2028, U+001F...): read without it, as white space is, but said, for no address holds one
    (the send API refuses such an address by its name; read, it would silently be another)."""
    if next(node.iterancestors(details), None) is not None:
        return
    stripped = raw.strip()
    if stripped == trimmed_address(raw):
        return
    edges = raw[: len(raw) - len(raw.lstrip())] + raw[len(raw.rstrip()) :]
    dropped = {c for c in edges if c not in ADDRESS_EDGE_SPACE}
    shown = ", ".join(f"U+{ord(c):04X}" for c in sorted(dropped))
    collector.add("address-control", readable_path(node), f"address {stripped!r} read without the control "
                                                          f"character(s) {shown} around it")


def version_of_namespace(ns: str | None) -> tuple[Version | None, list[Deviation]]:
    """Version for an MM7 namespace, tolerating whitespace and invented suffixes."""
    if ns is None:
        return None, []
    exact = versions.by_namespace(ns)
    if exact:
        return exact, []
    devs = []
    cleaned = re.sub(r"\s+", "", ns)
    if cleaned != ns:
        devs.append(Deviation("namespace-whitespace", "", f"whitespace inside the namespace URI {ns!r}"))
        exact = versions.by_namespace(cleaned)
        if exact:
            return exact, devs
    spelled = versions.by_spelling(cleaned)
    if spelled:
        devs.append(Deviation("namespace-spelling", "", f"namespace {cleaned} read as {spelled.name}'s "
                                                        f"{spelled.namespace}"))
        return spelled, devs
    close = versions.closest_for_namespace(cleaned)
    if close:
        devs.append(Deviation("unknown-version", "", f"unknown MM7 namespace {cleaned} read as {close.name}"))
    return close, devs
