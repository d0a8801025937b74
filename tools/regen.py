"""Regenerate generated/ from schemas/ with xsdata, check for drift, import official schema files.

    python -m tools.regen generate                 write generated/ from schemas/
    python -m tools.regen check                    exit 1 if generated/ differs from what schemas/ give
    python -m tools.regen import SOURCE [--version NAME] [--mm7-version X.Y.Z ...]
                                                   take an XSD (path or URL) into schemas/, record it
                                                   in the manifest and regenerate

The output depends only on the schema files, the manifest and the pinned xsdata and ruff versions
(pyproject.toml, extra "codegen"), so `check` is byte-exact on every machine.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import filecmp
import hashlib
import http.client
import importlib.metadata
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

from mm7bind.versions import ManifestError, namespace_key, parse_manifest

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
GENERATED = ROOT / "generated"
MANIFEST = SCHEMAS / "versions.toml"

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XS_NS = "http://www.w3.org/2001/XMLSchema"
MM7_NS_PREFIX = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
VERSION_NAME = re.compile(r"^REL-(\d+)-MM7-(\d+)-(\d+)$")

# The module each version package gets; the envelope is one module of its own.
BINDINGS_MODULE = "bindings"
# Cosmetic class renames (xsdata would write RserrorRsp, TransactionId, ...).
CLASS_RENAMES = {
    "RserrorRsp": "RSErrorRsp",
    "VasperrorRsp": "VASPErrorRsp",
    "TransactionId": "TransactionID",
}


# The generator's versions shape every byte of generated/ (pyproject.toml pins the same, extra
# "codegen"; a test keeps the two equal). Another version is refused rather than let its output
# pass for schema drift.
PINNED = {"xsdata": "26.10", "ruff": "0.17.6"}


class RegenError(Exception):
    """A problem the user can fix (bad input file, missing tool)."""


# ----------------------------------------------------------------------------------------------
# Manifest


@dataclass
class VersionEntry:
    name: str
    file: str
    namespace: str
    package: str
    mm7_versions: list[str]
    note: str = ""
    pairing: str = "inferred"  # confirmed | one source | inferred: see MANIFEST_HEADER
    origin: str = "reconstructed"
    url: str = ""
    sha256: str = ""
    includes: list[str] = field(default_factory=list)  # files beside `file` that it xs:includes
    includes_sha256: list[str] = field(default_factory=list)  # of each of `includes`, as imported


@dataclass
class Manifest:
    envelope: dict[str, str]
    versions: dict[str, VersionEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = MANIFEST) -> Manifest:
        # (a hand edit the tools cannot read is named, not a traceback; mm7bind reads the file too,
        # and its check is the one used here: both know one list of keys)
        try:
            data = parse_manifest(path.read_text(encoding="utf-8"), f"schemas/{path.name}")
        except ManifestError as exc:
            raise RegenError(str(exc)) from exc
        versions = {
            name: VersionEntry(name=name, **entry) for name, entry in data["versions"].items()
        }
        return cls(envelope=data["envelope"], versions=versions)

    def dump(self) -> str:
        def q(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        out = [MANIFEST_HEADER, "[envelope]"]
        out += [f"{k} = {q(v)}" for k, v in self.envelope.items()]
        for name in sorted(self.versions, key=version_sort_key):
            e = self.versions[name]
            out += ["", f"[versions.{q(name)}]"]
            out.append(f"file = {q(e.file)}")
            if e.includes:
                out.append("includes = [" + ", ".join(q(v) for v in e.includes) + "]")
            if e.includes_sha256:
                out.append("includes_sha256 = [" + ", ".join(q(v) for v in e.includes_sha256) + "]")
            out += [f"namespace = {q(e.namespace)}", f"package = {q(e.package)}"]
            out.append("mm7_versions = [" + ", ".join(q(v) for v in e.mm7_versions) + "]")
            if e.note:
                out.append(f"note = {q(e.note)}")
            out.append(f"pairing = {q(e.pairing)}")
            out.append(f"origin = {q(e.origin)}")
            if e.url:
                out.append(f"url = {q(e.url)}")
            if e.sha256:
                out.append(f"sha256 = {q(e.sha256)}")
        return "\n".join(out) + "\n"


MANIFEST_HEADER = """\
# MM7 schema versions known to mm7bind.
#
# Every [versions."NAME"] entry names one XSD in this folder (`includes`: the files beside it that
# it is split into, xs:include'd by name). `mm7_versions` lists the MM7Version
# values that go with the namespace; the first one is what mm7bind sends by default.
# `pairing` says how sure the newest of them (of the namespace's release) is to be the one the
# namespace was published with: "confirmed" (two or more independent sources), "one source" or
# "inferred". Only a confirmed pairing makes a later MM7Version in the namespace a deviation.
# origin = "reconstructed": written by the mm7bind project from the published structure of TS 23.140,
#          because the official 3GPP file could not be obtained. Not the 3GPP text. What such a
#          file infers rather than follows from two sources is listed in README.md, "Schema versions".
# origin = "official": imported with `python -m tools.regen import`; `url` and `sha256` say from where
#          (`includes_sha256`: the included files', in the order `includes` names them). `url` is a local
#          file's name, or a URL without user, password, parameters, query or fragment (no token).
#
# This file is read by mm7bind at run time and rewritten by `python -m tools.regen import`.
"""


def version_sort_key(name: str) -> tuple[int, ...]:
    m = VERSION_NAME.match(name)
    return tuple(int(g) for g in m.groups()) if m else (999,)


def package_name(version: str) -> str:
    m = VERSION_NAME.match(version)
    if not m:
        raise RegenError(f"version name {version!r} is not of the form REL-<r>-MM7-<x>-<y>")
    return "rel{}_mm7_{}_{}".format(*m.groups())


# ----------------------------------------------------------------------------------------------
# Generation


def stage_schemas(manifest: Manifest, dest: Path, overrides: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Copy the schemas into `dest`, pointing every SOAP-envelope import at the local copy; return
    each file as it is (what mm7bind will read), by its name in schemas/.

    Official 3GPP files import the envelope from its http URL; generation runs offline, and a
    remote import would silently lose the TransactionID attribute types. The files a version
    includes go to dest/parts/, where xsdata reads them only through the include (read as
    schemas of their own, their types would be generated twice). `overrides` gives files as
    bytes instead of the ones in schemas/ (an import not yet committed).
    """
    overrides = overrides or {}
    shutil.copyfile(SCHEMAS / manifest.envelope["file"], dest / "soap-envelope.xsd")
    (dest / "parts").mkdir()
    files = {}
    for entry in manifest.versions.values():
        for name in [entry.file, *entry.includes]:
            data = overrides.get(name)
            if data is None:
                try:
                    data = (SCHEMAS / name).read_bytes()
                except OSError as exc:
                    raise RegenError(f"cannot read schemas/{name}: {exc}") from exc
            root = parse_schema(data, f"schemas/{name}", entry.includes)
            check_qualified(root, f"schemas/{name}")
            part = name != entry.file
            # (xsdata files classes by the file's namespace: under another one than versions.toml
            # names, they would land in a package of its own, and the version's would be gone)
            if not part and root.get("targetNamespace") != entry.namespace:
                raise RegenError(f"schemas/{name} has the target namespace {root.get('targetNamespace')}, and "
                                 f"versions.toml gives {entry.name} the namespace {entry.namespace}: a file is taken "
                                 f"in with python -m tools.regen import, which records its namespace")
            for ref in root.iterchildren(f"{{{XS_NS}}}import", f"{{{XS_NS}}}include"):
                if ref.tag == f"{{{XS_NS}}}import" and ref.get("namespace") == SOAP_NS:
                    ref.set("schemaLocation", "../soap-envelope.xsd" if part else "soap-envelope.xsd")
                elif ref.tag == f"{{{XS_NS}}}include" and not part:
                    ref.set("schemaLocation", "parts/" + ref.get("schemaLocation"))
            staged = dest / "parts" / name if part else dest / f"{entry.name}.xsd"
            root.getroottree().write(str(staged), xml_declaration=True, encoding="UTF-8")
            files[name] = data
    return files


