"""What a send comes to against an MMSC answering badly, slowly or not at all: the same from the
sync `Client` and the `AsyncClient` (its result, its error and that error's words, what is retried,
what is recorded and logged)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import socket
import sys
import threading
import time

import pytest

import mm7bind as mm7
from mm7bind import bulk
from mm7bind import client as client_module
from mm7bind.arrival import MAY_HAVE_ARRIVED, NOT_TAKEN, arrival, may_have_arrived
from mm7bind.client import AsyncClient, Client
from mm7bind.errors import ConnectError, FaultError, HTTPStatusError, ProtocolError, RequestTimeout, TransportError
from mm7bind.retry import RetryPolicy
from mm7bind.store import MemoryStore

from .fake_http import (
    CrawlingUploadServer,
    FakeServer,
    HeaderTricklingServer,
    RawServer,
    Reply,
    SilentServer,
    TricklingServer,
    _head_fields,
    dead_url,
    port_refused_once_closed,
    read_request,
    scripted,
    times_out_once,
)

BOTH = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
AGAIN = RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0)


def submit() -> mm7.SubmitReq:
    return mm7.SubmitReq(recipients=["+8613800000000"], subject="parity")


def send(asynchronous: bool, url: str, msg: mm7.SubmitReq | None = None, *,
         gave_up: threading.Event | None = None, **settings) -> mm7.Result:
    """One SubmitReq (`msg`, else `submit()`'s) from either client: its Result, or the error it
    raised. `gave_up`: its first request alone waits 0.3 s for its answer (`times_out_once`; to be
    answered `Reply(hold=gave_up)`), every other its read_timeout."""
    settings.setdefault("retry", AGAIN)
    msg = msg or submit()
    if asynchronous:
        async def main():
            async with AsyncClient(url, **settings) as c:
                if gave_up is not None:
                    times_out_once(c, gave_up)
                return await c.submit(msg, transaction_id="tid-parity")

        return asyncio.run(main())
    with Client(url, **settings) as c:
        if gave_up is not None:
            times_out_once(c, gave_up)
        return c.submit(msg, transaction_id="tid-parity")


# -- another request's answer -----------------------------------------------------------------


def answering_with(tid):
    def answer(req):
        out = mm7.encode(mm7.SubmitRsp(message_id="not-ours"), transaction_id=tid, version=req.decode().version)
        return Reply(200, out.to_bytes(), {"Content-Type": out.content_type})

    return answer


@BOTH
def test_an_answer_carrying_another_requests_transaction_id_is_not_taken_for_ours(asynchronous):
    # (a kept-alive connection or a proxy mixing answers up: its MessageID is another message's, so
    # reports, a cancel or a replace would go to the wrong one; what became of ours is unknown)
    store = MemoryStore()
    with FakeServer(answering_with("someone-else")) as srv, pytest.raises(ProtocolError) as err:
        send(asynchronous, srv.url, store=store)
    assert "another request's" in str(err.value) and "someone-else" in str(err.value)
    assert "accept_transaction_id_mismatch" in str(err.value)
    # It may have taken ours: not sent again, and said so.
    assert len(srv.requests) == 1 and may_have_arrived(err.value)
    assert str(err.value).endswith("(the MMSC may have taken it: TransactionID tid-parity)")
    [rec] = store.sent()
    assert rec.message_id is None and may_have_arrived(rec.error)


@BOTH
def test_an_mmsc_writing_a_transaction_id_of_its_own_can_be_accepted(asynchronous, caplog):
    with FakeServer(answering_with("its-own")) as srv, caplog.at_level(logging.WARNING, logger="mm7bind.client"):
        r = send(asynchronous, srv.url, accept_transaction_id_mismatch=True)
    assert r.ok and r.message_id == "not-ours" and [d.code for d in r.deviations] == ["transaction-id-mismatch"]
    assert (r.transaction_id, r.answer_transaction_id) == ("tid-parity", "its-own")  # (ours, and the MMSC's)
    assert [x.getMessage().partition(": sent")[0] for x in caplog.records] == [f"TransactionID mismatch from {srv.url}"]


@BOTH
def test_an_answer_without_a_transaction_id_is_taken_with_its_deviations(asynchronous):
    # (InstantCom echoes none: nothing tells the answer to be another's)
    with FakeServer(answering_with("")) as srv:
        r = send(asynchronous, srv.url)
    assert r.ok and r.message_id == "not-ours"
    assert {"missing-transaction-id", "transaction-id-mismatch"} <= {d.code for d in r.deviations}
    assert r.answer_transaction_id is None


def faulting_with(tid):
    fault = mm7.Fault(code="Client", string="Address Error", detail=mm7.RSErrorRsp(status=mm7.Status(2002)))

    def answer(req):
        out = mm7.encode(fault, transaction_id=tid, version=req.decode().version)
        return Reply(500, out.to_bytes(), {"Content-Type": out.content_type})

    return answer


@BOTH
def test_a_fault_carrying_another_requests_transaction_id_is_not_taken_for_our_refusal(asynchronous):
    # (taken for ours, a request whose fate is unknown ended as refused, for good: the outbox failed it)
    with FakeServer(faulting_with("someone-else")) as srv, pytest.raises(ProtocolError) as err:
        send(asynchronous, srv.url, retry=RetryPolicy.never())
    assert "the Fault from" in str(err.value) and "someone-else" in str(err.value)
    assert "accept_transaction_id_mismatch" in str(err.value) and may_have_arrived(err.value)
    with FakeServer(faulting_with("its-own")) as srv, pytest.raises(FaultError) as taken:
        send(asynchronous, srv.url, accept_transaction_id_mismatch=True)
    assert taken.value.status.code == 2002


@BOTH
@pytest.mark.parametrize("placeholder", ["0000", "0"])
def test_a_fault_with_a_placeholder_transaction_id_is_taken_as_one_with_none(asynchronous, placeholder):
    # (Mbuni writes "0000" in a Fault about a request whose TransactionID it could not read)
    with FakeServer(faulting_with(placeholder)) as srv, pytest.raises(FaultError) as err:
        send(asynchronous, srv.url)
    assert err.value.status.code == 2002 and len(srv.requests) == 1


def test_the_configuration_can_accept_an_mmscs_own_transaction_ids(tmp_path):
    from mm7bind import config

    path = tmp_path / "c.toml"
    path.write_text("[mmsc]\naccept_transaction_id_mismatch = true\n", encoding="utf-8")
    cfg, problems = config.load(str(path), env={})
    assert not [p for p in problems if p.level == "error"]
    assert cfg.client_settings()["accept_transaction_id_mismatch"] is True
    assert config.Config().client_settings()["accept_transaction_id_mismatch"] is False


# -- a message that may have gone twice -------------------------------------------------------


@BOTH
@pytest.mark.parametrize("first", ["timeout", "lost", "gateway-504", "error-page-500"])
def test_a_result_after_an_attempt_that_got_no_answer_says_the_mmsc_may_have_it_twice(asynchronous, first, caplog):
    gave_up = threading.Event()  # (the first attempt's answer held until it timed out; the second's due at once)
    reply = {"timeout": Reply(hold=gave_up), "lost": Reply(drop=True), "gateway-504": Reply(504),
             "error-page-500": Reply(500, b"<html>oops</html>", {"Content-Type": "text/html"})}[first]
    with FakeServer(scripted(reply)) as srv, caplog.at_level(logging.INFO, logger="mm7bind.client"):
        r = send(asynchronous, srv.url, gave_up=gave_up if first == "timeout" else None)
    assert r.ok and r.attempts == 2 and r.earlier_unanswered
    [line] = [x for x in caplog.records if x.name == "mm7bind.client" and x.levelno >= logging.WARNING]
    assert "may have taken it twice" in line.getMessage() and line.mm7["earlier_unanswered"] is True


@BOTH
def test_a_result_after_attempts_nobody_took_says_nothing_of_a_second_copy(asynchronous, caplog):
    with FakeServer(scripted(Reply(503))) as srv, caplog.at_level(logging.INFO, logger="mm7bind.client"):
        r = send(asynchronous, srv.url)
    assert r.ok and r.attempts == 2 and not r.earlier_unanswered
    line = [x for x in caplog.records if x.name == "mm7bind.client"][-1]
    assert line.levelno == logging.INFO and "twice" not in line.getMessage() and not line.mm7["earlier_unanswered"]
    with FakeServer() as srv:
        assert not send(asynchronous, srv.url).earlier_unanswered


@BOTH
def test_an_http_500_without_a_fault_may_have_arrived(asynchronous):
    # (the MMSC's application failed somewhere in handling it, perhaps once it had queued it: an
    # MMSC refusing a request says so in a Fault)
    page = Reply(500, b"<html>NullPointerException</html>", {"Content-Type": "text/html"})
    with FakeServer(lambda req: page) as srv, pytest.raises(HTTPStatusError) as err:
        send(asynchronous, srv.url)
    assert len(srv.requests) == 2  # retried, as a timeout is, by default
    assert may_have_arrived(err.value) and "(the MMSC may have taken it: TransactionID tid-parity)" in str(err.value)
    with FakeServer(lambda req: page) as srv, pytest.raises(HTTPStatusError):
        send(asynchronous, srv.url, retry=RetryPolicy(max_attempts=3, backoff=0.0, on_timeout=False))
    assert len(srv.requests) == 1  # a second copy worse than none: not sent again


# -- timeouts, in words naming the setting ----------------------------------------------------


@BOTH
def test_no_answer_at_all_names_the_read_timeout(asynchronous):
    with SilentServer() as silent, pytest.raises(RequestTimeout) as err:
        send(asynchronous, silent.url, read_timeout=0.3, retry=RetryPolicy.never())
    assert f"timed out waiting for {silent.url}: no answer within 0.3 s (read_timeout)" in str(err.value)


class HearingSilentServer(SilentServer):
    """A SilentServer that reads each request whole first; `heard` is set once it has."""

    def __init__(self):
        super().__init__()
        self.heard = threading.Event()

    def answer(self, conn, stop):
        if read_request(conn) is not None:
            self.heard.set()
        super().answer(conn, stop)


def test_no_answer_at_all_is_said_so_by_an_async_client_held_up_past_its_bounds():
    # (its event loop held up past the read timeout, as on a loaded machine, the answer head's
    # bound, a little longer, ran out with it: a silent MMSC was said to have begun a head)
    with HearingSilentServer() as silent:
        async def main():
            async with AsyncClient(silent.url, read_timeout=0.3, retry=RetryPolicy.never()) as c:
                sending = asyncio.create_task(c.submit(submit(), transaction_id="tid-parity"))
                await asyncio.to_thread(silent.heard.wait, 30)
                time.sleep(1)  # noqa: ASYNC251 (the loop's thread held up: both bounds run out meanwhile)
                return await sending

        with pytest.raises(RequestTimeout) as err:
            asyncio.run(main())
    assert f"timed out waiting for {silent.url}: no answer within 0.3 s (read_timeout)" in str(err.value)


@BOTH
def test_an_answer_begun_and_never_finished_names_the_read_timeout(asynchronous):
    # (the async client read the body under httpx's per-read timeout only: a trickle held it for
    # the whole exchange's bound, connect_timeout + read_timeout, not read_timeout as the sync one)
    with TricklingServer() as slow, pytest.raises(RequestTimeout) as err:
        send(asynchronous, slow.url, connect_timeout=5, read_timeout=0.5, retry=RetryPolicy.never())
    assert "the answer began but did not come whole within 0.5 s (read_timeout)" in str(err.value)


@BOTH
def test_a_head_that_never_ends_names_the_read_timeout_from_the_request_sent(asynchronous):
    with HeaderTricklingServer() as slow, pytest.raises(RequestTimeout) as err:
        send(asynchronous, slow.url, connect_timeout=0.3, read_timeout=0.5, retry=RetryPolicy.never())
    assert "the answer's head did not come whole within 0.5 s of the request sent (read_timeout)" in str(err.value)


@BOTH
def test_a_connection_that_never_opens_names_the_connect_timeout(asynchronous):
    # A listener that never accepts, its queue full: the next handshake gets no answer.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        with pytest.raises(ConnectError) as err:
            send(asynchronous, f"http://127.0.0.1:{port}/mm7", connect_timeout=0.3, retry=RetryPolicy.never())
    finally:
        for s in fillers:
            s.close()
        listener.close()
    # (no refusal came back: not "nothing listens", which sent its user looking for a server down)
    assert str(err.value) == (f"cannot connect to http://127.0.0.1:{port}/mm7: nothing answered at 127.0.0.1:{port}: a "
                              "wrong host, or a firewall dropping the packets? (no connection within 0.3 s "
                              "(connect_timeout))")
    assert err.value.hint.startswith(client_module.SILENT_HINT)


@BOTH
def test_a_proxy_refusing_the_connection_is_named_not_the_mmsc(asynchronous):
    """Through a proxy, a refused connection is the proxy's: "nothing listens at" the MMSC's address
    sent its user to an MMSC that was never reached."""
    proxy = dead_url().removesuffix("/mm7")
    with pytest.raises(ConnectError) as err:
        send(asynchronous, "http://mmsc.example:8080/mm7", proxy=proxy, retry=RetryPolicy.never())
    assert err.value.hint == (f"nothing listens at the proxy's address {proxy.removeprefix('http://')}; is the proxy "
                              "up, and is that its port?"), str(err.value)


@BOTH
def test_a_host_name_that_does_not_resolve_says_so_first(asynchronous):
    # (.invalid never resolves, RFC 6761: the resolver answers at once, from any network or none)
    with pytest.raises(ConnectError) as err:
        send(asynchronous, "http://name.invalid:8080/mm7", retry=RetryPolicy.never())
    assert err.value.hint == "cannot resolve name.invalid: is the host name right?", str(err.value)
    assert err.value.hint.startswith(client_module.UNRESOLVED_HINT)
    assert str(err.value) == f"cannot connect to http://name.invalid:8080/mm7: {err.value.hint} ({err.value.detail})"


@BOTH
def test_a_proxy_name_that_does_not_resolve_is_named_not_the_mmsc(asynchronous):
    with pytest.raises(ConnectError) as err:
        send(asynchronous, "http://mmsc.example:8080/mm7", proxy="http://proxy.invalid:3128", retry=RetryPolicy.never())
    assert err.value.hint == "cannot resolve the proxy's host proxy.invalid: is the host name right?", str(err.value)


@BOTH
@pytest.mark.parametrize("code", [errno.EHOSTUNREACH, errno.ENETUNREACH], ids=["host", "network"])
def test_no_route_to_the_host_says_so_first(asynchronous, code, monkeypatch):
    # (no route cannot be had offline for certain: each connect fails as the kernel fails it then)
    class NoRoute(socket.socket):
        def connect(self, address):
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(socket, "socket", NoRoute)
    with pytest.raises(ConnectError) as err:
        send(asynchronous, "http://192.0.2.1:8080/mm7", retry=RetryPolicy.never())
    assert err.value.hint == "no route to 192.0.2.1: is the network up, the address right?", str(err.value)
    assert err.value.hint.startswith(client_module.UNREACHABLE_HINT)
    assert os.strerror(code) in err.value.detail


@BOTH
def test_a_tls_handshake_nobody_answers_names_the_connect_timeout(asynchronous):
    with SilentServer() as silent, pytest.raises(ConnectError) as err:
        send(asynchronous, silent.url.replace("http://", "https://"), connect_timeout=0.3, retry=RetryPolicy.never())
    assert str(err.value).endswith(
        ": the TLS handshake got no answer within 0.3 s (connect_timeout): an http port, not https?"), str(err.value)


class UnreadingServer(SilentServer):
    """Takes connections and reads nothing of what comes on them (its receive buffer small): a
    large request stalls on its way."""

    def __init__(self):
        super().__init__()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # (inherited by what it accepts)


@BOTH
def test_a_request_the_mmsc_stops_taking_names_the_read_timeout(asynchronous):
    # (the sync client's writes waited for the connect timeout, and a stall was said as a lost
    # connection, "Connection aborted: timed out"; the async client's as no answer within the read timeout)
    big = mm7.SubmitReq(recipients=["+8613800000000"],
                        content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * (8 * 1024 * 1024), "application/octet-stream")]))
    with UnreadingServer() as stuck, pytest.raises(RequestTimeout) as err:
        if asynchronous:
            async def main():
                async with AsyncClient(stuck.url, connect_timeout=0.2, read_timeout=0.5, retry=RetryPolicy.never()) as c:
                    await c.submit(big)

            asyncio.run(main())
        else:
            with Client(stuck.url, connect_timeout=0.2, read_timeout=0.5, retry=RetryPolicy.never()) as c:
                c.submit(big)
    assert "the MMSC took no more of the request for 0.5 s (read_timeout)" in str(err.value), str(err.value)


@BOTH
def test_a_request_the_socket_buffers_could_hold_still_goes_out_under_the_upload_s_bounds(asynchronous):
    """A request of 1 MiB fits the socket buffers the system grows for a connection (megabytes):
    it counted as uploaded once they took it, and an MMSC taking none of it was "no answer within
    read_timeout", the request's way to it (on a slow link, most of it) counted in the answer's
    time. The system now holds little of it unsent (`client.UNSENT_AT_MOST`, where it can)."""
    import socket

    if not hasattr(socket, "TCP_NOTSENT_LOWAT"):
        pytest.skip("no bound on the unsent bytes a connection holds here")
    part = mm7.Part.from_bytes(b"x" * (1024 * 1024), "application/octet-stream")
    big = mm7.SubmitReq(recipients=["+8613800000000"], content=mm7.Content(parts=[part]))
    settings = {"connect_timeout": 0.2, "read_timeout": 0.5, "retry": RetryPolicy.never()}
    with UnreadingServer() as stuck, pytest.raises(RequestTimeout) as err:
        send(asynchronous, stuck.url, big, **settings)
    assert "the MMSC took no more of the request for 0.5 s (read_timeout)" in str(err.value), str(err.value)


@BOTH
def test_a_request_the_mmsc_takes_very_slowly_ends_at_the_upload_timeout(asynchronous):
    """Each write taken in time (well within read_timeout), the whole upload not: without a bound on
    it, one send held on as long as the MMSC went on taking bytes, past any timeout (and an outbox's
    lease on the item)."""
    big = mm7.SubmitReq(recipients=["+8613800000000"],
                        content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * (8 * 1024 * 1024), "application/octet-stream")]))
    settings = {"connect_timeout": 1, "read_timeout": 5, "upload_timeout": 1, "upload_min_rate": None,
                "retry": RetryPolicy.never()}
    with CrawlingUploadServer() as slow, pytest.raises(RequestTimeout) as err:
        send(asynchronous, slow.url, big, **settings)
    assert "the request did not go out whole within 1 s (upload_timeout)" in str(err.value), str(err.value)
    assert slow.answered == 0
    # (its last byte never written, the MMSC cannot have it: a request not sent again as one that
    # may have arrived was never sent at all)
    assert not may_have_arrived(err.value) and err.value.partly_sent
    assert "(it did not go out whole: the MMSC cannot have taken it)" in str(err.value)


@BOTH
def test_a_large_request_s_upload_is_bounded_by_its_size_at_the_minimum_rate(asynchronous):
    """`upload_timeout` alone bounded every upload: a multi-MB message over a slow link failed at
    120 s whatever its size. A request larger than `upload_min_rate` bytes a second fill in that
    time is given as long as its bytes take at that rate, and the words say so."""
    big = mm7.SubmitReq(recipients=["+8613800000000"],
                        content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * (8 * 1024 * 1024), "application/octet-stream")]))
    settings = {"connect_timeout": 1, "read_timeout": 5, "upload_timeout": 1, "upload_min_rate": 4 * 1024 * 1024,
                "retry": RetryPolicy.never()}
    with CrawlingUploadServer() as slow, pytest.raises(RequestTimeout) as err:
        send(asynchronous, slow.url, big, **settings)
    size = err.value.args[0].partition("the request (")[2].partition(" bytes)")[0]
    assert int(size) > 8 * 1024 * 1024, str(err.value)
    assert f"did not go out whole within {int(size) / (4 * 1024 * 1024):g} s (upload_min_rate: 4194304 bytes a " \
           "second)" in str(err.value), str(err.value)
    assert slow.answered == 0


# -- other failures, in the same words --------------------------------------------------------


@BOTH
def test_a_refused_connection_says_it_was_refused(asynchronous):
    url = dead_url()
    with pytest.raises(ConnectError) as err:
        send(asynchronous, url, retry=RetryPolicy.never())
    # What to look at first: a wrong port, or the MMSC down ("Connection refused" alone said neither),
    # the library's words after it, in brackets (httpx says "All connection attempts failed" alone)
    where = url.split("//", 1)[1].split("/", 1)[0]
    hint = f"nothing listens at {where}; is the MMSC up, and is that its port?"
    assert str(err.value).startswith(f"cannot connect to {url}: {hint} ("), str(err.value)
    assert str(err.value).endswith(f"{os.strerror(errno.ECONNREFUSED)})"), str(err.value)
    # Apart too, for a program to say its own hint in place of the client's
    assert err.value.hint == hint and os.strerror(errno.ECONNREFUSED) in err.value.detail
    assert err.value.said(hint="HINT") == str(err.value).replace(hint, "HINT")
    assert repr(err.value) == f"ConnectError({str(err.value)!r})"  # (the whole words, not args' alone)
    assert isinstance(err.value.__cause__, Exception)  # (the library's own error kept beneath)


@BOTH
def test_a_connection_lost_before_the_answer_is_said_in_words_not_a_tuple(asynchronous):
    with FakeServer(lambda req: Reply(drop=True)) as srv, pytest.raises(TransportError) as err:
        send(asynchronous, srv.url, retry=RetryPolicy.never())
    said = str(err.value)
    assert said.startswith(f"HTTP exchange with {srv.url} failed: ") and "('" not in said and "Disconnected(" not in said
    # In our words, alike from both clients (urllib3: "Connection aborted: Remote end closed connection
    # without response", httpx: "Server disconnected without sending a response."), the cause kept.
    assert said.startswith((f"HTTP exchange with {srv.url} failed: the connection was closed without an answer",
                            f"HTTP exchange with {srv.url} failed: the connection was lost before an answer")), said
    assert err.value.__cause__ is not None


class CutShortServer(RawServer):
    """Answers every request with a head promising 100 bytes more than the body it sends, then
    closes the connection."""

    def answer(self, conn, stop):
        # The whole request read first: closed with some of it unread, the connection is reset,
        # and the reset may overtake the answer's bytes on their way to the client.
        if read_request(conn) is None:
            return
        body = b"<x/>"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s" % (len(body) + 100, body))
        conn.shutdown(socket.SHUT_WR)


class ResettingMidUploadServer(RawServer):
    """Reads each request's head, then closes its connection with the rest unread (a reset), as
    an MMSC giving up on a request it will not take whole."""

    def answer(self, conn, stop):
        _head_fields(conn, b"")


@BOTH
def test_a_connection_lost_while_the_request_goes_out_says_it_was_not_taken(asynchronous):
    """A connection lost before the request's last byte was written leaves the MMSC a part of it,
    which it cannot take for a request: said "may have arrived", such a send was not tried again
    with retries on timeout off, and a resumed campaign held its recipient back as maybe delivered.
    It is now not taken, and tried again as after a failure to connect."""
    big = mm7.SubmitReq(recipients=["+8613800000000"],
                        content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * (8 * 1024 * 1024), "application/octet-stream")]))
    store = MemoryStore()
    settings = {"store": store, "retry": RetryPolicy(max_attempts=2, backoff=0, on_timeout=False), "read_timeout": 5}
    with ResettingMidUploadServer() as srv, pytest.raises(TransportError) as err:
        if asynchronous:
            async def main():
                async with AsyncClient(srv.url, **settings) as c:
                    await c.submit(big, transaction_id="tid-cut")

            asyncio.run(main())
        else:
            with Client(srv.url, **settings) as c:
                c.submit(big, transaction_id="tid-cut")
    assert not isinstance(err.value, ConnectError) and err.value.partly_sent and err.value.attempts == 2
    assert not may_have_arrived(err.value) and "the MMSC may have taken it" not in str(err.value)
    [rec] = store.sent()
    assert not may_have_arrived(rec.error) and "did not go out whole" in rec.error


@BOTH
def test_an_answer_cut_short_is_said_once(asynchronous):
    # (urllib3's "Connection broken: IncompleteRead(...)" came with the IncompleteRead said again)
    with CutShortServer() as cut, pytest.raises(TransportError) as err:
        send(asynchronous, cut.url, retry=RetryPolicy.never())
    said = str(err.value)
    assert said.startswith(f"HTTP exchange with {cut.url} failed: ") and may_have_arrived(err.value)
    assert said.count("IncompleteRead") <= 1 and "('" not in said, said
    # In our words, alike from both clients (not urllib3's "Connection broken: IncompleteRead(4 bytes
    # read, 100 more expected)" nor httpx's "peer closed connection without sending complete message
    # body"), the library's error chained beneath.
    assert said.startswith(f"HTTP exchange with {cut.url} failed: the connection was lost with the answer cut "
                           "short: "), said
    assert "IncompleteRead" not in said and "Connection broken" not in said and "peer closed" not in said, said
    assert "4 bytes of its body came, 100 more were due" in said, said
    assert err.value.__cause__ is not None


def test_a_reset_the_async_transport_says_nothing_of_is_named_by_its_cause():
    import httpx

    from .fake_http import async_submit_raising

    reset = httpx.ReadError("")  # (as httpx reports a connection reset: no words of its own)
    reset.__cause__ = ConnectionResetError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
    with pytest.raises(TransportError) as err:
        async_submit_raising(reset, submit())
    said = str(err.value)
    assert f"failed: [Errno {errno.ECONNRESET}] {os.strerror(errno.ECONNRESET)} (the MMSC may have taken it" in said, said


# -- no other MMSC once one may have the message ----------------------------------------------


class SilentOnceServer(RawServer):
    """Takes one connection and never answers it, then stops listening: the next attempt finds the
    connection refused (an MMSC gone down after taking a request it never answered)."""

    def __init__(self):
        super().__init__(port=port_refused_once_closed())  # (refused once closed: nothing else takes its port)

    def _serve(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.listener.close()
        while not self.stop.wait(0.05):
            pass
        conn.close()


def test_a_server_on_a_port_kept_for_it_is_refused_once_stopped_and_its_port_is_given_to_no_other():
    # (what the tests of an MMSC gone down count on: their own port, freed, may be another's by then)
    port = port_refused_once_closed()
    with FakeServer(port=port) as srv:
        assert send(False, srv.url).ok
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as other, pytest.raises(OSError) as err:  # (still held: a port freed is bound here)
        other.bind(("127.0.0.1", port))
    assert err.value.errno == errno.EADDRINUSE



def test_a_trickling_server_once_stopped_is_refused_as_well():
    """Its listener, closed while its own thread waited in accept(), went on listening until that
    accept returned: the next connection was taken (and trickled to) where an MMSC gone down
    refuses it."""
    port = port_refused_once_closed()
    with TricklingServer(port=port), socket.create_connection(("127.0.0.1", port), timeout=5) as first:
        first.sendall(b"POST /mm7 HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert first.recv(65536).startswith(b"HTTP/1.1 200")  # (taken: its loop back in accept by now)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_raw_server_once_left_has_ended_its_answers_and_closed_their_connections():
    """An answer waiting on a connection its client kept open (for another request, as a
    FramingServer's does) ran on past the test that started it: once left, the server has shut
    that connection and its answer has returned."""
    reading, answering = threading.Event(), []

    def answer(conn, stop):
        answering.append(threading.current_thread())
        reading.set()
        conn.recv(65536)  # (for a request that never comes: the stop is not looked at)

    with RawServer(answer) as srv:
        client = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        assert reading.wait(5)
    with client:
        assert not answering[0].is_alive()
        assert client.recv(65536) == b""  # (closed: not a timeout)


@BOTH
def test_after_an_attempt_without_answer_a_refused_connection_does_not_send_it_to_another_mmsc(asynchronous):
    # The first MMSC may have the message: the second would deliver another copy, which nothing
    # could tell from the first. The send fails, saying the MMSC may have it.
    with SilentOnceServer() as first, FakeServer() as second, pytest.raises(ConnectError) as err:
        send(asynchronous, (first.url, second.url), read_timeout=0.3,
             retry=RetryPolicy(max_attempts=3, backoff=0.0, jitter=0.0))
    assert second.requests == [] and err.value.attempts == 3 and err.value.url == first.url
    assert err.value.earlier_unanswered and may_have_arrived(err.value)
    with FakeServer() as second:  # (nothing sent before: on to the next MMSC at once, as ever)
        assert send(asynchronous, (dead_url(), second.url)).url == second.url


@BOTH
def test_a_request_sent_again_goes_to_the_mmsc_that_may_have_it_from_an_earlier_send(asynchronous):
    # A new send of the same TransactionID (the outbox's next round, a resumed campaign, an API
    # request asked again) is the next attempt of the same request: the MMSC whose answer did not
    # come gets it, not the first one configured, which would deliver a second copy unrecognised.
    store, gave_up = MemoryStore(), threading.Event()
    with FakeServer(scripted(Reply(hold=gave_up))) as second:
        with pytest.raises(RequestTimeout):
            send(asynchronous, second.url, store=store, gave_up=gave_up, retry=RetryPolicy.never())
        with FakeServer() as first:
            r = send(asynchronous, (first.url, second.url), store=store)
        assert r.ok and r.url == second.url and r.attempts == 1 and r.earlier_unanswered
        assert first.requests == [] and len(second.requests) == 2
    assert [rec.earlier_unanswered for rec in store.sent()] == [False, True]
    with FakeServer() as first:  # (accepted: a request sent again after that is a new one's matter)
        assert send(asynchronous, (first.url, second.url), store=store).url == first.url


@BOTH
def test_a_request_sent_again_is_not_given_to_another_mmsc_while_the_one_that_may_have_it_takes_nothing(asynchronous):
    store, gave_up = MemoryStore(), threading.Event()
    with FakeServer(scripted(Reply(hold=gave_up)), port=port_refused_once_closed()) as silent:
        with pytest.raises(RequestTimeout):
            send(asynchronous, silent.url, store=store, gave_up=gave_up, retry=RetryPolicy.never())
    gone = silent.url  # (closed: connections refused, its port held by nothing else)
    with FakeServer() as other, pytest.raises(ConnectError) as err:
        send(asynchronous, (other.url, gone), store=store)
    assert other.requests == [] and err.value.url == gone and err.value.earlier_unanswered
    assert may_have_arrived(err.value) and store.sent()[-1].earlier_unanswered
    # An MMSC no longer configured is out of reach: the request goes as configured, said as perhaps twice.
    with FakeServer() as other:
        r = send(asynchronous, other.url, store=store)
    assert r.ok and r.url == other.url and r.earlier_unanswered


@BOTH
def test_a_refusal_after_an_attempt_that_got_no_answer_says_the_mmsc_may_have_it_all_the_same(asynchronous):
    # The Fault answers the repeat; the first attempt, unanswered, may have been taken.
    from mm7bind.errors import FaultError

    from .fake_http import mm7_reply

    def refuse(req):
        fault = mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=mm7.Status(4006)))
        return mm7_reply(fault, req.decode(), 500)

    gave_up = threading.Event()
    store = MemoryStore()
    with FakeServer(scripted(Reply(hold=gave_up), then=refuse)) as srv, pytest.raises(FaultError) as err:
        send(asynchronous, srv.url, store=store, gave_up=gave_up)
    assert err.value.status.code == 4006 and err.value.earlier_unanswered and may_have_arrived(err.value)
    assert "the MMSC may have taken it: TransactionID tid-parity" in str(err.value)
    [rec] = store.sent()
    assert rec.status_code == 4006 and rec.earlier_unanswered and may_have_arrived(rec.error)


@BOTH
def test_after_an_attempt_without_answer_an_unavailable_mmsc_is_waited_for_not_passed_over(asynchronous):
    gave_up = threading.Event()
    with FakeServer(scripted(Reply(hold=gave_up), Reply(503))) as first, FakeServer() as second:
        r = send(asynchronous, (first.url, second.url), gave_up=gave_up,
                 retry=RetryPolicy(max_attempts=3, backoff=0.0, jitter=0.0))
        assert r.ok and r.url == first.url and r.attempts == 3 and r.earlier_unanswered
        assert len(first.requests) == 3 and second.requests == []
    with FakeServer(scripted(Reply(503))) as first, FakeServer() as second:  # (a 503 alone: on at once)
        assert send(asynchronous, (first.url, second.url)).url == second.url


# -- an answer's head: one limit for both clients ---------------------------------------------


def answering_with_headers(count: int, size: int):
    """An MMSC whose (good) answer carries `count` more header fields with values of `size` bytes."""
    def answer(req):
        env = req.decode()
        out = mm7.encode(mm7.SubmitRsp(message_id="m-1"), transaction_id=env.transaction_id, version=env.version)
        extra = {f"X-Pad-{i}": "v" * size for i in range(count)}
        return Reply(200, out.to_bytes(), {"Content-Type": out.content_type, **extra})

    return answer


@BOTH
@pytest.mark.parametrize(("count", "size", "said"), [
    (101, 1, "more than 100 header fields"),  # (http.client's limit; h11 took any number)
    (60, 1200, "header fields of more than 65536 bytes"),  # (h11 took 100 KiB; http.client 100 of 64 KiB)
    (90, 1300, "header fields of more than 65536 bytes"),  # (past h11's own 100 KiB too)
])
def test_an_answer_head_past_the_limits_is_refused_alike(asynchronous, count, size, said):
    from mm7bind.client import MAX_ANSWER_HEAD_BYTES, MAX_ANSWER_HEADER_FIELDS

    assert (MAX_ANSWER_HEADER_FIELDS, MAX_ANSWER_HEAD_BYTES) == (100, 65536)
    with FakeServer(answering_with_headers(count, size)) as srv, pytest.raises(ProtocolError) as err:
        send(asynchronous, srv.url)
    assert str(err.value).startswith(f"answer from {srv.url} has {said}: not read further"), str(err.value)
    assert len(srv.requests) == 1 and may_have_arrived(err.value)


@BOTH
def test_an_answer_head_within_the_limits_is_read(asynchronous):
    # (the server's own Server, Date, Content-Type and Content-Length fields count too)
    with FakeServer(answering_with_headers(90, 600)) as srv:
        r = send(asynchronous, srv.url)
    assert r.ok and r.message_id == "m-1"


# -- the answer's time starts when the request is sent ----------------------------------------


class SlowReadingServer(RawServer):
    """Reads each request slowly (a link slower than the client) until `due` seconds from the
    connection have passed, then the rest at once, and answers with a SubmitRsp at once: the upload
    outlasts `due`, the answer comes as the request's last byte does.

    Slowly: at most the bytes due by then of all but the last `held` bytes, the request's pace set
    by the time passed, not by the reads done (under load, a reader pausing a fixed time after each
    read fell so far behind that a write of the client waited out its timeout). Until `due`, the
    client has more than `held` minus its send buffer and our receive buffer (4 MiB and 256 KiB at
    most, by Linux's defaults) left to write. The answer is made from the request's SOAP part
    beforehand: decoding the whole request after its last byte took long enough under load to miss
    the read timeout."""

    held = 12 * 1024 * 1024

    def __init__(self, due: float):
        super().__init__()
        self.due = due
        # (a small, fixed receive buffer, not an autotuned window of many MiB; inherited by what it accepts)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)

    def answer(self, conn, stop):
        started = time.monotonic()
        fields, body = _head_fields(conn, b"")
        length = int(fields["content-length"])
        assert length > self.held, length
        boundary = b"\r\n--" + re.search(r'boundary="?([^";]+)', fields["content-type"]).group(1).encode()
        while boundary not in body:  # (the first part, the SOAP envelope)
            body += conn.recv(16384)
        soap = body.split(boundary)[0].partition(b"\r\n\r\n")[2]
        env = mm7.decode(soap, "text/xml")
        out = mm7.encode(mm7.SubmitRsp(message_id="m-slow"), transaction_id=env.transaction_id, version=env.version)
        answer = out.to_bytes()
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                  % (out.content_type.encode(), len(answer), answer))
        size = len(body)
        while size < length:
            passed = time.monotonic() - started
            allowed = length if passed >= self.due else int((length - self.held) * passed / self.due)
            if size >= allowed:
                time.sleep(0.01)
                continue
            chunk = conn.recv(min(allowed - size, 1 << 20))
            if not chunk:
                return
            size += len(chunk)
        conn.sendall(answer)


@BOTH
def test_a_slow_upload_leaves_the_mmsc_its_whole_read_timeout_to_answer(asynchronous):
    # (the answer's deadline ran from the connection: a large SubmitReq taking longer to upload than
    # connect_timeout + read_timeout timed out although the MMSC answered at once once it had it)
    content = mm7.Content()
    content.add_bytes(os.urandom(24 * 1024 * 1024), "video/mp4", filename="clip.mp4")
    msg = mm7.SubmitReq(recipients=["+8613800000000"], subject="large", content=content)
    settings = {"connect_timeout": 0.5, "read_timeout": 1.5, "retry": RetryPolicy.never()}
    # Slow until both timeouts have run out from the connection (from the server's side of it: the
    # client's clock started earlier), however slowly the test runs.
    with SlowReadingServer(due=settings["connect_timeout"] + settings["read_timeout"]) as slow:
        if asynchronous:
            async def main():
                async with AsyncClient(slow.url, **settings) as c:
                    return await c.submit(msg, transaction_id="tid-slow")

            r = asyncio.run(main())
        else:
            with Client(slow.url, **settings) as c:
                r = c.submit(msg, transaction_id="tid-slow")
    assert r.ok and r.message_id == "m-slow"


class HoldingServer(SilentServer):
    """Reads each request's head, then the whole body (`whole`) or none of it (its receive buffer
    small: a large request stalls on its way), and never answers. `head` and `body` are set once
    the head, and the body whole, came."""

    def __init__(self, whole: bool):
        super().__init__()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # (inherited by what it accepts)
        self.whole, self.head, self.body = whole, threading.Event(), threading.Event()

    def answer(self, conn, stop):
        got = _head_fields(conn, b"")
        if got is None:
            return
        self.head.set()
        fields, size = got[0], len(got[1])
        while self.whole and size < int(fields["content-length"]):
            data = conn.recv(1 << 20)
            if not data:
                return
            size += len(data)
        if self.whole:
            self.body.set()
        stop.wait()


def _interrupted_send(srv: HoldingServer, msg: mm7.SubmitReq, asynchronous: bool, came: threading.Event,
                      store: MemoryStore) -> None:
    """`msg` sent to `srv`, interrupted once `came` is set: cancelled (the async client), or by
    Ctrl-C (the sync client: a signal's KeyboardInterrupt, whatever the send is blocked in)."""
    settings = {"store": store, "read_timeout": 60, "upload_timeout": 120, "upload_min_rate": None,
                "retry": RetryPolicy.never()}
    if asynchronous:
        async def main():
            async with AsyncClient(srv.url, **settings) as c:
                task = asyncio.create_task(c.submit(msg, transaction_id="tid-interrupted"))
                while not came.is_set():
                    await asyncio.sleep(0.01)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

        asyncio.run(main())
        return
    import signal

    def interrupt(*_):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGUSR1, interrupt)
    watcher = threading.Thread(target=lambda: came.wait(30) and os.kill(os.getpid(), signal.SIGUSR1), daemon=True)
    try:
        with Client(srv.url, **settings) as c, pytest.raises(KeyboardInterrupt):
            watcher.start()
            c.submit(msg, transaction_id="tid-interrupted")
    finally:
        watcher.join(30)
        signal.signal(signal.SIGUSR1, before)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("size", [900 * 1024, 8 * 1024 * 1024], ids=["joined", "streamed"])
@BOTH
def test_a_send_interrupted_before_its_request_went_out_whole_is_recorded_as_not_taken(asynchronous, size):
    """Ctrl-C or a cancellation before the request's last byte was written leaves the MMSC a part
    of it at most, which it cannot take: it was recorded as SendInterrupted, "may have taken it",
    and a resumed campaign, the outbox and the send API held it back as maybe delivered. It is not
    taken now, as a connection lost mid-upload is."""
    if size < 1024 * 1024 and not hasattr(socket, "TCP_NOTSENT_LOWAT"):
        pytest.skip("a request of this size may go whole into the system's socket buffer")
    msg = mm7.SubmitReq(recipients=["+8613800000000"],
                        content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * size, "application/octet-stream")]))
    store = MemoryStore()
    with HoldingServer(whole=False) as srv:
        _interrupted_send(srv, msg, asynchronous, srv.head, store)
        assert not srv.body.is_set()
    [rec] = store.sent()
    assert rec.transaction_id == "tid-interrupted" and rec.status_code is None and rec.attempts == 1
    assert rec.error.startswith("SendInterrupted: " + ("CancelledError" if asynchronous else "KeyboardInterrupt")
                                + " while sending to "), rec.error
    assert arrival(rec.error) == NOT_TAKEN and "(it did not go out whole: the MMSC cannot have taken it)" in rec.error
    assert "may have taken it" not in rec.error
    # (sent again as new: no MMSC is held to as the one that may have it; a resumed campaign does
    # not hold it back as maybe delivered)
    assert Client(srv.url, store=store).core.earlier_unanswered_at("tid-interrupted") is None
    assert not bulk._maybe_arrived(rec)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@BOTH
