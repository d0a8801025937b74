"""The pytest plugin as a user meets it: a test file of their own, run by pytest in a subprocess,
with mm7bind installed as this tree's pyproject.toml declares it (its pytest11 entry point)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .test_lazy_import import HEAVY

ROOT = Path(__file__).resolve().parent.parent

# pytest run with mm7bind's entry points as this tree declares them (not those of whatever copy
# of mm7bind happens to be installed): pytest reads them from importlib.metadata's distributions.
RUNNER = """\
import importlib.metadata, pathlib, sys
import pytest
ours = importlib.metadata.PathDistribution(pathlib.Path(sys.argv[1]))
found = importlib.metadata.distributions
def distributions(**kw):
    return [ours, *(d for d in found(**kw) if (d.metadata["Name"] or "").lower() != "mm7bind")]
importlib.metadata.distributions = distributions
sys.exit(pytest.main(sys.argv[2:]))
"""

USER_TESTS = '''\
import pytest
import mm7bind


def test_submit_and_report(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    with mm7bind.Client(mm7_simulator.url) as client:
        result = client.submit(mm7bind.SubmitReq(recipients=["+8613800138000"], subject="hello",
                                                 delivery_report=True))
    assert mm7_simulator.messages[result.message_id].request.subject == "hello"
    assert mm7_simulator.wait_idle()
    assert [m.ELEMENT for m, ctx in mm7_receiver.received] == ["DeliveryReportReq"]


@pytest.mark.mm7_simulator(dialect="cmcc")
def test_marker(mm7_simulator):
    assert mm7_simulator.config.dialect == "cmcc"
'''


def installed_as_declared(where: Path) -> Path:
    """A dist-info for mm7bind holding this tree's entry points, as pip would write it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = where / f"mm7bind-{project['version']}.dist-info"
    info.mkdir(exist_ok=True)  # (a test may run pytest in its project more than once)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mm7bind\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project.get("entry-points", {}).items():
        lines += [f"[{group}]", *(f"{name} = {target}" for name, target in entries.items()), ""]
    (info / "entry_points.txt").write_text("\n".join(lines))
    return info


