"""How the embedded servers delimit a request's body (RFC 9112 §6), over raw loopback sockets:
chunked bodies, malformed or conflicting lengths, bodies cut short, and what is answered when a
request cannot be read. waitress serves plain HTTP; the TLS server is the standard library's
WSGI server, which leaves all of this to the application unless the server does it."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl

import pytest

import mm7bind as mm7
from mm7bind.chunked import ChunkedReader, FramingError
from mm7bind.store import SqliteStore

from .tls import local_tls


class Recorder(mm7.Handler):
    def __init__(self):
        self.calls = []

    def on_deliver(self, msg, ctx):
        self.calls.append(msg)


def mo(tid: str = "mo-1", size: int = 20_000) -> mm7.HttpMessage:
    picture = bytes(range(256)) * (size // 256)
    parts = [mm7.Part.text("hello"), mm7.Part.from_bytes(picture, "image/jpeg")]
    msg = mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000", subject="hi", content=mm7.Content(parts=parts))
    return mm7.encode(msg, transaction_id=tid)


def chunked(data: bytes, size: int = 1000, extension: bytes = b"") -> bytes:
    return b"".join(b"%x%s\r\n%s\r\n" % (len(data[i:i + size]), extension, data[i:i + size])
                    for i in range(0, len(data), size)) + b"0\r\n"


def exchange(srv, wrap, data: bytes, timeout: float = 10) -> bytes:
    """Send `data` on a new connection and read until the server closes it (a hang guard, not a
    measure: every case here is answered at once, or closed at once)."""
    with wrap(socket.create_connection((srv.host, srv.port), timeout=timeout)) as sock:
        sock.sendall(data)
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
            if b"HTTP/1.1 200" in answer or b"HTTP/1.0 200" in answer:
                head, _, body = answer.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break  # (waitress keeps the connection: the answer is whole)
        return answer


def statuses(answer: bytes) -> list[int]:
    return [int(line.split(b" ")[1]) for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.")]


def head(out: mm7.HttpMessage, *fields: str, target: str = "/mm7") -> bytes:
    return (f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {out.content_type}\r\nSOAPAction: \"\"\r\n"
            + "".join(f"{f}\r\n" for f in fields) + "\r\n").encode()


def test_a_body_cut_short_is_not_taken_and_the_whole_one_sent_again_is(server_tls, tmp_path):
    """A peer closing half-way: what came is no message. Taken, it was stored under its
    TransactionID, and the MMSC's whole copy, sent again, answered as a repeat: lost."""
    tls_context, wrap = server_tls
    h = Recorder()
    store = SqliteStore(tmp_path / "inbox.db")
    out = mo("cut-1")
    body = out.to_bytes()
    try:
        with mm7.serve(mm7.Receiver(h, store=store), port=0, ssl_context=tls_context) as srv:
            sock = wrap(socket.create_connection((srv.host, srv.port), timeout=10))
            sock.sendall(head(out, f"Content-Length: {len(body)}") + body[: len(body) * 2 // 3])
            if tls_context:  # TLS closed properly (the server reads an end, not an error)...
                with contextlib.suppress(ssl.SSLError):  # (... and its answer comes before its close_notify)
                    sock.unwrap()
            else:
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):  # until the server has done with it
                    pass
            sock.close()
            whole = head(out, f"Content-Length: {len(body)}", "Connection: close") + body
            answer = exchange(srv, wrap, whole)
        assert statuses(answer) == [200]
        assert [[p.size for p in msg.content.parts] for msg in h.calls] == [[5, 256 * (20_000 // 256)]]
    finally:
        store.close()


@pytest.mark.parametrize("end", ["closed", "overdue"])
def test_a_body_cut_short_is_logged_and_counted_as_incomplete(server_tls, end, caplog):
    """A body that never came whole is a refusal like the others: waitress closed such a
    connection without a word or a count (the app never sees it), and the TLS server's 400 and
    408 were logged but not counted."""
    import logging

    from mm7bind.metrics import Metrics

    tls_context, wrap = server_tls
    rx = mm7.Receiver(Recorder(), metrics=Metrics())
    out = mo("cut-2")
    body = out.to_bytes()
    caplog.set_level(logging.WARNING)
    with mm7.serve(rx, port=0, ssl_context=tls_context, request_timeout=2, channel_timeout=30) as srv:
        with wrap(socket.create_connection((srv.host, srv.port), timeout=30)) as sock:
            sock.sendall(head(out, f"Content-Length: {len(body)}") + body[:1000])
            if end == "closed" and tls_context:
                with contextlib.suppress(ssl.SSLError):  # (the server's answer and close end it)
                    sock.unwrap()
            else:
                if end == "closed":
                    sock.shutdown(socket.SHUT_WR)
                with contextlib.suppress(OSError):  # until the server has done with it
                    while sock.recv(65536):
                        pass
    said = [r.getMessage() for r in caplog.records if "not taken" in r.getMessage() or "closed the" in r.getMessage()]
    received = "some" if end == "overdue" and tls_context else "1000"  # (the TLS server's reader keeps no count)
    why = "the connection closed" if end == "closed" else \
        "not complete in time (timed out: past the exchange's deadline)" if tls_context else "not complete after 2 s"
    assert said == [f"request from 127.0.0.1 not taken: {why} after {received} bytes of its body (of {len(body)})"]
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 1
    assert 'outcome="incomplete"' in rx.metrics.render()
    if end == "overdue":  # (timed from its start, as long as it was given: not as 0 s)
        assert rx.metrics.count("mm7bind_receive_seconds") == 1 and seconds_taken(rx) >= 1.8


def seconds_taken(rx) -> float:
    """The receiver's mm7bind_receive_seconds sum, of the requests without an operation."""
    [taken] = re.findall(r'^mm7bind_receive_seconds_sum\{operation=""\} (\S+)$', rx.metrics.render(), re.M)
    return float(taken)


def send_and_close(srv, tls_context, wrap, data: bytes) -> bytes:
    """Send `data`, end the connection's sending side (TLS closed properly: the server reads an
    end, not an error) and read what the server answers until it has done with it."""
    answer = b""
    with wrap(socket.create_connection((srv.host, srv.port), timeout=30)) as sock:
        sock.sendall(data)
        if tls_context:
            with contextlib.suppress(ssl.SSLError):  # (the server's answer comes before its close_notify)
                sock.unwrap()
                return answer
        sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


@pytest.mark.parametrize("cut", ["in a chunk", "in a chunk-size line", "before the last chunk"])
def test_a_chunked_body_cut_short_is_counted_as_incomplete_on_either_server(server_tls, cut, caplog):
    """waitress counted a chunked body whose peer closed before its last chunk as incomplete;
    the TLS server answered it 400 as malformed framing, logged and not counted."""
    import logging

    from mm7bind.metrics import Metrics

    tls_context, _wrap = server_tls
    rx = mm7.Receiver(Recorder(), metrics=Metrics())
    out = mo("cut-3")
    framed = chunked(out.to_bytes())
    sent = {"in a chunk": framed[:1500], "in a chunk-size line": framed[:framed.index(b"\r\n", 1010) + 3],
            "before the last chunk": framed[:-len(b"0\r\n")]}[cut]
    caplog.set_level(logging.WARNING)
    with mm7.serve(rx, port=0, ssl_context=tls_context, channel_timeout=30) as srv:
        send_and_close(srv, tls_context, _wrap, head(out, "Transfer-Encoding: chunked") + sent)
    said = [r.getMessage() for r in caplog.records if "not taken" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("request from 127.0.0.1 not taken: the connection closed after ")
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 1


def test_a_chunked_body_past_the_deadline_is_told_with_what_came_of_it(server_tls, caplog):
    """The TLS server told no count for a chunked body past its deadline (it has no declared
    length): the log said "some bytes", where waitress says how many."""
    import logging
    import re

    from mm7bind.metrics import Metrics

    tls_context, wrap = server_tls
    rx = mm7.Receiver(Recorder(), metrics=Metrics())
    out = mo("late-1")
    caplog.set_level(logging.WARNING)
    with mm7.serve(rx, port=0, ssl_context=tls_context, request_timeout=1, channel_timeout=30) as srv:
        exchange(srv, wrap, head(out, "Transfer-Encoding: chunked") + chunked(out.to_bytes())[:1500], timeout=30)
    said = [r.getMessage() for r in caplog.records if "not taken" in r.getMessage()]
    assert len(said) == 1 and re.fullmatch(r"request from 127\.0\.0\.1 not taken: not complete .* after [0-9]+ "
                                           r"bytes of its body", said[0]), said
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 1


def test_an_on_incomplete_of_ones_own_taking_four_arguments_is_told_as_before(server_tls):
    """The embedded servers tell `Receiver.incomplete` when a request began (`started=`): an
    application's own callable, written for the four arguments, is still called with those."""
    tls_context, wrap = server_tls
    told = []
    with mm7.serve(mm7.Receiver(Recorder()), port=0, ssl_context=tls_context, request_timeout=30, channel_timeout=30,
                   on_incomplete=lambda peer, received, declared, why: told.append((received, declared, why))) as srv:
        send_and_close(srv, tls_context, wrap, b"POST /mm7 HTTP/1.1\r\nHost: x\r\nContent-Le")
    assert told == [(None, None, "the connection closed in its headers")]


def test_malformed_chunked_framing_is_no_incomplete_body(server_tls):
    """Told apart from a body cut short: a chunk-size line that is no number is the peer's
    framing, answered 400 and not counted as a body that never came whole."""
    from mm7bind.metrics import Metrics

    tls_context, wrap = server_tls
    rx = mm7.Receiver(Recorder(), metrics=Metrics())
    out = mo("bad-1")
    with mm7.serve(rx, port=0, ssl_context=tls_context, channel_timeout=30) as srv:
        answer = exchange(srv, wrap, head(out, "Transfer-Encoding: chunked")
                          + b"3e8\r\n" + out.to_bytes()[:1000] + b"\r\nzz\r\n")
    assert statuses(answer) == [400]
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 0


@pytest.mark.parametrize("end", ["closed", "overdue"])
@pytest.mark.parametrize("sent", [b"POST /mm7 HTT", b"POST /mm7 HTTP/1.1\r\nHost: x\r\nContent-Le"])
def test_a_request_cut_short_in_its_headers_is_counted_as_incomplete_on_either_server(server_tls, sent, end, caplog):
    """Headers that never came whole: waitress logged the overdue ones only and counted none; the
    TLS server took the stream's end for the end of the headers and handled what had come (a
    "malformed" request), and an overdue one was a connection dropped, at INFO."""
    import logging

    from mm7bind.metrics import Metrics

    tls_context, wrap = server_tls
    rx = mm7.Receiver(Recorder(), metrics=Metrics())
    caplog.set_level(logging.WARNING)
    with mm7.serve(rx, port=0, ssl_context=tls_context, request_timeout=1, channel_timeout=30) as srv:
        if end == "closed":
            answer = send_and_close(srv, tls_context, wrap, sent)
        else:
            answer = exchange(srv, wrap, sent, timeout=30)
    said = [r.getMessage() for r in caplog.records if "not taken" in r.getMessage() or "closed the" in r.getMessage()]
    why = "the connection closed" if end == "closed" else "not complete after 1 s"
    assert said == [f"request from 127.0.0.1 not taken: {why} in its headers"]
    assert [line for line in rx.metrics.render().splitlines() if line.startswith("mm7bind_received_total")] == [
        'mm7bind_received_total{operation="",outcome="incomplete",status=""} 1']
    assert statuses(answer) == []
    if end == "overdue":  # (timed from its start: not as 0 s)
        assert seconds_taken(rx) >= 0.9


def test_a_connection_closed_before_a_request_is_no_incomplete_one(server_tls):
    """Empty lines and the end: no request began (a port check), nothing to count."""
    from mm7bind.metrics import Metrics

    tls_context, wrap = server_tls
    rx = mm7.Receiver(Recorder(), metrics=Metrics())
    with mm7.serve(rx, port=0, ssl_context=tls_context, channel_timeout=30) as srv:
        assert send_and_close(srv, tls_context, wrap, b"\r\n") == b""
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 0


def test_chunked_bodies_are_decoded_whatever_their_extensions_and_trailers(server_tls):
    tls_context, wrap = server_tls
    h = Recorder()
    out = mo("chunked-1")
    with mm7.serve(mm7.Receiver(h), port=0, ssl_context=tls_context) as srv:
        answer = exchange(srv, wrap, head(out, "Transfer-Encoding: chunked", "Connection: close")
                          + chunked(out.to_bytes(), 777, b';name="value"') + b"X-Checksum: 1\r\n\r\n")
    assert statuses(answer) == [200]
    assert [[p.size for p in msg.content.parts] for msg in h.calls] == [[5, 256 * (20_000 // 256)]]


@pytest.mark.parametrize(("fields", "body", "status"), [
    (["Transfer-Encoding: chunked"], b"zz\r\nhello\r\n0\r\n\r\n", 400),  # no hexadecimal size
    (["Transfer-Encoding: chunked"], b"3\r\nhello\r\n0\r\n\r\n", 400),  # a chunk longer than its size
    (["Transfer-Encoding: gzip, chunked"], b"0\r\n\r\n", 501),
    (["Content-Length: 5", "Content-Length: 7"], b"hello", 400),
    (["Content-Length: -1"], b"hello", 400),
    (["Content-Length: 5x"], b"hello", 400),
    (["Content-Length : 5"], b"hello", 400),  # (a field name may not end in a space)
])
def test_a_body_that_cannot_be_delimited_is_refused_at_once(server_tls, fields, body, status):
    """RFC 9112 §6.3: invalid framing is a 400 (an unknown coding 501), answered now: the TLS
    server read such a body until the peer closed or its timer ran out, then answered 500."""
    tls_context, wrap = server_tls
    h = Recorder()
    with mm7.serve(mm7.Receiver(h), port=0, channel_timeout=60, request_timeout=120, ssl_context=tls_context) as srv:
        answer = exchange(srv, wrap, head(mo(), *fields) + body)
    assert statuses(answer) == [status] and h.calls == []


def test_a_request_with_both_lengths_is_taken_by_its_chunks_and_ends_the_connection(server_tls):
    """Content-Length beside Transfer-Encoding is how a request is smuggled past a proxy that
    reads the other one: the chunks delimit the body (waitress) or it is refused (the TLS server),
    and either way no request after it on the connection is read (RFC 9112 §6.1)."""
    tls_context, wrap = server_tls
    h = Recorder()
    out = mo("both-1")
    body = out.to_bytes()
    smuggled = head(out, f"Content-Length: {len(body)}")[:-2] + b"Connection: close\r\n\r\n" + body
    with mm7.serve(mm7.Receiver(h), port=0, ssl_context=tls_context) as srv:
        answer = exchange(srv, wrap, head(out, "Content-Length: 10", "Transfer-Encoding: chunked")
                          + chunked(body) + b"\r\n" + smuggled)
    assert statuses(answer) == ([400] if tls_context else [200]) and len(h.calls) == (0 if tls_context else 1)


def test_a_request_without_a_body_is_answered_at_once(server_tls):
    """No Content-Length and no chunks: no body (RFC 9112 §6.3), not one read until the peer
    closes; a GET to the MM7 path is a 405 at once, a bare POST the receiver's fault."""
    tls_context, wrap = server_tls
    with mm7.serve(mm7.Receiver(Recorder()), port=0, channel_timeout=60, request_timeout=120, ssl_context=tls_context) as srv:
        got = exchange(srv, wrap, b"GET /mm7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert statuses(got) == [405]
        bare = exchange(srv, wrap, b"POST /mm7 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                                   b"Connection: close\r\n\r\n")
        assert statuses(bare) == [500] and b"Envelope" in bare


def test_an_absolute_form_target_is_served_at_its_path(server_tls):
    tls_context, wrap = server_tls
    h = Recorder()
    out = mo("absolute-1")
    with mm7.serve(mm7.Receiver(h), port=0, ssl_context=tls_context) as srv:
        target = f"{srv.url}/mm7"
        answer = exchange(srv, wrap, head(out, f"Content-Length: {len(out.to_bytes())}", "Connection: close",
                                          target=target) + out.to_bytes())
    assert statuses(answer) == [200] and len(h.calls) == 1


def test_an_absolute_form_target_no_url_parser_takes_is_a_400(server_tls, caplog):
    """urlsplit refuses "http://[10.0.0.1/mm7" (an unbalanced [): both servers let its ValueError
    out, and the connection was closed with no answer (waitress) or a traceback logged (TLS)."""
    import logging

    tls_context, wrap = server_tls
    h = Recorder()
    out = mo("absolute-2")
    with mm7.serve(mm7.Receiver(h), port=0, ssl_context=tls_context) as srv, caplog.at_level(logging.ERROR):
        answer = exchange(srv, wrap, head(out, f"Content-Length: {len(out.to_bytes())}", "Connection: close",
                                          target="http://[10.0.0.1/mm7") + out.to_bytes())
    assert statuses(answer) == [400] and b"Bad URI" in answer and not h.calls
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_request_saying_http_0_9_gets_an_answer_with_its_status_line(server_tls):
    """The standard library answers "HTTP/0.9" as 0.9 asks, the body alone: the TLS server's
    answer had no status line and no headers. Both servers read such a request as HTTP/1.0."""
    tls_context, wrap = server_tls
    h = Recorder()
    out = mo("old-1")
    with mm7.serve(mm7.Receiver(h), port=0, ssl_context=tls_context) as srv:
        answer = exchange(srv, wrap, head(out, f"Content-Length: {len(out.to_bytes())}", "Connection: close")
                          .replace(b" HTTP/1.1\r\n", b" HTTP/0.9\r\n", 1) + out.to_bytes())
    assert answer.startswith(b"HTTP/1.") and statuses(answer) == [200] and len(h.calls) == 1


def test_empty_lines_before_the_request_line_are_passed_over(server_tls):
    """RFC 9112 §2.2: a server SHOULD ignore empty lines before the request line. The TLS server
    took the first for an empty request and closed the connection without an answer."""
    tls_context, wrap = server_tls
    h = Recorder()
    out = mo("blank-1")
    with mm7.serve(mm7.Receiver(h), port=0, ssl_context=tls_context) as srv:
        answer = exchange(srv, wrap, b"\r\n\n\r\n" + head(out, f"Content-Length: {len(out.to_bytes())}",
                                                          "Connection: close") + out.to_bytes())
        assert statuses(answer) == [200] and len(h.calls) == 1
        # As many as waitress passes over (past 100 the TLS server closed the connection unanswered)
        answer = exchange(srv, wrap, b"\r\n" * 1000 + head(out, f"Content-Length: {len(out.to_bytes())}",
                                                             "Connection: close") + out.to_bytes())
        assert statuses(answer) == [200] and len(h.calls) == 2
        if tls_context is not None:  # (waitress waits for more, an empty request every two lines)
            answer = exchange(srv, wrap, b"\r\n" * 40_000)  # (past the 64 KiB of request line and headers)
            assert statuses(answer) == [400] and b"empty lines before the request line" in answer


def test_a_body_not_complete_in_time_is_a_408_and_a_log_line_not_a_traceback(caplog, capsys):
    import logging

    tls = local_tls()
    caplog.set_level(logging.WARNING, logger="mm7bind.server")
    with mm7.serve(mm7.Receiver(Recorder()), port=0, ssl_context=tls.server, channel_timeout=1) as srv:
        answer = exchange(srv, lambda sock: tls.client.wrap_socket(sock, server_hostname="127.0.0.1"),
                          head(mo(), "Content-Length: 100") + b"partial")
    assert statuses(answer) == [408]
    assert any("not taken" in r.getMessage() for r in caplog.records)
    assert "Traceback" not in capsys.readouterr().err


def _tls_request_cut_short(framing: str, transaction_id: str):
    """A TLS server's context, a receiver counting what it takes, and the head and first part of a
    DeliverReq's body in `framing` ("Content-Length" or "chunked"): a request whose rest never comes."""
    from mm7bind.metrics import Metrics

    out = mo(transaction_id)
    body = out.to_bytes()
    sent = (head(out, f"Content-Length: {len(body)}") + body[:1000] if framing == "Content-Length"
            else head(out, "Transfer-Encoding: chunked") + chunked(body)[:1500])
    return local_tls(), mm7.Receiver(Recorder(), metrics=Metrics()), sent


def test_a_tls_peer_leaving_inside_its_request_line_is_a_log_line_not_a_traceback(caplog, capsys):
    """The request line cut short by the peer closing (without a TLS close_notify): the server went
    on with it and asked the broken TLS connection for the peer's certificate, whose ValueError
    ("handshake not done yet") was logged as an unexpected error with its traceback."""
    import logging
    import time

    tls = local_tls()
    caplog.set_level(logging.INFO, logger="mm7bind.server")
    with mm7.serve(mm7.Receiver(Recorder()), port=0, ssl_context=tls.server) as srv:
        sock = tls.client.wrap_socket(socket.create_connection((srv.host, srv.port), timeout=10),
                                      server_hostname="127.0.0.1")
        sock.sendall(b"POST /mm7 HTTP/1.1")
        sock.close()
        for _ in range(100):  # (until the server's thread has seen the end: a guard, not a measure)
            if any("127.0.0.1" in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.05)
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "127.0.0.1" in r.getMessage()]
    assert said and all(level < logging.ERROR for level, _ in said), said
    assert "Traceback" not in capsys.readouterr().err


def test_the_tls_servers_access_log_shows_the_request_line_printable(caplog):
    import logging

    tls = local_tls()
    caplog.set_level(logging.DEBUG, logger="mm7bind.server")
    with mm7.serve(mm7.Receiver(Recorder()), port=0, ssl_context=tls.server) as srv:
        exchange(srv, lambda sock: tls.client.wrap_socket(sock, server_hostname="127.0.0.1"),
                 b"GET /mm7\x1b[2J\rforged HTTP/1.0\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records if r.name == "mm7bind.server"]
    assert any("/mm7\\x1b[2J" in line for line in lines), lines
    assert not any("\x1b" in line or "\r" in line for line in lines), lines


class Pieces:
    """A reader giving at most `step` bytes a read, as a socket may."""

    def __init__(self, data: bytes, step: int = 3):
        import io

        self.raw, self.step = io.BytesIO(data), step

    def read(self, n: int = -1) -> bytes:
        return self.raw.read(self.step if n < 0 else min(n, self.step))

    def readline(self, limit: int = -1) -> bytes:
        return self.raw.readline(limit)


def test_a_body_in_tiny_chunks_is_read_in_memory_proportional_to_it():
    """The TLS server's reader kept each chunk's bytes as an object of its own until the body was
    whole: 40 bytes and more for a chunk of 2, so 10 MB sent in 5 million of them held 650 MB.
    The body is now gathered in one buffer."""
    import io

    from .conftest import traced_memory

    data = b"ab" * 100_000
    wire = io.BufferedReader(io.BytesIO(chunked(data, 2) + b"\r\n"))
    with traced_memory() as memory:
        assert ChunkedReader(wire).read(len(data) + 1) == data
    assert memory.peak < 4 * len(data), f"{memory.peak} bytes held at once for a body of {len(data)}"


def test_the_chunked_reader_reads_in_any_amounts_and_refuses_what_is_not_chunked():
    data = bytes(range(256)) * 40
    for amount in (1, 7, 1000, -1):
        reader, got = ChunkedReader(Pieces(chunked(data, 999) + b"\r\n")), b""
        while chunk := reader.read(amount):
            got += chunk
        assert got == data
    assert ChunkedReader(Pieces(chunked(data) + b"\r\n")).read(len(data) + 1) == data  # (as the app reads)
    for broken in (b"", b"5\r\nhel", chunked(data)[:-3], b"-5\r\nhello\r\n0\r\n\r\n", b"5" * 5000 + b"\r\n",
                   b"0\r\n" + b"X-T: 1\r\n" * 20000 + b"\r\n", b"0x5\r\nhello\r\n0\r\n\r\n",
                   b"5\r\r\nhello\r\n0\r\n\r\n"):  # (the size line ends once, not twice)
        with pytest.raises(FramingError):
            ChunkedReader(Pieces(broken)).read(-1)


def test_a_chunk_size_too_large_for_one_read_is_a_body_cut_short_when_it_all_is_read():
    """read() of it all (as an app under the TLS server may ask, Flask's get_data) asked the
    stream for the whole chunk at once: a size of 16 hexadecimal digits was an OverflowError out
    of the socket's reader (answered 500), not the peer's body cut short after its 3 bytes."""
    import io

    from mm7bind.chunked import BodyCutShort

    for size in (b"FFFFFFFFFFFFFFFF", b"7FFFFFFFFFFFFFFF"):
        with pytest.raises(BodyCutShort) as cut:
            ChunkedReader(io.BufferedReader(io.BytesIO(size + b"\r\nabc"))).read()
        assert cut.value.received == 3


def test_a_body_over_max_body_refused_by_waitress_is_logged_and_counted_and_one_of_max_body_is_taken(caplog):
    """waitress refuses a body over its limit before the app sees it: the refusal went unsaid (an
    MMSC's large MMS lost without a trace on our side), and a body of exactly max_body was refused
    there while every other server takes it."""
    import logging

    from mm7bind.metrics import Metrics

    h = Recorder()
    out = mo("limit-1")
    size = len(out.to_bytes())
    caplog.set_level(logging.WARNING, logger="mm7bind.receiver")
    rx = mm7.Receiver(h, max_body=size, metrics=Metrics())
    big = mo("limit-2", size=30_000)
    plain = lambda sock: sock  # noqa: E731
    with mm7.serve(rx, port=0) as srv:
        taken = exchange(srv, plain, head(out, f"Content-Length: {size}", "Connection: close") + out.to_bytes())
        refused = exchange(srv, plain, head(big, f"Content-Length: {len(big.to_bytes())}") + big.to_bytes())
        streamed = exchange(srv, plain, head(big, "Transfer-Encoding: chunked") + chunked(big.to_bytes()) + b"\r\n")
    assert [statuses(taken), statuses(refused), statuses(streamed)] == [[200], [413], [413]]
    assert len(h.calls) == 1
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        f"refused a request from 127.0.0.1: {len(big.to_bytes())} bytes, over max_body ({size} bytes)",
        f"refused a request from 127.0.0.1: its body is over max_body ({size} bytes)"]
    assert rx.metrics.value("mm7bind_received_total", outcome="too_large") == 2


def test_a_body_refused_on_its_declared_length_gets_the_413_not_a_reset(tmp_path):
    """The TLS server answered 413 without reading the body and closed: the peer, still sending,
    got a reset most of the time, our answer lost with it (and an MMSC sends again what it cannot
    know was refused). It now closes its side and reads what still comes, as RFC 9112 §9.6 asks."""
    import requests

    tls = local_tls(tmp_path)
    with mm7.serve(mm7.Receiver(max_body=100_000), port=0, ssl_context=tls.server) as srv:
        seen = []
        for _ in range(10):
            try:
                seen.append(requests.post(srv.url + "/mm7", data=bytes(3_000_000), headers={"Content-Type": "text/xml"},
                                          verify=str(tls.ca_file), timeout=10).status_code)
            except requests.ConnectionError as exc:
                seen.append(type(exc).__name__)
    assert seen == [413] * 10


def _closed_while_trickling(srv, wrap, prefix: bytes, limit: float = 20) -> bool:
    """Send `prefix` at once, then a byte every 0.2 s (for far longer than `limit`): whether the
    server closed the connection within `limit` seconds (a hang guard, not a measure)."""
    import time

    with wrap(socket.create_connection((srv.host, srv.port), timeout=10)) as sock:
        sock.sendall(prefix)
        sock.settimeout(0.2)
        start = time.monotonic()
        while time.monotonic() - start < limit:
            try:
                sock.sendall(b"a")
                if sock.recv(65536) == b"":
                    return True
            except TimeoutError:
                continue
            except OSError:  # reset: closed as well
                return True
            # (an answer came, the 408: read on until the close)
    return False


@pytest.mark.parametrize("part", ["header line", "body"])
def test_one_header_line_or_a_body_trickling_in_is_cut_off_at_the_deadline(server_tls, part):
    """The TLS server checked its deadline once per buffered read: one header line (up to 64 KiB)
    or a whole body, a byte now and then, was a single read that never ended."""
    tls_context, wrap = server_tls
    prefix = b"POST /mm7 HTTP/1.1\r\nHost: x\r\n" + (b"X-Slow: " if part == "header line" else
                                                     b"Content-Type: text/xml\r\nContent-Length: 100000\r\n\r\n")
    with mm7.serve(mm7.Receiver(Recorder()), port=0, request_timeout=2, channel_timeout=30, ssl_context=tls_context) as srv:
        assert _closed_while_trickling(srv, wrap, prefix)


@pytest.mark.parametrize("target", ["/mm7", "/elsewhere"])
def test_an_answer_to_head_has_no_body(server_tls, target):
    """RFC 9110 §9.3.2: the 405 (or 404) said to a HEAD went out with its body, which a client
    keeping the connection reads as the start of its next answer."""
    tls_context, wrap = server_tls
    with mm7.serve(mm7.Receiver(Recorder()), port=0, ssl_context=tls_context) as srv:
        answer = exchange(srv, wrap, f"HEAD {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head_, _, body = answer.partition(b"\r\n\r\n")
    assert statuses(answer) == [405 if target == "/mm7" else 404] and body == b""
    assert b"content-length:" in head_.lower()


def test_the_simulator_answers_head_without_a_body():
    from mm7bind.simulator import Simulator

    with Simulator() as sim:
        answer = exchange(sim.server, lambda sock: sock,
                          b"HEAD /control/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert statuses(answer) == [200] and answer.partition(b"\r\n\r\n")[2] == b""


def test_headers_over_max_header_are_a_431_serving_tls_too(server_tls):
    """max_header bounds the request line and headers together whichever server serves: the
    standard library's alone took 100 lines of 64 KiB each, and held them all."""
    tls_context, wrap = server_tls
    h = Recorder()
    out = mo("headers-1", size=100)
    data = out.to_bytes()
    with mm7.serve(mm7.Receiver(h), port=0, ssl_context=tls_context, max_header=8192) as srv:
        fits = exchange(srv, wrap, head(out, f"X-Carrier: {'a' * 6000}", f"Content-Length: {len(data)}",
                                        "Connection: close") + data)
        over = exchange(srv, wrap, head(out, *(f"X-Carrier-{i}: {'a' * 3000}" for i in range(3)),
                                        f"Content-Length: {len(data)}", "Connection: close") + data)
    assert statuses(fits) == [200] and statuses(over) == [431] and len(h.calls) == 1


def test_plain_http_to_the_tls_port_is_answered_400_saying_https(caplog):
    """An http:// URL for a receiver serving TLS (a common slip): the handshake fails on the
    request's first bytes, and the client saw the connection closed without an answer — sent again,
    as a request the server may have, and nothing said that the URL should be https. It is answered
    in plain HTTP, as nginx does: a 400 that says so, which the client shows and does not retry."""
    tls = local_tls()
    h = Recorder()
    msg = mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000", subject="hi")
    with mm7.serve(mm7.Receiver(h), port=0, ssl_context=tls.server) as srv:
        plain = srv.url.replace("https://", "http://")
        with mm7.Client(plain, role="mmsc", retry=mm7.RetryPolicy(max_attempts=3, backoff=0)) as client, \
                pytest.raises(mm7.HTTPStatusError) as err, caplog.at_level("WARNING", "mm7bind.server"):
            client.send(msg)
    assert err.value.status == 400 and err.value.attempts == 1 and h.calls == []
    assert "plain HTTP was sent to it; use an https:// URL" in str(err.value), str(err.value)
    assert any("plain HTTP" in r.getMessage() and "https://" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("framing", ["Content-Length", "chunked"])
def test_a_tls_peer_leaving_mid_body_without_close_notify_is_one_warning_and_counted(framing):
    """A TLS peer gone mid-body without closing TLS (its process killed, its connection cut: no
    close_notify, an SSL EOF to the server) is told as plain HTTP's is: one WARNING, counted as
    incomplete. The failed write of the answer to it was a second line, a WARNING ("TLS
    connection failed") after a chunked body, an INFO after one with a length. (That write fails
    under OpenSSL 3, the peer's EOF having ended the TLS session; another build may send it. The
    test waits for the connection's handling to end, not for a line on that write: waiting for one,
    it waited out its 30 s where the write went out.)"""
    import logging
    import threading

    tls, rx, sent = _tls_request_cut_short(framing, "ragged-1")
    records, told = [], threading.Event()

    class Heard(logging.Handler):
        def emit(self, record):
            records.append(record)
            if "not taken" in record.getMessage():
                told.set()

    heard, logger = Heard(logging.DEBUG), logging.getLogger("mm7bind")
    logger.addHandler(heard)
    level, logger.level = logger.level, logging.DEBUG
    try:
        with mm7.serve(rx, port=0, ssl_context=tls.server, channel_timeout=30) as srv:
            running = set(threading.enumerate())
            sock = tls.client.wrap_socket(socket.create_connection((srv.host, srv.port), timeout=30),
                                          server_hostname="127.0.0.1")
            sock.sendall(sent)
            sock.close()  # (the socket closed under TLS: no close_notify sent)
            assert told.wait(30)
            # The connection's thread (started since): its answer written or not, what it logs is
            # logged once it has ended.
            for handling in set(threading.enumerate()) - running:
                handling.join(30)
                assert not handling.is_alive()
    finally:
        logger.removeHandler(heard)
        logger.setLevel(level)
    warned = [r.getMessage() for r in records if r.levelno >= logging.INFO]
    assert len(warned) == 1 and warned[0].startswith("request from 127.0.0.1 not taken: the connection closed after "), warned
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 1


@pytest.mark.parametrize("framing", ["Content-Length", "chunked", "in its headers"])
def test_a_tls_connection_reset_mid_request_is_one_warning_and_counted(framing, monkeypatch, caplog):
    """A reset read as an error (ConnectionResetError: some OpenSSL builds raise it where OpenSSL 3
    reads an end) is a request cut short like the others, as waitress tells it: in a body, wsgiref's
    handler dropped that error without a line, a count or an answer; in the headers, it was an INFO
    line, not counted. Injected under the server's reads: the connection's socket reads what the
    peer sent, then raises as such a build does."""
    import logging

    from mm7bind import server as served

    tls, rx, sent = _tls_request_cut_short("chunked" if framing == "chunked" else "Content-Length", "reset-1")
    if framing == "in its headers":
        sent = b"POST /mm7 HTTP/1.1\r\nHost: x\r\nContent-Le"
    setup = served._QuietHandler.setup

    def resetting_setup(self):
        recv_into, given = self.request.recv_into, [0]

        def recv_into_then_reset(buf, *args):
            if given[0] >= len(sent):
                raise ConnectionResetError(104, "Connection reset by peer")
            given[0] += (n := recv_into(buf, *args))
            return n

        self.request.recv_into = recv_into_then_reset
        setup(self)

    monkeypatch.setattr(served._QuietHandler, "setup", resetting_setup)
    caplog.set_level(logging.INFO)
    with mm7.serve(rx, port=0, ssl_context=tls.server, channel_timeout=30) as srv:
        answer = exchange(srv, lambda sock: tls.client.wrap_socket(sock, server_hostname="127.0.0.1"), sent, timeout=30)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    why = "in its headers" if framing == "in its headers" else "after "
    assert len(said) == 1 and said[0].startswith(f"request from 127.0.0.1 not taken: the connection closed {why}"), said
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 1
    assert statuses(answer) == ([] if framing == "in its headers" else [400])


@pytest.mark.parametrize("framing", ["Content-Length", "chunked"])
def test_a_body_cut_by_a_stop_under_tls_says_the_server_stopped(framing, caplog):
    """A stop closing a connection whose body was still coming (serving TLS: its request is in
    hand from its headers on) told it as "the connection closed", the peer's doing as the log read."""
    import logging
    import time

    tls, rx, sent = _tls_request_cut_short(framing, "stopped-1")
    caplog.set_level(logging.WARNING)
    srv = mm7.serve(rx, port=0, ssl_context=tls.server, channel_timeout=30).start()
    with tls.client.wrap_socket(socket.create_connection((srv.host, srv.port), timeout=30),
                                server_hostname="127.0.0.1") as sock:
        sock.sendall(sent)
        deadline = time.monotonic() + 30
        while srv.server.requests_in_hand() == 0:  # (its headers read: the body's read under way)
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert srv.stop(grace=0.1) == 1
    said = [r.getMessage() for r in caplog.records if "not taken" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("request from 127.0.0.1 not taken: the server stopped after "), said
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 1


def test_a_body_cut_by_a_stop_under_waitress_is_told_and_counted(caplog):
    """waitress hands a request on once its body is whole: a stop closing a connection whose body
    was still coming closed it without a line or a count (serving TLS, it was told: its request is
    in hand from its headers on), and stop() did not count it among those cut off (serving TLS, it
    did: `mm7bind serve` exits 5)."""
    import logging

    from mm7bind.metrics import Metrics

    rx = mm7.Receiver(Recorder(), metrics=Metrics())
    out = mo("stopped-2")
    body = out.to_bytes()
    caplog.set_level(logging.WARNING)
    srv = mm7.serve(rx, port=0, channel_timeout=30).start()
    with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
        sock.sendall(head(out, f"Content-Length: {len(body)}", "Expect: 100-continue"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")  # (its headers read: its body awaited)
        assert srv.stop(grace=0.1) == 1
    said = [r.getMessage() for r in caplog.records if "not taken" in r.getMessage()]
    assert said == [f"request from 127.0.0.1 not taken: the server stopped after 0 bytes of its body (of {len(body)})"]
    assert rx.metrics.value("mm7bind_received_total", outcome="incomplete") == 1


def test_a_stop_under_waitress_gives_a_body_still_arriving_its_grace(caplog):
    """A stop found no request in hand while a body was still arriving (waitress hands a request
    on once it is whole) and closed its connection at once; serving TLS, that request had the
    grace to arrive and be answered."""
    import logging
    import threading

    h = Recorder()
    rx = mm7.Receiver(h)
    out = mo("stopped-3")
    body = out.to_bytes()
    srv = mm7.serve(rx, port=0, channel_timeout=30).start()
    busy, looked = srv._busy, threading.Event()

    def looked_at() -> int:  # (the stop's first look at what is in hand: the listener is closed by then)
        found = busy()
        looked.set()
        return found

    srv._busy = looked_at
    caplog.set_level(logging.WARNING)
    left = []
    with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
        sock.sendall(head(out, f"Content-Length: {len(body)}", "Expect: 100-continue", "Connection: close"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")  # (its headers read: its body awaited)
        stopper = threading.Thread(target=lambda: left.append(srv.stop(grace=30)))
        stopper.start()
        try:
            assert looked.wait(30)
            sock.sendall(body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        finally:
            stopper.join(60)
    assert statuses(answer) == [200] and left == [0]
    assert [msg.subject for msg in h.calls] == ["hi"]
    assert [r.getMessage() for r in caplog.records] == []


# A Content-Length int() reads but RFC 9110 §8.6 does not (digits 0-9 alone): "20_480" and other
# scripts' digits were taken for the body's length (waitress and the TLS server refuse such a
# request themselves; another WSGI or ASGI server may hand it on).
_NOT_LENGTHS = [lambda n: f"{n // 1000}_{n % 1000:03d}", lambda n: str(n).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
                lambda n: f"+{n}", lambda n: f"{n}, {n + 1}"]


@pytest.mark.parametrize("written", _NOT_LENGTHS, ids=["underscore", "arabic-indic", "plus", "two-lengths"])
def test_the_wsgi_app_refuses_a_content_length_that_is_not_ascii_digits(written, caplog):
    import io
    import logging

    h = Recorder()
    out = mo("cl-wsgi")
    body = out.to_bytes()
    app = mm7.wsgi_app(mm7.Receiver(h), "/mm7")
    said = {}
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/mm7", "SCRIPT_NAME": "", "QUERY_STRING": "",
               "CONTENT_TYPE": out.content_type, "CONTENT_LENGTH": written(len(body)), "wsgi.input": io.BytesIO(body),
               "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "test", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    caplog.set_level(logging.WARNING)
    answer = b"".join(app(environ, lambda status, headers: said.update(status=status, headers=dict(headers))))
    assert (said["status"], answer) == ("400 Bad Request", b"invalid Content-Length\n")
    assert said["headers"]["Content-Length"] == str(len(answer))
    assert h.calls == []
    assert [r.getMessage() for r in caplog.records] == [
        (f"request from 127.0.0.1 not taken: its Content-Length {written(len(body))!r} is not a length "
         "(digits only, RFC 9110 §8.6)")]


def test_the_wsgi_app_takes_a_content_length_repeated_alike_or_with_white_space():
    import io

    h = Recorder()
    out = mo("cl-same")
    body = out.to_bytes()
    app = mm7.wsgi_app(mm7.Receiver(h), "/mm7")
    for written in (f"{len(body)}, {len(body)}", f" {len(body)}\t", f"00{len(body)}"):
        said = []
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/mm7", "CONTENT_TYPE": out.content_type,
                   "CONTENT_LENGTH": written, "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1"}
        b"".join(app(environ, lambda status, headers, said=said: said.append(status)))
        assert said == ["200 OK"], written
    assert len(h.calls) == 3


@pytest.mark.parametrize("written", _NOT_LENGTHS, ids=["underscore", "arabic-indic", "plus", "two-lengths"])
def test_the_asgi_app_refuses_a_content_length_that_is_not_ascii_digits(written):
    import asyncio

    from .test_asgi import request

    h = Recorder()
    out = mo("cl-asgi")
    body = out.to_bytes()
    app = mm7.asgi_app(mm7.Receiver(h), "/mm7")
    try:
        answer = asyncio.run(request(app, body, {"Content-Type": out.content_type,
                                                 "Content-Length": written(len(body))}))
    finally:
        app.close()
    assert (answer["status"], answer["body"]) == (400, b"invalid Content-Length\n")
    assert h.calls == []


def test_a_tls_connection_reset_while_its_answer_is_written_is_a_debug_line(monkeypatch, caplog):
    """wsgiref's handler drops a reset (or a broken pipe) met writing the answer without a word:
    the message was handled and stored, its answer lost, and nothing said why the MMSC sent it
    again. Injected under the server's writes: the connection's socket raises as a reset one does."""
    import logging

    from mm7bind import server as served

    tls, rx, _ = _tls_request_cut_short("Content-Length", "reset-2")
    out = mo("reset-2")
    body = out.to_bytes()
    setup = served._QuietHandler.setup

    def resetting_setup(self):
        setup(self)

        def sendall(data, *args):
            raise ConnectionResetError(104, "Connection reset by peer")

        self.request.sendall = sendall

    monkeypatch.setattr(served._QuietHandler, "setup", resetting_setup)
    caplog.set_level(logging.DEBUG, logger="mm7bind.server")
    with mm7.serve(rx, port=0, ssl_context=tls.server, channel_timeout=30) as srv:
        answer = exchange(srv, lambda sock: tls.client.wrap_socket(sock, server_hostname="127.0.0.1"),
                          head(out, f"Content-Length: {len(body)}") + body, timeout=30)
    assert answer == b""
    assert [msg.subject for msg in rx.handler.calls] == ["hi"]  # (handled: its answer alone was lost)
    said = [r for r in caplog.records if r.name == "mm7bind.server" and "not sent" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in said] == [
        (logging.DEBUG, ("the answer (HTTP 200) to 127.0.0.1 was not sent: the connection closed under it "
                         "(ConnectionResetError: [Errno 104] Connection reset by peer)"))]
    # (the server's own lines: the receiver's line for the message, when its level lets INFO by, is not about the reset)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("mm7bind.server")] == []


def test_a_content_length_of_more_digits_than_int_converts_is_refused_as_too_large(server_tls, caplog):
    """A length of 5000 digits is well-formed, and over any max_body: int() refuses it past 4300
    digits, and the TLS server let its ValueError out (an ERROR line with a traceback, the
    connection closed unanswered), waitress answered it as a bad URI. Both refuse it as too large."""
    import logging

    from mm7bind.metrics import Metrics

    tls_context, wrap = server_tls
    told = []
    rx = mm7.Receiver(Recorder(), metrics=Metrics())
    caplog.set_level(logging.WARNING)
    with mm7.serve(rx, port=0, ssl_context=tls_context,
                   on_too_large=lambda peer, size, **request: told.append(size)) as srv:
        answer = exchange(srv, wrap, b"POST /mm7 HTTP/1.1\r\nHost: x\r\nContent-Length: 0" + b"9" * 5000 + b"\r\n\r\n")
    assert statuses(answer) == [413] and told == [None]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
