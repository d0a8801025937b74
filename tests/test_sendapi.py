"""The HTTP send API: JSON in, the MMSC's answer out; what it refuses, and why."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from datetime import timedelta

import pytest
import requests

import mm7bind as mm7
from mm7bind.auth import IPAllowList
from mm7bind.sendapi import SendApi, submit_from_json
from mm7bind.simulator import Simulator, SimulatorConfig

from . import fake_http
from .test_commands import Background, run

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///ywAAAAAAQABAAACAUQAOw==")


@pytest.fixture
def sim():
    with Simulator(SimulatorConfig()) as s:
        yield s


def call(api: SendApi, body, path="/send", **kw) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    rsp = api.handle(kw.pop("method", "POST"), path, raw, kw.pop("headers", {}), kw.pop("peer", "127.0.0.1"))
    assert dict(rsp.headers)["Content-Type"].startswith("application/json")
    return rsp.status, json.loads(rsp.body)


def test_a_message_sent_as_json_reaches_the_mmsc(sim):
    with mm7.Client(sim.url, vaspid="800001", vasid="1065888") as client:
        api = SendApi(client)
        status, got = call(api, {
            "to": "+8613800000000", "cc": ["+8613800000001"], "subject": "新年快乐", "text": "正文",
            "charset": "gb18030", "parts": [{"content_type": "image/gif", "filename": "c.gif",
                                             "data": base64.b64encode(GIF).decode()},
                                            {"text": "<b>hi</b>", "content_type": "text/html"}],
            "delivery_report": True, "priority": "high", "expiry_date": "P2D", "service_code": "100001",
            "transaction_id": "app-1"})
        assert status == 200 and got["ok"] is True and got["status"] == 1000, got
        assert got["transaction_id"] == "app-1" and got["message_id"].startswith("SIM")
        [stored] = sim.messages.values()
        sent = stored.request
        assert sent.subject == "新年快乐" and sent.priority is mm7.Priority.HIGH
        assert sent.expiry_date == timedelta(days=2)
        assert [str(a) for a in sent.recipients.to] == ["+8613800000000"]
        assert [str(a) for a in sent.recipients.cc] == ["+8613800000001"]
        assert sent.vaspid == "800001" and sent.delivery_report is True and sent.service_code == "100001"
        parts = sent.content.parts
        assert [p.content_type for p in parts] == ["text/plain", "image/gif", "text/html"]
        assert parts[0].text_value == "正文" and parts[0].charset == "gb18030" and parts[1].data == GIF
        status, got = call(api, {"message_id": got["message_id"]}, "/cancel")
        assert status == 200 and got["ok"] is True and got["status"] == 1000


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not JSON"),
    ([1, 2], "must be a JSON object"),
    ({"subject": "x"}, "no recipient"),
    ({"to": "1", "subjet": "typo"}, "unknown field(s): subjet (did you mean subject?)"),
    ({"to": "1", "txt": "hi", "zzz": 1}, "unknown field(s): txt (did you mean text?), zzz"),
    ({"to": 5}, "to must be an address or a list"),
    ({"to": ["1", ""]}, "to must be an address or a list"),
    ({"to": "1", "delivery_report": "yes"}, "delivery_report must be a boolean"),
    ({"to": "1", "subject": True}, "subject must be a string"),
    ({"to": "1", "priority": "urgent"}, "priority: 'urgent' is not one of Low, Normal, High"),
    ({"to": "1", "parts": [{"data": "!!!"}]}, "parts[1].data is not base64"),
    ({"to": "1", "parts": [{"data": "AA==", "text": "x"}]}, "either data (base64) or text"),
    ({"to": "1", "parts": [{"data": "AA==", "size": 1}]}, "parts[1]: unknown field(s): size"),
    ({"to": "1", "parts": [{"data": "AA==", "contenttype": "image/gif"}]},
     "parts[1]: unknown field(s): contenttype (did you mean content_type?)"),
    ({"to": "1", "parts": "x"}, "parts must be a list"),
    ({"to": "1", "text": "中文", "charset": "ascii"}, "cannot be written in ascii"),
    ({"to": "1", "text": "x", "charset": "utf\u00008"}, "cannot be written in"),
    ({"to": "1", "expiry_date": "tomorrow"}, "ExpiryDate: 'tomorrow' is not valid"),
    ({"to": "1", "expiry_date": "-P2D"}, "expiry_date: '-P2D' is a negative duration"),  # (schema-valid: it went)
    ({"to": "1", "earliest_delivery_time": "-PT1H"}, "earliest_delivery_time: '-PT1H' is a negative"),
    ({"to": "1", "parts": [{"data": "AA==", "content_id": "a\r\nX-Evil: 1"}]}, "Content-ID"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    # hostile JSON: each a 400 naming the field (a lone surrogate in a filename was a 500, in a tag a
    # message sent and then not recorded; a duplicate key or a falsy wrong type passed unnoticed)
    (b'{"to": "1", "to": "2"}', "field 'to' given twice"),
    (b'{"to": "1", "parts": [{"data": "AA==", "data": "AQ=="}]}', "field 'data' given twice"),
    (b'{"to": "1", "parts": [{"data": "AA==", "filename": "\\ud800.gif"}]}',
     "parts[1].filename: \\ud800 is half a character"),
    (b'{"to": "1", "parts": [{"data": "AA==", "content_type": "image/\\udfff"}]}', "parts[1].content_type: \\udfff"),
    (b'{"to": "1", "tag": "\\ud83d"}', "tag: \\ud83d is half a character"),
    (b'{"to": ["1", "2\\udc00"]}', "to[2]: \\udc00"),
    (b'{"to": "1", "\\ud800": 1}', "a key: \\ud800"),
    ({"to": "1", "parts": {}}, "parts must be a list"),
    ({"to": "1", "parts": False}, "parts must be a list"),
    ({"to": "1", "text": "x", "charset": False}, "charset must be a string"),
    ({"to": "1", "parts": [{"data": "AA=="}, {"data": "AA==", "content_type": "not a type"}]},
     "parts[2].content_type: 'not a type' is not type/subtype"),
    ({"to": "1", "parts": [{"text": "x", "charset": "utf-8; x=1"}]}, "parts[1].charset: 'utf-8; x=1' is not"),
    # an address with a control character went out as it was (XML carries a line break): named, shown escaped
    ({"to": ["1", "1\n2"]}, "to[2]: the address '1\\n2' holds a control character (U+000A)"),
    ({"to": "1\u00852"}, "to: the address '1\\x852' holds a control character (U+0085)"),
    ({"to": "1", "cc": ["2", "3", "4\u0000"]}, "cc[3]: the address '4\\x00' holds a control character (U+0000)"),
    ({"to": "1", "bcc": "2\r3"}, "bcc: the address '2\\r3'"),
    ({"to": "1", "sender_address": "10\t65"}, "sender_address: the address '10\\t65' holds a control character"),
    ({"to": "13800000001\x1c"}, "to: the address '13800000001\\x1c' holds a control character (U+001C)"),
    ({"to": "1", "sender_address": "\u20291065"}, "sender_address: the address '\\u20291065' holds a control"),
])
def test_what_cannot_be_built_is_a_400_that_says_why(sim, body, message):
    with mm7.Client(sim.url) as client:
        status, got = call(SendApi(client), body)
    assert status == 400 and got["ok"] is False and message in got["message"], got
    assert sim.messages == {}  # nothing went out


def test_a_recipient_listed_twice_gets_the_message_once(sim):
    """As `mm7bind send --to 1 --to 1` sends one: "to": ["1", "1"] went as two To elements."""
    with mm7.Client(sim.url) as client:
        status, got = call(SendApi(client), {"to": ["1", " 1", "2"], "cc": ["3", "2", "3"], "bcc": "1"})
        assert status == 200 and got["ok"] is True, got
        # one number written two ways, as `mm7bind send` takes it: sent once
        status, got = call(SendApi(client), {"to": ["+8613800000001", "86 138-0000-0001"],
                                             "cc": "tel:+8613800000001", "bcc": "13800000001"})
        assert status == 200 and got["ok"] is True, got
    first, second = (stored.request.recipients for stored in sim.messages.values())
    assert ([str(a) for a in first.to], [str(a) for a in first.cc], first.bcc) == (["1", "2"], ["3"], [])
    assert ([str(a) for a in second.to], second.cc, [str(a) for a in second.bcc]) == (
        ["+8613800000001"], [], ["13800000001"])


def test_a_number_written_nationally_and_internationally_is_one_recipient_with_a_country_code(sim):
    """With the client's country_code, as a campaign tells its recipients apart: "13800000001" and
    "+8613800000001" went as two recipients of one request, one phone getting it twice."""
    with mm7.Client(sim.url, country_code="86") as client:
        status, got = call(SendApi(client), {"to": ["13800000001", "+8613800000001"], "cc": "008613800000001",
                                             "bcc": ["013800000001", "10086"]})
        assert status == 200 and got["ok"] is True, got
    [stored] = sim.messages.values()
    sent = stored.request.recipients
    assert ([str(a) for a in sent.to], sent.cc, [str(a) for a in sent.bcc]) == (["13800000001"], [], ["10086"])


def test_an_address_with_a_control_character_is_not_queued(sim):
    """Refused before the outbox takes it, as a message sent at once is (not failed later, once due)."""
    from mm7bind.outbox import Outbox

    store = mm7.MemoryStore()
    with mm7.Client(sim.url, store=store) as client:
        api = SendApi(client, outbox=Outbox(client))
        status, got = call(api, {"to": ["1", "2\x1b[31m"], "queue": True, "transaction_id": "q1"})
        assert status == 400 and got["message"].startswith("to[2]: the address '2\\x1b[31m'"), got
        assert store.outbox() == []


def test_base64_wrapped_in_lines_as_mime_writes_it_is_read(sim):
    """`base64` on the command line, Java's MIME encoder and Python's encodebytes break the text
    every 76 characters: refused as "not base64", such a part never went out. Characters other
    than base64's and line breaks are still refused."""
    data = GIF * 20
    wrapped = base64.encodebytes(data).decode().replace("\n", "\r\n")
    assert "\n" in wrapped.rstrip()
    with mm7.Client(sim.url) as client:
        api = SendApi(client)
        status, got = call(api, {"to": "1", "parts": [{"data": wrapped, "content_type": "image/gif"}]})
        assert status == 200 and got["ok"] is True, got
        [stored] = sim.messages.values()
        assert stored.request.content.parts[0].data == data
        status, got = call(api, {"to": "1", "parts": [{"data": wrapped.replace("\r\n", "*", 1)}]})
        assert status == 400 and got["message"] == "parts[1].data is not base64", got


