"""Looking into the store and keeping it small: listing, reports about a sent message, purging
(records or only bodies), and the `mm7bind store` commands over a real file."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

import mm7bind as mm7
from mm7bind import holders
from mm7bind.cli import parse_when
from mm7bind.store import MemoryStore, SentRecord, SqliteStore

from .test_commands import run

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


class Keep(mm7.Handler):
    def __init__(self):
        self.calls = []

    def on_deliver(self, msg, ctx):
        self.calls.append(ctx.transaction_id)
        if msg.subject == "explode":
            raise RuntimeError("handler down")

    def on_delivery_report(self, msg, ctx):
        self.calls.append(ctx.transaction_id)

    def on_read_reply(self, msg, ctx):
        self.calls.append(ctx.transaction_id)


def post(receiver: mm7.Receiver, msg: mm7.Message, tid: str) -> int:
    out = mm7.encode(msg, transaction_id=tid)
    return receiver.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1").status


def report(mid: str, rcpt: str, status: str) -> mm7.DeliveryReportReq:
    return mm7.DeliveryReportReq(message_id=mid, recipient=rcpt, sender="1065888", date=NOW,
                                 mm_status=mm7.DeliveryStatus(status))


def fill(store) -> tuple[mm7.Receiver, Keep]:
    """Two sends, their reports, two MO messages (one its handler fails on)."""
    store.record_sent(SentRecord("s-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001", "+8613800000002"],
                                 message_id="M1", status_code=1000))
    store.record_sent(SentRecord("s-2", "SubmitReq", "REL-6-MM7-1-4", ["+86138000000011"], message_id="M2",
                                 status_code=1000))
    handler = Keep()
    rx = mm7.Receiver(handler, store=store)
    assert post(rx, report("M1", "+8613800000001", "Retrieved"), "r-1") == 200
    assert post(rx, report("M1", "+8613800000002", "Deferred"), "r-2") == 200
    assert post(rx, report("M1", "+8613800000002", "Retrieved"), "r-3") == 200
    assert post(rx, mm7.ReadReplyReq(message_id="M1", recipient="+8613800000001", sender="1065888", time_stamp=NOW,
                                     mm_status=mm7.ReadStatus.READ), "r-4") == 200
    assert post(rx, mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"], subject="你好"), "d-1") == 200
    assert post(rx, mm7.DeliverReq(sender="+8613900000000", subject="explode"), "d-2") == 500
    return rx, handler


def test_reports_about_a_sent_message_and_filters(store):
    fill(store)
    reports = store.reports_for("M1")
    assert [(r.kind, r.recipient, r.status) for r in reports] == [
        ("DeliveryReportReq", "+8613800000001", "Retrieved"), ("DeliveryReportReq", "+8613800000002", "Deferred"),
        ("DeliveryReportReq", "+8613800000002", "Retrieved"), ("ReadReplyReq", "+8613800000001", "Read")]
    assert all(r.sent_transaction_id == "s-1" for r in reports)
    assert store.reports_for("M2") == []
    # A recipient is matched whole, not as part of a longer number.
    assert [r.transaction_id for r in store.sent(recipient="+8613800000001")] == ["s-1"]
    assert [r.transaction_id for r in store.sent(recipient="+86138000000011")] == ["s-2"]
    assert store.sent(recipient="+861380000000") == []
    assert [r.transaction_id for r in store.sent(message_id="M2")] == ["s-2"]
    assert [r.transaction_id for r in store.sent(limit=1, newest_first=True)] == ["s-2"]
    assert [r.transaction_id for r in store.inbox(limit=2, newest_first=True)] == ["d-2", "d-1"]
    assert [r.transaction_id for r in store.inbox(kind="DeliverReq", state="failed")] == ["d-2"]
    assert len(store.inbox(since=datetime.now(timezone.utc) - timedelta(minutes=5))) == 6
    assert store.inbox(since=datetime.now(timezone.utc) + timedelta(minutes=5)) == []


def test_a_report_we_sent_has_no_reports_about_it(store):
    """An MMSC's report (a client sending with role="mmsc") is recorded with the recipient it is
    about: a report received about that MessageID and recipient, unmatched to a submit, was then
    listed under it by `store sent`, as if about it."""
    store.record_sent(SentRecord("dr-out", "DeliveryReportReq", "REL-6-MM7-1-4", ["+8613800000001"],
                                 message_id="M7", status_code=1000))
    rx = mm7.Receiver(mm7.Handler(), store=store)
    assert post(rx, report("M7", "+8613800000001", "Retrieved"), "dr-in") == 200
    assert [r.transaction_id for r in store.reports_for("M7")] == ["dr-in"]
    assert mm7.store.reports_about(store, store.sent_by_transaction_id("dr-out")) == []


def test_two_sends_given_one_message_id_each_get_their_own_reports(store):
    # A restarted MMSC counting its MessageIDs from 1 again (the simulator), or two MMSCs in
    # fail-over, give two of our messages one MessageID: the older's report, late, stays its own.
    store.record_sent(SentRecord("old", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001"], message_id="SIM1",
                                 status_code=1000, tag="spring"))
    store.record_sent(SentRecord("new", "SubmitReq", "REL-6-MM7-1-4", ["+8613700000001"], message_id="SIM1",
                                 status_code=1000, tag="summer"))
    rx = mm7.Receiver(mm7.Handler(), store=store)
    assert post(rx, report("SIM1", "+8613700000001", "Retrieved"), "r-new") == 200
    assert post(rx, report("SIM1", "+8613800000001", "Rejected"), "r-old") == 200
    assert [r.sent_transaction_id for r in store.reports_for("SIM1")] == ["new", "old"]
    assert [r.transaction_id for r in mm7.store.reports_about(store, store.sent_by_transaction_id("old"))] == ["r-old"]
    spring, summer = mm7.store.summarize(store, "spring"), mm7.store.summarize(store, "summer")
    assert (spring.recipients, spring.delivery, spring.awaiting) == (1, {"Rejected": 1}, 0)
    assert (summer.recipients, summer.delivery, summer.awaiting) == (1, {"Retrieved": 1}, 0)
    # The same recipient sent to again later under the reused MessageID: its report is a new one,
    # not a repeat of the first send's (which would be answered and dropped); a real repeat still is.
    store.record_sent(SentRecord("again", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001"], message_id="SIM1",
                                 status_code=1000, tag="autumn"))
    assert post(rx, report("SIM1", "+8613800000001", "Rejected"), "r-again") == 200
    assert post(rx, report("SIM1", "+8613800000001", "Rejected"), "r-again-repeat") == 200
    assert mm7.store.summarize(store, "autumn").delivery == {"Rejected": 1}
    assert [r.transaction_id for r in store.reports_for("SIM1")] == ["r-new", "r-old", "r-again"]


def test_a_report_writing_our_recipient_another_way_is_attributed_to_the_send_to_them(store):
    """Many MMSCs write a recipient back without its "+" ("8613800000001" for our "+8613800000001"):
    of two campaigns' sends given one MessageID, such a report went to the latest, the other's
    recipient left "no report yet"; and one that came before its send was recorded was listed under
    no send at all."""
    store.record_sent(SentRecord("spring-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001"], message_id="SIM1",
                                 status_code=1000, tag="spring"))
    store.record_sent(SentRecord("summer-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613700000001"], message_id="SIM1",
                                 status_code=1000, tag="summer"))
    rx = mm7.Receiver(mm7.Handler(), store=store)
    assert post(rx, report("SIM1", "8613800000001", "Retrieved"), "r-spring") == 200
    assert [r.sent_transaction_id for r in store.reports_for("SIM1")] == ["spring-1"]
    spring, summer = mm7.store.summarize(store, "spring"), mm7.store.summarize(store, "summer")
    assert (spring.delivery, spring.awaiting, summer.delivery, summer.awaiting) == ({"Retrieved": 1}, 0, {}, 1)
    # a report that came before its send was recorded (matched to none): listed under it all the same
    assert post(rx, report("SIM2", "8613900000001", "Retrieved"), "r-early") == 200
    store.record_sent(SentRecord("autumn-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613900000001"], message_id="SIM2",
                                 status_code=1000, tag="autumn"))
    assert [r.transaction_id for r in mm7.store.reports_about(store, store.sent_by_transaction_id("autumn-1"))] == [
        "r-early"]
    assert mm7.store.summarize(store, "autumn").delivery == {"Retrieved": 1}


def test_each_recipient_of_a_message_counts_once_whatever_its_reports_say(store):
    """A message to two recipients, one report each (by MM7): the first recipient's reports came
    written two ways ("8613800000001" and "+8613800000001", copies of one MMSC's nodes), and were
    counted as two recipients' — the second recipient's missing report said to have come; and a
    Deferred report arriving late, after the Retrieved one (its first copy's answer lost), undid the
    outcome. Read replies are tallied apart, the same way."""
    store.record_sent(SentRecord("s-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001", "+8613800000002"],
                                 message_id="M1", status_code=1000, tag="t", delivery_report=True))
    rx = mm7.Receiver(mm7.Handler(), store=store)
    assert post(rx, report("M1", "8613800000001", "Deferred"), "r-1") == 200
    assert post(rx, report("M1", "+8613800000001", "Retrieved"), "r-2") == 200
    assert post(rx, report("M1", "+8613800000001", "Deferred"), "r-3") == 200  # (r-1 again, from another node)
    for tid, status in (("rr-1", mm7.ReadStatus.READ), ("rr-2", mm7.ReadStatus.INDETERMINATE)):
        assert post(rx, mm7.ReadReplyReq(message_id="M1", recipient="8613800000001", sender="1065888",
                                         time_stamp=NOW, mm_status=status), tid) == 200
    assert len(store.reports_for("M1")) == 5 and {r.sent_transaction_id for r in store.reports_for("M1")} == {"s-1"}
    s = mm7.store.summarize(store, "t")
    assert (s.recipients, s.delivery, s.awaiting, s.read) == (2, {"Retrieved": 1}, 1, {"Read": 1})
    # The second recipient's report comes: both accounted for. A report of an MMSC's own spelling
    # (national) for a one-recipient message is that recipient's.
    assert post(rx, report("M1", "+8613800000002", "Rejected"), "r-4") == 200
    s = mm7.store.summarize(store, "t")
    assert (s.delivery, s.awaiting) == ({"Retrieved": 1, "Rejected": 1}, 0)
    store.record_sent(SentRecord("s-2", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000003"], message_id="M2",
                                 status_code=1000, tag="u", delivery_report=True))
    assert post(rx, report("M2", "13800000003", "Deferred"), "r-5") == 200
    assert post(rx, report("M2", "+8613800000003", "Expired"), "r-6") == 200
    s = mm7.store.summarize(store, "u")
    assert (s.delivery, s.awaiting) == ({"Expired": 1}, 0)


def test_a_report_that_came_before_its_send_was_recorded_is_linked_to_it_then(store):
    """The MMSC's report can come before the client has recorded the send (its record written after
    the answer; a campaign's, a quick Rejected): stored matched to none, and a copy of it sent again
    with another TransactionID after the record was written was keyed as a new report, stored and
    handed to the handler a second time."""
    handler = Keep()
    rx = mm7.Receiver(handler, store=store)
    assert post(rx, report("M5", "8613800000005", "Rejected"), "early") == 200
    assert post(rx, report("M5", "+8613900000009", "Retrieved"), "stranger") == 200  # (none of its recipients)
    assert [r.sent_transaction_id for r in store.reports_for("M5")] == [None, None]
    store.record_sent(SentRecord("s-5", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000005", "+8613800000006"],
                                 message_id="M5", status_code=1000, delivery_report=True))
    assert [(r.transaction_id, r.sent_transaction_id) for r in store.reports_for("M5")] == [
        ("early", "s-5"), ("stranger", None)]
    assert post(rx, report("M5", "8613800000005", "Rejected"), "early-again") == 200  # (a repeat: its answer)
    assert handler.calls == ["early", "stranger"]
    assert [r.transaction_id for r in mm7.store.reports_about(store, store.sent_by_transaction_id("s-5"))] == [
        "early"]
    # Another send given that MessageID later (a counter reset), to the same recipient: not its report.
    store.record_sent(SentRecord("s-6", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000005"], message_id="M5",
                                 status_code=1000))
    assert mm7.store.reports_about(store, store.sent_by_transaction_id("s-6")) == []
    assert post(rx, report("M5", "+8613800000005", "Rejected"), "its-own") == 200  # ... and its own one is new
    assert handler.calls == ["early", "stranger", "its-own"]


def test_store_sent_lists_under_each_send_only_its_own_reports(tmp_path):
    db, cfg = tmp_path / "vasp.db", tmp_path / "cfg.toml"
    store = SqliteStore(db)
    store.record_sent(SentRecord("old", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001"], message_id="SIM1",
                                 status_code=1000))
    rx = mm7.Receiver(mm7.Handler(), store=store)
    assert post(rx, report("SIM1", "+8613800000001", "Rejected"), "r-old") == 200
    store.record_sent(SentRecord("new", "SubmitReq", "REL-6-MM7-1-4", ["+8613700000001"], message_id="SIM1",
                                 status_code=1000))
    assert post(rx, report("SIM1", "+8613700000001", "Retrieved"), "r-new") == 200
    store.close()
    cfg.write_text(f'[store]\npath = "{db.as_posix()}"\n', encoding="utf-8")
    rows = json.loads(run("store", "sent", "--config", str(cfg), "--message-id", "SIM1", "--json").stdout)
    assert {row["transaction_id"]: [x["transaction_id"] for x in row["reports"]] for row in rows} == {
        "old": ["r-old"], "new": ["r-new"]}


def test_store_sent_lists_the_reports_under_the_try_they_are_about(tmp_path):
    """A request that timed out and went again with its TransactionID (the outbox, a resumed
    campaign): the try without a MessageID was listed with the accepted one's reports."""
    db, cfg = tmp_path / "vasp.db", tmp_path / "cfg.toml"
    store = SqliteStore(db)
    store.record_sent(SentRecord("tid-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001"],
                                 error="ReadTimeout: timed out"))
    store.record_sent(SentRecord("tid-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001"], message_id="M9",
                                 status_code=1000, attempts=2))
    assert post(mm7.Receiver(mm7.Handler(), store=store), report("M9", "+8613800000001", "Retrieved"), "r-9") == 200
    store.close()
    cfg.write_text(f'[store]\npath = "{db.as_posix()}"\n', encoding="utf-8")
    rows = json.loads(run("store", "sent", "--config", str(cfg), "--json").stdout)
    assert [(row.get("message_id"), [x["transaction_id"] for x in row["reports"]]) for row in rows] == [
        (None, []), ("M9", ["r-9"])]
    assert run("store", "sent", "--config", str(cfg)).stdout.count("delivery report") == 1


def test_store_sent_with_nothing_recorded_says_which_send_records(tmp_path):
    """A first `mm7bind send` (without --store) records nothing, and `store sent` said only "no sent
    records match", as if the store did not work: it names the option; a filter matching none, as before."""
    db, cfg = tmp_path / "vasp.db", tmp_path / "cfg.toml"
    SqliteStore(db).close()
    cfg.write_text(f'[store]\npath = "{db.as_posix()}"\n', encoding="utf-8")
    proc = run("store", "sent", "--config", str(cfg))
    assert proc.returncode == 0 and proc.stdout == "no sent records: mm7bind send records what it sends with " \
                                                    "--store (or --tag)\n", proc.stdout
    assert run("store", "sent", "--config", str(cfg), "--message-id", "M1").stdout == "no sent records match\n"


