"""The simulator reads a VASP's request as the receiver reads an MMSC's: its Content-Encoding undone,
its SOAPAction reported, strict refusals with the same status codes, answered in the caller's terms."""

from __future__ import annotations

import gzip
import zlib

import pytest
import requests

import mm7bind as mm7
from mm7bind import messages as m
from mm7bind.simulator import Simulator


def submit(transaction_id: str = "t-enc", **fields) -> mm7.HttpMessage:
    return mm7.encode(m.SubmitReq(recipients=["+8613800000000"], **fields), transaction_id=transaction_id)


def answered(rsp) -> mm7.Envelope:
    return mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])


def status_of(env: mm7.Envelope) -> int:
    return env.body.detail.status.code if env.is_fault else env.body.status.code


@pytest.mark.parametrize("coding, pack", [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data)[2:-4]),  # (raw deflate, without zlib's wrapper)
])
def test_a_compressed_submit_is_inflated_as_the_receiver_inflates_one(coding, pack):
    """A body under a Content-Encoding the receiver undoes got a Client Fault (2007) from the
    simulator: a VASP's client compressing its requests could not be tested against it."""
    out = submit()
    sim = Simulator()
    rsp = sim.handle(pack(out.to_bytes()), out.content_type, {"Content-Encoding": coding, "SOAPAction": '""'})
    env = answered(rsp)
    assert rsp.status == 200 and status_of(env) == 1000 and env.transaction_id == "t-enc"
    [stored] = sim.messages.values()
    assert stored.deviations == [] and [str(a) for a in stored.request.recipients] == ["+8613800000000"]
    [got] = sim.received
    assert got.operation == "SubmitReq" and got.headers["content-encoding"] == coding  # (as the VASP sent it)


def test_a_body_sent_plain_under_a_coding_is_taken_and_the_deviation_noted():
    out = submit()
    sim = Simulator(strict=True)  # (an HTTP header's slip: noted, never refused)
    rsp = sim.handle(out.to_bytes(), out.content_type, {"Content-Encoding": "utf-8", "SOAPAction": '""'})
    assert status_of(answered(rsp)) == 1000
    [stored] = sim.messages.values()
    assert [d.code for d in stored.deviations] == ["content-encoding"]
    assert [d.code for d in sim.received[0].deviations] == ["content-encoding"]


def test_a_coding_the_receiver_does_not_undo_is_a_415_and_a_broken_one_a_client_fault():
    out = submit()
    sim = Simulator()
    rsp = sim.handle(out.to_bytes() + b"\x00\x01", out.content_type, {"Content-Encoding": "br"})
    assert rsp.status == 415 and dict(rsp.headers)["Accept-Encoding"] == "gzip, x-gzip, deflate"
    rsp = sim.handle(gzip.compress(out.to_bytes())[:-20], out.content_type, {"Content-Encoding": "gzip"})
    assert rsp.status == 500 and status_of(answered(rsp)) == 2007
    assert sim.messages == {} and [r.http_status for r in sim.received] == [415, 500]


def test_a_compressed_message_larger_than_taken_is_refused_as_a_message_that_size_is():
    """Inflated within max_message_size (2004 beyond it, as for a message sent that size plain); with
    none, within the receiver's default max_body (a bomb is a 413, never held whole)."""
    out = submit(subject="x" * 5000)
    packed = gzip.compress(out.to_bytes())
    rsp = Simulator(max_message_size=4000).handle(packed, out.content_type, {"Content-Encoding": "gzip"})
    assert len(packed) < 4000 and status_of(answered(rsp)) == 2004
    bomb = gzip.compress(b" " * (mm7.ReceiverConfig().max_body + 1))
    assert Simulator().handle(bomb, "text/xml", {"Content-Encoding": "gzip"}).status == 413


def test_a_compressed_submit_over_http():
    out = submit()
    with Simulator() as sim:
        r = requests.post(sim.url, data=gzip.compress(out.to_bytes()), timeout=10,
                          headers={**out.headers, "Content-Type": out.content_type, "Content-Encoding": "gzip"})
        assert r.status_code == 200 and status_of(mm7.decode(r.content, r.headers["Content-Type"])) == 1000
        assert len(sim.messages) == 1


@pytest.mark.parametrize("strict", [False, True])
def test_a_requests_soap_action_is_reported_never_refused(strict):
    """The receiver reports a SOAPAction other than MM7's "" (`soap-action`); the simulator did not,
    so a VASP's client sending another one passed every test against it."""
    out = submit()
    sim = Simulator(strict=strict)
    for action in ('""', '"SubmitReq"', None):
        headers = {"Content-Type": out.content_type} | ({"SOAPAction": action} if action is not None else {})
        assert status_of(answered(sim.handle(out.to_bytes(), out.content_type, headers))) == 1000
    said = [[d.message for d in r.deviations] for r in sim.received]
    assert said[0] == [] and len(said[1]) == 1 and len(said[2]) == 1
    assert "names the body's operation" in said[1][0] and said[2][0].startswith("no SOAPAction header")
    assert [[d.code for d in s.deviations] for s in sim.messages.values()] == [[], ["soap-action"], ["soap-action"]]
    summary = sim.control("GET", "received", b"")[1]
    assert summary[1]["deviations"][0].startswith("[soap-action] SOAPAction '\"SubmitReq\"'")


# A request in a version a strict reader does not have, and one with another deviation: what a
# strict receiver (for a DeliverReq) and a strict simulator (for a SubmitReq) answer alike.
VERSION_TROUBLE = {
    "an MM7Version the namespace does not list": (
        lambda data, version: data.replace(f">{version.default_mm7_version}<".encode(), b">9.9.9<"), 4002),
    "an MM7Version of a later release (mm7version-namespace)": (
        lambda data, version: data.replace(f">{version.default_mm7_version}<".encode(), b">6.3.0<"), 4002),
    "a namespace no schema has": (lambda data, version: data.replace(version.name.encode(), b"REL-7-MM7-1-0"), 4002),
    "an element out of its schema": (
        lambda data, version: data.replace(b"<Recipients>", b"<Unheard>1</Unheard><Recipients>"), 4004),
}


@pytest.mark.parametrize("trouble", list(VERSION_TROUBLE))
def test_the_strict_receiver_and_simulator_refuse_a_version_they_do_not_have_with_4002(trouble):
    """TS 23.140's 4002 (Unsupported version): the strict receiver answered 4004 (Validation error)
    where the strict simulator answered 4002."""
    change, code = VERSION_TROUBLE[trouble]
    version = mm7.versions.get("REL-5-MM7-1-2")
    sub = mm7.encode(m.SubmitReq(recipients=["+8613800000000"]), transaction_id="t-s", version=version)
    mo = mm7.encode(m.DeliverReq(sender="+8613900000000", recipients=m.Recipients(to=["1065"])),
                    transaction_id="t-r", version=version)
    by_simulator = answered(Simulator(strict=True).handle(change(sub.to_bytes(), version), sub.content_type, {}))
    by_receiver = answered(mm7.Receiver(strict=True).handle(change(mo.to_bytes(), version), mo.content_type, {}))
    assert by_simulator.is_fault and by_receiver.is_fault
    assert status_of(by_simulator) == status_of(by_receiver) == code
    assert (by_simulator.transaction_id, by_receiver.transaction_id) == ("t-s", "t-r")
    with pytest.raises(mm7.ValidationError) as refused:  # (what a strict decode says to answer)
        mm7.decode_envelope(change(mo.to_bytes(), version), strict=True)
    assert refused.value.status_code == code


