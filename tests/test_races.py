"""Concurrency and crash consistency: two workers on one message or outbox item, stop() while work is
in hand, a process killed between two writes. Interleavings are forced (events, barriers, hooks),
never waited for, so these tests do not depend on the machine's speed."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

import mm7bind as mm7
import mm7bind.store as store_module
from mm7bind import holders
from mm7bind.store import SqliteStore, utcnow

from .conftest import inbox_file_before
from .test_receiver import deliver, post

WAIT = 10  # seconds an event is waited for before a test gives up (never reached when it passes)


class FailsFirst(mm7.Handler):
    """Fails its first call, lets every later one through; `calls`: each call's ctx.replay."""

    def __init__(self):
        self.calls = []

    def on_deliver(self, msg, ctx):
        self.calls.append(ctx.replay)
        if len(self.calls) == 1:
            raise mm7.Unavailable("down")


class Gate(mm7.Handler):
    """Fails its first call, holds its second until `release` is set, lets every later one through."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        self.holding = threading.Event()
        self.release = threading.Event()

    def on_deliver(self, msg, ctx):
        with self.lock:
            self.calls.append(ctx.replay)
            n = len(self.calls)
        if n == 1:
            raise mm7.Unavailable("down")
        if n == 2:
            self.holding.set()
            assert self.release.wait(WAIT)


def _hold_a_repeat(app, handler):
    """The MMSC sends a failed message again and its handling is held: → the thread doing it."""
    repeat = threading.Thread(target=post, args=(app, deliver()), kwargs={"tid": "x"})
    repeat.start()
    assert handler.holding.wait(WAIT)
    return repeat


def test_replay_leaves_alone_an_old_message_a_repeat_is_handling_right_now(store, monkeypatch):
    """The message came an hour ago and failed; the MMSC's repeat is being handled when an operator
    runs replay: the record is "processing" and old, but its claim is fresh, so it is not stale."""
    handler = Gate()
    rcv = mm7.Receiver(handler, store=store)
    app = mm7.wsgi_app(rcv)
    an_hour_ago = utcnow() - timedelta(hours=1)
    monkeypatch.setattr(store_module, "utcnow", lambda: an_hour_ago)
    assert post(app, deliver(), tid="x")["status"] == 500
    monkeypatch.undo()
    repeat = _hold_a_repeat(app, handler)
    try:
        assert rcv.replay() == []  # (default stale_after: 300 s)
    finally:
        handler.release.set()
        repeat.join(WAIT)
    assert len(handler.calls) == 2 and store.inbox()[0].state == "handled"


def test_replaying_one_message_a_repeat_is_handling_does_not_run_the_handler_twice(store):
    handler = Gate()
    rcv = mm7.Receiver(handler, store=store)
    app = mm7.wsgi_app(rcv)
    assert post(app, deliver(), tid="x")["status"] == 500
    [rec] = store.inbox()
    repeat = _hold_a_repeat(app, handler)
    try:
        assert rcv.replay(rec.id) == [(rec.id, "processing")]  # in hand elsewhere: said, not run
    finally:
        handler.release.set()
        repeat.join(WAIT)
    assert len(handler.calls) == 2 and store.inbox_get(rec.id).state == "handled"


def test_two_replays_at_once_handle_a_failed_message_once(store, monkeypatch):
    """`mm7bind replay` started twice (or by two operators): both list the failed message before
    either claims it."""
    handler = FailsFirst()
    calls = handler.calls
    rcv = mm7.Receiver(handler, store=store)
    assert post(mm7.wsgi_app(rcv), deliver(), tid="x")["status"] == 500
    listed = threading.Barrier(2, timeout=WAIT)
    listing = store.inbox_ids

    def inbox_ids(state=None):
        found = listing(state)
        if state == "processing":
            listed.wait()  # both replays have their lists: now both claim
        return found

    monkeypatch.setattr(store, "inbox_ids", inbox_ids)
    results = []
    replays = [threading.Thread(target=lambda: results.append(rcv.replay())) for _ in range(2)]
    for t in replays:
        t.start()
    for t in replays:
        t.join(WAIT)
    assert sorted(results, key=len) == [[], [(1, "handled")]]
    assert calls == [False, True]


def test_a_repeat_losing_the_claim_to_another_waits_for_its_outcome(store, monkeypatch):
    """Two repeats of a failed message at once: both find it failed, one claims and handles it.
    The other must answer with that outcome (here a rejection), not a success read from its stale
    copy of the record."""
    handling = threading.Event()
    release = threading.Event()
    calls = []

    class Handler(mm7.Handler):
        def on_deliver(self, msg, ctx):
            calls.append(1)
            if len(calls) == 1:
                raise mm7.Unavailable("down")
            handling.set()
            assert release.wait(WAIT)
            raise mm7.Reject(2002, "unknown user")

    app = mm7.wsgi_app(mm7.Receiver(Handler(), store=store))
    assert post(app, deliver(), tid="x")["status"] == 500
    accepting = store.accept
    late = threading.Event()

    def accept(**kw):
        found = accepting(**kw)
        if threading.current_thread().name == "late":
            late.set()
            assert handling.wait(WAIT)  # it read the record as failed; the other copy claims it now
        return found

    monkeypatch.setattr(store, "accept", accept)
    answers = {}
    slow = threading.Thread(target=lambda: answers.__setitem__("late", post(app, deliver(), tid="x")), name="late")
    slow.start()
    assert late.wait(WAIT)
    fast = threading.Thread(target=lambda: answers.__setitem__("first", post(app, deliver(), tid="x")))
    fast.start()
    assert handling.wait(WAIT)
    release.set()
    for t in (fast, slow):
        t.join(WAIT)
    assert len(calls) == 2 and store.inbox()[0].state == "rejected"
    assert answers["first"]["status"] == 500
    assert answers["late"]["status"] == 500 and b"2002" in answers["late"]["body"]  # the rejection, not a 200


# -- the outbox: two workers on one item ---------------------------------------------------------


class Held:
    """A client's send replaced: each call waits for its turn, then answers as told."""

    def __init__(self, client):
        self.client, self.calls = client, []
        self.inside, self.go, self.outcomes = threading.Event(), threading.Event(), []

    def __call__(self, msg, *, transaction_id=None, tag=None):
        self.calls.append(transaction_id)
        self.inside.set()
        assert self.go.wait(WAIT)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def accepted(transaction_id: str, message_id: str) -> mm7.Result:
    return mm7.Result("SubmitReq", transaction_id, mm7.Status(1000), mm7.SubmitRsp(message_id=message_id),
                      None, "http://mmsc", 1, 0.0, 200)


def _worker(store, outcomes):
    from mm7bind.outbox import Outbox

    client = mm7.Client("http://127.0.0.1:9/mm7", store=store)
    send = client.send = Held(client)
    send.outcomes = outcomes
    return Outbox(client), send


