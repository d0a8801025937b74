"""The client against real HTTP servers on loopback that the tests start themselves."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import logging
import math
import sqlite3
import ssl
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mm7bind as mm7
from mm7bind.client import AsyncClient, Client, ClientConfig
from mm7bind.errors import ConnectError, FaultError, HTTPStatusError, ProtocolError, RequestTimeout
from mm7bind.retry import RateLimiter, RetryPolicy, SharedRateLimiter, parse_retry_after
from mm7bind.store import MemoryStore, SqliteStore

from .fake_http import (
    FakeServer,
    FloodingServer,
    Reply,
    SilentServer,
    TricklingServer,
    async_submit_raising,
    dead_url,
    default_responder,
    mm7_reply,
)

NO_WAIT = RetryPolicy(max_attempts=3, backoff=0.5, factor=2.0, jitter=0.0)


class Sleeps(list):
    """An injected sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def submit(**kw) -> mm7.SubmitReq:
    return mm7.SubmitReq(recipients=["+8613800000000", "a@b.cn"], subject="hello", **kw)


def client(url, **kw) -> Client:
    kw.setdefault("retry", NO_WAIT)
    sleeps = kw.pop("sleep", Sleeps())
    c = Client(url, sleep=sleeps, **kw)
    c.sleeps = sleeps
    return c


@pytest.mark.parametrize("version", [v.name for v in mm7.versions.all_versions()])
def test_submit_in_every_version(version):
    with FakeServer() as srv, client(srv.url, profile=mm7.Profile(version=version), vaspid="800001",
                                     vasid="1065") as c:
        content = mm7.Content(parts=[mm7.Part.text("hi"), mm7.Part.from_bytes(b"GIF89a" + bytes(40), "image/gif")])
        result = c.submit(submit(content=content))
        assert result.ok and result.status.code == 1000 and result.message_id.startswith("mid-")
        assert result.version.name == version and result.attempts == 1 and result.http_status == 200
        [req] = srv.requests
        assert req.header("SOAPAction") == '""' and req.header("User-Agent") == f"mm7bind/{mm7.__version__}"
        assert req.header("Content-Type").startswith("multipart/related;")
        env = req.decode()
        assert env.version.name == version and env.deviations == []
        assert env.transaction_id == result.transaction_id
        assert (env.body.vaspid, env.body.vasid) == ("800001", "1065")  # client defaults filled in
        assert [p.data for p in env.body.content.parts] == [p.data for p in content.parts]


def test_other_operations():
    with FakeServer() as srv, client(srv.url) as c:
        assert c.cancel("mid-1").ok
        assert c.replace("mid-1", mm7.Content(parts=[mm7.Part.text("new")])).ok
        assert c.extended_cancel("mid-1").ok
        r = c.extended_replace("mid-1", mm7.Content(parts=[mm7.Part.text("newer")]), service_code="9")
        assert r.ok and r.message_id and isinstance(r.response, mm7.ExtendedReplaceRsp)
        kinds = [req.decode().body.ELEMENT for req in srv.requests]
        assert kinds == ["CancelReq", "ReplaceReq", "extendedCancelReq", "extendedReplaceReq"]
        assert srv.requests[0].header("Content-Type").startswith("text/xml")
    with pytest.raises(TypeError):
        client("http://127.0.0.1:9/").send(mm7.DeliverRsp())


@pytest.mark.parametrize("http_status", [500, 200])
def test_fault_with_rserrorrsp(http_status):
    def responder(req):
        env = req.decode()
        return mm7_reply(mm7.Fault(code="Client", string="Address Error",
                                   detail=mm7.RSErrorRsp(status=mm7.Status(2002, details="no such number"))),
                         env, http_status)

    with FakeServer(responder) as srv, client(srv.url) as c:
        with pytest.raises(FaultError) as err:
            c.submit(submit())
        e = err.value
        assert e.http_status == http_status and e.status.code == 2002 and e.status.details == "no such number"
        assert e.fault.code == "Client" and e.attempts == 1 and c.sleeps == []  # 2xxx: never retried
        assert len(srv.requests) == 1


@pytest.mark.parametrize(("code", "faultcode"),
                         [(4004, "Client"), (2002, "Client"), (4006, "Server"), (3000, "Server")])
def test_an_error_response_without_a_fault_reads_as_a_fault_with_its_statuss_faultcode(code, faultcode):
    """An RSErrorRsp alone in an HTTP 200 was read as a Server Fault whatever its status: a 4004 or
    a 2002 said Server to whoever went by `fault.code`, where a Fault written for it says Client."""
    def responder(req):
        return mm7_reply(mm7.RSErrorRsp(status=mm7.Status(code)), req.decode(), 200)

    with FakeServer(responder) as srv, client(srv.url, retry=RetryPolicy.never()) as c:
        with pytest.raises(FaultError) as err:
            c.submit(submit())
    assert (err.value.fault.code, err.value.status.code, err.value.http_status) == (faultcode, code, 200)


def test_a_fault_error_lists_the_deviations_its_answer_was_read_with():
    """A Result lists how its answer departed from the schema; a FaultError kept none of it, so a
    Fault read from a non-standard shape (a status taken from faultstring, an unprefixed code)
    could not be told from a standard one."""
    def responder(req):
        env = req.decode()
        xml = (f'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header>'
               f'<TransactionID xmlns="{env.version.namespace}">{env.transaction_id}</TransactionID></e:Header>'
               "<e:Body><e:Fault><faultcode>Client</faultcode><faultstring>2002 no such number</faultstring>"
               "</e:Fault></e:Body></e:Envelope>")
        return Reply(500, xml.encode(), {"Content-Type": "text/xml"})

    with FakeServer(responder) as srv, client(srv.url) as c, pytest.raises(FaultError) as err:
        c.submit(submit())
    assert err.value.status == mm7.Status(2002, "no such number")
    assert {d.code for d in err.value.deviations} == {"faultcode-unqualified", "fault-status-in-string"}


@pytest.mark.parametrize("detail, string", [
    ('<detail><MM7VASPErrorRsp xmlns="{ns}"><MM7Version>6.8.0</MM7Version><Status><StatusCode>4004</StatusCode>'
     "</Status></MM7VASPErrorRsp></detail>", "refused"),
    ("", "4004 Validation error"),
    ("<detail><Status><StatusCode>4004</StatusCode></Status></detail>", "refused"),
])
def test_service_error_in_a_nonstandard_fault_is_not_retried(detail, string):
    """A 4xxx refusal in a Fault the schema does not describe is still a refusal, not an HTTP 500 to retry."""
    def responder(req):
        env = req.decode()
        xml = (f'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header>'
               f'<TransactionID xmlns="{env.version.namespace}">{env.transaction_id}</TransactionID></e:Header>'
               f"<e:Body><e:Fault><faultcode>e:Client</faultcode><faultstring>{string}</faultstring>"
               f"{detail.format(ns=env.version.namespace)}</e:Fault></e:Body></e:Envelope>")
        return Reply(500, xml.encode(), {"Content-Type": "text/xml"})

    with FakeServer(responder) as srv, client(srv.url) as c:
        with pytest.raises(FaultError) as err:
            c.submit(submit())
        assert err.value.status.code == 4004 and err.value.attempts == 1
        assert c.sleeps == [] and len(srv.requests) == 1


def unwrapped_answer(req, status: int = 1000):
    """The Rel-5 specification's SubmitRsp example, as an MMSC copying it answers: MM7Version,
    Status and MessageID directly in the Body, no SubmitRsp element around them."""
    env = req.decode()
    xml = ('<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header>'
           f'<mm7:TransactionID xmlns:mm7="{env.version.namespace}" env:mustUnderstand="1">{env.transaction_id}'
           f'</mm7:TransactionID></env:Header><env:Body><MM7Version>5.3.0</MM7Version><Status><StatusCode>{status}'
           '</StatusCode><StatusText>Success</StatusText></Status><MessageID>041502073667</MessageID>'
           "</env:Body></env:Envelope>")
    return Reply(200, xml.encode(), {"Content-Type": 'text/xml; charset="utf-8"'})


def test_an_answer_without_its_response_element_is_read_as_the_response_the_request_called_for():
    with FakeServer(unwrapped_answer) as srv, client(srv.url, profile=mm7.Profile(version="REL-5-MM7-1-0")) as c:
        result = c.submit(submit())
        assert result.ok and result.message_id == "041502073667" and isinstance(result.response, mm7.SubmitRsp)
        assert "missing-body-element" in {d.code for d in result.deviations}
        cancelled = c.cancel(mm7.CancelReq(message_id="041502073667"))
        assert isinstance(cancelled.response, mm7.CancelRsp) and cancelled.status.code == 1000
    with pytest.raises(mm7.UnsupportedOperationError, match="only the sender of the request can tell"):
        mm7.decode(unwrapped_answer(srv.requests[0]).body, "text/xml")  # who did not ask cannot read it


def test_service_unavailable_fault_is_retried_with_the_same_transaction_id():
    def responder(req):
        env = req.decode()
        if len(srv.requests) < 3:
            return mm7_reply(mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=mm7.Status(4006))), env, 500)
        return default_responder(req)

    with FakeServer(responder) as srv, client(srv.url, retry=RetryPolicy(max_attempts=4, jitter=0)) as c:
        result = c.submit(submit())
        assert result.ok and result.attempts == 3
        assert len({r.decode().transaction_id for r in srv.requests}) == 1
        assert c.sleeps == [0.5, 1.0]


def test_retries_exhausted_raise_the_last_error():
    def responder(req):
        return mm7_reply(mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=mm7.Status(3000))), req.decode(), 500)

    with FakeServer(responder) as srv, client(srv.url) as c:
        with pytest.raises(FaultError) as err:
            c.submit(submit())
        assert err.value.attempts == 3 and err.value.status.code == 3000
        assert c.sleeps == [0.5, 1.0] and len(srv.requests) == 3


def test_server_error_status_in_a_normal_response_is_retried_then_returned():
    def responder(req):
        return mm7_reply(mm7.SubmitRsp(status=mm7.Status(3000), message_id="x"), req.decode())

    with FakeServer(responder) as srv, client(srv.url) as c:
        result = c.submit(submit())
        assert not result.ok and result.status.code == 3000 and result.attempts == 3
        with pytest.raises(mm7.errors.SendError, match="3000"):
            result.raise_for_status()


@pytest.mark.parametrize("code", [3001, 3003, 3004])
@pytest.mark.parametrize("in_fault", [False, True])
def test_a_server_error_saying_the_request_cannot_succeed_as_sent_is_final(code, in_fault):
    """3001 Not Possible, 3003 Multiple addresses not supported, 3004 Application Addressing not
    supported: the same request would be refused again, so the caller hears at once (to split a
    multi-recipient submit, say) — unless the policy names the code as worth another try."""
    def responder(req):
        if in_fault:
            fault = mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=mm7.Status(code)))
            return mm7_reply(fault, req.decode(), 500)
        return mm7_reply(mm7.SubmitRsp(status=mm7.Status(code), message_id="-"), req.decode())

    def attempts(policy, urls):
        with client(urls, retry=policy) as c:
            try:
                return c.submit(submit()).attempts
            except FaultError as exc:
                assert exc.status.code == code
                return exc.attempts

    with FakeServer(responder) as srv, FakeServer() as other:
        assert attempts(NO_WAIT, srv.url) == 1 and len(srv.requests) == 1
        # Failing over does not make it worth repeating either: no other MMSC is asked.
        assert attempts(dataclasses.replace(NO_WAIT, fail_over_codes=frozenset({code})), (srv.url, other.url)) == 1
        assert other.requests == []
        assert attempts(dataclasses.replace(NO_WAIT, retry_codes=frozenset({code})), srv.url) == 3
        assert attempts(dataclasses.replace(NO_WAIT, retry_codes=frozenset({code}), no_retry_codes=frozenset({code})),
                        srv.url) == 1
        assert len(srv.requests) == 1 + 1 + 3 + 1


@pytest.mark.parametrize("status", [503, 429])  # (429: a rate limit in front of the MMSC, which was final)
def test_http_503_with_retry_after(status):
    def responder(req):
        if len(srv.requests) == 1:
            return Reply(status, b"busy", {"Retry-After": "7", "Content-Type": "text/plain"})
        return default_responder(req)

    with FakeServer(responder) as srv, client(srv.url) as c:
        assert c.submit(submit()).attempts == 2
        assert c.sleeps == [7.0]


def test_an_http_429_says_to_send_more_slowly_and_took_nothing():
    from mm7bind.arrival import NOT_TAKEN, arrival

    with FakeServer(lambda req: Reply(429, b"", {"Retry-After": "1"})) as srv, client(srv.url) as c:
        with pytest.raises(HTTPStatusError, match="asks for fewer requests: see rate_limit") as failed:
            c.submit(submit())
    assert failed.value.attempts == 3 and failed.value.retry_after == 1.0 and arrival(failed.value) == NOT_TAKEN


@pytest.mark.parametrize(("reply", "error", "pattern"), [
    (Reply(404, b"<html>not here</html>", {"Content-Type": "text/html"}), HTTPStatusError, "HTTP 404"),
    (Reply(200, b"<html>hello</html>", {"Content-Type": "text/html"}), ProtocolError, "unreadable"),
    (Reply(200, b""), ProtocolError, "empty answer"),
])
def test_http_and_protocol_errors(reply, error, pattern):
    with FakeServer(lambda req: reply) as srv, client(srv.url) as c:
        with pytest.raises(error, match=pattern) as err:
            c.submit(submit())
        assert err.value.attempts == 1 and len(srv.requests) == 1
        if error is HTTPStatusError:
            assert err.value.status == 404 and b"not here" in err.value.body
        else:  # (an answer that is no MM7 answer, an HTML page or a Fault cut short: its bytes kept to look at)
            assert (err.value.http_status, err.value.body) == (200, reply.body)


def test_a_fault_cut_short_keeps_its_bytes():
    broken = (b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault>'
              b"<faultcode>e:Server</faultcode><faultstring>out of memory</faultstring>")
    with FakeServer(lambda req: Reply(200, broken, {"Content-Type": "text/xml"})) as srv, client(srv.url) as c, \
            pytest.raises(ProtocolError, match="unreadable answer") as err:
        c.submit(submit())
    assert err.value.body == broken and err.value.http_status == 200


@pytest.mark.parametrize("status", [301, 302, 307])
def test_redirects_are_reported_not_followed(status):
    # requests would repeat a POST answered 301/302 as a GET without the message
    reply = Reply(status, b"", {"Location": "http://127.0.0.1:9/elsewhere"})
    with FakeServer(lambda req: reply) as srv, client(srv.url) as c:
        with pytest.raises(HTTPStatusError, match=f"HTTP {status} .*redirect to http://127.0.0.1:9/elsewhere") as err:
            c.submit(submit())
        assert err.value.status == status and len(srv.requests) == 1


def test_wrong_response_type_is_a_protocol_error():
    with FakeServer(lambda req: mm7_reply(mm7.CancelRsp(), req.decode())) as srv, client(srv.url) as c:
        with pytest.raises(ProtocolError, match="expected SubmitRsp, got CancelRsp") as err:
            c.submit(submit())
    assert b"CancelRsp" in err.value.body and err.value.http_status == 200


def test_transaction_id_mismatch_is_reported(caplog):
    def responder(req):
        return mm7_reply(mm7.SubmitRsp(message_id="m"), req.decode(), transaction_id="someone-else")

    with FakeServer(responder) as srv, client(srv.url, accept_transaction_id_mismatch=True) as c, \
            caplog.at_level(logging.INFO, logger="mm7bind.client"):
        results = [c.submit(submit()) for _ in range(3)]
    assert all(r.ok and [d.code for d in r.deviations] == ["transaction-id-mismatch"] for r in results)
    # An MMSC that never echoes it: one warning, not one per request. (Without the setting, such an
    # answer is refused as another request's: see test_client_parity.)
    assert [r.getMessage().partition(": sent")[0] for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"TransactionID mismatch from {srv.url}"]


def test_a_transaction_id_given_as_a_whole_number_is_sent_and_matched_as_its_digits():
    # A sender's counter: it went out as "123", the MMSC took the message, and the answer echoing
    # "123" was taken for another request's (a ProtocolError saying the MMSC may have it).
    with FakeServer() as srv, client(srv.url) as c:
        result = c.submit(submit(), transaction_id=123)
        prepared = c.prepare(submit(), transaction_id=0)
        again = c.send(prepared, transaction_id=0)  # (the same one, as a number again: not "another")
    assert result.ok and result.transaction_id == "123" and prepared.transaction_id == "0" and again.ok
    assert b">123</" in srv.requests[0].body and b">0</" in srv.requests[1].body


@pytest.mark.parametrize("tid", [b"abc", 12.5, True, ["a"]])
def test_a_transaction_id_of_another_kind_is_refused_before_anything_goes_out(tid):
    # Written as str() makes it ("b'abc'", "True"), the MMSC had the message and its echo was refused.
    with FakeServer() as srv, client(srv.url) as c:
        with pytest.raises(mm7.EncodeError, match=f"a TransactionID is text or a whole number, not {type(tid).__name__}"):
            c.submit(submit(), transaction_id=tid)
    assert srv.requests == []
    with pytest.raises(mm7.EncodeError, match="not bytes"):
        mm7.encode(mm7.SubmitRsp(message_id="m"), transaction_id=b"x")


def test_the_mmscs_words_forge_no_log_line(caplog):
    # A MessageID, or an error page, is the MMSC's to write: a line break in it started a line of its
    # own in the log, an escape sequence drove the terminal showing it.
    def responder(req):
        if len(srv.requests) == 1:
            return mm7_reply(mm7.SubmitRsp(message_id="m-1\n2024-01-01 ERROR forged"), req.decode())
        return Reply(400, b"no\x1b[2J\nforged", {"Content-Type": "text/plain"})

    with FakeServer(responder) as srv, client(srv.url, retry=RetryPolicy(max_attempts=1)) as c, \
            caplog.at_level(logging.INFO, logger="mm7bind.client"):
        ok = c.submit(submit())
        with pytest.raises(mm7.MM7Error):
            c.submit(submit())
    lines = [r.getMessage() for r in caplog.records if r.name == "mm7bind.client"]
    assert len(lines) == 2 and not any("\n" in line or "\x1b" in line for line in lines), lines
    assert "mid=m-1\\n2024" in lines[0] and "\\x1b[2J" in lines[1]
    assert caplog.records[0].mm7["message_id"] == ok.message_id == "m-1\n2024-01-01 ERROR forged"  # (kept as it came)


def test_timeout():
    with FakeServer(lambda req: Reply(delay=1.0)) as srv, client(srv.url, read_timeout=0.2,
                                                                 retry=RetryPolicy(max_attempts=2, jitter=0)) as c:
        with pytest.raises(RequestTimeout) as err:
            c.submit(submit())
        assert err.value.attempts == 2 and c.sleeps == [0.5]
    with pytest.raises(ValueError, match="never wait forever"):
        ClientConfig(urls=("http://x",), read_timeout=0)


@pytest.mark.parametrize("pool_size", [0, -1, 2.5, math.nan, math.inf, True, 10**30])
def test_a_pool_without_connections_is_refused_not_waited_on_forever(pool_size, tmp_path):
    # (the configuration file checked 0; the Python API let the first send wait for a connection
    # there would never be, past every timeout. 2.5 or NaN failed each send with a TypeError, and
    # 10**30 held the first one for ever: the pool is made a slot at a time)
    from mm7bind import config
    from mm7bind.client import MAX_POOL_SIZE

    for make in (Client, AsyncClient):
        with pytest.raises(ValueError, match=f"^pool_size must be a whole number from 1 to {MAX_POOL_SIZE}, not "):
            make("http://127.0.0.1:9/mm7", pool_size=pool_size)
    if type(pool_size) is int:
        (tmp_path / "c.toml").write_text(f"[mmsc]\npool_size = {pool_size}\n", encoding="utf-8")
        _, problems = config.load(tmp_path / "c.toml", env={})
        assert [str(p) for p in problems if p.level == "error"] == [
            f"error: mmsc.pool_size: must be from 1 to {MAX_POOL_SIZE}"]


@pytest.mark.parametrize("value", [0, math.nan, 2.5, True])
def test_an_answer_bound_that_is_no_whole_number_is_refused(value):
    """A NaN max_answer_bytes passed "< 1": answers of any size were kept, without a word."""
    with pytest.raises(ValueError, match="^max_answer_bytes must be a whole number, at least 1, not "):
        ClientConfig(urls=("http://127.0.0.1:9/mm7",), max_answer_bytes=value)


@pytest.mark.parametrize("setting", ["connect_timeout", "read_timeout"])
@pytest.mark.parametrize("seconds", [math.nan, math.inf])
def test_a_timeout_that_is_not_a_finite_number_of_seconds_is_refused(setting, seconds):
    # (the configuration file refuses nan and inf; the Python API took them, and then every send
    # failed with a bare ValueError or OverflowError, not a SendError)
    for make in (Client, AsyncClient):
        with pytest.raises(ValueError, match="timeouts must be positive and finite"):
            make("http://127.0.0.1:9/mm7", **{setting: seconds})


@pytest.mark.parametrize("setting", ["connect_timeout", "read_timeout", "upload_timeout"])
def test_a_timeout_longer_than_a_socket_can_hold_is_refused_when_given(setting, tmp_path):
    """"Wait for ever" written as 1e10 seconds: taken, it failed each of the sync client's sends
    with a bare OverflowError (a socket's timeout cannot hold it) once the request had gone out.
    Refused by the client and the configuration alike; a year is still taken."""
    from mm7bind import config
    from mm7bind.client import MAX_TIMEOUT

    for make in (Client, AsyncClient):
        with pytest.raises(ValueError, match=f"timeouts must be positive and finite, at most {MAX_TIMEOUT} s .*"
                                             rf"\({setting} = 10000000000.0\)"):
            make("http://127.0.0.1:9/mm7", **{setting: 1e10})
    ClientConfig(urls=("http://127.0.0.1:9/mm7",), **{setting: MAX_TIMEOUT})
    (tmp_path / "c.toml").write_text(f"[mmsc]\n{setting} = 1e10\n", encoding="utf-8")
    cfg, problems = config.load(tmp_path / "c.toml", env={})
    assert [str(p) for p in problems if p.level == "error"] == [
        f"error: mmsc.{setting}: at most {MAX_TIMEOUT} seconds (a year; a request must never wait forever)"]


