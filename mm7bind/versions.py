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
    # How sure the pairing of the namespace with `nominal_mm7_version` is: confirmed | one source | inferred
    pairing: str = "inferred"
    includes: tuple[str, ...] = ()  # files beside `file` that it is split into (xs:include)
    includes_sha256: tuple[str, ...] = ()  # of each of `includes`, as imported

    # (cached: every message read asks for both, several times over)
    @cached_property
    def release(self) -> int:
        return int(_NAME.fullmatch(self.name).group(1))

    @property
    def default_mm7_version(self) -> str:
        return self.mm7_versions[0]

    @cached_property
    def nominal_mm7_version(self) -> str | None:
        """The newest MM7Version of its own release it lists: the TS 23.140 version the namespace
        was published with (REL-6-MM7-1-4 lists older ones too, as later schemas do)."""
        own = [v for v in self.mm7_versions if (n := _number(v)) is not None and n[0] == self.release]
        return max(own, key=_number, default=None)

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


class ManifestError(ValueError):
    """schemas/versions.toml cannot be read as a list of versions (a hand edit, say): which file and
    what in it, rather than a TypeError from deep inside ``import mm7bind``."""


# The keys a version's table in versions.toml takes, and those it must have: Version's fields, so
# the registry and `python -m tools.regen` (which reads and writes the file with `parse_manifest`)
# know one list.
_KEYS = frozenset(f.name for f in dataclasses.fields(Version)) - {"name"}
_REQUIRED = frozenset(f.name for f in dataclasses.fields(Version)
                      if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING) - {"name"}
_LISTS = frozenset(f.name for f in dataclasses.fields(Version) if str(f.type).startswith("tuple")) & _KEYS


def parse_manifest(text: str, where: str) -> dict:
    """versions.toml's `text` as a dict, each version's table checked; `ManifestError` naming the
    file (`where`), the version and the key otherwise. Used by mm7bind and by ``tools.regen``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{where} is not valid TOML: {exc}") from None
    if not isinstance(data.get("envelope"), dict) or not isinstance(data.get("versions"), dict):
        raise ManifestError(f'{where} needs an [envelope] table and [versions."NAME"] tables')
    # (refused by both alike: a key mm7bind does not know is a misspelling or a newer tool's, and
    # either way the version it belongs to is not what it says)
    for name, entry in data["versions"].items():
        if not isinstance(entry, dict):
            raise ManifestError(f'{where}: versions."{name}" is no table')
        unknown, missing = sorted(set(entry) - _KEYS), sorted(_REQUIRED - set(entry))
        if unknown or missing:
            said = [f"has {', '.join(unknown)}, which mm7bind does not know"] if unknown else []
            said += [f"lacks {', '.join(missing)}"] if missing else []
            raise ManifestError(f'{where}: [versions."{name}"] {" and ".join(said)} '
                                f"(a version's keys: {', '.join(sorted(_KEYS))})")
        # (a string where a list belongs was taken a character a value: mm7_versions = "6.8.0"
        # sent MM7Version 6, and the tool wrote the characters back as a list)
        for key, value in entry.items():
            if key in _LISTS:
                if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    raise ManifestError(f'{where}: [versions."{name}"] {key} = {value!r} is no list of strings '
                                        f'(e.g. {key} = ["…"])')
            elif not isinstance(value, str):
                raise ManifestError(f'{where}: [versions."{name}"] {key} = {value!r} is no string')
    return data


def _manifest() -> dict:
    path = schema_dir() / "versions.toml"
    return parse_manifest(path.read_text(encoding="utf-8"), str(path))


@cache
def _registry() -> dict[str, Version]:
    data = _manifest()
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
    return schema_dir() / _manifest()["envelope"]["file"]


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


def namespace_key(namespace: str) -> str:
    """A namespace with what peers vary in it taken out: case, the scheme, white space, slashes or
    a ".xsd" at the end. Two namespaces with one key are read as one (`by_spelling`)."""
    key = re.sub(r"\s+", "", namespace).lower()
    key = re.sub(r"^https?://", "", key).rstrip("/")
    return key.removesuffix(".xsd")


@cache
def _spellings() -> dict[str, Version]:
    return {namespace_key(v.namespace): v for v in reversed(_registry().values())}


def by_spelling(namespace: str) -> Version | None:
    """The version whose namespace `namespace` spells another way (``…/REL-5-MM7-1-2/``,
    ``…/rel-5-mm7-1-2``, https): a string compare would take it for another namespace."""
    return _spellings().get(namespace_key(namespace))


_NAME_ANY_CASE = re.compile(_NAME.pattern, re.IGNORECASE)


def closest_for_namespace(namespace: str) -> Version | None:
    """The version to read an MM7-looking but unknown namespace with (e.g. ``REL-6-MM7-6-7``).

    Same release if we know it, else the newest version; None if it is not an MM7 namespace at all.
    """
    tail = namespace_key(namespace).rsplit("/", 1)[-1]
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


_VERSION_NUMBER = re.compile(r"(\d{1,4})\.(\d{1,4})\.(\d{1,4})")


def _number(value: str | None) -> tuple[int, int, int] | None:
    found = _VERSION_NUMBER.fullmatch(value or "")
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def release_of(value: str | None) -> int | None:
    """The 3GPP release an MM7Version value is of (6 for 6.8.0); None for one that is no x.y.z."""
    said = _number((value or "").strip())
    return said[0] if said else None


_RELEASE_OF_NAMESPACE = re.compile(r"/REL-(\d{1,4})-MM7-\d{1,4}-\d{1,4}/?$", re.IGNORECASE)


def namespace_release(namespace: str | None, version: Version | str) -> int:
    """The release of `namespace` as a peer wrote it, read as `version`: the one it names (an
    unknown REL-5-MM7-1-9 is of Release 5, whatever version it is read as), else `version`'s."""
    named = _RELEASE_OF_NAMESPACE.search(namespace or "")
    return int(named.group(1)) if named else get(version).release


