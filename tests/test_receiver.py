"""The receiver, through the WSGI interface and over real loopback sockets."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import mm7bind as mm7
from mm7bind.store import MemoryStore, SentRecord, SqliteStore

from .conftest import ROOT, inbound_captures, inbox_file_before
from .tls import local_tls


def call_wsgi(app, body: bytes, content_type: str | None, method: str = "POST", path: str = "/mm7",
              headers: dict | None = None, peer: str = "127.0.0.1", extra_environ: dict | None = None):
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": peer,
        "SERVER_NAME": "test", "SERVER_PORT": "80", "wsgi.url_scheme": "http", **(extra_environ or {}),
    }
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    for k, v in (headers or {}).items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    out = {}

    def start_response(status, hdrs):
        out["status"], out["headers"] = int(status.split()[0]), dict(hdrs)

    out["body"] = b"".join(app(environ, start_response))
    return out


class Recorder(mm7.Handler):
    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def on_deliver(self, msg, ctx):
        with self.lock:
            self.calls.append((msg, ctx))
        return mm7.DeliverRsp(service_code="100001")

    def on_delivery_report(self, msg, ctx):
        with self.lock:
            self.calls.append((msg, ctx))

    def on_read_reply(self, msg, ctx):
        with self.lock:
            self.calls.append((msg, ctx))
        return 1000


def deliver(**kw) -> mm7.DeliverReq:
    kw.setdefault("sender", "+8613800000000")
    kw.setdefault("subject", "回复")
    return mm7.DeliverReq(recipients=["1065888"], **kw)


def report(**kw) -> mm7.DeliveryReportReq:
    from datetime import datetime, timezone

    kw.setdefault("mm_status", mm7.DeliveryStatus.RETRIEVED)
    kw.setdefault("message_id", "m-1")
    return mm7.DeliveryReportReq(recipient="+8613800000000", sender="1065888",
                                 date=datetime(2024, 1, 1, tzinfo=timezone.utc), **kw)


def read_reply() -> mm7.ReadReplyReq:
    from datetime import datetime, timezone

    return mm7.ReadReplyReq(message_id="m-1", recipient="+8613800000000", sender="1065888",
                            time_stamp=datetime(2024, 1, 1, tzinfo=timezone.utc), mm_status=mm7.ReadStatus.READ)


def post(app, msg, version="REL-6-MM7-1-4", tid="t-1", **kw):
    out = mm7.encode(msg, transaction_id=tid, version=version)
    return call_wsgi(app, out.to_bytes(), out.content_type, **kw)


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "inbox.db")
    yield s
    s.close()


@pytest.mark.parametrize("version", mm7.versions.all_versions(), ids=lambda v: v.name)
def test_every_inbound_type_in_every_version(version, store):
    h = Recorder()
    app = mm7.wsgi_app(mm7.Receiver(h, store=store), "/mm7")
    content = mm7.Content(parts=[mm7.Part.text("你好"), mm7.Part.from_bytes(b"GIF89a" + bytes(30), "image/gif")])
    for i, msg in enumerate([deliver(content=content), report(), read_reply()]):
        rsp = post(app, msg, version=version, tid=f"t-{i}")
        assert rsp["status"] == 200, rsp["body"]
        env = mm7.decode(rsp["body"], rsp["headers"]["Content-Type"], strict=True)
        assert env.version == version and env.transaction_id == f"t-{i}"
        assert env.body.ELEMENT == mm7.messages.RESPONSE_FOR[msg.ELEMENT].ELEMENT and env.body.status.code == 1000
        assert env.body.mm7_version == version.default_mm7_version
    got, ctx = h.calls[0]
    assert got.subject == "回复" and [p.data for p in got.content.parts] == [c.data for c in content.parts]
    assert ctx.version == version and ctx.transaction_id == "t-0" and ctx.peer == "127.0.0.1"
    assert mm7.decode(post(app, deliver(), version=version, tid="x")["body"]).body.service_code == "100001"
    assert [r.state for r in store.inbox()] == ["handled"] * 4


def test_a_strict_refusal_says_what_is_missing_and_keeps_the_validators_words_in_details():
    from datetime import datetime, timezone

    request = mm7.encode(mm7.DeliveryReportReq(message_id="m", recipient="+1", sender="+2",
                                               date=datetime(2024, 1, 1, tzinfo=timezone.utc),
                                               mm_status=mm7.DeliveryStatus.RETRIEVED),
                         transaction_id="t-9", version="REL-6-MM7-1-4").to_bytes()
    lacking = re.sub(rb"<MessageID>m</MessageID>", b"", request)
    rsp = mm7.Receiver(mm7.Handler(), strict=True).handle(lacking, "text/xml")
    back = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
    status = back.body.detail.status
    assert status.code == 4004 and ("/Envelope/Body/DeliveryReportReq/Recipient: DeliveryReportReq lacks MessageID, "
                                    "which is required after MM7Version (Recipient came there instead)") in status.text
    assert "{" not in status.text
    assert "This element is not expected" in status.details and "REL-6-MM7-1-4}MessageID" in status.details


def test_answers_echo_the_callers_mm7version_when_valid():
    app = mm7.wsgi_app(mm7.Receiver())
    rsp = post(app, deliver(mm7_version="5.3.0"), version="REL-5-MM7-1-2")
    assert mm7.decode(rsp["body"]).body.mm7_version == "5.3.0"
    data = mm7.encode(deliver(), transaction_id="t", version="REL-6-MM7-1-4").to_bytes().replace(b"6.8.0", b"6.7.0")
    rsp = call_wsgi(app, data, "text/xml")
    env = mm7.decode(rsp["body"], strict=True)  # 6.7.0 is not valid in REL-6-MM7-1-4: answered with 6.8.0
    assert rsp["status"] == 200 and env.body.mm7_version == "6.8.0"


@pytest.mark.parametrize("namespace", ["REL-5-MM7-1-0", "REL-5-MM7-1-9"])  # (one we know, one we do not)
def test_a_later_release_mm7version_is_not_echoed_in_an_earlier_namespace(namespace):
    """6.3.0 in a REL-5 namespace: REL-5-MM7-1-0's x.y.z pattern takes it, but no Rel-5 schema lists
    it, and our own reader reports it (mm7version-namespace; 4002 when strict): the answer echoed it,
    so a strict mm7bind MMSC refused our DeliverRsp. It carries the namespace's own version, in
    the answer and in a Fault's RSErrorRsp alike."""
    data = mm7.encode(deliver(mm7_version="5.3.0"), transaction_id="t", version="REL-5-MM7-1-0").to_bytes()
    data = data.replace(b"<MM7Version>5.3.0<", b"<MM7Version>6.3.0<").replace(b"REL-5-MM7-1-0", namespace.encode())
    assert "mm7version-namespace" in {d.code for d in mm7.decode(data).deviations}
    ok = call_wsgi(mm7.wsgi_app(mm7.Receiver()), data, "text/xml")
    refused = call_wsgi(mm7.wsgi_app(mm7.Receiver(strict=True)), data, "text/xml")
    for rsp, status in ((ok, 200), (refused, 500)):
        env = mm7.decode(rsp["body"])
        assert "mm7version-namespace" not in {d.code for d in env.deviations}  # (said of a 6.3.0 echoed)
        body = env.body.detail if env.is_fault else env.body
        assert rsp["status"] == status and body.mm7_version == "5.3.0" and namespace.encode() in rsp["body"]
    assert mm7.decode(refused["body"]).body.status.code == 4002


@pytest.mark.parametrize("profile", [mm7.profiles.STANDARD, mm7.profiles.CMCC], ids=["standard", "cmcc"])
def test_status_answers_from_a_template_are_the_encoder_s_bytes(profile):
    rcv = mm7.Receiver(profile=profile)
    tids = ["t-1", "a&b<c>d", "中文-ID", "x\ry", "'\"quoted\"'", "t-1"]
    for version in ("REL-5-MM7-1-2", "REL-6-MM7-1-4"):
        for mm7_version in (None, "5.3.0", "6.8.0"):
            for tid in tids:
                request = deliver(mm7_version=mm7_version) if mm7_version else deliver()
                env = mm7.decode(mm7.encode(request, transaction_id=tid, version=version).to_bytes())
                for status in (mm7.Status(1000), mm7.Status(2001, "bad", "details")):
                    rsp = mm7.DeliverRsp(status=status)
                    fast, slow = rcv.plain_answer(env, rsp), rcv.answer(env, rsp)
                    assert (fast.status, fast.headers, fast.body) == (slow.status, slow.headers, slow.body)
                    assert mm7.decode(fast.body, dict(fast.headers)["Content-Type"]).transaction_id == tid.strip()


def test_repeats_of_a_handled_message_are_answered_from_the_status_template(store, monkeypatch):
    rcv = mm7.Receiver(store=store)
    out = mm7.encode(deliver(), transaction_id="again-1")
    first = rcv.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1")
    encoded = []
    real = mm7.receiver.encode_reply
    monkeypatch.setattr(mm7.receiver, "encode_reply", lambda *a: encoded.append(a) or real(*a))
    again = rcv.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1")
    assert (again.status, again.headers, again.body) == (first.status, first.headers, first.body)
    assert encoded == []  # (the first answer's template, only the TransactionID filled in)
    assert [r.attempts for r in store.inbox()] == [1]  # (answered from the store, not handled again)


def with_parts(**kw) -> mm7.DeliverReq:
    """A DeliverReq with content: each encoding frames it anew (boundaries, Content-IDs, the SMIL
    naming them), as a sender building each copy again does."""
    msg = deliver(**kw)
    msg.content = mm7.Content()
    msg.content.add_text("好")
    msg.content.add_bytes(b"\xff\xd8 a picture", "image/jpeg")
    return msg


def test_another_message_under_a_transaction_id_seen_before_is_handled(store):
    """A TransactionID alone does not tell messages apart (MMSCs sharing a counter, one started
    over, Mbuni's constant "0000"): another message under one seen before was answered 1000 as
    a repeat, without the handler, and lost. A copy of the same message is still a repeat,
    whatever the MIME around it."""
    calls = []
    rcv = mm7.Receiver(store=store)

    @rcv.on("deliver")
    def on_deliver(msg, ctx):
        calls.append((str(msg.sender), msg.subject))

    @rcv.on("delivery_report")
    def on_report(msg, ctx):
        calls.append((msg.message_id, str(msg.mm_status.value)))

    app = mm7.wsgi_app(rcv)
    for sender, subject in (("+8613800000001", "a"), ("+8613800000002", "a"), ("+8613800000001", "b")):
        assert post(app, with_parts(sender=sender, subject=subject), tid="0000")["status"] == 200
    again = mm7.encode(with_parts(sender="+8613800000001", subject="b"), transaction_id="0000")
    first = mm7.encode(with_parts(sender="+8613800000001", subject="b"), transaction_id="0000")
    assert again.to_bytes() != first.to_bytes()  # (other boundaries, Content-IDs, SMIL)
    assert call_wsgi(app, again.to_bytes(), again.content_type)["status"] == 200  # a repeat
    assert post(app, report(message_id="m-1"), tid="0000")["status"] == 200
    assert post(app, report(message_id="m-2"), tid="0000")["status"] == 200
    assert calls == [("+8613800000001", "a"), ("+8613800000002", "a"), ("+8613800000001", "b"),
                     ("m-1", "Retrieved"), ("m-2", "Retrieved")]
    assert [(r.kind, r.state) for r in store.inbox()] == [("DeliverReq", "handled")] * 3 + [
        ("DeliveryReportReq", "handled")] * 2


def test_a_copy_the_mmsc_builds_again_is_the_same_message(store):
    """The simulator, as MMSCs may, encodes each attempt again: new boundaries and Content-IDs
    (the Content reference's too). Its second copy of a message whose first failed must take that record
    over, not be stored beside it (handled, while the failed first waits for a replay: twice)."""
    from mm7bind.simulator import Simulator

    calls = []

    @(rcv := mm7.Receiver(store=store)).on("deliver")
    def on_deliver(msg, ctx):
        calls.append(msg.subject)
        if len(calls) == 1:
            raise mm7.Unavailable("the database is down")

    with mm7.serve(rcv, port=0) as srv, Simulator(report_delay=0, report_attempts=2, report_retry_delay=0.01,
                                                  vasp_url=srv.endpoint) as sim:
        outcome = sim.deliver("+8613900000000", ["1065888"], "twice", text="hi",
                              parts=[mm7.Part.from_bytes(b"\xff\xd8 a picture", "image/jpeg")])
    assert (outcome["status"], outcome["attempts"]) == (1000, 2)
    assert calls == ["twice", "twice"]
    assert [r.state for r in store.inbox()] == ["handled"]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_copy_of_a_handled_message_gets_the_first_answers_service_code(kind, tmp_path, caplog):
    """An MMSC sends a copy when the first answer did not reach it: the copy's answer is the only
    one it reads. It said the first one's code alone, without the ServiceCode the MMSC charges by
    (and the handler's status text)."""
    store = SqliteStore(tmp_path / "vasp.db") if kind == "sqlite" else MemoryStore()
    rcv = mm7.Receiver(store=store)
    rcv.on("deliver", lambda msg, ctx: mm7.DeliverRsp(
        status=mm7.Status(1000, "taken, thanks"), service_code="100001", service_code_attributes={"fee": "2"}))
    app = mm7.wsgi_app(rcv)
    first = post(app, deliver(), tid="sc-1")
    again = post(app, deliver(), tid="sc-1")
    for rsp in (first, again):
        got = mm7.decode(rsp["body"]).body
        assert (got.status.code, got.status.text, got.service_code, got.service_code_attributes) == (
            1000, "taken, thanks", "100001", {"fee": "2"})
    [rec] = store.inbox()
    assert rec.attempts == 1 and rec.answer == {"text": "taken, thanks", "service_code": "100001",
                                                "service_code_attributes": {"fee": "2"}}
    # What a copy's answer cannot carry (here, made so by hand) leaves it the code alone, not a 3000.
    if kind == "memory":
        store._inbox[rec.id].answer["service_code_attributes"] = {"bad name": "x"}
        got = mm7.decode(post(app, deliver(), tid="sc-1")["body"]).body
        assert (got.status.code, got.service_code) == (1000, None)
        assert "the first answer's text, service_code, service_code_attributes cannot be given again" in caplog.text
    if kind == "sqlite":
        store.close()


def test_a_store_of_ones_own_whose_mark_takes_no_answer_keeps_the_code():
    class Earlier(MemoryStore):  # (written before answers were kept)
        def mark(self, record_id, state, response_code=None, error=None, *, wait=None):
            super().mark(record_id, state, response_code, error, wait=wait)

    store = Earlier()
    rcv = mm7.Receiver(store=store)
    rcv.on("deliver", lambda msg, ctx: mm7.DeliverRsp(service_code="100001"))
    app = mm7.wsgi_app(rcv)
    assert mm7.decode(post(app, deliver(), tid="e-1")["body"]).body.service_code == "100001"
    again = mm7.decode(post(app, deliver(), tid="e-1")["body"]).body
    assert (again.status.code, again.service_code) == (1000, None)
    assert [(r.state, r.response_code) for r in store.inbox()] == [("handled", 1000)]


