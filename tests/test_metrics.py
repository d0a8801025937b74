"""Metrics: every answer the receiver gives and every outcome the client reaches is counted once,
with the right labels, and the text a Prometheus scraper reads is well-formed."""

from __future__ import annotations

import json
import re

import pytest
import requests

import mm7bind as mm7
from mm7bind.auth import BasicAuth, IPAllowList
from mm7bind.metrics import BUCKETS, Metrics
from mm7bind.simulator import Simulator, SimulatorConfig

from .exposition import read_exposition
from .test_tolerance import DELIVER_UNQUALIFIED, envelope


def parse(text: str) -> dict[str, float]:
    """The exposition text as {sample with labels: value}, read strictly (`exposition`)."""
    return read_exposition(text)


class Picky(mm7.Handler):
    def on_deliver(self, msg, ctx):
        if msg.subject == "no":
            raise mm7.Reject(4006, "not this one")
        if msg.subject == "boom":
            raise RuntimeError("handler down")


def post(rx: mm7.Receiver, msg: mm7.Message, tid: str, **kw) -> int:
    out = mm7.encode(msg, transaction_id=tid)
    return rx.handle(out.to_bytes(), out.content_type, kw.pop("headers", {}), kw.pop("peer", "127.0.0.1"),
                     **kw).status


def test_a_strict_refusal_is_counted_and_logged_by_the_operation_refused(caplog):
    """A strict receiver reads a request before refusing it: the refusal was counted under no
    operation and logged as "a request", though which operation peers get refused is the question."""
    import logging

    metrics = Metrics()
    rx = mm7.Receiver(strict=True, metrics=metrics)
    with caplog.at_level(logging.WARNING, logger="mm7bind.receiver"):
        assert rx.handle(envelope(DELIVER_UNQUALIFIED), "text/xml", {}, "10.0.0.5").status == 500
    assert metrics.value("mm7bind_received_total", operation="DeliverReq", outcome="malformed", status="4004") == 1
    assert caplog.records[-1].getMessage().startswith("refused DeliverReq tid=t-1 from 10.0.0.5 (strict): ")


def test_the_receiver_counts_each_answer_once_by_outcome(tmp_path):
    metrics = Metrics()
    store = mm7.SqliteStore(tmp_path / "vasp.db")
    rx = mm7.Receiver(Picky(), store=store, metrics=metrics)
    assert post(rx, mm7.DeliverReq(sender="1", subject="hi"), "p-1") == 200
    assert post(rx, mm7.DeliverReq(sender="1", subject="hi"), "p-1") == 200  # a repeat
    assert post(rx, mm7.DeliverReq(sender="1", subject="no"), "p-2") == 500
    assert post(rx, mm7.DeliverReq(sender="1", subject="boom"), "p-3") == 500
    assert post(rx, mm7.SubmitReq(recipients=["1"]), "p-4") == 500  # not served by a VASP
    assert rx.handle(b"<not xml", "text/xml", {}, "127.0.0.1").status == 500
    assert rx.handle(envelope(DELIVER_UNQUALIFIED), "text/xml", {}, "127.0.0.1").status == 200
    assert post(rx, mm7.DeliverReq(sender="1"), "p-5", method="GET") == 405

    def value(**labels):
        return metrics.value("mm7bind_received_total", **labels)

    assert value(operation="DeliverReq", outcome="handled", status="1000") == 2
    assert value(operation="DeliverReq", outcome="repeat", status="1000") == 1
    assert value(operation="DeliverReq", outcome="rejected", status="4006") == 1
    assert value(operation="DeliverReq", outcome="failed", status="3000") == 1
    assert value(operation="SubmitReq", outcome="unsupported", status="4003") == 1
    assert value(outcome="malformed") == 1 and value(outcome="not_post") == 1
    assert value() == 8 and metrics.count("mm7bind_receive_seconds") == 8
    assert metrics.value("mm7bind_deviations_total", code="unqualified-element") == 1

    samples = parse(metrics.render())
    assert samples['mm7bind_inbox_messages{state="failed"}'] == 1  # waiting for replay
    assert samples['mm7bind_inbox_messages{state="rejected"}'] == 1
    assert samples['mm7bind_inbox_messages{state="processing"}'] == 0
    rx.replay()  # (the handler still fails): no request came, so apart from what the MMSC sent
    assert value(outcome="failed") == 1 and value() == 8 and metrics.count("mm7bind_receive_seconds") == 8
    assert metrics.value("mm7bind_replayed_total", operation="DeliverReq", outcome="failed", status="3000") == 1
    assert parse(metrics.render())[
        'mm7bind_replayed_total{operation="DeliverReq",outcome="failed",status="3000"}'] == 1
    store.close()

    guarded = mm7.Receiver(Picky(), metrics=metrics, auth=BasicAuth("sp", "pw"), max_body=2048,
                           allow=IPAllowList.parse(["127.0.0.1"]))
    # A request without credentials only learns the challenge (every Digest exchange starts so):
    # counted apart from wrong credentials, the figure worth an alert.
    assert post(guarded, mm7.DeliverReq(sender="1"), "g-1") == 401
    assert post(guarded, mm7.DeliverReq(sender="1"), "g-0", headers={"Authorization": "Basic c3A6d3Jvbmc="}) == 401
    assert post(guarded, mm7.DeliverReq(sender="1"), "g-2", peer="10.0.0.1") == 403
    big = mm7.Content(parts=[mm7.Part.from_bytes(b"x" * 4096, "application/octet-stream")])
    assert post(guarded, mm7.DeliverReq(sender="1", content=big), "g-3",
                headers={"Authorization": "Basic c3A6cHc="}) == 413
    assert (value(outcome="challenged"), value(outcome="unauthorized"), value(outcome="forbidden"),
            value(outcome="too_large")) == (1, 1, 1, 1)


