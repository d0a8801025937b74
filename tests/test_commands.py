"""The command line driven as a user would: subprocesses talking over loopback."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
import requests

import mm7bind as mm7

from .conftest import ROOT, serve_in_this_process
from .fake_http import FakeServer, default_responder, refused_port
from .tls import local_tls, write_mutual_tls

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
ENV.pop("MM7BIND_MMSC_URLS", None)


# The line `serve` and `simulate` start with on stdout, naming where they listen: with --port 0,
# the port the system picked.
STARTED = re.compile(r"^(?:receiving MM7|MMSC simulator \(\S+\)) at (https?)://(\S+?):(\d+)[/;\s]", re.MULTILINE)


def run(*args: str, cwd=None, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mm7bind.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=ENV, timeout=timeout, input=stdin)


# `mm7bind` taking Ctrl-C as in a terminal, even when the suite runs with SIGINT ignored (a job
# started in the background), which a child inherits and Python then leaves ignored.
CTRL_C_ABLE = [sys.executable, "-c", "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "runpy.run_module('mm7bind.cli', run_name='__main__', alter_sys=True)"]


def written(out) -> str:
    """What a child process has written to the file `out` so far, read at an offset of its own: the
    child shares the file's offset, and a seek to read it from the start made the child's next
    write (a print's line end) land over the start of its first line."""
    fd = out.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")


class Background:
    """A long-running `mm7bind ...` process, stopped with SIGTERM at the end."""

    def __init__(self, *args: str, cwd=None):
        import tempfile

        # A file, not a pipe: a chatty process must never block on output nobody reads yet.
        self.out = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, "-m", "mm7bind.cli", *args], stdout=self.out,
                                     stderr=subprocess.STDOUT, text=True, cwd=cwd or ROOT, env=ENV)

    def wait_for(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited: {self.output()}")
            try:
                requests.get(url, timeout=5)
                return
            except (requests.ConnectionError, requests.Timeout):  # (not listening yet, or its first answer slow)
                time.sleep(0.1)
        raise AssertionError(f"{url} did not come up")

    def port(self, timeout: float = 60) -> int:
        """The port it listens on, from its startup line (the way to learn what --port 0 took)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = STARTED.search(self.output())
            if found:
                return int(found.group(3))
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited: {self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"no startup line: {self.output()}")

    def output(self) -> str:
        return written(self.out)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.output()


@pytest.fixture
def simulator(tmp_path):
    sim = Background("simulate", "--port", "0", "--report-delay", "0.2", "--read-delay", "0.3")
    port = sim.port()
    sim.url = f"http://127.0.0.1:{port}/mm7"
    sim.control = f"http://127.0.0.1:{port}/control"
    sim.wait_for(sim.control + "/health")
    yield sim
    sim.stop()


def messages(sim) -> list[dict]:
    return requests.get(sim.control + "/messages", timeout=10).json()


def test_send_to_the_simulator(simulator, tmp_path):
    picture = tmp_path / "pic.gif"
    picture.write_bytes(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
    proc = run("send", "--mmsc", simulator.url, "--to", "+8613800000000", "--subject", "你好", "--text", "正文",
               "--attach", str(picture), "--version", "REL-5-MM7-1-2")
    assert proc.returncode == 0, proc.stderr
    mid = proc.stdout.strip()
    assert mid.startswith("SIM")
    [got] = messages(simulator)
    assert got["message_id"] == mid and got["subject"] == "你好" and got["version"] == "REL-5-MM7-1-2"
    assert [p["content_type"] for p in got["parts"]] == ["application/smil", "text/plain", "image/gif"]
    proc = run("send", "--mmsc", simulator.url, "--to", "a@b.cn", "--json", "--from", "+8610650000",
               "--vaspid", "800001", "--vasid", "1065888", "--service-code", "100001")
    assert json.loads(proc.stdout)["status"] == 1000 and json.loads(proc.stdout)["ok"] is True
    got = messages(simulator)[-1]
    assert (got["vaspid"], got["vasid"], got["service_code"], got["sender"]) == ("800001", "1065888", "100001",
                                                                                 "+8610650000"), got


def test_send_says_when_the_mmsc_may_have_taken_the_message_twice(simulator):
    # The first attempt gets a gateway's 504 (the MMSC behind it may have taken it), the second is
    # accepted: a success, and a possible second copy, which the user must hear of.
    requests.post(simulator.control + "/fail", json={"count": 1, "http_status": 504}, timeout=10)
    proc = run("send", "--mmsc", simulator.url, "--to", "1", "--text", "x")
    assert proc.returncode == 0 and proc.stdout.strip().startswith("SIM"), proc.stderr
    assert proc.stderr.startswith("mm7bind send: note: an earlier attempt got no answer: the MMSC may have taken "
                                  "the message twice (TransactionID "), proc.stderr
    requests.post(simulator.control + "/fail", json={"count": 1, "http_status": 504}, timeout=10)
    twice = json.loads(run("send", "--mmsc", simulator.url, "--to", "1", "--json").stdout)
    once = json.loads(run("send", "--mmsc", simulator.url, "--to", "1", "--json").stdout)
    assert twice["ok"] and twice["earlier_unanswered"] is True and once["earlier_unanswered"] is False



def test_send_says_a_refusal_after_an_attempt_that_got_no_answer_may_have_been_taken_all_the_same(simulator):
    for _ in range(2):
        requests.post(simulator.control + "/fail", json={"count": 1, "http_status": 504}, timeout=10)
        requests.post(simulator.control + "/fail", json={"count": 1, "status": 2001}, timeout=10)
    proc = run("send", "--mmsc", simulator.url, "--to", "1", "--text", "x")
    assert proc.returncode == 1 and proc.stderr.startswith("mm7bind send: refused: SubmitReq refused: 2001 "), proc.stderr
    assert "(after an earlier attempt that got no answer: the MMSC may have taken it: TransactionID " in proc.stderr
    answer = json.loads(run("send", "--mmsc", simulator.url, "--to", "1", "--json").stdout)
    assert answer["ok"] is False and answer["status"] == 2001 and answer["earlier_unanswered"] is True, answer

def test_send_to_several_counts_those_the_mmsc_may_have_taken_twice(simulator):
    requests.post(simulator.control + "/fail", json={"count": 1, "http_status": 504}, timeout=10)
    proc = run("send", "--mmsc", simulator.url, "--to", "1", "--to", "2", "--text", "x", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "1 of the sent were accepted after an attempt that got no answer: the MMSC may have taken them twice" \
        in proc.stdout, proc.stdout
    requests.post(simulator.control + "/fail", json={"count": 1, "http_status": 504}, timeout=10)
    counts = json.loads(run("send", "--mmsc", simulator.url, "--to", "1", "--to", "2", "--json").stdout)
    assert (counts["sent"], counts["earlier_unanswered"]) == (2, 1), counts
    counts = json.loads(run("send", "--mmsc", simulator.url, "--to", "1", "--to", "2", "--json").stdout)
    assert (counts["sent"], counts["earlier_unanswered"]) == (2, 0), counts

def test_send_reports_every_kind_of_refusal(simulator, tmp_path):
    # An HTTP error without a Fault (a wrong path, an MMSC overloaded) is one line, not a traceback.
    proc = run("send", "--mmsc", simulator.url.replace("/mm7", "/wrong"), "--to", "1", "--text", "x")
    assert proc.returncode == 1 and proc.stderr.startswith("mm7bind send: refused: HTTP 404"), proc.stderr
    proc = run("send", "--mmsc", simulator.url.replace("/mm7", "/wrong"), "--to", "1", "--json")
    answer = json.loads(proc.stdout)
    assert answer["ok"] is False and answer["http_status"] == 404 and answer["error"] == "HTTPStatusError"
    requests.post(simulator.control + "/fail", json={"count": 1, "status": 2002}, timeout=10)
    proc = run("send", "--mmsc", simulator.url, "--to", "1", "--json")
    answer = json.loads(proc.stdout)
    assert proc.returncode == 1 and answer["ok"] is False and answer["status"] == 2002, proc.stdout
    refused = answer
    proc = run("send", "--mmsc", "http://127.0.0.1:9/mm7", "--to", "1", "--json")
    assert proc.returncode == 4 and json.loads(proc.stdout)["error"] == "ConnectError"
    # Whatever the outcome, the same keys (None where they do not apply): a script reads
    # answer["message_id"] after a refusal, or answer["error"] after a success, without a KeyError.
    accepted = json.loads(run("send", "--mmsc", simulator.url, "--to", "1", "--json").stdout)
    keys = {"ok", "message_id", "transaction_id", "status", "text", "error", "message", "http_status",
            "earlier_unanswered", "may_have_arrived", "skipped", "tag"}
    assert set(accepted) == set(refused) == set(json.loads(proc.stdout)) == keys
    assert accepted["error"] is None and accepted["http_status"] == 200 and json.loads(proc.stdout)["message_id"] is None
    # Several recipients: one JSON object for the whole run.
    proc = run("send", "--mmsc", simulator.url, "--to", "1", "--to", "2", "--json")
    answer = json.loads(proc.stdout)
    assert proc.returncode == 0 and answer["sent"] == 2 and set(answer["message_ids"]) == {"1", "2"}
    assert proc.stderr == ""  # (no progress bar around JSON)


def test_send_to_the_simulator_without_its_path_is_told_the_path(simulator):
    """`--mmsc http://127.0.0.1:9090`, the address `mo --simulator` takes, left the user with a 404's
    "check the URL": the simulator's answer names where it takes MM7."""
    proc = run("send", "--mmsc", simulator.url.removesuffix("/mm7"), "--to", "1", "--text", "x")
    assert proc.returncode == 1 and proc.stderr.startswith("mm7bind send: refused: HTTP 404"), proc.stderr
    assert "the simulator takes MM7 requests at /mm7" in proc.stderr, proc.stderr


def test_send_writes_the_transaction_log_the_configuration_names(simulator, tmp_path):
    (tmp_path / "c.toml").write_text(f'[logging]\nfile = "{tmp_path / "send.log"}"\n', encoding="utf-8")
    proc = run("send", "--config", str(tmp_path / "c.toml"), "--mmsc", simulator.url, "--to", "1", "--text", "x")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "SubmitReq" in (tmp_path / "send.log").read_text(encoding="utf-8")


def test_ctrl_c_ends_a_bulk_send_with_a_count_of_what_went(simulator, tmp_path):
    (tmp_path / "list.csv").write_text("\n".join(f"+86138{i:08d}" for i in range(40)), encoding="utf-8")
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    requests.post(simulator.control + "/fail", json={"count": 40, "delay": 0.25}, timeout=10)
    proc = subprocess.Popen([*CTRL_C_ABLE, "send", "--config", str(tmp_path / "c.toml"),
                             "--mmsc", simulator.url, "--to-file", str(tmp_path / "list.csv"), "--tag", "t",
                             "--concurrency", "2"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(messages(simulator)) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted:" in err and "--tag t" in err
    sent = int(out.split()[1].rstrip(","))
    assert 3 <= sent < 40 and sent == len(messages(simulator))  # counted exactly: in-flight ones finished
    proc = run("send", "--config", str(tmp_path / "c.toml"), "--mmsc", simulator.url,
               "--to-file", str(tmp_path / "list.csv"), "--tag", "t", "--concurrency", "4")
    assert proc.returncode == 0 and len(messages(simulator)) == 40, proc.stdout + proc.stderr  # resumed, nobody twice


def test_sigterm_ends_a_bulk_send_as_ctrl_c_does(simulator, tmp_path):
    """`kill`, `timeout` or systemd stopping a campaign: the requests in flight finish and are
    recorded, the counts are printed, and the run resumes under its tag sending nobody twice."""
    (tmp_path / "list.csv").write_text("\n".join(f"+86139{i:08d}" for i in range(40)), encoding="utf-8")
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    requests.post(simulator.control + "/fail", json={"count": 40, "delay": 0.25}, timeout=10)
    before = len(messages(simulator))
    proc = subprocess.Popen([sys.executable, "-m", "mm7bind.cli", "send", "--config", str(tmp_path / "c.toml"),
                             "--mmsc", simulator.url, "--to-file", str(tmp_path / "list.csv"), "--tag", "term",
                             "--concurrency", "2"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(messages(simulator)) - before < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and "interrupted:" in err and "--tag term" in err
    sent = int(out.split()[1].rstrip(","))
    assert 3 <= sent < 40 and sent == len(messages(simulator)) - before
    store = mm7.SqliteStore(tmp_path / "vasp.db")  # every request that went out is recorded
    try:
        assert sum(r.ok for r in store.sent(tag="term")) == sent
    finally:
        store.close()
    proc = run("send", "--config", str(tmp_path / "c.toml"), "--mmsc", simulator.url,
               "--to-file", str(tmp_path / "list.csv"), "--tag", "term", "--concurrency", "4")
    assert proc.returncode == 0 and len(messages(simulator)) - before == 40, proc.stdout + proc.stderr


def test_serve_receives_reports_and_mo(simulator, tmp_path):
    (tmp_path / "mm7bind.toml").write_text(
        f'[receiver]\nport = 0\nout_dir = "{tmp_path / "in"}"\n[store]\npath = "{tmp_path / "vasp.db"}"\n'
        f'[mmsc]\nurls = ["{simulator.url}"]\n[vasp]\nvaspid = "800001"\n', encoding="utf-8")
    serve = Background("serve", "--config", str(tmp_path / "mm7bind.toml"))
    try:
        port = serve.port()
        serve.wait_for(f"http://127.0.0.1:{port}/mm7")
        sim2 = Background("simulate", "--port", "0", "--vasp-url", f"http://127.0.0.1:{port}/mm7",
                          "--report-delay", "0.2", "--read-delay", "0.4")
        try:
            sim2_port = sim2.port()
            sim2.wait_for(f"http://127.0.0.1:{sim2_port}/control/health")
            proc = run("send", "--config", str(tmp_path / "mm7bind.toml"), "--mmsc",
                       f"http://127.0.0.1:{sim2_port}/mm7", "--to", "+8613800000000", "--text", "hi",
                       "--delivery-report", "--read-reply", "--store")
            assert proc.returncode == 0, proc.stderr
            mid = proc.stdout.strip()
            proc = run("mo", "--simulator", f"http://127.0.0.1:{sim2_port}", "--from", "+8613900000000",
                       "--subject", "回复", "--text", "收到", "--json")
            assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == 1000, proc.stdout + proc.stderr
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(list((tmp_path / "in").glob("*/*"))) < 3:
                time.sleep(0.1)
        finally:
            sim2.stop()
    finally:
        out = serve.stop()
    assert f"DeliveryReportReq {mid}" in out and "Retrieved" in out and "ReadReplyReq" in out
    assert "DeliverReq from +8613900000000" in out and "'回复'" in out
    [mo_dir] = (tmp_path / "in" / "DeliverReq").iterdir()
    info = json.loads((mo_dir / "message.json").read_text(encoding="utf-8"))
    assert info["message"]["subject"] == "回复"
    assert [p["content_type"] for p in info["parts"]] == ["application/smil", "text/plain"]
    smil_file, text_file = (p["file"] for p in info["parts"])
    assert smil_file == "01-presentation.smil" and text_file.startswith("02-") and text_file.endswith(".txt")
    assert (mo_dir / text_file).read_text(encoding="utf-8") == "收到"
    assert any(p.read_text(encoding="utf-8") == "收到" for p in mo_dir.iterdir() if p.name != "message.json")
    [report_dir] = (tmp_path / "in" / "DeliveryReportReq").iterdir()
    assert json.loads((report_dir / "message.json").read_text())["message"]["mm_status"] == "Retrieved"


def test_bulk_send_to_a_thousand_recipients(simulator, tmp_path):
    csv_file = tmp_path / "to.csv"
    csv_file.write_text("number\n" + "".join(f"+86139{i:08d}\n" for i in range(1000)), encoding="utf-8")
    proc = run("send", "--mmsc", simulator.url, "--to-file", str(csv_file), "--subject", "bulk", "--text", "x",
               "--concurrency", "8", timeout=300)
    assert proc.returncode == 0, proc.stderr[-1000:] + "\nsimulator:\n" + simulator.output()[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("sent 1000, failed 0, 1000 recipients in ") and summary.endswith("/s)")
    progress = [line for line in proc.stderr.splitlines() if line.startswith("[")]
    assert progress and progress[-1].startswith("[" + "#" * 30 + "] 1000/1000 sent 1000 failed 0")
    assert len(messages(simulator)) == 1000


def test_send_reads_the_recipients_from_stdin_with_to_file_dash(simulator):
    # (as validate and inspect read '-': `grep ... list.csv | mm7bind send --to-file -`)
    proc = run("send", "--mmsc", simulator.url, "--to-file", "-", "--text", "x", "--quiet",
               stdin="number\n+8613800000001\n+8613800000002\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sent 2, failed 0, 2 recipients")
    assert sorted(m["recipients"][0] for m in messages(simulator)) == ["+8613800000001", "+8613800000002"]
    proc = run("send", "--mmsc", simulator.url, "--to-file", "-", "--text", "x", stdin="number\n1\n1\x1e2\n")
    assert proc.returncode == 2 and proc.stderr.startswith("mm7bind send: standard input, line 3: "), proc.stderr


def test_numbers_written_with_spacing_are_sent_without_it(simulator, tmp_path):
    """A list exported as people write numbers ("+86 138-0000-0001", "(+86) 138 0000 0002",
    "138.0000.0003") went out so, and an MMSC refuses such a Number as no address: every recipient
    of the campaign failed. Each goes as its digits; a kind written before one keeps it as written."""
    from mm7bind.bulk import read_recipients

    listed = "phone\n+86 138-0000-0001\n(+86) 138 0000 0002\n138.0000.0003\ntel:+86 138 0000 0004\n"
    assert read_recipients("x.csv", listed.encode()) == ["+8613800000001", "+8613800000002", "13800000003",
                                                         "tel:+8613800000004"]
    (tmp_path / "to.csv").write_text(listed.replace("tel:", ""), encoding="utf-8")
    proc = run("send", "--mmsc", simulator.url, "--to-file", str(tmp_path / "to.csv"), "--to", "+86 (138) 0000 0005",
               "--text", "x", "--quiet")
    assert proc.returncode == 0 and proc.stdout.startswith("sent 5, failed 0, 5 recipients"), proc.stdout + proc.stderr
    assert sorted(m["recipients"][0] for m in messages(simulator)) == [
        "+8613800000001", "+8613800000002", "+8613800000004", "+8613800000005", "13800000003"]
    assert str(mm7.messages.written_address("Number:+86 138 0000 0006")) == "+86 138 0000 0006"  # (as written)


def test_numbers_typed_in_full_width_characters_are_sent_in_ascii():
    """A Chinese input method in full-width mode types "１３８００００００００１" and "＋８６": such a
    number went out as typed, which no MMSC reads as a number, and was another recipient than the
    same one in ASCII digits (sent twice)."""
    from mm7bind.bulk import read_recipients, recipient_key

    listed = "手机号\r\n１３８０００００００１\r\n＋８６ １３８－００００－０００２\r\n（＋８６）１３８　００００　０００３\r\n"
    for encoding in ("utf-8", "gb18030"):
        assert read_recipients("x.csv", listed.encode(encoding)) == ["13800000001", "+8613800000002",
                                                                     "+8613800000003"], encoding
    full_width = str.maketrans("0123456789+-() ", "０１２３４５６７８９＋－（）\u3000")
    assert "+86 138-0000-0002".translate(full_width) == "＋８６　１３８－００００－０００２"
    assert {recipient_key(mm7.messages.written_address(r)) for r in ("+86 138-0000-0002".translate(full_width),
                                                                     "+8613800000002")} == {"8613800000002"}
    assert mm7.messages.written_address("张三 13800000001") == "张三 13800000001"  # (no number: as it is)


def test_a_recipient_file_that_lists_nobody_is_named_as_such(tmp_path):
    # (it said "give at least one recipient (--to or --to-file)" to someone who gave --to-file)
    (tmp_path / "header-only.csv").write_text("号码,姓名\n", encoding="utf-8")
    proc = run("send", "--mmsc", "http://127.0.0.1:9/mm7", "--to-file", str(tmp_path / "header-only.csv"))
    assert proc.returncode == 2 and f"no recipient: {tmp_path / 'header-only.csv'} lists none" in proc.stderr
    proc = run("send", "--mmsc", "http://127.0.0.1:9/mm7", "--to-file", "-", stdin="")
    assert proc.returncode == 2 and "no recipient: standard input lists none" in proc.stderr
    proc = run("send", "--mmsc", "http://127.0.0.1:9/mm7", "--text", "x")
    assert proc.returncode == 2 and "give at least one recipient (--to or --to-file)" in proc.stderr


def test_bulk_partial_failure_exit_code(tmp_path):
    csv_file = tmp_path / "to.csv"
    csv_file.write_text("+8613800000000\n+8613800000001\n", encoding="utf-8")
    dead = f"http://127.0.0.1:{refused_port()}/mm7"
    proc = run("send", "--mmsc", dead, "--to-file", str(csv_file), "--quiet")
    assert proc.returncode == 4 and "sent 0, failed 2" in proc.stdout and "ConnectError" in proc.stdout


def test_no_mmsc_answering_exits_4_by_one_rule_for_one_message_and_any_campaign(tmp_path):
    """Exit 4 when no MMSC answered — every request without an MM7 answer: a connection refused or
    lost, a timeout, a gateway's 502 or 504, a 503 — for a single send and a campaign too short to
    stop alike. A gateway's 503s or a connection lost exited 1 ("refused"), though a campaign long
    enough to stop for them exited 4; an MMSC that answered, if only with a refusal, is still 1."""
    from .fake_http import Reply, mm7_reply

    def mmsc(status: int | None):
        def respond(req):
            return Reply(drop=True) if status is None else Reply(status, b"<html>no upstream</html>")
        return respond

    numbers = tmp_path / "to.csv"
    numbers.write_text("+8613800000001\n+8613800000002\n+8613800000003\n", encoding="utf-8")
    for status in (502, 503, 504, None):  # (None: the connection closed without an answer)
        with FakeServer(mmsc(status)) as server:
            cfg = tmp_path / "c.toml"
            cfg.write_text(f'[mmsc]\nurls = ["{server.url}"]\nmax_attempts = 1\n', encoding="utf-8")
            proc = run("send", "-c", str(cfg), "--to", "+8613800000001", "--text", "x")
            assert proc.returncode == 4 and proc.stderr.startswith("mm7bind send: "), (status, proc.stderr)
            assert "refused" not in proc.stderr.split(":", 2)[1], (status, proc.stderr)
            proc = run("send", "-c", str(cfg), "--to-file", str(numbers), "--text", "x", "--json")
            out = json.loads(proc.stdout)
            assert proc.returncode == 4, (status, proc.stdout)
            assert (out["sent"], out["failed"], out["unanswered"], out["unreachable"]) == (0, 3, 3, False)
    proc = run("send", "-c", str(cfg), "--to-file", str(numbers), "--text", "x", "--quiet")  # (said, as a stop is)
    assert proc.returncode == 4 and proc.stderr == (
        "mm7bind send: no MMSC answered: each of the 3 requests, after its retries, met no connection, no answer or "
        "an MMSC unavailable; once it is back, give --tag NAME (with a store) to be able to resume where a run "
        "stopped\n"), proc.stderr

    def one_refusal(req):  # (the MMSC is there: it answered one with a Fault, 503 for the rest)
        if len(server.requests) == 1:
            return mm7_reply(mm7.Fault(code="Client", detail=mm7.RSErrorRsp(status=mm7.Status(4001))), req.decode(), 500)
        return Reply(503)

    with FakeServer(one_refusal) as server:
        cfg.write_text(f'[mmsc]\nurls = ["{server.url}"]\nmax_attempts = 1\n', encoding="utf-8")
        proc = run("send", "-c", str(cfg), "--to-file", str(numbers), "--text", "x", "--json", "--concurrency", "1")
        out = json.loads(proc.stdout)
        assert proc.returncode == 1 and (out["failed"], out["unanswered"]) == (3, 2), proc.stdout


def test_a_send_an_mmsc_answered_before_its_last_attempt_met_none_is_no_mmsc_unanswered(tmp_path):
    """Only a send's last attempt was read for "no MMSC answered": one refused in a Fault worth
    trying again (3002), then its connection lost, exited 4 as if no MMSC were there, and a campaign
    counted it unanswered. An MMSC answered it: exit 1, for one message and a campaign alike."""
    from .fake_http import Reply, mm7_reply

    def fault_then_lost(req):
        # (each recipient's first attempt refused, its second one's connection closed unanswered)
        if sum(r.body == req.body for r in server.requests) == 1:
            return mm7_reply(mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=mm7.Status(3002))), req.decode(), 500)
        return Reply(drop=True)

    numbers = tmp_path / "to.csv"
    numbers.write_text("+8613800000001\n+8613800000002\n", encoding="utf-8")
    cfg = tmp_path / "c.toml"
    with FakeServer(fault_then_lost) as server:
        cfg.write_text(f'[mmsc]\nurls = ["{server.url}"]\nmax_attempts = 2\nbackoff = 0.01\n', encoding="utf-8")
        proc = run("send", "-c", str(cfg), "--to", "+8613800000001", "--text", "x")
        assert len(server.requests) == 2 and proc.returncode == 1, (proc.returncode, proc.stderr)
        assert proc.stderr.startswith("mm7bind send: no answer: "), proc.stderr
        proc = run("send", "-c", str(cfg), "--to-file", str(numbers), "--text", "x", "--json", "--concurrency", "1")
        out = json.loads(proc.stdout)
        assert len(server.requests) == 6 and proc.returncode == 1, proc.stdout
        assert (out["sent"], out["failed"], out["unanswered"]) == (0, 2, 0), proc.stdout


def test_a_campaign_stops_when_the_mmsc_is_down_and_resumes_once_it_is_back(tmp_path):
    from mm7bind.bulk import UNREACHABLE_STOP
    from mm7bind.simulator import Simulator

    from .fake_http import serving_on

    # The port held, bound but not listening, while the MMSC is down: connections are refused, and no
    # other process can be listening there when they are tried, nor take it before the MMSC is back
    # on that socket.
    down = socket.socket()
    down.bind(("127.0.0.1", 0))
    port = down.getsockname()[1]
    cfg = tmp_path / "sp.toml"
    cfg.write_text(f'[mmsc]\nurls = ["http://127.0.0.1:{port}/mm7"]\nmax_attempts = 1\n'
                   f'[store]\npath = "{(tmp_path / "sp.db").as_posix()}"\n', encoding="utf-8")
    numbers = tmp_path / "to.csv"
    numbers.write_text("".join(f"+86138{i:08d}\n" for i in range(30)), encoding="utf-8")
    send = ("send", "--config", str(cfg), "--to-file", str(numbers), "--tag", "promo", "--concurrency", "1")
    # The MMSC is down: the run stops rather than failing all 30, one connection refused after another.
    proc = run(*send, "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 4 and out["unreachable"] is True
    assert (out["sent"], out["failed"]) == (0, UNREACHABLE_STOP)
    assert out["not_tried"] == 30 - UNREACHABLE_STOP  # (as the text says it: what the same command sends later)
    proc = run(*send, "--quiet")
    assert proc.returncode == 4 and f"mm7bind send: stopped: no MMSC could be reached ({UNREACHABLE_STOP} requests" in proc.stderr
    assert f"{30 - UNREACHABLE_STOP} recipients not tried" in proc.stderr and "--tag promo" in proc.stderr
    sim = Simulator()
    with serving_on(down, sim.wsgi_app()):  # back: the same command sends to everyone once
        proc = run(*send, "--quiet")
        assert proc.returncode == 0 and "sent 30, failed 0" in proc.stdout
        assert sorted(str(a) for msg in sim.messages.values() for a in msg.request.recipients) == sorted(
            numbers.read_text(encoding="utf-8").split())


def test_send_refuses_an_address_with_a_control_character(tmp_path):
    """`--to $'1\\n2'` went to the MMSC as it was; now a usage error naming the address's place, shown
    escaped (one stderr line), before anything is sent: not the first recipients of a bulk run."""
    from mm7bind.simulator import Simulator

    numbers = tmp_path / "numbers.csv"
    numbers.write_text("+8613800000001\n+86138\x1b[2J00000002\n", encoding="utf-8")
    with Simulator() as sim:
        for args, said in [
            (("--to", "1", "--to", "1\n2"), "--to #2: the address '1\\n2' holds a control character (U+000A)"),
            (("--to", "1", "--to-file", str(numbers)),
             f"{numbers}, line 2: the address '+86138\\x1b[2J00000002' holds a control character (U+001B)"),
            (("--to", "1", "--from", "10\x7f65"), "--from: the address '10\\x7f65' holds a control character (U+007F)"),
            (("--to", "1\x1f"), "--to #1: the address '1\\x1f' holds a control character (U+001F)"),
        ]:
            proc = run("send", "--mmsc", sim.url, *args)
            assert proc.returncode == 2 and proc.stderr == f"mm7bind send: {said}\n", (args, proc.stderr)
        assert sim.messages == {}


def test_a_url_written_without_its_scheme_is_told_how_to_write_it(tmp_path):
    """`--mmsc 127.0.0.1:9090/mm7`, as hosts and ports are written elsewhere: "not an http(s) URL"
    alone left the reader to guess what was wrong with it."""
    proc = run("send", "--mmsc", "127.0.0.1:9090/mm7", "--to", "1")
    assert proc.returncode == 2 and "(no scheme: write http://127.0.0.1:9090/mm7, or https://)" in proc.stderr
    (tmp_path / "c.toml").write_text('[mmsc]\nurls = ["mmsc.example:8080/mm7"]\n', encoding="utf-8")
    proc = run("config", "check", str(tmp_path / "c.toml"))
    assert proc.returncode == 3 and "write http://mmsc.example:8080/mm7, or https://" in proc.stdout, proc.stdout
    proc = run("send", "--mmsc", "ftp://mmsc.example/mm7", "--to", "1")  # (a scheme, the wrong one: nothing to add)
    assert proc.returncode == 2 and "'ftp://mmsc.example/mm7' is not an http(s) URL\n" in proc.stderr


def test_bad_arguments_and_configuration(tmp_path):
    proc = run("send", "--mmsc", "http://127.0.0.1:9/mm7")
    assert proc.returncode == 2 and "at least one recipient" in proc.stderr
    proc = run("send", "--to", "1", "--attach", str(tmp_path / "missing.jpg"))
    assert proc.returncode == 2 and proc.stderr == (
        f"mm7bind send: cannot read the attachment {tmp_path / 'missing.jpg'}: No such file or directory\n")
    proc = run("send", "--to", "1", "--smil", str(tmp_path / "missing.smil"))  # (not called an attachment)
    assert proc.returncode == 2 and proc.stderr == (
        f"mm7bind send: cannot read the SMIL {tmp_path / 'missing.smil'}: No such file or directory\n")
    (tmp_path / "card.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    proc = run("send", "--to", "1", "--smil", str(tmp_path / "card.jpg"))
    assert proc.returncode == 2 and "is not a SMIL document" in proc.stderr
    proc = run("send", "--to", "1", "--version", "REL-9-MM7-1-0")
    assert proc.returncode == 2 and "unknown MM7 schema version" in proc.stderr
    proc = run("send", "--to", "1", "--text", "x", "--mmsc", f"http://127.0.0.1:{refused_port()}/mm7")
    assert proc.returncode == 4 and proc.stderr.startswith("mm7bind send: not sent: ") and proc.stderr.count("\n") == 1
    proc = run("simulate", "--dialect", "klingon")
    assert proc.returncode == 2 and "unknown dialect" in proc.stderr
    proc = run("frobnicate")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[mmsc]\nurls = ["ftp://nowhere"]\nread_timout = 5\nmax_message_size = -1\ndigest_qop = "auth-conf"\n[receiver]\nport = 70000\nrequest_timeout = 0\ndigest_qop = "auth-conf"\n'
                   f'auth = "basic"\nhost = "256.1.1.1"\nout_dir = "{tmp_path / "a-file" / "in"}"\n'
                   '[logging]\nlevel = "LOUD"\n', encoding="utf-8")
    (tmp_path / "a-file").write_text("not a folder")
    proc = run("config", "check", str(bad))
    assert proc.returncode == 3
    for text in ("mmsc.urls: 'ftp://nowhere' is not an http(s) URL", "mmsc.read_timout: unknown setting (did you mean read_timeout?)",
                 "receiver.port: 70000 is not a port number", "receiver.username: auth = 'basic' needs a username",
                 "logging.level: unknown level 'LOUD'", "mmsc.max_message_size: cannot be negative",
                 "receiver.host: '256.1.1.1' is neither an IP address nor a name",
                 f"receiver.out_dir: {tmp_path / 'a-file' / 'in'} cannot be created or written",
                 "receiver.request_timeout: must be positive", "mmsc.digest_qop: must be auth or auth-int",
                 "receiver.digest_qop: must be auth, auth-int", "10 error(s)"):
        assert text in proc.stdout, proc.stdout
    proc = run("send", "--config", str(bad), "--to", "1")
    assert proc.returncode == 3 and "read_timout" in proc.stderr
    assert proc.stderr.startswith(f"mm7bind send: configuration {bad} has problems:\n"), proc.stderr
    proc = subprocess.run([sys.executable, "-m", "mm7bind.cli", "send", "--to", "1"], capture_output=True, text=True,
                          cwd=tmp_path, env={**ENV, "MM7BIND_MMSC_URL": "http://127.0.0.1:9/mm7"}, timeout=120)
    assert proc.returncode == 3 and proc.stderr.startswith(
        "mm7bind send: configuration from the MM7BIND_ variables has problems:\n  error: MM7BIND_MMSC_URL"), proc.stderr
    proc = run("config", "check", str(tmp_path / "nope.toml"))
    assert proc.returncode == 3 and "file not found" in proc.stdout
    (tmp_path / "broken.toml").write_text("[mmsc\n", encoding="utf-8")
    assert "not valid TOML" in run("config", "check", str(tmp_path / "broken.toml")).stdout


def test_good_configuration_and_environment(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[mmsc]\nurls = ["https://mmsc.example/mm7"]\nusername = "sp"\npassword = "pw"\nauth = "digest"\n'
                    'dialect = "cmcc"\n[vasp]\nvaspid = "800001"\n[logging]\nfile = "%s"\nrotate = "time"\n'
                    % (tmp_path / "mm7.log"), encoding="utf-8")
    good.chmod(0o640)  # (a file holding a password, readable by its owner and group only)
    proc = run("config", "check", str(good))
    assert proc.returncode == 0 and "0 error(s), 0 warning(s)" in proc.stdout
    from mm7bind.config import load

    _, problems = load(good, env={"MM7BIND_MMSC_READTIMEOUT": "3"})
    assert [str(p.where) for p in problems] == ["MM7BIND_MMSC_READTIMEOUT (mmsc.readtimeout)"]  # the variable named
    cfg, problems = load(good, env={"MM7BIND_MMSC_URLS": "https://a/mm7,https://b/mm7", "MM7BIND_VASP_VASID": "1065",
                                    "MM7BIND_SAMPLES": "/elsewhere"})  # (the test suite's own variable)
    assert problems == [] and cfg.mmsc.urls == ["https://a/mm7", "https://b/mm7"] and cfg.vasp.vasid == "1065"
    settings = cfg.client_settings()
    assert settings["profile"].name == "cmcc" and settings["auth"] == "digest" and settings["vaspid"] == "800001"


def test_a_table_from_a_variable_refuses_an_item_without_a_value_and_can_hold_a_comma(tmp_path):
    """MM7BIND_MMSC_HEADERS dropped an item without `=` silently (a header never sent, nothing said)
    and split a value at its comma (`Accept=text/xml, */*` became a header and a dropped item)."""
    from mm7bind.config import ConfigError, load, usable

    cfg, problems = load(None, env={"MM7BIND_MMSC_HEADERS": r"Accept=text/xml\, */*,X-Token=a\\b,X-Empty=,"})
    assert problems == [] and cfg.mmsc.headers == {"Accept": "text/xml, */*", "X-Token": "a\\b", "X-Empty": ""}
    _, problems = load(None, env={"MM7BIND_MMSC_HEADERS": "Accept=text/xml, */*"})
    assert [(p.level, p.where) for p in problems] == [("error", "MM7BIND_MMSC_HEADERS (mmsc.headers)")]
    assert "item 2 is not name=value" in problems[0].message and "\\," in problems[0].message
    # (an item is named by its place, not its text: a header's value is often a token)
    _, problems = load(None, env={"MM7BIND_MMSC_HEADERS": "Authorization: Bearer s3cret"})
    assert "s3cret" not in problems[0].message and "write Authorization=... rather than" in problems[0].message
    with pytest.raises(ConfigError):
        usable(*load(None, env={"MM7BIND_MMSC_HEADERS": "X-Token"}), say_warnings=False)
    (tmp_path / "c.toml").write_text("", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "mm7bind.cli", "config", "check", str(tmp_path / "c.toml")],
                          capture_output=True, text=True,
                          cwd=ROOT, env={**ENV, "MM7BIND_MMSC_HEADERS": "X-Token"}, timeout=120)
    assert proc.returncode == 3 and "MM7BIND_MMSC_HEADERS (mmsc.headers): item 1 is not name=value" in proc.stdout


def test_a_list_from_a_variable_can_hold_a_comma_as_a_table_can():
    """MM7BIND_MMSC_URLS split a URL at the comma in its query (two broken URLs, and fail-over to
    the second half); `\\,` is a comma in an item, as it is in a table's value."""
    from mm7bind.config import load

    cfg, problems = load(None, env={"MM7BIND_MMSC_URLS": r"https://a.example/mm7?route=1\,2, https://b.example/mm7,",
                                    "MM7BIND_API_ALLOW": r"127.0.0.1, ::1"})
    assert problems == [], problems
    assert cfg.mmsc.urls == ["https://a.example/mm7?route=1,2", "https://b.example/mm7"]
    assert cfg.api.allow == ["127.0.0.1", "::1"]
    cfg, _ = load(None, env={"MM7BIND_MMSC_URLS": r"https://a.example/mm7?p=a\\b\x"})
    assert cfg.mmsc.urls == ["https://a.example/mm7?p=a\\b\\x"]  # (a backslash before anything else: as it is)


def test_rotating_log_files(tmp_path):
    import logging

    from mm7bind.config import load

    cfg, _ = load(None, env={})
    cfg.logging.file = str(tmp_path / "mm7.log")
    cfg.logging.rotate, cfg.logging.max_bytes, cfg.logging.backups = "both", 2000, 3
    cfg.setup_logging()
    log = logging.getLogger("mm7bind.test")
    try:
        for i in range(200):
            log.info("line %d %s", i, "x" * 40)
    finally:
        for h in list(logging.getLogger("mm7bind").handlers):
            h.close()
            logging.getLogger("mm7bind").removeHandler(h)
    files = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("mm7"))
    assert len(files) == 4 and all((tmp_path / f).stat().st_size <= 2100 for f in files)
    import re

    # The active file keeps its name; the others are named as China Mobile's SDK names its files.
    assert "mm7.log" in files and all(re.fullmatch(r"mm7_\d{12}\.\d{4}\.log", f) for f in files if f != "mm7.log")



def test_logging_set_up_again_replaces_its_handler_and_keeps_yours(tmp_path):
    """setup_logging called a second time in one process (a second serve, replay) added a second
    handler on the same file: each line written twice from then on."""
    import logging

    from mm7bind.config import load

    cfg, _ = load(None, env={})
    cfg.logging.file, cfg.logging.rotate = str(tmp_path / "mm7.log"), "none"
    root = logging.getLogger("mm7bind")
    before = list(root.handlers)
    yours = logging.FileHandler(tmp_path / "yours.log", encoding="utf-8")
    root.addHandler(yours)
    try:
        cfg.setup_logging()
        first = [h for h in root.handlers if h not in before and h is not yours]
        cfg.setup_logging()
        logging.getLogger("mm7bind.test").warning("once")
        added = [h for h in root.handlers if h not in before and h is not yours]
        assert len(first) == len(added) == 1 and first != added and yours in root.handlers
    finally:
        for h in set(root.handlers) - set(before):
            h.close()
            root.removeHandler(h)
    assert (tmp_path / "mm7.log").read_text(encoding="utf-8").count("once") == 1
    assert (tmp_path / "yours.log").read_text(encoding="utf-8").count("once") == 1


def test_a_command_run_twice_in_one_process_puts_its_log_handler_there_once(tmp_path, capsys):
    """`store -v`'s stderr handler, and probe's, send's and replay's quiet ones, were added again
    at each `main` of one process: the second `store -v` said each line twice. (Each run's is
    now taken off as `main` returns.)"""
    import logging

    from mm7bind import cli

    from .fake_http import dead_url

    from mm7bind.store import SqliteStore

    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    SqliteStore(tmp_path / "vasp.db").close()
    root = logging.getLogger("mm7bind")
    before = list(root.handlers)
    try:
        for _ in range(2):
            cli.main(["probe", dead_url(), "--timeout", "2"])
            cli.main(["store", "inbox", "--config", str(tmp_path / "c.toml"), "-v"])
            assert root.handlers == before  # (each run's taken off as it returns, none piled up)
    finally:
        for h in set(root.handlers) - set(before):
            root.removeHandler(h)
            h.close()


def test_main_leaves_the_callers_logging_as_it_found_it(tmp_path, capsys):
    """`store -v`, `send` and `replay` set the "mm7bind" logger's level and handlers for their run
    and left them so: a program (or a test) that called `cli.main` logged at DEBUG from then on,
    to a stream or log file of the command's, the file held open."""
    import logging

    from mm7bind import cli
    from mm7bind.store import SqliteStore

    from .fake_http import dead_url

    log_file = tmp_path / "mm7.log"
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n[mmsc]\nmax_attempts = 1\n'
                                     f'[logging]\nfile = "{log_file}"\nrotate = "none"\n', encoding="utf-8")
    SqliteStore(tmp_path / "vasp.db").close()
    names = ("", "mm7bind", "mm7bind.store", "waitress")
    loggers = [logging.getLogger(name) for name in names]
    yours = logging.NullHandler()
    logging.getLogger("mm7bind").addHandler(yours)
    levels = [logger.level for logger in loggers]
    logging.getLogger("mm7bind").setLevel(logging.WARNING)
    try:
        before = [(logger.level, list(logger.handlers), list(logger.filters)) for logger in loggers]
        assert cli.main(["store", "inbox", "--config", str(tmp_path / "c.toml"), "-v"]) == 0
        cli.main(["send", "--config", str(tmp_path / "c.toml"), "--mmsc", dead_url(), "--to", "13800138000",
                  "--text", "hi", "-v"])
        assert log_file.exists()  # (send logged there)
        cli.main(["replay", "--config", str(tmp_path / "c.toml")])
        after = [(logger.level, list(logger.handlers), list(logger.filters)) for logger in loggers]
        assert after == before
        size = log_file.stat().st_size
        logging.getLogger("mm7bind.test").warning("after the command")
        assert log_file.stat().st_size == size  # (its file no longer written: let go)
    finally:
        logging.getLogger("mm7bind").removeHandler(yours)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    capsys.readouterr()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_serve_run_twice_in_one_process_logs_each_line_once(tmp_path, monkeypatch):
    """The second serve of one process (cli.main called twice: a test, a wrapper of the command)
    wrote each of its lines twice, by its handler and the first run's, and waitress's lines
    three times (serve put the log's handlers on its logger at every run)."""
    import logging
    import signal
    import threading

    from mm7bind import cli

    log_file = tmp_path / "serve.log"
    (tmp_path / "cfg.toml").write_text(
        f'[receiver]\nport = 0\n[store]\npath = "{tmp_path / "vasp.db"}"\n'
        f'[logging]\nfile = "{log_file}"\nrotate = "none"\n', encoding="utf-8")
    (tmp_path / "quiet.py").write_text("class Handler:\n    def on_deliver(self, msg, ctx):\n        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def stop_when_started(runs: int) -> None:
        def started() -> bool:
            return log_file.exists() and log_file.read_text(encoding="utf-8").count("receiving MM7") >= runs

        _until(started, "started")
        os.kill(os.getpid(), signal.SIGTERM)

    with serve_in_this_process() as before:
        for runs in (1, 2):
            stopper = threading.Thread(target=stop_when_started, args=(runs,), daemon=True)
            stopper.start()
            assert cli.main(["serve", "--config", str(tmp_path / "cfg.toml"),
                             "--handler", "quiet:Handler"]) == 0
            stopper.join(30)
            # (serve's log put on waitress's logger for the run, taken off as it returns)
            assert logging.getLogger("waitress").handlers == before["waitress"]
    lines = log_file.read_text(encoding="utf-8")
    said = ("receiving MM7", "stopping (SIGTERM)", "mm7bind.serve stopped")
    assert [lines.count(line) for line in said] == [2, 2, 2]


def stored_failure(folder, transaction_id: str):
    """A store file holding one DeliverReq its handler failed on (answered 500, kept for replay)."""
    import mm7bind as mm7

    db = folder / "vasp.db"
    store = mm7.SqliteStore(db)

    class Broken(mm7.Handler):
        def on_deliver(self, msg, ctx):
            raise RuntimeError("down")

    out = mm7.encode(mm7.DeliverReq(sender="1", subject="later"), transaction_id=transaction_id)
    assert mm7.Receiver(Broken(), store=store).handle(out.to_bytes(), out.content_type).status == 500
    store.close()
    return db


def test_replay_command(tmp_path):
    db = stored_failure(tmp_path, "rp-1")
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n[receiver]\nout_dir = "{tmp_path / "out"}"\n')
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"))
    assert proc.returncode == 0 and "#1: handled" in proc.stdout, proc.stdout + proc.stderr
    assert (tmp_path / "out" / "DeliverReq").is_dir()
    assert "nothing to replay" in run("replay", "--config", str(tmp_path / "cfg.toml")).stdout
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"), "--id", "999")
    assert proc.returncode == 2 and "no stored message #999" in proc.stderr
    (tmp_path / "broken.py").write_text("class Broken:\n    def on_deliver(self, msg, ctx):\n"
                                        "        raise RuntimeError('still down')\n")
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"), "--id", "1", "--handler", "broken:Broken",
               cwd=tmp_path)
    assert proc.returncode == 1 and "#1: failed (RuntimeError: still down)" in proc.stdout, proc.stdout + proc.stderr


def test_replay_where_there_is_no_store_says_so_and_creates_none(tmp_path):
    # (run from another folder, or without the --config serve had: "nothing to replay" misled)
    proc = run("replay", cwd=tmp_path)
    assert proc.returncode == 2 and "mm7bind replay: no store at mm7bind.db" in proc.stderr, proc.stdout + proc.stderr
    assert "nothing to replay" not in proc.stdout and list(tmp_path.iterdir()) == []


def test_pytest_fixtures():
    """The plugin's fixtures, used as a user's suite would (in a subprocess pytest run)."""
    import tempfile

    test = '''
import mm7bind as mm7

def test_user_suite(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    client = mm7.Client(mm7_simulator.url)
    r = client.submit(mm7.SubmitReq(recipients=["+8613800000000"], subject="fixture", delivery_report=True))
    assert mm7_simulator.messages[r.message_id].request.subject == "fixture"
    mm7_simulator.deliver("+8613900000000", ["1065"], "mo", text="hi")
    assert mm7_simulator.wait_idle()
    kinds = sorted(msg.ELEMENT for msg, ctx in mm7_receiver.received)
    assert kinds == ["DeliverReq", "DeliveryReportReq"]
'''
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "test_user.py")
        with open(path, "w") as f:
            f.write(test)
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path],
                              capture_output=True, text=True, cwd=d, env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "1 passed" in proc.stdout


