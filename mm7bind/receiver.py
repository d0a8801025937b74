"""The VASP receiver core: one HTTP request in (bytes and headers), one HTTP answer out. No I/O.

It authenticates, decodes tolerantly, stores the request (committed before any answer), calls
the user's handler for DeliverReq, DeliveryReportReq and ReadReplyReq, and answers in the caller's
schema version and MM7Version, echoing its TransactionID. A handler returns a status (default
1000) or raises `Reject(status)` for a Fault with VASPErrorRsp; a handler that crashes, raises
Unavailable or returns a status saying "later" (4006, a retryable 3xxx) leaves the message
stored as "failed", to be replayed. Repeats of a handled request are answered from the store
without calling the handler again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import math
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, TypeVar, overload

from . import holders
from . import messages as m
from . import versions
from .auth import (FailureLimit, IPAllowList, RefusalLog, challenge_headers, check_failure_settings,
                   tell_refused)
from .binding import escape_text
from .codec import (CONTENT_CODINGS, HttpMessage, content_type_deviation, decode, encode, request_body,
                    soap_action_deviation)
from .deadline import MAX_TIMEOUT
from .display import printable, repr_showing_no_secret_header, shown_header, shown_http
from .envelope import Envelope, Fault
from .errors import (
    STORE_ERRORS,
    DecodeError,
    Deviation,
    EncodeError,
    LimitExceededError,
    UnsupportedEncodingError,
    ValidationError,
    refusable,
)
from .hints import did_you_mean, suggest_keywords
from .incident import Incident
from .jsonable import to_jsonable
from .mime import Body, MimeLimits, header_value
from .profiles import STANDARD, Profile
from .status import RequestStatus, fault_code, is_retryable, is_success, lookup
from .store import IN_HAND_AT_START, DigestReplayed, InboxRecord, SentRecord, StoreBusy, sifted_headers, utcnow
from .xmlsafe import (DEFAULT_LIMITS, XmlLimits, charset_codec, declaration_readable, invalid_xml_char,
                      printable_in_xml)

log = logging.getLogger("mm7bind.receiver")

_F = TypeVar("_F", bound=Callable[..., Any])  # a handler function, registered and given back as it is

HANDLED_KINDS = {
    "DeliverReq": "on_deliver",
    "DeliveryReportReq": "on_delivery_report",
    "ReadReplyReq": "on_read_reply",
}
# The names `on` takes beside the element names (as the Handler methods spell them).
KIND_NAMES = {"deliver": "DeliverReq", "delivery_report": "DeliveryReportReq", "read_reply": "ReadReplyReq"}


class Reject(Exception):
    """Raise from a handler to refuse a request: the MMSC gets a Fault with VASPErrorRsp(status).
    Final whatever the code (4006 and 3000 too): stored as rejected, never replayed, and the MMSC's
    copies get the same answer without the handler. For trouble that may pass, raise Unavailable.
    A success (1xxx) is no refusal, a ValueError: return it (a Fault saying 1000 reads as a refusal)."""

    def __init__(self, status: int | m.Status = RequestStatus.SERVICE_ERROR, text: str | None = None,
                 details: str | None = None):
        self.status = status if isinstance(status, m.Status) else m.Status(status, text, details)
        if is_success(self.status.code):
            raise ValueError(f"Reject({self.status.code}): {self.status.code} is a success, not a refusal; "
                             "return it from the handler instead")
        super().__init__(f"{self.status.code} {self.status.text}")


class _Gone(Exception):
    """A repeat's first record vanished while it was looked at: purged by another process (its
    outcome was final), so nothing holds its key any more."""


class Unavailable(Exception):
    """Raise from a handler when something it needs is down (a database, the application it
    forwards to): the message stays stored as failed for replay and the MMSC is asked to send it
    again, as for any error, but the log says so in one line, without a traceback."""


@dataclass(frozen=True)
class ClientCert:
    """The certificate the MMSC presented over TLS, verified by the server (`Context.client_cert`):
    one CA may sign several MMSCs' certificates, and a handler tells them apart by it. `subject`
    and `issuer` as RFC 4514 writes them ("CN=mmsc.example,O=Carrier,C=CN"), as the server gave
    them (None when it gave none); `fingerprint`: SHA-256 of the certificate, in lowercase hex
    without colons; `pem`: the certificate itself."""

    subject: str | None
    issuer: str | None
    fingerprint: str | None
    pem: str | None = field(default=None, repr=False)

    @classmethod
    def from_pem(cls, pem: str | None, subject: str | None = None, issuer: str | None = None) -> ClientCert | None:
        """From what a server says of the certificate (None when it says nothing)."""
        if not (pem or subject):
            return None
        fingerprint = None
        if pem:
            import ssl  # noqa: PLC0415

            try:
                fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.strip())).hexdigest()
            except ValueError:  # (not PEM: a server's own form, said as it is)
                fingerprint = None
        return cls(subject or None, issuer or None, fingerprint, pem or None)


@dataclass
class Context:
    """What a handler knows about the request besides the message. `headers`: the request's; its
    Authorization shows only the scheme ("Basic ***") when the receiver checked it (the handler
    has nothing left to do with the password), and in full when it did not (a handler may check
    it itself). A replay has the headers the message came with, as the store kept them: without
    credentials (nor anything named like one). Its repr masks every secret-looking header.
    `client_cert`: the certificate the MMSC presented, when the server asked for one (mutual TLS)
    and says what it was; None otherwise, and on a replay (not stored)."""

    transaction_id: str | None
    version: versions.Version
    deviations: list[Deviation]
    peer: str | None
    headers: Mapping[str, str]
    record: InboxRecord | None = None
    sent: SentRecord | None = None  # for reports: the SubmitReq we sent, when the store knows it
    replay: bool = False
    client_cert: ClientCert | None = None

    __repr__ = repr_showing_no_secret_header


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _joined(headers: list[tuple[str, str]]) -> dict[str, str]:
    """An answer's headers for its DEBUG line, a repeated one's values joined as one list (RFC 9110
    §5.3): a dict of them showed the last alone, one challenge of a Digest 401 offering several."""
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def unsupported_encoding(exc: Exception) -> Response:
    """The 415 for a request in a Content-Encoding we do not undo, naming the ones we do."""
    return Response(415, [("Accept-Encoding", ", ".join(CONTENT_CODINGS)), ("Content-Type", "text/plain")],
                    f"{exc}\n".encode())


class Handler:
    """Subclass and override what you serve; each returns a status code, a Status, a response
    message (e.g. DeliverRsp with a ServiceCode), or None for 1000. A status saying "later" (4006,
    a retryable 3xxx) goes to the MMSC as returned, but leaves the message failed, for its next
    copy and replay, as Unavailable does."""

    def on_deliver(self, msg: m.DeliverReq, ctx: Context) -> Any:
        """A message a subscriber sent (MO). Not overridden: answered 1000."""
        return None

    def on_delivery_report(self, msg: m.DeliveryReportReq, ctx: Context) -> Any:
        """A delivery report about a message we sent (`ctx.sent`: its record, with a store)."""
        return None

    def on_read_reply(self, msg: m.ReadReplyReq, ctx: Context) -> Any:
        """A read reply about a message we sent (`ctx.sent`: its record, with a store)."""
        return None


@suggest_keywords
@dataclass
class ReceiverConfig:
    """A `Receiver`'s settings (or give them to it as keywords): who may post (`auth`, `allow`),
    what it takes (`strict`, `max_body`, the limits), how it answers (`profile`), and how long it
    waits for a repeat's first copy and for a store locked elsewhere."""

    auth: Any = None  # mm7bind.auth.BasicAuth / DigestAuth, or None
    allow: IPAllowList | None = None
    strict: bool = False  # refuse messages with deviations (validation error) instead of tolerating them
    max_body: int = 20 * 1024 * 1024
    mime_limits: MimeLimits = field(default_factory=MimeLimits)
    xml_limits: XmlLimits = DEFAULT_LIMITS
    profile: Profile = STANDARD  # XML style and MIME habits of our answers (version: the caller's)
    repeat_wait: float = 10.0  # how long a repeat waits for the first copy's outcome
    # A message in hand this long lost its worker: a repeat takes it over (at once when its worker was
    # a process of this machine that is gone: `holders.gone`).
    stale_after: float = 300.0
    # How long a request waits for a store locked elsewhere, at each write (storing it: then 3000;
    # recording its outcome: then the answer all the same). None: as long as the lock is held.
    store_wait: float | None = 5.0
    # Wrong credentials from one address (an IPv6 /64) this many times within auth_cooldown seconds:
    # its requests are answered 429, unchecked, for auth_cooldown seconds (no password tried at the
    # server's speed, no log line each). A Digest answer refused whatever its credentials (an algorithm
    # not offered: a misconfigured client) tests none, and counts as none (`auth.counts_as_guess`). 0: no limit.
    auth_failures: int = 10
    auth_cooldown: float = 60.0

    def __post_init__(self) -> None:
        check_failure_settings(self.auth_failures, self.auth_cooldown)

    def __setattr__(self, name: str, value: Any) -> None:
        # Each setting is checked as it is given, in the Receiver's keywords or set later
        # (receiver.config.store_wait = ...: read by the next request), not refused by the store
        # or the clock at each request, every message then answered 500.
        _check_setting(name, value)
        if name in ("auth_failures", "auth_cooldown") and hasattr(self, "auth_cooldown"):  # (made: both set)
            check_failure_settings(value if name == "auth_failures" else self.auth_failures,
                                   value if name == "auth_cooldown" else self.auth_cooldown)
        object.__setattr__(self, name, value)


def _check_setting(name: str, value: Any) -> None:
    """A `ReceiverConfig` setting that no request could use, refused with a ValueError: a store_wait
    past what a lock's wait holds (1e10) raised an OverflowError at each store write (later, the
    store's refusal), a stale_after past the year 1 (inf, 1e12) or NaN one at each repeat of a
    message, each answered 500; a NaN max_body passed every comparison (any size taken)."""
    from .store import KEEP_MAX  # noqa: PLC0415

    seconds = {"repeat_wait": (MAX_TIMEOUT, "a year"), "store_wait": (MAX_TIMEOUT, "a year"),
               "stale_after": (int(KEEP_MAX.total_seconds()), "a thousand years")}
    if name in seconds and not (name == "store_wait" and value is None):
        most, unit = seconds[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= most:
            raise ValueError(f"{name} must be a number of seconds from 0 to {most} ({unit}), not {value!r}")
    elif name == "max_body" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"max_body must be a whole number of bytes, at least 1, not {value!r}")


