"""What an acknowledged message needs to survive: a power cut after the answer (files flushed
before the store says "handled"), a store locked by another program (answered in time), a
store file damaged on disk (found by a check)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import mm7bind as mm7
from mm7bind.handlers import SavingHandler
from mm7bind.store import SqliteStore

from .conftest import serve_in_this_process
from .test_receiver import deliver, post


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "inbox.db")
    yield s
    s.close()


def _name_of(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir() or os.name != "posix",
                                reason="names a file descriptor through /proc")


@pytest.fixture
def synced(monkeypatch) -> list[str]:
    """The names of the files and folders os.fsync is called on from now on, in order."""
    names = []
    fsync = os.fsync

    def recording_fsync(fd):
        names.append(_name_of(fd))
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return names


@needs_proc
def test_saved_files_reach_the_disk_before_their_folder_is_named_and_the_rename_after(store, tmp_path, monkeypatch):
    events = []
    fsync, rename = os.fsync, os.rename

    def recording_fsync(fd):
        events.append(("fsync", _name_of(fd)))
        return fsync(fd)

    def recording_rename(src, dst, *a, **kw):
        events.append(("rename", os.fspath(src), os.fspath(dst)))
        return rename(src, dst, *a, **kw)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "rename", recording_rename)
    out = (tmp_path / "received").resolve()
    app = mm7.wsgi_app(mm7.Receiver(SavingHandler(out, echo=lambda line: None), store=store))
    msg = deliver(content=mm7.Content(parts=[mm7.Part.text("你好", filename="a.txt")]))
    assert post(app, msg, tid="d-1")["status"] == 200
    [folder] = (out / "DeliverReq").iterdir()
    assert store.inbox()[0].state == "handled"
    [at] = [i for i, e in enumerate(events) if e[0] == "rename" and e[2] == str(folder)]
    work = events[at][1]
    before = {e[1] for e in events[:at] if e[0] == "fsync"}
    after = {e[1] for e in events[at:] if e[0] == "fsync"}
    written = {os.path.join(work, p.name) for p in folder.iterdir()}
    assert len(written) == 3 and written <= before  # message.json and both parts (the SMIL made for them)
    assert work in before  # the work folder's entries, then
    # the rename itself; and out/ and out/DeliverReq, made for this first message, are named on disk too
    assert {str(out / "DeliverReq"), str(out), str(tmp_path.resolve())} <= after


def test_a_flush_that_fails_fails_the_message_so_it_is_not_marked_handled(store, tmp_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    out = tmp_path / "received"
    app = mm7.wsgi_app(mm7.Receiver(SavingHandler(out, echo=lambda line: None), store=store))
    assert post(app, deliver(), tid="d-2")["status"] == 500  # the MMSC sends it again
    [rec] = store.inbox()
    assert rec.state == "failed" and "Input/output error" in rec.error
    assert not list((out / "DeliverReq").iterdir())  # no folder, nor the half-done work folder


def test_the_configured_saving_handler_flushes_as_the_store_does(tmp_path):
    from mm7bind.config import Config

    cfg = Config()
    assert cfg.make_handler().sync is True
    cfg.store.durability = "process"
    assert cfg.make_handler().sync is False


# -- a store locked by someone else: the MMSC is answered in time --------------------------------

WAIT = 10  # seconds a test waits for a thread before giving up (never reached when it passes)


def _answer_in_thread(app, msg, tid):
    import threading

    answers = []
    worker = threading.Thread(target=lambda: answers.append(post(app, msg, tid=tid)))
    worker.start()
    worker.join(WAIT)
    return worker, answers


def test_a_store_another_program_holds_locked_is_answered_3000_after_store_wait(store, tmp_path, caplog):
    import sqlite3

    holder = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # (the sqlite3 shell, a backup tool: a write transaction left open)
    app = mm7.wsgi_app(mm7.Receiver(store=store, store_wait=0.2))
    try:
        answer = post(app, deliver(), tid="l-1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer["status"] == 500 and b"3000" in answer["body"]
    assert "StoreBusy" in caplog.text and "0.2 s" in caplog.text  # given up after store_wait, not SQLite's 30 s
    assert store._conn().execute("PRAGMA busy_timeout").fetchone()[0] == 30000  # other writes wait as before
    assert post(app, deliver(), tid="l-1")["status"] == 200  # the MMSC's repeat, once the lock is gone
    assert [r.state for r in store.inbox()] == ["handled"]


def test_a_store_another_mm7bind_process_is_writing_is_answered_3000_after_store_wait(store, tmp_path):
    other = SqliteStore(tmp_path / "inbox.db")  # (its own lock file descriptor: as another process's)
    other._write.__enter__()  # a `store purge --vacuum` in progress
    app = mm7.wsgi_app(mm7.Receiver(store=store, store_wait=0.2))
    try:
        worker, answers = _answer_in_thread(app, deliver(), "l-2")
    finally:
        other._write.__exit__(None, None, None)
        worker.join(WAIT)
        other.close()
    assert answers and answers[0]["status"] == 500 and b"3000" in answers[0]["body"]
    assert store.inbox() == []


@pytest.mark.parametrize("how", ["renamed", "replaced", "removed"])
def test_a_store_file_moved_away_under_the_receiver_is_answered_3000_and_loses_nothing_acknowledged(tmp_path, how,
                                                                                                  caplog):
    """The store's file renamed (an operator tidying up), replaced (a backup put in its place) or
    removed while the receiver ran: its connections wrote on to the file no longer at the path,
    answering 1000 for messages no later start would find, and a connection a new thread opened made
    a new file there, sharing the moved one's -wal: at the end neither held even the messages
    stored before. Now each write first checks the path still names the file: a Server Fault
    (3000, HTTP 500), the MMSC sends it again, and the ERROR line says why."""
    import shutil
    import threading

    path = tmp_path / "vasp.db"
    store = SqliteStore(path)
    app = mm7.wsgi_app(mm7.Receiver(store=store))
    assert post(app, deliver(subject="before"), tid="m-1")["status"] == 200
    moved = tmp_path / "moved.db"
    if how == "replaced":  # (a copy of the file as it was, put in its place: another file at the path)
        shutil.copyfile(path, moved)
        os.replace(moved, path)
    else:
        os.rename(path, moved)
        if how == "removed":
            moved = None

    answers = [post(app, deliver(subject="after"), tid="m-2")]
    thread = threading.Thread(target=lambda: answers.append(post(app, deliver(subject="after"), tid="m-3")))
    thread.start()
    thread.join()
    assert [a["status"] for a in answers] == [500, 500] and all(b"3000" in a["body"] for a in answers)
    # (one ERROR for the incident, saying the refusals after it are counted: not one a message)
    assert caplog.text.count("was moved, removed or replaced since this process opened it") == 1
    assert "further ones refused so are counted" in caplog.text
    assert "moved, removed or replaced" in store.check()
    assert path.exists() == (how == "replaced")  # (no new file made at the path)
    store.close()
    if moved is not None:  # what was acknowledged is in the moved file (with its -wal, where SQLite left it)
        if how == "renamed":
            os.rename(moved, path)
        again = SqliteStore(path)
        try:
            assert [r.transaction_id for r in again.inbox()] == ["m-1"]
        finally:
            again.close()


def test_store_wait_is_configured_under_receiver(tmp_path):
    from mm7bind.config import ConfigError, load_checked

    path = tmp_path / "mm7bind.toml"
    path.write_text("[receiver]\nstore_wait = 2.5\n", encoding="utf-8")
    assert load_checked(path).make_receiver().config.store_wait == 2.5
    path.write_text("[receiver]\nstore_wait = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="store_wait"):
        load_checked(path)


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), 1e10, 1e308, 10**30, True])
def test_a_store_wait_past_what_a_lock_can_wait_is_refused_when_given(seconds, tmp_path):
    """store_wait = 1e10 ("wait for ever"): config check took it, and serve ended at start with an
    OverflowError from the lock's wait; a Receiver took it and failed each message's store write
    with one (answered 500). Refused by config check, the Receiver and the store alike; a year is
    still taken."""
    from mm7bind import config
    from mm7bind.client import MAX_TIMEOUT

    with pytest.raises(ValueError, match=f"^store_wait must be a number of seconds from 0 to {MAX_TIMEOUT}"):
        mm7.Receiver(store=mm7.MemoryStore(), store_wait=seconds)
    with pytest.raises(ValueError, match=f"^wait must be a number of seconds from 0 to {MAX_TIMEOUT}"):
        SqliteStore(tmp_path / "m.db", wait=seconds)
    assert mm7.Receiver(store=mm7.MemoryStore(), store_wait=MAX_TIMEOUT).config.store_wait == MAX_TIMEOUT
    SqliteStore(tmp_path / "m.db", wait=MAX_TIMEOUT).close()
    if not isinstance(seconds, bool) and seconds != float("inf") and seconds == seconds:  # (what TOML can say)
        (tmp_path / "c.toml").write_text(f"[receiver]\nstore_wait = {seconds!r}\n", encoding="utf-8")
        _, problems = config.load(tmp_path / "c.toml", env={})
        assert [p.where for p in problems if p.level == "error"] == ["receiver.store_wait"]


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), 1e10, True, "5"])
@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_wait_no_lock_can_wait_is_refused_by_each_store_call(kind, seconds, tmp_path):
    """The store's own wait was refused when given, not one call's: accept(wait=1e10) or inf
    raised an OverflowError from the lock's wait, -1 or NaN a StoreBusy for a lock nobody held,
    and a mark(wait=) so failed kept its outcome for the next write, lost if none came. Each call
    refuses it as the store does, with nothing written; a year, 0 and None are taken."""
    from mm7bind.client import MAX_TIMEOUT

    store = SqliteStore(tmp_path / "m.db") if kind == "sqlite" else mm7.MemoryStore()

    def accept(tid: str, wait):
        return store.accept(kind="DeliverReq", transaction_id=tid, message_id=None, recipient=None, status=None,
                            peer=None, content_type="text/xml", body=b"<x/>", tid_key=f"k:{tid}", report_key=None,
                            wait=wait)

    try:
        rec, _ = accept("t-1", None)
        calls = {"accept": lambda w: accept("t-2", w), "claim": lambda w: store.claim(rec.id, ("failed",), wait=w),
                 "mark": lambda w: store.mark(rec.id, "handled", 1000, wait=w),
                 "spend": lambda w: store.spend(("n:1", 1e12), wait=w)}
        for name, call in calls.items():
            with pytest.raises(ValueError, match=f"^wait must be a number of seconds from 0 to {MAX_TIMEOUT} "
                                                 r"\(a year\), or None"):
                call(seconds)
        with pytest.raises(ValueError, match=f"^wait must be a number of seconds from 0 to {MAX_TIMEOUT}"):
            store.check(wait=seconds)
        with pytest.raises(ValueError, match=r"\(a year\), not None"):
            store.check(wait=None)  # (a health check waits a while, not as long as the lock is held)
        assert [r.transaction_id for r in store.inbox()] == ["t-1"] and store.inbox_get(rec.id).state == "processing"
        for wait in (MAX_TIMEOUT, 0, 2.5):
            store.mark(rec.id, "failed", 500, wait=wait)
            assert store.claim(rec.id, ("failed",), wait=wait) is True
        accept("t-2", MAX_TIMEOUT)
        store.spend(("n:1", 1e12), wait=MAX_TIMEOUT)
        assert store.check(wait=MAX_TIMEOUT) is None
    finally:
        store.close()


@pytest.mark.parametrize("setting, seconds", [("stale_after", float("inf")), ("stale_after", 1e12),
                                              ("stale_after", -1), ("repeat_wait", float("nan")),
                                              ("repeat_wait", 1e10), ("stale_after", True),
                                              ("max_body", float("nan")), ("max_body", 0), ("max_body", 2.5)])
def test_a_receiver_wait_that_no_clock_can_count_is_refused_when_given(setting, seconds):
    """A stale_after of inf (or past the year 1) failed each repeat of a message with an
    OverflowError from the date arithmetic (answered 500), and a NaN max_body took bodies of any
    size: refused when the Receiver is made."""
    with pytest.raises(ValueError, match=f"^{setting} must be a (number of seconds from 0 to |whole number)"):
        mm7.Receiver(store=mm7.MemoryStore(), **{setting: seconds})



@pytest.mark.parametrize("setting, value", [("store_wait", 1e10), ("store_wait", float("nan")),
                                            ("store_wait", -1), ("stale_after", float("inf")), ("repeat_wait", 1e10),
                                            ("max_body", float("nan")), ("auth_failures", -1),
                                            ("auth_cooldown", 0)])
def test_a_setting_changed_after_the_receiver_is_made_is_checked_where_it_is_set(setting, value, store):
    """receiver.config.store_wait = 1e10 after the Receiver was made was taken, then refused by the
    store at each request: every message answered 500, none stored. Refused where it is set, the
    setting left as it was; one that can be used is taken, and read by the next request."""
    receiver = mm7.Receiver(store=store)
    app = mm7.wsgi_app(receiver)
    before = getattr(receiver.config, setting)
    with pytest.raises(ValueError, match=f"^{setting} must be "):
        setattr(receiver.config, setting, value)
    assert getattr(receiver.config, setting) == before
    assert post(app, deliver(), tid="c-1")["status"] == 200
    receiver.config.store_wait = 0.5
    assert receiver.config.store_wait == 0.5 and post(app, deliver(), tid="c-2")["status"] == 200
    assert [r.state for r in store.inbox()] == ["handled", "handled"]



def test_a_wrong_credentials_limit_set_on_a_receiver_that_serves_takes_effect():
    """auth_failures and auth_cooldown were read once, as the Receiver was made: set later, they
    were checked and taken, and no request heeded them."""
    receiver = mm7.Receiver(store=mm7.MemoryStore(), auth=mm7.auth.BasicAuth("mmsc", "pw"), auth_failures=0)
    app = mm7.wsgi_app(receiver)
    wrong = {"Authorization": "Basic bW1zYzp3cm9uZw=="}
    assert [post(app, deliver(), tid="w", headers=wrong)["status"] for _ in range(3)] == [401] * 3  # no limit
    receiver.config.auth_failures, receiver.config.auth_cooldown = 2, 30
    assert [post(app, deliver(), tid="w", headers=wrong)["status"] for _ in range(3)] == [401, 401, 429]
    receiver.config.auth_failures = 0
    assert post(app, deliver(), tid="w", headers=wrong)["status"] == 401


# -- a store file damaged on disk: found by a check, before serve takes messages into it -----------


def _damaged_store(path: Path, how: str) -> None:
    """A store of 300 messages, then damaged: "page" garbles an index's page (quick_check finds
    it), "index" gives two indexes each other's pages (only integrity_check compares them)."""
    import sqlite3

    from .test_store import accept

    store = SqliteStore(path)
    for i in range(300):
        accept(store, f"t-{i}", b"<x/>" * 50)
    store.close()  # (the WAL goes into the file)
    db = sqlite3.connect(path)
    roots = dict(db.execute("SELECT name, rootpage FROM sqlite_master"))
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    if how == "index":
        db.execute("PRAGMA writable_schema=ON")
        db.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = 'inbox_state'", (roots["inbox_message_id"],))
        db.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = 'inbox_message_id'", (roots["inbox_state"],))
        db.commit()
    db.close()
    if how == "page":
        with open(path, "r+b") as f:
            f.seek((roots["inbox_state"] - 1) * page_size)
            f.write(b"\xff" * page_size)


