"""Counters and timings of what the client sent and the receiver received, in Prometheus' text
format (for a scraper, `mm7bind serve`'s metrics path) and as plain numbers (for code and tests).

Give one `Metrics` to a `Client` and a `Receiver` (`metrics=`; a `SendApi` counts in its client's);
nothing is counted without one.
Updating costs a lock and a dict lookup, so it stays on in production.

Counters and histograms live in their process. With `shared_dir` (several worker processes, as
gunicorn's) each process also writes its own to a file of that folder, and a scrape reaching any of
them sums every file there: whole counts, which go on counting the processes that ended.
"""

from __future__ import annotations

import atexit
import bisect
import json
import logging
import math
import os
import re
import secrets
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable

from .errors import STORE_ERRORS
from .status import lookup

log = logging.getLogger("mm7bind.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text exposition format

# Seconds; MM7 requests take milliseconds on a LAN and seconds when an MMSC is struggling.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HELP = {
    "mm7bind_sent_total": ("counter", "Requests the client finished, by operation, outcome (ok, refused: an MM7 "
                                      "status other than 1xxx or a Fault, error: no answer) and MM7 status code."),
    "mm7bind_sent_earlier_unanswered_total": ("counter", "Requests the MMSC accepted after an attempt that got no "
                                                         "answer (of mm7bind_sent_total's ok, by operation): it may "
                                                         "have taken them twice."),
    "mm7bind_send_attempts_total": ("counter", "HTTP attempts the client made (retries and fail-over included), "
                                               "by operation."),
    "mm7bind_send_seconds": ("histogram", "Time from the first attempt to the outcome, retries included, by "
                                          "operation."),
    "mm7bind_received_total": ("counter", "Requests the receiver answered, by operation, outcome (handled, "
                                          "rejected, failed, repeat, malformed, unsupported, challenged: a 401 to no "
                                          "or outdated credentials, unauthorized: a 401 to wrong ones or to a Digest "
                                          "answer spent already, throttled: a 429 to an address in its cool-down after "
                                          "too many wrong credentials, forbidden, "
                                          "too_large, incomplete: a request cut short, in its headers or its body, not_post, store_error, "
                                          "internal_error) and status code."),
    "mm7bind_replayed_total": ("counter", "Stored messages handed to the handler again by a replay (no request "
                                          "came), by operation, outcome (handled, rejected, failed) and status code."),
    "mm7bind_receive_seconds": ("histogram", "Time to decode, store, handle and answer a request, by operation (as "
                                              "mm7bind_received_total)."),
    "mm7bind_deviations_total": ("counter", "Tolerated deviations from the schema in received messages, by code."),
    "mm7bind_inbox_messages": ("gauge", "Stored messages by state, handled ones aside: failed (waiting for "
                                        "replay), processing (in a handler's hands), rejected (refused by the "
                                        "handler, kept until purged)."),
    "mm7bind_api_requests_total": ("counter", "Requests the send API answered, by operation (send, cancel, queue: a "
                                              "GET /queue/<id>, or empty: no such path) and outcome (ok, refused: an "
                                              "MMSC's answer other than a success, error: no MM7 answer (502), queued, "
                                              "repeat: answered as the first request under its transaction_id, found: "
                                              "a queued item looked up, bad_request, challenged: a 401 to no bearer "
                                              "token, unauthorized: a 401 to a wrong one, throttled: a 429 to an "
                                              "address in its cool-down after too many wrong tokens, forbidden, "
                                              "not_found, not_allowed, conflict, too_large, store_error)."),
    "mm7bind_api_request_seconds": ("histogram", "Time the send API took to answer a request, its body read, by "
                                                 "operation (as mm7bind_api_requests_total): a send's includes the "
                                                 "MMSC's answer, retries and the client's rate limit included."),
    "mm7bind_outbox_items": ("gauge", "Outbox items by state: queued (waiting to be sent), sending, sent, "
                                      "expired and failed (not sent)."),
    "mm7bind_outbox_refusal_paused": ("gauge", "Outbox workers whose sending is paused because the MMSC refused "
                                               "stop_after_refused requests in a row alike (credentials it refuses: "
                                               "4001, an HTTP 401 or 403): 1 while one is, else 0."),
}


