"""Reading from a socket against a deadline for the whole exchange: a socket's timeout bounds one
read, so a peer sending a byte now and then could otherwise hold a connection for ever. The
embedded TLS server reads requests this way, the client its answers."""

from __future__ import annotations

import time
from collections.abc import Callable


class DeadlineReader:
    """A socket's reader (`raw`) whose every read waits at most until `deadline` (monotonic), and
    at most `timeout` for one read: everything read through it shares one budget."""

    def __init__(self, raw, sock, timeout: float | None, deadline: float):
        self._raw, self._sock, self._timeout, self._deadline = raw, sock, timeout, deadline

    def _bounded(self, read: Callable, *args):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out: past the exchange's deadline")
        self._sock.settimeout(left if self._timeout is None else min(left, self._timeout))
        try:
            return read(*args)
        finally:
            self._sock.settimeout(self._timeout)  # (what is written next goes under the plain timeout)

    def read(self, *args):
        return self._bounded(self._raw.read, *args)

    def readline(self, *args):
        return self._bounded(self._raw.readline, *args)

    def readinto(self, buf):
        return self._bounded(self._raw.readinto, buf)

    def __getattr__(self, name: str):
        return getattr(self._raw, name)
