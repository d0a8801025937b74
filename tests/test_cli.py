"""The `mm7bind` command, driven as a user would (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest

import mm7bind as mm7

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def cli(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mm7bind.cli", *args], input=stdin, capture_output=True,
                          env={**os.environ, **(env or {})})


def test_versions():
    proc = cli("versions")
    assert proc.returncode == 0
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("REL-6-MM7-1-4 ")
    assert "6.8.0" in lines[-1] and "/schema/REL-6-MM7-1-4" in lines[-1]
    # Each version's origin as the manifest records it: "reconstructed" for our own files,
    # "official" for one imported with tools.regen (tests/test_regen.py shows one).
    manifest = tomllib.loads((mm7.versions.schema_dir() / "versions.toml").read_text(encoding="utf-8"))
    assert [line.rsplit(" ", 1)[-1] for line in lines] == [f"({e['origin']})" for e in manifest["versions"].values()]
    # The MM7Version sent is the manifest's first, said apart from the list (in number order):
    # REL-6-MM7-1-4's list starts with 5.3.0, and REL-5-MM7-1-2 sends 5.3.0, not its own 5.5.0.
    for line, entry in zip(lines, manifest["versions"].values(), strict=True):
        assert line.endswith(f"; sends {entry['mm7_versions'][0]}  ({entry['origin']})"), line
    assert "MM7Version 5.3.0, 5.5.0, 5.6.0, 5.8.0, 5.10.0, 6.3.0" in lines[-1]
    data = json.loads(cli("versions", "--json").stdout)
    assert data[6] == {"name": "REL-6-MM7-1-0", "mm7_versions": ["6.3.0"], "default_mm7_version": "6.3.0",
                       "nominal_mm7_version": "6.3.0", "pairing": manifest["versions"]["REL-6-MM7-1-0"]["pairing"],
                       "origin": manifest["versions"]["REL-6-MM7-1-0"]["origin"],
                       "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0"}
    assert [(e["name"], e["default_mm7_version"], e["pairing"]) for e in data] == [
        (name, e["mm7_versions"][0], e["pairing"]) for name, e in manifest["versions"].items()]
    rel5_2 = next(v for v in data if v["name"] == "REL-5-MM7-1-2")
    assert (rel5_2["default_mm7_version"], rel5_2["nominal_mm7_version"]) == ("5.3.0", "5.5.0")
    rel5_last = next(v for v in data if v["name"] == "REL-5-MM7-1-5")["mm7_versions"]
    assert rel5_last[-1] == "5.10.0" and rel5_last.index("5.8.0") < rel5_last.index("5.10.0")  # numbers, not text


def test_validate_exit_codes(tmp_path):
    good = tmp_path / "good.xml"
    good.write_bytes(mm7.encode_envelope(mm7.CancelReq(message_id="1"), transaction_id="t", version="REL-6-MM7-1-2"))
    sloppy = tmp_path / "sloppy.xml"
    sloppy.write_bytes(good.read_bytes().replace(b"<MessageID>1</MessageID>", b"<MessageID>1</MessageID><X>y</X>"))
    broken = tmp_path / "broken.xml"
    broken.write_bytes(good.read_bytes()[:80])
    proc = cli("validate", str(good))
    assert proc.returncode == 0 and b"valid (CancelReq, REL-6-MM7-1-2)" in proc.stdout
    proc = cli("validate", str(good), str(sloppy))
    assert proc.returncode == 1
    assert b"sloppy.xml: INVALID" in proc.stdout and b"[unknown-element]" in proc.stdout
    proc = cli("validate", "--lenient", str(sloppy))
    assert proc.returncode == 0 and b"accepted with 1 deviation(s)" in proc.stdout
    proc = cli("validate", str(good), str(broken), str(tmp_path / "missing.xml"))
    assert proc.returncode == 2
    assert b"broken.xml: unreadable" in proc.stdout and b"missing.xml: unreadable" in proc.stdout


def test_validate_says_a_missing_element_in_our_words_and_libxml2s(tmp_path):
    good = mm7.encode_envelope(mm7.CancelRsp(), transaction_id="t", version="REL-6-MM7-1-2")
    lacking = tmp_path / "lacking.xml"
    lacking.write_bytes(good.replace(b"<StatusText>", b"<X>").replace(b"</StatusText>", b"</X>").replace(b"<X>", b"")
                        .replace(b"</X>", b""))
    proc = cli("validate", str(lacking))
    out = proc.stdout.decode()
    assert proc.returncode == 1 and "Status lacks StatusText, which is required after StatusCode" in out, out
    assert "libxml2: Element '{http://www.3gpp.org/" in out and "Missing child element(s)" in out
    [found] = json.loads(cli("validate", "--json", "--lenient", str(lacking)).stdout)
    [dev] = found["deviations"]
    assert dev["message"] == "Status lacks StatusText, which is required after StatusCode"
    assert "Missing child element(s)" in dev["details"]


def test_validate_gives_libxml2s_words_only_where_ours_reword_them(tmp_path):
    """A facet's violation is said in libxml2's words, namespaces left out: its `libxml2:` line
    said it all again, namespaces in, under every such deviation. Kept in --json's details."""
    good = mm7.encode_envelope(mm7.CancelRsp(), transaction_id="t", version="REL-6-MM7-1-4")
    odd = tmp_path / "odd.xml"
    odd.write_bytes(good.replace(b"<MM7Version>6.8.0</MM7Version>", b"<MM7Version>6.7.0</MM7Version>"))
    proc = cli("validate", "--lenient", str(odd))
    out = proc.stdout.decode()
    assert proc.returncode == 0 and "[schema] /Envelope/Body/CancelRsp/MM7Version: Element 'MM7Version': " in out, out
    assert "libxml2:" not in out
    [found] = json.loads(cli("validate", "--json", "--lenient", str(odd)).stdout)
    assert "REL-6-MM7-1-4}MM7Version" in found["deviations"][0]["details"]


def test_validate_from_stdin():
    data = mm7.encode_envelope(mm7.CancelRsp(), transaction_id="t", version="REL-5-MM7-1-1")
    proc = cli("validate", "-", stdin=data)
    assert proc.returncode == 0 and b"valid (CancelRsp, REL-5-MM7-1-1)" in proc.stdout