def test_refused_connection_fails_over_without_waiting():
    with FakeServer() as srv:
        dead = dead_url()
        with client((dead, srv.url)) as c:
            result = c.submit(submit())
            assert result.ok and result.url == srv.url and result.attempts == 2 and c.sleeps == []
        with client((dead,)) as c, pytest.raises(ConnectError) as err:
            c.submit(submit())
        assert err.value.attempts == 3 and c.sleeps == [0.5, 1.0]


def test_round_robin():
    with FakeServer() as a, FakeServer() as b, client((a.url, b.url), round_robin=True) as c:
        for _ in range(4):
            c.submit(submit())
        assert len(a.requests) == 2 and len(b.requests) == 2


@pytest.mark.parametrize("size", [1000, 3 * 1024 * 1024])
def test_digest_challenge_resends_the_whole_body(size):
    auth = mm7.auth.DigestAuth("sp", "secret")
    payload = bytes(range(256)) * (size // 256)
    with FakeServer(auth=auth) as srv, client(srv.url, username="sp", password="secret", auth="digest") as c:
        msg = submit(content=mm7.Content(parts=[mm7.Part.from_bytes(payload, "image/jpeg")]))
        assert c.submit(msg).ok
        assert srv.unauthorized == 1
        [req] = srv.requests
        assert req.decode().body.content.parts[0].data == payload


def test_basic_auth_and_wrong_credentials():
    auth = mm7.auth.BasicAuth("sp", "secret")
    with FakeServer(auth=auth) as srv:
        with client(srv.url, username="sp", password="secret") as c:
            assert c.submit(submit()).ok
        with client(srv.url, username="sp", password="wrong") as c, pytest.raises(HTTPStatusError) as err:
            c.submit(submit())
        assert err.value.status == 401 and err.value.attempts == 1


class _Challenging:
    """A FakeServer auth refusing every request with the challenge given."""

    def __init__(self, challenge: str):
        self.text = challenge

    def challenge(self, stale: bool = False) -> str:
        return self.text

    def check(self, method, uri, header, body=None):
        return False, False


@pytest.mark.parametrize(("server_auth", "settings", "says"), [
    (mm7.auth.DigestAuth("sp", "secret"), {}, "asks for Digest; none were given: set username and password"),
    (mm7.auth.BasicAuth("sp", "secret"), {}, "asks for Basic; none were given: set username and password"),
    (mm7.auth.DigestAuth("sp", "secret"), {"username": "sp", "password": "secret"},
     'asks for Digest, auth is "basic": set auth = "digest" (or "auto")'),
    (mm7.auth.BasicAuth("sp", "secret"), {"username": "sp", "password": "secret", "auth": "digest"},
     'asks for Basic, auth is "digest": set auth = "basic" (or "auto")'),
    (mm7.auth.DigestAuth("sp", "secret"), {"url_credentials": "sp:secret"},
     'asks for Digest, credentials in the URL go as Basic: set auth = "digest" (or "auto") with username'),
    (mm7.auth.DigestAuth("sp", "secret"), {"username": "sp", "password": "wrong", "auth": "auto"},
     "refused the credentials: check username and password"),
    (mm7.auth.BasicAuth("sp", "secret"), {"url_credentials": "sp:wrong"},
     "refused the credentials: check username and password"),
    # (offered both: the scheme we sent was one of them)
    (_Challenging('Basic realm="mm7", Digest realm="mm7", nonce="n1", qop="auth"'),
     {"username": "sp", "password": "wrong", "auth": "digest"}, "refused the credentials: check username and password"),
    # (a scheme's name in a quoted string is not offered)
    (_Challenging('Basic realm="MM7, Digest gw=1"'), {"username": "sp", "password": "secret", "auth": "digest"},
     'asks for Basic, auth is "digest": set auth = "basic" (or "auto")'),
    # (an algorithm we cannot answer: no answer was sent, the password is not the matter)
    (_Challenging('Digest realm="mm7", nonce="n1", qop="auth", algorithm=SHA-512'),
     {"username": "sp", "password": "secret", "auth": "auto"},
     "asks for Digest with algorithm SHA-512, qop auth, which mm7bind does not answer: it speaks MD5"),
])
def test_an_http_401_says_which_credentials_setting_to_change(server_auth, settings, says):
    """A bare "HTTP 401" left the user to guess whether credentials were missing, sent with the
    wrong scheme or wrong; the error names the setting to change (the password never shown)."""
    settings = dict(settings)
    userinfo = settings.pop("url_credentials", None)
    with FakeServer(auth=server_auth) as srv:
        url = srv.url.replace("://", f"://{userinfo}@") if userinfo else srv.url
        with client(url, **settings) as c, pytest.raises(HTTPStatusError) as err:
            c.submit(submit())
    assert err.value.status == 401 and says in str(err.value), str(err.value)
    password = settings.get("password") or (userinfo or ":").split(":")[1]
    assert not password or password not in str(err.value)


def test_an_http_401_asking_for_sha_512_256_without_it_in_hashlib_says_so(monkeypatch):
    """Where hashlib lacks SHA-512/256 (some OpenSSL builds), a challenge asking for SHA-512-256 is
    not answered with another hash, and the error says what is missing."""
    monkeypatch.setattr(mm7.auth, "_HASHES", {"MD5": hashlib.md5, "SHA-256": hashlib.sha256})
    with FakeServer(auth=_Challenging('Digest realm="mm7", nonce="n1", qop="auth", algorithm=SHA-512-256')) as srv, \
            client(srv.url, username="sp", password="secret", auth="digest") as c, \
            pytest.raises(HTTPStatusError) as err:
        c.submit(submit())
    assert ("asks for Digest with algorithm SHA-512-256, qop auth, which mm7bind does not answer: it speaks MD5 "
            "and SHA-256 (and their -sess), qop auth and auth-int (SHA-512-256 needs SHA-512/256, which this "
            "Python's hashlib lacks)") in str(err.value)


def test_an_http_401_to_the_simulators_client_names_the_vasp():
    from .test_receiver import deliver

    with FakeServer(auth=mm7.auth.BasicAuth("mmsc", "pw")) as vasp, \
            client(vasp.url, role="mmsc", username="mmsc", password="bad") as c:
        with pytest.raises(HTTPStatusError) as err:
            c.send(deliver())
    assert "(the VASP refused the credentials: check username and password)" in str(err.value)


def test_an_http_413_names_the_setting_that_keeps_messages_small_enough():
    with FakeServer(lambda req: Reply(413, b"<html>Request Entity Too Large</html>", {"Content-Type": "text/html"})) \
            as srv, client(srv.url) as c, pytest.raises(HTTPStatusError) as err:
        c.submit(submit())
    assert err.value.status == 413 and err.value.attempts == 1
    assert "(the MMSC takes no request this large: see the profile's max_message_size)" in str(err.value)


def test_an_http_404_says_to_check_the_path():
    with FakeServer(lambda req: Reply(404, b"not found\n", {"Content-Type": "text/plain"})) as srv, \
            client(srv.url) as c, pytest.raises(HTTPStatusError) as err:
        c.submit(submit())
    assert str(err.value) == f"HTTP 404 from {srv.url} (nothing at this path: check the URL): not found"


def test_https_to_a_plain_http_port_is_a_failure_to_connect_that_says_so():
    """urllib3 reports a TLS handshake nobody answers as a read timeout: it was taken for an
    answer that never came to a request that went out (the MMSC may have it), said "within
    <read_timeout>", and never failed over. Nothing was sent: it is a failure to connect."""
    with SilentServer() as silent, FakeServer() as other:
        url = silent.url.replace("http://", "https://")
        with client(url, connect_timeout=0.3, retry=RetryPolicy(max_attempts=1)) as c, \
                pytest.raises(ConnectError) as err:
            c.submit(submit())
        assert "TLS handshake got no answer" in str(err.value) and "http port, not https?" in str(err.value)
        with client((url, other.url), connect_timeout=0.3, retry=RetryPolicy(max_attempts=2)) as c:
            result = c.submit(submit())  # on to the next MMSC at once, as for a refused connection
        assert result.ok and result.url == other.url and c.sleeps == []


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_only_a_tls_handshake_that_timed_out_is_taken_for_one(tmp_path, asynchronous):
    """Which failures are a failure to connect, and which are said to be a TLS handshake that got
    no answer: a read timeout over plain HTTP or after a TLS handshake is not one, nor a
    certificate refused, nor a refused connection. (httpx reports the handshake's timeout as a
    ConnectTimeout without words: the async client said only "ConnectTimeout".)"""
    said = "TLS handshake got no answer"

    def failure(url, **kw):
        kw = {"connect_timeout": 0.3, "read_timeout": 0.3, "retry": RetryPolicy.never(), **kw}

        async def main():
            async with AsyncClient(url, **kw) as c:
                return await c.submit(submit())

        with pytest.raises(mm7.errors.SendError) as failed:
            if asynchronous:
                asyncio.run(main())
            else:
                with client(url, **kw) as c:
                    c.submit(submit())
        return type(failed.value), said in str(failed.value)

    with SilentServer() as silent:
        assert failure(silent.url.replace("http://", "https://")) == (ConnectError, True)
        assert failure(silent.url) == (RequestTimeout, False)
    srv, ca_path, _ = tls_server(tmp_path)
    srv.responder = lambda req: Reply(delay=1)
    with srv:  # (the handshakes given seconds: a slow one on a loaded machine is no handshake without answer)
        assert failure(srv.url, verify=str(ca_path), connect_timeout=5) == (RequestTimeout, False)
        assert failure(srv.url, connect_timeout=5) == (ConnectError, False)  # (its CA unknown)
    assert failure(dead_url()) == (ConnectError, False)
    assert failure(dead_url().replace("http://", "https://")) == (ConnectError, False)


def test_a_tls_handshake_timeout_is_found_however_requests_and_urllib3_wrap_it():
    """The exceptions as requests and urllib3 build them: each wrapper raised while the error it
    wraps is handled (its context, and its first argument), urllib3's MaxRetryError from its reason,
    its timeouts from the socket's error."""
    import requests
    import urllib3

    from mm7bind.client import _in_tls_handshake, transport_reason

    def raised(make, handling=None, cause=None):
        """make(), raised while `handling` is handled, from `cause` if given."""
        def throw():
            if cause is None:
                raise make()
            raise make() from cause

        try:
            if handling is None:
                throw()
            try:
                raise handling
            except type(handling):
                throw()
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # (requests: OSErrors)
            return exc

    pool = urllib3.HTTPSConnectionPool("127.0.0.1", 9)

    def timeout(text):  # (urllib3's _raise_timeout)
        socket_error = TimeoutError(text)
        return raised(lambda: urllib3.exceptions.ReadTimeoutError(pool, "/mm7", "Read timed out."), socket_error,
                      socket_error)

    def gave_up(reason):  # (urllib3's Retry.increment, then requests' adapter)
        return raised(lambda: urllib3.exceptions.MaxRetryError(pool, "/mm7", reason), reason, reason)

    handshake, read = timeout("_ssl.c:983: The handshake operation timed out"), timeout("The read operation timed out")
    refused = urllib3.exceptions.NewConnectionError(pool, "Failed to establish a new connection: [Errno 111]")
    untrusted = urllib3.exceptions.SSLError(
        ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
    connect_timeout = urllib3.exceptions.ConnectTimeoutError(pool, "timed out. (connect timeout=0.3)")
    in_handshake = [
        raised(lambda: requests.exceptions.ReadTimeout(handshake), handshake),
        handshake,  # (as a forwarding handler reading its answer may meet it)
        raised(lambda: requests.exceptions.ConnectionError(gave_up(handshake)), gave_up(handshake)),
        handshake.__cause__,
    ]
    elsewhere = [
        raised(lambda: requests.exceptions.ReadTimeout(read), read),
        read,
        raised(lambda: requests.exceptions.SSLError(gave_up(untrusted)), gave_up(untrusted)),
        raised(lambda: requests.exceptions.ConnectionError(gave_up(refused)), gave_up(refused)),
        raised(lambda: requests.exceptions.ConnectTimeout(gave_up(connect_timeout)), gave_up(connect_timeout)),
    ]
    assert [_in_tls_handshake(e) for e in in_handshake] == [True] * len(in_handshake)
    assert [_in_tls_handshake(e) for e in elsewhere] == [False] * len(elsewhere)
    assert transport_reason(in_handshake[0]).startswith("the TLS handshake got no answer")
    assert transport_reason(elsewhere[0]) == "Read timed out."


@pytest.mark.parametrize("size", [10 * 1024, 3 * 1024 * 1024])  # sent as bytes, and streamed
def test_auto_auth_sends_basic_and_answers_a_digest_challenge(size):
    """auth="auto", China Mobile's SDK behaviour: Basic on every request; when the MMSC challenges
    for Digest instead, the challenge is answered (the body sent again whole) and later requests
    are signed with Digest from the start."""
    with FakeServer(auth=mm7.auth.BasicAuth("sp", "secret")) as srv, \
            client(srv.url, username="sp", password="secret", auth="auto") as c:
        assert c.submit(submit()).ok and c.submit(submit()).ok
        assert srv.unauthorized == 0 and srv.requests[0].header("Authorization").startswith("Basic ")
    with FakeServer(auth=mm7.auth.DigestAuth("sp", "secret")) as srv, \
            client(srv.url, username="sp", password="secret", auth="auto") as c:
        payload = bytes(range(256)) * (size // 256)
        msg = submit(content=mm7.Content(parts=[mm7.Part.from_bytes(payload, "image/jpeg")]))
        assert c.submit(msg).ok and c.submit(msg).ok
        assert srv.unauthorized == 1  # only the first request was challenged
        assert [r.header("Authorization").split()[0] for r in srv.requests] == ["Digest", "Digest"]
        assert srv.requests[0].decode().body.content.parts[0].data == payload
    with FakeServer(auth=mm7.auth.DigestAuth("sp", "secret")) as srv, \
            client(srv.url, username="sp", password="wrong", auth="auto") as c, pytest.raises(HTTPStatusError):
        c.submit(submit())


def test_the_async_client_without_its_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "httpx", None)  # (as where it is not installed: importing it fails)
    with pytest.raises(ImportError, match=r"AsyncClient needs httpx: pip install 'mm7bind\[async\]'"):
        AsyncClient("http://127.0.0.1:9/mm7")


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_auto_auth_goes_back_to_basic_when_the_mmsc_asks_for_it(asynchronous):
    """auto: Basic, and Digest once the MMSC asks for it. An MMSC whose Digest was then turned off
    answered our Digest answers with a Basic challenge, which went unanswered: every send failed
    until the client was made again. The request goes again with Basic, the next ones with Basic."""
    with FakeServer(auth=mm7.auth.DigestAuth("sp", "secret")) as srv:
        def turned_to_basic(result: mm7.Result) -> None:
            assert result.ok and srv.unauthorized == 1  # (Digest, once challenged)
            srv.auth = mm7.auth.BasicAuth("sp", "secret")

        if asynchronous:
            async def main():
                async with AsyncClient(srv.url, username="sp", password="secret", auth="auto", retry=NO_WAIT) as c:
                    turned_to_basic(await c.submit(submit()))
                    return [(await c.submit(submit())).ok for _ in range(2)]

            assert asyncio.run(main()) == [True, True]
        else:
            with client(srv.url, username="sp", password="secret", auth="auto") as c:
                turned_to_basic(c.submit(submit()))
                assert c.submit(submit()).ok and c.submit(submit()).ok
        assert srv.unauthorized == 2 and len(srv.requests) == 3
        assert [r.header("Authorization").split()[0] for r in srv.requests] == ["Digest", "Basic", "Basic"]
    # (a Basic challenge to a request that went with Basic: refused, sent once)
    with FakeServer(auth=mm7.auth.BasicAuth("sp", "secret")) as srv, \
            client(srv.url, username="sp", password="wrong", auth="auto") as c, pytest.raises(HTTPStatusError):
        c.submit(submit())
    assert srv.unauthorized == 1


def test_auto_auth_in_the_async_client():
    async def main():
        for server_auth in (mm7.auth.BasicAuth("sp", "secret"), mm7.auth.DigestAuth("sp", "secret")):
            with FakeServer(auth=server_auth) as srv:
                async with AsyncClient(srv.url, username="sp", password="secret", auth="auto", retry=NO_WAIT) as c:
                    assert (await c.submit(submit())).ok and (await c.submit(submit())).ok
                assert srv.unauthorized == (1 if isinstance(server_auth, mm7.auth.DigestAuth) else 0)

    asyncio.run(main())


def tls_server(tmp_path, require_client_cert=False):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(ctx)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(ctx)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    client_cert = ca.issue_cert("vasp.example")
    pem = tmp_path / "client.pem"
    client_cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    return FakeServer(ssl_context=ctx), ca_path, pem


def test_tls_with_a_private_ca(tmp_path):
    srv, ca_path, _ = tls_server(tmp_path)
    with srv:
        assert srv.url.startswith("https://")
        with client(srv.url, verify=str(ca_path)) as c:
            assert c.submit(submit()).ok
        with client(srv.url, retry=RetryPolicy.never()) as c, pytest.raises(ConnectError):
            c.submit(submit())  # verification is on by default: an unknown CA is refused


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("setting", "file", "says"), [
    ("verify", None, "verify: cannot read CA certificates from "),
    ("verify", b"not a certificate", "verify: cannot read CA certificates from "),
    ("cert", None, "cert: cannot load the client certificate "),
    ("cert", b"not a certificate", "cert: cannot load the client certificate "),
])
def test_tls_files_that_cannot_be_read_are_refused_when_the_client_is_made(tmp_path, asynchronous, setting, file,
                                                                           says):
    # (the sync client failed every send with a bare OSError, or a "connection" refused and tried
    # again; the async one raised the ssl module's words, naming neither the file nor the setting)
    path = tmp_path / "file.pem"
    if file is not None:
        path.write_bytes(file)
    with pytest.raises(ValueError, match=says) as err:
        if asynchronous:
            AsyncClient("https://127.0.0.1/mm7", **{setting: str(path)})
        else:
            Client("https://127.0.0.1/mm7", **{setting: str(path)})
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("header", "says"), [
    (("X-Carrier", "a\r\nX-Injected: 1"), "printable ASCII"),
    (("X Carrier", "1"), "is not an HTTP token"),
    (("X-Carrier:", "1"), "is not an HTTP token"),
    (("X-Carrier", "é"), "printable ASCII"),  # (requests wrote it in Latin-1, httpx refused it)
    (("X-Carrier", "中国移动"), "printable ASCII"),
    (("X-Carrier", " 1"), "must not start with white space"),
])
def test_an_extra_header_no_request_can_carry_is_refused_when_the_client_is_made(header, says):
    # (each send failed, as one the MMSC may have taken, tried again; or raised a bare UnicodeEncodeError)
    with pytest.raises(ValueError, match=says) as err:
        ClientConfig(urls=("http://mmsc/mm7",), headers=(header,))
    assert header[1].strip() == "" or header[1] not in str(err.value)
    with pytest.raises(ValueError, match=says):
        ClientConfig(urls=("http://mmsc/mm7",), profile=mm7.Profile(extra_headers=(header,)))
    ClientConfig(urls=("http://mmsc/mm7",), headers=(("X-Mblox-Carrier-Id", "31002"), ("X-Empty", ""),
                                                     ("Accept", "text/xml, */*")))


def test_the_configuration_says_which_header_no_request_can_carry():
    from mm7bind.config import load

    _, problems = load(None, env={"MM7BIND_MMSC_HEADERS": "X-Carrier=中国移动"})
    assert [(p.level, p.where) for p in problems] == [("error", "MM7BIND_MMSC_HEADERS (mmsc.headers)")]
    assert "header X-Carrier: its value must be printable ASCII" in problems[0].message


def test_header_values_are_sent_as_the_configuration_file_writes_them(tmp_path):
    """`X-Flag = true` in `[mmsc.headers]` went out as "True" (Python's spelling); a number as its
    digits is fine; a list, a table or a date is no header value: said, naming the header."""
    from mm7bind.config import load

    path = tmp_path / "c.toml"
    path.write_text('[mmsc]\nurls = "http://127.0.0.1:9/mm7"\n[mmsc.headers]\n'
                    'X-Flag = true\nX-Off = false\nX-Carrier-Id = 31002\nX-Name = "cmcc"\n', encoding="utf-8")
    cfg, problems = load(str(path), env={})
    assert problems == [] and cfg.mmsc.headers == {"X-Flag": "true", "X-Off": "false", "X-Carrier-Id": "31002",
                                                   "X-Name": "cmcc"}
    for value, shown in (("[1, 2]", "[1, 2]"), ("2024-01-01", "datetime.date(2024, 1, 1)"), ("{a = 1}", "{'a': 1}")):
        path.write_text(f'[mmsc]\nurls = "http://127.0.0.1:9/mm7"\n[mmsc.headers]\nX-Odd = {value}\n', encoding="utf-8")
        _, problems = load(str(path), env={})
        assert [(p.level, p.where, p.message) for p in problems] == [
            ("error", "mmsc.headers", f"X-Odd: expected text, got {shown}")], value


def test_the_simulator_reads_the_vasps_ca_file_when_it_is_configured(tmp_path):
    # (its client for the VASP is made at the first report: a scheduled report failed with a traceback)
    from mm7bind.simulator import SimulatorConfig

    (tmp_path / "ca.pem").write_text("not a certificate", encoding="ascii")
    with pytest.raises(ValueError, match="^vasp_verify: cannot read CA certificates from "):
        SimulatorConfig(vasp_verify=str(tmp_path / "ca.pem"))