def test_store_sent_keeps_the_recipients_under_their_heading_past_24_character_message_ids(tmp_path):
    """The simulator's MessageIDs are 29 characters, many MMSCs' longer: the recipients were pushed
    out of their column."""
    db, cfg = tmp_path / "vasp.db", tmp_path / "cfg.toml"
    store = SqliteStore(db)
    store.record_sent(SentRecord("t-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001"],
                                 message_id="SIM2611270822385130580-000001", status_code=1000))
    store.record_sent(SentRecord("t-2", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000002"], message_id="M2",
                                 status_code=1000))
    store.close()
    cfg.write_text(f'[store]\npath = "{db.as_posix()}"\n', encoding="utf-8")
    head, *rows = run("store", "sent", "--config", str(cfg)).stdout.splitlines()
    column = head.index("RECIPIENTS")
    assert [row[column:] for row in rows] == ["+8613800000001", "+8613800000002"], [head, *rows]


def test_purge_keeps_what_is_still_owed_and_forgets_the_rest(store):
    rx, handler = fill(store)
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    assert store.purge(datetime.now(timezone.utc) - timedelta(days=1)) == mm7.store.Purged(0, 0, 0)  # too young
    counted = store.purge(later, dry_run=True)
    assert (counted.inbox, counted.sent) == (5, 2)
    assert len(store.inbox()) == 6 and len(store.sent()) == 2  # a dry run changes nothing
    with pytest.raises(ValueError, match="processing"):
        store.purge(later, states=("handled", "processing"))

    done = store.purge(later, sent=False)
    assert (done.inbox, done.sent) == (5, 0)
    [left] = store.inbox()
    assert (left.transaction_id, left.state) == ("d-2", "failed")  # waiting for replay: kept
    assert len(store.sent()) == 2
    assert store.purge(later, states=("failed",), sent=False).inbox == 1 and store.inbox() == []
    assert store.purge(later).sent == 2 and store.sent() == []
    # A repeat of a forgotten message is new again (hence: keep records longer than MMSCs retry).
    calls = len(handler.calls)
    assert post(rx, mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"], subject="你好"), "d-1") == 200
    assert len(handler.calls) == calls + 1
    assert store.inbox()[0].id > left.id  # ids are not reused


def test_purging_bodies_keeps_records_and_repeats_recognised(store):
    rx, handler = fill(store)
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    done = store.purge(later, bodies_only=True, sent=False)
    assert (done.inbox, done.bodies) == (0, 5)
    assert store.purge(later, bodies_only=True, sent=False).bodies == 0  # nothing left to drop
    records = {r.transaction_id: r for r in store.inbox()}
    assert len(records) == 6 and records["d-1"].body == b"" and records["d-2"].body != b""
    assert records["d-1"].state == "handled"
    calls = len(handler.calls)
    assert post(rx, mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"], subject="你好"), "d-1") == 200  # still a repeat
    assert len(handler.calls) == calls
    assert rx.replay(records["d-1"].id) == [(records["d-1"].id, "body purged")]
    assert store.inbox_get(records["d-1"].id).state == "handled"
    assert [r.recipient for r in store.reports_for("M1")][:1] == ["+8613800000001"]  # links kept


def test_purge_reads_naive_times_as_local_time(tmp_path):
    store = SqliteStore(tmp_path / "vasp.db")
    two_days_ago = datetime.now() - timedelta(days=2)  # naive: local time, as everywhere in mm7bind
    store.record_sent(SentRecord("s-old", "SubmitReq", "REL-6-MM7-1-4", ["1"], sent_at=two_days_ago))
    store.record_sent(SentRecord("s-new", "SubmitReq", "REL-6-MM7-1-4", ["1"]))
    assert store.sent()[0].sent_at == two_days_ago.astimezone()
    assert store.purge(datetime.now() - timedelta(days=1)).sent == 1
    assert [r.transaction_id for r in store.sent()] == ["s-new"]
    store.close()


def test_parse_when():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    assert parse_when("30d", now) == now - timedelta(days=30)
    assert parse_when("1.5h", now) == now - timedelta(minutes=90)
    assert parse_when("2W", now) == now - timedelta(weeks=2)
    assert parse_when("2026-10-01T08:00+08:00") == datetime(2026, 10, 1, tzinfo=timezone.utc)
    assert parse_when("2026-10-01") == datetime(2026, 10, 1).astimezone()
    for bad in ("-5d", "soon", "nand", "infd", ""):
        with pytest.raises(ValueError, match="neither an age"):
            parse_when(bad, now)
    # Out of range (as ages, or once in UTC, which the store compares): a ValueError, which
    # argparse says in one line, not an OverflowError's traceback.
    for far in ("9999999d", "1e10d", "1e300w", "0001-01-01T00:00+08:00", "9999-12-31T23:00-05:00"):
        with pytest.raises(ValueError, match="out of the range"):
            parse_when(far, now)


def test_store_commands(tmp_path):
    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    rx, _ = fill(store)
    # What a peer wrote reaches the terminal defused: no forged rows, no direction overrides.
    assert post(rx, mm7.DeliverReq(sender="+8613900000000", subject="hi\n    99  forged\u202e"), "d-3") == 200
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")

    proc = run("store", "inbox", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "RECEIVED", "KIND"] and len(lines) == 9
    # Why the failed one failed, under its line, as --json and store sent say it
    failed_at = next(i for i, line in enumerate(lines) if " failed " in line)
    assert lines[failed_at + 1].strip() == "RuntimeError: handler down"
    assert lines[-1].endswith("→ ?: hi\\n    99  forged\\u202e")
    assert "+8613900000000 → 1065888: 你好" in proc.stdout and "M1 +8613800000002: Deferred" in proc.stdout
    proc = run("store", "inbox", "--config", str(cfg), "--state", "failed", "--json")
    [failed] = json.loads(proc.stdout)
    assert failed["transaction_id"] == "d-2" and "handler down" in failed["error"] and "body" not in failed
    replies = run("store", "inbox", "--config", str(cfg), "--kind", "read-reply", "--limit", "5").stdout
    assert replies.count("ReadReplyReq") == 1
    assert run("store", "inbox", "--config", str(cfg), "--kind", "ReadReplyReq").stdout == replies
    proc = run("store", "inbox", "--config", str(cfg), "--kind", "read-replies")  # a typo, not "none match"
    assert proc.returncode == 2 and "none of deliver, delivery-report, read-reply" in proc.stderr, proc.stderr

    proc = run("store", "sent", "--config", str(cfg), "--message-id", "M1")
    assert proc.returncode == 0, proc.stderr
    assert "SubmitReq" in proc.stdout and "+8613800000001, +8613800000002" in proc.stdout
    assert proc.stdout.count("delivery report") == 3 and "read reply" in proc.stdout
    [sent] = json.loads(run("store", "sent", "--config", str(cfg), "--to", "+86138000000011", "--json").stdout)
    assert sent["message_id"] == "M2" and sent["reports"] == []

    mo_id = failed["id"] - 1
    assert failed["id"] == 6
    proc = run("store", "show", str(mo_id), "--config", str(cfg), "--raw", str(tmp_path / "mo.http"),
               "--extract", str(tmp_path / "parts"))
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["record"]["transaction_id"] == "d-1" and shown["message"]["fields"]["subject"] == "你好"
    again = json.loads(run("inspect", str(tmp_path / "mo.http")).stdout)  # the raw copy reads back the same
    assert again["transaction_id"] == "d-1" and again["fields"] == shown["message"]["fields"]
    assert run("store", "show", "999", "--config", str(cfg)).returncode == 2

    proc = run("store", "purge", "--config", str(cfg), "--older-than", "0s", "--dry-run")
    assert proc.returncode == 0 and proc.stdout.startswith("would remove 6 received records and 2 sent records")
    proc = run("store", "purge", "--config", str(cfg), "--older-than", "0s", "--bodies-only")
    assert proc.stdout.startswith("removed 6 bodies and their headers (every record kept)"), proc.stdout + proc.stderr
    assert "(body purged)" in run("store", "inbox", "--config", str(cfg)).stdout
    proc = run("store", "show", str(mo_id), "--config", str(cfg), "--raw", str(tmp_path / "gone.http"))
    assert proc.returncode == 1 and "was purged: nothing to write" in proc.stderr, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["message"] is None and not (tmp_path / "gone.http").exists()
    proc = run("store", "purge", "--config", str(cfg), "--older-than", "0s", "--include-failed", "--vacuum")
    assert proc.stdout.startswith("removed 7 received records and 2 sent records"), proc.stdout + proc.stderr
    assert run("store", "inbox", "--config", str(cfg)).stdout.strip() == "no stored messages match"
    assert run("store", "purge", "--config", str(cfg), "--older-than", "later").returncode == 2
    (tmp_path / "none.toml").write_text(f'[store]\npath = "{tmp_path / "absent.db"}"\n', encoding="utf-8")
    proc = run("store", "inbox", "--config", str(tmp_path / "none.toml"))
    assert proc.returncode == 2 and "no store at" in proc.stderr
    assert not (tmp_path / "absent.db").exists()  # looking does not create one


def test_retention_schedule(tmp_path):
    from mm7bind.config import ConfigError, load_checked
    from mm7bind.store import Retention

    cfg_file = tmp_path / "cfg.toml"
    cfg_file.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\nkeep_days = 30\nkeep_bodies_days = 7\n')
    cfg = load_checked(str(cfg_file))
    store = cfg.open_store()
    fill(store)
    retention = cfg.retention(store)
    assert (retention.keep, retention.keep_bodies) == (timedelta(days=30), timedelta(days=7))
    now = datetime.now(timezone.utc)
    assert retention.run_once(now) == mm7.store.Purged(0, 0, 0)
    assert retention.run_once(now + timedelta(days=8)) == mm7.store.Purged(0, 5, 0)  # bodies only
    assert len(store.inbox()) == 6
    assert retention.run_once(now + timedelta(days=31)) == mm7.store.Purged(5, 0, 2)
    [failed] = store.inbox()
    assert failed.state == "failed" and failed.body  # waits for replay, whatever its age

    ticks = []
    background = Retention(store, keep=timedelta(0), every=0.05)
    background.run_once = lambda: ticks.append(1) or mm7.store.Purged()
    background.start()
    deadline = time.monotonic() + 30
    while len(ticks) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    background.stop()
    assert len(ticks) >= 3 and not background._thread.is_alive()
    store.close()
    with pytest.raises(ValueError, match="nothing to purge"):
        Retention(store)

    assert load_checked(str(cfg_file)).retention(None) is not None
    cfg_file.write_text('[store]\nkeep_days = -1\n')
    with pytest.raises(ConfigError) as info:
        load_checked(str(cfg_file))
    assert any("store.keep_days" in str(p) for p in info.value.problems)
    cfg_file.write_text("[store]\n")
    assert load_checked(str(cfg_file)).retention(None) is None


def test_purge_works_in_batches_so_accepts_are_not_held_up(tmp_path, monkeypatch):
    store = SqliteStore(tmp_path / "vasp.db")
    monkeypatch.setattr(SqliteStore, "PURGE_BATCH", 7)
    rx = mm7.Receiver(Keep(), store=store)
    for i in range(30):
        assert post(rx, mm7.DeliverReq(sender="1", subject=str(i)), f"b-{i}") == 200
        store.record_sent(SentRecord(f"s-{i}", "SubmitReq", "REL-6-MM7-1-4", ["1"]))
    commits = []
    real = store._in_batches
    monkeypatch.setattr(store, "_in_batches", lambda *a, **kw: commits.append(real(*a, **kw)) or commits[-1])
    statements = []
    store._conn().set_trace_callback(statements.append)
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    assert store.purge(later, bodies_only=True) == mm7.store.Purged(0, 30, 0)
    assert statements.count("COMMIT") == 5  # 30 rows in batches of 7: five transactions
    assert store.purge(later) == mm7.store.Purged(30, 0, 30)
    assert statements.count("COMMIT") == 17  # five each for the records and the sent ones (+1 each: outbox and
    # send claims, none)
    assert commits == [30, 30, 30, 0, 0] and store.inbox() == [] and store.sent() == []
    store.close()


# -- tags: campaigns that can be resumed and summed up ----------------------------------------


def test_a_tagged_bulk_send_resumes_without_sending_anyone_twice(tmp_path):
    from mm7bind.bulk import send_bulk
    from mm7bind.simulator import Simulator, SimulatorConfig
    from mm7bind.store import summarize

    store = SqliteStore(tmp_path / "vasp.db")
    numbers = [f"+86138000000{i:02d}" for i in range(12)]
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        template = mm7.SubmitReq(subject="新年快乐", delivery_report=True)
        sim.fail_next(3, status=3000)  # the first three are refused (for a while: sent again on resuming)
        first = send_bulk(client, template, numbers + [n + " " for n in numbers[:2]], concurrency=1, tag="newyear")
        assert (first.sent, first.failed, first.skipped, first.repeated) == (9, 3, 0, 2)
        again = send_bulk(client, template, [" " + n for n in numbers], concurrency=3, tag="newyear")  # started again
        assert (again.total, again.sent, again.failed, again.skipped) == (3, 3, 0, 9)
        assert len(sim.messages) == 12  # nobody got it twice
        other = send_bulk(client, template, numbers[:2], tag="spring")  # another tag is another campaign
        assert (other.sent, other.skipped) == (2, 0)
        client.close()
    assert len(store.sent(tag="newyear")) == 15 and {r.tag for r in store.sent()} == {"newyear", "spring"}

    rx = mm7.Receiver(mm7.Handler(), store=store)
    accepted = [r for r in store.sent(tag="newyear") if r.ok]
    for i, rec in enumerate(accepted[:5]):  # reports come back for five of them; one Deferred, then Retrieved
        status = "Rejected" if i == 4 else "Retrieved"
        if i == 0:
            assert post(rx, report(rec.message_id, rec.recipients[0], "Deferred"), f"d-{i}") == 200
        assert post(rx, report(rec.message_id, rec.recipients[0], status), f"r-{i}") == 200
    assert post(rx, mm7.ReadReplyReq(message_id=accepted[0].message_id, recipient=accepted[0].recipients[0],
                                     sender="1065888", time_stamp=NOW, mm_status=mm7.ReadStatus.READ), "rr") == 200
    s = summarize(store, "newyear")
    # The three refused at first and accepted on resuming count once, as they ended.
    assert (s.requests, s.accepted, s.refused, s.failed, s.recipients) == (12, 12, 0, 0, 12)
    assert s.delivery == {"Retrieved": 4, "Rejected": 1} and s.awaiting == 7 and s.read == {"Read": 1}
    assert summarize(store, "nothing") == mm7.store.TagSummary("nothing")
    store.close()

    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    proc = run("store", "sent", "--config", str(cfg), "--tag", "newyear", "--summary")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "tag newyear: 12 SubmitReq: 12 accepted, 0 refused, 0 without answer",
        "12 recipients: Retrieved 4, Rejected 1, no report yet 7",
        "read replies: Read 1"]
    assert json.loads(run("store", "sent", "--config", str(cfg), "--tag", "spring", "--summary", "--json").stdout
                      )["accepted"] == 2
    assert run("store", "sent", "--config", str(cfg), "--tag", "spring").stdout.count("SubmitReq") == 2
    assert run("store", "sent", "--config", str(cfg), "--summary").returncode == 2  # (which tag?)
    for narrowing in (["--since", "1d"], ["--to", "+8613800000001"], ["--message-id", "M1"]):
        proc = run("store", "sent", "--config", str(cfg), "--tag", "newyear", "--summary", *narrowing)
        assert proc.returncode == 2 and f"{narrowing[0]} would not narrow it" in proc.stderr, proc.stderr


def test_recipients_of_messages_that_asked_for_no_report_are_not_counted_as_awaiting_one(tmp_path):
    """A campaign's summary counted "no report yet" for the recipients of messages sent without
    asking for delivery reports (DeliveryReport false or absent), which never come: the store did
    not keep whether a report was asked."""
    from mm7bind.simulator import Simulator, SimulatorConfig

    db, cfg = tmp_path / "vasp.db", tmp_path / "cfg.toml"
    store = SqliteStore(db)
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        client.submit(mm7.SubmitReq(recipients=["+8613800000001", "+8613800000002"], delivery_report=True), tag="t")
        client.submit(mm7.SubmitReq(recipients=["+8613800000003"], delivery_report=False), tag="t")
        client.submit(mm7.SubmitReq(recipients=["+8613800000004", "+8613800000005"]), tag="t")  # (absent: none)
        client.send(mm7.CancelReq(message_id=store.sent(tag="t")[0].message_id), tag="t")
        client.close()
    assert [(r.operation, r.delivery_report) for r in store.sent(tag="t")] == [
        ("SubmitReq", True), ("SubmitReq", False), ("SubmitReq", False), ("CancelReq", None)]
    asked, _, unasked = store.sent(tag="t")[:3]
    rx = mm7.Receiver(mm7.Handler(), store=store)
    assert post(rx, report(asked.message_id, "+8613800000001", "Retrieved"), "r-1") == 200
    assert post(rx, report(unasked.message_id, "+8613800000004", "Retrieved"), "r-4") == 200  # (an MMSC's own way)
    s = mm7.store.summarize(store, "t")
    assert (s.recipients, s.delivery, s.awaiting, s.not_asked) == (5, {"Retrieved": 2}, 1, 2)
    store.close()

    cfg.write_text(f'[store]\npath = "{db.as_posix()}"\n', encoding="utf-8")
    assert run("store", "sent", "--config", str(cfg), "--tag", "t", "--summary").stdout.splitlines()[1] == (
        "5 recipients: Retrieved 2, no report yet 1, no report asked 2")
    assert json.loads(run("store", "sent", "--config", str(cfg), "--tag", "t", "--summary", "--json").stdout
                      )["not_asked"] == 2
    listing = run("store", "sent", "--config", str(cfg), "--tag", "t").stdout.splitlines()
    said = [line.strip() for line in listing if line.strip().startswith("no report")]
    assert said == ["no report yet for 1 of 2 recipients", "no report asked", "no report asked"], listing
    rows = json.loads(run("store", "sent", "--config", str(cfg), "--tag", "t", "--json").stdout)
    assert [row["delivery_report"] for row in rows] == [True, False, False, None]


def test_a_store_file_from_before_report_flags_were_kept_still_works(tmp_path):
    """Its sent records say nothing of a report asked (None): they count as awaiting their reports,
    as they did; the file takes records that say, read-only too before it is upgraded."""
    import sqlite3

    SqliteStore(tmp_path / "older.db").close()
    old = sqlite3.connect(tmp_path / "older.db")  # as the release before left a file: no delivery_report
    old.execute("ALTER TABLE sent DROP COLUMN delivery_report")
    old.execute("INSERT INTO sent (transaction_id, operation, version, recipients, message_id, sent_at, status_code,"
                " attempts, tag) VALUES ('t-old', 'SubmitReq', 'REL-6-MM7-1-4', '[\"1\", \"2\"]', 'M-old',"
                " '2026-01-01T00:00:00+00:00', 1000, 1, 'c')")
    old.commit()
    old.close()
    seen = SqliteStore(tmp_path / "older.db", read_only=True)  # (not upgraded: the column is not there)
    assert [(r.transaction_id, r.delivery_report) for r in seen.sent()] == [("t-old", None)]
    assert mm7.store.summarize(seen, "c").awaiting == 2
    seen.close()
    store = SqliteStore(tmp_path / "older.db")
    store.record_sent(SentRecord("t-new", "SubmitReq", "REL-6-MM7-1-4", ["3"], message_id="M-new", status_code=1000,
                                 tag="c", delivery_report=False))
    assert [(r.transaction_id, r.delivery_report) for r in store.sent()] == [("t-old", None), ("t-new", False)]
    s = mm7.store.summarize(store, "c")
    assert (s.recipients, s.awaiting, s.not_asked) == (3, 2, 1)
    store.close()
    store = SqliteStore(tmp_path / "older.db")  # opened again: as it was
    assert [r.delivery_report for r in store.sent()] == [None, False]
    store.close()


def test_files_from_before_tags_are_upgraded_in_place(tmp_path):
    import sqlite3

    old = sqlite3.connect(tmp_path / "older.db")  # the sent table as files before tags have it
    old.execute("CREATE TABLE sent (id INTEGER PRIMARY KEY AUTOINCREMENT, transaction_id TEXT NOT NULL,"
                " operation TEXT NOT NULL, version TEXT NOT NULL, recipients TEXT NOT NULL, message_id TEXT,"
                " url TEXT, sent_at TEXT NOT NULL, status_code INTEGER, status_text TEXT, error TEXT,"
                " attempts INTEGER NOT NULL, linked_id TEXT)")
    old.execute("INSERT INTO sent (transaction_id, operation, version, recipients, sent_at, attempts)"
                " VALUES ('t-old', 'SubmitReq', 'REL-6-MM7-1-4', '[\"1\"]', '2026-01-01T00:00:00+00:00', 1)")
    old.commit()
    old.close()
    store = SqliteStore(tmp_path / "older.db")
    store.record_sent(SentRecord("t-new", "SubmitReq", "REL-6-MM7-1-4", ["2"], tag="x", outbox_item=7))
    assert [(r.transaction_id, r.tag, r.outbox_item) for r in store.sent()] == [
        ("t-old", None, None), ("t-new", "x", 7)]  # (a record from before items were named: none)
    assert [r.transaction_id for r in store.sent(tag="x")] == ["t-new"]
    store.close()
    SqliteStore(tmp_path / "older.db").close()  # opening an upgraded file again changes nothing


def test_purging_while_messages_arrive_loses_nothing_it_should_keep(tmp_path):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    store = SqliteStore(tmp_path / "vasp.db", durability="process")

    class Flaky(mm7.Handler):
        def on_deliver(self, msg, ctx):
            if msg.subject.endswith("7"):
                raise RuntimeError("every tenth fails")

    rx = mm7.Receiver(Flaky(), store=store)
    purged, stop = [], threading.Event()

    def purger():
        while not stop.is_set():
            purged.append(store.purge(datetime.now(timezone.utc) + timedelta(seconds=1), sent=False).inbox)

    with ThreadPoolExecutor(5) as pool:
        cleaner = pool.submit(purger)
        statuses = list(pool.map(lambda i: post(rx, mm7.DeliverReq(sender="1", subject=f"m{i}"), f"c-{i}"),
                                 range(300)))
        stop.set()
        cleaner.result()
    assert statuses.count(200) == 270 and statuses.count(500) == 30
    left = store.inbox()
    assert sorted(r.transaction_id for r in left if r.state == "failed") == sorted(
        f"c-{i}" for i in range(300) if str(i).endswith("7"))  # every failed one kept for replay
    assert sum(purged) + len([r for r in left if r.state == "handled"]) == 270  # the rest: purged or still there
    assert not [r for r in left if r.state == "processing"]
    store.close()


def test_purge_forgets_sent_outbox_items_and_failed_ones_only_when_asked(store):
    """Failed and expired items are what `store requeue` puts back: kept as failed messages are
    (for replay), unless the states purged hold "failed" (`store purge --include-failed`)."""
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    now = datetime.now(timezone.utc)
    items = store.outbox_put_many([
        {"transaction_id": f"o-{i}", "tag": None, "content_type": "text/xml", "body": b"<x/>", "due": now,
         "expires_at": now + timedelta(days=1), "recipients": [str(i)]} for i in range(4)])
    for item, state in zip(items, ("sent", "failed", "expired"), strict=False):
        store.outbox_update(item.id, state, attempts=1)
    assert store.purge(later, dry_run=True).outbox == 1 and len(store.outbox()) == 4
    assert store.purge(later, sent=False).outbox == 0
    assert store.purge(later).outbox == 1
    assert [(i.transaction_id, i.state) for i in store.outbox()] == [
        ("o-1", "failed"), ("o-2", "expired"), ("o-3", "queued")]
    assert store.purge(later, states=("handled", "rejected", "failed"), dry_run=True).outbox == 2
    assert store.purge(later, states=("handled", "rejected", "failed")).outbox == 2
    assert [(i.transaction_id, i.state) for i in store.outbox()] == [("o-3", "queued")]


def test_purging_bodies_deletes_no_record_whatever_sent_says(store):
    """Bodies only means bytes only: the sent records (what a resumed campaign skips, what late
    reports are matched to) and finished outbox items stay, even with `sent` left at True."""
    fill(store)
    store.record_sent(SentRecord("c-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000009"], message_id="M9",
                                 status_code=1000, tag="newyear"))
    now = datetime.now(timezone.utc)
    [item] = store.outbox_put_many([{"transaction_id": "o-1", "tag": None, "content_type": "text/xml",
                                     "body": b"<x/>", "due": now, "expires_at": now + timedelta(days=1),
                                     "recipients": ["1"]}])
    store.outbox_update(item.id, "sent", attempts=1)
    later = now + timedelta(seconds=1)
    assert store.purge(later, bodies_only=True, dry_run=True) == mm7.store.Purged(bodies=5)
    assert store.purge(later, bodies_only=True) == mm7.store.Purged(bodies=5)
    assert len(store.sent()) == 3 and len(store.outbox()) == 1 and len(store.inbox()) == 6
    assert mm7.store.summarize(store, "newyear").accepted == 1  # a resumed run still skips who has it
    assert store.reports_for("M1")[0].sent_transaction_id == "s-1"
    store.vacuum()  # both stores have it (an in-memory one has nothing to give back)


