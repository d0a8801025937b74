"""Lengths of sounds and videos measured from their bytes, for the slides of a generated SMIL.

Every fixture is built here, field by field, after the formats' specifications.
"""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

import mm7bind as mm7
from mm7bind.content import BytesBlob, FileBlob, make_smil, sniff_type
from mm7bind.durations import LONGEST_MS, duration_ms, id3_size

# -- MPEG audio --------------------------------------------------------------------------------

_VERSION_BITS = {"1": 3, "2": 2, "2.5": 0}
_RATES = {"1": (44100, 48000, 32000), "2": (22050, 24000, 16000), "2.5": (11025, 12000, 8000)}
_KBPS = {"1": (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
         "2": (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}


def mp3_frame(version: str = "1", kbps: int = 128, rate: int = 44100, padding: int = 0, mono: bool = False,
              payload: bytes = b"") -> bytes:
    """One MPEG layer III frame: its 4-byte header, then zeros to its length (ISO 11172-3 / 13818-3)."""
    table = _KBPS["1" if version == "1" else "2"]
    header = bytes([0xFF, 0xE0 | _VERSION_BITS[version] << 3 | 1 << 1 | 1,
                    table.index(kbps) << 4 | _RATES[version].index(rate) << 2 | padding << 1,
                    (3 if mono else 1) << 6])
    size = (144 if version == "1" else 72) * kbps * 1000 // rate + padding
    return (header + payload + bytes(size))[:size]


def samples_per_frame(version: str) -> int:
    return 1152 if version == "1" else 576


def mp3(seconds: float, version: str = "1", kbps: int = 128, rate: int = 44100) -> bytes:
    frames = round(seconds * rate / samples_per_frame(version))
    return b"".join(mp3_frame(version, kbps, rate, padding=i % 2) for i in range(frames))


def id3v2(size: int = 300) -> bytes:
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + b"TIT2" + bytes(size - 4)


def xing_mp3(claimed_frames: int, real_frames: int) -> bytes:
    """A VBR MP3 (MPEG-1, stereo): an Xing header in its first frame, then frames of two bit rates."""
    xing = b"Xing" + struct.pack(">II", 1, claimed_frames)  # flags: the frame count is given
    first = mp3_frame(payload=bytes(32) + xing)  # (after 32 bytes of side information)
    return first + b"".join(mp3_frame(kbps=(64 if i % 3 else 192)) for i in range(real_frames))


def adts(seconds: float, rate: int = 22050, size: int = 200) -> bytes:
    """AAC in ADTS (ISO 14496-3 §1.A.2): a 7-byte header per frame of 1024 samples."""
    index = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000).index(rate)
    header = bytes([0xFF, 0xF1, 1 << 6 | index << 2, 2 << 6 | size >> 11, (size >> 3) & 0xFF,
                    (size & 7) << 5 | 0x1F, 0xFC])
    return (header + bytes(size - 7)) * round(seconds * rate / 1024)


# -- WAV, MIDI, MP4 ----------------------------------------------------------------------------


def chunk(cid: bytes, payload: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk: its id, its size (the payload's, unless another is declared), its payload."""
    return cid + struct.pack("<I", len(payload) if size is None else size) + payload


def riff(form: bytes, chunks: bytes) -> bytes:
    """A RIFF file of `form` (WAVE, AVI, QLCM) holding `chunks`."""
    return chunk(b"RIFF", form + chunks)


def wav(seconds: float, rate: int = 8000, channels: int = 1, bits: int = 16, extra: bytes = b"",
        declared: int | None = None, byte_rate: int | None = None) -> bytes:
    block = channels * bits // 8
    data = bytes(round(seconds * rate) * block)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block if byte_rate is None else byte_rate, block, bits)
    return riff(b"WAVE", chunk(b"fmt ", fmt) + extra + chunk(b"data", data, declared))


def varlen(n: int) -> bytes:
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.insert(0, 0x80 | (n & 0x7F))
    return bytes(out)


def midi(tracks: list[bytes], division: int = 480, form: int = 1) -> bytes:
    head = b"MThd" + struct.pack(">IHHH", 6, form, len(tracks), division)
    return head + b"".join(b"MTrk" + struct.pack(">I", len(t)) + t for t in tracks)


def tempo(delta: int, us_per_quarter: int) -> bytes:
    return varlen(delta) + b"\xff\x51\x03" + us_per_quarter.to_bytes(3, "big")


END_OF_TRACK = b"\xff\x2f\x00"


def notes(count: int, ticks_each: int) -> bytes:
    """A note on, then (running status) notes off and on again, each `ticks_each` later."""
    out = varlen(0) + b"\x90\x3c\x64"
    for _ in range(count):
        out += varlen(ticks_each) + b"\x3c\x00" + varlen(0) + b"\x3e\x64"
    return out + varlen(0) + b"\xc0\x05" + varlen(0) + END_OF_TRACK  # (a program change: one data byte)


def box(kind: bytes, payload: bytes, large: bool = False) -> bytes:
    if large:  # a 64-bit size after the type (ISO 14496-12 §4.2)
        return struct.pack(">I", 1) + kind + struct.pack(">Q", 16 + len(payload)) + payload
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mvhd(scale: int, length: int, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 0, 0, scale, length)
    else:
        times = struct.pack(">IIII", 0, 0, scale, length)
    return box(b"mvhd", bytes([version, 0, 0, 0]) + times + bytes(80))


def mp4(brand: bytes = b"3gp6", scale: int = 600, length: int = 4500, version: int = 0, moov_first: bool = True,
        media: int = 20000, large: bool = False) -> bytes:
    ftyp = box(b"ftyp", brand + bytes(4) + brand + b"isom")
    moov = box(b"moov", mvhd(scale, length, version))
    mdat = box(b"mdat", bytes(media), large=large)
    return ftyp + (moov + mdat if moov_first else mdat + moov)


def dur(part: mm7.Part) -> list[str]:
    return [par.get("dur") for par in etree.fromstring(make_smil([part]).data).iter("par")]


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "kbps", "rate"), [("1", 128, 44100), ("1", 32, 32000), ("2", 24, 16000),
                                                       ("2", 160, 24000), ("2.5", 8, 8000), ("2.5", 32, 11025)])
