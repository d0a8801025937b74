"""Every schema version × every operation, end to end: what the receiver and the simulator answer,
what the client sends, what a version lacks, and the awkward values each version must carry.

The expectations come from the protocol (which MM7Version values a schema enumerates, which
operations and fields each release has), not from the code under test, so a change on either side
that breaks the matrix shows up here.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

import mm7bind as mm7
from mm7bind import messages as m
from mm7bind import profiles
from mm7bind.simulator import Simulator
from mm7bind.store import MemoryStore
from mm7bind.validation import validate_element
from mm7bind.xmlsafe import parse_xml

from .builders import full_message
from .test_schema_tables import BODIES, MM7_VERSION_LISTS, expected_bodies

VERSIONS = mm7.versions.all_versions()
INBOUND = (m.DeliverReq, m.DeliveryReportReq, m.ReadReplyReq)  # what an MMSC sends a VASP


def ids(v: mm7.Version) -> str:
    return v.name


def with_mm7_version(data: bytes, version: mm7.Version, value: str | None) -> bytes:
    """A request as a peer might send it: another MM7Version (None: the element left out)."""
    ours = f"<MM7Version>{version.default_mm7_version}</MM7Version>".encode()
    assert data.count(ours) == 1
    return data.replace(ours, f"<MM7Version>{value}</MM7Version>".encode() if value else b"")


def valid_mm7_version(version: mm7.Version, value: str | None) -> bool:
    """Whether `version`'s schema takes `value`: its enumeration where it has one, else x.y.z."""
    enumerated = MM7_VERSION_LISTS.get(version.name)
    return bool(value) and (value in enumerated if enumerated else re.fullmatch(r"\d+\.\d+\.\d+", value) is not None)


def echoed(version: mm7.Version, value: str | None) -> bool:
    """Whether an answer in `version` carries the caller's `value`: one its schema takes, and of
    no later release than its namespace (6.3.0 in a REL-5 one, which a pattern takes and no schema
    of the release lists, is answered with the namespace's own)."""
    return valid_mm7_version(version, value) and not later_release(value, version.namespace)


def callers_mm7_versions(version: mm7.Version) -> list[str | None]:
    """What callers send: each value the manifest pairs with the namespace, values seen in the wild
    that some schemas refuse (5.2.0, 6.7.0), and none at all."""
    return [*version.mm7_versions, "5.2.0", "6.7.0", None]


def answered(body: bytes, headers) -> mm7.Envelope:
    """An answer, with no deviation but the one an MM7Version later than the namespace is
    confirmed to go with is (REL-6-MM7-1-0's caller that sent 6.7.0 gets 6.7.0 back, as it sent;
    one of a later release than the namespace, 6.7.0 from a Rel-5 caller, is not echoed)."""
    env = mm7.decode(body, dict(headers)["Content-Type"])
    sent = answer_mm7_version(env)
    crossed = later_release(sent, env.namespace or env.version.namespace)
    expected = ["mm7version-namespace"] if crossed else (
        ["mm7version-pairing"] if later_than_confirmed(env.version.name, sent) else [])
    assert [d.code for d in env.deviations] == expected, env.deviations
    return env


# The namespace ↔ MM7Version pairings two or more independent sources agree on (the others are
# inferred or rest on one source, and are no ground for a report).
CONFIRMED_PAIRINGS = {"REL-5-MM7-1-0": "5.3.0", "REL-6-MM7-1-0": "6.3.0", "REL-6-MM7-1-4": "6.8.0"}


def later_than_confirmed(name: str, mm7_version: str | None) -> bool:
    """Whether an MM7Version of the namespace's release is later than the namespace goes with,
    known with confidence: the namespace's own pairing is confirmed and a later schema of the
    release exists, or the value's is, with a later namespace."""
    said = tuple(map(int, mm7_version.split("."))) if re.fullmatch(r"\d+\.\d+\.\d+", mm7_version or "") else None
    release, minor = int(name.split("-")[1]), int(name.split("-")[-1])
    if said is None or said[0] != release:
        return False
    newest = max(int(v.name.split("-")[-1]) for v in VERSIONS if v.release == release)
    own = CONFIRMED_PAIRINGS.get(name)
    if own is not None and minor < newest and said > tuple(map(int, own.split("."))):
        return True
    return any(value == mm7_version and int(other.split("-")[1]) == release and int(other.split("-")[-1]) > minor
               for other, value in CONFIRMED_PAIRINGS.items())


def answer_mm7_version(env: mm7.Envelope) -> str | None:
    return env.body.detail.mm7_version if env.is_fault else env.body.mm7_version


def later_release(mm7_version: str | None, namespace: str) -> bool:
    """Whether an MM7Version is of a later release than the namespace (6.3.0 in REL-5-MM7-1-2)."""
    said = re.fullmatch(r"(\d+)\.\d+\.\d+", mm7_version or "")
    return said is not None and int(said[1]) > int(re.search(r"REL-(\d+)-MM7", namespace, re.IGNORECASE)[1])


# ---------------------------------------------------------------------------------------------
# Answers: in the caller's namespace and MM7Version


