"""The VASP client: Submit, Cancel, Replace, extendedCancel, extendedReplace to one or more MMSCs.

`ClientCore` holds every decision (what to send, what an answer means, whether and when to try
again, where next) and does no I/O. `Client` carries its bytes over zeep's `Transport` (a requests
session: keep-alive pool, TLS, Basic/Digest auth); `AsyncClient` does the same over the httpx
client of zeep's `AsyncTransport`. Both always set connect and read timeouts and read at most
`max_answer_bytes` of an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import io
import itertools
import logging
import math
import random
import re
import socket
import ssl
import threading
import time
import uuid
import zlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from . import __version__
from . import messages as m
from . import tlsrefusal, versions
from .codec import HttpMessage, decode, encode
from .arrival import EARLIER_UNANSWERED, MAY_HAVE_ARRIVED, NOT_TAKEN, PARTLY_SENT, arrival, may_have_arrived
from .arrival import no_mmsc_answered
from .auth import QOPS, DigestAnswer, auth_schemes, digest_algorithms, digest_challenges
from .content import Content
from .deadline import MAX_TIMEOUT, DeadlinePassed, DeadlineReader
from .display import excerpt, html_page, is_secret_header, printable, repr_showing_no_secret_header, shown_http, shown_url
from .envelope import Fault, transaction_id_text
from .errors import (
    STORE_ERRORS,
    ConnectError,
    DecodeError,
    Deviation,
    FaultError,
    HTTPStatusError,
    InvalidURLError,
    MalformedXMLError,
    ProtocolError,
    RequestTimeout,
    SendError,
    SendInterrupted,
    TransportError,
)
from .hints import refused_choice, suggest_keywords
from .incident import Incident, takes_shared_work
from .mime import header_value
from .profiles import STANDARD, Profile
from .retry import RateLimiter, RetryPolicy, SharedRateLimiter, Turn, parse_retry_after
from .sendonce import attempt_time, upload_time
from .status import fault_code
from .store import SentRecord

log = logging.getLogger("mm7bind.client")

AUTH_MODES = ("basic", "digest", "auto")


def is_http_url(url: object) -> bool:
    """Whether `url` is an http(s) URL with a host (what an MMSC, a forward target or a
    simulator address must be; anything else would fail only when first used)."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # (an unbalanced [ in the host, a host NFKC makes another: no URL, not a crash)
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and _bad_authority(parts.netloc) is None
            and _bad_port(parts.netloc) is None and _bad_host(parts.netloc) is None)


def _bad_authority(netloc: str) -> str | None:
    """What is wrong with a URL's host-and-port that urlsplit takes but no connection can go to
    ("[::1]x:80": text after the bracket, which urlsplit drops; "a[::1]", "[::1]]"; a space), else None."""
    hostport = netloc.rpartition("@")[2]
    if found := re.search(r"[\s\x00-\x1f\x7f]", hostport):
        return f"its host holds {found[0]!r}"
    if "[" not in hostport and "]" not in hostport:
        return None
    written = re.fullmatch(r"([^\[\]]*)\[([^\[\]]*)\]([^\[\]]*)", hostport)
    if written is None:
        return f"its host {hostport!r} has brackets other than one [ ] around an IPv6 address"
    before, _, after = written.groups()
    if before:
        return f"{before!r} before the [ of its host"
    if after and not after.startswith(":"):
        return f"{after!r} after the ] of its host (only :port may follow)"
    return None


def _bad_host(netloc: str) -> str | None:
    """What is wrong with a URL's host name that urlsplit takes but an HTTP library or DNS refuses
    when the request goes out ("a..b", a label of more than 63 characters, "xn--a", "%zz", a
    character IDNA has no spelling for), else None. (urllib3's LocationParseError, requests'
    InvalidURL or idna's error came out of the first send, or a retried failure "the MMSC may have
    taken it" of a request that never left.)"""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):  # (an IPv6 address: `_bad_authority` looks at its brackets)
        return None
    host = hostport.rpartition(":")[0] if ":" in hostport else hostport
    if not host:  # (said as no URL)
        return None
    if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", host):  # (as httpx reads it: an IPv4 address, or none)
        import ipaddress  # noqa: PLC0415

        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"its host {host!r} is no IPv4 address (four numbers of 0-255, without leading zeros)"
        return None
    if "%" in host:  # (no DNS name holds one; urllib3 refuses "%zz", requests decodes "%41")
        return f"its host {host!r} holds a %: write the name itself, not percent-encoded"
    if host.startswith("*"):
        return f"its host {host!r} begins with *, which no host name does"
    name = host[:-1] if host.endswith(".") else host  # (one final dot: a fully qualified name)
    labels = name.split(".")
    if "" in labels:
        return f"its host {host!r} has an empty label (a dot at its start, or two together)"
    try:
        import idna  # noqa: PLC0415 (requests' own dependency, and httpx's: how both spell a host)

        for label in labels:
            if label[:4].lower() == "xn--":  # (httpx decodes it, and fails on one no name encodes to)
                idna.decode(label)
        encoded = name if name.isascii() else idna.encode(name.lower(), uts46=True).decode("ascii")
        if not name.isascii():
            idna.encode(name.lower())  # (httpx's spelling, without UTS 46's mapping)
    except (idna.IDNAError, UnicodeError) as exc:
        return f"its host {host!r} is no host name IDNA can spell ({exc})"
    longest = max(encoded.split("."), key=len)
    if len(longest) > 63:
        return f"its host has a label of {len(longest)} characters, more than the 63 DNS allows"
    if len(encoded) > 253:
        return f"its host name is {len(encoded)} characters long, more than the 253 DNS allows"
    return None


def _url_refusals() -> tuple[type[Exception], ...]:
    """What the HTTP libraries raise for a URL's host they cannot use (LocationParseError, idna's
    errors, UnicodeError from the idna codec when resolving): a request that never went out."""
    import urllib3  # noqa: PLC0415

    return (urllib3.exceptions.LocationParseError, UnicodeError)


def _bad_port(netloc: str) -> str | None:
    """The port a URL's netloc names when it is none a connection can go to (0, past 65535, not a
    number: "h:99999", "h:0", "h:80a"), else None (a port of 1-65535, or none: the scheme's)."""
    port = netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
    # (its length first: int() refuses a number of more than 4300 digits with a ValueError)
    if not port or (port.isascii() and port.isdigit() and len(port.lstrip("0")) <= 5 and 0 < int(port) < 65536):
        return None
    return port


def not_http_url(url: object, of: str = "") -> str:
    """Why `url` is refused, for a value `is_http_url` is false for: a host and port written
    without a scheme (`127.0.0.1:9090/mm7`, as one writes them elsewhere) is told how to write it,
    a port no connection can go to is named. `of`: whose URL it should be (" of an MMSC")."""
    if not isinstance(url, str):
        return f"{url!r} is not an http(s) URL{of}"
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
        authority = url.partition("://")[2].partition("/")[0].rpartition("@")[2]
        if re.match(r"https?://", url, re.IGNORECASE) and "[" in authority and "]" not in authority:
            return f"{url!r} is not a usable URL{of}: its host opens a [ (an IPv6 address) it does not close"
    if parts is not None and parts.scheme in ("http", "https") and not parts.hostname:
        hostport = parts.netloc.rpartition("@")[2]
        if hostport.count(":") > 1 and "[" not in hostport:
            return f"{url!r} is not a usable URL{of}: an IPv6 address goes in brackets, http://[::1]:8080/..."
        if not hostport or hostport.startswith(":"):  # ("http:///mm7", "http://user@/mm7", "http://:80/mm7")
            return f"{url!r} is not a usable URL{of}: it names no host"
    if (parts is not None and parts.scheme in ("http", "https") and parts.hostname
            and (wrong := _bad_authority(parts.netloc)) is not None):
        # (accepted, urlsplit dropping what follows the bracket: the request went to [::1] port 80)
        return f"{url!r} is not a usable URL{of}: {wrong}"
    if (parts is not None and parts.scheme in ("http", "https") and parts.hostname
            and (wrong := _bad_host(parts.netloc)) is not None):
        return f"{url!r} is not a usable URL{of}: {wrong}"
    if (parts is not None and parts.scheme in ("http", "https") and parts.hostname  # (an IPv6 address unbracketed: no host)
            and (port := _bad_port(parts.netloc)) is not None):
        # (accepted, it failed only when sent: the sync client retried it as an MMSC that may have
        # the message, the async one raised a bare ValueError, port 0 was dialled as 80)
        return f"{url!r} is not a usable URL{of}: its port {port!r} is not a number from 1 to 65535"
    schemed = re.match(r"[a-z][a-z0-9+.-]*:(?!\d)", url, re.IGNORECASE)  # (mailto:..., not host:port)
    if "://" not in url and not schemed and not re.search(r"\s", url) and is_http_url(f"http://{url}"):
        return f"{url!r} is not an http(s) URL{of} (no scheme: write http://{url}, or https://)"
    return f"{url!r} is not an http(s) URL{of}"


_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


# How a failure to connect's hint begins (`SendError.hint`), for a program to tell them apart: refused
# (nothing listening there), or no answer at all within connect_timeout; the host's name not resolved
# (DNS), or no route to its address.
REFUSED_HINT, SILENT_HINT = "nothing listens at", "nothing answered at"
UNRESOLVED_HINT, UNREACHABLE_HINT = "cannot resolve", "no route to"


def host_port(url: str) -> str:
    """host:port of `url` (its scheme's port when it names none), without credentials; for a URL
    `is_http_url` takes (its port, if any, a number of 1-65535)."""
    parts = urlsplit(url)
    return f"{_host(url)}:{_DEFAULT_PORTS.get(parts.scheme.lower(), 80) if parts.port is None else parts.port}"


def _host(url: str) -> str:
    """The host `url` names (an IPv6 address in brackets), without port or credentials."""
    host = urlsplit(url).hostname or ""
    return f"[{host}]" if ":" in host else host


def _unresolved(exc: BaseException) -> bool:
    """Whether a connection failed for its host's name not resolving, from either client."""
    return any(isinstance(e, socket.gaierror) for e in tlsrefusal.chain(exc))


def _unreachable(exc: BaseException) -> bool:
    """Whether a connection failed for no route to its address (host or network unreachable)."""
    import errno  # noqa: PLC0415

    return any(getattr(e, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH) for e in tlsrefusal.chain(exc))


def connection_refused(exc: BaseException) -> bool:
    """Whether a connection failed for being refused (nothing listening there), from either client."""
    import errno  # noqa: PLC0415

    return any(isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED
               for e in tlsrefusal.chain(exc))


def header_problem(name: object, value: object) -> str | None:
    """Why no HTTP request can carry the header `name: value` as given (None: one can). Refused
    when the client is made: at send time, requests and httpx refused each its own share of these
    (and wrote a Latin-1 value differently), each send failing as one the MMSC may have taken.
    (The value is not shown: it may be a token; nor is one written into the name.)"""
    if not isinstance(name, str):
        return f"a header name must be text, not {type(name).__name__}"
    if not _TOKEN.fullmatch(name):
        said = _named_header(name)
        rest = "" if said == name else (": a whole header given as its name? What follows it is not repeated "
                                        "(it may be a token); give the name and its value apart")
        return f"header name {said!r} is not an HTTP token (letters, digits, -, no spaces or colons){rest}"
    if not isinstance(value, str):
        return f"header {name}: its value must be text, not {type(value).__name__}"
    if not all(" " <= c <= "~" or c == "\t" for c in value):
        return f"header {name}: its value must be printable ASCII (no line breaks, no other characters)"
    if value[:1] in (" ", "\t"):
        return f"header {name}: its value must not start with white space"
    return None


def _named_header(name: str) -> str:
    """A header name that is no token as a refusal quotes it: up to its colon when a value follows
    ("Authorization: Bearer ..."), up to its first blank when what precedes is a credential's name
    ("X-Api-Key k-..."), else whole ("X Carrier")."""
    head, colon, value = name.partition(":")
    if colon and value.strip():
        return head + ":..."
    first, blank, more = name.strip().partition(" ")
    return first + " ..." if blank and more.strip() and is_secret_header(first) else name


def _origin(url: str) -> tuple[str, str | None, int | None]:
    """The server a URL names (scheme, host, port), its port filled in when the URL leaves it out:
    "http://h/mm7" and "http://h:80/mm7" reach one MMSC and share its connections."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or _DEFAULT_PORTS.get(scheme)


STREAM_ABOVE = 1024 * 1024  # bodies larger than this are streamed from their parts, not joined
# The most connections a client keeps to one MMSC (carriers allow an SP a few dozen): the pool is
# made a slot at a time at the first send, a million of them a second's wait, 10**30 one for ever.
MAX_POOL_SIZE = 10_000


@suggest_keywords
@dataclass(frozen=True)
class ClientConfig:
    """Everything about one MMSC connection. `urls` are tried in order (or in turn: `round_robin`)."""

    urls: tuple[str, ...]
    profile: Profile = STANDARD
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # (reprs are logged and shown)
    # basic | digest | auto (sent only when a username is set). auto is China Mobile's SDK: Basic on
    # every request, the Digest answer when the MMSC challenges for Digest instead.
    auth: str = "basic"
    digest_qop: str | None = None  # "auth" | "auth-int": which one when the MMSC offers both (default auth)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # The whole of a request's upload, each time it goes out: an MMSC taking it a few bytes at a
    # time met only read_timeout per write, and held a send (an outbox's lease) without end.
    upload_timeout: float = 120.0
    # ... or, for a large request, as long as its bytes take at this rate (bytes a second) if that
    # is longer: 120 s alone failed every multi-MB message over a slow link. None: upload_timeout alone.
    upload_min_rate: float | None = 16 * 1024
    pool_size: int = 10  # connections per MMSC, kept alive; at most this many: further senders wait for one
    # A kept connection idle longer than this is dialled again before it is used (None: kept however
    # long): a NAT or firewall that forgets idle connections silently made the next request wait
    # out read_timeout. China Mobile's KeepAliveTimeout, whose 50 s this is.
    idle_timeout: float | None = 50.0
    # An MM7 answer is a few kilobytes: a longer one (a proxy's stream, a wrong port) is refused
    # once this much has come, not read into memory whole.
    max_answer_bytes: int = 4 * 1024 * 1024
    verify: bool | str = True  # TLS: True, False, or a CA bundle path
    cert: str | tuple[str, str] | None = None  # client certificate (mutual TLS): path, or (cert, key)
    # An HTTP(S) proxy to reach the MMSCs through. HTTP(S)_PROXY from the environment never applies:
    # an MM7 link is a direct one (a VPN, a leased line) a shell's proxy must not divert.
    proxy: str | None = field(default=None, repr=False)  # (may hold credentials)
    headers: tuple[tuple[str, str], ...] = ()  # extra HTTP headers (carrier id, ...)
    user_agent: str = f"mm7bind/{__version__}"
    round_robin: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limit: float | None = None  # messages per second per MMSC URL
    role: str = "vasp"  # "mmsc": send the relay's requests (DeliverReq, reports) to a VASP (the simulator)
    rewrite: Any = None  # bytes -> bytes on the encoded body: to reproduce a peer's habits in tests
    # An answer or Fault carrying another request's TransactionID is refused (a ProtocolError: its
    # MessageID or refusal is not this message's); True takes it, with a transaction-id-mismatch
    # deviation, for an MMSC that writes a TransactionID of its own. (One carrying none is taken
    # either way, and so is a Fault's placeholder of zeros.)
    accept_transaction_id_mismatch: bool = False
    # The country of numbers written nationally ("86"): a campaign's recipients are told apart by
    # their E.164 form (`bulk.recipient_key`); requests go to the numbers as written
    country_code: str | None = None
    # Filled into requests that leave them empty:
    vaspid: str | None = None
    vasid: str | None = None
    service_code: str | None = None
    sender_address: m.Address | str | None = None  # (a str: as `Address.parse` reads it)

    __repr__ = repr_showing_no_secret_header  # (an Authorization or token header among `headers`)

    def __post_init__(self) -> None:
        if isinstance(self.urls, str):
            object.__setattr__(self, "urls", (self.urls,))
        if not self.urls:
            raise ValueError("at least one MMSC URL is needed")
        for url in self.urls:  # refused here, not after every retry has failed on it
            if not is_http_url(url):  # (an MMSC's client, the simulator's and probe's, sends to a VASP)
                raise InvalidURLError(not_http_url(shown_url(url) if isinstance(url, str) else url,
                                                   " of a VASP" if self.role == "mmsc" else " of an MMSC"))
        if self.proxy is not None and not is_http_url(self.proxy):
            raise InvalidURLError(f"proxy {not_http_url(shown_url(self.proxy))}")
        for name, what in (("vaspid", "the VASP's ID"), ("vasid", "the service's ID"),
                           ("service_code", "the service code")):
            # (it was filled into every request as <VASPID></VASPID>, <VASID></VASID>, <ServiceCode>
            # </ServiceCode>: valid to the schema, which sets no length, but an identity or a billing
            # code of nothing; MMSCs refuse an empty VASPID as 4001, improper identification, after
            # the request went out)
            value = getattr(self, name)
            if isinstance(value, str) and not value.strip():
                raise ValueError(f"{name} {value!r} is blank: give {what}, or None to send none")
        if self.auth not in AUTH_MODES:
            raise ValueError(
                f"auth must be one of {', '.join(AUTH_MODES)}, not {refused_choice(self.auth, AUTH_MODES)}")
        if self.digest_qop not in (None, *QOPS):
            raise ValueError(f"digest_qop must be auth or auth-int, not {self.digest_qop!r}")
        if self.role not in ("vasp", "mmsc"):
            raise ValueError("role must be vasp or mmsc")
        # (a value of the wrong type said as such here, not as an AttributeError or a comparison
        # of 'int' and 'str' from within: `profile="cmcc"`, `retry=3`, `read_timeout="30"`)
        if not isinstance(self.profile, Profile):
            raise TypeError(f"profile must be a Profile (mm7bind.profiles.CMCC, Profile(version=\"REL-5-MM7-1-2\")), "
                            f"not {self.profile!r}")
        if not isinstance(self.retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy (RetryPolicy(max_attempts=3), RetryPolicy.never()), "
                            f"not {self.retry!r}")
        for name, unit in (("connect_timeout", " of seconds"), ("read_timeout", " of seconds"),
                           ("upload_timeout", " of seconds"), ("rate_limit", ""),
                           ("upload_min_rate", " of bytes a second")):
            value = getattr(self, name)  # (None: no limit, for the rates)
            if isinstance(value, (str, bytes, bool)) or (value is None and unit == " of seconds"):
                raise TypeError(f"{name} must be a number{unit}, not {value!r}")
        if self.idle_timeout is not None and (isinstance(self.idle_timeout, (str, bytes, bool))
                                              or not 0 < self.idle_timeout <= MAX_TIMEOUT):
            raise ValueError(f"idle_timeout must be a number of seconds, more than 0 and at most {MAX_TIMEOUT} "
                             f"(a year), or None: kept however long, not {self.idle_timeout!r}")
        for name in ("connect_timeout", "read_timeout", "upload_timeout"):
            # (NaN passed a "<= 0" check, then failed every send with a bare ValueError; inf, or
            # 1e10, with an OverflowError)
            if not 0 < getattr(self, name) <= MAX_TIMEOUT:
                raise ValueError(f"timeouts must be positive and finite, at most {MAX_TIMEOUT} s (a year): a request "
                                 f"must never wait forever ({name} = {getattr(self, name)!r})")
        # (a rate slower than one a year implied a wait past what a socket's timeout or a sleep
        # holds: an OverflowError at the second send, or at the upload of a message's first bytes)
        if self.upload_min_rate is not None and not 1 / MAX_TIMEOUT <= self.upload_min_rate < math.inf:
            raise ValueError(f"upload_min_rate must be finite and at least 1/{MAX_TIMEOUT} (a byte a year), in bytes "
                             f"a second, or None, not {self.upload_min_rate!r}")
        if self.rate_limit is not None and not (self.rate_limit == 0 or 1 / MAX_TIMEOUT <= self.rate_limit):
            # (named as set: "rate" was RateLimiter's)
            raise ValueError(f"rate_limit must be at least 1/{MAX_TIMEOUT} (a message a year), in messages a second "
                             f"per MMSC (0 or None: no limit), not {self.rate_limit!r}")
        if isinstance(self.max_answer_bytes, bool) or not isinstance(self.max_answer_bytes, int) \
                or self.max_answer_bytes < 1:  # (NaN passed "< 1": answers of any size kept)
            raise ValueError(f"max_answer_bytes must be a whole number, at least 1, not {self.max_answer_bytes!r}")
        if isinstance(self.pool_size, bool) or not isinstance(self.pool_size, int) \
                or not 1 <= self.pool_size <= MAX_POOL_SIZE:
            # (0: no connection to wait for, the first send waited forever; 2.5 or NaN failed each
            # send with a TypeError; 10**30 held the first send for ever, the pool made a slot at a time)
            raise ValueError(f"pool_size must be a whole number from 1 to {MAX_POOL_SIZE}, not {self.pool_size!r}")
        given = self.headers.items() if isinstance(self.headers, dict) else self.headers
        for name, value in (*given, ("User-Agent", self.user_agent), *self.profile.extra_headers):
            problem = header_problem(name, value)
            if problem:
                raise ValueError(problem)


@dataclass
class Result:
    """The MMSC's answer to one request."""

    operation: str
    transaction_id: str
    status: m.Status
    response: m.Message
    version: versions.Version | None
    url: str
    attempts: int
    elapsed: float
    http_status: int
    deviations: list[Deviation] = field(default_factory=list)
    retry_after: float | None = None  # seconds the answer's Retry-After asked for (an MMSC busy: 4006)
    # An attempt before the one answered got no answer (a timeout, a connection lost), in this send
    # or in an earlier send of its TransactionID the store recorded: the MMSC may have taken the
    # request twice, as most do not recognise a repeated TransactionID.
    earlier_unanswered: bool = False
    # The TransactionID the answer carried (None: none): `transaction_id`'s, but where
    # accept_transaction_id_mismatch took an MMSC's own.
    answer_transaction_id: str | None = None

    @property
    def message_id(self) -> str | None:
        """The MessageID the MMSC gave (SubmitRsp, extendedReplaceRsp); None for other answers."""
        return getattr(self.response, "message_id", None)

    @property
    def ok(self) -> bool:
        """Whether the status is a success (1xxx)."""
        return self.status.is_success

    def raise_for_status(self) -> Result:
        """This result when `ok`; else a `SendError` naming the status."""
        if not self.ok:
            raise SendError(f"{self.operation}: {self.status.code} {self.status.text}",
                            transaction_id=self.transaction_id, url=self.url, attempts=self.attempts)
        return self


