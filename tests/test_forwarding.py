"""Forwarding to an application over HTTP: what it receives, how it answers, and that a message
it did not take is neither lost nor acknowledged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler

import pytest
import requests

import mm7bind as mm7
from mm7bind.handlers import ForwardingHandler
from mm7bind.store import SentRecord

from .fake_http import QuietHTTPServer, TricklingServer
from .test_commands import Background, run

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


class App:
    """The user's application: records what it is posted, answers as scripted."""

    def __init__(self):
        self.got: list[tuple[dict, dict]] = []
        # (status, body, type), or an event: the answer (204) held until it is set
        self.answers: list[tuple[int, bytes, str] | threading.Event] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                app.got.append((dict(self.headers), json.loads(body)))
                app.raw = body
                answer = app.answers.pop(0) if app.answers else (204, b"", "text/plain")
                if isinstance(answer, threading.Event):
                    answer.wait(60)
                    answer = (204, b"", "text/plain")
                status, data, ctype = answer
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mm7-in"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app():
    a = App()
    yield a
    a.close()


def post(rx, msg, tid):
    out = mm7.encode(msg, transaction_id=tid, version="REL-5-MM7-1-2")
    rsp = rx.handle(out.to_bytes(), out.content_type, {}, "10.1.2.3")
    return rsp.status, mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])


def mo(subject="你好"):
    content = mm7.Content()
    content.add_text("收到，谢谢", charset="gb2312")
    content.add_bytes(JPEG, "image/jpeg", filename="photo.jpg")
    return mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"], subject=subject, content=content)


def test_a_message_arrives_at_the_application_whole_and_signed(app):
    store = mm7.MemoryStore()
    rx = mm7.Receiver(ForwardingHandler(app.url, secret="s3cret", headers={"X-Tenant": "sp1"}), store=store)
    status, answer = post(rx, mo(), "f-1")
    assert status == 200 and answer.body.status.code == 1000
    [(headers, body)] = app.got
    assert headers["X-MM7bind-Event"] == "deliver" and headers["X-Tenant"] == "sp1"
    delivery = headers["X-MM7bind-Delivery"]
    assert delivery.startswith("DeliverReq-1-")
    signed = f'{headers["X-MM7bind-Timestamp"]}.{delivery}.'.encode() + app.raw  # time, delivery id, body
    expected = hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert headers["X-MM7bind-Signature"] == f"sha256={expected}"
    assert abs(int(headers["X-MM7bind-Timestamp"]) - time.time()) < 60
    assert body["transaction_id"] == "f-1" and body["version"] == "REL-5-MM7-1-2" and body["record_id"] == 1
    assert body["peer"] == "10.1.2.3" and body["replay"] is False and body["sent"] is None
    assert body["message"]["subject"] == "你好" and body["message"]["sender"]["value"] == "+8613900000000"
    smil, text, image = body["parts"]
    assert smil["smil"] is True and smil["content_type"] == "application/smil"
    assert text["text"] == "收到，谢谢" and text["charset"] == "gb2312"
    assert base64.b64decode(text["data"]) == "收到，谢谢".encode("gb2312")
    assert base64.b64decode(image["data"]) == JPEG and image["filename"] == "photo.jpg"
    assert image["sha256"] == hashlib.sha256(JPEG).hexdigest() and image["size"] == len(JPEG)
    assert "text" not in image and image["smil"] is False


def test_the_application_decides_the_status(app):
    rx = mm7.Receiver(ForwardingHandler(app.url), store=mm7.MemoryStore())
    app.answers = [(200, b'{"status": 1100, "text": "partly"}', "application/json"),
                   (200, b'{"status": 4007, "text": "denied"}', "application/json"),
                   (200, b'{"status": "ok"}', "application/json"),
                   (200, b"{not json", "application/json"),
                   (200, b'{"received": true}', "application/json")]
    status, answer = post(rx, mo(), "s-1")
    assert status == 200 and (answer.body.status.code, answer.body.status.text) == (1100, "partly")
    status, answer = post(rx, mo(), "s-2")
    # (Service denied blames the request, not the VASP: a Client Fault, `status.fault_code`)
    assert status == 500 and answer.body.detail.status.code == 4007 and answer.body.code == "Client"
    assert rx.store.inbox_get(2).state == "rejected"
    for tid in ("s-3", "s-4"):  # an answer that means nothing: not taken as success
        status, answer = post(rx, mo(), tid)
        assert status == 500 and answer.body.detail.status.code == 3000
    assert [r.state for r in rx.store.inbox()][2:] == ["failed", "failed"]
    assert "not an MM7 status" in rx.store.inbox_get(3).error and "not JSON" in rx.store.inbox_get(4).error
    status, answer = post(rx, mo(), "s-5")
    assert status == 200 and answer.body.status.code == 1000
    app.answers = [(200, b" " * 70_000 + b'{"status": 1000}', "application/json")]  # a runaway answer
    status, answer = post(rx, mo(), "s-6")
    assert status == 500 and "more than 65536 bytes" in rx.store.inbox_get(6).error


