"""One rule for "the MMSC may have this request": the client (retries with on_timeout off), the
outbox (an item not sent again) and a resumed campaign (the same TransactionID) read each failure
the same way, from the exception and from the text a sent record keeps of it."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import types

import pytest

import mm7bind as mm7
from mm7bind import bulk
from mm7bind.arrival import ANSWERED, MAY_HAVE_ARRIVED, NOT_TAKEN, arrival, may_have_arrived
from mm7bind.client import AsyncClient
from mm7bind.outbox import Outbox
from mm7bind.retry import RetryPolicy
from mm7bind.store import MemoryStore

from .fake_http import FakeServer, RawServer, Reply, async_submit_raising, dead_url, default_responder
from .test_client import tls_server

# What an MMSC (or what stands in front of it) does with a request, and what that tells.
CASES = {
    "gateway-502": (Reply(502, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"}), MAY_HAVE_ARRIVED),
    "gateway-504": (Reply(504, b"<html>504 Gateway Time-out</html>", {"Content-Type": "text/html"}),
                    MAY_HAVE_ARRIVED),
    "unavailable-503": (Reply(503, b"busy", {"Content-Type": "text/plain"}), NOT_TAKEN),
    # (the MMSC failed somewhere in handling it, perhaps once it had queued it: a refusal is a Fault)
    "error-page-500": (Reply(500, b"<html>oops</html>", {"Content-Type": "text/html"}), MAY_HAVE_ARRIVED),
    "reset-after-sending": (Reply(drop=True), MAY_HAVE_ARRIVED),
    "read-timeout": (Reply(delay=1.0), MAY_HAVE_ARRIVED),
    "refused-connection": (None, NOT_TAKEN),
}


def _policy(on_timeout=False, attempts=1):
    return RetryPolicy(max_attempts=attempts, backoff=0.0, jitter=0.0, on_timeout=on_timeout)


def _client(url, store=None, read_timeout=60.0, **retry):
    return mm7.Client(url, store=store, retry=_policy(**retry), read_timeout=read_timeout)


def _submit(to="+8613800000000"):
    return mm7.SubmitReq(recipients=[to], subject="arrival")


class Mmsc:
    """The case's behaviour, or a server taking every request once it is `fixed`."""

    def __init__(self, reply):
        self.reply, self.fixed = reply, False
        self.server = FakeServer(lambda req: default_responder(req) if self.fixed else self.reply)

    def __enter__(self):
        if self.reply is None:  # nothing listening
            self.url, self.server = dead_url(), None
            return self
        self.server.__enter__()
        self.url = self.server.url
        return self

    def __exit__(self, *exc):
        if self.server is not None:
            self.server.__exit__(*exc)

    @property
    def tids(self):
        return [r.decode().transaction_id for r in self.server.requests] if self.server else []


@pytest.mark.parametrize("case", list(CASES))
def test_the_client_the_outbox_and_a_resumed_campaign_read_a_failure_alike(case):
    reply, expected = CASES[case]
    wait = 0.3 if case == "read-timeout" else 60.0  # (the short bound only where no answer is to come)
    store = MemoryStore()
    with Mmsc(reply) as mmsc:
        # The exception and the sent record's text of it say the same.
        with pytest.raises(mm7.errors.SendError) as failed:
            _client(mmsc.url, store, wait).submit(_submit())
        [rec] = store.sent()
        assert arrival(failed.value) == arrival(rec.error) == expected, rec.error

        # The client with retries on timeout off: never a second copy of what may have arrived.
        before = len(mmsc.tids)
        with pytest.raises(mm7.errors.SendError):
            _client(mmsc.url, read_timeout=wait, attempts=2).submit(_submit())
        if mmsc.server is not None:
            assert len(mmsc.tids) - before == (1 if expected == MAY_HAVE_ARRIVED else 2)

        # The outbox likewise: an item that may have arrived ends failed (for requeue once
        # known), one nobody took waits for its next round.
        outbox = Outbox(_client(mmsc.url, MemoryStore(), wait))
        outbox.put(_submit())
        [item] = outbox.run_once()
        assert item.state == ("failed" if expected == MAY_HAVE_ARRIVED else "queued"), item.error
        assert ("it may have arrived" in item.error) == (expected == MAY_HAVE_ARRIVED)

        # A campaign resumed under its tag with retries on timeout off does not send again what may
        # have arrived: it names it as maybe delivered. Asked to, it sends it again with the
        # TransactionID it had (by which an MMSC that took it can tell): what got no MM7 answer has
        # not used it up. What nobody took goes again as it is.
        campaign = MemoryStore()
        first = bulk.send_bulk(_client(mmsc.url, campaign, wait), _submit(), ["+8613800000001"], tag="c")
        assert first.failed == 1
        mmsc.fixed = True
        second = bulk.send_bulk(_client(mmsc.url, campaign), _submit(), ["+8613800000001"], tag="c")
        if expected == MAY_HAVE_ARRIVED:
            assert (second.sent, second.failed, second.maybe_delivered_to) == (0, 0, ["+8613800000001"])
            second = bulk.send_bulk(_client(mmsc.url, campaign), _submit(), ["+8613800000001"], tag="c",
                                    resend_unanswered=True)
        else:
            assert second.maybe_delivered == 0
        if mmsc.server is not None:
            assert second.sent == 1 and mmsc.tids[-1] == bulk.bulk_transaction_id("c", "+8613800000001", 0, campaign.installation_id())
        else:  # (still nothing listening: tried again under the same TransactionID)
            [again, _] = [r for r in campaign.sent() if r.tag == "c"][::-1]
            assert again.transaction_id == bulk.bulk_transaction_id("c", "+8613800000001", 0, campaign.installation_id())