def test_recipient_files_in_the_encodings_excel_writes(tmp_path):
    from mm7bind.bulk import read_recipients

    rows = "号码,姓名\r\n+8613800000001,张三\r\n13800000002,李四\r\n"
    files = {
        "utf8.csv": rows.encode("utf-8"),
        "bom.csv": b"\xef\xbb\xbf" + rows.encode("utf-8"),
        "gbk.csv": rows.encode("gbk"),  # Excel's CSV on a Chinese Windows
        "unicode.txt": rows.replace(",", "\t").encode("utf-16"),  # Excel's "Unicode text"
        "semicolons.csv": rows.replace(",", ";").encode("utf-8"),  # Excel's CSV where "," is the decimal mark
        # blank lines before the header, and Excel's "sep=" line: the header was sent to as a
        # recipient, and with tabs a whole row was one "number"
        "blank-first.csv": b"\r\n\r\n" + rows.encode("utf-8"),
        "blank-first.txt": ("\r\n" + rows.replace(",", "\t")).encode("utf-16"),
        "sep.csv": ("sep=;\r\n" + rows.replace(",", ";")).encode("utf-8"),
        "sep-tab.txt": ("sep=\t\r\n" + rows.replace(",", "\t")).encode("utf-8"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert read_recipients(tmp_path / name) == ["+8613800000001", "13800000002"], name
    # Two of Excel's files joined with `cat`: the second's BOM and header are in the middle.
    (tmp_path / "joined.csv").write_bytes(files["bom.csv"] + files["bom.csv"].replace(b"0001", b"0003"))
    assert read_recipients(tmp_path / "joined.csv") == ["+8613800000001", "13800000002", "+8613800000003",
                                                        "13800000002"]
    (tmp_path / "pasted.csv").write_bytes("\u200b13800000002\u2060\r\n\ufeff 13800000004\r\n".encode("utf-8"))
    assert read_recipients(tmp_path / "pasted.csv") == ["13800000002", "13800000004"]
    (tmp_path / "junk.csv").write_bytes(bytes([0x81, 0x20, 0xff, 0xfe, 0x00]) * 3)
    with pytest.raises(ValueError, match="neither UTF-8"):
        read_recipients(tmp_path / "junk.csv")
    proc = run("send", "--mmsc", "http://127.0.0.1:9/mm7", "--to-file", str(tmp_path / "junk.csv"), "--text", "x")
    assert proc.returncode == 2 and "neither UTF-8" in proc.stderr and "Traceback" not in proc.stderr
    # A second BOM where two files were joined (`cat a.csv b.csv`), zero-width spaces pasted from a
    # web page: no part of the number, and no second recipient beside the same number without them.
    (tmp_path / "joined.csv").write_bytes(("\ufeffnumber\r\n+8613800000001\r\n\ufeff+8613800000001\r\n"
                                           "\u200b13800000002\u200b,x\r\n").encode("utf-8"))
    assert read_recipients(tmp_path / "joined.csv") == ["+8613800000001", "+8613800000001", "13800000002"]
    # Excel's CSV of a column of 13-digit numbers not formatted as text: "8.6138E+12", its digits
    # gone. Each went out, and was refused, as a recipient: the file is refused, saying why.
    (tmp_path / "shortened.csv").write_bytes(b"number\r\n+8613800000001\r\n8.6138E+12\r\n")
    with pytest.raises(ValueError, match=r"line 3: '8.6138E\+12' is a number Excel wrote in scientific notation"):
        read_recipients(tmp_path / "shortened.csv")
    proc = run("send", "--mmsc", "http://127.0.0.1:9/mm7", "--to-file", str(tmp_path / "shortened.csv"), "--text",
               "x")
    assert proc.returncode == 2 and "scientific notation" in proc.stderr and "Traceback" not in proc.stderr


def test_one_number_written_differently_gets_the_message_once_and_a_resume_knows_it():
    """Lists merged from two sources: "+86 138-0000-0001", "+8613800000001" and "8613800000001" are
    one phone, and got three messages; a campaign resumed from the other list sent again to those
    it had reached. A national spelling is another recipient (the country is not known here)."""
    from mm7bind.bulk import queue_bulk, send_bulk
    from mm7bind.outbox import Outbox
    from mm7bind.simulator import Simulator

    store = mm7.MemoryStore()
    with Simulator() as sim, mm7.Client(sim.url, store=store) as client:
        template = mm7.SubmitReq(recipients=["0"], subject="x")
        result = send_bulk(client, template, ["+8613800000001", "+86 138-0000-0001", "8613800000001",
                                              "tel:+8613800000001", "13800000001", "a@example.com",
                                              "A@example.com"], tag="t")
        assert (result.sent, result.failed, result.repeated) == (4, 0, 3)
        assert sorted(result.message_ids) == ["+8613800000001", "13800000001", "A@example.com", "a@example.com"]
        again = send_bulk(client, template, ["86 138 0000 0001", "+8613800000002", "(86) 138.0000.0001"], tag="t")
        assert (again.sent, again.skipped) == (1, 1) and list(again.message_ids) == ["+8613800000002"]
        queued = queue_bulk(Outbox(client), template, ["8613800000002", "+8613800000003"], tag="t")
        assert (queued.sent, queued.skipped) == (1, 1) and list(queued.message_ids) == ["+8613800000003"]
        assert len(sim.messages) == 5


def test_a_number_written_with_the_international_prefix_00_is_the_one_written_with_a_plus():
    """"0086 138 0000 0001" and "008613800000001" (the international prefix as dialled) and
    "(+86) 138 0000 0001" (as contact lists export it) are "+8613800000001": without a country
    code each got a message of its own, and a campaign resumed from a list spelling it so sent
    again to those it had reached."""
    from mm7bind.bulk import recipient_claim, send_bulk
    from mm7bind.simulator import Simulator

    spellings = ["+8613800000001", "0086 138 0000 0001", "008613800000001", "(+86) 138 0000 0001",
                 "0086-138-0000-0001/TYPE=PLMN"]
    assert len({recipient_claim("t", r) for r in spellings}) == 1
    store = mm7.MemoryStore()
    with Simulator() as sim, mm7.Client(sim.url, store=store) as client:
        template = mm7.SubmitReq(recipients=["0"], subject="x")
        result = send_bulk(client, template, [*spellings, "00123456", "123456"], tag="t")
        assert (result.sent, result.repeated) == (2, 5) and sorted(result.message_ids) == ["+8613800000001",
                                                                                           "00123456"]
        again = send_bulk(client, template, ["008613800000001", "+8613800000002"], tag="t")
        assert (again.sent, again.skipped) == (1, 1) and list(again.message_ids) == ["+8613800000002"]
        assert len(sim.messages) == 3


def test_with_a_country_code_a_national_and_an_international_spelling_are_one_recipient(tmp_path):
    """+8613800000001, 8613800000001, 13800000001 and 008613800000001 are one phone in China: a
    campaign listing them sent it four messages, and the claims and resumes told them apart too.
    With [vasp] country_code each is its E.164 number; the message goes to the address as listed,
    and short codes and e-mail addresses are left as they are."""
    from mm7bind import bulk
    from mm7bind.bulk import queue_bulk, recipient_claim, send_bulk
    from mm7bind.config import check, load
    from mm7bind.outbox import Outbox
    from mm7bind.simulator import Simulator

    spellings = ["13800000001", "+8613800000001", "8613800000001", "008613800000001", "0138 0000 0001"]
    assert len({recipient_claim("t", r, "86") for r in spellings}) == 1
    assert len({recipient_claim("t", r) for r in spellings}) == 3  # (without one: 00 is international still)
    assert [bulk.recipient_key(r, "86") for r in ("10086", "1065888", "a@example.com", "+12125550100")] == [
        "10086", "1065888", "a@example.com", "12125550100"]
    assert bulk.recipient_key("2125550100", "1") == bulk.recipient_key("+1 (212) 555-0100", "1") == "12125550100"
    (tmp_path / "c.toml").write_text('[vasp]\ncountry_code = "86"\n')
    cfg, problems = load(tmp_path / "c.toml")
    assert problems == [] and check(cfg) == [] and cfg.make_client().config.country_code == "86"
    cfg.vasp.country_code = "+86"
    assert [(p.level, p.where) for p in check(cfg)] == [("error", "vasp.country_code")]
    store = mm7.MemoryStore()
    with Simulator() as sim, mm7.Client(sim.url, store=store, country_code="86") as client:
        template = mm7.SubmitReq(recipients=["0"], subject="x")
        result = send_bulk(client, template, [*spellings, "10086", "a@example.com"], tag="t")
        assert (result.sent, result.repeated) == (3, 4)
        assert sorted(str(a) for m in sim.messages.values() for a in m.recipients) == [  # (as listed)
            "10086", "13800000001", "a@example.com"]
        again = send_bulk(client, template, ["+86 138 0000 0001", "+8613800000002"], tag="t")
        assert (again.sent, again.skipped) == (1, 1)
        queued = queue_bulk(Outbox(client), template, ["013800000002", "13800000003"], tag="t")
        assert (queued.sent, queued.skipped) == (1, 1) and list(queued.message_ids) == ["13800000003"]
        assert len(sim.messages) == 4


def test_a_recipient_file_ends_its_lines_at_cr_and_lf_alone(tmp_path):
    """str.splitlines also ends a line at \\x1c-\\x1e, U+0085, U+2028 and U+2029; a CSV does not. Inside
    an address they are refused with the line they are on (not sent as two recipients, nor each
    failed at the MMSC); in the first line they no longer cut the header short, which made the
    separator read wrong (a whole row one "number")."""
    from mm7bind.bulk import read_recipients

    for ch in ("\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"):
        data = f"number\r\n13800000001\n138000{ch}00002\r13800000003\r\n".encode()
        with pytest.raises(ValueError, match=rf"numbers.csv, line 3: the address '138000.*00002' holds a control "
                                             rf"character \(U\+{ord(ch):04X}\)"):
            read_recipients("numbers.csv", data)
    assert read_recipients("x.csv", "phone\u2028mobile;name\r\n13800000001;张三\r\n".encode()) == ["13800000001"]
    assert read_recipients("x.csv", b"number\r\n 13800000001\x1c\r\n") == ["13800000001"]  # (as a space)
    # a number column pandas read as decimals and wrote back: "13800000001.0" was sent as it was
    with pytest.raises(ValueError, match=r"x.csv, line 3: '13800000002.0' is a number written with a decimal part"):
        read_recipients("x.csv", b"number\n13800000001\n13800000002.0\n")
    assert read_recipients("x.csv", b"10086\n1.5\n") == ["10086", "1.5"]  # (no number of ours: as it was)
    # names in the first column, the numbers in the second: each name went out as a recipient
    for data in ("姓名,手机号\r\n张三,13800000001\r\n", "张三,13800000001\r\n李四,13800000002\r\n"):
        with pytest.raises(ValueError, match=r"x.csv, line 2: '(张三|李四)' is no number or e-mail address: the "
                                             r"recipients go in the first column"):
            read_recipients("x.csv", data.encode())
    (tmp_path / "numbers.csv").write_bytes("number\r\n13800000001\r\n138\u202800002\r\n".encode())
    proc = run("send", "--mmsc", "http://127.0.0.1:9/mm7", "--to-file", str(tmp_path / "numbers.csv"), "--text", "x")
    assert proc.returncode == 2 and "numbers.csv, line 3: the address" in proc.stderr, proc.stderr


def test_a_header_row_with_a_digit_in_it_is_a_header_not_a_recipient():
    from mm7bind.bulk import read_recipients

    for header in ("Phone 1", "手机号1", "Column1", "MSISDN (86)", "Mobile 2"):
        data = f"{header},name\r\n13800000001,a\r\n".encode()
        assert read_recipients("x.csv", data) == ["13800000001"], header
    # what a recipient in the first row looks like is one, whatever else is written beside it
    for first in ("13800000001", "+86 138-0000-0001", "tel:+8613800000001", "+8613800000001/TYPE=PLMN", "10086",
                  "a@example.com", "13800000001 张三", "(010) 1234 5678"):
        sent = {"+86 138-0000-0001": "+8613800000001", "(010) 1234 5678": "01012345678"}.get(first, first)  # (unspaced)
        assert read_recipients("x.csv", f"{first}\r\n13800000002\r\n".encode()) == [sent, "13800000002"], first


def test_numbers_that_are_not_finite_are_configuration_errors(tmp_path):
    from mm7bind import config

    (tmp_path / "c.toml").write_text("[receiver]\nport = nan\n[mmsc]\nread_timeout = inf\nmax_attempts = \"1e999\"\n",
                                     encoding="utf-8")
    _cfg, problems = config.load(tmp_path / "c.toml", env={"MM7BIND_RECEIVER_THREADS": "-inf"})
    errors = {p.where: p.message for p in problems if p.level == "error"}
    assert set(errors) == {"receiver.port", "mmsc.read_timeout", "mmsc.max_attempts",
                           "MM7BIND_RECEIVER_THREADS (receiver.threads)"}  # (a variable is named as such)
    assert all("finite" in m for m in errors.values())
    cfg, problems = config.load(None, env={"MM7BIND_RECEIVER_MAX_BODY": "12345678901234567890"})
    assert cfg.receiver.max_body == 12345678901234567890  # whole numbers read exactly


def test_numbers_too_large_for_any_setting_are_configuration_errors(tmp_path):
    """A float setting given a whole number past a float's range ended the reading with float()'s
    OverflowError; a variable of thousands of digits, with int()'s ValueError (past 4300)."""
    from mm7bind import config

    (tmp_path / "c.toml").write_text(f"[mmsc]\nrate_limit = 2{'9' * 400}\n", encoding="utf-8")
    _cfg, problems = config.load(tmp_path / "c.toml", env={"MM7BIND_RECEIVER_PORT": "9" * 5000})
    assert {p.where: p.message for p in problems if p.level == "error"} == {
        "mmsc.rate_limit": "expected a number, got one too large for any setting",
        "MM7BIND_RECEIVER_PORT (receiver.port)": "expected a number, got one too large for any setting"}


def test_long_values_are_said_by_their_start_and_length(tmp_path):
    """A wrong value of any length is read and said: quoted whole, one of 100,000 characters (a
    file's, a variable's) made a message, and a `config check` line, of as many."""
    from mm7bind import config

    long = "x" * 100_000
    said = f"a text of 100000 characters ({'x' * 40!r}...)"
    (tmp_path / "c.toml").write_text(f'[mmsc]\ndigest_qop = "{long}"\nmax_attempts = "{long}"\n'
                                     f'[logging]\nlevel = "{long}"\n', encoding="utf-8")
    _cfg, problems = config.load(tmp_path / "c.toml", env={"MM7BIND_RECEIVER_PORT": long})
    assert {p.where: p.message for p in problems if p.level == "error"} == {
        "mmsc.digest_qop": f"must be auth or auth-int, not {said}",
        "mmsc.max_attempts": f"expected a number, got {said}",
        "logging.level": f"unknown level {said}",
        "MM7BIND_RECEIVER_PORT (receiver.port)": f"expected a number, got {said}"}
    assert config.quoted("x" * 100) == repr("x" * 100) and config.quoted(True) == "true"
    (tmp_path / "c.toml").write_text(f'[vasp]\nvaspid = ["{long}"]\n[mmsc]\nretry_codes = ["{long}"]\n'
                                     f'[mmsc.headers]\nX-Odd = ["{long}"]\n', encoding="utf-8")
    problems = {p.where: p.message for p in config.load(tmp_path / "c.toml", env={})[1] if p.level == "error"}
    listed = f"['{'x' * 38}... (100004 characters)"  # (a value of another kind: its TOML spelling, cut short)
    assert problems == {"vasp.vaspid": f"expected text, got {listed}", "mmsc.headers": f"X-Odd: expected text, got {listed}",
                        "mmsc.retry_codes": f"expected a list of whole numbers, got {listed}"}, problems


def test_the_upload_timeout_comes_from_the_config_file_or_the_environment(tmp_path):
    from mm7bind import config

    (tmp_path / "c.toml").write_text("[mmsc]\nupload_timeout = 300\n", encoding="utf-8")
    cfg, problems = config.load(tmp_path / "c.toml", env={})
    assert problems == [] and cfg.make_client().config.upload_timeout == 300
    cfg, _ = config.load(None, env={"MM7BIND_MMSC_UPLOAD_TIMEOUT": "45"})
    assert cfg.make_client().config.upload_timeout == 45
    assert config.load(None, env={})[0].make_client().config.upload_timeout == 120  # (never unbounded)
    (tmp_path / "c.toml").write_text("[mmsc]\nupload_timeout = 0\n", encoding="utf-8")
    cfg, problems = config.load(tmp_path / "c.toml", env={})
    assert [p.where for p in config.check(cfg) if p.level == "error"] == ["mmsc.upload_timeout"]


@pytest.mark.parametrize(("url", "warned"), [
    ("http://app:pw@10.0.0.5:8000/mm7", True),
    ("http://app:pw@apps.example.com/mm7", True),
    ("https://app:pw@apps.example.com/mm7", False),
    ("http://app:pw@127.0.0.1:8000/mm7", False),  # (an application on this host: nothing on the way)
    ("http://app:pw@localhost/mm7", False),
    ("http://[::1]:8000/mm7", False),
    ("http://apps.example.com/mm7", False),  # (no credentials)
])
def test_config_check_warns_of_basic_credentials_in_a_plain_http_forward_url(tmp_path, url, warned):
    """The MMSC's URLs were checked for credentials sent in the clear; the forwarding URL, which
    the receiver posts each message to with its user and password as Basic, was not."""
    from mm7bind import config

    (tmp_path / "c.toml").write_text(f'[receiver]\nforward_url = "{url}"\n', encoding="utf-8")
    (tmp_path / "c.toml").chmod(0o600)  # (a file holding credentials others can read is said too)
    cfg, problems = config.load(tmp_path / "c.toml", env={})
    said = [p for p in config.check(cfg) if p.where == "receiver.forward_url"]
    assert not [p for p in problems if p.level == "error"] and [p.level for p in said] == (
        ["warning"] if warned else []), said
    assert all("pw" not in p.message and "Basic credentials over plain http" in p.message for p in said)


def test_the_upload_min_rate_comes_from_the_config_file_or_the_environment(tmp_path):
    from mm7bind import config

    (tmp_path / "c.toml").write_text("[mmsc]\nupload_min_rate = 4096\n", encoding="utf-8")
    cfg, problems = config.load(tmp_path / "c.toml", env={})
    assert problems == [] and cfg.make_client().config.upload_min_rate == 4096
    cfg, _ = config.load(None, env={"MM7BIND_MMSC_UPLOAD_MIN_RATE": "0"})  # (upload_timeout alone)
    assert cfg.make_client().config.upload_min_rate is None
    assert config.load(None, env={})[0].make_client().config.upload_min_rate == 16384
    (tmp_path / "c.toml").write_text("[mmsc]\nupload_min_rate = -1\n", encoding="utf-8")
    cfg, problems = config.load(tmp_path / "c.toml", env={})
    assert [p.where for p in config.check(cfg) if p.level == "error"] == ["mmsc.upload_min_rate"]


def test_a_charset_name_with_a_nul_is_a_configuration_error(tmp_path):
    path = tmp_path / "nul.toml"
    path.write_text('[mmsc]\ncharset = "gb\\u00002312"\n', encoding="utf-8")
    from mm7bind import config

    _cfg, problems = config.load(str(path), env={})
    assert [p.where for p in problems if p.level == "error"] == ["mmsc.charset"]


def test_a_store_file_that_is_not_a_database_is_reported_not_a_traceback(tmp_path):
    (tmp_path / "vasp.db").write_bytes(b"this is not SQLite" * 100)
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    for command in (["store", "inbox"], ["replay"], ["serve", "--port", "0"],
                    ["send", "--to", "1", "--tag", "t", "--mmsc", "http://127.0.0.1:9/mm7"]):
        proc = run(*command, "--config", str(tmp_path / "cfg.toml"))
        assert proc.returncode == 2, (command, proc.stderr)
        assert "cannot be used: file is not a database" in proc.stderr and "Traceback" not in proc.stderr, command


def test_serve_and_simulate_on_port_0_name_the_port_they_took_on_stdouts_first_line(tmp_path):
    """What a script (and this suite) starts them with to never race another process for a port:
    the line they start with, as the README gives it, names the port the system picked."""
    import tempfile

    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    for command, health in ((["serve", "--config", str(tmp_path / "cfg.toml"), "--port", "0"], "/mm7"),
                            (["simulate", "--port", "0", "--dialect", "cmcc"], "/control/health")):
        with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
            proc = subprocess.Popen([sys.executable, "-m", "mm7bind.cli", *command], stdout=out,
                                    stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=ENV)
            try:
                def first_line(out=out) -> str:  # (a whole one: not one being written)
                    text = written(out)
                    return text.partition("\n")[0] if "\n" in text else ""

                _until(lambda proc=proc: first_line() or proc.poll() is not None, f"{command[0]} starts")
                line = first_line()
                found = STARTED.match(line)
                assert found and int(found.group(3)) != 0, line
                assert line.endswith("; Ctrl-C stops") and found.group(2) == "127.0.0.1", line
                assert requests.get(f"http://127.0.0.1:{found.group(3)}{health}", timeout=10).status_code in (200, 405)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


def test_a_port_already_taken_is_reported_not_a_traceback(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    try:
        (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
        served = run("serve", "--port", port, "--config", str(tmp_path / "cfg.toml"))
        simulated = run("simulate", "--port", port)
    finally:
        taken.close()
    # The same failure, the same exit status (systemd's RestartPreventExitStatus has it): 3.
    assert served.returncode == 3 and f"cannot listen on 127.0.0.1:{port}" in served.stderr
    assert simulated.returncode == 3 and f"cannot listen on 127.0.0.1:{port}" in simulated.stderr
    assert "Traceback" not in served.stderr + simulated.stderr
    # and what to do about it, in the command's own option names
    assert "give another --port (or [receiver] port); 0 picks a free one)" in served.stderr, served.stderr
    assert "give another --port; 0 picks a free one)" in simulated.stderr, simulated.stderr


def test_an_address_not_this_machines_is_said_to_be_so(tmp_path):
    # (192.0.2.1: TEST-NET-1, no machine's)
    served = run("serve", "--host", "192.0.2.1", "--port", "0", cwd=tmp_path)  # (its store made there)
    simulated = run("simulate", "--host", "192.0.2.1", "--port", "0", cwd=tmp_path)
    assert served.returncode == simulated.returncode == 3, served.stderr + simulated.stderr
    assert "no interface of this machine has that address: give one of its own as --host (or [receiver] host)" \
        in served.stderr, served.stderr
    assert "give one of its own as --host, or 0.0.0.0 for all)" in simulated.stderr, simulated.stderr


def test_ports_and_urls_are_checked_where_they_are_typed():
    import mm7bind as mm7

    for args in (["serve", "--port", "99999"], ["simulate", "--port", "-1"], ["serve", "--forward", "foo"],
                 ["send", "--to", "1", "--mmsc", "mmsc.example/mm7"], ["simulate", "--vasp-url", "x"],
                 ["mo", "--simulator", "localhost:9090"]):
        proc = run(*args)
        assert proc.returncode == 2 and "error: argument" in proc.stderr, (args, proc.stderr)
    proc = run("send", "--to", "1", "--mmsc", "http://a.example/mm7,http://b.example/mm7")
    assert proc.returncode == 2 and "is several URLs in one: give the option once for each" in proc.stderr
    for url in ("foo", "ftp://mmsc.example/mm7", "http:///mm7"):
        with pytest.raises(ValueError, match="is not an http|it names no host"):
            mm7.Client(url)


def test_delays_and_counts_are_checked_where_they_are_typed_naming_the_option():
    # --mo-after -1 ended the simulator's timer thread in a traceback; --report-delay -1 and
    # --report-attempts 0 were refused in the library's words (report_delay, report_attempts).
    for args in (["simulate", "--mo-text", "hi", "--mo-after", "-1"], ["simulate", "--report-delay", "-1"],
                 ["simulate", "--read-delay", "inf"], ["simulate", "--report-retry-delay", "nan"],
                 ["simulate", "--report-attempts", "0"], ["simulate", "--max-recipients", "0"],
                 ["simulate", "--max-messages", "0"], ["simulate", "--vasp-timeout", "0"],
                 ["replay", "--stale-after", "-5"]):
        port = ["--port", "0"] if args[0] == "simulate" else []  # (were one taken: no fixed port held)
        proc = run(args[0], *port, *args[1:], timeout=30)
        assert proc.returncode == 2 and f"error: argument {args[-2]}: '{args[-1]}'" in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "_" not in proc.stderr.splitlines()[-1].split(":", 2)[-1]


def test_a_setting_simulate_refuses_is_named_as_the_option_typed(tmp_path):
    """The statuses and certificates pass argparse and are refused by SimulatorConfig, whose words
    named its own keys (read_status, vasp_cert) where the user had typed --read-status, --vasp-cert."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for args, said in ((["--read-status", "Bogus"], "--read-status 'Bogus' is none of"),
                       (["--report-status", "Nope"], "--report-status 'Nope' is none of"),
                       (["--recipient-status", "+8613800000001=Bad"], "--recipient-status of '+8613800000001'"),
                       (["--dialect", "nokia"], "--dialect: unknown dialect 'nokia'"),
                       (["--vasp-url", "https://127.0.0.1:9/mm7", "--vasp-cert", str(junk)],
                        "--vasp-cert: cannot load the client certificate"),
                       (["--vasp-url", "https://127.0.0.1:9/mm7", "--vasp-ca", str(junk)],
                        "--vasp-ca: cannot read CA certificates")):
        proc = run("simulate", "--port", "0", *args, timeout=30)
        assert proc.returncode == 2 and proc.stderr.startswith(f"mm7bind simulate: {said}"), (args, proc.stderr)


def test_simulate_waits_before_reports_and_read_replies_as_a_simulator_config_does(mm7_simulator):
    """The command said 1 s and 2 s, SimulatorConfig 0.5 s and 1 s: a simulator run by hand and
    one made in code answered a test at different times. The fixture's are sooner, on purpose."""
    from mm7bind import simdefaults
    from mm7bind.cli import build_parser
    from mm7bind.simulator import SimulatorConfig

    args = build_parser().parse_args(["simulate"])
    config = SimulatorConfig()
    assert (args.report_delay, args.read_delay, args.vasp_timeout) == (
        config.report_delay, config.read_delay, config.vasp_timeout)
    assert (mm7_simulator.config.report_delay, mm7_simulator.config.read_delay, mm7_simulator.config.vasp_timeout) == (
        simdefaults.FIXTURE_REPORT_DELAY, simdefaults.FIXTURE_READ_DELAY, simdefaults.FIXTURE_VASP_TIMEOUT)
    assert simdefaults.FIXTURE_REPORT_DELAY < config.report_delay and simdefaults.FIXTURE_READ_DELAY < config.read_delay
    assert simdefaults.FIXTURE_VASP_TIMEOUT < config.vasp_timeout == 30


def test_simulate_keeps_the_latest_max_messages():
    """SimulatorConfig.max_messages had no option: a simulator run from the command line under a
    long load test kept its 10,000, whatever the machine could spare."""
    sim = Background("simulate", "--port", "0", "--max-messages", "2", "--report-delay", "60")
    try:
        port = sim.port()
        sim.wait_for(f"http://127.0.0.1:{port}/control/health")
        with mm7.Client(f"http://127.0.0.1:{port}/mm7", retry=mm7.RetryPolicy.never()) as client:
            mids = [client.submit(mm7.SubmitReq(recipients=["+8613800000000"])).message_id for _ in range(3)]
        kept = requests.get(f"http://127.0.0.1:{port}/control/messages", timeout=10).json()
        assert [x["message_id"] for x in kept] == mids[1:]
    finally:
        sim.stop()


def test_probe_json_says_what_its_help_says_unreachable_included():
    # (the exit code 4 comes from "unreachable", which the JSON left out; its help left out timed_out)
    from mm7bind.cli import build_parser

    proc = run("probe", f"http://127.0.0.1:{refused_port()}/mm7", "--version", "REL-6-MM7-1-0", "--operation", "deliver",
               "--json")
    [result] = json.loads(proc.stdout)
    assert proc.returncode == 4 and result["unreachable"] is True and result["ok"] is False
    probe = build_parser()._subparsers._group_actions[0].choices["probe"]
    [help_text] = [a.help for a in probe._actions if "--json" in a.option_strings]
    assert sorted(help_text.split(": ", 1)[1].replace("each request's ", "").split(", ")) == sorted(result)


def test_the_simulator_signs_in_to_a_vasp_that_asks_for_credentials():
    import mm7bind as mm7

    got = []

    class Inbox(mm7.Handler):
        def on_deliver(self, msg, ctx):
            got.append(msg.subject)

    receiver = mm7.Receiver(Inbox(), auth=mm7.auth.DigestAuth("sp", "secret"))
    with mm7.serve(receiver, port=0) as srv:
        for credentials, expected in ((["--vasp-username", "sp", "--vasp-password", "wrong"], []),
                                      (["--vasp-username", "sp", "--vasp-password", "secret"], ["hi"])):
            sim = Background("simulate", "--port", "0", "--vasp-url", srv.url + "/mm7", *credentials,
                             "--mo-text", "x", "--mo-subject", "hi", "--mo-after", "0.2")
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and "DeliverReq tid=" not in sim.output() and got == []:
                    time.sleep(0.1)
            finally:
                sim.stop()
            assert got == expected
    proc = run("simulate", "--report-status", "Bogus")
    assert proc.returncode == 2 and "none of Expired, Retrieved" in proc.stderr, proc.stderr


def test_simulates_mo_goes_in_the_version_asked_as_mo_version_chooses_it():
    """`mm7bind mo --version` chose an MO's version; simulate's own MO (--mo-text) had no way to."""
    import queue

    import mm7bind as mm7

    got = queue.Queue()

    class Inbox(mm7.Handler):
        def on_deliver(self, msg, ctx):
            got.put((msg.subject, ctx.version.name))

    with mm7.serve(mm7.Receiver(Inbox()), port=0) as srv:
        sim = Background("simulate", "--port", "0", "--vasp-url", srv.url + "/mm7", "--mo-text", "x",
                         "--mo-subject", "old", "--mo-version", "REL-5-MM7-1-2", "--mo-after", "0")
        try:
            assert got.get(timeout=20) == ("old", "REL-5-MM7-1-2")
        finally:
            sim.stop()
    # Refused where it is typed, not in the thread sending it later
    for args, said in ((["--mo-version", "REL-5-MM7-1-2"], "--mo-version goes with --mo-text"),
                       (["--mo-text", "x", "--mo-version", "REL-9"], "--mo-version: unknown MM7 schema version 'REL-9'"),
                       (["--dialect", "cmcc", "--mo-text", "x", "--mo-version", "REL-5-MM7-1-2"],
                        "--mo-version: the cmcc dialect sends its MO in its own version")):
        proc = run("simulate", "--port", "0", "--vasp-url", "http://127.0.0.1:9/mm7", *args, timeout=30)
        assert proc.returncode == 2 and f"mm7bind simulate: {said}" in proc.stderr, proc.stderr


def test_the_simulator_can_ask_the_vasp_for_credentials():
    import mm7bind as mm7

    sim = Background("simulate", "--port", "0", "--username", "sp", "--password", "secret",
                     "--auth", "digest", "--digest-qop", "auth-int", "--digest-algorithm", "SHA-256, MD5")
    try:
        port = sim.port()
        sim.wait_for(f"http://127.0.0.1:{port}/control/health")
        url = f"http://127.0.0.1:{port}/mm7"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/mm7", b"", {"Content-Type": "text/xml"})
        challenges = conn.getresponse().headers.get_all("WWW-Authenticate")
        conn.close()
        # (one challenge an algorithm, in the order given: a VASP speaking only MD5 answers the second)
        assert [c.split("algorithm=")[1].split(",")[0] for c in challenges] == ["SHA-256", "MD5"], challenges
        msg = mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000000"]), subject="s")
        with mm7.Client(url, username="sp", password="secret", auth="auto") as c:
            assert c.submit(msg).ok
        with mm7.Client(url, username="sp", password="wrong", auth="auto") as c, \
                pytest.raises(mm7.errors.HTTPStatusError) as err:
            c.submit(msg)
        assert err.value.status == 401
        with mm7.Client(url) as c, pytest.raises(mm7.errors.HTTPStatusError):
            c.submit(msg)  # no credentials at all
    finally:
        sim.stop()
    proc = run("simulate", "--username", "sp")
    assert proc.returncode == 2 and "go together" in proc.stderr
    proc = run("simulate", "--username", "sp", "--password", "x", "--auth", "digest", "--digest-algorithm", "SHA-1")
    assert proc.returncode == 2 and "SHA-1" in proc.stderr, proc.stderr


def test_a_variable_for_a_section_the_file_wrote_as_a_value_is_a_problem_not_a_crash(tmp_path):
    from mm7bind import config

    path = tmp_path / "c.toml"
    path.write_text('store = "inbox.db"\n', encoding="utf-8")
    _, problems = config.load(path, env={"MM7BIND_STORE_PATH": str(tmp_path / "x.db")})
    assert [(p.where, p.message) for p in problems if p.level == "error"] == [("store", "must be a table ([store])")]


def test_a_log_file_that_cannot_be_opened_is_reported_not_a_traceback(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n'
                                       f'[logging]\nfile = "{tmp_path / "logs"}"\n', encoding="utf-8")
    checked = run("config", "check", str(tmp_path / "cfg.toml"))
    assert checked.returncode == 3 and "is a folder, not a file" in checked.stdout, checked.stdout
    for command in (["serve", "--port", "0"], ["send", "--to", "1", "--mmsc", "http://127.0.0.1:9/mm7"]):
        proc = run(*command, "--config", str(tmp_path / "cfg.toml"))
        assert proc.returncode == 3 and "Traceback" not in proc.stderr, (command, proc.stderr)
        assert "logging.file" in proc.stderr and "is a folder, not a file" in proc.stderr, proc.stderr


def _until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.05)


def test_serve_reopens_its_log_on_sighup_and_stops_on_sigterm_saying_so(tmp_path):
    """logrotate renames the file and sends SIGHUP: serve writes on in a new file of the old name.
    (SIGHUP used to end the process on the spot: under systemd's Restart=on-failure, for good.)"""
    log_file = tmp_path / "serve.log"
    (tmp_path / "cfg.toml").write_text(
        f'[receiver]\nport = 0\nout_dir = "{tmp_path / "in"}"\n[store]\npath = "{tmp_path / "vasp.db"}"\n'
        f'[logging]\nfile = "{log_file}"\nrotate = "none"\n', encoding="utf-8")
    store = mm7.SqliteStore(tmp_path / "vasp.db")  # a message a killed run left in hand: said at the start
    store.accept(kind="DeliverReq", transaction_id="t-1", message_id=None, recipient=None, status=None, peer="p",
                 content_type="text/xml", body=b"<x/>", tid_key="DeliverReq|t-1", report_key=None)
    store.close()
    serve = Background("serve", "--config", str(tmp_path / "cfg.toml"))
    try:
        port = serve.port()
        serve.wait_for(f"http://127.0.0.1:{port}/mm7")
        _until(lambda: "receiving MM7 at" in log_file.read_text(encoding="utf-8"), "the start is logged")
        log_file.rename(tmp_path / "serve.log.1")
        serve.proc.send_signal(signal.SIGHUP)
        _until(lambda: log_file.exists() and "opened again" in log_file.read_text(encoding="utf-8"),
               "a new log file after SIGHUP")
        assert serve.proc.poll() is None and requests.get(f"http://127.0.0.1:{port}/mm7", timeout=10).status_code == 405
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(timeout=60) == 0
    finally:
        serve.stop()
    lines = log_file.read_text(encoding="utf-8")
    assert "INFO mm7bind.serve stopping (SIGTERM)" in lines and lines.rstrip().endswith("INFO mm7bind.serve stopped")
    first = (tmp_path / "serve.log.1").read_text(encoding="utf-8")
    assert "stopping" not in first and "WARNING mm7bind.serve messages a stopped run left half-handled" in first


def test_serve_signalled_again_while_stopping_stops_at_once_and_logs_what_it_left(tmp_path):
    """A second SIGTERM (or Ctrl-C) while serve waited for a handler went unheard: it waited out
    the grace and 5 s more, saying nothing of the request it then closed on, and waitress's own
    words ("1 thread(s) still running") went to standard error, not to the configured log."""
    (tmp_path / "blocking.py").write_text(
        "import pathlib, time\nimport mm7bind as mm7\n\nclass Blocking(mm7.Handler):\n"
        "    def on_deliver(self, msg, ctx):\n        pathlib.Path('started').touch()\n        time.sleep(120)\n\n"
        "handler = Blocking()\n", encoding="utf-8")
    log_file = tmp_path / "serve.log"
    (tmp_path / "cfg.toml").write_text(
        f'[receiver]\nport = 0\n[store]\npath = "{tmp_path / "vasp.db"}"\n'
        f'[logging]\nfile = "{log_file}"\nrotate = "none"\n', encoding="utf-8")
    serve = Background("serve", "--config", str(tmp_path / "cfg.toml"), "--handler", "blocking:handler",
                       cwd=tmp_path)
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="hi"), transaction_id="cut-1")
    answers = []

    def send() -> None:
        try:
            answers.append(requests.post(f"http://127.0.0.1:{port}/mm7", data=out.to_bytes(),
                                         headers={"Content-Type": out.content_type}, timeout=60).status_code)
        except requests.RequestException as exc:
            answers.append(type(exc).__name__)

    sender = threading.Thread(target=send)
    try:
        port = serve.port()
        serve.wait_for(f"http://127.0.0.1:{port}/mm7")
        sender.start()
        _until(lambda: (tmp_path / "started").exists(), "the handler has the message")
        serve.proc.send_signal(signal.SIGTERM)
        _until(lambda: "stopping (SIGTERM)" in log_file.read_text(encoding="utf-8"), "the stop is logged")
        assert serve.proc.poll() is None  # (waiting for the handler)
        serve.proc.send_signal(signal.SIGTERM)
        # (exit 5, not 0: a supervisor can tell a stop that closed requests on unanswered)
        assert serve.proc.wait(timeout=60) == 5
        sender.join(60)
    finally:
        serve.stop()
    assert answers == ["ConnectionError"]  # no answer, never a 200: the MMSC sends it again
    lines = log_file.read_text(encoding="utf-8")
    assert "(SIGTERM again: stop at once)" in lines
    assert "WARNING mm7bind.server stopping with 1 request(s) in hand not waited for: their connections are " \
           "closed unanswered" in lines
    assert "WARNING waitress 1 thread(s) still running" in lines  # (waitress's own words, in the same log)
    assert "WARNING mm7bind.serve SIGTERM again: stopped without waiting for what was in hand" in lines
    assert lines.rstrip().endswith("INFO mm7bind.serve stopped")
    store = mm7.SqliteStore(tmp_path / "vasp.db")
    assert [(r.transaction_id, r.state) for r in store.inbox()] == [("cut-1", "processing")]  # (for replay)
    store.close()


@pytest.mark.parametrize("command, kills", [("serve", 1), ("simulate", 1), ("serve", 2)])
def test_a_sigterm_as_soon_as_the_start_is_announced_stops_cleanly(command, kills, tmp_path):
    """The start line ("... Ctrl-C stops", what scripts and supervisors wait for) came before the
    signal handlers: a SIGTERM right after it met the default action, which ended the process on
    the spot (-15, its store unclosed, nothing logged). Sent here from the printing of that line;
    twice, the second is a second signal (stop at once), not lost before its handler was set."""
    script = ("import signal, sys\nimport mm7bind.cli as cli\nechoed = cli._echo\n"
              "def echo(text):\n    echoed(text)\n    if 'Ctrl-C stops' in text:\n"
              f"        for _ in range({kills}): signal.raise_signal(signal.SIGTERM)\n"
              "cli._echo = echo\nsys.exit(cli.main(sys.argv[1:]))\n")
    args = ["--port", "0"] + (["--out", str(tmp_path / "in"), "--config", str(tmp_path / "cfg.toml")]
                              if command == "serve" else [])
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", script, command, *args], capture_output=True, text=True,
                          cwd=ROOT, env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr
    if command == "serve":
        assert "stopping (SIGTERM)" in proc.stderr and proc.stderr.rstrip().endswith("stopped"), proc.stderr
        assert ("SIGTERM again: stopped without waiting" in proc.stderr) == (kills == 2), proc.stderr


def test_serve_answers_its_health_check_at_its_path_alone(tmp_path):
    """health_path = "/" (a load balancer's usual check) was mounted as a prefix, so it took every
    request: the MMSC's posts to /mm7 were answered "health takes GET, HEAD"."""
    (tmp_path / "cfg.toml").write_text(
        f'[receiver]\nport = 0\nout_dir = "{tmp_path / "in"}"\nhealth_path = "/"\n'
        'metrics_path = "/metrics"\n'
        f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    serve = Background("serve", "--config", str(tmp_path / "cfg.toml"))
    try:
        base = f"http://127.0.0.1:{serve.port()}"
        serve.wait_for(base + "/mm7")
        assert requests.get(base + "/", timeout=10).text == "ok\n"
        out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="hi"), transaction_id="h-1")
        posted = requests.post(base + "/mm7", data=out.to_bytes(), headers={"Content-Type": out.content_type},
                               timeout=10)
        assert posted.status_code == 200 and mm7.decode(posted.content).body.status.code == 1000, posted.text
        assert requests.get(base + "/health/x", timeout=10).status_code == 404
        assert "mm7bind_received_total" in requests.get(base + "/metrics", timeout=10).text
    finally:
        said = serve.stop()
    assert "receiving MM7 at" in said
    # (said at the start as the metrics' address is: the operator configuring the balancer needs it)
    assert f"metrics at {base}/metrics\nhealth check at {base}/\n" in said, said