def later_release(value: str | None, version: Version | str, namespace: str | None = None) -> int | None:
    """The release of MM7Version `value` where it is later than its namespace's (`namespace` as
    written, else `version`'s; `namespace_release`): 6 for 6.3.0 with REL-5-MM7-1-2. No schema of
    the namespace's release lists such a value, whatever x.y.z pattern an early one takes, and a
    peer that checks the one against the other refuses it (4002): our reader reports it
    (`mm7version-namespace`), the client warns of it, the receiver answers with another. None for
    a value of the same or an earlier release, and for one that is no x.y.z. `version`: a
    `Version` or its name."""
    said = release_of(value)
    return said if said is not None and said > namespace_release(namespace, version) else None


def for_mm7_version(value: str, element: str | None = None) -> Version | None:
    """The version whose namespace normally goes with an MM7Version value (used when a body has
    none); `element`, the body element's name, leaves out the schemas that lack it."""
    return reading_of_mm7_version(value, element)[0]


# How well a namespace's pairing with its MM7Version is attested, best first.
_PAIRING_RANK = {"confirmed": 0, "one source": 1, "inferred": 2}


def reading_of_mm7_version(value: str, element: str | None = None) -> tuple[Version | None, str]:
    """The version a body without a namespace is read in from its MM7Version, and why that one.

    Only schemas that define `element` (the body element's name, when given) are candidates: an
    extendedCancelReq with 6.3.0 is REL-6-MM7-1-4's, which lists 6.3.0, not REL-6-MM7-1-0's, which
    has no such operation. Among them, the schema the value is the own version of (its
    `nominal_mm7_version`); of several (5.5.0: REL-5-MM7-1-1 and 1-2), the best attested pairing,
    then the earliest. Else the first schema of the value's release listing it (6.3.0 for an
    extended operation); else the earliest of that release whose own version reaches it: the
    sender implements a TS 23.140 version that schema was written for or one before it (5.2.0,
    older than every schema's, gives REL-5-MM7-1-0; 6.7.0 gives REL-6-MM7-1-4, the first after
    6.6.0); one later than all of them, the newest of the release.
    """
    said = _number(value)
    if said is None:
        return None, f"MM7Version {value!r} is no x.y.z version" if value else "no MM7Version"
    same = [v for v in _registry().values() if v.release == said[0]]
    if not same:
        return None, f"no schema of Release {said[0]}, which MM7Version {value} is of"
    if element is not None:
        same = [v for v in same if v.element_class(element) is not None]
        if not same:
            return None, f"no Release {said[0]} schema, which MM7Version {value} is of, has {element}"
    own = [v for v in same if v.nominal_mm7_version == value]
    if own:
        best = min(own, key=lambda v: _PAIRING_RANK.get(v.pairing, len(_PAIRING_RANK)))  # (the earliest of a tie)
        if len(own) == 1:
            return best, f"the schema MM7Version {value} goes with"
        return best, f"the schema MM7Version {value} goes with ({best.pairing}; {', '.join(v.name for v in own)} name it)"
    listing = next((v for v in same if value in v.mm7_versions), None)
    if listing is not None:
        return listing, f"the first schema listing MM7Version {value}"
    for v in same:
        nominal = v.nominal_mm7_version
        if nominal is not None and _number(nominal) >= said:
            if v is same[0]:
                return v, f"the earliest Release {said[0]} schema: MM7Version {value} is older than {nominal}, its own"
            return v, f"the earliest Release {said[0]} schema made for MM7Version {value} or a later one ({nominal})"
    return same[-1], f"the newest Release {said[0]} schema: MM7Version {value} is later than any schema's"


def later_than_paired(version: Version | str, value: str | None) -> str | None:
    """Why an MM7Version of `version`'s release (a `Version` or its name) is later than the
    namespace goes with, where that is known with confidence (a confirmed pairing on either side);
    None if it is not, or not known. Earlier values are no mismatch: later schemas keep listing them
    (REL-6-MM7-1-4 takes 6.3.0)."""
    version = get(version)  # (a name too, as `get` and the other functions here take one)
    nominal = version.nominal_mm7_version
    if value == nominal:  # (what most peers write: the answer below, without reading numbers)
        return None
    said = _number(value)
    if said is None or nominal is None or said[0] != version.release or said <= _number(nominal):
        return None
    later = [v for v in _registry().values() if v.release == version.release and version < v]
    # (the newest schema of a release may have been kept for its later point versions: 6.10.0)
    if version.pairing == "confirmed" and later:
        return f"{version.name} goes with MM7Version {nominal}; {value} is a later one, of a later schema"
    for v in later:
        if v.pairing == "confirmed" and v.nominal_mm7_version == value:
            return f"MM7Version {value} goes with {v.name}, a later schema than {version.name}"
    return None
