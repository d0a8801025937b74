"""Packet captures (tcpdump's pcap, Wireshark's pcapng) read as the HTTP messages in them.

An interoperability problem with an MMSC is usually shown as a capture taken on a server: this
module finds every HTTP/1.x request and response in one, by reassembling each TCP connection, so
that `mm7bind inspect` and `validate` can decode the MM7 messages as they went over the wire.
Bytes in, messages out (no files, no sockets). Checksums are not checked: a capture taken on the
sending host has the ones the network card fills in later.

Read: pcap (either byte order, micro- or nanosecond times, the record headers of old patched
libpcaps too: the "modified" format's, SuSE's, Red Hat's, Nokia's; files joined with cat, each with
its own header, pcapng ones among them, read in the order of their times where the capture can be
read again, else said) and pcapng (any number of sections and interfaces,
enhanced, simple and obsolete packet blocks, each interface's time resolution and offset, the records
Wireshark numbers as frames among them counted); links
Ethernet and Linux cooked (SLL, SLL2; VLAN tags included, stacked too; MPLS labels, a PPPoE
session, 802.1ah, MACsec integrity alone; 802.3's LLC and SNAP), PPP and Cisco HDLC, raw IP, BSD loopback; IPv4 and IPv6 (extension headers walked, IPsec's AH too), fragmented packets put
back together; tunnels unwrapped, each packet inside read as one captured inside the tunnel (IP in
IP, GRE, PPTP's GRE, ERSPAN, VXLAN, Geneve; see _unwrapped), a VXLAN, Geneve or NVGRE network's
connections kept apart from another's, a VLAN's from another VLAN's (an MPLS pseudowire's too); TCP segments in any
order, repeated or overlapping (a repeat of other bytes said), streams of any length; HTTP/1.x messages, a request's body left
unsent after an early answer to its `Expect: 100-continue` told apart. What cannot be read (a
packet cut short by the snapshot length, a segment or a fragment never captured (the last ones
before a FIN too, and a FIN's own segment's tail the snapshot length cut), overlapping
fragments, a connection that is not HTTP, a link of another kind, a tunnel's header) is said in
`notes`, and reading goes on from the next message it can find; a record or block whose length no
packet has, or a pcapng block whose length at its end is not the one at its start (a damaged file),
ends the reading there, said too (as Wireshark stops there). A gzip-compressed capture is read inflated in pieces,
within a bound (`gunzip`); one cut short or damaged as far as it inflates, said.

A capture is read as a stream (`CaptureStream`, from a file in pieces), each connection's messages
made once it can change no more (closed both ways and a grace for retransmissions, or idle long), or
as they come whole on one busy long (see BUSY_HELD): memory holds the open connections, not the
capture. Several files (a ring buffer's) are read as one capture, in the order of their packets'
times (each file's the median of its first ones'); a connection captured twice, before and after an
address translation, is read once; one packet timed far from the rest is not taken as the capture's
time.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import stat
import statistics
import struct
import zlib
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timezone
from ipaddress import IPv4Address, IPv6Address
from operator import itemgetter

from .chunked import CHUNK_SIZE
from .display import repr_showing_no_secret_header
from .errors import DecodeError, LimitExceededError
from .inflating import Inflating, inflate_body, is_gzip
from .mime import header_fields, header_value

# magic → (byte order, seconds per time unit, the sizes a packet record's header may have, the
# usual first). 0xa1b2cd34: the "modified" pcap of Alexey Kuznetsov's patched libpcap, whose records
# add ifindex, protocol, packet type and a pad byte (24 bytes, as libpcap reads it), or in SuSE
# 6.3's version of the patch two CPU numbers and 3 pad bytes more (28). The usual magic too was
# written with other headers: by Red Hat 6.1's patched libpcap (24 bytes) and Nokia's (20). Which
# one a file has is told by its first records, as Wireshark tells it (`_record_header`).
PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6, (16, 24, 20)), b"\xa1\xb2\xc3\xd4": (">", 1e-6, (16, 24, 20)),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9, (16,)), b"\xa1\xb2\x3c\x4d": (">", 1e-9, (16,)),
               b"\x34\xcd\xb2\xa1": ("<", 1e-6, (24, 28)), b"\xa1\xb2\xcd\x34": (">", 1e-6, (24, 28))}
_RECORDS_TRIED = 3  # records read to tell a header's size
_MAX_ORIGINAL = 128 * 1024 * 1024  # a packet's length on the wire past which a record header is misread
_MAX_SNAPLEN = 262144  # the most tcpdump and Wireshark keep of a packet, whatever a file's header says
# A pcapng block's length past which the file is damaged there (Wireshark's bound is about the
# same): the largest packet and its block's own fields and options
_MAX_BLOCK = _MAX_ORIGINAL + 128 * 1024
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_PCAPNG_BYTE_ORDERS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}  # (a section's byte-order magic)

_NO_TIME = datetime.min.replace(tzinfo=timezone.utc)  # (pcapng's simple packets have none)
MAX_INFLATED = 64 * 1024 * 1024  # bytes a gzip or deflate body may grow to (a bomb stops there)
# ... and all of a capture's together: every message is held, so a few kilobytes of bombs each
# stopping just short of MAX_INFLATED still grew to gigabytes.
MAX_INFLATED_TOTAL = 256 * 1024 * 1024


# A gzip-compressed file (tcpdump -z gzip, a rotated capture, a saved body) is inflated to
# GUNZIP_RATIO times its size and GUNZIP_ALLOWANCE more (a pipe's: of what it has sent so far; the
# allowance lets a stretch compressing more than the ratio, as a capture's first minutes of
# keep-alives and zero padding, through), since a few kilobytes of a bomb would otherwise be
# gigabytes read for hours. Real captures and MM7 bodies shrink 2 to 20 times. Read in pieces (a
# capture) that bounds the time alone, memory holding a piece; read whole (`gunzip`), held, it is
# also MAX_GUNZIPPED at most.
GUNZIP_RATIO = 100
GUNZIP_ALLOWANCE = 256 * 1024 * 1024
MAX_GUNZIPPED = 1024 * 1024 * 1024


def is_packet_capture(data: bytes) -> bool:
    """Whether `data` starts as a pcap or pcapng file does (gzip-compressed too, which
    read_capture inflates)."""
    return _starts_as_capture(data) or _starts_as_capture(_gunzipped_start(data))


def gunzip(data: bytes, what: str = "the file") -> bytes:
    """A gzip-compressed file inflated (members one after another, as concatenated or appended
    files have them), within the bound above (a `LimitExceededError` past it); a `DecodeError`
    if it is no gzip, corrupt, or cut short."""
    with Gunzipped(data, what, most=MAX_GUNZIPPED) as inflated:
        return inflated.read()


class Gunzipped(Inflating):
    """A gzip-compressed file (bytes, or a binary file object) read inflated in pieces, as
    `gunzip` reads it whole and within its bound: what is held at once is a piece of each. The
    bound is counted from the file's size where it is known (bytes, a regular file: read from
    its position on), else (a pipe) from the compressed bytes read so far, and is `most` at most
    where given; an error (see `gunzip`) comes from the `read` that meets it. `partial`: a file cut
    short, corrupt, or followed by bytes that are no gzip is read as far as it inflates, the error
    it would have been kept in `stopped` (a bomb is refused all the same)."""

    def __init__(self, source, what: str = "the file", size: int | None = None, most: int | None = None,
                 partial: bool = False):
        super().__init__(source)
        self.what, self.most, self.partial = what, most, partial
        self.salvage = partial
        self.stopped: str | None = None
        self.size = len(self.buf) if self.file is None else size if size is not None else _size_left(source)

    def _bound(self) -> tuple[int, str]:
        size, said = (self.size, "its size") if self.size is not None else (
            self.taken, f"the {self.taken} bytes of it read so far")  # (a pipe: its size is not known ahead)
        bound = GUNZIP_RATIO * size + GUNZIP_ALLOWANCE
        return (bound, said) if self.most is None else (min(bound, self.most), said)

    def limit(self) -> int:
        return self._bound()[0]

    def past(self, limit: int) -> Exception:
        most = f", {self.most} at most read whole" if self.most is not None else ""
        return LimitExceededError(
            f"{self.what} is gzip-compressed and inflates past {limit} bytes ({GUNZIP_RATIO} times {self._bound()[1]} "
            f"and {GUNZIP_ALLOWANCE} bytes more{most}): a decompression bomb, or a file to decompress first "
            "(gunzip) and read as it is")

    def cut_short(self) -> Exception | None:
        return self._stop(f"{self.what} is gzip-compressed and ends before its gzip end (cut short, or still being "
                          "written)")

    def unreadable(self, exc) -> Exception | None:
        return self._stop(f"{self.what} is gzip-compressed, but not readable as gzip ({exc})")

    def trailing(self, count: int) -> Exception | None:
        return self._stop(f"{self.what} is gzip-compressed, with {count} bytes after its gzip end that are none")

    def _stop(self, problem: str) -> Exception | None:
        if not self.partial:
            return DecodeError(problem)
        self.stopped = problem
        return None


def _size_left(file) -> int | None:
    """The bytes a binary file object has left to read, where its size is known (a regular file)."""
    try:
        status = os.fstat(file.fileno())
        return status.st_size - file.tell() if stat.S_ISREG(status.st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


def _starts_as_capture(data: bytes) -> bool:
    return data[:4] in PCAP_MAGICS or (data[:4] == PCAPNG_MAGIC and data[8:12] in _PCAPNG_BYTE_ORDERS)


def _gunzipped_start(data: bytes) -> bytes:
    """The first bytes of gzip-compressed `data` (as tcpdump -z gzip and rotated captures are
    kept), else b""."""
    if data[:2] != b"\x1f\x8b":
        return b""
    try:
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(data[:4096], 12)
    except zlib.error:
        return b""


@dataclass
class CapturedMessage:
    """One HTTP request or response found in a capture. `body` is as the application saw it:
    chunks joined, gzip or deflate inflated (each said in `notes`)."""

    number: int  # its place in the capture, from 1, in the order the messages began
    connection: int  # which TCP connection, from 1, in the order they appear
    source: str  # "address:port" of its sender
    destination: str
    time: datetime | None  # (UTC) when its first byte was captured (None: the capture has no times)
    start_line: str
    headers: dict[str, str]
    body: bytes
    notes: list[str] = field(default_factory=list)
    packet: int = 0  # the packet its first byte came in, from 1 (Wireshark's frame number), in its file
    file: str | None = None  # the file that packet is in, where several files are read as one capture

    __repr__ = repr_showing_no_secret_header  # (the peers' Authorization, cookies: reprs get printed)

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("HTTP/")


@dataclass
class Capture:
    messages: list[CapturedMessage]
    notes: list[str]  # what could not be read, for the capture as a whole


def read_capture(data: bytes) -> Capture:
    """Every HTTP/1.x message in a pcap or pcapng capture, gzip-compressed or not (see `gunzip`);
    DecodeError if `data` is neither."""
    return _whole(CaptureStream(data))


def read_capture_file(file) -> Capture:
    """`read_capture` of a capture read from a binary file object, in pieces: what it holds at
    once is the open connections' bytes and the messages found (their bodies included)."""
    return _whole(CaptureStream(file))


def _whole(stream: CaptureStream) -> Capture:
    return Capture(in_capture_order(list(stream)), stream.notes)


def capture_order(msg: CapturedMessage) -> tuple:
    """A message's place in its capture: by when it began, its connection, requests first."""
    return msg.time or _NO_TIME, msg.connection, not msg.is_request


def in_capture_order(messages: list[CapturedMessage]) -> list[CapturedMessage]:
    """`messages` (a CaptureStream's, all of them) sorted into their capture's order and numbered."""
    messages.sort(key=capture_order)
    for n, msg in enumerate(messages, 1):
        msg.number = n
    return messages


# A connection is read, and its bytes let go, once it can change no more: closed both ways (a FIN
# from each end, or a reset) and CLOSE_GRACE seconds of capture later, since a segment lost before
# the FIN comes again after it; sooner when the connections waiting so hold CLOSE_GRACE_BYTES
# (the earliest closed first). One idle for IDLE seconds of capture is read too: its later packets,
# if any, are read on as the same connection (a last message not whole yet is kept back, and read
# once its rest comes, or at the end). A segment with bytes not read coming after its
# connection was read is said in the notes. Where the capture's times go back (files joined out of
# time order, a clock set back: said in the notes), a connection's grace and idleness still count
# from its latest packet's time and the capture's time goes back with it: a decision on one of
# before the step back waits, never comes sooner, and does not hold up those after it; a SYN or bytes timed before a connection's first packet are its start, not a new
# connection's nor late ones (read with it if it is not read yet, else as a connection of their own).
CLOSE_GRACE = 60.0
CLOSE_GRACE_BYTES = 64 * 1024 * 1024
IDLE = 900.0
# A connection holding BUSY_HELD bytes (and twice what it kept back when read so last), both ends
# having sent, is read as one idle is, without waiting: its whole messages read and let go, its
# last one not whole yet kept back. A kept-alive connection busy for hours, never idle, held every
# byte it carried until it closed. Its twin captured too (see _Twins) holds the same bytes at the
# same packets: its first part, of both ends' bytes, is read as the other's is, told to be its twin.
BUSY_HELD = 16 * 1024 * 1024
_FORGET = 3600.0  # seconds of capture after which a connection read is forgotten (its ports a new one's)
# ... and connections read kept so at most (the earliest read let go first): a busy MMSC link's
# capture has hundreds of thousands of short connections an hour, each kept a few hundred bytes. One
# let go early is a new connection to a later segment of it (see _Connections.late_notes).
KEPT_READ = 50_000
# A capture's times going back more than this is said (less: packets of several CPUs or interfaces
# written a little out of order, as `tcpdump -i any` and mergecap do)
_STEP_BACK = 1.0


def _before(when: float | None, first: float | None) -> bool:
    """Whether a packet's time is before a connection's first packet's: of no later connection on
    its ports, nor a retransmission of its bytes."""
    return None not in (when, first) and when < first


class CaptureStream:
    """The HTTP/1.x messages of a pcap or pcapng capture (bytes, a binary file object read in
    pieces, or a list of files' paths read as one capture: see _files_frames), each connection's
    as soon as it can change no more (see CLOSE_GRACE, IDLE; `busy_held`: see BUSY_HELD,
    `kept_read`: KEPT_READ): memory holds the open connections, not the capture. Iterated, messages come connection by connection
    as each is done, `number` 0 (their place in the capture is known at its end: see
    `in_capture_order` and `capture_order`); `notes`, for the capture as a whole, are complete once
    the iteration ends. A gzip-compressed capture is read inflated in pieces (see `Gunzipped`)."""

    def __init__(self, source, *, close_grace: float = CLOSE_GRACE, close_grace_bytes: int = CLOSE_GRACE_BYTES,
                 idle: float = IDLE, busy_held: int = BUSY_HELD, kept_read: int = KEPT_READ):
        self.source = source
        self.close_grace, self.close_grace_bytes, self.idle = close_grace, close_grace_bytes, idle
        self.busy_held, self.kept_read = busy_held, kept_read
        self.notes: list[str] = []
        self._read = False

    def __iter__(self):
        if self._read:
            raise RuntimeError("a CaptureStream is read once")
        self._read = True
        first: list[str] = []
        file_notes: list[str] = []
        connection_notes: list[tuple[int, list[str]]] = []
        ip = _IP()
        tcp = _Connections(connection_notes, self.close_grace, self.close_grace_bytes, self.idle, self.busy_held,
                           self.kept_read)
        files: list[tuple[int, str]] = []  # (several files: each one's first packet number, its name)
        if isinstance(self.source, (list, tuple)):
            frames = _files_frames(self.source, first, file_notes, files)
            tcp.where = functools.partial(_in_file, files)
        else:
            frames = _opened_frames(self.source, first, file_notes)
        try:
            for number, when, link, frame, cut in frames:
                segment = ip.segment(link, frame, number, when, cut)
                if segment is not None:
                    tcp.add(when, number, *segment)
                if tcp.due:
                    yield from tcp.finish_due()
            yield from tcp.finish_all()
        finally:
            frames.close()  # (its gzip note said, its file closed)
            connection_notes.sort(key=itemgetter(0))  # (stable: a connection read twice says its notes in turn)
            packet = functools.partial(_packet_in, files) if files else str
            self.notes = first + file_notes + ip.notes(packet) + tcp.late_notes(
                [n for _, said in connection_notes for n in said], packet)