# The format's names; "le" is a histogram bucket's own label, and names starting "__" Prometheus keeps.
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
_SURROGATE = re.compile("[\ud800-\udfff]")

# Shared mode: a process's file is named by its pid and a token of its own, so that a pid given again
# later (or a forked child) never writes over another process's counts; a file being written is
# hidden ("." first) until it is whole.
_SHARED_FILE = re.compile(r"mm7bind-metrics-(\d+)-([0-9a-f]{16})\.json")
# A file being written by a process killed meanwhile: removed by a scrape once older than a write
# could ever take, not left to pile up over the deployments.
_LEFT_TEMPORARY = re.compile(r"\.mm7bind-metrics-.*\.tmp")
STALE_TEMPORARY = 600.0  # seconds
WRITE_INTERVAL = 1.0  # seconds: a change reaches the file within about this
MAX_SHARED_FILES = 10_000  # files read per scrape, beyond which the rest are left out (with a WARNING)
MAX_SHARED_FILE_BYTES = 4 * 1024 * 1024  # a larger file is skipped: a scrape's memory stays bounded
MAX_SHARED_SERIES = 100_000  # label sets summed over the files, beyond which a file is skipped
_FORMAT = 1

_Key = tuple[str, tuple[tuple[str, str], ...]]


class _Unwritable(ValueError):
    """A gauge's sample the text format cannot carry (its label's name)."""


class _Histogram:
    __slots__ = ("counts", "total", "count")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0.0
        self.count = 0