def _takes_msg_and_ctx(fn: Callable, kind: str) -> None:
    """Refuse, when registered, a function that cannot be called as every message calls it,
    `fn(msg, ctx)`: it failed on each message instead, each answered 3000."""
    import inspect  # noqa: PLC0415

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # (a callable Python cannot describe: taken as it is)
        return
    try:
        signature.bind(None, None)
    except TypeError as exc:
        raise TypeError(f"a function for {kind!r} must take (msg, ctx), as each message calls it: "
                        f"{getattr(fn, '__qualname__', fn)}{signature} does not ({exc})") from None
    _not_async(fn, f"a function for {kind!r}")


def _not_async(fn: Callable, what: str) -> None:
    """Refuse, when registered, an `async def`: the receiver calls handlers in its server's threads
    and never awaits them, so each message failed on the coroutine returned (a 3000 to the MMSC),
    its code never run."""
    import inspect  # noqa: PLC0415

    if inspect.iscoroutinefunction(fn):
        raise TypeError(f"{what} is called in the receiver's threads, not awaited: "
                        f"{getattr(fn, '__qualname__', fn)} is an async def, which would never run. Write it "
                        "as a plain def (work for an event loop of yours: asyncio.run_coroutine_threadsafe("
                        "coro, loop).result())")


def no_async_methods(handler: Handler | None) -> None:
    """Refuse a handler whose on_deliver, on_delivery_report or on_read_reply is an async def, or
    which has a method named on_... that is none of them (`_no_misspelt_methods`)."""
    for method in HANDLED_KINDS.values():
        _not_async(getattr(handler, method, None), f"a handler's {method}")
    _no_misspelt_methods(handler)


def _no_misspelt_methods(handler: Handler | None) -> None:
    """Refuse a handler with a method named on_... that the receiver never calls (on_report,
    on_delivery, on_readreply): a slip, whose code never ran while a Handler's default answered
    every such message 1000 — the MMSC told it was taken, the message lost. The on_ names are the
    receiver's: a method of the handler's own is named otherwise."""
    if handler is None:
        return
    known = list(HANDLED_KINDS.values())
    for name in dir(handler):
        if not name.startswith("on_") or name in known:
            continue
        try:
            value = inspect.getattr_static(handler, name)
        except AttributeError:  # (listed by a __dir__ of its own, and not there)
            continue
        if callable(value) or isinstance(value, (staticmethod, classmethod)):
            named = getattr(type(handler), "__qualname__", type(handler).__name__)
            raise TypeError(f"{named}.{name} would never be called{did_you_mean(name, known)}: the receiver "
                            f"calls {', '.join(known[:-1])} and {known[-1]} (one not overridden answers the MMSC "
                            "success, the message lost); a method of your own is named without on_")


