"""A fake MMSC for development and tests: `mm7bind simulate`, or `Simulator` from code.

It accepts SubmitReq, CancelReq, ReplaceReq, extendedCancelReq and extendedReplaceReq in any
schema version (or those `accepted_versions` names), validates them (strict: refuses any deviation
the way a strict carrier would; lenient: accepts and logs them), assigns MessageIDs and keeps the messages, and sends
DeliveryReportReq and ReadReplyReq back to the VASP when a submit asked for them. DeliverReq (mobile
originated) is sent on demand: `simulator.deliver(...)`, or POST /control/deliver. Dialects reproduce
the habits of particular MMSCs (see `mm7bind.profiles.DIALECTS`).

Control endpoints (JSON), next to the MM7 path:
    GET  /control/messages                       the messages received so far (the latest max_messages)
    GET  /control/received                       every request let in and its answer (the latest max_messages)
    POST /control/deliver  {"from","to","subject","text","linked_id","priority","version"}   send an MO to the
                                                 VASP (no "to": to vasp_short_code; no "linked_id": one made up)
    POST /control/report   {"message_id","recipient","status"}          send a delivery report now
                                                 (for a recipient the message was delivered to)
    POST /control/read     {"message_id","recipient","status"}          send a read reply now (the same)
    POST /control/resend   {"transaction_id"}                           send a report, read reply or MO again (resend)
    POST /control/fail     {"count","status","http_status","retry_after","delay","text","drop","in_response"}
                                                 trouble (fail_next)
    POST /control/reset                          forget messages, requests, MO, scheduled reports and trouble (reset)
    GET  /control/health                         200 while it runs
(HEAD as GET; another method: 405 with Allow. Never cached: Cache-Control: no-store.) They ask no
credentials, whatever `auth`, so `auth_failures` neither counts nor throttles them: a test reaches
them from the address its VASP's wrong credentials put in a cool-down (and ends it with reset).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from . import messages as m
from . import versions
from .auth import FailureLimit, RefusalLog, challenge_headers, check_failure_settings, tell_refused
from .codec import CONTENT_CODINGS, content_type_deviation, decode, encode, request_body, soap_action_deviation
from .content import Content, Part, media_kind
from .deadline import MAX_TIMEOUT, held_loop_hint, wait_limit
from .display import mask_headers, printable, repr_showing_no_secret_header, shown_url
from .envelope import Envelope, Fault, XmlStyle
from .errors import (ConnectError, DecodeError, Deviation, EncodeError, FaultError, HTTPStatusError,
                     InvalidURLError, LimitExceededError, SendError, TransportError, UnsupportedEncodingError, ValidationError,
                     refusable)
from .hints import did_you_mean, suggest_keywords, unknown_fields
from .inflating import GZIP, MAX_GZIP_MEMBERS, RAW, ZLIB, Inflating
from .jsonable import deviation_json
from .mime import header_value
from .profiles import CMCC, CMCC_MMSC, DIALECTS, Profile
from .receiver import (ReceiverConfig, Response, dropping_unsupported, encode_reply, fault_status, refusal_status,
                       soap_refusal, unsupported_encoding, what_it_said)
from .retry import RetryPolicy
from .server import (BAD_LENGTH, REASONS, EmbeddedServer, declared_length, request_headers, target_of,
                     without_body_for_head)
from .simdefaults import MAX_RECIPIENTS, READ_DELAY, REPORT_DELAY, VASP_TIMEOUT
from .status import DeliveryStatus, ReadStatus, RequestStatus, fault_code, is_success, lookup

# What a report or MO to send says when there is nowhere to send it (`mm7bind mo` adds its hint).
NO_VASP_URL = "no VASP URL configured"

log = logging.getLogger("mm7bind.simulator")
STARTED = "MMSC simulator (%s) at %s"  # (the start's log line: `mm7bind simulate` prints it instead)
# Said at start of a vasp_url with no path (`mm7bind simulate` says it itself, naming --vasp-url)
PATHLESS = "vasp_url %s"


def pathless_vasp_url(url: str | None) -> str | None:
    """What to say of a VASP URL with no path at all (http://127.0.0.1:8080): reports and MOs go to
    its "/", where a VASP's receiver most often serves at a path — a warning, not a refusal, as one
    may serve at "/" (written so, http://host:8080/, it is taken as meant). None: a path, or no URL."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    if not url or urlsplit(url).path or urlsplit(url).query:
        return None
    from .config import ReceiverSection  # noqa: PLC0415

    shown = shown_url(url)
    path = ReceiverSection().path
    return (f"{shown} has no path: reports and MOs are posted to its /, while a VASP's receiver most often "
            f"serves at a path (`mm7bind serve`'s is {path}): {shown}{path} if it is there, {shown}/ if / is meant")


@suggest_keywords
@dataclass
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/mm7"
    dialect: str = "standard"
    strict: bool = False
    vasp_url: str | None = None  # where reports and MO go; none: none are sent (messages are delivered all the same)
    vasp_username: str | None = None
    vasp_password: str | None = field(default=None, repr=False)  # (reprs are logged and shown)
    vasp_verify: bool | str = True  # the VASP's TLS certificate: checked (True), against this CA file, or not
    # The client certificate presented to the VASP (mutual TLS: a receiver with tls_client_ca): a PEM
    # file holding it and its key, or (certificate file, key file).
    vasp_cert: str | tuple[str, str] | None = None
    report_status: str = "Retrieved"  # what every recipient's delivery report says
    # Some recipients' own, in place of report_status (as the submit wrote them): {"+8613800000001": "Rejected"}.
    recipient_status: dict[str, str] = field(default_factory=dict)
    # Recipients the MMSC refuses at submit (as the submit wrote them), with the status it gives:
    # {"+8613800000009": 2002}. A SubmitReq to none but these is refused with the first one's in a Fault;
    # one to others too is taken for those alone, answered 1100, Partial success (China Mobile's
    # dialects: 1001), its Details naming each refused one and its code: reports go to the others.
    refused_recipients: dict[str, int] = field(default_factory=dict)
    report_delay: float = REPORT_DELAY
    read_status: str = "Read"
    read_delay: float = READ_DELAY
    # A report or MO the VASP does not take (down, timed out, HTTP 500/502/503/504 or 429, a 3xxx or
    # 4006 status) is sent again with the same TransactionID, as MMSCs do, up to this many times in
    # all; the waits double.
    report_attempts: int = 2
    report_retry_delay: float = 0.2
    # How long each attempt of a report, read reply or MO waits for the VASP's answer (seconds; a
    # connection is waited for 5 s at most): a deliver() to a stuck VASP returns after report_attempts of it.
    vasp_timeout: float = VASP_TIMEOUT
    auth: Any = None  # BasicAuth/DigestAuth the VASP must present
    # Wrong credentials from one address (an IPv6 /64) this many times within auth_cooldown seconds:
    # its MM7 requests are answered 429 with Retry-After, unchecked, for auth_cooldown seconds, as a
    # hardened MMSC (and the receiver) answers them (an answer refused whatever its credentials counts as
    # none: `auth.counts_as_guess`). 0, the default: no limit, as carriers' manuals
    # (China Mobile's) describe none. The control endpoints ask no credentials: neither counted nor throttled.
    auth_failures: int = 0
    auth_cooldown: float = 60.0
    # When set, a SubmitReq from another VASPID / VASID, or without one, is refused (4001), as is a
    # CancelReq or ReplaceReq naming another (they may leave it out: China Mobile's manual says so).
    vaspid: str | None = None
    vasid: str | None = None
    # The schema versions taken (names: "REL-6-MM7-1-0"), as a carrier's MMSC is set up for a VASP: a
    # request in another (its namespace, any operation), or whose MM7Version claims a later version
    # than its namespace goes with (6.8.0 in REL-6-MM7-1-0) and not one taken, is refused with 4002,
    # Unsupported version, in a Fault written in the request's own version (mbuni: in its own,
    # REL-5-MM7-1-0, as all its answers). An earlier MM7Version (5.3.0) is taken. None: any.
    accepted_versions: tuple[str, ...] | None = None
    # The VASP's short code, as an MMSC has it provisioned: the Sender of the reports and read replies
    # about a SubmitReq that names no SenderAddress and no VASID (in the mbuni dialect, whatever VASID
    # it names, as Mbuni does) (`mm7bind mo` sends to it by default).
    vasp_short_code: str = "1065888"
    # MessageIDs: this prefix, the run_id and a count (SIM<run_id>-000001); None: the dialect's form
    # (mbuni: its queue file's name at its host, qf<run_id>.<n>.x<pid>.<n % 100>@<relay_server_id>; the
    # others SIM).
    message_id_prefix: str | None = None
    relay_server_id: str = "mm7bind-simulator"
    quirks: bool = True  # reproduce the dialect's known deviations on what it sends and answers
    # The most recipients one SubmitReq may name (more: 3003): 1000 by default, as an MMSC caps them
    # (some providers take one); None: any number. And some providers' rule (no dialect of their
    # own): content with a SMIL presentation (without: 2004).
    max_recipients: int | None = MAX_RECIPIENTS
    require_smil: bool = False
    # The largest request taken, in bytes (more: 2004); None: the dialect's (cmcc 100000, mbuni 512000,
    # standard none). Providers cap them too (300 KB, 600 KB...).
    max_message_size: int | None = None
    # The messages kept (`messages`, /control/messages), requests (`received`) and MO outcomes (`mo_sent`):
    # beyond it the oldest go (a CancelReq or report about one then finds no message, as after reset): a
    # load test runs for hours.
    max_messages: int = 10_000

    __repr__ = repr_showing_no_secret_header  # (vasp_url may hold a password)

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {self.dialect!r} (known: {', '.join(DIALECTS)})")
        for name, enum in (("report_status", DeliveryStatus), ("read_status", ReadStatus)):
            if getattr(self, name) not in {e.value for e in enum}:
                raise ValueError(f"{name} {getattr(self, name)!r} is none of {', '.join(e.value for e in enum)}")
        for recipient, status in self.recipient_status.items():
            if status not in {e.value for e in DeliveryStatus}:
                raise ValueError(f"recipient_status of {recipient!r}: {status!r} is none of "
                                 f"{', '.join(e.value for e in DeliveryStatus)}")
        for recipient, code in self.refused_recipients.items():
            if not isinstance(recipient, str) or isinstance(code, bool) or not isinstance(code, int) or not (
                    2000 <= code <= 9999):  # (a success is no refusal)
                raise ValueError(f"refused_recipients of {recipient!r}: {code!r} is no error status code "
                                 "(2000-9999: 2002, Address Error, 3xxx...)")
        from .client import is_http_url, not_http_url  # noqa: PLC0415

        if self.vasp_url not in (None, "") and not is_http_url(self.vasp_url):
            # (as simulate --vasp-url: else taken, and each report ended in a traceback logged, the
            # client made for it refusing the URL "of an MMSC", listed by no not_taken())
            shown = shown_url(self.vasp_url) if isinstance(self.vasp_url, str) else self.vasp_url
            raise InvalidURLError(f"vasp_url {not_http_url(shown)}")
        if not all(0 <= delay <= MAX_TIMEOUT for delay in (self.report_delay, self.read_delay, self.report_retry_delay)):
            # (nan ran at once, inf ended the report worker: nothing more was ever sent; a retry's
            # pause of 1e10, slept while a deliver waited, ended it with an OverflowError)
            raise ValueError(f"report_delay, read_delay and report_retry_delay must be 0 to {MAX_TIMEOUT} seconds "
                             "(a year)")
        if isinstance(self.vasp_timeout, bool) or not isinstance(self.vasp_timeout, (int, float)) or not (
                0 < self.vasp_timeout <= MAX_TIMEOUT):  # (None, 0, nan: a report must never wait for ever)
            raise ValueError(f"vasp_timeout must be a number of seconds, more than 0 and at most {MAX_TIMEOUT} "
                             f"(a year), not {self.vasp_timeout!r}")
        for name, least, unit in (("max_recipients", 1, " (or None: no limit)"),
                                  ("max_message_size", 1, " byte (or None: the dialect's)"),
                                  ("report_attempts", 1, ""), ("max_messages", 1, "")):
            value = getattr(self, name)  # (NaN passed "< 1")
            if (value is not None or not unit) and (isinstance(value, bool) or not isinstance(value, int)
                                                    or value < least):
                raise ValueError(f"{name} must be a whole number, at least {least}{unit}, not {value!r}")
        check_failure_settings(self.auth_failures, self.auth_cooldown)
        if not isinstance(self.vasp_short_code, str) or not self.vasp_short_code.strip():
            raise ValueError(f"vasp_short_code must be the VASP's short code, not {self.vasp_short_code!r}")
        if self.accepted_versions is not None:
            _accepted(self.accepted_versions)  # (a ValueError for a name no schema has)
        for name, label in (("vaspid", "VASPID"), ("vasid", "VASID")):
            value = getattr(self, name)
            if isinstance(value, str) and not value.strip():
                # ("" required none and checked nothing; " " refused every submit's own with 4001, as
                # the client refuses a blank one to send)
                raise ValueError(f"{name} {value!r} is blank: give the {label} to require, or None to take any")
        if isinstance(self.vasp_verify, str) or self.vasp_cert:
            # (read now: the client for the VASP is made at its first report, whose failure a test sees late)
            from .client import client_ssl_context  # noqa: PLC0415

            try:
                client_ssl_context(self.vasp_verify, self.vasp_cert)
            except ValueError as exc:  # (TLSFileError: "verify: ..." or "cert: ...")
                raise ValueError(f"vasp_{exc}") from None
        object.__setattr__(self, "_checked", True)

    def __setattr__(self, name: str, value: Any) -> None:
        # A test changes a running simulator's settings (`sim.config.vasp_url = rcv.url`): the new
        # value is checked as SimulatorConfig(...) checks it, the old one kept when refused. (An
        # "ftp://..." vasp_url was taken, and each report ended in a traceback logged, listed by no
        # not_taken(); a report_status of "Bogus", in one at each report.)
        if self.__dict__.get("_checked"):
            if name not in self.__dataclass_fields__:  # (a misspelt one was set, and did nothing)
                raise AttributeError(f"SimulatorConfig has no setting {name!r}"
                                     f"{did_you_mean(name, self.__dataclass_fields__)}")
            replace(self, **{name: value})  # (the ValueError SimulatorConfig would raise)
        super().__setattr__(name, value)


def _accepted(names: Sequence[str]) -> frozenset[str]:
    """`SimulatorConfig.accepted_versions` as the versions' own names ("6-1-0" and the namespace URI
    are REL-6-MM7-1-0): a ValueError for one no schema has, or for a bare string (read letter by letter)."""
    if isinstance(names, str) or not isinstance(names, (tuple, list, set, frozenset)) or not names:
        raise ValueError(f"accepted_versions must be schema version names, ('REL-6-MM7-1-0',), or None for any, "
                         f"not {names!r}")
    try:
        return frozenset(versions.get(name).name for name in names)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"accepted_versions: {exc.args[0] if isinstance(exc, KeyError) else exc}") from None


@dataclass(frozen=True)
class Trouble:
    """What the simulator does to one request instead of serving it, for testing a client's retry
    and timeout handling (`Simulator.fail_next`)."""

    # An MM7 status: a Fault with RSErrorRsp (Client for 2xxx, else Server); a success other than
    # 1000 (1100, China Mobile's 1001): the request served, its response giving that status.
    status: int | None = None
    http_status: int | None = None  # a bare HTTP error without SOAP (503, 502...)
    retry_after: float | None = None  # sent as Retry-After with either
    delay: float = 0.0  # seconds before answering (or before serving normally, with neither above)
    text: str | None = None  # the StatusText with `status` (a carrier's own words); None: the code's
    # The request served (a SubmitReq's message taken, delivered and reported as any other), its
    # answer lost: "before-answer" closes the connection without a byte of it, "mid-answer" after
    # its status line, headers and half its body. The client cannot tell whether the MMSC took it.
    drop: str | None = None
    # `status` (an error too) in the operation's own response (SubmitRsp, CancelRsp...) with HTTP 200,
    # not in a Fault, as some MMSCs answer a refusal: the request not served (no message taken; a
    # SubmitRsp's MessageID empty, the schema requiring one).
    in_response: bool = False

    def __post_init__(self) -> None:
        # (checked here, not when a request meets it: a bad one would answer that request with a 500)
        def number(value) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        if self.status is not None and not (number(self.status) and int(self.status) == self.status
                                            and 1000 <= self.status <= 9999):
            raise ValueError(f"status {self.status!r} is not an MM7 status code (1000-9999)")
        if self.http_status is not None and not (number(self.http_status) and int(self.http_status) == self.http_status
                                                 and 100 <= self.http_status <= 599):
            raise ValueError(f"http_status {self.http_status!r} is not an HTTP status (100-599)")
        if not number(self.delay) or (self.retry_after is not None and not number(self.retry_after)):
            raise ValueError("delay and retry_after are seconds (numbers)")
        if self.status is not None and self.http_status is not None:
            raise ValueError("a trouble is an MM7 status or an HTTP status, not both")
        if self.text is not None and (self.status is None or not isinstance(self.text, str)):
            raise ValueError("text is a string, the StatusText of a status")
        # (JSON's Infinity and NaN too; a delay of 1e10, "never answer", failed that request with an
        # OverflowError from the wait)
        if not 0 <= self.delay <= MAX_TIMEOUT or (self.retry_after is not None
                                                  and not 0 <= self.retry_after <= MAX_TIMEOUT):
            raise ValueError(f"delay and retry_after must be 0 to {MAX_TIMEOUT} seconds (a year)")
        if not isinstance(self.in_response, bool) or (self.in_response and self.status is None):
            raise ValueError("in_response is true or false, and goes with a status (the one the response gives)")
        if self.drop is not None:
            if self.drop not in DROPS:
                raise ValueError(f"drop {self.drop!r} is none of {', '.join(DROPS)}")
            if self.status is not None or self.http_status is not None or self.retry_after is not None:
                raise ValueError("a dropped connection carries no answer: drop goes without status, "
                                 "http_status and retry_after (delay: when it is dropped)")


class _Troubles:
    """The troubles scripted for the next requests, in order (`Simulator.fail_next`), kept as runs —
    a trouble and how many requests it is for —, under the simulator's lock: fail_next(10**9,
    status=3000), "every request from now on", made a list of a billion (8 GB), each request
    taking its first in as many steps. `len()`: how many requests will meet one."""

    def __init__(self) -> None:
        self._runs: deque[list] = deque()  # [trouble, requests left]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, trouble: Trouble, count: int) -> None:
        if count:
            self._runs.append([trouble, count])
            self._count += count

    def take(self) -> Trouble | None:
        if not self._runs:
            return None
        run = self._runs[0]
        run[1] -= 1
        if not run[1]:
            self._runs.popleft()
        self._count -= 1
        return run[0]

    def give_back(self, trouble: Trouble) -> None:
        """`trouble` first again, for the next request."""
        self._runs.appendleft([trouble, 1])
        self._count += 1

    def clear(self) -> None:
        self._runs.clear()
        self._count = 0


# The answer to a request held by a scripted delay when stop() ends the wait: a request held for a
# client's timeout test (its client long gone) held the stop up for the server's grace and more,
# each test's teardown too.
def _answer_when_stopped() -> Response:
    return Response(503, [("Content-Type", "text/plain")], b"stopping\n")


# How a scripted drop loses the answer (Trouble.drop).
DROPS = ("before-answer", "mid-answer")

_CANNOT_DROP = ('drop "before-answer" needs waitress, the simulator\'s own server (start(), mm7bind simulate): '
                "the server its wsgi_app() is mounted in cannot close a connection without an answer "
                "(the request not served)")


def _closes_unanswered(environ: Mapping) -> bool:
    """Whether the WSGI server of `environ` closes a connection without a byte of the answer when
    the application raises its ClientDisconnected: waitress does (it marks its environ so); WSGI has
    no way to ask any other."""
    return "waitress.client_disconnected" in environ


@dataclass(frozen=True)
class Busy:
    """What `Simulator.wait_idle` found left when its timeout came: false, and said."""

    timeout: float
    scheduled: int  # deliveries, reports, read replies and repeats not yet due or not yet taken
    next_in: float | None  # seconds until the next is due
    running: int  # on their way (a report waiting for the VASP's answer)
    started: bool
    held_loop: str = ""  # the wait ran on a running asyncio event loop: said (a VASP served by it could not answer)

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        said = [f"{self.scheduled} scheduled" + (f" (the next due in {self.next_in:.3g} s)"
                                                  if self.next_in is not None else "")] if self.scheduled else []
        said += [f"{self.running} on its way (waiting for the VASP's answer)"] if self.running else []
        why = "" if self.started else " (the simulator is not running: start() it)"
        return f"<not idle after {self.timeout:g} s: {', '.join(said) or 'nothing left'}{why}{self.held_loop}>"

    __str__ = __repr__


def _not_taken_line(outcome: dict) -> str:
    """One outcome the VASP did not take, in a line: what, its TransactionID and recipient, the answer."""
    about = [f"{outcome['operation']} tid={outcome['transaction_id']}"]
    about += [f"recipient={outcome['recipient']}"] if "recipient" in outcome else []
    about += [f"message_id={outcome['message_id']}"] if outcome.get("message_id") else []
    attempts = outcome.get("attempts", 1)
    about += [f"({attempts} attempt{'s' if attempts != 1 else ''})"]
    if "error" in outcome:
        said = outcome["error"]
    else:
        said = f"status {outcome['status']} ({lookup(outcome['status']).text})"
    return printable(" ".join(about) + ": " + said)


def not_taken_said(left: list[dict], meant: str) -> str:
    """An assertion's words for the outcomes the VASP did not take (`left`), a line each, and `meant`."""
    lines = [_not_taken_line(o) for o in left]
    return (f"the VASP did not take {len(left)} report(s) or MO the simulator sent (kept in its messages' "
            f"`reports` and in `mo_sent`; {meant}):\n  " + "\n  ".join(lines))


class NotKept(KeyError):
    """A MessageID or TransactionID the simulator does not know, said in words (a bare KeyError
    showed the key alone); `args[0]` is the key."""

    def __init__(self, key: str, what: str) -> None:
        super().__init__(key)
        self.what = what

    def __str__(self) -> str:
        return (self.what.format(self.args[0]) + " (never, or before a reset, or older than the latest "
                "max_messages)")


@dataclass
class StoredMessage:
    message_id: str
    transaction_id: str
    request: m.Message
    version: versions.Version
    received_at: datetime
    state: str = "accepted"  # accepted | delivered | undelivered | cancelled | replaced
    deviations: list = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)  # what was sent back, with the VASP's answers
    # Whom it goes to: the request's, or for an extendedReplaceReq (which names none) the replaced message's.
    recipients: list[str] | None = None
    addresses: list[m.Address] | None = field(default=None, repr=False)  # the same, as the VASP wrote them
    # The sender its reports and read replies name: for an extendedReplaceReq (which has no
    # SenderAddress) the replaced message's; None: the request's (see Simulator._sender_of).
    sender: m.Address | None = field(default=None, repr=False)
    # The recipients the submit named that the MMSC refused (`refused_recipients`), with the status
    # given each: left out of `recipients`, never delivered to.
    refused: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.recipients is None:
            self.recipients = [str(a) for a in getattr(self.request, "recipients", None) or []]
        if self.addresses is None:
            self.addresses = [m.Address.parse(a) if isinstance(a, str) else a
                              for a in getattr(self.request, "recipients", None) or []]
        # Made from them once, when first asked (not fields: no part of what it is): looked for in
        # the lists, each report about a SubmitReq to n recipients took n steps.
        self._written_as: dict[str, m.Address] | None = None
        self._delivered: list[str] | None = None
        self._reached: frozenset[str] | None = None
        self._plan: _Plan | None = None  # its delivery as scheduled (a ReplaceReq changes it while pending)
        # Each recipient's final delivery status reported (Retrieved, Rejected...; under the lock): one
        # reported on demand before its delivery was due has no other from the schedule.
        self._final: dict[str, str] = {}

    def _address(self, recipient: str) -> m.Address:
        """`recipient` as the VASP wrote it (a ShortCode stays one, its coding kept), for the reports
        about it; one it did not name, as read."""
        return self._written().get(recipient) or m.Address.parse(recipient)

    def _written(self) -> dict[str, m.Address]:
        if self._written_as is None:
            written: dict[str, m.Address] = {}
            for a in self.addresses or ():
                # (the first, as the list's search found it; one it is delivered to as, before a
                # displayOnly one of the same address: its reports name a recipient)
                if str(a) not in written or (written[str(a)].display_only and not a.display_only):
                    written[str(a)] = a
            self._written_as = written
        return self._written_as

    def _delivered_to(self) -> list[str]:
        """The recipients it reaches, each once (one named in To and Cc gets one copy, one report, one
        read reply): a displayOnly address is shown to them, not delivered to — unless it is named
        as a recipient too (in To, and displayOnly in Cc: it gets the message)."""
        if self._delivered is None:
            written = self._written()
            self._delivered = list(dict.fromkeys(
                r for r in self.recipients or () if r not in written or not written[r].display_only))
        return self._delivered

    def _reaches(self, recipient: str) -> bool:
        if self._reached is None:
            self._reached = frozenset(self._delivered_to())
        return recipient in self._reached

    def _not_reached(self, recipient: str) -> str:
        """What `send_report` and `send_read_reply` say of a recipient it was not delivered to."""
        delivered = self._delivered_to()
        named = ", ".join(delivered[:10]) + (f" and {len(delivered) - 10} more" if len(delivered) > 10 else "")
        return f"{self.message_id} was not delivered to {recipient!r}: its recipients are {named or 'none'}"

    def summary(self) -> dict:
        msg = self.request
        content = getattr(msg, "content", None)
        return {
            "message_id": self.message_id, "transaction_id": self.transaction_id, "operation": msg.ELEMENT,
            "version": self.version.name, "state": self.state, "received_at": self.received_at.isoformat(),
            "recipients": list(self.recipients or []), "refused": dict(self.refused),
            "vaspid": getattr(msg, "vaspid", None), "vasid": getattr(msg, "vasid", None),
            "service_code": str(msg.service_code) if getattr(msg, "service_code", None) is not None else None,
            "sender": str(msg.sender_address) if getattr(msg, "sender_address", None) is not None else None,
            "subject": getattr(msg, "subject", None),
            "parts": [{"content_type": p.content_type, "size": p.size} for p in content.all_parts()] if content else [],
            "reports": list(self.reports), **_deviations_json(self.deviations),  # (a copy: it grows)
        }