def test_more_recipients_or_parts_than_allowed_are_a_400_naming_the_field(sim, tmp_path):
    """max_body alone let one request name a million recipients or parts: each built and checked
    before anything said no. The caps count to, cc and bcc together, and the parts before any is
    decoded; at the cap, it goes."""
    part = {"data": base64.b64encode(GIF).decode(), "content_type": "image/gif"}
    with mm7.Client(sim.url) as client:
        api = SendApi(client, max_recipients=3, max_parts=2)
        status, got = call(api, {"to": ["1", "2"], "cc": "3", "bcc": ["4"]})
        assert (status, got["error"]) == (400, "bad request") and got["message"].startswith(
            "to, cc, bcc: 4 recipients, more than the 3 one request may have here (max_recipients)"), got
        status, got = call(api, {"to": "1", "parts": [part, part, {"data": "not base64"}]})
        assert status == 400 and got["message"].startswith("parts: 3 parts, more than the 2"), got
        assert sim.messages == {}  # nothing went out
        assert call(api, {"to": ["1", "2"], "bcc": "3", "parts": [part, part]})[0] == 200
        with pytest.raises(ValueError, match="at least 1"):
            SendApi(client, max_parts=0)
    # From the configuration: [api] max_recipients and max_parts, which config check knows.
    from mm7bind.config import load

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[mmsc]\nurls = ["{sim.url}"]\n[api]\npath = "/api"\nmax_recipients = 2\nmax_parts = 0\n')
    assert [str(p) for p in load(cfg)[1]] == ["error: api.max_parts: must be at least 1"]
    cfg.write_text(f'[mmsc]\nurls = ["{sim.url}"]\n[api]\npath = "/api"\nmax_recipients = 2\n')
    config, problems = load(cfg)
    with mm7.Client(sim.url) as client:
        api = config.make_send_api(client)
        assert problems == [] and (api.max_recipients, api.max_parts) == (2, 100)
        assert call(api, {"to": ["1", "2", "3"]})[0] == 400


def test_a_chunked_request_is_read_whole_by_either_embedded_server(sim, server_tls):
    """A body without Content-Length (chunked, as an application streaming its JSON sends it) was
    read as empty where the server leaves its length unsaid (serving TLS directly, gunicorn): 400
    "not JSON". Over max_body, it is a 413 as a declared length is."""
    import socket

    tls_context, wrap = server_tls
    body = json.dumps({"to": "+8613800000000", "text": "chunked"}).encode()

    def post(chunks: bytes) -> bytes:
        request = (b"POST /api/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks)
        with wrap(socket.create_connection((srv.host, srv.port), timeout=10)) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer

    def chunked(data: bytes) -> bytes:
        return b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 7]), data[i:i + 7])
                        for i in range(0, len(data), 7)) + b"0\r\n\r\n"

    with mm7.Client(sim.url) as client:
        api = SendApi(client, max_body=len(body))
        with mm7.serve(mm7.Receiver(mm7.Handler()), port=0, ssl_context=tls_context,
                       mounts={"/api": api.wsgi_app}) as srv:
            answer = post(chunked(body))
            assert answer.split(b" ", 2)[1] == b"200" and b'"ok": true' in answer, answer
            answer = post(chunked(body + b" "))
            assert answer.split(b" ", 2)[1] == b"413", answer
    [got] = sim.messages.values()
    assert got.request.content.parts[0].text_value == "chunked"