@suggest_keywords
class Receiver:
    """`handle(body, content_type, headers, peer)` → `Response`. Thread-safe."""

    def __init__(self, handler: Handler | None = None, *, store=None, config: ReceiverConfig | None = None,
                 metrics=None, **settings: Any):
        if isinstance(handler, type) or (handler is not None and not any(
                hasattr(handler, method) for method in HANDLED_KINDS.values())):
            # (taken, it failed on every message, each answered 3000)
            named = getattr(handler, "__qualname__", type(handler).__name__)
            raise TypeError(f"handler must be a Handler: Receiver({named}()), an instance, not the class"
                            if isinstance(handler, type) else
                            f"handler must be a Handler (on_deliver, on_delivery_report, on_read_reply), not {named}: "
                            "a function goes in receiver.on(\"deliver\", fn)")
        no_async_methods(handler)
        self.handler = handler or Handler()
        self.store = store
        self.metrics = metrics  # a mm7bind.metrics.Metrics, counting every answer; None counts nothing
        if metrics is not None and store is not None and hasattr(store, "open_counts"):
            metrics.watch_inbox(store)
        # Settings given with a config apply over it, checked as the config checks them (they were dropped).
        self.config = (replace(config, **settings) if config is not None and settings
                       else config or ReceiverConfig(**settings))
        self._limit: tuple = ((), None)  # (settings, FailureLimit or None): see _failures
        self._refusals = RefusalLog()  # (refused credentials' lines, one per peer and reason a minute)
        self.callables: dict[str, Callable] = {}
        self._answers: dict[tuple, tuple] = {}  # plain_answer's templates
        self._signatures: dict[tuple[Callable, str], bool] = {}  # _takes' answers, by (store method, name)
        self._mm7_versions_said: set[tuple[str, str]] = set()  # (version, MM7Version) _handler_answer said
        # A store that cannot take messages (a full disk): one ERROR as it begins, one WARNING once a
        # message is stored again, not one each.
        self._store_trouble = Incident()

    @property
    def _failures(self) -> FailureLimit | None:
        """The count of wrong credentials for auth_failures and auth_cooldown as they are now: set
        on a receiver that serves, they take effect at its next request (counted afresh)."""
        settings = (self.config.auth_failures, self.config.auth_cooldown)
        made, limit = self._limit
        if made != settings:  # (two requests racing here make one each: a count or two lost, once)
            limit = FailureLimit(*settings, store=self.store, scope="mm7") if settings[0] else None
            self._limit = (settings, limit)
        return limit

    @overload
    def on(self, kind: str) -> Callable[[_F], _F]: ...
    @overload
    def on(self, kind: str, fn: _F) -> _F: ...

    def on(self, kind: str, fn: Callable | None = None) -> Any:
        """Register a callable for "deliver", "delivery_report" or "read_reply" (usable as a decorator)."""
        key = KIND_NAMES.get(kind, kind)
        if key not in HANDLED_KINDS:
            raise ValueError(f"unknown message kind {kind!r}{did_you_mean(str(kind), KIND_NAMES)}: a receiver "
                             f"handles {', '.join(KIND_NAMES)} (or {', '.join(HANDLED_KINDS)})")

        def register(f: Callable) -> Callable:
            _takes_msg_and_ctx(f, kind)
            self.callables[key] = f
            return f

        return register(fn) if fn is not None else register

    def _handler_for(self, kind: str) -> Callable:
        """What handles a request of `kind`: the callable registered with `on`, else the handler's method."""
        return self.callables.get(kind) or getattr(self.handler, HANDLED_KINDS[kind])

    # -- the request ------------------------------------------------------------------------------

    def handle(self, body: bytes, content_type: str | None, headers: Mapping[str, str] | None = None,
               peer: str | None = None, method: str = "POST", uri: str = "/",
               client_cert: ClientCert | None = None) -> Response:
        """One HTTP request from an MMSC (its body, Content-Type, headers, the peer's address, the
        certificate it presented) → the `Response` to send back (status, headers, body): for a
        framework of your own; `wsgi_app` and `asgi_app` call it. Never raises for what a peer sent.
        `uri`: the request-target as received (path and query), which the store keeps and a Digest
        answer signs: with `DigestAuth`, pass it, or every answer naming another is refused (401)."""
        started = time.monotonic()
        headers = headers or {}
        if log.isEnabledFor(logging.DEBUG):  # the payloads, as the client logs its own
            shown = headers if content_type is None or header_value(headers, "content-type") else {
                **headers, "Content-Type": content_type}
            log.debug("%s %s from %s\n%s", printable(method), printable(uri), peer, shown_http(shown, body))
        try:
            rsp = self._handle(body, content_type, headers, peer, method, uri, started, client_cert)
        except Exception:  # noqa: BLE001 (a bug of ours must still produce an answer, never a dropped request)
            log.exception("internal error while receiving from %s", peer)
            self._count(None, "internal_error", RequestStatus.SERVER_ERROR, started)
            rsp = self.fault(None, None, RequestStatus.SERVER_ERROR, "internal error")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("HTTP %d to %s\n%s", rsp.status, peer, shown_http(_joined(rsp.headers), rsp.body))
        return rsp

    def _handle(self, body: bytes, content_type: str | None, headers: Mapping[str, str], peer: str | None,
                method: str, uri: str, started: float, client_cert: ClientCert | None = None) -> Response:
        if method.upper() != "POST":
            self._count(None, "not_post", None, started)
            return Response(405, [("Allow", "POST"), ("Content-Type", "text/plain")], b"MM7 takes POST\n")
        if self.config.allow is not None and not self.config.allow.allows(peer):
            log.warning("refused request from %s (not in the allow-list)", peer)
            self._count(None, "forbidden", None, started)
            return Response(403, [("Content-Type", "text/plain")], b"forbidden\n")
        spent = None
        if self.config.auth is not None:
            refused_for = self._failures.refused_for(peer) if self._failures is not None else 0
            if refused_for:  # (said once, as the cool-down began)
                self._count(None, "throttled", None, started)
                return Response(429, [("Retry-After", str(math.ceil(refused_for))), ("Content-Type", "text/plain")],
                                b"too many wrong credentials: try again later\n")
            given = header_value(headers, "authorization")
            ok, stale = self.config.auth.check(method.upper(), uri, given, body)
            if ok and hasattr(self.config.auth, "spent"):  # (Digest: kept spent in the store, for every process)
                spent = self.config.auth.spent(given)
            if not ok:
                challenges = challenge_headers(self.config.auth, stale)  # (a nonce each: the answer's)
                wrong = tell_refused(self.config.auth, method.upper(), uri, given, body, challenges[0][1], stale, peer,
                                     log, self._refusals, self._failures)
                self._count(None, "unauthorized" if wrong else "challenged", None, started)
                return Response(401, [*challenges, ("Content-Type", "text/plain")], b"authentication required\n")
        if spent is None or getattr(self.store, "spend", None) is None or not self._takes(self.store.accept, "spent"):
            return self._authorized(body, content_type, headers, peer, uri, started, client_cert)
        # Kept spent whatever becomes of the request: with the message, in the transaction that
        # stores it (`dispatch` takes it from the list), else on its own once it is answered (a
        # refusal's header, sent again elsewhere with a message that is taken, would carry it).
        unspent = [spent]
        rsp = self._authorized(body, content_type, headers, peer, uri, started, client_cert, unspent)
        if unspent:
            self._spend(unspent[0], peer)
        return rsp

    def _spend(self, spent: tuple[str, float], peer: str | None) -> None:
        """Keep the Digest answer of a request that stored nothing spent (`SqliteStore.spend`)."""
        try:
            self.store.spend(spent, wait=self.config.store_wait)
        except DigestReplayed:
            pass  # (a copy of a header spent already, on a request refused all the same)
        except STORE_ERRORS as exc:
            log.warning("the Digest answer of a request from %s that stored nothing could not be kept spent (%s: %s): "
                        "another process may take it once within its nonce's lifetime", peer, type(exc).__name__, exc)

    def _authorized(self, body: bytes, content_type: str | None, headers: Mapping[str, str], peer: str | None,
                    uri: str, started: float, client_cert: ClientCert | None, spent: list | None = None) -> Response:
        """`handle` past the method, allow-list and credentials checks. `spent`: the Digest answer
        the request came with, in a list `dispatch` empties once the store has it."""
        if len(body) > self.config.max_body:
            return self.too_large(peer, len(body), started)
        plain = None  # (a body sent plain under a Content-Encoding: reported, never refused)
        if header_value(headers, "content-encoding") is not None:
            inflated = self.inflate(body, headers, peer, started)
            if isinstance(inflated, Response):
                return inflated
            body, headers, plain = inflated
        try:
            # Read tolerantly, refused after when strict: the refusal then answers in the caller's
            # version, namespace and MM7Version, as any other answer does.
            env = decode(body, content_type, limits=self.config.mime_limits, xml_limits=self.config.xml_limits)
        except DecodeError as exc:
            said = what_it_said(body)
            refusal = soap_refusal(exc.deviations or ())
            if refusal is not None:
                return self.soap_fault(None, refusal, said.version, said.transaction_id, peer, started,
                                       exc.deviations, namespace=said.namespace)
            log.warning("refused an undecodable request%s from %s: %s", _tid(said.transaction_id), peer,
                        printable(exc))
            self._count(None, "malformed", exc.status_code, started, exc.deviations or ())
            return self.fault(None, said.version, refusal_status(exc), transaction_id=said.transaction_id,
                              namespace=said.namespace, mm7_version=said.mm7_version)
        refused = refusable(env.deviations) if self.config.strict else []
        strictly = ValidationError.refusing(refused) if refused else None
        try:
            said_by_http(env, content_type, headers, plain, strict=self.config.strict and strictly is None)
        except ValidationError as exc:  # (no Content-Type: the body's own deviations refused first)
            strictly = exc
        refusal = soap_refusal(env.deviations)  # (strict mode: refused as SOAP refuses them all the same)
        if refusal is not None:
            return self.soap_fault(env, refusal, env.version, env.transaction_id, peer, started, env.deviations)
        if strictly is not None:  # (read: what it was is said and counted, as for the operations not served)
            operation = "Fault" if env.is_fault else env.message.ELEMENT if env.message is not None else None
            log.warning("refused %s%s from %s (strict): %s", operation or "a request", _tid(env.transaction_id), peer,
                        printable(strictly))
            self._count(operation, "malformed", strictly.status_code, started, strictly.deviations or ())
            return self.fault(env, env.version, refusal_status(strictly))
        if env.is_fault or env.message.ELEMENT not in HANDLED_KINDS:
            kind = "a Fault" if env.is_fault else env.message.ELEMENT
            log.warning("refused %s%s from %s: not an operation a VASP serves (4003)", kind,
                        _tid(env.transaction_id), peer)
            self._count("Fault" if env.is_fault else env.message.ELEMENT, "unsupported",
                        RequestStatus.UNSUPPORTED_OPERATION, started, env.deviations)
            return self.fault(env, env.version, RequestStatus.UNSUPPORTED_OPERATION,
                              f"{kind} is not an operation a VASP serves")
        return self.dispatch(env, body, content_type, headers, peer, started, uri=uri, client_cert=client_cert,
                             spent=spent)

    def inflate(self, body: bytes, headers: Mapping[str, str], peer,
                started) -> tuple[bytes, dict, Deviation | None] | Response:
        """A compressed request's body inflated within `max_body` (a bomb is a 413), with headers that
        no longer name the encoding (the handler and the store get the body as it is read), and the
        deviation of a body sent plain under a coding (`codec.request_body`); a coding we do not
        undo is a 415, bytes that do not inflate a Client Fault (2007). A body read as it came keeps
        its header: stored with it, a replay reports it again."""
        try:
            body, plain = request_body(body, header_value(headers, "content-encoding"), self.config.max_body)
        except UnsupportedEncodingError as exc:
            log.warning("refused a request from %s: %s", peer, printable(exc))
            self._count(None, "unsupported", None, started)
            return unsupported_encoding(exc)
        except LimitExceededError:
            return self.too_large(peer, None, started)
        except DecodeError as exc:
            log.warning("refused an undecodable request from %s: %s", peer, printable(exc))
            self._count(None, "malformed", exc.status_code, started)
            return self.fault(None, None, exc.status_code, str(exc))
        if plain is not None:
            return body, headers, plain
        return body, {k: v for k, v in headers.items() if k.lower() != "content-encoding"}, plain

    def soap_fault(self, env: Envelope | None, fault: Fault, version, tid: str | None, peer, started,
                   deviations, namespace: str | None = None) -> Response:
        """A request SOAP 1.1 itself refuses (`soap_refusal`), answered before any MM7 is read."""
        operation = env.message.ELEMENT if env is not None and env.message is not None else None
        log.warning("refused %s%s from %s: %s (SOAP %s)", operation or "a request", _tid(tid), peer,
                    printable(fault.string), fault.code)
        self._count(operation, "unsupported", None, started, deviations or ())
        return self._fault_response(fault, env, version or versions.latest(), tid or "", namespace)

    def _fault_response(self, fault: Fault, env: Envelope | None, version, tid: str,
                        namespace: str | None, mm7_version: str | None = None) -> Response:
        out = encode_reply(fault, env, version, tid, self.config.profile, namespace, mm7_version)
        # 500 as SOAP 1.1 says, or what the profile names: an MMSC taking every 500 for a transport
        # failure sends a refused message again and again unless its Faults come in a 200.
        return Response(self.config.profile.fault_http_status, _headers(out), out.to_bytes())

    def too_large(self, peer: str | None, size: int | None, started: float | None = None, *,
                  method: str = "POST", uri: str | None = None, authorization: str | None = None) -> Response:
        """The 413 for a body over `max_body` (`size` when known: declared or read), logged and
        counted: an MMSC's large MMS refused here is otherwise lost without a trace on our side.
        The servers call it for a declared length before reading the body, with the request's
        `method`, target (`uri`) and Authorization header: a Digest answer that signs no body
        (qop=auth) is checked and kept spent all the same, or the header, captured on the way,
        would be taken later with another body. (One with qop=auth-int cannot be checked
        without its body, and signs that body: sent again with another, it is refused anyway.)"""
        log.warning("refused a request from %s: %s over max_body (%d bytes)", peer,
                    f"{size} bytes," if size is not None else "its body is", self.config.max_body)
        self._count(None, "too_large", None, time.monotonic() if started is None else started)
        if authorization and uri is not None:
            self._spend_unread(method, uri, authorization, peer)
        return Response(413, [("Content-Type", "text/plain")], b"request body too large\n")

    def incomplete(self, peer: str | None, received: int | None, declared: int | None,
                   why: str = "the connection closed", started: float | None = None) -> None:
        """A request that never came whole (`why`: the peer closed, or fell silent past the
        deadline; `received` of `declared` bytes of its body, when known; both None: it ended in
        its headers, as `why` says), logged and counted as the other refusals are: without, an
        MMSC whose large MMS keeps failing mid-upload left no trace but a connection closed (it
        sends the whole one again; what came is no message). `started`: when it began
        (`time.monotonic()`), for its timing; None: counted, not timed (not as 0 s: an upload
        cut after a minute would pull the timings down)."""
        if received is None and declared is None:
            log.warning("request from %s not taken: %s", peer, why)
        else:
            log.warning("request from %s not taken: %s after %s bytes of its body%s", peer, why,
                        "some" if received is None else received, f" (of {declared})" if declared is not None else "")
        self._count(None, "incomplete", None, started)

    def _spend_unread(self, method: str, uri: str, authorization: str, peer: str | None) -> None:
        """Keep the Digest answer of a request refused before its body was read spent, here and
        (with a store) for every process, once it is checked as `handle` checks it."""
        auth = self.config.auth
        if auth is None or not hasattr(auth, "spent") or (
                self.config.allow is not None and not self.config.allow.allows(peer)):
            return
        ok, _ = auth.check(method.upper(), uri, authorization, None)  # (auth-int without its body: not ok)
        spent = auth.spent(authorization) if ok else None
        if spent is not None and getattr(self.store, "spend", None) is not None:
            self._spend(spent, peer)

    def dispatch(self, env: Envelope, body: bytes, content_type: str | None, headers, peer, started,
                 record: InboxRecord | None = None, uri: str | None = None,
                 client_cert: ClientCert | None = None, spent: list | None = None) -> Response:
        """A decoded request stored (unless it is a replay's `record`; with the path of `uri`, the
        request's target, and the Digest answer in `spent`, taken from that list as it is
        written), handed to the handler and answered: the part of `handle` that `replay` runs again."""
        msg = env.message
        if self.config.auth is not None:  # checked: the credentials are of no more use, only a risk in a log
            headers = {k: shown_header(k, v) if k.lower() in _CHECKED else v for k, v in headers.items()}
        ctx = Context(env.transaction_id, env.version, env.deviations, peer, headers, client_cert=client_cert)
        if self.store is not None and record is None:
            for tries in (1, 2):  # (twice when the first copy's record was purged while it was looked at)
                stored = self._store(env, body, content_type, headers, peer, started, ctx, uri, spent)
                if isinstance(stored, Response):
                    return stored
                record, new = stored
                if new:
                    self._store_works()
                    break
                try:
                    repeat = self._repeat(env, record, ctx, started)
                    self._store_works()  # (a repeat: once its outcome is read)
                    if repeat is not None:
                        answer, code = repeat
                        self._count(msg.ELEMENT, "repeat", code, started, env.deviations)
                        return answer
                    record = self.store.inbox_get(record.id)  # claimed: a failed first attempt, processed again
                    break
                except _Gone as exc:  # (purged by another process: nothing holds its key now)
                    if tries == 1:
                        log.info("%s tid=%s from %s: %s: stored anew", msg.ELEMENT, printable(env.transaction_id),
                                 peer, exc)
                        continue
                    failure: Exception = exc
                except STORE_ERRORS as exc:  # (stored already: the MMSC's next copy is answered from it)
                    failure = exc
                said = f"{type(failure).__name__}: {failure}"
                begins = self._store_failed(said)  # (a store that cannot answer: as one that cannot store)
                log.log(logging.ERROR if begins else logging.DEBUG,
                        "%s tid=%s from %s repeated, but the store could not be asked its outcome (%s): "
                        "answered 3000%s", msg.ELEMENT, printable(env.transaction_id), peer, said,
                        "; further ones refused so are counted, told once a message is stored again" if begins
                        else "", extra={"mm7": _fields(msg, ctx, RequestStatus.SERVER_ERROR, started, "store_error")})
                self._count(msg.ELEMENT, "store_error", RequestStatus.SERVER_ERROR, started, env.deviations)
                return self.fault(env, env.version, RequestStatus.SERVER_ERROR,
                                  "the VASP could not process it")
        elif self.store is not None and record is not None:
            ctx.replay = True
            ctx.sent = self._sent_about(msg)
        ctx.record = record
        fn = self._handler_for(msg.ELEMENT)
        try:
            outcome = fn(msg, ctx)
            response = response_for(msg, outcome)  # (an answer that is none is the handler's bug too)
            # Encoded here: an answer that cannot be sent (a character XML cannot carry) is the
            # handler's failure, not a message handled and then an internal error, counted twice.
            answer = self._handler_answer(env, response, outcome)
        except Reject as rej:
            self._mark(record, "rejected", rej.status.code, str(rej))
            self._log(msg, ctx, rej.status.code, started, "rejected")
            self._count(msg.ELEMENT, "rejected", rej.status.code, started, env.deviations, replay=ctx.replay)
            return self.fault(env, env.version, rej.status.code, rej.status.text, rej.status.details,
                              given=rej.status)
        except Exception as exc:  # noqa: BLE001 (any handler bug: keep the message, answer honestly)
            self._mark(record, "failed", None, "".join(traceback.format_exception_only(exc)).strip())
            log.error("handler for %s tid=%s failed%s; %s", msg.ELEMENT,
                      printable(env.transaction_id), f": {printable(exc)}" if isinstance(exc, Unavailable) else "",
                      # (without a store nothing is kept: the MMSC, answered 3000, sends it again)
                      f"stored as #{record.id} for replay" if record else "no store keeps it: the MMSC is asked "
                      "to send it again",
                      exc_info=not isinstance(exc, Unavailable),  # (a bug's traceback, not an outage's)
                      extra={"mm7": _fields(msg, ctx, RequestStatus.SERVER_ERROR, started, "failed")})
            self._count(msg.ELEMENT, "failed", RequestStatus.SERVER_ERROR, started, env.deviations,
                        replay=ctx.replay)
            return self.fault(env, env.version, RequestStatus.SERVER_ERROR, "the VASP could not process it")
        code = response.status.code
        if is_retryable(code):
            # "Busy, try later" (4006, a 3xxx) returned rather than raised: answered as the handler
            # said, but stored as handled, every copy the MMSC sends again would get that answer
            # without reaching the handler, and no replay would run it: lost. Failed, as for
            # Unavailable, the next copy (or a replay) is handed to the handler again.
            self._mark(record, "failed", code, f"the handler answered {code} (try later)")
            log.warning("handler for %s tid=%s answered %d (try later)%s", msg.ELEMENT,
                        printable(env.transaction_id), code,
                        f"; stored as #{record.id} for replay" if record is not None else "",
                        extra={"mm7": _fields(msg, ctx, code, started, "failed")})
            self._count(msg.ELEMENT, "failed", code, started, env.deviations, replay=ctx.replay)
            return answer
        self._mark(record, "handled", response.status.code, None, _kept_answer(response))
        self._log(msg, ctx, response.status.code, started, "handled")
        self._count(msg.ELEMENT, "handled", response.status.code, started, env.deviations, replay=ctx.replay)
        return answer

    def _store(self, env: Envelope, body: bytes, content_type: str | None, headers, peer, started, ctx: Context,
               uri: str | None, spent: list | None) -> tuple[InboxRecord, bool] | Response:
        """`dispatch`'s request stored: its record and whether it is new (not a repeat), or the
        answer when it could not be (a store error, a Digest answer spent elsewhere)."""
        msg = env.message
        try:
            sent = self._sent_about(msg)
            keys = _keys(msg, env.transaction_id, sent)
            more = {"headers": sifted_headers(headers)} if self._takes(self.store.accept, "headers") else {}
            if uri is not None and self._takes(self.store.accept, "path"):  # (`store show --raw`'s request line)
                more["path"] = uri
            earlier = ((self._stored_before_upgrade(env) if env.transaction_id else None)
                       or self._stored_under_text_read(env, keys[0]))
            if spent and earlier is not None:  # (no accept to write it with)
                self.store.spend(spent.pop(), wait=self.config.store_wait)
            elif spent:
                more["spent"] = spent.pop()  # (tried once: a store failing now fails the next try too)
            stored = (earlier, False) if earlier is not None else self.store.accept(
                kind=msg.ELEMENT, transaction_id=env.transaction_id, message_id=getattr(msg, "message_id", None),
                recipient=_address(getattr(msg, "recipient", None)), status=_text(getattr(msg, "mm_status", None)),
                peer=peer, content_type=content_type, body=bytes(body), tid_key=keys[0], report_key=keys[1],
                sent_transaction_id=sent.transaction_id if sent else None, wait=self.config.store_wait, **more,
            )
        except DigestReplayed:
            # Taken by another process of this store (this one's own `check` refuses its own):
            # a header captured on the way, sent again, perhaps with another message.
            log.warning("refused %s tid=%s from %s: its Digest answer was used already (a captured request "
                        "sent again?)", msg.ELEMENT, printable(env.transaction_id), peer)
            self._count(msg.ELEMENT, "unauthorized", None, started, env.deviations)
            return Response(401, [*challenge_headers(self.config.auth, True),
                                  ("Content-Type", "text/plain")], b"authentication required\n")
        except STORE_ERRORS as exc:  # a full disk, a locked file: the operator's to fix, said in one line
            said = f"{type(exc).__name__}: {exc}"
            begins = self._store_failed(said)
            log.log(logging.ERROR if begins else logging.DEBUG,
                    "%s tid=%s from %s not stored (%s): answered 3000, the MMSC will send it again%s",
                    msg.ELEMENT, printable(env.transaction_id), peer, said,
                    "; further ones refused so are counted, told once a message is stored again" if begins else "",
                    extra={"mm7": _fields(msg, ctx, RequestStatus.SERVER_ERROR, started, "store_error")})
            self._count(msg.ELEMENT, "store_error", RequestStatus.SERVER_ERROR, started, env.deviations)
            return self.fault(env, env.version, RequestStatus.SERVER_ERROR, "the VASP could not store it")
        ctx.sent = sent
        return stored

    def _store_failed(self, said: str) -> bool:
        """A message answered 3000, the store failing with `said` (storing it, or reading a repeat's
        outcome): counted for the incident; → whether it begins one (the first, or the store failing
        otherwise than before), said at ERROR, the rest at DEBUG until `_store_works`."""
        return self._store_trouble.failed(said)

    def _store_works(self) -> None:
        """The store took a message (or told a repeat's outcome): an incident it ends is told, in one
        WARNING with how many messages were answered 3000 meanwhile and for how long."""
        ended = self._store_trouble.over()
        if ended is not None:
            log.warning("the store takes messages again: %d refused (answered 3000) over %.0f s while it "
                        "could not (%s)", ended.count, ended.seconds, ended.said)

    def _stored_before_upgrade(self, env: Envelope) -> InboxRecord | None:
        """The first copy of this message, when a release before stored it under a key of then: its
        element and TransactionID alone (the stored body is read again to compare what it says:
        another message under that TransactionID, or one whose body was purged, which can no longer
        be compared, is new), or with a digest that took the TimeStamp in. A copy the MMSC sends
        again after the upgrade, within its retry window, is a repeat of it, not handled a second
        time. Asked only of a store that says it may hold such keys (`holds_old_keys`: until they
        are purged, or too old for a copy of theirs to be a retry)."""
        if not getattr(self.store, "holds_old_keys", False):
            return None
        msg = env.message
        plain = f"{msg.ELEMENT}|{env.transaction_id}"
        stamped = f"{plain}|{_identity(msg, _NOT_IDENTITY_BEFORE)}"
        stored_before = getattr(self.store, "inbox_stored_before", None)
        if stored_before is not None:
            records = stored_before(plain, stamped)
        else:  # (a store of one's own that says it holds old keys: looked up one by one)
            records = {key: r for key in (plain, stamped) if (r := self.store.inbox_by_key(key)) is not None}
        if stamped in records:  # (the same digest: the same message, its TimeStamp too)
            return records[stamped]
        found = records.get(plain)
        if found is None or not found.body:
            return None
        try:
            first = decode(found.body, found.content_type, limits=self.config.mime_limits,
                           xml_limits=self.config.xml_limits)
        except DecodeError:
            return None
        same = first.message is not None and first.message.ELEMENT == msg.ELEMENT and (
            _identity(first.message) == _identity(msg))
        return found if same else None

    def _stored_under_text_read(self, env: Envelope, tid_key: str | None) -> InboxRecord | None:
        """The first copy of this message, when a release before stored it under the key it gave a
        text part by its `text_value` (`_identity(as_read=True)`), where this one counts the part
        as its label reads it: text the label does not read (or that the charset detection reads
        otherwise). Looked up for such messages alone, one lookup more for each; text labelled
        right has the key it always had. A DeliverReq without a TransactionID alike: its key of
        then is `_unnamed_key`'s with the text as read."""
        msg = env.message
        content = getattr(msg, "content", None)
        find = getattr(self.store, "inbox_by_key", None)
        if content is None or find is None or tid_key is None or not any(
                part.kind == "text" and _label_text(part) != part.text_value for part in content.parts):
            return None
        before = (f"{msg.ELEMENT}|{env.transaction_id}|{_identity(msg, as_read=True)}" if env.transaction_id
                  else _unnamed_key(msg, as_read=True))
        return find(before) if before is not None and before != tid_key else None

    def _handler_answer(self, env: Envelope, response: m.Message, outcome: Any) -> Response:
        """The handler's answer encoded (raising what it cannot be sent for). A response whose
        `mm7_version` the caller's schema refuses, or one of a later release than it (6.8.0 to a
        REL-5 caller: a pattern of ours takes it, a reader that checks refuses it), goes with the
        caller's, said in a WARNING once per value: the message is handled, and a 3000 for it would
        have the MMSC send it again and again, each copy handled anew and refused alike."""
        if response is not outcome:  # (a response built here from a status: its template will do)
            return self.plain_answer(env, response)
        value, version = response.mm7_version, env.version or versions.latest()
        release = versions.later_release(value, version)
        why = None if release is None else f"of Release {release}, {version.name} of Release {version.release}"
        failure: EncodeError | None = None
        if why is None:
            try:
                return self.answer(env, response)
            except EncodeError as exc:
                if value is None:
                    raise
                failure, why = exc, str(exc)
        try:
            answer = self.answer(env, dataclasses.replace(response, mm7_version=None))
        except EncodeError:
            if failure is not None:
                raise failure from None  # (something else the answer cannot carry: the handler's failure)
            raise
        key = (version.name, value)
        if key not in self._mm7_versions_said:
            if len(self._mm7_versions_said) >= 64:  # (values come from handlers: kept bounded)
                self._mm7_versions_said.clear()
            self._mm7_versions_said.add(key)
            log.warning("the handler's %s gives MM7Version %s, which the caller's schema refuses (%s): answered "
                        "with the caller's; said once for this value", response.ELEMENT, printable(value),
                        printable(why))
        return answer

    def _sent_about(self, msg) -> SentRecord | None:
        """Our SubmitReq a report is about: by its MessageID and, as two of ours may share one
        (two MMSCs, a counter reset), its recipient."""
        message_id = getattr(msg, "message_id", None)
        if not message_id:
            return None
        find = self.store.sent_by_message_id
        if not self._takes(find, "recipient"):  # a store of one's own taking the MessageID alone
            return find(message_id)
        return find(message_id, recipient=_address(getattr(msg, "recipient", None)))

    def _takes(self, method: Callable, name: str) -> bool:
        """Whether a store's `method` takes the keyword `name`: a store of one's own written for an
        earlier mm7bind still works, offered only what it takes (asked once per method, not per
        message; never by calling it and catching TypeError, which would hide its own bugs)."""
        takes = self._signatures.get((method, name))
        if takes is None:
            try:
                params = inspect.signature(method).parameters.values()
            except (TypeError, ValueError):  # (no signature to read: not offered what it may refuse)
                params = ()
            takes = any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)
            self._signatures[(method, name)] = takes
        return takes

    def _repeat(self, env: Envelope, record: InboxRecord, ctx: Context,
                started: float) -> tuple[Response, int | None] | None:
        """The answer to a request stored before (and the status code it stands for, None for a
        failure), or None when it is ours to process (again): it failed, or its worker died with
        it in hand (claimed longer than `stale_after` ago, or by a process of this machine that is gone)."""
        msg = env.message
        deadline = time.monotonic() + self.config.repeat_wait
        while True:
            stale_before = utcnow() - timedelta(seconds=self.config.stale_after)
            while record.state == "processing" and not _stale(record, stale_before) and time.monotonic() < deadline:
                time.sleep(0.02)  # the first copy is being handled right now: wait for its outcome
                record = self._reread(record)
            if record.state != "failed" and not _stale(record, stale_before):
                break
            if self.store.claim(record.id, ("failed", "processing"), stale_before=stale_before,
                                wait=self.config.store_wait):
                return None
            # Another copy (or a replay) took it between our look and our claim: its outcome, then.
            record = self._reread(record)
            if time.monotonic() >= deadline:
                break
        if record.state == "failed":  # (taken and failed again by others all along): the MMSC tries later
            answered = RequestStatus.SERVER_ERROR
            answer = self.fault(env, env.version, answered, "the VASP could not process it")
            code = record.response_code
        elif record.state == "processing":
            # Still in hand after repeat_wait: its outcome is not known, and a 1000 now would be a
            # promise its worker may not keep (it may yet fail, or be dead): the MMSC would never
            # send it again. It tries later, and then hears the outcome (or, the claim gone
            # stale, has it handled here).
            answered = RequestStatus.SERVER_ERROR
            answer = self.fault(env, env.version, answered, "the VASP is still processing it")
            code = None
        elif record.state == "rejected":
            answered, code = record.response_code or 4000, record.response_code
            # As the first copy was refused: the same code, so the same faultcode (an MMSC may retry
            # a Server Fault and drop a Client one), and the handler's text, kept as "<code> <text>"
            # with the record.
            said = (record.error or "").removeprefix(f"{answered} ").strip()
            answer = self.fault(env, env.version, answered, said or "rejected earlier")
        else:
            answered = code = record.response_code or 1000
            answer = self._answer_again(env, code, getattr(record, "answer", None) or {})
        fields = _fields(msg, ctx, int(answered), started, "repeat")
        log.info("%s tid=%s from %s: repeated (first stored as #%d, %s%s): answered %s without calling the "
                 "handler, %sms", msg.ELEMENT, printable(env.transaction_id), ctx.peer, record.id, record.state,
                 _restamped(record, msg) or "", int(answered), fields["duration_ms"], extra={"mm7": fields})
        return answer, code

    def _reread(self, record: InboxRecord) -> InboxRecord:
        """`record` as the store has it now; `_Gone` when it was purged meanwhile."""
        now = self.store.inbox_get(record.id)
        if now is None:
            raise _Gone(f"its first copy's record (#{record.id}) was purged while it was looked at")
        return now

    def _answer_again(self, env: Envelope, code: int, said: Mapping[str, Any]) -> Response:
        """The answer a handled message's copy gets: the first one's code, and what it said beside
        it (`_kept_answer`): a ServiceCode the MMSC charges by is not to be lost with the first answer."""
        rsp_cls = m.RESPONSE_FOR[env.message.ELEMENT]
        plain = rsp_cls(status=m.Status(code))
        if not said:  # (a status only, as the first answer mostly was: the same template answers it)
            return self.plain_answer(env, plain)
        extra = {k: said[k] for k in ("service_code", "service_code_attributes") if k in said and (
            k in {f.name for f in dataclasses.fields(rsp_cls)})}
        try:
            return self.answer(env, rsp_cls(status=m.Status(code, said.get("text"), said.get("details")), **extra))
        except (EncodeError, TypeError, ValueError) as exc:  # (what the copy's version cannot carry)
            log.warning("the first answer's %s cannot be given again (%s): answered %d alone",
                        ", ".join(said), printable(exc), code)
            return self.plain_answer(env, plain)

    def replay(self, record_id: int | None = None, stale_after: float | None = None, *,
               states: tuple[str, ...] = ("failed", "processing"),
               stop: threading.Event | None = None, at_start: bool = False) -> list[tuple[int, str]]:
        """Run the handler again for failed messages, and for ones left "processing" longer than
        `stale_after` seconds (their worker died; by default the receiver's `stale_after`, after
        which a repeat takes one over too) or by a process of this machine that is gone (killed,
        crashed: at once); or for one message. → [(id, new state)]; a
        message asked for by its id that a live worker has in hand is not run: its state comes
        back ("processing"). A store locked elsewhere for longer than `store_wait` ends the
        replay there: that message comes back as "store busy", and the rest wait for the next
        one (an ERROR line says so); a store that cannot be written for another reason (a full
        disk, a read-only file) ends it as well, the message as "store error". `states`: those
        listed without an id (("processing",) and an infinite `stale_after`: only what a process of
        this machine that is gone left in hand, as serve takes at its start); `stop`, once set, begins
        no further message. `at_start` (serve's replay as it starts): each claim notes it
        (`store.IN_HAND_AT_START`), and a message whose process ended with such a claim (its
        handler crashed the process, or it was killed then) is not taken again but comes back as
        "not handed again": a start never hands a message to the handler twice."""
        if self.store is None:
            raise RuntimeError("replay needs a store")
        if stale_after is None:  # as a repeat takes one over: a receiver whose handler may take an hour says so
            stale_after = self.config.stale_after
        if not stale_after >= 0:  # (nan too) a negative age would take what a live worker claimed just now
            raise ValueError(f"stale_after must be 0 or more seconds, not {stale_after!r}")
        try:
            stale_before = utcnow() - timedelta(seconds=stale_after)
        except OverflowError:  # (inf: no claim is ever stale)
            stale_before = datetime.min.replace(tzinfo=timezone.utc)
        # Listed by id, each read when its turn comes: a day of failures can be more bodies than
        # the memory holds.
        listed = [(record_id, None)] if record_id is not None else [
            (i, state) for state in ("failed", "processing") if state in states for i in self._inbox_ids(state)]
        done = []
        for rec_id, listed_state in listed:
            if stop is not None and stop.is_set():
                break
            rec = self.store.inbox_get(rec_id)
            if rec is None or (listed_state is not None and rec.state != listed_state):
                continue  # purged, or taken by another replay (or a repeat) since it was listed
            if not rec.body:
                log.warning("#%d cannot be replayed: its body was purged", rec.id)
                done.append((rec.id, "body purged"))
                continue
            # Claimed only as listed (a failed one that someone handled meanwhile is not run again),
            # one in hand only once its claim is stale; one asked for by its id in any state.
            states = ("failed", "processing", "handled", "rejected") if record_id is not None else (listed_state,)
            # A claim of another live process of this machine (serve's worker, another replay) is
            # left to it whatever its age: it may be at that message right now.
            spare = {"spare_live": True} if self._takes(self.store.claim, "spare_live") else {}
            if at_start and self._takes(self.store.claim, "note"):
                if rec.state == "processing" and rec.error == IN_HAND_AT_START and holders.gone(
                        getattr(rec, "holder", None)):
                    # A start before handed it on and its process ended in the handler: taken again,
                    # a message that crashes the process would crash each start, a supervisor
                    # restarting serve in a loop. Left to `mm7bind replay` (and the MMSC's copies).
                    done.append((rec.id, "not handed again"))
                    continue
                spare["note"] = IN_HAND_AT_START
            try:
                claimed = self.store.claim(rec.id, states, stale_before=stale_before, wait=self.config.store_wait,
                                           **spare)
            except STORE_ERRORS as exc:  # (a vacuum, another program's transaction: not waited for without end)
                log.error("#%d not replayed: the store could not be written (%s: %s); nothing more replayed now",
                          rec.id, type(exc).__name__, exc)
                # Locked elsewhere, or something to fix (a full disk, a read-only file): said apart,
                # or the operator looks for a process holding the file.
                busy = isinstance(exc, StoreBusy) or "locked" in str(exc)
                done.append((rec.id, "store busy" if busy else "store error"))
                break
            if not claimed:
                if record_id is not None:  # someone else has it in hand right now: said, not run
                    now = self.store.inbox_get(rec.id)
                    done.append((rec.id, now.state if now is not None else "gone"))
                continue
            try:
                env = decode(rec.body, rec.content_type, limits=self.config.mime_limits,
                             xml_limits=self.config.xml_limits)
            except DecodeError as exc:  # (limits tightened since it came): failed again, not left in hand
                log.warning("#%d cannot be replayed: %s", rec.id, printable(exc))
                self._mark(rec, "failed", None, f"{type(exc).__name__}: {exc}")
                done.append((rec.id, "failed"))
                continue
            # (the headers it came with, but credentials; none from a store that does not keep them)
            headers = getattr(rec, "headers", None) or {}
            said_by_http(env, rec.content_type, headers, plain_body(rec.body, headers, self.config.max_body))
            try:
                self.dispatch(env, rec.body, rec.content_type, headers, rec.peer, time.monotonic(), record=rec)
            except BaseException:  # Ctrl-C in the handler: failed again, not in hand until the claim is stale
                now = self.store.inbox_get(rec.id)
                if now is not None and now.state == "processing":  # (no outcome recorded yet)
                    self._mark(rec, "failed", None, "replay interrupted")
                raise
            now = self.store.inbox_get(rec.id)  # (None: handled, and purged at once by a purge up to now)
            done.append((rec.id, now.state if now is not None else "gone"))
        return done

    def _inbox_ids(self, state: str) -> list[int]:
        """The ids of the stored messages in `state`, oldest first (a store of one's own without
        `inbox_ids`: from its records)."""
        ids = getattr(self.store, "inbox_ids", None)
        return ids(state) if ids is not None else [r.id for r in self.store.inbox(state=state)]

    # -- answers ----------------------------------------------------------------------------------

    def answer(self, env: Envelope, response: m.Message, tid: str | None = None) -> Response:
        """The response in the caller's version, with its MM7Version when that is valid there."""
        out = encode_reply(response, env, env.version or versions.latest(), tid or env.transaction_id or "",
                           self.config.profile)
        return Response(200, _headers(out), out.to_bytes())

    def plain_answer(self, env: Envelope, response: m.Message) -> Response:
        """`answer` for a response that is only a status (what most handlers give): its bytes are
        encoded once per kind, status and version, and then only the TransactionID is filled in."""
        tid = env.transaction_id
        if _has_markup(response.status) or not tid:
            return self.answer(env, response)  # (markup of its own, or no id to fill in: not the template's)
        # The version and the profile are keyed by identity: frozen dataclasses, whose hash reads every
        # field (some 3 us a message). A template holds them, so no other object can have their ids
        # while it is kept; an equal copy (a profile replaced by its like) has a template made anew.
        version, profile = env.version, self.config.profile
        key = (type(response), response.status.code, response.status.text, response.status.details, id(version),
               env.namespace, env.message.mm7_version if env.message is not None else None, id(profile))
        template = self._answers.get(key)
        if template is None or template[3] is not version or template[4] is not profile:
            marker = f"mm7bind-tid-{uuid.uuid4().hex}"
            first = self.answer(env, response, marker)
            head, sep, tail = first.body.partition(marker.encode("ascii"))
            if not sep or marker.encode("ascii") in tail:
                return self.answer(env, response)
            if len(self._answers) >= 256:  # keys come from handlers' statuses: keep the memo bounded
                self._answers.clear()
            template = self._answers[key] = (head, tail, first.headers, version, profile)
        head, tail, headers, _, _ = template
        if invalid_xml_char(tid) is not None:
            return self.answer(env, response)  # (which refuses it)
        text = escape_text(tid).encode(self.config.profile.xml.encoding, "xmlcharrefreplace")
        return Response(200, list(headers), head + text + tail)

    def fault(self, env: Envelope | None, version, status: int | m.Status, text: str | None = None,
              details: str | None = None, transaction_id: str | None = None, *,
              given: m.Status | None = None, namespace: str | None = None,
              mm7_version: str | None = None) -> Response:
        """A Fault with VASPErrorRsp: `status` a code (with `text`, `details`), or a Status made
        already (`refusal_status`); its faultcode the status's (`status.fault_code`). `given`: the
        handler's own Status (a Reject's), whose structured details (elements, attributes) go as
        they are: they were checked when it was made.
        `transaction_id`, `namespace`, `mm7_version`: what a request too broken to decode said
        (`what_it_said`)."""
        version = version or versions.latest()
        tid = (env.transaction_id if env else None) or transaction_id or ""
        status_obj = status if isinstance(status, m.Status) else fault_status(status, text, details)
        if given is not None and _has_markup(given):
            status_obj = m.Status(status_obj.code, status_obj.text, given.details, given.details_xml,
                                  dict(given.details_attributes))
        fault = Fault(code=fault_code(status_obj.code), string=status_obj.text,
                      detail=m.VASPErrorRsp(status=status_obj))
        return self._fault_response(fault, env, version, tid, namespace, mm7_version)

    def _count(self, operation: str | None, outcome: str, status: int | None, started: float | None,
               deviations=(), replay: bool = False) -> None:
        if self.metrics is None:
            return
        if replay:  # no request came: counted apart, or the MMSC's traffic would seem to grow
            self.metrics.replayed(operation, outcome, status)
        else:
            self.metrics.received(operation, outcome, status,
                                  None if started is None else time.monotonic() - started, deviations)

    def _mark(self, record: InboxRecord | None, state: str, code: int | None, error: str | None,
              answer: dict[str, Any] | None = None) -> None:
        if self.store is None or record is None:
            return
        if error is not None:  # (a lone surrogate, from bytes decoded with surrogateescape, SQLite cannot store)
            error = error.encode("utf-8", "backslashreplace").decode("utf-8")
        # (a store of one's own written before answers were kept is not offered one)
        more = {"answer": answer} if answer and self._takes(self.store.mark, "answer") else {}
        try:
            self.store.mark(record.id, state, code, error, wait=self.config.store_wait, **more)
        except STORE_ERRORS as exc:
            # The handler's outcome is the answer all the same: the message is stored, and was
            # handled (or refused, or failed). Answering 3000 for a handled message would only
            # have it sent again. (SqliteStore keeps an outcome it cannot write now, and raises
            # nothing.) The record stays "processing": a repeat once it is stale, or `replay`,
            # takes it up again.
            log.error("#%d %s, but the store could not record it (%s: %s): it stays 'processing'",
                      record.id, state, type(exc).__name__, exc)

    @staticmethod
    def _log(msg: m.Message, ctx: Context, code: int, started: float, outcome: str) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        info = _fields(msg, ctx, code, started, outcome)
        log.info("%(operation)s tid=%(tid)s from %(peer)s: %(outcome)s %(status)s (%(deviations)d "
                 "deviations) %(duration_ms)sms", {**info, "tid": printable(ctx.transaction_id)}, extra={"mm7": info})


