"""A request's HTTP headers are stored with it (but credentials), so that a replay shows its
handler what the first handling saw: a carrier routing header above all."""

from __future__ import annotations

import base64
import json
import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

import mm7bind as mm7
from mm7bind import store as store_module
from mm7bind.display import is_secret_header
from mm7bind.handlers import passed_headers
from mm7bind.store import HEADERS_KEPT_MAX, MemoryStore, SqliteStore

from .conftest import inbox_file_before
from .test_commands import run
from .test_receiver import call_wsgi, deliver

CARRIER = {"X-Mblox-Carrier-Id": "46000", "X-Mbuni-Carrier-Id": "cmcc"}
BASIC = "Basic " + base64.b64encode(b"mmsc:pw").decode()


class FailsFirst(mm7.Handler):
    """Sees every handling's headers; the first one fails (the application was down)."""

    def __init__(self):
        self.seen = []

    def on_deliver(self, msg, ctx):
        self.seen.append((ctx.replay, dict(ctx.headers), passed_headers(ctx)))
        if len(self.seen) == 1:
            raise mm7.Unavailable("application down")


def post(app, tid: str, headers: dict):
    out = mm7.encode(deliver(), transaction_id=tid)
    return call_wsgi(app, out.to_bytes(), out.content_type, headers=headers)


def test_a_replay_sees_the_carrier_header_but_not_the_credentials(store):
    handler = FailsFirst()
    rx = mm7.Receiver(handler, store=store, auth=mm7.auth.BasicAuth("mmsc", "pw"))
    app = mm7.wsgi_app(rx)
    headers = {**CARRIER, "Authorization": BASIC, "Cookie": "session=s3cr3t"}
    assert post(app, "c-1", headers)["status"] == 500
    [rec] = store.inbox(state="failed")
    assert rx.replay() == [(rec.id, "handled")]

    (_, first, first_passed), (replayed, again, again_passed) = handler.seen
    assert replayed and first["X-Mblox-Carrier-Id"] == again["X-Mblox-Carrier-Id"] == "46000"
    assert first["Authorization"] == "Basic ***" and "Authorization" not in again and "Cookie" not in again
    assert again == {k: v for k, v in first.items() if k not in ("Authorization", "Cookie")}
    assert again_passed == first_passed  # what a forwarded or saved message carries: the same both times
    assert store.inbox_get(rec.id).headers == again
    if isinstance(store, SqliteStore):  # the password is nowhere in the file
        raw = sqlite3.connect(store.path).execute("SELECT headers FROM inbox").fetchone()[0]
        assert json.loads(raw) == again and "s3cr3t" not in raw and "bW1zYzpwdw" not in raw


def test_a_failed_first_handling_taken_up_by_a_repeat_sees_the_repeats_headers(store):
    handler = FailsFirst()
    app = mm7.wsgi_app(mm7.Receiver(handler, store=store))
    assert post(app, "c-2", CARRIER)["status"] == 500
    assert post(app, "c-2", {**CARRIER, "Authorization": BASIC})["status"] == 200
    assert [seen[1].get("Authorization") for seen in handler.seen] == [None, BASIC]  # no auth: the handler's


def test_what_is_kept_is_bounded_and_one_big_header_does_not_push_out_the_carrier(store):
    huge = {"X-Padding": "x" * HEADERS_KEPT_MAX, **CARRIER}
    rec, _ = store.accept(kind="DeliverReq", transaction_id="big", message_id=None, recipient=None, status=None,
                          peer=None, content_type="text/xml", body=b"<x/>", tid_key="big", report_key=None,
                          headers=huge)
    for kept in (rec.headers, store.inbox_get(rec.id).headers):
        assert kept == CARRIER
    many = [(f"X-Header-{i}", "v" * 100) for i in range(1000)]
    rec, _ = store.accept(kind="DeliverReq", transaction_id="many", message_id=None, recipient=None, status=None,
                          peer=None, content_type="text/xml", body=b"<x/>", tid_key="many", report_key=None,
                          headers=many)
    kept = store.inbox_get(rec.id).headers
    assert 0 < len(kept) < 1000 and list(kept) == [name for name, _ in many[:len(kept)]]
    assert len(json.dumps(kept, ensure_ascii=False).encode()) <= HEADERS_KEPT_MAX


