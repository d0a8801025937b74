"""The multimedia content of an MM: parts (text, images, audio, video, SMIL) and their bytes.

A part's bytes live in a `Blob`: in memory, in a file the user gave, or in a temporary file the
decoder spooled a large part into. Nothing here reads a whole file unless asked (`Part.data`), so a
50 MB video goes from disk to socket, and from socket to disk, in fixed-size chunks.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import html
import io
import itertools
import mimetypes
import os
import re
import shutil
import tempfile
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote
from xml.sax.saxutils import quoteattr

from . import durations, gbk
from .durations import LONGEST_MS, adts_frame, id3_size, mpeg_frame, same_stream
from .errors import DecodeError, Deviation, EncodeError
from .hints import suggest_keywords

CHUNK = 256 * 1024


# ---------------------------------------------------------------------------------------------
# Byte sources


class Blob:
    """Immutable bytes that can be read again and again, without necessarily being in memory."""

    size: int

    def open(self) -> BinaryIO:
        raise NotImplementedError

    def read(self) -> bytes:
        with self.open() as fp:
            return fp.read()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        with self.open() as fp:
            while chunk := fp.read(size):
                yield chunk

    def in_memory(self) -> bytes | memoryview | None:
        """The bytes, when they are in memory already (no copy); None for blobs on disk."""
        return None

    def sha256(self) -> str:
        data = self.in_memory()
        if data is not None:  # (one call: no chunks to cut and feed)
            return hashlib.sha256(data).hexdigest()
        h = hashlib.sha256()
        for chunk in self.chunks():
            h.update(chunk)
        return h.hexdigest()

    def save(self, path: str | os.PathLike) -> None:
        with self.open() as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)


class BytesBlob(Blob):
    def __init__(self, data: bytes | bytearray | memoryview):
        self.data = bytes(data)
        self.size = len(self.data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)

    def read(self) -> bytes:
        return self.data

    def in_memory(self) -> bytes:
        return self.data

    def sha256(self) -> str:
        # (bytes do not change: hashed once, for the receiver's duplicate key and then a handler's
        # own use, a forwarded payload's "sha256")
        digest = self.__dict__.get("_sha256")
        if digest is None:
            digest = self._sha256 = hashlib.sha256(self.data).hexdigest()
        return digest

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        view = memoryview(self.data)  # views, not copies: writers and hashes take them as they are
        for i in range(0, self.size, size):
            yield view[i : i + size]


class FileBlob(Blob):
    """A region of a file on disk (the whole file by default); the file must not change."""

    def __init__(self, path: str | os.PathLike, offset: int = 0, size: int | None = None):
        self.path = Path(path)
        self.offset = offset
        self.size = (self.path.stat().st_size - offset) if size is None else size

    def open(self) -> BinaryIO:
        fp = open(self.path, "rb")
        if self.offset == 0 and self.size == self.path.stat().st_size:
            return fp
        fp.seek(self.offset)
        return _Window(fp, self.size)


class SpooledBlob(FileBlob):
    """A temporary file this process wrote (decoded or stream-supplied data); removed when dropped."""

    def __init__(self, path: str | os.PathLike, size: int):
        super().__init__(path, 0, size)

    def __del__(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass


class TailBlob(Blob):
    """Another blob without its first `skip` bytes (a UTF-8 byte order mark, say); it keeps that
    blob, and so a spooled file, alive."""

    def __init__(self, blob: Blob, skip: int):
        self.blob, self.skip = blob, min(skip, blob.size)
        self.size = blob.size - self.skip

    def open(self) -> BinaryIO:
        fp = self.blob.open()
        if not fp.seekable():
            fp.read(self.skip)
            return fp
        fp.seek(self.skip, io.SEEK_CUR)
        return _Window(fp, self.size)  # (offsets from the tail's start, as a reader seeking expects)

    def in_memory(self) -> bytes | memoryview | None:
        data = self.blob.in_memory()
        return None if data is None else memoryview(data)[self.skip :]


class _Window(io.RawIOBase):
    """Read at most `size` bytes of an open file from its current position."""

    def __init__(self, fp: BinaryIO, size: int):
        self.fp, self.left = fp, size
        self.start, self.size = fp.tell(), size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        here = self.size - self.left
        target = {io.SEEK_SET: offset, io.SEEK_CUR: here + offset, io.SEEK_END: self.size + offset}[whence]
        target = max(0, min(target, self.size))
        self.fp.seek(self.start + target)
        self.left = self.size - target
        return target

    def tell(self) -> int:
        return self.size - self.left

    def readinto(self, b) -> int:  # noqa: ANN001
        n = min(len(b), self.left)
        if n <= 0:
            return 0
        got = self.fp.readinto(memoryview(b)[:n])
        self.left -= got
        return got

    def close(self) -> None:
        self.fp.close()
        super().close()


class BlobWriter:
    """Collects bytes in memory up to `threshold`, then in a temporary file: bounded memory."""

    def __init__(self, threshold: int = 4 * 1024 * 1024, max_size: int | None = None):
        self.threshold = threshold
        self.max_size = max_size
        self.buffer = bytearray()
        self.file: BinaryIO | None = None
        self.path: str | None = None
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self.max_size is not None and self.size > self.max_size:
            from .errors import LimitExceededError  # noqa: PLC0415

            self.discard()  # (its temporary file goes now, not with the process)
            raise LimitExceededError(f"a part is larger than the limit of {self.max_size} bytes")
        if self.file is not None:
            self.file.write(data)
            return
        self.buffer += data
        if len(self.buffer) > self.threshold:
            fd, self.path = tempfile.mkstemp(prefix="mm7bind-")
            self.file = os.fdopen(fd, "wb")
            self.file.write(self.buffer)
            self.buffer = bytearray()

    def blob(self) -> Blob:
        if self.file is None:
            return BytesBlob(self.buffer)
        self.file.close()
        return SpooledBlob(self.path, self.size)

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
            os.unlink(self.path)
            self.file = None
        self.buffer = bytearray()


def spool(stream: BinaryIO, threshold: int = 4 * 1024 * 1024) -> Blob:
    """Copy a stream into a blob (memory if small, a temporary file otherwise)."""
    writer = BlobWriter(threshold)
    while chunk := stream.read(CHUNK):
        writer.write(chunk)
    return writer.blob()


# ---------------------------------------------------------------------------------------------
# Types

SNIFF_BYTES = 4096  # the head of a part its type is told from

_MAGIC = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"#!AMR-WB\n", "audio/amr-wb"),
    (b"#!AMR\n", "audio/amr"),
    (b"MThd\x00\x00\x00\x06", "audio/midi"),  # (its header chunk's length too: "MThd" alone may be text)
    (b"OggS\x00", "audio/ogg"),  # (its stream structure version too: "OggS" alone may be text)
    (b"%PDF-", "application/pdf"),
]
_BMP_HEADERS = {12, 16, 40, 52, 56, 64, 108, 124}  # sizes of the header after a bitmap's file header
_HEIF_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"heim": "image/heic", b"heis": "image/heic",
                b"mif1": "image/heif", b"msf1": "image/heif"}
_EXTRA_TYPES = {
    ".smil": "application/smil",
    ".smi": "application/smil",
    ".amr": "audio/amr",
    ".awb": "audio/amr-wb",
    ".3gp": "video/3gpp",
    ".3g2": "video/3gpp2",
    ".wbmp": "image/vnd.wap.wbmp",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".imy": "text/x-imelody",
    ".mmf": "application/vnd.smaf",
    ".vcf": "text/x-vcard",
    ".txt": "text/plain",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    # (Python's own table lacks some of these, and a system's may name others: the same everywhere)
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".aac": "audio/aac",
    ".m4a": "audio/mp4",
    ".mp4": "video/mp4",
    ".ogg": "audio/ogg",
    ".bmp": "image/bmp",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avi": "video/x-msvideo",
    ".qcp": "audio/qcelp",  # (RFC 3625: CDMA handsets' voice notes)
}


# RIFF files by their form type (what follows the size)
_RIFF_TYPES = {b"WAVE": "audio/wav", b"WEBP": "image/webp", b"AVI ": "video/x-msvideo", b"QLCM": "audio/qcelp"}


def sniff_type(head: bytes, filename: str | None = None, size: int | None = None) -> str:
    """Content type from the first bytes (`SNIFF_BYTES` of them tell the most; `size`, the whole
    part's, lets a WBMP be told, which has no magic number), else from the file name, else
    application/octet-stream."""
    for magic, ctype in _MAGIC:
        if head.startswith(magic):
            return ctype
    # Magic numbers of two or three letters that text may start with ("BMW ...", "ID3 tags"): the
    # header fields after them must fit as well.
    if head.startswith(b"BM") and head[6:10] == bytes(4) and int.from_bytes(head[14:18], "little") in _BMP_HEADERS:
        return "image/bmp"
    if head.startswith(b"ID3") and head[3:4] in (b"\x02", b"\x03", b"\x04") and head[4:5] != b"\xff":
        tag = id3_size(head)  # (AAC is tagged as MP3 is: what follows the tag tells)
        return "audio/aac" if tag and adts_frame(head[tag:]) and not mpeg_frame(head[tag:]) else "audio/mpeg"
    if head[:1] == b"\xff":  # MPEG audio and AAC: no magic, a frame header (FF FE, a UTF-16 text, is none)
        ctype = _frame_type(head)
        if ctype:
            return ctype
    if head[4:8] == b"ftyp" and 16 <= int.from_bytes(head[:4], "big") <= SNIFF_BYTES:  # (text: a huge size)
        return _mp4_type(head[8:12])
    if head.startswith(b"MMMD") and head[8:12] == b"CNTI":  # (SMAF: its contents-info chunk comes first)
        return "application/vnd.smaf"
    if head.startswith(b"BEGIN:IMELODY"):
        return "text/x-imelody"
    if head.startswith(b"RIFF") and head[8:12] in _RIFF_TYPES:
        return _RIFF_TYPES[head[8:12]]
    if size is not None and _is_wbmp(head, size):
        return "image/vnd.wap.wbmp"
    stripped = head.removeprefix(codecs.BOM_UTF8).lstrip()[:64].lower()  # (Windows editors write the mark)
    # (a declaration, a DOCTYPE or a comment may come first, as SMIL editors write them)
    if stripped.startswith(b"<smil") or (stripped.startswith((b"<?xml", b"<!doctype smil", b"<!--"))
                                         and b"<smil" in head[:512].lower()):
        return "application/smil"
    if filename:
        ext = os.path.splitext(filename)[1].lower()
        return _EXTRA_TYPES.get(ext) or mimetypes.guess_type("x" + ext)[0] or "application/octet-stream"
    return "application/octet-stream"


_AUDIO_ONLY = {"video/3gpp": "audio/3gpp", "video/3gpp2": "audio/3gpp2", "video/mp4": "audio/mp4"}


def sniff_blob_type(blob: Blob, filename: str | None = None) -> str:
    """`sniff_type` of a blob's first bytes, and then an MP4 or 3GP whose tracks are all sounds (a
    handset's voice recording) typed as audio, which a handset plays rather than shows: its index
    may follow the media (a recorder writes it last), so it is looked up in the blob (`durations.
    has_video`: 256 boxes and a MiB of index at the most); one that cannot be read stays video."""
    with blob.open() as fp:
        head = fp.read(SNIFF_BYTES)
    ctype = sniff_type(head, filename, blob.size)
    if ctype in _AUDIO_ONLY and head[4:8] == b"ftyp" and durations.has_video(blob) is False:
        return _AUDIO_ONLY[ctype]
    return ctype


def _frame_type(head: bytes) -> str | None:
    """audio/mpeg or audio/aac for a head that starts with a frame header followed by another of
    the same stream (a frame is at most 1728 bytes: the second is in the head), or that is one
    whole frame. One header alone is four bytes that a text in Latin-1 could start with ("ÿû")."""
    for parse, ctype in ((mpeg_frame, "audio/mpeg"), (adts_frame, "audio/aac")):
        frame = parse(head)
        if frame is not None:
            following = head[frame[0] : frame[0] + 10]
            if (parse(following) and same_stream(head, following)) or len(head) == frame[0]:
                return ctype
    return None


def _mp4_type(brand: bytes) -> str:
    """The type of an ISO media file by its major brand: 3GPP's (3gp4, 3gr6, 3gs7, 3ge7...),
    3GPP2's (3g2a..., KDDI's), iTunes' audio (an .m4a is no video), HEIF pictures, else MP4."""
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return "audio/mp4"
    if brand in _HEIF_BRANDS:
        return _HEIF_BRANDS[brand]
    if brand.startswith(b"3g2") or brand == b"kddi":
        return "video/3gpp2"
    if brand.startswith(b"3g") and brand[2:3].isalpha():
        return "video/3gpp"
    return "video/mp4"