def test_integrity_finds_a_damaged_page_quickly_and_a_mismatched_index_in_full(tmp_path):
    _damaged_store(tmp_path / "page.db", "page")
    _damaged_store(tmp_path / "index.db", "index")
    intact = SqliteStore(tmp_path / "intact.db")
    page, index = SqliteStore(tmp_path / "page.db"), SqliteStore(tmp_path / "index.db")
    try:
        assert intact.integrity() == [] and intact.integrity(full=True) == []
        assert any("Page" in line for line in page.integrity())
        assert index.integrity() == [] and any("missing from index" in line for line in index.integrity(full=True))
    finally:
        for s in (intact, page, index):
            s.close()
    assert mm7.MemoryStore().integrity(full=True) == []


def test_store_check_says_whether_the_store_takes_messages_and_its_file_is_intact(tmp_path):
    from .test_commands import run

    config = tmp_path / "mm7bind.toml"
    for name in ("intact", "index"):
        if name == "index":
            _damaged_store(tmp_path / f"{name}.db", "index")
        else:
            SqliteStore(tmp_path / f"{name}.db").close()
        config.write_text(f'[store]\npath = "{(tmp_path / name).as_posix()}.db"\n', encoding="utf-8")
        quick = run("store", "check", "--config", str(config))
        full = run("store", "check", "--full", "--config", str(config))
        if name == "intact":
            assert quick.returncode == full.returncode == 0, quick.stdout + quick.stderr
            assert "takes messages: yes" in quick.stdout and "intact (quick_check)" in quick.stdout
        else:
            assert quick.returncode == 0 and full.returncode == 1  # (an index: only the full check compares it)
            assert "DAMAGED (integrity_check" in full.stdout and "missing from index" in full.stdout


