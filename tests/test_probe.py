"""`mm7bind probe`: a VASP's receiver asked every MMSC request in every version, each answer checked."""

from __future__ import annotations

import json
import ssl

import pytest

import mm7bind as mm7
from mm7bind.client import ClientConfig
from mm7bind.probe import probe

from .test_commands import refused_port, run
from .tls import local_tls


def test_our_receiver_answers_every_request_in_every_version():
    seen = []
    rx = mm7.Receiver(store=mm7.MemoryStore())
    for kind in ("deliver", "delivery_report", "read_reply"):
        rx.on(kind, lambda msg, ctx: seen.append((msg.ELEMENT, ctx.version.name)))
    with mm7.serve(rx, port=0) as srv:
        results = probe(srv.endpoint)
    assert all(r.ok for r in results), [(r.version, r.operation, r.problems) for r in results if not r.ok]
    assert len(results) == 11 * 4 and sum(r.repeat for r in results) == 11
    assert {r.answered_version for r in results} == {v.name for v in mm7.versions.all_versions()}
    assert len(seen) == 11 * 3  # (the request sent again is answered from the store, not handled twice)


def version_blind(environ, start_response):
    """A receiver as too many are written: one canned answer, whatever was asked."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    body = mm7.encode(mm7.DeliverRsp(), transaction_id="canned", version="REL-6-MM7-1-4").to_bytes()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def test_a_receiver_answering_in_one_version_with_one_answer_is_found_out():
    with mm7.EmbeddedServer(version_blind, port=0) as srv:
        results = probe(srv.url + "/mm7", version_names=["REL-5-MM7-1-2", "REL-6-MM7-1-4"])
    by = {(r.version, r.operation, r.repeat): r for r in results}
    old = by[("REL-5-MM7-1-2", "DeliverReq", False)]
    assert "answered in REL-6-MM7-1-4, asked in REL-5-MM7-1-2" in old.problems
    assert any(p.startswith("transaction-id-mismatch") for p in old.problems)
    report = by[("REL-6-MM7-1-4", "DeliveryReportReq", False)]
    assert any("expected DeliveryReportRsp, got DeliverRsp" in p for p in report.problems)
    assert not any(r.ok for r in results)


def echoing_nothing(environ, start_response):
    """A receiver answering right in every way but the TransactionID: empty, as one echoes a request
    that had none."""
    env = mm7.decode(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)), environ["CONTENT_TYPE"])
    answer = mm7.messages.RESPONSE_FOR[env.message.ELEMENT]()
    body = mm7.encode(answer, transaction_id="", version=env.version.name).to_bytes()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def test_an_answer_with_an_empty_transaction_id_is_a_problem_to_the_probe():
    with mm7.EmbeddedServer(echoing_nothing, port=0) as srv:
        [result] = probe(srv.url + "/mm7", version_names=["REL-6-MM7-1-4"], operations=("DeliverReq",), repeat=False)
    assert result.status == 1000 and not result.ok
    assert any(p.startswith("transaction-id-mismatch") for p in result.problems)
    assert any(p.startswith("missing-transaction-id") for p in result.problems)


def test_probe_command_with_digest_credentials_json_and_its_exit_codes(tmp_path):
    rx = mm7.Receiver(auth=mm7.auth.DigestAuth("mmsc", "secret"))
    with mm7.serve(rx, port=0) as srv:
        proc = run("probe", srv.endpoint, "--version", "REL-6-MM7-1-0", "--username", "mmsc", "--password", "secret")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "4 of 4 answered as they should" in proc.stdout and "DeliverReq again" in proc.stdout
        proc = run("probe", srv.endpoint, "--version", "6-1-0", "--operation", "report", "--json")
        assert proc.returncode == 1
        [result] = json.loads(proc.stdout)
        assert not result["ok"] and "401" in result["problems"][0] and result["operation"] == "DeliveryReportReq"
        assert "set --username and --password" in result["problems"][0], result["problems"]  # (its options)
    with mm7.EmbeddedServer(version_blind, port=0) as srv:
        proc = run("probe", srv.url, "--version", "REL-5-MM7-1-0", "--operation", "read-reply")
        assert proc.returncode == 1 and "FAILED" in proc.stdout and "expected ReadReplyRsp" in proc.stdout
        # Said once, in the report: not again by the client's log on stderr.
        assert proc.stderr == ""
    proc = run("probe", f"http://127.0.0.1:{refused_port()}/mm7", "--timeout", "2")
    assert proc.returncode == 4 and "unreachable" in proc.stdout and proc.stdout.count("FAILED") == 1
    proc = run("probe", "http://127.0.0.1:1/mm7", "--version", "REL-9")
    assert proc.returncode == 2 and "unknown MM7 schema version" in proc.stderr


def test_probe_of_a_tls_receiver_signed_by_a_private_ca_and_timeouts_refused_as_usage(tmp_path):
    tls = local_tls(tmp_path)
    with mm7.serve(mm7.Receiver(store=mm7.MemoryStore()), port=0, ssl_context=tls.server) as srv:
        proc = run("probe", srv.endpoint, "--version", "REL-6-MM7-1-4", "--no-repeat")
        # One hint, naming the probe's option (it said "set verify" and then its own --ca line)
        assert proc.returncode == 4 and "not signed by a CA this client trusts: set --ca to" in proc.stdout
        assert "verify" not in proc.stdout.replace("VERIFY", "").replace("certificate verify failed", "")
        assert proc.stdout.count("--ca") == 1, proc.stdout
        assert proc.stderr == ""
        proc = run("probe", srv.endpoint, "--version", "REL-6-MM7-1-4", "--ca", str(tls.ca_file))
        assert proc.returncode == 0 and "4 of 4 answered as they should" in proc.stdout, proc.stdout
    for timeout in ("0", "-1", "nan", "1e10"):  # (1e10: more than a socket's timeout holds)
        proc = run("probe", "http://127.0.0.1:1/mm7", "--timeout", timeout)
        assert proc.returncode == 2 and "not a positive number of seconds" in proc.stderr, proc.stderr
    # (a file without a certificate in it: said once, not as each request's failure to connect)
    (tmp_path / "empty.pem").write_text("no certificate here", encoding="ascii")
    for option in ("--ca", "--cert"):
        proc = run("probe", "https://127.0.0.1:1/mm7", option, str(tmp_path / "empty.pem"))
        assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.startswith(
            f"mm7bind probe: {option}: cannot ") and str(tmp_path / "empty.pem") in proc.stderr, proc.stderr


def one_mm7_version(environ, start_response):
    """A receiver answering in the request's namespace, but always with MM7Version 6.3.0 (a value
    fixed in it, as China Mobile's SDK has it)."""
    env = mm7.decode(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])), environ["CONTENT_TYPE"])
    answer = mm7.DeliverRsp(mm7_version="6.3.0")
    body = mm7.encode(answer, transaction_id=env.transaction_id, version=env.version.name).to_bytes()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def test_an_answer_whose_mm7_version_is_another_releases_is_found_out():
    with mm7.EmbeddedServer(one_mm7_version, port=0) as srv:
        results = probe(srv.url + "/mm7", version_names=["REL-5-MM7-1-0", "REL-6-MM7-1-0"], operations=("DeliverReq",),
                        repeat=False)
    old, new = results
    # (a value no Rel-5 schema lists: the deviation says so, the probe's own line would repeat it)
    namespace = mm7.versions.get("REL-5-MM7-1-0").namespace
    assert old.problems == [f"mm7version-namespace at /Envelope/Body/DeliverRsp/MM7Version: MM7Version 6.3.0 is of "
                            f"Release 6, the namespace {namespace} of Release 5"]
    assert new.ok, new.problems