def test_the_memory_store_answers_every_method_of_the_sqlite_store():
    """The README lists one set of methods for both: code written against one runs on the other."""
    def methods(cls):
        return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}

    assert methods(SqliteStore) - methods(MemoryStore) == {"extra_schema"}  # (how the file is laid out)


def test_a_negative_limit_is_refused_by_every_listing(store):
    fill(store)
    for listing in (store.inbox, store.sent, store.outbox):
        with pytest.raises(ValueError, match="cannot be negative"):
            listing(limit=-1)
    assert len(store.inbox(limit=0)) == 0 and len(store.inbox(limit=None)) == 6
    assert run("store", "inbox", "--limit", "0").returncode == 2  # (argparse: a positive number)


def test_the_saving_handler_keeps_peer_text_in_its_place(tmp_path, caplog):
    from mm7bind.handlers import SavingHandler

    rx = mm7.Receiver(SavingHandler(tmp_path / "out"), store=MemoryStore())
    msg = mm7.DeliverReq(sender="+8613900000000\nDeliverReq from forged", subject="s",
                         content=mm7.Content(parts=[mm7.Part.text("x", filename="../../escape.txt")]))
    with caplog.at_level("INFO", logger="mm7bind.serve"):
        assert post(rx, msg, "../../../tid") == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "mm7bind.serve"]
    assert len(lines) == 1 and "\n" not in lines[0] and "\\nDeliverReq from forged" in lines[0]  # the break shown
    saved = [p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert "DeliverReq/000001-tid/message.json" in saved and "DeliverReq/000001-tid/02-escape.txt" in saved
    assert all(name.startswith("DeliverReq/000001-tid/") for name in saved)
    assert not (tmp_path / "escape.txt").exists()


def test_what_a_message_left_out_is_said_as_missing_not_as_none_or_nothing(tmp_path):
    """Tolerant in: a DeliverReq without recipients or sender, a report without its MessageID,
    recipient or status are taken. The saving handler's line said "to :", "from None" and
    "DeliveryReportReq None for None: None"; `store inbox` said "None" for a report's MessageID."""
    import re

    from mm7bind.cli import _what
    from mm7bind.handlers import SavingHandler

    from .test_receiver import read_reply
    from .test_receiver import report as full_report

    def without(msg: mm7.Message, tid: str, *elements: str) -> int:
        out = mm7.encode(msg, transaction_id=tid, version="REL-6-MM7-1-4")
        body = out.to_bytes()
        for name in elements:
            body = re.sub(rf"<{name}>.*?</{name}>".encode(), b"", body, flags=re.DOTALL)
        return rx.handle(body, out.content_type, {}, "127.0.0.1").status

    lines: list[str] = []
    store = MemoryStore()
    rx = mm7.Receiver(SavingHandler(tmp_path / "out", echo=lines.append), store=store)
    assert post(rx, mm7.DeliverReq(sender="+8613900000000", subject="s"), "no-to") == 200
    assert without(mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"]), "no-from", "Sender") == 200
    assert without(full_report(), "no-report-fields", "MessageID", "Recipient", "MMStatus") == 200
    assert without(read_reply(), "no-reply-fields", "MessageID", "Recipient", "MMStatus") == 200
    said = [line.split(" → ")[0] for line in lines]
    assert said == ["DeliverReq from +8613900000000 to (no recipients): 's', 0 part(s)",
                    "DeliverReq from (no sender) to 1065888: (no subject), 0 part(s)",
                    "DeliveryReportReq (no MessageID) for (no recipient): (no MMStatus)",
                    "ReadReplyReq (no MessageID) for (no recipient): (no MMStatus)"]
    assert [_what(r) for r in store.inbox()[2:]] == ["? ?: ?", "? ?: ?"]


def test_purge_takes_an_age_too(store):
    assert post(mm7.Receiver(store=store), mm7.DeliverReq(sender="+8613900000000"), "age-1") == 200
    assert store.purge(timedelta(days=1)).inbox == 0  # a minute old, not a day
    time.sleep(0.01)
    assert store.purge(timedelta(0)).inbox == 1
    with pytest.raises(TypeError, match="datetime or a timedelta"):
        store.purge(30)


def test_long_chinese_names_are_cut_to_what_a_file_system_takes(tmp_path):
    from mm7bind.handlers import SavingHandler

    rx = mm7.Receiver(SavingHandler(tmp_path / "out", echo=lambda line: None), store=MemoryStore())
    msg = mm7.DeliverReq(sender="+8613900000000", content=mm7.Content(
        parts=[mm7.Part.text("x", filename="中" * 120 + ".txt")]))
    assert post(rx, msg, "号" * 100) == 200  # (both went past 255 bytes: the message failed for good)
    names = [p.name for p in (tmp_path / "out").rglob("*")]
    assert all(len(n.encode()) <= 255 for n in names) and any(n.endswith(".txt") for n in names)


def test_a_progress_callback_that_fails_does_not_end_the_campaign(tmp_path, caplog):
    """A progress display that breaks (a closed stderr, say) is said, and the sending goes on: the
    campaign is not left half-done with its counts lost."""
    from mm7bind.bulk import send_bulk
    from mm7bind.simulator import Simulator, SimulatorConfig

    calls = []

    def progress(result):
        calls.append(result.sent)
        raise BrokenPipeError(32, "Broken pipe")

    numbers = [f"+86138000000{i:02d}" for i in range(6)]
    with Simulator(SimulatorConfig()) as sim, mm7.Client(sim.url, retry=mm7.RetryPolicy.never()) as client:
        result = send_bulk(client, mm7.SubmitReq(subject="s"), numbers, concurrency=2, progress=progress)
        assert (result.sent, result.failed, result.interrupted) == (6, 0, False) and len(sim.messages) == 6
    assert len(calls) == 1  # not called again once it failed
    assert "progress callback failed" in caplog.text


def test_a_request_that_timed_out_in_a_campaign_goes_again_with_its_transaction_id(tmp_path):
    """No answer in time: the MMSC may have taken it. On resuming it goes again under the same
    TransactionID (an MMSC can tell the repeat); one the MMSC refused goes under a new one."""
    from mm7bind.bulk import send_bulk

    from .fake_http import FakeServer, Reply, default_responder, mm7_reply, times_out_once

    seen: dict[str, int] = {}
    gave_up = threading.Event()

    def mmsc(req):
        rcpt = str(req.decode().body.recipients.to[0])
        seen[rcpt] = seen.get(rcpt, 0) + 1
        if seen[rcpt] == 1 and rcpt == "+8613800000001":  # answered after the client gave up
            reply = default_responder(req)
            return Reply(reply.status, reply.body, reply.headers, hold=gave_up)
        if seen[rcpt] == 1 and rcpt == "+8613800000002":
            return mm7_reply(mm7.SubmitRsp(message_id="-", status=mm7.Status(4006, "busy")), req.decode())
        return default_responder(req)

    numbers = ["+8613800000000", "+8613800000001", "+8613800000002"]
    with FakeServer(mmsc) as server:
        with mm7.Client(server.url, store=SqliteStore(tmp_path / "vasp.db"), retry=mm7.RetryPolicy.never()) as client:
            times_out_once(client, gave_up, body_has=b"+8613800000001")
            first = send_bulk(client, mm7.SubmitReq(subject="s"), numbers, concurrency=1, tag="c")
            assert (first.sent, first.failed) == (1, 2)
            # The refusal is a failure; the timeout may have arrived: said apart, so that it is not
            # sent again by other means as if it had failed.
            assert first.may_have_arrived == 1
            s = mm7.store.summarize(client.core.store, "c")
            assert (s.requests, s.accepted, s.refused, s.failed, s.may_have_arrived) == (3, 1, 1, 1, 1)
            resumed = send_bulk(client, mm7.SubmitReq(subject="s"), numbers, concurrency=1, tag="c")
            assert (resumed.sent, resumed.skipped, resumed.may_have_arrived) == (2, 1, 0)
            assert mm7.store.summarize(client.core.store, "c").may_have_arrived == 0
        tids: dict[str, list[str]] = {}
        for req in server.requests:
            env = req.decode()
            tids.setdefault(str(env.body.recipients.to[0]), []).append(env.transaction_id)
    assert len(tids["+8613800000001"]) == 2 and len(set(tids["+8613800000001"])) == 1  # the same: a repeat
    assert len(tids["+8613800000002"]) == 2 and len(set(tids["+8613800000002"])) == 2  # refused: a new request


def test_a_request_in_flight_when_a_campaign_died_goes_again_with_its_transaction_id(tmp_path):
    from mm7bind.bulk import send_bulk
    from mm7bind.simulator import Simulator, SimulatorConfig

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()

    class Crashing(SqliteStore):  # the process dies after the MMSC took "+86...01", before recording it
        def record_sent(self, rec):
            if rec.recipients != ["+8613800000001"]:
                super().record_sent(rec)
                self.recorded = True
            else:
                self.recorded = False

        def send_claim(self, claim, stale):  # (its claims: a process that is gone by the resume)
            as_gone = dataclasses.replace(claim, holder=claim.holder.replace(f":{os.getpid()}:", f":{gone}:", 1))
            got = super().send_claim(as_gone, stale)
            return claim if got is as_gone else got

        def send_done(self, transaction_id, holder, accepted):
            if self.recorded:  # (nothing happened after the request in flight)
                super().send_done(transaction_id, holder.replace(f":{os.getpid()}:", f":{gone}:", 1), accepted)

    numbers = ["+8613800000000", "+8613800000001", "+8613800000002"]
    with Simulator(SimulatorConfig()) as sim:
        sim.fail_next(1, status=3000)  # the first is refused for a while (and recorded)
        first = mm7.Client(sim.url, store=Crashing(tmp_path / "vasp.db"), retry=mm7.RetryPolicy.never())
        send_bulk(first, mm7.SubmitReq(subject="s"), numbers, concurrency=1, tag="c")
        first.close()
        again = mm7.Client(sim.url, store=SqliteStore(tmp_path / "vasp.db"), retry=mm7.RetryPolicy.never())
        resumed = send_bulk(again, mm7.SubmitReq(subject="s"), numbers, concurrency=1, tag="c")
        again.close()
        assert (resumed.sent, resumed.skipped) == (2, 1)
        tids: dict[str, list[str]] = {}
        for stored in sim.messages.values():
            tids.setdefault(str(stored.request.recipients.to[0]), []).append(stored.transaction_id)
    unrecorded = tids["+8613800000001"]
    assert len(unrecorded) == 2 and unrecorded[0] == unrecorded[1]  # the MMSC can tell it is a repeat
    assert len(tids["+8613800000000"]) == 1 and len(tids["+8613800000002"]) == 1  # (the refused one: not stored)


def test_a_file_from_before_send_claims_is_upgraded_in_place(tmp_path):
    """An outbox without fingerprints, and no send_claim table: both are added on opening, and the
    items queued before keep going."""
    import sqlite3

    from mm7bind.store import SendClaim, utcnow

    store = SqliteStore(tmp_path / "older.db")
    store.close()
    old = sqlite3.connect(tmp_path / "older.db")  # as files before send claims have it
    old.execute("DROP TABLE send_claim")
    old.execute("ALTER TABLE outbox DROP COLUMN fingerprint")
    old.execute("INSERT INTO outbox (transaction_id, content_type, body, created_at, next_at, expires_at, state)"
                " VALUES ('t-old', 'text/xml', x'00', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00',"
                " '2999-01-01T00:00:00+00:00', 'queued')")
    old.commit()
    old.close()
    store = SqliteStore(tmp_path / "older.db")
    [item] = store.outbox()
    assert (item.transaction_id, item.fingerprint) == ("t-old", None)
    mine = SendClaim("t-new", "h:1:x", utcnow())
    assert store.send_claim(mine, lambda c: False) is mine
    store.close()
    SqliteStore(tmp_path / "older.db").close()  # opening an upgraded file again changes nothing


def test_a_file_from_the_outboxs_first_days_is_upgraded_in_place(tmp_path):
    """Items without expires_at and recipients (the outbox's first schema): listing them ended in
    an IndexError, queueing another in "no column named expires_at"."""
    import sqlite3

    store = SqliteStore(tmp_path / "older.db")
    store.close()
    old = sqlite3.connect(tmp_path / "older.db")
    old.execute("DROP INDEX outbox_expiring")  # (a file of then had no index on the column it had not)
    old.execute("ALTER TABLE outbox DROP COLUMN expires_at")
    old.execute("ALTER TABLE outbox DROP COLUMN recipients")
    old.execute("INSERT INTO outbox (transaction_id, content_type, body, created_at, next_at, state)"
                " VALUES ('t-old', 'text/xml', x'00', '2026-01-01T00:00:00+00:00', '2026-01-01T08:00:00+00:00',"
                " 'queued')")
    old.commit()
    old.close()
    store = SqliteStore(tmp_path / "older.db")
    [item] = store.outbox()
    assert (item.transaction_id, item.recipients) == ("t-old", [])
    assert item.expires_at == datetime(2026, 1, 2, 8, tzinfo=timezone.utc)  # (a day after it was due)
    entry = {"transaction_id": "t-new", "tag": None, "content_type": "text/xml", "body": b"<x/>", "due": NOW,
             "expires_at": NOW + timedelta(days=1), "recipients": ["+8613800000001"]}
    [new] = store.outbox_put_many([entry])
    assert store.outbox_get(new.id).recipients == ["+8613800000001"]
    store.close()
    SqliteStore(tmp_path / "older.db").close()  # opening an upgraded file again changes nothing


def test_a_store_failing_around_a_claimed_send_neither_sends_blindly_nor_hides_an_acceptance(tmp_path, caplog):
    """A claim that cannot be taken (the store fails) sends nothing for that recipient; a claim
    that cannot be marked after the MMSC's answer leaves the outcome as it was (logged)."""
    import sqlite3

    from mm7bind.bulk import send_bulk
    from mm7bind.sendapi import SendApi
    from mm7bind.simulator import Simulator, SimulatorConfig

    class Failing(SqliteStore):
        claims = 0

        def send_claim(self, claim, stale):
            self.claims += 1
            if self.claims == 1:
                raise sqlite3.OperationalError("database is locked")
            return super().send_claim(claim, stale)

        def send_done(self, transaction_id, holder, accepted):
            raise sqlite3.OperationalError("database or disk is full")

    def requests(sim) -> list[str]:
        """The recipient of each request the MMSC took, by TransactionID: a copy the client sent
        again after an answer slower than its read_timeout (a loaded machine) is the same request."""
        return sorted({s.transaction_id: str(s.request.recipients.to[0]) for s in sim.messages.values()}.values())

    numbers = ["+8613800000000", "+8613800000001", "+8613800000002"]
    with Simulator(SimulatorConfig()) as sim:
        with mm7.Client(sim.url, store=Failing(tmp_path / "vasp.db")) as client:
            result = send_bulk(client, mm7.SubmitReq(subject="s"), numbers, concurrency=1, tag="c")
            assert (result.sent, result.failed) == (2, 1) and requests(sim) == numbers[1:]
            [(rcpt, why)] = result.failures
            assert rcpt == numbers[0] and "the store failed" in why and "database is locked" in why
            rsp = SendApi(client).handle("POST", "/send", json.dumps({"to": "1", "transaction_id": "t-1"}).encode())
            assert rsp.status == 200 and json.loads(rsp.body)["ok"] and requests(sim) == sorted([*numbers[1:], "1"])
    assert "could not be marked in the store" in caplog.text and "database or disk is full" in caplog.text


def test_replay_refuses_an_age_that_would_take_messages_in_hand(store, tmp_path):
    """A negative stale_after put "stale" in the future: a message a live worker claimed a moment
    ago was taken from it and handled twice; nan and inf ended in a traceback."""
    handler = Keep()
    rx = mm7.Receiver(handler, store=store)
    assert post(rx, mm7.DeliverReq(sender="+8613900000000", subject="explode"), "f-1") == 500
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="in hand"), transaction_id="p-1")
    in_hand, _ = store.accept(kind="DeliverReq", transaction_id="p-1", message_id=None, recipient=None, status=None,
                              peer="127.0.0.1", content_type=out.content_type, body=out.to_bytes(), tid_key="p-1",
                              report_key=None)  # (claimed now: a worker is handling it)
    for bad in (-60.0, float("nan")):
        with pytest.raises(ValueError, match="stale_after"):
            rx.replay(stale_after=bad)
    assert handler.calls == ["f-1"] and store.inbox_get(in_hand.id).state == "processing"
    assert rx.replay(stale_after=float("inf")) == [(1, "failed")]  # failed ones only: no claim is ever stale
    assert store.inbox_get(in_hand.id).state == "processing"
    assert (1, "failed") in rx.replay(stale_after=0)  # (0: the operator knows no worker is left)
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n')
    for bad in ("-5", "nan"):
        proc = run("replay", "--config", str(tmp_path / "cfg.toml"), "--stale-after", bad)
        assert proc.returncode == 2 and "is not a number of seconds" in proc.stderr, proc.stderr