def test_a_send_interrupted_after_its_request_went_out_whole_is_recorded_as_one_the_mmsc_may_have(asynchronous):
    msg = mm7.SubmitReq(recipients=["+8613800000000"],
                        content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * (900 * 1024), "application/octet-stream")]))
    store = MemoryStore()
    with HoldingServer(whole=True) as srv:
        _interrupted_send(srv, msg, asynchronous, srv.body, store)
    [rec] = store.sent()
    assert rec.error.startswith("SendInterrupted: " + ("CancelledError" if asynchronous else "KeyboardInterrupt")
                                + " while waiting for the answer from "), rec.error
    assert arrival(rec.error) == MAY_HAVE_ARRIVED and "may have taken it" in rec.error
    assert Client(srv.url, store=store).core.earlier_unanswered_at("tid-interrupted") == srv.url
    assert bulk._maybe_arrived(rec)


@BOTH
def test_a_send_interrupted_as_its_last_byte_is_written_is_one_the_mmsc_may_have(asynchronous, monkeypatch):
    """Once the request's last piece is handed to the connection, an interruption may come with all
    of it written (a sendall checks for signals after its last write; asyncio's transport may
    flush what it was given): said not taken, a request the MMSC took would be sent again as new."""
    from mm7bind import client as client_module

    store = MemoryStore()
    msg = mm7.SubmitReq(recipients=["+8613800000000"],
                        content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * (300 * 1024), "application/octet-stream")]))
    with FakeServer() as srv:
        if asynchronous:
            pieces = client_module._pieces_class()

            class CancelledAtTheLast(pieces):
                async def __aiter__(self):
                    async for piece in super().__aiter__():
                        if self.last:  # (the last piece: cancelled before httpx writes it)
                            asyncio.current_task().cancel()
                        yield piece

            monkeypatch.setattr(client_module, "_pieces_class", lambda: CancelledAtTheLast)

            async def main():
                async with AsyncClient(srv.url, store=store, retry=RetryPolicy.never()) as c:
                    with pytest.raises(asyncio.CancelledError):
                        await c.submit(msg, transaction_id="tid-last")

            asyncio.run(main())
        else:
            import http.client

            send, sent = http.client.HTTPConnection.send, {}

            def send_then_interrupt(conn, data):  # (a Ctrl-C coming as the write of the last byte ends)
                send(conn, data)
                sent[conn] = sent.get(conn, b"") + bytes(data)
                head, _, body = sent[conn].partition(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    raise KeyboardInterrupt

            monkeypatch.setattr(http.client.HTTPConnection, "send", send_then_interrupt)
            with Client(srv.url, store=store, retry=RetryPolicy.never()) as c, pytest.raises(KeyboardInterrupt):
                c.submit(msg, transaction_id="tid-last")
    [rec] = store.sent()
    assert arrival(rec.error) == MAY_HAVE_ARRIVED and "may have taken it" in rec.error, rec.error


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@BOTH
def test_a_send_interrupted_before_its_request_went_out_whole_after_one_that_may_have_arrived_says_so(asynchronous):
    """A part of this attempt is none, but the MMSC may have the earlier send of it (its record
    says no answer came): what the record of the interrupted one says too."""
    big = mm7.SubmitReq(recipients=["+8613800000000"],
                        content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * (8 * 1024 * 1024), "application/octet-stream")]))
    store = MemoryStore()
    with HoldingServer(whole=True) as srv:
        _interrupted_send(srv, big, asynchronous, srv.body, store)
    with HoldingServer(whole=False) as srv:
        _interrupted_send(srv, big, asynchronous, srv.head, store)
    rec = store.sent_by_transaction_id("tid-interrupted")
    assert arrival(rec.error) == MAY_HAVE_ARRIVED and "may have taken it" in rec.error, rec.error


