"""Gzip and deflate data inflated in pieces, within a bound: one reader for what HTTP bodies
(`codec.decoded_body`, a capture's bodies) and compressed files (`pcap.Gunzipped`) need, each
caller keeping its own bound and words (see `Inflating`'s hooks).

Bytes, or a binary file object read in pieces: what is held at once is a window of the compressed
bytes and what is asked for of the inflated ones. A decompression bomb is stopped at the bound
however little of it was read, never held past it.
"""

from __future__ import annotations

import zlib

from .errors import DecodeError, LimitExceededError

GZIP, ZLIB, RAW = zlib.MAX_WBITS | 16, zlib.MAX_WBITS, -zlib.MAX_WBITS  # (deflate is sent either of the last two)

# The compressed window given to the inflater, growing within a member from the first to the last:
# the inflater copies what it was given past a member's end (`unused_data`), so given the whole
# rest, data of many small members took time quadratic in their number.
_FIRST_STEP, _LAST_STEP = 1 << 10, 1 << 20
_PIECE = 1 << 16  # compressed bytes read from a file at a time


def is_gzip(data) -> bool:
    return bytes(data[:3]) == b"\x1f\x8b\x08"  # (the magic, and deflate: the only method gzip has)


def _before_damage(inflater, window, most: int) -> bytes:
    """What `window` inflates to before the place zlib finds damaged (an error loses what the
    call that meets it inflated: up to the window's thousandfold), fed again in small steps."""
    out: list[bytes] = []
    total = 0
    for at in range(0, len(window), 256):
        try:  # (never 0: zlib reads it as no bound)
            piece = inflater.decompress(window[at : at + 256], most - total)
        except zlib.error:
            break
        out.append(piece)
        total += len(piece)
        if inflater.unconsumed_tail or total >= most:
            break
    return b"".join(out)


class Inflating:
    """`source` (bytes, or a binary file object) inflated, read with `read(n)`: gzip's members one
    after another (as gzip reads concatenated files; zeros after the last are padding), or one
    zlib or raw deflate stream (`wbits`: GZIP, ZLIB or RAW; what follows a deflate stream is not
    read). Past `limit()` bytes a `past` error, at most `max_members` gzip members, and the other
    errors (`cut_short`, `unreadable`, `trailing`) are made by hooks a caller words its own way;
    one of the last three returning None ends the reading there instead (what inflated up to there
    is read), `cut` set where the data ended inside a member."""

    max_members: int | None = None
    salvage = False  # (where `unreadable` may end the reading: what inflates before the damage is read too)

    def __init__(self, source, wbits: int = GZIP):
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.buf, self.file = memoryview(source), None
        else:
            self.buf, self.file = memoryview(b""), source
        self.wbits = wbits
        self.pos = 0  # in buf: what the inflater has taken
        self.taken = len(self.buf)  # compressed bytes in hand so far (read from the file, or all given)
        self.given = 0  # inflated bytes handed out
        self.members = 1
        self.inflater = zlib.decompressobj(wbits)
        self.step = _FIRST_STEP
        self.ended = False
        self.cut = False  # (where cut_short allowed it: the data ended inside a member)

    # -- what a caller words, or bounds, its own way -----------------------------------------------

    def limit(self) -> int:
        """The inflated bytes past which the data is a bomb (asked as reading goes)."""
        raise NotImplementedError

    def past(self, limit: int) -> Exception:
        return LimitExceededError(f"the data inflates past {limit} bytes")

    def cut_short(self) -> Exception | None:
        """The data ends inside a member: the error, or None to end there (`cut` set)."""
        return DecodeError("the data is cut short")

    def unreadable(self, exc: zlib.error) -> Exception | None:
        return DecodeError(f"the data does not inflate ({exc})")

    def trailing(self, count: int) -> Exception | None:
        return DecodeError(f"{count} bytes after the gzip data's end are none")

    def too_many_members(self) -> Exception:
        return DecodeError(f"more than {self.max_members} gzip members")

    # -- reading -----------------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.buf = memoryview(b"")

    def _ahead(self, n: int) -> int:
        """Compressed bytes in hand past pos, at least n where the file has them."""
        while len(self.buf) - self.pos < n and self.file is not None:
            piece = self.file.read(_PIECE)
            if not piece:
                break
            self.taken += len(piece)
            self.buf, self.pos = memoryview(bytes(self.buf[self.pos :]) + bytes(piece)), 0
        return len(self.buf) - self.pos

    def _window(self) -> memoryview:
        self._ahead(1)
        window = self.buf[self.pos : self.pos + self.step]
        self.step = min(2 * self.step, _LAST_STEP)
        return window

    def read(self, n: int = -1) -> bytes:
        """Up to `n` inflated bytes (all of them: -1), b"" at the end."""
        out: list[bytes] = []
        wanted = None if n is None or n < 0 else n
        while (wanted is None or wanted > 0) and not self.ended:
            if self.inflater.eof:
                self._next_member()
                continue
            window = self._window()
            limit = self.limit()
            # (never more than one byte past the bound at once: a window of a bomb inflates a thousandfold)
            most = limit + 1 - self.given if wanted is None else min(wanted, limit + 1 - self.given)
            saved = self.inflater.copy() if self.salvage else None
            # (at most what is asked: the rest of the window is given again; an empty window too: zlib may
            # hold output of bytes it took, the rest of a match the last call's bound cut)
            try:
                piece = self.inflater.decompress(window, max(most, 1))
            except zlib.error as exc:
                problem = self.unreadable(exc)
                if problem is not None:
                    raise problem from None
                self.ended = True
                piece = _before_damage(saved, window, max(most, 1)) if saved is not None else b""
                self.given += len(piece)
                if self.given > limit:
                    raise self.past(limit) from None
                out.append(piece)
                break
            # (past a member's end: its unused_data; zlib keeps an unconsumed_tail of the window from a
            # call that met the output bound before, the same bytes again: not taken twice)
            left = self.inflater.unused_data if self.inflater.eof else self.inflater.unconsumed_tail
            self.pos += len(window) - len(left)
            if not window and not piece and not self.inflater.eof:
                problem = self.cut_short()
                if problem is not None:
                    raise problem
                self.ended = self.cut = True
                break
            self.given += len(piece)
            if self.given > limit:
                raise self.past(limit)
            if piece:
                out.append(piece)
                if wanted is not None:
                    wanted -= len(piece)
        return b"".join(out)

    def _next_member(self) -> None:
        """After a member's end: the next gzip member, or the end (zeros at most after gzip's, the
        padding some tools write after the last member)."""
        if self.wbits != GZIP:
            self.ended = True
            return
        if self._ahead(3) >= 3 and is_gzip(self.buf[self.pos : self.pos + 3]):
            self.members += 1
            if self.max_members is not None and self.members > self.max_members:
                raise self.too_many_members()
            self.inflater, self.step = zlib.decompressobj(self.wbits), _FIRST_STEP
            return
        after, padding = 0, True
        while rest := self.buf[self.pos :]:
            after += len(rest)
            padding = padding and not bytes(rest).strip(b"\0")
            self.pos = len(self.buf)
            self._ahead(1)
        problem = self.trailing(after) if not padding else None
        if problem is not None:
            raise problem
        self.ended = True