class DownThenUp(mm7.Handler):
    down = True

    def on_deliver(self, msg, ctx):
        if self.down:
            raise RuntimeError("down")


BIG_COUNT, BIG_SIZE = 24, 256 * 1024


def failed_big_messages(store) -> mm7.Receiver:
    """BIG_COUNT MO messages of BIG_SIZE bytes each, stored as failed; → a receiver whose handler
    now takes them."""
    handler = DownThenUp()
    rx = mm7.Receiver(handler, store=store, max_body=2 << 20)
    for i in range(BIG_COUNT):
        content = mm7.Content()
        content.add_bytes(os.urandom(BIG_SIZE), "application/octet-stream", content_id=f"p{i}")
        assert post(rx, mm7.DeliverReq(sender="+8613900000000", content=content), f"big-{i}") == 500
    handler.down = False
    return rx


def peak_memory(fn, *args):
    """→ (what fn(*args) returned, the most memory it held at once, in bytes)."""
    import tracemalloc

    tracemalloc.start()
    try:
        out = fn(*args)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_replay_reads_one_stored_message_at_a_time(tmp_path):
    """A day of failures can be more bodies than the memory holds: replay lists ids, not records."""
    store = SqliteStore(tmp_path / "vasp.db")
    rx = failed_big_messages(store)
    done, peak = peak_memory(rx.replay)
    assert [state for _, state in done] == ["handled"] * BIG_COUNT
    store.close()
    assert peak < BIG_COUNT * BIG_SIZE / 3, f"{peak} bytes at the peak for {BIG_COUNT} bodies of {BIG_SIZE}"


def test_listing_the_inbox_reads_one_stored_message_at_a_time(tmp_path, capsys):
    """`store inbox --limit 100000 --json` (every failed id, for a script) on a store of large
    messages: the listing held every body at once, and printed none of them."""
    from mm7bind.cli import main

    store = SqliteStore(tmp_path / "vasp.db")
    failed_big_messages(store)
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n')
    assert main(["store", "inbox", "--config", str(tmp_path / "cfg.toml"), "--limit", "1"]) == 0  # (imports done)
    for output in (["--json"], []):
        capsys.readouterr()
        code, peak = peak_memory(main, ["store", "inbox", "--config", str(tmp_path / "cfg.toml"),
                                        "--state", "failed", "--limit", "100000", *output])
        listed = capsys.readouterr().out
        assert code == 0 and listed.count("failed") == BIG_COUNT, listed
        assert peak < BIG_COUNT * BIG_SIZE / 3, f"{peak} bytes at the peak for {BIG_COUNT} bodies of {BIG_SIZE}"
        if output:
            assert [r["body_size"] > BIG_SIZE for r in json.loads(listed)] == [True] * BIG_COUNT


def test_vacuum_gives_the_space_back_while_another_process_has_the_store_open(tmp_path):
    """`mm7bind store purge --vacuum` while serve runs: the rewritten file went through the WAL, the
    old one stayed whole until a checkpoint and the WAL as large as it, for as long as serve ran."""
    path = tmp_path / "vasp.db"
    store = SqliteStore(path, durability="process")
    for i in range(40):
        store.accept(kind="DeliverReq", transaction_id=f"v-{i}", message_id=None, recipient=None, status=None,
                     peer="127.0.0.1", content_type="text/xml", body=os.urandom(50_000), tid_key=f"v-{i}",
                     report_key=None)
        store.mark(i + 1, "handled", 1000)
    store.close()
    full = path.stat().st_size
    serve = SqliteStore(path)  # (its connection open all along, as serve's)
    assert len(serve.inbox(limit=1)) == 1
    operator = SqliteStore(path)
    assert operator.purge(datetime.now(timezone.utc) + timedelta(seconds=1)).inbox == 40
    operator.vacuum()
    operator.close()
    on_disk = sum(p.stat().st_size for p in tmp_path.iterdir() if p.name.startswith("vasp.db"))
    serve.close()
    assert on_disk < full / 4, f"{on_disk} bytes on disk after the vacuum, {full} before"


def test_a_replayed_message_purged_as_soon_as_it_is_handled_does_not_end_the_replay(store, monkeypatch):
    """`store purge --older-than 0s` (a test system emptied) while a replay runs: a message purged
    between its outcome and the replay's look at it ended the replay with an AttributeError, and
    the messages after it were not replayed."""
    rx = mm7.Receiver(DownThenUp(), store=store)
    for tid in ("g-1", "g-2"):
        assert post(rx, mm7.DeliverReq(sender="+8613900000000"), tid) == 500
    rx.handler.down = False
    marking = store.mark

    def mark_then_purge(record_id, state, *args, **kw):
        marking(record_id, state, *args, **kw)
        if record_id == 1:
            store.purge(datetime.now(timezone.utc) + timedelta(seconds=1))

    monkeypatch.setattr(store, "mark", mark_then_purge)
    assert rx.replay() == [(1, "gone"), (2, "handled")]


