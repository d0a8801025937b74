"""MIME for SOAP with attachments: a strict multipart writer and a tolerant streaming reader.

Sans I/O: the writer produces a `Body` (a seekable byte stream whose length is known before the
first byte is sent); the reader takes bytes or any binary stream. Both work in fixed-size chunks,
and the reader spools large parts to temporary files, so memory stays bounded whatever the size.

The reader accepts what real MMSCs send: LF-only line ends, preambles and epilogues, padding after
boundaries, boundaries starting with ``--``, parameter names in any case, folded headers, no blank
line between part headers and body, raw 8-bit parts, base64 in any wrapping, quoted-printable.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import quote, unquote_to_bytes

from . import gbk
from .content import (CHUNK, ONE_BYTE_LATIN, Blob, BlobWriter, BytesBlob, FileBlob, byte_order, decodes,
                      location_name)
from .errors import DecodeError, Deviation, LimitExceededError, MimeError  # noqa: F401 (mime.DecodeError)
from .xmlsafe import as_utf8_text, charset_codec, whole_limits


@dataclass(frozen=True)
class MimeLimits:
    """Bounds on a received MIME body (past one, a `LimitExceededError`), and the part size above
    which a part read from a stream is spooled to a temporary file rather than held in memory."""

    max_body_bytes: int = 100 * 1024 * 1024
    max_part_bytes: int = 100 * 1024 * 1024
    max_parts: int = 256
    max_depth: int = 4  # multipart nesting
    max_header_bytes: int = 64 * 1024  # per part
    spool_threshold: int = 4 * 1024 * 1024  # parts larger than this go to a temporary file

    def __post_init__(self) -> None:
        whole_limits(self, spool_threshold=0)


DEFAULT_MIME_LIMITS = MimeLimits()


# ---------------------------------------------------------------------------------------------
# Headers and parameters


class Headers:
    """Case-insensitive, order-keeping header list."""

    def __init__(self, items: Iterable[tuple[str, str]] = (), _first: dict[str, str] | None = None):
        self.items: list[tuple[str, str]] = list(items)
        # lower-cased name → its first value: built on the first look, or given by a reader that
        # lowered the names as it read them (then exactly what that look would build)
        self._first: dict[str, str] | None = _first

    def get(self, name: str, default: str | None = None) -> str | None:
        first = self._first
        if first is None:
            first = self._first = {}
            for k, v in self.items:
                low = k.lower()
                if low not in first:
                    first[low] = v
        # (names are asked for in lower case, some 20 times a message: found so without lowering
        # them again; str.lower is idempotent, so a name found as it is is its own lower case)
        if name in first:
            return first[name]
        return first.get(name.lower(), default)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def as_dict(self) -> dict[str, str]:
        out = dict(self.items)
        if len(out) == len(self.items):  # (no name given twice, as usual: the first values, in order)
            return out
        out = {}
        for k, v in self.items:
            out.setdefault(k, v)
        return out

    def __repr__(self) -> str:
        return f"Headers({self.items!r})"


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name`, whatever the case of its name, in a plain mapping (an HTTP
    message's headers as the client, the receiver and a capture give them)."""
    name = name.lower()
    return next((v for k, v in headers.items() if k.lower() == name), None)


def header_fields(lines: Iterable[str], join_repeated: bool = False) -> dict[str, str]:
    """An HTTP head's header lines (after its start line) as a dict: a folded line joined to the
    one before it; a name given again replaces its value, or with `join_repeated` is appended to
    it after ", " (as RFC 9110 §5.3 combines them)."""
    # (each value's pieces joined once at the end: joined as they came, a name given 100,000
    # times, or as many folded lines, took time quadratic in their number, 15 s for a 2 MB head)
    values: dict[str, list[list[str]]] = {}  # name → each time it is given → its line and folded lines
    last = None
    for hl in lines:
        if hl[:1] in (" ", "\t") and last:
            values[last][-1].append(hl.strip())
        elif ":" in hl:
            k, _, v = hl.partition(":")
            last = k.strip()
            if join_repeated and last in values:
                values[last].append([v.strip()])
            else:
                values[last] = [[v.strip()]]
    return {name: ", ".join(" ".join(pieces) for pieces in given) for name, given in values.items()}


def decode_header_bytes(raw: bytes) -> str:
    """Header bytes as text: UTF-8 (unless only GBK makes sense: `gbk.name_reading`), GB18030, Latin-1."""
    for codec in ("utf-8", "gb18030"):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if codec == "utf-8" and len(text) != len(raw):  # (a GBK name may be valid UTF-8 as well)
            return gbk.name_reading(raw, text) or text
        return text
    return raw.decode("latin-1")


# An RFC 2047 encoded word: charset, B or Q, text (none with "?" or white space in it, so each
# is found in time linear in the value: the email package's pattern for it takes time quadratic in
# a value of many "=?" never closed, 8 s for a Subject of 112 KB).
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?\s]*)\?=")


def decode_words(value: str, notes: list[str] | None = None) -> str:
    """RFC 2047 encoded words (``=?GB2312?B?...?=``), with GB2312 read as GB18030. White space
    between two words goes with them (RFC 2047 §6.2); a word that cannot be decoded stays as it is.
    Adjacent words of one charset are decoded as one run of bytes: encoders (handsets' among them)
    cut a long value anywhere, a character's bytes into two words. Bytes their label does not read
    (GBK labelled UTF-8, UTF-8 labelled GB2312, Chinese labelled ISO-8859-1) are read as what they
    are, said in `notes` when given."""
    if "=?" not in value:
        return value
    out: list[str] = []
    run: tuple[str, bytearray] | None = None  # (the charset, the bytes) of the words decoded so far in a run
    pos, after_word = 0, False
    for word in _ENCODED_WORD.finditer(value):
        charset, encoding, text = word.groups()
        charset = charset.split("*", 1)[0]  # ("utf-8*en": RFC 2231 §5)
        try:
            raw = text.encode("ascii")
            if encoding in "bB":
                data = binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))  # (padding left out is added)
            else:
                data = binascii.a2b_qp(raw, header=True)  # ("_" is a space)
        except (binascii.Error, ValueError):  # (ValueError: text that is not ASCII)
            data = None
        between = value[pos : word.start()]
        joined = after_word and data is not None and (not between or between.isspace())
        # (16-bit words each begin with their byte order mark: the run is read in its order, each
        # word's mark left out, not read as a U+FEFF inside the text; a word marked in the other
        # order begins a run of its own)
        order, data = _marked_order(data, charset) if data is not None and data[:2] in _MARKS_16 else (None, data)
        if run is not None and joined and run[0].lower() == charset.lower() and order in (None, run[2]):
            run[1].extend(data)
        else:
            if run is not None:
                out.append(_decode_word_bytes(bytes(run[1]), run[2] or run[0], notes))
                run = None
            if between and not joined:
                out.append(between)
            if data is None:
                out.append(word.group(0))
            else:
                run = (charset, bytearray(data), order)
        pos, after_word = word.end(), data is not None
    if run is not None:
        out.append(_decode_word_bytes(bytes(run[1]), run[2] or run[0], notes))
    out.append(value[pos:])
    return "".join(out)


_MARKS_16 = {b"\xfe\xff": "utf-16-be", b"\xff\xfe": "utf-16-le"}


def _marked_order(data: bytes, charset: str) -> tuple[str | None, bytes]:
    """(the byte order its mark names, the bytes without it) for an encoded word's bytes labelled
    UTF-16 (or UTF-16BE/LE, the mark's order theirs) that begin with a byte order mark; else
    (None, the bytes as they are)."""
    codec = charset_codec(charset)[0]
    order = _MARKS_16[data[:2]]
    if codec in ("utf-16", order):
        return order, data[2:]
    return None, data


def _decode_word_bytes(data: bytes, charset: str, notes: list[str] | None) -> str:
    """The bytes of encoded words in the charset they name (US-ASCII when none), else in the one
    they are in (as a text part's: `content.decode_part_text`), else UTF-8 with U+FFFD."""
    codec = charset_codec(charset)[0] if charset else "ascii"
    read = None
    if codec == "utf-16":  # (no byte order mark: a marked run comes in the order its mark named)
        # RFC 2781: big-endian. Handsets write little-endian too (Windows' and Android's order):
        # read so when that reading alone is the text of a message (`content.byte_order`), said.
        codec = "utf-16-le" if byte_order(data, True) == "utf-16-le" else "utf-16-be"
        if codec == "utf-16-le" and notes is not None:
            notes.append(f"labelled {charset!r} without a byte order mark (big-endian, RFC 2781), "
                         "the bytes are UTF-16LE")
    try:
        text = data.decode(codec or "utf-8")
    except (LookupError, ValueError):  # (ValueError: a UnicodeError, or a NUL in the name)
        text = None
    if text is not None and codec == "gb18030" and not data.isascii():
        read = "utf-8" if as_utf8_text(data) is not None else None  # (UTF-8 Chinese: never GBK text)
    elif text is not None and codec in ONE_BYTE_LATIN and not data.isascii():
        read = "utf-8" if decodes(data, "utf-8") else "gb18030" if gbk.text_charset(data, final=True) else None
    elif text is None:
        read = "utf-8" if decodes(data, "utf-8") else "gb18030" if decodes(data, "gb18030") else None
    if read is None:
        return text if text is not None else data.decode("utf-8", "replace")
    if notes is not None:
        notes.append(f"labelled {charset!r}, the bytes are {read.upper()}")
    return data.decode(read)


def _decode_in(data: bytes, charset: str | None) -> str:
    """An RFC 2231 value's bytes in the charset it names (GB2312 read as GB18030; bytes in another
    charset than named read as an encoded word's are), or as raw header bytes are when it names none."""
    return _decode_word_bytes(data, charset, None) if charset else decode_header_bytes(data)


def _split_params(value: str) -> list[str]:
    """Split at the semicolons outside quoted strings (which may hold ``\\"`` escapes)."""
    out, start, quoted, i = [], 0, False, 0
    while i < len(value):
        ch = value[i]
        if quoted and ch == "\\":
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            out.append(value[start:i])
            start = i + 1
        i += 1
    out.append(value[start:])
    return out


def _closed(quoted: str) -> bool:
    """Whether a value starting with a quote ends with an unescaped one."""
    if not quoted.endswith('"'):
        return False
    backslashes = len(quoted[:-1]) - len(quoted[:-1].rstrip("\\"))
    return backslashes % 2 == 0


_PARAMS_SEEN: dict[str, tuple[str, dict[str, str]]] = {}  # parse_params' results for short values
_PARAMS_SEEN_MAX = 512
_PARAMS_SEEN_LONGEST = 256


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; a=1; B="x;y"; name*=utf-8''%E4%B8%AD`` → ("type/subtype", {"a": "1", ...}).

    Parameter names are case-insensitive (lower-cased here); RFC 2231 continuations and charsets
    and RFC 2047 encoded words are decoded.
    """
    # Most part headers repeat from message to message (``text/xml; charset="utf-8"``): each is
    # parsed once. Values come from peers: short ones only, and a bounded number of them.
    seen = _PARAMS_SEEN.get(value)
    if seen is not None:
        return seen[0], dict(seen[1])  # (a copy: the caller may change its dict)
    main, params = _parse_params(value)
    if len(value) <= _PARAMS_SEEN_LONGEST:
        if len(_PARAMS_SEEN) >= _PARAMS_SEEN_MAX:
            _PARAMS_SEEN.clear()
        _PARAMS_SEEN[value] = (main, dict(params))
    return main, params


def _parse_params(value: str) -> tuple[str, dict[str, str]]:
    if "*" not in value and "=?" not in value and "\\" not in value:
        # The usual header: no RFC 2231/2047, no escapes, and no ";" inside a quoted value.
        quoted = value.split('"')[1::2] if '"' in value else ()
        if not (len(quoted) and value.count('"') % 2) and not any(";" in q for q in quoted):
            main, *rest = value.split(";")
            plain = {}
            for piece in rest:
                name, eq, val = piece.partition("=")
                if eq:
                    val = val.strip()
                    if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
                        val = val[1:-1]
                    plain[name.strip().lower()] = val
            return main.strip().lower(), plain
    pieces = [p.strip() for p in _split_params(value)]
    main = pieces[0].strip().lower() if pieces else ""
    params: dict[str, str] = {}
    extended: dict[str, dict[int, tuple[str, bool]]] = {}
    for piece in pieces[1:]:
        if not piece or "=" not in piece:
            continue
        name, _, val = piece.partition("=")
        name, val = name.strip().lower(), val.strip()
        if val[:1] == '"':  # a quoted string, closed or not (an unclosed one runs to the end)
            val = re.sub(r"\\(.)", r"\1", val[1:-1] if len(val) >= 2 and _closed(val) else val[1:])
        # (a section number of at most 9 digits: int() refuses a string of thousands, and no header
        # holds that many sections; a longer one is no section, a parameter of its own name)
        m = re.fullmatch(r"([^*]+)\*(?:(\d{1,9})(\*)?)?$", name) if "*" in name else None
        if m:
            base, index, star = m.group(1), m.group(2), m.group(3)
            encoded = star is not None or index is None
            extended.setdefault(base, {})[int(index or 0)] = (val, encoded)
        else:
            params[name] = decode_words(val)
    for base, pieces_ in extended.items():
        text: list[str] = []
        raw = b""  # encoded pieces in a row: one character's bytes may be split between them
        charset = ""  # (none named, as in "name*=''%CD%BC.gif": read as raw bytes in a header are)
        for i in sorted(pieces_):
            val, encoded = pieces_[i]
            if encoded:
                if i == 0 and val.count("'") >= 2:
                    charset, _lang, val = val.split("'", 2)
                raw += unquote_to_bytes(val)
                continue
            if raw:
                text.append(_decode_in(raw, charset))
                raw = b""
            # ASCII, by the RFC; raw 8-bit text (name*0="新") was read with the header already
            text.append(val)
        if raw:
            text.append(_decode_in(raw, charset))
        params[base] = "".join(text)
    return main, params


def quoted_string(value: str) -> str:
    """`value` as a parameter's quoted-string (RFC 2045): in quotes, its backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


MAX_LINE = 998  # characters of a header line, CRLF aside (RFC 5322 §2.1.1)
_FOLD_AT = 78  # what a folded line keeps within where it can


