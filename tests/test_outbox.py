"""The outbox: what is put in is sent once an MMSC takes it, tried again while none does, refused
for good when one says so, and never lost to a stopped process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from datetime import timedelta

import pytest

import mm7bind as mm7
from mm7bind.outbox import Outbox
from mm7bind.simulator import Simulator, SimulatorConfig
from mm7bind.store import utcnow

from . import fake_http


def picture() -> mm7.Content:
    content = mm7.Content()
    content.add_text("你好", charset="gb2312")
    content.add_bytes(b"GIF89a" + bytes(range(256)), "image/gif", filename="x.gif")
    return content


def test_put_then_sent_whole_with_its_transaction_id_and_tag(store):
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, vaspid="800001")
        outbox = Outbox(client)
        item = outbox.put(mm7.SubmitReq(recipients=["+8613800000000"], subject="稍后", content=picture()),
                          transaction_id="ob-1", tag="later")
        assert (item.state, item.transaction_id, item.tag) == ("queued", "ob-1", "later")
        assert sim.messages == {}  # nothing goes out before the worker runs
        [done] = outbox.run_once()
        assert (done.state, done.attempts, done.status_code) == ("sent", 1, 1000)
        [got] = sim.messages.values()
        assert got.transaction_id == "ob-1" and got.message_id == done.message_id
        assert got.request.subject == "稍后" and got.request.vaspid == "800001"  # defaults filled in at put
        assert [p.data for p in got.request.content.parts] == [p.data for p in picture().parts]
        assert outbox.run_once() == []  # nothing left to do
        client.close()
    [rec] = store.sent()
    assert (rec.transaction_id, rec.tag, rec.message_id) == ("ob-1", "later", done.message_id)


def test_an_outage_is_waited_out_and_a_refusal_is_final(store):
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, first_retry=timedelta(seconds=30), max_retry=timedelta(minutes=2),
                        max_age=timedelta(minutes=5))
        b = outbox.put(mm7.SubmitReq(recipients=["2"], subject="b"))
        a = outbox.put(mm7.SubmitReq(recipients=["1"], subject="a"))
        sim.fail_next(1, status=2001)  # b is refused: not worth trying again
        sim.fail_next(1, http_status=503)  # a is caught in an outage
        now = utcnow()
        first = {i.id: i for i in outbox.run_once(now)}
        assert first[a.id].state == "queued" and "HTTP 503" in first[a.id].error
        assert first[a.id].next_at == now + timedelta(seconds=30)
        assert (first[b.id].state, first[b.id].status_code) == ("failed", 2001)
        assert outbox.run_once(now + timedelta(seconds=10)) == []  # not due yet
        sim.fail_next(1, status=3000)  # a server error: worth another round, after a longer pause
        [again] = outbox.run_once(now + timedelta(seconds=31))
        assert (again.state, again.attempts, again.status_code) == ("queued", 2, 3000)
        assert again.next_at == now + timedelta(seconds=31) + timedelta(seconds=60)
        [sent] = outbox.run_once(now + timedelta(seconds=92))
        assert (sent.state, sent.attempts) == ("sent", 3)
        assert [m.request.subject for m in sim.messages.values()] == ["a"]
        client.close()


def test_a_submit_the_mmsc_can_never_take_as_sent_is_not_queued_again(store):
    """A provider taking one recipient per SubmitReq answers 3003 for more: another round would get
    the same answer, so the item fails at once for its sender to split."""
    with Simulator(SimulatorConfig(max_recipients=1)) as sim:
        client = mm7.Client(sim.url, store=store)
        outbox = Outbox(client, first_retry=timedelta(seconds=30), max_age=timedelta(minutes=5))
        item = outbox.put(mm7.SubmitReq(recipients=["1", "2"]))
        now = utcnow()
        [done] = outbox.run_once(now)
        assert (done.state, done.attempts, done.status_code) == ("failed", 1, 3003)
        assert outbox.run_once(now + timedelta(minutes=1)) == [] and sim.messages == {}
        [rec] = store.sent()  # one request, not the client's retries on top
        assert rec.transaction_id == item.transaction_id and rec.status_code == 3003
        client.close()


def test_expiry_when_no_mmsc_answers(store):
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store, retry=mm7.RetryPolicy.never())
    outbox = Outbox(client, first_retry=timedelta(minutes=1), max_retry=timedelta(minutes=10),
                    max_age=timedelta(minutes=3))
    item = outbox.put(mm7.SubmitReq(recipients=["1"]))
    now = utcnow()
    states = []
    for minutes in (0, 1, 3):
        states += [(i.state, i.attempts) for i in outbox.run_once(now + timedelta(minutes=minutes, seconds=1))]
    assert states == [("queued", 1), ("queued", 2), ("expired", 3)]
    assert "ConnectError" in store.outbox_get(item.id).error
    client.close()


def test_what_cannot_be_built_is_refused_at_put_and_nothing_is_kept(store):
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    outbox = Outbox(client)
    with pytest.raises(mm7.EncodeError):
        outbox.put(mm7.SubmitReq(recipients=["1"], expiry_date="tomorrow"))
    with pytest.raises(TypeError):
        outbox.put(mm7.DeliverRsp())
    assert store.outbox() == []
    with pytest.raises(ValueError, match="store"):
        Outbox(mm7.Client("http://127.0.0.1:9/mm7"))
    client.close()


def test_the_worker_sends_at_once_and_a_stopped_process_loses_nothing(tmp_path):
    path = tmp_path / "vasp.db"
    with Simulator(SimulatorConfig()) as sim:
        store = mm7.SqliteStore(path)
        client = mm7.Client(sim.url, store=store)
        outbox = Outbox(client, poll=30).start()  # put wakes it: no waiting for the poll
        item = outbox.put(mm7.SubmitReq(recipients=["1"], subject="now"))
        deadline = time.monotonic() + 30
        while store.outbox_get(item.id).state != "sent" and time.monotonic() < deadline:
            time.sleep(0.02)
        outbox.stop()
        assert store.outbox_get(item.id).state == "sent" and len(sim.messages) == 1
        # A process that died while sending leaves the item "sending"; once its lease has run out,
        # the next start queues it again (while it runs, nobody else takes it: see below).
        stuck = outbox.put(mm7.SubmitReq(recipients=["2"], subject="stuck"))
        # (as a worker about to send, its lease run out already: no waiting for it to)
        claimed = store.outbox_claim(utcnow(), lease=timedelta(0))
        assert [i.id for i in claimed] == [stuck.id]
        store.close()
        client.close()

        store = mm7.SqliteStore(path)  # the next run
        client = mm7.Client(sim.url, store=store)
        outbox = Outbox(client, poll=0.05).start()
        deadline = time.monotonic() + 30
        while store.outbox_get(stuck.id).state != "sent" and time.monotonic() < deadline:
            time.sleep(0.02)
        outbox.stop()
        assert store.outbox_get(stuck.id).state == "sent"
        assert sorted(m.request.subject for m in sim.messages.values()) == ["now", "stuck"]
        assert [i.state for i in store.outbox()] == ["sent", "sent"]
        store.close()
        client.close()


def test_the_queue_is_a_gauge_when_the_client_counts(store):
    from mm7bind.metrics import Metrics

    metrics = Metrics()
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store, metrics=metrics, retry=mm7.RetryPolicy.never())
    outbox = Outbox(client)
    outbox.put(mm7.SubmitReq(recipients=["1"]))
    outbox.put(mm7.SubmitReq(recipients=["2"]))
    outbox.run_once()  # nobody answers the first: both wait for the next round (the second untried)
    outbox.put(mm7.SubmitReq(recipients=["3"]))
    text = metrics.render()
    assert 'mm7bind_outbox_items{state="queued"} 3' in text and 'mm7bind_outbox_items{state="sent"} 0' in text
    assert metrics.value("mm7bind_sent_total", outcome="error") == 1
    client.close()


def test_an_internal_error_requeues_instead_of_leaving_the_item_in_hand(store, monkeypatch):
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    outbox = Outbox(client)
    item = outbox.put(mm7.SubmitReq(recipients=["1"]))
    monkeypatch.setattr(client, "send", lambda *a, **kw: 1 / 0)
    [done] = outbox.run_once()
    assert done.state == "queued" and "ZeroDivisionError" in done.error and done.attempts == 1
    assert store.outbox_get(item.id).state == "queued"
    for bad in ({"first_retry": timedelta(0)}, {"first_retry": timedelta(hours=2)}):
        with pytest.raises(ValueError, match="first_retry"):
            Outbox(client, **bad)
    client.close()


def test_requeue_a_failed_item_once_the_cause_is_fixed(store, tmp_path):
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client)
        item = outbox.put(mm7.SubmitReq(recipients=["1"]))
        sim.fail_next(1, status=2001)  # refused: say, wrong credentials
        assert outbox.run_once()[0].state == "failed"
        assert not outbox.requeue(item.id + 1)  # (no such item)
        assert outbox.requeue(item.id) and not outbox.requeue(item.id)  # (queued now: left alone)
        # New tries were asked for: its rounds start again, the earlier ones kept apart.
        requeued = store.outbox_get(item.id)
        assert (requeued.attempts, requeued.earlier_rounds) == (0, 1)
        [again] = outbox.run_once()
        assert (again.state, again.attempts, again.earlier_rounds) == ("sent", 1, 1)
        client.close()


def test_requeue_command(tmp_path):
    from .test_commands import run

    store = mm7.SqliteStore(tmp_path / "vasp.db")
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store, retry=mm7.RetryPolicy.never())
    outbox = Outbox(client, max_age=timedelta(seconds=1))
    item = outbox.put(mm7.SubmitReq(recipients=["1"]))
    assert outbox.run_once(utcnow() + timedelta(seconds=2))[0].state == "expired"
    client.close()
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    proc = run("store", "requeue", str(item.id), "99", "--config", str(cfg))
    assert proc.returncode == 1 and f"#{item.id}: queued again" in proc.stdout and "#99: not failed" in proc.stdout
    shown = run("store", "outbox", "--config", str(cfg)).stdout
    assert "queued" in shown and "queued again after 1 earlier round(s)" in shown


def test_a_campaign_item_a_direct_run_has_reached_since_is_not_queued_again(tmp_path):
    """`send --queue --tag T`, an item refused (failed); `send --tag T --retry-refused` then reached its
    recipient (a failed item is not waiting, so the direct run sends it); `store requeue` of the item sent
    them a second message. It is left alone now, saying why; an item nobody reached is queued."""
    from mm7bind.bulk import queue_bulk, send_bulk

    from .test_commands import run

    store = mm7.SqliteStore(tmp_path / "vasp.db")
    template = mm7.SubmitReq(recipients=["0"], subject="camp")
    with Simulator(SimulatorConfig()) as sim, mm7.Client(sim.url, store=store,
                                                         retry=mm7.RetryPolicy.never()) as client:
        outbox = Outbox(client)
        queued = queue_bulk(outbox, template, ["+8613800000001", "+8613800000002", "+8613800000003"], tag="camp")
        first, second, third = (int(queued.message_ids[r].removeprefix("queued #"))
                                for r in ("+8613800000001", "+8613800000002", "+8613800000003"))
        sim.fail_next(2, status=2001)
        assert [i.state for i in outbox.run_once()] == ["failed", "failed", "sent"]
        # (the second is not reached; the first, from a list that writes it another way)
        direct = send_bulk(client, template, ["8613800000001"], tag="camp", retry_refused=True)
        assert direct.sent == 1 and len(sim.messages) == 2
        assert not outbox.requeue(first)
        assert store.outbox_get(first).state == "failed"
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    proc = run("store", "requeue", str(first), str(second), "--config", str(cfg))
    assert proc.returncode == 1, proc.stderr
    assert f"#{first}: left alone: 8613800000001 was accepted under tag 'camp'" in proc.stdout
    assert f"#{second}: queued again" in proc.stdout
    store = mm7.SqliteStore(tmp_path / "vasp.db")
    assert [store.outbox_get(i).state for i in (first, second, third)] == ["failed", "queued", "sent"]
    store.close()


def test_queue_bulk_stopped_between_batches_counts_what_it_committed(store, monkeypatch):
    import threading

    from mm7bind import bulk

    monkeypatch.setattr(bulk, "QUEUE_BATCH", 2)
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    outbox, stop = Outbox(client), threading.Event()
    put_many = outbox.put_many

    def then_stop(msgs, **kw):
        stop.set()  # (as the command's Ctrl-C handler does, while the first batch is committed)
        return put_many(msgs, **kw)

    monkeypatch.setattr(outbox, "put_many", then_stop)
    result = bulk.queue_bulk(outbox, mm7.SubmitReq(recipients=["0"]), ["1", "2", "3", "4", "5"], tag="t", stop=stop)
    assert (result.interrupted, result.sent, result.batches, result.total - result.sent) == (True, 2, 1, 3)
    assert len(store.outbox()) == 2

    def interrupted(msgs, **kw):  # Ctrl-C in a library caller: KeyboardInterrupt, before the second commit
        if len(store.outbox()) >= 3:
            raise KeyboardInterrupt
        return put_many(msgs, **kw)

    monkeypatch.setattr(outbox, "put_many", interrupted)
    result = bulk.queue_bulk(outbox, mm7.SubmitReq(recipients=["0"]), ["1", "2", "3", "4", "5"], tag="t")
    assert (result.interrupted, result.sent, result.skipped, result.total - result.sent) == (True, 2, 2, 1)
    client.close()


def test_a_message_can_wait_for_its_hour(store):
    from datetime import datetime

    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store)
        outbox = Outbox(client, max_age=timedelta(hours=2))
        nine = (datetime.now() + timedelta(hours=3)).replace(microsecond=0)  # naive: local time
        item = outbox.put(mm7.SubmitReq(recipients=["1"], subject="at nine"), at=nine)
        assert item.next_at == nine.astimezone() and item.expires_at == nine.astimezone() + timedelta(hours=2)
        assert outbox.run_once(utcnow() + timedelta(hours=2)) == [] and sim.messages == {}
        [sent] = outbox.run_once(nine.astimezone() + timedelta(seconds=1))
        assert sent.state == "sent" and len(sim.messages) == 1
        past = outbox.put(mm7.SubmitReq(recipients=["2"]), at=utcnow() - timedelta(days=1))  # already due
        assert past.next_at >= item.created_at and outbox.run_once()[0].state == "sent"
        client.close()


def test_a_request_sent_in_several_rounds_counts_once_in_its_campaign(store):
    from mm7bind.store import summarize

    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client)
        outbox.put(mm7.SubmitReq(recipients=["1"], delivery_report=True), tag="c")
        sim.fail_next(1, http_status=503)
        now = utcnow()
        assert outbox.run_once(now)[0].state == "queued"
        assert outbox.run_once(now + timedelta(minutes=1))[0].state == "sent"
        client.close()
    assert len(store.sent(tag="c")) == 2  # both rounds are on record
    s = summarize(store, "c")
    assert (s.requests, s.accepted, s.failed, s.awaiting) == (1, 1, 0, 1)


def test_a_campaign_queued_from_the_command_line_is_sent_by_serve(tmp_path):
    from .test_commands import Background, run

    with Simulator(SimulatorConfig()) as sim:
        cfg = tmp_path / "cfg.toml"
        cfg.write_text(f'[receiver]\nport = 0\n[outbox]\nenabled = true\n[mmsc]\nurls = ["{sim.url}"]\n'
                       f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
        (tmp_path / "to.csv").write_text("number\n+8613800000001\n+8613800000002\n+8613800000003\n+8613800000001\n")
        args = ["send", "--config", str(cfg), "--to-file", str(tmp_path / "to.csv"), "--text", "新年快乐",
                "--tag", "newyear", "--queue"]
        first = run(*args)
        assert first.returncode == 0 and first.stdout.startswith("queued 3 message(s)"), first.stdout + first.stderr
        again = run(*args)  # queueing the campaign twice queues it once
        assert again.stdout.splitlines() == [
            f"queued 0 message(s) in {tmp_path / 'vasp.db'}",
            "skipped 3 recipients already accepted or queued under tag 'newyear'"]
        later = run("send", "--config", str(cfg), "--to", "+8613800000009", "--queue", "--at", "2999-01-01T09:00")
        assert later.returncode == 0 and "for 2999-01-01 09:00:00" in later.stdout
        assert sim.messages == {}  # nothing goes out until serve runs
        serve = Background("serve", "--config", str(cfg))
        try:
            serve.wait_for(f"http://127.0.0.1:{serve.port()}/mm7")
            deadline = time.monotonic() + 60
            while len(sim.messages) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            out = serve.stop()
        assert "sending what the outbox holds" in out
        assert sorted(str(m.request.recipients.to[0]) for m in sim.messages.values()) == [
            "+8613800000001", "+8613800000002", "+8613800000003"]  # the one due in 2999 waits
    summary = run("store", "sent", "--config", str(cfg), "--tag", "newyear", "--summary")
    assert summary.stdout.startswith("tag newyear: 3 SubmitReq: 3 accepted"), summary.stdout
    states = [line.split()[3] for line in run("store", "outbox", "--config", str(cfg)).stdout.splitlines()[1:]]
    assert sorted(states) == ["queued", "sent", "sent", "sent"]
    assert run("send", "--to", "1", "--at", "2999-01-01").returncode == 2  # --at needs --queue


def test_put_many_is_one_commit_and_all_or_nothing(tmp_path, monkeypatch):
    from mm7bind import bulk

    store = mm7.SqliteStore(tmp_path / "vasp.db")
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    outbox = Outbox(client)
    statements = []
    store._conn().set_trace_callback(statements.append)
    items = outbox.put_many([mm7.SubmitReq(recipients=[str(i)]) for i in range(20)], tag="b")
    assert len(items) == 20 and statements.count("COMMIT") == 1
    assert [i.recipients for i in store.outbox()][:2] == [["0"], ["1"]]
    with pytest.raises(mm7.EncodeError):  # one bad message: none of its batch is kept
        outbox.put_many([mm7.SubmitReq(recipients=["x"]), mm7.SubmitReq(recipients=["y"], expiry_date="soon")])
    assert len(store.outbox()) == 20
    monkeypatch.setattr(bulk, "QUEUE_BATCH", 7)
    statements.clear()
    result = bulk.queue_bulk(outbox, mm7.SubmitReq(subject="c"), [f"+86{i}" for i in range(30)], tag="c")
    assert result.sent == 30 and statements.count("COMMIT") == 5  # 30 in batches of 7
    again = bulk.queue_bulk(outbox, mm7.SubmitReq(subject="c"), [f"+86{i}" for i in range(32)], tag="c")
    assert (again.sent, again.skipped) == (2, 30)
    client.close()
    store.close()


def test_a_campaign_of_a_large_message_is_queued_in_batches_of_bounded_bytes(tmp_path, monkeypatch):
    """Each item holds its own encoded copy, built in memory with its batch before the commit: the
    batch is bounded in bytes as well as in messages."""
    from mm7bind import bulk

    store = mm7.SqliteStore(tmp_path / "vasp.db", durability="process")
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    outbox = Outbox(client)
    batches = []
    put_many = store.outbox_put_many
    monkeypatch.setattr(store, "outbox_put_many", lambda entries, **kw: batches.append(
        sum(len(e["body"]) for e in entries)) or put_many(entries, **kw))
    monkeypatch.setattr(bulk, "QUEUE_BATCH_BYTES", 1024 * 1024, raising=False)
    content = mm7.Content()
    content.add(mm7.Part.from_bytes(bytes(300 * 1024), "video/mp4", filename="clip.mp4"))
    result = bulk.queue_bulk(outbox, mm7.SubmitReq(subject="v", content=content), [f"+86{i}" for i in range(10)],
                             tag="v")
    assert result.sent == 10 and len(store.outbox(tag="v")) == 10
    assert len(batches) > 1 and max(batches) < 1.5 * 1024 * 1024, batches  # (base64 adds a third)
    client.close()
    store.close()


def test_purge_command_names_the_outbox_items_it_removed(tmp_path):
    from .test_commands import run

    store = mm7.SqliteStore(tmp_path / "vasp.db")
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store, retry=mm7.RetryPolicy.never())
    outbox = Outbox(client, max_age=timedelta(seconds=1))
    outbox.put(mm7.SubmitReq(recipients=["1"]))
    assert outbox.run_once(utcnow() + timedelta(seconds=2))[0].state == "expired"
    client.close()
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    proc = run("store", "purge", "--config", str(cfg), "--older-than", "2999-01-01")
    # (an expired item is one `store requeue` puts back: kept, as failed messages are, unless asked)
    assert proc.stdout.startswith("removed 0 received records and 1 sent records from"), proc.stdout
    proc = run("store", "purge", "--config", str(cfg), "--older-than", "2999-01-01", "--include-failed")
    assert proc.stdout.startswith("removed 0 received records and 0 sent records, 1 finished outbox items"), proc.stdout


def test_a_second_worker_never_takes_what_a_live_one_is_sending(tmp_path):
    path = tmp_path / "vasp.db"
    with Simulator(SimulatorConfig()) as sim:
        first = Outbox(mm7.Client(sim.url, store=mm7.SqliteStore(path)), poll=0.05)
        second = Outbox(mm7.Client(sim.url, store=mm7.SqliteStore(path)), poll=0.05)
        rounds: list[list] = []  # what each of the second worker's rounds ended with
        looked = threading.Event()
        second_round, first_send = second.run_once, first._send

        def counted(now=None):
            took = second_round(now)
            rounds.append(took)
            if len(rounds) >= 2:
                looked.set()
            return took

        def held(item, *args, **kwargs):
            # The item claimed, its send waits until the second worker has looked at the queue twice
            # (a fixed pause proved nothing on a machine too busy to run the second worker meanwhile).
            looked.wait(30)
            return first_send(item, *args, **kwargs)

        second.run_once, first._send = counted, held
        first.start()
        item = first.put(mm7.SubmitReq(recipients=["1"]))
        deadline = time.monotonic() + 30
        while first.store.outbox_get(item.id).state != "sending" and time.monotonic() < deadline:
            time.sleep(0.01)
        second.start()  # (a restart overlapping)
        deadline = time.monotonic() + 40
        while first.store.outbox_get(item.id).state != "sent" and time.monotonic() < deadline:
            time.sleep(0.02)
        seen = len(rounds)  # a round begun after "sent" has ended: whatever the second took, it has sent
        while len(rounds) < seen + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        for worker in (first, second):
            worker.stop()
            worker.client.close()
            worker.store.close()
        assert looked.is_set() and len(rounds) >= seen + 2, rounds
        assert rounds and all(took == [] for took in rounds), rounds  # the second took nothing
        assert len(sim.messages) == 1  # sent once


def test_stop_stops_between_items_and_start_starts_again(store):
    with Simulator(SimulatorConfig()) as sim:
        arrived, release = threading.Event(), threading.Event()

        def first_held():  # (the first request waits, in the MMSC, for stop() to be called)
            arrived.set()
            release.wait(60)

        _gate(sim, first_held)
        outbox = Outbox(mm7.Client(sim.url, store=store), poll=0.05)
        ours = sorted(i.transaction_id for i in outbox.put_many([mm7.SubmitReq(recipients=[str(n)])
                                                                  for n in range(40)]))

        def taken() -> list[str]:
            # Each request of ours the MMSC took (a request sent twice: twice), and only ours: a
            # request of another process reaching this port tells nothing of the outbox.
            return sorted(got.transaction_id for got in list(sim.messages.values()) if got.transaction_id in ours)

        outbox.start()
        assert arrived.wait(60)
        outbox.stop(timeout=0)  # told while the first is in flight
        release.set()
        outbox.stop(timeout=30)
        assert not outbox._thread.is_alive()  # (its round is over: nothing more goes out)
        # The one in flight finished and was recorded; nothing more went; the rest is back in the queue.
        assert taken() == [i.transaction_id for i in store.outbox() if i.state == "sent"] and len(taken()) == 1
        assert sorted(i.state for i in store.outbox()) == ["queued"] * 39 + ["sent"]
        outbox.start()
        deadline = time.monotonic() + 60
        while store.outbox_counts()["sent"] < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        outbox.stop()
        assert taken() == ours and {i.state for i in store.outbox()} == {"sent"}  # each once


def test_a_restart_tries_at_once_what_waits_for_another_round(store):
    # The MMSC refuses our credentials; they are rotated in the configuration and serve restarted:
    # the queued message goes then, not after the pause its last failure set (up to an hour).
    with Simulator(SimulatorConfig(auth=mm7.auth.BasicAuth("sp", "new"))) as sim:
        old = mm7.Client(sim.url, store=store, username="sp", password="old", retry=mm7.RetryPolicy.never())
        outbox = Outbox(old)
        item = outbox.put(mm7.SubmitReq(recipients=["1"]))
        later = outbox.put(mm7.SubmitReq(recipients=["2"]), at=utcnow() + timedelta(hours=2))  # a campaign's hour
        [done] = outbox.run_once()
        assert (done.state, done.attempts) == ("queued", 1) and "401" in done.error and done.next_at > utcnow()
        old.close()
        new = mm7.Client(sim.url, store=store, username="sp", password="new")
        restarted = Outbox(new)
        restarted.start()
        restarted.stop()
        Outbox(new).run_once()  # (what the worker's thread did not send before it stopped)
        assert store.outbox_get(item.id).state == "sent" and len(sim.messages) == 1
        held = store.outbox_get(later.id)  # one never tried keeps its time
        assert (held.state, held.attempts, held.next_at) == ("queued", 0, later.next_at)
        new.close()


def test_long_outages_keep_their_pauses_bounded_and_stale_items_are_not_sent(store):
    with Simulator(SimulatorConfig()) as sim:
        dead = mm7.Client("http://127.0.0.1:9/mm7", store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(dead, max_age=timedelta(days=30))
        item = outbox.put(mm7.SubmitReq(recipients=["1"]))
        now = utcnow()
        for _ in range(60):  # 2 ** 59 pauses of 30 s would overflow
            now = store.outbox_get(item.id).next_at + timedelta(seconds=1)
            outbox.run_once(now)
        got = store.outbox_get(item.id)
        assert got.state == "queued" and got.attempts == 60 and got.next_at - now <= timedelta(hours=1)
        # A worker that comes back two days after an item's deadline does not send it.
        late = Outbox(mm7.Client(sim.url, store=store), max_age=timedelta(hours=1))
        stale = late.put(mm7.SubmitReq(recipients=["2"]))
        late.run_once(utcnow() + timedelta(days=2))
        assert store.outbox_get(stale.id).state == "expired"
        assert "2" not in [str(a) for m in sim.messages.values() for a in m.request.recipients]
        late.client.close()
        dead.close()


def test_while_no_mmsc_answers_the_queue_waits_as_a_whole_and_says_so_once(store, caplog):
    """A dead link: one item is tried per round, not all of them (each would cost its timeouts and
    its log lines); the pauses double; the first answer lets the rest go at once."""
    import logging

    with Simulator(SimulatorConfig()) as sim:
        dead = mm7.Client("http://127.0.0.1:9/mm7", store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(dead, first_retry=timedelta(seconds=30), max_retry=timedelta(minutes=10))
        for n in range(5):
            outbox.put(mm7.SubmitReq(recipients=[str(n)]))
        now = utcnow()
        with caplog.at_level(logging.INFO, logger="mm7bind.outbox"):
            assert len(outbox.run_once(now)) == 1 and outbox.held_until == now + timedelta(seconds=30)
            assert outbox.run_once(now + timedelta(seconds=29)) == []  # held: nothing tried
            assert len(outbox.run_once(now + timedelta(seconds=31))) == 1
            assert outbox.held_until == now + timedelta(seconds=31 + 60)  # (doubling)
            alive = Outbox(mm7.Client(sim.url, store=store))
            alive.held_until, alive._outage_rounds = outbox.held_until, outbox._outage_rounds
            assert alive.run_once(now + timedelta(seconds=91)) != []  # the link is back
        said = [(r.levelname, r.getMessage()) for r in caplog.records
                if r.name == "mm7bind.outbox" and not r.getMessage().startswith("outbox #")]
        assert [level for level, _ in said] == ["WARNING", "INFO", "INFO"], said
        assert said[0][1].startswith("outbox: no MMSC answered (cannot connect to http://127.0.0.1:9/mm7")
        assert said[0][1].endswith("5 item(s) waiting") and said[1][1].startswith("outbox: still no MMSC answered")
        assert said[2][1] == "outbox: an MMSC answers again; sending goes on"
        assert alive.held_until is None and store.outbox_counts()["sent"] == 5
        alive.client.close()
        dead.close()


@pytest.mark.parametrize("http_status", [502, 503, 504])
@pytest.mark.parametrize("on_timeout", [True, False])
def test_a_gateway_finding_no_mmsc_holds_the_queue_as_a_dead_link_does(store, http_status, on_timeout):
    """A proxy or load balancer in front of the MMSC answering 502, 503 or 504 says no MMSC is
    there to answer: the next item would get the same, so the queue waits as a whole. The item
    itself goes as the one rule says: a 503 took nothing (tried again), a 502 or 504 may have
    arrived (not sent again without retries on timeout)."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy(max_attempts=1, on_timeout=on_timeout))
        outbox = Outbox(client, first_retry=timedelta(seconds=30))
        for n in range(3):
            outbox.put(mm7.SubmitReq(recipients=[str(n)]))
        sim.fail_next(1, http_status=http_status)
        now = utcnow()
        [tried] = outbox.run_once(now)  # the others wait with it
        assert outbox.held_until == now + timedelta(seconds=30) and f"HTTP {http_status}" in tried.error
        assert tried.state == ("queued" if http_status == 503 or on_timeout else "failed")
        assert store.outbox_counts()["queued"] == (3 if tried.state == "queued" else 2)
        assert len(outbox.run_once(now + timedelta(seconds=31))) == 3 - (tried.state == "failed")
        assert outbox.held_until is None and store.outbox_counts()["sent"] == 3 - (tried.state == "failed")
        client.close()