def test_replay_right_after_a_crash_says_what_it_left_in_hand(tmp_path):
    """serve killed with messages in hand says "`mm7bind replay` hands them to the handler again";
    run at once, replay found them not stale yet and said only "nothing to replay" (exit 0)."""
    store = SqliteStore(tmp_path / "vasp.db")
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="in hand"), transaction_id="k-1")
    store.accept(kind="DeliverReq", transaction_id="k-1", message_id=None, recipient=None, status=None,
                 peer="127.0.0.1", content_type=out.content_type, body=out.to_bytes(), tid_key="k-1",
                 report_key=None)  # (and then the process died: on another host, say, sharing the disk)
    store._conn().execute("UPDATE inbox SET holder = 'other-host/boot/ns:4242:123' WHERE id = 1")
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n'
                                       f'[receiver]\nout_dir = "{tmp_path / "out"}"\n')
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"))
    assert proc.returncode == 0 and "nothing to replay" in proc.stdout, proc.stdout + proc.stderr
    assert "1 message(s) in hand ('processing', the first #1) claimed less than 300 s ago" in proc.stdout
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"), "--stale-after", "0")
    assert proc.returncode == 0 and proc.stdout.splitlines() == ["#1: handled"], proc.stdout + proc.stderr



def test_replay_says_an_outcome_the_store_could_not_record_and_its_loss(tmp_path):
    """A vacuum in another process starts while the replayed message is in its handler, and lasts:
    the outcome was kept in memory and lost as the command ended, and it printed "#1: processing"
    alone (the log off without -v), read as a message some live worker has in hand. The next
    replay handles it a second time."""
    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    assert post(mm7.Receiver(DownThenUp(), store=store), mm7.DeliverReq(sender="+8613900000000"), "v-1") == 500
    store.close()
    (tmp_path / "vacuum_starts.py").write_text(
        "import mm7bind as mm7\n"
        "class Handler(mm7.Handler):\n"
        "    def on_deliver(self, msg, ctx):\n"
        f"        self.other = mm7.SqliteStore({str(db)!r})  # (its own descriptor: another process, to flock)\n"
        "        self.other._write.__enter__()\n"
        "handler = Handler()\n")
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n[receiver]\nstore_wait = 0.2\n')
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"), "--handler", "vacuum_starts:handler",
               cwd=tmp_path)  # (where its handler's module is)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "#1: handled, but not recorded: the store could not write it within 0.2 s ([receiver] store_wait; locked by "
        "another process, or its disk full); tried once more as the replay ends"]
    assert proc.stderr.splitlines() == [
        "mm7bind replay: the outcome of #1 (handled) could not be recorded before the store closed (StoreBusy: the "
        "store's write lock was held by another process for 0.2 s): it is lost. Its record stays 'processing', and "
        "`mm7bind replay` hands it to the handler a second time"]
    store = SqliteStore(db)
    try:
        assert store.inbox_get(1).state == "processing"
    finally:
        store.close()



def _in_hand_of(store, pid: int) -> None:
    """A message stored, and left in hand, by the process `pid` of this machine."""
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="slow"), transaction_id="w-1")
    store.accept(kind="DeliverReq", transaction_id="w-1", message_id=None, recipient=None, status=None,
                 peer="127.0.0.1", content_type=out.content_type, body=out.to_bytes(), tid_key="w-1",
                 report_key=None)
    holder = f"{holders._machine()}:{pid}:{holders._start(pid)}"
    if isinstance(store, MemoryStore):
        store._inbox[1].holder = holder
    else:
        store._conn().execute("UPDATE inbox SET holder = ? WHERE id = 1", (holder,))


@pytest.mark.skipif(holders.this_process() is None, reason="processes looked up in /proc")
def test_replay_never_takes_a_message_from_a_running_process_of_this_host(store):
    """serve's worker forwarding a message to a slow application, and `replay --stale-after 0` run
    on the same host (as its hint says for messages left in hand): the message went to the handler
    a second time while the first was still at it. A claim of a process of this machine that runs
    is left to it, whatever the age; once that process is gone, it is taken at once."""
    worker = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        _in_hand_of(store, worker.pid)
        rx = mm7.Receiver(Keep(), store=store)
        assert rx.replay(stale_after=0) == [] and rx.handler.calls == []
        assert rx.replay(1, stale_after=0) == [(1, "processing")] and rx.handler.calls == []
    finally:
        worker.communicate(b"")
    assert rx.replay() == [(1, "handled")] and rx.handler.calls == ["w-1"]


@pytest.mark.skipif(holders.this_process() is None, reason="processes looked up in /proc")
def test_the_replay_command_says_what_a_running_process_of_this_host_has_in_hand(tmp_path):
    store = SqliteStore(tmp_path / "vasp.db")
    _in_hand_of(store, os.getpid())  # (this test's process: it runs, and is another than the command's)
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n'
                                       f'[receiver]\nout_dir = "{tmp_path / "out"}"\n')
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"), "--stale-after", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "nothing to replay",
        "1 message(s) in hand ('processing', the first #1) by a process of this host that runs (serve, another "
        "replay): left to it"]


@pytest.mark.skipif(holders.this_process() is None, reason="processes looked up in /proc")
def test_the_replay_command_says_a_claim_whose_process_ended_during_it_as_such(tmp_path, monkeypatch, capsys):
    """The replay leaves a message to the live process holding it, which then dies before the
    replay ends: it said "claimed less than 0 s ago" (with --stale-after 0), its claim an hour old."""
    from mm7bind.cli import main

    store = SqliteStore(tmp_path / "vasp.db")
    worker = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        _in_hand_of(store, worker.pid)
        an_hour_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
        store._conn().execute("UPDATE inbox SET claimed_at = ? WHERE id = 1", (an_hour_ago,))
        store.close()
        (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n'
                                           f'[receiver]\nout_dir = "{tmp_path / "out"}"\n')
        replay = mm7.Receiver.replay

        def replay_then_the_worker_dies(self, *args, **kw):
            done = replay(self, *args, **kw)  # (the message left to the live worker)
            worker.communicate(b"")
            return done

        monkeypatch.setattr(mm7.Receiver, "replay", replay_then_the_worker_dies)
        assert main(["replay", "--config", str(tmp_path / "cfg.toml"), "--stale-after", "0"]) == 0
    finally:
        if worker.poll() is None:
            worker.communicate(b"")
    assert capsys.readouterr().out.splitlines() == [
        "nothing to replay",
        "1 message(s) in hand ('processing', the first #1) by a process that ran as this replay reached them and "
        "has ended since: `mm7bind replay` again replays them"]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_the_claims_in_hand_are_read_without_the_bodies(tmp_path, monkeypatch, kind):
    """serve's look at what a killed run left in hand (`_left_in_hand`) read each 'processing'
    record whole, its body too, to see its holder."""
    from mm7bind.cli import _left_in_hand

    store = SqliteStore(tmp_path / "vasp.db") if kind == "sqlite" else MemoryStore()
    _in_hand_of(store, 1 << 30)  # (a pid of this machine that does not run: its claim is taken)
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="other host"), transaction_id="w-2")
    store.accept(kind="DeliverReq", transaction_id="w-2", message_id=None, recipient=None, status=None,
                 peer="127.0.0.1", content_type=out.content_type, body=out.to_bytes(), tid_key="w-2",
                 report_key=None)
    holder = "other-host/boot/ns:4242:123"
    if isinstance(store, MemoryStore):
        store._inbox[2].holder = holder
    else:
        store._conn().execute("UPDATE inbox SET holder = ? WHERE id = 2", (holder,))
    claims = store.claims()
    assert list(claims) == [1, 2] and claims[2][1] == holder
    assert claims[2][0] == store.inbox_get(2).claimed_at

    def whole(record_id):
        raise AssertionError(f"#{record_id} read whole")

    monkeypatch.setattr(store, "inbox_get", whole)
    assert _left_in_hand(store, taken=True) == [2]


def test_a_replay_interrupted_in_the_handler_leaves_the_message_failed_not_in_hand(store):
    """Ctrl-C while the handler runs: the message stayed "processing", and the next replay, run at
    once, left it alone for stale_after (5 minutes) as in a live worker's hands."""

    class CtrlC(mm7.Handler):
        def on_deliver(self, msg, ctx):
            raise KeyboardInterrupt

    assert post(mm7.Receiver(DownThenUp(), store=store), mm7.DeliverReq(sender="+8613900000000"), "i-1") == 500
    with pytest.raises(KeyboardInterrupt):
        mm7.Receiver(CtrlC(), store=store).replay()
    rec = store.inbox_get(1)
    assert (rec.state, rec.error) == ("failed", "replay interrupted")
    up = DownThenUp()
    up.down = False
    assert mm7.Receiver(up, store=store).replay() == [(1, "handled")]


def test_replay_takes_over_a_message_in_hand_only_after_the_receivers_stale_after(store, monkeypatch):
    """A receiver whose handler may take an hour (stale_after=3600): its repeats leave a message in
    hand alone for an hour, but replay() took it over after its own fixed 5 minutes, and handled it
    a second time while the first worker was still at it."""
    import mm7bind.store as store_module

    rx = mm7.Receiver(Keep(), store=store, stale_after=3600)
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="slow"), transaction_id="h-1")
    ten_minutes_ago = datetime.now(timezone.utc) - timedelta(minutes=10)
    monkeypatch.setattr(store_module, "utcnow", lambda: ten_minutes_ago)
    store.accept(kind="DeliverReq", transaction_id="h-1", message_id=None, recipient=None, status=None,
                 peer="127.0.0.1", content_type=out.content_type, body=out.to_bytes(), tid_key="h-1",
                 report_key=None)  # (claimed ten minutes ago by a worker still at it)
    monkeypatch.undo()
    assert rx.replay() == [] and rx.handler.calls == []
    assert rx.replay(stale_after=300) == [(1, "handled")]  # (said: that worker is gone)


def test_a_store_this_user_cannot_write_is_listed_read_only_and_left_untouched(tmp_path, monkeypatch, capsys):
    """A copy taken for inspection (or a file of another user's, readable by a group): every
    `store` command that only reads said "cannot be used: Permission denied", and a read-only
    SQLite connection would have left a -shm and -wal beside it, owned by whoever looked."""
    import hashlib

    from mm7bind.cli import main

    folder = tmp_path / "copy"
    folder.mkdir()
    db = folder / "vasp.db"
    store = SqliteStore(db)
    fill(store)
    store.record_sent(SentRecord("s-3", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000003"], message_id="M3",
                                 status_code=1000, tag="spring"))
    store.close()
    (folder / "vasp.db.lock").unlink()
    (folder / "vasp.db-shm").mkdir()  # (where SQLite would make its -shm, none can be: as for a folder not ours)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    before = sorted(os.listdir(folder)), hashlib.sha256(db.read_bytes()).hexdigest()
    db.chmod(0o444)
    folder.chmod(0o555)
    if os.geteuid() == 0:  # (root may write whatever the modes say: as another user would find them)
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK and str(path).startswith(
            str(folder)) else real_access(path, mode, **kw))
    try:
        def command(*args: str) -> str:
            capsys.readouterr()
            code = main(["store", *args, "--config", str(cfg)])
            out = capsys.readouterr()
            assert code == (1 if args[0] == "check" else 0), out.err
            return out.out

        assert command("inbox").count("\n") == 8 and "DeliverReq" in command("inbox")
        assert json.loads(command("show", "5"))["message"]["fields"]["subject"] == "你好"
        assert "+8613800000001, +8613800000002" in command("sent", "--message-id", "M1")
        assert json.loads(command("sent", "--tag", "spring", "--summary", "--json"))["accepted"] == 1
        assert command("outbox").strip() == "the outbox holds nothing that matches"
        checked = command("check")
        assert checked.startswith("takes messages: no, opened read-only") and "file: intact" in checked
        reader = SqliteStore(db, read_only=True)
        with pytest.raises(Exception, match="readonly"):  # (a write, from code: refused, not half done)
            reader.mark(5, "handled")
        reader.close()
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert (sorted(os.listdir(folder)), hashlib.sha256(db.read_bytes()).hexdigest()) == before


