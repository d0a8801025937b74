"""Handlers for `mm7bind serve`: one that saves what arrives, one that forwards it to an
application over HTTP as JSON, and loading a user's own."""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from . import messages as m
from .client import transport_reason
from .content import safe_name
from .display import excerpt, is_secret_header, printable, shown_url
from .errors import InvalidURLError
from .jsonable import deviation_json, to_jsonable
from .periodic import seconds_between_rounds
from .receiver import Context, Handler, Unavailable, no_async_methods
from .store import sync_dir

log = logging.getLogger("mm7bind.serve")

def passed_headers(ctx: Context) -> dict[str, str]:
    """The request's HTTP headers an application may see: a carrier routing header (Mblox's
    X-Mblox-Carrier-Id, the one Mbuni is configured to pass on) is how it tells where a message
    came from. A replay has the same ones: the store keeps them with the body. The MMSC's credentials
    (and anything named like one) are the receiver's business, not the application's, nor to be
    written to disk."""
    return {name: value for name, value in ctx.headers.items() if not is_secret_header(name)}


class SavingHandler(Handler):
    """Writes every request as JSON, and a DeliverReq's content parts as files, under `out_dir`:
    out_dir/<kind>/<n>-<TransactionID>/ (message.json: the fields, headers and deviations as
    the forwarding handler posts them; the parts). Each folder is written under a
    hidden name (".<name>.…") and renamed when complete, so a program watching `out_dir` never
    finds one half-written; a message handled again (a replay, a repeat after a failure) replaces
    its folder rather than adding a second set of files to it.

    With `sync` (the default; `serve` follows [store] durability), the files and the folder's
    name are flushed to the disk before the message counts as handled: the store says "handled"
    only of a message whose files survive a power cut. A flush that fails fails the message
    (stored for replay, the MMSC asked to send it again).

    Each message saved is said in one line, logged at INFO (logger "mm7bind.serve": where the
    configured log goes, never flooding a daemon's standard output), or given to `echo`."""

    def __init__(self, out_dir: str | Path, echo=None, *, sync: bool = True):
        self.out = Path(out_dir)
        self.echo = echo
        self.sync = sync

    def _say(self, line: str) -> None:
        line = printable(line)  # (the peer's addresses and IDs: no forged line, no terminal escape)
        if self.echo is not None:
            self.echo(line)
        else:
            log.info("%s", line)

    def _folder(self, msg: m.Message, ctx: Context) -> Path:
        n = ctx.record.id if ctx.record is not None else 0
        return self.out / msg.ELEMENT / f"{n:06d}-{(safe_name(ctx.transaction_id or '', 100) or 'no-id')}"

    def _save(self, msg: m.Message, ctx: Context) -> Path:
        folder = self._folder(msg, ctx)
        created = [d for d in (folder.parent, *folder.parent.parents) if not d.exists()]
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = _work_folder(folder)
        try:
            self._write(msg, ctx, work)
            if self.sync:  # the contents on the disk before the name that shows them complete
                _sync_folder(work)
            earlier = _earlier_copy(folder, ctx.record) if ctx.record is not None else None
            if earlier is None:  # never over another message's folder: no store, so no record number;
                # or one of the same number and TransactionID that another store's message (a second
                # serve's, a store started anew over the same out_dir) was saved in
                folder = _rename_to_free(work, folder)
            else:  # this message's, an earlier attempt's (a message is handled by one worker at a time)
                shutil.rmtree(earlier)
                work.rename(earlier)
                folder = earlier
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        if self.sync:  # the rename itself, and the entries of folders made for it
            for directory in dict.fromkeys([folder.parent, *(d.parent for d in created)]):
                sync_dir(directory)
        return folder

    @staticmethod
    def _write(msg: m.Message, ctx: Context, folder: Path) -> None:
        data = to_jsonable(msg)
        data.pop("content", None)
        info = {"record": _record_mark(ctx.record),
                "transaction_id": ctx.transaction_id, "version": ctx.version.name if ctx.version else None,
                "peer": ctx.peer, "headers": passed_headers(ctx),
                "deviations": [deviation_json(d) for d in ctx.deviations], "message": data}
        content = getattr(msg, "content", None)
        if content is not None:
            # The SMIL, then the parts as its slides show them (handsets write them in any order),
            # each text's text beside it, read in the charset its bytes are in, as forwarded.
            # Each with its place in the message as sent ("message_order", as forwarded: the
            # SMIL 1, then the parts as they came), to put them back in that order.
            parts = content.all_parts(in_smil_order=True)
            as_sent = {id(part): n for n, part in enumerate(content.all_parts(), 1)}
            names = content.save(folder, numbered=True, in_smil_order=True)
            info["parts"] = [{"file": name, "content_type": part.content_type, "size": part.size,
                              "message_order": as_sent[id(part)]}
                             | ({"text": part.text_value} if part.content_type.startswith("text/") else {})
                             for name, part in zip(names, parts, strict=True)]
        (folder / "message.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")

    def on_deliver(self, msg: m.DeliverReq, ctx: Context) -> None:
        folder = self._save(msg, ctx)
        parts = len(msg.content.all_parts()) if msg.content else 0
        subject = repr(msg.subject) if msg.subject is not None else "(no subject)"
        to = ", ".join(map(str, msg.recipients or []))
        self._say(f"DeliverReq from {_or(msg.sender, '(no sender)')} to {_or(to, '(no recipients)')}: "
                  f"{subject}, {parts} part(s) → {folder}")

    def on_delivery_report(self, msg: m.DeliveryReportReq, ctx: Context) -> None:
        self._save(msg, ctx)
        about = f" (our {ctx.sent.transaction_id})" if ctx.sent else ""
        self._say(f"DeliveryReportReq {_report_line(msg, about)}")

    def on_read_reply(self, msg: m.ReadReplyReq, ctx: Context) -> None:
        self._save(msg, ctx)
        self._say(f"ReadReplyReq {_report_line(msg)}")


