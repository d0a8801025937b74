"""How long a sound or a video plays, measured from its bytes: AMR and AMR-WB, MP3 (MPEG-1, -2
and -2.5 layers II and III, free format too), AAC in ADTS, WAV, QCP, MIDI, MP4/3GP/M4A and AVI; and
whether an MP4/3GP holds a video track at all (`has_video`).

A generated SMIL gives each slide a length; a slide shorter than its sound cuts it off, one longer
than a lone sound shows a blank screen. The length is what the bytes show, not what a header
claims: a claim that the bytes around it contradict (an MP3's VBR frame count against its size, a
track that says more than the file holds) is not believed, and anything unsure is None, for the
caller's default. The work is bounded: files are read in small pieces at the places that matter,
MIDI and MP4 index data past a few MiB are not read at all, and counting frames stops at
`LONGEST_MS`, which is also the most any answer says.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from .content import Blob

LONGEST_MS = 10 * 60 * 1000  # past what any MMS carries (300 KB of AMR at its lowest rate is 8 min)
_MIDI_MAX_BYTES = 1024 * 1024  # a ring tone is kilobytes; a bigger "MIDI" is not worth parsing
_MOOV_MAX_BYTES = 1024 * 1024  # an MP4's index; a clip an MMS carries has one of kilobytes
_MIN_BITS_PER_SECOND = 1000  # below any codec's rate: a file that small cannot last that long
_ID3_SEARCH = 64 * 1024  # bytes after an ID3 tag searched for the first frame (padding, junk)

_durations: weakref.WeakKeyDictionary[Blob, tuple[int | None]] = weakref.WeakKeyDictionary()


def duration_ms(blob: Blob) -> int | None:
    """How long the sound or video in `blob` plays, in milliseconds (at most `LONGEST_MS`), or
    None when its format is not one of those measured or its bytes leave the length unsure.
    Blobs do not change: each is measured once (a campaign's sound, not once per message)."""
    known = _durations.get(blob)
    if known is not None:
        return known[0]
    try:
        with blob.open() as fp:
            ms = _measure(_Reader(fp, blob.size))
    except OSError:
        ms = None
    if ms is not None:
        ms = min(ms, LONGEST_MS) if ms > 0 else None  # (nothing to play: no length to give a slide)
    _durations[blob] = (ms,)
    return ms


class _Reader:
    """Bytes at any offset of an open blob, read where asked (seeking when the stream can)."""

    def __init__(self, fp: BinaryIO, size: int):
        self.fp, self.size, self.pos = fp, size, 0

    def at(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset >= self.size or n <= 0:
            return b""
        if offset != self.pos:
            if self.fp.seekable():
                self.fp.seek(offset)
            elif offset > self.pos:
                _skip(self.fp, offset - self.pos)
            else:
                raise OSError("cannot go back in this stream")
        want, pieces = min(n, self.size - offset), []
        while want > 0 and (piece := self.fp.read(want)):
            pieces.append(piece)
            want -= len(piece)
        data = b"".join(pieces)
        self.pos = offset + len(data)
        return data


def _skip(fp: BinaryIO, n: int) -> None:
    while n > 0:
        got = fp.read(min(n, 64 * 1024))
        if not got:
            return
        n -= len(got)


def _measure(src: _Reader) -> int | None:
    head = src.at(0, 16)
    if head.startswith(b"#!AMR-WB\n"):
        return _amr(src, 9, _AMR_WB_FRAME)
    if head.startswith(b"#!AMR\n"):
        return _amr(src, 6, _AMR_FRAME)
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return _wav(src)
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return _avi(src)
    if head.startswith(b"RIFF") and head[8:12] == b"QLCM":
        return _qcp(src)
    if head.startswith(b"MThd"):
        return _midi(src)
    if head[4:8] == b"ftyp":
        return _mp4(src)
    return _mpeg_or_adts(src)


# -- AMR: 20 ms frames, each a header byte whose frame type gives its size -------------------------

# Bytes of an AMR frame (its header byte included) by frame type, RFC 4867 §5.3.
_AMR_FRAME = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)
_AMR_WB_FRAME = (18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 1, 1, 1, 1, 1, 1)


def _amr(src: _Reader, magic: int, sizes: tuple[int, ...]) -> int:
    frames, pos, most = 0, magic, LONGEST_MS // 20 + 1
    while pos < src.size and frames < most:
        chunk = src.at(pos, 64 * 1024)
        i, n = 0, len(chunk)
        while i < n and frames < most:
            frames += 1
            i += sizes[(chunk[i] >> 3) & 0x0F]
        pos += i
    return frames * 20


# -- MPEG audio (MP3) and AAC in ADTS ------------------------------------------------------------

_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits
_MPEG1_L3 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG1_L2 = (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384)
_MPEG2_L23 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def _mpeg_header(h: bytes) -> tuple[int, int, int, int, int] | None:
    """(version bits, layer bits, bit rate index, samples, sample rate) of an MPEG audio layer II
    or III frame header, free format (bit rate index 0) included, or None. Layer I is left out:
    its sync bytes are a UTF-16 byte order mark (FF FE), and a handset never got one; reserved
    values are not a frame either."""
    if len(h) < 4 or h[0] != 0xFF or h[1] & 0xE0 != 0xE0:
        return None
    version, layer = (h[1] >> 3) & 3, (h[1] >> 1) & 3  # version 3: MPEG-1, 2: -2, 0: -2.5; layer 1: III
    bitrate_index, rate_index = h[2] >> 4, (h[2] >> 2) & 3
    if version == 1 or layer not in (1, 2) or bitrate_index == 15 or rate_index == 3 or h[3] & 3 == 2:
        return None
    samples = 576 if layer == 1 and version != 3 else 1152
    return version, layer, bitrate_index, samples, _MPEG_RATES[version][rate_index]


def mpeg_frame(h: bytes) -> tuple[int, int, int, int] | None:
    """(frame bytes, samples, sample rate, kbit/s) of an MPEG audio layer II or III frame header,
    or None (free format too: its header gives no frame length)."""
    header = _mpeg_header(h)
    if header is None or not header[2]:
        return None
    version, layer, bitrate_index, samples, rate = header
    if version == 3:
        kbps = (_MPEG1_L3 if layer == 1 else _MPEG1_L2)[bitrate_index]
    else:
        kbps = _MPEG2_L23[bitrate_index]
    return samples // 8 * kbps * 1000 // rate + ((h[2] >> 1) & 1), samples, rate, kbps


def adts_frame(h: bytes) -> tuple[int, int, int, int] | None:
    """(frame bytes, samples, sample rate, 0) of an AAC ADTS frame header, or None."""
    if len(h) < 7 or h[0] != 0xFF or h[1] & 0xF6 != 0xF0:  # 12 sync bits, then layer 00
        return None
    rate_index = (h[2] >> 2) & 0x0F
    size = ((h[3] & 3) << 11) | (h[4] << 3) | (h[5] >> 5)
    if rate_index >= len(_ADTS_RATES) or size < (7 if h[1] & 1 else 9):
        return None
    return size, 1024 * ((h[6] & 3) + 1), _ADTS_RATES[rate_index], 0


def same_stream(a: bytes, b: bytes) -> bool:
    """Whether two frame headers are of one stream: the same version, layer and sample rate (and
    AAC profile), which never change within one, where the bit rate may."""
    fixed = 0x0C if mpeg_frame(a) else 0xFC
    return len(b) >= 4 and a[1] & 0xFE == b[1] & 0xFE and a[2] & fixed == b[2] & fixed


def id3_size(h: bytes) -> int:
    """Bytes of the ID3v2 tag `h` starts with (header and footer included), else 0."""
    if len(h) < 10 or not h.startswith(b"ID3") or h[3] not in (2, 3, 4) or any(b & 0x80 for b in h[6:10]):
        return 0
    size = 10 + ((h[6] << 21) | (h[7] << 14) | (h[8] << 7) | h[9])
    return size + 10 if h[3] == 4 and h[5] & 0x10 else size  # (a footer is v2.4's; the bit means nothing before)


def _mpeg_or_adts(src: _Reader) -> int | None:
    start = 0
    for _ in range(4):  # (tags repeated by careless taggers)
        skip = id3_size(src.at(start, 10))
        if not skip:
            break
        start += skip
    window = src.at(start, _ID3_SEARCH if start else 4)
    free_tried = False
    for i in range(len(window) - 3):  # the first frame whose successor (or the end) confirms it
        if window[i] != 0xFF:
            continue
        h = src.at(start + i, 10)
        frame = mpeg_frame(h) or adts_frame(h)
        if frame is None:
            if not free_tried and (shape := _free_header(h)):  # (once: a bounded walk of its frames)
                free_tried = True
                free = _free_format(src, start + i, h, *shape)
                if free is not None:
                    return free
            if not start:
                return None
            continue
        after = start + i + frame[0]
        following = src.at(after, 10)
        if after >= src.size or ((mpeg_frame(following) or adts_frame(following)) and same_stream(h, following)):
            return _frames(src, start + i, h, frame)
        if not start:
            return None  # (no tag: the first bytes are the first frame, or this is no MPEG audio)
    return None


def _frames(src: _Reader, first: int, h: bytes, frame: tuple[int, int, int, int]) -> int | None:
    _size, samples, rate, _kbps = frame
    if mpeg_frame(h):
        claimed = _vbr_frames(src.at(first, 256), h)
        if claimed:
            ms = claimed * samples * 1000 // rate
            kbps = (src.size - first) * 8 / max(ms, 1)
            table = _MPEG1_L3 if h[1] & 0x18 == 0x18 else _MPEG2_L23
            if table[1] * 0.5 <= kbps <= table[14] * 1.5:  # (a size it could have: else count the frames)
                return ms
    parse = mpeg_frame if mpeg_frame(h) else adts_frame
    pos, ms_total, audio_end = first, 0.0, first
    while pos < src.size and ms_total < LONGEST_MS:
        here = src.at(pos, 10)
        frame = parse(here)
        if frame is None or not same_stream(h, here):
            break
        ms_total += frame[1] * 1000 / frame[2]
        pos += frame[0]
        audio_end = min(pos, src.size)
    if ms_total >= LONGEST_MS:
        return LONGEST_MS
    rest = src.size - audio_end
    # What follows the frames: nothing, a tag, or junk; a file whose frames stop early is not one
    # whose length we know.
    if rest > 0 and not _tag_at(src, audio_end) and rest > (audio_end - first) // 10:
        return None
    return round(ms_total)


def _tag_at(src: _Reader, pos: int) -> bool:
    """Whether a tag that may follow MPEG audio frames starts at `pos` (ID3v1 is 128 bytes, APE
    and Lyrics3 a few more)."""
    return src.at(pos, 8).startswith((b"TAG", b"APETAGEX", b"LYRICS"))


_FREE_SHORTEST = 24  # bytes of a free-format frame at the least (its header and side information)
_FREE_LONGEST = 4032  # at the most: 640 kbit/s (twice layer III's highest) at 32 kHz, 2880, and more
_FREE_TRIED = 8  # distances to the next sync word tried (a frame's data may hold its pattern)
_FREE_FEWEST = 4  # frames a free-format stream must chain at the least to be believed


def _free_format(src: _Reader, first: int, h: bytes, samples: int, rate: int) -> int | None:
    """The length of a free-format MPEG audio stream (bit rate index 0: a fixed rate the header
    does not give) whose first frame starts at `first`. The frame length is the distance to the
    next header of the same stream (one byte less when the first frame is padded), and it is
    believed only when the frames, each that long (a byte more when padded), run on header to
    header to the end of the file, or to a tag; else None, for the caller's default. (`samples`
    and `rate`: what `_free_header` reads in `h`.)"""
    window = src.at(first + _FREE_SHORTEST, _FREE_LONGEST + 1 - _FREE_SHORTEST)
    tried, at = 0, -1
    while tried < _FREE_TRIED:
        at = window.find(h[:2], at + 1)
        if at < 0:
            return None
        if not _same_free_stream(h, window[at : at + 4]):
            continue
        tried += 1
        ms = _free_frames(src, first, h, _FREE_SHORTEST + at - ((h[2] >> 1) & 1), samples, rate)
        if ms is not None:
            return ms
    return None


def _free_header(h: bytes) -> tuple[int, int] | None:
    """(samples, sample rate) of a free-format layer II or III frame header, else None."""
    header = _mpeg_header(h)
    return header[3:] if header is not None and not header[2] else None


def _same_free_stream(a: bytes, b: bytes) -> bool:
    """Headers of one free-format stream: sync, version, layer, protection, rate index and channel
    mode alike (the padding, private and mode extension bits may change)."""
    return len(b) >= 4 and b[:2] == a[:2] and b[2] & 0xFC == a[2] & 0xFC and b[3] & 0xC3 == a[3] & 0xC3


def _free_frames(src: _Reader, first: int, h: bytes, unpadded: int, samples: int, rate: int) -> int | None:
    if unpadded < _FREE_SHORTEST:
        return None
    pos, frames, most = first, 0, LONGEST_MS * rate // (samples * 1000) + 1
    while pos < src.size and frames < most:
        here = src.at(pos, 4)
        if len(here) < 4 or not _same_free_stream(h, here):
            break
        frames += 1
        pos += unpadded + ((here[2] >> 1) & 1)
    audio_end = min(pos, src.size)
    rest = src.size - audio_end
    if frames < _FREE_FEWEST or (frames < most and rest > 0 and not _tag_at(src, audio_end)):
        return None  # (frames that stop short of the end: a wrong length, or not free format at all)
    return round(frames * samples * 1000 / rate)


def _vbr_frames(frame: bytes, h: bytes) -> int | None:
    """The frame count a Xing/Info or VBRI header in the first frame claims, else None."""
    mpeg1, mono = h[1] & 0x18 == 0x18, h[3] >> 6 == 3
    xing = 4 + ((17 if mono else 32) if mpeg1 else (9 if mono else 17))
    if frame[xing : xing + 4] in (b"Xing", b"Info") and len(frame) >= xing + 12 and frame[xing + 7] & 1:
        return int.from_bytes(frame[xing + 8 : xing + 12], "big") or None
    if frame[36:40] == b"VBRI" and len(frame) >= 54:
        return int.from_bytes(frame[50:54], "big") or None
    return None


# -- WAV -------------------------------------------------------------------------------------------

_LINEAR_FORMATS = {1, 3, 6, 7, 0xFFFE}  # PCM, float, A-law, mu-law, extensible: bytes = rate × block


def _riff_chunks(src: _Reader, most: int) -> Iterator[tuple[int, bytes, int]]:
    """(offset, id, size) of the first `most` chunks after a RIFF file's 12-byte header, up to
    one whose 8-byte header is cut short. The size is the chunk's own word (no padding), unchecked."""
    pos = 12
    for _ in range(most):
        chunk = src.at(pos, 8)
        if len(chunk) < 8:
            return
        size = int.from_bytes(chunk[4:], "little")
        yield pos, chunk[:4], size
        pos += 8 + size + (size & 1)


def _wav(src: _Reader) -> int | None:
    byte_rate = 0
    for pos, cid, size in _riff_chunks(src, 64):
        if cid == b"fmt ":
            f = src.at(pos + 8, 16)
            if len(f) < 16:
                return None
            tag, rate = int.from_bytes(f[0:2], "little"), int.from_bytes(f[4:8], "little")
            byte_rate, block = int.from_bytes(f[8:12], "little"), int.from_bytes(f[12:14], "little")
            if tag in _LINEAR_FORMATS:
                byte_rate = rate * block  # (computed: the header's own figure is often wrong)
        elif cid == b"data":
            left = src.size - pos - 8
            data = left if size in (0, 0xFFFFFFFF) else min(size, left)  # (0 and ~0: writers that streamed)
            return data * 1000 // byte_rate if byte_rate else None
    return None


# -- AVI: the main header's time a frame and its frames ------------------------------------------

_AVI_LONGEST_FRAME_US = 10_000_000  # a frame shown 10 s: slower than any slide show a camera wrote


def _avi(src: _Reader) -> int | None:
    """RIFF 'AVI ', LIST 'hdrl', whose first chunk is 'avih': microseconds a frame and the frame
    count (an OpenDML file past 1 GiB counts its first RIFF's only: no MMS is that big). Each
    frame is a chunk of 8 bytes at least in the file: a count it cannot hold is not believed."""
    for pos, cid, _size in _riff_chunks(src, 16):  # (the header list comes first; JUNK may pad before it)
        if cid == b"LIST" and src.at(pos + 8, 4) == b"hdrl":
            avih = src.at(pos + 12, 8 + 20)
            if len(avih) < 28 or avih[:4] != b"avih":
                return None
            us, frames = int.from_bytes(avih[8:12], "little"), int.from_bytes(avih[24:28], "little")
            if not 0 < us <= _AVI_LONGEST_FRAME_US or not frames or frames * 8 > src.size:
                return None
            ms = us * frames // 1000
            return None if src.size * 8 * 1000 < ms * _MIN_BITS_PER_SECOND else ms
    return None


# -- QCP (QCELP, EVRC: CDMA handsets' voice notes): packets of one block of samples each ---------


def _qcp(src: _Reader) -> int | None:
    """RIFF 'QLCM' (RFC 3625): 'fmt ' gives the samples a packet holds (a block, 160: 20 ms at
    8 kHz), the sample rate and, for a fixed rate, the bytes of a packet; a variable-rate file
    counts its packets in 'vrat'. A count the data cannot hold (a packet is a byte at least) is
    not believed."""
    packets, packet_bytes, block, rate = None, 0, 0, 0
    for pos, cid, size in _riff_chunks(src, 16):
        if cid == b"fmt ":
            f = src.at(pos + 8, 110)  # (version, codec GUID and name, then the figures at 100)
            if len(f) < 110:
                return None
            packet_bytes, block, rate = (int.from_bytes(f[i : i + 2], "little") for i in (102, 104, 106))
        elif cid == b"vrat":
            v = src.at(pos + 8, 8)
            if len(v) == 8 and int.from_bytes(v[:4], "little"):  # (a variable rate: the count is the one to trust)
                packets = int.from_bytes(v[4:], "little")
        elif cid == b"data":
            data = min(size, src.size - pos - 8)
            if packets is None:
                packets = data // packet_bytes if packet_bytes else 0
            if not block or not rate or not 0 < packets <= data:
                return None
            return packets * block * 1000 // rate
    return None


# -- MIDI: ticks of each track, turned into time by the tempo map ----------------------------------


def _midi(src: _Reader) -> int | None:
    if src.size > _MIDI_MAX_BYTES:
        return None
    data = src.at(0, src.size)
    header = int.from_bytes(data[4:8], "big")
    if header < 6 or len(data) < 14:
        return None
    form, tracks, division = (int.from_bytes(data[i : i + 2], "big") for i in (8, 10, 12))
    if form > 2 or tracks == 0 or division == 0:
        return None
    # Formats 0 and 1 play their tracks at once, to one tempo map (the first track's, in practice
    # anyone's): the last event of any track ends the tune. Format 2's tracks are patterns played
    # one after another, each with its own tempo: the tune lasts as long as they do, end to end.
    pos, tempos, end, total_ms = 8 + header, [], 0, 0
    while pos + 8 <= len(data) and tracks:
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if data[pos : pos + 4] == b"MTrk":  # (other chunk types are to be skipped, says the standard)
            tracks -= 1
            if form == 2:
                tempos = []
            last = _track(memoryview(data)[pos + 8 : pos + 8 + length], tempos)
            if last is None:
                return None
            if form == 2:
                total_ms += _ticks_ms(last, tempos, division)
            end = max(end, last)
        pos += 8 + length
    return round(total_ms) if form == 2 else round(_ticks_ms(end, tempos, division))


def _ticks_ms(end: int, tempos: list[tuple[int, int]], division: int) -> float:
    """Milliseconds from the start to tick `end`, at the tempos (tick, microseconds a quarter) given."""
    if division & 0x8000:  # SMPTE: frames a second and ticks a frame, no tempo
        fps = 256 - (division >> 8)
        per_second = (29.97 if fps == 29 else fps) * (division & 0xFF)
        return end * 1000 / per_second if per_second else 0
    tempos.sort(key=lambda t: t[0])
    us, tick, tempo = 0.0, 0, 500_000  # 120 beats a minute until told otherwise
    for at, new in tempos:
        if at >= end:
            break
        us += (at - tick) * tempo / division
        tick, tempo = at, new
    return (us + (end - tick) * tempo / division) / 1000


def _track(t: memoryview, tempos: list[tuple[int, int]]) -> int | None:
    """The tick of a track's last event (its tempo changes added to `tempos`), or None when its
    events make no sense (data without a status); a track cut short ends where it was cut."""
    i, n, tick, last, status = 0, len(t), 0, 0, 0
    while i < n:
        delta, i = _varlen(t, i)
        if delta is None or i >= n:
            break
        tick += delta
        b = t[i]
        if b == 0xFF or b in (0xF0, 0xF7):  # meta and sysex events: a length, then the data
            kind = t[i + 1] if b == 0xFF and i + 1 < n else None
            length, j = _varlen(t, i + (2 if b == 0xFF else 1))
            if length is None or j + length > n:
                break
            if kind == 0x51 and length == 3:
                tempo = int.from_bytes(t[j : j + 3], "big")
                if tempo:
                    tempos.append((tick, tempo))
            i, status, last = j + length, 0, tick  # (they end a running status)
            if kind == 0x2F:  # end of track
                break
            continue
        if b & 0x80:
            status, i = b, i + 1
        elif not status:
            return None
        i += 1 if status & 0xE0 == 0xC0 else 2  # program change and channel pressure have one data byte
        if i > n:
            break
        last = tick
    return last


def _varlen(t: memoryview, i: int) -> tuple[int | None, int]:
    value = 0
    for j in range(i, min(i + 4, len(t))):
        value = (value << 7) | (t[j] & 0x7F)
        if not t[j] & 0x80:
            return value, j + 1
    return None, len(t)


# -- MP4, 3GP, M4A: the movie header's duration in its time scale ---------------------------------


def _mp4(src: _Reader) -> int | None:
    moov = _moov(src)
    if moov is None:
        return None
    ms = _movie_ms(moov)
    if ms is None or src.size * 8 * 1000 < ms * _MIN_BITS_PER_SECOND:
        return None  # (a length this file is too small to hold)
    return ms


def _moov(src: _Reader) -> memoryview | None:
    """The movie box's payload (before or after the media data), if whole and not too big."""
    pos = 0
    for _ in range(256):
        box = _box(src.at(pos, 16), src.size - pos)
        if box is None:
            return None
        kind, header, size = box
        if kind == b"moov":
            return memoryview(src.at(pos + header, size - header)) if size <= _MOOV_MAX_BYTES else None
        pos += size
        if pos >= src.size:
            return None
    return None


def has_video(blob: Blob) -> bool | None:
    """Whether the MP4/3GP in `blob` holds a video track: False for one whose tracks are sounds
    (a voice recorder's .3gp), True for one with a video track, None when its index cannot be
    read whole (truncated, too big, not an MP4) or it holds neither: no telling."""
    try:
        with blob.open() as fp:
            moov = _moov(_Reader(fp, blob.size))
    except OSError:
        return None
    if moov is None:
        return None
    handlers = set()
    for kind, payload in _boxes(moov):
        if kind is None:
            return None  # (a track past a broken box could be the video)
        if kind == b"trak":
            hdlr = _media_box(payload, b"hdlr")
            if hdlr is None or len(hdlr) < 12:
                return None
            handlers.add(bytes(hdlr[8:12]))  # (after version, flags and a predefined word)
    if b"vide" in handlers:
        return True
    return False if b"soun" in handlers else None


def _box(h: bytes | memoryview, left: int) -> tuple[bytes, int, int] | None:
    """(type, header bytes, box bytes) of the box `h` starts with, if it fits in `left` bytes."""
    if len(h) < 8:
        return None
    size, kind, header = int.from_bytes(h[:4], "big"), bytes(h[4:8]), 8
    if size == 1:  # a 64-bit size follows the type
        if len(h) < 16:
            return None
        size, header = int.from_bytes(h[8:16], "big"), 16
    elif size == 0:  # to the end of the file
        size = left
    return (kind, header, size) if header <= size <= left else None


def _boxes(data: memoryview) -> Iterator[tuple[bytes | None, memoryview]]:
    """(type, payload) of each box in `data`; a tail that is no whole box ends them as (None, the tail)."""
    pos = 0
    while pos < len(data):
        box = _box(data[pos : pos + 16], len(data) - pos)
        if box is None:
            yield None, data[pos:]
            return
        kind, header, size = box
        yield kind, data[pos + header : pos + size]
        pos += size


def _child(data: memoryview, kind: bytes) -> memoryview | None:
    return next((payload for found, payload in _boxes(data) if found == kind), None)


def _media_box(trak: memoryview, kind: bytes) -> memoryview | None:
    """The payload of the box `kind` (mdhd, hdlr) in a track's media box, if it has one."""
    mdia = _child(trak, b"mdia")
    return _child(mdia, kind) if mdia is not None else None


def _header_ms(box: memoryview) -> int | None:
    """The duration an mvhd or mdhd box gives, or None for an unknown or unreadable one."""
    if len(box) < 20:
        return None
    if box[0] == 1:
        if len(box) < 32:
            return None
        scale, length, unknown = int.from_bytes(box[20:24], "big"), int.from_bytes(box[24:32], "big"), 2**64 - 1
    else:
        scale, length, unknown = int.from_bytes(box[12:16], "big"), int.from_bytes(box[16:20], "big"), 2**32 - 1
    if not scale or not length or length == unknown:
        return None
    return length * 1000 // scale


def _movie_ms(moov: memoryview) -> int | None:
    tracks = []  # (if the movie header leaves the length unknown: the longest track's own)
    for kind, payload in _boxes(moov):
        if kind == b"mvhd":
            ms = _header_ms(payload)
            if ms is not None:
                return ms
        elif kind == b"trak":
            mdhd = _media_box(payload, b"mdhd")
            track_ms = _header_ms(mdhd) if mdhd is not None else None
            if track_ms:
                tracks.append(track_ms)
    return max(tracks, default=None)
