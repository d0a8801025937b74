"""Serving the receiver: a WSGI app, and an embedded server (waitress) to run it from code or
`mm7bind serve`. For several processes or hosts, run the WSGI app under gunicorn."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .receiver import Receiver

log = logging.getLogger("mm7bind.server")


def wsgi_app(receiver: Receiver, path: str | None = None) -> Callable:
    """A WSGI application around `receiver`. With `path`, other paths get 404 (mounted under a
    dispatcher, leave it None: the dispatcher has already chosen)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if path is not None and environ.get("PATH_INFO", "") not in (path, path.rstrip("/") + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        limit = receiver.config.max_body
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if length > limit:
            start_response("413 Request Entity Too Large", [("Content-Type", "text/plain")])
            return [b"request body too large\n"]
        stream = environ["wsgi.input"]
        body = stream.read(length) if length >= 0 else stream.read(limit + 1)
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        uri = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            uri += "?" + environ["QUERY_STRING"]
        rsp = receiver.handle(body, environ.get("CONTENT_TYPE"), headers, environ.get("REMOTE_ADDR"),
                              environ.get("REQUEST_METHOD", "POST"), uri)
        reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 405: "Method Not Allowed",
                  413: "Request Entity Too Large", 500: "Internal Server Error"}.get(rsp.status, "")
        start_response(f"{rsp.status} {reason}", rsp.headers + [("Content-Length", str(len(rsp.body)))])
        return [rsp.body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, fmt, *args):  # noqa: ANN001
        log.debug("%s " + fmt, self.client_address[0], *args)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class EmbeddedServer:
    """The receiver on a socket: `start()` runs it in a background thread, `serve_forever()` in this one.

    Plain HTTP is served by waitress (threads, body and header limits, channel timeout). With an
    `ssl_context` (serving TLS directly, without a proxy in front) the standard library's threaded
    WSGI server is used, since waitress speaks no TLS.
    """

    def __init__(self, app: Callable, host: str = "127.0.0.1", port: int = 0, *, threads: int = 4,
                 max_body: int = 20 * 1024 * 1024, max_header: int = 64 * 1024, channel_timeout: int = 60,
                 ssl_context: ssl.SSLContext | None = None, backlog: int = 1024):
        self.ssl_context = ssl_context
        self.thread: threading.Thread | None = None
        if ssl_context is None:
            import waitress.server  # noqa: PLC0415

            # waitress warns on every queued request under load; a queue is what threads are for.
            logging.getLogger("waitress.queue").setLevel(logging.ERROR)

            self.server = waitress.server.create_server(
                app, host=host, port=port, threads=threads, max_request_body_size=max_body,
                max_request_header_size=max_header, channel_timeout=channel_timeout, ident="mm7bind",
                clear_untrusted_proxy_headers=True, backlog=backlog,
            )
            self.port = self.server.effective_port
        else:
            self.server = make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
            self.port = self.server.server_address[1]
        self.host = host

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def serve_forever(self) -> None:
        if self.ssl_context is None:
            self.server.run()
        else:
            self.server.serve_forever(poll_interval=0.2)

    def start(self) -> EmbeddedServer:
        self.thread = threading.Thread(target=self.serve_forever, name="mm7bind-server", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.ssl_context is None:
            self.server.close()
        else:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(receiver: Receiver, host: str = "127.0.0.1", port: int = 8080, path: str = "/mm7", **kw) -> EmbeddedServer:
    """An embedded server for `receiver` at http://host:port/path (not started)."""
    return EmbeddedServer(wsgi_app(receiver, path), host, port, max_body=receiver.config.max_body, **kw)