def _or(value: object, missing: str) -> str:
    """`value` as text, or `missing` when the message left it out (tolerant in: a field the schema
    requires may be absent), rather than "None" or nothing at all."""
    return missing if value is None or value == "" else str(value)


def _report_line(msg: m.DeliveryReportReq | m.ReadReplyReq, about: str = "") -> str:
    return (f"{_or(msg.message_id, '(no MessageID)')}{about} for {_or(msg.recipient, '(no recipient)')}: "
            f"{_or(msg.mm_status, '(no MMStatus)')}")


def _record_mark(record) -> dict | None:
    """What tells the stored message a folder was saved for from another one given the same
    number and TransactionID by another store: its number and when it came."""
    if record is None:
        return None
    return {"id": record.id, "received_at": record.received_at.isoformat()}


def _earlier_copy(folder: Path, record) -> Path | None:
    """The folder an earlier attempt saved `record`'s message in: `folder`, or `folder`-2, -3...
    (when another message had that name), its message.json naming that record; None when none did."""
    for n in itertools.count(1):
        candidate = folder if n == 1 else folder.with_name(f"{folder.name}-{n}")
        if not candidate.exists():
            return None
        try:
            saved = json.loads((candidate / "message.json").read_text(encoding="utf-8")).get("record")
        except (OSError, ValueError, AttributeError):  # (not one of ours, or cut short: not this message's)
            saved = None
        if saved == _record_mark(record):
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _work_folder(folder: Path) -> Path:
    """A new hidden folder beside `folder` to write its message in (".<name>.<random>"). Made as
    mkdtemp makes one, but with the mode the umask gives, as the files written in it and the
    folders above it get: not 0700 whatever the umask, which kept out the group that may read
    every file inside (systemd's UMask=0027: folders 0750, files 0640)."""
    for _ in range(100):
        work = folder.parent / f".{folder.name}.{os.urandom(6).hex()}"
        try:
            os.mkdir(work, 0o777)
        except FileExistsError:
            continue
        return work
    raise FileExistsError(f"no free work folder name beside {folder}")  # pragma: no cover


def _sync_folder(folder: Path) -> None:
    """Flush the files written in `folder` (not in folders below: none are written), then its entries."""
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY if os.name == "posix" else os.O_RDWR)  # (Windows flushes writable ones)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    sync_dir(folder)


