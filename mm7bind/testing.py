"""pytest fixtures for users' own test suites: a running MMSC simulator and a VASP receiver.

Installed as a pytest plugin (entry point "mm7bind"), so in any project with mm7bind installed:

    def test_my_service(mm7_simulator):
        client = mm7bind.Client(mm7_simulator.url)
        result = client.submit(my_message)
        assert mm7_simulator.messages[result.message_id].request.subject == "..."

    def test_reports(mm7_simulator, mm7_receiver):
        mm7_simulator.config.vasp_url = mm7_receiver.url   # reports and MO go to your receiver
        ...
        mm7_simulator.wait_idle()
        assert mm7_receiver.received                        # (message, context) pairs

    def test_retries(mm7_simulator):
        mm7_simulator.fail_next(status=4006)                # or http_status=503, retry_after=, delay=
        assert mm7bind.Client(mm7_simulator.url).submit(my_message).attempts == 2

    @pytest.mark.mm7_simulator(dialect="cmcc", strict=True)   # SimulatorConfig settings
    @pytest.mark.mm7_receiver(handler=MyHandler(), auth=mm7bind.auth.BasicAuth("mmsc", "pw"))
    def test_my_handler(mm7_simulator, mm7_receiver): ...   # Receiver settings; .received needs no handler

Both listen on loopback on a free port and are stopped after the test.
"""

from __future__ import annotations

import threading

import pytest

from .receiver import Handler, Receiver
from .server import serve
from .simulator import Simulator, SimulatorConfig
from .store import MemoryStore


class RecordingHandler(Handler):
    """Keeps every request it is given (thread-safe)."""

    def __init__(self) -> None:
        self.received: list = []
        self._lock = threading.Lock()

    def _keep(self, msg, ctx):
        with self._lock:
            self.received.append((msg, ctx))

    on_deliver = on_delivery_report = on_read_reply = _keep


class RunningReceiver:
    def __init__(self, handler: Handler | None = None, **settings):
        self.handler = handler or RecordingHandler()
        self.store = MemoryStore()
        self.receiver = Receiver(self.handler, store=self.store, **settings)
        self.server = serve(self.receiver, port=0, path="/mm7")
        self.url = ""

    @property
    def received(self) -> list:
        return getattr(self.handler, "received", [])

    def __enter__(self) -> RunningReceiver:
        self.server.start()
        self.url = self.server.endpoint
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "mm7_simulator(**settings): SimulatorConfig settings (dialect=, strict=, "
                                       "auth=, report_status=, ...) for the mm7_simulator fixture")
    config.addinivalue_line("markers", "mm7_receiver(handler=None, **settings): your Handler and Receiver "
                                       "settings (auth=, strict=, ...) for the mm7_receiver fixture")


def _marked(request, name: str) -> dict:
    marker = request.node.get_closest_marker(name)
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
def mm7_simulator(request):
    """A running MMSC simulator (standard dialect, reports after 0.1 s); `.url`, `.messages`.
    `@pytest.mark.mm7_simulator(dialect=..., ...)` gives it other SimulatorConfig settings."""
    settings = {"report_delay": 0.1, "read_delay": 0.2, **_marked(request, "mm7_simulator")}
    with Simulator(SimulatorConfig(**settings)) as sim:
        yield sim


@pytest.fixture
def mm7_receiver(request):
    """A running VASP receiver recording what it gets; `.url`, `.received`, `.store`.
    `@pytest.mark.mm7_receiver(handler=..., ...)` runs your handler, with other Receiver settings."""
    with RunningReceiver(**_marked(request, "mm7_receiver")) as rcv:
        yield rcv