def test_a_store_file_from_before_answers_were_kept_is_upgraded(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with inbox_file_before(path, "answer") as db:
        db.execute("INSERT INTO inbox (kind, transaction_id, content_type, body, received_at, state, response_code,"
                   " tid_key) VALUES ('DeliverReq', 'old-1', 'text/xml', X'', '2026-01-01T00:00:00+00:00',"
                   " 'handled', 1000, 'DeliverReq|old-1')")
    with pytest.raises(sqlite3.DatabaseError, match="written by an older mm7bind"):
        SqliteStore(path, read_only=True)
    store = SqliteStore(path)
    try:
        [old] = store.inbox()
        assert (old.state, old.answer) == ("handled", {})
        store.mark(old.id, "handled", 1000, None, answer={"service_code": "7"})
        assert store.inbox_get(old.id).answer == {"service_code": "7"}
    finally:
        store.close()


def test_a_repeat_of_a_rejected_message_is_refused_as_the_first_copy_was(store):
    """Same faultcode (a Reject in 3xxx is a Server Fault: an MMSC may try it again later, and a
    Client one it drops), same status code and the handler's text, without calling it again."""
    calls = []
    rcv = mm7.Receiver(store=store)

    @rcv.on("deliver")
    def refuse(msg, ctx):
        calls.append(msg)
        raise mm7.Reject(3001 if msg.subject == "server" else 2002, f"refused: {msg.subject}")

    for subject, faultcode, code in (("server", "Server", 3001), ("client", "Client", 2002)):
        out = mm7.encode(mm7.DeliverReq(sender="1", subject=subject), transaction_id=f"rej-{subject}")
        answers = [rcv.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1") for _ in range(2)]
        faults = [mm7.decode(a.body, dict(a.headers)["Content-Type"]).body for a in answers]
        assert [(f.code.rpartition(":")[2], f.detail.status.code, f.detail.status.text) for f in faults] == \
            [(faultcode, code, f"refused: {subject}")] * 2
    assert len(calls) == 2


@pytest.mark.parametrize(("code", "faultcode"), [(4001, "Client"), (4002, "Client"), (4004, "Client"),
                                                 (4007, "Client"), (4000, "Server"), (4005, "Server"),
                                                 (4006, "Server"), (4101, "Server"), (2002, "Client"),
                                                 (3000, "Server")])
def test_a_rejects_faultcode_follows_its_status_as_the_receivers_own_refusals_do(store, code, faultcode):
    """A Reject(4004) went out as a Server Fault (only codes under 3000 were Client), while the
    receiver's own 4004 refusal of the same request was a Client one: an MMSC reading the faultcode
    sent a refused message again and again. The first answer and a repeat's alike."""
    rcv = mm7.Receiver(store=store)

    @rcv.on("deliver")
    def refuse(msg, ctx):
        raise mm7.Reject(code)

    out = mm7.encode(deliver(), transaction_id=f"rej-{code}")
    answers = [rcv.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1") for _ in range(2)]
    faults = [mm7.decode(a.body).body for a in answers]
    assert [(f.code, f.status.code) for f in faults] == [(faultcode, code)] * 2
    strict = mm7.Receiver(strict=True)
    sloppy = out.to_bytes().replace(b"<Subject>", b"<Vendor>x</Vendor><Subject>")
    own = mm7.decode(strict.handle(sloppy, out.content_type, {}).body).body
    assert (own.code, own.status.code) == ("Client", 4004)


@pytest.mark.parametrize("success", [1000, 1100, 1001, mm7.Status(1000, "ok")])
def test_a_reject_of_a_success_is_refused_not_sent_as_a_fault_saying_success(success):
    """Reject(1000) went out as a Fault (HTTP 500) saying "Success", stored as rejected: an MMSC
    reads a Fault as a refusal, and the message's copies got it again. A handler's bug: failed, 3000."""
    with pytest.raises(ValueError, match="is a success, not a refusal"):
        mm7.Reject(success)
    rcv = mm7.Receiver(store=MemoryStore())

    @rcv.on("deliver")
    def refuse(msg, ctx):
        raise mm7.Reject(success)

    out = mm7.encode(deliver(), transaction_id="ok-1")
    fault = mm7.decode(rcv.handle(out.to_bytes(), out.content_type, {}).body).body
    assert (fault.code, fault.status.code) == ("Server", 3000)
    assert [r.state for r in rcv.store.inbox()] == ["failed"]


def test_handler_outcomes_and_registered_callables(store):
    rcv = mm7.Receiver(store=store)
    seen = []

    @rcv.on("deliver")
    def on_deliver(msg, ctx):
        seen.append(msg.subject)
        if msg.subject == "refuse":
            raise mm7.Reject(2002, details="unknown user")
        if msg.subject == "crash":
            raise RuntimeError("bug in the handler")
        return mm7.Status(1100)

    app = mm7.wsgi_app(rcv)
    ok = post(app, deliver(), tid="a")
    assert ok["status"] == 200 and mm7.decode(ok["body"]).body.status.code == 1100
    refused = post(app, mm7.DeliverReq(sender="1", subject="refuse"), tid="b")
    env = mm7.decode(refused["body"], strict=True)
    assert refused["status"] == 500 and env.body.code == "Client"
    assert isinstance(env.body.detail, mm7.VASPErrorRsp) and env.body.status.code == 2002
    assert env.body.status.details == "unknown user"
    crashed = post(app, mm7.DeliverReq(sender="1", subject="crash"), tid="c")
    env = mm7.decode(crashed["body"])
    assert crashed["status"] == 500 and env.body.code == "Server" and env.body.status.code == 3000
    states = {r.transaction_id: r.state for r in store.inbox()}
    assert states == {"a": "handled", "b": "rejected", "c": "failed"}
    assert "bug in the handler" in store.inbox(state="failed")[0].error
    with pytest.raises(ValueError):
        rcv.on("submit", lambda m, c: None)


def test_failed_messages_are_replayed(store):
    attempts = []

    class Flaky(mm7.Handler):
        def on_deliver(self, msg, ctx):
            attempts.append(ctx.replay)
            if len(attempts) == 1:
                raise ConnectionError("database down")

    rcv = mm7.Receiver(Flaky(), store=store)
    app = mm7.wsgi_app(rcv)
    assert post(app, deliver(), tid="r1")["status"] == 500
    [rec] = store.inbox(state="failed")
    assert rcv.replay() == [(rec.id, "handled")]
    assert attempts == [False, True] and store.inbox_get(rec.id).attempts == 2
    # A repeat of the handled message is answered without calling the handler again.
    assert post(app, deliver(), tid="r1")["status"] == 200 and len(attempts) == 2


def test_an_outage_is_logged_in_one_line_and_a_bug_with_its_traceback(store, caplog):
    class Handler(mm7.Handler):
        def on_deliver(self, msg, ctx):
            if msg.subject == "outage":
                raise mm7.Unavailable("the CRM does not answer")
            raise KeyError("bug")

    app = mm7.wsgi_app(mm7.Receiver(Handler(), store=store))
    for subject in ("outage", "bug"):
        assert post(app, mm7.DeliverReq(sender="+8613900000000", subject=subject), tid=subject)["status"] == 500
    outage, bug = (r for r in caplog.records if "stored as #" in r.getMessage())
    assert "the CRM does not answer" in outage.getMessage() and not outage.exc_info
    assert bug.exc_info and bug.exc_info[0] is KeyError
    assert {r.state for r in store.inbox()} == {"failed"}  # both kept for replay


@pytest.mark.parametrize("code", [4006, 3000])
def test_a_try_later_code_returned_keeps_the_message_for_the_next_copy_and_replay(store, caplog, code):
    """A handler returning 4006 (or a retryable 3xxx) rather than raising Unavailable: stored as
    handled, the MMSC's next copy got 4006 from the store without the handler, and replay never
    ran it, so the message was lost once the MMSC gave up."""
    busy = [True]
    calls = []

    @(rcv := mm7.Receiver(store=store, metrics=mm7.Metrics())).on("deliver")
    def on_deliver(msg, ctx):
        calls.append(ctx.replay)
        return code if busy[0] else None

    app = mm7.wsgi_app(rcv)
    first = post(app, deliver(), tid="busy-1")
    # (answered as the handler said)
    assert first["status"] == 200 and mm7.decode(first["body"]).body.status.code == code
    [rec] = store.inbox()
    assert (rec.state, rec.response_code) == ("failed", code)
    [line] = [r for r in caplog.records if r.name == "mm7bind.receiver" and r.levelno == logging.WARNING]
    assert f"answered {code} (try later); stored as #{rec.id} for replay" in line.getMessage()
    assert line.mm7["outcome"] == "failed" and line.mm7["status"] == code
    assert rcv.metrics.value("mm7bind_received_total", operation="DeliverReq", outcome="failed",
                             status=str(code)) == 1
    again = post(app, deliver(), tid="busy-1")  # the MMSC's next copy reaches the handler
    assert mm7.decode(again["body"]).body.status.code == code and calls == [False, False]
    busy[0] = False
    assert rcv.replay() == [(rec.id, "handled")] and calls == [False, False, True]
    assert mm7.decode(post(app, deliver(), tid="busy-1")["body"]).body.status.code == 1000 and len(calls) == 3


def test_a_final_error_code_returned_is_the_handled_answer(store):
    """A code that is no "later" (3001, 2xxx, 4xxx but 4006) is the handler's last word: answered so
    again to the MMSC's copies, from the store."""
    calls = []
    rcv = mm7.Receiver(store=store)
    rcv.on("deliver", lambda msg, ctx: calls.append(msg) or 3001)
    app = mm7.wsgi_app(rcv)
    for _ in range(2):
        assert mm7.decode(post(app, deliver(), tid="final-1")["body"]).body.status.code == 3001
    assert [r.state for r in store.inbox()] == ["handled"] and len(calls) == 1


def test_messages_left_processing_by_a_dead_worker_are_replayed(store):
    h = Recorder()
    rcv = mm7.Receiver(h, store=store)
    out = mm7.encode(deliver(), transaction_id="orphan")
    rec, new = store.accept(kind="DeliverReq", transaction_id="orphan", message_id=None, recipient=None, status=None,
                            peer="127.0.0.1", content_type=out.content_type, body=out.to_bytes(),
                            tid_key="DeliverReq|orphan", report_key=None)
    assert new and rec.state == "processing"
    assert rcv.replay(stale_after=3600) == []  # not stale yet: its worker may still be on it
    assert rcv.replay(stale_after=0) == [(rec.id, "handled")] and len(h.calls) == 1


def test_failed_message_resent_by_the_mmsc_is_processed_again(store):
    calls = []

    class Once(mm7.Handler):
        def on_deliver(self, msg, ctx):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("boom")

    app = mm7.wsgi_app(mm7.Receiver(Once(), store=store))
    assert post(app, deliver(), tid="z")["status"] == 500
    assert post(app, deliver(), tid="z")["status"] == 200
    assert len(calls) == 2 and len(store.inbox()) == 1 and store.inbox()[0].state == "handled"


def test_a_handler_answer_that_is_no_answer_fails_the_message_for_replay(store):
    answers = iter([mm7.ReadReplyRsp(), "ok", True, None])  # (True went out as status code 1)

    class Confused(mm7.Handler):
        def on_deliver(self, msg, ctx):
            return next(answers)

    rcv = mm7.Receiver(Confused(), store=store, repeat_wait=0.05)
    app = mm7.wsgi_app(rcv)
    for _ in range(3):  # the wrong response, then what is no status at all
        rsp = post(app, deliver(), tid="q")
        assert rsp["status"] == 500 and mm7.decode(rsp["body"]).body.status.code == 3000
        [rec] = store.inbox()
        assert rec.state == "failed" and "TypeError" in rec.error
    # Stored as failed, not left "processing": the MMSC's next copy runs the handler again,
    # rather than being told it was handled.
    rsp = post(app, deliver(), tid="q")
    assert rsp["status"] == 200 and store.inbox()[0].state == "handled"
    assert next(answers, "none left") == "none left"


def test_a_handler_failing_with_text_utf8_cannot_hold_is_stored_as_failed(store):
    """An exception text with a lone surrogate (a file name read with surrogateescape, bytes
    decoded so): its outcome is recorded all the same, not an internal error leaving the message
    'processing' until it goes stale."""

    class Fails(mm7.Handler):
        def on_deliver(self, msg, ctx):
            raise ValueError("cannot open b\udcff.jpg")

    app = mm7.wsgi_app(mm7.Receiver(Fails(), store=store))
    rsp = post(app, deliver(), tid="s")
    assert rsp["status"] == 500 and mm7.decode(rsp["body"]).body.status.code == 3000
    [rec] = store.inbox()
    assert rec.state == "failed" and "cannot open b\\udcff.jpg" in rec.error


def test_duplicates_and_report_keys(store):
    h = Recorder()
    app = mm7.wsgi_app(mm7.Receiver(h, store=store))
    assert post(app, deliver(), tid="d1")["status"] == 200
    assert post(app, deliver(), tid="d1")["status"] == 200  # same TransactionID
    assert post(app, report(), tid="r1")["status"] == 200
    assert post(app, report(), tid="r2")["status"] == 200  # same report, new TransactionID
    assert post(app, report(mm_status=mm7.DeliveryStatus.DEFERRED), tid="r3")["status"] == 200  # another status
    assert len(h.calls) == 3 and len(store.inbox()) == 3


def test_reports_are_linked_to_what_we_sent(store):
    store.record_sent(SentRecord(transaction_id="sub-1", operation="SubmitReq", version="REL-6-MM7-1-4",
                                 recipients=["+8613800000000"], message_id="m-1", status_code=1000))
    h = Recorder()
    app = mm7.wsgi_app(mm7.Receiver(h, store=store))
    post(app, report(), tid="r1")
    post(app, read_reply(), tid="r2")
    for msg, ctx in h.calls:
        assert ctx.sent.transaction_id == "sub-1" and ctx.record.sent_transaction_id == "sub-1"



def test_a_store_of_ones_own_is_asked_for_the_send_as_its_signature_says():
    # One written before reports were matched by recipient is asked by MessageID alone; one that
    # takes the recipient and fails with a TypeError of its own is not asked again without it
    # (that would hide its bug and match the report by MessageID alone, to any campaign).
    sent = SentRecord(transaction_id="sub-1", operation="SubmitReq", version="REL-6-MM7-1-4",
                      recipients=["+8613800000000"], message_id="m-1", status_code=1000)

    class OneArgument(MemoryStore):
        def sent_by_message_id(self, message_id):
            return super().sent_by_message_id(message_id)

    class Buggy(MemoryStore):
        asked: list = []

        def sent_by_message_id(self, message_id, recipient=None):
            self.asked.append((message_id, recipient))
            if recipient is not None:
                raise TypeError("a bug of its own")
            return super().sent_by_message_id(message_id)

    own = OneArgument()
    own.record_sent(sent)
    h = Recorder()
    assert post(mm7.wsgi_app(mm7.Receiver(h, store=own)), report(), tid="r1")["status"] == 200
    assert h.calls[0][1].sent.transaction_id == "sub-1"
    buggy = Buggy()
    buggy.record_sent(sent)
    rsp = post(mm7.wsgi_app(mm7.Receiver(Recorder(), store=buggy)), report(), tid="r2")
    assert rsp["status"] == 500 and mm7.decode(rsp["body"]).body.status.code == 3000
    assert buggy.asked == [("m-1", "+8613800000000")]

def test_unsupported_operation_and_bad_input():
    app = mm7.wsgi_app(mm7.Receiver())
    rsp = post(app, mm7.SubmitReq(recipients=["1"]))
    env = mm7.decode(rsp["body"], strict=True)
    assert rsp["status"] == 500 and env.body.status.code == 4003 and env.body.code == "Client"
    rsp = call_wsgi(app, b"<not-soap/>", "text/xml")
    assert rsp["status"] == 500 and mm7.decode(rsp["body"]).body.status.code == 2007
    rsp = call_wsgi(app, b"\x00garbage", "multipart/related; boundary=b")
    assert rsp["status"] == 500 and mm7.decode(rsp["body"]).body.status.code == 2007
    strict = mm7.wsgi_app(mm7.Receiver(strict=True))
    sloppy = mm7.encode(deliver(), transaction_id="t", version="REL-6-MM7-1-4").to_bytes().replace(
        b"<Subject>", b"<Vendor>x</Vendor><Subject>")
    rsp = call_wsgi(strict, sloppy, "text/xml")
    env = mm7.decode(rsp["body"])
    assert rsp["status"] == 500 and env.body.status.code == 4004 and env.transaction_id == "t"  # (echoed)
    assert call_wsgi(app, sloppy, "text/xml")["status"] == 200  # tolerant by default


@pytest.mark.parametrize(("version", "mm7_version"), [("REL-6-MM7-1-4", "6.5.0"), ("REL-5-MM7-1-5", "5.10.0"),
                                                      ("REL-6-MM7-1-4", "6.9.0")])
def test_a_strict_refusal_answers_in_the_callers_mm7_version_where_its_schema_takes_it(version, mm7_version):
    """A strict receiver refusing a deviation answers, as every other answer, in the caller's
    namespace and MM7Version (its version's default only where the schema takes no other: an
    MM7Version it does not list, itself the reason for the 4002), not the version's default."""
    sloppy = mm7.encode(deliver(mm7_version="6.5.0" if mm7_version == "6.9.0" else mm7_version),
                        transaction_id="t-s", version=version).to_bytes()
    sloppy = sloppy.replace(b"<Subject>", b"<Vendor>x</Vendor><Subject>").replace(
        b"<MM7Version>6.5.0<", f"<MM7Version>{mm7_version}<".encode())
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver(strict=True)), sloppy, "text/xml")
    env = mm7.decode(rsp["body"], strict=True)
    assert rsp["status"] == 500 and env.transaction_id == "t-s" and env.version.name == version
    if mm7_version == "6.9.0":  # (not in REL-6-MM7-1-4: refused for it, answered in the default)
        assert env.body.status.code == 4002 and env.body.detail.mm7_version == "6.8.0"
    else:
        assert env.body.status.code == 4004 and env.body.detail.mm7_version == mm7_version



SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def _with_header_entry(data: bytes, entry: bytes) -> bytes:
    assert data.count(b"</env:Header>") == 1
    return data.replace(b"</env:Header>", entry + b"</env:Header>")


@pytest.mark.parametrize("strict", [False, True], ids=["tolerant", "strict"])
@pytest.mark.parametrize("version", ["REL-5-MM7-1-0", "REL-6-MM7-1-4"])
def test_a_header_entry_we_must_but_do_not_understand_is_a_must_understand_fault(version, strict):
    """SOAP 1.1 (4.2.3): an entry marked mustUnderstand for us is obeyed or the message refused
    with a MustUnderstand Fault (no detail: SOAP keeps that for the Body's errors). Handling the
    message without it (a security or billing header, say) is what its sender forbade. Nothing is
    stored or handled; the answer echoes the caller's TransactionID in its namespace."""
    h, store = Recorder(), MemoryStore()
    app = mm7.wsgi_app(mm7.Receiver(h, store=store, strict=strict))
    data = mm7.encode(deliver(), transaction_id="t-9", version=version).to_bytes()
    refused = _with_header_entry(data, b'<x:Billing xmlns:x="urn:billing" env:mustUnderstand="1">b</x:Billing>')
    rsp = call_wsgi(app, refused, "text/xml")
    env = mm7.decode(rsp["body"], strict=True)
    assert rsp["status"] == 500 and env.is_fault and env.body.code == "MustUnderstand"
    assert env.body.detail is None and "Billing" in env.body.string
    assert (env.transaction_id, env.version.name) == ("t-9", version)
    assert h.calls == [] and store.inbox() == []
    # Marked for another actor, or not marked: ignored (tolerant) as before.
    for entry in (b'<x:Billing xmlns:x="urn:billing" env:mustUnderstand="1" env:actor="urn:other">b</x:Billing>',
                  b'<x:Billing xmlns:x="urn:billing" env:mustUnderstand="0">b</x:Billing>'):
        rsp = call_wsgi(app, _with_header_entry(data, entry), "text/xml")
        if strict:  # (an unknown header entry is a deviation like any other)
            assert rsp["status"] == 500 and mm7.decode(rsp["body"]).body.status.code == 4004
        else:
            assert rsp["status"] == 200
    assert len(h.calls) == (0 if strict else 1)


@pytest.mark.parametrize("strict", [False, True], ids=["tolerant", "strict"])
def test_a_soap_1_2_envelope_gets_a_version_mismatch_fault(strict):
    """A SOAP 1.2 envelope sent by mistake is refused with SOAP 1.1's VersionMismatch, saying which
    SOAP this is, rather than handled and answered in a SOAP its sender does not read."""
    h = Recorder()
    app = mm7.wsgi_app(mm7.Receiver(h, strict=strict))
    data = mm7.encode(deliver(), transaction_id="t-12", version="REL-6-MM7-1-4").to_bytes()
    data = data.replace(b"http://schemas.xmlsoap.org/soap/envelope/", SOAP12.encode())
    rsp = call_wsgi(app, data, "application/soap+xml; charset=utf-8")
    env = mm7.decode(rsp["body"], strict=True)
    assert rsp["status"] == 500 and env.is_fault and env.body.code == "VersionMismatch"
    assert "SOAP 1.1" in env.body.string and env.transaction_id == "t-12" and h.calls == []
    # The client takes either refusal as final: sending the same envelope again changes nothing.
    assert not mm7.RetryPolicy().retries_fault(env.body, 500)
    assert not mm7.RetryPolicy().retries_fault(mm7.Fault(code="MustUnderstand", string="x"), 500)


def test_the_simulator_refuses_what_soap_refuses():
    from mm7bind.simulator import Simulator

    sim = Simulator()
    data = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"]), transaction_id="s-1",
                      version="REL-6-MM7-1-4").to_bytes()
    marked = _with_header_entry(data, b'<x:Sec xmlns:x="urn:sec" env:mustUnderstand="1"/>')
    soap12 = data.replace(b"http://schemas.xmlsoap.org/soap/envelope/", SOAP12.encode())
    for sent, code in ((marked, "MustUnderstand"), (soap12, "VersionMismatch")):
        rsp = sim.handle(sent, "text/xml", {})
        env = mm7.decode(rsp.body, strict=True)
        assert env.is_fault and env.body.code == code and env.transaction_id == "s-1"
    assert sim.handle(data, "text/xml", {}).status == 200


def _without_transaction_id(data: bytes, how: str) -> bytes:
    header = re.search(rb"<env:Header>.*</env:Header>", data).group(0)
    tid = re.search(rb"<TransactionID[^>]*>[^<]*</TransactionID>", data).group(0)
    return {"empty": data.replace(tid, re.sub(rb">[^<]*<", b"><", tid)),
            "absent": data.replace(tid, b""), "no Header": data.replace(header, b"")}[how]


@pytest.mark.parametrize("strict", [False, True], ids=["tolerant", "strict"])
@pytest.mark.parametrize("how", ["empty", "absent", "no Header"])
def test_a_request_without_a_transaction_id_is_answered_with_an_empty_one(how, strict):
    """TransactionID is mandatory in every MM7 message, and an answer echoes the request's: to a
    request that had none (InstantCom's habit) or an empty one, an empty one — a placeholder such
    as "0" would claim an id the caller never used, one it may have given another request."""
    request = mm7.encode(deliver(), transaction_id="t-1", version="REL-6-MM7-1-4").to_bytes()
    request = _without_transaction_id(request, how)
    handler = Recorder()
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver(handler, strict=strict)), request, "text/xml")
    assert rsp["status"] == (500 if strict else 200)
    assert re.search(rb"<(?:\w+:)?TransactionID[^>]*/>", rsp["body"])
    env = mm7.decode(rsp["body"])
    assert env.transaction_id is None and {d.code for d in env.deviations} == {"missing-transaction-id"}
    assert env.is_fault == strict and len(handler.calls) == (0 if strict else 1)
    if not strict:
        assert handler.calls[0][1].transaction_id is None
        assert "missing-transaction-id" in {d.code for d in handler.calls[0][1].deviations}  # (still reported)
    # The simulator answers such a SubmitReq so too.
    submit = _without_transaction_id(mm7.encode(mm7.SubmitReq(recipients=mm7.Recipients(to=["1"])),
                                                transaction_id="t-1", version="REL-6-MM7-1-4").to_bytes(), how)
    answer = mm7.simulator.Simulator().handle(submit, "text/xml", {})
    assert answer.status == 200 and re.search(rb"<(?:\w+:)?TransactionID[^>]*/>", answer.body)
    assert mm7.decode(answer.body).transaction_id is None


def test_only_an_answer_may_carry_an_empty_transaction_id():
    for engine in ("direct", "xsdata"):
        with pytest.raises(mm7.EncodeError, match="TransactionID is required"):
            mm7.encode_envelope(deliver(), transaction_id="", version="REL-6-MM7-1-4", engine=engine)
        answers = [mm7.DeliverRsp(),
                   mm7.envelope.Fault("Client", "no", detail=mm7.VASPErrorRsp(status=mm7.Status(4004)))]
        for answer in answers:
            data = mm7.encode_envelope(answer, transaction_id="", version="REL-6-MM7-1-4", engine=engine)
            assert data == mm7.encode_envelope(answer, transaction_id="", version="REL-6-MM7-1-4", engine="direct")
            assert mm7.decode_envelope(data).transaction_id is None
    with pytest.raises(mm7.EncodeError, match="TransactionID is required"):
        mm7.encode_envelope(mm7.DeliverRsp(), transaction_id=None, version="REL-6-MM7-1-4")