@dataclass
class Received:
    """One request the MMSC let in (the method and credentials right), as the VASP sent it, and what
    it was answered (`Simulator.received`): what a client sends is there to check whatever became of
    it — a CancelReq or ReplaceReq (which keep no message), a request refused, or met by trouble."""

    operation: str | None  # SubmitReq, CancelReq...; None: not read as MM7
    transaction_id: str | None
    version: str | None  # the schema version (namespace) it came in; its MM7Version: message.mm7_version
    message: m.Message | None = field(repr=False)  # as decoded, version-neutral
    # The HTTP request's, by any case of their names (headers["SOAPAction"]).
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    http_status: int = 200  # of the answer (a Fault's 500, or 200 in the mbuni dialect)
    status: int | None = None  # the MM7 status answered, a response's or a Fault's; None: a bare HTTP error
    status_text: str | None = None
    message_id: str | None = None  # the one a SubmitRsp gave, or the one the request named
    trouble: Trouble | None = None  # what fail_next scripted for it
    deviations: list = field(default_factory=list)
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    # The HTTP body as it came (compressed, if sent so): for a test of the wire format itself — the
    # MIME layout, boundaries, part headers, transfer encodings — which `message` no longer shows.
    body: bytes = field(default=b"", repr=False)

    __repr__ = repr_showing_no_secret_header  # (its headers may carry the VASP's credentials)

    def summary(self) -> dict:
        """As /control/received gives it (secret-looking header values masked): the body's size as
        it came and its first RECEIVED_BODY_SHOWN bytes as text (the SOAP XML, the MIME headers and
        boundaries a wire-format check reads; the whole of each, for every request kept, would make
        the list as large as the traffic) — of a compressed body, inflated, `body_inflated` naming
        the coding undone (compressed bytes shown as text were noise)."""
        inflated = _inflated_head(self.body, header_value(self.headers, "content-encoding"))
        coding, head, more = inflated if inflated is not None else (None, self.body[:RECEIVED_BODY_SHOWN],
                                                                  len(self.body) > RECEIVED_BODY_SHOWN)
        return {"operation": self.operation, "transaction_id": self.transaction_id, "version": self.version,
                "mm7_version": getattr(self.message, "mm7_version", None), "message_id": self.message_id,
                "http_status": self.http_status, "status": self.status, "status_text": self.status_text,
                "trouble": {k: v for k, v in vars(self.trouble).items() if v is not None} if self.trouble else None,
                "headers": mask_headers(self.headers), "content_type": self.content_type,
                **_deviations_json(self.deviations), "received_at": self.received_at.isoformat(),
                "body_size": len(self.body), "body_inflated": coding, "body_head": head.decode("utf-8", "replace"),
                "body_truncated": more}


# How much of each request's body /control/received shows (`body_head`; `body_size` is the whole's,
# as it came: compressed, if sent so).
RECEIVED_BODY_SHOWN = 4096


def _inflated_head(body: bytes, coding: str | None) -> tuple[str, bytes, bool] | None:
    """(the coding, the first RECEIVED_BODY_SHOWN bytes it inflates to, whether it inflates to more) of
    a body under one Content-Encoding the simulator undoes (gzip, x-gzip, deflate: zlib's or raw); None
    for one under none, several, or one it does not undo, and for bytes that do not inflate (a body sent
    plain under the header: shown as it came). Only the head is inflated: a bomb is never held."""
    applied = [c for c in (c.strip().lower() for c in (coding or "").split(",")) if c and c != "identity"]
    if len(applied) != 1 or applied[0] not in CONTENT_CODINGS or not body:
        return None
    for wbits in (GZIP,) if applied[0] != "deflate" else (ZLIB, RAW):
        reading = _Head(body, wbits)
        try:
            head = reading.read(RECEIVED_BODY_SHOWN + 1)
        except DecodeError:
            continue
        if head:
            return applied[0], head[:RECEIVED_BODY_SHOWN], len(head) > RECEIVED_BODY_SHOWN
    return None