def _rename_to_free(source: Path, target: Path) -> Path:
    """`source` renamed to `target`, or to `target`-2, -3... when that is taken."""
    for n in itertools.count(1):
        candidate = target if n == 1 else target.with_name(f"{target.name}-{n}")
        if candidate.exists():
            continue
        try:
            source.rename(candidate)
            return candidate
        except OSError:
            if not candidate.exists():  # not a name taken meanwhile: a real failure
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class ForwardError(Unavailable):
    """The application did not take a forwarded message (no answer, or not a 2xx)."""


class ForwardingHandler(Handler):
    """Posts every request as JSON to your application's URL, so a service in any language can
    take MO messages and reports over plain HTTP.

    The body: `event` (deliver, delivery_report, read_reply), `transaction_id`, `version`,
    `record_id`, `peer`, `replay`, `headers` (the request's HTTP headers but its credentials, so
    a carrier routing header reaches the application), `message` (the fields), `parts` (in the
    message's order, the SMIL first: content type, charset, Content-ID and -Location, file name,
    size, sha256, `smil_order` (its place as the SMIL shows the parts), `data` in base64, and
    `text` for text parts), `sent` (for reports: the SubmitReq we sent, when the store knows it), `deviations`
    (each `code`, `path`, `message` and `details`, the validator's own words or "").
    Headers: `X-MM7bind-Event`, `X-MM7bind-Delivery` (the same on every retry of one message, never
    the same for two, `delivery_id`: the application can drop repeats), `X-MM7bind-Timestamp` (Unix seconds) and, with a `secret`,
    `X-MM7bind-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<delivery>." + the body>` — signing
    the time and the delivery id too, so a captured request cannot be passed off as another
    delivery, nor sent again after a few minutes (the application checks the time).

    A 2xx answer is success; its JSON body may say `{"status": 1000}` or refuse with
    `{"status": 4xxx, "text": "..."}` (the MMSC gets that status), but for a status that says
    "later" (`status.is_retryable`: 4006, 3000, 3002), which fails the message as below. No whole answer within
    `timeout` (the answer's bytes included) or any other HTTP status fails the message: the MMSC
    gets a Server fault and sends it again, and the store keeps it for `mm7bind replay`.

    `session`: a requests Session to post with, used as it is (its adapters, TLS settings, and
    proxies from the environment when its `trust_env` is on); the default one takes no proxy from
    the environment. With a session of one's own, `timeout` bounds each read of the answer's head
    and the whole of its body.
    """

    def __init__(self, url: str, *, secret: str | None = None, timeout: float = 10.0,
                 headers: dict[str, str] | None = None, include_data: bool = True, session=None):
        import requests  # noqa: PLC0415

        from .client import is_http_url, not_http_url  # noqa: PLC0415

        if not is_http_url(url):  # (as [receiver] forward_url and --forward: else each message failed when forwarded)
            raise InvalidURLError(not_http_url(shown_url(url) if isinstance(url, str) else url, " to forward to"))
        # (NaN or inf failed every forward with a ValueError from the HTTP library: refused here)
        self.url, self.timeout, self.include_data = url, seconds_between_rounds("timeout", timeout), include_data
        self.shown_url = shown_url(url)  # (errors are logged and stored: no password of the URL's)
        self.secret = secret.encode("utf-8") if secret else None
        if session is None:
            # (the client's connections, whose answer, head included, is read against one deadline:
            # a read's timeout alone let an application trickling its head hold us for ever)
            from .client import adapter_class  # noqa: PLC0415

            session = requests.Session()
            adapter = adapter_class()()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.trust_env = False  # the application's address is configured, not inherited
        # (a session given is the caller's, maybe shared with the rest of its program: not altered)
        self.session = session
        self.headers = dict(headers or {})
        # Credentials in the URL go as Basic written in UTF-8, as the client sends them (RFC 7617):
        # requests wrote them in Latin-1, and failed every forward for a name or password beyond it.
        from requests.auth import HTTPBasicAuth  # noqa: PLC0415
        from requests.utils import get_auth_from_url  # noqa: PLC0415

        in_url = get_auth_from_url(url)
        self._url_auth = HTTPBasicAuth(*(part.encode("utf-8") for part in in_url)) if any(in_url) else None

    def payload(self, event: str, msg: m.Message, ctx: Context) -> dict:
        import base64  # noqa: PLC0415

        fields = to_jsonable(msg)
        fields.pop("content", None)
        parts = []
        content = getattr(msg, "content", None)
        # The parts as the message has them (it may be sent on as it came), each with its place as
        # the SMIL shows them ("smil_order": the SMIL 1, then the parts as its slides show them —
        # the number the saving handler writes before its file).
        shown = ({id(part): n for n, part in enumerate(content.all_parts(in_smil_order=True), 1)}
                 if content is not None else {})
        for part in content.all_parts() if content is not None else []:
            item = {"content_type": part.content_type, "charset": part.charset, "content_id": part.content_id,
                    "content_location": part.content_location, "filename": part.filename, "size": part.size,
                    "sha256": part.sha256(), "smil": part is content.smil, "smil_order": shown[id(part)]}
            if part.content_type.startswith("text/"):
                item["text"] = part.text_value
            if self.include_data:
                item["data"] = base64.b64encode(part.data).decode("ascii")
            parts.append({k: v for k, v in item.items() if v is not None})
        return {
            "event": event, "transaction_id": ctx.transaction_id,
            "version": ctx.version.name if ctx.version else None,
            "record_id": ctx.record.id if ctx.record is not None else None, "peer": ctx.peer, "replay": ctx.replay,
            "headers": passed_headers(ctx), "message": fields, "parts": parts,
            "sent": to_jsonable(ctx.sent) if ctx.sent is not None else None,
            "deviations": [deviation_json(d) for d in ctx.deviations],
        }

    def forward(self, event: str, msg: m.Message, ctx: Context) -> m.Status | None:
        import requests  # noqa: PLC0415
        import urllib3  # noqa: PLC0415

        from .client import answer_deadline  # noqa: PLC0415

        payload = self.payload(event, msg, ctx)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        delivery = delivery_id(msg, ctx, payload)
        timestamp = str(int(time.time()))
        headers = {**self.headers, "Content-Type": "application/json; charset=utf-8", "X-MM7bind-Event": event,
                   "X-MM7bind-Delivery": delivery, "X-MM7bind-Timestamp": timestamp}
        if self.secret is not None:
            headers["X-MM7bind-Signature"] = "sha256=" + signature(self.secret, timestamp, delivery, body)
        deadline = time.monotonic() + self.timeout
        answer_deadline.at = deadline
        try:
            # (a session's own auth, as requests has it, goes before the URL's)
            auth = self._url_auth if getattr(self.session, "auth", None) is None else None
            with self.session.post(self.url, data=body, headers=headers, timeout=self.timeout, auth=auth,
                                   allow_redirects=False, stream=True) as answer:
                # Only so much of the answer is read: it is a status at most, and a runaway
                # application must not fill our memory; nor, trickling it, hold us past the timeout.
                text = b""
                read = getattr(answer.raw, "read1", answer.raw.read)  # (read1: what has come, not 4096 bytes)
                while len(text) <= ANSWER_LIMIT:
                    if time.monotonic() > deadline:
                        raise ForwardError(f"{self.shown_url}: no whole answer within {self.timeout:g} s")
                    chunk = read(4096, decode_content=True)
                    if not chunk:
                        break
                    text += chunk
        except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:  # (the last two: reading)
            # (the cause in words, as the client logs its own: not urllib3's pool and retry wrappers)
            why = transport_reason(exc).replace(self.url, self.shown_url)
            raise ForwardError(f"{self.shown_url}: {type(exc).__name__}: {why}") from None
        finally:
            answer_deadline.at = None
        if not 200 <= answer.status_code < 300:
            # (in words, an HTML page by its title: not a bytes repr, b'<!DOCTYPE html>...')
            said = printable(excerpt(text, answer.headers)) if text.strip() else "no body"
            raise ForwardError(f"{self.shown_url} answered HTTP {answer.status_code}: {said}")
        if len(text) > ANSWER_LIMIT:
            raise ForwardError(f"{self.shown_url} answered with more than {ANSWER_LIMIT} bytes")
        return _outcome(answer.headers.get("Content-Type", ""), text)

    def on_deliver(self, msg: m.DeliverReq, ctx: Context) -> m.Status | None:
        return self.forward("deliver", msg, ctx)

    def on_delivery_report(self, msg: m.DeliveryReportReq, ctx: Context) -> m.Status | None:
        return self.forward("delivery_report", msg, ctx)

    def on_read_reply(self, msg: m.ReadReplyReq, ctx: Context) -> m.Status | None:
        return self.forward("read_reply", msg, ctx)