def _opened_frames(source, first: list[str], notes: list[str], in_time_order: bool = True):
    """The frames of one capture (bytes or a binary file object, gzip-compressed or not; pcap and
    pcapng files joined with cat in it: where they are out of time order and the capture can be
    read again, `in_time_order`, in the order of their times)."""
    start = _rewindable(source) if in_time_order else None  # (before any of it is read)
    src = _Source(source)
    head = bytes(src.peek(4096))
    gunzipped = None
    if is_gzip(head) and _starts_as_capture(_gunzipped_start(head)):
        size = len(src.view) if src.file is None else _size_left(src.file)
        # (cut short, a .pcap.gz still being written or copied so, is read as far as it goes, as a plain one is)
        gunzipped = Gunzipped(src, "the capture", None if size is None else size + len(src.buffer), partial=True)
        src = _Source(gunzipped)
        first.append("the capture is gzip-compressed: read inflated")
    elif start is not None:
        # (walked once for its files' headers first: a fifth or so of the time its reading takes)
        parts = _joined_parts(_source_at(source, start, 0))
        order = sorted(range(len(parts)), key=lambda i: parts[i][2] or 0.0)
        if len(parts) > 1 and None not in (t for _, _, t in parts) and order != sorted(order):
            yield from _parts_in_time_order(source, start, parts, order, notes)
            return
        src = _source_at(source, start, 0)  # (from its start again)
    once = None if not in_time_order else (
        "the capture is gzip-compressed, read once as it inflates: gunzip it first" if gunzipped is not None else
        "the capture comes from a pipe, read once: save it to a file first" if start is None else None)
    try:
        yield from _frames(src, notes) if once is None else _said_out_of_order(src, notes, once)
    finally:
        if gunzipped is not None and gunzipped.stopped:
            first.append(f"{gunzipped.stopped}: read as far as it inflates")


def _said_out_of_order(src: _Source, notes: list[str], once: str):
    """The frames of a capture read once (gzip-compressed, a pipe), whose files joined with cat out
    of time order cannot be put in order: where one begins before those before it end, said (the
    times going back are said too, but not why nor what to do)."""
    parts: list[tuple[int, int]] = []
    latest, part, said = None, 0, False  # (the latest time before the file being read, and which file it is)
    for frame in _frames(src, notes, parts=parts):
        when = frame[1]
        if when is not None and not said:
            if part and len(parts) > part and latest is not None and when < latest - _STEP_BACK:
                inflated = " of the capture inflated" if "gzip" in once else ""
                notes.append(f"a file joined with cat (a pcap file or pcapng section) at byte {parts[-1][0]}{inflated} "
                             "begins before the ones before it end: files joined out of time order are read in the "
                             f"order they are in, not of their times ({once} to have them read in time order, or "
                             "write it in time order with reordercap)")
                said = True
            part = len(parts)
            latest = when if latest is None else max(latest, when)
        yield frame


def _rewindable(source) -> int | None:
    """Where a capture starts in `source`, if it can be read again from there (bytes, a regular
    file), else None (a pipe)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return 0
    try:
        return source.tell() if source.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _source_at(source, start: int, position: int) -> _Source:
    """A capture read from `position` bytes past its `start` in `source` (see _rewindable)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        src = _Source(source)
        src.at = position
    else:
        source.seek(start + position)
        src = _Source(source)
    src.position = position
    return src


def _joined_parts(src: _Source) -> list[tuple[int, int, float | None]]:
    """The files joined with cat in a capture (pcap files, pcapng sections): each one's byte
    position, the packets before it, and its time (see _order_time); none where the capture is
    unreadable (said when it is read)."""
    parts: list[tuple[int, int]] = []
    times: list[list[float]] = []
    try:
        for _, when, _, _, _ in _frames(src, [], parts=parts):
            if len(times) < len(parts):
                times += [[] for _ in range(len(parts) - len(times))]
            if when is not None and len(times[-1]) < _ORDER_TIMES:
                times[-1].append(when)
    except DecodeError:
        return []
    times += [[] for _ in range(len(parts) - len(times))]
    out, last = [], None
    for (position, before), t in zip(parts, times):
        # (one without a time, no packets or pcapng's simple ones, stays after the one before it)
        when = _order_time(t)
        last = last if when is None else when
        out.append((position, before, last))
    return out


def _parts_in_time_order(source, start: int, parts, order: list[int], notes: list[str]):
    """The frames of a capture of files joined with cat out of time order (`cat new.pcap old.pcap`),
    each file read in turn in the order of their times: a connection spanning two of them was read
    in pieces, its end before its start and read once its grace had passed, its start then a
    connection of its own. Each packet keeps its number in the capture as it is."""
    notes.append(f"{len(parts)} files joined with cat (pcap files or pcapng sections, not merged with mergecap) are "
                 "not in time order: read in the order of their packets' times, those at bytes "
                 + ", ".join(str(parts[i][0]) for i in order))
    for i in order:
        position, before, _ = parts[i]
        yield from _frames(_source_at(source, start, position), notes, before, alone=True)


_ORDER_TIMES = 64  # packets read at a file's start for its time (see _order_time)


def _order_time(times: list[float]) -> float | None:
    """When a file's packets were captured, as several files are put in order: the median of its
    first packets' times, not its first packet's (one bogus timestamp there, a year ahead or in
    1970, put the file before or after all the others, and a connection spanning it and the next
    was read in pieces). Ring buffer files do not overlap in time: each median lies within its
    own file's span, so they are ordered as their first packets would order them."""
    return statistics.median_low(times) if times else None


def _file_time(path) -> float | None:
    """A capture file's time (see _order_time; None: none of its first packets has a time, or the
    file is no capture)."""
    times: list[float] = []
    try:
        with open(path, "rb") as file:
            frames = _opened_frames(file, [], [], in_time_order=False)
            try:
                for _, (_, when, _, _, _) in zip(range(_ORDER_TIMES), frames):
                    if when is not None:
                        times.append(when)
            finally:
                frames.close()
    except (OSError, DecodeError, LimitExceededError):
        pass
    return _order_time(times)


def _files_frames(paths, first: list[str], notes: list[str], files: list[tuple[int, str]]):
    """The frames of several capture files read as one capture (a ring buffer's, `tcpdump -C/-W/-G`,
    dumpcap's -b): in the order of their times (see _order_time), whatever the order given (a shell
    glob puts file10 before file2), one file open at a time; what each file says is said under its
    name, and `files` gets each file's first packet number."""
    names = [os.fspath(p) for p in paths]
    times = [_file_time(p) for p in names]
    # (files without a time, or no capture, after the others, in the order given: their notes say why)
    order = sorted(range(len(names)), key=lambda i: (times[i] is None, times[i] or 0.0))
    first.append(f"{len(names)} files read as one capture, in the order of their packets' times"
                 + ("" if order == sorted(order) else f" (not the order given): {', '.join(names[i] for i in order)}"))
    number = 0
    for i in order:
        name = names[i]
        files.append((number + 1, name))
        said: list[str] = []
        try:
            with open(name, "rb") as file:
                number = yield from _numbered(_opened_frames(file, said, said), number)
        except OSError as exc:
            said.append(f"not read: {exc.strerror or exc}")
        except DecodeError as exc:
            said.append(f"not read: {exc}")
        notes += [f"{name}: {n}" for n in said]


def _numbered(frames, before: int):
    """A file's frames numbered on from the `before` packets of the files before it; the count of
    packets so far (the highest number: files joined with cat in it may come in another order)."""
    number = before
    for local, *rest in frames:
        number = max(number, before + local)
        yield before + local, *rest
    return number


def _packet_in(files: list[tuple[int, str]], packet: int) -> str:
    """A packet of several files read as one, as said in the notes: its number in its file."""
    name, number = _in_file(files, packet)
    return f"{number} of {name}" if name is not None else str(packet)


def _in_file(files: list[tuple[int, str]], packet: int) -> tuple[str | None, int]:
    """(the file, the packet's number in it) of a packet of several files read as one."""
    i = bisect_right(files, packet, key=itemgetter(0)) - 1
    return (files[i][1], packet - files[i][0] + 1) if i >= 0 else (None, packet)


class _Source:
    """A capture's bytes as they are read: from memory (what is read are views of it) or from a
    binary file object (read in pieces: only what is being parsed is held)."""

    _PIECE = 1 << 18

    def __init__(self, source):
        self.file = None if isinstance(source, (bytes, bytearray, memoryview)) else source
        self.view = memoryview(source) if self.file is None else None
        self.buffer = bytearray()
        self.at = 0  # (in the buffer, or the view)
        self.position = 0  # bytes read from the start

    def peek(self, n: int):
        """The next `n` bytes (fewer at the end), left to read."""
        if self.file is None:
            return self.view[self.at : self.at + n]
        while len(self.buffer) - self.at < n:
            piece = self.file.read(max(self._PIECE, n - len(self.buffer) + self.at))
            if not piece:
                break
            if self.at:
                del self.buffer[: self.at]
                self.at = 0
            self.buffer += piece
        with memoryview(self.buffer) as view:
            return bytes(view[self.at : self.at + n])

    def read(self, n: int):
        out = self.peek(n)
        self.at += len(out)
        self.position += len(out)
        return out if self.file is None else memoryview(out)



# -- files: (packet number, time, link type, frame, cut short) -------------------------------------


def _frames(src: _Source, notes: list[str], number: int = 0, parts: list | None = None, alone: bool = False):
    """A capture's frames, numbered on from `number`. `parts` gets each file joined with cat's
    (pcap file's, pcapng section's) byte position and the packets before it; `alone`: the first
    file's frames alone."""
    head = bytes(src.peek(12))
    if not _starts_as_capture(head):
        raise DecodeError("not a packet capture (no pcap or pcapng header)")
    while True:  # (a file of the other format joined after one: read on with its reader)
        reader = _pcap_frames if head[:4] in PCAP_MAGICS else _pcapng_frames
        number = yield from reader(src, notes, number, parts, alone)
        if number is None or alone:
            return
        head = bytes(src.peek(12))
        notes.append(f"a {'pcap' if head[:4] in PCAP_MAGICS else 'pcapng'} file's header at byte {src.position} "
                     "(files joined with cat, not mergecap): read on with its settings")


def _pcap_frames(src: _Source, notes: list[str], number: int = 0, parts: list | None = None, alone: bool = False):
    """A pcap file's frames, and any pcap file's joined after it (not `alone`); the packets' count
    where a pcapng file follows, else None. (From memory, frames are views: a big capture is not
    copied packet by packet.)"""
    while True:  # (a file, and any other one joined after it)
        if parts is not None:
            parts.append((src.position, number))
        order, unit, heads = PCAP_MAGICS[bytes(src.peek(4))]
        header = src.peek(24)
        if len(header) < 24:
            if number:
                notes.append(f"the file ends inside the header of another pcap file joined to it (byte {src.position})")
                return
            raise DecodeError("a pcap file cut short in its header")
        link = struct.unpack_from(order + "I", header, 20)[0] & 0x0FFFFFFF  # (the top bits: an FCS flag)
        most = max(min(struct.unpack_from(order + "I", header, 16)[0], _MAX_ORIGINAL), _MAX_SNAPLEN)
        head = _record_header(src.peek, order, unit, heads)
        src.read(24)
        while True:
            following = src.peek(12)
            if bytes(following[:4]) in _FILE_MAGICS and _another_pcapng(following):
                return number
            if bytes(following[:4]) in _FILE_MAGICS and _another_pcap(following):
                if alone:
                    return None
                # (files joined with cat: each has its header, its byte order, time unit and link its own;
                # read as a record, the header was a packet of none, and the next its length out of a time)
                notes.append(f"another pcap file's header at byte {src.position} (files joined with cat, not "
                             "mergecap): read on with its settings")
                break
            record = src.read(head)
            if len(record) < head:
                if record:
                    notes.append(f"the file ends inside the header of packet {number + 1}")
                return
            sec, frac, caplen, origlen = struct.unpack_from(order + "IIII", record, 0)
            number += 1
            if caplen > most:  # (not read: a file read in pieces would wait for gigabytes, and hold them)
                notes.append(f"packet {number}: its record says {caplen} bytes were captured, more than the file's "
                             f"packets can have ({most}): the file is damaged there (byte {src.position - head}), "
                             "read no further")
                return
            frame = src.read(caplen)
            if len(frame) < caplen:
                notes.append(f"packet {number}: the file ends inside it")
                return
            yield number, sec + frac * unit, link, frame, caplen < origlen


_FILE_MAGICS = frozenset((*PCAP_MAGICS, PCAPNG_MAGIC))


def _another_pcapng(head) -> bool:
    """Whether a record's or a block's place holds a pcapng file's section header (for a record,
    its time would be in 1975 and its length 440 MB or so)."""
    return bytes(head[:4]) == PCAPNG_MAGIC and bytes(head[8:12]) in _PCAPNG_BYTE_ORDERS


def _another_pcap(head) -> bool:
    """Whether a record's place holds a pcap file's header: a magic and version 2.x (a record's
    time there would be in 2055 or later)."""
    magic = bytes(head[:4])
    if magic not in PCAP_MAGICS or len(head) < 8:
        return False
    return struct.unpack_from(PCAP_MAGICS[magic][0] + "H", head, 4)[0] == 2


def _record_header(peek, order: str, unit: float, heads: tuple[int, ...]) -> int:
    """The size of the file's record headers, of those its magic may have: the first whose first
    records make sense (a fraction of a second under a second, a length captured no longer than
    the snapshot length nor the packet, one on the wire under 128 MiB, the record within the
    file), else the one with the fewest faults (the usual one when tied). `peek(n)`: the file's
    first n bytes (fewer if it is shorter)."""
    snaplen = struct.unpack_from(order + "I", peek(24), 16)[0]
    best, fewest = heads[0], None
    for head in heads:
        faults, pos = 0, 24
        for _ in range(_RECORDS_TRIED):
            data = peek(pos + head)
            if pos + head > len(data):
                faults += pos != len(data)  # (the file ends inside a header: a fault; at one, none)
                break
            _, frac, caplen, origlen = struct.unpack_from(order + "IIII", data, pos)
            faults += ((frac >= round(1 / unit)) + (caplen > max(snaplen, _MAX_SNAPLEN)) + (origlen > _MAX_ORIGINAL)
                       + (caplen > origlen))
            if faults:
                break
            if pos + head + caplen > len(peek(pos + head + caplen)):
                faults += 1
                break
            pos += head + caplen
        if not faults:
            return head
        if fewest is None or faults < fewest:
            best, fewest = head, faults
    return best