def test_a_session_given_is_used_as_it_is(app, monkeypatch):
    # A session of the caller's had its trust_env turned off: its proxy from the environment no
    # longer applied, to the forwards nor to the rest of the program sharing that session.
    monkeypatch.setenv("HTTP_PROXY", app.url.removesuffix("/mm7-in"))  # (the app plays the proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = requests.Session()
    rx = mm7.Receiver(ForwardingHandler("http://application.example/mm7-in", session=session))
    assert session.trust_env
    status, _ = post(rx, mo(), "p-1")
    assert status == 200 and app.got[0][0]["Host"] == "application.example"
    assert app.got[0][1]["transaction_id"] == "p-1"
    assert ForwardingHandler(app.url).session.trust_env is False  # (the default one: no proxy inherited)


@pytest.mark.parametrize(("userinfo", "credentials"), [
    ("us%C3%A9r:p%C3%A4ss", "usér:päss"),  # (Latin-1 characters: requests wrote them in Latin-1)
    ("%E7%94%A8%E6%88%B7:%E5%AF%86%E7%A0%81", "用户:密码"),  # (beyond it: requests failed every forward)
    ("sp:secret", "sp:secret")])
def test_credentials_in_the_url_go_as_basic_in_utf_8_as_the_client_sends_them(app, userinfo, credentials):
    rx = mm7.Receiver(ForwardingHandler(app.url.replace("://", f"://{userinfo}@")), store=mm7.MemoryStore())
    status, answer = post(rx, mo(), "c-1")
    assert status == 200 and answer.body.status.code == 1000
    scheme, _, encoded = app.got[0][0]["Authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(encoded) == credentials.encode("utf-8")
    # A session's own auth goes before the URL's, as requests has it.
    session = requests.Session()
    session.auth = ("own", "auth")
    rx = mm7.Receiver(ForwardingHandler(app.url.replace("://", f"://{userinfo}@"), session=session))
    assert post(rx, mo(), "c-2")[0] == 200
    assert base64.b64decode(app.got[1][0]["Authorization"].split()[1]) == b"own:auth"


@pytest.mark.parametrize("later", [b'{"status": 4006, "text": "busy"}', b'{"status": 3000}'])
def test_an_application_that_says_later_gets_the_message_again(app, later):
    """4006 (busy) or a server error from the application is no refusal: a message marked rejected
    is answered so on every copy the MMSC sends again, and left out of replays — lost."""
    rx = mm7.Receiver(ForwardingHandler(app.url), store=mm7.MemoryStore())
    app.answers = [(200, later, "application/json")]
    status, answer = post(rx, mo(), "l-1")
    assert status == 500 and answer.body.code == "Server"  # the MMSC sends it again
    record = rx.store.inbox_get(1)
    assert record.state == "failed" and "the application answered" in record.error  # kept for replay
    status, answer = post(rx, mo(), "l-1")  # it does: the application is asked again, and takes it
    assert status == 200 and answer.body.status.code == 1000
    assert rx.store.inbox_get(1).state == "handled" and len(app.got) == 2


def test_a_message_the_application_did_not_take_is_kept_and_sent_again(app):
    store = mm7.MemoryStore()
    forward, held = ForwardingHandler(app.url, timeout=30), threading.Event()
    rx = mm7.Receiver(forward, store=store)
    app.answers = [(503, b"down for maintenance", "text/plain"), held]
    status, answer = post(rx, mo(), "r-1")
    assert status == 500 and answer.body.detail.status.code == 3000  # the MMSC will send it again
    record = store.inbox_get(1)
    assert record.state == "failed" and "HTTP 503" in record.error and "down for maintenance" in record.error
    forward.timeout = 0.5  # (its answer held until the forward gave up)
    status, answer = post(rx, mo(), "r-1")  # it does; the application is too slow this time
    assert status == 500 and "ReadTimeout" in store.inbox_get(1).error
    held.set()
    forward.timeout = 30
    status, answer = post(rx, mo(), "r-1")  # and now it takes it
    assert status == 200 and store.inbox_get(1).state == "handled"
    deliveries = [h["X-MM7bind-Delivery"] for h, _ in app.got]
    assert len(set(deliveries)) == 1 and len(deliveries) == 3  # one message: the application can drop repeats
    status, answer = post(rx, mo(), "r-1")  # a repeat after success is answered from the store
    assert status == 200 and len(app.got) == 3
    dead = mm7.Receiver(ForwardingHandler("http://127.0.0.1:9/nothing"), store=store)
    assert post(dead, mo(), "r-2")[0] == 500
    # One line an operator reads: the cause, not urllib3's pool and retry wrappers around it.
    why = store.inbox_get(2).error
    assert "http://127.0.0.1:9/nothing: ConnectionError: " in why and why.endswith("Connection refused")
    assert "Max retries" not in why and "HTTPConnectionPool" not in why


def test_a_new_message_never_comes_with_the_delivery_id_of_an_earlier_one(app):
    """An application drops repeats by X-MM7bind-Delivery: a new message with an earlier one's id
    would be answered 1000 and lost. A record number comes again from another store (a new file, a
    MemoryStore after a restart), a TransactionID from an MMSC whose counter started again."""
    for _ in range(2):  # the same service restarted with a fresh store
        rx = mm7.Receiver(ForwardingHandler(app.url), store=mm7.MemoryStore())
        assert post(rx, mo("first"), "1")[0] == 200
    assert post(rx, mo("first"), "1")[0] == 200  # the MMSC's repeat: answered from the store
    first, second = (h["X-MM7bind-Delivery"] for h, _ in app.got)
    assert first != second and first.startswith("DeliverReq-1-") and second.startswith("DeliverReq-1-")
    app.got.clear()
    rx = mm7.Receiver(ForwardingHandler(app.url))  # no store: its repeats are the MMSC's alone
    sent = mm7.encode(mo("一"), transaction_id="交易-7")  # (not Latin-1: no HTTP header can carry it)
    again = mm7.encode(mo("二"), transaction_id="交易-7")
    for out in (sent, sent, again):  # a repeat, then a new message under a TransactionID used again
        rsp = rx.handle(out.to_bytes(), out.content_type, {}, "10.1.2.3")
        assert rsp.status == 200 and mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"]).body.status.code == 1000
    one, repeat, other = (h["X-MM7bind-Delivery"] for h, _ in app.got)
    assert one == repeat != other and one.isascii()


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0, -1, 1e10, 1e308, 10**30, True])
def test_a_timeout_that_is_no_number_of_seconds_is_refused_when_made(timeout, tmp_path):
    """A NaN timeout failed every forward with a ValueError of the HTTP library, one past what a
    socket's timeout holds (1e10) with an OverflowError, after the MMSC's message had been taken:
    refused when the handler is made, as Client and Outbox refuse theirs, and by config check."""
    from mm7bind import config
    from mm7bind.client import MAX_TIMEOUT

    with pytest.raises(ValueError, match=f"^timeout must be a positive number of seconds, at most {MAX_TIMEOUT}"):
        ForwardingHandler("http://127.0.0.1:9/app", timeout=timeout)
    assert ForwardingHandler("http://127.0.0.1:9/app", timeout=MAX_TIMEOUT).timeout == MAX_TIMEOUT
    if not isinstance(timeout, bool) and timeout != float("inf") and timeout == timeout:  # (what TOML can say)
        (tmp_path / "c.toml").write_text(f"[receiver]\nforward_timeout = {timeout!r}\n", encoding="utf-8")
        _, problems = config.load(tmp_path / "c.toml", env={})
        assert [p.where for p in problems if p.level == "error"] == ["receiver.forward_timeout"]


