"""Serving the receiver: a WSGI app, an ASGI app, and an embedded server (waitress) to run the
WSGI one from code or `mm7bind serve`. For several processes or hosts, run either app under
gunicorn or an ASGI server."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import email.errors
import functools
import http.client
import inspect
import io
import logging
import math
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from .chunked import BodyCutShort, ChunkedReader, FramingError
from .deadline import MAX_TIMEOUT, DeadlinePassed, DeadlineReader
from .display import printable
from .hints import suggest_keywords
from .metrics import CONTENT_TYPE as METRICS_TYPE
from .receiver import ClientCert, Receiver

log = logging.getLogger("mm7bind.server")


def wsgi_app(receiver: Receiver, path: str | None = None, metrics_path: str | None = None,
             mounts: dict[str, Callable] | None = None, health_path: str | None = None) -> Callable:
    """A WSGI application around `receiver`. With `path`, other paths get 404 (mounted under a
    dispatcher, leave it None: the dispatcher has already chosen). With `metrics_path` and a
    receiver with `metrics`, GET there gives them in Prometheus' text format (to peers the
    allow-list admits; no credentials asked, since scrapers rarely speak Digest). At `health_path`
    (that path alone, as `metrics_path`), the load balancers' check of `health_app`; a POST to
    either is the receiver's when it takes that path too (`path` None: any path, where "/" is
    both a balancer's usual check and an MMSC's URL). `mounts`: other WSGI apps by path prefix
    (the send API), each seeing its prefix in SCRIPT_NAME."""
    prefixes = sorted((mounts or {}).items(), key=lambda item: -len(item[0]))
    # (a path, not a mount: mounted at "/", a load balancer's usual path, it took every request)
    health = health_app(receiver) if health_path is not None else None

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        began = time.monotonic()  # (a body cut short is timed from here: its headers had come)
        here = environ.get("PATH_INFO", "")
        # (a POST there is an MMSC's when the receiver takes that path too: path None, any path)
        mm7_post = environ.get("REQUEST_METHOD") == "POST" and _receives(path, here)
        if health is not None and here == health_path and not mm7_post:
            return health(environ, start_response)
        for prefix, mounted in prefixes:
            if here == prefix or here.startswith(prefix.rstrip("/") + "/"):
                environ = {**environ, "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + prefix.rstrip("/"),
                           "PATH_INFO": here[len(prefix.rstrip("/")):]}
                return mounted(environ, start_response)
        if metrics_path is not None and receiver.metrics is not None and here == metrics_path and not mm7_post:
            allow = receiver.config.allow
            if allow is not None and not allow.allows(environ.get("REMOTE_ADDR")):
                start_response("403 Forbidden", [("Content-Type", "text/plain")])
                return [b"forbidden\n"]
            return receiver.metrics.wsgi_app(environ, start_response)
        if not _receives(path, here):
            _say_not_found(environ.get("REQUEST_METHOD"), here, path, environ.get("REMOTE_ADDR"))
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        limit = receiver.config.max_body
        try:
            length = declared_length(environ.get("CONTENT_LENGTH"))
        except ValueError:
            _say_bad_length(environ.get("CONTENT_LENGTH"), environ.get("REMOTE_ADDR"))
            start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", str(len(BAD_LENGTH)))])
            return [BAD_LENGTH]
        if length > limit:
            rsp = receiver.too_large(environ.get("REMOTE_ADDR"), length, **_request_of(environ))
            start_response(f"{rsp.status} {REASONS[rsp.status]}", rsp.headers)
            return [rsp.body]
        body = request_body(environ, length, limit)
        if len(body) < length:  # the peer closed before the end: what came is no whole message
            receiver.incomplete(environ.get("REMOTE_ADDR"), len(body), length, _why_cut(environ), began)
            start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", "23")])
            return [b"request body cut short\n"]
        headers = request_headers(environ)
        uri = target_of(environ)
        cert = _client_cert_of(environ)
        rsp = receiver.handle(body, environ.get("CONTENT_TYPE"), headers, environ.get("REMOTE_ADDR"),
                              environ.get("REQUEST_METHOD", "POST"), uri, **({"client_cert": cert} if cert else {}))
        start_response(f"{rsp.status} {REASONS.get(rsp.status, '')}",
                       rsp.headers + [("Content-Length", str(len(rsp.body)))])
        return [rsp.body]

    return without_body_for_head(app)


def declared_length(value: str | None) -> int:
    """A request's Content-Length as a WSGI or ASGI server hands it on: -1 for none; a ValueError
    for one that is not ASCII digits (RFC 9110 §8.6), or a list of differing ones (the same one
    repeated, "10, 10", is that one). int() alone took "1_0", "+10" and other scripts' digits
    ("١٠") for 10: the body was read by a length the peer never wrote, or no server framed it by."""
    if value is None or not value.strip(" \t"):
        return -1
    given = {v.strip(" \t") for v in value.split(",")}
    if len(given) != 1 or not all(v.isascii() and v.isdigit() for v in given):
        raise ValueError(f"invalid Content-Length {value!r}")
    return int(given.pop())  # (a ValueError too past int()'s 4300 digits: no body is that long)


def _say_bad_length(value: str | None, peer: str | None) -> None:
    """The line for a request refused (400, BAD_LENGTH) for a Content-Length no server should have
    passed on: waitress and the TLS server refuse it themselves; another server may not."""
    log.warning("request from %s not taken: its Content-Length %r is not a length (digits only, RFC 9110 §8.6)",
                peer, value)


BAD_LENGTH = b"invalid Content-Length\n"


def _why_cut(environ: dict) -> str:
    """Why a request's body ended before its length: the peer closed, or the embedded server,
    stopping, closed the connection itself (it says so in `mm7bind.server_stopped`, an Event)."""
    stopped = environ.get("mm7bind.server_stopped")
    return "the server stopped" if stopped is not None and stopped.is_set() else "the connection closed"


def _client_cert_of(environ: dict) -> ClientCert | None:
    """The client certificate a WSGI server says the peer presented, in the variables Apache's
    mod_ssl exports (SSLOptions +StdEnvVars +ExportCertData; the embedded server sets them too):
    SSL_CLIENT_CERT (PEM), SSL_CLIENT_S_DN and SSL_CLIENT_I_DN (RFC 4514), SSL_CLIENT_VERIFY. Only
    a certificate the server verified counts (SUCCESS; "GENEROUS", "NONE" or "FAILED" do not).
    Request headers are never read for it: any client can send those."""
    if environ.get("SSL_CLIENT_VERIFY", "SUCCESS") != "SUCCESS":
        return None
    return ClientCert.from_pem(environ.get("SSL_CLIENT_CERT"), environ.get("SSL_CLIENT_S_DN"),
                               environ.get("SSL_CLIENT_I_DN"))


# OpenSSL's long attribute names (the standard library's getpeercert) as RFC 4514 writes them.
_DN_NAMES = {"commonName": "CN", "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST",
             "organizationName": "O", "organizationalUnitName": "OU", "streetAddress": "STREET",
             "domainComponent": "DC", "userId": "UID"}


def _rfc4514(name: tuple | None) -> str:
    """A distinguished name as `ssl.SSLSocket.getpeercert` gives it (RDNs, most significant first)
    in RFC 4514's string form (least significant first: "CN=mmsc.example,O=Carrier,C=CN")."""
    def escaped(value: str) -> str:
        value = re.sub(r'([,+"\\<>;])', r"\\\1", value)
        if value[:1] in ("#", " "):
            value = "\\" + value
        return value[:-1] + "\\ " if value.endswith(" ") and len(value) > 1 else value

    return ",".join("+".join(f"{_DN_NAMES.get(key, key)}={escaped(str(value))}" for key, value in rdn)
                    for rdn in reversed(name or ()))


def _say_not_found(method: str | None, here: str, path: str, peer: str | None) -> None:
    """A POST to another path than the receiver's is an MMSC given a wrong URL (a GET, a scanner's
    look around, goes unsaid): without a line, its operator saw nothing while the MMSC got 404s."""
    if method == "POST":
        log.warning("refused a POST to %s from %s: 404, the receiver is at %s (the MMSC's URL?)",
                    printable(here), peer, path)


