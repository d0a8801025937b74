"""Sending later without losing anything: requests are kept in the store until an MMSC takes them.

`Outbox.put(msg)` encodes the request (so a message that cannot be built is refused at once) and
commits it to the store; a worker sends what is due through the client (its retries and fail-over
included) and, while no MMSC answers or one answers with a status worth trying again, tries later
with growing pauses until `max_age`. What an MMSC refuses for good is marked failed, with its status.
While no MMSC answers, or every one tried says it is unavailable (4006), the whole queue waits.
When the MMSC refuses `stop_after_refused` sends in a row alike (bad credentials: 4001, an HTTP 401
or 403), sending pauses, the refused items queued again, and one item tries again after the pause;
the pause is kept in the store, for a worker started again with the settings the MMSC refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone
from typing import NamedTuple, Self

from . import messages as m
from . import sendonce
from .codec import decode, encode
from .envelope import transaction_id_text
from .arrival import THROTTLED, UNKNOWN_FATE_STATUSES, may_have_arrived, no_mmsc_answered
from .display import printable, shown_time
from .errors import (STORE_ERRORS, ConnectError, DecodeError, EncodeError, FaultError, HTTPStatusError, MM7Error,
                     SendError)
from .periodic import Periodic, seconds_between_rounds
from .sendonce import attempt_time, exchange_time, held_for, upload_time
from .store import OutboxItem, utcnow

log = logging.getLogger("mm7bind.outbox")


class Round(NamedTuple):
    """How one item's round went: the item as it ended, whether it tells of the MMSCs (its request
    went out: not ended before that, expired, accepted earlier, unreadable, one the client could not
    build), and if so why the whole queue waits — (what, the answer or error) — if it does, and the
    seconds the MMSC's Retry-After asked for."""

    item: OutboxItem
    tried: bool = False
    hold: tuple[str, str] | None = None
    retry_after: float | None = None
    accepted: bool = False  # (the MMSC took it this round)
    put_back: bool = False  # (its turn came too late in its claim's lease: queued again, due, not tried)
    refusal: tuple[int, str] | None = None  # (the MMSC answered and refused it: `bulk.refusal_of`'s key and words)
    held: bool = False  # (refused for good, but kept queued until it is known whether sending pauses: `_hold`)


NO_ANSWER, UNAVAILABLE = "no MMSC answered", "no MMSC available"
# HTTP refusals of the request as it is written (malformed, too large, a type not taken), not of our
# settings (401, 403, 404: a configuration fixed, it goes): sent again, it is refused again.
REFUSED_AS_WRITTEN = frozenset({400, 413, 415})
# (stop_after_refused's default, 10, is a direct run's: `bulk.REFUSED_STOP`)
REFUSED_PAUSE = timedelta(minutes=5)  # the first pause after stop_after_refused refusals alike; it doubles
REFUSED_PAUSE_MAX = timedelta(hours=1)  # ... up to this, while the one item tried after each is refused so too


def accepted_under_tag(store, items, country_code: str | None = None) -> dict:
    """Of `items` (outbox items; None and untagged ones are passed over), those a recipient of
    which the MMSC accepted a SubmitReq for under the item's tag: {item id: that record}. A failed
    campaign item put back in the queue after a direct run of the campaign (`mm7bind send --tag`)
    reached its recipient sent them a second message. The tag's records are read once, one at a
    time, whatever the number of items."""
    # (one number written two ways is one recipient, as there)
    from .bulk import recipient_key, tag_submits  # noqa: PLC0415

    wanted: dict[str, dict[str, list[int]]] = {}  # tag → recipient → item ids
    for item in items:
        if item is not None and item.tag is not None:
            for rcpt in item.recipients:
                wanted.setdefault(item.tag, {}).setdefault(recipient_key(rcpt, country_code), []).append(item.id)
    found: dict = {}
    for tag, by_recipient in wanted.items():
        for rec in tag_submits(store, tag):
            if rec.ok:
                for rcpt in rec.recipients:
                    for item_id in by_recipient.get(recipient_key(rcpt, country_code), ()):
                        found.setdefault(item_id, rec)
    return found


# How far back a clock set back (an NTP step, a virtual machine resumed) is looked past for an
# item's acceptance recorded without the item's id (`Outbox._taken_before`: sent otherwise, or
# recorded by a release before records named their items); an acceptance of its TransactionID from
# longer before the item was put in is another message's that had it (a caller's own TransactionIDs
# used again). One naming the item is its own, however far the clock went back.
CLOCK_STEP_BACK = timedelta(hours=1)


