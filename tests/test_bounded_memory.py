"""A 50 MB attachment goes file → wire → file in bounded memory (functional check; the peak RSS
figure is reported by `python -m benchmarks`, not asserted here), and hostile XML is read in memory
proportional to it."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import mm7bind as mm7
from mm7bind.content import FileBlob, SpooledBlob
from mm7bind.mime import MimeLimits, read_multipart

from .streams import Trickle

SIZE = 50 * 1000 * 1000


def test_fifty_megabytes_in_bounded_memory(tmp_path):
    source = tmp_path / "clip.mp4"
    digest = hashlib.sha256()
    with open(source, "wb") as f:
        for _ in range(SIZE // 1_000_000):
            block = os.urandom(1_000_000)
            digest.update(block)
            f.write(block)
    content = mm7.Content()
    part = content.add_file(source, "video/mp4")
    assert isinstance(part.blob, FileBlob)
    msg = mm7.SubmitReq(recipients=["+8613800000000"], content=content)
    wire = tmp_path / "body"
    tracemalloc.start()
    try:
        for cte in ("binary", "base64"):
            out = mm7.encode(msg, transaction_id="big", profile=mm7.Profile(transfer_encoding=cte))
            with open(wire, "wb") as f:
                while chunk := out.body.read(256 * 1024):
                    f.write(chunk)
            assert wire.stat().st_size == out.length
            with open(wire, "rb") as f:
                env = mm7.decode(f, out.content_type)
            got = env.body.content.parts[0]
            assert isinstance(got.blob, SpooledBlob) and got.size == SIZE
            assert got.sha256() == digest.hexdigest()
            del env, got
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Python allocations stay a small multiple of the 1 MiB read buffer and 4 MiB spool threshold.
    assert peak < 16 * 1024 * 1024, f"peak Python allocation {peak / 2**20:.1f} MiB"


def test_thousands_of_elements_in_a_long_namespace_in_bounded_memory():
    # lxml keeps each tag read on its element object, with the namespace in it: the tolerant
    # reader listed an element's children with their tags read, so 20,000 unknown elements in a
    # 500-character namespace held 20,000 copies of it at once (and each child taken out of the
    # tree held a copy of the namespace declaration too). Tags are now read a child at a time.
    ns6 = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
    xml = mm7.encode_envelope(mm7.DeliverReq(sender="+8613800000000", subject="hello", recipients=["1065"]),
                              transaction_id="t", version="REL-6-MM7-1-4").decode()
    doc = (xml.replace(ns6, ns6.replace("/REL-6", "/" + "x" * 420 + "/REL-6"))
           .replace("<Subject>", "<x/>" * 20000 + "<Subject>")
           .replace("<Sender>", "<Priority>Low</Priority><Sender>")).encode()  # (out of order: reordered)
    tracemalloc.start()
    try:
        env = mm7.decode_envelope(doc)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert env.message.subject == "hello" and env.message.priority == mm7.Priority.LOW
    assert len(env.message.extras) == 100 and "element-order" in {d.code for d in env.deviations}
    assert peak < 4 * 1024 * 1024, f"peak Python allocation {peak / 2**20:.1f} MiB"


def test_a_quoted_printable_line_without_end_in_bounded_memory():
    # The reader held a quoted-printable line until its line break came, and joined what it held
    # with every read: a 2 MB part without one, arriving in 1,000-byte reads, was held whole and
    # copied 2,000 times (quadratic time: 4 s for 1 MB in 7-byte reads). Now at most 64 KiB wait.
    line = b"abc=3D" * (2 * 1024 * 1024 // 6)
    body = b"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + line + b"\r\n--b--\r\n"
    tracemalloc.start()
    try:
        parts, _ = read_multipart(Trickle(body, 1000), "b", MimeLimits(spool_threshold=64 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(parts[0].blob, SpooledBlob) and parts[0].blob.read() == b"abc=" * (len(line) // 6)
    assert peak < 2 * 1024 * 1024, f"peak Python allocation {peak / 2**20:.1f} MiB"  # (the read buffer: 1 MiB)


def test_a_campaign_keeps_a_few_requests_queued_not_one_per_recipient(monkeypatch):
    """A pending request (a future) takes about 2 KB: a million recipients must not mean a million
    of them at once."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from mm7bind import bulk

    outstanding, most = [0], [0]
    lock = threading.Lock()

    class CountingPool(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            def ended(_future):
                with lock:
                    outstanding[0] -= 1

            with lock:
                outstanding[0] += 1
                most[0] = max(most[0], outstanding[0])
            future = super().submit(fn, *args, **kwargs)
            future.add_done_callback(ended)
            return future

    def submit(msg, tag=None):
        time.sleep(0.002)  # (an MMSC's answer takes a while: the list is read faster than it is sent)
        return SimpleNamespace(ok=True, message_id=f"m-{msg.recipients.to[0]}", status=mm7.Status(1000, "ok"))

    client = SimpleNamespace(core=SimpleNamespace(store=None), submit=submit)
    monkeypatch.setattr(bulk, "ThreadPoolExecutor", CountingPool)
    result = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), (f"+86{i}" for i in range(300)), concurrency=4)
    assert (result.sent, result.failed) == (300, 0) and len(result.message_ids) == 300
    assert most[0] <= 8  # twice the workers, whatever the length of the list


def test_a_campaign_resumed_reads_its_records_one_at_a_time(tmp_path, monkeypatch):
    """Resuming a tagged campaign looks at every request it made: read as one list, a million
    records took most of a gigabyte before the first message went. Now only a few live at once,
    and what they say still decides who is skipped and which TransactionID goes again."""
    import weakref
    from collections import Counter

    from mm7bind import bulk
    from mm7bind.store import SentRecord, SqliteStore

    store = SqliteStore(tmp_path / "vasp.db", durability="process")
    for i in range(200):
        store.record_sent(SentRecord(f"t{i}", "SubmitReq", "REL-6-MM7-1-4", [f"+86{i}"], message_id=f"M{i}",
                                     status_code=1000 if i % 2 else 3001, status_text="x", tag="newyear"))
    alive, most = [0], [0]

    def gone():
        alive[0] -= 1

    made = SqliteStore._sent_row

    def counted(row):
        rec = made(row)
        alive[0] += 1
        most[0] = max(most[0], alive[0])
        weakref.finalize(rec, gone)
        return rec

    monkeypatch.setattr(SqliteStore, "_sent_row", staticmethod(counted))
    tries: Counter = Counter()
    todo, result = bulk._plan(store, [f"+86{i}" for i in range(201)], "newyear", tries)
    assert todo == [f"+86{i}" for i in range(0, 201, 2)] and result.skipped == 100
    assert tries["+860"] == 1 and tries["+861"] == 1 and tries["+86200"] == 0
    assert most[0] <= 5, most[0]
    store.close()