def test_an_mm7_answer_uses_the_transaction_id_up_and_ends_the_item():
    # A Fault is the MMSC's answer: it has seen the request and refused it. A campaign tries again
    # under a new TransactionID (the old one would be a repeat of the refused one).
    def refuse(req):
        env = req.decode()
        fault = mm7.Fault(code="Server", string="busy", detail=mm7.RSErrorRsp(status=mm7.Status(3001)))
        out = mm7.encode(fault, transaction_id=env.transaction_id, version=env.version)
        return Reply(500, out.to_bytes(), {"Content-Type": out.content_type})

    store = MemoryStore()
    with FakeServer(refuse) as srv:
        with pytest.raises(mm7.errors.FaultError) as failed:
            _client(srv.url, store).submit(_submit())
        [rec] = store.sent()
        assert arrival(failed.value) == ANSWERED and not may_have_arrived(rec.error)
        bulk.send_bulk(_client(srv.url, store), _submit(), ["+8613800000001"], tag="t")
        bulk.send_bulk(_client(srv.url, store), _submit(), ["+8613800000001"], tag="t")
        assert [r.decode().transaction_id for r in srv.requests[1:]] == [
            bulk.bulk_transaction_id("t", "+8613800000001", n, store.installation_id()) for n in (0, 1)]


def test_a_recorded_error_this_rule_does_not_know_is_taken_as_one_that_may_have_arrived():
    # (a record written by another version, or a store of one's own): never a new TransactionID
    # for what the MMSC may have
    assert arrival("SomethingNew: what happened") == MAY_HAVE_ARRIVED
    assert arrival("HTTPStatusError: HTTP 504 from https://mmsc/mm7: <html>") == MAY_HAVE_ARRIVED
    assert arrival("HTTPStatusError: HTTP 404 from https://mmsc/mm7") == NOT_TAKEN
    assert arrival("HTTPStatusError: HTTP 302 from https://mmsc/mm7 (redirect to https://x, not followed)") == NOT_TAKEN
    assert arrival("SendInterrupted: KeyboardInterrupt while waiting for the answer") == MAY_HAVE_ARRIVED


def _send(url, asynchronous, **kw):
    """A submit by the sync client or the async one (no retries)."""
    if not asynchronous:
        with mm7.Client(url, retry=_policy(), **kw) as c:
            return c.submit(_submit())

    async def main():
        async with AsyncClient(url, retry=_policy(), **kw) as c:
            return await c.submit(_submit())

    return asyncio.run(main())


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_client_certificate_refused_after_the_request_went_out_is_read_alike_everywhere(tmp_path, asynchronous):
    # TLS 1.3: the MMSC refuses a missing client certificate with an alert the client reads only
    # after it sent its request (or, the alert overtaken by the connection's reset, a bare reset:
    # httpx nearly always); the MMSC's TLS layer never passed the request on. Both clients say so,
    # and which setting to change; the record, the outbox and a resumed campaign read it so too.
    srv, ca_path, _ = tls_server(tmp_path, require_client_cert=True)
    store = MemoryStore()

    def client(into):
        return mm7.Client(srv.url, verify=str(ca_path), store=into, retry=_policy())

    with srv:
        with pytest.raises(mm7.errors.SendError) as failed:
            _send(srv.url, asynchronous, verify=str(ca_path), store=store)
        outbox = Outbox(client(MemoryStore()))
        outbox.put(_submit())
        [item] = outbox.run_once()
        bulk.send_bulk(client(store), _submit(), ["+8613800000001"], tag="tls")
        bulk.send_bulk(client(store), _submit(), ["+8613800000001"], tag="tls")
    assert isinstance(failed.value, mm7.errors.ConnectError), repr(failed.value)
    assert "refused the connection for want of a TLS client certificate (TLSV13_ALERT_CERTIFICATE_REQUIRED): " \
           "set cert" in str(failed.value)
    assert arrival(failed.value) == arrival(store.sent()[0].error) == NOT_TAKEN
    assert item.state == "queued"  # tried again in a later round (once the certificate is configured)
    tid = bulk.bulk_transaction_id("tls", "+8613800000001", 0, store.installation_id())
    assert {r.transaction_id for r in store.sent(tag="tls")} == {tid}