def test_the_mmscs_own_failure_page_holds_no_queue(store):
    """A 500 without a Fault is the MMSC answering about this request (one it chokes on, say): the
    others still go."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client)
        for n in range(3):
            outbox.put(mm7.SubmitReq(recipients=[str(n)]))
        sim.fail_next(1, http_status=500)
        assert [i.state for i in outbox.run_once()] == ["queued", "sent", "sent"]
        assert outbox.held_until is None
        client.close()


def test_a_batch_of_none_is_refused_not_a_round_that_never_ends(store):
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    with pytest.raises(ValueError, match="batch must be a whole number, from 1 to 10000"):
        Outbox(client, batch=0)
    client.close()


@pytest.mark.parametrize("batch", [10_001, 10**30])
def test_a_batch_beyond_the_bound_is_refused_not_claimed_for_decades(store, batch):
    """A batch is held under one lease, as long as sending all of it can take: a million claimed every
    item due for 87 years (never taken up again if the worker died); 10**30 failed each round with an
    OverflowError from SQLite. Bounded as concurrency is (client.MAX_POOL_SIZE)."""
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    with pytest.raises(ValueError, match=rf"^batch must be a whole number, from 1 to 10000, not {batch}$"):
        Outbox(client, batch=batch)
    assert Outbox(client, batch=10_000).batch == 10_000
    client.close()


@pytest.mark.parametrize("setting, value", [("batch", float("nan")), ("batch", 2.5), ("concurrency", float("nan")),
                                            ("concurrency", True), ("concurrency", 0),
                                            ("max_retry", timedelta(days=999_999_999))])
def test_an_outbox_count_or_pause_that_cannot_work_is_refused_when_made(store, setting, value):
    """A NaN concurrency or batch passed "< 1"; a max_retry past a thousand years made a retry's
    time past the year 9999 (an OverflowError, that round ended). Refused, naming the setting."""
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    with pytest.raises(ValueError, match=f"^{setting} must be "):
        Outbox(client, **{setting: value})
    client.close()


def test_a_retry_after_many_rounds_of_a_long_first_retry_waits_max_retry(store):
    """A first_retry of a day doubled 32 times is past what a timedelta holds: the 33rd failed
    round raised an OverflowError, and the item was never rescheduled; it waits max_retry."""
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    outbox = Outbox(client, first_retry=timedelta(days=1), max_retry=timedelta(days=30))
    assert outbox._pause(40) == timedelta(days=30) and outbox._pause(2) == timedelta(days=2)
    client.close()


@pytest.mark.parametrize("setting, value", [("concurrency", 0), ("concurrency", float("nan")), ("concurrency", 2.5),
                                            ("keep", -1), ("keep", float("nan")), ("stop_after_unreachable", -1)])
def test_a_campaign_count_that_cannot_work_is_refused_before_sending(store, setting, value):
    """send_bulk took a concurrency of 0, NaN or -3 as 1 without a word, kept all but the last
    results for a negative keep, and stopped at the first unreachable request for a negative
    stop_after_unreachable: refused before anything is sent, naming the setting."""
    from mm7bind.bulk import send_bulk

    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    with pytest.raises(ValueError, match=f"^{setting} must be a whole number"):
        send_bulk(client, mm7.SubmitReq(subject="x"), ["+8613800000000"], **{setting: value})
    assert not list(store.sent())
    client.close()


def test_a_concurrency_past_the_client_s_bound_is_refused_as_send_concurrency_is(tmp_path, store):
    """`[outbox] concurrency`, `Outbox(concurrency=)` and `send_bulk(concurrency=)` took any whole
    number (10**9: a thread an item or request in flight, until the machine gave out), where
    `send --concurrency` takes 1 to client.MAX_POOL_SIZE. Bounded alike, the setting and range named."""
    from mm7bind.bulk import send_bulk
    from mm7bind.client import MAX_POOL_SIZE
    from mm7bind.config import load

    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    assert Outbox(client, concurrency=MAX_POOL_SIZE).concurrency == MAX_POOL_SIZE
    for too_many in (MAX_POOL_SIZE + 1, 10**9):
        with pytest.raises(ValueError) as err:
            Outbox(client, concurrency=too_many)
        assert str(err.value) == f"concurrency must be a whole number, from 1 to {MAX_POOL_SIZE}, not {too_many}"
        with pytest.raises(ValueError) as err:
            send_bulk(client, mm7.SubmitReq(subject="x"), ["+8613800000000"], concurrency=too_many)
        assert str(err.value) == f"concurrency must be a whole number, from 1 to {MAX_POOL_SIZE}, not {too_many}"
    assert not list(store.sent())  # (refused before anything was sent)
    client.close()

    cfg_file = tmp_path / "mm7bind.toml"
    refused = f"error: outbox.concurrency: must be from 1 to {MAX_POOL_SIZE}"
    for given, said in ((MAX_POOL_SIZE, []), (MAX_POOL_SIZE + 1, [refused])):
        cfg_file.write_text(f'[outbox]\nconcurrency = {given}\n', encoding="utf-8")
        assert [str(p) for p in load(cfg_file, env={})[1]] == said
    _, problems = load(None, env={"MM7BIND_OUTBOX_CONCURRENCY": "1000000000"})
    assert [str(p) for p in problems] == [refused.replace("outbox.concurrency", "MM7BIND_OUTBOX_CONCURRENCY "
                                                                                "(outbox.concurrency)")]


def test_an_item_that_cannot_be_sent_at_all_says_nothing_of_an_outage(store, caplog):
    """An item the client cannot even build (a profile changed since it was put in: too large now)
    reached no MMSC: it must not end a hold as an answer does ("an MMSC answers again"), which sent
    the next item to the dead link at once and started the pauses over from the first."""
    import dataclasses
    import logging

    from .fake_http import dead_url

    url, never = dead_url(), mm7.RetryPolicy.never()
    roomy = mm7.Client(url, store=store, retry=never)
    outbox = Outbox(roomy, first_retry=timedelta(seconds=30))
    outbox.put(mm7.SubmitReq(recipients=["1"]))
    outbox.put(mm7.SubmitReq(recipients=["2"], content=mm7.Content(parts=[mm7.Part.text("x" * 5000)])))
    outbox.put(mm7.SubmitReq(recipients=["3"]))
    now = utcnow()
    outbox.run_once(now)  # the first finds the link dead
    assert outbox.held_until == now + timedelta(seconds=30)
    outbox.client = mm7.Client(url, store=store, retry=never,
                               profile=dataclasses.replace(roomy.config.profile, max_message_size=4000))
    later = now + timedelta(seconds=31)
    with caplog.at_level(logging.INFO, logger="mm7bind.outbox"):
        states = [i.state for i in outbox.run_once(later)]
    assert states == ["failed", "queued"]  # the second cannot be built; the third finds the link dead
    assert "answers again" not in caplog.text
    assert outbox.held_until == later + timedelta(seconds=60)  # the outage goes on, its pauses doubling
    roomy.close()
    outbox.client.close()


def test_an_item_that_expired_unsent_says_nothing_of_an_outage(store):
    dead = mm7.Client("http://127.0.0.1:9/mm7", store=store, retry=mm7.RetryPolicy.never())
    outbox = Outbox(dead, max_age=timedelta(seconds=1))
    outbox.put(mm7.SubmitReq(recipients=["1"]))
    [tried] = outbox.run_once()
    assert tried.state == "queued" and outbox.held_until is not None
    [expired] = outbox.run_once(utcnow() + timedelta(days=2))  # (not sent: too late)
    assert expired.state == "expired" and outbox.held_until is not None  # the outage is not over for it
    dead.close()


def test_without_retries_on_timeout_an_item_that_may_have_arrived_is_not_sent_again(store):
    """retry_on_timeout off: an item whose request went out and got no answer ends failed (the
    operator may requeue it), where by default it waits for another round; one no MMSC took at all
    (refused connections) still does."""
    from .fake_http import FakeServer, Reply, dead_url

    with FakeServer(lambda req: Reply(drop=True)) as mmsc:
        for on_timeout, state in ((False, "failed"), (True, "queued")):
            retry = mm7.RetryPolicy(max_attempts=1, on_timeout=on_timeout)
            outbox = Outbox(mm7.Client(mmsc.url, store=store, retry=retry))
            item = outbox.put(mm7.SubmitReq(recipients=["+8613800000000"]))
            [done] = outbox.run_once()
            assert (done.id, done.state) == (item.id, state)
        assert "it may have arrived" in store.outbox_get(1).error and len(mmsc.requests) == 2
    outbox = Outbox(mm7.Client(dead_url(), store=store, retry=mm7.RetryPolicy(max_attempts=1, on_timeout=False)))
    item = outbox.put(mm7.SubmitReq(recipients=["+8613800000000"]))
    assert [(i.id, i.state) for i in outbox.run_once()] == [(item.id, "queued")]


def _busy_mmsc(retry_after: str | None):
    """An MMSC answering SubmitReq with status 4006 in a SubmitRsp (HTTP 200), as rate limiters do."""
    from .fake_http import FakeServer, mm7_reply

    def responder(req):
        reply = mm7_reply(mm7.SubmitRsp(status=mm7.Status(4006, "Service unavailable: rate limit"), message_id="-"),
                          req.decode())
        if retry_after is not None:
            reply.headers["Retry-After"] = retry_after
        return reply

    return FakeServer(responder)


@pytest.mark.parametrize("how", ["fault", "response"])
def test_an_mmsc_saying_it_is_unavailable_holds_the_queue(store, caplog, how):
    """4006 (an overload, a rate limit) says nothing of the request and everything of the MMSC:
    the next item would get it too, and adds to its load. The queue waits as a whole, as for a dead
    link; the item itself is tried again (the MMSC took nothing)."""
    import logging

    with Simulator(SimulatorConfig()) as sim, _busy_mmsc(None) as busy:
        client = mm7.Client(sim.url if how == "fault" else busy.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, first_retry=timedelta(seconds=30))
        for n in range(3):
            outbox.put(mm7.SubmitReq(recipients=[str(n)]))
        sim.fail_next(1, status=4006)
        now = utcnow()
        with caplog.at_level(logging.INFO, logger="mm7bind.outbox"):
            [tried] = outbox.run_once(now)  # the others wait with it
        assert (tried.state, tried.status_code) == ("queued", 4006)
        assert outbox.held_until == now + timedelta(seconds=30) and store.outbox_counts()["queued"] == 3
        [said] = [r for r in caplog.records if r.getMessage().startswith("outbox: no MMSC available (")]
        assert said.levelname == "WARNING" and "4006" in said.getMessage()
        assert outbox.run_once(now + timedelta(seconds=29)) == []
        if how == "response":
            client.close()
            client = outbox.client = mm7.Client(sim.url, store=store)
        assert [i.state for i in outbox.run_once(now + timedelta(seconds=31))] == ["sent"] * 3
        assert outbox.held_until is None
        client.close()


def test_a_hold_ends_when_another_sender_on_the_store_has_a_request_accepted_by_the_mmsc(store, caplog):
    """Two workers on one store, both held by 4006, their pauses grown apart: once one of them has
    a request accepted, the other's hold ends at its next round — it waited out its own pause, the
    MMSC back. An acceptance by another MMSC, or one before the hold's last failure, tells nothing."""
    import logging

    from mm7bind.store import SentRecord

    with Simulator(SimulatorConfig()) as sim, mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never()) as a, \
            mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never()) as b:
        quick = Outbox(a, first_retry=timedelta(seconds=10))
        slow = Outbox(b, first_retry=timedelta(seconds=300))
        quick.put(mm7.SubmitReq(recipients=["1"]))
        quick.put(mm7.SubmitReq(recipients=["2"]))
        sim.fail_next(2, status=4006)
        now = utcnow()
        [held_quick] = quick.run_once(now)
        store.record_sent(SentRecord("elsewhere", "SubmitReq", "REL-6-MM7-1-4", ["3"], url="http://other.example/mm7",
                                     status_code=1000))  # (another MMSC's acceptance)
        [held_slow] = slow.run_once(now)
        assert (held_quick.status_code, held_slow.status_code) == (4006, 4006)
        assert slow.held_until == now + timedelta(seconds=300)
        assert slow.run_once(now + timedelta(seconds=11)) == [] and slow.held_until is not None
        assert [i.state for i in quick.run_once(now + timedelta(seconds=11))] == ["sent"]  # (its own item)
        late = slow.put(mm7.SubmitReq(recipients=["4"]))
        with caplog.at_level(logging.INFO, logger="mm7bind.outbox"):
            assert [(i.id, i.state) for i in slow.run_once(now + timedelta(seconds=12))] == [(late.id, "sent")]
        assert slow.held_until is None
        assert "another sender on this store had a request accepted by the MMSC; sending goes on" in caplog.text