class Metrics:
    """Thread-safe counters and histograms with labels; `render()` writes them for Prometheus.

    `shared_dir`: a folder the processes of one service share (created if missing). Each writes its
    counters and histograms to its own file there (within `WRITE_INTERVAL` of a change, at
    `render()`, at `flush()` and at exit), and `render()` sums every process's by name and labels.
    A process that ended stays counted, so the totals only go up: empty the folder when the whole
    service is (re)deployed, not when one worker restarts. Gauges are read live, not summed."""

    def __init__(self, shared_dir: str | os.PathLike | None = None) -> None:
        self._lock = threading.Lock()
        self._counters: dict[_Key, float] = {}
        self._histograms: dict[_Key, _Histogram] = {}
        self._gauges: dict[str, Callable[[], Iterable[tuple[dict[str, str], float]]]] = {}
        self._watched: dict[str, dict[object, object]] = {}  # gauge name → the stores it sums, by identity
        self._kinds = {name: kind for name, (kind, _) in HELP.items()}  # each name's one kind: counter, ...
        self._unreadable: dict[str, str] = {}  # gauge name → what it failed with last (said once)
        self._watched_outboxes: weakref.WeakSet = weakref.WeakSet()  # (their pauses after refusals)
        self.shared_dir = None if shared_dir is None else os.fspath(shared_dir)
        if self.shared_dir is not None:
            os.makedirs(self.shared_dir, exist_ok=True)
            self._file_lock = threading.Lock()  # (writes in the order of their snapshots)
            self._skipped: dict[str, str] = {}  # file name → why it was skipped last (said once)
            self._own_file()
            _SHARED.add(self)

    def _own_file(self) -> None:
        """A name for this process's file, and nothing of it written yet."""
        self._file = f"mm7bind-metrics-{os.getpid()}-{secrets.token_hex(8)}.json"
        self._dirty = False  # changed since last written
        self._writer: threading.Thread | None = None

    def inc(self, name: str, amount: float = 1, **labels: object) -> None:
        """Add `amount` (0 or more: a counter only goes up, and a scraper takes a fall for a restart)."""
        if not amount >= 0:  # (NaN too)
            raise ValueError(f"a counter only goes up: {name} cannot be increased by {amount!r}")
        key = (name, _labels(labels))
        with self._lock:
            if key not in self._counters:  # (checked once per label set: updating stays a lookup)
                self._check(name, "counter", key[1])
            self._counters[key] = self._counters.get(key, 0) + amount
            if self.shared_dir is not None and not self._dirty:
                self._changed()

    def observe(self, name: str, seconds: float, **labels: object) -> None:
        """Add a timing to a histogram (its buckets, sum and count)."""
        if math.isnan(seconds):  # (its sum would be NaN for good, and it went into the first bucket)
            raise ValueError(f"{name}: a timing cannot be NaN")
        key = (name, _labels(labels))
        with self._lock:
            h = self._histograms.get(key)
            if h is None:
                self._check(name, "histogram", key[1])
                h = self._histograms[key] = _Histogram()
            i = bisect.bisect_left(BUCKETS, seconds)
            if i < len(BUCKETS):
                h.counts[i] += 1
            h.total += seconds
            h.count += 1
            if self.shared_dir is not None and not self._dirty:
                self._changed()

    def gauge(self, name: str, read: Callable[[], Iterable[tuple[dict[str, str], float]]]) -> None:
        """A value read when the metrics are rendered: `read()` → [(labels, value), ...]."""
        with self._lock:
            self._check(name, "gauge", ())
        self._gauges[name] = read

    def _check(self, name: str, kind: str, labels: tuple[tuple[str, str], ...]) -> None:
        """Refuse (ValueError) what would make the text unreadable to a scraper: a name or label
        name outside the format's, a name used as two kinds (one TYPE line for both), a name one
        of a histogram's series would also have ("x_count" beside histogram "x"). Under the lock."""
        _check(self._kinds, name, kind, labels)

    def value(self, name: str, **labels: object) -> float:
        """The sum of a counter over every label set that has `labels` (all of them without), as
        this process counted it (with `shared_dir`, `render()` has every process's sums)."""
        want = set(_labels(labels))
        with self._lock:
            return sum(v for (n, ls), v in self._counters.items() if n == name and want <= set(ls))

    def count(self, name: str, **labels: object) -> int:
        """How many timings a histogram holds over every label set that has `labels`, in this
        process (as `value`)."""
        want = set(_labels(labels))
        with self._lock:
            return sum(h.count for (n, ls), h in self._histograms.items() if n == name and want <= set(ls))

    # -- the two sides' events ----------------------------------------------------------------

    def sent(self, operation: str, outcome: str, status: int | None, attempts: int, seconds: float,
             earlier_unanswered: bool = False) -> None:
        """`earlier_unanswered`: accepted after an attempt that got no answer (perhaps twice)."""
        self.inc("mm7bind_sent_total", operation=operation, outcome=outcome, status=_status(status))
        if earlier_unanswered:
            self.inc("mm7bind_sent_earlier_unanswered_total", operation=operation)
        self.inc("mm7bind_send_attempts_total", attempts, operation=operation)
        self.observe("mm7bind_send_seconds", seconds, operation=operation)

    def received(self, operation: str | None, outcome: str, status: int | None, seconds: float | None,
                 deviations: Iterable = ()) -> None:
        """One request the receiver took or refused: its outcome, its timing (None: not known, as
        for a request cut short whose start the server did not say: counted, not timed, rather than
        taken as 0 s), its deviations' codes."""
        self.inc("mm7bind_received_total", operation=operation or "", outcome=outcome, status=_status(status))
        if seconds is not None:
            self.observe("mm7bind_receive_seconds", seconds, operation=operation or "")
        for d in deviations:
            self.inc("mm7bind_deviations_total", code=d.code)

    def replayed(self, operation: str, outcome: str, status: int | None) -> None:
        """One stored message `replay()` handed to the handler again, and how it went."""
        self.inc("mm7bind_replayed_total", operation=operation, outcome=outcome, status=_status(status))

    def api_answered(self, operation: str, outcome: str, seconds: float) -> None:
        """One request the send API answered: its outcome, and how long the answer took."""
        self.inc("mm7bind_api_requests_total", operation=operation, outcome=outcome)
        self.observe("mm7bind_api_request_seconds", seconds, operation=operation)

    def watch_inbox(self, store) -> None:
        """Report the store's unhandled messages (failed, processing, rejected) as a gauge: summed
        over every store watched (two receivers sharing these metrics, each with its store), each
        store counted once however often it is watched."""
        self._watch("mm7bind_inbox_messages", store, "open_counts")

    def watch_outbox(self, store) -> None:
        """Report the store's outbox items by state as a gauge (summed as `watch_inbox`'s)."""
        self._watch("mm7bind_outbox_items", store, "outbox_counts")

    def watch_outbox_pause(self, outbox) -> None:
        """Report how many of the outboxes watched have their sending paused after refusals alike
        (`Outbox.paused_by_refusal`): 0 or 1 for the one worker `serve` runs."""
        with self._lock:  # (weakly: an outbox a reload replaced no longer counts once it is gone)
            outboxes = self._watched_outboxes
            outboxes.add(outbox)

        def read() -> list[tuple[dict[str, str], float]]:
            with self._lock:
                watched = list(outboxes)
            return [({}, sum(1 for each in watched if each.paused_by_refusal()))]

        self.gauge("mm7bind_outbox_refusal_paused", read)

    def _watch(self, name: str, store, method: str) -> None:
        with self._lock:
            stores = self._watched.setdefault(name, {})
            stores.setdefault(_store_key(store), store)

        def read() -> list[tuple[dict[str, str], float]]:
            # The stores watched when read, not when this was made: two receivers made at once in
            # two threads would otherwise leave whichever registered last, with one store only.
            with self._lock:
                watched = list(stores.values())
            total: dict[str, float] = {}
            for each in watched:
                for state, n in getattr(each, method)().items():
                    total[state] = total.get(state, 0) + n
            return [({"state": state}, n) for state, n in total.items()]

        self.gauge(name, read)

    # -- exposition ---------------------------------------------------------------------------

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4 (with `shared_dir`, the counters and histograms
        summed over every process's file, this one's written first)."""
        if self.shared_dir is None:
            with self._lock:
                counters, histograms = self._snapshot()
            kinds = self._kinds
        else:
            counters, histograms, kinds = self._summed()
        gauges = {}
        for name, read in list(self._gauges.items()):
            try:
                samples = [(_labels(ls), v) for ls, v in read()]
                with self._lock:  # (a gauge's labels are known when read: checked as a counter's are)
                    try:
                        for ls, _ in samples:
                            self._check(name, "gauge", ls)
                    except ValueError as exc:
                        raise _Unwritable(str(exc)) from None
                gauges[name] = samples
            except _Unwritable as exc:  # (a label the format has no room for: the gauge is left out, the
                # text stays readable; written as it was, a scraper refused the whole of it)
                if self._failed(name, str(exc)):
                    log.warning("metrics: %s left out: %s", name, exc)
            except STORE_ERRORS as exc:  # a store that cannot answer now: the counters still go out
                if self._failed(name, f"{type(exc).__name__}: {exc}"):
                    log.warning("metrics: %s could not be read: %s: %s", name, type(exc).__name__, exc)
            except Exception as exc:  # noqa: BLE001 (anything else: a bug's traceback, and the rest still goes out)
                if self._failed(name, repr(exc)):
                    log.warning("metrics: %s could not be read", name, exc_info=True)
            else:
                with self._lock:
                    was = self._unreadable.pop(name, None)
                if was is not None:
                    log.info("metrics: %s read again", name)
        names = sorted({n for n, _ in counters} | {n for n, _ in histograms} | set(gauges))
        out: list[str] = []
        for name in names:
            kind, text = HELP.get(name, (kinds.get(name, "untyped"), name))
            if kind == "counter" and not name.endswith("_total"):  # (a counter's name ends so: an own one
                kind = "untyped"  # named otherwise goes out as before, its samples as they are)
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")
            for (n, ls), v in sorted(counters.items()):
                if n == name:
                    out.append(f"{name}{_text(ls)} {_number(v)}")
            for (n, ls), (counts, total, count) in sorted(histograms.items()):
                if n != name:
                    continue
                running = 0
                for bound, c in zip(BUCKETS, counts, strict=True):
                    running += c
                    out.append(f"{name}_bucket{_text(ls + (('le', _number(bound)),))} {running}")
                out.append(f"{name}_bucket{_text(ls + (('le', '+Inf'),))} {count}")
                out.append(f"{name}_sum{_text(ls)} {_number(total)}")
                out.append(f"{name}_count{_text(ls)} {count}")
            for ls, v in sorted(gauges.get(name, ())):
                out.append(f"{name}{_text(ls)} {_number(v)}")
        return "".join(line + "\n" for line in out)  # (nothing counted yet: no line, not an empty one)

    def _snapshot(self) -> tuple[dict[_Key, float], dict[_Key, tuple[list[int], float, int]]]:
        """The counters and histograms as they are now. Under the lock."""
        return dict(self._counters), {k: (list(h.counts), h.total, h.count) for k, h in self._histograms.items()}

    # -- shared mode: a file per process ------------------------------------------------------

    def flush(self) -> None:
        """Write this process's counters and histograms to its file now (with `shared_dir`; done
        by itself within `WRITE_INTERVAL` of a change, at `render()` and at exit), as before an
        `os._exit`, which skips the last."""
        if self.shared_dir is not None:
            self._write_own()

    def _changed(self) -> None:
        """Have the file written soon, by a thread living while changes come. Under the lock."""
        self._dirty = True
        if self._writer is None:
            writer = threading.Thread(target=self._write_soon, name="mm7bind-metrics-writer", daemon=True)
            try:
                writer.start()
            except RuntimeError:  # (the interpreter is ending: the write at exit takes it)
                return
            self._writer = writer

    def _write_soon(self) -> None:
        while True:
            time.sleep(WRITE_INTERVAL)  # (a burst of changes is one write)
            with self._lock:
                if not self._dirty:
                    self._writer = None
                    return
            self._write_own()

    def _write_own(self) -> tuple[dict[_Key, float], dict[_Key, tuple[list[int], float, int]]]:
        """Write this process's file (a whole one, never half: written aside, then renamed over
        it); what was written, in memory even when writing failed."""
        with self._file_lock:  # (snapshots taken and written in one order: the file never goes back)
            with self._lock:
                counters, histograms = self._snapshot()
                self._dirty = False
                name = self._file
            doc = {"format": _FORMAT, "pid": os.getpid(),
                   "counters": [[n, ls, v] for (n, ls), v in counters.items()],
                   "histograms": [[n, ls, *h] for (n, ls), h in histograms.items()]}
            data = json.dumps(doc, separators=(",", ":")).encode("ascii")
            try:
                fd, temporary = tempfile.mkstemp(prefix=".mm7bind-metrics-", suffix=".tmp", dir=self.shared_dir)
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                    os.replace(temporary, os.path.join(self.shared_dir, name))
                except BaseException:
                    try:
                        os.unlink(temporary)
                    except OSError:
                        pass
                    raise
            except OSError as exc:  # (the counts stay in memory: written with the next change)
                if self._skip(name, f"could not be written: {type(exc).__name__}: {exc}"):
                    log.warning("metrics: %s could not be written: %s: %s", os.path.join(self.shared_dir, name),
                                type(exc).__name__, exc)
            else:
                if len(data) > MAX_SHARED_FILE_BYTES and self._skip(name, "too large"):
                    log.warning("metrics: %s holds %d bytes, more than the %d other processes read: too many "
                                "label sets", os.path.join(self.shared_dir, name), len(data), MAX_SHARED_FILE_BYTES)
                elif len(data) <= MAX_SHARED_FILE_BYTES:
                    with self._lock:
                        self._skipped.pop(name, None)
        return counters, histograms

    def _summed(self) -> tuple[dict[_Key, float], dict[_Key, tuple[list[int], float, int]], dict[str, str]]:
        """This process's counters and histograms (its file written) plus every other process's
        file in the folder, and the kinds of their names. A file that cannot be read or makes no
        sense is left out, with one WARNING."""
        counters, histograms = self._write_own()
        with self._lock:
            kinds = dict(self._kinds)
            own = self._file
        seen = {own}
        try:
            listing = os.scandir(self.shared_dir)
        except OSError as exc:
            if self._skip("", f"{type(exc).__name__}: {exc}"):
                log.warning("metrics: the folder %s could not be read, only this process's counts go out: %s: %s",
                            self.shared_dir, type(exc).__name__, exc)
            return counters, histograms, kinds
        with listing:
            for entry in listing:
                if entry.name == own or not _SHARED_FILE.fullmatch(entry.name):
                    if _LEFT_TEMPORARY.fullmatch(entry.name):
                        _remove_if_stale(entry)
                    continue  # (not a process's file: another program's, or one being written)
                if len(seen) > MAX_SHARED_FILES:
                    if self._skip("", "too many files"):
                        log.warning("metrics: more than %d files in %s: the others are left out of the sums "
                                    "(empty it when the service is deployed)", MAX_SHARED_FILES, self.shared_dir)
                    break
                seen.add(entry.name)
                try:
                    theirs = _read_shared(entry.path, kinds)
                except FileNotFoundError:  # (removed meanwhile: the folder emptied)
                    continue
                except (OSError, _Unreadable) as exc:
                    why = f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)
                    if self._skip(entry.name, why):
                        log.warning("metrics: %s left out of the sums: %s", entry.path, why)
                    continue
                their_counters, their_histograms, kinds = theirs
                new = ({k for k, _ in their_counters} - counters.keys()) | (
                    {k for k, *_ in their_histograms} - histograms.keys())
                if len(counters) + len(histograms) + len(new) > MAX_SHARED_SERIES:
                    if self._skip(entry.name, "too many label sets"):
                        log.warning("metrics: %s left out of the sums: more than %d label sets in all",
                                    entry.path, MAX_SHARED_SERIES)
                    continue
                for key, v in their_counters:
                    counters[key] = counters.get(key, 0) + v
                for key, counts, total, count in their_histograms:
                    mine = histograms.get(key)
                    histograms[key] = (counts, total, count) if mine is None else (
                        [a + b for a, b in zip(mine[0], counts, strict=True)], mine[1] + total, mine[2] + count)
                with self._lock:
                    self._skipped.pop(entry.name, None)
        with self._lock:  # (what was said of files gone since is forgotten: a name is never seen again)
            for name in [n for n in self._skipped if n and n not in seen]:
                del self._skipped[name]
            if len(seen) <= MAX_SHARED_FILES:
                self._skipped.pop("", None)
        return counters, histograms, kinds

    def _skip(self, name: str, why: str) -> bool:
        """Whether a file's trouble is news to log (as `_failed`: not a line a scrape)."""
        with self._lock:
            news = self._skipped.get(name) != why
            self._skipped[name] = why
        if not news:
            log.debug("metrics: %s: still %s", name or self.shared_dir, why)
        return news

    def _failed(self, name: str, why: str) -> bool:
        """Whether a gauge's failure is news to log: a scraper asks every few seconds, and a store
        locked for an hour made a line each time; said again once it fails otherwise, or was read."""
        with self._lock:
            news = self._unreadable.get(name) != why
            self._unreadable[name] = why
        if not news:
            log.debug("metrics: %s could not be read, still: %s", name, why)
        return news

    def wsgi_app(self, environ: dict, start_response: Callable) -> list[bytes]:
        """The metrics as a WSGI app (GET only)."""
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")])
            return [b"metrics take GET\n"]
        body = self.render().encode("utf-8")
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body] if environ.get("REQUEST_METHOD", "GET") == "GET" else []