@dataclass
class Prepared:
    message: m.Message
    transaction_id: str
    http: HttpMessage
    headers: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    tag: str | None = None  # recorded with the SentRecord (a campaign's name, an order number)
    records: list | None = None  # where its SentRecord goes for its sender to write (None: written at once)
    unanswered: bool = False  # an attempt before the current one got no answer: the MMSC may have it
    answered: bool = False  # an attempt before the current one got an answer from an MMSC (`none_answered`)
    # Which MMSC may have it (the URL that attempt went to): retries stay with it. None: not known
    # (any MMSC tried stays); "": one no longer configured, out of reach (the others may be tried).
    unanswered_at: str | None = None


@dataclass
class Post:
    url: str
    prepared: Prepared


@dataclass
class Sleep:
    seconds: float
    # (the rate limit's turn it waits for: given back by the client if the wait is cut short, its
    # send not made)
    turn: tuple[RateLimiter | SharedRateLimiter, Turn] | None = None


@dataclass
class TakeTurn:
    """Take the next turn of `limiter` (send back the `Turn`): for a `SharedRateLimiter` a store
    write, which the async client does in a worker thread, its event loop not held."""

    limiter: RateLimiter | SharedRateLimiter


@dataclass
class GiveBack:
    """Give back `turn` to `limiter`, its send not made (send back None)."""

    limiter: RateLimiter | SharedRateLimiter
    turn: Turn


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes


@dataclass
class Failure:
    kind: str  # connect | timeout | other | too-large
    error: Exception
    # Which bound a timeout met (its words name the setting): "connect" (connect_timeout), "send"
    # (read_timeout, a write of the request), "upload" (upload_timeout, the request not gone out
    # whole), "answer" (read_timeout, waiting for the answer),
    # "body" (read_timeout, the answer begun and not whole), "exchange" (read_timeout from the
    # request's end, for the answer's head whole); None: no timeout.
    ran_out: str | None = None
    partly_sent: bool = False  # the request did not go out whole: the MMSC cannot have taken it


class _SlowAnswer(TimeoutError):
    """An answer begun that did not come whole within the read timeout."""


class _SlowHead(TimeoutError):
    """An answer whose head did not come whole within the read timeout of the request's end."""


class _SlowUpload(TimeoutError):
    """A request that did not go out whole within the upload timeout."""


# What the reads of the async exchange under way brought since its answer's head was awaited:
# [a read made, bytes read] (see `_exchange`).
_answer_reads: contextvars.ContextVar[list | None] = contextvars.ContextVar("mm7bind_answer_reads", default=None)


def _count_reads(stream: Any) -> None:
    """Have the reads of `stream`, an httpcore network stream, counted in `_answer_reads` (once
    per stream: its later requests find it counting). Another kind of stream is left as it is."""
    read = getattr(stream, "read", None)
    if read is None or getattr(read, "mm7_counting", False):
        return

    async def counting(max_bytes: int, timeout: float | None = None) -> bytes:
        seen = _answer_reads.get()
        if seen is not None:
            seen[0] = True
        data = await read(max_bytes, timeout)
        if seen is not None:
            seen[1] += len(data)
        return data

    counting.mm7_counting = True  # type: ignore[attr-defined]
    try:
        stream.read = counting
    except AttributeError:
        pass


@functools.cache
def _pieces_class():
    import httpx  # noqa: PLC0415

    class Pieces(httpx.AsyncByteStream):
        """A request body for httpx in pieces, each its own write (and write timeout); iterable
        again."""

        def __init__(self, body: bytes, size: int = 64 * 1024, last: list[bool] | None = None):
            self.body, self.size, self.last = memoryview(body), size, last

        async def __aiter__(self):
            for i in range(0, len(self.body), self.size):
                if i + self.size >= len(self.body) and self.last is not None:
                    self.last.append(True)  # (the last piece, handed to the connection next)
                yield bytes(self.body[i : i + self.size])

    return Pieces


def _answer_ran_out(exc: BaseException) -> str:
    """Which bound (`Failure.ran_out`) a read timeout requests reported met: requests and urllib3
    word each alike, the exceptions they wrap tell them apart."""
    chain = list(tlsrefusal.chain(exc))
    if any(isinstance(e, _SlowAnswer) for e in chain):
        return "body"
    return "exchange" if any(isinstance(e, DeadlinePassed) for e in chain) else "answer"


class NotSent(BaseException):
    """Thrown into `ClientCore.exchange` at a `Post` interrupted (`interruption`, raised on)
    before any of its request went out (waiting its turn for a connection): recorded as the
    attempts before it ended, not as a request in flight."""

    def __init__(self, interruption: BaseException):
        super().__init__(interruption)
        self.interruption = interruption


class PartlySent(BaseException):
    """Thrown into `ClientCore.exchange` at a `Post` interrupted (`interruption`, raised on)
    while its request went out, before its last byte was handed to the connection: the MMSC has
    a part of it at most, which it cannot take for a request (recorded as not taken, as a
    connection lost mid-upload is)."""

    def __init__(self, interruption: BaseException):
        super().__init__(interruption)
        self.interruption = interruption


class NoTimeLeft(Exception):  # noqa: N818
    """A send given a deadline (`sending_until`) that could not make even its first attempt (after
    its rate limit's wait) before it: nothing was sent, nothing recorded."""


class AnswerTooLarge(Exception):
    """The answer went on past `ClientConfig.max_answer_bytes`; the rest was not read."""

    def __init__(self, limit: int):
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


# An answer's head, the same for both clients (http.client alone stops at 100 fields of 64 KiB
# each, h11 at a 100 KiB head of any number): past either, a ProtocolError, its body not read.
MAX_ANSWER_HEADER_FIELDS = 100
MAX_ANSWER_HEAD_BYTES = 64 * 1024


class AnswerHeadTooLarge(AnswerTooLarge):
    """The answer's head went past MAX_ANSWER_HEADER_FIELDS or MAX_ANSWER_HEAD_BYTES."""

    def __init__(self, words: str):
        Exception.__init__(self, words)


def _check_head(fields: list[tuple[str | bytes, str | bytes]]) -> None:
    """Raise AnswerHeadTooLarge for an answer's header fields (name, value) past the limits,
    counted alike whichever library read them: a field is its name, ": ", its value and CRLF."""
    if len(fields) > MAX_ANSWER_HEADER_FIELDS:
        raise AnswerHeadTooLarge(f"has more than {MAX_ANSWER_HEADER_FIELDS} header fields")
    size = sum(len(n) + len(v) + 4 for n, v in fields)
    if size > MAX_ANSWER_HEAD_BYTES:
        raise AnswerHeadTooLarge(f"has header fields of more than {MAX_ANSWER_HEAD_BYTES} bytes")


def _head_over_limit(exc: BaseException) -> AnswerHeadTooLarge | None:
    """The library's own refusal of a head past its limits (http.client's "got more than 100
    headers" or "header line" too long, h11's receive buffer), as ours; None for another failure."""
    import http.client  # noqa: PLC0415

    for e in tlsrefusal.chain(exc):
        if isinstance(e, http.client.LineTooLong) or "Receive buffer too long" in str(e):
            return AnswerHeadTooLarge(f"has header fields of more than {MAX_ANSWER_HEAD_BYTES} bytes")
        if isinstance(e, http.client.HTTPException) and "got more than" in str(e) and "headers" in str(e):
            return AnswerHeadTooLarge(f"has more than {MAX_ANSWER_HEADER_FIELDS} header fields")
    return None


@dataclass
class Retry:
    delay: float
    url: str
    error: Exception | None  # what this attempt ended with (raised if no attempt is left)
    result: Result | None = None  # (or the answer it got, a status worth trying again: given then)


def _placeholder_tid(tid: str) -> bool:
    """Whether a Fault's TransactionID is a placeholder written for none (Mbuni's "0000" when the
    request's could not be read): zeros only, or nothing."""
    return not tid.strip().strip("0")


def _rate_limiter(config: ClientConfig, url: str, store) -> RateLimiter | SharedRateLimiter:  # noqa: ANN001
    """The rate limit at `url`: shared by every client sending through `store` to that MMSC with
    that account — for a `SqliteStore`, in every process on its file (`SharedRateLimiter`) —, or this
    client's own (no store, or one read-only)."""
    if not takes_shared_work(store, "rate_reserve"):
        return RateLimiter(config.rate_limit)
    key = shown_url(url) + (f" as {config.username}" if config.username else "")
    return SharedRateLimiter(store, key, config.rate_limit)


def new_transaction_id() -> str:
    return uuid.uuid4().hex


