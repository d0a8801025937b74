"""HTTP Digest against RFC 7616's own examples, its SHA-512-256 and userhash, and the answers it
requires: computed from the RFC's numbers, not from our own code's."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import logging
import re
import sqlite3
import time
from urllib.parse import urlsplit

import pytest

import mm7bind as mm7
from mm7bind import auth as auth_mod
from mm7bind.simulator import Simulator

# RFC 7616 §3.9.1
MUFASA = {"username": "Mufasa", "password": "Circle of Life", "realm": "http-auth@example.org",
          "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "method": "GET", "uri": "/dir/index.html",
          "qop": "auth", "nc": "00000001", "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"}

# RFC 7616 §3.9.2, with its erratum 4897: the RFC's own hashes were made with a draft of
# SHA-512/256; these are those of FIPS 180-4's, which the erratum gives.
JASON = {"username": "J\u00e4s\u00f8n Doe", "password": "Secret, or not?", "realm": "api@example.org",
         "nonce": "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", "method": "GET", "uri": "/doe.json",
         "qop": "auth", "nc": "00000001", "cnonce": "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v"}
JASON_USERHASH = "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
JASON_RESPONSE = "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"

needs_sha512_256 = pytest.mark.skipif(
    "sha512_256" not in hashlib.algorithms_available,
    reason="this Python's hashlib (its OpenSSL) has no SHA-512/256: SHA-512-256 is not spoken here")


def params(header: str) -> dict[str, str]:
    return {k.lower(): v1 or v2 for k, v1, v2 in re.findall(r'(\w+\*?)=(?:"([^"]*)"|([^\s,]+))', header)}


@pytest.mark.parametrize(("algorithm", "expected"), [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")])
def test_the_request_digest_of_rfc_7616s_examples(algorithm, expected):
    assert auth_mod.digest_response(algorithm=algorithm, **MUFASA) == expected


@needs_sha512_256
def test_sha_512_256_is_fips_180_4s_and_rfc_7616s():
    """SHA-512-256 is SHA-512/256 (SHA-512 with its own initial values, truncated), not SHA-512's
    first half: FIPS 180-4's example of "abc", then RFC 7616 §3.9.2 (errata 4897) with userhash."""
    fips = "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    assert auth_mod._HASHES["SHA-512-256"](b"abc").hexdigest() == fips
    assert hashlib.sha512(b"abc").hexdigest()[:64] != fips
    assert auth_mod.userhash(JASON["username"], JASON["realm"], "SHA-512-256") == JASON_USERHASH
    assert auth_mod.digest_response(algorithm="SHA-512-256", **JASON) == JASON_RESPONSE


@needs_sha512_256
def test_the_client_answers_rfc_7616s_sha_512_256_challenge_with_the_username_hashed():
    """A challenge asking for SHA-512-256 and userhash found no answer (an MMSC offering only it
    was never answered); now it is answered as RFC 7616 §3.9.2 shows, the username hashed."""
    challenge = ('Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, '
                 f'nonce="{JASON["nonce"]}", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", '
                 'charset=UTF-8, userhash=true')
    answer = auth_mod.DigestAnswer(JASON["username"], JASON["password"])
    assert answer.take(challenge)
    p = params(answer.authorization("GET", "/doe.json"))
    assert p["username"] == JASON_USERHASH and p["userhash"] == "true" and "username*" not in p
    assert p["algorithm"] == "SHA-512-256" and p["qop"] == "auth" and p["nc"] == "00000001"
    assert p["opaque"] == "HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS"
    assert p["response"] == auth_mod.digest_response(algorithm="SHA-512-256", **{**JASON, "cnonce": p["cnonce"]})
    # (the RFC's own cnonce: its response)
    assert auth_mod.digest_response(algorithm="SHA-512-256", **{**JASON, "cnonce": JASON["cnonce"]}) == JASON_RESPONSE
    # Of several challenges, the first (RFC 7616 §3.7: the server's preferred), not the strongest.
    both = answer.take('Digest realm="r", qop="auth", nonce="n1", algorithm=SHA-256, '
                       'Digest realm="r", qop="auth", nonce="n2", algorithm=SHA-512-256-sess')
    assert both and answer.challenge["nonce"] == "n1"


@needs_sha512_256
@pytest.mark.parametrize("algorithm", ["SHA-512-256", "SHA-512-256-sess", "MD5", "SHA-256"])
def test_the_server_asks_for_sha_512_256_and_userhash_and_takes_the_answers(algorithm):
    auth = auth_mod.DigestAuth("J\u00e4s\u00f8n Doe", "Secret, or not?", realm="api@example.org",
                               algorithm=algorithm, userhash=True)
    challenge = auth.challenge()
    assert f"algorithm={algorithm}" in challenge and "userhash=true" in challenge
    answer = auth_mod.DigestAnswer("J\u00e4s\u00f8n Doe", "Secret, or not?")
    assert answer.take(challenge)
    header = answer.authorization("POST", "/mm7")
    assert "userhash=true" in header and "J%C3%A4s" not in header
    assert auth.check("POST", "/mm7", header) == (True, False)
    # A client not hashing the name (userhash is its choice) is taken too; a wrong password is not.
    plain = answer.authorization("POST", "/mm7").replace("userhash=true", "userhash=false")
    plain = re.sub(r'username="[0-9a-f]+"', lambda _: "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe", plain)
    assert auth.check("POST", "/mm7", plain) == (True, False)  # (the response signs the name itself either way)
    unhashed = auth_mod.DigestAnswer("J\u00e4s\u00f8n Doe", "Secret, or not?")
    assert unhashed.take(auth.challenge().replace("userhash=true, ", ""))
    assert auth.check("POST", "/mm7", unhashed.authorization("POST", "/mm7")) == (True, False)
    wrong = auth_mod.DigestAnswer("J\u00e4s\u00f8n Doe", "Secret")
    assert wrong.take(challenge)
    assert auth.check("POST", "/mm7", wrong.authorization("POST", "/mm7")) == (False, False)
    other = auth_mod.DigestAnswer("Jason Doe", "Secret, or not?")  # (another name's hash)
    assert other.take(challenge)
    assert auth.check("POST", "/mm7", other.authorization("POST", "/mm7")) == (False, False)