def format_filename_params(name: str, value: str, style: str = "rfc2231", start: int = 0) -> str:
    """``; name="x.jpg"``, with a name that is not printable ASCII as RFC 2231 (``name*=UTF-8''...``,
    beside an ASCII stand-in) or RFC 2047: control characters (a line break would start a header of
    the name's choosing) never appear as they are.

    `start`: the length of the header line before them. A name that would take the line past 998
    characters is folded onto lines of at most 78: RFC 2231 continuations (``name*0*=``,
    ``name*1*=``...) beside a shortened stand-in, or RFC 2047 words one to a line."""
    # (a name holding an encoded word as it is, "=?utf-8?B?5paH?=.txt": readers, ours too, decode
    # one in a quoted name, "文.txt", so it goes encoded as a name that is not plain ASCII does)
    if value.isascii() and value.isprintable() and not _ENCODED_WORD.search(value):
        plain = f"; {name}={quoted_string(value)}"
    elif style == "rfc2047":
        plain = f"; {name}={quoted_string(encoded_words(value))}"
    else:
        plain = f"; {name}={quoted_string(_stand_in(value))}; {name}*=UTF-8''{quote(value, safe='')}"
    if start + len(plain) <= MAX_LINE:
        return plain
    if style == "rfc2047" and not value.isascii():
        # Between the words of the quoted string (FWS may fold there): unfolded, it is the line above.
        return f";\r\n {name}=" + quoted_string(encoded_words(value, 42)).replace(" ", "\r\n ")
    return _continued(name, value)


def _stand_in(value: str) -> str:
    """The ASCII name beside an RFC 2231 one, for readers without RFC 2231: what is not printable
    ASCII as "_", and no encoded word (its "?" as "_"), which such readers would decode."""
    fallback = "".join(c if c.isascii() and c.isprintable() else "_" for c in value)
    return _ENCODED_WORD.sub(lambda word: word.group(0).replace("?", "_"), fallback)


def _continued(name: str, value: str) -> str:
    """RFC 2231 continuations of `value`, one a line, each cut between characters (a reader that
    decodes piece by piece still reads whole characters)."""
    fallback = _stand_in(value)
    if len(fallback) > 40:  # (a stand-in for readers without RFC 2231: its extension is what counts)
        stem, dot, ext = fallback.rpartition(".")
        fallback = fallback[:40] if not dot or len(ext) > 10 else stem[: 39 - len(ext)] + "." + ext
    lines = [f" {name}={quoted_string(fallback)}"]
    piece = "UTF-8''"
    for ch in value:
        escaped = quote(ch, safe="")
        head = f" {name}*{len(lines) - 1}*="
        if len(head) + len(piece) + len(escaped) + 1 > _FOLD_AT and piece not in ("", "UTF-8''"):
            lines.append(head + piece)
            piece = ""
        piece += escaped
    lines.append(f" {name}*{len(lines) - 1}*={piece}")
    return ";\r\n" + ";\r\n".join(lines)


def encoded_words(value: str, most: int = 45) -> str:
    """`value` as RFC 2047 B words in UTF-8, each at most 75 characters (§2) and cut between
    characters (each word must decode alone), separated by spaces, which readers drop (§6.2).
    `most`: bytes of the value in one word (45: 60 base64 characters, 72 with "=?UTF-8?B?" and "?=")."""
    words, chunk = [], b""
    for ch in value:
        encoded = ch.encode("utf-8")
        if len(chunk) + len(encoded) > most:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return " ".join("=?UTF-8?B?" + base64.b64encode(w).decode() + "?=" for w in words)


def strip_id(value: str | None) -> str | None:
    """A Content-ID or `start` value without angle brackets and surrounding space (a bracket
    missing its partner goes too: the id is what lies between)."""
    if value is None:
        return None
    value = value.strip()
    if value[:1] == "<":
        value = value[1:]
    if value[-1:] == ">":
        value = value[:-1]
    return value.strip() or None


# ---------------------------------------------------------------------------------------------
# Writer


def new_boundaries() -> tuple[str, str]:
    """Two boundaries (outer and inner) from one draw of random bytes: unpredictable, so content
    supplied by others cannot contain them on purpose."""
    raw = os.urandom(32).hex()
    return "mm7bind-" + raw[:32], "mm7bind-" + raw[32:]


class Encoded:
    """A blob in a transfer encoding: known length, produced chunk by chunk."""

    def __init__(self, blob: Blob, cte: str):
        self.blob, self.cte = blob, cte
        n = blob.size
        if cte == "base64":
            chars = (n + 2) // 3 * 4
            lines = (chars + 75) // 76
            self.size = chars + 2 * max(lines - 1, 0)
        else:
            self.size = n

    def whole(self) -> bytes | memoryview:
        """All of it at once (for bodies built in memory): no per-chunk work for data in memory."""
        data = self.blob.in_memory() if self.cte != "base64" else None
        return data if data is not None else b"".join(self.chunks())

    def chunks(self) -> Iterator[bytes]:
        if self.cte != "base64":
            yield from self.blob.chunks()
            return
        first = True
        for chunk in self.blob.chunks(57 * 4096):  # whole 76-character lines per chunk
            text = base64.b64encode(chunk)
            lines = b"\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))
            yield lines if first else b"\r\n" + lines
            first = False


_NOTHING = memoryview(b"")


class Body(io.RawIOBase):
    """A request body: bytes and encoded blobs in sequence. Length known; rewindable (retries,
    Digest auth resends); read in chunks, so large attachments stream from disk."""

    def __init__(self, segments: list[bytes | Encoded]):
        super().__init__()
        kept, length = [], 0
        for seg in segments:  # (the empty ones left out, the others counted, in one pass)
            if n := len(seg) if type(seg) is bytes else seg.size:
                kept.append(seg)
                length += n
        self.segments, self.length = kept, length
        self._rewind()

    def _rewind(self) -> None:
        self._iter: Iterator[bytes] | None = None  # made on the first read (most bodies are joined whole)
        self._pending = _NOTHING  # the current chunk, consumed from the front
        self._pos = 0

    def _generate(self) -> Iterator[bytes]:
        for seg in self.segments:
            if isinstance(seg, bytes):
                yield seg
            else:
                yield from seg.chunks()

    def __len__(self) -> int:
        return self.length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset, io.SEEK_END: self.length + offset}[whence]
        if target < self._pos:
            self._rewind()
        while self._pos < target:  # forward seeks read and drop (rare: only for resumption)
            if not self.read(min(CHUNK, target - self._pos)):
                break
        return self._pos

    def readinto(self, b) -> int:  # noqa: ANN001
        while not len(self._pending):
            if self._iter is None:
                self._iter = self._generate()
            nxt = next(self._iter, None)
            if nxt is None:
                return 0
            self._pending = memoryview(nxt)
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._pos += n
        return n

    def __iter__(self) -> Iterator[bytes]:
        """Chunks from the start (for HTTP clients that take iterables)."""
        self._rewind()
        for chunk in self._generate():
            self._pos += len(chunk)
            yield chunk

    def to_bytes(self) -> bytes:
        self._rewind()
        data = b"".join([seg if type(seg) is bytes else seg.whole() for seg in self.segments])
        return data


@dataclass(slots=True)
class OutPart:
    """A part to write: headers and payload (bytes, an encoded blob, or nested parts)."""

    headers: list[tuple[str, str]]
    payload: bytes | Encoded | None = None
    children: list[OutPart] | None = None
    boundary: str | None = None
    separators: dict[str, str] | None = None  # a header's own separator, over write_multipart's