def test_serve_with_check_at_start_refuses_a_damaged_store(tmp_path):
    from mm7bind.cli import EXIT_UNREADABLE

    from .test_commands import run

    _damaged_store(tmp_path / "page.db", "page")
    config = tmp_path / "mm7bind.toml"
    config.write_text(f'[receiver]\nport = 0\n[store]\npath = "{(tmp_path / "page.db").as_posix()}"\n'
                      'check_at_start = "quick"\n', encoding="utf-8")
    done = run("serve", "--config", str(config), timeout=60)
    assert done.returncode == EXIT_UNREADABLE and "is damaged" in done.stderr, done.stderr
    config.write_text('[store]\ncheck_at_start = "always"\n', encoding="utf-8")
    assert run("serve", "--config", str(config)).returncode == 3  # (a configuration error)


# -- the accept → handler → mark path: a store error after the handler does not change the answer --


@pytest.mark.parametrize("outcome, status", [(None, 200), (mm7.Reject(4007), 500), (RuntimeError("bug"), 500)])
def test_an_outcome_the_store_cannot_record_is_answered_as_the_handler_decided(store, monkeypatch, outcome, status):
    """The handler saved (or refused) the message; then marking it failed (a full disk, an I/O
    error). The MMSC must hear the handler's outcome — not an internal error for a handled message,
    which it would send again."""
    import sqlite3

    class Handler(mm7.Handler):
        def on_deliver(self, msg, ctx):
            if outcome is not None:
                raise outcome

    def mark(*args, **kw):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "mark", mark)
    answer = post(mm7.wsgi_app(mm7.Receiver(Handler(), store=store)), deliver(), tid="m-1")
    code = {None: 1000, mm7.Reject: 4007, RuntimeError: 3000}[type(outcome) if outcome is not None else None]
    assert answer["status"] == status and mm7.decode(answer["body"]).body.status.code == code
    assert store.inbox()[0].state == "processing"  # (taken up again by a stale repeat or replay)


def test_a_repeat_of_a_message_still_in_hand_is_not_acknowledged_before_its_outcome(store):
    """The first copy's handler is slow and ends up failing: a repeat answered 1000 meanwhile would
    have the MMSC never send the message again, though nothing handled it."""
    import threading

    holding, release = threading.Event(), threading.Event()
    calls = []

    class SlowThenDown(mm7.Handler):
        def on_deliver(self, msg, ctx):
            calls.append(1)
            if len(calls) == 1:
                holding.set()
                assert release.wait(WAIT)
                raise mm7.Unavailable("the application is down")

    app = mm7.wsgi_app(mm7.Receiver(SlowThenDown(), store=store, repeat_wait=0.05))
    first = threading.Thread(target=post, args=(app, deliver()), kwargs={"tid": "h-1"})
    first.start()
    try:
        assert holding.wait(WAIT)
        repeat = post(app, deliver(), tid="h-1")  # the MMSC's timeout ran out: it sends again
    finally:
        release.set()
        first.join(WAIT)
    assert repeat["status"] == 500 and mm7.decode(repeat["body"]).body.status.code == 3000
    assert store.inbox()[0].state == "failed"
    assert post(app, deliver(), tid="h-1")["status"] == 200  # the next repeat has it handled
    assert len(calls) == 2 and store.inbox()[0].state == "handled"


@needs_proc
def test_a_new_store_file_is_named_on_disk_before_it_takes_a_message(tmp_path, synced):
    """SQLite flushes the directory entry of a -wal file it creates, not of the main file, which the
    store makes itself: a power cut soon after the first messages could lose the whole file."""
    SqliteStore(tmp_path / "power.db").close()
    assert str(tmp_path.resolve()) in synced
    synced.clear()
    SqliteStore(tmp_path / "process.db", durability="process").close()
    SqliteStore(tmp_path / "power.db").close()  # (there already)
    assert str(tmp_path.resolve()) not in synced


def test_a_store_locked_between_accept_and_outcome_holds_the_answer_at_most_store_wait(store, tmp_path, caplog):
    """Another mm7bind process starts a vacuum while the handler runs: the outcome cannot be
    recorded for minutes. The MMSC gets the handler's answer after store_wait, not after the vacuum;
    the outcome is kept and written once the store can be written, so the MMSC's copy is answered
    from it (it stayed "processing": the copy was answered 3000, and a replay handled it again)."""
    other = SqliteStore(tmp_path / "inbox.db")  # (its own lock file descriptor: as another process's)
    calls = []

    class Handler(mm7.Handler):
        def on_deliver(self, msg, ctx):
            calls.append(msg)
            if len(calls) == 1:
                other._write.__enter__()

    app = mm7.wsgi_app(mm7.Receiver(Handler(), store=store, store_wait=0.2, repeat_wait=0.5))
    try:
        worker, answers = _answer_in_thread(app, deliver(), "v-1")
    finally:
        other._write.__exit__(None, None, None)
        worker.join(WAIT)
        other.close()
    assert answers and answers[0]["status"] == 200 and mm7.decode(answers[0]["body"]).body.status.code == 1000
    again = post(app, deliver(), tid="v-1")  # the 200 was lost on the way: the MMSC sends it again
    assert again["status"] == 200 and mm7.decode(again["body"]).body.status.code == 1000
    assert len(calls) == 1 and store.inbox()[0].state == "handled"
    assert "could not be recorded now (StoreBusy" in caplog.text


def test_an_outcome_kept_for_later_is_written_before_a_claim_of_its_record(store, tmp_path):
    """A replay in this process claiming the record (its claim gone stale) would handle it again:
    the kept outcome is written first, and the claim finds it handled."""
    from datetime import timedelta

    rec, _ = store.accept(kind="DeliverReq", transaction_id="c-1", message_id=None, recipient=None, status=None,
                          peer=None, content_type="text/xml", body=b"<x/>", tid_key="c-1", report_key=None)
    other = SqliteStore(tmp_path / "inbox.db")
    other._write.__enter__()  # (a vacuum in another process)
    try:
        store.mark(rec.id, "handled", 1000, wait=0.1)
    finally:
        other._write.__exit__(None, None, None)
        other.close()
    assert not store.claim(rec.id, ("failed", "processing"), stale_before=mm7.store.utcnow() + timedelta(hours=1))
    assert store.inbox_get(rec.id).state == "handled"


