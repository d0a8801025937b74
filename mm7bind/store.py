"""Persistent records: what we sent (to match delivery and read reports to) and what we received.

SQLite by default (one file, safe across threads and processes, WAL mode); `MemoryStore` for
tests and throw-away use. Both offer the same methods.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import holders
from .arrival import may_have_arrived
from .deadline import MAX_TIMEOUT
from .display import is_secret_header
from .errors import STORE_ERRORS, StoreClosed
from .periodic import Periodic, seconds_between_rounds
from .status import is_success


log = logging.getLogger("mm7bind.store")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class SentRecord:
    """One request the client sent, and how it ended."""

    transaction_id: str
    operation: str  # SubmitReq, CancelReq, ...
    version: str
    recipients: list[str] = field(default_factory=list)  # a report's or read reply's: the one it is about
    message_id: str | None = None  # the MMSC's id (SubmitRsp), or the one cancelled/replaced
    url: str | None = None
    sent_at: datetime = field(default_factory=utcnow)
    status_code: int | None = None
    status_text: str | None = None
    error: str | None = None  # the error class and message when it failed
    attempts: int = 1
    linked_id: str | None = None
    tag: str | None = None  # the sender's label: a campaign, an order number (`submit(..., tag=)`)
    # An attempt before the last one (of this send, or of an earlier send of this TransactionID) got
    # no answer: accepted, the MMSC may have it twice; not accepted, it may have it all the same.
    earlier_unanswered: bool = False
    outbox_item: int | None = None  # the outbox item it was sent for (its id), if an outbox sent it
    # Whether it asked for delivery reports (its DeliveryReport flag, absent: False). None: not known
    # (a record from before it was kept) or nothing to ask (a CancelReq, a report of an MMSC's).
    delivery_report: bool | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and is_success(self.status_code)


@dataclass
class InboxRecord:
    """One request the receiver accepted, as received (raw bytes kept for replay)."""

    id: int
    kind: str  # DeliverReq, DeliveryReportReq, ReadReplyReq
    transaction_id: str | None
    message_id: str | None
    recipient: str | None
    status: str | None  # MMStatus of a report
    peer: str | None
    content_type: str | None
    body: bytes
    received_at: datetime
    state: str  # processing | handled | rejected | failed
    response_code: int | None = None
    error: str | None = None
    attempts: int = 0
    sent_transaction_id: str | None = None  # the SubmitReq this report is about, when we sent it
    claimed_at: datetime | None = None  # when it was last taken for processing (stored, or claimed again)
    headers: dict[str, str] = field(default_factory=dict)  # the request's, but its credentials (see kept_headers)
    path: str | None = None  # the path it was POSTed to (None: a record from before paths were kept)
    # What the answer said beside its code, for the MMSC's copies: a DeliverRsp's ServiceCode (which
    # may be charged by) and attributes, a status text or details of the handler's.
    answer: dict[str, Any] = field(default_factory=dict)
    # The process that claimed it last (`holders.this_process`): one known to be gone loses a claim
    # still "processing" at once, not after `stale_after`. None: not known (no /proc, an older file).
    holder: str | None = None


@dataclass
class OutboxItem:
    """A request waiting in the store to be sent (see `mm7bind.outbox.Outbox`)."""

    id: int
    transaction_id: str
    tag: str | None
    content_type: str
    body: bytes  # the request as encoded when it was put in
    created_at: datetime
    next_at: datetime  # not tried (again) before this
    expires_at: datetime  # not tried after this: then "expired"
    recipients: list[str] = field(default_factory=list)
    state: str = "queued"  # queued | sending | sent | failed | expired
    attempts: int = 0
    message_id: str | None = None
    status_code: int | None = None
    error: str | None = None
    lease_until: datetime | None = None  # set by a claim: the item is its claimer's until then
    fingerprint: str | None = None  # of the request it was put in for (the send API's repeats compare it)
    earlier_rounds: int = 0  # rounds it had before it was put back in the queue (`outbox_requeue`)
    # The MMSC (its URL as shown: no password) an attempt of its round went to, when it failed over
    # from the one its rounds start at (`outbox_attempt_at`): its process killed then, that MMSC
    # may have it, and its next round goes there first. None once the round's end is recorded.
    attempt_url: str | None = None


@dataclass
class SendClaim:
    """A TransactionID taken for sending (`store.send_claim`): whoever holds it sends the request, the
    others do not. Kept once the MMSC accepted the request, so that nobody sends it again."""

    transaction_id: str
    holder: str  # who sends it: "host:pid:..." (see mm7bind.sendonce)
    lease_until: datetime | None  # the holder's until then; None: the MMSC accepted it
    fingerprint: str | None = None  # of the request it was taken for
    claimed_at: datetime = field(default_factory=utcnow)
    # The MMSC (its URL as shown: no password) an attempt of its send went to, when that is not the
    # one a send starts at (`send_claim_attempt_at`), and the TransactionID sent there (a
    # campaign's claim is its recipient's, whatever the TransactionID). Its holder killed then,
    # that MMSC may have the request: the claim taken over keeps them, and its send goes there
    # first (another MMSC would deliver a second copy). Let go as the send's record is written
    # (`record_sent`): from then on the record says how that attempt ended.
    attempt_url: str | None = None
    attempt_transaction_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.lease_until is None


OUTBOX_STATES = ("queued", "sending", "sent", "failed", "expired")


@dataclass
class Purged:
    """What `purge` removed (or, with `dry_run`, would remove)."""

    inbox: int = 0  # records deleted
    bodies: int = 0  # records kept without their body (and its headers)
    sent: int = 0  # sent records deleted
    outbox: int = 0  # outbox items deleted (sent, failed or expired ones)


REPORT_KINDS = ("DeliveryReportReq", "ReadReplyReq")
PURGEABLE = ("handled", "rejected")  # states whose messages need nothing more from us
OUTBOX_DONE = ("sent", "failed", "expired")  # outbox items nothing more will happen to
OUTBOX_PENDING = ("queued", "sending", "sent")  # outbox items that are going, or went, to the MMSC
OUTBOX_WAITING = ("queued", "sending")  # outbox items not sent yet, nor given up
OPEN_STATES = ("processing", "failed", "rejected")  # every state but handled
# The error a replay at serve's start writes with its claim (`claim(note=)`), replaced by the outcome:
# a message still "processing" with it, its process gone, ended that process in its handler (out of
# memory, a fault in native code) or was in hand when it was killed. Not handed to the handler at a
# start again: a message that crashes the process each time would crash every start, a supervisor
# restarting serve in a loop (until it gives up, and nothing is received).
IN_HAND_AT_START = "in the handler of a replay at serve's start when its process ended (or still there)"


HEADERS_KEPT_MAX = 16 * 1024  # bytes of JSON: a carrier header is a few dozen; whatever the server let in


def kept_headers(headers) -> dict[str, str]:
    """What of a request's HTTP headers is stored with it, for a replay to show its handler: all
    but credentials (Authorization, cookies, anything named like one: the store file is no place
    for them), in their order, each one that still fits in HEADERS_KEPT_MAX (one oversized header
    does not push out the carrier header after it)."""
    if type(headers) is SiftedHeaders:  # sifted already (by the receiver): the same, not sifted again
        return dict(headers)
    return _sift(headers, {})


class SiftedHeaders(dict):
    """`kept_headers`' answer, marked as such: the receiver gives it to `accept`, which then need
    not sift the headers a second time (every message asks)."""

    __slots__ = ()


def sifted_headers(headers) -> SiftedHeaders:
    """`kept_headers`, as a `SiftedHeaders`."""
    return _sift(headers, SiftedHeaders())


# A request's header names are mostly the same few: each one's verdict is remembered.
_secret_name = lru_cache(maxsize=1024)(is_secret_header)


def _sift(headers, kept: dict) -> dict:
    pairs = [(str(name), str(value)) for name, value in (headers.items() if hasattr(headers, "items") else headers or ())]
    # ASCII text is at most 6 bytes of JSON a character ("\u001f"): headers that fit even so are
    # all kept without their sizes counted (a request's usual few dozen bytes; every message asks).
    flat = "".join(itertools.chain.from_iterable(pairs))  # (measured in C: no Python call a header)
    if (len(flat) + 2 * len(pairs)) * 6 + 2 <= HEADERS_KEPT_MAX and flat.isascii():
        for name, value in pairs:
            if not _secret_name(name):
                kept[name] = value
        return kept
    size = 2  # "{}"
    for name, value in pairs:
        if is_secret_header(name):
            continue
        cost = _json_size(name) + _json_size(value) + 4  # json.dumps([name, value]): ≥ its '"name": "value", '
        if size + cost <= HEADERS_KEPT_MAX:
            size += cost
            kept[name] = value
    return kept


# The JSON of stored headers and answers (json.dumps with ensure_ascii=False makes an encoder
# per call: one for every stored message).
_JSON = json.JSONEncoder(ensure_ascii=False)


_PRINTABLE_ASCII = re.compile(r"[ -~]*\Z")


def _json_size(text: str) -> int:
    """The bytes `text` takes as a JSON string, quotes included (as json.dumps writes it with
    ensure_ascii=False), counted without writing it when it is printable ASCII: every request asks."""
    if _PRINTABLE_ASCII.match(text):
        return len(text) + 2 + text.count('"') + text.count("\\")  # (the only two escaped there)
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def _request_path(target: str | None) -> str | None:
    """What of a request's target is stored: its path, not its query (where some MMSCs put
    credentials)."""
    return target.partition("?")[0] if target is not None else None


def _headers_json(text: str | None) -> dict[str, str]:
    """A stored headers column as a dict: {} for a record from before headers were kept."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _utc_text(when: datetime) -> str:
    """`when` as the stored timestamps are written (UTC, ISO 8601), so they compare as text."""
    if when.tzinfo is None:
        when = when.astimezone()  # a naive time is local, as everywhere in mm7bind
    return when.astimezone(timezone.utc).isoformat()


def _query(select: str, conditions: list[tuple[str, object]], order: str | None = None,
           newest_first: bool = False, limit: int | None = None) -> tuple[str, list]:
    """`select` narrowed by each condition ("col = ?", value) whose value is not None, then
    ordered (oldest first, or newest) and limited: the listings' one way to build their SQL."""
    sql, args = select + " WHERE 1=1", []
    for clause, value in conditions:
        if value is not None:
            sql += f" AND {clause}"
            args.append(value)
    if order is not None:
        sql += f" ORDER BY {order} DESC" if newest_first else f" ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(_limit(limit))
    return sql, args


def _failure_counted(times: list[float], until: float, failures: int, cooldown: float,
                     now: float) -> tuple[list[float], float, bool]:
    """One more wrong answer of a peer's (`auth.FailureLimit.failed`'s rule, kept in a store): its
    failures within `cooldown`, `failures` of them starting a cool-down of `cooldown` seconds →
    (its recent failures, the end of its cool-down, whether this one started it)."""
    times = [t for t in times if now - t < cooldown][-failures:] + [now]
    starts = len(times) >= failures and until <= now
    return ([], now + cooldown, True) if starts else (times, until, False)


def _turn_at(row: tuple[float, float] | None, now: float) -> float:
    """When a rate limit's next turn comes (`rate_reserve`): `row`, its (next turn, clock's latest
    reading) kept, None for none; a clock set back since moves the turn back with it."""
    return now if row is None else max(now, row[0] - max(0.0, row[1] - now))


def _checked_wait(wait: float | None, bounded: bool = False) -> None:
    """Refuse a `wait` for the store's lock that no wait can be (the store's own, or one call's:
    `accept`, `claim`, `mark`, `spend`, `check`), where it enters rather than in the write: past
    what a lock's wait holds (1e10, inf) one raised an OverflowError, a NaN or negative one a
    StoreBusy for a lock nobody held, and a `mark` so failed left its outcome kept, then lost at
    exit. `bounded`: None (as long as the lock is held) is refused too (`check` waits a while)."""
    if wait is None and not bounded:
        return
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_TIMEOUT:
        raise ValueError(f"wait must be a number of seconds from 0 to {MAX_TIMEOUT} (a year)"
                         + ("" if bounded else ", or None (as long as the lock is held)") + f", not {wait!r}")


def _limit(limit: int | None) -> int | None:
    """A listing's limit: None for all; never negative (SQLite would read -1 as "all", a list
    slice as "all but the last")."""
    if limit is not None and int(limit) < 0:
        raise ValueError(f"a limit cannot be negative ({limit})")
    return None if limit is None else int(limit)


OUTBOX_LEASE = timedelta(minutes=10)  # how long a claimed outbox item is its worker's
KEEP_ATTEMPT_URL = object()  # (`outbox_update`'s default: the item's attempt_url as it is)


# The longest a retention keeps records (a thousand years): some 740,000 days before now is
# before the year 1, which no datetime holds. (No Retention, or keep_days 0, keeps everything.)
KEEP_MAX = timedelta(days=365_000)


def _cutoff(before: datetime | timedelta) -> str:
    """A purge's limit: a point in time, or an age (`timedelta(days=30)`: older than 30 days)."""
    if isinstance(before, timedelta):
        try:
            before = utcnow() - before
        except OverflowError:
            raise ValueError(f"an age of {before.days} days reaches before the year 1: out of range") from None
    elif not isinstance(before, datetime):
        raise TypeError(f"purge takes a datetime or a timedelta (an age), not {type(before).__name__}")
    return _utc_text(before)


def _claimable(states: tuple[str, ...], stale_before: datetime | None) -> tuple[tuple[str, ...], str | None]:
    """`claim`'s states other than "processing", and the time before which a "processing" claim
    is stale (None: a record in hand is never taken)."""
    if "processing" in states and stale_before is None:
        raise ValueError("a record in processing is taken only once its claim is stale: give stale_before")
    return tuple(s for s in states if s != "processing"), (
        _utc_text(stale_before) if "processing" in states else None)


def _check_purge(states: tuple[str, ...]) -> None:
    if "processing" in states:
        raise ValueError("records still 'processing' are in hand (or their worker died: replay them); not purged")


class StoreBusy(sqlite3.OperationalError):
    """The store stayed locked (by another process, or a long write of ours) longer than the caller
    would wait."""


class StoreMoved(sqlite3.OperationalError):
    """The store's file is no longer at its path (renamed, removed, or another file put there: a backup
    restored, a symbolic link pointed elsewhere) since the store opened it: nothing is written. Written
    on, what was acknowledged went to a file no later start opens; a connection opened at the path
    made a new file there, sharing the -wal of the moved one, and both lost what that held."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the store file {path} was moved, removed or replaced since this process opened it: "
                         "nothing more is written to it (restart the process to open the file at that path)")


class _OpenLock:
    """`MemoryStore`'s lock, refusing once the store is closed: what each of its calls takes."""

    __slots__ = ("lock", "closed")

    def __init__(self) -> None:
        self.lock, self.closed = threading.Lock(), False

    def __enter__(self) -> None:
        self.lock.acquire()
        if self.closed:
            self.lock.release()
            raise StoreClosed("in memory")

    def __exit__(self, *exc) -> None:
        self.lock.release()


class DigestReplayed(Exception):
    """The Digest answer (nonce and count) a request came with was spent already, by this process
    or another on the same store: a header captured on the way, sent again."""


class _Pending:
    """One write waiting for its group commit: an insert (`body` given) or an outcome (`body` None,
    `row` the UPDATE's arguments)."""

    __slots__ = ("row", "body", "wait", "deadline", "done", "rowid", "conflict", "error", "wake", "detached",
                 "spent", "replayed", "found", "again", "kept", "kept_at")

    def __init__(self, row: tuple, body: bytes | None, wait: float | None = None,
                 spent: tuple[str, float] | None = None):
        self.row, self.body = row, body
        self.spent = spent  # (key, until): the Digest answer it came with, kept spent for every process
        self.replayed = False  # that answer was spent already: nothing stored
        self.wait = wait  # seconds its caller waits for a locked store; None: SQLite's 30 s
        self.deadline = None if wait is None else time.monotonic() + wait
        self.done = False
        self.rowid: int | None = None
        self.conflict: sqlite3.IntegrityError | None = None  # the insert was refused (a repeat?)
        self.found: sqlite3.Row | None = None  # ... and the record holding its key, read in the same transaction
        self.error: Exception | None = None  # the batch failed: nothing was stored
        self.wake: threading.Lock | None = None  # held until its caller is to go on (when it waits for a leader)
        self.detached = False  # an outcome its caller did not wait for: a leader writing meanwhile writes it
        self.again = False  # an outcome kept from a batch that failed, written again (`SqliteStore._keep`)
        self.kept = False  # its batch failed, and it is kept to be written again
        self.kept_at: str | None = None  # when it was first kept (stored time), set by `SqliteStore._keep`

    def again_row(self) -> tuple:
        """`_MARK_AGAIN`'s arguments for this kept outcome: written only onto a claim of this process
        made before it was kept (a later one is another's, or a claim taken anew)."""
        if self.again:
            return self.row
        *outcome, record_id = self.row
        return (*outcome, holders.this_process(), self.kept_at or _utc_text(utcnow()), record_id)

    def retried(self) -> _Pending:
        """This kept outcome, to be written again (its wait counted from now)."""
        again = _Pending(self.again_row(), None, self.wait)
        again.detached = again.again = True
        again.kept_at = self.kept_at
        return again


INBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    transaction_id TEXT,
    message_id TEXT,
    recipient TEXT,
    status TEXT,
    peer TEXT,
    content_type TEXT,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL,
    response_code INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_transaction_id TEXT,
    tid_key TEXT UNIQUE,
    report_key TEXT,
    claimed_at TEXT,
    headers TEXT,
    path TEXT,
    answer TEXT,
    holder TEXT
);
CREATE INDEX IF NOT EXISTS inbox_state ON inbox (state);
-- Only what has a MessageID (reports, read replies): a DeliverReq has none, and an entry for its
-- NULL was one more page written per message, for a lookup that never asks for NULL.
CREATE INDEX IF NOT EXISTS inbox_message_id ON inbox (message_id) WHERE message_id IS NOT NULL;
-- The handled and rejected records by age, for a purge: those it keeps, nearly all, are not read
-- (through inbox_state, each purge read every one's row). Its queries name these states as written.
CREATE INDEX IF NOT EXISTS inbox_finished ON inbox (state, received_at) WHERE state IN ('handled', 'rejected');
-- A report's key, unique, is made by `_report_key_index` (files before it hold it as the column's
-- UNIQUE, of every row).
-- Bodies live apart from the rows whose state changes, so that marking a message handled does not
-- rewrite its body. (Files written before this table existed keep theirs in inbox.body, but those
-- of records in hand or waiting for replay: moved here as the file is opened, `_bodies_out_of_rows`.)
CREATE TABLE IF NOT EXISTS inbox_body (
    id INTEGER PRIMARY KEY,
    body BLOB NOT NULL
);
-- The Digest answers (nonce and count, digested) the messages came with, until their nonce goes
-- stale (epoch seconds): a header captured on the way and sent to another process is refused there.
CREATE TABLE IF NOT EXISTS digest_spent (
    key TEXT PRIMARY KEY,
    until REAL NOT NULL
) WITHOUT ROWID;
"""

# How often a process forgets the spent Digest answers whose nonces went stale (a DELETE with a
# batch), and how long past that it keeps them (clocks of hosts sharing the file differ a little).
SPENT_PRUNE_EVERY = 60.0
SPENT_MARGIN = 60.0

# The duplicate keys the receiver writes: "<element>|<TransactionID>|<32 hex digits>" (a digest
# of what the message says). Releases before wrote "<element>|<TransactionID>", and then a digest
# that took the TimeStamp in: their records are looked for by those (`holds_old_keys`).

# A record of a release before is looked for by its key of then for this long after it came: a
# copy of a message older than that is no MMSC's retry (they retry for hours; days in an outage).
# Not a setting: an MMSC retries only a message whose answer it did not get, and its next copy,
# answered as a repeat, ends that; a copy this late needs every retry of a week lost as well,
# and a longer window would cost every message a lookup for longer after each upgrade.
OLD_KEYS_WINDOW = timedelta(days=7)
# How often a receiver looks again whether such records are left (another process may have purged
# them, or they aged past the window): one query a minute, while any may be there.
OLD_KEYS_RECHECK = 60.0

_INBOX_SELECT = (
    "SELECT i.id, i.kind, i.transaction_id, i.message_id, i.recipient, i.status, i.peer, i.content_type,"
    " COALESCE(b.body, i.body) AS body, i.received_at, i.state, i.response_code, i.error, i.attempts,"
    " i.sent_transaction_id, COALESCE(i.claimed_at, i.received_at) AS claimed_at, i.headers, i.path, i.answer,"
    " i.holder"
    " FROM inbox i LEFT JOIN inbox_body b ON b.id = i.id"
)
# The record a message's duplicate keys (tid_key, report_key) name, the first if both do.
_INBOX_BY_KEYS = (_INBOX_SELECT + " WHERE (i.tid_key IS NOT NULL AND i.tid_key = ?) OR"
                  " (i.report_key IS NOT NULL AND i.report_key = ?) ORDER BY i.id LIMIT 1")


class MemoryStore:
    """The same records in memory: for tests and throw-away use (nothing survives the process)."""

    def __init__(self) -> None:
        self._outbox: dict[int, OutboxItem] = {}
        self._outbox_ids = itertools.count(1)  # never one given before (as AUTOINCREMENT), even after a purge
        self._sent: list[SentRecord] = []
        self._by_tid: dict[str, SentRecord] = {}  # the latest record of each TransactionID (the outbox asks per item)
        self._inbox: dict[int, InboxRecord] = {}
        self._next_id = 1
        self._keys: dict[str, int] = {}
        # Reports no request of ours had the MessageID of as they came: MessageID → (id, report key)
        self._unmatched: dict[str, list[tuple[int, str | None]]] = {}
        self._claims: dict[str, SendClaim] = {}
        self._noted_claims: dict[str, set[str]] = {}  # a TransactionID → the claims noting an attempt of it
        self._spent: dict[str, float] = {}  # Digest answers spent: key → when its nonce goes stale
        self._lock = _OpenLock()  # (closed: every call raises StoreClosed, as SqliteStore's do)
        self._installation = secrets.token_hex(8)
        self._pause: dict | None = None  # (the outbox's pause after refusals alike: `set_outbox_pause`)
        self._sent_count = 0  # (records ever kept: `sent_mark`)
        self._accepted_at: dict[str | None, int] = {}  # URL → the count at its latest acceptance
        self._turns: dict[str, tuple[float, float]] = {}  # rate limits: key → (next turn, clock's latest reading)
        self._failures: dict[str, tuple[list[float], float]] = {}  # wrong credentials: key → (times, cool-down end)

    # (answers known without a look, refused all the same once closed, as every call is)
    def installation_id(self) -> str:
        with self._lock:
            return self._installation

    def campaign_tids_as_written(self, tag: str) -> bool:
        """See `SqliteStore.campaign_tids_as_written` (none here: a store in memory is new)."""
        with self._lock:
            return False

    def accept(self, *, kind, transaction_id, message_id, recipient, status, peer, content_type, body, tid_key,
               report_key, sent_transaction_id=None, wait: float | None = None,
               headers=None, path: str | None = None,
               spent: tuple[str, float] | None = None) -> tuple[InboxRecord, bool]:
        _checked_wait(wait)
        with self._lock:
            if spent is not None:
                self._spend(spent)
            for key in (tid_key, report_key):
                if key is not None and self._keys.get(key) in self._inbox:
                    return dataclasses.replace(self._inbox[self._keys[key]]), False  # (a snapshot, as SQLite's)
            now = utcnow()
            rec = InboxRecord(self._next_id, kind, transaction_id, message_id, recipient, status, peer,
                              content_type, bytes(body), now, "processing", sent_transaction_id=sent_transaction_id,
                              claimed_at=now, headers=kept_headers(headers), path=_request_path(path),
                              holder=holders.this_process())
            self._next_id += 1
            self._inbox[rec.id] = rec
            for key in (tid_key, report_key):
                if key is not None:
                    self._keys[key] = rec.id
            if kind in REPORT_KINDS and message_id and sent_transaction_id is None:
                self._unmatched.setdefault(message_id, []).append((rec.id, report_key))
            return dataclasses.replace(rec), True

    def spend(self, spent: tuple[str, float], *, wait: float | None = None) -> None:
        """See `SqliteStore.spend` (receivers sharing this store share what they spent)."""
        _checked_wait(wait)
        with self._lock:
            self._spend(spent)

    def _spend(self, spent: tuple[str, float]) -> None:
        key, until = spent
        if key in self._spent:
            raise DigestReplayed("its Digest answer (nonce and count) was spent already")
        if len(self._spent) > 10_000:  # (forgotten once their nonce is stale: refused anyway)
            now = time.time()
            self._spent = {k: u for k, u in self._spent.items() if u >= now}
        self._spent[key] = until

    def claim(self, record_id: int, states: tuple[str, ...] = ("failed",), *,
              stale_before: datetime | None = None, wait: float | None = None, spare_live: bool = False,
              note: str | None = None) -> bool:
        """See `SqliteStore.claim`."""
        _checked_wait(wait)
        others, stale = _claimable(states, stale_before)
        with self._lock:
            rec = self._inbox.get(record_id)
            if rec is None or not (rec.state in others or (rec.state == "processing" and stale is not None and (
                    _utc_text(rec.claimed_at) < stale or holders.gone(rec.holder)) and not (
                    spare_live and holders.running_elsewhere(rec.holder)))):
                return False
            rec.state, rec.claimed_at, rec.holder = "processing", utcnow(), holders.this_process()
            rec.error = note if note is not None else rec.error
            return True

    def mark(self, record_id: int, state: str, response_code: int | None = None, error: str | None = None, *,
             wait: float | None = None, answer: dict[str, Any] | None = None) -> None:
        _checked_wait(wait)
        with self._lock:
            rec = self._inbox.get(record_id)
            if rec is not None:  # (purged meanwhile: nothing left to mark)
                rec.state, rec.response_code, rec.error, rec.answer = state, response_code, error, dict(answer or {})
                rec.attempts += 1

    @property
    def holds_old_keys(self) -> bool:
        """False: nothing in memory outlives an upgrade (see `SqliteStore.holds_old_keys`)."""
        with self._lock:
            return False

    def inbox_by_key(self, tid_key: str) -> InboxRecord | None:
        """See `SqliteStore.inbox_by_key`."""
        with self._lock:
            rec = self._inbox.get(self._keys.get(tid_key, 0))
            return dataclasses.replace(rec) if rec is not None else None

    def inbox_stored_before(self, *tid_keys: str) -> dict[str, InboxRecord]:
        """See `SqliteStore.inbox_stored_before`: none here."""
        with self._lock:
            return {}

    def inbox_get(self, record_id: int) -> InboxRecord | None:
        with self._lock:
            rec = self._inbox.get(record_id)
            return dataclasses.replace(rec) if rec is not None else None  # a snapshot, as SQLite would give

    def inbox(self, state: str | None = None, kind: str | None = None, *, message_id: str | None = None,
              since: datetime | None = None, limit: int | None = None, newest_first: bool = False) -> list[InboxRecord]:
        with self._lock:
            found = [dataclasses.replace(r) for r in self._inbox.values()
                     if (state is None or r.state == state) and (kind is None or r.kind == kind)
                     and (message_id is None or r.message_id == message_id)
                     and (since is None or _utc_text(r.received_at) >= _utc_text(since))]
        found.sort(key=lambda r: r.id, reverse=newest_first)
        return found[:_limit(limit)]

    def inbox_ids(self, state: str | None = None, kind: str | None = None, *, message_id: str | None = None,
                  since: datetime | None = None, limit: int | None = None, newest_first: bool = False) -> list[int]:
        """See `SqliteStore.inbox_ids`."""
        return [r.id for r in self.inbox(state, kind, message_id=message_id, since=since, limit=limit,
                                         newest_first=newest_first)]  # (snapshots sharing the bodies: no copy)

    def claims(self) -> dict[int, tuple[datetime, str | None]]:
        """See `SqliteStore.claims`."""
        with self._lock:
            return {r.id: (r.claimed_at or r.received_at, r.holder) for r in sorted(self._inbox.values(), key=lambda r: r.id)
                    if r.state == "processing"}

    def reports_for(self, message_id: str) -> list[InboxRecord]:
        return [r for r in self.inbox(message_id=message_id) if r.kind in REPORT_KINDS]

    def unrecorded(self) -> dict[int, str]:
        """Outcomes not recorded yet: none here (a memory store is never locked)."""
        with self._lock:
            return {}

    def open_counts(self) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys(OPEN_STATES, 0)
            for r in self._inbox.values():
                if r.state in counts:
                    counts[r.state] += 1
            return counts

    def record_sent(self, rec: SentRecord) -> None:
        """See `SqliteStore.record_sent`."""
        with self._lock:
            self._sent.append(rec)
            self._by_tid[rec.transaction_id] = rec
            self._sent_count += 1
            if rec.ok:
                self._accepted_at[rec.url] = self._sent_count
            noted = self._noted_claims.get(rec.transaction_id, set())
            for key in list(noted):
                held = self._claims.get(key)
                if held is None or held.attempt_transaction_id != rec.transaction_id:
                    noted.discard(key)  # (given back, or noting another since)
                elif rec.url is not None and held.attempt_url == rec.url:
                    held.attempt_url = held.attempt_transaction_id = None
                    noted.discard(key)
            if not noted:
                self._noted_claims.pop(rec.transaction_id, None)
            item = self._outbox.get(rec.outbox_item) if rec.outbox_item is not None else None
            if item is not None and rec.url is not None and item.attempt_url == rec.url:
                item.attempt_url = None
            if rec.message_id and rec.operation == "SubmitReq":
                left = []
                for record_id, key in self._unmatched.pop(rec.message_id, []):
                    report = self._inbox.get(record_id)
                    if report is None:  # (purged)
                        continue
                    if not _about(rec, report.recipient):
                        left.append((record_id, key))
                        continue
                    linked = f"{key}|{rec.transaction_id}" if key is not None else None
                    if linked in self._keys:  # (a key taken already: left as it is, as SQLite's OR IGNORE)
                        continue
                    report.sent_transaction_id = rec.transaction_id
                    if linked is not None:
                        self._keys.pop(key, None)
                        self._keys[linked] = record_id
                if left:
                    self._unmatched[rec.message_id] = left

    def sent_mark(self) -> int:
        """See `SqliteStore.sent_mark`."""
        with self._lock:
            return self._sent_count

    def accepted_since_mark(self, mark: int, urls: list[str]) -> bool:
        """See `SqliteStore.accepted_since_mark`."""
        with self._lock:
            return any(self._accepted_at.get(url, 0) > mark for url in urls)

    def sent(self, *, message_id: str | None = None, recipient: str | None = None, since: datetime | None = None,
             tag: str | None = None, limit: int | None = None, newest_first: bool = False) -> list[SentRecord]:
        with self._lock:
            found = [r for r in self._sent if (message_id is None or r.message_id == message_id)
                     and (tag is None or r.tag == tag)
                     and (recipient is None or recipient in r.recipients)
                     and (since is None or _utc_text(r.sent_at) >= _utc_text(since))]
        if newest_first:
            found.reverse()
        return found[:_limit(limit)]

    def sent_by_message_id(self, message_id: str, recipient: str | None = None) -> SentRecord | None:
        """See `SqliteStore.sent_by_message_id`."""
        with self._lock:
            found = [r for r in reversed(self._sent) if r.message_id == message_id and r.operation == "SubmitReq"]
        return _sent_to_first(found, recipient)

    def sent_by_transaction_id(self, transaction_id: str) -> SentRecord | None:
        with self._lock:
            return self._by_tid.get(transaction_id)

    def submits(self, tag: str) -> Iterator[SentRecord]:
        """See `SqliteStore.submits`."""
        return (r for r in self.sent(tag=tag) if r.operation == "SubmitReq")

    def latest_submits(self, tag: str) -> Iterator[SentRecord]:
        """See `SqliteStore.latest_submits`."""
        return _latest_submits(self.sent(tag=tag))

    def purge(self, before: datetime | timedelta, *, states: tuple[str, ...] = PURGEABLE, bodies_only: bool = False,
              sent: bool = True, dry_run: bool = False) -> Purged:
        """See `SqliteStore.purge`."""
        _check_purge(states)
        sent = sent and not bodies_only
        cutoff = _cutoff(before)
        out = Purged()
        with self._lock:
            # (what work in progress needs stays: as SqliteStore's `_purgeable_sent` says)
            waiting = [i for i in self._outbox.values() if i.state in OUTBOX_WAITING]
            given_up = [i for i in self._outbox.values() if i.state in ("failed", "expired")
                        and ("failed" not in states or _utc_text(i.created_at) >= cutoff)]  # (those kept)
            in_use = ({r.tag for r in self._sent if _utc_text(r.sent_at) >= cutoff} | {i.tag for i in waiting}
                      | {i.tag for i in given_up})
            in_use.discard(None)
            # (a campaign in use keeps its reports: see SqliteStore.purge)
            theirs = {r.transaction_id for r in self._sent if r.tag in in_use} if sent else set()
            old = [r for r in self._inbox.values() if r.state in states and _utc_text(r.received_at) < cutoff
                   and r.sent_transaction_id not in theirs and (not bodies_only or r.body or r.headers)]
            if bodies_only:
                out.bodies = len(old)
            else:
                out.inbox = len(old)
            waiting_tids = {i.transaction_id for i in waiting}
            gone = [r for r in self._sent if _utc_text(r.sent_at) < cutoff and r.tag not in in_use
                    and r.transaction_id not in waiting_tids] if sent else []
            out.sent = len(gone)
            done = OUTBOX_DONE if "failed" in states else ("sent",)
            finished = [i.id for i in self._outbox.values() if i.state in done and _utc_text(i.created_at) < cutoff
                        and i.tag not in in_use] if sent else []
            out.outbox = len(finished)
            if dry_run:
                return out
            for item_id in finished:
                del self._outbox[item_id]
            if sent:
                now = utcnow()
                self._claims = {t: c for t, c in self._claims.items() if _utc_text(c.claimed_at) >= cutoff
                                or (c.lease_until is not None and c.lease_until > now)}
            for r in old:
                if bodies_only:
                    r.body, r.headers = b"", {}
                else:
                    del self._inbox[r.id]
            if old and not bodies_only:
                self._unmatched = {mid: kept for mid, entries in self._unmatched.items()
                                   if (kept := [e for e in entries if e[0] in self._inbox])}
            gone_ids = {id(r) for r in gone}
            self._sent = [r for r in self._sent if id(r) not in gone_ids]
            self._by_tid = {r.transaction_id: r for r in self._sent}
        return out

    # -- outbox -------------------------------------------------------------------------------

    def outbox_put_many(self, entries: list[dict], *, once: bool = False) -> list[OutboxItem]:
        """See `SqliteStore.outbox_put_many`."""
        with self._lock:
            items = []
            taken = {i.transaction_id for i in self._outbox.values() if i.state in OUTBOX_PENDING} if once else set()
            if once:  # (and those a sender holds)
                now = utcnow()
                taken |= {t for t, c in self._claims.items() if c.accepted or c.lease_until > now}
            for e in entries:
                if e["transaction_id"] in taken or (once and e.get("claim_key") is not None and (
                        e["claim_key"] in self._claims and (self._claims[e["claim_key"]].accepted
                                                            or self._claims[e["claim_key"]].lease_until > now))):
                    continue
                if once:
                    taken.add(e["transaction_id"])
                item = OutboxItem(next(self._outbox_ids), e["transaction_id"], e["tag"], e["content_type"],
                                  bytes(e["body"]), utcnow(), e["due"], e["expires_at"], list(e["recipients"]))
                self._outbox[item.id] = item
                items.append(dataclasses.replace(item))
            return items

    def outbox_put_once(self, entry: dict) -> tuple[OutboxItem | None, bool]:
        """See `SqliteStore.outbox_put_once`."""
        with self._lock:
            found = min((i for i in self._outbox.values() if i.transaction_id == entry["transaction_id"]),
                        key=lambda i: i.id, default=None)
            if found is not None:
                return dataclasses.replace(found), False
            held = self._claims.get(entry["transaction_id"])
            if held is not None and (held.accepted or held.lease_until > utcnow()):
                return None, False
            item = OutboxItem(next(self._outbox_ids), entry["transaction_id"], entry["tag"], entry["content_type"],
                              bytes(entry["body"]), utcnow(), entry["due"], entry["expires_at"],
                              list(entry["recipients"]), fingerprint=entry.get("fingerprint"))
            self._outbox[item.id] = item
            return dataclasses.replace(item), True

    def outbox_find(self, transaction_id: str) -> OutboxItem | None:
        """See `SqliteStore.outbox_find`."""
        with self._lock:
            found = max((i for i in self._outbox.values() if i.transaction_id == transaction_id),
                        key=lambda i: i.id, default=None)
            return dataclasses.replace(found) if found is not None else None

    # -- sending once ---------------------------------------------------------------------------

    def send_claim(self, claim: SendClaim, stale: Callable[[SendClaim], bool]) -> SendClaim:
        """See `SqliteStore.send_claim`."""
        with self._lock:
            held = self._claims.get(claim.transaction_id)
            if held is not None and (held.accepted or not stale(held)):
                return dataclasses.replace(held)
            if held is not None:  # (taken over: where its holder's last attempt went, kept)
                claim.attempt_url, claim.attempt_transaction_id = held.attempt_url, held.attempt_transaction_id
            self._claims[claim.transaction_id] = dataclasses.replace(claim)
            self._noting(claim)
            return claim

    def send_done(self, transaction_id: str, holder: str, accepted: bool) -> None:
        """See `SqliteStore.send_done`."""
        with self._lock:
            held = self._claims.get(transaction_id)
            if held is not None and accepted:
                held.lease_until = None
            elif held is not None and held.holder == holder and not held.accepted:
                del self._claims[transaction_id]
                self._noted_claims.get(held.attempt_transaction_id, set()).discard(transaction_id)

    def rate_reserve(self, key: str, interval: float, tolerance: float, now: float) -> float:
        """See `SqliteStore.rate_reserve`: the clients given this store share the turns (one process)."""
        with self._lock:
            turn = _turn_at(self._turns.get(key), now)
            self._turns[key] = (turn + interval, now)
        return max(0.0, turn - now - tolerance)

    def auth_failed(self, key: str, failures: int, cooldown: float, now: float) -> tuple[bool, float]:
        """See `SqliteStore.auth_failed` (the receivers given this store count together)."""
        with self._lock:
            times, until = self._failures.pop(key, ([], 0.0))
            times, until, starts = _failure_counted(times, until, failures, cooldown, now)
            self._failures[key] = (times, until)
            while len(self._failures) > FAILURE_PEERS:  # (those that failed longest ago forgotten first)
                del self._failures[next(iter(self._failures))]
        return starts, until

    def rate_give_back(self, key: str, interval: float, now: float) -> None:
        """See `SqliteStore.rate_give_back`."""
        with self._lock:
            turn = self._turns.get(key)
            if turn is not None:
                self._turns[key] = (max(now, turn[0] - interval), turn[1])

    def send_claim_attempt_at(self, transaction_id: str, holder: str, attempt_transaction_id: str,
                              url: str) -> bool:
        """See `SqliteStore.send_claim_attempt_at`."""
        with self._lock:
            held = self._claims.get(transaction_id)
            if held is None or held.holder != holder or held.accepted:
                return False
            held.attempt_url, held.attempt_transaction_id = url, attempt_transaction_id
            self._noting(held)
            return True

    def _noting(self, claim: SendClaim) -> None:
        """`claim` found by the TransactionID its note names (`record_sent` lets the note go)."""
        if claim.attempt_transaction_id is not None:
            self._noted_claims.setdefault(claim.attempt_transaction_id, set()).add(claim.transaction_id)

    def send_claim_get(self, transaction_id: str) -> SendClaim | None:
        with self._lock:
            held = self._claims.get(transaction_id)
            return dataclasses.replace(held) if held is not None else None

    def outbox_claim(self, now: datetime, limit: int = 10, lease: timedelta = OUTBOX_LEASE) -> list[OutboxItem]:
        """See `SqliteStore.outbox_claim`."""
        with self._lock:
            due = sorted((i for i in self._outbox.values() if i.state in ("queued", "sending") and i.next_at <= now),
                         key=lambda i: (i.next_at, i.id))[:limit]  # (as SQLite orders them)
            claimed = []
            for item in due:  # (next_at: when it was due)
                claimed.append(dataclasses.replace(item, state="sending", lease_until=now + lease))
                item.state, item.next_at = "sending", now + lease
            return claimed

    def outbox_update(self, item_id: int, state: str, *, attempts: int, next_at: datetime | None = None,
                      message_id: str | None = None, status_code: int | None = None, error: str | None = None,
                      lease_until: datetime | None = None, attempt_url=KEEP_ATTEMPT_URL) -> bool:
        """See `SqliteStore.outbox_update`."""
        with self._lock:
            item = self._outbox.get(item_id)
            holds = item is not None and (item.state == "sending" and item.next_at == lease_until)
            if item is None or (lease_until is not None and not (item.state != "sent" if state == "sent" else holds)):
                return False
            item.state, item.attempts, item.message_id, item.status_code, item.error = (
                state, attempts, message_id, status_code, error)
            if next_at is not None:
                item.next_at = next_at
            if attempt_url is not KEEP_ATTEMPT_URL:
                item.attempt_url = attempt_url
            return True

    def outbox_attempt_at(self, item_id: int, url: str, lease_until: datetime | None) -> bool:
        """See `SqliteStore.outbox_attempt_at`."""
        with self._lock:
            item = self._outbox.get(item_id)
            if item is None or item.state != "sending" or (lease_until is not None and item.next_at != lease_until):
                return False
            item.attempt_url = url
            return True

    def outbox_requeue(self, item_id: int, expires_at: datetime) -> bool:
        with self._lock:
            item = self._outbox.get(item_id)
            if item is None or item.state not in ("failed", "expired"):
                return False
            item.state, item.next_at, item.expires_at = "queued", utcnow(), expires_at
            item.earlier_rounds, item.attempts = item.earlier_rounds + item.attempts, 0
            return True

    def outbox_recover(self, now: datetime | None = None) -> int:
        """See `SqliteStore.outbox_recover`."""
        now = now or utcnow()
        with self._lock:
            stuck = [i for i in self._outbox.values() if i.state == "sending" and i.next_at <= now]
            for item in stuck:
                item.state = "queued"
            return len(stuck)

    def outbox_retry_now(self, now: datetime | None = None) -> int:
        """See `SqliteStore.outbox_retry_now`."""
        now = now or utcnow()
        with self._lock:
            waiting = [i for i in self._outbox.values() if i.state == "queued" and i.attempts and i.next_at > now]
            for item in waiting:
                item.next_at = now
            return len(waiting)

    def outbox_expire(self, before: datetime, why: str) -> list[OutboxItem]:
        """See `SqliteStore.outbox_expire`."""
        with self._lock:
            gone = [i for i in self._outbox.values() if i.state == "queued" and i.expires_at < before]
            for item in gone:
                item.state, item.error = "expired", f"{why} ({item.error or 'never tried'})"
            return [dataclasses.replace(i) for i in gone]

    def outbox_pause(self) -> dict | None:
        """See `SqliteStore.outbox_pause`."""
        with self._lock:
            return dict(self._pause) if self._pause else None

    def set_outbox_pause(self, pause: dict | None) -> None:
        """See `SqliteStore.set_outbox_pause`."""
        with self._lock:
            self._pause = dict(pause) if pause else None

    def outbox_counts(self) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys(OUTBOX_STATES, 0)
            for item in self._outbox.values():
                counts[item.state] += 1
            return counts

    def outbox_get(self, item_id: int) -> OutboxItem | None:
        with self._lock:
            item = self._outbox.get(item_id)
            return dataclasses.replace(item) if item is not None else None

    def outbox_recipients(self, tag: str, states: tuple[str, ...]) -> set[str]:
        """See `SqliteStore.outbox_recipients`."""
        with self._lock:
            return {r for i in self._outbox.values() if i.tag == tag and i.state in states for r in i.recipients}

    def outbox_ids(self, state: str | None = None, *, tag: str | None = None, limit: int | None = None,
                   newest_first: bool = False) -> list[int]:
        """See `SqliteStore.outbox_ids`."""
        return [i.id for i in self.outbox(state, tag=tag, limit=limit, newest_first=newest_first)]

    def outbox(self, state: str | None = None, *, tag: str | None = None, limit: int | None = None,
               newest_first: bool = False) -> list[OutboxItem]:
        with self._lock:
            found = [dataclasses.replace(i) for i in self._outbox.values()
                     if (state is None or i.state == state) and (tag is None or i.tag == tag)]
        found.sort(key=lambda i: i.id, reverse=newest_first)
        return found[:_limit(limit)]

    def check(self, reserve: int = 0, wait: float = 2.0) -> str | None:
        """See `SqliteStore.check`: memory always takes a message, until the store is closed."""
        _checked_wait(wait, bounded=True)
        if self._lock.closed:
            return f"StoreClosed: {StoreClosed('in memory')}"
        return None

    def integrity(self, full: bool = False) -> list[str]:
        """See `SqliteStore.integrity`: memory is never damaged on disk."""
        with self._lock:
            return []

    def vacuum(self) -> None:
        """Nothing to give back: purged records are gone from memory already (as SqliteStore's)."""
        with self._lock:
            pass

    def close(self) -> None:
        """See `SqliteStore.close`: every call after it raises StoreClosed; closing again does nothing."""
        with self._lock.lock:  # (a call in hand in another thread ends first)
            self._lock.closed = True


try:  # POSIX; elsewhere threads are kept apart by the lock, processes by SQLite's busy handler
    from fcntl import LOCK_EX as _LOCK_EX
    from fcntl import LOCK_NB as _LOCK_NB
    from fcntl import LOCK_UN as _LOCK_UN
    from fcntl import flock as _flock
except ImportError:  # pragma: no cover
    _flock = None


class _Locked:
    """`SqliteStore._locked`: a class rather than a generator, taken twice a message (a generator's
    context manager costs five calls more each time)."""

    __slots__ = ("store", "db", "timeout", "wait", "unwaited")

    def __init__(self, store: SqliteStore, db: sqlite3.Connection, timeout: float | None, wait: float | None,
                 unwaited: bool = False):
        self.store, self.db, self.timeout, self.wait, self.unwaited = store, db, timeout, wait, unwaited

    def __enter__(self) -> None:
        store, timeout = self.store, self.timeout
        if timeout is None:
            store._write.__enter__()
            busy = BUSY_TIMEOUT
            if self.unwaited and store._busy.get(id(self.db), 0) >= UNWAITED_BUSY:
                # Outcomes nobody waits for: the busy wait the last batch left serves (one
                # failing after it is kept, and written later). Put back to 30 s, it was one
                # statement more for every other batch under load, the next one with a
                # deadline setting it again.
                busy = store._busy[id(self.db)]
        else:
            deadline = time.monotonic() + timeout
            if not store._write.acquire(timeout):
                raise StoreBusy(f"the store's write lock was held by another process for {self.wait or timeout:g} s")
            # (left so: the connection's next use without a deadline, through _conn, puts it back)
            busy = _busy_ms(deadline - time.monotonic())
        try:
            store._busy_timeout(self.db, busy)
        except BaseException:
            store._write.__exit__(None, None, None)
            raise

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if (self.timeout is not None and kind is not None and issubclass(kind, sqlite3.OperationalError)
                    and "locked" in str(exc)):  # (SQLITE_BUSY: "database is locked")
                raise StoreBusy(f"the store was locked by another program for {self.wait or self.timeout:g} s") from exc
        finally:
            self.store._write.__exit__(None, None, None)


class _Transaction:
    """`with _Transaction(db):` the block as one write transaction, begun IMMEDIATE (the write lock
    waited for at its start, not refused at its first write), committed at its end, rolled back if
    it raises (or its COMMIT does: a COMMIT refused leaves it open), the error going on. Rolled back
    only if still open: after some errors (a full disk, I/O, an interrupt) SQLite has rolled it
    back itself, and a ROLLBACK would fail in turn, the original error only its context. A class,
    not a generator: one for each batch of messages (as `_Locked`)."""

    __slots__ = ("db",)

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                self.db.execute("COMMIT")
        finally:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")


def _busy_ms(left: float) -> int:
    """SQLite's busy timeout for `left` seconds, in steps of 100 ms above a second (shorter, never
    longer): each batch's deadline is a few milliseconds from the one before, and each new value
    of the setting costs a statement."""
    return int(max(0.0, left) * 1000) if left < 1 else int(left * 10) * 100


def sync_dir(directory: str | Path) -> None:
    """Flush a directory's entries (a new file, a rename) to the disk: POSIX only, where a
    directory can be opened; elsewhere the file system journals them itself."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


BUSY_TIMEOUT = 30000  # ms a statement waits for a lock another program holds, unless told otherwise
UNWAITED_BUSY = 1000  # ms: the least busy wait outcomes nobody waits for are written with (see _Locked)
RATE_WAIT = 1.0  # seconds a send waits for the store's lock to take its turn (`rate_reserve`), then takes its own
FAILURE_PEERS = 10_000  # peers a MemoryStore counts wrong credentials of (auth.FailureLimit's max_peers)
LOCK_NOTICE = 5.0  # seconds a new store waits for another process's write lock before saying so


class _WriteLock:
    """One writer at a time, among this process's threads and other processes on the same file
    (gunicorn workers, `mm7bind replay`): a thread lock, then an flock on `<file>.lock`. SQLite's own
    busy handler would make a waiting process sleep in growing steps (measured: stalls up to a
    second with four processes); a waiter on the flock wakes as soon as it is free."""

    def __init__(self, path: str, locks: bool = True):
        self.thread_lock = threading.Lock()
        # (`locks` False: a read-only store, which makes no lock file; its writes fail anyway)
        self.lock_path = path + ".lock" if locks and path != ":memory:" and _flock is not None else None
        self.fd: int | None = None  # opened on first use, closed by close()
        self.shut = False  # its store closed: taken no more (nor its file opened again)
        # (device, inode) of the store's file as it was opened: each write, once the lock is taken,
        # checks its path still names it (`check_file`); None: not checked (in memory, read-only)
        self.file_id: tuple[int, int] | None = None
        self.db_path = path

    def check_file(self) -> None:
        """StoreMoved when the store's path no longer names the file it opened (a stat: next to a
        write's flush, nothing)."""
        if self.file_id is None:
            return
        try:
            st = os.stat(self.db_path)
        except FileNotFoundError:
            raise StoreMoved(self.db_path) from None
        if (st.st_dev, st.st_ino) != self.file_id:
            raise StoreMoved(self.db_path)

    def _checked(self) -> None:
        """(Holding the lock.) `check_file`, letting the lock go when it raises."""
        try:
            self.check_file()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _refuse_if_shut(self) -> None:
        """(Holding thread_lock.) Its store closed: let go, StoreClosed."""
        if self.shut:
            self.thread_lock.release()
            raise StoreClosed(self.lock_path[:-len(".lock")] if self.lock_path else "")

    def __enter__(self) -> _WriteLock:
        self.thread_lock.acquire()
        self._refuse_if_shut()
        if self.lock_path is not None:
            try:
                if self.fd is None:
                    self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                _flock(self.fd, _LOCK_EX)
            except BaseException:
                self.thread_lock.release()
                raise
        self._checked()
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            _flock(self.fd, _LOCK_UN)
        self.thread_lock.release()

    def acquire(self, timeout: float) -> bool:
        """Take the lock as `with` does, but give up after `timeout` seconds (→ False)."""
        deadline = time.monotonic() + timeout
        if not self.thread_lock.acquire(timeout=max(0.0, timeout)):
            return False
        self._refuse_if_shut()
        if self.lock_path is None:
            self._checked()
            return True
        try:
            if self.fd is None:
                self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            pause = 0.0001
            while True:
                try:
                    _flock(self.fd, _LOCK_EX | _LOCK_NB)
                    break
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.thread_lock.release()
                        return False
                    time.sleep(min(pause, left))
                    pause = min(pause * 2, 0.01)
        except BaseException:
            self.thread_lock.release()
            raise
        self._checked()
        return True

    def close(self) -> None:
        with self.thread_lock:
            self._close_file()

    def _close_file(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


SENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    version TEXT NOT NULL,
    recipients TEXT NOT NULL,
    message_id TEXT,
    url TEXT,
    sent_at TEXT NOT NULL,
    status_code INTEGER,
    status_text TEXT,
    error TEXT,
    attempts INTEGER NOT NULL,
    linked_id TEXT
);
CREATE INDEX IF NOT EXISTS sent_message_id ON sent (message_id);
CREATE INDEX IF NOT EXISTS sent_transaction_id ON sent (transaction_id);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id TEXT NOT NULL,
    tag TEXT,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    next_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    recipients TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    message_id TEXT,
    status_code INTEGER,
    error TEXT,
    earlier_rounds INTEGER NOT NULL DEFAULT 0,
    attempt_url TEXT,
    holder TEXT
);
DROP INDEX IF EXISTS outbox_due;
-- The items waiting, in the order they are claimed (next_at, id), with their state: counted by
-- state (each metrics scrape), no row is read (its state comes after the request in it).
DROP INDEX IF EXISTS outbox_claimable;
CREATE INDEX IF NOT EXISTS outbox_waiting ON outbox (next_at, id, state) WHERE state IN ('queued', 'sending');
CREATE INDEX IF NOT EXISTS outbox_tag ON outbox (tag) WHERE tag IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_transaction_id ON outbox (transaction_id);
-- (the tags of items given up, which `store requeue` can put back, for a purge: its campaign is in use)
-- (state in it too: the rows, whose state comes after their body, are not read)
CREATE INDEX IF NOT EXISTS outbox_given_up ON outbox (tag, created_at, state) WHERE state IN ('failed', 'expired');
-- (the finished items a purge deletes, found a tag and a state at a time: the items it keeps, and
-- their bodies, are not read; its queries name these states as written, or SQLite does not use it)
CREATE INDEX IF NOT EXISTS outbox_done ON outbox (tag, state, created_at) WHERE state IN ('sent', 'failed', 'expired');
CREATE TABLE IF NOT EXISTS send_claim (
    transaction_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    lease_until TEXT,
    fingerprint TEXT,
    claimed_at TEXT NOT NULL,
    attempt_url TEXT,
    attempt_transaction_id TEXT
);
-- (the old claims a purge deletes, found without reading the newer ones: accepted claims are kept,
-- one per request sent, as long as the records)
CREATE INDEX IF NOT EXISTS send_claim_claimed_at ON send_claim (claimed_at);
-- The store's own facts (its installation id, where records of a release before end).
CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The clients' rate_limit, one for every process sending through this file (`rate_reserve`): for
-- each MMSC and account, when its next turn comes (wall-clock seconds), and the clock's latest
-- reading (a clock set back moves the turns back with it).
CREATE TABLE IF NOT EXISTS rate_turn (key TEXT PRIMARY KEY, next_at REAL NOT NULL, seen_at REAL NOT NULL);
-- Wrong credentials by peer, counted for every process on this file (`auth_failed`): the times of
-- its recent ones (wall-clock seconds, a JSON list), the end of its cool-down (0: none), its latest.
CREATE TABLE IF NOT EXISTS auth_failure (key TEXT PRIMARY KEY, times TEXT NOT NULL, until REAL NOT NULL,
                                         seen_at REAL NOT NULL);