def test_probe_of_a_receiver_that_asks_for_a_client_certificate(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    server.verify_mode = ssl.CERT_REQUIRED  # (the MMSC must present one the VASP's CA issued)
    ca.configure_trust(server)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("mmsc.example").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "mmsc.pem"))
    trust = ("--ca", str(tmp_path / "ca.pem"))
    with mm7.serve(mm7.Receiver(store=mm7.MemoryStore()), port=0, ssl_context=server) as srv:
        proc = run("probe", srv.endpoint, "--version", "REL-6-MM7-1-4", "--no-repeat", *trust)
        assert proc.returncode == 4 and "set --cert to the certificate and key" in proc.stdout, proc.stdout
        assert proc.stdout.count("--cert") == 1, proc.stdout
        proc = run("probe", srv.endpoint, "--version", "REL-6-MM7-1-4", *trust, "--cert", str(tmp_path / "mmsc.pem"))
        assert proc.returncode == 0 and "4 of 4 answered as they should" in proc.stdout, proc.stdout


def test_a_receiver_that_never_answers_stops_the_probe_after_a_few_requests():
    from .fake_http import SilentServer

    with SilentServer() as silent:  # (reads nothing, answers nothing)
        results = probe(silent.url, config=ClientConfig(urls=(silent.url,), read_timeout=0.3))
    assert len(results) == 3 and all(r.timed_out for r in results)
    assert results[-1].problems[-1] == "stopped: 3 requests in a row were not answered in time"


