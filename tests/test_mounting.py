"""The mounting examples in examples/, run against the real frameworks."""

from __future__ import annotations

import importlib

import pytest

import mm7bind as mm7


def request_bytes():
    out = mm7.encode(mm7.DeliverReq(sender="+8613800000000", subject="framework",
                                    content=mm7.Content(parts=[mm7.Part.text("hi")])), transaction_id="fw-1")
    return out.to_bytes(), out.content_type


def check(status: int, body: bytes, ctype: str) -> None:
    assert status == 200, body[:300]
    env = mm7.decode(body, ctype, strict=True)
    assert isinstance(env.body, mm7.DeliverRsp) and env.transaction_id == "fw-1"


@pytest.fixture
def example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples open mm7-inbox.db in the working directory

    def load(name):
        return importlib.reload(importlib.import_module(f"examples.{name}"))

    return load


def test_flask(example):
    pytest.importorskip("flask")
    mod = example("flask_app")
    client = mod.app.test_client()
    data, ctype = request_bytes()
    r = client.post("/mm7", data=data, headers={"Content-Type": ctype})
    check(r.status_code, r.data, r.headers["Content-Type"])
    assert client.get("/").data == b"the rest of your site"
    assert mod.receiver.store.inbox()[0].transaction_id == "fw-1"


@pytest.fixture
def django_view(example):
    """examples/django_view.py at /mm7 of a Django project with the default upload settings."""
    django = pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="test",
                           MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"])
        django.setup()
    mod = example("django_view")
    from django.urls import clear_url_caches, path

    global urlpatterns
    urlpatterns = [path("mm7", mod.mm7_view)]
    clear_url_caches()
    return mod


def test_django(django_view):
    from django.test import Client

    data, ctype = request_bytes()
    r = Client(enforce_csrf_checks=True).generic("POST", "/mm7", data, content_type=ctype)
    check(r.status_code, r.content, r["Content-Type"])
    assert "Content-Length" not in django_view.receiver.store.inbox()[0].headers


def test_django_takes_a_body_over_its_upload_limit_up_to_max_body(django_view):
    # Django refuses request.body above DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) with a 400:
    # an MMS with pictures, refused where the receiver takes up to max_body. The view reads the
    # body itself; over max_body it answers the receiver's 413, before reading it.
    from django.test import Client, override_settings

    picture = mm7.Part.from_bytes(b"GIF89a" + bytes(5000), "image/gif")
    out = mm7.encode(mm7.DeliverReq(sender="+8613800000000", subject="picture",
                                    content=mm7.Content(parts=[mm7.Part.text("hi"), picture])), transaction_id="fw-1")
    data = out.to_bytes()
    django_view.receiver.config.max_body = len(data) + 100
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        r = Client().generic("POST", "/mm7", data, content_type=out.content_type)
        check(r.status_code, r.content, r["Content-Type"])
        assert django_view.receiver.store.inbox()[0].transaction_id == "fw-1"
        django_view.receiver.config.max_body = 1000
        refused = Client().generic("POST", "/mm7", data, content_type=out.content_type)
    assert refused.status_code == 413 and refused.content == b"request body too large\n"


def test_django_under_a_wsgi_server_takes_a_chunked_body(django_view):
    # gunicorn and waitress hand on a chunked request (no Content-Length) with wsgi.input_terminated;
    # Django reads such a body as empty (its length taken as 0): an MMSC's message answered as a
    # request without one.
    import io
    from wsgiref.util import setup_testing_defaults

    from django.core.handlers.wsgi import WSGIHandler

    data, ctype = request_bytes()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/mm7", "CONTENT_TYPE": ctype, "REMOTE_ADDR": "10.0.0.7",
               "wsgi.input": io.BytesIO(data), "wsgi.input_terminated": True}
    setup_testing_defaults(environ)
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(WSGIHandler()(environ, start_response))
    check(got["status"], body, got["headers"]["Content-Type"])
    assert django_view.receiver.store.inbox()[0].peer == "10.0.0.7"


urlpatterns: list = []


