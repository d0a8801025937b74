"""The ASGI app on one event loop with other requests: what blocks (the store, the handler) runs in
worker threads, and a peer gone before its answer is said, not raised into the server."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import mm7bind as mm7
from mm7bind.store import MemoryStore, SqliteStore

from .test_receiver import deliver

HOLD = 10  # seconds a held call waits for its release at most (the failing case's cost, not a pace)


async def request(app, body: bytes, headers: dict, path: str = "/mm7", method: str = "POST",
                  send_fails: bool = False) -> dict | None:
    """One request through `app` as an ASGI server drives it; its answer (None: none sent). With
    `send_fails`, the peer is gone once the body is read: send raises as the ASGI spec says a
    server does on a closed connection (an OSError)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("10.0.0.7", 40000), "server": ("127.0.0.1", 8080)}
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        if send_fails:
            raise ConnectionResetError("the peer closed the connection")
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return None
    start, answer = sent
    return {"status": start["status"], "headers": {k.decode(): v.decode() for k, v in start["headers"]},
            "body": answer["body"]}


def delivery(tid: str, subject: str) -> tuple[bytes, dict]:
    out = mm7.encode(deliver(subject=subject), transaction_id=tid)
    return out.to_bytes(), {"Content-Type": out.content_type}


async def while_held(held, entered: threading.Event, release: threading.Event, other) -> tuple:
    """Start the request `held` (it blocks in a worker thread until `release`), then run `other`:
    its answer, whether it came while the first was still held, and the first's answer."""
    first = asyncio.create_task(held)
    try:
        assert await asyncio.to_thread(entered.wait, HOLD), "the held request never got to its hold"
        second = await asyncio.wait_for(other, HOLD)
        meanwhile = not first.done()
    finally:
        release.set()
    return second, meanwhile, await first


def test_a_handler_held_does_not_stall_the_other_requests(tmp_path):
    # One MMSC's message in a slow handler (a database, a web service called): the loop, and the
    # others' messages, go on, each stored and answered.
    entered, release = threading.Event(), threading.Event()

    class Slow(mm7.Handler):
        def on_deliver(self, msg, ctx):
            if msg.subject == "slow":
                entered.set()
                release.wait(HOLD)

    store = SqliteStore(tmp_path / "inbox.db")
    try:
        app = mm7.asgi_app(mm7.Receiver(Slow(), store=store), "/mm7")
        second, meanwhile, first = asyncio.run(while_held(
            request(app, *delivery("held-1", "slow")), entered, release, request(app, *delivery("fast-1", "fast"))))
        assert second["status"] == 200 and meanwhile
        assert first["status"] == 200
        assert sorted(r.transaction_id for r in store.inbox()) == ["fast-1", "held-1"]
    finally:
        store.close()


def test_handlers_held_leave_the_loops_own_thread_pool_to_the_rest_of_the_service():
    # The loop's default executor is the service's: asyncio's DNS lookups and every to_thread
    # call (min(32, CPUs + 4) threads). The receiver's work runs in a pool of the app's own, so
    # slow handlers filling it hold up MMSC requests alone. (Here the loop's pool has one thread:
    # one held handler would fill it.)
    import concurrent.futures

    release = threading.Event()
    entered: dict = {}  # the loop and the asyncio.Event the handler sets as it starts

    class Slow(mm7.Handler):
        def on_deliver(self, msg, ctx):
            entered["loop"].call_soon_threadsafe(entered["event"].set)
            release.wait(HOLD)

    app = mm7.asgi_app(mm7.Receiver(Slow(), store=MemoryStore()), "/mm7")

    async def elsewhere_in_the_service() -> str:
        await asyncio.get_running_loop().getaddrinfo("127.0.0.1", 8080)
        return await asyncio.to_thread(lambda: "done")

    async def scenario():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
        entered.update(loop=loop, event=asyncio.Event())
        first = asyncio.create_task(request(app, *delivery("held-1", "slow")))
        try:
            await asyncio.wait_for(entered["event"].wait(), HOLD)
            other = await asyncio.wait_for(elsewhere_in_the_service(), HOLD)
            meanwhile = not first.done()
        finally:
            release.set()
        return other, meanwhile, await first

    other, meanwhile, first = asyncio.run(scenario())
    assert other == "done" and meanwhile
    assert first["status"] == 200


def test_a_body_refused_while_the_store_is_busy_does_not_stall_the_other_requests():
    # A declared body over max_body is refused before it is read, its Digest answer kept spent in
    # the store: a store waiting for its write lock (another process committing) must hold that
    # request alone, not the event loop and every request on it.
    entered, release = threading.Event(), threading.Event()

    class Busy(MemoryStore):
        def spend(self, spent, *, wait=None):
            entered.set()
            release.wait(HOLD)
            super().spend(spent, wait=wait)

    receiver = mm7.Receiver(mm7.Handler(), store=Busy(), auth=mm7.auth.DigestAuth("mmsc", "pw"), max_body=1000)
    app = mm7.asgi_app(receiver, "/mm7")
    body, headers = delivery("big-1", "big")

    async def scenario():
        asked = await request(app, body, headers)
        answer = mm7.auth.DigestAnswer("mmsc", "pw")
        assert asked["status"] == 401 and answer.take(asked["headers"]["www-authenticate"])
        oversize = {**headers, "Content-Length": "5000", "Authorization": answer.authorization("POST", "/mm7")}
        return await while_held(request(app, b"", oversize), entered, release,
                                request(app, b"", {}, path="/elsewhere", method="GET"))

    second, meanwhile, first = asyncio.run(scenario())
    assert second["status"] == 404 and meanwhile
    assert first["status"] == 413