def _is_wbmp(head: bytes, size: int) -> bool:
    """A WAP bitmap: type 0, no extension headers, a width and a height (as uintvars), then
    exactly one bit a pixel, rows padded to bytes: the size must be that to the byte."""
    if not head.startswith(b"\x00\x00"):
        return False
    pos, dims = 2, []
    for _ in range(2):
        value = 0
        for _ in range(3):  # (a uintvar of three bytes is up to 2 million pixels: far past any screen)
            if pos >= len(head):
                return False
            value = (value << 7) | (head[pos] & 0x7F)
            pos += 1
            if not head[pos - 1] & 0x80:
                break
        else:
            return False
        dims.append(value)
    width, height = dims
    return width > 0 and height > 0 and size == pos + (width + 7) // 8 * height


_EXTENSION_FOR = {t: ext for ext, t in reversed(_EXTRA_TYPES.items())}  # the first listed wins
_EXTENSION_FOR.update({  # other names handsets and gateways give the same types
    "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/mp3": ".mp3", "audio/x-mp3": ".mp3",
    "audio/mid": ".mid", "audio/x-midi": ".mid", "audio/sp-midi": ".mid", "audio/x-m4a": ".m4a",
    "audio/x-aac": ".aac", "audio/3gpp": ".3gp", "audio/3gpp2": ".3g2", "image/jpg": ".jpg",
    "image/pjpeg": ".jpg", "image/x-ms-bmp": ".bmp", "text/i-melody": ".imy", "text/x-vcalendar": ".vcs",
})
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
HAS_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")  # a file name's extension, at its end