@pytest.mark.parametrize(("fault_code", "held"), [("Server", True), ("Client", False)])
def test_a_fault_without_a_status_over_503_holds_the_queue_if_it_is_the_server_s(store, fault_code, held):
    from .fake_http import FakeServer, mm7_reply

    def unavailable(req):
        return mm7_reply(mm7.Fault(code=fault_code, string="no capacity"), req.decode(), 503)

    with FakeServer(unavailable) as srv:
        client = mm7.Client(srv.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, first_retry=timedelta(seconds=30))
        for n in range(2):
            outbox.put(mm7.SubmitReq(recipients=[str(n)]))
        now = utcnow()
        done = outbox.run_once(now)
        assert len(done) == (1 if held else 2)
        assert outbox.held_until == (now + timedelta(seconds=30) if held else None)
        client.close()


@pytest.mark.parametrize(("trouble", "retry_after", "held_for"), [
    ({"status": 4006}, 120, 120),  # longer than the pause: as the MMSC asks
    ({"status": 4006}, 10, 30),  # shorter: the outbox's own pause (the client, too, waits the longer)
    ({"status": 4006}, 86400, 600),  # a day: no longer than max_retry
    ({"http_status": 503}, 90, 90),  # an unavailable MMSC or gateway, with Retry-After
])
def test_the_hold_honours_retry_after_within_bounds(store, trouble, retry_after, held_for):
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, first_retry=timedelta(seconds=30), max_retry=timedelta(minutes=10))
        for n in range(2):
            outbox.put(mm7.SubmitReq(recipients=[str(n)]))
        sim.fail_next(1, retry_after=retry_after, **trouble)
        now = utcnow()
        assert len(outbox.run_once(now)) == 1
        assert outbox.held_until == now + timedelta(seconds=held_for)
        client.close()


def test_a_4006_in_a_response_with_retry_after_holds_as_long_as_asked(store):
    with _busy_mmsc("45") as busy:
        client = mm7.Client(busy.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, first_retry=timedelta(seconds=30))
        outbox.put(mm7.SubmitReq(recipients=["1"]))
        outbox.put(mm7.SubmitReq(recipients=["2"]))
        now = utcnow()
        [tried] = outbox.run_once(now)
        assert tried.status_code == 4006 and outbox.held_until == now + timedelta(seconds=45)
        assert len(busy.requests) == 1
        client.close()