def parse_schema(data: bytes, what: str, includes: list[str] | tuple[str, ...] | None = ()) -> etree._Element:
    """The root of an XSD that refers to nothing but the SOAP envelope and the files `includes`
    names (beside it in schemas/; None: any file name, for `import` to take along), and has no DTD.

    Nothing a schema names is fetched: xsdata would download an xs:import or xs:include from
    any URL (or read any local path) while generating, and entities could pull in local files.
    """
    if data[:4] == b"PK\x03\x04":  # (3GPP publishes much as zip archives)
        raise RegenError(f"{what} is a zip archive, not an XSD: extract the .xsd from it and import that")
    try:
        root = etree.fromstring(data, etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False))
    except etree.XMLSyntaxError as exc:
        raise RegenError(f"{what} is not well-formed XML: {exc}{WEB_PAGE if looks_like_html(data) else ''}") from exc
    if root.getroottree().docinfo.doctype:
        raise RegenError(f"{what} has a DOCTYPE (a DTD, entity declarations): refused, an XML Schema needs "
                         f"none{WEB_PAGE if looks_like_html(data) else ''}")
    if root.tag != f"{{{XS_NS}}}schema":
        raise RegenError(f"{what} is not an XML Schema document (root element is not xs:schema)"
                         + (WEB_PAGE if looks_like_html(data) else ""))
    for ref in root.iter(*(f"{{{XS_NS}}}{kind}" for kind in ("include", "import", "redefine", "override"))):
        location = ref.get("schemaLocation")
        kind = etree.QName(ref).localname
        if kind == "import" and (ref.get("namespace") == SOAP_NS or location is None):
            continue  # the envelope resolves to the local copy; without a location nothing is loaded
        if kind == "include" and (PLAIN_NAME.fullmatch(location or "") if includes is None else location in includes):
            continue
        raise RegenError(
            f"{what} refers to another file (xs:{kind} schemaLocation={location!r}): only the SOAP "
            "envelope may be imported, and only files beside it included by name (import takes them "
            "along); nothing else is fetched. Merge the other parts into the file, or put them beside it")
    return root


WEB_PAGE = (": it is a web page (HTML), a page showing the file or a sign-in page rather than the file "
            "itself? Give the URL of the file's own bytes (a 'raw' or download link)")


def looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def included_names(root: etree._Element) -> list[str]:
    """The file names a schema xs:includes that `import` takes along: plain names, beside it."""
    return [ref.get("schemaLocation") for ref in root.iterchildren(f"{{{XS_NS}}}include")
            if PLAIN_NAME.fullmatch(ref.get("schemaLocation") or "")]


PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.xsd")


def check_qualified(root: etree._Element, what: str) -> None:
    """Every element a schema document declares inside its types is in the MM7 namespace
    (qualified) and every attribute it declares there in none, as in 3GPP's files
    (elementFormDefault="qualified", attributeFormDefault="unqualified"). Otherwise mm7bind's
    encoder refuses to write the version, xsdata's classes write the children in no namespace (or
    the attributes in the MM7 one), and peers refuse them. Each document (a part too) by its own
    defaults, as XML Schema reads it. An attribute referring to a global one of the schema's own
    namespace (`ref="mm7:x"`) is in that namespace whatever the defaults say: refused alike (an
    element referring to a global element is in it, as it should be; the envelope's attributes,
    env:mustUnderstand, are in the envelope's)."""
    check_attribute_refs(root, what)
    for kind, wanted in (("element", "qualified"), ("attribute", "unqualified")):
        default = root.get(f"{kind}FormDefault")
        wrong = [decl for decl in root.iter(f"{{{XS_NS}}}{kind}")
                 if decl.getparent() is not root and decl.get("name")
                 and decl.get("form", default or "unqualified") != wanted]
        if not wrong:
            continue
        decl = wrong[0]
        if decl.get("form") is not None:
            why = f'it says form="{decl.get("form")}"'
        elif default is not None:
            why = f'the schema says {kind}FormDefault="{default}"'
        else:
            why = f'the schema sets no {kind}FormDefault, which is "unqualified" by default'
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        where = f"{kind} {decl.get('name')}{declared_in(decl)}, line {decl.sourceline}"
        if kind == "element":
            raise RegenError(
                f"{what}: the {where} is unqualified, in no namespace: {why}{more}. MM7 messages carry "
                "every element in the MM7 namespace (3GPP's schemas say elementFormDefault=\"qualified\"): "
                "mm7bind could not write a message in this version, and peers refuse elements in no namespace")
        raise RegenError(
            f"{what}: the {where} is qualified, in the MM7 namespace: {why}{more}. MM7 attributes are in no "
            "namespace (3GPP's schemas say attributeFormDefault=\"unqualified\"), as mm7bind writes them and "
            "peers read them")


def check_attribute_refs(root: etree._Element, what: str) -> None:
    tns = root.get("targetNamespace")
    wrong = []
    for decl in root.iter(f"{{{XS_NS}}}attribute"):
        prefix, _, local = decl.get("ref", "").rpartition(":")
        if not local or (prefix and prefix not in decl.nsmap):  # (an unbound prefix: lxml names it)
            continue
        namespace = decl.nsmap.get(prefix or None)
        # (a part with no targetNamespace takes its includer's: its refs in no namespace mean that one)
        if namespace == tns or namespace_key(namespace or "").startswith(namespace_key(MM7_NS_PREFIX) + "/"):
            wrong.append((decl, local))
    if not wrong:
        return
    decl, local = wrong[0]
    more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
    raise RegenError(
        f"{what}: the attribute {local}{declared_in(decl)}, line {decl.sourceline} is qualified, in the MM7 "
        f"namespace: it says ref=\"{decl.get('ref')}\", and an attribute referred to is a global one, in the "
        f"namespace of the schema declaring it{more}. MM7 attributes are in no namespace (declare it where it is used, "
        "as 3GPP's schemas do), as mm7bind writes them and peers read them")