def extension_for(content_type: str) -> str:
    """A file extension for a content type (".bin" when nothing better is known)."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    return _EXTENSION_FOR.get(ctype) or mimetypes.guess_extension(ctype) or ".bin"


def safe_name(text: str, limit: int = 120) -> str:
    """`text` as one file or folder name: its last path segment, without characters that are
    unsafe in a name on some system or not printable, not hidden (no leading dot), at most
    `limit` bytes in UTF-8 (file systems count bytes: 120 Chinese characters are 360, past the
    usual 255); "" when nothing is left. Windows' device names (CON, NUL, COM1... with any extension) get a "_" in
    front, and trailing dots and spaces go (Windows drops them, so "a.txt." would be "a.txt")."""
    name = _UNSAFE_IN_NAME.sub("_", text.replace("\\", "/").rsplit("/", 1)[-1]).strip().lstrip(".")
    if not name.isprintable():  # C1 controls, a right-to-left override ("photo\u202egpj.exe"), line separators
        name = "".join(c if c.isprintable() else "_" for c in name)
    encoded = name.encode("utf-8", "replace")
    if len(encoded) > limit:  # (shortened before its extension: "….docx" stays a document)
        ext = HAS_EXTENSION.search(name)
        ext_text = ext.group(0) if ext and len(ext.group(0)) < limit // 2 else ""
        stem = encoded[: limit - len(ext_text)].decode("utf-8", "ignore").strip().rstrip(". ")
        name = stem + ext_text if stem else ""
    name = name.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore").strip().rstrip(". ")
    if _DEVICE_NAME.match(name):
        name = "_" + name
    return name


# (Windows takes the superscript digits as digits here, and CONIN$ and CONOUT$ are devices too)
_DEVICE_NAME = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3]|CONIN\$|CONOUT\$)(\.|$)",
                          re.IGNORECASE)


def file_name(part: Part) -> str:
    """A file name for a part from its own name — filename, Content-Location, or Content-ID
    without its @domain — never a path (a hostile name must not leave the folder), with an
    extension from the content type when the name has none."""
    name = part.filename or part.content_location
    if not name and part.content_id:
        name = id_file_name(part.content_id.split("@", 1)[0] or part.content_id)
    name = safe_name(_unescaped(name) if name and "%" in name else name or "")
    if not name:
        name = "presentation" if part.kind == "smil" else part.kind
    if not HAS_EXTENSION.search(name):
        name += extension_for(part.content_type)
    return name


def _unescaped(name: str) -> str:
    """A name given as a URL whose escapes are no UTF-8 (a GBK peer's "%C4%E3.gif", kept so to be
    forwarded as it came; UTF-8 escapes are decoded as parts are read) as the name its bytes
    spell, read as raw bytes in a header are (UTF-8, else GBK): "你.gif". Anything else as it is."""
    if not _AS_URL.fullmatch(name) or location_name(name) != name:
        return name
    from urllib.parse import unquote_to_bytes  # noqa: PLC0415

    from .mime import decode_header_bytes  # noqa: PLC0415 (mime builds on this module)

    return decode_header_bytes(unquote_to_bytes(name))


def text_of(data: bytes, charset: str | None) -> str:
    """`data` as text in `charset` (unknown or wrong labels recovered as `decode_part_text`
    does), else as UTF-8 with U+FFFD for what is not."""
    try:
        text = decode_part_text(data, charset, "part")[0]
    except DecodeError:  # in no charset at all: what can be read, rather than no text
        text = data.decode("utf-8", "replace")
    # (a byte order mark is no character of the text: kept, an MO "\ufeffTD" is no keyword "TD")
    return text.removeprefix("\ufeff")


def decode_part_text(data: bytes, charset: str | None, where: str) -> tuple:
    """A text part's bytes as text → (text, codec, deviations), as `xmlsafe.decode_text` reads
    them, and besides: 16-bit text under another label or none (a byte order mark, or the zero
    bytes of its ASCII characters, say so), little-endian text labelled UTF-16 without a byte
    order mark (Windows and Android write it so; RFC 2781 makes it big-endian), and UTF-8 or
    Chinese text labelled in a charset of one byte a character (ISO-8859-1, windows-1252), which
    reads any bytes, as gibberish ("ÐÂÄê" for GBK's "新年"). Each said as a charset-mismatch
    (charset-undeclared for text without a label)."""
    try:
        codec = _LABEL_CODECS[charset]  # (without a call: this runs for each text part received)
    except KeyError:
        codec = _label_codec(charset)
    found = None
    if data[:2] in _UTF16_MARKS or b"\x00" in data or codec in _SIXTEEN_BIT:
        found = _sixteen_bit(data, codec)
    elif codec in ONE_BYTE_LATIN and not data.isascii():
        found = "utf-8" if decodes(data, "utf-8") else "gb18030" if gbk.text_charset(data, final=True) else None
        found = found and (found, "")
    if found is None:
        return (_decoder or _xml_decoder())(data, charset, None, where)
    order, how = found
    if charset is None:  # (as `decode_text` says of unlabelled text that is not UTF-8)
        return data.decode(order), order, [Deviation("charset-undeclared", where, f"no charset named and the bytes "
                                                                                  f"are not UTF-8; read as {order}{how}")]
    return data.decode(order), order, [Deviation("charset-mismatch", where, f"labelled {charset!r}, but the bytes "
                                                                             f"are {order.upper()} text{how}")]


def _label_codec(charset: str | None) -> str | None:
    """The Python codec of a charset label (`xmlsafe.charset_codec`), kept for the next part."""
    from .xmlsafe import charset_codec  # noqa: PLC0415

    codec = charset_codec(charset)[0] if charset else None
    if len(_LABEL_CODECS) < 256:  # (labels are few; a hostile peer's new one a message is not kept)
        _LABEL_CODECS[charset] = codec
    return codec


_LABEL_CODECS: dict[str | None, str | None] = {}
_decoder: Callable | None = None  # `xmlsafe.decode_text`, once imported (xmlsafe brings lxml)


def _xml_decoder() -> Callable:
    global _decoder  # noqa: PLW0603
    from .xmlsafe import decode_text  # noqa: PLC0415

    _decoder = decode_text
    return decode_text


_UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
ONE_BYTE_LATIN = {"iso8859-1", "cp1252", "iso8859-15", "latin-1"}  # labels UTF-8 or GBK text often wears
_SIXTEEN_BIT = {"utf-16", "utf-16-le", "utf-16-be"}


def _sixteen_bit(data: bytes, codec: str | None) -> tuple[str, str] | None:
    """(codec, how it shows) for `data` when it is 16-bit text its label (`codec`, a Python codec
    name, or None) does not read right: a byte order mark under another label or none, or the
    other byte order than the label's. None when the label reads it, or it is no 16-bit text."""
    if codec in ("utf-32", "utf-32-le", "utf-32-be"):
        return None
    if data[:2] in _UTF16_MARKS:
        order = "utf-16-le" if data[:2] == codecs.BOM_UTF16_LE else "utf-16-be"
        if codec in ("utf-16", order) or not decodes(data[2:], order):
            return None  # (read by its mark, as the label says)
        return "utf-16", " (a byte order mark)"  # (which Python's utf-16 reads, and drops)
    order = byte_order(data, codec in _SIXTEEN_BIT)
    if order is None or order == codec or (codec == "utf-16" and order == "utf-16-be"):
        return None
    return order, " without a byte order mark"


def decodes(data: bytes, codec: str) -> bool:
    """Whether `data` reads in `codec` without an error."""
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


# What 16-bit text of a message holds: ASCII, CJK symbols and punctuation, CJK ideographs, the
# full-width forms. Read in the wrong byte order, the same text is mostly other characters.
_COMMON_16 = re.compile("[\t\n\r\x20-\x7e\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def byte_order(data: bytes, labelled_16: bool) -> str | None:
    """"utf-16-le" or "utf-16-be" for bytes that are 16-bit text in that byte order, without a
    mark: the zero bytes of ASCII characters, in half the pairs or more, stand mostly on one side
    of each pair (a stray NUL, a C string's end, makes no 8-bit text 16-bit). Text labelled
    16-bit with fewer (Chinese alone) is in the order whose reading is more characters of a
    message. Either way its reading must be nine in ten such characters. None when neither
    order is (an odd length, 8-bit text, binary, both readings alike). (8-bit text whose every
    other character is a NUL is read as 16-bit: the two cannot be told apart, and the second is
    what handsets send.)"""
    if len(data) % 2 or not data:
        return None
    high_first, low_first = data[0::2].count(0), data[1::2].count(0)
    most, least = max(high_first, low_first), min(high_first, low_first)
    # (four characters at least: "a\0", say, is as likely UTF-8 with a NUL as "a" in 16 bits)
    if most * 4 >= len(data) >= 8 and least * 2 < most:
        order = "utf-16-be" if high_first > low_first else "utf-16-le"
        return order if _message_share(data, order) >= 0.9 else None
    if not labelled_16:
        return None
    be, le = _message_share(data, "utf-16-be"), _message_share(data, "utf-16-le")
    return None if max(be, le) < 0.9 or be == le else "utf-16-be" if be > le else "utf-16-le"


def _message_share(data: bytes, order: str) -> float:
    """The share of characters of a message (`_COMMON_16`) in `data` read in `order`; 0 unread."""
    try:
        text = data.decode(order)
    except UnicodeDecodeError:
        return 0.0
    return len(_COMMON_16.findall(text)) / len(text)




def location_name(location: str) -> str:
    """A Content-Location (a URL) as the name it spells: URL escapes decoded when they are UTF-8;
    anything else ("100%.jpg", escapes of other charsets) stays as it is."""
    if "%" not in location:
        return location
    try:
        return unquote(location, errors="strict")
    except UnicodeDecodeError:
        return location


def given_as_url(part: Part) -> bool:
    """Whether `part`'s Content-Location was given as a URL ("%E6%B5%8B.gif", sent as it is, the
    name "测.gif"), not as a name: nothing but URL characters, each "%" starting an escape, and not
    its file name (`add_file`'s location is the file's name: "100%41.jpg" is named so) unless it
    came so in the part's Content-Location header as received (a GBK peer's "%C4%E3.jpg" with
    name="%C4%E3.jpg": forwarded, the URL goes on as it came, not escaped again to "%25C4%25E3.jpg")."""
    location = part.content_location
    return (bool(location) and "%" in location and bool(_AS_URL.fullmatch(location))
            and (location != part.filename or _received_location(part) == location))


def _received_location(part: Part) -> str | None:
    """The Content-Location header of a received part, as it came (stripped); None for a part made here."""
    return next((value.strip() for name, value in part.headers.items() if name.lower() == "content-location"),
                None)


def location_url(location: str, as_url: bool = False) -> str:
    """A Content-Location as written: `location` as it is when it is a URL given as such (`as_url`,
    and nothing but URL characters, each "%" starting an escape), else the name percent-encoded
    where URLs need it ("测.gif" → "%E6%B5%8B.gif", "100%.jpg" → "100%25.jpg"): escaped once, never
    twice. (Locations repeat, e.g. the generated SMIL's, so each is encoded once.)"""
    key = (location, as_url)
    written = _LOCATION_URLS.get(key)
    if written is None:
        # (a lone surrogate, which no header carries, is refused where the header is written)
        written = location if as_url and _AS_URL.fullmatch(location) else quote(location, safe=_URL_SAFE,
                                                                                 errors="surrogatepass")
        if len(_LOCATION_URLS) < 1024:
            _LOCATION_URLS[key] = written
    return written


def read_back(part: Part) -> str | None:
    """The name a reader reads `part`'s Content-Location as, once sent (`location_name` of it as
    written): its own, but for a location given as a URL, the name that spells."""
    location = part.content_location
    return location_name(location) if location and given_as_url(part) else location


_URL_SAFE = "/:@!$&'()*+,;=-._~"  # (besides letters and digits: what a location keeps as it is)
_AS_URL = re.compile(r"(?:[A-Za-z0-9/:@!$&'()*+,;=._~-]|%[0-9A-Fa-f]{2})*")
_LOCATION_URLS: dict[tuple[str, bool], str] = {}


_CHARSET_CHECKED = 1024 * 1024  # bytes of a text read to find its charset (texts in MMS are small)


def text_charset(blob: Blob, if_ascii: str | None = "utf-8") -> str | None:
    """"utf-8" for bytes that are UTF-8, "utf-16" for text with a UTF-16 byte order mark,
    "gb2312" (or "gbk", "gb18030") for bytes that are Chinese text in it and not UTF-8 (see `gbk`), else
    None; `if_ascii` for bytes that are ASCII alone (None: any ASCII-compatible label fits them).
    Only the first MiB is read."""
    with blob.open() as fp:
        head = fp.read(_CHARSET_CHECKED)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=blob.size <= len(head))
    except UnicodeDecodeError:
        return gbk.text_charset(head, final=blob.size <= len(head))
    return if_ascii if head.isascii() else "utf-8"


def _path_name(path: Path) -> str:
    """A file's name as text. A name whose bytes the file system's encoding cannot read (GBK names
    from an archive made on Chinese Windows, on a UTF-8 system) comes with surrogates, which no
    header can carry: its bytes are read as those of a raw name in a part's headers are (UTF-8,
    else GBK)."""
    name = path.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        from .mime import decode_header_bytes  # noqa: PLC0415 (mime builds on this module)

        name = decode_header_bytes(os.fsencode(name))
    return name


def _declared_charset(blob: Blob) -> str | None:
    """The encoding an XML document's declaration names, when it is one of 8 bits that Python
    knows (a declared "utf-16" on 8-bit text is a slip, as `xmlsafe` finds); else None."""
    from .xmlsafe import DECL_ENCODING, XML_DECL, charset_codec  # noqa: PLC0415

    with blob.open() as fp:
        head = fp.read(400).removeprefix(codecs.BOM_UTF8).decode("latin-1")
    decl = XML_DECL.match(head)
    found = DECL_ENCODING.search(decl.group(2)) if decl else None
    label = found.group(1).strip() if found else ""
    codec = charset_codec(label)[0] if re.fullmatch(r"[A-Za-z][A-Za-z0-9._:-]*", label) else None
    try:
        return label if codec and "<?".encode(codec) == b"<?" else None
    except (LookupError, UnicodeError):
        return None


def _starts_with(blob: Blob, prefix: bytes) -> bool:
    with blob.open() as fp:
        return fp.read(len(prefix)) == prefix


def media_kind(content_type: str) -> str:
    """'text', 'image', 'audio', 'video', 'smil' or 'other'."""
    kind = _MEDIA_KINDS.get(content_type) if type(content_type) is str else None  # (a str: no other is a key)
    if kind is None:
        ctype = content_type.split(";", 1)[0].strip().lower()
        if ctype in ("application/smil", "application/smil+xml"):  # (the second: RFC 4536's name)
            kind = "smil"
        else:
            major = ctype.split("/", 1)[0]
            kind = major if major in ("text", "image", "audio", "video") else "other"
        if len(_MEDIA_KINDS) < 256 and type(content_type) is str:
            _MEDIA_KINDS[content_type] = kind
    return kind


_MEDIA_KINDS: dict[str, str] = {}  # content type → its kind: a few types, asked several times a part an encode


# ---------------------------------------------------------------------------------------------
# Parts


_NOT_IN_ID = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")


def new_content_id(hint: str = "part") -> str:
    """A Content-ID no other message will use: a random per-process prefix and a counter (ids must
    be unique, not secret, so no system call per part)."""
    safe = _SAFE_HINTS.get(hint)
    if safe is None:
        # (a dot-atom, as RFC 5322 wants the left of an id: "新年.jpg" leaves ".jpg", and a leading,
        # trailing or doubled dot makes an id strict readers refuse)
        safe = _DOTS.sub(".", _NOT_IN_ID.sub("", hint)[:24]).strip(".") or "part"
        if len(_SAFE_HINTS) < 256:  # hints are mostly our own words ("soap", "smil"), file names rarely
            _SAFE_HINTS[hint] = safe
    return f"{safe}-{_ids.prefix}{next(_ids.counter):x}@mm7bind"


_SAFE_HINTS: dict[str, str] = {}


def ensure_content_id(part: Part, hint: str) -> str:
    """The part's Content-ID, given it one (`new_content_id(hint)`) if it has none. Once only,
    whatever the threads: one Content goes to many recipients at once (`send_bulk`), and a
    SMIL naming the id one thread gave, beside a header with the id another gave, is a blank slide."""
    cid = part.content_id
    if not cid:
        with _ID_LOCK:
            if not part.content_id:
                part.content_id = new_content_id(hint)
            cid = part.content_id
    return cid


_ID_LOCK = threading.Lock()


class _Ids:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(6).hex() + "-"
        self.counter = itertools.count(1)


_ids = _Ids()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.reset)  # a forked worker must not repeat its parent's ids