def test_without_sha_512_256_it_is_said_and_no_other_hash_is_taken_for_it(monkeypatch):
    """Where hashlib lacks SHA-512/256 (some OpenSSL builds), the server refuses to be made with
    it, saying why, and a client offered only it does not answer with another hash."""
    monkeypatch.setattr(auth_mod, "_HASHES", {"MD5": hashlib.md5, "SHA-256": hashlib.sha256})
    with pytest.raises(ValueError, match="SHA-512/256, which this Python's hashlib"):
        auth_mod.DigestAuth("a", "b", algorithm="SHA-512-256-sess")
    answer = auth_mod.DigestAnswer("a", "b")
    assert not answer.take('Digest realm="r", qop="auth", nonce="n", algorithm=SHA-512-256')
    assert answer.take('Digest realm="r", qop="auth", nonce="n", algorithm=SHA-512-256, '
                       'Digest realm="r", qop="auth", nonce="m", algorithm=SHA-256')
    assert answer.challenge["nonce"] == "m"


def test_a_digest_answer_with_qop_but_no_nc_or_cnonce_is_refused_and_logged(caplog):
    """RFC 7616 §3.4: with qop, nc and cnonce are sent too. An answer without them, its response
    computed with them empty, was taken, and its count (none) guarded nothing."""
    auth = auth_mod.DigestAuth("mmsc", "pw")
    nonce = params(auth.challenge())["nonce"]
    for missing in ("nc", "cnonce", "both"):
        nc = "" if missing in ("nc", "both") else "00000001"
        cnonce = "" if missing in ("cnonce", "both") else "0a4f113b"
        response = auth_mod.digest_response(username="mmsc", password="pw", realm="mm7", nonce=nonce,
                                            method="POST", uri="/mm7", qop="auth", nc=nc, cnonce=cnonce)
        header = (f'Digest username="mmsc", realm="mm7", nonce="{nonce}", uri="/mm7", response="{response}", '
                  f'qop=auth' + (f", nc={nc}" if nc else "") + (f', cnonce="{cnonce}"' if cnonce else ""))
        assert auth.check("POST", "/mm7", header) == (False, False), missing
        assert "without nc and cnonce" in auth.malformed(header)
    rcv = mm7.Receiver(auth=auth)
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    with caplog.at_level(logging.WARNING, logger="mm7bind.receiver"):
        rsp = rcv.handle(out.to_bytes(), out.content_type, {"Authorization": header}, peer="192.0.2.1", uri="/mm7")
    assert rsp.status == 401
    assert "its Digest answer has qop=auth without nc and cnonce, which RFC 7616 requires" in caplog.text
    assert "wrong Digest credentials" not in caplog.text
    # The complete answer is taken, and says nothing malformed.
    answer = auth_mod.DigestAnswer("mmsc", "pw")
    assert answer.take(auth.challenge())
    right = answer.authorization("POST", "/mm7")
    assert auth.malformed(right) is None and auth.check("POST", "/mm7", right) == (True, False)


@pytest.mark.parametrize("qop", ["AUTH", "Auth-Int"])
def test_a_digest_answer_with_qop_in_another_case_is_taken(qop):
    """RFC 7616's qop values are ABNF literals, which know no case: an answer with qop=AUTH (signed
    so, as written) was refused whatever its credentials. auth-int still needs the body."""
    auth = auth_mod.DigestAuth("mmsc", "pw", qop="auth,auth-int")
    nonce = params(auth.challenge())["nonce"]
    body = b"<Envelope/>"

    def header(password: str) -> str:
        response = auth_mod.digest_response(username="mmsc", password=password, realm="mm7", nonce=nonce,
                                            method="POST", uri="/mm7", qop=qop, nc="00000001", cnonce="0a4f113b",
                                            body=body)
        return (f'Digest username="mmsc", realm="mm7", nonce="{nonce}", uri="/mm7", response="{response}", '
                f'qop={qop}, nc=00000001, cnonce="0a4f113b"')

    assert auth.check("POST", "/mm7", header("guess"), body) == (False, False)
    if qop.lower() == "auth-int":
        assert auth.check("POST", "/mm7", header("pw"), None) == (False, False)  # (the body it signs, unseen)
        assert auth.check("POST", "/mm7", header("pw"), b"<Other/>") == (False, False)
    assert auth.check("POST", "/mm7", header("pw"), body) == (True, False)


def test_the_same_refusal_from_one_peer_is_said_once_a_minute_with_a_count(caplog):
    """A malformed answer tests no password, so no failure limit stops a peer sending it in a loop
    (nor wrong ones with auth_failures=0): each refusal was a WARNING line, a log filled at the
    rate of the requests. The first is said; the same again from that peer within a minute is
    counted and told with the next line; another reason, or another peer, is said at once."""
    now = [1000.0]
    refusals = auth_mod.RefusalLog(clock=lambda: now[0])
    rcv = mm7.Receiver(auth=auth_mod.DigestAuth("mmsc", "pw"), auth_failures=0)
    rcv._refusals = refusals
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    nonce = params(rcv.config.auth.challenge())["nonce"]
    malformed = f'Digest username="mmsc", realm="mm7", nonce="{nonce}", uri="/mm7", response="00", qop=auth'
    wrong = (f'Digest username="mmsc", realm="mm7", nonce="{nonce}", uri="/mm7", response="00", qop=auth, '
             'nc=00000001, cnonce="0a4f113b"')

    def send(header: str, peer: str = "192.0.2.1") -> None:
        rsp = rcv.handle(out.to_bytes(), out.content_type, {"Authorization": header}, peer=peer, uri="/mm7")
        assert rsp.status == 401

    def said() -> list[str]:
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused request from")]
        caplog.clear()
        return lines

    with caplog.at_level(logging.WARNING, logger="mm7bind.receiver"):
        for _ in range(5):
            send(malformed)
        assert said() == ["refused request from 192.0.2.1: its Digest answer has qop=auth without nc and cnonce, "
                          "which RFC 7616 requires with it"]
        send(wrong)
        send(malformed, peer="198.51.100.7")
        assert said() == ["refused request from 192.0.2.1: wrong Digest credentials",
                          "refused request from 198.51.100.7: its Digest answer has qop=auth without nc and cnonce, "
                          "which RFC 7616 requires with it"]
        now[0] += 61
        send(malformed)
        send(malformed)
        [line] = said()
        assert line.endswith("which RFC 7616 requires with it (4 more alike from it not said since the last such line)")


def test_auth_int_hashes_the_body_once_whatever_charsets_the_password_is_tried_in(monkeypatch):
    """A password beyond ASCII is checked as written in UTF-8, GB18030 and Latin-1: the body, the
    same in each, was read and hashed for each (three times a large message's work)."""
    auth = auth_mod.DigestAuth("mmsc", "pässwörd", qop="auth-int")
    answer = auth_mod.DigestAnswer("mmsc", "pässwörd")
    assert answer.take(auth.challenge())
    body = b"the message" * 1000
    header = answer.authorization("POST", "/mm7", body)
    hashed = []
    real = auth_mod._body_hash
    monkeypatch.setattr(auth_mod, "_body_hash", lambda fn, b: hashed.append(b) or real(fn, b))
    assert auth.check("POST", "/mm7", header, body) == (True, False)
    assert len(hashed) == 1
    # (and the body still counts: another is refused)
    header = answer.authorization("POST", "/mm7", body)
    assert auth.check("POST", "/mm7", header, body + b"!") == (False, False)


@pytest.mark.parametrize("charset", ["undefined", "idna", "utf-7", "zlib_codec", "no-such-charset"])
def test_a_username_star_in_a_charset_no_name_decodes_in_is_a_401_not_an_internal_error(charset, caplog):
    """RFC 8187's charset of `username*` is the sender's word: one whose decoder raises other than a
    decoding error (Python's "undefined" codec raises UnicodeError) made each such request, from
    anyone, a 500 with a traceback in the log, and uncounted by the failure limit."""
    auth = auth_mod.DigestAuth("mmsc", "pw")
    nonce = params(auth.challenge())["nonce"]
    header = (f"Digest username*={charset}''%6d%6d%73%63%ff, realm=\"mm7\", nonce=\"{nonce}\", uri=\"/mm7\", "
              f'response="{"0" * 32}", qop=auth, nc=00000001, cnonce="c"')
    assert auth.check("POST", "/mm7", header) == (False, False)
    rcv = mm7.Receiver(auth=auth)
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    with caplog.at_level(logging.WARNING, logger="mm7bind.receiver"):
        rsp = rcv.handle(out.to_bytes(), out.content_type, {"Authorization": header}, peer="192.0.2.1", uri="/mm7")
    assert rsp.status == 401 and "wrong Digest credentials" in caplog.text


@needs_sha512_256
@pytest.mark.parametrize(("algorithm", "hashed"), [("SHA-512-256", False), ("SHA-512-256-sess", False),
                                                   ("SHA-512-256", True)])
def test_an_answer_naming_sha_512_256_computed_with_sha_256_is_refused_and_said_so(algorithm, hashed, caplog):
    """curl before 8.8 answers SHA-512-256 with SHA-256's hashes (its name's hash too, with userhash):
    refused, as any answer not computed with the algorithm it names, and the log says what it is
    rather than "wrong credentials", which sent the operator after the password."""
    auth = auth_mod.DigestAuth("sp", "pw", algorithm=algorithm, userhash=hashed)
    rcv = mm7.Receiver(auth=auth)
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    instead = algorithm.replace("SHA-512-256", "SHA-256")

    def curls_answer(password):
        answer = auth_mod.DigestAnswer("sp", password)
        assert answer.take(auth.challenge().replace(f"algorithm={algorithm}", f"algorithm={instead}"))
        return answer.authorization("POST", "/mm7").replace(f"algorithm={instead}", f"algorithm={algorithm}")

    header = curls_answer("pw")
    assert ("userhash=true" in header) is hashed
    assert auth.check("POST", "/mm7", header) == (False, False)
    assert auth.computed_with("POST", header) == instead
    with caplog.at_level(logging.WARNING, logger="mm7bind.receiver"):
        rsp = rcv.handle(out.to_bytes(), out.content_type, {"Authorization": header}, peer="192.0.2.1", uri="/mm7")
        assert rsp.status == 401
        assert (f"its Digest answer names {algorithm} but is computed with {instead} (as curl before 8.8 does): "
                f"serve it algorithm={instead}") in caplog.text
        caplog.clear()
        wrong = curls_answer("guess")
        assert auth.computed_with("POST", wrong) is None
        rcv.handle(out.to_bytes(), out.content_type, {"Authorization": wrong}, peer="192.0.2.1", uri="/mm7")
        assert "wrong Digest credentials" in caplog.text and "curl" not in caplog.text
    # (a right answer says nothing of the kind)
    answer = auth_mod.DigestAnswer("sp", "pw")
    assert answer.take(auth.challenge())
    assert auth.computed_with("POST", answer.authorization("POST", "/mm7")) is None


