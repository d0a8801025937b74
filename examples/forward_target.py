"""What an application receiving `mm7bind serve --forward URL` does, with nothing but the
standard library (the same few lines in any language): check the signature, take the message,
answer. Run it, then point serve at it:

    MM7BIND_SECRET=change-me python examples/forward_target.py 5000
    mm7bind serve --forward http://127.0.0.1:5000/mms/incoming   # with [receiver] forward_secret = "change-me"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("MM7BIND_SECRET", "change-me").encode("utf-8")
MAX_AGE = 300  # seconds: an older request (a captured one, sent again) is refused
seen: set[str] = set()  # X-MM7bind-Delivery of what was taken: a retry of one is not taken twice


def signed(body: bytes, headers) -> bool:
    """The signature covers the timestamp, the delivery id and the body; the timestamp is recent."""
    timestamp, delivery = headers.get("X-MM7bind-Timestamp", ""), headers.get("X-MM7bind-Delivery", "")
    signature = headers.get("X-MM7bind-Signature")
    expected = "sha256=" + hmac.new(SECRET, f"{timestamp}.{delivery}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= MAX_AGE
    return signature is not None and hmac.compare_digest(signature, expected) and fresh


def take(event: dict) -> dict:
    """Your code: what to do with a message; the answer sets the MM7 status the MMSC gets."""
    if event["event"] == "deliver":
        texts = [p["text"] for p in event["parts"] if "text" in p and not p.get("smil")]
        pictures = [base64.b64decode(p["data"]) for p in event["parts"] if p["content_type"].startswith("image/")]
        print(f"MO from {event['message']['sender']['value']}: {event['message'].get('subject')!r} "
              f"{texts} +{len(pictures)} picture(s)", flush=True)
        if any(t.strip().upper() == "TD" for t in texts):  # an unsubscribe keyword, say
            print("  unsubscribed", flush=True)
    else:
        print(f"{event['event']} for {event['message'].get('message_id')}: {event['message'].get('mm_status')}",
              flush=True)
    return {"status": 1000}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not signed(body, self.headers):
            return self.answer(403, {"error": "bad signature"})  # mm7bind keeps the message and tries again
        delivery = self.headers.get("X-MM7bind-Delivery", "")
        if delivery in seen:
            return self.answer(200, {"status": 1000})  # taken before: say so again
        result = take(json.loads(body))
        seen.add(delivery)
        self.answer(200, result)

    def answer(self, status: int, data: dict) -> None:
        raw = json.dumps(data).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def make_server(port: int = 5000) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


if __name__ == "__main__":
    try:
        make_server(int(sys.argv[1]) if len(sys.argv) > 1 else 5000).serve_forever()
    except KeyboardInterrupt:  # Ctrl-C ends it
        pass
