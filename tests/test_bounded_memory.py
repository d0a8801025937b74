"""A 50 MB attachment goes file → wire → file in bounded memory (functional check; the peak RSS
figure is reported by `python -m benchmarks`, not asserted here), and hostile XML is read in memory
proportional to it."""

from __future__ import annotations

import hashlib
import os

import mm7bind as mm7
from mm7bind.content import FileBlob, SpooledBlob
from mm7bind.mime import MimeLimits, read_multipart

from .conftest import traced_memory
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
    with traced_memory() as memory:
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
    # Python allocations stay a small multiple of the 1 MiB read buffer and 4 MiB spool threshold.
    assert memory.peak < 16 * 1024 * 1024, f"peak Python allocation {memory.peak / 2**20:.1f} MiB"


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
    with traced_memory() as memory:
        env = mm7.decode_envelope(doc)
    assert env.message.subject == "hello" and env.message.priority == mm7.Priority.LOW
    assert len(env.message.extras) == 100 and "element-order" in {d.code for d in env.deviations}
    assert memory.peak < 4 * 1024 * 1024, f"peak Python allocation {memory.peak / 2**20:.1f} MiB"


def test_a_quoted_printable_line_without_end_in_bounded_memory():
    # The reader held a quoted-printable line until its line break came, and joined what it held
    # with every read: a 2 MB part without one, arriving in 1,000-byte reads, was held whole and
    # copied 2,000 times (quadratic time: 4 s for 1 MB in 7-byte reads). Now at most 64 KiB wait.
    line = b"abc=3D" * (2 * 1024 * 1024 // 6)
    body = b"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + line + b"\r\n--b--\r\n"
    with traced_memory() as memory:
        parts, _ = read_multipart(Trickle(body, 1000), "b", MimeLimits(spool_threshold=64 * 1024))
    assert isinstance(parts[0].blob, SpooledBlob) and parts[0].blob.read() == b"abc=" * (len(line) // 6)
    # (the read buffer takes 1 MiB of it)
    assert memory.peak < 2 * 1024 * 1024, f"peak Python allocation {memory.peak / 2**20:.1f} MiB"


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


def test_a_delimiter_line_padded_without_end_in_bounded_memory():
    # The reader held a delimiter line's padding (RFC 2046's transport padding) until it ended,
    # stepping through it a byte at a time: 6 MB of spaces after "--b" were held whole.
    # Padding past 998 bytes (RFC 5322's longest line) makes no delimiter line; a closing one
    # still ends the body.
    pad = b" " * (6 * 1024 * 1024)
    body = (b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b" + pad + b"\r\nnot a part\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\ny\r\n--b--" + pad)
    with traced_memory() as memory:
        parts, devs = read_multipart(Trickle(body, 64 * 1024), "b", MimeLimits(spool_threshold=64 * 1024))
    assert [p.blob.read() for p in parts] == [b"x\r\n--b" + pad + b"\r\nnot a part", b"y"] and devs == []
    assert memory.peak < 3 * 1024 * 1024, f"peak Python allocation {memory.peak / 2**20:.1f} MiB"
    # Padding as senders write it is padding.
    parts, _ = read_multipart(body.replace(pad, b" " * 998), "b")
    assert [p.blob.read() for p in parts] == [b"x", b"not a part", b"y"]


def test_a_long_preamble_read_from_a_stream_in_bounded_memory():
    # The text before the first delimiter was held until the delimiter came: 12 MB of it, 12 MB.
    from mm7bind.content import CHUNK

    preamble = b"a preamble no one reads\r\n" * (12 * 1024 * 1024 // 25)
    body = preamble + b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"
    with traced_memory() as memory:
        parts, devs = read_multipart(Trickle(body, 64 * 1024), "b")
    assert [p.blob.read() for p in parts] == [b"x"] and devs == []
    assert memory.peak < 3 * 1024 * 1024, f"peak Python allocation {memory.peak / 2**20:.1f} MiB"
    # Wherever the reads and what was dropped end, a delimiter starts a line: "x--b" is preamble.
    for size in range(4 * CHUNK - 8, 4 * CHUNK + 8):
        for pad in (b"\n", b"x"):
            text = b"p" * size + pad + b"--b\r\n\r\nlate\r\n--b\r\n\r\ny\r\n--b--\r\n"
            parts, _ = read_multipart(Trickle(text, 1000), "b")
            assert [p.blob.read() for p in parts] == ([b"late", b"y"] if pad == b"\n" else [b"y"]), (size, pad)


def test_a_resumed_campaign_reads_its_records_one_at_a_time(tmp_path):
    """Resuming a campaign looks through every request recorded under its tag: read whole, each
    record took about 1 KB (a million-request campaign, a gigabyte), where whom it skips takes
    the recipients' strings."""
    from collections import Counter

    from mm7bind import bulk
    from mm7bind.store import SentRecord, SqliteStore

    n = 20_000
    store = SqliteStore(tmp_path / "c.db", durability="process")
    try:
        for i in range(n):
            store.record_sent(SentRecord(f"t{i}", "SubmitReq", "REL-6-MM7-1-3", [f"+86138{i:08d}"],
                                         message_id=f"M{i:012d}", url="http://127.0.0.1:9090/mm7", status_code=1000,
                                         status_text="Success", tag="big"))
        listed = [f"+86138{i:08d}" for i in range(n + 100)]
        with traced_memory() as memory:
            todo, result = bulk._plan(store, listed, "big", Counter())
    finally:
        store.close()
    assert todo == listed[n:] and result.skipped == n
    assert memory.peak < 400 * n, f"peak Python allocation {memory.peak / n:.0f} bytes a record"


def test_a_campaign_result_keeps_counts_and_a_bounded_few_not_an_entry_per_recipient():
    """BulkResult kept a MessageID per recipient accepted and a failure per one refused: a campaign
    of millions held millions of entries until it ended. Its counts stay exact; it keeps the first
    `keep` of each, and every outcome goes to `on_outcome` as it comes."""
    from types import SimpleNamespace

    from mm7bind import bulk

    def submit(msg, tag=None):
        n = int(str(msg.recipients.to[0]).removeprefix("+86"))
        code = 1000 if n % 2 else 2005
        return SimpleNamespace(ok=code == 1000, message_id=f"m-{n}" if code == 1000 else None,
                               status=mm7.Status(code, "ok" if code == 1000 else "refused"))

    client = SimpleNamespace(core=SimpleNamespace(store=None), submit=submit)
    told = {"accepted": 0, "refused": 0}

    def on_outcome(recipient, message_id, why):
        told["accepted" if message_id else "refused"] += 1

    recipients = [f"+86{i}" for i in range(1, 6001)]
    result = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), recipients, concurrency=2, keep=100,
                            on_outcome=on_outcome)
    assert (result.total, result.sent, result.failed) == (6000, 3000, 3000)
    assert len(result.message_ids) == 100 and len(result.failures) == 100
    assert told == {"accepted": 3000, "refused": 3000}
    default = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), recipients, concurrency=2)
    assert len(default.message_ids) == len(default.failures) == bulk.KEEP < 3000
    every = bulk.send_bulk(client, mm7.SubmitReq(subject="s"), recipients[:10], keep=None)
    assert len(every.message_ids) == len(every.failures) == 5


