"""Loopback throughput: the client against raw requests, the receiver against a trivial app."""

from __future__ import annotations

import os
import time

import mm7bind as mm7

SERVER = r"""
import socketserver, sys
body = open(sys.argv[1], "rb").read()
answer = (b"HTTP/1.1 200 OK\r\nContent-Type: " + sys.argv[2].encode() + b"\r\nContent-Length: "
          + str(len(body)).encode() + b"\r\n\r\n" + body)

class Handler(socketserver.StreamRequestHandler):
    # Headers are read as plain lines. http.server hands them to the email package, which compiles
    # a regular expression for every new multipart boundary it sees (about 0.1 ms each): a client
    # that uses a fresh boundary per message, as MIME wants, would be charged for the server's
    # parser, and a baseline posting the same bytes again would not.
    disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms each)

    def handle(self):
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return
            length = 0
            while line not in (b"\r\n", b"\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                line = self.rfile.readline(65537)
            self.rfile.read(length)
            self.wfile.write(answer)

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

httpd = Server(("127.0.0.1", 0), Handler)
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"""


class _Server:
    """A keep-alive HTTP/1.1 server on loopback answering every POST with fixed bytes.

    It runs in its own process, as an MMSC would: in this process it would share the GIL and the
    caches with the client, and every microsecond the client spends would also stall the server."""

    def __init__(self, body: bytes, content_type: str):
        import subprocess
        import sys
        import tempfile

        self.dir = tempfile.TemporaryDirectory(prefix="mm7bind-bench-")
        path = os.path.join(self.dir.name, "answer")
        with open(path, "wb") as f:
            f.write(body)
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, path, content_type], stdout=subprocess.PIPE,
                                     text=True)
        port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{port}/mm7"

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.dir.cleanup()


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
    return [ClientRate(0, "small"), ClientRate(100 * 1024, "100kib"), ReceiverRate()]


LOADER = r"""
import http.client, sys, threading, time
from urllib.parse import urlsplit
url, ctype, body_path, seconds, threads = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
body = open(body_path, "rb").read()
parts = urlsplit(url)
counts, errors = [0] * threads, [0] * threads
stop = time.monotonic() + seconds
marker = b"TXID-000000000000"
def run(i, tag):
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": ctype, "SOAPAction": '""'}
    n = 0
    while time.monotonic() < stop:
        n += 1
        data = body.replace(marker, b"T%03d-%012d" % (tag, n))  # every request a new TransactionID
        try:
            conn.request("POST", parts.path, data, headers)
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                counts[i] += 1
            else:
                errors[i] += 1
        except OSError:
            errors[i] += 1
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
offset = int(sys.argv[6]) * 100
ts = [threading.Thread(target=run, args=(i, offset + i)) for i in range(threads)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sum(counts), sum(errors))
"""


class ReceiverRate:
    kind = "rate"
    target = 0.5
    name = "receiver-deliver-10kib"
    description = ("DeliverReq with a 10 KiB attachment to the embedded server, stored before the answer: "
                   "accepted/s vs a trivial WSGI app on the same server, loaded by 2 processes × 4 threads")

    def __enter__(self):
        import tempfile

        self.dir = tempfile.TemporaryDirectory(prefix="mm7bind-bench-")
        self.store = mm7.SqliteStore(os.path.join(self.dir.name, "inbox.db"))

        class Keep(mm7.Handler):
            def on_deliver(self, msg, ctx):
                return None  # stored by the receiver before this runs; nothing else to do

        self.ours = mm7.serve(mm7.Receiver(Keep(), store=self.store), port=0, threads=4).start()
        rsp = mm7.encode(mm7.DeliverRsp(), transaction_id="x", version="REL-6-MM7-1-4").to_bytes()

        def trivial(environ, start_response):
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(rsp)))])
            return [rsp]

        self.trivial = mm7.EmbeddedServer(trivial, port=0, threads=4).start()
        return self

    def __exit__(self, *exc):
        self.ours.stop()
        self.trivial.stop()
        self.store.close()
        self.dir.cleanup()

    def load(self, url: str, seconds: float, unique: bool) -> float:
        import subprocess
        import sys

        procs = []
        for n in range(2):  # two loader processes; each thread numbers its own TransactionIDs
            prefix = n
            content = mm7.Content(parts=[mm7.Part.from_bytes(b"\xff\xd8\xff\xe0" + os.urandom(10 * 1024 - 4), "image/jpeg")])
            out = mm7.encode(mm7.DeliverReq(sender="+8613800138000", recipients=["1065888"], subject="bench",
                                            content=content), transaction_id="TXID-000000000000")
            path = os.path.join(self.dir.name, f"body-{n}")
            with open(path, "wb") as f:
                f.write(out.to_bytes())
            procs.append(subprocess.Popen([sys.executable, "-c", LOADER, url, out.content_type, path, str(seconds), "4",
                                           str(prefix)],
                                          stdout=subprocess.PIPE, text=True))
        done = 0
        for p in procs:
            ok, _errors = p.communicate()[0].split()
            done += int(ok)
        return done / seconds

    def run_rate(self, min_time: float) -> dict:
        seconds = max(2.0, min_time * 2)
        base = self.load(self.trivial.url + "/mm7", seconds, False)
        ours = self.load(self.ours.endpoint, seconds, False)
        ratio = ours / base
        return {"name": self.name, "description": self.description, "ours_rate": ours, "baseline_rate": base,
                "ratio": ratio, "target": f"≥{self.target:g}× baseline", "met": ratio >= self.target}