def test_the_configuration_reads_its_tls_files_as_the_client_will(tmp_path):
    # (a CA file without a certificate in it passed `config check`, then failed each send)
    from mm7bind.config import load

    (tmp_path / "ca.pem").write_text("not a certificate", encoding="ascii")
    (tmp_path / "c.toml").write_text(f'[mmsc]\nurls = ["https://mmsc/mm7"]\nca_file = "{tmp_path / "ca.pem"}"\n',
                                     encoding="utf-8")
    _, problems = load(str(tmp_path / "c.toml"))
    assert [(p.level, p.where) for p in problems] == [("error", "mmsc.ca_file")]
    assert "cannot read CA certificates from" in problems[0].message
    (tmp_path / "c.toml").write_text(f'[mmsc]\nurls = ["https://mmsc/mm7"]\nclient_cert = "{tmp_path / "ca.pem"}"\n',
                                     encoding="utf-8")
    _, problems = load(str(tmp_path / "c.toml"))
    assert [(p.level, p.where) for p in problems] == [("error", "mmsc.client_cert")]


def test_mutual_tls(tmp_path):
    srv, ca_path, pem = tls_server(tmp_path, require_client_cert=True)
    with srv:
        with client(srv.url, verify=str(ca_path), cert=str(pem)) as c:
            assert c.submit(submit()).ok
        with client(srv.url, verify=str(ca_path), retry=RetryPolicy.never()) as c, pytest.raises(mm7.errors.TransportError):
            c.submit(submit())


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_tls_failure_says_which_setting_to_change(tmp_path, asynchronous):
    trustme = pytest.importorskip("trustme")

    def refusal(url, **kw):
        async def main():
            async with AsyncClient(url, retry=RetryPolicy.never(), **kw) as c:
                return await c.submit(submit())

        with pytest.raises(ConnectError) as failed:
            if asynchronous:
                asyncio.run(main())
            else:
                with client(url, retry=RetryPolicy.never(), **kw) as c:
                    c.submit(submit())
        return str(failed.value)

    srv, ca_path, pem = tls_server(tmp_path, require_client_cert=True)
    stranger = tmp_path / "stranger.pem"  # a certificate from a CA the MMSC does not know
    trustme.CA().issue_cert("vasp.example").private_key_and_cert_chain_pem.write_to_path(str(stranger))
    with srv:
        assert ("the MMSC refused the connection for want of a TLS client certificate "
                "(TLSV13_ALERT_CERTIFICATE_REQUIRED): set cert ([mmsc] client_cert, client_key)") in refusal(
            srv.url, verify=str(ca_path))
        assert "the MMSC refused the TLS client certificate (TLSV1_ALERT_UNKNOWN_CA): check cert" in refusal(
            srv.url, verify=str(ca_path), cert=str(stranger))
        said = refusal(srv.url, cert=str(pem))  # the MMSC's own certificate: from a CA not trusted here
        assert "CERTIFICATE_VERIFY_FAILED" in said and "set verify ([mmsc] ca_file)" in said
    ca = trustme.CA()  # an MMSC whose certificate names another host than the URL does
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("mmsc.example").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))
    with FakeServer(ssl_context=context) as srv:
        said = refusal(srv.url, verify=str(tmp_path / "other-ca.pem"))
        assert "mismatch" in said and "the MMSC's certificate is for another name: use that name in the URL" in said


def _as_requests_would(session, url, body, headers):
    import requests

    return session.prepare_request(requests.Request("POST", url, data=body, headers=headers))


@pytest.mark.parametrize("setup", ["plain", "basic", "digest", "url-credentials", "cookies", "session-settings"])
def test_requests_are_prepared_as_session_post_would(setup):
    """The transport builds each request itself (cheaper than requests' general preparation); what
    it builds must be what session.post would have sent, in every configuration that matters."""
    import requests

    url, kw = "http://127.0.0.1:9/mm7", {}
    if setup == "basic":
        kw = {"username": "sp", "password": "secret"}
    elif setup == "digest":
        kw = {"username": "sp", "password": "secret", "auth": "digest"}
    elif setup == "url-credentials":
        url = "http://sp:s%40cret@127.0.0.1:9/mm7?x=1"
    with Client(url, **kw) as c:
        s = c.session
        if setup == "cookies":
            s.cookies.set("route", "a1", domain="127.0.0.1", path="/")
            s.cookies.set("other", "x", domain="elsewhere.example", path="/")
        if setup == "session-settings":
            s.headers["X-Session"] = "yes"
            s.hooks["response"].append(lambda r, **kw: r)
        headers = {"User-Agent": "mm7bind/test", "SOAPAction": '""', "Content-Type": "text/xml", "Accept": None}
        body = b"<x/>" * 10
        ours, theirs = c.transport.prepare(url, body, headers), _as_requests_would(s, url, body, headers)
        assert (ours.method, ours.url, ours.body) == (theirs.method, theirs.url, theirs.body)
        assert dict(ours.headers) == dict(theirs.headers)
        assert len(ours.hooks["response"]) == len(theirs.hooks["response"])
        if setup == "cookies":
            assert ours.headers["Cookie"] == "route=a1"
        if setup in ("basic", "url-credentials"):
            assert ours.headers["Authorization"].startswith("Basic ")
        bad = {**headers, "X-Bad": "a\r\nInjected: yes"}
        with pytest.raises(requests.exceptions.InvalidHeader):
            _as_requests_would(s, url, body, bad)
        with pytest.raises(requests.exceptions.InvalidHeader):
            c.transport.prepare(url, body, bad)


def test_cookies_from_the_mmsc_and_credentials_in_the_url():
    """A cookie the MMSC sets (a load balancer's, say) goes back with the next request; user and
    password in the URL are sent as Basic auth, as requests does."""
    def responder(req):
        reply = default_responder(req)
        reply.headers["Set-Cookie"] = "route=node-2; Path=/"
        return reply

    with FakeServer(responder, auth=mm7.auth.BasicAuth("sp", "s@cret")) as srv:
        url = srv.url.replace("http://", "http://sp:s%40cret@")
        with client(url) as c:
            assert c.submit(submit()).ok and c.submit(submit()).ok
        first, second = srv.requests
        assert first.header("Cookie") is None and second.header("Cookie") == "route=node-2"


@pytest.mark.parametrize("size", [1000, 3 * 1024 * 1024])  # (bytes, and a stream)
@pytest.mark.parametrize("username", ["用户", "josé"])
def test_credentials_beyond_ascii_in_the_url_go_as_basic_in_utf_8(username, size):
    """As RFC 7617 says and the async client writes them: the sync one wrote them in Latin-1,
    as requests does, and raised a bare UnicodeEncodeError for a name beyond it."""
    import base64
    from urllib.parse import quote

    payload = bytes(range(256)) * (size // 256)
    msg = submit(content=mm7.Content(parts=[mm7.Part.from_bytes(payload, "image/jpeg")]))
    with FakeServer(auth=mm7.auth.BasicAuth(username, "pässwort")) as srv:
        url = srv.url.replace("http://", f"http://{quote(username)}:{quote('pässwort')}@")
        with client(url) as c:
            assert c.submit(msg).ok
        [req] = srv.requests
    assert req.header("Authorization") == "Basic " + base64.b64encode(f"{username}:pässwort".encode()).decode()


def test_keep_alive_off_closes_every_connection(tmp_path):
    """China Mobile's KeepAlive=off (mmsc.keep_alive = false): each request says Connection: close,
    and the next one opens a new connection."""
    from mm7bind import config as cfgmod

    ports = []

    def responder(req):
        ports.append(req.peer_port)
        return default_responder(req)

    with FakeServer(responder) as srv:
        (tmp_path / "c.toml").write_text(f'[mmsc]\nurls = ["{srv.url}"]\nkeep_alive = false\n', encoding="utf-8")
        cfg, problems = cfgmod.load(tmp_path / "c.toml")
        assert not [p for p in problems if p.level == "error"]
        with cfg.make_client() as c:
            assert c.submit(submit()).ok and c.submit(submit()).ok
        assert [r.header("Connection") for r in srv.requests] == ["close", "close"]
        assert ports[0] != ports[1]
    with FakeServer(responder) as srv, client(srv.url) as c:  # the default: one kept-alive connection
        ports.clear()
        assert c.submit(submit()).ok and c.submit(submit()).ok
        assert srv.requests[0].header("Connection") == "keep-alive" and ports[0] == ports[1]


def test_session_settings_the_direct_preparation_does_not_cover_take_requests_own_way():
    with FakeServer() as srv, client(srv.url) as c:
        c.session.params = {"carrier": "cm"}  # query parameters from the session
        assert c.submit(submit()).ok
        assert srv.requests[0].path == "/mm7?carrier=cm"


def test_extra_headers_and_soapaction_from_the_profile():
    profile = mm7.Profile(soap_action='"http://example/mm7"')
    with FakeServer() as srv, client(srv.url, profile=profile, headers=(("X-Carrier-Id", "42"),)) as c:
        c.submit(submit())
        req = srv.requests[0]
        assert req.header("X-Carrier-Id") == "42" and req.header("SOAPAction") == '"http://example/mm7"'


def test_sent_records(tmp_path):
    for store in (MemoryStore(), SqliteStore(tmp_path / "mm7.db")):
        with FakeServer() as srv, client(srv.url, vaspid="800001") as c:
            c.core.store = store
            r = c.submit(submit(linked_id="L1"))
            c.cancel(r.message_id)
        dead = dead_url()
        with client(dead, retry=RetryPolicy.never(), store=store) as c, pytest.raises(ConnectError):
            c.submit(submit())
        sub, can, failed = store.sent()
        assert (sub.operation, sub.message_id, sub.status_code, sub.linked_id) == ("SubmitReq", r.message_id, 1000, "L1")
        assert sub.recipients == ["+8613800000000", "a@b.cn"] and sub.ok and sub.url == srv.url
        assert can.operation == "CancelReq" and can.message_id == r.message_id
        assert failed.error.startswith("ConnectError") and not failed.ok and failed.url == dead
        assert store.sent_by_message_id(r.message_id).transaction_id == sub.transaction_id
        assert store.sent_by_transaction_id(can.transaction_id).operation == "CancelReq"
        store.close()


def test_logging_one_record_per_transaction_and_masked_dumps(caplog):
    with FakeServer(auth=mm7.auth.BasicAuth("sp", "secret")) as srv, client(srv.url, username="sp", password="secret") as c:
        with caplog.at_level(logging.INFO, logger="mm7bind.client"):
            r = c.submit(submit())
        records = [rec for rec in caplog.records if rec.name == "mm7bind.client"]
        assert len(records) == 1
        info = records[0].mm7
        assert info["operation"] == "SubmitReq" and info["transaction_id"] == r.transaction_id
        assert info["recipients"] == 2 and info["status"] == 1000 and info["attempts"] == 1
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="mm7bind.client"):
            c.submit(submit())
        assert "c3A6c2VjcmV0" not in caplog.text and "secret" not in caplog.text  # base64 of sp:secret
        assert "<SubmitReq>" in caplog.text  # the payload is dumped at debug level
    with FakeServer() as srv, client(srv.url, headers=(("Authorization", "Bearer tok-123"),)) as c:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="mm7bind.client"):
            c.submit(submit())
        assert "Authorization: Bearer ***" in caplog.text and "tok-123" not in caplog.text


def test_a_refusal_is_info_and_no_usable_answer_a_warning_that_says_why(caplog):
    """A bulk run where the MMSC refuses some recipients (in Faults, as many do) is normal load:
    no warning each. An unreachable MMSC, an HTTP error or a server fault is one, with the reason."""
    def responder(req):
        to = str(req.decode().body.recipients.to[0])
        status = {"1": 2002, "2": 3001}.get(to)
        if status is None:
            return default_responder(req)
        fault = mm7.Fault(code="Client" if status < 3000 else "Server", string="no",
                          detail=mm7.RSErrorRsp(status=mm7.Status(status)))
        return mm7_reply(fault, req.decode(), http_status=500)

    with FakeServer(responder) as srv, client(srv.url, retry=RetryPolicy.never()) as c, \
            caplog.at_level(logging.INFO, logger="mm7bind.client"):
        for to in ("1", "2"):
            with pytest.raises(FaultError):
                c.submit(mm7.SubmitReq(recipients=mm7.Recipients(to=[to])))
    with client(dead_url(), retry=RetryPolicy.never()) as c, caplog.at_level(logging.INFO, logger="mm7bind.client"), \
            pytest.raises(ConnectError):
        c.submit(submit())
    refused, server_fault, unreachable = caplog.records
    assert refused.levelname == "INFO" and "refused in a Fault: status=2002" in refused.getMessage()
    assert server_fault.levelname == "WARNING" and "failed: FaultError" in server_fault.getMessage()
    assert server_fault.getMessage().endswith(": SubmitReq refused: 3001 Not Possible")
    assert unreachable.levelname == "WARNING" and "failed: ConnectError" in unreachable.getMessage()
    assert f"cannot connect to {dead_url().rsplit(':', 1)[0]}" in unreachable.getMessage()
    # The cause in words, not requests' and urllib3's wrappers around it.
    assert ": nothing listens at 127.0.0.1:" in unreachable.getMessage()
    assert unreachable.getMessage().endswith("Connection refused)")
    assert "Max retries" not in unreachable.getMessage()


def test_retry_policy_and_retry_after():
    p = RetryPolicy(max_attempts=5, backoff=1, factor=3, max_backoff=10, jitter=0)
    assert [p.delay(a) for a in range(1, 5)] == [1, 3, 9, 10]
    assert p.delay(1, retry_after=20) == 20 and p.delay(1, retry_after=10_000) == p.max_retry_after
    jittery = RetryPolicy(backoff=1, jitter=0.2)
    assert all(0.8 <= jittery.delay(1) <= 1.2 for _ in range(50))
    assert p.retries_status(3000) and p.retries_status(4006) and not p.retries_status(2002)
    assert not p.retries_status(4004) and not RetryPolicy(no_retry_codes=frozenset({3000})).retries_status(3000)
    assert RetryPolicy(retry_codes=frozenset({4101})).retries_status(4101)
    assert parse_retry_after("120") == 120 and parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412400) <= 80
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize("setting", ["backoff", "factor", "max_backoff", "jitter", "max_retry_after"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
def test_retry_policy_refuses_waits_that_are_no_number_of_seconds(setting, value):
    """A NaN backoff made every retry wait max_backoff, a NaN jitter made none wait: refused when made."""
    with pytest.raises(ValueError, match=setting):
        RetryPolicy(**{setting: value})
    assert RetryPolicy(**{setting: 0}).delay(1) >= 0  # 0 is a setting (no wait, no jitter)


@pytest.mark.parametrize("setting, value", [("backoff", 1e10), ("max_backoff", 1e308), ("max_retry_after", 10**30),
                                            ("jitter", 2), ("jitter", 1e308), ("max_attempts", math.nan),
                                            ("max_attempts", 2.5), ("max_attempts", True), ("backoff", True)])
def test_retry_policy_refuses_waits_no_clock_can_hold(setting, value, tmp_path):
    """A backoff (or max_backoff) of 1e10 — "wait as long as it takes" — ended the sender at its
    first retry with an OverflowError from the wait, as did a jitter of 1e308 (a fraction of the
    wait: past 1 it made waits of none and of many times the backoff); a NaN max_attempts passed
    "< 1". Refused when made, naming the setting; the configuration's backoff as well."""
    from mm7bind import config
    from mm7bind.client import MAX_TIMEOUT

    with pytest.raises(ValueError, match=f"^{setting} must be "):
        RetryPolicy(**{setting: value})
    assert RetryPolicy(backoff=MAX_TIMEOUT, max_backoff=MAX_TIMEOUT, jitter=1).delay(2) <= 2 * MAX_TIMEOUT
    if setting == "backoff" and value is not True:
        (tmp_path / "c.toml").write_text(f"[mmsc]\nbackoff = {value!r}\n", encoding="utf-8")
        _, problems = config.load(tmp_path / "c.toml", env={})
        assert [str(p) for p in problems if p.level == "error"] == [
            f"error: mmsc.backoff: at most {MAX_TIMEOUT} seconds (a year)"]


@pytest.mark.parametrize("burst", [math.nan, math.inf, 0, -1, True])
def test_a_rate_limiters_burst_that_cannot_work_is_refused(burst):
    """A NaN burst made every wait NaN: no send waited, the rate limit gone without a word."""
    from mm7bind.retry import RateLimiter

    with pytest.raises(ValueError, match="^burst must be a positive, finite number of requests"):
        RateLimiter(5, burst=burst)


def test_a_retry_after_many_attempts_waits_max_backoff():
    """factor ** attempts past what a float holds (2.0 after 1024 attempts: max_attempts = 2000 in
    the configuration) raised an OverflowError at that retry, ending the send: the wait is
    long past max_backoff by then, and is max_backoff."""
    policy = RetryPolicy(max_attempts=2000, jitter=0)
    assert policy.delay(1100) == policy.max_backoff
    assert RetryPolicy(max_attempts=2000, backoff=0, jitter=0).delay(1100) == 0
    assert RetryPolicy(factor=1e308, jitter=0).delay(3) == 30.0


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(st.characters(max_codepoint=0xFF)), st.sampled_from(["\xb2", "1\xb9", "9" * 400])))
def test_any_retry_after_header_is_a_wait_or_nothing(value):
    # Header bytes are read as Latin-1: a byte 0xB2 is "²", which isdigit() takes and float() refuses,
    # and the send raised ValueError instead of reporting the MMSC's answer.
    wait = parse_retry_after(value, now=0)
    assert wait is None or wait >= 0
    assert RetryPolicy(jitter=0).delay(1, retry_after=wait) <= RetryPolicy().max_retry_after


def test_scripted_troubles_from_the_simulator_drive_the_retry_policy():
    """The simulator's fail_next, as a user testing their retry handling would use it."""
    import requests

    from mm7bind.simulator import Simulator

    with Simulator() as sim:
        with client(sim.url) as c:
            sim.fail_next(status=4006)  # service unavailable: tried again
            r = c.submit(submit())
            assert r.ok and r.attempts == 2
            sim.fail_next(http_status=503, retry_after=7)
            r = c.submit(submit())
            assert r.ok and r.attempts == 2 and c.sleeps[-1] == 7
            sim.fail_next(status=2001)  # a client error: never tried again
            with pytest.raises(FaultError) as err:
                c.submit(submit())
            assert err.value.status.code == 2001 and err.value.attempts == 1 and err.value.fault.code == "Client"
            sim.fail_next(count=3, status=3000)
            with pytest.raises(FaultError) as err:
                c.submit(submit())
            assert err.value.attempts == 3 and err.value.fault.code == "Server"
            assert c.submit(submit()).ok  # troubles used up: served again
        with client(sim.url, read_timeout=0.3, retry=RetryPolicy.never()) as c:
            sim.fail_next(delay=1.5)
            with pytest.raises(RequestTimeout):
                c.submit(submit())
        control = sim.server.url + "/control/fail"
        assert requests.post(control, json={"count": 2, "http_status": 502}, timeout=5).json() == {"queued": 2}
        assert requests.post(control, json={"status": 3001, "http_status": 503}, timeout=5).status_code == 400
        assert requests.get(control, timeout=5).status_code == 405  # (it takes POST)
        nope = requests.get(sim.server.url + "/control/nope", timeout=5)
        assert nope.status_code == 404 and "no control action 'nope'" in nope.json()["error"]
        with client(sim.url, retry=RetryPolicy.never()) as c, pytest.raises(HTTPStatusError) as err:
            c.submit(submit())
        assert err.value.status == 502


def test_the_simulators_trouble_control_refuses_what_it_cannot_do():
    from mm7bind.simulator import Simulator

    sim = Simulator()  # (the control endpoint's logic; no server needed)
    for body, error in ((b'{"status": "abc"}', "'abc' is not an MM7 status code"),
                        (b'{"http_status": 42}', "42 is not an HTTP status"),
                        (b'{"delay": "1s"}', "are seconds"),
                        # (else a trouble doing nothing)
                        (b'{"http-status": 503}', "unknown field(s): http-status (did you mean http_status?)"),
                        (b'{"count": -1}', "count -1 is not a whole number"),
                        (b'{"count": "x"}', "count 'x' is not a whole number"),
                        (b"[1]", "a JSON object")):
        status, answer = sim.control("POST", "fail", body)
        assert status == 400 and error in answer["error"], (body, answer)
    assert sim.control("POST", "fail", b'{"count": 0}') == (200, {"queued": 0})  # nothing was queued
    assert sim.control("POST", "fail", b'{"count": 2, "status": 4006}') == (200, {"queued": 2})


@pytest.mark.parametrize("rate", [-1, math.nan])
def test_a_rate_limit_that_is_no_number_of_messages_a_second_is_refused(rate):
    # (NaN passed the check, and no send ever waited: the limit silently off)
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimiter(rate)
    with pytest.raises(ValueError, match="^rate_limit must be at least"):  # (the setting as the caller named it)
        Client("http://127.0.0.1:9/mm7", rate_limit=rate)  # (0 or None: no limit)


def test_a_rate_slower_than_one_a_year_is_refused_where_given():
    """A rate_limit of 1e-10 a second waited 1e10 s before the second send (an OverflowError from
    the sleep: past what it holds); an upload_min_rate as slow gave a message's upload a bound no
    socket's timeout holds. Refused where given, in the client and in the configuration's check
    (which `mm7bind` commands run at start), as the timeouts past a year are."""
    from mm7bind import config, sendonce
    from mm7bind.client import MAX_TIMEOUT

    for name, said in (("rate_limit", "a message a year"), ("upload_min_rate", "a byte a year")):
        with pytest.raises(ValueError, match=f"^{name} must be .*at least 1/{MAX_TIMEOUT} \\({said}\\)"):
            Client("http://127.0.0.1:9/mm7", **{name: 1e-10})
        Client("http://127.0.0.1:9/mm7", **{name: 1 / MAX_TIMEOUT}).close()  # (the slowest taken)
        cfg, problems = config.load(None, env={f"MM7BIND_MMSC_{name.upper()}": "1e-10"})
        assert [(p.where, p.message) for p in config.check(cfg) if p.level == "error"] == \
            [(f"mmsc.{name}", f"at least 1/{MAX_TIMEOUT} ({said}), or 0{' for unlimited' * (name == 'rate_limit')}")]
    # A large message at the slowest upload rate taken: its upload's bound is a year, not past it.
    slowest = ClientConfig(("http://mmsc.example/mm7",), upload_min_rate=1 / MAX_TIMEOUT)
    assert sendonce.upload_time(slowest, 10_000_000) == MAX_TIMEOUT


def test_a_client_setting_of_the_wrong_type_is_said_as_such_when_made():
    """`profile="cmcc"` failed with "'str' object has no attribute 'extra_headers'", `read_timeout="30"`
    with a comparison of 'int' and 'str', `retry=3` not until the first send."""
    for kw, said in [({"profile": "cmcc"}, "profile must be a Profile (mm7bind.profiles.CMCC, "),
                     ({"retry": 3}, "retry must be a RetryPolicy (RetryPolicy(max_attempts=3), "),
                     ({"read_timeout": "30"}, "read_timeout must be a number of seconds, not '30'"),
                     ({"connect_timeout": None}, "connect_timeout must be a number of seconds, not None"),
                     # (a text compared with 0; True taken as 1 byte a second)
                     ({"upload_min_rate": "16k"},
                      "upload_min_rate must be a number of bytes a second, not '16k'"),
                     ({"upload_min_rate": True}, "upload_min_rate must be a number of bytes a second, not True")]:
        with pytest.raises(TypeError) as err:
            Client("http://127.0.0.1:9/mm7", **kw)
        assert str(err.value).startswith(said), err.value
    Client("http://127.0.0.1:9/mm7", rate_limit=0, read_timeout=5, profile=mm7.profiles.CMCC).close()
    Client("http://127.0.0.1:9/mm7", upload_min_rate=None).close()


def test_rate_limit_by_counting():
    clock = [0.0]
    waits = []

    def sleep(s):
        waits.append(s)
        clock[0] += s

    limiter = RateLimiter(rate=10, clock=lambda: clock[0], sleep=sleep)
    for _ in range(21):
        limiter.acquire()
    assert len(waits) == 20 and abs(clock[0] - 2.0) < 1e-9  # 21 sends at 10/s take 2 s
    with FakeServer() as srv:
        c = client(srv.url, rate_limit=5.0)
        limiter = c.core.limiters[srv.url]
        limiter.clock = lambda: clock[0]
        clock[0] = 100.0
        limiter._last = clock[0]
        c.sleep = sleep
        waits.clear()
        for _ in range(6):
            c.submit(submit())
        assert len(waits) == 5 and abs(sum(waits) - 1.0) < 1e-9 and len(srv.requests) == 6


def test_a_rate_limit_is_shared_by_every_store_on_one_file(tmp_path):
    """Two processes sending through one store file (a campaign beside a server's outbox) each
    kept a limit of their own: together, twice the rate the MMSC allows. Their turns are now one
    sequence: each store object here stands for another process."""
    clock = [1000.0]
    one, two = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    a = SharedRateLimiter(one, "mmsc", 2.0, clock=lambda: clock[0])
    b = SharedRateLimiter(two, "mmsc", 2.0, clock=lambda: clock[0])
    assert [a.reserve(), b.reserve(), a.reserve(), b.reserve()] == [0.0, 0.5, 1.0, 1.5]
    b.give_back()  # (its send not made: the next turn is the one it gave back)
    assert a.reserve() == 1.5
    other = SharedRateLimiter(two, "another mmsc", 2.0, clock=lambda: clock[0])
    assert other.reserve() == 0.0  # (each MMSC, and account, has turns of its own)
    clock[0] = 400.0  # the clock set back 600 s: the turns move back with it, not 600 s further away
    assert a.reserve() == 2.0
    burst = SharedRateLimiter(one, "burst", 1.0, burst=3, clock=lambda: clock[0])
    assert [burst.reserve() for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]
    one.close()
    two.close()


def test_clients_on_one_store_file_wait_for_each_others_turns(tmp_path):
    sleeps: list[float] = []
    with FakeServer() as srv, Client(srv.url, store=SqliteStore(tmp_path / "s.db"), rate_limit=0.001,
                                     sleep=sleeps.append) as first, \
            Client(srv.url, store=SqliteStore(tmp_path / "s.db"), rate_limit=0.001, sleep=sleeps.append) as second:
        assert first.submit(submit()).ok and sleeps == []
        assert second.submit(submit()).ok  # (a turn every 1000 s: the first client took this one)
        [slept] = sleeps
        assert 900 < slept <= 1000
        assert isinstance(Client(srv.url, rate_limit=1).core.limiters[srv.url], RateLimiter)  # (no store: its own)


@pytest.mark.parametrize("first_async", [False, True], ids=["client-first", "async-first"])
def test_an_async_client_shares_the_turns_of_its_store_file(tmp_path, first_async):
    """An AsyncClient kept a rate limit of its own: beside a server's outbox or a campaign on its
    store, the MMSC got more than its rate. Its turns are the store's now, as a Client's (each store
    object here stands for another process)."""
    path = tmp_path / "s.db"
    slept: list[float] = []

    async def no_sleep(seconds):
        slept.append(seconds)

    async def main(url):
        async with AsyncClient(url, store=SqliteStore(path), rate_limit=0.001, sleep=no_sleep) as c, \
                AsyncClient(url, store=SqliteStore(path), rate_limit=0.001, sleep=no_sleep) as other:
            assert isinstance(c.core.limiters[url], SharedRateLimiter)
            assert (await c.submit(submit())).ok and len(slept) == int(not first_async)
            assert (await other.submit(submit())).ok  # (and two AsyncClients: a turn each, in sequence)

    with FakeServer() as srv, Client(srv.url, store=SqliteStore(path), rate_limit=0.001, sleep=slept.append) as sync:
        if not first_async:
            assert sync.submit(submit()).ok and slept == []
        asyncio.run(main(srv.url))
        if first_async:
            assert sync.submit(submit()).ok
        assert len(srv.requests) == 3
    # (a turn every 1000 s: the one taken first waited for none, the others one and two turns)
    assert [round(s, -2) for s in slept] == [1000, 2000]


def test_clients_given_one_memory_store_share_its_turns():
    clock = [50.0]
    store = MemoryStore()
    a = SharedRateLimiter(store, "mmsc", 2.0, clock=lambda: clock[0])
    b = SharedRateLimiter(store, "mmsc", 2.0, clock=lambda: clock[0])
    assert [a.reserve(), b.reserve(), a.reserve()] == [0.0, 0.5, 1.0]
    b.give_back()
    assert b.reserve() == 1.0
    clock[0] = 40.0  # (set back: the turns move with it)
    assert a.reserve() == 1.5
    assert isinstance(Client("http://127.0.0.1:9/mm7", store=store, rate_limit=1).core.limiters[
        "http://127.0.0.1:9/mm7"], SharedRateLimiter)


def test_a_shared_rate_limit_holds_across_processes(tmp_path):
    import subprocess

    path = tmp_path / "s.db"
    code = ("import sys; from mm7bind.store import SqliteStore; from mm7bind.retry import SharedRateLimiter; "
            "print(SharedRateLimiter(SqliteStore(sys.argv[1]), 'http://mmsc/mm7 as sp', 0.001).reserve())")
    taken = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert taken.returncode == 0 and float(taken.stdout) == 0.0, taken.stderr
    store = SqliteStore(path)
    assert 900 < SharedRateLimiter(store, "http://mmsc/mm7 as sp", 0.001).reserve() <= 1000
    store.close()


def test_a_shared_rate_limit_the_store_cannot_keep_is_this_processs_own_meanwhile(tmp_path, caplog, monkeypatch):
    from mm7bind import retry as retry_mod

    store = SqliteStore(tmp_path / "s.db")
    limiter = SharedRateLimiter(store, "http://mmsc/mm7", 1.0)
    real, asked = store.rate_reserve, []

    def locked(*args):
        asked.append(args)
        raise sqlite3.OperationalError("database is locked")

    store.rate_reserve = locked
    with caplog.at_level(logging.WARNING, "mm7bind.client"):
        assert limiter.reserve() == 0.0 and 0.9 < limiter.reserve() <= 1.0  # (its own turns)
        limiter.give_back()  # (to its own limiter, where the turn came from)
        assert 0.9 < limiter.reserve() <= 1.0
        # (asked once: a store locked for minutes held every send for RATE_WAIT, not the first alone)
        assert len(asked) == 1
        later = [time.monotonic() + retry_mod.STORE_RETRY_AFTER + 1]
        monkeypatch.setattr(retry_mod.time, "monotonic", lambda: later[0])  # (its STORE_RETRY_AFTER gone by)
        assert limiter.reserve() > 0 and len(asked) == 2
        store.rate_reserve = real
        later[0] += retry_mod.STORE_RETRY_AFTER + 1
        assert limiter.reserve() == 0.0  # (the store's turns again)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "could not be taken from the store (OperationalError: database is locked)" in said[0]
    assert "shared through the store again (4 taken by this process alone" in said[1]
    store.close()


def test_a_turn_goes_back_where_it_was_taken_whichever_thread_gives_it_back(tmp_path):
    """An AsyncClient takes a turn in one worker thread and may give it back in another: the turn
    says where it came from (the store's, or the process's own while the store could not be
    asked), not the thread that gives it back."""
    store = SqliteStore(tmp_path / "s.db")
    limiter = SharedRateLimiter(store, "http://mmsc/mm7", 0.001)
    real = store.rate_reserve
    store.rate_reserve = lambda *args: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked"))
    own = limiter.reserve()  # (this thread's latest: one of its own)
    store.rate_reserve = real
    limiter._detour._until = 0.0  # (its STORE_RETRY_AFTER gone by: the store asked again)
    taken: list = []
    worker = threading.Thread(target=lambda: taken.append(limiter.take()))
    worker.start()
    worker.join()
    [shared] = taken
    assert own == 0.0 and shared.own is False and len(_turns(tmp_path / "s.db")) == 1
    limiter.give_back(shared)  # (in this thread, whose own latest turn was its own)
    [turn] = _turns(tmp_path / "s.db")
    assert turn <= 0 and 900 < limiter.own.reserve() <= 1000  # (the store's back; the own limiter's kept)
    store.close()


def test_a_store_locked_for_long_holds_no_send_for_its_turn(tmp_path, caplog):
    """A vacuum of minutes in another process holds the store's write lock: a send waits a second
    (`store.RATE_WAIT`) for the shared turn, then takes one of its own, not minutes."""
    store, other = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    limiter = SharedRateLimiter(store, "http://mmsc/mm7", 1.0)
    other._write.__enter__()  # (its flock: another process's, as far as this one can tell)
    try:
        with caplog.at_level(logging.WARNING, "mm7bind.client"):
            assert limiter.reserve() == 0.0
    finally:
        other._write.__exit__(None, None, None)
    assert "StoreBusy" in caplog.text and "this process keeps its own" in caplog.text
    store.close()
    other.close()


def _turns(path) -> list[float]:
    """The next turns of the rate limits shared through the store file at `path`, from now."""
    with sqlite3.connect(path) as db:
        return [next_at - time.time() for (next_at,) in db.execute("SELECT next_at FROM rate_turn")]


def _store_telling_its_turns(path, monkeypatch):
    """A store whose `taking` event is set as a turn is asked of it, and another store on its file
    (to hold its lock, as another process would); the lock's wait long enough that only its release
    lets a turn on."""
    from mm7bind import store as store_mod

    monkeypatch.setattr(store_mod, "RATE_WAIT", 60.0)
    store, other = SqliteStore(path), SqliteStore(path)
    taking = threading.Event()
    real = store.rate_reserve

    def reserve(*args):
        taking.set()
        return real(*args)

    store.rate_reserve = reserve
    return store, other, taking


def test_an_async_clients_turn_waits_for_a_locked_store_off_its_event_loop(tmp_path, monkeypatch, caplog):
    """Taking a shared turn writes the store, waiting for its lock (another process's: a vacuum, a
    batch): an AsyncClient takes it in a worker thread, its event loop running the other tasks
    meanwhile — here the one that lets the lock go, which on a held loop could not run."""
    path = tmp_path / "s.db"
    store, other, taking = _store_telling_its_turns(path, monkeypatch)

    async def main(url):
        async with AsyncClient(url, store=store, rate_limit=0.001) as c:
            other._write.__enter__()  # (its flock: another process's, as far as this one can tell)
            try:
                sending = asyncio.ensure_future(c.submit(submit()))
                while not taking.is_set():  # (bounded below: a client that never takes it fails, not hangs)
                    await asyncio.sleep(0.01)
                assert not sending.done()  # (this task runs while the send waits for the store)
            finally:
                other._write.__exit__(None, None, None)
            assert (await sending).ok

    with FakeServer() as srv, caplog.at_level(logging.WARNING, "mm7bind.client"):
        asyncio.run(asyncio.wait_for(main(srv.url), 120))
        assert len(srv.requests) == 1
    [turn] = _turns(path)  # (the store's: taken there, once the lock was let go, not one of its own)
    assert 900 < turn <= 1000 and "keeps its own" not in caplog.text
    store.close()
    other.close()


def test_an_async_send_cancelled_waiting_for_its_turn_gives_the_turn_back(tmp_path):
    """A send cancelled while it waits for its turn is not made: the turn goes back to the store
    (from a worker thread, the cancellation not held up), the sends after it wait no longer for it."""
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    waiting = asyncio.Event()

    async def forever(seconds):
        waiting.set()
        await asyncio.Event().wait()

    async def main(url):
        async with AsyncClient(url, store=store, rate_limit=0.001, sleep=forever) as c:
            assert (await c.submit(submit())).ok  # (the first turn, now)
            sending = asyncio.ensure_future(c.submit(submit()))
            await asyncio.wait_for(waiting.wait(), 120)
            [turn] = _turns(path)
            assert 1900 < turn <= 2000  # (the second send's taken: the next is two turns away)
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending

    with FakeServer() as srv:
        asyncio.run(main(srv.url))  # (its end waits for the worker threads: the turn given back by then)
        assert len(srv.requests) == 1
    [turn] = _turns(path)
    assert 900 < turn <= 1000
    store.close()


def test_a_send_interrupted_waiting_for_its_turn_gives_the_turn_back(tmp_path):
    """A Ctrl-C, or an outbox's `stop()`, ending a send's wait for its turn: the send is not made,
    and its turn goes back, as a cancelled AsyncClient's does (it kept the sends after it waiting)."""
    path = tmp_path / "s.db"

    def interrupted(seconds):
        raise KeyboardInterrupt

    with FakeServer() as srv, Client(srv.url, store=SqliteStore(path), rate_limit=0.001, sleep=interrupted) as c:
        assert c.submit(submit()).ok
        with pytest.raises(KeyboardInterrupt):
            c.submit(submit())
        assert len(srv.requests) == 1
    [turn] = _turns(path)
    assert 900 < turn <= 1000


def test_an_async_send_cancelled_taking_its_turn_gives_it_back_once_taken(tmp_path, monkeypatch):
    """Cancelled while its worker thread waits for the store's lock to take the turn: the
    cancellation ends the send at once; the thread, which cannot be stopped, takes the turn once the
    lock is let go, and gives it back; the lock is let go (the store takes turns after it)."""
    from mm7bind import store as store_mod

    path = tmp_path / "s.db"
    store, other, taking = _store_telling_its_turns(path, monkeypatch)

    async def main(url):
        async with AsyncClient(url, store=store, rate_limit=0.001) as c:
            other._write.__enter__()
            try:
                sending = asyncio.ensure_future(c.submit(submit()))
                while not taking.is_set():
                    await asyncio.sleep(0.01)
                sending.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await sending  # (the lock still held: the cancellation waited for no store)
            finally:
                other._write.__exit__(None, None, None)

    with FakeServer() as srv:
        asyncio.run(asyncio.wait_for(main(srv.url), 120))  # (its end waits for the worker threads)
        assert srv.requests == []
    [turn] = _turns(path)
    assert turn <= 0  # (taken, then given back: the next one is now)
    monkeypatch.setattr(store_mod, "RATE_WAIT", 1.0)
    assert SharedRateLimiter(store, "any", 1.0).reserve() == 0.0 and len(_turns(path)) == 2  # (not busy)
    store.close()
    other.close()


def test_a_turn_taken_for_a_cancelled_send_goes_back_once_whichever_comes_first(tmp_path):
    """The send cancelled after its worker thread took the turn: `give_up` hands the turn to the
    send, to give back; cancelled before: the thread gives back the turn it takes, the send none."""
    from mm7bind.client import _TurnTaking

    path = tmp_path / "s.db"
    store = SqliteStore(path)
    limiter = SharedRateLimiter(store, "mmsc", 0.001)
    assert limiter.take().wait == 0  # (the first turn, now)
    early = _TurnTaking(limiter)
    turn = early.take()
    assert turn is not None and early.give_up() is turn  # (the send's to give back: still taken)
    assert 1900 < _turns(path)[0] <= 2000
    limiter.give_back(turn)
    late = _TurnTaking(limiter)
    assert late.give_up() is None and late.take() is None  # (given back by the thread)
    [turn] = _turns(path)
    assert 900 < turn <= 1000
    store.close()


def test_an_async_send_cancelled_taking_its_turn_gives_it_back_after_its_loop_closed(tmp_path, monkeypatch):
    """The event loop closed while the worker thread still waits for the store's lock to take the
    cancelled send's turn (an `asyncio.run` interrupted as it waits for its worker threads, a loop
    closed without waiting for them): the thread gives the turn back all the same, as it takes it.
    (A callback on the loop never ran: the turn was lost, the sends after it waiting one more.)"""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "s.db"
    store, other, taking = _store_telling_its_turns(path, monkeypatch)
    workers = ThreadPoolExecutor()

    async def main(url):
        async with AsyncClient(url, store=store, rate_limit=0.001) as c:
            assert (await c.submit(submit())).ok  # (the first turn, now)
            taking.clear()
            other._write.__enter__()
            sending = asyncio.ensure_future(c.submit(submit()))
            while not taking.is_set():
                await asyncio.sleep(0.01)
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending

    loop = asyncio.new_event_loop()
    loop.set_default_executor(workers)
    try:
        with FakeServer() as srv:
            loop.run_until_complete(asyncio.wait_for(main(srv.url), 120))
            assert len(srv.requests) == 1
    finally:
        loop.close()  # (its worker threads not waited for: one still waits for the lock)
        other._write.__exit__(None, None, None)
    workers.shutdown(wait=True)  # (the thread's turn taken, and given back, by now)
    [turn] = _turns(path)
    assert 900 < turn <= 1000  # (the second send's turn given back: the next is the first's next)
    store.close()
    other.close()


def test_async_client():
    async def main():
        auth = mm7.auth.DigestAuth("sp", "secret")
        with FakeServer(auth=auth) as srv:
            dead = dead_url()
            slept = []

            async def no_sleep(s):
                slept.append(s)

            async with AsyncClient((dead, srv.url), username="sp", password="secret", auth="digest",
                                   retry=NO_WAIT, sleep=no_sleep) as c:
                content = mm7.Content(parts=[mm7.Part.text("异步")])
                r = await c.submit(submit(content=content))
                assert r.ok and r.url == srv.url and r.attempts == 2 and slept == []
                assert (await c.cancel(r.message_id)).ok
                got = srv.requests[0].decode().body.content.parts[0].text_value
                assert got == "异步"

        def faulty(req):
            return mm7_reply(mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=mm7.Status(4006))), req.decode(), 500)

        with FakeServer(faulty) as srv:
            slept = []

            async def record(s):
                slept.append(s)

            async with AsyncClient(srv.url, retry=NO_WAIT, sleep=record) as c:
                with pytest.raises(FaultError) as err:
                    await c.submit(submit())
                assert err.value.attempts == 3 and slept == [0.5, 1.0]

    asyncio.run(main())


def test_a_connection_dropped_after_the_request_went_out_is_retried_at_the_same_mmsc():
    # The first MMSC may have the message: only it can recognise the repeat by its TransactionID.
    answers = iter([Reply(drop=True)])

    def first_drops(req):
        return next(answers, None) or default_responder(req)

    with FakeServer(first_drops) as a, FakeServer() as b:
        with client((a.url, b.url), retry=RetryPolicy(max_attempts=3, backoff=0.0, jitter=0.0)) as c:
            r = c.submit(submit())
        assert r.ok and r.url == a.url and r.attempts == 2
        assert len(a.requests) == 2 and b.requests == []
        assert a.requests[0].decode().transaction_id == a.requests[1].decode().transaction_id


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_send_whose_earlier_attempt_got_no_answer_may_have_arrived_whatever_the_last_met(asynchronous):
    # The first attempt is lost after it went out, the second finds the MMSC unavailable (503: took
    # nothing): the MMSC may have the first, and the error must say so, or its sender (the send
    # API, a campaign) takes it for one never taken and sends it again under a new TransactionID.
    from mm7bind.arrival import may_have_arrived

    answers = iter([Reply(drop=True), Reply(503)])

    def lost_then_unavailable(req):
        return next(answers, None) or default_responder(req)

    store = MemoryStore()
    policy = RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0)
    with FakeServer(lost_then_unavailable) as srv, pytest.raises(HTTPStatusError) as err:
        if asynchronous:
            async def send():
                async with AsyncClient(srv.url, retry=policy, store=store) as c:
                    await c.submit(submit())

            asyncio.run(send())
        else:
            with client(srv.url, retry=policy, store=store) as c:
                c.submit(submit())
    assert err.value.status == 503 and err.value.attempts == 2 and len(srv.requests) == 2
    assert may_have_arrived(err.value) and "the MMSC may have taken it" in str(err.value)
    (record,) = store.sent()
    assert may_have_arrived(record.error)
    # (one attempt, or none lost before it: a 503 took nothing)
    assert not may_have_arrived(HTTPStatusError("HTTP 503", status=503))


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_an_error_after_the_request_went_out_says_the_mmsc_may_have_taken_it(asynchronous):
    # (a lost connection's words were the HTTP library's alone: nothing told its reader that the
    # message may be on its way, nor under which TransactionID to ask or send it again)
    async def send_async(url, **kw):
        async with AsyncClient(url, retry=RetryPolicy.never()) as c:
            await c.submit(submit(), **kw)

    def send(url, **kw):
        if asynchronous:
            asyncio.run(send_async(url, **kw))
        else:
            with client(url, retry=RetryPolicy.never()) as c:
                c.submit(submit(), **kw)

    with FakeServer(lambda req: Reply(drop=True)) as srv, pytest.raises(mm7.errors.TransportError) as err:
        send(srv.url, transaction_id="tid-lost")
    assert str(err.value).endswith(" (the MMSC may have taken it: TransactionID tid-lost)"), str(err.value)
    with pytest.raises(ConnectError) as err:  # (nothing went out: nothing to say)
        send(dead_url(), transaction_id="tid-refused")
    assert "may have taken" not in str(err.value)