def said_by_http(env: Envelope, content_type: str | None, headers: Mapping[str, str], plain: Deviation | None,
                  strict: bool = False) -> None:
    """What the request's HTTP headers said wrong, put before its body's deviations: a body sent
    plain under a Content-Encoding (`plain`), a SOAPAction other than MM7's (reported, never
    refused: MM7 is dispatched on the body), no Content-Type (decode reads such a body, as from a
    file; over HTTP, a slip: refused in `strict` mode). A replay says them again from the stored
    headers (none kept, as in a record from before headers were: nothing said of them)."""
    action = soap_action_deviation(header_value(headers, "soapaction"), env) if headers else None
    env.deviations[:0] = [d for d in (plain, action) if d is not None]
    missing = content_type_deviation(content_type)
    if missing is not None:
        if strict:
            raise ValidationError(f"1 deviation(s): {missing}", deviations=[missing])
        env.deviations.insert(0, missing)


def plain_body(body: bytes, headers: Mapping[str, str], limit: int) -> Deviation | None:
    """A stored body's `content-encoding` deviation: its headers keep a Content-Encoding only when
    it was read as it came (an inflated body is stored without it)."""
    coding = header_value(headers, "content-encoding")
    if coding is None:
        return None
    try:
        return request_body(body, coding, limit)[1]
    except DecodeError:  # (limits tightened since: the replay reads it all the same)
        return None


