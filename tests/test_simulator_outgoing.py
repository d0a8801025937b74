"""What the simulator sends a VASP: over mutual TLS, and its MO as China Mobile's MMSC sends one."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pytest

import mm7bind as mm7
from mm7bind import config
from mm7bind import messages as m
from mm7bind.simulator import Simulator, SimulatorConfig

from .fake_http import FakeServer
from .tls import write_mutual_tls


def mutual_tls_receiver_config(tmp_path: Path):
    """A VASP's configuration serving TLS and requiring a client certificate its MMSC CA signed
    ([receiver] tls_client_ca); the MMSC's certificate (mmsc.pem, and apart mmsc-cert.pem and
    mmsc-key.pem), another CA's (stranger.pem), and the CA of the VASP's own (server-ca.pem)."""
    write_mutual_tls(tmp_path)
    path = tmp_path / "vasp.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n[receiver]\nout_dir = "{tmp_path / "in"}"\n'
                    f'tls_cert = "{tmp_path / "cert.pem"}"\ntls_key = "{tmp_path / "key.pem"}"\n'
                    f'tls_client_ca = "{tmp_path / "mmsc-ca.pem"}"\n', encoding="utf-8")
    cfg, problems = config.load(path)
    assert not [p for p in problems if "tls" in str(p)]
    return cfg


def test_the_simulator_presents_a_client_certificate_to_a_vasp_requiring_one(tmp_path):
    """It could not: a VASP whose receiver asks for the MMSC's certificate (mutual TLS) got no MO
    and no report from it. `vasp_cert`: a PEM with the key, or (certificate, key)."""
    cfg = mutual_tls_receiver_config(tmp_path)
    got = []

    @(rcv := mm7.Receiver()).on("deliver")
    def on_deliver(msg, ctx):
        got.append(msg.subject)

    ca = str(tmp_path / "server-ca.pem")
    with mm7.serve(rcv, port=0, ssl_context=cfg.ssl_context()) as srv:
        for cert in (None, str(tmp_path / "stranger.pem")):  # none, or one of a CA the VASP does not trust
            with Simulator(vasp_url=srv.endpoint, vasp_verify=ca, vasp_cert=cert, report_attempts=1) as sim:
                outcome = sim.deliver("+8613900000000", ["1065"], "refused")
            assert "status" not in outcome and "error" in outcome, outcome
        assert got == []
        for n, cert in enumerate((str(tmp_path / "mmsc.pem"),
                                  (str(tmp_path / "mmsc-cert.pem"), str(tmp_path / "mmsc-key.pem")))):
            with Simulator(vasp_url=srv.endpoint, vasp_verify=ca, vasp_cert=cert) as sim:
                assert sim.deliver("+8613900000000", ["1065"], f"mutual {n}")["status"] == 1000
        assert got == ["mutual 0", "mutual 1"]


def test_a_tls_refusal_names_the_simulators_own_setting_to_change(tmp_path):
    """The hint said "set cert", a Client's setting: the simulator's is vasp_cert (--vasp-cert)."""
    cfg = mutual_tls_receiver_config(tmp_path)
    ca = str(tmp_path / "server-ca.pem")
    with mm7.serve(mm7.Receiver(), port=0, ssl_context=cfg.ssl_context()) as srv:
        said = {}
        for case, settings in (("none", {"vasp_verify": ca}),
                               ("stranger", {"vasp_verify": ca, "vasp_cert": str(tmp_path / "stranger.pem")}),
                               ("untrusted", {"vasp_cert": str(tmp_path / "mmsc.pem")})):
            with Simulator(vasp_url=srv.endpoint, report_attempts=1, **settings) as sim:
                said[case] = sim.deliver("+8613900000000", ["1065"], "refused")["error"]
    assert "for want of a TLS client certificate" in said["none"], said
    assert "set vasp_cert (simulate --vasp-cert, --vasp-key) to the certificate and key" in said["none"], said
    assert "check vasp_cert (simulate --vasp-cert, --vasp-key) — the one it has on file" in said["stranger"], said
    assert "set vasp_verify (simulate --vasp-ca) to the CA certificate(s)" in said["untrusted"], said
    assert not any(w in s for s in said.values() for w in ("set cert ", "check cert ", "set verify ")), said


def test_credentials_refused_name_the_simulators_own_settings():
    """The hint said "check username and password", a Client's settings: the simulator's are
    vasp_username and vasp_password (--vasp-username, --vasp-password)."""
    rcv = mm7.Receiver(auth=mm7.auth.BasicAuth("mmsc", "pw"))
    with mm7.serve(rcv, port=0) as srv:
        said = {}
        for case, settings in (("none", {}), ("wrong", {"vasp_username": "mmsc", "vasp_password": "bad"})):
            with Simulator(vasp_url=srv.endpoint, report_attempts=1, **settings) as sim:
                said[case] = sim.deliver("+8613900000000", ["1065"], "refused")["error"]
    words = "vasp_username and vasp_password (simulate --vasp-username, --vasp-password)"
    assert f"none were given: set {words}" in said["none"], said
    assert f"the VASP refused the credentials: check {words}" in said["wrong"], said


def test_an_mo_with_no_vasp_to_go_to_names_the_setting_of_a_running_simulator_too():
    """It named `SimulatorConfig.vasp_url` alone: a test with the fixtures sets it on the running
    simulator (mm7_simulator.config.vasp_url = mm7_receiver.url), and was not told it could."""
    with Simulator() as sim, pytest.raises(RuntimeError) as err:
        sim.deliver("+8613900000000", ["1065"], "nowhere", text="hi")
    assert str(err.value) == ("no VASP URL configured (simulate --vasp-url, SimulatorConfig(vasp_url=...), or on a "
                              "running simulator, the mm7_simulator fixture's: config.vasp_url = ...)")
    assert sim.mo_sent == []


def test_a_client_certificate_that_cannot_be_used_is_said_when_the_simulator_is_configured(tmp_path):
    (tmp_path / "not-a-cert.pem").write_text("nothing", encoding="utf-8")
    for cert in (str(tmp_path / "gone.pem"), str(tmp_path / "not-a-cert.pem")):
        with pytest.raises(ValueError, match=r"^vasp_cert: cannot load the client certificate"):
            SimulatorConfig(vasp_cert=cert)


def test_an_mos_priority_is_given_by_the_control_endpoint_and_mm7bind_mo():
    from .test_commands import run

    with FakeServer() as vasp, Simulator(vasp_url=vasp.url) as sim:
        base = sim.server.url
        for priority in ("High", None):
            payload = {"from": "+8613900000000", "text": "hi"} | ({"priority": priority} if priority else {})
            status, outcome = sim.control("POST", "deliver", json.dumps(payload).encode())
            assert status == 200 and outcome["status"] == 1000, outcome
        assert sim.control("POST", "deliver", b'{"from": "+8613900000000", "priority": "Urgent"}')[0] == 400
        proc = run("mo", "--simulator", base, "--priority", "Low")
        assert proc.returncode == 0, proc.stderr
        said = [mm7.decode(r.body, r.header("content-type")).body.priority for r in vasp.requests]
    assert said == [m.Priority.HIGH, None, m.Priority.LOW]


def test_a_report_or_read_reply_is_logged_with_its_recipient_and_what_it_says(caplog):
    """The client's line counted recipients, which a report does not have: rcpt=0 for every report
    and read reply the simulator sent, whoever it was about and whatever it said."""
    import logging

    from mm7bind.testreceiver import RunningReceiver

    with RunningReceiver() as rcv, Simulator(vasp_url=rcv.url, report_delay=0, read_delay=0) as sim, \
            mm7.Client(sim.url) as client, caplog.at_level(logging.INFO, logger="mm7bind.client"):
        client.submit(m.SubmitReq(recipients=["+8613800000001"], delivery_report=True, read_reply=True))
        assert sim.wait_idle()
    lines = {r.mm7["operation"]: r for r in caplog.records if r.name == "mm7bind.client" and hasattr(r, "mm7")}
    for operation, status in (("DeliveryReportReq", "Retrieved"), ("ReadReplyReq", "Read")):
        said = lines[operation].getMessage()
        assert f"recipient=+8613800000001 mm_status={status} status=1000" in said and "rcpt=" not in said, said
        assert (lines[operation].mm7["recipient"], lines[operation].mm7["mm_status"]) == ("+8613800000001", status)
    assert "rcpt=1 status=1000" in lines["SubmitReq"].getMessage()


def test_a_report_or_read_reply_is_recorded_with_the_recipient_it_is_about():
    """A client sending an MMSC's reports recorded them with recipients=[] (a report names one
    Recipient, not Recipients): `store sent --to` never found them. The simulator's outcomes
    (`reports`, /control/messages) did not say whom each report was about either."""
    from mm7bind.testreceiver import RunningReceiver

    store = mm7.MemoryStore()
    with RunningReceiver() as rcv, Simulator(vasp_url=rcv.url, report_delay=0, read_delay=0) as sim, \
            mm7.Client(sim.url) as client, mm7.Client(rcv.url, role="mmsc", store=store) as mmsc:
        mid = client.submit(m.SubmitReq(recipients=["+8613800000001", "+8613800000002"], delivery_report=True,
                                        read_reply=True)).message_id
        assert sim.wait_idle()
        assert sorted((r["operation"], r["recipient"]) for r in sim.messages[mid].reports) == [
            ("DeliveryReportReq", "+8613800000001"), ("DeliveryReportReq", "+8613800000002"),
            ("ReadReplyReq", "+8613800000001"), ("ReadReplyReq", "+8613800000002")]
        stamp = datetime.now(timezone.utc)
        mmsc.send(m.DeliveryReportReq(message_id="M1", recipient="+8613800000003", sender="1065",
                                      date=stamp, mm_status=mm7.DeliveryStatus.RETRIEVED))
        mmsc.send(m.ReadReplyReq(message_id="M1", recipient=m.ShortCode("10658"), sender="1065",
                                 time_stamp=stamp, mm_status=mm7.ReadStatus.READ))
    assert [(r.operation, r.recipients) for r in store.sent()] == [
        ("DeliveryReportReq", ["+8613800000003"]), ("ReadReplyReq", ["10658"])]


def test_a_report_or_mo_waits_vasp_timeout_for_the_vasps_answer():
    """The simulator's client waited a fixed 30 s for each attempt: a deliver() to a VASP whose
    handler was stuck held the test a minute (two attempts), whatever it set."""
    import threading

    from .fake_http import Reply

    hold = threading.Event()  # (the VASP never answers until the test's end)
    with FakeServer(lambda req: Reply(hold=hold)) as vasp:
        try:
            with Simulator(vasp_url=vasp.url, vasp_timeout=0.3, report_attempts=2, report_retry_delay=0) as sim:
                outcome = sim.deliver("+8613900000000", ["1065"], text="hi")
                assert outcome["attempts"] == 2 and len(vasp.requests) == 2, outcome
                assert "no answer within 0.3 s (vasp_timeout (simulate --vasp-timeout))" in outcome["error"], outcome
                sim.config.vasp_timeout = 0.5  # (a running simulator's: from the next on)
                assert "no answer within 0.5 s" in sim.deliver("+8613900000000", ["1065"], text="hi")["error"]
        finally:
            hold.set()
    for wrong in (0, -1, math.nan, math.inf, None, "5", True):
        with pytest.raises(ValueError, match=r"^vasp_timeout must be a number of seconds, more than 0"):
            SimulatorConfig(vasp_timeout=wrong)


def test_assert_all_taken_waits_for_the_reports_due_and_says_when_they_did_not_go():
    # (a report due in a minute: not yet refused nor taken, so not passed as taken)
    with Simulator(SimulatorConfig(report_delay=60, vasp_url="http://127.0.0.1:9/mm7")) as sim:
        with mm7.Client(sim.url) as client:
            client.submit(m.SubmitReq(recipients=["+8613800138000"], delivery_report=True))
        with pytest.raises(AssertionError, match=r"reports or MO still to go: <not idle after 0\.1 s: 1 scheduled"):
            sim.assert_all_taken(timeout=0.1)
        sim.assert_all_taken(wait=False)  # (none sent yet: none refused)
        assert sim.not_taken() == []


def test_assert_all_taken_with_no_timeout_waits_as_long_as_it_takes_as_every_wait_of_the_fixtures():
    """timeout=None was "no limit" to wait_for and wait_idle, and "no wait" to assert_all_taken: a
    report on its way, refused a moment later, passed it."""
    import threading

    from .fake_http import Reply

    answer = threading.Event()  # (the VASP answers the report only once set: 500, refused)
    with FakeServer(lambda req: Reply(status=500, hold=answer)) as vasp, \
            Simulator(vasp_url=vasp.url, report_delay=0, report_attempts=1) as sim:
        with mm7.Client(sim.url) as client:
            client.submit(m.SubmitReq(recipients=["+8613800138000"], delivery_report=True))
        # (answered a while after the call: a wait that is none looks before, and finds nothing refused)
        later = threading.Timer(0.5, answer.set)
        later.start()
        try:
            with pytest.raises(AssertionError, match=r"did not take 1 report\(s\)[^\n]*\n  "
                                                     r"DeliveryReportReq tid=.* HTTPStatusError: HTTP 500"):
                sim.assert_all_taken(timeout=None)
        finally:
            later.cancel()
            answer.set()
        assert len(vasp.requests) == 1


def test_an_mo_goes_in_the_version_asked_from_code_the_control_endpoint_and_mm7bind_mo():
    """An MO went in the standard dialect's REL-6-MM7-1-4, whatever the VASP spoke: a test of a
    VASP speaking Rel-5 could not send it one it reads. Its repeat (resend) goes in it too."""
    from .test_commands import run

    with FakeServer() as vasp, Simulator(vasp_url=vasp.url) as sim:
        outcome = sim.deliver("+8613900000000", ["1065"], text="hi", version="REL-5-MM7-1-2")
        assert outcome["status"] == 1000, outcome
        sim.resend(outcome["transaction_id"])
        status, said = sim.control("POST", "deliver", b'{"from": "+8613900000000", "version": "REL-5-MM7-1-0"}')
        assert status == 200 and said["status"] == 1000, said
        proc = run("mo", "--simulator", sim.server.url, "--version", "REL-6-MM7-1-0")
        assert proc.returncode == 0, proc.stderr
        sim.deliver("+8613900000000", ["1065"], text="hi")
        status, said = sim.control("POST", "deliver", b'{"from": "+8613900000000", "version": "REL-9"}')
        assert status == 400 and "unknown MM7 schema version 'REL-9'" in said["error"], said
        with pytest.raises(ValueError, match="unknown MM7 schema version"):
            sim.deliver("+8613900000000", ["1065"], text="hi", version="REL-9")
        got = [mm7.decode(r.body, r.header("content-type")).version.name for r in vasp.requests]
    assert got == ["REL-5-MM7-1-2", "REL-5-MM7-1-2", "REL-5-MM7-1-0", "REL-6-MM7-1-0", "REL-6-MM7-1-4"]
    with Simulator(dialect="cmcc") as sim, pytest.raises(ValueError, match="cmcc dialect sends its MO in its own"):
        sim.deliver("+8613900000000", ["1065"], text="hi", version="REL-5-MM7-1-2")
