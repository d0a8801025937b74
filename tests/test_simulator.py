"""The MMSC simulator as a service provider's tests use it: reports, replacements, the control API."""

from __future__ import annotations

import json
import threading

import requests

import mm7bind as mm7
from mm7bind import messages as m
from mm7bind.simulator import Simulator
from mm7bind.testing import RecordingHandler, RunningReceiver


class HeldReports(RecordingHandler):
    """A VASP that answers a delivery report only when the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.release = threading.Event()

    def on_delivery_report(self, msg, ctx):
        self.arrived.set()
        self.release.wait(10)
        self._keep(msg, ctx)


def test_wait_idle_waits_for_a_report_still_on_its_way():
    handler = HeldReports()
    with Simulator(report_delay=0) as sim, RunningReceiver(handler) as rcv:
        sim.config.vasp_url = rcv.url
        with mm7.Client(sim.url) as client:
            client.submit(m.SubmitReq(recipients=["+8613800000000"], delivery_report=True))
        assert handler.arrived.wait(10)  # taken off the schedule, not answered yet
        assert not sim.wait_idle(timeout=0.3)
        handler.release.set()
        assert sim.wait_idle()
        assert [msg.ELEMENT for msg, ctx in rcv.received] == ["DeliveryReportReq"]


def test_an_extended_replace_is_reported_under_its_new_message_id_and_the_replaced_one_not_at_all():
    with Simulator(report_delay=0.2) as sim, RunningReceiver() as rcv:
        sim.config.vasp_url = rcv.url
        with mm7.Client(sim.url) as client:
            first = client.submit(m.SubmitReq(recipients=["+8613800000000", "+8613800000001"], delivery_report=True))
            second = client.send(m.ExtendedReplaceReq(replace_id=first.message_id, delivery_report=True))
        assert sim.wait_idle()
        assert sim.messages[first.message_id].state == "replaced"
        reports = sorted((msg.message_id, str(msg.recipient)) for msg, ctx in rcv.received)
        assert reports == [(second.message_id, "+8613800000000"), (second.message_id, "+8613800000001")]
        assert sim.messages[second.message_id].summary()["recipients"] == ["+8613800000000", "+8613800000001"]


def test_reset_forgets_messages_scheduled_reports_and_trouble_between_tests():
    with Simulator(report_delay=0.5) as sim, RunningReceiver() as rcv:
        sim.config.vasp_url = rcv.url
        with mm7.Client(sim.url) as client:
            first = client.submit(m.SubmitReq(recipients=["+8613800000000"], delivery_report=True))
            sim.fail_next(status=3001)
            answer = requests.post(sim.url.replace("/mm7", "/control/reset"), data=b"{}", timeout=5)
            assert answer.status_code == 200, answer.text
            assert json.loads(requests.get(sim.url.replace("/mm7", "/control/messages"), timeout=5).text) == []
            second = client.submit(m.SubmitReq(recipients=["+8613800000000"]))
        assert second.status.code == 1000 and second.attempts == 1
        assert second.message_id != first.message_id  # (MessageIDs are never given twice)
        assert sim.wait_idle()
        assert rcv.received == []
