"""The SQLite store's group commit: concurrent accepts share a transaction, nothing is lost or doubled."""

from __future__ import annotations

import logging
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mm7bind.store import SentRecord, SqliteStore

WAIT = 10  # seconds a thread is waited for before a test gives up (never reached when it passes)


def accept(store: SqliteStore, tid: str, body: bytes = b"<x/>"):
    return store.accept(kind="DeliverReq", transaction_id=tid, message_id=None, recipient=None, status=None,
                        peer="127.0.0.1", content_type="text/xml", body=body, tid_key=f"k:{tid}", report_key=None)


def test_concurrent_accepts_are_grouped_and_each_comes_back_once(tmp_path):
    store = SqliteStore(tmp_path / "inbox.db")
    commits = []
    real = store._write_batch

    def counting(batch):
        commits.append(len(batch))
        real(batch)

    store._write_batch = counting
    start = threading.Barrier(16)

    def one(i):
        if i < 16:
            start.wait()  # the first sixteen arrive together
        return accept(store, f"t-{i % 100}", body=b"%d" % i)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(200)))
    new = [rec for rec, fresh in results if fresh]
    repeats = [rec for rec, fresh in results if not fresh]
    assert len(new) == 100 and len(repeats) == 100
    assert sorted(r.transaction_id for r in new) == sorted(f"t-{i}" for i in range(100))
    by_tid = {r.transaction_id: r for r in new}
    for r in repeats:  # a repeat gets the first copy's record back, body and all
        assert (r.id, r.body) == (by_tid[r.transaction_id].id, by_tid[r.transaction_id].body)
    assert len(store.inbox()) == 100
    assert sum(commits) == 200 and len(commits) < 200  # fewer flushes than messages
    assert max(commits) > 1
    fresh = SqliteStore(tmp_path / "inbox.db")  # what another process would see: all of it
    assert len(fresh.inbox()) == 100
    fresh.close()
    store.close()


def test_outcomes_join_the_group_commit_and_each_is_recorded(tmp_path):
    store = SqliteStore(tmp_path / "inbox.db")
    batches = []
    real = store._write_batch

    def counting(batch):
        batches.append(["mark" if p.body is None else "insert" for p in batch])
        real(batch)

    store._write_batch = counting
    start = threading.Barrier(16)

    def one(i):
        if i < 16:
            start.wait()
        rec, _ = accept(store, f"t-{i}")
        store.mark(rec.id, "handled" if i % 2 else "rejected", 1000 + i, None if i % 2 else f"no {i}", wait=30.0)
        return rec.id

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(one, range(300)))
    got = {r.id: r for r in store.inbox()}
    assert len(got) == 300
    for i, rec_id in enumerate(ids):  # each outcome on its own record, once
        rec = got[rec_id]
        assert (rec.transaction_id, rec.state, rec.response_code, rec.attempts) == (
            f"t-{i}", "handled" if i % 2 else "rejected", 1000 + i, 1)
        assert rec.error == (None if i % 2 else f"no {i}")
    writes = sum(len(b) for b in batches)
    assert writes == 600 and len(batches) < writes  # fewer transactions (and locks taken) than writes
    assert any("mark" in b and "insert" in b for b in batches)  # outcomes written with messages stored
    store.close()


def test_an_outcome_that_cannot_be_written_fails_alone_not_the_messages_committed_with_it(tmp_path, caplog):
    """An outcome joins other threads' messages in one transaction: its own statement refused (an
    error text holding a lone surrogate, say, from a file name in a handler's exception) must not
    take the messages stored with it down too (they were answered 3000, or worse). Its caller,
    which did not wait for the leader's write, hears nothing: the error is logged."""
    store = SqliteStore(tmp_path / "inbox.db")
    rec, _ = accept(store, "first")
    store._write.__enter__()  # (another writer: the next ones queue up behind a leader)
    results = {}

    def run(name, fn):
        try:
            results[name] = fn()
        except Exception as exc:  # noqa: BLE001
            results[name] = exc

    leader = threading.Thread(target=run, args=("leader", lambda: accept(store, "leader")))
    leader.start()
    while not store._leader:
        time.sleep(0.001)
    others = [threading.Thread(target=run, args=("message", lambda: accept(store, "message"))),
              threading.Thread(target=run, args=("outcome", lambda: store.mark(rec.id, "failed", None, "no \udcff")))]
    for t in others:
        t.start()
    while len(store._queue) < 2:  # (the two waiting behind the leader)
        time.sleep(0.001)
    with caplog.at_level(logging.ERROR, logger="mm7bind.store"):
        store._write.__exit__(None, None, None)
        for t in [leader, *others]:
            t.join(30)
    assert results["outcome"] is None
    assert f"the outcome of #{rec.id} (failed) could not be recorded (UnicodeEncodeError" in caplog.text
    assert not isinstance(results["message"], Exception), results["message"]
    assert {r.transaction_id for r in store.inbox()} == {"first", "leader", "message"}
    assert store.inbox_get(rec.id).state == "processing"
    store.close()