def test_the_client_counts_outcomes_and_attempts():
    metrics = Metrics()
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, metrics=metrics, retry=mm7.RetryPolicy(max_attempts=2, backoff=0))
        client.submit(mm7.SubmitReq(recipients=["+8613800000000"]))
        sim.fail_next(1, http_status=503)  # retried, then fine
        client.submit(mm7.SubmitReq(recipients=["+8613800000000"]))
        sim.fail_next(1, status=4004)  # refused: a Fault with an MM7 status
        with pytest.raises(mm7.MM7Error):
            client.submit(mm7.SubmitReq(recipients=["+8613800000000"]))
        client.close()
    dead = mm7.Client("http://127.0.0.1:9/mm7", metrics=metrics, retry=mm7.RetryPolicy.never())
    with pytest.raises(mm7.MM7Error):
        dead.cancel("m-1")
    dead.close()
    assert metrics.value("mm7bind_sent_total", operation="SubmitReq", outcome="ok", status="1000") == 2
    assert metrics.value("mm7bind_sent_total", operation="SubmitReq", outcome="refused", status="4004") == 1
    assert metrics.value("mm7bind_sent_total", operation="CancelReq", outcome="error", status="") == 1
    assert metrics.value("mm7bind_send_attempts_total", operation="SubmitReq") == 4
    assert metrics.count("mm7bind_send_seconds") == 4



def test_the_client_counts_what_the_mmsc_may_have_taken_twice():
    """Accepted after an attempt that got no answer (a gateway's 504): counted beside the ok ones."""
    from mm7bind.bulk import send_bulk

    metrics = Metrics()
    with Simulator(SimulatorConfig()) as sim:
        client = mm7.Client(sim.url, metrics=metrics, retry=mm7.RetryPolicy(max_attempts=2, backoff=0))
        sim.fail_next(1, http_status=504)
        result = send_bulk(client, mm7.SubmitReq(subject="x"), ["+8613800000001", "+8613800000002"], concurrency=1)
        sim.fail_next(1, http_status=503)  # (took nothing: no second copy)
        client.submit(mm7.SubmitReq(recipients=["+8613800000000"]))
        client.close()
    assert (result.sent, result.earlier_unanswered) == (2, 1)
    assert metrics.value("mm7bind_sent_total", operation="SubmitReq", outcome="ok") == 3
    assert metrics.value("mm7bind_sent_earlier_unanswered_total", operation="SubmitReq") == 1
    assert parse(metrics.render())['mm7bind_sent_earlier_unanswered_total{operation="SubmitReq"}'] == 1

def test_nothing_counted_yet_is_an_empty_exposition():
    """A scrape before anything was counted: no line at all (an empty line is none the format has)."""
    assert Metrics().render() == ""
    assert read_exposition(Metrics().render()) == {}


def test_exposition_format():
    metrics = Metrics()
    metrics.inc("mm7bind_deviations_total", code='odd "quote"\\back\nline')
    for seconds in (0.001, 0.02, 0.02, 7.0, 100.0):
        metrics.observe("mm7bind_receive_seconds", seconds, operation="DeliverReq")
    metrics.gauge("mm7bind_inbox_messages", lambda: [({"state": "failed"}, 3)])
    text = metrics.render()
    samples = parse(text)
    assert samples['mm7bind_deviations_total{code="odd \\"quote\\"\\\\back\\nline"}'] == 1
    buckets = [samples[f'mm7bind_receive_seconds_bucket{{operation="DeliverReq",le="{b:g}"}}'] for b in BUCKETS]
    assert buckets == sorted(buckets) and buckets[0] == 1 and buckets[2] == 3 and buckets[-1] == 4
    assert samples['mm7bind_receive_seconds_bucket{operation="DeliverReq",le="+Inf"}'] == 5
    assert samples['mm7bind_receive_seconds_count{operation="DeliverReq"}'] == 5
    assert samples['mm7bind_receive_seconds_sum{operation="DeliverReq"}'] == pytest.approx(107.041)
    assert samples['mm7bind_inbox_messages{state="failed"}'] == 3
    assert "# TYPE mm7bind_receive_seconds histogram" in text and "# TYPE mm7bind_inbox_messages gauge" in text

    def unreadable():
        raise OSError("disk I/O error")

    metrics.gauge("mm7bind_inbox_messages", unreadable)  # the store cannot answer: the rest still goes out
    samples = parse(metrics.render())
    assert samples['mm7bind_receive_seconds_count{operation="DeliverReq"}'] == 5
    assert not any(k.startswith("mm7bind_inbox_messages") for k in samples)


def test_a_counter_only_goes_up():
    """A negative amount made a counter fall, which Prometheus' rate() reads as a restart (and a
    burst of everything counted since)."""
    metrics = Metrics()
    metrics.inc("mm7bind_sent_total", 2, outcome="ok")
    metrics.inc("mm7bind_sent_total", 0, outcome="ok")
    for amount in (-1, -0.5, float("nan")):
        with pytest.raises(ValueError, match="only goes up"):
            metrics.inc("mm7bind_sent_total", amount, outcome="ok")
    assert metrics.value("mm7bind_sent_total") == 2