def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_new_holders_outcome(store):
    """Worker A's send outlasts its lease (a hung MMSC, or the wall clock jumping ahead); B takes
    the item and the MMSC accepts it. A's late failure must not put it back in the queue: it
    would go out a third time."""
    a, a_send = _worker(store, [mm7.RequestTimeout("no answer", transaction_id="t", url="u", attempts=1)])
    b, b_send = _worker(store, [])
    item = a.put(mm7.SubmitReq(recipients=["1"]))
    b_send.outcomes.append(accepted(item.transaction_id, "M-1"))
    t0 = utcnow()
    first = threading.Thread(target=a.run_once, args=(t0,))
    first.start()
    assert a_send.inside.wait(WAIT)
    b_send.go.set()
    [done] = b.run_once(t0 + a.lease + timedelta(seconds=1))  # A's lease is over: B takes the item
    assert done.state == "sent" and done.message_id == "M-1"
    a_send.go.set()
    first.join(WAIT)
    final = store.outbox_get(item.id)
    assert (final.state, final.message_id) == ("sent", "M-1")
    assert b.run_once(t0 + 10 * a.lease) == []  # nothing left to send
    assert a_send.calls == b_send.calls == [item.transaction_id]


def test_a_late_acceptance_is_recorded_whoever_holds_the_item(store):
    """The other way round: B's attempt fails, A's late one was accepted. The MMSC has the
    message: the item is sent, and B's failure (which came first) does not send it again."""
    a, a_send = _worker(store, [])
    b, b_send = _worker(store, [mm7.RequestTimeout("no answer", transaction_id="t", url="u", attempts=1)])
    item = a.put(mm7.SubmitReq(recipients=["1"]))
    a_send.outcomes.append(accepted(item.transaction_id, "M-1"))
    t0 = utcnow()
    first = threading.Thread(target=a.run_once, args=(t0,))
    first.start()
    assert a_send.inside.wait(WAIT)
    b_send.go.set()
    assert b.run_once(t0 + a.lease + timedelta(seconds=1))[0].state == "queued"
    a_send.go.set()
    first.join(WAIT)
    final = store.outbox_get(item.id)
    assert (final.state, final.message_id) == ("sent", "M-1")
    assert b.run_once(t0 + 10 * a.lease) == [] and len(b_send.calls) == 1


def test_an_item_whose_acceptance_was_recorded_is_not_sent_again_after_a_crash(store, monkeypatch):
    """The process dies after the client recorded the MMSC's acceptance and before the outbox
    marked the item sent: the next worker finds the record and does not send it again."""
    from mm7bind.outbox import Outbox
    from mm7bind.simulator import Simulator, SimulatorConfig

    class Killed(BaseException):
        pass

    with Simulator(SimulatorConfig()) as sim:
        outbox = Outbox(mm7.Client(sim.url, store=store))
        item = outbox.put(mm7.SubmitReq(recipients=["1"]))
        updating = store.outbox_update

        def die(*args, **kw):
            raise Killed  # (the process is gone: nothing after this point happens)

        monkeypatch.setattr(store, "outbox_update", die)
        t0 = utcnow()
        with pytest.raises(Killed):
            outbox.run_once(t0)
        monkeypatch.setattr(store, "outbox_update", updating)
        assert store.outbox_get(item.id).state == "sending" and len(sim.messages) == 1
        restarted = Outbox(mm7.Client(sim.url, store=store))
        [done] = restarted.run_once(t0 + outbox.lease + timedelta(seconds=1))
        [mid] = sim.messages
        assert done.state == "sent" and done.message_id == mid
        assert len(sim.messages) == 1  # not sent twice


# -- a process killed at every interesting point --------------------------------------------------

# The child runs one receiver request or one outbox round on a store file and is SIGKILLed where the
# test says: when a given SQL statement starts (SQLite's trace hook), in the handler, or right
# after the answer went out. The parent then plays the restart and the MMSC's resend. ("held in
# the handler": not killed, its handler waits for a file "<store>.release" to appear.)
CHILD = r"""
import os, signal, sys, time
import mm7bind as mm7
from mm7bind import store as st

path, kill_at, job = sys.argv[1], sys.argv[2], sys.argv[3]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

opening = st.SqliteStore._connect
def traced(self, *args, **kwargs):
    db = opening(self, *args, **kwargs)
    db.set_trace_callback(lambda sql: sql.startswith(kill_at) and die())
    return db
st.SqliteStore._connect = traced
store = st.SqliteStore(path)

if job.startswith("receive"):
    from datetime import timedelta
    if job == "receive":  # ("receive now": it came just now)
        now = st.utcnow
        st.utcnow = lambda: now() - timedelta(hours=1)  # it came an hour ago; the MMSC sends it again now

    class Handler(mm7.Handler):
        def on_deliver(self, msg, ctx):
            with open(path + ".calls", "a") as f:
                f.write("child\n")
            if kill_at == "in the handler":
                die()
            if kill_at == "held in the handler":
                open(path + ".holding", "w").close()
                deadline = time.monotonic() + 60
                while not os.path.exists(path + ".release") and time.monotonic() < deadline:
                    time.sleep(0.01)
    body = sys.stdin.buffer.read()
    answer = mm7.Receiver(Handler(), store=store).handle(body, sys.argv[4])
    sys.stdout.buffer.write(answer.body)
    sys.stdout.flush()  # the answer went out
    if kill_at == "after the answer":
        die()
else:
    from mm7bind.outbox import Outbox
    outbox = Outbox(mm7.Client(job, store=store))
    outbox.put(mm7.SubmitReq(recipients=["+8613800000001"]), transaction_id="out-1")
    print("queued", flush=True)
    outbox.run_once()
"""


def _child_args(tmp_path, kill_at, job, *args) -> dict:
    import os
    import sys

    from .conftest import ROOT

    return {"args": [sys.executable, "-c", CHILD, str(tmp_path / "vasp.db"), kill_at, job, *args],
            "env": {**os.environ, "PYTHONPATH": str(ROOT)}, "cwd": ROOT}