def test_a_digest_answer_naming_a_parameter_twice_is_logged_as_such(caplog):
    auth = auth_mod.DigestAuth("mmsc", "pw")
    answer = auth_mod.DigestAnswer("mmsc", "pw")
    assert answer.take(auth.challenge())
    twice = answer.authorization("POST", "/mm7").replace('response="', f'response="{"0" * 32}", response="')
    rcv = mm7.Receiver(auth=auth)
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    with caplog.at_level(logging.WARNING, logger="mm7bind.receiver"):
        rsp = rcv.handle(out.to_bytes(), out.content_type, {"Authorization": twice}, peer="192.0.2.1", uri="/mm7")
    assert rsp.status == 401 and "its Digest answer names a parameter twice" in caplog.text


@needs_sha512_256
def test_both_clients_send_to_a_receiver_asking_for_sha_512_256_sess_userhash_and_auth_int():
    """Over a socket: the sync client (requests) and the async one (httpx) answer the challenge."""
    auth = auth_mod.DigestAuth("用户", "pässwörd", algorithm="SHA-512-256-sess", qop="auth-int", userhash=True)
    msg = mm7.DeliverReq(sender="+8613800000000", recipients=["1065888"])
    kw = {"username": "用户", "password": "pässwörd", "auth": "digest", "role": "mmsc",
          "retry": mm7.RetryPolicy(max_attempts=1)}
    with mm7.serve(mm7.Receiver(auth=auth), port=0) as srv:
        with mm7.Client(srv.endpoint, **kw) as client:
            assert client.send(msg).ok and client.send(msg).ok

        async def send_async():
            async with mm7.AsyncClient(srv.endpoint, **kw) as client:
                return (await client.send(msg)).ok and (await client.send(msg)).ok

        assert asyncio.run(send_async())


def test_the_receivers_digest_algorithm_and_userhash_from_the_configuration(tmp_path):
    """`mm7bind serve` could only challenge with MD5: [receiver] digest_algorithm and digest_userhash."""
    from mm7bind import config

    path = tmp_path / "c.toml"
    path.write_text('[receiver]\nauth = "digest"\nusername = "mmsc"\npassword = "pw"\ndigest_algorithm = "SHA-256-sess"\n'
                    "digest_userhash = true\n", encoding="utf-8")
    cfg, problems = config.load(path, env={})
    assert not [p for p in problems if p.level == "error"], problems
    challenge = cfg.receiver_settings()["auth"].challenge()
    assert "algorithm=SHA-256-sess" in challenge and "userhash=true" in challenge
    cfg, problems = config.load(path, env={"MM7BIND_RECEIVER_DIGEST_USERHASH": "false"})
    assert "userhash" not in cfg.receiver_settings()["auth"].challenge()
    path.write_text('[receiver]\nauth = "digest"\nusername = "mmsc"\npassword = "pw"\ndigest_algorithm = "SHA-1"\n',
                    encoding="utf-8")
    _, problems = config.load(path, env={})
    [problem] = [p for p in problems if p.level == "error"]
    assert problem.where == "receiver.digest_algorithm" and "unknown Digest algorithm 'SHA-1'" in problem.message


def test_a_digest_response_in_upper_case_hex_is_the_same_digest():
    """RFC 7616 writes the response in lower-case hex; some clients write it in upper case (and
    servers refusing it are reported to their makers): the same digest, taken."""
    auth = auth_mod.DigestAuth("mmsc", "pw")
    answer = auth_mod.DigestAnswer("mmsc", "pw")
    assert answer.take(auth.challenge())
    header = answer.authorization("POST", "/mm7")
    response = params(header)["response"]
    assert auth.check("POST", "/mm7", header.replace(response, response.upper())) == (True, False)
    wrong = answer.authorization("POST", "/mm7")
    assert auth.check("POST", "/mm7", wrong.replace(params(wrong)["response"], response.upper())) == (False, False)


def _post(url: str, authorization: str | None = None) -> tuple[int, list[str]]:
    """A DeliverReq posted over a socket: the status, and the WWW-Authenticate headers as sent."""
    parts = urlsplit(url)
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    headers = {"Content-Type": out.content_type, **({"Authorization": authorization} if authorization else {})}
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", parts.path, body=out.to_bytes(), headers=headers)
        rsp = conn.getresponse()
        rsp.read()
        return rsp.status, rsp.msg.get_all("WWW-Authenticate") or []
    finally:
        conn.close()