@pytest.mark.parametrize("code", [3000, 3002])
def test_a_server_error_about_one_request_holds_no_queue(store, code):
    """3xxx says what became of this request (one the MMSC chokes on, say): it waits for its own
    next round; the others still go."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client)
        for n in range(3):
            outbox.put(mm7.SubmitReq(recipients=[str(n)]))
        sim.fail_next(1, status=code, retry_after=60)
        now = utcnow()
        ended = outbox.run_once(now)
        assert [(i.state, i.status_code) for i in ended] == [("queued", code), ("sent", 1000), ("sent", 1000)]
        assert outbox.held_until is None
        assert ended[0].next_at == now + timedelta(seconds=60)  # (its own pause: as long as the MMSC asked)
        client.close()


@pytest.mark.parametrize("pause", [0, -1, float("nan"), float("inf"), 1e10, 1e308, 10**30, "1", True])
def test_a_pause_between_rounds_that_is_none_or_endless_is_refused(store, pause):
    """A poll of 0 (or less, or NaN) ran round after round with no pause — some hundred thousand
    store queries a second — and an infinite one, or one past what a wait can hold (1e10, 10**30:
    an OverflowError), ended the worker at its first wait, leaving the queue unsent. Retention's
    `every` is the same pause; a year is still taken."""
    from mm7bind.client import MAX_TIMEOUT
    from mm7bind.store import Retention

    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    with pytest.raises(ValueError, match=rf"^poll must be a positive number of seconds, at most {MAX_TIMEOUT} "
                                         r"\(a year\), not "):
        Outbox(client, poll=pause)
    with pytest.raises(ValueError, match=r"^every must be a positive number of seconds, at most .*, not "):
        Retention(store, keep=timedelta(days=1), every=pause)
    assert Outbox(client, poll=0.5).interval == 0.5
    assert Retention(store, keep=timedelta(days=1), every=MAX_TIMEOUT).interval == MAX_TIMEOUT
    client.close()


def test_listing_the_outbox_reads_one_item_at_a_time(tmp_path, capsys):
    """`store outbox --limit 100000` on a queued campaign: every item holds its request, attachments
    and all, and the listing held them all at once."""
    import os
    import tracemalloc

    from mm7bind.cli import main
    from mm7bind.store import SqliteStore

    store = SqliteStore(tmp_path / "vasp.db")
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)  # (nothing is sent)
    content = mm7.Content()
    content.add_bytes(os.urandom(256 * 1024), "application/octet-stream", filename="big.bin")
    count = 24
    Outbox(client).put_many([mm7.SubmitReq(recipients=[f"+86138000000{i:02d}"], content=content)
                             for i in range(count)], tag="big")
    client.close()
    store.close()
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n')
    assert main(["store", "outbox", "--config", str(tmp_path / "cfg.toml"), "--limit", "1"]) == 0  # (imports done)
    for output in (["--json"], []):
        capsys.readouterr()
        tracemalloc.start()
        try:
            code = main(["store", "outbox", "--config", str(tmp_path / "cfg.toml"), "--limit", "100000", *output])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        listed = capsys.readouterr().out
        assert code == 0 and listed.count("queued") == count, listed
        assert peak < count * 256 * 1024 / 3, f"{peak} bytes at the peak for {count} items of 256 KiB"


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_queued_campaign_resumes_without_reading_the_queued_requests(tmp_path, monkeypatch, kind):
    """Who is already queued under a tag comes from the items' recipients alone: reading every item
    (its request, attachments and all) to learn it needed gigabytes for a large campaign."""
    from mm7bind import bulk

    store = mm7.SqliteStore(tmp_path / "vasp.db") if kind == "sqlite" else mm7.MemoryStore()
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store, retry=mm7.RetryPolicy.never())
    outbox = Outbox(client)
    template = mm7.SubmitReq(subject="c", content=mm7.Content(parts=[mm7.Part.from_bytes(b"x" * 4096, "image/png")]))
    assert bulk.queue_bulk(outbox, template, ["+861", "+862"], tag="c").sent == 2
    bulk.queue_bulk(outbox, template, ["+863"], tag="other")

    def no_items(*args, **kwargs):
        raise AssertionError("read every queued request")

    monkeypatch.setattr(store, "outbox", no_items)
    again = bulk.queue_bulk(outbox, template, ["+861", "+862", "+863", "+864"], tag="c")
    assert (again.sent, again.skipped) == (2, 2)  # +863 was queued under another tag
    assert store.outbox_recipients("c", ("queued",)) == {"+861", "+862", "+863", "+864"}
    client.close()
    store.close()


def test_the_mmscs_error_page_forges_no_outbox_log_line(store, caplog):
    import logging

    from .fake_http import FakeServer, Reply

    page = Reply(404, b"no\x1b[2J\n2024-01-01 ERROR forged", {"Content-Type": "text/plain"})
    with FakeServer(lambda req: page) as srv, mm7.Client(srv.url, store=store, retry=mm7.RetryPolicy.never()) as client:
        outbox = Outbox(client, max_age=timedelta(minutes=5))
        outbox.put(mm7.SubmitReq(recipients=["1"], subject="a"))
        with caplog.at_level(logging.INFO, logger="mm7bind.outbox"):
            [first] = outbox.run_once()
            [done] = outbox.run_once(utcnow() + timedelta(minutes=6))
    assert (first.state, done.state) == ("queued", "expired") and "\x1b" in done.error  # (recorded as it came)
    lines = [r.getMessage() for r in caplog.records if r.name == "mm7bind.outbox"]
    assert any("not sent" in line for line in lines) and any("expired after" in line for line in lines)
    assert not any("\n" in line or "\x1b" in line for line in lines), lines


def test_send_says_a_store_it_cannot_write_in_one_line(tmp_path, monkeypatch, capsys):
    """`send --queue`, or `send --tag` to one recipient, on a store another process holds locked past
    the wait (or a full disk): one line saying nothing was queued or sent, exit 2, not a traceback."""
    import json
    import sqlite3

    from mm7bind.cli import main
    from mm7bind.store import SqliteStore

    def locked(*args, **kw):
        raise sqlite3.OperationalError("database is locked")

    (tmp_path / "cfg.toml").write_text(f'[mmsc]\nurls = ["http://127.0.0.1:9/mm7"]\n'
                                       f'[store]\npath = "{(tmp_path / "s.db").as_posix()}"\n')
    monkeypatch.setattr(SqliteStore, "outbox_put_many", locked)
    monkeypatch.setattr(SqliteStore, "send_claim", locked)
    common = ["send", "--config", str(tmp_path / "cfg.toml"), "--text", "x", "--tag", "newyear"]
    assert main([*common, "--to", "1381", "--to", "1382", "--queue"]) == 2
    err = capsys.readouterr().err
    assert err == "mm7bind send: not queued: the store failed: database is locked\n", err
    assert main([*common, "--to", "1381"]) == 2
    assert capsys.readouterr().err == "mm7bind send: not sent: the store failed: database is locked\n"
    assert main([*common, "--to", "1381", "--json"]) == 2
    got = json.loads(capsys.readouterr().out)
    assert got["ok"] is False and got["error"] == "OperationalError"


def test_a_direct_run_says_what_it_skipped_is_queued_not_that_it_was_accepted(tmp_path, capsys):
    """`send --tag` after `send --tag --queue` of the same campaign skips what waits in the outbox:
    it said "the MMSC already accepted" them, when none had gone yet."""
    from mm7bind import bulk
    from mm7bind.cli import main
    from mm7bind.store import SqliteStore

    with Simulator(SimulatorConfig()) as sim:
        store = SqliteStore(tmp_path / "vasp.db")
        with mm7.Client(sim.url, store=store) as client:
            bulk.queue_bulk(Outbox(client), mm7.SubmitReq(subject="s"), ["+8613800000001", "+8613800000002"],
                            tag="newyear")
        store.close()
        (tmp_path / "cfg.toml").write_text(f'[mmsc]\nurls = ["{sim.url}"]\n'
                                           f'[store]\npath = "{(tmp_path / "vasp.db").as_posix()}"\n')
        (tmp_path / "to.csv").write_text("+8613800000001\n+8613800000002\n+8613800000003\n")
        assert main(["send", "--config", str(tmp_path / "cfg.toml"), "--to-file", str(tmp_path / "to.csv"),
                     "--text", "x", "--tag", "newyear", "--quiet"]) == 0
        out = capsys.readouterr().out
        assert "skipped 2 recipients already accepted, queued or being sent under tag 'newyear'" in out, out
        assert len(sim.messages) == 1


def test_listing_the_outbox_of_one_tag(tmp_path, capsys):
    """`store outbox --tag` lists one campaign's items, as `store sent --tag` lists its records."""
    from mm7bind.cli import main
    from mm7bind.store import SqliteStore

    store = SqliteStore(tmp_path / "vasp.db")
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)  # (nothing is sent)
    outbox = Outbox(client)
    outbox.put_many([mm7.SubmitReq(recipients=[f"+8613800000{i}"]) for i in range(3)], tag="spring")
    outbox.put(mm7.SubmitReq(recipients=["+86139"]), tag="autumn")
    outbox.put(mm7.SubmitReq(recipients=["+86137"]))
    client.close()
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "vasp.db"}"\n')

    capsys.readouterr()
    assert main(["store", "outbox", "--config", str(cfg), "--tag", "spring", "--json"]) == 0
    assert [i["tag"] for i in json.loads(capsys.readouterr().out)] == ["spring"] * 3
    assert main(["store", "outbox", "--config", str(cfg), "--tag", "autumn"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 1 and " autumn " in lines[0], lines
    assert main(["store", "outbox", "--config", str(cfg), "--tag", "winter"]) == 0
    assert capsys.readouterr().out.strip() == "the outbox holds nothing that matches"


def _gate(sim, on_arrival):
    """Have `sim` call `on_arrival()` in each request's thread before it answers; → the most
    requests it saw in flight at once."""
    lock, counts = threading.Lock(), {"now": 0, "most": 0}
    door = sim._refused_at_the_door

    def arriving(*args, **kwargs):
        with lock:
            counts["now"] += 1
            counts["most"] = max(counts["most"], counts["now"])
        try:
            on_arrival()
        finally:
            with lock:
                counts["now"] -= 1
        return door(*args, **kwargs)

    sim._refused_at_the_door = arriving
    return counts


def test_with_concurrency_several_items_are_in_flight_at_once(store):
    with Simulator(SimulatorConfig()) as sim:
        barrier = threading.Barrier(3, timeout=10)  # (sending one at a time, it breaks: the test fails)

        def together():
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()

        counts = _gate(sim, together)
        outbox = Outbox(mm7.Client(sim.url, store=store), concurrency=3)
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(6)])
        done = outbox.run_once()
        outbox.client.close()
        assert not barrier.broken and counts["most"] == 3
        assert sorted(i.state for i in done) == ["sent"] * 6 and len(sim.messages) == 6


def test_concurrent_workers_send_nothing_twice(tmp_path):
    path = tmp_path / "vasp.db"
    with Simulator(SimulatorConfig()) as sim:
        outboxes = [Outbox(mm7.Client(sim.url, store=mm7.SqliteStore(path)), concurrency=4) for _ in range(2)]
        outboxes[0].put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(40)])
        threads = [threading.Thread(target=o.run_once) for o in outboxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        tids = [got.transaction_id for got in sim.messages.values()]
        assert len(tids) == 40 and len(set(tids)) == 40
        assert {i.state for i in outboxes[0].store.outbox()} == {"sent"}
        for o in outboxes:
            o.client.close()
            o.store.close()


def test_stop_lets_the_sends_in_flight_finish_and_records_them(store):
    with Simulator(SimulatorConfig()) as sim:
        release = threading.Event()
        counts = _gate(sim, lambda: release.wait(60))  # (one at a time: one sent by stop())
        outbox = Outbox(mm7.Client(sim.url, store=store), concurrency=3, poll=0.05)
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(10)])
        outbox.start()
        deadline = time.monotonic() + 20
        while counts["now"] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        outbox.stop(timeout=0)  # told while three are in flight
        release.set()
        outbox.stop(timeout=20)
        assert not outbox._thread.is_alive()
        states = sorted(i.state for i in store.outbox())
        assert states == ["queued"] * 7 + ["sent"] * 3 and len(sim.messages) == 3
        outbox.client.close()


@pytest.mark.parametrize("concurrency", [0, -1])
def test_a_concurrency_below_one_is_refused(store, concurrency):
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store)
        with pytest.raises(ValueError, match="concurrency"):
            Outbox(client, concurrency=concurrency)
        client.close()


def test_the_outbox_s_concurrency_comes_from_the_config_file_or_the_environment(tmp_path, store):
    from mm7bind.config import load

    cfg_file = tmp_path / "mm7bind.toml"
    cfg_file.write_text('[outbox]\nenabled = true\nconcurrency = 3\n', encoding="utf-8")
    cfg, problems = load(cfg_file, env={})
    assert problems == [] and cfg.outbox.concurrency == 3
    cfg, _ = load(cfg_file, env={"MM7BIND_OUTBOX_CONCURRENCY": "5"})
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store)
        assert cfg.make_outbox(client).concurrency == 5
        client.close()
    assert load(None, env={})[0].outbox.concurrency == 1  # one at a time unless asked
    cfg_file.write_text('[outbox]\nconcurrency = 0\n', encoding="utf-8")
    assert [str(p) for p in load(cfg_file, env={})[1]] == ["error: outbox.concurrency: must be from 1 to 10000"]


def test_the_lease_covers_sends_waiting_for_one_of_the_client_s_connections(store):
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, pool_size=2)
        one, within, beyond = (Outbox(client, concurrency=n).lease for n in (1, 2, 5))
        assert one == within and beyond == 3 * one  # three turns for the pool's two connections
        client.close()


@pytest.mark.parametrize("status", [400, 413, 415])
def test_an_http_refusal_of_the_request_as_written_fails_the_item(store, status):
    """Too large for the MMSC (413), malformed to it (400), of a type it does not take (415): the
    same request is refused again, and was tried every round for a day. (A 401, 403 or 404 is
    about our settings: it waits for another round.)"""
    from .fake_http import FakeServer, Reply

    with FakeServer(lambda req: Reply(status, b"no")) as srv, mm7.Client(srv.url, store=store) as client:
        outbox = Outbox(client)
        outbox.put(mm7.SubmitReq(recipients=["+8613800000000"]), transaction_id="ob-refused")
        outbox.put(mm7.SubmitReq(recipients=["+8613800000001"]), transaction_id="ob-later")
        srv.responder = lambda req: Reply(status if req.decode().transaction_id == "ob-refused" else 404, b"no")
        refused, later = outbox.run_once()
    assert (refused.state, refused.attempts) == ("failed", 1) and f"HTTP {status}" in refused.error
    assert later.state == "queued" and "HTTP 404" in later.error


def test_a_send_tries_no_more_than_its_lease_has_time_for(store):
    """Each attempt bounded, the send's retries were not: an MMSC never answering held the item's
    send through every attempt, past its lease (and another worker took the item, and sent it too).
    The send now starts no attempt that could end after the lease (its bounds counted:
    `sendonce.attempt_time`), and the item waits for another round."""
    from mm7bind.sendonce import attempt_time

    from .fake_http import SilentServer

    class ShortLease(Outbox):
        lease = property(lambda self: timedelta(seconds=2))

    with SilentServer() as silent:
        client = mm7.Client(silent.url, store=store, connect_timeout=0.2, read_timeout=0.3, upload_timeout=0.2,
                            retry=mm7.RetryPolicy(max_attempts=20, backoff=0, jitter=0))
        assert attempt_time(client.config) == pytest.approx(1.2)
        outbox = ShortLease(client)
        item = outbox.put(mm7.SubmitReq(recipients=["+8613800000000"]), transaction_id="ob-lease")
        [done] = outbox.run_once()
        client.close()
    rec = store.sent_by_transaction_id("ob-lease")
    assert 1 <= rec.attempts < 20 and rec.error.startswith("RequestTimeout"), rec  # (not every attempt)
    assert (done.id, done.state, done.attempts) == (item.id, "queued", 1) and "no answer within" in done.error


def test_a_send_whose_rate_limit_wait_would_outlast_its_lease_waits_for_another_round(store):
    """The wait for the client's rate limit comes before the first attempt: one past the item's
    lease sends nothing this round (the item queued again, its round not counted) and gives its
    turn back, rather than sending after the lease, beside another worker that took the item."""
    from mm7bind.sendonce import attempt_time

    class ShortLease(Outbox):  # (longer than an attempt at the client's timeouts, shorter than a send's turn)
        lease = property(lambda self: timedelta(seconds=1000))

    with Simulator(SimulatorConfig()) as sim:
        # (the client's own timeouts: an answer slower than a short read_timeout, on a loaded
        # machine, had the first sent twice, or queued again)
        client = mm7.Client(sim.url, store=store, rate_limit=0.0001)  # (a send every 10000 s)
        assert attempt_time(client.config) < 1000
        outbox = ShortLease(client, first_retry=timedelta(seconds=30))
        first = outbox.put(mm7.SubmitReq(recipients=["+8613800000000"]), transaction_id="ob-now")
        second = outbox.put(mm7.SubmitReq(recipients=["+8613800000001"]), transaction_id="ob-later")
        done = outbox.run_once()
        client.close()
    assert [(i.id, i.state, i.attempts) for i in done] == [(first.id, "sent", 1), (second.id, "queued", 0)]
    assert "not sent this round" in done[1].error and done[1].next_at > utcnow() + timedelta(seconds=20)
    assert len(sim.messages) == 1
    [limiter] = client.core.limiters.values()
    # (its turn given back: the next waits what is left of one send's time since the first, not two)
    assert 5000 < limiter.reserve() <= 10000


@pytest.mark.parametrize("concurrency", [1, 2])
def test_stop_ends_a_send_waiting_out_the_rate_limit_and_its_item_goes_back_to_the_queue(store, concurrency):
    """The worker's sends waited out the client's pauses (the rate limit, a backoff, a Retry-After)
    whatever stop() said: serve, told to stop, held on for as long, then left the worker behind."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, rate_limit=0.001)  # (a send every 1000 s)
        [limiter] = client.core.limiters.values()
        take, waiting = limiter.take, threading.Event()

        def taking():
            turn = take()
            if turn.wait > 0:  # (the second send: it is about to wait)
                waiting.set()
            return turn

        limiter.take = taking
        outbox = Outbox(client, concurrency=concurrency, poll=60)
        first, second = outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(2)])
        outbox.start()
        assert waiting.wait(20)
        deadline = time.monotonic() + 20
        while not sim.messages and time.monotonic() < deadline:
            time.sleep(0.02)
        outbox.stop(timeout=20)
        assert not outbox.running()
        # (with two at once, either one may have had the token)
        sent, waited = sorted((store.outbox_get(i.id) for i in (first, second)), key=lambda i: i.state != "sent")
        assert len(sim.messages) == 1 and sent.state == "sent"
        assert (waited.state, waited.attempts) == ("queued", 0) and "worker stopped" in waited.error
        assert waited.next_at <= utcnow()  # due at once for the next worker
        assert limiter.reserve() <= 1000  # (its turn given back: the next send's is the one it waited for)
        client.close()


def test_a_worker_stopped_and_followed_by_another_ends_its_round_by_its_own_stop(store):
    """run_once read the outbox's latest stop flag: after stop() and start() (a reload), the old
    worker, still in its round, went on claiming and sending items beside the new one."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store)
        outbox = Outbox(client, poll=60)
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(3)])
        senders, gates = [], [threading.Event() for _ in range(3)]
        send = client.send

        def gated(msg, **kwargs):
            n = len(senders)
            senders.append(threading.current_thread())
            gates[n].wait(20)
            return send(msg, **kwargs)

        client.send = gated

        def sending(n: int) -> None:
            deadline = time.monotonic() + 20
            while len(senders) < n and time.monotonic() < deadline:
                time.sleep(0.01)

        outbox.start()
        sending(1)
        old = outbox._thread
        outbox.stop(timeout=0)  # told while its send is in flight
        outbox.start()
        sending(2)  # the new worker has the second item
        gates[0].set()
        old.join(20)
        for gate in gates:
            gate.set()
        deadline = time.monotonic() + 20
        while len(sim.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        outbox.stop()
        assert senders.count(old) == 1 and len(sim.messages) == 3
        client.close()


def test_items_in_flight_when_a_hold_begins_are_that_round_of_the_outage_not_further_ones(store):
    """With concurrency N, the N items in flight when the MMSC went down each counted as another
    round of the outage: the queue's pause doubled N - 1 times at once (four at once: 4 minutes,
    not 30 s), with a "still" line for each."""
    with Simulator(SimulatorConfig()) as sim:
        barrier = threading.Barrier(3, timeout=10)

        def together():
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()

        _gate(sim, together)
        sim.fail_next(3, http_status=503)
        outbox = Outbox(mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never()), concurrency=3,
                        first_retry=timedelta(seconds=30))
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(3)])
        now = utcnow()
        done = outbox.run_once(now)
        assert not barrier.broken and [i.state for i in done] == ["queued"] * 3
        assert outbox._outage_rounds == 1 and outbox.held_until == now + timedelta(seconds=30)
        outbox.client.close()


def test_a_campaign_item_in_a_store_of_one_s_own_without_claims_is_sent():
    """The outbox claims a campaign item's recipient where the store can claim (`send_claim`); a
    store of one's own without it sends the item as before, not a round failing for good."""
    from mm7bind.bulk import queue_bulk
    from mm7bind.store import MemoryStore

    class NoClaims:
        def __init__(self):
            self.inner = MemoryStore()

        def __getattr__(self, name):
            if name in ("send_claim", "send_done", "send_claim_get"):
                raise AttributeError(name)
            return getattr(self.inner, name)

    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=NoClaims())
        outbox = Outbox(client)
        queue_bulk(outbox, mm7.SubmitReq(subject="camp"), ["+8613800000001"], tag="camp")
        assert [i.state for i in outbox.run_once()] == ["sent"] and len(sim.messages) == 1
        client.close()


def test_an_item_tried_again_goes_to_the_mmsc_its_unanswered_round_went_to(store):
    """A round whose last MMSC did not answer leaves the message perhaps with that MMSC: the next
    round sends it there (the one MMSC that can recognise the repeat), not to the first one
    configured, which would deliver a second copy; accepted, its record says perhaps twice."""
    from .fake_http import FakeServer, Reply, scripted, times_out_once

    gave_up = threading.Event()
    # (the first took nothing: on to the second MMSC at once, which leaves it unanswered)
    with FakeServer(scripted(Reply(503))) as first, FakeServer(scripted(Reply(hold=gave_up))) as second:
        client = mm7.Client((first.url, second.url), store=store,
                            retry=mm7.RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0))
        times_out_once(client, gave_up, url=second.url)
        outbox = Outbox(client)
        item = outbox.put(mm7.SubmitReq(recipients=["+8613800000000"], subject="once"), transaction_id="ob-twice")
        now = utcnow()
        [tried] = outbox.run_once(now)
        assert tried.state == "queued" and "RequestTimeout" in tried.error
        [sent] = outbox.run_once(now + timedelta(seconds=31))
        client.close()
        assert (sent.id, sent.state) == (item.id, "sent")
        assert len(first.requests) == 1 and len(second.requests) == 2
    rec = store.sent_by_transaction_id("ob-twice")
    assert rec.ok and rec.url == second.url and rec.earlier_unanswered


def test_an_item_kept_to_the_mmsc_that_may_have_it_does_not_hold_the_queue_when_that_one_is_down(store):
    """With several MMSCs, an item that must wait for the one that may have its message (refusing
    connections now) says nothing of the others: the next items are not held up."""
    from .fake_http import FakeServer, Reply

    with FakeServer(lambda req: Reply(delay=1.0)) as silent:
        client = mm7.Client(silent.url, store=store, read_timeout=0.3, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client)
        outbox.put(mm7.SubmitReq(recipients=["+8613800000000"], subject="x"), transaction_id="ob-held")
        [tried] = outbox.run_once()
        client.close()
    assert tried.state == "queued" and "RequestTimeout" in tried.error and outbox.held_until is not None
    with FakeServer() as other:
        client = mm7.Client((other.url, silent.url), store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client)
        after = outbox.put(mm7.SubmitReq(recipients=["+8613800000001"], subject="y"))
        now = utcnow() + timedelta(hours=1)
        done = {i.transaction_id: i for i in outbox.run_once(now)}
        client.close()
        assert other.requests and all(r.decode().transaction_id == after.transaction_id for r in other.requests)
    assert done["ob-held"].state == "queued" and "ConnectError" in done["ob-held"].error
    assert done[after.transaction_id].state == "sent" and outbox.held_until is None
    # Timing out there, every attempt: the next items, starting at that MMSC, would too.
    with FakeServer(lambda req: Reply(delay=1.0)) as slow, FakeServer() as other:
        client = mm7.Client((slow.url, other.url), store=store, read_timeout=0.3,
                            retry=mm7.RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0))
        outbox = Outbox(client)
        outbox.put(mm7.SubmitReq(recipients=["+8613800000002"], subject="z"))
        [tried] = outbox.run_once()
        client.close()
        assert other.requests == []
    assert tried.state == "queued" and "RequestTimeout" in tried.error and outbox.held_until is not None


def test_a_resumed_campaign_sends_a_request_that_got_no_answer_to_the_mmsc_that_may_have_it(store):
    from mm7bind.bulk import send_bulk

    from .fake_http import FakeServer, Reply, scripted, times_out_once

    gave_up = threading.Event()
    with FakeServer(scripted(Reply(503))) as first, FakeServer(scripted(Reply(hold=gave_up))) as second:
        client = mm7.Client((first.url, second.url), store=store,
                            retry=mm7.RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0))
        times_out_once(client, gave_up, url=second.url)
        template = mm7.SubmitReq(subject="camp")
        stopped = send_bulk(client, template, ["+8613800000001"], tag="resume")
        assert (stopped.failed, stopped.may_have_arrived) == (1, 1)
        resumed = send_bulk(client, template, ["+8613800000001"], tag="resume")
        client.close()
        assert (resumed.sent, resumed.earlier_unanswered) == (1, 1)
        assert len(first.requests) == 1 and len(second.requests) == 2
        assert {r.decode().transaction_id for r in second.requests} == {first.requests[0].decode().transaction_id}


def test_a_resumed_campaign_sends_a_request_refused_after_an_unanswered_attempt_under_its_transaction_id(store):
    """Refused only after an attempt that got no answer, the MMSC may have the message all the same:
    resumed, it goes again under the TransactionID it had, to that MMSC, not as a new request."""
    from mm7bind.bulk import send_bulk

    from .fake_http import FakeServer, Reply, default_responder, mm7_reply, scripted, times_out_once

    gave_up = threading.Event()
    second_replies = iter([Reply(hold=gave_up), "busy"])

    def second_answer(req):
        reply = next(second_replies, None)
        if reply == "busy":
            return mm7_reply(mm7.SubmitRsp(status=mm7.Status(3000), message_id="-"), req.decode())
        return reply or default_responder(req)

    with FakeServer(scripted(Reply(503))) as first, FakeServer(second_answer) as second:
        client = mm7.Client((first.url, second.url), store=store,
                            retry=mm7.RetryPolicy(max_attempts=3, backoff=0.0, jitter=0.0))
        times_out_once(client, gave_up, url=second.url)
        template = mm7.SubmitReq(subject="camp")
        stopped = send_bulk(client, template, ["+8613800000001"], tag="refused")
        assert stopped.failed == 1 and stopped.failures[0][1].startswith("3000")
        resumed = send_bulk(client, template, ["+8613800000001"], tag="refused")
        client.close()
        assert (resumed.sent, resumed.earlier_unanswered) == (1, 1)
        assert len(first.requests) == 1 and len(second.requests) == 3
        assert {r.decode().transaction_id for r in second.requests} == {first.requests[0].decode().transaction_id}


def test_an_item_kept_to_the_mmsc_that_may_have_it_does_not_hold_the_queue_when_that_one_is_unavailable(store):
    from .fake_http import FakeServer, Reply, mm7_reply, scripted

    busy = mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=mm7.Status(4006)))
    with FakeServer(scripted(Reply(delay=1.0), then=lambda req: mm7_reply(busy, req.decode(), 500))) as kept, \
            FakeServer() as other:
        client = mm7.Client(kept.url, store=store, read_timeout=0.3, retry=mm7.RetryPolicy.never())
        Outbox(client).put(mm7.SubmitReq(recipients=["+8613800000000"], subject="x"), transaction_id="ob-busy")
        [tried] = Outbox(client).run_once()
        client.close()
        assert "RequestTimeout" in tried.error
        client = mm7.Client((other.url, kept.url), store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client)
        [tried] = outbox.run_once(utcnow() + timedelta(hours=1))
        client.close()
        assert other.requests == [] and len(kept.requests) == 2
    assert tried.state == "queued" and tried.status_code == 4006 and outbox.held_until is None


def test_without_retries_on_timeout_a_resumed_campaign_holds_back_what_may_have_arrived(store):
    """on_timeout=False: resumed under its tag, a campaign does not send again a request that got no
    answer (the MMSC may have it): it names its recipient as maybe delivered; asked to, it sends it
    again under the TransactionID it had. Queueing the campaign again holds it back alike."""
    from mm7bind.bulk import MaybeDelivered, queue_bulk, send_bulk, send_tagged

    from .fake_http import FakeServer, Reply, scripted, times_out_once

    gave_up = threading.Event()
    rcpts = ["+8613800000001", "+8613800000002"]
    with FakeServer(scripted(Reply(hold=gave_up))) as srv:
        client = mm7.Client(srv.url, store=store,
                            retry=mm7.RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0, on_timeout=False))
        times_out_once(client, gave_up)
        template = mm7.SubmitReq(subject="camp")
        first = send_bulk(client, template, rcpts, tag="held", concurrency=1)
        assert (first.sent, first.failed, first.may_have_arrived) == (1, 1, 1)
        unanswered = srv.requests[0].decode()
        resumed = send_bulk(client, template, rcpts, tag="held")
        assert (resumed.sent, resumed.failed, resumed.skipped, resumed.total) == (0, 0, 1, 0)
        assert (resumed.maybe_delivered, resumed.maybe_delivered_to) == (1, [rcpts[0]])
        one = dataclasses.replace(template, recipients=mm7.Recipients(to=[rcpts[0]]))
        with pytest.raises(MaybeDelivered):
            send_tagged(client, one, "held")
        queued = queue_bulk(Outbox(client), template, rcpts, tag="held")
        assert (queued.sent, queued.maybe_delivered_to) == (0, [rcpts[0]])
        assert len(srv.requests) == 2
        again = send_bulk(client, template, rcpts, tag="held", resend_unanswered=True)
        client.close()
    assert (again.sent, again.earlier_unanswered, again.maybe_delivered) == (1, 1, 0)
    assert srv.requests[-1].decode().transaction_id == unanswered.transaction_id


def test_with_a_country_code_a_campaign_s_transaction_id_is_its_recipient_s_whatever_the_spelling(tmp_path):
    """One recipient for the campaign's deduplication ("13800138000", "+8613800138000" with
    country_code 86), two TransactionIDs: a request left unanswered went again, on resuming from the
    other spelling, under another one, and an MMSC that had the first took the second for a new
    message. Derived from the recipient's key, it is one; queued, the same; and the outbox's claim
    on the recipient knows it as the campaign's."""
    from mm7bind.bulk import bulk_transaction_id, campaign_claim, queue_bulk, recipient_claim, send_bulk

    from .fake_http import FakeServer, Reply, scripted, times_out_once

    gave_up = threading.Event()
    store = mm7.SqliteStore(tmp_path / "vasp.db")
    with FakeServer(scripted(Reply(hold=gave_up))) as mmsc:
        with mm7.Client(mmsc.url, store=store, country_code="86", retry=mm7.RetryPolicy(max_attempts=1)) as client:
            times_out_once(client, gave_up)
            first = send_bulk(client, mm7.SubmitReq(subject="camp"), ["13800138000"], tag="cc")
            resumed = send_bulk(client, mm7.SubmitReq(subject="camp"), ["+8613800138000"], tag="cc")
            queued = queue_bulk(Outbox(client), mm7.SubmitReq(subject="camp"), ["+8613800138001"], tag="cc2")
    assert (first.failed, first.may_have_arrived, resumed.sent, resumed.earlier_unanswered) == (1, 1, 1, 1)
    tids = [req.decode().transaction_id for req in mmsc.requests]
    assert len(tids) == 2 and tids[0] == tids[1], tids
    assert [str(a) for a in mmsc.requests[1].decode().body.recipients] == ["+8613800138000"]  # (as listed)
    [item] = store.outbox(tag="cc2")
    assert queued.sent == 1 and item.transaction_id == bulk_transaction_id(
        "cc2", "8613800138001", 0, store.installation_id())
    assert campaign_claim("cc2", item.recipients, item.transaction_id, store, "86") == recipient_claim(
        "cc2", "13800138001", "86")
    store.close()


def test_a_campaign_a_store_held_before_keeps_the_transaction_ids_it_had_with_a_country_code(tmp_path):
    """Derived from the recipients as written before: a campaign resumed after the upgrade sends
    a request left unanswered again under the TransactionID it had (an MMSC that took it can tell);
    another campaign in the same store goes by the recipients' keys."""
    import sqlite3

    from mm7bind.bulk import bulk_transaction_id, send_bulk

    from .fake_http import FakeServer, default_responder

    path = tmp_path / "vasp.db"
    store = mm7.SqliteStore(path)
    old_tid = bulk_transaction_id("old", "13800138000", 0, store.installation_id())
    store.record_sent(mm7.SentRecord(transaction_id=old_tid, operation="SubmitReq", version="REL-6-MM7-1-4",
                                     recipients=["13800138000"], message_id=None, url=None, status_code=None,
                                     status_text=None, error="RequestTimeout: no answer within 0.3 s", attempts=1,
                                     tag="old"))
    store.close()
    db = sqlite3.connect(path)  # (as a release before left the file: nothing noted of it)
    db.execute("DELETE FROM store_meta WHERE name = 'tids_as_written_through'")
    db.commit()
    db.close()
    store = mm7.SqliteStore(path)
    assert store.campaign_tids_as_written("old") and not store.campaign_tids_as_written("new")
    with FakeServer(default_responder) as mmsc:
        with mm7.Client(mmsc.url, store=store, country_code="86") as client:
            resumed = send_bulk(client, mm7.SubmitReq(subject="camp"), ["13800138000"], tag="old")
            fresh = send_bulk(client, mm7.SubmitReq(subject="camp"), ["13800138000"], tag="new")
    assert (resumed.sent, resumed.earlier_unanswered, fresh.sent) == (1, 1, 1)
    assert [req.decode().transaction_id for req in mmsc.requests] == [
        old_tid, bulk_transaction_id("new", "8613800138000", 0, store.installation_id())]
    store.close()
    assert mm7.SqliteStore(path, read_only=True).campaign_tids_as_written("old")  # (as noted when it was opened)