def test_a_reject_with_structured_details_sends_them_in_its_fault():
    detail = '<x:why xmlns:x="urn:vasp">quota <x:left>0</x:left></x:why>'

    class Quota(mm7.Handler):
        def on_deliver(self, msg, ctx):
            raise mm7.Reject(mm7.Status(4007, "over quota", details_xml=detail,
                                        details_attributes={"{urn:vasp}ref": "E-42"}))

    rsp = post(mm7.wsgi_app(mm7.Receiver(Quota())), deliver())
    status = mm7.decode(rsp["body"], strict=True).body.detail.status
    assert (status.code, status.text, status.details) == (4007, "over quota", "quota 0")
    assert "urn:vasp" in status.details_xml and ">0<" in status.details_xml
    assert status.details_attributes == {"{urn:vasp}ref": "E-42"}


def test_a_request_without_a_content_type_is_read_and_reported():
    h = Recorder()
    out = mm7.encode(deliver(content=mm7.Content(parts=[mm7.Part.text("hi")])), transaction_id="no-type",
                     version="REL-6-MM7-1-4")
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver(h)), out.to_bytes(), None)  # (a MIME body: its boundary found)
    assert rsp["status"] == 200
    [(msg, ctx)] = h.calls
    assert [d.code for d in ctx.deviations] == ["soap-content-type"] and msg.content.parts
    strict = call_wsgi(mm7.wsgi_app(mm7.Receiver(strict=True)), out.to_bytes(), None)
    assert strict["status"] == 500 and mm7.decode(strict["body"]).body.status.code == 4004

def test_faults_quoting_what_the_peer_sent_stay_sendable():
    """An error message quoting the peer's bytes (a control character in its boundary), or a
    handler's Reject text, must not make the Fault unsendable: that would turn a Client fault
    (not retried) into a Server "internal error" (retried by the MMSC, forever)."""
    app = mm7.wsgi_app(mm7.Receiver())
    rsp = call_wsgi(app, b"--b\x07\xe9\r\nContent-Type: text/xml\r\n\r\n<x/>", 'multipart/related; boundary="b\x07\xe9"')
    env = mm7.decode(rsp["body"])  # (echoing the request's TransactionID: none)
    assert [d.code for d in env.deviations] == ["missing-transaction-id"]
    assert rsp["status"] == 500 and env.body.code == "Client" and env.body.status.code == 2007
    assert "b\\x07" in env.body.status.text

    class Picky(mm7.Handler):
        def on_deliver(self, msg, ctx):
            raise mm7.Reject(mm7.Status(4007, "subject \x01 refused", details="byte \x02 here"))

    rsp = post(mm7.wsgi_app(mm7.Receiver(Picky())), deliver())
    env = mm7.decode(rsp["body"], strict=True)
    assert env.body.status.code == 4007  # the handler's refusal, not an internal error
    assert (env.body.status.text, env.body.status.details) == ("subject \\x01 refused", "byte \\x02 here")

    sim = mm7.simulator.Simulator()
    rsp = sim.handle(b"--b\x07\xe9\r\n", 'multipart/related; boundary="b\x07\xe9"', {})
    env = mm7.decode(rsp.body)
    assert [d.code for d in env.deviations] == ["missing-transaction-id"]
    assert env.body.code == "Client" and "\\x07" in env.body.status.text


@pytest.mark.parametrize("response", [mm7.DeliverRsp(), mm7.DeliveryReportRsp(), mm7.ReadReplyRsp(),
                                      mm7.VASPErrorRsp(status=mm7.Status(4000))])
def test_the_simulator_refuses_a_vasps_response_posted_to_it(response):
    # These go from a VASP to an MMSC, but as answers: there is no response to them (a KeyError
    # escaped the simulator, and its WSGI server answered with an HTML error page).
    out = mm7.encode(response, transaction_id="t")
    rsp = mm7.simulator.Simulator().handle(out.to_bytes(), out.content_type, {})
    env = mm7.decode(rsp.body, strict=True)
    assert env.body.code == "Client" and env.body.status.code == 4003 and env.transaction_id == "t"


def test_answers_are_not_held_to_the_profiles_message_size_limit():
    # max_message_size is an MMSC's limit on the messages sent to it; applied to answers, which
    # echo the caller's TransactionID, it made a China Mobile profile's receiver answer a long one
    # with "internal error", and the simulator raise MessageTooLargeError for a request within
    # its own limit.
    from mm7bind.profiles import CMCC
    from mm7bind.simulator import Simulator

    tid = "t" * 150_000
    out = mm7.encode(mm7.SubmitReq(recipients=["1"]), transaction_id=tid, version="REL-6-MM7-1-0")
    rsp = mm7.Receiver(profile=CMCC).handle(out.to_bytes(), out.content_type, {}, "127.0.0.1")
    env = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"], strict=True)
    assert env.body.status.code == 4003 and env.transaction_id == tid
    short = mm7.encode(mm7.CancelReq(message_id="m"), transaction_id="t", version="REL-6-MM7-1-0").length
    tid = "t" * (CMCC.max_message_size - short)  # the request just within the simulator's limit
    out = mm7.encode(mm7.CancelReq(message_id="m"), transaction_id=tid, version="REL-6-MM7-1-0")
    rsp = Simulator(dialect="cmcc").handle(out.to_bytes(), out.content_type, {})
    env = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"], strict=True)
    assert env.body.status.code == 2005 and env.transaction_id == tid  # (no such message)


def test_a_post_to_another_path_than_the_receivers_is_logged_a_get_is_not(caplog):
    """An MMSC given a wrong URL (/MM7, /mm7/deliver) got 404s and its operator saw nothing: no
    line, no count. A GET elsewhere (a scanner, a browser) stays unsaid."""
    receiver = mm7.Receiver(Recorder())
    out = mm7.encode(deliver(), transaction_id="t-404")
    caplog.set_level(logging.INFO, logger="mm7bind.server")
    assert call_wsgi(mm7.wsgi_app(receiver, "/mm7"), out.to_bytes(), out.content_type, path="/MM7",
                     peer="10.0.0.9")["status"] == 404
    assert call_asgi(mm7.asgi_app(receiver, "/mm7"), [out.to_bytes()], {"Content-Type": out.content_type},
                     path="/mm7/deliver\n")[0]["status"] == 404
    assert call_wsgi(mm7.wsgi_app(receiver, "/mm7"), b"", None, method="GET", path="/admin")["status"] == 404
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "refused a POST to /MM7 from 10.0.0.9: 404, the receiver is at /mm7 (the MMSC's URL?)"),
        ("WARNING", "refused a POST to /mm7/deliver\\n from 10.0.0.7: 404, the receiver is at /mm7 (the MMSC's URL?)")]


def test_http_level_checks():
    app = mm7.wsgi_app(mm7.Receiver(max_body=1000), "/mm7")
    assert call_wsgi(app, b"", None, method="GET")["status"] == 405
    assert call_wsgi(app, b"", None, path="/other")["status"] == 404
    big = mm7.encode(deliver(content=mm7.Content(parts=[mm7.Part.from_bytes(bytes(5000), "image/jpeg")])),
                     transaction_id="t")
    assert call_wsgi(app, big.to_bytes(), big.content_type)["status"] == 413
    allow = mm7.wsgi_app(mm7.Receiver(allow=mm7.auth.IPAllowList.parse(["10.0.0.0/8", "::1"])))
    assert post(allow, deliver(), peer="127.0.0.1")["status"] == 403
    assert post(allow, deliver(), peer="10.1.2.3")["status"] == 200
    assert post(allow, deliver(), peer="::ffff:10.1.2.3")["status"] == 200  # (an IPv4 peer on a dual-stack socket)
    assert post(allow, deliver(), peer="::ffff:127.0.0.1")["status"] == 403


def test_an_allow_list_of_one_address_as_text_or_of_ipv4_mapped_networks():
    """IPAllowList.parse("10.0.0.0/8") read each character as an address (ValueError: '1'...); a
    network written IPv4-mapped, as a dual-stack server's logs show peers, held no IPv4 peer,
    which is how the embedded server sees them: every request refused."""
    assert mm7.auth.IPAllowList.parse("10.0.0.0/8").allows("10.1.2.3")
    for written in ("::ffff:10.0.0.0/104", "::FFFF:10.1.2.3", "::ffff:a00:0/104"):
        allow = mm7.auth.IPAllowList.parse([written, "192.0.2.0/24"])
        assert allow.allows("10.1.2.3") and allow.allows("::ffff:10.1.2.3") and allow.allows("192.0.2.1"), written
        assert not allow.allows("11.0.0.1") and not allow.allows("::ffff:11.0.0.1") and not allow.allows("::1")
    assert not mm7.auth.IPAllowList.parse(["::ffff:10.1.2.3"]).allows("10.1.2.4")
    with pytest.raises(ValueError, match="not-an-address"):
        mm7.auth.IPAllowList.parse("not-an-address")


def test_an_empty_allow_list_is_refused_not_taken_as_none():
    """IPAllowList(()) admitted every peer, while an empty `allow` in the configuration means no
    list (None): an embedder building one from an empty list of their own left the door open."""
    for made in (lambda: mm7.auth.IPAllowList(()), lambda: mm7.auth.IPAllowList.parse([])):
        with pytest.raises(ValueError, match="allow=None"):
            made()


def test_a_digest_answer_naming_a_parameter_twice_is_refused():
    """RFC 7235 §2.1: a parameter appears once. With `response=` twice the last won, so a header
    with a wrong response first read as right; it is refused as malformed (401), whichever is right."""
    auth = mm7.auth.DigestAuth("mmsc", "pw")
    answer = mm7.auth.DigestAnswer("mmsc", "pw")
    assert answer.take(auth.challenge())
    right = answer.authorization("POST", "/mm7")
    response = re.search(r'response="([^"]*)"', right).group(0)
    for header in (right.replace(response, f'response="{"0" * 32}", {response}'),
                   right.replace(response, f'{response}, response="{"0" * 32}"'),
                   right.replace(response, f'{response}, REALM="mm7"')):
        assert auth.check("POST", "/mm7", header) == (False, False), header
    assert auth.check("POST", "/mm7", right) == (True, False)
    out = mm7.encode(deliver(), transaction_id="t")
    app = mm7.wsgi_app(mm7.Receiver(Recorder(), auth=auth))
    header = answer.authorization("POST", "/mm7")
    twice = header.replace('response="', f'response="{"0" * 32}", response="')
    assert call_wsgi(app, out.to_bytes(), out.content_type, headers={"Authorization": twice})["status"] == 401