def _pcapng_frames(src: _Source, notes: list[str], number: int = 0, parts: list | None = None, alone: bool = False):
    """A pcapng file's frames (its first section's alone where `alone`); the packets' count where a
    pcap file follows, else None."""
    order = "<"
    interfaces: list[tuple[int, float, int, int]] = []  # (link type, seconds per time unit, snapshot length,
    #                                                       seconds added to its times)
    sections = 0
    while len(head := src.peek(12)) == 12:
        if _another_pcap(head):
            return number
        if head[:4] == PCAPNG_MAGIC:  # a section: its own byte order and interfaces
            sections += 1
            if alone and sections > 1:
                return None
            if parts is not None:
                parts.append((src.position, number))
            order = _PCAPNG_BYTE_ORDERS.get(bytes(head[8:12]), ">")
            interfaces = []
        kind, length = struct.unpack_from(order + "II", head, 0)
        pos = src.position
        if length < 12 or length % 4 or length > _MAX_BLOCK:  # (not read: a file read in pieces would wait
            #                                                     for gigabytes, and hold them)
            notes.append(f"the block at byte {pos} says it is {length} bytes long, which no block is: the file is "
                         "damaged there, read no further")
            return
        block = src.read(length)
        if len(block) < length:
            notes.append(f"the file ends inside a block (byte {pos}, {length} bytes long): cut short")
            return
        closing = struct.unpack_from(order + "I", block, length - 4)[0]
        if closing != length:
            # (as Wireshark stops there: where the next block begins, and whether this one's bytes are its
            # own, cannot be known; a guess at the next block could read a packet's bytes as blocks)
            notes.append(f"the block at byte {pos} says it is {length} bytes long at its start and {closing} at "
                         "its end: the file is damaged there, read no further")
            return
        body = block[8 : length - 4]
        if kind == 1 and len(body) >= 8:  # interface description
            link, _, snaplen = struct.unpack_from(order + "HHI", body, 0)
            unit, offset = _clock(body[8:], order)
            interfaces.append((link, unit, snaplen, offset))
        elif kind in (6, 2) and len(body) >= 20:  # enhanced packet, obsolete packet
            if kind == 6:
                iface, high, low, caplen, origlen = struct.unpack_from(order + "IIIII", body, 0)
            else:
                iface, _, high, low, caplen, origlen = struct.unpack_from(order + "HHIIII", body, 0)
            number += 1
            if iface >= len(interfaces) or 20 + caplen > len(body):
                notes.append(f"packet {number}: an unknown interface or a broken length, skipped")
                continue
            link, unit, _, offset = interfaces[iface]
            yield number, ((high << 32) | low) * unit + offset, link, body[20 : 20 + caplen], caplen < origlen
        elif kind in _RECORDS:  # (no packet, but a frame of Wireshark's, numbered as it numbers them)
            number += 1
        elif kind == 3 and len(body) >= 4:  # simple packet: interface 0, no time
            number += 1
            if not interfaces:  # (no link type to read it with)
                notes.append(f"packet {number}: a simple packet before any interface description, skipped")
                continue
            origlen = struct.unpack_from(order + "I", body, 0)[0]
            link, _, snaplen, _ = interfaces[0]
            caplen = min(origlen, len(body) - 4, snaplen or origlen)
            yield number, None, link, body[4 : 4 + caplen], caplen < origlen
    if len(head):
        notes.append(f"the file ends inside a block (byte {src.position}, its first {len(head)} bytes): cut short")


# pcapng blocks that are no packets but records Wireshark shows as frames among them, so that a
# packet's number is its frame number: a systemd journal entry, a Sysdig event (of its four kinds,
# with flags or not), a custom block (Wireshark 4 on). Name resolution, interface statistics and
# decryption secrets blocks are none.
_RECORDS = frozenset((0x9, 0x204, 0x208, 0x216, 0x217, 0x221, 0x222, 0xBAD, 0x40000BAD))


def _clock(options: bytes, order: str) -> tuple[float, int]:
    """An interface's time unit in seconds (its if_tsresol option, default microseconds) and the
    seconds its if_tsoffset option says to add to each of its times (they are then counted from
    that moment, not from 1970)."""
    unit, offset, pos = 1e-6, 0, 0
    while pos + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, pos)
        if code == 0:
            break
        if code == 9 and length >= 1 and pos + 4 < len(options):
            value = options[pos + 4]
            unit = 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0 ** -value
        elif code == 14 and length == 8 and pos + 12 <= len(options):
            offset = struct.unpack_from(order + "q", options, pos + 4)[0]
        pos += 4 + (length + 3) // 4 * 4
    return unit, offset


def _time(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


# -- links and IP: (source, destination, seq, flags, payload) ---------------------------------------


_ETHERNET, _RAW, _NULL, _LOOP, _SLL, _SLL2, _IPV4, _IPV6 = 1, 101, 0, 108, 113, 276, 228, 229
_PPP, _PPP_HDLC, _C_HDLC = 9, 50, 104  # (a serial link's, or a router's WAN side: PPP, Cisco HDLC)
_RAW_ALIASES = (12, 14)  # raw IP on some systems' own link numbers
_LINKS = frozenset((_ETHERNET, _RAW, _NULL, _LOOP, _SLL, _SLL2, _IPV4, _IPV6, _PPP, _PPP_HDLC, _C_HDLC,
                    *_RAW_ALIASES))
_SYN, _ACK, _FIN, _RST = 0x02, 0x10, 0x01, 0x04
_TCP, _HOP_BY_HOP, _ROUTING, _FRAGMENT, _DESTINATION = 6, 0, 43, 44, 60
_AH = 51  # IPsec's Authentication Header (RFC 4302: data signed, not encrypted), read past as an extension header

# Bounds on what a capture's fragments may hold (a flood of fragments that never complete must
# not take the memory): fragments of one packet (64 KiB in 576-byte packets takes 120), packets
# waiting for fragments at once, seconds a receiver waits for them (RFC 8200; Linux: 30 for IPv4),
# and IPv6 extension headers in one packet (a real one has two or three)
MAX_FRAGMENTS, MAX_PENDING, FRAGMENT_WAIT, MAX_EXTENSION_HEADERS = 128, 1024, 60.0, 16
_TWICE = 1.0  # seconds within which a fragment of a packet put together already is the same one captured again

_INCOMPLETE = "fragmented IP packet(s) not put back together: fragments of them were not captured, skipped"
_OVERLAPPING = ("fragmented IP packet(s) with overlapping or inconsistent fragments, discarded (as a receiver "
                "discards them: which bytes it would have taken cannot be known)")
_TOO_LONG = "fragmented IP packet(s) with a fragment reaching past 65,535 bytes, discarded"
_TOO_MANY_FRAGMENTS = f"fragmented IP packet(s) in more than {MAX_FRAGMENTS} fragments, discarded"
_TOO_MANY_PENDING = (f"fragmented IP packet(s) dropped unfinished: more than {MAX_PENDING} were waiting for "
                     "fragments at once")
_BAD_EXTENSIONS = "IPv6 packet(s) whose extension headers are out of place, repeated or cut short, skipped"
_BAD_AH = "IPv4 packet(s) whose Authentication Header (IPsec's AH) is cut short, skipped"
_TOO_MANY_EXTENSIONS = f"IPv6 packet(s) with more than {MAX_EXTENSION_HEADERS} extension headers, skipped"
# Tunnels whose packets are unwrapped, each inner packet read as if captured inside the tunnel (its
# connection known by the inner addresses, and its overlay network: see _overlay): IP in IP (IPv4 or
# IPv6 in IPv4 or IPv6), GRE (IPv4, IPv6, MPLS, PPP, Ethernet bridged, ERSPAN's mirrored frames), PPTP's
# GRE version 1 and over UDP VXLAN (IANA's port, Linux's and flannel's) and Geneve; on a link, or in a
# tunnel's Ethernet frame, MPLS labels, a PPPoE session's header, 802.1ah's and MACsec's are read past as
# a tunnel's. A capture on a Kubernetes node's, a VPN gateway's or a provider's core link has its
# HTTP in them alone. Tunnels in tunnels are followed MAX_TUNNEL_DEPTH deep (a hostile capture's thousands of
# layers are not), each layer's lengths checked: one that cannot be read is counted and said.
_UDP, _IPIP, _IPV6_IN, _GRE = 17, 4, 41, 47
_VXLAN_PORTS, _GENEVE_PORT = frozenset((4789, 8472)), 6081
_TUNNEL_PORTS = _VXLAN_PORTS | {_GENEVE_PORT}
_CARRIED = frozenset((_TCP, _IPIP, _IPV6_IN, _GRE))  # (IPv4 protocols whose fragments are put together)
MAX_TUNNEL_DEPTH = 8
_ETHER_IPV4, _ETHER_IPV6, _ETHER_BRIDGED, _ERSPAN, _ERSPAN3 = 0x0800, 0x86DD, 0x6558, 0x88BE, 0x22EB
_ETHER_MPLS, _ETHER_PPP = (0x8847, 0x8848), 0x880B
_MPLS_TYPES = (b"\x88\x47", b"\x88\x48")
_TOO_DEEP = f"packet(s) in tunnels nested more than {MAX_TUNNEL_DEPTH} deep, skipped"


def _unwrapped(protocol: int, payload) -> tuple[str | None, object, str | None]:
    """A tunnel's packet opened: (its kind, the IP packet inside or None (no IP: an ARP bridged, a
    control packet), why it cannot be read or None); (None, None, None): no tunnel's."""
    if protocol in (_IPIP, _IPV6_IN):
        return ("IPv4 in IP" if protocol == _IPIP else "IPv6 in IP"), payload, None
    if protocol == _GRE:
        return _gre(payload)
    if protocol != _UDP or len(payload) < 8:
        return None, None, None
    port, length = struct.unpack_from("!HH", payload, 2)
    if port not in _TUNNEL_PORTS:
        return None, None, None
    kind = "VXLAN" if port in _VXLAN_PORTS else "Geneve"
    if length < 8 and length != 0:  # (0: an IPv6 jumbogram's, as long as its packet)
        return kind, None, f"a UDP length of {length} bytes, shorter than its header"
    data = payload[8 : length or len(payload)]
    if kind == "VXLAN":
        if len(data) < 8:
            return kind, None, "its header cut short"
        if not data[0] & 0x08:  # (no VNI: a receiver's tunnel end drops it)
            return kind, None, "its header without the flag of a VXLAN network identifier"
        return _in_ethernet(kind, data[8:])
    if len(data) < 8:
        return kind, None, "its header cut short"
    if data[0] >> 6:
        return kind, None, "a Geneve version other than 0"
    end = 8 + (data[0] & 0x3F) * 4  # (past its options)
    if end > len(data):
        return kind, None, "its options reaching past the packet"
    if data[1] & 0x80:  # (a control packet: no traffic of its own)
        return kind, None, None
    return _by_type(kind, int.from_bytes(data[2:4], "big"), data[end:])


def _tunnels_udp(fragment, offset: int) -> bool:
    """Whether a fragment of a UDP packet may be of a tunnel's: its port says so in the first one
    alone (the others' packets are put together, as a tunnel's receiving end does, until it comes)."""
    return bool(offset) or _unwrapped(_UDP, fragment)[0] is not None


def _overlay(kind: str, payload) -> bytes:
    """The overlay network a tunnel's packet is in, as part of its connection's key: VXLAN's and
    Geneve's network identifier (VNI), NVGRE's virtual subnet (VSID: GRE's key, bridging
    Ethernet), GRE's key (RFC 2890: one tunnel's, a VRF's or a tenant's, of several between the
    same two routers), the VLAN an ERSPAN session's mirrored frame is in (see _erspan_vlan), which
    keep apart the tenants whose addresses, and even whole connections' addresses and ports, are
    the same, each with the VLAN its Ethernet frame's tags put it in (see _vlan); a keyless gretap's
    VLAN alone; b"" for other tunnels (their packets are the inner addresses' alone: an MPLS label
    and a PPTP call ID are each direction's own, so that the two halves of one connection differ
    in them). Its text ends with a NUL, which no text has (see _Connection.end)."""
    # (and the VLAN its bridged Ethernet frame's tags put it in, as a captured frame's: see _vlan)
    if kind == "GRE" and len(payload) >= 4:
        flags, protocol = struct.unpack_from("!HH", payload, 0)
        at = 4 + 4 * bool(flags & 0x8000)  # (the key, after a checksum)
        data = payload[at + 4 * (bool(flags & 0x2000) + bool(flags & 0x1000)) :]
        frame = data if protocol == _ETHER_BRIDGED else _pseudowire_frame(data) if protocol in _ETHER_MPLS else None
        inner = _vlan(_ETHERNET, frame, pseudowire=False) if frame is not None else b""
        if flags & 0x2000 and not flags & 0x7 and len(payload) >= 8:
            if protocol == _ETHER_BRIDGED:
                return f"NVGRE network {int.from_bytes(payload[at : at + 3], 'big')}\0".encode() + inner
            # (a tunnel's key is the same both ways, as Linux's `key` and Cisco's `tunnel key` set it; one
            # with an ikey and okey apart is paired: see _Connections.gre_keyed)
            return f"GRE key {int.from_bytes(payload[at : at + 4], 'big')}\0".encode() + inner
        return inner if not flags & 0x7 else b""
    if kind == "ERSPAN":
        return _erspan_vlan(payload)
    if kind not in ("VXLAN", "Geneve"):
        return b""
    network = f"{kind} network {int.from_bytes(payload[12:15], 'big')}\0".encode()
    data = payload[8 : struct.unpack_from("!H", payload, 4)[0] or len(payload)]
    if kind == "VXLAN":
        return network + _vlan(_ETHERNET, data[8:])
    if int.from_bytes(data[2:4], "big") == _ETHER_BRIDGED:
        return network + _vlan(_ETHERNET, data[8 + (data[0] & 0x3F) * 4 :])
    return network


def _erspan_vlan(payload) -> bytes:
    """The VLAN of an ERSPAN packet's mirrored frame (a switch mirroring a trunk sends its frames'
    tags), as _vlan names a captured frame's: its tags, or where the frame's tag was taken off
    into a type II header (its encapsulation type 802.1Q or ISL), the header's VLAN; a type III
    header's, which says no encapsulation, where the frame has no tag."""
    flags, protocol = struct.unpack_from("!HH", payload, 0)
    start = 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))
    ids = []
    if protocol == _ERSPAN and flags & 0x1000:  # (type II: an 8-byte header)
        header = payload[start : start + 8]
        if len(header) == 8 and (header[2] >> 3) & 0x3 in (1, 2):
            ids.append(int.from_bytes(header[0:2], "big") & 0xFFF)
        start += 8
    elif protocol == _ERSPAN3:  # (type III: 12 bytes, and 8 more where its O flag says)
        header = payload[start : start + 12]
        start += 20 if len(header) == 12 and header[11] & 1 else 12
        # (its VLAN the frame's: where the frame has no tag of its own, the switch took it off)
        if len(header) == 12 and not _vlan(_ETHERNET, payload[start:]):
            ids.append(int.from_bytes(header[0:2], "big") & 0xFFF)
    return _vlan(_ETHERNET, payload[start:], ids)


def _vlan(link: int, frame, ids: list[int] | None = None, pseudowire: bool = True) -> bytes:
    """The VLAN a frame's tags put it in (stacked tags: each one's ID, the outer first), as part
    of its connection's key (see _overlay): two tenants' or sites' connections with the same
    addresses and ports on a trunk are kept apart. A packet routed from one VLAN to another on
    the same trunk, or captured on a VLAN's interface and again tagged on its parent's (`tcpdump
    -i any`), is its connection's twin (see _Twins), read once. VLAN 0 (a priority tag alone) is
    none. b"": no tag. `ids`: those known before the frame's (an ERSPAN header's). The tags of an
    Ethernet pseudowire's frame under its MPLS labels follow the frame's own (a customer's VLANs
    carried over a provider's core), one pseudowire deep (`pseudowire`)."""
    ids = ids or []
    if link == _ETHERNET:
        pos = 12
    elif link == _SLL:
        pos = 14
    elif link == _SLL2 and frame[0:2] in _VLAN_TAGS and len(frame) >= 22:
        ids, pos = [int.from_bytes(frame[20:22], "big") & 0xFFF], 22
    else:
        return b""
    while frame[pos : pos + 2] in _VLAN_TAGS and len(frame) >= pos + 4:
        ids.append(int.from_bytes(frame[pos + 2 : pos + 4], "big") & 0xFFF)
        pos += 4
    inner = _pseudowire_frame(frame[pos + 2 :]) if pseudowire and frame[pos : pos + 2] in _MPLS_TYPES else None
    if inner is not None:
        return _vlan(_ETHERNET, inner, ids, pseudowire=False)
    ids = [str(i) for i in ids if i]
    return f"VLAN {'.'.join(ids)}\0".encode() if ids else b""