def declared_in(decl: etree._Element) -> str:
    """Where a local declaration is: " in complexType X" after the nearest named declaration holding it."""
    for holder in decl.iterancestors():
        if holder.get("name"):
            return f" in {etree.QName(holder).localname} {holder.get('name')}"
    return ""


# Where official files say the envelope is; mm7bind.validation reads the local copy for these.
REMOTE_ENVELOPE = {SOAP_NS, SOAP_NS.rstrip("/"), "http://schemas.xmlsoap.org/soap/envelope/envelope.xsd"}


class _LocalEnvelope(etree.Resolver):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def resolve(self, url, pubid, context):
        return self.resolve_filename(str(self.path), context) if url in REMOTE_ENVELOPE else None


def check_compiles(manifest: Manifest, files: dict[str, bytes], workdir: Path,
                   shown: dict[str, str] | None = None) -> None:
    """Each version's file compiles with lxml (libxml2) as mm7bind.validation compiles it: xsdata
    generates from schemas libxml2 refuses (an undefined type, say), and mm7bind could then neither
    validate nor send in that version. `shown`: how to name a file not yet in schemas/."""
    envelope = workdir / "soap-envelope.xsd"
    shutil.copyfile(SCHEMAS / manifest.envelope["file"], envelope)
    for name, data in files.items():
        (workdir / name).write_bytes(data)
    for entry in manifest.versions.values():
        parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
        parser.resolvers.add(_LocalEnvelope(envelope))
        driver = (
            f'<xs:schema xmlns:xs="{XS_NS}">'
            f'<xs:import namespace="{SOAP_NS}" schemaLocation="soap-envelope.xsd"/>'
            f'<xs:import namespace="{entry.namespace}" schemaLocation="{entry.file}"/>'
            "</xs:schema>"
        )
        doc = etree.fromstring(driver.encode(), parser, base_url=(workdir / "driver.xsd").as_uri())
        try:
            etree.XMLSchema(doc)
        except etree.XMLSchemaParseError as exc:
            what = (shown or {}).get(entry.file, f"schemas/{entry.file}")
            # (the line libxml2 gives is in the file it read the declaration from: a part's is none of
            # the file's, so the part is named)
            at = next((Path(urllib.parse.unquote(urllib.parse.urlparse(error.filename).path)).name
                       for error in exc.error_log if error.filename and error.message in str(exc)), None)
            if at != entry.file and at in entry.includes:
                what = f"{at if entry.file in (shown or {}) else 'schemas/' + at}, which {what} includes,"
            raise RegenError(f"{what} does not compile with lxml (libxml2), which mm7bind "
                             f"validates with: {exc}") from exc


def xsdata_config(manifest: Manifest) -> str:
    subs = [(manifest.envelope["namespace"], manifest.envelope["package"])]
    subs += [(e.namespace, f"{e.package}.{BINDINGS_MODULE}") for e in manifest.versions.values()]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<Config xmlns="http://pypi.org/project/xsdata">',
        '  <Output maxLineLength="100">',
        "    <Package>generated</Package>",
        '    <Format repr="true" eq="true" order="false" unsafeHash="false" frozen="false"'
        ' slots="true">dataclasses</Format>',
        "    <Structure>namespaces</Structure>",
        "    <DocstringStyle>Blank</DocstringStyle>",
        "    <RelativeImports>true</RelativeImports>",
        '    <CompoundFields defaultName="choice" useSubstitutionGroups="false"'
        ' forceDefaultName="false" maxNameParts="3">true</CompoundFields>',
        "    <IncludeHeader>false</IncludeHeader>",
        "  </Output>",
        "  <Substitutions>",
    ]
    for ns, pkg in sorted(subs):
        lines.append(f'    <Substitution type="package" search="{re.escape(ns)}" replace="{pkg}"/>')
    for old, new in sorted(CLASS_RENAMES.items()):
        lines.append(f'    <Substitution type="class" search="^{old}$" replace="{new}"/>')
    lines += ["  </Substitutions>", "</Config>", ""]
    return "\n".join(lines)


def run_xsdata(manifest: Manifest, workdir: Path, overrides: dict[str, bytes] | None = None,
               shown: dict[str, str] | None = None) -> Path:
    """Run xsdata into `workdir`; return the folder holding the generated package."""
    check_namespaces(manifest)
    check_origins(manifest, overrides or {})
    src, raw, cfg, out, home = (workdir / d for d in ("src", "raw", "cfg", "out", "home"))
    for d in (src, raw, cfg, out, home):
        d.mkdir()
    check_compiles(manifest, stage_schemas(manifest, src, overrides), raw, shown)
    (cfg / "xsdata.xml").write_text(xsdata_config(manifest), encoding="utf-8")
    bindir = str(Path(sys.executable).parent)
    if shutil.which("ruff", path=bindir + os.pathsep + os.environ.get("PATH", "")) is None:
        raise RegenError("ruff is not installed; pip install -e '.[codegen]'")
    env = dict(os.environ)
    # xsdata calls `ruff` by name; use the pinned one next to this interpreter, and keep any
    # user-level ruff configuration out of the formatting.
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    check_tool_versions(env)
    env["XDG_CONFIG_HOME"] = str(home)
    env["HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-m", "xsdata", "generate", str(src), "-c", str(cfg / "xsdata.xml")],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RegenError(f"xsdata failed:\n{proc.stdout}\n{proc.stderr}")
    problems = [line for line in proc.stderr.splitlines() if "Resource not found" in line]
    if problems:
        raise RegenError("xsdata could not resolve:\n" + "\n".join(problems))
    return out / "generated"


def check_tool_versions(env: dict[str, str]) -> None:
    ruff = subprocess.run(["ruff", "--version"], env=env, capture_output=True, text=True).stdout.split()
    installed = {"xsdata": importlib.metadata.version("xsdata"), "ruff": ruff[-1] if ruff else "?"}
    wrong = [f"{name} {installed[name]} is installed, generated/ is made with {name} {pin}"
             for name, pin in PINNED.items() if installed[name] != pin]
    if wrong:
        raise RegenError("; ".join(wrong) + ": pip install -e '.[codegen]'")


def generated_files(root: Path) -> dict[str, Path]:
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


# What every schema the project wrote says in its header comment. An official file copied over one
# of them does not: taken as the project's own, it would pass for a reconstruction (versions.toml
# unchanged, no url or sha256) and the tables would be corrected to the wrong file's credit.
RECONSTRUCTED_MARK = b"as reconstructed by the mm7bind project"


# What versions.toml may say a file is (see MANIFEST_HEADER).
ORIGINS = ("reconstructed", "official")