def _check(kinds: dict[str, str], name: str, kind: str, labels: tuple[tuple[str, str], ...]) -> None:
    """`Metrics._check` against `kinds` (each name's kind, which a new name joins)."""
    known = kinds.get(name)
    if known is None:
        if not _METRIC_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a metric name: letters, digits, _ and :, not first a digit")
        for other, other_kind in kinds.items():
            for histogram, series in ((name, other), (other, name)):
                if (kind if histogram == name else other_kind) == "histogram" and series in {
                        histogram + s for s in _HISTOGRAM_SERIES}:
                    raise ValueError(f"{series} would be read as a series of histogram {histogram} "
                                     f"({histogram}_bucket, _sum, _count)")
        kinds[name] = kind
    elif known != kind:
        raise ValueError(f"{name} is a {known}, not a {kind}")
    for label, value in labels:
        if _SURROGATE.search(value):  # (the text is UTF-8: encoding it failed every scrape after)
            raise ValueError(f"{name}: label {label}={value!r} holds half a character (a lone surrogate), "
                             "which UTF-8 cannot write")
        if not _LABEL_NAME.fullmatch(label) or label.startswith("__") or (kind == "histogram" and label == "le"):
            raise ValueError(f"{label!r} cannot name a label of {name}: letters, digits and _, not first a digit, "
                             "not starting __" + (", not le (the buckets')" if kind == "histogram" else ""))