def test_served_metrics(tmp_path):
    metrics = Metrics()
    rx = mm7.Receiver(Picky(), metrics=metrics, allow=IPAllowList.parse(["127.0.0.1"]))
    with mm7.serve(rx, port=0, metrics_path="/metrics") as srv:
        out = mm7.encode(mm7.DeliverReq(sender="1"), transaction_id="w-1")
        assert requests.post(srv.url + "/mm7", data=out.to_bytes(), headers=out.headers, timeout=10).status_code == 200
        got = requests.get(srv.url + "/metrics", timeout=10)
        assert got.status_code == 200 and got.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert parse(got.text)['mm7bind_received_total{operation="DeliverReq",outcome="handled",status="1000"}'] == 1
        refused = requests.post(srv.url + "/metrics", timeout=10)  # (HEAD is served too: Allow says so)
        assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, HEAD")
    outsider = mm7.Receiver(Picky(), metrics=metrics, allow=IPAllowList.parse(["10.0.0.0/8"]))
    with mm7.serve(outsider, port=0, metrics_path="/metrics") as srv:
        assert requests.get(srv.url + "/metrics", timeout=10).status_code == 403
    plain = mm7.Receiver(Picky())  # no metrics: the path is just another unknown path
    with mm7.serve(plain, port=0, metrics_path="/metrics") as srv:
        assert requests.get(srv.url + "/metrics", timeout=10).status_code == 404


def test_metrics_path_configuration(tmp_path):
    from mm7bind.config import ConfigError, load_checked

    cfg = tmp_path / "cfg.toml"
    for bad in ("metrics", "/mm7"):
        cfg.write_text(f'[receiver]\nmetrics_path = "{bad}"\n')
        with pytest.raises(ConfigError) as info:
            load_checked(str(cfg))
        assert any("receiver.metrics_path" in str(p) for p in info.value.problems)
    cfg.write_text('[receiver]\nmetrics_path = "/metrics"\n')
    assert load_checked(str(cfg)).receiver.metrics_path == "/metrics"


