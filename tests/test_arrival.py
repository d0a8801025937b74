"""One rule for "the MMSC may have this request": the client (retries with on_timeout off), the
outbox (an item not sent again) and a resumed campaign (the same TransactionID) read each failure
the same way, from the exception and from the text a sent record keeps of it."""

from __future__ import annotations

import ssl

import pytest

import mm7bind as mm7
from mm7bind import bulk
from mm7bind.arrival import ANSWERED, MAY_HAVE_ARRIVED, NOT_TAKEN, arrival, may_have_arrived
from mm7bind.outbox import Outbox
from mm7bind.retry import RetryPolicy
from mm7bind.store import MemoryStore

from .fake_http import FakeServer, Reply, async_submit_raising, dead_url, default_responder
from .test_client import tls_server

# What an MMSC (or what stands in front of it) does with a request, and what that tells.
CASES = {
    "gateway-502": (Reply(502, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"}), MAY_HAVE_ARRIVED),
    "gateway-504": (Reply(504, b"<html>504 Gateway Time-out</html>", {"Content-Type": "text/html"}),
                    MAY_HAVE_ARRIVED),
    "unavailable-503": (Reply(503, b"busy", {"Content-Type": "text/plain"}), NOT_TAKEN),
    "error-page-500": (Reply(500, b"<html>oops</html>", {"Content-Type": "text/html"}), NOT_TAKEN),
    "reset-after-sending": (Reply(drop=True), MAY_HAVE_ARRIVED),
    "read-timeout": (Reply(delay=1.0), MAY_HAVE_ARRIVED),
    "refused-connection": (None, NOT_TAKEN),
}


def _policy(on_timeout=False, attempts=1):
    return RetryPolicy(max_attempts=attempts, backoff=0.0, jitter=0.0, on_timeout=on_timeout)


def _client(url, store=None, **retry):
    return mm7.Client(url, store=store, retry=_policy(**retry), read_timeout=0.3)


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
    store = MemoryStore()
    with Mmsc(reply) as mmsc:
        # The exception and the sent record's text of it say the same.
        with pytest.raises(mm7.errors.SendError) as failed:
            _client(mmsc.url, store).submit(_submit())
        [rec] = store.sent()
        assert arrival(failed.value) == arrival(rec.error) == expected, rec.error

        # The client with retries on timeout off: never a second copy of what may have arrived.
        before = len(mmsc.tids)
        with pytest.raises(mm7.errors.SendError):
            _client(mmsc.url, attempts=2).submit(_submit())
        if mmsc.server is not None:
            assert len(mmsc.tids) - before == (1 if expected == MAY_HAVE_ARRIVED else 2)

        # The outbox likewise: an item that may have arrived ends failed (for requeue once
        # known), one nobody took waits for its next round.
        outbox = Outbox(_client(mmsc.url, MemoryStore()))
        outbox.put(_submit())
        [item] = outbox.run_once()
        assert item.state == ("failed" if expected == MAY_HAVE_ARRIVED else "queued"), item.error
        assert ("it may have arrived" in item.error) == (expected == MAY_HAVE_ARRIVED)

        # A campaign resumed under its tag sends it again with the TransactionID it had (by which
        # an MMSC that took it can tell): what got no MM7 answer has not used it up.
        campaign = MemoryStore()
        first = bulk.send_bulk(_client(mmsc.url, campaign), _submit(), ["+8613800000001"], tag="c")
        assert first.failed == 1
        mmsc.fixed = True
        second = bulk.send_bulk(_client(mmsc.url, campaign), _submit(), ["+8613800000001"], tag="c")
        if mmsc.server is not None:
            assert second.sent == 1 and mmsc.tids[-1] == bulk.bulk_transaction_id("c", "+8613800000001", 0)
        else:  # (still nothing listening: tried again under the same TransactionID)
            [again, _] = [r for r in campaign.sent() if r.tag == "c"][::-1]
            assert again.transaction_id == bulk.bulk_transaction_id("c", "+8613800000001", 0)


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
            bulk.bulk_transaction_id("t", "+8613800000001", n) for n in (0, 1)]


def test_a_recorded_error_this_rule_does_not_know_is_taken_as_one_that_may_have_arrived():
    # (a record written by another version, or a store of one's own): never a new TransactionID
    # for what the MMSC may have
    assert arrival("SomethingNew: what happened") == MAY_HAVE_ARRIVED
    assert arrival("HTTPStatusError: HTTP 504 from https://mmsc/mm7: <html>") == MAY_HAVE_ARRIVED
    assert arrival("HTTPStatusError: HTTP 404 from https://mmsc/mm7") == NOT_TAKEN
    assert arrival("HTTPStatusError: HTTP 302 from https://mmsc/mm7 (redirect to https://x, not followed)") == NOT_TAKEN
    assert arrival("SendInterrupted: KeyboardInterrupt while waiting for the answer") == MAY_HAVE_ARRIVED


def test_a_client_certificate_refused_after_the_request_went_out_is_read_alike_everywhere(tmp_path):
    # TLS 1.3: the MMSC refuses a missing client certificate with an alert the client reads only
    # after it sent its request; the MMSC's TLS layer never passed the request on (requests says
    # SSLError: nothing taken). The record, the outbox and a resumed campaign read it so too.
    srv, ca_path, _ = tls_server(tmp_path, require_client_cert=True)
    store = MemoryStore()

    def client(into):
        return mm7.Client(srv.url, verify=str(ca_path), store=into, retry=_policy())

    with srv:
        with pytest.raises(mm7.errors.SendError) as failed:
            client(store).submit(_submit())
        outbox = Outbox(client(MemoryStore()))
        outbox.put(_submit())
        [item] = outbox.run_once()
        bulk.send_bulk(client(store), _submit(), ["+8613800000001"], tag="tls")
        bulk.send_bulk(client(store), _submit(), ["+8613800000001"], tag="tls")
    assert isinstance(failed.value, mm7.errors.ConnectError)  # (the alert, or a write after it: by timing)
    assert arrival(failed.value) == arrival(store.sent()[0].error) == NOT_TAKEN
    assert item.state == "queued"  # tried again in a later round (once the certificate is configured)
    assert {r.transaction_id for r in store.sent(tag="tls")} == {bulk.bulk_transaction_id("tls", "+8613800000001", 0)}


def test_a_tls_connection_closed_without_goodbye_after_sending_may_have_arrived():
    with pytest.raises(mm7.errors.TransportError) as failed:
        async_submit_raising(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), _submit())
    assert not isinstance(failed.value, mm7.errors.ConnectError) and may_have_arrived(failed.value)