def check_origins(manifest: Manifest, overrides: dict[str, bytes]) -> None:
    """Each file versions.toml calls reconstructed says it is; each it calls official has where it
    came from recorded, as `import` records it."""
    for entry in manifest.versions.values():
        if entry.origin not in ORIGINS:
            raise RegenError(f"versions.toml records {entry.name}'s origin as {entry.origin!r}, which is neither "
                             f"of {', '.join(ORIGINS)}")
        if entry.origin == "official":
            # (an origin edited by hand: the file would pass for the 3GPP one with nothing saying
            # which file it is, and `check` could not tell it edited since)
            unrecorded = [key for key in ("url", "sha256") if not getattr(entry, key)]
            if len(entry.includes_sha256) != len(entry.includes):
                unrecorded.append("includes_sha256")
            if unrecorded:
                raise RegenError(
                    f"versions.toml records {entry.name} (schemas/{entry.file}) as official without its "
                    f"{' and '.join(unrecorded)}: where the file came from is not recorded. Take it in with "
                    f"python -m tools.regen import schemas/{entry.file}, which records them")
            continue
        try:
            data = overrides.get(entry.file) or (SCHEMAS / entry.file).read_bytes()
        except OSError as exc:
            raise RegenError(f"cannot read schemas/{entry.file}: {exc}") from exc
        if RECONSTRUCTED_MARK not in data:
            raise RegenError(
                f"schemas/{entry.file} is recorded as reconstructed by the project (versions.toml) but does not "
                f"say so in its header comment: an official file copied over it? Take it in with "
                f"python -m tools.regen import schemas/{entry.file} (which records it as official, with its "
                f"sha256). A schema of the project's own says '{RECONSTRUCTED_MARK.decode()}' at its head")


def check_namespaces(manifest: Manifest) -> None:
    """Each version has a namespace of its own: the generated packages are keyed by namespace, and
    mm7bind reads a message in the version whose namespace it spells (`namespace_key`)."""
    seen: dict[str, VersionEntry] = {}
    for entry in manifest.versions.values():
        other = seen.setdefault(namespace_key(entry.namespace), entry)
        if other is entry:
            continue
        if other.namespace == entry.namespace:
            raise RegenError(f"{other.name} and {entry.name} both have the namespace {entry.namespace}")
        raise RegenError(f"{other.name} and {entry.name} have one namespace spelt two ways ({other.namespace}, "
                         f"{entry.namespace}): mm7bind would read messages of the one as the other's")


def generate(manifest: Manifest | None = None) -> None:
    manifest = manifest or Manifest.load()
    with tempfile.TemporaryDirectory(prefix="mm7bind-regen-") as tmp:
        replace_generated(run_xsdata(manifest, Path(tmp)))
    print(f"generated/ written from {len(manifest.versions)} MM7 schemas and the SOAP envelope")


def replace_generated(fresh: Path) -> None:
    """Put `fresh` in place of generated/ by renames beside it: a failed copy (a full disk, an
    interrupt) leaves the old generated/ whole rather than half deleted."""
    stage_generated(fresh)
    swap_generated()
    shutil.rmtree(OLD_GENERATED, ignore_errors=True)


def stage_generated(fresh: Path) -> None:
    """Copy `fresh` to beside generated/, for `swap_generated`."""
    for leftover in (STAGED_GENERATED, OLD_GENERATED):  # (from an earlier run that was stopped)
        if leftover.exists():
            shutil.rmtree(leftover)
    try:
        shutil.copytree(fresh, STAGED_GENERATED, ignore=shutil.ignore_patterns("__pycache__"))
        sync_tree(STAGED_GENERATED)  # (on disk before a rename can make it generated/)
    except BaseException:
        shutil.rmtree(STAGED_GENERATED, ignore_errors=True)
        raise


def swap_generated() -> None:
    """The staged copy becomes generated/, the old one .generated.old; done again after an
    interrupt, it finishes what was left."""
    if GENERATED.exists():
        shutil.rmtree(OLD_GENERATED, ignore_errors=True)
        GENERATED.rename(OLD_GENERATED)
    STAGED_GENERATED.rename(GENERATED)
    sync_dir(ROOT)


def check() -> int:
    manifest = Manifest.load()
    # An imported file is taken as the protocol's word (the tests correct their tables to it): one
    # edited in place since would pass for the file its sha256 names. Edits go through `import`.
    altered = [e for e in manifest.versions.values()
               if e.sha256 and hashlib.sha256((SCHEMAS / e.file).read_bytes()).hexdigest() != e.sha256]
    for e in altered:
        print(f"schemas/{e.file} is not the file imported as {e.name} (its sha256 is not the one versions.toml "
              f"records): import the file you mean, edited or not (python -m tools.regen import FILE)")
    # (so are the parts it includes: an edited part changes the version as much)
    altered_parts = [(e, name) for e in manifest.versions.values()
                     for name, digest in zip(e.includes, e.includes_sha256, strict=False)
                     if hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest() != digest]
    for e, name in altered_parts:
        print(f"schemas/{name} is not the part imported with {e.name} (its sha256 is not the one versions.toml "
              f"records): import the file you mean, edited or not (python -m tools.regen import FILE)")
    altered += [e for e, _ in altered_parts]
    with tempfile.TemporaryDirectory(prefix="mm7bind-regen-") as tmp:
        fresh = generated_files(run_xsdata(manifest, Path(tmp)))
        current = generated_files(GENERATED) if GENERATED.exists() else {}
        missing = sorted(set(fresh) - set(current))
        extra = sorted(set(current) - set(fresh))
        changed = sorted(
            name
            for name in set(fresh) & set(current)
            if not filecmp.cmp(fresh[name], current[name], shallow=False)
        )
        if not (missing or extra or changed):
            print(f"generated/ is up to date ({len(fresh)} files)")
            return 1 if altered else 0
        print("generated/ does not match schemas/ (run: python -m tools.regen generate)")
        for name in missing:
            print(f"  missing   generated/{name}")
        for name in extra:
            print(f"  unexpected generated/{name}")
        for name in changed:
            old_bytes, new_bytes = current[name].read_bytes(), fresh[name].read_bytes()
            old = old_bytes.decode("utf-8", "replace").splitlines()
            new = new_bytes.decode("utf-8", "replace").splitlines()
            diff = list(difflib.unified_diff(old, new, f"generated/{name}", "expected", n=0, lineterm=""))
            changes = sum(1 for line in diff[2:] if line[:1] in "+-")
            if not changes:  # (the lines are the same: say which bytes are not)
                print(f"  changed   generated/{name} (same lines; {invisible_difference(old_bytes, new_bytes)})")
                continue
            print(f"  changed   generated/{name} ({changes} lines differ)")
            for line in diff[2:14]:
                print(f"      {line}")
        return 1


def invisible_difference(current: bytes, expected: bytes) -> str:
    """What separates two files whose lines are equal."""
    if b"\r\n" in current and current.replace(b"\r\n", b"\n") == expected:
        return "CRLF line ends where LF is expected: a checkout that converts line ends?"
    if current.startswith(b"\xef\xbb\xbf") and current[3:] == expected:
        return "a byte-order mark at the start"
    return "line ends, or the newline at the end of the file, differ"


# ----------------------------------------------------------------------------------------------
# Import