ANSWER_LIMIT = 64 * 1024  # bytes of an application's answer we read


def delivery_id(msg: m.Message, ctx: Context, payload: dict) -> str:
    """X-MM7bind-Delivery: the same on every try of one message (a replay, the MMSC sending it again),
    never the same for two, so that an application dropping repeats by it drops no new message.
    A record number alone comes again from another store (a new file, a MemoryStore after a
    restart), and a TransactionID alone from an MMSC whose counter started again: the record's
    time of arrival, or without a store the message itself, goes with them. Plain ASCII whatever
    the peer's TransactionID holds (an HTTP header carries no other)."""
    import hashlib  # noqa: PLC0415

    if ctx.record is not None:
        basis = f"{ctx.record.received_at.isoformat()}\0{ctx.record.transaction_id}"
        return f"{msg.ELEMENT}-{ctx.record.id}-{hashlib.sha256(basis.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
    basis = json.dumps([ctx.transaction_id, payload["message"], [p["sha256"] for p in payload["parts"]]],
                       sort_keys=True, ensure_ascii=True)
    return f"{msg.ELEMENT}-{hashlib.sha256(basis.encode('ascii')).hexdigest()[:24]}"


def signature(secret: bytes, timestamp: str, delivery: str, body: bytes) -> str:
    """The hex HMAC-SHA256 a forwarded request carries (X-MM7bind-Signature: sha256=...)."""
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    return hmac.new(secret, f"{timestamp}.{delivery}.".encode() + body, hashlib.sha256).hexdigest()


