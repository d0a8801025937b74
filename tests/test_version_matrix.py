"""Every schema version × every operation, end to end: what the receiver and the simulator answer,
what the client sends, what a version lacks, and the awkward values each version must carry.

The expectations come from the protocol (which MM7Version values a schema enumerates, which
operations and fields each release has), not from the code under test, so a change on either side
that breaks the matrix shows up here.
"""

from __future__ import annotations

import re

import pytest

import mm7bind as mm7
from mm7bind import messages as m
from mm7bind import profiles
from mm7bind.binding import field_enum_values
from mm7bind.simulator import Simulator

from .builders import full_message

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
    enumerated = field_enum_values(version, "SubmitReq", "MM7Version")
    return bool(value) and (value in enumerated if enumerated else re.fullmatch(r"\d+\.\d+\.\d+", value) is not None)


def callers_mm7_versions(version: mm7.Version) -> list[str | None]:
    """What callers send: each value the manifest pairs with the namespace, values seen in the wild
    that some schemas refuse (5.2.0, 6.7.0), and none at all."""
    return [*version.mm7_versions, "5.2.0", "6.7.0", None]


def answered(body: bytes, headers) -> mm7.Envelope:
    return mm7.decode(body, dict(headers)["Content-Type"], strict=True)


def answer_mm7_version(env: mm7.Envelope) -> str | None:
    return env.body.detail.mm7_version if env.is_fault else env.body.mm7_version


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
            expected = sent if valid_mm7_version(version, sent) else version.default_mm7_version
            where = f"{cls.ELEMENT} with MM7Version {sent}"
            assert (env.version, env.transaction_id) == (version, "t-1"), where
            assert answer_mm7_version(env) == expected, where
            if cls is m.ReadReplyReq:
                assert rsp.status == 500 and env.body.status.code == 4007, where
            else:
                assert rsp.status == 200 and isinstance(env.body, m.RESPONSE_FOR[cls.ELEMENT]), where


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
            expected = sent if valid_mm7_version(version, sent) else version.default_mm7_version
            assert (env.version, answer_mm7_version(env)) == (version, expected), where
        assert not env.is_fault, where
        return env

    for sent in callers_mm7_versions(version):
        submitted = send(m.SubmitReq(recipients=["+8613800000000"]), sent).body.message_id
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
    carry (set, or the dialect's) must be one the configured schema version takes."""
    from mm7bind import config

    for wanted in (None, "5.3.0", "6.3.0", "6.7.0"):
        path = tmp_path / "mm7bind.toml"
        path.write_text(f'[mmsc]\nurls = ["http://127.0.0.1:9/mm7"]\ndialect = "{dialect}"\nversion = "{version.name}"\n'
                        + (f'mm7_version = "{wanted}"\n' if wanted else ""), encoding="utf-8")
        cfg, problems = config.load(path, env={})
        sent = cfg.profile().mm7_version or version.default_mm7_version
        refused = [p for p in problems if p.where == "mmsc.mm7_version"]
        assert bool(refused) != valid_mm7_version(version, sent), (wanted, problems)
        try:  # and the check agrees with the encoder
            mm7.encode(m.CancelReq(message_id="1"), transaction_id="t", profile=cfg.profile())
            encodable = True
        except mm7.EncodeError:
            encodable = False
        assert encodable != bool(refused), (wanted, problems)