class _constructor:  # (lower case: a decorator, as classmethod is)
    """A classmethod that is no attribute of an instance: `Part.text("hello")` makes a part, and
    `part.text` on a part raises an AttributeError saying where its text is (`text_value`), where
    the classmethod gave a bound constructor, so `part.text == "hello"` was silently False."""

    def __init__(self, func: Callable) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Callable:
        if instance is not None:
            kind = type(instance).__name__
            raise AttributeError(f"{kind}.{self.name}() makes a new part; the text of this one is "
                                 f"{kind.lower()}.text_value", name=self.name, obj=instance)
        return types.MethodType(self.func, owner)


@dataclass(eq=False)
class Part:
    """One content part. `content_type` has no parameters; the charset of text goes in `charset`."""

    blob: Blob
    content_type: str = "application/octet-stream"
    charset: str | None = None
    content_id: str | None = None  # without angle brackets
    content_location: str | None = None
    filename: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # every header as received (decoded parts)

    def __post_init__(self) -> None:
        if type(self.content_type) is not str:  # (cmcc.MMContentType, say: a string from here on)
            self.content_type = str(self.content_type)

    # -- factories ------------------------------------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes, content_type: str | None = None, **kw) -> Part:
        """A part holding `data`; without `content_type`, the type sniffed from the bytes (then
        `filename`), and text's charset from its bytes. `kw`: `charset`, `content_id`,
        `content_location`, `filename`."""
        blob = BytesBlob(data)
        part = cls(blob, content_type or sniff_blob_type(blob, kw.get("filename")), **kw)
        return part._with_found_charset("charset" in kw)

    @_constructor
    def text(cls, text: str, charset: str = "utf-8", content_type: str = "text/plain", **kw) -> Part:
        """A text part: `text` written in `charset` (an `EncodeError` if it cannot be, or not so
        that it reads back the same: GB2312's U+2015 and U+30FB); `kw` as `from_bytes`'s."""
        try:
            data = text.encode(charset)
        except (ValueError, LookupError) as exc:  # (ValueError: unencodable text, or a NUL in the name)
            raise EncodeError(f"text cannot be written in {charset}: {exc}") from None
        if codecs.lookup(charset).name == "gb2312" and (found := gbk.AMBIGUOUS_IN_GB2312.search(text)):
            raise EncodeError(f"text cannot be written in {charset}: {gbk.ambiguity(found.group())}")
        return cls(BytesBlob(data), content_type, charset=charset, **kw)

    @classmethod
    def from_file(cls, path: str | os.PathLike, content_type: str | None = None, **kw) -> Part:
        """A part read from `path` when it is sent (never held in memory whole), named after the
        file (`filename` and `content_location`); the type as `from_bytes` finds it."""
        path = Path(path)
        blob = FileBlob(path)
        name = _path_name(path)
        if content_type is None:
            content_type = sniff_blob_type(blob, name)
        kw.setdefault("filename", name)
        kw.setdefault("content_location", name)
        return cls(blob, content_type, **kw)._with_found_charset("charset" in kw)

    @classmethod
    def from_stream(cls, stream: BinaryIO, content_type: str | None = None, **kw) -> Part:
        """A part holding what `stream` gives (read now: a large one into a temporary file); the
        type as `from_bytes` finds it."""
        blob = spool(stream)
        if content_type is None:
            content_type = sniff_blob_type(blob, kw.get("filename"))
        return cls(blob, content_type, **kw)._with_found_charset("charset" in kw)

    def _with_found_charset(self, given: bool) -> Part:
        """Text (a SMIL too) without a charset named gets the one its bytes show (UTF-8, UTF-16 by
        its byte order mark, GB2312/GBK/GB18030 when they are Chinese text in it and not UTF-8, as Chinese
        Windows and handsets write): without one, readers take text as US-ASCII and a SMIL as
        UTF-8, and Chinese comes out garbled (a SMIL's file names then name no part). Other bytes
        are left unlabelled: any label would be a guess.
        A UTF-8 byte order mark (Windows editors write one) goes: labelled UTF-8, the text needs
        none, and a handset that shows it shows a stray sign before the first word."""
        if not given and self.charset is None and self.kind in ("text", "smil"):
            # (a SMIL's XML declaration names it: "图片" in GBK is valid UTF-8 too, and read so)
            self.charset = (_declared_charset(self.blob) if self.kind == "smil" else None) or text_charset(self.blob)
            if (self.charset or "").lower() == "utf-8" and _starts_with(self.blob, codecs.BOM_UTF8):
                self.blob = TailBlob(self.blob, len(codecs.BOM_UTF8))
        return self

    # -- access ---------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Its length in bytes."""
        return self.blob.size

    @property
    def data(self) -> bytes:
        """Its bytes, read whole (`blob` streams them, `blob.save(path)` writes them out)."""
        return self.blob.read()

    @property
    def text_value(self) -> str:
        """The text of a text part, decoded with its charset (GB2312 read as GB18030). Bytes that
        fit no charset we know are read as UTF-8 with U+FFFD for what is not (a received part
        says so in the deviation `charset-unreadable`): reading a peer's text never fails."""
        return text_of(self.data, self.charset)

    @property
    def kind(self) -> str:
        """What its type makes it: "text", "image", "audio", "video", "smil" or "other"."""
        return media_kind(self.content_type)

    def sha256(self) -> str:
        """The SHA-256 of its bytes, in hex."""
        return self.blob.sha256()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Part):
            return NotImplemented
        return (
            self.content_type.lower() == other.content_type.lower()
            and (self.charset or "").lower() == (other.charset or "").lower()
            and self.content_id == other.content_id
            and self.content_location == other.content_location
            and self.filename == other.filename
            and self.size == other.size
            and self.data == other.data
        )

    def __repr__(self) -> str:
        ident = self.content_id or self.content_location or self.filename or "?"
        return f"<Part {self.content_type} {ident} {self.size} bytes>"