def test_fastapi(example):
    pytest.importorskip("fastapi")
    import asyncio

    import httpx

    mod = example("fastapi_app")
    data, ctype = request_bytes()

    async def post_both() -> None:
        # Straight through the ASGI interface (Starlette's TestClient is deprecated over httpx).
        transport = httpx.ASGITransport(app=mod.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for url in ("/mm7", "/mm7-endpoint"):
                r = await client.post(url, content=data, headers={"Content-Type": ctype})
                check(r.status_code, r.content, r.headers["content-type"])

    asyncio.run(post_both())


def test_fastapi_endpoint_refuses_an_oversize_body_without_holding_it(example):
    # As the ASGI route does: a peer's oversize request is a 413 once max_body is passed, not a
    # body of any size read into memory first.
    pytest.importorskip("fastapi")
    import asyncio

    import httpx

    mod = example("fastapi_app")
    mod.receiver.config.max_body = 10_000
    pulled = []

    async def body():
        for i in range(100):
            pulled.append(i)
            yield b"x" * 1000

    async def post() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=mod.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            streamed = await client.post("/mm7-endpoint", content=body(), headers={"Content-Type": "text/xml"})
            declared = await client.post("/mm7-endpoint", content=b"x" * 20_000, headers={"Content-Type": "text/xml"})
            return streamed.status_code, declared.status_code

    assert asyncio.run(post()) == (413, 413)
    assert len(pulled) < 100


@pytest.mark.parametrize("url", ["/mm7?sp=1", "/mm7-endpoint?sp=1"])
def test_fastapi_route_and_endpoint_take_digest_at_a_url_with_a_query_and_hand_on_the_same_headers(example, url):
    # An MMSC given a URL with a query signs it in its Digest answer: either way of mounting
    # checks the whole target, and the handler reads the headers by their usual names in both.
    pytest.importorskip("fastapi")
    import asyncio

    import httpx

    mod = example("fastapi_app")
    seen = []

    class Inbox(mm7.Handler):
        def on_deliver(self, msg, ctx):
            seen.append(ctx.headers)

    mod.receiver.handler = Inbox()
    mod.receiver.config.auth = mm7.auth.DigestAuth("mmsc", "pw")
    data, ctype = request_bytes()

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=mod.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     auth=httpx.DigestAuth("mmsc", "pw")) as client:
            return await client.post(url, content=data, headers={"Content-Type": ctype, "X-Carrier-Id": "42"})

    r = asyncio.run(post())
    check(r.status_code, r.content, r.headers["content-type"])
    [headers] = seen
    assert headers["X-Carrier-Id"] == "42" and headers["Content-Type"] == ctype
    assert "Content-Length" not in headers and "content-length" not in headers
    assert mod.receiver.store.inbox()[0].path == url.split("?")[0]


def test_the_gateway_configuration_serves_as_its_comment_says(tmp_path, monkeypatch, capsys):
    """examples/gateway.toml run as `mm7bind serve --config examples/gateway.toml` (the addresses
    and the store put where a test can have them): MO posted to /mm7 reaches the application
    (examples/forward_target.py) signed with forward_secret; the application sends with POST
    /api/send and its token, or queues; /metrics and /health answer."""
    import threading

    import requests

    from examples import forward_target
    from mm7bind.simulator import Simulator

    from .conftest import ROOT
    from .test_commands import Background
    from .test_docs import adapted

    monkeypatch.setattr(forward_target, "seen", set())
    monkeypatch.setattr(forward_target, "SECRET", b"change-me")  # what the example's forward_secret says
    app = forward_target.make_server(0)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    with Simulator() as sim:
        config = tmp_path / "gateway.toml"
        config.write_text(adapted((ROOT / "examples" / "gateway.toml").read_text(encoding="utf-8"), {
            'urls = ["http://127.0.0.1:9090/mm7"]': f"urls = [{sim.url!r}]",
            "port = 8080": "port = 0",
            'forward_url = "http://127.0.0.1:5000/mms/incoming"':
                f'forward_url = "http://127.0.0.1:{app.server_address[1]}/mms/incoming"',
            'path = "gateway.db"': f"path = {str(tmp_path / 'gateway.db')!r}",
        }), encoding="utf-8")
        config.chmod(0o640)  # (as its comment says to install it)
        serve = Background("serve", "--config", str(config), cwd=tmp_path)
        try:
            base = f"http://127.0.0.1:{serve.port()}"
            serve.wait_for(base + "/health")
            assert requests.get(base + "/health", timeout=10).status_code == 200

            data, ctype = request_bytes()
            answer = requests.post(base + "/mm7", data=data, headers={"Content-Type": ctype}, timeout=30)
            check(answer.status_code, answer.content, answer.headers["Content-Type"])
            assert len(forward_target.seen) == 1  # taken by the application, its signature checked
            metrics = requests.get(base + "/metrics", timeout=10)
            assert metrics.status_code == 200
            assert 'mm7bind_received_total{operation="DeliverReq",outcome="handled",status="1000"} 1' in metrics.text

            token = {"Authorization": "Bearer change-me-too"}
            sent = requests.post(base + "/api/send", json={"to": "+8613800138000", "text": "hi"}, headers=token,
                                 timeout=30)
            assert sent.status_code == 200 and sent.json()["ok"], sent.text
            assert sim.messages[sent.json()["message_id"]].request.recipients.to[0].value == "+8613800138000"
            queued = requests.post(base + "/api/send", json={"to": "+8613800138001", "text": "later", "queue": True},
                                   headers=token, timeout=30)
            assert queued.status_code == 202, queued.text
            assert requests.post(base + "/api/send", json={"to": "+8613800138000"}, timeout=30).status_code == 401
        finally:
            out = serve.stop()
            app.shutdown()
            app.server_close()
    assert "Traceback" not in out, out
    assert "MO from +8613800000000: 'framework'" in capsys.readouterr().out