def test_refusals_unreachable_mmscs_and_access(sim):
    with mm7.Client(sim.url, retry=mm7.RetryPolicy.never()) as client:
        api = SendApi(client, token="t0ken", allow=IPAllowList.parse(["127.0.0.1"]))
        auth = {"Authorization": "Bearer t0ken"}
        assert call(api, {"to": "1"})[0] == 401
        assert call(api, {"to": "1"}, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert call(api, {"to": "1"}, headers=auth, peer="10.0.0.9")[0] == 403
        assert call(api, {"to": "1"}, "/nothing", headers=auth)[0] == 404
        assert call(api, {"to": "1"}, headers=auth, method="GET") == (
            405, {"ok": False, "error": "method not allowed", "message": "POST a JSON object"})
        sim.fail_next(1, status=4004)
        status, got = call(api, {"to": "1"}, headers=auth)
        assert status == 200 and got["ok"] is False and got["status"] == 4004  # the MMSC's answer
    with mm7.Client("http://127.0.0.1:9/mm7", retry=mm7.RetryPolicy.never()) as dead:
        status, got = call(SendApi(dead), {"to": "1"})
        assert status == 502 and got["error"] == "ConnectError" and got["transaction_id"]
        assert got["may_have_arrived"] is False and "did not take it" in got["message"]
    too_large = {"ok": False, "error": "request entity too large", "message": "body larger than 10 bytes"}
    assert call(SendApi(None, max_body=10), {"to": "1", "subject": "long enough"}) == (413, too_large)
    # refused from its Content-Length, unread, by the WSGI adapter: the same answer
    answered = []
    body = SendApi(None, max_body=10).wsgi_app(
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/send", "CONTENT_LENGTH": "11", "wsgi.input": None},
        lambda status, headers: answered.append(status))
    assert answered == ["413 Request Entity Too Large"] and json.loads(b"".join(body)) == too_large
    # a Content-Length that is not ASCII digits (int() read "1_0", "+10" and "١٠" as 10): 400, unread
    for written in ("1_0", "+10", "١٠", "10, 11"):
        answered.clear()
        body = SendApi(None).wsgi_app(
            {"REQUEST_METHOD": "POST", "PATH_INFO": "/send", "CONTENT_LENGTH": written, "wsgi.input": None},
            lambda status, headers: answered.append(status))
        assert answered == ["400 Bad Request"], written
        assert json.loads(b"".join(body)) == {"ok": False, "error": "bad request",
                                              "message": "invalid Content-Length (digits only)"}


class _Socket:
    """wsgi.input as werkzeug's server hands it on: the connection itself, whose reads past what the
    peer sent wait until it gives up (here: fail at once)."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > len(self.data):
            raise AssertionError("read past the request: a server handing on its socket waits here")
        got, self.data = self.data[:size], self.data[size:]
        return got


def test_a_request_without_a_length_is_read_only_when_the_server_says_where_it_ends():
    """Mounted under Flask's development server a GET or a POST with neither Content-Length nor
    chunks has no body; reading wsgi.input to its end waited until the peer gave up."""
    api = SendApi(None, token="t0ken")
    answered = []
    env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/send", "REMOTE_ADDR": "127.0.0.1",
           "HTTP_AUTHORIZATION": "Bearer t0ken"}
    body = api.wsgi_app({**env, "wsgi.input": _Socket(b"")}, lambda status, headers: answered.append(status))
    assert answered == ["400 Bad Request"] and "not JSON" in json.loads(b"".join(body))["message"]
    # a chunked body the server decoded and ends (wsgi.input_terminated) is read whole
    answered.clear()
    raw = json.dumps({"to": "1", "txt": "x"}).encode()
    body = api.wsgi_app({**env, "wsgi.input": io.BytesIO(raw), "wsgi.input_terminated": True},
                        lambda status, headers: answered.append(status))
    assert answered == ["400 Bad Request"] and "txt (did you mean text?)" in json.loads(b"".join(body))["message"]
    # a length says where it ends
    answered.clear()
    body = api.wsgi_app({**env, "CONTENT_LENGTH": str(len(raw)), "wsgi.input": _Socket(raw)},
                        lambda status, headers: answered.append(status))
    assert answered == ["400 Bad Request"] and "txt (did you mean text?)" in json.loads(b"".join(body))["message"]


def test_submit_from_json_names_schema_spellings_whatever_the_case():
    how = submit_from_json({"to": "1", "priority": "LOW", "message_class": "informational",
                            "charged_party": "sender", "content_class": "image-basic"})
    msg = how.message
    assert how.transaction_id is None and not how.queue and msg.priority is mm7.Priority.LOW
    assert msg.message_class is mm7.MessageClass.INFORMATIONAL and msg.charged_party is mm7.ChargedParty.SENDER


def test_serve_mounts_the_api(sim, tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[receiver]\nport = 0\nhealth_path = "/health"\nmetrics_path = "/metrics"\n'
                   f'[api]\npath = "/api"\ntoken = "k"\n[mmsc]\nurls = ["{sim.url}"]\n'
                   f'[vasp]\nvaspid = "800001"\n[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    serve = Background("serve", "--config", str(cfg))
    try:
        port = serve.port()
        serve.wait_for(f"http://127.0.0.1:{port}/mm7")
        url = f"http://127.0.0.1:{port}/api/send"
        got = requests.post(url, json={"to": "+8613800000000", "text": "hi", "tag": "web"},
                            headers={"Authorization": "Bearer k"}, timeout=10)
        assert got.status_code == 200 and got.json()["ok"] is True, got.text
        assert requests.post(url, json={"to": "1"}, timeout=10).status_code == 401
        assert requests.get(f"http://127.0.0.1:{port}/api/send", headers={"Authorization": "Bearer k"},
                            timeout=10).status_code == 405
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).text == "ok\n"
        # the API's answers counted beside the receiver's, at its metrics path
        scraped = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for line in ('mm7bind_api_requests_total{operation="send",outcome="ok"} 1',
                     'mm7bind_api_requests_total{operation="send",outcome="challenged"} 1',
                     'mm7bind_api_requests_total{operation="send",outcome="not_allowed"} 1'):
            assert line in scraped.splitlines(), scraped
        from .exposition import read_exposition

        timed = read_exposition(scraped)  # (the whole scrape, read strictly) and timed as counted
        assert timed['mm7bind_api_request_seconds_count{operation="send"}'] == 3
    finally:
        out = serve.stop()
    assert f"send API at http://127.0.0.1:{port}/api/send" in out
    [stored] = sim.messages.values()
    assert stored.request.vaspid == "800001" and stored.request.content.parts[0].text_value == "hi"
    store = mm7.SqliteStore(tmp_path / "vasp.db")  # what the API sent is in the store, for reports
    assert [(r.message_id, r.tag) for r in store.sent()] == [(got.json()["message_id"], "web")]
    store.close()


def test_queued_sends(sim):
    from mm7bind.outbox import Outbox

    store = mm7.MemoryStore()
    with mm7.Client(sim.url, store=store) as client:
        assert call(SendApi(client), {"to": "1", "queue": True}) == (
            400, {"ok": False, "error": "bad request", "message": "queueing is not enabled here ([outbox] enabled = true)"})
        assert call(SendApi(client), b"", "/queue/1", method="GET") == (
            404, {"ok": False, "error": "not found", "message": "queueing is not enabled here ([outbox] enabled = true)"})
        outbox = Outbox(client)
        api = SendApi(client, outbox=outbox)
        status, got = call(api, {"to": "+8613800000000", "text": "later", "queue": True, "tag": "q",
                                 "transaction_id": "q-1"})
        assert status == 202 and (got["ok"], got["queued"], got["transaction_id"]) == (True, 1, "q-1")
        assert sim.messages == {}
        status, got = call(api, b"", "/queue/1", method="GET")
        assert status == 200 and (got["state"], got["ok"], got["attempts"]) == ("queued", True, 0)
        assert got["next_at"] == store.outbox()[0].next_at.isoformat()
        outbox.run_once()
        status, got = call(api, b"", "/queue/1", method="GET")
        assert (got["state"], got["ok"], got["status"], got["tag"]) == ("sent", True, 1000, "q")
        assert "next_at" not in got
        assert got["message_id"] == next(iter(sim.messages.values())).message_id
        assert call(api, b"", "/queue/2", method="GET")[0] == 404
        assert call(api, b"", "/queue/x", method="GET")[0] == 404
        assert call(api, b"", "/queue/²", method="GET")[0] == 404  # (a digit to str.isdigit, not to int)
        assert call(api, b"", "/queue/1")[0] == 405  # (POST)
        assert call(api, {"to": "1", "queue": True, "expiry_date": "soon"})[0] == 400  # refused before queueing
        assert len(store.outbox()) == 1
        status, got = call(api, {"to": "1", "queue": True, "send_at": "2999-01-01T09:00:00+08:00"})
        assert status == 202 and got["due"] == "2999-01-01T01:00:00+00:00"
        assert call(api, {"to": "1", "send_at": "2999-01-01T09:00:00"}) == (
            400, {"ok": False, "error": "bad request",
                  "message": 'send_at needs "queue": true (the outbox holds the message until then)'})
        assert "not an ISO 8601 time" in call(api, {"to": "1", "queue": True, "send_at": "9am"})[1]["message"]
        for edge in ("9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+08:00"):  # (overflowed: a 500)
            status, got = call(api, {"to": "1", "queue": True, "send_at": edge})
            assert status == 400 and "out of the range" in got["message"]
        assert call(api, b"", "/queue/" + "9" * 30, method="GET")[0] == 404  # (too big for SQLite: was a 500)


def test_a_queued_item_being_sent_is_said_to_be_sending_not_failed(sim):
    """While the outbox sent it, GET /queue/<id> answered "ok": false (a failure, to a caller; the 202
    that queued it said true) and a next_at that was the claim's lease, not when anything would happen."""
    from datetime import timedelta

    from mm7bind.outbox import Outbox

    store = mm7.MemoryStore()
    with mm7.Client(sim.url, store=store) as client:
        outbox = Outbox(client)
        api = SendApi(client, outbox=outbox)
        status, queued = call(api, {"to": "+8613800000000", "text": "soon", "queue": True})
        assert status == 202
        [claimed] = store.outbox_claim(mm7.store.utcnow(), 1, timedelta(minutes=5))  # (a worker on it)
        status, got = call(api, b"", f"/queue/{queued['queued']}", method="GET")
        assert status == 200 and (got["state"], got["ok"]) == ("sending", True) and "next_at" not in got, got
        assert claimed.state == "sending"
        store.outbox_update(claimed.id, "failed", attempts=1, error="refused", lease_until=claimed.lease_until)
        status, got = call(api, b"", f"/queue/{queued['queued']}", method="GET")
        assert (got["state"], got["ok"], got["error"]) == ("failed", False, "refused") and "next_at" not in got


def test_serve_with_a_queue(sim, tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[receiver]\nport = 0\n[api]\npath = "/api"\n[outbox]\nenabled = true\n[mmsc]\nurls = ["{sim.url}"]\n'
                   f'[store]\npath = "{tmp_path / "vasp.db"}"\n', encoding="utf-8")
    serve = Background("serve", "--config", str(cfg))
    try:
        port = serve.port()
        serve.wait_for(f"http://127.0.0.1:{port}/mm7")
        got = requests.post(f"http://127.0.0.1:{port}/api/send", json={"to": "1", "text": "q", "queue": True},
                            headers={"Idempotency-Key": "q-1"}, timeout=10)
        assert got.status_code == 202, got.text
        again = requests.post(f"http://127.0.0.1:{port}/api/send", json={"to": "1", "text": "q", "queue": True},
                              headers={"Idempotency-Key": "q-1"}, timeout=10)
        assert again.status_code == 202 and again.json()["repeat"]
        assert again.json()["queued"] == got.json()["queued"]
        other = requests.post(f"http://127.0.0.1:{port}/api/send", json={"to": "2", "queue": True},
                              headers={"Idempotency-Key": "q-1"}, timeout=10)
        assert other.status_code == 409 and other.reason == "Conflict"
        url = f"http://127.0.0.1:{port}/api/queue/{got.json()['queued']}"
        deadline = time.monotonic() + 10
        while requests.get(url, timeout=10).json()["state"] != "sent" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert requests.get(url, timeout=10).json()["state"] == "sent"
    finally:
        serve.stop()
    proc = run("store", "outbox", "--config", str(cfg))
    assert proc.returncode == 0 and " sent " in proc.stdout, proc.stdout + proc.stderr
    [item] = json.loads(run("store", "outbox", "--config", str(cfg), "--json").stdout)
    assert item["state"] == "sent" and not {"body", "lease_until", "fingerprint"} & set(item)
    assert item["message_id"].startswith("SIM")


def test_a_queued_request_asked_again_is_queued_once(sim, tmp_path):
    """A caller whose request timed out asks again with the same transaction_id (or Idempotency-Key):
    it gets the first one's item back, not a second message; another request under the same key is
    refused."""
    from mm7bind import sendonce
    from mm7bind.outbox import Outbox

    with mm7.Client(sim.url, store=mm7.SqliteStore(tmp_path / "vasp.db")) as client:
        outbox = Outbox(client)
        api = SendApi(client, outbox=outbox)
        request = {"to": "+8613800000000", "text": "once", "queue": True, "transaction_id": "order-7"}
        status, first = call(api, request)
        assert status == 202 and "repeat" not in first
        status, again = call(api, dict(reversed(request.items())))  # (the same JSON, keys in another order)
        assert status == 202 and again["repeat"] and (again["queued"], again["state"]) == (first["queued"], "queued")
        status, other = call(api, {**request, "text": "another"})
        assert status == 409 and other["error"] == "conflict" and "another request" in other["message"]
        outbox.run_once()
        status, again = call(api, request)
        assert status == 202 and (again["queued"], again["state"]) == (first["queued"], "sent")
        outbox.run_once()
        assert len(sim.messages) == 1 and len(client.core.store.outbox()) == 1

        keyed = {"to": "+8613800000001", "text": "keyed", "queue": True}
        status, first = call(api, keyed, headers={"Idempotency-Key": "k-1"})
        assert status == 202 and first["transaction_id"] == "k-1"
        status, again = call(api, keyed, headers={"Idempotency-Key": "k-1"})
        assert status == 202 and again["repeat"] and again["queued"] == first["queued"]
        status, got = call(api, {**keyed, "transaction_id": "k-2"}, headers={"Idempotency-Key": "k-1"})
        assert status == 400 and "differ" in got["message"]
        sent_at_once = {k: v for k, v in keyed.items() if k != "queue"}
        assert call(api, sent_at_once, headers={"Idempotency-Key": "k-1"})[0] == 409
        assert len(client.core.store.outbox()) == 2

        direct = {"to": "+8613800000002", "text": "at once", "transaction_id": "order-12"}
        assert call(api, direct)[0] == 200
        status, got = call(api, {**direct, "queue": True})  # the same key, queued: another request
        assert status == 409 and "sent at once" in got["message"]
        assert sendonce.claim(client.core.store, "order-13", client.config)[1]  # being sent at once right now
        assert call(api, {**direct, "transaction_id": "order-13", "queue": True})[0] == 409
        assert len(client.core.store.outbox()) == 2 and len(sim.messages) == 2


def test_a_direct_send_asked_again_is_sent_once(sim):
    """Without a queue: a repeat of a request the MMSC accepted gets its outcome again (marked
    `repeat`), not a second message; one it refused, or that got no answer, goes again when asked."""
    store = mm7.MemoryStore()
    with mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never()) as client:
        api = SendApi(client)
        request = {"to": "+8613800000000", "text": "once", "transaction_id": "order-8"}
        status, first = call(api, request)
        assert status == 200 and first["ok"] and "repeat" not in first
        status, again = call(api, request)
        assert status == 200 and again == {**first, "repeat": True}
        assert call(api, {**request, "subject": "changed"})[0] == 409
        assert call(api, {**request, "queue": True})[0] == 400  # (no outbox here)
        # an empty key was the key "": the next request with one was a 409, though it went out under a made-up ID
        for body, headers in (({"to": "1", "transaction_id": ""}, {}), ({"to": "2"}, {"Idempotency-Key": " "})):
            status, got = call(api, body, headers=headers)
            assert status == 400 and "is empty: leave it out" in got["message"], got
        assert "transaction_id is empty" in call(api, {"message_id": "m", "transaction_id": ""}, "/cancel")[1]["message"]
        assert len(sim.messages) == 1

        sim.fail_next(1, status=4006)
        refused = {"to": "+8613800000001", "text": "busy", "transaction_id": "order-9"}
        assert call(api, refused)[1]["status"] == 4006
        status, got = call(api, refused)  # refused: asking again sends it again
        assert status == 200 and got["ok"] and "repeat" not in got
        assert call(api, refused)[1]["repeat"] is True
        assert len(sim.messages) == 2

        # accepted by another way of sending (no claim, a record): its outcome, for the same recipients
        result = client.submit(mm7.SubmitReq(recipients=["+8613800000002"]), transaction_id="order-10")
        status, got = call(api, {"to": "+8613800000002", "text": "x", "transaction_id": "order-10"})
        assert status == 200 and (got["message_id"], got["repeat"]) == (result.message_id, True)
        assert call(api, {"to": "+8613800000003", "transaction_id": "order-10"})[0] == 409
        assert len(sim.messages) == 3