def test_wrong_credentials_from_one_address_are_throttled_and_said_once(caplog):
    """Each wrong Basic or Digest answer was a 401 and a WARNING line, so a peer could try
    passwords as fast as the server answered and fill the log. `auth_failures` of them within
    `auth_cooldown` seconds from one address: its requests are a 429 with Retry-After, unchecked
    (the right password too: no oracle), without a line each, for the cool-down; then checked again."""
    metrics = mm7.Metrics()
    rcv = mm7.Receiver(Recorder(), metrics=metrics, auth=mm7.auth.BasicAuth("mmsc", "pw"),
                       auth_failures=3, auth_cooldown=30)
    now = [1000.0]
    rcv._failures._clock = lambda: now[0]
    out = mm7.encode(deliver(), transaction_id="t")
    wrong, right = {"Authorization": "Basic bW1zYzp3cm9uZw=="}, {"Authorization": "Basic bW1zYzpwdw=="}

    def status(headers, peer="192.0.2.1"):
        return rcv.handle(out.to_bytes(), out.content_type, headers, peer=peer, uri="/mm7")

    with caplog.at_level(logging.WARNING, logger="mm7bind.receiver"):
        assert [status(wrong).status for _ in range(3)] == [401] * 3
        for headers in (wrong, right, {}):
            rsp = status(headers)
            assert rsp.status == 429 and dict(rsp.headers)["Retry-After"] == "30"
        assert status(right, peer="192.0.2.2").status == 200  # (another address: checked)
        assert status({}, peer="::ffff:192.0.2.1").status == 429  # (the same peer on a dual-stack socket)
    lines = [r.getMessage() for r in caplog.records]
    assert sum("wrong Basic credentials" in line for line in lines) == 3
    assert sum("answered 429" in line for line in lines) == 1, lines
    assert metrics.value("mm7bind_received_total", outcome="throttled") == 4
    now[0] += 29.5
    rsp = status(right)
    assert rsp.status == 429 and dict(rsp.headers)["Retry-After"] == "1"
    now[0] += 0.5  # (the cool-down over, the right credentials are taken at once)
    assert status(right).status == 200
    unlimited = mm7.Receiver(Recorder(), auth=mm7.auth.BasicAuth("mmsc", "pw"), auth_failures=0)
    assert {unlimited.handle(out.to_bytes(), out.content_type, wrong, peer="192.0.2.1").status
            for _ in range(20)} == {401}
    for bad in ({"auth_failures": -1}, {"auth_failures": True}, {"auth_cooldown": 0}, {"auth_cooldown": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            mm7.ReceiverConfig(**bad)


def test_the_failure_limit_forgets_old_failures_and_keeps_a_bounded_number_of_peers():
    now = [0.0]
    limit = mm7.auth.FailureLimit(failures=2, cooldown=10, max_peers=50, clock=lambda: now[0])
    assert not limit.failed("192.0.2.1")
    now[0] += 10  # (outside the window: forgotten, not the second)
    assert not limit.failed("192.0.2.1")
    assert limit.failed("192.0.2.1") and limit.refused_for("192.0.2.1") == 10
    for i in range(1000):  # (an address each: no more than max_peers kept)
        limit.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(limit._peers) == 50
    assert not limit.failed("2001:db8::1") and limit.failed("2001:db8::2")  # (one /64, one peer)
    assert limit.refused_for("2001:db8::ffff") and not limit.refused_for("2001:db8:0:1::1")


def test_the_failure_limit_counts_the_peer_a_trusted_proxy_names():
    """Behind a proxy every request comes from its address: the limit counts the peer its
    X-Forwarded-For names, so one sender's wrong passwords do not shut out the others."""
    rcv = mm7.Receiver(Recorder(), auth=mm7.auth.BasicAuth("mmsc", "pw"), auth_failures=2)
    out = mm7.encode(deliver(), transaction_id="xff-limit")

    def post(srv, forwarded, credentials):
        return requests.post(srv.url + "/mm7", data=out.to_bytes(), timeout=10, auth=("mmsc", credentials),
                             headers={**out.headers, "X-Forwarded-For": forwarded})

    with mm7.serve(rcv, port=0, trusted_proxy="127.0.0.1") as srv:
        assert [post(srv, "203.0.113.9", "guess").status_code for _ in range(3)] == [401, 401, 429]
        assert post(srv, "203.0.113.9", "guess").headers["Retry-After"] == "60"
        assert post(srv, "192.0.2.7", "pw").status_code == 200


def test_a_digest_answer_for_another_uri_is_logged_as_such(caplog):
    """`Receiver.handle`'s uri is "/" unless given: a server of one's own that does not pass it has
    every Digest answer refused, which the log called wrong credentials. It names the uri now."""
    auth = mm7.auth.DigestAuth("mmsc", "pw")
    rcv = mm7.Receiver(Recorder(), auth=auth)
    answer = mm7.auth.DigestAnswer("mmsc", "pw")
    assert answer.take(auth.challenge())
    out = mm7.encode(deliver(), transaction_id="t")
    with caplog.at_level(logging.WARNING, logger="mm7bind.receiver"):
        header = {"Authorization": answer.authorization("POST", "/mm7")}
        assert rcv.handle(out.to_bytes(), out.content_type, header, peer="192.0.2.1").status == 401
    assert "signs the uri /mm7, not this request's, / (Receiver.handle given no uri?)" in caplog.text
    assert "wrong Digest credentials" not in caplog.text
    header = {"Authorization": answer.authorization("POST", "/mm7")}
    assert rcv.handle(out.to_bytes(), out.content_type, header, peer="192.0.2.1", uri="/mm7").status == 200


def test_auth_over_a_real_socket():
    for auth, cls in ((mm7.auth.BasicAuth("mmsc", "pw"), requests.auth.HTTPBasicAuth),
                      (mm7.auth.DigestAuth("mmsc", "pw"), requests.auth.HTTPDigestAuth)):
        with mm7.serve(mm7.Receiver(auth=auth), port=0) as srv:
            out = mm7.encode(deliver(), transaction_id="t")
            url = srv.url + "/mm7"
            r = requests.post(url, data=out.to_bytes(), headers=out.headers, auth=cls("mmsc", "pw"))
            assert r.status_code == 200
            r = requests.post(url, data=out.to_bytes(), headers=out.headers, auth=cls("mmsc", "wrong"))
            assert r.status_code == 401 and r.headers["WWW-Authenticate"].split()[0] in ("Basic", "Digest")
            r = requests.post(url, data=out.to_bytes(), headers=out.headers)
            assert r.status_code == 401


def test_the_endpoint_is_where_the_receiver_answers():
    with mm7.serve(mm7.Receiver(), port=0, path="/vasp/mm7") as srv:
        assert srv.endpoint == srv.url + "/vasp/mm7"
        out = mm7.encode(deliver(), transaction_id="t")
        assert requests.post(srv.endpoint, data=out.to_bytes(), headers=out.headers, timeout=5).status_code == 200
        assert requests.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=5).status_code == 404
    with mm7.serve(mm7.Receiver(), port=0, path=None) as srv:  # every path is the receiver's
        assert srv.endpoint == srv.url


def test_a_digest_header_seen_once_is_not_taken_again():
    import hashlib

    auth = mm7.auth.DigestAuth("mmsc", "pw")
    nonce = auth.challenge().split('nonce="', 1)[1].split('"', 1)[0]

    def header(nc: str | None) -> str:
        ha1 = hashlib.md5(b"mmsc:mm7:pw").hexdigest()
        ha2 = hashlib.md5(b"POST:/mm7").hexdigest()
        if nc is None:  # RFC 2069: no qop, no count
            response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
            return f'Digest username="mmsc", realm="mm7", nonce="{nonce}", uri="/mm7", response="{response}"'
        response = hashlib.md5(f"{ha1}:{nonce}:{nc}:abc:auth:{ha2}".encode()).hexdigest()
        return (f'Digest username="mmsc", realm="mm7", nonce="{nonce}", uri="/mm7", qop=auth, nc={nc}, '
                f'cnonce="abc", response="{response}"')

    assert auth.check("POST", "/mm7", header("00000001")) == (True, False)
    assert auth.check("POST", "/mm7", header("00000001")) == (False, True)  # a captured header, sent again
    assert auth.check("POST", "/mm7", header("00000002")) == (True, False)  # the client's next request
    nonce = auth.challenge().split('nonce="', 1)[1].split('"', 1)[0]
    assert auth.check("POST", "/mm7", header(None)) == (True, False)
    assert auth.check("POST", "/mm7", header(None)) == (False, True)  # without a count: one use per nonce


def test_digest_takes_a_uri_naming_an_absolute_form_target_as_sent():
    """A client configured as for a proxy sends "POST http://host/mm7" and signs that uri (RFC
    7616 §3.4: the request-target as sent); the servers take the target, and Digest refused it."""
    h = Recorder()
    out = mm7.encode(deliver(), transaction_id="abs-1")
    body = out.to_bytes()

    def send(srv, target: str, authorization: str | None = None) -> bytes:
        lines = [f"POST {target} HTTP/1.1", f"Host: 127.0.0.1:{srv.port}", f"Content-Type: {out.content_type}",
                 f"Content-Length: {len(body)}", "Connection: close"]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            got = b""
            while chunk := sock.recv(65536):
                got += chunk
        return got

    rcv = mm7.Receiver(h, auth=mm7.auth.DigestAuth("mmsc", "pw"))
    with mm7.serve(rcv, port=0) as srv:
        target = f"http://127.0.0.1:{srv.port}/mm7"
        asked = send(srv, target)
        assert asked.startswith(b"HTTP/1.1 401")
        challenge = re.search(rb"(?i)www-authenticate: ([^\r]*)", asked).group(1).decode()
        answer = mm7.auth.DigestAnswer("mmsc", "pw")
        assert answer.take(challenge)
        elsewhere = f"http://127.0.0.1:{srv.port}/other"  # (signed for another path: not this request's)
        assert send(srv, target, answer.authorization("POST", elsewhere)).startswith(b"HTTP/1.1 401")
        assert send(srv, target, answer.authorization("POST", target)).startswith(b"HTTP/1.1 200")
    assert [msg.subject for msg, _ in h.calls] == ["回复"]
    auth = mm7.auth.DigestAuth("mmsc", "pw")  # (and the check itself, for each form)
    for uri, taken in (("http://h/mm7?a=1", True), ("HTTPS://h:8443/mm7", True), ("http://h/mm7/x", False),
                       ("http:///mm7", False), ("ftp://h/mm7", False), ("//h/mm7", False)):
        signer = mm7.auth.DigestAnswer("mmsc", "pw")
        signer.take(auth.challenge())
        assert auth.check("POST", "/mm7?a=1", signer.authorization("POST", uri)) == (taken, False), uri


def test_digest_takes_a_uri_percent_encoded_as_sent():
    """A path beyond ASCII or with a space goes percent-encoded, and the client signs it so; the
    servers hand on the path decoded (WSGI as Latin-1), and the uri matched none."""
    h = Recorder()
    out = mm7.encode(deliver(), transaction_id="pct-1")
    with mm7.serve(mm7.Receiver(h, auth=mm7.auth.DigestAuth("mmsc", "pw")), port=0, path=None) as srv:
        for where in ("/mm7/收件", "/mm 7", "/mm7?to=a%20b"):
            rsp = requests.post(srv.url + where, data=out.to_bytes(), headers=out.headers, timeout=10,
                                auth=requests.auth.HTTPDigestAuth("mmsc", "pw"))
            assert rsp.status_code == 200, where
    assert len(h.calls) == 3
    auth = mm7.auth.DigestAuth("mmsc", "pw")
    for uri, target, taken in (("/mm%207", "/mm 7", True), ("/mm%E6%94%B6", "/mm收", True),
                               ("/mm%E6%94%B6", "/mm\xe6\x94\xb6", True), ("/mm%20", "/mm%20", True),
                               ("/mm%41", "/mmB", False), ("/mm%FF", "/mm\xff", True)):
        signer = mm7.auth.DigestAnswer("mmsc", "pw")
        signer.take(auth.challenge())
        assert auth.check("POST", target, signer.authorization("POST", uri)) == (taken, False), uri


def test_a_digest_request_overtaken_by_a_later_one_of_its_client_is_taken():
    """An MMSC sending on several connections with one nonce numbers its requests in the order it
    signs them, and they arrive in another: only the highest count was kept, so a request overtaken
    was refused (401, stale), and a client taking a 401 as final dropped the message."""
    auth = mm7.auth.DigestAuth("mmsc", "pw")
    answer = mm7.auth.DigestAnswer("mmsc", "pw")
    assert answer.take(auth.challenge())
    signed = [answer.authorization("POST", "/mm7") for _ in range(3 + auth.NC_WINDOW)]  # (64)
    for i in (1, 0, 2):  # nc 2, then 1 and 3
        assert auth.check("POST", "/mm7", signed[i]) == (True, False), i
    for i in (0, 1, 2):  # each once
        assert auth.check("POST", "/mm7", signed[i]) == (False, True), i
    assert auth.check("POST", "/mm7", signed[-1]) == (True, False)  # nc 67
    assert auth.check("POST", "/mm7", signed[3]) == (True, False)  # nc 4: 63 below, still known
    more = [answer.authorization("POST", "/mm7") for _ in range(2)]  # nc 68, 69
    assert auth.check("POST", "/mm7", more[1]) == (True, False)
    assert auth.check("POST", "/mm7", signed[4]) == (False, True)  # nc 5: 64 below 69, no longer known


def test_malformed_credentials_are_a_401_not_an_internal_error():
    out = mm7.encode(deliver(), transaction_id="t")
    for auth in (mm7.auth.BasicAuth("mmsc", "pw"), mm7.auth.DigestAuth("mmsc", "pw")):
        app = mm7.wsgi_app(mm7.Receiver(Recorder(), auth=auth))
        for header in ("Basic \u00fc\u00ff==", "Basic !!!", "Basic " + "/w==", 'Digest username="\u00fc", nonce=',
                       "Digest ,,,", "Bearer x"):
            rsp = call_wsgi(app, out.to_bytes(), out.content_type, headers={"Authorization": header})
            assert rsp["status"] == 401, (type(auth).__name__, header, rsp["body"][:200])


def test_basic_credentials_beyond_ascii_from_either_client_and_in_latin_1():
    import asyncio
    import base64

    auth = mm7.auth.BasicAuth("sp", "pässwörd")
    assert 'charset="UTF-8"' in auth.challenge()
    for raw in ("sp:pässwörd".encode(), "sp:pässwörd".encode("latin-1")):  # (requests writes str as Latin-1)
        assert auth.check("POST", "/mm7", "Basic " + base64.b64encode(raw).decode()) == (True, False)
    wrong = "sp:pässwört".encode("latin-1")
    assert auth.check("POST", "/mm7", "Basic " + base64.b64encode(wrong).decode()) == (False, False)
    msg = mm7.DeliverReq(sender="+8613800000000", recipients=["1065888"])
    with mm7.serve(mm7.Receiver(Recorder(), auth=auth), port=0) as srv:
        with mm7.Client(srv.endpoint, username="sp", password="pässwörd", role="mmsc") as client:
            assert client.send(msg).ok

        async def send_async():
            async with mm7.AsyncClient(srv.endpoint, username="sp", password="pässwörd", role="mmsc") as client:
                return (await client.send(msg)).ok

        assert asyncio.run(send_async())
    # Both clients write them in UTF-8, as RFC 7617 says (the sync one wrote Latin-1, as requests does with a str).
    from .fake_http import FakeServer

    with FakeServer() as fake, mm7.Client(fake.url, username="sp", password="pässwörd") as client:
        client.submit(mm7.SubmitReq(vaspid="1", recipients=["+8613800000000"]))
    assert fake.requests[0].header("authorization") == "Basic " + base64.b64encode("sp:pässwörd".encode()).decode()


def test_basic_credentials_in_gbk_as_china_mobiles_sdk_writes_them():
    """China Mobile's SDK writes Basic credentials in Java's platform charset, GBK on a Chinese
    system: a Chinese password was read as UTF-8, else Latin-1, and never matched (a 401 on
    every request of an SP whose credentials were right)."""
    import base64

    auth = mm7.auth.BasicAuth("sp", "密码1")
    for charset in ("utf-8", "gbk", "gb18030"):
        given = "Basic " + base64.b64encode("sp:密码1".encode(charset)).decode()
        assert auth.check("POST", "/mm7", given) == (True, False), charset
    for wrong in ("sp:密码2".encode("gbk"), "sp:密碼1".encode("big5", "replace"), "sp:密码".encode("gbk")):
        assert auth.check("POST", "/mm7", "Basic " + base64.b64encode(wrong).decode()) == (False, False)
    h = Recorder()
    app = mm7.wsgi_app(mm7.Receiver(h, auth=auth))
    given = "Basic " + base64.b64encode("sp:密码1".encode("gbk")).decode()
    assert post(app, deliver(), headers={"Authorization": given})["status"] == 200 and len(h.calls) == 1
    assert mm7.auth.BasicAuth("sp", "p:w").check("POST", "/", "Basic " + base64.b64encode(b"sp:p:w").decode())[0]


def test_digest_username_and_realm_with_a_backslash_or_a_quote():
    """A username DOMAIN\\sp is sent escaped in its quoted string (RFC 7616: a quoted-pair), as
    our client writes it, and read back as written: every answer was refused. requests writes it
    unescaped: taken too. A realm with a quote made a challenge no client could read."""
    auth = mm7.auth.DigestAuth("DOMAIN\\sp", "pw", realm='MM7 "gw"')
    answer = mm7.auth.DigestAnswer("DOMAIN\\sp", "pw")
    assert answer.take(auth.challenge()) and answer.challenge["realm"] == 'MM7 "gw"'
    signed = answer.authorization("POST", "/mm7")
    assert 'username="DOMAIN\\\\sp"' in signed and 'realm="MM7 \\"gw\\""' in signed
    assert auth.check("POST", "/mm7", signed) == (True, False)
    plain = mm7.auth.DigestAuth("DOMAIN\\sp", "pw")
    h = Recorder()
    with mm7.serve(mm7.Receiver(h, auth=plain), port=0) as srv:
        out = mm7.encode(deliver(), transaction_id="bs-1")
        rsp = requests.post(srv.endpoint, data=out.to_bytes(), headers=out.headers, timeout=10,
                            auth=requests.auth.HTTPDigestAuth("DOMAIN\\sp", "pw"))
        assert rsp.status_code == 200
        with mm7.Client(srv.endpoint, username="DOMAIN\\sp", password="pw", auth="digest", role="mmsc") as c:
            assert c.send(deliver()).ok
        with mm7.Client(srv.endpoint, username="DOMAINsp", password="pw", auth="digest", role="mmsc",
                        retry=mm7.RetryPolicy.never()) as c, pytest.raises(mm7.HTTPStatusError):
            c.send(deliver())  # (the backslash is no escape to drop: another user)
    assert len(h.calls) == 2


@pytest.mark.parametrize(("username", "password", "charset"), [
    ("用户", "密码1", "utf-8"),  # curl, browsers
    ("用户", "密码1", "gbk"),  # China Mobile's SDK on a Chinese system
    ("sp", "密码1", "gbk"),  # (only the password beyond ASCII)
    ("josé", "pässwörd", "latin-1"),
])
def test_a_digest_username_beyond_ascii_written_as_it_is_is_taken(username, password, charset):
    """Clients write a username beyond ASCII into a Digest answer as it is, in their charset, and
    sign the credentials in it, rather than as RFC 7616's username*. Only username* was read: every
    such answer was refused, its password right. The challenge says charset=UTF-8 (RFC 7616 §3.3)."""
    import hashlib
    from urllib.parse import urlsplit

    def md5(data: bytes) -> str:
        return hashlib.md5(data).hexdigest()

    h = Recorder()
    with mm7.serve(mm7.Receiver(h, auth=mm7.auth.DigestAuth(username, password)), port=0) as srv:
        out = mm7.encode(deliver(), transaction_id="raw-1")
        first = requests.post(srv.endpoint, data=out.to_bytes(), headers=out.headers, timeout=10)
        assert first.status_code == 401 and "charset=UTF-8" in first.headers["WWW-Authenticate"]
        nonce = mm7.auth.digest_challenges(first.headers["WWW-Authenticate"])[0]["nonce"]
        path = urlsplit(srv.endpoint).path

        def answer(secret: str, nc: str) -> bytes:
            ha1 = md5(f"{username}:mm7:{secret}".encode(charset))
            response = md5(f"{ha1}:{nonce}:{nc}:c0ffee:auth:{md5(f'POST:{path}'.encode())}".encode())
            return (f'Digest username="{username}", realm="mm7", nonce="{nonce}", uri="{path}", '
                    f'response="{response}", qop=auth, nc={nc}, cnonce="c0ffee"').encode(charset)

        for secret, nc, status in ((password + "x", "00000001", 401), (password, "00000002", 200)):
            rsp = requests.post(srv.endpoint, data=out.to_bytes(), timeout=10,
                                headers={**out.headers, "Authorization": answer(secret, nc)})
            assert rsp.status_code == status, secret
            if status == 401:  # (a wrong password is told so, not taken for an aged nonce)
                assert "stale" not in rsp.headers["WWW-Authenticate"]
    assert len(h.calls) == 1


def test_a_realm_no_challenge_can_carry_is_refused_when_made():
    """A header's bytes are Latin-1: a realm beyond it made every request an internal error (a
    500, as the server wrote its 401), and a line break would end the header."""
    for realm in ("中国移动", "mm7\r\nX-Injected: 1"):
        for cls in (mm7.auth.BasicAuth, mm7.auth.DigestAuth):
            with pytest.raises(ValueError, match="realm must be printable Latin-1"):
                cls("sp", "pw", realm=realm)
    h = Recorder()
    for auth in (mm7.auth.BasicAuth("sp", "pw", realm="Zürich"), mm7.auth.DigestAuth("sp", "pw", realm="Zürich")):
        with mm7.serve(mm7.Receiver(h, auth=auth), port=0) as srv:
            with mm7.Client(srv.endpoint, username="sp", password="pw", auth="auto", role="mmsc") as c:
                assert c.send(deliver()).ok
    assert len(h.calls) == 2


def test_digest_says_stale_only_to_an_answer_right_but_for_its_nonces_age():
    """RFC 7616 §3.3: stale=true tells a client its credentials are right and only the nonce aged,
    so it answers again without asking for a password. An aged nonce with a wrong password got it
    too: the refusal was not said (nor logged) until the client's next answer."""
    auth = mm7.auth.DigestAuth("mmsc", "pw", nonce_lifetime=60)
    old = auth._nonce(ts=int(time.time()) - 120)
    aged = re.sub(r'nonce="[^"]*"', f'nonce="{old}"', auth.challenge())
    for password, said in (("pw", (False, True)), ("guess", (False, False))):
        answer = mm7.auth.DigestAnswer("mmsc", password)
        assert answer.take(aged)
        assert auth.check("POST", "/mm7", answer.authorization("POST", "/mm7")) == said, password
        assert auth.check("POST", "/mm7", answer.authorization("POST", "/other")) == (False, False), password


def test_a_digest_response_beyond_ascii_is_a_401_not_an_internal_error():
    # With a real nonce, the response is compared: a str beyond ASCII made compare_digest raise (a
    # 500 and a traceback in the log for anyone who asked for a challenge first).
    auth = mm7.auth.DigestAuth("mmsc", "pw")
    nonce = auth.challenge().split('nonce="', 1)[1].split('"', 1)[0]
    header = (f'Digest username="mmsc", realm="mm7", nonce="{nonce}", uri="/mm7", qop=auth, nc=00000001, '
              f'cnonce="abc", response="\u00e9{"0" * 31}"')
    assert auth.check("POST", "/mm7", header) == (False, False)
    out = mm7.encode(deliver(), transaction_id="t")
    app = mm7.wsgi_app(mm7.Receiver(Recorder(), auth=auth))
    rsp = call_wsgi(app, out.to_bytes(), out.content_type, headers={"Authorization": header}, path="/mm7")
    assert rsp["status"] == 401


def test_a_digest_header_of_one_long_word_is_read_in_one_pass():
    # The parameters were found with a pattern tried from every character of a word with no "="
    # after it, each try running to the word's end: time quadratic in its length, 0.75 s for 8 KB
    # and most of a minute for the 60 KB a header may hold, before the request was refused.
    auth = mm7.auth.DigestAuth("mmsc", "pw")
    nonce = auth.challenge().split('nonce="', 1)[1].split('"', 1)[0]
    word = "a" * 100_000
    assert mm7.auth._parse_auth_params(f'{word} username="mmsc", x{word}="v", nc=1') == {
        "username": "mmsc", f"x{word}": "v", "nc": "1"}
    out = mm7.encode(deliver(), transaction_id="t")
    app = mm7.wsgi_app(mm7.Receiver(Recorder(), auth=auth))
    for header in (f"Digest {word}", f'Digest username="mmsc", realm="mm7", nonce="{nonce}", {word}'):
        rsp = call_wsgi(app, out.to_bytes(), out.content_type, headers={"Authorization": header}, path="/mm7")
        assert rsp["status"] == 401


def test_the_debug_dump_of_a_request_drives_no_terminal(caplog):
    # Its body and headers are the peer's: an escape sequence in them reached the log as it came.
    with caplog.at_level(logging.DEBUG, logger="mm7bind.receiver"):
        mm7.Receiver(Recorder()).handle(b"junk\x1b[2J\x9b31m", "text/xml", {"X-Carrier": "c\x1b]0;x\x07"}, "10.0.0.1")
    dumped = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("junk\\x1b[2J" in d and "X-Carrier: c\\x1b]0;x\\x07" in d for d in dumped), dumped
    assert not any("\x1b" in d or "\x07" in d for d in dumped)


def test_oversize_and_attacks_while_the_server_keeps_serving():
    h = Recorder()
    with mm7.serve(mm7.Receiver(h, max_body=200_000), port=0) as srv:
        url = srv.url + "/mm7"
        r = requests.post(url, data=bytes(300_000), headers={"Content-Type": "text/xml"})
        assert r.status_code == 413
        lol = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 10))
        attacks = [
            f'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "lol">{lol}]><l>&l9;</l>'.encode(),
            b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            b"<a>" * 5000 + b"</a>" * 5000,
        ]
        for attack in attacks:
            r = requests.post(url, data=attack, headers={"Content-Type": "text/xml"})
            env = mm7.decode(r.content, r.headers["Content-Type"])
            assert r.status_code == 500 and env.body.code == "Client" and env.body.status.code == 2007
        out = mm7.encode(deliver(), transaction_id="after")
        assert requests.post(url, data=out.to_bytes(), headers=out.headers).status_code == 200
        assert len(h.calls) == 1


def test_tls_when_serving_directly(tmp_path):
    tls = local_tls(tmp_path)
    ctx, ca_path = tls.server, tls.ca_file
    with mm7.serve(mm7.Receiver(), port=0, ssl_context=ctx) as srv:
        out = mm7.encode(deliver(), transaction_id="tls")
        r = requests.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, verify=str(ca_path))
        assert srv.url.startswith("https://") and r.status_code == 200
        # A client that connects and says nothing holds up no one else (the handshake waited in accept()).
        with socket.create_connection((srv.host, srv.port)):
            r = requests.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, verify=str(ca_path),
                              timeout=10)
            assert r.status_code == 200


def test_a_failed_tls_handshake_is_a_warning_line_not_a_traceback(tmp_path, caplog, capsys):
    trustme = pytest.importorskip("trustme")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(ctx)
    caplog.set_level(logging.INFO, logger="mm7bind.server")
    with mm7.serve(mm7.Receiver(), port=0, ssl_context=ctx) as srv:
        with pytest.raises(requests.exceptions.SSLError):  # a peer that does not trust our certificate
            requests.post(srv.url + "/mm7", data=b"x", timeout=10)
        # plain HTTP on the TLS port: answered in plain HTTP, saying so (tests/test_http_framing.py)
        assert requests.post(f"http://{srv.host}:{srv.port}/mm7", data=b"x", timeout=10).status_code == 400
        deadline = time.monotonic() + 10  # (the server notes each in the connection's thread)
        while len([r for r in caplog.records if "TLS" in r.getMessage()]) < 2:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
    failed = [r for r in caplog.records if "TLS" in r.getMessage()]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in failed)
    assert "Traceback" not in capsys.readouterr().err


def test_every_well_formed_deliver_and_report_capture_is_accepted(samples_dir):
    h = Recorder()
    app = mm7.wsgi_app(mm7.Receiver(h))
    accepted = 0
    for name, body, ctype, _env in inbound_captures():
        rsp = call_wsgi(app, body, ctype)
        assert rsp["status"] == 200, (name, rsp["body"][:300])
        accepted += 1
    assert accepted >= 12 and len(h.calls) == accepted


def test_many_parallel_senders_nothing_lost_nothing_twice(tmp_path):
    store = SqliteStore(tmp_path / "parallel.db")

    class Slow(Recorder):
        def on_deliver(self, msg, ctx):
            time.sleep(0.02)  # long enough for the twin request to arrive meanwhile
            return super().on_deliver(msg, ctx)

    h = Slow()
    with mm7.serve(mm7.Receiver(h, store=store), port=0, threads=8) as srv:
        url = srv.url + "/mm7"

        def send(i):
            tid = f"p-{i // 2}"  # every TransactionID twice, both copies at the same moment
            out = mm7.encode(deliver(subject=f"n{i // 2}"), transaction_id=tid)
            with requests.Session() as s:
                return s.post(url, data=out.to_bytes(), headers=out.headers).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(send, range(300)))
    assert codes == [200] * 300
    assert len(store.inbox()) == 150 and len(h.calls) == 150
    assert sorted(int(m.subject[1:]) for m, _ in h.calls) == list(range(150))
    store.close()


SERVER_SCRIPT = """
import sys, mm7bind as mm7
store = mm7.SqliteStore(sys.argv[1])
srv = mm7.serve(mm7.Receiver(store=store), port=0)
print(srv.port, flush=True)
srv.serve_forever()
"""