def _tid(transaction_id: str | None) -> str:
    """A refusal line's TransactionID, when the request's could be read: what the MMSC's own log
    names it by."""
    return f" tid={printable(transaction_id)}" if transaction_id else ""


def _fields(msg: m.Message, ctx: Context, code: int | None, started: float, outcome: str) -> dict[str, Any]:
    """A request's outcome as the `mm7` attribute of its log record (for structured logging)."""
    return {
        "operation": msg.ELEMENT, "transaction_id": ctx.transaction_id,
        "message_id": getattr(msg, "message_id", None), "status": code, "outcome": outcome,
        "peer": ctx.peer, "deviations": len(ctx.deviations), "version": ctx.version.name if ctx.version else None,
        "duration_ms": round((time.monotonic() - started) * 1000, 1), "replay": ctx.replay,
    }


def _kept_answer(response: m.Message) -> dict[str, Any]:
    """What `response` says beside its status code that the answers to the MMSC's copies of its
    message must say too: a DeliverRsp's ServiceCode and its attributes, the status text and
    details a handler gave (text: markup is not kept)."""
    said: dict[str, Any] = {}
    status = response.status
    if status.text and status.text != m.Status(status.code).text:  # (the code's own: said again anyway)
        said["text"] = status.text
    if status.details and status.details_xml is None:
        said["details"] = status.details
    if getattr(response, "service_code", None):
        said["service_code"] = response.service_code
    if getattr(response, "service_code_attributes", None):
        said["service_code_attributes"] = dict(response.service_code_attributes)
    return said