@BOTH
def test_a_prepared_request_is_sent_as_it_was_encoded(asynchronous, monkeypatch):
    """`prepare` encodes a message once (its size known before it goes: a claim's lease counts
    it); `send` of what it made sends those bytes, under its TransactionID and tag, encoding
    nothing again. Another TransactionID given beside it is refused: the body carries its own."""
    from mm7bind import client as client_module
    encodes = []
    encode = client_module.encode
    monkeypatch.setattr(client_module, "encode", lambda *a, **kw: encodes.append(1) or encode(*a, **kw))
    store = MemoryStore()
    msg = mm7.SubmitReq(recipients=["+8613800000000"], content=mm7.Content(parts=[
        mm7.Part.from_bytes(b"x" * 200_000, "application/octet-stream")]))  # (streamed: past STREAM_ABOVE)
    with FakeServer() as mmsc:
        if asynchronous:
            async def main():
                async with AsyncClient(mmsc.url, store=store, vaspid="800001") as c:
                    p = c.prepare(msg, transaction_id="tid-prepared", tag="t")
                    with pytest.raises(ValueError, match="prepared with"):
                        await c.send(p, transaction_id="another")
                    return p, await c.send(p)

            p, result = asyncio.run(main())
        else:
            with Client(mmsc.url, store=store, vaspid="800001") as c:
                p = c.prepare(msg, transaction_id="tid-prepared", tag="t")
                with pytest.raises(ValueError, match="prepared with"):
                    c.send(p, transaction_id="another")
                result = c.submit(p, transaction_id="tid-prepared", tag="t")
        [request] = mmsc.requests
    assert len(encodes) == 1 and result.ok and result.transaction_id == "tid-prepared"
    assert request.body == p.http.to_bytes() and len(request.body) == p.http.length > 200_000
    assert request.decode().body.vaspid == "800001"  # (the configured defaults, filled in by prepare)
    rec = store.sent_by_transaction_id("tid-prepared")
    assert rec.ok and rec.tag == "t"