class Refuser(mm7.Handler):
    def on_read_reply(self, msg, ctx):
        raise mm7.Reject(4007)  # a Fault with VASPErrorRsp: also in the caller's version


@pytest.mark.parametrize("profile", [profiles.STANDARD, profiles.CMCC, profiles.MBUNI], ids=lambda p: p.name)
@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_the_receiver_answers_in_the_callers_namespace_and_mm7version(version, profile):
    """Whatever MM7Version the receiver's own profile sends as a client (China Mobile's 6.3.0,
    Mbuni's 5.3.0), an answer carries the caller's, or its namespace's default when the caller's
    is missing or not valid there."""
    receiver = mm7.Receiver(Refuser(), profile=profile)
    for cls in INBOUND:
        request = mm7.encode(full_message(cls, version), transaction_id="t-1", version=version).to_bytes()
        for sent in callers_mm7_versions(version):
            rsp = receiver.handle(with_mm7_version(request, version, sent), "text/xml")
            env = answered(rsp.body, rsp.headers)
            expected = sent if echoed(version, sent) else version.default_mm7_version
            where = f"{cls.ELEMENT} with MM7Version {sent}"
            assert (env.version, env.transaction_id) == (version, "t-1"), where
            assert answer_mm7_version(env) == expected, where
            if cls is m.ReadReplyReq:
                assert rsp.status == profile.fault_http_status and env.body.status.code == 4007, where
            else:
                assert rsp.status == 200 and isinstance(env.body, m.RESPONSE_FOR[cls.ELEMENT]), where


class OwnVersion(mm7.Handler):
    """Answers with an MM7Version of its own choosing."""

    def __init__(self, mm7_version: str):
        self.mm7_version = mm7_version

    def on_deliver(self, msg, ctx):
        return m.DeliverRsp(mm7_version=self.mm7_version, status=mm7.Status(1000))


@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_a_response_the_handler_gives_its_own_mm7version_goes_with_it(version, caplog):
    """The caller's MM7Version is what a response without one gets; one the handler set is sent as
    it is where the caller's schema takes it, and where not, the response goes with the caller's,
    said once in a WARNING: the message is handled (a 3000 had the MMSC send it again and again,
    each copy handled anew and failed alike)."""
    request = mm7.encode(minimal(m.DeliverReq), transaction_id="t-1", version=version).to_bytes()
    for chosen in ("5.5.0", "6.8.0"):
        # (a value of a later release is refused by a reader that checks, whatever our pattern takes)
        taken = valid_mm7_version(version, chosen) and int(chosen[0]) <= version.release
        caplog.clear()
        store = MemoryStore()
        receiver = mm7.Receiver(OwnVersion(chosen), store=store)
        for tid in ("t-1", "t-2"):
            rsp = receiver.handle(request.replace(b">t-1<", f">{tid}<".encode()), "text/xml")
            back = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"], strict=True)
            assert (back.version, back.transaction_id, rsp.status) == (version, tid, 200), chosen
            assert not back.is_fault and back.body.status.code == 1000, chosen
            assert back.body.mm7_version == (chosen if taken else version.default_mm7_version), chosen
        assert [r.state for r in store.inbox()] == ["handled", "handled"], chosen
        said = [r.getMessage() for r in caplog.records if "the caller's schema refuses" in r.getMessage()]
        assert len(said) == (0 if taken else 1), chosen
        assert all(f"'{chosen}' is not valid in {version.name}" in text or f"{chosen}, which the caller's schema "
                   f"refuses (of Release 6, {version.name} of Release 5)" in text for text in said), said


@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_an_mm7version_of_a_later_release_than_the_namespace_is_reported_and_not_echoed(version):
    """6.3.0 in a REL-5 namespace (7.0.0 in a REL-6 one) is a value no schema of the namespace's
    release lists, whatever our reconstructed x.y.z pattern takes: `mm7version-namespace` at the
    MM7Version, in a request and in a Fault's detail alike; the answer in the caller's namespace
    and its version's default MM7Version (echoed, it was what our own reader reports). An earlier release's value (5.3.0 in REL-6-MM7-1-4,
    which its enumeration lists) or another of the same release is no such disagreement."""
    later = ["6.3.0", "6.8.0"] if version.release == 5 else ["7.0.0"]
    receiver = mm7.Receiver(Refuser())
    for cls in INBOUND:
        request = mm7.encode(full_message(cls, version), transaction_id="t-1", version=version).to_bytes()
        for sent in [*later, "5.3.0", "6.3.0", "6.8.0"]:
            data = with_mm7_version(request, version, sent)
            env = mm7.decode(data, "text/xml")
            reported = [d for d in env.deviations if d.code == "mm7version-namespace"]
            where = f"{cls.ELEMENT} with MM7Version {sent}"
            if sent not in later:
                assert reported == [], where
                continue
            assert [d.path for d in reported] == [f"/Envelope/Body/{cls.ELEMENT}/MM7Version"], where
            assert env.version is version and env.body.mm7_version == sent, where
            rsp = receiver.handle(data, "text/xml")
            back = answered(rsp.body, rsp.headers)
            expected = sent if echoed(version, sent) else version.default_mm7_version
            assert (back.version, answer_mm7_version(back)) == (version, expected), where
    fault = mm7.Fault(code="Server", string="down", detail=mm7.VASPErrorRsp(status=mm7.Status(3001)))
    data = mm7.encode_envelope(fault, transaction_id="t-2", version=version).replace(
        f">{version.default_mm7_version}<".encode(), f">{later[0]}<".encode())
    reported = [d.path for d in mm7.decode_envelope(data).deviations if d.code == "mm7version-namespace"]
    assert reported == ["/Envelope/Body/Fault/detail/VASPErrorRsp/MM7Version"]
    # The namespace spelt otherwise (".xsd" at its end, another case): the release of the version it names.
    for namespace in (version.namespace + ".xsd", version.namespace.lower()):
        spelt = data.replace(version.namespace.encode(), namespace.encode())
        assert "mm7version-namespace" in {d.code for d in mm7.decode_envelope(spelt).deviations}, namespace


