"""The regeneration tool: generated/ matches schemas/, drift is caught, official files drop in."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mm7bind.messages import MESSAGE_TYPES
from tools.regen import namespace_key, package_name

from .conftest import ROOT
from .fake_http import RawServer, read_request
from .layouts import OFFICIAL_STYLE, official_layout


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.regen", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def project(tmp_path) -> Path:
    """A scratch copy of the parts of the project the tool works on."""
    for name in ("schemas", "generated", "tools"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


# The head of each script `in_project` runs: mm7bind, imported from this tree, reads its schemas
# and its generated classes from the scratch copy named first on the command line (`root`).
IN_PROJECT = """\
import sys, pathlib
root = pathlib.Path(sys.argv[1])
import mm7bind, mm7bind.generated, mm7bind.schemas
mm7bind.generated.__path__[:] = [str(root / 'generated')]
mm7bind.schemas.__path__[:] = [str(root / 'schemas')]
import mm7bind.versions as V
V.schema_dir = lambda: root / 'schemas'
"""


def in_project(project: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    """`script` run by a Python of its own with mm7bind pointed at `project` (IN_PROJECT first);
    `args` follow the project on its command line, from sys.argv[2]."""
    return subprocess.run([sys.executable, "-c", IN_PROJECT + script, str(project), *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_generated_is_up_to_date():
    proc = run(ROOT, "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "up to date" in proc.stdout


def test_check_reports_drift(project):
    target = project / "generated" / "rel6_mm7_1_4" / "bindings.py"
    # (an element's class: type names differ between our schemas and official ones, and an element
    # with an anonymous type has no base class)
    target.write_text(re.sub(r"^class SubmitReq\b", "class SubmitReqEdited", target.read_text(), count=1, flags=re.MULTILINE))
    (project / "generated" / "stray.py").write_text("x = 1\n")
    (project / "generated" / "rel5_mm7_1_0" / "__init__.py").unlink()
    proc = run(project, "check")
    assert proc.returncode == 1
    assert "changed   generated/rel6_mm7_1_4/bindings.py" in proc.stdout
    assert "SubmitReqEdited" in proc.stdout
    assert "unexpected generated/stray.py" in proc.stdout
    assert "missing   generated/rel5_mm7_1_0/__init__.py" in proc.stdout
    assert run(project, "generate").returncode == 0
    assert run(project, "check").returncode == 0


def official_like() -> bytes:
    """A REL-6-MM7-1-4 file as a 3GPP file would be: remote envelope import, other type names than
    ours. Taken from the fixture, not from schemas/ (which may hold the official file by then)."""
    return OFFICIAL_STYLE.read_bytes()


def test_import_an_official_file(project, tmp_path):
    source = tmp_path / "REL-6-MM7-1-4-official.xsd"
    data = official_like()
    source.write_bytes(data)
    before = tomllib.loads((project / "schemas" / "versions.toml").read_text())
    proc = run(project, "import", str(source), "--version", "REL-6-MM7-1-4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # (what to do next, for whoever imports the first official file)
    assert proc.stdout.splitlines()[-1].startswith("next: run the tests (tests/test_schema_tables.py")
    manifest = tomllib.loads((project / "schemas" / "versions.toml").read_text())
    entry = manifest["versions"]["REL-6-MM7-1-4"]
    assert entry["origin"] == "official" and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["url"] == source.name
    assert entry["mm7_versions"][0] == "6.8.0"
    assert (project / "schemas" / "REL-6-MM7-1-4.xsd").read_bytes() == data
    bindings = (project / "generated" / "rel6_mm7_1_4" / "bindings.py").read_text()
    assert "class SubmitReqType" in bindings and "mustUnderstand" in bindings
    assert run(project, "check").returncode == 0
    # Other versions untouched (whatever their origin), manifest still lists all of them.
    assert len(manifest["versions"]) == 11
    del manifest["versions"]["REL-6-MM7-1-4"], before["versions"]["REL-6-MM7-1-4"]
    assert manifest == before


def test_imported_schema_binds_through_the_public_api(project, tmp_path):
    """The runtime matches by element names, so a file with other type names binds unchanged."""
    source = tmp_path / "official.xsd"
    source.write_bytes(official_like())
    assert run(project, "import", str(source), "--version", "REL-6-MM7-1-4").returncode == 0
    script = (
        "v = V.get('REL-6-MM7-1-4')\n"
        "assert v.origin == 'official', v\n"
        "assert v.element_class('SubmitReq').__mro__[1].__name__ == 'SubmitReqType'\n"
        "msg = mm7bind.SubmitReq(recipients=['+861'], subject='s')\n"
        "env = mm7bind.decode_envelope(mm7bind.encode_envelope(msg, transaction_id='t', version=v), strict=True)\n"
        "assert env.body.subject == 's', env\n"
        "print('ok')\n"
    )
    proc = in_project(project, script)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


@pytest.mark.parametrize(("content", "message"), [
    (b"not xml at all", "not well-formed XML"),
    (b"<root/>", "not an XML Schema document"),
    (b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x"/>', "is not an MM7 namespace"),
    # (what a first import may be given instead of the file: the archive it came in, the page showing it)
    (b"PK\x03\x04\x14\x00\x00\x00", "is a zip archive, not an XSD: extract the .xsd from it"),
    (b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><br></body></html>", "it is a web page (HTML)"),
    (b"<html><body><p>Sign in</p></body></html>", "it is a web page (HTML)"),
])
def test_import_refuses_bad_files_and_leaves_schemas_alone(project, tmp_path, content, message):
    before = {p.name: p.read_bytes() for p in (project / "schemas").iterdir() if p.is_file()}
    source = tmp_path / "bad.xsd"
    source.write_bytes(content)
    proc = run(project, "import", str(source), "--version", "REL-6-MM7-1-4")
    assert proc.returncode == 2 and message in proc.stderr
    after = {p.name: p.read_bytes() for p in (project / "schemas").iterdir() if p.is_file()}
    assert after == before


def test_import_missing_file(project):
    proc = run(project, "import", "/nonexistent/REL-6-MM7-1-4.xsd", "--version", "REL-6-MM7-1-4")
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_import_a_new_version_needs_its_mm7version(project, tmp_path):
    """A schema whose MM7Version is a dotted-number pattern names no value to send."""
    schema = new_version_schema(mm7version=DOTTED_MM7VERSION)
    source = tmp_path / "REL-6-MM7-1-5.xsd"
    source.write_text(schema)
    proc = run(project, "import", str(source), "--version", "REL-6-MM7-1-5")
    assert proc.returncode == 2 and "--mm7-version" in proc.stderr
    # a value the pattern refuses was taken, and every message sent with it refused by the schema
    before = snapshot(project)
    proc = run(project, "import", str(source), "--version", "REL-6-MM7-1-5", "--mm7-version", "6.9")
    assert proc.returncode == 2 and "6.9: does not match the schema's MM7Version pattern" in proc.stderr, proc.stderr
    assert snapshot(project) == before
    proc = run(project, "import", str(source), "--version", "REL-6-MM7-1-5", "--mm7-version", "6.9.0")
    assert proc.returncode == 0, proc.stderr
    assert (project / "generated" / "rel6_mm7_1_5" / "bindings.py").is_file()
    manifest = tomllib.loads((project / "schemas" / "versions.toml").read_text())
    assert manifest["versions"]["REL-6-MM7-1-5"]["mm7_versions"] == ["6.9.0"]
    assert list(manifest["versions"])[-1] == "REL-6-MM7-1-5"


@contextlib.contextmanager
def serving(folder: Path, handler: type[SimpleHTTPRequestHandler] = SimpleHTTPRequestHandler):
    """`folder`'s files served over HTTP on 127.0.0.1 by `handler`, quietly; yields the server's
    URL (no trailing slash)."""

    class Quiet(handler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_import_from_a_url(project, tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    data = official_like()
    (served / "REL-6-MM7-1-4.xsd").write_bytes(data)
    with serving(served) as server:
        url = f"{server}/REL-6-MM7-1-4.xsd"
        proc = run(project, "import", url, "--version", "REL-6-MM7-1-4")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
        assert entry["url"] == url and entry["sha256"] == hashlib.sha256(data).hexdigest()
        missing = run(project, "import", url.replace(".xsd", "-nope.xsd"), "--version", "REL-6-MM7-1-4")
        assert missing.returncode == 2 and "cannot download" in missing.stderr


def snapshot(project: Path) -> dict[str, bytes]:
    return {p.relative_to(project).as_posix(): p.read_bytes()
            for d in ("schemas", "generated") for p in sorted((project / d).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("tail", ["REL-6-MM7-1-4", "rel-6-mm7-1-4", "REL-6-MM7-1-4/", "REL-6-MM7-1-4.xsd"])
def test_import_under_another_versions_name_is_refused(project, tmp_path, tail):
    """A REL-6-MM7-1-4 file filed as REL-6-MM7-1-3 would give two versions one namespace and
    replace REL-6-MM7-1-4's generated classes; the tool says which version the file is. So too
    for a file whose namespace spells REL-6-MM7-1-4's otherwise (as carriers' copies do): mm7bind
    reads a message so spelt as REL-6-MM7-1-4's. Filed as REL-6-MM7-1-3, it would take
    REL-6-MM7-1-4's messages in that spelling, and a trailing slash, for REL-6-MM7-1-3's.
    Without --version it is taken as REL-6-MM7-1-4, in its spelling."""
    source = tmp_path / "carrier.xsd"
    source.write_bytes(official_like().replace(b"schema/REL-6-MM7-1-4", b"schema/" + tail.encode()))
    before = snapshot(project)
    proc = run(project, "import", str(source), "--version", "REL-6-MM7-1-3")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "is that of REL-6-MM7-1-4" in proc.stderr and "--version REL-6-MM7-1-4" in proc.stderr
    assert snapshot(project) == before
    if tail != "rel-6-mm7-1-4":
        return
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "REL-6-MM7-1-4's namespace changes" in proc.stdout
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
    assert entry["namespace"].endswith("/rel-6-mm7-1-4") and entry["origin"] == "official"


def test_import_takes_the_version_from_the_namespace(project, tmp_path):
    """Whatever the file is called, its namespace names the version it is."""
    source = tmp_path / "mm7-schema-from-3gpp.xsd"
    data = official_like()
    source.write_bytes(data)
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
    assert entry["file"] == "REL-6-MM7-1-4.xsd" and entry["origin"] == "official"
    assert (project / "schemas" / "REL-6-MM7-1-4.xsd").read_bytes() == data
    assert run(project, "check").returncode == 0


@pytest.mark.parametrize(("namespace", "said"), [
    ("REL-6-MM7-1-4", "REL-6-MM7-1-3 and REL-6-MM7-1-4 both have the namespace"),
    # mm7bind tells namespaces apart as peers spell them (case, a trailing slash, https): two
    # versions whose namespaces differ only so would be read as one
    ("REL-6-MM7-1-4/", "REL-6-MM7-1-3 and REL-6-MM7-1-4 have one namespace spelt two ways"),
], ids=["same", "spelt-two-ways"])
def test_generate_refuses_two_versions_with_one_namespace(project, namespace, said):
    """REL-6-MM7-1-3's namespace in the manifest edited into REL-6-MM7-1-4's: generate and check
    refuse, naming both, and leave the tree alone."""
    manifest = project / "schemas" / "versions.toml"
    schema = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
    text = manifest.read_text()
    theirs = f'namespace = "{schema}REL-6-MM7-1-3"'
    assert theirs in text
    manifest.write_text(text.replace(theirs, f'namespace = "{schema}{namespace}"'))
    before = snapshot(project)
    for command in ("generate", "check"):
        proc = run(project, command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert said in proc.stderr, proc.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize(("namespace", "version"), [
    ("http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4", "REL-6-MM7-1-4"),
    ("https://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/rel-6-mm7-1-4/", "REL-6-MM7-1-4"),
    (" http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2.xsd\n", "REL-5-MM7-1-2"),
    ("HTTP://WWW.3GPP.ORG/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2", "REL-5-MM7-1-2"),
])
def test_the_tool_tells_namespaces_apart_as_mm7bind_does(namespace, version):
    from mm7bind import versions
    assert namespace_key is versions.namespace_key  # (one function: the tool's and the reader's keys cannot drift)
    assert versions.by_spelling(namespace) is versions.get(version)
    assert namespace_key(namespace) == namespace_key(versions.get(version).namespace)


@pytest.mark.parametrize("edited", ["manifest", "schema"])
def test_a_file_whose_namespace_is_not_the_manifests_is_refused(project, edited):
    """versions.toml's namespace for a version, or the file's own (edited in place), changed without
    the other: xsdata would write the version's classes to a package named after the URL
    (generated/org/...), remove the version's package, and `check` would then call that up to date."""
    old = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0"
    new = old.replace("REL-5-MM7-1-0", "REL-5-MM7-1-9")
    target = project / "schemas" / ("versions.toml" if edited == "manifest" else "REL-5-MM7-1-0.xsd")
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(f'"{old}"', f'"{new}"'))
    before = snapshot(project)
    for command in ("generate", "check"):
        proc = run(project, command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        found, given = (old, new) if edited == "manifest" else (new, old)
        assert (f"schemas/REL-5-MM7-1-0.xsd has the target namespace {found}, and versions.toml gives "
                f"REL-5-MM7-1-0 the namespace {given}") in proc.stderr, proc.stderr
    assert snapshot(project) == before and not (project / "generated" / "org").exists()


def new_version_schema(mm7version: str | None = None, read_status: str | None = None) -> str:
    """The official-style fixture as a new REL-6-MM7-1-5, with MM7Version's and ReadReplyReq's
    MMStatus declarations replaced when given."""
    text = OFFICIAL_STYLE.read_text().replace("REL-6-MM7-1-4", "REL-6-MM7-1-5")
    if mm7version is not None:
        text = text.replace('<element name="MM7Version" type="mm7:versionType"/>', mm7version)
    if read_status is not None:
        text = text.replace('<element name="MMStatus" type="mm7:mmReadStatusType"/>', read_status)
    return text


DOTTED_MM7VERSION = ('<element name="MM7Version"><simpleType><restriction base="string">'
                     '<pattern value="[0-9]+\\.[0-9]+\\.[0-9]+"/></restriction></simpleType></element>')


def imported_entry(project, tmp_path, text: str) -> dict:
    """The manifest's entry for `text` imported as REL-6-MM7-1-5."""
    source = tmp_path / "REL-6-MM7-1-5.xsd"
    source.write_text(text)
    proc = run(project, "import", str(source), "--version", "REL-6-MM7-1-5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-5"]


def test_status_details_a_schema_lacks_are_refused_as_any_field_it_lacks_and_refusals_still_go(project, tmp_path):
    """Status Details in a version whose Status has no Details element was left out without a word,
    where any other field a version lacks is an UnsupportedFieldError (or dropped with a warning,
    drop_unsupported). A receiver's Fault drops it with that warning: a refusal must go out, not
    turn into a 3000 the MMSC sends again."""
    details = '<element name="Details" type="mm7:anyDataType" minOccurs="0"/>'
    text = new_version_schema()
    assert text.count(details) == 1
    imported_entry(project, tmp_path, text.replace(details, ""))
    script = (
        "import logging\n"
        "logging.basicConfig(level=logging.WARNING, format='%(name)s %(message)s')\n"
        "v = V.get('REL-6-MM7-1-5')\n"
        "said = mm7bind.DeliverRsp(status=mm7bind.Status(2002, details='no such number'))\n"
        "for engine in ('direct', 'xsdata'):\n"
        "    try:\n"
        "        mm7bind.encode_envelope(said, transaction_id='t', version=v, engine=engine)\n"
        "    except mm7bind.UnsupportedFieldError as exc:\n"
        "        assert (exc.field, exc.version) == ('details', 'REL-6-MM7-1-5'), exc\n"
        "        assert 'Status/Details does not exist in REL-6-MM7-1-5' in str(exc), exc\n"
        "    else:\n"
        "        raise AssertionError(engine + ': details left out silently')\n"
        "    out = mm7bind.encode_envelope(said, transaction_id='t', version=v, engine=engine,\n"
        "                                  style=mm7bind.XmlStyle(drop_unsupported=True))\n"
        "    assert b'Details' not in out and b'2002' in out\n"
        "    plain = mm7bind.DeliverRsp(status=mm7bind.Status(1000))\n"
        "    mm7bind.encode_envelope(plain, transaction_id='t', version=v, engine=engine)\n"
        "rcv = mm7bind.Receiver()\n"
        "@rcv.on('deliver')\n"
        "def refuse(msg, ctx):\n"
        "    raise mm7bind.Reject(2002, details='no such user')\n"
        "out = mm7bind.encode(mm7bind.DeliverReq(sender='1'), transaction_id='d-1', version=v)\n"
        "rsp = rcv.handle(out.to_bytes(), out.content_type)\n"
        "env = mm7bind.decode(rsp.body, dict(rsp.headers)['Content-Type'], strict=True)\n"
        "assert (env.version, env.body.code, env.body.status.code, env.body.status.details) == "
        "(v, 'Client', 2002, None), env\n"
        "print('ok')\n"
    )
    proc = in_project(project, script)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "mm7bind.binding dropped VASPErrorRsp/Status/Details does not exist in REL-6-MM7-1-5 (field details)"), proc.stderr