def test_inspect(tmp_path):
    msg = mm7.SubmitReq(vaspid="800001", recipients=["+8613800000000", "a@b.c"], subject="你好",
                        priority=mm7.Priority.HIGH)
    path = tmp_path / "submit.xml"
    path.write_bytes(mm7.encode_envelope(msg, transaction_id="tx-9", version="REL-6-MM7-1-0"))
    proc = cli("inspect", str(path))
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert out["version"] == "REL-6-MM7-1-0" and out["message_type"] == "SubmitReq"
    assert out["transaction_id"] == "tx-9" and out["mm7_version"] == "6.3.0"
    assert out["fields"]["subject"] == "你好" and out["fields"]["priority"] == "High"
    assert out["fields"]["recipients"]["to"][1] == {"value": "a@b.c", "kind": "RFC2822Address", "display_only": False}
    assert out["deviations"] == []
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<x>&y;</x>")
    proc = cli("inspect", str(bad))
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"] == "MalformedXMLError"


def test_inspect_says_a_file_it_cannot_read_as_one_it_cannot_decode(tmp_path):
    """Its output is JSON: an unreadable file was a line on stderr and nothing on stdout, an
    undecodable one a JSON object on stdout. Both are the object now, stderr left empty."""
    for path, error in ((tmp_path / "missing.xml", "FileNotFoundError"), (tmp_path, "IsADirectoryError")):
        proc = cli("inspect", str(path))
        assert proc.returncode == 2 and proc.stderr == b"", proc.stderr
        assert json.loads(proc.stdout)["error"] == error
        assert json.loads(proc.stdout)["message"].startswith(f"cannot read {path}: ")
    (tmp_path / "bad.xml").write_bytes(b"<x>&y;</x>")
    proc = cli("inspect", str(tmp_path / "bad.xml"))
    assert proc.returncode == 2 and proc.stderr == b"" and set(json.loads(proc.stdout)) == {"error", "message"}


def test_inspect_and_validate_show_no_terminal_controls_from_the_message(tmp_path):
    # XML keeps C1 controls (U+009B is CSI to a terminal) and bidirectional overrides: JSON leaves
    # them as they are, and validate's lines quoted them in its deviations.
    msg = mm7.DeliverReq(sender="+8613800000000", recipients=["1065888"], subject="re\u009b31m\u202e",
                         priority=mm7.Priority.LOW)
    data = mm7.encode_envelope(msg, transaction_id="t", version="REL-6-MM7-1-2")
    path = tmp_path / "evil.xml"
    path.write_bytes(data.replace(b"<Priority>Low</Priority>", "<Priority>Lo\u009b2J\u2028w</Priority>".encode()))
    controls = ("\u009b", "\u202e", "\u2028")
    proc = cli("inspect", str(path))
    text = proc.stdout.decode("utf-8")
    assert proc.returncode == 0 and not any(c in text for c in controls)
    out = json.loads(text)  # (escaped, the same text for a JSON reader)
    assert out["fields"]["subject"] == "re\u009b31m\u202e" and out["fields"]["priority"] == "Lo\u009b2J\u2028w"
    for args in (["validate", str(path)], ["validate", "--lenient", str(path)], ["validate", "--json", str(path)]):
        proc = cli(*args)
        text = proc.stdout.decode("utf-8")
        assert "Priority" in text and not any(c in text for c in controls), args


