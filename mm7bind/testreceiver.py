"""A VASP receiver for tests, behind mm7bind.testing's mm7_receiver fixture: runs on loopback on a
free port, keeps every request handed to the handler, and waits for one with a clear failure."""

from __future__ import annotations

import contextlib
import functools
import threading
from urllib.parse import urlsplit, urlunsplit

from .deadline import held_loop_hint, wait_limit
from .display import shown_url
from .metrics import Metrics
from .receiver import (
    HANDLED_KINDS,
    KIND_NAMES,
    Handler,
    Receiver,
    Reject,
    Unavailable,
    no_async_methods,
    response_for,
)
from .server import serve
from .store import MemoryStore


class RecordingHandler(Handler):
    """Hands every request it is given to `inner` (your handler) when there is one, then keeps it
    (thread-safe) whatever that handler did, answered, refused or raised: what came is in `received`
    whichever handler answered it, and once it is there your handler is done with it."""

    def __init__(self, inner: Handler | None = None) -> None:
        self.inner = inner
        self.received: list = []
        self.failures: list = []  # (message, exception) of each your handler failed on: a bug of it
        # (raised, or returned what is no answer: a TypeError saying what)
        self._lock = threading.Condition()  # (a lock that also wakes whoever waits for a request)
        self._held = threading.local()  # requests kept once their answer is made (`_holding`)

    def _keep(self, msg, ctx) -> None:
        held = getattr(self._held, "requests", None)
        if held is not None:
            held.append((msg, ctx))
            return
        with self._lock:
            self.received.append((msg, ctx))
            self._lock.notify_all()

    def _pass_on(self, name: str, msg, ctx):
        return self.run(getattr(self.inner, name, None), msg, ctx)

    def run(self, handle, msg, ctx):
        """`handle(msg, ctx)` (nothing when None), then keep the request, whatever it did."""
        # Kept after your handler ran: a test that waited for a report, then looks at what your
        # handler made of it (a row written, a reply sent) would otherwise look too early.
        try:
            outcome = handle(msg, ctx) if handle is not None else None
        except (Reject, Unavailable):  # (answers it means to give)
            raise
        except Exception as exc:
            self._failed(msg, exc)
            raise
        else:
            # What stands for no answer (a dict, a str) the receiver refuses as the handler's bug
            # (a Server Fault, kept for replay): the test should fail as if the handler had raised.
            # Returned as it came, so the receiver answers exactly as it would in production.
            try:
                response_for(msg, outcome)
            except TypeError as exc:
                self._failed(msg, exc)
            return outcome
        finally:
            self._keep(msg, ctx)

    @contextlib.contextmanager
    def _holding(self):
        """Requests handled in this thread meanwhile are kept at its end: once the receiver has
        made their answer, so a failure to encode it is in `failures` before they are in `received`
        (which a test waits for, then looks at `failures`)."""
        self._held.requests = []
        try:
            yield
        finally:
            held, self._held.requests = self._held.requests, None
            for msg, ctx in held:
                self._keep(msg, ctx)

    def _failed(self, msg, exc: BaseException) -> None:
        with self._lock:
            self.failures.append((msg, exc))

    def on_deliver(self, msg, ctx):
        return self._pass_on("on_deliver", msg, ctx)

    def on_delivery_report(self, msg, ctx):
        return self._pass_on("on_delivery_report", msg, ctx)

    def on_read_reply(self, msg, ctx):
        return self._pass_on("on_read_reply", msg, ctx)


# What the receiver answered without calling a handler: said when a wait ends empty-handed.
REFUSALS = ("challenged", "unauthorized", "forbidden", "too_large", "incomplete", "malformed", "unsupported", "not_post",
            "store_error", "internal_error")


class _RecordingReceiver(Receiver):
    """A Receiver whose callables registered with `on` are recorded as its handler's methods are
    (the Receiver calls such a callable instead of the handler: unwrapped, `received` missed it)."""

    def _handler_for(self, kind: str):
        fn = self.callables.get(kind)
        if fn is None:
            return super()._handler_for(kind)
        return functools.partial(self.handler.run, fn)

    def dispatch(self, *args, **kwargs):
        with self.handler._holding():
            return super().dispatch(*args, **kwargs)

    def _handler_answer(self, env, response, outcome):
        # An answer that cannot be sent (a Status text with a control character) fails the
        # message in the receiver as a handler that raised does: so it fails the test too.
        try:
            return super()._handler_answer(env, response, outcome)
        except Exception as exc:
            self.handler._failed(env.message, exc)
            raise


class RunningReceiver:
    def __init__(self, handler: Handler | None = None, **settings):
        if isinstance(handler, type):  # (its methods, called unbound, raised in the server, unseen by the test)
            raise TypeError(f"handler= takes a handler, not its class: {handler.__name__}() rather than "
                            f"{handler.__name__}")
        # (the Receiver sees the recorder, not yours: its checks are made here)
        if handler is not None and not any(hasattr(handler, method) for method in HANDLED_KINDS.values()):
            # (a function: never called, what came recorded all the same, the test's own checks failing)
            named = getattr(handler, "__qualname__", type(handler).__name__)
            raise TypeError(f"handler= takes a Handler (on_deliver, on_delivery_report, on_read_reply), not {named}: "
                            "a function goes in mm7_receiver.on(\"deliver\", fn)")
        no_async_methods(handler)
        self.handler = handler  # yours, or None
        self.recorder = RecordingHandler(handler)
        self.store = settings.pop("store", None) or MemoryStore()
        self.metrics = settings.pop("metrics", None) or Metrics()
        self.receiver = _RecordingReceiver(self.recorder, store=self.store, metrics=self.metrics, **settings)
        self.server = serve(self.receiver, port=0, path="/mm7")
        self.url = ""
        # () → the simulator of the same test, or None (the fixture sets it): what it says of
        # its sending goes into a failed wait's words
        self.simulator = None

    def on(self, kind: str, fn=None):
        """`Receiver.on`: register a callable for "deliver", "delivery_report" or "read_reply" (a
        decorator too); what it is given is recorded as a handler's is."""
        return self.receiver.on(kind, fn)

    @property
    def failures(self) -> list:
        """(message, exception) of each request your handler failed on (raised anything but
        Reject or Unavailable, returned what is no answer: a TypeError saying what, or an answer
        that cannot be sent: the EncodeError): the mm7_receiver fixture fails the test with them
        unless emptied."""
        return self.recorder.failures

    @property
    def received(self) -> list:
        """(message, context) of every request handed to the handler, in the order it was done with them."""
        return self.recorder.received

    def wait_for(self, kind: str | None = None, count: int = 1, timeout: float | None = 10.0) -> list:
        """Wait until `count` requests (of `kind`: "DeliverReq", "DeliveryReportReq",
        "ReadReplyReq", or as `on` names them, "deliver" ...; any without) have come and your
        handler is done with them → their (message, context) pairs; counted in `received`, all
        that came since the start, not since the last call (one more: `count=len(first) + 1`). If they do not come within
        `timeout` seconds (None: no limit), an AssertionError says what did, and what was refused."""
        __tracebackhide__ = True  # (the user's test is where it failed, not this helper)
        kind = KIND_NAMES.get(kind, kind)  # (kind=None is not a key: stays None)
        if kind is not None and kind not in HANDLED_KINDS:  # (a slip would wait out the timeout, then blame the sender)
            raise ValueError(f"kind must be one of {', '.join(HANDLED_KINDS)} or {', '.join(KIND_NAMES)}"
                             f" (or None for any), not {kind!r}")

        def matching() -> list:
            return [(msg, ctx) for msg, ctx in self.recorder.received if kind is None or msg.ELEMENT == kind]

        with self.recorder._lock:
            self.recorder._lock.wait_for(lambda: len(matching()) >= count, wait_limit(timeout))
            got, everything = matching(), list(self.recorder.received)
        if len(got) >= count:
            return got
        came = "; ".join(_described(msg, ctx) for msg, ctx in everything) or "nothing"
        refused = {o: int(self.metrics.value("mm7bind_received_total", outcome=o)) for o in REFUSALS}
        refused_text = ", ".join(f"{o}: {n}" for o, n in refused.items() if n)
        raise AssertionError(f"waited {timeout:g} s at {self.url} for {count} {kind or 'request'}(s), "
                             f"{len(got)} came. Handed to the handler: {came}"
                             + (f". Refused before the handler (by outcome): {refused_text}" if refused_text else "")
                             + self._sender_said(kind)
                             + held_loop_hint("mm7_receiver.wait_for, ..."))

    def _sender_said(self, kind: str | None) -> str:
        """What the test's simulator (`simulator`, when it has one) says of what it sends here: the
        usual reasons nothing came are on its side — its vasp_url not set to this receiver, no submit
        asking for a report, reports not yet due."""
        sim = self.simulator() if self.simulator is not None else None
        if sim is None:
            return ""
        url = sim.config.vasp_url
        if url is None:
            return (". The simulator sends no report, read reply or MO: its vasp_url is not set "
                    "(mm7_simulator.config.vasp_url = mm7_receiver.url)")
        if _without_credentials(url) != self.url:  # (this receiver's URL with its credentials is this receiver)
            return (f". The simulator sends its reports, read replies and MO to {shown_url(url)}, "
                    f"this receiver is at {self.url}")
        said = ""
        asked = {"DeliveryReportReq": "delivery_report", "ReadReplyReq": "read_reply"}.get(kind or "")
        submits = [stored.request for stored in sim.messages.values()]
        if asked and submits and not any(getattr(request, asked, None) for request in submits):
            said += (f". None of the {len(submits)} message(s) the simulator has asked for one "
                     f"({asked}=True in the SubmitReq)")
        idle = sim.wait_idle(0)
        if not idle:  # (a report_delay longer than the wait, say)
            left = [f"{idle.scheduled} scheduled" + (f", the next due in {idle.next_in:.3g} s"
                                                      if idle.next_in is not None else "")] if idle.scheduled else []
            left += [f"{idle.running} on its way"] if idle.running else []
            said += f". The simulator has yet to send: {'; '.join(left)}"
        return said

    def __enter__(self) -> RunningReceiver:
        self.server.start()
        self.url = self.server.endpoint
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _described(msg, ctx) -> str:
    said = [msg.ELEMENT, f"tid={ctx.transaction_id}"]
    for name in ("message_id", "mm_status"):
        value = getattr(msg, name, None)
        if value is not None:
            said.append(f"{name}={getattr(value, 'value', value)}")
    return " ".join(said)