class Outbox(Periodic):
    """A durable queue in front of a `Client` (which must have a store).

    `first_retry` and `max_retry` bound the pauses between rounds (doubling from the first); an
    item still unsent `max_age` after it became due (when put in, or at its `at`) expires.
    `start()` runs the worker in a thread (`poll` seconds between looks; `put` wakes it at once);
    `run_once()` does one round in this one.
    Items are claimed `batch` at a time (one by default: a claim is a lease on the items for as long
    as sending them can take, after which another worker may take them as abandoned).
    `concurrency` items are sent at once (one by default: in the order they became due); the
    client's rate_limit holds across them.
    After `stop_after_refused` sends in a row the MMSC refused alike (one status code, or one HTTP
    status without one: `bulk.REFUSED_STOP`, 10, by default; 0: never), sending pauses for
    `refused_pause`, doubling while the one item sent after each pause is refused so too, up to
    `refused_pause_max`: the refused items are queued again, not failed, and go once the cause is
    mended (credentials an MMSC refuses every request for). Any accepted send ends it. The pause
    is kept in the store: an outbox made on it later, with the client settings the MMSC refused,
    goes on with it (other settings: sending goes at once).
    """

    name = "mm7bind-outbox"

    def __init__(self, client, *, max_age: timedelta = timedelta(hours=24),
                 first_retry: timedelta = timedelta(seconds=30), max_retry: timedelta = timedelta(hours=1),
                 poll: float = 1.0, batch: int = 1, concurrency: int = 1, stop_after_refused: int = 10,
                 refused_pause: timedelta = REFUSED_PAUSE, refused_pause_max: timedelta = REFUSED_PAUSE_MAX):
        sendonce.blocking(client, "an outbox")
        if client.core.store is None:
            raise ValueError("an outbox keeps its messages in the client's store: give the client a store")
        from .store import KEEP_MAX  # noqa: PLC0415

        if not isinstance(max_age, timedelta) or not timedelta(0) < max_age <= KEEP_MAX:
            # (longer, "never expire" written as 99999999 hours: every put was refused as "at=None is
            # out of the range of times an item can be kept for", its expiry past the year 9999)
            raise ValueError(f"max_age must be a positive timedelta of at most {KEEP_MAX.days} days (a thousand "
                             f"years), not {max_age!r}")
        if first_retry <= timedelta(0) or max_retry < first_retry:
            raise ValueError("first_retry must be positive and max_retry at least first_retry")
        if max_retry > KEEP_MAX:  # (a retry's time past the year 9999: an OverflowError ended that round)
            raise ValueError(f"max_retry must be at most {KEEP_MAX.days} days (a thousand years), not {max_retry!r}")
        from .client import MAX_POOL_SIZE  # noqa: PLC0415

        for name, count in (("batch", batch), ("concurrency", concurrency)):
            # (claiming none at a time, a round never ended; NaN passed "< 1"; each item in flight is
            # a thread: 10**9 started one for every item due, only to wait for one of the client's
            # connections, at most MAX_POOL_SIZE; bounded as send --concurrency is. A batch is held
            # under one lease, as long as sending all of it can take: a million claimed every item
            # due for 87 years, never taken up again if this worker died; 10**30 failed every round
            # with an OverflowError, SQLite's LIMIT holding no such number)
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_POOL_SIZE:
                raise ValueError(f"{name} must be a whole number, from 1 to {MAX_POOL_SIZE}, not {count!r}")
        if isinstance(stop_after_refused, bool) or not isinstance(stop_after_refused, int) or stop_after_refused < 0:
            raise ValueError(f"stop_after_refused must be a whole number, 0 (never) or more, not {stop_after_refused!r}")
        if not isinstance(refused_pause, timedelta) or not isinstance(refused_pause_max, timedelta) \
                or refused_pause <= timedelta(0) or not refused_pause <= refused_pause_max <= KEEP_MAX:
            raise ValueError(f"refused_pause must be positive and refused_pause_max at least refused_pause, at most "
                             f"{KEEP_MAX.days} days, not {refused_pause!r} and {refused_pause_max!r}")
        interval = seconds_between_rounds("poll", poll)
        super().__init__()
        self.client, self.store = client, client.core.store
        if client.core.metrics is not None:  # the client's sends are counted there; so is the queue
            client.core.metrics.watch_outbox(self.store)
            client.core.metrics.watch_outbox_pause(self)
        self.max_age, self.first_retry, self.max_retry = max_age, first_retry, max_retry
        self.interval, self.batch, self.concurrency = interval, batch, concurrency
        # While no MMSC answers at all, or those answering say they are unavailable (an overload,
        # a rate limit: 4006), the whole queue waits (doubling pauses, or as long as the MMSC asks),
        # not each item in turn: trying thousands of items on a dead link costs each its timeouts
        # and a log line, and on a busy MMSC adds to its load.
        self.held_until: datetime | None = None
        self._outage_rounds = 0
        self._held_mark: int | None = None  # (the store's sent records as the hold began: `_answered_elsewhere`)
        # Refusals alike in a row (bad credentials refuse every request the same way): past
        # `stop_after_refused` sending pauses (`refused_until`, for the reason `refused_by`) rather
        # than failing the whole queue one item after another; the streak's items are queued again.
        self.stop_after_refused, self.refused_pause, self.refused_pause_max = (
            stop_after_refused, refused_pause, refused_pause_max)
        self.refused_until: datetime | None = None
        self.refused_by: str | None = None
        self._refused_alike: tuple[int | None, int] = (None, 0)  # (the last refusal's key, how many in a row)
        self._refused_pauses = 0
        # (the streak's items refused for good, kept queued until a pause takes them or it is known
        # none will: (item id, the hold's end, the refusal's words))
        self._held: list[tuple[int, datetime, str]] = []
        self._mark: tuple[str, str] | None = None  # (the settings said, and their mark: see _settings_mark)
        self._pause_seen: dict | None = None  # (the pause in the store as last read or written here)
        # Items the MMSC accepted that the store could not mark sent (a full disk): the client's own
        # record of the acceptance most often failed too, and once the item's lease ran out it was
        # claimed again and sent a second time. This worker remembers them: {item id: (its
        # TransactionID, MessageID, status code)}, marked sent when it takes them up again.
        self._accepted_unrecorded: dict[int, tuple[str, str | None, int | None]] = {}
        self._resume_pause()

    def put(self, msg: m.Message, *, transaction_id: str | None = None, tag: str | None = None,
            at: datetime | None = None) -> OutboxItem:
        """Keep `msg` for sending, from `at` (a campaign's hour; naive = local time) or now; on
        return it is in the store, and it expires `max_age` after it became due. Raises
        EncodeError for a message that cannot be built (nothing is kept then)."""
        [item] = self.store.outbox_put_many([self._entry(msg, transaction_id, tag, at)])
        self.wake()
        return item

    def put_once(self, msg: m.Message, *, transaction_id: str, tag: str | None = None, at: datetime | None = None,
                 fingerprint: str | None = None) -> tuple[OutboxItem | None, bool]:
        """Keep `msg` unless an item already has `transaction_id` (whatever its state): → (that item,
        False), or (the new one, True); (None, False) when a request sent at once holds it (see
        `mm7bind.sendonce`). Checked and put in one transaction. `fingerprint` is kept
        with it, for the caller to tell a repeat of the same request from another one."""
        item, new = self.store.outbox_put_once({**self._entry(msg, transaction_id, tag, at),
                                                "fingerprint": fingerprint})
        if new:
            self.wake()
        return item, new

    def put_many(self, msgs: list[m.Message], *, tag: str | None = None, at: datetime | None = None,
                 transaction_ids: list[str] | None = None, once: bool = False) -> list[OutboxItem]:
        """Keep several messages in one commit (one flush to disk for a campaign's hundreds, not
        one each): all of them, or none when one cannot be built (EncodeError). `transaction_ids`
        (one per message) instead of new ones; with `once`, a message whose TransactionID an item
        already has (queued, sending or sent) is left out, in the same commit. → the items put in."""
        tids = transaction_ids if transaction_ids is not None else [None] * len(msgs)
        if len(tids) != len(msgs):
            raise ValueError("one transaction_id per message")
        entries = [self._entry(msg, tid, tag, at) for msg, tid in zip(msgs, tids, strict=True)]
        items = self.store.outbox_put_many(entries, once=once)
        self.wake()
        return items

    def _entry(self, msg: m.Message, transaction_id: str | None, tag: str | None, at: datetime | None) -> dict:
        from .bulk import campaign_claim  # noqa: PLC0415
        from .client import new_transaction_id  # noqa: PLC0415

        if not isinstance(msg, m.Message) or not msg.IS_REQUEST or msg.DIRECTION != "vasp->rs":
            raise TypeError(f"an outbox sends VASP requests, not {type(msg).__name__}")
        tid = transaction_id_text(transaction_id) or new_transaction_id()
        http = encode(self.client.core.with_defaults(msg), transaction_id=tid, profile=self.client.config.profile)
        try:
            due = max(utcnow(), at.astimezone(timezone.utc) if at is not None else utcnow())  # (naive: local)
            expires = due + self.max_age
        except (OverflowError, ValueError):  # the year 1 in +08:00, or 9999 plus max_age
            raise ValueError(f"at={at!r} is out of the range of times an item can be kept for") from None
        recipients = [str(a) for a in getattr(msg, "recipients", None) or []]
        return {"transaction_id": tid, "tag": tag, "content_type": http.content_type, "body": http.to_bytes(),
                "due": due, "expires_at": expires, "recipients": recipients,
                "claim_key": campaign_claim(tag, recipients, tid, self.store,
                                             self.client.config.country_code)}

    def requeue(self, item_id: int) -> bool:
        """Put a failed or expired item back in the queue, due now, for another `max_age`. Not one
        of a campaign (a tag) whose recipient the MMSC has accepted a message for under the tag
        since (a direct run of the campaign, `send_bulk`, reached them): False, and logged."""
        item = self.store.outbox_get(item_id)
        taken = accepted_under_tag(self.store, [item], self.client.config.country_code) if item is not None else {}
        if taken:
            rec = taken[item_id]
            log.warning("outbox #%d tid=%s not queued again: %s was accepted under tag %s (tid=%s)", item_id,
                        printable(item.transaction_id), printable(", ".join(rec.recipients)), printable(item.tag),
                        printable(rec.transaction_id))
            return False
        queued = self.store.outbox_requeue(item_id, utcnow() + self.max_age)
        if queued:
            self.wake()
        return queued

    @property
    def lease(self) -> timedelta:
        """How long claimed items are this worker's: twice what sending the batch can take at worst
        with its parallelism (every attempt waiting out its timeouts, the upload's included, and the
        pauses between, an MMSC's Retry-After included: `sendonce.exchange_time`; `concurrency`
        sends at once, on at most `pool_size` connections, the sends of the batch before still in
        flight waited for as well), so that a live worker's items are never taken by another (a
        send never outlasts its item's lease: see `_send`; an item whose turn came late anyway is
        claimed again for its own send), and a dead one's go out again before long (with the
        default batch of one, timeouts and retries, within the hour; at the next start of its own
        process). An item too large for it (its upload given longer: `upload_min_rate`) is leased
        for its own send, twice, when its turn comes."""
        # (at most this many exchanges at once: the threads, and the client's connections to an
        # MMSC; up to concurrency - 1 sends of the batch before still hold them as the batch begins)
        at_once = max(1, min(self.concurrency, getattr(self.client.config, "pool_size", 1)))
        turns = -(-(self.batch + self.concurrency - 1) // at_once)
        return max(timedelta(minutes=5), held_for(2 * turns * exchange_time(self.client.config)))

    def run_once(self, now: datetime | None = None) -> list[OutboxItem]:
        """Send every item that is due now; → the items as they ended this round. Stops between
        items once `stop()` is called (what it claimed and did not send goes back to the queue), and
        a send waiting between attempts (a backoff, a Retry-After, the rate limit) stops waiting:
        its item goes back to the queue, due at once, to go again with its TransactionID."""
        done: list[OutboxItem] = []
        try:
            done = self._round(now)
        finally:
            self._fail_held(done)
        return done

    def _round(self, now: datetime | None) -> list[OutboxItem]:
        done: list[OutboxItem] = []
        stop = self._stopping()
        self._notice_kept_pause(now, done)
        self._answered_elsewhere(now)
        if self._holding(now):
            self._expire_held(now or utcnow())
            return done  # an outage, or refusals alike: the queue waits as a whole
        if self.concurrency > 1:
            return self._run_concurrently(now, done, stop)
        put_back: set[int] = set()  # (claimed again, and listed once they are tried: not twice)
        claims = 0
        while not stop.is_set():
            if claims and self._notice_kept_pause(now, done):  # (another worker paused since the round began)
                break
            claims += 1
            items = self.store.outbox_claim(now or utcnow(), self.batch, self.lease)
            returned = False
            for i, item in enumerate(items):
                if stop.is_set() or self._holding(now):
                    for rest in items[i:]:
                        self._unclaim(rest)
                    return done
                outcome = self._send(item, now or utcnow(), stop, again=item.id in put_back)
                if outcome.put_back:
                    put_back.add(item.id)
                    returned = True
                    continue
                if outcome.tried:
                    self._outage(now or utcnow(), outcome.hold, outcome.retry_after)
                    outcome = self._refused(now or utcnow(), outcome, done)
                done.append(outcome.item)
            if len(items) < self.batch and not returned:
                break
        return done

    def _run_concurrently(self, now: datetime | None, done: list[OutboxItem],
                          stop: threading.Event) -> list[OutboxItem]:
        """run_once with `concurrency` sends at a time. Outcomes are taken in this thread (the
        hold is decided here alone); once stopped or held, no further item starts, the claimed
        ones go back to the queue, and those in flight finish and are recorded."""
        pending: deque[OutboxItem] = deque()
        in_flight: dict = {}  # future → the order it started in
        started = held_from = 0  # (items started from `held_from` on tell of the outage anew)
        claimed_all = False
        put_back: set[int] = set()
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self.name)
        try:
            while True:
                if stop.is_set() or self._holding(now):
                    claimed_all = True
                    while pending:
                        self._unclaim(pending.popleft())
                while len(in_flight) < self.concurrency:
                    if not pending and not claimed_all and started and self._notice_kept_pause(now, done):
                        claimed_all = True  # (another worker paused since this round began)
                    if not pending and not claimed_all:
                        items = self.store.outbox_claim(now or utcnow(), self.batch, self.lease)
                        claimed_all = len(items) < self.batch
                        pending.extend(items)
                    if not pending:
                        break
                    item = pending.popleft()
                    in_flight[pool.submit(self._send, item, now or utcnow(), stop, item.id in put_back)] = started
                    started += 1
                if not in_flight:
                    return done
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    order = in_flight.pop(future)
                    outcome = future.result()
                    if outcome.put_back:  # (claimed again, and listed once it is tried)
                        put_back.add(outcome.item.id)
                        claimed_all = False
                        continue
                    if outcome.tried:
                        # (those in flight when a hold began failing the same way are that round of
                        # the outage, not further ones: N at once doubled the pause N - 1 times)
                        anew = order >= held_from
                        self._outage(now or utcnow(), outcome.hold, outcome.retry_after, anew)
                        if outcome.hold is not None and anew:
                            held_from = started
                        outcome = self._refused(now or utcnow(), outcome, done)
                    done.append(outcome.item)
        finally:
            try:
                while pending:  # (after an error: what had not started is not left "sending" for a lease)
                    self._unclaim(pending.popleft())
            finally:
                pool.shutdown(wait=True)  # what is in flight finishes, and is recorded by its own thread

    def _expire_held(self, now: datetime) -> None:
        """While the whole queue waits, the items whose deadline passes expire then (as a round
        would expire them, its last one due at the deadline: `first_retry` after it), told in one
        line with why they were not sent: not left "queued" until the pause ends, then expired one
        by one, nor sent late."""
        if not hasattr(self.store, "outbox_expire"):  # (a store of one's own)
            return
        if self.paused_by_refusal(now):
            why = (f"expired while sending was paused, the MMSC refusing requests in a row alike "
                   f"({self.refused_by})")
        else:
            why = "expired while sending was held, no MMSC answering or taking requests"
        # (not "not sent": an earlier round's request may have arrived, its answer lost; its error
        # follows, and `store outbox` tells what the client's records say of it)
        gone = self.store.outbox_expire(now - self.first_retry, why)
        taken = [(i, rec) for i in gone if (rec := self._taken_before(i)) is not None]
        for item, rec in taken:  # (a worker died between the MMSC's acceptance and marking it sent)
            self.store.outbox_update(item.id, "sent", attempts=item.attempts, message_id=rec.message_id,
                                     status_code=rec.status_code)
            log.warning("outbox #%d tid=%s was accepted before (its worker stopped before marking it sent): sent, "
                        "not expired", item.id, printable(item.transaction_id))
        gone = [i for i in gone if i.id not in {t.id for t, _ in taken}]
        if gone:
            shown = ", ".join(f"#{i.id} tid={printable(i.transaction_id)}" for i in gone[:10])
            log.warning("outbox: %d item(s) expired while %s: %s%s", len(gone),
                        "sending was paused after refusals alike" if self.paused_by_refusal(now)
                        else "sending was held", shown, f" and {len(gone) - 10} more" if len(gone) > 10 else "")

    def _holding(self, now: datetime | None) -> bool:
        return any(until is not None and (now or utcnow()) < until for until in (self.held_until, self.refused_until))

    def paused_by_refusal(self, now: datetime | None = None) -> bool:
        """Whether sending is paused now after `stop_after_refused` refusals alike."""
        return self.refused_until is not None and (now or utcnow()) < self.refused_until

    def _refused(self, now: datetime, outcome: Round, done: list[OutboxItem]) -> Round:
        """After each item tried: an accepted one ends a streak of refusals alike (and a pause); one
        refused like the ones before it adds to the streak, which past `stop_after_refused` pauses
        sending and queues its items again (one refused during the pause, in flight when it began,
        or the one tried after it, goes back too); one refused otherwise, or answered about its
        recipient (2002, 2003: the MMSC read past the account), starts over. One that got no
        answer tells nothing of it. Items of `done` (this round's) queued again are shown so.
        The streak's failures are told in one line once it is known they stay failed (it ended
        otherwise, or the round did): not a WARNING each, then the pause's own saying the contrary."""
        from .bulk import RECIPIENT_REFUSALS  # noqa: PLC0415

        if outcome.hold is not None and not outcome.accepted:
            return outcome
        refusal = outcome.refusal if outcome.refusal is not None and outcome.refusal[0] not in RECIPIENT_REFUSALS \
            else None
        if refusal is None:
            self._fail_held(done)
            if self._refused_pauses:
                log.info("outbox: the MMSC %s again; sending goes on",
                         "accepts" if outcome.accepted else "answers otherwise than with that refusal")
            self._refused_alike = (None, 0)
            if self._refused_pauses or self.refused_until is not None:
                self._refused_pauses, self.refused_until, self.refused_by = 0, None, None
                self._keep_pause()
            return outcome
        key, count = self._refused_alike
        count = count + 1 if key == refusal[0] else 1
        if key != refusal[0]:
            self._fail_held(done)
        self._refused_alike = (refusal[0], count)
        if outcome.held:
            self._held.append((outcome.item.id, outcome.item.next_at, refusal[1]))
        if not self.stop_after_refused or count < self.stop_after_refused:
            return outcome
        if not self.paused_by_refusal(now):
            self._refused_pauses += 1
            try:
                pause = min(self.refused_pause_max, self.refused_pause * 2 ** min(self._refused_pauses - 1, 32))
            except OverflowError:
                pause = self.refused_pause_max
            self.refused_until, self.refused_by = now + pause, refusal[1]
            self._keep_pause()
            again = self._queue_held_again(done)
            waiting = self.store.outbox_counts().get("queued", 0)
            if self._refused_pauses == 1:
                log.warning("outbox: the MMSC refused %d requests in a row alike (%s): sending paused until %s, "
                            "%d item(s) waiting (the %d refused queued again, not failed). Check what it "
                            "refuses — the account it knows us by (vasp_id, vas_id, username, password), the "
                            "URL, the service's state at the MMSC's side; sending tries one item again by "
                            "itself when the pause ends", count, printable(refusal[1]),
                            shown_time(self.refused_until), waiting, again)
            else:
                log.info("outbox: still refused (%s); sending paused until %s, %d item(s) waiting",
                         printable(refusal[1]), shown_time(self.refused_until), waiting)
        else:  # (in flight when the pause began: back with the others)
            self._queue_held_again(done)
        return Round(self.store.outbox_get(outcome.item.id) or outcome.item, outcome.tried, outcome.hold,
                     outcome.retry_after, refusal=outcome.refusal)

    def _hold(self, item: OutboxItem, attempts: int, now: datetime, code: int | None, error: str,
              refusal: tuple[int, str] | None, hold: tuple[str, str] | None) -> tuple[OutboxItem, bool]:
        """An item the MMSC refused for good: failed — unless the refusal counts toward a pause
        after refusals alike (`_may_pause`): then it stays queued, not due before the round has
        ended, until a pause takes it (queued again) or it is known none will (`_fail_held`). A
        state said "failed" is never taken back: a send API's caller told so may send the message
        again under another TransactionID, and the outbox's copy would go as well once the pause
        ended. (A worker killed meanwhile leaves it queued: sent again, with its TransactionID.)
        → the item as it ended, and whether it is held."""
        if not self._may_pause(refusal, hold):
            return self._end(item, "failed", attempts, status_code=code, error=error), False
        log.info("outbox #%d tid=%s refused (%s): kept until it is known whether sending pauses for refusals "
                 "alike", item.id, printable(item.transaction_id), printable(error))
        return self._end(item, "queued", attempts, next_at=now + self.refused_pause_max + self.lease,
                         status_code=code, error=error), True

    def _queue_held_again(self, done: list[OutboxItem]) -> int:
        """The streak's held items queued again, due once the pause ends (→ how many); `done`'s
        copies of them shown so."""
        held, self._held = self._held, []
        again = set()
        for item_id, until, _ in held:
            item = self.store.outbox_get(item_id)
            if item is not None and item.state == "queued" and item.next_at == until and self.store.outbox_update(
                    item.id, "queued", attempts=item.attempts, next_at=self.refused_until, status_code=item.status_code,
                    error=f"{item.error} (sending paused: refused {self._refused_alike[1]} times in a row alike)"):
                again.add(item_id)
        done[:] = [(self.store.outbox_get(i.id) or i) if i.id in again else i for i in done]
        return len(again)

    def _fail_held(self, done: list[OutboxItem]) -> None:
        """The streak's held items failed, no pause having taken them (the streak ended short of
        `stop_after_refused`, or the round did), told in one WARNING (each was an INFO line, while a
        pause could still take it back); `done`'s copies of them shown so."""
        held, self._held = self._held, []
        failed: list[OutboxItem] = []
        for item_id, until, _ in held:
            item = self.store.outbox_get(item_id)
            # (as it was held: not one another worker took meanwhile, or one `store requeue` put back)
            if item is not None and item.state == "queued" and item.next_at == until and self.store.outbox_update(
                    item.id, "failed", attempts=item.attempts, status_code=item.status_code, error=item.error):
                failed.append(item)
        if not failed:
            return
        gone = {i.id for i in failed}
        done[:] = [(self.store.outbox_get(i.id) or i) if i.id in gone else i for i in done]
        shown = ", ".join(f"#{i.id} tid={printable(i.transaction_id)}" for i in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        log.warning("outbox: %d item(s) failed, refused by the MMSC (%s): %s%s", len(failed), printable(held[-1][2]),
                    shown, more)

    def _settings_mark(self) -> str:
        """What the client's settings an MMSC refuses requests alike for (its URLs, the account,
        the certificate) come to, as a salted slow digest: a worker started again with them
        unchanged keeps the pause a refusal began; changed (credentials mended), it goes at once.
        (Slow and salted: the store holds no guessable trace of the password.)"""
        import hashlib  # noqa: PLC0415

        cfg = self.client.config
        said = repr((tuple(cfg.urls), getattr(cfg.profile, "name", str(cfg.profile)), cfg.username, cfg.password,
                     cfg.auth, str(cfg.cert), str(cfg.verify), cfg.proxy, tuple(cfg.headers), cfg.vaspid, cfg.vasid,
                     cfg.service_code, str(cfg.sender_address)))
        if self._mark is not None and self._mark[0] == said:  # (its digest is slow: made once per settings)
            return self._mark[1]
        salt = self.store.installation_id() if hasattr(self.store, "installation_id") else ""
        mark = hashlib.pbkdf2_hmac("sha256", said.encode("utf-8", "surrogatepass"), f"outbox-pause:{salt}".encode(),
                                   100_000).hex()
        self._mark = (said, mark)
        return mark

    def _keep_pause(self) -> None:
        """Keep the pause after refusals alike in the store (or forget it once it ended), for a
        worker started later on it: started again with the same settings, it goes on waiting,
        instead of sending `stop_after_refused` requests the MMSC refuses at each start."""
        if not hasattr(self.store, "set_outbox_pause"):  # (a store of one's own)
            return
        if self.refused_until is None:
            self.store.set_outbox_pause(None)
            self._pause_seen = None
            return
        pause = {"until": self.refused_until.isoformat(), "by": self.refused_by, "key": self._refused_alike[0],
                 "count": self._refused_alike[1], "pauses": self._refused_pauses, "settings": self._settings_mark()}
        self.store.set_outbox_pause(pause)
        self._pause_seen = pause

    def _kept_pause(self, kept: dict) -> tuple[datetime, str, int, int, int] | None:
        """A pause kept in the store, if it was kept with this client's settings: (until, by,
        key, count, pauses); else (other settings, or not read) None."""
        try:
            until = datetime.fromisoformat(kept["until"])
            key, count, pauses = int(kept["key"]), int(kept["count"]), int(kept["pauses"])
            by, same = str(kept["by"]), kept.get("settings") == self._settings_mark()
        except (KeyError, TypeError, ValueError):
            return None
        return (until, by, key, count, pauses) if same else None

    def _take_up(self, until: datetime, by: str, key: int, count: int, pauses: int) -> None:
        # (a clock set back since, from a time ahead, would make it a pause of that much more)
        self.refused_until = min(until, utcnow() + self.refused_pause_max)
        self.refused_by, self._refused_pauses = by, pauses
        self._refused_alike = (key, max(count, self.stop_after_refused))

    def _resume_pause(self) -> None:
        """Take up a pause after refusals alike that a worker before kept in the store, if the
        client's settings are those it was refused with (see `_keep_pause`); else forget it."""
        kept = self.store.outbox_pause() if hasattr(self.store, "outbox_pause") else None
        if not kept or not self.stop_after_refused:
            return
        pause = self._kept_pause(kept)
        if pause is None:
            log.info("outbox: a pause after refusals alike was kept for other settings: sending goes on")
            self.store.set_outbox_pause(None)
            return
        self._pause_seen = kept
        self._take_up(*pause)
        if self.paused_by_refusal():
            log.warning("outbox: sending stays paused until %s: the MMSC refused requests in a row alike (%s) "
                        "with these settings; sending tries one item again by itself when the pause ends",
                        shown_time(self.refused_until), printable(pause[1]))

    def _notice_kept_pause(self, now: datetime | None, done: list[OutboxItem]) -> bool:
        """Before claiming items: a pause after refusals alike another worker on this store kept
        since (`_keep_pause`) is taken up, if it was kept with this client's settings and goes on
        past this worker's own — else this worker went on sending what the MMSC refuses alike until
        its own streak paused it, or until it was started again. One read of the store; the slow
        settings mark is made once. (Another worker's pause ended, or kept for other settings, is
        left to it: this one's own sends tell.) → whether it was taken up."""
        if not self.stop_after_refused or not hasattr(self.store, "outbox_pause"):
            return False
        kept = self.store.outbox_pause()
        if not kept or kept == self._pause_seen:
            return False
        self._pause_seen = kept
        pause = self._kept_pause(kept)
        now = now or utcnow()
        if pause is None or pause[0] <= now or (self.refused_until is not None and pause[0] <= self.refused_until):
            return False
        self._take_up(*pause)
        self._queue_held_again(done)  # (this worker's own refusals alike so far wait with the rest)
        log.warning("outbox: sending paused until %s: another worker on this store was refused requests in a row "
                    "alike (%s) with these settings; sending tries one item again by itself when the pause ends",
                    shown_time(self.refused_until), printable(pause[1]))
        return self.paused_by_refusal(now)

    def _unclaim(self, item: OutboxItem) -> None:
        self.store.outbox_update(item.id, "queued", attempts=item.attempts, next_at=item.next_at,
                                 status_code=item.status_code, error=item.error, lease_until=item.lease_until,
                                 **self._attempt_kept(item))

    def _outage(self, now: datetime, hold: tuple[str, str] | None, retry_after: float | None,
                anew: bool = True) -> None:
        """After each item sent: an item no MMSC answered, or none could take (`hold`: what, and
        the error or answer), holds the whole queue (one line says so, with when it goes on); any
        other answer ends the hold. The pause doubles from `first_retry`, or is as long as the
        MMSC's Retry-After asks if that is longer, up to `max_retry` either way. Not `anew` (an item
        sent before the hold began): the hold in force stands, longer if its Retry-After asks."""
        if hold is not None and not anew and self.held_until is not None:
            if retry_after is not None:
                self.held_until = max(self.held_until, now + self._pause(self._outage_rounds, retry_after))
            return
        if hold is None:
            if self._outage_rounds:
                log.info("outbox: an MMSC answers again; sending goes on")
            self._outage_rounds, self.held_until, self._held_mark = 0, None, None
            return
        self._outage_rounds += 1
        self.held_until = now + self._pause(self._outage_rounds, retry_after)
        self._held_mark = self.store.sent_mark() if hasattr(self.store, "sent_mark") else None
        waiting = self.store.outbox_counts().get("queued", 0)
        what, why = hold
        log.log(logging.WARNING if self._outage_rounds == 1 else logging.INFO,
                "outbox: %s%s (%s%s); sending held until %s, %d item(s) waiting",
                "still " if self._outage_rounds > 1 else "", what, why,
                f"; Retry-After {retry_after:g} s" if retry_after is not None else "",
                shown_time(self.held_until), waiting)

    def _answered_elsewhere(self, now: datetime | None) -> None:
        """While the whole queue waits out an outage: a request another sender on this store (a
        worker of this process or another, a direct run) had accepted by one of this client's
        MMSCs since the hold's last failure ends it, as an acceptance of this worker's own would —
        else it waited out its own pause, up to `max_retry`, with the MMSC back. One read of the
        store's latest records while held (none otherwise); nothing written."""
        if self._held_mark is None or self.held_until is None or (now or utcnow()) >= self.held_until:
            return
        from .display import shown_url  # noqa: PLC0415

        if self.store.accepted_since_mark(self._held_mark, [shown_url(u) for u in self.client.config.urls]):
            log.info("outbox: another sender on this store had a request accepted by the MMSC; sending goes on")
            self._outage_rounds, self.held_until, self._held_mark = 0, None, None

    def _own_lease(self, item: OutboxItem, now: datetime, seconds: float) -> OutboxItem | None:
        """`item` leased for `seconds` from `now`, for its own send, while the lease it has is still
        this worker's; None when it is not (it ran out: another worker may have the item)."""
        until = now + held_for(seconds)
        if not self.store.outbox_update(item.id, "sending", attempts=item.attempts, next_at=until,
                                        status_code=item.status_code, error=item.error, lease_until=item.lease_until):
            return None
        return dataclasses.replace(item, lease_until=until)

    def _send(self, item: OutboxItem, now: datetime, stop: threading.Event | None = None, again: bool = False) -> Round:
        """One item's round. `again`: put back once this round already (its turn came late), and
        claimed anew: sent now, with what its lease has left (at least one attempt)."""
        attempts = item.attempts + 1
        kept = self._accepted_unrecorded.get(item.id)
        if kept is not None and kept[0] == item.transaction_id:  # (taken again once its lease ran out)
            log.warning("outbox #%d tid=%s was accepted before (the store could not record it then): not sent "
                        "again", item.id, printable(item.transaction_id))
            ended = self._end(item, "sent", attempts, message_id=kept[1], status_code=kept[2])
            self._accepted_unrecorded.pop(item.id, None)
            return Round(ended)
        # (looked for before the deadline: one the MMSC took, said "expired", was sent again under
        # another TransactionID by a caller told so)
        taken = self._taken_before(item)
        if taken is not None:  # a worker died between the MMSC's acceptance and marking it sent
            log.warning("outbox #%d tid=%s was accepted before (its worker stopped before marking it sent): not "
                        "sent again", item.id, item.transaction_id)
            return Round(self._end(item, "sent", attempts, message_id=taken.message_id,
                                   status_code=taken.status_code))
        if now > item.expires_at + self.first_retry:  # its worker was away well past the deadline (the
            # last round is due right at it): a stale message is not sent
            return Round(self._end(item, "expired", item.attempts, status_code=item.status_code,
                                   error=f"not sent before it expired ({item.error or 'never tried'})"))
        try:
            msg = decode(item.body, item.content_type).body
        except MM7Error as exc:  # (it was ours when put in: only a changed profile gets here)
            return Round(self._end(item, "failed", attempts, error=f"{type(exc).__name__}: {exc}"))
        except Exception as exc:  # noqa: BLE001 (a bug of ours: as below)
            log.exception("outbox #%d tid=%s: internal error", item.id, item.transaction_id)
            return Round(self._later(item, attempts, now, None, f"internal error: {type(exc).__name__}: {exc}"))
        from .bulk import campaign_claim  # noqa: PLC0415

        # A campaign's item: its recipient claimed as a direct run of the campaign claims them, so
        # that the two never both send (an item put back in the queue while a direct run was
        # sending to its recipient, or after one planned to: its TransactionID is another).
        key = campaign_claim(item.tag, item.recipients, item.transaction_id, self.store,
                             self.client.config.country_code)
        # The send ends within the item's lease (and its recipient's claim): past it, another
        # worker may take the item and send it too. (`now`: the round's time, which the lease is
        # counted from.)
        left = (item.lease_until - now).total_seconds() if item.lease_until is not None else None
        size = len(item.body)  # (a large request's upload may take longer: `sendonce.upload_time`)
        need, own = attempt_time(self.client.config, size), 2 * exchange_time(self.client.config, size)
        larger = upload_time(self.client.config, size) > self.client.config.upload_timeout
        if left is not None and left < own and larger:
            # (a request larger than the lease counts on, over a slow link: a lease of its own size)
            leased = self._own_lease(item, now, own)
            if leased is None:
                return Round(self.store.outbox_get(item.id))  # (its lease ran out: another worker has it)
            item, left = leased, own
        if left is not None and left < need:
            if need <= self.lease.total_seconds() and not again:
                # (an item claimed with others, its turn come late: claimed again, with a lease of its own)
                self._unclaim(item)
                return Round(self.store.outbox_get(item.id), put_back=True)
            # (claimed again and late once more, or a lease shorter than one attempt: the item's
            # lease made its own send's, while it is still this worker's; sent past the lease it
            # had, another worker that took the item meanwhile sent it too)
            leased = self._own_lease(item, now, own)
            if leased is None:
                return Round(self.store.outbox_get(item.id))  # (its lease ran out: another worker has it)
            item, left = leased, own
        if key is None or not hasattr(self.store, "send_claim"):  # (a store of one's own, without claims)
            return self._exchange(item, msg, attempts, now, stop, left)
        held, mine = sendonce.claim(self.store, key, self.client.config, size=size)
        if not mine:
            who = printable(", ".join(item.recipients))
            if held.accepted:
                return Round(self._end(item, "failed", item.attempts, status_code=item.status_code,
                                       error=f"not sent: {who} was accepted under tag {printable(item.tag)} by "
                                             "another run of the campaign"))
            return Round(self._end(item, "queued", item.attempts, next_at=now + self.first_retry,
                                   status_code=item.status_code,
                                   error=f"another run of the campaign is sending to {who}: tried again later"))
        if item.attempt_url is None and held.attempt_transaction_id == item.transaction_id:
            # (a direct run of the campaign, killed after it failed over to another MMSC, noted
            # where with the claim taken over: the MMSC that may have it goes first, as for an item)
            item = dataclasses.replace(item, attempt_url=held.attempt_url)
        outcome = None
        claimed_for = (held.lease_until - utcnow()).total_seconds()
        try:
            outcome = self._exchange(item, msg, attempts, now, stop,
                                     claimed_for if left is None else min(left, claimed_for))
            return outcome
        finally:
            sendonce.done(self.store, held, accepted=outcome is not None and outcome.accepted)

    def _exchange(self, item: OutboxItem, msg: m.Message, attempts: int, now: datetime,
                  stop: threading.Event | None, left: float | None = None) -> Round:
        """One round of `item`: the client's send, ended by `stop` between attempts, and within
        `left` seconds (its lease) if given."""
        from .client import NoTimeLeft, ending_pauses_at, sending_for_item, sending_until  # noqa: PLC0415
        from .bulk import refusal_of  # noqa: PLC0415

        note = self._attempt_noter(item)
        try:
            with ending_pauses_at(stop) if stop is not None else contextlib.nullcontext(), \
                    sending_until(time.monotonic() + left) if left is not None else contextlib.nullcontext(), \
                    sending_for_item(item.id, item.attempt_url, note):
                result = self.client.send(msg, transaction_id=item.transaction_id, tag=item.tag)
        except NoTimeLeft as exc:  # (its rate limit's wait would outlast the lease: nothing sent)
            return Round(self._end(item, "queued", item.attempts, next_at=now + self.first_retry,
                                   status_code=item.status_code, error=f"not sent this round: {exc}"))
        except KeyboardInterrupt:
            if stop is None or not stop.is_set():  # (a Ctrl-C of run_once's own caller)
                raise
            item = dataclasses.replace(item, attempt_url=None)  # (the client's record of the send says it now)
            # stop() while the send waited between attempts (its store record says how its last
            # one ended): the round is not counted, the item is due at once for the next worker
            return Round(self._end(item, "queued", item.attempts, next_at=item.next_at, status_code=item.status_code,
                                   error="the worker stopped while it waited to try again: sent again, with the "
                                         "same TransactionID, by the next one"))
        except (DecodeError, EncodeError) as exc:  # (not built: nothing went out, nothing learnt of the MMSCs)
            return Round(self._end(item, "failed", attempts, error=f"{type(exc).__name__}: {exc}"))
        except FaultError as exc:
            item = dataclasses.replace(item, attempt_url=None)  # (the client's record of the send says it now)
            code = exc.status.code if exc.status else None
            policy = self.client.config.retry
            hold = (UNAVAILABLE, str(exc)) if policy.fails_over_fault(exc.fault, exc.http_status) \
                and not self._kept_to_one(exc.earlier_unanswered) else None
            refusal = refusal_of(exc=exc)
            if not policy.retries_fault(exc.fault, exc.http_status):
                ended, held = self._hold(item, attempts, now, code, str(exc), refusal, hold)
                return Round(ended, True, hold, exc.retry_after, refusal=refusal, held=held)
            return Round(self._later(item, attempts, now, code, str(exc), exc.retry_after), True, hold,
                         exc.retry_after, refusal=refusal)
        except SendError as exc:  # no MM7 answer: unreachable, timed out, HTTP error
            item = dataclasses.replace(item, attempt_url=None)  # (the client's record of the send says it now)
            # (a gateway's 502/503/504 too: the MMSC behind it is down for the next item as well)
            took_nothing = isinstance(exc, ConnectError) or exc.partly_sent or (
                isinstance(exc, HTTPStatusError) and exc.status not in UNKNOWN_FATE_STATUSES)  # (its last attempt)
            hold = (NO_ANSWER, str(exc)) if no_mmsc_answered(exc) and not (
                took_nothing and self._kept_to_one(exc.earlier_unanswered)) else None
            # (429 Too Many Requests: the MMSC throttling us, as 4006 says it in MM7 — the next item
            # is refused so too, so the whole queue waits, as long as its Retry-After asks; counted as
            # a refusal alike, ten of them paused sending for minutes, telling to check the account)
            throttled = isinstance(exc, HTTPStatusError) and exc.status == THROTTLED
            if throttled and not self._kept_to_one(exc.earlier_unanswered):
                hold = (UNAVAILABLE, str(exc))
            # (an HTTP refusal of our settings — 401, 403, 404 — alike for every item; not one of the
            # request as written, nor a gateway's 5xx, the outage's)
            refusal = refusal_of(exc=exc) if isinstance(exc, HTTPStatusError) and 400 <= exc.status < 500 \
                and exc.status not in REFUSED_AS_WRITTEN and not throttled else None
            if isinstance(exc, HTTPStatusError) and exc.status in REFUSED_AS_WRITTEN and not exc.earlier_unanswered:
                return Round(self._end(item, "failed", attempts, error=f"{type(exc).__name__}: {exc}"), True, hold)
            if not self.client.config.retry.on_timeout and may_have_arrived(exc):  # (a second copy is worse)
                return Round(self._end(item, "failed", attempts, error=f"{type(exc).__name__}: {exc} (it may have "
                                       "arrived; not sent again: retries on timeout are off)"), True, hold,
                             exc.retry_after)
            return Round(self._later(item, attempts, now, None, f"{type(exc).__name__}: {exc}", exc.retry_after),
                         True, hold, exc.retry_after, refusal=refusal)
        except MM7Error as exc:
            return Round(self._end(item, "failed", attempts, error=f"{type(exc).__name__}: {exc}"), tried=True)
        except Exception as exc:  # noqa: BLE001 (a bug of ours: the item waits for a later round, not for a restart)
            log.exception("outbox #%d tid=%s: internal error", item.id, item.transaction_id)
            item = dataclasses.replace(item, attempt_url=note.noted)  # (kept: how that send ended is not known)
            return Round(self._later(item, attempts, now, None, f"internal error: {type(exc).__name__}: {exc}"),
                         tried=True)
        item = dataclasses.replace(item, attempt_url=None)  # (answered: the client's record says it now)
        if result.ok:
            return Round(self._end(item, "sent", attempts, message_id=result.message_id,
                                   status_code=result.status.code), tried=True, accepted=True)
        code, policy = result.status.code, self.client.config.retry
        # An MMSC saying it is unavailable (4006: overloaded, rate limiting; the answers the client
        # goes to another MMSC for) would say so to the next item too. Other statuses (3xxx
        # included) are about this request: one item's pause, not the queue's.
        hold = (UNAVAILABLE, f"{code} {result.status.text} from {result.url}") \
            if policy.fails_over(code=code) and not self._kept_to_one(result.earlier_unanswered) else None
        refusal, held = refusal_of(result), False
        if policy.retries_status(code):
            ended = self._later(item, attempts, now, code, result.status.text, result.retry_after)
        else:
            ended, held = self._hold(item, attempts, now, code, result.status.text, refusal, hold)
        return Round(ended, True, hold, result.retry_after, refusal=refusal, held=held)

    def _attempt_noter(self, item: OutboxItem):  # noqa: ANN202
        """What the client calls before each attempt of `item`'s send: its URL noted in the store
        when it is not the one noted last (at first, the item's `attempt_url`, or the MMSC its rounds
        start at, which needs no note: one write per fail-over, none for a send that goes where it
        starts). A worker killed then, the next round goes first to the MMSC that may have it."""
        from .client import sending_for_item  # noqa: PLC0415
        from .display import shown_url  # noqa: PLC0415

        with sending_for_item(item.id):  # (the round's first MMSC: with round_robin, the item's turn)
            first = shown_url(self.client.core.first_url())
        store = self.store

        def note(url: str) -> None:
            shown = shown_url(url)
            if shown == (note.noted or first) or not hasattr(store, "outbox_attempt_at"):
                return
            try:
                store.outbox_attempt_at(item.id, shown, item.lease_until)
            except STORE_ERRORS as exc:  # (sent as before: a note not written must not stop the message)
                log.warning("outbox #%d tid=%s: where its attempt goes (%s) could not be noted in the store: %s: %s",
                            item.id, printable(item.transaction_id), shown, type(exc).__name__, exc)
                return
            note.noted = shown

        note.noted = item.attempt_url
        return note

    def _attempt_kept(self, item: OutboxItem) -> dict:
        """`outbox_update`'s word on the item's noted attempt (a store of one's own may note none)."""
        return {"attempt_url": item.attempt_url} if hasattr(self.store, "outbox_attempt_at") else {}

    def _may_pause(self, refusal: tuple[int, str] | None, hold: tuple[str, str] | None) -> bool:
        """Whether a refusal counts toward a pause after refusals alike (`_refused` takes it): the
        item it refuses for good is held (`_hold`)."""
        from .bulk import RECIPIENT_REFUSALS  # noqa: PLC0415

        return bool(self.stop_after_refused) and hold is None and refusal is not None \
            and refusal[0] not in RECIPIENT_REFUSALS

    def _kept_to_one(self, earlier_unanswered: bool) -> bool:
        """Whether a send whose MMSC took nothing at its last attempt (refused, unavailable) said
        nothing of the others: it was kept to the one that may have its request (an attempt got no
        answer there, in this round or an earlier one), while the next item goes on to another MMSC
        when this one takes nothing. (One timing out there would time out the next items too.)"""
        return earlier_unanswered and len(self.client.config.urls) > 1

    def _taken_before(self, item: OutboxItem):
        """The client's record of an acceptance of this very request, or None: one that names the
        item (the outbox sent it: `SentRecord.outbox_item`), whatever the clock said then — one
        naming another item is another message's under its TransactionID (a caller's own used
        again). One naming none (sent otherwise, or recorded before records named their items):
        its TransactionID's, since the item was put in — or up to CLOCK_STEP_BACK before, for the
        same recipients under the same tag: the clock set back between the put and the send made
        the item look younger than its acceptance, and it went again under that TransactionID."""
        rec = self.store.sent_by_transaction_id(item.transaction_id)
        if rec is None or not rec.ok:
            return None
        if getattr(rec, "outbox_item", None) is not None:
            return rec if rec.outbox_item == item.id else None
        if rec.sent_at >= item.created_at or (
                rec.sent_at >= item.created_at - CLOCK_STEP_BACK and rec.tag == item.tag
                and item.recipients and sorted(rec.recipients) == sorted(item.recipients)):
            return rec
        return None

    def _pause(self, rounds: int, retry_after: float | None = None) -> timedelta:
        """The wait after `rounds` failed rounds: doubling from first_retry, or as long as the
        MMSC's Retry-After asks if that is longer (as the client's own waits go), at most max_retry."""
        try:
            pause = min(self.max_retry, self.first_retry * 2 ** min(rounds - 1, 32))  # (2**n overflows timedelta)
        except OverflowError:  # (a first_retry of a day, doubled 32 times, is past what a timedelta holds)
            pause = self.max_retry
        if retry_after is not None:  # (bounded before it is a timedelta: a peer's number can overflow one)
            pause = max(pause, timedelta(seconds=min(retry_after, self.max_retry.total_seconds())))
        return pause

    def _later(self, item: OutboxItem, attempts: int, now: datetime, code: int | None, error: str,
               retry_after: float | None = None) -> OutboxItem:
        deadline = item.expires_at
        if now >= deadline:
            return self._end(item, "expired", attempts, status_code=code, error=error)
        pause = self._pause(attempts, retry_after)
        next_at = min(now + pause, deadline)  # a last round right at the deadline
        # (the MMSC's words, and a TransactionID the send API was given: printable, no forged line)
        log.info("outbox #%d tid=%s not sent (%s); again at %s", item.id, printable(item.transaction_id),
                 printable(error), next_at)
        return self._end(item, "queued", attempts, next_at=next_at, status_code=code, error=error)

    def _end(self, item: OutboxItem, state: str, attempts: int, *, next_at: datetime | None = None,
             message_id: str | None = None, status_code: int | None = None, error: str | None = None) -> OutboxItem:
        try:
            updated = self.store.outbox_update(item.id, state, attempts=attempts, next_at=next_at,
                                               message_id=message_id, status_code=status_code, error=error,
                                               lease_until=item.lease_until, **self._attempt_kept(item))
        except STORE_ERRORS:
            if state == "sent":  # (kept here, the round's failure raised on: see _accepted_unrecorded)
                self._accepted_unrecorded[item.id] = (item.transaction_id, message_id, status_code)
            raise
        if not updated:
            log.warning("outbox #%d tid=%s: its lease ran out while it was being sent and another worker has it "
                        "(or has sent it): this round's outcome (%s) is not recorded", item.id, item.transaction_id,
                        state)
            return self.store.outbox_get(item.id)
        if state in ("failed", "expired"):
            log.warning("outbox #%d tid=%s %s after %d round(s): %s", item.id, printable(item.transaction_id), state,
                        attempts, printable(error))
        return self.store.outbox_get(item.id)

    # -- the worker (Periodic's thread runs run_once) ------------------------------------------

    def start(self) -> Self:
        """Run the worker in a thread (→ this outbox): items a stopped worker left "sending" are
        queued again, and those waiting out a pause after a failed round are due at once."""
        recovered = self.store.outbox_recover()
        if recovered:
            log.warning("outbox: %d item(s) left 'sending' by a stopped worker are queued again", recovered)
        # A restart is most often a changed configuration (rotated credentials, another MMSC URL):
        # what failed before is tried once now, not after a pause of up to max_retry.
        retried = self.store.outbox_retry_now()
        if retried:
            log.info("outbox: %d item(s) waiting to be tried again are due now", retried)
        return super().start()