def test_sigkill_right_after_200_loses_nothing(tmp_path):
    db = tmp_path / "durable.db"
    proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, str(db)], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        port = int(proc.stdout.readline())
        out = mm7.encode(deliver(subject="keep me"), transaction_id="durable-1")
        r = requests.post(f"http://127.0.0.1:{port}/mm7", data=out.to_bytes(), headers=out.headers, timeout=10)
        assert r.status_code == 200
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = SqliteStore(db)
    [rec] = store.inbox()
    assert rec.transaction_id == "durable-1" and rec.state == "handled"
    assert mm7.decode(rec.body, rec.content_type).body.subject == "keep me"
    store.close()


# -- the ASGI app ------------------------------------------------------------------------------


def call_asgi(app, chunks: list[bytes], headers: dict, path: str = "/mm7", scope_type: str = "http",
              disconnect: bool = False, method: str = "POST", extra_scope: dict | None = None):
    """Drive an ASGI app as a server would: the body in `chunks`, the answer collected."""
    import asyncio

    scope = {"type": scope_type, "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("10.0.0.7", 40000), "server": ("127.0.0.1", 8080), **(extra_scope or {})}
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    if disconnect:
        incoming = incoming[:1] + [{"type": "http.disconnect"}]
    sent, taken = [], [0]

    async def receive():
        taken[0] += 1
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    if not sent:
        return None, taken[0]
    start, body = sent
    return {"status": start["status"], "headers": {k.decode(): v.decode() for k, v in start["headers"]},
            "body": body["body"]}, taken[0]


def test_asgi_app_receives_like_the_wsgi_app(store):
    h = Recorder()
    app = mm7.asgi_app(mm7.Receiver(h, store=store, max_body=64 * 1024), "/mm7")
    content = mm7.Content(parts=[mm7.Part.text("上行", filename="a.txt"),
                                 mm7.Part.from_bytes(b"GIF89a" + bytes(3000), "image/gif")])
    out = mm7.encode(deliver(content=content), transaction_id="asgi-1", version="REL-5-MM7-1-2")
    body = out.to_bytes()
    headers = {"Content-Type": out.content_type, "Content-Length": str(len(body)), "X-Carrier-Id": "42"}
    rsp, _ = call_asgi(app, [body[:1000], body[1000:2000], body[2000:]], headers)  # arrives in pieces
    assert rsp["status"] == 200 and rsp["headers"]["content-length"] == str(len(rsp["body"]))
    env = mm7.decode(rsp["body"], rsp["headers"]["content-type"], strict=True)
    assert isinstance(env.body, mm7.DeliverRsp) and env.transaction_id == "asgi-1"
    assert env.version.name == "REL-5-MM7-1-2" and env.body.service_code == "100001"
    [(msg, ctx)] = h.calls
    assert msg.subject == "回复" and msg.content.parts[0].text_value == "上行"
    assert ctx.peer == "10.0.0.7" and ctx.headers["X-Carrier-Id"] == "42"
    assert [r.transaction_id for r in store.inbox()] == ["asgi-1"]
    again, _ = call_asgi(app, [body], headers)  # a repeat: answered from the store
    assert again["status"] == 200 and len(h.calls) == 1

    assert call_asgi(app, [body], headers, path="/other")[0]["status"] == 404
    bad, _ = call_asgi(app, [b"<not-xml"], {"Content-Type": "text/xml"})
    assert bad["status"] == 500 and b"Client" in bad["body"] and len(h.calls) == 1


def test_asgi_app_refuses_oversize_bodies_without_reading_them(store, caplog):
    h = Recorder()
    app = mm7.asgi_app(mm7.Receiver(h, store=store, max_body=10_000))
    declared, taken = call_asgi(app, [b"x" * 100], {"Content-Type": "text/xml", "Content-Length": "20000"})
    assert declared["status"] == 413 and taken == 0  # refused on the declared length
    streamed, taken = call_asgi(app, [b"x" * 6000] * 5, {"Content-Type": "text/xml"})  # no length: chunked
    assert streamed["status"] == 413 and taken == 2  # refused once over the limit, the rest left unread
    with caplog.at_level(logging.WARNING, logger="mm7bind.server"):
        gone, _ = call_asgi(app, [b"x" * 100, b"y"], {"Content-Type": "text/xml", "Content-Length": "101"},
                            disconnect=True)
    assert gone is None  # the sender went away: nothing answered
    # (said, as the WSGI app says a body cut short: an MMSC's message lost on the way leaves a trace)
    assert any("not taken" in r.getMessage() and "100 bytes of its body (of 101)" in r.getMessage()
               for r in caplog.records)
    assert h.calls == [] and store.inbox() == []


def test_asgi_app_lifespan_and_other_scopes():
    import asyncio

    app = mm7.asgi_app(mm7.Receiver(Recorder()))
    events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return events.pop(0)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    with pytest.raises(ValueError, match="webtransport"):  # (a protocol unknown: refused as the spec asks)
        call_asgi(app, [b""], {}, scope_type="webtransport")


def test_stopping_with_connections_still_open_is_clean():
    """A client keeping its connection alive must not keep the server running after stop(), and
    stopping must not pull sockets from under the server's loop (an EBADF traceback)."""
    errors = []
    hook = threading.excepthook
    threading.excepthook = errors.append
    session = requests.Session()
    try:
        srv = mm7.serve(mm7.Receiver(), port=0).start()
        out = mm7.encode(deliver(), transaction_id="t")
        assert session.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=5).status_code == 200
        srv.stop()  # the session's connection is still open
        assert not srv.thread.is_alive()
        with pytest.raises(requests.ConnectionError):
            session.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=5)
    finally:
        session.close()
        threading.excepthook = hook
    assert errors == []


@pytest.mark.parametrize("tls", [False, True])
def test_stop_ends_serve_forever_run_in_any_thread(tls, tmp_path):
    """serve_forever() in a thread of the caller's (as the China Mobile example runs it), a
    connection kept alive: stop() from another thread ends the loop all the same."""
    ssl_ctx = None
    if tls:
        ssl_ctx = local_tls(tmp_path).server
    srv = mm7.serve(mm7.Receiver(), port=0, ssl_context=ssl_ctx)
    loop = threading.Thread(target=srv.serve_forever, daemon=True)
    loop.start()
    session = requests.Session()
    try:
        out = mm7.encode(deliver(), transaction_id="t")
        r = session.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=5,
                         verify=str(tmp_path / "ca.pem") if tls else True)
        assert r.status_code == 200
        srv.stop()
        loop.join(timeout=10)
        assert not loop.is_alive()
    finally:
        session.close()


@pytest.mark.parametrize("tls", [False, True])
def test_serve_forever_on_a_server_a_with_block_started_waits_for_its_stop(tls, tmp_path):
    """README's receiver runs `server.serve_forever()` inside `with mm7.serve(...) as server`, whose
    start() already serves in a thread: a second loop over the same sockets ran beside the first.
    It now waits for the stop and serves nothing itself."""
    ssl_ctx = local_tls(tmp_path).server if tls else None
    with mm7.serve(mm7.Receiver(), port=0, ssl_context=ssl_ctx) as srv:
        loops = []
        inner = srv.server.run if not tls else srv.server.serve_forever
        setattr(srv.server, "serve_forever" if tls else "run", lambda *a, **k: (loops.append(1), inner(*a, **k)))
        waiting = threading.Thread(target=srv.serve_forever, daemon=True)
        waiting.start()
        out = mm7.encode(deliver(), transaction_id="t")
        r = requests.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=5,
                          verify=str(tmp_path / "ca.pem") if tls else True)
        assert r.status_code == 200
        assert waiting.is_alive()
    waiting.join(timeout=10)
    assert not waiting.is_alive() and loops == []


def test_x_forwarded_for_names_the_peer_only_from_the_configured_proxy():
    """Behind a reverse proxy every request comes from its address: with `trusted_proxy` its
    X-Forwarded-For (the last hop) is what the allow-list checks; without, or from another
    peer, the header is ignored, so no sender can name itself an allowed address."""
    h = Recorder()
    rcv = mm7.Receiver(h, allow=mm7.auth.IPAllowList.parse(["192.0.2.0/24"]))
    out = mm7.encode(deliver(), transaction_id="xff-1")

    def post(srv, forwarded):
        return requests.post(srv.url + "/mm7", data=out.to_bytes(), timeout=10,
                             headers={**out.headers, "X-Forwarded-For": forwarded}).status_code

    with mm7.serve(rcv, port=0) as srv:  # (no proxy configured)
        assert post(srv, "192.0.2.7") == 403
    with mm7.serve(rcv, port=0, trusted_proxy="10.1.2.3") as srv:  # (a proxy, but not the peer)
        assert post(srv, "192.0.2.7") == 403
    with mm7.serve(rcv, port=0, trusted_proxy="127.0.0.1") as srv:
        assert post(srv, "192.0.2.7") == 200
        assert post(srv, "192.0.2.7, 203.0.113.9") == 403  # (the hop the proxy saw is the last)
        assert post(srv, "203.0.113.9") == 403
    assert [ctx.peer for _, ctx in h.calls] == ["192.0.2.7"]
    with pytest.raises(ValueError, match="trusted_proxy"):
        mm7.serve(rcv, port=0, trusted_proxy="127.0.0.1", ssl_context=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))


def test_a_trusted_proxy_written_otherwise_than_the_server_writes_its_address_is_trusted():
    """The proxy's address was compared with the peer's as text: written mapped, or IPv6 written
    in full, it never matched, and every request came from the proxy (all refused by the
    allow-list, or all let in where it held the proxy)."""
    h = Recorder()
    rcv = mm7.Receiver(h, allow=mm7.auth.IPAllowList.parse(["192.0.2.0/24"]))
    out = mm7.encode(deliver(), transaction_id="xff-2")
    for host, proxy in (("127.0.0.1", "::ffff:127.0.0.1"), ("::1", "0:0:0:0:0:0:0:1"), ("::1", "::1 ")):
        with mm7.serve(rcv, host=host, port=0, trusted_proxy=proxy) as srv:
            rsp = requests.post(f"http://{'[::1]' if ':' in host else host}:{srv.port}/mm7", data=out.to_bytes(),
                                timeout=10, headers={**out.headers, "X-Forwarded-For": "192.0.2.8"})
            assert rsp.status_code == 200, proxy
    assert [ctx.peer for _, ctx in h.calls] == ["192.0.2.8"] * 3
    with pytest.raises(ValueError, match="trusted_proxy must be an IP address"):
        mm7.serve(rcv, port=0, trusted_proxy="proxy.example")


def test_a_tls_server_takes_a_new_context_for_the_connections_after(tmp_path):
    """EmbeddedServer.use_ssl_context: a renewed certificate is served from the next connection on,
    without a restart (the listening socket was wrapped once with the first context)."""
    first, second = local_tls(), local_tls()

    def handshake(tls) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw, \
                    tls.client.wrap_socket(raw, server_hostname="127.0.0.1"):
                return True
        except ssl.SSLCertVerificationError:
            return False

    with mm7.serve(mm7.Receiver(), port=0, ssl_context=first.server) as srv:
        assert handshake(first) and not handshake(second)
        srv.use_ssl_context(second.server)
        assert handshake(second) and not handshake(first)
        assert srv.ssl_context is second.server and srv.url.startswith("https://")
    with mm7.serve(mm7.Receiver(), port=0) as plain, pytest.raises(ValueError, match="plain HTTP"):
        plain.use_ssl_context(second.server)


def test_a_server_never_started_stops_at_once():
    for ssl_ctx in (None, ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)):  # (the TLS server's shutdown() waited forever)
        srv = mm7.serve(mm7.Receiver(), port=0, ssl_context=ssl_ctx)
        stopper = threading.Thread(target=srv.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=5)
        assert not stopper.is_alive()


def _held_handler() -> tuple[type, threading.Event, threading.Event]:
    """A handler class holding each DeliverReq in its handler until `release` is set, and the
    events: `started` (one is in hand), `release`."""
    started, release = threading.Event(), threading.Event()

    class Slow(mm7.Handler):
        def on_deliver(self, msg, ctx):
            started.set()
            release.wait(60)

    return Slow, started, release


@pytest.mark.parametrize("tls", [False, True], ids=["waitress", "tls"])
def test_stopping_lets_requests_in_hand_finish(tls, tmp_path):
    """stop() returns once the request in hand is answered (what a SIGTERM's exit waits for):
    serving TLS too, where each connection's thread is a daemon the exit would cut off."""
    Slow, started, release = _held_handler()
    ssl_ctx = local_tls(tmp_path).server if tls else None
    srv = mm7.serve(mm7.Receiver(Slow()), port=0, ssl_context=ssl_ctx).start()
    out = mm7.encode(deliver(), transaction_id="t-slow")
    answers = []
    sender = threading.Thread(target=lambda: answers.append(
        requests.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=10,
                      verify=str(tmp_path / "ca.pem") if tls else True)))
    sender.start()
    assert started.wait(60)
    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    refused, deadline = False, time.monotonic() + 10
    while not refused and time.monotonic() < deadline:  # no new connection is taken meanwhile
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
            time.sleep(0.02)
        except (ConnectionRefusedError, ConnectionResetError):  # reset: caught in the closing listener's queue
            refused = True
    assert refused and sender.is_alive()  # the request in hand is still being handled
    assert stopper.is_alive()  # ... and stop() waits for its answer
    release.set()
    sender.join(10)
    stopper.join(10)
    assert [r.status_code for r in answers] == [200] and not srv.thread.is_alive()


@pytest.mark.parametrize("tls", [False, True])
def test_a_stop_says_how_many_requests_it_closed_unanswered_and_stop_now_cuts_it_short(tls, tmp_path, caplog):
    """A handler still at work when the grace ran out was closed on without a word (waitress said
    only "1 thread(s) still running", on a logger of its own), and a second Ctrl-C could not end
    the wait: `mm7bind serve` went on waiting out the grace and 5 s more."""
    Slow, started, release = _held_handler()
    ssl_ctx = local_tls(tmp_path).server if tls else None
    srv = mm7.serve(mm7.Receiver(Slow()), port=0, ssl_context=ssl_ctx).start()
    out = mm7.encode(deliver(), transaction_id="t-cut")
    answers = []
    release_on_close = False

    def send():
        try:
            answers.append(requests.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=30,
                                         verify=str(tmp_path / "ca.pem") if tls else True).status_code)
        except requests.RequestException as exc:
            answers.append(type(exc).__name__)
            if release_on_close:  # (its connection closed on it: the handler may end, its answer lost)
                release.set()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert started.wait(60)
        stopper = threading.Thread(target=srv.stop, kwargs={"grace": 120})
        with caplog.at_level(logging.WARNING, logger="mm7bind.server"):
            stopper.start()
            time.sleep(0.2)
            assert stopper.is_alive()  # (waiting out its grace)
            srv.stop_now()
            stopper.join(30)
            assert not stopper.is_alive()
        sender.join(30)
        # No answer, serving TLS too (its connection was left open there, for the handler's
        # thread to answer once done, after the log had said it was closed): the MMSC sends it again.
        assert answers == ["ConnectionError"]
    finally:
        release.set()
    # (WARNING and up: a handler's thread let go above may log its connection dropped, at INFO,
    # when another test left the logging at that level)
    said = [r.getMessage() for r in caplog.records if r.name == "mm7bind.server" and r.levelno >= logging.WARNING]
    assert said == ["stopping with 1 request(s) in hand not waited for: their connections are closed unanswered "
                    "(an MMSC sends such a request again; one stored meanwhile is answered from the store)"] + (
        ["1 handler thread(s) still running, not waited for: what they stored stays as it is (a message in hand "
         "'processing', for `mm7bind replay`)"] if tls else [])  # (waitress says so on its own logger)

    caplog.clear()
    started.clear()
    release.clear()
    srv = mm7.serve(mm7.Receiver(Slow()), port=0, ssl_context=ssl_ctx).start()
    # The handler let go once the stop has closed its connection, after the grace (a timer of a
    # second let it go before the stop when the stopping thread was held up that long; let go at
    # the stop's warning, it could answer before the closing).
    release_on_close = True
    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert started.wait(60)
        with caplog.at_level(logging.WARNING, logger="mm7bind.server"):
            assert srv.stop(grace=0.1) == 1  # (what `mm7bind serve` exits 5 for)
        sender.join(30)
    finally:
        release.set()
    assert answers[1:] == ["ConnectionError"]  # (the handler done after the grace: its answer never went out)
    assert srv.stop() == 0
    assert [r.getMessage() for r in caplog.records if r.name == "mm7bind.server" and r.levelno >= logging.WARNING] == [
        "stopping with 1 request(s) in hand after the 0.1 s grace: their connections are closed unanswered "
        "(an MMSC sends such a request again; one stored meanwhile is answered from the store)"]


def test_stopping_when_the_loop_ran_the_closing_before_the_wake_up_write():
    """waitress queues a thunk, then writes to its trigger pipe; the loop, awake for another reason
    (a worker's answer), can run the thunk and close the pipe before that write. Forced here: each
    wake-up write is done twice, the second after the loop has had time to act on the first."""
    out = mm7.encode(deliver(), transaction_id="t")
    srv = mm7.serve(mm7.Receiver(), port=0).start()
    trigger = srv.server.trigger
    wake = trigger._physical_pull

    def late_wake():
        wake()
        time.sleep(0.05)
        wake()  # by now the closing may have run: EBADF

    trigger._physical_pull = late_wake
    with requests.Session() as session:
        assert session.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=5).ok
        srv.stop()
    assert not srv.thread.is_alive()


def test_what_a_peer_wrote_cannot_forge_log_lines(caplog):
    import logging

    caplog.set_level(logging.INFO, logger="mm7bind.receiver")
    forged = "t1\n2026-11-26 00:00:00,000 INFO mm7bind.receiver DeliverReq tid=FORGED: handled 1000"
    out = mm7.encode(deliver(), transaction_id=forged)
    assert mm7.Receiver().handle(out.to_bytes(), out.content_type, {}, "10.9.9.9").status == 200
    [line] = [r.getMessage() for r in caplog.records if "DeliverReq tid=" in r.getMessage()]
    assert "\n" not in line and "t1\\n2026" in line


def test_the_connection_limit_is_the_servers():
    srv = mm7.serve(mm7.Receiver(), port=0, connection_limit=7)
    try:
        assert srv.server.adj.connection_limit == 7
    finally:
        srv.stop()


def _trickle_until_closed(sock, limit: float) -> float:
    """Send a request's headers a byte every 0.2 s; the seconds until the server hung up (or
    `limit` when it never did)."""
    start = time.monotonic()
    head = b"POST /mm7 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nX-Slow: " + b"a" * 1000
    sock.settimeout(0.2)
    for byte in head:
        if time.monotonic() - start > limit:
            return limit
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(1) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except OSError:  # reset: closed as well
            return time.monotonic() - start
    return limit


@pytest.mark.parametrize("tls", [False, True])
def test_a_request_trickling_in_is_cut_off_at_its_deadline(tls, tmp_path):
    # channel_timeout counts silence only: a byte now and then held a connection for ever.
    ssl_ctx = client_ctx = None
    if tls:
        pair = local_tls(tmp_path)
        ssl_ctx, client_ctx = pair.server, pair.client
    with mm7.serve(mm7.Receiver(), port=0, ssl_context=ssl_ctx, request_timeout=2, channel_timeout=30) as srv:
        raw = socket.create_connection((srv.host, srv.port))
        sock = client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
        with sock:
            took = _trickle_until_closed(sock, limit=20)
        assert 1.5 < took < 10
        # ... and the server goes on serving.
        out = mm7.encode(deliver(), transaction_id="after-slow")
        r = requests.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=10,
                          verify=str(pair.ca_file) if tls else True)
        assert r.status_code == 200


