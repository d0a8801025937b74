"""Configuration: one TOML file, overridable by MM7BIND_<SECTION>_<KEY> environment variables.

`load(path)` returns a `Config` and the problems found (errors refuse to start; warnings do not).
`mm7bind config check FILE` prints them. The same `Config` builds the client, the receiver, the
store and the logging, so the command, the library and the China Mobile layer agree.
"""

from __future__ import annotations

import errno
import logging
import logging.handlers
import math
import os
import re
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import versions
from .auth import QOPS, bearer_token_problem
from .deadline import MAX_TIMEOUT
from .display import repr_showing_no_secret_header
from .hints import did_you_mean, refused_choice
from .profiles import DIALECTS, Profile

ENV_PREFIX = "MM7BIND_"
SECRET_SETTINGS = {"password", "forward_secret", "token"}  # never quoted in a problem
# The passwords of `simulate` and `probe`, which read no configuration: each its option's (--password,
# --vasp-password) when neither the option nor its -file is given (named by the command's `_add_password`).
COMMAND_PASSWORDS = {"MM7BIND_SIMULATE_PASSWORD", "MM7BIND_SIMULATE_VASP_PASSWORD", "MM7BIND_PROBE_PASSWORD"}
# Not settings: those, and the test suite's variable (where the reference captures are).
NOT_SETTINGS = {"MM7BIND_SAMPLES", *COMMAND_PASSWORDS}
SIMULATOR_URL = "http://127.0.0.1:9090/mm7"  # `mm7bind simulate`'s: where requests go when no MMSC is configured


@dataclass
class MmscSection:
    urls: list[str] = field(default_factory=lambda: [SIMULATOR_URL])
    username: str = ""
    password: str = field(default="", repr=False)  # (reprs of a configuration are logged and shown)
    auth: str = "basic"  # basic | digest | auto (Basic, then Digest when challenged: China Mobile's SDK)
    digest_qop: str = ""  # auth | auth-int: the one to answer with when an MMSC offers both; "" = auth
    dialect: str = "standard"  # standard | cmcc | cmcc-sdk | mbuni
    version: str = ""  # schema version to send; empty: the dialect's
    mm7_version: str = ""
    # The MM7 namespace spelt as the MMSC wants it ("…/REL-5-MM7-1-2/"); empty: the version's own
    namespace: str = ""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    upload_timeout: float = 120.0  # a request's whole upload, each time it goes out
    # ... or as long as a large request takes at this many bytes a second, if longer; 0: upload_timeout alone
    upload_min_rate: float = 16384.0
    pool_size: int = 10
    idle_timeout: float = 50.0  # seconds a kept connection may idle before it is dialled again; 0: no limit
    verify: bool = True
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    proxy: str = field(default="", repr=False)  # an HTTP(S) proxy to the MMSCs; the environment's is never used
    max_attempts: int = 3
    backoff: float = 0.5
    retry_on_timeout: bool = True  # false: a request that got no answer (it may have arrived) is not sent again
    # RetryPolicy's lists (NUMBER_LISTS): MM7 status codes sent again besides 3xxx but 3001, 3003, 3004;
    # those never sent again; HTTP statuses without an MM7 answer sent again. Then the most seconds
    # an MMSC's Retry-After is waited.
    retry_codes: list[int] = field(default_factory=lambda: [4006])
    no_retry_codes: list[int] = field(default_factory=list)
    http_statuses: list[int] = field(default_factory=lambda: [429, 500, 502, 503, 504])
    max_retry_after: float = 300.0
    # true: an answer with another TransactionID than the request's is taken (an MMSC writing its own)
    accept_transaction_id_mismatch: bool = False
    rate_limit: float = 0.0  # messages per second per MMSC; 0: unlimited
    round_robin: bool = False
    max_message_size: int = 0  # bytes; 0: the dialect's
    max_parts: int = 0  # MIME parts of a message, more refused before sending; 0: the dialect's (256)
    charset: str = ""  # the XML's encoding; empty: the dialect's (UTF-8, GB2312 for cmcc)
    keep_alive: bool = True  # false: "Connection: close" on every request
    headers: dict[str, str] = field(default_factory=dict)

    __repr__ = repr_showing_no_secret_header  # (a carrier's token header among `headers`)


@dataclass
class VaspSection:
    vaspid: str = ""
    vasid: str = ""
    service_code: str = ""
    sender_address: str = ""
    # The country of numbers written nationally ("86"): a campaign's "13800138000" and
    # "+8613800138000" are one recipient (sent to as written); "": only spellings of one form are
    country_code: str = ""


@dataclass
class ReceiverSection:
    host: str = "127.0.0.1"
    port: int = 8080
    path: str = "/mm7"  # "*": any path, as China Mobile's MM7Receiver answered every request URI
    threads: int = 4
    auth: str = "none"  # none | basic | digest
    digest_qop: str = "auth"  # what a Digest challenge offers: auth | auth-int | "auth,auth-int"
    # MD5, SHA-256, SHA-512-256, or one of them -sess; several in the order of preference ("SHA-256, MD5"):
    # a challenge for each, so that clients speaking only MD5 are still let in
    digest_algorithm: str = "MD5"
    digest_userhash: bool = False  # the challenge asks clients to send the username hashed (RFC 7616)
    username: str = ""
    password: str = field(default="", repr=False)
    # Wrong credentials from one address this many times within auth_cooldown seconds: its requests
    # are answered 429, unchecked, for auth_cooldown seconds; 0: no limit
    auth_failures: int = 10
    auth_cooldown: float = 60.0
    allow: list[str] = field(default_factory=list)
    # A reverse proxy's address (or "*"): its X-Forwarded-For names the peer, which allow checks
    trusted_proxy: str = ""
    max_body: int = 20 * 1024 * 1024
    strict: bool = False
    out_dir: str = "received"
    tls_cert: str = ""
    tls_key: str = ""
    # A CA file (or folder of them): serving TLS, every client must present a certificate it signed
    tls_client_ca: str = ""
    backlog: int = 1024  # listen queue length
    connection_limit: int = 100  # open connections at once (more wait in the backlog)
    keep_alive: bool = True  # false: each connection is closed once its answer is out ("Connection: close")
    request_timeout: float = 300  # seconds for a whole request to arrive (a peer trickling it is cut off)
    store_wait: float = 5.0  # seconds a request waits for a store locked elsewhere before its 3000 answer
    # serve hands the messages a killed run of this host left "processing" to the handler as it starts
    replay_at_start: bool = True
    metrics_path: str = ""  # e.g. "/metrics": Prometheus text there (allow-list applies); "" = none
    # a folder the processes of one service share: each writes its counts there, every scrape sums them
    # (and a restarted serve goes on from its last counts); "" = each process's own, from 0
    metrics_dir: str = ""
    health_path: str = ""  # e.g. "/health": 200 while the store answers, else 503 (for load balancers)
    forward_url: str = ""  # post every request as JSON to this URL (your application) instead of saving it
    forward_secret: str = field(default="", repr=False)  # signs forwarded bodies (X-MM7bind-Signature: sha256=HMAC)
    forward_timeout: float = 10.0

    __repr__ = repr_showing_no_secret_header  # (forward_url may hold a password: http://app:pw@host/mm7)


@dataclass
class ApiSection:
    path: str = ""  # e.g. "/api": POST /api/send and /api/cancel as JSON on the serve port; "" = off
    token: str = field(default="", repr=False)  # required as "Authorization: Bearer <token>" when set
    allow: list[str] = field(default_factory=list)  # the applications' addresses; empty = any
    max_recipients: int = 1000  # to, cc and bcc of one /send together; more is refused (400)
    max_parts: int = 100  # parts of one /send; more is refused (400)
    # A wrong token from one address this many times within auth_cooldown seconds: its requests are
    # answered 429, unchecked, for auth_cooldown seconds; 0: no limit
    auth_failures: int = 10
    auth_cooldown: float = 60.0


@dataclass
class OutboxSection:
    enabled: bool = False  # serve sends what is queued (the send API's "queue": true, `mm7bind send --queue`)
    max_age_hours: float = 24  # a queued message no MMSC took by then (after it became due) expires
    concurrency: int = 1  # requests in flight at once (as send --concurrency: 1 to 10000); rate_limit holds across them
    # after this many sends in a row the MMSC refused alike (4001, an HTTP 401 or 403: credentials it
    # refuses), sending pauses (items kept queued) for refused_pause_minutes, doubling while it still
    # refuses so, up to refused_pause_max_minutes; 0: never (each refused item fails)
    stop_after_refused: int = 10
    refused_pause_minutes: float = 5
    refused_pause_max_minutes: float = 60