def test_a_campaigns_summary_reads_one_request_at_a_time(tmp_path):
    """`store sent --tag --summary` of a year's campaign: every SubmitReq record of the tag was
    held at once (about a kilobyte each), twice over (the listing, then the latest of each)."""
    store = SqliteStore(tmp_path / "vasp.db", durability="process")
    count = 20_000
    for i in range(count):
        rcpts = [f"+86138{i:08d}", f"+86139{i:08d}", f"+86137{i:08d}"]
        store.record_sent(SentRecord(f"c-{i}", "SubmitReq", "REL-6-MM7-1-4", rcpts, tag="year",
                                     error="SendError: timed out after 30 s" if i % 2 else None,
                                     status_code=None if i % 2 else 3001))
    store.record_sent(SentRecord("c-0", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000000", "+8613900000000",
                                                                          "+8613700000000"], tag="year",
                                 message_id="M0", status_code=1000))  # (the first one again, accepted)
    summary, peak = peak_memory(mm7.store.summarize, store, "year")
    assert (summary.requests, summary.accepted, summary.refused, summary.failed) == (count, 1, count // 2 - 1,
                                                                                     count // 2)
    assert summary.awaiting == 3 and summary.may_have_arrived == count // 2
    assert peak < 2_000_000, f"{peak} bytes at the peak for {count} requests"

    class Plain:  # (a store of another kind, with only the listings: counted the same)
        sent, reports_for = store.sent, store.reports_for

    assert mm7.store.summarize(Plain(), "year") == summary
    store.close()


def test_a_retention_beyond_what_a_date_holds_is_refused_when_configured(tmp_path):
    """keep_days = 1000000 passed the configuration check; serve then failed every retention
    round (now - 1,000,000 days is before the year 1), and 1e12 failed making the timedelta."""
    from mm7bind.config import ConfigError, load_checked
    from mm7bind.store import Retention

    cfg_file = tmp_path / "cfg.toml"
    for setting in ("keep_days", "keep_bodies_days"):
        for days in ("1000000", "1e12", "365001"):
            cfg_file.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n{setting} = {days}\n')
            with pytest.raises(ConfigError) as info:
                load_checked(str(cfg_file))
            assert [str(p) for p in info.value.problems if f"store.{setting}" in str(p) and "at most 365000" in str(p)]
    cfg_file.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\nkeep_days = 365000\n')
    store = MemoryStore()
    assert load_checked(str(cfg_file)).retention(store).run_once() == mm7.store.Purged()  # the longest: works
    with pytest.raises(ValueError, match="keep_bodies of 800000 days is out of range"):
        Retention(store, keep_bodies=timedelta(days=800_000))
    for purged in (store, SqliteStore(":memory:")):
        with pytest.raises(ValueError, match="before the year 1"):
            purged.purge(timedelta(days=800_000))


def test_a_purge_finding_the_disk_full_says_so(tmp_path, monkeypatch, capsys):
    """Deleting writes too (through SQLite's -wal; a vacuum copies the file): on a full disk the
    purge ended as "the store failed ... `store check` says whether its file is damaged", and the
    operator checked a file that was fine instead of freeing some space."""
    import sqlite3

    from mm7bind.cli import main

    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    fill(store)
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")

    def full(*args, **kw):
        exc = sqlite3.OperationalError("database or disk is full")
        exc.sqlite_errorcode, exc.sqlite_errorname = sqlite3.SQLITE_FULL, "SQLITE_FULL"
        raise exc

    for method, said in (("purge", "the purge (batches done so far stay done)"), ("vacuum", "the purge is done")):
        with monkeypatch.context() as patched:
            patched.setattr(SqliteStore, method, full)
            capsys.readouterr()
            code = main(["store", "purge", "--older-than", "0s", "--vacuum", "--config", str(tmp_path / "cfg.toml")])
        err = capsys.readouterr().err
        assert code == 2 and f"the disk holding the store {db} is full: {said}" in err, err
        assert "damaged" not in err and "Free some space" in err
    monkeypatch.setattr(SqliteStore, "purge", lambda *a, **kw: (_ for _ in ()).throw(
        sqlite3.OperationalError("database is locked")))
    assert main(["store", "purge", "--older-than", "0s", "--config", str(tmp_path / "cfg.toml")]) == 2
    err = capsys.readouterr().err
    assert "the store failed: OperationalError: database is locked" in err  # (not a full disk)
    # ... nor damage: another program (a sqlite3 shell, a backup tool) held it past SQLite's 30 s
    assert "damaged" not in err and "another program held it locked past SQLite's 30 s wait" in err, err



def _store_of_one_undecodable(tmp_path) -> None:
    """A store holding one message (#1) whose body is no MIME, and cfg.toml naming it."""
    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    store.accept(kind="DeliverReq", transaction_id="u-1", message_id=None, recipient=None, status=None,
                 peer="127.0.0.1", content_type="multipart/related; boundary=b", body=b"--b\r\nnot mime at all",
                 tid_key="u-1", report_key=None, path="/mm7")
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")


def test_store_show_says_it_extracted_nothing_from_a_message_it_cannot_decode(tmp_path, capsys):
    """A stored body that no longer decodes (a receiver of one's own with larger limits, a release
    reading it otherwise): `store show --extract DIR` wrote no file and exited 0, as if the message
    had no attachments. --raw still writes its bytes."""
    from mm7bind.cli import main

    _store_of_one_undecodable(tmp_path)
    code = main(["store", "show", "1", "--extract", str(tmp_path / "parts"), "--raw", str(tmp_path / "raw.http"),
                 "--config", str(tmp_path / "cfg.toml")])
    out, err = capsys.readouterr()
    assert code == 1 and "error" in json.loads(out)["message"], out
    assert err.startswith("mm7bind store show: #1 cannot be decoded (") and err.endswith("): nothing extracted\n")
    assert (tmp_path / "raw.http").read_bytes().endswith(b"\r\n\r\n--b\r\nnot mime at all")


def test_store_show_raw_does_not_write_over_a_file_already_there(tmp_path, capsys):
    """`store show ID --raw FILE` wrote over a FILE already there without a word (a capture kept
    for a report, another message's): refused, exit 2, the file left as it was. A FILE that is no
    regular file (/dev/null, a pipe of the shell's >(...)) is written as before."""
    from mm7bind.cli import main

    _store_of_one_undecodable(tmp_path)
    kept = tmp_path / "kept.http"
    kept.write_bytes(b"a capture of another message")
    code = main(["store", "show", "1", "--raw", str(kept), "--config", str(tmp_path / "cfg.toml")])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", out
    assert err == (f"mm7bind store show: {kept} exists: not written over (another name, or --raw - > {kept} "
                   "to replace it)\n"), err
    assert kept.read_bytes() == b"a capture of another message"
    if os.path.exists(os.devnull) and os.name == "posix":
        assert main(["store", "show", "1", "--raw", os.devnull, "--config", str(tmp_path / "cfg.toml")]) == 0
        assert json.loads(capsys.readouterr().out)["raw"] == os.devnull


def test_store_show_says_why_it_cannot_decode_without_the_stored_bytes_driving_the_terminal(tmp_path, capsys):
    """What a stored body that does not decode is said to lack quotes what the MMSC sent (here its
    Content-Type): an escape sequence in it reached the terminal on stderr as it was."""
    from mm7bind.cli import main

    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    store.accept(kind="DeliverReq", transaction_id="u-1", message_id=None, recipient=None, status=None,
                 peer="127.0.0.1", content_type="text/\x1b[2Jxml", body=b"x", tid_key="u-1", report_key=None,
                 path="/mm7")
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    code = main(["store", "show", "1", "--extract", str(tmp_path / "parts"), "--config", str(tmp_path / "cfg.toml")])
    err = capsys.readouterr().err
    assert code == 1 and "\x1b" not in err and "text/\\x1b[2jxml" in err, err


def test_a_store_whose_lock_file_this_user_cannot_take_is_read_read_only(tmp_path, monkeypatch, capsys):
    """The lock file is made 0600 by the store's first user (serve): another user of the group,
    who may write the file itself, could not open the store at all, not even to list it."""
    from mm7bind.cli import main

    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    fill(store)
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    lock = tmp_path / "vasp.db.lock"
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK and str(path) == str(lock)
                        else real_access(path, mode, **kw))
    if os.geteuid() != 0:
        lock.chmod(0o400)
    try:
        assert main(["store", "inbox", "--config", str(tmp_path / "cfg.toml")]) == 0
        assert capsys.readouterr().out.count("\n") == 8  # (the heading, six records, the failed one's error)
        assert main(["store", "check", "--config", str(tmp_path / "cfg.toml")]) == 1
        assert capsys.readouterr().out.startswith("takes messages: no, opened read-only")
    finally:
        lock.chmod(0o600)


def test_a_live_store_in_a_folder_this_user_cannot_write_is_checked_as_a_writer(tmp_path, monkeypatch, capsys):
    """Read-only is for what cannot be written: a store whose file, lock, -wal and -shm this user
    may write (serve running, its group's) is checked as a writer though the folder is not its."""
    from mm7bind.cli import main

    db = tmp_path / "vasp.db"
    live = SqliteStore(db)  # (serve: its -wal and -shm are there while it runs)
    fill(live)
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK and str(path) == str(tmp_path)
                        else real_access(path, mode, **kw))
    try:
        assert (tmp_path / "vasp.db-wal").exists() and (tmp_path / "vasp.db-shm").exists()
        assert main(["store", "check", "--config", str(tmp_path / "cfg.toml")]) == 0
        assert capsys.readouterr().out.startswith("takes messages: yes")
    finally:
        live.close()


def test_sent_records_keep_whether_an_earlier_attempt_got_no_answer_and_store_sent_shows_it(tmp_path):
    """A request accepted after an attempt that got no answer may be at the MMSC twice: its record
    says so (a file from before the column is upgraded when opened for writing, and read as it is
    when opened read-only), and so do `store sent` and its --json, and the tag's summary."""
    import sqlite3

    db = tmp_path / "older.db"
    SqliteStore(db).close()
    old = sqlite3.connect(db)  # as files before the column have it
    old.execute("ALTER TABLE sent DROP COLUMN earlier_unanswered")
    old.execute("INSERT INTO sent (transaction_id, operation, version, recipients, sent_at, status_code, attempts, tag)"
                " VALUES ('t-old', 'SubmitReq', 'REL-6-MM7-1-4', '[\"1\"]', '2026-01-01T00:00:00+00:00', 1000, 1,"
                " 'c')")
    old.commit()
    old.close()
    reading = SqliteStore(db, read_only=True)  # (not upgraded, and readable all the same)
    assert [r.earlier_unanswered for r in reading.sent()] == [False]
    reading.close()
    store = SqliteStore(db)
    store.record_sent(SentRecord("t-twice", "SubmitReq", "REL-6-MM7-1-4", ["2"], message_id="M2", status_code=1000,
                                 attempts=2, tag="c", earlier_unanswered=True))
    store.record_sent(SentRecord("t-lost", "SubmitReq", "REL-6-MM7-1-4", ["3"], attempts=3, tag="c",
                                 error="ConnectError: cannot connect", earlier_unanswered=True))
    assert [(r.transaction_id, r.earlier_unanswered) for r in store.sent()] == [
        ("t-old", False), ("t-twice", True), ("t-lost", True)]
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    proc = run("store", "sent", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    said = proc.stdout.split("\n")
    assert said.count(f"{'':19}  after an attempt that got no answer: the MMSC may have it twice") == 1
    assert said.count(f"{'':19}  after an attempt that got no answer: the MMSC may have it") == 1
    rows = json.loads(run("store", "sent", "--config", str(cfg), "--json").stdout)
    assert [r["earlier_unanswered"] for r in rows] == [False, True, True]
    summary = json.loads(run("store", "sent", "--config", str(cfg), "--tag", "c", "--summary", "--json").stdout)
    assert (summary["accepted"], summary["earlier_unanswered"]) == (2, 1)
    assert "2 accepted (1 after an attempt that got no answer: perhaps twice)" in run(
        "store", "sent", "--config", str(cfg), "--tag", "c", "--summary").stdout


def test_store_outbox_says_which_items_the_mmsc_may_have_or_have_twice(tmp_path, capsys):
    """The client's record of an item's TransactionID says when an attempt got no answer: a sent
    item may have reached the MMSC twice, a failed one may have reached it; both in --json too."""
    from mm7bind.cli import main
    from mm7bind.outbox import Outbox
    from mm7bind.store import SentRecord, SqliteStore

    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    outbox = Outbox(client)
    twice, maybe, plain = (outbox.put(mm7.SubmitReq(recipients=[f"+861380000000{n}"], subject="x"),
                                      transaction_id=f"ob-{n}") for n in range(3))
    store.outbox_update(twice.id, "sent", attempts=1, message_id="M1", status_code=1000)
    store.record_sent(SentRecord("ob-0", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000000"], message_id="M1",
                                 status_code=1000, earlier_unanswered=True))
    store.outbox_update(maybe.id, "failed", attempts=1, error="RequestTimeout: timed out")
    store.record_sent(SentRecord("ob-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000001"],
                                 error="RequestTimeout: timed out waiting for http://mmsc/mm7"))
    store.outbox_update(plain.id, "failed", attempts=1, error="ConnectError: refused")
    store.record_sent(SentRecord("ob-2", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000002"],
                                 error="ConnectError: cannot connect to http://mmsc/mm7"))
    client.close()
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["store", "outbox", "--config", str(cfg)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "may have it twice" in lines[str(twice.id)]
    assert "the MMSC may have it" in lines[str(maybe.id)] and "twice" not in lines[str(maybe.id)]
    assert "may have" not in lines[str(plain.id)]
    assert main(["store", "outbox", "--config", str(cfg), "--json"]) == 0
    shown = {i["transaction_id"]: (i["earlier_unanswered"], i["may_have_arrived"])
             for i in json.loads(capsys.readouterr().out)}
    assert shown == {"ob-0": (True, False), "ob-1": (False, True), "ob-2": (False, False)}


def test_purge_keeps_what_a_campaign_in_progress_and_the_outbox_still_need(store):
    """`store purge --older-than 1h` while a campaign was sending deleted its first requests'
    records (and the claims of sends under way): resumed, the campaign sent those recipients a
    second message. A campaign's records now stay while it is in use (a request of it newer
    than the age), as do the records of outbox items waiting and claims whose lease runs."""
    from mm7bind import bulk
    from mm7bind.store import SendClaim

    from .fake_http import FakeServer

    now = datetime.now(timezone.utc)
    before = now - timedelta(hours=2)
    own = store.installation_id()

    def accepted(tid, rcpt, when, tag):
        store.record_sent(SentRecord(tid, "SubmitReq", "REL-6-MM7-1-4", [rcpt], message_id=f"M-{tid}",
                                     sent_at=when, status_code=1000, status_text="Success", tag=tag))

    # a campaign started two hours ago and still sending: its first requests are older than the age
    promo = ["+8613800000001", "+8613800000002", "+8613800000003"]
    for rcpt, when in zip(promo, (before, before, now - timedelta(minutes=1)), strict=True):
        accepted(bulk.bulk_transaction_id("promo", rcpt, 0, own), rcpt, when, "promo")
    accepted("spring-1", "+8613800000009", before, "spring")  # a campaign ended long ago
    accepted("plain-1", "+8613800000009", before, None)  # an untagged request
    # an outbox item still sending, whose request the MMSC accepted before its worker stopped
    [item] = store.outbox_put_many([{"transaction_id": "waiting-1", "tag": None, "content_type": "text/xml",
                                     "body": b"<x/>", "due": now, "expires_at": now + timedelta(days=1),
                                     "recipients": ["+8613800000008"]}])
    assert [i.id for i in store.outbox_claim(now + timedelta(seconds=1))] == [item.id]
    accepted("waiting-1", "+8613800000008", before, None)
    # a campaign queued in the outbox for tonight, one recipient of it sent to two hours ago
    store.outbox_put_many([{"transaction_id": "autumn-2", "tag": "autumn", "content_type": "text/xml", "body": b"<x/>",
                            "due": now + timedelta(hours=6), "expires_at": now + timedelta(days=1),
                            "recipients": ["+8613800000007"]}])
    accepted("autumn-1", "+8613800000006", before, "autumn")
    # send claims taken two hours ago: one still in hand (its lease runs), one accepted, one lapsed
    for tid, lease in (("live", now + timedelta(minutes=5)), ("taken", now + timedelta(minutes=5)),
                       ("lapsed", before + timedelta(minutes=5))):
        store.send_claim(SendClaim(tid, f"host:1:{tid}", lease, claimed_at=before), lambda held: False)
    store.send_done("taken", "host:1:taken", True)

    assert store.purge(timedelta(hours=1), dry_run=True).sent == 2
    assert store.purge(timedelta(hours=1)).sent == 2
    assert {r.tag for r in store.sent()} == {"promo", "autumn", None} and len(store.sent(tag="promo")) == 3
    assert store.sent_by_transaction_id("waiting-1") is not None and store.sent_by_transaction_id("plain-1") is None
    assert store.send_claim_get("live") is not None
    assert store.send_claim_get("taken") is None and store.send_claim_get("lapsed") is None

    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store) as client:  # the campaign resumed
        result = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), [*promo, "+8613800000004"], tag="promo")
        assert [[str(a) for a in r.decode().body.recipients] for r in mmsc.requests] == [["+8613800000004"]]
    assert (result.sent, result.skipped) == (1, 3)

    # once the campaign's last request is older than the age too, it goes as a whole
    assert store.purge(datetime.now(timezone.utc) + timedelta(seconds=1)).sent == 4
    assert sorted(r.transaction_id for r in store.sent()) == ["autumn-1", "waiting-1"]  # (their items still wait)


def test_purge_keeps_the_reports_of_a_campaign_in_use_with_its_records(store):
    """A campaign running longer than the purge's age kept its first records but lost their
    delivery reports: its summary said "no report yet" again of its first recipients."""
    now = datetime.now(timezone.utc)
    for tid, tag, when in (("p-1", "promo", now - timedelta(hours=2)), ("p-2", "promo", now + timedelta(hours=1)),
                           ("s-1", "spring", now - timedelta(hours=2))):
        store.record_sent(SentRecord(tid, "SubmitReq", "REL-6-MM7-1-4", [f"+861380000000{tid[-1]}"],
                                     message_id=f"M-{tid}", sent_at=when, status_code=1000, status_text="Success",
                                     tag=tag))
    for tid in ("p-1", "s-1", None):  # (the last one linked to nothing of ours)
        rec, _ = store.accept(kind="DeliveryReportReq", transaction_id=f"r-{tid}", message_id=f"M-{tid}",
                              recipient="+8613800000001", status="Retrieved", peer=None, content_type="text/xml",
                              body=b"<x/>", tid_key=f"r-{tid}", report_key=f"k-{tid}", sent_transaction_id=tid)
        store.mark(rec.id, "handled", 1000)
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    assert store.purge(later, dry_run=True).inbox == 2
    done = store.purge(later)
    assert (done.inbox, done.sent) == (2, 1)
    assert [r.transaction_id for r in store.inbox()] == ["r-p-1"]
    summary = mm7.store.summarize(store, "promo")
    assert (summary.delivery, summary.awaiting) == ({"Retrieved": 1}, 1)
    assert store.purge(later, sent=False).inbox == 1 and store.inbox() == []  # (sent records kept, reports not)