def test_two_installations_under_one_tag_give_the_mmsc_other_transaction_ids_and_a_reopened_store_the_same(tmp_path):
    """A campaign tag used again by another installation (its own store) sent the MMSC the same
    TransactionIDs, which it would take for repeats; the store's installation id is in them, and
    a store opened again (a campaign resumed after a restart) derives the ones it had."""
    import sqlite3

    from mm7bind.bulk import queue_bulk, send_bulk

    from .fake_http import FakeServer, Reply, scripted, times_out_once

    gave_up = threading.Event()
    with FakeServer(scripted(Reply(hold=gave_up))) as mmsc:
        tids = []
        for name in ("a", "b"):
            with mm7.Client(mmsc.url, store=mm7.SqliteStore(tmp_path / f"{name}.db"),
                            retry=mm7.RetryPolicy(max_attempts=1)) as client:
                if name == "a":  # (b's is answered)
                    times_out_once(client, gave_up)
                send_bulk(client, mm7.SubmitReq(subject="camp"), ["+8613800000001"], tag="newyear")
                client.core.store.close()
            tids.append(mmsc.requests[-1].decode().transaction_id)
        assert tids[0] != tids[1]
        # The first got no answer: resumed after a restart, it goes again under its TransactionID
        with mm7.Client(mmsc.url, store=mm7.SqliteStore(tmp_path / "a.db")) as client:
            resumed = send_bulk(client, mm7.SubmitReq(subject="camp"), ["+8613800000001"], tag="newyear")
            client.core.store.close()
        assert (resumed.sent, resumed.earlier_unanswered) == (1, 1)
        assert mmsc.requests[-1].decode().transaction_id == tids[0]
    # Queued in two stores, likewise
    queued = []
    for name in ("c", "d"):
        store = mm7.SqliteStore(tmp_path / f"{name}.db")
        with mm7.Client("http://127.0.0.1:9/mm7", store=store) as client:
            queue_bulk(Outbox(client), mm7.SubmitReq(subject="camp"), ["+8613800000001"], tag="newyear")
            queued.append(store.outbox()[0].transaction_id)
        store.close()
    assert queued[0] != queued[1]
    # A store from before the id, with a campaign in it, keeps deriving them as then
    old = tmp_path / "old.db"
    store = mm7.SqliteStore(old)
    with mm7.Client("http://127.0.0.1:9/mm7", store=store) as client:
        queue_bulk(Outbox(client), mm7.SubmitReq(subject="camp"), ["+8613800000001"], tag="newyear")
    store.close()
    db = sqlite3.connect(old)
    db.execute("DELETE FROM store_meta WHERE name = 'installation'")
    db.execute("UPDATE outbox SET transaction_id = 'earlier'")
    db.commit()
    db.close()
    store, new = mm7.SqliteStore(old), mm7.SqliteStore(tmp_path / "new.db")
    assert store.installation_id() == "" and len(new.installation_id()) == 16
    store.close()
    new.close()


@pytest.mark.parametrize("concurrency", [1, 2])
def test_an_item_whose_turn_came_too_late_in_its_lease_is_listed_once(store, monkeypatch, concurrency):
    """An item claimed with others whose turn came when its lease had no time left for an attempt
    goes back to the queue and is claimed again in the same round: run_once listed it twice, once
    "queued" (never tried) and once as its send ended."""
    import mm7bind.outbox as outbox_module

    from mm7bind.sendonce import attempt_time

    class ShortLease(Outbox):
        lease = property(lambda self: timedelta(seconds=1000))

    clock = [utcnow()]
    monkeypatch.setattr(outbox_module, "utcnow", lambda: clock[0])
    with Simulator(SimulatorConfig()) as sim:
        # (the client's own timeouts: with a 0.3 s read_timeout, an answer slower than that on a
        # loaded machine had an item sent twice)
        client = mm7.Client(sim.url, store=store)
        assert 5 < attempt_time(client.config) < 1000
        send = client.send

        def slow_send(*args, **kwargs):  # (the first send takes most of the claim's lease)
            result = send(*args, **kwargs)
            clock[0] = max(clock[0], claimed_at + timedelta(seconds=995))
            return result

        client.send = slow_send
        outbox = ShortLease(client, batch=concurrency + 1, concurrency=concurrency)
        items = [outbox.put(mm7.SubmitReq(recipients=[f"+86138000000{i}"]), transaction_id=f"ob-turn-{i}")
                 for i in range(concurrency + 1)]
        claimed_at = clock[0]
        done = outbox.run_once()
        client.close()
    assert sorted(i.id for i in done) == [i.id for i in items]  # (each once)
    assert {i.state for i in done} == {"sent"} and len(sim.messages) == len(items)


def test_a_large_item_s_lease_covers_its_upload_at_the_minimum_rate(store):
    """The outbox's lease counted each attempt's upload as `upload_timeout`: an item large enough
    to be given longer to go out (`upload_min_rate`) was sent one attempt past its lease, when
    another worker could take it and send it too. Its lease is now made as long as its own send
    can take, twice, and its send held to it."""
    from mm7bind import sendonce
    from mm7bind.client import _progress

    with Simulator(SimulatorConfig()) as sim:
        # (the client's own timeouts: with a 0.3 s read_timeout, a simulator slower than that to
        # read and answer a megabyte, on a loaded machine, had it tried again, or failed)
        client = mm7.Client(sim.url, store=store, upload_min_rate=100)
        outbox = Outbox(client)
        content = mm7.Content(parts=[mm7.Part.from_bytes(b"x" * 1_000_000, "application/octet-stream")])
        item = outbox.put(mm7.SubmitReq(recipients=["+8613800000000"], content=content), transaction_id="ob-large")
        own = 2 * sendonce.exchange_time(client.config, len(store.outbox_get(item.id).body))
        assert own > outbox.lease.total_seconds() * 5
        seen = []
        send = client.send

        def watching(*args, **kwargs):
            seen.append((store.outbox_get(item.id).next_at - utcnow(), _progress.until - time.monotonic()))
            return send(*args, **kwargs)

        client.send = watching
        [done] = outbox.run_once()
        client.close()
    assert done.state == "sent"
    [(lease, deadline)] = seen
    assert lease > timedelta(seconds=own - 60) and deadline > own - 60


def test_a_message_sent_under_a_tag_is_encoded_once_and_its_claim_counts_its_bytes(store, monkeypatch):
    """`send_tagged` (`mm7bind send --to X --tag T`) encoded its message for its size (the
    recipient's claim counts its upload at `upload_min_rate`) and again to send it: once now, the
    bytes measured the ones sent."""
    from mm7bind import bulk, sendonce
    from mm7bind import client as client_module

    from .fake_http import FakeServer

    encodes = []
    encode = client_module.encode
    monkeypatch.setattr(client_module, "encode", lambda *a, **kw: encodes.append(1) or encode(*a, **kw))
    content = mm7.Content(parts=[mm7.Part.from_bytes(b"x" * 300_000, "application/octet-stream")])
    msg = mm7.SubmitReq(recipients=["+8613800000001"], content=content)
    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store, upload_min_rate=1000) as client:
        leases = []
        submit = client.submit

        def watching(request, **kwargs):
            leases.append(store.send_claim_get(bulk.recipient_claim("one", "+8613800000001")).lease_until - utcnow())
            return submit(request, **kwargs)

        client.submit = watching
        result = bulk.send_tagged(client, msg, "one")
        [request] = mmsc.requests
    assert result.ok and len(encodes) == 1
    own = sendonce.lease(client.config, len(request.body))
    assert own - timedelta(minutes=1) < leases[0] <= own


def test_a_max_age_the_calendar_cannot_hold_is_refused_when_the_outbox_is_made(tmp_path):
    """`max_age_hours = 99999999`, "never expire": taken, every message put in was refused with
    "at=None is out of the range of times an item can be kept for" (its expiry past the year 9999),
    1e12 hours with an OverflowError; 0 expired each item as it was put in. Refused where it is
    given, by the outbox and by the configuration; a thousand years is still taken."""
    from mm7bind.config import load
    from mm7bind.store import KEEP_MAX, MemoryStore

    client = mm7.Client("http://127.0.0.1:9/mm7", store=MemoryStore())
    for max_age in (timedelta(hours=99999999), timedelta(0), timedelta(seconds=-1)):
        with pytest.raises(ValueError, match=r"max_age must be a positive timedelta of at most 365000 days"):
            Outbox(client, max_age=max_age)
    item = Outbox(client, max_age=KEEP_MAX).put(mm7.SubmitReq(recipients=["+8613800000000"], subject="x"))
    assert item.expires_at - item.next_at == KEEP_MAX
    (tmp_path / "c.toml").write_text("[outbox]\nmax_age_hours = 99999999\n", encoding="utf-8")
    assert [str(p) for p in load(tmp_path / "c.toml", env={})[1] if p.level == "error"] == [
        f"error: outbox.max_age_hours: at most {KEEP_MAX.days * 24} (a thousand years)"]


def test_a_retry_policy_of_a_billion_attempts_claims_for_a_thousand_years_not_past_the_year_9999(store):
    """max_attempts = 1000000000 ("retry for ever") or timeouts of a year each came to a claim's
    lease past the year 9999: a tagged send, a campaign and every outbox round failed with an
    OverflowError before the first request went out. Held that long is held for good: the lease
    is at most store.KEEP_MAX."""
    from mm7bind import sendonce
    from mm7bind.client import MAX_POOL_SIZE
    from mm7bind.store import KEEP_MAX, utcnow

    client = mm7.Client("http://127.0.0.1:9/mm7", store=store, retry=mm7.RetryPolicy(max_attempts=10**9))
    assert sendonce.lease(client.config) == KEEP_MAX
    held, mine = sendonce.claim(store, "t-forever", client.config, extra=1e300)
    assert mine and held.lease_until <= utcnow() + 2 * KEEP_MAX
    assert Outbox(client, concurrency=MAX_POOL_SIZE).lease == KEEP_MAX
    client.close()


def test_a_dead_worker_s_batch_goes_out_once_sending_it_in_parallel_could_have_ended(store):
    """A batch was leased for as long as sending its items one after the other could take, each
    waiting for every other sender's turn at the connections: 10,000 items sent ten at a time were
    held for 319 days by a worker that died, never sent meanwhile. The lease is now what sending
    the batch can take with its parallelism (the sends of the batch before still in flight
    counted), twice: another worker takes the dead one's items once it runs out."""
    from mm7bind.sendonce import exchange_time

    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, pool_size=10)
        dead, alive = (Outbox(client, batch=10_000, concurrency=10, max_age=timedelta(days=3650)) for _ in range(2))
        items = [dead.put(mm7.SubmitReq(recipients=[f"+861380000000{i}"]), transaction_id=f"ob-dead-{i}")
                 for i in range(3)]
        t0 = utcnow()
        assert len(store.outbox_claim(t0, dead.batch, dead.lease)) == 3  # (and the worker died)
        turns = -(-(10_000 + 10 - 1) // 10)
        ends = t0 + timedelta(seconds=2 * turns * exchange_time(client.config))
        assert alive.run_once(ends - timedelta(seconds=1)) == []  # (a live worker's, until then)
        done = alive.run_once(ends + timedelta(seconds=1))
        client.close()
    assert sorted((i.id, i.state) for i in done) == [(i.id, "sent") for i in items] and len(sim.messages) == 3


def test_an_item_claimed_again_whose_turn_came_late_again_is_not_sent_past_its_lease(store, monkeypatch):
    """An item put back (its turn came late in its claim's lease) and claimed again, whose turn came
    late in that claim too, was sent past its lease, given one attempt: another worker taking the
    item once the lease ran out sent it as well. It is now leased for its own send first, while it
    is still this worker's; taken by another worker meanwhile, it is left to that one."""
    import mm7bind.outbox as outbox_module

    from mm7bind.sendonce import attempt_time

    class ShortLease(Outbox):
        lease = property(lambda self: timedelta(seconds=1000))

    clock = [utcnow()]
    monkeypatch.setattr(outbox_module, "utcnow", lambda: clock[0])
    t0 = clock[0]
    sends: dict[str, int] = {}
    with Simulator(SimulatorConfig()) as sim:
        client, other = mm7.Client(sim.url, store=store), mm7.Client(sim.url, store=store)
        assert 5 < attempt_time(client.config) < 1000
        for c in (client, other):
            def counted(msg, *, transaction_id, _send=c.send, **kwargs):
                sends[transaction_id] = sends.get(transaction_id, 0) + 1
                return _send(msg, transaction_id=transaction_id, **kwargs)
            c.send = counted
        send = client.send
        took: list = []

        def slow_send(msg, *, transaction_id, **kwargs):
            if transaction_id == "ob-late-2":  # (a worker elsewhere, once this claim's lease ran out)
                took.extend(Outbox(other).run_once(t0 + timedelta(seconds=2000)))
            result = send(msg, transaction_id=transaction_id, **kwargs)
            if transaction_id == "ob-late-0":  # (most of the first claim's lease: the two after it put back)
                clock[0] = t0 + timedelta(seconds=995)
            elif transaction_id == "ob-late-1":  # (most of the second's, within it)
                clock[0] = t0 + timedelta(seconds=1990)
            return result

        client.send = slow_send
        outbox = ShortLease(client, batch=3)
        items = [outbox.put(mm7.SubmitReq(recipients=[f"+86138000000{i}"]), transaction_id=f"ob-late-{i}")
                 for i in range(3)]
        done = outbox.run_once()
        client.close()
        other.close()
    assert sends == {"ob-late-0": 1, "ob-late-1": 1, "ob-late-2": 1}
    assert took == []  # (leased for its own send first: not the other worker's to take)
    assert sorted((i.id, i.state) for i in done) == [(i.id, "sent") for i in items]


def test_a_worker_whose_store_is_closed_under_it_ends_and_opens_nothing_again(tmp_path, caplog):
    """An application that stopped the outbox with a timeout and closed the store while a round
    was still in hand (or never stopped it): the worker's next calls opened the store again, and
    the connections stayed open; then it tried again every `poll`, for good. The store now refuses
    (StoreClosed) and the worker ends, in one line."""
    store = mm7.SqliteStore(tmp_path / "vasp.db")
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store)
        outbox = Outbox(client, poll=0.05).start()
        store.close()
        outbox.wake()
        outbox._thread.join(20)
        ended = not outbox.running()
        outbox.stop(timeout=5)
        client.close()
    assert ended and store._all == [] and store._write.fd is None
    assert [r.getMessage() for r in caplog.records if "closed while it ran" in r.getMessage()] == [
        "mm7bind-outbox: its store was closed while it ran: the worker ends"]


def test_refusals_alike_pause_the_queue_and_it_goes_on_once_the_cause_is_mended(store, caplog):
    """Credentials the MMSC refuses (4001) refuse every item alike: after `stop_after_refused` of
    them sending pauses — the refused items queued again, not failed — and the one item tried after
    the pause, refused so too, doubles it; once the MMSC accepts, every item goes."""
    from mm7bind.metrics import Metrics

    with Simulator(SimulatorConfig()) as sim:
        metrics = Metrics()
        client = mm7.Client(sim.url, store=store, metrics=metrics, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, stop_after_refused=3, refused_pause=timedelta(minutes=5),
                        refused_pause_max=timedelta(minutes=8))
        items = outbox.put_many([mm7.SubmitReq(recipients=[str(n)], subject=str(n)) for n in range(6)])
        sim.fail_next(3 + 1 + 1, status=4001, text="Improper identification")
        now = utcnow()
        with caplog.at_level("WARNING", logger="mm7bind.outbox"):
            first = outbox.run_once(now)
        assert [i.id for i in first] == [i.id for i in items[:3]]  # the others wait, untried
        assert all(i.state == "queued" and i.status_code == 4001 for i in first)
        assert all(i.next_at == now + timedelta(minutes=5) for i in first)
        assert store.outbox_counts()["failed"] == 0 and store.outbox_counts()["queued"] == 6
        [warning] = [r for r in caplog.records if "in a row alike" in r.getMessage()]
        assert warning.levelname == "WARNING" and "refused 3 requests in a row alike (4001 Improper identification)" in warning.getMessage()
        assert "vasp_id" in warning.getMessage()
        assert outbox.paused_by_refusal(now) and "mm7bind_outbox_refusal_paused 1" in metrics.render()
        assert outbox.run_once(now + timedelta(minutes=4)) == []  # the pause holds
        # After it one item is tried: refused so again, the pause doubles (up to its cap, 8 min),
        # with no further WARNING
        caplog.clear()
        with caplog.at_level("WARNING", logger="mm7bind.outbox"):
            [probe] = outbox.run_once(now + timedelta(minutes=5))
            assert probe.state == "queued" and probe.next_at == now + timedelta(minutes=5 + 8)
            [probe] = outbox.run_once(now + timedelta(minutes=13))
            assert probe.state == "queued" and probe.next_at == now + timedelta(minutes=13 + 8)
        assert [r for r in caplog.records if r.levelname == "WARNING"] == []
        # The credentials mended at the MMSC's side: everything goes after the pause
        done = outbox.run_once(now + timedelta(minutes=21))
        assert sorted(i.id for i in done) == sorted(i.id for i in items) and {i.state for i in done} == {"sent"}
        assert len(sim.messages) == 6 and not outbox.paused_by_refusal(now + timedelta(minutes=21))
        assert "mm7bind_outbox_refusal_paused 0" in metrics.render()
        client.close()


