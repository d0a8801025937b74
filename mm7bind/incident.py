"""A failure that repeats, said once: the first one (or one failing otherwise than before) begins
an incident, said in full; the rest are counted; the first success after it ends it, told once with
how many failed and for how long — one line an incident, not one a message on the very disk that
is full. Shared by the threads of a client or a receiver."""

from __future__ import annotations

import threading
import time
from typing import NamedTuple


class Ended(NamedTuple):
    said: str  # the failure as it was said when the incident began (or last changed)
    count: int  # failures counted, the first included
    seconds: float  # from the first failure to the success that ended it


class Incident:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: tuple[str, float, int] | None = None  # (the failure as said, when it began, how many)

    def failed(self, said: str) -> bool:
        """Count one failure, `said` as its caller says it; whether it begins an incident (the caller
        says it in full then, and at a lower level otherwise)."""
        with self._lock:
            begins = self._open is None or self._open[0] != said
            since, count = (time.monotonic(), 0) if self._open is None else self._open[1:]
            self._open = (said, since, count + 1)
        return begins

    def over(self) -> Ended | None:
        """A success: the incident it ends, once (None when none was open)."""
        if self._open is None:  # (every success but the first after an incident: no lock taken)
            return None
        with self._lock:
            ended, self._open = self._open, None
        if ended is None:  # (another thread's success ended it first)
            return None
        return Ended(ended[0], ended[2], time.monotonic() - ended[1])