def _child(tmp_path, kill_at, job, *args, stdin=b""):
    import subprocess

    return subprocess.run(**_child_args(tmp_path, kill_at, job, *args), input=stdin, capture_output=True, timeout=60,
                           check=False)


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="POSIX signals")
@pytest.mark.parametrize("kill_at, answered, stored, calls", [
    ("INSERT INTO inbox_body", False, None, ["parent"]),  # mid-commit: nothing kept, nothing acknowledged
    ("in the handler", False, "processing", ["child", "parent"]),  # kept; its resend takes it over
    ("UPDATE inbox SET state = 'handled'", False, "processing", ["child", "parent"]),  # handled, not marked: again
    ("after the answer", True, "handled", ["child"]),  # acknowledged: kept, and a resend is answered from it
])
def test_a_receiver_killed_anywhere_loses_no_acknowledged_message(tmp_path, kill_at, answered, stored, calls):
    import signal

    out = mm7.encode(deliver(), transaction_id="k-1")
    child = _child(tmp_path, kill_at, "receive", out.content_type, stdin=out.to_bytes())
    assert child.returncode == -signal.SIGKILL
    assert bool(child.stdout) == answered
    store = SqliteStore(tmp_path / "vasp.db")
    assert [r.state for r in store.inbox()] == ([stored] if stored else [])
    if answered:
        assert mm7.decode(child.stdout, out.content_type).body.status.code == 1000

    class Handler(mm7.Handler):
        def on_deliver(self, msg, ctx):
            with open(f"{tmp_path / 'vasp.db'}.calls", "a") as f:
                f.write("parent\n")

    # Restarted; the MMSC sends the message again (no answer came, or the answer was lost on the way).
    rcv = mm7.Receiver(Handler(), store=store, repeat_wait=0.5)
    again = rcv.handle(out.to_bytes(), out.content_type)
    assert again.status == 200 and [r.state for r in store.inbox()] == ["handled"]
    calls_file = tmp_path / "vasp.db.calls"
    assert (calls_file.read_text().split() if calls_file.exists() else []) == calls
    store.close()


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="POSIX signals")
@pytest.mark.parametrize("kill_at, queued, sends", [
    ("INSERT INTO outbox", False, 0),  # put did not return: nothing was queued
    ("INSERT INTO sent", True, 2),  # the MMSC answered, nothing recorded: sent again, same TransactionID
    ("UPDATE outbox SET state = 'sent'", True, 1),  # the acceptance recorded, the item not marked: not sent again
])
def test_an_outbox_killed_anywhere_sends_each_message_until_taken_and_once_taken_never_again(
        tmp_path, kill_at, queued, sends):
    import signal

    from mm7bind.outbox import Outbox
    from mm7bind.simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig()) as sim:
        child = _child(tmp_path, kill_at, sim.url)
        assert child.returncode == -signal.SIGKILL
        assert (child.stdout == b"queued\n") == queued
        store = SqliteStore(tmp_path / "vasp.db")
        restarted = Outbox(mm7.Client(sim.url, store=store))
        done = restarted.run_once(utcnow() + restarted.lease + timedelta(seconds=1))  # the dead one's lease is over
        assert [i.state for i in done] == (["sent"] if queued else [])
        assert [i.state for i in store.outbox()] == (["sent"] if queued else [])
        assert [s.transaction_id for s in sim.messages.values()] == ["out-1"] * sends
        store.close()


needs_proc = pytest.mark.skipif(holders.this_process() is None, reason="no /proc telling a process's start time")


class Parent(mm7.Handler):
    """The restarted receiver's handler: notes its call beside the child's."""

    def __init__(self, path):
        self.path = path

    def on_deliver(self, msg, ctx):
        with open(f"{self.path}.calls", "a") as f:
            f.write("parent\n")


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="POSIX signals")
@needs_proc
@pytest.mark.parametrize("taken_by", ["the MMSC's next copy", "replay"])
def test_a_message_whose_receiver_was_killed_in_its_handler_is_taken_over_at_once_after_a_restart(
        tmp_path, taken_by):
    """Killed a moment ago, its claim far from stale: its process is gone, so the restarted
    receiver handles the message now (not 3000 "still processing" for stale_after), once."""
    import signal

    path = tmp_path / "vasp.db"
    out = mm7.encode(deliver(), transaction_id="k-1")
    child = _child(tmp_path, "in the handler", "receive now", out.content_type, stdin=out.to_bytes())
    assert child.returncode == -signal.SIGKILL and not child.stdout
    store = SqliteStore(path)
    [rec] = store.inbox()
    assert rec.state == "processing" and rec.holder and rec.holder.split(":")[1] != str(__import__("os").getpid())
    assert rec.claimed_at > utcnow() - timedelta(seconds=60)  # (not stale: stale_after is 300 s)

    rcv = mm7.Receiver(Parent(path), store=store, repeat_wait=1)
    if taken_by == "replay":
        assert rcv.replay() == [(rec.id, "handled")]
    else:
        again = rcv.handle(out.to_bytes(), out.content_type)
        assert again.status == 200 and mm7.decode(again.body, dict(again.headers)["Content-Type"]).body.status.code == 1000
    assert [r.state for r in store.inbox()] == ["handled"]
    assert store.inbox_get(rec.id).holder == holders.this_process()
    # The MMSC's copies after that are answered from the record; a replay finds nothing.
    third = rcv.handle(out.to_bytes(), out.content_type)
    assert mm7.decode(third.body, dict(third.headers)["Content-Type"]).body.status.code == 1000
    assert rcv.replay() == []
    assert (tmp_path / "vasp.db.calls").read_text().split() == ["child", "parent"]
    store.close()


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="POSIX signals")
@needs_proc
def test_a_message_a_live_receiver_in_another_process_has_in_hand_is_left_to_it(tmp_path):
    """Its claim's process runs: neither a copy nor a replay takes the message from it."""
    import subprocess

    path = tmp_path / "vasp.db"
    out = mm7.encode(deliver(), transaction_id="k-1")
    proc = subprocess.Popen(**_child_args(tmp_path, "held in the handler", "receive now", out.content_type),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(out.to_bytes())
        proc.stdin.close()
        deadline = time.monotonic() + WAIT
        while not (tmp_path / "vasp.db.holding").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.01)
        store = SqliteStore(path)
        [rec] = store.inbox()
        assert rec.holder.split(":")[1] == str(proc.pid) and not holders.gone(rec.holder)
        rcv = mm7.Receiver(Parent(path), store=store, repeat_wait=0.2)
        again = rcv.handle(out.to_bytes(), out.content_type)
        assert again.status == 500 and mm7.decode(again.body, dict(again.headers)["Content-Type"]).body.status.code == 3000
        assert rcv.replay() == []
        assert rcv.replay(rec.id) == [(rec.id, "processing")]
        assert not store.claim(rec.id, ("processing",), stale_before=rec.claimed_at)
        (tmp_path / "vasp.db.release").touch()
        answered = proc.stdout.read()
        proc.wait(timeout=60)
    finally:
        (tmp_path / "vasp.db.release").touch()
        proc.kill()
        proc.wait()
    assert proc.returncode == 0 and mm7.decode(answered, out.content_type).body.status.code == 1000
    assert [r.state for r in store.inbox()] == ["handled"]
    assert (tmp_path / "vasp.db.calls").read_text().split() == ["child"]
    store.close()


