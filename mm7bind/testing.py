"""pytest fixtures for users' own test suites: a running MMSC simulator and a VASP receiver.

Installed as a pytest plugin (entry point "mm7bind": `-p no:mm7bind` leaves it out), so in any
project with mm7bind installed:

    def test_my_service(mm7_simulator):
        client = mm7bind.Client(mm7_simulator.url)
        result = client.submit(my_message)
        assert mm7_simulator.messages[result.message_id].request.subject == "..."
        assert mm7_simulator.received[-1].headers["SOAPAction"] == '""'   # every request, as sent

    def test_my_queue(mm7_simulator):
        my_service.queue(my_message)                        # sent on its own time, from its thread
        [submit] = mm7_simulator.wait_for("SubmitReq")      # else: what came instead
        assert submit.status == 1000

    def test_reports(mm7_simulator, mm7_receiver):
        mm7_simulator.config.vasp_url = mm7_receiver.url   # reports and MO go to your receiver
        ...
        [(report, ctx)] = mm7_receiver.wait_for("DeliveryReportReq")  # else: what came instead
        assert mm7_receiver.received                        # (message, context) pairs
        mm7_simulator.assert_all_taken()                    # else: each report or MO refused, and how

    def test_retries(mm7_simulator):
        mm7_simulator.fail_next(status=4006)                # or text=, http_status=503, retry_after=, delay=,
                                                            # drop="before-answer" (served, answer lost),
                                                            # in_response=True (in a SubmitRsp, not a Fault)
        assert mm7bind.Client(mm7_simulator.url).submit(my_message).attempts == 2

    def test_my_asyncio_service(mm7_simulator):
        async def main():
            sending = asyncio.create_task(my_service.send(my_message))   # on the event loop
            [submit] = await asyncio.to_thread(mm7_simulator.wait_for, "SubmitReq")  # the loop left to it
            await sending
        asyncio.run(main())                                 # (an AsyncClient made in it, for it)

    @pytest.mark.mm7_simulator(dialect="cmcc", strict=True)   # SimulatorConfig settings
    @pytest.mark.mm7_receiver(handler=MyHandler(), auth=mm7bind.auth.BasicAuth("mmsc", "pw"))
    def test_my_handler(mm7_simulator, mm7_receiver): ...   # Receiver settings; .received all the same

Both listen on loopback on a free port and are stopped after the test. A handler of yours that
fails (raises anything but Reject or Unavailable, returns what is no answer, or an answer that
cannot be sent) fails the test after it, unless it empties mm7_receiver.failures. A report or MO
the VASP refuses does not (a test may mean it): mm7_simulator.assert_all_taken() fails on them,
as does every test marked mm7_simulator(assert_all_taken=True), or of a suite whose ini options
say mm7_assert_all_taken = true, once its body has passed.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import math
from typing import TYPE_CHECKING, Any

import pytest

# pytest imports this module in every project where mm7bind is installed, at its start: so nothing
# of mm7bind's own is imported here (the XML bindings, the receiver, the simulator take half a
# second), only when a fixture is used, or one of these names (PEP 562).
_ELSEWHERE = {"RecordingHandler": "testreceiver", "RunningReceiver": "testreceiver", "REFUSALS": "testreceiver"}

if TYPE_CHECKING:
    from .testreceiver import REFUSALS, RecordingHandler, RunningReceiver  # noqa: F401 (importable from here)
else:  # (hidden from type checkers, for which a module __getattr__ would make any name valid)

    def __getattr__(name: str) -> Any:
        # (No module __dir__ listing these names: pytest reads every name a plugin's dir() gives,
        # looking for fixtures, which would import them all.)
        if name not in _ELSEWHERE:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"mm7bind.{_ELSEWHERE[name]}"), name)
        globals()[name] = value
        return value


def pytest_addoption(parser) -> None:
    parser.addini("mm7_assert_all_taken", "fail a test using mm7_simulator when the VASP did not take a report, "
                  "read reply or MO (as mm7_simulator.assert_all_taken() at its end); a marker's "
                  "assert_all_taken= wins", type="bool", default=False)
    parser.addini("mm7_assert_all_taken_within", "seconds: what the simulator has due this soon after a test's "
                  "body is waited for and checked too (by mm7_assert_all_taken; later: not waited for); "
                  "a marker's assert_all_taken_within= wins", default=str(_DUE_SOON))


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "mm7_simulator(**settings): SimulatorConfig settings (dialect=, strict=, "
                                       "auth=, report_status=, ...) for the mm7_simulator fixture, and "
                                       "assert_all_taken=True: the test fails on a report or MO the VASP "
                                       "did not take (those due within assert_all_taken_within= seconds of "
                                       "its end, 1 by default, waited for)")
    config.addinivalue_line("markers", "mm7_receiver(handler=None, **settings): your Handler and Receiver "
                                       "settings (auth=, strict=, ...) for the mm7_receiver fixture")


def _marked(request, name: str) -> dict:
    # Every level's settings, the closest winning: a module's or a class's marker (pytestmark) with
    # a test's own was taken for the test's alone, and lost its settings without a word.
    settings: dict = {}
    for marker in reversed(list(request.node.iter_markers(name))):
        if marker.args:  # (else ignored: the fixture would run with settings other than those written)
            raise TypeError(f"@pytest.mark.{name} takes settings by name (e.g. {name}(dialect=\"cmcc\")), "
                            f"not {', '.join(map(repr, marker.args))}")
        # (a copy of a dict or list given: a test changing its simulator's config.recipient_status
        # changed the module marker's own, and the next tests ran with it)
        settings.update({name: copy.copy(value) if isinstance(value, (dict, list, set)) else value
                         for name, value in marker.kwargs.items()})
    return settings


@pytest.fixture
def mm7_simulator(request):
    """A running MMSC simulator (standard dialect, messages delivered and reported after 0.1 s,
    read after 0.2 s, the VASP's answer waited for 5 s: sooner than SimulatorConfig's defaults, see
    `mm7bind.simdefaults`); `.url`,
    `.messages`, `.received`, `.wait_for(operation)`, `.fail_next(...)`, `.deliver(...)`,
    `.assert_all_taken()`.
    `@pytest.mark.mm7_simulator(dialect=..., ...)` gives it other SimulatorConfig settings, and
    `assert_all_taken=True` (or the ini option mm7_assert_all_taken) fails the test, once its body
    has passed, on a report, read reply or MO the VASP did not take: those sent and those due within
    `assert_all_taken_within` seconds (or the ini option mm7_assert_all_taken_within; 1 s)."""
    from .simdefaults import FIXTURE_READ_DELAY, FIXTURE_REPORT_DELAY, FIXTURE_VASP_TIMEOUT  # noqa: PLC0415
    from .simulator import Simulator, SimulatorConfig  # noqa: PLC0415

    settings = {"report_delay": FIXTURE_REPORT_DELAY, "read_delay": FIXTURE_READ_DELAY,
                "vasp_timeout": FIXTURE_VASP_TIMEOUT, **_marked(request, "mm7_simulator")}
    known = [f.name for f in dataclasses.fields(SimulatorConfig)] + ["assert_all_taken", "assert_all_taken_within"]
    unknown = [name for name in settings if name not in known]
    if unknown:  # (said as the marker the test wrote, its own setting among those it may mean)
        from .hints import did_you_mean  # noqa: PLC0415

        raise TypeError(f"@pytest.mark.mm7_simulator got an unexpected setting {unknown[0]!r}"
                        + did_you_mean(unknown[0], known))
    all_taken = settings.pop("assert_all_taken", request.config.getini("mm7_assert_all_taken"))
    within = _seconds_within(settings.pop("assert_all_taken_within",
                                          request.config.getini("mm7_assert_all_taken_within")))
    with Simulator(SimulatorConfig(**settings)) as sim:
        request.node.stash[_SIMULATOR] = sim  # (for the test's mm7_receiver: see _sender_said)
        if all_taken:
            request.node.stash[_CHECKED_AT_THE_END] = sim, within
        yield sim


# The test's simulator, whichever fixture is set up first: a failed mm7_receiver.wait_for says
# what it sends and where.
_SIMULATOR = pytest.StashKey[Any]()

# The simulator whose reports and MO are checked once the test has run (assert_all_taken=True).
_CHECKED_AT_THE_END = pytest.StashKey[Any]()

# What is due this soon (seconds) after the test's end is waited for and checked; what is due later
# (a test with report_delay=60) is not: the test did not wait for it either. The fixture's reports
# and read replies are due within 0.2 s of a submit; a test with longer ones it means checked says
# so: mm7_simulator(assert_all_taken_within=5), or the ini option mm7_assert_all_taken_within.
_DUE_SOON = 1.0

# How long the check waits for those on their way, past the last one due: an answer's time.
_SETTLE_TIMEOUT = 10.0


def _seconds_within(value) -> float:
    """The assert_all_taken_within setting (a marker's number, or the ini option's text), checked."""
    try:
        seconds = math.nan if isinstance(value, bool) else float(value)  # (True is no number of seconds)
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 <= seconds < math.inf:  # (nan too)
        raise ValueError(f"assert_all_taken_within must be a number of seconds, 0 or more, not {value!r}")
    return seconds


def _check_all_taken(item) -> None:
    """The end-of-test check of a test whose simulator has assert_all_taken."""
    checked = item.stash.get(_CHECKED_AT_THE_END, None)
    if checked is not None:
        from .simulator import not_taken_said  # noqa: PLC0415

        __tracebackhide__ = True
        sim, within = checked
        timeout = within + _SETTLE_TIMEOUT  # (those due last given their time to be answered too)
        if not sim._settled(within, timeout=timeout):
            raise AssertionError(f"assert_all_taken: reports or MO still on their way {timeout:g} s after the "
                                 f"test: {sim.wait_idle(0)}")
        left = sim.not_taken()
        if left:
            raise AssertionError("assert_all_taken: " + not_taken_said(
                left, "a test meaning it to refuse them is marked mm7_simulator(assert_all_taken=False)"))


# Checked in pytest_runtest_call, after the test's body and before any fixture's teardown: the
# mm7_receiver of the test, set up after the simulator, is stopped before it, and reports due then
# found no one. The plugin loads in every project where mm7bind is installed, whatever its pytest:
# a new-style wrapper needs pluggy 1.2 (pytest 8); with an older one (pytest 7) the old style, whose
# exception after the yield fails the test there, is used, rather than failing the whole run.
try:
    _new_style_wrapper = pytest.hookimpl(wrapper=True)
except TypeError:
    _new_style_wrapper = None

if _new_style_wrapper is not None:
    @_new_style_wrapper
    def pytest_runtest_call(item):
        result = yield  # (a test that failed raised here: its own failure is what it says)
        _check_all_taken(item)
        return result
else:  # pragma: no cover (pluggy < 1.2)
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(item):
        outcome = yield
        if outcome.excinfo is None:
            _check_all_taken(item)


@pytest.fixture
def mm7_receiver(request):
    """A running VASP receiver recording what it gets; `.url`, `.received`, `.wait_for(kind)`,
    `.store`, `.metrics`. `@pytest.mark.mm7_receiver(handler=..., ...)` runs your handler, and
    `.on(kind, fn)` your callables, as `Receiver.on` (what they are given is recorded all the
    same), with other Receiver settings."""
    from .testreceiver import RunningReceiver  # noqa: PLC0415

    with RunningReceiver(**_marked(request, "mm7_receiver")) as rcv:
        rcv.simulator = lambda: request.node.stash.get(_SIMULATOR, None)
        yield rcv
    if rcv.failures:
        # The receiver answered the MMSC a Fault and logged it, while the test, which seldom looks
        # at either, passed: a bug in your handler is a failure of the test.
        msg, exc = rcv.failures[0]
        raise AssertionError(f"your handler failed on {len(rcv.failures)} request(s), the first {msg.ELEMENT}: "
                             f"{type(exc).__name__}: {exc} (a test meaning it to fail empties "
                             "mm7_receiver.failures)") from exc
