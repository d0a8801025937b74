"""A failure that repeats, said once: the first one (or one failing otherwise than before) begins
an incident, said in full; the rest are counted; the first success after it ends it, told once with
how many failed and for how long — one line an incident, not one a message on the very disk that
is full. Shared by the threads of a client or a receiver. Work a store does for every process on
its file is done by the process alone while the store fails (`StoreDetour`), and where it cannot
(`takes_shared_work`)."""

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


def takes_shared_work(store, method: str) -> bool:  # noqa: ANN001
    """Whether `store` can do `method`, work it does for every process on its file (`rate_reserve`,
    `auth_failed`): it has the method (a store of one's own may not), and is not read-only (each
    write failing, said as a store in trouble)."""
    return getattr(store, method, None) is not None and not getattr(store, "read_only", False)


class StoreDetour:
    """Work a store does for every process on its file (the clients' rate-limit turns, the count of
    wrong credentials), done by this process alone while the store fails: an `Incident` (one
    WARNING on `log` as it begins, `begins(said)`, and one as it ends, `ends(count, seconds)`), and
    the store asked again only `retry_after` seconds after it failed — a store locked for minutes
    (a vacuum elsewhere) held every caller for its lock's wait, not one now and then."""

    def __init__(self, log, begins, ends, retry_after: float) -> None:  # noqa: ANN001
        self.log, self.begins, self.ends, self.retry_after = log, begins, ends, retry_after
        self._incident = Incident()
        self._until, self._said = 0.0, ""  # (monotonic: when to ask the store again; its failure as said)

    def asking(self) -> bool:
        """Whether to ask the store now; when not, the caller's turn alone is counted in the incident."""
        if self._until and time.monotonic() < self._until:
            self._incident.failed(self._said)
            return False
        return True

    def failed(self, exc: BaseException) -> None:
        said = self._said = f"{type(exc).__name__}: {exc}"
        self._until = time.monotonic() + self.retry_after
        if self._incident.failed(said):
            self.log.warning("%s", self.begins(said))

    def worked(self) -> None:
        self._until = 0.0
        ended = self._incident.over()
        if ended is not None:
            self.log.warning("%s", self.ends(ended.count, ended.seconds))