"""


_open_stores: weakref.WeakSet = weakref.WeakSet()  # SqliteStores of this process, for a fork's child
_inherited: list[sqlite3.Connection] = []  # a forked child's copies of its parent's connections


def _after_fork_in_child() -> None:
    for store in list(_open_stores):
        store._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


EXIT_WAIT = 10.0  # seconds the exit waits for a store to take its kept outcomes (a worker is killed before long)

# What a replay does with a message whose outcome was lost (said in the ERROR line of each).
_REPLAYED_AFTER_LOSS = {
    "handled": "hands it to the handler a second time",
    "rejected": "hands it to the handler again, although it was refused",
    "failed": "hands it to the handler again, as it would have anyway",
}


@atexit.register
def _write_kept_at_exit() -> None:
    """A process leaving without closing its stores (a gunicorn worker's exit, recycling or
    reload: nothing closes the app's store) writes the outcomes they keep, which would otherwise
    be lost and their messages left "processing" until a replay. Its connections are left open:
    a daemon thread may still be using them, and the exit releases them. (A forked child's
    stores are its own from the fork, the parent's kept outcomes left to the parent.)"""
    for store in list(_open_stores):
        if getattr(store, "_pid", None) != os.getpid() or not hasattr(store, "_unrecorded"):
            continue
        with store._batch:
            left = len(store._outcomes_left())
        if not left:
            continue
        log.warning("exiting with %d outcome(s) of %s not recorded yet: writing them, waiting at most %g s for the "
                    "store", left, store.path, EXIT_WAIT)
        try:
            store._write_kept(EXIT_WAIT, at_exit=True)
        except Exception:  # noqa: BLE001 (the next store's are written all the same)
            log.exception("writing the kept outcomes of %s at exit failed", store.path)


APPLICATION_ID = 0x6D6D3762  # "mm7b" in the file's header (PRAGMA application_id): an mm7bind store


def _claim(db: sqlite3.Connection) -> None:
    """Mark a new file as an mm7bind store, or make sure a file is one: a store path pointing at
    another program's database by mistake must be refused, not get our tables added to it. (A
    store written before the mark is recognised by its `sent` table, and marked.)"""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return
    tables = sorted(row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
    columns = {row[1] for row in db.execute("PRAGMA table_info(sent)")}
    if app_id == 0 and (not tables or {"transaction_id", "operation", "recipients"} <= columns):
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        return
    holds = f"tables {', '.join(tables[:5])}{', ...' if len(tables) > 5 else ''}" if tables else "no tables"
    whose = f", application id {app_id:#x}" if app_id else ""
    raise sqlite3.DatabaseError(f"another program's SQLite database ({holds}{whose}), not an mm7bind store: "
                                "left as it is")


def _report_key_index(db: sqlite3.Connection) -> None:
    """The unique index of reports' keys, of the rows with one: a DeliverReq has none, and the
    entry for its NULL that the column's UNIQUE made (as in files of the releases before, which
    keep theirs: dropping it means copying the table) was one more page written per message."""
    for row in db.execute("PRAGMA index_list(inbox)").fetchall():
        if row[3] == "u" and [c[2] for c in db.execute(f"PRAGMA index_info({_quoted(row[1])})")] == ["report_key"]:
            return
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS inbox_report_key ON inbox (report_key) WHERE report_key IS NOT NULL")


def _bodies_out_of_rows(db: sqlite3.Connection) -> None:
    """Move the bodies that records in hand or waiting for replay ("processing", "failed": a
    claim takes them) keep in their rows, in a file written before bodies had a table of their
    own, to that table: a claim's columns (claimed_at, holder) come after the body in the row,
    and `claims()`, at each serve's start, read every such body through to reach them. Once per
    file (noted in store_meta): no record gets its body in its row any more (a rejected one,
    claimed only by a replay asking for it, keeps its own)."""
    if db.execute("SELECT 1 FROM store_meta WHERE name = 'bodies_out_of_rows'").fetchone() is not None:
        return
    in_row = "state IN ('processing', 'failed') AND length(body) > 0"  # (a length read without the bytes)
    with _Transaction(db):
        db.execute(f"INSERT OR IGNORE INTO inbox_body (id, body) SELECT id, body FROM inbox WHERE {in_row}")
        # (a record with a body in each place shows the table's: its row's goes)
        db.execute(f"UPDATE inbox SET body = X'' WHERE {in_row}"
                   " AND EXISTS (SELECT 1 FROM inbox_body b WHERE b.id = inbox.id)")
        db.execute("INSERT INTO store_meta (name, value) VALUES ('bodies_out_of_rows', ?)", (_utc_text(utcnow()),))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _partial_message_id_index(db: sqlite3.Connection) -> None:
    """A file from before the MessageID index left out messages without one has it made again so
    (once, as it opens: the index's column is read, not the bodies)."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'inbox_message_id'").fetchone()
    if row is None or row[0] is None or "WHERE" in row[0].upper():
        return
    with _Transaction(db):
        db.execute("DROP INDEX inbox_message_id")
        db.execute("CREATE INDEX inbox_message_id ON inbox (message_id) WHERE message_id IS NOT NULL")


_MARK = ("UPDATE inbox SET state = ?, response_code = ?, error = ?, answer = ?, attempts = attempts + 1"
         " WHERE id = ?")
# An outcome written again after its batch failed: only onto the claim it was the outcome of,
# still this process's and made before the outcome was kept (`_Pending.again_row`): another
# process may have taken the record since, once its claim went stale, and be handling it, or have
# recorded its own outcome. (Its arguments: _MARK's, the holder and that time before the id.)
_MARK_AGAIN = ("UPDATE inbox SET state = ?, response_code = ?, error = ?, answer = ?, attempts = attempts + 1"
               " WHERE state = 'processing' AND holder IS ? AND claimed_at <= ? AND id = ?")
# How often outcomes kept from a failed batch are tried again while no other write carries them.
OUTCOME_RETRY_EVERY = 1.0


def _installation_id(db: sqlite3.Connection) -> str:
    """The store's installation id (`SqliteStore.installation_id`), made the first time."""
    row = db.execute("SELECT value FROM store_meta WHERE name = 'installation'").fetchone()
    if row is not None:
        return row[0]
    # A file from before with a campaign in it: resuming the campaign must send a request left
    # unanswered again under the TransactionID it had, so that the MMSC can tell the repeat
    earlier = (db.execute("SELECT 1 FROM sent WHERE tag IS NOT NULL LIMIT 1").fetchone()
               or db.execute("SELECT 1 FROM outbox WHERE tag IS NOT NULL LIMIT 1").fetchone())
    value = "" if earlier else secrets.token_hex(8)
    db.execute("INSERT INTO store_meta (name, value) VALUES ('installation', ?)", (value,))
    return value


def _tids_as_written_through(db: sqlite3.Connection) -> tuple[int, int]:
    """The last sent record and outbox item (ids) of a release that derived a campaign's
    TransactionIDs from its recipients as written, noted the first time this one opens the file
    (0, 0 in a new one): see `SqliteStore.campaign_tids_as_written`."""
    row = db.execute("SELECT value FROM store_meta WHERE name = 'tids_as_written_through'").fetchone()
    if row is not None:
        sent, _, outbox = row[0].partition(",")
        return int(sent), int(outbox)
    through = (db.execute("SELECT max(id) FROM sent WHERE tag IS NOT NULL").fetchone()[0] or 0,
               db.execute("SELECT max(id) FROM outbox WHERE tag IS NOT NULL").fetchone()[0] or 0)
    db.execute("INSERT INTO store_meta (name, value) VALUES ('tids_as_written_through', ?)", ("%d,%d" % through,))
    return through


class SqliteStore:
    """Records in one SQLite file. Each thread gets its own connection; writes are committed at once.

    `durability="power"` (the default) flushes every accepted message to the disk before the answer
    goes out, so it survives a power cut; `"process"` leaves the flush to the OS (WAL,
    synchronous=NORMAL): it survives the process being killed, not the machine going down, and
    takes one fsync less per message.

    Opening waits for another process writing the file (a vacuum, an upgrade) as long as it takes,
    saying so after a few seconds; with `wait`, at most that many seconds, then `StoreBusy`.

    `read_only=True` reads an existing store without writing anything, beside it included (no
    lock file, no schema upgrade): a copy taken for inspection, a file or folder this user may not
    write. Every write then fails (sqlite3.OperationalError), and `check` says it takes no message.
    """

    def __init__(self, path: str | Path, durability: str = "power", *, wait: float | None = None,
                 read_only: bool = False):
        if durability not in ("power", "process"):
            raise ValueError("durability must be 'power' or 'process'")
        _checked_wait(wait)  # (past what a lock's wait holds, 1e10 or inf: an OverflowError, and a file left open)
        self.sync = "FULL" if durability == "power" else "NORMAL"
        self.path = str(path)
        self.read_only = bool(read_only)
        if self.read_only and self.path == ":memory:":
            raise ValueError("a store in memory cannot be opened read-only: there is nothing to read")
        if self.path != ":memory:" and not self.read_only:
            folder = Path(self.path).parent
            made = [d for d in (folder, *folder.parents) if not d.exists()]  # (named on disk below, too)
            folder.mkdir(parents=True, exist_ok=True)
            # Every message body is in here: readable by its owner only (SQLite gives its -wal and
            # -shm files the same mode), whatever the umask says.
            new = not os.path.exists(self.path)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            if new and durability == "power":  # (SQLite flushes the name of a -wal it makes, not of this file,
                # nor of the folders made for it: each one's name is in its parent)
                for directory in dict.fromkeys([folder, *(d.parent for d in made)]):
                    sync_dir(directory)
        # ":memory:" would be a database per connection: each thread's (and the outcomes' second
        # one) its own, empty. One named in-memory database shared by them instead, alive while the
        # store's connections are open; read uncommitted, since in shared-cache mode a reader
        # would otherwise be refused (not kept waiting) while a writer holds a table.
        self._memory = self.path == ":memory:"
        self._target = f"file:mm7bind-{os.urandom(8).hex()}?mode=memory&cache=shared" if self._memory else self.path
        self._uri = self._memory
        if self.read_only:
            self._target, self._uri = f"file:{quote(os.path.abspath(self.path))}?mode=ro", True
        self._local = threading.local()
        self._closed = False  # (close(): every call after it raises StoreClosed, nothing is opened again)
        self._group: dict[str, sqlite3.Connection] = {}  # (see _group_conn)
        self._all: list[sqlite3.Connection] = []
        self._busy: dict[int, int] = {}  # each connection's busy timeout (ms) as last set, by id
        self._lock = threading.Lock()
        # One writer at a time: SQLite's own busy handler would make waiters sleep in millisecond
        # steps; a lock hands over at once.
        self._write = _WriteLock(self.path, locks=not self.read_only)
        if not self._memory and not self.read_only:
            st = os.stat(self.path)
            self._write.file_id = (st.st_dev, st.st_ino)
        self._batch = threading.Lock()  # guards the writes waiting for the next group commit, and who leads
        self._queue: list[_Pending] = []
        self._leader = False
        # Outcomes whose batch failed (the store locked past their wait, a full disk), by record id:
        # written with the next batch, or by a thread trying every OUTCOME_RETRY_EVERY seconds.
        self._unrecorded: dict[int, _Pending] = {}
        self._retrier: threading.Thread | None = None
        self._writing: list[_Pending] | tuple = ()  # the batch a leader is writing (kept outcomes' retry among it)
        # Records up to this id may hold a duplicate key of the releases before (0: none can).
        self._old_keys_through = 0
        self._old_keys_checked = time.monotonic()
        self._spent_pruned = float("-inf")
        self._failures_pruned = float("-inf")  # (auth_failure rows: as digest_spent)
        self._installation: str | None = None
        self._as_written_through: tuple[int, int] | None = None
        self._pid = os.getpid()  # (the process whose kept outcomes these are: see _write_kept_at_exit)
        self._reports_kept = False  # (an inbox table to link reports in: known once the file is opened)
        _open_stores.add(self)
        if self.read_only:
            self._open_read_only()
            return
        lock_made = self._write.lock_path is not None and not os.path.exists(self._write.lock_path)
        if not self._write.acquire(LOCK_NOTICE if wait is None else wait):  # (one process at a time creates
            # or upgrades the file). Another process writes (a `store purge --vacuum` takes minutes on
            # a big file): waiting is right, waiting without a word looks like a hang; a caller that
            # gives a `wait` (`mm7bind replay`) hears StoreBusy instead.
            if wait is not None:
                self._write.close()
                raise StoreBusy(f"the store's write lock was held by another process for {wait:g} s")
            log.warning("the store %s is being written by another process: waiting for it to finish", self.path)
            self._write.__enter__()
        refused = False
        try:
            if not self._memory:  # (before any setting of ours, WAL mode included, touches it)
                plain = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                try:
                    _claim(plain)
                except sqlite3.DatabaseError as exc:
                    refused = not isinstance(exc, sqlite3.OperationalError)  # (not a lock held elsewhere)
                    raise
                finally:
                    plain.close()
            db = self._conn()
            db.executescript(SENT_SCHEMA + self.extra_schema())
            if "tag" not in {row[1] for row in db.execute("PRAGMA table_info(sent)")}:
                db.execute("ALTER TABLE sent ADD COLUMN tag TEXT")  # a file from before tags
            db.execute("CREATE INDEX IF NOT EXISTS sent_tag ON sent (tag) WHERE tag IS NOT NULL")
            # (a purge finds the old records, and each tag's latest request, by it: reading the
            # whole table, every hour, found them before)
            db.execute("CREATE INDEX IF NOT EXISTS sent_tag_sent_at ON sent (tag, sent_at)")
            if "earlier_unanswered" not in {row[1] for row in db.execute("PRAGMA table_info(sent)")}:
                # (a file from before it was kept: its records say none, as nothing was known)
                db.execute("ALTER TABLE sent ADD COLUMN earlier_unanswered INTEGER NOT NULL DEFAULT 0")
            if "outbox_item" not in {row[1] for row in db.execute("PRAGMA table_info(sent)")}:
                # (a file from before it was kept: its records name no item, and the outbox tells its
                # items' acceptances by their time, recipients and tag)
                db.execute("ALTER TABLE sent ADD COLUMN outbox_item INTEGER")
            if "delivery_report" not in {row[1] for row in db.execute("PRAGMA table_info(sent)")}:
                # (a file from before it was kept: NULL, not known, and its records count as awaiting
                # their reports, as they did)
                db.execute("ALTER TABLE sent ADD COLUMN delivery_report INTEGER")
            inbox = {row[1] for row in db.execute("PRAGMA table_info(inbox)")}
            self._reports_kept = bool(inbox)  # (a layout of one's own may have no inbox: `extra_schema`)
            if inbox and "claimed_at" not in inbox:  # a file from before claims were stamped
                db.execute("ALTER TABLE inbox ADD COLUMN claimed_at TEXT")
            if inbox and "headers" not in inbox:  # a file from before headers were kept (its records: none)
                db.execute("ALTER TABLE inbox ADD COLUMN headers TEXT")
            if inbox and "path" not in inbox:  # ... and before paths were (its records: none)
                db.execute("ALTER TABLE inbox ADD COLUMN path TEXT")
            if inbox and "answer" not in inbox:  # ... and before what answers said beside their code was
                db.execute("ALTER TABLE inbox ADD COLUMN answer TEXT")
            if inbox and "holder" not in inbox:  # ... and before claims named their process (theirs: by age)
                db.execute("ALTER TABLE inbox ADD COLUMN holder TEXT")
            _partial_message_id_index(db)
            if inbox:
                _report_key_index(db)
                _bodies_out_of_rows(db)
                self._find_old_keys(db)
            outbox = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
            if "fingerprint" not in outbox:
                db.execute("ALTER TABLE outbox ADD COLUMN fingerprint TEXT")  # a file from before the send API's
            if "recipients" not in outbox:  # a file from the outbox's first days (its items: none known)
                db.execute("ALTER TABLE outbox ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]'")
            if "earlier_rounds" not in outbox:  # a file from before requeue restarted the rounds
                db.execute("ALTER TABLE outbox ADD COLUMN earlier_rounds INTEGER NOT NULL DEFAULT 0")
            if "attempt_url" not in outbox:  # a file from before attempts after a fail-over were noted
                db.execute("ALTER TABLE outbox ADD COLUMN attempt_url TEXT")
            if "holder" not in outbox:  # ... and before a claim named its process
                db.execute("ALTER TABLE outbox ADD COLUMN holder TEXT")
            claims = {row[1] for row in db.execute("PRAGMA table_info(send_claim)")}
            if "attempt_url" not in claims:  # a file from before a claimed send's fail-over was noted
                db.execute("ALTER TABLE send_claim ADD COLUMN attempt_url TEXT")
                db.execute("ALTER TABLE send_claim ADD COLUMN attempt_transaction_id TEXT")
            # (the claims whose note a send's record lets go, found by the TransactionID noted: the
            # few noting one, not every claim a campaign keeps)
            db.execute("CREATE INDEX IF NOT EXISTS send_claim_attempt ON send_claim (attempt_transaction_id)"
                       " WHERE attempt_transaction_id IS NOT NULL")
            if "expires_at" not in outbox:  # ... and before items expired: a day after they were due, as then
                db.execute("ALTER TABLE outbox ADD COLUMN expires_at TEXT NOT NULL DEFAULT ''")
                for item_id, next_at in db.execute("SELECT id, next_at FROM outbox").fetchall():
                    db.execute("UPDATE outbox SET expires_at = ? WHERE id = ?",
                               (_utc_text(datetime.fromisoformat(next_at) + timedelta(days=1)), item_id))
            # The waiting items past their deadline, which a pause of the whole queue expires, found
            # without reading the others' rows (made here: a file of then has its expires_at by now)
            db.execute("CREATE INDEX IF NOT EXISTS outbox_expiring ON outbox (expires_at, state)"
                       " WHERE state IN ('queued', 'sending')")
            self._installation = _installation_id(db)
            self._as_written_through = _tids_as_written_through(db)
        finally:
            self._write.__exit__(None, None, None)
            if refused:  # another program's file (or no database): no lock file of ours left beside
                # it, and no descriptor held open for each try
                self._write.close()
                if lock_made:
                    Path(self._write.lock_path).unlink(missing_ok=True)

    def extra_schema(self) -> str:
        return INBOX_SCHEMA

    def _find_old_keys(self, db: sqlite3.Connection) -> None:
        """Where records with a duplicate key of the releases before may be (`holds_old_keys`):
        every record this version finds the first time it opens the file (their keys are of
        then: the element and TransactionID alone, or a digest with the TimeStamp in), noted in
        it as the last such id; each open after asks only whether a record up to that id, not
        too old, is left (a look at one row), and so does each purge, and a minute after the
        last look."""
        # (a name of its own: the release before noted under "old_keys_through" the last record
        # keyed by TransactionID alone, and every record found here includes those)
        row = db.execute("SELECT value FROM store_meta WHERE name = 'keys_before_through'").fetchone()
        if row is None:
            through = db.execute("SELECT max(id) FROM inbox WHERE tid_key IS NOT NULL").fetchone()[0] or 0
            db.execute("INSERT INTO store_meta (name, value) VALUES ('keys_before_through', ?)", (str(through),))
        else:
            through = int(row[0])
        self._old_keys_through = through
        self._forget_old_keys(db)

    def _forget_old_keys(self, db: sqlite3.Connection) -> None:
        """`holds_old_keys` turned off once no record that may hold an old key is left, or the
        last of them came more than OLD_KEYS_WINDOW ago (ids grow with arrival: one row read)."""
        self._old_keys_checked = time.monotonic()
        if not self._old_keys_through:
            return
        last = db.execute("SELECT received_at FROM inbox WHERE id <= ? AND tid_key IS NOT NULL ORDER BY id DESC"
                          " LIMIT 1", (self._old_keys_through,)).fetchone()
        if last is None or last[0] < _cutoff(OLD_KEYS_WINDOW):
            self._old_keys_through = 0

    def campaign_tids_as_written(self, tag: str) -> bool:
        """Whether the campaign of `tag` keeps deriving its TransactionIDs from its recipients as
        written, not from their keys (`bulk.campaign_tid_basis`): it has records or outbox items
        from a release before that, which a resumed run must send again under the TransactionIDs
        they had."""
        if self._as_written_through is None:  # (read-only: as its writer noted it; not noted yet: all of them)
            try:
                row = self._conn().execute(
                    "SELECT value FROM store_meta WHERE name = 'tids_as_written_through'").fetchone()
            except sqlite3.OperationalError:  # (no store_meta yet)
                row = None
            sent, _, outbox = row[0].partition(",") if row else ("%d" % (1 << 62), "", "%d" % (1 << 62))
            self._as_written_through = int(sent), int(outbox)
        sent, outbox = self._as_written_through
        db = self._conn()
        return bool(sent and db.execute("SELECT 1 FROM sent WHERE tag = ? AND id <= ? LIMIT 1", (tag, sent)).fetchone()
                    or outbox and db.execute("SELECT 1 FROM outbox WHERE tag = ? AND id <= ? LIMIT 1",
                                             (tag, outbox)).fetchone())

    def installation_id(self) -> str:
        """This store's own random id (made with it, kept in it), which a campaign's
        TransactionIDs are derived with (`bulk.bulk_transaction_id`): another installation
        running a campaign under the same tag gives other ones. "" for a store that held a
        campaign's requests before it had one: they keep the TransactionIDs they had."""
        if self._closed:  # (known or not, refused as every call after close() is)
            raise StoreClosed(self.path)
        if self._installation is None:  # (read-only: as its writer made it; none made yet: "")
            try:
                row = self._conn().execute("SELECT value FROM store_meta WHERE name = 'installation'").fetchone()
            except sqlite3.OperationalError:  # (no store_meta yet)
                row = None
            self._installation = row[0] if row else ""
        return self._installation

    @property
    def holds_old_keys(self) -> bool:
        """Whether records stored by a release before this one may be here, with their duplicate
        key of then: a copy of one arriving after the upgrade is looked for by it
        (`inbox_stored_before`). False once they are purged (by this process or another: looked
        at again every OLD_KEYS_RECHECK seconds), older than OLD_KEYS_WINDOW, or in a file that
        never had any: then no request pays for that look."""
        if self._closed:  # (an answer from memory would go on after close(), as no other call does)
            raise StoreClosed(self.path)
        if self._old_keys_through and time.monotonic() - self._old_keys_checked >= OLD_KEYS_RECHECK:
            try:
                self._forget_old_keys(self._conn())
            except sqlite3.Error:  # (looked at again in a minute; the lookup itself says what is wrong)
                pass
        return self._old_keys_through > 0

    def inbox_by_key(self, tid_key: str) -> InboxRecord | None:
        """The record stored with duplicate key `tid_key`, if any (through the key's index)."""
        row = self._conn().execute(_INBOX_SELECT + " WHERE i.tid_key = ?", (tid_key,)).fetchone()
        return self._inbox_row(row) if row else None

    def inbox_stored_before(self, *tid_keys: str) -> dict[str, InboxRecord]:
        """The records a release before this one stored under `tid_keys` (its duplicate keys of
        then), by key: those that came within OLD_KEYS_WINDOW (through the key's index)."""
        if not self._old_keys_through or not tid_keys:
            return {}
        rows = self._conn().execute(
            _INBOX_SELECT.replace("SELECT ", "SELECT i.tid_key AS found_key, ", 1)
            + f" WHERE i.tid_key IN ({','.join('?' * len(tid_keys))}) AND i.id <= ? AND i.received_at >= ?",
            (*tid_keys, self._old_keys_through, _cutoff(OLD_KEYS_WINDOW))).fetchall()
        return {row["found_key"]: self._inbox_row(row) for row in rows}

    def _open_read_only(self) -> None:
        """Check that the file is an mm7bind store as this version reads it, without writing.
        With a -wal beside it, another process may be writing: read through its WAL (and -shm,
        there too). Without one, no process has it open: read as immutable, since SQLite would
        otherwise make a -shm and -wal beside it, and leave them (a read-only connection cannot
        remove them), owned by whoever read it: the owner's serve could not use them."""
        if not os.path.isfile(self.path):
            raise sqlite3.OperationalError(f"no store file at {self.path}")
        if not os.path.exists(self.path + "-wal"):
            self._target += "&immutable=1"
        try:
            db = self._conn()
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            columns = {table: {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                       for table in ("sent", "inbox", "outbox", "send_claim", "inbox_body")}
            if app_id != APPLICATION_ID and not (
                    app_id == 0 and {"transaction_id", "operation", "recipients"} <= columns["sent"]):
                raise sqlite3.DatabaseError(f"not an mm7bind store (application id {app_id:#x})")
            needed = {"sent": {"tag"}, "inbox": {"claimed_at", "headers", "path", "answer", "holder"},
                      "send_claim": {"holder"}, "inbox_body": {"body"}, "outbox": {"fingerprint", "recipients", "expires_at"}}
            if any(not wanted <= columns[table] for table, wanted in needed.items()):
                raise sqlite3.DatabaseError("written by an older mm7bind: open it once with write access (any "
                                            "`mm7bind store` command) to bring it up to date")
        except BaseException:
            self.close()
            raise

    def _forked(self) -> None:
        """In a forked child (gunicorn --preload opens the store in the master): new connections,
        a lock file of its own, fresh thread locks. SQLite forbids using a parent's connection in
        the child, and closing one there could checkpoint and remove the WAL the parent still
        uses: they are kept, unused, for the child's lifetime. The inherited lock file descriptor
        shares its flock with the parent (and every sibling), so it would keep nobody apart."""
        _inherited.extend(self._all)
        self._all = []
        self._local = threading.local()
        self._group = {}
        self._busy = {}
        self._lock = threading.Lock()
        if self._write.fd is not None:
            os.close(self._write.fd)  # (our copy only: the parent's stays open, and so does its lock)
        self._write, watched = _WriteLock(self.path, locks=not self.read_only), self._write.file_id
        self._write.file_id = watched
        self._batch = threading.Lock()
        self._queue = []
        self._leader = False
        self._unrecorded = {}  # (the parent's to write)
        self._writing = ()
        self._retrier = None
        self._pid = os.getpid()

    def _conn(self, sync: str | None = None, busy: int | None = BUSY_TIMEOUT) -> sqlite3.Connection:
        """This thread's connection; `sync="NORMAL"` gives its second one, for writes whose loss in a
        power cut costs nothing, so they need not switch the first one's setting. With
        durability="process" the first one has that setting already: it serves both, since a write
        on one connection makes the other re-read the WAL's index (measured: ~10 µs a message).
        Its statements wait `busy` ms for a lock held elsewhere (None: for `_locked`, which sets it).
        (Group commits, outcomes among them, have connections of their own: `_group_conn`.)"""
        if self._closed:
            raise StoreClosed(self.path)
        name = "db" if sync is None or sync == self.sync else "db_" + sync
        db = getattr(self._local, name, None)
        if db is None:
            db = self._connect(sync)
            setattr(self._local, name, db)
        if busy is not None:
            self._busy_timeout(db, busy)
        return db

    def _group_conn(self, sync: str | None = None) -> sqlite3.Connection:
        """The connection group commits are written on, whichever thread leads (one at a time):
        each thread writing on its own, every batch found its connection's cached pages stale
        (another connection had written since) and read them again."""
        if self._closed:
            raise StoreClosed(self.path)
        name = "db" if sync is None or sync == self.sync else "db_" + sync
        db = self._group.get(name)
        if db is None:
            db = self._group[name] = self._connect(sync)
        return db

    def _connect(self, sync: str | None) -> sqlite3.Connection:
        # (a file no longer at the path: a connection opened there would make a new one, and share
        # the moved file's -wal, which its connections still write)
        self._write.check_file()
        db = sqlite3.connect(self._target, timeout=30, isolation_level=None, check_same_thread=False,
                             uri=self._uri)
        if self._memory:
            db.execute("PRAGMA read_uncommitted=true")
        if not self.read_only:  # (a read-only file keeps the mode its writer gave it)
            db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={sync or self.sync}")  # an acknowledged message must survive a crash
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT}")
        db.row_factory = sqlite3.Row
        with self._lock:
            if self._closed:  # (closed while it was being opened: not kept open behind the close)
                db.close()
                raise StoreClosed(self.path)
            self._all.append(db)
            self._busy[id(db)] = BUSY_TIMEOUT
        return db

    def _busy_timeout(self, db: sqlite3.Connection, ms: int) -> None:
        """SQLite's busy timeout on `db`, set when it changes: a write with a deadline shortens it,
        and it is put back only when the connection is next used without one, rather than after
        every write (two statements less per message)."""
        if self._busy.get(id(db)) != ms:
            self._busy.pop(id(db), None)  # (unknown, should the statement fail)
            db.execute(f"PRAGMA busy_timeout={ms}")
            self._busy[id(db)] = ms

    def record_sent(self, rec: SentRecord) -> None:
        """Record a send as it ended. A note of where its last attempt went (`send_claim_attempt_at`,
        `outbox_attempt_at`) is let go in the same transaction: the record says how that attempt
        ended now. (Kept, the note of a process killed once the MMSC's refusal was recorded, before
        it gave its claim or item back, was read by the one taking it over as an attempt that got
        no answer: its send said to have perhaps arrived twice.)"""
        db = self._conn()
        with self._write, _Transaction(db):
            db.execute(
                "INSERT INTO sent (transaction_id, operation, version, recipients, message_id, url, sent_at,"
                " status_code, status_text, error, attempts, linked_id, tag, earlier_unanswered, outbox_item,"
                " delivery_report) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.transaction_id, rec.operation, rec.version, json.dumps(rec.recipients), rec.message_id,
                 rec.url, _utc_text(rec.sent_at), rec.status_code, rec.status_text, rec.error, rec.attempts,
                 rec.linked_id, rec.tag, int(bool(rec.earlier_unanswered)), rec.outbox_item,
                 None if rec.delivery_report is None else int(bool(rec.delivery_report))),
            )
            if rec.url is not None:  # (no attempt made: a note left is of one before, its end not known)
                db.execute("UPDATE send_claim SET attempt_url = NULL, attempt_transaction_id = NULL"
                           " WHERE attempt_transaction_id = ? AND attempt_url = ?", (rec.transaction_id, rec.url))
                if rec.outbox_item is not None:
                    db.execute("UPDATE outbox SET attempt_url = NULL WHERE id = ? AND attempt_url = ?",
                               (rec.outbox_item, rec.url))
            if rec.message_id and rec.operation == "SubmitReq" and self._reports_kept:
                self._link_early_reports(db, rec)

    @staticmethod
    def _link_early_reports(db: sqlite3.Connection, rec: SentRecord) -> None:
        """Link to `rec` the reports about its recipients that came with its MessageID before it
        was recorded (the MMSC's report was quicker than our write: none of ours had that
        MessageID then), as the receiver links those that come after: their `sent_transaction_id`,
        and their duplicate key as the receiver makes it now (a copy the MMSC sends again, with
        another TransactionID, is then known as a repeat, not handed to the handler a second time).
        One lookup through the MessageID's index, which finds none but for such a report."""
        rows = db.execute("SELECT id, recipient, report_key FROM inbox WHERE message_id = ? AND"
                          " sent_transaction_id IS NULL AND kind IN ('DeliveryReportReq', 'ReadReplyReq')",
                          (rec.message_id,)).fetchall()
        for record_id, recipient, key in rows:
            if _about(rec, recipient):
                # (OR IGNORE: a key taken already, by a copy stored meanwhile, leaves this one's)
                db.execute("UPDATE OR IGNORE inbox SET sent_transaction_id = ?, report_key = ? WHERE id = ?",
                           (rec.transaction_id, f"{key}|{rec.transaction_id}" if key is not None else None,
                            record_id))

    def sent_mark(self) -> int:
        """Where the sent records end now (the latest one's id, 0 for none): for
        `accepted_since_mark`."""
        return self._conn().execute("SELECT max(id) FROM sent").fetchone()[0] or 0

    def accepted_since_mark(self, mark: int, urls: list[str]) -> bool:
        """Whether a request sent to one of `urls` (as recorded: `display.shown_url`) was accepted
        (a 1xxx status) in a record kept after `mark` (`sent_mark`), by any sender on this store.
        (The records after the mark alone are read, by their ids.)"""
        if not urls:
            return False
        row = self._conn().execute(
            "SELECT 1 FROM sent WHERE id > ? AND error IS NULL AND status_code >= 1000 AND status_code < 2000"
            f" AND url IN ({', '.join('?' * len(urls))}) LIMIT 1", (mark, *urls)).fetchone()
        return row is not None

    @staticmethod
    def _sent_row(row: sqlite3.Row) -> SentRecord:
        return SentRecord(
            transaction_id=row["transaction_id"], operation=row["operation"], version=row["version"],
            recipients=json.loads(row["recipients"]), message_id=row["message_id"], url=row["url"],
            sent_at=datetime.fromisoformat(row["sent_at"]), status_code=row["status_code"],
            status_text=row["status_text"], error=row["error"], attempts=row["attempts"], linked_id=row["linked_id"],
            tag=row["tag"],
            # (a file from before the column, read-only: not upgraded, its records say none)
            earlier_unanswered=bool(row["earlier_unanswered"]) if "earlier_unanswered" in row.keys() else False,
            outbox_item=row["outbox_item"] if "outbox_item" in row.keys() else None,
            delivery_report=(None if "delivery_report" not in row.keys() or row["delivery_report"] is None
                             else bool(row["delivery_report"])),
        )

    def sent(self, *, message_id: str | None = None, recipient: str | None = None, since: datetime | None = None,
             tag: str | None = None, limit: int | None = None, newest_first: bool = False) -> list[SentRecord]:
        """Sent records, oldest first: all, or those about one MessageID, to one recipient, since a
        time, or under one tag."""
        sql, args = _query("SELECT * FROM sent", [
            ("message_id = ?", message_id), ("tag = ?", tag),
            # recipients are a JSON list: a first cut in SQL, the exact test below
            ("instr(recipients, ?) > 0", json.dumps(recipient)[1:-1] if recipient is not None else None),
            ("sent_at >= ?", _utc_text(since) if since is not None else None)], "id", newest_first)
        found = (self._sent_row(r) for r in self._conn().execute(sql, args))
        if recipient is not None:
            found = (r for r in found if recipient in r.recipients)
        return list(itertools.islice(found, _limit(limit)))

    def sent_by_message_id(self, message_id: str, recipient: str | None = None) -> SentRecord | None:
        """The latest SubmitReq the MMSC gave `message_id`, preferring one sent to `recipient` (a
        report's): MessageIDs are unique per MMSC only, so two MMSCs (fail-over) or one restarted
        with its counter reset (a simulator) may give the same one to two of our messages."""
        rows = self._conn().execute(
            "SELECT * FROM sent WHERE message_id = ? AND operation = 'SubmitReq' ORDER BY id DESC", (message_id,)
        ).fetchall()
        found = [self._sent_row(row) for row in rows]
        return _sent_to_first(found, recipient)

    def submits(self, tag: str) -> Iterator[SentRecord]:
        """Every SubmitReq record under `tag`, oldest first, read one at a time: a campaign of a
        million recipients resumed looks at each without holding them all."""
        rows = self._conn().execute("SELECT * FROM sent WHERE tag = ? AND operation = 'SubmitReq' ORDER BY id",
                                    (tag,))
        return (self._sent_row(row) for row in rows)

    def latest_submits(self, tag: str) -> Iterator[SentRecord]:
        """The SubmitReq records under `tag`, each set of recipients' last (one without
        recipients: each TransactionID's), in the order sent, read one at a time: a campaign
        tried in several rounds, or resumed, counts each request once, as it ended last; one of
        millions of requests is not held in memory at once."""
        rows = self._conn().execute(
            "SELECT s.* FROM sent s JOIN (SELECT max(id) AS id FROM sent WHERE tag = ? AND operation = 'SubmitReq'"
            " GROUP BY CASE recipients WHEN '[]' THEN 't' || transaction_id ELSE 'r' || recipients END) latest"
            " ON s.id = latest.id ORDER BY s.id", (tag,))
        return (self._sent_row(row) for row in rows)

    def sent_by_transaction_id(self, transaction_id: str) -> SentRecord | None:
        row = self._conn().execute(
            "SELECT * FROM sent WHERE transaction_id = ? ORDER BY id DESC LIMIT 1", (transaction_id,)
        ).fetchone()
        return self._sent_row(row) if row else None

    # -- inbox ----------------------------------------------------------------------------------

    def accept(self, *, kind: str, transaction_id: str | None, message_id: str | None, recipient: str | None,
               status: str | None, peer: str | None, content_type: str | None, body: bytes,
               tid_key: str | None, report_key: str | None,
               sent_transaction_id: str | None = None, wait: float | None = None,
               headers=None, path: str | None = None,
               spent: tuple[str, float] | None = None) -> tuple[InboxRecord, bool]:
        """Store an incoming request before anything else happens to it, with its HTTP
        `headers` (a mapping or pairs) as `kept_headers` keeps them: a replay shows them to its
        handler; and the `path` it was POSTed to, without its query (which may carry credentials).

        Returns the record and whether it is new; a request whose key (`tid_key`, `report_key`)
        was seen before is not stored twice: the earlier record comes back instead. With `wait`,
        a store locked longer than that many seconds (by another process: a vacuum, a program
        holding a transaction) raises `StoreBusy` rather than holding the caller for SQLite's 30 s
        busy timeout: an MMSC waiting for its answer gives up sooner, and sends again.

        Requests arriving together are committed together (group commit): one thread writes
        every waiting insert (and every outcome `mark` has waiting) in one transaction, so N
        concurrent messages cost one flush to disk, not N; each caller returns only once its own
        row is durable.

        `spent`: the Digest answer the request came with (`DigestAuth.spent`), written in the same
        transaction; one spent already, by any process on this file, raises `DigestReplayed` and
        nothing is stored.
        """
        _checked_wait(wait)
        received_at = utcnow()
        kept, path = kept_headers(headers), _request_path(path)
        pending = _Pending((kind, transaction_id, message_id, recipient, status, peer, content_type,
                            received_at.isoformat(), tid_key, report_key, sent_transaction_id,
                            _JSON.encode(kept) if kept else None, path), body, wait, spent)
        self._commit(pending)
        if pending.replayed:
            raise DigestReplayed("its Digest answer (nonce and count) was spent already")
        if pending.conflict is not None:  # already there: the earlier record comes back
            if pending.found is None:  # not a repeat: some other constraint refused the row
                raise pending.conflict
            return self._inbox_row(pending.found), False
        # What was just written, without reading it (and the body) back.
        return InboxRecord(id=pending.rowid, kind=kind, transaction_id=transaction_id, message_id=message_id,
                           recipient=recipient, status=status, peer=peer, content_type=content_type, body=bytes(body),
                           received_at=received_at, state="processing",
                           sent_transaction_id=sent_transaction_id, claimed_at=received_at, headers=kept,
                           path=path, holder=holders.this_process()), True

    def spend(self, spent: tuple[str, float], *, wait: float | None = None) -> None:
        """Keep a Digest answer spent (as `accept(spent=)` does) for a request that stores nothing
        (refused, or a copy of a message a release before stored, answered as its repeat).
        `DigestReplayed` when it was spent already. Not flushed to disk: a power cut losing it
        only lets its header be taken once more while its nonce lives."""
        _checked_wait(wait)
        db = self._conn("NORMAL", busy=None)
        with self._locked(db, wait, wait):
            try:
                db.execute("INSERT INTO digest_spent (key, until) VALUES (?, ?)", spent)
            except sqlite3.IntegrityError:
                raise DigestReplayed("its Digest answer (nonce and count) was spent already") from None

    def _commit(self, pending: _Pending, detach: bool = False) -> None:
        """Queue `pending` for the next group commit and return once it is written (raising the
        batch's error if it failed). One thread at a time, the leader, writes whatever is queued;
        each waiter is woken once, when its write is done or when the lead passes to it (woken
        all at once, every waiter but one would go back to sleep, for a batch each). With
        `detach` (an outcome), a write queued while a leader is at work is left to the leaders:
        its caller returns at once (the leader's error, if any, is logged)."""
        with self._batch:
            self._queue.append(pending)
            if self._leader:
                if detach:
                    pending.detached, pending.deadline = True, None
                    return
                pending.wake = threading.Lock()
                pending.wake.acquire()
            else:
                self._leader = True
        if pending.wake is not None:
            try:
                pending.wake.acquire()  # done, or the lead is ours (the one before us left the rest queued)
            except BaseException:  # (KeyboardInterrupt in the main thread)
                self._withdraw(pending)
                raise
        if not pending.done:
            self._lead()
        if pending.error is not None and not pending.kept:
            raise pending.error

    def _withdraw(self, pending: _Pending) -> None:
        """Take back a write whose caller stopped waiting: still queued, it would be handed the
        lead with nobody there to take it, and every later write would wait for ever. (One a
        leader is writing already is left to it.)"""
        with self._batch:
            if pending not in self._queue:
                return
            self._queue.remove(pending)
            if pending.wake.acquire(blocking=False):  # the lead had been passed to it: passed on
                waiter = next((p for p in self._queue if p.wake is not None), None)
                if waiter is not None:
                    waiter.wake.release()
                else:  # (outcomes left queued, if any, go with the next write)
                    self._leader = False

    def _lead(self) -> None:
        """Write what is queued (the leader's own write among it), wake the writers done with it,
        and pass the lead to the first one queued meanwhile, if any."""
        more = True
        while more:
            with self._batch:
                batch, self._queue = self._queue, []
                if self._unrecorded:  # (first: a later outcome of the same record is queued after them)
                    newer = {p.row[-1] for p in batch if p.body is None}
                    batch[:0] = [p.retried() for i, p in self._unrecorded.items() if i not in newer]
                    self._unrecorded = {}
                self._writing = batch  # (outcomes among it are nowhere else until it ends: see _outcomes_left)
            written = False
            try:
                self._write_batch(batch)
                written = True
            finally:
                self._keep([p for p in batch if p.kept])  # (before their callers go on)
                for p in batch:
                    if p.wake is not None:
                        p.wake.release()
                    elif p.detached and p.error is not None and not p.kept:  # (nobody waits to hear of it)
                        log.error("the outcome of #%d (%s) could not be recorded (%s: %s): it stays "
                                  "'processing'", p.row[-1], p.row[0], type(p.error).__name__, p.error)
                with self._batch:
                    self._writing = ()  # (those not written are kept by now: _keep)
                    waiter = next((p for p in self._queue if p.wake is not None), None) if self._queue else None
                    if waiter is not None:
                        waiter.wake.release()  # (queued while we led) it writes the whole queue
                    # Outcomes alone queued meanwhile: written by us, in one more batch. (Interrupted,
                    # they wait for the next write: its leader takes the whole queue.)
                    more = waiter is None and bool(self._queue) and written
                    if waiter is None and not more:
                        self._leader = False

    def _keep(self, outcomes: list[_Pending]) -> None:
        """Keep outcomes whose batch failed (the store locked past their wait, a full disk) to be
        written again: with the next batch, or by a thread trying every OUTCOME_RETRY_EVERY
        seconds. Dropped, each was a message handled and answered, left "processing" for a
        replay (or a repeat, once its claim is stale) to handle again."""
        if not outcomes:
            return
        kept_at = _utc_text(utcnow())
        with self._batch:
            for p in outcomes:
                p.kept_at = p.kept_at or kept_at
                self._unrecorded[p.row[-1]] = p
            start = self._retrier is None
            if start:
                self._retrier = threading.Thread(target=self._retry_outcomes, name="mm7bind-outcomes", daemon=True)
        if start:
            try:
                self._retrier.start()
            except RuntimeError:  # (at the interpreter's shutdown: the exit's own try is the last)
                self._retrier = None
        for p in outcomes:
            if not p.again:  # (said once, not at every try)
                log.warning("the outcome of #%d (%s) could not be recorded now (%s: %s): kept, to be written with "
                            "the store's next write", p.row[-1], p.row[0], type(p.error).__name__, p.error)

    def _retry_outcomes(self) -> None:
        """The kept outcomes' writer while nothing else is written: leads a batch of them (with
        whatever is queued) when no other thread leads, until none is left."""
        while True:
            time.sleep(OUTCOME_RETRY_EVERY)
            with self._batch:
                if not self._unrecorded:
                    self._retrier = None
                    return
                if self._leader:  # (its next batch takes them)
                    continue
                self._leader = True
            try:
                self._lead()
            except Exception:  # (kept again by _lead; tried once more in a while)
                log.exception("writing the kept outcomes failed")

    def _outcomes_left(self) -> list[_Pending]:
        """The outcomes not recorded yet that only this process knows of: kept from a failed batch,
        in the batch a leader is writing (the kept ones' retry is one), or queued for the next one.
        (Under self._batch.)"""
        return [*self._unrecorded.values(), *(p for p in (*self._writing, *self._queue) if p.body is None)]

    def _write_unrecorded(self, wait: float | None = None) -> None:
        """Write the kept outcomes now, once the thread leading a batch (if any) is done: that batch
        may be their retry, which writes them or, the store still locked, keeps them again. With
        `wait`, giving up after about that many seconds (waiting for the leader, then for the
        store's lock)."""
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            with self._batch:
                if not self._outcomes_left():
                    return
                if not self._leader:
                    self._leader = True
                    if deadline is not None:
                        left = max(0.0, deadline - time.monotonic())
                        for p in (*self._unrecorded.values(), *self._queue):  # (queued: left by an interrupted leader)
                            p.wait = left if p.wait is None else min(p.wait, left)
                            p.deadline = deadline if p.deadline is None else min(p.deadline, deadline)
                    break
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(0.01)
        self._lead()

    def _write_batch(self, batch: list[_Pending]) -> None:
        # Outcomes alone need no flush (see mark): they go through the connection that does none.
        # The batch is written by its most impatient caller's deadline (they arrive in order, so
        # each one's earlier batch was given up on by then too). (One loop: batches are mostly of one.)
        inserts = spends = False
        first = None
        for p in batch:
            inserts = inserts or p.body is not None
            spends = spends or p.spent is not None
            if p.deadline is not None and (first is None or p.deadline < first.deadline):
                first = p
        timeout = None if first is None else max(0.0, first.deadline - time.monotonic())
        try:  # (from the connection on: every caller is done with this batch, one way or the other)
            db = self._group_conn(None if inserts else "NORMAL")
            with self._locked(db, timeout, first.wait if first is not None else None,
                              unwaited=first is None and not inserts):
                if len(batch) == 1 and not inserts:  # one statement: its own transaction
                    db.execute(_MARK_AGAIN if batch[0].again else _MARK, batch[0].row)
                    return
                with _Transaction(db):  # (its commit: the one flush to disk for the whole batch)
                    if spends and time.monotonic() - self._spent_pruned >= SPENT_PRUNE_EVERY:
                        db.execute("DELETE FROM digest_spent WHERE until < ?", (time.time() - SPENT_MARGIN,))
                        self._spent_pruned = time.monotonic()
                    holder = holders.this_process()
                    for p in batch:
                        if p.spent is not None:
                            try:
                                db.execute("INSERT INTO digest_spent (key, until) VALUES (?, ?)", p.spent)
                            except sqlite3.IntegrityError:
                                if not db.in_transaction:
                                    raise
                                p.replayed = True
                                continue
                        if p.body is None:
                            try:
                                db.execute(_MARK_AGAIN if p.again else _MARK, p.row)
                            except Exception as exc:  # (a value SQLite cannot take): its caller's error alone
                                if not db.in_transaction:
                                    raise
                                p.error = exc
                            continue
                        try:
                            p.rowid = db.execute(
                                "INSERT INTO inbox (kind, transaction_id, message_id, recipient, status, peer,"
                                " content_type, body, received_at, state, tid_key, report_key, sent_transaction_id,"
                                " headers, path, claimed_at, holder)"
                                " VALUES (?,?,?,?,?,?,?,X'',?,'processing',?,?,?,?,?,?,?)",
                                (*p.row, p.row[7], holder),
                            ).lastrowid
                        except sqlite3.IntegrityError as exc:
                            if not db.in_transaction:  # the whole transaction went, not just this row
                                raise
                            p.conflict = exc  # most likely a repeat; only this statement is undone
                            # The record holding its key, read before the lock is let go: a purge
                            # by another process could delete it between the two.
                            p.found = db.execute(_INBOX_BY_KEYS, (p.row[8], p.row[9])).fetchone()
                            continue
                        db.execute("INSERT INTO inbox_body (id, body) VALUES (?, ?)", (p.rowid, p.body))
        except Exception as exc:  # nothing of the batch is stored: every caller sees the error
            # (but an outcome, kept to be written again: the message was handled; not for an error
            # that no later try can escape: a value SQLite cannot take, a read-only store)
            again = isinstance(exc, (sqlite3.OperationalError, OSError)) and not self.read_only
            for p in batch:
                p.error, p.kept = exc, p.body is None and again
        except BaseException:
            for p in batch:  # (an outcome not recorded is a store error, as when written alone: kept, not fatal)
                p.error = RuntimeError("storing was interrupted") if p.body is not None else sqlite3.OperationalError(
                    "recording the outcome was interrupted")
                p.kept = p.body is None and not self.read_only
            raise
        finally:
            for p in batch:
                p.done = True

    def _locked(self, db: sqlite3.Connection, timeout: float | None, wait: float | None = None, *,
                unwaited: bool = False) -> _Locked:
        """The write lock, and SQLite's busy wait on `db`, for at most `timeout` seconds in all
        (None: as long as the lock takes, then SQLite's 30 s); then `StoreBusy`, saying the
        caller waited `wait` seconds (its whole wait: `timeout` is what is left of it).
        `unwaited` (outcomes alone, no caller waiting): SQLite's busy wait as the connection has
        it, when that is at least UNWAITED_BUSY ms."""
        return _Locked(self, db, timeout, wait, unwaited)

    def claim(self, record_id: int, states: tuple[str, ...] = ("failed",), *,
              stale_before: datetime | None = None, wait: float | None = None, spare_live: bool = False,
              note: str | None = None) -> bool:
        """Take a record in one of `states` for processing (it becomes "processing", claimed now);
        False if it is in none of them: someone else has it, or had it. "processing" among the
        states takes a record only if its claim is older than `stale_before` (its worker died),
        or at once if the process holding it is known to be gone (`holders.gone`: one of this
        machine that was killed, or crashed): each claim is stamped with its time and process, so
        of two taking the same record at once one gets it, and a record a live worker claimed a
        moment ago (say, a repeat of a message that failed long ago) is never taken from it.
        `spare_live` (a replay): a claim of another process of this machine known to run still
        (`holders.running_elsewhere`) is left to it however old, checked in the same transaction.
        `note`: written as its `error` with the claim (`IN_HAND_AT_START`: what a process that ends
        with it in hand leaves said); without it the error of a try before stays until the outcome.
        `wait`: as `accept`'s."""
        _checked_wait(wait)
        others, stale = _claimable(states, stale_before)
        marks = ",".join("?" * len(others))
        db = self._conn(busy=None)
        with self._batch:  # (its outcome, kept from a failed batch, is written first: it may be final)
            kept = self._unrecorded.pop(record_id, None)
        try:
            with self._locked(db, wait, wait):
                if kept is not None:
                    db.execute(_MARK_AGAIN, kept.again_row())
                    kept = None
                dead = None  # the holder of its claim, if that process is gone (only that claim is taken)
                if stale is not None:
                    row = db.execute("SELECT holder FROM inbox WHERE id = ? AND state = 'processing'",
                                     (record_id,)).fetchone()
                    if row is not None and holders.gone(row[0]):
                        dead = row[0]
                    elif row is not None and spare_live and holders.running_elsewhere(row[0]):
                        return False  # (its worker may be at it right now)
                cur = db.execute(
                    "UPDATE inbox SET state = 'processing', claimed_at = ?, holder = ?, error = COALESCE(?, error)"
                    f" WHERE id = ? AND (state IN ({marks}) OR (state = 'processing' AND"
                    " (COALESCE(claimed_at, received_at) < ? OR holder = ?)))",
                    (_utc_text(utcnow()), holders.this_process(), note, record_id, *others, stale, dead))
        finally:
            if kept is not None:
                with self._batch:
                    self._unrecorded.setdefault(record_id, kept)
        return cur.rowcount == 1

    def mark(self, record_id: int, state: str, response_code: int | None = None, error: str | None = None, *,
             wait: float | None = None, answer: dict[str, Any] | None = None) -> None:
        """Record a message's outcome (committed, with others waiting, as `accept` commits
        messages). `wait`: as `accept`'s; `answer`: what the answer said beside its code
        (`InboxRecord.answer`), as JSON. An outcome that cannot be written within `wait` (or
        for a full disk) raises nothing: it is kept, and written with the next write (`_keep`)."""
        _checked_wait(wait)
        # The outcome need not reach the disk before the answer: the WAL is flushed in order by the
        # next durable commit, and an outcome lost in a crash only means the message is replayed.
        # It joins the group commit: under load, one transaction (one lock taken) records several
        # outcomes, with the messages stored meanwhile. While another thread is writing, it is
        # left to that thread (and those after it), and this one goes on at once: waiting would
        # cost two thread switches, and a transaction of its own when it came too late to join.
        said = _JSON.encode(answer) if answer else None
        self._commit(_Pending((state, response_code, error, said, record_id), None, wait), detach=True)

    @staticmethod
    def _inbox_row(row: sqlite3.Row) -> InboxRecord:
        return InboxRecord(
            id=row["id"], kind=row["kind"], transaction_id=row["transaction_id"], message_id=row["message_id"],
            recipient=row["recipient"], status=row["status"], peer=row["peer"], content_type=row["content_type"],
            body=bytes(row["body"]), received_at=datetime.fromisoformat(row["received_at"]), state=row["state"],
            response_code=row["response_code"], error=row["error"], attempts=row["attempts"],
            sent_transaction_id=row["sent_transaction_id"], claimed_at=datetime.fromisoformat(row["claimed_at"]),
            headers=_headers_json(row["headers"]), path=row["path"],
            answer=json.loads(row["answer"]) if row["answer"] else {}, holder=row["holder"],
        )

    def inbox_get(self, record_id: int) -> InboxRecord | None:
        row = self._conn().execute(_INBOX_SELECT + " WHERE i.id = ?", (record_id,)).fetchone()
        return self._inbox_row(row) if row else None

    def inbox(self, state: str | None = None, kind: str | None = None, *, message_id: str | None = None,
              since: datetime | None = None, limit: int | None = None, newest_first: bool = False) -> list[InboxRecord]:
        """Received records, oldest first (`newest_first` and `limit` for the latest few)."""
        sql, args = _query(_INBOX_SELECT, self._inbox_conditions(state, kind, message_id, since), "i.id", newest_first,
                           limit)
        return [self._inbox_row(r) for r in self._conn().execute(sql, args)]

    def inbox_ids(self, state: str | None = None, kind: str | None = None, *, message_id: str | None = None,
                  since: datetime | None = None, limit: int | None = None, newest_first: bool = False) -> list[int]:
        """The ids of the records `inbox(...)` lists: what a walk through many of them lists,
        reading each with `inbox_get` (not every body at once)."""
        sql, args = _query("SELECT i.id FROM inbox i", self._inbox_conditions(state, kind, message_id, since), "i.id",
                           newest_first, limit)
        return [row[0] for row in self._conn().execute(sql, args)]

    def claims(self) -> dict[int, tuple[datetime, str | None]]:
        """The claims of the messages in hand ("processing"): id → (when it was claimed, the process
        that claimed it, `InboxRecord.holder`), oldest first. Their bodies are not read: who holds
        them is all a look at what is in hand needs."""
        rows = self._conn().execute("SELECT id, COALESCE(claimed_at, received_at), holder FROM inbox"
                                    " WHERE state = 'processing' ORDER BY id")
        return {row[0]: (datetime.fromisoformat(row[1]), row[2]) for row in rows}

    @staticmethod
    def _inbox_conditions(state, kind, message_id, since) -> list[tuple[str, object]]:
        return [("i.state = ?", state or None), ("i.kind = ?", kind or None), ("i.message_id = ?", message_id),
                ("i.received_at >= ?", _utc_text(since) if since is not None else None)]

    def reports_for(self, message_id: str) -> list[InboxRecord]:
        """The delivery reports and read replies received about one MessageID, oldest first."""
        return [r for r in self.inbox(message_id=message_id) if r.kind in REPORT_KINDS]

    def unrecorded(self) -> dict[int, str]:
        """The outcomes this process has not recorded yet, record id → state: those kept in memory
        because the store could not take them (locked past their wait, a full disk), written with
        the store's next write, at close() or at the process's exit, and any another thread is
        writing right now. Their records say "processing" meanwhile."""
        with self._batch:
            return {p.row[-1]: p.row[0] for p in self._outcomes_left()}

    def open_counts(self) -> dict[str, int]:
        """How many stored messages are in each state but handled (found through the state index)."""
        counts = dict.fromkeys(OPEN_STATES, 0)
        marks = ",".join("?" * len(OPEN_STATES))
        for state, n in self._conn().execute(
                f"SELECT state, count(*) FROM inbox WHERE state IN ({marks}) GROUP BY state", OPEN_STATES):
            counts[state] = n
        return counts

    def purge(self, before: datetime | timedelta, *, states: tuple[str, ...] = PURGEABLE, bodies_only: bool = False,
              sent: bool = True, dry_run: bool = False) -> Purged:
        """Forget what is older than `before` (a time, or an age as a timedelta), so the file does
        not grow for ever.

        Received records in `states` (by default handled and rejected: nothing more is owed to
        them; failed ones wait for replay, and "processing" ones are refused) are deleted, or with
        `bodies_only` kept without their body and its HTTP headers (their state, keys and report
        links stay: repeats are still recognised, but the message can no longer be replayed or
        extracted; the headers served only a replay, and a carrier's may name the subscriber). Sent records,
        sent outbox items (failed and expired ones too when `states` holds "failed": `store
        requeue` can put them back) and finished send claims older than `before` go too, unless
        `sent=False` or `bodies_only` (which deletes no record). What work in progress still
        needs stays whatever its age (`_purgeable_sent`): a campaign's records while it is in use
        (a request of it newer, or an item of it waiting, or failed or expired and kept), the
        records of outbox items waiting, and claims of sends under way. A repeat of a
        deleted message is taken as new: keep records longer than the MMSC keeps retrying (hours;
        days for a long outage).
        The space is reused by new records; VACUUM gives it back to the file system.
        """
        _check_purge(states)
        sent = sent and not bodies_only  # bodies only: the tag's history and report links stay too
        cutoff = _cutoff(before)
        # The handled and rejected records found by age through `inbox_finished` (its states as
        # it names them, or SQLite cannot use it), a state at a time, the states' runs merged in
        # its order (not sorted); those of other states (failed: few) through `inbox_state`, which
        # had each purge read every handled record's row.
        # (what else a record that goes must be: with bodies only, one with a body or headers left — a
        # body purged before headers went with it too)
        besides = (" AND (length(i.body) > 0 OR i.headers IS NOT NULL OR EXISTS"
                   " (SELECT 1 FROM inbox_body b WHERE b.id = i.id AND length(b.body) > 0))") if bodies_only else ""
        # A campaign in use keeps the reports linked to its records with them, whatever their age: its
        # summary counts them (a campaign running longer than the purge's age said "no report yet"
        # again of its first recipients). (The tags in use: `_purgeable_sent`'s, noted before these run.)
        besides += (" AND NOT EXISTS (SELECT 1 FROM sent s WHERE s.transaction_id = i.sent_transaction_id"
                    " AND s.tag IN (SELECT tag FROM temp.purge_tags_in_use))") if sent else ""
        finished = list(dict.fromkeys(s for s in states if s in PURGEABLE))
        others = [s for s in states if s not in PURGEABLE]
        olds = []  # (select, the columns its rows are walked in: see _in_batches)
        if finished:
            runs = " UNION ALL ".join(
                ("SELECT i.id, i.received_at FROM inbox i WHERE i.state IN ('handled', 'rejected') AND i.state = ?"
                 f" AND i.received_at < ?{besides}") for _ in finished)
            olds.append(((f"SELECT id, received_at FROM ({runs}) WHERE 1 = 1",
                          tuple(arg for state in finished for arg in (state, cutoff))), ("received_at", "id")))
        if others:
            olds.append((((f"SELECT i.id FROM inbox i WHERE i.state IN ({','.join('?' * len(others))})"
                           f" AND i.received_at < ?{besides}"), (*others, cutoff)), None))
        out = Purged()
        db = self._conn()
        if sent:
            old_sent, old_outbox, old_claims = self._purgeable_sent(db, cutoff, "failed" in states)
        if dry_run:

            def count(select: tuple[str, tuple]) -> int:
                return db.execute(f"SELECT count(*) FROM ({select[0]})", select[1]).fetchone()[0]

            found = sum(count(old) for old, _ in olds)
            out.bodies, out.inbox = (found, 0) if bodies_only else (0, found)
            if sent:
                out.sent, out.outbox = count(old_sent), count(old_outbox)
            return out
        for old, by in olds:
            if bodies_only:  # (the records stay: each batch goes on from the last one's, in the index's order)
                out.bodies += self._in_batches(old, "UPDATE inbox_body SET body = X'' WHERE id IN ({ids})",
                                               "UPDATE inbox SET body = X'', headers = NULL WHERE id IN ({ids})",
                                               by=by)
            else:
                out.inbox += self._in_batches(old, "DELETE FROM inbox_body WHERE id IN ({ids})",
                                              "DELETE FROM inbox WHERE id IN ({ids})", deleting=True)
        if sent:
            out.sent = self._in_batches(old_sent, "DELETE FROM sent WHERE id IN ({ids})", deleting=True)
            out.outbox = self._in_batches(old_outbox, "DELETE FROM outbox WHERE id IN ({ids})", deleting=True)
            self._in_batches(old_claims, "DELETE FROM send_claim WHERE rowid IN ({ids})", deleting=True)
        if out.inbox:
            self._forget_old_keys(self._conn())
        return out

    @staticmethod
    def _purgeable_sent(db: sqlite3.Connection, cutoff: str, failed: bool) -> tuple[tuple, tuple, tuple]:
        """The selects of the sent records, outbox items and send claims a purge up to `cutoff`
        deletes (`failed`: failed and expired outbox items too). Kept whatever their age: a
        campaign's (a tag's) records and items while it is in use — a request of it newer than
        the cutoff, an item of it waiting in the outbox, or one given up (failed, expired) that
        this purge keeps for `store requeue`: a resumed run skips whom they say were sent, and a
        campaign purged half-way sent them a second message — the records of
        the requests outbox items waiting are (their worker, stopped between the MMSC's
        acceptance and marking the item sent, finds it accepted there), and the claims of sends
        under way (their lease running). (The tags in use, and those done, are noted once, for
        the whole purge, in tables of this connection's own: found a tag at a time through
        `sent_tag_sent_at`, the records of tags in use are never read, however many.)"""
        db.execute("CREATE TEMP TABLE IF NOT EXISTS purge_tags_in_use (tag TEXT PRIMARY KEY)")
        db.execute("CREATE TEMP TABLE IF NOT EXISTS purge_tags_done (tag TEXT PRIMARY KEY)")
        db.execute("CREATE TEMP TABLE IF NOT EXISTS purge_outbox_tags_done (tag TEXT PRIMARY KEY)")
        db.execute("DELETE FROM temp.purge_tags_in_use")
        db.execute("DELETE FROM temp.purge_tags_done")
        db.execute("DELETE FROM temp.purge_outbox_tags_done")
        # Each tag once, from the index (a seek per tag, not a read of every record), with its
        # latest request: a tag's records are read only when they go.
        db.execute("WITH RECURSIVE tags (tag) AS (SELECT min(tag) FROM sent UNION ALL"
                   " SELECT (SELECT min(tag) FROM sent WHERE tag > tags.tag) FROM tags WHERE tags.tag IS NOT NULL)"
                   " INSERT OR IGNORE INTO temp.purge_tags_in_use SELECT tag FROM tags WHERE tag IS NOT NULL"
                   " AND (SELECT max(sent_at) FROM sent WHERE sent.tag = tags.tag) >= ?", (cutoff,))
        # (the waiting items found through their index, `outbox_waiting`, not the tags' (+tag): an
        # item's state comes after its body in the row, each tagged item's body read through otherwise)
        db.execute("INSERT OR IGNORE INTO temp.purge_tags_in_use SELECT tag FROM outbox"
                   " WHERE state IN ('queued', 'sending') AND +tag IS NOT NULL")
        # Items given up that this purge keeps keep their campaign too: `store requeue` puts them
        # back, and a campaign resumed meanwhile skips whom its records say were sent. (Forgotten
        # while a paused campaign's items waited, it sent everyone a second message.) (+tag: found
        # through `outbox_given_up`, not `outbox_tag`, which reads every tagged item's row)
        db.execute("INSERT OR IGNORE INTO temp.purge_tags_in_use SELECT tag FROM outbox"
                   " WHERE state IN ('failed', 'expired') AND +tag IS NOT NULL AND created_at >= ?",
                   (cutoff if failed else "",))
        db.execute("WITH RECURSIVE tags (tag) AS (SELECT min(tag) FROM sent UNION ALL"
                   " SELECT (SELECT min(tag) FROM sent WHERE tag > tags.tag) FROM tags WHERE tags.tag IS NOT NULL)"
                   " INSERT OR IGNORE INTO temp.purge_tags_done SELECT tag FROM tags WHERE tag IS NOT NULL"
                   " AND tag NOT IN (SELECT tag FROM temp.purge_tags_in_use)")
        # The finished items' tags, each once from `outbox_done` (an item's tag need not be a record's).
        finished = "state IN ('sent', 'failed', 'expired')"  # (OUTBOX_DONE as the index says it: with ?s, or
        # another wording, SQLite cannot tell the rows asked for are in it, and reads every row instead)
        db.execute("WITH RECURSIVE tags (tag) AS ("
                   f"SELECT (SELECT min(tag) FROM outbox WHERE {finished} AND tag IS NOT NULL) UNION ALL"
                   f" SELECT (SELECT min(tag) FROM outbox WHERE {finished} AND tag > tags.tag) FROM tags"
                   " WHERE tags.tag IS NOT NULL)"
                   " INSERT OR IGNORE INTO temp.purge_outbox_tags_done SELECT tag FROM tags WHERE tag IS NOT NULL"
                   " AND tag NOT IN (SELECT tag FROM temp.purge_tags_in_use)")
        # (the untagged records and those of the tags done, each found by `sent_tag_sent_at`)
        old_sent = ("SELECT id FROM sent s WHERE (tag IS NULL OR tag IN (SELECT tag FROM temp.purge_tags_done))"
                    " AND sent_at < ? AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.transaction_id = s.transaction_id"
                    " AND o.state IN ('queued', 'sending'))", (cutoff,))
        # (the untagged items and those of the tags done, each state's found by `outbox_done`: a scan
        # of the table read every item's row, request and all, at every purge)
        done = OUTBOX_DONE if failed else ("sent",)
        going = f"{finished} AND state IN ({','.join('?' * len(done))}) AND created_at < ?"
        old_outbox = ((f"SELECT id FROM outbox WHERE {going} AND tag IS NULL UNION ALL SELECT id FROM outbox"
                       f" WHERE {going} AND tag IN (SELECT tag FROM temp.purge_outbox_tags_done)"),
                      (*done, cutoff, *done, cutoff))
        old_claims = ("SELECT rowid FROM send_claim WHERE claimed_at < ? AND (lease_until IS NULL OR lease_until <= ?)",
                      (cutoff, _utc_text(utcnow())))
        return old_sent, old_outbox, old_claims

    PURGE_BATCH = 500  # rows per transaction: an accept waits for at most one batch, never the whole purge

    def _in_batches(self, select: tuple[str, tuple], *statements: str, deleting: bool = False,
                    by: tuple[str, str] | None = None) -> int:
        """Run `statements` on the rows `select` (SQL and its arguments, the row's id first)
        finds, a batch per transaction, until none is left. (Each batch goes on from the last
        id of the one before: rows the select finds and a statement leaves, none, used to be read
        again at every batch.) `deleting`: the statements delete every row found, and each batch
        takes the first rows left in the order the select finds them (its index's): in id order,
        rows found through an index were all found, and sorted, again at every batch. `by`: the
        rows are walked in the order of these two columns, an index's (the select gives the id,
        then the first), each batch going on from the last row of the one before."""
        sql, args = select
        column = sql.split()[1].rstrip(",")  # ("SELECT id ...": the id selected)
        db = self._conn()
        total = 0
        after, by_after = -1 << 63, ("", -1 << 63)  # (by: every stored time is after "")
        while True:
            with self._write, _Transaction(db):
                if deleting:
                    query, batch = f"{sql} LIMIT ?", (*args, self.PURGE_BATCH)
                elif by is not None:
                    query = f"{sql} AND ({by[0]}, {by[1]}) > (?, ?) ORDER BY {by[0]}, {by[1]} LIMIT ?"
                    batch = (*args, *by_after, self.PURGE_BATCH)
                else:
                    query, batch = (f"{sql} AND {column} > ? ORDER BY {column} LIMIT ?",
                                    (*args, after, self.PURGE_BATCH))
                rows = db.execute(query, batch).fetchall()
                ids = [row[0] for row in rows]
                marks = ",".join("?" * len(ids))
                for statement in statements if ids else ():
                    db.execute(statement.format(ids=marks), ids)
            total += len(ids)
            if len(ids) < self.PURGE_BATCH:
                return total
            after = ids[-1]
            if by is not None:
                by_after = (rows[-1][1], rows[-1][0])

    # -- outbox -------------------------------------------------------------------------------

    def outbox_put_many(self, entries: list[dict], *, once: bool = False) -> list[OutboxItem]:
        """Keep requests for sending, each from its `due` until its `expires_at`: one transaction,
        committed (flushed, with durability "power") on return. Each entry: transaction_id, tag,
        content_type, body, due, expires_at, recipients. With `once`, an entry whose TransactionID
        an item already has (queued, sending or sent) is left out: checked in the same transaction,
        so two processes putting the same entries at once put them once. → the items put in."""
        db = self._conn()
        with self._write, _Transaction(db):
            items = self._outbox_insert(db, entries, once)
        return items

    @staticmethod
    def _outbox_insert(db: sqlite3.Connection, entries: list[dict], once: bool) -> list[OutboxItem]:
        """Insert `entries` (in the caller's transaction); with `once`, not those whose TransactionID
        an item already has (queued, sending or sent), or whose TransactionID or "claim_key" (a
        campaign's recipient, `bulk.recipient_claim`) a sender holds (`send_claim`: a direct run of
        the same campaign is sending it, or the MMSC accepted it)."""
        now = utcnow()
        items = []
        pending = ",".join("?" * len(OUTBOX_PENDING))
        for e in entries:
            if once and (db.execute(f"SELECT 1 FROM outbox WHERE transaction_id = ? AND state IN ({pending})",
                                    (e["transaction_id"], *OUTBOX_PENDING)).fetchone() or db.execute(
                    "SELECT 1 FROM send_claim WHERE transaction_id IN (?, ?) AND (lease_until IS NULL OR lease_until > ?)",
                    (e["transaction_id"], e.get("claim_key") or e["transaction_id"], _utc_text(now))).fetchone()):
                continue
            item_id = db.execute(
                "INSERT INTO outbox (transaction_id, tag, content_type, body, created_at, next_at, expires_at,"
                " recipients, state, fingerprint) VALUES (?,?,?,?,?,?,?,?,'queued',?)",
                (e["transaction_id"], e["tag"], e["content_type"], bytes(e["body"]), _utc_text(now),
                 _utc_text(e["due"]), _utc_text(e["expires_at"]), json.dumps(list(e["recipients"])),
                 e.get("fingerprint"))).lastrowid
            items.append(OutboxItem(item_id, e["transaction_id"], e["tag"], e["content_type"], bytes(e["body"]),
                                    now, e["due"], e["expires_at"], list(e["recipients"]),
                                    fingerprint=e.get("fingerprint")))
        return items

    def outbox_put_once(self, entry: dict) -> tuple[OutboxItem | None, bool]:
        """Keep one request (an entry as `outbox_put_many`'s, with its "fingerprint") unless an item
        already has its TransactionID, whatever its state: → (that item, False), or (the new one,
        True); (None, False) when a sender holds it (`send_claim`). Checked and put in one
        transaction: two callers putting the same request at once put it once."""
        db = self._conn()
        with self._write, _Transaction(db):
            row = db.execute("SELECT * FROM outbox WHERE transaction_id = ? ORDER BY id LIMIT 1",
                             (entry["transaction_id"],)).fetchone()
            items = self._outbox_insert(db, [entry], True) if row is None else []
        if row is not None:
            return self._outbox_row(row), False
        return (items[0], True) if items else (None, False)

    def outbox_find(self, transaction_id: str) -> OutboxItem | None:
        """The latest item put in with `transaction_id`, whatever its state, or None."""
        row = self._conn().execute("SELECT * FROM outbox WHERE transaction_id = ? ORDER BY id DESC LIMIT 1",
                                   (transaction_id,)).fetchone()
        return self._outbox_row(row) if row else None

    # -- sending once ---------------------------------------------------------------------------

    def send_claim(self, claim: SendClaim, stale: Callable[[SendClaim], bool]) -> SendClaim:
        """Take `claim.transaction_id` for sending, unless someone holds it: → `claim` when it is
        now ours, else the claim that holds it. A claim whose MMSC accepted the request is never
        taken; another is when `stale(it)` says its holder is gone (checked in the same
        transaction: of two callers at once, one gets it)."""
        db = self._conn()
        with self._write, _Transaction(db):
            row = db.execute("SELECT * FROM send_claim WHERE transaction_id = ?",
                             (claim.transaction_id,)).fetchone()
            held = self._claim_row(row) if row is not None else None
            if held is None or (not held.accepted and stale(held)):
                if held is not None:  # (taken over: where its holder's last attempt went, kept)
                    claim.attempt_url, claim.attempt_transaction_id = (held.attempt_url,
                                                                       held.attempt_transaction_id)
                db.execute("INSERT OR REPLACE INTO send_claim (transaction_id, holder, lease_until, fingerprint,"
                           " claimed_at, attempt_url, attempt_transaction_id) VALUES (?,?,?,?,?,?,?)",
                           (claim.transaction_id, claim.holder,
                            _utc_text(claim.lease_until) if claim.lease_until else None, claim.fingerprint,
                            _utc_text(claim.claimed_at), claim.attempt_url, claim.attempt_transaction_id))
                held = claim
        return held

    def rate_reserve(self, key: str, interval: float, tolerance: float, now: float) -> float:
        """Take the next turn to send at `key` (an MMSC and account) under a rate limit shared by
        every process on this file (`retry.SharedRateLimiter`) → seconds from `now` (`time.time()`)
        until it comes. A turn comes every `interval` seconds, `tolerance` seconds of them ahead of
        time for a burst (the generic cell rate algorithm: one row a key, whatever the rate). Not
        flushed: a power cut losing a turn costs a send's wait, no message. `StoreBusy` past
        RATE_WAIT seconds locked (a vacuum of minutes: the sender takes turns of its own meanwhile)."""
        db = self._conn("NORMAL", busy=None)
        with self._locked(db, RATE_WAIT, RATE_WAIT), _Transaction(db):
            turn = _turn_at(db.execute("SELECT next_at, seen_at FROM rate_turn WHERE key = ?", (key,)).fetchone(),
                            now)
            db.execute("INSERT OR REPLACE INTO rate_turn (key, next_at, seen_at) VALUES (?, ?, ?)",
                       (key, turn + interval, now))
        return max(0.0, turn - now - tolerance)

    def auth_failed(self, key: str, failures: int, cooldown: float, now: float) -> tuple[bool, float]:
        """Count a wrong answer of the peer `key` (`auth.FailureLimit`, given this store) for every
        process on this file: `failures` of them within `cooldown` seconds start a cool-down that
        long → (whether this one started it, the end of the peer's cool-down, 0 or past for none);
        `now` is `time.time()`. Several server processes (gunicorn's workers) each counting their
        own let a guesser try `failures` passwords a cool-down in each. Not flushed; rows a day
        old are deleted as others are written. `StoreBusy` past RATE_WAIT seconds locked."""
        db = self._conn("NORMAL", busy=None)
        with self._locked(db, RATE_WAIT, RATE_WAIT), _Transaction(db):
            row = db.execute("SELECT times, until FROM auth_failure WHERE key = ?", (key,)).fetchone()
            times, until = (json.loads(row[0]), row[1]) if row is not None else ([], 0.0)
            times, until, starts = _failure_counted(times, until, failures, cooldown, now)
            db.execute("INSERT OR REPLACE INTO auth_failure (key, times, until, seen_at) VALUES (?, ?, ?, ?)",
                       (key, json.dumps(times), until, now))
            if time.monotonic() - self._failures_pruned >= SPENT_PRUNE_EVERY:
                db.execute("DELETE FROM auth_failure WHERE seen_at < ? AND until < ?", (now - 86_400, now))
                self._failures_pruned = time.monotonic()
        return starts, until

    def rate_give_back(self, key: str, interval: float, now: float) -> None:
        """Give back a turn `rate_reserve` gave whose send was not made: the turns after it come
        sooner (never before `now`)."""
        db = self._conn("NORMAL", busy=None)
        with self._locked(db, RATE_WAIT, RATE_WAIT):
            db.execute("UPDATE rate_turn SET next_at = max(?, next_at - ?) WHERE key = ?", (now, interval, key))

    def send_done(self, transaction_id: str, holder: str, accepted: bool) -> None:
        """The end of a claimed send: accepted by the MMSC, the claim is kept for good (nobody sends
        it again); otherwise it is let go (if still `holder`'s), so that it can be tried again."""
        with self._write:
            if accepted:
                self._conn().execute("UPDATE send_claim SET lease_until = NULL WHERE transaction_id = ?",
                                     (transaction_id,))
            else:
                self._conn().execute("DELETE FROM send_claim WHERE transaction_id = ? AND holder = ?"
                                     " AND lease_until IS NOT NULL", (transaction_id, holder))

    def send_claim_attempt_at(self, transaction_id: str, holder: str, attempt_transaction_id: str,
                              url: str) -> bool:
        """Note, before it goes, that an attempt of the send under `holder`'s claim of
        `transaction_id` goes to `url` (as shown: no password), sending `attempt_transaction_id`;
        False if the claim is no longer `holder`'s (or was accepted). Its holder killed before the
        send ends, the claim taken over keeps the note, and that send goes to that MMSC first."""
        with self._write:
            return self._conn().execute(
                "UPDATE send_claim SET attempt_url = ?, attempt_transaction_id = ? WHERE transaction_id = ?"
                " AND holder = ? AND lease_until IS NOT NULL",
                (url, attempt_transaction_id, transaction_id, holder)).rowcount == 1

    def send_claim_get(self, transaction_id: str) -> SendClaim | None:
        row = self._conn().execute("SELECT * FROM send_claim WHERE transaction_id = ?", (transaction_id,)).fetchone()
        return self._claim_row(row) if row is not None else None

    @staticmethod
    def _claim_row(row: sqlite3.Row) -> SendClaim:
        noted = "attempt_url" in row.keys()  # noqa: SIM118 (a file from before the column, opened read only)
        return SendClaim(row["transaction_id"], row["holder"],
                         datetime.fromisoformat(row["lease_until"]) if row["lease_until"] else None,
                         row["fingerprint"], datetime.fromisoformat(row["claimed_at"]),
                         row["attempt_url"] if noted else None, row["attempt_transaction_id"] if noted else None)

    def outbox_claim(self, now: datetime, limit: int = 10, lease: timedelta = OUTBOX_LEASE) -> list[OutboxItem]:
        """Take up to `limit` queued items that are due: they become "sending" for `lease` (nobody
        else gets them meanwhile; their next_at holds the lease's end). An item whose lease ran out
        is taken again: its worker died or hangs (the same TransactionID goes out again, which an
        MMSC that saw it can tell is a repeat)."""
        db = self._conn()
        with self._write, _Transaction(db):
            rows = db.execute("SELECT * FROM outbox WHERE state IN ('queued', 'sending') AND next_at <= ?"
                              " ORDER BY next_at, id LIMIT ?", (_utc_text(now), limit)).fetchall()
            if rows:
                marks = ",".join("?" * len(rows))
                db.execute(f"UPDATE outbox SET state = 'sending', next_at = ?, holder = ? WHERE id IN ({marks})",
                           [_utc_text(now + lease), holders.this_process(), *(r["id"] for r in rows)])
        return [dataclasses.replace(self._outbox_row(r), state="sending", lease_until=now + lease) for r in rows]

    def outbox_update(self, item_id: int, state: str, *, attempts: int, next_at: datetime | None = None,
                      message_id: str | None = None, status_code: int | None = None, error: str | None = None,
                      lease_until: datetime | None = None, attempt_url=KEEP_ATTEMPT_URL) -> bool:
        """Record how an item ended its round; False if nothing was changed. With the
        `lease_until` its claim gave, only while that claim holds: a worker whose lease ran out
        (it hung, or the clock jumped) no longer owns the item, and its outcome must not undo the
        new holder's. Except "sent": the MMSC took the message, whoever tried meanwhile.
        `attempt_url`: its `OutboxItem.attempt_url` from now (None: the round's end recorded; by
        default it is left as it is)."""
        fence, args = "", []
        if lease_until is not None:
            fence, args = (" AND state != 'sent'", []) if state == "sent" else (
                " AND state = 'sending' AND next_at = ?", [_utc_text(lease_until)])
        keep = attempt_url is KEEP_ATTEMPT_URL
        with self._write:
            return self._conn().execute(
                "UPDATE outbox SET state = ?, attempts = ?, next_at = COALESCE(?, next_at), message_id = ?,"
                " status_code = ?, error = ?, attempt_url = CASE WHEN ? THEN attempt_url ELSE ? END WHERE id = ?"
                + fence,
                (state, attempts, _utc_text(next_at) if next_at else None, message_id, status_code, error,
                 keep, None if keep else attempt_url, item_id, *args)).rowcount == 1

    def outbox_attempt_at(self, item_id: int, url: str, lease_until: datetime | None) -> bool:
        """Note, before it goes, that an attempt of a claimed item's send goes to `url` (as
        shown: no password), while the claim that gave `lease_until` holds; False if not noted.
        Its process killed before the round's end is recorded, that MMSC may have the request:
        its next round goes there first (another MMSC would deliver a second copy)."""
        fence, args = ("", []) if lease_until is None else (" AND next_at = ?", [_utc_text(lease_until)])
        with self._write:
            return self._conn().execute("UPDATE outbox SET attempt_url = ? WHERE id = ? AND state = 'sending'"
                                        + fence, (url, item_id, *args)).rowcount == 1

    def outbox_requeue(self, item_id: int, expires_at: datetime) -> bool:
        """Put a failed or expired item back in the queue, due now, until `expires_at` (say, once
        the credentials the MMSC refused are fixed); False if it is not failed or expired. Its
        rounds start again (new tries were asked for: the first pause is short again), those it
        had counted in `earlier_rounds`."""
        with self._write:
            return self._conn().execute(
                "UPDATE outbox SET state = 'queued', next_at = ?, expires_at = ?,"
                " earlier_rounds = earlier_rounds + attempts, attempts = 0 WHERE id = ?"
                " AND state IN ('failed', 'expired')", (_utc_text(utcnow()), _utc_text(expires_at), item_id)
            ).rowcount == 1

    def outbox_recover(self, now: datetime | None = None) -> int:
        """Items left "sending" whose lease has run out (their worker stopped) are queued again;
        so are those of a process of this machine known to be gone, due at once (`holders.gone`: a
        worker killed, restarted at once — they waited out their lease, up to half an hour for a
        large batch); ones a live worker holds are left to it."""
        now_text = _utc_text(now or utcnow())
        db = self._conn()
        with self._write:
            # (the waiting items named as their index names them: SQLite reads no finished item's row,
            # request and all, as a scan of the table did at each start)
            recovered = db.execute("UPDATE outbox SET state = 'queued' WHERE state IN ('queued', 'sending')"
                                   " AND state = 'sending' AND next_at <= ?", (now_text,)).rowcount
            # (those still under lease: a batch or a few, each worker's; their holders looked up once)
            dead = [h for (h,) in db.execute("SELECT DISTINCT holder FROM outbox WHERE state IN ('queued', 'sending')"
                                             " AND state = 'sending' AND holder IS NOT NULL").fetchall()
                    if holders.gone(h)]
            for holder in dead:
                recovered += db.execute("UPDATE outbox SET state = 'queued', next_at = ? WHERE state IN"
                                        " ('queued', 'sending') AND state = 'sending' AND holder = ?",
                                        (now_text, holder)).rowcount
            return recovered

    def outbox_retry_now(self, now: datetime | None = None) -> int:
        """Items queued again after a failed round, waiting out their pause, are due now (not those
        put in for a later time and never tried)."""
        now_text = _utc_text(now or utcnow())
        with self._write:
            return self._conn().execute("UPDATE outbox SET next_at = ? WHERE state IN ('queued', 'sending')"
                                        " AND state = 'queued' AND attempts > 0 AND next_at > ?",
                                        (now_text, now_text)).rowcount  # (through `outbox_waiting`, as above)

    def outbox_expire(self, before: datetime, why: str) -> list[OutboxItem]:
        """Queued items whose deadline (`expires_at`) is before `before` expire now, `why` said in
        their error before the one they had (a pause of the whole queue kept them unsent: they are
        told so when it passes, not at the first round after it); → those items. Items in a worker's
        hands ("sending") are left to it."""
        db = self._conn()
        with self._write, _Transaction(db):
            # (through `outbox_expiring`: only the items past their deadline are read)
            rows = db.execute("SELECT * FROM outbox WHERE state IN ('queued', 'sending') AND state = 'queued'"
                              " AND expires_at < ?", (_utc_text(before),)).fetchall()
            if rows:
                marks = ",".join("?" * len(rows))
                db.execute(f"UPDATE outbox SET state = 'expired', error = ? || ' (' || COALESCE(error, 'never"
                           f" tried') || ')' WHERE state = 'queued' AND id IN ({marks})",
                           [why, *(r["id"] for r in rows)])
        return [dataclasses.replace(self._outbox_row(r), state="expired",
                                    error=f"{why} ({r['error'] or 'never tried'})") for r in rows]

    def outbox_pause(self) -> dict | None:
        """The outbox's pause after refusals alike, as `set_outbox_pause` kept it, or None."""
        try:
            row = self._conn().execute("SELECT value FROM store_meta WHERE name = 'outbox_refusal_pause'").fetchone()
        except sqlite3.OperationalError:  # (a file from before store_meta, opened read only)
            return None
        try:
            pause = json.loads(row[0]) if row is not None else None
        except ValueError:
            return None
        return pause if isinstance(pause, dict) else None

    def set_outbox_pause(self, pause: dict | None) -> None:
        """Keep the outbox's pause after refusals alike (a dict of JSON values) for a worker started
        later on this store, or forget it (None)."""
        with self._write:
            if pause is None:
                self._conn().execute("DELETE FROM store_meta WHERE name = 'outbox_refusal_pause'")
            else:
                self._conn().execute("INSERT OR REPLACE INTO store_meta (name, value) VALUES ('outbox_refusal_pause', ?)",
                                     (json.dumps(pause),))

    @staticmethod
    def _outbox_row(row: sqlite3.Row) -> OutboxItem:
        return OutboxItem(
            id=row["id"], transaction_id=row["transaction_id"], tag=row["tag"], content_type=row["content_type"],
            body=bytes(row["body"]), created_at=datetime.fromisoformat(row["created_at"]),
            next_at=datetime.fromisoformat(row["next_at"]), expires_at=datetime.fromisoformat(row["expires_at"]),
            recipients=json.loads(row["recipients"]), state=row["state"], attempts=row["attempts"],
            message_id=row["message_id"], status_code=row["status_code"], error=row["error"],
            fingerprint=row["fingerprint"],
            # (a file from before the column, opened read only; a Row's `in` looks at its values)
            earlier_rounds=row["earlier_rounds"] if "earlier_rounds" in row.keys() else 0,  # noqa: SIM118
            attempt_url=row["attempt_url"] if "attempt_url" in row.keys() else None)  # noqa: SIM118

    def outbox_counts(self) -> dict[str, int]:
        """How many outbox items are in each state."""
        counts = dict.fromkeys(OUTBOX_STATES, 0)
        # (the waiting and the finished ones each through their index, which holds the state, as
        # the index names them: a scan of the table read every item's request to reach its state)
        for group in ("('queued', 'sending')", "('sent', 'failed', 'expired')"):
            for state, n in self._conn().execute(f"SELECT state, count(*) FROM outbox WHERE state IN {group}"
                                                 " GROUP BY state"):
                counts[state] = n
        return counts

    def outbox_get(self, item_id: int) -> OutboxItem | None:
        row = self._conn().execute("SELECT * FROM outbox WHERE id = ?", (item_id,)).fetchone()
        return self._outbox_row(row) if row else None

    def outbox_recipients(self, tag: str, states: tuple[str, ...]) -> set[str]:
        """Everyone the items under `tag` in one of `states` are for, without reading the items'
        requests: a campaign resumed asks this of a queue that may hold gigabytes."""
        marks = ",".join("?" * len(states))
        rows = self._conn().execute(f"SELECT recipients FROM outbox WHERE tag = ? AND state IN ({marks})",
                                    (tag, *states))
        return {r for (text,) in rows for r in json.loads(text)}

    def outbox_ids(self, state: str | None = None, *, tag: str | None = None, limit: int | None = None,
                   newest_first: bool = False) -> list[int]:
        """The ids of the items `outbox(...)` lists, to be read one at a time with `outbox_get`:
        each holds its request, attachments and all."""
        sql, args = _query("SELECT id FROM outbox", [("state = ?", state), ("tag = ?", tag)], "id", newest_first,
                           limit)
        return [row[0] for row in self._conn().execute(sql, args)]

    def outbox(self, state: str | None = None, *, tag: str | None = None, limit: int | None = None,
               newest_first: bool = False) -> list[OutboxItem]:
        sql, args = _query("SELECT * FROM outbox", [("state = ?", state), ("tag = ?", tag)], "id", newest_first,
                           limit)
        return [self._outbox_row(r) for r in self._conn().execute(sql, args)]

    def check(self, reserve: int = 0, wait: float = 2.0) -> str | None:
        """Why the store could not take a message right now, or None when it can: what a health
        check asks. It reads through the index, needs `reserve` bytes free on the file's disk (the
        largest message the receiver takes: a nearly full disk passes a small write and fails the
        next message), and writes a row, waiting at most `wait` seconds for the write lock (held
        longer by another program, every arriving message would wait as long). Reading alone says
        nothing of a full disk, a read-only file or a lock held elsewhere."""
        _checked_wait(wait, bounded=True)
        import shutil  # noqa: PLC0415

        try:
            self.open_counts()
            if self.read_only:
                return "opened read-only: no message can be stored through it"
            if not self._memory and reserve > 0:
                free = shutil.disk_usage(Path(self.path).resolve().parent).free
                if free < reserve:
                    return f"{free} bytes free on the store's disk, less than one message may need ({reserve})"
            if not self._write.acquire(wait):
                return f"the store's write lock was held by another process for {wait:g} s"
            try:
                db = self._conn("NORMAL")  # (no flush to disk: what is tested is that it can be written)
                self._busy_timeout(db, int(wait * 1000))
                try:
                    with _Transaction(db):
                        db.execute("CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, checked_at TEXT NOT NULL)")
                        db.execute("INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, ?)", (utcnow().isoformat(),))
                finally:
                    self._busy_timeout(db, BUSY_TIMEOUT)
            finally:
                self._write.__exit__(None, None, None)
        except STORE_ERRORS as exc:  # (logged by /health: without the file's name all the same)
            return f"{type(exc).__name__}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
        return None

    def integrity(self, full: bool = False) -> list[str]:
        """What SQLite finds damaged in the file (a disk or a copy gone wrong): [] when nothing.
        PRAGMA quick_check, or with `full` integrity_check, which also compares every index with
        its table (a damaged index is how repeats go unrecognised). Both read the whole file:
        seconds per hundred megabytes; writers are not held up (WAL)."""
        try:
            found = [row[0] for row in self._conn().execute(
                "PRAGMA integrity_check" if full else "PRAGMA quick_check")]
        except StoreClosed:  # (not damage found)
            raise
        except sqlite3.DatabaseError as exc:  # (damaged beyond what the check can walk)
            return [f"{type(exc).__name__}: {exc}"]
        return [] if found == ["ok"] else [line for row in found for line in row.splitlines() if line.strip()]

    def vacuum(self) -> None:
        """Give the space of purged records back to the file system (rewrites the file: it takes
        a while on a big one, and writers wait)."""
        with self._write:
            db = self._conn()
            db.execute("VACUUM")
            # In WAL mode the rewritten file goes through the WAL: while another process (serve)
            # has the store open, the old file stayed whole until a checkpoint and the WAL, as large,
            # for good. A reader holding its snapshot is waited for briefly (writers wait meanwhile);
            # busy, it is left to a later checkpoint: nothing is lost.
            self._conn(busy=2000).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _write_kept(self, wait: float | None = None, at_exit: bool = False) -> None:
        """A last try at the outcomes kept from a failed batch (`wait`: see _write_unrecorded); those
        it cannot write are dropped, each logged: its record stays "processing", and a replay hands
        its message to the handler again. `at_exit`: the process ends, and the outcomes another thread is still
        writing (a retry waiting for the lock) or has queued end with it: said as well."""
        self._write_unrecorded(wait)
        with self._batch:
            left = self._outcomes_left() if at_exit else list(self._unrecorded.values())
            self._unrecorded = {}
        when = f"the process exited (it waited {wait:g} s for the store)" if at_exit else "the store closed"
        for p in left:
            why = f"{type(p.error).__name__}: {p.error}" if p.error is not None else "its write had not ended"
            log.error("the outcome of #%d (%s) could not be recorded before %s (%s): it is lost. Its record stays "
                      "'processing', and `mm7bind replay` %s", p.row[-1], p.row[0], when, why,
                      _REPLAYED_AFTER_LOSS.get(p.row[0], "hands it to the handler again"))

    def close(self) -> None:
        """Write the outcomes kept in memory (`unrecorded`), then close the file: every call after
        it raises `StoreClosed` (a worker still at it when the store was closed under it opened a
        connection of its own again, which nothing closed, and its writes went on without a word).
        A write in hand in another thread ends first; closing again does nothing."""
        if self._closed:
            return
        if self._unrecorded:
            self._write_kept()
        with self._write.thread_lock:  # (a write in hand, another thread's transaction, ends first)
            if self._closed:
                return
            with self._lock:
                self._closed = True
                for db in self._all:
                    db.close()
                self._all.clear()
                self._busy.clear()
                self._group = {}
            self._local = threading.local()
            self._write.shut = True
            self._write._close_file()
        _open_stores.discard(self)


@dataclass
class TagSummary:
    """How the requests sent under one tag (a campaign) are doing: `summarize(store, tag)`."""

    tag: str
    requests: int = 0  # SubmitReqs recorded under the tag (each set of recipients once: its last try)
    accepted: int = 0  # ... that the MMSC took (a 1xxx status)
    earlier_unanswered: int = 0  # ... of those, after an attempt that got no answer: the MMSC may have them twice
    refused: int = 0  # ... that it answered with another status
    failed: int = 0  # ... that got no MM7 answer at all
    may_have_arrived: int = 0  # ... of those, the ones the MMSC may have taken all the same (`mm7bind.arrival`)
    recipients: int = 0  # recipients of the accepted ones
    delivery: dict[str, int] = field(default_factory=dict)  # latest delivery report status → recipients
    awaiting: int = 0  # recipients of accepted messages without a delivery report yet
    # ... of messages that asked for none (DeliveryReport false or absent) and got none: not awaited.
    # (A record from before this was kept counts as awaiting, as it did.)
    not_asked: int = 0
    read: dict[str, int] = field(default_factory=dict)  # latest read reply status → recipients
    queued: int = 0  # recipients of the tag's outbox items not sent yet (queued, or being sent)


def reports_about(store, rec: SentRecord) -> list[InboxRecord]:
    """The delivery reports and read replies about one sent request, oldest first: those received
    with its MessageID that the receiver matched to it (`sent_transaction_id`), or, not matched to
    any, name one of its recipients. Another of our messages may carry the same MessageID (from
    another MMSC, or one whose counter was reset): its reports are not this one's."""
    if not rec.message_id or rec.operation in REPORT_KINDS:  # (an MMSC's report is about no report)
        return []
    return [r for r in store.reports_for(rec.message_id)
            if (r.sent_transaction_id == rec.transaction_id if r.sent_transaction_id else _about(rec, r.recipient))]


def _about(rec: SentRecord, recipient: str | None) -> bool:
    """Whether a report about `recipient` (None: it names none) that no request of ours was
    matched to is about `rec`, given its MessageID."""
    return recipient is None or _sent_to(rec.recipients, recipient)


def _sent_to(recipients: list[str], recipient: str) -> bool:
    """Whether an MMSC's report about `recipient` is about one of a request's `recipients`: as
    written, or the same number written another way (`bulk.recipient_key`: "8613800000001" for
    our "+8613800000001", as many MMSCs write it back)."""
    if recipient in recipients:
        return True
    from .bulk import recipient_key  # noqa: PLC0415 (bulk reads the store)

    key = recipient_key(recipient)
    return any(recipient_key(r) == key for r in recipients)


def _sent_to_first(found: list[SentRecord], recipient: str | None) -> SentRecord | None:
    """Of the requests given one MessageID (the latest first), the one sent to `recipient` (a
    report's): as written first, else written another way (another request's report went to the
    latest: two of our messages with one MessageID, a report writing "8613800000001" for the
    "+8613800000001" sent to); else the latest."""
    if recipient is None:
        return found[0] if found else None
    return next((r for r in found if recipient in r.recipients), None) or next(
        (r for r in found if _sent_to(r.recipients, recipient)), found[0] if found else None)


def _latest_submits(records) -> Iterator[SentRecord]:
    """`latest_submits` of a store's records read whole (a store of another kind than ours)."""
    latest: dict[tuple, SentRecord] = {}
    for rec in records:
        if rec.operation == "SubmitReq":
            key = ("r", *rec.recipients) if rec.recipients else ("t", rec.transaction_id)
            latest.pop(key, None)  # (in the order of each one's last record, as SQLite lists them)
            latest[key] = rec
    return iter(list(latest.values()))


# Statuses after which the MMSC still holds the message (as the simulator reads them): a final one
# received before (Retrieved, Rejected, Expired, ...; Read, Deleted) is not undone by one of these
# coming after it, a copy the MMSC sent again late (its first answer lost) or out of order.
PENDING_STATUSES = ("Deferred", "Indeterminate")


def latest_statuses(rec: SentRecord, reports: list[InboxRecord]) -> dict[tuple[str, str], str]:
    """The latest status of each kind of report (delivery report, read reply) for each of `rec`'s
    recipients, of `reports` about it (`reports_about`, oldest first): (kind, recipient) → status.
    A report counts for the recipient of `rec`'s it names however written ("8613800000001" for
    "+8613800000001": two copies written two ways are one recipient's), for its only recipient when
    it names none of them, else under the name it gives. A pending status
    (PENDING_STATUSES) after a final one leaves the final one."""
    statuses: dict[tuple[str, str], str] = {}
    for report in reports:
        key = (report.kind, _named(rec.recipients, report.recipient))
        status, earlier = report.status or "?", statuses.get(key)
        if status in PENDING_STATUSES and earlier is not None and earlier not in (*PENDING_STATUSES, "?"):
            continue
        statuses[key] = status
    return statuses


def unreported(rec: SentRecord, statuses: dict[tuple[str, str], str]) -> int:
    """How many of `rec`'s recipients have no delivery report among `statuses` (`latest_statuses`).
    A report under a name none of them has counts for one of them all the same: most likely a way
    of writing a number that `bulk.recipient_key` does not know as one (national: "13800000001"
    for "+8613800000001"), which only a country code would tell."""
    return max(0, len(rec.recipients) - sum(kind == "DeliveryReportReq" for kind, _ in statuses))


def _named(recipients: list[str], recipient: str | None) -> str:
    """The one of `recipients` a report about `recipient` is about (see `latest_statuses`)."""
    if recipient in recipients:
        return recipient
    if recipient is not None:
        from .bulk import recipient_key  # noqa: PLC0415 (bulk reads the store)

        key = recipient_key(recipient)
        found = next((r for r in recipients if recipient_key(r) == key), None)
        if found is not None:
            return found
    return recipients[0] if len(recipients) == 1 else recipient or ""


def summarize(store, tag: str) -> TagSummary:
    """Count the outcomes of every SubmitReq sent under `tag`, and the reports received about them
    (for each recipient only the latest, `latest_statuses`: a Deferred report followed by Retrieved
    counts once)."""
    out = TagSummary(tag)
    # A request tried in several rounds (the outbox, one TransactionID) or sent again to the same
    # recipients (a resumed campaign, a new one) counts once, as it ended last.
    latest = getattr(store, "latest_submits", None)
    for rec in latest(tag) if latest is not None else _latest_submits(store.sent(tag=tag)):
        out.requests += 1
        if rec.ok:
            out.accepted += 1
            out.earlier_unanswered += rec.earlier_unanswered
        elif rec.status_code is not None:
            out.refused += 1
        else:
            out.failed += 1
            out.may_have_arrived += rec.error is None or may_have_arrived(rec.error)
        if not rec.ok:
            continue
        out.recipients += len(rec.recipients)
        statuses = latest_statuses(rec, reports_about(store, rec))
        for (kind, _), status in statuses.items():
            tally = out.delivery if kind == "DeliveryReportReq" else out.read
            tally[status] = tally.get(status, 0) + 1
        without = unreported(rec, statuses)
        if rec.delivery_report is False:
            out.not_asked += without
        else:
            out.awaiting += without
    waiting = getattr(store, "outbox_recipients", None)  # (a campaign queued with send --queue: no record yet)
    if waiting is not None:
        out.queued = len(waiting(tag, ("queued", "sending")))
    return out


class Retention(Periodic):
    """Purges a store on a schedule: records of handled and rejected messages, sent records and
    sent outbox items older than `keep`, bodies older than `keep_bodies` (records kept), as
    `SqliteStore.purge` does (what a campaign in use or the outbox needs stays). `mm7bind serve`
    runs one from `[store] keep_days` and `keep_bodies_days`. Failed messages and failed or
    expired outbox items are never purged here: they wait for replay, or `store requeue`."""

    name = "mm7bind-retention"
    # Deleting writes too: each batch's pages go to SQLite's write-ahead log first.
    on_full_disk = "the purge cannot write either (deleting goes through SQLite's write-ahead log): free a few MB there"

    def __init__(self, store, keep: timedelta | None = None, keep_bodies: timedelta | None = None,
                 every: float = 3600.0):
        if keep is None and keep_bodies is None:
            raise ValueError("nothing to purge: give keep or keep_bodies")
        for name, age in (("keep", keep), ("keep_bodies", keep_bodies)):
            if age is not None and age > KEEP_MAX:  # (each round's now - age would overflow, or soon)
                raise ValueError(f"{name} of {age.days} days is out of range: at most {KEEP_MAX.days} "
                                 "(none keeps everything)")
        interval = seconds_between_rounds("every", every)
        super().__init__()
        self.store, self.keep, self.keep_bodies, self.interval = store, keep, keep_bodies, interval

    def run_once(self, now: datetime | None = None) -> Purged:
        now = now or utcnow()
        done = Purged()
        if self.keep_bodies is not None:
            done.bodies = self.store.purge(now - self.keep_bodies, bodies_only=True, sent=False).bodies
        if self.keep is not None:
            gone = self.store.purge(now - self.keep)
            done.inbox, done.sent, done.outbox = gone.inbox, gone.sent, gone.outbox
        if done != Purged():
            log.info("retention: removed %d received records, %d bodies, %d sent records and %d outbox items",
                     done.inbox, done.bodies, done.sent, done.outbox)
        return done
