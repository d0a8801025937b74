"""What the receive path does per message that its speed depends on but tests can count: the
statements it runs, the keys it stores. (Its speed itself: benchmarks/.)"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import mm7bind as mm7
from mm7bind.store import SqliteStore

SMIL = b'<smil><body><par><img src="cid:img"/><text src="cid:txt"/></par></body></smil>'


def deliver(tid: str) -> tuple[str, bytes]:
    content = mm7.Content(parts=[
        mm7.Part.from_bytes(bytes(range(256)) * 40, "image/jpeg", content_id="img"),
        mm7.Part.text("你好, & <world>", content_id="txt"),
    ], smil=mm7.Part.from_bytes(SMIL, "application/smil", content_id="smil"))
    msg = mm7.DeliverReq(sender="+8613800138000", recipients=["1065888", mm7.ShortCode("10658")],
                         subject="主题 & <x>", priority=mm7.Priority.HIGH, linked_id="L-1",
                         time_stamp=datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc),
                         ua_capabilities=mm7.UACapabilities(uaprof="http://example.com/ua.xml"), content=content)
    out = mm7.encode(msg, transaction_id=tid, version="REL-6-MM7-1-4")
    return out.content_type, out.to_bytes()


class Traced(SqliteStore):
    """A store whose connections report each statement they run (its first three words)."""

    statements: list[str] = []

    def _connect(self, sync):
        db = super()._connect(sync)
        db.set_trace_callback(lambda sql: self.statements.append(" ".join(sql.split()[:3])))
        return db


def test_a_message_costs_one_transaction_and_its_outcome_one_statement(tmp_path):
    store = Traced(tmp_path / "inbox.db", durability="process")
    receiver = mm7.Receiver(store=store)
    for n in range(4):
        if n == 1:  # (the first one opened the connections)
            Traced.statements = []
        ct, body = deliver(f"t-{n}")
        assert receiver.handle(body, ct, {"SOAPAction": '""'}, "127.0.0.1").status == 200
    store.close()
    # Nothing read before the write, nor after it; the outcome with no transaction of its own.
    assert Traced.statements == 3 * ["BEGIN IMMEDIATE", "INSERT INTO inbox", "INSERT INTO inbox_body", "COMMIT",
                                     "UPDATE inbox SET"]


def test_the_duplicate_key_of_a_message_stays_what_earlier_releases_stored(tmp_path):
    # A copy of a message taken before an upgrade must still be found a repeat after it: the key
    # (TransactionID and a digest of what the message says) may not change from one release to the
    # next, but for a change of what it digests, with the key of before still looked up.
    from mm7bind import receiver

    store = SqliteStore(tmp_path / "inbox.db", durability="process")
    ct, body = deliver("tid-1")
    assert mm7.Receiver(store=store).handle(body, ct, {}, "127.0.0.1").status == 200
    store.close()
    with sqlite3.connect(tmp_path / "inbox.db") as db:
        (key,) = db.execute("SELECT tid_key FROM inbox").fetchone()
    assert key == "DeliverReq|tid-1|e40bf7e67aeaf96900fd5643a7161c62"  # (since the TimeStamp is left out)
    # The release before digested the TimeStamp too: its key is still computed as then.
    msg = mm7.decode(body, ct).message
    assert receiver._identity(msg, receiver._NOT_IDENTITY_BEFORE) == "2836ffae71ae878d6c98f42821e25b9b"


def test_the_digest_of_reports_stays_what_earlier_releases_stored():
    # (the key of a report or read reply digests other fields than a DeliverReq's: each class's kept)
    from mm7bind import receiver

    report = mm7.DeliveryReportReq(message_id="M-1", recipient="+8613800138000", sender="1065888",
                                   date=datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc), mm_status="Retrieved",
                                   status_text="ok", applic_id="app")
    reply = mm7.ReadReplyReq(message_id="M-2", recipient="+8613800138000", sender="1065888", mm_status="Read")
    assert receiver._identity(report) == "d4ebe79e8a21ae29e3c1cdcbd4349ef6"
    assert receiver._identity(report, receiver._NOT_IDENTITY_BEFORE) == "86ed5c07150884709e18cd0812ec6cdd"
    assert receiver._identity(reply) == "c97941ce7b6592dae872cdb946f2a2ef"
    assert receiver._identity(reply, receiver._NOT_IDENTITY_BEFORE) == "641042b74609dadd344a98d559a84622"


def _report(store: SqliteStore, message_id: str) -> None:
    store.accept(kind="DeliveryReportReq", transaction_id=f"r-{message_id}", message_id=message_id,
                 recipient="+8613800138000", status="Retrieved", peer="127.0.0.1", content_type="text/xml",
                 body=b"<x/>", tid_key=f"r:{message_id}", report_key=f"rk:{message_id}")


def _message_id_index(path) -> tuple[str, list[str]]:
    with sqlite3.connect(path) as db:
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'inbox_message_id'").fetchone()
        plan = [row[-1] for row in db.execute("EXPLAIN QUERY PLAN SELECT id FROM inbox WHERE message_id = ?", ("m",))]
    return sql, plan


def test_messages_without_a_message_id_take_no_entry_in_its_index_old_files_included(tmp_path):
    # A DeliverReq has no MessageID: an index entry for its NULL was one more page written per message.
    new = SqliteStore(tmp_path / "new.db", durability="process")
    ct, body = deliver("t-1")
    assert mm7.Receiver(store=new).handle(body, ct, {}, "127.0.0.1").status == 200
    _report(new, "m-1")
    assert [r.kind for r in new.reports_for("m-1")] == ["DeliveryReportReq"]
    new.close()
    sql, plan = _message_id_index(tmp_path / "new.db")
    assert "WHERE message_id IS NOT NULL" in sql and any("inbox_message_id" in step for step in plan)

    # A file written with the index of every row (as earlier releases made it) has it made again so.
    old = SqliteStore(tmp_path / "old.db", durability="process")
    _report(old, "m-2")
    old.close()
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("DROP INDEX inbox_message_id")
        db.execute("CREATE INDEX inbox_message_id ON inbox (message_id)")
    assert "WHERE" not in _message_id_index(tmp_path / "old.db")[0]
    reopened = SqliteStore(tmp_path / "old.db", durability="process")
    assert [r.message_id for r in reopened.reports_for("m-2")] == ["m-2"]
    reopened.close()
    sql, plan = _message_id_index(tmp_path / "old.db")
    assert "WHERE message_id IS NOT NULL" in sql and any("inbox_message_id" in step for step in plan)


def _report_key_indexes(path) -> list[tuple[str, str | None]]:
    """The inbox's indexes holding report_key: (name, how it was made; None for a UNIQUE column's)."""
    with sqlite3.connect(path) as db:
        return [(name, sql) for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox'")
            if [c[2] for c in db.execute(f'PRAGMA index_info("{name}")')] == ["report_key"]]


def test_messages_without_a_report_key_take_no_entry_in_its_index_old_files_kept_working(tmp_path):
    # A DeliverReq has no report key: the UNIQUE column's index held an entry for its NULL too,
    # one more page written per message. Reports are still unique by their key, repeats found.
    from mm7bind import store as store_module

    new = SqliteStore(tmp_path / "new.db", durability="process")
    ct, body = deliver("t-1")
    assert mm7.Receiver(store=new).handle(body, ct, {}, "127.0.0.1").status == 200
    _report(new, "m-1")
    assert new.accept(kind="DeliveryReportReq", transaction_id="r-again", message_id="m-1", recipient=None,
                      status="Retrieved", peer=None, content_type="text/xml", body=b"<y/>", tid_key="other",
                      report_key="rk:m-1")[1] is False
    new.close()
    [(_, sql)] = _report_key_indexes(tmp_path / "new.db")
    assert sql is not None and "UNIQUE" in sql and "WHERE report_key IS NOT NULL" in sql

    # A file whose column is UNIQUE (as releases before made it) keeps that index, and no second one.
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.executescript(store_module.SENT_SCHEMA + store_module.INBOX_SCHEMA.replace(
            "report_key TEXT,", "report_key TEXT UNIQUE,"))
    old = SqliteStore(tmp_path / "old.db", durability="process")
    _report(old, "m-2")
    assert old.accept(kind="DeliveryReportReq", transaction_id="r-again", message_id="m-2", recipient=None,
                      status="Retrieved", peer=None, content_type="text/xml", body=b"<y/>", tid_key="other",
                      report_key="rk:m-2")[1] is False
    old.close()
    assert [sql for _, sql in _report_key_indexes(tmp_path / "old.db")] == [None]


def test_headers_kept_without_their_sizes_counted_are_those_their_json_would_keep(monkeypatch):
    # Headers that obviously fit are kept without counting their JSON; ones that fit only as
    # text (control characters are 6 bytes of JSON each) are counted, and dropped as they cross.
    import json

    from mm7bind import store as store_module

    monkeypatch.setattr(store_module, "HEADERS_KEPT_MAX", 300)
    plain = [("Host", "mmsc.example"), ("SOAPAction", '""'), ("Authorization", "Basic eDp5")]
    assert store_module.kept_headers(plain) == {"Host": "mmsc.example", "SOAPAction": '""'}
    for n in (10, 30, 45, 60):
        headers = [("X-A", "\x01" * n), ("X-B", "\x1f" * n), ("X-C", "ok")]
        expected, size = {}, 2
        for name, value in headers:
            cost = len(json.dumps([name, value], ensure_ascii=False).encode())
            if size + cost <= 300:
                size, expected[name] = size + cost, value
        kept = store_module.kept_headers(headers)
        assert kept == expected and len(json.dumps(kept, ensure_ascii=False).encode()) <= 300, n


def test_each_part_is_hashed_once_for_the_duplicate_key_and_the_handler(tmp_path, monkeypatch):
    # The receiver digests the parts for the duplicate key; a handler asking for a part's sha256
    # (a forwarded payload's) gets that digest, not the bytes hashed again.
    import hashlib
    import types

    from mm7bind import content as content_module

    hashed = []

    def counting(data=b""):
        hashed.append(len(data))
        return hashlib.sha256(data)

    ct, body = deliver("t-1")  # (encoded before counting: the sender's SMIL check digests its SMIL)
    monkeypatch.setattr(content_module, "hashlib", types.SimpleNamespace(sha256=counting))
    digests = []
    receiver = mm7.Receiver(store=SqliteStore(tmp_path / "inbox.db", durability="process"))
    receiver.on("deliver", lambda msg, ctx: digests.extend(p.sha256() for p in msg.content.parts))
    assert receiver.handle(body, ct, {}, "127.0.0.1").status == 200
    receiver.store.close()
    assert digests == [hashlib.new("sha256", b).hexdigest()
                       for b in (bytes(range(256)) * 40, "你好, & <world>".encode())]
    assert len(hashed) == 2  # (a hash begun per part, not one for the key and another for the handler)


def test_batches_a_few_milliseconds_apart_set_the_busy_timeout_once(tmp_path):
    # Each batch waits at most what its first caller has left of its wait: a value a few ms from
    # the last batch's, which set again cost a PRAGMA per batch. Above a second it moves in steps.
    store = Traced(tmp_path / "inbox.db", durability="process")
    db = store._group_conn()
    Traced.statements = []
    for left in (4.998, 4.996, 4.990, 4.950):
        with store._locked(db, left):
            db.execute("SELECT 1")
    assert [s for s in Traced.statements if s.startswith("PRAGMA")] == ["PRAGMA busy_timeout=4900"]
    Traced.statements = []
    with store._locked(db, 0.25):  # (below a second, to the millisecond: never longer than asked)
        pass
    assert len(Traced.statements) == 1 and 240 <= int(Traced.statements[0].rpartition("=")[2]) <= 250
    store.close()


def test_outcomes_nobody_waits_for_keep_the_busy_timeout_the_batch_before_set(tmp_path):
    # Under load the messages' batches (a deadline) and the outcomes left to whichever thread
    # writes next (none) alternate: put back to 30 s each time, it was a PRAGMA for every other
    # batch. Outcomes failing after the shorter wait are kept and written later; a message
    # stored without a deadline still waits SQLite's 30 s.
    store = Traced(tmp_path / "inbox.db", durability="process")
    rec, _ = store.accept(kind="DeliverReq", transaction_id="t-1", message_id=None, recipient=None, status=None,
                          peer="127.0.0.1", content_type="text/xml", body=b"<x/>", tid_key="k-1", report_key=None,
                          wait=5.0)
    Traced.statements = []
    store.mark(rec.id, "handled", 1000)  # (no wait: a batch of outcomes no caller waits for)
    assert Traced.statements == ["UPDATE inbox SET"]
    assert store.inbox_get(rec.id).state == "handled"
    store.accept(kind="DeliverReq", transaction_id="t-2", message_id=None, recipient=None, status=None,
                 peer="127.0.0.1", content_type="text/xml", body=b"<x/>", tid_key="k-2", report_key=None, wait=0.5)
    Traced.statements = []
    store.mark(rec.id, "handled", 1000)  # (what the last batch left is below a second: not kept)
    assert Traced.statements == ["PRAGMA busy_timeout=30000", "UPDATE inbox SET"]
    store.mark(rec.id, "handled", 1000, wait=5.0)
    Traced.statements = []
    store.accept(kind="DeliverReq", transaction_id="t-3", message_id=None, recipient=None, status=None,
                 peer="127.0.0.1", content_type="text/xml", body=b"<x/>", tid_key="k-3", report_key=None)
    assert Traced.statements[0] == "PRAGMA busy_timeout=30000"  # (a message without a deadline)
    store.close()


def test_digest_answers_are_kept_spent_in_the_messages_transaction(tmp_path, monkeypatch):
    # Shared by the processes on the store so that a captured header is refused by all of them: one
    # INSERT more in the transaction the message is written in (no transaction, nor flush, of its
    # own), and answers whose nonce went stale are forgotten with a batch now and then.
    from mm7bind import store as store_module

    store = Traced(tmp_path / "inbox.db", durability="process")
    auth = mm7.auth.DigestAuth("mmsc", "pw")
    receiver = mm7.Receiver(store=store, auth=auth)
    answer = mm7.auth.DigestAnswer("mmsc", "pw")
    assert answer.take(auth.challenge())

    def send(n: int) -> None:
        ct, body = deliver(f"t-{n}")
        headers = {"SOAPAction": '""', "Authorization": answer.authorization("POST", "/mm7")}
        assert receiver.handle(body, ct, headers, "127.0.0.1", uri="/mm7").status == 200

    send(0)
    Traced.statements = []
    for n in range(1, 3):
        send(n)
    assert Traced.statements == 2 * ["BEGIN IMMEDIATE", "INSERT INTO digest_spent", "INSERT INTO inbox",
                                     "INSERT INTO inbox_body", "COMMIT", "UPDATE inbox SET"]
    with sqlite3.connect(tmp_path / "inbox.db") as db:
        assert db.execute("SELECT count(*) FROM digest_spent").fetchone()[0] == 3
        db.execute("INSERT INTO digest_spent (key, until) VALUES ('stale one', 0)")
    monkeypatch.setattr(store_module, "SPENT_PRUNE_EVERY", 0.0)
    send(3)
    store.close()
    with sqlite3.connect(tmp_path / "inbox.db") as db:
        assert db.execute("SELECT count(*) FROM digest_spent").fetchone()[0] == 4  # (not the stale one)


def _python_calls(fn, *args, c_too: bool = False) -> list[str]:
    """The functions `fn(*args)` calls (their names, in order), itself left out: those written in
    Python, and with `c_too` those written in C as well."""
    import sys

    calls: list[str] = []
    depth = [0]

    def seen(frame, event, arg):
        if event == "call":
            depth[0] += 1
            if depth[0] > 1:
                calls.append(frame.f_code.co_name)
        elif event == "return":
            depth[0] -= 1
        elif c_too and event == "c_call" and depth[0] >= 1:
            calls.append(arg.__name__)

    sys.setprofile(seen)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return calls


def test_a_parts_type_once_parsed_is_read_without_another_call():
    # Read some 40 times a message (matching parts to references, finding the SMIL, the leaves).
    from mm7bind.mime import Headers, InPart

    part = InPart(Headers([("Content-Type", 'multipart/related; boundary="b"; type="application/smil"')]))
    assert part.is_multipart and part.params["type"] == "application/smil"
    assert _python_calls(lambda: (part.content_type, part.params, part.is_multipart)) == [
        "content_type", "params", "is_multipart"]


def test_plain_values_are_made_json_ready_without_a_call_each():
    # The receiver digests every message it takes through to_jsonable: a call for each None, str
    # and bool among its fields was most of that digest's calls.
    from mm7bind.jsonable import to_jsonable

    msg = mm7.DeliverReq(sender="+8613800138000", recipients=["1065888"], subject="s", linked_id="L-1")
    assert "to_jsonable" not in _python_calls(to_jsonable, {"subject": "s", "none": None, "flag": True, "n": 1})
    assert "to_jsonable" not in _python_calls(to_jsonable, ["a", 1, None, 2.5])
    assert _python_calls(to_jsonable, mm7.AddressKind.NUMBER) == []  # (not the value property's two calls)
    to_jsonable(msg)  # (each class's fields listed the first time)
    calls = _python_calls(to_jsonable, msg)
    assert "to_jsonable" in calls  # (an address, an enum: a call of their own)
    assert len(calls) <= 8, calls
    assert to_jsonable(msg)["subject"] == "s" and to_jsonable(msg)["sender"] == {
        "value": "+8613800138000", "kind": "Number", "display_only": False}


def test_the_store_writes_a_message_without_a_generator_or_lambda_per_message(tmp_path):
    # Headers measured and a batch looked over in loops and C: each generator expression was a
    # call per header (per queued write), with every message; the write lock taken without a
    # generator's context manager (five calls more, twice a message).
    from mm7bind.store import kept_headers

    headers = {"Host": "127.0.0.1:8080", "Content-Type": "text/xml", "SOAPAction": '""', "Authorization": "Basic eDp5"}
    assert "<genexpr>" not in _python_calls(kept_headers, headers)
    store = SqliteStore(tmp_path / "inbox.db", durability="process")
    store.accept(kind="DeliverReq", transaction_id="t-0", message_id=None, recipient=None, status=None, peer=None,
                 content_type="text/xml", body=b"<x/>", tid_key="k-0", report_key=None)  # (connections opened)

    def one() -> None:
        rec, _ = store.accept(kind="DeliverReq", transaction_id="t-1", message_id=None, recipient=None, status=None,
                                peer=None, content_type="text/xml", body=b"<x/>", tid_key="k-1", report_key=None,
                                headers=headers, wait=5.0)
        store.mark(rec.id, "handled", 1000, wait=5.0)

    calls = _python_calls(one)
    store.close()
    assert not {"<genexpr>", "<lambda>", "helper"} & set(calls), calls


def test_a_part_header_asked_for_in_lower_case_is_found_without_another_call():
    # Asked for some 20 times a message: each look lowered the name asked for, and the first one
    # every name of the part, which the reader had lowered already (it hands them over).
    from mm7bind.mime import read_multipart

    body = (b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-ID: <a>\r\n\r\nhi\r\n"
            b"--b\r\nContent-Type: image/jpeg\r\nContent-Id: <b>\r\nContent-ID: <c>\r\n\r\n\xff\xd8\r\n--b--\r\n")
    parts, _ = read_multipart(body, "b")
    assert _python_calls(lambda: parts[1].headers.get("content-id"), c_too=True) == ["get"]
    assert parts[1].headers.get("content-id") == parts[1].headers.get("Content-ID") == "<b>"  # (the first)
    assert parts[0].headers.get("content-location") is None
    assert _python_calls(lambda: parts[0].is_multipart, c_too=True) == ["is_multipart"]  # (said when the type was parsed)


def test_decoding_a_deliver_req_takes_few_calls():
    # The receiver decodes every message it takes. Each part's headers are read with one search
    # (a match, its groups, a lower() and a startswith() a line before), a child element that is
    # not there is passed over without a call, a header looked up without lowering its name again:
    # 1,115 calls before, 914 since; the TimeStamp read without xsdata's date parser (some sixty
    # calls a value, one a character): 755. (Python 3.12 inlines comprehensions: fewer there.)
    import collections

    ct, body = deliver("t-1")
    mm7.decode(body, ct)  # (what is cached on first use: cached)
    calls = _python_calls(lambda: mm7.decode(body, ct), c_too=True)
    assert len(calls) <= 800, collections.Counter(calls).most_common(12)


def test_a_charset_found_once_is_not_looked_up_again():
    # Every text part and SMIL sent asked for "utf-8" in two registries (the encodings package's
    # name table, then codecs.lookup): about 4 µs of a 100 KiB message's encoding.
    from mm7bind.xmlsafe import charset_codec

    assert charset_codec("UTF-8") == ("utf-8", True)
    assert _python_calls(lambda: charset_codec("UTF-8"), c_too=True) == ["charset_codec", "strip", "strip", "lower", "get"]
    assert charset_codec("no-such-charset") == (None, False)
    # (never kept: asked again, as far as the registry's own bound on names asked lets it)
    assert "_may_look_up" in _python_calls(lambda: charset_codec("no-such-charset"), c_too=True)


def test_an_answer_from_its_template_hashes_neither_profile_nor_version(monkeypatch):
    # (frozen dataclasses whose hash reads every field: the template is found by their identity)
    import dataclasses

    from mm7bind.profiles import Profile
    from mm7bind.versions import Version

    receiver = mm7.Receiver()
    ct, body = deliver("t-0")
    first = receiver.handle(body, ct, {"SOAPAction": '""'}, "127.0.0.1")
    hashed = []
    for cls in (Profile, Version):
        plain = cls.__hash__
        monkeypatch.setattr(cls, "__hash__", lambda self, plain=plain: hashed.append(self) or plain(self))
    again = receiver.handle(body, ct, {"SOAPAction": '""'}, "127.0.0.1")
    assert hashed == [] and again.body == first.body
    monkeypatch.undo()
    # An equal profile in its place: the same answer, from a template made for it.
    receiver.config.profile = dataclasses.replace(receiver.config.profile)
    assert receiver.handle(body, ct, {"SOAPAction": '""'}, "127.0.0.1").body == first.body
    assert len(receiver._answers) == 2