def test_serve_with_a_metrics_dir_counts_on_from_its_last_run(tmp_path):
    """[receiver] metrics_dir: the counts of a run that ended are in the folder, summed with the
    running one's, so a restart is no reset to a scraper (nor, under gunicorn, a worker's scrape
    the counts of that worker alone)."""
    (tmp_path / "cfg.toml").write_text(
        f'[receiver]\nport = 0\nout_dir = "{tmp_path / "in"}"\nmetrics_path = "/metrics"\n'
        f'metrics_dir = "{tmp_path / "metrics"}"\n[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    for run, tid in enumerate(("m-1", "m-2"), 1):
        serve = Background("serve", "--config", str(tmp_path / "cfg.toml"))
        try:
            base = f"http://127.0.0.1:{serve.port()}"
            serve.wait_for(base + "/mm7")
            out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="hi"), transaction_id=tid)
            requests.post(base + "/mm7", data=out.to_bytes(), headers={"Content-Type": out.content_type}, timeout=10)
            text = requests.get(base + "/metrics", timeout=10).text
        finally:
            serve.stop()
        assert f'mm7bind_received_total{{operation="DeliverReq",outcome="handled",status="1000"}} {run}\n' in text


def test_serve_behind_a_reverse_proxy_takes_the_peer_from_its_x_forwarded_for(tmp_path):
    """serve(trusted_proxy=) had no setting: behind nginx every request came from the proxy, so
    the allow-list could only name the proxy (admitting anyone it passes on), and logs and store
    recorded its address."""
    from mm7bind import config

    text = (f'[receiver]\nport = 0\nout_dir = "{tmp_path / "in"}"\nallow = ["192.0.2.0/24"]\n'
            f'trusted_proxy = "127.0.0.1"\n[store]\npath = "{tmp_path / "vasp.db"}"\n')
    (tmp_path / "cfg.toml").write_text(text, encoding="utf-8")
    serve = Background("serve", "--config", str(tmp_path / "cfg.toml"))
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="hi"), transaction_id="xff-1")

    def post(forwarded: str | None) -> int:
        headers = {"Content-Type": out.content_type, **({"X-Forwarded-For": forwarded} if forwarded else {})}
        return requests.post(f"http://127.0.0.1:{port}/mm7", data=out.to_bytes(), headers=headers,
                             timeout=10).status_code

    try:
        port = serve.port()
        serve.wait_for(f"http://127.0.0.1:{port}/mm7")
        assert [post(None), post("203.0.113.9"), post("192.0.2.7")] == [403, 403, 200]
    finally:
        serve.stop()
    store = mm7.SqliteStore(tmp_path / "vasp.db")
    assert [r.peer for r in store.inbox()] == ["192.0.2.7"]
    store.close()

    def problems(extra: str) -> list[str]:
        path = tmp_path / "check.toml"
        path.write_text(f"[receiver]\n{extra}", encoding="utf-8")
        return [str(p) for p in config.load(path)[1] if "trusted_proxy" in str(p)]

    assert problems('trusted_proxy = "nginx"\n') == [
        "error: receiver.trusted_proxy: 'nginx' is not an IP address (nor *): the proxy's, as the server "
        "sees it"]
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    assert problems(f'trusted_proxy = "*"\ntls_cert = "{cert}"\ntls_key = "{cert}"\n') == [
        "error: receiver.trusted_proxy: serving TLS itself (tls_cert), the receiver has no proxy in front"]
    assert problems('trusted_proxy = "::1"\n') == []


