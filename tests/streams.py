"""Streams for the tests of reading: bodies that arrive the way sockets deliver them."""

from __future__ import annotations

import io


class Trickle(io.RawIOBase):
    """A stream that gives at most `size` bytes per read, as a socket does when a peer sends slowly."""

    def __init__(self, data: bytes, size: int):
        self.data, self.pos, self.size = data, 0, size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.size if n is None or n < 0 else min(n, self.size)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk
