"""A misspelt keyword to a public constructor is refused with the name it likely is."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import mm7bind as mm7
from mm7bind.simulator import Simulator, SimulatorConfig


@pytest.mark.parametrize(("make", "wrong", "right"), [
    (lambda **kw: mm7.ClientConfig(**kw), "read_timout", "read_timeout"),
    (lambda **kw: mm7.Client("http://127.0.0.1:9/mm7", **kw), "read_timout", "read_timeout"),  # (passed on)
    (lambda **kw: mm7.Client("http://127.0.0.1:9/mm7", **kw), "stor", "store"),  # (its own)
    (lambda **kw: mm7.Profile(**kw), "verison", "version"),
    (lambda **kw: mm7.XmlStyle(**kw), "encodng", "encoding"),
    (lambda **kw: mm7.RetryPolicy(**kw), "max_attempt", "max_attempts"),
    (lambda **kw: mm7.SubmitReq(**kw), "recipient", "recipients"),
    (lambda **kw: mm7.DeliverRsp(**kw), "Status", "status"),
    (lambda **kw: mm7.Content(**kw), "part", "parts"),
    (lambda **kw: mm7.Receiver(**kw), "strct", "strict"),
    (lambda **kw: SimulatorConfig(**kw), "dialekt", "dialect"),
    (lambda **kw: Simulator(**kw), "dialekt", "dialect"),
    (lambda **kw: mm7.serve(mm7.Receiver(), **kw), "prot", "port"),  # (EmbeddedServer's)
    (lambda **kw: mm7.serve(mm7.Receiver(), **kw), "helth_path", "health_path"),  # (its own)
])
def test_a_misspelt_keyword_is_said_with_the_one_it_likely_is(make, wrong, right):
    with pytest.raises(TypeError) as err:
        make(**{wrong: 1})
    assert str(err.value).endswith(f"got an unexpected keyword argument {wrong!r} (did you mean {right}?)"), err.value


def test_only_the_calls_own_keyword_errors_get_a_hint_and_correct_calls_are_untouched():
    with pytest.raises(TypeError) as err:  # (nothing alike: Python's words alone)
        mm7.ClientConfig(zzzz=1)
    assert str(err.value) == "ClientConfig.__init__() got an unexpected keyword argument 'zzzz'"
    with pytest.raises(TypeError) as err:  # (not a keyword's matter)
        mm7.Profile(*range(40))
    assert "did you mean" not in str(err.value)
    # The signature shown, and what dataclasses see, are the constructors' own
    assert "read_timeout" in inspect.signature(mm7.ClientConfig).parameters
    assert "recipients" in inspect.signature(mm7.SubmitReq).parameters
    msg = mm7.SubmitReq(vaspid="1", recipients=mm7.Recipients(to=["+8613800138000"]))
    again = dataclasses.replace(msg, subject="s")
    assert again.vaspid == "1" and again.subject == "s" and again == dataclasses.replace(msg, subject="s")
    assert mm7.Profile(version="REL-5-MM7-1-0").version == "REL-5-MM7-1-0"


def test_a_receiver_asked_for_a_kind_it_has_not_names_those_it_has():
    """`@receiver.on("delivery")` said "unknown message kind 'delivery'" and no more."""
    rx = mm7.Receiver()
    with pytest.raises(ValueError) as err:
        rx.on("delivery-report", lambda msg, ctx: None)  # (as `store inbox --kind` spells it)
    assert str(err.value) == ("unknown message kind 'delivery-report' (did you mean delivery_report?): a receiver "
                              "handles deliver, delivery_report, read_reply (or DeliverReq, DeliveryReportReq, "
                              "ReadReplyReq)")
    with pytest.raises(ValueError, match=r"^unknown message kind 'mo': a receiver handles deliver, "):
        rx.on("mo", lambda msg, ctx: None)
    rx.on("deliver", lambda msg, ctx: None)  # (the names it takes, as ever)
    rx.on("ReadReplyReq", lambda msg, ctx: None)


def test_a_function_that_cannot_take_msg_and_ctx_is_refused_when_registered():
    """`@receiver.on("deliver") def f(msg)` was taken, then failed on every message (each answered
    3000, its log saying "stored as #- for replay" with no store to keep it)."""
    rx = mm7.Receiver()
    with pytest.raises(TypeError) as err:
        @rx.on("deliver")
        def only_msg(msg):
            return None
    assert str(err.value) == ("a function for 'deliver' must take (msg, ctx), as each message calls it: "
                              "test_a_function_that_cannot_take_msg_and_ctx_is_refused_when_registered.<locals>."
                              "only_msg(msg) does not (too many positional arguments)"), err.value
    for fine in (lambda msg, ctx: None, lambda *args: None, lambda msg, ctx, extra=None: None, print):
        rx.on("deliver", fine)


def test_an_async_handler_is_refused_when_registered():
    """An `async def on_deliver` (natural beside an AsyncClient) was taken, then its coroutine was
    returned unawaited for every message: its code never ran, each message answered 3000."""
    from mm7bind.testreceiver import RunningReceiver

    class AsyncInbox(mm7.Handler):
        async def on_delivery_report(self, msg, ctx):
            return None

    for made in (lambda: mm7.Receiver(AsyncInbox()), lambda: RunningReceiver(AsyncInbox())):  # (the fixture's too)
        with pytest.raises(TypeError) as err:
            made()
        assert str(err.value).startswith(
            "a handler's on_delivery_report is called in the receiver's threads, not awaited: "
            "test_an_async_handler_is_refused_when_registered.<locals>.AsyncInbox.on_delivery_report is an "
            "async def, which would never run. Write it as a plain def"), err.value
    rx = mm7.Receiver()
    with pytest.raises(TypeError, match=r"^a function for 'deliver' is called in the receiver's threads, not "
                                        r"awaited: .*\.got is an async def"):
        @rx.on("deliver")
        async def got(msg, ctx):
            return None
    assert rx.callables == {}


@pytest.mark.parametrize("slip, meant", [("on_report", "on_delivery_report"), ("on_delivery", "on_deliver"),
                                         ("on_readreply", "on_read_reply"), ("on_mo", None)])
def test_a_handler_with_a_misspelt_method_is_refused_when_registered(slip, meant):
    """`on_report` beside a Handler's on_delivery_report was taken: never called, the default
    answered every report 1000, the MMSC told it was taken, and the report lost."""
    from mm7bind.testreceiver import RunningReceiver

    def called(self, msg, ctx):
        raise AssertionError("never called")

    class Inbox(mm7.Handler):
        pass

    setattr(Inbox, slip, called)
    duck = type("Duck", (), {"on_deliver": called, slip: staticmethod(called)})  # (no Handler: the same names)
    hint = f" (did you mean {meant}?)" if meant else ""
    for handler in (Inbox(), duck()):
        for made in (mm7.Receiver, RunningReceiver):  # (the fixture's too)
            with pytest.raises(TypeError) as err:
                made(handler)
            assert str(err.value) == (
                f"{type(handler).__qualname__}.{slip} would never be called{hint}: the receiver calls on_deliver, "
                "on_delivery_report and on_read_reply (one not overridden answers the MMSC success, the message "
                "lost); a method of your own is named without on_"), err.value

    class Fine(mm7.Handler):
        on_time = True  # (not a method: a setting of its own)

        def on_delivery_report(self, msg, ctx):
            return None

        def _on_report(self):  # (its own, named apart)
            return None

    mm7.Receiver(Fine())


def test_a_handler_failing_without_a_store_says_the_mmsc_sends_it_again(caplog):
    rx = mm7.Receiver()

    @rx.on("deliver")
    def broken(msg, ctx):
        raise RuntimeError("a bug")

    out = mm7.encode(mm7.DeliverReq(sender=mm7.Number("+8613800138000")), transaction_id="t1")
    with caplog.at_level("ERROR", logger="mm7bind.receiver"):
        assert rx.handle(out.to_bytes(), out.content_type).status == 500
    [said] = [r.getMessage() for r in caplog.records if r.name == "mm7bind.receiver"]
    assert said == "handler for DeliverReq tid=t1 failed; no store keeps it: the MMSC is asked to send it again"


def test_a_receiver_given_a_function_or_a_handler_class_says_what_it_takes():
    """`Receiver(my_function)` and `Receiver(MyHandler)` were taken, then failed on every message
    ("'function' object has no attribute 'on_deliver'", "on_deliver() missing ... 'ctx'")."""
    def on_mo(msg, ctx):
        return None

    with pytest.raises(TypeError) as err:
        mm7.Receiver(on_mo)
    assert str(err.value) == ("handler must be a Handler (on_deliver, on_delivery_report, on_read_reply), not "
                              "test_a_receiver_given_a_function_or_a_handler_class_says_what_it_takes.<locals>."
                              "on_mo: a function goes in receiver.on(\"deliver\", fn)")
    with pytest.raises(TypeError, match=r"^handler must be a Handler: Receiver\(Handler\(\)\), an instance, not"):
        mm7.Receiver(mm7.Handler)

    class OwnShape:  # (a handler of its own, not a Handler subclass: taken as ever)
        def on_deliver(self, msg, ctx):
            return None

    mm7.Receiver(OwnShape())
    mm7.Receiver(mm7.Handler())
