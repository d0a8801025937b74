"""A scriptable HTTP server on loopback for client tests: each request is recorded and answered
by a function the test gives (with optional auth and TLS); and raw servers (`RawServer`) for
answers HTTP servers would not write, given the connection itself."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mm7bind as mm7


class QuietHTTPServer(ThreadingHTTPServer):
    """A threaded test server whose handler threads' errors are kept in `errors`, not printed. A
    handler still answering after its test ended (a delayed reply to a client gone) printed a
    traceback into a later test's captured stderr; and printing one in Python 3.11 parses source
    (traceback's carets), which running beside another thread's ast.parse can fail that one with
    "AST constructor recursion depth mismatch"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.errors: list[BaseException] = []

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        import sys  # noqa: PLC0415

        self.errors.append(sys.exc_info()[1])


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_port: int = 0  # the client's port: tells connections apart

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def decode(self) -> mm7.Envelope:
        return mm7.decode(self.body, self.header("content-type"))


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    garble: bool = False  # (TLS) answer with bytes that are no TLS record, then close: a TLS error reading it
    hold: threading.Event | None = None  # answer only once this is set (`times_out_once`)


def mm7_reply(body, env: mm7.Envelope, http_status: int = 200, transaction_id: str | None = None) -> Reply:
    out = mm7.encode(body, transaction_id=transaction_id or env.transaction_id, version=env.version)
    return Reply(http_status, out.to_bytes(), {"Content-Type": out.content_type})


def default_responder(req: Request) -> Reply:
    env = req.decode()
    rsp = mm7.messages.RESPONSE_FOR[env.body.ELEMENT]
    kwargs = {"message_id": f"mid-{len(env.transaction_id)}"} if rsp in (mm7.SubmitRsp, mm7.ExtendedReplaceRsp) else {}
    return mm7_reply(rsp(**kwargs), env)


def scripted(*replies: Reply, then=default_responder):
    """A responder giving `replies` in turn to the first requests, then answering by `then` (as an
    MMSC does, by default): `scripted(Reply(hold=gave_up))`, an MMSC leaving its first unanswered."""
    given = iter(replies)
    return lambda req: next(given, None) or then(req)


class FakeServer:
    def __init__(self, responder=default_responder, auth=None, ssl_context: ssl.SSLContext | None = None,
                 port: int = 0):
        """`port`: 0 for any free one, else one of `port_refused_once_closed`'s."""
        self.responder = responder
        self.auth = auth
        self.requests: list[Request] = []
        self.unauthorized = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms each)

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                req = Request("POST", self.path, dict(self.headers.items()), body, self.client_address[1])
                if outer.auth is not None:
                    ok, stale = outer.auth.check("POST", self.path, self.headers.get("Authorization"), body)
                    if not ok:
                        outer.unauthorized += 1
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", outer.auth.challenge(stale))
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                outer.requests.append(req)
                reply = outer.responder(req)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.hold is not None:
                    reply.hold.wait(30)
                if reply.garble:  # (written past the TLS layer, onto the bare socket)
                    socket.socket.sendall(self.connection, b"HTTP/1.1 200 OK\r\n\r\n")
                    reply = Reply(drop=True)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self.httpd = QuietHTTPServer(("127.0.0.1", port), Handler)  # (SO_REUSEADDR set: allow_reuse_address)
        self.httpd.daemon_threads = True
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if ssl_context else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}/mm7"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def times_out_once(client, gave_up: threading.Event, url: str | None = None,
                   body_has: bytes | None = None, seconds: float = 0.3) -> None:
    """`client` (a Client or an AsyncClient, sending one request at a time) waits `seconds` for the
    answer to its first request to `url` (or whose body has `body_has`; else its first), and its
    read_timeout for every other; `gave_up` is set once that request has ended. Answered
    `Reply(hold=gave_up)`, it times out however loaded the machine, and no other answer has to beat
    the short bound. (Its error still names the configured read_timeout.)"""
    if isinstance(client, mm7.Client):
        _sync_times_out_once(client, gave_up, url, body_has, seconds)
    else:
        _async_times_out_once(client, gave_up, url, body_has, seconds)


def _sync_times_out_once(client, gave_up, url, body_has, seconds) -> None:
    transport, post = client.transport, client.transport.post

    def posting(address, message, headers):
        if gave_up.is_set() or (url is not None and address != url) or (
                body_has is not None and body_has not in message):
            return post(address, message, headers)
        usual = transport.operation_timeout
        transport.operation_timeout = (usual[0], seconds)
        try:
            return post(address, message, headers)
        finally:
            transport.operation_timeout = usual
            gave_up.set()

    transport.post = posting