def test_a_new_version_sends_the_newest_mm7version_its_schema_lists(project, tmp_path):
    """Official files may list the values oldest first (as the fixture does); the default is the
    newest either way."""
    text = new_version_schema()
    text = text.replace('<enumeration value="6.8.0"/>',
                        '<enumeration value="6.8.0"/><enumeration value="6.10.0"/><enumeration value="6.9.0"/>')
    entry = imported_entry(project, tmp_path, text)
    assert entry["mm7_versions"] == ["6.10.0", "6.9.0", "6.8.0", "6.6.0", "6.5.0", "6.4.0", "6.3.0",
                                     "5.10.0", "5.8.0", "5.6.0", "5.5.0", "5.3.0"]


def test_import_refuses_an_mm7version_the_schema_does_not_list(project, tmp_path):
    """An --mm7-version value outside the schema's MM7Version enumeration would be refused by the
    schema in every message mm7bind validates: the import says so and leaves schemas/ alone."""
    source = tmp_path / "REL-6-MM7-1-5.xsd"
    source.write_text(new_version_schema())
    before = snapshot(project)
    proc = run(project, "import", str(source), "--mm7-version", "6.9.0")
    assert proc.returncode == 2 and "6.9.0: not in the schema's MM7Version list" in proc.stderr, proc.stderr
    assert snapshot(project) == before
    proc = run(project, "import", str(source), "--mm7-version", "6.8.0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = tomllib.loads((project / "schemas" / "versions.toml").read_text())
    assert manifest["versions"]["REL-6-MM7-1-5"]["mm7_versions"] == ["6.8.0"]


SENDS_BY_DEFAULT = """
v = V.get(sys.argv[2])
data = mm7bind.encode_envelope(mm7bind.SubmitReq(recipients=['+8613800000000']), transaction_id='t-1', version=v,
                               validate='always')
print(mm7bind.decode_envelope(data, strict=True).body.mm7_version)
"""


@pytest.mark.parametrize(("version", "left_out", "expected", "said"), [
    # (an erratum schema that added no MM7Version value: 6.4.0, inferred, is not REL-6-MM7-1-1's)
    ("REL-6-MM7-1-1", "6.4.0|6.5.0|6.6.0|6.8.0", ["6.3.0", "5.10.0", "5.8.0", "5.6.0", "5.5.0", "5.3.0"],
     "REL-6-MM7-1-1's MM7Version 6.4.0 left out: not in the schema's list"),
    ("REL-6-MM7-1-4", "6.6.0", ["6.8.0", "6.5.0", "6.4.0", "6.3.0", "5.10.0", "5.8.0", "5.6.0", "5.5.0", "5.3.0"],
     "REL-6-MM7-1-4's MM7Version 6.6.0 left out: not in the schema's list"),
])
def test_an_official_file_settles_a_versions_mm7version_values(project, tmp_path, version, left_out, expected, said):
    """versions.toml's MM7Version values for a version the project inferred give way to the official
    file's enumeration: one it leaves out would be refused by the schema mm7bind validates what it
    writes with (the default one: nothing could be sent in that version). The rest are kept, the
    default first; where none is left, the file's values, newest first."""
    text = OFFICIAL_STYLE.read_text().replace("REL-6-MM7-1-4", version)
    text, count = re.subn(rf'\n *<enumeration value="({left_out.replace(".", "[.]")})"/>', "", text)
    assert count == len(left_out.split("|"))
    source = tmp_path / f"{version}.xsd"
    source.write_text(text)
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert said in proc.stdout, proc.stdout
    assert ("is sent by default" in proc.stdout) == (version == "REL-6-MM7-1-1")
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"][version]
    assert entry["mm7_versions"] == expected
    sent = in_project(project, SENDS_BY_DEFAULT, version)
    assert sent.returncode == 0 and sent.stdout.split() == [expected[0]], sent.stdout + sent.stderr


@pytest.mark.parametrize(("added", "expected_tail", "pairing"), [
    # (an older value: the newest of Release 6, 6.8.0, is still the one the pairing confirmed)
    (["6.2.0"], ["6.2.0"], "confirmed"),
    # (a later one: the confirmed pairing was of 6.8.0, which is no longer the newest it lists)
    (["6.9.0", "6.2.0"], ["6.9.0", "6.2.0"], "inferred"),
])
def test_an_official_file_adds_the_mm7version_values_a_known_version_lacks(project, tmp_path, added,
                                                                             expected_tail, pairing):
    """An official file listing MM7Version values versions.toml does not have for a version it
    knows: they were dropped (only values left out were settled), so the registry no longer listed
    what the schema takes (`mm7bind versions`, the probe's check of an answer's MM7Version, the
    tests holding the two equal). Added after those kept; the default stays."""
    before = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
    text = OFFICIAL_STYLE.read_text()
    listed = "".join(f'<enumeration value="{value}"/>' for value in added)
    text, count = re.subn(r'(<enumeration value="6\.8\.0"/>)', rf"\1{listed}", text)
    assert count == 1
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(text)
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"note: REL-6-MM7-1-4's MM7Version {', '.join(expected_tail)} added" in proc.stdout, proc.stdout
    assert ("pairing is \"inferred\" now, not \"confirmed\"" in proc.stdout) == (pairing == "inferred")
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
    assert entry["mm7_versions"] == before["mm7_versions"] + expected_tail and entry["pairing"] == pairing
    listed = subprocess.run([sys.executable, "-c", LISTED_AND_TAKEN, str(project), "REL-6-MM7-1-4"],
                            capture_output=True, text=True, cwd=ROOT)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    registry, schema = listed.stdout.splitlines()
    assert registry == schema and "6.2.0" in registry


LISTED_AND_TAKEN = """
import sys, pathlib
root = pathlib.Path(sys.argv[1])
import mm7bind, mm7bind.generated, mm7bind.schemas
mm7bind.generated.__path__[:] = [str(root / 'generated')]
mm7bind.schemas.__path__[:] = [str(root / 'schemas')]
import mm7bind.versions as V
from mm7bind.binding import field_enum_values
V.schema_dir = lambda: root / 'schemas'
V._registry.cache_clear()
v = V.get(sys.argv[2])
print(sorted(v.mm7_versions))
print(sorted(field_enum_values(v, 'SubmitReq', 'MM7Version')))
"""


def test_an_mm7version_type_written_inside_the_element_is_read(project, tmp_path):
    """Not some other anonymous enumeration of the file (here a read status, declared after it)."""
    text = new_version_schema(
        mm7version='<element name="MM7Version"><simpleType><restriction base="string">'
                   '<enumeration value="6.9.0"/></restriction></simpleType></element>',
        read_status='<element name="MMStatus"><simpleType><restriction base="string">'
                    '<enumeration value="Read"/><enumeration value="Deleted"/></restriction></simpleType></element>')
    entry = imported_entry(project, tmp_path, text)
    assert entry["mm7_versions"] == ["6.9.0"]


def test_an_mm7version_enumeration_on_a_base_type_is_read(project, tmp_path):
    """MM7Version's type may restrict another type of the file that holds the enumeration."""
    text = new_version_schema(mm7version='<element name="MM7Version" type="mm7:mm7VersionType"/>')
    text = text.replace('<simpleType name="versionType">',
                        '<simpleType name="mm7VersionType"><restriction base="mm7:versionType"/></simpleType>\n'
                        '  <simpleType name="versionType">')
    entry = imported_entry(project, tmp_path, text)
    assert entry["mm7_versions"] == ["6.8.0", "6.6.0", "6.5.0", "6.4.0", "6.3.0", "5.10.0", "5.8.0", "5.6.0",
                                     "5.5.0", "5.3.0"]


REFERENCED_ENUMERATIONS = """
config_file = sys.argv[2]
from mm7bind import config, status
from mm7bind.binding import field_enum_values
v = V.get('REL-6-MM7-1-5')
assert field_enum_values(v, 'SubmitReq', 'MM7Version') == ('5.3.0', '5.5.0', '5.6.0', '5.8.0', '5.10.0', '6.3.0',
                                                           '6.4.0', '6.5.0', '6.6.0', '6.8.0')
assert status.read_statuses(v) == ('Indeterminate', 'Read', 'Deleted')
_, problems = config.load(config_file, env={})
assert [p.where for p in problems] == ['mmsc.mm7_version'], problems
print('ok')
"""


def test_enumerations_of_elements_declared_globally_are_read(project, tmp_path):
    """MM7Version and MMStatus declared once and used by reference (each then has a class of its
    own in the generated code): the MM7Version list still says which values a configuration may
    send, and the read statuses are still known."""
    text = new_version_schema(mm7version='<element ref="mm7:MM7Version"/>', read_status='<element ref="mm7:MMStatus"/>')
    text = text.replace('<element name="ServiceCode" type="mm7:serviceCodeType"/>',
                        '<element name="ServiceCode" type="mm7:serviceCodeType"/>\n'
                        '  <element name="MM7Version" type="mm7:versionType"/>\n'
                        '  <element name="MMStatus" type="mm7:mmReadStatusType"/>')
    assert imported_entry(project, tmp_path, text)["mm7_versions"][0] == "6.8.0"
    config_file = tmp_path / "mm7bind.toml"
    config_file.write_text('[mmsc]\nurls = ["http://127.0.0.1:9/mm7"]\nversion = "REL-6-MM7-1-5"\n'
                           'mm7_version = "6.7.0"\n', encoding="utf-8")
    proc = in_project(project, REFERENCED_ENUMERATIONS, str(config_file))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


# Another layout (named model and attribute groups, restriction, an all group, anonymous body
# types, global declarations used by reference) for a Rel-5 version.
OFFICIAL_STYLE_REL5 = Path(__file__).parent / "schemas" / "official-style-REL-5-MM7-1-3.xsd"
# And another (xs: and tns: prefixes, appinfo, the simple types in a part it includes, the envelope
# imported by namespace alone) for a Rel-6 version without the extended operations.
OFFICIAL_STYLE_REL6_1_0 = Path(__file__).parent / "schemas" / "official-style-REL-6-MM7-1-0.xsd"

ROUND_TRIP = """
tests, name = sys.argv[2], sys.argv[3]
from lxml import etree
from mm7bind.validation import validate_element
sys.path.insert(0, tests)
from builders import full_message
from mm7bind import messages as m
v = V.get(name)
assert v.origin == 'official' and v.element_class('SubmitReq').__mro__[1].__name__ == 'SubmitReqType'
done = []
for name, ncls in m.MESSAGE_TYPES.items():
    if v.element_class(name) is None:  # (an operation of a later release)
        continue
    msg = full_message(ncls, v)
    for engine in ('direct', 'xsdata'):
        for validate in ('always', True):  # checked by lxml, or proven while written
            data = mm7bind.encode_envelope(msg, transaction_id='t-1', version=v, engine=engine, validate=validate)
            assert validate_element(etree.fromstring(data), v) == [], (name, engine, validate)
            env = mm7bind.decode_envelope(data, strict=True)
            assert (env.version, env.transaction_id, env.body) == (v, 't-1', msg), (name, engine, env)
    done.append(name)
# A typical message is proven valid as it is written, as in our own layout: no schema pass.
from mm7bind import envelope
parsed, real = [], envelope.validating_parser
envelope.validating_parser = lambda version: parsed.append(version) or real(version)
for priority in ('High', mm7bind.Priority.LOW):
    typical = mm7bind.SubmitReq(vaspid='800001', vasid='1065888', service_code='100001',
                                recipients=['+8613800000000'], sender_address=mm7bind.ShortCode('1065888'),
                                subject='s', delivery_report=True, priority=priority)
    parsed.clear()
    data = mm7bind.encode_envelope(typical, transaction_id='t-3', version=v)
    # (a schema split into parts is not read for proofs: its messages get the schema pass)
    assert (parsed == []) == (not v.includes) and validate_element(etree.fromstring(data), v) == [], (parsed, data)
    assert data == mm7bind.encode_envelope(typical, transaction_id='t-3', version=v, engine='xsdata')
envelope.validating_parser = real
# With content, through the HTTP codec (SwA).
msg = full_message(mm7bind.SubmitReq, v)
msg.content = mm7bind.Content(parts=[mm7bind.Part.text('hello', content_id='t1')])
out = mm7bind.encode(msg, transaction_id='t-2', version=v)
env = mm7bind.decode(out.to_bytes(), out.content_type, strict=True)
assert env.body.content.parts[0].blob.read() == b'hello' and env.body.subject == msg.subject, env
print(' '.join(sorted(done)))
"""

VERSIONS_SHOWN = """
from mm7bind import cli
sys.exit(cli.main(['versions']))
"""

EXTENDED = {"extendedCancelReq", "extendedCancelRsp", "extendedReplaceReq", "extendedReplaceRsp"}


def round_trip(project: Path, version: str) -> list[str]:
    """The operations that encode, validate and decode in `version` with `project`'s schemas and
    classes (ROUND_TRIP, in a process of its own)."""
    proc = in_project(project, ROUND_TRIP, str(Path(__file__).parent), version)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize(("fixture", "version", "operations"), [
    (OFFICIAL_STYLE, "REL-6-MM7-1-4", sorted(MESSAGE_TYPES)),  # all 18 body elements
    (OFFICIAL_STYLE_REL5, "REL-5-MM7-1-3", sorted(set(MESSAGE_TYPES) - EXTENDED)),
    (OFFICIAL_STYLE_REL6_1_0, "REL-6-MM7-1-0", sorted(set(MESSAGE_TYPES) - EXTENDED)),
], ids=["REL-6-MM7-1-4", "REL-5-MM7-1-3", "REL-6-MM7-1-0"])
def test_an_official_style_file_drops_in(project, fixture, version, operations):
    """A file in the official files' layout (other type names, global and anonymous declarations,
    annotations, another file name, no --version) imports, `mm7bind versions` says it is the
    official file, and every operation of the version encodes and decodes through the public API
    with both engines, valid against it."""
    proc = run(project, "import", str(fixture))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert run(project, "check").returncode == 0
    bindings = (project / "generated" / package_name(version) / "bindings.py").read_text()
    assert "class MultiAddressType" in bindings and "class SubmitRequest" not in bindings
    shown = in_project(project, VERSIONS_SHOWN)
    assert shown.returncode == 0, shown.stderr
    origins = {line.split()[0]: line.rsplit(" ", 1)[-1] for line in shown.stdout.splitlines()}
    recorded = tomllib.loads((ROOT / "schemas" / "versions.toml").read_text())["versions"]
    assert origins.pop(version) == "(official)"
    assert origins == {name: f"({entry['origin']})" for name, entry in recorded.items() if name != version}
    assert round_trip(project, version) == operations



EXTENSION_POINTS = """
from mm7bind.validation import validate_element
from mm7bind.xmlsafe import parse_xml
v = V.get('REL-6-MM7-1-4')
msg = mm7bind.SubmitReq(recipients=['+8613800000000'], subject='s', priority='High')
for engine in ('direct', 'xsdata'):
    data = mm7bind.encode_envelope(msg, transaction_id='t-1', version=v, engine=engine, validate='always')
    assert b'<TransactionID env:mustUnderstand="1">t-1</TransactionID>' in data, data
data = mm7bind.encode_envelope(msg, transaction_id='t-1', version=v)
ext = b'<x:Ext xmlns:x="urn:x">1</x:Ext>'
valid = data.replace(b'<SenderIdentification/>', b'<SenderIdentification/>' + ext).replace(
    b'</Subject>', b'</Subject><x:Tail xmlns:x="urn:x"><x:n>2</x:n></x:Tail>')
# (and one the normaliser meets: Priority after Subject, which the schema has before it)
invalid = data.replace(b'<SenderIdentification/>', b'<SenderIdentification/>' + ext).replace(
    b'<Priority>High</Priority><Subject>s</Subject>', b'<Subject>s</Subject><Priority>High</Priority>')
assert valid.count(b'urn:x') == 2 and invalid.count(b'urn:x') == 1
# (an attribute SubmitReq's attribute wildcard takes)
valid, invalid = (doc.replace(b'<SubmitReq>', b'<SubmitReq xmlns:y="urn:y" y:flag="on">', 1) for doc in (valid, invalid))
assert validate_element(parse_xml(valid).root, v) == []
for name, doc in (('valid', valid), ('invalid', invalid)):
    for engine in ('direct', 'xsdata'):
        env = mm7bind.decode_envelope(doc, engine=engine, strict=name == 'valid')
        assert (env.body.subject, env.body.priority) == ('s', mm7bind.Priority.HIGH), env
        print(name, engine, [(e.path, e.namespace, e.text) for e in env.body.extras], [d.code for d in env.deviations])
        assert env.body.extras[-1].xml == 'xmlns:y="urn:y" y:flag="on"', env.body.extras[-1]
        assert env.body.extras[-1].name == '@flag'
# Where the schema has no wildcard (between Recipients and Priority; anywhere in a version of the
# project's own, though the reading model has one): an unknown element, which strict mode refuses.
misplaced = data.replace(b'</Recipients>', b'</Recipients>' + ext)
older = mm7bind.encode_envelope(msg, transaction_id='t-1', version=V.get('REL-6-MM7-1-3')).replace(
    b'<SenderIdentification/>', b'<SenderIdentification/>' + ext)
assert validate_element(parse_xml(misplaced).root, v) and validate_element(parse_xml(older).root, 'REL-6-MM7-1-3')
for name, doc in (('misplaced', misplaced), ('older', older)):
    for engine in ('direct', 'xsdata'):
        env = mm7bind.decode_envelope(doc, engine=engine)
        print(name, engine, [(e.path, e.namespace, e.text) for e in env.body.extras], [str(d) for d in env.deviations])
        try:
            mm7bind.decode_envelope(doc, engine=engine, strict=True)
            print(name, engine, 'taken in strict mode')
        except mm7bind.DecodeError:
            pass
"""


@pytest.mark.parametrize("envelope_imported", [True, False], ids=["envelope-imported", "wildcard-default-namespace"])
def test_a_file_in_the_official_layout_drops_in(project, tmp_path, envelope_imported):
    """A file laid out as 3GPP may lay it out (`official_layout`) takes the place of the authored
    one: the import records it as official with its bytes as they were, is repeatable without a
    change, generates what `generate` and `check` agree on, and every operation encodes, validates
    and decodes with it. Elements its extension points take are kept as extras and reported, not
    dropped unseen and not refused; TransactionID keeps env:mustUnderstand where a wildcard takes it."""
    data = official_layout(envelope_imported)
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_bytes(data)
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
    assert (entry["origin"], entry["url"], entry["sha256"]) == ("official", source.name, hashlib.sha256(data).hexdigest())
    assert entry["mm7_versions"][0] == "6.8.0" and "includes" not in entry
    assert (project / "schemas" / "REL-6-MM7-1-4.xsd").read_bytes() == data
    imported = snapshot(project)
    assert run(project, "check").returncode == 0
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert snapshot(project) == imported
    assert run(project, "generate").returncode == 0
    assert snapshot(project) == imported
    assert round_trip(project, "REL-6-MM7-1-4") == sorted(MESSAGE_TYPES)
    proc = in_project(project, EXTENSION_POINTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ext = ("/Envelope/Body/SubmitReq/Ext", "urn:x", "1")
    tail = ("/Envelope/Body/SubmitReq/Tail", "urn:x", "2")
    flag = ("/Envelope/Body/SubmitReq/@flag", "urn:y", "on")
    assert proc.stdout.splitlines() == [
        f"valid direct {[ext, tail, flag]} ['extension-element', 'extension-element', 'extension-attribute']",
        f"valid xsdata {[ext, tail, flag]} ['extension-element', 'extension-element', 'extension-attribute']",
        f"invalid direct {[ext, flag]} ['extension-element', 'element-order', 'extension-attribute']",
        f"invalid xsdata {[ext, flag]} ['extension-element', 'element-order', 'extension-attribute']",
    ] + [
        f"{name} {engine} {[('/Envelope/Body/SubmitReq/Ext', 'urn:x', '1')]} "
        f"{[f'[unknown-element] /Envelope/Body/SubmitReq/Ext: element in foreign namespace urn:x after {before}, where the schema has no extension point (xs:any)']}"
        for name, before in (("misplaced", "Recipients"), ("older", "SenderIdentification")) for engine in ("direct", "xsdata")]


def test_an_official_file_copied_over_a_reconstructed_one_is_refused_until_imported(project):
    """Copying the official file over schemas/' own and running `generate` would leave versions.toml
    calling it the project's reconstruction (no url, no sha256), and `check` would then pass: each
    command refuses instead, saying how to take it in, and importing it from where it lies works."""
    target = project / "schemas" / "REL-6-MM7-1-4.xsd"
    data = official_layout()
    target.write_bytes(data)
    before = snapshot(project)
    for command in ("generate", "check"):
        proc = run(project, command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert ("schemas/REL-6-MM7-1-4.xsd is recorded as reconstructed by the project (versions.toml) but does "
                "not say so" in proc.stderr), proc.stderr
        assert "python -m tools.regen import schemas/REL-6-MM7-1-4.xsd" in proc.stderr
    assert snapshot(project) == before
    proc = run(project, "import", "schemas/REL-6-MM7-1-4.xsd")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
    assert (entry["origin"], entry["sha256"]) == ("official", hashlib.sha256(data).hexdigest())
    assert target.read_bytes() == data
    assert run(project, "check").returncode == 0

@pytest.mark.parametrize(("origin", "extra", "said"), [
    ("official", "", "as official without its url and sha256"),
    ("official", 'url = "REL-6-MM7-1-4.xsd"\n', "as official without its sha256"),
    ("3GPP", "", "records REL-6-MM7-1-4's origin as '3GPP', which is neither of reconstructed, official"),
], ids=["no-provenance", "no-sha256", "unknown-origin"])
def test_an_official_origin_written_by_hand_is_refused_until_imported(project, origin, extra, said):
    """The official file copied over schemas/' own, and versions.toml's `origin` changed by hand to
    get past the reconstructed mark: the file would pass for the 3GPP one with nothing saying where it
    came from, nor letting `check` see it edited since. Each command refuses, saying how to take it in."""
    target = project / "schemas" / "REL-6-MM7-1-4.xsd"
    data = official_layout()
    target.write_bytes(data)
    manifest = project / "schemas" / "versions.toml"
    text = manifest.read_text()
    start = text.index('[versions."REL-6-MM7-1-4"]')
    manifest.write_text(text[:start] + text[start:].replace('origin = "reconstructed"\n',
                                                            f'origin = "{origin}"\n{extra}', 1))
    before = snapshot(project)
    for command in ("generate", "check"):
        proc = run(project, command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert said in proc.stderr, proc.stderr
        if origin == "official":
            assert "python -m tools.regen import schemas/REL-6-MM7-1-4.xsd" in proc.stderr
    assert snapshot(project) == before
    if origin != "official":
        return
    proc = run(project, "import", "schemas/REL-6-MM7-1-4.xsd")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entry = tomllib.loads(manifest.read_text())["versions"]["REL-6-MM7-1-4"]
    assert (entry["origin"], entry["url"], entry["sha256"]) == (
        "official", "REL-6-MM7-1-4.xsd", hashlib.sha256(data).hexdigest())
    assert run(project, "check").returncode == 0


EXTENDED_EARLIER = """
from mm7bind.simulator import Simulator
sim = Simulator()
for name in ('REL-6-MM7-1-1', 'REL-6-MM7-1-2', 'REL-6-MM7-1-3'):
    v = V.get(name)
    submitted = mm7bind.encode(mm7bind.SubmitReq(recipients=['+8613800000000']), transaction_id='t-0', version=v)
    rsp = sim.handle(submitted.to_bytes(), 'text/xml', {})
    mid = mm7bind.decode(rsp.body, dict(rsp.headers)['Content-Type'], strict=True).body.message_id
    try:
        out = mm7bind.encode(mm7bind.ExtendedCancelReq(cancel_id=mid), transaction_id='t-1', version=v)
    except mm7bind.UnsupportedFieldError as exc:
        print(name, 'refused:', exc)
        continue
    rsp = sim.handle(out.to_bytes(), 'text/xml', {})
    env = mm7bind.decode(rsp.body, dict(rsp.headers)['Content-Type'], strict=True)
    print(name, type(env.body).__name__, env.version.name, env.body.status.code if not env.is_fault else 'fault')
"""


def test_an_official_rel6_file_before_1_4_with_the_extended_operations_has_them(project, tmp_path):
    """Which REL-6 file first has the extended operations is not known: an official REL-6-MM7-1-2
    that declares them makes them an operation of that version (sent, answered by the simulator),
    and refusing them in REL-6-MM7-1-1 or 1-3 names the versions that have them."""
    text = OFFICIAL_STYLE.read_text().replace("REL-6-MM7-1-4", "REL-6-MM7-1-2")
    text = re.sub(r'\n *<enumeration value="6\.(6|8)\.0"/>', "", text)  # (its MM7Version list ends at 6.5.0)
    source = tmp_path / "REL-6-MM7-1-2.xsd"
    source.write_text(text)
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = in_project(project, EXTENDED_EARLIER)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "REL-6-MM7-1-1 refused: extendedCancelReq does not exist in REL-6-MM7-1-1 (extended operations are in "
        "REL-6-MM7-1-2, REL-6-MM7-1-4 only)",
        "REL-6-MM7-1-2 ExtendedCancelRsp REL-6-MM7-1-2 1000",
        "REL-6-MM7-1-3 refused: extendedCancelReq does not exist in REL-6-MM7-1-3 (extended operations are in "
        "REL-6-MM7-1-2, REL-6-MM7-1-4 only)",
    ]
    assert round_trip(project, "REL-6-MM7-1-2") == sorted(MESSAGE_TYPES)


TWO_CONTENTS = """
import re
from mm7bind.validation import validate_element
from mm7bind.xmlsafe import parse_xml
v = V.get('REL-6-MM7-1-4')
msg = mm7bind.DeliverReq(sender='+8613800000000', content_ref=mm7bind.ContentRef('cid:a'))
data = mm7bind.encode_envelope(msg, transaction_id='t-1', version=v)
data, count = re.subn(rb'<Content [^>]*/>', lambda found: found[0] + b'<Content href="cid:b"/>', data)
assert count == 1 and validate_element(parse_xml(data).root, v) == [], data
for engine in ('direct', 'xsdata'):
    env = mm7bind.decode_envelope(data, engine=engine)
    [extra] = env.body.extras
    print(engine, env.body.content_ref.href, extra.name, 'href="cid:b"' in extra.xml,
          [(d.code, d.path) for d in env.deviations])
many = data.replace(b'<Content href="cid:b"/>', b'<Content href="cid:b"/>' * 500)
print(len(mm7bind.decode_envelope(many).body.extras), 'extras kept of 500')
"""


def test_a_schema_with_several_contents_reads_the_first_and_reports_the_rest(project, tmp_path):
    """One transcription of REL-6-MM7-1-4 has Content 0..n; an official file may too. Such a
    file imports and every operation goes through as before (one Content written); a message with
    two, valid there, is read with the first, the second kept as an extra and reported, as where
    the schema allows one: not silently lost."""
    text = OFFICIAL_STYLE.read_text()
    text, count = re.subn(r'<element ref="mm7:Content" minOccurs="0"/>',
                          '<element ref="mm7:Content" minOccurs="0" maxOccurs="unbounded"/>', text)
    assert count == 4
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(text)
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = in_project(project, TWO_CONTENTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reported = "[('repeated-element', '/Envelope/Body/DeliverReq/Content')]"
    assert proc.stdout.splitlines() == [f"{engine} cid:a Content True {reported}" for engine in ("direct", "xsdata")] + [
        "100 extras kept of 500"]  # (tolerance.MAX_EXTRAS, as for any other extras)
    assert round_trip(project, "REL-6-MM7-1-4") == sorted(MESSAGE_TYPES)


PLAIN_HEADER = """
msg = mm7bind.SubmitReq(recipients=['+8613800000000'], subject='s')
for engine in ('direct', 'xsdata'):
    data = mm7bind.encode_envelope(msg, transaction_id='t-1', version='REL-6-MM7-1-4', engine=engine)
    assert b'<TransactionID>t-1</TransactionID>' in data, data
    env = mm7bind.decode_envelope(data, strict=True)
    assert env.transaction_id == 't-1' and env.body.subject == 's', env
print('ok')
"""


def test_a_transaction_id_declared_without_soap_attributes_is_written_without_them(project, tmp_path):
    """A schema may declare TransactionID as plain text: env:mustUnderstand is then invalid there
    (the header is checked against that declaration), so it is left out rather than failing."""
    text = OFFICIAL_STYLE.read_text()
    start = text.index('  <element name="TransactionID">')
    end = text.index("  </element>\n", start) + len("  </element>\n")
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(text[:start] + '  <element name="TransactionID" type="string"/>\n' + text[end:])
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = in_project(project, PLAIN_HEADER)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


class CountingServer:
    """An HTTP server on 127.0.0.1 that answers every GET with a tiny schema and records the paths
    asked for: a schema tool that fetches what a file names shows up here."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler

        self.requested: list[str] = []
        requested = self.requested

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                requested.append(self.path)
                body = (b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:other">'
                        b'<xs:simpleType name="t"><xs:restriction base="xs:string"/></xs:simpleType></xs:schema>')
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def counting_server():
    server = CountingServer()
    yield server
    server.close()


def with_reference(reference: str) -> str:
    """The official-style fixture with `reference` (an xs:import or xs:include) among its imports."""
    text = OFFICIAL_STYLE.read_text()
    anchor = '  <complexType name="genericVASPRequestType">'
    return text.replace(anchor, f"  {reference}\n{anchor}", 1)


@pytest.mark.parametrize("reference", [
    '<import namespace="urn:other" schemaLocation="{url}/types.xsd"/>',
    '<include schemaLocation="{url}/common.xsd"/>',
    '<redefine schemaLocation="{url}/common.xsd"/>',
    '<import namespace="urn:other" schemaLocation="common.xsd"/>',  # (beside it, but another namespace)
], ids=["remote-import", "remote-include", "redefine", "local-import"])
def test_import_refuses_a_file_that_refers_to_other_files(project, tmp_path, counting_server, reference):
    """xsdata would download what an xs:import or xs:include names while generating; the tool
    refuses such a file (other than one including parts beside it) before anything is fetched or
    written, and says why."""
    (tmp_path / "common.xsd").write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>')
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(with_reference(reference.format(url=counting_server.url)))
    before = snapshot(project)
    proc = run(project, "import", str(source))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "refers to another file" in proc.stderr and "Merge the other parts into the file" in proc.stderr
    assert counting_server.requested == []
    assert snapshot(project) == before


def test_generate_refuses_a_schema_in_the_folder_that_refers_to_other_files(project, counting_server):
    """The same for a file put in schemas/ by hand: `generate` and `check` fetch nothing."""
    target = project / "schemas" / "REL-6-MM7-1-4.xsd"
    text = target.read_text()
    end_of_imports = text.index("<xs:element ")
    target.write_text(text[:end_of_imports]
                      + f'<xs:import namespace="urn:other" schemaLocation="{counting_server.url}/t.xsd"/>\n  '
                      + text[end_of_imports:])
    before = snapshot(project)
    for command in ("generate", "check"):
        proc = run(project, command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "schemas/REL-6-MM7-1-4.xsd refers to another file" in proc.stderr
    assert counting_server.requested == []
    assert snapshot(project) == before


@pytest.mark.parametrize("location", ["{url}/soap/envelope/", "envelope.xsd"], ids=["url", "beside"])
def test_where_a_file_says_the_envelope_is_nothing_is_fetched_or_read(project, tmp_path, counting_server, location):
    """An official file names the SOAP envelope schema by a URL (or a carrier's copy by a file
    beside it): import, check, generate and the runtime (validation of what is written and read,
    every operation) all use the project's own copy, and nothing is fetched from where the file says."""
    location = location.format(url=counting_server.url)
    text = OFFICIAL_STYLE.read_text()
    assert text.count('schemaLocation="http://schemas.xmlsoap.org/soap/envelope/"') == 1
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(text.replace('schemaLocation="http://schemas.xmlsoap.org/soap/envelope/"',
                                   f'schemaLocation="{location}"'))
    (tmp_path / "envelope.xsd").write_text("not a schema: never read")
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = snapshot(project)
    assert "schemas/envelope.xsd" not in imported
    assert run(project, "check").returncode == 0
    assert run(project, "generate").returncode == 0 and snapshot(project) == imported
    assert round_trip(project, "REL-6-MM7-1-4") == sorted(MESSAGE_TYPES)
    assert counting_server.requested == []


def test_import_refuses_a_dtd(project, tmp_path):
    """Entities could pull local files or endless text into generated code; an XSD needs no DTD."""
    text = OFFICIAL_STYLE.read_text()
    declaration, rest = text.split("\n", 1)
    text = (declaration + '\n<!DOCTYPE schema [<!ENTITY high "High">]>\n'
            + rest.replace('<enumeration value="High"/>', '<enumeration value="&high;"/>', 1))
    assert "&high;" in text
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(text)
    before = snapshot(project)
    proc = run(project, "import", str(source))
    assert proc.returncode == 2 and "has a DOCTYPE" in proc.stderr, proc.stdout + proc.stderr
    assert snapshot(project) == before


def test_import_refuses_a_schema_lxml_cannot_compile(project, tmp_path):
    """xsdata generates from a file whose type reference resolves to nothing; mm7bind's validation
    (lxml) could not compile it, and then nothing could be sent in that version. The error names the
    file given, not schemas/' own file of the version, which is not the one at fault."""
    text = OFFICIAL_STYLE.read_text().replace('<element name="Subject" type="string" minOccurs="0"/>',
                                              '<element name="Subject" type="mm7:noSuchType" minOccurs="0"/>', 1)
    assert "noSuchType" in text
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(text)
    before = snapshot(project)
    proc = run(project, "import", str(source))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "does not compile with lxml" in proc.stderr and "noSuchType" in proc.stderr
    assert f"error: {source} (imported as REL-6-MM7-1-4) does not compile" in proc.stderr, proc.stderr
    assert snapshot(project) == before


INTERRUPTED = """
import sys
sys.path.insert(0, sys.argv[1])
import tools.regen as regen
def interrupted(*args, **kwargs):
    raise KeyboardInterrupt
regen.{name} = interrupted
try:
    regen.main(sys.argv[2:])
except KeyboardInterrupt:
    print("interrupted")
"""


def test_an_interrupted_import_leaves_the_tree_as_it_was(project, tmp_path):
    """Ctrl-C while xsdata runs (the longest step) changes neither schemas/ nor generated/."""
    source = tmp_path / "official.xsd"
    source.write_bytes(official_like())
    before = snapshot(project)
    proc = subprocess.run([sys.executable, "-c", INTERRUPTED.format(name="run_xsdata"), str(project), "import",
                           str(source)], capture_output=True, text=True, cwd=project)
    assert proc.stdout.strip() == "interrupted", proc.stdout + proc.stderr
    assert snapshot(project) == before


FULL_DISK = """
import sys
sys.path.insert(0, sys.argv[1])
import tools.regen as regen
real = regen.shutil.copytree
def full_disk(src, dst, **kwargs):
    real(src, dst, ignore=lambda folder, names: [n for n in names if n != "__init__.py"])
    raise OSError(28, "No space left on device")
regen.shutil.copytree = full_disk
sys.exit(regen.main(["generate"]))
"""


def test_generate_that_cannot_write_leaves_generated_whole(project):
    """A copy that fails half way (a full disk) leaves the old generated/ in place, and says why."""
    before = snapshot(project)
    proc = subprocess.run([sys.executable, "-c", FULL_DISK, str(project)], capture_output=True, text=True,
                          cwd=project)
    assert proc.returncode == 2 and "No space left on device" in proc.stderr, proc.stdout + proc.stderr
    assert snapshot(project) == before
    assert sorted(p.name for p in project.iterdir()) == ["generated", "schemas", "tools"]


def test_check_says_when_only_line_ends_differ(project):
    """A checkout that turned LF into CRLF: the lines are the same, and `check` says what differs."""
    target = project / "generated" / "rel6_mm7_1_4" / "bindings.py"
    target.write_bytes(target.read_bytes().replace(b"\n", b"\r\n"))
    proc = run(project, "check")
    assert proc.returncode == 1
    assert ("changed   generated/rel6_mm7_1_4/bindings.py (same lines; CRLF line ends where LF is expected"
            in proc.stdout), proc.stdout
    assert "0 lines differ" not in proc.stdout


def test_import_records_the_same_manifest_wherever_the_file_was(project, tmp_path):
    """The manifest names a local file (a path or a file: URL) by its name: the folder it was in on
    one machine is nobody else's business, and two maintainers importing one file get the same
    versions.toml."""
    manifests = []
    for folder, given in (("downloads", str), ("elsewhere/deeper", Path.as_uri)):
        source = tmp_path / folder / "REL-6-MM7-1-4.xsd"
        source.parent.mkdir(parents=True)
        source.write_bytes(official_like())
        proc = run(project, "import", given(source))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        manifests.append((project / "schemas" / "versions.toml").read_text())
    assert manifests[0] == manifests[1]
    assert str(tmp_path) not in manifests[0] and 'url = "REL-6-MM7-1-4.xsd"' in manifests[0]


def test_import_refuses_an_endless_source(project, tmp_path):
    """A source far larger than any schema (a device, a URL that never ends) is refused, not read whole."""
    source = tmp_path / "huge.xsd"
    with source.open("wb") as f:
        f.write(b"<schema>")
        f.truncate(17 * 1024 * 1024)
    proc = run(project, "import", str(source))
    assert proc.returncode == 2 and "over 16 MiB" in proc.stderr, proc.stdout + proc.stderr


def test_a_carrier_copy_with_bom_crlf_and_other_prefixes_generates_the_same_classes(project, tmp_path):
    """A BOM, CRLF line ends, other prefixes (xsd: for XML Schema, tns: for MM7): schemas/ keeps the
    file's bytes (its sha256 is recorded), the generated classes are those of the plain file, and
    every operation goes through the public API valid against it."""
    plain = tmp_path / "plain" / "REL-6-MM7-1-4.xsd"
    plain.parent.mkdir()
    plain.write_bytes(official_like())
    assert run(project, "import", str(plain)).returncode == 0
    expected = snapshot(project)
    text = official_like().decode().replace('xmlns="http://www.w3.org/2001/XMLSchema"',
                                            'xmlns:xsd="http://www.w3.org/2001/XMLSchema"')
    text = re.sub(r"<(/?)([A-Za-z]+)(?=[\s/>])", r"<\1xsd:\2", text)  # the XML Schema elements, prefixed
    text = re.sub(r'\b(type|base|memberTypes)="([^"]*)"',  # and the built-in types they name
                  lambda m: m[1] + '="' + " ".join(t if ":" in t else "xsd:" + t for t in m[2].split()) + '"', text)
    text = text.replace("xmlns:mm7=", "xmlns:tns=").replace('"mm7:', '"tns:').replace(" mm7:", " tns:")
    assert "mm7:" not in text
    carrier = tmp_path / "carrier" / "REL-6-MM7-1-4.xsd"
    carrier.parent.mkdir()
    data = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
    carrier.write_bytes(data)
    proc = run(project, "import", str(carrier))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project / "schemas" / "REL-6-MM7-1-4.xsd").read_bytes() == data
    got = snapshot(project)
    assert {k: v for k, v in got.items() if k.startswith("generated/")} == {
        k: v for k, v in expected.items() if k.startswith("generated/")}
    assert run(project, "check").returncode == 0
    assert round_trip(project, "REL-6-MM7-1-4") == sorted(MESSAGE_TYPES)


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16"])
def test_a_file_in_another_encoding_generates_the_same_classes(project, tmp_path, encoding):
    """A file that declares another encoding than UTF-8 (and is in it: documentation with characters
    outside ASCII, a UTF-16 byte-order mark) is kept as it is, generates the classes of the UTF-8
    file, and mm7bind validates what it writes against it."""
    plain = tmp_path / "plain" / "REL-6-MM7-1-4.xsd"
    plain.parent.mkdir()
    plain.write_bytes(official_like())
    assert run(project, "import", str(plain)).returncode == 0
    expected = {k: v for k, v in snapshot(project).items() if k.startswith("generated/")}
    text = official_like().decode().replace('encoding="UTF-8"', f'encoding="{encoding}"', 1)
    text = text.replace("layout test.", "layout test, \u00a9 3GPP \u00e9dition.", 1)
    assert f'encoding="{encoding}"' in text and "\u00e9dition" in text
    data = text.encode(encoding.replace("UTF-16", "utf-16"))
    other = tmp_path / "other" / "REL-6-MM7-1-4.xsd"
    other.parent.mkdir()
    other.write_bytes(data)
    proc = run(project, "import", str(other))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project / "schemas" / "REL-6-MM7-1-4.xsd").read_bytes() == data
    assert {k: v for k, v in snapshot(project).items() if k.startswith("generated/")} == expected
    assert run(project, "check").returncode == 0
    sent = in_project(project, SENDS_BY_DEFAULT, "REL-6-MM7-1-4")
    assert sent.returncode == 0 and sent.stdout.split() == ["6.8.0"], sent.stdout + sent.stderr


OTHER_XSDATA = """
import importlib.metadata, sys
sys.path.insert(0, sys.argv[1])
real = importlib.metadata.version
importlib.metadata.version = lambda name: "26.11" if name == "xsdata" else real(name)
import tools.regen as regen
sys.exit(regen.main(["check"]))
"""


def test_another_generator_version_is_named_not_taken_for_drift(project):
    """xsdata's output changes between releases: with another version installed, `check` says so
    (and `generate` writes nothing) instead of listing every generated file as drifted."""
    proc = subprocess.run([sys.executable, "-c", OTHER_XSDATA, str(project)], capture_output=True, text=True,
                          cwd=project)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "xsdata 26.11 is installed, generated/ is made with xsdata 26.10" in proc.stderr
    assert "pip install -e '.[codegen]'" in proc.stderr


def test_the_pins_are_those_of_pyproject():
    from tools.regen import PINNED

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("codegen", "test"):
        pins = dict(re.fullmatch(r"([a-z]+)(?:\[cli\])?==(.+)", req).groups()
                    for req in extras[extra] if "==" in req)
        assert pins == PINNED, extra


def test_import_refuses_a_file_without_transaction_id(project, tmp_path):
    """Every message's header is a TransactionID: a file that declares none imported, and then no
    message could be encoded in that version (an XmlContextError from deep inside)."""
    text = OFFICIAL_STYLE.read_text()
    start = text.index('  <element name="TransactionID">')
    end = text.index("  </element>\n", start) + len("  </element>\n")
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(text[:start] + text[end:])
    before = snapshot(project)
    proc = run(project, "import", str(source))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "declares no global element TransactionID" in proc.stderr
    assert snapshot(project) == before


def test_import_names_the_messages_a_file_leaves_out(project, tmp_path):
    text = OFFICIAL_STYLE.read_text()
    for name in ("ReadReplyReq", "ReadReplyRsp"):
        text = re.sub(rf'\n  <element name="{name}" [^>]*/>', "", text)
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(text)
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "note: the file declares no ReadReplyReq, ReadReplyRsp" in proc.stdout


def split(text: str) -> tuple[str, str]:
    """The official-style fixture as a file that includes its simple types from mm7-types.xsd."""
    types = re.findall(r'\n  <simpleType name="[^"]+">.*?\n  </simpleType>', text, flags=re.DOTALL)
    assert types
    for block in types:
        text = text.replace(block, "", 1)
    anchor = '  <complexType name="genericVASPRequestType">'
    text = text.replace(anchor, f'  <include schemaLocation="mm7-types.xsd"/>\n{anchor}', 1)
    opening = text[text.index("<schema "):text.index(">", text.index("<schema ")) + 1]
    return text, f'<?xml version="1.0" encoding="UTF-8"?>\n{opening}{"".join(types)}\n</schema>\n'


def split_in(folder: Path) -> str:
    """`split`'s two files written in `folder` (made), REL-6-MM7-1-4.xsd and the mm7-types.xsd
    it includes, to be imported or served from there; returns the part's text."""
    main, part = split(OFFICIAL_STYLE.read_text())
    folder.mkdir()
    (folder / "REL-6-MM7-1-4.xsd").write_text(main)
    (folder / "mm7-types.xsd").write_text(part)
    return part


@pytest.mark.parametrize("by_url", [False, True], ids=["file", "url"])
def test_a_file_split_into_parts_imports_with_them(project, tmp_path, by_url):
    """A file that includes a common types file beside it (in its folder, or at its URL): import
    takes the part along into schemas/, lists it in the manifest, and mm7bind validates, encodes
    and decodes every operation with the two."""
    from .xsd_model import Schema

    served = tmp_path / "www"
    part = split_in(served)
    with serving(served) as server:
        source = f"{server}/REL-6-MM7-1-4.xsd" if by_url else str(served / "REL-6-MM7-1-4.xsd")
        proc = run(project, "import", source)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "with mm7-types.xsd" in proc.stdout
    assert (project / "schemas" / "mm7-types.xsd").read_text() == part
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
    assert entry["includes"] == ["mm7-types.xsd"] and entry["mm7_versions"][0] == "6.8.0"
    assert run(project, "check").returncode == 0
    xsd = Schema(project / "schemas" / "REL-6-MM7-1-4.xsd")  # (how the element tables read it)
    assert xsd.type_ref(xsd.root, "mm7:priorityType").get("name") == "priorityType"
    assert round_trip(project, "REL-6-MM7-1-4") == sorted(MESSAGE_TYPES)
    # The file again in one piece: the part goes.
    whole = tmp_path / "REL-6-MM7-1-4.xsd"
    whole.write_bytes(official_like())
    assert run(project, "import", str(whole)).returncode == 0
    assert not (project / "schemas" / "mm7-types.xsd").exists()
    assert "includes" not in tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"][
        "REL-6-MM7-1-4"]
    assert run(project, "check").returncode == 0


@pytest.mark.parametrize(("part_name", "message"), [
    ("../mm7-types.xsd", "refers to another file"),  # not beside it
    ("REL-5-MM7-1-0.xsd", "a name schemas/ already has for another file"),
    ("soap-envelope.xsd", "a name schemas/ already has for another file"),
])
def test_a_part_that_would_land_elsewhere_is_refused(project, tmp_path, part_name, message):
    main, part = split(OFFICIAL_STYLE.read_text())
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    (folder / "REL-6-MM7-1-4.xsd").write_text(main.replace('"mm7-types.xsd"', f'"{part_name}"'))
    (folder / part_name).write_text(part)
    before = snapshot(project)
    proc = run(project, "import", str(folder / "REL-6-MM7-1-4.xsd"))
    assert proc.returncode == 2 and message in proc.stderr, proc.stdout + proc.stderr
    assert snapshot(project) == before


def test_a_part_of_another_namespace_is_refused(project, tmp_path):
    main, part = split(OFFICIAL_STYLE.read_text())
    (tmp_path / "REL-6-MM7-1-4.xsd").write_text(main)
    (tmp_path / "mm7-types.xsd").write_text(part.replace('targetNamespace="http', 'targetNamespace="urn:x:http', 1))
    before = snapshot(project)
    proc = run(project, "import", str(tmp_path / "REL-6-MM7-1-4.xsd"))
    assert proc.returncode == 2 and "has another target namespace" in proc.stderr, proc.stdout + proc.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize(("edit", "said"), [
    (lambda text: text.replace('pairing = "confirmed"\n', 'pairing = "confirmed"\nsource = "TS 23.140"\n', 1),
     '[versions."REL-5-MM7-1-0"] has source, which mm7bind does not know (a version\'s keys: file, includes,'),
    (lambda text: text.replace('package = "rel5_mm7_1_1"\n', "", 1),
     '[versions."REL-5-MM7-1-1"] lacks package (a version\'s keys:'),
    (lambda text: text.replace('[versions."REL-6-MM7-1-0"]', '[versions."REL-6-MM7-1-0"', 1),
     "schemas/versions.toml is not valid TOML: "),
    # (a value where a table belongs: its characters were taken for keys, or a TypeError)
    (lambda text: text + '\n[versions]\n"REL-7-MM7-1-0" = "REL-7-MM7-1-0.xsd"\n',
     'schemas/versions.toml: versions."REL-7-MM7-1-0" is no table'),
    (lambda text: text + '\n[versions]\n"REL-7-MM7-1-0" = 7\n',
     'schemas/versions.toml: versions."REL-7-MM7-1-0" is no table'),
    # (the characters of a string where a list belongs were taken for values and written back so)
    (lambda text: text.replace('mm7_versions = ["5.3.0"]', 'mm7_versions = "5.3.0"', 1),
     'schemas/versions.toml: [versions."REL-5-MM7-1-0"] mm7_versions = \'5.3.0\' is no list of strings'),
], ids=["unknown-key", "missing-key", "not-toml", "string-not-table", "number-not-table", "string-not-list"])
def test_a_manifest_edited_by_hand_into_what_the_tools_cannot_read_is_named(project, tmp_path, edit, said):
    """Each command says what in versions.toml it cannot read (exit code 2), rather than a traceback."""
    manifest = project / "schemas" / "versions.toml"
    manifest.write_text(edit(manifest.read_text()))
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_bytes(official_like())
    before = snapshot(project)
    for command in (["generate"], ["check"], ["import", str(source)]):
        proc = run(project, *command)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
        assert said in proc.stderr, proc.stderr
    assert snapshot(project) == before


def test_the_manifest_is_as_import_writes_it():
    """An import rewrites versions.toml: the file as committed is what the tool writes, so an import
    changes the imported version's entry alone."""
    from tools.regen import MANIFEST, Manifest

    assert Manifest.load().dump() == MANIFEST.read_text(encoding="utf-8")


def test_import_says_when_a_versions_namespace_changes(project, tmp_path):
    """A carrier's copy may spell the namespace its own way (here with a trailing slash): it names
    the same version, and mm7bind then sends in that spelling, which the maintainer is told."""
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(OFFICIAL_STYLE.read_text().replace("schema/REL-6-MM7-1-4\"", "schema/REL-6-MM7-1-4/\""))
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    standard = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
    assert f"note: REL-6-MM7-1-4's namespace changes from {standard} to {standard}/" in proc.stdout
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
    assert entry["namespace"] == standard + "/"
    assert run(project, "check").returncode == 0


def test_check_fails_for_an_imported_file_edited_in_place(project, tmp_path):
    """versions.toml records the sha256 of what was imported: an official file edited by hand and
    regenerated would pass for the official one. Importing the edited file records it anew."""
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_bytes(official_like())
    assert run(project, "import", str(source)).returncode == 0
    target = project / "schemas" / "REL-6-MM7-1-4.xsd"
    edited = official_like().replace(b'<enumeration value="Low"/>', b'<enumeration value="Low"/><enumeration value="Urgent"/>')
    assert edited != official_like()
    target.write_bytes(edited)
    assert run(project, "generate").returncode == 0
    proc = run(project, "check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "schemas/REL-6-MM7-1-4.xsd is not the file imported as REL-6-MM7-1-4" in proc.stdout
    assert "generated/ is up to date" in proc.stdout
    source.write_bytes(edited)
    assert run(project, "import", str(source)).returncode == 0
    assert run(project, "check").returncode == 0


def test_check_fails_for_a_part_of_an_imported_file_edited_in_place(project, tmp_path):
    """The parts a file includes are as much of the version as the file: versions.toml records
    their sha256 too, and a part edited by hand and regenerated is named by `check`."""
    main, part = split(OFFICIAL_STYLE.read_text())
    (tmp_path / "REL-6-MM7-1-4.xsd").write_text(main)
    (tmp_path / "mm7-types.xsd").write_text(part)
    assert run(project, "import", str(tmp_path / "REL-6-MM7-1-4.xsd")).returncode == 0
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-4"]
    assert entry["includes_sha256"] == [hashlib.sha256(part.encode()).hexdigest()]
    assert run(project, "check").returncode == 0
    edited = part.replace('<enumeration value="Low"/>', '<enumeration value="Low"/><enumeration value="Urgent"/>')
    assert edited != part
    (project / "schemas" / "mm7-types.xsd").write_text(edited)
    assert run(project, "generate").returncode == 0
    proc = run(project, "check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "schemas/mm7-types.xsd is not the part imported with REL-6-MM7-1-4" in proc.stdout
    assert "generated/ is up to date" in proc.stdout
    (tmp_path / "mm7-types.xsd").write_text(edited)
    assert run(project, "import", str(tmp_path / "REL-6-MM7-1-4.xsd")).returncode == 0
    assert run(project, "check").returncode == 0


def test_no_checkout_converts_the_line_ends_of_generated_or_schemas():
    """A Windows checkout with core.autocrlf would write CRLF into generated/ and schemas/, and
    `check` would fail there for every file: .gitattributes keeps their bytes as committed."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    files = ["generated/rel6_mm7_1_4/bindings.py", "schemas/REL-6-MM7-1-4.xsd", "schemas/versions.toml"]
    proc = subprocess.run(["git", "check-attr", "text", "--", *files], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    assert proc.stdout.splitlines() == [f"{name}: text: unset" for name in files]



INTERRUPTED_AT = """
import hashlib, json, os, pathlib, shutil, sys
root = pathlib.Path(sys.argv[1]).resolve()
sys.path.insert(0, str(root))
import tools.regen as regen
source, states, only = sys.argv[2], json.loads(pathlib.Path(sys.argv[3]).read_text()), int(sys.argv[4])

def state():
    # schemas/, generated/ and anything an import leaves beside them
    files = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.parts[len(root.parts)] not in ("tools", "saved")}
    return next((name for name, files_of in states.items() if files == files_of), "neither")

armed = [0]
def counted(fn):
    # Every change import makes to the project's tree is a step; the one armed is stopped.
    def step(*args, **kwargs):
        if root in pathlib.Path(args[0]).resolve().parents:
            armed[0] -= 1
            if armed[0] == 0:
                raise KeyboardInterrupt
        return fn(*args, **kwargs)
    return step
for owner, name in ((os, "replace"), (shutil, "rmtree"), (shutil, "copytree"), (pathlib.Path, "rename"),
                    (pathlib.Path, "unlink"), (pathlib.Path, "write_bytes"), (pathlib.Path, "write_text")):
    setattr(owner, name, counted(getattr(owner, name)))
regen.run_xsdata = lambda *args, **kwargs: root / "saved" / "fresh"  # (what it made: the steps are after it)

def restore():
    for p in root.iterdir():
        if p.name not in ("tools", "saved"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    for name in ("schemas", "generated"):
        shutil.copytree(root / "saved" / name, root / name)

step = only or 0
while True:
    step += 1
    restore()
    armed[0] = step
    try:
        regen.main(["import", source])
    except KeyboardInterrupt:
        armed[0] = 0
        if only:  # (left for the next run of the tool)
            print(json.dumps([step, state()]))
            break
        left = state()
        regen.finish_import()  # (what the next run of any command does first)
        print(json.dumps([step, left, state()]), flush=True)
        continue
    armed[0] = 0
    print(json.dumps(["done", step, state()]))
    break
"""


def test_an_import_interrupted_at_any_step_leaves_the_old_or_the_new_state(project, tmp_path):
    """An import stopped at each change it makes to the tree in turn (Ctrl-C, or a kill: nothing of
    it runs after that step) leaves either the old state, or one that the next run of the tool
    finishes: staged files are cleared before the commit point, the import completed after it."""
    import json

    source = tmp_path.parent / f"{tmp_path.name}-official.xsd"
    source.write_bytes(official_like())
    for name in ("schemas", "generated"):
        shutil.copytree(project / name, project / "saved" / name, ignore=shutil.ignore_patterns("__pycache__"))

    def state() -> dict[str, str]:
        return {name: hashlib.sha256(data).hexdigest() for name, data in snapshot(project).items()}

    old = state()
    assert run(project, "import", str(source)).returncode == 0
    states = tmp_path.parent / f"{tmp_path.name}-states.json"
    states.write_text(json.dumps({"old": old, "new": state()}))
    assert state() != old
    shutil.copytree(project / "generated", project / "saved" / "fresh", ignore=shutil.ignore_patterns("__pycache__"))

    def interrupted(only: int = 0) -> list:
        proc = subprocess.run([sys.executable, "-c", INTERRUPTED_AT, str(project), str(source), str(states),
                               str(only)], capture_output=True, text=True, cwd=project, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[")]

    steps = interrupted()
    assert steps[-1][0] == "done" and steps[-1][2] == "new", steps
    # Each stop leaves the old state or a half-done one, never a mix the next run keeps; the next
    # run makes it the old state (before the commit point) or the new one (after it). Both happen.
    assert all(after in ("old", "new") for _, _, after in steps[:-1]), str(steps)
    assert all(left == after or left == "neither" for _, left, after in steps[:-1]), steps
    finished = [step for step, left, after in steps[:-1] if left == "neither" and after == "new"]
    assert finished and any(after == "old" for _, _, after in steps[:-1]), steps
    # Left so, the next command finishes it: `check` says so, and finds generated/ up to date.
    assert interrupted(finished[0] - 1) == [[finished[0], "neither"]]
    proc = run(project, "check")
    assert proc.returncode == 0 and "finished an import that was interrupted" in proc.stdout, proc.stdout + proc.stderr
    shutil.rmtree(project / "saved")
    assert state() == json.loads(states.read_text())["new"]


def test_a_url_is_recorded_without_its_credentials_and_query(project, tmp_path):
    """A URL's user name, password, query (a download token) and fragment are neither recorded
    in versions.toml, which is committed, nor shown; the parts of a split file are fetched with
    the token too, from the same server."""
    served = tmp_path / "www"
    split_in(served)
    asked = []

    class TokenOnly(SimpleHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            if not self.path.endswith("?token=s3cret"):
                self.send_error(403)
                return
            super().do_GET()

    with serving(served, TokenOnly) as server:
        base = f"{server}/REL-6-MM7-1-4.xsd"
        proc = run(project, "import", base + "?token=s3cret#top")
        refused = run(project, "import", base.replace(".xsd", "-nope.xsd") + "?token=s3cret")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert asked[:2] == ["/REL-6-MM7-1-4.xsd?token=s3cret", "/mm7-types.xsd?token=s3cret"]
    manifest = (project / "schemas" / "versions.toml").read_text()
    entry = tomllib.loads(manifest)["versions"]["REL-6-MM7-1-4"]
    assert entry["url"] == base and entry["includes"] == ["mm7-types.xsd"]
    assert f"imported REL-6-MM7-1-4 from {base} (sha256" in proc.stdout
    assert refused.returncode == 2 and "cannot download" in refused.stderr
    for text in (manifest, proc.stdout, proc.stderr, refused.stderr):
        assert "s3cret" not in text
    assert "#top" not in manifest


def test_a_url_with_a_user_and_password_downloads_with_them(project, tmp_path):
    """user:password@ in an http URL is sent as HTTP Basic credentials (for the parts too), and
    recorded nowhere."""
    import base64

    served = tmp_path / "www"
    split_in(served)
    expected = "Basic " + base64.b64encode(b"mm7 user:p@ss").decode()

    class BasicOnly(SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="schemas"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

    with serving(served, BasicOnly) as server:
        address = server.removeprefix("http://")
        proc = run(project, "import", f"http://mm7%20user:p%40ss@{address}/REL-6-MM7-1-4.xsd")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = (project / "schemas" / "versions.toml").read_text()
    entry = tomllib.loads(manifest)["versions"]["REL-6-MM7-1-4"]
    assert entry["url"] == f"{server}/REL-6-MM7-1-4.xsd" and entry["includes"] == ["mm7-types.xsd"]
    assert "p%40ss" not in manifest + proc.stdout + proc.stderr


@pytest.mark.parametrize(("given", "recorded"), [
    ("https://user:pw@example.org:8443/a/REL-6-MM7-1-4.xsd?x=1&sig=abc#f", "https://example.org:8443/a/REL-6-MM7-1-4.xsd"),
    ("https://[::1]/s/REL-5-MM7-1-0.xsd;jsessionid=0A1B", "https://[::1]/s/REL-5-MM7-1-0.xsd"),
    ("ftp://anonymous:me@ftp.3gpp.org/Specs/x.xsd", "ftp://ftp.3gpp.org/Specs/x.xsd"),
])
def test_recorded_url(given, recorded):
    from tools.regen import recorded_url
    assert recorded_url(given) == recorded


EARLIER_EXTENSIONS = """
from mm7bind.validation import validate_element
from mm7bind.xmlsafe import parse_xml
v = V.get('REL-6-MM7-1-3')
assert (v.origin, V.latest().origin) == ('official', 'reconstructed')
msg = mm7bind.SubmitReq(recipients=['+8613800000000'], subject='s')
data = mm7bind.encode_envelope(msg, transaction_id='t-1', version=v).replace(
    b'<SenderIdentification/>', b'<SenderIdentification/><x:Ext xmlns:x="urn:x">1</x:Ext>').replace(
    b'<SubmitReq>', b'<SubmitReq xmlns:y="urn:y" y:flag="on">')
assert validate_element(parse_xml(data).root, v) == []
for engine in ('direct', 'xsdata'):
    env = mm7bind.decode_envelope(data, engine=engine, strict=True)
    print(engine, [(e.path, e.text) for e in env.body.extras], [d.code for d in env.deviations])
"""


def test_an_earlier_versions_extension_points_are_kept_where_the_newest_schema_has_none(project, tmp_path):
    """Messages are read with the newest schema's classes; an official file of an earlier version
    may have extension points and attribute wildcards those lack. An element or attribute one of
    them takes (a valid message) is kept and reported all the same, not dropped unseen."""
    source = tmp_path / "REL-6-MM7-1-3.xsd"
    source.write_bytes(official_layout().replace(b"REL-6-MM7-1-4", b"REL-6-MM7-1-3"))
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = in_project(project, EARLIER_EXTENSIONS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    extras = [("/Envelope/Body/SubmitReq/Ext", "1"), ("/Envelope/Body/SubmitReq/@flag", "on")]
    codes = ["extension-element", "extension-attribute"]
    assert proc.stdout.splitlines() == [f"direct {extras} {codes}", f"xsdata {extras} {codes}"]


HOLDING = """
import pathlib, sys, time
root = pathlib.Path(sys.argv[1])
sys.path.insert(0, str(root))
import tools.regen as regen
real = regen.finish_import
def held(*args, **kwargs):  # (the lock is taken by now: say so, and keep it until told to go on)
    (root / "holding").write_text("")
    while not (root / "go").exists():
        time.sleep(0.01)
    return real(*args, **kwargs)
regen.finish_import = held
regen.generate = lambda *args, **kwargs: None
sys.exit(regen.main(sys.argv[2:]))
"""


def test_a_second_run_is_refused_while_one_holds_the_project_naming_it(project, tmp_path):
    """Two imports (or an import and a generate) at once staged over each other's files and
    committed a mix: one runs, the other is refused, naming the one that runs."""
    import time

    source = tmp_path / "official.xsd"
    source.write_bytes(official_like())
    first = subprocess.Popen([sys.executable, "-c", HOLDING, str(project), "generate"], cwd=project,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not (project / "holding").exists():
            assert first.poll() is None, first.communicate()
            time.sleep(0.01)
        before = snapshot(project)
        for args in (["import", str(source)], ["generate"], ["check"]):
            proc = run(project, *args)
            assert proc.returncode == 2, proc.stdout + proc.stderr
            assert (f"another run of tools/regen is changing schemas/ and generated/ (pid {first.pid} on "
                    in proc.stderr and ", generate, since " in proc.stderr), proc.stderr
        assert snapshot(project) == before
    finally:
        (project / "go").write_text("")
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert not (project / ".regen.lock").exists()  # (let go: the next run goes ahead)
    assert run(project, "import", str(source)).returncode == 0


FSYNCED = """
import json, os, pathlib, shutil, sys
root = pathlib.Path(sys.argv[1]).resolve()
sys.path.insert(0, str(root))
import tools.regen as regen
events = []
def name(path):
    path = pathlib.Path(os.path.realpath(path))
    return "." if path == root else path.relative_to(root).as_posix()
real_fsync, real_replace, real_rename, real_unlink = os.fsync, os.replace, pathlib.Path.rename, pathlib.Path.unlink
def fsync(fd):
    events.append(["fsync", name(os.readlink(f"/proc/self/fd/{fd}"))])
    return real_fsync(fd)
def replace(src, dst, *args, **kwargs):
    events.append(["rename", name(src), name(dst)])
    return real_replace(src, dst, *args, **kwargs)
def rename(self, target):
    events.append(["rename", name(self), name(target)])
    return real_rename(self, target)
def unlink(self, *args, **kwargs):
    events.append(["unlink", name(self)])
    return real_unlink(self, *args, **kwargs)
os.fsync, os.replace, pathlib.Path.rename, pathlib.Path.unlink = fsync, replace, rename, unlink
regen.run_xsdata = lambda *args, **kwargs: pathlib.Path(sys.argv[3])  # (what it made: the steps are after it)
code = regen.main(["import", sys.argv[2]])
print(json.dumps([code, events]))
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names open files by /proc")
def test_an_import_is_on_disk_before_its_note_commits_it_and_the_note_before_it_goes_on(project, tmp_path):
    """A power loss after the note's rename, with the staged files (or the note) not written yet,
    left schemas/ and generated/ out of step: each file is synced, then the note, then its folder;
    the renames the note commits are synced before it is removed."""
    import json

    source = tmp_path / "official.xsd"
    source.write_bytes(official_like())
    fresh = tmp_path / "fresh"
    shutil.copytree(project / "generated", fresh, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-c", FSYNCED, str(project), str(source), str(fresh)],
                          capture_output=True, text=True, cwd=project, check=False)
    code, events = json.loads(proc.stdout.splitlines()[-1])
    assert code == 0, proc.stdout + proc.stderr
    synced = [e[1] for e in events if e[0] == "fsync"]

    def at(*event) -> int:
        return events.index(list(event))

    note = ".regen-import-pending"
    commit = at("rename", note + ".tmp", note)
    staged = [f"schemas/{p.name}.new" for p in (project / "schemas").iterdir() if p.suffix in (".xsd", ".toml")
              and p.read_bytes() != (ROOT / "schemas" / p.name).read_bytes()]
    generated = [".generated.new/" + p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()]
    assert "schemas/REL-6-MM7-1-4.xsd.new" in staged and "schemas/versions.toml.new" in staged, staged
    for path in [*staged, *generated, ".generated.new", "schemas"]:
        assert path in synced and at("fsync", path) < at("fsync", note + ".tmp"), path
    assert at("fsync", note + ".tmp") < commit < at("fsync", ".")
    # Then the import is finished: its renames synced before the note that would redo them goes.
    finished = [i for i, e in enumerate(events) if e[0] == "rename" and i > commit]
    removed = at("unlink", note)
    assert finished and max(finished) < removed
    assert any(e[0] == "fsync" and e[1] == "schemas" and max(finished) < i < removed for i, e in enumerate(events))
    assert any(e[0] == "fsync" and e[1] == "." and max(finished) < i < removed for i, e in enumerate(events))


RECIPIENTS_AS_SEQUENCE = """
from lxml import etree
from mm7bind.validation import validate_element
v = V.get('REL-6-MM7-1-4')
msg = mm7bind.SubmitReq(vaspid='800001', vasid='1065888', mm7_version=v.default_mm7_version,
                        recipients=mm7bind.Recipients(to=['+8613800000000'], cc=[mm7bind.ShortCode('1234')]))
data = mm7bind.encode_envelope(msg, transaction_id='t-1', version=v)
assert validate_element(etree.fromstring(data), v) == [], data
assert b'<Recipients><To><Number>+8613800000000</Number></To><Cc><ShortCode>1234</ShortCode></Cc>' in data, data
assert mm7bind.decode_envelope(data, strict=True).body == msg
"""


def test_a_file_with_recipients_as_a_sequence_encodes(project, tmp_path):
    """A schema that has To, Cc and Bcc as a sequence rather than TS 23.140's unbounded choice:
    its messages are written in its order (encoding failed with an AttributeError)."""
    text = OFFICIAL_STYLE.read_text()
    choice = re.search(r'(<complexType name="recipientsType">\s*)<choice maxOccurs="unbounded">(.*?)</choice>',
                       text, re.S)
    assert choice, "the fixture's recipientsType"
    roles = choice.group(2).replace('"/>', '" minOccurs="0"/>')
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_text(text.replace(choice.group(0), f"{choice.group(1)}<sequence>{roles}</sequence>"))
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = in_project(project, RECIPIENTS_AS_SEQUENCE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


MM7_NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"


def small_schema(version: str = "REL-6-MM7-1-5", namespace: str | None = None,
                 forms: str = 'elementFormDefault="qualified" attributeFormDefault="unqualified"',
                 mm7version: str = '<xs:element name="MM7Version" type="mm7:versionType"/>',
                 include: str = "") -> str:
    """A one-file MM7 schema of `version` (in `namespace`, default 3GPP's spelling): TransactionID,
    a SubmitReq of MM7Version and Content (an attribute href), MM7Version's enumeration."""
    namespace = namespace or MM7_NS + version
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:mm7="{namespace}"\n'
            f'           targetNamespace="{namespace}" {forms}>\n'
            f'  {include}\n'
            '  <xs:element name="TransactionID" type="xs:string"/>\n'
            '  <xs:element name="SubmitReq" type="mm7:submitReqType"/>\n'
            '  <xs:complexType name="submitReqType">\n'
            f'    <xs:sequence>\n      {mm7version}\n'
            '      <xs:element name="Content" minOccurs="0">\n'
            '        <xs:complexType><xs:attribute name="href" type="xs:anyURI" use="required"/></xs:complexType>\n'
            '      </xs:element>\n    </xs:sequence>\n  </xs:complexType>\n'
            '  <xs:simpleType name="versionType">\n'
            '    <xs:restriction base="xs:string"><xs:enumeration value="6.8.0"/></xs:restriction>\n'
            '  </xs:simpleType>\n</xs:schema>\n')


def import_served(project: Path, folder: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """`import` of `folder`'s file `name` through a loopback HTTP server started and stopped here."""
    with serving(folder) as server:
        return run(project, "import", f"{server}/{name}", *args)


@pytest.mark.parametrize(("forms", "edit", "said"), [
    ('attributeFormDefault="unqualified"', None,
     'the element MM7Version in complexType submitReqType, line 9 is unqualified, in no namespace: the schema '
     'sets no elementFormDefault, which is "unqualified" by default (and 1 more)'),
    ('elementFormDefault="unqualified"', None,
     'the element MM7Version in complexType submitReqType, line 9 is unqualified, in no namespace: the schema '
     'says elementFormDefault="unqualified" (and 1 more)'),
    ('elementFormDefault="qualified"', ('name="Content"', 'name="Content" form="unqualified"'),
     'the element Content in complexType submitReqType, line 10 is unqualified, in no namespace: it says '
     'form="unqualified"'),
    ('elementFormDefault="qualified" attributeFormDefault="qualified"', None,
     'the attribute href in element Content, line 11 is qualified, in the MM7 namespace: the schema says '
     'attributeFormDefault="qualified"'),
    ('elementFormDefault="qualified"', ('name="href"', 'name="href" form="qualified"'),
     'the attribute href in element Content, line 11 is qualified, in the MM7 namespace: it says form="qualified"'),
], ids=["no-element-form-default", "element-form-default-unqualified", "element-form-unqualified",
        "attribute-form-default-qualified", "attribute-form-qualified"])
@pytest.mark.parametrize("by_url", [False, True], ids=["file", "url"])
def test_import_refuses_a_schema_whose_mm7_children_are_unqualified(project, tmp_path, forms, edit, said, by_url):
    """MM7 messages carry every element in the MM7 namespace and their attributes in none. A file
    declaring otherwise was taken: mm7bind's encoder then refused to write in the version, and
    xsdata's classes wrote the children in no namespace, which peers refuse. Refused, naming the file,
    the declaration and why."""
    text = small_schema(forms=forms)
    if edit:
        assert edit[0] in text
        text = text.replace(*edit)
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "mm7.xsd").write_text(text)
    before = snapshot(project)
    proc = import_served(project, folder, "mm7.xsd") if by_url else run(project, "import", str(folder / "mm7.xsd"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert said in proc.stderr, proc.stderr
    assert ("/mm7.xsd: the " if by_url else f"error: {folder / 'mm7.xsd'}: the ") in proc.stderr, proc.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize("by_url", [False, True], ids=["file", "url"])
def test_import_refuses_an_included_part_whose_elements_are_unqualified(project, tmp_path, by_url):
    """A part is read by its own elementFormDefault: one without it declares its local elements in
    no namespace, whatever the file including it says."""
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "REL-6-MM7-1-5.xsd").write_text(small_schema(include='<xs:include schemaLocation="mm7-types.xsd"/>'))
    (folder / "mm7-types.xsd").write_text(
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{MM7_NS}REL-6-MM7-1-5">\n'
        '  <xs:complexType name="extraType"><xs:sequence><xs:element name="Extra" type="xs:string"/>'
        '</xs:sequence></xs:complexType>\n</xs:schema>\n')
    before = snapshot(project)
    proc = (import_served(project, folder, "REL-6-MM7-1-5.xsd") if by_url
            else run(project, "import", str(folder / "REL-6-MM7-1-5.xsd")))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "REL-6-MM7-1-5.xsd includes): the element Extra in complexType extraType, line 2 is unqualified" \
        in proc.stderr and "error: mm7-types.xsd (which " in proc.stderr, proc.stderr
    assert snapshot(project) == before


def test_generate_refuses_a_schema_in_the_folder_whose_elements_are_unqualified(project):
    target = project / "schemas" / "REL-5-MM7-1-0.xsd"
    text = target.read_text()
    assert 'elementFormDefault="qualified" ' in text
    target.write_text(text.replace('elementFormDefault="qualified" ', "", 1))
    before = snapshot(project)
    for command in ("generate", "check"):
        proc = run(project, command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "schemas/REL-5-MM7-1-0.xsd: the element " in proc.stderr and "no elementFormDefault" in proc.stderr
    assert snapshot(project) == before


SPELT_AS_RECORDED = """
v = V.get(sys.argv[2])
assert v.namespace == sys.argv[3], v.namespace
# (the 3GPP spelling of the namespace is read as the version's too)
assert V.by_spelling(V.MM7_NS_BASE + sys.argv[2]) is v
print('ok')
"""


@pytest.mark.parametrize("spelling", ["https://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/",
                                      "http://www.3gpp.org/FTP/Specs/Archive/23_series/23.140/SCHEMA/"],
                         ids=["https", "case"])
@pytest.mark.parametrize("by_url", [False, True], ids=["file", "url"])
def test_import_takes_an_mm7_namespace_spelt_another_way(project, tmp_path, spelling, by_url):
    """mm7bind reads an MM7 namespace with https or in another case as the MM7 namespace it spells
    (`versions.namespace_key`); import refused it as "not an MM7 namespace". The version is recorded
    under the file's spelling (its schema validates that one, so messages are sent in it), said in a note."""
    folder = tmp_path / "www"
    folder.mkdir()
    namespace = spelling + "REL-6-MM7-1-5"
    (folder / "REL-6-MM7-1-5.xsd").write_text(small_schema(namespace=namespace))
    proc = (import_served(project, folder, "REL-6-MM7-1-5.xsd") if by_url
            else run(project, "import", str(folder / "REL-6-MM7-1-5.xsd")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"note: the file spells the MM7 namespace its own way ({namespace}, not http://www.3gpp.org/" in proc.stdout
    entry = tomllib.loads((project / "schemas" / "versions.toml").read_text())["versions"]["REL-6-MM7-1-5"]
    assert entry["namespace"] == namespace and entry["mm7_versions"] == ["6.8.0"]
    assert run(project, "check").returncode == 0
    proc = in_project(project, SPELT_AS_RECORDED, "REL-6-MM7-1-5", namespace)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_an_official_file_in_an_https_namespace_sends_and_reads_every_operation(project, tmp_path):
    source = tmp_path / "REL-6-MM7-1-4.xsd"
    source.write_bytes(official_like().replace(b"http://www.3gpp.org/", b"https://www.3gpp.org/"))
    proc = run(project, "import", str(source))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "REL-6-MM7-1-4's namespace changes" in proc.stdout
    assert round_trip(project, "REL-6-MM7-1-4") == sorted(MESSAGE_TYPES)


@contextlib.contextmanager
def raw_server(answer: bytes):
    """A loopback server that reads a request, writes `answer` as it is and closes; yields the URL
    of a schema on it."""

    def answering(conn, stop):
        read_request(conn)
        conn.sendall(answer)

    with RawServer(answering) as srv:
        yield f"http://127.0.0.1:{srv.port}/REL-6-MM7-1-4.xsd"


@pytest.mark.parametrize("answer, said", [
    (b"HELLO THERE\r\n\r\n", "not whole HTTP"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n<xs:schema", "not whole HTTP"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<?xml version='1.0'?><xs:schema", "short of its Content-Length"),
])
def test_a_download_that_is_not_whole_is_refused_in_words(answer, said):
    """A server speaking no HTTP, a chunked answer cut short, a body short of its Content-Length:
    one line naming the download (they were tracebacks, or the cut file was blamed as bad XML)."""
    from tools.regen import RegenError, read_source

    with raw_server(answer) as url, pytest.raises(RegenError) as err:
        read_source(url)
    assert "cannot download" in str(err.value) and said in str(err.value), err.value


def test_a_url_whose_port_is_no_number_is_refused_in_words():
    from tools.regen import RegenError, read_source

    with pytest.raises(RegenError, match="cannot download"):
        read_source("http://127.0.0.1:port/REL-6-MM7-1-4.xsd")


def test_a_whole_download_is_taken():
    from tools.regen import read_source

    body = b"<?xml version='1.0'?><x/>"
    with raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body) as url:
        assert read_source(url)[0] == body


@contextlib.contextmanager
def trickling_server(head: bytes, body: bytes):
    """A loopback server that answers each request with `head` at once, then `body` a byte at a time
    every 0.1 s (each byte well within any read's timeout), and closes after it; yields the URL of a
    schema on it."""

    def trickle(conn, stop):
        conn.recv(4096)
        conn.sendall(head)
        for byte in body:
            if stop.wait(0.1):
                return
            conn.sendall(bytes([byte]))

    with RawServer(trickle) as srv:
        yield f"http://127.0.0.1:{srv.port}/REL-6-MM7-1-4.xsd"


TRICKLED = b"<?xml version='1.0'?><x/>" * 4


@pytest.mark.parametrize(("head", "body"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(TRICKLED), TRICKLED),
    (b"", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Padding: " + b"x" * 100 + b"\r\n\r\n"),
], ids=["body", "headers"])
def test_a_download_trickled_past_its_deadline_is_given_up(monkeypatch, head, body):
    """A server sending a byte now and then, each within the read's timeout, held the import for ever:
    the downloads have one deadline in all, and the error names the URL and the deadline."""
    import tools.regen as regen

    monkeypatch.setattr(regen, "DOWNLOAD_DEADLINE", 0.5)
    with trickling_server(head, body) as url, pytest.raises(regen.RegenError) as err:
        regen.read_source(url)
    assert str(err.value).startswith(f"cannot download {url}: not done within 0.5 s, the time an import gives"), err.value


HREF = '<xs:attribute name="href" type="xs:anyURI" use="required"/>'
GLOBAL_HREF = '<xs:attribute name="href" type="xs:anyURI"/>\n  <xs:element name="TransactionID"'
OTHER_NS = 'xmlns:o="urn:other" xmlns:mm7='


@pytest.mark.parametrize(("edits", "said"), [
    ([(HREF, '<xs:attribute ref="mm7:href" use="required"/>'), ('<xs:element name="TransactionID"', GLOBAL_HREF)],
     'error: {file}: the attribute href in element Content, line 12 is qualified, in the MM7 namespace: it says '
     'ref="mm7:href", and an attribute referred to is a global one, in the namespace of the schema declaring it'),
    # (an attribute of the MM7 namespace is refused so whether the schema defines it or not)
    ([(HREF, HREF + '<xs:attribute ref="mm7:nope"/>')], 'the attribute nope in element Content, line 11 is qualified'),
    # (what lxml's compiling refuses, attributes as elements: a namespace not imported, a name not defined)
    ([(HREF, HREF + '<xs:attribute ref="o:nope"/>'), ("xmlns:mm7=", OTHER_NS)], "namespace 'urn:other' are not allowed"),
    ([("/>\n      <xs:element name=\"Content\"", '/><xs:element ref="mm7:Nope"/>\n      <xs:element name="Content"')],
     "REL-6-MM7-1-5}Nope' does not resolve"),
    ([("/>\n      <xs:element name=\"Content\"", '/><xs:element ref="o:Nope"/>\n      <xs:element name="Content"'),
      ("xmlns:mm7=", OTHER_NS)], "namespace 'urn:other' are not allowed"),
], ids=["attribute-ref-mm7-global", "attribute-ref-undefined", "attribute-ref-not-imported",
        "element-ref-undefined", "element-ref-not-imported"])
def test_import_refuses_an_attribute_ref_as_an_element_ref(project, tmp_path, edits, said):
    """An attribute referring to a global attribute of the schema's namespace is in that namespace:
    xsdata's classes wrote it qualified, which peers refuse; refused as attributeFormDefault="qualified"
    is. One referring to a namespace not imported is refused as an element's reference is."""
    text = small_schema()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    source = tmp_path / "mm7.xsd"
    source.write_text(text)
    before = snapshot(project)
    proc = run(project, "import", str(source))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert said.replace("{file}", str(source)) in proc.stderr, proc.stderr
    assert snapshot(project) == before


def test_a_part_referring_to_its_includers_global_attribute_is_refused(project, tmp_path):
    """A part without a targetNamespace takes its includer's: a ref in no namespace there is to the
    MM7 one."""
    (tmp_path / "REL-6-MM7-1-5.xsd").write_text(small_schema(include='<xs:include schemaLocation="mm7-types.xsd"/>'))
    (tmp_path / "mm7-types.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">\n'
        '  <xs:attribute name="lang" type="xs:string"/>\n'
        '  <xs:complexType name="extraType"><xs:attribute ref="lang"/></xs:complexType>\n</xs:schema>\n')
    before = snapshot(project)
    proc = run(project, "import", str(tmp_path / "REL-6-MM7-1-5.xsd"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("error: mm7-types.xsd (which " in proc.stderr and "the attribute lang in complexType extraType, line 3 "
            'is qualified, in the MM7 namespace: it says ref="lang"' in proc.stderr), proc.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize("command", ["import", "generate"])
def test_a_part_that_does_not_compile_is_named(project, tmp_path, command):
    """libxml2's line is in the file it read the declaration from: an error in a part was told as the
    including file's, at a line of the part's."""
    folder = project / "schemas" if command == "generate" else tmp_path
    text = small_schema(include='<xs:include schemaLocation="mm7-types.xsd"/>')
    (folder / "REL-6-MM7-1-5.xsd").write_text(text.replace("?>", "?>\n<!-- as reconstructed by the mm7bind project -->", 1))
    (folder / "mm7-types.xsd").write_text(
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:mm7="{MM7_NS}REL-6-MM7-1-5"\n'
        f'           targetNamespace="{MM7_NS}REL-6-MM7-1-5" elementFormDefault="qualified">\n'
        '  <xs:complexType name="extraType"><xs:sequence><xs:element name="Extra" type="mm7:noSuchType"/>'
        '</xs:sequence></xs:complexType>\n</xs:schema>\n')
    if command == "import":
        shown = f"mm7-types.xsd, which {folder / 'REL-6-MM7-1-5.xsd'} (imported as REL-6-MM7-1-5) includes,"
        proc = run(project, "import", str(folder / "REL-6-MM7-1-5.xsd"))
    else:
        manifest = project / "schemas" / "versions.toml"
        manifest.write_text(manifest.read_text() + (
            f'\n[versions."REL-6-MM7-1-5"]\nfile = "REL-6-MM7-1-5.xsd"\nnamespace = "{MM7_NS}REL-6-MM7-1-5"\n'
            'package = "rel6_mm7_1_5"\nmm7_versions = ["6.8.0"]\nincludes = ["mm7-types.xsd"]\n'))
        shown = "schemas/mm7-types.xsd, which schemas/REL-6-MM7-1-5.xsd includes,"
        proc = run(project, "generate")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: {shown} does not compile with lxml" in proc.stderr and "noSuchType" in proc.stderr, proc.stderr
    assert proc.stderr.rstrip().endswith("line 3"), proc.stderr


@pytest.mark.parametrize("source_name", ["REL-6-MM7-1-5.xsd", "mm7.xsd"])
@pytest.mark.parametrize("by_url", [False, True], ids=["file", "url"])
def test_a_part_including_the_file_back_is_refused_in_words(project, tmp_path, source_name, by_url):
    """An include loop back to the file was refused as a part "a name schemas/ already has for another
    file", or (the file named otherwise than its version) taken as a part of its own, which declared
    everything twice."""
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / source_name).write_text(small_schema(include='<xs:include schemaLocation="mm7-types.xsd"/>'))
    (folder / "mm7-types.xsd").write_text(
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{MM7_NS}REL-6-MM7-1-5"\n'
        f'           elementFormDefault="qualified">\n  <xs:include schemaLocation="{source_name}"/>\n</xs:schema>\n')
    before = snapshot(project)
    proc = import_served(project, folder, source_name) if by_url else run(project, "import", str(folder / source_name))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: mm7-types.xsd includes {source_name}, the file itself: an include loop" in proc.stderr, proc.stderr
    assert snapshot(project) == before