@pytest.mark.parametrize("elsewhere", ["elsewhere:4242:1", None])
def test_an_outcome_kept_for_later_is_not_written_onto_a_claim_another_process_took_since(store, tmp_path,
                                                                                        monkeypatch, elsewhere):
    """The store locked longer than the record's claim lasts: another process (a replay, a repeat
    of the message) takes the record over, its claim stale, and handles it. The outcome this
    process kept was written onto that claim all the same, the record no longer "processing"
    while the other was at it (a "failed" one was there for a third to take). It is written only
    onto the claim it was the outcome of: this process's, made before the outcome was kept (None:
    where processes are not told apart, /proc not telling enough, the claim's time alone)."""
    from datetime import timedelta

    from mm7bind import holders

    monkeypatch.setattr(mm7.store, "OUTCOME_RETRY_EVERY", 3600.0)  # (written here, not by the retrying thread)
    if elsewhere is None:
        monkeypatch.setattr(holders, "this_process", lambda: None)
    rec, _ = store.accept(kind="DeliverReq", transaction_id="k-1", message_id=None, recipient=None, status=None,
                          peer=None, content_type="text/xml", body=b"<x/>", tid_key="k-1", report_key=None)
    other = SqliteStore(tmp_path / "inbox.db")
    other._write.__enter__()  # (a vacuum in another process)
    try:
        store.mark(rec.id, "failed", 500, "handler error", wait=0.1)
    finally:
        other._write.__exit__(None, None, None)
    assert store.unrecorded() == {rec.id: "failed"}
    with monkeypatch.context() as patched:  # (`other` as another process's store: a holder of its own)
        patched.setattr(holders, "this_process", lambda: elsewhere)
        assert other.claim(rec.id, ("failed", "processing"), stale_before=mm7.store.utcnow() + timedelta(hours=1))
    store._write_unrecorded(wait=5.0)
    assert store.unrecorded() == {}
    taken = store.inbox_get(rec.id)
    assert (taken.state, taken.holder, taken.error) == ("processing", elsewhere, None)
    other.mark(rec.id, "handled", 1000)
    other.close()
    assert store.inbox_get(rec.id).state == "handled"


def test_a_repeat_whose_first_copy_is_purged_right_after_its_insert_conflict_is_answered_from_it(store, tmp_path):
    """Another process purges the first copy between the copy's refused insert and the lookup of
    the record holding its key: the copy was answered 3000 (and stored as new next time)."""
    from datetime import timedelta

    calls = []
    app = mm7.wsgi_app(_receiver_with(store, calls))
    assert post(app, deliver(), tid="p-1")["status"] == 200
    committing = store._commit
    other = SqliteStore(tmp_path / "inbox.db")

    def commit(pending, *args, **kwargs):
        committing(pending, *args, **kwargs)
        if pending.body is not None:
            other.purge(timedelta(0))  # (`store purge` in another process, just then)

    store._commit = commit
    try:
        again = post(app, deliver(), tid="p-1")
    finally:
        store._commit = committing
        other.close()
    assert again["status"] == 200 and mm7.decode(again["body"]).body.status.code == 1000
    assert len(calls) == 1


def test_a_repeat_whose_first_copy_is_purged_while_it_is_claimed_is_stored_anew(store, tmp_path):
    """The first copy failed; as its copy comes, a replay elsewhere handles it and a purge removes
    it, between the copy's look and its claim: that was an internal error (a 500)."""
    from datetime import timedelta

    calls = []
    app = mm7.wsgi_app(_receiver_with(store, calls, fail_first=True))
    assert post(app, deliver(), tid="g-1")["status"] == 500
    claiming = store.claim
    other = SqliteStore(tmp_path / "inbox.db")

    def claim(record_id, *args, **kwargs):
        if other.inbox_get(record_id) is not None:
            other.mark(record_id, "handled", 1000)  # (a replay elsewhere)
            other.purge(timedelta(0))
        return claiming(record_id, *args, **kwargs)

    store.claim = claim
    try:
        again = post(app, deliver(), tid="g-1")
    finally:
        store.claim = claiming
        other.close()
    assert again["status"] == 200 and mm7.decode(again["body"]).body.status.code == 1000
    assert len(calls) == 2 and [r.state for r in store.inbox()] == ["handled"]


def _receiver_with(store, calls, fail_first=False):
    """A receiver on `store` whose handler lists the messages in `calls` (failing the first one)."""
    def on_deliver(msg, ctx):
        calls.append(msg)
        if fail_first and len(calls) == 1:
            raise mm7.Unavailable("down")

    receiver = mm7.Receiver(store=store)
    receiver.on("deliver", on_deliver)
    return receiver


