"""What a new user meets first — the commands' help, the simulator's control answers, a refusal's
words — says what it means."""

from __future__ import annotations

import json

from mm7bind.simulator import Simulator


def test_a_control_request_says_whether_a_field_is_missing_or_names_nothing_known():
    """`/control/resend` with a TransactionID never sent answered "missing or unknown nope", and
    `/control/deliver` without `from` "missing or unknown from": one wording for two mistakes."""
    sim = Simulator()  # (control() needs no server)
    assert sim.control("POST", "deliver", json.dumps({"text": "hi"}).encode()) == (400, {"error": "missing from"})
    status, body = sim.control("POST", "report", json.dumps({"recipient": "1"}).encode())
    assert (status, body["error"]) == (400, "missing message_id")
    for route in ("report", "read"):
        status, body = sim.control("POST", route, json.dumps({"message_id": "nope", "recipient": "1"}).encode())
        assert status == 400 and body["error"].startswith("no message 'nope'"), body
    status, body = sim.control("POST", "resend", json.dumps({"transaction_id": "never-sent"}).encode())
    assert status == 400 and body["error"].startswith(
        "no report, read reply or MO went out with TransactionID 'never-sent'"), body
