"""HTTP-level habits of real peers, over loopback sockets: what the receiver takes from an MMSC,
what the client takes from an MMSC, and what each produces when a peer's profile asks for it."""

from __future__ import annotations

import asyncio
import socket

import pytest
import requests

import mm7bind as mm7
from mm7bind import profiles
from mm7bind.client import AsyncClient, Client
from mm7bind.errors import FaultError
from mm7bind.retry import RetryPolicy
from mm7bind.simulator import Simulator

from .fake_http import FakeServer, mm7_reply

NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"


class Recorder(mm7.Handler):
    def __init__(self):
        self.calls = []

    def on_deliver(self, msg, ctx):
        self.calls.append((msg, ctx))


class Refuser(mm7.Handler):
    def on_deliver(self, msg, ctx):
        raise mm7.Reject(4007, "no such service")


def mo() -> mm7.HttpMessage:
    msg = mm7.DeliverReq(recipients=["1065888"], sender="+8613800000000", subject="hi",
                         content=mm7.Content(parts=[mm7.Part.text("hello")]))
    return mm7.encode(msg, transaction_id="mo-1")


def read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """Status line and headers, and the body (as long as Content-Length says)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head, body


def test_expect_100_continue_is_answered_before_the_body_is_sent(server_tls):
    """Some MMSCs (and curl, Java and .NET clients) send `Expect: 100-continue` and hold the body
    back until the server says to go on: the interim answer must come without the body."""
    server_ctx, wrap = server_tls
    out = mo()
    body = out.to_bytes()
    with (mm7.serve(mm7.Receiver(Recorder()), port=0, ssl_context=server_ctx) as srv,
          wrap(socket.create_connection((srv.host, srv.port), timeout=10)) as sock):
        sock.sendall(f"POST /mm7 HTTP/1.1\r\nHost: mmsc\r\nContent-Type: {out.content_type}\r\n"
                     f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = sock.recv(1)  # (byte by byte: the final answer must stay unread)
            assert chunk, f"connection closed after {interim!r}"
            interim += chunk
        assert interim.split(b" ", 2)[1] == b"100"
        sock.sendall(body)
        head, _ = read_answer(sock)
        assert head.split(b" ", 2)[1] == b"200"



def test_a_declared_body_over_the_limit_is_refused_before_the_go_ahead(server_tls, caplog):
    """A client holding back a body too large for `max_body` until told to go on hears 413 at
    once, not 100 Continue and then 413 after sending all of it; logged as the receiver's own."""
    server_ctx, wrap = server_tls
    h = Recorder()
    with (mm7.serve(mm7.Receiver(h, max_body=4096), port=0, ssl_context=server_ctx) as srv,
          wrap(socket.create_connection((srv.host, srv.port), timeout=10)) as sock):
        sock.sendall(b"POST /mm7 HTTP/1.1\r\nHost: mmsc\r\nContent-Type: text/xml\r\n"
                     b"Content-Length: 50000000\r\nExpect: 100-continue\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed after {head!r}"
            head += chunk
    assert head.split(b" ", 2)[1] == b"413" and not h.calls
    assert any("50000000 bytes, over max_body" in r.getMessage() for r in caplog.records)

def test_folded_headers_soapaction_variants_and_carrier_headers_reach_the_handler(server_tls):
    """Mbuni folds long headers; SOAPAction comes as "", as the namespace URI, bare or not at all;
    a carrier routing header (Mblox's X-Mblox-Carrier-Id, Mbuni's carrier-id header) is the
    handler's to read."""
    server_ctx, wrap = server_tls
    out = mo()
    body = out.to_bytes()
    media, _, params = out.content_type.partition(";")
    h = Recorder()
    soap_actions = ['""', f'"{NS}REL-6-MM7-1-4"', f"{NS}REL-6-MM7-1-4", None]
    with mm7.serve(mm7.Receiver(h), port=0, ssl_context=server_ctx) as srv:
        for n, soap_action in enumerate(soap_actions):
            with wrap(socket.create_connection((srv.host, srv.port), timeout=10)) as sock:
                sock.sendall(
                    (f"POST /mm7 HTTP/1.1\r\nHost: mmsc\r\nContent-Type: {media};\r\n\t{params.strip()}\r\n"
                     + (f"SOAPAction: {soap_action}\r\n" if soap_action is not None else "")
                     + f"X-Mblox-Carrier-Id: 3100{n}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
                head, answer = read_answer(sock)
            assert head.split(b" ", 2)[1] == b"200", (soap_action, answer[:300])
    assert len(h.calls) == len(soap_actions)
    for n, (msg, ctx) in enumerate(h.calls):
        assert msg.content.parts[0].data == b"hello"
        carrier = {k.lower(): v for k, v in ctx.headers.items()}["x-mblox-carrier-id"]
        assert carrier == f"3100{n}"
    # Each but MM7's own "" is reported (taken all the same: MM7 is dispatched on the body).
    said = [[d.message for d in ctx.deviations if d.code == "soap-action"] for _, ctx in h.calls]
    assert said[0] == [] and all(len(s) == 1 for s in said[1:]), said
    assert "the MM7 namespace URI" in said[1][0] and "not in plain double quotes" in said[2][0]
    assert said[3][0].startswith("no SOAPAction header")


def test_a_receiver_answers_faults_with_the_http_status_its_profile_names():
    """SOAP 1.1 puts a Fault in an HTTP 500; a peer that takes any 500 for a transport failure (and
    sends the refused message again and again) needs the Fault in a 200, as Mbuni writes it."""
    out = mo()
    for profile, expected in ((profiles.STANDARD, 500), (profiles.MBUNI, 200)):
        with mm7.serve(mm7.Receiver(Refuser(), profile=profile), port=0) as srv:
            r = requests.post(srv.endpoint, data=out.to_bytes(), headers=out.headers, timeout=10)
            broken = requests.post(srv.endpoint, data=b"<not-mm7/>", headers={"Content-Type": "text/xml"},
                                   timeout=10)
        assert r.status_code == expected, profile.name
        env = mm7.decode(r.content, r.headers["Content-Type"])
        assert env.is_fault and env.body.status.code == 4007 and env.transaction_id == "mo-1"
        assert broken.status_code == expected and mm7.decode(broken.content).is_fault


def test_a_client_takes_answers_in_the_mmscs_own_version_and_faults_in_http_200():
    """An Mbuni MMSC answers a REL-6 request in REL-5-MM7-1-0 with 5.3.0 and sends Faults with
    HTTP 200: the answer is the answer, and the refusal a refusal (not taken for a success)."""
    with Simulator(dialect="mbuni") as sim, Client(sim.url, retry=RetryPolicy(max_attempts=1)) as c:
        result = c.submit(mm7.SubmitReq(recipients=["+8613800000000"], subject="hi"))
        assert result.ok and result.message_id and result.version.name == "REL-5-MM7-1-0"
        assert result.response.mm7_version == "5.3.0"
        with pytest.raises(FaultError) as err:
            c.cancel("no-such-message")
        assert err.value.http_status == 200 and err.value.status.code == 2005



@pytest.mark.parametrize("role, error_rsp, msg", [
    ("vasp", mm7.RSErrorRsp, mm7.SubmitReq(recipients=["+8613800000000"])),
    ("mmsc", mm7.VASPErrorRsp, mm7.DeliverReq(sender="+8613800000000", recipients=["1065888"])),
])
@pytest.mark.parametrize("misnamed", [False, True])
def test_an_error_response_outside_a_fault_is_a_refusal_from_either_side(role, error_rsp, msg, misnamed):
    """Peers that answer errors with HTTP 200 may leave out the Fault around the error response:
    the MMSC's RSErrorRsp and a VASP's VASPErrorRsp (to the simulator's DeliverReq) are refusals
    with their status, retried as their status says, not answers of the wrong kind; so are they
    under the names some peers give them (MM7RSErrorRsp, MM7VASPErrorRsp)."""
    def refuse(req):
        reply = mm7_reply(error_rsp(status=mm7.Status(3000, "busy")), req.decode(), 200)
        if misnamed:
            name = error_rsp.ELEMENT.encode()
            reply.body = reply.body.replace(b"<" + name, b"<MM7" + name).replace(b"</" + name, b"</MM7" + name)
        return reply

    policy = RetryPolicy(max_attempts=2, backoff=0, jitter=0)
    with (FakeServer(refuse) as srv, Client(srv.url, role=role, retry=policy, sleep=lambda s: None) as c,
          pytest.raises(FaultError) as err):
        c.send(msg)
    assert (err.value.status.code, err.value.status.text, err.value.http_status) == (3000, "busy", 200)
    assert err.value.attempts == len(srv.requests) == 2  # 3000: a server error, tried again


def test_a_repeat_answered_with_a_fault_in_200_is_not_counted_a_success(tmp_path, monkeypatch):
    """What a repeat stood for was read from the HTTP status of its answer: with Faults in a 200,
    a repeat of a message that failed (and that another copy has just claimed) counted as 1000."""
    from mm7bind.metrics import Metrics

    class Down(mm7.Handler):
        def on_deliver(self, msg, ctx):
            raise mm7.Unavailable("the database is down")

    metrics = Metrics()
    store = mm7.SqliteStore(tmp_path / "inbox.db")
    try:
        rx = mm7.Receiver(Down(), store=store, metrics=metrics, profile=profiles.MBUNI, repeat_wait=0)
        out = mo()
        first = rx.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1")
        monkeypatch.setattr(store, "claim", lambda *a, **kw: False)  # another copy took it first
        repeat = rx.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1")
    finally:
        store.close()
    for rsp in (first, repeat):
        env = mm7.decode(rsp.body, dict(rsp.headers)["Content-Type"])
        assert rsp.status == 200 and env.is_fault and env.body.status.code == 3000
    assert metrics.value("mm7bind_received_total", outcome="failed", status="3000") == 1
    assert metrics.value("mm7bind_received_total", outcome="repeat", status="1000") == 0
    assert metrics.value("mm7bind_received_total", outcome="repeat") == 1


def test_carrier_routing_headers_reach_a_forwarding_target_and_saved_files_but_credentials_do_not(tmp_path):
    """Aggregators name the carrier a message came from in a header (X-Mblox-Carrier-Id; Mbuni
    passes a configured carrier-id header on): an application behind `mm7bind serve` needs it to
    route replies. The MMSC's credentials stay with the receiver."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from mm7bind.handlers import ForwardingHandler, SavingHandler

    got = []

    class App(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    target = ThreadingHTTPServer(("127.0.0.1", 0), App)
    Thread(target=target.serve_forever, daemon=True).start()
    out = mo()
    sent_headers = {**out.headers, "X-Mblox-Carrier-Id": "31002", "Cookie": "session=abc"}
    try:
        handlers = (ForwardingHandler(f"http://127.0.0.1:{target.server_address[1]}/in"),
                    SavingHandler(tmp_path / "saved", echo=lambda *a: None))
        for handler in handlers:
            receiver = mm7.Receiver(handler, auth=mm7.auth.BasicAuth("mmsc", "pw"))
            with mm7.serve(receiver, port=0) as srv:
                r = requests.post(srv.endpoint, data=out.to_bytes(), headers=sent_headers,
                                  auth=("mmsc", "pw"), timeout=10)
            assert r.status_code == 200, r.content[:300]
    finally:
        target.shutdown()
        target.server_close()
    [saved] = (tmp_path / "saved" / "DeliverReq").iterdir()
    saved_info = json.loads((saved / "message.json").read_text(encoding="utf-8"))
    for seen in (got[0]["headers"], saved_info["headers"]):
        named = {k.lower(): v for k, v in seen.items()}
        assert named["x-mblox-carrier-id"] == "31002" and named["soapaction"] == '""'
        assert "authorization" not in named and "cookie" not in named


def test_a_profile_writes_international_numbers_without_their_plus_for_peers_that_refuse_it():
    """Sinch and Skycore take "15551234567", not "+15551234567": numbers given in E.164 go
    without the "+" to such a peer; e-mail addresses, short codes and the caller's message stay
    as they were."""
    msg = mm7.SubmitReq(recipients=mm7.Recipients(to=["+15551234567", "a+b@example.com"], cc=["15557654321"],
                                                  bcc=[mm7.ShortCode("+12345")]),
                        sender_address=mm7.Number("+15550000000", display_only=True), subject="+1 news")
    with FakeServer() as srv, Client(srv.url, profile=mm7.Profile(plus_in_numbers=False),
                                     retry=RetryPolicy(max_attempts=1)) as c:
        assert c.submit(msg).ok
        with Client(srv.url, retry=RetryPolicy(max_attempts=1)) as standard:
            assert standard.submit(msg).ok
    bare, kept = (req.decode().body for req in srv.requests)
    assert [(a.kind, a.value) for a in bare.recipients.to] == [(mm7.AddressKind.NUMBER, "15551234567"),
                                                                (mm7.AddressKind.RFC2822, "a+b@example.com")]
    assert [a.value for a in bare.recipients.cc] == ["15557654321"]
    assert [a.value for a in bare.recipients.bcc] == ["+12345"]  # (a short code is no international number)
    assert (bare.sender_address.value, bare.sender_address.display_only) == ("15550000000", True)
    assert bare.subject == "+1 news"
    assert kept.recipients.to[0].value == "+15551234567" and kept.sender_address.value == "+15550000000"
    assert msg.recipients.to[0].value == "+15551234567" and msg.sender_address.value == "+15550000000"


def test_a_china_mobile_style_mo_over_a_socket_gb2312_bare_ids_and_content_location_references():
    """An MO as Chinese MMSCs post it: the XML declared GB2312 while the part header says utf-8,
    `start` and the Content-IDs without angle brackets, a plain-text Sender, and media the SMIL
    names only by Content-Location. All of it is read, each slip reported, and the answer goes
    back in the caller's namespace with its TransactionID."""
    ns = f"{NS}REL-6-MM7-1-0"
    soap = ('<?xml version="1.0" encoding="GB2312"?>'
            '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header>'
            f'<TransactionID xmlns="{ns}">gb-1</TransactionID></env:Header><env:Body>'
            f'<DeliverReq xmlns="{ns}"><MM7Version>6.3.0</MM7Version><Sender>+8613800000000</Sender>'
            "<Recipients><To><Number>1065888</Number></To></Recipients><Subject>你好</Subject>"
            '<Content href="cid:mo-content"/></DeliverReq></env:Body></env:Envelope>').encode("gb2312")
    gif = b"GIF89a" + bytes(30)
    smil = b'<smil><body><par><img src="pic.gif"/><text src="t.txt"/></par></body></smil>'
    body = (b"--B\r\nContent-Type: text/xml; charset=utf-8\r\nContent-ID: soap-1\r\n\r\n" + soap
            + b'\r\n--B\r\nContent-Type: multipart/related; type="application/smil"; start="<s>";'
            b' boundary="I"\r\nContent-ID: mo-content\r\n\r\n'
            b"--I\r\nContent-Type: application/smil\r\nContent-ID: <s>\r\n\r\n" + smil
            + b"\r\n--I\r\nContent-Type: image/gif\r\nContent-Location: pic.gif\r\n\r\n" + gif
            + b"\r\n--I\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Location: t.txt\r\n\r\n"
            + "文本".encode("gb2312") + b"\r\n--I--\r\n--B--\r\n")
    h = Recorder()
    with mm7.serve(mm7.Receiver(h), port=0) as srv:
        outer = 'multipart/related; boundary=B; type="text/xml"; start=soap-1'
        r = requests.post(srv.endpoint, data=body, timeout=10,
                          headers={"Content-Type": outer, "SOAPAction": '""'})
    assert r.status_code == 200
    answer = mm7.decode(r.content, r.headers["Content-Type"])
    assert (answer.version.name, answer.transaction_id) == ("REL-6-MM7-1-0", "gb-1")
    assert answer.body.status.code == 1000
    [(msg, ctx)] = h.calls
    assert msg.subject == "你好" and msg.sender.value == "+8613800000000"
    smil_part = msg.content.smil
    assert smil_part is not None and smil_part.data == smil
    assert msg.content.by_location("pic.gif").data == gif
    assert msg.content.by_location("t.txt").text_value == "文本"
    assert {"mime-start", "charset-conflict", "plain-text-address"} <= {d.code for d in ctx.deviations}


@pytest.mark.parametrize("soap_action", ['""', f'"{NS}REL-6-MM7-1-4"', None])
def test_soapaction_as_the_profile_names_it_or_none_from_both_clients(soap_action):
    """SOAPAction "" (the specification), the namespace URI (Sinch's samples), or none at all
    (soap_action=None): the same from the client and the asyncio client."""
    profile = mm7.Profile(soap_action=soap_action)
    msg = mm7.SubmitReq(recipients=["+8613800000000"])
    with FakeServer() as srv:
        with Client(srv.url, profile=profile, retry=RetryPolicy(max_attempts=1)) as c:
            assert c.submit(msg).ok

        async def send():
            async with AsyncClient(srv.url, profile=profile, retry=RetryPolicy(max_attempts=1)) as c:
                return await c.submit(msg)

        assert asyncio.run(send()).ok
    assert [req.header("SOAPAction") for req in srv.requests] == [soap_action, soap_action]
    headers = mm7.encode(msg, transaction_id="t", profile=profile).headers
    assert headers.get("SOAPAction") == soap_action
    assert soap_action is not None or "SOAPAction" not in headers


@pytest.mark.parametrize("code, retry_codes, attempts", [
    (2101, frozenset(), 1),  # a client error: never again
    (3101, frozenset(), 3),  # a server error: again, with the same TransactionID
    (4101, frozenset(), 1),
    (2102, frozenset({2102}), 3),  # SKT's "try later", named in the policy
])
def test_carrier_private_status_codes_are_classed_by_their_leading_digit(code, retry_codes, attempts):
    """SKT's 2101-2104 and 4101 are in no table: their class comes from the first digit, and a
    carrier's own "try again" code can be named in the retry policy."""
    def refuse(req):
        fault = mm7.Fault(code="Client", string="refused", detail=mm7.RSErrorRsp(status=mm7.Status(code)))
        return mm7_reply(fault, req.decode(), 200)

    policy = RetryPolicy(max_attempts=3, backoff=0, jitter=0, retry_codes=retry_codes)
    with (FakeServer(refuse) as srv, Client(srv.url, retry=policy, sleep=lambda s: None) as c,
          pytest.raises(FaultError) as err):
        c.submit(mm7.SubmitReq(recipients=["+821012345678"]))
    assert err.value.status.code == code and err.value.attempts == attempts == len(srv.requests)
    by_class = {2: "Client error", 3: "Server Error", 4: "General service error"}
    assert err.value.status.text == mm7.status.lookup(code).text == by_class[code // 1000]
    assert len({req.decode().transaction_id for req in srv.requests}) == 1


@pytest.mark.parametrize("how", ["waitress", "tls", "asgi", "asgi-chunked"])
def test_every_server_gives_the_handler_and_the_store_the_same_request(how):
    """A request without Content-Type (a slip some MMSCs make) and with a carrier header comes to
    the handler and into the store alike from each way of serving: the deviation saying so, no
    Content-Type made up (the standard library's server, serving TLS, put in "text/plain"), and the
    headers without the body's framing (the ASGI app passed on Content-Length and Transfer-Encoding,
    which a WSGI app never sees)."""
    from mm7bind.store import MemoryStore

    from .test_receiver import call_asgi

    body = mo().to_bytes()
    h, store = Recorder(), MemoryStore()
    receiver = mm7.Receiver(h, store=store)
    if how.startswith("asgi"):
        framing = {"Transfer-Encoding": "chunked"} if how == "asgi-chunked" else {"Content-Length": str(len(body))}
        rsp, _ = call_asgi(mm7.asgi_app(receiver, "/mm7"), [body[:100], body[100:]],
                           {"Host": "mmsc", "X-Carrier-Id": "42", **framing})
        status = rsp["status"]
    else:
        tls = None
        if how == "tls":
            from .tls import local_tls

            tls = local_tls()
        with mm7.serve(receiver, port=0, ssl_context=tls.server if tls else None) as srv:
            sock = socket.create_connection((srv.host, srv.port), timeout=10)
            with tls.client.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock as conn:
                conn.sendall(f"POST /mm7 HTTP/1.1\r\nHost: mmsc\r\nX-Carrier-Id: 42\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                head, _ = read_answer(conn)
        status = int(head.split(b" ", 2)[1])
    assert status == 200
    [(_, ctx)] = h.calls
    assert [(d.code, d.message) for d in ctx.deviations][:1] == [("soap-content-type", "the request has no Content-Type")]
    assert dict(ctx.headers) == {"Host": "mmsc", "X-Carrier-Id": "42"}
    [rec] = store.inbox()
    assert rec.content_type is None and rec.headers == {"Host": "mmsc", "X-Carrier-Id": "42"}