def test_a_strict_refusal_answers_in_the_callers_version_and_mm7version():
    """It answered in the version's default MM7Version (6.8.0 to a caller of REL-6-MM7-1-4 writing
    6.5.0), where every other answer gives the caller's own."""
    version = mm7.versions.get("REL-6-MM7-1-4")
    out = mm7.encode(m.SubmitReq(recipients=["+8613800000000"], mm7_version="6.5.0"), transaction_id="t-own",
                     version=version)
    data = out.to_bytes().replace(b"<Recipients>", b"<Unheard>1</Unheard><Recipients>")
    sim = Simulator(strict=True)
    env = answered(sim.handle(data, out.content_type, {}))
    assert env.is_fault and status_of(env) == 4004 and env.version is version and env.transaction_id == "t-own"
    assert env.body.detail.mm7_version == "6.5.0"
    [got] = sim.received
    assert got.operation == "SubmitReq" and got.status == 4004 and got.message.mm7_version == "6.5.0"
    assert [d.code for d in got.deviations] != [] and sim.messages == {}
    lenient = answered(Simulator().handle(data, out.content_type, {}))
    assert not lenient.is_fault and lenient.body.mm7_version == "6.5.0"  # (as any answer)


@pytest.mark.parametrize("strict", [False, True])
def test_a_request_without_a_content_type_is_read_and_reported_as_the_receiver_does(strict):
    """The receiver notes a request without a Content-Type (`soap-content-type`) and, strict,
    refuses it (4004); the simulator took it without a word."""
    out = mm7.encode(m.SubmitReq(recipients=["+8613800000000"], content=mm7.Content(parts=[mm7.Part.text("hi")])),
                     transaction_id="no-type")
    sim = Simulator(strict=strict)
    env = answered(sim.handle(out.to_bytes(), None, {}))  # (a MIME body: its boundary found)
    assert status_of(env) == (4004 if strict else 1000) and env.transaction_id == "no-type"
    assert [d.code for d in sim.received[0].deviations] == ["soap-content-type"]
    assert [[d.code for d in s.deviations] for s in sim.messages.values()] == ([] if strict else [["soap-content-type"]])


@pytest.mark.parametrize("dialect", ["standard", "mbuni"])
def test_mm7version_6_7_0_in_rel_6_1_4_is_refused_strict_in_words_naming_what_to_send(dialect):
    """6.7.0 with REL-6-MM7-1-4 is real traffic (InstantCom's default MM7Version), but not a value
    that schema lists: a strict simulator refuses it as a carrier validating against the schema
    does, and as the strict receiver does (4002) — and said so in libxml2's words alone, "not an
    element of the set {...}", the set in no order and nothing of what to send. Lenient, it is taken,
    the deviation noted."""
    version = mm7.versions.get("REL-6-MM7-1-4")
    out = mm7.encode(m.SubmitReq(recipients=["+8613800000000"]), transaction_id="t-670", version=version)
    data = out.to_bytes().replace(b">6.8.0<", b">6.7.0<")
    headers = {"SOAPAction": '""'}
    sim = Simulator(strict=True, dialect=dialect)
    env = answered(sim.handle(data, out.content_type, headers))
    status = env.body.detail.status
    assert env.is_fault and status.code == 4002 and env.transaction_id == "t-670"
    text = status.details if dialect == "mbuni" else status.text  # (Mbuni's StatusText is the code's own)
    assert text.startswith("MM7Version 6.7.0 is not one REL-6-MM7-1-4 lists (6.8.0, 6.6.0, 6.5.0, 6.4.0, 6.3.0, "
                           "5.10.0, 5.8.0, 5.6.0, 5.5.0, 5.3.0): a carrier validating requests against the schema "
                           "refuses it; send 6.8.0, the namespace's own")
    assert "[facet 'enumeration']" in status.details  # (libxml2's own words kept)
    assert sim.received[-1].status == 4002 and not sim.messages
    # Another deviation too: named after it.
    worse = answered(sim.handle(data.replace(b"<Recipients>", b"<Unheard>1</Unheard><Recipients>"),
                                out.content_type, headers)).body.detail.status
    assert "; and 1 more deviation(s): [unknown-element]" in (worse.details if dialect == "mbuni" else worse.text)
    assert "Unheard" in (worse.details if dialect == "mbuni" else worse.text)
    # As the strict receiver refuses a DeliverReq so (same code; its words are libxml2's).
    mo = mm7.encode(m.DeliverReq(sender="+8613900000000", recipients=m.Recipients(to=["1065"])),
                    transaction_id="t-mo", version=version).to_bytes().replace(b">6.8.0<", b">6.7.0<")
    assert status_of(answered(mm7.Receiver(strict=True).handle(mo, "text/xml", headers))) == 4002
    lenient = Simulator(dialect=dialect)
    assert status_of(answered(lenient.handle(data, out.content_type, headers))) == 1000
    [stored] = lenient.messages.values()
    assert [(d.code, d.path) for d in stored.deviations] == [("schema", "/Envelope/Body/SubmitReq/MM7Version")]