@needs_proc
def test_a_claims_holder_is_gone_only_when_known_on_this_machine(store):
    """A pid given to another process since, or free: gone. Another machine's claim (another host
    sharing the disk, another container, a boot before), or none recorded: its age decides."""
    import os
    import subprocess
    import sys

    me = holders.this_process()
    machine, pid, start = me.rsplit(":", 2)
    assert not holders.gone(me) and not holders.gone(None) and not holders.gone("") and not holders.gone("junk")
    assert holders.gone(f"{machine}:{pid}:{int(start) - 1}")  # our pid, an earlier process's: reused
    free = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert holders.gone(f"{machine}:{free}:{start}")
    host, boot, namespace = machine.split("/")
    for elsewhere in (f"other-{host}/{boot}/{namespace}", f"{host}/{boot[:-1]}x/{namespace}",
                      f"{host}/{boot}/{namespace}1"):
        assert not holders.gone(f"{elsewhere}:{free}:{start}")
    assert str(os.getpid()) == pid

    rec, _ = store.accept(kind="DeliverReq", transaction_id="t", message_id=None, recipient=None, status=None,
                          peer=None, content_type="text/xml", body=b"x", tid_key="k", report_key=None)
    assert rec.holder == me and store.inbox_get(rec.id).holder == me
    just_now = rec.claimed_at - timedelta(seconds=1)  # (its claim is not stale)
    assert not store.claim(rec.id, ("processing",), stale_before=just_now)  # ours: alive
    for holder, taken in ((f"other-{host}/{boot}/{namespace}:{free}:{start}", False),
                          (f"{machine}:{free}:{start}", True)):
        _set_holder(store, rec.id, holder)
        assert store.claim(rec.id, ("processing",), stale_before=just_now) == taken
    assert store.inbox_get(rec.id).holder == me
    assert not store.claim(rec.id, ("processing",), stale_before=just_now)  # taken: ours now


@needs_proc
def test_a_proc_of_another_pid_namespace_looks_up_no_process(monkeypatch):
    """A /proc numbering processes otherwise than ours (a host's, in a container): neither this
    process is named, nor any holder taken for gone, as its pid there may be anyone's."""
    me = holders.this_process()
    machine, _, start = me.rsplit(":", 2)
    reading = holders._read
    monkeypatch.setattr(holders, "_read", lambda path: "1 (init) S" if path == "/proc/self/stat" else reading(path))
    monkeypatch.setattr(holders, "_machine_of", {})
    monkeypatch.setattr(holders, "_holder_of", {})
    assert holders.this_process() is None
    assert not holders.gone(f"{machine}:999999999:{start}") and not holders.gone(me)


def _set_holder(store, record_id, holder):
    if isinstance(store, SqliteStore):
        store._conn().execute("UPDATE inbox SET holder = ? WHERE id = ?", (holder, record_id))
    else:
        store._inbox[record_id].holder = holder