def save_files(folder: str | os.PathLike, files: list[tuple[str, Callable[[], BinaryIO]]]) -> list[str]:
    """Each (name, opener of its bytes) written into `folder` (made if missing) under its name, one
    already taken given "-2", "-3"... → the names written, in order (see `Content.save`)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for name, opener in files:
        stem, dot, ext = name.rpartition(".")
        candidate, n = name, 1
        while True:
            try:  # created here or not at all: never over a file, nor through a link, found there (closed below)
                out = open(target / candidate, "xb") if candidate not in written else None  # noqa: SIM115
            except FileExistsError:
                out = None
            if out is not None:
                break
            n += 1
            candidate = f"{stem}-{n}.{ext}" if dot else f"{name}-{n}"
        with out, opener() as src:
            shutil.copyfileobj(src, out, CHUNK)
        written.append(candidate)
    return written


@suggest_keywords
@dataclass(eq=False)
class Content:
    """The multimedia content of a message: ordered parts plus an optional SMIL presentation.

    Sent as a nested multipart/related (with SMIL) or multipart/mixed (without); `smil=None` with
    a profile's automatic SMIL on gets a generated one (slides of image/audio/video with text).
    """

    parts: list[Part] = field(default_factory=list)
    smil: Part | None = None
    content_id: str | None = None  # of the container part; generated when sent
    multipart_type: str | None = None  # "related" / "mixed" as received; sending: None chooses (related with a SMIL)

    def add(self, part: Part) -> Part:
        """Append `part` → it."""
        self.parts.append(part)
        return part

    def add_text(self, text: str, charset: str = "utf-8", **kw) -> Part:
        """Append `Part.text(text, charset, **kw)` → it."""
        return self.add(Part.text(text, charset, **kw))

    def add_file(self, path: str | os.PathLike, content_type: str | None = None, **kw) -> Part:
        """Append `Part.from_file(path, content_type, **kw)` → it."""
        return self.add(Part.from_file(path, content_type, **kw))

    def add_bytes(self, data: bytes, content_type: str | None = None, **kw) -> Part:
        """Append `Part.from_bytes(data, content_type, **kw)` → it."""
        return self.add(Part.from_bytes(data, content_type, **kw))

    def all_parts(self, in_smil_order: bool = False) -> list[Part]:
        """The SMIL (when there is one) followed by the parts (`in_smil_order`: as its slides show
        them, `in_smil_order()`)."""
        return ([self.smil] if self.smil else []) + (self.in_smil_order() if in_smil_order else list(self.parts))

    def by_id(self, content_id: str) -> Part | None:
        """The part a Content-ID or a `cid:` URL (a SMIL `src`) names: "<x>", "x", "cid:x" and
        "cid:x%40y" (a URL is percent-encoded, RFC 2392) all find the part with Content-ID <x>."""
        cid = named_id(content_id)
        parts = self.all_parts()
        return (next((p for p in parts if p.content_id == cid), None)
                or next((p for p in parts if (p.content_id or "").lower() == cid.lower()), None)
                or next((p for p in parts if p.content_id and id_name(p.content_id) == cid), None))

    def by_location(self, location: str) -> Part | None:
        """The part with this Content-Location, given as the name or as a URL ("%20", "%E6%96%B0"),
        whichever way the part's own is spelt."""
        parts = self.all_parts()
        name = location_name(location)
        return (next((p for p in parts if p.content_location == location), None)
                or next((p for p in parts if p.content_location == name), None)
                or next((p for p in parts if given_as_url(p) and read_back(p) == name), None))

    def by_reference(self, src: str) -> Part | None:
        """The part a SMIL `src` names, looked up as handsets do: a `cid:` URL by its Content-ID
        (as `by_id`); anything else as a Content-Location (as `by_location`), a bare Content-ID,
        or a file name. Then, as handsets' SMIL is written: the same ignoring case ("IMG_01.JPG"
        for img_01.jpg), and by the last segment of a path on either side ("./photo.jpg",
        "images/photo.jpg", "file:///sdcard/photo.jpg", a location "/sdcard/DCIM/photo.jpg"); and
        a reference not found so, as the name its bytes spell in GBK (a GBK SMIL without a charset,
        read as UTF-8: "ͼƬ.jpg" for "图片.jpg"). None for a URL of another scheme (http:, outside the message) and for one no part answers."""
        return _References(self.all_parts()).find(src)

    def in_smil_order(self) -> list[Part]:
        """The parts (not the SMIL) in the order its presentation shows them — each where a SMIL
        `src` first names it (`by_reference`) — then those it names not, in the message's order.
        Handsets write the parts in any order (the SMIL last, the text after the picture): what
        an MO's sender saw is the SMIL's order. Without a SMIL, the parts as they came."""
        if self.smil is None:
            return list(self.parts)
        refs = _References(self.parts)  # (tables made once: a SMIL of many references stays linear)
        ordered: dict[int, Part] = {}
        for src in dict.fromkeys(smil_references(self.smil)):
            part = refs.find(src)
            if part is not None:
                ordered.setdefault(id(part), part)
        ordered.update((id(p), p) for p in self.parts if id(p) not in ordered)
        return list(ordered.values())

    def save(self, folder: str | os.PathLike, numbered: bool = False, in_smil_order: bool = False) -> list[str]:
        """Write every part (SMIL first; `in_smil_order`: the others as its slides show them) into
        `folder` under its own name (see `file_name`); `numbered` puts each part's position in
        front ("01-presentation.smil"). Names already taken get "-2", "-3"... → the names written,
        in order (that of `all_parts(in_smil_order)`)."""
        return save_files(folder, [(f"{i:02d}-{file_name(part)}" if numbered else file_name(part), part.blob.open)
                                   for i, part in enumerate(self.all_parts(in_smil_order), 1)])

    @property
    def total_size(self) -> int:
        """The bytes of every part, the SMIL's included."""
        return sum(p.size for p in self.all_parts())

    def __len__(self) -> int:
        return len(self.parts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Content):
            return NotImplemented
        return self.parts == other.parts and self.smil == other.smil

    def __repr__(self) -> str:
        smil = " +SMIL" if self.smil else ""
        return f"<Content {len(self.parts)} parts{smil} {self.total_size} bytes>"