def _pseudowire_frame(data):
    """The Ethernet frame of an MPLS pseudowire with its control word (see _mpls), or None."""
    payload, _ = _below_labels(data)
    return payload[4:] if payload is not None and len(payload) >= 4 + 14 and payload[0] >> 4 == 0 else None


def _gre(payload) -> tuple[str, object, str | None]:
    """A GRE packet opened (RFC 2784, its key and sequence number of RFC 2890; ERSPAN's types I, II
    and III): see _unwrapped."""
    if len(payload) < 4:
        return "GRE", None, "its header cut short"
    flags, protocol = struct.unpack_from("!HH", payload, 0)
    if flags & 0x7 == 1:
        return _pptp(flags, protocol, payload)
    if flags & 0x7:
        return "GRE", None, "a GRE version other than 0 and 1 (PPTP's)"
    if flags & 0x4000:
        return "GRE", None, "RFC 1701's source routing"
    start = 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))  # checksum, key, sequence
    if start > len(payload):
        return "GRE", None, "its header cut short"
    data = payload[start:]
    if protocol == _ERSPAN and not flags & 0x1000:  # type I: the mirrored frame at once
        return _in_ethernet("ERSPAN", data)
    if protocol == _ERSPAN:  # type II: an 8-byte header
        if len(data) < 8 or data[0] >> 4 != 1:
            return "ERSPAN", None, "its type II header cut short or of another version"
        return _in_ethernet("ERSPAN", data[8:])
    if protocol == _ERSPAN3:  # type III: 12 bytes, and 8 more where its O flag says
        if len(data) < 12 or data[0] >> 4 != 2:
            return "ERSPAN", None, "its type III header cut short or of another version"
        if (data[10] >> 2) & 0x1F:  # (its frame type: 0 is Ethernet)
            return "ERSPAN", None, "a mirrored frame other than Ethernet"
        end = 20 if data[11] & 1 else 12
        if end > len(data):
            return "ERSPAN", None, "its type III header cut short"
        return _in_ethernet("ERSPAN", data[end:])
    return _by_type("GRE", protocol, data)


def _by_type(kind: str, protocol: int, data) -> tuple[str, object, str | None]:
    """What a tunnel whose header names its payload's protocol type (an EtherType) carries."""
    if protocol in (_ETHER_IPV4, _ETHER_IPV6):
        return kind, data, None
    if protocol == _ETHER_BRIDGED:
        return _in_ethernet(kind, data)
    if protocol in _ETHER_MPLS:
        return _mpls(kind, data)
    if protocol == _ETHER_PPP:
        return _ppp(kind, data)
    return kind, None, "a payload other than IP, Ethernet, MPLS or PPP (NSH, say)"


def _in_ethernet(kind: str, frame, outer: bool = True) -> tuple[str, object, str | None]:
    """The IP packet in a tunnel's Ethernet frame (None: not IP, an ARP say), past its VLAN tags,
    MPLS labels... as _past_tags reads them (not `outer`: in an MPLS pseudowire)."""
    if len(frame) < 14:
        return kind, None, "its Ethernet frame cut short"
    return kind, *_past_tags(frame, 12, outer)[1:]


def _pptp(flags: int, protocol: int, payload) -> tuple[str, object, str | None]:
    """PPTP's GRE, version 1 (RFC 2637): its key the payload's length and the call's ID, then a
    sequence number (flag S) and an acknowledgment number (flag A), and a PPP frame."""
    if not flags & 0x2000 or protocol != _ETHER_PPP:
        return "PPTP", None, "a GRE version 1 header without PPTP's key or PPP"
    start = 8 + 4 * bool(flags & 0x1000) + 4 * bool(flags & 0x0080)
    if start > len(payload):
        return "PPTP", None, "its header cut short"
    length = struct.unpack_from("!H", payload, 4)[0]
    if not length:  # (an acknowledgment alone)
        return "PPTP", None, None
    if start + length > len(payload):
        return "PPTP", None, "its PPP frame cut short"
    return _ppp("PPTP", payload[start : start + length])


def _ppp(kind: str, frame) -> tuple[str, object, str | None]:
    """The IP packet in a PPP frame (RFC 1661; its address and control bytes and a protocol
    compressed to one byte, as a link may agree to send them: RFC 1662, 1661's PFC)."""
    if frame[:2] == b"\xff\x03":
        frame = frame[2:]
    if not len(frame) or (not frame[0] & 1 and len(frame) < 2):
        return kind, None, "its PPP frame cut short"
    protocol, frame = (frame[0], frame[1:]) if frame[0] & 1 else (int.from_bytes(frame[:2], "big"), frame[2:])
    if protocol in (0x21, 0x57):  # IPv4, IPv6
        return kind, frame, None
    if protocol in (0xFD, 0xFB):
        return kind, None, "a PPP payload compressed or encrypted (MPPE), which cannot be read"
    if protocol >= 0x8000:  # (the link's own control packets, LCP, IPCP: no traffic)
        return kind, None, None
    return kind, None, f"a PPP payload of protocol 0x{protocol:04x}, not IP"


MAX_LABELS = 16  # MPLS labels in one stack (a real one has two or three)


def _below_labels(data) -> tuple[object, str | None]:
    """(What an MPLS label stack carries, None) or (None, why it cannot be found)."""
    for pos in range(0, 4 * MAX_LABELS, 4):
        if pos + 4 > len(data):
            return None, "its MPLS label stack cut short"
        if data[pos + 2] & 1:  # (the bottom of the stack)
            return data[pos + 4 :], None
    return None, f"more than {MAX_LABELS} MPLS labels"


def _mpls(kind: str, data, ethernet: bool = True) -> tuple[str, object, str | None]:
    """The payload of an MPLS label stack (RFC 3032), which does not name it: IP told by its
    version, as routers and Wireshark tell it; an Ethernet pseudowire's frame (RFC 4448) after its
    control word, whose first 4 bits are 0 (RFC 4385); an associated channel's (OAM, 1) none. An
    Ethernet pseudowire sent without a control word cannot be told from IP: not read."""
    payload, problem = _below_labels(data)
    if payload is None:
        return kind, None, problem
    first = payload[0] >> 4 if len(payload) else None
    if first in (4, 6):
        return kind, payload, None
    if first == 0 and ethernet:
        return _in_ethernet(kind, payload[4:], outer=False)
    if first == 1:
        return kind, None, None
    if first is None:
        return kind, None, "its MPLS payload cut short"
    return kind, None, "an MPLS payload other than IP or an Ethernet pseudowire with its control word"


class _Datagram:
    """A fragmented IP packet, until all its fragments have come."""

    __slots__ = ("failed", "first", "length", "pieces", "protocol", "size", "time")

    def __init__(self, number: int, when: float | None):
        self.pieces: list[tuple[int, bytes]] = []  # (offset, data)
        self.size = 0  # bytes held
        self.length: int | None = None  # its payload's, once its last fragment came
        self.protocol: int | None = None  # (IPv6: the header after the fragment header, from the first fragment)
        self.first = number  # the packet of its first fragment
        self.time = when
        self.failed = False  # discarded: its later fragments are too


class _IP:
    """IP packets to TCP segments: fragments put back together, IPv6 extension headers walked.
    What cannot be read is counted by kind and said once for each (a flood of broken packets
    makes a few notes, not one for each)."""

    def __init__(self):
        self.pending: dict[tuple, _Datagram] = {}  # (version, addresses, identification...) → its fragments
        self.done: dict[tuple, tuple[float | None, int]] = {}  # the latest put together: (time, length)
        self.problems: dict[str, list[int]] = {}  # what → [how many, the first packet]
        self.cut_short: list[int] = []  # [how many, the first packet]: TCP packets cut by the snapshot length
        self.unwrapped: dict[str, list[int]] = {}  # a kind of tunnel → [packets unwrapped, the first]
        self.gre_ends = b""  # the packet's innermost GRE tunnel's ends (its addresses, in byte order), b"" none

    def problem(self, what: str, number: int) -> None:
        self.problems.setdefault(what, [0, number])[0] += 1

    def cut(self, number: int) -> None:
        self.cut_short = [self.cut_short[0] + 1, self.cut_short[1]] if self.cut_short else [1, number]

    def notes(self, packet=str) -> list[str]:
        """`packet`: a packet's number as said (several files: its file's too)."""
        for datagram in self.pending.values():
            if not datagram.failed:
                self.problem(_INCOMPLETE, datagram.first)
        self.pending.clear()
        out = [f"{count} packet(s) unwrapped from {kind} tunnels, read as if captured inside them (the first: "
               f"packet {packet(first)})" for kind, (count, first) in self.unwrapped.items()]
        if self.cut_short:  # (said once: with tcpdump -s 96 it is every packet with data)
            out.append(f"{self.cut_short[0]} packet(s) cut short by the capture's snapshot length (the first: "
                       f"packet {packet(self.cut_short[1])}): bytes are missing (tcpdump -s 0 keeps whole packets)")
        return out + [f"{count} {what} (the first: packet {packet(first)})"
                      for what, (count, first) in self.problems.items()]

    def segment(self, link: int, frame: bytes, number: int, when: float | None, cut: bool):
        """(source, destination, seq, flags, payload) of a TCP segment, or None (not TCP, or a
        fragment of a packet not complete yet)."""
        kind, ip, problem = _ip_packet(link, frame)
        network = _vlan(link, frame)
        self.gre_ends = b""
        if kind is not None:  # (MPLS labels, a PPPoE session: read past as a tunnel's header)
            return self._inside(kind, ip, problem, number, when, cut, (), network)
        if ip is None:
            if link not in _LINKS:  # (else a capture of Wi-Fi frames, say, read as nothing at all without a word)
                self.problem(f"packet(s) of link type {link}, which is not read (Ethernet, Linux cooked, PPP, "
                             "Cisco HDLC, raw IP and BSD loopback are: capture on such an interface), skipped", number)
            return None
        return self._packet(ip, number, when, cut, network=network)

    def _packet(self, ip, number: int, when: float | None, cut: bool, tunnels: tuple[str, ...] = (),
                network: bytes = b""):
        """`segment` of an IP packet, captured as it is or inside the `tunnels` (outermost first);
        `network`: the overlay networks it is in (see _overlay), b"" none."""
        version = ip[0] >> 4 if ip else 0
        if version == 4 and len(ip) >= 20:
            header = (ip[0] & 0x0F) * 4
            total, ident, flags_offset = struct.unpack_from("!HHH", ip, 2)
            protocol = ip[9]
            if header < 20:
                return None
            if protocol not in _CARRIED and protocol not in (_UDP, _AH):
                return None
            end = total if header <= total <= len(ip) else len(ip)  # (less Ethernet padding)
            cut = cut or total > len(ip)
            lost = max(total - len(ip), 0)  # (bytes its IP header says it has past those captured)
            src, dst = bytes(ip[12:16]), bytes(ip[16:20])
            segment = ip[header:end]
            if flags_offset & 0x3FFF:  # more fragments, or not the first one
                # (the protocol too, as RFC 791 has it: an IP in IP packet's and the one inside may have
                # the same addresses and identification, each fragmented)
                whole = self.fragment((4, src + dst, ident, protocol, network), (flags_offset & 0x1FFF) * 8,
                                      flags_offset & 0x2000, segment, number, when, cut, 65535 - header,
                                      wanted=protocol != _UDP or _tunnels_udp(segment, flags_offset & 0x1FFF))
                if whole is None:
                    return None
                segment, lost = memoryview(whole[0]), 0
            if protocol == _AH:  # (its length in 4-byte words, less 2)
                if len(segment) < 8 or (segment[1] + 2) * 4 > len(segment):
                    if cut:
                        self.cut(number)
                    else:
                        self.problem(_BAD_AH, number)
                    return None
                protocol, segment = segment[0], segment[(segment[1] + 2) * 4 :]
        elif version == 6 and len(ip) >= 40:
            length = struct.unpack_from("!H", ip, 4)[0]
            # 0: a jumbogram, as Linux's BIG TCP super-segments are captured (its length is in a
            # hop-by-hop option; the frame ends where the packet does)
            end = min(len(ip), 40 + length) if length else len(ip)
            cut = cut or 40 + length > len(ip)
            lost = max(40 + length - len(ip), 0) if length else 0
            src, dst = bytes(ip[8:24]), bytes(ip[24:40])
            found = self.extensions(ip, ip[6], 40, end, number, fragmented=False)
            if found is None:
                return None
            nxt, pos = found
            if nxt == _FRAGMENT:
                following, offset_flags, ident = struct.unpack_from("!BxHI", ip, pos)
                offset, more = offset_flags & 0xFFF8, offset_flags & 1
                if offset or more:
                    if following not in (*_CARRIED, _UDP, _HOP_BY_HOP, _ROUTING, _FRAGMENT, _DESTINATION, _AH):
                        return None  # (another protocol's: not put together for nothing)
                    whole = self.fragment((6, src + dst, ident, network), offset, more, ip[pos + 8 : end], number,
                                          when, cut, 65535, following,
                                          wanted=following != _UDP or _tunnels_udp(ip[pos + 8 : end], offset))
                    if whole is None:
                        return None
                    ip, protocol = memoryview(whole[0]), whole[1]
                    pos, end, lost = 0, len(ip), 0
                else:  # an atomic fragment (RFC 6946): a whole packet, with a fragment header
                    protocol, pos = following, pos + 8
                found = self.extensions(ip, protocol, pos, end, number, fragmented=True)
                if found is None:
                    return None
                nxt, pos = found
            protocol, segment = nxt, ip[pos:end]
        else:
            if cut and version in (4, 6):  # (cut inside its IP header)
                self.cut(number)
            return None
        if protocol != _TCP:
            if protocol == _GRE:
                self.gre_ends = min(src, dst) + max(src, dst)
            return self._unwrap(protocol, segment, number, when, cut, tunnels, network)
        if len(segment) < 20:  # (cut inside its header, as `tcpdump -s 64` cuts an IPv6 packet on a VLAN: said)
            if cut:
                self.cut(number)
            else:
                self.problem("TCP segment(s) shorter than a TCP header, skipped", number)
            return None
        seq, _, offset_flags = struct.unpack_from("!IIH", segment, 4)
        if offset_flags >> 12 < 5:  # (a damaged packet, which TCP drops: its header's own bytes were read as data)
            self.problem("TCP segment(s) whose header length is under 20 bytes, skipped", number)
            return None
        if cut:
            self.cut(number)
        payload = segment[(offset_flags >> 12) * 4 :]
        # (each end as its address and port, packed: a connection's key, made into text only for one with data;
        # and the bytes of its payload cut by the snapshot length, which a FIN's place counts)
        return (src + segment[0:2], dst + segment[2:4], seq, offset_flags & 0x3F, payload, network,
                max(len(segment) + lost - (offset_flags >> 12) * 4, 0) - len(payload), self.gre_ends)

    def _unwrap(self, protocol: int, payload, number: int, when: float | None, cut: bool, tunnels: tuple[str, ...],
                network: bytes):
        """`segment` of the packet inside a tunnel's (see _unwrapped), or None."""
        kind, inner, problem = _unwrapped(protocol, payload)
        if kind is None:
            return None
        return self._inside(kind, inner, problem, number, when, cut, tunnels, network + _overlay(kind, payload))

    def _inside(self, kind: str, inner, problem: str | None, number: int, when: float | None, cut: bool,
                tunnels: tuple[str, ...], network: bytes):
        """`segment` of a tunnel's packet opened (see _unwrapped), or None."""
        # (a packet cut by the snapshot length ends inside a header: said as that, not as a broken header)
        if problem is not None:
            if cut and ("cut short" in problem or "past" in problem):
                self.cut(number)
            else:
                self.problem(f"{kind} packet(s) with {problem}, skipped", number)
            return None
        if inner is None:
            return None
        version = inner[0] >> 4 if len(inner) else 0
        if not (version == 4 and len(inner) >= 20 or version == 6 and len(inner) >= 40):
            if cut:
                self.cut(number)
            else:
                self.problem(f"{kind} packet(s) holding no IP packet whole, skipped", number)
            return None
        if len(tunnels) >= MAX_TUNNEL_DEPTH:
            self.problem(_TOO_DEEP, number)
            return None
        if kind not in tunnels:  # (a packet counted once for each kind of tunnel it is in)
            self.unwrapped.setdefault(kind, [0, number])[0] += 1
        return self._packet(inner, number, when, cut, (*tunnels, kind), network)

    def extensions(self, ip, nxt: int, pos: int, end: int, number: int, fragmented: bool) -> tuple[int, int] | None:
        """(the header that follows, where) past IPv6 extension headers: at a fragment header
        (`fragmented`: after one, where another is no packet's), or past the last."""
        for _ in range(MAX_EXTENSION_HEADERS + 1):
            if nxt not in (_HOP_BY_HOP, _ROUTING, _DESTINATION, _FRAGMENT, _AH):
                if pos > end:  # (the last one's length reaches past the packet)
                    self.problem(_BAD_EXTENSIONS, number)
                    return None
                return nxt, pos
            # (hop-by-hop options only right after the IPv6 header; one fragment header)
            if pos + 8 > end or (nxt == _HOP_BY_HOP and pos != 40) or (nxt == _FRAGMENT and fragmented):
                self.problem(_BAD_EXTENSIONS, number)
                return None
            if nxt == _FRAGMENT:
                return nxt, pos
            nxt, pos = ip[pos], pos + ((ip[pos + 1] + 2) * 4 if nxt == _AH else (ip[pos + 1] + 1) * 8)
        self.problem(_TOO_MANY_EXTENSIONS, number)
        return None

    def fragment(self, key: tuple, offset: int, more: int, data, number: int, when: float | None, cut: bool,
                 limit: int, protocol: int | None = None, wanted: bool = True) -> tuple[bytes, int | None] | None:
        """A fragment taken in: (the packet's payload, and for IPv6 the header it begins with) once
        all its fragments have come, else None. Not `wanted` (a first fragment of UDP that is no
        tunnel's): its packet is let go, nothing said."""
        done = self.done.get(key)
        if done is not None:
            # A fragment of a packet put together already, captured again (as a capture on all of
            # a router's or a container host's interfaces sees each packet twice, moments apart);
            # later, its identification is another packet's
            if (None in (when, done[0]) or abs(when - done[0]) <= _TWICE) and offset + len(data) <= done[1]:
                return None
            del self.done[key]
        datagram = self.pending.get(key)
        if datagram is not None and None not in (when, datagram.time) and abs(when - datagram.time) > FRAGMENT_WAIT:
            # (its other fragments never came, and a receiver has given up on it: this one is
            # another packet's, its identification used again)
            del self.pending[key]
            if not datagram.failed:
                self.problem(_INCOMPLETE, datagram.first)
            datagram = None
        if datagram is None:
            if len(self.pending) >= MAX_PENDING:  # (the oldest goes, as a receiver's memory limit drops it)
                oldest = self.pending.pop(next(iter(self.pending)))
                if not oldest.failed:
                    self.problem(_TOO_MANY_PENDING, oldest.first)
            datagram = self.pending[key] = _Datagram(number, when)
        if datagram.failed:
            return None
        if not wanted:
            datagram.failed, datagram.pieces = True, []
            return None
        if cut:  # (the snapshot length's note says its bytes are missing)
            self.cut(number)
            datagram.failed, datagram.pieces = True, []
            return None
        end = offset + len(data)
        # Each fragment but the last is a multiple of 8 bytes long, none reaches past the last's
        # end, none overlaps another (RFC 5722: a receiver discards the whole packet, since which
        # bytes win is up to each), except one captured twice: the first is kept.
        ragged = not data or (more and len(data) % 8)
        past_the_last = datagram.length is not None and end > datagram.length
        another_last = not more and (datagram.length not in (None, end)
                                     or any(o + len(d) > end for o, d in datagram.pieces))
        problem = _TOO_LONG if end > limit else _OVERLAPPING if ragged or past_the_last or another_last else None
        for o, d in datagram.pieces if problem is None else ():
            if o < end and offset < o + len(d):
                if o == offset and len(d) == len(data):
                    return None
                problem = _OVERLAPPING
                break
        if problem is None and len(datagram.pieces) >= MAX_FRAGMENTS:
            problem = _TOO_MANY_FRAGMENTS
        if problem:
            self.problem(problem, number)
            datagram.failed, datagram.pieces = True, []
            return None
        # (a view into the capture saves copying a fragment, but costs more than a copy of a few bytes)
        datagram.pieces.append((offset, data if len(data) > 128 else bytes(data)))
        datagram.size += len(data)
        if not more:
            datagram.length = end
        if offset == 0:
            datagram.protocol = protocol
        if datagram.size != datagram.length:
            return None
        del self.pending[key]
        self.done[key] = (when, datagram.length)
        if len(self.done) > MAX_PENDING:
            del self.done[next(iter(self.done))]
        return b"".join(d for _, d in sorted(datagram.pieces, key=itemgetter(0))), datagram.protocol