def test_a_receiver_offering_several_algorithms_challenges_with_each_and_takes_each():
    """RFC 7616 §3.7: a server preferring SHA-256 offers MD5 too, one WWW-Authenticate header per
    algorithm in its order of preference, each with its own nonce; an answer is checked with the
    algorithm it names. (One algorithm only could be offered: preferring SHA-256 shut out the
    clients speaking only MD5, older curl and China Mobile's SDK among them.)"""
    auth = auth_mod.DigestAuth("mmsc", "pw", algorithm="SHA-256, MD5")
    with mm7.serve(mm7.Receiver(auth=auth), port=0) as srv:
        status, challenges = _post(srv.endpoint)
        assert status == 401 and len(challenges) == 2  # (headers of their own, through waitress)
        assert [params(c)["algorithm"] for c in challenges] == ["SHA-256", "MD5"]
        assert params(challenges[0])["nonce"] != params(challenges[1])["nonce"]
        for challenge in challenges:  # (a client speaking only that one)
            answer = auth_mod.DigestAnswer("mmsc", "pw")
            assert answer.take(challenge)
            assert _post(srv.endpoint, answer.authorization("POST", "/mm7"))[0] == 200
        # An answer computed with MD5 but naming SHA-256, or naming one not offered: refused.
        md5 = auth_mod.DigestAnswer("mmsc", "pw")
        assert md5.take(challenges[1])
        assert _post(srv.endpoint, md5.authorization("POST", "/mm7").replace("algorithm=MD5", "algorithm=SHA-256"))[0] == 401
        sess = auth_mod.DigestAnswer("mmsc", "pw")
        assert sess.take(challenges[1].replace("algorithm=MD5", "algorithm=MD5-sess"))
        status, again = _post(srv.endpoint, sess.authorization("POST", "/mm7"))
        assert status == 401 and len(again) == 2 and "stale" not in again[0]
    # An aged nonce, answered right with the algorithm of either challenge: stale, and each challenge says so.
    for challenge in challenges:
        aged = auth._nonce(int(time.time() - auth.nonce_lifetime - 60), algorithm=params(challenge)["algorithm"])
        answer = auth_mod.DigestAnswer("mmsc", "pw")
        assert answer.take(challenge.replace(params(challenge)["nonce"], aged))
        assert auth.check("POST", "/mm7", answer.authorization("POST", "/mm7")) == (False, True)
    assert all(c.endswith("stale=true") for c in auth.challenges(stale=True))
    # One value holding both (RFC 9110 allows it), for an authenticator's one `challenge`.
    assert _challenge_algorithms(auth.challenge()) == ["SHA-256", "MD5"]


def _challenge_algorithms(header: str) -> list[str]:
    return [c.get("algorithm") for c in auth_mod.digest_challenges(header)]


def test_the_asgi_app_and_the_simulator_send_each_challenge_as_a_header_of_its_own():
    auth = auth_mod.DigestAuth("mmsc", "pw", algorithm=["MD5", "SHA-256"])
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/mm7", "root_path": "", "query_string": b"", "headers": [],
             "client": ("10.0.0.7", 40000), "server": ("127.0.0.1", 8080)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(mm7.asgi_app(mm7.Receiver(auth=auth), "/mm7")(scope, receive, send))
    assert sent[0]["status"] == 401
    headers = [v.decode() for k, v in sent[0]["headers"] if k == b"www-authenticate"]
    assert [params(h)["algorithm"] for h in headers] == ["MD5", "SHA-256"]

    with Simulator(auth=auth, report_delay=60) as sim:
        status, challenges = _post(sim.url)
    assert status == 401 and [params(c)["algorithm"] for c in challenges] == ["MD5", "SHA-256"]


class _Recording(auth_mod.DigestAuth):
    """A DigestAuth keeping the algorithm each answer names."""

    def check(self, method, uri, header, body=None):
        if header:
            self.named.append(params(header).get("algorithm"))
        return super().check(method, uri, header, body)


@pytest.mark.parametrize(("offered", "answered"), [("MD5, SHA-256", "MD5"), ("SHA-256, MD5", "SHA-256")])
def test_both_clients_answer_the_first_challenge_they_speak(offered, answered):
    """RFC 7616 §3.7: the server lists its challenges in its order of preference, and a client
    uses the first it supports. The clients took the strongest, overriding an MMSC that prefers
    MD5 (one whose SHA-256 is there for others, or broken)."""
    auth = _Recording("sp", "pw", algorithm=offered)
    auth.named = []
    msg = mm7.DeliverReq(sender="+8613800000000", recipients=["1065888"])
    kw = {"username": "sp", "password": "pw", "auth": "digest", "role": "mmsc",
          "retry": mm7.RetryPolicy(max_attempts=1)}
    with mm7.serve(mm7.Receiver(auth=auth), port=0) as srv:
        with mm7.Client(srv.endpoint, **kw) as client:
            assert client.send(msg).ok

        async def send_async():
            async with mm7.AsyncClient(srv.endpoint, **kw) as client:
                return (await client.send(msg)).ok

        assert asyncio.run(send_async())
    assert auth.named == [answered, answered]  # (each client: asking unsigned, then its answer)