def test_an_mmsc_side_client_says_the_vasp_may_have_taken_it():
    """`mm7bind probe` and the simulator send as an MMSC: what may have the request is the VASP
    (the error read "the MMSC may have taken it" while probing a VASP's receiver)."""
    report = mm7.DeliveryReportReq(message_id="m-1", recipient=mm7.Number("+8613800000000"),
                                   sender=mm7.ShortCode("1065888"), mm_status=mm7.DeliveryStatus.RETRIEVED,
                                   date=dt.datetime.now(dt.timezone.utc))
    with FakeServer(lambda req: Reply(drop=True)) as srv, pytest.raises(mm7.errors.TransportError) as err, \
            mm7.Client(srv.url, role="mmsc", retry=RetryPolicy.never()) as c:
        c.send(report, transaction_id="tid-lost")
    assert str(err.value).endswith(" (the VASP may have taken it: TransactionID tid-lost)"), str(err.value)


SOAP12_FAULT = ('<?xml version="1.0"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
                '<e:Fault><e:Code><e:Value>e:{code}</e:Value></e:Code><e:Reason><e:Text xml:lang="en">{text}</e:Text>'
                '</e:Reason>{detail}</e:Fault></e:Body></e:Envelope>')


@pytest.mark.parametrize(("code", "detail", "attempts", "says"), [
    ("Sender", "", 1, "SubmitReq refused: bad recipient"),  # (read as the default "Server": sent again)
    ("Receiver", "", 3, "SubmitReq refused: bad recipient"),
    ("Receiver", '<e:Detail><RSErrorRsp xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/'
                 'REL-6-MM7-1-4"><MM7Version>6.8.0</MM7Version><Status><StatusCode>2002</StatusCode>'
                 '<StatusText>Address Error</StatusText></Status></RSErrorRsp></e:Detail>', 1,
     "SubmitReq refused: 2002 Address Error"),
])
def test_a_soap_1_2_fault_is_read_by_its_code_reason_and_detail(code, detail, attempts, says):
    body = SOAP12_FAULT.format(code=code, text="bad recipient", detail=detail).encode()
    with FakeServer(lambda req: Reply(500, body, {"Content-Type": "application/soap+xml"})) as srv, \
            client(srv.url) as c, pytest.raises(FaultError) as err:
        c.submit(submit())
    assert str(err.value) == says and err.value.attempts == attempts == len(srv.requests)


@pytest.mark.parametrize("words", [b"", b"<faultstring> \n </faultstring>"])  # (read as sent: white space alone)
def test_a_fault_without_words_is_named_by_its_code(words):
    body = (b'<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
            b"<e:Fault><faultcode>e:Client</faultcode>" + words + b"</e:Fault></e:Body></e:Envelope>")
    with FakeServer(lambda req: Reply(500, body, {"Content-Type": "text/xml"})) as srv, \
            client(srv.url) as c, pytest.raises(FaultError) as err:
        c.submit(submit())
    assert str(err.value) == "SubmitReq refused: a Client Fault without words"


def test_a_fault_whose_words_are_only_in_its_detail_is_named_by_them():
    """`<faultstring/>` and the reason in detail (free text): "a Server Fault without words" hid it."""
    body = (b'<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
            b"<e:Fault><faultcode>e:Server</faultcode><faultstring/><detail>\n  database\n  unavailable\n</detail>"
            b"</e:Fault></e:Body></e:Envelope>")
    with FakeServer(lambda req: Reply(500, body, {"Content-Type": "text/xml"})) as srv, \
            client(srv.url) as c, pytest.raises(FaultError) as err:
        c.submit(submit())
    assert str(err.value).startswith("SubmitReq refused: database unavailable")
    assert err.value.fault.detail_text == "\n  database\n  unavailable\n"  # (as sent)


def test_the_texts_of_several_detail_entries_are_not_run_together():
    """Another application's entries in a detail (an error code, then its reason): their texts were
    joined as they came, "E42disk full"; each is a line of detail_text, the error's words one line."""
    body = (b'<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
            b'<e:Fault><faultcode>e:Server</faultcode><faultstring/><detail><x:code xmlns:x="urn:x">E42</x:code>'
            b'<x:reason xmlns:x="urn:x"> disk <x:b>full</x:b></x:reason>\n  see log</detail>'
            b"</e:Fault></e:Body></e:Envelope>")
    with FakeServer(lambda req: Reply(500, body, {"Content-Type": "text/xml"})) as srv, \
            client(srv.url) as c, pytest.raises(FaultError) as err:
        c.submit(submit())
    assert err.value.fault.detail_text == "E42\ndisk\nfull\nsee log"
    assert str(err.value).startswith("SubmitReq refused: E42 disk full see log")


def test_a_faults_status_details_are_in_the_error_as_its_detail_text_is():
    """The schema's place for what was wrong, Status/Details, was left out of the error's words
    while text beside the status was said: a Fault passed on by mm7bind (which puts that text in
    Details) lost it from the error, and "2002 Address Error" did not say which address."""
    def responder(req):  # (as mm7bind passes a Fault on: `detail_text` written in Details)
        return mm7_reply(mm7.Fault(code="Client", detail=mm7.RSErrorRsp(status=mm7.Status(2002)),
                                   detail_text="no such number +8613800000000"), req.decode(), 500)

    with FakeServer(responder) as srv, client(srv.url) as c, pytest.raises(FaultError) as err:
        c.submit(submit())
    assert str(err.value) == "SubmitReq refused: 2002 Address Error (no such number +8613800000000)"
    assert err.value.fault.detail_text is None and err.value.status.details == "no such number +8613800000000"


def test_a_faults_detail_text_beside_its_status_is_in_the_error():
    """`<detail>disk full<RSErrorRsp>…` : the MMSC's words beside its status were dropped, the
    error said only "3001 Not Possible"; they follow it, as a faultstring's detail text does."""
    rsp = ('<RSErrorRsp xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">'
           "<MM7Version>6.8.0</MM7Version><Status><StatusCode>2001</StatusCode><StatusText>Operation restricted"
           "</StatusText></Status></RSErrorRsp>").encode()
    body = (b'<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
            b"<e:Fault><faultcode>e:Client</faultcode><faultstring>no</faultstring><detail>\n quota\n used up "
            + rsp + b"</detail></e:Fault></e:Body></e:Envelope>")
    with FakeServer(lambda req: Reply(500, body, {"Content-Type": "text/xml"})) as srv, \
            client(srv.url) as c, pytest.raises(FaultError) as err:
        c.submit(submit())
    assert str(err.value) == "SubmitReq refused: 2001 Operation restricted (quota used up)"
    assert err.value.fault.detail_text == "quota\n used up" and err.value.status.code == 2001
    # a faultstring's words are followed by the detail's as well
    with FakeServer(lambda req: Reply(500, body.replace(rsp, b""), {"Content-Type": "text/xml"})) as srv, \
            client(srv.url) as c, pytest.raises(FaultError) as err:
        c.submit(submit())
    assert str(err.value).startswith("SubmitReq refused: no (quota used up)")


def test_a_client_fault_without_a_status_is_final():
    def refuse(req):
        return mm7_reply(mm7.Fault(code="Client", string="Invalid recipient"), req.decode(), 500)

    with FakeServer(refuse) as srv, client(srv.url, retry=RetryPolicy(max_attempts=3, backoff=0.0)) as c:
        with pytest.raises(FaultError) as err:
            c.submit(submit())
        assert err.value.attempts == 1 and len(srv.requests) == 1
    retry = RetryPolicy()
    server_fault = mm7.Fault(code="Server", string="busy")
    assert retry.retries_fault(server_fault, 500) and not retry.retries_fault(server_fault, 200)
    assert not retry.retries_fault(mm7.Fault(code="Client.Authentication", string="x"), 500)


def test_a_fault_says_the_mmsc_is_unavailable_as_it_says_it_is_worth_retrying():
    retry = RetryPolicy()
    busy = mm7.Fault(code="Server", string="busy", detail=mm7.RSErrorRsp(status=mm7.Status(4006)))
    assert retry.fails_over_fault(busy, 500) and retry.fails_over_fault(busy, 200)
    assert not retry.fails_over_fault(mm7.Fault(code="Server", string="x", detail=mm7.RSErrorRsp(
        status=mm7.Status(3000))), 503)  # (its status says what it is: not the HTTP status)
    server_fault = mm7.Fault(code="Server", string="busy")
    assert retry.fails_over_fault(server_fault, 503) and not retry.fails_over_fault(server_fault, 500)
    assert not retry.fails_over_fault(mm7.Fault(code="Client.Authentication", string="x"), 503)


def test_a_store_that_fails_to_record_does_not_undo_an_accepted_message(caplog):
    class Broken(MemoryStore):
        def record_sent(self, rec):
            raise OSError("disk full")

    with FakeServer() as srv, client(srv.url, store=Broken()) as c:
        r = c.submit(submit())
    assert r.ok and r.message_id  # the MMSC took it: the caller hears so, not an error it would resend on
    assert any("could not be recorded" in rec.getMessage() for rec in caplog.records)


def test_an_mmsc_trickling_its_answer_times_out_as_a_whole():
    import time

    started = time.monotonic()
    with TricklingServer() as slow:
        with client(slow.url, read_timeout=1, retry=RetryPolicy.never()) as c, pytest.raises(RequestTimeout):
            c.submit(submit())
        assert time.monotonic() - started < 10  # (it waited as long as the MMSC kept trickling: 200 s here)

        async def send():  # the same for the asyncio client
            async with AsyncClient(slow.url, read_timeout=1, connect_timeout=1, retry=RetryPolicy.never()) as c:
                await c.submit(submit())

        with pytest.raises(RequestTimeout):
            asyncio.run(send())
        assert time.monotonic() - started < 20