@dataclass
class StoreSection:
    path: str = "mm7bind.db"
    durability: str = "power"  # power | process
    keep_days: float = 0  # serve purges handled messages and sent records older than this (0: keep all)
    keep_bodies_days: float = 0  # ... and the bodies and headers (records kept) of those older than this
    check_at_start: str = ""  # "quick" | "full": serve checks the file is intact first (reads it all); "": not


@dataclass
class LoggingSection:
    level: str = "INFO"
    file: str = ""
    rotate: str = "size"  # size | time | both | none
    max_bytes: int = 10 * 1024 * 1024
    when: str = "midnight"  # for rotate = "time": S, M, H, D, midnight, W0-W6
    interval: int = 1
    backups: int = 7
    format: str = "%(asctime)s %(levelname)s %(name)s %(message)s"


SECTIONS = {
    "mmsc": MmscSection,
    "vasp": VaspSection,
    "receiver": ReceiverSection,
    "api": ApiSection,
    "outbox": OutboxSection,
    "store": StoreSection,
    "logging": LoggingSection,
}


@dataclass
class Config:
    """A configuration: one section per TOML table (`cfg.mmsc.urls`, `cfg.receiver.port`...), where
    it came from (`source`), and what it builds: the client, the store, the receiver, its handler,
    the outbox, the send API, the logging, as the commands build them."""

    mmsc: MmscSection = field(default_factory=MmscSection)
    vasp: VaspSection = field(default_factory=VaspSection)
    receiver: ReceiverSection = field(default_factory=ReceiverSection)
    api: ApiSection = field(default_factory=ApiSection)
    outbox: OutboxSection = field(default_factory=OutboxSection)
    store: StoreSection = field(default_factory=StoreSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    source: str = "(defaults)"
    # The warnings found when it was loaded and not said yet (see say_warnings).
    warnings: list[Problem] = field(default_factory=list, repr=False, compare=False)

    def say_warnings(self, uses: Iterable[str] | None = None) -> list:
        """Log (logger "mm7bind.config") the warnings that concern `uses`, what the program does with
        this configuration: "sending" (to the MMSC), "serving" (listening for the MMSC and the send
        API's callers), "handling" (the saving or forwarding handler); None: every one. A warning
        about the file itself concerns every use. Each is said once, however often this is called:
        `mm7bind store inbox` has no business with [mmsc]'s credentials, a send has. → those said."""
        log = logging.getLogger("mm7bind.config")
        said = [p for p in self.warnings if uses is None or not p.about or p.about in uses]
        for problem in said:
            self.warnings.remove(problem)
            log.warning("%s", problem)
        return said

    # -- what it builds -------------------------------------------------------------------------

    def profile(self) -> Profile:
        """The dialect's profile with [mmsc]'s version, mm7_version, namespace, size and parts limits, charset."""
        m = self.mmsc
        profile = DIALECTS[m.dialect]
        changes: dict[str, Any] = {}
        if m.version:
            changes["version"] = m.version
        if m.mm7_version:
            changes["mm7_version"] = m.mm7_version
        if m.namespace:
            changes["namespace"] = m.namespace
        if m.max_message_size:
            changes["max_message_size"] = m.max_message_size
        if m.max_parts:
            changes["max_parts"] = m.max_parts
        if m.charset:
            import dataclasses  # noqa: PLC0415

            changes["xml"] = dataclasses.replace(profile.xml, encoding=m.charset)
        return profile.replace(**changes) if changes else profile

    def client_settings(self) -> dict[str, Any]:
        """[mmsc] and [vasp] as `Client` keywords (urls, profile, credentials, TLS, retry policy...)."""
        from .messages import written_address  # noqa: PLC0415
        from .retry import RetryPolicy  # noqa: PLC0415

        m, v = self.mmsc, self.vasp
        cert: Any = None
        if m.client_cert:
            cert = (m.client_cert, m.client_key) if m.client_key else m.client_cert
        return {
            "urls": tuple(m.urls), "profile": self.profile(), "username": m.username or None,
            "password": m.password or None, "auth": m.auth, "digest_qop": m.digest_qop or None,
            "connect_timeout": m.connect_timeout,
            "read_timeout": m.read_timeout, "upload_timeout": m.upload_timeout,
            "upload_min_rate": m.upload_min_rate or None, "pool_size": m.pool_size,
            "idle_timeout": m.idle_timeout or None,
            "verify": m.ca_file if (m.verify and m.ca_file) else m.verify, "cert": cert,
            "proxy": m.proxy or None,
            "headers": tuple(m.headers.items()) + ((("Connection", "close"),) if not m.keep_alive else ()),
            "round_robin": m.round_robin, "accept_transaction_id_mismatch": m.accept_transaction_id_mismatch,
            "retry": RetryPolicy(max_attempts=m.max_attempts, backoff=m.backoff, on_timeout=m.retry_on_timeout,
                                 retry_codes=frozenset(m.retry_codes), no_retry_codes=frozenset(m.no_retry_codes),
                                 http_statuses=frozenset(m.http_statuses), max_retry_after=m.max_retry_after),
            "rate_limit": m.rate_limit or None, "vaspid": v.vaspid or None, "vasid": v.vasid or None,
            "service_code": v.service_code or None,
            # (read as --from is: "ShortCode:1065888" one of that kind)
            "sender_address": written_address(v.sender_address, recipient=False) if v.sender_address else None,
            "country_code": v.country_code or None,
        }

    def make_client(self, store=None, **overrides):
        """A `Client` of `client_settings()`, `overrides` replacing some, recording in `store`."""
        from .client import Client  # noqa: PLC0415

        return Client(store=store, **{**self.client_settings(), **overrides})

    def open_store(self, wait: float | None = None, *, read_only: bool = False):
        """The configured store; `wait`, `read_only`: see `SqliteStore`."""
        from .store import SqliteStore  # noqa: PLC0415

        return SqliteStore(self.store.path, durability=self.store.durability, wait=wait, read_only=read_only)

    def retention(self, store):
        """The store's purge schedule from keep_days and keep_bodies_days; None when both are 0."""
        from datetime import timedelta  # noqa: PLC0415

        from .store import Retention  # noqa: PLC0415

        keep, bodies = self.store.keep_days, self.store.keep_bodies_days
        if not keep and not bodies:
            return None
        return Retention(store, timedelta(days=keep) if keep else None, timedelta(days=bodies) if bodies else None)

    def make_send_api(self, client, outbox=None):
        """The HTTP send API over `client` (and `outbox`) from [api]; None when its path is empty."""
        from . import auth as auth_mod  # noqa: PLC0415
        from .sendapi import SendApi  # noqa: PLC0415

        a = self.api
        if not a.path:
            return None
        return SendApi(client, token=a.token or None, allow=auth_mod.IPAllowList.parse(a.allow) if a.allow else None,
                       max_body=self.receiver.max_body, outbox=outbox, max_recipients=a.max_recipients,
                       max_parts=a.max_parts, auth_failures=a.auth_failures, auth_cooldown=a.auth_cooldown)

    def make_outbox(self, client):
        """An outbox over `client` (which has the store), with [outbox] max_age_hours."""
        from datetime import timedelta  # noqa: PLC0415

        from .outbox import Outbox  # noqa: PLC0415

        o = self.outbox
        return Outbox(client, max_age=timedelta(hours=o.max_age_hours), concurrency=o.concurrency,
                      stop_after_refused=o.stop_after_refused,
                      refused_pause=timedelta(minutes=o.refused_pause_minutes),
                      refused_pause_max=timedelta(minutes=o.refused_pause_max_minutes))

    def make_handler(self, spec: str | None = None, echo=None):
        """The handler `serve` and `replay` run: `spec` ("module:object"), else forwarding to
        forward_url, else saving under out_dir (each message logged, or given to `echo`)."""
        from .handlers import ForwardingHandler, SavingHandler, load_handler  # noqa: PLC0415

        r = self.receiver
        if spec:
            return load_handler(spec)
        if r.forward_url:
            return ForwardingHandler(r.forward_url, secret=r.forward_secret or None, timeout=r.forward_timeout)
        # (durability "process" does without flushes to the disk: so do the saved files)
        return SavingHandler(r.out_dir, echo=echo, sync=self.store.durability == "power")

    def make_receiver(self, handler=None, store=None, metrics=None):
        """A `Receiver` of `receiver_settings()` running `handler`, recording in `store`."""
        from .receiver import Receiver  # noqa: PLC0415

        return Receiver(handler, store=store, metrics=metrics, **self.receiver_settings())

    def receiver_settings(self) -> dict[str, Any]:
        """[receiver] as `Receiver` keywords: auth, allow-list, strict, max_body, profile, store_wait."""
        from . import auth as auth_mod  # noqa: PLC0415

        r = self.receiver
        auth = None
        if r.auth == "basic":
            auth = auth_mod.BasicAuth(r.username, r.password)
        elif r.auth == "digest":
            auth = auth_mod.DigestAuth(r.username, r.password, qop=r.digest_qop, algorithm=r.digest_algorithm,
                                       userhash=r.digest_userhash)
        allow = auth_mod.IPAllowList.parse(r.allow) if r.allow else None
        return {"auth": auth, "allow": allow, "strict": r.strict, "max_body": r.max_body, "profile": self.profile(),
                "store_wait": r.store_wait, "auth_failures": r.auth_failures, "auth_cooldown": r.auth_cooldown}

    def ssl_context(self):
        """A server TLS context when the receiver serves TLS itself, else None; with
        `tls_client_ca`, one requiring a client certificate that CA signed (mutual TLS). A CA that
        cannot be read raises `TLSFileError` (setting "tls_client_ca")."""
        r = self.receiver
        if not r.tls_cert:
            return None
        import ssl  # noqa: PLC0415

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(r.tls_cert, r.tls_key)
        if r.tls_client_ca:
            from .client import TLSFileError  # noqa: PLC0415

            try:
                ctx.load_verify_locations(**{"capath" if os.path.isdir(r.tls_client_ca) else "cafile": r.tls_client_ca})
            except (OSError, ValueError) as exc:  # (no such file, no certificate in it: ssl names neither)
                why = f"cannot read CA certificates from {r.tls_client_ca!r}: {getattr(exc, 'strerror', None) or exc}"
                raise TLSFileError("tls_client_ca", why) from exc
            if os.path.isdir(r.tls_client_ca) and not any(Path(r.tls_client_ca).glob("*.[0-9]")):
                # (a folder is read at each handshake, by hashed names: none there, no client is ever taken)
                raise TLSFileError("tls_client_ca", f"{r.tls_client_ca!r} holds no CA certificate named by its "
                                                    "hash (c_rehash, openssl rehash)")
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def setup_logging(self, verbose: bool = False) -> None:
        """A handler on the "mm7bind" logger as [logging] says (a file, rotated; else standard error,
        the journal's way under systemd), at its level, or DEBUG with `verbose`. Called again (a
        second serve or replay in one process), it replaces the handler it added before (closed),
        which would otherwise have written each line a second time; handlers of yours stay."""
        lg = self.logging
        root = logging.getLogger("mm7bind")
        root.setLevel(logging.DEBUG if verbose else getattr(logging, lg.level.upper(), logging.INFO))
        formatter = logging.Formatter(lg.format)
        if lg.file:
            if lg.rotate == "size":
                handler: logging.Handler = logging.handlers.RotatingFileHandler(
                    lg.file, maxBytes=lg.max_bytes, backupCount=lg.backups, encoding="utf-8")
            elif lg.rotate == "time":
                handler = logging.handlers.TimedRotatingFileHandler(
                    lg.file, when=lg.when, interval=lg.interval, backupCount=lg.backups, encoding="utf-8")
            elif lg.rotate == "both":
                handler = SizeAndTimeRotatingHandler(lg.file, max_bytes=lg.max_bytes, when=lg.when,
                                                     interval=lg.interval, backups=lg.backups)
            else:
                handler = logging.FileHandler(lg.file, encoding="utf-8")
        elif _stderr_is_the_journal():
            # systemd's journal stamps each line with its time, and reads a "<N>" start as its
            # syslog priority (so `journalctl -p warning` finds warnings): written that way.
            fmt = "%(levelname)s %(name)s %(message)s" if lg.format == LoggingSection.format else lg.format
            handler = logging.StreamHandler()
            formatter = JournalFormatter(fmt)
        else:
            handler = logging.StreamHandler()
        handler.setFormatter(formatter)
        for earlier in [h for h in root.handlers if getattr(h, SET_UP, False)]:
            root.removeHandler(earlier)
            earlier.close()
        setattr(handler, SET_UP, True)
        root.addHandler(handler)


SET_UP = "mm7bind_set_up"  # marks the handler `Config.setup_logging` added (replaced when called again)


def _stderr_is_the_journal() -> bool:
    """Whether standard error is a stream of systemd's journal: its JOURNAL_STREAM variable names
    the stream's device and inode (a child given another stderr inherits the variable, not the
    stream)."""
    import sys  # noqa: PLC0415

    given = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # (no stderr, or one without a descriptor)
        return False
    return bool(given) and given == f"{st.st_dev}:{st.st_ino}"


class JournalFormatter(logging.Formatter):
    """Each line of a record (a traceback's, a payload dump's too) starting with the record's
    syslog priority as `<N>`, which the journal takes as the line's priority."""

    PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in self.PRIORITIES if record.levelno >= level), 7)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).split("\n"))