def test_refusals_otherwise_or_interrupted_by_an_acceptance_fail_each_item_and_0_never_pauses(store):
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, stop_after_refused=2)
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(5)])
        sim.fail_next(1, status=4001)
        sim.fail_next(1, status=2004)  # (another refusal: the streak starts over)
        sim.fail_next(1, status=4001)
        done = outbox.run_once()
        assert [i.state for i in done] == ["failed", "failed", "failed", "sent", "sent"]
        assert not outbox.paused_by_refusal()
        # 0: never paused; each refused item fails, as before
        never = Outbox(client, stop_after_refused=0)
        never.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(4)])
        sim.fail_next(4, status=4001)
        assert [i.state for i in never.run_once()] == ["failed"] * 4
        client.close()


def test_http_refusals_of_our_settings_alike_pause_the_queue_too(store):
    """A 401 (a password the MMSC's HTTP server refuses) is tried again round after round by each
    item: after `stop_after_refused` in a row, the queue waits instead, as for a 4001."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, stop_after_refused=2, first_retry=timedelta(seconds=30))
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(4)])
        sim.fail_next(2, http_status=401)
        now = utcnow()
        done = outbox.run_once(now)
        assert len(done) == 2 and {i.state for i in done} == {"queued"} and outbox.paused_by_refusal(now)
        assert outbox.refused_by == "HTTP 401" and sim.messages == {}
        assert {i.state for i in outbox.run_once(now + timedelta(minutes=5))} == {"sent"}
        assert len(sim.messages) == 4
        client.close()


def test_the_pause_after_refusals_comes_from_the_config_file_and_check_knows_its_keys(tmp_path, store):
    from mm7bind.config import load

    cfg_file = tmp_path / "mm7bind.toml"
    cfg_file.write_text('[outbox]\nstop_after_refused = 4\nrefused_pause_minutes = 2\n'
                        'refused_pause_max_minutes = 30\n', encoding="utf-8")
    cfg, problems = load(cfg_file, env={"MM7BIND_OUTBOX_STOP_AFTER_REFUSED": "0"})
    assert problems == []
    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    outbox = cfg.make_outbox(client)
    assert (outbox.stop_after_refused, outbox.refused_pause, outbox.refused_pause_max) == (
        0, timedelta(minutes=2), timedelta(minutes=30))
    from mm7bind.bulk import REFUSED_STOP

    default = load(None, env={})[0].make_outbox(client)
    assert Outbox(client).stop_after_refused == REFUSED_STOP  # (a direct run's)
    assert (default.stop_after_refused, default.refused_pause, default.refused_pause_max) == (
        10, timedelta(minutes=5), timedelta(hours=1))
    with pytest.raises(ValueError, match="stop_after_refused"):
        Outbox(client, stop_after_refused=-1)
    client.close()
    cfg_file.write_text('[outbox]\nstop_after_refused = -1\nrefused_pause_minutes = 9\n'
                        'refused_pause_max_minutes = 8\n', encoding="utf-8")
    assert [str(p) for p in load(cfg_file, env={})[1]] == [
        "error: outbox.stop_after_refused: must be 0 (never pause) or more",
        "error: outbox.refused_pause_max_minutes: must be at least refused_pause_minutes"]


def test_refusals_alike_of_sends_in_flight_at_once_are_queued_again_too(store):
    """With concurrency, the items in flight when the pause began, refused alike, go back to the
    queue with the others: none fails."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, stop_after_refused=2, concurrency=3)
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(6)])
        sim.fail_next(100, status=4001)  # (every request, however many are in flight when the pause begins)
        now = utcnow()
        done = outbox.run_once(now)
        assert len(done) >= 2 and {i.state for i in done} == {"queued"} and store.outbox_counts()["failed"] == 0
        assert outbox.paused_by_refusal(now)
        sim.reset()  # (mended)
        outbox.run_once(now + timedelta(minutes=5))
        assert store.outbox_counts()["sent"] == 6 and len(sim.messages) == 6
        client.close()


def test_items_whose_deadline_passes_during_a_pause_expire_then_told_in_one_line(store, caplog):
    """An item whose deadline passes while sending is paused after refusals alike is expired then,
    saying why, with one line for all: not left "queued" until the pause ends (an hour and more
    while the MMSC refuses every request), nor sent late."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, stop_after_refused=2, max_age=timedelta(minutes=20),
                        first_retry=timedelta(seconds=30), refused_pause=timedelta(hours=1),
                        refused_pause_max=timedelta(hours=1))
        items = outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(4)])
        sim.fail_next(2, status=4001, text="Improper identification")
        now = utcnow()
        outbox.run_once(now)
        assert outbox.paused_by_refusal(now) and store.outbox_counts()["queued"] == 4
        assert outbox.run_once(now + timedelta(minutes=10)) == [] and store.outbox_counts()["expired"] == 0
        caplog.clear()
        with caplog.at_level("INFO", logger="mm7bind.outbox"):
            assert outbox.run_once(now + timedelta(minutes=21)) == []  # (still paused)
        assert store.outbox_counts()["expired"] == 4 and store.outbox_counts()["queued"] == 0
        gone = [store.outbox_get(i.id) for i in items]
        assert all(i.state == "expired" and i.error.startswith("expired while sending was paused, the MMSC refusing")
                   and "4001 Improper identification"
                   in i.error for i in gone)
        assert "4001 Improper identification" in gone[0].error.split("(", 2)[-1]  # (its own error kept after)
        lines = [r for r in caplog.records if r.levelname == "WARNING"]
        assert len(lines) == 1 and lines[0].getMessage().startswith(
            "outbox: 4 item(s) expired while sending was paused after refusals alike: #")
        sim.reset()
        assert outbox.run_once(now + timedelta(hours=1, minutes=1)) == [] and sim.messages == {}
        client.close()


def test_a_streak_of_refusals_that_pauses_logs_the_pause_alone_and_one_that_does_not_one_line(store, caplog):
    """The refusals alike a pause queues again are not each logged as a failure first (a WARNING
    "failed" each, then the pause's line saying they were queued again); those of a streak that
    stops short of the pause are told failed, in one line."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        short = Outbox(client, stop_after_refused=3)
        few = short.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(3)])
        sim.fail_next(2, status=4001, text="Improper identification")
        now = utcnow()
        with caplog.at_level("WARNING", logger="mm7bind.outbox"):
            assert [i.state for i in short.run_once(now)] == ["failed", "failed", "sent"]
        # (the outbox's own warnings: another test of the run may have left mm7bind's loggers at DEBUG)
        [line] = [r.getMessage() for r in caplog.records if r.name == "mm7bind.outbox" and r.levelname == "WARNING"]
        assert line == (f"outbox: 2 item(s) failed, refused by the MMSC (4001 Improper identification): "
                        f"#{few[0].id} tid={few[0].transaction_id}, #{few[1].id} tid={few[1].transaction_id}")
        caplog.clear()
        outbox = Outbox(client, stop_after_refused=3)
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(5)])
        sim.fail_next(3, status=4001, text="Improper identification")
        with caplog.at_level("WARNING", logger="mm7bind.outbox"):
            outbox.run_once()
        assert store.outbox_counts()["failed"] == 2 and outbox.paused_by_refusal()
        assert [r.getMessage()[:52] for r in caplog.records
                if r.name == "mm7bind.outbox" and r.levelname == "WARNING"] == [
            "outbox: the MMSC refused 3 requests in a row alike ("]
        client.close()


def test_a_pause_after_refusals_holds_across_a_restart_with_the_same_settings_only(tmp_path, caplog):
    """A worker started again (a crash loop, a reload) with the settings the MMSC refused goes on
    waiting out the pause: it does not send `stop_after_refused` requests refused alike at each
    start; once the pause ends one item is tried, and refused so, the pause doubles at once. With
    other settings (the password mended) it sends at once."""
    from mm7bind.metrics import Metrics

    path = tmp_path / "vasp.db"
    with Simulator(SimulatorConfig()) as sim:
        store = mm7.SqliteStore(path)
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never(), username="u", password="old")
        outbox = Outbox(client, stop_after_refused=3)
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(5)])
        sim.fail_next(100, status=4001, text="Improper identification")
        now = utcnow()
        outbox.run_once(now)
        assert outbox.paused_by_refusal(now) and sim.fail_next(0) == 97
        client.close()
        store.close()

        store = mm7.SqliteStore(path)
        metrics = Metrics()
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never(), username="u", password="old",
                            metrics=metrics)
        with caplog.at_level("WARNING", logger="mm7bind.outbox"):
            again = Outbox(client, stop_after_refused=3)
        assert again.paused_by_refusal() and again.refused_by == "4001 Improper identification"
        assert "mm7bind_outbox_refusal_paused 1" in metrics.render()
        assert any("stays paused" in r.getMessage() for r in caplog.records)
        assert again.run_once(now + timedelta(minutes=1)) == [] and sim.fail_next(0) == 97  # nothing sent
        [probe] = again.run_once(now + timedelta(minutes=5))  # the pause over: one item, refused so again
        assert probe.state == "queued" and sim.fail_next(0) == 96
        assert again.refused_until == now + timedelta(minutes=5 + 10)  # (doubled)
        cfg = tmp_path / "cfg.toml"
        cfg.write_text(f'[store]\npath = "{path}"\n', encoding="utf-8")
        from .test_commands import run

        shown = run("store", "outbox", "--config", str(cfg)).stdout.splitlines()
        assert shown[-1].startswith("sending paused until ") and "(4001 Improper identification)" in shown[-1]
        # A pause kept until a time the clock has since been set back from is no longer than its bound
        store.set_outbox_pause({**store.outbox_pause(), "until": (now + timedelta(days=365)).isoformat()})
        assert utcnow() < Outbox(client, stop_after_refused=3).refused_until <= utcnow() + timedelta(hours=1)
        client.close()
        store.close()

        store = mm7.SqliteStore(path)
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never(), username="u", password="new")
        mended = Outbox(client, stop_after_refused=3)
        assert not mended.paused_by_refusal() and store.outbox_pause() is None
        sim.reset()
        assert {i.state for i in mended.run_once(now + timedelta(minutes=16))} == {"sent"}
        assert len(sim.messages) == 5
        client.close()
        store.close()


def test_an_item_said_failed_is_never_queued_again_by_a_pause_that_comes_later(store, caplog):
    """Refusals alike are held queued while a pause may yet take them; once an item is said
    failed (the streak stopped short at the round's end) it stays so: a pause in a later round
    queued it again, and a caller of the send API told "failed" that sent the message again under
    another TransactionID had it go twice once the pause ended."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, stop_after_refused=3)
        first = outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(2)])
        sim.fail_next(2, status=4001, text="Improper identification")
        assert [i.state for i in outbox.run_once()] == ["failed", "failed"]
        later = outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(2, 4)])
        sim.fail_next(1, status=4001, text="Improper identification")
        now = utcnow()
        outbox.run_once(now)  # (the third refusal alike in a row: sending pauses)
        assert outbox.paused_by_refusal(now)
        assert [store.outbox_get(i.id).state for i in first + later] == ["failed", "failed", "queued", "queued"]
        outbox.run_once(now + timedelta(minutes=5))
        assert sorted(r for m in sim.messages.values() for r in m.recipients) == ["2", "3"]
        assert [store.outbox_get(i.id).state for i in first] == ["failed", "failed"]
        client.close()


@pytest.mark.parametrize("paused", [False, True])
def test_an_item_the_mmsc_took_before_its_worker_died_is_sent_not_expired_however_late(store, paused):
    """A worker that died between the MMSC's acceptance and marking the item sent, the next one
    coming after the item's deadline (or while sending is paused, the item's deadline passing):
    the item was said "expired" — a message the MMSC had taken, which a caller told so sends again
    under another TransactionID. The client's record of the acceptance is looked at first."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client, max_age=timedelta(minutes=10), stop_after_refused=1)
        item = outbox.put(mm7.SubmitReq(recipients=["1"], subject="taken"))
        [claimed] = store.outbox_claim(utcnow(), lease=timedelta(0))  # (its lease run out at once)
        taken = client.send(mm7.decode(claimed.body, claimed.content_type).body, transaction_id=item.transaction_id)
        assert taken.ok  # ... and the worker died here
        store.outbox_recover()
        later = utcnow() + timedelta(minutes=20)
        if paused:  # (sending paused after a refusal, the item's deadline passing meanwhile)
            outbox.refused_until, outbox.refused_by = later + timedelta(minutes=5), "4001 Improper identification"
        assert outbox.run_once(later) in ([], [store.outbox_get(item.id)])
        done = store.outbox_get(item.id)
        assert (done.state, done.message_id) == ("sent", taken.message_id) and len(sim.messages) == 1
        client.close()


def test_a_running_worker_takes_up_a_pause_another_worker_on_the_store_kept_with_its_settings(tmp_path, caplog):
    """Two workers on one store (two processes): once one pauses after refusals alike, the other,
    already running, waits too as it claims its next items — it went on sending requests the MMSC
    refused alike until its own streak paused it. A worker with other settings goes on."""
    path = tmp_path / "vasp.db"
    with Simulator(SimulatorConfig()) as sim:
        stores = [mm7.SqliteStore(path) for _ in range(3)]
        clients = [mm7.Client(sim.url, store=s, retry=mm7.RetryPolicy.never(), username="u", password=p)
                   for s, p in zip(stores, ("old", "old", "new"))]
        first, second, mended = (Outbox(c, stop_after_refused=3) for c in clients)
        first.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(6)])
        sim.fail_next(100, status=4001, text="Improper identification")
        now = utcnow()
        first.run_once(now)
        assert first.paused_by_refusal(now) and sim.fail_next(0) == 97
        with caplog.at_level("WARNING", logger="mm7bind.outbox"):
            assert second.run_once(now + timedelta(seconds=1)) == [] and sim.fail_next(0) == 97  # nothing sent
        assert second.paused_by_refusal(now) and second.refused_until == first.refused_until
        assert second.refused_by == "4001 Improper identification"
        assert any("another worker on this store" in r.getMessage() for r in caplog.records)
        [probe] = second.run_once(first.refused_until)  # the pause over: one item, refused so, pauses again
        assert probe.state == "queued" and sim.fail_next(0) == 96 and second.paused_by_refusal(first.refused_until)
        sim.reset()  # (the password mended: accepted)
        assert {i.state for i in mended.run_once(now + timedelta(seconds=2))} == {"sent"} and len(sim.messages) == 2
        assert not mended.paused_by_refusal(now)
        for c in clients:
            c.close()
        for s in stores:
            s.close()


@pytest.mark.parametrize("case", ["clock_set_back", "other_recipients", "long_before"])
def test_an_acceptance_recorded_under_a_clock_set_back_still_marks_its_item_sent(store, case):
    """The MMSC accepted an item, its worker died before marking it sent, and the clock was set back
    meanwhile (an NTP step): the acceptance, dated before the item was put in, was not taken for its
    own, and the item went again under the same TransactionID. Another message's acceptance of that
    TransactionID (other recipients, or long before: a caller's TransactionID used again) is not it."""
    import dataclasses

    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        outbox = Outbox(client)
        item = outbox.put(mm7.SubmitReq(recipients=["1"], subject="taken"), transaction_id="order-17")
        taken = client.send(mm7.SubmitReq(recipients=["2" if case == "other_recipients" else "1"]),
                            transaction_id="order-17")
        assert taken.ok  # ... and the worker died here, the clock set back
        back = timedelta(hours=2) if case == "long_before" else timedelta(minutes=3)
        rec = store.sent_by_transaction_id("order-17")
        store.record_sent(dataclasses.replace(rec, sent_at=item.created_at - back))
        [done] = outbox.run_once()
        assert done.state == "sent"
        if case == "clock_set_back":
            assert done.message_id == taken.message_id and len(sim.messages) == 1  # not sent again
        else:
            assert done.message_id != taken.message_id and len(sim.messages) == 2
        client.close()


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_pause_another_worker_keeps_during_a_round_stops_the_round_at_its_next_claim(store, concurrency):
    """Another worker on the store pausing while this one's round goes on: this one stops at its
    next claim, not at its next round, and its own item refused alike meanwhile waits out the pause
    with the others (queued again, not failed)."""
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never())
        other, outbox = Outbox(client, stop_after_refused=3), Outbox(client, stop_after_refused=3, concurrency=concurrency)
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(6)])
        claim, claims = store.outbox_claim, []

        def claim_then_pause(*args, **kw):  # (the other worker pauses once this one's first items are claimed)
            items = claim(*args, **kw)
            claims.append(len(items))
            if len(claims) == 1:
                other.refused_until, other.refused_by = utcnow() + timedelta(minutes=5), "4001 Improper identification"
                other._refused_alike, other._refused_pauses = (4001, 3), 1
                other._keep_pause()
            return items

        store.outbox_claim = claim_then_pause
        sim.fail_next(100, status=4001, text="Improper identification")
        done = outbox.run_once()  # (the first item, refused alike, waits with the others: not failed)
        assert len(claims) == 1 and outbox.paused_by_refusal() and sim.fail_next(0) == 99
        assert [i.state for i in done] == ["queued"] and store.outbox_counts()["queued"] == 6
        client.close()