class ClientCore:
    """Decisions without I/O: shared by the sync and async clients (and testable on its own)."""

    def __init__(self, config: ClientConfig, store=None, rng: random.Random | None = None, metrics=None):
        self.config = config
        self.store = store
        self.metrics = metrics  # a mm7bind.metrics.Metrics; None counts nothing
        self.rng = rng or random.Random()
        # Turns over the URLs, taken atomically: threads sharing a client each get their own turn
        # (`self._next += 1` let two read the same one, so some MMSC got more than its share).
        self._turns = itertools.count()
        # (an AsyncClient's too: it takes a shared turn, a store write, in a worker thread)
        self.limiters = {u: _rate_limiter(config, u, store) for u in config.urls} if config.rate_limit else {}
        self.mismatching: set[str] = set()  # MMSCs seen echoing another TransactionID (said once each)
        # How the program sending through this client spells its settings, for the hints on a TLS
        # failure ({"cert": ..., "verify": ...}, see tlsrefusal.hint) and on credentials refused
        # ({"credentials": ...}); None: the library's.
        self.setting_names: dict[str, str] | None = None
        # A program that says each failed send in its own line (with what it does next) sets this:
        # the client's line for a failure or a Fault goes down to DEBUG, not said twice.
        self.failures_said_by_caller = False
        self.later_said: set[str] = set()  # messages' MM7Versions of a later release, said once each
        # A store that cannot record sends (a full disk): one ERROR as it begins, one WARNING once a
        # send is recorded again.
        self._record_trouble = Incident()
        self._read_trouble = Incident()  # (the same, for reading earlier sends)

    @property
    def peer(self) -> str:
        """Whom this client sends to, in its messages: "the MMSC", or "the VASP" for an MMSC's
        client (the simulator's, probe's)."""
        return "the MMSC" if self.config.role == "vasp" else "the VASP"

    # -- requests ---------------------------------------------------------------------------------

    def with_defaults(self, msg: m.Message) -> m.Message:
        c = self.config
        changes = {}
        for name in ("vaspid", "vasid", "service_code", "sender_address"):
            if getattr(c, name) is not None and hasattr(msg, name) and getattr(msg, name) is None:
                changes[name] = getattr(c, name)
        return dataclasses.replace(msg, **changes) if changes else msg

    def prepare(self, msg: m.Message, transaction_id: str | None = None, tag: str | None = None) -> Prepared:
        direction = "vasp->rs" if self.config.role == "vasp" else "rs->vasp"
        if not isinstance(msg, m.Message) or not msg.IS_REQUEST or msg.DIRECTION != direction:
            raise TypeError(f"a {self.config.role} client sends {direction} requests, not {type(msg).__name__}")
        if direction == "vasp->rs":
            msg = self.with_defaults(msg)
        tid = transaction_id_text(transaction_id) or new_transaction_id()
        self.check_mm7_version(msg)
        http = encode(msg, transaction_id=tid, profile=self.config.profile)
        if self.config.rewrite is not None:
            from .mime import Body  # noqa: PLC0415

            http = HttpMessage(http.content_type, Body([self.config.rewrite(http.to_bytes())]), http.headers, http.content)
        headers = {"User-Agent": self.config.user_agent, **dict(self.config.headers), **http.headers}
        return Prepared(msg, tid, http, headers, tag=tag)

    def check_mm7_version(self, msg: m.Message) -> None:
        """A WARNING, once per value, for a message's own MM7Version of a later release than the
        schema version it is sent in (6.8.0 to a REL-5-MM7-1-2 peer): the x.y.z pattern of such a
        schema takes it, but no schema of its release lists it, and an MMSC that checks the one
        against the other refuses it (4002, as a strict mm7bind receiver does). The profile's own
        `mm7_version` is `config check`'s to say. Sent as it is: a peer may want just that."""
        value = (msg.mm7_version or "").strip()
        if not value or value == self.config.profile.mm7_version or value in self.later_said:
            return
        version = versions.get(self.config.profile.version)
        release = versions.later_release(value, version)
        if release is None:
            return
        if len(self.later_said) < 64:  # (values come from messages: kept bounded)
            self.later_said.add(value)
        log.warning("%s carries MM7Version %s, of Release %d, sent in %s (Release %d): %s that checks the one "
                    "against the other refuses it (4002); said once for this value", msg.ELEMENT, value, release,
                    version.name, version.release, "an MMSC" if self.config.role == "vasp" else "a VASP")

    def body(self, p: Prepared):
        """Bytes for ordinary messages; the rewindable stream for large ones."""
        if p.http.length <= STREAM_ABOVE:
            return p.http.to_bytes()
        p.http.body.seek(0)
        return p.http.body

    def first_url(self) -> str:
        urls = self.config.urls
        if self.config.round_robin:
            # (an outbox item's every round starts at one MMSC, its id's turn, whatever was sent
            # before it by this process or the one before: `sending_for_item`)
            item = getattr(_progress, "outbox_item", None)
            return urls[(item if item is not None else next(self._turns)) % len(urls)]
        return urls[0]

    def fail_over_url(self, p: Prepared, url: str, tried: set[str]) -> str | None:
        """The MMSC not tried yet to send `p` to next instead of `url` — none once an attempt got no
        answer from it: the MMSC it went to may have it, and only that one can recognise the repeat
        (another would deliver a second copy). Retries then stay with it, after their waits."""
        if p.unanswered and p.unanswered_at in (None, url):
            return None
        return self.other_url(url, tried)

    def earlier_unanswered_at(self, transaction_id: str | None) -> str | None:
        """Where an earlier send of `transaction_id` (the outbox's last round, a resumed campaign's
        request, an API request asked again) left the request with an MMSC that may have it, by the
        store's latest record of it: the URL as recorded ("" when none was), or None when no such
        send is recorded. A send in a new exchange goes there first, and stays there, as retries
        within one do: another MMSC would deliver a second copy."""
        if self.store is None or transaction_id is None:
            return None
        resume_at = getattr(_progress, "resume_at", None)
        if resume_at is not None:  # (an outbox item's last attempt, its end never recorded: `sending_for_item`)
            return resume_at
        try:
            rec = self.store.sent_by_transaction_id(transaction_id)
        except STORE_ERRORS as exc:  # (sent as if new: a record not read must not stop the message)
            said = f"{type(exc).__name__}: {exc}"
            begins = self._read_trouble.failed(said)  # (as _record's: one WARNING an incident, not one a send)
            log.log(logging.WARNING if begins else logging.DEBUG,
                    "tid=%s: its earlier sends could not be read from the store, sent as new: %s%s",
                    printable(transaction_id), said,
                    "; further ones are counted, told once the store is read again" if begins else "")
            return None
        ended = self._read_trouble.over()
        if ended is not None:
            log.warning("the store's earlier sends are read again: %d sent as new over %.0f s while they could "
                        "not be (%s)", ended.count, ended.seconds, ended.said)
        if rec is None or rec.ok:
            return None
        unanswered = rec.status_code is None and rec.error is not None and may_have_arrived(rec.error)
        return (rec.url or "") if unanswered or getattr(rec, "earlier_unanswered", False) else None

    def other_url(self, url: str, tried: set[str]) -> str | None:
        urls = self.config.urls
        start = urls.index(url) if url in urls else 0
        for i in range(1, len(urls) + 1):
            cand = urls[(start + i) % len(urls)]
            if cand not in tried:
                return cand
        return None

    # -- answers ----------------------------------------------------------------------------------

    def on_response(self, p: Prepared, attempt: int, url: str, status: int, headers: dict, body: bytes,
                    tried: set[str]) -> Result | Retry:
        policy = self.config.retry
        ctype = header_value(headers, "content-type")
        retry_after = parse_retry_after(header_value(headers, "retry-after"))
        shown = shown_url(url)  # (what errors, results and logs say: no password of the URL's)
        kw = {"transaction_id": p.transaction_id, "url": shown, "attempts": attempt, "retry_after": retry_after}
        if 300 <= status < 400:  # not followed: an MM7 request goes where it is configured to go
            where = shown_url(header_value(headers, "location"))
            error = HTTPStatusError(f"HTTP {status} from {shown}" + (f" (redirect to {where}, not followed)" if where else ""),
                                    status=status, body=body, headers=dict(headers), **kw)
            return self.again_or_raise(p, attempt, url, error, policy.retries_http(status), retry_after, tried)
        unread: DecodeError | None = None
        try:
            env = decode(body, ctype, expect=m.RESPONSE_FOR[p.message.ELEMENT].ELEMENT) if body.strip() else None
        except DecodeError as exc:
            env, unread = None, exc
            if status < 400:
                # (an HTML page said by its title, not as the DOCTYPE our XML reader refuses)
                why = f"{excerpt(body, headers)}, not MM7" if html_page(body, headers) else exc
                error = ProtocolError(f"unreadable answer (HTTP {status}): {why}", body=body, http_status=status, **kw)
                error.__cause__ = exc  # (which kind of unreadable: callers map them apart)
                return self.give_up(p, error)
        if env is None:
            hint = self.http_hint(status, url, headers)
            error = HTTPStatusError(f"HTTP {status} from {shown}" + (f" ({hint})" if hint else "")
                                    + (f": {excerpt(body, headers, limit=200)}" if body.strip() else "")
                                    # (XML that is not well-formed: why, as it may look like a Fault)
                                    + (f" (no Fault read from it: {unread})"
                                       if isinstance(unread, MalformedXMLError) else ""),
                                    status=status, body=body, headers=dict(headers), **kw)
            error.__cause__ = unread  # (which kind of unreadable, as for an answer under 400)
            if status < 400:
                error = ProtocolError(f"empty answer (HTTP {status}) from {shown}", body=body, http_status=status, **kw)
            # A gateway's 502 or 504, the MMSC's own 500: it may have the request, as after a timeout.
            # So may a 500 whose body is no Fault we can read — not well-formed, cut short, an HTML
            # page —, whatever it looks like: a refusal is told by the Fault read, not guessed from
            # bytes (a "Client" in a cut-off body may be anything), and an MMSC that wrote half an
            # answer failed somewhere, perhaps once it had queued the request. It goes as the
            # policy says of a 500 (`http_statuses`, `on_timeout`): a refusal sent again is refused
            # again, a message lost unawares is the worse outcome.
            retryable = policy.retries_http(status) and (policy.on_timeout or not may_have_arrived(error))
            return self.again_or_raise(p, attempt, url, error, retryable, retry_after, tried,
                                       elsewhere=policy.fails_over(http_status=status))
        expected = m.RESPONSE_FOR[p.message.ELEMENT]
        body_msg = env.body
        # An error response outside a Fault (HTTP 200 senders): the MMSC's RSErrorRsp, or the
        # VASPErrorRsp a VASP answers the simulator's DeliverReq or report with; its faultcode the
        # one its status would have been written with.
        if isinstance(body_msg, (m.RSErrorRsp, m.VASPErrorRsp)):
            body_msg = Fault(code=fault_code(body_msg.status.code), string=body_msg.status.text or "",
                             detail=body_msg)
        if isinstance(body_msg, Fault):
            # A Fault for another request is not our refusal (what became of ours is unknown), as
            # another request's answer is not our answer; a placeholder (Mbuni's "0000", written
            # when it could not read the request's) is one written for none, as a missing one is.
            if env.transaction_id is not None and not _placeholder_tid(env.transaction_id):
                mixed_up = self.mismatched(p, url, env.transaction_id, "Fault", kw)
                if mixed_up is not None:
                    return mixed_up
            error = FaultError(f"{p.message.ELEMENT} refused: {_fault_words(body_msg)}", fault=body_msg,
                               http_status=status, deviations=env.deviations, **kw)
            retryable = policy.retries_fault(body_msg, status)
            # (a Fault without an MM7 status says by its HTTP status: a Server fault in a 503 is an
            # MMSC unavailable, as the outbox reads it, and the next MMSC is tried at once)
            return self.again_or_raise(p, attempt, url, error, retryable, retry_after, tried,
                                       elsewhere=policy.fails_over_fault(body_msg, status))
        if not isinstance(body_msg, expected):
            return self.give_up(p, ProtocolError(f"expected {expected.ELEMENT}, got {body_msg.ELEMENT}", body=body,
                                                 http_status=status, **kw))
        devs = list(env.deviations)
        if env.transaction_id != p.transaction_id:
            if env.transaction_id is not None:
                mixed_up = self.mismatched(p, url, env.transaction_id, "answer", kw)
                if mixed_up is not None:
                    return mixed_up
            devs.append(Deviation("transaction-id-mismatch", "/Envelope/Header/TransactionID",
                                  f"answer carries {env.transaction_id!r}, the request {p.transaction_id!r}"))
        result = Result(p.message.ELEMENT, p.transaction_id, body_msg.status, body_msg, env.version, shown, attempt,
                        time.monotonic() - p.started, status, devs, retry_after, p.unanswered,
                        env.transaction_id)
        if policy.retries_status(result.status.code) and attempt < policy.max_attempts:
            other = self.fail_over_url(p, url, tried) if policy.fails_over(code=result.status.code) else None
            if other is not None:
                return Retry(0.0, other, None, result)
            return Retry(policy.delay(attempt, retry_after, self.rng), url, None, result)
        self.finish(p, result=result)
        return result

    def mismatched(self, p: Prepared, url: str, tid: str, what: str, kw: dict):
        """An answer (or Fault) carrying TransactionID `tid`: None when it is ours to take (the
        request's, or another with `accept_transaction_id_mismatch`, said once per MMSC), else the
        ProtocolError raised: another request's answer (a proxy's or a kept-alive connection's
        mix-up) says nothing of this one, its MessageID or refusal not this message's."""
        if tid == p.transaction_id:
            return None
        shown = kw["url"]
        if not self.config.accept_transaction_id_mismatch:
            return self.give_up(p, ProtocolError(
                f"the {what} from {shown} is another request's: it carries TransactionID {printable(tid)} (for an "
                "MMSC that writes one of its own: accept_transaction_id_mismatch)", **kw))
        # Some MMSCs never echo it (InstantCom sends none): a warning for each answer would be one
        # per request under normal load. Said once per MMSC; each Result has the deviation.
        first = url not in self.mismatching
        self.mismatching.add(url)
        log.log(logging.WARNING if first else logging.DEBUG, "TransactionID mismatch from %s: sent %s, got %s%s",
                shown, printable(p.transaction_id), printable(tid),
                " (said once for this MMSC; every Result lists it in its deviations)" if first else "")
        return None

    def http_hint(self, status: int, url: str, headers: dict) -> str:
        """What to change, for the HTTP errors a wrong setting causes: a 401 says which of the
        credentials the MMSC wants (a bare "HTTP 401" left the user guessing between none, the wrong
        scheme and a wrong password), a 404 that the URL's path is wrong."""
        if status == 404:
            return "nothing at this path: check the URL"
        if status == 413:  # (Mbuni takes 500 KB by default, China Mobile 100000 bytes)
            return f"{self.peer} takes no request this large: " \
                   "see the profile's max_message_size"
        if status == 429:  # (retried after its Retry-After; every time, a rate_limit would spare them)
            return f"{self.peer} asks for fewer requests: see rate_limit"
        if status != 401:
            return ""
        challenge = header_value(headers, "www-authenticate") or ""
        schemes = [scheme.capitalize() for scheme, _ in auth_schemes(challenge)]
        wanted = schemes[0] if schemes else ""
        # (every scheme offered: an MMSC offering Basic and Digest refused the one we sent for its
        # credentials, not for its scheme)
        offered = set(schemes)
        c = self.config
        peer = self.peer
        in_url = urlsplit(url).username is not None  # (sent as Basic, whatever `auth` says)
        credentials = (self.setting_names or {}).get("credentials", "username and password")
        if c.username is None and not in_url:
            return f"{peer} asks for {wanted or 'credentials'}; none were given: set {credentials}"
        sent = "Basic" if c.username is None or c.auth == "basic" else "Digest" if c.auth == "digest" else ""
        if wanted in ("Basic", "Digest") and sent and sent not in offered:
            why = "credentials in the URL go as Basic" if c.username is None else f'auth is "{c.auth}"'
            return (f'{peer} asks for {wanted}, {why}: set auth = "{wanted.lower()}" (or "auto")'
                    + (" with username and password" if c.username is None else ""))
        unspoken = _unspoken_digest(challenge) if c.username is not None and c.auth != "basic" else None
        if unspoken:  # (no answer was sent: the password is not the matter)
            spoken = digest_algorithms()
            lacking = "" if "SHA-512-256" in spoken else " (SHA-512-256 needs SHA-512/256, which this Python's hashlib lacks)"
            return (f"{peer} asks for Digest with {unspoken}, which mm7bind does not answer: it speaks "
                    f"{', '.join(spoken[:-1])} and {spoken[-1]} (and their -sess), qop auth and auth-int{lacking}")
        return f"{peer} refused the credentials: check {credentials}"

    def timeout_words(self, which: str, size: int | None = None) -> str:
        """What ran out (`Failure.ran_out`), with its seconds and the setting(s) that give them
        (`size`: the request's bytes, which its upload's bound grows with)."""
        c = self.config
        read_timeout = (self.setting_names or {}).get("read_timeout", "read_timeout")  # (the simulator's vasp_timeout)
        if which == "connect":
            return f"no connection within {c.connect_timeout:g} s (connect_timeout)"
        if which == "body":
            return f"the answer began but did not come whole within {c.read_timeout:g} s ({read_timeout})"
        if which == "send":
            return f"the MMSC took no more of the request for {c.read_timeout:g} s ({read_timeout})"
        if which == "upload":
            bound = upload_time(c, size)
            if bound > c.upload_timeout:
                return (f"the request ({size} bytes) did not go out whole within {bound:g} s (upload_min_rate: "
                        f"{c.upload_min_rate:.0f} bytes a second)")
            return f"the request did not go out whole within {c.upload_timeout:g} s (upload_timeout)"
        if which == "exchange":
            return f"the answer's head did not come whole within {c.read_timeout:g} s of the request sent ({read_timeout})"
        return f"no answer within {c.read_timeout:g} s ({read_timeout})"

    def on_transport_error(self, p: Prepared, attempt: int, url: str, kind: str, exc: Exception,
                           tried: set[str], timed_out: str | None = None, partly_sent: bool = False) -> Retry:
        """`timed_out`: which bound a timeout met (`Failure.ran_out`), None for another failure;
        `partly_sent`: the request did not go out whole (`Failure.partly_sent`)."""
        policy = self.config.retry
        shown = shown_url(url)
        kw = {"transaction_id": p.transaction_id, "url": shown, "attempts": attempt}
        why = transport_reason(exc)
        if _in_tls_handshake(exc) or _handshake_cut_off(exc):  # (the setting named, as for any timeout)
            why = (f"the TLS handshake got no answer within {self.config.connect_timeout:g} s (connect_timeout): "
                   "an http port, not https?")
        elif timed_out is not None:
            why = self.timeout_words(timed_out, p.http.length)
        peer, proxy = self.peer, self.config.proxy
        # What we connect to, which a failure to connect is about: through a proxy, the proxy (the
        # MMSC's address is not the one refusing). (Its URL's port is a good one: ClientConfig saw to it.)
        host, where, who = ((f"the proxy's host {_host(proxy)}", f"the proxy's address {host_port(proxy)}", "the proxy")
                            if proxy else (_host(url), host_port(url), peer))
        # What to look at, said first, the library's words after it ("Failed to establish a new
        # connection: [Errno 111] Connection refused" told neither which setting nor which port)
        hint = tlsrefusal.hint(exc, self.config.cert is not None, peer, self.setting_names)
        if hint and tlsrefusal.certificate_alert(exc):  # (the hint names the alert: nothing more to say)
            why, hint = hint, ""
        elif not hint and kind == "connect" and connection_refused(exc):  # (a wrong port, or the peer down)
            hint = f"{REFUSED_HINT} {where}; is {who} up, and is that its port?"
        elif not hint and kind == "connect" and _unresolved(exc):  # (a misspelt name, or no DNS)
            hint = f"{UNRESOLVED_HINT} {host}: is the host name right?"
        elif not hint and kind == "connect" and _unreachable(exc):
            hint = f"{UNREACHABLE_HINT} {host}: is the network up, the address right?"
        elif not hint and timed_out == "connect" and why == self.timeout_words("connect"):
            # (no refusal came back: the packets went nowhere, or were dropped on the way; "nothing
            # listens" sent its user looking for a server that was never reached)
            hint = f"{SILENT_HINT} {where}: a wrong host, or a firewall dropping the packets?"
        if kind == "too-large":  # an answer, but no MM7 one: the same request would get it again
            return self.give_up(p, ProtocolError(f"answer from {shown} {exc}: not read further", **kw))
        if hint:
            kw |= {"hint": hint, "detail": why}
        if kind == "connect":
            error: SendError = ConnectError(f"cannot connect to {shown}" + ("" if hint else f": {why}"), **kw)
            error.__cause__ = exc
            retryable = policy.on_connect_error
            # Nothing reached the MMSC: go straight to another one if there is one (and no earlier
            # attempt may have reached this one).
            other = self.fail_over_url(p, url, tried)
            if other is not None and attempt < policy.max_attempts:
                return Retry(0.0, other, error)
        elif kind == "timeout":
            error = RequestTimeout(f"timed out waiting for {shown}" + ("" if hint else f": {why}"), **kw)
            retryable = policy.on_timeout
        else:  # the request went out, the answer never came: as a timeout, the MMSC may have it
            error = TransportError(f"HTTP exchange with {shown} failed" + ("" if hint else f": {why}"), **kw)
            retryable = policy.on_timeout
        error.__cause__ = exc  # (said in our words; the library's own error kept beneath)
        if partly_sent:  # (a part of a request is none: sent again as after a failure to connect)
            error.notes = (*error.notes, PARTLY_SENT)
            error.partly_sent, retryable = True, policy.on_connect_error
        return self.again_or_raise(p, attempt, url, error, retryable, None, tried)

    def again_or_raise(self, p: Prepared, attempt: int, url: str, error: SendError, retryable: bool,
                       retry_after: float | None, tried: set[str], elsewhere: bool = False) -> Retry:
        """The next attempt, or the error raised. `elsewhere`: the MMSC took nothing and is
        unavailable, so an MMSC not tried yet gets the next attempt at once (its own Retry-After
        is no other MMSC's)."""
        if retryable and attempt < self.config.retry.max_attempts:
            other = self.fail_over_url(p, url, tried) if elsewhere else None
            if other is not None:
                return Retry(0.0, other, error)
            return Retry(self.config.retry.delay(attempt, retry_after, self.rng), url, error)
        return self.give_up(p, error)

    def give_up(self, p: Prepared, error: SendError):
        # Said in the error's words, or its sender sends it again under a new TransactionID, which
        # the MMSC cannot tell from the first. (The last attempt may have taken nothing — refused,
        # a 503 — or been refused in a Fault after an earlier one got no answer: the MMSC may have
        # that one.)
        peer = self.peer
        taken = f"{peer} may have taken it: TransactionID {printable(p.transaction_id)}"
        last = arrival(error)
        error.earlier_unanswered = p.unanswered
        error.answered_before = p.answered
        if p.unanswered and last != MAY_HAVE_ARRIVED:
            error.notes = (*error.notes, f"{EARLIER_UNANSWERED}: {taken}")
        elif last == MAY_HAVE_ARRIVED:
            error.notes = (*error.notes, taken)
        self.finish(p, error=error)
        raise error

    def exchange(self, msg: m.Message, transaction_id: str | None = None, tag: str | None = None,
                 records: list | None = None, prepared: Prepared | None = None, earlier_at: str | None = None,
                 deadline: float | None = None):
        """The whole request, attempts and waits included, as a generator of I/O to do.

        It yields `Post(url, prepared)` (send back `Answer(...)` or `Failure(kind, exc)`),
        `Sleep(seconds)` (send back None; a wait for a rate limit's turn cut short gives it back),
        `TakeTurn(limiter)` (send back its `Turn`) and `GiveBack(limiter, turn)` (send back None),
        and returns the `Result` (or raises the final error).
        The sync and async clients only carry these out. With `records`, the send's SentRecord is
        put there for the caller to write to the store, not written by the generator. `prepared`:
        `prepare(msg, transaction_id, tag)` done already (by the async client, off its event loop).
        `earlier_at`: `earlier_unanswered_at(transaction_id)`, read by the client. `deadline`
        (`time.monotonic()`'s): no attempt starts, and no pause before one, that could end after
        it (`sendonce.attempt_time`): the send ends with the last attempt's error instead, or, before
        the first, `NoTimeLeft`.
        """
        p = prepared or self.prepare(msg, transaction_id, tag)
        p.records = records
        url = None
        if earlier_at is not None:  # an earlier send of it got no answer: as if this were its next attempt
            url = next((u for u in self.config.urls if shown_url(u) == earlier_at), None) if earlier_at else None
            p.unanswered, p.unanswered_at = True, url or ""
            log.info("%s tid=%s: an earlier send of it got no answer%s: %s", p.message.ELEMENT,
                     printable(p.transaction_id), f" from {printable(earlier_at)}" if earlier_at else "",
                     "sent there again, the MMSC that may have it" if url else
                     "that MMSC is not configured now: sent as configured")
        url = url or self.first_url()
        tried: set[str] = set()
        attempt = 0
        last: SendError | None = None  # what the latest attempt ended with
        answer: Result | None = None  # (or the answer it got, a status worth trying again)
        unanswered = p.unanswered  # an attempt got no answer: the MMSC may have taken it
        while True:
            with self.between_attempts(p, attempt, url, unanswered, last):
                attempt += 1
                tried.add(url)
                limiter = self.limiters.get(url)
                turn = None if limiter is None else (yield from self.step(
                    TakeTurn(limiter), p, attempt - 1, url, "waiting to send to", unanswered, last))
                wait = 0.0 if turn is None else turn.wait
                if not self.in_time(deadline, wait, p):
                    if turn is not None:
                        yield from self.step(GiveBack(limiter, turn), p, attempt - 1, url, "waiting to send to",
                                             unanswered, last)
                    return self.out_of_time(p, last, answer, wait)
            if wait > 0:
                yield from self.step(Sleep(wait, (limiter, turn)), p, attempt - 1, url, "waiting to send to",
                                     unanswered, last)
            outcome = yield from self.step(Post(url, p), p, attempt, url, "waiting for the answer from", True, last,
                                           unanswered)
            p.unanswered = unanswered
            if isinstance(outcome, Failure):
                decision = self.on_transport_error(p, attempt, url, outcome.kind, outcome.error, tried, outcome.ran_out,
                                                   outcome.partly_sent)
            else:
                if log.isEnabledFor(logging.DEBUG):
                    dump(f"HTTP {outcome.status} from", url, dict(outcome.headers), outcome.body)
                decision = self.on_response(p, attempt, url, outcome.status, outcome.headers, outcome.body, tried)
            if isinstance(decision, Result):
                return decision
            last, answer = decision.error, decision.result
            # (a timeout, a connection lost after the request went out, a 500, a gateway's 502 or 504)
            if last is not None and may_have_arrived(last):
                unanswered, p.unanswered_at = True, url
            with self.between_attempts(p, attempt, decision.url, unanswered, last):
                if not self.in_time(deadline, decision.delay, p):
                    return self.out_of_time(p, last, answer)
                self.retried(p, attempt, decision)
            # (an answer, if only a Fault or an HTTP error: a send whose last attempt then met no MMSC
            # is still no "no MMSC answered")
            p.answered = p.answered or answer is not None or (last is not None and not no_mmsc_answered(last))
            if decision.delay:
                yield from self.step(Sleep(decision.delay), p, attempt, decision.url, "waiting to try again at",
                                     unanswered, last)
            url = decision.url

    @contextlib.contextmanager
    def between_attempts(self, p: Prepared, attempts: int, url: str, unanswered: bool, last: SendError | None):
        """A Ctrl-C or a cancellation between an attempt's end and the next step (its pause, its
        request) recorded as in that step: what the attempts so far may have delivered. (Not
        recorded, it read as "may have arrived", the answer-being-read case, after a refused
        connection that delivered nothing.) Before the first attempt the driver records it."""
        try:
            yield
        except GeneratorExit:  # (the generator let go by its driver: nothing to record)
            raise
        except BaseException as exc:
            if attempts and not isinstance(exc, Exception) and not hasattr(exc, "mm7_arrival"):
                self.interrupted(p, attempts, url, exc, "waiting to try again at", unanswered, last)
            raise

    def in_time(self, deadline: float | None, wait: float, p: Prepared) -> bool:
        """Whether an attempt of `p` after `wait` seconds can end by `deadline` (None: no deadline)."""
        return deadline is None or time.monotonic() + wait + attempt_time(self.config, p.http.length) <= deadline

    def out_of_time(self, p: Prepared, last: SendError | None, answer: Result | None, wait: float = 0.0) -> Result:
        """The end of a send with no time left for its next attempt: as after its last one, `last`
        raised (what the attempt before ended with), or `answer` given (the status it was answered
        with); before any attempt, `NoTimeLeft` raised (`wait`: the rate limit's wait before it)."""
        log.info("%s tid=%s: no time for %s attempt before the send's deadline", p.message.ELEMENT,
                 printable(p.transaction_id), "an" if last is None and answer is None else "another")
        if last is not None:
            self.give_up(p, last)
        if answer is None:
            raise NoTimeLeft(f"no time for an attempt of {p.message.ELEMENT} {p.transaction_id} before its deadline"
                             + (f" after the rate limit's wait of {wait:.1f} s" if wait > 0 else ""))
        self.finish(p, result=answer)
        return answer

    def step(self, action: Post | Sleep, p: Prepared, attempts: int, url: str, doing: str,
             may_have_arrived: bool, last: SendError | None, before: bool = False):
        """Yield `action`; a cancellation or Ctrl-C the client throws in while it is carried out is
        recorded (`interrupted`) and raised on. `before`: whether the MMSC may have the request
        from the attempts before this one (what a `NotSent` thrown in is recorded as)."""
        try:
            return (yield action)
        except GeneratorExit:
            raise
        except NotSent as unsent:
            self.interrupted(p, attempts - 1, url, unsent.interruption, "waiting to send to", before, last)
            raise unsent.interruption from None
        except PartlySent as cut:
            self.interrupted(p, attempts, url, cut.interruption, "sending to", before, last, partly_sent=True)
            raise cut.interruption from None
        except BaseException as exc:
            self.interrupted(p, attempts, url, exc, doing, may_have_arrived, last)
            raise

    def interrupted(self, p: Prepared, attempts: int, url: str, exc: BaseException, doing: str,
                    may_have_arrived: bool, last: SendError | None, partly_sent: bool = False) -> None:
        """A send cancelled or interrupted (`exc`, raised on to the caller) while `doing`: recorded
        and logged as what the MMSC may have, so a resend can use the same TransactionID.
        `partly_sent`: while its request went out, before its last byte did: recorded as not taken
        (`SendError.partly_sent`), unless an earlier attempt may have arrived. `exc` is marked with
        what was recorded (`arrival.interrupted_arrival`), for its caller to say."""
        exc.mm7_arrival = MAY_HAVE_ARRIVED if may_have_arrived else NOT_TAKEN  # type: ignore[attr-defined]
        exc.mm7_transaction_id = p.transaction_id  # type: ignore[attr-defined]  (one the caller did not choose: a tag's)
        if may_have_arrived:
            self.finish(p, error=SendInterrupted(
                f"{type(exc).__name__} while {doing} {shown_url(url)}: "
                f"{self.peer} may have taken it "
                f"(TransactionID {p.transaction_id})", transaction_id=p.transaction_id, url=shown_url(url),
                attempts=max(1, attempts)))
        elif partly_sent:
            error = SendInterrupted(f"{type(exc).__name__} while {doing} {shown_url(url)}, before the request's "
                                    f"last byte was written", transaction_id=p.transaction_id, url=shown_url(url),
                                    attempts=max(1, attempts))
            error.notes, error.partly_sent = (PARTLY_SENT,), True
            self.finish(p, error=error)
        elif last is not None:  # every attempt so far ended taken by nobody: as it failed
            self.finish(p, error=last)
        else:
            log.info("%s tid=%s: %s before it was sent", p.message.ELEMENT, printable(p.transaction_id),
                     type(exc).__name__)

    def retried(self, p: Prepared, attempt: int, decision: Retry) -> None:
        log.info("%s tid=%s attempt %d failed (%s); again in %.2f s at %s", p.message.ELEMENT,
                 printable(p.transaction_id), attempt, printable(decision.error or "retryable status"), decision.delay,
                 shown_url(decision.url))

    # -- records ----------------------------------------------------------------------------------

    def finish(self, p: Prepared, result: Result | None = None, error: SendError | None = None) -> None:
        elapsed = time.monotonic() - p.started
        status = result.status if result else (getattr(error, "status", None) if isinstance(error, FaultError) else None)
        # An MMSC refusing a message in a Fault (a blocked subscriber, a bad address) is as ordinary
        # as one refusing it in a response: INFO. A warning is for no usable answer, or its server error.
        refused = isinstance(error, FaultError) and status is not None and not 3000 <= status.code < 4000
        twice = result is not None and result.earlier_unanswered  # (the MMSC may have it twice)
        level = logging.INFO if (error is None and not twice) or refused else logging.WARNING
        if error is not None and self.failures_said_by_caller:
            level = logging.DEBUG
        if self.metrics is not None:
            ok = error is None and status is not None and status.is_success
            self.metrics.sent(p.message.ELEMENT, "ok" if ok else ("refused" if status is not None else "error"),
                              status.code if status else None,
                              result.attempts if result else getattr(error, "attempts", 1), elapsed,
                              earlier_unanswered=ok and twice)
        if self.store is None and not log.isEnabledFor(level):
            return  # nobody to tell
        msg = p.message
        recipients = [str(a) for a in getattr(msg, "recipients", None) or []]
        message_id = (result.message_id if result else None) or getattr(msg, "message_id", None) or getattr(
            msg, "cancel_id", None) or getattr(msg, "replace_id", None)
        # A report or read reply (an MMSC's) is about one recipient, and says what became of the message
        # there: those, not rcpt=0; and its record names that recipient, as a submit's names its own.
        about = getattr(msg, "recipient", None)
        info = {
            "operation": msg.ELEMENT, "transaction_id": p.transaction_id, "message_id": message_id,
            "recipients": len(recipients), "status": status.code if status else None,
            "attempts": result.attempts if result else getattr(error, "attempts", 1),
            "duration_ms": round(elapsed * 1000, 1), "url": result.url if result else getattr(error, "url", None),
            "error": type(error).__name__ if error else None, "earlier_unanswered": twice,
        }
        if about is not None:
            info["recipient"], info["mm_status"] = str(about), getattr(getattr(msg, "mm_status", None), "value", None)
        # (the line shows the MMSC's MessageID and words printable: a line break in them would forge a line;
        # the structured record keeps them as they are)
        said = {**info, "transaction_id": printable(p.transaction_id),
                "message_id": printable(message_id) if message_id is not None else None,
                "rcpt": f"rcpt={len(recipients)}" if about is None else
                f"recipient={printable(str(about))} mm_status={info['mm_status']}"}
        if error is None:
            log.log(level, "%(operation)s tid=%(transaction_id)s mid=%(message_id)s %(rcpt)s status=%(status)s "
                    "attempts=%(attempts)d %(duration_ms)sms" + (f" ({EARLIER_UNANSWERED}: the MMSC may have taken "
                                                                  "it twice)" if twice else ""),
                    said, extra={"mm7": info})
        elif refused:
            log.log(level, "%(operation)s tid=%(transaction_id)s %(rcpt)s refused in a Fault: "
                    "status=%(status)s attempts=%(attempts)d %(duration_ms)sms", said, extra={"mm7": info})
        else:
            log.log(level, "%(operation)s tid=%(transaction_id)s %(rcpt)s failed: %(error)s after "
                    "%(attempts)d attempt(s) %(duration_ms)sms: %(reason)s",
                    {**said, "reason": _shortened(str(error))}, extra={"mm7": info})
        if self.store is not None:
            (self._record if p.records is None else p.records.append)(SentRecord(
                transaction_id=p.transaction_id, operation=msg.ELEMENT,
                version=(result.version.name if result and result.version else str(self.config.profile.version)),
                recipients=recipients or ([str(about)] if about is not None else []), message_id=message_id,
                url=info["url"],
                status_code=status.code if status else None, status_text=status.text if status else None,
                error=f"{type(error).__name__}: {error}" if error else None, attempts=info["attempts"],
                linked_id=getattr(msg, "linked_id", None), tag=p.tag, earlier_unanswered=p.unanswered,
                outbox_item=getattr(_progress, "outbox_item", None),
                delivery_report=bool(msg.delivery_report) if hasattr(msg, "delivery_report") else None,
            ))

    def _record(self, rec: SentRecord) -> None:
        """Record what was sent. A store that fails here must not turn a message the MMSC took into
        an error: its sender would send it again. Logged instead, with what the record held: at
        ERROR as the trouble begins (a full disk, a locked file), the rest at DEBUG and counted, told
        in one WARNING once a record is written again — not an ERROR per message of a campaign's
        thousands, on the very disk that is full (each send's own line says how it ended)."""
        try:
            self.store.record_sent(rec)
        except STORE_ERRORS as exc:  # a full disk, a locked file: the operator's to fix, in one line
            said = f"{type(exc).__name__}: {exc}"
            begins = self._record_trouble.failed(said)
            log.log(logging.ERROR if begins else logging.DEBUG,
                    "%s tid=%s (status %s) could not be recorded in the store: %s%s", rec.operation,
                    printable(rec.transaction_id), rec.status_code, said,
                    "; further ones not recorded are counted, told once one is recorded again" if begins else "")
            return
        except Exception:  # noqa: BLE001 (whatever else: a bug's traceback)
            log.exception("%s tid=%s (status %s) could not be recorded in the store", rec.operation,
                          rec.transaction_id, rec.status_code)
            return
        ended = self._record_trouble.over()
        if ended is not None:
            log.warning("the store records sends again: %d not recorded over %.0f s while it could not (%s)",
                        ended.count, ended.seconds, ended.said)