def test_an_outcome_no_later_try_can_write_is_not_kept_to_be_tried_again(tmp_path):
    """Kept (as one the store was too busy for), it was tried again every second for good."""
    store = SqliteStore(tmp_path / "inbox.db")
    rec, _ = accept(store, "first")
    with pytest.raises(UnicodeEncodeError):
        store.mark(rec.id, "failed", None, "no \udcff")
    assert not store._unrecorded and store.inbox_get(rec.id).state == "processing"
    store.close()


def test_an_outcome_recorded_while_another_thread_writes_is_left_to_it(tmp_path):
    """Its caller goes on at once; the leader writes it after its own batch (nothing else queued)."""
    store = SqliteStore(tmp_path / "inbox.db")
    rec, _ = accept(store, "first")
    store._write.__enter__()  # (the leader's write waits for this)
    leader = threading.Thread(target=accept, args=(store, "leader"))
    leader.start()
    while not store._leader:
        time.sleep(0.001)
    outcome = threading.Thread(target=store.mark, args=(rec.id, "handled", 1000))
    outcome.start()
    outcome.join(10)
    done_before_the_write = not outcome.is_alive()
    store._write.__exit__(None, None, None)
    leader.join(30)
    outcome.join(30)
    assert done_before_the_write
    assert store.inbox_get(rec.id).state == "handled" and not store._leader and not store._queue
    store.close()


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs signal.pthread_kill")
def test_a_write_interrupted_while_it_waits_does_not_stop_the_stores_later_writes(tmp_path):
    """Ctrl-C in the main thread while its write waits behind another thread's commit: its write
    stayed queued, was handed the lead with nobody to take it, and every later write of the
    process waited for ever."""
    store = SqliteStore(tmp_path / "inbox.db")
    accept(store, "first")
    store._write.__enter__()  # (another writer: the leader waits, the main thread behind it)
    leader = threading.Thread(target=accept, args=(store, "leader"), daemon=True)
    leader.start()
    while not store._leader:
        time.sleep(0.001)
    interrupted = threading.Event()

    def once(signum, frame):  # (one KeyboardInterrupt; a signal sent after it is not another)
        if not interrupted.is_set():
            interrupted.set()
            raise KeyboardInterrupt

    def interrupt():
        while not store._queue:
            time.sleep(0.001)
        # Sent until taken: a signal landing as the main thread goes into its lock wait (after
        # Python last looked for signals, before the wait begins) is seen only once the wait ends.
        while not interrupted.wait(0.1):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, once)
    try:
        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            accept(store, "interrupted")  # (an outcome would not wait: it is left to the leader)
    finally:
        signal.signal(signal.SIGINT, previous)
    store._write.__exit__(None, None, None)
    leader.join(WAIT)
    later = threading.Thread(target=accept, args=(store, "later"), daemon=True)
    later.start()
    later.join(WAIT)
    assert not later.is_alive(), "a write after the interrupted one never returned"
    assert {r.transaction_id for r in store.inbox()} == {"first", "leader", "later"}
    store.close()


def test_a_store_that_cannot_open_a_connection_fails_each_waiting_write_with_its_error(tmp_path, caplog):
    store = SqliteStore(tmp_path / "inbox.db")
    real = store._connect

    def broken(*args, **kwargs):
        time.sleep(0.01)  # (the others queue up meanwhile)
        raise sqlite3.OperationalError("unable to open database file")

    store._connect = broken
    start = threading.Barrier(12)

    def one(i):
        start.wait()
        try:
            if i % 3:
                accept(store, f"t-{i}")
            else:
                store.mark(1, "handled", 1000, wait=5.0)
        except sqlite3.OperationalError as exc:
            return str(exc)
        return "written"

    with caplog.at_level(logging.WARNING, logger="mm7bind.store"), ThreadPoolExecutor(12) as pool:
        said = [f.result(timeout=30) for f in [pool.submit(one, i) for i in range(12)]]
    assert [s for i, s in enumerate(said) if i % 3] == ["unable to open database file"] * 8
    # An outcome (its message was handled) is kept to be written again, whoever's write failed.
    assert said[::3] == ["written"] * 4
    assert caplog.text.count("could not be recorded now (OperationalError: unable to open database file): kept") == 4
    store._connect = real
    _, fresh = accept(store, "fine")  # usable again, nothing stored meanwhile
    assert fresh and [r.transaction_id for r in store.inbox()] == ["fine"]
    store.close()


