"""Registry of MM7 schema versions: name, namespace, MM7Version values, XSD and generated package.

Everything comes from schemas/versions.toml, so a version imported with `python -m tools.regen
import` is known here without code changes. Generated modules are imported on first use.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import tomllib
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from types import ModuleType

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MM7_NS_BASE = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
_NAME = re.compile(r"REL-(\d+)-MM7-(\d+)-(\d+)")


@dataclass(frozen=True)
class Version:
    """One MM7 schema version (one XSD, one namespace)."""

    name: str  # e.g. "REL-6-MM7-1-4"
    namespace: str
    mm7_versions: tuple[str, ...]  # MM7Version values that go with it; the first is sent by default
    package: str
    file: str
    origin: str = "reconstructed"
    url: str = ""
    sha256: str = ""
    note: str = ""
    includes: tuple[str, ...] = ()  # files beside `file` that it is split into (xs:include)
    includes_sha256: tuple[str, ...] = ()  # of each of `includes`, as imported

    @property
    def release(self) -> int:
        return int(_NAME.fullmatch(self.name).group(1))

    @property
    def default_mm7_version(self) -> str:
        return self.mm7_versions[0]

    @property
    def schema_path(self) -> Path:
        return schema_dir() / self.file

    @cached_property
    def module(self) -> ModuleType:
        """The xsdata-generated module of this version."""
        return importlib.import_module(f"mm7bind.generated.{self.package}.bindings")

    @cached_property
    def elements(self) -> dict[str, type]:
        """Global elements of the schema by local name (TransactionID and the body elements)."""
        out: dict[str, type] = {}
        for obj in vars(self.module).values():
            meta = isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__dict__.get("Meta")
            if meta and getattr(meta, "namespace", None) == self.namespace:
                out[getattr(meta, "name", obj.__name__)] = obj
        return out

    def element_class(self, local_name: str) -> type | None:
        return self.elements.get(local_name)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Version({self.name!r})"

    def __lt__(self, other: Version) -> bool:
        return sort_key(self.name) < sort_key(other.name)


def sort_key(name: str) -> tuple[int, ...]:
    m = _NAME.fullmatch(name)
    return tuple(int(g) for g in m.groups()) if m else (999,)


def schema_dir() -> Path:
    return Path(str(resources.files("mm7bind.schemas")))


@cache
def _registry() -> dict[str, Version]:
    data = tomllib.loads((schema_dir() / "versions.toml").read_text(encoding="utf-8"))
    versions = {}
    for name, entry in data["versions"].items():
        entry = dict(entry)
        entry["mm7_versions"] = tuple(entry["mm7_versions"])
        entry["includes"] = tuple(entry.get("includes", ()))
        entry["includes_sha256"] = tuple(entry.get("includes_sha256", ()))
        versions[name] = Version(name=name, **entry)
    return dict(sorted(versions.items(), key=lambda kv: sort_key(kv[0])))


@cache
def envelope_schema_path() -> Path:
    data = tomllib.loads((schema_dir() / "versions.toml").read_text(encoding="utf-8"))
    return schema_dir() / data["envelope"]["file"]


def all_versions() -> list[Version]:
    return list(_registry().values())


def get(name: str | Version) -> Version:
    """A version by name (``REL-6-MM7-1-4``), namespace URI, or short form (``6-1-4``, ``rel6_mm7_1_4``)."""
    if isinstance(name, Version):
        return name
    reg = _registry()
    if name in reg:
        return reg[name]
    found = by_namespace(name)
    if found:
        return found
    digits = re.findall(r"\d+", name)
    if len(digits) == 4 and digits[1] == "7":  # rel6_mm7_1_4 / REL6-MM7-1-4
        digits = [digits[0], digits[2], digits[3]]
    if len(digits) == 3:
        candidate = "REL-{}-MM7-{}-{}".format(*digits)
        if candidate in reg:
            return reg[candidate]
    known = ", ".join(reg)
    raise KeyError(f"unknown MM7 schema version {name!r} (known: {known})")


def by_namespace(namespace: str) -> Version | None:
    return _namespaces().get(namespace)


@cache
def _namespaces() -> dict[str, Version]:
    return {v.namespace: v for v in reversed(_registry().values())}  # the first one wins a tie


@cache
def _latest(release: int | None) -> Version:
    candidates = [v for v in _registry().values() if release is None or v.release == release]
    if not candidates:
        raise KeyError(f"no MM7 schema version for release {release}")
    return candidates[-1]


def latest(release: int | None = None) -> Version:
    """The newest version, or the newest of one release."""
    return _latest(release)


def _spelling(namespace: str) -> str:
    """A namespace with what peers vary in it taken out: case, the scheme, white space, slashes or
    a ".xsd" at the end."""
    key = re.sub(r"\s+", "", namespace).lower()
    key = re.sub(r"^https?://", "", key).rstrip("/")
    return key.removesuffix(".xsd")


@cache
def _spellings() -> dict[str, Version]:
    return {_spelling(v.namespace): v for v in reversed(_registry().values())}


def by_spelling(namespace: str) -> Version | None:
    """The version whose namespace `namespace` spells another way (``…/REL-5-MM7-1-2/``,
    ``…/rel-5-mm7-1-2``, https): a string compare would take it for another namespace."""
    return _spellings().get(_spelling(namespace))


_NAME_ANY_CASE = re.compile(_NAME.pattern, re.IGNORECASE)


def closest_for_namespace(namespace: str) -> Version | None:
    """The version to read an MM7-looking but unknown namespace with (e.g. ``REL-6-MM7-6-7``).

    Same release if we know it, else the newest version; None if it is not an MM7 namespace at all.
    """
    tail = _spelling(namespace).rsplit("/", 1)[-1]
    m = _NAME_ANY_CASE.fullmatch(tail)
    if not (namespace.lower().startswith(MM7_NS_BASE.lower()) or m):
        return None
    if m:
        try:
            return latest(int(m.group(1)))
        except KeyError:
            pass
    return latest()


_NAMESPACE_IN_BYTES = re.compile(rb"23\.140/schema/(REL-\d{1,2}-MM7-\d{1,2}-\d{1,2})", re.IGNORECASE)


def sniff(data: bytes, limit: int = 65536) -> Version | None:
    """The version whose namespace the first `limit` bytes of a message name, read without parsing
    anything: to answer a request too broken to decode in its sender's version."""
    found = _NAMESPACE_IN_BYTES.search(bytes(data[:limit]))
    if not found:
        return None
    namespace = MM7_NS_BASE + found.group(1).decode("ascii").upper()
    return by_namespace(namespace) or closest_for_namespace(namespace)


def for_mm7_version(value: str) -> Version | None:
    """The version whose namespace normally goes with an MM7Version value (used when a body has none)."""
    for v in _registry().values():
        if v.default_mm7_version == value or (len(v.mm7_versions) == 1 and value in v.mm7_versions):
            return v
    m = re.fullmatch(r"(\d+)\.\d+\.\d+", value or "")
    if m:
        try:
            return latest(int(m.group(1)))
        except KeyError:
            return None
    return None