# Far above any MM7 schema (the official files are tens of kB): a URL that streams without end,
# or a device given for a path, fails instead of filling memory.
MAX_SCHEMA_BYTES = 16 * 1024 * 1024
URL_SCHEMES = ("http", "https", "ftp", "file")


# One read of a download waits at most DOWNLOAD_TIMEOUT seconds, and an import's downloads (the file
# and its parts) all together at most DOWNLOAD_DEADLINE: a server sending a byte now and then, each
# within the read's timeout, would otherwise hold the import for ever.
DOWNLOAD_TIMEOUT = 60
DOWNLOAD_DEADLINE = 300


def read_source(source: str, deadline: float | None = None) -> tuple[bytes, str]:
    """Bytes of a local file or URL, and the provenance string recorded for it: the URL without
    what may be a secret (`recorded_url`), or a local file's name (its folder says nothing to
    anyone else, and would make the manifest depend on where the importing machine kept the file).
    A URL is downloaded by `deadline` (time.monotonic(); default DOWNLOAD_DEADLINE from now)."""
    url = urllib.parse.urlparse(source)
    if url.scheme in URL_SCHEMES:
        recorded = urllib.parse.unquote(url.path.rsplit("/", 1)[-1]) if url.scheme == "file" else recorded_url(source)
        try:
            data, short = download(url, recorded, time.monotonic() + DOWNLOAD_DEADLINE if deadline is None else deadline)
        except (OSError, ValueError) as exc:  # (ValueError: a URL whose port is no number, say)
            raise RegenError(f"cannot download {recorded}: {exc}") from exc
        except http.client.HTTPException as exc:  # an answer in no HTTP, a chunked one cut short
            raise RegenError(f"cannot download {recorded}: the server's answer is not whole HTTP "
                             f"({type(exc).__name__}: {exc})") from exc
        data = bounded(data, recorded)
        if short:  # (http.client hands over a body cut short as if whole: it would be blamed as bad XML)
            raise RegenError(f"cannot download {recorded}: the connection closed after {len(data)} bytes, "
                             f"{short} short of its Content-Length")
        return data, recorded
    path = Path(source)
    try:
        with path.open("rb") as f:
            return bounded(f.read(MAX_SCHEMA_BYTES + 1), source), path.name
    except OSError as exc:
        raise RegenError(f"cannot read {source}: {exc}") from exc


def download(url: urllib.parse.ParseResult, recorded: str, deadline: float) -> tuple[bytes, int | None]:
    """The body of `url` (up to one byte past MAX_SCHEMA_BYTES) and what its Content-Length still
    owed (http.client's `length`), read by `deadline`. The reading runs in a thread of its own,
    waited for until then: the socket's timeout bounds one read only, and urllib shows no socket to
    bound the connection, the headers and the body by one time (ftp and file URLs alike). One given
    up on is left to end with the process (a daemon thread)."""
    outcome: dict = {}

    def fetch() -> None:
        try:
            with opener_for(url).open(without_userinfo(url), timeout=DOWNLOAD_TIMEOUT) as resp:
                outcome["data"] = resp.read(MAX_SCHEMA_BYTES + 1)
                outcome["short"] = getattr(resp, "length", None)
        except Exception as exc:  # (raised again below, in the importing thread)
            outcome["error"] = exc

    worker = threading.Thread(target=fetch, name=f"download {recorded}", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        raise RegenError(f"cannot download {recorded}: not done within {DOWNLOAD_DEADLINE:g} s, the time an "
                         f"import gives its downloads in all (the server sends too slowly, or stalls)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["data"], outcome["short"]


def opener_for(url: urllib.parse.ParseResult) -> urllib.request.OpenerDirector:
    """What downloads `url`: a user name and password in an http(s) URL are sent as HTTP Basic
    credentials when the server asks for them (urllib would take them for part of the host name;
    its ftp handler reads them itself)."""
    if url.scheme not in ("http", "https") or url.username is None:
        return urllib.request.build_opener()
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, without_userinfo(url), urllib.parse.unquote(url.username),
                           urllib.parse.unquote(url.password or ""))
    return urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(passwords))


def without_userinfo(url: urllib.parse.ParseResult) -> str:
    if url.scheme not in ("http", "https"):
        return url.geturl()
    return url._replace(netloc=url.netloc.rpartition("@")[2]).geturl()


def recorded_url(source: str) -> str:
    """`source` as versions.toml records it and messages show it: scheme, host, port and path. A
    user name and password, path parameters (;jsessionid=...), the query (a download token, a
    signature) and the fragment are left out: the manifest is committed, and the sha256 beside
    the URL says which file it was."""
    url = urllib.parse.urlparse(source)
    return urllib.parse.urlunparse((url.scheme, url.netloc.rpartition("@")[2], url.path, "", "", ""))


def beside(source: str, name: str) -> str:
    """The URL of file `name` in `source`'s folder, with `source`'s query (a download token is
    as good for the file's parts, on the same server)."""
    url = urllib.parse.urlsplit(urllib.parse.urljoin(source, name))
    return urllib.parse.urlunsplit(url._replace(query=urllib.parse.urlsplit(source).query))


def bounded(data: bytes, source: str) -> bytes:
    if len(data) > MAX_SCHEMA_BYTES:
        raise RegenError(f"{source} is over {MAX_SCHEMA_BYTES // 2**20} MiB: not an MM7 schema")
    return data


# The global elements every MM7 schema declares (Rel-6 files add the extended operations).
MM7_ELEMENTS = (
    "SubmitReq", "SubmitRsp", "DeliverReq", "DeliverRsp", "CancelReq", "CancelRsp", "ReplaceReq", "ReplaceRsp",
    "DeliveryReportReq", "DeliveryReportRsp", "ReadReplyReq", "ReadReplyRsp", "RSErrorRsp", "VASPErrorRsp",
)


def inspect_schema(data: bytes, parts: dict[str, bytes], what: str) -> tuple[str, list[str], list[list[str]]]:
    """Target namespace, the MM7Version enumeration (if the schema has one) and its patterns (if it
    has some: `mm7version_patterns`) of a file (`what`: how messages name it) and the parts it includes."""
    root = parse_schema(data, what, None)
    tns = root.get("targetNamespace") or ""
    # (as mm7bind reads a namespace: https, another case, are the same one)
    if not namespace_key(tns).startswith(namespace_key(MM7_NS_PREFIX) + "/"):
        raise RegenError(f"target namespace {tns!r} is not an MM7 namespace ({MM7_NS_PREFIX}...)")
    check_qualified(root, what)
    whole = copy.deepcopy(root)  # (the parts' declarations with the file's, for the look-ups below)
    for name, part in parts.items():
        part_root = parse_schema(part, name, None)
        if part_root.get("targetNamespace") not in (None, tns):
            raise RegenError(f"{name}, which the file includes, has another target namespace "
                             f"({part_root.get('targetNamespace')})")
        check_qualified(part_root, f"{name} (which {what} includes)")
        whole.extend(copy.deepcopy(list(part_root)))
    declared = {el.get("name") for el in whole.iterchildren(f"{{{XS_NS}}}element")}
    # Every message carries TransactionID in its SOAP header: without it nothing could be sent.
    if "TransactionID" not in declared:
        raise RegenError("the file declares no global element TransactionID (the SOAP header of every "
                         "MM7 message): not an MM7 message schema")
    missing = [name for name in MM7_ELEMENTS if name not in declared]
    if missing:
        print(f"note: the file declares no {', '.join(missing)}: those messages cannot be sent or read "
              "in this version")
    return tns, mm7version_values(whole), mm7version_patterns(whole)