def test_purge_keeps_a_paused_campaign_whose_items_wait_for_requeue(store):
    """A campaign stopped by an outage a month ago: its last items failed, kept for `store
    requeue`, but its requests' records (and its sent items) were purged with the rest: resumed,
    the campaign sent everyone it had reached a second message. Items given up keep their
    campaign in use while the purge keeps them; with --include-failed they go, and it with them."""
    from mm7bind import bulk

    from .fake_http import FakeServer

    month_ago = datetime.now(timezone.utc) - timedelta(days=40)
    reached = ["+8613800000001", "+8613800000002"]
    for i, rcpt in enumerate(reached):
        store.record_sent(SentRecord(bulk.bulk_transaction_id("paused", rcpt, 0, store.installation_id()),
                                     "SubmitReq", "REL-6-MM7-1-4", [rcpt], message_id=f"M-{i}", sent_at=month_ago,
                                     status_code=1000, tag="paused"))
    store.record_sent(SentRecord("ended-1", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000009"], sent_at=month_ago,
                                 status_code=1000, tag="ended"))
    [item] = store.outbox_put_many([{"transaction_id": "paused-3", "tag": "paused", "content_type": "text/xml",
                                     "body": b"<x/>", "due": month_ago, "expires_at": month_ago + timedelta(days=1),
                                     "recipients": ["+8613800000003"]}])
    store.outbox_update(item.id, "failed", attempts=5)
    if isinstance(store, MemoryStore):
        store._outbox[item.id].created_at = month_ago
    else:
        store._conn().execute("UPDATE outbox SET created_at = ? WHERE id = ?", (month_ago.isoformat(), item.id))

    assert store.purge(timedelta(days=30), dry_run=True).sent == 1
    assert store.purge(timedelta(days=30)) == mm7.store.Purged(sent=1)  # the campaign that ended, alone
    assert {r.tag for r in store.sent()} == {"paused"} and [i.state for i in store.outbox()] == ["failed"]
    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store) as client:  # resumed
        result = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), [*reached, "+8613800000004"], tag="paused")
        assert [[str(a) for a in r.decode().body.recipients] for r in mmsc.requests] == [["+8613800000004"]]
    assert (result.sent, result.skipped) == (1, 2)

    # its failed item purged too (--include-failed), the campaign goes as a whole once its last request is old
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    assert store.purge(later, states=("handled", "rejected", "failed")) == mm7.store.Purged(sent=3, outbox=1)
    assert store.sent() == [] and store.outbox() == []


def _counted(db, work) -> tuple[int, int, object]:
    """What `work()` cost on `db`: SQLite's VM steps, and the bytes read from files (the pages
    fetched, requests in them; where the system counts them, else 0), with its answer."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    def read() -> int:
        try:
            with open("/proc/self/io") as io:
                return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))
        except OSError:
            return 0

    db.set_progress_handler(step, 1)
    before = read()
    try:
        answer = work()
    finally:
        db.set_progress_handler(None, 1)
    return steps[0], read() - before, answer


def _sent_records(store, rows) -> None:
    """SubmitReq records written straight into `store`'s file: (transaction_id, sent_at, tag) each."""
    with store._conn() as db:
        db.executemany("INSERT INTO sent (transaction_id, operation, version, recipients, sent_at, attempts, tag)"
                       " VALUES (?, 'SubmitReq', 'REL-6-MM7-1-4', '[]', ?, 1, ?)", rows)


def test_purge_reads_the_records_that_go_not_every_newer_one(tmp_path):
    """Retention purges hourly: each purge read the whole `sent` table (every record of the
    days kept) to find the tags in use. Its work no longer grows with the records it keeps:
    counted in SQLite's steps, the same for 300 newer records as for 3000."""
    now = datetime.now(timezone.utc)

    def cost(newer: int) -> tuple[int, mm7.store.Purged]:
        store = SqliteStore(tmp_path / f"vasp-{newer}.db")
        rows = [(f"n-{i}", (now - timedelta(minutes=i % 600)).isoformat(), [None, "label", f"c{i % 7}"][i % 3])
                for i in range(newer)]
        rows += [(f"o-{i}", (now - timedelta(days=40, seconds=i)).isoformat(), [None, "label", "ended"][i % 3])
                 for i in range(30)]
        _sent_records(store, rows)
        steps, _, purged = _counted(store._conn(), lambda: store.purge(timedelta(days=30)))
        # the old untagged records and the ended campaign's go; the label, used still, keeps its old ones
        assert {r.transaction_id for r in store.sent() if r.transaction_id.startswith("o-")} == {
            f"o-{i}" for i in range(1, 30, 3)}
        store.close()
        return steps, purged

    (few, purged), (many, same) = cost(300), cost(3000)
    assert purged == same == mm7.store.Purged(sent=20)
    assert many < 2 * few  # (read record by record, ten times the records took ten times the steps)


def test_purging_many_old_records_takes_steps_in_proportion(tmp_path, monkeypatch):
    """The records that go, found through the index, were all found and sorted by id again at
    each batch: ten times the old records took a hundred times the steps."""
    monkeypatch.setattr(SqliteStore, "PURGE_BATCH", 10)
    old = datetime.now(timezone.utc) - timedelta(days=40)

    def cost(count: int) -> int:
        store = SqliteStore(tmp_path / f"vasp-{count}.db")
        _sent_records(store, [(f"o-{i}", (old + timedelta(seconds=i)).isoformat(), [None, f"c{i % 5}"][i % 2])
                              for i in range(count)])
        steps, _, purged = _counted(store._conn(), lambda: store.purge(timedelta(days=30)))
        assert purged.sent == count and store.sent() == []
        store.close()
        return steps

    assert cost(3000) < 20 * cost(300)


def test_purging_the_outbox_reads_the_items_that_go_not_those_kept(tmp_path):
    """Each purge read every outbox item's row (state comes after the request in it) to find the
    old finished ones: its work, and the requests it read, grew with the items kept. Found a tag
    and a state at a time through `outbox_done`, the same for 300 newer items as for 3000."""
    now = datetime.now(timezone.utc)
    body = os.urandom(6000)  # (a request with an attachment: a page of its own)

    def cost(newer: int) -> tuple[int, int, mm7.store.Purged]:
        path = tmp_path / f"vasp-{newer}.db"
        store = SqliteStore(path)
        rows = [(f"n-{i}", [None, "label", f"c{i % 7}"][i % 3], now - timedelta(minutes=i % 600), "sent")
                for i in range(newer)]
        rows += [(f"o-{i}", [None, "label", "ended"][i % 3], now - timedelta(days=40, seconds=i),
                  "failed" if i % 6 == 0 else "sent")
                 for i in range(30)]
        rows += [("waiting", "label", now, "queued")]  # (its campaign is in use: its old items stay)
        db = store._conn()
        db.execute("PRAGMA synchronous = OFF")  # (megabytes written: no flush of each checkpoint)
        with db:
            db.execute("BEGIN")  # (one transaction: the store's connections commit each statement of their own)
            db.executemany("INSERT INTO outbox (transaction_id, tag, content_type, body, created_at, next_at,"
                           " expires_at, state) VALUES (?, ?, 'text/xml', ?, ?, ?, ?, ?)",
                           [(tid, tag, body, when.isoformat(), when.isoformat(), (when + timedelta(days=1)).isoformat(),
                             state) for tid, tag, when, state in rows])
            db.execute("COMMIT")
        store.close()
        store = SqliteStore(path)  # (nothing of it in memory: what the purge reads, it reads from the file)
        steps, read, purged = _counted(store._conn(), lambda: store.purge(timedelta(days=30)))
        # the old untagged and the ended campaign's sent items go; the label's, in use, stay, and failed ones
        kept = {tid for (tid,) in store._conn().execute("SELECT transaction_id FROM outbox")}
        assert {t for t in kept if t.startswith("o-")} == {f"o-{i}" for i in range(30) if i % 3 == 1 or i % 6 == 0}
        assert len(kept) == newer + 16
        store.close()
        return steps, read, purged

    (few, read_few, purged), (many, read_many, same) = cost(300), cost(3000)
    assert purged == same == mm7.store.Purged(outbox=15)
    assert many < 2 * few  # (read item by item, ten times the items took ten times the steps)
    assert read_many < 2 * read_few + 100_000  # (... and their requests: 2 MB, then 20 MB)


def test_purging_send_claims_reads_the_old_ones_not_every_newer_one(tmp_path):
    """The claims of the requests the MMSC accepted are kept, one per request, as long as the
    records: each purge read them all to find the old ones. Found through `send_claim_claimed_at`,
    the same steps for 300 newer claims as for 3000; an old one whose send is under way stays."""
    now = datetime.now(timezone.utc)

    def cost(newer: int) -> int:
        store = SqliteStore(tmp_path / f"vasp-{newer}.db")
        rows = [(f"n-{i}", None, now - timedelta(minutes=i % 600)) for i in range(newer)]
        rows += [(f"o-{i}", now + timedelta(minutes=5) if i % 3 == 0 else None, now - timedelta(days=40, seconds=i))
                 for i in range(30)]
        db = store._conn()
        with db:
            db.execute("BEGIN")  # (one transaction: the store's connections commit each statement of their own)
            db.executemany("INSERT INTO send_claim (transaction_id, holder, lease_until, claimed_at)"
                           " VALUES (?, 'host:1', ?, ?)",
                           [(tid, lease.isoformat() if lease else None, when.isoformat()) for tid, lease, when in rows])
            db.execute("COMMIT")
        steps, _, purged = _counted(db, lambda: store.purge(timedelta(days=30)))
        assert purged == mm7.store.Purged()  # (claims are not counted)
        left = {tid for (tid,) in db.execute("SELECT transaction_id FROM send_claim")}
        assert {t for t in left if t.startswith("o-")} == {f"o-{i}" for i in range(0, 30, 3)}
        assert len(left) == newer + 10
        store.close()
        return steps

    assert cost(3000) < 2 * cost(300)  # (read claim by claim, ten times the claims took ten times the steps)


@pytest.mark.parametrize("bodies_only", [False, True])
def test_purging_received_records_reads_the_old_ones_not_every_newer_one(tmp_path, bodies_only):
    """Found through the state index, every handled record's row was read at each purge (and with
    a file of before bodies moved out of the rows, its body) to see its age. Found by age through
    `inbox_finished`, the same steps for 300 newer records as for 3000, bodies only too; an old
    failed record stays (it waits for replay)."""
    now = datetime.now(timezone.utc)

    def cost(newer: int) -> int:
        store = SqliteStore(tmp_path / f"vasp-{newer}-{bodies_only}.db")
        rows = [(f"n-{i}", now - timedelta(minutes=i % 600), ["handled", "rejected"][i % 5 == 0])
                for i in range(newer)]
        rows += [(f"o-{i}", now - timedelta(days=40, seconds=i), ["handled", "rejected", "failed"][i % 3])
                 for i in range(30)]
        db = store._conn()
        with db:
            db.execute("BEGIN")  # (one transaction: the store's connections commit each statement of their own)
            db.executemany("INSERT INTO inbox (kind, transaction_id, body, received_at, state, headers)"
                           " VALUES ('DeliverReq', ?, X'', ?, ?, '{}')",
                           [(tid, when.isoformat(), state) for tid, when, state in rows])
            db.execute("INSERT INTO inbox_body (id, body) SELECT id, X'3c782f3e' FROM inbox")
            db.execute("COMMIT")
        steps, _, purged = _counted(db, lambda: store.purge(timedelta(days=30), bodies_only=bodies_only))
        assert purged == (mm7.store.Purged(bodies=20) if bodies_only else mm7.store.Purged(inbox=20))
        left, bare = set(), set()
        for tid, size in db.execute("SELECT transaction_id, length(b.body) FROM inbox i JOIN inbox_body b USING (id)"):
            (left if size else bare).add(tid)
        assert {t for t in left if t.startswith("o-")} == {f"o-{i}" for i in range(2, 30, 3)}
        assert len(left) == newer + 10 and bare == ({f"o-{i}" for i in range(30) if i % 3 != 2} if bodies_only
                                                    else set())
        if bodies_only:  # (a second purge finds nothing more to take)
            assert store.purge(timedelta(days=30), bodies_only=True) == mm7.store.Purged()
        store.close()
        return steps

    assert cost(3000) < 2 * cost(300)  # (read record by record, ten times the records took ten times the steps)


def test_claims_of_a_file_from_before_bodies_moved_out_of_the_rows_leave_their_bodies_unread(tmp_path):
    """In a file written before bodies had a table of their own, a record in hand keeps its body in
    its row, before the claim's columns (claimed_at, holder): `claims()`, at each serve's start,
    read every such body through. Opened, the file's records in hand or waiting for replay have
    their bodies moved out of their rows, once; what a record says is unchanged."""
    path = tmp_path / "vasp.db"
    store = SqliteStore(path)
    db = store._conn()
    bodies = [os.urandom(200_000) for _ in range(10)]
    db.execute("BEGIN")
    db.executemany("INSERT INTO inbox (kind, transaction_id, body, received_at, state, holder)"
                   " VALUES ('DeliverReq', ?, ?, ?, ?, 'host:1')",
                   [(f"t-{i}", body, datetime.now(timezone.utc).isoformat(), ["processing", "failed"][i % 2])
                    for i, body in enumerate(bodies)])
    db.execute("INSERT INTO inbox (kind, transaction_id, body, received_at, state) VALUES"
               " ('DeliverReq', 'done', X'3c782f3e', '2020-01-01T00:00:00+00:00', 'handled')")
    db.execute("DELETE FROM store_meta WHERE name = 'bodies_out_of_rows'")  # (as in a file of then)
    db.execute("COMMIT")
    store.close()

    store = SqliteStore(path)
    _, read, claims = _counted(store._conn(), store.claims)
    assert sorted(claims) == [1, 3, 5, 7, 9] and {holder for _, holder in claims.values()} == {"host:1"}
    assert read < 100_000  # (through their bodies: 1 MB)
    assert [store.inbox_get(i + 1).body for i in range(10)] == bodies  # (replayed as they came)
    assert store.inbox_get(11).body == b"<x/>"  # (a handled one's stays in its row: nothing to move)
    assert store._conn().execute("SELECT count(*) FROM inbox WHERE length(body) > 0").fetchone()[0] == 1
    assert store.purge(timedelta(days=1), bodies_only=True) == mm7.store.Purged(bodies=1)
    store.close()


def test_counting_the_outbox_reads_no_item_s_request(tmp_path):
    """The outbox's counts by state (each metrics scrape asks) read every item's row, whose state
    comes after its request: the whole queue, attachments and all. Counted through the indexes
    of the waiting and the finished items, which hold the state, no request is read."""
    path = tmp_path / "vasp.db"
    store = SqliteStore(path)
    now = datetime.now(timezone.utc).isoformat()
    db = store._conn()
    db.execute("PRAGMA synchronous = OFF")  # (megabytes written: no flush of each checkpoint)
    db.execute("BEGIN")
    db.executemany("INSERT INTO outbox (transaction_id, content_type, body, created_at, next_at, expires_at, state)"
                   " VALUES (?, 'text/xml', ?, ?, ?, ?, ?)",
                   [(f"t-{i}", os.urandom(6000), now, now, now, ["queued", "sent", "sent", "failed", "sending"][i % 5])
                    for i in range(1000)])
    db.execute("COMMIT")
    store.close()
    store = SqliteStore(path)
    _, read, counts = _counted(store._conn(), store.outbox_counts)
    assert counts == {"queued": 200, "sending": 200, "sent": 400, "failed": 200, "expired": 0}
    assert read < 500_000  # (the requests: 6 MB)
    store.close()