def response_for(msg: m.Message, outcome: Any) -> m.Message:
    """The response a handler's outcome stands for: the response itself, or a status for one."""
    rsp_cls = m.RESPONSE_FOR[msg.ELEMENT]
    if isinstance(outcome, rsp_cls):
        return outcome
    if isinstance(outcome, m.Message):
        raise TypeError(f"a handler for {msg.ELEMENT} must answer {rsp_cls.ELEMENT}, not {outcome.ELEMENT}")
    try:
        # (a bool is refused there: a handler answering True sent status code 1)
        status = outcome if isinstance(outcome, m.Status) else m.Status(1000 if outcome is None else outcome)
    except (TypeError, ValueError):
        raise TypeError(f"a handler for {msg.ELEMENT} answers a status code, a Status, {rsp_cls.ELEMENT} or None, "
                        f"not {outcome!r}") from None
    return rsp_cls(status=status)


_TID_IN_BYTES = re.compile(rb"<(?:[\w.-]{1,64}:)?TransactionID\b[^>]{0,512}>\s*([^<&\s][^<&]{0,199}?)\s*</")


# A quoted MM7 namespace (as the first one a message names is its body's or its header's).
_NS_IN_BYTES = re.compile(rb"""["']\s*([^"'<>&\s]{0,200}?23\.140/schema/[^"'<>&]{1,64}?)\s*["']""", re.IGNORECASE)