def test_the_manifest_marks_the_confirmed_pairings():
    """The namespace ↔ MM7Version pairings two sources agree on are the manifest's `confirmed`
    ones; every other is marked as inferred or resting on one source."""
    confirmed = {v.name: v.nominal_mm7_version for v in VERSIONS if v.pairing == "confirmed"}
    assert confirmed == CONFIRMED_PAIRINGS
    assert {v.pairing for v in VERSIONS} <= {"confirmed", "one source", "inferred"}


@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_an_mm7version_later_than_its_namespace_goes_with_is_reported_not_refused(version):
    """6.5.0 in REL-6-MM7-1-0 (confirmed with 6.3.0), 6.8.0 in REL-6-MM7-1-2 (6.8.0 is confirmed
    with REL-6-MM7-1-4): `mm7version-pairing` at the MM7Version. An earlier value (later schemas
    keep listing them), or one whose pairing is only inferred, is none. Never refused, strict mode
    included (its schema takes the value; peers pair the two loosely), and answered as sent."""
    same_release = [v for other in VERSIONS if other.release == version.release for v in other.mm7_versions]
    values = sorted({*same_release, "5.2.0", "5.4.0", "6.7.0", "6.10.0"} - {version.default_mm7_version})
    receiver = mm7.Receiver(Refuser(), strict=True)
    request = mm7.encode(full_message(m.DeliverReq, version), transaction_id="t-1", version=version).to_bytes()
    for sent in values:
        if not valid_mm7_version(version, sent) or later_release(sent, version.namespace):
            continue  # (a `schema` or `mm7version-namespace` deviation: another test's)
        data = with_mm7_version(request, version, sent)
        env = mm7.decode(data, "text/xml", strict=True)
        expected = ["mm7version-pairing"] if later_than_confirmed(version.name, sent) else []
        assert [d.code for d in env.deviations] == expected, (sent, env.deviations)
        assert [d.path for d in env.deviations] == ["/Envelope/Body/DeliverReq/MM7Version"] * len(expected)
        if expected:
            assert version.name in env.deviations[0].message and sent in env.deviations[0].message
        rsp = receiver.handle(data, "text/xml")
        back = answered(rsp.body, rsp.headers)
        assert rsp.status == 200 and back.body.status.code == 1000 and answer_mm7_version(back) == sent, sent
        spelt = data.replace(version.namespace.encode(), version.namespace.encode() + b"/")
        assert [d.code for d in mm7.decode(spelt, "text/xml").deviations] == ["namespace-spelling", *expected]
    if version.name == "REL-6-MM7-1-0":
        env = mm7.decode(with_mm7_version(request, version, "6.5.0"), "text/xml")
        assert [d.code for d in env.deviations] == ["mm7version-pairing"]
        rsp = Simulator(strict=True).handle(
            mm7.encode(minimal(m.SubmitReq), transaction_id="t-2", version=version).to_bytes().replace(
                b">6.3.0<", b">6.5.0<"), "text/xml", {})
        back = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
        assert not back.is_fault and back.body.status.code == 1000


def test_a_strict_mmsc_refuses_an_mm7version_of_a_later_release_as_an_unsupported_version():
    """What a schema-validating carrier would do with REL-5-MM7-1-2 and 6.3.0: 4002, in the
    caller's namespace and the version's default MM7Version: the x.y.z pattern takes 6.3.0,
    but no Rel-5 schema lists it (the reason for the refusal), so it is not echoed."""
    version = mm7.versions.get("REL-5-MM7-1-2")
    request = mm7.encode(minimal(m.SubmitReq), transaction_id="t-1", version=version).to_bytes()
    rsp = Simulator(strict=True).handle(with_mm7_version(request, version, "6.3.0"), "text/xml", {})
    back = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
    assert back.is_fault and back.body.detail.status.code == 4002 and back.version is version
    assert back.transaction_id == "t-1" and back.body.detail.mm7_version == version.default_mm7_version


# How real MMSCs write a known namespace otherwise: a string compare takes each for another.
SPELLINGS = {
    "trailing-slash": lambda ns: ns + "/",
    "lower-case": lambda ns: ns.lower(),
    "upper-case-version": lambda ns: ns.replace("/schema/", "/Schema/"),
    "https": lambda ns: ns.replace("http://", "https://"),
}