def test_several_digest_algorithms_in_the_configuration(tmp_path):
    from mm7bind import config

    path = tmp_path / "c.toml"
    text = '[receiver]\nauth = "digest"\nusername = "mmsc"\npassword = "pw"\ndigest_algorithm = "{}"\n'
    path.write_text(text.format("SHA-256-sess, MD5"), encoding="utf-8")
    cfg, problems = config.load(path, env={})
    assert not [p for p in problems if p.level == "error"], problems
    assert _challenge_algorithms(cfg.receiver_settings()["auth"].challenge()) == ["SHA-256-sess", "MD5"]
    for wrong, says in [("SHA-256, SHA-1", "unknown Digest algorithm 'SHA-1'"), ("SHA-256,", "an empty Digest algorithm"),
                        ("MD5, md5", "Digest algorithm md5 is offered twice")]:
        path.write_text(text.format(wrong), encoding="utf-8")
        _, problems = config.load(path, env={})
        [problem] = [p for p in problems if p.level == "error"]
        assert problem.where == "receiver.digest_algorithm" and says in problem.message
        with pytest.raises(ValueError, match=says):
            auth_mod.DigestAuth("mmsc", "pw", algorithm=wrong)


@needs_sha512_256
def test_a_curl_answer_to_a_server_offering_several_says_which_to_offer_first(caplog):
    """curl before 8.8 answering SHA-512-256 with SHA-256's hashes, to a receiver offering
    SHA-512-256 and MD5: the log names the algorithm the answer names, and the fix."""
    auth = auth_mod.DigestAuth("sp", "pw", algorithm="SHA-512-256, MD5")
    answer = auth_mod.DigestAnswer("sp", "pw")
    assert answer.take(auth.challenges()[0].replace("algorithm=SHA-512-256", "algorithm=SHA-256"))
    header = answer.authorization("POST", "/mm7").replace("algorithm=SHA-256", "algorithm=SHA-512-256")
    assert auth.check("POST", "/mm7", header) == (False, False)
    assert auth.computed_with("POST", header) == "SHA-256"
    assert auth_mod.why_refused(auth, "POST", "/mm7", header, None) == (
        "its Digest answer names SHA-512-256 but is computed with SHA-256 (as curl before 8.8 does): "
        "offer SHA-256 too, before SHA-512-256")
    both = auth_mod.DigestAuth("sp", "pw", algorithm="SHA-512-256, SHA-256")  # (its nonces signed alike)
    assert auth_mod.why_refused(both, "POST", "/mm7", header, None).endswith("offer SHA-256 before SHA-512-256")


def test_an_answer_with_an_algorithm_not_offered_is_logged_as_such_not_as_a_wrong_password(caplog):
    """A client answering MD5 whatever it is offered (many do, naming no algorithm), to a receiver
    offering SHA-256 only: refused, and the log said "wrong Digest credentials", which sent the
    operator after a password that was right. It says which algorithm, and how to take it."""
    auth = auth_mod.DigestAuth("mmsc", "pw", algorithm="SHA-256")
    rcv = mm7.Receiver(auth=auth)
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    md5 = auth_mod.DigestAnswer("mmsc", "pw")
    assert md5.take(auth.challenge().replace("algorithm=SHA-256, ", ""))
    unnamed = md5.authorization("POST", "/mm7")
    assert "algorithm" not in unnamed
    sha1 = unnamed.replace("Digest ", "Digest algorithm=SHA-1, ")
    with caplog.at_level(logging.WARNING, logger="mm7bind.receiver"):
        for header in (unnamed, sha1):
            rsp = rcv.handle(out.to_bytes(), out.content_type, {"Authorization": header}, peer="192.0.2.1", uri="/mm7")
            assert rsp.status == 401
    assert ('its Digest answer names no algorithm (MD5), which is not offered (only SHA-256): offer it too, '
            '"SHA-256, MD5", for such clients') in caplog.text
    assert "names algorithm=SHA-1, which is not offered (only SHA-256)\n" in caplog.text + "\n"
    assert "wrong Digest credentials" not in caplog.text
    # Offered too, such an answer (to its MD5 challenge: a nonce serves its own algorithm) is taken.
    both = auth_mod.DigestAuth("mmsc", "pw", algorithm="SHA-256, MD5")
    assert md5.take(both.challenges()[1].replace("algorithm=MD5, ", ""))
    assert both.check("POST", "/mm7", md5.authorization("POST", "/mm7")) == (True, False)


def test_the_receivers_debug_line_shows_each_challenge_of_a_401(caplog):
    """The DEBUG line of an answer showed its headers as a dict: of a 401 offering SHA-256 and MD5,
    the MD5 challenge alone, while the client was sent both."""
    rcv = mm7.Receiver(auth=auth_mod.DigestAuth("mmsc", "pw", algorithm="SHA-256, MD5"))
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    with caplog.at_level(logging.DEBUG, logger="mm7bind.receiver"):
        assert rcv.handle(out.to_bytes(), out.content_type, {}, peer="192.0.2.1", uri="/mm7").status == 401
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("HTTP 401")]
    assert "algorithm=SHA-256" in line and "algorithm=MD5" in line


@pytest.mark.parametrize("lifetime", ["300", 0, -1, float("nan"), True])
def test_a_nonce_lifetime_that_is_no_positive_number_is_refused_when_made(lifetime):
    """DigestAuth(nonce_lifetime="300") was taken, and every request was a 500 (its nonce's age
    compared with a str); 0 or less made every nonce stale at once, every request refused."""
    with pytest.raises(ValueError, match="nonce_lifetime must be a number of seconds, more than 0"):
        auth_mod.DigestAuth("mmsc", "pw", nonce_lifetime=lifetime)
    assert auth_mod.DigestAuth("mmsc", "pw", nonce_lifetime=2).nonce_lifetime == 2