def test_a_cancel_asked_again_is_sent_once_as_a_send_is(sim):
    """/cancel took a transaction_id and sent the CancelReq again on every repeat, and ignored an
    Idempotency-Key (a new TransactionID each time): a caller that timed out and asked again
    cancelled twice, and could not tell the second answer was about the first."""
    store = mm7.MemoryStore()
    with mm7.Client(sim.url, store=store, retry=mm7.RetryPolicy.never()) as client:
        api = SendApi(client)
        message_ids = [call(api, {"to": f"+861380000000{i}", "text": "x"})[1]["message_id"] for i in range(3)]

        def cancels() -> list:
            return [r for r in store.sent() if r.operation == "CancelReq"]

        request = {"message_id": message_ids[0], "transaction_id": "cancel-1"}
        status, first = call(api, request, "/cancel")
        assert status == 200 and first["ok"] and first["transaction_id"] == "cancel-1" and "repeat" not in first
        status, again = call(api, request, "/cancel")
        assert status == 200 and again == {**first, "repeat": True}
        assert call(api, {"message_id": message_ids[1], "transaction_id": "cancel-1"}, "/cancel")[0] == 409
        assert call(api, {"to": "+8613800000009", "transaction_id": "cancel-1"})[0] == 409  # (nor a send under it)
        assert len(cancels()) == 1
        # the header is the body's transaction_id, for /cancel as for /send
        headers = {"Idempotency-Key": "cancel-2"}
        status, first = call(api, {"message_id": message_ids[1]}, "/cancel", headers=headers)
        assert status == 200 and first["ok"] and first["transaction_id"] == "cancel-2"
        assert call(api, {"message_id": message_ids[1]}, "/cancel", headers=headers)[1] == {**first, "repeat": True}
        assert call(api, {"message_id": message_ids[1], "transaction_id": "other"}, "/cancel",
                    headers=headers)[0] == 400
        assert call(api, {"message_id": message_ids[1]}, "/cancel", headers={"Idempotency-Key": " "})[0] == 400
        assert len(cancels()) == 2
        # a key a send used is not a cancel's: refused, not sent under it
        call(api, {"to": "+8613800000008", "text": "x", "transaction_id": "order-1"})
        assert call(api, {"message_id": message_ids[2], "transaction_id": "order-1"}, "/cancel")[0] == 409
        assert len(cancels()) == 2