class _Unreadable(ValueError):
    """Another process's file that makes no sense (cut short, not ours, of another version)."""


def _read_shared(path: str, kinds: dict[str, str]):
    """Another process's counters [(key, value)] and histograms [(key, counts, total, count)], and
    `kinds` with their names added; `_Unreadable` for a file that is not whole and sound, so that
    one bad file spoils none of the sums."""
    with open(path, "rb") as f:
        data = f.read(MAX_SHARED_FILE_BYTES + 1)
    if len(data) > MAX_SHARED_FILE_BYTES:
        raise _Unreadable(f"larger than {MAX_SHARED_FILE_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError too; RecursionError: nested deep)
        raise _Unreadable(f"not whole JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise _Unreadable("not a metrics file of this version")
    kinds = dict(kinds)  # (a file refused adds no name)
    counters: list[tuple[_Key, float]] = []
    histograms: list[tuple[_Key, list[int], float, int]] = []
    try:
        for name, labels, v in _items(doc, "counters", 3):
            if not _is_number(v) or not v >= 0:
                raise _Unreadable(f"{name}: {v!r} is no counter's value")
            counters.append((_checked(kinds, name, "counter", labels), v))
        for name, labels, counts, total, count in _items(doc, "histograms", 5):
            if not (isinstance(counts, list) and len(counts) == len(BUCKETS) and _is_number(total)
                    and all(_is_count(c) for c in counts) and _is_count(count) and count >= sum(counts)):
                raise _Unreadable(f"{name}: not a histogram of these buckets")
            histograms.append((_checked(kinds, name, "histogram", labels), counts, total, count))
    except ValueError as exc:  # (what a process of ours would have refused to count: not its file)
        raise _Unreadable(str(exc)) from None
    return counters, histograms, kinds


def _remove_if_stale(entry: os.DirEntry) -> None:
    """Remove a process's temporary file not renamed into place `STALE_TEMPORARY` seconds on."""
    try:
        if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMPORARY:
            os.unlink(entry.path)
    except OSError:  # (removed meanwhile, or not ours to remove: left)
        pass


def _items(doc: dict, part: str, size: int) -> list[list]:
    items = doc.get(part, [])
    if not isinstance(items, list) or not all(isinstance(i, list) and len(i) == size for i in items):
        raise _Unreadable(f"its {part} are not lists of {size}")
    return items


def _checked(kinds: dict[str, str], name: object, kind: str, labels: object) -> _Key:
    if not isinstance(name, str) or not isinstance(labels, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in labels):
        raise _Unreadable(f"{name!r}: not a name and labels")
    key = (name, tuple(sorted((k, v) for k, v in labels)))
    if len({k for k, _ in key[1]}) != len(key[1]):
        raise _Unreadable(f"{name}: a label named twice")
    _check(kinds, name, kind, key[1])
    return key


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


_SHARED: weakref.WeakSet = weakref.WeakSet()  # the shared-mode Metrics of this process


@atexit.register
def _flush_at_exit() -> None:
    for metrics in list(_SHARED):
        try:
            metrics.flush()
        except Exception:  # noqa: BLE001 (one's trouble keeps no other's counts from their file)
            log.warning("metrics: could not write %s at exit", metrics.shared_dir, exc_info=True)


def _after_fork_in_child() -> None:
    """A forked child counts from nothing in a file of its own: what it inherited is its parent's,
    in the parent's file (and the locks may have been held by a thread that is not here)."""
    for metrics in list(_SHARED):
        metrics._lock = threading.Lock()
        metrics._file_lock = threading.Lock()
        metrics._counters = {}
        metrics._histograms = {}
        metrics._own_file()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _store_key(store) -> object:
    """What makes two store objects one store: the same file (two SqliteStores opened on one path
    hold the same messages), else the object itself."""
    path = getattr(store, "path", None)
    if isinstance(path, str) and path != ":memory:":
        return ("file", os.path.realpath(path))
    return ("object", id(store))


def _labels(labels: dict) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, "" if v is None else str(v)) for k, v in labels.items()))


def _status(status: int | None) -> str:
    """A status code as a label: codes TS 23.140 defines as they are, any other by its class
    ("2xxx"), so a peer sending made-up codes cannot grow the label sets without bound."""
    if status is None:
        return ""
    if lookup(status).release:
        return str(status)
    return f"{status // 1000}xxx" if 1000 <= status < 5000 else "other"


def _text(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):  # (Python's "inf", "nan" are not the format's)
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, int) or (math.isfinite(value) and value == int(value) and abs(value) < 1e15):
        return str(int(value))
    return repr(float(value))