def test_a_failed_commit_fails_every_caller_of_that_batch_and_stores_nothing(tmp_path):
    store = SqliteStore(tmp_path / "inbox.db")
    store._conn().execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.transaction_id = 'boom'"
        " BEGIN SELECT RAISE(ROLLBACK, 'disk on fire'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
        accept(store, "boom")
    assert store.inbox() == []
    _, fresh = accept(store, "fine")  # the store is usable afterwards
    assert fresh and [r.transaction_id for r in store.inbox()] == ["fine"]
    store.close()


def test_a_row_refused_for_another_reason_is_an_error_not_a_repeat(tmp_path):
    store = SqliteStore(tmp_path / "inbox.db")
    with pytest.raises(sqlite3.IntegrityError):
        store.accept(kind=None, transaction_id="x", message_id=None, recipient=None, status=None, peer=None,
                     content_type=None, body=b"", tid_key="k:x", report_key=None)  # kind is NOT NULL
    assert store.inbox() == []
    store.close()


def test_bodies_are_kept_apart_from_the_state_and_older_files_still_read(tmp_path):
    path = tmp_path / "inbox.db"
    store = SqliteStore(path)
    rec, _ = accept(store, "t-new", b"new body")
    store.mark(rec.id, "handled", 1000)
    with sqlite3.connect(path) as db:  # a row as files written before the body table hold it
        db.execute("INSERT INTO inbox (kind, transaction_id, content_type, body, received_at, state, tid_key)"
                   " VALUES ('DeliverReq', 't-old', 'text/xml', X'6f6c6420626f6479', '2024-01-01T00:00:00+00:00',"
                   " 'failed', 'k:t-old')")
        assert db.execute("SELECT length(body) FROM inbox WHERE id = ?", (rec.id,)).fetchone()[0] == 0
    got = {r.transaction_id: r for r in store.inbox()}
    assert got["t-new"].body == b"new body" and got["t-new"].state == "handled"
    assert got["t-old"].body == b"old body" and store.inbox(state="failed")[0].transaction_id == "t-old"
    assert store.inbox_get(rec.id).body == b"new body"
    again, new = accept(store, "t-old", b"resent")
    assert not new and again.body == b"old body"
    store.close()


HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_writers_in_other_processes_take_turns(tmp_path):
    """Processes sharing a file (gunicorn workers, `mm7bind replay`) write one at a time through
    `<file>.lock`, so a waiting writer wakes when the other is done instead of sleeping in SQLite's
    busy handler."""
    store = SqliteStore(tmp_path / "inbox.db")
    other = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "inbox.db.lock")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        done = threading.Event()

        def write():
            store.accept(kind="DeliverReq", transaction_id="t-1", message_id=None, recipient=None, status=None,
                         peer="p", content_type="text/xml", body=b"<x/>", tid_key="DeliverReq|t-1", report_key=None)
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(0.5)  # waits for the other process
        other.stdin.write("\n")
        other.stdin.flush()
        assert done.wait(10)
        writer.join()
    finally:
        other.kill()
        other.wait()
    assert [r.transaction_id for r in store.inbox()] == ["t-1"]
    store.close()


def test_a_new_store_file_is_its_owners_alone(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        store = SqliteStore(tmp_path / "vasp.db")
        store.record_sent(SentRecord(transaction_id="t", operation="SubmitReq", version="REL-6-MM7-1-4",
                                     recipients=["1"], attempts=1))
    finally:
        os.umask(old)
    for name in ("vasp.db", "vasp.db-wal", "vasp.db-shm"):
        if (tmp_path / name).exists():
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    store.close()


def test_an_in_memory_store_is_one_database_for_every_thread():
    store = SqliteStore(":memory:")
    rec, new = accept(store, "t-0")
    store.mark(rec.id, "handled", 1000)  # (outcomes go through a connection of their own on a file)
    assert new and store.inbox_get(rec.id).state == "handled"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: accept(store, f"t-{i % 20}"), range(60)))
    assert sum(fresh for _, fresh in results) == 19  # t-0 was there already
    assert sorted(r.transaction_id for r in store.inbox()) == sorted(f"t-{i}" for i in range(20))
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(store.inbox(state="handled")))
    reader.start()
    reader.join()
    assert [r.transaction_id for r in seen] == ["t-0"]
    store.record_sent(SentRecord(transaction_id="s", operation="SubmitReq", version="REL-6-MM7-1-4"))
    assert [r.transaction_id for r in store.sent()] == ["s"]
    store.close()