CRLF = "\r\n"


def write_multipart(parts: list[OutPart], boundary: str, preamble: str | None = None,
                    separator: str = ": ", padded: bool = False) -> list[bytes | Encoded]:
    """Segments of a multipart body: CRLF everywhere, headers as given (folded only where a value
    holds its own folds: a long file name), each name and value joined by `separator`. Delimiters, headers
    and payloads in memory are merged into as few segments as the encoded blobs allow. `preamble`
    "": the body starts with an empty line. `padded`: each part of a nested multipart is followed
    by an empty line, and its closing delimiter by the enclosing one's, as a Chinese MMSC frames
    them (MIME readers see a CRLF more at the end of each such part; ours drops it)."""
    segs: list[bytes | Encoded] = []
    text: list[bytes] = [] if preamble is None else [preamble.encode("ascii") + (b"\r\n\r\n" if preamble else b"\r\n")]
    _write_parts(parts, boundary, segs, text, separator, padded, False)
    if text:
        segs.append(b"".join(text))
    return segs


def _write_parts(parts: list[OutPart], boundary: str, segs: list, text: list[bytes], separator: str,
                 padded: bool, nested: bool) -> None:
    pad = b"\r\n" if padded and nested else b""
    for i, part in enumerate(parts):
        seps = part.separators
        head = f"{CRLF if i else ''}--{boundary}\r\n"
        for k, v in part.headers:  # (a loop, not a comprehension: a few headers, on every part written)
            head += f"{k}{seps.get(k, separator) if seps else separator}{v}\r\n"
        text.append((head + CRLF).encode("utf-8"))
        if part.children:
            _write_parts(part.children, part.boundary, segs, text, separator, padded, True)
        elif type(part.payload) is bytes:
            text.append(part.payload + pad)
        elif part.payload is not None:
            segs.append(b"".join(text))
            text.clear()
            segs.append(part.payload)
            if pad:
                text.append(pad)
    # (padded, nested: the line break after "--boundary--" is the enclosing delimiter's own)
    text.append(f"\r\n--{boundary}--{'' if pad else CRLF}".encode("ascii"))


# ---------------------------------------------------------------------------------------------
# Reader


_UNSET = object()


@dataclass
class InPart:
    """A part as read: headers, decoded payload (a blob), and children if it is a multipart."""

    headers: Headers
    blob: Blob | None = None
    children: list[InPart] = field(default_factory=list)
    path: str = ""
    # (the type, its parameters, and whether it is multipart/*)
    _ctype: tuple[str, dict[str, str], bool] | None = field(default=None, repr=False)
    _cid: object = field(default=_UNSET, repr=False)
    _unsplit: bool = field(default=False, repr=False)  # a multipart whose boundary nobody could tell
    untyped: bool = field(default=False, repr=False)  # no Content-Type given: text/plain by default (once parsed)

    def _parsed(self) -> tuple[str, dict[str, str], bool]:
        if self._ctype is None:  # parsed once: the reader and the codec both ask often
            main, params = parse_params(self.headers.get("content-type") or "")
            if not main:
                main, self.untyped = "text/plain", True
            self._ctype = (main, params, main.startswith("multipart/"))
        return self._ctype

    # (the parse asked for only the first time: these are read some 40 times a message)
    @property
    def content_type(self) -> str:
        return (self._ctype or self._parsed())[0]

    @property
    def params(self) -> dict[str, str]:
        return (self._ctype or self._parsed())[1]

    @property
    def content_id(self) -> str | None:
        if self._cid is _UNSET:  # looked up often while the parts are matched to references
            self._cid = strip_id(self.headers.get("content-id"))
        return self._cid

    @property
    def content_location(self) -> str | None:
        """The location as a name: RFC 2047 words and URL escapes ("%20", UTF-8 "%E6%96%B0")
        decoded, so it reads, compares and is written again (escaped once) as the sender meant."""
        loc = self.headers.get("content-location")
        if not loc:
            return None
        loc = loc.strip()
        if len(loc) >= 2 and loc[0] == loc[-1] == '"':  # (a URI is never quoted, but some write it as a name)
            loc = re.sub(r"\\(.)", r"\1", loc[1:-1])
        return location_name(decode_words(loc))

    @property
    def is_multipart(self) -> bool:
        return (self._ctype or self._parsed())[2] and not self._unsplit

    def leaves(self) -> list[InPart]:
        if not self.is_multipart:
            return [self]
        return [leaf for c in self.children for leaf in c.leaves()]