def test_digest_response_matches_the_rfc_examples():
    # RFC 2617 §3.5 and RFC 7616 §3.9.1: computed by the formula both our sides use.
    assert mm7.auth.digest_response(
        username="Mufasa", password="Circle Of Life", realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", method="GET", uri="/dir/index.html", qop="auth",
        nc="00000001", cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"
    rfc7616 = dict(username="Mufasa", password="Circle of Life", realm="http-auth@example.org",
                   nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", method="GET", uri="/dir/index.html",
                   qop="auth", nc="00000001", cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert mm7.auth.digest_response(**rfc7616, algorithm="MD5") == "8ca523f5e9506fed4657c9700eebdbec"
    assert mm7.auth.digest_response(**rfc7616, algorithm="SHA-256") == \
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_digest_answer_with_auth_int_signs_the_body():
    import hashlib

    answer = mm7.auth.DigestAnswer("sp", "pw", qop="auth-int")
    assert answer.authorization("POST", "/mm7", b"x") is None  # nothing to answer before a challenge
    assert answer.take('Basic realm="b", Digest realm="r", nonce="n", qop="auth,auth-int", opaque="o"')
    header = answer.authorization("POST", "/mm7", io.BytesIO(b"the body"))
    p = mm7.auth._parse_auth_params(header[7:])
    assert p["qop"] == "auth-int" and p["nc"] == "00000001" and p["opaque"] == "o"

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha2 = md5(f"POST:/mm7:{hashlib.md5(b'the body').hexdigest()}")
    assert p["response"] == md5(f"{md5('sp:r:pw')}:n:00000001:{p['cnonce']}:auth-int:{ha2}")
    assert mm7.auth._parse_auth_params(answer.authorization("POST", "/mm7", b"")[7:])["nc"] == "00000002"
    # Offered only what we do not speak: no answer.
    assert not mm7.auth.DigestAnswer("sp", "pw").take('Digest realm="r", nonce="n", qop="auth-conf"')
    assert not mm7.auth.DigestAnswer("sp", "pw").take('Digest realm="r", nonce="n", algorithm=SHA-512')
    # Several challenges: the first we speak, the server's preferred (RFC 7616 §3.7).
    both = mm7.auth.DigestAnswer("sp", "pw")
    assert both.take('Digest realm="r", nonce="x", algorithm=SHA-512, qop="auth", '
                     'Digest realm="r", nonce="m", algorithm=MD5, qop="auth", '
                     'Digest realm="r", nonce="s", algorithm=SHA-256, qop="auth"')
    assert 'nonce="m"' in both.authorization("POST", "/", b"")


def test_challenges_are_one_list_and_a_quoted_string_keeps_its_commas():
    """RFC 9110 §11.6.1: challenges and their parameters are one comma-separated list. A realm
    with a comma and words, "MM7, Digest gw=1", split it there: the challenge lost its nonce and
    went unanswered (the error blaming its algorithm), and the scheme in it counted as offered."""
    header = ('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", '
              'Digest realm="MM7, Digest gw=1", nonce="n1", qop="auth,auth-int", Negotiate')
    schemes = mm7.auth.auth_schemes(header)
    assert [scheme for scheme, _ in schemes] == ["Newauth", "Basic", "Digest", "Negotiate"]
    assert schemes[0][1] == {"realm": "apps", "type": "1", "title": 'Login to "apps"'}
    answer = mm7.auth.DigestAnswer("sp", "pw")
    assert answer.take(header) and answer.challenge == {"realm": "MM7, Digest gw=1", "nonce": "n1",
                                                        "qop": "auth,auth-int"}
    auth = mm7.auth.DigestAuth("sp", "secret", realm="MM7, Digest gw=1")
    with FakeServer(auth=auth) as srv, client(srv.url, username="sp", password="secret", auth="digest") as c:
        assert c.submit(submit()).ok and srv.unauthorized == 1


@pytest.mark.parametrize("qop, algorithm, size", [
    ("auth-int", "MD5", 1000), ("auth-int", "MD5", 3 * 1024 * 1024),  # bytes, and streamed
    ("auth", "SHA-256", 1000), ("auth", "MD5-sess", 1000), ("auth-int", "SHA-256-sess", 1000),
])
def test_digest_qops_and_algorithms(qop, algorithm, size):
    # requests' own Digest answered qop=auth only: an MMSC asking for auth-int got no answer at all.
    auth = mm7.auth.DigestAuth("sp", "secret", qop=qop, algorithm=algorithm)
    payload = bytes(range(256)) * (size // 256)
    msg = submit(content=mm7.Content(parts=[mm7.Part.from_bytes(payload, "image/jpeg")]))
    with FakeServer(auth=auth) as srv, client(srv.url, username="sp", password="secret", auth="digest") as c:
        assert c.submit(msg).ok and c.submit(msg).ok
        assert srv.unauthorized == 1  # challenged once, then signed from the start
        assert srv.requests[0].decode().body.content.parts[0].data == payload
        assert f"qop={qop}" in srv.requests[1].header("Authorization")

    async def main():
        with FakeServer(auth=mm7.auth.DigestAuth("sp", "secret", qop=qop, algorithm=algorithm)) as srv:
            async with AsyncClient(srv.url, username="sp", password="secret", auth="auto", retry=NO_WAIT) as c:
                assert (await c.submit(msg)).ok and (await c.submit(msg)).ok
            assert srv.unauthorized == 1

    asyncio.run(main())


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("username", ["用户", "josé"])
def test_a_digest_username_beyond_ascii_goes_as_rfc_7616_says(username, asynchronous):
    # (written as it is into the header, it raised a bare UnicodeEncodeError after the challenge,
    # or went in Latin-1 from one client and not at all from the other)
    async def send_async(url):
        async with AsyncClient(url, username=username, password="secret", auth="digest") as c:
            return await c.submit(submit())

    with FakeServer(auth=mm7.auth.DigestAuth(username, "secret")) as srv:
        if asynchronous:
            assert asyncio.run(send_async(srv.url)).ok
        else:
            with client(srv.url, username=username, password="secret", auth="digest") as c:
                assert c.submit(submit()).ok
        said = srv.requests[0].header("Authorization")
    assert said.isascii() and "username*=UTF-8''" in said


def test_digest_qop_chosen_when_an_mmsc_offers_both():
    auth = mm7.auth.DigestAuth("sp", "secret", qop="auth,auth-int")
    for wanted, expected in ((None, "auth"), ("auth-int", "auth-int")):
        with FakeServer(auth=auth) as srv, client(srv.url, username="sp", password="secret", auth="auto",
                                                  digest_qop=wanted) as c:
            assert c.submit(submit()).ok
            assert f"qop={expected}," in srv.requests[0].header("Authorization")
    with pytest.raises(ValueError, match="digest_qop"):
        ClientConfig(urls=("http://x",), digest_qop="auth-conf")


def test_a_stale_nonce_is_answered_again_at_once():
    auth = mm7.auth.DigestAuth("sp", "secret", nonce_lifetime=2)
    with FakeServer(auth=auth) as srv, client(srv.url, username="sp", password="secret", auth="digest") as c:
        assert c.submit(submit()).ok
        time.sleep(3.1)  # (nonces carry whole seconds)
        result = c.submit(submit())
        assert result.ok and result.attempts == 1 and srv.unauthorized == 2 and len(srv.requests) == 2


def test_without_retries_on_timeout_a_request_that_may_have_arrived_is_not_sent_again():
    """on_timeout=False (a second copy is worse than none): a connection lost after the request
    went out is such a case, as a timeout is; a refused connection is still tried again."""
    with FakeServer(lambda req: Reply(drop=True)) as srv:
        with client(srv.url, retry=RetryPolicy(max_attempts=3, backoff=0.0, jitter=0.0, on_timeout=False)) as c:
            with pytest.raises(mm7.errors.TransportError) as err:
                c.submit(submit())
        assert err.value.attempts == 1 and len(srv.requests) == 1
    with FakeServer() as srv:
        with client((dead_url(), srv.url), retry=RetryPolicy(max_attempts=3, backoff=0.0, on_timeout=False)) as c:
            assert c.submit(submit()).attempts == 2


def test_the_configuration_can_turn_retries_on_timeout_off(tmp_path):
    from mm7bind import config

    path = tmp_path / "c.toml"
    path.write_text("[mmsc]\nretry_on_timeout = false\n", encoding="utf-8")
    cfg, problems = config.load(str(path), env={})
    assert not [p for p in problems if p.level == "error"]
    assert cfg.client_settings()["retry"].on_timeout is False
    assert config.Config().client_settings()["retry"].on_timeout is True


def test_the_configuration_sets_the_retry_policys_codes_statuses_and_retry_after_cap(tmp_path):
    """retry_codes, no_retry_codes, http_statuses and max_retry_after could be given a RetryPolicy
    in code only: a configuration's were refused as unknown settings."""
    from mm7bind import config

    path = tmp_path / "c.toml"
    path.write_text("[mmsc]\nretry_codes = [4006, 4008]\nno_retry_codes = 3000\nhttp_statuses = [503]\n"
                    "max_retry_after = 60\n", encoding="utf-8")
    cfg, problems = config.load(str(path), env={})
    assert problems == []
    retry = cfg.client_settings()["retry"]
    assert (retry.retry_codes, retry.no_retry_codes, retry.http_statuses, retry.max_retry_after) == (
        {4006, 4008}, {3000}, {503}, 60.0)
    assert not retry.retries_status(3000) and retry.retries_status(4008) and not retry.retries_http(500)
    # (given by variables: items separated by commas)
    cfg, problems = config.load(None, env={"MM7BIND_MMSC_HTTP_STATUSES": "429, 503"})
    assert problems == [] and cfg.client_settings()["retry"].http_statuses == {429, 503}
    # The defaults are RetryPolicy's own.
    default = config.Config().client_settings()["retry"]
    assert (default.retry_codes, default.no_retry_codes, default.http_statuses, default.max_retry_after) == (
        RetryPolicy.retry_codes, RetryPolicy.no_retry_codes, RetryPolicy.http_statuses, RetryPolicy.max_retry_after)
    path.write_text('[mmsc]\nretry_codes = [4006, "soon"]\nno_retry_codes = [3000, 20]\nhttp_statuses = [200]\n'
                    "max_retry_after = -1\n", encoding="utf-8")
    _, problems = config.load(str(path), env={})
    assert sorted(str(p) for p in problems) == [
        "error: mmsc.http_statuses: 200: not HTTP error statuses (400 to 599)",
        "error: mmsc.max_retry_after: from 0 to 31536000 seconds (a year)",
        "error: mmsc.no_retry_codes: 20: not MM7 status codes (1000 to 9999)",
        "error: mmsc.retry_codes: expected a list of whole numbers, got [4006, 'soon']"]
    path.write_text("[mmsc]\nretry_codes = [4006, 4008]\nno_retry_codes = [4008]\n", encoding="utf-8")
    _, problems = config.load(str(path), env={})
    assert [str(p) for p in problems] == [
        "error: mmsc.no_retry_codes: 4008 also in retry_codes: say whether it is sent again"]
    # One mistake, one error: retry_codes unreadable, its default [4006] stood in and was said to
    # clash with no_retry_codes too, a value nobody wrote; a list written as text says how to write it
    path.write_text('[mmsc]\nretry_codes = "4006, 4008"\nno_retry_codes = [4006]\n', encoding="utf-8")
    _, problems = config.load(str(path), env={})
    assert [str(p) for p in problems] == [
        "error: mmsc.retry_codes: expected a list of whole numbers, got '4006, 4008' (a list is written [4006, 4008])"]
    _, problems = config.load(str(path), env={"MM7BIND_MMSC_RETRY_CODES": "4006,soon"})
    assert [str(p) for p in problems] == ["error: MM7BIND_MMSC_RETRY_CODES (mmsc.retry_codes): expected a list of "
                                          "whole numbers, got ['4006', 'soon']"]


def test_an_answer_larger_than_the_limit_is_not_read_into_memory():
    # An MM7 answer is a few kilobytes: an endless one must not be read whole (nor until the read
    # timeout, which a steady stream never reaches per read) before it is refused.
    with FloodingServer() as flood:
        with client(flood.url, read_timeout=120, max_answer_bytes=256 * 1024) as c:
            with pytest.raises(ProtocolError, match="larger than 262144 bytes") as err:
                c.submit(submit())
        assert err.value.attempts == 1 and flood.requests == 1  # (the same answer again would not help)

        async def send():
            async with AsyncClient(flood.url, read_timeout=120, max_answer_bytes=256 * 1024, retry=NO_WAIT) as c:
                await c.submit(submit())

        with pytest.raises(ProtocolError, match="larger than 262144 bytes"):
            asyncio.run(send())
        assert flood.requests == 2
    with pytest.raises(ValueError, match="max_answer_bytes"):
        ClientConfig(urls=("http://x",), max_answer_bytes=0)


def _unavailable_fault(req):
    return mm7_reply(mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=mm7.Status(4006))), req.decode(), 500)


def _refusal_fault(req):
    return mm7_reply(mm7.Fault(code="Client", detail=mm7.RSErrorRsp(status=mm7.Status(4004))), req.decode(), 500)


@pytest.mark.parametrize(("responder", "fails_over"), [
    (lambda req: Reply(503, b"<html>maintenance</html>", {"Content-Type": "text/html", "Retry-After": "600"}), True),
    (_unavailable_fault, True),  # MM7 4006 Service unavailable: taken by nobody
    (lambda req: mm7_reply(mm7.SubmitRsp(status=mm7.Status(4006), message_id="-"), req.decode()), True),  # not in a Fault
    # A Server fault without an MM7 status in a 503: unavailable, as the outbox read it (the client
    # tried the same MMSC again)
    (lambda req: mm7_reply(mm7.Fault(code="Server", string="overloaded"), req.decode(), 503), True),
    (_refusal_fault, False),  # a refusal of the message itself: no other MMSC is asked either
    (lambda req: mm7_reply(mm7.Fault(code="Client", string="bad request"), req.decode(), 503), False),
    (lambda req: Reply(504, b"<html>gateway timeout</html>", {"Content-Type": "text/html"}), False),  # A may have it
    (lambda req: Reply(500, b""), False),
])
@pytest.mark.parametrize("asynchronous", [False, True])
def test_an_mmsc_saying_it_is_unavailable_fails_over_to_the_next_url_at_once(responder, fails_over, asynchronous):
    with FakeServer(responder) as a, FakeServer() as b:
        slept = Sleeps()
        if asynchronous:
            async def no_sleep(seconds):
                slept.append(seconds)

            async def send():
                async with AsyncClient((a.url, b.url), retry=NO_WAIT, sleep=no_sleep) as c:
                    return await c.submit(submit())

            def run():
                return asyncio.run(send())
        else:
            def run():
                with client((a.url, b.url), sleep=slept) as c:
                    return c.submit(submit())

        if fails_over:
            result = run()
            assert result.ok and result.url == b.url and result.attempts == 2 and slept == []
            assert len(a.requests) == 1 and len(b.requests) == 1
            assert a.requests[0].decode().transaction_id == b.requests[0].decode().transaction_id
        else:
            with pytest.raises((FaultError, HTTPStatusError)):
                run()
            assert b.requests == []


def test_when_every_mmsc_is_unavailable_the_last_one_is_retried_after_its_wait():
    with FakeServer(lambda req: Reply(503)) as a, FakeServer(lambda req: Reply(503)) as b:
        with client((a.url, b.url)) as c, pytest.raises(HTTPStatusError) as err:
            c.submit(submit())
        assert err.value.attempts == 3 and c.sleeps == [1.0]  # (after attempt 2: the first went elsewhere)
        assert (len(a.requests), len(b.requests)) == (1, 2)


def test_a_send_cancelled_while_its_request_is_out_is_recorded_as_one_the_mmsc_may_have(caplog):
    store = MemoryStore()

    async def main():
        with FakeServer(lambda req: Reply(**{**vars(default_responder(req)), "delay": 3.0})) as srv:
            async with AsyncClient(srv.url, store=store, retry=NO_WAIT) as c:
                task = asyncio.create_task(c.submit(submit(), transaction_id="tid-cancelled"))
                while not srv.requests:  # (the MMSC has it, and has not answered yet)
                    await asyncio.sleep(0.01)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

    with caplog.at_level(logging.INFO, logger="mm7bind.client"):
        asyncio.run(main())
    [rec] = store.sent()
    assert rec.transaction_id == "tid-cancelled" and rec.status_code is None and rec.attempts == 1
    assert rec.error.startswith("SendInterrupted: CancelledError while waiting for the answer") and "may have" in rec.error
    assert any(r.levelno == logging.WARNING and "tid-cancelled" in r.getMessage() for r in caplog.records)


def test_a_send_cancelled_while_waiting_for_a_connection_is_not_recorded_as_one_the_mmsc_may_have(caplog):
    # With pool_size sends out, the next waits its turn: cancelled then, nothing of it went out,
    # yet it was recorded as SendInterrupted, "the MMSC may have taken it" (an outbox item failed
    # for a person to look at, where it could simply be sent).
    store = MemoryStore()

    async def main():
        with FakeServer(lambda req: Reply(**{**vars(default_responder(req)), "delay": 1.0})) as srv:
            async with AsyncClient(srv.url, store=store, pool_size=1, retry=NO_WAIT) as c:
                out = asyncio.create_task(c.submit(submit(), transaction_id="tid-out"))
                while not srv.requests:  # (the one connection is taken)
                    await asyncio.sleep(0.01)
                queued = asyncio.create_task(c.submit(submit(), transaction_id="tid-queued"))
                for _ in range(5):  # (it runs up to its wait for that connection)
                    await asyncio.sleep(0)
                queued.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await queued
                assert (await out).ok
            assert [r.decode().transaction_id for r in srv.requests] == ["tid-out"]

    with caplog.at_level(logging.INFO, logger="mm7bind.client"):
        asyncio.run(main())
    assert [(r.transaction_id, r.error) for r in store.sent()] == [("tid-out", None)]
    assert any("tid-queued: CancelledError before it was sent" in r.getMessage() for r in caplog.records)


def test_the_async_client_writes_its_records_without_holding_up_its_event_loop():
    # A store write waits for the disk, and for a lock another program holds (seconds): written
    # on the event loop, every other task on it waited as long (sends timing out meanwhile).
    import threading

    writing, loop_ran = threading.Event(), threading.Event()

    class SlowStore(MemoryStore):
        loop_was_free: list[bool] = []

        def record_sent(self, rec):
            writing.set()
            self.loop_was_free.append(loop_ran.wait(10))  # (a hang guard: the loop answers at once)
            super().record_sent(rec)

    store = SlowStore()

    async def meanwhile():
        while not writing.is_set():
            await asyncio.sleep(0.01)
        loop_ran.set()

    async def main(url):
        async with AsyncClient(url, store=store, retry=RetryPolicy.never()) as c:
            other = asyncio.create_task(meanwhile())
            result = await c.submit(submit(), transaction_id="tid-slow-store")
            await other
            assert [r.transaction_id for r in store.sent()] == ["tid-slow-store"]  # (written before the answer is told)
            return result

    with FakeServer() as srv:
        assert asyncio.run(main(srv.url)).ok
    assert store.loop_was_free == [True]


def test_a_send_interrupted_between_attempts_says_whether_an_earlier_one_may_have_arrived():
    def interrupt(seconds):
        raise KeyboardInterrupt

    store = MemoryStore()
    with FakeServer(lambda req: Reply(delay=1.0)) as srv, \
            client(srv.url, read_timeout=0.2, store=store, sleep=interrupt) as c, pytest.raises(KeyboardInterrupt):
        c.submit(submit(), transaction_id="tid-timed-out")  # a timeout: the MMSC may have it
    with client(dead_url(), store=store, sleep=interrupt) as c, pytest.raises(KeyboardInterrupt):
        c.submit(submit(), transaction_id="tid-refused")  # nothing reached an MMSC
    records = {rec.transaction_id: rec for rec in store.sent()}
    timed_out, refused = records["tid-timed-out"], records["tid-refused"]
    assert timed_out.error.startswith("SendInterrupted: KeyboardInterrupt while waiting to try again")
    assert "may have" in timed_out.error
    assert refused.error.startswith("ConnectError")  # what the attempt ended with: sent again on resume


def test_a_send_interrupted_after_an_attempt_before_its_pause_is_recorded_as_in_the_pause(monkeypatch):
    """Ctrl-C between an attempt's end and the pause before the next (its "again in" line being
    written): recorded as in the pause, not left unmarked, which read as "may have arrived" after
    a refused connection that delivered nothing."""
    from mm7bind.arrival import MAY_HAVE_ARRIVED, NOT_TAKEN, interrupted_arrival
    from mm7bind.client import ClientCore

    def interrupt(self, p, attempt, decision):
        raise KeyboardInterrupt

    monkeypatch.setattr(ClientCore, "retried", interrupt)
    store = MemoryStore()
    with client(dead_url(), store=store, sleep=lambda s: None) as c, pytest.raises(KeyboardInterrupt) as refused:
        c.submit(submit(), transaction_id="tid-refused")
    assert interrupted_arrival(refused.value) == NOT_TAKEN
    with FakeServer(lambda req: Reply(delay=1.0)) as srv, \
            client(srv.url, read_timeout=0.2, store=store, sleep=lambda s: None) as c, \
            pytest.raises(KeyboardInterrupt) as timed_out:
        c.submit(submit(), transaction_id="tid-timed-out")
    assert interrupted_arrival(timed_out.value) == MAY_HAVE_ARRIVED
    records = {rec.transaction_id: rec for rec in store.sent()}
    assert records["tid-refused"].error.startswith("ConnectError")
    assert records["tid-timed-out"].error.startswith("SendInterrupted: KeyboardInterrupt while waiting to try again")


def test_a_send_interrupted_as_its_answer_is_read_is_recorded():
    store = MemoryStore()
    with FakeServer() as srv, client(srv.url, store=store) as c:
        post = c._post

        def post_then_interrupt(url, p):
            post(url, p)
            raise KeyboardInterrupt

        c._post = post_then_interrupt
        with pytest.raises(KeyboardInterrupt):
            c.submit(submit())
    [rec] = store.sent()
    assert rec.error.startswith("SendInterrupted: KeyboardInterrupt while waiting for the answer")


def test_tls_and_mutual_tls_from_the_async_client(tmp_path):
    # httpx (0.28) drops the client certificate when the CA is given as a path: the MMSC never saw one.
    async def send(url, **kw):
        async with AsyncClient(url, retry=RetryPolicy.never(), **kw) as c:
            return await c.submit(submit())

    srv, ca_path, pem = tls_server(tmp_path, require_client_cert=True)
    with srv:
        assert asyncio.run(send(srv.url, verify=str(ca_path), cert=str(pem))).ok
        with pytest.raises(mm7.errors.TransportError):
            asyncio.run(send(srv.url, verify=str(ca_path)))  # no client certificate: refused
    srv, ca_path, _ = tls_server(tmp_path)
    with srv:
        assert asyncio.run(send(srv.url, verify=str(ca_path))).ok
        assert asyncio.run(send(srv.url, verify=False)).ok
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(send(srv.url))  # verification is on by default: an unknown CA is refused


def test_an_unwrapped_tls_error_from_the_async_transport_is_a_transport_error():
    # An MMSC refusing a missing client certificate alerts after the client sent its request
    # (TLS 1.3): httpx lets that ssl.SSLError through as it is, and it escaped the client. The
    # MMSC's TLS layer passed nothing on: nothing was taken.
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    with pytest.raises(ConnectError, match="CERTIFICATE_REQUIRED"):
        async_submit_raising(alert, submit())


@pytest.mark.parametrize("asynchronous", [False, True])
def test_proxies_only_as_configured_never_from_the_environment(asynchronous, monkeypatch):
    def send(url, **kw):
        if not asynchronous:
            with client(url, retry=RetryPolicy.never(), **kw) as c:
                return c.submit(submit())

        async def main():
            async with AsyncClient(url, retry=RetryPolicy.never(), **kw) as c:
                return await c.submit(submit())

        return asyncio.run(main())

    dead = dead_url()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with FakeServer() as srv:  # an MMSC link does not go through a proxy an environment names
        assert send(srv.url).ok and srv.requests[0].path == "/mm7"
    with FakeServer() as proxy:  # ... but through one configured for it (a proxy sees the absolute URL)
        assert send("http://mmsc.example:8080/mm7", proxy=proxy.url.removesuffix("/mm7")).ok
        assert proxy.requests[0].path == "http://mmsc.example:8080/mm7"
    with pytest.raises(ConnectError):  # a proxy that cannot be reached: nothing went out
        send("http://mmsc.example:8080/mm7", proxy=dead.removesuffix("/mm7"))
    with pytest.raises(ValueError, match="proxy"):
        ClientConfig(urls=("http://x",), proxy="socks9://nowhere")


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_proxy_refusing_the_tunnel_is_a_failure_to_connect_from_both_clients(asynchronous):
    # Nothing reached an MMSC: the async client said TransportError (the MMSC may have it), so
    # no other MMSC was tried, and a resumed campaign or the outbox held the message as one
    # that may have arrived.
    from mm7bind.arrival import NOT_TAKEN, arrival

    from .fake_http import RefusingProxy

    store = MemoryStore()
    with RefusingProxy() as proxy, FakeServer() as other:
        settings = {"proxy": proxy.url, "store": store, "retry": RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0)}
        urls = ("https://mmsc-a.example/mm7", "https://mmsc-b.example/mm7")
        if asynchronous:
            async def main():
                async with AsyncClient(urls, **settings) as c:
                    await c.submit(submit())

            send = lambda: asyncio.run(main())
        else:
            def send():
                with client(urls, **settings) as c:
                    c.submit(submit())
        with pytest.raises(ConnectError, match="proxy") as failed:
            send()
        # (both MMSCs asked for, the second at once: a connection refused is a reason to go elsewhere)
        assert [line.rsplit(" ", 1)[0] for line in proxy.asked] == ["CONNECT mmsc-a.example:443",
                                                                  "CONNECT mmsc-b.example:443"]
        assert other.requests == []
    [rec] = store.sent()
    assert arrival(failed.value) == arrival(rec.error) == NOT_TAKEN and rec.error.startswith("ConnectError")


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_an_http_error_keeps_the_header_names_the_mmsc_gave(asynchronous):
    # httpx lowercases header names: an HTTPStatusError from the async client had no "Retry-After".
    reply = Reply(503, b"busy", {"Retry-After": "7", "X-Reason": "overload", "Content-Type": "text/plain"})
    with FakeServer(lambda req: reply) as srv:
        if asynchronous:
            async def main():
                async with AsyncClient(srv.url, retry=RetryPolicy.never()) as c:
                    await c.submit(submit())

            with pytest.raises(HTTPStatusError) as failed:
                asyncio.run(main())
        else:
            with client(srv.url, retry=RetryPolicy.never()) as c, pytest.raises(HTTPStatusError) as failed:
                c.submit(submit())
    headers = failed.value.headers
    assert headers["Retry-After"] == "7" and headers["X-Reason"] == "overload" and failed.value.retry_after == 7


def test_the_configuration_names_a_proxy(tmp_path):
    from mm7bind import config

    path = tmp_path / "c.toml"
    path.write_text('[mmsc]\nproxy = "http://sp:pw@proxy.example:3128"\n', encoding="utf-8")
    cfg, problems = config.load(str(path), env={})
    assert not [p for p in problems if p.level == "error"]
    assert cfg.client_settings()["proxy"] == "http://sp:pw@proxy.example:3128"
    assert "pw" not in repr(cfg) and "pw" not in repr(ClientConfig(**cfg.client_settings()))
    path.write_text('[mmsc]\nproxy = "proxy.example:3128"\n', encoding="utf-8")
    _, problems = config.load(str(path), env={})
    assert [p.where for p in problems if p.level == "error"] == ["mmsc.proxy"]
    assert config.Config().client_settings()["proxy"] is None


def test_a_closed_async_client_refuses_to_send_and_records_nothing():
    store = MemoryStore()

    async def main():
        with FakeServer() as srv:
            c = AsyncClient(srv.url, store=store)
            await c.aclose()
            with pytest.raises(RuntimeError, match="closed"):
                await c.submit(submit())
        assert srv.requests == []

    asyncio.run(main())
    assert store.sent() == []  # (nothing went out: no record of a request the MMSC may have)


def test_a_closed_client_refuses_to_send_as_the_async_one_does_and_records_nothing():
    # The sync client went on sending after close(): requests' closed session dialled anew.
    store = MemoryStore()
    with FakeServer() as srv:
        c = Client(srv.url, store=store)
        assert c.submit(submit()).ok
        c.close()
        with pytest.raises(RuntimeError, match="^the Client is closed: nothing more is sent$"):
            c.submit(submit(), transaction_id="tid-after-close")
        assert len(srv.requests) == 1
    assert "tid-after-close" not in [r.transaction_id for r in store.sent()]  # (nothing went: nothing recorded)


def test_a_retry_the_closed_client_refuses_is_recorded_as_its_first_attempt_ended():
    # As the AsyncClient's: closed between two attempts, the first (timed out: the MMSC may have it) is recorded so.
    store = MemoryStore()
    with FakeServer(lambda req: Reply(delay=1.0)) as srv:
        c = Client(srv.url, store=store, read_timeout=0.2, retry=RetryPolicy(max_attempts=2, on_timeout=True),
                   sleep=lambda seconds: c.close())  # (closed while it waits to try again)
        with pytest.raises(RuntimeError, match="closed"):
            c.submit(submit(), transaction_id="tid-retry-refused")
        assert len(srv.requests) == 1
    [rec] = store.sent()
    assert rec.transaction_id == "tid-retry-refused" and rec.attempts == 1
    assert rec.error.startswith("SendInterrupted: RuntimeError while waiting to send to") and "may have" in rec.error


def test_closing_an_async_client_lets_the_requests_on_their_way_have_their_answers():
    # aclose() cut off a request the MMSC had and was answering: its answer was lost, and the send
    # recorded as one the MMSC may have taken (the sync client's close lets a send under way end).
    store = MemoryStore()

    async def main():
        with FakeServer(lambda req: Reply(**{**vars(default_responder(req)), "delay": 0.5})) as srv:
            c = AsyncClient(srv.url, store=store, retry=RetryPolicy.never())
            sending = asyncio.create_task(c.submit(submit(), transaction_id="tid-closing"))
            while not srv.requests:
                await asyncio.sleep(0.01)
            await c.aclose()
            assert (await sending).ok
            with pytest.raises(RuntimeError, match="closed"):  # (and nothing more goes out)
                await c.submit(submit())
            assert len(srv.requests) == 1

    asyncio.run(main())
    assert [(r.transaction_id, r.error) for r in store.sent()] == [("tid-closing", None)]


def test_a_retry_the_closed_async_client_refuses_is_recorded_as_its_first_attempt_ended():
    # Closed between two attempts, the client refused the second with a RuntimeError and recorded
    # nothing, though the first had timed out: the MMSC may have it, and the store did not say so.
    store = MemoryStore()

    async def main(url):
        c = AsyncClient(url, store=store, read_timeout=0.2, retry=RetryPolicy(max_attempts=2, on_timeout=True),
                        sleep=lambda seconds: c.aclose())  # (closed while it waits to try again)
        with pytest.raises(RuntimeError, match="closed"):
            await c.submit(submit(), transaction_id="tid-retry-refused")

    with FakeServer(lambda req: Reply(delay=1.0)) as srv:
        asyncio.run(main(srv.url))
        assert len(srv.requests) == 1
    [rec] = store.sent()
    assert rec.transaction_id == "tid-retry-refused" and rec.attempts == 1
    assert rec.error.startswith("SendInterrupted: RuntimeError while waiting to send to") and "may have" in rec.error


def test_an_async_client_kept_across_event_loops_says_it_serves_the_one_it_sent_on():
    # Made once (a test fixture's) and used in one asyncio.run after another, its second send failed
    # with httpcore's "Event loop is closed", and so did its aclose(): the connections it kept were
    # the first loop's. Said in words that tell what to do; nothing sent or recorded.
    store = MemoryStore()
    with FakeServer() as srv:
        c = AsyncClient(srv.url, store=store)
        assert asyncio.run(c.submit(submit())).ok
        for doing, again in (("send", lambda: c.submit(submit())), ("close", c.aclose)):
            with pytest.raises(RuntimeError) as err:
                asyncio.run(again())
            assert str(err.value) == (
                f"this AsyncClient cannot {doing} from another event loop than the one it first sent on (since "
                "closed): its connections are that loop's. Make the AsyncClient in the coroutine that uses it "
                "(async with AsyncClient(...) inside asyncio.run), one for each event loop")
        assert len(srv.requests) == 1 and len(store.sent()) == 1

    async def closed_where_made():  # (and on its own loop, as ever: sent, closed, refused as closed)
        async with AsyncClient(srv.url) as other:
            assert (await other.submit(submit())).ok
        with pytest.raises(RuntimeError, match="closed: nothing more is sent"):
            await other.submit(submit())

    with FakeServer() as srv:
        asyncio.run(closed_where_made())