@functools.lru_cache(maxsize=4096)
def _address(packed: bytes) -> str:
    return str(IPv4Address(packed)) if len(packed) == 4 else f"[{IPv6Address(packed)}]"


_VLAN_TAGS = (b"\x81\x00", b"\x88\xa8", b"\x91\x00")
_LLC_SNAP = b"\xaa\xaa\x03\x00\x00\x00"  # (LLC: SNAP's SAPs, unnumbered; SNAP: the OUI of EtherTypes)


def _past_tags(frame: bytes, pos: int, outer: bool = True) -> tuple[str | None, object, str | None]:
    """The IP packet after the protocol type at `pos`, and the VLAN tags (stacked or not) it
    announces, each a tag's fields and the next type: (None, it or None (not IP), None); or after
    an MPLS label stack, a PPPoE session's header, 802.1ah's I-tag and customer's frame or an
    802.1AE SecTAG, as _unwrapped says a tunnel's ("MPLS", "PPPoE", "802.1ah", "MACsec"). Not
    `outer` (in the frame of an MPLS pseudowire, 802.1ah or MACsec), none of those three again:
    said (a hostile frame's thousands of them are not followed)."""
    while frame[pos : pos + 2] in _VLAN_TAGS:
        pos += 4
    if frame[pos + 2 : pos + 8] == _LLC_SNAP and int.from_bytes(frame[pos : pos + 2], "big") <= 1500:
        pos += 8  # (an 802.3 frame: its length where the type is, then LLC's and SNAP's headers and the type)
    return _of_type(frame[pos : pos + 2], frame[pos + 2 :], outer)


_NESTED = {b"\x88\x47": "MPLS", b"\x88\x48": "MPLS", b"\x88\xe7": "802.1ah", b"\x88\xe5": "MACsec"}


def _of_type(kind, payload, outer: bool = True) -> tuple[str | None, object, str | None]:
    """The IP packet in a link's `payload` of protocol type `kind` (2 bytes): see _past_tags."""
    if kind in (b"\x08\x00", b"\x86\xdd"):
        return None, payload, None
    if not outer and bytes(kind) in _NESTED:
        name = _NESTED[bytes(kind)]
        return name, None, f"{name} inside an MPLS pseudowire, 802.1ah or MACsec, not read"
    if kind in (b"\x88\x47", b"\x88\x48"):
        return _mpls("MPLS", payload)
    if kind == b"\x88\x64":  # (PPPoE's session stage: a version and type, a code, the session, the length)
        if len(payload) < 6:
            return "PPPoE", None, "its header cut short"
        length = struct.unpack_from("!H", payload, 4)[0]
        if 6 + length > len(payload):
            return "PPPoE", None, "its PPP frame cut short"
        return _ppp("PPPoE", payload[6 : 6 + length])
    if kind == b"\x88\xe7":  # (802.1ah provider backbone bridging, MAC in MAC: its I-tag, then the customer's frame)
        if len(payload) < 4 + 14:
            return "802.1ah", None, "its customer's frame cut short"
        return "802.1ah", *_past_tags(payload[4:], 12, outer=False)[1:]
    if kind == b"\x88\xe5":  # (802.1AE MACsec: its SecTAG, 8 bytes or 16 with its SCI, and its ICV after the data)
        if len(payload) < 6:
            return "MACsec", None, "its SecTAG cut short"
        if payload[0] & 0x0C:  # (E, C: the data encrypted, or changed)
            return "MACsec", None, "its data encrypted (802.1AE), which cannot be read"
        tag = 14 if payload[0] & 0x20 else 6  # (past the EtherType: the SecTAG's rest)
        if len(payload) < tag + 2:
            return "MACsec", None, "its SecTAG cut short"
        return "MACsec", *_of_type(payload[tag : tag + 2], payload[tag + 2 :], outer=False)[1:]
    return None, None, None


def _ip_packet(link: int, frame: bytes) -> tuple[str | None, object, str | None]:
    """A frame's IP packet, as _past_tags says it."""
    if link == _ETHERNET:
        return _past_tags(frame, 12)
    if link in (_RAW, _IPV4, _IPV6, *_RAW_ALIASES):
        return None, frame, None
    # Linux cooked: a VLAN tag libpcap put back where the kernel took it off (as it does on
    # Ethernet) follows the header, its protocol type 0x8100 (SLL2: its own first field, the rest
    # of the header between it and the tag)
    if link == _SLL:
        return _past_tags(frame, 14)
    if link == _SLL2:
        if frame[0:2] in _VLAN_TAGS:
            return _past_tags(frame, 22)
        return _of_type(frame[0:2], frame[20:]) if len(frame) >= 20 else (None, None, None)
    if link == _C_HDLC or (link == _PPP_HDLC and frame[:1] in (b"\x0f", b"\x8f")):
        # Cisco HDLC: its address (unicast, broadcast), control, and an EtherType (libpcap writes a
        # serial link's either kind as PPP_HDLC)
        return _of_type(frame[2:4], frame[4:]) if len(frame) >= 4 else (None, None, None)
    if link in (_PPP, _PPP_HDLC):
        kind, ip, problem = _ppp("PPP", frame)
        return (None, ip, None) if ip is not None else (kind, None, problem)
    if link in (_NULL, _LOOP):  # the address family, in the capturing host's byte order (LOOP: network)
        family = {struct.unpack("<I", frame[:4])[0], struct.unpack(">I", frame[:4])[0]} if len(frame) >= 4 else set()
        return None, frame[4:] if family & {2, 10, 24, 28, 30} else None, None
    return None, None, None


# -- TCP ---------------------------------------------------------------------------------------------


_SEQ_MASK, _HALF = 0xFFFFFFFF, 1 << 31
_DROPPED = object()


class _Direction:
    """What one end of a connection sent, made once it sends data."""

    __slots__ = ("differ", "fin", "floor", "gaps", "last", "segments", "start")

    def __init__(self, seq: int, start: int | None):
        self.segments: list[tuple[int, int, float | None, bytes]] = []  # (position, packet, time, data)
        self.last = seq  # the position of the latest segment
        self.start = start  # the position of its first byte, once its SYN is seen
        self.floor: int | None = None  # once read: the position its bytes read end at
        self.gaps: list[tuple[int, int]] | None = None  # once read: (position, end) of bytes not captured
        self.fin: int | None = None  # the position its FIN says its bytes end at (until read)
        self.differ: list[int] | None = None  # once read: [segments repeating bytes with others, the first's offset]

    def nearest(self, seq: int) -> int:
        """A sequence number as a position in the stream: the one nearest the latest segment's
        (sequence numbers wrap every 4 GiB; positions count on, so a stream may go past 2 GiB)."""
        step = (seq - self.last) & _SEQ_MASK
        return self.last + (step - (1 << 32) if step >= _HALF else step)

    def lost_end(self) -> bool:
        """Whether its FIN says it sent bytes after those read (or, not read yet, after its first
        sequence number): with no segment to read, bytes never captured."""
        return None not in (self.fin, self.start) and self.fin > (self.start if self.floor is None else self.floor)

    def read_already(self, position: int, length: int) -> bool:
        """Whether bytes at `position` were all there when this side was read (a repeat of them)."""
        if self.floor is None or self.gaps is None or self.start is None or position < self.start:
            return False  # (bytes before its first one read, as where it was joined mid-stream, were not read)
        end = position + length
        return end <= self.floor and not any(position < b and a < end for a, b in self.gaps)


class _Connection:
    """A TCP connection, kept small until data comes (a SYN scan, or a capture of many refused or
    idle connections, makes hundreds of thousands with none)."""

    __slots__ = ("asked", "client", "closed", "ended", "first", "held", "kept", "key", "late", "network",
                 "number", "read", "seen", "sides", "skipped", "start0", "start1", "twin")

    def __init__(self, number: int, key: bytes, client: int, network: bytes = b""):
        self.number = number
        # its overlay network (see _overlay), and both ends packed (address, port), in byte order:
        # either way, one key
        self.key = key
        self.network = network
        self.client = client  # which end is the client (0, 1): who sent the SYN, else the first sender
        self.start0 = self.start1 = None  # each end's first sequence number, from its SYN
        self.sides: list[_Direction | None] | None = None  # each end's data, once there is any
        self.closed = False
        self.ended = 0  # which ends have closed (bits 1, 2; 3: both, or a reset)
        self.first: float | None = None  # (capture time) its earliest packet's
        self.seen: float | None = None  # (capture time) its latest packet's: the latest time, not the last packet's
        self.held = 0  # bytes of data held
        self.kept = 0  # bytes kept back when it was last read (idle or busy: see BUSY_HELD)
        self.asked: tuple[str, ...] = ()  # once read idle or busy: its requests' methods not answered yet
        self.skipped: str | None = None  # once a part of it was skipped (TLS, no HTTP): why (the rest quiet)
        self.read: str | None = None  # once read: "closed" (a late segment is said), "idle" (read on)
        self.late = 0  # segments with bytes not read that came after it was read closed
        self.twin = False  # read as another's twin (see _Twins): its later parts, if any, are not read again

    def end(self, which: int) -> str:
        """An end as "address:port"."""
        ends = self.key[len(self.network) :]
        half = len(ends) // 2
        packed = ends[:half] if which == 0 else ends[half:]
        return f"{_address(packed[:-2])}:{int.from_bytes(packed[-2:], 'big')}"

    def name(self) -> str:
        inside = "".join(f" in {n}" for n in self.network.decode().split("\0") if n)
        return f"connection {self.number} ({self.end(self.client)} → {self.end(1 - self.client)}{inside})"


def _syn_again(conn: _Connection, which: int, seq: int) -> bool:
    """Whether a SYN is the one that opened `conn`, sent again (its sequence number the same): a
    TCP Fast Open client's, its data sent with the first, sends it again unanswered."""
    side = conn.sides[which] if conn.sides is not None else None
    start = side.start if side is not None else conn.start0 if which == 0 else conn.start1
    return start is not None and (seq + 1) & _SEQ_MASK == start & _SEQ_MASK