_NOT_BASE64 = bytes(b for b in range(256) if chr(b) not in
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")

_PADDING = re.compile(rb"[ \t]*")  # after a boundary on its delimiter line (RFC 2046 "transport padding")
MAX_PADDING = 998  # bytes of it at most (RFC 5322's longest line); a line padded more is no delimiter
_PASSED_OVER = 64  # lines starting like a delimiter line but none, before the search is made in C


def _candidates(delim: bytes) -> re.Pattern:
    """Where a delimiter line may start: `delim` after a line break, followed by "--", padding and
    a line break, or the end of what has arrived (what `_Reader.read` accepts, and more)."""
    return re.compile(rb"(?<=\n)" + re.escape(delim) + rb"(?=--|-?\Z|[ \t]*+\r?(?:\n|\Z))")


_TAIL = 512  # bytes of a streamed part held back until the next read (see _Reader.unterminated)
_QP_PENDING = 64 * 1024  # bytes of one quoted-printable line held before it is decoded anyway
MAX_BASE64_RUNS = 10_000  # padded runs in one base64 part (4 KiB chunks joined: 40 MB)
_BASE64_OR_SPACE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n\t "
_BASE64_URLSAFE_OR_SPACE = _BASE64_OR_SPACE + b"-_"
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")

_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$", re.S)
_HEADER_PREFIXES = ("content-", "x-", "mime-")  # part header names we take as such (and "name")
# Each line of a block of ASCII part headers (lines joined by CRLF) that `_HEADER_LINE` takes
# with one of those names, in one search: its name and the rest of the line (with the "\r" of
# its CRLF). A match starts at a line's start and ends at its end, so every line of the block is
# such a header iff there are as many matches as lines.
_PART_HEADER_LINES = re.compile(r"^((?:content-|x-|mime-)[!-9;-~]*|name)[ \t]*:(.*)$",
                                re.ASCII | re.IGNORECASE | re.MULTILINE)
_AS_THEY_ARE = ("7bit", "8bit", "binary")  # transfer encodings of a part's bytes as they are
_HEADER_PREFIXES_BYTES = tuple(p.encode("ascii") for p in _HEADER_PREFIXES)


def _looks_like_header(name: bytes) -> bool:
    n = name.lower()
    return n.startswith(_HEADER_PREFIXES_BYTES) or n == b"name"


class _Reader:
    """Splits one multipart body (a stream) into parts, recursing into nested multiparts."""

    def __init__(self, limits: MimeLimits, devs: list[Deviation]):
        self.limits = limits
        self.devs = devs
        self.count = 0
        self._noted: set[str] = set()

    def note(self, code: str, path: str, message: str) -> None:
        if code not in self._noted:  # one line per kind of slip, not one per boundary
            self._noted.add(code)
            self.devs.append(Deviation(code, path, message))

    def read(self, source: BinaryIO | _Window, boundary: str, depth: int, path: str) -> list[InPart]:
        """Parts of one multipart body. A `_Window` (bytes already in memory) is split without
        copying: parts become views of it. A stream is read in chunks and parts are spooled."""
        if depth > self.limits.max_depth:
            raise LimitExceededError(f"{path or 'body'}: multipart nested deeper than {self.limits.max_depth}")
        if boundary[-1:] in (" ", "\t") and boundary.strip():
            # RFC 2046 ends a boundary with no white space, and a delimiter line may be padded with
            # it: a label's trailing space is padding, never the boundary's.
            self.note("mime-boundary", path, f"boundary {boundary!r} ends in white space: read as {boundary.rstrip()!r}")
            boundary = boundary.rstrip(" \t")
        if not boundary.isascii() or not boundary.strip():
            raise MimeError(f"{path or 'body'}: boundary {boundary!r} is not a valid MIME boundary (ASCII only)")
        delim = b"--" + boundary.encode("ascii")
        window = isinstance(source, _Window)
        if window:
            buf, lo, hi = source.data, source.lo, source.hi
            count = self.count
            parts = self.canonical(buf, lo, hi, delim, depth, path)
            if parts is not None:
                return parts
            self.count = count  # read again by the general rules below
        else:
            buf, lo, hi = bytearray(), 0, 0
        eof = window

        def fill() -> bool:
            nonlocal eof, hi
            if eof:
                return False
            chunk = source.read(CHUNK * 4)
            if not chunk:
                eof = True
                return False
            buf.extend(chunk)
            hi = len(buf)
            return True

        # Lines that only start like a delimiter line ("--boundaryx") were each looked at in Python
        # (5 µs apiece: a minute for 100 MB of them). Past a few, the search is for the boundary at
        # the start of a line followed by what can be a delimiter line's rest, or by the end of
        # what has arrived: in C. (Compiled only then: a pattern costs more than a usual body.)
        candidates: re.Pattern | None = None
        passed = 0

        def find_delim(start: int) -> tuple[int, int, bool] | None:
            """(index of "--boundary", index after its line, closing?) at or after `start`."""
            nonlocal candidates, passed
            while True:
                if candidates is not None and start != lo:
                    m = candidates.search(buf, start, hi)
                    if m is None:
                        return None
                    i = m.start()
                else:
                    i = buf.find(delim, start, hi)
                    if i < 0:
                        return None
                if i != lo and buf[i - 1] != 0x0A:
                    start = i + 1
                    passed += 1
                    if passed == _PASSED_OVER:
                        candidates = _candidates(delim)
                    continue
                j = i + len(delim)
                while j + 2 > hi and fill():
                    pass
                closing = buf[j : min(j + 2, hi)] == b"--"
                k = pad = j + 2 if closing else j
                while True:
                    while k + 1 >= hi and fill():  # (and the byte after: a CR LF may come in two reads)
                        pass
                    k = _PADDING.match(buf, k, hi).end()
                    if k + 1 >= hi and not eof and k - pad <= MAX_PADDING:
                        continue  # white space up to what has arrived: more may follow
                    break
                if k - pad > MAX_PADDING:  # (held whole, such padding cost memory as long as it)
                    if closing:
                        return i, k, True  # the rest is epilogue
                    # otherwise no delimiter line: text that starts like one
                elif k >= hi:
                    if closing or eof:
                        return i, k, closing
                elif buf[k] == 0x0A or buf[k : k + 2] == b"\r\n":
                    if buf[k] == 0x0A:
                        self.note("mime-bare-lf", path, "lines end in LF instead of CRLF")
                    return i, k + (1 if buf[k] == 0x0A else 2), closing
                elif closing:
                    return i, k, True  # "--boundary--" followed by epilogue text on the same line
                start = i + 1
                passed += 1
                if passed == _PASSED_OVER:
                    candidates = _candidates(delim)

        def body_end(i: int, pos: int) -> int:
            """Where a part's body ends: before the line break that belongs to the delimiter."""
            if i <= pos:
                return pos
            end = i - 1
            return end - 1 if end > pos and buf[end - 1] == 0x0D else end

        # Preamble: up to the first delimiter. A stream may arrive a few bytes per read, so each
        # search goes on where the last one ended (less a delimiter's length): linear time.
        found = None
        searched = lo
        while found is None:
            found = find_delim(searched)
            if found is None:
                searched = max(searched, hi - len(delim))
                if not window and searched > CHUNK * 4:
                    # A stream's preamble searched is dropped (held, a long one cost memory as long
                    # as it), less the byte before the search: a delimiter must start a line.
                    del buf[: searched - 1]
                    searched, hi = 1, len(buf)
                if not fill():
                    raise MimeError(f"{path or 'body'}: no part starts with the boundary {boundary!r}")
        parts: list[InPart] = []
        _, pos, closing = found
        bare = False  # the closing delimiter ends the body, without a line break of its own
        while not closing:
            self.count += 1
            if self.count > self.limits.max_parts:
                raise LimitExceededError(f"{path or 'body'}: more than {self.limits.max_parts} MIME parts")
            part_path = f"{path}/part[{len(parts) + 1}]"
            headers, pos = self.headers(buf, pos, fill, part_path, lambda: hi)
            part = InPart(headers, path=part_path)
            self.coded(part)
            sink = self.sink(part)
            try:
                if window:
                    found = find_delim(pos)
                    if found is None:
                        sink.window(buf, pos, self.unterminated(buf, pos, hi, part_path, boundary))
                        pos, closing = hi, True
                    else:
                        sink.window(buf, pos, body_end(found[0], pos))
                        _, pos, closing = found
                        bare = closing and pos >= hi and buf[pos - 1] != 0x0A
                else:
                    # Stream: the body goes to the sink as it comes, up to the next delimiter.
                    while True:
                        found = find_delim(pos)
                        if found is not None:
                            sink.write(memoryview(buf)[pos : body_end(found[0], pos)])
                            _, pos, closing = found
                            bare = closing and pos >= hi and buf[pos - 1] != 0x0A
                            break
                        keep = len(delim) + _TAIL  # (a delimiter split between reads; a bad closing line)
                        if hi - pos > keep:
                            cut = hi - keep
                            sink.write(memoryview(buf)[pos:cut])
                            pos = cut
                        if not fill():
                            sink.write(memoryview(buf)[pos : self.unterminated(buf, pos, hi, part_path, boundary)])
                            pos, closing = hi, True
                            break
                        if pos > CHUNK * 4:
                            del buf[:pos]
                            pos, hi = 0, len(buf)
            except BaseException:
                sink.writer.discard()  # a part half written to a temporary file goes with the error
                raise
            sink.finish()
            if part.is_multipart:
                self.nested(part, depth)
            parts.append(part)
            if not window:
                del buf[:pos]
                pos, hi = 0, len(buf)
        # The epilogue, what follows the closing delimiter, is ignored as MIME says; a delimiter
        # line in it is a part its sender meant, closed out early: said, not dropped unsaid.
        # (A stream's is read to its end for it, in pieces: bounded memory, within its limit.)
        at = pos
        while not self.epilogue(buf, at, hi, delim, path):
            at = max(at, hi - len(delim) - 2)  # (a delimiter line not yet whole is looked for again)
            if not window and at > CHUNK * 4:
                del buf[: at - 1]  # (less the byte before: a delimiter must start a line)
                at, hi = 1, len(buf)
            if not fill():
                break
        return self.unpadded(parts, path) if bare and depth > 1 else parts

    def coded(self, part: InPart) -> None:
        """Say a part with a Content-Encoding (HTTP's header, which MIME has not): its bytes are
        kept as they came, compressed — an image that is gzip is no image — not taken unsaid."""
        coding = part.headers.get("content-encoding")
        if coding is not None and coding.strip().lower() not in ("", "identity"):
            self.note("mime-content-encoding", part.path, f"Content-Encoding {coding.strip()!r} on a part (HTTP's "
                                                          "header, not MIME's): its bytes kept as they came, not decoded")

    def epilogue(self, buf, start: int, hi: int, delim: bytes, path: str) -> bool:
        """Whether the epilogue from `start` to `hi` holds a delimiter line of the boundary that
        opens a part (`delim` at a line's start, the byte before `start` included, and not closing
        again), said as `mime-epilogue`."""
        start = max(start - 1, 0)
        if buf.find(b"\n" + delim, start, hi) < 0:  # (the usual epilogue: none, or nothing at all)
            return False
        if re.compile(re.escape(b"\n" + delim) + rb"(?:[^-]|-[^-])").search(buf, start, hi) is None:
            return False
        self.note("mime-epilogue", path, f"a part after the closing {delim.decode('ascii')}--: MIME's "
                                                "epilogue, ignored")
        return True

    def unpadded(self, parts: list[InPart], path: str) -> list[InPart]:
        """A Chinese MMSC (its MO capture) ends every part of the content with an empty line before
        the delimiter (content, CRLF, then the delimiter's own CRLF), and its closing delimiter with
        none, the message's following at once. MIME gives the first CRLF to the part, which a JPEG,
        a SMIL and a text then carried as a tail that none of them had. Taken for that framing only
        where it is unmistakable: a nested multipart closed so, of two parts or more, all of them
        sent as they are (no base64 or quoted-printable) and every one ending so; each then loses
        that one CRLF, noted. (Content that ends so, written as MIME writers write, keeps it.)"""
        leaves = [p for p in parts if not p.is_multipart]
        if len(leaves) < 2 or len(leaves) != len(parts):
            return parts
        for part in leaves:
            cte = (part.headers.get("content-transfer-encoding") or "").strip().lower()
            if cte not in ("", "7bit", "8bit", "binary") or _last_two(part.blob) != b"\r\n":
                return parts
        for part in leaves:
            _drop_tail(part.blob, 2)
        self.note("mime-part-trailing-crlf", path, "every part ends with an empty line before its delimiter "
                                                   "(the sender's framing, not content): dropped")
        return parts

    def unterminated(self, buf, pos: int, hi: int, path: str, boundary: str) -> int:
        """Where the last part ends when the body ends without its closing delimiter. HTTP has
        delivered the whole body (its length or chunking says so), so this is the sender's slip,
        not a cut: the part is kept. A last line shaped like a closing delimiter with another
        boundary (the spec examples' "--_NextPart...--") is taken for the closing; otherwise the
        part runs to the end, less the line break a delimiter would have followed."""
        tail = bytes(buf[max(pos, hi - _TAIL) : hi])
        text = tail.rstrip(b"\r\n\t ")
        start = text.rfind(b"\n") + 1
        line = text[start:]
        base = hi - len(tail)
        if start and len(line) > 4 and line.startswith(b"--") and line.endswith(b"--"):
            self.note("mime-bad-closing", path, f"closing line {line.decode('latin-1')!r} is not --{boundary}--")
            end = base + start - 1  # before the line break that belongs to that line
            return end - 1 if end > pos and buf[end - 1] == 0x0D else max(end, pos)
        self.note("mime-unterminated", path, f"no closing --{boundary}--: the last part runs to the end of the body")
        if tail.endswith(b"\r\n"):
            return hi - 2
        return hi - 1 if tail.endswith(b"\n") else hi

    def canonical(self, buf: bytes, lo: int, hi: int, delim: bytes, depth: int, path: str) -> list[InPart] | None:
        """The parts of a multipart in memory written as we write them (CRLF delimiters with no
        padding and no preamble, plain unfolded headers, a blank line after them), found with a
        few searches; None when anything is unusual, for the general reader to take it from the
        start, deviations and errors included."""
        line = b"\n" + delim  # every line that starts with the boundary, however it ends
        if not buf.startswith(delim + b"\r\n", lo) or hi - lo > len(buf):
            return None
        step = len(line)
        start = lo + step + 1  # (a part's, after its delimiter line)
        spans = []
        most = self.limits.max_parts - self.count  # (spans, at most)
        while True:
            i = buf.find(line, start - 1, hi)
            if i < 0:
                return None
            pos = i + step + 2  # (after the delimiter and the two bytes that follow it)
            after = buf[pos - 2 : pos]
            if buf[i - 1 : i] != b"\r" or after not in (b"--", b"\r\n"):
                return None  # a bare LF, padding after the boundary, a boundary-like line: the general rules
            spans.append((start, i - 1))
            if len(spans) > most:
                return None  # the general reader stops at the limit and says so
            if after == b"--":
                if pos < hi and buf[pos : pos + 2] != b"\r\n":
                    return None  # padding, a bare LF or text after the closing boundary: the general rules
                bare = pos >= hi  # (no line break of its own: see unpadded)
                break
            start = pos
        limit = self.limits.max_header_bytes
        parts: list[InPart] = []
        for start, end in spans:
            head_end = buf.find(b"\r\n\r\n", start, end)
            if head_end < 0 or head_end - start > limit:
                return None
            items = []
            first = None  # (lower-cased names → their first values, when the names were lowered here)
            block = buf[start:head_end]
            lines = block.count(b"\r\n") + 1
            if block.count(b"\n") != lines - 1 or b"\n " in block or b"\n\t" in block:
                return None  # bare line ends or folded headers
            if block.isascii():  # (the usual headers: read as text at once, the same rules)
                found = _PART_HEADER_LINES.findall(block.decode("ascii"))
                if len(found) != lines:  # (one match a line at most: every line is a part header)
                    return None
                first = {}
                for name, value in found:
                    value = value.strip()  # (the "\r" of the line's end with the white space)
                    items.append((name, value))
                    low = name.lower()
                    if low not in first:
                        first[low] = value
            else:
                for line in block.split(b"\r\n"):
                    m = _HEADER_LINE.match(line)
                    if not m or not _looks_like_header(m.group(1)) or not line.strip():
                        return None
                    items.append((m.group(1).decode("latin-1"), decode_header_bytes(m.group(2).strip()).strip()))
            self.count += 1
            if self.count > self.limits.max_parts:
                raise LimitExceededError(f"{path or 'body'}: more than {self.limits.max_parts} MIME parts")
            part = InPart(Headers(items, first), path=f"{path}/part[{len(parts) + 1}]")
            if first is None or "content-encoding" in first:  # (no call for the usual part)
                self.coded(part)
            cte = part.headers.get("content-transfer-encoding")
            if cte is None or cte in _AS_THEY_ARE or cte.lower() in _AS_THEY_ARE:  # a view of the bytes as they are
                if end - head_end - 4 > self.limits.max_part_bytes:
                    raise LimitExceededError(f"a part is larger than the limit of {self.limits.max_part_bytes} bytes")
                part.blob = ViewBlob(buf, head_end + 4, end)
            else:
                sink = self.sink(part)
                sink.window(buf, head_end + 4, end)
                sink.finish()
            if part.is_multipart:
                self.nested(part, depth)
            parts.append(part)
        if not bare and buf.find(line, pos + 1, hi) >= 0:  # (after the closing line's CRLF: one search)
            self.epilogue(buf, pos + 2, hi, delim, path)
        return self.unpadded(parts, path) if bare and depth > 1 else parts

    def headers(self, buf, pos: int, fill, path: str, end) -> tuple[Headers, int]:
        items: list[list] = []
        limit = self.limits.max_header_bytes
        start = pos
        while True:
            nl = buf.find(b"\n", pos, end())
            while nl < 0:
                if end() - start > limit:
                    raise LimitExceededError(f"{path}: part headers longer than {limit} bytes")
                searched = end()
                if not fill():
                    nl = end()
                    break
                nl = buf.find(b"\n", searched, end())  # (from where the last search ended: linear time)
            line = bytes(buf[pos:nl]).rstrip(b"\r")
            if nl - start > limit:
                raise LimitExceededError(f"{path}: part headers longer than {limit} bytes")
            if not line.strip():
                return Headers((k, decode_header_bytes(v).strip()) for k, v in items), nl + 1
            if line[:1] in (b" ", b"\t") and items:
                items[-1][1] += b" " + line.strip()
            else:
                m = _HEADER_LINE.match(line)
                if not m or not _looks_like_header(m.group(1)):
                    # Body text right after the headers (or a part with no headers and no blank line).
                    self.note("mime-missing-blank-line", path, "no blank line between part headers and body")
                    return Headers((k, decode_header_bytes(v).strip()) for k, v in items), pos
                items.append([m.group(1).decode("latin-1"), m.group(2).strip()])
            pos = nl + 1

    def sink(self, part: InPart) -> _Sink:
        cte = (part.headers.get("content-transfer-encoding") or "").strip().lower()
        if part.is_multipart and cte in ("base64", "quoted-printable"):
            self.note("mime-multipart-cte", part.path, f"a multipart sent as {cte} (decoded first)")
        elif cte not in ("", "7bit", "8bit", "binary", "base64", "quoted-printable"):
            self.note("mime-cte-unknown", part.path, f"unknown Content-Transfer-Encoding {cte!r}, read as binary")
        return _Sink(part, cte, BlobWriter(self.limits.spool_threshold, self.limits.max_part_bytes), self.note)

    def nested(self, part: InPart, depth: int) -> None:
        boundary = part.params.get("boundary")
        if boundary and boundary.strip() and boundary.isascii() and not _holds(part.blob, b"--" + boundary.rstrip(" \t").encode()):
            # The label's boundary is nowhere in the part (quoted twice, say): as for a whole body
            # in memory, its first delimiter line says what it is.
            with part.blob.open() as fp:
                sniffed = sniff_boundary(fp.read(4096))
            if sniffed is not None:
                self.note("mime-boundary", part.path, f"boundary {boundary!r} is not in the part; {sniffed!r} is")
                boundary = sniffed
        if not boundary:  # as for a whole body without one: the first delimiter line says it
            with part.blob.open() as fp:
                boundary = sniff_boundary(fp.read(4096))
            if boundary is None:
                self.note("mime-no-boundary", part.path, "a multipart part without boundary, kept as one part")
                part._unsplit = True  # a leaf then, its bytes as they came
                return
            self.note("mime-no-boundary", part.path, f"a multipart part without boundary; found {boundary!r} in it")
        if isinstance(part.blob, ViewBlob):
            part.children = self.read(part.blob.window(), boundary, depth + 1, part.path)
            return
        with part.blob.open() as fp:
            part.children = self.read(fp, boundary, depth + 1, part.path)


class _Sink:
    """Receives a part's raw body and writes it decoded (base64 / quoted-printable) to a blob."""

    def __init__(self, part: InPart, cte: str, writer: BlobWriter,
                 note: Callable[[str, str, str], None] = lambda *_: None):
        self.part, self.cte, self.writer, self.note = part, cte, writer, note
        self.rest = b""  # base64: text of a group not yet whole
        self.pending = bytearray()  # quoted-printable: the line not yet ended
        self.done = False
        self.padded = False  # base64: a padded group was decoded, so more text means a new run
        self.after_pad = False  # base64: the text so far ended with a padded group (and more "=")
        self.junk = False  # base64: characters outside the alphabet were ignored
        self.runs = 0  # base64: padded runs decoded
        self.decoded = 0  # base64: bytes decoded so far

    def window(self, data: bytes, lo: int, hi: int) -> None:
        """The whole body at once, from bytes in memory: raw bodies become views, not copies."""
        if self.cte in ("base64", "quoted-printable"):
            self.write(memoryview(data)[lo:hi])
        else:
            if self.writer.max_size is not None and hi - lo > self.writer.max_size:
                raise LimitExceededError(f"a part is larger than the limit of {self.writer.max_size} bytes")
            self.part.blob = ViewBlob(data, lo, hi)
            self.done = True

    def write(self, data: memoryview) -> None:
        if not len(data):
            return
        if self.cte == "base64":
            raw = bytes(data)
            if raw.translate(None, _BASE64_OR_SPACE):  # anything but the alphabet and line breaks
                if raw.translate(None, _BASE64_URLSAFE_OR_SPACE):
                    self.junk = True
                    self.note("base64-invalid", self.part.path, "characters outside base64 ignored")
                if b"-" in raw or b"_" in raw:  # (each noted on its own: however the text was cut into reads)
                    self.note("base64-urlsafe", self.part.path, "base64 in the URL-safe alphabet (- and _)")
                raw = raw.translate(_FROM_URLSAFE)
            self._b64_runs(self.rest + raw.translate(None, _NOT_BASE64))
        elif self.cte == "quoted-printable":
            # Decoded up to the last line break; a line longer than _QP_PENDING (hostile: QP lines
            # have 76 characters) up to its end, less an escape that may be cut. Only the new bytes
            # are searched and the pending ones copied once: a stream arriving a few bytes per read
            # cost time quadratic in the line's length, and memory as long as the line.
            start = len(self.pending)
            self.pending += data
            cut = bytes(data).rfind(b"\n") + 1
            if cut:
                cut += start
            elif len(self.pending) > _QP_PENDING:
                cut = len(self.pending)
                escape = self.pending.rfind(b"=", cut - 2)  # ("=", "=4", "=\r": the rest comes next)
                cut = escape if escape >= 0 else cut
            if cut:
                self.writer.write(binascii.a2b_qp(bytes(self.pending[:cut])))
                del self.pending[:cut]
        else:
            self.writer.write(data)

    def _b64_runs(self, text: bytes, final: bool = False) -> None:
        """Decode whole groups of four. Padding ends a run: text after it is another run (some
        senders join separately encoded chunks), decoded on its own rather than dropped. Positions
        move along `text` (no copy of what is left per run: linear time however many runs), and
        the runs are bounded, since each costs a call."""
        pos, size = 0, len(text)
        if self.after_pad:  # (the "=" after the last read's padded group go on here: skipped too)
            while pos < size and text[pos] == 0x3D:
                pos += 1
            self.after_pad = pos == size
        while True:
            pad = text.find(b"=", pos)
            if pad < 0:
                cut = pos + (size - pos) // 4 * 4
                break
            end = pad - (pad - pos) % 4 + 4  # the end of the group holding the padding
            if end > size and not final:
                cut = pad - (pad - pos) % 4  # the rest of that group has not arrived yet
                break
            if self.padded:
                self.note("base64-padding-inside", self.part.path, "padding inside base64 text (joined runs)")
            self.runs += 1
            if self.runs > MAX_BASE64_RUNS:
                self.writer.discard()
                raise LimitExceededError(f"{self.part.path}: base64 in more than {MAX_BASE64_RUNS} padded runs")
            if end <= size:  # the group with its padding (the whole text, usually: not copied)
                self._b64(text if pos == 0 and end == size else text[pos:end])
            else:  # the text ends inside that group: padded here
                self._b64(text[pos:pad] + b"=" * (-(pad - pos) % 4))
            self.padded = True
            pos = min(end, size)
            while pos < size and text[pos] == 0x3D:  # "=" beyond the group's own
                pos += 1
            self.after_pad = pos == size  # (more "=" in the next read are beyond it too)
        if cut > pos and self.padded:
            self.note("base64-padding-inside", self.part.path, "padding inside base64 text (joined runs)")
        self._b64(text[pos:cut])
        self.rest = text[cut:]

    def _b64(self, text: bytes) -> None:
        if not text:
            return
        try:
            decoded = binascii.a2b_base64(text)
            self.decoded += len(decoded)
            self.writer.write(decoded)
        except binascii.Error as exc:
            self.writer.discard()
            raise MimeError(f"{self.part.path}: undecodable base64 ({exc})") from None

    def finish(self) -> None:
        if self.done:
            return
        if self.cte == "base64":
            if self.rest:
                self._b64_runs(self.rest, final=True)
            rest = self.rest
            if self.junk and (len(rest) % 4 == 1 or not (self.decoded or rest)):
                # Junk, and what is left is no whole base64 either: not base64 at all.
                self.writer.discard()
                raise MimeError(f"{self.part.path}: undecodable base64 (characters outside the alphabet, "
                                f"and the rest is no whole base64 text)")
            if len(rest) % 4 == 1:  # one character cannot encode a byte: the text was cut short
                self.note("base64-truncated", self.part.path, "base64 text ends in the middle of a group")
            elif rest:
                self.note("base64-unpadded", self.part.path, "base64 text without its final padding")
                self._b64(rest + b"=" * (-len(rest) % 4))
        elif self.cte == "quoted-printable" and self.pending:
            self.writer.write(binascii.a2b_qp(bytes(self.pending)))
        self.part.blob = self.writer.blob()


def read_multipart(
    body: bytes | BinaryIO, boundary: str, limits: MimeLimits = DEFAULT_MIME_LIMITS, path: str = ""
) -> tuple[list[InPart], list[Deviation]]:
    """The parts of a multipart body, each with its payload decoded into a blob.

    Bytes are split in place (parts are views of them); streams are read in chunks, with large
    parts spooled to temporary files."""
    devs: list[Deviation] = []
    if isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body) if not isinstance(body, bytes) else body
        if len(data) > limits.max_body_bytes:
            raise LimitExceededError(f"the body is {len(data)} bytes, more than {limits.max_body_bytes}")
        source: BinaryIO | _Window = _Window(data, 0, len(data))
    else:
        source = _Limited(body, limits.max_body_bytes)
    parts = _Reader(limits, devs).read(source, boundary, 1, path)
    return parts, devs