def test_a_file_from_before_claims_named_their_process_is_upgraded_and_its_claims_go_by_age(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with inbox_file_before(path, "holder") as db:
        db.execute("INSERT INTO inbox (kind, transaction_id, content_type, body, received_at, state, tid_key,"
                   " claimed_at) VALUES ('DeliverReq', 't-old', 'text/xml', X'', '2024-01-01T00:00:00+00:00',"
                   " 'processing', 'k', '2024-01-01T00:00:00+00:00')")
    with pytest.raises(sqlite3.DatabaseError, match="written by an older mm7bind"):
        SqliteStore(path, read_only=True)
    store = SqliteStore(path)
    [rec] = store.inbox()
    assert rec.holder is None
    assert not store.claim(rec.id, ("processing",), stale_before=rec.claimed_at)
    assert store.claim(rec.id, ("processing",), stale_before=utcnow())
    assert store.inbox_get(rec.id).holder == holders.this_process()
    store.close()
    SqliteStore(path, read_only=True).close()


def test_a_file_from_before_claims_were_stamped_is_upgraded_and_its_old_claims_are_stale(tmp_path):
    """An inbox without the claimed_at column: opening it adds the column; a record left
    "processing" in it counts as claimed when it was received, so a replay takes it."""
    path = tmp_path / "old.db"
    with inbox_file_before(path, "claimed_at") as db:
        db.execute("INSERT INTO inbox (kind, transaction_id, content_type, body, received_at, state, tid_key)"
                   " VALUES ('DeliverReq', 't-old', 'text/xml', X'', '2024-01-01T00:00:00+00:00', 'processing', 'k')")
    store = SqliteStore(path)
    [rec] = store.inbox()
    assert rec.claimed_at == rec.received_at
    assert not store.claim(rec.id, ("processing",), stale_before=rec.received_at)
    assert store.claim(rec.id, ("processing",), stale_before=utcnow())
    assert store.inbox_get(rec.id).claimed_at > rec.received_at
    assert not store.claim(rec.id, ("processing",), stale_before=rec.received_at + timedelta(days=1))  # taken
    store.close()


def test_a_record_in_hand_is_taken_only_once_its_claim_is_stale(store):
    with pytest.raises(ValueError, match="stale_before"):
        store.claim(1, ("failed", "processing"))


# -- campaigns queued twice at once ---------------------------------------------------------------


def test_a_campaign_queued_twice_at_the_same_time_is_queued_once(store, monkeypatch):
    """`mm7bind send --queue --tag` run twice together (two operators, a cron job overlapping):
    both look at the tag before either has queued anything."""
    from mm7bind import bulk
    from mm7bind.outbox import Outbox

    outbox = Outbox(mm7.Client("http://127.0.0.1:9/mm7", store=store))
    outbox.put_many([mm7.SubmitReq(recipients=["+860"])], tag="newyear")  # one queued before
    looked = threading.Barrier(2, timeout=WAIT)
    listing = store.outbox

    def outbox_listing(*args, **kw):
        found = listing(*args, **kw)
        looked.wait()  # both runs planned: now both queue
        return found

    monkeypatch.setattr(store, "outbox", outbox_listing)
    recipients = [f"+86{i}" for i in range(5)]
    results = []
    runs = [threading.Thread(target=lambda: results.append(
        bulk.queue_bulk(outbox, mm7.SubmitReq(subject="s"), recipients, tag="newyear"))) for _ in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join(WAIT)
    monkeypatch.undo()
    queued = sorted(str(i.recipients[0]) for i in store.outbox(tag="newyear"))
    assert queued == sorted(recipients)  # each once
    assert sum(r.sent for r in results) == 4  # and the other run says it skipped them
    assert [r.sent + r.skipped for r in results] == [len(recipients)] * 2 and all(r.total == r.sent for r in results)


# -- background workers: stop() and start() --------------------------------------------------------


def test_start_after_a_stop_that_gave_up_waiting_keeps_a_worker_running():
    """stop(timeout) returns while a long round (a slow send) is still going; start() right after
    must leave a worker running, not the stopping one, which quits after its round."""
    from mm7bind.periodic import Periodic

    class Worker(Periodic):
        interval = 0.01

        def __init__(self):
            super().__init__()
            self.rounds, self.in_first, self.end_first, self.second = 0, threading.Event(), threading.Event(), \
                threading.Event()

        def run_once(self):
            self.rounds += 1
            if self.rounds == 1:
                self.in_first.set()
                assert self.end_first.wait(WAIT)
            else:
                self.second.set()

    worker = Worker().start()
    assert worker.in_first.wait(WAIT)
    worker.stop(timeout=0)  # gives up waiting: the first round goes on
    worker.start()
    worker.end_first.set()
    try:
        assert worker.second.wait(WAIT)  # rounds go on
    finally:
        worker.stop()
    assert not worker._thread.is_alive()


def test_an_outbox_item_id_is_never_given_again_after_a_purge(store):
    """A late outcome (or `store requeue ID`) names an item by its id: a purged item's id given to
    a new one would land on the wrong message."""
    now = utcnow()

    def entry(tid):
        return {"transaction_id": tid, "tag": None, "content_type": "text/xml", "body": b"<x/>", "due": now,
                "expires_at": now + timedelta(days=1), "recipients": ["1"]}

    first, last = store.outbox_put_many([entry("a"), entry("b")])
    store.outbox_update(last.id, "sent", attempts=1)
    assert store.purge(utcnow() + timedelta(seconds=1)).outbox == 1
    [new] = store.outbox_put_many([entry("c")])
    assert new.id not in (first.id, last.id)
    assert not store.outbox_update(last.id, "sent", attempts=1)  # gone: nothing to change


# -- the saving handler: a message handled again, a folder read while it is written ----------------


def test_a_message_saved_again_replaces_its_folder_and_a_folder_appears_whole(store, tmp_path, monkeypatch):
    """The first attempt saved the message and then failed (its echo hit a closed stdout); the
    MMSC's repeat saves it again: one copy of each part, not a second set beside the first. And a
    program watching the output folder never finds a message's folder half-written."""
    from mm7bind.handlers import SavingHandler

    out = tmp_path / "received"
    echoes = []

    def echo(line):
        echoes.append(line)
        if len(echoes) == 1:
            raise BrokenPipeError("stdout is gone")

    from mm7bind.content import Content

    saving = Content.save
    seen_while_saving = []

    def watched_save(content, folder, **options):
        seen_while_saving.append(sorted(p.name for p in (out / "DeliverReq").iterdir() if not p.name.startswith(".")))
        return saving(content, folder, **options)

    monkeypatch.setattr(Content, "save", watched_save)
    app = mm7.wsgi_app(mm7.Receiver(SavingHandler(out, echo=echo), store=store))
    msg = deliver(content=mm7.Content(parts=[mm7.Part.text("你好", filename="a.txt"),
                                             mm7.Part.text("again", filename="a.txt")]))
    assert post(app, msg, tid="s-1")["status"] == 500
    [folder] = (out / "DeliverReq").iterdir()
    first = sorted(p.name for p in folder.iterdir())
    assert post(app, msg, tid="s-1")["status"] == 200
    assert list((out / "DeliverReq").iterdir()) == [folder]
    assert sorted(p.name for p in folder.iterdir()) == first  # the same files, not a second set
    assert seen_while_saving == [[], [folder.name]]  # being written: elsewhere, not under its name
    import json

    saved = json.loads((folder / "message.json").read_text("utf-8"))["parts"]
    assert sorted(p["file"] for p in saved) + ["message.json"] == first
    assert {"01-presentation.smil", "02-a.txt", "03-a.txt"} <= set(first)


def test_a_message_of_another_store_saved_under_the_same_name_is_kept_not_replaced(tmp_path):
    """Two stores' messages numbered alike under one TransactionID (a second serve, for another
    MMSC, saving into the same out_dir; a store started anew over it; an MMSC's constant "0000"):
    the second one's saving took the first one's folder for an earlier attempt of its own and
    deleted it. Now only a folder whose message.json names this very record (number and arrival)
    is replaced; another gets the next free name, and a replay of either finds its own."""
    import json

    from mm7bind.handlers import SavingHandler
    from mm7bind.store import SqliteStore

    out = tmp_path / "received"
    stores = [SqliteStore(tmp_path / "one.db"), SqliteStore(tmp_path / "two.db")]
    try:
        apps = [mm7.wsgi_app(mm7.Receiver(SavingHandler(out, echo=lambda line: None), store=s)) for s in stores]
        assert post(apps[0], deliver(subject="one"), tid="0000")["status"] == 200
        assert post(apps[1], deliver(subject="two"), tid="0000")["status"] == 200
        replayed = mm7.Receiver(SavingHandler(out, echo=lambda line: None), store=stores[1]).replay(1, stale_after=0)
        assert replayed == [(1, "handled")]  # (saved again: into its own folder, the -2)
        assert post(apps[0], deliver(subject="three"), tid="0001")["status"] == 200
    finally:
        for s in stores:
            s.close()
    folders = sorted((out / "DeliverReq").iterdir())
    assert [f.name for f in folders] == ["000001-0000", "000001-0000-2", "000002-0001"]
    saved = [json.loads((f / "message.json").read_text("utf-8")) for f in folders]
    assert [s["message"]["subject"] for s in saved] == ["one", "two", "three"]
    assert [s["record"]["id"] for s in saved] == [1, 1, 2]


def test_without_a_store_messages_sharing_a_transaction_id_keep_a_folder_each(tmp_path):
    from mm7bind.handlers import SavingHandler

    out = tmp_path / "received"
    app = mm7.wsgi_app(mm7.Receiver(SavingHandler(out, echo=lambda line: None)))
    for subject in ("one", "two", "three"):
        assert post(app, deliver(subject=subject), tid="same")["status"] == 200
    import json

    folders = sorted((out / "DeliverReq").iterdir())
    assert [f.name for f in folders] == ["000000-same", "000000-same-2", "000000-same-3"]
    assert [json.loads((f / "message.json").read_text("utf-8"))["message"]["subject"] for f in folders] == [
        "one", "two", "three"]


def test_a_replay_that_cannot_decode_the_stored_message_leaves_it_failed_not_in_hand(store):
    """Limits tightened since the message came: replay says so and the message stays failed
    (another replay can take it once the limits allow), instead of an exception that left it
    claimed, "processing", and out of reach of replays and repeats until the claim went stale."""
    handler = FailsFirst()
    calls = handler.calls
    app = mm7.wsgi_app(mm7.Receiver(handler, store=store))
    assert post(app, deliver(subject="x" * 5000), tid="x")["status"] == 500
    [rec] = store.inbox()
    strict = mm7.Receiver(handler, store=store, xml_limits=mm7.xmlsafe.XmlLimits(max_bytes=1000))
    assert strict.replay() == [(rec.id, "failed")]
    assert store.inbox_get(rec.id).state == "failed" and "exceeds the limit" in store.inbox_get(rec.id).error
    assert mm7.Receiver(handler, store=store).replay() == [(rec.id, "handled")] and calls == [False, True]


# -- a store opened before the process forks (gunicorn --preload) ----------------------------------


def _forked_child(store, inherited, pipe):
    pipe.send(id(store._conn()) in inherited)  # its connections are its own, not its parent's
    with store._write:
        pipe.send("holding")
        pipe.recv()
    store.record_sent(store_module.SentRecord("child", "SubmitReq", "REL-6-MM7-1-4"))
    pipe.send("written")


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork")
def test_a_store_opened_before_a_fork_is_the_childs_own_afterwards(tmp_path):
    """gunicorn --preload opens the store in the master and forks the workers: a worker must not
    use its parent's SQLite connections (SQLite forbids it), and its writes must still wait for the
    parent's: a lock on the inherited `<file>.lock` description is held by both at once."""
    import fcntl
    import multiprocessing

    store = SqliteStore(tmp_path / "vasp.db")
    store.record_sent(store_module.SentRecord("parent", "SubmitReq", "REL-6-MM7-1-4"))  # connection, lock file
    inherited = [id(db) for db in store._all]
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(target=_forked_child, args=(store, inherited, theirs))
    child.start()
    try:
        assert ours.poll(WAIT) and ours.recv() is False
        assert ours.poll(WAIT) and ours.recv() == "holding"
        with pytest.raises(BlockingIOError):  # the child's lock is a lock for us too
            fcntl.flock(store._write.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ours.send("go on")
        assert ours.poll(WAIT) and ours.recv() == "written"
    finally:
        child.join(WAIT)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert [r.transaction_id for r in store.sent()] == ["parent", "child"]
    store.close()


def test_a_campaign_sent_twice_at_the_same_time_sends_each_recipient_once(tmp_path, monkeypatch):
    """`mm7bind send --tag` run twice together on one store (two processes: here two stores on one
    file, each run in a thread): both look at the tag before either has sent anything, then send
    through a slow MMSC."""
    from mm7bind import bulk

    from .fake_http import FakeServer, Reply, default_responder

    def slow(req):
        reply = default_responder(req)
        return Reply(reply.status, reply.body, reply.headers, delay=0.05)

    recipients = [f"+86{i}" for i in range(6)]
    looked = threading.Barrier(2, timeout=WAIT)
    results = []
    with FakeServer(slow) as mmsc:
        clients = []
        for _ in range(2):
            store = SqliteStore(tmp_path / "vasp.db")
            listing = store.sent

            def sent_listing(*args, _listing=listing, **kw):
                found = _listing(*args, **kw)
                if kw.get("tag") == "newyear":
                    looked.wait()  # both runs planned: now both send
                return found

            monkeypatch.setattr(store, "sent", sent_listing)
            clients.append(mm7.Client(mmsc.url, store=store))
        runs = [threading.Thread(target=lambda c=c: results.append(
            bulk.send_bulk(c, mm7.SubmitReq(subject="s"), recipients, concurrency=2, tag="newyear")))
            for c in clients]
        for t in runs:
            t.start()
        for t in runs:
            t.join(WAIT)
        for c in clients:
            c.close()
        sent_to = sorted(str(r.decode().body.recipients.to[0]) for r in mmsc.requests)
    assert sent_to == recipients  # each once
    assert sum(r.sent for r in results) == len(recipients)
    assert [r.sent + r.skipped for r in results] == [len(recipients)] * 2 and all(r.total == r.sent for r in results)


def test_a_send_claim_is_taken_over_only_from_a_holder_that_is_gone(store):
    """What decides whether a run sends a request another one claimed: the other is alive (this
    process) and its lease holds → no; its process is gone, or the lease ran out → yes; the MMSC
    accepted it → never again."""
    import socket
    import subprocess
    import sys

    from mm7bind import sendonce
    from mm7bind.store import SendClaim

    config = mm7.Client("http://127.0.0.1:9/mm7").config
    held, mine = sendonce.claim(store, "t-1", config)
    assert mine and held.holder.split(":")[1] == str(__import__("os").getpid())
    again, mine = sendonce.claim(store, "t-1", config)
    assert not mine and again.holder == held.holder  # a live holder keeps it
    store.send_done("t-1", "someone else", accepted=False)  # (only its holder lets it go)
    assert not sendonce.claim(store, "t-1", config)[1]
    store.send_done("t-1", held.holder, accepted=False)  # refused: free to be tried again
    assert sendonce.claim(store, "t-1", config)[1]

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead = held.holder.replace(f":{__import__('os').getpid()}:", f":{gone.stdout.strip()}:", 1)
    store.send_claim(SendClaim("t-2", dead, utcnow() + timedelta(hours=1)), lambda c: False)
    assert sendonce.claim(store, "t-2", config)[1]  # its process died in flight: sent again at once
    from mm7bind import holders

    if holders.this_process() is not None:
        # Named by the host's name alone (a process of another container sharing it, its pid not
        # one of ours; or a claim of a release before): the lease decides, not our pids.
        store.send_claim(SendClaim("t-5", f"{socket.gethostname()}:{gone.stdout.strip()}:x",
                                   utcnow() + timedelta(hours=1)), lambda c: False)
        assert not sendonce.claim(store, "t-5", config)[1]
    store.send_claim(SendClaim("t-3", "elsewhere:1:x", utcnow() - timedelta(seconds=1)), lambda c: False)
    assert sendonce.claim(store, "t-3", config)[1]  # another host's, whose lease ran out
    store.send_claim(SendClaim("t-4", "elsewhere:1:x", utcnow() + timedelta(hours=1)), lambda c: False)
    assert not sendonce.claim(store, "t-4", config)[1]  # another host's, still within its lease
    store.send_done("t-4", "elsewhere:1:x", accepted=True)
    store.send_claim(SendClaim("t-4", "x", utcnow() - timedelta(hours=1)), lambda c: True)
    assert store.send_claim_get("t-4").accepted and not sendonce.claim(store, "t-4", config)[1]


def test_send_claims_are_purged_with_the_sent_records(store):
    """A claim kept for an accepted request lives as long as the records do: purged with them, not
    kept for ever (nor dropped before them)."""
    from mm7bind.store import SendClaim

    store.send_claim(SendClaim("old", "h:1:x", None, claimed_at=utcnow() - timedelta(days=40)), lambda c: False)
    store.send_claim(SendClaim("new", "h:1:x", None), lambda c: False)
    store.purge(timedelta(days=30), dry_run=True)
    assert store.send_claim_get("old") is not None
    store.purge(timedelta(days=30), sent=False)
    assert store.send_claim_get("old") is not None
    store.purge(timedelta(days=30))
    assert store.send_claim_get("old") is None and store.send_claim_get("new").accepted


def test_a_campaign_sent_and_queued_at_the_same_time_goes_to_each_recipient_once(store, monkeypatch):
    """`mm7bind send --tag` and `mm7bind send --tag --queue` of one campaign together: what the
    direct run is sending is not queued, and what was queued after the direct run looked is not
    sent by it."""
    from mm7bind import bulk, sendonce
    from mm7bind.outbox import Outbox

    from .fake_http import FakeServer

    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store) as client:
        outbox = Outbox(client)
        in_flight = bulk.bulk_transaction_id("newyear", "+860", 0, store.installation_id())
        held, mine = sendonce.claim(store, in_flight, client.config)  # a direct run is sending to +860
        assert mine
        queued = bulk.queue_bulk(outbox, mm7.SubmitReq(subject="s"), ["+860", "+861"], tag="newyear")
        assert (queued.sent, queued.skipped) == (1, 1) and [i.recipients for i in store.outbox()] == [["+861"]]
        store.send_done(in_flight, held.holder, accepted=False)

        monkeypatch.setattr(store, "outbox", lambda *a, **kw: [])  # the direct run looked before +861 was queued
        sent = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), ["+860", "+861"], concurrency=1, tag="newyear")
        monkeypatch.undo()
        assert (sent.sent, sent.skipped) == (1, 1)
        assert [str(r.decode().body.recipients.to[0]) for r in mmsc.requests] == ["+860"]