class _Connections:
    """The connections of a capture as its packets come, each read once it is done (see CLOSE_GRACE)."""

    def __init__(self, notes: list[tuple[int, list[str]]], grace: float, grace_bytes: int, idle: float,
                 busy_held: int = BUSY_HELD, kept_read: int = KEPT_READ):
        self.count = 0
        self.current: dict[bytes, _Connection] = {}  # open, the least recently active first
        self.closing: dict[bytes, tuple[_Connection, float | None]] = {}  # closed both ways: (it, when), in turn
        self.closing_bytes = 0
        self.done: dict[bytes, tuple[_Connection, float | None]] = {}  # read: (it, its latest packet's time)
        self.lately: list[_Connection] = []  # read closed, with late segments
        self.notes = notes
        self.grace, self.grace_bytes, self.idle = grace, grace_bytes, idle
        self.busy_held, self.kept_read = busy_held, kept_read
        self.now: float | None = None  # (the latest packet's time: back too, where the capture's times go back)
        self.latest: float | None = None  # the latest time of the capture so far
        self.back: list = []  # [times the capture's clock went back, the first packet, by how much]
        # A packet's time this far from the capture's is taken as the capture's only once the next
        # packet's is far the same way and goes on from it (see tick)
        self.jump = max(min(grace, idle), _STEP_BACK)
        # (time, packet, and once its connection is known: it and its latest time before) of a packet far
        # from the capture's time
        self.odd: tuple | None = None
        self.outliers: list = []  # [packets timed far from those around them, (the first's time, packet)]
        self.checked: float | None = None  # (capture time of the latest check for idle connections)
        self.due = False  # a connection may be done
        self.pending: list[_Connection] = []  # open ones whose ports a new connection took: to read
        self.inflated = [0]  # bytes inflated so far, over every connection
        self.where = None  # (several files read as one) packet number → (its file, its number there)
        self.twins = _Twins()
        # (connections in GRE tunnels: by their ends and networks but the keys, the one seen from one end
        # alone so far (its key, that end); and the key of each other half, its connection's key)
        self.one_way: dict[bytes, tuple[bytes, int]] = {}
        self.aliases: dict[bytes, bytes] = {}
        self.let_go: list[int] = []  # [connections read let go early (see KEPT_READ), the first's number]
        self.skipped: dict[str, list[int]] = {}  # a kind of connection skipped → [how many, the latest not said]

    def add(self, when, number, src: bytes, dst: bytes, seq: int, flags: int, payload, network: bytes = b"",
            uncaptured: int = 0, gre_ends: bytes = b"") -> None:
        """A TCP segment; `uncaptured`: bytes of its payload the snapshot length cut off; `gre_ends`:
        its GRE tunnel's ends (see gre_keyed)."""
        key, which = (network + src + dst, 0) if src <= dst else (network + dst + src, 1)
        if when is not None:
            self.tick(when, number)
        if b"GRE key " in network:
            key = self.gre_keyed(key, network, which, gre_ends)
        conn = self.current.pop(key, None)  # (put back last: the latest active)
        if conn is None:
            done = self.done.get(key)
            if done is not None:
                conn = self.reopened(done[0], which, seq, flags, payload, when)
                if conn is _DROPPED:
                    return
        elif flags & _SYN and not flags & _ACK and (conn.closed or conn.sides is not None) \
                and not _before(when, conn.first) and not _syn_again(conn, which, seq):
            self.retire(conn)  # (its ports taken by a new connection; a SYN from before its packets is its own)
            conn = None
        if conn is None:
            self.count += 1
            conn = _Connection(self.count, key, which, network)
        self.current[key] = conn
        if when is not None:
            if self.odd is not None and self.odd[1] == number:
                self.odd = (*self.odd, conn, conn.seen)
            conn.seen = when if conn.seen is None else max(when, conn.seen)
            conn.first = when if conn.first is None else min(when, conn.first)
        side = conn.sides[which] if conn.sides is not None else None
        if flags & _SYN:
            start = (seq + 1) & _SEQ_MASK
            if side is not None:
                side.start = side.nearest(start)
            elif which == 0:
                conn.start0 = start
            else:
                conn.start1 = start
        if flags & (_FIN | _RST):
            conn.closed = True
            ended = conn.ended
            conn.ended |= 3 if flags & _RST else 1 << which
            if conn.ended == 3 and ended != 3:
                self.closing[key] = (conn, conn.seen)  # (its grace from its latest packet: a FIN's time may be earlier)
                self.closing_bytes += conn.held
                self.due = True
        if payload:  # (data sent with a SYN, as TCP Fast Open does, follows the SYN's number)
            if flags & _SYN:
                seq = (seq + 1) & _SEQ_MASK
            if side is None:
                start = conn.start0 if which == 0 else conn.start1
                side = _Direction(seq if start is None else start, start)
                if conn.sides is None:
                    conn.sides = [None, None]
                conn.sides[which] = side
            side.last = side.nearest(seq)
            side.segments.append((side.last, number, when, payload))
            conn.held += len(payload)
            if conn.ended == 3:
                self.closing_bytes += len(payload)
                self.due = self.due or self.closing_bytes > self.grace_bytes
            elif conn.held > max(self.busy_held, 2 * conn.kept) and None not in conn.sides:
                # (twice: a long message not read over and over; both ways: its first part told as a twin's)
                del self.current[key]
                conn.read = "idle"  # (read as one idle: its last message not whole kept back, read on)
                self.pending.append(conn)
                self.due = True
        if flags & _FIN and not flags & _SYN:
            # (where its bytes end: those before it never captured, its last segments, or all of them where
            # its first sequence number is known, are said as a gap is; not read as the stream's end; a
            # segment's tail cut by the snapshot length too, as its FIN follows the bytes it sent)
            fin = (seq + len(payload) + uncaptured) & _SEQ_MASK
            start = conn.start0 if which == 0 else conn.start1
            if side is None and start is not None and fin != start:
                side = _Direction(start, start)
                if conn.sides is None:
                    conn.sides = [None, None]
                conn.sides[which] = side
            if side is not None:
                side.fin = side.nearest(fin)

    def gre_keyed(self, key: bytes, network: bytes, which: int, ends: bytes = b"") -> bytes:
        """The key of a connection in a GRE tunnel whose key is another each way (Linux's ikey and
        okey, Cisco's...): a packet of one end whose key no connection has is the other half of
        the one seen from the other end alone so far, with the same addresses and ports and
        another GRE key, its key that one's from then on. (Two tenants' connections with the same
        ends each keep their own: each is seen both ways under its key; and in another tunnel, its
        `ends` (the tunnel's addresses) others, each is another's, one way of it never captured.)"""
        key = self.aliases.get(key, key)
        bare = ends + b"".join(n + b"\0" for n in network.split(b"\0") if n and not n.startswith(b"GRE key ")) \
            + key[len(network) :]
        half = self.one_way.get(bare)
        if half is not None and half[0] == key:
            if half[1] != which:  # (seen both ways under one key: no half of another)
                del self.one_way[bare]
            return key
        if key in self.current or key in self.done:
            return key
        if half is not None and half[1] != which and (half[0] in self.current or half[0] in self.done):
            del self.one_way[bare]
            self.aliases[key] = half[0]
            if len(self.aliases) > self.kept_read:
                del self.aliases[next(iter(self.aliases))]
            return half[0]
        self.one_way[bare] = (key, which)  # (a new connection's first packet)
        if len(self.one_way) > self.kept_read:
            del self.one_way[next(iter(self.one_way))]
        return key

    def tick(self, when: float, number: int) -> None:
        """The capture's time at a packet. One far from the time so far (past a grace or an idle
        time) is taken only once the next packet is far too, the same way, going on from it: a
        single bogus timestamp, a year ahead, would otherwise have read every closing connection
        as done, a segment of one still to come then dropped as late."""
        odd, self.odd = self.odd, None
        far = self.now is not None and abs(when - self.now) > self.jump
        if odd is not None:
            # (a gap in the capture, a clock set: real where the time goes on from it, not back to before it)
            if far and (odd[0] - self.jump <= when if odd[0] > self.now else when <= odd[0] + self.jump):
                self.step(*odd[:2])
                self.step(when, number)
                return
            self.outliers = [self.outliers[0] + 1, self.outliers[1]] if self.outliers else [1, odd[:2]]
            if len(odd) == 4 and odd[2].seen == odd[0]:  # (its connection's latest time is not that one either)
                odd[2].seen = self.now if odd[3] is None else odd[3]
        if far:
            self.odd = (when, number)
            return
        self.step(when, number)

    def step(self, when: float, number: int) -> None:
        # (a step back: captures joined out of time order, a clock set back. Each connection's own times
        # are its earliest and latest, whatever the order: a step back delays a decision, never hastens one)
        if self.now is not None and when < self.now - _STEP_BACK:
            self.back = [self.back[0] + 1, *self.back[1:]] if self.back else [1, number, self.latest - when]
        self.latest = when if self.latest is None else max(when, self.latest)
        self.now = when
        if self.checked is None or when - self.checked >= min(self.idle, self.grace) / 4 or when < self.checked:
            self.due = True

    def reopened(self, conn: _Connection, which: int, seq: int, flags: int, payload, when):
        """A packet on a connection read already: the connection read on (idle), None (a SYN opens
        a new one), or _DROPPED (closed: a late segment with bytes not read is counted)."""
        del self.done[conn.key]
        if flags & _SYN and not flags & _ACK and (conn.closed or conn.sides is not None):
            return self.replaced(conn)  # (a new connection)
        side = conn.sides[which] if conn.sides is not None else None
        at = (seq + 1) & _SEQ_MASK if payload and flags & _SYN else seq
        unread = bool(payload) and not (side is not None and side.read_already(side.nearest(at), len(payload)))
        if unread and _before(when, conn.first):
            # (bytes not read, from before its first packet: no retransmission, but its start in a capture
            # joined out of time order, read after the rest: read as a connection of its own, not dropped;
            # a copy of bytes read, as a second capture of the same traffic joined after it has, is dropped)
            return self.replaced(conn)
        if conn.read == "idle":
            conn.read = None
            return conn
        self.done[conn.key] = (conn, conn.seen if when is None or conn.seen is None else max(when, conn.seen))
        if unread:
            if not conn.late:
                self.lately.append(conn)
            conn.late += 1
        return _DROPPED

    def replaced(self, conn: _Connection) -> None:
        """A connection read already whose ports a new one takes: what it kept back (a message not
        whole when it went idle) read as it is."""
        if conn.held:
            conn.read = None
            self.pending.append(conn)
            self.due = True

    def retire(self, conn: _Connection) -> None:
        """An open connection whose ports a new one takes: read."""
        if self.closing.pop(conn.key, None) is not None:
            self.closing_bytes -= conn.held
        self.pending.append(conn)
        self.due = True

    def finish_due(self):
        """The messages of the connections done by now."""
        self.due = False
        ready, self.pending = self.pending, []
        now = self.now
        # (each queue in the order its connections came to it, which is their times' order unless the
        # capture's times went back: then one timed after now, from before the step back, is passed
        # over, not waited for, so that those after it are read when due)
        later = (lambda t: t is not None and t > now + _STEP_BACK) if now is not None else (lambda t: False)
        taken = []
        for key, (conn, closed) in self.closing.items():
            if self.closing_bytes > self.grace_bytes or (None not in (closed, now) and now - closed > self.grace):
                taken.append(key)
                self.closing_bytes -= conn.held
            elif not later(closed):
                break
        for key in taken:
            conn, _ = self.closing.pop(key)
            self.current.pop(key, None)
            conn.read = "closed"
            ready.append(conn)
        if now is not None:
            self.checked = now
            idle = []
            for conn in self.current.values():  # (the least recently active first)
                if later(conn.seen):
                    continue
                if conn.seen is None or now - conn.seen <= self.idle:
                    break
                if conn.ended != 3:  # (a closed one's grace is counted from its close)
                    idle.append(conn)
            for conn in idle:
                del self.current[conn.key]
                conn.read = "idle"
                ready.append(conn)
            forgotten = []
            for key, (conn, seen) in self.done.items():
                if later(seen):
                    continue
                if seen is not None and now - seen <= _FORGET:
                    break
                forgotten.append(key)
            for key in forgotten:
                conn, _ = self.done.pop(key)
                if conn.held:  # (a message not whole when it went idle, and no more came: read as it is)
                    conn.read = None
                    ready.append(conn)
        for conn in ready:
            yield from self.finish(conn)

    def finish(self, conn: _Connection):
        notes: list[str] = []
        conn.held = 0  # (once read, what it holds: of one read idle, a last message not whole yet)
        messages = _http_messages(conn, notes, self.inflated, self.twins)
        conn.kept = conn.held
        if self.where is not None:
            for msg in messages:
                msg.file, msg.packet = self.where(msg.packet)
        skipped = next((kind for kind in (_TLS_SKIPPED, _NOT_HTTP_SKIPPED) if len(notes) == 1
                        and notes[0].endswith(kind)), None)
        if skipped is not None and conn.skipped is not None:  # (a later part, read idle or busy: said once)
            notes = []
        elif skipped is not None:
            conn.skipped = skipped
            count = self.skipped.setdefault(skipped, [0, 0])
            count[0] += 1
            if count[0] > _SKIPPED_SAID:
                count[1] = max(count[1], conn.number)
                notes = []
        if notes:  # (a capture of a SYN scan has hundreds of thousands with none)
            self.notes.append((conn.number, notes))
        if conn.read is None:
            conn.sides = None
        else:  # (kept, small: its ends' positions, to read on from or to tell late bytes by)
            self.done[conn.key] = (conn, conn.seen)
            if len(self.done) > self.kept_read:
                self.let_go_earliest()
        yield from messages

    def let_go_earliest(self) -> None:
        """The connection read the earliest, forgotten before _FORGET passed (see KEPT_READ); what
        it kept back (a message not whole when it went idle) read as it is."""
        oldest, _ = self.done.pop(next(iter(self.done)))
        self.let_go = [self.let_go[0] + 1, self.let_go[1]] if self.let_go else [1, oldest.number]
        if oldest.held:
            oldest.read = None
            self.pending.append(oldest)
            self.due = True

    def finish_all(self):
        ready = self.pending + list(self.current.values()) + [conn for conn, _ in self.done.values() if conn.held]
        self.pending, self.current, self.closing = [], {}, {}
        for conn in sorted(ready, key=lambda c: c.number):
            conn.read = None
            yield from self.finish(conn)

    def late_notes(self, notes: list[str], packet=str) -> list[str]:
        if self.outliers:
            count, (when, number) = self.outliers
            at = _time(when)
            notes.insert(0, f"packet {packet(number)} is timed {at.isoformat() if at else when}, far from the packets around "
                            "it" + (f" (and {count - 1} more packet(s) so)" if count > 1 else "") + ": a bogus "
                            "timestamp, not taken as the capture's time")
        if self.back:
            count, number, by = self.back
            notes.insert(0, f"the capture's times go back {by:.3f} seconds at packet {packet(number)}"
                            + (f" (and {count - 1} more time(s) after it)" if count > 1 else "")
                            + ": files joined out of time order (cat, mergecap -a), or a clock set back; a connection "
                            "whose packets lie on both sides of such a place may be read in pieces (reordercap "
                            "writes the capture in time order)")
        if self.let_go:
            count, first = self.let_go
            notes.append(f"{count} connection(s) read were forgotten before {_FORGET / 60:g} minutes of the capture "
                         f"passed (the first: connection {first}), more than {self.kept_read} being kept: a later segment "
                         "of one, if any (a retransmission after its close, its next message after an idle time, a "
                         "second capture of the same traffic joined after it), is read as a new connection's, and a "
                         "connection captured twice may be read twice, its copy not recognized")
        for kind, (count, latest) in self.skipped.items():
            if count > _SKIPPED_SAID:
                notes.append(f"{count - _SKIPPED_SAID} more connection(s){kind} as well (the last: connection "
                             f"{latest})")
        for conn in self.lately:
            notes.append(f"{conn.name()}: {conn.late} segment(s) with bytes not read came after it had closed "
                         f"both ways and {self.grace:g} more seconds of the capture passed (or its bytes were let "
                         "go to bound the memory held): not read")
        return notes