def sent_in(data: bytes, version: mm7.Version, namespace: str) -> bytes:
    assert data.count(version.namespace.encode()) == 1  # (declared once, on the Envelope)
    return data.replace(version.namespace.encode(), namespace.encode())


def answer_namespaces(body: bytes) -> set[str | None]:
    """The namespaces of an answer's TransactionID and MM7 body element (a Fault's detail's)."""
    root = parse_xml(body).root
    header, soap_body = root
    main = soap_body[0]
    if etree.QName(main).localname == "Fault":
        main = main.find("detail")[0]
    return {etree.QName(header[0]).namespace, etree.QName(main).namespace}


@pytest.mark.parametrize("spelling", SPELLINGS, ids=str)
@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_a_known_namespace_spelt_otherwise_is_that_version_and_answered_as_spelt(version, spelling):
    """A trailing slash, another case or https: the version the namespace names (not the newest,
    nor the newest of its release), reported; the answer, a response or a Fault, in the caller's
    spelling and MM7Version, so a peer comparing strings finds its own namespace."""
    namespace = SPELLINGS[spelling](version.namespace)
    receiver = mm7.Receiver(Refuser())
    for cls in INBOUND:
        request = mm7.encode(full_message(cls, version), transaction_id="t-1", version=version).to_bytes()
        data = sent_in(request, version, namespace)
        env = mm7.decode(data, "text/xml")
        assert (env.version, env.namespace) == (version, namespace), cls.ELEMENT
        assert [d.code for d in env.deviations] == ["namespace-spelling"], cls.ELEMENT
        rsp = receiver.handle(data, "text/xml")
        assert answer_namespaces(rsp.body) == {namespace}, cls.ELEMENT
        back = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
        assert (back.version, back.transaction_id) == (version, "t-1"), cls.ELEMENT
        assert answer_mm7_version(back) == version.default_mm7_version, cls.ELEMENT
        assert [d.code for d in back.deviations] == ["namespace-spelling"], cls.ELEMENT
        assert back.is_fault == (cls is m.ReadReplyReq), cls.ELEMENT
    # An MMSC (the simulator) answers a VASP's request so too.
    request = mm7.encode(m.SubmitReq(recipients=["+8613800000000"]), transaction_id="t-2", version=version).to_bytes()
    rsp = Simulator().handle(sent_in(request, version, namespace), "text/xml", {})
    assert rsp.status == 200 and answer_namespaces(rsp.body) == {namespace}


@pytest.mark.parametrize("spelling", [*SPELLINGS, "unknown-version"], ids=str)
def test_a_request_too_broken_to_decode_is_refused_in_its_own_namespace(spelling):
    """Even a request that is not well-formed gets its Fault in the namespace its bytes name as
    they name it (the TransactionID echoed), from the receiver and the simulator alike."""
    version = mm7.versions.get("REL-5-MM7-1-2")
    namespace = (SPELLINGS[spelling](version.namespace) if spelling in SPELLINGS
                 else version.namespace.replace("1-2", "1-9"))
    read_as = version if spelling in SPELLINGS else mm7.versions.get("REL-5-MM7-1-5")
    for cls, server in ((m.DeliverReq, mm7.Receiver()), (m.SubmitReq, Simulator())):
        request = mm7.encode(minimal(cls), transaction_id="t-3", version=version).to_bytes()
        broken = sent_in(request, version, namespace).replace(b"</Number>", b"</Numbr>")
        rsp = server.handle(broken, "text/xml", {}) if isinstance(server, Simulator) else server.handle(broken, "text/xml")
        assert answer_namespaces(rsp.body) == {namespace}, cls.ELEMENT
        back = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
        assert back.is_fault and back.body.status.code == 2007 and (back.version, back.transaction_id) == (read_as, "t-3")


@pytest.mark.parametrize("name, read_as, sent", [
    ("REL-6-MM7-1-5", "REL-6-MM7-1-4", "6.10.0"), ("REL-6-MM7-6-7", "REL-6-MM7-1-4", "6.7.0"),
    ("REL-5-MM7-1-6", "REL-5-MM7-1-5", "5.3.0"), ("REL-7-MM7-1-0", "REL-6-MM7-1-4", "7.0.0"),
    ("rel-6-mm7-2-0/", "REL-6-MM7-1-4", None),
])
def test_an_unknown_version_is_read_with_the_closest_and_answered_in_its_own_namespace(name, read_as, sent):
    """A version newer than any we have is read with the newest of its release (or the newest),
    and answered in the namespace it came in, with its own MM7Version (none sent: the closest
    version's): its sender's schema is not the one we read it with."""
    closest = mm7.versions.get(read_as)
    namespace = mm7.versions.MM7_NS_BASE + name
    receiver = mm7.Receiver(Refuser())
    for cls in INBOUND:
        request = mm7.encode(full_message(cls, closest), transaction_id="t-1", version=closest).to_bytes()
        data = with_mm7_version(sent_in(request, closest, namespace), closest, sent)
        env = mm7.decode(data, "text/xml")
        assert (env.version, env.namespace) == (closest, namespace)
        assert "unknown-version" in {d.code for d in env.deviations}
        rsp = receiver.handle(data, "text/xml")
        assert answer_namespaces(rsp.body) == {namespace}, cls.ELEMENT
        back = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
        assert (back.version, back.transaction_id, answer_mm7_version(back)) == (
            closest, "t-1", sent or closest.default_mm7_version), cls.ELEMENT
        assert back.is_fault == (cls is m.ReadReplyReq), cls.ELEMENT