def test_a_store_failing_after_the_claim_gives_the_claim_back(store, monkeypatch):
    """The store failing between a campaign's claim and its send: the recipient counts as failed,
    not sent, and the claim is let go, or the same process's next run (the claim's holder alive,
    its lease long) counted it skipped, as if sent, and missed it."""
    import sqlite3

    from mm7bind import bulk

    from .fake_http import FakeServer

    looked = store.sent_by_transaction_id
    failures = iter([sqlite3.OperationalError("database is locked")])

    def failing_once(tid):
        exc = next(failures, None)
        if exc is not None:
            raise exc
        return looked(tid)

    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store) as client:
        monkeypatch.setattr(store, "sent_by_transaction_id", failing_once)
        first = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), ["+860"], concurrency=1, tag="newyear")
        assert (first.sent, first.failed) == (0, 1) and "store failed" in first.failures[0][1]
        assert mmsc.requests == []
        again = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), ["+860"], concurrency=1, tag="newyear")
        assert (again.sent, again.skipped) == (1, 0)
        assert [str(r.decode().body.recipients.to[0]) for r in mmsc.requests] == ["+860"]


class _ContentionSignallingLock:
    """A lock that tells when a thread had to wait for it (the moment a race would happen)."""

    def __init__(self, lock) -> None:
        self._lock = lock
        self.contended = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        self.contended.set()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()