def _unspoken_digest(challenge: str) -> str | None:
    """What of a 401's Digest challenges we could not answer (their algorithm, their qop), or None
    when one of them can be answered, or none is there."""
    if not challenge or DigestAnswer("", "").take(challenge):
        return None
    offered = digest_challenges(challenge)
    if not offered:
        return None
    said = {f"algorithm {c.get('algorithm', 'MD5')}" + (f", qop {c['qop']}" if "qop" in c else "") for c in offered}
    return " or ".join(sorted(said))


def transport_reason(exc: Exception) -> str:
    """What went wrong on the way, in words: the cause requests wraps (urllib3's, in a retry error),
    without the pool's name and address, which the message gives once already. (For a refused
    connection: "Failed to establish a new connection: [Errno 111] Connection refused", not three
    nested exceptions' texts.)"""
    import re  # noqa: PLC0415

    if _in_tls_handshake(exc) or _handshake_cut_off(exc):
        return "the TLS handshake got no answer within the connect timeout (an http port, not https?)"
    if type(exc).__name__ == "ProxyError" and type(exc).__module__.startswith("httpx"):
        return f"the proxy refused to connect us: {exc}"  # (httpx says only the proxy's status)
    lost = _lost_words(exc)
    if lost is not None:
        return lost
    if type(exc).__module__.startswith("httpx"):
        # (httpx says "All connection attempts failed" alone: the reason, refused or unreachable,
        # is in the error it wraps)
        import os  # noqa: PLC0415

        errno_error = next((e for e in tlsrefusal.chain(exc) if isinstance(e, OSError) and e.errno), None)
        if errno_error is not None and os.strerror(errno_error.errno) not in str(exc):
            said = f"[Errno {errno_error.errno}] {os.strerror(errno_error.errno)}"
            return f"{exc}: {said}" if str(exc) else said
    cause = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    cause = getattr(cause, "reason", None) or cause
    said = cause.args if isinstance(cause, BaseException) else ()
    if len(said) == 2 and isinstance(said[0], str) and isinstance(said[1], BaseException):
        # (urllib3's ("Connection aborted.", RemoteDisconnected(...)), said as the tuple it is)
        inner = str(said[1]).strip() or type(said[1]).__name__
        return said[0] if inner in said[0] else f"{said[0].rstrip('.')}: {inner}"
    return re.sub(r"^[A-Za-z]+\(host=[^)]*\): ", "", str(cause)) or type(cause).__name__


_HTTPX_CUT_SHORT = re.compile(r"peer closed connection without sending complete message body \(received (\d+) bytes, "
                              r"expected (\d+)\)")


def _lost_words(exc: BaseException) -> str | None:
    """A connection lost during the exchange said in our words, alike from either client (urllib3
    says "Connection broken: IncompleteRead(4 bytes read, 100 more expected)", httpx "peer closed
    connection without sending complete message body ..."); None for another failure. The
    libraries' exceptions stay chained under ours."""
    import http.client  # noqa: PLC0415

    if type(exc).__module__ == "builtins" and str(exc):  # (worded already: ours, `_unsent`'s, or the OS's)
        return None
    chain = list(tlsrefusal.chain(exc))
    for e in chain:
        if type(e).__name__ == "InvalidChunkLength":  # (an IncompleteRead to urllib3, its numbers the chunk's)
            return "the connection was lost with the answer cut short, inside its chunked body"
        if isinstance(e, http.client.IncompleteRead):
            came = e.partial if isinstance(e.partial, int) else len(e.partial)
            more = f", {e.expected} more were due" if e.expected else ""
            return f"the connection was lost with the answer cut short: {came} bytes of its body came{more}"
        if isinstance(e, http.client.RemoteDisconnected):
            return "the connection was closed without an answer"
        if type(e).__module__.startswith(("httpx", "httpcore", "h11")):
            said = str(e)
            cut = _HTTPX_CUT_SHORT.search(said)
            if cut:
                came, due = int(cut.group(1)), int(cut.group(2))
                return (f"the connection was lost with the answer cut short: {came} bytes of its body came, "
                        f"{due - came} more were due")
            if "incomplete chunked read" in said:
                return "the connection was lost with the answer cut short, inside its chunked body"
            if "Server disconnected without sending a response" in said:
                return "the connection was closed without an answer"
    for e in chain:  # urllib3's ("Connection broken: ...", cause) and ("Connection aborted.", cause)
        said = e.args if type(e).__module__.startswith("urllib3") else ()
        if len(said) == 2 and isinstance(said[0], str) and isinstance(said[1], BaseException):
            inner = str(said[1]).strip() or type(said[1]).__name__
            if said[0].startswith("Connection broken"):
                return f"the connection was lost with the answer cut short: {inner}"
            if said[0].startswith("Connection aborted"):
                return f"the connection was lost before an answer: {inner}"
    return None


def _in_tls_handshake(exc: BaseException) -> bool:
    """Whether a timeout happened in the TLS handshake: the ssl module's own error, which urllib3
    wraps in its read timeout, is somewhere in the chain."""
    return any("handshake operation timed out" in str(e) for e in tlsrefusal.chain(exc))


def _handshake_cut_off(exc: BaseException) -> bool:
    """httpx's TLS handshake that got no answer: a ConnectTimeout without words, over the timeout
    that cancelled the ssl module's handshake step (which the sync client's words name)."""
    return any(isinstance(e, TimeoutError) for e in tlsrefusal.chain(exc)) and _in_tls_handshake_step(exc)


def _never_connected(exc: Exception) -> bool:
    """Whether a requests ConnectionError happened before anything was sent (refused, no route, no
    name, TLS handshake), not after (the connection dropped while we waited for the answer)."""
    import requests  # noqa: PLC0415
    import urllib3  # noqa: PLC0415

    if isinstance(exc, requests.exceptions.SSLError):
        # A TLS error in the handshake, or a refusal of our certificate (in TLS 1.3 it comes after
        # the request went out, but the server's TLS layer passed nothing on); not one reading the
        # answer (a connection closed without TLS's goodbye: the MMSC may have the request).
        return _in_tls_handshake_step(exc) or tlsrefusal.certificate_alert(exc) is not None
    cause = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", cause)  # (urllib3's MaxRetryError wraps the cause)
    # urllib3 says ProxyError only before the proxy was reached (refused, timed out, its TLS).
    return isinstance(cause, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
                              urllib3.exceptions.ProxyError))


def lost(config: ClientConfig, url: str, exc: Exception, tls_context) -> Failure:  # noqa: ANN001
    """What an exchange that failed after its request may have gone out (`exc`) comes to: a failure
    to connect when the MMSC refused our TLS client certificate — said in an alert, or, when the
    alert was lost to the connection's reset (TLS 1.3), found by asking it again (`tls_context`
    gives the SSLContext; None: not asked) — for it never took the request; else "other" (it
    may have arrived)."""
    if tlsrefusal.certificate_alert(exc) is not None:
        return Failure("connect", exc)
    if tls_context is not None and _may_be_lost_refusal(config, url):
        try:
            context = tls_context()
        except (OSError, ValueError):  # (settings the session took and this does not: nothing asked)
            return Failure("other", exc)
        alert = tlsrefusal.refused_certificate(url, context, config.connect_timeout)
        if alert is not None:
            refused = tlsrefusal.CertificateRefused(alert)
            refused.__cause__ = exc
            return Failure("connect", refused)
    return Failure("other", exc)


def _partly_sent() -> bool:
    """Whether this thread's request began to go out and did not go out whole (the sync client)."""
    return _request_written() and not getattr(_progress, "whole", True)


def _partly(failure: Failure, partly_sent: bool) -> Failure:
    """`failure` (a connection lost) of a request that did not go out whole, if so: not one
    `lost` found to be a refusal of our TLS certificate (a failure to connect)."""
    return dataclasses.replace(failure, partly_sent=True) if partly_sent and failure.kind == "other" else failure


def _unsent(config: ClientConfig, url: str, exc: Exception, timed_out: bool) -> Failure:
    """A failure before any of the request was written: a failure to connect. (Through a proxy, one
    that never answers our CONNECT, or closes the connection without an answer: both HTTP libraries
    report a read timeout or a connection lost, as after a request.)"""
    if config.proxy is not None and urlsplit(url).scheme == "https":
        said = "did not answer" if timed_out else "closed the connection without answering"
        why: OSError = (TimeoutError if timed_out else ConnectionError)(
            f"the proxy {said} our tunnel request (CONNECT): nothing was sent"
            + ("" if timed_out else f" ({transport_reason(exc)})"))
    elif timed_out:
        why = TimeoutError(f"timed out before the request was sent: {transport_reason(exc)}")
    else:
        why = ConnectionError(f"failed before the request was sent: {transport_reason(exc)}")
    why.__cause__ = exc
    return Failure("connect", why)


def _may_be_lost_refusal(config: ClientConfig, url: str) -> bool:
    """Whether a lost connection to `url` may hide a refused client certificate we can ask about:
    over https, directly (through a proxy, the MMSC is not ours to reach)."""
    return urlsplit(url).scheme == "https" and config.proxy is None


def _in_tls_handshake_step(exc: BaseException) -> bool:
    """Whether the ssl module's error in `exc` came from the TLS handshake (nothing sent yet), not
    from a read or a write after it."""
    for e in tlsrefusal.chain(exc):
        tb = e.__traceback__ if isinstance(e, ssl.SSLError) else None
        while tb is not None:
            if tb.tb_frame.f_code.co_name == "do_handshake":
                return True
            tb = tb.tb_next
    return False


def _shortened(text: str, limit: int = 300) -> str:
    """An error's text for a log line: on one line, and not the whole of a library's nested causes."""
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fault_words(fault: Fault) -> str:
    """What a Fault says: its status, else its faultstring; then its status's Details and its
    detail's text, the MMSC's words beside or in place of them ("3001 Not possible (disk full)"),
    else its code alone. (faultstring and detail are read as sent: their white space is no words here.)"""
    status = fault.status
    said = f"{status.code} {status.text}" if status else fault.string.strip()
    details = _words(status.details or "") if status and status.details != status.text else ""
    beside = "; ".join(dict.fromkeys(w for w in (details, _words(fault.detail_text or "")) if w))
    if said and beside:
        return f"{said} ({beside})"
    return said or beside or f"a {fault.code} Fault without words"


def _words(text: str, limit: int = 200) -> str:
    """`text` on one line, its runs of white space one space (a stack trace's layout), cut at `limit`."""
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def dump(direction: str, url: str, headers: dict, body) -> None:
    """A request or answer at DEBUG level: headers (credentials masked) and the start of the body."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    log.debug("%s %s\n%s", direction, shown_url(url), shown_http(headers, body))


# ---------------------------------------------------------------------------------------------
# Operations shared by both clients


_R = TypeVar("_R")  # what `send` gives: a Result (Client), or a coroutine of one (AsyncClient)


def _given(msg: m.Message | Prepared, transaction_id: str | None,
           tag: str | None) -> tuple[Prepared | None, m.Message, str | None, str | None]:
    """What a send was given → (the request `prepare` made, or None; the message, its TransactionID
    and tag). A prepared request's own TransactionID and tag are the ones it goes with: others
    given beside them are refused, not sent under a TransactionID the body does not carry."""
    if not isinstance(msg, Prepared):
        return None, msg, transaction_id, tag
    if transaction_id_text(transaction_id) not in (None, msg.transaction_id) or tag not in (None, msg.tag):
        raise ValueError("a prepared request goes with the TransactionID and tag it was prepared with: "
                         "give them to prepare()")
    # (fresh for this send: what an earlier send of it noted is not this one's)
    p = dataclasses.replace(msg, started=time.monotonic(), records=None, unanswered=False, unanswered_at=None)
    return p, p.message, p.transaction_id, p.tag


class _Operations(Generic[_R]):
    """Message building for the five VASP operations; `send` is the client's own."""

    config: ClientConfig
    core: ClientCore

    def send(self, msg: m.Message | Prepared, *, transaction_id: str | None = None, tag: str | None = None) -> _R:
        raise NotImplementedError

    def prepare(self, msg: m.Message, *, transaction_id: str | None = None, tag: str | None = None) -> Prepared:
        """`msg` encoded as `send` would send it (the configured defaults filled in; `transaction_id` a
        new one when None), for a caller that needs its size first (`prepared.http.length`: a claim's
        lease counts its upload) without encoding it twice: `send(prepared)` sends these bytes (not
        by two sends at once: a large body is one stream). Raises `EncodeError` for a message that
        cannot be built."""
        return self.core.prepare(msg, transaction_id, tag)

    def _setup(self, urls, config: ClientConfig | None, store, sleep,  # noqa: ANN001
               settings: dict, metrics=None) -> ClientConfig:
        """The configuration from a URL, URLs, a ClientConfig or keyword settings; the shared core.
        URLs and settings given with a config apply over it, checked as the config checks them
        (they were dropped for the config's own)."""
        if isinstance(urls, ClientConfig):
            if config is not None:
                raise TypeError("a ClientConfig given twice: as the first argument and as config=")
            config, urls = urls, None
        if urls is not None:
            settings = {"urls": tuple([urls] if isinstance(urls, str) else urls), **settings}
        if config is None:
            config = ClientConfig(**{"urls": (), **settings})
        elif settings:
            config = dataclasses.replace(config, **settings)
        self.config = config
        self.core = ClientCore(config, store, metrics=metrics)
        self.sleep = sleep
        return config

    def submit(self, msg: m.SubmitReq, *, transaction_id: str | None = None, tag: str | None = None) -> _R:
        """Send a SubmitReq, as `send`."""
        return self.send(msg, transaction_id=transaction_id, tag=tag)

    def cancel(self, message_id: str | m.CancelReq, *, transaction_id: str | None = None,
               **fields: Any) -> _R:
        """Cancel a submitted message not yet delivered: a CancelReq, or one made from its MessageID
        and CancelReq's `fields`."""
        msg = message_id if isinstance(message_id, m.CancelReq) else m.CancelReq(message_id=message_id, **fields)
        return self.send(msg, transaction_id=transaction_id)

    def replace(self, message_id: str | m.ReplaceReq, content: Content | None = None, *,
                transaction_id: str | None = None, **fields: Any) -> _R:
        """Replace the content of a submitted message not yet retrieved: a ReplaceReq, or one made
        from its MessageID, the new `content` and ReplaceReq's `fields`."""
        msg = message_id if isinstance(message_id, m.ReplaceReq) else m.ReplaceReq(
            message_id=message_id, content=content, **fields)
        return self.send(msg, transaction_id=transaction_id)

    def extended_cancel(self, cancel_id: str | m.ExtendedCancelReq, *, transaction_id: str | None = None,
                        **fields: Any) -> _R:
        """As `cancel`, with an extendedCancelReq (REL-6-MM7-1-4 only)."""
        msg = cancel_id if isinstance(cancel_id, m.ExtendedCancelReq) else m.ExtendedCancelReq(cancel_id=cancel_id, **fields)
        return self.send(msg, transaction_id=transaction_id)

    def extended_replace(self, replace_id: str | m.ExtendedReplaceReq, content: Content | None = None, *,
                         transaction_id: str | None = None, **fields: Any) -> _R:
        """As `replace`, with an extendedReplaceReq (REL-6-MM7-1-4 only)."""
        msg = replace_id if isinstance(replace_id, m.ExtendedReplaceReq) else m.ExtendedReplaceReq(
            replace_id=replace_id, content=content, **fields)
        return self.send(msg, transaction_id=transaction_id)


# ---------------------------------------------------------------------------------------------
# Sync client over zeep's Transport


# `budget`: how long the head of the answer being read may take, whole, from the request's end
# (seconds): the time an upload takes is not the MMSC's (a large SubmitReq over a slow link timed
# out, answered). `at`: instead, when the answer must have come, whole (monotonic).
answer_deadline = threading.local()
# Whether this thread's request has begun to be written to the MMSC (or to a plain-http proxy that
# passes it on), and whether its wait for a pooled connection ended with a connection. Before the
# first byte (waiting for a connection, connecting, a proxy's tunnel, the TLS handshake) a
# failure or a Ctrl-C leaves nothing the MMSC could have taken.
_progress = threading.local()


def _request_written() -> bool:
    return getattr(_progress, "written", True)  # (unknown: as the request may have gone out)


# The most of a request written at once (a sendall): a Ctrl-C during a piece before the last
# leaves the request unsent whole, which the MMSC cannot take.
_WRITTEN_AT_ONCE = 64 * 1024


def _body_length(method=None, url=None, body=None, headers=None, **_) -> int:  # noqa: ANN001, ANN003
    """The length of a request's body as urllib3's `request` is given it (0 when unknown: its
    first write may hold its last byte)."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return len(body)
    for name, value in (headers or {}).items():
        if name.lower() == "content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _last_byte_handed() -> bool:
    """Whether this thread's request's last byte was handed to the connection: a write of it
    begun (which a Ctrl-C may end having written it all: a sendall checks for signals after its
    last write too). Before that, an interrupted request never goes out whole."""
    return getattr(_progress, "last_handed", True)  # (unknown: as if it had been)


class ending_pauses_at:
    """In this thread, while in the `with`, a pause between attempts ends once `stop` is set, and
    the send with it, as Ctrl-C ends a send (recorded as what the MMSC may have; KeyboardInterrupt
    raised): a bulk run's workers know no Ctrl-C, and one waiting out a 503's Retry-After of five
    minutes held the interrupted run that long. An exchange under way is not cut short."""

    def __init__(self, stop: threading.Event):
        self.stop = stop

    def __enter__(self) -> None:
        self.before, _progress.stop = getattr(_progress, "stop", None), self.stop

    def __exit__(self, *exc) -> None:
        _progress.stop = self.before


class sending_until:
    """In this thread, while in the `with`, a send starts no attempt, and no pause before one, that
    could end after `deadline` (`time.monotonic()`'s; every bound of an attempt counted:
    `sendonce.attempt_time`): it ends with its last attempt's error, as when its attempts are used
    up, or before any with `NoTimeLeft`. What holds an outbox's send within its lease."""

    def __init__(self, deadline: float):
        self.deadline = deadline

    def __enter__(self) -> None:
        self.before, _progress.until = getattr(_progress, "until", None), self.deadline

    def __exit__(self, *exc) -> None:
        _progress.until = self.before


