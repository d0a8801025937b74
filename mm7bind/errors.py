"""Exception hierarchy and the deviation record shared by every decoder.

Decoding errors carry the MM7 status code a receiver should answer with, so the server can turn any
of them into the right SOAP Fault without a table of its own.
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (errors is imported by everything: no import of them at run time)
    from .envelope import Fault
    from .messages import Status


@dataclass(frozen=True, slots=True)
class Deviation:
    """Something a peer sent that the schema or the protocol does not allow, and that we tolerated.

    `code` is a stable machine-readable key (listed in README), `path` locates it
    (e.g. ``/Envelope/Body/DeliverReq/Sender``), `message` says what was wrong and what we did.
    `details`: the validator's own words, where a `schema` deviation's message rewords them.
    """

    code: str
    path: str
    message: str
    details: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"[{self.code}] {self.path}: {self.message}" if self.path else f"[{self.code}] {self.message}"


# Reported but not refused, strict mode included: no schema violation, and what real peers do.
NOT_REFUSED = frozenset({"mm7version-pairing", "extension-element", "extension-attribute", "smil-dangling",
                         "smil-empty"})


def refusable(deviations: list[Deviation]) -> list[Deviation]:
    """The deviations strict mode refuses a message for: all but `NOT_REFUSED`'s."""
    return [d for d in deviations if d.code not in NOT_REFUSED]


class MM7Error(Exception):
    """Base class of every error mm7bind raises on purpose."""


class DecodeError(MM7Error):
    """Input that cannot be read as an MM7 message. `status_code` is what to answer with."""

    status_code = 2007  # Message format corrupt
    code = "decode-error"

    def __init__(self, message: str, *, deviations: list[Deviation] | tuple[Deviation, ...] = ()):
        super().__init__(message)
        self.deviations = list(deviations)


class XMLSecurityError(DecodeError):
    """DOCTYPE, entity declarations or other constructs a SOAP message must not carry."""

    code = "xml-forbidden"


class MalformedXMLError(DecodeError):
    """Not well-formed XML, or text in an undecodable character set."""

    code = "xml-malformed"


class LimitExceededError(DecodeError):
    """Input larger, deeper or with more parts than the configured limits."""

    code = "limit-exceeded"


class NotSOAPError(DecodeError):
    """Well-formed XML that is not a SOAP 1.1 envelope with a body element. `root`: the document's
    root element's local name where that is what is not SOAP (a SMIL part: "smil"), else None."""

    code = "not-soap"
    root: str | None = None


class UnknownNamespaceError(DecodeError):
    """The body element is in a namespace that is not an MM7 namespace."""

    status_code = 4002  # Unsupported version
    code = "unknown-namespace"


class UnsupportedOperationError(DecodeError):
    """The body element is not an MM7 operation we know (or not one of this version)."""

    status_code = 4003  # Unsupported operation
    code = "unsupported-operation"


class MimeError(DecodeError):
    """A body that cannot be read as MIME (no boundary, unterminated, bad base64, ...)."""

    code = "mime-error"


class UnsupportedEncodingError(DecodeError):
    """A request body in a Content-Encoding we do not undo (HTTP's 415 Unsupported Media Type)."""

    code = "unsupported-encoding"


class ValidationError(DecodeError):
    """The message breaks its schema (strict mode), or misses what we cannot do without."""

    status_code = 4004  # Validation error
    code = "validation-error"
    # The message as the tolerant reading made it, where a strict reader refused it after reading
    # it whole (its type and version known): None where the refusal came before.
    envelope = None

    @classmethod
    def refusing(cls, deviations: list[Deviation], what: str = "deviation(s)", envelope=None) -> ValidationError:  # noqa: ANN001
        """A strict reader's refusal of `deviations`: 4004, or 4002 (Unsupported version) when one
        of them is about the MM7 version (`about_the_version`), as TS 23.140 has a status for it."""
        err = cls(f"{len(deviations)} {what}: " + "; ".join(map(str, deviations[:5])), deviations=deviations)
        err.envelope = envelope
        if any(about_the_version(d) for d in deviations):
            err.status_code = 4002
        return err

    @property
    def details(self) -> str | None:
        """The validator's own words for the first five deviations that have them (libxml2's,
        namespaces and all), for a refusal's Details; None when none has."""
        said = [f"{d.path}: {d.details}" for d in self.deviations[:5] if d.details]
        return "; ".join(said)[:2000] if said else None


def about_the_version(deviation: Deviation) -> bool:
    """Whether a deviation says the request is in an MM7 version the reader does not have: a
    namespace no schema has (`unknown-version`), an MM7Version its namespace does not list
    (a `schema` deviation on its value) or of a later release than it (`mm7version-namespace`).
    An MM7Version misplaced, renamed or with an attribute is not: its value is a version we have."""
    return deviation.code in ("unknown-version", "mm7version-namespace") or (
        deviation.code == "schema" and deviation.path.endswith("/MM7Version"))


class EncodeError(MM7Error, ValueError):
    """A message that cannot be written as valid MM7 for the chosen version."""


class UnsupportedFieldError(EncodeError):
    """A field set on the message does not exist in the target schema version."""

    def __init__(self, message: str, *, field: str, version: str):
        super().__init__(message)
        self.field = field
        self.version = version


class MessageTooLargeError(EncodeError):
    """The encoded message exceeds the profile's maximum size; nothing was sent."""

    def __init__(self, size: int, limit: int):
        # (named, since the limit may be the dialect's, which the user never wrote down)
        super().__init__(f"the message is {size} bytes, more than the {limit} bytes allowed "
                         "(max_message_size)")
        self.size, self.limit = size, limit