def test_a_cancel_while_the_simulator_reports_retrieved_is_either_a_cancel_or_refused():
    """The report worker holds the message between its look at the state and its "delivered"; a
    CancelReq comes in that very moment. Either the cancel wins (1000, no report) or the delivery
    does (3001 and the report), never a 1000 for a message reported delivered."""
    from mm7bind.simulator import Simulator, StoredMessage
    from mm7bind.testing import RunningReceiver

    checked, go = threading.Event(), threading.Event()

    class PausingOnReportCheck(StoredMessage):
        def __getattribute__(self, name):
            value = super().__getattribute__(name)
            if name == "state" and threading.current_thread() is reporter and not checked.is_set():
                checked.set()  # the report path has seen "accepted"...
                assert go.wait(WAIT)  # ...and sets "delivered" only once the cancel is under way
            return value

    with Simulator() as sim, RunningReceiver() as vasp, mm7.Client(sim.url, retry=mm7.RetryPolicy.never()) as client:
        sim.config.vasp_url = vasp.url
        mid = client.submit(mm7.SubmitReq(recipients=["+8613800000000"])).message_id
        sim._messages[mid] = PausingOnReportCheck(**{f: getattr(sim.messages[mid], f)
                                                    for f in StoredMessage.__dataclass_fields__})
        sim._lock = lock = _ContentionSignallingLock(sim._lock)
        reported = {}
        reporter = threading.Thread(target=lambda: reported.update(sim.send_report(mid, "+8613800000000")))
        reporter.start()
        assert checked.wait(WAIT)
        cancelled = {}
        canceller = threading.Thread(target=lambda: cancelled.update(
            code=client.send(mm7.CancelReq(message_id=mid)).status.code))
        canceller.start()
        # The cancel has answered, or waits for the report path to finish with the state.
        done_or_waiting = threading.Event()
        threading.Thread(target=lambda: (canceller.join(), done_or_waiting.set()), daemon=True).start()
        threading.Thread(target=lambda: (lock.contended.wait(), done_or_waiting.set()), daemon=True).start()
        assert done_or_waiting.wait(WAIT)
        go.set()
        reporter.join(WAIT)
        canceller.join(WAIT)
        lock.contended.set()  # (lets the watcher thread end)
        outcome = (cancelled["code"], sim.messages[mid].state, len(vasp.received))
        assert outcome in {(1000, "cancelled", 0), (3001, "delivered", 1)}, (outcome, reported)


def test_round_robin_gives_each_mmsc_its_share_when_threads_send_at_once():
    """Threads sharing one client each take their own turn over its URLs: with a multiple of their
    number of requests, every MMSC gets exactly its share. Each thread picks its URL at the same
    moment as the others (the URL list makes them all meet there), where a turn read and then
    counted separately would give several threads the same one."""
    from .fake_http import FakeServer

    threads, rounds = 8, 3
    meet = threading.Barrier(threads, timeout=WAIT)

    class MeetingUrls(tuple):
        def __len__(self) -> int:  # (asked by the round robin as it picks a URL)
            meet.wait()
            return super().__len__()

    with FakeServer() as a, FakeServer() as b, FakeServer() as c, FakeServer() as d, \
            mm7.Client((a.url, b.url, c.url, d.url), round_robin=True, retry=mm7.RetryPolicy.never()) as client:
        object.__setattr__(client.config, "urls", MeetingUrls(client.config.urls))
        errors = []

        def send():
            try:
                for _ in range(rounds):
                    assert client.submit(mm7.SubmitReq(recipients=["+8613800000000"])).ok
            except Exception as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        senders = [threading.Thread(target=send) for _ in range(threads)]
        for t in senders:
            t.start()
        for t in senders:
            t.join(WAIT * rounds)
        assert errors == []
        share = threads * rounds // 4
        assert [len(s.requests) for s in (a, b, c, d)] == [share] * 4


def _campaign_ctrl_c_while_busy(store=None, tag=None):
    """A campaign to three recipients, two workers, against an MMSC answering every request 503
    with Retry-After: 60, Ctrl-C'd once both workers have had their answer (each waiting to try
    again, or about to) → (its result, the requests the MMSC got)."""
    import os
    import signal

    from mm7bind.bulk import send_bulk

    from .fake_http import FakeServer, Reply

    arrived, interrupt = [], threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))  # (Ctrl-C)

    def busy(req):
        arrived.append(req)
        if len(arrived) == 2:  # (both workers have had their answer: each waits now)
            interrupt.start()
        return Reply(503, b"busy", {"Retry-After": "60"})

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # (the suite may run with it ignored)
    try:
        with FakeServer(busy) as mmsc, mm7.Client(mmsc.url, store=store,
                                                  retry=mm7.RetryPolicy(max_attempts=3)) as client:
            result = send_bulk(client, mm7.SubmitReq(recipients=["0"]), ["+8613800000001", "+8613800000002",
                                                                          "+8613800000003"], tag=tag, concurrency=2)
    finally:
        interrupt.cancel()
        signal.signal(signal.SIGINT, previous)
    return result, arrived