def test_demo_runs():
    proc = cli("demo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "SubmitReq" in out and "新年快乐" in out and "image/png" in out and "generated SMIL" in out
    assert "SubmitRsp          1000 Success, MessageID SIM" in out
    assert "DeliveryReportReq" in out and "Retrieved" in out and "ReadReplyReq" in out
    assert "DeliverReq (MO)" in out and "LinkedID SIM" in out and "谢谢" in out
    assert "3 received (DeliverReq, DeliveryReportReq, ReadReplyReq), all handled" in out
    assert out.rstrip().endswith("demo complete")


def test_usage_errors():
    proc = cli()
    assert proc.returncode == 2 and b"usage:" in proc.stderr
    proc = cli("inspect")
    assert proc.returncode == 2


def test_a_missing_command_or_action_is_said_with_the_ones_to_choose_from():
    """`mm7bind store` said only "the following arguments are required: ACTION": the metavar hid
    the list argparse would have shown, and the user was left to run --help."""
    for argv, listed in (([], "demo, send, serve, "), (["store"], "inbox, show, sent, outbox, requeue, purge, check"),
                         (["config"], "one of: check;")):
        proc = cli(*argv)
        err = proc.stderr.decode()
        assert proc.returncode == 2 and "the following arguments are required:" in err and listed in err, err
        assert f"`{' '.join(['mm7bind', *argv])} --help` says what each does" in err, err


def test_a_mistyped_command_action_or_choice_is_said_with_the_nearest():
    for argv, said in ((["sned"], "invalid choice: 'sned': did you mean 'send'?"),
                       (["store", "inbx"], "invalid choice: 'inbx': did you mean 'inbox'?"),
                       (["store", "inbox", "--state", "faild"], "invalid choice: 'faild': did you mean 'failed'?")):
        proc = cli(*argv)
        assert proc.returncode == 2 and said in proc.stderr.decode(), proc.stderr
    proc = cli("xyzzy")  # (nothing near: the list alone)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "invalid choice: 'xyzzy'" in err and "did you mean" not in err and "send" in err


def test_a_mistyped_option_is_said_by_its_command_with_the_commands_usage():
    """`send --too 1` got the top level's usage (the list of commands) and "mm7bind: error": the
    command given says it, with its own options."""
    # (the values among them counted, not repeated: `--passwrd SECRET`)
    for argv, prog, said in ((["send", "--too", "1"], "mm7bind send",
                              "--too and 1 value, not repeated: it may be a secret (--too: did you mean --to?)"),
                             (["store", "inbox", "--bogus"], "mm7bind store inbox", "--bogus"),
                             (["versions", "extra"], "mm7bind versions", "1 value, not repeated: it may be a secret")):
        proc = cli(*argv)
        err = proc.stderr.decode()
        assert proc.returncode == 2 and err.startswith(f"usage: {prog} ") and err.rstrip().endswith(
            f"{prog}: error: unrecognized arguments: {said}"), err
    # (the nearest option of the command named, as a mistyped command is)
    proc = cli("send", "--delivery-reports", "--jsn=1")
    assert proc.stderr.decode().rstrip().endswith("unrecognized arguments: --delivery-reports --jsn and 1 value, "
                                                  "not repeated: it may be a secret "
                                                  "(--delivery-reports: did you mean --delivery-report?; "
                                                  "--jsn: did you mean --json?)"), proc.stderr


def test_inspect_and_validate_http_captures_and_mime_bodies(tmp_path):
    import hashlib

    gif = b"GIF89a" + bytes(range(40))
    content = mm7.Content(parts=[mm7.Part.text("你好", filename="../../evil.txt"),
                                 mm7.Part.from_bytes(gif, "image/gif", filename="pic.gif")])
    out = mm7.encode(mm7.DeliverReq(sender="+8613800000000", subject="cap", content=content), transaction_id="cap-1")
    body = out.to_bytes()
    capture = tmp_path / "capture.txt"
    capture.write_bytes(b"POST /mm7 HTTP/1.1\r\nHost: vasp\r\nContent-Type: " + out.content_type.encode()
                        + b"\r\nSOAPAction: \"\"\r\nAuthorization: Basic c3A6c2VjcmV0\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    mime_only = tmp_path / "body.mime"
    mime_only.write_bytes(body)
    proc = cli("inspect", str(capture), "--extract", str(tmp_path / "parts"))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["http"]["start_line"] == "POST /mm7 HTTP/1.1" and info["transaction_id"] == "cap-1"
    assert info["http"]["headers"]["Authorization"] == "Basic ***" and b"c3A6c2VjcmV0" not in proc.stdout
    roles = [(a["role"], a["content_type"]) for a in info["attachments"]]
    assert roles == [("smil", "application/smil"), ("part", "text/plain"), ("part", "image/gif")]
    gif_info = info["attachments"][2]
    assert gif_info["size"] == len(gif) and gif_info["sha256"] == hashlib.sha256(gif).hexdigest()
    written = sorted(p.name for p in (tmp_path / "parts").iterdir())
    assert "evil.txt" in written and "pic.gif" in written  # a hostile name stays inside DIR
    assert (tmp_path / "parts" / "pic.gif").read_bytes() == gif
    proc = cli("validate", str(mime_only), str(capture))
    assert proc.returncode == 0 and proc.stdout.decode().count("valid (DeliverReq, REL-6-MM7-1-4)") == 2


def test_validate_a_directory(tmp_path):
    good = mm7.encode_envelope(mm7.CancelRsp(), transaction_id="t", version="REL-6-MM7-1-2")
    (tmp_path / "caps" / "more").mkdir(parents=True)
    (tmp_path / "caps" / "a.xml").write_bytes(good)
    (tmp_path / "caps" / "more" / "b.xml").write_bytes(good)
    (tmp_path / "caps" / ".hidden.xml").write_bytes(b"not xml")  # left out, as editors' swap files
    proc = cli("validate", str(tmp_path / "caps"))
    lines = proc.stdout.decode().splitlines()
    assert proc.returncode == 0 and len(lines) == 2 and all("valid (CancelRsp, REL-6-MM7-1-2)" in x for x in lines)
    (tmp_path / "caps" / "more" / "c.xml").write_bytes(b"<broken")
    assert cli("validate", str(tmp_path / "caps")).returncode == 2
    # A folder with nothing to check (a wrong one, a capture not copied yet) was silence and exit 0.
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".swp").write_bytes(b"x")
    proc = cli("validate", str(tmp_path / "empty"))
    assert proc.returncode == 2 and proc.stdout.decode().startswith(f"{tmp_path / 'empty'}: unreadable: a folder with no")
    [found] = json.loads(cli("validate", "--json", str(tmp_path / "empty")).stdout)
    assert found["result"] == "unreadable" and found["error"].startswith("a folder with no files")
    # A file's name is whoever put it there's: shown printable, as what it holds is.
    (tmp_path / "caps" / "more" / "c.xml").unlink()
    (tmp_path / "caps" / "more" / "\x1b]0;x\x07.xml").write_bytes(good)
    proc = cli("validate", str(tmp_path / "caps"))
    assert proc.returncode == 0 and b"\x1b" not in proc.stdout and b"\\x1b]0;x\\x07.xml: valid" in proc.stdout


def test_validate_a_folder_skips_what_is_no_message_and_fails_what_is_one_unread(tmp_path):
    """A samples folder's INDEX.md, README and notes counted as unreadable files: exit 2 on a folder
    whose every message was valid."""
    good = mm7.encode_envelope(mm7.CancelRsp(), transaction_id="t", version="REL-6-MM7-1-2")
    caps = tmp_path / "caps"
    caps.mkdir()
    (caps / "a.xml").write_bytes(good)
    (caps / "INDEX.md").write_text("# Samples\n\n---\n\n| file | from |\n|---|---|\n| a.xml | an MMSC |\n")
    (caps / "README").write_text("Captured on the test MMSC, 2026-11-02.\n-- ops\n")
    (caps / "pic.gif").write_bytes(b"GIF89a" + bytes(range(256)))  # (an attachment inspect --extract wrote)
    # ... and its SMIL, XML but no message: it was unreadable, exit 2 on a folder of valid messages
    (caps / "main.smil").write_bytes(b'<smil><body><par dur="5000ms"><img src="pic.gif"/></par></body></smil>')
    proc = cli("validate", str(caps))
    out = proc.stdout.decode()
    assert proc.returncode == 0, out
    assert f"{caps / 'a.xml'}: valid (CancelRsp, REL-6-MM7-1-2)" in out
    assert all(f"{caps / name}: skipped: not an MM7 message" in out for name in ("INDEX.md", "README", "pic.gif")), out
    assert f"{caps / 'main.smil'}: skipped: an XML document, no MM7 message (root element smil)" in out, out
    by_path = {f["path"]: f["result"] for f in json.loads(cli("validate", "--json", str(caps)).stdout)}
    assert by_path == {str(caps / "a.xml"): "valid", str(caps / "INDEX.md"): "skipped",
                       str(caps / "README"): "skipped", str(caps / "pic.gif"): "skipped",
                       str(caps / "main.smil"): "skipped"}
    (caps / "main.smil").unlink()
    # What looks like a message, an HTTP capture, MIME or XML (UTF-16 too), fails as unreadable all the same,
    # and so does an MM7 message without its SOAP envelope
    bare = b'<SubmitReq xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"/>'
    for name, data in (("cut.txt", b"POST /mm7 HTTP/1.1\r\nContent-Type: text/xml\r\n\r\n<env:Enve"),
                       ("body.mime", b"\r\n--b1\r\nContent-Type: text/xml\r\n\r\n<x/>\r\n"),
                       ("bare.xml", bare), ("body.xml", b"<Body><SubmitReq/></Body>"),
                       ("wide.xml", "\ufeff<broken".encode("utf-16-le")), ("cut-off.pcap", b"")):
        (caps / name).write_bytes(data)
        proc = cli("validate", str(caps))
        assert proc.returncode == 2 and f"{caps / name}: unreadable: " in proc.stdout.decode(), (name, proc.stdout)
        (caps / name).unlink()
    # A SMIL presentation (what inspect --extract and serve write beside the other parts) is XML, but
    # no message: skipped, not an unreadable file failing the folder
    (caps / "presentation.smil").write_bytes(b'<?xml version="1.0" encoding="utf-8"?>\n<!-- slides -->\n'
                                             b'<smil xmlns="http://www.w3.org/2001/SMIL20/Language"><body/></smil>')
    proc = cli("validate", str(caps))
    said = proc.stdout.decode()
    assert proc.returncode == 0 and f"{caps / 'presentation.smil'}: skipped: an XML document, no MM7 message (root element smil)" in said
    assert "presentation.smil: unreadable: " in cli("validate", str(caps / "presentation.smil")).stdout.decode()
    (caps / "presentation.smil").unlink()
    # A file named is checked whatever it holds
    proc = cli("validate", str(caps / "INDEX.md"))
    assert proc.returncode == 2 and "INDEX.md: unreadable: " in proc.stdout.decode()
    # A folder of nothing but notes had nothing checked: no success
    (caps / "a.xml").unlink()
    proc = cli("validate", str(caps))
    assert proc.returncode == 2 and proc.stdout.decode().rstrip().endswith(
        f"{caps}: unreadable: a folder with no MM7 message or capture in it (3 file(s) skipped)"), proc.stdout


def test_python_dash_m_mm7bind_runs_the_command():
    proc = subprocess.run([sys.executable, "-m", "mm7bind", "versions", "--json"], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[-1]["name"] == "REL-6-MM7-1-4"
    proc = subprocess.run([sys.executable, "-m", "mm7bind", "frobnicate"], capture_output=True, check=False)
    assert proc.returncode == 2 and b"usage: mm7bind" in proc.stderr


def test_validate_json_lists_each_file_with_its_result(tmp_path):
    good = tmp_path / "good.xml"
    good.write_bytes(mm7.encode_envelope(mm7.CancelReq(message_id="1"), transaction_id="t", version="REL-6-MM7-1-2"))
    sloppy = tmp_path / "sloppy.xml"
    sloppy.write_bytes(good.read_bytes().replace(b"<MessageID>1</MessageID>", b"<MessageID>1</MessageID><X>y</X>"))
    proc = cli("validate", "--json", str(good), str(sloppy), str(tmp_path / "missing.xml"))
    assert proc.returncode == 2  # the worst of the three, as without --json
    found = json.loads(proc.stdout)
    assert found[0] == {"path": str(good), "result": "valid", "message_type": "CancelReq", "version": "REL-6-MM7-1-2",
                        "deviations": [], "error": None}
    assert found[1]["result"] == "invalid" and found[1]["deviations"][0]["code"] == "unknown-element"
    # (read whole before it was refused: its type and version are known, and said; they were null)
    assert (found[1]["message_type"], found[1]["version"]) == ("CancelReq", "REL-6-MM7-1-2")
    assert found[2] == {"path": str(tmp_path / "missing.xml"), "result": "unreadable", "message_type": None,
                        "version": None, "error": "No such file or directory", "deviations": []}
    assert cli("validate", str(sloppy)).stdout.decode().startswith(f"{sloppy}: INVALID (CancelReq, REL-6-MM7-1-2)\n")
    proc = cli("validate", "--json", "--lenient", str(sloppy))
    [f] = json.loads(proc.stdout)
    assert proc.returncode == 0 and f["result"] == "accepted" and f["message_type"] == "CancelReq"


def test_chinese_text_on_a_terminal_that_cannot_encode_it_is_escaped_not_a_traceback(tmp_path):
    ascii_only = {"PYTHONIOENCODING": "ascii"}  # (as LANG=C where Python does not coerce the locale)
    proc = cli("version", env=ascii_only)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    assert "\\u5f53\\u524d" in proc.stdout.decode("ascii")  # (当前: escaped, and the lines after it written)
    assert "schema versions: REL-5-MM7-1-0" in proc.stdout.decode("ascii")
    path = tmp_path / "中文.xml"
    path.write_bytes(mm7.encode_envelope(mm7.SubmitReq(recipients=["+8613800000000"], subject="你好😀"),
                                         transaction_id="t", version="REL-6-MM7-1-0"))
    proc = cli("inspect", str(path), env=ascii_only)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.decode("ascii"))["fields"]["subject"] == "你好😀"  # (valid JSON: \\u escapes)
    proc = cli("validate", "--json", str(path), env=ascii_only)
    assert proc.returncode == 0 and json.loads(proc.stdout.decode("ascii"))[0]["path"] == str(path)
    proc = cli("validate", str(path), env=ascii_only)
    assert proc.returncode == 0 and proc.stdout.decode("ascii").endswith(".xml: valid (SubmitReq, REL-6-MM7-1-0)\n")
    proc = cli("inspect", str(path), env={"PYTHONIOENCODING": "utf-8"})  # (where it can, as it is)
    assert '"subject": "你好😀"' in proc.stdout.decode("utf-8")


def test_every_exit_code_of_the_command_is_in_the_readme():
    import re

    from mm7bind import cli as command

    from .conftest import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The command"):]
    said = " ".join(section[section.index("Exit codes:"):].split("\n\n")[0].split())
    codes = {v for k, v in vars(command).items() if k.startswith("EXIT_")}
    assert codes == {0, 1, 2, 3, 4, 5, 130, 141}
    assert [c for c in sorted(codes) if not re.search(rf"(?:^|[:;] ){c} ", said)] == []


def test_output_cut_short_by_its_reader_is_exit_141_without_a_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "mm7bind.cli", "versions"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # (as `| head` that has read what it wanted)
    assert proc.wait(timeout=60) == 141 and b"Traceback" not in proc.stderr.read()
    proc.stderr.close()


def test_help_version_and_a_mistyped_option_import_nothing_heavy(tmp_path):
    # (each took a quarter of a second loading the XML bindings, lxml and the HTTP stack first)
    from .conftest import ROOT
    from .test_lazy_import import HEAVY

    code = f"""
import contextlib, io, json, sys
from mm7bind import cli
loaded = {{}}
for argv in (["--help"], ["version"], ["versions", "--json"], ["send", "--bogus"], ["serve", "--port", "x"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            cli.main(argv)
        except SystemExit:
            pass
    loaded[argv[0]] = [m for m in {HEAVY!r} + ("mm7bind.config", "mm7bind.codec", "mm7bind.cmcc") if m in sys.modules]
print(json.dumps(loaded))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"--help": [], "version": [], "versions": [], "send": [], "serve": []}


def test_version_names_the_api_version_the_cmcc_dialect_sends():
    from mm7bind import cmcc, profiles

    proc = cli("version")
    sent = dict(profiles.CMCC.extra_headers)["MM7APIVersion"]
    assert proc.returncode == 0 and sent == cmcc.API_VERSION
    assert f"当前使用的MM7 API的版本为：{sent}  (the MM7APIVersion header" in proc.stdout.decode()


def test_every_option_and_argument_of_every_command_says_what_it_is():
    """`--help` is where a user looks first: an option listed bare (`--state {…}`, `--json`)
    leaves them to guess, or to read the README."""
    import argparse

    from mm7bind.cli import build_parser

    def bare(parser, words):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from bare(sub, [*words, name])
            elif not action.help and not isinstance(action, argparse._HelpAction):
                yield " ".join(words), action.option_strings or action.dest

    assert list(bare(build_parser(), ["mm7bind"])) == []


def test_the_examples_in_the_help_run_as_written():
    """The commands' --help end with command lines to start from (as written: not rewrapped), each
    of which the command takes (each of a pipeline's mm7bind commands); serve, replay, probe,
    inspect, store's inbox, show and purge, and config check showed none."""
    import argparse
    import shlex

    from mm7bind.cli import build_parser

    parser = build_parser()

    def walk(p, words):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield [*words, name], sub
                    yield from walk(sub, [*words, name])

    shown = {}
    for words, sub in walk(parser, []):
        for line in sub.examples:
            shown.setdefault(" ".join(words), []).append(line)
            assert f"\n  {line}\n" in "\n" + sub.format_help().split("\nexamples:\n", 1)[1]
            commands = [shlex.split(command, comments=True) for command in line.split(" | ")]
            assert commands[0][: len(words) + 1] == ["mm7bind", *words], line
            for command in commands:
                assert command[0] == "mm7bind", line
                parser.parse_args(command[1:])  # (a usage error: SystemExit)
    assert {"send", "simulate", "mo", "validate", "serve", "replay", "probe", "inspect", "store inbox",
            "store show", "store purge", "config check"} <= set(shown), shown


def test_the_top_help_says_every_exit_status_and_the_environment_variables():
    """`mm7bind --help` said neither what its exit statuses mean nor which environment variables
    it reads (README alone did): both listed now, every exit status the commands return."""
    from mm7bind import cli
    from mm7bind.config import COMMAND_PASSWORDS

    text = cli.build_parser().format_help()
    statuses = text.split("\nexit status:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    codes = {int(line.split()[0]) for line in statuses}
    assert codes == {value for name, value in vars(cli).items() if name.startswith("EXIT_") and isinstance(value, int)}
    environment = text.split("\nenvironment:\n", 1)[1]
    assert "MM7BIND_<SECTION>_<KEY>" in environment and all(name in environment for name in COMMAND_PASSWORDS)



def test_send_concurrency_is_bounded_as_the_clients_pool_is():
    """`send --concurrency 1000000000` was taken (any whole number to 2**63-1): each request in
    flight is a thread, so a campaign started threads until the machine gave out. Bounded as
    [mmsc] pool_size is (client.MAX_POOL_SIZE), the range named."""
    from mm7bind.cli import build_parser
    from mm7bind.client import MAX_POOL_SIZE

    parser = build_parser()
    for n in (1, MAX_POOL_SIZE):
        assert parser.parse_args(["send", "--to", "13800138000", "--concurrency", str(n)]).concurrency == n
    for given in (str(MAX_POOL_SIZE + 1), "1000000000", "0", "-4", "four"):
        proc = cli("send", "--to", "13800138000", "--concurrency", given)
        err = proc.stderr.decode()
        assert proc.returncode == 2, err
        assert f"argument --concurrency: {given!r} is not a whole number from 1 to {MAX_POOL_SIZE}" in err, err


def test_each_password_option_can_be_read_from_a_file_instead(tmp_path):
    """simulate's --password and --vasp-password and probe's --password were given on the command
    line alone, where any user of the machine reads them (ps). Each has a --...-file: the file's
    first line, its line end dropped (CRLF too, a BOM left out); one or the other, not both."""
    from mm7bind.cli import build_parser

    parser = build_parser()
    secret = tmp_path / "secret"
    secret.write_bytes("\ufeffs3cr\u00e9t #1\r\nnot this line\n".encode())
    for argv, dest in ((["simulate", "--username", "u", "--password-file", str(secret)], "password"),
                       (["simulate", "--vasp-username", "v", "--vasp-password-file", str(secret)], "vasp_password"),
                       (["probe", "http://127.0.0.1:9/mm7", "--username", "u", "--password-file", str(secret)],
                        "password")):
        assert getattr(parser.parse_args(argv), dest) == "s3cr\u00e9t #1"
        assert getattr(parser.parse_args([*argv[:-2], argv[-2].removesuffix("-file"), "typed"]), dest) == "typed"
    (tmp_path / "blank").write_text("\nsecret\n", encoding="utf-8")
    for option, value, said in (("--password-file", str(tmp_path / "none"), "cannot read"),
                                ("--password-file", str(tmp_path / "blank"), "its first line is empty"),
                                ("--vasp-password-file", str(tmp_path / "blank"), "its first line is empty")):
        proc = cli("simulate", "--port", "0", option, value)
        err = proc.stderr.decode()
        assert proc.returncode == 2 and f"argument {option}: " in err and said in err, err
    proc = cli("probe", "http://127.0.0.1:9/mm7", "--username", "u", "--password", "p", "--password-file", str(secret))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "argument --password-file: not allowed with argument --password" in err, err
    proc = cli("probe", "http://127.0.0.1:9/mm7", "--password-file", str(secret))  # (no --username: said as before)
    assert proc.returncode == 2 and ("--username and --password (or --password-file, or MM7BIND_PROBE_PASSWORD) go "
                                     "together") in proc.stderr.decode()


def test_each_password_option_can_be_given_by_an_environment_variable_the_option_winning(monkeypatch, capsys):
    """simulate's and probe's passwords came from the command line or a file alone; the
    configuration's (MM7BIND_MMSC_PASSWORD, MM7BIND_RECEIVER_PASSWORD) from the environment too.
    Each option has its variable, read when neither the option nor its -file is given and its
    username is; empty, it gives none. None of them is a setting `send` or `serve` warns about."""
    import mm7bind as mm7
    from mm7bind import config
    from mm7bind.cli import _password_given, build_parser, main

    parser = build_parser()
    cases = ((["simulate", "--username", "u"], "simulate", "--password", "password", "username"),
             (["simulate", "--vasp-username", "v"], "simulate", "--vasp-password", "vasp_password", "vasp_username"),
             (["probe", "http://127.0.0.1:9/mm7", "--username", "u"], "probe", "--password", "password", "username"))
    for argv, command, option, dest, user in cases:
        variable = f"MM7BIND_{command.upper()}_{dest.upper()}"
        assert variable in config.COMMAND_PASSWORDS and variable in " ".join(
            " ".join(h.split()) for h in [parser._subparsers._group_actions[0].choices[command].format_help()])
        monkeypatch.setenv(variable, "from-env")
        for given, expected in (([], "from-env"), ([option, "typed"], "typed")):
            args = parser.parse_args([*argv, *given])
            _password_given(args, command, option, user)
            assert getattr(args, dest) == expected
        args = parser.parse_args(argv[:-2])  # (no username: the variable is not used)
        _password_given(args, command, option, user)
        assert getattr(args, dest) is None
        monkeypatch.setenv(variable, "")
        args = parser.parse_args(argv)
        _password_given(args, command, option, user)
        assert getattr(args, dest) is None
    assert config.load(None, env=dict.fromkeys(config.COMMAND_PASSWORDS, "x"))[1] == []  # (no "names no known setting")

    rx = mm7.Receiver(auth=mm7.auth.DigestAuth("mmsc", "secret"))
    probe = ["probe", "--version", "REL-6-MM7-1-0", "--operation", "report", "--no-repeat", "--username", "mmsc"]
    with mm7.serve(rx, port=0) as srv:
        monkeypatch.setenv("MM7BIND_PROBE_PASSWORD", "secret")
        assert main([*probe, srv.endpoint]) == 0
        assert main([*probe, srv.endpoint, "--password", "wrong"]) == 1  # (the option wins)
        capsys.readouterr()
        monkeypatch.delenv("MM7BIND_PROBE_PASSWORD")
        assert main([*probe, srv.endpoint]) == 2
        assert "MM7BIND_PROBE_PASSWORD) go together" in capsys.readouterr().err


def test_send_refuses_a_blank_vaspid():
    """`send --vaspid ""` (a variable left unset in a script) sent <VASPID></VASPID>, which the MMSC
    answered 4001; refused before anything is sent."""
    for blank in ("", "  "):
        proc = cli("send", "--mmsc", "http://127.0.0.1:9/mm7", "--to", "13800138000", "--vaspid", blank)
        err = proc.stderr.decode()
        assert proc.returncode == 2 and f"argument --vaspid: {blank!r} is blank: give the VASP's ID" in err, err


def test_send_refuses_a_blank_vasid_or_service_code_as_a_blank_vaspid():
    """`send --vasid ""` and `--service-code " "` sent an empty VASID or ServiceCode element;
    refused before anything is sent, as --vaspid is."""
    for option, what in (("--vasid", "the service's ID"), ("--service-code", "the service code")):
        for blank in ("", "  "):
            proc = cli("send", "--mmsc", "http://127.0.0.1:9/mm7", "--to", "13800138000", option, blank)
            err = proc.stderr.decode()
            assert proc.returncode == 2 and f"argument {option}: {blank!r} is blank: give {what}" in err, err


def test_a_send_refused_for_its_from_lets_go_of_the_store_it_opened(capsys, tmp_path, monkeypatch):
    """--from is checked once the store is open (a campaign's --tag needs it): refused there, the
    store is closed, not left to the garbage collector (or a program calling main() for ever)."""
    from mm7bind.cli import main
    from mm7bind.store import SqliteStore

    closed = []
    close = SqliteStore.close
    monkeypatch.setattr(SqliteStore, "close", lambda self: closed.append(self.path) or close(self))
    monkeypatch.chdir(tmp_path)
    assert main(["send", "--mmsc", "http://127.0.0.1:9/mm7", "--to", "1", "--text", "x", "--tag", "t",
                 "--from", "10\x7f65"]) == 2
    assert "mm7bind send: --from: the address" in capsys.readouterr().err
    assert len(closed) == 1, closed


def test_the_flags_of_a_resumed_campaign_need_its_tag(capsys, tmp_path, monkeypatch):
    """--resend-unanswered and --retry-refused choose whom a run resumed under --tag sends to again:
    without --tag they did nothing, unsaid (a user meaning to send to those again sent the whole
    list, held back from no one and told nothing). A usage error, as --at without --queue is,
    before anything is sent or a store is opened."""
    from mm7bind.cli import main

    monkeypatch.chdir(tmp_path)
    for flag in ("--resend-unanswered", "--retry-refused"):
        assert main(["send", "--mmsc", "http://127.0.0.1:9/mm7", "--to", "1", "--text", "x", flag]) == 2
        assert capsys.readouterr().err == (f"mm7bind send: {flag} needs --tag (it chooses whom a run resumed under "
                                           "the tag sends to again)\n")
    assert list(tmp_path.iterdir()) == []  # (no store made)


def test_config_check_without_a_file_checks_the_variables_the_commands_run_on(capsys, monkeypatch):
    """The commands run without --config on the MM7BIND_ variables over the defaults (a container's
    configuration); `config check` insisted on a FILE, so that configuration could be checked only
    by running a command on it."""
    from mm7bind.cli import main

    for name in [n for n in os.environ if n.startswith("MM7BIND_")]:
        monkeypatch.delenv(name)
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out == "the MM7BIND_ variables over the defaults (no FILE): 0 error(s), 0 warning(s)\n"
    monkeypatch.setenv("MM7BIND_MMSC_URLS", "ftp://mmsc.example/mm7")
    assert main(["config", "check"]) == 3
    assert capsys.readouterr().out == (
        "error: MM7BIND_MMSC_URLS (mmsc.urls): 'ftp://mmsc.example/mm7' is not an http(s) URL\n"
        "the MM7BIND_ variables over the defaults (no FILE): 1 error(s), 0 warning(s)\n")


def test_validate_help_lists_the_exit_statuses_validate_returns(tmp_path):
    """`validate --help` listed no exit status (the top help's are every command's): what it returns
    for a valid, an invalid and an unreadable file is said there now, and is what it returns."""
    from mm7bind.cli import build_parser

    validate = build_parser()._subparsers._group_actions[0].choices["validate"]
    lines = validate.format_help().split("\nexit status:\n", 1)[1].strip().splitlines()
    said = {int(code): words for code, words in (line.split(None, 1) for line in lines)}
    good = tmp_path / "good.xml"
    good.write_bytes(mm7.encode_envelope(mm7.CancelReq(message_id="1"), transaction_id="t", version="REL-6-MM7-1-2"))
    sloppy = tmp_path / "sloppy.xml"
    sloppy.write_bytes(good.read_bytes().replace(b"<MessageID>1</MessageID>", b"<MessageID>1</MessageID><X>y</X>"))
    for paths, word in (([good], "valid"), ([good, sloppy], "invalid"), ([sloppy, tmp_path / "missing.xml"], "unreadable")):
        proc = cli("validate", *map(str, paths))
        assert proc.returncode in said and said[proc.returncode].startswith(("every message " + word, "a file " + word)), \
            (word, proc.returncode, said)
    assert {130, 141} <= set(said)


@pytest.mark.parametrize("tag", ["", "  "])
def test_send_refuses_a_blank_tag(tag, capsys):
    """`send --tag ""` (a script's `--tag "$CAMPAIGN"`, the variable unset) was taken: the store left
    unopened for a tag that is no name, nothing recorded, and the run started again sent to every
    recipient again. Refused as a blank --vaspid is: exit 2, nothing sent."""
    from mm7bind.cli import build_parser

    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["send", "--to", "+8613800000001", "--text", "x", "--tag", tag])
    assert stop.value.code == 2
    assert f"argument --tag: {tag!r} is blank: give the campaign's name" in capsys.readouterr().err


def test_probe_and_mo_help_list_their_exit_statuses_by_the_one_rule():
    """`probe --help` and `mo --help` said nothing of their exit statuses, whose 4 follows send's rule
    (no answer: no connection, a timeout, a connection lost, a proxy's 502/503/504): listed now."""
    from mm7bind import cli

    commands = cli.build_parser()._subparsers._group_actions[0].choices
    for name, words in (("probe", ("the VASP answered none", "502/503/504", "stopped")),
                        ("mo", ("the simulator did not answer", "--timeout", "502/503/504"))):
        lines = commands[name].format_help().split("\nexit status:\n", 1)[1].strip().splitlines()
        said = {int(code): meaning for code, meaning in (line.split(None, 1) for line in lines)}
        assert set(said) == {0, 1, 2, 4, 130} <= {v for k, v in vars(cli).items() if k.startswith("EXIT_")}, said
        assert all(w in said[4] for w in words), said[4]


def test_inspect_extract_into_a_file_says_it_is_no_folder(tmp_path):
    """`inspect --extract FILE` said "cannot write into FILE: File exists", which reads as if a
    file inside it were in the way: it says what is wrong, exit 2, nothing printed."""
    message = mm7.SubmitReq(recipients=["+8613800000001"], content=mm7.Content(parts=[mm7.Part.text("hi")]))
    body = tmp_path / "submit.xml"
    body.write_bytes(mm7.encode(message, transaction_id="t").to_bytes())
    (tmp_path / "parts").write_text("not a folder", encoding="utf-8")
    proc = cli("inspect", "--extract", str(tmp_path / "parts"), str(body))
    assert proc.returncode == 2 and proc.stdout == b"", proc.stdout
    assert proc.stderr.decode() == f"mm7bind inspect: cannot write into {tmp_path / 'parts'}: it is a file, not a folder\n"


@pytest.mark.parametrize(("argv", "said"), [
    (["simulate", "--digest-algorithm", "SHA-256"], "--digest-algorithm goes with --auth digest"),
    (["simulate", "--username", "u", "--password", "p", "--digest-qop", "auth-int"], "--digest-qop goes with "
     "--auth digest"),
    (["simulate", "--username", "u", "--password", "p", "--auth", "basic", "--digest-algorithm", "SHA-256"],
     "--digest-algorithm goes with --auth digest"),
    (["simulate", "--auth", "digest"], "--auth goes with --username"),
    (["simulate", "--auth-failures", "3"], "--auth-failures goes with --username"),
    (["simulate", "--username", "u", "--password", "p", "--auth-cooldown", "5"], "--auth-cooldown goes with "
     "--auth-failures"),
    (["simulate", "--vasp-username", "v", "--vasp-password", "p"], "--vasp-username goes with --vasp-url"),
    (["simulate", "--vasp-url", "http://127.0.0.1:9/mm7", "--vasp-password", "p"],
     "--vasp-password (or --vasp-password-file) goes with --vasp-username"),
    (["simulate", "--vasp-url", "http://127.0.0.1:9/mm7", "--vasp-ca", __file__], "--vasp-ca goes with an https "
     "--vasp-url"),
    (["simulate", "--mo-from", "+8613800000001"], "--mo-from goes with --mo-text"),
    (["simulate", "--mo-to", "1065999"], "--mo-to goes with --mo-text"),
    (["simulate", "--mo-subject", "s"], "--mo-subject goes with --mo-text"),
    (["simulate", "--mo-after", "0"], "--mo-after goes with --mo-text"),
    (["probe", "http://127.0.0.1:9/mm7", "--auth", "digest"], "--auth goes with --username"),
    (["probe", "http://127.0.0.1:9/mm7", "--ca", __file__], "--ca goes with an https URL"),
])
def test_an_option_that_means_something_only_with_another_is_refused_without_it(argv, said, capsys, monkeypatch):
    """`simulate --digest-algorithm SHA-256` without `--auth digest` challenged in Basic, and
    `--mo-from` without `--mo-text` sent nothing, without a word: a user testing a VASP's SHA-256
    answers tested nothing. Refused (exit 2) naming the option it needs, before anything listens."""
    from mm7bind.cli import main

    monkeypatch.delenv("MM7BIND_SIMULATE_PASSWORD", raising=False)
    monkeypatch.delenv("MM7BIND_SIMULATE_VASP_PASSWORD", raising=False)
    assert main([*argv[:1], *(["--port", "0"] if argv[0] == "simulate" else []), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mm7bind {argv[0]}: {said}") and err.count("\n") == 1, err


def test_the_options_that_go_with_another_take_their_defaults_with_it(monkeypatch):
    """Their defaults left None on the command line (to tell one given), filled in once the option
    they go with is there: a Digest challenge of auth and MD5, an MO from +8613800138000 to 1065888."""
    from mm7bind import cli

    args = cli.build_parser().parse_args(["simulate", "--username", "u", "--password", "p", "--vasp-url",
                                          "http://127.0.0.1:9/mm7", "--mo-text", "x"])
    cli._simulate_combinations(args)
    assert (args.auth, args.digest_qop, args.digest_algorithm, args.auth_cooldown) == ("basic", "auth", "MD5", 60.0)
    assert (args.mo_from, args.mo_to, args.mo_after) == ("+8613800138000", "1065888", 1.0)


def test_a_message_that_cannot_be_built_is_exit_2_however_many_recipients(capsys, tmp_path, monkeypatch):
    """A single send of a message that cannot be built exited 2, a campaign of it 1 (each recipient
    failed, and claimed under its tag) and --queue 1: one rule, exit 2 (the arguments' fault),
    nothing sent, queued or recorded."""
    from mm7bind.cli import main
    from mm7bind.store import SqliteStore

    from .fake_http import FakeServer

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MM7BIND_MMSC_URLS", raising=False)
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    with FakeServer() as srv:
        send = ["send", "-c", str(tmp_path / "c.toml"), "--mmsc", srv.url, "--subject", "bell\x07", "--text", "x"]
        for extra, nothing in ((["--to", "1"], ""), (["--to", "1", "--to", "2"], " (nothing sent)"),
                               (["--to", "1", "--to", "2", "--tag", "t"], " (nothing sent)"),
                               (["--to", "1", "--queue", "--tag", "q"], " (nothing queued)")):
            assert main([*send, *extra]) == 2, extra
            captured = capsys.readouterr()
            assert captured.err.startswith(f"mm7bind send: cannot build the message{nothing}: ") and \
                "U+0007" in captured.err and captured.out == "", (extra, captured)
            assert main([*send, *extra, "--json"]) == 2
            answer = json.loads(capsys.readouterr().out)
            assert answer["ok"] is False and answer["error"] == "EncodeError"
        assert srv.requests == []
    store = SqliteStore(str(tmp_path / "vasp.db"))
    try:
        assert store.sent(tag="t") == [] and store.outbox() == []
    finally:
        store.close()


def test_send_json_has_the_same_keys_whatever_the_outcome(capsys, tmp_path, monkeypatch):
    """`skipped` and `tag` were in a single send's JSON only when a --tag run skipped or held back
    its recipient: a script reading answer["tag"] failed on every other outcome."""
    from mm7bind.cli import main

    from .fake_http import FakeServer, refused_port

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    answers = []
    with FakeServer() as srv:
        for mmsc, extra in ((srv.url, []), (srv.url, ["--tag", "t"]), (srv.url, ["--tag", "t"]),
                            (srv.url, ["--subject", "bell\x07"]), (f"http://127.0.0.1:{refused_port()}/mm7", [])):
            main(["send", "-c", str(tmp_path / "c.toml"), "--mmsc", mmsc, "--to", "1", "--text", "x", "--json", *extra])
            answers.append(json.loads(capsys.readouterr().out))
    sent, tagged, skipped, unbuilt, unreached = answers
    assert skipped["skipped"] is True and skipped["tag"] == "t" and tagged["tag"] == "t"
    assert sent["ok"] and unbuilt["error"] == "EncodeError" and unreached["error"] == "ConnectError"
    assert all(a.keys() == sent.keys() for a in answers), [sorted(a) for a in answers]
    assert (sent["skipped"], sent["tag"], unbuilt["tag"]) == (False, None, None)


def test_a_campaign_of_one_recipient_is_counted_in_the_singular(tmp_path, capsys, monkeypatch):
    """`send --to-file` of one number summed up "sent 1, failed 0, 1 recipients in 0.0 s"."""
    from mm7bind.cli import main
    from mm7bind.simulator import Simulator

    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.txt").write_text("+8613800000000\n", encoding="utf-8")
    (tmp_path / "two.txt").write_text("+8613800000000\n+8613800000001\n", encoding="utf-8")
    with Simulator(port=0) as sim:
        assert main(["send", "--mmsc", sim.url, "--to-file", "one.txt", "--text", "hi", "--quiet"]) == 0
        assert "sent 1, failed 0, 1 recipient in " in capsys.readouterr().out
        assert main(["send", "--mmsc", sim.url, "--to-file", "two.txt", "--text", "hi", "--quiet"]) == 0
        assert "sent 2, failed 0, 2 recipients in " in capsys.readouterr().out
