"""Sending over HTTP, for applications in any language: POST a message as JSON, get the MMSC's
answer back as JSON. `SendApi.handle` works on bytes and headers; `wsgi_app` adapts it, and
`mm7bind serve` mounts it from `[api]` beside the receiver.

    POST /send    {"to": ["+8613800000000"], "subject": "...", "text": "...",
                   "parts": [{"content_type": "image/jpeg", "filename": "a.jpg", "data": "<base64>"}],
                   "delivery_report": true, "service_code": "100001", "expiry_date": "P2D", ...}
                → {"ok": true, "status": 1000, "text": "Success", "message_id": "...", "transaction_id": "...",
                   "attempts": 1, "earlier_unanswered": false}
    POST /cancel  {"message_id": "..."}  → the same shape
    POST /send    {..., "queue": true} → 202 {"ok": true, "queued": 7, "transaction_id": "..."} (with an outbox)
    GET  /queue/7 → {"ok": false once failed or expired, "state": "queued" | "sending" | "sent" | "failed" |
                     "expired", "message_id", "next_at" (queued), ...}

A send or cancel with a transaction_id (or an Idempotency-Key header) happens once: asked again, it answers
as the first time did, with "repeat": true; another request under the same key is a 409.

An answer from the MMSC, success or not, is HTTP 200 with `ok`; a request we cannot build is 400;
an MMSC we could not reach (or that did not answer MM7) is 502, with `may_have_arrived` saying
whether the request went out before the answer failed to come. `earlier_unanswered` in an MMSC's
answer: an attempt before the one answered (this request's, or that of an earlier request under its
transaction_id) got no answer, so the MMSC may have the message twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import messages as m
from . import sendonce
from .arrival import may_have_arrived
from .auth import FailureLimit, bearer_token_problem, check_failure_settings
from .bulk import recipient_key
from .client import NoTimeLeft, sending_until
from .codec import CHARSET, MEDIA_TYPE
from .content import Content, Part
from .errors import STORE_ERRORS, EncodeError, FaultError, MM7Error, SendError
from .hints import unknown_fields
from .receiver import Response
from .server import REASONS, declared_length, request_body, request_headers
from .store import utcnow

log = logging.getLogger("mm7bind.api")

# SubmitReq fields taken as they are: JSON type → what the field accepts.
_STR = ("subject", "service_code", "linked_id", "vaspid", "vasid", "sender_address", "message_class", "priority",
        "charged_party", "charged_party_id", "applic_id", "reply_applic_id", "aux_applic_info", "content_class",
        "earliest_delivery_time", "expiry_date", "transaction_id", "tag", "send_at")
_BOOL = ("delivery_report", "read_reply", "distribution_indicator", "drm_content", "queue")
_CONTENT = ("to", "cc", "bcc", "text", "charset", "parts", "smil")
_PART_KEYS = ("data", "text", "content_type", "charset", "filename", "content_id", "content_location")
# (an empty key made the request "at most once" under "", while it went out under a made-up ID)
_EMPTY_KEY = "{} is empty: leave it out (one is made up, and the request is not kept from repeats) or give one"
_B64_SPACE = re.compile(r"[ \t\r\n]+")
_ENUMS = {"priority": m.Priority, "message_class": m.MessageClass, "charged_party": m.ChargedParty,
          "content_class": m.ContentClass}
# What one /send may ask for. max_body alone let a 20 MB body name a million recipients or parts: each
# costs its object, its check and its MIME headers before anything is refused, and no MMSC takes a
# SubmitReq anywhere near that (most cap recipients at tens or hundreds: more go as several requests).
MAX_RECIPIENTS = 1000
MAX_PARTS = 100


@dataclass
class Submission:
    """What a JSON request to /send asks for: the message, and how to send it."""

    message: m.SubmitReq
    transaction_id: str | None = None
    tag: str | None = None  # recorded with the request in the store
    queue: bool = False  # into the outbox, answered at once
    send_at: datetime | None = None  # (queued) not before this


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def submit_from_json(data: Any, *, max_recipients: int = MAX_RECIPIENTS, max_parts: int = MAX_PARTS,
                     country_code: str | None = None) -> Submission:
    """The SubmitReq a JSON object describes, and how it asks to be sent.
    Unknown keys are refused (a misspelt "subjet" would otherwise go out without a subject); so are
    more than `max_recipients` addresses (to, cc and bcc together) and more than `max_parts` parts.
    An address listed twice goes once (`bulk.recipient_key` with `country_code`: a number written
    nationally and internationally is one)."""
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = unknown_fields(data, (*_STR, *_BOOL, *_CONTENT))
    if unknown:
        raise ApiError(400, unknown)
    fields: dict[str, Any] = {}
    for key in _STR:
        if data.get(key) is not None:
            fields[key] = _typed(data, key, str)
    for key in _BOOL:
        if data.get(key) is not None:
            fields[key] = _typed(data, key, bool)
    for key, enum in _ENUMS.items():
        if key in fields:
            try:  # the spelling the schema uses, whatever the case sent
                fields[key] = next(e for e in enum if e.value.lower() == fields[key].lower())
            except StopIteration:
                known = ", ".join(e.value for e in enum)
                raise ApiError(400, f"{key}: {fields[key]!r} is not one of {known}") from None
    if "sender_address" in fields:  # (as a recipient is read: "ShortCode:1065888" one of that kind)
        _check_address("sender_address", m.trimmed_address(fields["sender_address"]))
        try:
            fields["sender_address"] = m.written_address(fields["sender_address"], recipient=False)
        except ValueError as exc:
            raise ApiError(400, f"sender_address: {exc}") from None
    if fields.get("transaction_id") == "":
        raise ApiError(400, _EMPTY_KEY.format("transaction_id"))
    how = Submission(None, fields.pop("transaction_id", None), fields.pop("tag", None), fields.pop("queue", False))
    for key in ("expiry_date", "earliest_delivery_time"):
        if fields.get(key, "").strip().startswith("-"):  # (a valid xs:duration, and a time already past)
            raise ApiError(400, f"{key}: {fields[key]!r} is a negative duration: give one from now, as \"P2D\"")
    send_at = fields.pop("send_at", None)
    if send_at is not None:
        try:
            how.send_at = datetime.fromisoformat(send_at)
        except ValueError:
            raise ApiError(400, f"send_at: {send_at!r} is not an ISO 8601 time") from None
        if not how.queue:
            raise ApiError(400, "send_at needs \"queue\": true (the outbox holds the message until then)")
    to, cc, bcc = (_addresses(data, key) for key in ("to", "cc", "bcc"))
    if not (to or cc or bcc):
        raise ApiError(400, "no recipient: give to (and/or cc, bcc)")
    if len(to) + len(cc) + len(bcc) > max_recipients:
        raise ApiError(400, f"to, cc, bcc: {len(to) + len(cc) + len(bcc)} recipients, more than the {max_recipients} "
                            "one request may have here (max_recipients): send them in several requests")
    # A recipient listed twice gets the message once, as with `mm7bind send --to 1 --to 1` (an MMSC
    # may deliver it twice, or refuse the request): the first place kept, to before cc before bcc.
    # One number written two ways ("+8613800000001", "86 138-0000-0001"; "13800000001" too with the
    # client's country_code) is one recipient, as there.
    seen: set[str] = set()
    to, cc, bcc = ([a for a in addresses if not ((k := recipient_key(str(a), country_code)) in seen or seen.add(k))]
                   for addresses in (to, cc, bcc))
    content = _content(data, max_parts)
    try:
        msg = m.SubmitReq(recipients=m.Recipients(to=to, cc=cc, bcc=bcc), content=content, **fields)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, str(exc)) from None
    how.message = msg
    return how


def _typed(data: dict, key: str, kind: type) -> Any:
    value = data[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ApiError(400, f"{key} must be a {'string' if kind is str else 'boolean'}")
    return value


def _addresses(data: dict, key: str) -> list[m.Address | str]:
    """The addresses of `key` as `messages.written_address` reads them: "ShortCode:1065888" one of
    that kind, "abc" (no digit, no "@") refused, naming the field, rather than sent as a Number."""
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ApiError(400, f"{key} must be an address or a list of addresses")
    out = []
    for i, v in enumerate(value, 1):  # (counted from 1, as parts[1] is the first part)
        where = f"{key}[{i}]" if isinstance(data[key], list) else key
        _check_address(where, m.trimmed_address(v))
        try:
            out.append(m.written_address(v))
        except ValueError as exc:
            raise ApiError(400, f"{where}: {exc}") from None
    return out


def _check_address(where: str, value: str) -> None:
    """Refused here, naming the field, before any claim or queueing (encode would refuse it too)."""
    problem = m.address_problem(value)
    if problem:
        raise ApiError(400, f"{where}: the address {value!r} {problem}: no MMSC takes it in an address")


def _content(data: dict, max_parts: int) -> Content | None:
    content = Content()
    # (a wrong type is refused even when falsy: "parts": {} or "charset": false must not pass as unset)
    charset = _typed(data, "charset", str) if data.get("charset") is not None else ""
    parts = data.get("parts") if data.get("parts") is not None else []
    if not isinstance(parts, list):
        raise ApiError(400, "parts must be a list")
    if len(parts) > max_parts:  # (before any is decoded)
        raise ApiError(400, f"parts: {len(parts)} parts, more than the {max_parts} one message may have here "
                            "(max_parts)")
    try:
        if data.get("text") is not None:
            content.add_text(_typed(data, "text", str), charset=charset or "utf-8")
        if data.get("smil") is not None:
            content.smil = Part.text(_typed(data, "smil", str), content_type="application/smil")
    except EncodeError as exc:
        raise ApiError(400, str(exc)) from None
    for i, item in enumerate(parts, 1):
        try:
            content.add(_part(item, i))
        except EncodeError as exc:  # (named: with many parts, which one is the caller's question)
            raise ApiError(400, f"parts[{i}]: {exc}") from None
    return content if content.parts or content.smil else None


def _part(item: Any, i: int) -> Part:
    where = f"parts[{i}]"
    if not isinstance(item, dict):
        raise ApiError(400, f"{where} must be an object")
    unknown = unknown_fields(item, _PART_KEYS)
    if unknown:
        raise ApiError(400, f"{where}: {unknown}")
    for key in _PART_KEYS:
        if item.get(key) is not None and not isinstance(item[key], str):
            raise ApiError(400, f"{where}.{key} must be a string")
    # The encoder's own rules, checked here too so that the refusal names the part.
    if item.get("content_type") and not MEDIA_TYPE.fullmatch(item["content_type"]):
        raise ApiError(400, f"{where}.content_type: {item['content_type']!r} is not type/subtype "
                            "(parameters go elsewhere: charset, filename)")
    if item.get("charset") and not CHARSET.fullmatch(item["charset"]):
        raise ApiError(400, f"{where}.charset: {item['charset']!r} is not a charset name")
    extra = {k: item[k] for k in ("filename", "content_id", "content_location") if item.get(k)}
    if ("data" in item) == ("text" in item):
        raise ApiError(400, f"{where}: give either data (base64) or text")
    if "text" in item:
        return Part.text(item["text"], charset=item.get("charset") or "utf-8",
                         content_type=item.get("content_type") or "text/plain", **extra)
    try:  # (line breaks as MIME's base64 writes them: `base64`, Java's MIME encoder, encodebytes)
        raw = base64.b64decode(_B64_SPACE.sub("", item["data"]), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{where}.data is not base64") from None
    return Part.from_bytes(raw, item.get("content_type"), **extra)


class SendApi:
    """The HTTP send API over a `Client` (thread-safe, so one serves every request).

    `token`: requests must carry `Authorization: Bearer <token>`; `allow`: an IPAllowList of the
    applications' addresses. Without either, anyone who reaches the port can send: keep it on
    loopback. With an `outbox` (mm7bind.outbox.Outbox), `"queue": true` puts a message in it and
    answers 202 at once; GET /queue/<id> tells how it went. `max_recipients` (to, cc and bcc
    together) and `max_parts` bound what one /send may ask for: more is a 400 naming the field.
    A wrong token from one address `auth_failures` times within `auth_cooldown` seconds: its
    requests are answered 429 with Retry-After, unchecked, for `auth_cooldown` seconds, as the
    receiver answers wrong credentials (`auth.FailureLimit`); `auth_failures=0`: no limit.
    `metrics` (a `metrics.Metrics`; by default the client's) counts every answer in
    mm7bind_api_requests_total by operation and outcome (`OUTCOMES`), and times it in
    mm7bind_api_request_seconds by operation."""

    def __init__(self, client, *, token: str | None = None, allow=None, max_body: int = 20 * 1024 * 1024,
                 outbox=None, max_recipients: int = MAX_RECIPIENTS, max_parts: int = MAX_PARTS,
                 auth_failures: int = 10, auth_cooldown: float = 60.0, metrics=None):
        for name, value in (("max_recipients", max_recipients), ("max_parts", max_parts), ("max_body", max_body)):
            # (a NaN bound passed every comparison: no limit at all, without a word)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number, at least 1, not {value!r}")
        sendonce.blocking(client, "the send API")  # (its requests are sent from the server's threads)
        self.client, self.allow, self.max_body, self.outbox = client, allow, max_body, outbox
        self.max_recipients, self.max_parts = max_recipients, max_parts
        problem = bearer_token_problem(token) if token else None
        if problem is not None:
            raise ValueError(f"the API token {problem}")
        self.token = token.encode("ascii") if token else None
        check_failure_settings(auth_failures, auth_cooldown)
        # (counted in the store for every process on its file, as the receiver's: its client's, else its outbox's)
        store = getattr(getattr(client, "core", None), "store", None) or getattr(outbox, "store", None)
        self._failures = FailureLimit(auth_failures, auth_cooldown, store=store, scope="api") if auth_failures else None
        # (the client's by default: `mm7bind serve` gives it the receiver's, served at metrics_path)
        self.metrics = metrics if metrics is not None else getattr(getattr(client, "core", None), "metrics", None)
        self._sending = 0  # sends under a claim at this moment (each may wait for the others' rate-limit turns)
        self._sending_lock = threading.Lock()

    def handle(self, method: str, path: str, body: bytes, headers: Mapping[str, str] | None = None,
               peer: str | None = None) -> Response:
        """One API request (`path` below the API's own: "/send", "/cancel", "/queue/<id>") → the
        `Response` (status, headers, JSON body): a refusal is an answer (4xx, 502, 503)."""
        started = time.monotonic()
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        try:
            rsp = self._handle(method.upper(), path, body, headers, peer)
        except ApiError as exc:
            rsp = _refusal(exc.status, str(exc))
        except STORE_ERRORS as exc:  # a full disk, a locked file: before anything went out (the client's
            # own records and the claim's release log theirs), so the caller can ask again once it is fixed
            log.error("send API: the store failed: %s: %s", type(exc).__name__, exc)
            # (a GET /queue/<id> sends nothing: "nothing was sent" there read as news of the item)
            done = "" if method.upper() in ("GET", "HEAD") else "nothing was sent or queued; "
            rsp = _refusal(503, f"the store cannot be used ({type(exc).__name__}: {exc}): {done}ask again later")
            rsp.headers.append(("Retry-After", "60"))
        self._count(path, rsp, headers, started)
        return rsp

    def _count(self, path: str, rsp: Response, headers: Mapping[str, str], started: float) -> None:
        """One answer in mm7bind_api_requests_total, by the operation its path names and its outcome,
        and its time in mm7bind_api_request_seconds."""
        if self.metrics is None:
            return
        route = path.rstrip("/") or "/"  # (as _handle reads it: "/send/" is /send, "/queue/" a queue lookup)
        operation = "queue" if path.startswith("/queue/") else {"/send": "send", "/cancel": "cancel"}.get(route, "")
        self.metrics.api_answered(operation, _outcome(operation, rsp, headers), time.monotonic() - started)

    def _handle(self, method: str, path: str, body: bytes, headers: dict[str, str], peer: str | None) -> Response:
        if self.allow is not None and not self.allow.allows(peer):
            log.warning("refused API request from %s (not in the allow-list)", peer)
            raise ApiError(403, "this address may not send")
        if self.token is not None:
            refused_for = self._failures.refused_for(peer) if self._failures is not None else 0
            if refused_for:  # (said once, as the cool-down began)
                rsp = _refusal(429, "too many wrong tokens: try again later")
                rsp.headers.append(("Retry-After", str(math.ceil(refused_for))))
                return rsp
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), self.token):
                wrong = scheme.lower() == "bearer"  # (no token, or another scheme: not a guess to count)
                log.warning("refused API request from %s: %s", peer, "wrong bearer token" if wrong else "no bearer token")
                if wrong and self._failures is not None:
                    self._failures.wrong(peer, log, "wrong bearer tokens", "its API requests")
                rsp = _json(401, {"ok": False, "error": "unauthorized", "message": "a bearer token is required"})
                rsp.headers.append(("WWW-Authenticate", 'Bearer realm="mm7bind"'))
                return rsp
        if path.startswith("/queue/"):
            return self._queued(method, path[len("/queue/"):])
        operation = {"/send": "send", "/cancel": "cancel"}.get(path.rstrip("/") or "/")
        if operation is None:
            raise ApiError(404, f"no such operation {path!r}: POST /send or /cancel, GET /queue/<id>")
        if method != "POST":
            rsp = _refusal(405, "POST a JSON object")
            rsp.headers.append(("Allow", "POST"))
            return rsp
        if len(body) > self.max_body:
            raise ApiError(413, f"body larger than {self.max_body} bytes")
        try:
            data = json.loads(body, object_pairs_hook=_no_duplicates)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the body is not JSON: {exc}") from None
        except RecursionError:  # [[[[...: the parser gives up on nesting this deep
            raise ApiError(400, "the body is JSON nested too deeply") from None
        _refuse_lone_surrogates(data)
        if operation == "send":
            how = submit_from_json(data, max_recipients=self.max_recipients, max_parts=self.max_parts,
                                   country_code=getattr(getattr(self.client, "config", None), "country_code", None))
            fingerprint = _fingerprint(data)
        else:
            if not isinstance(data, dict) or not isinstance(data.get("message_id"), str) or set(data) - {
                    "message_id", "transaction_id"}:
                raise ApiError(400, "cancel takes {\"message_id\": \"...\"} (and optionally transaction_id)")
            tid = data.get("transaction_id")
            if tid is not None and not isinstance(tid, str):
                raise ApiError(400, "transaction_id must be a string")
            if tid == "":
                raise ApiError(400, _EMPTY_KEY.format("transaction_id"))
            how = Submission(m.CancelReq(message_id=data["message_id"]), tid)
            fingerprint = _fingerprint({**data, "cancel": True})  # (never a /send's, whatever its body)
        key = headers.get("idempotency-key")
        if key is not None:  # the same as a transaction_id in the body (the request's identity)
            key = key.strip()
            if not key:
                raise ApiError(400, _EMPTY_KEY.format("Idempotency-Key"))
            if how.transaction_id not in (None, key):
                raise ApiError(400, "Idempotency-Key and transaction_id differ: give one, or the same")
            how.transaction_id = key
        if how.transaction_id is not None:
            return self._once(how, fingerprint)
        if how.queue:
            return self._enqueue(how)
        return self._send(how.message, how.transaction_id, how.tag)

    def _enqueue(self, how: Submission, fingerprint: str | None = None) -> Response:
        if self.outbox is None:
            raise ApiError(400, "queueing is not enabled here ([outbox] enabled = true)")
        try:
            if fingerprint is None:
                item, new = self.outbox.put(how.message, transaction_id=how.transaction_id, tag=how.tag,
                                            at=how.send_at), True
            else:
                item, new = self.outbox.put_once(how.message, transaction_id=how.transaction_id, tag=how.tag,
                                                 at=how.send_at, fingerprint=fingerprint)
        except (EncodeError, ValueError) as exc:  # (ValueError: a send_at out of range)
            raise ApiError(400, str(exc)) from None
        if item is None:  # (its claim: a request sent at once, or being sent)
            raise ApiError(409, f"transaction_id {how.transaction_id!r} was used for a request sent at once, not "
                                "queued: not queued again")
        if not new and item.fingerprint != fingerprint:
            raise ApiError(409, f"transaction_id {item.transaction_id!r} was used for another request (queued as "
                                f"#{item.id}): not queued again")
        return _json(202, {"ok": True, "queued": item.id, "transaction_id": item.transaction_id,
                           "due": item.next_at.isoformat(), "repeat": True if not new else None,
                           "state": item.state if not new else None})

    def _once(self, how: Submission, fingerprint: str) -> Response:
        """A send or cancel with a TransactionID (or Idempotency-Key), at most once: a repeat of the
        same request (the caller timed out and asks again) gets the first one's outcome, a different
        request under the same TransactionID a 409. Needs the client's store (without one, it is
        sent as asked)."""
        store = self.client.core.store
        if store is None or (how.queue and self.outbox is None):
            return self._enqueue(how) if how.queue else self._send(how.message, how.transaction_id, how.tag)
        tid = how.transaction_id
        if how.queue:
            return self._enqueue(how, fingerprint)
        try:  # (encoded once: its size for the claim's lease, and the request sent)
            request, size = sendonce.prepared(self.client, how.message, tid, how.tag)
        except EncodeError as exc:  # a value the schema refuses: nothing claimed, nothing sent
            raise ApiError(400, str(exc)) from None
        with self._sending_lock:
            self._sending += 1
            senders = self._sending
        try:
            return self._claimed(how, fingerprint, store, tid, request, size, senders)
        finally:
            with self._sending_lock:
                self._sending -= 1

    def _claimed(self, how: Submission, fingerprint: str, store, tid: str, request, size: int,  # noqa: ANN001
                 senders: int) -> Response:
        # (its lease counts the rate limit's turns of the sends under way beside it, as a campaign's)
        held, mine = sendonce.claim(store, tid, self.client.config, fingerprint,
                                    extra=sendonce.rate_wait(self.client.config, senders), size=size)
        try:
            queued = store.outbox_find(tid) if hasattr(store, "outbox_find") else None
            before = store.sent_by_transaction_id(tid)
        except STORE_ERRORS:  # nothing sent: the claim is given back, or repeats would wait out its lease (409s)
            if mine:
                sendonce.done(store, held, accepted=False)
            raise
        if queued is not None:  # (looked for once claimed: queueing it from now on finds our claim)
            if mine:
                sendonce.done(store, held, accepted=False)
            raise ApiError(409, f"transaction_id {tid!r} was used for a queued request (#{queued.id}): see "
                                f"/queue/{queued.id}; not sent again")
        if not mine:
            if held.fingerprint != fingerprint:
                raise ApiError(409, f"transaction_id {tid!r} was used for another request: not sent again")
            if not held.accepted:
                raise ApiError(409, f"the request with transaction_id {tid!r} is being sent right now: ask "
                                    "again for its outcome once it is done")
        msg = how.message
        if before is not None and before.ok:
            if mine:  # (accepted before it was claimed: sent by other means, or by an older version)
                sendonce.done(store, held, accepted=True)
            if before.operation != msg.ELEMENT or mine and (
                    sorted(before.recipients) != sorted(map(str, msg.recipients)) if before.operation == "SubmitReq"
                    else before.message_id != msg.message_id):
                raise ApiError(409, f"transaction_id {tid!r} was used for another request: not sent again")
            # (a cancel's answer names no MessageID: its record's is the one cancelled)
            return _json(200, {"ok": True, "status": before.status_code, "text": before.status_text,
                               "message_id": before.message_id if before.operation == "SubmitReq" else None,
                               "transaction_id": tid, "attempts": before.attempts, "repeat": True,
                               "earlier_unanswered": bool(getattr(before, "earlier_unanswered", False))})
        if not mine:  # accepted, but its record is gone (purged): no outcome to give
            raise ApiError(409, f"the request with transaction_id {tid!r} was accepted before: not sent again")
        accepted = False
        try:
            # (held to the claim's lease, as a campaign's and the outbox's sends to theirs: past it, a
            # repeat of this request could claim the TransactionID and send it too; where it fails over
            # to noted with the claim: its process killed then, the request asked again goes there first)
            with sending_until(time.monotonic() + (held.lease_until - utcnow()).total_seconds()), \
                    sendonce.attempts_noted(store, held, tid, self.client.config):
                rsp = self._send(request, tid, how.tag)
            accepted = rsp.status == 200 and json.loads(rsp.body)["ok"]
            return rsp
        except NoTimeLeft:
            return _json(502, {"ok": False, "error": "NoTimeLeft", "message": "not sent: no time for an attempt "
                               "within its claim (the client's rate limit is busy); the MMSC did not take it: ask "
                               "again with the same transaction_id", "may_have_arrived": False,
                               "transaction_id": tid, "attempts": 0})
        finally:
            sendonce.done(store, held, accepted)

    def _queued(self, method: str, item_id: str) -> Response:
        if method not in ("GET", "HEAD"):
            rsp = _refusal(405, "GET the queued item")
            rsp.headers.append(("Allow", "GET, HEAD"))
            return rsp
        if self.outbox is None:  # (not "no such item": none ever will be)
            raise ApiError(404, "queueing is not enabled here ([outbox] enabled = true)")
        known = item_id.isascii() and item_id.isdigit() and len(item_id) <= 18
        item = self.outbox.store.outbox_get(int(item_id)) if known else None
        if item is None:
            raise ApiError(404, f"no queued item {item_id!r}")
        twice = None  # (sent: whether after an attempt that got no answer, by the client's record of it)
        if item.state == "sent":
            rec = self.outbox.store.sent_by_transaction_id(item.transaction_id)
            twice = bool(rec is not None and rec.ok and getattr(rec, "earlier_unanswered", False))
        # `ok` false once it failed or expired; queued or being sent it is under way, as the 202 that
        # queued it said (`state` tells which). A claimed item's next_at is its lease, not when it is
        # tried next: given for a queued item only.
        return _json(200, {"ok": item.state not in ("failed", "expired"), "id": item.id, "state": item.state,
                           "earlier_unanswered": twice,
                           "transaction_id": item.transaction_id, "tag": item.tag, "attempts": item.attempts,
                           "message_id": item.message_id, "status": item.status_code, "error": item.error,
                           "created_at": item.created_at.isoformat(),
                           "next_at": item.next_at.isoformat() if item.state == "queued" else None,
                           "expires_at": item.expires_at.isoformat()})

    def _send(self, msg, transaction_id: str | None, tag: str | None) -> Response:
        """`msg`: a message, or the client's request `prepare`d from it."""
        try:
            result = self.client.send(msg, transaction_id=transaction_id, tag=tag)
        except EncodeError as exc:  # a value the schema refuses: the caller's to fix
            raise ApiError(400, str(exc)) from None
        except FaultError as exc:  # the MMSC answered, with a refusal
            status = exc.status
            return _json(200, {"ok": False, "status": status.code if status else None,
                               "text": status.text if status else str(exc), "transaction_id": exc.transaction_id,
                               "attempts": exc.attempts, "earlier_unanswered": exc.earlier_unanswered})
        except SendError as exc:  # no MM7 answer: unreachable, timed out, not MM7
            # Said either way: after a timeout the message may be on its way to the phone, and a
            # caller that took "502" for "not sent" would send it twice under a new TransactionID.
            arrived = may_have_arrived(exc)
            return _json(502, {"ok": False, "error": type(exc).__name__, "message": str(exc) + (
                "; ask again with the same transaction_id, not a new one"  # (its words say it may have arrived)
                if arrived else "; the MMSC did not take it"), "may_have_arrived": arrived,
                "transaction_id": exc.transaction_id, "attempts": exc.attempts})
        except MM7Error as exc:
            return _json(502, {"ok": False, "error": type(exc).__name__, "message": str(exc)})
        return _json(200, {"ok": result.ok, "status": result.status.code, "text": result.status.text,
                           "message_id": result.message_id, "transaction_id": result.transaction_id,
                           "attempts": result.attempts, "earlier_unanswered": result.earlier_unanswered})

    def wsgi_app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """`handle` as a WSGI app, to mount at the API's path:
        `serve(..., mounts={"/api": api.wsgi_app})`."""
        started = time.monotonic()
        try:
            length = declared_length(environ.get("CONTENT_LENGTH"))
        except ValueError:  # ("1_0", "+10", "١٠": int() read them as 10, a length the client never wrote)
            length = None
        if length is None:
            rsp = _refusal(400, "invalid Content-Length (digits only)")
            self._count(environ.get("PATH_INFO", "") or "/", rsp, {}, started)
        elif length > self.max_body:
            rsp = _refusal(413, f"body larger than {self.max_body} bytes")  # (as handle says it: not read)
            self._count(environ.get("PATH_INFO", "") or "/", rsp, {}, started)
        else:
            body = request_body(environ, length, self.max_body)  # (one byte past the limit: handle refuses it)
            rsp = self.handle(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "") or "/", body,
                              request_headers(environ), environ.get("REMOTE_ADDR"))
        start_response(f"{rsp.status} {REASONS.get(rsp.status, '')}",
                       rsp.headers + [("Content-Length", str(len(rsp.body)))])
        return [rsp.body]