def vasp_requests(version: mm7.Version, message_id: str) -> list[m.Message]:
    """The requests about a submitted message, as far as `version` has them."""
    out = [m.ReplaceReq(message_id=message_id), m.CancelReq(message_id=message_id)]
    if version.element_class("extendedReplaceReq") is not None:
        out += [m.ExtendedReplaceReq(replace_id=message_id), m.ExtendedCancelReq(cancel_id=message_id)]
    return out


@pytest.mark.parametrize("dialect", ["standard", "cmcc", "mbuni"])
@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_the_simulator_answers_as_its_dialect_does(version, dialect):
    """An MMSC answers in the caller's namespace and MM7Version (its default when the caller's will
    not do); the Mbuni dialect answers in its own REL-5-MM7-1-0 and 5.3.0, as Mbuni does."""
    sim = Simulator(dialect=dialect)

    def send(msg: m.Message, sent: str | None) -> mm7.Envelope:
        data = mm7.encode(msg, transaction_id="t-1", version=version).to_bytes()
        rsp = sim.handle(with_mm7_version(data, version, sent), "text/xml", {})
        env = answered(rsp.body, rsp.headers)
        where = f"{msg.ELEMENT} with MM7Version {sent}"
        assert env.transaction_id == "t-1", where
        if dialect == "mbuni":
            assert (env.version.name, answer_mm7_version(env)) == ("REL-5-MM7-1-0", "5.3.0"), where
            if msg.ELEMENT.startswith("extended"):  # not in REL-5-MM7-1-0: refused, as Mbuni refuses them
                assert env.is_fault and env.body.status.code == 4003, where
                return env
        else:
            expected = sent if echoed(version, sent) else version.default_mm7_version
            assert (env.version, answer_mm7_version(env)) == (version, expected), where
        assert not env.is_fault, where
        return env

    for sent in callers_mm7_versions(version):
        # (identified and billable: China Mobile's MMSC refuses a submit without VASPID, VASID, ServiceCode)
        submit = m.SubmitReq(recipients=["+8613800000000"], vaspid="805555", vasid="5555", service_code="123456")
        submitted = send(submit, sent).body.message_id
        for msg in vasp_requests(version, submitted):
            send(msg, sent)
    refused = mm7.encode(m.CancelReq(message_id="no-such-message"), transaction_id="t-2", version=version).to_bytes()
    rsp = sim.handle(refused, "text/xml", {})
    env = answered(rsp.body, rsp.headers)
    assert env.is_fault and env.body.status.code == 2005 and env.transaction_id == "t-2"
    assert env.version.name == ("REL-5-MM7-1-0" if dialect == "mbuni" else version.name)


# ---------------------------------------------------------------------------------------------
# What the client sends: the profile's namespace and MM7Version, for every operation


@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_the_client_sends_what_the_peer_profile_wants(version):
    from .fake_http import FakeServer

    requests = [m.SubmitReq, m.CancelReq, m.ReplaceReq, m.ExtendedCancelReq, m.ExtendedReplaceReq]
    with FakeServer() as srv:
        for wanted in (None, *version.mm7_versions):
            profile = mm7.Profile(version=version.name, mm7_version=wanted, soap_action='"urn:mm7"',
                                  extra_headers=(("X-Carrier", "46000"),))
            with mm7.Client(srv.url, profile=profile, retry=mm7.RetryPolicy(max_attempts=1)) as client:
                for cls in requests:
                    msg = full_message(cls, version) if version.element_class(cls.ELEMENT) else cls()
                    msg.mm7_version = None
                    if version.element_class(cls.ELEMENT) is None:  # refused before anything is sent
                        with pytest.raises(mm7.UnsupportedFieldError, match="extended operations"):
                            client.send(msg)
                        continue
                    result = client.send(msg)
                    req = srv.requests[-1]
                    env = req.decode()
                    assert result.ok and env.deviations == [], (cls.ELEMENT, wanted)
                    assert (env.version, env.body.mm7_version) == (version, wanted or version.default_mm7_version)
                    assert req.header("SOAPAction") == '"urn:mm7"' and req.header("X-Carrier") == "46000"


