"""The incident counter behind "said once, counted, told when it is over" (the client's records,
its reads of earlier sends, the receiver's store)."""

import logging
import threading

from mm7bind.incident import Incident, takes_shared_work


def test_an_incident_is_begun_once_counted_and_ended_once():
    incident = Incident()
    assert incident.over() is None  # (no incident: a success says nothing)
    assert incident.failed("OperationalError: database or disk is full") is True
    assert incident.failed("OperationalError: database or disk is full") is False
    assert incident.failed("OperationalError: database or disk is full") is False
    ended = incident.over()
    assert (ended.said, ended.count) == ("OperationalError: database or disk is full", 3)
    assert ended.seconds >= 0
    assert incident.over() is None  # told once
    assert incident.failed("OperationalError: database or disk is full") is True  # a new incident


def test_a_failure_said_otherwise_is_said_again_and_counted_in_the_same_incident():
    incident = Incident()
    assert incident.failed("OperationalError: database is locked")
    assert incident.failed("OperationalError: database or disk is full")  # (the operator must hear of it)
    ended = incident.over()
    assert (ended.said, ended.count) == ("OperationalError: database or disk is full", 2)


def test_threads_failing_together_begin_one_incident_and_lose_no_count():
    incident, begun = Incident(), []
    go = threading.Barrier(8)

    def fail():
        go.wait()
        for _ in range(500):
            if incident.failed("OSError: [Errno 28] No space left on device"):
                begun.append(1)

    threads = [threading.Thread(target=fail) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(begun) == 1
    ends = []
    enders = [threading.Thread(target=lambda: ends.append(incident.over())) for _ in range(8)]
    [t.start() for t in enders]
    [t.join() for t in enders]
    told = [e for e in ends if e is not None]
    assert len(told) == 1 and told[0].count == 4000


def test_a_store_detour_asks_the_store_again_only_a_while_after_it_failed(monkeypatch, caplog):
    from mm7bind import incident

    log = logging.getLogger("mm7bind.test-detour")
    detour = incident.StoreDetour(log, lambda said: f"alone ({said})", lambda n, s: f"shared again ({n})", 10.0)
    clock = [100.0]
    monkeypatch.setattr(incident.time, "monotonic", lambda: clock[0])
    with caplog.at_level(logging.WARNING, "mm7bind.test-detour"):
        assert detour.asking()
        detour.failed(OSError("disk full"))
        assert not detour.asking() and not detour.asking()  # (the store is not asked: counted)
        clock[0] += 10.5
        assert detour.asking()
        detour.failed(OSError("disk full"))  # (the same failure: not said again)
        clock[0] += 10.5
        assert detour.asking()
        detour.worked()
        detour.worked()
    assert [r.getMessage() for r in caplog.records] == ["alone (OSError: disk full)", "shared again (4)"]


def test_a_store_takes_shared_work_it_has_a_method_for_and_can_write(tmp_path):
    """The clients' rate limit and the receivers' count of wrong credentials ask a store alike
    whether it can do work for every process on its file."""
    from mm7bind.store import MemoryStore, SqliteStore

    SqliteStore(tmp_path / "s.db").close()
    read_only = SqliteStore(tmp_path / "s.db", read_only=True)
    assert takes_shared_work(MemoryStore(), "rate_reserve") and takes_shared_work(MemoryStore(), "auth_failed")
    assert not takes_shared_work(None, "rate_reserve")
    assert not takes_shared_work(object(), "auth_failed")  # (a store of one's own, without it)
    assert not takes_shared_work(read_only, "rate_reserve")  # (its writes would fail, each one)
    read_only.close()