def test_a_request_slower_than_a_read_but_inside_its_deadline_is_served():
    # The deadline is for the whole request: a body sent in pieces within it is answered.
    with mm7.serve(mm7.Receiver(), port=0, request_timeout=5) as srv:
        out = mm7.encode(deliver(), transaction_id="pieces")
        body = out.to_bytes()
        head = (f"POST /mm7 HTTP/1.1\r\nHost: x\r\nContent-Type: {out.content_type}\r\nSOAPAction: \"\"\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
            sock.sendall(head)
            for i in range(0, len(body), len(body) // 4 + 1):
                time.sleep(0.3)
                sock.sendall(body[i : i + len(body) // 4 + 1])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")


def test_serving_tls_directly_holds_connection_limit_connections_at_most(tmp_path):
    tls = local_tls(tmp_path)
    with mm7.serve(mm7.Receiver(), port=0, ssl_context=tls.server, connection_limit=2) as srv:
        idle = [socket.create_connection((srv.host, srv.port)) for _ in range(2)]
        deadline = time.monotonic() + 60  # (accepted: each holds a slot, its thread waiting for its handshake)
        while srv.server._slots._value and time.monotonic() < deadline:
            time.sleep(0.01)
        with socket.create_connection((srv.host, srv.port), timeout=5) as third:
            try:
                closed = third.recv(1) == b""
            except ConnectionResetError:
                closed = True
            assert closed  # one thread per connection: without a limit, a flood was as many threads
        for sock in idle:
            sock.close()
        out = mm7.encode(deliver(), transaction_id="after-flood")
        deadline = time.monotonic() + 30
        while True:  # (the freed slots come back as the idle connections' threads end)
            try:
                r = requests.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=5,
                                  verify=str(tls.ca_file))
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.status_code == 200


@pytest.mark.parametrize("tls", [False, True], ids=["waitress", "tls"])
@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
def test_request_timeout_must_be_positive_and_finite(timeout, tls):
    # NaN passed a "<= 0" check: waitress's server then failed to be made with a bare ValueError
    # (inf with an OverflowError), and the TLS server never cut off a request trickling in.
    ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if tls else None
    made = []
    try:
        with pytest.raises(ValueError, match="request_timeout"):
            made.append(mm7.serve(mm7.Receiver(), port=0, request_timeout=timeout, ssl_context=ssl_context))
    finally:
        for server in made:  # (made all the same: its socket closed again)
            server.stop()


@pytest.mark.parametrize("tls", [False, True], ids=["waitress", "tls"])
@pytest.mark.parametrize(("setting", "value"), [("channel_timeout", 0), ("channel_timeout", -5),
                                                ("channel_timeout", float("nan")), ("channel_timeout", 1e10),
                                                ("channel_timeout", float("inf")), ("channel_timeout", "60"),
                                                ("max_header", 0), ("max_header", -1), ("max_header", 100),
                                                ("max_header", 8192.0), ("max_header", True)])
def test_a_server_limit_that_cannot_work_is_refused_where_given(setting, value, tls):
    """channel_timeout 0 served TLS with reads waiting for nothing (every connection failed), NaN
    or inf failed waitress's start, 1e10 each TLS connection with an OverflowError; max_header 0 or
    a few bytes answered every request 431. Refused when the server is made, naming the setting."""
    ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if tls else None
    made = []
    try:
        with pytest.raises(ValueError, match=f"^{setting} must be .*, not {re.escape(repr(value))}$"):
            made.append(mm7.serve(mm7.Receiver(), port=0, ssl_context=ssl_context, **{setting: value}))
    finally:
        for server in made:  # (made all the same: its socket closed again)
            server.stop()
    # (the bounds themselves are taken)
    from mm7bind.client import MAX_TIMEOUT
    for taken in ({"channel_timeout": 1}, {"channel_timeout": MAX_TIMEOUT}, {"max_header": 1024}):
        mm7.serve(mm7.Receiver(), port=0, ssl_context=ssl_context, **taken).stop()


@pytest.mark.parametrize("qop", ["auth", "auth-int"])
def test_a_digest_header_sent_again_to_another_process_on_the_store_is_refused(tmp_path, qop):
    """Two processes (two receivers, each with its own DigestAuth and its own SqliteStore on one
    file) share nonces; the counts they took were each one's own, so a header captured on the way
    was taken once more by the other, with qop=auth (which signs no body) carrying another message.
    Spent in the store, it is refused there (a stale challenge), nothing stored, no handler called;
    the client's next count is taken by either."""
    calls = []
    stores = [SqliteStore(tmp_path / "inbox.db"), SqliteStore(tmp_path / "inbox.db")]
    receivers = []
    metrics = mm7.Metrics()
    for one in stores:
        rcv = mm7.Receiver(store=one, auth=mm7.auth.DigestAuth("mmsc", "pw", qop=qop), metrics=metrics)
        rcv.on("deliver", lambda msg, ctx: calls.append(msg.subject))
        receivers.append(rcv)
    try:
        out = mm7.encode(deliver(), transaction_id="dg-1", version="REL-6-MM7-1-4")
        answer = mm7.auth.DigestAnswer("mmsc", "pw")
        assert answer.take(receivers[0].config.auth.challenge())
        headers = {"Authorization": answer.authorization("POST", "/mm7", out.to_bytes())}
        rsp = receivers[0].handle(out.to_bytes(), out.content_type, headers, "127.0.0.1", uri="/mm7")
        assert rsp.status == 200 and mm7.decode(rsp.body).body.status.code == 1000
        forged = mm7.encode(deliver(subject="forged"), transaction_id="dg-2", version="REL-6-MM7-1-4")
        for rcv, sent in ((receivers[0], out), (receivers[1], out), (receivers[1], forged)):
            rsp = rcv.handle(sent.to_bytes(), sent.content_type, headers, "127.0.0.1", uri="/mm7")
            assert rsp.status == 401
            # (auth-int: another body is no answer at all, not a spent one)
            assert ("stale=true" in dict(rsp.headers)["WWW-Authenticate"]) == (qop == "auth" or sent is out)
        assert calls == ["回复"] and [r.transaction_id for r in stores[1].inbox()] == ["dg-1"]
        # (counted under its operation: refused once read; the second copy there, by that process's own counts)
        assert metrics.value("mm7bind_received_total", operation="DeliverReq", outcome="unauthorized") == 1
        nxt = mm7.encode(deliver(subject="next"), transaction_id="dg-3", version="REL-6-MM7-1-4")
        headers = {"Authorization": answer.authorization("POST", "/mm7", nxt.to_bytes())}
        assert receivers[1].handle(nxt.to_bytes(), nxt.content_type, headers, "127.0.0.1", uri="/mm7").status == 200
        assert calls == ["回复", "next"]
    finally:
        for one in stores:
            one.close()


def test_a_digest_answer_spent_on_a_refused_request_is_refused_by_another_process(tmp_path):
    """Only a stored message kept its Digest answer spent for the other processes: the header of a
    request refused (here an operation a VASP does not serve) could be sent again to another
    process with a message that is taken. Each is kept spent once it is answered."""
    stores = [SqliteStore(tmp_path / "inbox.db"), SqliteStore(tmp_path / "inbox.db")]
    receivers, calls, headers = _digest_receivers(stores)
    try:
        refused = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], vaspid="1", vasid="2", service_code="3"),
                             transaction_id="s-1", version="REL-6-MM7-1-4")
        rsp = receivers[0].handle(refused.to_bytes(), refused.content_type, headers, "127.0.0.1", uri="/mm7")
        assert mm7.decode(rsp.body).body.detail.status.code == 4003
        taken = mm7.encode(deliver(subject="forged"), transaction_id="s-2", version="REL-6-MM7-1-4")
        rsp = receivers[1].handle(taken.to_bytes(), taken.content_type, headers, "127.0.0.1", uri="/mm7")
        assert rsp.status == 401 and calls == [] and stores[1].inbox() == []
    finally:
        for one in stores:
            one.close()


def _refused_as_too_large(front: str, receiver, authorization: str, target: str = "/mm7") -> int:
    """The status `front` (the embedded server, with TLS or not, the WSGI app, the ASGI app) answers a request of
    `receiver`'s declaring a body over its max_body, sent with `authorization`, without its body."""
    headers = {"Content-Type": "text/xml", "Content-Length": str(receiver.config.max_body + 1),
               "Authorization": authorization}
    if front == "wsgi":
        return call_wsgi(mm7.wsgi_app(receiver, "/mm7"), b"", "text/xml", headers=headers,
                         extra_environ={"CONTENT_LENGTH": headers["Content-Length"]})["status"]
    if front == "asgi":
        return call_asgi(mm7.asgi_app(receiver, "/mm7"), [b""], headers)[0]["status"]
    ctx, wrap = None, lambda sock: sock
    if front == "tls":
        tls = local_tls()
        ctx, wrap = tls.server, lambda sock: tls.client.wrap_socket(sock, server_hostname="127.0.0.1")
    with mm7.serve(receiver, port=0, ssl_context=ctx) as srv, wrap(socket.create_connection((srv.host, srv.port),
                                                                                             timeout=10)) as sock:
        sock.sendall((f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode("latin-1"))
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("front, target", [("waitress", "/mm7"), ("tls", "/mm7"), ("wsgi", "/mm7"), ("asgi", "/mm7"),
                                           ("waitress", "http://127.0.0.1/mm7"), ("tls", "http://127.0.0.1/mm7")])
def test_a_digest_answer_refused_as_too_large_before_its_body_is_kept_spent(tmp_path, front, target):
    """A request refused for its declared length was refused before its credentials were read:
    its Digest answer (qop=auth signs no body) stayed unspent, and the header, captured on the
    way, was taken later with another message, by this process and by another on the store. (A
    target in absolute form, as sent through a proxy, is the path the answer signs.)"""
    stores = [SqliteStore(tmp_path / "inbox.db"), SqliteStore(tmp_path / "inbox.db")]
    receivers, calls, headers = _digest_receivers(stores)
    receivers[0].config.max_body = 4096
    try:
        assert _refused_as_too_large(front, receivers[0], headers["Authorization"], target) == 413
        forged = mm7.encode(deliver(subject="forged"), transaction_id="big-1", version="REL-6-MM7-1-4")
        for rcv in receivers:
            rsp = rcv.handle(forged.to_bytes(), forged.content_type, headers, "127.0.0.1", uri="/mm7")
            assert rsp.status == 401 and "stale=true" in dict(rsp.headers)["WWW-Authenticate"]
        assert calls == [] and stores[1].inbox() == []
    finally:
        for one in stores:
            one.close()


def test_a_digest_answer_refused_as_too_large_is_spent_only_once_checked(tmp_path):
    """A header that does not check out spends nothing: anyone could otherwise burn a client's
    counts with its nonce and count and a made-up response. Nor does an auth-int answer, which
    cannot be checked without its body (and signs that body)."""
    store = SqliteStore(tmp_path / "inbox.db")
    receiver = mm7.Receiver(store=store, auth=mm7.auth.DigestAuth("mmsc", "pw", qop="auth,auth-int"))
    try:
        for qop in ("auth", "auth-int"):
            answer = mm7.auth.DigestAnswer("mmsc", "pw", qop=qop)
            assert answer.take(receiver.config.auth.challenge())
            out = mm7.encode(deliver(), transaction_id=f"big-{qop}", version="REL-6-MM7-1-4")
            header = answer.authorization("POST", "/mm7", out.to_bytes())
            refused = header if qop == "auth-int" else re.sub(r'response="[0-9a-f]+"', 'response="' + "0" * 32 + '"',
                                                               header)
            assert refused != header or qop == "auth-int"
            assert receiver.too_large("127.0.0.1", 1 << 30, uri="/mm7", authorization=refused).status == 413
            rsp = receiver.handle(out.to_bytes(), out.content_type, {"Authorization": header}, "127.0.0.1", uri="/mm7")
            assert rsp.status == 200
        assert [r.transaction_id for r in store.inbox()] == ["big-auth", "big-auth-int"]
    finally:
        store.close()


def _digest_receivers(stores: list) -> tuple:
    """A receiver on each of `stores` (one file opened twice, or one MemoryStore given twice), each
    with a DigestAuth of its own as each process has; the list their handlers put the subjects of
    DeliverReqs in; and the headers of one Digest answer to the first one's challenge."""
    calls: list = []
    receivers = [mm7.Receiver(store=one, auth=mm7.auth.DigestAuth("mmsc", "pw")) for one in stores]
    for rcv in receivers:
        rcv.on("deliver", lambda msg, ctx: calls.append(msg.subject))
    answer = mm7.auth.DigestAnswer("mmsc", "pw")
    assert answer.take(receivers[0].config.auth.challenge())
    return receivers, calls, {"Authorization": answer.authorization("POST", "/mm7")}


def test_receivers_sharing_a_memory_store_share_the_digest_answers_spent():
    store = MemoryStore()
    receivers, calls, headers = _digest_receivers([store, store])
    for rcv, subject, status in ((receivers[0], "first", 200), (receivers[1], "forged", 401)):
        out = mm7.encode(deliver(subject=subject), transaction_id=subject, version="REL-6-MM7-1-4")
        assert rcv.handle(out.to_bytes(), out.content_type, headers, "127.0.0.1", uri="/mm7").status == status
    assert calls == ["first"] and len(store.inbox()) == 1


def test_a_digest_nonce_is_no_cheap_test_of_a_password_guess():
    """Anyone who can connect gets a nonce, no credentials needed. Its MAC was keyed with one HMAC
    of the credentials, so a nonce told a guess of the password right or wrong offline, at a hash's
    speed, past auth_failures' count of guesses sent. The key is derived slowly now; nonces the
    release before signed are still taken (hosts behind one address upgraded one at a time)."""
    import base64
    import hashlib
    import hmac

    auth = mm7.auth.DigestAuth("sp", "123456")
    nonce = mm7.auth.digest_challenges(auth.challenge())[0]["nonce"]
    ts, salt, mac = base64.b64decode(nonce).decode().split(":")

    def cheap_mac(password: str) -> str:
        key = hmac.new(b"mm7bind digest nonce key", f"sp\0mm7\0{password}".encode(), hashlib.sha256).digest()
        return hmac.new(key, f"{ts}:{salt}".encode(), hashlib.sha256).hexdigest()[:32]

    assert not any(cheap_mac(f"{guess:06d}") == mac for guess in range(123_400, 123_500))
    before = base64.b64encode(f"{ts}:{salt}:{cheap_mac('123456')}".encode()).decode()
    answer = mm7.auth.DigestAnswer("sp", "123456")
    assert answer.take(f'Digest realm="mm7", qop="auth", algorithm=MD5, nonce="{before}"')
    assert auth.check("POST", "/mm7", answer.authorization("POST", "/mm7")) == (True, False)
    forged = base64.b64encode(f"{ts}:{salt}:{cheap_mac('654321')}".encode()).decode()
    assert answer.take(f'Digest realm="mm7", qop="auth", algorithm=MD5, nonce="{forged}"')
    assert auth.check("POST", "/mm7", answer.authorization("POST", "/mm7")) == (False, False)


def test_digest_auth_int_covers_the_body():
    auth = mm7.auth.DigestAuth("mmsc", "pw", qop="auth-int", algorithm="SHA-256")
    answer = mm7.auth.DigestAnswer("mmsc", "pw")
    assert answer.take(auth.challenge())
    header = answer.authorization("POST", "/mm7", b"the message")
    assert "qop=auth-int" in header and "algorithm=SHA-256" in header
    assert auth.check("POST", "/mm7", header, b"another message") == (False, False)  # the body was changed
    assert auth.check("POST", "/mm7", header, None) == (False, False)
    assert auth.check("POST", "/mm7", header, b"the message") == (True, False)
    # Where only auth-int is asked for, a plain-auth answer or one without qop is no answer.
    plain = mm7.auth.DigestAnswer("mmsc", "pw")
    assert plain.take(auth.challenge().replace('qop="auth-int"', 'qop="auth"'))
    assert auth.check("POST", "/mm7", plain.authorization("POST", "/mm7", b"m"), b"m") == (False, False)
    with pytest.raises(ValueError, match="qop"):
        mm7.auth.DigestAuth("a", "b", qop="auth-conf")
    with pytest.raises(ValueError, match="algorithm"):
        mm7.auth.DigestAuth("a", "b", algorithm="SHA-1")


def test_a_receiver_asking_for_auth_int_takes_the_clients_answer():
    h = Recorder()
    rx = mm7.Receiver(h, config=mm7.ReceiverConfig(auth=mm7.auth.DigestAuth("mmsc", "pw", qop="auth-int")))
    with mm7.serve(rx, port=0) as srv, mm7.Client(srv.url + "/mm7", role="mmsc", username="mmsc", password="pw",
                                                   auth="digest", retry=mm7.RetryPolicy(max_attempts=1)) as c:
        assert c.send(deliver(), transaction_id="int-1").ok and c.send(deliver(), transaction_id="int-2").ok
    assert len(h.calls) == 2


def test_receiver_digest_qop_from_the_configuration(tmp_path):
    from mm7bind import config

    path = tmp_path / "c.toml"
    path.write_text('[receiver]\nauth = "digest"\nusername = "mmsc"\npassword = "pw"\ndigest_qop = "auth-int"\n',
                    encoding="utf-8")
    cfg, problems = config.load(path, env={})
    assert not [p for p in problems if p.level == "error"]
    assert 'qop="auth-int"' in cfg.receiver_settings()["auth"].challenge()
    path.write_text('[receiver]\nauth = "basic"\nusername = "mmsc"\npassword = "pw"\nauth_failures = 3\n'
                    'auth_cooldown = 5\n', encoding="utf-8")
    cfg, problems = config.load(path, env={})
    assert not [p for p in problems if p.level == "error"]
    limit = mm7.Receiver(**cfg.receiver_settings())._failures
    assert (limit.failures, limit.cooldown) == (3, 5)
    path.write_text('[receiver]\nauth_failures = -1\nauth_cooldown = 0\n', encoding="utf-8")
    _, problems = config.load(path, env={})
    assert {p.where for p in problems if p.level == "error"} >= {"receiver.auth_failures", "receiver.auth_cooldown"}


def test_digest_nonces_are_good_across_processes_with_the_same_credentials():
    # gunicorn workers each built their own DigestAuth with a random key: a nonce from one was "bad"
    # (not stale) at the next, a new challenge for every connection that landed elsewhere.
    one, other = mm7.auth.DigestAuth("mmsc", "pw"), mm7.auth.DigestAuth("mmsc", "pw")
    answer = mm7.auth.DigestAnswer("mmsc", "pw")
    assert answer.take(one.challenge())
    assert other.check("POST", "/mm7", answer.authorization("POST", "/mm7"), b"") == (True, False)
    stranger = mm7.auth.DigestAuth("mmsc", "another password")
    forged = mm7.auth.DigestAnswer("mmsc", "another password")
    assert forged.take(stranger.challenge())  # its nonce is no good where the password differs
    assert one.check("POST", "/mm7", forged.authorization("POST", "/mm7"), b"") == (False, False)


@pytest.mark.parametrize("dialect, submitted, expected", [
    ("standard", "REL-5-MM7-1-2", "REL-5-MM7-1-2"),  # a generic MMSC speaks each VASP's version
    ("standard", "REL-6-MM7-1-1", "REL-6-MM7-1-1"),
    ("cmcc", "REL-5-MM7-1-2", "REL-6-MM7-1-0"),  # China Mobile's speaks its own
])
def test_the_simulator_reports_in_the_version_the_message_came_in(dialect, submitted, expected):
    h = Recorder()
    with mm7.serve(mm7.Receiver(h), port=0) as srv:
        config = mm7.simulator.SimulatorConfig(dialect=dialect, vasp_url=srv.url + "/mm7", report_delay=0,
                                               read_delay=0)
        with mm7.simulator.Simulator(config) as sim:
            profile = mm7.Profile(version=submitted)
            with mm7.Client(sim.url, profile=profile, retry=mm7.RetryPolicy(max_attempts=1)) as c:
                msg = mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000000"]), delivery_report=True,
                                    read_reply=True, subject="s", vaspid="805555", vasid="5555", service_code="1")
                assert c.submit(msg).ok
            sim.wait_idle()
    assert sorted(m.ELEMENT for m, _ in h.calls) == ["DeliveryReportReq", "ReadReplyReq"]
    assert {ctx.version.name for _, ctx in h.calls} == {expected}