class AlertLostToReset(RawServer):
    """A TLS server requiring a client certificate whose refusal of the first connection never
    arrives: the connection is reset instead (as when the reset the unread request causes overtakes
    the alert, which timing decides on a real link). Later connections get the alert."""

    def __init__(self, context):
        super().__init__()
        self.context, self.connections = context, 0
        self.url = self.url.replace("http://", "https://")

    def answer(self, conn, stop):
        conn.settimeout(5)
        self.connections += 1
        if self.connections == 1:
            self.refuse_without_alert(conn)
        else:
            self.context.wrap_socket(conn, server_side=True).close()

    def refuse_without_alert(self, conn):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                conn.sendall(outgoing.read())
                incoming.write(conn.recv(65536) or b"")
                continue
            except ssl.SSLError:  # the certificate refused: its alert waits in `outgoing`, unsent
                pass
            break
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # (close = reset)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_refusal_whose_alert_the_reset_overtook_is_found_by_asking_the_mmsc_again(tmp_path, asynchronous):
    """A reset alone would say "the request went out and no answer came: it may have arrived". The
    client asks the MMSC again, sending nothing, and hears the refusal: nothing was taken."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with AlertLostToReset(context) as mmsc, pytest.raises(mm7.errors.SendError) as failed:
        _send(mmsc.url, asynchronous, verify=str(tmp_path / "ca.pem"))
    assert mmsc.connections == 2  # the request's, and the one that asked
    assert isinstance(failed.value, mm7.errors.ConnectError) and arrival(failed.value) == NOT_TAKEN, failed.value
    assert "for want of a TLS client certificate (TLSV13_ALERT_CERTIFICATE_REQUIRED): set cert" in str(failed.value)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("how", ["closed", "garbled"])
def test_a_tls_connection_lost_after_the_mmsc_read_the_request_may_have_arrived(tmp_path, asynchronous, how):
    # The MMSC took the request (our certificate passed) and the connection ended without an
    # answer: closed, or with bytes TLS cannot read. The sync client took any TLS error for a failed
    # handshake ("nothing taken": a retry sent a second copy); asking the MMSC again finds no refusal.
    srv, ca_path, pem = tls_server(tmp_path, require_client_cert=True)
    srv.responder = lambda req: Reply(drop=True) if how == "closed" else Reply(garble=True)
    with srv, pytest.raises(mm7.errors.TransportError) as failed:
        _send(srv.url, asynchronous, verify=str(ca_path), cert=str(pem))
    assert len(srv.requests) == 1  # it went out
    assert not isinstance(failed.value, mm7.errors.ConnectError), failed.value
    assert arrival(failed.value) == MAY_HAVE_ARRIVED


def test_a_tls_connection_closed_without_goodbye_after_sending_may_have_arrived():
    with pytest.raises(mm7.errors.TransportError) as failed:
        async_submit_raising(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), _submit())
    assert not isinstance(failed.value, mm7.errors.ConnectError) and may_have_arrived(failed.value)


def test_asking_the_mmsc_about_our_certificate_hears_a_refusal_and_nothing_else(tmp_path):
    from mm7bind.client import client_ssl_context
    from mm7bind.tlsrefusal import refused_certificate

    srv, ca_path, pem = tls_server(tmp_path, require_client_cert=True)
    with srv:
        assert refused_certificate(srv.url, client_ssl_context(str(ca_path), None), 5) == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
        assert refused_certificate(srv.url, client_ssl_context(str(ca_path), str(pem)), 5) is None  # (its tickets say so)
        assert srv.requests == []  # asking sent nothing
    srv, ca_path, pem = tls_server(tmp_path, require_client_cert=True)
    srv.httpd.socket.context.num_tickets = 0  # an MMSC that says nothing once it accepted: asked until the timeout
    with srv:
        assert refused_certificate(srv.url, client_ssl_context(str(ca_path), str(pem)), 0.3) is None
    no_tls = client_ssl_context(False, None)
    assert refused_certificate(dead_url().replace("http:", "https:"), no_tls, 5) is None
    assert refused_certificate(dead_url(), client_ssl_context(False, None), 5) is None  # (not TLS: not asked)


def test_asking_the_mmsc_about_our_certificate_keeps_to_its_time_however_slowly_it_answers(monkeypatch):
    # A socket's timeout bounds each read alone: a server sending its handshake a byte at a time
    # kept the check (and the send that asked) waiting as long as it liked. The clock here moves a
    # second at each look: the check must give up after a few looks, not after the server's 400 bytes.
    from mm7bind import tlsrefusal
    from mm7bind.client import client_ssl_context

    sent = []

    def trickle(conn, stop):  # a handshake record announcing 16 KiB, its bytes then one at a time
        conn.sendall(b"\x16\x03\x03\x40\x00")
        while len(sent) < 400 and not stop.wait(0.01):
            conn.sendall(b"\x00")
            sent.append(1)

    ticks = iter(range(10**6))
    monkeypatch.setattr(tlsrefusal, "time", types.SimpleNamespace(monotonic=lambda: float(next(ticks))))
    with RawServer(trickle) as server:
        url = f"https://127.0.0.1:{server.port}/mm7"
        assert tlsrefusal.refused_certificate(url, client_ssl_context(False, None), 5) is None
        done = len(sent)
    assert done < 50