OUTCOME_SERVER = """
import os, sys, time, mm7bind as mm7
path = sys.argv[1]

class Handler(mm7.Handler):
    def on_deliver(self, msg, ctx):
        with open(path + ".calls", "a") as f:
            f.write(msg.subject + "\\n")
        if msg.subject == "first":  # held until the other process has the store locked
            while not os.path.exists(path + ".locked"):
                time.sleep(0.01)

srv = mm7.serve(mm7.Receiver(Handler(), store=mm7.SqliteStore(path), store_wait=0.2), port=0)
print(srv.port, flush=True)
srv.serve_forever()
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_an_outcome_recorded_late_survives_a_sigkill_and_is_not_handled_again(tmp_path):
    """A vacuum in another process holds the store while the outcome is recorded: the 200 goes
    out, the outcome is written with the next message, and then the server is SIGKILLed. Nothing
    is left "processing" for a replay to handle a second time."""
    import signal
    import subprocess
    import sys
    import threading

    import requests

    from .conftest import ROOT

    db = tmp_path / "vasp.db"
    SqliteStore(db).close()
    vacuum = SqliteStore(db)  # (another process's lock, as flock sees it: its own descriptor)
    proc = subprocess.Popen([sys.executable, "-c", OUTCOME_SERVER, str(db)], stdout=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        url = f"http://127.0.0.1:{int(proc.stdout.readline())}/mm7"

        def send(subject, tid):
            out = mm7.encode(deliver(subject=subject), transaction_id=tid)
            return requests.post(url, data=out.to_bytes(), headers=out.headers, timeout=30)

        answers = []
        first = threading.Thread(target=lambda: answers.append(send("first", "late-1")))
        first.start()
        calls = Path(f"{db}.calls")
        while not calls.exists():
            first.join(0.01)
        vacuum._write.__enter__()
        Path(f"{db}.locked").touch()
        first.join(WAIT)
        vacuum._write.__exit__(None, None, None)
        assert answers and answers[0].status_code == 200
        assert send("second", "late-2").status_code == 200  # its commit carries the first one's outcome
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
        vacuum.close()
    store = SqliteStore(db)
    assert [r.state for r in store.inbox()] == ["handled", "handled"]
    replayer = mm7.Receiver(store=store)
    replayer.on("deliver", lambda msg, ctx: calls.write_text(calls.read_text() + "replayed\n"))
    assert replayer.replay(stale_after=0) == []
    assert calls.read_text().split() == ["first", "second"]
    store.close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.skipif(__import__("mm7bind.holders").holders.this_process() is None,
                    reason="no /proc telling a process's start time")
def test_a_message_answered_1000_whose_outcome_a_sigkill_cut_off_is_replayed_once(tmp_path):
    """The 200 went out while the store was held, its outcome kept in memory, and the server was
    SIGKILLed before it could write it. The MMSC, answered 1000, never sends the message again: the
    record left "processing" is `mm7bind replay`'s, at once (its process is gone; no stale_after
    to wait out), and once; the MMSC's copies after that are answered 1000 from the record."""
    import signal
    import subprocess
    import sys
    import threading

    import requests

    from .conftest import ROOT
    from .test_commands import run

    db = tmp_path / "vasp.db"
    SqliteStore(db).close()
    vacuum = SqliteStore(db)  # (another process's lock, as flock sees it: its own descriptor)
    proc = subprocess.Popen([sys.executable, "-c", OUTCOME_SERVER, str(db)], stdout=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = mm7.encode(deliver(subject="first"), transaction_id="cut-1")
    held = False
    try:
        url = f"http://127.0.0.1:{int(proc.stdout.readline())}/mm7"
        answers = []
        first = threading.Thread(target=lambda: answers.append(
            requests.post(url, data=out.to_bytes(), headers=out.headers, timeout=30)))
        first.start()
        calls = Path(f"{db}.calls")
        while not calls.exists():
            first.join(0.01)
        vacuum._write.__enter__()
        held = True
        Path(f"{db}.locked").touch()
        first.join(WAIT)
        assert answers and answers[0].status_code == 200
        assert mm7.decode(answers[0].content, answers[0].headers["Content-Type"]).body.status.code == 1000
        os.kill(proc.pid, signal.SIGKILL)  # before the store is let go: the kept outcome dies with it
        proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
        if held:
            vacuum._write.__exit__(None, None, None)
        vacuum.close()
    store = SqliteStore(db)
    assert [r.state for r in store.inbox()] == ["processing"]  # handled and acknowledged, not recorded

    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n')
    (tmp_path / "noting.py").write_text(  # (the command's handler: notes its call beside the server's)
        "class Handler:\n    def on_deliver(self, msg, ctx):\n"
        f"        with open({str(calls)!r}, 'a') as f:\n            f.write('replayed\\n')\n")
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"), "--handler", "noting:Handler", cwd=tmp_path)
    assert proc.returncode == 0 and "#1: handled" in proc.stdout, proc.stdout + proc.stderr
    assert calls.read_text().split() == ["first", "replayed"]
    assert [r.state for r in store.inbox()] == ["handled"]

    class Copy(mm7.Handler):
        def on_deliver(self, msg, ctx):
            calls.write_text(calls.read_text() + "copy\n")

    again = mm7.Receiver(Copy(), store=store).handle(out.to_bytes(), out.content_type)
    assert mm7.decode(again.body, dict(again.headers)["Content-Type"]).body.status.code == 1000
    assert "nothing to replay" in run("replay", "--config", str(tmp_path / "cfg.toml"), "--handler",
                                      "noting:Handler", cwd=tmp_path).stdout
    assert calls.read_text().split() == ["first", "replayed"]
    store.close()


KILLED_IN_THE_HANDLER = """
import os, signal, sys, mm7bind as mm7
from tests.test_receiver import deliver, post
path = sys.argv[1]

class Handler(mm7.Handler):
    def on_deliver(self, msg, ctx):  # (stored, claimed by this process, its outcome never recorded)
        with open(path + ".calls", "a") as f:
            f.write(msg.subject + "\\n")
        os.kill(os.getpid(), signal.SIGKILL)

post(mm7.wsgi_app(mm7.Receiver(Handler(), store=mm7.SqliteStore(path))), deliver(subject="first"), tid="cut-1")
"""


def _left_by_a_killed_run(tmp_path, *settings: str) -> tuple[Path, Path, Path]:
    """A store whose one message a SIGKILLed process left 'processing', its handler called once
    and no outcome recorded; a configuration of it (`settings` in [receiver], a DEBUG log file)
    and the file the handlers note their calls in."""
    import signal

    db = tmp_path / "vasp.db"
    returncode, _, err = _run_to_its_end(KILLED_IN_THE_HANDLER, str(db))
    assert returncode == -signal.SIGKILL, err
    store = SqliteStore(db)
    assert [(r.transaction_id, r.state) for r in store.inbox()] == [("cut-1", "processing")]
    store.close()
    calls = Path(f"{db}.calls")
    (tmp_path / "noting.py").write_text(  # (serve's handler: notes its call beside the killed one's)
        "class Handler:\n    def on_deliver(self, msg, ctx):\n"
        f"        with open({str(calls)!r}, 'a') as f:\n            f.write('replayed\\n')\n")
    (tmp_path / "cfg.toml").write_text(
        "[receiver]\nport = 0\n" + "".join(f"{s}\n" for s in settings) + f'[store]\npath = "{db}"\n'
        f'[logging]\nlevel = "DEBUG"\nfile = "{tmp_path / "serve.log"}"\nrotate = "none"\n')
    return db, calls, tmp_path / "serve.log"


def _serve_until(tmp_path, log_file: Path, said: str, *options: str) -> str:
    """`mm7bind serve` on the configuration until its log says `said`, then stopped: the log."""
    import signal

    from .test_commands import Background, _until

    log_file.unlink(missing_ok=True)
    serve = Background("serve", "--config", str(tmp_path / "cfg.toml"), "--handler", "noting:Handler", *options,
                       cwd=tmp_path)
    try:
        _until(lambda: log_file.exists() and said in log_file.read_text(encoding="utf-8"), said)
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(timeout=60) == 0, serve.output()
    finally:
        serve.stop()
    return log_file.read_text(encoding="utf-8")


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_serve_hands_a_message_a_killed_run_left_processing_to_the_handler_at_start_once(tmp_path):
    """A message whose outcome a SIGKILL cut off (here in its handler; one answered 1000 first the
    MMSC never sends again) stayed 'processing' until an operator ran `mm7bind replay`: serve hands
    it to the handler itself as it starts (its claim's process is gone), and a second start does not."""
    db, calls, log_file = _left_by_a_killed_run(tmp_path)
    lines = _serve_until(tmp_path, log_file, "replay at start: 1 message(s)")
    assert "INFO mm7bind.serve replay at start: #1: handled" in lines
    assert "1 handled, 0 not" in lines and "left half-handled" not in lines
    assert calls.read_text().split() == ["first", "replayed"]
    store = SqliteStore(db)
    assert [(r.transaction_id, r.state) for r in store.inbox()] == [("cut-1", "handled")]
    store.close()

    lines = _serve_until(tmp_path, log_file, "replay at start: no message a killed run")
    assert "#1" not in lines
    assert calls.read_text().split() == ["first", "replayed"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_message_whose_handler_crashes_serve_at_its_start_is_not_handed_on_at_the_next_start(tmp_path):
    """A message whose handler ends the process (out of memory, a fault in native code: here a
    SIGKILL) was handed to it again at every start, each start crashing: a supervisor restarting
    serve in a loop, then giving up, and nothing more received. A start hands it on once; the next
    one leaves it 'processing', says so in one ERROR line, and receives; `mm7bind replay` takes it."""
    import signal

    from .test_commands import Background

    db, calls, log_file = _left_by_a_killed_run(tmp_path)
    (tmp_path / "noting.py").write_text(  # (serve's handler: notes its call, then ends its process)
        "import os, signal\n\nclass Handler:\n    def on_deliver(self, msg, ctx):\n"
        f"        with open({str(calls)!r}, 'a') as f:\n            f.write('replayed\\n')\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n")
    crashed = Background("serve", "--config", str(tmp_path / "cfg.toml"), "--handler", "noting:Handler",
                         cwd=tmp_path)
    try:
        assert crashed.proc.wait(timeout=60) == -signal.SIGKILL, crashed.output()
    finally:
        crashed.stop()
    assert calls.read_text().split() == ["first", "replayed"]

    # (stopped once the replay at start has told it: at "receiving MM7 at" it may not have reached it)
    lines = _serve_until(tmp_path, log_file, "not handed to the handler again")
    assert "receiving MM7 at" in lines
    assert ("ERROR mm7bind.serve replay at start: #1: not handed to the handler again: a start before did, "
            "and its process ended before the outcome") in lines
    assert "message(s) a killed run left" not in lines, lines
    assert calls.read_text().split() == ["first", "replayed"]
    store = SqliteStore(db)
    assert [(r.transaction_id, r.state) for r in store.inbox()] == [("cut-1", "processing")]
    store.close()

    (tmp_path / "noting.py").write_text(  # (the cause found: replayed by hand, once)
        "class Handler:\n    def on_deliver(self, msg, ctx):\n"
        f"        with open({str(calls)!r}, 'a') as f:\n            f.write('by hand\\n')\n")
    from .test_commands import run

    assert "#1: handled" in run("replay", "--config", str(tmp_path / "cfg.toml"), "--handler", "noting:Handler",
                                cwd=tmp_path).stdout
    assert calls.read_text().split() == ["first", "replayed", "by", "hand"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("off", [("--no-replay-at-start",), ("replay_at_start = false",)])
def test_serve_without_the_replay_at_start_leaves_a_killed_runs_message_to_replay(tmp_path, off):
    """For operators who replay by hand: the message stays 'processing', said at the start as before."""
    db, calls, log_file = _left_by_a_killed_run(tmp_path, *(s for s in off if not s.startswith("--")))
    lines = _serve_until(tmp_path, log_file, "receiving MM7 at", *(s for s in off if s.startswith("--")))
    assert "WARNING mm7bind.serve messages a stopped run left half-handled are stored as 'processing' " \
           "(the first #1)" in lines
    assert "replay at start" not in lines
    assert calls.read_text().split() == ["first"]
    store = SqliteStore(db)
    assert [(r.transaction_id, r.state) for r in store.inbox()] == [("cut-1", "processing")]
    store.close()


HELD_AT_REPLAY = """
import threading

started, release, returned = threading.Event(), threading.Event(), threading.Event()

class Handler:
    def on_deliver(self, msg, ctx):
        started.set()
        release.wait(60)
        returned.set()
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_serve_stopped_at_once_leaves_the_store_open_to_the_message_its_replay_has_in_hand(tmp_path, monkeypatch):
    """serve signalled twice (stop at once) while the message replayed at its start was in the
    handler closed the store under that thread: the handler's outcome then opened it again,
    connections no one closed. The stop leaves the store to the replay, which records the outcome
    and closes it."""
    import importlib
    import signal
    import threading

    from mm7bind import cli

    from .test_commands import _until

    db, _calls, _log = _left_by_a_killed_run(tmp_path)
    (tmp_path / "held_at_replay.py").write_text(HELD_AT_REPLAY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    held = importlib.import_module("held_at_replay")
    closed = []  # at each close: whether the replay's handler had the message in hand
    real_close = SqliteStore.close

    def close(store) -> None:
        closed.append(held.started.is_set() and not held.returned.is_set())
        real_close(store)

    monkeypatch.setattr(SqliteStore, "close", close)

    def stop_twice() -> None:
        if held.started.wait(30):
            os.kill(os.getpid(), signal.SIGTERM)
            # (again once the first is taken, not coalesced with it: nothing in hand is waited for)
            _until(lambda: "stopping (SIGTERM)" in _log.read_text(encoding="utf-8"), "stopping")
            os.kill(os.getpid(), signal.SIGTERM)

    replayer = None
    with serve_in_this_process():
        stopper = threading.Thread(target=stop_twice, daemon=True)
        stopper.start()
        try:
            assert cli.main(["serve", "--config", str(tmp_path / "cfg.toml"),
                             "--handler", "held_at_replay:Handler"]) == 0
            [replayer] = [t for t in threading.enumerate() if t.name == "mm7bind-replay-at-start"]
            assert "SIGTERM again: stopped without waiting" in _log.read_text(encoding="utf-8")
            assert closed == []  # (not closed under the message in hand)
            held.release.set()
            replayer.join(10)
            assert not replayer.is_alive() and closed == [False]  # (closed by the replay, after its outcome)
        finally:
            held.release.set()
            stopper.join(10)
            if replayer is not None:
                replayer.join(10)
            sys.modules.pop("held_at_replay", None)
    store = SqliteStore(db)
    assert [(r.transaction_id, r.state) for r in store.inbox()] == [("cut-1", "handled")]
    store.close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("worker", ["retention", "outbox"])
def test_serve_stopped_at_once_leaves_the_store_open_to_a_workers_round(worker, tmp_path, monkeypatch):
    """serve signalled twice (stop at once) while its retention was purging (or its outbox sending)
    closed the store under that round: the purge then opened it again, connections no one closed.
    The stop leaves the store (and the client) to the round, which ends it (no error) and closes it."""
    import signal
    import threading

    from mm7bind import cli
    from mm7bind.client import Client
    from mm7bind.outbox import Outbox
    from mm7bind.store import Retention

    from .test_commands import _until

    db, log_file = tmp_path / "vasp.db", tmp_path / "serve.log"
    (tmp_path / "cfg.toml").write_text(
        f'[receiver]\nport = 0\n[store]\npath = "{db}"\nkeep_days = {30 if worker == "retention" else 0}\n'
        f'[outbox]\nenabled = {"true" if worker == "outbox" else "false"}\n'
        f'[logging]\nlevel = "DEBUG"\nfile = "{log_file}"\nrotate = "none"\n', encoding="utf-8")
    (tmp_path / "noting.py").write_text("class Handler:\n    def on_deliver(self, msg, ctx):\n        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    started, release, returned = threading.Event(), threading.Event(), threading.Event()
    kind = Retention if worker == "retention" else Outbox
    real_round = kind.run_once

    def held_round(work, now=None):
        started.set()
        release.wait(60)
        try:
            return real_round(work, now)
        finally:
            returned.set()

    monkeypatch.setattr(kind, "run_once", held_round)
    clients_closed = []  # at each client's close: whether the round was in hand
    real_client_close = Client.close

    def client_close(client) -> None:
        clients_closed.append(started.is_set() and not returned.is_set())
        real_client_close(client)

    monkeypatch.setattr(Client, "close", client_close)
    closed, closing = [], threading.Event()  # at each close: (the store, whether the round was in hand)
    real_close = SqliteStore.close

    def close(store) -> None:
        closed.append((store, started.is_set() and not returned.is_set()))
        real_close(store)
        closing.set()

    monkeypatch.setattr(SqliteStore, "close", close)

    def stop_twice() -> None:
        if started.wait(30):
            os.kill(os.getpid(), signal.SIGTERM)
            _until(lambda: "stopping (SIGTERM)" in log_file.read_text(encoding="utf-8"), "stopping")
            os.kill(os.getpid(), signal.SIGTERM)

    with serve_in_this_process():
        stopper = threading.Thread(target=stop_twice, daemon=True)
        stopper.start()
        try:
            assert cli.main(["serve", "--config", str(tmp_path / "cfg.toml"), "--handler", "noting:Handler",
                             "--no-replay-at-start"]) == 0
            assert "SIGTERM again: stopped without waiting" in log_file.read_text(encoding="utf-8")
            assert closed == []  # (not closed under the round in hand)
            [thread] = [t for t in threading.enumerate() if t.name == kind.name]
            release.set()
            thread.join(10)
            assert not thread.is_alive() and returned.is_set() and closing.wait(10)
            [(store, in_round)] = closed
            assert clients_closed == ([False] if worker == "outbox" else [])
            assert in_round is False and store._all == []  # (closed after the purge, nothing opened again)
            assert "a round failed" not in log_file.read_text(encoding="utf-8")
        finally:
            release.set()
            stopper.join(10)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_replay_of_what_is_in_hand_takes_only_the_claims_of_a_process_known_gone(tmp_path):
    """What serve replays at its start: of the messages stored, only the one a killed process left
    in hand, not a failed one (replay's, by hand), nor one a live process claimed however long ago;
    and nothing once told to stop."""
    import math
    import signal
    import sqlite3
    import threading
    from datetime import timedelta

    from mm7bind.store import utcnow

    db = tmp_path / "vasp.db"
    returncode, _, err = _run_to_its_end(KILLED_IN_THE_HANDLER, str(db))
    assert returncode == -signal.SIGKILL, err
    store = SqliteStore(db)
    calls = []
    receiver = mm7.Receiver(store=store)
    receiver.on("deliver", lambda msg, ctx: calls.append(msg.subject))
    for tid, state in (("failed-1", "failed"), ("live-1", "processing")):  # (claimed by this process)
        out = mm7.encode(deliver(subject=tid), transaction_id=tid)
        rec, _ = store.accept(kind="DeliverReq", transaction_id=tid, message_id=None, recipient=None, status=None,
                              peer="p", content_type=out.content_type, body=out.to_bytes(),
                              tid_key=f"DeliverReq|{tid}", report_key=None)
        if state == "failed":
            store.mark(rec.id, "failed", None, "boom")
    with sqlite3.connect(db) as other:  # (its claim a day old: it is the holder that counts)
        other.execute("UPDATE inbox SET claimed_at = ? WHERE transaction_id = 'live-1'",
                      ((utcnow() - timedelta(days=1)).isoformat(),))
    other.close()
    stop = threading.Event()
    stop.set()
    assert receiver.replay(stale_after=math.inf, states=("processing",), stop=stop) == [] and calls == []
    assert receiver.replay(stale_after=math.inf, states=("processing",)) == [(1, "handled")]
    assert calls == ["first"]
    assert {r.transaction_id: r.state for r in store.inbox()} == {
        "cut-1": "handled", "failed-1": "failed", "live-1": "processing"}
    store.close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_two_serves_starting_together_hand_a_killed_runs_message_to_one_handler(tmp_path):
    """Two replays at start on one store (two serves, each its own connection and lock descriptor)
    race for the message a killed process left in hand: the claim lets one have it."""
    import math
    import signal
    import threading

    db = tmp_path / "vasp.db"
    returncode, _, err = _run_to_its_end(KILLED_IN_THE_HANDLER, str(db))
    assert returncode == -signal.SIGKILL, err
    calls, results = [], []
    together = threading.Barrier(2)

    def serve_start() -> None:
        store = SqliteStore(db)
        receiver = mm7.Receiver(store=store)
        receiver.on("deliver", lambda msg, ctx: calls.append(msg.subject))
        together.wait(WAIT)
        results.append(receiver.replay(stale_after=math.inf, states=("processing",)))
        store.close()

    starts = [threading.Thread(target=serve_start) for _ in range(2)]
    for start in starts:
        start.start()
    for start in starts:
        start.join(WAIT)
    assert sorted(results) == [[], [(1, "handled")]] and calls == ["first"]


KEPT_AT_EXIT = """
import os, signal, sys, time, mm7bind as mm7
from mm7bind import store as store_module
from tests.test_receiver import deliver, post
path, how = sys.argv[1:]
store_module.OUTCOME_RETRY_EVERY = 3600  # (no retry before the exit: the exit is what writes it)
other = mm7.SqliteStore(path)  # (another process's lock, as flock sees it: its own descriptor)

class Handler(mm7.Handler):
    def on_deliver(self, msg, ctx):
        other._write.__enter__()  # (a vacuum starts in another process)

store = mm7.SqliteStore(path)  # (never closed: a WSGI server's worker does not close the app's store)
app = mm7.wsgi_app(mm7.Receiver(Handler(), store=store, store_wait=0.2))
assert post(app, deliver(), tid="exit-1")["status"] == 200
assert store._unrecorded
if how == "held":  # (the vacuum outlasts the process; an outcome kept after a full disk waits for no deadline)
    store_module.EXIT_WAIT = 0.5
    for kept in store._unrecorded.values():
        kept.wait = None
else:
    other._write.__exit__(None, None, None)
if how == "sigterm":  # (a gunicorn worker's SIGTERM: its loop ends, then sys.exit)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("kept", flush=True)
if how == "sigterm":
    while True:
        time.sleep(0.05)
"""


@pytest.mark.parametrize("how", ["exit", pytest.param("sigterm", marks=pytest.mark.skipif(
    os.name != "posix", reason="POSIX signals"))])
def test_an_outcome_kept_in_memory_is_written_when_the_process_exits_without_closing_its_store(tmp_path, how):
    """Under gunicorn nothing closes the receiver's store when a worker exits (SIGTERM, max_requests,
    a reload): an outcome kept because the store was busy was lost, the message left "processing"
    for a replay to handle again. The exit writes it."""
    import signal
    import subprocess
    import sys

    from .conftest import ROOT

    db = tmp_path / "vasp.db"
    proc = subprocess.Popen([sys.executable, "-c", KEPT_AT_EXIT, str(db), how], stdout=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline() == b"kept\n"
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    store = SqliteStore(db)
    try:
        assert [(r.transaction_id, r.state) for r in store.inbox()] == [("exit-1", "handled")]
    finally:
        store.close()


def _run_to_its_end(script: str, *args: str) -> tuple[int, bytes, bytes]:
    """`script` run with `args` in a Python process of its own, to its end (killed past WAIT):
    its exit status, output and errors."""
    import subprocess
    import sys

    from .conftest import ROOT

    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_a_process_exiting_while_its_store_stays_locked_waits_a_while_not_for_ever(tmp_path):
    """The exit's try at kept outcomes gives up after EXIT_WAIT: the record stays "processing", said
    in an ERROR line, rather than the process hanging until it is killed."""
    db = tmp_path / "vasp.db"
    returncode, out, err = _run_to_its_end(KEPT_AT_EXIT, str(db), "held")
    assert returncode == 0 and out == b"kept\n"
    assert b"could not be recorded before the process exited (it waited 0.5 s for the store) (StoreBusy" in err
    store = SqliteStore(db)
    try:
        assert [(r.transaction_id, r.state) for r in store.inbox()] == [("exit-1", "processing")]
    finally:
        store.close()



RETRYING_AT_EXIT = """
import logging, sys, time, mm7bind as mm7
from mm7bind import store as store_module
from tests.test_receiver import deliver, post
path, how = sys.argv[1:]
store_module.OUTCOME_RETRY_EVERY = 0.01  # (its retry begins at once)
other = mm7.SqliteStore(path)  # (another process's lock, as flock sees it: its own descriptor)

class Handler(mm7.Handler):
    def on_deliver(self, msg, ctx):
        other._write.__enter__()  # (a vacuum starts in another process)

class VacuumEndsAsTheExitWaits(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("exiting with 1 outcome"):
            other._write.__exit__(None, None, None)

if how == "freed":
    logging.getLogger("mm7bind.store").addHandler(VacuumEndsAsTheExitWaits())
else:
    store_module.EXIT_WAIT = 0.5
store = mm7.SqliteStore(path)  # (never closed: a WSGI server's worker does not close the app's store)
app = mm7.wsgi_app(mm7.Receiver(Handler(), store=store, store_wait=0.2))
assert post(app, deliver(), tid="exit-1")["status"] == 200
for kept in store._unrecorded.values():
    kept.wait = 60  # (the retry thread's try waits for the lock past the exit)
while store._unrecorded:  # the retry thread has it in hand, waiting for the lock
    time.sleep(0.01)
print("retrying", flush=True)
"""


@pytest.mark.parametrize("how", ["freed", "held"])
def test_an_outcome_being_retried_as_the_process_exits_is_waited_for_or_said_lost(tmp_path, how):
    """A kept outcome spends most of its time in its retry, which waits for the lock (store_wait,
    every second). The exit saw only the outcomes between two tries: one in a retry was lost with
    the retry thread, without a word, even when the store came free as the process exited. The
    exit waits for that try, then writes what it kept again, or says in an ERROR line that the
    outcome is lost and what a replay will do."""
    db = tmp_path / "vasp.db"
    returncode, out, err = _run_to_its_end(RETRYING_AT_EXIT, str(db), how)
    assert returncode == 0 and out == b"retrying\n", err
    store = SqliteStore(db)
    try:
        state = [(r.transaction_id, r.state) for r in store.inbox()]
    finally:
        store.close()
    if how == "freed":
        assert state == [("exit-1", "handled")]
    else:
        assert state == [("exit-1", "processing")]
        assert (b"the outcome of #1 (handled) could not be recorded before the process exited (it waited 0.5 s for "
                b"the store)" in err), err
        assert b"it is lost. Its record stays 'processing', and `mm7bind replay` hands it to the handler a second " \
               b"time" in err


def test_a_repeat_that_cannot_claim_a_failed_message_in_time_is_answered_3000(store, tmp_path, monkeypatch, caplog):
    other = SqliteStore(tmp_path / "inbox.db")
    calls = []

    class FailsFirst(mm7.Handler):
        def on_deliver(self, msg, ctx):
            calls.append(1)
            if len(calls) == 1:
                raise mm7.Unavailable("down")

    app = mm7.wsgi_app(mm7.Receiver(FailsFirst(), store=store, store_wait=0.2))
    assert post(app, deliver(), tid="v-2")["status"] == 500
    accepting = store.accept

    def accept(**kw):
        found = accepting(**kw)
        other._write.__enter__()  # the vacuum starts right after the repeat was looked up
        return found

    monkeypatch.setattr(store, "accept", accept)
    try:
        worker, answers = _answer_in_thread(app, deliver(), "v-2")
    finally:
        other._write.__exit__(None, None, None)
        worker.join(WAIT)
        other.close()
    assert answers and answers[0]["status"] == 500 and mm7.decode(answers[0]["body"]).body.status.code == 3000
    assert "could not be asked its outcome (StoreBusy" in caplog.text
    assert len(calls) == 1 and store.inbox()[0].state == "failed"  # the MMSC's next copy has it handled


def test_a_replay_finding_the_store_locked_stops_after_store_wait_and_says_so(store, tmp_path, caplog):
    import threading

    class Broken(mm7.Handler):
        def on_deliver(self, msg, ctx):
            raise RuntimeError("down")

    app = mm7.wsgi_app(mm7.Receiver(Broken(), store=store))
    assert post(app, deliver(), tid="rl-1")["status"] == 500
    assert post(app, deliver(), tid="rl-2")["status"] == 500
    other = SqliteStore(tmp_path / "inbox.db")  # (its own lock file descriptor: as another process's)
    other._write.__enter__()  # a `store purge --vacuum` in progress
    replayer = mm7.Receiver(store=store, store_wait=0.2)
    done = []
    try:
        worker = threading.Thread(target=lambda: done.append(replayer.replay()))
        worker.start()
        worker.join(WAIT)
    finally:
        other._write.__exit__(None, None, None)
        worker.join(WAIT)
        other.close()
    assert done == [[(1, "store busy")]]  # given up on, not waited for without end; #2 left for the next replay
    assert "#1 not replayed: the store could not be written (StoreBusy" in caplog.text
    assert [r.state for r in store.inbox()] == ["failed", "failed"]
    assert replayer.replay() == [(1, "handled"), (2, "handled")]  # once the lock is gone


def test_the_replay_command_does_not_wait_without_end_for_a_locked_store(tmp_path):
    from .test_commands import run, stored_failure

    db = stored_failure(tmp_path, "rc-1")
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n[receiver]\nout_dir = "{tmp_path / "out"}"\n'
                                       'store_wait = 0.5\n')
    other = SqliteStore(db)
    other._write.__enter__()  # another process writing (a vacuum): held for the whole run
    try:
        proc = run("replay", "--config", str(tmp_path / "cfg.toml"), timeout=60)
    finally:
        other._write.__exit__(None, None, None)
        other.close()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"mm7bind replay: the store {db} is being written by another process")
    assert "try again" in proc.stderr
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"))
    assert proc.returncode == 0 and "#1: handled" in proc.stdout


def test_a_replay_finding_the_disk_full_says_so_not_that_the_store_is_locked(store, tmp_path, monkeypatch):
    """A full disk (or a read-only file) ends a replay as a lock does, but is not one: the command
    said "locked by another process", and the operator looked for a process that was not there."""
    import sqlite3

    from .test_commands import run, stored_failure

    class Broken(mm7.Handler):
        def on_deliver(self, msg, ctx):
            raise RuntimeError("down")

    assert post(mm7.wsgi_app(mm7.Receiver(Broken(), store=store)), deliver(), tid="df-1")["status"] == 500

    def full(*args, **kw):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "claim", full)
    assert mm7.Receiver(store=store).replay() == [(1, "store error")]
    db = stored_failure(tmp_path / "cli", "df-2")
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n')
    (tmp_path / "full.py").write_text(  # (imported by the command as its handler: the disk fills up)
        "import sqlite3\nfrom mm7bind.store import SqliteStore\n\n"
        "def claim(*args, **kw):\n    raise sqlite3.OperationalError('database or disk is full')\n\n"
        "SqliteStore.claim = claim\n\nclass Handler:\n    def on_deliver(self, msg, ctx):\n        pass\n")
    proc = run("replay", "--config", str(tmp_path / "cfg.toml"), "--handler", "full:Handler", cwd=tmp_path)
    assert proc.returncode == 1 and "#1: store error" in proc.stdout, proc.stdout + proc.stderr
    assert "could not be written" in proc.stderr and "locked" not in proc.stderr, proc.stderr


def test_store_check_answers_while_another_process_writes_the_store(tmp_path):
    """A monitor running `store check` during a `store purge --vacuum` of minutes: it waited for
    the vacuum without end, where a message would have waited store_wait and been answered 3000."""
    from .test_commands import run, stored_failure

    db = stored_failure(tmp_path, "sc-1")
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n[receiver]\nstore_wait = 0.5\n')
    other = SqliteStore(db)
    other._write.__enter__()  # (a vacuum in progress)
    try:
        proc = run("store", "check", "--config", str(tmp_path / "cfg.toml"), timeout=30)
    finally:
        other._write.__exit__(None, None, None)
        other.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("takes messages: no, the store's write lock was held by another process for 0.5 s")
    proc = run("store", "check", "--config", str(tmp_path / "cfg.toml"))
    assert proc.returncode == 0 and proc.stdout.startswith("takes messages: yes"), proc.stdout + proc.stderr


@needs_proc
def test_folders_made_for_a_new_store_are_named_on_disk_too(tmp_path, synced, monkeypatch):
    """A store in a folder that did not exist: the folders' own entries must reach the disk, or a
    power cut takes the folder, and the acknowledged messages in the file, with it."""
    base = tmp_path.resolve()
    SqliteStore(base / "var" / "mm7" / "power.db").close()
    assert {str(base), str(base / "var"), str(base / "var" / "mm7")} <= set(synced)
    synced.clear()
    monkeypatch.chdir(base)
    SqliteStore(os.path.join("rel", "power.db")).close()  # (a relative path: its folders as well)
    assert {str(base), str(base / "rel")} <= set(synced)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("umask, folder_mode, file_mode", [(0o027, 0o750, 0o640), (0o077, 0o700, 0o600)])
def test_saved_folders_take_the_umask_as_their_files_do(store, tmp_path, umask, folder_mode, file_mode):
    # The systemd unit's UMask=0027: a group the operator adds (a program reading what arrives)
    # reads the files, so it must be able to enter their folder; others get neither.
    import stat

    out = tmp_path / "received"
    old = os.umask(umask)
    try:
        app = mm7.wsgi_app(mm7.Receiver(SavingHandler(out, echo=lambda line: None), store=store))
        assert post(app, deliver(content=mm7.Content(parts=[mm7.Part.text("hi", filename="a.txt")])),
                    tid="m-1")["status"] == 200
    finally:
        os.umask(old)
    [folder] = (out / "DeliverReq").iterdir()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (out, out / "DeliverReq", folder)}
    assert modes == {"received": folder_mode, "DeliverReq": folder_mode, folder.name: folder_mode}
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {file_mode}


def test_replay_and_store_commands_on_a_store_damaged_on_disk_say_so_in_one_line(tmp_path):
    # The file opens (its header is intact) and then a page read fails: the operator is told
    # what failed and what to run, not shown a traceback.
    import sqlite3

    from .test_commands import run, stored_failure

    db = stored_failure(tmp_path, "dm-1")
    plain = sqlite3.connect(db)
    root = plain.execute("SELECT rootpage FROM sqlite_master WHERE name = 'inbox_state'").fetchone()[0]
    page_size = plain.execute("PRAGMA page_size").fetchone()[0]
    plain.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)
    (tmp_path / "cfg.toml").write_text(f'[store]\npath = "{db}"\n[receiver]\nout_dir = "{tmp_path / "out"}"\n')
    for command in (["replay"], ["store", "inbox", "--state", "failed"]):
        proc = run(*command, "--config", str(tmp_path / "cfg.toml"))
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        named = "store inbox" if command[0] == "store" else command[0]
        assert f"mm7bind {named}: the store failed: DatabaseError: database disk image is malformed" \
               in proc.stderr and "mm7bind store check" in proc.stderr


def test_a_replay_at_start_stopped_before_it_began_says_so_not_that_nothing_was_left(tmp_path, caplog):
    """Serve stopped as its replay at start begins: its line says it was stopped, not that no
    killed run left a message 'processing' (one did: the next start, or `mm7bind replay`, takes it)."""
    import logging
    import threading

    from mm7bind.cli import _replay_at_start

    db, calls, _log = _left_by_a_killed_run(tmp_path)
    store = SqliteStore(db)
    stop = threading.Event()
    stop.set()
    with caplog.at_level(logging.DEBUG, logger="mm7bind"):
        _replay_at_start(mm7.Receiver(mm7.Handler(), store=store), store, stop)
    assert "replay at start: stopped before it handed on any message" in caplog.text
    assert "no message a killed run" not in caplog.text
    assert [(r.transaction_id, r.state) for r in store.inbox()] == [("cut-1", "processing")]
    store.close()
