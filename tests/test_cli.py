"""The `mm7bind` command, driven as a user would (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import mm7bind as mm7

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mm7bind.cli", *args], input=stdin, capture_output=True)


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
    data = json.loads(cli("versions", "--json").stdout)
    assert data[6] == {"name": "REL-6-MM7-1-0", "mm7_versions": ["6.3.0"],
                       "origin": manifest["versions"]["REL-6-MM7-1-0"]["origin"],
                       "namespace": "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0"}
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
    # A file's name is whoever put it there's: shown printable, as what it holds is.
    (tmp_path / "caps" / "more" / "c.xml").unlink()
    (tmp_path / "caps" / "more" / "\x1b]0;x\x07.xml").write_bytes(good)
    proc = cli("validate", str(tmp_path / "caps"))
    assert proc.returncode == 0 and b"\x1b" not in proc.stdout and b"\\x1b]0;x\\x07.xml: valid" in proc.stdout


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
    assert found[2] == {"path": str(tmp_path / "missing.xml"), "result": "unreadable", "message_type": None,
                        "version": None, "error": "No such file or directory", "deviations": []}
    proc = cli("validate", "--json", "--lenient", str(sloppy))
    [f] = json.loads(proc.stdout)
    assert proc.returncode == 0 and f["result"] == "accepted" and f["message_type"] == "CancelReq"
