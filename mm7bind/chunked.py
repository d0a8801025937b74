"""A chunked request body (RFC 9112 §7.1) read as the plain bytes it carries. The standard
library's WSGI server, under the embedded TLS server, hands the application the raw stream: the
chunk sizes would be read as part of the message, and the end of the body never found."""

from __future__ import annotations

import re

CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")  # (16 digits: far beyond any body a receiver takes)
_PIECE = 1 << 16  # chunk data asked of the stream at a time


class FramingError(ValueError):
    """A request whose body cannot be delimited (a malformed chunk, a body cut short): answered
    400, nothing of it taken."""


class BodyCutShort(FramingError):
    """A chunked body whose stream ended before its last chunk (the peer closed): well framed as
    far as it came, so not the peer's malformed framing but a request that never came whole.
    `received`: the body's bytes decoded until then."""

    def __init__(self, received: int) -> None:
        super().__init__("chunked body cut short")
        self.received = received


class ChunkedReader:
    """The decoded body of a chunked request on `raw` (a buffered binary reader): `read` gives
    the chunks' data and ends (b"") after the last chunk and its trailer section, which is read
    and dropped. Broken framing raises FramingError; the stream ending before the last chunk,
    BodyCutShort (one)."""

    max_line = 4096  # a chunk-size line with its extensions, or one trailer line
    max_trailer = 64 * 1024

    def __init__(self, raw):
        self._raw = raw
        self._left = 0  # data still to read in the current chunk (0: a chunk-size line comes next)
        self._done = False
        self.received = 0  # data decoded so far (told with a body cut short)

    def read(self, size: int | None = -1) -> bytes:
        want = None if size is None or size < 0 else size
        # (one buffer: a list of each chunk's bytes held an object of some 40 bytes for each, and
        # a body sent in chunks of 2 bytes — 10 MB in 5 million chunks — held 650 MB)
        out = bytearray()
        while not self._done and (want is None or want > 0):
            if self._left == 0:
                self._start_chunk()
                continue
            # (in pieces: a buffered stream makes room for what is asked first, and a chunk's size of 16
            # digits is more than it can)
            data = self._raw.read(min(self._left, _PIECE if want is None else min(want, _PIECE)))
            if not data:
                raise BodyCutShort(self.received)
            out += data
            self.received += len(data)
            self._left -= len(data)
            if want is not None:
                want -= len(data)
            if self._left == 0:
                self._end_chunk()
        return bytes(out)

    def _line(self) -> bytes:
        line = self._raw.readline(self.max_line + 1)
        if len(line) > self.max_line:
            raise FramingError("chunked body: a line too long")
        if not line.endswith(b"\n"):  # (the stream's end: a line too long was caught above)
            raise BodyCutShort(self.received)
        return line

    def _start_chunk(self) -> None:
        line = self._line()
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]  # (one line end: "5\r\r\n" is no size)
        size, _, _extensions = line.partition(b";")  # (extensions are ignored)
        size = size.rstrip(b" \t")
        if not CHUNK_SIZE.fullmatch(size):
            raise FramingError(f"chunked body: chunk size {size[:20]!r} is not a hexadecimal number")
        self._left = int(size, 16)
        if self._left == 0:
            self._skip_trailers()
            self._done = True

    def _end_chunk(self) -> None:
        if self._line() not in (b"\r\n", b"\n"):
            raise FramingError("chunked body: a chunk longer than its size")

    def _skip_trailers(self) -> None:
        total = 0
        while (line := self._line()) not in (b"\r\n", b"\n"):
            total += len(line)
            if total > self.max_trailer:
                raise FramingError("chunked body: trailer section too large")