@pytest.mark.parametrize("dialect", sorted(profiles.DIALECTS))
@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_a_configuration_whose_mm7version_the_schema_refuses_is_an_error(version, dialect, tmp_path):
    """Checked where it is written, not found out at the first send: the MM7Version requests will
    carry (set, or the dialect's) must be one the configured schema version takes; one of a later
    release than the namespace (China Mobile's 6.3.0 with a REL-5 namespace), which a pattern
    takes, is a warning."""
    from mm7bind import config

    for wanted in (None, "5.3.0", "6.3.0", "6.7.0"):
        path = tmp_path / "mm7bind.toml"
        path.write_text(f'[mmsc]\nurls = ["http://127.0.0.1:9/mm7"]\ndialect = "{dialect}"\nversion = "{version.name}"\n'
                        + (f'mm7_version = "{wanted}"\n' if wanted else ""), encoding="utf-8")
        cfg, problems = config.load(path, env={})
        sent = cfg.profile().mm7_version or version.default_mm7_version
        refused = [p for p in problems if p.where == "mmsc.mm7_version" and p.level == "error"]
        assert bool(refused) != valid_mm7_version(version, sent), (wanted, problems)
        warned = [p for p in problems if p.where == "mmsc.mm7_version" and p.level == "warning"]
        assert bool(warned) == (not refused and later_release(sent, version.namespace)), (wanted, problems)
        try:  # and the check agrees with the encoder
            mm7.encode(m.CancelReq(message_id="1"), transaction_id="t", profile=cfg.profile())
            encodable = True
        except mm7.EncodeError:
            encodable = False
        assert encodable != bool(refused), (wanted, problems)


# ---------------------------------------------------------------------------------------------
# Every operation with none of its optional fields; every field a version lacks


def minimal(cls: type[m.Message]) -> m.Message:
    """`cls` with only what its schema requires (the same in every version)."""
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    required = {
        "SubmitReq": {"recipients": ["+8613800000000"]}, "SubmitRsp": {"message_id": "m-1"},
        "DeliverReq": {"sender": "+8613800000000"}, "CancelReq": {"message_id": "m-1"},
        "ReplaceReq": {"message_id": "m-1"}, "extendedCancelReq": {"cancel_id": "m-1"},
        "extendedReplaceRsp": {"message_id": "m-2"},
        "DeliveryReportReq": {"message_id": "m-1", "recipient": "+8613800000000", "sender": "1065888", "date": when,
                              "mm_status": m.DeliveryStatus.RETRIEVED},
        "ReadReplyReq": {"message_id": "m-1", "recipient": "+8613800000000", "sender": "1065888", "time_stamp": when,
                         "mm_status": m.ReadStatus.READ},
    }
    return cls(**required.get(cls.ELEMENT, {}))


ALL_CASES = [(v, cls) for v in VERSIONS for cls in m.MESSAGE_TYPES.values()]
CASE_IDS = [f"{v.name}-{cls.ELEMENT}" for v, cls in ALL_CASES]


@pytest.mark.parametrize("engine", ["direct", "xsdata"])
@pytest.mark.parametrize(("version", "cls"), ALL_CASES, ids=CASE_IDS)
def test_every_operation_with_no_optional_field(version, cls, engine):
    msg = minimal(cls)
    if cls.ELEMENT not in expected_bodies(version):  # the operation itself: refused, even when dropping
        for style in (mm7.XmlStyle(), mm7.XmlStyle(drop_unsupported=True)):
            with pytest.raises(mm7.UnsupportedFieldError) as err:
                mm7.encode_envelope(msg, transaction_id="t", version=version, style=style, engine=engine)
            assert (err.value.field, err.value.version) == (cls.ELEMENT, version.name)
        return
    data = mm7.encode_envelope(msg, transaction_id="t", version=version, engine=engine)
    assert validate_element(parse_xml(data).root, version) == []
    env = mm7.decode_envelope(data, strict=True, engine=engine)
    msg.mm7_version = version.default_mm7_version
    assert (env.version, env.body) == (version, msg)
    optional = [c for c, low, _ in expected_bodies(version)[cls.ELEMENT] if low == 0]
    body = parse_xml(data).root[1][0]
    assert [etree.QName(c).localname for c in body if etree.QName(c).localname in optional] == []


@pytest.mark.parametrize(("version", "cls"), ALL_CASES, ids=CASE_IDS)
def test_a_field_the_version_lacks_is_refused_or_dropped_with_a_warning(version, cls, caplog):
    """Set one at a time on an otherwise minimal message: UnsupportedFieldError naming the field and
    the version; with XmlStyle(drop_unsupported=True) the rest goes, the field is logged as dropped."""
    bodies = expected_bodies(version)
    if cls.ELEMENT not in bodies:
        return  # (the operation itself: above)
    has = {name for name, _, _ in bodies[cls.ELEMENT]}
    everything = full_message(cls, mm7.versions.get("REL-6-MM7-1-4"))  # values for every field there is
    lacking = [f.name for f in m.xml_fields(cls) if f.metadata["xml"].split("/")[0] not in has]
    assert bool(lacking) == (len(has) < len(BODIES[cls.ELEMENT])), lacking
    for name in lacking:
        msg = minimal(cls)
        setattr(msg, name, getattr(everything, name))
        for engine in ("direct", "xsdata"):
            with pytest.raises(mm7.UnsupportedFieldError) as err:
                mm7.encode_envelope(msg, transaction_id="t", version=version, engine=engine)
            assert (err.value.field, err.value.version) == (name, version.name)
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="mm7bind.binding"):
                data = mm7.encode_envelope(msg, transaction_id="t", version=version, engine=engine,
                                           style=mm7.XmlStyle(drop_unsupported=True))
            assert "dropped" in caplog.text and f"(field {name})" in caplog.text
            back = minimal(cls)
            back.mm7_version = version.default_mm7_version
            assert mm7.decode_envelope(data, strict=True).body == back, name


