"""Reading from a socket against a deadline for the whole exchange: a socket's timeout bounds one
read, so a peer sending a byte now and then could otherwise hold a connection for ever. The
embedded TLS server reads requests this way, the client its answers."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable


class DeadlinePassed(TimeoutError):
    """A read that timed out because the whole exchange's deadline came, not the one read's timeout
    (what a timeout's words name: which bound ran out)."""


class DeadlineReader:
    """A socket's reader (`raw`) whose every read waits at most until `deadline` (monotonic), and
    at most `timeout` for one read: everything read through it shares one budget."""

    def __init__(self, raw, sock, timeout: float | None, deadline: float):
        self._raw, self._sock, self._timeout, self._deadline = raw, sock, timeout, deadline
        self.received = 0  # bytes read through it (a buffered reader's partial line is lost with its error)
        self.ended = False  # a read found the stream's end: the peer closed its side

    def _bounded(self, read: Callable, *args):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("timed out: past the exchange's deadline")
        by_deadline = self._timeout is None or left < self._timeout
        self._sock.settimeout(left if by_deadline else self._timeout)
        try:
            return read(*args)
        except TimeoutError as exc:
            if by_deadline and not isinstance(exc, DeadlinePassed):
                raise DeadlinePassed("timed out: past the exchange's deadline") from exc
            raise
        finally:
            self._sock.settimeout(self._timeout)  # (what is written next goes under the plain timeout)

    def read(self, *args):
        return self._bounded(self._raw.read, *args)

    def readline(self, *args):
        return self._bounded(self._raw.readline, *args)

    def readinto(self, buf):
        n = self._bounded(self._raw.readinto, buf)
        self.received += n or 0
        self.ended = self.ended or (n == 0 and len(buf) > 0)
        return n

    def __getattr__(self, name: str):
        return getattr(self._raw, name)


# The longest timeout taken, in seconds (a year): "wait for ever" written as 1e10 s is past what a
# socket's timeout can hold, and the sync client raised an OverflowError once the request was out.
# (Here, where nothing of the package is imported, so that any module can import it at its top; the
# client gives it on as `client.MAX_TIMEOUT`.)
MAX_TIMEOUT = 365 * 24 * 3600


def wait_limit(timeout: float | None, name: str = "timeout") -> float | None:
    """`timeout` as a lock's, a condition's or a thread's wait takes it: None, inf or past a year
    (`MAX_TIMEOUT`) → None, no limit (a wait of ~300 years or more raised an OverflowError
    before waiting at all). NaN is refused: a condition's wait for it never ended."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
        raise ValueError(f"{name} must be a number of seconds (None or inf: no limit), not {timeout!r}")
    return None if timeout > MAX_TIMEOUT else timeout


def held_loop_hint(call: str) -> str:
    """What to add to a test helper's failed wait when it ran on a running asyncio event loop: a
    blocking wait there holds up the loop's every task, so a send the test left to a task of it
    never went (or a VASP served by that loop never answered), and the wait's "nothing came" blamed
    the service. "" elsewhere."""
    asyncio = sys.modules.get("asyncio")  # (not imported: no loop can be running)
    if asyncio is None:
        return ""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return ""
    return (f" (this wait ran on a running asyncio event loop, holding up its tasks meanwhile: one that was to "
            f"send, or to answer, could not; `await asyncio.to_thread({call})` waits without holding the loop)")
