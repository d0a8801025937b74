"""`mm7bind demo`: a whole MM7 exchange on loopback, with no configuration at all.

A simulated MMSC and a VASP receiver start on free loopback ports. The VASP sends an MMS (Chinese
subject, a picture, text, a generated SMIL) and asks for delivery and read reports; the MMSC
answers, reports back, and a subscriber replies with a mobile-originated message. Everything that
crosses the wire is printed readably.
"""

from __future__ import annotations

import tempfile
import threading
import zlib
from pathlib import Path
from typing import TextIO

from . import messages as m
from .client import Client
from .content import Content
from .receiver import Handler, Receiver
from .server import serve
from .simulator import Simulator, SimulatorConfig
from .store import SqliteStore


def greeting_png(width: int = 96, height: int = 64) -> bytes:
    """A small red-and-gold PNG drawn here, so the demo needs no files."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            gold = (x // 8 + y // 8) % 2 == 0
            row += bytes((230, 180, 40) if gold else (200, 16, 46))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


class _Printer(Handler):
    """The VASP's handler in the demo: says what arrived."""

    def __init__(self, say):
        self.say = say
        self.events = threading.Condition()
        self.seen: list[str] = []

    def _note(self, kind: str) -> None:
        with self.events:
            self.seen.append(kind)
            self.events.notify_all()

    def wait_for(self, kinds: list[str], timeout: float = 15.0) -> bool:
        with self.events:
            return self.events.wait_for(lambda: all(k in self.seen for k in kinds), timeout)

    def on_delivery_report(self, msg, ctx):
        sent = f" (our SubmitReq {ctx.sent.transaction_id[:8]}…)" if ctx.sent else ""
        self.say(f"  MMSC → VASP  DeliveryReportReq  MessageID {msg.message_id}{sent}")
        self.say(f"               recipient {msg.recipient}: {msg.mm_status}  [{ctx.version}, tid {ctx.transaction_id[:8]}…]")
        self._note("DeliveryReportReq")

    def on_read_reply(self, msg, ctx):
        self.say(f"  MMSC → VASP  ReadReplyReq       MessageID {msg.message_id}: {msg.recipient} {msg.mm_status}")
        self._note("ReadReplyReq")

    def on_deliver(self, msg, ctx):
        parts = ", ".join(f"{p.content_type} {p.size} B" for p in msg.content.parts) if msg.content else "no content"
        text = next((p.text_value for p in msg.content.parts if p.kind == "text"), "") if msg.content else ""
        self.say(f"  MMSC → VASP  DeliverReq (MO)    from {msg.sender} to {', '.join(map(str, msg.recipients))}")
        self.say(f"               subject {msg.subject!r}, LinkedID {msg.linked_id}, {parts}")
        self.say(f"               text: {text!r}")
        self._note("DeliverReq")
        return m.DeliverRsp(service_code="100001")


def run(out: TextIO) -> int:
    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    say("mm7bind demo: a simulated MMSC and a VASP receiver on loopback\n")
    with tempfile.TemporaryDirectory(prefix="mm7bind-demo-") as tmp:
        store = SqliteStore(Path(tmp) / "demo.db")
        printer = _Printer(say)
        receiver = Receiver(printer, store=store)
        with serve(receiver, port=0, path="/mm7") as vasp, \
                Simulator(SimulatorConfig(report_delay=0.3, read_delay=0.6, dialect="standard")) as mmsc:
            mmsc.config.vasp_url = vasp.url + "/mm7"
            say(f"  MMSC (simulator) {mmsc.url}")
            say(f"  VASP (receiver)  {vasp.url}/mm7\n")

            content = Content()
            content.add_bytes(greeting_png(), "image/png", filename="greeting.png")
            content.add_text("新年快乐！祝您万事如意。Happy New Year from mm7bind.", charset="utf-8")
            msg = m.SubmitReq(
                vaspid="800001", vasid="1065888", service_code="100001", sender_address=m.ShortCode("1065888"),
                recipients=m.Recipients(to=["+8613800138000"]), subject="新年快乐 — 彩信演示",
                delivery_report=True, read_reply=True, priority=m.Priority.NORMAL, content=content,
            )
            with Client(mmsc.url, store=store) as client:
                result = client.submit(msg)
            parts = [f"{p.content_type} {p.size} B" for p in content.parts]
            say(f"  VASP → MMSC  SubmitReq          to +8613800138000, subject {msg.subject!r}")
            say(f"               content: {', '.join(parts)} + generated SMIL; delivery and read reports asked")
            say(f"  MMSC → VASP  SubmitRsp          {result.status.code} {result.status.text}, "
                f"MessageID {result.message_id}  [{result.version}, {result.attempts} attempt, "
                f"{result.elapsed * 1000:.0f} ms]")
            stored = mmsc.messages[result.message_id]
            say(f"               the MMSC holds it: {len(stored.request.content.all_parts())} parts, "
                f"{sum(p.size for p in stored.request.content.all_parts())} bytes\n")

            ok = printer.wait_for(["DeliveryReportReq", "ReadReplyReq"])
            say()
            mmsc.deliver("+8613800138000", ["1065888"], "回复：新年快乐", text="谢谢！也祝你新年快乐 🎉",
                         linked_id=result.message_id)
            ok = printer.wait_for(["DeliverReq"]) and ok
            mmsc.wait_idle()
        inbox = store.inbox()
        say(f"\n  the VASP's store: {len(store.sent())} sent record(s), {len(inbox)} received "
            f"({', '.join(sorted({r.kind for r in inbox}))}), all {', '.join(sorted({r.state for r in inbox}))}")
        store.close()
    say("\ndemo complete" if ok else "\ndemo incomplete: some reports did not arrive")
    return 0 if ok else 1