# Members of one gzip body (gzip reads one after another; a compressed request has one). Each costs
# a few microseconds whatever its size: a million empty ones, 20 MB, took 4 s.
MAX_GZIP_MEMBERS = 1000


def inflate_body(data: bytes, coding: str, limit: int, partial: bool = False) -> tuple[bytes, bool]:
    """An HTTP body in one content coding (gzip, x-gzip, deflate: zlib's form, else raw, as some
    send it) inflated to `limit` bytes, and whether it was cut short (`partial`: what inflates of a
    body cut short is given, else that is a `DecodeError`), in the words the receiver answers with:
    past the limit a `LimitExceededError`, bytes that do not inflate or more than MAX_GZIP_MEMBERS
    gzip members a `DecodeError`."""
    if not data:  # (an empty body under a coding: nothing sent, nothing to inflate)
        return b"", False
    problem = None
    for wbits in (GZIP,) if coding != "deflate" else (ZLIB, RAW):
        try:
            with _Body(data, coding, limit, wbits, partial) as inflating:
                return inflating.read(), inflating.cut
        except _NotInflating as exc:
            problem = problem or exc.cause  # (the first form's: the one the header names)
    raise DecodeError(f"the {coding} body does not inflate ({problem})")


class _NotInflating(DecodeError):
    def __init__(self, cause):
        super().__init__(str(cause))
        self.cause = cause


class _Body(Inflating):
    max_members = MAX_GZIP_MEMBERS

    def __init__(self, data, coding: str, limit: int, wbits: int, partial: bool):
        super().__init__(data, wbits)
        self.coding, self.most, self.partial = coding, limit, partial

    def limit(self) -> int:
        return self.most

    def past(self, limit: int) -> Exception:
        return LimitExceededError(f"the {self.coding} body inflates past {limit} bytes")

    def cut_short(self) -> Exception | None:
        return None if self.partial else DecodeError(f"the {self.coding} body is cut short")

    def unreadable(self, exc) -> Exception:
        return _NotInflating(exc)

    def trailing(self, count: int) -> Exception:
        return _NotInflating(f"{count} bytes after its last gzip member are none")

    def too_many_members(self) -> Exception:
        return DecodeError(f"the {self.coding} body has more than {MAX_GZIP_MEMBERS} gzip members")