def test_an_mp3_lasts_as_long_as_its_frames(version, kbps, rate):
    data = mp3(7.3, version, kbps, rate)
    frames = round(7.3 * rate / samples_per_frame(version))
    assert duration_ms(BytesBlob(data)) == round(frames * samples_per_frame(version) * 1000 / rate)
    assert sniff_type(data[:4096]) == "audio/mpeg"


def test_an_mp3_after_its_id3_tag_with_trailing_tags():
    data = id3v2(1000) + mp3(12) + b"TAG" + bytes(125)
    assert abs(duration_ms(BytesBlob(data)) - 12000) <= 26
    assert dur(mm7.Part.from_bytes(data)) == ["11990ms"]  # 459 frames of 26.12 ms


def test_an_id3_footer_is_counted_for_a_v2_4_tag_only():
    """The footer flag (0x10) is v2.4's; in a v2.2 or v2.3 tag the bit is undefined, and a tag
    setting it has no footer: skipping ten bytes more would start the search inside the audio."""
    tag = id3v2(300)
    assert id3_size(tag) == 310
    assert id3_size(tag[:5] + b"\x10" + tag[6:]) == 320
    for version in (2, 3):
        assert id3_size(tag[:3] + bytes([version]) + b"\x00\x10" + tag[6:]) == 310


def test_a_vbr_mp3_is_measured_by_its_xing_header_unless_its_size_contradicts_it():
    data = xing_mp3(claimed_frames=400, real_frames=400)
    assert duration_ms(BytesBlob(data)) == 400 * 1152 * 1000 // 44100
    # A claim of a million frames in a few kilobytes: the frames are counted instead.
    lying = xing_mp3(claimed_frames=1_000_000, real_frames=100)
    assert duration_ms(BytesBlob(lying)) == round(101 * 1152 * 1000 / 44100)


def test_a_vbri_header_gives_the_frame_count():
    vbri = b"VBRI" + struct.pack(">HHHII", 1, 0, 75, 0, 300)
    first = mp3_frame(payload=bytes(32) + vbri)
    data = first + b"".join(mp3_frame(kbps=96) for _ in range(300))
    assert duration_ms(BytesBlob(data)) == 300 * 1152 * 1000 // 44100