def reopen_log_files() -> int:
    """Close the files the "mm7bind" logger writes, each to be opened again by its name at its
    next record (after logrotate renamed it, a new file) → how many. Rotation done here is unaffected."""
    count = 0
    for handler in logging.getLogger("mm7bind").handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                    handler.stream = None  # (FileHandler opens it again when it next emits)
                count += 1
            finally:
                handler.release()
    return count


class SizeAndTimeRotatingHandler(logging.handlers.TimedRotatingFileHandler):
    """A new file after `interval` (`when` units) or once the file reaches `max_bytes`, whichever
    comes first; `backups` old files are kept (China Mobile's LogInterval + LogSize + LogNum)."""

    def __init__(self, filename: str, max_bytes: int, when: str = "M", interval: int = 60, backups: int = 100):
        super().__init__(filename, when=when, interval=interval, backupCount=backups, encoding="utf-8")
        self.max_bytes = max_bytes
        # When the current period (`interval`) began: the stamp of its files' names. A file already
        # there began it at its last write, as the time rollover counts from then too.
        self.period_began = os.stat(filename).st_mtime if os.path.exists(filename) else time.time()

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 (logging's name)
        if super().shouldRollover(record):
            return True
        if self.max_bytes and self.stream is not None:
            self.stream.seek(0, 2)
            return self.stream.tell() + len(self.format(record)) + 1 >= self.max_bytes
        return False

    def doRollover(self) -> None:  # noqa: N802
        """name.log → name_<yyyyMMddHHmm>.<NNNN>.log, as China Mobile's SDK names its files (so
        tools that collect them find ours): the minute its period began, and a counter for the files
        the size limit cut that period into."""
        import glob  # noqa: PLC0415

        if self.stream:
            self.stream.close()
            self.stream = None
        stem, suffix = os.path.splitext(self.baseFilename)
        stamp = time.strftime("%Y%m%d%H%M", time.localtime(self.period_began))
        n = 1
        while os.path.exists(f"{stem}_{stamp}.{n:04d}{suffix}"):
            n += 1
        if os.path.exists(self.baseFilename):
            os.rename(self.baseFilename, f"{stem}_{stamp}.{n:04d}{suffix}")
        old = sorted(glob.glob(glob.escape(stem) + "_[0-9]*" + glob.escape(suffix))
                     + glob.glob(glob.escape(self.baseFilename) + ".[0-9]*"),  # (as earlier versions named them)
                     key=os.path.getmtime)
        for path in old[: max(0, len(old) - self.backupCount)]:
            os.remove(path)
        self.stream = self._open()
        now = time.time()
        if now >= self.rolloverAt:  # a new period, not only a new file of this one
            self.period_began = now
        self.rolloverAt = self.computeRollover(int(now))


# ---------------------------------------------------------------------------------------------
# Loading and checking


@dataclass
class Problem:
    """One thing wrong with a configuration: an error (it cannot be used) or a warning, where
    (`mmsc.urls`, or the variable that set it), and what."""

    level: str  # error | warning
    where: str  # section.key
    message: str
    about: str = ""  # what a warning concerns: sending, serving, handling; "": every use (see say_warnings)

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


class ConfigError(Exception):
    """A configuration that cannot be used: `problems` has every problem found, its text the errors."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems if p.level == "error"))


def load(path: str | Path | None = None, env: dict[str, str] | None = None) -> tuple[Config, list[Problem]]:
    """A Config from a TOML file (or none) and the environment, with every problem found."""
    problems: list[Problem] = []
    data: dict[str, Any] = {}
    source = "(defaults)"
    if path is not None:
        source = str(path)
        try:
            # (utf-8-sig: a byte-order mark, as Windows editors write, is no "invalid statement")
            data = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            return Config(source=source), [Problem("error", str(path), "file not found")]
        except UnicodeDecodeError as exc:  # (saved as GBK, say: TOML is UTF-8)
            line = exc.object[:exc.start].count(b"\n") + 1
            return Config(source=source), [Problem("error", str(path), f"not UTF-8, as TOML must be: byte "
                                                   f"0x{exc.object[exc.start]:02x} on line {line}; save it as UTF-8")]
        except tomllib.TOMLDecodeError as exc:
            return Config(source=source), [Problem("error", str(path), f"not valid TOML: {exc}")]
        except ValueError as exc:  # (tomllib's own int(): a number of more than 4300 digits)
            return Config(source=source), [Problem("error", str(path), f"not valid TOML: {exc}")]
        except OSError as exc:  # a directory, a file we may not read
            return Config(source=source), [Problem("error", str(path), f"cannot read: {exc.strerror or exc}")]
    if path is not None and _holds_credentials(data):
        mode = Path(path).stat().st_mode
        if os.name == "posix" and mode & 0o004:
            problems.append(Problem("warning", str(path), f"holds credentials and any user of this machine can read "
                                                          f"it (mode {mode & 0o777:o}): chmod o-r"))
    env = os.environ if env is None else env
    from_env: dict[tuple[str, str], str] = {}  # settings given by a variable: their problems name it
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in NOT_SETTINGS:
            continue
        rest = key[len(ENV_PREFIX):].lower()
        section, _, name = rest.partition("_")
        if section not in SECTIONS or not name:
            import difflib  # noqa: PLC0415

            close = difflib.get_close_matches(section, list(SECTIONS), 1)  # (a secret mistyped is not set)
            hint = f" (did you mean {ENV_PREFIX}{close[0].upper()}_{name.upper()}?)" if close and name else ""
            problems.append(Problem("warning", key, "environment variable names no known setting" + hint))
            continue
        table = data.setdefault(section, {})
        if not isinstance(table, dict):  # (the file's own mistake, reported below)
            continue
        try:
            table[name] = _from_env(SECTIONS[section], name, value)
        except ValueError as exc:
            problems.append(Problem("error", f"{key} ({section}.{name})", str(exc)))
            continue
        from_env[(section, name)] = key
    cfg = Config(source=source)
    refused: set[str] = set()  # settings whose value could not be read (their default stands in)
    for section, values in data.items():
        if section not in SECTIONS and not isinstance(values, dict):  # `port = 8080` above every [section]
            holders = _sections_with(section)
            problems.append(Problem("error", section, "a setting outside any [section]"
                                    + (f": it belongs in {holders}" if holders else "")))
            continue
        if section not in SECTIONS:
            problems.append(Problem("error", section, "unknown section" + did_you_mean(section, SECTIONS)))
            continue
        if isinstance(values, list) and values and all(isinstance(v, dict) for v in values):
            # (two MMSCs written as two [[mmsc]] tables: they are one [mmsc]'s urls)
            problems.append(Problem("error", section, f"written [[{section}]], several tables: there is one [{section}]"
                                    + ('; several MMSCs go in its urls = ["...", "..."], in fail-over order'
                                       if section == "mmsc" else "")))
            continue
        if not isinstance(values, dict):
            problems.append(Problem("error", section, f"must be a table ([{section}])"))
            continue
        target = getattr(cfg, section)
        known = {f.name: f for f in fields(target)}
        for key, value in values.items():
            where = f"{section}.{key}"
            if (section, key) in from_env:
                where = f"{from_env[section, key]} ({where})"
            if key not in known:
                # (a setting of another section, written here, is said as such before a near miss)
                holders = _sections_with(key)
                problems.append(Problem("error", where, "unknown setting" + (
                    f" (a setting of {holders})" if holders else did_you_mean(key, known))))
                continue
            ok, converted, why = (_convert_numbers(value) if key in NUMBER_LISTS
                                  else _convert(getattr(target, key), value))
            if not ok:
                # (said without the value: it may be the secret, or a URL with its password, mistyped)
                if key in SECRET_SETTINGS or key in ("proxy", "forward_url"):
                    why = f"expected text, got a {type(value).__name__}"
                problems.append(Problem("error", where, why))
                refused.add(f"{section}.{key}")
                continue
            setattr(target, key, converted)
    for problem in _checked(cfg, frozenset(refused)):  # (a value a variable gave: the variable named, not only the file's key)
        section, _, name = problem.where.partition(".")
        if (section, name) in from_env:
            problem.where = f"{from_env[section, name]} ({problem.where})"
        problems.append(problem)
    return cfg, problems


def unusable_file_name(path: str) -> str | None:
    """Why the system takes no file or folder of that name (a NUL in it, a name too long), else None.

    The check of every setting naming a file, for the configuration readers (the TOML file's and
    China Mobile's): asked of such a name, the system's own checks raise a ValueError or OSError."""
    try:
        os.stat(path)
    except ValueError:
        return f"{path!r} cannot be a file name: it holds a NUL character"
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return f"{path[:60]!r}... cannot be a file name: longer than this system takes"
    return None


def _password_in(url: str) -> bool:
    from .display import shown_url  # noqa: PLC0415

    try:
        if urlsplit(url).password:
            return True
    except ValueError:  # (no URL, which check() says; one the parser refuses may still hold a password)
        return ":" in url.rpartition("@")[0].partition("//")[2]
    # (one urlsplit sees no authority in — a proxy's u:pw@proxy:3128, as a shell's settings write it —
    # or a second URL in the text: the password shown_url hides)
    return shown_url(url) != url


def _sections_with(key: str) -> str:
    """The sections that have a setting named `key`, as a problem says them: "[receiver] or [store]"."""
    holders = [f"[{name}]" for name, cls in SECTIONS.items() if key in {f.name for f in fields(cls)}]
    return ", ".join(holders[:-1]) + " or " + holders[-1] if len(holders) > 1 else "".join(holders)


def _holds_credentials(data: dict) -> bool:
    """Whether a configuration file's tables set a password, secret or token (URLs' included, and
    headers named as credentials: an Authorization, an X-Api-Key)."""
    from .display import is_secret_header  # noqa: PLC0415

    for section in data.values():
        if not isinstance(section, dict):
            continue
        for key, value in section.items():
            if key in SECRET_SETTINGS and value:
                return True
            if isinstance(value, dict) and any(isinstance(name, str) and is_secret_header(name) and given
                                               for name, given in value.items()):
                return True
            for url in value if isinstance(value, list) else [value]:
                if isinstance(url, str) and "@" in url and _password_in(url):
                    return True
    return False


def load_checked(path: str | Path | None, *, say_warnings: bool = True) -> Config:
    """A usable Config, or ConfigError listing what is wrong. Its warnings are logged (those of this
    load: each call reads the file again, and says what it finds), or without `say_warnings` kept
    in `cfg.warnings` for `cfg.say_warnings(uses)` to say those that matter."""
    return usable(*load(path), say_warnings=say_warnings)


def usable(cfg: Config, problems: list[Problem], *, say_warnings: bool) -> Config:
    """`cfg`, or ConfigError when one of `problems` is an error; its warnings kept in
    `cfg.warnings`, and with `say_warnings` said now (the loaders' common end)."""
    if any(p.level == "error" for p in problems):
        raise ConfigError(problems)
    cfg.warnings = problems
    if say_warnings:
        cfg.say_warnings()
    return cfg


def _from_env(section_cls, name: str, value: str) -> Any:
    default = getattr(section_cls(), name, None)
    if isinstance(default, list):  # (a URL's query may hold a comma: written \, as in a table)
        return [v.strip() for v in _env_items(value) if v.strip()]
    if isinstance(default, dict):
        return _table_from_env(value)
    return value


def _env_items(value: str) -> list[str]:
    """A variable's comma-separated items, a comma within one written `\\,` (and a backslash
    `\\\\`); a backslash before anything else is kept as it is."""
    items, item, chars = [], [], iter(value)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            item.append(nxt if nxt in (",", "\\") else c + nxt)
        elif c == ",":
            items.append("".join(item))
            item = []
        else:
            item.append(c)
    items.append("".join(item))
    return items


def _table_from_env(value: str) -> dict[str, str]:
    """`name=value,...`, a comma within a value written `\\,` (and a backslash `\\\\`): a
    header's value often holds one. An item without `=` is refused, not dropped."""
    items = _env_items(value)
    table = {}
    for number, raw in enumerate(items, 1):
        if not raw.strip():
            continue  # (a trailing comma)
        name, eq, val = raw.partition("=")
        if not eq or not name.strip():
            # (said by its place, not its text: a header's value is often a token)
            colon = raw.partition(":")[0].strip() if ":" in raw else ""
            hint = f"; write {colon}=... rather than {colon}: ..." if colon and " " not in colon else ""
            raise ValueError(f"item {number} is not name=value (items are name=value,name=value; a comma in a value "
                             f"is written \\,{hint})")
        table[name.strip()] = val
    return table


C_INT_MAX = 2**31 - 1  # the largest listen backlog the socket layer takes
# A whole number of more digits is larger than any setting takes, in this reader and China Mobile's
# files alike: refused unread, and said by what it is rather than quoted (int() refuses more than
# 4300 digits with the ValueError of a text that is no number, and takes long to read a longer one).
MOST_DIGITS = 100
_WHOLE = re.compile(r"\s*[+-]?[0-9]+\s*")


def _convert(default: Any, value: Any) -> tuple[bool, Any, str]:
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return True, value, ""
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return True, value.lower() in ("true", "1", "yes"), ""
        return False, None, f"expected true or false, got {quoted(value)}"
    if kind in (int, float):
        if isinstance(value, bool):
            return False, None, f"expected a number, got {quoted(value)}"
        if isinstance(value, int):
            try:
                return True, kind(value), ""
            except OverflowError:  # (float() of a whole number of more than 308 digits)
                return False, None, "expected a number, got one too large for any setting"
        if kind is int and isinstance(value, str) and _WHOLE.fullmatch(value):
            if len(value.strip().lstrip("+-").lstrip("0")) > MOST_DIGITS:
                return False, None, "expected a number, got one too large for any setting"
            return True, int(value), ""  # exactly, not through a float
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False, None, f"expected a number, got {quoted(value)}"
        if not math.isfinite(number):  # TOML and the environment can both say nan or inf
            return False, None, f"expected a finite number, got {quoted(value)}"
        if kind is int and number != int(number):
            return False, None, f"expected a whole number, got {quoted(value)}"
        return True, kind(number), ""
    if kind is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return False, None, "expected a list of strings"
        return True, value, ""
    if kind is dict:
        if not isinstance(value, dict):
            return False, None, "expected a table of name = value"
        # A value is text as TOML wrote it: `X-Flag = true` is "true" (str() made it "True"), a number
        # its digits; a list, a table or a date is no header value.
        odd = next((k for k, v in value.items() if not isinstance(v, (str, int, float))), None)
        if odd is not None:
            from .display import is_secret_header  # noqa: PLC0415

            got = f"a {type(value[odd]).__name__}" if is_secret_header(str(odd)) else quoted(value[odd])
            return False, None, f"{odd}: expected text, got {got}"
        return True, {str(k): _toml_repr(v) if isinstance(v, bool) else str(v) for k, v in value.items()}, ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):  # (true is no name, "True" none either)
        return False, None, f"expected text, got {quoted(value)}"
    return True, str(value), ""


NUMBER_LISTS = {"retry_codes", "no_retry_codes", "http_statuses"}  # settings that are lists of whole numbers


def _convert_numbers(value: Any) -> tuple[bool, Any, str]:
    """A list of whole numbers, from TOML's (`[4006, 4008]`, or one: `4006`) or a variable's items."""
    items = value if isinstance(value, list) else [value]
    numbers = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            numbers.append(item)
        elif isinstance(item, str) and _WHOLE.fullmatch(item) and len(item.strip()) <= 20:
            numbers.append(int(item))
        else:
            # (`retry_codes = "4006, 4008"`: a list in words, written as TOML writes one)
            listed = re.findall(r"\d+", value) if isinstance(value, str) else []
            how = f" (a list is written [{', '.join(listed)}])" if listed and re.fullmatch(
                r"[\s\d,;]+", value) else ""
            return False, None, f"expected a list of whole numbers, got {quoted(value)}{how}"
    return True, numbers, ""


def _toml_repr(value: Any) -> str:
    """A value as the TOML file wrote it (true, not True) for a problem's message."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


MOST_CHARACTERS_QUOTED = 100  # a longer value is said by its start and its length


def quoted(value: Any) -> str:
    """A setting's value as a problem quotes it: as the file wrote it (`_toml_repr`), or, longer
    than MOST_CHARACTERS_QUOTED characters, by its start and its length (a value of any length is
    read, and its problem printed: one of 100,000 characters made a message of as many)."""
    if isinstance(value, str):
        if len(value) <= MOST_CHARACTERS_QUOTED:
            return repr(value)
        return f"a text of {len(value)} characters ({value[:40]!r}...)"
    said = _toml_repr(value)
    return said if len(said) <= MOST_CHARACTERS_QUOTED else f"{said[:40]}... ({len(said)} characters)"


def _listenable(host: str) -> bool:
    """Whether `host` is an address to listen on: an IP address, or a name that resolves here."""
    import ipaddress  # noqa: PLC0415
    import socket  # noqa: PLC0415

    if host == "":  # (every interface)
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return True
    except (OSError, UnicodeError):
        return False


def _check_mm7_version(cfg: Config, err, warn) -> None:
    """The MM7Version requests will carry must be one the schema version takes: else every request
    is refused before it is sent (a dialect's own value counts: China Mobile's 6.3.0 is not in
    REL-5-MM7-1-5's list, and 6.7.0, which some MMSCs send, is not in REL-6-MM7-1-4's). One of a
    later release than the namespace, which a pattern takes (6.3.0 with REL-5-MM7-1-2), is sent
    with a warning: no schema of that release lists it."""
    from .binding import field_enum_values  # noqa: PLC0415

    try:
        profile = cfg.profile()
    except (LookupError, ValueError):
        return  # a charset or version that is no such thing: reported by its own check
    version = versions.get(profile.version)
    allowed = field_enum_values(version, "SubmitReq", "MM7Version")
    if profile.mm7_version and allowed and profile.mm7_version not in allowed:
        source = "" if cfg.mmsc.mm7_version else f" (the {profile.name} dialect's)"
        err("mmsc.mm7_version", f"{profile.mm7_version}{source} is not an MM7Version {version.name} takes "
                                f"({', '.join(allowed)}): every request would be refused before sending")
    elif profile.mm7_version and int(profile.mm7_version.split(".")[0]) > version.release:
        source = "" if cfg.mmsc.mm7_version else f" (the {profile.name} dialect's)"
        warn("mmsc.mm7_version", f"{profile.mm7_version}{source} is of a later release than {version.name}: "
                                 "an MMSC that checks one against the other refuses every request (4002)", "sending")


def _check_namespace(cfg: Config, err, warn) -> None:
    """[mmsc] namespace: an MM7 namespace an XML parser takes and no other version's (else every
    request would go wrong: refused at start); one that is no spelling of the version's, a namespace
    no schema has, is sent with a warning, as readers take it for the newest version of its release."""
    version = versions.get(cfg.mmsc.version or DIALECTS[cfg.mmsc.dialect].version)
    try:
        DIALECTS[cfg.mmsc.dialect].replace(version=version.name, namespace=cfg.mmsc.namespace)
    except ValueError as exc:
        err("mmsc.namespace", str(exc))
        return
    if versions.by_spelling(cfg.mmsc.namespace) is None:
        read_as = versions.closest_for_namespace(cfg.mmsc.namespace)
        warn("mmsc.namespace", f"{cfg.mmsc.namespace} is no spelling of {version.name}'s namespace "
                               f"({version.namespace}): an MMSC knows no schema for it, and readers (mm7bind too) "
                               f"read it as {read_as.name if read_as else 'the newest version'}", "sending")


def _overlap(some: list, others: list) -> bool:
    """Whether a list of networks admits an address the other does."""
    return any(a.version == b.version and a.overlaps(b) for a in some for b in others)


def _exposed_credentials(url: str) -> bool:
    """A plain http URL whose credentials cross a network: to an application on this host
    (localhost, a loopback address), they go nowhere a listener could read them."""
    import ipaddress  # noqa: PLC0415

    parts = urlsplit(url)
    if parts.scheme != "http" or parts.password is None:
        return False
    host = (parts.hostname or "").lower()
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost" and not host.endswith(".localhost")


def check(cfg: Config) -> list[Problem]:
    """Everything wrong with a configuration, each said plainly."""
    return _checked(cfg, refused=frozenset())


def _checked(cfg: Config, refused: frozenset[str]) -> list[Problem]:
    """`check`, but for the settings `refused` ("mmsc.retry_codes": a value written that could not
    be read, its error said already): the default standing in for it is compared with no other
    setting — `retry_codes = "4006, 4008"` beside `no_retry_codes = [4006]` was said to clash too,
    two errors for one mistake, the second about a value nobody wrote."""
    import ipaddress  # noqa: PLC0415

    from .client import AUTH_MODES, MAX_POOL_SIZE, header_problem, is_http_url, not_http_url  # noqa: PLC0415
    from .display import shown_url  # noqa: PLC0415

    out: list[Problem] = []

    def err(where: str, msg: str) -> None:
        out.append(Problem("error", where, msg))

    def warn(where: str, msg: str, about: str) -> None:
        out.append(Problem("warning", where, msg, about))

    def networks(where: str, items: list[str]) -> list:
        """The networks of an allow-list; each item that is none is an error."""
        found = []
        for item in items:
            try:
                found.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                err(where, f"{quoted(item)} is not an address or network")
        return found

    if cfg.vasp.sender_address:
        from .messages import written_address  # noqa: PLC0415

        try:
            written_address(cfg.vasp.sender_address, recipient=False)
        except ValueError as exc:  # ("ShortCode:" and nothing after it)
            err("vasp.sender_address", str(exc))
    if cfg.vasp.country_code and not re.fullmatch(r"[1-9][0-9]{0,2}", cfg.vasp.country_code):
        err("vasp.country_code", f"must be a country calling code, 1 to 3 digits (86, 1, 44), not "
                                 f"{quoted(cfg.vasp.country_code)}")
    for name, element in (("vasid", "VASID"), ("service_code", "ServiceCode")):
        value = getattr(cfg.vasp, name)
        if value and not value.strip():  # (as the client refuses it: "" is none, and none is sent)
            err(f"vasp.{name}", f"{quoted(value)} is blank: it would go as an empty {element}; give one, or leave it out")
    if cfg.vasp.vaspid and not cfg.vasp.vaspid.strip():  # (as the client refuses it)
        err("vasp.vaspid", f"{quoted(cfg.vasp.vaspid)} is blank: it would go as an empty VASPID, which MMSCs refuse "
                           "(4001); give the VASP's ID, or leave it out")
    elif cfg.mmsc.dialect in ("cmcc", "cmcc-sdk"):
        # China Mobile's MMSC identifies, routes and bills by the enterprise code: a SubmitReq without
        # one is answered 4001 (the schema makes it optional, the SDK's manual "required")
        if not cfg.vasp.vaspid:
            warn("vasp.vaspid", "not set: China Mobile requires the enterprise code (VASPID) in every "
                                "SubmitReq, so each message must carry one or the MMSC answers 4001", "sending")
        else:
            from .cmcc.codes import check_enterprise_code  # noqa: PLC0415

            for problem in check_enterprise_code(cfg.vasp.vaspid):
                warn("vasp.vaspid", str(problem), "sending")
    m = cfg.mmsc
    if not m.urls:
        err("mmsc.urls", "at least one MMSC URL is needed")
    exposed = []  # plain http URLs Basic credentials would go to
    for url in m.urls:
        if re.search(r"[,\s]\s*https?://", url):  # `urls = "http://a/mm7,http://b/mm7"`: one URL to host a
            err("mmsc.urls", f"{shown_url(url)!r} is several URLs in one text: list them, "
                             'urls = ["http://...", "http://..."]')
        elif not is_http_url(url):
            err("mmsc.urls", not_http_url(shown_url(url)))
        elif urlsplit(url).scheme == "http" and (m.username and m.auth in ("basic", "auto")
                                                 or urlsplit(url).password is not None):
            exposed.append(shown_url(url))
    if exposed:  # (one warning, however many MMSCs)
        warn("mmsc.urls", f"Basic credentials over plain http can be read on the way: {', '.join(exposed)}",
             "sending")
    if m.auth not in AUTH_MODES:
        err("mmsc.auth", f"must be {', '.join(AUTH_MODES)}, not {refused_choice(m.auth, AUTH_MODES)}")
    if m.digest_qop not in ("", *QOPS):
        err("mmsc.digest_qop", f"must be auth or auth-int, not {quoted(m.digest_qop)}")
    if m.password and not m.username:
        err("mmsc.username", "a password is set without a username")
    elif m.username and not m.password:  # (most often a secret meant to come from the environment)
        warn("mmsc.password", "a username is set without a password: an empty one is sent "
                              "(MM7BIND_MMSC_PASSWORD not set?)", "sending")
    if m.dialect not in DIALECTS:
        err("mmsc.dialect", f"unknown dialect {quoted(m.dialect)} (known: {', '.join(DIALECTS)})")
    if m.version:
        try:
            versions.get(m.version)
        except KeyError as exc:
            err("mmsc.version", str(exc.args[0]))
    parts = m.mm7_version.split(".")
    if m.mm7_version and not (len(parts) == 3 and all(p.isdigit() for p in parts)):
        err("mmsc.mm7_version", f"{quoted(m.mm7_version)} is not of the form x.y.z")
    elif m.dialect in DIALECTS and not any(p.where == "mmsc.version" for p in out):
        _check_mm7_version(cfg, err, warn)
    if m.namespace and m.dialect in DIALECTS and not any(p.where == "mmsc.version" for p in out):
        _check_namespace(cfg, err, warn)
    for name in ("connect_timeout", "read_timeout", "upload_timeout"):
        if getattr(m, name) <= 0:
            err(f"mmsc.{name}", "must be more than 0 (a request must never wait forever)")
        elif getattr(m, name) > MAX_TIMEOUT:  # (as the client refuses it: past what a socket's timeout holds)
            err(f"mmsc.{name}", f"at most {MAX_TIMEOUT} seconds (a year; a request must never wait forever)")
    if m.upload_min_rate < 0:
        err("mmsc.upload_min_rate", "cannot be negative (0: a request's upload is bounded by upload_timeout alone)")
    elif 0 < m.upload_min_rate < 1 / MAX_TIMEOUT:  # (as the client refuses it: a byte's wait past a year)
        err("mmsc.upload_min_rate", f"at least 1/{MAX_TIMEOUT} (a byte a year), or 0")
    if not 1 <= m.pool_size <= MAX_POOL_SIZE:  # (as the client refuses it)
        err("mmsc.pool_size", f"must be from 1 to {MAX_POOL_SIZE}")
    if not 0 <= m.idle_timeout <= MAX_TIMEOUT:  # (as the client refuses it; NaN too)
        err("mmsc.idle_timeout", f"from 0 (no limit) to {MAX_TIMEOUT} seconds (a year)")
    if m.max_attempts < 1:
        err("mmsc.max_attempts", "must be at least 1")
    if m.backoff < 0:
        err("mmsc.backoff", "cannot be negative")
    elif m.backoff > MAX_TIMEOUT:  # (as the retry policy refuses it: past what a wait holds)
        err("mmsc.backoff", f"at most {MAX_TIMEOUT} seconds (a year)")
    for name, low, high, what in (("retry_codes", 1000, 9999, "MM7 status codes"),
                                  ("no_retry_codes", 1000, 9999, "MM7 status codes"),
                                  ("http_statuses", 400, 599, "HTTP error statuses")):
        if wrong := [n for n in getattr(m, name) if not low <= n <= high]:
            err(f"mmsc.{name}", f"{', '.join(map(str, wrong))}: not {what} ({low} to {high})")
    both = [] if {"mmsc.retry_codes", "mmsc.no_retry_codes"} & refused else sorted(
        set(m.retry_codes) & set(m.no_retry_codes))
    if both:
        err("mmsc.no_retry_codes", f"{', '.join(map(str, both))} also in retry_codes: say whether it is sent again")
    if not 0 <= m.max_retry_after <= MAX_TIMEOUT:  # (as the retry policy refuses it: past what a wait holds)
        err("mmsc.max_retry_after", f"from 0 to {MAX_TIMEOUT} seconds (a year)")
    if m.rate_limit < 0:
        err("mmsc.rate_limit", "cannot be negative (0 means unlimited)")
    elif 0 < m.rate_limit < 1 / MAX_TIMEOUT:  # (as the client refuses it: a wait past a year between sends)
        err("mmsc.rate_limit", f"at least 1/{MAX_TIMEOUT} (a message a year), or 0 for unlimited")
    if m.max_message_size < 0:
        err("mmsc.max_message_size", "cannot be negative (0: the dialect's limit)")
    if m.max_parts < 0 or 0 < m.max_parts < 3:
        err("mmsc.max_parts", "must be at least 3 (the SOAP part, the content, one part of it), or 0 for the "
                              "dialect's limit")
    missing = False
    for name in ("ca_file", "client_cert", "client_key"):
        path = getattr(m, name)
        if path and (why := unusable_file_name(path)):
            err(f"mmsc.{name}", why)
            missing = True
        elif path and not Path(path).is_file():
            err(f"mmsc.{name}", f"no such file: {path}")
            missing = True
    if not missing and ((m.verify and m.ca_file) or m.client_cert):  # (read as the client will read them)
        from .client import TLSFileError, client_ssl_context  # noqa: PLC0415

        cert = (m.client_cert, m.client_key) if m.client_cert and m.client_key else m.client_cert or None
        try:
            client_ssl_context(m.ca_file if (m.verify and m.ca_file) else m.verify, cert)
        except TLSFileError as exc:
            err("mmsc.ca_file" if exc.setting == "verify" else "mmsc.client_cert", exc.why)
    if m.proxy and not is_http_url(m.proxy):
        err("mmsc.proxy", not_http_url(shown_url(m.proxy)))
    for name, value in m.headers.items():
        if problem := header_problem(name, value):
            err("mmsc.headers", problem)
    if m.client_key and not m.client_cert:
        err("mmsc.client_key", "a key without client_cert")
    if not m.verify:
        warn("mmsc.verify", "TLS certificates are not checked", "sending")
    r = cfg.receiver
    if not 0 <= r.port <= 65535:
        err("receiver.port", f"{r.port} is not a port number")
    if r.auth not in ("none", "basic", "digest"):
        err("receiver.auth",
            f"must be none, basic or digest, not {refused_choice(r.auth, ('none', 'basic', 'digest'))}")
    elif r.auth != "none" and not r.username:
        err("receiver.username", f"auth = {r.auth!r} needs a username (and password)")
    elif r.auth != "none" and not r.password:  # (anyone knowing the username would get in)
        warn("receiver.password", f"auth = {r.auth!r} with an empty password: anyone who knows the username "
                                  "is let in (MM7BIND_RECEIVER_PASSWORD not set?)", "serving")
    if r.digest_qop.replace(" ", "") not in ("auth", "auth-int", "auth,auth-int", "auth-int,auth"):
        err("receiver.digest_qop", f"must be auth, auth-int or \"auth,auth-int\", not {quoted(r.digest_qop)}")
    from .auth import offered_algorithms  # noqa: PLC0415

    try:
        offered_algorithms(r.digest_algorithm if isinstance(r.digest_algorithm, str) else "")
    except ValueError as exc:
        err("receiver.digest_algorithm", f"{exc} (MD5, SHA-256 or SHA-512-256, or one of them -sess; "
            'several in the order of preference, "SHA-256, MD5")')
    from .server import MAX_THREADS  # noqa: PLC0415

    if not 1 <= r.threads <= MAX_THREADS:  # (as the server refuses it)
        err("receiver.threads", f"must be from 1 to {MAX_THREADS}")
    if not 0 <= r.backlog <= C_INT_MAX:  # (past a C int, serve ended at start with an OverflowError)
        err("receiver.backlog", f"must be from 0 to {C_INT_MAX}")
    if r.connection_limit < 1:
        err("receiver.connection_limit", "must be at least 1")
    if not r.request_timeout > 0:
        err("receiver.request_timeout", "must be positive")
    if r.auth_failures < 0:
        err("receiver.auth_failures", "must be 0 (no limit) or more")
    if not 0 < r.auth_cooldown <= 86_400:
        err("receiver.auth_cooldown", "must be more than 0 seconds, at most 86400 (a day)")
    if not r.store_wait > 0:
        err("receiver.store_wait", "must be more than 0 seconds")
    elif r.store_wait > MAX_TIMEOUT:  # (past what a lock's wait holds: an OverflowError at start)
        err("receiver.store_wait", f"at most {MAX_TIMEOUT} seconds (a year)")
    if r.max_body < 1024:
        err("receiver.max_body", "must be at least 1024 bytes")
    if r.path != "*" and not r.path.startswith("/"):
        err("receiver.path", "must start with / (or be * for any path)")
    if r.metrics_path and (not r.metrics_path.startswith("/") or r.metrics_path == r.path):
        err("receiver.metrics_path", "must start with / and differ from receiver.path")
    if r.health_path and (not r.health_path.startswith("/") or r.health_path in (r.path, r.metrics_path)):
        err("receiver.health_path", "must start with / and differ from receiver.path and metrics_path")
    if r.forward_url and not is_http_url(r.forward_url):
        err("receiver.forward_url", not_http_url(shown_url(r.forward_url)))
    elif r.forward_url and _exposed_credentials(r.forward_url):
        warn("receiver.forward_url", f"Basic credentials over plain http can be read on the way: "
                                     f"{shown_url(r.forward_url)}", "handling")
    if r.forward_timeout <= 0:
        err("receiver.forward_timeout", "must be more than 0 seconds")
    elif r.forward_timeout > MAX_TIMEOUT:  # (as the forwarding handler refuses it: past what a socket's timeout holds)
        err("receiver.forward_timeout", f"at most {MAX_TIMEOUT} seconds (a year)")
    if r.forward_secret and not r.forward_url:
        warn("receiver.forward_secret", "set without forward_url: nothing is forwarded", "handling")
    if r.metrics_dir and not r.metrics_path:
        warn("receiver.metrics_dir", "set without metrics_path: nothing is counted", "serving")
    elif r.metrics_dir and os.path.exists(r.metrics_dir) and not os.path.isdir(r.metrics_dir):
        err("receiver.metrics_dir", f"{r.metrics_dir} is not a folder")
    if bool(r.tls_cert) != bool(r.tls_key):
        err("receiver.tls_cert", "tls_cert and tls_key go together")
    if r.trusted_proxy and r.trusted_proxy != "*":
        try:
            ipaddress.ip_address(r.trusted_proxy)
        except ValueError:
            err("receiver.trusted_proxy",
                f"{quoted(r.trusted_proxy)} is not an IP address (nor *): the proxy's, as the server sees it")
    if r.trusted_proxy and r.tls_cert:
        err("receiver.trusted_proxy", "serving TLS itself (tls_cert), the receiver has no proxy in front")
    for name in ("tls_cert", "tls_key"):
        path = getattr(r, name)
        if path and (why := unusable_file_name(path)):
            err(f"receiver.{name}", why)
        elif path and not Path(path).is_file():
            err(f"receiver.{name}", f"no such file: {path}")
    if r.tls_client_ca and not r.tls_cert:
        err("receiver.tls_client_ca", "client certificates are asked for by a receiver serving TLS itself "
                                      "(tls_cert, tls_key); behind a proxy, the proxy asks for them")
    elif r.tls_client_ca and (why := unusable_file_name(r.tls_client_ca)):
        err("receiver.tls_client_ca", why)
    elif r.tls_client_ca and not Path(r.tls_client_ca).exists():
        err("receiver.tls_client_ca", f"no such file or folder: {r.tls_client_ca}")
    elif (r.tls_client_ca and not unusable_file_name(r.tls_cert) and not unusable_file_name(r.tls_key)
          and Path(r.tls_cert).is_file() and Path(r.tls_key).is_file()):
        from .client import TLSFileError  # noqa: PLC0415

        try:
            cfg.ssl_context()
        except TLSFileError as exc:  # (the certificate and key are serve's to refuse, as before)
            err(f"receiver.{exc.setting}", exc.why)
        except (OSError, ValueError):
            pass
    if not _listenable(r.host):
        err("receiver.host", f"{quoted(r.host)} is neither an IP address nor a name this machine resolves")
    folder = Path(r.out_dir)
    if r.out_dir and (why := unusable_file_name(r.out_dir)):
        folder = None
        if not r.forward_url:
            warn("receiver.out_dir", f"{why}: the saving handler would fail", "handling")
    while folder is not None and not folder.exists() and folder != folder.parent:
        folder = folder.parent  # (saving creates the missing folders: the first existing one must take them)
    if (folder is not None and r.out_dir and not r.forward_url
            and not (folder.is_dir() and os.access(folder, os.W_OK))):
        warn("receiver.out_dir", f"{r.out_dir} cannot be created or written: the saving handler would fail",
             "handling")
    receiver_allow = networks("receiver.allow", r.allow)
    if (r.auth == "none" and not r.allow and not (r.tls_client_ca and r.tls_cert)
            and r.host not in ("127.0.0.1", "::1", "localhost")):  # (a client certificate is credentials too)
        warn("receiver", "listening beyond loopback with neither auth, an allow-list nor client certificates",
             "serving")
    a = cfg.api
    others = [p for p in (r.path, r.metrics_path, r.health_path) if p.startswith("/")]
    if a.path and (not a.path.startswith("/") or a.path.rstrip("/") in [p.rstrip("/") for p in others]):
        err("api.path", "must start with / and differ from the receiver's path, metrics_path and health_path")
    elif a.path and (covered := [p for p in others if p.startswith(a.path.rstrip("/") + "/")]):
        # (the send API takes every path under its own: at "/", every MMSC request went to it)
        err("api.path", f"{a.path} holds {covered[0]} (the send API takes every path under its own)")
    elif a.path.startswith("/") and not a.path.rstrip("/") and r.path == "*":
        err("api.path", "/ takes every path, so the receiver at any path (receiver.path = \"*\") would get none")
    api_allow = networks("api.allow", a.allow)
    for name in ("max_recipients", "max_parts"):
        if getattr(a, name) < 1:
            err(f"api.{name}", "must be at least 1")
    if a.auth_failures < 0:
        err("api.auth_failures", "must be 0 (no limit) or more")
    if not 0 < a.auth_cooldown <= 86_400:
        err("api.auth_cooldown", "must be more than 0 seconds, at most 86400 (a day)")
    from .store import KEEP_MAX  # noqa: PLC0415

    if cfg.outbox.max_age_hours <= 0:
        err("outbox.max_age_hours", "must be more than 0")
    elif cfg.outbox.max_age_hours > KEEP_MAX.days * 24:  # (as the outbox refuses it: an expiry past the year 9999)
        err("outbox.max_age_hours", f"at most {KEEP_MAX.days * 24} (a thousand years)")
    if not 1 <= cfg.outbox.concurrency <= MAX_POOL_SIZE:  # (as the outbox refuses it: a thread an item in flight)
        err("outbox.concurrency", f"must be from 1 to {MAX_POOL_SIZE}")
    if cfg.outbox.stop_after_refused < 0:
        err("outbox.stop_after_refused", "must be 0 (never pause) or more")
    if cfg.outbox.refused_pause_minutes <= 0:
        err("outbox.refused_pause_minutes", "must be more than 0")
    elif cfg.outbox.refused_pause_max_minutes < cfg.outbox.refused_pause_minutes:
        err("outbox.refused_pause_max_minutes", "must be at least refused_pause_minutes")
    elif cfg.outbox.refused_pause_max_minutes > KEEP_MAX.days * 24 * 60:  # (as the outbox refuses it)
        err("outbox.refused_pause_max_minutes", f"at most {KEEP_MAX.days * 24 * 60} (a thousand years)")
    if a.path and not a.token and not a.allow and r.host not in ("127.0.0.1", "::1", "localhost"):
        warn("api", "the send API listens beyond loopback with neither a token nor an allow-list: anyone can send",
             "serving")
    if a.path and not a.token and _overlap(api_allow, receiver_allow):
        # (the send API shares the receiver's port: what the MMSC reaches, it reaches too)
        warn("api.allow", "admits addresses of receiver.allow (the MMSC's) and no token is set: the MMSC could "
                          "send through the API; set [api] token", "serving")
    if (a.path and a.token and a.auth_failures and not r.trusted_proxy and not r.tls_cert
            and r.host not in ("127.0.0.1", "::1", "localhost")):
        # Bearer tokens over plain HTTP beyond loopback: most likely a proxy terminating TLS in front,
        # whose address every caller then shares in the count (serving TLS itself, there is none).
        warn("api.auth_failures", "wrong tokens are counted by the caller's address, and behind a reverse proxy "
                                  "without receiver.trusted_proxy every caller has the proxy's: one caller's wrong "
                                  "tokens hold up every other for auth_cooldown; name the proxy in "
                                  "[receiver] trusted_proxy (or set auth_failures = 0)", "serving")
    if a.token and (why := bearer_token_problem(a.token)):  # (the send API refuses it in the same words)
        err("api.token", why)
    if cfg.store.durability not in ("power", "process"):
        err("store.durability", "must be power or process")
    if cfg.store.check_at_start not in ("", "quick", "full"):
        err("store.check_at_start", f"must be quick, full or empty (no check), not {quoted(cfg.store.check_at_start)}")
    for name in ("keep_days", "keep_bodies_days"):
        if getattr(cfg.store, name) < 0:
            err(f"store.{name}", "cannot be negative (0 keeps everything)")
        elif getattr(cfg.store, name) > KEEP_MAX.days:  # (the purge's cutoff would be before the year 1)
            err(f"store.{name}", f"at most {KEEP_MAX.days} (a thousand years; 0 keeps everything)")
    if 0 < cfg.store.keep_days < cfg.store.keep_bodies_days:
        warn("store.keep_bodies_days", "longer than keep_days: the records (bodies and all) go first", "serving")
    if 0 < cfg.store.keep_days < 1 or 0 < cfg.store.keep_bodies_days < 1:
        warn("store", "keeping records less than a day: an MMSC still retrying a forgotten message"
                      " gets it handled again", "serving")
    lg = cfg.logging
    if lg.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        err("logging.level", f"unknown level {quoted(lg.level)}")
    if lg.rotate not in ("size", "time", "both", "none"):
        err("logging.rotate", "must be size, time, both or none")
    try:
        import codecs  # noqa: PLC0415

        if m.charset:
            codecs.lookup(m.charset)
    except (LookupError, ValueError):  # (ValueError: a NUL in the name)
        err("mmsc.charset", f"unknown charset {quoted(m.charset)}")
    if lg.file and (why := unusable_file_name(lg.file)):
        err("logging.file", why)
    elif lg.file and not Path(lg.file).resolve().parent.is_dir():
        err("logging.file", f"the folder of {lg.file} does not exist")
    elif lg.file and Path(lg.file).is_dir():
        err("logging.file", f"{lg.file} is a folder, not a file")
    elif lg.file and not os.access(lg.file if Path(lg.file).exists() else Path(lg.file).resolve().parent, os.W_OK):
        err("logging.file", f"{lg.file} cannot be written")
    if lg.backups < 0 or lg.max_bytes < 0 or lg.interval < 1:
        err("logging", "backups and max_bytes cannot be negative; interval must be at least 1")
    if lg.rotate in ("time", "both") and not re.fullmatch(r"[SMHD]|MIDNIGHT|W[0-6]", lg.when.upper()):
        err("logging.when", f"must be S, M, H, D, midnight or W0-W6 (W0 is Monday), not {quoted(lg.when)}")
    try:  # (a format naming no such field would fail every line, each with a traceback)
        logging.Formatter(lg.format).format(logging.LogRecord("mm7bind", logging.INFO, __file__, 0, "test", (), None))
    except (ValueError, KeyError, TypeError) as exc:
        err("logging.format", f"{quoted(lg.format)} cannot format a line: {type(exc).__name__}: {exc}")
    return out