def test_check_says_why_the_store_cannot_take_a_message(tmp_path):
    """What a health check asks: reading is not enough — a full disk, a lock held elsewhere, a
    file that cannot be written all let reads through while every message would fail."""
    store = SqliteStore(tmp_path / "inbox.db")
    assert store.check() is None and store.check(reserve=1024) is None
    assert "bytes free on the store's disk" in store.check(reserve=2**62)
    other = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)  # another program writing
    other.execute("BEGIN IMMEDIATE")
    assert "database is locked" in store.check(wait=0.2)
    assert store.open_counts() == {"processing": 0, "failed": 0, "rejected": 0}  # (reads pass meanwhile)
    other.execute("ROLLBACK")
    other.close()
    assert store.check() is None
    store.close()
    full = SqliteStore(tmp_path / "full.db")
    db = full._conn("NORMAL")  # the file cannot grow (as on a full disk): the probe's write fails
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    assert "database or disk is full" in full.check()
    full.close()


def test_outcomes_go_through_a_connection_with_the_sync_they_need(tmp_path):
    # durability="process": the group commits' one connection is already synchronous=NORMAL, so it
    # records outcomes too (a second one would re-read the WAL index after every write).
    store = SqliteStore(tmp_path / "process.db", durability="process")
    rec, _ = accept(store, "t-1")
    store.mark(rec.id, "handled", 1000)
    assert store.inbox_get(rec.id).state == "handled"
    assert list(store._group) == ["db"]
    assert store._group["db"].execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.close()
    # durability="power": accepted messages are flushed (FULL), outcomes are not (NORMAL).
    power = SqliteStore(tmp_path / "power.db")
    rec, _ = accept(power, "t-1")
    power.mark(rec.id, "handled", 1000)
    assert power.inbox_get(rec.id).state == "handled"
    assert sorted(power._group) == ["db", "db_NORMAL"]
    assert power._group["db"].execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert power._group["db_NORMAL"].execute("PRAGMA synchronous").fetchone()[0] == 1
    power.close()


def test_group_commits_are_written_on_one_connection_whichever_thread_leads(tmp_path):
    """(each thread writing on its own connection found its cached pages stale at every batch)"""
    store = SqliteStore(tmp_path / "inbox.db")
    opening = {id(db): db.total_changes for db in store._all}  # (what opening wrote: the file's notes)
    with ThreadPoolExecutor(4) as pool:
        records = list(pool.map(lambda i: accept(store, f"t-{i}")[0], range(40)))
    written = store._group["db"]
    assert [r.id for r in store.inbox()] == sorted(r.id for r in records)
    assert written.execute("SELECT count(*) FROM inbox").fetchone()[0] == 40
    assert list(store._group.values()) == [written]
    threads_own = [db for db in store._all if db is not written]
    assert all(db.total_changes == opening.get(id(db), 0) for db in threads_own)  # (they only read)
    store.close()


@pytest.mark.parametrize("durability", ["power", "process"])
def test_a_writes_deadline_holds_for_the_write_and_sqlites_30_s_for_the_rest(tmp_path, durability):
    store = SqliteStore(tmp_path / "inbox.db", durability=durability)
    rec, _ = store.accept(kind="DeliverReq", transaction_id="t-0", message_id=None, recipient=None, status=None,
                          peer=None, content_type="text/xml", body=b"<x/>", tid_key="k:t-0", report_key=None, wait=5.0)
    store.mark(rec.id, "handled", 1000, wait=5.0)
    connections = list(store._all)
    statements = []
    for db in connections:
        db.set_trace_callback(statements.append)
    for i in range(1, 6):  # messages in a row: the deadline's timeout is set once, not per message
        rec, _ = store.accept(kind="DeliverReq", transaction_id=f"t-{i}", message_id=None, recipient=None,
                              status=None, peer=None, content_type="text/xml", body=b"<x/>", tid_key=f"k:t-{i}",
                              report_key=None, wait=5.0)
        store.mark(rec.id, "handled", 1000, wait=5.0)
    assert not [s for s in statements if "busy_timeout" in s]
    assert [r.state for r in store.inbox()] == ["handled"] * 6
    # Anything else on those connections (the inbox read above, these) waits SQLite's 30 s again.
    assert store._conn().execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    assert store._conn("NORMAL").execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    store.mark(rec.id, "handled", 1000)  # (no deadline: SQLite's 30 s)
    assert store._conn("NORMAL", busy=None).execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    store.close()


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_check_reports_a_write_lock_held_by_another_process(tmp_path):
    store = SqliteStore(tmp_path / "inbox.db")
    other = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "inbox.db.lock")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        said = store.check(wait=0.2)
        assert "write lock" in said and "held by another process" in said
        assert str(tmp_path) not in said  # (/health says it to whoever asks: no file names)
    finally:
        other.kill()
        other.wait()
    assert store.check() is None
    store.close()


