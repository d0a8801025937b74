"""Whether the MMSC may have a request that got no MM7 answer: the one rule the client (retries
with `on_timeout` off), the outbox (an item not sent again) and a resumed campaign (a request sent
again with the TransactionID it had) go by.

It reads the error a send ended with — the exception, or the text a `SentRecord` keeps of it
("HTTPStatusError: HTTP 504 from ...") — as one of three outcomes:

- NOT_TAKEN: nothing reached the MMSC, or what answered says it took nothing: the message not
  built (an `EncodeError`: too large, a field its version cannot carry), no connection
  (refused, unreachable, no name, a TLS handshake or a client certificate refused: in TLS 1.3 that
  refusal comes after the request was written, but the MMSC's TLS layer passed nothing on, and the
  clients say ConnectError for it, see `mm7bind.tlsrefusal`), a redirect,
  a 4xx (the request refused as it came), a 503 (unavailable, taken by no one, which the client
  also moves to the next MMSC for); and a request that did not go out whole (the connection lost,
  a write or the upload's bound running out, or the send cancelled or interrupted, before its last
  byte was written: the MMSC has a part of it, which it cannot take for a request;
  `SendError.partly_sent`, and its text).
- MAY_HAVE_ARRIVED: the request went out and no answer we could read came back: a timeout, the
  connection lost after it went out (a reset), an answer that is no MM7 response, a send
  interrupted once its request went out whole (or may have), a gateway's 502 or 504 (a proxy, a load balancer, the MMSC's front
  end passed it on, and got no answer, or none it could read), and a 500 without a Fault (the
  MMSC failed somewhere in handling it, perhaps once it had queued the message: an MMSC refusing
  a request says so in a Fault).
- ANSWERED: the MMSC answered in MM7 (a Fault, or a status): it has seen the request.

A send whose last attempt took nothing, or was refused in a Fault, after an earlier one got no
answer (a timeout, then a refused connection) is MAY_HAVE_ARRIVED: the error says so
(`SendError.earlier_unanswered`, and its text, which a SentRecord keeps).
"""

from __future__ import annotations

import re

from .errors import HTTPStatusError, TransportError

NOT_TAKEN, MAY_HAVE_ARRIVED, ANSWERED = "not taken", "may have arrived", "answered"

# HTTP statuses a gateway answers with when it passed the request on and no (readable) answer came
# back: the MMSC behind it may have taken the request.
GATEWAY_STATUSES = frozenset({502, 504})
# HTTP statuses that say no MMSC is there to answer (a gateway finding none, or too slow, or the MMSC
# itself unavailable): a failure of the link, as a refused connection or a timeout is, not of the
# request (unlike a 4xx or the MMSC's own 500 about it).
UNAVAILABLE_STATUSES = GATEWAY_STATUSES | {503}
# HTTP statuses without a Fault after which the MMSC may have the request: a gateway's, and the
# MMSC's own failure (500: an error page, an empty answer), which may have come after it took it.
UNKNOWN_FATE_STATUSES = GATEWAY_STATUSES | {500}
# Too Many Requests: the MMSC's rate limit, waited out (its Retry-After) by a campaign and the outbox
# alike, never a refusal of the request nor of our settings.
THROTTLED = 429

# By error class name, as a SentRecord's `error` starts with it (HTTPStatusError: by its status).
_BY_KIND = {
    "ConnectError": NOT_TAKEN,
    "RequestTimeout": MAY_HAVE_ARRIVED,
    "TransportError": MAY_HAVE_ARRIVED,  # (the connection lost after the request went out)
    "ProtocolError": MAY_HAVE_ARRIVED,
    "SendInterrupted": MAY_HAVE_ARRIVED,
    "FaultError": ANSWERED,
    # (the message could not be built: nothing went out. Unknown, it was "may have arrived": a
    # campaign of a message too large said of each recipient that the MMSC may have taken it)
    "EncodeError": NOT_TAKEN,
    "MessageTooLargeError": NOT_TAKEN,
    "UnsupportedFieldError": NOT_TAKEN,
}
_RECORDED_HTTP = re.compile(r"HTTPStatusError: HTTP (\d{3})\b")
# What the text of such an error says (`mm7bind.client` writes it).
EARLIER_UNANSWERED = "after an earlier attempt that got no answer"
PARTLY_SENT = "it did not go out whole: the MMSC cannot have taken it"


def arrival(error: BaseException | str) -> str:
    """NOT_TAKEN, MAY_HAVE_ARRIVED or ANSWERED for a send that failed with `error`: the exception,
    or a SentRecord's `error` text. An error this rule does not know is taken as MAY_HAVE_ARRIVED:
    a second copy the MMSC cannot tell from the first is what must not happen unawares."""
    if getattr(error, "earlier_unanswered", False) or (isinstance(error, str) and EARLIER_UNANSWERED in error):
        return MAY_HAVE_ARRIVED
    if getattr(error, "partly_sent", False) or (isinstance(error, str) and PARTLY_SENT in error):
        return NOT_TAKEN
    if isinstance(error, HTTPStatusError):
        return _http(error.status)
    if isinstance(error, BaseException):  # (its class, or the nearest one named: ConnectError first)
        named = [k.__name__ for k in type(error).__mro__ if k.__name__ in _BY_KIND]
        return _BY_KIND[named[0]] if named else MAY_HAVE_ARRIVED
    recorded = _RECORDED_HTTP.match(error)
    if recorded:
        return _http(int(recorded.group(1)))
    return _BY_KIND.get(error.split(":", 1)[0].strip(), MAY_HAVE_ARRIVED)


def may_have_arrived(error: BaseException | str) -> bool:
    """Whether the MMSC may have taken a request that failed with `error` (see `arrival`)."""
    return arrival(error) == MAY_HAVE_ARRIVED


def interrupted_arrival(interruption: BaseException) -> str:
    """MAY_HAVE_ARRIVED or NOT_TAKEN for a send ended by `interruption` (Ctrl-C, a cancellation),
    as the client recorded it and marked the interruption it raised on (`mm7_arrival`): NOT_TAKEN
    before any of the request was written, or before its last byte was (and no earlier attempt may
    have arrived). Unmarked (interrupted outside the client's attempts and waits: its answer being
    read), MAY_HAVE_ARRIVED."""
    return getattr(interruption, "mm7_arrival", MAY_HAVE_ARRIVED)


def no_mmsc_answered(error: BaseException) -> bool:
    """Whether a send failed for want of an MMSC to answer, whatever it says of arrival: no
    connection, a timeout, a connection lost, a gateway's 502, 503 or 504. (The outbox holds its
    whole queue then: the next request would fare no better.)"""
    if isinstance(error, HTTPStatusError):
        return error.status in UNAVAILABLE_STATUSES
    return isinstance(error, TransportError)


def none_answered(error: BaseException) -> bool:
    """Whether no MMSC answered any attempt of a send that failed with `error`: its last attempt met
    none (`no_mmsc_answered`), and none before it was answered (`SendError.answered_before`: a
    Fault, then a connection lost, is a send an MMSC answered). What "no MMSC answered" counts by
    in a campaign (`BulkResult.unanswered`) and a command's exit status 4."""
    return no_mmsc_answered(error) and not getattr(error, "answered_before", False)


def _http(status: int) -> str:
    return MAY_HAVE_ARRIVED if status in UNKNOWN_FATE_STATUSES else NOT_TAKEN