def test_serve_stops_without_waiting_out_a_send_in_flight(simulator, tmp_path):
    """A SIGTERM while the outbox waits on a silent MMSC: serve stops within its grace and a few
    seconds (a service manager's stop timeout is not spent on it), and says what was left."""
    config = tmp_path / "cfg.toml"
    config.write_text(f'[mmsc]\nurls = ["{simulator.url}"]\nread_timeout = 120\n[receiver]\nport = 0\n'
                      f'out_dir = "{tmp_path / "in"}"\n[outbox]\nenabled = true\n'
                      f'[store]\npath = "{tmp_path / "vasp.db"}"\nkeep_days = 30\n', encoding="utf-8")
    requests.post(simulator.control + "/fail", json={"count": 5, "delay": 100}, timeout=10)
    serve = Background("serve", "--config", str(config))
    try:
        serve.wait_for(f"http://127.0.0.1:{serve.port()}/mm7")
        assert run("send", "--config", str(config), "--to", "+8613800000000", "--queue").returncode == 0
        # The simulator has the request once it has taken one of the scripted delays (its item
        # claimed, "sending", is not enough: a SIGTERM before the request went out stops serve
        # with no send in flight).
        def delays_left() -> int:
            return requests.post(simulator.control + "/fail", json={"count": 0}, timeout=10).json()["queued"]

        _until(lambda: delays_left() < 5, "the MMSC holds the send")
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(timeout=90) == 0
    finally:
        out = serve.stop()
    assert "a send still waiting for its MMSC was left" in out and out.rstrip().endswith("stopped"), out