class _Window:
    """A range of bytes already in memory."""

    def __init__(self, data: bytes, lo: int, hi: int):
        self.data, self.lo, self.hi = data, lo, hi


class _Limited(io.RawIOBase):
    """A stream that refuses to yield more than `limit` bytes."""

    def __init__(self, fp: BinaryIO, limit: int):
        self.fp, self.limit, self.seen = fp, limit, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.fp.read(n)
        self.seen += len(data)
        if self.seen > self.limit:
            raise LimitExceededError(f"the body is more than {self.limit} bytes")
        return data


class ViewBlob(Blob):
    """Part of a bytes object, without a copy (parts of a body decoded from memory)."""

    def __init__(self, data: bytes, lo: int, hi: int):
        self.data, self.lo, self.hi = data, lo, hi
        self.size = hi - lo

    def window(self) -> _Window:
        return _Window(self.data, self.lo, self.hi)

    def open(self) -> BinaryIO:
        return io.BytesIO(memoryview(self.data)[self.lo : self.hi])

    def read(self) -> bytes:
        if self.lo == 0 and self.hi == len(self.data):
            return self.data
        return self.data[self.lo : self.hi]

    def in_memory(self) -> memoryview:
        return memoryview(self.data)[self.lo : self.hi]

    def sha256(self) -> str:
        if type(self.data) is not bytes:  # (a buffer that may change: hashed as it is now, each time)
            return super().sha256()
        digest = self.__dict__.get("_sha256")  # (bytes do not change: hashed once, as BytesBlob's)
        if digest is None:
            digest = self._sha256 = super().sha256()
        return digest

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        view = memoryview(self.data)
        for i in range(self.lo, self.hi, size):
            yield view[i : min(i + size, self.hi)]