_MM7_VERSION_IN_BYTES = re.compile(rb"<(?:[\w.-]{1,64}:)?MM7Version\b[^>]{0,512}>\s*(\d{1,4}\.\d{1,4}\.\d{1,4})\s*</")


class Said(NamedTuple):
    """What a request too broken to decode says in its first bytes (`what_it_said`)."""

    version: versions.Version | None
    transaction_id: str | None
    namespace: str | None = None  # its MM7 namespace as written, when it is not `version`'s
    mm7_version: str | None = None  # the MM7Version it shows (with a namespace: `version` found)


def what_it_said(body: bytes, limit: int = 65536) -> Said:
    """The schema version, TransactionID, namespace and MM7Version a request too broken to decode
    names in its first bytes, found without parsing: its Fault then goes in the sender's namespace
    and MM7Version (`encode_reply`), and echoes the TransactionID its sender needs to tie the
    refusal to the request."""
    head = bytes(body[:limit])
    found = _TID_IN_BYTES.search(head)
    tid = None
    if found:
        text = found.group(1).decode("utf-8", "replace")
        tid = None if invalid_xml_char(text) else text
    version = versions.sniff(head)
    namespace = None
    if version is not None and (named := _NS_IN_BYTES.search(head)):
        written = re.sub(r"\s+", "", named.group(1).decode("ascii", "replace"))
        # (one the parser refused, "http:/\\/…", cannot be written in the Fault either)
        if (written != version.namespace and written.isascii() and _answered_in(written, version)
                and declaration_readable("mm7", written)):
            namespace = written
    shown = _MM7_VERSION_IN_BYTES.search(head) if version is not None else None
    return Said(version, tid, namespace, shown.group(1).decode("ascii") if shown else None)


def _answered_in(namespace: str, version: versions.Version) -> bool:
    """Whether an answer in `version` may be written in `namespace`, a caller's: a spelling of it,
    or a version we do not know that we read with it."""
    spelled = versions.by_spelling(namespace)
    return spelled is version if spelled is not None else versions.closest_for_namespace(namespace) is version


def soap_refusal(deviations) -> Fault | None:
    """The SOAP 1.1 Fault a request gets whose envelope SOAP 1.1 has refused, whatever its MM7:
    a SOAP 1.2 envelope (VersionMismatch), a header entry other than TransactionID marked
    mustUnderstand for us (MustUnderstand: processing the message without obeying it is what the
    sender forbade). Without a detail, which SOAP 1.1 keeps for errors in processing the Body."""
    names = []
    for d in deviations:
        if d.code == "soap-version":
            return Fault(code="VersionMismatch", string="SOAP 1.2 envelope: this MM7 receiver speaks SOAP 1.1 "
                                                        "(http://schemas.xmlsoap.org/soap/envelope/), as TS 23.140 does")
        if d.code == "must-understand":
            names.append(d.path.rpartition("/")[2])
    if names:
        return Fault(code="MustUnderstand", string=f"header entr{'ies' if len(names) > 1 else 'y'} "
                     f"{', '.join(dict.fromkeys(names))} marked mustUnderstand not understood (an MM7 receiver "
                     "understands TransactionID alone)")
    return None


def _has_markup(status: m.Status) -> bool:
    """Whether a Status's Details hold elements or attributes, not text alone."""
    return status.details_xml is not None or bool(status.details_attributes)


def fault_status(status: int, text: str | None = None, details: str | None = None) -> m.Status:
    """The Status a Fault carries: the code's own text when none is given. Texts often quote what
    the peer sent (an error message, a handler's Reject): cut to 500 characters, and characters
    XML cannot carry written as escapes, so the Fault itself can always be sent."""
    text = printable_in_xml((text or lookup(int(status)).text)[:500])
    return m.Status(int(status), text, printable_in_xml(details) if details else details)


def refusal_status(exc: DecodeError) -> m.Status:
    """The Status a request refused for `exc` is answered with, by the receiver and the simulator
    alike: its code and text and, for a strict refusal, the validator's own words (libxml2's,
    which the text rewords) in Details."""
    return fault_status(exc.status_code, str(exc), getattr(exc, "details", None))


def encode_reply(body: m.Message | Fault, env: Envelope | None, version: versions.Version, transaction_id: str,
                 profile: Profile, namespace: str | None = None, mm7_version: str | None = None) -> HttpMessage:
    """An answer (a response, or a Fault with an error response) in `version` as `profile` writes
    it. Its MM7Version, unless the answer sets one, is the caller's when that is valid in `version`
    and of no later release than its namespace (6.3.0 in a REL-5 one: `versions.later_release`),
    else `version`'s own default — never the profile's `mm7_version`, which is what we send as a
    client (a China Mobile profile's 6.3.0 is no answer to a Rel-5 caller, nor even valid in
    REL-5-MM7-1-5). Nor does the profile's `max_message_size` apply: that is the MMSC's limit on
    the messages we send, and an answer echoes the caller's TransactionID, whatever its length.
    Its namespace is the caller's as written (`Envelope.namespace`: a trailing slash, other case,
    a version we do not know), the content `version`'s: a peer may compare namespaces as strings.
    A caller in a version we do not know gets its own MM7Version back (any x.y.z): valid in its
    schema, which is not `version`'s. `namespace`, `mm7_version`: the caller's, for a request too
    broken to decode (`what_it_said`); that MM7Version is answered with only where `version`'s
    schema takes it.
    """
    if profile.max_message_size is not None or profile.namespace is not None:
        # (nor the profile's namespace: an answer goes in the caller's, as written)
        profile = profile.replace(max_message_size=None, namespace=None)
    profile = refusal_profile(profile, body)
    if env is not None:
        namespace = env.namespace if env.version is version else None
    elif namespace is not None and not _answered_in(namespace, version):
        namespace = None
    target = body.detail if isinstance(body, Fault) else body
    if target is None or target.mm7_version is not None:
        return encode(body, transaction_id=transaction_id, version=version, profile=profile, namespace=namespace)
    callers = (env.message.mm7_version if env.message is not None else None) if env is not None else mm7_version
    if versions.later_release(callers, version, namespace) is not None:
        # (6.3.0 in a REL-5 namespace: an early Rel-5 schema's x.y.z pattern takes it, but no Rel-5
        # schema lists it, and a reader that checks the two, ours included, refuses it)
        callers = None
    if callers and callers != version.default_mm7_version:
        try:
            return encode(_with_version(body, callers), transaction_id=transaction_id, version=version, profile=profile,
                          namespace=namespace)
        except EncodeError:
            pass  # the caller's MM7Version is not valid in its own namespace: the version's default
    out = encode(_with_version(body, version.default_mm7_version), transaction_id=transaction_id, version=version,
                 profile=profile, namespace=namespace)
    if (env is not None and namespace is not None and callers and _X_Y_Z.fullmatch(callers)
            and versions.by_spelling(namespace) is None and out.content is None):
        out = _mm7_version_written(out, version.default_mm7_version, callers, profile)
    return out


def refusal_profile(profile: Profile, body: m.Message | Fault) -> Profile:
    """The profile a Fault is answered with: `dropping_unsupported`'s. A refusal must go out:
    failing to write it would turn it into a 3000 the MMSC sends the refused message again for.
    Any other answer: `profile`."""
    return dropping_unsupported(profile) if isinstance(body, Fault) else profile


