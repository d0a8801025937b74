"""Content models of an XSD's elements, whatever way the file writes them down.

The same MM7 structure can be written many ways: named or anonymous types, elements declared in
place or globally and used by `ref`, model groups and attribute groups, extension or restriction
of base types, a choice on its own or inside a sequence, sequences or all groups. The table tests
ask about elements by name (a body element, then its children) and get the same answers from our
schemas and from files in the official 3GPP layout.

Only what one schema file declares is read (the SOAP envelope's attributes are named, not
followed); that is all the MM7 schemas need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

XS_NS = "http://www.w3.org/2001/XMLSchema"
XS = f"{{{XS_NS}}}"
UNBOUNDED = None
_GROUPS = (f"{XS}sequence", f"{XS}choice", f"{XS}all")


@dataclass
class Particle:
    """An element (`decl` set) or a model group (`kind` sequence/choice/all with `items`)."""

    kind: str  # "element", "sequence", "choice", "all", "any"
    min: int = 1
    max: int | None = 1
    decl: Decl | None = None
    items: list[Particle] = field(default_factory=list)
    namespace: str = "##any"  # (of a wildcard)

    def elements(self) -> list[Particle]:
        """The element particles of this particle, at any depth, in document order."""
        if self.kind == "element":
            return [self]
        return [e for item in self.items for e in item.elements()]


@dataclass
class Decl:
    """An element declaration (global or local), with the type node it resolves to."""

    name: str
    node: etree._Element
    type: etree._Element | str  # a complexType/simpleType node, or the local name of a built-in


@dataclass
class Attr:
    name: str
    node: etree._Element  # the declaration (for `default`, `use`)
    namespace: str | None  # of a referenced attribute (a foreign one: type not followed)
    type: etree._Element | str | None


def _occurs(node: etree._Element) -> tuple[int, int | None]:
    high = node.get("maxOccurs", "1")
    return int(node.get("minOccurs", "1")), UNBOUNDED if high == "unbounded" else int(high)


def _times(a: int | None, b: int | None) -> int | None:
    return UNBOUNDED if a is UNBOUNDED or b is UNBOUNDED else a * b


class Schema:
    def __init__(self, path: str | Path):
        self.root = etree.parse(str(path)).getroot()
        self.ns = self.root.get("targetNamespace")
        # A file split into parts (xs:include of files beside it): their declarations are its own.
        self.roots = [self.root] + [etree.parse(str(Path(path).parent / inc.get("schemaLocation"))).getroot()
                                    for inc in self.root.findall(f"{XS}include")]
        top = {}
        for tag in ("complexType", "simpleType", "element", "group", "attributeGroup", "attribute"):
            top[tag] = {n.get("name"): n for root in self.roots for n in root.findall(f"{XS}{tag}")}
        self.top = top

    # -- names ---------------------------------------------------------------------------------

    def qname(self, where: etree._Element, value: str) -> tuple[str | None, str]:
        prefix, _, local = value.rpartition(":")
        return where.nsmap.get(prefix or None), local

    def lookup(self, where: etree._Element, value: str, kind: str) -> etree._Element:
        ns, local = self.qname(where, value)
        assert ns == self.ns, f"{value} is not declared in this schema"
        return self.top[kind][local]

    def type_ref(self, where: etree._Element, value: str) -> etree._Element | str:
        ns, local = self.qname(where, value)
        if ns == XS_NS:
            return local
        assert ns == self.ns, f"type {value} is not declared in this schema"
        return self.top["complexType"].get(local, self.top["simpleType"].get(local))

    # -- elements ------------------------------------------------------------------------------

    @property
    def global_elements(self) -> dict[str, Decl]:
        return {name: self.decl(node) for name, node in self.top["element"].items()}

    def element(self, name: str) -> Decl:
        return self.decl(self.top["element"][name])

    def decl(self, node: etree._Element) -> Decl:
        if node.get("ref"):
            node = self.lookup(node, node.get("ref"), "element")
        if node.get("type"):
            kind = self.type_ref(node, node.get("type"))
        else:
            inline = node.find(f"{XS}complexType")
            inline = inline if inline is not None else node.find(f"{XS}simpleType")
            kind = inline if inline is not None else "anyType"
        return Decl(node.get("name"), node, kind)

    def ref_names(self) -> set[str]:
        """Local names of the global elements the file uses by reference."""
        return {self.qname(e, e.get("ref"))[1] for root in self.roots for e in root.iter(f"{XS}element")
                if e.get("ref")}

    # -- content models ------------------------------------------------------------------------

    def model(self, decl: Decl) -> Particle:
        """The element content of `decl` as one particle (an empty sequence for none)."""
        return self._type_model(decl.type) if not isinstance(decl.type, str) else Particle("sequence")

    def _type_model(self, ctype: etree._Element) -> Particle:
        if ctype.tag != f"{XS}complexType":
            return Particle("sequence")  # simple type: text only
        content = ctype.find(f"{XS}complexContent")
        if content is None:
            own = self._first_group(ctype)
            return own if own is not None else Particle("sequence")
        derivation = content.find(f"{XS}extension")
        if derivation is not None:
            base = self.type_ref(derivation, derivation.get("base"))
            inherited = self._type_model(base) if not isinstance(base, str) else Particle("sequence")
            own = self._first_group(derivation)
            return self._normal(Particle("sequence", items=[inherited] + ([own] if own is not None else [])))
        # A restriction states the whole content model again.
        own = self._first_group(content.find(f"{XS}restriction"))
        return own if own is not None else Particle("sequence")

    def _first_group(self, node: etree._Element) -> Particle | None:
        for child in node:
            if child.tag in _GROUPS or child.tag == f"{XS}group":
                return self._particle(child)
        return None

    def _particle(self, node: etree._Element) -> Particle:
        low, high = _occurs(node)
        if node.tag == f"{XS}element":
            return Particle("element", low, high, decl=self.decl(node))
        if node.tag == f"{XS}any":
            return Particle("any", low, high, namespace=node.get("namespace", "##any"))
        if node.tag == f"{XS}group":
            inner = self._first_group(self.lookup(node, node.get("ref"), "group"))
            return self._normal(Particle("sequence", low, high, items=[inner]))
        items = [self._particle(c) for c in node
                 if c.tag in (f"{XS}element", f"{XS}any", f"{XS}group", *_GROUPS)]
        return self._normal(Particle(node.tag[len(XS):], low, high, items=items))

    def _normal(self, p: Particle) -> Particle:
        """The same language in fewer levels: a group of one particle where one of the two occurs
        exactly once is that particle; a sequence directly in a sequence is spliced in."""
        if p.kind == "element" or p.kind == "any":
            return p
        if len(p.items) == 1 and ((p.min, p.max) == (1, 1) or (p.items[0].min, p.items[0].max) == (1, 1)):
            inner = p.items[0]
            inner.min, inner.max = p.min * inner.min, _times(p.max, inner.max)
            return inner
        if p.kind == "sequence":
            items = []
            for item in p.items:
                if item.kind == "sequence" and (item.min, item.max) == (1, 1):
                    items += item.items
                else:
                    items.append(item)
            p.items = items
            if len(items) == 1:
                return self._normal(p)
        return p

    def children(self, decl: Decl) -> list[tuple]:
        """The content of `decl` as a list: (name, min, max) per element, in order; a choice or
        wildcard among them stays a particle (and so compares unequal to any element tuple), but
        for the extension points (`extension_points`), which the protocol's tables leave out."""
        return [(i.decl.name, i.min, i.max) if i.kind == "element" else i for i in self._items(decl)
                if not self.is_extension_point(i)]

    def extension_points(self, decl: Decl) -> list[Particle]:
        """The wildcards among `decl`'s children that are extension points, as official files
        have them: optional, and of other namespaces than the schema's (an MM7 element is never one)."""
        return [i for i in self._items(decl) if self.is_extension_point(i)]

    def is_extension_point(self, p: Particle) -> bool:
        tokens = p.namespace.split()
        return p.kind == "any" and p.min == 0 and bool(tokens) and not {"##any", "##targetNamespace", self.ns} & set(tokens)

    def _items(self, decl: Decl) -> list[Particle]:
        p = self.model(decl)
        return p.items if p.kind in ("sequence", "all") and (p.min, p.max) == (1, 1) else [p]

    def child(self, decl: Decl, name: str) -> Decl:
        """The declaration of child element `name`, wherever it sits in the content model."""
        found = [e.decl for e in self.model(decl).elements() if e.decl.name == name]
        assert found, f"{decl.name} has no child {name}"
        return found[0]

    def path(self, *names: str) -> Decl:
        decl = self.element(names[0])
        for name in names[1:]:
            decl = self.child(decl, name)
        return decl

    def descendants(self, decl: Decl, _above: tuple = ()) -> list[tuple[tuple[str, ...], Decl]]:
        """Every element declaration inside `decl` at any depth, as (names from below `decl` down
        to it, declaration), in document order; a type met again inside itself is not re-entered."""
        above = (*_above, decl.type)
        out = []
        for particle in self.model(decl).elements():
            child = particle.decl
            out.append(((child.name,), child))
            if not isinstance(child.type, str) and not any(child.type is t for t in above):
                out += [((child.name, *sub), d) for sub, d in self.descendants(child, above)]
        return out

    # -- values --------------------------------------------------------------------------------

    def _simple_base(self, kind: etree._Element | str) -> etree._Element | str:
        """For a complex type with simple content, the type of its text; else `kind` itself."""
        while not isinstance(kind, str) and kind.tag == f"{XS}complexType":
            content = kind.find(f"{XS}simpleContent")
            assert content is not None, "element content, not text"
            derivation = content.find(f"{XS}extension")
            derivation = derivation if derivation is not None else content.find(f"{XS}restriction")
            kind = self.type_ref(derivation, derivation.get("base"))
        return kind

    def value_kinds(self, what: Decl | Attr | etree._Element | str) -> tuple[str, ...]:
        """The built-in types the text of a declaration (or a type) comes down to."""
        kind = what.type if isinstance(what, (Decl, Attr)) else what
        kind = self._simple_base(kind)
        if isinstance(kind, str):
            return (kind,)
        restriction = kind.find(f"{XS}restriction")
        if restriction is not None:
            if restriction.get("base"):
                return self.value_kinds(self.type_ref(restriction, restriction.get("base")))
            return self.value_kinds(restriction.find(f"{XS}simpleType"))
        union = kind.find(f"{XS}union")
        assert union is not None, "a list type"
        members = [self.type_ref(union, m) for m in (union.get("memberTypes") or "").split()]
        members += union.findall(f"{XS}simpleType")
        return tuple(k for m in members for k in self.value_kinds(m))

    def _facets(self, what: Decl | Attr | etree._Element | str, facet: str) -> list[str]:
        """A facet's values on the nearest restriction in the derivation chain that has it."""
        kind = what.type if isinstance(what, (Decl, Attr)) else what
        kind = self._simple_base(kind)
        while not isinstance(kind, str):
            restriction = kind.find(f"{XS}restriction")
            if restriction is None:
                return []
            values = [f.get("value") for f in restriction.findall(f"{XS}{facet}")]
            if values:
                return values
            base = restriction.get("base")
            kind = self.type_ref(restriction, base) if base else restriction.find(f"{XS}simpleType")
            kind = self._simple_base(kind)
        return []

    def enumeration(self, what: Decl | Attr | etree._Element | str) -> list[str]:
        return self._facets(what, "enumeration")

    def patterns(self, what: Decl | Attr | etree._Element | str) -> list[str]:
        return self._facets(what, "pattern")

    # -- attributes ----------------------------------------------------------------------------

    def attributes(self, decl: Decl) -> dict[str, Attr]:
        """Attributes of an element by local name, inherited and from attribute groups included."""
        return {} if isinstance(decl.type, str) else self._type_attributes(decl.type)

    def _derivation(self, kind: etree._Element) -> tuple[etree._Element, etree._Element | None]:
        """Where a complex type declares its own attributes (itself, or its complex or simple
        content's extension or restriction), and the schema type it derives from (None: none, or
        a built-in one)."""
        for content_tag in ("complexContent", "simpleContent"):
            content = kind.find(f"{XS}{content_tag}")
            if content is not None:
                holder = content[0] if content[0].tag != f"{XS}annotation" else content[1]
                base = self.type_ref(holder, holder.get("base"))
                return holder, None if isinstance(base, str) else base
        return kind, None

    def _type_attributes(self, kind: etree._Element) -> dict[str, Attr]:
        if kind.tag != f"{XS}complexType":
            return {}
        holder, base = self._derivation(kind)
        out: dict[str, Attr] = self._type_attributes(base) if base is not None else {}
        for name, attr in self._declared_attributes(holder).items():
            if attr.node.get("use") == "prohibited":
                out.pop(name, None)
            else:
                out[name] = attr
        return out

    def _declared_attributes(self, holder: etree._Element) -> dict[str, Attr]:
        out: dict[str, Attr] = {}
        for node in holder:
            if node.tag == f"{XS}attribute":
                if node.get("ref"):
                    ns, local = self.qname(node, node.get("ref"))
                    target = self.top["attribute"].get(local) if ns == self.ns else None
                    kind = self._attribute_type(target) if target is not None else None
                    out[local] = Attr(local, node, ns, kind)
                else:
                    out[node.get("name")] = Attr(node.get("name"), node, None, self._attribute_type(node))
            elif node.tag == f"{XS}attributeGroup":
                out.update(self._declared_attributes(self.lookup(node, node.get("ref"), "attributeGroup")))
        return out

    def global_attribute(self, name: str) -> Attr:
        node = self.top["attribute"][name]
        return Attr(name, node, self.ns, self._attribute_type(node))

    def attribute_wildcard(self, decl: Decl) -> etree._Element | None:
        """The xs:anyAttribute an element's type has (inherited or from an attribute group)."""
        return None if isinstance(decl.type, str) else self._type_wildcard(decl.type)

    def _type_wildcard(self, kind: etree._Element) -> etree._Element | None:
        if kind.tag != f"{XS}complexType":
            return None
        holder, base = self._derivation(kind)
        found = self._type_wildcard(base) if base is not None else None
        if found is not None and holder.tag == f"{XS}extension":
            return found
        return self._declared_wildcard(holder)

    def _declared_wildcard(self, holder: etree._Element) -> etree._Element | None:
        for node in holder:
            if node.tag == f"{XS}anyAttribute":
                return node
            if node.tag == f"{XS}attributeGroup":
                found = self._declared_wildcard(self.lookup(node, node.get("ref"), "attributeGroup"))
                if found is not None:
                    return found
        return None

    def mixed(self, decl: Decl) -> bool:
        """Whether an element with element content also takes text between its children."""
        if isinstance(decl.type, str) or decl.type.tag != f"{XS}complexType":
            return False
        content = decl.type.find(f"{XS}complexContent")
        flag = content.get("mixed") if content is not None and content.get("mixed") else decl.type.get("mixed")
        return flag in ("true", "1")

    def has_text(self, decl: Decl) -> bool:
        """Whether the element holds text: a simple type, simple content, or mixed content."""
        if isinstance(decl.type, str):  # a built-in simple type, or anyType
            return True
        if decl.type.tag == f"{XS}simpleType":
            return True
        return decl.type.find(f"{XS}simpleContent") is not None or self.mixed(decl)

    def _attribute_type(self, node: etree._Element) -> etree._Element | str:
        if node.get("type"):
            return self.type_ref(node, node.get("type"))
        inline = node.find(f"{XS}simpleType")
        return inline if inline is not None else "anySimpleType"