def test_aac_in_adts():
    data = adts(9)
    assert duration_ms(BytesBlob(data)) == round(round(9 * 22050 / 1024) * 1024 * 1000 / 22050)
    assert sniff_type(data[:4096]) == "audio/aac"
    assert sniff_type(id3v2(100) + data[:2000]) == "audio/aac"


def test_a_wav_lasts_as_its_data_at_its_rate_whatever_its_header_says():
    assert duration_ms(BytesBlob(wav(6.5))) == 6500
    listed = wav(2, rate=22050, channels=2, extra=b"LIST" + struct.pack("<I", 5) + b"INFO0\x00")  # (odd: padded)
    assert duration_ms(BytesBlob(listed)) == 2000
    # A data size from a writer that streamed (~0), and a byte rate that is wrong: the bytes tell.
    assert duration_ms(BytesBlob(wav(3, declared=0xFFFFFFFF, byte_rate=1))) == 3000
    assert duration_ms(BytesBlob(wav(3, declared=10**9))) == 3000


def test_a_midi_lasts_as_its_ticks_at_its_tempos():
    # Two quarters at 120 beats a minute (1 s), then two at 60 (2 s); the other track ends sooner.
    conductor = tempo(0, 500_000) + tempo(960, 1_000_000) + varlen(960) + END_OF_TRACK
    data = midi([conductor, notes(3, 480)])
    assert duration_ms(BytesBlob(data)) == 3000
    assert sniff_type(data[:4096]) == "audio/midi"
    # Format 0, no tempo given (120 a minute): 8 quarters of notes are 4 s.
    assert duration_ms(BytesBlob(midi([notes(8, 480)], form=0))) == 4000
    # SMPTE time: 25 frames of 40 ticks a second, 5000 ticks.
    assert duration_ms(BytesBlob(midi([notes(5, 1000)], division=0xE728))) == 5000


def test_a_midi_track_that_claims_more_than_the_file_holds_ends_where_the_file_does():
    track = notes(4, 480)
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", 10**6) + track[:-4]
    assert duration_ms(BytesBlob(data)) == 2000
    assert duration_ms(BytesBlob(midi([b"\x00\x3c\x64" + END_OF_TRACK]))) is None  # data with no status


@pytest.mark.parametrize(("kw", "ms"), [
    ({}, 7500),
    ({"version": 1, "scale": 90000, "length": 90000 * 8}, 8000),
    ({"moov_first": False, "large": True}, 7500),
    ({"brand": b"M4A ", "scale": 44100, "length": 44100 * 3}, 3000),
])
def test_an_mp4_lasts_as_its_movie_header_says(kw, ms):
    assert duration_ms(BytesBlob(mp4(**kw))) == ms


def test_an_mp4_whose_movie_header_leaves_the_length_unknown_lasts_as_its_longest_track():
    def trak(scale: int, length: int) -> bytes:
        mdhd = box(b"mdhd", bytes(4) + struct.pack(">IIII", 0, 0, scale, length) + bytes(4))
        return box(b"trak", box(b"tkhd", bytes(84)) + box(b"mdia", mdhd + box(b"hdlr", bytes(25))))

    moov = box(b"moov", mvhd(1000, 0) + trak(8000, 8000 * 4) + trak(30000, 30000 * 6))
    data = box(b"ftyp", b"3gp4" + bytes(4)) + moov + box(b"mdat", bytes(20000))
    assert duration_ms(BytesBlob(data)) == 6000


def test_an_mp4_claiming_more_than_its_bytes_could_hold_is_not_believed():
    assert duration_ms(BytesBlob(mp4(scale=1, length=3600, media=100))) is None  # an hour in 200 bytes
    assert duration_ms(BytesBlob(mp4(length=0xFFFFFFFF))) is None  # "unknown"
    truncated = mp4(moov_first=False)[:-20]
    assert duration_ms(BytesBlob(truncated)) is None


def test_amr_wb_and_files_on_disk(tmp_path):
    (tmp_path / "a.awb").write_bytes(b"#!AMR-WB\n" + (b"\x44" + bytes(60)) * 150)
    assert duration_ms(FileBlob(tmp_path / "a.awb")) == 3000
    # A part of a larger file (as a decoder spools it), read by seeking within its window.
    (tmp_path / "mixed").write_bytes(b"junk" * 100 + wav(1.5) + b"more")
    assert duration_ms(FileBlob(tmp_path / "mixed", 400, len(wav(1.5)))) == 1500