def test_pool_size_bounds_the_connections_to_an_mmsc_however_many_threads_send():
    # More threads than pool_size wait for a pooled connection: they did open one each, then drop
    # it (with a warning per request), so the connections an MMSC saw were unbounded.
    from concurrent.futures import ThreadPoolExecutor

    with FakeServer(lambda req: Reply(**{**vars(default_responder(req)), "delay": 0.02})) as srv:
        with client(srv.url, pool_size=2) as c, ThreadPoolExecutor(16) as pool:
            assert all(pool.map(lambda _: c.submit(submit()).ok, range(200)))
        assert len(srv.requests) == 200 and len({r.peer_port for r in srv.requests}) <= 2


def test_every_way_an_exchange_ends_gives_its_pooled_connection_back():
    # With one pooled connection, a send after any failure would wait for ever if one kept it.
    import threading

    from .fake_http import times_out_once

    gave_up = threading.Event()
    answers = iter([None, Reply(hold=gave_up), Reply(drop=True), Reply(503), Reply(302, b"", {"Location": "/x"}),
                    Reply(200, b"<html/>", {"Content-Type": "text/html"}), Reply(500, b"x" * 5000)])

    def responder(req):
        return next(answers, None) or default_responder(req)

    outcomes = []

    def sends():
        auth = mm7.auth.DigestAuth("sp", "secret")
        with FakeServer(responder, auth=auth) as srv, client(srv.url, pool_size=1, username="sp", password="secret",
                                                             auth="digest", max_answer_bytes=4000,
                                                             retry=RetryPolicy.never()) as c:
            # (the first send gets the nonce: the second, timing out, waits 0.3 s for its held
            # answer alone, not for a challenge too)
            outcomes.append(c.submit(submit()).ok)
            times_out_once(c, gave_up)
            for _ in range(8):
                try:
                    outcomes.append(c.submit(submit()).ok)
                except mm7.errors.SendError as exc:
                    outcomes.append(type(exc).__name__)
        with client(dead_url(), pool_size=1, retry=RetryPolicy.never()) as c:
            for _ in range(2):
                with pytest.raises(ConnectError):
                    c.submit(submit())
                outcomes.append("ConnectError")

    worker = threading.Thread(target=sends, daemon=True)
    worker.start()
    worker.join(60)  # (a hang guard, not a measure: each step takes well under a second)
    assert outcomes == [True, "RequestTimeout", "TransportError", "HTTPStatusError", "HTTPStatusError", "ProtocolError",
                        "ProtocolError", True, True, "ConnectError", "ConnectError"]


def test_async_sends_beyond_pool_size_wait_for_a_connection_without_timing_out_unsent():
    # Many tasks on one AsyncClient: those waiting for one of pool_size connections timed out as if
    # the MMSC had not answered (RequestTimeout: it may have it), though they were never sent.
    async def main(srv):
        async with AsyncClient(srv.url, pool_size=1, connect_timeout=0.5, read_timeout=1,
                               retry=RetryPolicy(max_attempts=1, on_timeout=False)) as c:
            return await asyncio.gather(*[c.submit(submit()) for _ in range(24)], return_exceptions=True)

    with FakeServer(lambda req: Reply(**{**vars(default_responder(req)), "delay": 0.1})) as srv:
        results = asyncio.run(main(srv))
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len(srv.requests) == 24 and len({r.peer_port for r in srv.requests}) == 1


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_pool_size_is_per_mmsc_not_per_url(asynchronous):
    # Two URLs of one MMSC (two paths at one host and port) are one MMSC's connections, as requests
    # pools them; the async client allowed pool_size for each URL, so the MMSC saw twice as many.
    from concurrent.futures import ThreadPoolExecutor

    with FakeServer(lambda req: Reply(**{**vars(default_responder(req)), "delay": 0.05})) as srv:
        urls = (srv.url, srv.url.replace("/mm7", "/mm7-b"))
        if asynchronous:
            async def main():
                async with AsyncClient(urls, pool_size=1, round_robin=True, retry=RetryPolicy.never()) as c:
                    return await asyncio.gather(*[c.submit(submit()) for _ in range(8)])

            results = asyncio.run(main())
        else:
            with client(urls, pool_size=1, round_robin=True) as c, ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: c.submit(submit()), range(8)))
        assert all(r.ok for r in results) and {r.path for r in srv.requests} == {"/mm7", "/mm7-b"}
        assert len({r.peer_port for r in srv.requests}) == 1


def test_a_url_without_its_port_names_the_same_mmsc_as_one_with_the_default_port():
    # The async client's connection limit is kept per MMSC: "http://h/mm7" and "http://h:80/x"
    # took two limits, so that MMSC could see twice pool_size connections.
    from mm7bind.client import _origin

    assert _origin("http://mmsc.example/mm7") == _origin("http://MMSC.example:80/other") == ("http", "mmsc.example", 80)
    assert _origin("https://mmsc.example/mm7") == _origin("https://mmsc.example:443/mm7")
    assert _origin("https://mmsc.example/mm7") != _origin("http://mmsc.example/mm7")
    assert _origin("http://mmsc.example:8080/mm7") != _origin("http://mmsc.example/mm7")


@pytest.mark.parametrize("mode", ["digest", "auto"])
def test_async_digest_under_concurrent_sends(mode):
    # Concurrent requests signed from one nonce reach the MMSC over several connections, their
    # counts out of order: an MMSC refusing a count below one it saw (replay protection) refused
    # them again after the fresh challenge, and the sends failed with HTTP 401.
    auth = mm7.auth.DigestAuth("sp", "secret")

    async def main(url):
        async with AsyncClient(url, username="sp", password="secret", auth=mode, pool_size=8,
                               retry=RetryPolicy.never()) as c:
            await c.submit(submit())  # (the nonce is known from here on)
            for _ in range(3):
                results = await asyncio.gather(*[c.submit(submit()) for _ in range(60)], return_exceptions=True)
                assert [r for r in results if isinstance(r, BaseException)] == []

    with FakeServer(auth=auth) as srv:
        asyncio.run(main(srv.url))
        assert len(srv.requests) == 181


def test_an_mmsc_trickling_its_headers_times_out_as_a_whole():
    # read_timeout bounds the whole answer, its head too: requests' timeout is per read, so a
    # head arriving a byte at a time held the sync client (64 KiB a header line, 100 lines).
    import threading

    from .fake_http import HeaderTricklingServer

    outcome = []

    def send(url):
        with client(url, connect_timeout=1, read_timeout=1, retry=RetryPolicy.never()) as c:
            try:
                c.submit(submit())
            except mm7.errors.SendError as exc:
                outcome.append(type(exc))

    with HeaderTricklingServer() as slow:
        worker = threading.Thread(target=send, args=(slow.url,), daemon=True)
        worker.start()
        worker.join(30)  # (a hang guard, not a measure: the answer is due within 2 s)
        assert outcome == [RequestTimeout]

        async def send_async():  # the same for the asyncio client
            async with AsyncClient(slow.url, read_timeout=1, connect_timeout=1, retry=RetryPolicy.never()) as c:
                await c.submit(submit())

        with pytest.raises(RequestTimeout):
            asyncio.run(send_async())


def _framed(kind):
    import gzip
    import zlib

    def frame(ctype, body):
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
        if kind.startswith("gzip"):  # (two members: as gzip tools write a file appended to; padding after)
            half = len(body) // 2
            body = gzip.compress(body) if kind == "gzip" else gzip.compress(body[:half]) + gzip.compress(body[half:])
            body += bytes(8) if kind == "gzip-two-members-padded" else b""
            return f"{head}Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        if kind in ("deflate", "raw-deflate"):  # (with its zlib wrapper, as HTTP says, or without, as some write it)
            packer = zlib.compressobj(wbits=zlib.MAX_WBITS if kind == "deflate" else -zlib.MAX_WBITS)
            body = packer.compress(body) + packer.flush()
            return f"{head}Content-Encoding: deflate\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        if kind == "chunked":
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100]) for i in range(0, len(body), 100))
            return f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n"
        if kind == "line-end-past-its-length":  # (Content-Length without the line end written after the XML)
            return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body + b"\r\n"
        if kind == "close-without-length":
            return f"{head}Connection: close\r\n\r\n".encode() + body
        if kind == "100-continue-first":
            return f"HTTP/1.1 100 Continue\r\n\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        if kind in ("102-processing-first", "103-early-hints-first"):  # (the answer a moment later)
            interim = b"HTTP/1.1 102 Processing\r\n\r\n" if kind.startswith("102") else \
                b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            return [interim, f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body]
        raise AssertionError(kind)

    return frame


@pytest.mark.parametrize("kind", ["gzip", "gzip-two-members", "gzip-two-members-padded", "deflate", "raw-deflate", "chunked", "close-without-length",
                                  "100-continue-first", "102-processing-first", "103-early-hints-first",
                                  "line-end-past-its-length"])
@pytest.mark.parametrize("asynchronous", [False, True])
def test_answers_framed_every_way_http_allows(kind, asynchronous):
    # (an interim answer taken for the answer left the real one on the kept-alive connection,
    # where the next request read it as its own: each result must carry its own TransactionID)
    from .fake_http import FramingServer

    async def send_async(url):
        async with AsyncClient(url, retry=RetryPolicy.never()) as c:
            return [await c.submit(submit()) for _ in range(3)]

    with FramingServer(_framed(kind)) as srv:
        if asynchronous:
            results = asyncio.run(send_async(srv.url))
        else:
            with client(srv.url, retry=RetryPolicy.never()) as c:
                results = [c.submit(submit()) for _ in range(3)]
    assert [(r.ok, r.message_id, r.deviations) for r in results] == [(True, "framed", [])] * 3


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_compressed_answer_is_inflated_in_bounded_pieces(asynchronous):
    """A gzip answer is counted against max_answer_bytes as it is inflated; httpx inflated each
    network read whole first, and 64 KiB of a gzip bomb is 64 MiB held before any limit counts."""
    import tracemalloc
    import zlib

    from .fake_http import FramingServer

    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    bomb = b"".join(packer.compress(bytes(1 << 20)) for _ in range(256)) + packer.flush()  # 256 MiB of zeros

    def frame(ctype, body):
        return (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Encoding: gzip\r\n"
                f"Content-Length: {len(bomb)}\r\n\r\n").encode() + bomb

    async def send_async(url):
        async with AsyncClient(url, retry=RetryPolicy.never()) as c:
            await c.submit(submit())

    with FramingServer(frame) as srv:
        tracemalloc.start()
        try:
            with pytest.raises(ProtocolError, match="larger than"):
                if asynchronous:
                    asyncio.run(send_async(srv.url))
                else:
                    with client(srv.url, retry=RetryPolicy.never()) as c:
                        c.submit(submit())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 32 * 2**20  # (the limit is 4 MiB; a network read inflated whole was 64 MiB and more)


def _interrupting(condition):
    """A context in which the main thread gets a KeyboardInterrupt (as from Ctrl-C) once
    `condition()` holds: a signal's handler raises it, whatever the thread is blocked in."""
    import contextlib
    import os
    import signal
    import threading

    def interrupt(*_):
        raise KeyboardInterrupt

    def watch():
        while not condition():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)

    @contextlib.contextmanager
    def context():
        before = signal.signal(signal.SIGUSR1, interrupt)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            watcher.join(30)
            signal.signal(signal.SIGUSR1, before)

    return context()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_while_waiting_for_a_pooled_connection_leaves_the_send_unsent_and_the_pool_whole(caplog):
    # urllib3 gave back a connection slot the interrupted send never took: the pool had one too
    # many, and the other send, its answer (1000) come, failed as it gave its connection back
    # (TransportError: sent again by a retry); the interrupted one was recorded as one the MMSC
    # may have taken.
    import threading

    store = MemoryStore()
    outcome = []
    released = threading.Event()  # (the first send's answer held until the queued one was interrupted)

    def held(req):
        released.wait(30)
        return default_responder(req)

    with FakeServer(held) as srv, client(srv.url, pool_size=1, store=store, retry=RetryPolicy.never()) as c:
        out = threading.Thread(target=lambda: outcome.append(c.submit(submit(), transaction_id="tid-out").ok))
        out.start()
        while not srv.requests:  # (the one connection is taken)
            time.sleep(0.01)
        pools = c.session.get_adapter(srv.url).poolmanager.pools
        [slots] = [pools[key].pool for key in pools.keys()]  # noqa: SIM118 (its iteration is refused)
        try:
            with caplog.at_level(logging.INFO, logger="mm7bind.client"), \
                    _interrupting(lambda: slots.not_empty._waiters), pytest.raises(KeyboardInterrupt):
                c.submit(submit(), transaction_id="tid-queued")  # (waits its turn for the connection)
        finally:
            released.set()
        out.join(30)
        assert outcome == [True]
        assert c.submit(submit(), transaction_id="tid-next").ok  # (the pool serves on)
    assert [r.decode().transaction_id for r in srv.requests] == ["tid-out", "tid-next"]
    assert [(r.transaction_id, r.error) for r in store.sent()] == [("tid-out", None), ("tid-next", None)]
    assert any("tid-queued: KeyboardInterrupt before it was sent" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("proxy_kind", ["silent", "hanging up"])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_proxy_leaving_the_tunnel_request_unanswered_is_a_failure_to_connect(asynchronous, proxy_kind):
    # Both clients read the proxy's silence as a read timeout (RequestTimeout), its hanging up as a
    # connection lost (TransportError): "the MMSC may have it", so the same MMSC was tried again
    # after a wait, not the next, and the outbox or a resumed campaign held the message as one that
    # may have arrived, though no MMSC had seen any of it.
    from mm7bind.arrival import NOT_TAKEN, arrival

    from .fake_http import HangingUpProxy, SilentProxy

    store = MemoryStore()
    urls = ("https://mmsc-a.example/mm7", "https://mmsc-b.example/mm7")
    slept = Sleeps()
    with (SilentProxy if proxy_kind == "silent" else HangingUpProxy)() as proxy:
        settings = {"proxy": proxy.url, "store": store, "connect_timeout": 0.3, "read_timeout": 0.3,
                    "retry": RetryPolicy(max_attempts=2, backoff=1.0, jitter=0.0)}
        if asynchronous:
            async def no_sleep(seconds):
                slept.append(seconds)

            async def main():
                async with AsyncClient(urls, sleep=no_sleep, **settings) as c:
                    await c.submit(submit())

            send = lambda: asyncio.run(main())
        else:
            def send():
                with client(urls, sleep=slept, **settings) as c:
                    c.submit(submit())
        with pytest.raises(ConnectError, match="proxy (did not answer|closed the connection without answering)"
                           " our tunnel request") as failed:
            send()
        assert [line.rsplit(" ", 1)[0] for line in proxy.asked] == ["CONNECT mmsc-a.example:443",
                                                                  "CONNECT mmsc-b.example:443"]
        assert slept == []  # (the next MMSC at once, as after a refused connection)
    [rec] = store.sent()
    assert arrival(failed.value) == arrival(rec.error) == NOT_TAKEN and rec.attempts == 2


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_send_interrupted_while_its_tunnel_is_opened_is_not_one_the_mmsc_may_have(asynchronous, caplog):
    from .fake_http import SilentProxy

    store = MemoryStore()
    settings = {"store": store, "retry": RetryPolicy.never(), "connect_timeout": 5, "read_timeout": 5}
    with SilentProxy() as proxy, caplog.at_level(logging.INFO, logger="mm7bind.client"):
        if asynchronous:
            async def main():
                async with AsyncClient("https://mmsc.example/mm7", proxy=proxy.url, **settings) as c:
                    task = asyncio.create_task(c.submit(submit(), transaction_id="tid-tunnel"))
                    while not proxy.asked:
                        await asyncio.sleep(0.01)
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task

            asyncio.run(main())
        else:
            with client("https://mmsc.example/mm7", proxy=proxy.url, **settings) as c, \
                    _interrupting(lambda: proxy.asked), pytest.raises(KeyboardInterrupt):
                c.submit(submit(), transaction_id="tid-tunnel")
    assert store.sent() == []
    assert any("tid-tunnel: " in r.getMessage() and "before it was sent" in r.getMessage() for r in caplog.records)


def test_the_async_client_encodes_a_large_message_off_its_event_loop(monkeypatch):
    # Encoding (its files read, the MIME written and joined) ran on the event loop: for a message of
    # tens of megabytes, every other task on the loop stopped meanwhile (sends timing out).
    import threading

    from mm7bind import client as client_module
    from mm7bind.codec import HttpMessage

    ran_on = []
    encode, to_bytes = client_module.encode, HttpMessage.to_bytes

    def encoding(*args, **kw):
        ran_on.append(("encode", threading.current_thread()))
        return encode(*args, **kw)

    def joining(self):
        ran_on.append(("to_bytes", threading.current_thread()))
        return to_bytes(self)

    monkeypatch.setattr(client_module, "encode", encoding)
    monkeypatch.setattr(HttpMessage, "to_bytes", joining)
    picture = bytes(range(256)) * (8 * 1024)  # 2 MiB
    msg = submit(content=mm7.Content(parts=[mm7.Part.from_bytes(picture, "image/jpeg")]))

    async def main():
        loop_thread = threading.current_thread()
        async with AsyncClient(srv.url, retry=NO_WAIT) as c:
            assert (await c.submit(msg)).ok
        return loop_thread

    with FakeServer() as srv:
        loop_thread = asyncio.run(main())
        [got] = srv.requests
    assert got.decode().body.content.parts[0].data == picture
    assert {what for what, _ in ran_on} == {"encode", "to_bytes"}
    assert all(thread is not loop_thread for _, thread in ran_on)


@pytest.mark.parametrize("retry_after", ["250", "3600"])
def test_a_send_claim_outlasts_a_send_waiting_out_the_mmscs_retry_after(retry_after):
    # The lease of a send claim (and of an outbox item) counted the pauses between attempts as
    # max_backoff at most, but an MMSC's Retry-After is waited out up to max_retry_after: a sender
    # doing so outlived its claim, and another run of the campaign sent the request too.
    from datetime import timedelta

    from mm7bind import sendonce

    with FakeServer(lambda req: Reply(503, b"", {"Retry-After": retry_after})) as srv:
        c = client(srv.url, connect_timeout=1, read_timeout=2, retry=RetryPolicy(max_attempts=3, jitter=0.2))
        with c, pytest.raises(HTTPStatusError):
            c.submit(submit())
    assert len(c.sleeps) == 2 and c.sleeps[0] >= 250
    worst = 3 * (2 * c.config.connect_timeout + c.config.read_timeout) + sum(c.sleeps)
    assert sendonce.exchange_time(c.config) >= worst
    assert sendonce.lease(c.config) >= timedelta(seconds=worst)


def test_a_large_request_s_attempt_is_counted_with_its_upload_at_the_minimum_rate():
    """A send's deadline (`sending_until`: an outbox item's lease, a campaign's claim) counted
    every attempt's upload as `upload_timeout`, whatever the request's size: a large one, given
    longer to go out (`upload_min_rate`), could end past it."""
    from mm7bind import sendonce
    from mm7bind.client import NoTimeLeft, sending_until

    config = ClientConfig(("http://mmsc.example/mm7",), upload_timeout=10, upload_min_rate=1000)
    assert sendonce.upload_time(config, 5000) == 10 and sendonce.upload_time(config, 50_000) == 50
    assert sendonce.attempt_time(config, 50_000) == sendonce.attempt_time(config) + 40
    assert sendonce.lease(config, 10_000_000) > sendonce.lease(config) + dt.timedelta(hours=5)
    assert sendonce.upload_time(dataclasses.replace(config, upload_min_rate=None), 50_000) == 10
    with pytest.raises(ValueError, match="upload_min_rate"):
        ClientConfig(("http://mmsc.example/mm7",), upload_min_rate=0)

    large = submit(content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * 100_000, "application/octet-stream")]))
    with FakeServer() as srv, \
            client(srv.url, connect_timeout=1, read_timeout=2, upload_timeout=1, upload_min_rate=1000) as c:
        with sending_until(time.monotonic() + 60):  # (an attempt of a small one fits, not of 100 kB at 1 kB/s)
            assert c.submit(submit()).ok
            with pytest.raises(NoTimeLeft):
                c.submit(large)
    assert len(srv.requests) == 1


def test_the_wait_for_a_pooled_connection_does_not_count_against_the_answers_deadline():
    # The sync client started the answer's deadline before waiting its turn for a connection: a
    # sender behind another's exchange timed out on an MMSC answering within read_timeout —
    # RequestTimeout, "the MMSC may have it", and sent again by a retry.
    import threading

    first_in, first_answers, second_waits = threading.Event(), threading.Event(), threading.Event()

    def responder(req):  # (the first exchange lasts until the second sender has waited past its read_timeout)
        first = not first_in.is_set()
        first_in.set()
        return Reply(**{**vars(default_responder(req)), "hold": first_answers if first else None})

    def sender():
        try:
            outcomes.append(c.submit(submit()).ok)
        except Exception as e:  # noqa: BLE001 (kept, to be shown by the assert)
            outcomes.append(e)

    outcomes = []
    with FakeServer(responder) as srv, \
            client(srv.url, pool_size=1, connect_timeout=5, read_timeout=30, retry=RetryPolicy.never()) as c:
        first = threading.Thread(target=sender)
        first.start()
        assert first_in.wait(30)
        # The second's read_timeout: 2 s (the first's 30 s, read as it started, stays its own).
        c.transport.operation_timeout = (5, 2.0)
        pools = c.transport.session.get_adapter(srv.url).poolmanager.pools
        (slots,) = [pools[key].pool for key in pools.keys()]  # noqa: SIM118 (its iteration is refused; the first's, its one slot taken)
        taking = slots.get

        def waiting_its_turn(*args, **kwargs):
            second_waits.set()
            return taking(*args, **kwargs)

        slots.get = waiting_its_turn
        second = threading.Thread(target=sender)
        second.start()
        assert second_waits.wait(30)
        time.sleep(2.1)  # (not a synchronisation: its turn comes past 2 s, counted from before its wait)
        first_answers.set()
        first.join(30)
        second.join(30)
    assert outcomes == [True, True] and len(srv.requests) == 2