def dropping_unsupported(profile: Profile) -> Profile:
    """`profile` dropping (with a warning, as `drop_unsupported` does) what a message holds that
    its schema has no place for: Status Details, in a schema of one's own without them."""
    if profile.xml.drop_unsupported:
        return profile
    return profile.replace(xml=dataclasses.replace(profile.xml, drop_unsupported=True))


_X_Y_Z = re.compile(r"\d{1,4}\.\d{1,4}\.\d{1,4}")


def _mm7_version_written(out: HttpMessage, ours: str, callers: str, profile: Profile) -> HttpMessage:
    """`out` (checked with `ours`, an MM7Version of its schema) carrying `callers` in its place:
    the generated classes take no value their schema does not list, and the caller's schema is
    another. As it was when the MM7Version is not found exactly once."""
    text = out.to_bytes().decode(profile.xml.encoding)
    pattern = re.compile(rf"(<(?:[\w.-]+:)?MM7Version>){re.escape(ours)}(</(?:[\w.-]+:)?MM7Version>)")
    if len(pattern.findall(text)) != 1:
        return out
    data = pattern.sub(lambda found: found.group(1) + callers + found.group(2), text).encode(profile.xml.encoding)
    return HttpMessage(out.content_type, Body([data]), dict(out.headers))


def _with_version(body: m.Message | Fault, mm7_version: str) -> m.Message | Fault:
    if isinstance(body, Fault):
        return dataclasses.replace(body, detail=dataclasses.replace(body.detail, mm7_version=mm7_version))
    return dataclasses.replace(body, mm7_version=mm7_version)


def _headers(out) -> list[tuple[str, str]]:
    return [("Content-Type", out.content_type)]



_CHECKED = ("authorization",)  # the request header the receiver's auth reads


def _stale(record: InboxRecord, stale_before) -> bool:
    """Whether `record` is in hand since before `stale_before`, or by a process known to be gone:
    its worker died."""
    return record.state == "processing" and (
        (record.claimed_at or record.received_at) < stale_before or holders.gone(getattr(record, "holder", None)))


def _address(addr) -> str | None:
    return str(addr) if addr is not None else None


def _text(value) -> str | None:
    return None if value is None else str(value.value if hasattr(value, "value") else value)


def _keys(msg: m.Message, transaction_id: str | None,
          sent: SentRecord | None = None) -> tuple[str | None, str | None]:
    """Duplicate keys: the TransactionID with what the message says (`_identity`), and for
    reports the message, recipient and status (a Deferred report followed by a Retrieved one is
    two reports, not a repeat), and the send of ours it is about: two of ours given one MessageID
    (by two MMSCs, or one whose counter started again) to one recipient get a report each,
    neither taken for a repeat of the other. A DeliverReq without a TransactionID (an MMSC that
    sends none) is keyed by what it says, its TimeStamp included (`_unnamed_key`)."""
    if transaction_id:
        tid_key = f"{msg.ELEMENT}|{transaction_id}|{_identity(msg)}"
    else:
        tid_key = _unnamed_key(msg)
    report_key = None
    if isinstance(msg, (m.DeliveryReportReq, m.ReadReplyReq)) and msg.message_id:
        report_key = "|".join([msg.ELEMENT, msg.message_id, _address(msg.recipient) or "", _text(msg.mm_status) or ""])
        if sent is not None:  # (unmatched reports keep the key they always had)
            report_key += f"|{sent.transaction_id}"
    return tid_key, report_key


# Fields naming the way a message came rather than the message: an MMSC's copy of it may change
# them (a cluster's other node, the container's Content-ID made anew, another version tried), or
# stamp it anew (TimeStamp, a report's Date: an MMSC building each attempt again may write the
# attempt's time). Two messages saying the same under one TransactionID are then one message: a
# repeat whose TimeStamp differs is logged as such (`_restamped`).
_STAMPS = frozenset({"time_stamp", "date"})
# What the releases before digested (the stamps in): their records' keys, looked up after an upgrade.
_NOT_IDENTITY_BEFORE = frozenset({"relay_server_id", "content_ref", "mm7_version", "content"})
_NOT_IDENTITY = _NOT_IDENTITY_BEFORE | _STAMPS


def _identity(msg: m.Message, left_out: frozenset[str] = _NOT_IDENTITY, *, as_read: bool = False) -> str:
    """A digest of what a message says: its fields as read and its parts' bytes, not the MIME
    around them (an MMSC's copy often has a new boundary). A TransactionID alone does not tell
    messages apart: MMSCs sharing one counter, a counter started over, a constant placeholder
    ("0000") would have the second message answered as a repeat of the first, and lost. The SMIL
    is left out: a sender making one for each copy names the parts by Content-IDs made anew. A
    text part counts by its text as its label reads it (line ends made alike): a copy written in
    another charset, or with CRLF for LF, has other bytes and says the same; text its label does
    not read counts by its bytes (`_part_identity`). `as_read`: each text by its `text_value`, as
    the release before digested it (`_text_key_before`)."""
    said = {name: getattr(msg, name) for name in _identity_fields(type(msg), left_out)}
    content = getattr(msg, "content", None)
    parts = [_part_identity(part, as_read) for part in content.parts
             if not (part.content_type or "").lower().startswith("application/smil")] if content is not None else []
    text = _IDENTITY_JSON.encode([to_jsonable(said), parts])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _part_identity(part, as_read: bool = False) -> str:
    """A part's share of `_identity`: the digest of its bytes, or of a text part's text as its
    label reads it (`_label_text`; GBK labelled ISO-8859-1 as the Latin letters it reads as), or of
    its bytes when the label does not read it (GBK labelled UTF-8). Never what `text_value` makes of
    mislabelled text: that is the charset detection's guess, which a later release may guess
    better, and a copy the MMSC sends again across such an upgrade was a new message, handled
    twice. `as_read`: by `text_value`, as the releases before (`Receiver._stored_under_text_read`)."""
    if part.kind != "text":
        return part.blob.sha256()
    text = part.text_value if as_read else _label_text(part)
    if text is None:
        return part.blob.sha256()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "text:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _label_text(part) -> str | None:
    """A text part's text as its charset label alone reads it (UTF-8 without one; GB2312 as
    GB18030, as `text_value`; UTF-16 without a byte order mark big-endian; a mark is no
    character), without the charset detection `text_value` falls back on: None for bytes the
    label does not read, or a label unknown."""
    codec = charset_codec(part.charset)[0] if part.charset else "utf-8"
    data = part.data
    if codec == "utf-16" and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16-be"  # (RFC 2781; Python's own reads the machine's order)
    try:
        return data.decode(codec).removeprefix("\ufeff") if codec else None
    except (UnicodeDecodeError, LookupError):
        return None


# What `_identity` writes its digest's text with: made once (json.dumps with these arguments makes
# an encoder per call), the same text. (Changing that text would make copies of messages taken
# before an upgrade new messages.) No check for circular references, which changes no text: what
# it encodes is built anew by `to_jsonable`, which would recurse without end on a cycle before it,
# and the check (a dict of the containers met) is some 1 us of its 8 on a DeliverReq.
_IDENTITY_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str, check_circular=False)
_IDENTITY_FIELDS: dict[tuple[type, frozenset], tuple[str, ...]] = {}


def _identity_fields(cls: type, left_out: frozenset[str] = _NOT_IDENTITY) -> tuple[str, ...]:
    """The fields of `cls` that `_identity` reads, listed once per message class."""
    names = _IDENTITY_FIELDS.get((cls, left_out))
    if names is None:
        names = _IDENTITY_FIELDS[(cls, left_out)] = tuple(
            f.name for f in dataclasses.fields(cls) if f.name not in left_out)
    return names


def _unnamed_key(msg: m.Message, as_read: bool = False) -> str | None:
    """The duplicate key of a DeliverReq without a TransactionID: what it says, and when it says
    it was sent, to the second. A copy of one (an MMSC sending no TransactionID retries too) says
    the same; two messages a subscriber sent alike are stamped apart. None without a TimeStamp:
    nothing then tells a copy from a second message, and each is handled. `as_read`: the key the
    release before gave it (`_identity(as_read=True)`, `Receiver._stored_under_text_read`)."""
    stamp = getattr(msg, "time_stamp", None) if isinstance(msg, m.DeliverReq) else None
    if not isinstance(stamp, datetime):
        return None
    if stamp.tzinfo is not None:  # (one instant however it is written: Z, +08:00)
        try:
            stamp = stamp.astimezone(timezone.utc)
        except OverflowError:  # (9999-12-31T23:59:59-14:00 is in year 10000 in UTC: kept as written)
            pass
    said = f"{_identity(msg, as_read=as_read)}|{stamp.replace(microsecond=0).isoformat()}"
    return f"{msg.ELEMENT}||{hashlib.sha256(said.encode()).hexdigest()[:32]}"


_STAMP_IN_BYTES = re.compile(rb"<(?:[\w.-]{1,64}:)?(?:TimeStamp|Date)>\s*([^<\s]{1,64})\s*</")


def _restamped(first: InboxRecord, msg: m.Message) -> str | None:
    """What to say of a repeat whose TimeStamp (a report's Date) is not its first copy's: either
    the MMSC stamped its copy anew, or a second message saying the same came under the same
    TransactionID (a constant one), taken for a copy. None when they agree, or either has none."""
    now = next((getattr(msg, name) for name in _STAMPS if getattr(msg, name, None) is not None), None)
    found = _STAMP_IN_BYTES.search(bytes(first.body[:65536])) if isinstance(now, datetime) and first.body else None
    if found is None:
        return None
    try:
        then = datetime.fromisoformat(found.group(1).decode("ascii"))
        if then == now:
            return None
    except (ValueError, TypeError):  # (written otherwise, or one naive and one not: not compared)
        return None
    return (f"; its TimeStamp {then.isoformat()} is not this copy's, {now.isoformat()}: a copy the MMSC "
            "stamped anew, or another message saying the same under the same TransactionID")