def test_received_shows_the_head_of_a_compressed_body_inflated_and_says_so():
    """/control/received's body_head showed a gzip body's compressed bytes as text (noise, where a
    wire-format check looks for the SOAP XML and the MIME boundaries). It shows the head inflated,
    `body_inflated` naming the coding undone; body_size stays the size as it came, compressed."""
    out = submit("t-small")
    small = out.to_bytes()
    big = mm7.encode(m.SubmitReq(recipients=["+8613800000000"], content=mm7.Content(
        parts=[mm7.Part.from_bytes(b"x" * 10_000, "image/png")])), transaction_id="t-big")
    with Simulator(report_delay=60) as sim:
        for body, coding, sent in ((gzip.compress(small), "gzip", out), (zlib.compress(big.to_bytes()), "deflate", big),
                                   (small, "gzip", out), (small, None, out)):  # (the third: plain under the header)
            headers = {"Content-Type": sent.content_type, "SOAPAction": '""'}
            if coding is not None:
                headers["Content-Encoding"] = coding
            assert requests.post(sim.url, data=body, headers=headers, timeout=10).status_code == 200
        shown = requests.get(sim.control_url + "received", timeout=10).json()
    gz, deflated, plain_under_gzip, plain = shown
    assert (gz["body_inflated"], gz["body_size"], gz["body_truncated"]) == ("gzip", len(gzip.compress(small)), False)
    assert gz["body_head"] == small.decode("utf-8") and "t-small" in gz["body_head"]
    assert deflated["body_inflated"] == "deflate" and deflated["body_truncated"]
    assert deflated["body_size"] == len(zlib.compress(big.to_bytes())) < 4096  # (as it came)
    assert deflated["body_head"] == big.to_bytes()[:4096].decode("utf-8", "replace")
    assert "t-big" in deflated["body_head"] and big.content_type.split('boundary="')[1][:20] in deflated["body_head"]
    for as_it_came in (plain_under_gzip, plain):
        assert as_it_came["body_inflated"] is None and as_it_came["body_head"] == small.decode("utf-8")
        assert as_it_came["body_size"] == len(small) and not as_it_came["body_truncated"]


def test_received_is_summed_up_without_holding_the_lock_requests_are_served_under(monkeypatch):
    """/control/received made each request's summary (a compressed body's head inflated) holding
    the simulator's lock, which every request served takes: a list of thousands held them all up."""
    sim = Simulator()
    out = submit()
    for coding in ("gzip", None):
        sim.handle(gzip.compress(out.to_bytes()) if coding else out.to_bytes(), out.content_type,
                   {"Content-Encoding": coding} if coding else {})
    held = []
    summary = mm7.simulator.Received.summary

    def watched(record):
        held.append(sim._lock.locked())
        return summary(record)

    monkeypatch.setattr(mm7.simulator.Received, "summary", watched)
    status, shown = sim.control("GET", "received", b"")
    assert status == 200 and [r["body_inflated"] for r in shown] == ["gzip", None]
    assert held == [False, False]