class _Head(Inflating):
    """A body's head inflated: what inflates of it, the body ending, or damaged, where it may (it
    was read whole, or refused, when it came)."""

    max_members = MAX_GZIP_MEMBERS
    salvage = True  # (a body damaged after its head: the head shown all the same)

    def limit(self) -> int:
        return RECEIVED_BODY_SHOWN + 1

    def cut_short(self) -> None:
        return None

    def unreadable(self, exc) -> None:  # noqa: ANN001
        return None

    def trailing(self, count: int) -> None:
        return None

# The operations an MMSC serves, as `Simulator.wait_for` names them.
_SERVED = ("SubmitReq", "CancelReq", "ReplaceReq", "extendedCancelReq", "extendedReplaceReq")


# What a wait_for failure calls the answers given to requests not let in.
_DOOR = {401: "401 (credentials missing or refused; a Digest challenge too)", 405: "405 (not a POST)",
         429: "429 (too many wrong credentials from its address: auth_failures)"}


def _described(r: Received) -> str:
    """A request received, in a line of a failed wait: what it was and what it was answered."""
    said = [r.operation or "(not MM7)", f"tid={printable(str(r.transaction_id))}"]
    if r.status is not None:
        said.append(f"status={r.status}")
    if r.http_status != 200:
        said.append(f"http={r.http_status}")
    return " ".join(said)


def _deviations_json(deviations) -> dict:
    """The deviations as the control JSON gives them: `deviations` as `str(Deviation)` writes each
    (what it always gave, which scripts may parse), and `deviations_full` as the forwarded and saved
    JSON does ({code, path, message, details}: the validator's own words too)."""
    return {"deviations": [str(d) for d in deviations], "deviations_full": [deviation_json(d) for d in deviations]}


_MSISDN = re.compile(r"\+?[0-9]{1,20}(?:/TYPE=PLMN)?", re.IGNORECASE)  # as MMSCs write them (Nokia's suffix too)


def _well_formed(address: m.Address) -> bool:
    """Whether a recipient is one an MMSC could deliver to: a Number of digits (a leading +), an
    RFC 2822 address with an @; a ShortCode is the operator's to know."""
    if address.kind == m.AddressKind.NUMBER:
        return bool(_MSISDN.fullmatch(str(address).strip()))
    if address.kind == m.AddressKind.RFC2822:
        local, at, domain = str(address).rpartition("@")
        return bool(at and local.strip() and domain.strip())
    return True


def _seconds_until(when: m.When | None, unzoned: timezone = timezone.utc) -> float:
    """How long an EarliestDeliveryTime holds a message from now: 0 when it is past or none. A time
    without a zone is read in `unzoned` (UTC); a duration the binding keeps as text (in months or
    years: "P1M", a fraction finer than a microsecond: "PT1.0000004S", one past what a timedelta
    holds) is counted from now, months and years on the calendar (a month from 31 January: the end
    of February)."""
    if isinstance(when, timedelta):
        return max(0.0, when.total_seconds())
    if isinstance(when, datetime):
        aware = when if when.tzinfo is not None else when.replace(tzinfo=unzoned)
        return max(0.0, (aware - datetime.now(timezone.utc)).total_seconds())
    if isinstance(when, str):
        return _duration_seconds(when.strip(), datetime.now(timezone.utc))
    return 0.0


# Where an ExpiryDate without a zone is read: xs:dateTime's "local time", its zone unknown, which
# XML Schema places anywhere from -14:00 to +14:00. Read at the latest of them, it has passed only
# once it has in every zone: a VASP west of UTC writing its local time saw its messages expire
# hours early when it was read as UTC.
_LATEST_ZONE = timezone(timedelta(hours=-14))


def _expiry_in(expiry: m.When | None) -> float | None:
    """The seconds from now until an ExpiryDate (a time, or a duration from now), 0 when it has
    passed; None for none, or text the binding kept that is no duration. A time without a zone is
    read as late as any zone reads it (_LATEST_ZONE)."""
    if expiry is None:
        return None
    if isinstance(expiry, str):
        from xsdata.models.datatype import XmlDuration  # noqa: PLC0415

        try:
            XmlDuration(expiry.strip())
        except ValueError:
            return None
    return _seconds_until(expiry, _LATEST_ZONE)


def _unzoned_before(expiry: m.When | None, earliest: m.When | None, seconds: float) -> bool:
    """Whether an ExpiryDate and an EarliestDeliveryTime both written without a zone — one local
    time, whatever its zone — leave less than `seconds` between them (the first before the second)."""
    if not (isinstance(expiry, datetime) and isinstance(earliest, datetime)
            and expiry.tzinfo is None and earliest.tzinfo is None):
        return False
    return (expiry - earliest).total_seconds() <= seconds


