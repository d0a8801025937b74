"""Sending a request once, whoever else tries: its TransactionID is claimed in the store before it
goes out (`store.send_claim`), so that two runs of one campaign, or an application's repeated API
request, do not both send it. A claim is its holder's until its lease runs out, or at once when the
holder was a process of this machine that is gone (killed, crashed: then what it had in flight may go
again, with the same TransactionID; "this machine" as `holders` tells it: host, boot and pid
namespace); one the MMSC accepted is kept, and its request never sent again. A send that fails over
to another MMSC notes where with its claim (`attempts_noted`): the claim taken over from a holder
killed then, the request goes first to the MMSC that may have it — unless the send's record, which
lets go of the note (`store.record_sent`), says that MMSC answered: a refusal is no attempt that
may have arrived.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import uuid
from datetime import timedelta

from . import holders
from .deadline import MAX_TIMEOUT
from .display import printable
from .errors import STORE_ERRORS
from .store import KEEP_MAX, SendClaim, utcnow

log = logging.getLogger("mm7bind.store")
_HOST = socket.gethostname()


def upload_time(config, size: int | None = None) -> float:
    """Seconds the upload of a request of `size` bytes may take under a client's `config`:
    `upload_timeout`, or as long as `size` takes at `upload_min_rate` bytes a second if that is
    longer (a large message over a slow link), but at most `client.MAX_TIMEOUT` (a year: past
    what a socket's timeout holds). `size` None: not known, `upload_timeout`."""
    upload = getattr(config, "upload_timeout", 0.0)  # (a configuration of one's own without it)
    rate = getattr(config, "upload_min_rate", None)
    return max(upload, min(size / rate, MAX_TIMEOUT)) if size and rate else upload


def attempt_time(config, size: int | None = None) -> float:
    """Seconds one attempt of a request of `size` bytes (None: not known, as if it went out
    within `upload_timeout`) can take at worst under a client's `config`: connecting (and once
    more, asking the MMSC about our TLS certificate after a connection lost:
    `mm7bind.tlsrefusal`), the upload (`upload_time`), the answer's head from the request's end
    and its body (`read_timeout` each) — over again for each answer to a Digest challenge (two at
    most: the challenge, and a nonce said to have aged)."""
    rounds = 3 if config.username is not None and config.auth != "basic" else 1
    upload = upload_time(config, size)
    return config.connect_timeout + rounds * (config.connect_timeout + upload + 2 * config.read_timeout)


def request_size(client, msg) -> int | None:
    """The bytes `client` sends `msg` as (its upload's bound, and so a claim's lease, grows with
    them: `upload_time`), or None when it cannot be built (its send says why)."""
    try:
        return client.core.prepare(msg).http.length
    except Exception:  # noqa: BLE001 (the send itself raises it, in its own words)
        return None


def prepared(client, msg, transaction_id: str, tag: str | None = None) -> tuple[object, int | None]:
    """`msg` encoded once, for `client` to send under `transaction_id` → (what to give its `send`,
    the request's bytes, which a claim's lease counts: `upload_time`): the size and the request
    sent are one encoding (`Client.prepare`). A client without `prepare` (one of one's own): `msg`
    itself, its size not known. Raises `EncodeError` for a message that cannot be built, before
    anything is claimed."""
    prepare = getattr(client, "prepare", None)
    if prepare is None:
        return msg, None
    p = prepare(msg, transaction_id=transaction_id, tag=tag)
    return p, p.http.length


def pause_time(config) -> float:
    """The longest pause between two attempts: the longest backoff with its jitter, or as long as
    an MMSC's Retry-After asks, up to `max_retry_after` (counting `max_backoff` alone, a claim or
    an outbox lease ran out under a sender waiting out a 503's Retry-After, and another run sent
    the request too)."""
    retry = config.retry
    return max(retry.max_backoff * (1 + retry.jitter), retry.max_retry_after)


def exchange_time(config, size: int | None = None) -> float:
    """Seconds one request of `size` bytes can take at worst under a client's `config`: every
    attempt taking as long as one can (`attempt_time`: its upload bounded as a whole too), and
    the longest pauses between them (`pause_time`)."""
    attempts = config.retry.max_attempts
    return attempts * attempt_time(config, size) + (attempts - 1) * pause_time(config)


def held_for(seconds: float) -> timedelta:
    """`seconds` as a claim's or lease's length, at most `store.KEEP_MAX`: held a thousand years
    is held for good. (A retry policy of a billion attempts, "retry for ever", or timeouts of a
    year each, came to a lease past the year 9999: an OverflowError before the first send.)"""
    return timedelta(seconds=min(seconds, KEEP_MAX.total_seconds()))


def lease(config, size: int | None = None) -> timedelta:
    """How long a claim is its holder's: twice what the request (of `size` bytes) can take, so
    that a live sender's claim never runs out under it."""
    return max(timedelta(minutes=5), held_for(2 * exchange_time(config, size)))


def rate_wait(config, senders: int) -> float:
    """The longest wait for a client's rate limit (`rate_limit`) over a send's attempts, with
    `senders` sending through it at once (each ahead of the others' turns): 0 without one."""
    rate = getattr(config, "rate_limit", None)
    return config.retry.max_attempts * max(1, senders) / rate if rate else 0.0


def claim(store, transaction_id: str, config, fingerprint: str | None = None,
          extra: float = 0.0, size: int | None = None) -> tuple[SendClaim, bool]:
    """Claim `transaction_id` for sending under a client's `config` → (the claim that holds it,
    whether it is ours). Give it back with `store.send_done(tid, claim.holder, accepted)`. `extra`:
    seconds the send may wait beyond `exchange_time` (`rate_wait`), added to its lease; `size`:
    the request's bytes, if known (a large one's upload may take longer: `upload_time`)."""
    mine = SendClaim(transaction_id, f"{_holder()}:{uuid.uuid4().hex[:12]}",
                     utcnow() + lease(config, size) + held_for(extra), fingerprint)
    held = store.send_claim(mine, _stale)
    return held, held is mine


def done(store, held: SendClaim, accepted: bool) -> None:
    """`store.send_done` for a claim of ours. A store that fails here must not turn a message the
    MMSC took into an error (its sender would send it again): logged instead, and the claim runs
    out with its lease."""
    try:
        store.send_done(held.transaction_id, held.holder, accepted)
    except STORE_ERRORS as exc:
        log.error("tid=%s (%s) could not be marked in the store: %s: %s", printable(held.transaction_id),
                  "accepted" if accepted else "not accepted", type(exc).__name__, exc)


def attempts_noted(store, held: SendClaim, transaction_id: str, config):  # noqa: ANN201
    """`client.sending_claimed` for a send of `transaction_id` under our claim `held`: the send
    goes first to the MMSC the claim's earlier holder (killed mid-send) last sent it to, and each
    attempt that goes elsewhere than where the send would start is noted with the claim before it
    goes (`store.send_claim_attempt_at`: one write per fail-over; none for a send that goes where it
    starts, but with `round_robin`, whose start is this process's turn, not the next one's)."""
    from .client import sending_claimed  # noqa: PLC0415
    from .display import shown_url  # noqa: PLC0415

    resume_at = held.attempt_url if held.attempt_transaction_id == transaction_id else None
    urls = getattr(config, "urls", None)  # (a configuration of one's own without them: every attempt noted)
    first = shown_url(urls[0]) if urls and not getattr(config, "round_robin", False) else None

    def note(url: str) -> None:
        shown = shown_url(url)
        if shown == (note.noted or first) or not hasattr(store, "send_claim_attempt_at"):
            return
        try:
            store.send_claim_attempt_at(held.transaction_id, held.holder, transaction_id, shown)
        except STORE_ERRORS as exc:  # (sent as before: a note not written must not stop the message)
            log.warning("tid=%s: where its attempt goes (%s) could not be noted in the store: %s: %s",
                        printable(transaction_id), shown, type(exc).__name__, exc)
            return
        note.noted = shown

    note.noted = resume_at
    return sending_claimed(resume_at, note)


def blocking(client, who: str) -> None:
    """Refuse an `AsyncClient` for `who` (the outbox, a campaign), which sends from threads through
    a blocking `Client`: given one, its sends were coroutines never awaited — nothing sent, each
    an "internal error" until the outbox's items expired, every recipient of a campaign failed."""
    if inspect.iscoroutinefunction(getattr(client, "send", None)):
        raise TypeError(f"{who} sends through a Client, not an {type(client).__name__} (whose sends are coroutines "
                        "to await): give it a Client with the same settings and store")


def _holder() -> str:
    """This process as a claim's holder (the claim's own id follows it): `holders.this_process()`,
    or host and pid where /proc does not tell more."""
    return holders.this_process() or f"{_HOST}:{os.getpid()}"


def _stale(held: SendClaim) -> bool:
    """Whether a claim's holder is gone: its lease ran out, or it was a process of this machine that
    no longer runs (`holders.gone`: a host name alone took a live process of another container
    sharing it, its pid unknown in ours, for gone, and its request was sent twice)."""
    if held.lease_until is not None and held.lease_until <= utcnow():
        return True
    holder = held.holder.rpartition(":")[0]  # (less the claim's own id)
    if holders.this_process() is not None:
        return holders.gone(holder)
    # No /proc here: a process of this host, by its pid alone (a pid given to another process
    # since reads as alive: the lease decides).
    host, _, pid = holder.partition(":")
    if host != _HOST or not pid.isdigit() or os.name != "posix":
        return False
    try:
        os.kill(int(pid), 0)  # (signal 0: is it there)
    except ProcessLookupError:
        return True
    except OSError:  # there, another user's
        return False
    return False