def run_pytest(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    info = installed_as_declared(project.parent)
    runner = project.parent / "run_pytest.py"
    runner.write_text(RUNNER)
    inherited = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    return subprocess.run([sys.executable, str(runner), str(info), "-q", "-p", "no:cacheprovider", *args],
                          cwd=project, env={**inherited, "PYTHONPATH": str(ROOT), **(env or {})},
                          capture_output=True, text=True, timeout=180, check=False)


def run_user_tests(project: Path, source: str, *args: str,
                   env: dict | None = None) -> subprocess.CompletedProcess:
    """pytest run over `source` as the user's test file, test_mine.py (the project's by default)."""
    (project / "test_mine.py").write_text(source, encoding="utf-8")
    return run_pytest(project, *args, env=env)


@pytest.fixture
def project(tmp_path):
    where = tmp_path / "project"
    where.mkdir()
    (where / "test_mine.py").write_text(USER_TESTS, encoding="utf-8")
    return where


def said(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout[-4000:] + proc.stderr[-3000:]


NO_AUTOLOAD = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

# The ways the documentation gives to load the plugin: pytest's arguments and environment (a
# conftest.py's pytest_plugins where named so).
LOADED = {
    "autoloaded": ([], {}),
    "-p": (["-p", "mm7bind.testing"], {}),
    "pytest_plugins": ([], {}),
    "-p without autoload": (["-p", "mm7bind.testing"], NO_AUTOLOAD),
    "-p mm7bind without autoload": (["-p", "mm7bind"], NO_AUTOLOAD),
    "-p both": (["-p", "mm7bind", "-p", "mm7bind.testing"], {}),
}


@pytest.mark.parametrize("how", list(LOADED))
def test_the_plugin_loads_every_documented_way(project, how):
    # Pointing at the plugin's module under another name, the entry point made pytest refuse to
    # start ("Plugin already registered under a different name") when a user also named the
    # module: with -p, or in a conftest's pytest_plugins, as pytest's documentation shows.
    args, env = LOADED[how]
    if how == "pytest_plugins":
        (project / "conftest.py").write_text('pytest_plugins = ["mm7bind.testing"]\n')
    proc = run_pytest(project, *args, env=env)
    assert proc.returncode == 0 and "2 passed" in proc.stdout, said(proc)


BEHAVIOUR = '''\
import socket

import pytest
import mm7bind

started = {}


class Counting(mm7bind.Handler):
    def __init__(self):
        self.calls = 0

    def on_deliver(self, msg, ctx):
        self.calls += 1


mine = Counting()


@pytest.mark.mm7_receiver(handler=mine)
def test_what_your_own_handler_is_given_is_recorded_too(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    mm7_simulator.deliver("+8613900000000", ["1065"], "first", text="hi")
    [(msg, ctx)] = mm7_receiver.wait_for("DeliverReq")
    assert msg.subject == "first" and mine.calls == 1


def test_waiting_for_a_report_that_never_comes(mm7_simulator, mm7_receiver):
    started["urls"] = (mm7_simulator.url, mm7_receiver.url)
    mm7_simulator.config.vasp_url = mm7_receiver.url
    mm7_simulator.deliver("+8613900000000", ["1065"], "an MO", text="hi")
    mm7_receiver.wait_for("DeliveryReportReq", timeout=0.2)


@pytest.mark.mm7_receiver(auth=mm7bind.auth.BasicAuth("mmsc", "pw"))
def test_waiting_for_an_mo_the_receiver_refused(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url  # (the simulator has no credentials)
    mm7_simulator.deliver("+8613900000000", ["1065"], "refused", text="hi")
    mm7_receiver.wait_for("DeliverReq", timeout=0.2)


def test_the_failed_tests_servers_were_stopped():
    import threading

    assert [t.name for t in threading.enumerate() if t.name.startswith("mm7bind-")] == []
    for url in started["urls"]:
        host, port = url.split("/")[2].rsplit(":", 1)
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=5).close()
'''


def test_what_a_user_sees_your_handler_recorded_a_clear_wait_and_servers_stopped_after_a_failure(project):
    # With a handler of one's own, `received` stayed empty, and there was no way to wait for a
    # request but polling it: a test waiting for a report that never came said only `[] == [...]`.
    proc = run_user_tests(project, BEHAVIOUR)
    out = proc.stdout
    assert proc.returncode == 1 and "2 failed, 2 passed" in out, said(proc)
    assert ("AssertionError: waited 0.2 s at http://127.0.0.1:" in out
            and "for 1 DeliveryReportReq(s), 0 came. Handed to the handler: DeliverReq tid=" in out), said(proc)
    assert "0 came. Handed to the handler: nothing. Refused before the handler (by outcome): challenged: " in out, \
        said(proc)


@pytest.mark.parametrize("name", ["mm7bind", "mm7bind.testing"])
def test_the_plugin_is_left_out_by_the_names_the_readme_gives(project, name):
    # `-p no:mm7bind`, the natural spelling, left it loaded: its entry point was "mm7bind.testing".
    proc = run_pytest(project, "-p", f"no:{name}")
    assert proc.returncode != 0 and "fixture 'mm7_simulator' not found" in proc.stdout, said(proc)


NOTHING_HEAVY = '''\
import sys


def test_loading_the_plugin_imported_nothing_heavy(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("mm7bind.testing")
    assert sys.modules["mm7bind.testing"].__file__ == {plugin!r}
    assert [name for name in {heavy!r} if name in sys.modules] == []
'''


@pytest.mark.parametrize("how", ["autoloaded", "-p without autoload"])
def test_a_project_that_does_not_use_the_plugin_does_not_pay_for_it(project, how):
    # pytest loads the plugin in every project on a machine where mm7bind is installed: importing
    # the whole package (the XML bindings, the client, the receiver, the store) took half a second.
    source = NOTHING_HEAVY.format(plugin=str(ROOT / "mm7bind" / "testing.py"), heavy=HEAVY)
    args, env = LOADED[how]
    proc = run_user_tests(project, source, *args, env=env)
    assert proc.returncode == 0 and "1 passed" in proc.stdout, said(proc)


MARKERS = '''\
import pytest

pytestmark = pytest.mark.mm7_simulator(dialect="cmcc", report_delay=5)


class TestOnes:
    pytestmark = pytest.mark.mm7_simulator(strict=True)

    @pytest.mark.mm7_simulator(report_delay=7)
    def test_every_level_counts_the_closest_wins(self, mm7_simulator):
        config = mm7_simulator.config
        assert (config.dialect, config.strict, config.report_delay) == ("cmcc", True, 7)


@pytest.mark.mm7_simulator("cmcc")
def test_a_setting_not_named(mm7_simulator):
    assert mm7_simulator.config.dialect == "cmcc"
'''


def test_markers_of_a_module_a_class_and_a_test_add_up_and_settings_must_be_named(project):
    # Only the closest marker was read: a module's pytestmark lost its settings to a test's own
    # marker; a setting given without its name was dropped and the test ran with the default.
    proc = run_user_tests(project, MARKERS)
    out = proc.stdout
    assert "1 passed, 1 error" in out, said(proc)
    assert ("TypeError: @pytest.mark.mm7_simulator takes settings by name (e.g. mm7_simulator(dialect=\"cmcc\")), "
            "not 'cmcc'") in out, said(proc)


A_CLASS = '''\
import pytest
import mm7bind


class Mine(mm7bind.Handler):
    def on_deliver(self, msg, ctx):
        pass


@pytest.mark.mm7_receiver(handler=Mine)
def test_a_handlers_class_given(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    mm7_simulator.deliver("+8613900000000", ["1065"], "an MO", text="hi")
    mm7_receiver.wait_for("DeliverReq")


def on_mo(msg, ctx):
    pass


@pytest.mark.mm7_receiver(handler=on_mo)
def test_a_function_given(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    mm7_simulator.deliver("+8613900000000", ["1065"], "an MO", text="hi")
    mm7_receiver.wait_for("DeliverReq")
'''


def test_a_handlers_class_for_the_handler_is_said_at_once(project):
    # Its methods were called unbound, raised in the receiver's thread, and the test passed all
    # the same: the request was recorded whatever the handler did. A function given was never
    # called, and the test passed too (Receiver(fn) refuses it; the fixture's Receiver has the
    # recorder, not the function).
    proc = run_user_tests(project, A_CLASS)
    assert "2 errors" in proc.stdout and "TypeError: handler= takes a handler, not its class: Mine() rather than Mine" \
        in proc.stdout, said(proc)
    assert ("TypeError: handler= takes a Handler (on_deliver, on_delivery_report, on_read_reply), not on_mo: a "
            "function goes in mm7_receiver.on(\"deliver\", fn)") in proc.stdout, said(proc)


A_BROKEN_HANDLER = '''\
import pytest
import mm7bind


class Broken(mm7bind.Handler):
    def on_deliver(self, msg, ctx):
        raise RuntimeError("my handler broke")


class Busy(mm7bind.Handler):
    def on_deliver(self, msg, ctx):
        raise mm7bind.Unavailable("the database is down")


@pytest.mark.mm7_receiver(handler=Broken())
def test_a_handler_with_a_bug(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    mm7_simulator.deliver("+8613900000000", ["1065"], "an MO", text="hi")
    mm7_receiver.wait_for("DeliverReq")


@pytest.mark.mm7_receiver(handler=Broken())
def test_a_handler_meant_to_fail(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    mm7_simulator.deliver("+8613900000000", ["1065"], "an MO", text="hi")
    mm7_receiver.wait_for("DeliverReq")
    [(msg, exc)] = mm7_receiver.failures[:1]
    assert str(exc) == "my handler broke"
    mm7_receiver.failures.clear()


@pytest.mark.mm7_receiver(handler=Busy())
def test_a_handler_saying_it_is_unavailable(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    mm7_simulator.deliver("+8613900000000", ["1065"], "an MO", text="hi")
    mm7_receiver.wait_for("DeliverReq")
'''


def test_a_bug_in_your_handler_fails_the_test(project):
    # The receiver answered the MMSC a Fault and logged the traceback, and the test passed.
    proc = run_user_tests(project, A_BROKEN_HANDLER)
    assert "3 passed, 1 error" in proc.stdout, said(proc)
    assert "ERROR test_mine.py::test_a_handler_with_a_bug - AssertionError" in proc.stdout, said(proc)
    assert ("AssertionError: your handler failed on" in proc.stdout
            and "the first DeliverReq: RuntimeError: my handler broke" in proc.stdout), said(proc)


A_HANDLER_ANSWERING_NOTHING_VALID = '''\
import pytest
import mm7bind


class Returning(mm7bind.Handler):
    def __init__(self, outcome):
        self.outcome = outcome

    def on_deliver(self, msg, ctx):
        return self.outcome


def deliver(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    mm7_simulator.deliver("+8613900000000", ["1065"], "an MO", text="hi")
    mm7_receiver.wait_for("DeliverReq")


@pytest.mark.mm7_receiver(handler=Returning({"ok": True}))
def test_a_handler_returning_a_dict(mm7_simulator, mm7_receiver):
    deliver(mm7_simulator, mm7_receiver)


def test_a_callable_returning_a_word(mm7_simulator, mm7_receiver):
    mm7_receiver.on("deliver", lambda msg, ctx: "accepted")
    deliver(mm7_simulator, mm7_receiver)


@pytest.mark.mm7_receiver(handler=Returning(mm7bind.DeliveryReportRsp()))
def test_a_handler_returning_another_response_meant_to_fail(mm7_simulator, mm7_receiver):
    deliver(mm7_simulator, mm7_receiver)
    [(msg, exc)] = mm7_receiver.failures[:1]  # (the simulator tries again)
    assert isinstance(exc, TypeError) and "not DeliveryReportRsp" in str(exc)
    mm7_receiver.failures.clear()


@pytest.mark.parametrize("outcome", [None, 1000, "1000", mm7bind.Status(1000), mm7bind.DeliverRsp()])
def test_answers_the_receiver_takes(mm7_simulator, mm7_receiver, outcome):
    mm7_receiver.on("deliver", lambda msg, ctx: outcome)
    deliver(mm7_simulator, mm7_receiver)


@pytest.mark.mm7_receiver(handler=Returning(mm7bind.Status(1000, "fine\x01")))
def test_a_status_it_cannot_send(mm7_simulator, mm7_receiver):
    deliver(mm7_simulator, mm7_receiver)


@pytest.mark.mm7_receiver(handler=Returning(mm7bind.DeliverRsp(status=mm7bind.Status(1000, "fine\x01"))))
def test_a_response_that_cannot_be_sent_meant_to_fail(mm7_simulator, mm7_receiver):
    deliver(mm7_simulator, mm7_receiver)
    # there as soon as the request is in `received`
    [(msg, exc)] = mm7_receiver.failures[:1]
    assert type(exc).__name__ == "EncodeError" and "U+0001" in str(exc)
    mm7_receiver.failures.clear()
'''


def test_a_handler_returning_what_is_no_answer_fails_the_test(project):
    # The receiver counts it as failed (a Server Fault, the message kept for replay) while the
    # test, seeing it recorded in `received`, passed.
    proc = run_user_tests(project, A_HANDLER_ANSWERING_NOTHING_VALID)
    assert "10 passed, 3 errors" in proc.stdout, said(proc)
    assert "ERROR test_mine.py::test_a_handler_returning_a_dict - AssertionError" in proc.stdout, said(proc)
    # An answer the receiver cannot encode fails the message there (a Server Fault, kept for
    # replay) as a handler that raised: it was left out of `failures`, and the test passed.
    assert "ERROR test_mine.py::test_a_status_it_cannot_send - AssertionError" in proc.stdout, said(proc)
    assert ("EncodeError: DeliverRsp/Status/StatusText: character U+0001 cannot be sent in XML"
            in proc.stdout), said(proc)
    assert "ERROR test_mine.py::test_a_callable_returning_a_word - AssertionError" in proc.stdout, said(proc)
    assert ("the first DeliverReq: TypeError: a handler for DeliverReq answers a status code, a Status, "
            "DeliverRsp or None, not {'ok': True}") in proc.stdout, said(proc)
    assert "not 'accepted'" in proc.stdout, said(proc)


A_VASP_THAT_REFUSES = '''\
import pytest
import mm7bind


class Refusing(mm7bind.Handler):
    def on_delivery_report(self, msg, ctx):
        raise mm7bind.Reject(4000, "not ours")

    def on_deliver(self, msg, ctx):
        return 2001


def send_both(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    with mm7bind.Client(mm7_simulator.url) as client:
        client.submit(mm7bind.SubmitReq(recipients=["+8613800138000"], subject="hi", delivery_report=True),
                      transaction_id="tid-submit")
    mm7_simulator.deliver("+8613900000000", ["1065"], "an MO", text="hi")


@pytest.mark.mm7_receiver(handler=Refusing())
def test_refusals_meant(mm7_simulator, mm7_receiver):
    send_both(mm7_simulator, mm7_receiver)
    assert mm7_simulator.wait_idle()
    assert [o["operation"] for o in mm7_simulator.not_taken()] == ["DeliveryReportReq", "DeliverReq"]


@pytest.mark.mm7_receiver(handler=Refusing())
def test_refusals_asserted(mm7_simulator, mm7_receiver):
    send_both(mm7_simulator, mm7_receiver)
    mm7_simulator.assert_all_taken()


def test_all_taken(mm7_simulator, mm7_receiver):
    send_both(mm7_simulator, mm7_receiver)
    mm7_simulator.assert_all_taken()
    assert sorted(m.ELEMENT for m, ctx in mm7_receiver.received) == ["DeliverReq", "DeliveryReportReq"]
'''


def test_reports_and_mo_the_vasp_refused_fail_the_test_only_when_asserted(project):
    # A refusal was kept in `reports` / `mo_sent` and logged, the test passing: a test may mean
    # it, so only one asking (assert_all_taken) fails, saying which and what the VASP answered.
    proc = run_user_tests(project, A_VASP_THAT_REFUSES)
    assert "1 failed, 2 passed" in proc.stdout, said(proc)
    assert "FAILED test_mine.py::test_refusals_asserted - AssertionError" in proc.stdout, said(proc)
    assert "the VASP did not take 2 report(s) or MO the simulator sent" in proc.stdout, said(proc)
    assert re.search(r"DeliveryReportReq tid=\w+ recipient=\+8613800138000 message_id=SIM\S+ \(1 attempt\): "
                     r"FaultError: DeliveryReportReq refused: 4000 not ours", proc.stdout), said(proc)
    assert re.search(r"DeliverReq tid=\w+ \(1 attempt\): status 2001 \(Operation restricted\)", proc.stdout), said(proc)


CHECKED_AT_THE_END = '''\
import pytest
import mm7bind


class Refusing(mm7bind.Handler):
    def on_delivery_report(self, msg, ctx):
        raise mm7bind.Reject(4000, "not ours")

    def on_read_reply(self, msg, ctx):
        raise mm7bind.Reject(4000, "no read replies here")


def submit(mm7_simulator, mm7_receiver, read_reply=False):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    with mm7bind.Client(mm7_simulator.url) as client:
        client.submit(mm7bind.SubmitReq(recipients=["+8613800138000"], subject="hi", delivery_report=True,
                                        read_reply=read_reply))


@pytest.mark.mm7_simulator(assert_all_taken=True)
@pytest.mark.mm7_receiver(handler=Refusing())
def test_a_refusal_not_meant(mm7_simulator, mm7_receiver):
    submit(mm7_simulator, mm7_receiver)
    mm7_receiver.wait_for("DeliveryReportReq")


@pytest.mark.mm7_simulator(assert_all_taken=True)
@pytest.mark.mm7_receiver(handler=Refusing())
def test_a_refusal_due_after_the_test(mm7_simulator, mm7_receiver):
    mm7_receiver.on("delivery_report", lambda msg, ctx: None)
    submit(mm7_simulator, mm7_receiver, read_reply=True)
    mm7_receiver.wait_for("DeliveryReportReq")   # (the read reply, 0.1 s later, refused after the test)


@pytest.mark.mm7_simulator(assert_all_taken=True)
def test_all_taken_and_one_due_after_the_test(mm7_simulator, mm7_receiver):
    submit(mm7_simulator, mm7_receiver, read_reply=True)


@pytest.mark.mm7_simulator(assert_all_taken=True, report_delay=60)
@pytest.mark.mm7_receiver(handler=Refusing())
def test_reports_due_long_after_the_test_are_not_waited_for(mm7_simulator, mm7_receiver):
    submit(mm7_simulator, mm7_receiver)


@pytest.mark.mm7_simulator(assert_all_taking=True)
def test_the_setting_misspelt(mm7_simulator):
    pass


@pytest.mark.mm7_receiver(handler=Refusing())
def test_a_refusal_not_checked(mm7_simulator, mm7_receiver):
    submit(mm7_simulator, mm7_receiver)
    mm7_receiver.wait_for("DeliveryReportReq")
    assert mm7_simulator.wait_idle()


@pytest.mark.mm7_simulator(assert_all_taken=False)
@pytest.mark.mm7_receiver(handler=Refusing())
def test_a_refusal_meant(mm7_simulator, mm7_receiver):
    submit(mm7_simulator, mm7_receiver)
    mm7_receiver.wait_for("DeliveryReportReq")
    assert mm7_simulator.wait_idle()
'''


def test_a_test_opting_in_fails_on_a_report_the_vasp_did_not_take(project):
    # A report or MO the VASP refused passed silently unless the test called assert_all_taken:
    # a marker (or the ini option, for a whole suite) makes every test check it after its body,
    # while the test's receiver still runs; one meaning the refusal opts out.
    proc = run_user_tests(project, CHECKED_AT_THE_END)
    assert "2 failed, 4 passed, 1 error" in proc.stdout, said(proc)
    assert ("TypeError: @pytest.mark.mm7_simulator got an unexpected setting 'assert_all_taking' (did you mean "
            "assert_all_taken?)") in proc.stdout, said(proc)
    assert "FAILED test_mine.py::test_a_refusal_not_meant - AssertionError" in proc.stdout, said(proc)
    assert "FAILED test_mine.py::test_a_refusal_due_after_the_test - AssertionError" in proc.stdout, said(proc)
    assert re.search(r"ReadReplyReq tid=\w+ recipient=\+8613800138000 message_id=SIM\S+ \(1 attempt\): "
                     r"FaultError: ReadReplyReq refused: 4000 no read replies here", proc.stdout), said(proc)
    assert "AssertionError: assert_all_taken: the VASP did not take 1 report(s)" in proc.stdout, said(proc)
    assert "ERROR test_mine.py::test_a_refusal" not in proc.stdout, said(proc)  # (the test's failures, not teardown's)


def test_a_suite_opts_in_with_the_ini_option_and_a_test_opts_out_with_the_marker(project):
    body = CHECKED_AT_THE_END[:CHECKED_AT_THE_END.index("@pytest.mark.mm7_simulator(assert_all_taken=True)")]
    source = body + CHECKED_AT_THE_END[CHECKED_AT_THE_END.index(
        "@pytest.mark.mm7_receiver(handler=Refusing())\ndef test_a_refusal_not_checked"):]
    proc = run_user_tests(project, source, "-o", "mm7_assert_all_taken=true")
    assert "1 failed, 1 passed" in proc.stdout, said(proc)
    assert "FAILED test_mine.py::test_a_refusal_not_checked - AssertionError" in proc.stdout, said(proc)


DUE_LATER = '''\
import pytest
import mm7bind


class Refusing(mm7bind.Handler):
    def on_delivery_report(self, msg, ctx):
        raise mm7bind.Reject(4000, "not ours")


def submit(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    with mm7bind.Client(mm7_simulator.url) as client:
        client.submit(mm7bind.SubmitReq(recipients=["+8613800138000"], subject="hi", delivery_report=True))


@pytest.mark.mm7_simulator(assert_all_taken=True, report_delay=1.5)
@pytest.mark.mm7_receiver(handler=Refusing())
def test_a_refusal_due_past_the_window(mm7_simulator, mm7_receiver):
    submit(mm7_simulator, mm7_receiver)


@pytest.mark.mm7_simulator(assert_all_taken=True, report_delay=1.5, assert_all_taken_within=4)
@pytest.mark.mm7_receiver(handler=Refusing())
def test_a_refusal_due_within_a_wider_window(mm7_simulator, mm7_receiver):
    submit(mm7_simulator, mm7_receiver)


@pytest.mark.mm7_simulator(assert_all_taken=True, assert_all_taken_within=-1)
def test_a_window_before_the_end(mm7_simulator):
    pass
'''


def test_the_window_of_reports_due_after_the_test_is_a_setting(project):
    # Fixed at 1 s, it left a test with report_delay=1.5 unchecked, whatever it meant: a marker
    # (or the ini option, for a suite) widens it.
    proc = run_user_tests(project, DUE_LATER)
    assert "1 failed, 1 passed, 1 error" in proc.stdout, said(proc)
    assert "FAILED test_mine.py::test_a_refusal_due_within_a_wider_window - " in proc.stdout, said(proc)
    assert "AssertionError: assert_all_taken: the VASP did not take 1 report(s)" in proc.stdout, said(proc)
    assert ("ValueError: assert_all_taken_within must be a number of seconds, 0 or more, not -1"
            in proc.stdout), said(proc)
    proc = run_pytest(project, "-o", "mm7_assert_all_taken_within=4", "-k", "past_the_window")
    assert "1 failed, 2 deselected" in proc.stdout, said(proc)
    proc = run_pytest(project, "-o", "mm7_assert_all_taken_within=soon", "-k", "past_the_window")
    assert "ValueError: assert_all_taken_within must be a number of seconds, 0 or more, not 'soon'" in proc.stdout, \
        said(proc)


SHARED_MARKER = '''\
import pytest

pytestmark = pytest.mark.mm7_simulator(recipient_status={"+8613800000001": "Rejected"})


def test_one(mm7_simulator):
    mm7_simulator.config.recipient_status["+8613800000002"] = "Expired"


def test_two(mm7_simulator):
    assert mm7_simulator.config.recipient_status == {"+8613800000001": "Rejected"}
'''


def test_a_tests_change_to_its_simulators_settings_does_not_reach_the_next_test(project):
    # The settings dict of a module's marker was the simulator's own: a test changing
    # config.recipient_status changed it for every test after it in the module.
    proc = run_user_tests(project, SHARED_MARKER)
    assert "2 passed" in proc.stdout, said(proc)


WHY_NOTHING_CAME = '''\
import asyncio

import pytest
import mm7bind


def submit(sim, **settings):
    with mm7bind.Client(sim.url) as client:
        return client.submit(mm7bind.SubmitReq(recipients=["+8613800138000"], **settings))


def test_the_simulator_not_told_where_the_receiver_is(mm7_receiver, mm7_simulator):
    submit(mm7_simulator, delivery_report=True)
    mm7_receiver.wait_for("DeliveryReportReq", timeout=0.2)


def test_the_simulator_sending_elsewhere(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = "http://127.0.0.1:9/elsewhere"
    submit(mm7_simulator, delivery_report=True)
    mm7_receiver.wait_for("delivery_report", timeout=0.2)


def test_no_submit_asked_for_a_read_reply(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    submit(mm7_simulator, delivery_report=True)
    mm7_receiver.wait_for("ReadReplyReq", timeout=0.5)


@pytest.mark.mm7_simulator(report_delay=60)
def test_a_report_not_yet_due(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    submit(mm7_simulator, delivery_report=True)
    mm7_receiver.wait_for("DeliveryReportReq", timeout=0.2)


def send_later(sim):
    async def sending():
        async with mm7bind.AsyncClient(sim.url) as client:
            return await client.submit(mm7bind.SubmitReq(recipients=["+8613800138000"], delivery_report=True))
    return asyncio.create_task(sending())


def test_the_simulators_wait_holding_the_loop(mm7_simulator):
    async def main():
        task = send_later(mm7_simulator)
        mm7_simulator.wait_for("SubmitReq", timeout=0.2)
        await task
    asyncio.run(main())


def test_the_receivers_wait_holding_the_loop(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    async def main():
        task = send_later(mm7_simulator)
        mm7_receiver.wait_for("DeliveryReportReq", timeout=0.2)
        await task
    asyncio.run(main())


def test_waits_in_a_thread_leave_the_loop_to_its_tasks(mm7_simulator, mm7_receiver):
    mm7_simulator.config.vasp_url = mm7_receiver.url
    async def main():
        task = send_later(mm7_simulator)
        [submit] = await asyncio.to_thread(mm7_simulator.wait_for, "SubmitReq")
        [(report, ctx)] = await asyncio.to_thread(mm7_receiver.wait_for, "DeliveryReportReq")
        assert report.message_id == submit.message_id == (await task).message_id
    asyncio.run(main())
'''


def test_a_failed_wait_says_why_nothing_came(project):
    # A report waited for in vain said "Handed to the handler: nothing", whatever kept it: most
    # often the simulator never told where the receiver is, or no submit asking for one. And a
    # wait run on the event loop of an asyncio test held up the task that was to send: "nothing
    # came", the service blamed.
    proc = run_user_tests(project, WHY_NOTHING_CAME)
    out = proc.stdout
    assert proc.returncode == 1 and "6 failed, 1 passed" in out, said(proc)
    # (each failed test's section of the report, by its name)
    failed = dict(zip(re.findall(r"^_+ (test_\w+) _+$", out, re.MULTILINE),
                      re.split(r"^_+ test_\w+ _+$", out, flags=re.MULTILINE)[1:]))
    assert len(failed) == 6, said(proc)
    unset = failed["test_the_simulator_not_told_where_the_receiver_is"]
    assert ("The simulator sends no report, read reply or MO: its vasp_url is not set "
            "(mm7_simulator.config.vasp_url = mm7_receiver.url)") in unset, unset
    elsewhere = failed["test_the_simulator_sending_elsewhere"]
    assert re.search(r"The simulator sends its reports, read replies and MO to http://127\.0\.0\.1:9/elsewhere, "
                     r"this receiver is at http://127\.0\.0\.1:\d+/mm7$", elsewhere, re.MULTILINE), elsewhere
    unasked = failed["test_no_submit_asked_for_a_read_reply"]
    assert "None of the 1 message(s) the simulator has asked for one (read_reply=True in the SubmitReq)" in unasked
    later = failed["test_a_report_not_yet_due"]
    assert re.search(r"The simulator has yet to send: \d+ scheduled, the next due in 5\d\.?\d* s", later), later
    for name, waited in (("test_the_simulators_wait_holding_the_loop", "simulator"),
                         ("test_the_receivers_wait_holding_the_loop", "mm7_receiver")):
        assert ("0 came" in failed[name] and "this wait ran on a running asyncio event loop, holding up its "
                "tasks meanwhile: one that was to send, or to answer, could not; `await asyncio.to_thread("
                f"{waited}.wait_for, ...)`" in failed[name]), failed[name]
    for name in ("test_the_simulator_not_told_where_the_receiver_is", "test_a_report_not_yet_due"):
        assert "asyncio" not in failed[name]  # (said only where it is the reason)