def test_background_work_says_store_trouble_once_and_when_it_is_over(caplog):
    """The outbox polls every second: a full disk must be one line, not a traceback a second."""
    import logging

    from mm7bind.periodic import Periodic

    class Worker(Periodic):
        interval = 0.001

        def __init__(self):
            super().__init__()
            self.rounds, self.done = 0, threading.Event()

        def run_once(self):
            self.rounds += 1
            if self.rounds == 30:
                self.done.set()
            elif self.rounds < 20:
                raise sqlite3.OperationalError("database or disk is full")

    worker = Worker()
    with caplog.at_level(logging.INFO, logger="mm7bind"):
        worker.start()
        assert worker.done.wait(30)
        worker.stop()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "mm7bind"]
    assert said == [("ERROR", ("mm7bind-periodic: the disk holding the store is full (OperationalError: database or "
                               "disk is full): free some space there; trying again every 0.001 s")),
                    ("INFO", "mm7bind-periodic: the store works again")]
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("timeout", [math.inf, 1e10, None])
def test_stopping_background_work_without_a_time_limit_waits_for_its_round(timeout):
    """stop(timeout=inf) or 1e10 ("wait for ever") raised an OverflowError from the thread's join,
    the worker left running; the round in hand is now waited for, however long."""
    from mm7bind.periodic import Periodic

    class Worker(Periodic):
        interval = 0.001

        def __init__(self):
            super().__init__()
            self.started, self.release, self.ended = threading.Event(), threading.Event(), threading.Event()

        def run_once(self):
            self.started.set()
            self.release.wait(30)
            self.ended.set()

    worker = Worker()
    worker.start()
    assert worker.started.wait(30)
    threading.Timer(0.2, worker.release.set).start()
    worker.stop(timeout)
    assert worker.ended.is_set() and not worker.running()


def test_retention_says_a_full_disk_as_such(caplog):
    """serve's retention on a full disk logged "the store cannot be used", where `store purge` says
    the disk is full and what a purge needs: an operator looked for a broken file."""
    import errno
    import logging
    from datetime import timedelta

    from mm7bind.store import MemoryStore, Retention

    class FullStore(MemoryStore):
        def purge(self, *args, **kwargs):
            raise sqlite3.OperationalError("database or disk is full")

    class NoSpace(MemoryStore):
        def purge(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

    for store, said in ((FullStore(), "OperationalError: database or disk is full"),
                        (NoSpace(), "OSError: [Errno 28] No space left on device")):
        caplog.clear()
        retention = Retention(store, keep=timedelta(days=1), every=3600)
        with caplog.at_level(logging.ERROR, logger="mm7bind"):
            retention.start()
            deadline = time.monotonic() + 30
            while not caplog.records and time.monotonic() < deadline:
                time.sleep(0.01)
            retention.stop()
        [record] = [r for r in caplog.records if r.name == "mm7bind"]
        assert record.getMessage() == (
            f"mm7bind-retention: the disk holding the store is full ({said}): the purge cannot write either "
            "(deleting goes through SQLite's write-ahead log): free a few MB there; trying again every 3600 s")


def test_another_programs_database_is_refused_and_left_as_it_is(tmp_path):
    """A store path pointing at another program's SQLite file by mistake: refused, not converted
    to WAL mode and given our tables."""
    from mm7bind.store import APPLICATION_ID

    theirs = tmp_path / "crm.db"
    db = sqlite3.connect(theirs)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    db.commit()
    db.close()
    before = theirs.read_bytes()
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(3):  # (a program trying again: no descriptor left open each time)
        with pytest.raises(sqlite3.DatabaseError, match=r"another program's SQLite database \(tables customers\)"):
            SqliteStore(theirs)
    assert theirs.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.db"]  # nothing of ours beside it (no crm.db.lock)
    assert fds is None or len(os.listdir("/proc/self/fd")) == fds
    (tmp_path / "notes.txt").write_text("not a database at all\n" * 100)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        SqliteStore(tmp_path / "notes.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.db", "notes.txt"]
    marked = tmp_path / "marked.db"  # an empty file another program has claimed with its own mark
    db = sqlite3.connect(marked)
    db.execute("PRAGMA application_id = 1234")
    db.close()
    with pytest.raises(sqlite3.DatabaseError, match="application id 0x4d2"):
        SqliteStore(marked)
    # A new file is marked as ours; a store from before the mark is recognised and marked.
    old = SqliteStore(tmp_path / "vasp.db")
    old.record_sent(SentRecord(transaction_id="t", operation="SubmitReq", version="REL-6-MM7-1-4", attempts=1))
    old.close()
    db = sqlite3.connect(tmp_path / "vasp.db")
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.execute("PRAGMA application_id = 0")
    db.close()
    again = SqliteStore(tmp_path / "vasp.db")
    assert [r.transaction_id for r in again.sent()] == ["t"]
    again.close()
    db = sqlite3.connect(tmp_path / "vasp.db")
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.close()


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_opening_a_store_another_process_is_writing_says_it_waits(tmp_path, monkeypatch, caplog):
    import logging

    import mm7bind.store

    SqliteStore(tmp_path / "inbox.db").close()
    monkeypatch.setattr(mm7bind.store, "LOCK_NOTICE", 0.1)
    other = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "inbox.db.lock")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    opened = []
    try:
        assert other.stdout.readline().strip() == "held"
        with caplog.at_level(logging.WARNING, logger="mm7bind.store"):
            opener = threading.Thread(target=lambda: opened.append(SqliteStore(tmp_path / "inbox.db")))
            opener.start()
            deadline = time.monotonic() + 30
            while not caplog.records and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not opened  # still waiting, and it said so
            other.stdin.write("\n")
            other.stdin.flush()
            opener.join(30)
    finally:
        other.kill()
        other.wait()
    assert [r.getMessage() for r in caplog.records] == [
        f"the store {tmp_path / 'inbox.db'} is being written by another process: waiting for it to finish"]
    assert len(opened) == 1 and opened[0].check() is None
    opened[0].close()