def test_a_store_file_from_before_headers_were_kept_is_upgraded_and_replays_with_none(tmp_path):
    path = tmp_path / "old.db"
    body = mm7.encode(deliver(), transaction_id="old-1")
    with inbox_file_before(path, "headers") as db:
        rowid = db.execute(
            "INSERT INTO inbox (kind, transaction_id, content_type, body, received_at, state, tid_key, claimed_at)"
            " VALUES ('DeliverReq', 'old-1', ?, X'', '2026-01-01T00:00:00+00:00', 'failed', 'DeliverReq|old-1',"
            " '2026-01-01T00:00:00+00:00')", (body.content_type,)).lastrowid
        db.execute("INSERT INTO inbox_body (id, body) VALUES (?, ?)", (rowid, body.to_bytes()))

    store = SqliteStore(path)
    try:
        assert "headers" in {row[1] for row in store._conn().execute("PRAGMA table_info(inbox)")}
        assert store.inbox_get(rowid).headers == {}
        seen = []
        rx = mm7.Receiver(store=store)
        rx.on("deliver", lambda msg, ctx: seen.append((ctx.replay, dict(ctx.headers))))
        assert rx.replay() == [(rowid, "handled")]
        assert seen == [(True, {})]
        # New messages in the upgraded file keep theirs.
        assert post(mm7.wsgi_app(rx), "new-1", CARRIER)["status"] == 200
        [new] = [r for r in store.inbox() if r.transaction_id == "new-1"]
        assert new.headers["X-Mblox-Carrier-Id"] == "46000"
    finally:
        store.close()



@given(st.lists(st.tuples(st.text(max_size=20), st.text(st.sampled_from('a"\\\x01\x7f中é '), max_size=60)),
                max_size=30))
@settings(max_examples=200, deadline=None)
def test_the_kept_headers_fill_the_limit_exactly_as_their_json_counts(pairs):
    # Sizes are counted without writing JSON for plain headers: quotes, backslashes, control
    # characters and Chinese text must count as json.dumps writes them, so the kept set never
    # passes the limit, and a header that fits is never dropped. (A small limit makes it bite.)
    headers = [(f"X-{i}-{name}", value) for i, (name, value) in enumerate(pairs)]
    limit = store_module.HEADERS_KEPT_MAX
    store_module.HEADERS_KEPT_MAX = 300
    try:
        kept = store_module.kept_headers(headers)
    finally:
        store_module.HEADERS_KEPT_MAX = limit
    expected, size = {}, 2
    for name, value in headers:
        if is_secret_header(name):
            continue
        cost = len(json.dumps([name, value], ensure_ascii=False).encode("utf-8"))
        if size + cost <= 300:
            size += cost
            expected[name] = value
    assert kept == expected

def test_a_store_of_ones_own_without_headers_still_works_and_replays_with_none():
    class OwnStore(MemoryStore):
        def accept(self, *, kind, transaction_id, message_id, recipient, status, peer, content_type, body, tid_key,
                   report_key, sent_transaction_id=None, wait=None):  # (as written before headers were kept)
            return super().accept(kind=kind, transaction_id=transaction_id, message_id=message_id,
                                  recipient=recipient, status=status, peer=peer, content_type=content_type,
                                  body=body, tid_key=tid_key, report_key=report_key,
                                  sent_transaction_id=sent_transaction_id, wait=wait)

    store, handler = OwnStore(), FailsFirst()
    rx = mm7.Receiver(handler, store=store)
    assert post(mm7.wsgi_app(rx), "own-1", CARRIER)["status"] == 500
    [rec] = store.inbox(state="failed")
    assert rx.replay() == [(rec.id, "handled")]
    assert handler.seen[0][1]["X-Mblox-Carrier-Id"] == "46000" and handler.seen[1][:2] == (True, {})