def _duration_seconds(text: str, now: datetime) -> float:
    """The seconds from `now` an xs:duration text spans (0 for a negative one, or text that is none;
    past the year 9999, as long as the calendar goes)."""
    from xsdata.models.datatype import XmlDuration  # noqa: PLC0415

    try:
        d = XmlDuration(text)
    except ValueError:  # (no duration: a peer's text the binding kept)
        return 0.0
    if d.negative:
        return 0.0
    end = datetime.max.replace(tzinfo=timezone.utc)
    try:
        months = now.month - 1 + (d.years or 0) * 12 + (d.months or 0)
        year, month = now.year + months // 12, months % 12 + 1
        last_day = ((datetime(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
                    if year < 9999 or month < 12 else 31)
        then = now.replace(year=year, month=month, day=min(now.day, last_day))
        then += timedelta(days=d.days or 0, hours=d.hours or 0, minutes=d.minutes or 0)
        return max(0.0, (then - now).total_seconds() + (d.seconds or 0))
    except (OverflowError, ValueError):  # (past the year 9999)
        return max(0.0, (end - now).total_seconds())


# What a delivery status makes of a message: no longer pending (a CancelReq is too late), but for
# Deferred and Indeterminate, after which the MMSC still holds it. (Forwarded: it reached the
# recipient, who sent it on unread.)
_DELIVERED = (DeliveryStatus.RETRIEVED, DeliveryStatus.FORWARDED)
_ENDS = {s.value: "delivered" if s in _DELIVERED else "undelivered" for s in DeliveryStatus
         if s not in (DeliveryStatus.DEFERRED, DeliveryStatus.INDETERMINATE)}


@dataclass(frozen=True)
class _Fates:
    """Each recipient's delivery status as configured when a message was taken: its own
    (`recipient_status`), or `report_status` (kept so, not one for each recipient)."""

    own: dict[str, str]
    default: str

    def __call__(self, recipient: str) -> str:
        return self.own.get(recipient, self.default)


# What a ReplaceReq replaces of the message it names: each element it carries (TS 23.140's
# MM7_replace.REQ; its Content is the new content, its TimeStamp the replacement's), none of the
# message's identity (MessageID, SenderIdentification, MM7Version).
_NOT_REPLACED = ("message_id", "mm7_version", "extras", "vaspid", "vasid", "sender_address", "service_code_attributes")


def _replacing(msg: m.ReplaceReq, request: m.Message) -> dict[str, Any]:
    """The fields a ReplaceReq gives for the message kept (`request`, a SubmitReq), by name."""
    own = {f.name for f in fields(request)}
    changes = {f.name: getattr(msg, f.name) for f in fields(msg)
               if f.name not in _NOT_REPLACED and f.name in own and getattr(msg, f.name) is not None}
    if "service_code" in changes:  # (its attributes with it: a peer's own, of that ServiceCode)
        changes["service_code_attributes"] = dict(msg.service_code_attributes)
    return changes


@dataclass
class _Plan:
    """When a message taken is delivered, and what then: set at its submit, changed by a ReplaceReq
    while it is pending (read and changed under the simulator's lock)."""

    deliverable_at: float  # time.monotonic() of its EarliestDeliveryTime (or of its arrival)
    expires_at: float | None  # of its ExpiryDate, read as late as any zone reads it; None: none
    earliest: m.When | None  # both as written: one without a zone is compared with the other's
    expiry: m.When | None
    fates: _Fates  # each recipient's delivery status, as configured when it was taken
    report: bool
    read: bool
    round: int = 0  # counts its reschedulings: a job of an earlier one does nothing


_RETRY = RetryPolicy()  # which of the VASP's answers are worth sending again (the attempts are the config's)


def _worth_sending_again(exc: SendError) -> bool:
    if isinstance(exc, (ConnectError, TransportError)):  # down, timed out, or the connection lost
        return True
    if isinstance(exc, FaultError):
        return _RETRY.retries_fault(exc.fault, exc.http_status)
    if isinstance(exc, HTTPStatusError):
        return _RETRY.retries_http(exc.status)
    return False  # an answer that is not MM7: sending it again would get the same


# How far a compressed request is inflated when no message size is set: as far as the receiver's
# default max_body (a decompression bomb is stopped there).
_INFLATED_AT_MOST = ReceiverConfig.max_body

CHINA_MOBILE = ("cmcc", "cmcc-sdk")  # the dialects of China Mobile's MMSC
_CMCC_PARTIAL_SUCCESS = 1001  # (its manual's 部分成功, where TS 23.140 has 1100)

# What China Mobile's SDK (V1.5.3) writes into every request of a kind: a plain-text SenderAddress
# and no <Content href> in a SubmitReq; a CancelReq or ReplaceReq declaring the namespace under a
# prefix it never uses (its elements in no namespace) with env:mustUnderstand on it, and a
# CancelReq's SenderAddress after SenderIdentification. China Mobile shipped the SDK to its SPs and
# its manual sends Submit, Cancel (§4.6) and Replace (§4.7) through it: its MMSC takes these, so a
# strict cmcc dialect does too (the deviations noted), and refuses any other.
_SDK_HABITS = (
    ("plain-text-address", re.compile(r"/Envelope/Body/(?:SubmitReq|CancelReq)/SenderIdentification/SenderAddress")),
    ("content-ref-missing", re.compile(r"")),
    ("unqualified-body", re.compile(r"/Envelope/Body/(?:CancelReq|ReplaceReq)")),
    ("unknown-attribute", re.compile(r"/Envelope/Body/(?:CancelReq|ReplaceReq)/@mustUnderstand")),
    ("moved-element", re.compile(r"/Envelope/Body/CancelReq/SenderAddress")),
)


def _sdk_habit(deviation, element: str | None) -> bool:
    if deviation.code == "content-ref-missing":
        return element in ("SubmitReq", "ReplaceReq")
    return any(deviation.code == code and path.fullmatch(deviation.path) for code, path in _SDK_HABITS)


# The Priority of an MO when the caller gives none. China Mobile's MMSC writes one into every
# DeliverReq, MMSRelayServerID after it (the Chinese MMSC's capture): without one, its MO would
# not look like that capture, MMSRelayServerID coming after TimeStamp. Normal, as OMA MMS takes a
# handset's message naming none (the capture's High was that sender's choice, not the MMSC's).
_MO_PRIORITY = {dialect: m.Priority.NORMAL for dialect in CHINA_MOBILE}

# How Mbuni writes what it sends and answers: SOAP-ENV, mm7-prefixed elements, no XML declaration (and
# typed bare text/xml: soap_charset_param).
MBUNI_XML = XmlStyle(envelope_prefix="SOAP-ENV", mm7_prefix="mm7", xml_declaration=False)

# What each POST /control/ action takes.
TROUBLE_FIELDS = ("count", "status", "http_status", "retry_after", "delay", "text", "drop", "in_response")
CONTROL_FIELDS = {"deliver": ("from", "to", "subject", "text", "linked_id", "priority", "version"),
                  "report": ("message_id", "recipient", "status"), "read": ("message_id", "recipient", "status"),
                  "resend": ("transaction_id",), "fail": TROUBLE_FIELDS, "reset": ()}
# The largest body a control request may have (more: 413, unread): a deliver's text, with room to spare.
CONTROL_MAX_BODY = 1024 * 1024
# The methods each control endpoint answers (HEAD as GET): another one is a 405 naming these.
CONTROL_METHODS = {"messages": ("GET", "HEAD"), "received": ("GET", "HEAD"), "health": ("GET", "HEAD"),
                   **{action: ("POST",) for action in CONTROL_FIELDS}}

# The simulator's TLS settings toward the VASP, named in the hint on a TLS failure reaching it.
_SETTINGS = {"read_timeout": "vasp_timeout (simulate --vasp-timeout)",
             "cert": "vasp_cert (simulate --vasp-cert, --vasp-key)",
             "verify": "vasp_verify (simulate --vasp-ca)",
             "credentials": "vasp_username and vasp_password (simulate --vasp-username, --vasp-password)"}

_runs_lock = threading.Lock()
_last_run = [0]  # (the last run ID's milliseconds: two simulators made in one millisecond differ too)


def _said_of_an_unlisted_mm7_version(env: Envelope, refusal: ValidationError) -> m.Status | None:
    """The Status of a strict refusal for an MM7Version its namespace's schema does not list (6.7.0
    in REL-6-MM7-1-4, which real traffic carries: InstantCom's samples pair them, 6.7.0 its default
    MM7Version), said in words a VASP acts on — the values the schema lists and the one to send — where libxml2's enumeration
    message named a set in no order; its words stay in Details. None for any other refusal.

    Refused, not noted: the reader finds no mismatch in an earlier value of the namespace's own
    release only because later schemas keep listing such values (`versions.later_than_paired`),
    and this one they do not list, so a carrier validating requests against the schema refuses it
    (4002), as a strict mm7bind receiver does. Lenient, the simulator takes it, the deviation noted."""
    from .binding import field_enum_values  # noqa: PLC0415

    msg, version = env.message, env.version
    if msg is None or version is None or (env.namespace is not None and versions.by_spelling(env.namespace) is not version):
        return None  # (a namespace no schema has, read as the closest: its list is no list of the peer's)
    about = [d for d in refusal.deviations if d.path.endswith(f"/{msg.ELEMENT}/MM7Version")
             and d.code in ("schema", "mm7version-namespace")]  # (the second: its release, said in the first's words)
    unlisted = [d for d in about if d.code == "schema"]
    value = (getattr(msg, "mm7_version", None) or "").strip()
    listed = field_enum_values(version, msg.ELEMENT, "MM7Version")
    if not unlisted or not listed or value in listed or versions.release_of(value) is None:
        return None  # (no x.y.z at all: libxml2's pattern message says so)
    said = (f"MM7Version {printable(value)[:40]} is not one {version.name} lists ({', '.join(listed)}): "
            f"a carrier validating requests against the schema refuses it; send {version.nominal_mm7_version}, "
            f"the namespace's own")
    others = [d for d in refusal.deviations if d not in about]
    if others:
        said += f"; and {len(others)} more deviation(s): " + "; ".join(map(str, others[:4]))
    return fault_status(refusal.status_code, said, refusal.details)


def _new_run_id() -> str:
    """The time, UTC to the millisecond, as yymmddHHMMSSfff (later than any before in this process),
    then 4 random digits: simulators of two processes (pytest-xdist workers, two `simulate`)
    started in the same millisecond give a shared VASP's store different MessageIDs all the same."""
    with _runs_lock:
        ms = _last_run[0] = max(time.time_ns() // 1_000_000, _last_run[0] + 1)
    return (datetime.fromtimestamp(ms // 1000, timezone.utc).strftime("%y%m%d%H%M%S") + f"{ms % 1000:03d}"
            + f"{secrets.randbelow(10_000):04d}")


class _KeptMessages(Mapping):
    """A simulator's messages by MessageID, read-only, safe to read while it serves: its server
    threads add and drop entries, and a dict iterated meanwhile raises "dictionary changed size
    during iteration". Each read holds the simulator's lock; iteration, keys(), values() and
    items() go over a copy."""

    def __init__(self, sim: Simulator):
        self._sim = sim

    def __getitem__(self, message_id: str) -> StoredMessage:
        with self._sim._lock:
            return self._sim._messages[message_id]

    def __len__(self) -> int:
        with self._sim._lock:
            return len(self._sim._messages)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:  # type: ignore[override]
        with self._sim._lock:
            return list(self._sim._messages)

    def values(self) -> list[StoredMessage]:  # type: ignore[override]
        with self._sim._lock:
            return list(self._sim._messages.values())

    def items(self) -> list[tuple[str, StoredMessage]]:  # type: ignore[override]
        with self._sim._lock:
            return list(self._sim._messages.items())

    def __repr__(self) -> str:
        return f"{{{', '.join(f'{k!r}: {v!r}' for k, v in self.items())}}}"


class _KeptRequests(Sequence):
    """The requests a simulator let in, oldest first, read-only and safe to read while it serves
    (as _KeptMessages): iterating goes over a copy, so none is skipped when the oldest are dropped."""

    def __init__(self, sim: Simulator):
        self._sim = sim

    def __getitem__(self, index):  # noqa: ANN001 (an int or a slice, as a list takes)
        with self._sim._lock:
            return self._sim._received[index]

    def __len__(self) -> int:
        with self._sim._lock:
            return len(self._sim._received)

    def __iter__(self) -> Iterator[Received]:
        with self._sim._lock:
            return iter(list(self._sim._received))

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, (list, Sequence)) else NotImplemented

    def __repr__(self) -> str:
        return repr(list(self))


@suggest_keywords
class Simulator:
    def __init__(self, config: SimulatorConfig | None = None, **settings: Any):
        # Settings given with a config apply over it, checked as the config checks them (they were dropped).
        self.config = (replace(config, **settings) if config is not None and settings
                       else config or SimulatorConfig(**settings))
        self._messages: dict[str, StoredMessage] = {}
        self._refusals = RefusalLog()  # (refused credentials' lines, one per peer and reason a minute)
        self.messages: Mapping[str, StoredMessage] = _KeptMessages(self)
        self.mo_sent: list[dict] = []
        # Every request let in, the latest max_messages: what the VASP sent, and what it was answered.
        self._received: list[Received] = []
        self.received: Sequence[Received] = _KeptRequests(self)
        # Given to MO messages, the latest max_messages (insertion-ordered): a reply must cite one
        self.linked_ids: dict[str, None] = {}
        # MessageIDs: SIM<run_id>-000001, 2... in the order submits came. The run_id (when this
        # simulator was made, and random digits) keeps a VASP store kept across restarts, or shared by
        # simulators of several processes, from seeing an ID given twice.
        self.run_id = _new_run_id()
        self._ids = itertools.count(1)
        self._sent: dict[str, tuple] = {}  # TransactionID → what went to the VASP under it (resend)
        self._linked = itertools.count(1)  # MO LinkedIDs, apart: an MO leaves the next MessageID as it was
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # (wakes wait_for when a request is kept)
        self._door: dict[int, int] = {}  # HTTP status → requests answered so before being let in (401, 405, 429)
        self._failures: FailureLimit | None = None  # wrong credentials by address (config.auth_failures)
        self._queue: list = []
        self._running = 0  # scheduled jobs taken off the queue and not finished yet
        self._seq = itertools.count()
        self._reset_count = 0
        self._wake = threading.Condition()
        self._stopping = False
        self._troubles = _Troubles()  # for the next requests, in order
        self._halting = threading.Event()  # set by stop(): a scripted delay ends at once
        self.server: EmbeddedServer | None = None
        self._worker: threading.Thread | None = None
        self._clients: dict[tuple[str, str], Any] = {}  # (dialect, schema version) → its client
        self._clients_lock = threading.Lock()
        self._answering = threading.local()  # .status: a scripted success other than 1000, for this thread's answer
        self._said_no_vasp = False  # a submit asking for reports with nowhere to send them: said once

    @property
    def profile(self) -> Profile:
        """The dialect's profile, read for each request: a test may change `config.dialect` (as it
        sets `config.vasp_url`) on a running simulator."""
        try:
            profile = DIALECTS[self.config.dialect]
        except KeyError:
            raise ValueError(f"unknown dialect {self.config.dialect!r} (known: {', '.join(DIALECTS)})") from None
        if self._mbuni_quirks:
            profile = profile.replace(xml=MBUNI_XML, soap_charset_param=False)
        return profile

    @property
    def _mbuni_quirks(self) -> bool:
        return self.config.dialect == "mbuni" and self.config.quirks

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url + self.config.path

    @property
    def control_url(self) -> str:
        """Where its control endpoints are (JSON, no credentials asked: `control_url + "deliver"`,
        "messages", "fail", ...), whatever the MM7 `path`: the URL `simulate` prints after "control at"."""
        return self.server.url + "/control/"

    def start(self) -> Simulator:
        """Serve (again, after `stop`: the MMSC back from an outage, the same messages and IDs)."""
        self._halting.clear()
        self.server = EmbeddedServer(self.wsgi_app(), self.config.host, self.config.port, threads=4).start()
        with self._wake:
            self._stopping = False  # (a stop before left it set: the new worker would end at once)
            # (with it, as one: a worker of a run before, still waiting for a VASP's answer when
            # stop() gave up waiting for it, ends when it is done, not running the schedule beside this one)
            self._worker = threading.Thread(target=self._run_queue, name="mm7bind-simulator", daemon=True)
        self._worker.start()
        log.info(STARTED, self.config.dialect, self.url)
        if (pathless := pathless_vasp_url(self.config.vasp_url)) is not None:
            log.warning(PATHLESS, pathless)
        return self

    def stop(self) -> None:
        self._halting.set()
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self.server is not None:
            self.server.stop()
        if self._worker is not None:
            self._worker.join(timeout=5)
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- HTTP -----------------------------------------------------------------------------------

    def wsgi_app(self) -> Callable:
        path = self.config.path

        def in_json(status: int, payload: Any, start_response: Callable, action: str = "") -> list[bytes]:
            data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
            # (the state of the moment: a proxy or client cache would show messages and reports as they were)
            headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data))),
                       ("Cache-Control", "no-store")]
            if status == 405:
                headers.append(("Allow", ", ".join(CONTROL_METHODS[action])))
            start_response(f"{status} {REASONS.get(status, 'Error')}", headers)
            return [data]

        def app(environ, start_response):
            method = environ.get("REQUEST_METHOD", "GET")
            route = environ.get("PATH_INFO", "")
            control = route.startswith("/control/")
            try:
                length = declared_length(environ.get("CONTENT_LENGTH"))
            except ValueError:  # ("1_0" or "١٠": read as 10 by int(), a length the client never wrote)
                if control:
                    return in_json(400, {"error": "invalid Content-Length (digits only)"}, start_response)
                start_response("400 Bad Request", [("Content-Type", "text/plain"),
                                                   ("Content-Length", str(len(BAD_LENGTH)))])
                return [BAD_LENGTH]
            if control and length > CONTROL_MAX_BODY:  # (refused unread: a control request is a few fields)
                return in_json(413, {"error": f"a control request's body takes at most {CONTROL_MAX_BODY} bytes"},
                               start_response)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            if control:
                action = route[len("/control/"):]
                status, payload = self.control(method, action, body, can_drop=_closes_unanswered(environ))
                return in_json(status, payload, start_response, action)
            if route != path:
                # (its path named: an MMSC URL given without it, as `mo --simulator` takes the address,
                # is then put right from the client's error; a test tool on loopback hides nothing)
                start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
                return [f"not found: the simulator takes MM7 requests at {path}\n".encode()]
            headers = request_headers(environ)
            # (the target with its query, as a Digest answer signs it: the path alone refused every one
            # signing a URL with a query)
            rsp = self._refused_at_the_door(body, headers, method, target_of(environ), environ.get("REMOTE_ADDR"))
            trouble = None
            if rsp is None:
                # Trouble is for a request the MMSC would serve: a Digest challenge (every Digest
                # client's first request gets one) or a 405 took it, and the request it was meant for
                # was served as if none had been scripted.
                trouble = self._next_trouble()
                if trouble is not None and trouble.drop == "before-answer" and not _closes_unanswered(environ):
                    # (raised under another server, its error page answered a request served all the same)
                    log.error("scripted trouble: %s", _CANNOT_DROP)
                    rsp = Response(500, [("Content-Type", "text/plain; charset=utf-8")], f"{_CANNOT_DROP}\n".encode())
                elif (trouble is not None and trouble.delay and trouble.status is None
                      and self._halting.wait(trouble.delay)):
                    # (a delay with a status is waited where the status meets the request: _serve_request)
                    rsp = _answer_when_stopped()
                else:
                    rsp = self._serve(body, environ.get("CONTENT_TYPE"), trouble, headers, give_back=True)
                    if trouble is not None and trouble.drop == "before-answer":
                        log.info("scripted trouble: connection closed without the answer (HTTP %d)", rsp.status)
                        from waitress.channel import ClientDisconnected  # noqa: PLC0415

                        # (waitress, the simulator's server, closes the connection for it, writing nothing)
                        raise ClientDisconnected("scripted trouble: connection dropped before the answer")
            start_response(f"{rsp.status} {REASONS.get(rsp.status, 'Error')}",
                           rsp.headers + [("Content-Length", str(len(rsp.body)))])
            if trouble is not None and trouble.drop == "mid-answer":
                log.info("scripted trouble: connection closed after %d of the answer's %d bytes",
                         len(rsp.body) // 2, len(rsp.body))
                # (fewer bytes than the Content-Length said: the server closes the connection after them)
                return [rsp.body[:len(rsp.body) // 2]]
            return [rsp.body]

        return without_body_for_head(app)

    def fail_next(self, count: int = 1, **trouble: Any) -> int:
        """Make the next `count` requests fail: `status=3000` (a Fault; 1100: served, answered with it;
        `text=` its StatusText; `in_response=True`: an error in the operation's own response, a
        SubmitRsp saying 2001, not served), `http_status=503`, `retry_after=` seconds, `delay=` seconds
        before the answer (a client's read timeout), `drop="before-answer"` or `"mid-answer"` (served,
        the connection closed without its answer or halfway through it: the MMSC has the message, the
        client cannot know; "before-answer" under waitress alone, the simulator's own server: another
        one hosting `wsgi_app()` gets a 500 saying so, the request not served).
        → how many requests will now fail (these and those queued before)."""
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"count {count!r} is not a whole number, 0 or more")  # ([t] * -1 queued none, silently)
        unknown = [name for name in trouble if name not in TROUBLE_FIELDS[1:]]
        if unknown:  # (said as the call the test made, not as Trouble's constructor)
            raise TypeError(f"fail_next() got an unexpected keyword argument {unknown[0]!r}"
                            + did_you_mean(unknown[0], TROUBLE_FIELDS))
        t = Trouble(**trouble)
        if count and t.status is None and t.http_status is None and t.drop is None:
            # (queued, it served the next requests as if none had been scripted: fail_next(3000), meaning
            # a status, scripted 3000 requests' worth of nothing, and the test's failure came from elsewhere)
            if t.retry_after is not None:
                raise ValueError("retry_after is sent with a status or an http_status: give one of them too")
            if not t.delay:
                raise ValueError(f"nothing scripted for the next {count} request(s): name the trouble (status=3000, "
                                 "http_status=503, delay=5 or drop=\"before-answer\"), the count apart "
                                 "(fail_next(2, status=3000))")
        with self._lock:
            self._troubles.add(t, count)
            return len(self._troubles)

    def reset(self) -> None:
        """Forget the messages, requests received, MO sent, scheduled reports and scripted trouble, as a
        fresh simulator would (one kept running for a whole test session, between tests). MessageIDs keep
        counting: a VASP's store never sees one given twice. A report already on its way still arrives."""
        with self._wake:
            self._queue.clear()
            self._reset_count += 1  # (a schedule_each running now schedules no more of its items)
        with self._lock:
            self._messages.clear()
            self._troubles.clear()
            self.mo_sent.clear()
            self._received.clear()
            self._door.clear()
            self._failures = None  # (no address in a cool-down any more)
            self._sent.clear()
            self.linked_ids.clear()

    def _next_trouble(self) -> Trouble | None:
        with self._lock:
            return self._troubles.take()

    def handle(self, body: bytes, content_type: str | None, headers: dict, method: str = "POST",
               uri: str = "/mm7", trouble: Trouble | None = None, peer: str | None = None) -> Response:
        """One request from a VASP → the MMSC's answer (no I/O); `trouble` replaces the answer of
        a request let in (the method and credentials right); `peer`: its address, by which
        `auth_failures` counts wrong credentials."""
        refused = self._refused_at_the_door(body, headers, method, uri, peer)
        return refused if refused is not None else self._serve(body, content_type, trouble, headers)

    def _refused_at_the_door(self, body: bytes, headers: dict, method: str, uri: str,
                             peer: str | None = None) -> Response | None:
        """A 405, 401 or 429 for a request not let in; None for one let in (checked once: a Digest
        header is not taken twice)."""
        if method != "POST":
            return self._turned_away(Response(405, [("Allow", "POST")], b""))
        if self.config.auth is not None:
            limit = self._failure_limit()
            refused_for = limit.refused_for(peer) if limit is not None else 0
            if refused_for:  # (said once, as the cool-down began)
                return self._turned_away(Response(429, [("Retry-After", str(math.ceil(refused_for))),
                                                        ("Content-Type", "text/plain")],
                                                  b"too many wrong credentials: try again later\n"))
            header = header_value(headers, "authorization")
            ok, stale = self.config.auth.check(method, uri, header, body)
            if not ok:
                challenges = challenge_headers(self.config.auth, stale)
                tell_refused(self.config.auth, method, uri, header, body, challenges[0][1], stale, peer, log,
                             self._refusals, limit)
                return self._turned_away(Response(401, challenges, b""))
        return None

    def _failure_limit(self) -> FailureLimit | None:
        """The count of wrong credentials by address, None without `auth_failures`; made again when
        a test changes the settings on a running simulator (as it may change `vasp_url`)."""
        failures, cooldown = self.config.auth_failures, self.config.auth_cooldown
        if not failures:
            return None
        with self._lock:
            limit = self._failures
            if limit is None or (limit.failures, limit.cooldown) != (failures, cooldown):
                limit = self._failures = FailureLimit(failures, cooldown)
            return limit

    def _turned_away(self, rsp: Response) -> Response:
        # (counted for wait_for's failure: a client whose every request got a 401 was told "Received: nothing")
        with self._lock:
            self._door[rsp.status] = self._door.get(rsp.status, 0) + 1
        return rsp

    def _serve(self, body: bytes, content_type: str | None, trouble: Trouble | None,
               headers: dict | None = None, give_back: bool = False) -> Response:
        """The answer to a request let in, the request kept in `received` with it. `give_back`:
        `trouble` came from fail_next's queue, and goes back first in it when the request was
        refused before it could meet it (its version, a strict deviation, its VASPID...): the
        next request the MMSC serves gets it, as one a 401 turned away leaves it."""
        seen = self._answering.seen = {}  # (what the answer was made of, noted on the way: see _note)
        try:
            rsp = self._serve_request(body, content_type, trouble, headers or {}, hold=give_back)
        finally:
            self._answering.seen = None
        from requests.structures import CaseInsensitiveDict  # noqa: PLC0415

        if give_back and trouble is not None and trouble.status is not None and not seen.get("trouble_met"):
            # (a status, and the delay scripted with it, not yet waited: an HTTP error, a drop or a delay
            # alone met whatever the request)
            with self._lock:
                self._troubles.give_back(trouble)
            log.info("scripted trouble kept for the next request: this one was refused before it (HTTP %d)",
                     rsp.status)
            trouble = None
        env, answered, said = seen.get("env"), seen.get("answered"), seen.get("said")
        msg = env.message if env is not None else None
        status = answered.status if answered is not None else seen.get("status")
        named = getattr(msg, "message_id", None) or getattr(msg, "cancel_id", None) or getattr(msg, "replace_id", None)
        if env is not None:
            tid, version = env.transaction_id, env.version
        else:  # (one not read — too large, broken —: what its first bytes named, as its Fault echoes)
            tid, version = (said.transaction_id, said.version) if said is not None else (None, None)
        record = Received(
            operation=msg.ELEMENT if msg is not None else None, transaction_id=tid,
            version=version.name if version is not None else None,
            message=msg, headers=CaseInsensitiveDict(headers or {}), content_type=content_type,
            http_status=rsp.status, status=status.code if status is not None else None,
            status_text=status.text if status is not None else None,
            message_id=getattr(answered, "message_id", None) or named, trouble=trouble,
            deviations=list(env.deviations if env is not None else seen.get("deviations", ())), body=body)
        with self._lock:
            self._received.append(record)
            del self._received[:-self.config.max_messages]
            self._arrived.notify_all()
        return rsp

    def wait_for(self, operation: str | None = None, count: int = 1,
                 timeout: float | None = 10.0) -> list[Received]:
        """Wait until `count` requests (`operation`: "SubmitReq", "CancelReq", "ReplaceReq",
        "extendedCancelReq", "extendedReplaceReq"; any without) are in `received`, answered → their
        `Received`, whatever they were answered (a refusal too: its `status` says). Counted since the
        start (or `reset`), not since the last call: waiting for one more is `count=len(first) + 1`.
        For a service that sends on its own time (a queue, a thread): if they do not come within
        `timeout` seconds (None: no limit), an AssertionError says what came instead, and how many
        were turned away unread (401, 405)."""
        __tracebackhide__ = True  # (the user's test is where it failed, not this helper)
        if operation is not None and operation not in _SERVED:  # (a slip would wait out the timeout, then blame the VASP)
            raise ValueError(f"operation must be one of {', '.join(_SERVED)} (or None for any), not {operation!r}")

        def matching() -> list[Received]:
            return [r for r in self._received if operation is None or r.operation == operation]

        with self._arrived:
            self._arrived.wait_for(lambda: len(matching()) >= count, wait_limit(timeout))
            got, everything, door = matching(), list(self._received), dict(self._door)
        if len(got) >= count:
            return got
        came = "; ".join(_described(r) for r in everything[-20:]) or "nothing"
        if len(everything) > 20:
            came = f"{len(everything) - 20} more, then {came}"
        turned = ", ".join(f"{_DOOR.get(status, status)}: {n}" for status, n in sorted(door.items()))
        raise AssertionError(f"waited {timeout:g} s at {self.url if self.server else 'the simulator'} for {count} "
                             f"{operation or 'request'}(s), {len(got)} came. Received: {came}"
                             + (f". Turned away before being read (by answer): {turned}" if turned else "")
                             + held_loop_hint("simulator.wait_for, ..."))

    def _note(self, **what: Any) -> None:
        seen = getattr(self._answering, "seen", None)
        if seen is not None:
            seen.update(what)

    def _serve_request(self, body: bytes, content_type: str | None, trouble: Trouble | None,
                       headers: Mapping[str, str], hold: bool = False) -> Response:
        """`hold`: wait out the delay scripted with a status when the request meets it (a request
        refused before, for its version or a strict deviation, is answered at once, the trouble left
        to the next: see _serve); `wsgi_app` holds, `handle` (no I/O) answers at once."""
        limit = self.config.max_message_size or self.profile.max_message_size
        if trouble is not None and trouble.http_status is not None:
            # Answered before it is served, but read for `received` all the same: a test of a client's
            # retry after a 503 checks that the request sent again is the same one (its TransactionID),
            # which a record of "not MM7" could not show.
            self._read_for_the_record(body, content_type, headers, limit)
            extra = [("Retry-After", f"{trouble.retry_after:g}")] if trouble.retry_after is not None else []
            return Response(trouble.http_status, [("Content-Type", "text/plain"), *extra], b"scripted trouble\n")
        if limit is not None and len(body) > limit:
            # (not decoded, a message that size: what its first bytes name, so the Fault echoes its
            # TransactionID, in its version, as every other answer does)
            said = what_it_said(body)
            self._note(said=said)  # (for `received`: its TransactionID and version)
            return self.fault(None, RequestStatus.MULTIMEDIA_CONTENT_REFUSED,
                              f"message of {len(body)} bytes, more than {limit}", said=said)
        heard: list[Deviation] = []  # (what the HTTP headers say wrong: noted, never refused)
        if header_value(headers, "content-encoding") is not None:
            inflated = self._inflated(body, header_value(headers, "content-encoding"), limit)
            if isinstance(inflated, Response):
                return inflated
            body, plain = inflated
            heard += [plain] if plain is not None else []
        try:
            # Read tolerantly, refused after when strict: the refusal then answers in the caller's
            # version, namespace and MM7Version, as any other answer does.
            env = decode(body, content_type)
        except DecodeError as exc:
            log.warning("refused: %s", printable(exc))  # (the VASP's words quoted: no forged line)
            self._note(deviations=heard + (exc.deviations or []))
            said = what_it_said(body)
            self._note(said=said)  # (for `received`: what it named, whatever the answer echoes)
            refusal = soap_refusal(exc.deviations or ())
            if refusal is not None:
                return self._soap_fault(None, refusal, said)
            if self._mbuni_quirks:  # (Mbuni answers a request it could not read with TransactionID "none")
                said = said._replace(transaction_id=None)
            return self.fault(None, refusal_status(exc), said=said)
        unlabelled = [d for d in (content_type_deviation(content_type),) if d is not None]
        strictly = self._refused_strictly(env, unlabelled)
        action = soap_action_deviation(header_value(headers, "soapaction"), env) if headers else None
        # (as the receiver lists them; a SOAPAction and a coding are HTTP's, MM7 is dispatched on the body)
        env.deviations[:0] = unlabelled + heard + ([action] if action is not None else [])
        self._note(env=env)
        refusal = soap_refusal(env.deviations)
        if refusal is not None:
            log.warning("refused: %s (SOAP %s)", refusal.string, refusal.code)
            return self._soap_fault(env, refusal)
        unaccepted = self._version_refused(env)
        if unaccepted is not None:  # (before strictness: the version is what is wrong, not a deviation)
            log.warning("refused: %s", unaccepted)
            return self.fault(env, fault_status(RequestStatus.UNSUPPORTED_VERSION, None, unaccepted))
        if strictly is not None:
            unlisted = _said_of_an_unlisted_mm7_version(env, strictly)
            log.warning("refused: %s", printable(unlisted.text if unlisted is not None else strictly))
            return self.fault(env, unlisted or refusal_status(strictly))
        if env.deviations:
            log.info("accepted with %d deviation(s): %s", len(env.deviations),
                     printable("; ".join(map(str, env.deviations[:8]))))
        msg = env.message
        if msg is None or msg.DIRECTION != "vasp->rs" or msg.ELEMENT not in m.RESPONSE_FOR:  # (a VASP's response)
            return self.fault(env, RequestStatus.UNSUPPORTED_OPERATION,
                              f"{'a Fault' if msg is None else msg.ELEMENT} is not an operation an MMSC serves")
        answering = versions.get(self.profile.version) if self.profile.answer_in_own_version else env.version
        if answering.element_class(m.RESPONSE_FOR[msg.ELEMENT].ELEMENT) is None:
            # An extended operation in a namespace without it (read tolerantly), or sent to Mbuni
            # (REL-5-MM7-1-0): its response cannot be written there, a Fault can.
            return self.fault(env, RequestStatus.UNSUPPORTED_OPERATION,
                              f"{msg.ELEMENT} is not an operation of {answering.name}")
        refusal = self._identification_refused(msg)
        if refusal is not None:
            return self._refuse(env, *refusal)
        self._note(trouble_met=True)  # (a scripted status answers it from here on)
        if hold and trouble is not None and trouble.status is not None and trouble.delay \
                and self._halting.wait(trouble.delay):
            return _answer_when_stopped()  # (stopped meanwhile: see wsgi_app)
        if trouble is not None and trouble.in_response and trouble.status >= 2000:
            return self._refused_in_response(env, msg, trouble)
        if trouble is not None and trouble.status is not None and trouble.status < 2000:
            # A success other than 1000 (1100, partial success; China Mobile's 1001): served, its
            # response saying so (a Fault carries errors only).
            self._answering.status = (m.Status(trouble.status, trouble.text) if trouble.text is not None
                                      else self._localized(m.Status(trouble.status)))
            try:
                return self._operation(env, msg)
            finally:
                self._answering.status = None
        if trouble is not None and trouble.status is not None:
            rsp = self.fault(env, trouble.status, trouble.text, scripted=trouble.text is not None)
            if trouble.retry_after is not None:
                rsp.headers.append(("Retry-After", f"{trouble.retry_after:g}"))
            return rsp
        return self._operation(env, msg)

    def _version_refused(self, env: Envelope) -> str | None:
        """What is said of a request in a version not among `accepted_versions` (None: taken): its
        namespace (one no schema has, read with the closest, is none of them), then its MM7Version."""
        if self.config.accepted_versions is None:
            return None
        accepted = _accepted(self.config.accepted_versions)
        version = env.version
        if env.namespace is not None and versions.by_spelling(env.namespace) is not version:
            version = None  # (an unknown namespace, read as the closest version)
        only = ", ".join(sorted(accepted, key=versions.sort_key))
        if version is None or version.name not in accepted:
            came = version.name if version is not None else printable(str(env.namespace))[:100]
            return f"{came} is not taken here, only {only}"
        # The MM7Version is the TS 23.140 version the VASP claims to speak: one later than its
        # namespace goes with (of a later release, or the confirmed own version of a later schema)
        # is a version the MMSC was not set up for, as providers pair them (6.8.0 with REL-6-MM7-1-4
        # alone), unless the schema it goes with is taken too. Earlier ones are taken: later schemas
        # keep listing them, and real traffic sends 5.3.0 with any namespace.
        later = next((d for d in env.deviations if d.code in ("mm7version-namespace", "mm7version-pairing")), None)
        if later is None:
            return None
        said = (getattr(env.message, "mm7_version", None) or "").strip()
        claimed = versions.for_mm7_version(said, env.message.ELEMENT if env.message is not None else None)
        if claimed is not None and claimed.name in accepted:
            return None
        return (f"MM7Version {printable(said)[:40]} in {version.name} is not taken here"
                + (f" (it goes with {claimed.name})" if claimed is not None else "") + f", only {only}")

    def _read_for_the_record(self, body: bytes, content_type: str | None, headers: Mapping[str, str],
                             limit: int | None) -> None:
        """What a request answered by a bare HTTP error said, noted for its `Received` (as tolerantly
        as any other is read; one that cannot be read stays "not MM7"): never refused, never served."""
        if limit is not None and len(body) > limit:
            return
        try:
            if header_value(headers, "content-encoding") is not None:
                body, _ = request_body(body, header_value(headers, "content-encoding"),
                                       limit if limit is not None else _INFLATED_AT_MOST)
            env = decode(body, content_type)
        except DecodeError:  # (an unknown coding and one inflating past the limit too)
            return
        self._note(env=env)

    def _refused_in_response(self, env: Envelope, msg: m.Message, trouble: Trouble) -> Response:
        """A scripted error in the operation's own response (HTTP 200), the request not served."""
        status = fault_status(trouble.status, trouble.text)
        rsp_cls = m.RESPONSE_FOR[msg.ELEMENT]
        # (a response that must name a message names none: nothing was taken)
        rsp = rsp_cls(status=status, **({"message_id": ""} if "message_id" in rsp_cls.__dataclass_fields__ else {}))
        log.info("scripted trouble: %s refused in its %s: %d", msg.ELEMENT, rsp_cls.ELEMENT, trouble.status)
        out = self.answer(env, rsp, scripted=trouble.text is not None)
        if trouble.retry_after is not None:
            out.headers.append(("Retry-After", f"{trouble.retry_after:g}"))
        return out

    def _refused_strictly(self, env: Envelope, more: list[Deviation]) -> ValidationError | None:
        """What a strict MMSC refuses `env` (and the request's `more`, no Content-Type) for: any
        deviation (4004), an MM7 namespace no schema has or an MM7Version its namespace does not list
        or of a later release than it (`unknown-version`, `mm7version-namespace`: 4002, Unsupported
        version, as `ValidationError.refusing` says); in China Mobile's dialects, none its own SDK
        makes (see _sdk_habit). None: taken."""
        if not self.config.strict:
            return None
        element = env.message.ELEMENT if env.message is not None else None
        sdk = self.config.dialect in CHINA_MOBILE
        refused = [d for d in refusable([*more, *env.deviations]) if not (sdk and _sdk_habit(d, element))]
        return ValidationError.refusing(refused) if refused else None

    def _inflated(self, body: bytes, coding: str, limit: int | None) -> tuple[bytes, Deviation | None] | Response:
        """A compressed request's body inflated as the receiver inflates one (`codec.request_body`),
        within the largest message taken (more: 2004, as a message that size gets), or without one
        the receiver's default max_body (more: 413); a coding it does not undo is a 415, bytes that
        do not inflate a Client Fault (2007)."""
        try:
            return request_body(body, coding, limit if limit is not None else _INFLATED_AT_MOST)
        except UnsupportedEncodingError as exc:
            log.warning("refused: %s", printable(exc))
            return unsupported_encoding(exc)
        except LimitExceededError as exc:
            log.warning("refused: %s", printable(exc))
            if limit is None:
                return Response(413, [("Content-Type", "text/plain")], b"request body too large\n")
            return self.fault(None, RequestStatus.MULTIMEDIA_CONTENT_REFUSED,
                              f"the {coding.strip()} message inflates to more than {limit} bytes")
        except DecodeError as exc:
            log.warning("refused: %s", printable(exc))
            return self.fault(None, refusal_status(exc))

    def _operation(self, env: Envelope, msg: m.Message) -> Response:
        op = {"SubmitReq": self._submit, "CancelReq": self._cancel, "ReplaceReq": self._replace,
              "extendedCancelReq": self._cancel, "extendedReplaceReq": self._extended_replace}[msg.ELEMENT]
        return op(env, msg)

    def _identification_refused(self, msg: m.Message) -> tuple[int, str] | None:
        """(status, text) for a request the MMSC cannot tie to a VASP it serves, or bill: another
        VASPID or VASID than configured; for China Mobile's MMSC (the cmcc dialects) a SubmitReq
        without VASPID (企业代码), VASID (服务代码) or ServiceCode (业务代码), which it routes and bills
        by, and, strict, one breaking its manual's rules for them."""
        submit = msg.ELEMENT == "SubmitReq"
        for name, label in (("vaspid", "VASPID"), ("vasid", "VASID")):
            wanted, given = getattr(self.config, name), getattr(msg, name, None)
            if wanted and (given != wanted if submit else given not in (None, wanted)):
                return (RequestStatus.IMPROPER_IDENTIFICATION,
                        f"unknown {label} {printable(str(given))[:40]!r}" if given else f"no {label}")
        if not submit or self.config.dialect not in CHINA_MOBILE:
            return None
        vaspid, vasid = msg.vaspid, msg.vasid
        service = str(msg.service_code) if msg.service_code is not None else None
        if not vaspid or not vasid:
            named = (("VASPID (企业代码)", vaspid), ("VASID (服务代码)", vasid))
            missing = " and ".join(name for name, value in named if not value)
            return RequestStatus.IMPROPER_IDENTIFICATION, f"no {missing}: China Mobile's MMSC routes and bills by it"
        if not service:
            return RequestStatus.VALIDATION_ERROR, "no ServiceCode (业务代码): China Mobile's MMSC bills by it"
        if not self.config.strict:
            return None
        if not re.fullmatch(r"8\d{5}", vaspid):
            return (RequestStatus.IMPROPER_IDENTIFICATION,
                    f"VASPID {printable(vaspid)[:40]!r} is no enterprise code (企业代码: 6 digits, 8XY000-8XY999)")
        if not re.fullmatch(r"[1-9]\d{3}|0[1-9]\d{3}", vasid):
            return (RequestStatus.IMPROPER_IDENTIFICATION, f"VASID {printable(vasid)[:40]!r} is no service code "
                    "(服务代码: 4 digits 1000-9999, nationwide; 5 digits 01000-09999, local)")
        if not service.isdigit() or not service.strip("0"):
            return (RequestStatus.VALIDATION_ERROR,
                    f"ServiceCode {printable(service)[:40]!r} is no business code (业务代码: digits, not all 0)")
        sender = str(msg.sender_address) if msg.sender_address is not None else None
        if sender is not None and not sender.startswith(vasid):
            return (RequestStatus.IMPROPER_IDENTIFICATION, f"SenderAddress {printable(sender)[:40]!r} is neither the "
                    f"service code {vasid} nor one starting with it (+ business code + operation code)")
        return None

    def answer(self, env: Envelope, response: m.Message, scripted: bool = False) -> Response:
        """`scripted`: the response's StatusText is a carrier's own words (`fail_next(text=)`), kept
        whatever the dialect."""
        success = getattr(self._answering, "status", None)
        if success is not None and response.status.code == RequestStatus.SUCCESS:
            response.status = success
        elif not scripted:
            response.status = self._localized(response.status)
        out = self._reply(env, response)
        self._note(answered=response)
        return Response(200, [("Content-Type", out.content_type)], out.to_bytes())

    def _localized(self, status: m.Status) -> m.Status:
        """China Mobile's MMSC (the cmcc dialects) gives the StatusText its manual lists for the code
        (§5.1, in Chinese: 成功, 多媒体内容被拒绝...); what the simulator says about the request goes in
        Details. A code the manual does not list keeps its English text."""
        if self.config.dialect not in CHINA_MOBILE:
            return status
        info = lookup(status.code)
        if not info.zh_from_manual or status.text == info.text_zh:
            return status
        said = status.text if status.text not in (None, info.text) else None
        details = "; ".join(t for t in (said, status.details) if t) or None
        return m.Status(status.code, info.text_zh, details)

    def fault(self, env: Envelope | None, status: int | m.Status, text: str | None = None,
              said: tuple | None = None, scripted: bool = False) -> Response:
        """`status`: a code (with `text`), or a Status made already (a refusal's,
        `receiver.refusal_status`, with Details), whose code gives the faultcode (`status.fault_code`);
        `said`: for a request that could not be decoded, what its bytes named
        (`receiver.what_it_said`); `scripted`: `text` is a carrier's own words
        (`fail_next(text=)`), sent as the StatusText whatever the dialect."""
        status_obj = status if isinstance(status, m.Status) else fault_status(status, text)
        if not scripted:
            status_obj = self._localized(status_obj)
        if self._mbuni_quirks:
            # Mbuni's MMSC: every Fault SOAP-ENV:Server, "Server error", whatever the status (a 2xxx
            # too), and the code's own StatusText (what was wrong: in Details, before any it had).
            own = fault_status(status_obj.code)
            said_too = [status_obj.text if status_obj.text != own.text else None, status_obj.details]
            status_obj = fault_status(status_obj.code, own.text, "; ".join(t for t in said_too if t) or None)
            code, string = "Server", "Server error"
        else:
            code, string = fault_code(status_obj.code), status_obj.text
        self._note(status=status_obj)
        return self._soap_fault(env, Fault(code=code, string=string, detail=m.RSErrorRsp(status=status_obj)), said)

    def _soap_fault(self, env: Envelope | None, fault: Fault, said: tuple | None = None) -> Response:
        out = self._reply(env, fault, said)
        return Response(self.profile.fault_http_status, [("Content-Type", out.content_type)], out.to_bytes())

    def _reply(self, env: Envelope | None, body: m.Message | Fault, said: tuple | None = None):
        """In the caller's version and MM7Version, as an MMSC answers; a dialect that answers in its
        own version (Mbuni) uses the profile's."""
        version, tid, namespace, mm7_version = said or (None, None, None, None)
        tid = (env.transaction_id if env is not None else None) or tid or ""  # (none: echoed empty)
        if self._mbuni_quirks and not tid:
            tid = "none"  # (as Mbuni answers a request without a TransactionID, or one it could not read)
        if env is not None and env.version is not None:
            version = env.version
        # What an answer holds that its schema has no place for (Details in an extended response's
        # Status, which has its StatusCode alone: a cmcc dialect's words beside its Chinese text)
        # is left out with a warning, as an MMSC writes what its schema takes: not a 500 for it.
        profile = dropping_unsupported(self.profile)
        if self.profile.answer_in_own_version or version is None:
            # (The profile's size limit is on the messages it takes, not on its answers.)
            return encode(body, transaction_id=tid, version=self.profile.version,
                          profile=profile.replace(max_message_size=None))
        return encode_reply(body, env, version, tid, profile, namespace, mm7_version)

    # -- operations -----------------------------------------------------------------------------

    def _new_id(self) -> str:
        count, prefix = next(self._ids), self.config.message_id_prefix
        if prefix is None and self.config.dialect == "mbuni":
            # Mbuni's MMSC names a message after its queue file, at its host alias:
            # qf<time % 10000>.<count>.x<pid % 1000>.<random % 100>@<alias>. The run_id in place of its
            # time keeps the IDs unique across restarts, and the last field is the count's, not random.
            return f"qf{self.run_id}.{count}.x{os.getpid() % 1000}.{count % 100}@{self.config.relay_server_id}"
        return f"{'SIM' if prefix is None else prefix}{self.run_id}-{count:06d}"

    def _refuse(self, env: Envelope, status: int | m.Status, text: str | None = None) -> Response:
        """A Fault refusing a request the MMSC read and would serve but for what it asks (its
        recipients, content, a message it does not have), said in the log as the other refusals are."""
        said = text if text is not None else (status.details or status.text if isinstance(status, m.Status) else "")
        log.warning("refused: %s tid=%s: %d %s", env.message.ELEMENT if env.message is not None else "request",
                    printable(env.transaction_id), status.code if isinstance(status, m.Status) else status,
                    printable(said))
        return self.fault(env, status, text)

    def _submit(self, env: Envelope, msg: m.SubmitReq) -> Response:
        if not msg.recipients:
            return self._refuse(env, RequestStatus.ADDRESS_ERROR, "no recipients")
        bad = next((a for a in msg.recipients if not _well_formed(a)), None)
        if bad is not None:  # (whatever the mode: not a schema deviation, an address no MMSC can deliver to)
            return self._refuse(env, RequestStatus.ADDRESS_ERROR,
                                f"{bad.kind} {str(bad)[:100]!r} is no address")
        count = len(msg.recipients.to) + len(msg.recipients.cc) + len(msg.recipients.bcc)
        if self.config.max_recipients is not None and count > self.config.max_recipients:
            return self._refuse(env, RequestStatus.MULTIPLE_ADDRESSES_NOT_SUPPORTED,
                                f"{count} recipients, at most {self.config.max_recipients} per SubmitReq")
        if self.config.require_smil and not (msg.content is not None and any(
                media_kind(p.content_type) == "smil" for p in msg.content.all_parts())):
            return self._refuse(env, RequestStatus.MULTIMEDIA_CONTENT_REFUSED, "no SMIL presentation")
        with self._lock:
            known = not msg.linked_id or msg.linked_id in self.linked_ids or msg.linked_id in self._messages
        if not known:
            return self._refuse(env, RequestStatus.LINKED_ID_NOT_FOUND,
                                f"no message {msg.linked_id} to link to")
        refused = self._refused_recipients(msg)
        if refused is not None and refused[1]:  # every recipient refused
            code, said = refused[0], refused[2]
            return self._refuse(env, fault_status(code, None, said))
        mid = self._new_id()
        stored = StoredMessage(mid, env.transaction_id or "", msg, env.version, datetime.now(timezone.utc),
                               deviations=env.deviations,
                               recipients=None if refused is None else [str(a) for a in msg.recipients
                                                                        if str(a) not in refused[3]],
                               refused={} if refused is None else refused[3])
        stored.sender = self._sender_of(stored)  # (as configured now, as its fates: see _schedule_reports)
        with self._lock:
            self._keep(stored)
            self._schedule_reports(stored, msg)
        log.info("SubmitReq tid=%s → MessageID %s for %d recipient(s)%s", printable(env.transaction_id), mid,
                 len(stored.recipients or ()), f"; {printable(refused[2])}" if refused is not None else "")
        if (msg.delivery_report or msg.read_reply) and not self.config.vasp_url and not self._said_no_vasp:
            # (a first try, `simulate` beside `serve`, waited for reports that were never to come)
            self._said_no_vasp = True
            asked = " and ".join(what for what, on in (("delivery reports", msg.delivery_report),
                                                       ("read replies", msg.read_reply)) if on)
            log.warning("SubmitReq tid=%s asks for %s: none are sent, %s (simulate --vasp-url, "
                        "SimulatorConfig.vasp_url; said once)", printable(env.transaction_id), asked, NO_VASP_URL)
        if refused is not None:
            partial = _CMCC_PARTIAL_SUCCESS if self.config.dialect in CHINA_MOBILE else RequestStatus.PARTIAL_SUCCESS
            return self.answer(env, m.SubmitRsp(message_id=mid, status=fault_status(partial, None, refused[2])))
        return self.answer(env, m.SubmitRsp(message_id=mid))

    def _refused_recipients(self, msg: m.SubmitReq) -> tuple[int, bool, str, dict[str, int]] | None:
        """None when `refused_recipients` refuses none of `msg`'s; else (the first refused one's status,
        whether every recipient delivered to is refused, what is said of them, {recipient: status}).
        A displayOnly address, delivered to none, is refused none."""
        own = self.config.refused_recipients
        if not own:
            return None
        named = list(dict.fromkeys(str(a) for a in msg.recipients if not a.display_only))
        refused = {r: own[r] for r in named if r in own}
        if not refused:
            return None
        listed = [f"{printable(r)[:100]}: {code} {lookup(code).text}" for r, code in list(refused.items())[:10]]
        more = f" and {len(refused) - 10} more" if len(refused) > 10 else ""
        said = f"recipient(s) refused: {'; '.join(listed)}{more}"
        return next(iter(refused.values())), len(refused) == len(named), said, refused

    def _schedule_reports(self, stored: StoredMessage, msg) -> None:
        """Each recipient's delivery, `report_delay` from now (from `msg`'s EarliestDeliveryTime, when
        it names a later one), with the report if `msg` asked for one; then the read replies it
        asked for (under the lock: a ReplaceReq finds its plan made)."""
        now, earliest, expiry = time.monotonic(), getattr(msg, "earliest_delivery_time", None), \
            getattr(msg, "expiry_date", None)
        expires_in = _expiry_in(expiry)
        # (the statuses as configured now: a test changing them later changes the next submit's)
        stored._plan = _Plan(now + _seconds_until(earliest), None if expires_in is None else now + expires_in,
                             earliest, expiry, _Fates(dict(self.config.recipient_status), self.config.report_status),
                             bool(msg.delivery_report), bool(msg.read_reply))
        self._plan_deliveries(stored)

    def _plan_deliveries(self, stored: StoredMessage) -> None:
        """Schedule `stored`'s delivery and read replies as its plan says (under the lock)."""
        plan = stored._plan
        now, report_delay = time.monotonic(), self.config.report_delay
        delivered_at = max(now, plan.deliverable_at) + report_delay
        fate = plan.fates
        if (plan.expires_at is not None and plan.expires_at <= delivered_at) or _unzoned_before(
                plan.expiry, plan.earliest, report_delay):
            # Its ExpiryDate comes before it could reach anyone (a short one, one past — a time
            # written in another zone than meant —, one before its EarliestDeliveryTime): it
            # expires at the MMSC, reported so, as a VASP's expiry handling wants it tested.
            fate = _Fates({}, DeliveryStatus.EXPIRED.value)
            log.info("message %s expires before it is delivered: reported Expired", stored.message_id)
        recipients = stored._delivered_to()
        self.schedule_each(delivered_at - now, recipients, self._reached_as, stored.message_id, fate, plan.report,
                           plan.round)
        if plan.read:
            # Read once retrieved: never before the delivery report (same time: scheduled after it).
            read_at = max(now, plan.deliverable_at) + max(self.config.read_delay, report_delay)
            self.schedule_each(read_at - now, recipients, self._read_if_retrieved, stored.message_id, fate,
                               self.config.read_status, plan.round)

    def _unschedule(self, message_id: str) -> None:
        """Drop the deliveries and read replies of a message still to come from the schedule: it was
        cancelled, replaced or rescheduled (left there, wait_idle waited for them, for nothing).
        One under way when this comes stops at its next recipient (see _current)."""
        with self._wake:
            kept = [job for job in self._queue if not (
                job[2] == self._step and job[3][5] in (self._reached_as, self._read_if_retrieved)
                and job[3][6][0] == message_id)]
            if len(kept) != len(self._queue):
                self._queue[:] = kept
                heapq.heapify(self._queue)
                self._wake.notify_all()  # (wait_idle may be idle now)

    def _current(self, stored: StoredMessage, round_: int) -> bool:
        """Whether a scheduled job of `stored`'s plan in its `round_` is still to be done (under the lock)."""
        return stored._plan is None or stored._plan.round == round_

    def _reached_as(self, recipient: str, message_id: str, fate: _Fates, report: bool, round_: int) -> bool:
        return self._reached(message_id, recipient, fate(recipient), report, round_)

    def _read_if_retrieved(self, recipient: str, message_id: str, fate: _Fates, status: str, round_: int) -> bool:
        stored = self._lookup(message_id)
        with self._lock:
            if stored is None or not self._current(stored, round_):
                return False  # (forgotten, or rescheduled: no more of these)
            reached = stored._final.get(recipient, fate(recipient))  # (as reported, on demand too)
        if reached == "Retrieved" and self.config.vasp_url:
            self.send_read_reply(message_id, recipient, status, False)
        return True

    def _keep(self, stored: StoredMessage) -> None:
        """Keep a message taken, the oldest dropped beyond `max_messages` (under the lock)."""
        self._messages[stored.message_id] = stored
        while len(self._messages) > self.config.max_messages:
            del self._messages[next(iter(self._messages))]

    def _lookup(self, mid: str | None) -> StoredMessage | None:
        with self._lock:
            return self._messages.get(mid or "")

    def _not_theirs(self, env: Envelope, msg: m.Message, stored: StoredMessage) -> Response | None:
        """2001 (Operation restricted), as Mbuni's MMSC answers, for a request about a message another
        VASP submitted: both name a VASPID, and they differ."""
        theirs, asking = getattr(stored.request, "vaspid", None), getattr(msg, "vaspid", None)
        if theirs and asking and theirs != asking:
            return self._refuse(env, RequestStatus.OPERATION_RESTRICTED,
                              f"message {stored.message_id} is another VASP's")
        return None

    def _cancel(self, env: Envelope, msg) -> Response:
        mid = msg.message_id if isinstance(msg, m.CancelReq) else msg.cancel_id
        stored = self._lookup(mid)
        rsp_cls = m.CancelRsp if isinstance(msg, m.CancelReq) else m.ExtendedCancelRsp
        if stored is None:
            return self._refuse(env, RequestStatus.MESSAGE_ID_NOT_FOUND, f"no message {mid}")
        if (refused := self._not_theirs(env, msg, stored)) is not None:
            return refused
        # Check and set as one, under the lock the report worker takes: else a "Retrieved" report at
        # the same moment could deliver a message this answers 1000 for.
        with self._lock:
            state = stored.state
            if state == "accepted":
                stored.state = "cancelled"
                self._unschedule(mid)
        if state != "accepted":  # (un)delivered, or no longer there to cancel (cancelled, replaced)
            return self._too_late(env, mid, state) or self.answer(
                env, rsp_cls(status=m.Status(RequestStatus.NOT_POSSIBLE, f"already {state}")))
        return self.answer(env, rsp_cls())

    def _too_late(self, env: Envelope, mid: str, state: str) -> Response | None:
        """Mbuni's MMSC finds a message no longer queued (delivered, cancelled) nowhere: 2005, a Fault."""
        if not self._mbuni_quirks:
            return None
        return self._refuse(env, RequestStatus.MESSAGE_ID_NOT_FOUND, f"no message {mid} queued ({state})")

    def _replace(self, env: Envelope, msg: m.ReplaceReq) -> Response:
        stored = self._lookup(msg.message_id)
        if stored is None:
            return self._refuse(env, RequestStatus.MESSAGE_ID_NOT_FOUND, f"no message {msg.message_id}")
        if (refused := self._not_theirs(env, msg, stored)) is not None:
            return refused
        changes = _replacing(msg, stored.request)
        with self._lock:  # (as in _cancel: no report may deliver it in between)
            state = stored.state
            if state == "accepted" and changes:
                # (a copy: the SubmitReq itself is `received`'s record of the request as it came,
                # which a ReplaceReq after it changed)
                stored.request = replace(stored.request, **changes)
                plan = stored._plan
                if plan is not None and ("earliest_delivery_time" in changes or "read_reply" in changes):
                    # Delivered from its new EarliestDeliveryTime (its ExpiryDate, the submit's, counted
                    # from the submit), the read replies as it now asks: the old schedule dropped.
                    if "earliest_delivery_time" in changes:
                        plan.earliest = changes["earliest_delivery_time"]
                        plan.deliverable_at = time.monotonic() + _seconds_until(plan.earliest)
                    plan.read = bool(stored.request.read_reply)
                    plan.round += 1
                    self._unschedule(stored.message_id)
                    self._plan_deliveries(stored)
        if state != "accepted":
            return self._too_late(env, msg.message_id, state) or self.answer(
                env, m.ReplaceRsp(status=m.Status(RequestStatus.NOT_POSSIBLE, f"message {state}")))
        return self.answer(env, m.ReplaceRsp())

    def _extended_replace(self, env: Envelope, msg: m.ExtendedReplaceReq) -> Response:
        old = self._lookup(msg.replace_id)
        if old is None:
            return self._refuse(env, RequestStatus.MESSAGE_ID_NOT_FOUND, f"no message {msg.replace_id}")
        if (refused := self._not_theirs(env, msg, old)) is not None:
            return refused
        with self._lock:  # (checked and set as one, as in _cancel)
            state = old.state
            if state == "accepted":
                old.state = "replaced"
                self._unschedule(old.message_id)
        if state != "accepted":  # delivered (or undelivered): too late; cancelled or replaced: not there.
            # 3001, as a ReplaceReq gets; the response must name a message, and no new one was made:
            # the one it is about. (Its Status is a code alone: the text stays in the log.)
            log.info("extendedReplaceReq tid=%s: message %s %s, not replaced", printable(env.transaction_id),
                     printable(msg.replace_id), state)
            return self.answer(env, m.ExtendedReplaceRsp(message_id=msg.replace_id,
                                                         status=m.Status(RequestStatus.NOT_POSSIBLE)))
        mid = self._new_id()
        # The new message goes to the old one's recipients; its reports, under the new MessageID, are
        # all the VASP hears from now on (the replaced message is never delivered).
        stored = StoredMessage(mid, env.transaction_id or "", msg, env.version, datetime.now(timezone.utc),
                               deviations=env.deviations, recipients=list(old.recipients or []),
                               addresses=list(old.addresses or []), sender=self._sender_of(old))
        with self._lock:
            self._keep(stored)
            self._schedule_reports(stored, msg)
        return self.answer(env, m.ExtendedReplaceRsp(message_id=mid))

    # -- outgoing -------------------------------------------------------------------------------

    def client(self, version: versions.Version | None = None):
        """The client for what goes to the VASP; `version`: in that schema version (the standard
        dialect answers a submit's reports in the version it came in, as an MMSC configured for
        each VASP does; the carriers' dialects speak their own)."""
        from .client import Client  # noqa: PLC0415

        profile = self.profile
        if version is not None and self.config.dialect == "standard" and version.name != profile.version:
            profile = profile.replace(version=version.name, mm7_version=None)
        if self.config.dialect in CHINA_MOBILE:
            # What China Mobile's MMSC sends, not its SDK's habits (a VASP's): as captured, or
            # without quirks, valid and in the usual layout.
            profile = CMCC_MMSC if self.config.quirks else CMCC
        if any(name.lower() == "mm7apiversion" for name, _ in profile.extra_headers):
            # The version of China Mobile's SDK, which a VASP sends: an MMSC sends none of it.
            profile = profile.replace(extra_headers=tuple(
                (name, value) for name, value in profile.extra_headers if name.lower() != "mm7apiversion"))
        cfg = self.config
        # The VASP as configured now: a test may point a running simulator at another receiver,
        # or give it other credentials, between two reports (a client made before kept the old ones).
        vasp = (cfg.vasp_url, cfg.vasp_username, cfg.vasp_password, cfg.vasp_verify, cfg.vasp_cert, cfg.quirks,
                cfg.vasp_timeout)
        with self._clients_lock:
            key = (cfg.dialect, profile.version, *vasp)  # (the dialects' quirks differ, not only versions)
            if key not in self._clients:
                self._need_vasp()
                for old in [k for k in self._clients if k[2:] != vasp]:  # (that VASP is no longer ours)
                    self._clients.pop(old).close()
                self._clients[key] = Client(
                    cfg.vasp_url, role="mmsc", profile=profile,
                    username=cfg.vasp_username, password=cfg.vasp_password,
                    auth="auto",  # Basic, or Digest when the VASP asks for it
                    verify=cfg.vasp_verify, cert=cfg.vasp_cert,
                    retry=RetryPolicy.never(),  # (sent again from the schedule: see _send)
                    connect_timeout=min(5, cfg.vasp_timeout), read_timeout=cfg.vasp_timeout)
                self._clients[key].core.setting_names = _SETTINGS  # (the simulator's, not a Client's)
                self._clients[key].core.failures_said_by_caller = True  # (in _send, with the next attempt)
            return self._clients[key]

    def _need_vasp(self) -> None:
        """A RuntimeError when there is no VASP to send to: checked before a report, read reply or
        MO asked for changes anything (a message made "delivered", a LinkedID given out)."""
        if not self.config.vasp_url:
            raise RuntimeError(f"{NO_VASP_URL} (simulate --vasp-url, SimulatorConfig(vasp_url=...), or "
                               "on a running simulator, the mm7_simulator fixture's: config.vasp_url = ...)")

    def _sender_of(self, stored: StoredMessage) -> m.Address:
        """The sender a message's reports and read replies name, as its recipients saw it: its
        SenderAddress; without one, the VASP's short code, as an MMSC has it provisioned: the
        request's VASID, else `vasp_short_code` (a made-up "0" went, which no handset shows); in the
        mbuni dialect `vasp_short_code` always."""
        if stored.sender is not None:
            return stored.sender
        req, cfg = stored.request, self.config
        named = getattr(req, "sender_address", None)
        if named:
            return named
        if cfg.dialect == "mbuni":
            # Mbuni's MMSC gives a submit without SenderAddress its VASP's first provisioned short
            # code as sender, whatever VASID it names, and writes one of more than 6 digits as a Number.
            code = cfg.vasp_short_code.strip()
            return m.Number(code) if self._mbuni_quirks and len(code) > 6 else m.ShortCode(code)
        return m.ShortCode(getattr(req, "vasid", None) or cfg.vasp_short_code)

    def _reached(self, message_id: str, recipient: str, status: str, report: bool, round_: int | None = None) -> bool:
        """The message's fate at `recipient`, as scheduled (in its plan's `round_`): retrieved (so no
        longer cancellable) whether or not a report was asked for and a VASP URL given; the report
        when one was. → False when it is no longer to be delivered (forgotten, rescheduled)."""
        stored = self._lookup(message_id)
        if stored is None:  # forgotten meanwhile (reset, or beyond max_messages): nothing to deliver
            return False
        if report and self.config.vasp_url:
            return self._report(stored, recipient, status, wait=False, round_=round_).get("skipped") != "rescheduled"
        return self._settle(stored, status, round_, recipient) != "rescheduled"

    def _settle(self, stored: StoredMessage, status: str, round_: int | None = None,
                recipient: str | None = None) -> str:
        """A delivery status reached (at `recipient`): Retrieved (or Forwarded) makes an accepted
        message delivered, another final one (Expired, Rejected...) undelivered; Deferred and
        Indeterminate leave it pending. → the state before; nothing changed for a scheduled one
        (`round_`) when it is not the plan's now ("rescheduled": a ReplaceReq came as it was due) or
        the recipient's final status was reported already, on demand ("reported")."""
        ended = _ENDS.get(status)
        with self._lock:  # check and set as one (see _cancel)
            if round_ is not None and not self._current(stored, round_):
                return "rescheduled"
            if round_ is not None and recipient in stored._final:
                return "reported"
            state = stored.state
            # (delivered to one recipient, it stays delivered whatever became of another)
            if state not in ("cancelled", "replaced", "delivered") and ended is not None:
                stored.state = ended
            if ended is not None and recipient is not None and state not in ("cancelled", "replaced"):
                stored._final[recipient] = status
        return state

    def send_report(self, message_id: str, recipient: str, status: str = "Retrieved", wait: bool = True) -> dict:
        """A delivery report now; `wait`: its repeats too, then the last outcome (else they are scheduled)."""
        stored = self._lookup(message_id)
        if stored is None:
            raise NotKept(message_id, "no message {!r}")
        return self._report(stored, recipient, status, wait)

    def _report(self, stored: StoredMessage, recipient: str, status: str, wait: bool,
                round_: int | None = None) -> dict:
        if not stored._reaches(recipient):  # (an MMSC reports on whom it delivered to, none else)
            raise ValueError(stored._not_reached(recipient))
        self._need_vasp()
        message_id = stored.message_id
        state = self._settle(stored, status, round_, recipient)
        if state in ("cancelled", "replaced", "rescheduled", "reported"):
            return {"skipped": state}
        msg = m.DeliveryReportReq(
            relay_server_id=self.config.relay_server_id, message_id=message_id, recipient=stored._address(recipient),
            sender=self._sender_of(stored), date=datetime.now(timezone.utc), mm_status=DeliveryStatus(status),
            status_text=status,
        )
        return self._send(stored, msg, wait=wait)

    def send_read_reply(self, message_id: str, recipient: str, status: str = "Read", wait: bool = True) -> dict:
        """A read reply now, as the recipient's handset sends one; `wait`: its repeats too, then the last
        outcome. Nothing for a message cancelled, replaced or no longer kept (`{"skipped": state}`); a
        recipient the message was not delivered to is a ValueError, as in `send_report`."""
        stored = self._lookup(message_id)
        with self._lock:
            state = "unknown" if stored is None else stored.state
        if state in ("unknown", "cancelled", "replaced"):
            return {"skipped": state}
        if not stored._reaches(recipient):  # (only one who got it can have read it)
            raise ValueError(stored._not_reached(recipient))
        self._need_vasp()
        msg = m.ReadReplyReq(
            relay_server_id=self.config.relay_server_id, message_id=message_id, recipient=stored._address(recipient),
            sender=self._sender_of(stored), time_stamp=datetime.now(timezone.utc), mm_status=ReadStatus(status),
        )
        return self._send(stored, msg, wait=wait)

    def _send(self, stored: StoredMessage | None, msg: m.Message, attempt: int = 1,
              transaction_id: str | None = None, linked_id: str | None = None, wait: bool = False,
              version: versions.Version | None = None) -> dict:
        """One attempt; one the VASP did not take is sent again: after a sleep with `wait` (sent on
        demand: the caller wants the outcome), else from the schedule (the other reports go on
        meanwhile). The last attempt's outcome is kept: in `stored.reports`, or for an MO in `mo_sent`."""
        from .client import new_transaction_id  # noqa: PLC0415

        tid = transaction_id or new_transaction_id()
        with self._lock:  # (for resend: the latest max_messages)
            self._sent.pop(tid, None)
            self._sent[tid] = (stored, msg, linked_id, version)
            while len(self._sent) > self.config.max_messages:
                del self._sent[next(iter(self._sent))]
        outcome: dict[str, Any] = {"operation": msg.ELEMENT, "message_id": getattr(msg, "message_id", None),
                                   "transaction_id": tid, "attempts": attempt}
        if getattr(msg, "recipient", None) is not None:  # (a report's, a read reply's: whom it is about)
            outcome["recipient"] = str(msg.recipient)
        if linked_id is not None:
            outcome["linked_id"] = linked_id
        failed = None  # how this attempt failed, said once below with what comes next
        try:
            # (a report in its submit's version; an MO in the one asked, else the dialect's)
            result = self.client(stored.version if stored is not None else version).send(msg, transaction_id=tid)
            outcome["status"] = result.status.code
            again = _RETRY.retries_status(result.status.code)
        except SendError as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, FaultError) and exc.status is not None:
                outcome["status"] = exc.status.code
            again = _worth_sending_again(exc)
            failed = f"to {shown_url(self.config.vasp_url)} failed"
        except EncodeError as exc:
            # What the VASP's version cannot carry (report_status Deferred, a Rel-6 value, about a
            # Rel-5 submit, or from the mbuni dialect): said where the test looks, not a traceback in
            # the log and a report that never comes.
            outcome["error"] = f"{type(exc).__name__}: {exc}"
            again = False
            failed = "not sent"
        again = again and attempt < self.config.report_attempts
        pause = self.config.report_retry_delay * 2 ** (attempt - 1)
        if failed is not None:
            # (one line: the client's own for this attempt is at DEBUG, see client())
            about = f" recipient={outcome['recipient']}" if "recipient" in outcome else ""
            nxt = f"again in {pause:g} s" if again else "given up"
            log.warning("%s tid=%s%s %s (attempt %d of %d, %s): %s", msg.ELEMENT, tid, printable(about),
                        failed, attempt, self.config.report_attempts, nxt, printable(outcome["error"]))
        if again:
            if wait:
                time.sleep(pause)
                return self._send(stored, msg, attempt + 1, tid, linked_id, wait=True, version=version)
            self.schedule(pause, self._send, stored, msg, attempt + 1, tid, linked_id, False, version)
            return {**outcome, "again_in": pause}
        with self._lock:  # (the report worker, on-demand sends and /control/messages meet here)
            if stored is not None:
                stored.reports.append(outcome)
            elif msg.ELEMENT == "DeliverReq":
                self.mo_sent.append(outcome)
                del self.mo_sent[:-self.config.max_messages]
        return outcome

    def resend(self, transaction_id: str) -> dict:
        """Send a report, read reply or MO again as it went the first time, the same TransactionID and
        message (an MO's MIME boundaries made anew), as an MMSC does that never got (or could not read)
        the VASP's answer: for a test of a
        VASP's handling of repeats. → the outcome, as the first send's; a TransactionID not sent (or
        beyond the latest max_messages) is a KeyError."""
        with self._lock:
            if transaction_id not in self._sent:
                raise NotKept(transaction_id, "no report, read reply or MO went out with TransactionID {!r}")
            stored, msg, linked_id, version = self._sent[transaction_id]
        return self._send(stored, msg, transaction_id=transaction_id, linked_id=linked_id, wait=True, version=version)

    def deliver(self, sender: str, recipients: list[str] | str, subject: str | None = None, text: str | None = None,
                parts: list[Part] | None = None, linked_id: str | None = None,
                priority: m.Priority | str | None = None, version: str | None = None) -> dict:
        """Send a mobile-originated message (DeliverReq) to the VASP now, with its repeats if the VASP
        does not take it (`report_attempts`); → the last attempt's outcome. `priority`: none by
        default, but in China Mobile's dialects Normal (see _MO_PRIORITY). `version`: the schema
        version it goes in ("REL-5-MM7-1-2"), for a VASP speaking another than the standard
        dialect's REL-6-MM7-1-4 (the carriers' dialects speak their own: a ValueError there).
        `linked_id`: None for one made up; a blank one is a ValueError (an empty LinkedID went out,
        which no reply could cite), as is a blank sender (it went out as an empty address, refused
        by the encoder after a LinkedID was given out for it)."""
        if isinstance(linked_id, str) and not linked_id.strip():
            raise ValueError(f"linked_id {linked_id!r} is blank: leave it out (null) for one made up, or give one")
        if isinstance(sender, str) and not sender.strip():
            raise ValueError(f"the sender (from) {sender!r} is blank: give the subscriber's address")
        schema = None
        if version is not None:
            try:
                schema = versions.get(version)
            except KeyError as exc:  # (a ValueError, as a wrong priority: not sent; /control/deliver's 400)
                raise ValueError(exc.args[0]) from None
            if self.config.dialect != "standard":
                raise ValueError(f"the {self.config.dialect} dialect sends its MO in its own version, "
                                 f"not {version!r}: a version is chosen in the standard dialect alone")
        if priority is None:
            priority = _MO_PRIORITY.get(self.config.dialect)
        priority = m.Priority(priority) if priority is not None else None  # (a wrong one: ValueError, not sent)
        content = Content(parts=list(parts or []))
        if text is not None:
            content.parts.insert(0, Part.text(text, charset="utf-8"))
        self._need_vasp()
        if linked_id is None:  # every MO gets one, so that the VASP's answer can cite it
            linked_id = f"LNK{self.run_id}-{next(self._linked):06d}"
        with self._lock:
            self.linked_ids[linked_id] = None
            while len(self.linked_ids) > self.config.max_messages:
                del self.linked_ids[next(iter(self.linked_ids))]
        # Addresses read as `send` reads them: "ShortCode:1065888" is a ShortCode (it went out as a
        # Number "ShortCode:1065888", which the VASP took for a handset's)
        if isinstance(recipients, (str, m.Address)):
            recipients = [recipients]
        to = [a if isinstance(a, m.Address) else m.written_address(a) for a in recipients]
        if isinstance(sender, str):
            sender = m.written_address(sender, recipient=False)
        msg = m.DeliverReq(
            relay_server_id=self.config.relay_server_id, sender=m.Address.parse(sender),
            recipients=m.Recipients(to=to), subject=subject, linked_id=linked_id,
            time_stamp=datetime.now(timezone.utc), priority=priority, content=content if content.parts else None,
        )
        return self._send(None, msg, linked_id=linked_id, wait=True, version=schema)

    # -- the schedule ---------------------------------------------------------------------------

    def schedule(self, delay: float, fn: Callable, *args: Any) -> None:
        self._push(time.monotonic() + delay, next(self._seq), fn, args)

    def schedule_each(self, delay: float, items: list, fn: Callable, *args: Any) -> None:
        """`fn(item, *args)` for each of `items` in turn, `delay` from now, in one place in the schedule
        (a SubmitReq to 100,000 recipients held 200,000, 50 MB): it moves along them, taking its turn
        among the other jobs due at that time as one job each would."""
        if items:
            due, seq = time.monotonic() + delay, next(self._seq)
            self._push(due, seq, self._step, (due, seq, items, 0, self._reset_count, fn, args))

    def _step(self, due: float, seq: int, items: list, index: int, resets: int, fn: Callable, args: tuple) -> None:
        more = True
        try:
            more = fn(items[index], *args) is not False  # (False: the rest are no longer to be done)
        except Exception:  # (a failed one must not stop the rest, as a failed job stops no other)
            log.exception("scheduled %s failed for %s", getattr(fn, "__name__", fn), printable(str(items[index])))
        finally:
            with self._wake:
                # (kept first among the jobs due with it, as the next of its own would be; not after
                # a reset, which forgets what was scheduled)
                if more and index + 1 < len(items) and resets == self._reset_count:
                    heapq.heappush(self._queue, (due, seq, self._step, (due, seq, items, index + 1, resets, fn, args)))

    def _push(self, due: float, seq: int, fn: Callable, args: tuple) -> None:
        with self._wake:
            heapq.heappush(self._queue, (due, seq, fn, args))
            self._wake.notify_all()  # (wait_idle waits on it too: notify() could wake it, not the worker)

    def _run_queue(self) -> None:
        mine = threading.current_thread()
        while True:
            with self._wake:
                while not self._stopping and self._worker is mine and (
                        not self._queue or self._queue[0][0] > time.monotonic()):
                    timeout = (self._queue[0][0] - time.monotonic()) if self._queue else None
                    # (at most an hour at a time: a wait beyond what the platform's clock can count
                    # raised OverflowError, and the worker ended: nothing more was ever sent)
                    self._wake.wait(None if timeout is None else min(timeout, 3600.0))
                if self._stopping or self._worker is not mine:
                    return
                _, _, fn, args = heapq.heappop(self._queue)
                self._running += 1
            try:
                # (delivered even with no VASP to tell; a step's own job says whether it needs one)
                if self.config.vasp_url or fn == self._reached or fn == self._step:
                    fn(*args)
            except Exception:  # noqa: BLE001 (a failed report must not stop the schedule)
                log.exception("scheduled %s failed", getattr(fn, "__name__", fn))
            finally:
                with self._wake:
                    self._running -= 1
                    self._wake.notify_all()

    def wait_idle(self, timeout: float | None = 10.0) -> bool | Busy:
        """Wait until every scheduled report has gone out and been answered (for tests and the demo):
        nothing scheduled, nothing on its way (a report waiting for the VASP's answer is busy).
        → True (`timeout` None: no limit); when `timeout` came first, a false `Busy` saying what was left (`assert
        sim.wait_idle()` fails showing it, where a bare False said nothing)."""
        with self._wake:
            if self._wake.wait_for(lambda: not self._queue and not self._running, wait_limit(timeout)):
                return True
            now = time.monotonic()
            left = sum(len(args[2]) - args[3] if fn == self._step else 1 for _, _, fn, args in self._queue)
            next_in = max(0.0, min(due for due, *_ in self._queue) - now) if self._queue else None
            return Busy(timeout, left, next_in, self._running, self.server is not None and not self._stopping,
                        held_loop_hint("simulator.wait_idle") if timeout else "")

    def not_taken(self) -> list[dict]:
        """The reports, read replies and MO whose last attempt the VASP did not take — refused (an
        error status, a Fault, an HTTP error), not reached, or not sendable: their outcomes, as in each
        message's `reports` and in `mo_sent`, in the order of the messages, MO last."""
        with self._lock:
            outcomes = [*(o for s in self._messages.values() for o in s.reports), *self.mo_sent]
        return [o for o in outcomes if "error" in o or not is_success(o.get("status", 0))]

    def assert_all_taken(self, timeout: float | None = 10.0, *, wait: bool = True) -> None:
        """An AssertionError listing each report, read reply or MO the VASP did not take (`not_taken`),
        by TransactionID, recipient and what the VASP answered. Waits first, up to `timeout` seconds
        (None: no limit, as every wait of the simulator's and the receiver's fixture), for those
        scheduled or on their way (`wait_idle`), and fails if they did not all go in time: a test
        calling it right after a submit is not passed before its reports were sent. `wait=False`:
        looks at those sent so far, waiting for none."""
        if wait:
            idle = self.wait_idle(timeout)
            if not idle:
                raise AssertionError(f"reports or MO still to go: {idle} (a longer timeout, None for no limit, or "
                                     "wait=False to look only at those sent so far)")
        left = self.not_taken()
        if left:
            raise AssertionError(not_taken_said(left, "a test meaning it to refuse them does not call "
                                                       "assert_all_taken"))

    def _settled(self, within: float, timeout: float) -> bool:
        """Wait until nothing is on its way and nothing is due in the next `within` seconds (what
        is due later is not waited for: a test with a long report_delay) → False when `timeout`
        came first. For the fixture's check at a test's end (assert_all_taken=True)."""
        def settled() -> bool:
            if self._stopping or self.server is None:  # (stopped: nothing more will go)
                return not self._running
            return not self._running and (not self._queue or self._queue[0][0] > time.monotonic() + within)

        with self._wake:
            return self._wake.wait_for(settled, timeout)

    # -- control --------------------------------------------------------------------------------

    def control(self, method: str, route: str, body: bytes, can_drop: bool = True) -> tuple[int, Any]:
        """A control request → (HTTP status, the JSON answer); a 405's Allow is CONTROL_METHODS[route].
        `can_drop`: the server can close a connection without an answer (drop="before-answer")."""
        if route not in CONTROL_METHODS:
            return 404, {"error": f"no control action {route!r} ({', '.join(CONTROL_METHODS)})"}
        if method not in CONTROL_METHODS[route]:
            return 405, {"error": f"{route} takes {' or '.join(CONTROL_METHODS[route])}"}
        if route == "messages":
            with self._lock:
                return 200, [s.summary() for s in self._messages.values()]
        if route == "received":
            with self._lock:
                kept = list(self._received)
            # (summed up outside the lock: a record never changes once kept, and each compressed body's
            # head is inflated, which a list of thousands should not hold every request up for)
            return 200, [r.summary() for r in kept]
        if route == "health":
            with self._lock:
                count = len(self._messages)
            return 200, {"ok": True, "dialect": self.config.dialect, "messages": count}
        try:
            args = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # (RecursionError: [[[[... nested past the parser's depth)
            return 400, {"error": "the body must be JSON"}
        if not isinstance(args, dict):
            return 400, {"error": "the body must be a JSON object"}
        known = CONTROL_FIELDS[route]
        unknown = unknown_fields(args, known)
        if unknown:  # (a misspelt one would be left out: an MO without its text, a trouble that does nothing)
            return 400, {"error": unknown}
        not_text = [k for k in known if route != "fail" and k != "to" and args.get(k) is not None
                    and not isinstance(args[k], str)]  # (deliver's and report's are all text but "to")
        if not_text:
            return 400, {"error": f"{not_text[0]} must be a string"}
        to = args.get("to")
        if route == "deliver" and to is not None and not isinstance(to, str) and not (
                isinstance(to, list) and all(isinstance(a, str) for a in to)):
            # (a number in the list was a 500, the server's error page; a dict was read by its keys)
            return 400, {"error": "to must be a string or a list of strings (the recipients)"}
        if route == "deliver" and to is not None and not (to.strip() if isinstance(to, str) else to):
            # (it went to the default as if left out, where a blank "from" is refused)
            return 400, {"error": f"to {to!r} is blank: name the recipients, or leave it out for the VASP's "
                                  "short code"}
        if route == "reset":
            self.reset()
            return 200, {"ok": True}
        args = {k: v for k, v in args.items() if v is not None}  # (null: left out, the default taken)
        try:
            if route == "deliver":
                # (no "to": the VASP's short code as provisioned, not one of its own)
                return 200, self.deliver(args["from"], to or [self.config.vasp_short_code], args.get("subject"),
                                         args.get("text"), linked_id=args.get("linked_id"),
                                         priority=args.get("priority"), version=args.get("version"))
            if route == "report":
                return 200, self.send_report(args["message_id"], args["recipient"], args.get("status", "Retrieved"))
            if route == "resend":
                return 200, self.resend(args["transaction_id"])
            if route == "read":
                if self._lookup(args["message_id"]) is None:
                    raise KeyError(args["message_id"])
                return 200, self.send_read_reply(args["message_id"], args["recipient"], args.get("status", "Read"))
            if route == "fail":
                count = args.get("count", 1)
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    return 400, {"error": f"count {count!r} is not a whole number, 0 or more"}
                if args.get("drop") == "before-answer" and not can_drop:
                    return 400, {"error": _CANNOT_DROP}
                queued = self.fail_next(count, **{k: args[k] for k in TROUBLE_FIELDS[1:] if k in args})
                return 200, {"queued": queued}
        except KeyError as exc:
            key = exc.args[0] if exc.args else None
            if key in known and key not in args:
                return 400, {"error": f"missing {key}"}
            if route == "resend":
                return 400, {"error": f"no report, read reply or MO went out with TransactionID {key!r} "
                                      "(or it is older than the latest max_messages)"}
            return 400, {"error": f"no message {key!r} (or it is older than the latest max_messages)"}
        except (RuntimeError, ValueError, TypeError) as exc:
            return 400, {"error": str(exc)}
        return 404, {"error": f"no control action {route!r}"}