def test_a_repeat_while_the_first_is_still_being_sent_is_not_sent(tmp_path):
    """The caller's timeout is shorter than the MMSC's answer: its repeat arrives while the first
    request is in flight, and is told so (409), not sent beside it."""
    import threading

    from .fake_http import FakeServer, default_responder

    answering = threading.Event()
    inside = threading.Event()

    def slow(req):
        inside.set()
        assert answering.wait(10)
        return default_responder(req)

    with FakeServer(slow) as mmsc, mm7.Client(mmsc.url, store=mm7.SqliteStore(tmp_path / "vasp.db")) as client:
        api = SendApi(client)
        request = {"to": "+8613800000000", "text": "slow", "transaction_id": "order-11"}
        outcome = []
        first = threading.Thread(target=lambda: outcome.append(call(api, request)))
        first.start()
        assert inside.wait(10)
        status, got = call(api, request)
        assert status == 409 and "being sent right now" in got["message"]
        answering.set()
        first.join(10)
        assert outcome[0][0] == 200 and outcome[0][1]["ok"]
        assert call(api, request)[1]["repeat"] is True
        assert len(mmsc.requests) == 1


def test_a_request_that_went_out_unanswered_is_not_called_unsent():
    """The MMSC read the request and the connection was lost before its answer: the 502 says the
    message may be on its way, so that the caller asks again under the same transaction_id instead
    of sending a second copy under a new one."""
    from .fake_http import FakeServer, Reply

    with FakeServer(lambda req: Reply(drop=True)) as mmsc, \
            mm7.Client(mmsc.url, retry=mm7.RetryPolicy.never()) as client:
        status, got = call(SendApi(client), {"to": "+8613800000000", "text": "hi", "transaction_id": "order-20"})
        assert len(mmsc.requests) == 1  # it went out
    assert status == 502 and got["ok"] is False and got["may_have_arrived"] is True, got
    assert got["transaction_id"] == "order-20" and "ask again with the same transaction_id" in got["message"]


def test_config_check_warns_when_the_mmsc_could_use_the_send_api(tmp_path):
    """The send API shares the receiver's port: an allow-list that admits the MMSC's addresses,
    without a token, lets the MMSC send as the operator; a token with white space around it can
    never be matched (the header's value is trimmed)."""
    from mm7bind import config

    def problems(api: str) -> list[str]:
        path = tmp_path / "cfg.toml"
        path.write_text(f'[receiver]\nhost = "0.0.0.0"\nallow = ["10.1.0.0/16"]\n[api]\npath = "/api"\n{api}',
                        encoding="utf-8")
        return [str(p) for p in config.load(path)[1]]

    assert any("the MMSC could send through the API" in p for p in problems('allow = ["10.0.0.0/8"]\n'))
    assert not any("api" in p for p in problems('allow = ["10.0.0.0/8"]\ntoken = "k"\nauth_failures = 0\n'))
    assert not any("api" in p for p in problems('allow = ["192.168.1.10"]\n'))
    assert any("api.token" in p and "white space" in p for p in problems('token = "k "\n'))
    # a header's bytes reach the application as Latin-1: a token beyond ASCII could never match
    assert any("api.token" in p and "printable ASCII" in p for p in problems('token = "pässwörd"\n'))
    for token in ("pässwörd", " k", "k\n", "k\x7f"):  # refused by the API as config check says it
        [problem] = [p.removeprefix("error: api.token: ") for p in problems(f"token = {json.dumps(token)}\n")
                     if p.startswith("error: api.token: ")]
        with pytest.raises(ValueError) as refused:
            SendApi(None, token=token)
        assert str(refused.value) == f"the API token {problem}"
    assert SendApi(None, token="a b").token == b"a b"  # (a space inside is kept by the header)


def test_config_check_refuses_a_send_api_path_holding_the_receivers(tmp_path):
    """The send API takes every path under its own: at "/", every MMSC request went to it (a 401
    or 404 from the API), and config check said nothing."""
    from mm7bind import config

    def problems(text: str) -> list[str]:
        path = tmp_path / "cfg.toml"
        path.write_text(text, encoding="utf-8")
        return [str(p) for p in config.load(path)[1] if "api.path" in str(p)]

    assert problems('[api]\npath = "/"\ntoken = "k"\n') == [
        "error: api.path: / holds /mm7 (the send API takes every path under its own)"]
    assert problems('[receiver]\npath = "/gw/mm7"\n[api]\npath = "/gw/"\ntoken = "k"\n') == [
        "error: api.path: /gw/ holds /gw/mm7 (the send API takes every path under its own)"]
    assert problems('[receiver]\nhealth_path = "/api/health"\n[api]\npath = "/api"\ntoken = "k"\n') == [
        "error: api.path: /api holds /api/health (the send API takes every path under its own)"]
    assert problems('[receiver]\npath = "/mm7"\nhealth_path = "/"\n[api]\npath = "/api"\ntoken = "k"\n') == []
    assert problems('[receiver]\npath = "/api2"\n[api]\npath = "/api"\ntoken = "k"\n') == []


def test_config_check_names_each_unreadable_allow_item_and_compares_the_others(tmp_path):
    from mm7bind import config

    path = tmp_path / "cfg.toml"
    path.write_text('[receiver]\nhost = "0.0.0.0"\nallow = ["10.1.0.0/16", "mmsc.example"]\n'
                    '[api]\npath = "/api"\nallow = ["10.0.0.0/8", "10.0.0.300"]\n', encoding="utf-8")
    problems = [str(p) for p in config.load(path)[1]]
    assert any("receiver.allow" in p and "'mmsc.example' is not an address or network" in p for p in problems)
    assert any("api.allow" in p and "'10.0.0.300' is not an address or network" in p for p in problems)
    assert any("the MMSC could send through the API" in p for p in problems), problems


def test_a_store_in_trouble_is_a_503_that_says_nothing_went_out(sim, caplog):
    """A locked or full store where the request is claimed or queued: an answer in the API's JSON
    saying that nothing was sent (it was a bare 500 and a traceback)."""
    import sqlite3

    from mm7bind.outbox import Outbox

    class LockedStore(mm7.MemoryStore):
        def send_claim(self, claim, stale):
            raise sqlite3.OperationalError("database is locked")

        def outbox_put_many(self, entries, *, once=False):
            raise sqlite3.OperationalError("database or disk is full")

    with mm7.Client(sim.url, store=LockedStore()) as client:
        api = SendApi(client, outbox=Outbox(client))
        status, got = call(api, {"to": "1", "transaction_id": "order-30"})
        assert status == 503 and got["error"] == "service unavailable" and "nothing was sent" in got["message"]
        assert "database is locked" in got["message"] and "database is locked" in caplog.text
        status, got = call(api, {"to": "1", "queue": True})
        assert status == 503 and "disk is full" in got["message"]
    assert sim.messages == {}

    class FlakyStore(mm7.MemoryStore):  # claims, then fails to read the records once
        failed = False

        def sent_by_transaction_id(self, transaction_id):
            if not self.failed:
                self.failed = True
                raise sqlite3.OperationalError("disk I/O error")
            return super().sent_by_transaction_id(transaction_id)

    class UnreadableStore(mm7.MemoryStore):
        def outbox_get(self, item_id):
            raise sqlite3.OperationalError("database is locked")

    with mm7.Client(sim.url, store=UnreadableStore()) as client:  # asking after an item sends nothing
        status, got = call(SendApi(client, outbox=Outbox(client)), b"", "/queue/1", method="GET")
        assert status == 503 and "database is locked" in got["message"], got
        assert "nothing was sent" not in got["message"], got

    with mm7.Client(sim.url, store=FlakyStore()) as client:
        api = SendApi(client)
        assert call(api, {"to": "1", "transaction_id": "order-31"})[0] == 503
        status, got = call(api, {"to": "1", "transaction_id": "order-31"})  # (not "being sent right now")
        assert status == 200 and got["ok"] and "repeat" not in got, got
    assert len(sim.messages) == 1