# An answer's outcome, as mm7bind_api_requests_total counts it: by its HTTP status, an answer of
# the MMSC's (200) and a queueing (202) by what it says.
OUTCOMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_allowed",
            409: "conflict", 413: "too_large", 429: "throttled", 502: "error", 503: "store_error"}


def _outcome(operation: str, rsp: Response, headers: Mapping[str, str]) -> str:
    if rsp.status in (200, 202):
        if operation == "queue":  # (a question about an item, whatever its state)
            return "found"
        answer = json.loads(rsp.body)  # (an answer of a few fields: the message is not in it)
        if answer.get("repeat"):
            return "repeat"
        return "queued" if rsp.status == 202 else "ok" if answer.get("ok") else "refused"
    if rsp.status == 401 and headers.get("authorization", "").partition(" ")[0].lower() != "bearer":
        return "challenged"  # (no token, or another scheme: as the receiver tells a missing one from a wrong one)
    return OUTCOMES.get(rsp.status, "other")


def _fingerprint(data: dict) -> str:
    """What tells two /send requests apart: their JSON, whatever its key order and spacing (a field
    given as null or an unset "queue" counts as not given)."""
    given = {k: v for k, v in data.items()
             if v is not None and k != "transaction_id" and not (k == "queue" and v is False)}
    canonical = json.dumps(given, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object, refused when it names a key twice (parsers disagree on which one counts)."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ApiError(400, f"field {twice!r} given twice")
    return data


_SURROGATE = re.compile("[\ud800-\udfff]")  # (json.loads pairs the valid ones: what is left is alone)


def _refuse_lone_surrogates(data: Any, where: str = "") -> None:
    """A 400 naming the field where a \\ud800-style escape left half a character: no encoding can
    write it (it would fail deep in the encoder, or in the store after the message went out)."""
    stack = [(where, data)]
    while stack:
        here, value = stack.pop()
        if isinstance(value, str):
            half = _SURROGATE.search(value)  # (a search: a 20 MB base64 string is not copied)
            if half:
                raise ApiError(400, f"{here or 'the body'}: \\u{ord(half.group()):04x} is half a character "
                                    "(a lone surrogate), not text")
        elif isinstance(value, dict):
            for key, item in value.items():
                stack.append((f"{here}.{key}" if here else key, item))
                stack.append((f"{here} (a key)" if here else "a key", key))  # (popped first: the path above quotes it)
        elif isinstance(value, list):
            stack.extend((f"{here}[{i}]", item) for i, item in enumerate(value, 1))


def _refusal(status: int, message: str) -> Response:
    """A request refused: `error` is the HTTP reason in lower case, one vocabulary for callers to test."""
    return _json(status, {"ok": False, "error": REASONS.get(status, "refused").lower(), "message": message})


def _json(status: int, data: dict) -> Response:
    body = json.dumps({k: v for k, v in data.items() if v is not None}, ensure_ascii=False).encode("utf-8")
    return Response(status, [("Content-Type", "application/json; charset=utf-8")], body)