def test_flask_served_by_werkzeug_answers_a_request_without_a_length(example):
    """Under werkzeug's server (Flask's) wsgi.input is the socket itself: a GET or HEAD on /mm7 (a
    load balancer's probe) or a POST with neither Content-Length nor chunks has no body, and is
    answered at once instead of when the peer gives up waiting. A chunked POST is still read."""
    pytest.importorskip("flask")
    import socket
    import threading

    from werkzeug.serving import make_server

    mod = example("flask_app")
    srv = make_server("127.0.0.1", 0, mod.app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()

    def exchange(data: bytes) -> bytes:
        """One answer, read by its Content-Length (none after a HEAD's head)."""
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(data)  # (the connection stays open: a server reading to its end waits for ever)
            got = b""
            try:
                while True:
                    head, sep, rest = got.partition(b"\r\n\r\n")
                    if sep:
                        size = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                        if data.startswith(b"HEAD") or len(rest) >= size:
                            return got
                    chunk = sock.recv(65536)
                    assert chunk, got
                    got += chunk
            except TimeoutError:
                pytest.fail(f"no answer to {data[:20]!r}: the request was read past its end")

    try:
        assert exchange(b"GET /mm7 HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 405")
        assert exchange(b"HEAD /mm7 HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 405")
        bare = exchange(b"POST /mm7 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\r\n")
        assert bare.startswith(b"HTTP/1.1 500") and b"Envelope" in bare
        data, ctype = request_bytes()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 500]), data[i:i + 500]) for i in range(0, len(data), 500))
        got = exchange(f"POST /mm7 HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n")
        head, _, body = got.partition(b"\r\n\r\n")
        ctype_back = next(line.split(b": ", 1)[1].decode() for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-type:"))
        check(int(head.split()[1]), body, ctype_back)
    finally:
        srv.shutdown()
        thread.join(10)


def test_fastapi_endpoint_keeps_every_value_of_a_repeated_header_as_the_route_does(example):
    # A header sent twice (two X-Carrier-Id lines; a proxy's Via added to the client's): the
    # endpoint kept the last value alone, where the route, and a WSGI server, join them.
    pytest.importorskip("fastapi")
    import asyncio

    import httpx

    mod = example("fastapi_app")
    seen = {}

    class Inbox(mm7.Handler):
        def on_deliver(self, msg, ctx):
            seen[msg.subject] = ctx.headers

    mod.receiver.handler = Inbox()

    async def post_both() -> None:
        transport = httpx.ASGITransport(app=mod.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for url in ("/mm7", "/mm7-endpoint"):
                out = mm7.encode(mm7.DeliverReq(sender="+8613800000000", subject=url,
                                                content=mm7.Content(parts=[mm7.Part.text("hi")])),
                                 transaction_id=f"rep{url}")
                r = await client.post(url, content=out.to_bytes(), headers=[
                    ("Content-Type", out.content_type), ("X-Carrier-Id", "42"), ("X-Carrier-Id", "43")])
                assert r.status_code == 200

    asyncio.run(post_both())
    assert {url: h["X-Carrier-Id"] for url, h in seen.items()} == {"/mm7": "42, 43", "/mm7-endpoint": "42, 43"}


def test_fastapi_endpoint_tells_a_body_cut_short_as_the_route_does(example, caplog):
    # The MMSC gone mid-body: Starlette's ClientDisconnect went up into the server (a traceback,
    # a 500) and nothing was counted, where the route logs and counts the request incomplete.
    pytest.importorskip("fastapi")
    import asyncio
    import logging

    from mm7bind.metrics import Metrics

    mod = example("fastapi_app")
    mod.receiver.metrics = Metrics()
    for path in ("/mm7", "/mm7-endpoint"):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "root_path": "", "query_string": b"",
                 "headers": [(b"content-type", b"text/xml"), (b"content-length", b"100")],
                 "client": ("10.0.0.7", 40000), "server": ("127.0.0.1", 8080)}
        incoming = [{"type": "http.request", "body": b"x" * 40, "more_body": True}]

        async def receive():
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message):
            pass

        with caplog.at_level(logging.WARNING, logger="mm7bind"):
            asyncio.run(mod.app(scope, receive, send))
    said = [r.getMessage() for r in caplog.records if r.name == "mm7bind.receiver"]
    assert said == ["request from 10.0.0.7 not taken: the connection closed after 40 bytes of its body (of 100)"] * 2
    assert mod.receiver.metrics.value("mm7bind_received_total", outcome="incomplete") == 2


def test_fastapi_example_ends_the_routes_worker_threads_at_its_shutdown(example):
    # A route's ASGI app never sees the lifespan (the application's): the example closes it in its
    # own, or the app's pool threads stayed until the interpreter's exit.
    pytest.importorskip("fastapi")
    import asyncio
    import threading

    import httpx

    from .test_asgi import _lifespan, _pool_threads

    before = {t for t in threading.enumerate() if t.name.startswith("mm7bind-asgi")}
    mod = example("fastapi_app")
    data, ctype = request_bytes()

    async def run() -> list[str]:
        transport = httpx.ASGITransport(app=mod.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            r = await client.post("/mm7", content=data, headers={"Content-Type": ctype})
            check(r.status_code, r.content, r.headers["content-type"])
        assert _pool_threads(before)
        return await _lifespan(mod.app, ["startup", "shutdown"])

    assert asyncio.run(run()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert _pool_threads(before) == set()