def test_a_405_allows_every_method_the_path_answers(sim):
    """GET /queue/<id> is answered for HEAD too: the 405 to another method said "Allow: GET" alone,
    so a client going by it never learnt HEAD works there."""
    from mm7bind.outbox import Outbox

    with mm7.Client(sim.url, store=mm7.MemoryStore()) as client:
        api = SendApi(client, outbox=Outbox(client))
        assert call(api, {"to": "+8613800000000", "queue": True})[0] == 202
        for method in ("GET", "HEAD"):
            assert call(api, b"", "/queue/1", method=method)[0] == 200
        for method in ("POST", "PUT", "DELETE"):
            rsp = api.handle(method, "/queue/1", b"", {}, "127.0.0.1")
            assert (rsp.status, dict(rsp.headers)["Allow"]) == (405, "GET, HEAD"), method
        rsp = api.handle("GET", "/send", b"", {}, "127.0.0.1")
        assert (rsp.status, dict(rsp.headers)["Allow"]) == (405, "POST")


def test_an_answer_after_an_attempt_that_got_no_answer_says_the_mmsc_may_have_it_twice(tmp_path):
    """Within one send, or across a 502 the caller asked again after (the same transaction_id): the
    answer, and a repeat's answered from the record, say `earlier_unanswered`."""
    from .fake_http import FakeServer, Reply, default_responder, mm7_reply, scripted, times_out_once

    # (each request meant to time out waits 0.3 s for an answer held until it gave up; every other
    # answer gets the client's read_timeout)
    gave_up, lost_once, refused = threading.Event(), threading.Event(), threading.Event()
    with FakeServer(scripted(Reply(hold=gave_up))) as srv, \
            mm7.Client(srv.url, store=mm7.SqliteStore(tmp_path / "vasp.db"),
                       retry=mm7.RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0)) as client:
        times_out_once(client, gave_up)
        api = SendApi(client)
        status, got = call(api, {"to": "+8613800000000", "text": "hi"}, headers={"Idempotency-Key": "k-1"})
        assert status == 200 and got["ok"] and got["attempts"] == 2 and got["earlier_unanswered"] is True, got
        status, again = call(api, {"to": "+8613800000000", "text": "hi"}, headers={"Idempotency-Key": "k-1"})
        assert status == 200 and again["repeat"] and again["earlier_unanswered"] is True, again
        status, plain = call(api, {"to": "+8613800000001", "text": "hi"})
        assert status == 200 and plain["earlier_unanswered"] is False
        srv.responder = lambda req: Reply(hold=lost_once)
        once = {"to": "+8613800000002", "text": "hi", "transaction_id": "order-9"}
        with mm7.Client(srv.url, store=client.core.store, retry=mm7.RetryPolicy.never()) as c:
            times_out_once(c, lost_once)
            status, lost = call(SendApi(c), once)
        assert status == 502 and lost["may_have_arrived"] is True
        srv.responder = default_responder
        status, got = call(api, once)  # (asked again: the next attempt of the same request)
        assert status == 200 and got["ok"] and got["earlier_unanswered"] is True, got
        # Refused after an attempt that got no answer: not accepted now, perhaps taken before.
        busy = mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=mm7.Status(4006)))
        srv.responder = scripted(Reply(hold=refused), then=lambda req: mm7_reply(busy, req.decode(), 500))
        times_out_once(client, refused)
        status, got = call(api, {"to": "+8613800000003", "text": "hi"})
        assert status == 200 and got["ok"] is False and got["status"] == 4006 and got["earlier_unanswered"] is True


def test_a_queued_item_sent_after_an_attempt_that_got_no_answer_says_so(tmp_path):
    from mm7bind.outbox import Outbox

    from .fake_http import FakeServer, Reply, scripted, times_out_once

    gave_up = threading.Event()  # (the first attempt alone waits 0.3 s, for an answer held until then)
    with FakeServer(scripted(Reply(hold=gave_up))) as srv, \
            mm7.Client(srv.url, store=mm7.SqliteStore(tmp_path / "vasp.db"),
                       retry=mm7.RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0)) as client:
        times_out_once(client, gave_up)
        outbox = Outbox(client)
        api = SendApi(client, outbox=outbox)
        for text in ("twice?", "once"):
            assert call(api, {"to": "+8613800000000", "text": text, "queue": True})[0] == 202
        status, got = call(api, b"", "/queue/1", method="GET")
        assert status == 200 and got["state"] == "queued" and "earlier_unanswered" not in got
        outbox.run_once()
        got = [call(api, b"", f"/queue/{i}", method="GET")[1] for i in (1, 2)]
    assert [(g["state"], g["earlier_unanswered"]) for g in got] == [("sent", True), ("sent", False)]


def test_a_large_message_s_claim_covers_its_upload_at_the_minimum_rate(sim):
    """The claim a send with a transaction_id holds (asked again meanwhile: "being sent right now")
    lasted what a request's attempts take with uploads of `upload_timeout`: a large message, given
    longer to go out (`upload_min_rate`), could outlast it, and a repeat of the API request be sent
    too."""
    from mm7bind import sendonce
    from mm7bind.store import MemoryStore, utcnow

    store = MemoryStore()
    with mm7.Client(sim.url, store=store, upload_min_rate=1000) as client:
        claims = []
        send = client.send

        def watching(msg, **kwargs):
            claims.append(store.send_claim_get("order-large").lease_until - utcnow())
            return send(msg, **kwargs)

        client.send = watching
        data = base64.b64encode(b"x" * 1_000_000).decode()
        status, got = call(SendApi(client), {"to": "+8613800000000", "transaction_id": "order-large",
                                             "parts": [{"content_type": "application/octet-stream", "data": data}]})
    assert status == 200 and got["ok"], got
    own = sendonce.lease(client.config, 1_000_000)
    assert claims[0] > own - timedelta(minutes=1) and own > sendonce.lease(client.config) * 2



def test_a_send_with_a_transaction_id_encodes_its_message_once(monkeypatch):
    """Sent at most once (with a store), a message was encoded for its size (the claim's lease)
    and again to be sent: a large one's MIME written twice. The request that goes out is the one
    measured, and the claim counts its bytes."""
    from mm7bind import client as client_module
    from mm7bind import sendonce
    from mm7bind.store import MemoryStore, utcnow

    from .fake_http import FakeServer

    encodes = []
    encode = client_module.encode
    monkeypatch.setattr(client_module, "encode", lambda *a, **kw: encodes.append(1) or encode(*a, **kw))
    store = MemoryStore()
    data = base64.b64encode(b"x" * 300_000).decode()
    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store, upload_min_rate=1000) as client:
        leases, sent = [], []
        send = client.send

        def watching(msg, **kwargs):
            leases.append(store.send_claim_get("order-once").lease_until - utcnow())
            sent.append(msg.http.to_bytes())
            return send(msg, **kwargs)

        client.send = watching
        status, got = call(SendApi(client), {"to": "+8613800000000", "transaction_id": "order-once", "parts": [
            {"content_type": "application/octet-stream", "data": data}]})
        [request] = mmsc.requests
    assert status == 200 and got["ok"], got
    assert len(encodes) == 1 and request.body == sent[0]
    own = sendonce.lease(client.config, len(request.body))
    assert own - timedelta(minutes=1) < leases[0] <= own



def test_a_recipient_that_is_no_number_short_code_or_e_mail_address_is_a_400_unless_its_kind_is_written(sim):
    """"abc" went out as a Number nobody has (a recipient file refused it): a 400 naming the field
    and how to send it all the same; a kind written before an address sends it as that kind."""
    with mm7.Client(sim.url) as client:
        api = SendApi(client)
        status, got = call(api, {"to": ["+8613800000000"], "cc": ["+8613800000001", "abc"], "text": "x"})
        assert status == 400 and got["message"].startswith("cc[2]: 'abc' is no phone number, short code or e-mail "
                                                           "address") and '"Number:abc"' in got["message"], got
        assert not sim.messages
    from .fake_http import FakeServer

    with FakeServer() as mmsc, mm7.Client(mmsc.url) as client:
        status, got = call(SendApi(client), {"to": ["shortcode:1065888", "Number:abc", "RFC2822Address: ops"],
                                             "sender_address": "ShortCode:1065888", "text": "x"})
        assert status == 200 and got["ok"], got
        [request] = mmsc.requests
    sent = request.decode().body
    assert [(a.kind.value, a.value) for a in sent.recipients.to] == [
        ("ShortCode", "1065888"), ("Number", "abc"), ("RFC2822Address", "ops")]
    assert (sent.sender_address.kind.value, sent.sender_address.value) == ("ShortCode", "1065888")


def test_a_send_ends_within_its_transaction_ids_claim():
    """A /send with a transaction_id claims it for a lease, but its send was not held to it: one
    waiting out a rate limit kept busy by other senders went out after its claim ran out, when a
    repeat of the request could have claimed the TransactionID and sent it too. Now it sends
    nothing and says so (the claim given back: asked again, it is sent)."""
    from mm7bind import sendonce
    from mm7bind.store import MemoryStore

    from .fake_http import FakeServer

    sleeps: list[float] = []
    store = MemoryStore()
    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store, rate_limit=0.001, sleep=sleeps.append,
                                          retry=mm7.RetryPolicy(max_attempts=2)) as client:
        [limiter] = client.core.limiters.values()
        api = SendApi(client)
        status, got = call(api, {"to": "+8613800000000", "text": "x", "transaction_id": "own"})
        assert status == 200 and got["ok"] and len(mmsc.requests) == 1, got
        busy = sendonce.lease(client.config).total_seconds() + sendonce.rate_wait(client.config, 1)
        for _ in range(int(busy * 0.001) + 1):  # other senders through the client take its turns meanwhile
            limiter.reserve()
        waits = len(sleeps)
        status, got = call(api, {"to": "+8613800000000", "text": "x", "transaction_id": "late"})
        assert status == 502 and got["error"] == "NoTimeLeft" and got["may_have_arrived"] is False, got
        assert got["message"].startswith("not sent: no time for an attempt") and len(mmsc.requests) == 1
        assert len(sleeps) == waits and store.send_claim_get("late") is None  # (no wait; the claim given back)


@pytest.mark.parametrize("setting", ["max_recipients", "max_parts", "max_body"])
@pytest.mark.parametrize("value", [0, float("nan"), 2.5, True])
def test_a_send_api_bound_that_is_no_whole_number_is_refused_when_made(setting, value):
    """A NaN max_recipients (or max_parts, max_body) passed every comparison: a /send could name a
    million recipients, without a word. Refused when the API is made, naming the setting."""
    client = mm7.Client("http://127.0.0.1:9/mm7")
    with pytest.raises(ValueError, match=f"^{setting} must be a whole number, at least 1, not "):
        SendApi(client, **{setting: value})
    client.close()


def test_wrong_tokens_from_one_address_are_throttled_and_said_once(caplog):
    """A token tried as fast as the API answered, a log line each: `auth_failures` wrong tokens from
    one address within `auth_cooldown` seconds and its requests are a 429 with Retry-After, unchecked
    (the right token too), as the receiver answers wrong credentials; other addresses go on."""
    api = SendApi(None, token="t0ken", auth_failures=3, auth_cooldown=30)
    wrong, right = {"Authorization": "Bearer guess"}, {"Authorization": "Bearer t0ken"}
    for _ in range(2):  # no token at all, or another scheme: not a guess, not counted
        assert call(api, {"to": "1"}, peer="10.0.0.7")[0] == 401
        assert call(api, {"to": "1"}, headers={"Authorization": "Basic eDp5"}, peer="10.0.0.7")[0] == 401
    with caplog.at_level("WARNING", logger="mm7bind.sendapi"):
        assert [call(api, {"to": "1"}, headers=wrong, peer="10.0.0.7")[0] for _ in range(3)] == [401] * 3
        rsp = api.handle("POST", "/send", b"{}", right, "10.0.0.7")
        assert rsp.status == 429 and 0 < int(dict(rsp.headers)["Retry-After"]) <= 30
        assert json.loads(rsp.body) == {"ok": False, "error": "too many requests",
                                        "message": "too many wrong tokens: try again later"}
        assert call(api, {"to": "1"}, headers=wrong, peer="10.0.0.7")[0] == 429
    said = [r.getMessage() for r in caplog.records]
    assert said.count("refused API request from 10.0.0.7: wrong bearer token") == 3
    assert [s for s in said if "answered 429" in s] == [
        "3 wrong bearer tokens from 10.0.0.7 within 30 s: its API requests are answered 429, unchecked, for 30 s"]
    # another address is checked still: the right token gets past (to the JSON, refused here)
    assert call(api, {"to": 1}, headers=right, peer="10.0.0.8")[0] == 400
    # no limit: auth_failures=0
    unlimited = SendApi(None, token="t0ken", auth_failures=0)
    assert {call(unlimited, {"to": "1"}, headers=wrong)[0] for _ in range(20)} == {401}
    for bad in ({"auth_failures": -1}, {"auth_failures": True}, {"auth_cooldown": 0},
                {"auth_cooldown": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SendApi(None, token="t0ken", **bad)


def test_the_api_section_sets_the_token_limit(tmp_path):
    path = tmp_path / "mm7bind.toml"
    path.write_text('[api]\npath = "/api"\ntoken = "t0ken"\nauth_failures = 2\nauth_cooldown = 5\n', encoding="utf-8")
    cfg = mm7.config.load_checked(path)
    api = cfg.make_send_api(None)
    assert (api._failures.failures, api._failures.cooldown) == (2, 5.0)
    path.write_text('[api]\nauth_failures = -1\nauth_cooldown = 0\n', encoding="utf-8")
    _, problems = mm7.config.load(path, env={})
    assert {p.where for p in problems if p.level == "error"} >= {"api.auth_failures", "api.auth_cooldown"}


def test_every_answer_is_counted_by_operation_and_outcome(sim):
    """What the API answered was only logged: a caller's wrong tokens, its throttling, the MMSC's
    refusals had no counter a scraper could alert on."""
    metrics = mm7.Metrics()
    right, wrong = {"Authorization": "Bearer t0ken"}, {"Authorization": "Bearer guess"}
    with mm7.Client(sim.url, metrics=metrics) as client:
        api = SendApi(client, token="t0ken", auth_failures=2, auth_cooldown=30)
        assert api.metrics is metrics  # (the client's, as serve gives it the receiver's)
        assert call(api, {"to": "+8613800000000", "text": "hi"}, headers=right)[0] == 200
        sim.fail_next(status=2002)
        assert call(api, {"to": "+8613800000000", "text": "hi"}, headers=right)[1]["ok"] is False
        assert call(api, {"to": "+8613800000000", "subjet": "typo"}, headers=right)[0] == 400
        assert call(api, {"message_id": "SIM-none"}, "/cancel", headers=right)[0] == 200
        assert call(api, {}, "/queue/7", method="GET", headers=right)[0] == 404
        assert call(api, {}, "/queue/", method="GET", headers=right)[0] == 404
        assert call(api, {}, "/nowhere", headers=right)[0] == 404
        assert call(api, {}, "/send", method="GET", headers=right)[0] == 405
        assert call(api, {"to": "1"}, peer="10.0.0.7")[0] == 401  # no token: not a guess
        assert [call(api, {"to": "1"}, headers=wrong, peer="10.0.0.7")[0] for _ in range(2)] == [401, 401]
        assert [call(api, {"to": "1"}, headers=h, peer="10.0.0.7")[0] for h in (wrong, right)] == [429, 429]
    counted = {(dict(ls)["operation"], dict(ls)["outcome"]): v for (n, ls), v in metrics._counters.items()
               if n == "mm7bind_api_requests_total"}
    assert counted == {("send", "ok"): 1, ("send", "refused"): 1, ("send", "bad_request"): 1, ("cancel", "refused"): 1,
                       ("queue", "not_found"): 2, ("", "not_found"): 1, ("send", "not_allowed"): 1,
                       ("send", "challenged"): 1, ("send", "unauthorized"): 2, ("send", "throttled"): 2}, counted
    assert metrics.value("mm7bind_sent_total", operation="SubmitReq") == 2  # the sends themselves, by the client
    text = metrics.render()
    assert "# TYPE mm7bind_api_requests_total counter" in text
    assert 'mm7bind_api_requests_total{operation="send",outcome="throttled"} 2' in text


def test_queueing_repeats_and_a_body_refused_unread_are_counted(sim, tmp_path):
    from mm7bind.outbox import Outbox

    metrics = mm7.Metrics()
    store = mm7.MemoryStore()
    with mm7.Client(sim.url, store=store) as client:
        api = SendApi(client, outbox=Outbox(client), metrics=metrics, max_body=1000)
        status, got = call(api, {"to": "+8613800000000", "text": "hi", "queue": True, "transaction_id": "q-1"})
        assert status == 202
        assert call(api, {"to": "+8613800000000", "text": "hi", "queue": True, "transaction_id": "q-1"})[0] == 202
        assert call(api, {}, f"/queue/{got['queued']}", method="GET")[0] == 200
        assert call(api, {"to": "+8613800000000", "text": "bye", "queue": True, "transaction_id": "q-1"})[0] == 409
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/send", "CONTENT_LENGTH": "5000",
                   "wsgi.input": io.BytesIO(b"x" * 5000)}
        assert api.wsgi_app(environ, lambda status, headers: None) and metrics.value(
            "mm7bind_api_requests_total", outcome="too_large") == 1
    assert {o: metrics.value("mm7bind_api_requests_total", outcome=o) for o in ("queued", "repeat", "found", "conflict")
            } == {"queued": 1, "repeat": 1, "found": 1, "conflict": 1}
    assert SendApi(None).metrics is None  # (nothing counted without one)


def test_config_check_warns_when_callers_behind_a_proxy_would_share_one_wrong_token_count(tmp_path):
    """Wrong tokens are counted by address: behind a reverse proxy, without trusted_proxy, every
    caller has the proxy's, so one caller's wrong tokens held up all the others for the cool-down,
    and config check said nothing of it."""
    from mm7bind import config

    def warned(receiver: str, api: str = "") -> list[str]:
        path = tmp_path / "cfg.toml"
        path.write_text(f'[receiver]\n{receiver}[api]\npath = "/api"\ntoken = "k"\n{api}', encoding="utf-8")
        return [str(p) for p in config.load(path)[1] if "api.auth_failures" in str(p)]

    [said] = warned('host = "0.0.0.0"\n')
    assert said.startswith("warning: api.auth_failures: ") and "[receiver] trusted_proxy" in said, said
    assert warned('host = "0.0.0.0"\ntrusted_proxy = "10.0.0.5"\n') == []  # the callers told apart
    assert warned('host = "0.0.0.0"\n', "auth_failures = 0\n") == []  # no limit, no count to share
    assert warned('host = "127.0.0.1"\n') == []  # (on loopback, callers of this host)
    # serving TLS itself it has no proxy in front (and trusted_proxy is refused there)
    assert warned(f'host = "0.0.0.0"\ntls_cert = "{tmp_path / "c.pem"}"\ntls_key = "{tmp_path / "k.pem"}"\n') == []
    path = tmp_path / "cfg.toml"  # a warning: serve starts all the same
    path.write_text('[receiver]\nhost = "0.0.0.0"\n[api]\npath = "/api"\ntoken = "k"\n', encoding="utf-8")
    assert all(p.level == "warning" for p in config.load(path)[1])


def test_each_answer_is_timed_by_operation_through_the_wsgi_app(sim):
    """The API's answers were counted, not timed: a slow MMSC behind /send showed in the client's
    mm7bind_send_seconds only, not as what the applications calling the API waited."""
    from .exposition import read_exposition

    metrics = mm7.Metrics()

    def wsgi(method, path, body=b""):
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
                   "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1"}
        said = []
        b"".join(api.wsgi_app(environ, lambda status, headers: said.append(status)))
        return int(said[0].split()[0])

    with mm7.Client(sim.url, metrics=metrics) as client:
        api = SendApi(client, max_body=1000)
        sim.fail_next(1, delay=0.3)  # (served, after 0.3 s)
        assert wsgi("POST", "/send", json.dumps({"to": "+8613800000000", "text": "hi"}).encode()) == 200
        assert wsgi("POST", "/cancel", json.dumps({"message_id": "SIM-none"}).encode()) == 200
        assert wsgi("GET", "/send") == 405
        assert wsgi("POST", "/send", b"x" * 2000) == 413  # (refused unread: timed all the same)
    samples = read_exposition(metrics.render())
    for operation, n in (("send", 3), ("cancel", 1)):
        assert samples[f'mm7bind_api_request_seconds_count{{operation="{operation}"}}'] == n == metrics.value(
            "mm7bind_api_requests_total", operation=operation)
    send = 'mm7bind_api_request_seconds_bucket{operation="send",le="%s"}'
    assert samples[send % "0.25"] == 2 and samples[send % "+Inf"] == 3  # the slow one above 0.25 s
    assert samples['mm7bind_api_request_seconds_sum{operation="send"}'] >= 0.3
    assert "# TYPE mm7bind_api_request_seconds histogram" in metrics.render()


