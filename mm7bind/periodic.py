"""Background work on a schedule (the store's retention, the outbox's sender)."""

from __future__ import annotations

import logging
import threading
from typing import Any, Self

from .deadline import MAX_TIMEOUT, wait_limit
from .errors import STORE_ERRORS, StoreClosed, disk_full

log = logging.getLogger("mm7bind")


def seconds_between_rounds(name: str, value: Any) -> float:
    """`value` (the setting called `name`) as a worker's pause between rounds, or ValueError: a
    pause of 0 or less, or NaN, ran round after round without one (thousands of store queries a
    second); an infinite one, or one past what a wait can hold (1e10: an OverflowError from the
    clock), ended the worker at its first wait. A timeout is checked with it too
    (ForwardingHandler): the same positive seconds, at most a year, as the client's timeouts."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
        raise ValueError(f"{name} must be a positive number of seconds, at most {MAX_TIMEOUT} (a year), "
                         f"not {value!r}")
    return float(value)


class Periodic:
    """Runs `run_once()` in a daemon thread every `interval` seconds, sooner when `wake()`d, until
    `stop()`. A round that fails is logged and the next one comes as usual: the store being busy
    or a disk full for a while must not end the work for good."""

    name = "mm7bind-periodic"
    interval = 60.0
    on_full_disk = "free some space there"  # what a full disk asks of the operator, for this work

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()  # the running worker's; each worker has its own
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._worker = threading.local()  # (in a worker's thread: the stop it was given)

    def run_once(self) -> Any:  # pragma: no cover (each subclass has its own)
        raise NotImplementedError

    def start(self) -> Self:
        with self._starting:
            if self._thread is not None and self._thread.is_alive() and not self._stop.is_set():
                return self  # (one worker per object)
            # A worker told to stop may still be in its round (stop() stopped waiting for it): it
            # keeps the stop it was given and ends after that round; the new one gets its own.
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self.name, daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        """Have the next round start now rather than at the end of the interval."""
        self._wake.set()

    def _stopping(self) -> threading.Event:
        """The stop that ends the round in hand: in a worker's thread, the one it was started with
        (a worker stopped and followed by another, by stop() and start(), ends its round by its
        own, not by the new worker's); elsewhere (run_once called directly), the latest one."""
        return getattr(self._worker, "stop", None) or self._stop

    def _run(self, stop: threading.Event) -> None:
        self._worker.stop = stop
        failing: str | None = None  # the trouble the last round ended in: said once, not every round
        while not stop.is_set():
            try:
                self.run_once()
            except StoreClosed:  # (closed under it, by the application: no later round can use it either)
                if not stop.is_set():
                    log.warning("%s: its store was closed while it ran: the worker ends", self.name)
                return
            except STORE_ERRORS as exc:  # a full disk, a locked file: one line, again only when it changes
                trouble = f"{type(exc).__name__}: {exc}"
                if trouble != failing and disk_full(exc):
                    log.error("%s: the disk holding the store is full (%s): %s; trying again every %g s", self.name,
                              trouble, self.on_full_disk, self.interval)
                elif trouble != failing:
                    log.error("%s: the store cannot be used (%s); trying again every %g s", self.name, trouble,
                              self.interval)
                failing = trouble
            except Exception:  # noqa: BLE001 (see the class's text)
                log.exception("%s: a round failed", self.name)
                failing = None
            else:
                if failing is not None:
                    log.info("%s: the store works again", self.name)
                failing = None
            self._wake.wait(self.interval)
            self._wake.clear()

    def running(self) -> bool:
        """Whether the worker thread is still at work (after `stop`: still finishing a round)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """End the worker: it starts no new round, and the one in hand gets up to `timeout` seconds
        to end (`running()` tells whether it has; None, inf or past a year: waited for)."""
        timeout = wait_limit(timeout)  # (1e10 or inf raised an OverflowError from the thread's join)
        with self._starting:
            self._stop.set()
            self._wake.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