def _answer_with_nonce_of(challenge: str, nonce_from: str, password: str = "pw") -> str:
    """An answer to `challenge` (its algorithm) made with the nonce of `nonce_from`."""
    answer = auth_mod.DigestAnswer("mmsc", password)
    assert answer.take(challenge.replace(params(challenge)["nonce"], params(nonce_from)["nonce"]))
    return answer.authorization("POST", "/mm7")


def test_a_nonce_is_answered_only_with_the_algorithm_of_its_challenge(caplog):
    """A nonce of the MD5 challenge answered with SHA-256 (a client mixing two challenges) was
    taken: nonces were tied to no algorithm. Such an answer, right otherwise, gets fresh challenges
    with stale=true (RFC 7616 §3.3: the credentials are right, only the nonce is not for it), and
    is logged; with a wrong password, it is refused as such. Nonces stay valid across processes."""
    auth = auth_mod.DigestAuth("mmsc", "pw", algorithm="MD5, SHA-256")
    md5, sha256 = auth.challenges()
    assert auth.check("POST", "/mm7", _answer_with_nonce_of(sha256, md5)) == (False, True)
    assert auth.check("POST", "/mm7", _answer_with_nonce_of(md5, sha256)) == (False, True)
    assert auth.check("POST", "/mm7", _answer_with_nonce_of(sha256, md5, "guess")) == (False, False)
    # Another process (or host) with the same credentials takes each nonce with its own algorithm.
    other = auth_mod.DigestAuth("mmsc", "pw", algorithm="MD5, SHA-256")
    for challenge in (md5, sha256):
        assert other.check("POST", "/mm7", _answer_with_nonce_of(challenge, challenge)) == (True, False)
    # A nonce of a host of the release before (tied to none) is taken with either, as it was.
    for challenge in (md5, sha256):
        before = f'Digest realm="mm7", nonce="{auth._nonce()}"'
        assert other.check("POST", "/mm7", _answer_with_nonce_of(challenge, before)) == (True, False)
    # Through the receiver and the simulator: a 401 with fresh challenges saying stale=true, not
    # counted as a guess, and a WARNING line naming the peer.
    rcv = mm7.Receiver(auth=auth, auth_failures=1)
    sim = Simulator(auth=auth, auth_failures=1)
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            for rsp in (rcv.handle(out.to_bytes(), out.content_type, {"Authorization": _answer_with_nonce_of(sha256, md5)},
                                   peer="192.0.2.1", uri="/mm7"),
                        sim.handle(out.to_bytes(), out.content_type, {"Authorization": _answer_with_nonce_of(sha256, md5)},
                                   peer="192.0.2.1")):
                assert rsp.status == 401
                assert [v.endswith("stale=true") for k, v in rsp.headers if k == "WWW-Authenticate"] == [True, True]
    said = [r for r in caplog.records if "with the nonce of a challenge in another algorithm" in r.getMessage()]
    assert {r.name for r in said} == {"mm7bind.receiver", "mm7bind.simulator"} and len(said) == 4
    assert all("from 192.0.2.1: its Digest answer is computed with SHA-256" in r.getMessage() for r in said)


def test_answers_refused_whatever_their_credentials_do_not_count_toward_auth_failures(caplog):
    """An answer naming an algorithm not offered (a client answering MD5 whatever it is offered)
    tests no password, yet it counted toward auth_failures: a misconfigured client got 429s as if
    it guessed passwords. Such answers (`malformed`) are logged, not counted; wrong passwords are."""
    auth = auth_mod.DigestAuth("mmsc", "pw", algorithm="SHA-256")
    out = mm7.encode(mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000"), transaction_id="t")
    md5 = auth_mod.DigestAnswer("mmsc", "pw")

    def unoffered():
        assert md5.take(auth.challenge().replace("algorithm=SHA-256", "algorithm=MD5"))
        return md5.authorization("POST", "/mm7")

    def wrong():
        answer = auth_mod.DigestAnswer("mmsc", "guess")
        assert answer.take(auth.challenge())
        return answer.authorization("POST", "/mm7")

    rcv = mm7.Receiver(auth=auth, auth_failures=2)
    sim = Simulator(auth=auth, auth_failures=2)

    def status(header):
        return (rcv.handle(out.to_bytes(), out.content_type, {"Authorization": header}, peer="192.0.2.1",
                           uri="/mm7").status,
                sim.handle(out.to_bytes(), out.content_type, {"Authorization": header}, peer="192.0.2.1").status)

    with caplog.at_level(logging.WARNING):
        assert [status(unoffered()) for _ in range(3)] == [(401, 401)] * 3
        assert "which is not offered" in caplog.text
        assert [status(wrong()) for _ in range(3)] == [(401, 401), (401, 401), (429, 429)]


@pytest.mark.parametrize(("password", "padding"), [("pw", "="), ("pw12", "=="), ("pw1", "")])
def test_basic_credentials_with_their_base64_padding_stripped_are_taken_and_said(password, padding, caplog):
    """Some Java encoders strip base64's "=" padding: such credentials were refused, a right
    password too. They are taken, the padding restored, and said once on mm7bind.auth."""
    import base64

    auth = auth_mod.BasicAuth("sp", password)
    encoded = base64.b64encode(f"sp:{password}".encode()).decode()
    assert encoded.endswith(padding) and (not padding or encoded[-len(padding) - 1] != "=")
    stripped = encoded.rstrip("=")
    with caplog.at_level(logging.INFO, logger="mm7bind.auth"):
        for _ in range(2):
            assert auth.check("POST", "/mm7", f"Basic {stripped}") == (True, False)
        assert auth.check("POST", "/mm7", f"Basic {encoded}") == (True, False)
    assert caplog.text.count("lacks its padding") == (1 if padding else 0)
    # A wrong password, unpadded, is refused as such; one character over a whole group is no base64.
    wrong = base64.b64encode(b"sp:guess").decode().rstrip("=")
    assert auth.check("POST", "/mm7", f"Basic {wrong}") == (False, False)
    assert auth.check("POST", "/mm7", f"Basic {stripped}A") == (False, False)


@pytest.mark.parametrize("form", ["plain", "star", "userhash"])
def test_a_digest_answers_username_is_compared_in_a_time_that_tells_nothing(monkeypatch, form):
    """The name an answer gives (plain, RFC 7616's username*, or hashed) is compared with ours by
    hmac.compare_digest: compared with ==, the time a refusal took told a guesser how much of a
    hidden (userhash) or unknown name was right, a character at a time."""
    auth = auth_mod.DigestAuth("alice", "pw", realm="mm7", algorithm="SHA-256", userhash=form == "userhash")
    answer = auth_mod.DigestAnswer("alicf", "pw")
    assert answer.take(auth.challenge())
    header = answer.authorization("POST", "/mm7")
    if form == "star":
        header = header.replace('username="alicf"', "username*=UTF-8''alicf")
    compared = []
    real = auth_mod.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth_mod.hmac, "compare_digest", spy)
    assert auth.check("POST", "/mm7", header) == (False, False)
    if form == "userhash":
        given, ours = auth_mod.userhash("alicf", "mm7", "SHA-256"), auth_mod.userhash("alice", "mm7", "SHA-256")
        assert (given.encode(), ours.encode()) in compared
    else:
        assert (b"alicf", b"alice") in compared