# A connection captured twice, before and after an address translation (a host's NAT: `tcpdump -i
# any` on a container host sees a published port's traffic on the outer interface and on the
# container's, a masqueraded client's on both) is read once: another connection read whole with the
# same bytes both ways (or a part read of it, idle or busy: one way alone where the other end has
# sent nothing yet, as a request unanswered past IDLE), each way's first and last bytes captured
# within _TWIN_GAP seconds of its twin's, an end's address translated (a client sending the same
# bytes again, even at once, keeps its address), and the sequence numbers one way at least the same
# (NAT keeps them; a firewall randomizing them shifts the side it guards alone; two connections'
# random ones never agree). So is one captured inside and outside its overlay network's tunnel
# (`tcpdump -i any` on a Kubernetes node sees a pod's packets on its interface and in VXLAN on the
# node's), which its network keeps apart from the other (see _overlay): the same ends, and the
# sequence numbers both ways the same.
_TWIN_GAP = 0.1
_TWINS_KEPT = 1024  # connections read lately, kept small (digests, ends, times), as twins of those read next


class _Twins:
    """The connections read lately: each its bytes' digests both ways, its ends, first sequence
    numbers and each way's first and last time, to tell a later one that is its NAT twin."""

    def __init__(self):
        self.kept: dict[tuple[bytes, bytes], list[tuple]] = {}
        self.count = 0

    def seen(self, conn: _Connection, streams, client: int) -> tuple[str, bool] | None:
        """The name of a connection read before that `conn` (its streams just made) is the twin
        of, and whether an address translation is between them (else a tunnel, or a VLAN); None:
        none (and `conn` is kept, as a twin for later ones)."""
        ways = (client, 1 - client)
        times = [[when for _, _, when in streams[w][1]] for w in ways]
        # (a part of one end's bytes alone, as a request unanswered past IDLE is read, is checked too: its
        # bytes one way, their times and their sequence numbers, the other end's from its SYN where seen)
        if not any(times) or None in times[0] or None in times[1]:
            return None
        key = (_digest(streams[client][0]), _digest(streams[1 - client][0]))
        ends = tuple(conn.end(w) for w in ways)
        starts = tuple(_first_sequence(conn, w) for w in ways)
        span = tuple((min(t), max(t)) if t else None for t in times)
        for name, their_ends, their_starts, their_span, their_network in self.kept.get(key, ()):
            moved = [(a, b) for a, b in zip(ends, their_ends) if a != b]
            translated = bool(moved) and all(a.rpartition(":")[0] != b.rpartition(":")[0] for a, b in moved) \
                and any(a == b is not None for a, b in zip(starts, their_starts))
            tunnelled = not moved and conn.network != their_network and starts == their_starts
            if (translated or tunnelled) and all(
                    (s is None) == (t is None) and all(abs(a - b) <= _TWIN_GAP for a, b in zip(s or (), t or ()))
                    for s, t in zip(span, their_span)):
                return name, "translated" if translated else "tunnel" if _tunnels(conn.network) != _tunnels(
                    their_network) else "VLAN"
        self.kept.setdefault(key, []).append((conn.name(), ends, starts, span, conn.network))
        self.count += 1
        if self.count > _TWINS_KEPT:  # (the oldest let go)
            oldest = next(iter(self.kept))
            del self.kept[oldest][0]
            if not self.kept[oldest]:
                del self.kept[oldest]
            self.count -= 1
        return None


def _first_sequence(conn: _Connection, which: int) -> int | None:
    """An end's first sequence number: of its bytes, else from its SYN (None: neither seen)."""
    side = conn.sides[which]
    start = side.start if side is not None else conn.start0 if which == 0 else conn.start1
    return None if start is None else start & _SEQ_MASK


def _tunnels(network: bytes) -> list[bytes]:
    """A connection's overlay networks, its VLANs left out."""
    return [n for n in network.split(b"\0") if n and not n.startswith(b"VLAN ")]


def _repeats(run: tuple[int, list], times: list[tuple[int, int, float | None]], off: int, data) -> bool:
    """Whether a segment's bytes at `off` taken already are the same as those taken (a
    retransmission's are; two connections' read as one, or a middlebox's rewriting, differ), as
    far as the `run` being made (its offset and pieces, the last of `times`) holds them."""
    start, pieces = run
    if off < start:  # (bytes read before, its connection idle: gone)
        data, off = data[start - off :], start
    first = len(times) - len(pieces)  # (the run's pieces are the last of `times`)
    i = bisect_right(times, off, lo=first, key=itemgetter(0)) - 1 - first
    done = 0
    while done < len(data) and i < len(pieces):
        at = off + done - times[first + i][0]
        take = min(len(pieces[i]) - at, len(data) - done)
        if bytes(pieces[i][at : at + take]) != bytes(data[done : done + take]):
            return False
        done += take
        i += 1
    return True


def _digest(runs: list[tuple[int, bytes]]) -> bytes:
    digest = hashlib.sha256()
    for off, run in runs:
        digest.update(off.to_bytes(8, "big"))
        digest.update(len(run).to_bytes(8, "big"))
        digest.update(run)
    return digest.digest()


def _stream(side: _Direction | None) -> tuple[list[tuple[int, bytes]], list[tuple[int, int, float | None]],
                                              list[tuple[int, int]], list[tuple[list[int], list]]]:
    """A direction's bytes as (offset, run) runs without gaps between them, each segment's
    (offset, packet number, time), the gaps (offset, bytes missing), and each run's pieces (where
    each begins in it, and its bytes: views into the capture, of which the bodies are made once
    the runs are read and let go): segments in sequence order, each byte taken once (the first
    captured of it). A side read before (its connection idle) goes on from where that ended."""
    if side is None or not side.segments and not side.lost_end():
        return [], [], [], []
    # Joined mid-stream (no SYN): it begins at the earliest byte captured
    if side.start is None:
        side.start = min(segment[0] for segment in side.segments)
    base, read_before = side.start, side.floor is not None
    # (sorted by position alone: a stable sort keeps repeats in the order they were captured)
    ordered = sorted(side.segments, key=itemgetter(0))
    runs: list[tuple[int, list]] = []  # (offset, its pieces)
    times: list[tuple[int, int, float | None]] = []
    gaps: list[tuple[int, int]] = []
    end: int | None = None if side.floor is None else side.floor - base  # where the bytes taken so far end
    side.differ = None
    for position, number, when, data in ordered:
        off = position - base
        if off < 0:  # (bytes before the stream's first: a retransmission of the SYN's, or not this connection's)
            data, off = data[-off:], 0
        # (a repeat of one byte is none: a keep-alive's, whose byte Windows sends as garbage)
        if runs and off < end and len(data) > 1 and not _repeats(runs[-1], times, off, data[: end - off]):
            side.differ = [side.differ[0] + 1, side.differ[1]] if side.differ else [1, off]
        if not data or (end is not None and off + len(data) <= end):
            continue  # all of it taken already: a retransmission
        if end is None or off > end or not runs:
            # (at first: its first bytes never captured)
            if (end is not None and off > end) or (end is None and off > 0):
                gaps.append((end or 0, off - (end or 0)))
            runs.append((max(off, end or 0), []))
            end = max(off, end or 0)
        if end > off:  # (its start taken already: a view of the rest, else the segment as it is)
            data = data[end - off :]
        times.append((end, number, when))
        runs[-1][1].append(data)
        end += len(data)
    del ordered
    fin, side.fin = side.fin, None
    if fin is not None and fin - base > (end or 0):  # (its last bytes never captured: see _Connections.add)
        gaps.append((end or 0, fin - base - (end or 0)))
    side.segments = []  # (let go before the runs are joined: they are in `runs` and `times` now)
    if end is not None:
        side.floor = base + end
    # (what was not captured, to tell a late segment's bytes read from ones not: not kept for a capture
    # cut by its snapshot length, which has a gap in every packet)
    if len(gaps) > 16 or (read_before and side.gaps is None):
        side.gaps = None
    else:
        side.gaps = (side.gaps or []) + [(base + a, base + a + n) for a, n in gaps]
    parts = []
    for _, pieces in runs:
        starts, at = [], 0
        for piece in pieces:
            starts.append(at)
            at += len(piece)
        parts.append((starts, pieces))
    return [(off, b"".join(pieces)) for off, pieces in runs], times, gaps, parts


# -- HTTP --------------------------------------------------------------------------------------------


_REQUEST_LINE = re.compile(rb"(?:GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|TRACE|CONNECT) [^\s]+ HTTP/1\.[01]\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9][^\r\n]*\r?\n")


_TLS_SKIPPED = (": TLS, skipped (its HTTP can be read only in a capture on the plain side of the TLS: behind the "
                "proxy ending it, or with the keys)")
_NOT_HTTP_SKIPPED = ": no HTTP/1.x in it (HTTP/2 or another protocol), skipped"
# Connections skipped so said one by one, of each kind, before the rest are counted (a capture of a
# busy host's every port has tens of thousands of TLS connections: a note for each buried the rest)
_SKIPPED_SAID = 5


def _http_messages(conn: _Connection, notes: list[str], inflated: list[int],
                   twins: _Twins | None = None) -> list[CapturedMessage]:
    if conn.sides is None or not any(side and (side.segments or side.lost_end()) for side in conn.sides):
        # (read on: nothing new)
        return []
    streams = [_stream(side) for side in conn.sides]  # (the segments are joined: not kept twice)
    if conn.twin:  # (read as another's twin before, idle: its later parts are that one's too, said once)
        return []
    differing = [(which, side.differ) for which, side in enumerate(conn.sides) if side is not None and side.differ]
    bodies: list[_Body] = []  # (each message's body, made once both sides are read: in the order they were)

    def sends(who, start: re.Pattern) -> bool:  # (at its start, else anywhere: joined mid-message)
        runs = streams[who][0]
        return bool(runs) and (start.match(runs[0][1]) is not None or any(start.search(r) for _, r in runs))

    # Joined mid-connection, the first packet seen (often a bare ACK of the server's) says nothing
    # of who is the client: the requests say it, or else the responses.
    client = conn.client
    if sends(client, _REQUEST_LINE):
        pass
    elif sends(1 - client, _REQUEST_LINE) or (sends(client, _STATUS_LINE) and not sends(1 - client, _STATUS_LINE)):
        client = 1 - client
    server = 1 - client
    conn.client = client  # (kept: an idle connection read on has it)
    name = conn.name()
    # (each part read of a connection, whole or up to an idle time (a kept-alive one read on, each time as
    # its twin is), one end's bytes alone too: one that may be another's twin)
    if twins is not None and (twin := twins.seen(conn, streams, client)) is not None:
        twin, between = twin
        conn.twin = True
        if between == "translated":
            notes.append(f"{name}: the same bytes both ways as {twin}, moments apart, its ends translated: one "
                         "connection captured twice, before and after an address translation (NAT: a container's "
                         "published port, a masqueraded client; tcpdump -i any sees both), read once, as that one")
        elif between == "VLAN":
            notes.append(f"{name}: the same bytes and sequence numbers both ways as {twin}, moments apart: one "
                         "connection captured twice, on two VLANs or tagged and not (a router's two sides on one "
                         "trunk; tcpdump -i any on a VLAN's interface and its parent's), read once, as that one")
        else:
            notes.append(f"{name}: the same bytes and sequence numbers both ways as {twin}, moments apart: one "
                         "connection captured twice, inside and outside its overlay network's tunnel (tcpdump -i "
                         "any on a node sees both), read once, as that one")
        return []
    said = len(notes)
    for which, (count, off) in differing:
        notes.append(f"{name}: {count} segment(s) from {conn.end(which)} repeated bytes captured already with other "
                     f"bytes (the first at byte {off}): the bytes captured first are read (a middlebox rewriting "
                     "a retransmission, or two connections' packets taken as one's)")
    # The responses are read as the requests need them: which request one answers depends on the
    # methods before it (HEAD), and whether a request's body was sent may depend on its answer.
    methods: list[str] = list(conn.asked)  # (those of a part read before not answered in it first)
    held: dict | None = {} if conn.read == "idle" else None  # (side → where its last message, not whole, begins)
    answers = _Answers(_read(streams[server], False, conn, conn.end(server), conn.end(client), methods, notes, name,
                             bodies=bodies, side=server, held=held))
    requests = [m for m, _, _ in _read(streams[client], True, conn, conn.end(client), conn.end(server), methods,
                                         notes, name, answers, bodies, client, held)]
    responses = answers.all()
    conn.asked = tuple(methods[sum(int(m.start_line[9:12]) >= 200 for m in responses):])
    for which, at in (held or {}).items():  # (kept as the side's one segment: read on from there)
        side, (runs, times, _, _) = conn.sides[which], streams[which]
        run_offset, run = runs[-1]
        _, packet, when = _segment_at(times, at)
        side.segments = [(side.start + at, packet, when, bytes(run[at - run_offset :]))]
        side.floor = side.start + at
        conn.held += len(side.segments[0][3])
    # (one note for it, not one for each side's bytes as well; bytes none of which were captured, said as such)
    if not requests and not responses and not held and any(stream[0] for stream in streams):
        del notes[said:]
        first = streams[client][0][0][1][:3] if streams[client][0] else b""
        # (a TLS record: a handshake's, or where the capture joined it mid-connection or it is read on
        # after an idle time, application data's, an alert's, a cipher change's)
        if first[:1] in (b"\x14", b"\x15", b"\x16", b"\x17") and first[1:2] == b"\x03":
            notes.append(f"{name}{_TLS_SKIPPED}")
        else:
            notes.append(f"{name}{_NOT_HTTP_SKIPPED}")
    # The runs let go before the bodies are made of the capture's bytes: a run and the bodies cut
    # from it were both held at once, a message's size twice over the capture's own
    parts = [streams[0][3], streams[1][3]]
    streams.clear()
    for body in bodies:
        body.make(parts, inflated)
    return requests + responses


class _Body:
    """Where a message's body is in its side's runs, made into bytes (inflated) once the runs are
    let go."""

    __slots__ = ("encoding", "msg", "run", "side", "spans")

    def __init__(self, msg: CapturedMessage, side: int, run: int, spans: array, encoding: tuple):
        self.msg, self.side, self.run, self.spans, self.encoding = msg, side, run, spans, encoding

    def make(self, parts, inflated: list[int]) -> None:
        starts, pieces = parts[self.side][self.run]
        spans = self.spans
        if len(spans) == 2:  # (a body in one span, as usual: no copy more than its bytes)
            first = bisect_right(starts, spans[0]) - 1
            if spans[1] - starts[first] <= len(pieces[first]):
                at = spans[0] - starts[first]
                spans = None
                body = bytes(pieces[first][at : at + self.spans[1] - self.spans[0]])
        if spans is not None:
            body = _joined(self._pieces(spans, starts, pieces))
        self.msg.body = _decoded(body, self.encoding, self.msg.notes, inflated)

    @staticmethod
    def _pieces(spans: array, starts, pieces):
        for k in range(0, len(spans), 2):
            begin, end = spans[k], spans[k + 1]
            i = bisect_right(starts, begin) - 1
            while begin < end:
                at = begin - starts[i]
                take = min(end - begin, len(pieces[i]) - at)
                yield pieces[i][at : at + take]
                begin += take
                i += 1


# A body's pieces (views into the capture's segments: no copy) are joined from a list of them,
# one allocation of the body's exact size, unless they are many and small (a chunked body cut
# fine): a view of its own for each of millions of pieces of a byte or two cost a hundred times the
# body; then one growing buffer, about twice the body at the most.
_FEW_PIECES = 4096
_SMALL_PIECE = 256  # bytes on average: under it, a view's ~200 bytes outweigh its piece


def _joined(pieces) -> bytes:
    few: list | None = []
    many, size = None, 0
    for piece in pieces:
        if many is not None:
            many += piece
            continue
        few.append(piece)
        size += len(piece)
        if len(few) > _FEW_PIECES and size < len(few) * _SMALL_PIECE:
            many, few = bytearray().join(few), None
    if many is not None:
        return bytes(many)
    return bytes(few[0]) if len(few) == 1 else b"".join(few)