@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_rel6_address_attributes_and_values_in_every_version(version):
    """addressCoding and id exist from Rel-6 (refused or dropped before); a value a release does not
    list (ThirdParty, Deferred before Rel-6) is refused even when dropping, as a value is no field."""
    coded = m.SubmitReq(recipients=[mm7.Number("+8613800000000", address_coding=m.AddressCoding.ENCRYPTED, id="r1")])
    third_party = m.SubmitReq(recipients=["+8613800000000"], charged_party=m.ChargedParty.THIRD_PARTY)
    deferred = minimal(m.DeliveryReportReq)
    deferred.mm_status = m.DeliveryStatus.DEFERRED
    for msg in (coded, third_party, deferred):
        data = None
        for style in (mm7.XmlStyle(), mm7.XmlStyle(drop_unsupported=True)):
            if version.release >= 6:
                data = mm7.encode_envelope(msg, transaction_id="t", version=version, style=style)
                assert mm7.decode_envelope(data, strict=True).body.ELEMENT == msg.ELEMENT
            elif msg is coded and style.drop_unsupported:
                data = mm7.encode_envelope(msg, transaction_id="t", version=version, style=style)
                [to] = mm7.decode_envelope(data, strict=True).body.recipients.to
                assert to == mm7.Number("+8613800000000")
            else:
                with pytest.raises(mm7.EncodeError, match="addressCoding|not valid in " + version.name):
                    mm7.encode_envelope(msg, transaction_id="t", version=version, style=style)


@pytest.mark.parametrize("version", [v for v in VERSIONS if v.release >= 6], ids=ids)
def test_element_names_spelt_in_another_case_are_read(version):
    """`Previouslysentby` and `Previouslysentdateandtime` are spelt so by transcriptions of the
    Rel-6 schema, an odd capitalisation a peer may not share: `PreviouslySentBy` is read as the
    element it names (renamed-element), in both engines; next to the schema's spelling, it is
    kept as an extra rather than read twice."""
    msg = full_message(m.DeliverReq, version)
    assert msg.previously_sent_by and msg.previously_sent_at
    data = mm7.encode_envelope(msg, transaction_id="t-1", version=version)
    camel = data.replace(b"Previouslysentby>", b"PreviouslySentBy>").replace(
        b"Previouslysentdateandtime>", b"PreviouslySentDateAndTime>")
    assert camel.count(b"PreviouslySent") == 4
    for engine in ("direct", "xsdata"):
        env = mm7.decode_envelope(camel, engine=engine)
        assert env.body == msg, engine
        assert [(d.code, d.path) for d in env.deviations] == [
            ("renamed-element", "/Envelope/Body/DeliverReq/PreviouslySentBy"),
            ("renamed-element", "/Envelope/Body/DeliverReq/PreviouslySentDateAndTime")], engine
    both = data.replace(b"</Previouslysentby>", b"</Previouslysentby><PreviouslySentBy/>")
    env = mm7.decode_envelope(both)
    assert env.body.previously_sent_by == msg.previously_sent_by
    assert [e.name for e in env.body.extras] == ["PreviouslySentBy"]


# ---------------------------------------------------------------------------------------------
# Awkward values, in every version: written valid, read back equal


AWKWARD = 'a&b<c>d"e\'f ]]> \r\n\t 中文 𝄞😀'  # XML-special, CR/LF/tab, outside the BMP
ZONES = [timezone.utc, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)),
         timezone(timedelta(hours=5, minutes=45))]


def awkward_messages(version: mm7.Version) -> list[m.Message]:
    rel6 = version.release >= 6
    stamps = [datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=z) for z in ZONES]
    relative = [timedelta(days=90), timedelta(microseconds=1), timedelta(hours=-1), timedelta(0),
                timedelta(days=999999999, seconds=86399, microseconds=999999), "P1Y2M", "P1000000000D"]
    out = []
    for i, when in enumerate(relative + stamps):
        out.append(m.SubmitReq(
            vaspid="", vasid=AWKWARD, sender_address=mm7.ShortCode("𝄞" + AWKWARD.strip()),
            recipients=m.Recipients(to=[mm7.RFC2822Address("用户😀@例子.cn"), mm7.Number("+8613800000000")],
                                    bcc=[mm7.Number("1" * 5000)]),
            service_code="", linked_id="", time_stamp=stamps[i % len(stamps)], expiry_date=when,
            earliest_delivery_time=when, reply_charging=m.ReplyCharging(size=10**30, deadline=when),
            delivery_report=bool(i % 2), read_reply=not i % 2, distribution_indicator=False, subject=AWKWARD * 3,
            content_ref=m.ContentRef(href="cid:part-1@example.cn", allow_adaptations=bool(i % 2))))
    out.append(m.SubmitReq(recipients=[f"+86138{i:08d}" for i in range(2000)], subject="x" * 200_000))
    out.append(m.DeliverReq(sender=mm7.RFC2822Address(AWKWARD.strip() + "@example.com"), subject="",
                            time_stamp=stamps[1], linked_id=AWKWARD, relay_server_id=AWKWARD,
                            ua_capabilities=m.UACapabilities(AWKWARD, timedelta(days=-1)) if rel6 else None,
                            previously_sent_at=[m.ForwardTime("P1000000000D", 10**20)] if rel6 else []))
    out.append(m.DeliveryReportReq(message_id=AWKWARD, recipient=mm7.ShortCode("😀"), sender="+1", date=stamps[2],
                                   mm_status=m.DeliveryStatus.FORWARDED, status_text=""))
    out.append(m.ReadReplyReq(message_id="", recipient="a@b.c", sender="+1", time_stamp=stamps[3],
                              mm_status=m.ReadStatus.DELETED, status_text=AWKWARD))
    out.append(m.SubmitRsp(status=m.Status(10**30, "", AWKWARD), message_id=AWKWARD))
    out.append(m.DeliverRsp(status=m.Status(2001, AWKWARD * 100), service_code=AWKWARD))
    return out