def test_under_systemd_the_log_is_written_as_the_journal_reads_it(tmp_path):
    """stderr being the journal (JOURNAL_STREAM names it): no timestamp of our own (the journal
    stamps lines), and each line's syslog priority as <N>, so `journalctl -p warning` finds them."""
    import tempfile

    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    store = mm7.SqliteStore(tmp_path / "vasp.db")  # (for a warning at the start)
    store.accept(kind="DeliverReq", transaction_id="t-1", message_id=None, recipient=None, status=None, peer="p",
                 content_type="text/xml", body=b"<x/>", tid_key="DeliverReq|t-1", report_key=None)
    store.close()
    outputs = []
    for journal in (True, False):
        with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
            st = os.fstat(out.fileno())
            stream = f"{st.st_dev}:{st.st_ino}" if journal else f"{st.st_dev}:{st.st_ino + 1}"
            proc = subprocess.Popen([sys.executable, "-m", "mm7bind.cli", "serve", "--config", str(tmp_path / "cfg.toml"),
                                     "--port", "0", "--out", str(tmp_path / "in")], stdout=out,
                                    stderr=subprocess.STDOUT, text=True, cwd=ROOT, env={**ENV, "JOURNAL_STREAM": stream})

            def written() -> str:
                out.seek(0)
                return out.read()

            try:
                _until(lambda: "Ctrl-C stops" in written(), "serve starts")
            finally:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=60) == 0
            outputs.append(written().splitlines())
    journal_lines, plain_lines = outputs
    logged = [line for line in journal_lines if line.startswith("<")]
    assert logged[0].startswith("<4>WARNING mm7bind.serve messages a stopped run left half-handled"), journal_lines
    assert logged[1].startswith("<6>INFO mm7bind.serve stopping") and logged[-1] == "<6>INFO mm7bind.serve stopped"
    # (stdout and stderr both the journal's: the start is stdout's line alone, not logged too)
    assert sum("receiving MM7 at" in line for line in journal_lines) == 1, journal_lines
    assert not any(line.startswith("<") for line in plain_lines)
    assert any(line.endswith("INFO mm7bind.serve stopped") and line[:4].isdigit() for line in plain_lines)


def test_logging_settings_that_would_fail_at_start_or_on_every_line_are_configuration_errors(tmp_path):
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n[logging]\n'
                                       f'file = "{tmp_path / "mm7.log"}"\nrotate = "time"\nwhen = "weekly"\n'
                                       'format = "%(asctime)s %(levell)s %(message)s"\n', encoding="utf-8")
    checked = run("config", "check", str(tmp_path / "cfg.toml"))
    assert checked.returncode == 3 and "2 error(s)" in checked.stdout, checked.stdout
    assert "logging.when: must be S, M, H, D, midnight or W0-W6" in checked.stdout
    assert "logging.format: '%(asctime)s %(levell)s %(message)s' cannot format a line" in checked.stdout
    served = run("serve", "--port", "0", "--config", str(tmp_path / "cfg.toml"))
    assert served.returncode == 3 and "Traceback" not in served.stderr and "logging.when" in served.stderr


def test_the_systemd_unit_does_not_restart_serve_on_a_configuration_error(tmp_path):
    """Restart=on-failure restarted `serve` with a broken configuration until systemd's start
    limit: the exit status serve gives a configuration error stops it at once."""
    from mm7bind.cli import EXIT_CONFIG, EXIT_USAGE

    unit = (ROOT / "examples" / "mm7bind.service").read_text(encoding="utf-8")
    settings = [line.partition("=") for line in unit.splitlines() if "=" in line and not line.startswith("#")]
    service = {name: value for name, _, value in settings}
    assert service["Restart"] == "on-failure"
    prevented = service["RestartPreventExitStatus"].split()
    assert str(EXIT_CONFIG) in prevented and str(EXIT_USAGE) in prevented
    assert service["UMask"] == "0027"  # saved messages readable by the service's group at most
    broken = tmp_path / "mm7bind.toml"
    broken.write_text("[receiver]\nport = \"eighty\"\n", encoding="utf-8")
    assert run("serve", "--config", str(broken), "--port", "0").returncode == EXIT_CONFIG
    broken.write_text("[receiver\n", encoding="utf-8")
    assert run("serve", "--config", str(broken), "--port", "0").returncode == EXIT_CONFIG
    assert run("serve", "--config", str(tmp_path / "missing.toml")).returncode == EXIT_CONFIG


def test_a_tagged_send_to_one_recipient_run_again_is_not_sent_again(simulator, tmp_path):
    """`mm7bind send --to N --tag T` from a cron job that runs twice, or run again after a timeout:
    one recipient is a campaign of one, and the MMSC's acceptance under the tag is not repeated."""
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    send = ("send", "--config", str(tmp_path / "c.toml"), "--mmsc", simulator.url, "--to", "+8613800000000",
            "--text", "once", "--tag", "reminder-42")
    first = run(*send)
    assert first.returncode == 0 and first.stdout.strip() == messages(simulator)[0]["message_id"], first.stderr
    again = run(*send)
    assert again.returncode == 0 and again.stdout.startswith("skipped: +8613800000000"), again.stdout + again.stderr
    skipped = json.loads(run(*send, "--json").stdout)
    assert skipped["ok"] is True and skipped["skipped"] is True and skipped["tag"] == "reminder-42"
    assert skipped["message_id"] is None and skipped["error"] is None  # (the keys of every single send, too)
    assert len(messages(simulator)) == 1
    other = run(*send[:-1], "reminder-43")  # another tag: another message
    assert other.returncode == 0 and len(messages(simulator)) == 2


def test_a_configuration_path_that_is_a_folder_is_a_problem_not_a_traceback(tmp_path):
    proc = run("config", "check", str(tmp_path))
    assert proc.returncode == 3 and "cannot read: Is a directory" in proc.stdout, proc.stdout + proc.stderr
    proc = run("send", "--config", str(tmp_path), "--to", "1")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr and "cannot read" in proc.stderr


def test_mo_json_gives_its_object_when_no_simulator_answered_too():
    """`mo --json` printed nothing on stdout when it reached no simulator, or something else (a
    script reading its JSON found none): its one object, as `send --json`, with the error; the
    exit codes as without --json."""
    from .fake_http import dead_url

    with mm7.serve(mm7.Receiver(), port=0) as srv:  # a VASP's receiver: its answers are no JSON
        for url, code, said in ((dead_url(), 4, "cannot reach the simulator at"),
                                (srv.url, 1, "is not an mm7bind simulator")):
            proc = run("mo", "--simulator", url, "--json")
            assert (proc.returncode, proc.stderr) == (code, ""), proc.stderr
            outcome = json.loads(proc.stdout)
            assert (outcome["operation"], outcome["status"]) == ("DeliverReq", None) and said in outcome["error"]


def test_mo_interrupted_says_the_simulator_may_send_the_mo_all_the_same():
    """Ctrl-C while the simulator waits for the VASP said "mm7bind mo: interrupted", and --json gave
    no JSON: the simulator goes on with the MO, which may reach the VASP all the same."""
    from .fake_http import FakeServer, Reply

    arrived, release = threading.Event(), threading.Event()

    def hold(req):  # a simulator waiting for a VASP that does not answer
        arrived.set()
        release.wait(60)
        return Reply(503)

    with FakeServer(hold) as srv:
        try:
            for extra in (["--json"], []):
                arrived.clear()
                proc = subprocess.Popen([*CTRL_C_ABLE, "mo", "--simulator", srv.url, *extra], cwd=ROOT, env=ENV,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                assert arrived.wait(30)
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=30)
                assert proc.returncode == 130 and "Traceback" not in err, err
                said = json.loads(out)["error"] if extra else err
                assert "interrupted before the simulator's outcome: it may have sent the MO" in said, out + err
        finally:
            release.set()


def test_mo_exits_4_by_send_s_rule_when_a_proxy_before_the_simulator_finds_none():
    """A proxy before the simulator answering 502, 503 or 504 (none behind it, or too slow) read as
    "not an mm7bind simulator ... without JSON", exit 1, where send exits 4 for the same from an
    MMSC's gateway: now it is said as no answer, exit 4 (--json: its one object)."""
    from .fake_http import Reply

    for status in (502, 503, 504):
        with FakeServer(lambda req, status=status: Reply(status, b"<html>no upstream</html>")) as proxy:
            proc = run("mo", "--simulator", proxy.url, "--text", "hi")
            assert proc.returncode == 4 and "Traceback" not in proc.stderr, (status, proc.stderr)
            assert proc.stderr.startswith("mm7bind mo: the simulator at http://127.0.0.1:") and \
                f" did not answer: HTTP {status} " in proc.stderr, proc.stderr
            assert "not an mm7bind simulator" not in proc.stderr, proc.stderr
            proc = run("mo", "--simulator", proxy.url, "--json")
            outcome = json.loads(proc.stdout)
            assert proc.returncode == 4 and outcome["status"] is None and f"HTTP {status}" in outcome["error"]


def test_mo_aimed_at_something_that_is_not_a_simulator_says_so(tmp_path):
    with mm7.serve(mm7.Receiver(), port=0) as srv:  # a VASP's receiver: its answers are no JSON
        proc = run("mo", "--simulator", srv.url + "/mm7", "--text", "hi")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "is not an mm7bind simulator" in proc.stderr and "HTTP 404" in proc.stderr


def test_an_mo_address_that_is_none_is_a_usage_error_not_a_traceback_later():
    """simulate --mo-to abc started, and its MO, sent from a thread after --mo-after, ended in a
    traceback; mo --to and probe --to sent it for the simulator or the VASP to find wrong. Each is
    refused as `send --to` refuses it: one line, exit 2, nothing started."""
    sim = ("simulate", "--port", "0", "--vasp-url", "http://127.0.0.1:9/mm7", "--mo-text", "hi", "--mo-after", "0")
    for args in ((*sim, "--mo-to", "abc"), (*sim, "--mo-from", "ShortCode:"),
                 ("mo", "--simulator", "http://127.0.0.1:9", "--to", "abc"),
                 ("mo", "--simulator", "http://127.0.0.1:9", "--from", "Number: "),
                 ("probe", "http://127.0.0.1:9/mm7", "--to", "abc")):
        proc = run(*args, timeout=30)  # (simulate, started, runs until stopped)
        said = proc.stderr.splitlines()[-1]
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert said.startswith(f"mm7bind {args[0]}: error: argument --") and (
            "is no phone number, short code or e-mail address" in said or "and no address after it" in said), said


def test_mo_says_its_outcome_in_a_line_and_gives_the_simulators_json_with_json():
    """mo printed the simulator's JSON whatever came of it (exit 0 when the VASP refused it):
    a line now, on stdout when the VASP took it, else on stderr, exit 1; --json as before."""
    from mm7bind.simulator import Simulator
    from mm7bind.testing import RunningReceiver

    with Simulator() as sim, RunningReceiver() as vasp:
        proc = run("mo", "--simulator", sim.server.url)  # (no VASP URL: the simulator's own 400)
        assert proc.returncode == 1 and proc.stdout == "", proc.stdout
        assert proc.stderr.startswith("mm7bind mo: the simulator did not send it: no VASP URL configured"), proc.stderr
        # (what to give it for the receiver a first try runs beside it: serve as it starts by default)
        assert "simulate --vasp-url http://127.0.0.1:8080/mm7" in proc.stderr, proc.stderr
        # (--json: the object of every failure, the hint in it; the simulator's {"error"} alone had
        # no operation nor status, and no hint)
        proc = run("mo", "--simulator", sim.server.url, "--json")
        outcome = json.loads(proc.stdout)
        assert proc.returncode == 1 and proc.stderr == "" and (outcome["operation"], outcome["status"]) == (
            "DeliverReq", None), proc.stdout
        assert outcome["error"].startswith("the simulator did not send it: no VASP URL configured"), outcome
        assert "simulate --vasp-url http://127.0.0.1:8080/mm7" in outcome["error"], outcome
        sim.config.vasp_url = vasp.url
        proc = run("mo", "--simulator", sim.server.url, "--linked-id", "L-1")
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        [line] = proc.stdout.splitlines()
        tid = sim.mo_sent[-1]["transaction_id"]
        assert line == f"delivered: the VASP answered 1000 Success (TransactionID {tid}, LinkedID L-1, 1 attempt)"
        proc = run("mo", "--simulator", sim.server.url, "--json")
        assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == 1000, proc.stdout
        vasp.on("deliver", lambda msg, ctx: mm7.Status(4004))  # (the VASP refusing it in its answer)
        proc = run("mo", "--simulator", sim.server.url)
        assert proc.returncode == 1 and proc.stdout == "", proc.stdout
        assert proc.stderr.startswith("mm7bind mo: refused: the VASP answered 4004 "), proc.stderr

        def fault(msg, ctx):
            raise mm7.Reject(2001, "no such service")

        vasp.on("deliver", fault)  # (or in a Fault)
        proc = run("mo", "--simulator", sim.server.url)
        assert proc.returncode == 1 and proc.stdout == "", proc.stdout
        assert proc.stderr.startswith("mm7bind mo: refused: FaultError: ") and "2001" in proc.stderr, proc.stderr
        sim.config.vasp_url = f"http://127.0.0.1:{refused_port()}/mm7"
        proc = run("mo", "--simulator", sim.server.url)
    assert proc.returncode == 1 and proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("mm7bind mo: not delivered: ConnectError: cannot connect to"), proc.stderr
    assert "2 attempts)" in proc.stderr


def test_mo_aimed_at_nothing_says_so_in_one_line_naming_the_command():
    # (it was requests' repr: "HTTPConnectionPool(host=...): Max retries exceeded with url: ...")
    proc = run("mo", "--simulator", f"http://127.0.0.1:{refused_port()}")
    assert proc.returncode == 4 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("mm7bind mo: cannot reach the simulator at http://127.0.0.1:")
    assert "Connection refused" in proc.stderr and "Max retries" not in proc.stderr and "Pool" not in proc.stderr
    # (what to look at, as send says it: the library's words alone left the user guessing)
    assert "nothing listens at 127.0.0.1:" in proc.stderr and "is `mm7bind simulate` running" in proc.stderr


def test_send_queue_json_is_one_object_with_the_outbox_ids(tmp_path):
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    proc = run("send", "--config", str(tmp_path / "c.toml"), "--to", "1", "--to", "2", "--to", "2", "--text", "x",
               "--queue", "--at", "2030-01-01T09:00+08:00", "--tag", "q", "--json")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["queued"] == 2 and answer["skipped"] == 0 and answer["repeated"] == 1
    assert answer["at"] == "2030-01-01T09:00:00+08:00"
    held = json.loads(run("store", "outbox", "--config", str(tmp_path / "c.toml"), "--json").stdout)
    assert answer["items"] == {item["recipients"][0]: item["id"] for item in held}
    again = json.loads(run("send", "--config", str(tmp_path / "c.toml"), "--to", "1", "--text", "x", "--queue",
                           "--tag", "q", "--json").stdout)
    assert again["queued"] == 0 and again["skipped"] == 1 and again["items"] == {}
    plain = run("send", "--config", str(tmp_path / "c.toml"), "--to", "3", "--text", "x", "--queue")
    assert plain.stdout.startswith("queued 1 message(s) in "), plain.stdout
    # (prefixed as send's other notes are: it said a bare "note:")
    assert plain.stderr.startswith("mm7bind send: note: [outbox] enabled is false here: "), plain.stderr