# A schema split over more files than this is not an MM7 schema (and the includes may loop).
MAX_PARTS = 20


def read_parts(source: str, data: bytes, deadline: float | None = None) -> dict[str, bytes]:
    """The files a schema includes by name, read from beside it (the same folder or URL path),
    and those they include in turn; downloaded by `deadline` (`read_source`)."""
    by_url = urllib.parse.urlparse(source).scheme in URL_SCHEMES
    own_name = urllib.parse.unquote(urllib.parse.urlparse(source).path.rsplit("/", 1)[-1]) if by_url else Path(source).name
    parts: dict[str, bytes] = {}
    pending = [(name, "the file") for name in included_names(parse_schema(data, shown_source(source), None))]
    while pending:
        name, includer = pending.pop(0)
        if name in parts:
            continue
        # (XML Schema allows the loop, but the file goes into schemas/ under its version's name, where
        # the include would find nothing, or be taken for a part of its own and declare everything twice)
        if name == own_name:
            raise RegenError(f"{includer} includes {name}, the file itself: an include loop, not taken. "
                             f"Remove that xs:include (the file's declarations reach the parts it includes "
                             "without it)")
        if len(parts) == MAX_PARTS:
            raise RegenError(f"the file includes more than {MAX_PARTS} files")
        if by_url:
            part, _ = read_source(beside(source, name), deadline)
        else:
            part, _ = read_source(str(Path(source).parent / name))
        parts[name] = part
        pending += [(included, name) for included in included_names(parse_schema(part, name, None))]
    return parts


def mm7version_values(root: etree._Element) -> list[str]:
    """The values MM7Version's simple type enumerates: a named type, wherever the file declares
    it, or one written inside the element; the enumeration may sit on a type it restricts. Empty
    when there is none (a pattern, say)."""
    simple, named = _mm7version_type(root)
    for _ in range(len(named) + 1):  # (a derivation loop is an invalid schema: stop anyway)
        if simple is None:
            return []
        values = [e.get("value") for e in simple.iter(f"{{{XS_NS}}}enumeration")]
        restriction = simple.find(f"{{{XS_NS}}}restriction")
        base = restriction.get("base") if restriction is not None else None
        if values or not base or base.split(":")[-1] not in named:
            return values
        simple = named[base.split(":")[-1]]
    return []


def _mm7version_type(root: etree._Element) -> tuple[etree._Element | None, dict[str, etree._Element]]:
    """MM7Version's simple type (named, or written inside the element) and the file's named ones."""
    named = {st.get("name"): st for st in root.iter(f"{{{XS_NS}}}simpleType") if st.get("name")}
    for el in root.iter(f"{{{XS_NS}}}element"):
        if el.get("name") != "MM7Version":
            continue
        simple = named.get(el.get("type").split(":")[-1]) if el.get("type") else el.find(f"{{{XS_NS}}}simpleType")
        if simple is not None:
            return simple, named
    return None, named


def mm7version_patterns(root: etree._Element) -> list[list[str]]:
    """The pattern facets of MM7Version's simple type, a list for each step of its derivation: a
    value must match one of each step's (XSD ORs a step's patterns and ANDs the steps'). Empty
    when it has none (an enumeration, say)."""
    simple, named = _mm7version_type(root)
    steps: list[list[str]] = []
    for _ in range(len(named) + 1):  # (a derivation loop is an invalid schema: stop anyway)
        if simple is None:
            break
        restriction = simple.find(f"{{{XS_NS}}}restriction")
        if restriction is None:
            break
        patterns = [p.get("value") for p in restriction.iterchildren(f"{{{XS_NS}}}pattern") if p.get("value")]
        if patterns:
            steps.append(patterns)
        base = (restriction.get("base") or "").split(":")[-1]
        simple = named.get(base)
    return steps


def matches_patterns(value: str, steps: list[list[str]]) -> bool:
    """Whether `value` matches one pattern of each step (`mm7version_patterns`), an XSD pattern read
    as Python's regular expression anchored at both ends (the two agree on what MM7Version
    patterns use: digits, classes, escaped dots); one Python cannot read is not held against it."""
    for patterns in steps:
        try:
            if not any(re.fullmatch(pattern, value) for pattern in patterns):
                return False
        except re.error:
            continue
    return True


def newest_first(values: list[str]) -> list[str]:
    """MM7Version values with the newest TS 23.140 version first, whatever order the schema lists
    them in: the first one is what mm7bind sends by default."""
    def key(value: str) -> tuple[int, ...]:
        return tuple(int(part) if part.isdigit() else -1 for part in value.split("."))
    return sorted(values, key=key, reverse=True)


def own_newest(version: str, values: list[str]) -> str | None:
    """The newest of `values` of `version`'s own release (``REL-6-…``: 6.x.y), as
    `mm7bind.versions.Version.nominal_mm7_version` finds it: the one `pairing` is about."""
    release = VERSION_NAME.match(version)
    numbers = [(tuple(int(n) for n in value.split(".")), value) for value in values
               if re.fullmatch(r"\d{1,4}\.\d{1,4}\.\d{1,4}", value)]
    own = [(number, value) for number, value in numbers if release and number[0] == int(release.group(1))]
    return max(own)[1] if own else None


def version_of_namespace(namespace: str) -> str | None:
    """The version name a namespace ends in (``.../REL-6-MM7-1-4`` → ``REL-6-MM7-1-4``), however it
    is spelt (``.../rel-6-mm7-1-4/``): mm7bind reads a message in such a namespace as that version's."""
    tail = namespace_key(namespace).rsplit("/", 1)[-1].upper()
    return tail if VERSION_NAME.match(tail) else None


