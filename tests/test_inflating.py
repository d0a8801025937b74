"""The bounded inflater (`mm7bind.inflating.Inflating`) read in pieces as whole."""

from __future__ import annotations

import gzip
import zlib

from mm7bind.inflating import GZIP, RAW, Inflating


class Unbounded(Inflating):
    def limit(self) -> int:
        return 1 << 30


class ReadAsFarAsItGoes(Unbounded):
    def cut_short(self):
        return None


def in_pieces(inflating: Inflating, n: int) -> bytes:
    return b"".join(iter(lambda: inflating.read(n), b""))


def test_what_zlib_holds_past_a_reads_bound_is_read_when_the_data_has_ended():
    # The last bytes of a stream taken whole, a match of it cut at one read's bound: zlib holds
    # the rest of the match, and the next read found no bytes left and said the data cut short.
    packer = zlib.compressobj(6, zlib.DEFLATED, RAW)
    raw = packer.compress(b"a" * 21) + packer.flush()  # (4b4cc40200: "a", then a match of 20)
    assert in_pieces(Unbounded(raw, RAW), 1) == b"a" * 21
    assert Unbounded(raw, RAW).read() == b"a" * 21
    # Gzip cut short after its deflate data, read as far as it goes: all of it, not 2 bytes of 21
    cut = gzip.compress(b"a" * 21, mtime=0)[:-8]
    whole, pieces = ReadAsFarAsItGoes(cut, GZIP), ReadAsFarAsItGoes(cut, GZIP)
    assert whole.read() == in_pieces(pieces, 1) == b"a" * 21 and whole.cut and pieces.cut