def test_a_blob_without_its_first_bytes_is_read_from_where_it_starts(tmp_path):
    from mm7bind.content import TailBlob

    (tmp_path / "w").write_bytes(b"\xef\xbb\xbf" + wav(1.25))
    for inner in (FileBlob(tmp_path / "w"), BytesBlob(b"\xef\xbb\xbf" + wav(1.25))):
        tail = TailBlob(inner, 3)
        assert duration_ms(tail) == 1250 and tail.read() == wav(1.25)
        with tail.open() as fp:
            fp.seek(4)
            assert fp.read(4) == wav(1.25)[4:8]


def test_slides_last_as_long_as_their_sound_or_video(tmp_path):
    picture = mm7.Part.from_bytes(b"GIF89a" + bytes(20))
    song, clip, words = mm7.Part.from_bytes(mp3(21)), mm7.Part.from_bytes(mp4(length=600 * 9)), mm7.Part.text("hi")
    short_clip, beep = mm7.Part.from_bytes(mp4(length=600 * 2)), mm7.Part.from_bytes(wav(0.2))
    ring = mm7.Part.from_bytes(midi([notes(5, 480)], form=0))
    root = etree.fromstring(make_smil([picture, song, clip, short_clip, words, ring, beep]).data)
    assert [par.get("dur") for par in root.iter("par")] == [
        "21002ms",  # a picture and its 21 s song (804 frames of 26.12 ms): the song's length
        "9000ms",   # a video alone
        "5000ms",   # a 2 s video with a text: time to read it
        "2500ms",   # a tune alone
        "1000ms",   # a 0.2 s beep alone: the shortest slide
    ]


def test_a_smaf_ring_tone_plays_on_a_slide():
    tone = mm7.Part.from_bytes(b"MMMD" + struct.pack(">I", 40) + b"CNTI" + bytes(36))
    slides = [[el.tag for el in par] for par in etree.fromstring(make_smil([tone]).data).iter("par")]
    assert tone.content_type == "application/vnd.smaf" and slides == [["audio"]]


def test_unknown_and_endless_sounds_get_the_default_or_the_cap():
    unknown = mm7.Part.from_bytes(b"OggS" + bytes(100))
    assert dur(unknown) == ["5000ms"]
    endless = mm7.Part.from_bytes(mp4(scale=1, length=3600, media=1024 * 1024))  # an hour at 2.3 kbit/s
    assert dur(endless) == [f"{LONGEST_MS}ms"]
    long_amr = mm7.Part.from_bytes(b"#!AMR\n" + b"\x04" + bytes(12) * 1)  # (one frame: 20 ms)
    assert dur(long_amr) == ["1000ms"]


def test_measuring_any_bytes_never_fails_and_stays_in_bounds():
    rng = random.Random(7)
    seeds = [mp3(1), id3v2() + mp3(0.5), xing_mp3(50, 50), adts(1), wav(1), mp4(), mp4(version=1, large=True),
             midi([tempo(0, 400_000) + notes(4, 96)]), b"#!AMR\n" + bytes(50),
             avi(20, 40_000, frame_bytes=10), midi([notes(2, 96), tempo(0, 300_000) + notes(3, 96)], form=2)]
    seeds += [free_mp3(12, kbps=32, rate=32000), qcp(30), qcp(30, variable=True)]  # (free format: frames of 144 bytes)
    for seed in seeds:
        for _ in range(150):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[: rng.randint(0, len(data))]) if rng.random() < 0.3 else bytes(data)
            ms = duration_ms(BytesBlob(data))
            assert ms is None or 0 < ms <= LONGEST_MS