def test_many_bare_ampersands_are_repaired_in_bounded_memory():
    # A substitution holds each piece of its result apart until it joins them, about 50 bytes
    # apiece: a malformed envelope's 4 MB of "a&b" held 100 MB while its ampersands were escaped.
    from mm7bind.xmlsafe import repair_unescaped_text

    text = "<a><Subject>" + "a&b" * 200_000 + "</Subject><x>" + "c & d&amp;" * 50_000 + "</x></a>"
    with traced_memory() as memory:
        out, found = repair_unescaped_text(text)
    assert out == text.replace("&", "&amp;").replace("&amp;amp;", "&amp;") and found.ampersands == 250_000
    assert memory.peak < 5 * len(out), \
        f"peak Python allocation {memory.peak / 2**20:.1f} MiB for {len(out) / 2**20:.1f} MiB"


def test_smils_checked_before_sending_are_remembered_by_digest_not_kept():
    # A SMIL found to name only parts that are sent is not checked again (a campaign sends one
    # content to every recipient): the last 256 were remembered by their bytes, so forwarding
    # messages of large SMILs kept up to 256 of them for the life of the process.
    gif = b"GIF89a" + bytes(30)

    def send(i: int) -> None:
        smil = mm7.Part.from_bytes(b'<smil><body><par><img src="cid:p@sp"/></par></body></smil><!--'
                                   + b"%d" % i * 100_000 + b"-->", "application/smil")
        content = mm7.Content(parts=[mm7.Part.from_bytes(gif, "image/gif", content_id="p@sp")], smil=smil)
        mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=content), transaction_id="t").to_bytes()

    send(0)  # (what the first encoding sets up, not counted)
    with traced_memory() as memory:
        for i in range(1, 20):
            send(i)
    # (19 SMILs of 100-200 KB)
    assert memory.held < 1024 * 1024, f"{memory.held / 2**20:.1f} MiB held after sending"