def test_asgi_metrics():
    from .test_receiver import call_asgi

    metrics = Metrics()
    app = mm7.asgi_app(mm7.Receiver(Picky(), metrics=metrics), "/mm7", metrics_path="/metrics")
    out = mm7.encode(mm7.DeliverReq(sender="1"), transaction_id="a-1")
    assert call_asgi(app, [out.to_bytes()], {"Content-Type": out.content_type})[0]["status"] == 200
    rsp, _ = call_asgi(app, [b""], {}, path="/metrics", method="GET")
    assert rsp["status"] == 200 and rsp["headers"]["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(rsp["body"].decode())
    assert samples['mm7bind_received_total{operation="DeliverReq",outcome="handled",status="1000"}'] == 1
    refused = call_asgi(app, [b""], {}, path="/metrics")[0]  # (POST)
    assert (refused["status"], refused["headers"]["allow"]) == (405, "GET, HEAD")
    fenced = mm7.asgi_app(mm7.Receiver(Picky(), metrics=metrics, allow=IPAllowList.parse(["127.0.0.1"])),
                          metrics_path="/metrics")
    assert call_asgi(fenced, [b""], {}, path="/metrics", method="GET")[0]["status"] == 403  # (from 10.0.0.7)


def test_status_labels_stay_bounded_whatever_a_peer_sends():
    metrics = Metrics()
    for code in (1000, 1100, 2002, 4006, 2102, 2999, 2998, 4901, 123456, -1, None):
        metrics.sent("SubmitReq", "refused", code, 1, 0.1)
    labels = {dict(ls)["status"] for (name, ls) in metrics._counters if name == "mm7bind_sent_total"}
    assert labels == {"1000", "1100", "2002", "4006", "2xxx", "4xxx", "other", ""}


def test_health_path_for_load_balancers(tmp_path):
    import sqlite3

    from mm7bind.server import health_app

    store = mm7.SqliteStore(tmp_path / "vasp.db")
    rx = mm7.Receiver(Picky(), store=store)
    with mm7.serve(rx, port=0, mounts={"/health": health_app(rx)}) as srv:
        got = requests.get(srv.url + "/health", timeout=10)
        assert (got.status_code, got.text, got.headers["Cache-Control"]) == (200, "ok\n", "no-store")
        assert requests.head(srv.url + "/health", timeout=10).status_code == 200
        for method in ("POST", "PUT", "DELETE"):  # no check: the probe writes to the store
            refused = requests.request(method, srv.url + "/health", data=b"x", timeout=10)
            assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, HEAD")

        def broken():
            raise sqlite3.OperationalError("disk I/O error")

        store.open_counts = broken
        got = requests.get(srv.url + "/health", timeout=10)
        assert (got.status_code, got.text) == (503, "store unavailable: error\n")  # (the details: logged)
    store.close()
    with mm7.serve(mm7.Receiver(), port=0, mounts={"/health": health_app(mm7.Receiver())}) as srv:
        assert requests.get(srv.url + "/health", timeout=10).status_code == 200  # (no store to ask)


def test_a_receiver_at_any_path_takes_the_posts_to_its_health_and_metrics_paths(tmp_path):
    """`path = "*"` (any path, as China Mobile's receiver) with health_path "/": the MMSC posting
    to http://host:port/ got 405 "health takes GET, HEAD", its message refused for ever."""
    from .test_receiver import call_asgi

    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", subject="hi"), transaction_id="any-1")
    store = mm7.SqliteStore(tmp_path / "vasp.db")
    rx = mm7.Receiver(store=store, metrics=Metrics())
    with mm7.serve(rx, port=0, path=None, health_path="/", metrics_path="/metrics") as srv:
        assert requests.get(srv.url + "/", timeout=10).text == "ok\n"
        assert requests.head(srv.url + "/", timeout=10).status_code == 200
        assert "mm7bind_inbox_messages" in requests.get(srv.url + "/metrics", timeout=10).text
        for where in ("/", "/metrics"):
            posted = requests.post(srv.url + where, data=out.to_bytes(), headers=out.headers, timeout=10)
            assert posted.status_code == 200 and mm7.decode(posted.content).body.status.code == 1000, where
    app = mm7.asgi_app(rx, None, metrics_path="/metrics", health_path="/")
    got, _ = call_asgi(app, [b""], {}, path="/", method="GET")
    assert (got["status"], got["body"]) == (200, b"ok\n")
    posted, _ = call_asgi(app, [out.to_bytes()], {"Content-Type": out.content_type}, path="/")
    assert posted["status"] == 200 and mm7.decode(posted["body"]).body.status.code == 1000
    assert len(store.inbox()) == 1  # (the copies: repeats of the first)
    with mm7.serve(mm7.Receiver(), port=0, path="/mm7", health_path="/") as srv:  # (there, "/" is the check's alone)
        refused = requests.post(srv.url + "/", data=out.to_bytes(), headers=out.headers, timeout=10)
        assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, HEAD")
    store.close()


def test_health_tells_anyone_the_kind_of_trouble_and_the_log_its_details(caplog):
    """/health asks no credentials: its 503 said the exception's text and the bytes free on the
    disk to whoever reached the port. It says the kind now; the log has the rest, again when the
    kind changes."""
    import logging

    from mm7bind.server import health_app

    class Troubled(mm7.MemoryStore):
        problem: str | None = None

        def check(self, reserve=0, wait=2.0):
            if isinstance(self.problem, Exception):
                raise self.problem
            return self.problem

    store = Troubled()
    rx = mm7.Receiver(Picky(), store=store)
    seen = [
        ("123456 bytes free on the store's disk, less than one message may need (20971520)", "disk full"),
        ("OperationalError: database or disk is full", "disk full"),
        ("the store's write lock was held by another process for 2 s", "locked"),
        ("OperationalError: database is locked", "locked"),
        (PermissionError(13, "Permission denied", "/srv/mm7/vasp.db"), "error"),
        ("OperationalError: unable to open database file", "error"),
    ]
    with caplog.at_level(logging.INFO, logger="mm7bind.server"), \
            mm7.serve(rx, port=0, mounts={"/health": health_app(rx)}) as srv:
        for problem, kind in seen:
            store.problem = problem
            got = requests.get(srv.url + "/health", timeout=10)
            assert (got.status_code, got.text) == (503, f"store unavailable: {kind}\n"), problem
        store.problem = None
        assert requests.get(srv.url + "/health", timeout=10).text == "ok\n"
    said = [r.getMessage() for r in caplog.records]
    assert said == ["health: answering 503, the store cannot take messages: 123456 bytes free on the store's "
                    "disk, less than one message may need (20971520)",
                    "health: answering 503, the store cannot take messages: the store's write lock was held by "
                    "another process for 2 s",
                    "health: answering 503, the store cannot take messages: PermissionError: [Errno 13] "
                    "Permission denied: '/srv/mm7/vasp.db'",
                    "health: the store takes messages again"]


def test_the_async_client_counts_and_tags_too():
    import asyncio

    metrics, store = Metrics(), mm7.MemoryStore()
    with Simulator(SimulatorConfig()) as sim:
        async def main():
            async with mm7.AsyncClient(sim.url, metrics=metrics, store=store) as client:
                return await client.submit(mm7.SubmitReq(recipients=["+8613800000000"]), tag="async")

        result = asyncio.run(main())
    assert result.ok and [(r.message_id, r.tag) for r in store.sent()] == [(result.message_id, "async")]
    assert metrics.value("mm7bind_sent_total", operation="SubmitReq", outcome="ok") == 1


def test_a_store_that_cannot_take_a_message_is_one_line_a_count_and_a_503(tmp_path, caplog):
    """A full disk or a file locked by another program: each message gets a Server Fault (the MMSC
    sends it again) and one log line, not a traceback; the health check takes the server out of
    the pool until the store works again, saying so once each way."""
    import logging
    import sqlite3

    from mm7bind.server import health_app

    store = mm7.SqliteStore(tmp_path / "vasp.db")
    metrics = Metrics()
    rx = mm7.Receiver(Picky(), store=store, metrics=metrics)
    content = mm7.Content()
    content.add_bytes(bytes(range(256)) * 64, "application/octet-stream")  # (more than the pages left)
    deliver = mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"], content=content)
    db = store._group_conn()  # the file cannot grow (as on a full disk), where messages are written
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    out = mm7.encode(deliver, transaction_id="full-1")
    with caplog.at_level(logging.INFO, logger="mm7bind"):
        rsp = rx.handle(out.to_bytes(), out.content_type, {}, "10.0.0.1")
    fault = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"]).body
    assert rsp.status == 500 and fault.code == "Server" and fault.detail.status.code == 3000
    assert fault.string == "the VASP could not store it"  # (no file name, no SQLite text to the peer)
    [line] = [r for r in caplog.records if r.name == "mm7bind.receiver"]
    assert line.levelname == "ERROR" and line.exc_info is None
    assert line.getMessage() == ("DeliverReq tid=full-1 from 10.0.0.1 not stored (OperationalError: database or "
                                 "disk is full): answered 3000, the MMSC will send it again; further ones refused "
                                 "so are counted, told once a message is stored again")
    assert metrics.value("mm7bind_received_total", operation="DeliverReq", outcome="store_error", status="3000") == 1
    store.close()

    store = mm7.SqliteStore(tmp_path / "other.db")
    rx = mm7.Receiver(Picky(), store=store)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mm7bind"), \
            mm7.serve(rx, port=0, mounts={"/health": health_app(rx)}) as srv:
        assert requests.get(srv.url + "/health", timeout=10).status_code == 200
        other = sqlite3.connect(tmp_path / "other.db", isolation_level=None)  # another program writing
        other.execute("BEGIN IMMEDIATE")
        for _ in range(2):
            got = requests.get(srv.url + "/health", timeout=30)
            assert (got.status_code, got.text) == (503, "store unavailable: locked\n")
        other.execute("ROLLBACK")
        other.close()
        assert requests.get(srv.url + "/health", timeout=10).status_code == 200
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "mm7bind.server"]
    assert said == [("WARNING", ("health: answering 503, the store cannot take messages: OperationalError: "
                                 "database is locked")), ("INFO", "health: the store takes messages again")]
    store.close()