@pytest.mark.parametrize(("message", "where", "char"), [
    (mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000000", "1\n2"])), "to[2]: the address '1\\n2'", "000A"),
    (mm7.SubmitReq(recipients=mm7.Recipients(to="1", bcc=[mm7.ShortCode("10\x0065")])),
     "bcc[1]: the address '10\\x0065'", "0000"),
    (mm7.SubmitReq(recipients=["1"], sender_address=mm7.RFC2822Address("a@b.c\u2028X: y")), "sender_address:", "2028"),
    (mm7.ReplaceReq(message_id="m1", sender_address=mm7.Number("1\x7f")), "sender_address:", "007F"),
    # (nor one XML cannot carry at all: named as the caller knows it, not by its place in the XML)
    (mm7.SubmitReq(recipients=mm7.Recipients(to=["1", "2\ufffe3"])), "to[2]: the address '2\\ufffe3'", "FFFE"),
    # (at an end too: taken off as white space, the message went to another address than written)
    (mm7.SubmitReq(recipients=["+8613800000000\x1f"]), "to[1]: the address '+8613800000000\\x1f'", "001F"),
    (mm7.SubmitReq(recipients=["1"], sender_address="\u20281065"), "sender_address: the address '\\u20281065'",
     "2028"),
])
def test_an_address_with_a_control_character_is_not_sent(message, where, char):
    """XML carries a line break, DEL or U+2028 as it is: the MMSC got "1\\n2" and refused or misrouted it."""
    from mm7bind.simulator import Simulator

    with Simulator() as sim, client(sim.url) as c:
        with pytest.raises(mm7.EncodeError) as err:
            c.send(message)
        assert str(err.value).startswith(where) and f"(U+{char})" in str(err.value), err.value
        assert str(err.value).isprintable()  # (shown escaped: a log line is not split)
        assert sim.messages == {}


def test_an_address_is_read_without_the_white_space_around_it():
    """A line's end, a cell's padding, an ideographic space: taken off; a control character is not
    (`test_an_address_with_a_control_character_is_not_sent`)."""
    for written in (" +8613800000000\r\n", "\t+8613800000000", "+8613800000000\u3000", "\xa0+8613800000000"):
        assert mm7.Address.parse(written) == mm7.Number("+8613800000000")
        assert mm7.messages.written_address(written) == "+8613800000000"
    assert mm7.Address.parse("\x1ca@b.c").value == "\x1ca@b.c"
    assert mm7.messages.written_address("Number: 1065\x85") == mm7.Number("1065\x85")


def test_a_received_address_with_a_control_character_is_read_as_it_came():
    """Strict out, tolerant in: a DeliverReq whose sender holds a line break decodes."""
    deliver = mm7.DeliverReq(sender=mm7.Number("1\n2"), recipients=["1065888"])
    http = mm7.encode(deliver, transaction_id="t1")  # (the MMSC's message: not ours to refuse)
    got = mm7.decode(http.body.to_bytes(), http.content_type).body
    assert got.sender.value == "1\n2"


def test_a_send_with_a_deadline_ends_with_the_status_it_was_answered_with_when_no_attempt_fits():
    """`sending_until` (what holds an outbox's send within its lease) ends a send whose next
    attempt could end past the deadline as after its last attempt: an MMSC's "later" (4006) is the
    Result given and recorded, not lost for want of an error to raise."""
    from mm7bind.client import NoTimeLeft, sending_until
    from mm7bind.sendonce import attempt_time

    def busy(req):
        return mm7_reply(mm7.SubmitRsp(message_id="busy", status=mm7.Status(4006)), req.decode())

    store = MemoryStore()
    with FakeServer(busy) as srv:
        # (a read timeout of seconds, each answer its whole bound: the deadlines are counted from
        # the attempts' worst time, not the answers' pace)
        c = Client(srv.url, store=store, connect_timeout=0.2, read_timeout=5, upload_timeout=0.2,
                   retry=RetryPolicy(max_attempts=20, backoff=0.5, factor=1.0, jitter=0.0, fail_over_codes=frozenset()))
        with c:
            worst = attempt_time(c.config)
            assert worst == pytest.approx(10.6)
            with sending_until(time.monotonic() + worst + 0.8):
                r = c.submit(submit(), transaction_id="tid-deadline")
            with sending_until(time.monotonic() + worst - 0.2), pytest.raises(NoTimeLeft):  # (not even one: nothing sent)
                c.submit(submit(), transaction_id="tid-none")
    assert r.status.code == 4006 and 1 <= r.attempts < 20 and len(srv.requests) == r.attempts
    [rec] = store.sent()
    assert (rec.transaction_id, rec.status_code, rec.attempts) == ("tid-deadline", 4006, r.attempts)


def test_a_blank_vaspid_to_fill_in_is_refused_where_it_is_given(tmp_path):
    """ClientConfig(vaspid="") (or "  ", or [vasp] vaspid = " ") filled every request with
    <VASPID></VASPID>: valid to the schema, answered 4001 by MMSCs once it had gone out. Refused
    when the client is made and by `config check`; None (and the file's "") sends none."""
    from mm7bind import config

    for blank in ("", "  ", "\t"):
        with pytest.raises(ValueError) as err:
            ClientConfig(urls=("http://127.0.0.1:9/mm7",), vaspid=blank)
        assert str(err.value) == f"vaspid {blank!r} is blank: give the VASP's ID, or None to send none"
    assert ClientConfig(urls=("http://127.0.0.1:9/mm7",), vaspid=None).vaspid is None
    (tmp_path / "c.toml").write_text('[mmsc]\nurls = ["http://127.0.0.1:9/mm7"]\n[vasp]\nvaspid = " "\n', encoding="utf-8")
    cfg, problems = config.load(tmp_path / "c.toml", env={})
    assert [str(p) for p in problems if p.level == "error"] == [
        "error: vasp.vaspid: ' ' is blank: it would go as an empty VASPID, which MMSCs refuse (4001); give the VASP's "
        "ID, or leave it out"]
    cfg.vasp.vaspid = ""
    assert config.check(cfg) == [] and cfg.make_client().config.vaspid is None


def test_a_blank_vasid_or_service_code_to_fill_in_is_refused_as_a_blank_vaspid_is(tmp_path):
    """ClientConfig(vasid=" ") and service_code=" " (a [vasp] key, a variable, left blank) were
    taken and filled into every request as <VASID> </VASID> and <ServiceCode> </ServiceCode>: an
    identity and a billing code of nothing. Refused as a blank vaspid is, when the client is made
    and by `config check`; None (and the file's "") sends none."""
    from mm7bind import config

    for name, what in (("vasid", "the service's ID"), ("service_code", "the service code")):
        for blank in ("", "  ", "\t"):
            with pytest.raises(ValueError) as err:
                ClientConfig(urls=("http://127.0.0.1:9/mm7",), **{name: blank})
            assert str(err.value) == f"{name} {blank!r} is blank: give {what}, or None to send none"
        assert getattr(ClientConfig(urls=("http://127.0.0.1:9/mm7",), **{name: "1065"}), name) == "1065"
    (tmp_path / "c.toml").write_text('[mmsc]\nurls = ["http://127.0.0.1:9/mm7"]\n[vasp]\nvasid = " "\n'
                                     'service_code = "\t"\n', encoding="utf-8")
    cfg, problems = config.load(tmp_path / "c.toml", env={})
    assert [str(p) for p in problems if p.level == "error"] == [
        "error: vasp.vasid: ' ' is blank: it would go as an empty VASID; give one, or leave it out",
        "error: vasp.service_code: '\\t' is blank: it would go as an empty ServiceCode; give one, or leave it out"]
    cfg.vasp.vasid = cfg.vasp.service_code = ""
    assert config.check(cfg) == []
    made = cfg.make_client().config
    assert (made.vasid, made.service_code) == (None, None)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_connection_idle_past_idle_timeout_is_dialled_again_and_one_within_it_reused(asynchronous):
    """A NAT or firewall forgetting an idle connection silently made the next request on it wait
    out read_timeout (China Mobile's KeepAliveTimeout, 50 s, had no effect): a connection idle
    longer than idle_timeout is dialled again. (The async client's expired after httpx's 5 s.)"""

    def ports(srv, **kw) -> list[int]:
        async def main():
            async with AsyncClient(srv.url, retry=NO_WAIT, **kw) as c:
                for _ in range(2):
                    assert (await c.submit(submit())).ok
                    await asyncio.sleep(0.4)

        if asynchronous:
            asyncio.run(main())
        else:
            with client(srv.url, **kw) as c:
                for _ in range(2):
                    assert c.submit(submit()).ok
                    time.sleep(0.4)
        return [r.peer_port for r in srv.requests[-2:]]

    with FakeServer() as srv:
        first, second = ports(srv, idle_timeout=0.1)
        assert first != second  # (idle 0.4 s: a new connection)
        first, second = ports(srv)  # (the default, 50 s)
        assert first == second
        first, second = ports(srv, idle_timeout=None)
        assert first == second
    for wrong in (0, -1, math.nan, "50", True, 1e10):
        with pytest.raises(ValueError, match="idle_timeout"):
            ClientConfig(urls=("http://127.0.0.1:9/mm7",), idle_timeout=wrong)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_message_whose_mm7version_is_of_a_later_release_than_the_peers_is_sent_with_a_warning(asynchronous,
                                                                                                  caplog):
    """6.8.0 in a REL-5-MM7-1-2 request: its x.y.z pattern takes it, so it went without a word, and
    an MMSC that checks one against the other (a strict mm7bind's: 4002) refused every one. Said
    once for the value; the profile's own MM7Version, and one of the namespace's release, are not."""
    profile = mm7.profiles.STANDARD.replace(version="REL-5-MM7-1-2")
    later, same = submit(mm7_version="6.8.0"), submit(mm7_version="5.5.0")
    with FakeServer() as srv, caplog.at_level(logging.WARNING, logger="mm7bind.client"):
        if asynchronous:
            async def send():
                async with AsyncClient(srv.url, profile=profile) as c:
                    return [await c.submit(msg) for msg in (later, later, same)]
            results = asyncio.run(send())
        else:
            with client(srv.url, profile=profile) as c:
                results = [c.submit(msg) for msg in (later, later, same)]
    assert all(r.ok for r in results)
    assert [r.decode().body.mm7_version for r in srv.requests] == ["6.8.0", "6.8.0", "5.5.0"]  # (sent as they are)
    said = [r.getMessage() for r in caplog.records if "MM7Version" in r.getMessage()]
    assert said == [("SubmitReq carries MM7Version 6.8.0, of Release 6, sent in REL-5-MM7-1-2 (Release 5): an MMSC "
                     "that checks the one against the other refuses it (4002); said once for this value")]
    caplog.clear()
    own = mm7.profiles.STANDARD.replace(version="REL-5-MM7-1-2", mm7_version="6.3.0")  # (config check's to say)
    with FakeServer() as srv, client(srv.url, profile=own) as c, \
            caplog.at_level(logging.WARNING, logger="mm7bind.client"):
        assert c.submit(submit()).ok and c.submit(submit(mm7_version="6.3.0")).ok
    assert not [r for r in caplog.records if "MM7Version" in r.getMessage()]


@pytest.mark.parametrize("on_timeout", [True, False])
def test_a_500_whose_body_is_no_readable_fault_goes_as_a_500_without_one(on_timeout):
    """A Fault cut short looks like a refusal ("Client") but is none we read: a 500 without a Fault,
    which the MMSC may have taken — sent again as the policy says (`on_timeout`), not taken for the
    final refusal its first bytes suggest. The error says why no Fault was read; its cause is that."""
    from mm7bind.errors import MalformedXMLError

    body = (b'<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
            b"<e:Fault><faultcode>e:Client</faultcode><faultstring>bad recip")
    policy = dataclasses.replace(NO_WAIT, on_timeout=on_timeout)
    with FakeServer(lambda req: Reply(500, body, {"Content-Type": "text/xml"})) as srv, \
            client(srv.url, retry=policy) as c, pytest.raises(HTTPStatusError) as err:
        c.submit(submit())
    assert err.value.status == 500 and len(srv.requests) == err.value.attempts == (3 if on_timeout else 1)
    assert isinstance(err.value.__cause__, MalformedXMLError)
    assert "<faultstring>bad recip (no Fault read from it: SOAP envelope: not well-formed XML" in str(err.value)
    assert str(err.value).endswith("(the MMSC may have taken it: TransactionID "
                                   f"{srv.requests[0].decode().transaction_id})")


def test_a_store_that_cannot_record_sends_is_one_error_an_incident_and_one_warning_after(caplog):
    """A full disk under a campaign: each accepted send not recorded was an ERROR line, thousands of
    them on the disk that is full. One ERROR as it begins, the rest counted (DEBUG), one WARNING
    with the count once a send is recorded again; a store failing otherwise is a new incident."""
    import logging

    failing = ["disk full"]

    class Full(MemoryStore):
        def record_sent(self, rec):
            if failing:
                raise OSError(failing[0])
            super().record_sent(rec)

    store = Full()
    with FakeServer() as srv, client(srv.url, store=store) as c, caplog.at_level(logging.INFO, "mm7bind.client"):
        assert all(c.submit(submit()).ok for _ in range(3))
        failing[:] = []
        assert c.submit(submit()).ok and len(store.sent()) == 1
        failing[:] = ["read-only file system"]
        assert c.submit(submit()).ok
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert [level for level, _ in said] == ["ERROR", "WARNING", "ERROR"], said
    assert "could not be recorded in the store: OSError: disk full; further ones" in said[0][1]
    assert said[1][1].startswith("the store records sends again: 3 not recorded over ")
    assert said[1][1].endswith("(OSError: disk full)") and "read-only file system" in said[2][1]


def test_a_store_whose_earlier_sends_cannot_be_read_is_one_warning_an_incident_and_one_after(caplog):
    """A send that names its TransactionID asks the store where an earlier send of it went; a store
    that could not be read was a WARNING for every send of a campaign. One as it begins, the rest
    counted, one with the count once the store is read again; another error is a new incident."""
    import logging

    failing = ["database is locked"]

    class Locked(MemoryStore):
        def sent_by_transaction_id(self, transaction_id):
            if failing:
                raise sqlite3.OperationalError(failing[0])
            return super().sent_by_transaction_id(transaction_id)

    store = Locked()
    with FakeServer() as srv, client(srv.url, store=store) as c, caplog.at_level(logging.INFO, "mm7bind.client"):
        assert all(c.submit(submit(), transaction_id=f"t-{n}").ok for n in range(3))
        failing[:] = []
        assert c.submit(submit(), transaction_id="t-3").ok
        failing[:] = ["disk I/O error"]
        assert c.submit(submit(), transaction_id="t-4").ok
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert [level for level, _ in said] == ["WARNING", "WARNING", "WARNING"], said
    assert said[0][1].startswith("tid=t-0: its earlier sends could not be read from the store, sent as new: "
                                 "OperationalError: database is locked; further ones are counted")
    assert said[1][1].startswith("the store's earlier sends are read again: 3 sent as new over ")
    assert said[1][1].endswith("(OperationalError: database is locked)") and "disk I/O error" in said[2][1]
    assert len(store.sent()) == 5  # (each sent, and recorded)


def test_a_retry_after_date_without_a_zone_is_gmt_whatever_the_local_time_zone(monkeypatch):
    """An HTTP-date is GMT in each of its three forms; the asctime one ("Wed Oct 21 07:28:00 2015",
    which RFC 9110 has a recipient accept) names no zone, nor does one ending "-0000": they were
    read as local time, and on a machine in UTC+8 a Retry-After of a minute asked for none at all
    (or, west of Greenwich, for hours, up to `max_retry_after`)."""
    import time as time_module

    gmt = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time_module.tzset()
    try:
        for value in ("Wed Oct 21 07:28:00 2015", "Wed, 21 Oct 2015 07:28:00 -0000",
                      "Wednesday, 21-Oct-15 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"):
            assert parse_retry_after(value, now=gmt - 60) == 60, value
    finally:
        monkeypatch.undo()
        time_module.tzset()


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_urls_and_settings_given_with_a_config_apply_over_it(asynchronous):
    """`Client(config, read_timeout=3)`, `Client(url, config=config)`: they were dropped for the
    config's own, silently; now they apply over it, checked as the config checks them."""
    cls = mm7.AsyncClient if asynchronous else mm7.Client
    config = mm7.ClientConfig(urls=("http://127.0.0.1:1/mm7",), read_timeout=9)
    made = [cls(config, read_timeout=3), cls("http://127.0.0.1:2/mm7", config=config),
            cls(["http://127.0.0.1:3/mm7"], config=config, max_answer_bytes=4096)]
    try:
        assert made[0].config.read_timeout == 3 and made[0].config.urls == config.urls
        assert made[1].config.urls == ("http://127.0.0.1:2/mm7",) and made[1].config.read_timeout == 9
        assert made[2].config.urls == ("http://127.0.0.1:3/mm7",) and made[2].config.max_answer_bytes == 4096
        assert config.read_timeout == 9 and config.urls == ("http://127.0.0.1:1/mm7",)  # (left as it was)
        with pytest.raises(ValueError, match="read_timeout"):
            cls(config, read_timeout=-1)
        with pytest.raises(TypeError, match="read_timeout"):
            cls(config, read_timout=1)
        with pytest.raises(TypeError, match="twice"):
            cls(config, config=config)
        alone = cls(config)
        made.append(alone)
        assert alone.config is config  # (nothing over it: the very object)
    finally:
        for client in made:
            if asynchronous:
                asyncio.run(client.aclose())
            else:
                client.close()


@pytest.mark.parametrize("pieces", [1, 7])
def test_a_gzip_answer_of_members_each_inflating_past_a_step_is_inflated_once(pieces):
    """The async client inflates an answer `step` bytes at a time: when a member ended in a call
    after one that met that bound, zlib holds what follows it in both `unconsumed_tail` and
    `unused_data`, and the next member was inflated twice (`<soap/>` came out twice)."""
    import gzip

    from mm7bind.client import _inflated

    first, second = b"<a>" + b"x" * 200_000 + b"</a>", b"<soap/>" * 3
    raw = gzip.compress(first) + gzip.compress(second)

    class Answer:
        request = None

        async def aiter_raw(self):
            size = -(-len(raw) // pieces)
            for i in range(0, len(raw), size):
                yield raw[i:i + size]

    async def inflate():
        return b"".join([out async for out in _inflated(Answer(), "gzip")])

    assert asyncio.run(inflate()) == first + second


def test_the_async_driver_gives_a_shared_turn_back_to_the_store_in_a_worker_thread(tmp_path):
    """`GiveBack` (a send whose deadline the turn's wait would pass) carried out by the async
    driver: the turn goes back to the store it came from, written off the event loop."""
    from mm7bind.client import _given_back, _take_turn

    store = SqliteStore(tmp_path / "s.db")
    limiter = SharedRateLimiter(store, "mmsc", 0.001)
    loop_threads = []

    async def main():
        loop_threads.append(threading.get_ident())
        first, second = await _take_turn(limiter), await _take_turn(limiter)
        assert (first.own, second.own) == (False, False) and first.wait == 0 and second.wait > 900
        await _given_back(limiter, second)  # (its send not made: the next one takes its place)
        return await _take_turn(limiter)

    written_in = []
    real = store.rate_give_back

    def give_back(*args):
        written_in.append(threading.get_ident())
        return real(*args)

    store.rate_give_back = give_back
    again = asyncio.run(main())
    assert again.wait > 900 and again.wait < 1001  # (the turn given back, not a third one after it)
    assert written_in and written_in[0] != loop_threads[0]
    store.close()


def test_an_html_page_answering_is_said_by_its_title_not_its_markup():
    """A web server or proxy where the MMSC was expected: its page came quoted raw into the error,
    `HTTP 404 from ...: <!DOCTYPE html> <html lang="en"> <head> <meta charset=...` cut at 200
    characters, and one answered with HTTP 200 was "DOCTYPE or ENTITY declarations are not allowed
    in SOAP messages". Said by the page's title (its text without tags when it has none)."""
    page = (b'<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n  <title>Not Found &middot; '
            b"nginx</title>\n  <style>body { font-family: sans-serif; }</style>\n</head>\n<body>\n<h1>Not Found</h1>"
            b"\n</body>\n</html>\n")
    untitled = b"<html><head><style>h1 {}</style></head><body><h1>Service\n  Unavailable</h1><p>Try later.</p></body></html>"
    for status, body, ctype, said in (
            (404, page, "text/html", ': an HTML page: "Not Found · nginx"'),
            (500, untitled, "text/html", ': an HTML page: "Service Unavailable Try later."'),
            (200, page, "text/xml", 'unreadable answer (HTTP 200): an HTML page: "Not Found · nginx", not MM7')):
        with FakeServer(lambda req, s=status, b=body, t=ctype: Reply(s, b, {"Content-Type": t})) as srv, \
                client(srv.url, retry=RetryPolicy(max_attempts=1)) as c, \
                pytest.raises((HTTPStatusError, ProtocolError)) as err:
            c.submit(submit())
        assert said in str(err.value) and "<" not in str(err.value), str(err.value)
        assert err.value.body == body  # (the bytes kept whole, to look at)