def _async_times_out_once(client, gave_up, url, body_has, seconds) -> None:
    # (the exchange reads its bounds from the client's config and its httpx client's timeout; the
    # error's words from the core's config, which keeps the configured read_timeout)
    import httpx

    exchange = client._exchange

    async def exchanging(address, body, *rest):
        if gave_up.is_set() or (url is not None and address != url) or (
                body_has is not None and body_has not in body):
            return await exchange(address, body, *rest)
        config, timeout = client.config, client.http.timeout
        client.config = replace(config, read_timeout=seconds)
        client.http.timeout = httpx.Timeout(seconds, connect=config.connect_timeout)
        try:
            return await exchange(address, body, *rest)
        finally:
            client.config, client.http.timeout = config, timeout
            gave_up.set()

    client._exchange = exchanging


def async_submit_raising(error: BaseException, message: mm7.SubmitReq) -> mm7.Result:
    """Submit `message` with an AsyncClient (no retries) whose transport raises `error` as it sends:
    what httpx lets through as it is, without a server to make it happen. (The request has gone out
    whole, as httpcore's trace tells the client: the error comes after it.)"""
    import asyncio  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    from mm7bind.client import AsyncClient  # noqa: PLC0415
    from mm7bind.retry import RetryPolicy  # noqa: PLC0415

    async def fail(request):
        await request.extensions["trace"]("http11.send_request_headers.started", {"request": request})
        await request.extensions["trace"]("http11.send_request_body.complete", {"request": request})
        raise error

    async def main():
        # (an https URL nothing listens on: a lost connection is followed by asking the MMSC whether
        # it refuses our certificate, and that must find nobody, not look a name up)
        async with AsyncClient(dead_url().replace("http:", "https:"), retry=RetryPolicy.never()) as c:
            await c.http.aclose()
            c.http = httpx.AsyncClient(transport=httpx.MockTransport(fail))
            return await c.submit(message)

    return asyncio.run(main())


_HELD: list[socket.socket] = []


def refused_port() -> int:
    """A port nothing listens on and nothing else can take: bound, never listening, held until the
    suite ends (a connection to it is refused), unlike a port free a moment ago, which another
    process may be listening on by the time the test connects."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD.append(s)
    return s.getsockname()[1]


def port_refused_once_closed() -> int:
    """A port for a server whose connections must be refused once it has stopped (an MMSC gone
    down): held, like `refused_port`'s, by a socket bound and never listening, but with
    SO_REUSEADDR, so that the server binds it beside (`FakeServer(port=)`, `TricklingServer(port=)`).
    Its own port, closed and left free, may have been taken by another process by the time the
    test connects again; this one stays held, and no bind to port 0 is given it."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    _HELD.append(s)
    return s.getsockname()[1]


def dead_url() -> str:
    """A loopback URL nothing listens on (connection refused: `refused_port`)."""
    return f"http://127.0.0.1:{refused_port()}/mm7"


@contextmanager
def serving_on(sock: socket.socket, app):
    """Serves the WSGI `app` on `sock`, a socket bound beforehand and held since (as `refused_port`'s
    are): an MMSC back at the port it was down at, which no other process can have taken in the
    meantime, as one closed and bound again may have been."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    httpd = Server(sock.getsockname(), Quiet, bind_and_activate=False)
    httpd.socket.close()
    httpd.socket = sock
    httpd.server_name, httpd.server_port = sock.getsockname()[:2]
    httpd.setup_environ()
    httpd.set_app(app)
    sock.listen()
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


class RawServer:
    """A loopback server writing by hand what an HTTP server would not (an answer cut short,
    trickled, framed its own way, or none at all): each connection it takes is given to
    `answer(conn, stop)` in a thread of its own, and closed after it; an OSError there (the client
    gone) ends that answer quietly. `stop` is set once the server is left, for an answer that waits
    or drips to end. Left, it takes no more connections, shuts down those still open (a read waiting
    on one returns) and waits for their answers to end. A subclass may define `answer` instead."""

    def __init__(self, answer=None, *, port: int = 0):
        """`port`: 0 for any free one, else one of `port_refused_once_closed`'s."""
        if answer is not None:
            self.answer = answer
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mm7"
        self.stop = threading.Event()
        self._open: set[socket.socket] = set()
        self._answers: list[threading.Thread] = []
        self._lock = threading.Lock()  # (a connection is closed, or shut down at the stop, not both at once)
        self.serving = threading.Thread(target=self._serve, daemon=True)
        self.serving.start()

    def _serve(self):
        # An accept waits 0.05 s at a time, the stop looked at between: the listener is closed once
        # no accept holds it (closed under a waiting accept, it went on listening until that accept
        # returned, and took the next connection).
        self.listener.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._open.add(conn)
            answering = threading.Thread(target=self._answering, args=(conn,), daemon=True)
            self._answers.append(answering)
            answering.start()

    def _answering(self, conn):
        try:
            self.answer(conn, self.stop)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
                conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.serving.join(5)  # (a subclass's own _serve may wait in an accept of its own: not for ever)
        self.listener.close()
        with self._lock:
            for conn in self._open:
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for answering in self._answers:
            answering.join(5)