def test_a_gauge_the_store_cannot_read_now_is_one_line_and_the_rest_still_goes_out(caplog):
    import logging
    import sqlite3

    metrics = Metrics()
    metrics.inc("mm7bind_sent_total", operation="SubmitReq", outcome="ok", status="1000")

    def locked():
        raise sqlite3.OperationalError("database is locked")

    metrics.gauge("mm7bind_inbox_messages", locked)
    with caplog.at_level(logging.WARNING, logger="mm7bind.metrics"):
        samples = parse(metrics.render())
    assert samples == {'mm7bind_sent_total{operation="SubmitReq",outcome="ok",status="1000"}': 1}
    [line] = caplog.records
    assert line.getMessage() == ("metrics: mm7bind_inbox_messages could not be read: OperationalError: "
                                 "database is locked") and line.exc_info is None


def test_asgi_head_has_the_headers_and_no_body():
    # As the WSGI app (whose server drops a HEAD's body): a body after a HEAD's headers breaks
    # the connection for a strict server or client (it reads the bytes as the next response).
    from .test_receiver import call_asgi

    metrics = Metrics()
    metrics.inc("mm7bind_sent_total", operation="SubmitReq", outcome="ok", status="1000")
    app = mm7.asgi_app(mm7.Receiver(Picky(), metrics=metrics), "/mm7", metrics_path="/metrics")
    get, _ = call_asgi(app, [b""], {}, path="/metrics", method="GET")
    head, _ = call_asgi(app, [b""], {}, path="/metrics", method="HEAD")
    assert head["status"] == 200 and head["body"] == b""
    assert head["headers"]["content-length"] == str(len(get["body"])) != "0"
    refused, _ = call_asgi(app, [b""], {}, path="/mm7", method="HEAD")
    assert refused["status"] == 405 and refused["headers"]["allow"] == "POST" and refused["body"] == b""


def test_asgi_health_path_for_load_balancers(tmp_path):
    # An ASGI deployment (uvicorn alone) has no WSGI mounts: the health check is the app's own.
    import sqlite3

    from .test_receiver import call_asgi

    store = mm7.SqliteStore(tmp_path / "vasp.db")
    app = mm7.asgi_app(mm7.Receiver(Picky(), store=store, allow=IPAllowList.parse(["127.0.0.1"])), "/mm7",
                       health_path="/health")
    got, _ = call_asgi(app, [b""], {}, path="/health", method="GET")  # (a balancer outside the MMSC allow-list)
    assert (got["status"], got["body"], got["headers"]["cache-control"]) == (200, b"ok\n", "no-store")
    refused, _ = call_asgi(app, [b""], {}, path="/health")  # (POST)
    assert (refused["status"], refused["headers"]["allow"]) == (405, "GET, HEAD")

    def broken(**kw):
        raise sqlite3.OperationalError("disk I/O error")

    store.check = broken
    got, _ = call_asgi(app, [b""], {}, path="/health", method="GET")
    assert (got["status"], got["body"]) == (503, b"store unavailable: error\n")
    store.close()