# Ring tones: sounds, though typed as text or application (SMAF: Yamaha's, in Chinese handsets).
_MELODIES = {"text/x-imelody", "text/i-melody", "text/e-melody", "text/x-emelody",
             "application/vnd.smaf", "application/x-smaf"}


def smil_kind(part: Part) -> str | None:
    """How a generated SMIL shows a part: 'text' (plain text only: a vCard or a calendar in the
    text region would show as its raw lines), 'image', 'video', 'audio' (melodies too), or None
    for an attachment no slide shows — as for a part of no bytes (a handset shows a broken picture
    or an empty slide): it is sent, but not presented."""
    if not part.size:
        return None
    ctype = part.content_type.lower()
    if ctype == "text/plain":
        return "text"
    if ctype in _MELODIES:
        return "audio"
    kind = part.kind
    return kind if kind in ("image", "audio", "video") else None


def make_smil(parts: list[Part], width: int = 176, height: int = 208, duration_ms: int = 5000) -> Part:
    """A SMIL presentation: one slide per image/video/audio, text joined to the slide it follows
    (a part of no bytes has none: see `smil_kind`); a slide with a video has no other sound (MMS
    conformance: a video plays its own). A slide lasts `duration_ms`, or as long as its sound or
    video when that is longer; a slide with nothing but a sound or a video lasts as long as it
    (see `slide_ms`).

    Parts are referenced by `cid:`; parts without a Content-ID get one here.
    """
    shown = []
    for p in parts:
        kind = smil_kind(p)
        if kind is None:
            continue
        cid = ensure_content_id(p, p.filename or kind)
        length = durations.duration_ms(p.blob) if kind in ("audio", "video") else None
        shown.append((kind, cid, length))
    key = (tuple(shown), width, height, duration_ms)
    text = _SMIL_TEXTS.get(key)
    if text is None:  # the same parts are often sent again and again (bulk sending)
        text = _smil_text(shown, width, height, duration_ms)
        if len(_SMIL_TEXTS) >= 256:
            _SMIL_TEXTS.clear()
        _SMIL_TEXTS[key] = text
    return Part(BytesBlob(text), "application/smil", charset="utf-8", content_id=new_content_id("smil"),
                content_location="presentation.smil")