def _receives(path: str | None, here: str) -> bool:
    """Whether the receiver at `path` (None: any) takes a request to `here`."""
    return path is None or here in (path, path.rstrip("/") + "/")


def request_body(environ: dict, length: int, limit: int) -> bytes:
    """A WSGI request's body: `length` bytes when it has a Content-Length (-1: none), else to its
    end, up to one byte past `limit` (the caller refuses that), where the server says the stream
    ends (a chunked body it decodes); with neither, no body (RFC 9112 §6.3, PEP 3333): under a
    server handing on its socket (werkzeug's, Flask's) reading on waits for bytes never sent."""
    if length >= 0:
        return environ["wsgi.input"].read(length)
    if environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"].read(limit + 1)
    return b""


def without_body_for_head(app: Callable) -> Callable:
    """`app`, its answers to HEAD given their headers only (RFC 9110 §9.3.2): waitress and wsgiref
    send whatever the app returns, and a client keeping the connection would read the body of a
    405 or 404 as the start of its next answer."""

    def headless(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "HEAD":
            return app(environ, start_response)
        held: dict = {}

        def hold(status: str, headers: list, exc_info=None) -> Callable:  # noqa: ANN001
            held["status"], held["headers"] = status, headers
            return lambda data: None

        result = app(environ, hold)
        try:
            size = sum(len(chunk) for chunk in result)
        finally:
            if hasattr(result, "close"):
                result.close()
        headers = held["headers"]
        if not any(name.lower() == "content-length" for name, _ in headers):
            headers = [*headers, ("Content-Length", str(size))]
        start_response(held["status"], headers)
        return []

    return headless


def target_of(environ: dict) -> str:
    """A WSGI request's target as the receiver reads it: its path (percent-decoded) and query."""
    uri = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return uri + "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else uri


def _request_of(environ: dict) -> dict[str, str | None]:
    """What `Receiver.too_large` is told of a request refused before its body is read."""
    return {"method": environ.get("REQUEST_METHOD", "POST"), "uri": target_of(environ),
            "authorization": environ.get("HTTP_AUTHORIZATION")}


def _tell_too_large(on_too_large: Callable | None, peer: str | None, size: int | None, method: str, uri: str,
                    authorization: str | None) -> None:
    """Tell `on_too_large` of a body refused before it was read: the request's method, target and
    Authorization too when it takes them (the receiver's does: a Digest answer is kept spent)."""
    if on_too_large is None:
        return
    try:
        params = inspect.signature(on_too_large).parameters.values()
    except (TypeError, ValueError):
        params = ()
    if any(p.name == "authorization" or p.kind is p.VAR_KEYWORD for p in params):
        on_too_large(peer, size, method=method, uri=uri, authorization=authorization)
    else:  # (a callback of one's own, taking the peer and size alone)
        on_too_large(peer, size)


def _origin_form(target: str) -> str:
    """A request-target in absolute form ("http://host/mm7", as a client configured with a proxy
    sends it) as its path and query, which the app is given; any other as it is. A ValueError for
    one that cannot be split (an unbalanced [ in its host)."""
    if not _ABSOLUTE_FORM.match(target):
        return target
    parts = urllib.parse.urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def request_headers(environ: dict) -> dict[str, str]:
    """A WSGI request's headers by their usual names (Content-Type included)."""
    headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    return headers


REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large",
           415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}


def health_app(receiver: Receiver) -> Callable:
    """A WSGI app for load balancers' health checks: GET → 200 "ok" while the receiver's store
    can take a message (`store.check`: it reads, writes, gets its write lock within 2 s, and its
    disk has room for a message of the receiver's `max_body`), 503 with the kind of reason when it
    cannot ("store unavailable: disk full", "locked" or "error"; the details are logged): a full
    disk, a file locked or broken means every MMSC request would fail too: better taken out of the
    pool."""
    probe = health_probe(receiver)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):  # (no check run: it writes to the store)
            headers, body = HEALTH_NOT_ALLOWED
            start_response("405 Method Not Allowed", [*headers, ("Content-Length", str(len(body)))])
            return [body]
        status, headers, body = probe()
        start_response(f"{status} {REASONS[status]}", headers)
        return [body] if environ.get("REQUEST_METHOD", "GET") != "HEAD" else []

    return app


def _health_reason(problem: str) -> str:
    """What the health check tells whoever asks (no credentials) of the store's problem: its kind,
    one of "disk full", "locked" and "error". The problem itself (exception texts, the bytes free
    on the disk) goes to the log only."""
    said = problem.lower()
    if "bytes free" in said or "disk is full" in said or "no space left" in said:
        return "disk full"
    if "locked" in said or "lock was held" in said:
        return "locked"
    return "error"