def test_a_request_asked_again_goes_first_to_the_mmsc_its_killed_send_failed_over_to(store):
    """A send at once (with a transaction_id) failed over to the second MMSC and its process was
    killed while that MMSC had the request: its claim notes where it went. Asked again, the
    request (the same TransactionID) started at the first MMSC, which delivered a second copy; it
    goes to the one that may have it first."""
    from mm7bind.store import SendClaim, utcnow

    from .fake_http import FakeServer

    with FakeServer() as a, FakeServer() as b, \
            mm7.Client((a.url, b.url), store=store, retry=mm7.RetryPolicy.never()) as client:
        gone = SendClaim("app-1", "gone:1:x", utcnow() - timedelta(seconds=1))
        assert store.send_claim(gone, lambda held: False) is gone  # (the killed process's, its lease run out)
        assert store.send_claim_attempt_at("app-1", gone.holder, "app-1", b.url)
        status, got = call(SendApi(client), {"to": "+8613800000001", "text": "hi", "transaction_id": "app-1"})
        assert status == 200 and got["ok"] is True, got
        assert (len(a.requests), len(b.requests)) == (0, 1)


def test_an_async_client_is_refused_at_once():
    """The send API sends from the server's threads through a blocking Client: given an
    `AsyncClient`, each request's send was a coroutine never awaited. Said when it is made, as the
    outbox and campaigns say it."""
    pytest.importorskip("httpx")
    import asyncio

    client = mm7.AsyncClient("http://127.0.0.1:9/mm7")
    try:
        with pytest.raises(TypeError, match="the send API sends through a Client, not an AsyncClient"):
            SendApi(client)
    finally:
        asyncio.run(client.aclose())


@pytest.mark.parametrize(("answer", "twice"), fake_http.KILLED_SENDS_ANSWERS)
def test_a_request_asked_again_after_its_killed_send_was_refused_is_not_said_to_have_arrived_twice(
        store, monkeypatch, answer, twice):
    """A send at once failed over to the second MMSC, which answered it; its end was recorded, and
    its process was killed before it gave its claim back. Asked again, the claim taken over, the
    request went to the second MMSC first and its answer said "earlier_unanswered" — the MMSC may
    have it twice — even when that MMSC had refused it in a Fault (the claim's note of where the
    attempt went outlived the record of how it ended). A refusal says no more; an attempt that got
    no answer still does."""
    from mm7bind import sendonce

    from .fake_http import Killed, killing, mmscs_of_a_killed_send

    with mmscs_of_a_killed_send(store, answer) as (a, b, client, first_process):
        ask = {"to": "+8613800000001", "text": "hi", "transaction_id": "app-1"}
        with monkeypatch.context() as patched:
            patched.setattr(sendonce, "done", killing)
            with pytest.raises(Killed):
                call(SendApi(client), ask)
        assert store.sent_by_transaction_id("app-1").url == b.url and not store.send_claim_get("app-1").accepted
        first_process[0] = False
        monkeypatch.setattr(sendonce, "_stale", lambda held: True)  # (its process gone)
        status, got = call(SendApi(client), ask)
        assert status == 200 and got["ok"] is True and got["earlier_unanswered"] is twice, got
        # (refused: sent where a send starts; else first to the MMSC that may have it)
        assert (len(a.requests), len(b.requests)) == ((2, 1) if not twice else (1, 2))
