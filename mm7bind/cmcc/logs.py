"""The SDK's log files (manual §3.2: LogPath, MmscID, logLevel, LogSize, LogInterval, LogNum).

The SDK's MM7Sender and MM7Receiver wrote them by themselves, so the API layer does too: the first
sender or receiver of a configuration adds one rotating file handler to the "mm7bind" logger, and
every later one with the same log file reuses it (several senders per configuration are usual).
logLevel 0 writes nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ..config import Config, SizeAndTimeRotatingHandler

_handlers: dict[str, logging.Handler] = {}  # resolved log file → its handler
_lock = threading.Lock()


def start_logging(cfg: Config) -> logging.Handler | None:
    """The handler writing `cfg`'s log file, added once; None when the configuration keeps no log."""
    lg = cfg.logging
    if not lg.file or lg.file == os.devnull:  # no LogPath, or logLevel 0
        return None
    key = str(Path(lg.file).resolve())
    with _lock:
        handler = _handlers.get(key)
        if handler is None:
            Path(key).parent.mkdir(parents=True, exist_ok=True)  # the SDK created its files there
            handler = SizeAndTimeRotatingHandler(key, max_bytes=lg.max_bytes, when=lg.when, interval=lg.interval,
                                                 backups=lg.backups)
            handler.setFormatter(logging.Formatter(lg.format))
            level = logging.getLevelName(lg.level.upper())
            handler.setLevel(level)
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