def test_receivers_sharing_metrics_sum_their_stores_open_messages(tmp_path):
    # Two receivers (two MMSC connections, each with its store) behind one metrics path: the
    # gauge covers both stores, not whichever receiver was made last; a store watched twice
    # (a second receiver, or another object on the same file) is counted once.
    from mm7bind.store import SqliteStore

    metrics = Metrics()
    first, second = SqliteStore(tmp_path / "a.db"), SqliteStore(tmp_path / "b.db")
    again = SqliteStore(tmp_path / "a.db")
    try:
        for store, tids in ((first, ["a-1", "a-2"]), (second, ["b-1"])):
            rx = mm7.Receiver(Picky(), store=store, metrics=metrics)
            for tid in tids:
                assert post(rx, mm7.DeliverReq(sender="+8613900000000", subject="boom"), tid) == 500
        mm7.Receiver(Picky(), store=first, metrics=metrics)
        mm7.Receiver(Picky(), store=again, metrics=metrics)
        samples = parse(metrics.render())
        assert samples['mm7bind_inbox_messages{state="failed"}'] == 3
        assert samples['mm7bind_inbox_messages{state="processing"}'] == 0
    finally:
        for store in (first, second, again):
            store.close()


def test_a_handler_answer_that_cannot_be_sent_is_one_failure_not_handled_and_an_internal_error():
    # Its answer was encoded after the message was counted (and stored) as handled: the encoding
    # error then made an internal error of it as well, two counts and two timings for one request,
    # and a stored "handled" for a message the MMSC was told to send again.
    class Unsendable(mm7.Handler):
        def on_deliver(self, msg, ctx):
            return mm7.DeliverRsp(status=mm7.Status(1000), service_code="bell\x07")

    metrics, store = Metrics(), mm7.MemoryStore()
    rx = mm7.Receiver(Unsendable(), store=store, metrics=metrics)
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000"), transaction_id="u-1")
    rsp = rx.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1")
    fault = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
    assert rsp.status == 500 and fault.body.detail.status.code == 3000 and fault.transaction_id == "u-1"
    assert metrics.value("mm7bind_received_total") == 1 and metrics.count("mm7bind_receive_seconds") == 1
    assert metrics.value("mm7bind_received_total", operation="DeliverReq", outcome="failed", status="3000") == 1
    assert [r.state for r in store.inbox()] == ["failed"]  # (for replay, once the handler is fixed)


def test_concurrent_requests_are_each_counted_once_and_a_scrape_meanwhile_is_consistent():
    import threading

    metrics = Metrics()
    rx = mm7.Receiver(Picky(), store=mm7.MemoryStore(), metrics=metrics)
    bodies = [mm7.encode(mm7.DeliverReq(sender="+8613900000000"), transaction_id=f"c-{i}") for i in range(160)]
    scraped: list[dict] = []

    def send(share):
        for out in share:
            assert rx.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1").status == 200

    def scrape():
        for _ in range(20):
            scraped.append(parse(metrics.render()))

    threads = [threading.Thread(target=send, args=(bodies[i::8],)) for i in range(8)]
    threads.append(threading.Thread(target=scrape))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert metrics.value("mm7bind_received_total", outcome="handled") == 160
    for samples in [*scraped, parse(metrics.render())]:  # (each scrape a whole: +Inf bucket = count)
        key = '{operation="DeliverReq"}'
        if f"mm7bind_receive_seconds_count{key}" in samples:
            assert samples['mm7bind_receive_seconds_bucket{operation="DeliverReq",le="+Inf"}'] == \
                samples[f"mm7bind_receive_seconds_count{key}"]
    assert parse(metrics.render())['mm7bind_receive_seconds_count{operation="DeliverReq"}'] == 160


def test_receivers_made_at_once_in_two_threads_both_have_their_store_in_the_gauge():
    # Each registration put in a list of the stores known at that moment: one overtaken by
    # another thread's (registered after it, with its older list) left the other store out.
    metrics, first, second = Metrics(), mm7.MemoryStore(), mm7.MemoryStore()
    for store in (first, second):  # (a failed message in each)
        assert post(mm7.Receiver(Picky(), store=store), mm7.DeliverReq(sender="1", subject="boom"), "t-1") == 500
    register = metrics.gauge

    def overtaken(name, read):  # the first thread is paused here while the second registers
        if not overtaken.done:
            overtaken.done = True
            metrics.watch_inbox(second)
        register(name, read)

    overtaken.done = False
    metrics.gauge = overtaken
    metrics.watch_inbox(first)
    assert parse(metrics.render())['mm7bind_inbox_messages{state="failed"}'] == 2


def test_every_state_a_gauge_reports_is_explained_in_its_help(tmp_path):
    # The inbox gauge's help said "not yet handled (failed ones wait for replay)" and the outbox's
    # named three of its five states: a scraper's reader could not tell what "rejected" or "sent" meant.
    metrics, store = Metrics(), mm7.SqliteStore(tmp_path / "vasp.db")
    try:
        mm7.Receiver(Picky(), store=store, metrics=metrics)
        metrics.watch_outbox(store)
        text = metrics.render()
        helps = {line.split()[2]: line for line in text.splitlines() if line.startswith("# HELP ")}
        states = re.findall(r'^(mm7bind_\w+)\{state="(\w+)"\}', text, re.M)
        assert {name for name, _ in states} == {"mm7bind_inbox_messages", "mm7bind_outbox_items"}
        assert [(name, state) for name, state in states if not re.search(rf"\b{state}\b", helps[name])] == []
    finally:
        store.close()