_SMIL_TEXTS: dict[tuple, bytes] = {}


_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
# The same on ASCII text, two to three times as fast: a pattern that starts with a set of letters
# rather than a word boundary and letters ignoring case is searched for by its first character.
# (Not on other text: ignoring case, "s" is also U+017F, the long s.)
_SRC_ASCII = re.compile(r"""[sS](?<=\b[sS])[rR][cC]\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def smil_references(smil: Part) -> list[str]:
    """The `src` of every element of a SMIL, as written (XML escapes decoded), in order. Read
    from the text rather than parsed: a SMIL is often not quite XML (a DOCTYPE, a stray "&"),
    and what a handset looks up is the reference all the same."""
    text = _without_comments(smil.text_value)
    return [html.unescape(m.group(1) if m.group(1) is not None else m.group(2)).strip() for m in _SRC.finditer(text)]


def _without_comments(text: str) -> str:
    """`text` less its comments; one never closed stays, as does the rest after it. (A pattern,
    ``<!--.*?-->``, searched to the end from each unclosed "<!--": quadratic time, 6 s for 80 KB.)"""
    out, pos = [], 0
    while (start := text.find("<!--", pos)) >= 0 and (end := text.find("-->", start + 4)) >= 0:
        out.append(text[pos:start])
        pos = end + 3
    out.append(text[pos:])
    return "".join(out)


def cid_url(content_id: str, every_percent: bool = False) -> str:
    """The `cid:` URL of a Content-ID, as every reader reads it back: one that percent-decodes it
    (RFC 2392; ours) and one that compares it as written (Android's SmilHelper, and so handsets).
    Only a "%" before two hex digits reads differently to them ("cid:a%41" is the part aA to the
    first): it goes as "%25". Anything else goes as it is (a space, Chinese: escaped, the second
    kind would look for "%E6..." and show a blank slide). `every_percent`: each "%" escaped, as an
    xs:anyURI (`<Content href>`, which MMSCs read) must have it."""
    return "cid:" + (content_id.replace("%", "%25") if every_percent else _PERCENT_ESCAPE.sub("%25", content_id))


_PERCENT_ESCAPE = re.compile(r"%(?=[0-9A-Fa-f]{2})")


def id_name(content_id: str) -> str:
    """The name a Content-ID spells: a non-ASCII id is sent percent-encoded in UTF-8 (a header is
    ASCII on the wire: "<%E5%9B%BE.gif>" for "图.gif"), read back here so a lookup by the name
    finds it. An id that is no such escape stays as it is (as `location_name`)."""
    return location_name(content_id)


def wire_id(content_id: str) -> str:
    """A Content-ID as it is sent (`id_name` reads it back): as it is when ASCII; else each
    character beyond ASCII as its UTF-8 bytes percent-encoded, and "%" as "%25" (a header is ASCII
    on the wire: a GBK-only MMSC garbles UTF-8). One holding a lone surrogate stays as it is: the
    encoder refuses it, saying why."""
    if content_id.isascii():
        return content_id
    try:
        return "".join(c if c.isascii() and c != "%" else quote(c, safe="") for c in content_id)
    except UnicodeEncodeError:
        return content_id


def id_file_name(content_id: str) -> str:
    """The name a Content-ID (or its part before "@") gives a file: the name it spells when sent
    as its UTF-8 escapes ("%E5%9B%BE.gif" is "图.gif", `wire_id`); an ASCII one as it is
    ("a%41.gif" names no "aA.gif")."""
    spelt = id_name(content_id)
    return content_id if spelt.isascii() else spelt


def named_id(content_id: str) -> str:
    """The Content-ID a reference names, as `Content.by_id` reads it."""
    from .mime import strip_id  # noqa: PLC0415 (mime builds on this module)

    cid = strip_id(content_id) or ""
    if cid.lower().startswith("cid:"):
        cid = strip_id(unquote(cid[4:])) or ""  # "cid: x" is seen in real traffic
    return cid


def dangling_references(content: Content, smil: Part, sent_locations: Iterable[str] = ()) -> list[str]:
    """The references of `smil` that name no part of `content`: a `cid:` URL names a Content-ID;
    anything else a Content-Location (as name or URL, whichever way the part's is spelt), a bare
    Content-ID (as China Mobile's SDK users write them), a file name (handsets look a reference up
    by all three), or one of `sent_locations`, the locations parts are sent under besides their own
    (the encoder's: a later part of a name taken, photo-2.jpg; as given, and as read back). URLs
    of another scheme (http:) are outside the message and not looked up. (The parts are looked up
    in tables made once, as `Content.by_id` and `by_location` find them: each reference looked for
    among all the parts, and among those missing so far, took time quadratic in a SMIL of many.)"""
    ids: dict[str, Part] = {}
    folded_ids: dict[str, Part] = {}
    locations: dict[str, Part | bool] = {}
    for part in content.all_parts():
        if part.content_id is not None:
            ids.setdefault(part.content_id, part)
        folded_ids.setdefault((part.content_id or "").lower(), part)
        if part.content_location is not None:
            locations.setdefault(part.content_location, part)
            locations.setdefault(read_back(part), part)
    for location in sent_locations:
        locations.setdefault(location, True)
    names = {part.filename for part in content.parts}

    named_ids = {id_name(cid): part for cid, part in reversed(ids.items()) if "%" in cid}

    def by_id(reference: str) -> Part | None:
        cid = named_id(reference)
        return ids.get(cid) or folded_ids.get(cid.lower()) or named_ids.get(cid)

    missing: dict[str, None] = {}
    for src in smil_references(smil):
        if src in missing:
            continue
        if src.lower().startswith("cid:"):
            found = by_id(src)
        elif src and _SCHEME.match(src):
            continue
        else:
            name = location_name(src)
            found = (locations.get(src) or locations.get(name) or by_id(src)
                     or src in names or name in names) if src else None
        if not found:
            missing[src] = None
    return list(missing)


def unresolved_references(content: Content) -> list[str]:
    """The references of `content`'s SMIL that name no part as `Content.by_reference` looks them
    up (each once, as written): a slide a handset shows blank. URLs of another scheme than cid:
    and file: (http:, outside the message) are not looked up. [] without a SMIL. (Asked of every
    message received: a SMIL in memory whose every `src` is "cid:" and a part's Content-ID, as
    most are written, is told so without its text decoded or its references looked up one by one.)"""
    smil = content.smil
    if smil is None:
        return []
    data = smil.blob.in_memory()
    data = bytes(data) if data is not None and len(data) <= _QUICKLY_CHECKED else b"\x00"  # (a view: a copy)
    if data.isascii() and b"\x00" not in data and b"%" not in data and b"&" not in data and b"<!--" not in data:
        ids = {"cid:" + part.content_id for part in content.parts if part.content_id}
        if {double or single for double, single in _SRC_ASCII.findall(data.decode("ascii"))} <= ids:
            return []
    return _missing_references(smil, _References(content.all_parts()))


def _missing_references(smil: Part, refs: _References) -> list[str]:
    """The references of `smil` (each once, as written) that `refs` finds no part for, but URLs
    outside the message (another scheme than cid: and file:)."""
    missing: dict[str, None] = {}
    for src in smil_references(smil):
        if src in missing:
            continue
        outside = _SCHEME.match(src) and src[:4].lower() != "cid:" and src[:5].lower() != "file:"
        if not outside and refs.find(src) is None:
            missing[src] = None
    return list(missing)


_QUICKLY_CHECKED = 64 * 1024  # (a SMIL larger, in memory or not, is read as text)


class _References:
    """The parts a SMIL's references may name, in tables made once (see `Content.by_reference`)."""

    def __init__(self, parts: list[Part]) -> None:
        self.ids: dict[str, Part] = {}
        self.folded_ids: dict[str, Part] = {}
        self.named_ids: dict[str, Part] = {}  # the names percent-encoded ids spell (`id_name`)
        self.names: dict[str, Part] = {}  # Content-Location as given and as read back, then file names
        self.folded: dict[str, Part] = {}  # any of those, and the Content-ID, ignoring case
        self.leaves: dict[str, Part] = {}  # and their last path segment
        for part in parts:
            if part.content_id is not None:
                self.ids.setdefault(part.content_id, part)
                self.folded_ids.setdefault(part.content_id.lower(), part)
                if "%" in part.content_id:  # (after the exact ids and their case: the name a sent id spells)
                    self.named_ids.setdefault(id_name(part.content_id), part)
            for name in (part.content_location, read_back(part), part.filename):
                if name:
                    self.names.setdefault(name, part)
        for part in parts:  # (after every exact name: an exact name of a later part wins over a loose one)
            for name in (part.content_location, read_back(part), part.filename, part.content_id):
                if name:
                    self.folded.setdefault(name.lower(), part)
                    if leaf := name.lower().rsplit("/", 1)[-1]:
                        self.leaves.setdefault(leaf, part)

    def find(self, src: str, again: bool = True) -> Part | None:
        src = src.strip()
        if not src:
            return None
        found = self._find(src)
        if found is None and again and not src.isascii():
            # A handset's SMIL in GBK without a charset: a short name's bytes are often UTF-8 as
            # well ("图片" is "ͼƬ"), and the SMIL is read so; the name its bytes spell in GBK, as a
            # raw name in a part's headers is read (`mime.decode_header_bytes`), is looked up too.
            try:
                other = src.encode("utf-8").decode("gb18030")
            except UnicodeError:
                return None
            return self.find(other, again=False) if other != src else None
        return found

    def _find(self, src: str) -> Part | None:
        if src[:4].lower() == "cid:":
            cid = named_id(src)
            return self.ids.get(cid) or self.folded_ids.get(cid.lower()) or self.named_ids.get(cid)
        if _SCHEME.match(src) and src[:5].lower() != "file:":
            return None  # (outside the message)
        name = location_name(src)
        cid = named_id(src)
        found = (self.names.get(src) or self.names.get(name) or self.ids.get(cid) or self.folded_ids.get(cid.lower())
                 or self.named_ids.get(cid) or self.folded.get(name.lower()))
        leaf = name.lower().rsplit("/", 1)[-1]
        return found or (self.leaves.get(leaf) if leaf else None)


SHORTEST_SLIDE_MS = 1000  # a slide a handset shows at all


def slide_ms(shown: list[tuple[str, str, int | None]], default_ms: int) -> int:
    """How long a slide of (kind, id, measured length) lasts. A slide ends at its `dur`, cutting
    off its sound or video: it lasts as long as its longest one. A picture or a text beside it
    needs `default_ms` to be seen; a sound or video alone, nothing more (a blank screen held after
    a short sound is the next slide late). A sound not measured (None) gets at least `default_ms`.
    At least `SHORTEST_SLIDE_MS`, at most `durations.LONGEST_MS` (or `default_ms` if longer)."""
    lengths = [length for kind, _cid, length in shown if kind in ("audio", "video")]
    if not lengths:
        return default_ms
    still = any(kind in ("image", "text") for kind, _cid, _length in shown)
    known = [length for length in lengths if length is not None]
    ms = max(known + ([default_ms] if still or len(known) < len(lengths) else []))
    return max(SHORTEST_SLIDE_MS, min(ms, max(LONGEST_MS, default_ms)))


def _smil_text(shown: list[tuple[str, str, int | None]], width: int, height: int, duration_ms: int) -> bytes:
    slides: list[dict[str, tuple[str, str, int | None]]] = []
    for kind, cid, length_ms in shown:
        slot = "image" if kind in ("image", "video") else kind
        kinds = {shown_kind for shown_kind, _cid, _length in slides[-1].values()} if slides else set()
        if (not slides or slot in slides[-1]  # a slide holds one picture, one text, one sound
                or (kind == "audio" and "video" in kinds) or (kind == "video" and "audio" in kinds)):
            slides.append({})
        slides[-1][slot] = (kind, cid, length_ms)
    has_image = any("image" in s for s in slides)
    has_text = any("text" in s for s in slides)
    text_top = height // 2 if has_image else 0
    lines = [
        "<smil>",
        "<head>",
        "<layout>",
        f'<root-layout width="{width}" height="{height}"/>',
    ]
    if has_image:
        lines.append(f'<region id="Image" top="0" left="0" width="{width}" height="{text_top if has_text else height}" fit="meet"/>')
    if has_text:
        lines.append(f'<region id="Text" top="{text_top}" left="0" width="{width}" height="{height - text_top}" fit="scroll"/>')
    lines += ["</layout>", "</head>", "<body>"]
    for slide in slides:
        lines.append(f'<par dur="{slide_ms(list(slide.values()), duration_ms)}ms">')
        for slot, (kind, cid, _length) in slide.items():
            src = quoteattr(cid_url(cid))
            if slot == "image":
                tag = "video" if kind == "video" else "img"
                lines.append(f'<{tag} src={src} region="Image"/>')
            elif slot == "text":
                lines.append(f'<text src={src} region="Text"/>')
            else:
                lines.append(f"<audio src={src}/>")
        lines.append("</par>")
    lines += ["</body>", "</smil>", ""]
    return "\r\n".join(lines).encode("utf-8")