def test_reports_carry_what_we_sent(app):
    store = mm7.MemoryStore()
    store.record_sent(SentRecord("sub-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000000"], message_id="M9"))
    rx = mm7.Receiver(ForwardingHandler(app.url), store=store)
    report = mm7.DeliveryReportReq(message_id="M9", recipient="+8613800000000", sender="1065888",
                                   date=datetime.now(timezone.utc),
                                   mm_status=mm7.DeliveryStatus.RETRIEVED)
    assert post(rx, report, "dr-1")[0] == 200
    reply = mm7.ReadReplyReq(message_id="M9", recipient="+8613800000000", sender="1065888",
                             time_stamp=datetime.now(timezone.utc),
                             mm_status=mm7.ReadStatus.READ)
    assert post(rx, reply, "rr-1")[0] == 200
    (h1, dr), (h2, rr) = app.got
    assert h1["X-MM7bind-Event"] == "delivery_report" and h2["X-MM7bind-Event"] == "read_reply"
    assert dr["message"]["mm_status"] == "Retrieved" and dr["sent"]["transaction_id"] == "sub-1"
    assert rr["message"]["mm_status"] == "Read" and rr["parts"] == []


def test_serve_forwards_and_replay_sends_again(app, tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[receiver]\nport = 0\nforward_secret = "k"\nforward_timeout = 2\n'
                   f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    app.answers = [(500, b"oops", "text/plain")]
    serve = Background("serve", "--config", str(cfg), "--forward", app.url)
    try:
        port = serve.port()
        serve.wait_for(f"http://127.0.0.1:{port}/mm7")
        out = mm7.encode(mo(), transaction_id="cli-1")
        got = requests.post(f"http://127.0.0.1:{port}/mm7", data=out.to_bytes(), headers=out.headers, timeout=10)
        assert got.status_code == 500  # the application failed: the MMSC is told to send again
    finally:
        text = serve.stop()
    assert f"forwarding to {app.url}" in text
    assert "answered HTTP 500" in text and "Traceback" not in text  # an outage: one line, not a traceback
    (headers, body), = app.got
    assert body["transaction_id"] == "cli-1" and headers["X-MM7bind-Signature"].startswith("sha256=")
    cfg.write_text(cfg.read_text().replace("[receiver]\n", f'[receiver]\nforward_url = "{app.url}"\n'),
                   encoding="utf-8")
    proc = run("replay", "--config", str(cfg))  # the application is back: replay forwards it
    assert proc.returncode == 0 and "#1: handled" in proc.stdout, proc.stdout + proc.stderr
    assert len(app.got) == 2 and app.got[1][1]["replay"] is True
    assert app.got[1][0]["X-MM7bind-Delivery"] == headers["X-MM7bind-Delivery"]  # a replay is a repeat
    cfg.write_text('[receiver]\nforward_url = "ftp://x"\nforward_timeout = 0\n', encoding="utf-8")
    proc = run("config", "check", str(cfg))
    assert proc.returncode == 3 and "receiver.forward_url" in proc.stdout + proc.stderr
    assert "receiver.forward_timeout" in proc.stdout + proc.stderr


def test_every_accepted_capture_is_forwarded_as_json(app, samples_dir):
    """Real traffic (odd charsets, plain-text addresses, unknown elements) becomes valid JSON."""
    from .conftest import inbound_captures

    rx = mm7.Receiver(ForwardingHandler(app.url))  # no store: some captures share a TransactionID
    forwarded = 0
    for name, body, ctype, env in inbound_captures():
        rsp = rx.handle(body, ctype, {}, "127.0.0.1")
        assert rsp.status == 200, (name, rsp.body[:300])
        forwarded += 1
        _headers, got = app.got[-1]
        assert got["transaction_id"] == env.transaction_id, name
        content = getattr(env.body, "content", None)
        assert len(got["parts"]) == (len(content.all_parts()) if content else 0), name
        for part, sent in zip(content.all_parts() if content else [], got["parts"], strict=True):
            assert base64.b64decode(sent["data"]) == part.data, name
    assert forwarded >= 12 and len(app.got) == forwarded


def test_the_example_application(capsys, monkeypatch):
    from examples import forward_target

    monkeypatch.setattr(forward_target, "SECRET", b"s3cret")
    monkeypatch.setattr(forward_target, "seen", set())
    server = forward_target.make_server(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/mms/incoming"
    try:
        store = mm7.MemoryStore()
        rx = mm7.Receiver(ForwardingHandler(url, secret="s3cret"), store=store)
        assert post(rx, mo(), "ex-1")[0] == 200
        assert post(rx, mm7.DeliverReq(sender="+8613900000000", content=mm7.Content(parts=[mm7.Part.text("td ")])),
                    "ex-2")[0] == 200
        forger = mm7.Receiver(ForwardingHandler(url, secret="guess"), store=store)
        assert post(forger, mo(), "ex-3")[0] == 500  # refused by the application: kept for replay
        assert store.inbox_get(3).state == "failed" and "HTTP 403" in store.inbox_get(3).error
        # A captured request sent again as another delivery, or later: refused.
        body = b'{"event": "deliver"}'
        ts = str(int(time.time()))
        sig = "sha256=" + forward_target.hmac.new(b"s3cret", f"{ts}.D-9.".encode() + body, hashlib.sha256).hexdigest()
        for changed in ({"X-MM7bind-Delivery": "D-10"}, {"X-MM7bind-Timestamp": str(int(ts) - 3600)}):
            headers = {"X-MM7bind-Delivery": "D-9", "X-MM7bind-Timestamp": ts, "X-MM7bind-Signature": sig, **changed}
            assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 403
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert "MO from +8613900000000: '你好' ['收到，谢谢'] +1 picture(s)" in out
    assert "unsubscribed" in out and out.count("MO from") == 2


def test_an_application_trickling_its_answer_fails_within_the_timeout():
    with TricklingServer() as slow:
        rx = mm7.Receiver(ForwardingHandler(slow.url, timeout=1), store=mm7.MemoryStore())
        started = time.monotonic()
        assert post(rx, mo(), "slow-1")[0] == 500  # failed: kept for replay, the MMSC told to resend
        assert time.monotonic() - started < 10  # (was: as long as the application kept trickling)


class _TricklingHead(TricklingServer):
    head = b"HTTP/1.1 200 OK\r\n"
    drip = b"X-Slow: 1\r\n"  # (a header line every 0.2 s: the head never ends)


def test_an_application_trickling_the_head_of_its_answer_fails_within_the_timeout():
    """A read's timeout bounds one read: an answer's head coming a line at a time held the
    forward (and the receiver's worker, the message in hand) for as long as it went on."""
    with _TricklingHead() as slow:
        rx = mm7.Receiver(ForwardingHandler(slow.url, timeout=1), store=mm7.MemoryStore())
        assert post(rx, mo(), "slow-head")[0] == 500  # failed: kept for replay, the MMSC told to resend
        error = rx.store.inbox_get(1).error
        assert "timed out" in error and "more than 100 headers" not in error, error


def off_schema_mo() -> tuple[bytes, str]:
    """An MO without the Sender its schema requires: read, with a `schema` deviation in our words
    whose details are libxml2's."""
    out = mm7.encode(mo(), transaction_id="d-1", version="REL-6-MM7-1-4")
    body = out.to_bytes()
    sender = b"<Sender><Number>+8613900000000</Number></Sender>"
    assert body.count(sender) == 1
    return body.replace(sender, b""), out.content_type


def test_the_validators_own_words_reach_the_application_first_time_and_on_replay(app, tmp_path):
    """A deviation's `details` (libxml2's wording, namespaces and all) is forwarded with it, on
    the first handling and on a replay of the stored request, and written by the saving handler."""
    from mm7bind.handlers import SavingHandler

    store = mm7.SqliteStore(tmp_path / "vasp.db")
    rx = mm7.Receiver(ForwardingHandler(app.url), store=store)
    app.answers = [(503, b"down", "text/plain")]
    body, ctype = off_schema_mo()
    assert rx.handle(body, ctype, {}, "10.1.2.3").status == 500
    assert rx.replay() == [(1, "handled")]
    first, again = (got["deviations"] for _, got in app.got)
    [schema] = [d for d in first if d["code"] == "schema"]
    assert schema["message"].startswith("DeliverReq lacks") and "Sender" in schema["message"]
    assert schema["details"].startswith(
        "Element '{http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4}")
    assert again == first and all(set(d) == {"code", "path", "message", "details"} for d in first)
    saving = mm7.Receiver(SavingHandler(tmp_path / "out", echo=lambda line: None))
    assert saving.handle(body, ctype, {}, "10.1.2.3").status == 200
    [folder] = (tmp_path / "out" / "DeliverReq").iterdir()
    assert json.loads((folder / "message.json").read_text(encoding="utf-8"))["deviations"] == first
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    proc = run("store", "show", "1", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["message"]["deviations"] == first


def test_the_saving_handler_writes_a_handsets_parts_in_the_order_its_smil_shows_them_forwarding_as_sent(tmp_path):
    # A handset's MO: the SMIL last, the parts in another order than its slides, a GBK text
    # labelled ISO-8859-1. Saved, the files are numbered as the slides show them, and message.json
    # holds each text as it reads (its bytes stay as they came).
    from mm7bind.handlers import SavingHandler

    smil = b'<smil><body><par><img src="PIC.JPG"/><text src="cid:t"/></par></body></smil>'
    related = [(b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-ID: t\r\nContent-Location: t.txt",
                "周末见".encode("gbk")),
               (b"Content-Type: image/jpeg\r\nContent-Location: pic.jpg", b"\xff\xd8\xff\xe0" + bytes(40)),
               (b"Content-Type: application/smil\r\nContent-ID: <s>", smil)]
    inner = b"".join(b"--in\r\n" + h + b"\r\n\r\n" + d + b"\r\n" for h, d in related) + b"--in--"
    ns = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
    body = (b"--b1\r\nContent-Type: text/xml\r\n\r\n"
            + (f'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header><TransactionID xmlns="{ns}">'
               f't-1</TransactionID></e:Header><e:Body><DeliverReq xmlns="{ns}"><MM7Version>6.8.0</MM7Version><Sender>'
               f'<Number>+8613800138000</Number></Sender><Content href="cid:c"/></DeliverReq></e:Body></e:Envelope>').encode()
            + b'\r\n--b1\r\nContent-Type: multipart/related; boundary=in; start="<s>"\r\nContent-ID: <c>\r\n\r\n'
            + inner + b"\r\n--b1--\r\n")
    saving = mm7.Receiver(SavingHandler(tmp_path / "out", echo=lambda line: None))
    assert saving.handle(body, 'multipart/related; boundary="b1"', {}, "10.1.2.3").status == 200
    [folder] = (tmp_path / "out" / "DeliverReq").iterdir()
    parts = json.loads((folder / "message.json").read_text(encoding="utf-8"))["parts"]
    assert [p["file"] for p in parts] == ["01-s.smil", "02-pic.jpg", "03-t.txt"]
    assert parts[2]["text"] == "周末见" and "text" not in parts[1]
    assert (folder / "03-t.txt").read_bytes() == "周末见".encode("gbk")
    # Forwarded, the parts keep the message's order (it may be sent on as it came); each says its
    # place as the SMIL shows them, which is the saved file's number, and a saved part its place
    # in the message, as forwarded: either order is had from either handler.
    assert [p["message_order"] for p in parts] == [1, 3, 2]
    env = mm7.decode(body, 'multipart/related; boundary="b1"')
    ctx = mm7.Context(transaction_id="t-1", version=env.version, deviations=env.deviations, peer=None, headers={})
    posted = ForwardingHandler("http://127.0.0.1:9/app").payload("deliver", env.body, ctx)["parts"]
    assert [(p.get("content_location"), p["smil_order"]) for p in posted] == [(None, 1), ("t.txt", 3), ("pic.jpg", 2)]
    assert [p["smil"] for p in posted] == [True, False, False]


def test_an_application_failing_is_said_in_words_not_bytes(app):
    """A failed forward was stored and logged as `answered HTTP 502: b'<html>\\r\\n<head><title>502 Bad
    Gateway</title>...'` and `not JSON: b'{not json'`: a bytes repr, markup and all. Said as text,
    an HTML page by its title."""
    rx = mm7.Receiver(ForwardingHandler(app.url), store=mm7.MemoryStore())
    page = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
            b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    app.answers = [(502, page, "text/html"), (200, "{不是 json".encode(), "application/json"),
                   (503, "维护中\n稍后再试".encode("gbk"), "text/plain; charset=GBK"), (500, b"", "text/plain")]
    for tid in ("f-1", "f-2", "f-3", "f-4"):
        status, _ = post(rx, mo(), tid)
        assert status == 500
    errors = [r.error for r in rx.store.inbox()]
    assert errors[0].endswith(f'{app.url} answered HTTP 502: an HTML page: "502 Bad Gateway"'), errors
    assert errors[1].endswith("the application's answer is not JSON: {不是 json"), errors
    assert errors[2].endswith(f"{app.url} answered HTTP 503: 维护中 稍后再试"), errors
    assert errors[3].endswith(f"{app.url} answered HTTP 500: no body"), errors
    assert not any("b'" in e or "<" in e for e in errors), errors