@pytest.mark.parametrize("case", ["clock_set_back_far", "another_item"])
def test_an_acceptance_names_the_outbox_item_it_was_sent_for(store, case):
    """The store's record of what the outbox sent names the item: an acceptance of it is its own
    however far the clock was set back before its worker could mark it sent (it was looked for
    up to an hour back, by recipients and tag: further back, the item went again under the same
    TransactionID) — and an acceptance of another item that had the same TransactionID (a
    caller's own used again), however near in time and alike, is not its own (it was taken for it,
    and the second message never sent)."""
    import dataclasses

    with Simulator(SimulatorConfig()) as sim, mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never()) as client:
        outbox = Outbox(client)
        first = outbox.put(mm7.SubmitReq(recipients=["1"], subject="taken"), transaction_id="order-17")
        if case == "clock_set_back_far":
            update = store.outbox_update

            def dies_before_marking_sent(item_id, state, **kw):
                if state == "sent":
                    raise KeyboardInterrupt  # (the worker's process ends here)
                return update(item_id, state, **kw)

            store.outbox_update = dies_before_marking_sent
            with pytest.raises(KeyboardInterrupt):
                outbox.run_once()
            store.outbox_update = update
            rec = store.sent_by_transaction_id("order-17")
            assert rec.ok and rec.outbox_item == first.id
            store.record_sent(dataclasses.replace(rec, sent_at=first.created_at - timedelta(hours=3)))
            later = utcnow() + timedelta(hours=1)  # (its lease run out)
            assert store.outbox_recover(later) == 1  # (the next start)
            [done] = outbox.run_once(later)
            assert (done.id, done.state, done.message_id) == (first.id, "sent", rec.message_id)
            assert len(sim.messages) == 1  # not sent again
        else:
            [done] = outbox.run_once()
            assert done.state == "sent" and store.sent_by_transaction_id("order-17").outbox_item == first.id
            second = outbox.put(mm7.SubmitReq(recipients=["1"], subject="taken"), transaction_id="order-17")
            [again] = outbox.run_once()
            assert (again.id, again.state) == (second.id, "sent") and again.message_id != done.message_id
            assert len(sim.messages) == 2 and store.sent_by_transaction_id("order-17").outbox_item == second.id


def test_an_acceptance_the_full_store_could_not_record_is_not_sent_again_by_its_worker(store):
    """The MMSC accepted an item while the disk was full: neither the client's record nor the
    item's state could be written, and once space was freed and the item's lease ran out it was
    claimed again and sent a second time. Its worker remembers the acceptance and marks it sent."""
    import sqlite3

    with Simulator(SimulatorConfig()) as sim, mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never()) as client:
        outbox = Outbox(client)
        item = outbox.put(mm7.SubmitReq(recipients=["1"]))
        record_sent, update = store.record_sent, store.outbox_update

        def full(*args, **kw):
            raise sqlite3.OperationalError("database or disk is full")

        def full_once_sent(item_id, state, **kw):
            if state == "sent":
                full()
            return update(item_id, state, **kw)

        store.record_sent, store.outbox_update = full, full_once_sent
        with pytest.raises(sqlite3.OperationalError):
            outbox.run_once()
        store.record_sent, store.outbox_update = record_sent, update  # (space freed)
        assert len(sim.messages) == 1 and store.sent_by_transaction_id(item.transaction_id) is None
        later = utcnow() + timedelta(hours=1)  # (its lease run out)
        assert store.outbox_recover(later) == 1
        [done] = outbox.run_once(later)
        assert (done.id, done.state, done.message_id) == (item.id, "sent", next(iter(sim.messages)))
        assert len(sim.messages) == 1  # not sent again


def test_an_item_sent_round_robin_goes_again_to_the_mmsc_that_may_have_it_after_its_process_died(store):
    """With `round_robin`, an item's send began at the next MMSC in this process's turn; its
    process killed while that MMSC had the request (no record of the send: it never ended), the
    next process's first turn sent it to another MMSC, which cannot tell the repeat of its
    TransactionID: delivered twice. Each round of an item now starts at its own turn of the URLs."""
    from .fake_http import FakeServer, Reply, default_responder

    arrived, released = threading.Event(), threading.Event()

    def held_once(req):  # (the item's first copy is never answered while its process lives)
        if req.decode().transaction_id == "order-1" and not arrived.is_set():
            arrived.set()
            return Reply(hold=released)
        return default_responder(req)

    with FakeServer(held_once) as a, FakeServer(held_once) as b:
        urls = (a.url, b.url)
        before = mm7.Client(urls, round_robin=True, store=store, retry=mm7.RetryPolicy.never())
        worker = None
        try:
            assert before.submit(mm7.SubmitReq(recipients=["0"])).ok  # (a turn taken before the item's)
            Outbox(before).put(mm7.SubmitReq(recipients=["1"]), transaction_id="order-1")
            worker = threading.Thread(target=Outbox(before).run_once, daemon=True)
            worker.start()
            assert arrived.wait(10)  # ... and its process is killed here
            assert store.sent_by_transaction_id("order-1") is None
            with mm7.Client(urls, round_robin=True, store=store, retry=mm7.RetryPolicy.never()) as after:
                later = utcnow() + timedelta(hours=1)  # (the next start, the item's lease run out)
                assert store.outbox_recover(later) == 1
                [done] = Outbox(after).run_once(later)
            assert done.state == "sent"
            went = [srv for srv in (a, b) for req in srv.requests if req.decode().transaction_id == "order-1"]
            assert len(went) == 2 and went[0] is went[1], [srv.url for srv in went]
        finally:
            released.set()
            if worker is not None:
                worker.join(30)
            before.close()


def test_an_item_that_failed_over_goes_again_to_the_mmsc_that_may_have_it_after_its_process_died(store):
    """An item's send went to the first MMSC, which was unavailable (4006), and failed over to the
    second; its process killed while the second had the request (no record of the send: it never
    ended), the next round started at the first MMSC again, which took it: delivered twice. Where
    an attempt goes after a fail-over is noted in the store before it goes; the next round goes
    there first. A send that goes where its rounds start notes nothing (no write per item)."""
    from .fake_http import FakeServer, Reply, default_responder, mm7_reply

    arrived, released = threading.Event(), threading.Event()
    busy = [True]

    def first(req):  # (unavailable while the item's first process lives)
        if busy[0]:
            return mm7_reply(mm7.SubmitRsp(status=mm7.Status(4006, "Service unavailable"), message_id="-"),
                             req.decode())
        return default_responder(req)

    def second(req):  # (the item's copy is never answered while its process lives)
        if req.decode().transaction_id == "order-1" and not arrived.is_set():
            arrived.set()
            return Reply(hold=released)
        return default_responder(req)

    noted = []
    attempt_at = store.outbox_attempt_at
    store.outbox_attempt_at = lambda *args: noted.append(args[1]) or attempt_at(*args)
    with FakeServer(first) as a, FakeServer(second) as b:
        retry = mm7.RetryPolicy(max_attempts=2, backoff=0.01)
        before = mm7.Client((a.url, b.url), store=store, retry=retry)
        worker = None
        try:
            Outbox(before).put(mm7.SubmitReq(recipients=["1"]), transaction_id="order-1")
            worker = threading.Thread(target=Outbox(before).run_once, daemon=True)
            worker.start()
            assert arrived.wait(10)  # ... and its process is killed here
            assert store.sent_by_transaction_id("order-1") is None
            assert [i.attempt_url for i in store.outbox("sending")] == [b.url]
            busy[0] = False  # (the first MMSC takes requests again)
            with mm7.Client((a.url, b.url), store=store, retry=retry) as after:
                later = utcnow() + timedelta(hours=1)  # (the next start, the item's lease run out)
                assert store.outbox_recover(later) == 1
                [done] = Outbox(after).run_once(later)
                assert done.state == "sent" and done.attempt_url is None
                Outbox(after).put(mm7.SubmitReq(recipients=["2"]))
                [other] = Outbox(after).run_once(later)
                assert other.state == "sent"
            assert [len([r for r in srv.requests if r.decode().transaction_id == "order-1"]) for srv in (a, b)] \
                == [1, 2]  # (the first MMSC refused it, unavailable; the second has it twice: a repeat it knows)
            assert noted == [b.url]  # (one note, for the fail-over; none for the sends that went where they start)
        finally:
            released.set()
            if worker is not None:
                worker.join(30)
            before.close()


def test_an_mmsc_throttling_with_http_429_holds_the_queue_as_long_as_its_retry_after_asks(store, caplog):
    """An HTTP 429 (Too Many Requests) is the MMSC saying what 4006 says in MM7: the next item is
    refused so too. The whole queue waits, as long as its Retry-After asks (or the outage's pause),
    one item tried a round — it was counted as a refusal alike: each item sent in turn, refused,
    until ten in a row paused sending for five minutes with a WARNING to check the account."""
    import logging

    from .fake_http import FakeServer, Reply, default_responder

    throttling = [True]

    def mmsc(req):
        return Reply(429, b"slow down", {"Retry-After": "45"}) if throttling[0] else default_responder(req)

    with FakeServer(mmsc) as srv, mm7.Client(srv.url, store=store, retry=mm7.RetryPolicy.never()) as client:
        outbox = Outbox(client, first_retry=timedelta(seconds=30))
        outbox.put_many([mm7.SubmitReq(recipients=[str(n)]) for n in range(12)])
        now = utcnow()
        with caplog.at_level(logging.INFO, logger="mm7bind.outbox"):
            [tried] = outbox.run_once(now)
        assert tried.state == "queued" and "429" in tried.error and len(srv.requests) == 1
        assert outbox.held_until == now + timedelta(seconds=45) and not outbox.paused_by_refusal(now)
        [said] = [r for r in caplog.records if r.getMessage().startswith("outbox: no MMSC available (")]
        assert said.levelname == "WARNING" and "Retry-After 45 s" in said.getMessage()
        assert outbox.run_once(now + timedelta(seconds=44)) == [] and len(srv.requests) == 1
        throttling[0] = False
        assert {i.state for i in outbox.run_once(now + timedelta(seconds=46))} == {"sent"}
        assert store.outbox_counts()["sent"] == 12 and outbox.held_until is None


@pytest.mark.skipif(__import__("mm7bind.holders").holders.this_process() is None,
                    reason="no /proc telling a process's start time")
def test_items_a_killed_worker_held_are_sent_at_the_next_start_not_once_their_lease_runs_out(tmp_path):
    """A worker killed with items claimed left them "sending" for their lease: restarted at once,
    the outbox sent nothing of them for five minutes, up to half an hour for a batch of a hundred
    sent ten at a time. A claim now names its process: one known to be gone (`holders.gone`)
    loses its items at the next start; a live worker's are left to it."""
    from mm7bind import holders

    with Simulator(SimulatorConfig()) as sim:
        store = mm7.SqliteStore(tmp_path / "vasp.db")
        client = mm7.Client(sim.url, store=store)
        outbox = Outbox(client)
        dead, live = (outbox.put(mm7.SubmitReq(recipients=[n])) for n in ("1", "2"))
        now = utcnow()
        assert [i.id for i in store.outbox_claim(now, 2, timedelta(minutes=30))] == [dead.id, live.id]
        machine, pid, start = holders.this_process().rsplit(":", 2)
        killed = f"{machine}:{pid}:{int(start) - 1}"  # (our pid, an earlier process's: the one killed)
        store._conn().execute("UPDATE outbox SET holder = ? WHERE id = ?", (killed, dead.id))
        assert store.outbox_recover(now + timedelta(seconds=1)) == 1  # (the next start, at once)
        [sent] = outbox.run_once(now + timedelta(seconds=1))
        assert (sent.id, sent.state) == (dead.id, "sent") and len(sim.messages) == 1
        assert store.outbox_get(live.id).state == "sending"  # (this process's own: a live worker's)
        client.close()
        store.close()


def test_a_campaign_item_goes_first_to_the_mmsc_a_killed_direct_run_failed_over_to(store):
    """A direct run of a campaign (`send --tag`) failed over to the second MMSC for a recipient and
    was killed while that MMSC had the request: its claim notes where it went. The campaign queued
    since (the same TransactionID) had the outbox take the recipient's claim over and start at the
    first MMSC, which delivered a second copy; it goes to the one that may have it first."""
    from mm7bind.bulk import bulk_transaction_id, installation, queue_bulk, recipient_claim
    from mm7bind.store import SendClaim

    from .fake_http import FakeServer

    with FakeServer() as a, FakeServer() as b:
        client = mm7.Client((a.url, b.url), store=store, retry=mm7.RetryPolicy.never())
        tid = bulk_transaction_id("promo", "+8613800000001", 0, installation(store))
        gone = SendClaim(recipient_claim("promo", "+8613800000001"), "gone:1:x", utcnow() - timedelta(seconds=1))
        assert store.send_claim(gone, lambda held: False) is gone  # (the killed run's, its lease run out)
        assert store.send_claim_attempt_at(gone.transaction_id, gone.holder, tid, b.url)
        outbox = Outbox(client)
        queued = queue_bulk(outbox, mm7.SubmitReq(subject="camp"), ["+8613800000001"], tag="promo")
        assert queued.sent == 1 and store.outbox()[0].transaction_id == tid
        [done] = outbox.run_once()
        assert done.state == "sent" and (len(a.requests), len(b.requests)) == (0, 1)
        client.close()


@pytest.mark.parametrize(("answer", "twice"), fake_http.KILLED_SENDS_ANSWERS)
def test_an_item_sent_again_after_its_killed_round_was_refused_is_not_said_to_have_arrived_twice(
        store, monkeypatch, answer, twice):
    """An item's round failed over to the second MMSC, which answered it; the send's end was
    recorded, and the worker was killed before it recorded the round's. Its next round went to the
    second MMSC first and was recorded "earlier_unanswered" — the MMSC may have it twice — even
    when that MMSC had refused it in a Fault (the item's note of where the attempt went outlived
    the record of how it ended). A refusal says no more; an attempt that got no answer still does."""
    from .fake_http import Killed, killing, mmscs_of_a_killed_send

    with mmscs_of_a_killed_send(store, answer) as (a, b, client, first_process):
        item = Outbox(client).put(mm7.SubmitReq(recipients=["1"]), transaction_id="order-1")
        with monkeypatch.context() as patched:
            patched.setattr(Outbox, "_end", killing)
            with pytest.raises(Killed):
                Outbox(client).run_once()
        assert store.sent_by_transaction_id("order-1").url == b.url and store.outbox_get(item.id).state == "sending"
        first_process[0] = False
        later = utcnow() + timedelta(hours=1)  # (the next start, the item's lease run out)
        assert store.outbox_recover(later) == 1
        [done] = Outbox(client).run_once(later)
        assert done.state == "sent" and store.sent_by_transaction_id("order-1").earlier_unanswered is twice
        # (refused: sent where a round starts; else first to the MMSC that may have it)
        assert (len(a.requests), len(b.requests)) == ((2, 1) if not twice else (1, 2))