def import_schema(source: str, version: str | None, mm7_versions: list[str] | None) -> None:
    manifest = Manifest.load()
    deadline = time.monotonic() + DOWNLOAD_DEADLINE  # (the file's and its parts' downloads, in all)
    data, origin_url = read_source(source, deadline)
    parts = read_parts(source, data, deadline)
    namespace, enumerated, patterns = inspect_schema(data, parts, shown_source(source))
    named = version_of_namespace(namespace)
    if version is None:
        if named is None:
            raise RegenError(f"the file's namespace {namespace} does not name a version: pass --version")
        version = named
    package = package_name(version)
    # The namespace is what identifies a version on the wire; filing a file under another
    # version's name would give two versions one namespace (and replace the other's classes).
    if named is not None and named != version:
        raise RegenError(f"the file's namespace {namespace} is that of {named}, not {version}: "
                         f"import it as --version {named}")
    if named is None:
        print(f"note: the file's namespace {namespace} does not end in {version}")
    # The version is recorded under the file's own spelling: it is the one its schema (and the
    # classes generated from it) validates, so the one messages are sent in; mm7bind reads another
    # spelling of it (3GPP's, say) as this version's all the same (`versions.by_spelling`).
    if not namespace.startswith(MM7_NS_PREFIX):
        print(f"note: the file spells the MM7 namespace its own way ({namespace}, not {MM7_NS_PREFIX}...): "
              f"{version} is recorded and sent in its spelling, and a message in another one is read as {version}'s")
    previous = manifest.versions.get(version)
    if previous is not None and previous.namespace != namespace:
        # (a carrier's spelling, say: what goes on the wire changes with it)
        print(f"note: {version}'s namespace changes from {previous.namespace} to {namespace}: "
              "messages in this version are sent in the new one")
    pairing = previous.pairing if previous else "inferred"
    if mm7_versions or previous is None:
        values = mm7_versions or newest_first(enumerated)
    else:
        # The file settles what versions.toml inferred: a value its MM7Version enumeration leaves
        # out, the schema refuses, and mm7bind, validating what it writes, could not send it (the
        # default one, nothing at all in this version). The default stays if the schema lists it.
        values = [value for value in previous.mm7_versions if not enumerated or value in enumerated]
        left_out = [value for value in previous.mm7_versions if value not in values]
        # A value it lists that versions.toml does not is one the schema takes: mm7bind reads a
        # body without a namespace by it (`versions.reading_of_mm7_version`), so it is added, after
        # those kept (the default stays the default).
        added = newest_first([value for value in enumerated if value not in previous.mm7_versions])
        values = values + added if values else newest_first(enumerated)
        if left_out:
            print(f"note: {version}'s MM7Version {', '.join(left_out)} left out: not in the schema's list "
                  f"{enumerated}" + (f"; {values[0]} is sent by default, not {previous.mm7_versions[0]}"
                                     if values[0] != previous.mm7_versions[0] else ""))
        if added:
            print(f"note: {version}'s MM7Version {', '.join(added)} added: in the schema's list {enumerated}")
        # `pairing` is about the newest value of the version's own release: one added past it is
        # not what the sources confirmed
        before, after = own_newest(version, previous.mm7_versions), own_newest(version, values)
        if after != before and pairing != "inferred":
            print(f"note: {version}'s pairing is \"inferred\" now, not \"{pairing}\": that was of MM7Version "
                  f"{before}, and the schema lists {after}, a later one")
            pairing = "inferred"
    if not values:
        raise RegenError(f"no MM7Version values known for {version}: pass --mm7-version X.Y.Z")
    # A value the schema's enumeration refuses could never be sent: mm7bind validates what it writes,
    # and the version's default would fail every message.
    refused = [value for value in values if enumerated and value not in enumerated]
    if refused:
        raise RegenError(f"--mm7-version {', '.join(refused)}: not in the schema's MM7Version list "
                         f"{enumerated}, which would refuse every message sent with it")
    # (a schema giving MM7Version by a pattern alone takes only what matches it, as a list does)
    refused = [value for value in values if not matches_patterns(value, patterns)]
    if refused:
        raise RegenError(f"--mm7-version {', '.join(refused)}: does not match the schema's MM7Version pattern "
                         f"{' and '.join(' or '.join(step) for step in patterns)}, which would refuse every "
                         "message sent with it")
    target = SCHEMAS / f"{version}.xsd"
    check_part_names(manifest, version, target.name, parts)
    manifest.versions[version] = VersionEntry(
        name=version,
        file=target.name,
        namespace=namespace,
        package=package,
        mm7_versions=list(values),
        note=previous.note if previous else "",
        # (an official file says which values its schema takes, not which one it was published with)
        pairing=pairing,
        origin="official",
        url=origin_url,
        sha256=hashlib.sha256(data).hexdigest(),
        includes=sorted(parts),
        includes_sha256=[hashlib.sha256(parts[name]).hexdigest() for name in sorted(parts)],
    )
    files = {target.name: data, **parts}
    in_use = {name for e in manifest.versions.values() for name in [e.file, *e.includes]}
    # Everything is generated and checked before anything in the tree changes (a refusal names the
    # file given, not the one in schemas/, which stays as it was); then it is staged and committed.
    with tempfile.TemporaryDirectory(prefix="mm7bind-regen-") as tmp:
        shown = {target.name: f"{shown_source(source)} (imported as {version})"}
        fresh = run_xsdata(manifest, Path(tmp), files, shown)
        staged = {name: content for name, content in files.items()}
        staged[MANIFEST.name] = manifest.dump().encode()
        commit_import(fresh, staged, sorted(set(previous.includes if previous else ()) - in_use))
    print(f"generated/ written from {len(manifest.versions)} MM7 schemas and the SOAP envelope")
    print(f"imported {version} from {origin_url} (sha256 {manifest.versions[version].sha256[:16]}...)"
          + (f" with {', '.join(sorted(parts))}" if parts else ""))
    print("next: run the tests (tests/test_schema_tables.py compares the file with the protocol's element "
          "tables: where they disagree, the file is right, correct the tables) and commit schemas/ and "
          "generated/ together")


def shown_source(source: str) -> str:
    """How messages name the source given: a URL as the manifest records it (no token shown)."""
    return recorded_url(source) if urllib.parse.urlparse(source).scheme in URL_SCHEMES else source


# An import changes generated/ and several files in schemas/, which no one rename can do. Its new
# files are staged beside the old ones first; this note, written in one rename once all of them
# are, is the point of commit. Before it an interrupted import leaves the old state (the staged
# files are removed by the next run); after it, the next run of any command finishes the import.
PENDING = ROOT / ".regen-import-pending"
STAGED_GENERATED = GENERATED.with_name(".generated.new")
OLD_GENERATED = GENERATED.with_name(".generated.old")