def test_smils_written_as_sent_are_not_kept_when_large():
    # A SMIL naming a part "照片.jpg" goes naming it "%E7%85%A7%E7%89%87.jpg", worked out once for
    # a campaign: forwarded messages' large SMILs are not kept for that.
    jpeg = b"\xff\xd8\xff\xe0" + bytes(30)

    def send(i: int) -> None:
        smil = mm7.Part.from_bytes('<smil><body><par><img src="照片.jpg"/></par></body></smil><!--'.encode()
                                   + b"%d" % i * 100_000 + b"-->", "application/smil")
        content = mm7.Content(parts=[mm7.Part.from_bytes(jpeg, "image/jpeg", content_location="照片.jpg")],
                              smil=smil)
        out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=content), transaction_id="t")
        assert b'src="%E7%85%A7%E7%89%87.jpg"' in out.to_bytes()

    send(0)  # (what the first encoding sets up, not counted)
    with traced_memory() as memory:
        for i in range(1, 20):
            send(i)
    # (19 SMILs of 100-200 KB)
    assert memory.held < 1024 * 1024, f"{memory.held / 2**20:.1f} MiB held after sending"


def test_charset_names_no_codec_has_are_not_kept():
    # Python's encodings package keeps every name it is asked about and does not know, for the
    # life of the process: a peer naming a new charset in each message, or one of 20 KB, grew
    # the process without end. Such a name is still said to be unknown, and the text read.
    xml = mm7.encode_envelope(mm7.DeliverReq(sender="+8613800000000", subject="hello", recipients=["1065"]),
                              transaction_id="t", version="REL-6-MM7-1-4")
    mm7.decode(xml, 'text/xml; charset="x-first"')  # (what the first reading sets up, not counted)
    with traced_memory() as memory:
        for i in range(300):
            env = mm7.decode(xml, f'text/xml; charset="x-{i}-{"y" * 20_000}"')
            assert env.message.subject == "hello"
            env = mm7.decode(xml, f'text/xml; charset="x-{i}"')
        del env
    assert memory.held < 1024 * 1024, f"{memory.held / 2**20:.1f} MiB held after 600 messages"
    from mm7bind.xmlsafe import charset_codec

    assert [charset_codec(n) for n in ("GBK", "cp1252", "UTF-16LE", "ks_c_5601-1987", "x-9", "base64")] == [
        ("gb18030", True), ("cp1252", True), ("utf-16-le", True), ("euc_kr", True), (None, False), (None, False)]


def test_a_recipient_file_is_read_in_little_more_than_its_numbers_take(tmp_path):
    """A list of numbers was held as its bytes, its text and a StringIO of the text (4 bytes a
    character) while it was read: 170 bytes a line at its peak, where the numbers read take 70."""
    from mm7bind.bulk import read_recipients

    n = 50_000
    path = tmp_path / "numbers.csv"
    path.write_text("phone\n" + "".join(f"+86 138{i:08d}\n" for i in range(n)), encoding="utf-8")
    with traced_memory() as memory:
        recipients = read_recipients(path)
    assert len(recipients) == n and recipients[-1] == f"+86138{n - 1:08d}"
    assert memory.peak < 120 * n, f"peak Python allocation {memory.peak / n:.0f} bytes a line"