@pytest.mark.parametrize("store_kind", ["sqlite", "memory"])
def test_a_peer_gone_before_its_answer_is_logged_not_raised(tmp_path, caplog, store_kind):
    # An MMSC that gave up waiting (its timeout shorter than the handler) closed the connection:
    # the message is stored all the same, the MMSC's next copy is answered from the store; the
    # server is not handed an exception (a traceback in its log for every such request).
    store = SqliteStore(tmp_path / "inbox.db") if store_kind == "sqlite" else MemoryStore()
    try:
        app = mm7.asgi_app(mm7.Receiver(mm7.Handler(), store=store), "/mm7")
        body, headers = delivery("gone-1", "gone")
        with caplog.at_level(logging.WARNING, logger="mm7bind.server"):
            assert asyncio.run(request(app, body, headers, send_fails=True)) is None
        assert [r.transaction_id for r in store.inbox()] == ["gone-1"]
        [said] = [r.getMessage() for r in caplog.records if r.name == "mm7bind.server"]
        assert "10.0.0.7" in said and "200" in said and "ConnectionResetError" in said
        again = asyncio.run(request(app, body, headers))  # the copy: answered, not taken twice
        assert again["status"] == 200 and len(store.inbox()) == 1
    finally:
        store.close()


def test_the_asgi_app_answers_as_the_wsgi_app():
    # One receiver behind either app: the same status, headers and body for each request (the
    # MM7 answer, a coding undone or refused, wrong methods, other paths, a body too large,
    # metrics, health; open, behind credentials, behind an allow-list the peer is not in).
    import gzip

    from mm7bind.auth import IPAllowList
    from mm7bind.metrics import Metrics

    from .test_receiver import call_asgi, call_wsgi

    out = mm7.encode(deliver(), transaction_id="same-1")
    good, ctype = out.to_bytes(), out.content_type
    requests = [("POST", "/mm7", {"Content-Type": ctype}, good),
                ("POST", "/mm7", {"Content-Type": ctype, "Content-Encoding": "gzip"}, gzip.compress(good)),
                ("POST", "/mm7", {"Content-Type": ctype, "Content-Encoding": "br"}, good),
                ("POST", "/mm7", {"Content-Type": "text/xml"}, b"<not-xml"),
                ("POST", "/mm7", {"Content-Type": "text/xml"}, b"x" * 6000),
                ("GET", "/mm7", {}, b""), ("HEAD", "/mm7", {}, b""), ("POST", "/else", {}, b""),
                ("HEAD", "/else", {}, b""), ("GET", "/metrics", {}, b""), ("POST", "/metrics", {}, b""),
                ("HEAD", "/metrics", {}, b""), ("GET", "/health", {}, b""), ("POST", "/health", {}, b""),
                ("HEAD", "/health", {}, b"")]
    for guard in ({}, {"auth": mm7.auth.BasicAuth("mmsc", "pw")}, {"allow": IPAllowList.parse(["127.0.0.1"])}):
        for method, path, headers, body in requests:
            receiver = mm7.Receiver(mm7.Handler(), store=MemoryStore(), metrics=Metrics(), max_body=5000, **guard)
            apps = {"path": "/mm7", "metrics_path": "/metrics", "health_path": "/health"}
            ctype_given = headers.get("Content-Type")
            wsgi = call_wsgi(mm7.wsgi_app(receiver, **apps), body, ctype_given, method, path, peer="10.0.0.7",
                             headers={k: v for k, v in headers.items() if k != "Content-Type"})
            asgi, _ = call_asgi(mm7.asgi_app(receiver, **apps), [body], headers, path=path, method=method)
            said = {k.lower(): v for k, v in wsgi["headers"].items()}
            said.setdefault("content-length", str(len(wsgi["body"])))  # (the WSGI server's to add)
            assert (asgi["status"], asgi["headers"], asgi["body"]) == (wsgi["status"], said, wsgi["body"]), (
                guard, method, path, headers.get("Content-Encoding"))


def test_a_body_in_many_small_messages_is_gathered_in_memory_proportional_to_it():
    """A server hands the app a body in as many messages as it came in pieces (HTTP/2 frames of
    a byte, say): each message's bytes were held as an object of their own until the last, some
    40 bytes for 2, so a body of 20 MB so sent held 400 MB. It is now gathered in one buffer."""
    from .conftest import traced_memory

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "2", "method": "POST", "scheme": "http",
             "path": "/mm7", "root_path": "", "query_string": b"", "headers": [(b"content-type", b"multipart/related")],
             "client": ("10.0.0.7", 40000), "server": ("127.0.0.1", 8080)}
    app = mm7.asgi_app(mm7.Receiver(mm7.Handler(), store=MemoryStore()), "/mm7")

    def post(pieces: int) -> list[dict]:
        given, sent = [0], []

        async def receive():
            given[0] += 1
            return {"type": "http.request", "body": bytes((97, 98)), "more_body": given[0] < pieces}

        async def send(message):
            sent.append(message)

        asyncio.run(app(scope, receive, send))
        return sent

    try:
        post(1)  # (what a first request sets up, not counted)
        with traced_memory() as memory:
            sent = post(100_000)
    finally:
        app.close()
    assert sent[0]["status"] == 500 and b"without a boundary" in sent[1]["body"]  # (read whole, and refused)
    assert memory.peak < 4 * 200_000, f"{memory.peak} bytes held at once for a body of 200000"


def test_a_websocket_connect_is_refused_by_closing_it():
    """A websocket handshake to the app (a scanner, a misrouted client) raised a ValueError into
    the server, a traceback in its log each time: refused as the ASGI spec has it, a close
    before accepting (the server answers 403)."""
    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "path": "/mm7", "root_path": "", "headers": [],
             "query_string": b"", "client": ("10.0.0.7", 40000), "server": ("127.0.0.1", 8080), "subprotocols": []}
    incoming, sent = [{"type": "websocket.connect"}], []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1006}

    async def send(message):
        sent.append(message)

    asyncio.run(mm7.asgi_app(mm7.Receiver(), "/mm7")(scope, receive, send))
    assert [m["type"] for m in sent] == ["websocket.close"]


@pytest.mark.parametrize(("method", "headers", "cut"), [
    ("GET", {}, False), ("HEAD", {}, False), ("POST", {"Content-Length": "0"}, False),
    ("POST", {"Content-Length": "10"}, True), ("POST", {"Transfer-Encoding": "chunked"}, True),
    ("POST", {}, True)])  # (HTTP/2 frames a body without either header)
def test_a_client_leaving_before_a_body_is_incomplete_only_when_a_body_was_coming(method, headers, cut, caplog):
    """A GET whose client left before its answer was logged as a POST's body cut short ("not
    taken ... after 0 bytes of its body") and counted incomplete: it had no body to cut."""
    from mm7bind.metrics import Metrics

    rx = mm7.Receiver(metrics=Metrics())
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": "/mm7", "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("10.0.0.7", 40000), "server": ("127.0.0.1", 8080)}
    sent = []

    async def receive():  # (the client gone before the app read a byte)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    with caplog.at_level(logging.WARNING):
        asyncio.run(mm7.asgi_app(rx, "/mm7")(scope, receive, send))
    assert sent == []
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == (["request from 10.0.0.7 not taken: the connection closed after 0 bytes of its body"
                     + (" (of 10)" if "Content-Length" in headers else "")] if cut else [])
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == (1 if cut else 0)


def _pool_threads(before: set) -> set:
    """The app pools' threads alive now that were not in `before`."""
    return {t for t in threading.enumerate() if t.name.startswith("mm7bind-asgi") and t not in before}


async def _lifespan(app, events: list[str]) -> list[str]:
    """The ASGI lifespan protocol as a server drives it: `events` given in turn; what the app sent."""
    incoming = [{"type": f"lifespan.{event}"} for event in events]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


def test_the_lifespans_shutdown_ends_the_apps_worker_threads():
    """The app's pool was never shut down: its threads stayed until the interpreter's exit, an
    app made again (a reload, a test's app each) adding 16 more. The lifespan's shutdown ends them,
    once the requests in hand are done."""
    before = {t for t in threading.enumerate() if t.name.startswith("mm7bind-asgi")}
    app = mm7.asgi_app(mm7.Receiver(store=MemoryStore()), "/mm7")

    async def run() -> list[str]:
        body, headers = delivery("life-1", "hello")
        assert (await request(app, body, headers))["status"] == 200
        assert _pool_threads(before)  # (the request ran in the app's own pool)
        return await _lifespan(app, ["startup", "shutdown"])

    assert asyncio.run(run()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert _pool_threads(before) == set()


def test_closing_the_app_ends_its_worker_threads_and_a_later_request_is_still_answered():
    """For an app in a route of one's own (its lifespan is the application's): `close()` ends
    the pool's threads; a request after it is answered, in a pool made again."""
    before = {t for t in threading.enumerate() if t.name.startswith("mm7bind-asgi")}
    app = mm7.asgi_app(mm7.Receiver(store=MemoryStore()), "/mm7")
    body, headers = delivery("close-1", "hello")
    assert asyncio.run(request(app, body, headers))["status"] == 200
    assert _pool_threads(before)
    app.close()
    assert _pool_threads(before) == set()
    body, headers = delivery("close-2", "again")
    assert asyncio.run(request(app, body, headers))["status"] == 200
    app.close()
    app.close()  # (twice: nothing more to end)
    assert _pool_threads(before) == set()
    with pytest.raises(ValueError):
        mm7.asgi_app(mm7.Receiver(store=MemoryStore()), threads=0)  # (refused when made, not at a request)