class InvalidURLError(MM7Error, ValueError):
    """A URL no request can go to — no http(s) scheme, no host, a host no HTTP library or DNS takes
    ("a..b", "xn--a", a label past 63 characters), a port outside 1-65535 — refused where it is
    given (a ClientConfig, probe, the simulator's VASP, a forward target), not at the first send.
    Its words name the URL with its password masked. A ValueError too, as it was before it had a name."""


# ---------------------------------------------------------------------------------------------
# Sending (client) errors


class SendError(MM7Error):
    """A request that did not get a usable MM7 answer. `attempts` says how often it was tried;
    `retry_after`, the seconds the last answer's Retry-After asked for (None without one);
    `earlier_unanswered`, whether an attempt before the last got no answer (the MMSC may have
    taken that one, whatever the last one met: `mm7bind.arrival`); `answered_before`, whether an
    attempt before the last got an answer from an MMSC (a Fault, a status, an HTTP error but a
    gateway's 502, 503 or 504: `arrival.none_answered`); `partly_sent`, whether the last
    attempt ended before its request went out whole (a timeout, a connection lost, a cancellation
    or Ctrl-C while it was being written: the MMSC cannot have taken it). `hint`: what to look at, in our words (a refused
    connection: "nothing listens at host:port ..."), said right after what happened, before
    `detail`, the HTTP library's own words (the cause itself is `__cause__`)."""

    earlier_unanswered = False
    answered_before = False
    partly_sent = False
    hint: str | None = None
    detail: str | None = None
    notes: tuple[str, ...] = ()

    def __init__(self, message: str, *, transaction_id: str | None = None, url: str | None = None, attempts: int = 1,
                 retry_after: float | None = None, hint: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.transaction_id = transaction_id
        self.url = url
        self.attempts = attempts
        self.retry_after = retry_after
        self.hint = hint
        self.detail = detail

    def __str__(self) -> str:
        return self.said()

    def __repr__(self) -> str:  # (the whole words, as str: args hold only what happened)
        return f"{type(self).__name__}({self.said()!r})"

    def said(self, hint: str | None = None) -> str:
        """The error in words: what happened, `hint` (what to look at), the underlying library's
        `detail` in brackets, then `notes` (whether the MMSC may have it). `hint`: another in place
        of the error's own — a program's, naming its own options — so that it is said once."""
        hint = self.hint if hint is None else hint
        text = str(self.args[0]) if self.args else ""
        text += f": {hint}" if hint else ""
        text += f" ({self.detail})" if self.detail else ""
        return text + "".join(f" ({note})" for note in self.notes)


class TransportError(SendError):
    """The HTTP exchange itself failed."""


class ConnectError(TransportError):
    """No connection could be made (refused, unreachable, TLS handshake failed, DNS)."""


class RequestTimeout(TransportError):
    """No whole answer in time after the request went out (the MMSC may have it); its words name
    the bound that ran out and its setting. A connection not made in time is a `ConnectError`."""


class HTTPStatusError(SendError):
    """The MMSC answered with an HTTP error and no SOAP Fault."""

    def __init__(self, message: str, *, status: int, body: bytes = b"", headers: dict | None = None, **kw):
        super().__init__(message, **kw)
        self.status = status
        self.body = body
        self.headers = headers or {}


class FaultError(SendError):
    """The MMSC answered with a SOAP Fault (with HTTP 500 or 200); `fault.detail` is its RSErrorRsp.
    `deviations`: how the answer departed from the schema, as a `Result` lists them (a Fault read
    from a non-standard shape says so there)."""

    def __init__(self, message: str, *, fault: Fault, http_status: int,
                 deviations: list[Deviation] | tuple[Deviation, ...] = (), **kw):
        super().__init__(message, **kw)
        self.fault = fault
        self.http_status = http_status
        self.deviations = list(deviations)

    @property
    def status(self) -> Status | None:
        """The Fault's status: from its detail, else read from its faultstring."""
        return self.fault.status


class ProtocolError(SendError):
    """The answer could not be read as the MM7 response we asked for. `body` and `http_status`:
    the answer's bytes and HTTP status where one came (an HTML page with HTTP 200, XML cut short,
    another operation's response), b"" and None where none did (an answer past its size bound)."""

    def __init__(self, message: str, *, body: bytes = b"", http_status: int | None = None, **kw):
        super().__init__(message, **kw)
        self.body = body
        self.http_status = http_status


class SendInterrupted(SendError):
    """What a send cancelled (asyncio) or interrupted (Ctrl-C) is recorded and logged as, once its
    request began to go out, or an earlier attempt got no answer: the MMSC may have it, unless
    `partly_sent` (interrupted before its last byte was written, and no earlier attempt may have
    arrived). The caller gets the cancellation itself."""


class StoreClosed(sqlite3.ProgrammingError):
    """The store was closed (`close()`): nothing is read or written through it any more. A store
    error as those its users handle already (`errors.STORE_ERRORS`): a worker's round still at it
    when the store was closed ends as on a store it cannot write, nothing reopened behind the close
    (a `Periodic` worker ends with it)."""

    def __init__(self, path: str = "") -> None:
        super().__init__(f"the store{' ' + path if path else ''} was closed: nothing more is read or written "
                         "through it")


# What a store in trouble raises — a full disk, a file locked by another program, a broken or
# read-only file: conditions an operator fixes, reported in one line rather than as a bug's traceback.
STORE_ERRORS = (sqlite3.Error, OSError)


def disk_full(exc: BaseException) -> bool:
    """Whether a store error is its disk being full: said as such, not as a store that "cannot be used"."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC
