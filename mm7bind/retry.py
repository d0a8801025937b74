"""When to try a request again, how long to wait, and how fast to send: policy as data.

Outcomes are classified, not guessed: connection errors and timeouts, HTTP 500, 502, 503, 504 and
429 (Retry-After honoured), and MM7 statuses 3xxx and 4006 (service unavailable) retry; MM7 2xxx
(client errors) never do, nor 3001, 3003 and 3004, which say the request cannot succeed as sent.
Every attempt of one request carries the same TransactionID, so an MMSC that saw the first can
recognise the repeat.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timezone

from .deadline import MAX_TIMEOUT
from .errors import STORE_ERRORS
from .hints import suggest_keywords
from .incident import StoreDetour
from .status import FINAL_SERVER_ERRORS, StatusClass, classify


@suggest_keywords
@dataclass(frozen=True)
class RetryPolicy:
    """What the client sends again, how often and after how long, and when it moves to the next
    MMSC: exponential backoff with jitter, the same TransactionID on every attempt. `never()`
    sends each request once."""

    max_attempts: int = 3  # China Mobile's ReSendCount n means max_attempts = n + 1
    backoff: float = 0.5  # seconds before the second attempt
    factor: float = 2.0  # each further wait is this much longer
    max_backoff: float = 30.0
    jitter: float = 0.2  # ± fraction of the wait, so many clients do not retry in step
    on_connect_error: bool = True  # nothing reached the MMSC
    # No MM7 answer (a timeout, the connection lost after the request went out, a gateway's 502 or
    # 504, a 500 without a Fault: see mm7bind.arrival): the MMSC may have taken it, and most do not
    # recognise a repeated TransactionID. True: sent again, a lost message being the worse outcome
    # (a Result then says `earlier_unanswered`); False: never sent twice by us.
    on_timeout: bool = True
    # 500 only when no Fault came with it (a body that reads as none, not well-formed or cut short, is
    # none: a refusal is told by the Fault read, not guessed); 429: a rate limit in front of the
    # MMSC (took nothing: "later")
    http_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    # Besides every 3xxx but FINAL_SERVER_ERRORS (3001, 3003, 3004), which a code named here retries.
    retry_codes: frozenset[int] = frozenset({4006})
    no_retry_codes: frozenset[int] = frozenset()  # carrier codes that must not be retried
    max_retry_after: float = 300.0
    # Answers saying the MMSC is unavailable and took nothing: the next of several URLs is tried at
    # once, as after a refused connection (not after an attempt that got no answer: the MMSC it
    # went to may have it). Any other retry goes to the same MMSC (only it can recognise a repeat
    # it may have taken), and a refusal of the message goes to none.
    fail_over_http: frozenset[int] = frozenset({503})
    fail_over_codes: frozenset[int] = frozenset({4006})

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            # (NaN passed "< 1", and 2.5 or True were taken as whatever the attempts' count came to)
            raise ValueError(f"max_attempts must be a whole number, at least 1, not {self.max_attempts!r}")
        for name, most in (("backoff", MAX_TIMEOUT), ("factor", math.inf), ("max_backoff", MAX_TIMEOUT),
                           ("jitter", 1), ("max_retry_after", MAX_TIMEOUT)):
            # (NaN passed every comparison in delay(): a NaN backoff waited max_backoff each time,
            # a NaN jitter not at all; an infinite wait, or one past what a wait can hold (1e10),
            # ended the sender with an OverflowError. A jitter is a fraction of the wait: past 1,
            # some waits came out as none, and a huge one as a wait no clock holds.)
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < math.inf
                                                                                       and value <= most):
                said = "a finite number, 0 or more" if most == math.inf else (
                    f"a fraction from 0 to {most}" if name == "jitter" else
                    f"a number of seconds from 0 to {most} (a year)")
                raise ValueError(f"{name} must be {said}, not {value!r}")

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy of one attempt: nothing is tried again."""
        return cls(max_attempts=1)

    def retries_status(self, code: int) -> bool:
        """Whether an MM7 status is tried again: `retry_codes`, or a 3xxx but 3001, 3003 and 3004,
        never one of `no_retry_codes`."""
        if code in self.no_retry_codes:
            return False
        if code in self.retry_codes:
            return True
        return classify(code) is StatusClass.SERVER_ERROR and code not in FINAL_SERVER_ERRORS

    def retries_http(self, status: int) -> bool:
        """Whether an HTTP status without an MM7 answer is tried again (`http_statuses`)."""
        return status in self.http_statuses

    def fails_over(self, *, http_status: int | None = None, code: int | None = None) -> bool:
        """Whether this answer (an HTTP status without an MM7 one, or an MM7 status) sends the
        next attempt to another MMSC."""
        if code is not None:
            return code in self.fail_over_codes and self.retries_status(code)
        return http_status in self.fail_over_http and self.retries_http(http_status)

    def retries_fault(self, fault, http_status: int) -> bool:
        """A SOAP Fault: by its MM7 status; without one by its fault code — the sender's fault
        ("Client", "Client.Auth"...) is final, the server's goes by the HTTP status."""
        if fault.status is not None:
            return self.retries_status(fault.status.code)
        return not _senders_fault(fault) and self.retries_http(http_status)

    def fails_over_fault(self, fault, http_status: int) -> bool:
        """Whether a SOAP Fault says the MMSC is unavailable (`fails_over`), read as `retries_fault`
        reads it: by its MM7 status; without one, a server's fault by the HTTP status."""
        if fault.status is not None:
            return self.fails_over(code=fault.status.code)
        return not _senders_fault(fault) and self.fails_over(http_status=http_status)

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        try:
            base = min(self.max_backoff, self.backoff * self.factor ** (attempt - 1))
        except OverflowError:  # (factor ** attempt past a float: 2.0 after 1024 attempts) long past max_backoff
            base = self.max_backoff if self.backoff else 0.0
        if self.jitter:
            base *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        if retry_after is not None:
            base = max(base, min(retry_after, self.max_retry_after))
        return max(0.0, base)


def _senders_fault(fault) -> bool:
    """A fault code of the sender's ("Client", "Client.Auth"...), or SOAP's refusal of the envelope
    as it is written (VersionMismatch, MustUnderstand): final, whatever the HTTP status."""
    return fault.code.split(".", 1)[0] in ("Client", "VersionMismatch", "MustUnderstand")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # (isdigit alone takes "²", which a header's byte 0xB2 reads as)
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # (asctime's form, or "-0000": an HTTP-date is GMT, not this machine's local time)
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass(frozen=True)
class Turn:
    """A send's turn under a rate limit (`take`): `wait` seconds from its taking until it comes;
    `own`: this process's own, the store's turns not asked (for `give_back`, which may run in
    another thread than its `take`: an `AsyncClient`'s worker threads)."""

    wait: float
    own: bool = True


@suggest_keywords
@dataclass
class RateLimiter:
    """At most `rate` acquisitions per second (token bucket with `burst` tokens), thread-safe.

    `clock` and `sleep` are injectable so tests can count instead of waiting.
    """

    rate: float
    burst: float = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = field(init=False)
    _last: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.rate > 0:  # (NaN passed "<= 0": every wait came out NaN, and no send waited)
            raise ValueError("rate must be positive")
        if isinstance(self.burst, bool) or not isinstance(self.burst, (int, float)) or not 0 < self.burst < math.inf:
            # (a NaN burst made every wait NaN: no send waited, the limit gone without a word)
            raise ValueError(f"burst must be a positive, finite number of requests, not {self.burst!r}")
        self._tokens = self.burst
        self._last = self.clock()

    def reserve(self) -> float:
        """Take a token; return how long to wait before using it (0 if one was there)."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    writes_store = False  # (taking a turn is in memory: an event loop takes it where it is)

    def take(self) -> Turn:
        """`reserve`, as a `Turn`."""
        return Turn(self.reserve())

    def give_back(self, turn: Turn | None = None) -> None:
        """Return a token `reserve` took, its send not made: the sends after it wait no longer for it."""
        with self._lock:
            self._tokens = min(self.burst, self._tokens + 1)

    def acquire(self) -> float:
        """Take a token, sleeping until there is one; returns the seconds slept."""
        wait = self.reserve()
        if wait > 0:
            self.sleep(wait)
        return wait


log = logging.getLogger("mm7bind.client")
STORE_RETRY_AFTER = 10.0  # seconds a SharedRateLimiter whose store failed keeps its own turns before asking it again


@suggest_keywords
class SharedRateLimiter:
    """`RateLimiter` for every process sending through one store file: at most `rate` sends a
    second at `key` (an MMSC and account) whichever process sends them, `burst` at once, the
    turns kept in the store (`SqliteStore.rate_reserve`). Each process keeping its own, a campaign
    beside a server's outbox, or two servers, sent twice the rate the MMSC allows, and it
    throttled or refused the excess. While the store cannot be written (locked past
    `store.RATE_WAIT`, a full disk) the turns are this process's own, said once as it begins and
    once as it ends: a send is never held up by the bookkeeping of its rate."""

    def __init__(self, store, key: str, rate: float, burst: float = 1.0,  # noqa: ANN001
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.own = RateLimiter(rate, burst, sleep=sleep)  # (checks rate and burst as it does)
        self.store, self.key, self.clock, self.sleep = store, key, clock, sleep
        self.rate, self.burst = rate, burst
        self.interval = 1 / rate
        self.tolerance = (burst - 1) * self.interval
        self._taken_here = threading.local()  # (whether this thread's latest turn was the process's own)
        self._detour = StoreDetour(
            log, lambda said: (f"rate_limit at {key}: the turns other processes share could not be taken from the "
                               f"store ({said}): this process keeps its own until they can"),
            lambda count, seconds: (f"rate_limit at {key}: the turns are shared through the store again ({count} "
                                    f"taken by this process alone over {seconds:.0f} s)"), STORE_RETRY_AFTER)

    # (a store's write, waiting up to RATE_WAIT for its lock: an event loop takes it in a worker thread)
    writes_store = True

    def take(self) -> Turn:
        """Take the next turn → the `Turn` (its wait: 0, now)."""
        if self._detour.asking():
            try:
                wait = self.store.rate_reserve(self.key, self.interval, self.tolerance, self.clock())
            except STORE_ERRORS as exc:
                self._detour.failed(exc)
            else:
                self._detour.worked()
                return Turn(wait, own=False)
        return Turn(self.own.reserve())

    def reserve(self) -> float:
        """Take the next turn; return how long to wait for it (0: now)."""
        turn = self.take()
        self._taken_here.own = turn.own
        return turn.wait

    def give_back(self, turn: Turn | None = None) -> None:
        """Give back `turn`, its send not made (None: the turn `reserve` took in this thread)."""
        if turn.own if turn is not None else getattr(self._taken_here, "own", False):
            self.own.give_back()
            return
        try:
            self.store.rate_give_back(self.key, self.interval, self.clock())
        except STORE_ERRORS:  # (the turn lost: the sends after it wait one turn longer)
            pass

    acquire = RateLimiter.acquire  # (its reserve, then its sleep)