# A POST, PUT or DELETE to the health path is no load balancer's check: refused, as the metrics do.
HEALTH_NOT_ALLOWED = ([("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"health takes GET, HEAD\n")


def health_probe(receiver: Receiver) -> Callable[[], tuple[int, list[tuple[str, str]], bytes]]:
    """The health check as a function → (status, headers, body), for either kind of app."""
    said: list[str | None] = [None]  # the last reason answered (None: healthy)

    def probe() -> tuple[int, list[tuple[str, str]], bytes]:
        status, body = 200, b"ok\n"
        store = receiver.store
        if store is not None and (hasattr(store, "check") or hasattr(store, "open_counts")):
            try:
                problem = store.check(reserve=receiver.config.max_body) if hasattr(store, "check") else (
                    store.open_counts() and None)
            except Exception as exc:  # noqa: BLE001 (whatever the store's trouble, say so)
                problem = f"{type(exc).__name__}: {exc}"
            reason = None if problem is None else _health_reason(problem)
            if reason is not None:
                status, body = 503, f"store unavailable: {reason}\n".encode()
            if reason != said[0]:  # a line when the answer changes, not one per check
                if problem is None:
                    log.info("health: the store takes messages again")
                else:
                    log.warning("health: answering 503, the store cannot take messages: %s", problem)
                said[0] = reason
        return status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store")], body

    return probe


def asgi_app(receiver: Receiver, path: str | None = None, metrics_path: str | None = None,
             health_path: str | None = None, *, threads: int = 16) -> Callable:
    """An ASGI (3.0) application around `receiver`, for asyncio stacks: `app.add_route("/mm7",
    mm7.asgi_app(receiver), methods=["POST"])` in Starlette or FastAPI (a mount would redirect a
    POST to /mm7 to /mm7/), or on its own under uvicorn. The receiver
    (its store and your handler) runs in worker threads, so handlers stay plain functions and the
    event loop never waits on a disk flush: up to `threads` requests at once, in a pool of the
    app's own, not the loop's default one (asyncio's DNS lookups and `to_thread` calls, which slow
    handlers filling it would hold up for the whole service). Paths, metrics and limits as
    `wsgi_app`; at `health_path` the load balancers' check of `health_app` (for any peer, as that
    one mounted).

    Its pool's threads end at the ASGI lifespan's shutdown (the app run on its own, under uvicorn
    or hypercorn), or at `app.close()` (the app in a route of yours: in your lifespan's shutdown),
    once the requests in hand are done; a request after that starts a pool again."""
    health = health_probe(receiver) if health_path is not None else None
    pool = _AppPool(threads)

    async def in_pool(fn: Callable, *args, **kwargs):  # (asyncio.to_thread, in the app's pool)
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(pool.get(), call)

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        began = time.monotonic()  # (a body cut short is timed from here: its headers had come)
        if scope["type"] == "lifespan":  # nothing to set up; the pool's threads to end at the shutdown
            while True:
                event = (await receive())["type"]
                if event == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event == "lifespan.shutdown":
                    # (their requests answered by now: a server shuts down once its connections have;
                    # waited for in a thread, so that the loop goes on meanwhile)
                    await asyncio.to_thread(pool.close)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":  # refused as the protocol has it: closed before accepting (a 403)
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # (the spec's way to refuse a protocol one does not know)
            raise ValueError(f"mm7bind's ASGI app serves HTTP, not {scope['type']}")
        client = scope.get("client")
        send = _unless_gone(send, client[0] if client else None)
        head = scope.get("method") == "HEAD"
        here, full = _asgi_paths(scope)
        mm7_post = scope.get("method") == "POST" and _receives(path, here)  # (as wsgi_app's)
        if health is not None and here == health_path and not mm7_post:
            if scope.get("method", "GET") not in ("GET", "HEAD"):
                return await _asgi_answer(send, 405, *HEALTH_NOT_ALLOWED)
            status, checked, body = await asyncio.to_thread(health)  # (the check writes to the store)
            return await _asgi_answer(send, status, [h for h in checked if h[0] != "Content-Length"], body, head)
        if metrics_path is not None and receiver.metrics is not None and here == metrics_path and not mm7_post:
            client = scope.get("client")
            allow = receiver.config.allow
            if allow is not None and not allow.allows(client[0] if client else None):
                return await _asgi_answer(send, 403, [("Content-Type", "text/plain")], b"forbidden\n", head)
            if scope.get("method", "GET") not in ("GET", "HEAD"):
                return await _asgi_answer(send, 405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")],
                                          b"metrics take GET\n")
            text = await asyncio.to_thread(receiver.metrics.render)  # (the inbox gauge reads the store)
            return await _asgi_answer(send, 200, [("Content-Type", METRICS_TYPE)], text.encode("utf-8"), head)
        if not _receives(path, here):
            client = scope.get("client")
            _say_not_found(scope.get("method"), here, path, client[0] if client else None)
            return await _asgi_answer(send, 404, [("Content-Type", "text/plain")], b"not found\n", head)
        limit = receiver.config.max_body
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name, value = raw_name.decode("latin-1").title(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        peer = scope.get("client")[0] if scope.get("client") else None
        try:
            declared = declared_length(headers.get("Content-Length"))
        except ValueError:
            _say_bad_length(headers.get("Content-Length"), peer)
            return await _asgi_answer(send, 400, [("Content-Type", "text/plain")], BAD_LENGTH, head)
        refused = {"method": scope.get("method", "POST"), "authorization": headers.get("Authorization"),
                   "uri": full + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")}
        # (too_large, as handle, runs in a worker thread: it keeps a Digest answer spent in the
        # store, which may wait for the store's write lock)
        if declared > limit:
            rsp = await in_pool(receiver.too_large, peer, declared, **refused)
            return await _asgi_answer(send, rsp.status, rsp.headers, rsp.body, head)
        # (one buffer: a list of the messages' bytes held an object of some 40 bytes for each, and an
        # HTTP/2 body in frames of a byte — a server hands each on as a message — 40 times its size)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # the sender went away: nothing acknowledged, nothing to answer
                if _body_cut(scope.get("method", "POST"), headers, declared, len(body)):
                    receiver.incomplete(peer, len(body), declared if declared >= 0 else None, started=began)
                else:  # (a request without a body, a GET: whole, its client gone before its answer)
                    log.debug("%s %s from %s: the client left before its answer", scope.get("method"),
                              printable(here), peer)
                return
            body += message.get("body", b"")
            if len(body) > limit:  # refused without reading the rest
                rsp = await in_pool(receiver.too_large, peer, None, **refused)
                return await _asgi_answer(send, rsp.status, rsp.headers, rsp.body, head)
            if not message.get("more_body", False):
                break
        uri = refused["uri"]
        client = scope.get("client")
        # (the body's framing was the server's business: a WSGI app never sees it among the headers,
        # and the handler and the store get the same headers from either app)
        given = {name: value for name, value in headers.items() if name not in _FRAMING}
        cert = _asgi_client_cert(scope)
        rsp = await in_pool(receiver.handle, bytes(body), headers.get("Content-Type"), given,
                            client[0] if client else None, scope.get("method", "POST"), uri,
                            **({"client_cert": cert} if cert else {}))
        await _asgi_answer(send, rsp.status, rsp.headers, rsp.body, head)

    return _Asgi(app, pool.close)


class _AppPool:
    """`asgi_app`'s worker threads: made with the app (a `threads` no pool can have refused there),
    shut down by `close`, made again by a request after it."""

    def __init__(self, threads: int):
        self.threads, self._lock = threads, threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = self._made()

    def _made(self) -> concurrent.futures.ThreadPoolExecutor:
        return concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="mm7bind-asgi")

    def get(self) -> concurrent.futures.ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = self._made()
                pool = self._pool
        return pool

    def close(self) -> None:
        """Shut the pool down, waiting for the calls in it to end (their threads with them)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


_FRAMING = ("Content-Length", "Transfer-Encoding")


def _body_cut(method: str, headers: dict[str, str], declared: int, size: int) -> bool:
    """Whether a client leaving after `size` bytes of its body left that body short: of its declared
    length; without one, a body begun, chunked, or a POST's (HTTP/2 frames one without either
    header). A GET or HEAD without either has none: its client leaving cut nothing."""
    if declared >= 0:
        return size < declared
    return size > 0 or "Transfer-Encoding" in headers or method not in ("GET", "HEAD")


def _asgi_client_cert(scope: dict) -> ClientCert | None:
    """The client certificate an ASGI server says the peer presented (the ASGI TLS extension:
    `client_cert_chain`, `client_cert_name`; one with a `client_cert_error` was not verified)."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or ()
    if not chain or tls.get("client_cert_error") is not None:
        return None
    return ClientCert.from_pem(chain[0], tls.get("client_cert_name"))


def _asgi_paths(scope: dict) -> tuple[str, str]:
    """The request's path below the root path (the app's own, as WSGI's PATH_INFO) and the whole
    path the client asked for. Servers now put the root path in `path` too (uvicorn since 0.26,
    what Starlette and Django expect); older ones leave it out: either reading is taken."""
    path, root = scope.get("path", ""), scope.get("root_path", "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root):], path
    return path, root + path


class _Asgi:
    """An ASGI app as an object, not a function: Starlette's `Route` (FastAPI's `add_route`) takes
    a plain function for a request handler of its own kind and only an object as an ASGI app."""

    __slots__ = ("app", "_close")

    def __init__(self, app: Callable, close: Callable[[], None]):
        self.app, self._close = app, close

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        """End the app's worker threads once the requests in hand are done (what the ASGI lifespan's
        shutdown does): for an app in a route of yours, whose lifespan is your application's.
        Blocking: from the event loop, `await asyncio.to_thread(app.close)`."""
        self._close()


def _unless_gone(send: Callable, peer: str | None) -> Callable:
    """The server's `send`, a peer gone before its answer said in one line instead of raised: an
    ASGI server raises an OSError for a closed connection (the spec's "should"), and the MMSC that
    gave up waiting (its timeout shorter than the handler) is no error of the app's. What the
    request carried is stored all the same; the MMSC's copy sent again is answered from the store."""
    status: list[int | None] = [None]
    gone = [False]

    async def send_or_say(message: dict) -> None:
        if gone[0]:  # (the rest of an answer whose start found the connection closed)
            return
        if message["type"] == "http.response.start":
            status[0] = message.get("status")
        try:
            await send(message)
        except OSError as exc:
            gone[0] = True
            log.warning("the answer (HTTP %s) to %s was not sent: the connection closed before it (%s: %s)",
                        status[0], peer, type(exc).__name__, exc)

    return send_or_say


async def _asgi_answer(send: Callable, status: int, headers: list[tuple[str, str]], body: bytes,
                       head: bool = False) -> None:
    """The answer; to a HEAD its headers only (ASGI servers need not drop the body as WSGI ones do)."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


class _QuietHandler(WSGIRequestHandler):
    """One request per connection (wsgiref), read under a deadline for the whole request: the
    socket's per-read timeout alone lets a peer trickling a byte at a time hold its thread forever.
    The request's framing is checked as RFC 9112 asks, which wsgiref leaves to the application: a
    chunked body is decoded, a request with neither length nor chunks has no body (not one read
    until the peer closes), a malformed or conflicting length is a 400 at once."""

    request_timeout = 300.0
    max_body = 20 * 1024 * 1024  # a declared body over it is refused before it is read
    max_header = 64 * 1024  # request line and headers; more is a 431
    on_too_large: Callable[[str | None, int | None], object] | None = None  # (EmbeddedServer's, a staticmethod)
    on_incomplete: Callable[..., object] | None = None  # (likewise)
    default_request_version = "HTTP/1.0"  # (the standard library's 0.9 answers errors without a status line)

    def setup(self) -> None:
        super().setup()
        self.began = time.monotonic()  # (one request a connection: a request cut short is timed from here)
        # The deadline bounds each recv, under the buffer: a buffered read or readline loops over
        # recvs until its line or length is there, so a deadline checked per call let one header
        # line or the body trickle in for ever.
        self.rfile.close()
        self.connection._io_refs += 1  # (as socket.makefile does: the socket outlives a close until this is closed)
        self._reader = _ConnectionReader(socket.SocketIO(self.connection, "rb"), self.connection,
                                         self.timeout, time.monotonic() + self.request_timeout)
        self.rfile = io.BufferedReader(self._reader)

    def handle(self) -> None:
        """wsgiref's, with the body's reader and the error answers of our own. A request whose
        headers never came whole is told to `on_incomplete`, as waitress's server tells it."""
        self._in_headers = True
        try:
            self._handle()
        except _HeadersCutShort:
            self._headers_cut_short("the connection closed")
        except TimeoutError as exc:
            if not self._in_headers or not self._reader.received:  # (no byte sent: no request)
                raise
            self._headers_cut_short(f"not complete after {self.request_timeout:g} s" if isinstance(
                exc, DeadlinePassed) else f"silent for {self.timeout} s")

    def _headers_cut_short(self, why: str) -> None:
        self.close_connection = True
        if self.on_incomplete is not None:
            self.tell_incomplete(self.client_address[0], None, None, f"{why} in its headers")
        else:
            log.warning("request from %s not taken: %s in its headers", self.client_address[0], why)

    def tell_incomplete(self, *told) -> None:
        """`on_incomplete(*told)`, with when the request began if it takes that (`_takes_started`)."""
        self.on_incomplete(*told, **({"started": self.began} if _takes_started(self.on_incomplete) else {}))

    def _handle(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        _check_whole(self.raw_requestline, 65537)
        # Empty lines before the request line are passed over (RFC 9112 §2.2), as waitress does: the
        # standard library took the first for an empty request and closed the connection unanswered.
        # Within the header budget: more is a 400, where a fixed count of lines ended the connection
        # unanswered (waitress passes over any number, two lines at a time an empty request).
        budget = self.max_header
        while self.raw_requestline in (b"\r\n", b"\n"):
            budget -= len(self.raw_requestline)
            if budget < 0:
                self.requestline, self.request_version, self.command = "", "", ""
                self.close_connection = True
                self.send_error(400, f"more than {self.max_header} bytes of empty lines before the request line")
                return
            self.raw_requestline = self.rfile.readline(65537)
            _check_whole(self.raw_requestline, 65537)
        if len(self.raw_requestline) > 65536:
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        body = ChunkedReader(self.rfile) if self.chunked else self.rfile
        handler = _ServerHandler(body, self.wfile, self.get_stderr(), self.get_environ(), multithread=False)
        handler.request_handler = self
        with self.server.in_hand(self.connection):
            handler.run(self.server.get_app())

    def parse_request(self) -> bool:
        # The request line and headers within max_header, as waitress counts them (the standard
        # library alone lets 100 lines of 64 KiB each through: 6 MiB held per connection).
        rfile, self.rfile = self.rfile, _HeaderBudget(self.rfile, self.max_header - len(self.raw_requestline))
        try:
            if not super().parse_request():
                return False
        finally:
            self.rfile = rfile
        self._in_headers = False  # (what times out from here, a 100 Continue written or the body, is no header's)
        if self.request_version == "HTTP/0.9":  # (answered as 0.9, without status line and headers)
            self.request_version, self.close_connection = "HTTP/1.0", True  # (as waitress reads it)
        problem = self._framing()
        if problem is not None:
            self.send_error(*problem)
            return False
        if self.too_long or self.length is not None and self.length > self.max_body:
            # Refused before the go-ahead and before the body, as waitress does: a client holding
            # back 50 MB for a 100 Continue must hear 413, not send it all to be refused after.
            try:
                target = _origin_form(self.path)
            except ValueError:  # (refused all the same: told as it came)
                target = self.path
            _tell_too_large(self.on_too_large, self.client_address[0], self.length, self.command, target,
                            self.headers.get("Authorization"))
            self.send_error(413, "request body too large")
            return False
        try:  # (absolute, what a client sends to a proxy: an origin server takes it too)
            self.path = _origin_form(self.path)
        except ValueError:  # (an unbalanced [ in its host: the connection was dropped unanswered)
            self.send_error(400, "Bad URI")
            return False
        # The standard library answers `Expect: 100-continue` only when it speaks HTTP/1.1 itself
        # (wsgiref speaks 1.0): a client holding its body back for the go-ahead (some MMSCs, curl,
        # Java, .NET) would wait out its own timer on every request, or give up.
        expect = self.headers.get("Expect", "").strip().lower()
        if expect == "100-continue" and self.request_version >= "HTTP/1.1" > self.protocol_version:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        return True

    def _framing(self) -> tuple[int, str] | None:
        """What is wrong with how the request delimits its body (None: nothing); sets `chunked`
        and `length` (None: no body)."""
        self.chunked, self.length, self.too_long = False, None, False
        # A line that is no field ("Content-Length : 5") ends the standard library's header section,
        # the fields after it left unread: the request cannot be read as its sender meant it.
        unread = email.errors.MissingHeaderBodySeparatorDefect
        if any(isinstance(d, unread) for d in self.headers.defects) or any(not _TOKEN.fullmatch(name) for name in self.headers):
            return 400, "malformed header section"
        lengths = {v.strip(" \t\r\n") for value in self.headers.get_all("Content-Length") or ()
                   for v in value.split(",")}
        if lengths and (len(lengths) > 1 or not all(v.isascii() and v.isdigit() for v in lengths)):
            return 400, "invalid or conflicting Content-Length"
        codings = [c.strip(" \t").lower() for value in self.headers.get_all("Transfer-Encoding") or ()
                   for c in value.split(",") if c.strip(" \t")]
        if codings:
            # Both ways of delimiting the body at once is how requests are smuggled past a proxy.
            if lengths or self.request_version < "HTTP/1.1":
                return 400, "Transfer-Encoding with Content-Length, or in HTTP/1.0"
            if codings != ["chunked"]:
                return 501, "only the chunked transfer coding is supported"
            self.chunked = True
        elif lengths:
            self.length = _length_of(lengths.pop())
            self.too_long = self.length is None
        return None

    def get_environ(self) -> dict:
        environ = super().get_environ()
        if self.headers.get("Content-Type") is None:  # (wsgiref puts in "text/plain" for a request without one)
            environ.pop("CONTENT_TYPE", None)
        # Chunked: the decoded body's length is known once it is read (the app reads to its end).
        environ["CONTENT_LENGTH"] = "" if self.chunked else str(self.length or 0)
        environ["wsgi.input_terminated"] = True  # (the chunked reader ends where the body does)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["mm7bind.server_stopped"] = self.server.stopped  # (a body cut by our stop: not the peer's doing)
        if isinstance(self.connection, ssl.SSLSocket):  # (the client certificate, as mod_ssl exports it)
            try:
                checked, der = self.connection.getpeercert(), self.connection.getpeercert(binary_form=True)
            except ValueError as exc:  # ("handshake not done yet": the peer left mid-request, TLS unclosed)
                raise ConnectionAbortedError(f"the TLS connection failed: {exc}") from None
            if checked and der:  # (a dict only when the context verified it: tls_client_ca)
                environ.update(SSL_CLIENT_VERIFY="SUCCESS", SSL_CLIENT_CERT=ssl.DER_cert_to_PEM_cert(der),
                               SSL_CLIENT_S_DN=_rfc4514(checked.get("subject")),
                               SSL_CLIENT_I_DN=_rfc4514(checked.get("issuer")))
        return environ

    def log_message(self, fmt, *args):
        # (the request line is the peer's: printable, as the standard library's own log_message makes it)
        log.debug("%s %s", self.client_address[0], printable(fmt % args))


def _length_of(digits: str) -> int | None:
    """A Content-Length of ASCII digits as a number; None for one of more digits than int()
    converts (4300, Python's guard against slow conversions): a length no body has, over any
    max_body (its ValueError escaped as an unexpected error, and the request went unanswered)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 4000 else None


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


class _ServerHandler(ServerHandler):
    """wsgiref's handler, answering a request that could not be read as such: a broken body 400,
    a body not complete by the deadline 408 (and not the 500 and traceback on stderr wsgiref gives
    every exception); a peer gone gets no answer, a line in the log."""

    def error_output(self, environ: dict, start_response: Callable) -> list[bytes]:
        exc = sys.exc_info()[1]
        status, text = ("400 Bad Request", str(exc)) if isinstance(exc, FramingError) else (
            ("408 Request Timeout", "request not complete in time") if isinstance(exc, TimeoutError) else
            ("500 Internal Server Error", "internal error"))
        body = f"{text}\n".encode()
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                       sys.exc_info())
        return [body]

    def log_exception(self, exc_info) -> None:
        exc, peer = exc_info[1], self.environ.get("REMOTE_ADDR")
        told = self.request_handler.tell_incomplete if getattr(self.request_handler, "on_incomplete", None) \
            is not None else None
        if isinstance(exc, TimeoutError) and told is not None:  # (the body's read ran past the deadline)
            told(peer, getattr(self.stdin, "received", None), self.request_handler.length,  # (a chunked body's count)
                 f"not complete in time ({exc})")
        elif isinstance(exc, BodyCutShort) and told is not None:  # (as waitress tells it: not malformed framing)
            told(peer, exc.received, None, _why_cut(self.environ))
        elif isinstance(exc, (FramingError, TimeoutError)):
            log.warning("request from %s not taken: %s", peer, exc)
        elif isinstance(exc, OSError) and self._peer_left():
            log.debug("the answer to %s was not sent: %s (%s)", peer, self._closed_by(), exc)
        elif isinstance(exc, OSError):
            log.info("connection from %s dropped: %s", peer, exc)
        else:
            log.error("request from %s: unexpected error", peer, exc_info=exc_info)

    def finish_response(self) -> None:
        # wsgiref's run() drops a reset or a broken pipe met writing the answer without a word: the
        # request was handled (stored) and its answer lost, which explains the MMSC's copy to come.
        try:
            super().finish_response()
        except (ConnectionAbortedError, BrokenPipeError, ConnectionResetError) as exc:
            self._said_unsent = True
            log.debug("the answer (HTTP %s) to %s was not sent: the connection closed under it (%s: %s)",
                      (self.status or "").partition(" ")[0], self.environ.get("REMOTE_ADDR"), type(exc).__name__, exc)
            raise

    _said_unsent = False

    def handle_error(self) -> None:
        # The error's answer (a body cut short: 400) written to a peer that closed without TLS's
        # close_notify fails: that peer's request is told already (incomplete), once, as waitress
        # tells it; the failed write escaped as a second WARNING ("TLS connection ... failed").
        try:
            super().handle_error()
        except OSError as exc:
            if self._said_unsent:  # (finish_response said it)
                return
            if not self._peer_left():
                raise
            log.debug("the answer to %s was not sent: %s (%s)", self.environ.get("REMOTE_ADDR"), self._closed_by(), exc)

    def _closed_by(self) -> str:
        return "the server stopped" if _why_cut(self.environ) == "the server stopped" else \
            "the peer had closed the connection"

    def _peer_left(self) -> bool:
        """Whether the peer closed its side of the connection before its answer (its request is
        said already: handled, or told incomplete): an answer that cannot go out is no news then."""
        reader = getattr(self.request_handler, "_reader", None)
        return bool(getattr(reader, "ended", False))


class _ConnectionReader(DeadlineReader):
    """The TLS server's reader of a connection, a reset read as the stream's end (as waitress reads
    it, and OpenSSL 3 mostly does): a request cut so is told and counted as one cut short. Raised,
    the ConnectionResetError (some OpenSSL builds) was dropped by wsgiref's handler without a line
    or a count."""

    def readinto(self, buf):
        try:
            return super().readinto(buf)
        except (ConnectionResetError, ConnectionAbortedError):
            self.ended = True  # (the peer gone: an answer that cannot go out is no news)
            return 0


class _HeadersCutShort(Exception):
    """The connection ended in a request's line or headers: no request (the standard library
    took the end of the stream for the end of the headers, and the request as it stood)."""


def _check_whole(line: bytes, asked: int) -> None:
    """A line read with `readline(asked)`: raises _HeadersCutShort if the stream ended in it."""
    if line and len(line) < asked and not line.endswith(b"\n"):
        raise _HeadersCutShort


class _HeaderBudget:
    """The connection's reader while the headers are read: their lines within `budget` bytes,
    past it an HTTPException, which the standard library answers with 431."""

    def __init__(self, rfile, budget: int) -> None:  # noqa: ANN001
        self.rfile, self.budget = rfile, budget

    def readline(self, limit: int = -1) -> bytes:
        if self.budget >= 0:  # (the request line alone may have spent it)
            asked = self.budget + 1 if limit < 0 else min(limit, self.budget + 1)
            line = self.rfile.readline(asked)
            self.budget -= len(line)
            if not line or (len(line) < asked and not line.endswith(b"\n")):
                raise _HeadersCutShort  # (an empty line ends them: b"" is the stream's end)
        if self.budget < 0:
            raise http.client.HTTPException("request headers over max_header")
        return line

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.rfile, name)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """The standard library's threaded server with waitress's connection limit: a connection past
    it is closed at once (one thread each: unbounded, a flood of connections would be as many threads)."""

    daemon_threads = True
    connection_limit = 100
    tls_context: ssl.SSLContext | None = None  # serving TLS: each connection's (use_ssl_context)

    def get_request(self) -> tuple:
        request, client_address = super().get_request()
        if self.tls_context is not None:
            # Each connection wrapped as it is accepted (as a TLS listening socket does), with the
            # context of the moment: a renewed certificate is served from the next connection on.
            # The handshake happens on the first read, in the connection's own thread and under
            # its timeout: done here, one silent client would hold up every other.
            try:
                request = self.tls_context.wrap_socket(request, server_side=True,
                                                       do_handshake_on_connect=False)
            except BaseException:
                request.close()
                raise
        return request, client_address

    def server_activate(self) -> None:
        super().server_activate()
        self._slots = threading.BoundedSemaphore(self.connection_limit)
        self._requests = 0  # requests read and not yet answered (daemon threads: stop() waits for these)
        self._connections: set[socket.socket] = set()  # ... and their connections (cut_off closes them)
        self._answered = threading.Condition()
        self.stopped = threading.Event()  # cut_off() closed the connections in hand

    @contextlib.contextmanager
    def in_hand(self, connection: socket.socket | None = None) -> Iterator[None]:
        with self._answered:
            self._requests += 1
            if connection is not None:
                self._connections.add(connection)
        try:
            yield
        finally:
            with self._answered:
                self._requests -= 1
                self._connections.discard(connection)
                self._answered.notify_all()

    def cut_off(self) -> None:
        """Close the connections of the requests in hand, unanswered: their handlers' threads run
        on (daemons), but what they would answer can no longer go out."""
        self.stopped.set()  # (before the closing: a body's read it ends is told as cut by the stop)
        with self._answered:
            connections = list(self._connections)
        for connection in connections:
            try:  # (the socket beneath, not the TLS layer the handler's thread is using)
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
            except OSError:
                pass

    def requests_in_hand(self) -> int:
        """How many requests are being handled and not yet answered."""
        with self._answered:
            return self._requests

    def wait_answered(self, timeout: float) -> bool:
        """Whether every request in hand was answered within `timeout` seconds."""
        with self._answered:
            return self._answered.wait_for(lambda: self._requests == 0, timeout)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("refused a connection from %s: %d connections open already", client_address[0],
                        self.connection_limit)
            self.close_request(request)  # (at once: lingering here would hold up the accepting loop)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    linger = 2.0  # seconds a closing connection waits for the peer's next bytes (5 waits at most)

    def shutdown_request(self, request) -> None:
        """Close after the answer as RFC 9112 §9.6 asks: our side first, then what the peer still
        sends is read and dropped until it closes too (or stays silent). Closed with bytes unread,
        the connection is reset, and a peer still sending a body refused before it was read (a 413
        on its declared length, a 400) lost the answer with it, most of the time."""
        try:
            request.shutdown(socket.SHUT_WR)  # (TLS: no close_notify, as before; the answer says its length)
            request.settimeout(self.linger)
            deadline = time.monotonic() + 5 * self.linger
            while request.recv(65536) and time.monotonic() < deadline:
                pass
        except OSError:
            pass
        self.close_request(request)

    def handle_error(self, request, client_address) -> None:
        """A connection that failed before a request was read — a TLS handshake refused (a client
        not trusting the certificate, plain HTTP on the TLS port, a port scanner), a peer gone or
        too slow — is one log line, not the traceback socketserver prints on stderr for each."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ssl.SSLError) and exc.reason == "HTTP_REQUEST":
            log.warning("plain HTTP from %s on the TLS port: answered 400 (its URL must be https://)",
                        client_address[0])
            _answer_plain_http(request)
        elif isinstance(exc, ssl.SSLError):  # (worth seeing: an MMSC that cannot reach us says nothing)
            log.warning("TLS connection from %s failed: %s", client_address[0], exc)
        elif isinstance(exc, OSError):  # (TimeoutError, ConnectionResetError: the peer's business)
            log.info("connection from %s dropped: %s", client_address[0], exc)
        else:
            log.error("connection from %s: unexpected error", client_address[0], exc_info=exc)


PLAIN_HTTP_ON_TLS = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n%s")
PLAIN_HTTP_ON_TLS_TEXT = b"this port speaks TLS: plain HTTP was sent to it; use an https:// URL"


def _answer_plain_http(request) -> None:
    """Answer a plain HTTP request made to the TLS port in plain HTTP, as nginx does: without it the
    client saw a connection closed without an answer, which it takes for a request the server may
    have (and tries again), and nothing said that its URL should be https. The handshake failed on
    the request's first bytes (OpenSSL sends no alert then): the socket beneath is still plain."""
    try:
        raw = socket.socket(fileno=request.fileno())
    except OSError:
        return
    try:
        raw.settimeout(2.0)
        raw.sendall(PLAIN_HTTP_ON_TLS % (len(PLAIN_HTTP_ON_TLS_TEXT), PLAIN_HTTP_ON_TLS_TEXT))
        raw.shutdown(socket.SHUT_WR)
        # The rest of the request read and dropped: closed with it unread, the connection would be
        # reset, and the reset could overtake the answer.
        deadline = time.monotonic() + 5.0
        while raw.recv(65536) and time.monotonic() < deadline:
            pass
    except OSError:
        pass
    finally:
        raw.detach()  # (the request's to close)


def _takes_started(told: Callable | None) -> bool:
    """Whether an `on_incomplete` callable takes `started=` (`Receiver.incomplete` does; one of
    an application's own may take the four arguments alone)."""
    try:
        params = inspect.signature(told).parameters.values() if told is not None else ()
    except (TypeError, ValueError):
        return False
    return any(p.name == "started" or p.kind is p.VAR_KEYWORD for p in params)


def _adjust_waitress(server, request_timeout: float, keep_alive: bool = True,
                     on_too_large: Callable[[str | None, int | None], object] | None = None,
                     on_incomplete: Callable[..., object] | None = None) -> None:
    """Give a waitress server a deadline for each whole request: its channel timeout counts silence
    only, so a peer sending a byte now and then kept a connection (one of `connection_limit`) for
    ever. The parser's creation (the request's first bytes) starts the clock; waitress's periodic
    maintenance closes what overran it. Without `keep_alive`, every answer says `Connection: close`
    and its connection is closed once it is out (a WSGI application may not say so itself: waitress
    refuses hop-by-hop headers from it). A body over its limit, which waitress refuses itself, is
    told to `on_too_large(peer, declared length or None)`. (waitress picks the server class itself:
    its instance is adjusted.) A request cut short, in its headers or its body — the peer closed, or
    it ran past the deadline or the channel timeout — is told to `on_incomplete`: waitress closes
    such a connection unsaid."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser, ParsingError

    timed = _takes_started(on_incomplete)
    from waitress.task import ErrorTask, WSGITask
    from waitress.utilities import RequestEntityTooLarge

    class Parser(HTTPRequestParser):
        too_long = False  # (a Content-Length of more digits than int() converts)

        def __init__(self, adj) -> None:
            super().__init__(adj)
            self.started = time.time()  # (waitress's maintenance clock)

        def parse_header(self, header_plus: bytes) -> None:
            try:
                super().parse_header(header_plus)
            except ValueError as exc:
                length = self.headers.get("CONTENT_LENGTH", "")
                if "path" in vars(self) and not self.chunked and length.isascii() and length.isdigit():
                    # The target split, the Content-Length's int() refused it: more digits than
                    # int() converts, a length no body has (it was answered as a bad URI). Refused
                    # as over max_body, as a length it could read is (the body is not read).
                    self.too_long, self.content_length = True, self.adj.max_request_body_size
                    return
                # waitress lets urlsplit's ValueError out (an absolute-form target with an
                # unbalanced [ in its host): the connection was closed with no answer.
                raise ParsingError(f"Bad URI: {exc}") from None
            if self.chunked and "CONTENT_LENGTH" in self.headers:
                # Delimited by its chunks, and the connection ends with it (RFC 9112 §6.1): both
                # lengths at once is how a request is smuggled past a proxy reading the other one.
                self.headers["CONNECTION"] = "close"

    class ClosingTask(WSGITask):
        def build_response_header(self):
            self.set_close_on_finish()  # (adds Connection: close while the headers are unwritten)
            return super().build_response_header()

    class Refusal(ErrorTask):
        def execute(self) -> None:
            if on_too_large is not None and isinstance(self.request.error, RequestEntityTooLarge):
                request = self.request
                # (the target as the app reads it: the path percent-decoded, and the query)
                target = (getattr(request, "path", None) or "/") + (f"?{request.query}" if getattr(
                    request, "query", None) else "")
                _tell_too_large(on_too_large, self.channel.addr[0] if self.channel.addr else None,
                                None if request.chunked or request.too_long else request.content_length,
                                getattr(request, "command", None) or "POST", target,
                                getattr(request, "headers", {}).get("AUTHORIZATION"))
            super().execute()

    class Channel(HTTPChannel):
        parser_class = Parser
        error_task_class = Refusal
        if not keep_alive:
            task_class = ClosingTask

        overdue = False  # (closed by the deadline below)

        def handle_close(self) -> None:
            # (reached when the peer closes and when the maintenance closes the channel; the server's
            # own stop closes channels without it, and tells their requests itself: tell_cut)
            self.tell_cut()
            super().handle_close()

        def tell_cut(self, why: str | None = None) -> None:
            """Tell `on_incomplete` of the request being received, if one began (once: it is
            dropped), the connection closing; `why` None: the peer's doing or a timeout's."""
            request = self.request
            if on_incomplete is not None and request is not None and not request.completed \
                    and request.error is None and (request.headers_finished or request.header_plus.strip()):
                self.request = None  # (said once)
                if why is None and self.overdue:
                    why = f"not complete after {request_timeout:g} s"
                elif why is None and self.last_activity < time.time() - server.adj.channel_timeout:
                    why = f"silent for {server.adj.channel_timeout} s"  # (waitress's own timeout)
                elif why is None:
                    why = "the connection closed"
                peer = self.addr[0] if self.addr else None
                # (when it began, on the monotonic clock: waitress's own is the wall clock; told to
                # a callable that takes it, as `Receiver.incomplete` does)
                began = {"started": time.monotonic() - max(0.0, time.time() - request.started)} if timed else {}
                if request.headers_finished:
                    on_incomplete(peer, request.body_bytes_received,
                                  None if request.chunked else request.content_length, why, **began)
                else:  # (as the TLS server tells it)
                    on_incomplete(peer, None, None, f"{why} in its headers", **began)

        def send_continue(self) -> None:
            # waitress says "go on" to a request it has already refused (a declared body over its
            # limit) and then waits for that body: the client sends all of it to hear 413 after.
            if self.request is not None and self.request.error is not None:
                self.request.expect_continue = False
                return
            super().send_continue()

    plain = server.maintenance

    def maintenance(now: float) -> None:
        plain(now)
        cutoff = now - request_timeout
        for channel in list(server.active_channels.values()):
            request = channel.request  # the one being received; complete ones are in channel.requests
            if request is not None and request.started < cutoff and not channel.will_close:
                channel.overdue = True
                if on_incomplete is None:  # (else the closing tells it)
                    log.warning("closed the connection from %s: its request was not complete after %g s",
                                channel.addr[0] if channel.addr else "?", request_timeout)
                channel.will_close = True

    server.channel_class = Channel
    server.maintenance = maintenance


def _as_peer_address(address: str) -> str:
    """An IP address as the server writes a peer's (waitress compares the two as text): "::1" for
    "0:0:0:0:0:0:0:1", "10.0.0.1" for "::ffff:10.0.0.1" (an IPv4 peer is never seen mapped). A
    ValueError for anything else: a host name never matched, and its X-Forwarded-For was ignored."""
    import ipaddress  # noqa: PLC0415

    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise ValueError(f"trusted_proxy must be an IP address (or *), not {address!r}") from None
    return str(getattr(ip, "ipv4_mapped", None) or ip)


MAX_THREADS = 10_000  # the most threads a server takes: each is started with it, 10**30 never ends starting


@suggest_keywords
class EmbeddedServer:
    """The receiver on a socket: `start()` runs it in a background thread, `serve_forever()` in this one.

    Plain HTTP is served by waitress (threads, body and header limits, channel timeout). With an
    `ssl_context` (serving TLS directly, without a proxy in front) the standard library's threaded
    WSGI server is used, since waitress speaks no TLS; it answers one request per connection (HTTP/1.0),
    so `keep_alive=False` (close each connection after its answer) is what it always does.
    `on_too_large(peer, declared length or None)` hears of each body either server refuses over
    `max_body` before the app sees it, with keywords `method`, `uri` and `authorization` when it
    takes them (`serve` passes the receiver's, which logs and counts it, and keeps a Digest answer
    spent). `on_incomplete(peer, bytes received or None, declared length or None, why)` hears of
    each request cut short (the peer closed, its request ran past `request_timeout`, or a stop
    closed its connection: "the server stopped"), which waitress drops without the app seeing it; one that ended in its headers with both None and
    `why` saying so (`serve` passes `Receiver.incomplete`); one taking `started=` is told when the
    request began too (a `time.monotonic()`), for its timing.
    `trusted_proxy`: the address of a reverse proxy in front (or "*"), whose X-Forwarded-For
    names the peer (REMOTE_ADDR: what the allow-list checks, the logs and the store keep); None,
    the socket's peer, whatever a request's headers say.
    """

    def __init__(self, app: Callable, host: str = "127.0.0.1", port: int = 0, *, threads: int = 4,
                 max_body: int = 20 * 1024 * 1024, max_header: int = 64 * 1024, channel_timeout: int = 60,
                 ssl_context: ssl.SSLContext | None = None, backlog: int = 1024, connection_limit: int = 100,
                 request_timeout: float = 300.0, path: str = "", keep_alive: bool = True,
                 on_too_large: Callable[[str | None, int | None], object] | None = None,
                 trusted_proxy: str | None = None, on_incomplete: Callable[..., object] | None = None):
        if not 0 < request_timeout < math.inf:  # (NaN passed "<= 0", and served TLS without a deadline)
            raise ValueError("request_timeout must be a positive, finite number of seconds")
        # (0 served TLS with reads that wait for nothing, every connection failed; NaN or inf failed
        # the start in waitress; 1e10 each TLS connection with an OverflowError, past what a
        # socket's timeout holds)
        if isinstance(channel_timeout, bool) or not isinstance(channel_timeout, (int, float)) \
                or not 1 <= channel_timeout <= MAX_TIMEOUT:
            raise ValueError(f"channel_timeout must be a number of seconds from 1 to {MAX_TIMEOUT} (a year), "
                             f"not {channel_timeout!r}")
        # (0 or a negative answered every request 431: an MM7 request's head, its Content-Type's
        # boundary and a Digest Authorization, takes a few hundred bytes)
        if isinstance(max_header, bool) or not isinstance(max_header, int) or max_header < 1024:
            raise ValueError(f"max_header must be a whole number of bytes (a request line and its headers), at least "
                             f"1024, not {max_header!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            # (70000 ended the start with an OverflowError from the socket layer)
            raise ValueError(f"port must be a port number, 0 to 65535 (0 picks a free one), not {port!r}")
        for name, value, most in (("threads", threads, MAX_THREADS), ("connection_limit", connection_limit, None)):
            # (threads = 10**30 held the start for ever, a thread made at a time; NaN or 2.5 failed it
            # with a TypeError)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 or most is not None and value > most:
                raise ValueError(f"{name} must be a whole number, at least 1{f', at most {most}' if most else ''}, "
                                 f"not {value!r}")
        if isinstance(backlog, bool) or not isinstance(backlog, int) or not 0 <= backlog <= 2**31 - 1:
            # (past a C int, the listen at start raised an OverflowError; negative, it was taken as 0)
            raise ValueError(f"backlog must be a whole number from 0 to {2**31 - 1}, not {backlog!r}")
        if trusted_proxy is not None and ssl_context is not None:
            raise ValueError("trusted_proxy is for a proxy in front of the server: serving TLS itself, it has none")
        if trusted_proxy not in (None, "*"):
            trusted_proxy = _as_peer_address(trusted_proxy)
        # (only from that address is X-Forwarded-For read, and only its last hop: the address the
        # proxy saw, which the allow-list checks; from any other peer the header is dropped)
        proxy = {} if trusted_proxy is None else {
            "trusted_proxy": trusted_proxy, "trusted_proxy_count": 1, "trusted_proxy_headers": {"x-forwarded-for"}}
        self.ssl_context = ssl_context
        self.thread: threading.Thread | None = None
        self._looping = threading.Event()  # the serving loop runs (or start() is starting it)
        self._ended = threading.Event()  # ... and has returned
        self._hurry = threading.Event()  # stop_now(): a stop under way waits no longer
        if ssl_context is None:
            import waitress.server  # noqa: PLC0415

            # waitress warns on every queued request under load; a queue is what threads are for.
            logging.getLogger("waitress.queue").setLevel(logging.ERROR)

            self._map: dict = {}  # every socket the server's loop watches (see stop)
            self.server = waitress.server.create_server(
                # (waitress refuses a body of its limit already, and the receiver takes one of max_body)
                app, map=self._map, host=host, port=port, threads=threads, max_request_body_size=max_body + 1,
                max_request_header_size=max_header, channel_timeout=channel_timeout, ident="mm7bind",
                clear_untrusted_proxy_headers=True, backlog=backlog, connection_limit=connection_limit,
                # (maintenance runs this often: a deadline is kept to within a quarter of itself)
                cleanup_interval=max(1, min(30, int(request_timeout / 4))), **proxy,
            )
            _adjust_waitress(self.server, request_timeout, keep_alive, on_too_large, on_incomplete)
            self.port = self.server.effective_port
        else:
            # (a silent peer lets go after channel_timeout; a trickling one at request_timeout)
            handler = type("_Handler", (_QuietHandler,), {
                "timeout": channel_timeout, "request_timeout": request_timeout, "max_body": max_body,
                "max_header": max_header,
                "on_too_large": staticmethod(on_too_large) if on_too_large is not None else None,
                "on_incomplete": staticmethod(on_incomplete) if on_incomplete is not None else None})
            server_class = type("_Server", (_ThreadingWSGIServer,), {"connection_limit": connection_limit})
            self.server = make_server(host, port, app, server_class=server_class, handler_class=handler)
            self.server.tls_context = ssl_context
            self.port = self.server.server_address[1]
        self.host = host
        self.path = path

    @property
    def url(self) -> str:
        """Scheme, host and port: where the socket listens."""
        scheme = "https" if self.ssl_context else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """The URL to give the MMSC: `url` and the path the receiver answers at (serve's `path`)."""
        return self.url + self.path

    def use_ssl_context(self, ssl_context: ssl.SSLContext) -> None:
        """Serve the connections from now on with `ssl_context` (a renewed certificate: `mm7bind
        serve` reads its files again on SIGHUP); those open keep theirs. Serving TLS only."""
        if self.ssl_context is None:
            raise ValueError("this server speaks plain HTTP: it has no TLS context to replace")
        self.server.tls_context = self.ssl_context = ssl_context

    def serve_forever(self) -> None:
        """Serve in this thread until `stop()` (from another thread, or a signal handler). On a
        server already serving from `start()` (a with block), wait here for its stop instead: a
        second loop over the same connections would read and close them under the first."""
        if self.thread is not None and self.thread is not threading.current_thread():
            while not self._ended.wait(0.5):  # (with a timeout: Ctrl-C reaches the main thread)
                pass
            return
        self._looping.set()
        try:
            if self.ssl_context is None:
                self.server.run()
            else:
                self.server.serve_forever(poll_interval=0.2)
        finally:
            self._looping.clear()
            self._ended.set()

    def start(self) -> EmbeddedServer:
        """Serve in a background thread; returns at once, with the server."""
        self._looping.set()  # (stop() right after start() must find the loop to end)
        self.thread = threading.Thread(target=self.serve_forever, name="mm7bind-server", daemon=True)
        self.thread.start()
        return self

    def stop(self, grace: float = 5.0) -> int:
        """Stop accepting, give requests in hand up to `grace` seconds to finish and their answers
        to go out, then close every connection (an MMSC whose answer was cut off sends again, and
        the store answers the copy). A request whose body is still arriving is in hand (either
        server). Requests still in hand then are counted in a WARNING line; → how many they were
        (0: every request was answered)."""
        left = 0
        # The loop runs in start()'s thread or in whichever thread called serve_forever().
        if self.ssl_context is None:
            if self._looping.is_set():
                # Sockets are closed from inside the server's own loop: closed from here, its
                # select() would find them gone under it; and the loop ends once none is left
                # (closing only the listener would leave it serving kept-alive connections).
                from waitress import wasyncore  # noqa: PLC0415

                self._in_loop(lambda: wasyncore.dispatcher.close(self.server))
                deadline = time.monotonic() + grace
                while self._busy() and time.monotonic() < deadline and not self._hurry.wait(0.01):
                    pass
                left = self._say_left(self._busy(), grace)
                self._in_loop(self._close_all)
                if not self._ended.wait(timeout=5):  # the loop never ran our closing: close from here
                    wasyncore.close_all(self._map)
                # Handlers still running get 5 s more to leave the store as they would (their
                # answers can no longer go out), unless stop_now() says not to wait.
                dispatcher = self.server.task_dispatcher
                dispatcher.set_thread_count(0)
                deadline = time.monotonic() + 5
                while dispatcher.threads and time.monotonic() < deadline:
                    if self._hurry.wait(0.01):  # (a moment for the idle threads to leave)
                        deadline = min(deadline, time.monotonic() + 0.2)
                dispatcher.shutdown(timeout=0)
            else:
                self.server.close()
                self.server.task_dispatcher.shutdown()
        else:
            if self._looping.is_set():
                self.server.shutdown()  # (waits for serve_forever to return: only if it runs)
            self.server.server_close()  # (new connections refused from here on)
            # Each connection runs in a daemon thread: without this wait, a process exiting after
            # stop() (SIGTERM) cut off handlers mid-work, their messages left "processing", unanswered.
            deadline = time.monotonic() + grace
            while not self.server.wait_answered(min(0.05, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline or self._hurry.is_set():
                    left = self._say_left(self.server.requests_in_hand(), grace)
                    break
            if left:
                # As with waitress: their connections closed (an answer coming later would contradict
                # the line above), then their handlers get 5 s more to leave the store as they would,
                # unless stop_now() says not to wait; a thread still running is cut off at the exit.
                self.server.cut_off()
                deadline = time.monotonic() + 5
                while not self.server.wait_answered(0.05) and not self._hurry.is_set() \
                        and time.monotonic() < deadline:
                    pass
                running = self.server.requests_in_hand()
                if running:
                    log.warning("%d handler thread(s) still running, not waited for: what they stored stays as "
                                "it is (a message in hand 'processing', for `mm7bind replay`)", running)
        if self.thread is not None:
            self.thread.join(timeout=0 if self._hurry.is_set() else 5)
        return left

    def _say_left(self, left: int, grace: float) -> int:
        if left:
            log.warning("stopping with %d request(s) in hand %s: their connections are closed unanswered (an MMSC "
                        "sends such a request again; one stored meanwhile is answered from the store)", left,
                        "not waited for" if self._hurry.is_set() else f"after the {grace:g} s grace")
        return left

    def stop_now(self) -> None:
        """Cut short a `stop()` under way (a second Ctrl-C; safe in a signal handler): requests
        still in hand are not waited for, their connections closed unanswered."""
        self._hurry.set()

    def _in_loop(self, fn: Callable) -> None:
        """Run `fn` in the server's loop thread. waitress's trigger queues it, then writes to its
        pipe; a thunk queued just before the loop woke for another reason can run, and close the
        pipe, before that write: then the write fails, the work being done already."""
        try:
            self.server.trigger.pull_trigger(fn)
        except OSError:
            pass

    def _close_all(self) -> None:
        """Close every connection (in the server's loop). A request still arriving on one is told
        to `on_incomplete` as cut by the stop: waitress hands a request on once it is whole, and
        closed the connection of one still coming without a line or a count."""
        from waitress import wasyncore  # noqa: PLC0415

        try:
            for channel in list(self._map.values()):
                if hasattr(channel, "tell_cut"):  # (the connections; not the listener, nor the loop's trigger)
                    channel.tell_cut("the server stopped")
        finally:  # (a callback's error closes them all the same)
            wasyncore.close_all(self._map)

    def _busy(self) -> int:
        """How many connections have a request in hand or an answer not yet sent (waitress's
        channel state; anything else counts as idle). A request whose headers came and whose body
        is still arriving is in hand, as serving TLS: a stop gave it no grace to arrive (waitress
        hands a request on once it is whole) and did not count it among those cut off."""
        return sum(1 for ch in list(self._map.values())
                   if getattr(ch, "requests", None) or getattr(ch, "total_outbufs_len", 0) or _arriving(ch))

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _arriving(channel) -> bool:
    """Whether a waitress channel is receiving a request's body: its headers read, the request
    neither whole nor refused (a refusal completes it: its answer is then what is in hand)."""
    request = getattr(channel, "request", None)
    return request is not None and request.headers_finished and not request.completed


@suggest_keywords
def serve(receiver: Receiver, host: str = "127.0.0.1", port: int = 8080, path: str = "/mm7",
          metrics_path: str | None = None, mounts: dict[str, Callable] | None = None,
          health_path: str | None = None, **kw) -> EmbeddedServer:
    """An embedded server for `receiver` at http://host:port/path (not started); its metrics at
    `metrics_path` when it has some; the health check at `health_path`; other WSGI apps at the
    `mounts` prefixes."""
    kw.setdefault("on_too_large", receiver.too_large)  # (logged and counted like those the app refuses)
    kw.setdefault("on_incomplete", receiver.incomplete)  # (a request cut short, which waitress drops unseen)
    return EmbeddedServer(wsgi_app(receiver, path, metrics_path, mounts, health_path), host, port,
                          max_body=receiver.config.max_body, path=path or "", **kw)