def test_wrong_credentials_are_counted_for_every_process_on_one_store_file(tmp_path):
    """gunicorn's workers each counted their own: a guesser tried `failures` passwords a cool-down
    in each. Counted in the store, each store object here standing for another process."""
    from mm7bind.store import SqliteStore

    one, two = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    a = auth_mod.FailureLimit(3, 60, store=one, scope="mm7")
    b = auth_mod.FailureLimit(3, 60, store=two, scope="mm7")
    assert [a.failed("192.0.2.1"), b.failed("192.0.2.1"), a.failed("192.0.2.1")] == [False, False, True]
    assert 59 < a.refused_for("192.0.2.1") <= 60
    assert b.refused_for("192.0.2.1") == 0  # (not known there until it sees the peer guess again)
    assert b.failed("192.0.2.1") is False and 59 < b.refused_for("192.0.2.1") <= 60  # (begun elsewhere: not said twice)
    api = auth_mod.FailureLimit(3, 60, store=one, scope="api")  # (the send API's tokens are counted apart)
    assert api.failed("192.0.2.1") is False and api.refused_for("192.0.2.1") == 0
    assert a.failed("192.0.2.9") is False and a.refused_for("192.0.2.9") == 0  # (another peer: its own count)
    one.close()
    two.close()


def test_two_receivers_on_one_store_throttle_a_guesser_together(tmp_path):
    from mm7bind.store import SqliteStore

    receivers = [mm7.Receiver(mm7.Handler(), store=SqliteStore(tmp_path / "s.db"), auth_failures=3,
                              auth=auth_mod.BasicAuth("mmsc", "pw")) for _ in range(2)]
    out = mm7.encode(mm7.DeliverReq(sender="+8613800138000"), transaction_id="t")
    wrong = {"Authorization": "Basic bW1zYzp3cm9uZw=="}
    statuses = [receivers[i % 2].handle(out.to_bytes(), out.content_type, wrong, peer="192.0.2.1", uri="/").status
                for i in range(5)]
    # (the first receiver started it at the third; the second learns of it at the guess it sees next)
    assert statuses == [401, 401, 401, 401, 429]
    assert receivers[1].handle(out.to_bytes(), out.content_type, wrong, peer="192.0.2.1", uri="/").status == 429
    for r in receivers:
        r.store.close()


def test_a_store_that_cannot_count_leaves_the_count_to_the_process(tmp_path, caplog, monkeypatch):
    from mm7bind.store import SqliteStore

    store = SqliteStore(tmp_path / "s.db")
    limit = auth_mod.FailureLimit(2, 60, store=store)

    def full(*args):
        raise sqlite3.OperationalError("database or disk is full")

    real, store.auth_failed = store.auth_failed, full
    with caplog.at_level(logging.WARNING, "mm7bind.auth"):
        assert [limit.failed("192.0.2.1"), limit.failed("192.0.2.1")] == [False, True]  # (counted here)
        store.auth_failed = real
        assert limit.failed("192.0.2.3") is False and store._conn().execute(
            "SELECT count(*) FROM auth_failure").fetchone()[0] == 0  # (asked again only STORE_RETRY_AFTER later)
        later = time.monotonic() + auth_mod.STORE_RETRY_AFTER + 1
        monkeypatch.setattr(auth_mod.time, "monotonic", lambda: later)
        assert limit.failed("192.0.2.2") is False
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "could not be counted in the store (OperationalError: database or disk is full)" in said[0]
    assert "counted in the store again (3 counted by this process alone" in said[1]
    store.close()