def test_values_that_are_not_finite_are_written_as_the_format_spells_them():
    import math

    metrics = Metrics()
    metrics.gauge("mm7bind_inbox_messages", lambda: [({"state": "a"}, math.inf), ({"state": "b"}, -math.inf),
                                                     ({"state": "c"}, math.nan)])
    lines = metrics.render().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines if not line.startswith("#")] == ["+Inf", "-Inf", "NaN"]


def test_the_strict_reader_refuses_what_a_scraper_would_misread():
    # (the reader's own checks: each of these once passed a looser one)
    good = ('# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n'
            '# TYPE h_seconds histogram\nh_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 2\n'
            'h_seconds_sum 3.5\nh_seconds_count 2\n')
    assert read_exposition(good) == {'a_total{x="1"}': 2, 'h_seconds_bucket{le="1"}': 1,
                                     'h_seconds_bucket{le="+Inf"}': 2, "h_seconds_sum": 3.5, "h_seconds_count": 2}
    broken = {
        "HELP of a_total twice": good.replace("# TYPE a_total", "# HELP a_total B.\n# TYPE a_total"),
        "TYPE of a_total after its samples": good + "# TYPE a_total counter\n",
        "comes before (or without)": 'b_total 1\n' + good,
        "not together": good + 'a_total{x="2"} 1\n',
        "does not end in _total": good.replace("a_total", "a_count"),
        "not cumulative": good.replace('{le="1"} 1', '{le="1"} 3'),
        "!= _count": good.replace("h_seconds_count 2", "h_seconds_count 5"),
        "no +Inf bucket": good.replace('h_seconds_bucket{le="+Inf"} 2\n', ""),
        "bad escape": good.replace("A.", "A\\tB."),  # (HELP text escapes \\ and \\n alone)
        "bad label": good.replace('x="1"', 'x="a\\tb"'),
        "twice": good.replace('a_total{x="1"} 2\n', 'a_total{x="1"} 2\na_total{x="1"} 3\n'),
    }
    for problem, text in broken.items():
        with pytest.raises(AssertionError, match=re.escape(problem)):
            read_exposition(text)


def test_every_side_s_metrics_read_strictly_after_traffic(tmp_path):
    """The receiver, the client, the outbox and the send API counting in one Metrics, as under
    `mm7bind serve`: what a scrape gets after some of each is the format a strict reader takes."""
    from mm7bind.outbox import Outbox
    from mm7bind.sendapi import SendApi

    metrics, store = Metrics(), mm7.SqliteStore(tmp_path / "vasp.db")
    try:
        rx = mm7.Receiver(Picky(), store=store, metrics=metrics)
        for tid, subject in (("r-1", "hi"), ("r-1", "hi"), ("r-2", "no"), ("r-3", "boom")):
            post(rx, mm7.DeliverReq(sender="+8613900000000", subject=subject), tid)
        rx.handle(b"<not xml", "text/xml", {}, "127.0.0.1")
        rx.handle(envelope(DELIVER_UNQUALIFIED), "text/xml", {}, "127.0.0.1")
        with Simulator(SimulatorConfig()) as sim:
            client = mm7.Client(sim.url, store=store, metrics=metrics,
                                retry=mm7.RetryPolicy(max_attempts=2, backoff=0))
            outbox = Outbox(client)
            api = SendApi(client, outbox=outbox, token="t0ken")
            right = {"Authorization": "Bearer t0ken"}
            for body, path, headers in (({"to": "+8613800000000", "text": "hi"}, "/send", right),
                                        ({"to": "+8613800000000", "queue": True}, "/send", right),
                                        ({"to": "+8613800000000"}, "/send", {}),
                                        ({"message_id": "SIM-none"}, "/cancel", right),
                                        ({}, "/nowhere", right)):
                api.handle("POST", path, json.dumps(body).encode(), headers, "127.0.0.1")
            api.handle("GET", "/queue/1", b"", right, "127.0.0.1")
            sim.fail_next(1, http_status=503)
            client.submit(mm7.SubmitReq(recipients=["+8613800000001"]))
            outbox.run_once()
            client.close()
        text = metrics.render()
        samples = parse(text)
    finally:
        store.close()
    families = {re.sub(r"(_bucket|_sum|_count)?\{.*", "", k) for k in samples}
    assert families >= {"mm7bind_received_total", "mm7bind_receive_seconds", "mm7bind_deviations_total",
                        "mm7bind_inbox_messages", "mm7bind_sent_total", "mm7bind_send_attempts_total",
                        "mm7bind_send_seconds", "mm7bind_outbox_items", "mm7bind_api_requests_total",
                        "mm7bind_api_request_seconds"}, families
    assert samples['mm7bind_outbox_items{state="sent"}'] == 1
    # each label a family carries is named in its HELP (a scraper's reader has nothing else)
    helps = {line.split()[2]: line for line in text.splitlines() if line.startswith("# HELP ")}
    unexplained = {(family, label) for key in samples for family in [re.sub(r"(_bucket|_sum|_count)?\{.*", "", key)]
                   for label in re.findall(r'([a-z_]+)="', key) if label != "le" and label not in helps[family]}
    assert unexplained == set(), unexplained
    assert samples['mm7bind_api_request_seconds_count{operation="send"}'] == 3


