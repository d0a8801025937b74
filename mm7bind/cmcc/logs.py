"""The SDK's log files (manual §3.2: LogPath, MmscID, logLevel, LogSize, LogInterval, LogNum).

The SDK's MM7Sender and MM7Receiver wrote them by themselves, so the API layer does too: the first
sender or receiver of a configuration adds one rotating file handler to the "mm7bind" logger, and
every later one with the same log file reuses it (several senders per configuration are usual).
logLevel 0 writes nothing. As in the SDK, each file has its own MMSC's records alone: what a sender
or receiver logs while it sends or answers goes to its configuration's file, not to the files of
the other configurations (one per MMSC, named after its MmscID) a program may use.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from ..config import Config, SizeAndTimeRotatingHandler

_handlers: dict[str, logging.Handler] = {}  # resolved log file → its handler
_lock = threading.Lock()
# The log file of the configuration whose sender or receiver is at work in this thread ("" for one
# without a file); None outside them: such records (a program's own use of mm7bind) go to every file.
_working_for: ContextVar[str | None] = ContextVar("mm7bind_cmcc_log_file", default=None)


def _key(cfg: Config) -> str:
    lg = cfg.logging
    return str(Path(lg.file).resolve()) if lg.file and lg.file != os.devnull else ""


class _OwnRecords(logging.Filter):
    def __init__(self, key: str):
        super().__init__()
        self.key = key

    def filter(self, record: logging.LogRecord) -> bool:
        working_for = _working_for.get()
        return working_for is None or working_for == self.key


@contextmanager
def logging_for(cfg: Config) -> Iterator[None]:
    """What is logged meanwhile, in this thread, goes to `cfg`'s log file only."""
    token = _working_for.set(_key(cfg))
    try:
        yield
    finally:
        _working_for.reset(token)


def logging_started(cfg: Config) -> bool:
    """Whether `cfg`'s log file is open (started by a sender or receiver of its configuration)."""
    with _lock:
        return _key(cfg) in _handlers


def start_logging(cfg: Config) -> logging.Handler | None:
    """The handler writing `cfg`'s log file, added once; None when the configuration keeps no log."""
    lg = cfg.logging
    key = _key(cfg)
    if not key:  # no LogPath, or logLevel 0
        return None
    with _lock:
        handler = _handlers.get(key)
        if handler is None:
            Path(key).parent.mkdir(parents=True, exist_ok=True)  # the SDK created its files there
            handler = SizeAndTimeRotatingHandler(key, max_bytes=lg.max_bytes, when=lg.when, interval=lg.interval,
                                                 backups=lg.backups)
            handler.setFormatter(logging.Formatter(lg.format))
            level = logging.getLevelName(lg.level.upper())
            handler.setLevel(level)
            handler.addFilter(_OwnRecords(key))
            logger = logging.getLogger("mm7bind")
            if logger.level == logging.NOTSET or logger.level > level:
                logger.setLevel(level)  # records below the logger's level would never reach the file
            logger.addHandler(handler)
            _handlers[key] = handler
    return handler


def stop_logging() -> None:
    """Close every log file started here (at the end of a program or a test)."""
    with _lock:
        logger = logging.getLogger("mm7bind")
        for handler in _handlers.values():
            logger.removeHandler(handler)
            handler.close()
        _handlers.clear()