def test_store_show_prints_the_kept_headers(tmp_path):
    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    app = mm7.wsgi_app(mm7.Receiver(FailsFirst(), store=store))
    assert post(app, "show-1", {**CARRIER, "Authorization": BASIC})["status"] == 500
    [rec] = store.inbox()
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    proc = run("store", "show", str(rec.id), "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)["record"]["headers"]
    assert shown["X-Mblox-Carrier-Id"] == "46000" and "Authorization" not in shown
    # What the headers said wrong is said as the receiver said it (here: no SOAPAction).
    assert [d["code"] for d in json.loads(proc.stdout)["message"]["deviations"]] == ["soap-action"]


def test_purging_bodies_drops_the_stored_headers_too(store):
    # A carrier's headers may carry the subscriber's number: they were kept for a replay, which a
    # record without its body can no longer have. A record whose body went before the headers did
    # (purged by an earlier version) loses them at the next purge.
    from datetime import timedelta

    app = mm7.wsgi_app(mm7.Receiver(store=store))
    for tid in ("h-1", "h-2"):
        assert post(app, tid, {**CARRIER, "X-Msisdn": "+8613800000000"})["status"] == 200
    if isinstance(store, SqliteStore):
        store._conn().execute("UPDATE inbox_body SET body = X'' WHERE id = 2")
    else:
        store._inbox[2].body = b""
    later = mm7.store.utcnow() + timedelta(seconds=1)
    assert store.purge(later, bodies_only=True, dry_run=True).bodies == 2
    assert store.purge(later, bodies_only=True).bodies == 2
    assert [(r.body, r.headers, r.state) for r in store.inbox()] == [(b"", {}, "handled")] * 2
    assert store.purge(later, bodies_only=True).bodies == 0  # nothing left to drop
    assert post(app, "h-1", CARRIER)["status"] == 200 and len(store.inbox()) == 2  # repeats still recognised


def test_the_receiver_sifts_the_headers_once_and_every_store_keeps_the_same(tmp_path, monkeypatch):
    sifted = []
    sift = store_module._sift
    monkeypatch.setattr(store_module, "_sift", lambda headers, kept: sifted.append(1) or sift(headers, kept))
    given = {**CARRIER, "Authorization": BASIC, "Cookie": "s=1", "Soapaction": '""'}
    for store in (SqliteStore(tmp_path / "inbox.db"), MemoryStore()):
        sifted.clear()
        app = mm7.wsgi_app(mm7.Receiver(store=store))
        assert post(app, "h-1", given)["status"] == 200
        assert sifted == [1]  # (by the receiver; the store takes its answer as it is)
        [rec] = store.inbox()
        assert type(rec.headers) is dict and "Authorization" not in rec.headers and "Cookie" not in rec.headers
        assert rec.headers.items() >= {**CARRIER, "Soapaction": '""'}.items()
        store.close()
    assert store_module.kept_headers(store_module.sifted_headers(given)) == store_module.kept_headers(given)


def test_store_show_raw_writes_the_path_and_headers_it_came_with(tmp_path):
    """`store show --raw` wrote `POST /` and a Content-Type whatever the request was: a capture
    that named a path the MMSC never used, and without the carrier's headers. Now the path it came
    on is stored with it (its query left out: some MMSCs put credentials there), and the capture
    has it and the headers kept."""
    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    app = mm7.wsgi_app(mm7.Receiver(mm7.Handler(), store=store))
    assert post_to(app, "/vasp/mo", "p-1", {**CARRIER, "Authorization": BASIC})["status"] == 200
    [rec] = store.inbox()
    assert rec.path == "/vasp/mo"
    older, _ = store.accept(kind="DeliverReq", transaction_id="p-2", message_id=None, recipient=None, status=None,
                            peer=None, content_type=rec.content_type, body=rec.body, tid_key="p-2", report_key=None)
    store.close()
    memory, _ = MemoryStore().accept(kind="DeliverReq", transaction_id="p-3", message_id=None, recipient=None,
                                     status=None, peer=None, content_type=None, body=b"<x/>", tid_key=None,
                                     report_key=None, path="/mm7?token=s3cr3t")
    assert memory.path == "/mm7"
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    proc = run("store", "show", str(rec.id), "--config", str(cfg), "--raw", str(tmp_path / "mo.http"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    head = (tmp_path / "mo.http").read_bytes().partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    assert head[0] == "POST /vasp/mo HTTP/1.1" and "X-Mblox-Carrier-Id: 46000" in head
    assert not any(line.lower().startswith("authorization") for line in head)
    shown = json.loads(run("inspect", str(tmp_path / "mo.http")).stdout)
    assert shown["transaction_id"] == "p-1" and shown["http"]["start_line"] == "POST /vasp/mo HTTP/1.1"
    proc = run("store", "show", str(older.id), "--config", str(cfg), "--raw", str(tmp_path / "older.http"))
    assert proc.returncode == 0 and "stored without the path it came on" in proc.stderr, proc.stderr
    assert json.loads(run("inspect", str(tmp_path / "older.http")).stdout)["transaction_id"] == "p-1"


def test_store_show_raw_writes_the_path_percent_encoded_as_a_request_line_has_it(tmp_path):
    """The path is stored as the server gives it, decoded: `--raw` wrote "POST /vasp/my mo
    HTTP/1.1", a request line of four words that `inspect` could not read. It is encoded again."""
    db = tmp_path / "vasp.db"
    store = SqliteStore(db)
    app = mm7.wsgi_app(mm7.Receiver(mm7.Handler(), store=store))
    # (WSGI's PATH_INFO: the path's bytes, decoded as latin-1)
    for tid, path in (("s-1", "/vasp/my mo"), ("s-2", "/vasp/短信%".encode().decode("latin-1"))):
        assert post_to(app, path, tid, CARRIER)["status"] == 200
    spaced, chinese = store.inbox()
    assert spaced.path == "/vasp/my mo"
    store.close()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n', encoding="utf-8")
    for rec, line in ((spaced, "POST /vasp/my%20mo HTTP/1.1"), (chinese, "POST /vasp/%E7%9F%AD%E4%BF%A1%25 HTTP/1.1")):
        raw = tmp_path / f"mo-{rec.id}.http"  # (a file there already is not written over)
        proc = run("store", "show", str(rec.id), "--config", str(cfg), "--raw", str(raw))
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        assert raw.read_bytes().split(b"\r\n")[0].decode("ascii") == line
        shown = json.loads(run("inspect", str(raw)).stdout)
        assert shown["transaction_id"] == rec.transaction_id and shown["http"]["start_line"] == line


def post_to(app, path: str, tid: str, headers: dict):
    out = mm7.encode(deliver(), transaction_id=tid)
    return call_wsgi(app, out.to_bytes(), out.content_type, path=path, headers=headers)