def test_a_write_lock_held_by_another_process_is_polled_briefly_then_less_often(tmp_path, monkeypatch):
    """With a deadline (the receiver's store_wait), the flock is tried without blocking: another
    process's transaction holds it for a fraction of a millisecond, so the first waits are short
    and double up to 10 ms (a fixed 10 ms wait per try left two gunicorn workers on one file no
    faster than one), and none passes the deadline."""
    import fcntl
    import types

    from mm7bind import store as store_module

    lock = store_module._WriteLock(str(tmp_path / "vasp.db"))
    other = os.open(lock.lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # (another description: another holder)
    fcntl.flock(other, fcntl.LOCK_EX)
    slept = []
    clock = [1000.0]

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds
        if len(slept) == 12:  # the other writer is done
            fcntl.flock(other, fcntl.LOCK_UN)

    # (the module's own name for time replaced, not the time module every other thread uses)
    monkeypatch.setattr(store_module, "time", types.SimpleNamespace(sleep=sleep, monotonic=lambda: clock[0]))
    try:
        assert lock.acquire(1.0) is True
        lock.__exit__(None, None, None)
        assert slept[:8] == pytest.approx([0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.01])
        assert slept[8:] == pytest.approx([0.01] * 4)
        fcntl.flock(other, fcntl.LOCK_EX)
        slept.clear()
        clock[0] = 2000.0
        assert lock.acquire(0.025) is False  # given up at its deadline, not a wait past it
        assert sum(slept) == pytest.approx(0.025)
        assert lock.thread_lock.acquire(blocking=False)  # (and the thread lock let go)
        lock.thread_lock.release()
    finally:
        os.close(other)
        lock.close()


def _closed_store_calls(store):
    """A call of each kind a worker left running makes on its store: writes, reads, a claim, a check."""
    from datetime import timedelta

    from mm7bind.store import utcnow

    now = utcnow()
    return {
        "accept": lambda: accept(store, "after-close"),
        "mark": lambda: store.mark(1, "handled"),
        "claim": lambda: store.claim(1),
        "record_sent": lambda: store.record_sent(SentRecord("t", "SubmitReq", "6.3.0", ["1"], None, None, now,
                                                            1000, "Success")),
        "sent": lambda: store.sent(),
        "inbox": lambda: store.inbox(),
        "outbox_put_many": lambda: store.outbox_put_many([{
            "transaction_id": "t", "tag": None, "content_type": "text/xml", "body": b"<x/>", "due": now,
            "expires_at": now + timedelta(days=1), "recipients": []}]),
        "outbox_claim": lambda: store.outbox_claim(now),
        "outbox_update": lambda: store.outbox_update(1, "sent", attempts=1),
        "outbox_counts": lambda: store.outbox_counts(),
        "purge": lambda: store.purge(timedelta(days=1)),
        "vacuum": lambda: store.vacuum(),
        "integrity": lambda: store.integrity(),
        # (answered from memory once known: refused all the same)
        "installation_id": lambda: store.installation_id(),
        "holds_old_keys": lambda: store.holds_old_keys,
        "campaign_tids_as_written": lambda: store.campaign_tids_as_written("c"),
    }


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_closed_store_refuses_every_call_and_opens_nothing_again(tmp_path, kind):
    """A store used after close() (a worker's round a stop did not wait for) opened a connection
    again in each thread that used it, which nothing closed (nor the lock file it opened again), and
    its writes went on as if nothing had happened. Every call now raises StoreClosed, a store error
    (`errors.STORE_ERRORS`, which the receiver, the outbox and the client handle already); its
    health check says so; closing again does nothing; the memory store does the same."""
    from mm7bind.errors import STORE_ERRORS
    from mm7bind.store import MemoryStore, StoreClosed

    store = SqliteStore(tmp_path / "vasp.db") if kind == "sqlite" else MemoryStore()
    accept(store, "before-close")
    known = store.installation_id(), store.holds_old_keys, store.campaign_tids_as_written("c")  # (kept in memory)
    assert known[1:] == (False, False)
    store.close()
    refused = {}
    for name, call in _closed_store_calls(store).items():
        with pytest.raises(StoreClosed) as raised:
            call()
        refused[name] = isinstance(raised.value, STORE_ERRORS)
    assert all(refused.values()), refused
    assert store.check().startswith("StoreClosed: ")
    store.close()  # (again: nothing to do)
    if kind == "sqlite":
        assert store._all == [] and store._group == {} and store._write.fd is None  # (nothing reopened)
        reopened = SqliteStore(tmp_path / "vasp.db")  # (nothing written after the close)
        assert [r.transaction_id for r in reopened.inbox()] == ["before-close"] and reopened.sent() == []
        reopened.close()


def test_close_waits_for_another_thread_s_transaction_in_hand(tmp_path):
    """close() from one thread closed the connections of another thread in the middle of its
    transaction: its COMMIT failed, what it wrote lost. The close now waits for a write in hand
    (the store's write lock), and what it wrote is there."""
    store = SqliteStore(tmp_path / "vasp.db")
    store.outbox_counts()  # (the file made)
    began, go, failed = threading.Event(), threading.Event(), []

    def write() -> None:
        try:
            with store._write:  # (as every write of the store holds it, for its transaction)
                db = store._conn()
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO store_meta (name, value) VALUES ('in-hand', 'yes')")
                began.set()
                go.wait(WAIT)
                db.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 (what the test looks at)
            failed.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    assert began.wait(WAIT)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.3)
    waited = closer.is_alive()
    go.set()
    writer.join(WAIT)
    closer.join(WAIT)
    assert failed == [] and waited
    reopened = SqliteStore(tmp_path / "vasp.db")
    assert reopened._conn().execute("SELECT value FROM store_meta WHERE name = 'in-hand'").fetchone()[0] == "yes"
    reopened.close()