def test_an_outbox_starting_reads_the_waiting_items_not_the_finished_ones(tmp_path):
    """At each start the outbox queues again what a stopped worker left "sending" and makes due
    what waits out a pause: both scanned the table, reading every item's request (the finished
    ones, kept for days, included) to reach its state. Through the waiting items' index, the
    finished ones are not read."""
    path = tmp_path / "vasp.db"
    store = SqliteStore(path)
    now = datetime.now(timezone.utc)
    past, later = (now - timedelta(minutes=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    rows = [(f"done-{i}", past, "sent", 1) for i in range(1000)]
    rows += [("left", past, "sending", 1), ("held", later, "sending", 1), ("paused", later, "queued", 2),
             ("planned", later, "queued", 0), ("due", past, "queued", 0)]
    db = store._conn()
    db.execute("PRAGMA synchronous = OFF")  # (megabytes written: no flush of each checkpoint)
    db.execute("BEGIN")
    db.executemany("INSERT INTO outbox (transaction_id, content_type, body, created_at, next_at, expires_at, state,"
                   " attempts) VALUES (?, 'text/xml', ?, ?, ?, ?, ?, ?)",
                   [(tid, os.urandom(6000), past, at, later, state, attempts) for tid, at, state, attempts in rows])
    db.execute("COMMIT")
    store.close()
    store = SqliteStore(path)
    _, read, changed = _counted(store._conn(), lambda: (store.outbox_recover(now), store.outbox_retry_now(now)))
    assert changed == (1, 1)  # ("left" queued again; "paused" due now: not "planned", never tried, nor "held")
    assert {tid: (state, at > now) for tid, state, at in (
        (i.transaction_id, i.state, i.next_at) for i in map(store.outbox_get, store.outbox_ids()))
        if not tid.startswith("done-")} == {"left": ("queued", False), "held": ("sending", True),
                                            "paused": ("queued", False), "planned": ("queued", True),
                                            "due": ("queued", False)}
    assert read < 500_000  # (the finished items' requests: 6 MB)
    store.close()


def test_a_store_from_before_the_purges_indexes_gets_them_as_it_is_opened(tmp_path):
    store = SqliteStore(tmp_path / "vasp.db")
    store._conn().execute("DROP INDEX sent_tag_sent_at")
    store._conn().execute("DROP INDEX outbox_given_up")
    store._conn().execute("DROP INDEX outbox_done")
    store._conn().execute("DROP INDEX send_claim_claimed_at")
    store._conn().execute("DROP INDEX send_claim_attempt")
    store._conn().execute("DROP INDEX inbox_finished")
    store._conn().execute("DROP INDEX outbox_waiting")  # (and the waiting items' index of then)
    store._conn().execute("CREATE INDEX outbox_claimable ON outbox (next_at) WHERE state IN ('queued', 'sending')")
    store.close()
    store = SqliteStore(tmp_path / "vasp.db")
    names = {row[0] for row in store._conn().execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"sent_tag_sent_at", "outbox_given_up", "outbox_done", "send_claim_claimed_at", "send_claim_attempt",
            "inbox_finished", "outbox_waiting"} <= names and "outbox_claimable" not in names
    store.close()


@pytest.mark.parametrize("args", [["store", "inbox", "--limit", str(10**30)], ["store", "sent", "--limit", str(2**63)],
                                  ["store", "outbox", "--limit", str(10**30)], ["store", "show", str(10**30)],
                                  ["store", "requeue", "1", str(2**63)], ["replay", "--id", str(10**30)],
                                  ["store", "show", "0"]])
def test_a_limit_or_record_number_past_the_stores_integers_is_refused_as_a_usage_error(tmp_path, capsys, args):
    """`--limit 1000000000000000000000000000000` ("all of them"), or an ID as large, ended in a
    traceback (an OverflowError from SQLite, a ValueError from the listing's slice): a usage error
    naming the option and its range, exit 2; the largest is taken."""
    from mm7bind.cli import main

    SqliteStore(tmp_path / "vasp.db").close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n')
    with pytest.raises(SystemExit) as ended:
        main([*args, "--config", str(tmp_path / "cfg.toml")])
    assert ended.value.code == 2
    assert re.search(r"error: argument (--limit|--id|ID): '\d+' is (not a whole number|no record's number \(a whole "
                     r"number) from 1 to 9223372036854775807", capsys.readouterr().err)
    for listing in ("inbox", "sent", "outbox"):
        assert main(["store", listing, "--config", str(tmp_path / "cfg.toml"), "--limit", str(2**63 - 1)]) == 0


def test_a_replay_at_start_notes_its_claim_and_never_takes_a_message_its_process_ended_with(store, monkeypatch):
    """serve's replay at its start hands a message a gone process left in hand to the handler once:
    its claim says so in the record, and a message still in hand under such a claim, its process
    gone (the handler crashed it), is not handed on at a start again; a replay by hand takes it."""
    import math

    from mm7bind.store import IN_HAND_AT_START

    seen = []

    class Noting(mm7.Handler):
        def on_deliver(self, msg, ctx):
            seen.append(store.inbox_get(ctx.record.id).error)

    rx = mm7.Receiver(Noting(), store=store)
    assert post(rx, mm7.DeliverReq(sender="+8613900000000", subject="x"), "d-1") == 200
    assert store.claim(1, ("handled",))  # (in hand of a process that then ended)
    monkeypatch.setattr(holders, "gone", lambda holder: True)
    assert rx.replay(stale_after=math.inf, states=("processing",), at_start=True) == [(1, "handled")]
    assert seen == [None, IN_HAND_AT_START]
    assert store.inbox_get(1).error is None  # (the outcome replaces the note)

    assert store.claim(1, ("handled",), note=IN_HAND_AT_START)  # (... and this time its process ended in it)
    assert rx.replay(stale_after=math.inf, states=("processing",), at_start=True) == [(1, "not handed again")]
    assert len(seen) == 2 and store.inbox_get(1).state == "processing"
    assert rx.replay() == [(1, "handled")]
    assert len(seen) == 3


def test_the_json_listings_give_every_field_of_every_row_null_when_it_has_none(tmp_path):
    """`store inbox --json` left out what a record did not hold (a handled message's error, a failed
    one's response_code, a MessageID), `store sent --json` a request that got no answer's message_id
    and status_code, `store outbox --json` an item's error: a script reading row["response_code"]
    met a KeyError on some rows only. Every row now has every key, null (or empty) when unset."""
    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    fill(store)
    store.record_sent(SentRecord("s-3", "SubmitReq", "REL-6-MM7-1-4", ["+8613800000003"],
                                 error="ReadTimeout: no answer"))
    due = datetime.now(timezone.utc)
    [item] = store.outbox_put_many([{"transaction_id": "o-1", "tag": None, "content_type": "text/xml", "body": b"<x/>",
                                     "due": due, "expires_at": due + timedelta(days=1), "recipients": ["+861"]}])
    store.outbox_update(item.id, "sent", attempts=1, message_id="M9", status_code=1000)
    store.outbox_put_many([{"transaction_id": "o-2", "tag": "t", "content_type": "text/xml", "body": b"<x/>",
                            "due": due, "expires_at": due + timedelta(days=1), "recipients": []}])
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")

    rows = json.loads(run("store", "inbox", "--config", str(cfg), "--json").stdout)
    failed = next(r for r in rows if r["state"] == "failed")
    assert failed["response_code"] is None and "handler down" in failed["error"]
    assert next(r for r in rows if r["state"] == "handled")["error"] is None
    assert len({tuple(r) for r in rows}) == 1 and "message_id" in rows[0] and "body" not in rows[0]
    sent = json.loads(run("store", "sent", "--config", str(cfg), "--json").stdout)
    unanswered = next(r for r in sent if r["transaction_id"] == "s-3")
    assert unanswered["message_id"] is None and unanswered["status_code"] is None and unanswered["reports"] == []
    assert len({tuple(r) for r in sent}) == 1
    assert len({tuple(r) for r in sent[0]["reports"] + rows}) == 1  # (a report is listed as the inbox lists it)
    items = json.loads(run("store", "outbox", "--config", str(cfg), "--json").stdout)
    assert len(items) == 2 and len({tuple(i) for i in items}) == 1
    assert items[-1]["message_id"] is None and items[-1]["recipients"] == [] and items[0]["error"] is None
    shown = json.loads(run("store", "show", str(failed["id"]), "--config", str(cfg)).stdout)
    assert shown["record"] == failed


def test_store_inbox_says_under_a_failed_message_why_and_how_often_it_failed(tmp_path):
    """The listing said "failed" and no more: why (its handler's error, which --json gives) took a
    `store show` per message, and a message its handler fails on each time looked like one failed once."""
    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    rx = mm7.Receiver(Keep(), store=store)
    for _ in range(3):  # (the MMSC's copies: each hands it to the handler again)
        assert post(rx, mm7.DeliverReq(sender="+8613900000000", subject="explode"), "d-9") == 500
    assert post(rx, mm7.DeliverReq(sender="+8613900000000", subject="fine"), "d-10") == 200
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    lines = run("store", "inbox", "--config", str(tmp_path / "cfg.toml")).stdout.splitlines()
    assert len(lines) == 4 and " failed " in lines[1] and " handled " in lines[3]
    assert lines[2] == " " * 29 + "after 3 tries: RuntimeError: handler down"


def test_purging_records_under_a_day_old_says_what_it_costs(tmp_path):
    """config check warns of keep_days under a day; `store purge --older-than 2h` said nothing,
    though a copy of a purged message the MMSC still sends is then handled a second time."""
    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    fill(store)
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    note = "note: an age under a day: a copy of a purged message that an MMSC still sends"
    proc = run("store", "purge", "--config", str(tmp_path / "cfg.toml"), "--older-than", "0s", "--dry-run")
    assert proc.returncode == 0 and proc.stdout.startswith("would remove 5 received records") and note in proc.stderr
    proc = run("store", "purge", "--config", str(tmp_path / "cfg.toml"), "--older-than", "0s", "--bodies-only")
    assert proc.returncode == 0 and proc.stdout.startswith("removed 5 bodies") and proc.stderr == ""
    proc = run("store", "purge", "--config", str(tmp_path / "cfg.toml"), "--older-than", "2d")
    assert proc.returncode == 0 and proc.stdout.startswith("removed 0 received records") and proc.stderr == ""


def test_validate_of_what_serve_saved_says_how_to_check_the_messages_as_they_came(tmp_path):
    """`mm7bind validate received/` (serve's --out) found "no MM7 message" and stopped there: serve
    saves each message decoded (message.json, its parts), and the store keeps it as it came. The
    folder is still no success (exit 2), but each message.json names the command that checks its
    message, and `store show ID --raw -` writes it to stdout for `validate -`."""
    from mm7bind.handlers import SavingHandler

    from .test_commands import ENV

    db, out = tmp_path / "vasp.db", tmp_path / "received"
    store = SqliteStore(db)
    rx = mm7.Receiver(SavingHandler(out, sync=False), store=store)
    for tid, msg in (("d-1", mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"], subject="你好",
                                             content=mm7.Content(parts=[mm7.Part.text("hi")]))),
                     ("r-1", report("M1", "+8613800000001", "Retrieved"))):
        sent = mm7.encode(msg, transaction_id=tid)
        assert rx.handle(sent.to_bytes(), sent.content_type, {"SOAPAction": '""'}, "127.0.0.1").status == 200
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")

    # (here the store found without a configuration, mm7bind.db, is not there: the command of the
    # hint names one, else it said "no store at mm7bind.db")
    proc = run("validate", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for n, kind in ((1, "DeliverReq"), (2, "DeliveryReportReq")):
        [saved] = (out / kind).glob("*/message.json")
        assert (f"{saved}: skipped: what `mm7bind serve` saved (the message decoded): `mm7bind store show {n} "
                "-c CONFIG --raw - | mm7bind validate -` checks it as it came (CONFIG: the configuration serve "
                "ran with)") in proc.stdout, proc.stdout
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "mm7bind.db").write_bytes(db.read_bytes())  # (serve's store, the default one)
    proc = run("validate", str(out), cwd=tmp_path / "here")
    [saved] = (out / "DeliverReq").glob("*/message.json")
    assert (f"{saved}: skipped: what `mm7bind serve` saved (the message decoded): `mm7bind store show 1 "
            "--raw - | mm7bind validate -` checks it as it came\n") in proc.stdout, proc.stdout
    assert proc.stdout.splitlines()[-1].startswith(f"{out}: unreadable: a folder with no MM7 message or capture in "
                                                   "it (4 file(s) skipped); what `mm7bind serve` saved"), proc.stdout
    for n, kind in ((1, "DeliverReq"), (2, "DeliveryReportReq")):
        shown = subprocess.run([sys.executable, "-m", "mm7bind.cli", "store", "show", str(n), "--raw", "-",
                                "--config", str(cfg)], capture_output=True, env=ENV, timeout=120, cwd=tmp_path)
        assert shown.returncode == 0 and shown.stdout.startswith(b"POST /"), shown.stdout + shown.stderr
        checked = subprocess.run([sys.executable, "-m", "mm7bind.cli", "validate", "-"], input=shown.stdout,
                                 capture_output=True, env=ENV, timeout=120)
        assert (checked.returncode, checked.stdout.decode()) == (0, f"-: valid ({kind}, REL-6-MM7-1-4)\n"), checked
    # Another store where a command finds one without a configuration (serve ran with its own): its
    # record 1 is another message, which `store show 1` showed as if it were this one; the hint
    # named no -c CONFIG
    (tmp_path / "elsewhere").mkdir()
    other = SqliteStore(tmp_path / "elsewhere" / "mm7bind.db")
    sent = mm7.encode(mm7.DeliverReq(sender="+8613700000000", recipients=["10086"], subject="other"),
                      transaction_id="x-1")
    assert mm7.Receiver(store=other).handle(sent.to_bytes(), sent.content_type, {"SOAPAction": '""'},
                                            "127.0.0.1").status == 200
    other.close()
    there = sorted((tmp_path / "elsewhere").iterdir())
    proc = run("validate", str(out), cwd=tmp_path / "elsewhere")
    [saved] = (out / "DeliverReq").glob("*/message.json")
    assert (f"{saved}: skipped: what `mm7bind serve` saved (the message decoded): `mm7bind store show 1 -c CONFIG "
            "--raw - | mm7bind validate -` checks it as it came (CONFIG: the configuration serve ran with)\n"
            ) in proc.stdout, proc.stdout
    assert "-c CONFIG" in proc.stdout.splitlines()[-1], proc.stdout
    assert sorted((tmp_path / "elsewhere").iterdir()) == there  # (read, nothing written beside it)
    assert not (tmp_path / "-").exists()  # (not a file named "-")
    # ... but not to a terminal, which the bytes as received (an image's) would drive
    import pty

    terminal, tty = pty.openpty()
    try:
        shown = subprocess.run([sys.executable, "-m", "mm7bind.cli", "store", "show", "1", "--raw", "-",
                                "--config", str(cfg)], stdout=tty, stderr=subprocess.PIPE, env=ENV, timeout=120)
    finally:
        os.close(tty)
        os.close(terminal)
    assert shown.returncode == 2 and b"not for a terminal: pipe them" in shown.stderr, shown.stderr


def test_validate_opens_the_store_its_hints_look_into_once_a_run(tmp_path, monkeypatch, capsys):
    """Each message.json's hint looks its record up in the store found without a configuration: it
    opened that store once a file (milliseconds each: half a minute for serve's folder of ten
    thousand). Once a run now, and closed at its end."""
    from mm7bind import store as store_module
    from mm7bind.cli import main
    from mm7bind.handlers import SavingHandler

    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("MM7BIND_")]:
        monkeypatch.delenv(name)
    store = SqliteStore(tmp_path / "mm7bind.db")
    rx = mm7.Receiver(SavingHandler(tmp_path / "received", sync=False), store=store)
    for n in range(3):
        sent = mm7.encode(report(f"M{n}", "+8613800000001", "Retrieved"), transaction_id=f"r-{n}")
        assert rx.handle(sent.to_bytes(), sent.content_type, {"SOAPAction": '""'}, "127.0.0.1").status == 200
    store.close()
    opened = []

    class Counted(SqliteStore):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(store_module, "SqliteStore", Counted)
    assert main(["validate", "received"]) == 2
    out = capsys.readouterr().out
    assert all(f"`mm7bind store show {n} --raw - | mm7bind validate -`" in out for n in (1, 2, 3)), out
    assert len(opened) == 1 and opened[0].read_only
    with pytest.raises(store_module.StoreClosed):  # (closed at the run's end)
        opened[0].inbox_get(1)