def test_probe_prints_no_terminal_controls_from_the_receivers_status_text():
    class Handler(mm7.Handler):
        def on_deliver(self, msg, ctx):
            return mm7.Status(1000, "OK\u009b2J\u202e")

    with mm7.serve(mm7.Receiver(Handler()), port=0) as srv:
        proc = run("probe", srv.endpoint, "--version", "REL-6-MM7-1-0", "--operation", "deliver", "--no-repeat")
    assert "1000 OK\\x9b2J\\u202e" in proc.stdout and "\u009b" not in proc.stdout, proc.stdout


def test_a_bad_url_given_to_probe_in_code_is_said_to_be_the_vasps_not_an_mmscs():
    """probe("ftp://...") said "not an http(s) URL of an MMSC": the URL probed is a VASP's receiver.
    So is a client's as an MMSC (the simulator's, sending reports)."""
    with pytest.raises(ValueError) as err:
        probe("ftp://vasp.example/mm7")
    assert str(err.value) == "'ftp://vasp.example/mm7' is not an http(s) URL of a VASP's receiver"
    with pytest.raises(ValueError) as err:  # (with a config of its own, whose URLs the probe's replaces)
        probe("http://sp:pw@vasp.example:0/mm7", config=ClientConfig(urls=("http://mmsc.example/mm7",)))
    assert str(err.value) == ("'http://sp:***@vasp.example:0/mm7' is not a usable URL of a VASP's receiver: its port "
                              "'0' is not a number from 1 to 65535")
    with pytest.raises(ValueError) as err:
        ClientConfig(urls=("ftp://vasp.example/mm7",), role="mmsc")
    assert str(err.value) == "'ftp://vasp.example/mm7' is not an http(s) URL of a VASP"


def test_probe_json_interrupted_prints_what_it_measured(monkeypatch, capsys):
    """Ctrl-C during `probe --json` printed nothing on stdout: the answers measured so far were
    lost to a script reading the JSON. They are printed, and the exit is 130 as documented."""
    from mm7bind import cli
    import mm7bind.probe

    real = mm7bind.probe.probe

    def interrupted_after_the_first(*args, on_result=None, **kwargs):
        def heard(result):
            on_result(result)
            raise KeyboardInterrupt  # (as Ctrl-C while the next request waits)

        return real(*args, on_result=heard, **kwargs)

    monkeypatch.setattr(mm7bind.probe, "probe", interrupted_after_the_first)
    url = f"http://127.0.0.1:{refused_port()}/mm7"
    assert cli.main(["probe", url, "--json", "--timeout", "2"]) == 130
    out, err = capsys.readouterr()
    shown = json.loads(out)
    assert len(shown) == 1 and shown[0]["unreachable"] is True and shown[0]["ok"] is False, shown
    assert err == "mm7bind probe: interrupted\n"


def test_probe_exits_4_by_send_s_rule_when_the_vasp_answered_none():
    """probe exited 4 only for a refused connection: a proxy before the VASP answering 502, 503 or
    504, connections closed unanswered, or a stop after requests in a row unanswered in time exited
    1, "not answered as they should", where send exits 4 for the same. Now one rule: 4 when no
    request got the VASP's answer (or the probe stopped for that), 1 once one did, if wrongly."""
    import threading

    from .fake_http import FakeServer, Reply, default_responder

    one = ("--version", "REL-6-MM7-1-0", "--operation", "deliver", "--operation", "report")
    for reply in (Reply(502), Reply(503), Reply(504), Reply(drop=True)):
        with FakeServer(lambda req, reply=reply: reply) as vasp:
            proc = run("probe", vasp.url, *one, "--json")
        results = json.loads(proc.stdout)
        assert proc.returncode == 4 and len(results) == 2, (reply, proc.stdout)
        assert all(r["unanswered"] and not r["unreachable"] for r in results), results
    released = threading.Event()
    # (the first answered as it should, the rest never in time: the probe stops, and says so in its
    # text too, which the JSON alone said)
    with FakeServer(lambda req: default_responder(req) if len(vasp.requests) == 1 else Reply(503, hold=released)) as vasp:
        try:
            proc = run("probe", vasp.url, "--version", "REL-6-MM7-1-0", "--version", "REL-6-MM7-1-2", "--no-repeat",
                       "--timeout", "0.3")
        finally:
            released.set()
    assert proc.returncode == 4 and "1 of 4 answered as they should" in proc.stdout, proc.stdout
    assert "  stopped: 3 requests in a row were not answered in time" in proc.stdout, proc.stdout

    def refuses_the_first(req):  # (the VASP there: it answered one, wrongly; a 503 for the rest)
        return Reply(500, b"oops") if len(vasp.requests) == 1 else Reply(503)

    with FakeServer(refuses_the_first) as vasp:
        proc = run("probe", vasp.url, *one, "--json")
    assert proc.returncode == 1 and [r["unanswered"] for r in json.loads(proc.stdout)] == [False, True], proc.stdout