def test_ctrl_c_ends_a_campaigns_pauses_between_attempts_not_only_what_comes_after():
    """Every worker waiting out a 503's Retry-After (a minute here, up to max_retry_after) held an
    interrupted run that long: Ctrl-C reached the main thread alone, and a second one lost the
    counts. Now the pauses end with it; those recipients count as failed (interrupted, how their
    last attempt ended), and a resumed run sends them with the TransactionID they had."""
    from mm7bind.bulk import bulk_transaction_id

    store = mm7.MemoryStore()
    result, arrived = _campaign_ctrl_c_while_busy(store, tag="t")
    assert result.interrupted and len(arrived) == 2  # no attempt after the interrupt
    assert (result.sent, result.failed, result.may_have_arrived, result.total) == (0, 2, 0, 3)
    assert all(why.startswith("interrupted while waiting to try again (HTTPStatusError: HTTP 503")
               for _, why in result.failures), result.failures
    for rcpt, _ in result.failures:  # recorded as it ended: resumed, it goes with the same TransactionID
        tid = bulk_transaction_id("t", rcpt, 0, store.installation_id())
        assert store.sent_by_transaction_id(tid).error.startswith("HTTPStatusError: HTTP 503")
        assert store.send_claim_get(tid) is None  # (given back)


@pytest.mark.parametrize("when", ["in flight", "planned"])
def test_a_campaign_item_requeued_while_a_direct_run_sends_to_its_recipient_goes_once(store, monkeypatch, when):
    """`store requeue` of a campaign's failed item checked the tag's records, and a direct run
    (`send --tag --retry-refused`) of the campaign was sending to its recipient that moment ("in flight": nothing
    accepted yet), or had planned to before the item was queued again ("planned": a failed item is
    not waiting, and the item's TransactionID is not the one the run sends with): the outbox sent
    the item too. The two now claim the recipient: whoever comes second does not send."""
    from mm7bind import bulk
    from mm7bind.outbox import Outbox
    from mm7bind.simulator import Simulator, SimulatorConfig

    from .test_outbox import _gate

    recipient, template = "+8613800000001", mm7.SubmitReq(subject="camp")
    with Simulator(SimulatorConfig()) as sim, mm7.Client(sim.url, store=store,
                                                         retry=mm7.RetryPolicy.never()) as client:
        outbox = Outbox(client)
        [item_id] = [int(v.removeprefix("queued #")) for v in
                     bulk.queue_bulk(outbox, template, [recipient], tag="camp").message_ids.values()]
        sim.fail_next(1, status=2001)
        assert [i.state for i in outbox.run_once()] == ["failed"]
        arrivals, release = [], threading.Event()
        if when == "in flight":
            _gate(sim, lambda: arrivals.append(1) or (len(arrivals) == 1 and release.wait(20)))
        else:
            release.set()
        direct: list = []
        planned = bulk._plan
        if when == "planned":  # the direct run plans, then the item is queued again, then it sends
            def plan_then_requeue(*args, **kwargs):
                planning = planned(*args, **kwargs)
                assert outbox.requeue(item_id)
                return planning

            monkeypatch.setattr(bulk, "_plan", plan_then_requeue)
        thread = threading.Thread(target=lambda: direct.append(
            bulk.send_bulk(client, template, [recipient], concurrency=1, tag="camp", retry_refused=True)))
        thread.start()
        if when == "in flight":
            deadline = time.monotonic() + 20
            while not arrivals and time.monotonic() < deadline:
                time.sleep(0.01)
            assert outbox.requeue(item_id)  # (nothing accepted under the tag yet)
            [meanwhile] = outbox.run_once()
            assert meanwhile.state == "queued" and "another run of the campaign is sending" in meanwhile.error
            release.set()
        thread.join(30)
        assert direct[0].sent == 1
        [after] = outbox.run_once(utcnow() + timedelta(minutes=1))
        assert after.state == "failed" and "was accepted under tag camp by another run" in after.error
        got = [m for m in sim.messages.values() if [str(a) for a in m.request.recipients] == [recipient]]
        assert len(got) == 1


def test_a_campaign_s_send_ends_within_its_recipient_s_claim(store):
    """The outbox's sends were held to their lease, a direct run's (`send_bulk` under a tag) were
    not to its recipient's claim: one waiting out a rate limit kept busy by other senders sent after
    its claim ran out, when another run of the campaign could have claimed the recipient and sent
    too. Now it sends nothing, and says so; a run's own workers' waits are counted in the claim."""
    from mm7bind import bulk, sendonce

    from .fake_http import FakeServer

    sleeps: list[float] = []
    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store, rate_limit=0.001, sleep=sleeps.append,
                                          retry=mm7.RetryPolicy(max_attempts=2)) as client:
        [limiter] = client.core.limiters.values()
        own = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), ["+860", "+861"], concurrency=2, tag="own")
        assert (own.sent, own.failed) == (2, 0) and len(mmsc.requests) == 2  # (a wait of its own workers: within)
        busy = sendonce.lease(client.config).total_seconds() + sendonce.rate_wait(client.config, 1)
        for _ in range(int(busy * 0.001) + 1):  # other senders through the client take its turns meanwhile
            limiter.reserve()
        waits = len(sleeps)
        late = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), ["+862"], concurrency=1, tag="late")
    assert (late.sent, late.failed, late.may_have_arrived) == (0, 1, 0) and len(mmsc.requests) == 2
    [(rcpt, why)] = late.failures
    assert rcpt == "+862" and why.startswith("not sent: no time for an attempt") and len(sleeps) == waits
    assert store.send_claim_get(bulk.recipient_claim("late", "+862")) is None  # (given back: a rerun sends it)


def test_a_campaign_s_claim_on_a_recipient_covers_a_large_message_s_upload(store):
    """A recipient's claim lasted what a request's attempts take with uploads of `upload_timeout`:
    a large message, given longer to go out (`upload_min_rate`), could outlast it, and another run
    of the campaign send to the recipient too."""
    from mm7bind import bulk, sendonce

    from .fake_http import FakeServer

    content = mm7.Content(parts=[mm7.Part.from_bytes(b"x" * 1_000_000, "application/octet-stream")])
    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store, upload_min_rate=1000) as client:
        claims = []
        submit = client.submit

        def watching(msg, **kwargs):
            claims.append(store.send_claim_get(bulk.recipient_claim("big", "+860")).lease_until - utcnow())
            return submit(msg, **kwargs)

        client.submit = watching
        result = bulk.send_bulk(client, mm7.SubmitReq(subject="s", content=content), ["+860"], tag="big")
        size = len(mmsc.requests[0].body)
    assert result.sent == 1
    assert claims[0] > sendonce.lease(client.config, size) - timedelta(minutes=1) > sendonce.lease(client.config) * 2


def test_a_campaign_without_a_store_interrupted_between_attempts_counts_what_no_mmsc_took_as_not_taken():
    """Without a store (no record of how the last attempt ended), each send Ctrl-C ended in its
    pause was counted as one the MMSC may have ("N of the failed got no answer"), after a 503 too:
    the client's mark on the interruption says it took nothing."""
    result, arrived = _campaign_ctrl_c_while_busy()
    assert result.interrupted and len(arrived) == 2
    assert (result.sent, result.failed, result.may_have_arrived) == (0, 2, 0), result