class sending_for_item:
    """In this thread, while in the `with`, the store's records of what is sent name the outbox
    item (its id) it is sent for: the outbox tells an acceptance of the item's own from another
    request's under its TransactionID by it, whatever the clock said (`Outbox._taken_before`).
    With `round_robin`, the send starts at the item's own turn of the URLs (its id's), not the next
    one: a send cut short with no record of it (the process killed while the MMSC had the request)
    goes again, from the next process, to the MMSC that may have it, which can tell a repeat of
    its TransactionID — another MMSC delivered a second copy.
    `resume_at`: the MMSC (its URL as shown) an attempt of the item's last round went to, whose
    end was never recorded (its process killed): the send goes there first, as to one that may
    have it. `note_attempt(url)` is called before each attempt (its URL as configured), for the
    outbox to note where it goes (`OutboxItem.attempt_url`). (The `Client`'s alone: the outbox and
    campaigns send through one, an `AsyncClient` refused: `sendonce.blocking`.)"""

    def __init__(self, item_id: int, resume_at: str | None = None, note_attempt=None):  # noqa: ANN001
        self.item_id, self.resume_at, self.note_attempt = item_id, resume_at, note_attempt

    def __enter__(self) -> None:
        self.before = tuple(getattr(_progress, name, None) for name in ("outbox_item", "resume_at", "note_attempt"))
        _progress.outbox_item, _progress.resume_at, _progress.note_attempt = (
            self.item_id, self.resume_at, self.note_attempt)

    def __exit__(self, *exc) -> None:
        _progress.outbox_item, _progress.resume_at, _progress.note_attempt = self.before


class sending_claimed:
    """In this thread, while in the `with`, a send goes first to `resume_at` (the MMSC, its URL as
    shown, an attempt of an earlier holder of its claim went to, whose end was never recorded: its
    process killed), as to one that may have it, and `note_attempt(url)` is called before each
    attempt (its URL as configured), for the claim to note where it goes
    (`store.SendClaim.attempt_url`): what `sending_for_item` is to an outbox item, for a send
    claimed in the store (`mm7bind.sendonce`: a campaign's request, the send API's)."""

    def __init__(self, resume_at: str | None = None, note_attempt=None):  # noqa: ANN001
        self.resume_at, self.note_attempt = resume_at, note_attempt

    def __enter__(self) -> None:
        self.before = tuple(getattr(_progress, name, None) for name in ("resume_at", "note_attempt"))
        _progress.resume_at, _progress.note_attempt = self.resume_at, self.note_attempt

    def __exit__(self, *exc) -> None:
        _progress.resume_at, _progress.note_attempt = self.before


def _pause(sleep, seconds: float) -> None:
    """`sleep(seconds)` between attempts, ended by `ending_pauses_at`'s event."""
    stop = getattr(_progress, "stop", None)
    if stop is None:
        sleep(seconds)
        return
    if sleep is time.sleep:
        stopped = stop.wait(seconds)
    else:  # (an injected sleep, a test's, is called as it is: only the real one is a wait on the event)
        stopped = stop.is_set() or sleep(seconds) or stop.is_set()
    if stopped:
        raise KeyboardInterrupt


# The request's bytes the system holds not yet sent on a connection, at most (where it can be
# bounded: Linux, macOS): a write returns once most of it is on its way, not once it is in a
# socket buffer of megabytes, so the upload's bounds (`upload_timeout`, a write's `read_timeout`)
# see the link's pace, and the answer's `read_timeout` starts with the request sent, not queued.
UNSENT_AT_MOST = 128 * 1024
_SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, UNSENT_AT_MOST)] \
    if hasattr(socket, "TCP_NOTSENT_LOWAT") else []


class _HeadReader(DeadlineReader):
    """An answer's reader bounded by the head's deadline until `head_read()`. A deadline passing
    before any byte came is said as the read timeout it also is (no answer at all), not as a head
    begun and never ended."""

    got = False

    def _bounded(self, read, *args):  # noqa: ANN001, ANN002, ANN202
        try:
            out = super()._bounded(read, *args)
        except DeadlinePassed:
            if self.got:
                raise
            out = None  # (raised below, outside this handler: its chain must not hold the deadline)
        if out is None:
            raise TimeoutError("timed out")
        self.got = self.got or bool(out)
        return out

    def head_read(self) -> None:
        """The head came whole: the body is read within its own bound (`read_whole`)."""
        self._deadline = math.inf


class _DeadlineSocket:
    """A connection's socket as http.client sees it while reading an answer: its reads bounded."""

    def __init__(self, sock, deadline: float):  # noqa: ANN001
        self._sock, self._deadline = sock, deadline
        self.readers: list[_HeadReader] = []

    def makefile(self, mode: str = "rb", *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        self._sock._io_refs += 1  # (as socket.makefile: the socket outlives a close until this is closed)
        sock = self._sock
        reader = _HeadReader(socket.SocketIO(sock, "rb"), sock, sock.gettimeout(), self._deadline)
        self.readers.append(reader)
        return io.BufferedReader(reader)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._sock, name)


def adapter_class(idle_timeout: float | None = None):
    """requests' HTTPAdapter, its connections reading answers by `answer_deadline`, a connection
    idle for more than `idle_timeout` seconds closed when its turn comes (None: kept however long)."""
    import http.client  # noqa: PLC0415

    from requests.adapters import HTTPAdapter  # noqa: PLC0415
    from urllib3.connection import HTTPConnection, HTTPSConnection  # noqa: PLC0415
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool  # noqa: PLC0415

    import queue  # noqa: PLC0415

    from urllib3.exceptions import FullPoolError  # noqa: PLC0415

    def send(self, base, data):  # noqa: ANN001, ANN202
        if self.sock is None and self.auto_open:  # (as http.client would: connecting sends nothing)
            self.connect()
        if not self._mm7_tunnelling:  # (a proxy's CONNECT reaches no MMSC)
            _progress.written = True
            if isinstance(data, (bytes, bytearray, memoryview)) and len(data) > _WRITTEN_AT_ONCE:
                # (in pieces: a Ctrl-C before the last one's write leaves the request unsent whole)
                view = memoryview(data)
                for at in range(0, len(view), _WRITTEN_AT_ONCE):
                    written(self, base, view[at : at + _WRITTEN_AT_ONCE])
                return None
            return written(self, base, data)
        return base.send(self, data)

    def written(self, base, data):  # noqa: ANN001, ANN202
        """`data` of the request written to the MMSC (the head, or a piece of the body)."""
        _progress.handed = getattr(_progress, "handed", 0) + (
            len(data) if isinstance(data, (bytes, bytearray, memoryview)) else math.inf)
        # (the head counted with the body: said handed at most a head's length early, never late)
        if _progress.handed >= getattr(_progress, "body_length", 0):
            _progress.last_handed = True
        # Each write may wait for the MMSC to take more of the request up to the read timeout,
        # as httpx's writes do (urllib3 left the connect timeout on the socket for them), and
        # all of them together the upload timeout, from the request's first byte.
        send_timeout = getattr(_progress, "send_timeout", None)
        upload_timeout = getattr(_progress, "upload_timeout", None)
        if send_timeout is not None and self.sock is not None:
            if upload_timeout is None:
                self.sock.settimeout(send_timeout)
                return base.send(self, data)
            now = time.monotonic()
            by = _progress.upload_by = getattr(_progress, "upload_by", None) or now + upload_timeout
            slow = _SlowUpload(f"the request did not go out whole within {upload_timeout:g} s")
            if by <= now:
                raise slow
            self.sock.settimeout(min(send_timeout, by - now))  # (a sendall's timeout bounds it whole)
            try:
                return base.send(self, data)
            except TimeoutError as exc:
                if by - now < send_timeout:
                    raise slow from exc
                raise
        return base.send(self, data)

    def request(self, base, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        # (urllib3 passes over a connection reset while the request is written, to read an answer
        # the MMSC may have sent early: whether it went out whole is known here alone)
        _progress.whole, _progress.last_handed, _progress.handed = False, False, 0
        _progress.body_length = _body_length(*args, **kwargs)
        out = base.request(self, *args, **kwargs)
        _progress.whole = True
        return out

    def tunnel(self, base):  # noqa: ANN001, ANN202
        self._mm7_tunnelling = True
        try:
            return base._tunnel(self)
        finally:
            self._mm7_tunnelling = False

    def getresponse(self, base):  # noqa: ANN001, ANN202
        # (called once urllib3 has written the whole request: the answer's time starts here)
        # (`at`: a whole exchange's deadline of a caller's own, the forwarding handler's, which
        # bounds the body too)
        at, budget = getattr(answer_deadline, "at", None), getattr(answer_deadline, "budget", None)
        _progress.upload_by = None  # (the next request, a Digest challenge's answer, has its own upload)
        sock = self.sock
        if (at is None and budget is None) or sock is None:
            return base.getresponse(self)
        self.sock = bounded = _DeadlineSocket(sock, at if at is not None else time.monotonic() + budget)
        try:
            response = base.getresponse(self)
            if at is None:
                for reader in bounded.readers:
                    reader.head_read()
            return response
        finally:
            if self.sock is not None:  # (None: http.client closed it, the answer ending the connection)
                self.sock = sock

    class InterimSkipped(http.client.HTTPResponse):
        """http.client passes over 100 Continue only: a 102 Processing or 103 Early Hints was taken
        for the answer (an empty one), and the real answer, left on the kept-alive connection, for
        the next request's: its sender got another message's MessageID."""

        def _read_status(self):  # noqa: ANN202
            while True:
                version, status, reason = super()._read_status()
                if not 100 < status < 200 or status == 101:  # (100: http.client's own skip)
                    return version, status, reason
                http.client.parse_headers(self.fp)  # (its header fields: read, and passed over)

    class Connection(HTTPConnection):
        _mm7_tunnelling = False
        response_class = InterimSkipped

        def __init__(self, *args, **kwargs):  # noqa: ANN002, ANN003
            kwargs.setdefault("socket_options", [*HTTPConnection.default_socket_options, *_SOCKET_OPTIONS])
            super().__init__(*args, **kwargs)

        def request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return request(self, HTTPConnection, *args, **kwargs)

        def send(self, data):  # noqa: ANN001, ANN202
            return send(self, HTTPConnection, data)

        def _tunnel(self):  # noqa: ANN202
            return tunnel(self, HTTPConnection)

        def getresponse(self):  # noqa: ANN202
            return getresponse(self, HTTPConnection)

    class TLSConnection(HTTPSConnection):
        _mm7_tunnelling = False
        response_class = InterimSkipped

        def __init__(self, *args, **kwargs):  # noqa: ANN002, ANN003
            kwargs.setdefault("socket_options", [*HTTPSConnection.default_socket_options, *_SOCKET_OPTIONS])
            super().__init__(*args, **kwargs)

        def request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return request(self, HTTPSConnection, *args, **kwargs)

        def send(self, data):  # noqa: ANN001, ANN202
            return send(self, HTTPSConnection, data)

        def _tunnel(self):  # noqa: ANN202
            return tunnel(self, HTTPSConnection)

        def getresponse(self):  # noqa: ANN202
            return getresponse(self, HTTPSConnection)

    class Slots(queue.LifoQueue):
        """A pool's connection slots, noting that this thread's wait for one ended with one."""

        def _get(self):  # noqa: ANN202 (called with the queue's lock held, once a slot is there)
            _progress.slot = True
            return super()._get()

    def get_conn(self, base, timeout):  # noqa: ANN001, ANN202
        _progress.slot = False
        try:
            conn = base._get_conn(self, timeout)
        except BaseException:
            if not _progress.slot:  # (a Ctrl-C while waiting its turn: no slot was taken)
                _progress.unslotted = self
            raise
        since = getattr(conn, "mm7_idle_since", None)
        if idle_timeout is not None and since is not None and conn.sock is not None \
                and time.monotonic() - since > idle_timeout:
            # A NAT or firewall on the way forgets an idle connection without a word: a request on
            # it goes nowhere and waits out read_timeout, then goes again. (A connection the MMSC
            # closed is seen by urllib3 as dropped; this one looks alive.) Dialled again instead.
            log.debug("connection to %s idle %.0f s (idle_timeout %g s): closed, dialled again", self.host,
                      time.monotonic() - since, idle_timeout)
            conn.close()
        return conn

    def put_conn(self, base, conn):  # noqa: ANN001, ANN202
        # urllib3 gives back a slot whenever an exchange ends badly, even one interrupted while
        # waiting for a slot it never got: the pool then had a slot too many, and the next
        # connection given back raised FullPoolError in whichever thread gave it, failing a
        # request the MMSC had answered.
        if getattr(_progress, "unslotted", None) is self:
            _progress.unslotted = None
            if conn is not None:
                conn.close()
            return
        if conn is not None:
            conn.mm7_idle_since = time.monotonic()
        try:
            base._put_conn(self, conn)
        except FullPoolError:  # (closed by urllib3: one connection fewer kept, no answer lost)
            log.debug("connection pool to %s full: a connection closed", self.host)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection
        QueueCls = Slots

        def _get_conn(self, timeout=None):  # noqa: ANN001, ANN202
            return get_conn(self, HTTPConnectionPool, timeout)

        def _put_conn(self, conn):  # noqa: ANN001, ANN202
            return put_conn(self, HTTPConnectionPool, conn)

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConnection
        QueueCls = Slots

        def _get_conn(self, timeout=None):  # noqa: ANN001, ANN202
            return get_conn(self, HTTPSConnectionPool, timeout)

        def _put_conn(self, conn):  # noqa: ANN001, ANN202
            return put_conn(self, HTTPSConnectionPool, conn)

    pools = {"http": Pool, "https": TLSPool}

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy, **kwargs):  # noqa: ANN001, ANN003, ANN201
            manager = super().proxy_manager_for(proxy, **kwargs)
            manager.pool_classes_by_scheme = pools
            return manager

    return Adapter


