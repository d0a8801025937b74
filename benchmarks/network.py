"""Loopback throughput: the client against raw requests, the receiver against a trivial app."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mm7bind as mm7


class _Server:
    """A keep-alive HTTP/1.1 server on loopback answering every POST with fixed bytes."""

    def __init__(self, body: bytes, content_type: str):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms each)

            def log_message(self, *a):
                pass

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mm7"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ClientRate:
    kind = "rate"
    target = 0.8

    def __init__(self, size: int, label: str):
        self.size = size
        self.name = f"client-submit-{label}"
        self.description = (f"SubmitReq ({label}) over loopback: mm7bind Client.submit vs requests.post "
                            "of the same bytes, same server")

    def __enter__(self):
        import requests

        content = None
        if self.size:
            content = mm7.Content(parts=[mm7.Part.from_bytes(b"\xff\xd8\xff\xe0" + os.urandom(self.size - 4), "image/jpeg")])
        self.msg = mm7.SubmitReq(vaspid="800001", recipients=["+8613800138000"], subject="bench", content=content)
        out = mm7.encode(self.msg, transaction_id="bench")
        self.bytes, self.headers = out.to_bytes(), out.headers
        rsp = mm7.encode(mm7.SubmitRsp(message_id="m-1"), transaction_id="bench", version="REL-6-MM7-1-4")
        self.server = _Server(rsp.to_bytes(), rsp.content_type)
        self.client = mm7.Client(self.server.url, retry=mm7.RetryPolicy.never())
        self.session = requests.Session()
        return self

    def __exit__(self, *exc):
        self.client.close()
        self.session.close()
        self.server.close()

    def ours(self):
        self.client.submit(self.msg, transaction_id="bench")

    def baseline(self):
        self.session.post(self.server.url, data=self.bytes, headers=self.headers, timeout=(10, 60))

    def run_rate(self, min_time: float) -> dict:
        rates = {"ours": [], "base": []}
        for _ in range(5):
            for key, fn in (("ours", self.ours), ("base", self.baseline)):
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < min_time / 5:
                    fn()
                    n += 1
                rates[key].append(n / (time.perf_counter() - t0))
        ours, base = sorted(rates["ours"])[2], sorted(rates["base"])[2]
        ratio = ours / base
        return {"name": self.name, "description": self.description, "ours_rate": ours, "baseline_rate": base,
                "ratio": ratio, "target": f"≥{self.target:g}× baseline", "met": ratio >= self.target}


def cases() -> list:
    return [ClientRate(0, "small"), ClientRate(100 * 1024, "100kib")]