@pytest.mark.parametrize("encoding", ["UTF-8", "GB2312", "GB18030"])
@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_awkward_values_in_every_version(version, encoding):
    style = mm7.XmlStyle(encoding=encoding)
    for msg in awkward_messages(version):
        msg.mm7_version = version.default_mm7_version
        for engine in ("direct", "xsdata"):
            data = mm7.encode_envelope(msg, transaction_id="tx <&> 😀", version=version, style=style, engine=engine)
            assert validate_element(parse_xml(data).root, version) == [], msg.ELEMENT
            env = mm7.decode_envelope(data, strict=True, engine=engine)
            assert env.transaction_id == "tx <&> 😀" and env.body == msg, (msg.ELEMENT, engine)


@pytest.mark.parametrize("version", VERSIONS, ids=ids)
def test_lexical_forms_peers_send_are_read_in_every_version(version):
    """Valid forms other than ours: other zones and no zone, 24:00, fractions past microseconds,
    numeric and padded booleans, signed and zero-padded integers, white space around all of them."""
    ns = version.namespace
    forms = [  # (element text or attribute, what it reads as)
        ("<TimeStamp>2024-01-01T24:00:00-00:00</TimeStamp>", "time_stamp", datetime(2024, 1, 2, tzinfo=timezone.utc)),
        ("<TimeStamp> 2024-01-01T08:00:00.1234567+08:00 </TimeStamp>", "time_stamp",
         datetime(2024, 1, 1, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))),
        ("<TimeStamp>2024-01-01T08:00:00</TimeStamp>", "time_stamp", datetime(2024, 1, 1, 8)),
        ("<ExpiryDate>\n P1DT0.5S\t</ExpiryDate>", "expiry_date", timedelta(days=1, milliseconds=500)),
        ("<ExpiryDate>-PT90M</ExpiryDate>", "expiry_date", timedelta(minutes=-90)),
        ("<DeliveryReport> 1 </DeliveryReport>", "delivery_report", True),
        ("<DeliveryReport>0</DeliveryReport>", "delivery_report", False),
    ]
    charging = '<ReplyCharging replyChargingSize=" +007 "/>'
    for xml, name, expected in forms:
        data = (f'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header>'
                f'<m:TransactionID xmlns:m="{ns}" e:mustUnderstand="1">t</m:TransactionID></e:Header><e:Body>'
                f'<SubmitReq xmlns="{ns}"><MM7Version>{version.default_mm7_version}</MM7Version>'
                f'<SenderIdentification/><Recipients><To><Number>1</Number></To></Recipients>'
                + (f'{xml}{charging}' if name == "time_stamp" else f'{charging}{xml}')  # (in schema order)
                + '</SubmitReq></e:Body></e:Envelope>').encode()
        for engine in ("direct", "xsdata"):
            env = mm7.decode_envelope(data, strict=True, engine=engine)
            assert getattr(env.body, name) == expected and env.body.reply_charging.size == 7, (xml, engine)
            if isinstance(expected, datetime):
                assert getattr(env.body, name).utcoffset() == expected.utcoffset(), (xml, engine)


@pytest.mark.parametrize("version", [v for v in VERSIONS if v.element_class("extendedCancelReq") is None], ids=ids)
def test_the_simulator_refuses_an_extended_operation_its_namespace_lacks(version):
    """Read tolerantly, an extendedCancelReq in an older namespace still cannot be answered there:
    a Fault (4003) in that namespace, not an exception."""
    sim = Simulator()
    submitted = mm7.encode(m.SubmitReq(recipients=["+8613800000000"]), transaction_id="t-0", version=version)
    rsp = sim.handle(submitted.to_bytes(), "text/xml", {})
    mid = answered(rsp.body, rsp.headers).body.message_id
    latest = mm7.versions.get("REL-6-MM7-1-4")
    for msg in (m.ExtendedCancelReq(cancel_id=mid), m.ExtendedReplaceReq(replace_id=mid)):
        data = mm7.encode_envelope(msg, transaction_id="t-1", version=latest).replace(
            latest.namespace.encode(), version.namespace.encode()).replace(b"6.8.0", version.default_mm7_version.encode())
        rsp = sim.handle(data, "text/xml", {})
        env = answered(rsp.body, rsp.headers)
        assert rsp.status == 500 and env.is_fault and env.body.status.code == 4003, msg.ELEMENT
        assert (env.version, env.transaction_id) == (version, "t-1")