@pytest.mark.parametrize("version", ["REL-5-MM7-1-0", "REL-6-MM7-1-2"])
def test_a_request_too_broken_to_decode_is_refused_in_its_own_version_with_its_transaction_id(version):
    # The Fault went in REL-6-MM7-1-4 with TransactionID "0": a Rel-5 peer could not read it, and
    # no peer could tie it to its request.
    body = mm7.encode(deliver(), transaction_id="mo-77", version=version).to_bytes()
    broken = body.replace(b"</env:Body>", b"<unclosed></env:Body>")
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver()), broken, "text/xml")
    env = mm7.decode(rsp["body"], strict=True)
    assert rsp["status"] == 500 and env.body.status.code == 2007
    assert (env.version.name, env.transaction_id) == (version, "mo-77")
    submit = mm7.encode(mm7.SubmitReq(recipients=mm7.Recipients(to=["1"])), transaction_id="mt-5",
                        version=version).to_bytes().replace(b"</env:Body>", b"<unclosed></env:Body>")
    answer = mm7.simulator.Simulator().handle(submit, "text/xml", {})
    env = mm7.decode(answer.body, strict=True)
    assert (env.version.name, env.transaction_id, env.body.status.code) == (version, "mt-5", 2007)
    # Nothing to go by: the newest version, and the TransactionID empty (no invented one).
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver()), b"<x", "text/xml")
    env = mm7.decode(rsp["body"])
    assert (env.version.name, env.transaction_id) == (mm7.versions.latest().name, None)
    assert {d.code for d in env.deviations} == {"missing-transaction-id"}
    assert mm7.receiver.what_it_said(b"<TransactionID>a\x01b</TransactionID>")[1] is None  # not XML-safe


@pytest.mark.parametrize("version, shown, answered", [
    ("REL-5-MM7-1-2", "5.5.0", "5.5.0"),  # another value its schema takes: answered with it
    ("REL-5-MM7-1-5", "5.10.0", "5.10.0"),
    ("REL-6-MM7-1-4", "6.3.0", "6.3.0"),
    ("REL-6-MM7-1-4", "6.7.0", "6.8.0"),  # one its schema's list lacks: its default, the answer valid
    ("REL-5-MM7-1-5", "6.8.0", "5.3.0"),
    ("REL-6-MM7-1-3", "6.8", "6.6.0"),  # no x.y.z: the default
])
def test_a_request_too_broken_to_decode_is_refused_in_the_mm7version_its_bytes_show(version, shown, answered):
    """Its version's default MM7Version answered every request too broken to decode: a 5.5.0
    caller of REL-5-MM7-1-2 got 5.3.0, as no decoded request of its gets. Its MM7Version, where
    the schema takes it, as for any other answer; the receiver's and the simulator's alike."""
    default = mm7.versions.get(version).default_mm7_version
    body = mm7.encode(deliver(), transaction_id="mo-78", version=version).to_bytes()
    broken = body.replace(f"<MM7Version>{default}</MM7Version>".encode(),
                          f"<MM7Version> {shown} </MM7Version>".encode()).replace(b"</env:Body>", b"<unclosed></env:Body>")
    assert f"> {shown} <".encode() in broken
    rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver()), broken, "text/xml")
    env = mm7.decode(rsp["body"], strict=True)
    assert (env.version.name, env.transaction_id, env.body.status.code) == (version, "mo-78", 2007)
    assert env.body.detail.mm7_version == answered
    submit = mm7.encode(mm7.SubmitReq(recipients=mm7.Recipients(to=["1"])), transaction_id="mt-6",
                        version=version).to_bytes()
    submit = submit.replace(f"<MM7Version>{default}</MM7Version>".encode(),
                            f"<MM7Version>{shown}</MM7Version>".encode()).replace(b"</env:Body>", b"<x></env:Body>")
    env = mm7.decode(mm7.simulator.Simulator().handle(submit, "text/xml", {}).body, strict=True)
    assert (env.version.name, env.transaction_id, env.body.status.code) == (version, "mt-6", 2007)
    assert env.body.detail.mm7_version == answered


def test_an_undecodable_request_in_a_namespace_no_parser_takes_gets_its_fault(caplog):
    """The namespace a broken request names is the Fault's when it is a spelling of ours; one the
    parser refused ("http:/\\/…") was taken too, and writing the Fault in it failed: an internal
    error (3000, logged as a bug) instead of the 2007 the request earned."""
    ns = mm7.versions.get("REL-5-MM7-1-5").namespace
    body = mm7.encode(mm7.DeliverReq(sender="+8613800000000"), transaction_id="mo-9",
                      version="REL-5-MM7-1-5").to_bytes().replace(ns.encode(), ns.replace("//", "/\\/").encode())
    with caplog.at_level(logging.ERROR, logger="mm7bind"):
        rsp = call_wsgi(mm7.wsgi_app(mm7.Receiver()), body, "text/xml")
    env = mm7.decode(rsp["body"], strict=True)
    assert (env.body.status.code, env.version.name, env.transaction_id) == (2007, "REL-5-MM7-1-5", "mo-9")
    assert "not a valid URI" in env.body.status.text and not caplog.records


def test_a_message_too_large_or_an_operation_not_served_is_logged_with_why(caplog):
    """Both are lost on our side unless said: an MMSC's large MMS over max_body, or a request the
    MMSC should not have sent here."""
    import logging

    from mm7bind.metrics import Metrics

    rx = mm7.Receiver(max_body=2048, metrics=Metrics())
    app = mm7.wsgi_app(rx, "/mm7")
    big = mm7.encode(mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"], subject="x" * 4000),
                     transaction_id="big-1")
    submit = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"]), transaction_id="wrong-1")
    with caplog.at_level(logging.INFO, logger="mm7bind"):
        assert call_wsgi(app, big.to_bytes(), big.content_type, peer="10.0.0.7")["status"] == 413
        assert rx.handle(big.to_bytes(), big.content_type, {}, "10.0.0.8").status == 413  # (in code, read already)
        assert call_wsgi(app, submit.to_bytes(), submit.content_type, peer="10.0.0.9")["status"] == 500
        cut = mm7.encode(deliver(), transaction_id="cut-1")  # (its TransactionID read all the same)
        assert call_wsgi(app, cut.to_bytes()[:-40], cut.content_type, peer="10.0.0.9")["status"] == 500
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    level, line = said.pop()
    assert level == "WARNING" and line.startswith("refused an undecodable request tid=cut-1 from 10.0.0.9: "), line
    assert said == [
        ("WARNING", f"refused a request from 10.0.0.7: {len(big.to_bytes())} bytes, over max_body (2048 bytes)"),
        ("WARNING", f"refused a request from 10.0.0.8: {len(big.to_bytes())} bytes, over max_body (2048 bytes)"),
        ("WARNING", "refused SubmitReq tid=wrong-1 from 10.0.0.9: not an operation a VASP serves (4003)")]
    assert rx.metrics.value("mm7bind_received_total", outcome="too_large") == 2


def test_every_outcome_line_carries_the_structured_fields(store, caplog):
    # A JSON log pipeline reads `record.mm7`; the lines an operator alerts on (a handler failing,
    # the store refusing a message) must carry it as the handled ones do.
    import sqlite3

    class Handler(mm7.Handler):
        def on_deliver(self, msg, ctx):
            if msg.subject == "bug":
                raise KeyError("bug")

    caplog.set_level(logging.INFO, logger="mm7bind.receiver")
    app = mm7.wsgi_app(mm7.Receiver(Handler(), store=store))
    assert post(app, mm7.DeliverReq(sender="+8613900000000", subject="ok"), tid="s-ok")["status"] == 200
    assert post(app, mm7.DeliverReq(sender="+8613900000000", subject="bug"), tid="s-bug")["status"] == 500

    def full(**kw):
        raise sqlite3.OperationalError("database or disk is full")

    store.accept = full
    assert post(app, mm7.DeliverReq(sender="+8613900000000", subject="x"), tid="s-full")["status"] == 500
    fields = {r.mm7["transaction_id"]: r.mm7 for r in caplog.records if hasattr(r, "mm7")}
    assert {tid: f["outcome"] for tid, f in fields.items()} == {
        "s-ok": "handled", "s-bug": "failed", "s-full": "store_error"}
    assert fields["s-bug"]["operation"] == "DeliverReq" and fields["s-full"]["status"] == 3000


def test_asgi_app_challenges_and_takes_digest_at_its_path_under_a_root_path():
    # Under an ASGI server given a root path (uvicorn --root-path /gw behind a proxy), `path`
    # holds the root path too, as Starlette and Django read it: the app's own path is what
    # follows it, and the URI a Digest answer covers is the whole path the client asked for.
    out = mm7.encode(deliver(), transaction_id="dg-1")
    body = out.to_bytes()
    for extra, uri in (({}, "/mm7"), ({"path": "/gw/mm7", "root_path": "/gw"}, "/gw/mm7"),
                       ({"path": "/mm7", "root_path": "/gw"}, "/gw/mm7")):  # (the older reading: path without it)
        auth = mm7.auth.DigestAuth("mmsc", "pw")
        app = mm7.asgi_app(mm7.Receiver(Recorder(), auth=auth), "/mm7")
        asked, _ = call_asgi(app, [body], {"Content-Type": out.content_type}, extra_scope=extra)
        assert asked["status"] == 401 and asked["headers"]["www-authenticate"].startswith("Digest ")
        answer = mm7.auth.DigestAnswer("mmsc", "pw")
        assert answer.take(asked["headers"]["www-authenticate"])
        headers = {"Content-Type": out.content_type, "Authorization": answer.authorization("POST", uri)}
        rsp, _ = call_asgi(app, [body], headers, extra_scope=extra)
        assert rsp["status"] == 200, (extra, rsp)


def test_a_repeat_line_carries_the_structured_fields_too(store, caplog):
    # A JSON log pipeline reading `record.mm7` must see repeats as well: an MMSC resending what
    # was answered (its answer lost on the way) is what an operator counts and looks for.
    class Handler(mm7.Handler):
        def on_deliver(self, msg, ctx):
            if msg.subject == "refuse":
                raise mm7.Reject(4007)

    caplog.set_level(logging.INFO, logger="mm7bind.receiver")
    app = mm7.wsgi_app(mm7.Receiver(Handler(), store=store))
    for tid, subject in (("r-ok", "ok"), ("r-no", "refuse")):
        post(app, deliver(subject=subject), tid=tid)
        post(app, deliver(subject=subject), tid=tid)
    repeats = [r for r in caplog.records if "repeated" in r.getMessage()]
    assert [(r.mm7["transaction_id"], r.mm7["outcome"], r.mm7["status"]) for r in repeats] == [
        ("r-ok", "repeat", 1000), ("r-no", "repeat", 4007)]
    assert repeats[0].mm7["operation"] == "DeliverReq" and repeats[0].mm7["peer"] is not None
    # ... and so must one reading the lines: who sent it again (the line named no peer), how fast
    assert re.fullmatch(r"DeliverReq tid=r-ok from 127\.0\.0\.1: repeated \(first stored as #1, handled\): "
                        r"answered 1000 without calling the handler, [0-9.]+ms", repeats[0].getMessage())


def test_a_copy_re_encoded_in_every_way_an_mmsc_may_is_still_a_repeat(store):
    """A retransmission the MMSC builds again: new boundary and Content-IDs, another MM7Version
    and relay node, base64 for 8bit, and its text part in another charset (GB2312 for UTF-8,
    CRLF for LF): other bytes, the same text. A repeat, answered without the handler; another
    text under the same TransactionID is another message."""
    from mm7bind.profiles import STANDARD

    calls = []
    rcv = mm7.Receiver(store=store)
    rcv.on("deliver", lambda msg, ctx: calls.append([p.text_value for p in msg.content.parts if p.kind == "text"]))
    app = mm7.wsgi_app(rcv)
    picture = b"\xff\xd8\xff\xe0 a picture"

    def copy(text: str, charset: str, **kw) -> mm7.DeliverReq:
        content = mm7.Content()
        content.add(mm7.Part.text(text, charset))
        content.add_bytes(picture, "image/jpeg")
        return deliver(content=content, **kw)

    first = mm7.encode(copy("你好\n再见", "utf-8", mm7_version="6.8.0", relay_server_id="node-1"),
                       transaction_id="re-1", version="REL-6-MM7-1-4", profile=STANDARD.replace(transfer_encoding="8bit"))
    again = mm7.encode(copy("你好\r\n再见", "gb2312", mm7_version="6.5.0", relay_server_id="node-2"),
                       transaction_id="re-1", version="REL-6-MM7-1-4",
                       profile=STANDARD.replace(transfer_encoding="base64"))
    assert first.content_type != again.content_type  # (another boundary)
    assert b"gb2312" in again.to_bytes().lower() and b"base64" in again.to_bytes().lower()
    for out in (first, again):
        rsp = call_wsgi(app, out.to_bytes(), out.content_type)
        assert rsp["status"] == 200 and mm7.decode(rsp["body"]).body.status.code == 1000
    assert calls == [["你好\n再见"]]
    assert [r.state for r in store.inbox()] == ["handled"]
    other = mm7.encode(copy("你好\n再会", "gb2312"), transaction_id="re-1", version="REL-6-MM7-1-4")
    assert call_wsgi(app, other.to_bytes(), other.content_type)["status"] == 200
    assert calls == [["你好\n再见"], ["你好\n再会"]]


def test_a_copy_of_a_mislabelled_message_is_a_repeat_across_a_change_of_the_charset_detection(store, monkeypatch):
    """A text part's share of the duplicate key was its text as the charset detection read it: a
    GBK text labelled ISO-8859-1, taken before an upgrade that reads it otherwise and sent again
    by the MMSC after it, was a new message, handled twice. It counts as its label reads it now
    (its bytes, when the label does not read them); a record keyed by the text as read, as the
    release before keyed it, is still found, and text labelled right keeps its key."""
    from mm7bind import content as content_module
    from mm7bind import receiver

    calls = []
    rcv = mm7.Receiver(store=store)
    rcv.on("deliver", lambda msg, ctx: calls.append([p.text_value for p in msg.content.parts]))
    app = mm7.wsgi_app(rcv)

    def mo(tid: str, data: bytes, charset: str) -> mm7.HttpMessage:
        part = mm7.Part.from_bytes(data, "text/plain", charset=charset)
        return mm7.encode(deliver(content=mm7.Content(parts=[part])), transaction_id=tid, version="REL-6-MM7-1-4")

    gbk = "周末一起吃饭吧".encode("gbk")
    for tid, charset in (("mis-1", "iso-8859-1"), ("mis-2", "utf-8")):  # (read as Latin letters; not read)
        out = mo(tid, gbk, charset)
        assert call_wsgi(app, out.to_bytes(), out.content_type)["status"] == 200
    assert calls == [["周末一起吃饭吧"], ["周末一起吃饭吧"]]
    with monkeypatch.context() as later:  # a release whose detection reads such text otherwise
        later.setattr(content_module, "text_of", lambda data, charset: data.decode("gb18030")[::-1])
        for tid, charset in (("mis-1", "iso-8859-1"), ("mis-2", "utf-8")):
            out = mo(tid, gbk, charset)
            assert mm7.decode(out.to_bytes(), out.content_type).body.content.parts[0].text_value != "周末一起吃饭吧"
            assert call_wsgi(app, out.to_bytes(), out.content_type)["status"] == 200
    assert len(calls) == 2 and len(store.inbox()) == 2

    # Stored by the release before, under the key of the text as its detection read it: found.
    out = mo("mis-3", gbk, "iso-8859-1")
    msg = mm7.decode(out.to_bytes(), out.content_type).body
    before = f"DeliverReq|mis-3|{receiver._identity(msg, as_read=True)}"
    assert before != receiver._keys(msg, "mis-3")[0]
    record, _ = store.accept(kind="DeliverReq", transaction_id="mis-3", message_id=None, recipient=None, status=None,
                             peer=None, content_type=out.content_type, body=out.to_bytes(), tid_key=before,
                             report_key=None)
    store.mark(record.id, "handled", 1000)
    assert call_wsgi(app, out.to_bytes(), out.content_type)["status"] == 200
    assert len(calls) == 2 and len(store.inbox()) == 3
    # Text labelled right: the key it always had (its text, whatever charset the copy is in).
    ok = mo("ok-1", "你好".encode("gb2312"), "gb2312")
    right = mm7.decode(ok.to_bytes(), ok.content_type).body
    assert receiver._identity(right) == receiver._identity(right, as_read=True)


def test_a_copy_of_a_mislabelled_message_without_a_transaction_id_is_a_repeat_across_the_upgrade(store):
    """A DeliverReq without a TransactionID is keyed by what it says and its TimeStamp; a text part
    counted there by its text as the charset detection read it in the release before. Stored so,
    a mislabelled one (GBK labelled ISO-8859-1) the MMSC sent again after the upgrade was looked
    up under its new key alone: a new message, handled twice. It is looked up under the key of
    then too, as one with a TransactionID is."""
    import hashlib
    from datetime import datetime, timezone

    from mm7bind import receiver

    calls = []
    rcv = mm7.Receiver(store=store)
    rcv.on("deliver", lambda msg, ctx: calls.append(msg.time_stamp))
    app = mm7.wsgi_app(rcv)
    part = mm7.Part.from_bytes("周末一起吃饭吧".encode("gbk"), "text/plain", charset="iso-8859-1")
    sent = deliver(content=mm7.Content(parts=[part]), time_stamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    out = mm7.encode(sent, transaction_id="t-1", version="REL-6-MM7-1-4")
    body = _without_transaction_id(out.to_bytes(), "absent")
    msg = mm7.decode(body, out.content_type).body
    said = f"{receiver._identity(msg, as_read=True)}|2026-01-02T03:04:05+00:00"  # (the key of then)
    before = "DeliverReq||" + hashlib.sha256(said.encode()).hexdigest()[:32]
    assert before != receiver._keys(msg, None)[0]
    record, _ = store.accept(kind="DeliverReq", transaction_id=None, message_id=None, recipient=None, status=None,
                             peer=None, content_type=out.content_type, body=body, tid_key=before, report_key=None)
    store.mark(record.id, "handled", 1000)
    assert call_wsgi(app, body, out.content_type)["status"] == 200
    assert calls == [] and len(store.inbox()) == 1
    # Another message stamped another second is no copy of it.
    later = mm7.encode(dataclasses.replace(sent, time_stamp=datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc)),
                       transaction_id="t-1", version="REL-6-MM7-1-4")
    assert call_wsgi(app, _without_transaction_id(later.to_bytes(), "absent"), later.content_type)["status"] == 200
    assert len(calls) == 1 and len(store.inbox()) == 2


def test_a_copy_of_a_message_stored_by_the_release_before_is_still_a_repeat(tmp_path, monkeypatch):
    """Records of the release before carry the duplicate key of then, the element and the
    TransactionID alone. A copy of such a message arriving after the upgrade (the MMSC retrying)
    is a repeat of it; another message under that TransactionID is not. Only a store that may
    hold such keys is asked for them: once they are purged, or in a new file, no request is."""
    import sqlite3
    from datetime import timedelta

    from mm7bind import store as store_module

    path = tmp_path / "old.db"
    first = mm7.encode(deliver(subject="before the upgrade"), transaction_id="up-1", version="REL-6-MM7-1-4")
    with sqlite3.connect(path) as db:  # (as the release before wrote it, an hour ago)
        db.executescript(store_module.SENT_SCHEMA + store_module.INBOX_SCHEMA)
        db.execute("INSERT INTO inbox (kind, transaction_id, content_type, body, received_at, state, response_code,"
                   " tid_key) VALUES ('DeliverReq', 'up-1', ?, ?, ?, 'handled', 1000, 'DeliverReq|up-1')",
                   (first.content_type, first.to_bytes(), _hours_ago(1)))
    db.close()
    store = SqliteStore(path)
    try:
        assert store.holds_old_keys
        app, calls = _subjects_handled(store)
        rsp = post(app, deliver(subject="before the upgrade"), tid="up-1")  # (encoded anew: another boundary)
        assert mm7.decode(rsp["body"]).body.status.code == 1000
        assert calls == [] and len(store.inbox()) == 1
        post(app, deliver(subject="another message"), tid="up-1")
        assert calls == ["another message"] and len(store.inbox()) == 2
    finally:
        store.close()
    store = SqliteStore(path)  # (what the first open found is kept in the file)
    try:
        assert store.holds_old_keys
        assert store.purge(timedelta(minutes=30)).inbox == 1  # the record of before goes
        assert not store.holds_old_keys
    finally:
        store.close()
    store = SqliteStore(path)
    try:
        assert not store.holds_old_keys

        def asked(tid_key):
            raise AssertionError(f"looked up {tid_key}")

        monkeypatch.setattr(store, "inbox_by_key", asked)
        app = mm7.wsgi_app(mm7.Receiver(store=store, handler=mm7.Handler()))
        assert post(app, deliver(subject="after"), tid="up-2")["status"] == 200
    finally:
        store.close()
    fresh = SqliteStore(tmp_path / "new.db")
    try:
        assert not fresh.holds_old_keys
    finally:
        fresh.close()