@pytest.mark.parametrize(("head", "size", "ctype"), [
    (mp3(0.2, "2", 24, 16000), None, "audio/mpeg"),
    (mp3(0.2, "2.5", 8, 8000), None, "audio/mpeg"),
    (mp4(b"3gr6"), None, "video/3gpp"),
    (mp4(b"3gs7"), None, "video/3gpp"),
    (mp4(b"3ge7"), None, "video/3gpp"),
    (mp4(b"3g2a"), None, "video/3gpp2"),
    (mp4(b"kddi"), None, "video/3gpp2"),
    (mp4(b"heic"), None, "image/heic"),
    (b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8 " + bytes(22), None, "image/webp"),
    (b"MMMD" + struct.pack(">I", 40) + b"CNTI" + bytes(36), None, "application/vnd.smaf"),
    (b"BEGIN:IMELODY\r\nVERSION:1.2\r\nMELODY:c2d2e2\r\nEND:IMELODY\r\n", None, "text/x-imelody"),
    (b"\x00\x00\x10\x02" + bytes(4), 8, "image/vnd.wap.wbmp"),  # 16×2 pixels: 2 bytes a row
    (b"\x00\x00\x81\x00\x01" + bytes(16), 21, "image/vnd.wap.wbmp"),  # 128×1: a two-byte width
])
def test_sniffing_common_mms_types(head, size, ctype):
    assert sniff_type(head[:4096], None, size) == ctype


@pytest.mark.parametrize("text", [
    "\ufeffHello".encode("utf-16-le"),  # FF FE: a UTF-16 byte order mark, not MPEG layer I
    "ÿûé and more".encode("latin-1"),
    "ÿóôõ, ÿ".encode("latin-1"),
    b"    ftyp is a box type" + bytes(10),
    b"MMMD, the SMAF header, explained",
    b"OggS is where an Ogg page starts",
    b"\x00\x00\x10\x02" + bytes(5),  # a WBMP's header, a byte too many
])
def test_text_and_odd_bytes_are_not_taken_for_media(text):
    assert sniff_type(text, "notes.txt", len(text)) == "text/plain"


def test_received_parts_of_sniffed_types_are_saved_under_their_extension(tmp_path):
    content = mm7.Content(parts=[mm7.Part.from_bytes(wav(0.1)), mm7.Part.from_bytes(adts(0.1)),
                                 mm7.Part.from_bytes(mp4(b"M4A ")), mm7.Part.from_bytes(b"OggS" + bytes(10)),
                                 mm7.Part.from_bytes(b"x", "audio/x-midi"), mm7.Part.from_bytes(b"x", "audio/3gpp")])
    assert content.save(tmp_path) == ["audio.wav", "audio.aac", "audio.m4a", "audio.ogg", "audio.mid", "audio.3gp"]


# -- AVI, MIDI format 2, free-format MP3 -------------------------------------------------------


def avi(frames: int, us_per_frame: int, frame_bytes: int = 100, junk: bytes = b"", claimed: int | None = None) -> bytes:
    """An AVI (RIFF 'AVI '): LIST 'hdrl' starting with its 56-byte 'avih', then LIST 'movi' with a
    chunk a frame."""
    avih = struct.pack("<14I", us_per_frame, 0, 0, 0x10, frames if claimed is None else claimed, 0, 1, 0,
                       176, 144, 0, 0, 0, 0)
    hdrl = b"hdrl" + chunk(b"avih", avih)
    movi = b"movi" + chunk(b"00dc", bytes(frame_bytes)) * frames
    return riff(b"AVI ", junk + chunk(b"LIST", hdrl) + chunk(b"LIST", movi))


def test_an_avi_lasts_as_its_main_header_says_when_the_file_can_hold_its_frames():
    assert duration_ms(BytesBlob(avi(75, 66_666))) == 4999  # 75 frames at 15 a second
    assert duration_ms(BytesBlob(avi(50, 40_000, junk=b"JUNK" + struct.pack("<I", 3) + b"abc\x00"))) == 2000
    assert sniff_type(avi(1, 40_000)) == "video/x-msvideo"
    assert dur(mm7.Part.from_bytes(avi(250, 40_000))) == ["10000ms"]
    # A frame count no file of this size holds, or no time a frame: the default.
    assert duration_ms(BytesBlob(avi(10, 40_000, claimed=1_000_000))) is None
    assert duration_ms(BytesBlob(avi(10, 0))) is None
    assert duration_ms(BytesBlob(avi(10, 40_000)[:40])) is None  # cut inside its header



def qcp(packets: int, packet_bytes: int = 35, variable: bool = False, claimed: int | None = None) -> bytes:
    """A QCP file (RFC 3625) of QCELP-13K: a 150-byte 'fmt ' (version, codec GUID and name, average
    bit rate, packet size, block size 160, 8000 Hz, 16-bit samples, the rate map), 'vrat' when the
    rate varies, then 'data'."""
    fmt = bytes([1, 0]) + bytes(16) + struct.pack("<H", 2) + b"Qcelp 13K".ljust(80, b"\x00")
    fmt += struct.pack("<HHHHH", 14000, packet_bytes, 160, 8000, 16) + bytes(150 - 110)
    chunks = chunk(b"fmt ", fmt)
    if variable:
        chunks += chunk(b"vrat", struct.pack("<II", 1, packets if claimed is None else claimed))
    data = bytes(packet_bytes * packets if not variable else 20 * packets)  # (a variable rate: shorter packets)
    return riff(b"QLCM", chunks + chunk(b"data", data))


def test_a_cdma_voice_note_lasts_its_packets_of_20_ms():
    assert sniff_type(qcp(1)) == "audio/qcelp" and sniff_type(b"", "note.qcp") == "audio/qcelp"
    assert duration_ms(BytesBlob(qcp(150))) == 3000  # fixed rate: the data's bytes over a packet's
    assert duration_ms(BytesBlob(qcp(400, variable=True))) == 8000  # variable: the count 'vrat' keeps
    assert dur(mm7.Part.from_bytes(qcp(100))) == ["2000ms"]
    # A count the data cannot hold, a file cut inside its header: the default.
    assert duration_ms(BytesBlob(qcp(10, variable=True, claimed=1_000_000))) is None
    assert duration_ms(BytesBlob(qcp(10)[:60])) is None

def test_a_midi_of_format_2_lasts_as_its_patterns_played_one_after_another():
    # Three patterns: 2 s at 120 a minute, 2 s at 60 (its own tempo), 1 s at 120 again.
    patterns = [notes(4, 480), tempo(0, 1_000_000) + notes(2, 480), notes(2, 480)]
    assert duration_ms(BytesBlob(midi(patterns, form=2))) == 5000
    # Format 1 plays them at once, to one tempo map: the longest, 4 quarters at 60 a minute.
    assert duration_ms(BytesBlob(midi(patterns, form=1))) == 4000
    assert duration_ms(BytesBlob(midi(patterns, form=3))) is None


def free_mp3(frames: int, kbps: int = 448, rate: int = 44100, seed: int = 1) -> bytes:
    """Free-format MPEG-1 layer III (bit rate index 0): frames of 144 × rate / sample rate bytes,
    padded a byte now and then to keep that rate, their data random, with a sync word inside."""
    rng, out, owed = random.Random(seed), [], 0
    base, fraction = divmod(144 * kbps * 1000, rate)
    for _ in range(frames):
        owed += fraction
        pad = int(owed >= rate)
        owed -= rate * pad
        header = bytes([0xFF, 0xFB, _RATES["1"].index(rate) << 2 | pad << 1, 0x44])
        data = bytearray(rng.randbytes(base + pad - 4))
        data[40:44] = header  # (the next frame's header, as far as a search for sync words knows)
        out.append(header + bytes(data))
    return b"".join(out)


def test_a_free_format_mp3_lasts_as_its_frames_whose_length_the_sync_words_show():
    assert duration_ms(BytesBlob(free_mp3(383))) == round(383 * 1152 * 1000 / 44100)  # 10 s
    assert duration_ms(BytesBlob(id3v2(500) + free_mp3(100, kbps=500, rate=32000))) == 3600
    assert duration_ms(BytesBlob(free_mp3(100) + b"TAG" + bytes(125))) == round(100 * 1152 * 1000 / 44100)
    # Unsure: too few frames to tell a length, or frames that stop short of the end.
    assert duration_ms(BytesBlob(free_mp3(3))) is None
    assert duration_ms(BytesBlob(free_mp3(100) + b"\x00" * 3000)) is None
    assert dur(mm7.Part.from_bytes(free_mp3(383), filename="song.mp3")) == ["10005ms"]


# -- A 3GP without a video track is a sound ----------------------------------------------------


def track(handler: bytes) -> bytes:
    hdlr = box(b"hdlr", bytes(4) + bytes(4) + handler + bytes(12) + b"\x00")  # (version, flags, predefined)
    return box(b"trak", box(b"tkhd", bytes(84)) + box(b"mdia", box(b"mdhd", bytes(24)) + hdlr))


def iso_media(brand: bytes, handlers: list[bytes], index_last: bool = True) -> bytes:
    ftyp = box(b"ftyp", brand + bytes(4) + brand + b"isom")
    moov = box(b"moov", mvhd(1000, 3000) + b"".join(track(h) for h in handlers))
    mdat = box(b"mdat", bytes(8000))  # (more than the 4 KiB a type is sniffed from: the index is past it)
    return ftyp + (mdat + moov if index_last else moov + mdat)


@pytest.mark.parametrize(("brand", "handlers", "ctype"), [
    (b"3gp4", [b"soun"], "audio/3gpp"),
    (b"3gp6", [b"soun", b"hint"], "audio/3gpp"),
    (b"3g2a", [b"soun"], "audio/3gpp2"),
    (b"isom", [b"soun"], "audio/mp4"),
    (b"3gp4", [b"soun", b"vide"], "video/3gpp"),
    (b"3g2a", [b"vide"], "video/3gpp2"),
    (b"3gp4", [], "video/3gpp"),  # no track at all, or none of sound: no telling
    (b"3gp4", [b"text"], "video/3gpp"),
])
def test_a_3gp_without_a_video_track_is_audio(brand, handlers, ctype, tmp_path):
    data = iso_media(brand, handlers)
    (tmp_path / "clip.3gp").write_bytes(data)
    assert mm7.Part.from_bytes(data).content_type == ctype
    assert mm7.Part.from_file(tmp_path / "clip.3gp").content_type == ctype
    assert mm7.Part.from_bytes(iso_media(brand, handlers, index_last=False)).content_type == ctype
    assert mm7.Part.from_bytes(data, "video/3gpp").content_type == "video/3gpp"  # (a type given is kept)


def test_a_3gp_whose_index_cannot_be_read_whole_stays_video():
    data = iso_media(b"3gp4", [b"soun", b"vide"])
    assert mm7.Part.from_bytes(data[:-30]).content_type == "video/3gpp"  # cut in its last track
    ftyp = box(b"ftyp", b"3gp4" + bytes(4))
    broken = box(b"moov", mvhd(1000, 3000) + track(b"soun") + b"\x00\x00\x00\x04trak" + track(b"vide"))
    assert mm7.Part.from_bytes(ftyp + broken).content_type == "video/3gpp"  # a track past a broken box
    no_handler = box(b"moov", box(b"trak", box(b"mdia", box(b"mdhd", bytes(24)))) + track(b"soun"))
    assert mm7.Part.from_bytes(ftyp + no_handler).content_type == "video/3gpp"


def test_an_audio_only_3gp_plays_on_its_slide_as_a_sound():
    voice, picture = mm7.Part.from_bytes(iso_media(b"3gp4", [b"soun"])), mm7.Part.from_bytes(b"GIF89a" + bytes(20))
    root = etree.fromstring(make_smil([picture, voice]).data)
    assert [[el.tag for el in par] for par in root.iter("par")] == [["img", "audio"]]
    assert mm7.content.file_name(voice).endswith(".3gp")


_MAGICS = [b"#!AMR\n", b"#!AMR-WB\n", b"RIFF\xff\xff\xff\xffWAVE", b"RIFF\x00\x00\x00\x00AVI LIST\x10\x00\x00\x00hdrlavih",
           b"RIFF\x00\x00\x00\x00QLCM", b"MThd\x00\x00\x00\x06\x00\x02", b"\x00\x00\x00\x10ftyp3gp4\x00\x00\x00\x00",
           b"\xff\xfb\x04\x00", b"ID3\x03\x00\x00\x00\x00\x00\x10", b"\xff\xf1"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_MAGICS), st.binary(max_size=300), st.integers(1, 4))
def test_any_bytes_behind_a_known_start_are_measured_or_not_never_an_exception(magic, rest, repeats):
    from mm7bind.content import sniff_blob_type
    from mm7bind.durations import has_video

    blob = BytesBlob(magic + rest * repeats)
    ms = duration_ms(blob)
    assert ms is None or 0 < ms <= LONGEST_MS
    assert has_video(blob) in (True, False, None)
    assert sniff_blob_type(blob)