# `mm7bind send` whose outbox commits are watched: after the one numbered in argv[1], a SIGINT (as
# Ctrl-C) is sent ("ignored": to a process that ignores it, as a script's background job does), or
# a store error raised ("full"); the batches are two messages each.
QUEUE_WATCHED = """
import os, signal, sqlite3, sys
import mm7bind.bulk, mm7bind.store
from mm7bind.cli import main
signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[2] == "ignored" else signal.default_int_handler)
mm7bind.bulk.QUEUE_BATCH = 2
put_many, commits = mm7bind.store.SqliteStore.outbox_put_many, []
def watched(self, entries, **kw):
    if sys.argv[2] == "full" and len(commits) == int(sys.argv[1]):
        raise sqlite3.OperationalError("database or disk is full")
    commits.append(put_many(self, entries, **kw))
    if sys.argv[2] in ("ctrl-c", "ignored") and len(commits) == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGINT)
    return commits[-1]
mm7bind.store.SqliteStore.outbox_put_many = watched
sys.exit(main(sys.argv[3:]))
"""


def test_an_interrupted_send_queue_says_what_it_committed_and_what_running_again_does(tmp_path):
    """Ctrl-C while a campaign was queued said "interrupted" alone: whether any batch was in the
    outbox (and would be sent), and what the same command would do again, was the user's guess.
    Now the batch being committed is finished, and the counts said; so too when the store fails
    after some batches."""
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    send = ["send", "--config", str(tmp_path / "c.toml"), "--text", "x", "--queue",
            *(arg for i in range(1, 6) for arg in ("--to", f"+861380000000{i}"))]

    def watched(after: int, what: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", QUEUE_WATCHED, str(after), what, *args], capture_output=True,
                              text=True, cwd=ROOT, env=ENV, timeout=120)

    proc = watched(2, "ctrl-c", *send, "--tag", "camp")
    assert proc.returncode == 130, proc.stderr
    assert proc.stdout.startswith("queued 4 message(s) in ")
    assert ("mm7bind send: interrupted: 4 message(s) committed to the outbox in 2 batch(es) before it stopped (they "
            "will be sent); 1 recipient not queued; `--queue --tag camp` again queues only those") in proc.stderr
    proc = run(*send, "--tag", "camp")
    assert proc.returncode == 0 and "queued 1 message(s)" in proc.stdout and "skipped 4 recipients" in proc.stdout
    proc = watched(1, "ctrl-c", *send, "--json")  # (untagged: running again queues them all again)
    assert proc.returncode == 130, proc.stderr
    answer = json.loads(proc.stdout)
    assert (answer["queued"], answer["batches"], answer["interrupted"], answer["not_queued"]) == (2, 1, True, 3)
    assert "the same command again would queue every recipient again" in proc.stderr
    proc = watched(1, "full", *send, "--tag", "other")
    assert proc.returncode == 2, proc.stderr
    # (what was committed is said in the same words as after an interrupt, one sentence for both)
    assert proc.stderr == ("mm7bind send: stopped: the store failed: database or disk is full\n"
                           "mm7bind send: 2 message(s) committed to the outbox in 1 batch(es) before it stopped (they "
                           "will be sent); 3 recipients not queued; `--queue --tag other` again queues only those\n")
    proc = watched(0, "full", *send, "--tag", "none")
    assert proc.returncode == 2 and proc.stderr.startswith("mm7bind send: not queued: the store failed: "), proc.stderr
    proc = watched(1, "ignored", *send, "--tag", "background")  # (ignored, it stays so)
    assert proc.returncode == 0 and "queued 5 message(s)" in proc.stdout, proc.stderr
    store = mm7.SqliteStore(tmp_path / "vasp.db")
    assert len(store.outbox()) == 5 + 2 + 2 + 5
    store.close()


def test_the_progress_bar_counts_whom_it_sends_to(simulator, tmp_path):
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    (tmp_path / "to.csv").write_text("1\n2\n2\n3\n", encoding="utf-8")  # one listed twice: sent once
    proc = run("send", "--config", str(tmp_path / "c.toml"), "--mmsc", simulator.url, "--to-file",
               str(tmp_path / "to.csv"), "--tag", "p", "--text", "x")
    progress = [line for line in proc.stderr.splitlines() if line.startswith("[")]
    assert progress[-1].startswith("[" + "#" * 30 + "] 3/3 sent 3 failed 0"), proc.stderr
    (tmp_path / "to.csv").write_text("1\n2\n3\n4\n", encoding="utf-8")  # three already have it under the tag
    proc = run("send", "--config", str(tmp_path / "c.toml"), "--mmsc", simulator.url, "--to-file",
               str(tmp_path / "to.csv"), "--tag", "p", "--text", "x")
    progress = [line for line in proc.stderr.splitlines() if line.startswith("[")]
    assert progress[-1].startswith("[" + "#" * 30 + "] 1/1 sent 1 failed 0"), proc.stderr
    summary = json.loads(run("store", "sent", "--config", str(tmp_path / "c.toml"), "--tag", "p", "--summary",
                             "--json").stdout)
    # Every key, also before the first report: a script reads summary["delivery"] without a guard.
    assert summary == {"tag": "p", "requests": 4, "accepted": 4, "earlier_unanswered": 0, "refused": 0, "failed": 0,
                       "may_have_arrived": 0,
                       "recipients": 4,
                       "delivery": {}, "awaiting": 0, "not_asked": 4, "read": {}, "queued": 0}  # (no --delivery-report)


def test_a_campaigns_summary_counts_the_recipients_still_queued(tmp_path):
    """`send --tag T --queue` then `store sent --tag T --summary` said "0 recipients": those queued
    in the outbox, not sent yet, were nowhere in it."""
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    queued = run("send", "--config", str(tmp_path / "c.toml"), "--to", "1", "--to", "2", "--text", "x", "--queue",
                 "--tag", "q")
    assert queued.returncode == 0, queued.stderr
    proc = run("store", "sent", "--config", str(tmp_path / "c.toml"), "--tag", "q", "--summary")
    assert proc.stdout.splitlines() == ["tag q: 0 SubmitReq: 0 accepted, 0 refused, 0 without answer",
                                        "0 recipients: no report yet 0",
                                        "2 recipients queued in the outbox, not sent yet (see store outbox)"], proc
    summary = json.loads(run("store", "sent", "--config", str(tmp_path / "c.toml"), "--tag", "q", "--summary",
                             "--json").stdout)
    assert summary["queued"] == 2 and summary["requests"] == 0


def test_a_tls_key_not_matching_its_certificate_is_said_as_such(tmp_path):
    """serve named the port ("cannot listen on …: KEY_VALUES_MISMATCH") for a key of another
    certificate: an operator looked for what held the port."""
    trustme = pytest.importorskip("trustme")
    one, other = trustme.CA().issue_cert("127.0.0.1"), trustme.CA().issue_cert("127.0.0.1")
    one.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    other.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    (tmp_path / "cfg.toml").write_text(
        f'[store]\npath = "{tmp_path / "vasp.db"}"\n[receiver]\nport = 0\n'
        f'tls_cert = "{tmp_path / "cert.pem"}"\ntls_key = "{tmp_path / "key.pem"}"\n', encoding="utf-8")
    proc = run("serve", "--config", str(tmp_path / "cfg.toml"))
    assert proc.returncode == 3, proc.stderr
    assert "cannot use the TLS certificate" in proc.stderr and "KEY_VALUES_MISMATCH" in proc.stderr
    assert "cannot listen" not in proc.stderr and "Traceback" not in proc.stderr


def test_serve_can_require_the_mmscs_client_certificate(tmp_path):
    """Serving TLS itself, the receiver could not ask for a client certificate: a VASP whose MMSC
    authenticates with one (mutual TLS) needed a proxy in front. [receiver] tls_client_ca: only
    clients presenting a certificate that CA signed get as far as HTTP."""
    from mm7bind import config

    write_mutual_tls(tmp_path)
    text = (f'[store]\npath = "{tmp_path / "vasp.db"}"\n[receiver]\nout_dir = "{tmp_path / "in"}"\n'
            f'tls_cert = "{tmp_path / "cert.pem"}"\ntls_key = "{tmp_path / "key.pem"}"\n')
    path = tmp_path / "cfg.toml"

    def loaded(extra: str):
        path.write_text(text + extra, encoding="utf-8")
        cfg, problems = config.load(path)
        return cfg, [str(p) for p in problems if "tls" in str(p)]

    cfg, problems = loaded(f'tls_client_ca = "{tmp_path / "mmsc-ca.pem"}"\n')
    assert problems == []
    got = []

    @(rcv := mm7.Receiver()).on("deliver")
    def on_deliver(msg, ctx):
        got.append(msg.subject)

    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="mutual"), transaction_id="mtls-1")
    with mm7.serve(rcv, port=0, ssl_context=cfg.ssl_context()) as srv:
        def post(cert):
            return requests.post(srv.endpoint, data=out.to_bytes(), headers=out.headers, timeout=10,
                                 verify=str(tmp_path / "server-ca.pem"), cert=cert)

        for cert in (None, str(tmp_path / "stranger.pem")):
            with pytest.raises(requests.exceptions.ConnectionError):
                post(cert)
        assert got == []
        assert post(str(tmp_path / "mmsc.pem")).status_code == 200 and got == ["mutual"]

    (tmp_path / "not-a-ca.pem").write_text("nothing", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    [said] = loaded(f'tls_client_ca = "{tmp_path / "not-a-ca.pem"}"\n')[1]
    assert said.startswith(f"error: receiver.tls_client_ca: cannot read CA certificates from "
                           f"{str(tmp_path / 'not-a-ca.pem')!r}: [X509: NO_CERTIFICATE_OR_CRL_FOUND]")
    assert loaded(f'tls_client_ca = "{tmp_path / "empty"}"\n')[1] == [
        f"error: receiver.tls_client_ca: {str(tmp_path / 'empty')!r} holds no CA certificate named by its hash "
        "(c_rehash, openssl rehash)"]
    assert loaded(f'tls_client_ca = "{tmp_path / "gone.pem"}"\n')[1] == [
        f"error: receiver.tls_client_ca: no such file or folder: {tmp_path / 'gone.pem'}"]
    # Client certificates are credentials: listening beyond loopback with them alone is no warning.
    path.write_text(text + f'host = "0.0.0.0"\ntls_client_ca = "{tmp_path / "mmsc-ca.pem"}"\n', encoding="utf-8")
    assert [str(p) for p in config.load(path)[1] if "beyond loopback" in str(p)] == []
    path.write_text(text + 'host = "0.0.0.0"\n', encoding="utf-8")
    assert [str(p) for p in config.load(path)[1] if "beyond loopback" in str(p)] == [
        "warning: receiver: listening beyond loopback with neither auth, an allow-list nor client certificates"]
    path.write_text(f'[receiver]\ntls_client_ca = "{tmp_path / "mmsc-ca.pem"}"\n', encoding="utf-8")
    assert [str(p) for p in config.load(path)[1] if "tls" in str(p)] == [
        "error: receiver.tls_client_ca: client certificates are asked for by a receiver serving TLS itself "
        "(tls_cert, tls_key); behind a proxy, the proxy asks for them"]
    path.write_text(text + f'port = 0\ntls_client_ca = "{tmp_path / "not-a-ca.pem"}"\n',
                    encoding="utf-8")
    proc = run("serve", "--config", str(path))
    assert proc.returncode == 3 and "error: receiver.tls_client_ca: cannot read CA" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_send_api_at_slash_is_refused_beside_a_receiver_at_any_path(tmp_path):
    """The send API takes every path under its own: at "/", beside receiver.path = "*", every
    MMSC request went to it, and none was ever taken."""
    from mm7bind import config

    path = tmp_path / "cfg.toml"

    def problems(receiver_path: str, api_path: str) -> list[str]:
        path.write_text(f'[receiver]\npath = "{receiver_path}"\n[api]\npath = "{api_path}"\ntoken = "k"\n',
                        encoding="utf-8")
        return [str(p) for p in config.load(path)[1] if "api.path" in str(p)]

    assert problems("*", "/") == [
        'error: api.path: / takes every path, so the receiver at any path (receiver.path = "*") would get none']
    assert problems("*", "/api") == []  # (the receiver has the rest)
    assert problems("/mm7", "/") != []  # (as before: it holds /mm7)


def test_sighup_reads_the_client_ca_again_and_keeps_serving_when_it_cannot(tmp_path, caplog):
    import logging

    from mm7bind import config
    from mm7bind.cli import _reopen_logs

    trustme = pytest.importorskip("trustme")
    server_ca, mmsc_ca = trustme.CA(), trustme.CA()
    issued = server_ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    issued.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    mmsc_ca.cert_pem.write_to_path(str(tmp_path / "mmsc-ca.pem"))
    path = tmp_path / "cfg.toml"
    path.write_text(f'[receiver]\ntls_cert = "{tmp_path / "cert.pem"}"\ntls_key = "{tmp_path / "key.pem"}"\n'
                    f'tls_client_ca = "{tmp_path / "mmsc-ca.pem"}"\n', encoding="utf-8")
    cfg, _ = config.load(path)
    caplog.set_level(logging.INFO, logger="mm7bind.serve")
    with mm7.serve(mm7.Receiver(), port=0, ssl_context=cfg.ssl_context()) as srv:
        first = srv.ssl_context
        _reopen_logs(cfg, srv)
        assert srv.ssl_context is not first and srv.ssl_context.verify_mode == ssl.CERT_REQUIRED
        renewed = srv.ssl_context
        (tmp_path / "mmsc-ca.pem").write_text("half written", encoding="utf-8")
        _reopen_logs(cfg, srv)
        assert srv.ssl_context is renewed
    assert "SIGHUP: receiver.tls_client_ca: cannot read CA certificates from" in caplog.text
    assert "still serving with the one read before" in caplog.text
    # The INFO line after the failed reload says so, not "nothing to do" (as if nothing had been tried).
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "SIGHUP" in r.getMessage()]
    assert infos[0] == f"SIGHUP: TLS certificate {tmp_path / 'cert.pem'} read again"
    assert infos[1] == ("SIGHUP: TLS settings not read again: still serving with the ones read before "
                        "(see the error above)"), infos


def test_serve_reads_a_renewed_tls_certificate_on_sighup(tmp_path):
    """A renewed certificate (certbot's deploy hook, an expiring one replaced) needed a restart:
    SIGHUP only opened the log again. Now the connections after it get the new one; files that
    cannot be used leave the one in use, said in the log."""
    import ssl

    trustme = pytest.importorskip("trustme")
    cas = [trustme.CA(), trustme.CA()]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"

    def install(ca) -> None:
        issued = ca.issue_cert("127.0.0.1")
        issued.private_key_pem.write_to_path(str(key))
        issued.cert_chain_pems[0].write_to_path(str(cert))

    def trusted_by(ca) -> bool:
        client = ssl.create_default_context()
        ca.configure_trust(client)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                    client.wrap_socket(raw, server_hostname="127.0.0.1"):
                return True
        except ssl.SSLCertVerificationError:
            return False

    install(cas[0])
    log_file = tmp_path / "serve.log"
    (tmp_path / "cfg.toml").write_text(
        f'[store]\npath = "{tmp_path / "vasp.db"}"\n[receiver]\nport = 0\n'
        f'out_dir = "{tmp_path / "in"}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        f'[logging]\nfile = "{log_file}"\nrotate = "none"\n',
        encoding="utf-8")
    serve = Background("serve", "--config", str(tmp_path / "cfg.toml"))
    try:
        _until(lambda: log_file.exists() and "receiving MM7 at" in log_file.read_text(encoding="utf-8"),
               "serve has started")
        port = serve.port()
        assert trusted_by(cas[0]) and not trusted_by(cas[1])
        install(cas[1])
        serve.proc.send_signal(signal.SIGHUP)
        _until(lambda: "read again" in log_file.read_text(encoding="utf-8"), "the certificate is read again")
        assert trusted_by(cas[1]) and not trusted_by(cas[0])
        key.write_text("no key")  # (half-written files, say): the certificate in use stays
        serve.proc.send_signal(signal.SIGHUP)
        _until(lambda: "cannot be used" in log_file.read_text(encoding="utf-8"), "the failure is said")
        assert trusted_by(cas[1]) and serve.proc.poll() is None
    finally:
        serve.stop()
    said = log_file.read_text(encoding="utf-8")
    assert (f"INFO mm7bind.serve SIGHUP: log file {log_file} opened again; TLS certificate {cert} read again"
            in said)
    assert f"ERROR mm7bind.serve SIGHUP: the TLS certificate {cert} cannot be used with its key (" in said
    assert "still serving the one read before" in said


def test_the_simulator_delivers_to_a_tls_vasp_whose_ca_it_is_given(tmp_path):
    ctx = local_tls(tmp_path).server
    got = []

    class Inbox(mm7.Handler):
        def on_deliver(self, msg, ctx):
            got.append(msg.subject)

    with mm7.serve(mm7.Receiver(Inbox()), port=0, ssl_context=ctx) as srv:
        for trust, expected in (([], []), (["--vasp-ca", str(tmp_path / "ca.pem")], ["over TLS"])):
            sim = Background("simulate", "--port", "0", "--vasp-url", srv.url + "/mm7", *trust,
                             "--mo-text", "x", "--mo-subject", "over TLS", "--mo-after", "0.2")
            try:
                _until(lambda: "DeliverReq tid=" in sim.output() or got, "the MO is sent or fails")
            finally:
                sim.stop()
            assert got == expected, sim.output()
    proc = run("simulate", "--vasp-url", "https://127.0.0.1:9/mm7", "--vasp-ca", str(tmp_path / "none.pem"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_the_simulator_presents_its_client_certificate_to_a_serve_requiring_one(tmp_path):
    """`simulate --vasp-cert [--vasp-key]`: a VASP serving with [receiver] tls_client_ca got nothing
    from the simulator, which had no certificate to present."""
    from .test_simulator_outgoing import mutual_tls_receiver_config

    cfg = mutual_tls_receiver_config(tmp_path)
    got = []

    @(rcv := mm7.Receiver()).on("deliver")
    def on_deliver(msg, ctx):
        got.append(msg.subject)

    with mm7.serve(rcv, port=0, ssl_context=cfg.ssl_context()) as srv:
        for cert, expected in (([], []), (["--vasp-cert", str(tmp_path / "mmsc-cert.pem"),
                                           "--vasp-key", str(tmp_path / "mmsc-key.pem")], ["mutual"])):
            sim = Background("simulate", "--port", "0", "--vasp-url", srv.endpoint,
                             "--vasp-ca", str(tmp_path / "server-ca.pem"), *cert, "--report-attempts", "1",
                             "--mo-text", "x", "--mo-subject", "mutual", "--mo-after", "0.2")
            try:
                _until(lambda sim=sim: "DeliverReq tid=" in sim.output() or got, "the MO is sent or fails")
            finally:
                sim.stop()
            assert got == expected, sim.output()
    proc = run("simulate", "--vasp-key", str(tmp_path / "mmsc-key.pem"))
    assert proc.returncode == 2 and "--vasp-key goes with --vasp-cert" in proc.stderr
    proc = run("simulate", "--vasp-url", "https://127.0.0.1:9/mm7", "--vasp-cert",
               str(tmp_path / "server-ca.pem"))  # (a CA: no key in it)
    assert proc.returncode == 2 and "simulate: --vasp-cert: cannot load the client certificate" in proc.stderr


def test_pytest_fixtures_take_settings_from_markers(tmp_path):
    """A user's suite picks the simulator's dialect and the receiver's handler and settings with
    markers, and can change the dialect of a running simulator as it sets its vasp_url."""
    test = '''
import pytest
import requests
import mm7bind as mm7

class Mine(mm7.Handler):
    got = []

    def on_deliver(self, msg, ctx):
        self.got.append(msg.subject)

def submit():
    return mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], subject="s"), transaction_id="t")

@pytest.mark.mm7_simulator(dialect="mbuni", vasp_username="mmsc", vasp_password="pw")
@pytest.mark.mm7_receiver(handler=Mine(), auth=mm7.auth.BasicAuth("mmsc", "pw"))
def test_markers(mm7_simulator, mm7_receiver):
    with mm7.Client(mm7_simulator.url) as client:
        assert client.submit(mm7.SubmitReq(recipients=["+8613800000000"])).version.name == "REL-5-MM7-1-0"
    mm7_simulator.config.vasp_url = mm7_receiver.url
    mm7_simulator.deliver("+8613900000000", ["1065"], "mine", text="hi")
    assert Mine.got == ["mine"]

def test_dialect_changed_on_the_running_simulator(mm7_simulator):
    out = submit()
    assert "REL-6-MM7-1-4" in requests.post(mm7_simulator.url, data=out.to_bytes(), headers=out.headers).text
    mm7_simulator.config.dialect = "mbuni"
    assert "REL-5-MM7-1-0" in requests.post(mm7_simulator.url, data=out.to_bytes(), headers=out.headers).text
'''
    (tmp_path / "test_user.py").write_text(test, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
                           str(tmp_path / "test_user.py")], capture_output=True, text=True, cwd=tmp_path,
                          env={**ENV, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 passed" in proc.stdout


def test_a_refusal_in_a_submit_rsp_goes_to_stderr_as_one_in_a_fault_does():
    from .fake_http import FakeServer, mm7_reply

    def refuse(req):
        return mm7_reply(mm7.SubmitRsp(status=mm7.Status(2001), message_id="none"), req.decode())  # (MessageID required)

    with FakeServer(refuse) as srv:
        proc = run("send", "--mmsc", srv.url, "--to", "1", "--text", "x")
        assert proc.returncode == 1 and proc.stdout == "" and proc.stderr.startswith("mm7bind send: refused: 2001"), proc
        answer = json.loads(run("send", "--mmsc", srv.url, "--to", "1", "--json").stdout)
        assert answer["ok"] is False and answer["status"] == 2001


def test_send_prints_no_terminal_controls_from_the_mmscs_answer():
    from .fake_http import FakeServer, mm7_reply

    answers = iter([mm7.SubmitRsp(status=mm7.Status(1000), message_id="m\u009b2J\u202e1"),
                    mm7.SubmitRsp(status=mm7.Status(2001, "no\u009b31m"), message_id="none")])

    def reply(req):
        return mm7_reply(next(answers), req.decode())

    with FakeServer(reply) as srv:
        accepted = run("send", "--mmsc", srv.url, "--to", "1", "--text", "x")
        refused = run("send", "--mmsc", srv.url, "--to", "1", "--text", "x")
    assert accepted.returncode == 0 and accepted.stdout.strip() == "m\\x9b2J\\u202e1", accepted
    assert refused.returncode == 1 and refused.stderr == "mm7bind send: refused: 2001 no\\x9b31m\n", refused


def test_an_interrupted_send_names_the_transaction_the_mmsc_may_have_taken():
    import threading

    from .fake_http import FakeServer, Reply

    arrived, release, seen = threading.Event(), threading.Event(), []

    def hold(req):  # the MMSC has the request and has not answered yet
        seen.append(req.decode().transaction_id)
        arrived.set()
        release.wait(60)
        return Reply(503)

    with FakeServer(hold) as srv:
        try:
            for extra in (["--json"], []):
                arrived.clear()
                proc = subprocess.Popen([*CTRL_C_ABLE, "send", "--mmsc", srv.url, "--to", "1",
                                         *extra], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
                assert arrived.wait(30)
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=30)
                assert proc.returncode == 130 and "Traceback" not in err, err
                if extra:
                    answer = json.loads(out)
                    assert answer["ok"] is False and answer["error"] == "interrupted"
                    assert answer["transaction_id"] == seen[-1]
                else:
                    assert out == "" and f"TransactionID {seen[-1]}" in err and "may have taken" in err
        finally:
            release.set()


def test_a_send_that_got_no_answer_is_said_to_be_one_the_mmsc_may_have_taken():
    # (neither "refused" nor "not sent": its sender must not send it again as a new message)
    from .fake_http import FakeServer, Reply

    seen = []

    def lose(req):  # the MMSC has the request; the connection is lost before its answer
        seen.append(req.decode().transaction_id)
        return Reply(drop=True)

    with FakeServer(lose) as srv:
        proc = run("send", "--mmsc", srv.url, "--to", "1", "--text", "x")
    # (exit 4: no MMSC answered, as for a timeout or a refused connection, and a campaign failing alike)
    assert proc.returncode == 4 and proc.stdout == "" and len(set(seen)) == 1, proc.stderr
    assert proc.stderr.startswith("mm7bind send: no answer: HTTP exchange with "), proc.stderr
    assert proc.stderr.endswith(f" (the MMSC may have taken it: TransactionID {seen[0]})\n"), proc.stderr


def test_send_no_smil_sends_the_parts_as_multipart_mixed(tmp_path):
    from .fake_http import FakeServer

    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    (tmp_path / "show.smil").write_text("<smil><body/></smil>", encoding="utf-8")
    with FakeServer() as srv:
        for extra in ([], ["--no-smil"]):
            proc = run("send", "--mmsc", srv.url, "--to", "1", "--text", "hi", "--attach", str(tmp_path / "pic.png"),
                       *extra)
            assert proc.returncode == 0, proc.stderr
        generated, plain = (r.decode().body.content for r in srv.requests)
    assert generated.multipart_type == "related" and generated.smil is not None
    assert plain.multipart_type == "mixed" and plain.smil is None
    assert [p.content_type for p in plain.parts] == ["text/plain", "image/png"]
    proc = run("send", "--to", "1", "--no-smil", "--smil", str(tmp_path / "show.smil"))
    assert proc.returncode == 2 and "exclude each other" in proc.stderr


def test_serve_refuses_an_out_folder_it_cannot_write(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    proc = run("serve", "--config", str(tmp_path / "c.toml"), "--port", "0",
               "--out", str(tmp_path / "a-file" / "in"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"--out {tmp_path / 'a-file' / 'in'} cannot be created or written (Not a directory)" in proc.stderr
    assert not (tmp_path / "vasp.db").exists()  # refused before anything was opened


def test_a_message_that_cannot_be_built_is_a_usage_error_not_a_refusal():
    from .fake_http import FakeServer

    with FakeServer() as srv:
        proc = run("send", "--mmsc", srv.url, "--to", "1", "--subject", "bell\x07")
        assert proc.returncode == 2 and "cannot build the message" in proc.stderr and "U+0007" in proc.stderr
        assert not proc.stderr.startswith("mm7bind send: refused")
        answer = json.loads(run("send", "--mmsc", srv.url, "--to", "1", "--subject", "bell\x07", "--json").stdout)
        assert answer["ok"] is False and answer["error"] == "EncodeError"
        assert srv.requests == []  # nothing went out


def test_a_subject_typed_in_gbk_under_a_utf8_locale_is_said_so_not_an_xml_error():
    # A terminal (SecureCRT, Xshell) set to GBK on a server whose locale is UTF-8: the argument's
    # bytes are not UTF-8. It was "SubmitReq/Subject: character U+DCC4 cannot be sent in XML".
    from .fake_http import FakeServer

    gbk = "你好".encode("gbk")
    env = {**ENV, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    with FakeServer() as srv:
        proc = subprocess.run([sys.executable, "-m", "mm7bind.cli", "send", "--mmsc", srv.url, "--to", "1",
                               "--subject", gbk, "--text", "x"], capture_output=True, text=True, env=env,
                              timeout=120, check=False)
        assert proc.returncode == 2 and srv.requests == [], proc.stderr
    assert proc.stderr.startswith("mm7bind send: --subject holds bytes that are not utf-8"), proc.stderr
    assert "as GBK they read '你好'" in proc.stderr and "U+DC" not in proc.stderr


def test_fixtures_match_reports_to_what_a_client_sharing_the_receivers_store_sent(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    with mm7.Client(mm7_simulator.url, store=mm7_receiver.store) as client:
        r = client.submit(mm7.SubmitReq(recipients=["+8613800000000"], delivery_report=True), tag="doc")
    assert mm7_simulator.wait_idle()
    [(report, ctx)] = mm7_receiver.received
    assert report.message_id == r.message_id and ctx.sent.transaction_id == r.transaction_id
    assert ctx.sent.tag == "doc"


def test_replay_logs_as_serve_does_and_conn_config_needs_an_xml_configuration(tmp_path):
    db = stored_failure(tmp_path, "rp-log")
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n[receiver]\nout_dir = "{tmp_path / "out"}"\n'
                                       f'[logging]\nfile = "{tmp_path / "mm7.log"}"\n', encoding="utf-8")
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"))
    assert proc.returncode == 0 and "#1: handled" in proc.stdout, proc.stdout + proc.stderr
    assert "DeliverReq tid=rp-log" in (tmp_path / "mm7.log").read_text(encoding="utf-8")
    (tmp_path / "ConnConfig.xml").write_text("<connection><KeepAlive>off</KeepAlive></connection>", encoding="utf-8")
    for args in ([], ["--config", str(tmp_path / "cfg.toml")]):  # silently ignored, before
        proc = run("send", *args, "--conn-config", str(tmp_path / "ConnConfig.xml"), "--to", "1")
        assert proc.returncode == 2 and "--conn-config goes with a China Mobile mm7Config.xml" in proc.stderr
    proc = run("config", "check", str(tmp_path / "cfg.toml"), "--conn-config", str(tmp_path / "ConnConfig.xml"))
    assert proc.returncode == 2 and "--conn-config goes with a China Mobile mm7Config.xml" in proc.stderr


def test_replay_forwards_as_serve_forward_did(tmp_path):
    from .fake_http import FakeServer, Reply

    db = tmp_path / "vasp.db"
    store = mm7.SqliteStore(db)

    class Down(mm7.Handler):  # what forwarding to an application that is down amounts to
        def on_deliver(self, msg, ctx):
            raise mm7.Unavailable("the application is down")

    out = mm7.encode(mm7.DeliverReq(sender="1", subject="for the app"), transaction_id="fw-1")
    assert mm7.Receiver(Down(), store=store).handle(out.to_bytes(), out.content_type).status == 500
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    with FakeServer(lambda req: Reply(200, b"{}", {"Content-Type": "application/json"})) as app:
        proc = run("replay", "--config", str(tmp_path / "cfg.toml"), "--forward", app.url,
                   "--out", str(tmp_path / "unused"))
        assert proc.returncode == 0 and "#1: handled" in proc.stdout, proc.stdout + proc.stderr
        [posted] = app.requests
    assert json.loads(posted.body)["message"]["subject"] == "for the app"  # forwarded, not saved
    assert not (tmp_path / "unused").exists()


def test_the_plain_http_credentials_warning_is_said_by_what_sends_once(tmp_path):
    """Basic credentials over plain http concern sending: `send`, a `serve` that sends (its send
    API) and `config check` say it, once for all the MMSCs; commands that never send do not."""
    db, log_file = tmp_path / "vasp.db", tmp_path / "serve.log"
    mmscs = f'["http://127.0.0.1:{refused_port()}/mm7", "http://127.0.0.1:{refused_port()}/mm7"]'
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[mmsc]\nurls = {mmscs}\nusername = "sp"\npassword = "pw"\n[store]\npath = "{db}"\n'
                   f'[receiver]\nout_dir = "{tmp_path / "in"}"\n', encoding="utf-8")
    cfg.chmod(0o600)
    mm7.SqliteStore(db).close()
    warning = "Basic credentials over plain http can be read on the way"
    for command in (("store", "inbox"), ("store", "check"), ("replay",)):
        proc = run(*command, "--config", str(cfg))
        assert proc.returncode == 0 and warning not in proc.stdout + proc.stderr, (command, proc.stderr)
    proc = run("send", "--config", str(cfg), "--to", "1")
    assert proc.returncode == 4 and proc.stderr.count(warning) == 1, proc.stderr
    proc = run("config", "check", str(cfg))
    assert proc.stdout.count(warning) == 1 and "0 error(s), 1 warning(s)" in proc.stdout
    with cfg.open("a", encoding="utf-8") as f:
        f.write(f'[api]\npath = "/api"\n[logging]\nfile = "{log_file}"\n')
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("[receiver]\n", "[receiver]\nport = 0\n"),
                   encoding="utf-8")
    serve = Background("serve", "--config", str(cfg))
    try:
        serve.wait_for(f"http://127.0.0.1:{serve.port()}/mm7")
        _until(lambda: "receiving MM7 at" in log_file.read_text(encoding="utf-8"), "the start is logged")
    finally:
        out = serve.stop()
    assert log_file.read_text(encoding="utf-8").count(warning) == 1 and warning not in out  # (into its log)


def test_serve_logging_to_a_file_says_each_saved_message_there_not_on_stdout(tmp_path):
    """A daemon's standard output is not where a line per message goes: the configured log is."""
    log_file = tmp_path / "serve.log"
    (tmp_path / "cfg.toml").write_text(
        f'[receiver]\nport = 0\nout_dir = "{tmp_path / "in"}"\n[store]\npath = "{tmp_path / "vasp.db"}"\n'
        f'[logging]\nfile = "{log_file}"\n', encoding="utf-8")
    serve = Background("serve", "--config", str(tmp_path / "cfg.toml"))
    try:
        port = serve.port()
        serve.wait_for(f"http://127.0.0.1:{port}/mm7")
        with mm7.Client(f"http://127.0.0.1:{port}/mm7", role="mmsc") as mmsc:
            for n in range(3):
                assert mmsc.send(mm7.DeliverReq(sender="+8613900000000", subject=f"mo {n}")).ok
    finally:
        out = serve.stop()
    logged = log_file.read_text(encoding="utf-8")
    assert logged.count("INFO mm7bind.serve DeliverReq from +8613900000000") == 3, logged
    assert "DeliverReq from" not in out and "receiving MM7 at" in out, out


def test_warnings_are_about_what_runs_not_what_the_command_line_replaced(tmp_path):
    """--host, --out and --mmsc replace the file's settings: a warning is about what runs."""
    (tmp_path / "a-file").write_text("not a folder")
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[mmsc]\nurls = ["https://127.0.0.1:{refused_port()}/mm7"]\nusername = "sp"\npassword = "pw"\n'
                   f'[receiver]\nhost = "0.0.0.0"\nport = 0\nout_dir = "{tmp_path / "a-file" / "in"}"\n'
                   f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    cfg.chmod(0o600)
    checked = run("config", "check", str(cfg)).stdout
    assert "listening beyond loopback" in checked and "cannot be created or written" in checked
    serve = Background("serve", "--config", str(cfg), "--host", "127.0.0.1", "--out", str(tmp_path / "in"))
    try:
        serve.wait_for(f"http://127.0.0.1:{serve.port()}/mm7")
    finally:
        out = serve.stop()
    assert "receiving MM7 at" in out and "WARNING" not in out and "warning:" not in out, out
    plain = f"http://127.0.0.1:{refused_port()}/mm7"
    proc = run("send", "--config", str(cfg), "--mmsc", plain, "--to", "1")
    assert proc.returncode == 4 and f"Basic credentials over plain http can be read on the way: {plain}" in proc.stderr


def test_mo_reaches_a_loopback_simulator_whatever_proxy_the_environment_names():
    from mm7bind.simulator import Simulator
    from mm7bind.testing import RunningReceiver

    env = {**ENV, "http_proxy": f"http://127.0.0.1:{refused_port()}", "NO_PROXY": "", "no_proxy": ""}
    env["HTTP_PROXY"] = env["http_proxy"]
    with Simulator() as sim, RunningReceiver() as vasp:
        sim.config.vasp_url = vasp.url
        proc = subprocess.run([sys.executable, "-m", "mm7bind.cli", "mo", "--simulator", sim.server.url, "--json"],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False)
        assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == 1000, proc.stdout + proc.stderr
        assert [msg.ELEMENT for msg, _ in vasp.received] == ["DeliverReq"]


@pytest.mark.parametrize("module, spec, said", [
    ("import os\nX = os.environ['MM7BIND_TEST_NO_SUCH_VARIABLE']\n", "X", "raised KeyError: 'MM7BIND_TEST_NO_SUCH"),
    ("def f(:\n", "f", "raised SyntaxError: "),
    ("def make():\n    raise RuntimeError('database down')\n", "make", "make() raised RuntimeError: database down"),
    ("import mm7bind\nclass H(mm7bind.Handler):\n    def on_report(self, msg, ctx):\n        pass\n", "H",
     "H.on_report would never be called (did you mean on_delivery_report?)"),
    ("import mm7bind\nclass Inbox(mm7bind.Handler):\n    pass\n", "Inbx",
     "module 'userhandler' has no attribute 'Inbx' (did you mean Inbox?)"),
])
def test_a_handler_failing_as_it_is_loaded_is_one_line_and_exit_2_its_traceback_with_v(tmp_path, module, spec, said):
    """A --handler whose module fails as it is imported (or whose factory fails) ended serve with a
    Python traceback and exit 1: systemd restarted it over and over."""
    (tmp_path / "userhandler.py").write_text(module, encoding="utf-8")
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    for command in (["serve", "--port", "0"], ["replay"]):
        args = (*command, "--config", str(tmp_path / "c.toml"), "--handler", f"userhandler:{spec}")
        if command == ["replay"]:
            stored_failure(tmp_path, "h-1")
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 2, (command, proc.stderr)
        assert proc.stderr.startswith(f"mm7bind {command[0]}: cannot load userhandler:{spec}: "), proc.stderr
        assert said in proc.stderr and "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
        verbose = run(*args, "-v", cwd=tmp_path)
        assert verbose.returncode == 2 and "Traceback (most recent call last)" in verbose.stderr
        assert verbose.stderr.splitlines()[-1] == proc.stderr.strip()  # (the line last, where it is read)


def test_store_commands_with_v_show_the_traceback_behind_their_one_line_error(tmp_path):
    """-v was accepted by every store command and turned on nothing."""
    (tmp_path / "vasp.db").write_bytes(b"this is not SQLite" * 100)
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    for command in (["store", "inbox"], ["store", "sent"], ["store", "purge", "--older-than", "1d"]):
        quiet = run(*command, "--config", str(tmp_path / "c.toml"))
        assert quiet.returncode == 2 and "Traceback" not in quiet.stderr and "file is not a database" in quiet.stderr
        verbose = run(*command, "--config", str(tmp_path / "c.toml"), "-v")
        assert verbose.returncode == 2 and "Traceback (most recent call last)" in verbose.stderr, command
        assert "sqlite3.DatabaseError: file is not a database" in verbose.stderr
        assert verbose.stderr.splitlines()[-1] == quiet.stderr.strip()


def test_max_parts_is_a_setting_of_the_configuration(tmp_path):
    from mm7bind.config import load

    cfg, problems = load(None, env={"MM7BIND_MMSC_MAX_PARTS": "4"})
    assert problems == [] and cfg.profile().max_parts == 4 and cfg.client_settings()["profile"].max_parts == 4
    assert load(None, env={})[0].profile().max_parts == mm7.STANDARD.max_parts  # 0: the dialect's
    for bad in ("2", "-1"):
        assert [str(p) for p in load(None, env={"MM7BIND_MMSC_MAX_PARTS": bad})[1]] == [
            "error: MM7BIND_MMSC_MAX_PARTS (mmsc.max_parts): must be at least 3 (the SOAP part, the content, one part "
            "of it), or 0 for the dialect's limit"]
    (tmp_path / "c.toml").write_text(f'[mmsc]\nmax_parts = 4\n[store]\npath = "{tmp_path / "vasp.db"}"\n',
                                     encoding="utf-8")
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "b.txt").write_text("two")
    send = ("send", "--config", str(tmp_path / "c.toml"), "--to", "1", "--attach", str(tmp_path / "a.txt"),
            "--attach", str(tmp_path / "b.txt"), "--mmsc", f"http://127.0.0.1:{refused_port()}/mm7")
    proc = run(*send)  # the SOAP part, the content, its SMIL and two files: 5
    assert proc.returncode == 2 and "cannot build the message" in proc.stderr, proc.stderr
    assert "would have 5 MIME parts" in proc.stderr and "more than the 4" in proc.stderr
    assert run(*send, "--no-smil").returncode == 4  # 4 parts: built, and sent to no MMSC
    # Queued, with --json: the refusal is the command's one object on stdout, as a send's is; exit 2
    # as for a send (it was 1).
    queued = run(*send, "--queue", "--json")
    assert queued.returncode == 2 and queued.stderr == "", queued.stderr
    answer = json.loads(queued.stdout)
    assert answer["ok"] is False and answer["error"] == "EncodeError" and "5 MIME parts" in answer["message"]
    queued = run(*send, "--queue")
    assert queued.returncode == 2 and queued.stdout == ""
    assert queued.stderr.startswith("mm7bind send: cannot build the message (nothing queued): the message would "
                                    "have 5 MIME parts")


def test_a_configuration_with_what_no_url_parser_takes_is_said_not_raised(tmp_path):
    """A host with an unbalanced "[" or one NFKC turns into other characters, a number of thousands of
    digits: the file's problems, where the ValueError of urllib or of tomllib escaped load()."""
    from mm7bind.cmcc.config import NAMESPACE, read as read_cmcc
    from mm7bind.config import load

    def said(text: str) -> list[str]:
        (tmp_path / "c.toml").write_text(text, encoding="utf-8")
        return [str(p) for p in load(tmp_path / "c.toml", env={})[1] if p.level == "error"]

    assert said('[mmsc]\nurls = ["http://[10.0.0.1/mm7"]\n') == [
        "error: mmsc.urls: 'http://[10.0.0.1/mm7' is not a usable URL: its host opens a [ (an IPv6 address) it does "
        "not close"]
    assert said('[mmsc]\nurls = ["http://sp:pw@[10.0.0.1/mm7"]\n') == [
        "error: mmsc.urls: 'http://***@[10.0.0.1/mm7' is not a usable URL: its host opens a [ (an IPv6 address) it "
        "does not close"]
    assert said('[mmsc]\nurls = ["http://a\uff03b/mm7"]\n') == [
        "error: mmsc.urls: 'http://a\uff03b/mm7' is not an http(s) URL"]
    assert said("[receiver]\nport = " + "9" * 5000 + "\n")[0].startswith(
        f"error: {tmp_path / 'c.toml'}: not valid TOML: Exceeds the limit (4300 digits)")
    (tmp_path / "mm7Config.xml").write_text(f'<vasp:MM7Config xmlns:vasp="{NAMESPACE}"><mmscIP>[10.0.0.1</mmscIP>'
                                            "</vasp:MM7Config>", encoding="utf-8")
    # (said once, as the file's element: not again as mmsc.urls, a name the file does not have)
    assert [str(p) for p in read_cmcc(tmp_path / "mm7Config.xml")[1] if p.level == "error"] == [
        "error: mm7Config.xml:mmscIP: '[10.0.0.1' is no address (ip or host, :port optional)"]
    (tmp_path / "mm7Config.xml").write_text(f'<vasp:MM7Config xmlns:vasp="{NAMESPACE}"><mmscIP>10.0.0.1</mmscIP>'
                                            "<mmscURL>http://[x/mm7</mmscURL></vasp:MM7Config>", encoding="utf-8")
    assert "error: mm7Config.xml:mmscURL: 'http://[x/mm7' is no URL: Invalid IPv6 URL" in [
        str(p) for p in read_cmcc(tmp_path / "mm7Config.xml")[1]]


def test_a_file_setting_no_file_can_be_named_is_said_not_raised():
    """A NUL in a file name, or a name longer than the system takes: the checks asked the system
    about it and its ValueError or OSError (ENAMETOOLONG) escaped load()."""
    from mm7bind.config import load

    def said(**env) -> list[str]:
        return [str(p) for p in load(None, env={f"MM7BIND_{k.upper()}": v for k, v in env.items()})[1]
                if p.level == "error" or "out_dir" in p.where]

    long = "a" * 300
    assert said(mmsc_ca_file=long) == [
        f"error: MM7BIND_MMSC_CA_FILE (mmsc.ca_file): '{long[:60]}'... cannot be a file name: longer than this "
        "system takes"]
    assert said(logging_file="x\x00") == [
        "error: MM7BIND_LOGGING_FILE (logging.file): 'x\\x00' cannot be a file name: it holds a NUL character"]
    assert said(receiver_tls_cert="c\x00", receiver_tls_key=long, receiver_tls_client_ca=long) == [
        "error: MM7BIND_RECEIVER_TLS_CERT (receiver.tls_cert): 'c\\x00' cannot be a file name: it holds a NUL character",
        f"error: MM7BIND_RECEIVER_TLS_KEY (receiver.tls_key): '{long[:60]}'... cannot be a file name: longer than "
        "this system takes",
        f"error: MM7BIND_RECEIVER_TLS_CLIENT_CA (receiver.tls_client_ca): '{long[:60]}'... cannot be a file name: "
        "longer than this system takes"]
    assert said(receiver_out_dir=long) == [
        f"warning: MM7BIND_RECEIVER_OUT_DIR (receiver.out_dir): '{long[:60]}'... cannot be a file name: longer "
        "than this system takes: the saving handler would fail"]


def test_the_file_name_check_is_public_for_every_configuration_reader(tmp_path):
    """China Mobile's reader checks its LogPath as the TOML settings are checked: with the same
    public helper of mm7bind.config, not a name private to that module."""
    from mm7bind.cmcc import config as cmcc_config
    from mm7bind.config import unusable_file_name

    assert cmcc_config.unusable_file_name is unusable_file_name
    assert unusable_file_name("x\x00") == "'x\\x00' cannot be a file name: it holds a NUL character"
    assert unusable_file_name("a" * 300) == f"'{'a' * 60}'... cannot be a file name: longer than this system takes"
    assert unusable_file_name(str(tmp_path)) is None and unusable_file_name(str(tmp_path / "not yet")) is None


def test_configuration_mistakes_are_named_with_where_they_belong(tmp_path):
    from mm7bind.config import load

    def said(text: str, env=None) -> list[str]:
        (tmp_path / "c.toml").write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return [str(p) for p in load(tmp_path / "c.toml", env=env or {})[1] if p.level == "error"]

    assert said('port = 8080\n[receiver]\nhost = "127.0.0.1"\n') == [
        "error: port: a setting outside any [section]: it belongs in [receiver]"]
    assert said('path = "x"\n') == ["error: path: a setting outside any [section]: it belongs in [receiver], [api] "
                                    "or [store]"]
    assert said('[MMSC]\nurls = ["http://a/mm7"]\n') == ["error: MMSC: unknown section (did you mean mmsc?)"]
    assert said("[mmsc]\nmax_recipients = 5\nusrname = 'sp'\n") == [
        "error: mmsc.max_recipients: unknown setting (a setting of [api])",
        "error: mmsc.usrname: unknown setting (did you mean username?)"]
    assert said('[[mmsc]]\nurls = ["http://a/mm7"]\n[[mmsc]]\nurls = ["http://b/mm7"]\n') == [
        'error: mmsc: written [[mmsc]], several tables: there is one [mmsc]; several MMSCs go in its '
        'urls = ["...", "..."], in fail-over order']
    assert said("[receiver]\nusername = true\nport = true\n") == [  # (not "True" as a user name)
        "error: receiver.username: expected text, got true", "error: receiver.port: expected a number, got true"]
    # A byte-order mark (Notepad's UTF-8) is read past; a file saved as GBK is said so, with its line.
    assert said(b'\xef\xbb\xbf[vasp]\r\nvaspid = "800001"\r\n') == []
    assert load(tmp_path / "c.toml", env={})[0].vasp.vaspid == "800001"
    assert said('[vasp]\nvaspid = "1"\nvasid = "\u4f60\u597d"\n'.encode("gbk")) == [
        f"error: {tmp_path / 'c.toml'}: not UTF-8, as TOML must be: byte 0xc4 on line 3; save it as UTF-8"]
    assert said("[vasp]\nvasid = '1'\nvasid = '2'\n")[0].endswith("not valid TOML: Cannot overwrite a value "
                                                               "(at line 3, column 12)")
    # Several MMSCs written as one text, as the variable takes them: one URL to a host "a" was used.
    assert said('[mmsc]\nurls = "http://a/mm7, http://b/mm7"\n') == [
        "error: mmsc.urls: 'http://a/mm7, http://b/mm7' is several URLs in one text: list them, "
        'urls = ["http://...", "http://..."]']
    assert load(None, env={"MM7BIND_MMSC_URLS": "http://a/mm7,http://b/mm7"})[0].mmsc.urls == ["http://a/mm7",
                                                                                            "http://b/mm7"]
    # A value a variable gave is said with the variable's name: the file does not hold it.
    assert said("[receiver]\nhost = '127.0.0.1'\n", env={"MM7BIND_RECEIVER_PORT": "70000"}) == [
        "error: MM7BIND_RECEIVER_PORT (receiver.port): 70000 is not a port number"]
    # A variable naming no section is a warning (it may be another program's), with the name meant.
    _, problems = load(None, env={"MM7BIND_RECEVIER_PASSWORD": "pw"})
    assert [str(p) for p in problems] == ["warning: MM7BIND_RECEVIER_PASSWORD: environment variable names no known "
                                          "setting (did you mean MM7BIND_RECEIVER_PASSWORD?)"]
    # Unicode settings and several MMSCs, from the file and from the environment.
    cfg, problems = load(None, env={"MM7BIND_MMSC_URLS": "http://a/mm7, http://b/mm7",
                                    "MM7BIND_VASP_SENDER_ADDRESS": "\u4e2d\u56fd\u79fb\u52a8"})
    assert problems == [] and cfg.mmsc.urls == ["http://a/mm7", "http://b/mm7"]
    assert cfg.vasp.sender_address == "\u4e2d\u56fd\u79fb\u52a8"


def test_config_check_prints_each_problem_then_the_counts(tmp_path):
    (tmp_path / "c.toml").write_text('port = 1\n[mmsc]\nurls = ["http://a/mm7"]\nusername = "sp"\npassword = "pw"\n'
                                     '[receiver]\nforward_secret = "s"\nforward_url = ""\n', encoding="utf-8")
    (tmp_path / "c.toml").chmod(0o600)
    proc = run("config", "check", str(tmp_path / "c.toml"))
    assert proc.returncode == 3 and proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "error: port: a setting outside any [section]: it belongs in [receiver]",
        "warning: mmsc.urls: Basic credentials over plain http can be read on the way: http://a/mm7",
        "warning: receiver.forward_secret: set without forward_url: nothing is forwarded",
        f"{tmp_path / 'c.toml'}: 1 error(s), 2 warning(s)"]


def test_send_says_when_an_attachment_holds_no_bytes(tmp_path):
    from .fake_http import FakeServer

    (tmp_path / "empty.jpg").write_bytes(b"")
    with FakeServer() as srv:
        proc = run("send", "--mmsc", srv.url, "--to", "+8613800000000", "--text", "hi",
                   "--attach", str(tmp_path / "empty.jpg"))
    assert proc.returncode == 0, proc.stderr
    assert "mm7bind send: note: empty.jpg holds no bytes: it is sent as it is" in proc.stderr, proc.stderr
    assert len(srv.requests) == 1


def test_send_warns_of_the_vaspid_it_sends_not_of_the_configurations_alone(tmp_path):
    """With China Mobile's dialect and no [vasp] vaspid, a send given --vaspid was warned "vasp.vaspid:
    not set ... the MMSC answers 4001": the warning is about the VASPID that goes, as for --mmsc's URLs."""
    (tmp_path / "c.toml").write_text('[mmsc]\ndialect = "cmcc"\n', encoding="utf-8")
    with FakeServer() as srv:
        base = ("send", "-c", str(tmp_path / "c.toml"), "--mmsc", srv.url, "--to", "+8613800000000", "--text", "hi")
        proc = run(*base, "--vaspid", "801234")
        assert proc.returncode == 0 and "vasp.vaspid" not in proc.stderr, proc.stderr
        proc = run(*base)  # (none anywhere: said)
        assert proc.returncode == 0 and "warning: vasp.vaspid: not set" in proc.stderr, proc.stderr
        proc = run(*base, "--vaspid", "123")  # (one breaking the manual's rule: said as of the file's)
        assert proc.returncode == 0 and "warning: vasp.vaspid: " in proc.stderr, proc.stderr
        assert "not set" not in proc.stderr, proc.stderr


def test_a_resumed_send_lists_what_may_have_arrived_without_retries_on_timeout(tmp_path):
    from .fake_http import FakeServer, Reply, scripted

    gave_up = threading.Event()
    settings = f'[store]\npath = "{tmp_path / "vasp.db"}"\n[mmsc]\nmax_attempts = 1\nretry_on_timeout = false\n'
    (tmp_path / "c.toml").write_text(settings, encoding="utf-8")
    # (the short read timeout for the one request meant to get no answer, alone)
    (tmp_path / "short.toml").write_text(settings + "read_timeout = 0.3\n", encoding="utf-8")
    with FakeServer(scripted(Reply(hold=gave_up))) as srv:
        args = ("send", "--mmsc", srv.url, "--to", "+8613800000001", "--to", "+8613800000002",
                "--text", "x", "--tag", "t", "--concurrency", "1", "--quiet")
        first = run("send", "--config", str(tmp_path / "short.toml"), "--mmsc", srv.url, "--to", "+8613800000001",
                    "--text", "x", "--tag", "t", "--quiet")
        gave_up.set()
        resumed = run(*args, "--config", str(tmp_path / "c.toml"))
        again = run(*args, "--config", str(tmp_path / "c.toml"), "--resend-unanswered")
    assert first.returncode != 0 and "the MMSC may have taken it" in first.stderr, first.stdout + first.stderr
    assert "not sent again: 1 recipient whose earlier request got no answer" in resumed.stdout, resumed.stdout
    assert "  maybe delivered +8613800000001" in resumed.stdout
    assert "sent 1, failed 0" in again.stdout and "maybe delivered" not in again.stdout, again.stdout
    assert len(srv.requests) == 3


def test_config_namespace_is_the_profiles_and_config_check_judges_it(tmp_path):
    """[mmsc] namespace: the spelling requests are sent in (the profile's), which `config check`
    refuses when it is no MM7 namespace or another version's, and warns of when no schema has it."""
    from mm7bind.config import load

    base = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
    path = tmp_path / "mm7bind.toml"
    path.write_text(f'[mmsc]\nversion = "REL-5-MM7-1-2"\nnamespace = "{base}REL-5-MM7-1-2/"\n', encoding="utf-8")
    cfg, problems = load(path)
    assert problems == [] and cfg.profile().namespace == base + "REL-5-MM7-1-2/"
    sent = mm7.encode(mm7.CancelReq(vaspid="v", message_id="1"), transaction_id="t", profile=cfg.profile())
    assert f'xmlns="{base}REL-5-MM7-1-2/"'.encode() in sent.to_bytes()
    proc = run("config", "check", str(path))
    assert proc.returncode == 0 and "0 error(s), 0 warning(s)" in proc.stdout
    _, problems = load(None, env={"MM7BIND_MMSC_NAMESPACE": base + "REL-6-MM7-1-0"})  # (the default version: 1-4)
    assert [(p.level, p.where) for p in problems] == [("error", "MM7BIND_MMSC_NAMESPACE (mmsc.namespace)")] and "REL-6-MM7-1-0's" in str(problems[0])
    _, problems = load(None, env={"MM7BIND_MMSC_NAMESPACE": "urn:example:mm7"})
    assert [(p.level, p.where) for p in problems] == [("error", "MM7BIND_MMSC_NAMESPACE (mmsc.namespace)")]
    path.write_text(f'[mmsc]\nnamespace = "{base}REL-6-MM7-6-7"\n', encoding="utf-8")
    proc = run("config", "check", str(path))
    assert proc.returncode == 0 and "warning: mmsc.namespace" in proc.stdout and "read it as REL-6-MM7-1-4" in proc.stdout


def _in_a_terminal(args: list[str], started: str, timeout: float = 60) -> str:
    """`mm7bind ARGS` with stdout and stderr on one terminal, as a user runs it, stopped with
    SIGTERM once `started` shows → all the terminal showed."""
    import pty
    import select

    main, side = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mm7bind.cli", *args], stdin=subprocess.DEVNULL, stdout=side,
                            stderr=side, cwd=ROOT, env=ENV)
    os.close(side)
    shown, deadline, stopped = b"", time.monotonic() + timeout, False
    try:
        while time.monotonic() < deadline:
            if not stopped and started.encode() in shown:
                time.sleep(0.3)  # (a log line after the start would be there by now)
                proc.send_signal(signal.SIGTERM)
                stopped = True
            if select.select([main], [], [], 0.2)[0]:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # (EIO: the process is gone, the terminal closed)
                    break
                if not chunk:
                    break
                shown += chunk
            elif stopped and proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        os.close(main)
    assert stopped, shown
    return shown.decode("utf-8", "replace")


def test_serve_and_simulate_say_their_start_once_in_a_terminal_and_log_it_when_the_log_goes_elsewhere(tmp_path):
    """In a terminal the start showed twice, a log line on stderr and stdout's line (the one
    scripts read). Said once there; a log apart from stdout (a file, stderr alone) still has it."""
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[receiver]\nport = 0\nout_dir = "{tmp_path / "in"}"\n'
                   f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    shown = _in_a_terminal(["serve", "--config", str(cfg)], "Ctrl-C stops")
    assert shown.count("receiving MM7 at") == 1 and "INFO mm7bind.serve stopped" in shown, shown
    shown = _in_a_terminal(["simulate", "--port", "0"], "Ctrl-C stops")
    assert shown.count("MMSC simulator (standard) at") == 1, shown
    # stderr apart from stdout: each has its own
    proc = subprocess.Popen([sys.executable, "-m", "mm7bind.cli", "simulate", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
    try:
        first = proc.stdout.readline()  # (the start's line: the port the system gave it)
        started = STARTED.match(first)
        assert started, first
        _until(lambda: _answers(f"http://127.0.0.1:{started.group(3)}/control/health"), "the simulator has started")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    out = first + out
    assert out.startswith("MMSC simulator (standard) at") and "INFO mm7bind.simulator MMSC simulator" in err, (out, err)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).ok
    except requests.RequestException:
        return False


def test_the_store_and_configuration_errors_name_the_command_as_given(tmp_path):
    """`store inbox` said "mm7bind store: ...", and a store that cannot be used "mm7bind: ...",
    where every other line of theirs is prefixed with the command as given ("mm7bind store show:")."""
    proc = run("store", "inbox", "--config", str(tmp_path / "missing.toml"))
    assert proc.returncode == 3 and proc.stderr.startswith(
        f"mm7bind store inbox: configuration {tmp_path / 'missing.toml'} has problems:\n"), proc.stderr
    (tmp_path / "none.toml").write_text(f'[store]\npath = "{tmp_path / "absent.db"}"\n', encoding="utf-8")
    proc = run("store", "sent", "--config", str(tmp_path / "none.toml"))
    assert proc.returncode == 2 and proc.stderr.startswith("mm7bind store sent: no store at "), proc.stderr
    (tmp_path / "folder.db").mkdir()
    (tmp_path / "folder.toml").write_text(f'[store]\npath = "{tmp_path / "folder.db"}"\n', encoding="utf-8")
    proc = run("send", "--config", str(tmp_path / "folder.toml"), "--store", "--to", "1", "--text", "hi",
               "--mmsc", f"http://127.0.0.1:{refused_port()}/mm7")
    assert proc.returncode == 2 and proc.stderr.startswith(
        f"mm7bind send: the store {tmp_path / 'folder.db'} cannot be used: "), proc.stderr


def test_a_send_interrupted_before_its_request_went_out_says_the_mmsc_did_not_take_it(tmp_path):
    """Ctrl-C while a single send waited to try again after a refused connection: nothing reached
    the MMSC, and it was said as "it may have taken the message" all the same (its sender checking,
    or holding back a message that never went)."""
    from .fake_http import dead_url

    (tmp_path / "c.toml").write_text("[mmsc]\nmax_attempts = 2\nbackoff = 30\n"
                                     f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    # (under a tag the TransactionID is the claim's, not chosen by the command: named all the same,
    # null in the JSON before)
    for extra in (["--json"], [], ["--json", "--tag", "t1"], ["--tag", "t2"]):
        proc = subprocess.Popen([*CTRL_C_ABLE, "send", "--config", str(tmp_path / "c.toml"), "--mmsc", dead_url(),
                                 "--to", "1", "--text", "x", "-v", *extra], cwd=ROOT, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        said = []
        for line in proc.stderr:  # (-v: the client's line for the failed attempt, then its 30 s wait)
            said.append(line)
            if "again in" in line:
                break
        proc.send_signal(signal.SIGINT)  # (said just before its wait begins, or in it: recorded alike)
        out, err = proc.communicate(timeout=30)
        err = "".join(said) + err
        assert proc.returncode == 130 and "Traceback" not in err, err
        if "--json" in extra:
            answer = json.loads(out)
            assert answer["error"] == "interrupted" and answer["may_have_arrived"] is False, answer
            assert "did not take it" in answer["message"] and answer["transaction_id"], answer
        else:
            assert "interrupted before the message went out whole: the MMSC did not take it (TransactionID " in err, err
            assert "may have taken" not in err
            assert "--tag" not in extra or "tag 't2': the same command again sends it)" in err, err


def test_a_recipient_that_is_no_number_short_code_or_e_mail_address_is_refused_unless_its_kind_is_written(tmp_path):
    """`send --to abc` went out as a Number nobody has, where a recipient file refused it and the
    send API took it alike: one rule now. A kind written before it sends it as written, whichever
    the way it is given — one message, several, a file, under a tag (resumed: not sent twice)."""
    from mm7bind.bulk import read_recipients

    from .fake_http import FakeServer

    refused = run("send", "--mmsc", "http://127.0.0.1:9/mm7", "--to", "+8613800000001", "--to", "abc", "--text", "x")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr == ("mm7bind send: --to #2: 'abc' is no phone number, short code or e-mail address (it has "
                              "neither a digit nor an @): to send it as it is, write its kind before it, "
                              "\"Number:abc\" (or ShortCode:, RFC2822Address:)\n")
    with pytest.raises(ValueError, match=r"x.csv, line 2: 'abc' is no number or e-mail address: the recipients go in "
                                         r"the first column \(to send it as it is all the same, write its kind before "
                                         r"it: \"Number:abc\"\)"):
        read_recipients("x.csv", b"13800000001\nabc\n")
    # (a kind written in the first row is no header)
    assert read_recipients("x.csv", b"Number:abc\nshortcode: 10086\n") == ["Number:abc", "shortcode: 10086"]
    (tmp_path / "list.csv").write_bytes(b"Number:abc\nshortcode: 10086\n")
    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    with FakeServer() as mmsc:
        # (a sender is read so too, a name kept: an MMSC may show it, or put its own in)
        (tmp_path / "sender.toml").write_text('[vasp]\nsender_address = "shortcode:1065888"\n', encoding="utf-8")
        for way in (["--from", "ShortCode:1065888"], ["--config", str(tmp_path / "sender.toml")], ["--from", "VIP"]):
            proc = run("send", "--mmsc", mmsc.url, "--to", "1", *way, "--text", "x")
            sender = mmsc.requests.pop().decode().body.sender_address
            assert proc.returncode == 0, proc.stderr
            assert (sender.kind.value, sender.value) == (("Number", "VIP") if "VIP" in way else ("ShortCode", "1065888"))
        (tmp_path / "sender.toml").write_text('[vasp]\nsender_address = "ShortCode:"\n', encoding="utf-8")
        proc = run("send", "--mmsc", mmsc.url, "--to", "1", "--config", str(tmp_path / "sender.toml"))
        assert proc.returncode == 3 and "vasp.sender_address: 'ShortCode:' names the kind ShortCode and no " \
                                       "address after it" in proc.stderr, proc.stderr
        for way in (["--to", "Number:abc", "--to", "ShortCode:10086"], ["--to-file", str(tmp_path / "list.csv")],
                    ["--to", "RFC2822Address:ops", "--tag", "one", "--config", str(tmp_path / "c.toml")],
                    ["--to", "RFC2822Address:ops", "--tag", "one", "--config", str(tmp_path / "c.toml")]):
            proc = run("send", "--mmsc", mmsc.url, *way, "--text", "x")
            assert proc.returncode == 0, proc.stderr
        sent = [(a.kind.value, a.value) for r in mmsc.requests for a in r.decode().body.recipients.to]
    assert sorted(sent[:2]) == sorted(sent[2:4]) == [("Number", "abc"), ("ShortCode", "10086")]  # (in any order)
    assert sent[4:] == [("RFC2822Address", "ops")]
    assert "skipped: ops was accepted" in proc.stdout  # (the tag's record names it by its value)


def test_mo_waiting_past_its_timeout_for_a_simulator_still_at_the_vasp_blames_neither_reachability():
    """mo waited a fixed 30 s for the simulator, which waits each attempt up to its vasp_timeout for
    the VASP (30 s twice by default): a VASP that never answers read as "cannot reach the simulator"."""
    from mm7bind.simulator import Simulator

    release = threading.Event()

    def stuck(req):
        release.wait(30)
        return default_responder(req)

    with FakeServer(stuck) as vasp, Simulator(vasp_url=vasp.url + "/mm7", vasp_timeout=20) as sim:
        try:
            proc = run("mo", "--simulator", sim.server.url, "--timeout", "1")
        finally:
            release.set()
    # (no answer in time: exit 4, by send's rule, as a timeout waiting for an MMSC is)
    assert proc.returncode == 4 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("mm7bind mo: the simulator at ") and "gave no outcome within 1 s" in proc.stderr
    assert "cannot reach" not in proc.stderr and "--timeout waits longer" in proc.stderr, proc.stderr