def sync_file(path: Path) -> None:
    """`path`'s contents on disk (os.fsync)."""
    fd = os.open(path, os.O_RDWR)  # (Windows syncs only what is open for writing)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(path: Path) -> None:
    """The names in folder `path` (files created, renamed or removed there) on disk; where a folder
    cannot be opened so (Windows), the file system keeps them itself."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # (a file system that does not sync folders)
        pass
    finally:
        os.close(fd)


def sync_tree(root: Path) -> None:
    """Every file under `root`, then every folder, deepest first, on disk."""
    folders = []
    for folder, _, names in os.walk(root):
        folders.append(Path(folder))
        for name in names:
            sync_file(Path(folder) / name)
    for folder in reversed(folders):
        sync_dir(folder)


def staged_name(name: str) -> Path:
    return SCHEMAS / (name + ".new")


def commit_import(fresh: Path, staged: dict[str, bytes], removed: list[str]) -> None:
    """Put `fresh` in place of generated/, `staged` (contents by file name) in schemas/ and remove
    the parts no version includes any more, so that an interrupt at any point leaves either the old
    state or one the next run completes (`finish_import`)."""
    try:
        stage_generated(fresh)
        for name, content in staged.items():
            staged_name(name).write_bytes(content)
            sync_file(staged_name(name))
        sync_dir(SCHEMAS)
        # The note commits what is staged: written only once all of it is on disk, and on disk
        # itself (its directory entry too) before the import goes on, or a power loss could leave
        # a note naming staged files that were never written, or none of a committed import.
        note = PENDING.with_name(PENDING.name + ".tmp")
        note.write_text(json.dumps({"files": sorted(staged), "remove": removed}), encoding="utf-8")
        sync_file(note)
        os.replace(note, PENDING)
        sync_dir(ROOT)
    except BaseException:
        discard_staged(list(staged))
        raise
    finish_import()


def discard_staged(names: list[str]) -> None:
    """Remove what an import staged and never committed."""
    PENDING.with_name(PENDING.name + ".tmp").unlink(missing_ok=True)
    for name in names:
        staged_name(name).unlink(missing_ok=True)
    shutil.rmtree(STAGED_GENERATED, ignore_errors=True)


def finish_import() -> bool:
    """Complete an import committed and then interrupted, or clear what one interrupted before
    committing left; True when an import was completed. Each step can be done again."""
    if not PENDING.exists():
        if GENERATED.exists():
            shutil.rmtree(OLD_GENERATED, ignore_errors=True)
        elif OLD_GENERATED.exists():  # (generate stopped between its two renames)
            OLD_GENERATED.rename(GENERATED)
        discard_staged([p.name[:-4] for p in SCHEMAS.glob("*.new")])
        return False
    note = json.loads(PENDING.read_text(encoding="utf-8"))
    if STAGED_GENERATED.exists():
        swap_generated()
    for name in note["files"]:
        if staged_name(name).exists():
            os.replace(staged_name(name), SCHEMAS / name)
    for name in note["remove"]:
        (SCHEMAS / name).unlink(missing_ok=True)
    sync_dir(SCHEMAS)  # (the renames on disk before the note that would redo them goes)
    sync_dir(ROOT)
    PENDING.unlink()
    shutil.rmtree(OLD_GENERATED, ignore_errors=True)
    return True


# One run at a time: two imports (or an import and a generate) at once would stage over each
# other's files and commit a mix. An exclusive lock on this file, taken by every command (each
# finishes what an interrupted import left first); it says who holds it. The lock, not the file,
# is what counts: the system lets it go with the process, however it ends.
LOCK = ROOT / ".regen.lock"


class ProjectLock:
    """`LOCK` held for the `with`, or `RegenError` naming who holds it."""

    def __init__(self, command: str) -> None:
        self.command, self.fd = command, None

    def __enter__(self) -> None:
        while True:
            fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not _try_lock(fd):
                    raise RegenError(f"another run of tools/regen is changing schemas/ and generated/ "
                                     f"({_holder(fd)}): wait for it to end, then run this again")
                try:  # (the file a holder removed on leaving is no lock: take the one there now)
                    same = os.path.samestat(os.fstat(fd), os.stat(LOCK))
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                break
            os.close(fd)
        said = (f"pid {os.getpid()} on {socket.gethostname()}, {self.command}, since "
                f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC").encode()
        os.ftruncate(fd, 0)
        os.write(fd, said)
        self.fd = fd

    def __exit__(self, *exc) -> None:
        try:
            os.unlink(LOCK)  # (while still held: whoever opened this file waits for no lock of it)
        except OSError:  # (gone already; Windows removes no open file)
            pass
        finally:
            os.close(self.fd)  # (lets the lock go)


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on `fd` if no one holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(fd: int) -> str:
    try:
        said = os.read(fd, 500).decode(errors="replace").strip()
    except OSError:  # (Windows: the holder's region is locked)
        said = ""
    return said or "it has not yet said which"


def check_part_names(manifest: Manifest, version: str, file: str, parts: dict[str, bytes]) -> None:
    """The parts go beside the file in schemas/: none may take the name of another file there."""
    ours = {manifest.envelope["file"], MANIFEST.name} | {e.file for e in manifest.versions.values()} | {file}
    previous = manifest.versions.get(version)
    for name, content in parts.items():
        if name in ours:
            raise RegenError(f"the file includes {name}, a name schemas/ already has for another file: "
                             "rename that part (and its xs:include)")
        existing = SCHEMAS / name
        if existing.exists() and existing.read_bytes() != content:
            others = [e.name for e in manifest.versions.values() if name in e.includes and e.name != version]
            if others or previous is None or name not in previous.includes:
                held = f"{others[0]} includes" if others else "schemas/ holds"
                raise RegenError(f"the file includes {name}, and {held} another {name}: rename that part "
                                 "(and its xs:include)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.regen", description=__doc__.splitlines()[0],
        epilog=f"Needs the pinned generator: pip install -e '.[codegen]' (xsdata {PINNED['xsdata']}, "
               f"ruff {PINNED['ruff']}). README.md, \"Schema versions\", says more.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="write generated/ from schemas/")
    sub.add_parser("check", help="fail if generated/ differs from what schemas/ produce")
    imp = sub.add_parser(
        "import", help="take an XSD file or URL into schemas/ and regenerate",
        description="Take an MM7 XSD (an official 3GPP file, as it is) into schemas/ as the version its "
                    "namespace names, record it in versions.toml (origin official, URL, sha256) and "
                    "regenerate generated/. Nothing changes unless the file is accepted and generates.",
        epilog="Then run the tests (tests/test_schema_tables.py holds the file to the protocol's element "
               "tables: where they disagree, the file is right, correct the tables) and commit schemas/ "
               "and generated/ together.")
    imp.add_argument("source", help="path or URL of the XSD (files it xs:includes by name are taken from "
                                    "beside it; a URL's query and credentials are not recorded)")
    imp.add_argument("--version", help="version name, e.g. REL-6-MM7-1-4, only for a file whose namespace "
                                       "does not end in one (default: the one the file's namespace names)")
    imp.add_argument("--mm7-version", action="append", dest="mm7_versions", metavar="X.Y.Z",
                     help="an MM7Version value for this namespace; repeat for several, the first is sent by "
                          "default (default: the values versions.toml has for the version that the schema "
                          "takes, or, for a new version or when it takes none of them, those the schema "
                          "enumerates, newest first)")
    args = parser.parse_args(argv)
    try:
        with ProjectLock(args.command + (f" {args.source}" if args.command == "import" else "")):
            if finish_import():
                print("finished an import that was interrupted: schemas/ and generated/ are as it left them")
            if args.command == "generate":
                generate()
                return 0
            if args.command == "check":
                return check()
            import_schema(args.source, args.version, args.mm7_versions)
            return 0
    except (RegenError, OSError) as exc:  # (OSError: writing the tree, a full disk say)
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