def test_a_file_from_before_claims_noted_their_fail_over_is_brought_up_to_date_and_its_claims_read(tmp_path):
    """A claimed send's fail-over is noted with its claim (`SendClaim.attempt_url`): a file from
    before that column reads its claims as noting none, read only too, and once opened to write
    takes notes, a claim taken over from a holder gone keeping them."""
    from datetime import timedelta

    from mm7bind.store import SendClaim, utcnow

    path = tmp_path / "old.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    with db:  # (the table as a release before made it, with a claim of a process gone in it)
        db.execute("DROP TABLE send_claim")
        db.execute("CREATE TABLE send_claim (transaction_id TEXT PRIMARY KEY, holder TEXT NOT NULL,"
                   " lease_until TEXT, fingerprint TEXT, claimed_at TEXT NOT NULL)")
        db.execute("INSERT INTO send_claim VALUES ('r1', 'gone:1:x', ?, NULL, ?)",
                   ((utcnow() + timedelta(hours=1)).isoformat(), utcnow().isoformat()))
    db.close()
    reader = SqliteStore(path, read_only=True)
    held = reader.send_claim_get("r1")
    assert (held.holder, held.attempt_url, held.attempt_transaction_id) == ("gone:1:x", None, None)
    reader.close()
    store = SqliteStore(path)
    try:
        assert store.send_claim_attempt_at("r1", "gone:1:x", "tid-1", "http://b/mm7")
        assert not store.send_claim_attempt_at("r1", "another:2:y", "tid-1", "http://c/mm7")  # (not its claim)
        mine = SendClaim("r1", "here:3:z", utcnow() + timedelta(hours=1))
        assert store.send_claim(mine, lambda held: True) is mine  # (its holder gone: taken over)
        assert (mine.attempt_url, mine.attempt_transaction_id) == ("http://b/mm7", "tid-1")
        assert store.send_claim_get("r1").attempt_url == "http://b/mm7"
        store.record_sent(SentRecord("tid-1", "SubmitReq", "REL-6-MM7-1-4", url="http://b/mm7", status_code=1000))
        assert store.send_claim_get("r1").attempt_url is None  # (the send's record says it now)
    finally:
        store.close()


