"""Sending one message to many recipients: a worker pool over one client, with progress.

Each recipient gets its own SubmitReq (the common carrier rule); the client's rate limit and retry
policy apply to every one. Progress goes to a callback; the result counts every outcome and keeps the
first `keep` MessageIDs and failures (every one goes to an `on_outcome` callback, and with a store
into its records).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from . import messages as m
from . import sendonce
from .arrival import (ANSWERED, MAY_HAVE_ARRIVED, THROTTLED, arrival, interrupted_arrival, may_have_arrived,
                      no_mmsc_answered, none_answered)
from .client import MAX_POOL_SIZE, NoTimeLeft, ending_pauses_at, new_transaction_id, sending_until
from .display import printable
from .errors import STORE_ERRORS, ConnectError, FaultError, HTTPStatusError, MM7Error, ProtocolError
from .store import OUTBOX_PENDING, utcnow

log = logging.getLogger("mm7bind.bulk")


KEEP = 1000  # MessageIDs, and failures, a BulkResult keeps by default: a million of each took hundreds of MB


@dataclass
class BulkResult:
    """A campaign's counts (exact), and its first `keep` MessageIDs and failures (`sent -
    len(message_ids)`, `failed - len(failures)`: how many were counted and not kept)."""

    total: int = 0
    sent: int = 0
    # of the sent: accepted after an attempt that got no answer (the MMSC may have taken them twice)
    earlier_unanswered: int = 0
    failed: int = 0
    may_have_arrived: int = 0  # of the failed: no answer came, the MMSC may have taken it (`mm7bind.arrival`)
    # of the failed: no MMSC answered (`arrival.none_answered`: no connection, a timeout, the
    # connection lost, a gateway's 502 or 504, a 503), each attempt of its retries
    unanswered: int = 0
    skipped: int = 0  # already sent under the same tag (an earlier, interrupted run)
    # not sent again on resuming under the tag: an earlier request to them got no answer, the MMSC
    # may have it, and retries on timeout are off (`resend_unanswered` sends them)
    maybe_delivered: int = 0
    maybe_delivered_to: list[str] = field(default_factory=list)  # (the first `keep`)
    # not sent again on resuming under the tag: the MMSC refused them for good before (their address:
    # `refused_for_good`); `retry_refused` sends them
    refused_before: int = 0
    refused_before_to: list[str] = field(default_factory=list)  # (the first `keep`)
    repeated: int = 0  # recipients listed more than once (sent once)
    elapsed: float = 0.0
    interrupted: bool = False  # stopped (Ctrl-C) before every recipient was tried (or queued)
    batches: int = 0  # (queue_bulk) commits made to the outbox: `sent` items in all
    # stopped because no MMSC answered (UNREACHABLE_STOP in a row): no connection, a timeout, the connection
    # lost, a gateway's 502 or 504, a 503
    unreachable: bool = False
    # stopped because the MMSC refused `stop_after_refused` requests in a row alike (REFUSED_STOP): its
    # words for the refusal ("4001 Improper identification"), else None
    stopped_by_refusal: str | None = None
    message_ids: dict[str, str] = field(default_factory=dict)  # recipient → MessageID (the first `keep`)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (recipient, why) (the first `keep`)
    keep: int | None = field(default=KEEP, repr=False)  # None: every one

    def _kept(self, kept) -> bool:
        return self.keep is None or len(kept) < self.keep

    @property
    def rate(self) -> float:
        return self.total / self.elapsed if self.elapsed else 0.0


_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\u200e\u200f"  # BOM (ZWNBSP), zero-width, direction marks
_SHORTENED = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE]\+?\d+")  # 8613800000000 as Excel shows it: 8.6138E+12
_DECIMAL = re.compile(r"\+?\d{5,}\.0+")  # 13800000001.0: a number column pandas read as decimals, written back
# What a recipient looks like: a number (spaces, dashes, dots, brackets; "tel:", a "/TYPE=PLMN" suffix), a
# short code, or an e-mail address. A first row that looks like none, with too few digits to be a number
# with words beside it ("13800000001 张三"), is a header: "Phone 1" and "手机号1" went out as recipients.
# ("(+86) 138 0000 0001", as contact lists export it, is one too)
_NUMBER = re.compile(r"(?:tel:)?(?:\(\+|[+(])?[\d\s().\-]*\d[\d\s().\-]*(?:/TYPE=\w+)?", re.IGNORECASE)
_LINE_END = re.compile(r"\r\n|\r|\n")  # a CSV's row ends (str.splitlines also splits at \x1c, \x85, \u2028...)
_CSV_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")  # a line with its end, as a file opened with newline=""


def read_recipients(path: str | Path, data: bytes | None = None) -> list[str]:
    """Recipients from a CSV file: the first column of every row (a header row is skipped: a first
    value that looks like no number, short code or e-mail address, "Phone 1" included).

    The file may be UTF-8 (with or without a BOM), GBK/GB18030 (what Excel writes as CSV on a
    Chinese Windows), or UTF-16 with a BOM (Excel's "Unicode text", tab-separated); separated by
    commas, semicolons or tabs, or as an Excel "sep=;" first line says. BOMs and zero-width
    characters around a value are dropped, and the header row wherever it comes again (files
    joined with `cat`). A number Excel wrote in scientific notation (8.6138E+12: its digits
    lost) is a ValueError, as is one written with a decimal part (13800000001.0), a value with
    neither a digit nor an "@" (a column of names first: "姓名,手机号"), or an address holding a
    control character (naming its line: rows end at CR, LF or CRLF alone; U+2028 or \\x1e in a
    cell is part of it). A number comes without its spacing, as `messages.written_address` sends
    it ("+86 138-0000-0001": "+8613800000001"). `data`: its bytes, already read (standard input);
    `path` then only names it."""
    if data is None:
        data = Path(path).read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                raise ValueError(f"{path} is neither UTF-8, UTF-16 nor GBK/GB18030 text") from None
    del data  # (decoded: a large list's bytes are not held beside its text while it is read)
    # (blank lines before the first row, or Excel's "sep=;" line, must not hide the header: it was
    # sent to as a recipient, and a tab-separated file was read as commas)
    lines = [line for line in (line.strip(" ") for line in _LINE_END.split(text[:4096])) if line]
    first = lines[0] if lines else ""
    sep = first[4] if len(first) == 5 and first.lower().startswith("sep=") else None
    if sep is not None:
        first = lines[1] if len(lines) > 1 else ""
    # Excel separates with tabs in "Unicode text", and with semicolons where the comma is the
    # decimal mark (its CSV in European locales): read as commas, a whole row was one "number".
    delimiter = sep or next((d for d in ("\t", ";") if d in first and "," not in first), ",")
    out = []
    header = True  # (the first row with a value may be one)
    header_text = None  # (that row, if it was one)
    # (a line at a time from the text: a StringIO of it took 4 bytes a character, 12 MB more for a
    # list of 200,000 numbers than the text itself)
    reader = csv.reader((line.group() for line in _CSV_LINE.finditer(text)), delimiter=delimiter)
    for row in reader:
        # (a BOM mid-file, from files joined with `cat`, and zero-width spaces pasted from a web page
        # or a chat are no whitespace to strip(): "\ufeff138..." went out, and was not "138..." either
        # to the duplicate check or to a resumed run)
        value = row[0].strip().strip(_INVISIBLE).strip() if row else ""
        if not value:
            continue
        if _SHORTENED.fullmatch(value):  # (its digits are gone: each would go out, and be refused, as "8.6138E+12")
            raise ValueError(f"{path}, line {reader.line_num}: {value!r} is a number Excel wrote in scientific "
                             "notation, its digits lost: format the column as text in Excel and save it again")
        if _DECIMAL.fullmatch(value):  # (sent as it is, "13800000001.0" is no subscriber's number)
            raise ValueError(f"{path}, line {reader.line_num}: {value!r} is a number written with a decimal part "
                             "(as pandas writes a number column it read as decimals): write the column as text, "
                             "without the \".0\"")
        if sep is not None and header and value.lower() == "sep=" and len(row) == 2 and not row[1]:
            sep = None  # (read: the next row may be the header)
            continue
        if header and _is_header(value):
            header, header_text = False, value
            continue  # a header such as "number"
        header = False
        if value == header_text:  # (the same header again: files joined)
            continue
        # (refused here, by its line: a separator other than CR or LF — \x1c-\x1e, U+0085, U+2028 —
        # inside a cell is no line end in a CSV, and no MMSC takes it in an address)
        if problem := m.address_problem(value):
            raise ValueError(f"{path}, line {reader.line_num}: the address {value!r} {problem}")
        try:  # ("姓名,手机号": a request per name, each a Number nobody has)
            written = m.written_address(value)
        except ValueError as exc:
            said = str(exc) if m.written_kind(value) else (
                f"{value!r} is no number or e-mail address: the recipients go in the first column (to send it as it "
                f"is all the same, write its kind before it: \"Number:{value}\")")
            raise ValueError(f"{path}, line {reader.line_num}: {said}") from None
        out.append(written if isinstance(written, str) else value)  # (a number without its spacing)
    return out


def _is_header(value: str) -> bool:
    """Whether the first value of a recipient file is its column's name, not a recipient."""
    return "@" not in value and not _NUMBER.fullmatch(value) and sum(ch.isdigit() for ch in value) < 5 \
        and m.written_kind(value) is None


_SPACING = re.compile(r"^tel:|/TYPE=\w+$|[\s().\-]", re.IGNORECASE)


def recipient_key(recipient: str, country_code: str | None = None) -> str:
    """What tells recipients apart: a number without its spacing (spaces, dashes, dots, brackets),
    a leading "+" or "00" (the international prefix), "tel:" or a "/TYPE=PLMN" suffix — "+86
    138-0000-0001", "(+86) 138 0000 0001", "0086 138 0000 0001" and "8613800000001" are one;
    anything else (an e-mail address) as it is. With the `country_code` of numbers written
    nationally ("86"), a number is its E.164 form: "+8613800000001", "8613800000001",
    "008613800000001" (00: the international prefix), "13800000001" and "013800000001" (0: the trunk
    prefix) are one, "8613800000001"; one that begins with the country code is taken as written
    internationally already, and one of fewer than 8 digits without "+" or "00" is a short code,
    kept as it is. Without one, a national and an international spelling stay two: which country
    a number is in is not known."""
    if not isinstance(recipient, str) or (recipient.isdigit() and not country_code and recipient[:2] != "00") \
            or not _NUMBER.fullmatch(recipient):
        return recipient
    number = _SPACING.sub("", recipient)
    if not country_code:
        # ("008613800000001", as the same list exported elsewhere writes it, went out as a second message:
        # no number of any country begins with 00 but after the international prefix)
        return number[2:] if number.startswith("00") and len(number) > 2 else number.removeprefix("+")
    if number.startswith("+"):
        return number[1:]
    if number.startswith("00"):
        return number[2:]
    if len(number) < _SHORTEST_NUMBER or number.startswith(country_code):
        return number
    return country_code + number.removeprefix("0")


_SHORTEST_NUMBER = 8  # digits of a number written nationally, at least: fewer, a short code ("10086", "1065888")


def _by_value(recipients: Iterable[str | m.Address], kinds: dict[str, m.Address]) -> Iterable[str]:
    """A campaign's recipients as the store records them (an `Address` by its value: "ShortCode:1065888"
    as written, `messages.written_address`, is "1065888" to a resumed run and the outbox alike), each
    Address kept in `kinds` by its value for its message (`_to_one`)."""
    for r in recipients:
        if isinstance(r, m.Address):
            kinds[r.value] = r
            yield r.value
        else:
            yield r


def _to_one(template: m.SubmitReq, recipient: str, kinds: dict[str, m.Address] | None = None) -> m.SubmitReq:
    """`template` to `recipient` alone (the `Address` given for it, if one was: its kind kept)."""
    return dataclasses.replace(template, recipients=m.Recipients(to=[(kinds or {}).get(recipient, recipient)]))


def _country_code(client) -> str | None:
    """The country code a client's campaigns tell recipients apart with (`ClientConfig.country_code`)."""
    return getattr(getattr(client, "config", None), "country_code", None)


def _next_tid(tag: str, key: str, tries, own: str) -> str:
    """The TransactionID of the next request to the recipient whose `campaign_tid_basis` is `key`,
    after the `tries[key]` it has under `tag` (its key derived once, not for each use)."""
    return bulk_transaction_id(tag, key, tries[key], own)


def campaign_tid_basis(store, tag: str | None, country_code: str | None) -> Callable[[str], str]:
    """What the campaign of `tag` derives each recipient's TransactionID from
    (`bulk_transaction_id`): with a `country_code`, the recipient's key (`recipient_key`), so that
    a run listing "13800138000" and one listing "+8613800138000" send one request under one
    TransactionID, which an MMSC that got the first can tell is a repeat; else the recipient as
    written. A campaign `store` held before this was so (`campaign_tids_as_written`; a store of
    one's own without it: every campaign) keeps deriving them as written: a request of it left
    unanswered goes again under the TransactionID it had."""
    if not country_code or tag is None or store is None:
        return str
    as_written = getattr(store, "campaign_tids_as_written", None)
    if as_written is None or as_written(tag):
        return str
    return lambda recipient: recipient_key(recipient, country_code)


def _whole(name: str, value: object, least: int, more: str = "", most: int | None = None) -> None:
    """A count given to a campaign: a whole number, at least `least`, at most `most` when given
    (else ValueError, naming it and its range)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least or (most is not None and value > most):
        bounds = f"at least {least}" if most is None else f"from {least} to {most}"
        raise ValueError(f"{name} must be a whole number, {bounds}{more and f' ({more})'}, not {value!r}")


def _plan(store, recipients: Iterable[str], tag: str | None, tries: Counter | None = None,
          keep: int | None = KEEP, resend_unanswered: bool = True,
          country_code: str | None = None, basis: Callable[[str], str] = str,
          retry_refused: bool = False) -> tuple[list[str], BulkResult]:
    """Who still needs the message: each recipient once (`recipient_key`), and under a tag (with a
    store) none the MMSC already accepted one for, nor one waiting in the outbox for it; without
    `resend_unanswered`, none whose request may have arrived (`maybe_delivered`); without
    `retry_refused`, none the MMSC last refused for its address (`refused_for_good`: `refused_before`).
    `tries` is filled with how many requests each recipient already has under the tag, by
    `basis(recipient)` (`campaign_tid_basis`). A recipient whose last request got no answer goes
    again as that request was written, when the list now spells it otherwise ("8613800000001"
    for "+8613800000001") and its TransactionID would differ: under the one it had."""
    if keep is not None:
        _whole("keep", keep, 0, "or None: every one")  # (a negative one kept all but the last few)
    listed = [r.strip() if isinstance(r, str) else r for r in recipients]  # (as the store records them)
    # A recipient listed twice gets the message once, also written differently: lists merged from
    # two sources have "+86 138-0000-0001" and "+8613800000001", or "8613800000001", one phone.
    firsts: dict = {}
    for r in listed:
        firsts.setdefault(recipient_key(r, country_code), r)
    unique = list(firsts.values())
    del firsts
    todo = unique
    if tag is not None and store is not None:
        # (a record at a time: read whole, a million-request campaign's records took a gigabyte to resume)
        done: set[str] = set()
        unsure: set[str] = set()
        refused: set[str] = set()  # (keys: refused for good, by the last answer to them)
        unanswered: dict[str, str] = {}  # key → the recipient as its last request, unanswered, wrote it
        for rec in tag_submits(store, tag):
            if rec.ok:
                done.update(rec.recipients)
                continue
            if not resend_unanswered and _maybe_arrived(rec):
                unsure.update(rec.recipients)
            elif tries is not None and not _unanswered(rec):  # (those accepted are not sent again: not counted)
                tries.update(basis(r) for r in rec.recipients)
            # (their last request decides: refused for good, then sent again by retry_refused and
            # refused for a while, it is tried again)
            for r in rec.recipients:
                key = recipient_key(r, country_code)
                if _unanswered(rec):
                    unanswered[key] = r
                else:
                    unanswered.pop(key, None)
                if refused_for_good(rec):
                    refused.add(key)
                else:
                    refused.discard(key)
        waiting = ("queued", "sending", "sent")
        if hasattr(store, "outbox_recipients"):
            done |= store.outbox_recipients(tag, waiting)
        elif hasattr(store, "outbox"):  # (a store of one's own, written before outbox_recipients)
            done |= {r for item in store.outbox(tag=tag) if item.state in waiting for r in item.recipients}
        done = {recipient_key(r, country_code) for r in done}
        unsure = {recipient_key(r, country_code) for r in unsure} - done
        if retry_refused:
            refused.clear()
        held, not_again, todo = [], [], []
        for r in unique:
            key = recipient_key(r, country_code)
            if key in done:
                continue
            if key in unsure:
                held.append(r)
            elif key in refused:
                not_again.append(r)
            else:
                # (the TransactionID is derived from the recipient as written, without a country
                # code: "+8613800000001" left unanswered went again as "8613800000001" under a new
                # one, and an MMSC that had the first took it for a second message)
                earlier = unanswered.get(key)
                todo.append(earlier if earlier is not None and isinstance(r, str) and basis(earlier) != basis(r)
                            else r)
        result = BulkResult(total=len(todo), skipped=len(unique) - len(todo) - len(held) - len(not_again),
                            repeated=len(listed) - len(unique), keep=keep, maybe_delivered=len(held),
                            refused_before=len(not_again))
        result.maybe_delivered_to = held if keep is None else held[:keep]
        result.refused_before_to = not_again if keep is None else not_again[:keep]
        return todo, result
    return todo, BulkResult(total=len(todo), skipped=len(unique) - len(todo), repeated=len(listed) - len(unique),
                            keep=keep)


def tag_submits(store, tag: str):
    """Every SubmitReq record of `tag`, one at a time (a store of one's own without `submits`: from
    its `sent`)."""
    if hasattr(store, "submits"):
        return store.submits(tag)
    return (rec for rec in store.sent(tag=tag) if rec.operation == "SubmitReq")


def _recorded(store, tid: str):
    """The store's record of `tid`, or None (no store, none, or a store failing: said as unknown)."""
    try:
        return store.sent_by_transaction_id(tid) if store is not None else None
    except STORE_ERRORS:
        return None


def _unanswered(rec) -> bool:
    """Whether a recorded request got no MM7 answer (`mm7bind.arrival`), or got one only after an
    attempt that got none: it goes again with the TransactionID it had (to the MMSC that may have
    it). One the MMSC may have taken (a timeout, a connection lost after it went out, a gateway's
    502 or 504, a refusal after an unanswered attempt) must, so that the MMSC can tell; one it did
    not take (refused connections, a 503) may as well, since an earlier try under it may have
    arrived. Only an MM7 answer to every attempt (a status, a Fault) uses the TransactionID up."""
    if getattr(rec, "earlier_unanswered", False):
        return True
    return rec.status_code is None and rec.error is not None and arrival(rec.error) != ANSWERED


def refused_for_good(rec) -> bool:
    """Whether a recorded request was refused for its recipient, in a way no retry mends: 2002
    Address Error or 2003 Address Not Found (`RECIPIENT_REFUSALS`), in a response or a Fault,
    answered to every attempt. Other refusals, however final (4001 improper identification, 2004
    content refused, 4007 service denied), are the message's or the account's: they refuse every
    recipient alike, and once mended (the credentials, the content) a resumed run sends to those
    they refused, without being asked. A request refused after an attempt that got no answer is
    not one: the MMSC may have it."""
    if rec.ok or rec.status_code is None or _unanswered(rec):
        return False
    return rec.status_code in RECIPIENT_REFUSALS


RECIPIENT_REFUSALS = frozenset((2002, 2003))  # (TS 23.140's address errors: the recipient's, not the message's)


def _maybe_arrived(rec) -> bool:
    """Whether the MMSC may have a recorded request it did not accept: it got no MM7 answer and
    may have arrived (`mm7bind.arrival`), or was answered only after an attempt that got none."""
    if rec.ok:
        return False
    if getattr(rec, "earlier_unanswered", False):
        return True
    return rec.status_code is None and rec.error is not None and may_have_arrived(rec.error)


def _resends(client, resend_unanswered: bool | None) -> bool:
    """Whether a resumed campaign sends again what may have arrived: as asked, else as the
    client's retry policy sends a request again after no answer (`on_timeout`)."""
    if resend_unanswered is not None:
        return resend_unanswered
    return getattr(getattr(getattr(client, "config", None), "retry", None), "on_timeout", True)


def queue_bulk(outbox, template: m.SubmitReq, recipients: Iterable[str | m.Address], *, tag: str | None = None,
               at=None, stop: threading.Event | None = None, keep: int | None = KEEP,
               resend_unanswered: bool | None = None, retry_refused: bool = False) -> BulkResult:
    """Put `template` for each recipient in `outbox` (sent by whoever runs its worker: `mm7bind
    serve` with [outbox] enabled), due now or `at` a time. With a `tag`, recipients already
    accepted or already waiting under it are skipped, so queueing a campaign twice queues it once.
    `sent` counts the items queued, a batch of QUEUE_BATCH per commit (fewer for a large message:
    at most QUEUE_BATCH_BYTES of content); a message that cannot be
    built raises EncodeError, its batch is not queued (the batches before it are: queueing again
    under the tag adds only the rest; the exception's `queued` is the result so far, as for a
    store that fails mid-way). `message_ids` maps the first `keep` recipients queued to "queued
    #ITEM" (None: every one). Under a tag each item's TransactionID is
    `bulk_transaction_id`'s, and one already waiting is not queued again: two runs queueing the
    same campaign at once queue it once; nor is one a `send_bulk` of the campaign is sending.

    Once `stop` is set (a signal handler's doing), or on Ctrl-C (KeyboardInterrupt), no further
    batch starts: the result (`interrupted` set) counts the items and `batches` committed, and
    `total - sent` the recipients not queued. (A KeyboardInterrupt inside a commit undoes that
    batch, or, right after its commit, leaves it queued and uncounted: under a tag, queueing again
    adds only what is missing either way. `stop` has no such uncertainty.)

    A recipient whose earlier request under the tag got no answer (it may have arrived) is queued
    again, with that TransactionID, only when `resend_unanswered` (None: the client's
    `RetryPolicy.on_timeout`); else it is counted in `maybe_delivered` and named in
    `maybe_delivered_to`. One the MMSC last refused for its address under the tag (`refused_for_good`)
    is queued again only with `retry_refused`; else it is counted in `refused_before` and named in
    `refused_before_to`."""
    tries: Counter = Counter()
    basis = campaign_tid_basis(outbox.store, tag, _country_code(outbox.client))
    kinds: dict[str, m.Address] = {}
    recipients, result = _plan(outbox.store, _by_value(recipients, kinds), tag, tries, keep,
                               _resends(outbox.client, resend_unanswered), _country_code(outbox.client), basis,
                               retry_refused)
    started = time.monotonic()
    # Each item keeps its own encoded copy, and a batch is built in memory before its commit: 500
    # copies of a 2 MB video took a gigabyte at once. Fewer to a batch as the message grows.
    content = template.content
    size = sum(p.size for p in [*content.parts, *([content.smil] if content.smil else [])]) if content else 0
    per_batch = max(1, min(QUEUE_BATCH, QUEUE_BATCH_BYTES // max(size, 1)))
    try:
        for i in range(0, len(recipients), per_batch):  # a commit per batch, not per message
            if stop is not None and stop.is_set():
                result.interrupted = True
                break
            _queue_batch(outbox, template, recipients[i : i + per_batch], tag, at, tries, result, basis, kinds)
    except KeyboardInterrupt:
        result.interrupted = True
    except Exception as exc:
        exc.queued = result  # (the batches before it are committed: the caller says so)
        raise
    result.elapsed = time.monotonic() - started
    return result


def _queue_batch(outbox, template: m.SubmitReq, batch: list[str], tag: str | None, at, tries: Counter,
                 result: BulkResult, basis: Callable[[str], str] = str, kinds: dict | None = None) -> None:
    own = installation(outbox.store)
    tids = [_next_tid(tag, basis(r), tries, own) for r in batch] if tag is not None else None
    items = outbox.put_many([_to_one(template, r, kinds) for r in batch],
                            tag=tag, at=at, transaction_ids=tids, once=tag is not None)
    if tids is None:
        queued = list(zip(batch, items, strict=True))
    else:
        recipient_of = dict(zip(tids, batch, strict=True))
        queued = [(recipient_of[item.transaction_id], item) for item in items]
    for rcpt, item in queued:
        if not result._kept(result.message_ids):
            break
        result.message_ids[rcpt] = f"queued #{item.id}"
    result.sent += len(items)
    result.batches += 1
    result.skipped += len(batch) - len(items)  # queued meanwhile by another run
    result.total -= len(batch) - len(items)


QUEUE_BATCH = 500  # messages per outbox commit when a campaign is queued
QUEUE_BATCH_BYTES = 16 * 1024 * 1024  # and their content's bytes, at most (but one message)


def bulk_transaction_id(tag: str, recipient: str, tries: int, installation: str = "") -> str:
    """The TransactionID of a tagged bulk send (or queued item) to `recipient`, after `tries`
    recorded requests the MMSC answered: a run killed while a request was in flight (so nothing
    was recorded), or whose request got no answer (a timeout), sends it again on resuming with the
    same TransactionID, which an MMSC that got the first can recognise as a repeat; a request that
    was refused gets a new one. `installation`: the store's `installation_id` (`installation`),
    so that two installations sending under one tag (each its own store) do not give one MMSC the
    same TransactionIDs, which it would take for repeats. `recipient`: as `campaign_tid_basis`
    gives it (the recipient's key, with a country code)."""
    key = f"{installation}\0{tag}\0{recipient}" if installation else f"{tag}\0{recipient}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"b{digest}-{tries}"


def installation(store) -> str:
    """`store`'s installation id, which its campaigns' TransactionIDs are derived with ("" for no
    store, or a store of one's own without `installation_id`: derived from the tag alone)."""
    return store.installation_id() if store is not None and hasattr(store, "installation_id") else ""


def recipient_claim(tag: str, recipient: str, country_code: str | None = None) -> str:
    """What a campaign's sender claims (`mm7bind.sendonce`) before sending to `recipient` under
    `tag`, whatever the TransactionID: a direct run (`send_bulk`, `send_tagged`) and the outbox
    sending the campaign's queued item hold the same one, so that they never both send to one
    recipient (an item put back in the queue by `store requeue` while a direct run was sending to
    its recipient went out too); once the MMSC accepted one, it is kept and neither sends again. One
    number written two ways is one claim (`recipient_key` with `country_code`)."""
    key = f"{tag}\0{recipient_key(recipient, country_code)}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"r{digest}"


def campaign_claim(tag: str | None, recipients: list[str], transaction_id: str, store=None,
                   country_code: str | None = None) -> str | None:
    """`recipient_claim` for a request of a campaign (one recipient, its TransactionID
    `bulk_transaction_id`'s with `store`'s installation id, from the recipient as written or its
    key: what `queue_bulk` queues), else None."""
    if tag is None or len(recipients) != 1:
        return None
    stem, dash, tries = transaction_id.rpartition("-")
    if not dash or not tries.isdigit():
        return None
    own = installation(store)
    bases = {recipients[0], recipient_key(recipients[0], country_code)} if country_code else {recipients[0]}
    if stem not in {bulk_transaction_id(tag, b, 0, own).rpartition("-")[0] for b in bases}:
        return None
    return recipient_claim(tag, recipients[0], country_code)


class MaybeDelivered(Exception):
    """`send_tagged` did not send: an earlier request of the tag to the recipient got no answer
    (the MMSC may have it), and requests that may have arrived are not sent again."""


class RefusedBefore(Exception):
    """`send_tagged` did not send: the MMSC refused the last request of the tag to the recipient for
    good (`refused_for_good`), and such recipients are not sent again (`retry_refused`)."""


def send_tagged(client, msg: m.SubmitReq, tag: str, *, resend_unanswered: bool | None = None,
                retry_refused: bool = False):
    """Send `msg` (to one recipient) under `tag` as a `send_bulk` to that recipient does: → the
    client's Result, or None when the MMSC already accepted it under the tag (or it waits in the
    outbox), or another run is sending it right now. Raises what `client.submit` raises, and
    `MaybeDelivered` for a request that may have arrived not sent again (`send_bulk`'s
    `resend_unanswered`), `RefusedBefore` for a recipient refused for its address not sent again
    (`retry_refused`), and `NoTimeLeft` when no attempt could end within the recipient's claim
    (the client's rate limit, kept busy by other senders, held it back that long): nothing sent."""
    sendonce.blocking(client, "send_tagged")
    [rcpt] = [str(a) for a in msg.recipients]
    tries: Counter = Counter()
    basis = campaign_tid_basis(client.core.store, tag, _country_code(client))
    todo, planned = _plan(client.core.store, [rcpt], tag, tries, resend_unanswered=_resends(client, resend_unanswered),
                          country_code=_country_code(client), basis=basis, retry_refused=retry_refused)
    if planned.maybe_delivered:
        raise MaybeDelivered(f"{rcpt}: an earlier request under tag {tag!r} got no answer and the MMSC may have "
                             "it: not sent again (retries on timeout are off)")
    if planned.refused_before:
        raise RefusedBefore(f"{rcpt}: the MMSC refused its address under tag {tag!r} before (2002 or 2003): not sent "
                            "again")
    if not todo:
        return None
    tid = _next_tid(tag, basis(todo[0]), tries, installation(client.core.store))
    request, size = sendonce.prepared(client, msg, tid, tag)  # (encoded once: its size, and what is sent)
    return _send_claimed(client, msg, tag, tid, size=size, request=request)


def _send_claimed(client, msg: m.SubmitReq, tag: str, tid: str, senders: int = 1, size: int | None = None,
                  request=None):
    """`client.submit` under `tid` once its recipient is claimed in the store (`recipient_claim`:
    another run of the campaign, or the outbox, may be sending to them right now: one of them does)
    → its Result, or None when another has it or had it accepted. The send starts no attempt that
    could end after the claim's lease (`NoTimeLeft` before the first), which counts the rate limit's
    waits of `senders` sending at once through the client, and the upload of `size` bytes
    (`sendonce.upload_time`); an attempt that fails over is noted with the claim first
    (`sendonce.attempts_noted`). `request`: `msg` as the client `prepare`d it, sent in its place."""
    store = client.core.store
    [rcpt] = [str(a) for a in msg.recipients]
    held, mine = sendonce.claim(store, recipient_claim(tag, rcpt, _country_code(client)), client.config,
                                extra=sendonce.rate_wait(client.config, senders), size=size)
    if not mine:
        return None
    try:
        done = store.sent_by_transaction_id(tid)
        queued = store.outbox_find(tid) if hasattr(store, "outbox_find") else None
    except STORE_ERRORS:  # not sent: the claim is given back, or this process's next run of the
        # campaign (its claim alive for a lease) counted the recipient skipped, and missed it
        sendonce.done(store, held, accepted=False)
        raise
    if done is not None and done.ok:  # accepted since our plan was made
        sendonce.done(store, held, accepted=True)
        return None
    if queued is not None and queued.state in OUTBOX_PENDING:  # queued (--queue) since our plan was made
        sendonce.done(store, held, accepted=False)
        return None
    accepted = False
    try:
        # (held to the claim's lease, as the outbox's sends to theirs: past it, another run or the
        # outbox may claim the recipient and send too; a long rate-limit wait ends the send instead)
        # (and where it fails over to noted with the claim: killed then, the next run goes there first)
        with sending_until(time.monotonic() + (held.lease_until - utcnow()).total_seconds()), \
                sendonce.attempts_noted(store, held, tid, client.config):
            r = client.submit(msg if request is None else request, tag=tag, transaction_id=tid)
        accepted = r.ok
        return r
    finally:
        sendonce.done(store, held, accepted)


UNREACHABLE_STOP = 10  # requests in a row no MMSC answered (each after its retries): stop
REFUSED_STOP = 10  # requests in a row the MMSC refused alike (one status code, one HTTP status): stop
THROTTLED_WAIT = 30.0  # seconds a run waits after an HTTP 429 without a Retry-After (the outbox's first_retry)
THROTTLED_TRIES = 10  # times one recipient is sent again after waiting out a 429; then it failed


def refusal_of(r=None, exc: BaseException | None = None) -> tuple[int, str] | None:
    """What a request the MMSC answered and refused is told apart by, for REFUSED_STOP, and its
    words: its status code (in a response or a Fault: "4001 Improper identification"; the texts
    of one code may differ, naming the recipient), or the HTTP status of an error answered without
    one ("HTTP 401"); None for one accepted or not answered — a gateway's 502 or 504, a 503 included
    (`arrival.no_mmsc_answered`: no MMSC there to answer, counted toward UNREACHABLE_STOP) — and
    for an HTTP 429, the MMSC's rate limit, which a run (and the outbox's queue) waits out."""
    status = r.status if r is not None else exc.status if isinstance(exc, FaultError) else None
    if r is not None and r.ok:
        return None
    if status is not None:
        return status.code, f"{status.code} {status.text}"
    if isinstance(exc, HTTPStatusError) and not no_mmsc_answered(exc) and exc.status != THROTTLED:
        return -exc.status, f"HTTP {exc.status}"
    return None


def send_bulk(client, template: m.SubmitReq, recipients: Iterable[str | m.Address], *, concurrency: int = 4,
              progress: Callable[[BulkResult], None] | None = None, tag: str | None = None,
              stop_after_unreachable: int = UNREACHABLE_STOP, keep: int | None = KEEP,
              on_outcome: Callable[[str, str | None, str | None], None] | None = None,
              resend_unanswered: bool | None = None, stop_after_refused: int = REFUSED_STOP,
              retry_refused: bool = False) -> BulkResult:
    """Send `template` to each recipient (a string for `Address.parse`, or an `Address` of its own kind,
    as `messages.written_address` gives for "ShortCode:1065888"). With a `tag` (and a client with a store) every request is
    recorded under it, and recipients the MMSC already accepted a message for under that tag are
    skipped: an interrupted run started again goes on where it stopped, sending nobody twice.
    Ctrl-C (KeyboardInterrupt) ends it early: the requests in flight finish, nothing new starts,
    one waiting to be tried again is not (a failure, "interrupted while waiting to try again"),
    and the result (`interrupted` set) counts exactly what was sent. Two runs under one tag at once
    (two processes, or threads, on one store) send each recipient once: each request's
    TransactionID is claimed in the store before it goes out (`mm7bind.sendonce`), and a recipient
    another run is sending is counted `skipped`. A send never outlasts its claim: one the client's
    rate limit, kept busy by other senders too, would hold past it is not made (a failure, "not
    sent: no time for an attempt ..."), and the same run started again sends it.

    When `stop_after_unreachable` requests in a row got no answer from any MMSC (each after the
    client's retries and fail-over: no connection, a timeout, the connection lost after the request
    went out, a gateway's 502 or 504, a 503), the MMSC is down: nothing new starts (`unreachable` set), rather than every remaining
    recipient waiting out its retries to fail the same way; under a tag, the same run started again
    later sends the rest. Any answer between (a refusal too) starts the count again. 0: never stop.

    Likewise when the MMSC refused `stop_after_refused` requests in a row alike (one status code,
    or one HTTP status without one: wrong credentials, a service not provisioned, a VASP over its
    quota refuse every recipient so): nothing new starts, and `stopped_by_refusal` says the
    refusal ("4001 Improper identification"), rather than the whole list being refused. 0: never.

    Only a few requests wait ahead of the workers (twice `concurrency`), and the result keeps the
    first `keep` MessageIDs and failures (None: every one; its counts are exact either way), so a
    campaign's memory is its list of recipients, not a pending task nor a result per recipient.
    `on_outcome(recipient, message_id, why)` is told of each one tried (`message_id` when the MMSC
    accepted it, else `why` not), one call at a time; with a store every request is in its records
    too. A `progress` or `on_outcome` callback that raises is logged (logger "mm7bind.bulk",
    WARNING) and not called again: the campaign goes on.

    Resumed under a tag, a recipient whose earlier request got no answer (it may have arrived, or
    was answered only after an attempt that got none) is sent again, with that TransactionID, only
    when `resend_unanswered` (None: as the client's `RetryPolicy.on_timeout` says, which sends
    again after no answer within one send too); else it is not sent, counted in `maybe_delivered`
    and named in `maybe_delivered_to` (the first `keep`). A recipient whose last request under the
    tag the MMSC refused for its address (`refused_for_good`: 2002 Address Error, 2003 Address Not
    Found) is sent again only with `retry_refused`; else it is counted in `refused_before` and
    named in `refused_before_to` (the first `keep`). Any other refusal is sent again (one for a
    while, 3000, 4006, an HTTP error; one of the message or the account, 4001, once mended)."""
    # (0, NaN or a negative concurrency was taken as 1 without a word, and 10**9 started a thread
    # for each recipient, only to wait for one of the client's connections, at most MAX_POOL_SIZE:
    # bounded as send --concurrency is; a negative stop after unreachable requests stopped the
    # campaign at the first one)
    sendonce.blocking(client, "send_bulk")
    _whole("concurrency", concurrency, 1, most=MAX_POOL_SIZE)
    _whole("stop_after_unreachable", stop_after_unreachable, 0, "0: never stops")
    _whole("stop_after_refused", stop_after_refused, 0, "0: never stops")
    tries: Counter = Counter()
    basis = campaign_tid_basis(client.core.store, tag, _country_code(client))
    kinds: dict[str, m.Address] = {}
    recipients, result = _plan(client.core.store, _by_value(recipients, kinds), tag, tries, keep,
                               _resends(client, resend_unanswered), _country_code(client), basis, retry_refused)
    resumable = tag is not None and client.core.store is not None
    # (every request of the campaign is the template to one recipient: its size, once)
    size = sendonce.request_size(client, _to_one(template, recipients[0], kinds)) if resumable and recipients else None
    own = installation(client.core.store)
    lock = threading.Lock()
    started = time.monotonic()
    unreached_in_a_row = 0
    refused_alike: tuple[int | None, int] = (None, 0)  # (the last refusal, and how many in a row)
    callbacks = {"progress": progress, "on_outcome": on_outcome}  # (each dropped when it fails)
    throttled_until = 0.0  # (time.monotonic()'s: no request starts before, the MMSC's 429 said so)

    def throttle(exc: HTTPStatusError) -> None:
        nonlocal throttled_until
        asked = exc.retry_after if exc.retry_after is not None else THROTTLED_WAIT
        until = time.monotonic() + min(max(asked, 0.0), client.config.retry.max_retry_after)
        with lock:
            if until > throttled_until:
                if throttled_until <= time.monotonic():  # (one line as a wait begins, not one per worker)
                    log.warning("the MMSC throttles (%s): no request starts for %.0f s", printable(str(exc)),
                                until - time.monotonic())
                throttled_until = until

    def wait_out_throttle() -> bool:
        """Wait until the MMSC's 429 lets requests start again; False when Ctrl-C ended the run meanwhile."""
        while not stopping.is_set():
            left = throttled_until - time.monotonic()
            if left <= 0:
                return True
            stopping.wait(left)
        return False

    def one(rcpt: str) -> None:
        nonlocal unreached_in_a_row, refused_alike
        if result.unreachable or result.stopped_by_refusal or stopping.is_set():  # (not tried: the run says how many are left)
            return
        msg = _to_one(template, rcpt, kinds)
        # (known before it goes, with a store: its record says how an interrupted send ended)
        tid = _next_tid(tag, basis(rcpt), tries, own) if resumable else (
            new_transaction_id() if client.core.store is not None else None)
        if not wait_out_throttle():  # (Ctrl-C while the run waited out the MMSC's 429: not tried)
            return
        throttles = 0
        while True:
            exc_seen: BaseException | None = None  # (what the send raised: whether an MMSC answered)
            try:
                with ending_pauses_at(stopping):
                    if resumable:
                        r = _send_claimed(client, msg, tag, tid, workers, size)
                    elif tid is not None:
                        r = client.submit(msg, tag=tag, transaction_id=tid)
                    else:
                        r = client.submit(msg, tag=tag)
                if r is None:  # another run has it (or had it accepted between our plan and now)
                    with lock:
                        result.total -= 1
                        result.skipped += 1
                        result.elapsed = time.monotonic() - started
                    return
                ok, why, unsure = r.ok, f"{r.status.code} {r.status.text}", False
                refusal = refusal_of(r)
            except ConnectError as exc:  # (refused by every MMSC, each try: it never went out)
                ok, why, r, unsure, refusal = False, f"{type(exc).__name__}: {exc}", None, False, None
                exc_seen = exc
            except MM7Error as exc:
                exc_seen = exc
                ok, why, r, unsure = False, f"{type(exc).__name__}: {exc}", None, may_have_arrived(exc)
                refusal = refusal_of(exc=exc)
            except STORE_ERRORS as exc:  # (the claim could not be taken: not sent)
                ok, why, r, unsure, refusal = False, f"not sent: the store failed: {type(exc).__name__}: {exc}", None, \
                    False, None
            except NoTimeLeft as exc:  # (its claim's lease ran out before an attempt could start: not sent)
                ok, why, r, unsure, refusal = False, f"not sent: {exc}", None, False, None
            except KeyboardInterrupt as exc:  # Ctrl-C ended its pause between attempts: not tried again
                # (as the client marked it: without a store, every such one was counted as one the MMSC
                # may have, a 503 or a refused connection before it too)
                ok, r, why = False, None, "interrupted while waiting to try again"
                unsure, refusal = interrupted_arrival(exc) == MAY_HAVE_ARRIVED, None
                rec = _recorded(client.core.store, tid) if tid is not None else None
                if rec is not None and rec.error:  # (how its last attempt ended; without a record: unknown)
                    why, unsure = f"{why} ({rec.error})", may_have_arrived(rec.error)
            if isinstance(exc_seen, HTTPStatusError) and exc_seen.status == THROTTLED \
                    and throttles < THROTTLED_TRIES and not stopping.is_set():
                # (the MMSC's rate limit: the run waits as long as it asks, then sends it again)
                throttles += 1
                throttle(exc_seen)
                if wait_out_throttle():
                    continue
            break  # (Ctrl-C while it waited: counted as the 429 left it)
        with lock:
            # (a timeout or a connection lost after the request went out is no MMSC answering, as a
            # refused connection is not: an MMSC that takes connections and never answers had every
            # recipient of the list wait out its retries, each one "may have arrived", to the end;
            # a gateway's 504s among timeouts, told apart as refusals, never stopped it either)
            # (a 502, 503 or 504 too, as the outbox has it; not after an attempt an MMSC answered)
            if exc_seen is not None and none_answered(exc_seen):
                unreached_in_a_row += 1
                if stop_after_unreachable and unreached_in_a_row >= stop_after_unreachable:
                    result.unreachable = True
            elif r is not None or isinstance(exc_seen, (FaultError, HTTPStatusError, ProtocolError)) \
                    or getattr(exc_seen, "answered_before", False):  # answered
                unreached_in_a_row = 0
            # (only refusals alike, one after another, stop it: one accepted, or refused otherwise,
            # says the MMSC takes requests, and the refusals are the recipients'; so is an address
            # refused, 2002 or 2003, however many in a row: a list's block of dead numbers)
            code = refusal[0] if refusal is not None and refusal[0] not in RECIPIENT_REFUSALS else None
            same = code is not None and code == refused_alike[0]
            refused_alike = (code, refused_alike[1] + 1 if same else 1)
            if code is not None and stop_after_refused and refused_alike[1] >= stop_after_refused \
                    and not result.stopped_by_refusal:
                result.stopped_by_refusal = refusal[1]
            if ok:
                result.sent += 1
                result.earlier_unanswered += bool(getattr(r, "earlier_unanswered", False))  # (a client of one's own: none)
                if result._kept(result.message_ids):
                    result.message_ids[rcpt] = r.message_id
            else:
                result.failed += 1
                result.may_have_arrived += unsure
                result.unanswered += exc_seen is not None and none_answered(exc_seen)
                if result._kept(result.failures):
                    result.failures.append((rcpt, why))
            result.elapsed = time.monotonic() - started
            for name, args in (("on_outcome", (rcpt, r.message_id if ok else None, None if ok else why)),
                               ("progress", (result,))):
                if callbacks[name] is None:
                    continue
                try:
                    callbacks[name](*args)
                except Exception:
                    # (a progress display that breaks, say a closed stderr, must not end a campaign
                    # half-way with its counts lost: it is said once, and the sending goes on)
                    callbacks[name] = None
                    log.warning("the %s callback failed; the campaign goes on without it", name, exc_info=True)

    stopping = threading.Event()  # (set on Ctrl-C: ends the workers' pauses between attempts)
    workers = concurrency
    pool = ThreadPoolExecutor(workers)
    try:
        # A few requests queued ahead of the workers, not one per recipient: a pending future
        # takes about 2 KB, and a million-recipient campaign must not take gigabytes for them.
        in_flight: set = set()
        for rcpt in recipients:
            if len(in_flight) >= 2 * workers:
                finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
            if result.unreachable or result.stopped_by_refusal:
                break
            in_flight.add(pool.submit(one, rcpt))
        for future in in_flight:
            future.result()
    except KeyboardInterrupt:
        # Ctrl-C: nothing new starts; the requests in flight finish and are counted, so that the
        # result (and the store) says exactly who was sent to; one waiting to be tried again is not.
        result.interrupted = True
        stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    result.elapsed = time.monotonic() - started
    return result