class _Answers:
    """A connection's responses, read as far as asked: the first one to each request."""

    def __init__(self, reader):
        self.reader = reader  # of (message, packet of its first byte, which request it answers)
        self.messages: list[CapturedMessage] = []
        self.first: dict[int, tuple[int, int]] = {}  # request → (status, packet) of its first response

    def first_to(self, request: int) -> tuple[int, int] | None:
        while request not in self.first:
            read = next(self.reader, None)
            if read is None:
                return None
            msg, packet, answering = read
            self.messages.append(msg)
            # (the request a response answers is the count of final ones before it: the first to each
            # request is read before any to a later one)
            self.first.setdefault(answering, (int(msg.start_line[9:12]), packet))
        return self.first[request]

    def all(self) -> list[CapturedMessage]:
        self.messages += [msg for msg, _, _ in self.reader]
        return self.messages


def _read(stream, requests: bool, conn: _Connection, source: str, destination: str, methods: list[str],
          notes: list[str], name: str, answers: _Answers | None = None, bodies: list | None = None,
          side: int = 0, held: dict | None = None):
    """The messages of one side of a connection: (message, packet of its first byte, which request
    it answers (responses)). A request's method is added to `methods` as it is read. Each body is
    added to `bodies`, to be made (the message's is b"" until then); `side`: which end sends.
    `held` (a connection read idle, to be read on): a last message not whole yet is not read but
    its offset put there under `side`, to be read whole once the rest comes."""
    runs, times, gaps, _ = stream
    if len(gaps) > 3:  # (a capture cut by its snapshot length has a gap in every packet)
        notes.append(f"{name}: {sum(missing for _, missing in gaps)} bytes from {source} were not "
                     f"captured, in {len(gaps)} places (the first after byte {gaps[0][0]}): the messages they "
                     "were in are shown cut short, or left out where their start is missing")
    for off, missing in gaps if len(gaps) <= 3 else ():
        notes.append(f"{name}: {missing} bytes from {source} were not captured (after byte {off}): "
                     "the message they were in is shown cut short, or left out if its start is missing")
    start = _REQUEST_LINE if requests else _STATUS_LINE
    unread: list[str] = []  # (each place that could not be read: said in full up to 3, else counted)
    beyond = -1  # where bytes after a body its Content-Length ended begin (said in its notes: not again)
    answered = 0  # responses so far that were final (not 1xx): which request the next one answers
    for index, (run_offset, run) in enumerate(runs):
        pos = 0
        while pos < len(run):
            if not start.match(run, pos):
                found = _next_start(run, pos, start)
                if found is None:
                    if held is not None and index == len(runs) - 1 and b"\n" not in run[pos:]:
                        held[side] = run_offset + pos  # (a message's first line not whole yet, perhaps)
                    elif run[pos:].strip() and pos != beyond:
                        unread.append(f"{len(run) - pos} bytes from {source} that are no HTTP message "
                                      "(or the rest of one whose start was not captured), skipped")
                    break
                if run[pos:found].strip() and pos != beyond:
                    unread.append(f"{found - pos} bytes from {source} before the next message are no "
                                  "HTTP message (or the rest of one whose start was not captured), skipped")
                pos = found
            # The first blank line, of either kind (a search for one kind alone ran on through
            # every body after it when the message had the other: a long keep-alive connection
            # took minutes)
            blank = _HEAD_END.search(run, pos)
            last = index == len(runs) - 1
            if blank is None:
                if held is not None and last:
                    held[side] = run_offset + pos
                else:
                    unread.append(f"a message from {source} whose headers were not all captured, left out")
                break
            line, headers = _head(run[pos : blank.start()])
            body_start = blank.end()
            msg_notes: list[str] = []
            status = int(line[9:12]) if not requests else None  # (digits: the status line matched)
            if requests:
                methods.append(line.split(" ", 1)[0])
            method = methods[answered] if not requests and answered < len(methods) else None
            coding = (header_value(headers, "transfer-encoding") or "").lower()
            # (a Content-Length repeated with the same value, as some proxies send it, is one length)
            lengths = {v.strip() for v in (header_value(headers, "content-length") or "").split(",")} - {""}
            length_text = next(iter(lengths)) if len(lengths) == 1 else ""
            if lengths and not (length_text.isascii() and length_text.isdigit()):
                msg_notes.append(f"its Content-Length ({', '.join(sorted(lengths))}) is no length: read as none")
            unsent, whole = None, True
            if requests and "100-continue" in (header_value(headers, "expect") or "").lower() \
                    and ("chunked" in coding or (length_text.isascii() and length_text.isdigit() and int(length_text))):
                unsent = _body_unsent(run, body_start, index == len(runs) - 1, times, run_offset,
                                      answers.first_to(len(methods) - 1) if answers else None)
            spans = array("q")  # (where the body's bytes are in the run: each span's start and end in turn)
            if unsent:
                end = body_start
                msg_notes.append(unsent)
            elif status is not None and (status < 200 or status in (204, 304) or method == "HEAD"):
                end = body_start
            elif "chunked" in coding:
                spans, end, complete = _chunks(run, body_start)
                whole = complete
                if not complete:
                    msg_notes.append("its chunked body is cut short in the capture: what was captured of it is shown")
            elif length_text.isascii() and length_text.isdigit():
                end = body_start + int(length_text)
                spans = array("q", (body_start, min(end, len(run))))
                whole = end <= len(run)
                if end > len(run):
                    msg_notes.append(f"its body is cut short in the capture: {len(run) - body_start} of its "
                                     f"{length_text} bytes were captured")
                elif end < len(run) and not start.match(run, end) and (
                        held is None or index < len(runs) - 1 or b"\n" in run[end:]):  # (see below: read on)
                    # (a Content-Length counting characters, not UTF-8's bytes, as some MMSCs and VASPs
                    # send it: the rest of the body follows it, no message, and was skipped unexplained)
                    following = _next_start(run, end, start)
                    more = (len(run) if following is None else following) - end
                    if run[end : end + more].strip():
                        beyond = end
                        before = "the end of what was captured" if following is None else "the next message"
                        msg_notes.append(
                            f"its Content-Length ({length_text}) ends its body {more} bytes before {before}: "
                            "shown as long as it says, as the other end reads it, those bytes skipped (a "
                            "length counting characters, not bytes, say)")
            elif requests:
                end = body_start
            else:  # a response without a length: its body runs until the connection closes
                spans, end = array("q", (body_start, len(run))), len(run)
                whole = conn.closed
                if not conn.closed:
                    msg_notes.append("a body without a length, and the connection's end was not captured")
            if len(spans) == 2 and spans[0] >= spans[1]:  # (a length's span with nothing captured of it;
                spans = array("q")                          # _chunks lists none empty)
            encoding = _codings(headers, msg_notes if spans else None, "shown as captured")
            if held is not None and last and not whole:  # (its rest may come: read then)
                held[side] = run_offset + pos
                if requests:  # (its method added once it is read)
                    methods.pop()
                break
            _, packet, when = _segment_at(times, run_offset + pos)
            msg = CapturedMessage(0, conn.number, source, destination, _time(when), line, headers, b"", msg_notes,
                                  packet)
            if spans and bodies is not None:
                bodies.append(_Body(msg, side, index, spans, encoding))
            yield msg, packet, answered
            if status is not None and status >= 200:
                answered += 1
            pos = end
    if len(unread) <= 3:
        notes += [f"{name}: {u}" for u in unread]
    else:
        notes.append(f"{name}: {len(unread)} places in what {source} sent could not be read as HTTP "
                     f"messages; the first: {unread[0]}")


def _body_unsent(run: bytes, body_start: int, last_run: bool, times, run_offset: int,
                 answer: tuple[int, int] | None) -> str | None:
    """Why a request sent with `Expect: 100-continue` is read without its body, or None: it has
    one. A server may answer such a request at once with a final status (401, 413, 417...); the
    client then either sends the body all the same, or closes the connection, or (keeping it)
    sends its next request without the body. Its bytes say which: a request line where the body
    would begin is the next request (a body beginning as one is not credible), nothing more is no
    body; and they are so only if the final answer came before them."""
    follows = _REQUEST_LINE.match(run, body_start) is not None
    if not follows and not (body_start >= len(run) and last_run):
        return None
    if answer is None:
        if follows:
            return ("read without its body, which the bytes after its headers do not begin (the next request "
                    "does): its Expect: 100-continue was answered in what the capture lacks (a guess)")
        return None
    status, answered_in = answer
    if status < 200:  # (a 100 Continue: the body was to follow)
        return None
    if not follows:
        return f"sent without its body: the server answered {status} to its Expect: 100-continue, and no more came"
    if answered_in < _segment_at(times, run_offset + body_start)[1]:
        return (f"sent without its body: the server answered {status} to its Expect: 100-continue, and the "
                "next request followed")
    return None


def _next_start(run: bytes, pos: int, start: re.Pattern) -> int | None:
    """Where the next message begins after bytes that are none: anywhere, since a message follows
    the end of the last one's body directly (no line break between them)."""
    found = start.search(run, pos + 1)
    return found.start() if found else None


def _head(raw: bytes) -> tuple[str, dict[str, str]]:
    """The start line and the headers (folded lines joined, repeated names joined by ", ")."""
    lines = raw.decode("latin-1").replace("\r\n", "\n").split("\n")
    return lines[0].strip(), header_fields(lines[1:], join_repeated=True)


def http_body(headers: dict[str, str], body: bytes) -> tuple[bytes, list[str]]:
    """The body of one HTTP message saved on its own (a proxy's or a log's copy) as the application
    saw it, as a capture's are read: chunks joined, gzip or deflate inflated (to MAX_INFLATED);
    and notes saying what was done, or could not be."""
    notes: list[str] = []
    if "chunked" in (header_value(headers, "transfer-encoding") or "").lower():
        body, _, complete = _dechunk(body, 0)
        notes.append("its body was sent chunked: shown joined" if complete else
                     "its chunked body is cut short: what there is of it is shown")
    else:
        notes.extend(_length_note(headers, len(body)))
    return _decoded(body, _codings(headers, notes if body else None, "shown as saved"), notes, [0]), notes


def _length_note(headers: dict[str, str], saved: int) -> list[str]:
    """A saved message's Content-Length against the body saved with it. Said, never acted on: a
    body shorter was cut short (or its CRLFs made LFs by an editor), one longer had bytes added; a
    document's example often carries a made-up length. The body is read as saved either way — a
    decode error that follows is then explained by this note."""
    lengths = {v.strip() for v in (header_value(headers, "content-length") or "").split(",")} - {""}
    if not lengths:
        return []
    text = next(iter(lengths)) if len(lengths) == 1 else ""
    if not (text.isascii() and text.isdigit()):
        return [f"its Content-Length ({', '.join(sorted(lengths))}) is no length: the body is read as saved"]
    said = int(text)
    if saved == said:
        return []
    why = " (cut short, or its line ends changed when it was saved)" if saved < said else ""
    return [f"its Content-Length says {said} bytes, {saved} were saved{why}: the body is read as saved"]


def _dechunk(run: bytes, pos: int) -> tuple[bytes, int, bool]:
    spans, end, complete = _chunks(run, pos)
    view = memoryview(run)
    return _joined(view[spans[k] : spans[k + 1]] for k in range(0, len(spans), 2)), end, complete


def _chunks(run: bytes, pos: int) -> tuple[array, int, bool]:
    """A chunked body's chunks, where each is in `run` (cut at its end; each one's start and end in
    turn, none empty), where the body ends, and whether it is whole. (Two numbers of an array: a
    pair of ints in a list took 112 bytes for a chunk, 2 million chunks of a byte each 400 MB.)"""
    spans = array("q")
    while True:
        eol = run.find(b"\n", pos)
        if eol < 0:
            return spans, len(run), False
        size_text = run[pos:eol].split(b";", 1)[0].strip()
        if not CHUNK_SIZE.fullmatch(size_text):  # (int() would take "-5": a step back, read again for ever)
            return spans, eol + 1, False
        size = int(size_text, 16)
        pos = eol + 1
        if size == 0:  # the last chunk: trailers, up to a blank line
            while True:
                eol = run.find(b"\n", pos)
                if eol < 0:
                    return spans, len(run), True
                line, pos = run[pos:eol].strip(), eol + 1
                if not line:
                    return spans, pos, True
        if pos < len(run):
            spans.append(pos)
            spans.append(min(pos + size, len(run)))
        if pos + size > len(run):
            return spans, len(run), False
        pos += size
        pos += 2 if run[pos : pos + 2] == b"\r\n" else 1 if run[pos : pos + 1] == b"\n" else 0


_INFLATES = ("gzip", "x-gzip", "deflate")


def _codings(headers: dict[str, str], notes: list[str] | None, shown: str) -> tuple[tuple[str, str], ...]:
    """The codings to undo on a message's body, in the order to undo them: its Transfer-Encoding's
    but chunked (`gzip, chunked`: sent gzip-compressed, then chunked; chunks are joined apart), the
    last applied first, then its Content-Encoding's; each (header, coding). One not undone (br,
    zstd: its decoding error alone would puzzle) is said in `notes` (None: no body to say it of),
    and the codings before it are not undone either."""
    undo = []
    for header in ("Transfer-Encoding", "Content-Encoding"):
        listed = [c.strip() for c in (header_value(headers, header) or "").lower().split(",")]
        undo += [(header, c) for c in reversed(listed) if c not in ("", "identity", "chunked")]
    for k, (header, coding) in enumerate(undo):
        if coding not in _INFLATES:
            if notes is not None:
                notes.append(f"its body was sent with {header} {coding}, which is not undone: {shown}")
            return tuple(undo[:k])
    return tuple(undo)


def _decoded(body: bytes, codings: tuple[tuple[str, str], ...], notes: list[str], inflated: list[int]) -> bytes:
    """`body` with its `codings` (see _codings) undone in turn, each said; one that cannot be
    (a bomb too) said, the body then as it is."""
    for header, coding in codings:
        if not body:
            break
        body, done = _inflate(body, coding, notes, inflated, "" if header == "Content-Encoding" else header)
        if not done:
            break
    return body


def _inflate(body: bytes, encoding: str, notes: list[str], inflated: list[int], header: str = "") -> tuple[bytes, bool]:
    """`body` inflated as the receiver inflates one (gzip's members in turn, deflate zlib's or
    raw), what inflates of one cut short too, and whether it was; `inflated` holds the bytes the
    capture's bodies have inflated to so far. A bomb (past MAX_INFLATED, or past what is left of
    MAX_INFLATED_TOTAL: every message is held) is said and its body shown as captured: one
    message's, not the reading of the whole capture, given up."""
    limit = min(MAX_INFLATED, MAX_INFLATED_TOTAL - inflated[0])
    sent = f"{header} {encoding}" if header else encoding
    try:
        out, cut = inflate_body(body, "deflate" if encoding == "deflate" else "gzip", limit, partial=True)
    except LimitExceededError:
        if limit == MAX_INFLATED:
            notes.append(f"its {sent} body inflates past {MAX_INFLATED} bytes (a decompression bomb, or more than "
                         "is read): not inflated, shown as captured")
        else:
            notes.append(f"its {sent} body is not inflated: the capture's gzip and deflate bodies inflate past "
                         f"{MAX_INFLATED_TOTAL} bytes in all (decompression bombs, or more than is held): shown "
                         "as captured")
        return body, False
    except DecodeError as exc:
        notes.append(f"its {sent} body could not be inflated ({_cause(exc)}): shown as captured")
        return body, False
    inflated[0] += len(out)
    notes.append(f"its {sent} body is cut short: what inflates of it is shown" if cut else
                 f"its body was sent {'with ' + sent if header else sent}: shown inflated")
    return out, True


def _cause(exc: DecodeError) -> str:
    """What inflate_body's error says of the bytes, without its words for a request's body."""
    text = str(exc)
    return text[text.index("(") + 1 : -1] if text.endswith(")") and "(" in text else text


def _segment_at(times: list[tuple[int, int, float | None]], offset: int) -> tuple[int, int, float | None]:
    """(offset, packet number, time) of the segment the byte at `offset` came in: the last one
    starting at or before it."""
    i = bisect_right(times, offset, key=itemgetter(0))
    return times[i - 1] if i else (0, 0, None)