def test_a_sends_record_lets_go_of_the_note_of_where_its_last_attempt_went(store):
    """Where a claimed send's or an outbox item's attempt goes after a fail-over is noted before it
    goes, for whoever takes the send over should its process be killed. Once the send's end is
    recorded, the record says how that attempt ended, and the note goes with it, in the same write:
    kept, it outlived a refusal recorded (its process killed before it gave the claim back), and
    the send taken over read it as an attempt that got no answer — "may have arrived twice". A
    record of another send, or of an attempt elsewhere, or of none, leaves it."""
    from datetime import timedelta

    from mm7bind.store import SendClaim, utcnow

    def record(tid: str, url: str | None, item: int | None = None) -> None:
        store.record_sent(SentRecord(tid, "SubmitReq", "REL-6-MM7-1-4", url=url, status_code=2002,
                                     error="FaultError: Address Error", outbox_item=item))

    def notes() -> list:
        claims = [store.send_claim_get(key) for key in ("tid-1", "r1")]
        return [(c.attempt_url, c.attempt_transaction_id) for c in claims] + [store.outbox_get(item.id).attempt_url]

    for key in ("tid-1", "r1"):  # (the send API's claim is its TransactionID's; a campaign's, its recipient's)
        held = SendClaim(key, "here:1:x", utcnow() + timedelta(hours=1))
        assert store.send_claim(held, lambda h: False) is held
        assert store.send_claim_attempt_at(key, held.holder, "tid-1", "http://b/mm7")
    now = utcnow()
    store.outbox_put_many([{"transaction_id": "tid-1", "tag": None, "content_type": "text/xml", "body": b"<x/>",
                            "due": now, "expires_at": now + timedelta(days=1), "recipients": ["1"]}])
    [item] = store.outbox_claim(now)
    assert store.outbox_attempt_at(item.id, "http://b/mm7", item.lease_until)
    record("tid-2", "http://b/mm7", item.id + 1)  # (another send's)
    record("tid-1", "http://a/mm7", item.id)  # (an attempt elsewhere: not the one noted)
    record("tid-1", None, item.id)  # (no attempt made)
    assert notes() == [("http://b/mm7", "tid-1")] * 2 + ["http://b/mm7"]
    record("tid-1", "http://b/mm7", item.id)
    assert notes() == [(None, None)] * 2 + [None]
    # (taken over, a claim's note is its new holder's, and goes with its send's record alike)
    assert store.send_claim_attempt_at("r1", "here:1:x", "tid-3", "http://c/mm7")
    mine = SendClaim("r1", "here:2:y", utcnow() + timedelta(hours=1))
    assert store.send_claim(mine, lambda h: True) is mine and mine.attempt_url == "http://c/mm7"
    record("tid-3", "http://c/mm7")
    assert store.send_claim_get("r1").attempt_url is None


def test_a_transaction_commits_its_block_or_rolls_it_back_and_the_caller_gets_the_blocks_error(tmp_path):
    """`_Transaction`, the store's writes of more than one statement: its block committed; rolled
    back when it raises, or when the COMMIT is refused (which leaves it open), the error going on
    as it was; and no ROLLBACK's error in its place when SQLite ended the transaction itself."""
    from mm7bind.store import _Transaction

    path = tmp_path / "t.db"
    db = sqlite3.connect(path, isolation_level=None)  # (as the store's connections)
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    db.execute("CREATE TABLE ref (k TEXT REFERENCES t (k) DEFERRABLE INITIALLY DEFERRED)")

    def stored():
        assert not db.in_transaction
        return sorted(k for (k,) in other.execute("SELECT k FROM t"))

    with _Transaction(db):
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")  # (the write lock taken at the start, not at the first write)
        db.execute("INSERT INTO t VALUES ('a')")
    assert stored() == ["a"]  # (committed: another connection reads it)
    error = ValueError("the block's own")
    with pytest.raises(ValueError) as raised, _Transaction(db):
        db.execute("INSERT INTO t VALUES ('b')")
        raise error
    assert raised.value is error and stored() == ["a"]
    # SQLite rolls the whole transaction back itself (as after a full disk, or here as asked):
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), _Transaction(db):
        db.execute("INSERT INTO t VALUES ('c')")
        db.execute("INSERT OR ROLLBACK INTO t VALUES ('a')")
    assert stored() == ["a"]
    # A COMMIT refused (a deferred constraint) leaves the transaction open:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), _Transaction(db):
        db.execute("INSERT INTO t VALUES ('d')")
        db.execute("INSERT INTO ref VALUES ('nowhere')")
    assert stored() == ["a"]
    db.close()
    other.close()