def _last_two(blob: Blob | None) -> bytes | None:
    """The last two bytes of a part as read (a view, bytes, or a spooled file); None for another kind."""
    if blob is None or blob.size < 2:
        return None
    if isinstance(blob, ViewBlob):
        return bytes(blob.data[blob.hi - 2 : blob.hi])
    if isinstance(blob, BytesBlob):
        return blob.data[-2:]
    if isinstance(blob, FileBlob):
        with open(blob.path, "rb") as fp:
            fp.seek(blob.offset + blob.size - 2)
            return fp.read(2)
    return None


def _drop_tail(blob: Blob, n: int) -> None:
    """`blob` (one `_last_two` reads) without its last `n` bytes, in place: a spooled file stays
    the one its blob removes."""
    blob.__dict__.pop("_sha256", None)
    if isinstance(blob, ViewBlob):
        blob.hi -= n
    elif isinstance(blob, BytesBlob):
        blob.data = blob.data[:-n]
    blob.size -= n


def _holds(blob: Blob, needle: bytes) -> bool:
    """Whether `needle` is anywhere in `blob` (read in chunks, each searched with the end of the one
    before: linear time, bounded memory)."""
    if isinstance(blob, ViewBlob):
        return blob.data.find(needle, blob.lo, blob.hi) >= 0
    carry = b""
    for chunk in blob.chunks():
        text = carry + bytes(chunk)
        if needle in text:
            return True
        carry = text[-(len(needle) - 1) :] if len(needle) > 1 else b""
    return False


def sniff_boundary(head: bytes) -> str | None:
    """The boundary of a multipart body given without its headers: the first ``--x`` line."""
    for line in head.splitlines()[:50]:
        line = line.rstrip()
        if line.startswith(b"--") and len(line) > 2 and not line.endswith(b"--"):
            # (as part headers are decoded: a typographic quote copied from a document reads as
            # itself in the error that refuses it, not as three Latin-1 letters)
            return decode_header_bytes(line[2:])
    return None