def _outcome(content_type: str, body: bytes) -> m.Status | None:
    """What the application's answer says the MMSC should hear: nothing said is success."""
    from .receiver import Reject  # noqa: PLC0415
    from .status import is_retryable  # noqa: PLC0415

    if not body or "json" not in content_type:
        return None
    try:
        said = json.loads(body)
    except (ValueError, RecursionError):
        raise ForwardError(f"the application's answer is not JSON: {printable(excerpt(body))}") from None
    if not isinstance(said, dict) or "status" not in said:
        return None
    code, text = said["status"], said.get("text")
    if not isinstance(code, int) or isinstance(code, bool) or not 1000 <= code <= 4999 or (
            text is not None and not isinstance(text, str)):
        raise ForwardError(f"the application's status is not an MM7 status code (and text): {said!r}")
    if is_retryable(code):
        # "Busy, try later" (4006, a 3xxx server error): a Reject would mark the message rejected,
        # answered so on every copy the MMSC sends again and left out of replays: lost. Failed, it
        # stays stored for replay, and the MMSC is asked to send it again.
        raise ForwardError(f"the application answered {code} {text or ''}".rstrip() + ": to be sent again")
    if code >= 2000:
        raise Reject(code, text)
    return m.Status(code, text)


def load_handler(spec: str) -> Handler:
    """A handler from "module:object" (an instance, a Handler subclass, or a factory)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--handler takes module:object, not {spec!r}")
    sys.path.insert(0, str(Path.cwd()))
    # Whatever the user's module does wrong as it is imported or built (a syntax error, a setting
    # it reads missing, a database down) is a ValueError saying so, the original as its cause.
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot load {spec}: {exc}") from exc
    except Exception as exc:
        raise ValueError(f"cannot load {spec}: importing {module_name} raised {type(exc).__name__}: {exc}") from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        from .hints import did_you_mean  # noqa: PLC0415

        public = (n for n in dir(module) if not n.startswith("_"))
        raise ValueError(f"cannot load {spec}: module {module_name!r} has no attribute {attr!r}"
                         f"{did_you_mean(attr, public)}") from None
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, Handler)):
        try:
            obj = obj()
        except Exception as exc:
            raise ValueError(f"cannot load {spec}: {attr}() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(obj, Handler) and not any(hasattr(obj, a) for a in ("on_deliver", "on_delivery_report", "on_read_reply")):
        raise ValueError(f"{spec} is not a handler (it needs on_deliver / on_delivery_report / on_read_reply)")
    try:  # (what the receiver would refuse, said as the others here: a line, not a traceback)
        no_async_methods(obj)
    except TypeError as exc:
        raise ValueError(f"cannot load {spec}: {exc}") from exc
    return obj