def test_metrics_of_ones_own_go_out_as_their_kind_and_names_the_format_refuses_are_refused():
    """`observe` on a name of one's own went out as an untyped family whose _bucket, _sum and
    _count lines a scraper reads as three other metrics; a name or label outside the format's, a
    name used as two kinds, or a bucket's own label "le" broke the text for every metric."""
    metrics = Metrics()
    metrics.observe("app_lookup_seconds", 0.2, table="users")
    metrics.inc("app_lookups_total", table="users")
    metrics.inc("app_events_count", 3)  # (a counter's name ends in _total: this one goes out untyped, as before)
    text = metrics.render()
    samples = parse(text)
    assert "# TYPE app_lookup_seconds histogram" in text and "# TYPE app_lookups_total counter" in text
    assert "# TYPE app_events_count untyped" in text and samples["app_events_count"] == 3
    assert samples['app_lookup_seconds_bucket{table="users",le="+Inf"}'] == 1
    refused = {
        "is not a metric name": lambda: metrics.inc("app-errors_total"),
        "cannot name a label": lambda: metrics.inc("app_lookups_total", **{"table-name": "users"}),
        "not le": lambda: metrics.observe("app_lookup_seconds", 0.1, le="0.5"),
        "not starting __": lambda: metrics.inc("app_lookups_total", __name__="x"),
        "is a histogram, not a counter": lambda: metrics.inc("mm7bind_receive_seconds"),
        "is a counter, not a histogram": lambda: metrics.observe("app_lookups_total", 1.0),
        "is a counter, not a gauge": lambda: metrics.gauge("mm7bind_sent_total", list),
        "series of histogram mm7bind_send_seconds": lambda: metrics.inc("mm7bind_send_seconds_count"),
        "series of histogram app_lookup_seconds": lambda: metrics.inc("app_lookup_seconds_sum"),
        "series of histogram app_events": lambda: metrics.observe("app_events", 1.0),  # (the other way round)
        "cannot be NaN": lambda: metrics.observe("app_lookup_seconds", float("nan"), table="users"),
        # (bytes read with surrogateescape: encoding the text failed, every scrape after lost)
        "lone surrogate": lambda: metrics.inc("app_lookups_total", table=b"us\xffers".decode("utf-8", "surrogateescape")),
    }
    for problem, call in refused.items():
        with pytest.raises(ValueError, match=re.escape(problem)):
            call()
    assert parse(metrics.render()) == samples  # (nothing refused was kept)
    assert metrics.wsgi_app({"REQUEST_METHOD": "GET"}, lambda status, headers: None)


def test_a_gauge_that_stays_unreadable_is_said_once_and_again_when_it_reads(caplog):
    """A scraper asks every few seconds: a store locked for an hour made a WARNING each time."""
    import logging
    import sqlite3

    metrics, trouble = Metrics(), []

    def read():
        if trouble:
            raise trouble[-1]
        return [({"state": "failed"}, 1)]

    metrics.gauge("mm7bind_inbox_messages", read)
    with caplog.at_level(logging.INFO, logger="mm7bind.metrics"):
        trouble.append(sqlite3.OperationalError("database is locked"))
        for _ in range(3):
            assert "mm7bind_inbox_messages{" not in metrics.render()
        trouble.append(sqlite3.OperationalError("disk I/O error"))  # (another trouble: news)
        metrics.render()
        metrics.render()
        trouble.clear()
        assert parse(metrics.render())['mm7bind_inbox_messages{state="failed"}'] == 1
        metrics.render()
        trouble.append(sqlite3.OperationalError("database is locked"))
        metrics.render()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "metrics: mm7bind_inbox_messages could not be read: OperationalError: database is locked"),
        ("WARNING", "metrics: mm7bind_inbox_messages could not be read: OperationalError: disk I/O error"),
        ("INFO", "metrics: mm7bind_inbox_messages read again"),
        ("WARNING", "metrics: mm7bind_inbox_messages could not be read: OperationalError: database is locked")]


def test_a_gauge_of_ones_own_with_a_label_the_format_refuses_is_left_out_not_written(caplog):
    """A gauge's labels come when it is read: one named outside the format's ("queue-name") went
    out as it was, and a scraper refused the whole text, every other metric with it."""
    import logging

    metrics = Metrics()
    metrics.inc("app_lookups_total", table="users")
    metrics.gauge("app_queue_depth", lambda: [({"queue-name": "a"}, 3)])
    metrics.gauge("app_workers", lambda: [({"pool": "main"}, 2)])
    with caplog.at_level(logging.INFO, logger="mm7bind.metrics"):
        samples = parse(metrics.render())
        metrics.render()  # (said once, as a gauge that cannot be read)
    assert samples == {'app_lookups_total{table="users"}': 1, 'app_workers{pool="main"}': 2}
    assert [(r.levelname, r.getMessage()[:61]) for r in caplog.records] == [
        ("WARNING", "metrics: app_queue_depth left out: 'queue-name' cannot name a")]


def test_a_request_whose_start_is_not_known_is_counted_not_timed_as_0_s():
    """A request cut short told without when it began pulled the timings down as a 0 s request;
    told with it, it is timed from then."""
    import time

    rx = mm7.Receiver(Picky(), metrics=Metrics())
    rx.incomplete("192.0.2.1", 10, 100)
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 1
    assert rx.metrics.count("mm7bind_receive_seconds") == 0
    rx.incomplete("192.0.2.1", 10, 100, started=time.monotonic() - 30)
    assert rx.metrics.count("mm7bind_receive_seconds") == 1
    assert parse(rx.metrics.render())['mm7bind_receive_seconds_sum{operation=""}'] >= 30