def _transport_class():
    import requests  # noqa: PLC0415
    from requests.auth import HTTPBasicAuth  # noqa: PLC0415
    from requests.cookies import RequestsCookieJar, merge_cookies  # noqa: PLC0415
    from requests.structures import CaseInsensitiveDict  # noqa: PLC0415
    from requests.utils import check_header_validity, get_auth_from_url  # noqa: PLC0415
    import urllib3  # noqa: PLC0415
    from zeep.transports import Transport  # noqa: PLC0415

    class MM7Transport(Transport):
        """zeep's Transport, posting our bytes. Its own debug logging decodes bodies as UTF-8
        (binary MIME would fail) and ignores credentials; ours masks and truncates instead."""

        def __init__(self, *args, max_answer_bytes: int = 4 * 1024 * 1024,  # noqa: ANN002, ANN003
                     upload_timeout: float | None = None, upload_min_rate: float | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self._urls: dict[str, tuple[str, Any]] = {}
            self.max_answer_bytes, self.upload_timeout = max_answer_bytes, upload_timeout
            self.upload_min_rate = upload_min_rate

        def post(self, address, message, headers):  # noqa: ANN001, ANN201
            # Redirects are not followed: requests would repeat a POST answered 301/302 as a GET.
            session = self.session
            # The head of each answer (a Digest challenge's too) must come whole within the read
            # timeout of its request's end (see `adapter_class`).
            answer_deadline.budget = self.operation_timeout[1]
            _progress.written, _progress.unslotted, _progress.whole = False, None, False
            _progress.send_timeout = self.operation_timeout[1]
            _progress.upload_timeout, _progress.upload_by = self._upload_bound(message), None
            try:
                if type(message) is not bytes or session.trust_env or session.params:  # streams, environment, query
                    resp = session.post(address, data=message, headers=headers, timeout=self.operation_timeout,
                                        allow_redirects=False, stream=True,
                                        auth=self.known(address)[1] if session.auth is None else None)
                else:
                    resp = session.send(self.prepare(address, message, headers), timeout=self.operation_timeout,
                                        allow_redirects=False, proxies=session.proxies, stream=True)
            finally:
                answer_deadline.budget = None
                _progress.upload_timeout = _progress.upload_by = None  # (another session's request: unbounded)
            head = getattr(resp.raw, "_original_response", None)
            try:
                _check_head(list(head.msg.items()) if head is not None else list(resp.headers.items()))
            except AnswerHeadTooLarge:
                resp.close()  # (its body is not read: the connection goes with it)
                raise
            return self.read_whole(resp)

        def _upload_bound(self, message) -> float | None:  # noqa: ANN001
            """The bound on `message`'s whole upload: `upload_timeout`, longer for a large one
            (`sendonce.upload_time`)."""
            if self.upload_timeout is None:
                return None
            return upload_time(self, len(message) if isinstance(message, bytes) else getattr(message, "length", None))

        def read_whole(self, resp: requests.Response) -> requests.Response:
            """The answer's body, read within the read timeout as a whole: requests' own timeout is
            per read, so an MMSC trickling bytes would hold the send (and an outbox) indefinitely.
            At most `max_answer_bytes` of it (decompressed): an endless answer is not kept."""
            deadline = time.monotonic() + self.operation_timeout[1]
            read = getattr(resp.raw, "read1", resp.raw.read)  # (read1: what has come, not the whole amount)
            chunks, size = [], 0
            try:
                while (chunk := read(65536, decode_content=True)) and time.monotonic() <= deadline:
                    size += len(chunk)
                    if size > self.max_answer_bytes:
                        resp.close()  # (the rest is abandoned, with its connection)
                        raise AnswerTooLarge(self.max_answer_bytes)
                    chunks.append(chunk)
            except urllib3.exceptions.ReadTimeoutError as exc:  # mapped as requests maps them when it reads
                raise requests.exceptions.ReadTimeout(exc, response=resp) from exc
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                raise requests.exceptions.ConnectionError(exc, response=resp) from exc
            if chunk:  # the deadline passed first
                resp.close()  # (the rest is abandoned, with its connection)
                slow = _SlowAnswer(f"no whole answer within {self.operation_timeout[1]:g} s")
                raise requests.exceptions.ReadTimeout(slow, response=resp) from slow
            resp._content, resp._content_consumed = b"".join(chunks), True
            return resp

        def known(self, address: str) -> tuple[str, Any]:
            """`address` as requests normalises it, and Basic auth for the credentials in it (None:
            none), once per configured URL. Written in UTF-8, as RFC 7617 says and the async client
            writes them: requests writes them in Latin-1, and raised UnicodeEncodeError for a name
            or password beyond it."""
            known = self._urls.get(address)
            if known is None:
                p = requests.PreparedRequest()
                p.prepare_url(address, None)
                url_auth = get_auth_from_url(p.url)
                if len(self._urls) > 64:
                    self._urls.clear()
                known = self._urls[address] = (p.url, HTTPBasicAuth(*(part.encode("utf-8") for part in url_auth))
                                               if any(url_auth) else None)
            return known

        def prepare(self, address: str, body: bytes, headers: dict) -> requests.PreparedRequest:
            """The request `session.post(address, data=body, headers=headers)` would send, built
            directly: the same merged headers, cookies, hooks and auth, without requests' general
            preparation of every call (re-parsing the URL, copying cookie jars, checking what kind
            of body it got), which cost a small message's send about a fifth of its time."""
            session = self.session
            known = self.known(address)
            p = requests.PreparedRequest()
            p.method, p.url = "POST", known[0]
            merged = CaseInsensitiveDict(session.headers)
            for name, value in headers.items():
                if value is None:  # as requests merges: None removes a session header
                    merged.pop(name, None)
                else:
                    merged[name] = value
            for header in merged.items():
                check_header_validity(header)
            merged["Content-Length"] = str(len(body))
            p.headers, p.body = merged, body
            p.prepare_hooks(session.hooks)
            # Its own jar, as requests gives each request: redirects and Digest's resend extend it.
            p.prepare_cookies(merge_cookies(RequestsCookieJar(), session.cookies) if session.cookies
                              else RequestsCookieJar())
            auth = session.auth if session.auth is not None else known[1]
            if auth is not None:
                p.prepare_auth(auth)
            return p

    return MM7Transport


def _back_to_basic(mode: str, digest: DigestAnswer, challenge: str | None, answers: int) -> bool:
    """auto: whether a 401 with no Digest challenge to take, to a request signed with Digest, asks
    for Basic (an MMSC whose Digest was turned off): that request goes again with Basic, and the
    next ones too, until an MMSC asks for Digest again. (Else each send failed until a restart.)"""
    return mode == "auto" and not answers and digest.challenge is not None and any(
        scheme.lower() == "basic" for scheme, _ in auth_schemes(challenge or ""))


def _requests_auth(mode: str, username: str, password: str, qop: str | None = None):
    """requests' auth for `mode`. Digest is ours (requests' own answers qop=auth only, so an MMSC
    asking for auth-int got no answer); each thread keeps its own nonce and count, as requests does."""
    from requests.auth import AuthBase, HTTPBasicAuth  # noqa: PLC0415
    from requests.cookies import extract_cookies_to_jar  # noqa: PLC0415

    # (as bytes: requests writes str credentials in Latin-1, unlike httpx and RFC 7617's UTF-8)
    basic = HTTPBasicAuth(username.encode("utf-8"), password.encode("utf-8"))
    if mode == "basic":
        return basic
    local = threading.local()

    def answer() -> DigestAnswer:
        if getattr(local, "digest", None) is None:
            local.digest = DigestAnswer(username, password, qop)
        return local.digest

    def sign(r) -> bool:  # noqa: ANN001
        header = answer().authorization(r.method, r.path_url, r.body)
        if header is not None:
            r.headers["Authorization"] = header
        return header is not None

    class Digest(AuthBase):
        def __call__(self, r):  # noqa: ANN001, ANN204
            if not sign(r) and mode == "auto":
                r = basic(r)  # China Mobile's SDK: Basic until the MMSC asks for Digest
            r.register_hook("response", self.on_401)
            if hasattr(r.body, "seek"):
                r._mm7_pos = r.body.tell()  # where a stream body starts, to send it again
            return r

        def on_401(self, resp, **kwargs):  # noqa: ANN001, ANN003, ANN201
            for answers in range(2):  # one answer, and one more when the server only says the nonce aged
                challenge = resp.headers.get("WWW-Authenticate")
                if resp.status_code != 401 or (answers and not DigestAnswer.stale(challenge)):
                    return resp
                if answer().take(challenge):
                    signer = sign
                elif _back_to_basic(mode, answer(), challenge, answers):
                    local.digest, signer = None, basic
                else:
                    return resp
                request = resp.request
                resp.content  # noqa: B018 (read to the end, so the connection can be used again)
                resp.close()
                if hasattr(request.body, "seek"):
                    request.body.seek(request._mm7_pos)
                retry = request.copy()
                retry._mm7_pos = getattr(request, "_mm7_pos", 0)
                extract_cookies_to_jar(retry._cookies, request, resp.raw)
                retry.prepare_cookies(retry._cookies)
                signer(retry)
                answered = resp.connection.send(retry, **kwargs)
                answered.history.append(resp)
                answered.request = retry
                resp = answered
            return resp

    return Digest()


def _httpx_auth(mode: str, username: str, password: str, qop: str | None = None):
    import httpx  # noqa: PLC0415

    basic = httpx.BasicAuth(username, password)
    if mode == "basic":
        return basic
    # Answers no request in flight uses. Each request signs with one of its own, as each thread of
    # the sync client does: requests signed from one nonce and sent at once over several
    # connections arrive with their counts out of order, which an MMSC guarding against replays
    # refuses. (One event loop: no lock needed.)
    idle: list[DigestAnswer] = []

    class Digest(httpx.Auth):
        requires_request_body = True  # (auth-int signs it)

        def auth_flow(self, request):  # noqa: ANN001, ANN202
            digest = idle.pop() if idle else DigestAnswer(username, password, qop)
            try:
                yield from self.signed(request, digest)
            finally:
                idle.append(digest)

        def signed(self, request, digest: DigestAnswer):  # noqa: ANN001, ANN202
            target = request.url.raw_path.decode("ascii")
            header = digest.authorization(request.method, target, request.content)
            if header is not None:
                request.headers["Authorization"] = header
            elif mode == "auto":
                request = next(basic.auth_flow(request))
            response = yield request
            for answers in range(2):  # one answer, and one more when only the nonce aged
                challenge = response.headers.get("WWW-Authenticate")
                if response.status_code != 401 or (answers and not DigestAnswer.stale(challenge)):
                    return
                if digest.take(challenge):
                    request.headers["Authorization"] = digest.authorization(request.method, target,
                                                                            request.content)
                elif _back_to_basic(mode, digest, challenge, answers):
                    digest.challenge = None
                    request = next(basic.auth_flow(request))
                else:
                    return
                response = yield request

    return Digest()


@suggest_keywords
class Client(_Operations[Result]):
    """A blocking MM7 client. Thread-safe: one instance can serve many threads (one pool)."""

    def __init__(self, urls: str | tuple[str, ...] | ClientConfig | None = None, *, config: ClientConfig | None = None,
                 store=None, sleep=time.sleep, metrics=None, **settings: Any):
        import requests  # noqa: PLC0415

        config = self._setup(urls, config, store, sleep, settings, metrics)
        session = requests.Session()
        adapter = adapter_class(config.idle_timeout)(pool_connections=max(1, len(config.urls)),
                                                      pool_maxsize=config.pool_size,
                                   max_retries=0, pool_block=True)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = config.verify
        session.cert = config.cert
        session.trust_env = False  # proxies and netrc from the environment do not apply to MMSC links
        if config.proxy is not None:
            session.proxies = {"http": config.proxy, "https": config.proxy}
        if config.username is not None:
            session.auth = _requests_auth(config.auth, config.username, config.password or "",
                                          config.digest_qop)
        self.transport = _transport_class()(
            session=session, timeout=config.connect_timeout,
            operation_timeout=(config.connect_timeout, config.read_timeout),
            max_answer_bytes=config.max_answer_bytes, upload_timeout=config.upload_timeout,
            upload_min_rate=config.upload_min_rate,
        )
        self.session = session
        self._closed = False  # (close(): nothing more is sent, as the AsyncClient's aclose)
        self._tls = None  # (made when first needed: see `lost`)
        if isinstance(config.verify, str) or config.cert:
            # CA and certificate files read now: one missing or unreadable failed every send, as a
            # bare OSError (a refused connection, for one without a certificate in it), not here.
            self._tls = client_ssl_context(config.verify, config.cert)

    def send(self, msg: m.Message, *, transaction_id: str | None = None, tag: str | None = None) -> Result:
        """Send any request as built (an MMSC's, such as a DeliverReq, with `role="mmsc"`) → the
        `Result` of its MM7 response, whatever status it carries (`result.ok`,
        `raise_for_status()`). A Fault raises `FaultError`; no usable answer, another `SendError`
        (`ConnectError`, `RequestTimeout`, `HTTPStatusError`, `ProtocolError`); a message that
        cannot be built, `EncodeError`, before anything goes out. A VASP's request gets the
        configured VASPID, VASID, ServiceCode and SenderAddress where it has none.
        `transaction_id`: a new one when None; `tag`: recorded under it in the store (a campaign).
        `msg` may be what `prepare` made: sent as it was encoded there (its TransactionID and tag)."""
        prepared, msg, transaction_id, tag = _given(msg, transaction_id, tag)
        earlier_at = self.core.earlier_unanswered_at(transaction_id)
        steps = self.core.exchange(msg, transaction_id, tag, earlier_at=earlier_at,
                                   deadline=getattr(_progress, "until", None), prepared=prepared)
        reply = None
        posted = False
        while True:
            try:
                action = steps.send(reply)
            except StopIteration as done:
                return done.value
            except BaseException as exc:
                if not posted and not isinstance(exc, Exception) and not hasattr(exc, "mm7_arrival"):
                    exc.mm7_arrival = NOT_TAKEN  # type: ignore[attr-defined]  (while it was encoded: nothing went out)
                raise
            if isinstance(action, Post) and self._closed:
                # (requests' session, closed, dialled anew: a closed client went on sending. A
                # first attempt, or a retry: recorded as the attempts before it ended.)
                steps.throw(NotSent(RuntimeError("the Client is closed: nothing more is sent")))
                raise AssertionError("unreachable")  # pragma: no cover (the core raises the RuntimeError)
            posted = posted or isinstance(action, Post)
            if isinstance(action, Post) and getattr(_progress, "note_attempt", None) is not None:
                _progress.note_attempt(action.url)  # (an outbox item's: where it goes, noted before it goes)
            try:
                if isinstance(action, Sleep):
                    _pause(self.sleep, action.seconds)
                    reply = None
                elif isinstance(action, TakeTurn):
                    reply = action.limiter.take()
                elif isinstance(action, GiveBack):
                    reply = action.limiter.give_back(action.turn)
                else:
                    reply = self._post(action.url, action.prepared)
            except BaseException as exc:
                try:
                    if not isinstance(exc, Exception):  # Ctrl-C: the core records what the MMSC may have, raises it on
                        # (before any of the request was written: waiting for a pooled connection,
                        # connecting: the MMSC has nothing of this attempt; before its last byte was:
                        # a part of it, which it cannot take)
                        if isinstance(action, Post) and not _request_written():
                            exc = NotSent(exc)
                        elif isinstance(action, Post) and not _last_byte_handed():
                            exc = PartlySent(exc)
                        steps.throw(exc)
                finally:  # (a wait for a turn cut short, an outbox's stop: its send not made, the turn unused)
                    if isinstance(action, Sleep) and action.turn is not None:
                        action.turn[0].give_back(action.turn[1])
                raise

    def _post(self, url: str, p: Prepared) -> Answer | Failure:
        import requests  # noqa: PLC0415

        _progress.written = False  # (a Ctrl-C from here until the first byte goes out: nothing sent)
        body = self.core.body(p)
        dump("POST", url, p.headers, body)
        try:
            resp = self.transport.post(url, body, p.headers)
        except AnswerTooLarge as exc:
            return Failure("too-large", exc)
        except requests.exceptions.ConnectTimeout as exc:
            return Failure("connect", exc, ran_out="connect")
        except requests.exceptions.ConnectionError as exc:
            over = _head_over_limit(exc)
            if over is not None:
                over.__cause__ = exc
                return Failure("too-large", over)
            # requests says ConnectionError also when the connection dropped after the request went
            # out: then the MMSC may have it, and only the same MMSC can tell a repeat.
            if _never_connected(exc):
                return Failure("connect", exc)
            if not _request_written():
                return _unsent(self.config, url, exc, timed_out=False)
            timeouts = [e for e in tlsrefusal.chain(exc) if isinstance(e, TimeoutError)]
            if timeouts:  # (a write that timed out, or the upload as a whole)
                return Failure("timeout", exc, ran_out="upload" if any(isinstance(e, _SlowUpload) for e in timeouts)
                               else "send", partly_sent=_partly_sent())
            return _partly(lost(self.config, url, exc, self._tls_context), _partly_sent())
        except requests.exceptions.Timeout as exc:
            # urllib3 reports a TLS handshake that never completes (https to a plain-http port), and
            # a proxy that never answers our CONNECT, as read timeouts: nothing was sent, so it is
            # a failure to connect, as httpx has the first.
            if _in_tls_handshake(exc):
                return Failure("connect", exc)
            if not _request_written():
                return _unsent(self.config, url, exc, timed_out=True)
            return Failure("timeout", exc, ran_out=_answer_ran_out(exc), partly_sent=_partly_sent())
        except (*_url_refusals(), requests.exceptions.InvalidURL) as exc:
            # (a host `is_http_url` took and the HTTP library or the resolver did not: nothing was
            # sent, not "the MMSC may have it"; urllib3's own error no more let out of send)
            if not _request_written():
                return _unsent(self.config, url, exc, timed_out=False)
            if isinstance(exc, requests.exceptions.RequestException):
                return Failure("other", exc)
            raise
        except requests.exceptions.RequestException as exc:
            return Failure("other", exc)
        return Answer(resp.status_code, resp.headers, resp.content)

    def _tls_context(self):  # noqa: ANN202
        """The session's TLS settings as an SSLContext (to ask an MMSC about our certificate)."""
        if self._tls is None:
            self._tls = client_ssl_context(self.config.verify, self.config.cert)
        return self._tls

    def close(self) -> None:
        """Send nothing more (a send, or a retry, after it is a RuntimeError, as the AsyncClient's),
        and close the pooled connections (the end of a `with` block does). Requests on their way
        in other threads end with their answers."""
        self._closed = True
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Async client over zeep's AsyncTransport (httpx)


class TLSFileError(ValueError):
    """A CA or client-certificate file that cannot be used: `setting` ("verify" or "cert") says
    which, `why` what is wrong with it (the two the message joins)."""

    def __init__(self, setting: str, why: str):
        super().__init__(f"{setting}: {why}")
        self.setting, self.why = setting, why


def client_ssl_context(verify: bool | str, cert: str | tuple[str, str] | None):
    """The TLS settings as an SSLContext for httpx, as requests reads them: certifi's CAs, none, or
    a CA file or directory; and the client certificate. (httpx 0.28 ignores `cert=` when `verify`
    is a path, so a mutual-TLS MMSC saw no client certificate.)"""
    import os  # noqa: PLC0415
    import ssl  # noqa: PLC0415

    if verify is False:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif verify is True:
        import certifi  # noqa: PLC0415 (httpx's own dependency)

        ctx = ssl.create_default_context(cafile=certifi.where())
    else:
        try:
            ctx = ssl.create_default_context(**{"capath" if os.path.isdir(verify) else "cafile": verify})
        except OSError as exc:  # (no such file, no certificate in it: the ssl module names neither it nor the setting)
            why = f"cannot read CA certificates from {verify!r}: {exc.strerror or exc}"
            raise TLSFileError("verify", why) from exc
    if cert:
        try:
            ctx.load_cert_chain(*((cert,) if isinstance(cert, str) else cert))
        except OSError as exc:
            why = f"cannot load the client certificate {cert!r}: {exc.strerror or exc}"
            raise TLSFileError("cert", why) from exc
    return ctx


_INFLATED = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


async def _inflated(resp, coding: str, step: int = 65536):  # noqa: ANN001
    """A gzip or deflate answer's bytes, inflated at most `step` at a time: httpx inflates each
    network read whole, and 64 KiB of a gzip bomb is 64 MiB, held before max_answer_bytes counts
    it. A gzip answer of several members is read whole, as urllib3 reads it for the other client;
    what follows the last one (padding, junk) is passed over, as there. (Other codings are left to
    httpx.)"""
    import httpx  # noqa: PLC0415

    gzip = coding != "deflate"
    inflater, first, later_member = zlib.decompressobj(_INFLATED[coding]), not gzip, False
    async for data in resp.aiter_raw():
        while data and inflater is not None:
            try:
                out = inflater.decompress(data, step)
            except zlib.error as exc:
                if first:  # deflate without its zlib wrapper, as some servers write it (httpx takes both)
                    inflater, first = zlib.decompressobj(-zlib.MAX_WBITS), False
                    continue
                if later_member:  # no gzip after a whole member: the rest is read and passed over
                    inflater = None
                    break
                raise httpx.DecodingError(f"cannot inflate the {coding} answer: {exc}",
                                          request=resp.request) from exc
            first, data = False, inflater.unconsumed_tail
            if out:
                yield out
            if gzip and inflater.eof:  # the next member, if any, begins in what this one left
                # (its unused_data alone: after a call that met the step, unconsumed_tail still holds
                # the same bytes, and the next member was inflated twice)
                data, inflater, later_member = inflater.unused_data, zlib.decompressobj(_INFLATED[coding]), True


def _as_sent(headers) -> dict[str, str]:
    """An httpx answer's headers under the names the MMSC gave them, a repeated one's values joined
    (as requests has them): httpx's own mapping lowercases every name, and an HTTPStatusError's
    `headers["Retry-After"]` found nothing."""
    joined: dict[str, str] = {}
    names: dict[str, str] = {}
    for raw_name, raw_value in headers.raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode(headers.encoding)
        first = names.setdefault(name.lower(), name)
        joined[first] = f"{joined[first]}, {value}" if first in joined else value
    return joined


async def _given_back(limiter: RateLimiter | SharedRateLimiter, turn: Turn) -> None:
    """`limiter.give_back(turn)`, in a worker thread where it writes a store (waiting up to
    `store.RATE_WAIT` for its lock): on the event loop, every other task would wait with it."""
    if limiter.writes_store:
        await asyncio.to_thread(limiter.give_back, turn)
    else:
        limiter.give_back(turn)


async def _take_turn(limiter: RateLimiter | SharedRateLimiter) -> Turn:
    """`limiter.take()`, off the event loop as `_given_back`. Cancelled meanwhile, the turn its
    worker thread takes all the same (the thread cannot be stopped; its write ends, and lets the
    store's lock go, as it would) is given back once taken, by that thread (`_TurnTaking`)."""
    if not limiter.writes_store:
        return limiter.take()
    taking = _TurnTaking(limiter)
    # (a future, not a task: asyncio.run's end, which cancels the tasks left, lets it end)
    taken = asyncio.get_running_loop().run_in_executor(None, taking.take)
    try:
        return await taken
    except asyncio.CancelledError:
        turn = taking.give_up()
        if turn is not None:  # (taken, its result not yet here: given back as a cancelled wait's)
            _give_back_meanwhile(limiter, turn)
        raise


class _TurnTaking:
    """A turn taken in a worker thread for a send that may be cancelled meanwhile. The thread
    gives back a turn taken after the cancellation itself: a callback on its future ran on the
    event loop, which may be closed by then (an `asyncio.run` interrupted, a loop closed without
    waiting for its worker threads), and the turn was lost, the other senders waiting one more."""

    def __init__(self, limiter: RateLimiter | SharedRateLimiter):
        self.limiter = limiter
        self._lock = threading.Lock()  # (the send gets the turn, or the thread gives it back: one of them)
        self._turn: Turn | None = None
        self._given_up = False

    def take(self) -> Turn | None:
        """In the worker thread: the turn, or None, given back, its send cancelled meanwhile."""
        turn = self.limiter.take()
        with self._lock:
            if not self._given_up:
                self._turn = turn
                return turn
        self.limiter.give_back(turn)
        return None

    def give_up(self) -> Turn | None:
        """On the event loop, the send cancelled: the turn already taken (the caller's to give
        back), or None, the thread to give back the one it takes."""
        with self._lock:
            self._given_up = True
            return self._turn


def _give_back_meanwhile(limiter: RateLimiter | SharedRateLimiter, turn: Turn) -> None:
    """Give `turn` back to `limiter`, its send cancelled, the cancellation not held up by it: in a
    worker thread not waited for where it writes a store (or, asyncio.run ending, its worker threads
    shut, no task left to hold up, here)."""
    if not limiter.writes_store:
        limiter.give_back(turn)
        return
    try:
        asyncio.get_running_loop().run_in_executor(None, limiter.give_back, turn)
    except RuntimeError:  # ("Executor shutdown has been called": asyncio.run ending)
        limiter.give_back(turn)


@suggest_keywords
class AsyncClient(_Operations[Coroutine[Any, Any, Result]]):
    """The same client for asyncio: `await client.submit(msg)`."""

    def __init__(self, urls: str | tuple[str, ...] | ClientConfig | None = None, *, config: ClientConfig | None = None,
                 store=None, sleep=asyncio.sleep, metrics=None, **settings: Any):
        try:
            import httpx  # noqa: PLC0415
        except ImportError as exc:  # (an optional dependency: say how to get it)
            raise ImportError("AsyncClient needs httpx: pip install 'mm7bind[async]'", name=exc.name) from exc
        from zeep.transports import AsyncTransport  # noqa: PLC0415

        config = self._setup(urls, config, store, sleep, settings, metrics)
        auth = None
        if config.username is not None:
            auth = _httpx_auth(config.auth, config.username, config.password or "", config.digest_qop)
        verify = self._tls = client_ssl_context(config.verify, config.cert)
        # (a transport of our own: the socket options, `UNSENT_AT_MOST`, are its to give)
        connections = httpx.Limits(max_connections=config.pool_size * len(config.urls),
                                   max_keepalive_connections=config.pool_size * len(config.urls),
                                   keepalive_expiry=config.idle_timeout)
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout), auth=auth, trust_env=False,
            transport=httpx.AsyncHTTPTransport(verify=verify, limits=connections, trust_env=False, proxy=config.proxy,
                                               socket_options=_SOCKET_OPTIONS or None),
        )
        self.transport = AsyncTransport(client=self.http)
        # pool_size exchanges per MMSC at a time; the others wait here, before their timeouts start
        # (httpx counts a wait for a pooled connection against them: a RequestTimeout never sent).
        # (by origin, as requests pools them: two URLs of one MMSC share its pool_size)
        self._slots: dict[tuple, asyncio.Semaphore] = {}
        self._exchanges = 0  # requests on their way (aclose lets them end)
        self._closing = False
        self._no_exchange = asyncio.Event()
        self._no_exchange.set()
        self._loop: asyncio.AbstractEventLoop | None = None  # the one it first sent on (see _on_its_loop)

    def _on_its_loop(self, doing: str) -> None:
        """Refuse to go on from another event loop than the one it first sent on, whose are its
        connections and turns: one AsyncClient kept across `asyncio.run`s (a test fixture's) failed
        there with httpcore's "Event loop is closed", its close as well."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            first = "first sent on (since closed)" if self._loop.is_closed() else "first sent on"
            raise RuntimeError(f"this AsyncClient cannot {doing} from another event loop than the one it {first}: "
                               "its connections are that loop's. Make the AsyncClient in the coroutine that uses "
                               "it (async with AsyncClient(...) inside asyncio.run), one for each event loop")

    async def send(self, msg: m.Message, *, transaction_id: str | None = None, tag: str | None = None) -> Result:
        """`Client.send`, awaited: any request as built → the `Result` of its MM7 response; a
        Fault raises `FaultError`, no usable answer another `SendError`, a message that cannot be
        built `EncodeError`, before anything goes out; `msg` may be what `prepare` made."""
        self._on_its_loop("send")
        records: list[SentRecord] = []
        prepared, msg, transaction_id, tag = _given(msg, transaction_id, tag)
        content = getattr(msg, "content", None)
        if prepared is None and isinstance(content, Content) and content.total_size > STREAM_ABOVE:
            # Encoding a large message (its files read, MIME written) on the event loop would stop
            # every other task on it meanwhile: a worker thread does it. (Small ones: not worth a
            # thread.)
            prepared = await asyncio.to_thread(self.core.prepare, msg, transaction_id, tag)
        earlier_at = None
        if self.core.store is not None and transaction_id is not None:  # (a store read: off the event loop)
            try:
                earlier_at = await asyncio.to_thread(self.core.earlier_unanswered_at, transaction_id)
            except asyncio.CancelledError as exc:  # (as the core says it of one cancelled before its first byte)
                log.info("%s tid=%s: %s before it was sent", getattr(msg, "ELEMENT", type(msg).__name__),
                         printable(transaction_id), type(exc).__name__)
                raise
        steps = self.core.exchange(msg, transaction_id, tag, records, prepared, earlier_at)
        reply = None
        try:
            while True:
                try:
                    action = steps.send(reply)
                except StopIteration as done:
                    return done.value
                try:
                    if isinstance(action, Sleep):
                        await self.sleep(action.seconds)
                        reply = None
                    elif isinstance(action, TakeTurn):
                        reply = await _take_turn(action.limiter)
                    elif isinstance(action, GiveBack):
                        reply = await _given_back(action.limiter, action.turn)
                    else:
                        reply = await self._post(action.url, action.prepared)
                except BaseException as exc:
                    try:
                        if not isinstance(exc, Exception):  # cancelled: the core records what the MMSC may have, raises it on
                            steps.throw(exc)
                    finally:  # (a wait for a turn cancelled: its send not made, the turn unused)
                        if isinstance(action, Sleep) and action.turn is not None:
                            _give_back_meanwhile(*action.turn)
                    raise
        finally:
            # Written before the outcome is told, as the sync client does, but from a worker thread:
            # a store write waits for the disk, and for a lock another program holds (seconds): on
            # the event loop, every other task (sends timing out meanwhile) would wait with it.
            for rec in records:
                await asyncio.to_thread(self.core._record, rec)

    async def _post(self, url: str, p: Prepared) -> Answer | Failure:
        import httpx  # noqa: PLC0415

        # httpx replays bytes for Digest; streams it cannot. (A large body joined, its files read,
        # in a worker thread: not on the event loop.)
        if p.http.length <= STREAM_ABOVE:
            body = p.http.to_bytes()
        else:
            try:
                body = await asyncio.to_thread(p.http.to_bytes)
            except asyncio.CancelledError as exc:  # (nothing of it went out)
                raise NotSent(exc) from None
        dump("POST", url, p.headers, body)
        origin = _origin(url)
        slot = self._slots.get(origin) or self._slots.setdefault(origin, asyncio.Semaphore(self.config.pool_size))
        try:
            await slot.acquire()
        except asyncio.CancelledError as exc:  # (while waiting its turn: nothing of it went out)
            raise NotSent(exc) from None
        if self._closing:  # (a first attempt, or a retry: recorded as the attempts before it ended)
            slot.release()
            raise NotSent(RuntimeError("the AsyncClient is closed: nothing more is sent"))
        written: list[bool] = []  # (filled once the request begins to go out: see `_exchange`)
        last: list[bool] = []  # (once its last piece is handed to the connection)
        whole: list[bool] = []  # (and once it went out whole, its last byte written)
        try:
            self._exchanges += 1
            self._no_exchange.clear()
            try:
                return await self._exchange(url, body, p.headers, written, whole, last)
            finally:
                slot.release()
                self._exchanges -= 1
                if not self._exchanges:
                    self._no_exchange.set()
        except asyncio.CancelledError as exc:
            if not written:  # (connecting, a proxy's tunnel, the TLS handshake: the MMSC has nothing)
                raise NotSent(exc) from None
            # (its last piece never handed to the connection: what was is at most a part of the
            # request, whatever of it the closed connection still delivers)
            if not last:
                raise PartlySent(exc) from None
            raise
        except AnswerTooLarge as exc:
            return Failure("too-large", exc)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
            # (ProxyError: the proxy refused the tunnel to the MMSC, as requests' ProxyError says)
            return Failure("connect", exc, ran_out="connect" if isinstance(exc, httpx.ConnectTimeout) else None)
        except (*_url_refusals(), httpx.InvalidURL) as exc:  # (as the sync client's)
            if not written:
                return _unsent(self.config, url, exc, timed_out=False)
            raise
        except (httpx.TimeoutException, asyncio.TimeoutError) as exc:
            # (httpx says ReadTimeout for a proxy that never answers our CONNECT: nothing was sent)
            if not written:
                return _unsent(self.config, url, exc, timed_out=True)
            which = "body" if isinstance(exc, _SlowAnswer) else "upload" if isinstance(exc, _SlowUpload) \
                else "send" if isinstance(exc, httpx.WriteTimeout) \
                else "answer" if isinstance(exc, httpx.TimeoutException) else "exchange"  # (the head's bound ran out)
            return Failure("timeout", exc, ran_out=which, partly_sent=not whole)
        except (httpx.HTTPError, OSError) as exc:  # (OSError: a TLS alert read after the request went
            # out reaches us unwrapped by httpx)
            over = _head_over_limit(exc) if written else None
            if over is not None:
                over.__cause__ = exc
                return Failure("too-large", over)
            if not written:
                return _unsent(self.config, url, exc, timed_out=False)
            # (an MMSC that answers early and resets the connection: httpcore reads no answer after
            # a write failed, the event loop having stopped reading the connection)
            return _partly(await asyncio.to_thread(lost, self.config, url, exc, lambda: self._tls), not whole)

    async def _exchange(self, url: str, body: bytes, headers: dict, written: list[bool], whole: list[bool],
                        last: list[bool]) -> Answer:
        """POST and read at most `max_answer_bytes` of the answer (zeep's `AsyncTransport.post`
        reads it whole, however long it goes on). `written` gets an item once the request begins
        to be written to the MMSC (or to a plain-http proxy passing it on; not a tunnel's CONNECT),
        `last` once its last piece is handed to httpx to write, `whole` once its last byte was
        written (both emptied as the next begins: a Digest challenge's answer)."""
        import httpx  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        # The answer's head must come whole within the read timeout of the request's end (a
        # Digest challenge's too): the time an upload takes is not the MMSC's. httpx's timeouts
        # are per read, and a head trickling in met none. Before that, the same bound is the
        # upload's, whole (httpx's write timeout is per write).
        head_bound = asyncio.timeout(None)
        uploading = False
        upload_bound = upload_time(self.config, len(body))

        # (whether the MMSC wrote anything toward the head: when the head's bound runs out together
        # with httpx's read timeout, as when the event loop was held up past both, a silent MMSC is
        # still said as one)
        seen = [False, 0]
        counted = _answer_reads.set(seen)

        async def trace(event: str, info: dict) -> None:
            nonlocal uploading
            if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
                _count_reads(info.get("return_value"))
            elif event.endswith(".receive_response_headers.started"):
                seen[:] = [False, 0]
            if event.endswith(".send_request_headers.started") and info["request"].method != b"CONNECT":
                written.append(True)
                whole.clear()
                last.clear()
                uploading = True
                head_bound.reschedule(loop.time() + upload_bound)
            elif event.endswith(".send_request_body.complete"):
                whole.append(True)
                uploading = False
                # (a little after httpx's own read timeout, which says a silent MMSC's: no answer
                # at all, not a head begun and never ended)
                head_bound.reschedule(loop.time() + self.config.read_timeout + 0.05)
            elif event.endswith(".receive_response_headers.complete"):
                head_bound.reschedule(None)

        url, auth = self._credentials_apart(url)
        request = self.http.build_request("POST", url, content=body, headers=headers, extensions={"trace": trace})
        # Written a piece at a time, each write under the write timeout (as the sync client's): in
        # one, httpx bounded the whole upload of a large message by it. (Iterable again: a Digest
        # challenge's answer sends it once more.)
        request.stream = _pieces_class()(body, last=last)
        try:
            async with head_bound:
                resp = await self.http.send(request, stream=True, auth=auth)
        except TimeoutError as exc:
            if head_bound.expired() and uploading:
                raise _SlowUpload(f"the request did not go out whole within {upload_bound:g} s") from exc
            if head_bound.expired() and seen[0] and not seen[1]:
                raise httpx.ReadTimeout(f"no answer within {self.config.read_timeout:g} s", request=request) from exc
            if head_bound.expired():
                raise _SlowHead(f"no whole answer head within {self.config.read_timeout:g} s of the request "
                                "sent") from exc
            raise
        finally:
            _answer_reads.reset(counted)
        limit, chunks, size = self.config.max_answer_bytes, [], 0
        try:
            _check_head(resp.headers.raw)
            coding = resp.headers.get("content-encoding", "").strip().lower()
            pieces = _inflated(resp, coding) if coding in _INFLATED else resp.aiter_bytes()
            try:
                # (the body whole within the read timeout, as the sync client reads it: httpx's
                # timeout is per read, and an MMSC trickling bytes met only the exchange's bound)
                async with asyncio.timeout(self.config.read_timeout):
                    async for chunk in pieces:
                        size += len(chunk)
                        if size > limit:
                            raise AnswerTooLarge(limit)
                        chunks.append(chunk)
            except TimeoutError as exc:
                raise _SlowAnswer(f"no whole answer within {self.config.read_timeout:g} s") from exc
        finally:
            await resp.aclose()
        await self._drop_overrun_connections()
        return Answer(resp.status_code, _as_sent(resp.headers), b"".join(chunks))

    def _credentials_apart(self, url: str):  # noqa: ANN202
        """`url` without its user:password@, and the Basic credentials httpx would have taken from
        it: in the URL, httpx logs them (its INFO line "HTTP Request: POST http://sp:secret@..."
        reaches a log the application's root logger writes). Configured credentials come first, as
        httpx and requests put them before the URL's."""
        import httpx  # noqa: PLC0415

        if "@" not in url:
            return url, httpx.USE_CLIENT_DEFAULT
        from urllib.parse import unquote, urlunsplit  # noqa: PLC0415

        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url, httpx.USE_CLIENT_DEFAULT
        bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        if self.http.auth is not None or not (parts.username or parts.password):
            return bare, httpx.USE_CLIENT_DEFAULT
        return bare, httpx.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))

    async def _drop_overrun_connections(self) -> None:
        """Close the idle connections holding bytes past the answer they carried (an MMSC whose
        Content-Length leaves out a line end it writes after its XML). httpcore keeps them for the
        next request's answer, which h11 then cannot read: a request the MMSC took, failed as one
        that may have arrived, and sent again. (http.client drops them with their answer.) Reached
        through httpcore's internals: where they differ, nothing is done."""
        pool = getattr(getattr(self.http, "_transport", None), "_pool", None)
        for conn in list(getattr(pool, "connections", ())):
            inner = getattr(conn, "_connection", None)
            h11_state = getattr(inner, "_h11_state", None)
            try:
                overrun = inner.is_idle() and bool(h11_state.trailing_data[0])
            except AttributeError:
                continue
            if overrun:
                log.debug("%d bytes past an answer on an idle connection: the connection closed",
                          len(h11_state.trailing_data[0]))
                await inner.aclose()  # (marked closed at once: no request is given it meanwhile)

    async def aclose(self) -> None:
        """Send nothing more, and close the connections once the requests on their way have their
        answers (each within its timeouts), as the sync client's `close` lets them finish: cut off,
        an answer the MMSC sent was lost, and the send recorded as one it may have taken."""
        self._on_its_loop("close")
        self._closing = True
        try:
            while self._exchanges:
                await self._no_exchange.wait()
        finally:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