def read_request(conn, buffered: bytes = b"") -> tuple[dict[str, str], bytes, bytes] | None:
    """The header fields (lower-cased) and the body of the request `buffered` starts, read on from
    `conn` to the end of its Content-Length (no body without one), and what came after it; None if
    the peer closed first."""
    got = _head_fields(conn, buffered)
    if got is None:
        return None
    fields, rest = got
    length = int(fields.get("content-length", 0))
    while len(rest) < length:
        data = conn.recv(65536)
        if not data:
            return None
        rest += data
    return fields, rest[:length], rest[length:]


class TricklingServer(RawServer):
    """Answers every connection with headers promising 1000 bytes, then one byte every 0.2 s: each
    read of the answer gets something in time, the whole answer never comes."""

    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n"
    drip = b" "  # (sent every 0.2 s after the head)

    def answer(self, conn, stop):
        conn.recv(65536)
        conn.sendall(self.head)
        while not stop.wait(0.2):
            conn.sendall(self.drip)


class SilentServer(RawServer):
    """Takes every connection and what comes on it, and never answers: a plain-http port waiting
    for a request line that a TLS ClientHello never ends."""

    def answer(self, conn, stop):
        stop.wait()


class FloodingServer(RawServer):
    """Answers every request 200 with a body that never ends (a misbehaving proxy, a wrong port
    streaming something else): it writes until the client hangs up. `requests` counts them."""

    def __init__(self):
        super().__init__()
        self.requests = 0

    def answer(self, conn, stop):
        conn.recv(65536)
        self.requests += 1
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000000000\r\n\r\n")
        chunk = b"<x>" + b" " * 65530 + b"</x>"
        while not stop.is_set():
            conn.sendall(chunk)


class HeaderTricklingServer(TricklingServer):
    """Answers every request with its status line, then one byte of a header every 0.2 s: each
    read of the head gets something in time, the head never ends."""

    head = b"HTTP/1.1 200 OK\r\nX-Slow: "
    drip = b"x"


def _head_fields(conn, buffered: bytes) -> tuple[dict[str, str], bytes] | None:
    """The header fields of the request `buffered` starts (read on from `conn` to its blank line),
    lower-cased, and what came after its head; None if the peer closed first."""
    while b"\r\n\r\n" not in buffered:
        data = conn.recv(65536)
        if not data:
            return None
        buffered += data
    head, _, rest = buffered.partition(b"\r\n\r\n")
    fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:])
    return {k.strip().lower().decode(): v.strip().decode() for k, v in fields.items()}, rest


class FramingServer(RawServer):
    """Answers each request on a connection with `frame(content_type, body)` (the raw answer
    bytes, to frame it as HTTP allows: chunked, gzip, Connection: close without a length, ...;
    or a list of pieces, sent 0.1 s apart); closes the connection after an answer that says so."""

    def __init__(self, frame):
        super().__init__()
        self.frame = frame

    def answer(self, conn, stop):
        buffered = b""
        while (got := read_request(conn, buffered)) is not None:
            fields, body, buffered = got
            env = mm7.decode(body, fields["content-type"])
            out = mm7.encode(mm7.SubmitRsp(message_id="framed"), transaction_id=env.transaction_id,
                             version=env.version)
            framed = self.frame(out.content_type, out.to_bytes())
            for i, piece in enumerate([framed] if isinstance(framed, bytes) else framed):
                if i:
                    time.sleep(0.1)
                conn.sendall(piece)
            framed = b"".join([framed] if isinstance(framed, bytes) else framed)
            if b"connection: close" in framed.lower().partition(b"\r\n\r\n")[0]:
                return


class CrawlingUploadServer(RawServer):
    """Reads each request 16 KiB at a time, 20 ms apart (its receive buffer small): every write of
    a large request is taken in time, the whole takes seconds. Answers a whole one with a
    SubmitRsp; `answered` counts those."""

    def __init__(self):
        super().__init__()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # (inherited by what it accepts)
        self.answered = 0

    def answer(self, conn, stop):
        got = _head_fields(conn, b"")
        if got is None:
            return
        fields, body = got
        chunks, size = [body], len(body)
        while size < int(fields["content-length"]) and not stop.wait(0.02):
            data = conn.recv(16384)
            if not data:
                return
            chunks.append(data)
            size += len(data)
        if size < int(fields["content-length"]):
            return  # (stopped before the body came whole: a tolerant decode would take what came for a request)
        env = mm7.decode(b"".join(chunks), fields["content-type"])
        out = mm7.encode(mm7.SubmitRsp(message_id="slow"), transaction_id=env.transaction_id, version=env.version)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + out.content_type.encode() + b"\r\nContent-Length: "
                     + str(len(out.to_bytes())).encode() + b"\r\n\r\n" + out.to_bytes())
        self.answered += 1


def _request_line(conn) -> str:
    """The first line of the request a proxy is asked, its head read whole."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(65536)
        if not data:
            break
        head += data
    return head.split(b"\r\n", 1)[0].decode("latin-1")


class RefusingProxy(RawServer):
    """An HTTP proxy answering every request (a CONNECT to an https MMSC among them) with
    `status`, then closing: nothing it is asked for reaches an MMSC. `asked` holds the request lines."""

    def __init__(self, status: bytes = b"403 Forbidden"):
        super().__init__()
        self.status, self.asked = status, []
        self.url = self.url.removesuffix("/mm7")

    def answer(self, conn, stop):
        self.asked.append(_request_line(conn))
        conn.sendall(b"HTTP/1.1 " + self.status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class SilentProxy(RawServer):
    """An HTTP proxy that reads what it is asked for (`asked` holds the request lines) and never
    answers: a CONNECT to an https MMSC waits for a tunnel that never opens."""

    hang_up = False

    def __init__(self):
        super().__init__()
        self.asked = []
        self.url = self.url.removesuffix("/mm7")

    def answer(self, conn, stop):
        self.asked.append(_request_line(conn))
        if not self.hang_up:
            stop.wait()


class HangingUpProxy(SilentProxy):
    """An HTTP proxy that reads what it is asked for and closes the connection without an answer."""

    hang_up = True


class Killed(BaseException):
    """A sender's process killed (raised where a test kills it: its send's end recorded, say, and
    its claim or outbox item not given back)."""


def killing(*args, **kwargs) -> None:
    """Put in place of what a process killed would have called next: raises `Killed`."""
    raise Killed


# How the MMSC a killed send failed over to answered its last attempt, and whether the request sent
# again by the one taking the send over may then have arrived twice: not after a refusal in a Fault
# (the MMSC said it took nothing); after an answer that says nothing of the request (an error page,
# a connection lost once it went out) it may.
KILLED_SENDS_ANSWERS = [
    ("refused in a Fault", False),
    ("HTTP 500 without a Fault", True),
    ("the connection lost", True),
    ("no answer in time", True),  # (with `times_out_once`)
]


def unavailable_to_killed_send(first_process: list):
    """An MMSC unavailable (HTTP 503: the send fails over) while `first_process[0]`, as usual after."""
    return lambda req: Reply(503, b"busy") if first_process[0] else default_responder(req)


def answering_killed_send(answer: str, first_process: list, gave_up: threading.Event):
    """An MMSC answering as `answer` (of `KILLED_SENDS_ANSWERS`) says while `first_process[0]`, as
    usual after; "no answer in time": once `gave_up` is set (`times_out_once`)."""
    def mmsc(req: Request) -> Reply:
        if not first_process[0]:
            return default_responder(req)
        if answer == "refused in a Fault":
            refusal = mm7.Fault(code="Client", string="address error",
                                detail=mm7.RSErrorRsp(status=mm7.Status(2002, "Address Error")))
            return mm7_reply(refusal, req.decode(), 500)
        if answer == "no answer in time":
            return Reply(hold=gave_up)
        return Reply(500, b"internal error") if answer == "HTTP 500 without a Fault" else Reply(drop=True)
    return mmsc


@contextmanager
def mmscs_of_a_killed_send(store, answer: str):
    """Two MMSCs and a client sending to them (in that order, with `store`) for a send that fails
    over from the first, unavailable, to the second, answering as `answer` (of
    `KILLED_SENDS_ANSWERS`) says, while the first process runs: (a, b, client, first_process),
    where setting `first_process[0]` False has both answer as usual."""
    first_process, gave_up = [True], threading.Event()
    with FakeServer(unavailable_to_killed_send(first_process)) as a, \
            FakeServer(answering_killed_send(answer, first_process, gave_up)) as b, \
            mm7.Client((a.url, b.url), store=store, retry=mm7.RetryPolicy(max_attempts=2, backoff=0.01)) as client:
        if answer == "no answer in time":
            times_out_once(client, gave_up, b.url)
        yield a, b, client, first_process