def test_a_digest_answer_spent_on_a_copy_of_a_message_of_the_release_before_is_refused_elsewhere(tmp_path):
    """A copy of a message the release before stored is answered as its repeat without storing
    anything: the Digest answer it came with was not kept spent, and another process on the store
    took it again, with another message."""
    import sqlite3

    from mm7bind import store as store_module

    path = tmp_path / "old.db"
    first = mm7.encode(deliver(subject="before the upgrade"), transaction_id="up-1", version="REL-6-MM7-1-4")
    with sqlite3.connect(path) as db:
        db.executescript(store_module.SENT_SCHEMA + store_module.INBOX_SCHEMA)
        db.execute("INSERT INTO inbox (kind, transaction_id, content_type, body, received_at, state, response_code,"
                   " tid_key) VALUES ('DeliverReq', 'up-1', ?, ?, ?, 'handled', 1000, 'DeliverReq|up-1')",
                   (first.content_type, first.to_bytes(), _hours_ago(1)))
    db.close()
    stores = [SqliteStore(path), SqliteStore(path)]
    receivers, calls, headers = _digest_receivers(stores)
    try:
        copy = mm7.encode(deliver(subject="before the upgrade"), transaction_id="up-1", version="REL-6-MM7-1-4")
        assert receivers[0].handle(copy.to_bytes(), copy.content_type, headers, "127.0.0.1", uri="/mm7").status == 200
        assert calls == []
        forged = mm7.encode(deliver(subject="forged"), transaction_id="up-2", version="REL-6-MM7-1-4")
        rsp = receivers[1].handle(forged.to_bytes(), forged.content_type, headers, "127.0.0.1", uri="/mm7")
        assert rsp.status == 401 and calls == [] and len(stores[1].inbox()) == 1
    finally:
        for one in stores:
            one.close()


def _subjects_handled(store) -> tuple:
    """A receiver's WSGI app on `store`, and the list the subjects of the DeliverReqs it hands its
    handler go into."""
    calls: list = []
    rcv = mm7.Receiver(store=store)
    rcv.on("deliver", lambda msg, ctx: calls.append(msg.subject))
    return mm7.wsgi_app(rcv), calls


def _hours_ago(hours: float) -> str:
    """A stored received_at, `hours` before now."""
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) - timedelta(hours=hours)).isoformat()


def _store_of_the_release_before(path, rows) -> None:
    """A store file as the release before left it: `rows` of (tid, message, received_at), each
    keyed by the digest of then, which took the TimeStamp in."""
    import sqlite3

    from mm7bind import receiver as receiver_module
    from mm7bind import store as store_module

    with sqlite3.connect(path) as db:
        db.executescript(store_module.SENT_SCHEMA + store_module.INBOX_SCHEMA)
        for tid, msg, received_at in rows:
            out = mm7.encode(msg, transaction_id=tid, version="REL-6-MM7-1-4")
            key = f"{msg.ELEMENT}|{tid}|{receiver_module._identity(msg, receiver_module._NOT_IDENTITY_BEFORE)}"
            db.execute("INSERT INTO inbox (kind, transaction_id, content_type, body, received_at, state,"
                       " response_code, tid_key) VALUES (?, ?, ?, ?, ?, 'handled', 1000, ?)",
                       (msg.ELEMENT, tid, out.content_type, out.to_bytes(), received_at, key))
    db.close()


def test_a_copy_the_mmsc_stamps_anew_is_still_a_repeat(store, caplog):
    """An MMSC building each attempt again may write the attempt's time as its TimeStamp: the same
    TransactionID and message, another TimeStamp. A repeat, answered without the handler, the log
    saying the stamps differ (a second message saying the same under a constant TransactionID
    would be taken for a copy too: the line says that may be what it was). Another message under
    the TransactionID is still one of its own."""
    from datetime import datetime, timezone

    app, calls = _subjects_handled(store)
    caplog.set_level(logging.INFO, logger="mm7bind.receiver")
    for minute in (0, 5, 10):  # (the first attempt, and retries five minutes apart)
        stamp = datetime(2026, 5, 1, 12, minute, tzinfo=timezone.utc)
        rsp = post(app, deliver(subject="hello", time_stamp=stamp), tid="0000")
        assert rsp["status"] == 200 and mm7.decode(rsp["body"]).body.status.code == 1000
    assert calls == ["hello"] and [r.state for r in store.inbox()] == ["handled"]
    said = [r.getMessage() for r in caplog.records if "repeated" in r.getMessage()]
    assert len(said) == 2 and all("stamped anew" in line for line in said), said
    post(app, deliver(subject="another", time_stamp=datetime(2026, 5, 1, 12, 15, tzinfo=timezone.utc)), tid="0000")
    assert calls == ["hello", "another"]
    caplog.clear()
    post(app, deliver(subject="another", time_stamp=datetime(2026, 5, 1, 12, 15, tzinfo=timezone.utc)), tid="0000")
    assert calls == ["hello", "another"]
    assert not any("stamped anew" in r.getMessage() for r in caplog.records)  # (the same stamp: nothing to say)


@pytest.mark.parametrize("how", ["empty", "absent", "no Header"])
def test_a_deliver_req_without_a_transaction_id_is_a_repeat_when_it_says_the_same_stamped_alike(store, how):
    """An MMSC that sends no TransactionID (InstantCom's habit) retries all the same: a copy saying
    what the first said, stamped with the same TimeStamp (to the second, however written), is a
    repeat. A message sent alike a minute later is stamped apart, and one without a TimeStamp
    cannot be told from a copy: each is handled."""
    from datetime import datetime, timedelta, timezone

    calls = []
    rcv = mm7.Receiver(store=store)
    rcv.on("deliver", lambda msg, ctx: calls.append(msg.time_stamp))
    app = mm7.wsgi_app(rcv)

    def send(msg, version="REL-6-MM7-1-4"):
        out = mm7.encode(msg, transaction_id="t-1", version=version)
        rsp = call_wsgi(app, _without_transaction_id(out.to_bytes(), how), out.content_type)
        assert rsp["status"] == 200 and mm7.decode(rsp["body"]).body.status.code == 1000
        return rsp

    stamp = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    send(deliver(subject="hi", time_stamp=stamp))
    send(deliver(subject="hi", time_stamp=stamp.astimezone(timezone(timedelta(hours=8))), mm7_version="6.5.0"),
         version="REL-6-MM7-1-3")
    assert len(calls) == 1 and len(store.inbox()) == 1
    send(deliver(subject="hi", time_stamp=stamp + timedelta(minutes=1)))
    assert len(calls) == 2
    send(deliver(subject="hi"))
    send(deliver(subject="hi"))
    assert len(calls) == 4 and len(store.inbox()) == 4


@pytest.mark.parametrize("year, hours", [(9999, -14), (1, 14)], ids=["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_deliver_req_without_a_transaction_id_stamped_at_the_ends_of_the_calendar_is_taken(store, year, hours):
    """A valid xs:dateTime whose instant falls outside the years 1-9999 in UTC keys the message as
    it is written: it was a 3000 "internal error" (OverflowError), answered again to every retry,
    the message never taken."""
    from datetime import datetime, timedelta, timezone

    stamp = datetime(year, 12 if year > 1 else 1, 31 if year > 1 else 1, 23 if year > 1 else 0, 59 if year > 1 else 0,
                     59 if year > 1 else 0, tzinfo=timezone(timedelta(hours=hours)))
    rcv = mm7.Receiver(store=store)
    out = mm7.encode(deliver(subject="hi", time_stamp=stamp), transaction_id="t-1", version="REL-6-MM7-1-4")
    body = _without_transaction_id(out.to_bytes(), "absent")
    for _ in range(2):  # (the copy: a repeat of the first)
        rsp = rcv.handle(body, out.content_type, {"SOAPAction": '""'}, peer="127.0.0.1")
        assert rsp.status == 200 and mm7.decode(rsp.body).body.status.code == 1000
    [record] = store.inbox()
    assert record.state == "handled" and mm7.decode(record.body, record.content_type).body.time_stamp == stamp


def test_copies_of_messages_stored_by_the_release_before_with_its_digest_are_repeats(tmp_path):
    """The release before digested a message with its TimeStamp in: a copy of a message it
    stored, arriving after the upgrade, is found by that key of then and answered as a repeat;
    a record of then older than OLD_KEYS_WINDOW is no retry's first copy, and is not looked for."""
    from datetime import datetime, timezone

    stamp = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    recent, old = deliver(subject="recent", time_stamp=stamp), deliver(subject="old", time_stamp=stamp)
    path = tmp_path / "before.db"
    _store_of_the_release_before(path, [("d-2", old, _hours_ago(8 * 24)), ("d-1", recent, _hours_ago(2))])
    store = SqliteStore(path)
    try:
        assert store.holds_old_keys
        app, calls = _subjects_handled(store)
        assert mm7.decode(post(app, recent, tid="d-1")["body"]).body.status.code == 1000
        assert calls == [] and len(store.inbox()) == 2
        post(app, old, tid="d-2")  # (eight days on: a message of its own, however alike)
        assert calls == ["old"] and len(store.inbox()) == 3
    finally:
        store.close()


def test_records_of_the_release_before_stop_being_looked_for_once_too_old_or_purged_elsewhere(tmp_path, monkeypatch):
    """Without retention, records of the release before would keep every request looking for its
    key of then as long as one is left: past OLD_KEYS_WINDOW none is looked for. And a purge by
    another process (`mm7bind store purge` beside a running serve) is noticed within
    OLD_KEYS_RECHECK seconds, not at the next restart."""
    from datetime import timedelta

    from mm7bind import store as store_module

    aged = tmp_path / "aged.db"
    _store_of_the_release_before(aged, [("a-1", deliver(subject="a"), _hours_ago(8 * 24))])
    store = SqliteStore(aged)
    try:
        assert not store.holds_old_keys

        def asked(*keys):
            raise AssertionError(f"looked up {keys}")

        monkeypatch.setattr(store, "inbox_stored_before", asked)
        assert post(mm7.wsgi_app(mm7.Receiver(store=store)), deliver(subject="b"), tid="a-2")["status"] == 200
    finally:
        store.close()
    shared = tmp_path / "shared.db"
    _store_of_the_release_before(shared, [("s-1", deliver(subject="s"), _hours_ago(1))])
    serving, other = SqliteStore(shared), SqliteStore(shared)
    try:
        assert serving.holds_old_keys
        assert other.purge(timedelta(0)).inbox == 1  # (another process: the serving store's own purge did not run)
        monkeypatch.setattr(store_module, "OLD_KEYS_RECHECK", 0.0)  # (a minute gone by)
        assert not serving.holds_old_keys
    finally:
        serving.close()
        other.close()


def test_a_handler_sees_the_client_certificate_the_mmsc_presented(tmp_path):
    """One CA may sign several MMSCs' certificates: mutual TLS lets them all in, and the handler
    tells them apart by the certificate each presented (its subject, its SHA-256 fingerprint).
    The embedded server gives it; a WSGI server passes it as mod_ssl does, an ASGI one in the TLS
    extension; a certificate the server did not verify, or none, is None."""
    import hashlib

    trustme = pytest.importorskip("trustme")
    server_ca, mmsc_ca = trustme.CA(), trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ca.issue_cert("127.0.0.1").configure_cert(server)
    server.verify_mode = ssl.CERT_REQUIRED
    mmsc_ca.configure_trust(server)
    server_ca.cert_pem.write_to_path(str(tmp_path / "server-ca.pem"))
    issued = mmsc_ca.issue_cert("mmsc-a.example", common_name="mmsc-a.example", organization_name="Carrier, Inc")
    issued.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "mmsc-a.pem"))
    pem = issued.cert_chain_pems[0].bytes().decode("ascii")
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    seen = []

    @(rcv := mm7.Receiver()).on("deliver")
    def on_deliver(msg, ctx):
        seen.append(ctx.client_cert)

    out = mm7.encode(deliver(), transaction_id="cert-1")
    with mm7.serve(rcv, port=0, ssl_context=server) as srv:
        rsp = requests.post(srv.endpoint, data=out.to_bytes(), headers=out.headers, timeout=10,
                            verify=str(tmp_path / "server-ca.pem"), cert=str(tmp_path / "mmsc-a.pem"))
    assert rsp.status_code == 200
    [cert] = seen
    assert cert.fingerprint == fingerprint
    assert cert.subject.startswith("CN=mmsc-a.example,") and "O=Carrier\\, Inc" in cert.subject
    assert cert.issuer is not None and cert.issuer != cert.subject
    assert ssl.PEM_cert_to_DER_cert(cert.pem) == ssl.PEM_cert_to_DER_cert(pem)

    seen.clear()
    app = mm7.wsgi_app(rcv)
    given = {"SSL_CLIENT_CERT": pem, "SSL_CLIENT_S_DN": "CN=mmsc-b.example,O=Carrier"}
    for extra in (given | {"SSL_CLIENT_VERIFY": "SUCCESS"}, given | {"SSL_CLIENT_VERIFY": "GENEROUS"}, {},
                  {"HTTP_SSL_CLIENT_CERT": pem}):  # (the last: a request header, which anyone can send)
        assert call_wsgi(app, out.to_bytes(), out.content_type, extra_environ=extra)["status"] == 200
    assert [(c.subject, c.fingerprint) if c else None for c in seen] == [
        ("CN=mmsc-b.example,O=Carrier", fingerprint), None, None, None]
    seen.clear()
    asgi = mm7.asgi_app(rcv)
    for tls in ({"client_cert_chain": [pem], "client_cert_name": "CN=mmsc-c.example", "client_cert_error": None},
                {"client_cert_chain": [pem], "client_cert_name": "CN=x", "client_cert_error": "unknown CA"}):
        call_asgi(asgi, [out.to_bytes()], {"Content-Type": out.content_type},
                  extra_scope={"extensions": {"tls": tls}})
    assert [(c.subject, c.fingerprint) if c else None for c in seen] == [("CN=mmsc-c.example", fingerprint), None]


@pytest.mark.parametrize("setting, value", [("threads", 0), ("threads", 2.5), ("threads", float("nan")),
                                            ("threads", 10**30), ("threads", True), ("connection_limit", 0),
                                            ("connection_limit", float("nan"))])
def test_a_server_count_that_cannot_work_is_refused_when_made(setting, value, tmp_path):
    """threads = 10**30 passed config check and held serve's start for ever, waitress starting a
    thread at a time; 2.5 or NaN failed it with a TypeError. Refused, naming the setting, before
    anything listens; config check says the range too."""
    from mm7bind import config
    from mm7bind.server import MAX_THREADS

    with pytest.raises(ValueError, match=f"^{setting} must be a whole number, at least 1"):
        mm7.serve(mm7.Receiver(store=mm7.MemoryStore()), port=0, **{setting: value})
    for port in (70000, -1, 80.0):  # (70000: an OverflowError from the socket layer)
        with pytest.raises(ValueError, match="^port must be a port number, 0 to 65535"):
            mm7.serve(mm7.Receiver(store=mm7.MemoryStore()), port=port)
    if setting == "threads" and type(value) is int:
        (tmp_path / "c.toml").write_text(f"[receiver]\nthreads = {value}\n", encoding="utf-8")
        _, problems = config.load(tmp_path / "c.toml", env={})
        assert [str(p) for p in problems if p.level == "error"] == [
            f"error: receiver.threads: must be from 1 to {MAX_THREADS}"]


def test_a_full_disk_is_one_error_as_it_begins_and_one_warning_once_messages_are_stored_again(store, caplog):
    """While the disk is full every message is refused (a 3000 fault, as before), but told in one
    ERROR, not one each — a flood of lines on the disk that is full — then one WARNING, with the
    count, once a message is stored again."""
    import sqlite3

    accept = store.accept

    def full(**kw):
        raise sqlite3.OperationalError("database or disk is full")

    app = mm7.wsgi_app(mm7.Receiver(mm7.Handler(), store=store))
    caplog.set_level(logging.INFO, logger="mm7bind.receiver")
    store.accept = full
    for n in range(3):
        rsp = post(app, mm7.DeliverReq(sender="+8613900000000", subject="x"), tid=f"full-{n}")
        assert rsp["status"] == 500 and b"3000" in rsp["body"]
    store.accept = accept
    assert post(app, mm7.DeliverReq(sender="+8613900000000", subject="x"), tid="room")["status"] == 200
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert [level for level, _ in said] == ["ERROR", "WARNING"], said
    assert said[0][1].startswith("DeliverReq tid=full-0 from ") and "database or disk is full" in said[0][1]
    assert said[1][1].startswith("the store takes messages again: 3 refused (answered 3000) over ")
    assert said[1][1].endswith("(OperationalError: database or disk is full)")
    store.accept = full  # (full again: a new incident, a new ERROR)
    assert post(app, mm7.DeliverReq(sender="+8613900000000", subject="x"), tid="full-again")["status"] == 500
    assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING][-1] == "ERROR"


def test_repeats_whose_outcome_cannot_be_read_are_one_error_an_incident_and_one_warning_after(store, caplog):
    """A store that cannot tell a repeated message's earlier outcome answers each copy 3000 (as
    before), told in one ERROR as the trouble begins, not one per message, and one WARNING, with
    the count, once an outcome is read again — as a store that cannot take messages is told."""
    import sqlite3

    class FailsFirst(mm7.Handler):
        def __init__(self):
            self.seen = []

        def on_deliver(self, msg, ctx):
            self.seen.append(ctx.transaction_id)
            if self.seen.count(ctx.transaction_id) == 1:
                raise mm7.Unavailable("down")

    handler = FailsFirst()
    app = mm7.wsgi_app(mm7.Receiver(handler, store=store))
    for n in range(3):  # (each failed once: its repeat is the store's to claim)
        assert post(app, mm7.DeliverReq(sender="+8613900000000", subject="x"), tid=f"r-{n}")["status"] == 500
    claim = store.claim

    def broken(*args, **kw):
        raise sqlite3.OperationalError("disk I/O error")

    caplog.set_level(logging.INFO, logger="mm7bind.receiver")
    caplog.clear()  # (the handler's own failures above are not the store's)
    store.claim = broken
    for n in range(3):
        rsp = post(app, mm7.DeliverReq(sender="+8613900000000", subject="x"), tid=f"r-{n}")
        assert rsp["status"] == 500 and b"3000" in rsp["body"]
    store.claim = claim
    assert post(app, mm7.DeliverReq(sender="+8613900000000", subject="x"), tid="r-0")["status"] == 200
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert [level for level, _ in said] == ["ERROR", "WARNING"], said
    assert said[0][1].startswith("DeliverReq tid=r-0 from ") and "could not be asked its outcome" in said[0][1]
    assert said[1][1].startswith("the store takes messages again: 3 refused (answered 3000) over ")
    assert said[1][1].endswith("(OperationalError: disk I/O error)")
    assert handler.seen.count("r-0") == 2 and store.inbox_get(1).state == "handled"


def test_settings_given_with_a_config_apply_over_it():
    """`Receiver(handler, config=cfg, max_body=...)` dropped the keywords for the config's own: a
    request over the max_body asked for was taken. They apply over it, checked as the config checks
    them; the config given is left as it was."""
    config = mm7.ReceiverConfig(strict=True)
    rx = mm7.Receiver(Recorder(), config=config, max_body=2048)
    assert (rx.config.strict, rx.config.max_body) == (True, 2048)
    assert config.max_body == 20 * 1024 * 1024
    big = mm7.encode(deliver(subject="x" * 4000), transaction_id="big-1")
    assert rx.handle(big.to_bytes(), big.content_type, {}, "10.0.0.8").status == 413
    with pytest.raises(ValueError, match="^max_body must be a whole number"):
        mm7.Receiver(config=config, max_body=0)
    with pytest.raises(TypeError, match=r"'strct' \(did you mean strict\?\)"):
        mm7.Receiver(config=config, strct=False)
    assert mm7.Receiver(config=config).config is config  # (alone: the one given, changed while it serves)
