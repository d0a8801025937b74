"""Handlers for `mm7bind serve`: one that saves what arrives, and loading a user's own."""

from __future__ import annotations

import importlib
import json
import logging
import re
import sys
from pathlib import Path

from . import messages as m
from .jsonable import to_jsonable
from .receiver import Context, Handler

log = logging.getLogger("mm7bind.serve")


def _safe(name: str) -> str:
    name = re.sub(r"[^\w.-]+", "_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip("._")
    return name[:100] or "part"


class SavingHandler(Handler):
    """Writes every request as JSON, and a DeliverReq's content parts as files, under `out_dir`:
    out_dir/<kind>/<n>-<TransactionID>/ (message.json, the parts)."""

    def __init__(self, out_dir: str | Path, echo=print):
        self.out = Path(out_dir)
        self.echo = echo

    def _folder(self, msg: m.Message, ctx: Context) -> Path:
        n = ctx.record.id if ctx.record is not None else 0
        folder = self.out / msg.ELEMENT / f"{n:06d}-{_safe(ctx.transaction_id or 'no-id')}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _save(self, msg: m.Message, ctx: Context) -> Path:
        folder = self._folder(msg, ctx)
        data = to_jsonable(msg)
        data.pop("content", None)
        info = {"transaction_id": ctx.transaction_id, "version": ctx.version.name if ctx.version else None,
                "peer": ctx.peer, "deviations": [str(d) for d in ctx.deviations], "message": data}
        content = getattr(msg, "content", None)
        if content is not None:
            names = content.save(folder, numbered=True)
            info["parts"] = [{"file": name, "content_type": part.content_type, "size": part.size}
                             for name, part in zip(names, content.all_parts(), strict=True)]
        (folder / "message.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
        return folder

    def on_deliver(self, msg: m.DeliverReq, ctx: Context):
        folder = self._save(msg, ctx)
        parts = len(msg.content.all_parts()) if msg.content else 0
        self.echo(f"DeliverReq from {msg.sender} to {', '.join(map(str, msg.recipients or []))}: "
                  f"{msg.subject!r}, {parts} part(s) → {folder}")

    def on_delivery_report(self, msg: m.DeliveryReportReq, ctx: Context):
        self._save(msg, ctx)
        about = f" (our {ctx.sent.transaction_id})" if ctx.sent else ""
        self.echo(f"DeliveryReportReq {msg.message_id}{about} for {msg.recipient}: {msg.mm_status}")

    def on_read_reply(self, msg: m.ReadReplyReq, ctx: Context):
        self._save(msg, ctx)
        self.echo(f"ReadReplyReq {msg.message_id} for {msg.recipient}: {msg.mm_status}")


def load_handler(spec: str) -> Handler:
    """A handler from "module:object" (an instance, a Handler subclass, or a factory)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--handler takes module:object, not {spec!r}")
    sys.path.insert(0, str(Path.cwd()))
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load {spec}: {exc}") from None
    if isinstance(obj, type):
        obj = obj()
    elif callable(obj) and not isinstance(obj, Handler):
        obj = obj()
    if not isinstance(obj, Handler) and not any(hasattr(obj, a) for a in ("on_deliver", "on_delivery_report", "on_read_reply")):
        raise ValueError(f"{spec} is not a handler (it needs on_deliver / on_delivery_report / on_read_reply)")
    return obj
