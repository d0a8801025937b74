"""The `mm7bind` command.

Exit codes: 0 done; 1 the message (or some of them) was refused, or a file is invalid;
2 bad arguments or unreadable input (for send: a message that cannot be built from them, whether
one, a campaign or queued); 3 bad configuration, or an address serve or simulate cannot
listen on; 4 no MMSC (for probe: the VASP; for mo: the simulator) answered (`_answers_exit`);
130 interrupted (Ctrl-C); 141 the output's reader went away (`| head`). README.md lists them all.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import re
import shlex
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, simdefaults
from .deadline import MAX_TIMEOUT
from .errors import (
    STORE_ERRORS,
    ConnectError,
    DecodeError,
    EncodeError,
    MM7Error,
    NotSOAPError,
    ValidationError,
)

# The rest is imported by the commands that use it: `mm7bind --help`, `version` or a mistyped option
# need not load the XML bindings, lxml and the HTTP stack first.
if TYPE_CHECKING:
    from .content import Content, Part
    from .envelope import Envelope
    from .pcap import CapturedMessage

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
EXIT_INVALID, EXIT_UNREADABLE = 1, 2
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141  # as a shell reports SIGINT and SIGPIPE
EXIT_CUT_OFF = 5  # serve stopped with requests in hand, closed unanswered (a supervisor can tell)

log = logging.getLogger("mm7bind.serve")


def _json(obj, indent: int | None = None) -> str:
    """`obj` as JSON for standard output: text as it is where the output's encoding holds it (UTF-8,
    GBK), as \\u escapes where not (an ASCII terminal, PYTHONIOENCODING=ascii): the same JSON either way."""
    from .display import json_text  # noqa: PLC0415

    text = json_text(obj, ensure_ascii=False, indent=indent)  # (controls from a peer's text escaped)
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return json.dumps(obj, indent=indent)
    return text


def _escape_what_stdout_cannot_encode() -> None:
    """A Chinese subject or file name printed where standard output cannot encode it (LANG=C on an
    older system, PYTHONIOENCODING=ascii, a Latin-1 terminal) is written as escapes, not ended by
    a UnicodeEncodeError halfway through the output."""
    if getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")


_verbose = False  # -v given: errors said in one line come with their Python traceback (for a bug report)


def _say_error(text: str, traceback_of: BaseException | None = None) -> None:
    """One line on standard error; with -v, the traceback behind it first."""
    if _verbose and traceback_of is not None:
        import traceback  # noqa: PLC0415

        traceback.print_exception(traceback_of, file=sys.stderr)
    print(text, file=sys.stderr)


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


class _Prefixed:
    """A binary file read on after its first bytes were taken (a pipe cannot be read again)."""

    def __init__(self, head: bytes, file):
        self.head, self.file = head, file

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            out, self.head = self.head + self.file.read(), b""
            return out
        if self.head:
            out = self.head[:n]
            self.head = self.head[len(out) :]
            return out
        return self.file.read(n)

    def fileno(self) -> int:
        return self.file.fileno()

    def tell(self) -> int:  # (with fileno: a compressed capture's size left, for its bound)
        return self.file.tell() - len(self.head)

    def seekable(self) -> bool:  # (a regular file: files joined with cat in it are read in time order)
        try:
            return self.file.seekable()
        except (OSError, ValueError):
            return False

    def seek(self, position: int) -> int:
        self.head = b""
        return self.file.seek(position)

    def close(self) -> None:
        if self.file is not sys.stdin.buffer:
            self.file.close()


def _opened(path: str) -> tuple[bytes | None, _Prefixed | None]:
    """What validate and inspect read: a packet capture as a file to read in pieces (a capture of
    gigabytes is not held whole: see pcap.CaptureStream), anything else as its bytes (_inflated)."""
    from .pcap import is_packet_capture  # noqa: PLC0415

    file = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 (closed by the caller, or here)
    with contextlib.ExitStack() as closing:
        if file is not sys.stdin.buffer:
            closing.callback(file.close)
        head = b""
        while len(head) < 4096 and (piece := file.read(4096 - len(head))):
            head += piece
        if is_packet_capture(head):
            closing.pop_all()
            return None, _Prefixed(head, file)
        data = head + file.read()
    return _inflated(data), None


def _in_order(keys: list[tuple]) -> list[int]:
    """Each of a capture's messages' number (pcap.capture_order's keys, in the order they came)."""
    numbers = [0] * len(keys)
    for n, i in enumerate(sorted(range(len(keys)), key=keys.__getitem__), 1):  # (stable: a connection's own in turn)
        numbers[i] = n
    return numbers


def _inflated(data: bytes) -> bytes:
    """What validate and inspect read: a gzip-compressed file (a saved body, an HTTP capture)
    inflated within pcap.gunzip's bound; a compressed packet capture is left to read_capture,
    which inflates it and says so in its notes."""
    from .pcap import gunzip, is_gzip, is_packet_capture  # noqa: PLC0415

    for magic, name, tool in _COMPRESSED:
        if data.startswith(magic) and (name != "bzip2" or data[3:4].isdigit()):  # (else: "neither XML nor MIME")
            raise DecodeError(f"the file is {name}-compressed, which is not read: decompress it first ({tool}) and "
                              "read it as it is (gzip-compressed files are read as they are)")
    return gunzip(data) if is_gzip(data) and not is_packet_capture(data) else data


# Other compressors' magics: a capture saved so (dumpcap's ring buffer with --compress lz4,
# `zstd`/`xz`/`bzip2` on a rotated file)
_COMPRESSED = ((b"\x28\xb5\x2f\xfd", "zstd", "zstd -d"), (b"\xfd7zXZ\x00", "xz", "xz -d"),
               (b"\x04\x22\x4d\x18", "lz4", "lz4 -d"), (b"BZh", "bzip2", "bunzip2"))


def _decode_capture(data: bytes, strict: bool = False) -> tuple[Envelope, str | None, dict[str, str], list[str]]:
    """A SOAP XML file, a MIME body, or a raw HTTP request/response capture (its body chunked or
    compressed as HTTP sent it: read as a packet capture's are, said in the notes)."""
    from .codec import decode, split_http  # noqa: PLC0415
    from .mime import header_value  # noqa: PLC0415
    from .pcap import http_body  # noqa: PLC0415

    start_line, headers, body = split_http(data)
    body, notes = http_body(headers, body) if start_line else (body, [])
    ctype = header_value(headers, "content-type")
    request = bool(start_line) and not start_line.startswith("HTTP/")
    try:
        env = decode(body, ctype, strict=strict)
    except DecodeError as exc:
        if request:
            _said_by_refused_request(exc, headers)
        if not notes:
            raise
        # (a body cut short fails as a MIME or XML error: the notes say why)
        exc.args = (f"{exc} (the saved HTTP message: {'; '.join(notes)})", *exc.args[1:])
        raise
    if request:
        _said_by_request(env, headers)
    return env, start_line, headers, notes


def _said_by_request(env: Envelope, headers: dict[str, str]) -> None:
    """A request's SOAPAction, as the receiver reports it (never a reason to refuse)."""
    from .codec import soap_action_deviation  # noqa: PLC0415
    from .mime import header_value  # noqa: PLC0415

    action = soap_action_deviation(header_value(headers, "soapaction"), env)
    if action is not None:
        env.deviations.insert(0, action)


def _said_by_refused_request(exc: DecodeError, headers: dict[str, str]) -> None:
    """The same for a request strict validation refused having read it whole: its SOAPAction is
    listed among the refusal's deviations, as in --lenient's (left out, fixing what was listed
    brought up one more)."""
    from .codec import soap_action_deviation  # noqa: PLC0415
    from .mime import header_value  # noqa: PLC0415

    if isinstance(exc, ValidationError) and exc.envelope is not None:
        action = soap_action_deviation(header_value(headers, "soapaction"), exc.envelope)
        if action is not None:
            exc.deviations.insert(0, action)


def _named(args) -> str:
    """The command as given, for the prefix of its lines: "send", "store show", "config check"."""
    return " ".join(filter(None, (args.command, getattr(args, "store_command", None),
                                  getattr(args, "config_command", None))))


def _config(args, uses: tuple[str, ...] | None = ()):
    """The configuration, or its problems and exit 3. Its warnings that concern `uses` (what the
    command does: see `Config.say_warnings`) are said now, on standard error; None: the command
    says them itself (`_say_warnings`), once its options have changed what they change."""
    from .config import ConfigError, load_checked  # noqa: PLC0415

    path = getattr(args, "config", None)
    if getattr(args, "conn_config", None) and not (path and path.lower().endswith(".xml")):
        print(f"mm7bind {_named(args)}: --conn-config goes with a China Mobile mm7Config.xml as --config "
              "(a TOML configuration holds those settings itself)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    try:
        if path and path.lower().endswith(".xml"):
            from .cmcc.config import load_cmcc  # noqa: PLC0415

            cfg = load_cmcc(path, getattr(args, "conn_config", None), say_warnings=False)
        else:
            cfg = load_checked(path, say_warnings=False)
    except ConfigError as exc:
        # (prefixed as every command's errors are; without a file, the problems are the variables':
        # the defaults have none)
        print(f"mm7bind {_named(args)}: configuration {path or 'from the MM7BIND_ variables'} has problems:",
              file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    if uses is not None:
        cfg.say_warnings(uses)
    return cfg


def _say_warnings(cfg, uses: tuple[str, ...]) -> None:
    """The configuration's warnings that concern `uses` (see `Config.say_warnings`), found again on
    what the command line changed (--mmsc, --host, --out, --forward): the file's value of those is
    not what runs, nor what a warning should be about."""
    from .config import check  # noqa: PLC0415

    fresh = [p for p in check(cfg) if p.level == "warning"]
    if cfg.source.lower().endswith(".xml"):  # (China Mobile's mm7Config.xml)
        from .cmcc.config import in_file_terms  # noqa: PLC0415

        # Said as the file's, by its elements, where the file said so too (the value is the file's);
        # one the options brought about stays in the settings' words (--mmsc's URL is no mmscIP).
        known = {(p.where, p.message) for p in cfg.warnings}
        fresh = [said if (said.where, said.message) in known else p for p, said in zip(fresh, in_file_terms(cfg, fresh))]
    cfg.warnings = [p for p in cfg.warnings if not p.about] + fresh
    cfg.say_warnings(uses)


# ---------------------------------------------------------------------------------------------
# Inspecting messages


def _by_number(values) -> list[str]:
    """MM7Version values in version order (5.3.0 before 5.10.0), not as text sorts them."""
    return sorted(values, key=lambda v: [int(p) if p.isdigit() else 0 for p in v.split(".")])


def cmd_versions(args: argparse.Namespace) -> int:
    from . import versions  # noqa: PLC0415

    rows = versions.all_versions()
    # The MM7Version sent by default is said apart: listed by number, REL-6-MM7-1-4's would read
    # as 5.3.0 first, and REL-5-MM7-1-2 sends 5.3.0, not its own 5.5.0.
    if args.json:
        print(_json([
            {"name": v.name, "namespace": v.namespace, "mm7_versions": _by_number(v.mm7_versions),
             "default_mm7_version": v.default_mm7_version, "nominal_mm7_version": v.nominal_mm7_version,
             "pairing": v.pairing, "origin": v.origin}
            for v in rows
        ], indent=2))
        return EXIT_OK
    width = max(len(v.name) for v in rows)
    for v in rows:
        print(f"{v.name:<{width}}  {v.namespace}  MM7Version {', '.join(_by_number(v.mm7_versions))}; "
              f"sends {v.default_mm7_version}  ({v.origin})")
    return EXIT_OK


def _expand(paths: list[str], folder_of: dict[str, str] | None = None) -> list[str]:
    """Files as given; a directory stands for the files in it and below (hidden ones left out), or
    for itself when it has none (said unreadable: checking nothing is no success). `folder_of`, if
    given, gets the directory each file found so came from."""
    out = []
    for path in paths:
        p = Path(path)
        if path != "-" and p.is_dir():
            found = sorted(str(f) for f in p.rglob("*")
                           if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if folder_of is not None:
                folder_of.update(dict.fromkeys(found, path))
            out += found or [path]
        else:
            out.append(path)
    return out


# What any MM7 message, MIME body or HTTP capture has at a line's start within its first bytes: a
# tag (or one escaped as in HTML), a MIME boundary (a line of dashes alone is a Markdown rule), a
# MIME or SOAP header, an HTTP start line (some samples lose its spaces: "POST/mm7HTTP/1.1")
_MESSAGE_LIKE = re.compile(rb"^[ \t]*(?:<|&lt;|--+[^-\s]|(?:content-type|content-id|mime-version|soapaction)[ \t]*:"
                           rb"|(?:post|put|get)[ \t]*/|http/\d)", re.IGNORECASE | re.MULTILINE)


def _message_like(data: bytes) -> bool:
    """Whether a file may be an MM7 message, MIME body or HTTP capture (a file read whole: a packet
    capture and a compressed file are told by their magic before). Notes, READMEs and extracted
    images in a folder of captures are not; UTF-16 text is read as its ASCII."""
    head = data[:8192].replace(b"\x00", b"")
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        head = head.removeprefix(bom)
    return _MESSAGE_LIKE.search(head) is not None


def _content_document(data: bytes, exc: DecodeError) -> bool:
    """Whether a file that is no SOAP envelope is a content part's XML document (SMIL, SVG,
    XHTML), as inspect --extract writes beside the captures, rather than an MM7 message without
    its envelope (a bare SubmitReq, Body or Fault), or a MIME body or HTTP message whose SOAP part
    is none: messages that cannot be read."""
    from .messages import MESSAGE_TYPES  # noqa: PLC0415

    root = getattr(exc, "root", None) if isinstance(exc, NotSOAPError) else None
    head = data[:64].replace(b"\x00", b"")  # (UTF-16's NULs gone, as _message_like reads it)
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        head = head.removeprefix(bom)
    return (bool(root) and head.lstrip().startswith(b"<") and root not in MESSAGE_TYPES
            and root not in ("Envelope", "Header", "Body", "Fault", "TransactionID"))


_SAVED_BY_SERVE_HEAD = "what `mm7bind serve` saved"
_SAVED_BY_SERVE = (_SAVED_BY_SERVE_HEAD + " (the message decoded): `mm7bind store show {id}{config} --raw - | "
                   "mm7bind validate -` checks it as it came{whose}")


def _saved_by_serve_hint(id: int | str, mark: object = None) -> str:
    """_SAVED_BY_SERVE for record `id`, with `-c CONFIG` unless the store a command finds without
    one (the variables', else mm7bind.db here) is the one serve saved it from: its record `id`
    the message `mark` names (message.json's "record": its number and when it came). Not there,
    `store show` without it says only "no store"; another store there (serve ran with a
    configuration naming its own), it shows another message under that number."""
    from .config import load  # noqa: PLC0415

    if _default_store_holds(load(None)[0].store.path, mark):
        return _SAVED_BY_SERVE.format(id=id, config="", whose="")
    return _SAVED_BY_SERVE.format(id=id, config=" -c CONFIG", whose=" (CONFIG: the configuration serve ran with)")


def _default_store_holds(path: str, mark: object) -> bool:
    """Whether the store at `path` holds the message serve saved with `mark` (message.json's
    "record"; without one, whether there is a store at all: nothing to tell it by)."""
    from .store import SqliteStore  # noqa: PLC0415

    if not Path(path).exists():
        return False
    if not (isinstance(mark, dict) and isinstance(mark.get("id"), int) and isinstance(mark.get("received_at"), str)):
        return True
    if path not in _HINT_STORES:
        try:  # (read only: a hint writes nothing, not even a lock file, beside a store)
            _HINT_STORES[path] = SqliteStore(path, read_only=True, wait=1)
        except Exception:  # (not a store, a newer one, busy: it cannot be told to hold it)
            _HINT_STORES[path] = None
    store = _HINT_STORES[path]
    try:
        rec = store.inbox_get(mark["id"]) if store is not None else None
    except Exception:
        return False
    return rec is not None and rec.received_at.isoformat() == mark["received_at"]


# The stores `_default_store_holds` opened, by path (None: one that could not be opened), for the
# run of validate that asks (it closes them): a folder of serve's thousands of files is one opening.
_HINT_STORES: dict[str, object] = {}


def _saved_by_serve(path: str, data: bytes) -> str | None:
    """The message.json `serve` writes beside a received message's parts, said as such, with the
    command that gives what validate reads (the store's record: the folder's number), else None."""
    if Path(path).name != "message.json":
        return None
    try:
        saved = json.loads(data)
    except ValueError:
        return None
    if not (isinstance(saved, dict) and {"transaction_id", "message", "deviations"} <= saved.keys()):
        return None
    number = Path(path).parent.name.partition("-")[0]  # (<n>-<TransactionID>: n the store's record, 0 without one)
    return _saved_by_serve_hint(int(number) if number.isdigit() and int(number) else "ID", saved.get("record"))


def _validated(path: str, lenient: bool, skip_unlike: bool = False) -> list[dict]:
    """What validate finds in one file, for each message in it (one, or a packet capture's): its
    result (valid, accepted, invalid, unreadable), the message's type and version when it was
    read, the deviations, or the error. With `skip_unlike` (a file found in a folder), one that is
    no message at all (_message_like) is "skipped", its error saying why."""
    from .pcap import is_packet_capture  # noqa: PLC0415

    out = {"path": path, "result": "unreadable", "message_type": None, "version": None, "deviations": [],
           "error": None}  # (every key always there, for scripts)
    if path != "-" and Path(path).is_dir():
        return [out | {"error": "a folder with no files in it (hidden ones left out)"}]
    try:
        data, file = _opened(path)
    except OSError as exc:
        return [out | {"error": exc.strerror or str(exc)}]
    except DecodeError as exc:
        return [out | {"error": str(exc)}]
    if file is None and not is_packet_capture(data):
        if skip_unlike and data and not _message_like(data):  # (an empty file: a capture cut off, said unreadable)
            return [out | {"result": "skipped", "error": _saved_by_serve(path, data) or
                           "not an MM7 message, MIME body, HTTP capture or packet capture by its first bytes"}]
        try:
            env, _, _, _ = _decode_capture(data, strict=not lenient)
        except DecodeError as exc:
            if skip_unlike and _content_document(data, exc):
                return [out | {"result": "skipped", "error": f"an XML document, no MM7 message (root element "
                               f"{exc.root}): a content part, as inspect --extract writes one"}]
            return [out | _validation(None, exc)]
        return [out | _validation(env)]
    return _validated_capture(out, file or data, path, lenient)


def _validated_capture(out: dict, source, path: str, lenient: bool) -> list[dict]:
    """validate of a packet capture: its bytes, its file, or several files read as one (a list of
    their paths: each message's path is then its file's, numbered among that file's messages)."""
    from .codec import decode  # noqa: PLC0415
    from .mime import header_value  # noqa: PLC0415
    from .pcap import CaptureStream, capture_order  # noqa: PLC0415

    # Each message checked as its connection is done, and let go: what is kept of it is small
    stream = CaptureStream(source)
    keys, files, found = [], [], []  # (each message's place and file; (its index among them, what was found))
    try:
        for msg in stream:
            keys.append(capture_order(msg))
            files.append(msg.file or path)
            if not _may_be_mm7(msg):  # (100 Continue, a 401's challenge, a health check: no MM7 to validate)
                continue
            entry = out | {"capture": _captured(msg)}
            try:
                env = decode(msg.body, header_value(msg.headers, "content-type"), strict=not lenient)
            except DecodeError as exc:
                if msg.is_request:
                    _said_by_refused_request(exc, msg.headers)
                found.append((len(keys) - 1, entry | _validation(None, exc)))
                continue
            if msg.is_request:
                _said_by_request(env, msg.headers)
            found.append((len(keys) - 1, entry | _validation(env)))
    except DecodeError as exc:
        return [out | {"error": str(exc)}]
    except OSError as exc:  # (read as it goes: a disk's error may come midway)
        return [out | {"error": exc.strerror or str(exc)}]
    finally:
        if hasattr(source, "close"):
            source.close()
    if not found:
        return [out | {"error": "no HTTP message in the capture holds XML or a multipart body"
                       + (f" ({'; '.join(stream.notes[:3])})" if stream.notes else "")}]
    numbers = _in_order(keys)
    # (each message numbered among its own file's: FILE#N is the one message N of FILE alone would be)
    counted: dict[str, int] = {}
    local = [0] * len(keys)
    for i in sorted(range(len(keys)), key=numbers.__getitem__):
        local[i] = counted[files[i]] = counted.get(files[i], 0) + 1
    return [entry | {"path": f"{files[i]}#{local[i]}"} for i, entry in sorted(found, key=lambda f: numbers[f[0]])]


def _captures_among(paths: list[str]) -> list[str]:
    """Those of `paths` that are packet captures (stdin never: it is read once)."""
    from .pcap import is_packet_capture  # noqa: PLC0415

    out = []
    for path in paths:
        if path == "-":
            continue
        try:
            with open(path, "rb") as file:
                if is_packet_capture(file.read(4096)):
                    out.append(path)
        except OSError:
            pass  # (said when it is read)
    return out


def _validation(env: Envelope | None, exc: DecodeError | None = None) -> dict:
    if isinstance(exc, ValidationError):
        read = exc.envelope  # (the message as read before it was refused, where it was read whole)
        return {"result": "invalid", "deviations": exc.deviations} | ({} if read is None else {
            "message_type": "Fault" if read.is_fault else read.body.ELEMENT,
            "version": read.version.name if read.version else None})
    if exc is not None:
        return {"error": str(exc)}
    return {"result": "accepted" if env.deviations else "valid", "deviations": env.deviations,
            "message_type": "Fault" if env.is_fault else env.body.ELEMENT,
            "version": env.version.name if env.version else None}


def _may_be_mm7(msg: CapturedMessage) -> bool:
    """Whether a captured HTTP message may hold MM7: a body, labelled as XML or multipart (or not
    labelled at all); a 401's "authentication required" or an HTML error page is no MM7 to read."""
    from .mime import header_value  # noqa: PLC0415

    media = (header_value(msg.headers, "content-type") or "").partition(";")[0].strip().lower()
    return bool(msg.body) and (not media or media.startswith("multipart/") or media.endswith(("/xml", "+xml")))


def _captured(msg: CapturedMessage) -> dict:
    """Where a message of a packet capture was, for validate and inspect (its file where several
    were read as one). Its start line without a password (a proxy's request: POST http://sp:pw@mmsc/mm7)."""
    from .display import shown_start_line  # noqa: PLC0415

    return ({"file": msg.file} if msg.file else {}) | {
        "packet": msg.packet, "connection": msg.connection, "from": msg.source, "to": msg.destination,
        "time": msg.time.isoformat() if msg.time else None, "start_line": shown_start_line(msg.start_line)}


def _validations(given: list[str], lenient: bool):
    """validate's results, file by file (each a list: a packet capture's messages), as they are
    found: a big folder shows progress."""
    folder_of: dict[str, str] = {}
    paths = _expand(given, folder_of)
    # (a file named is checked whatever it holds; in a folder, notes, READMEs, extracted images and SMILs
    # beside the captures are skipped, but a folder of nothing else had nothing checked: no success)
    checked = dict.fromkeys(folder_of.values(), False)
    serving: dict[str, bool] = {}  # the folders holding what `serve` saved: whether their hint needs -c CONFIG
    # Several packet captures are read as one (a ring buffer's files: a connection spanning two is
    # read whole), where the first of them comes
    captures = list(dict.fromkeys(_captures_among(paths))) if len(paths) > 1 else []
    captures, joined = captures if len(captures) > 1 else [], False
    for path in paths:
        if path in captures:
            if joined:
                continue
            joined = True
            out = {"path": path, "result": "unreadable", "message_type": None, "version": None, "deviations": [],
                   "error": None}
            checked |= {folder_of[c]: True for c in captures if c in folder_of}
            yield _validated_capture(out, captures, path, lenient)
            continue
        results = _validated(path, lenient, skip_unlike=path in folder_of)
        if path in folder_of and any(f["result"] != "skipped" for f in results):
            checked[folder_of[path]] = True
        said = next((f["error"] for f in results if f["error"] and f["error"].startswith(_SAVED_BY_SERVE_HEAD)), None)
        if path in folder_of and said is not None:  # (with -c CONFIG as its messages' hints: their store is known)
            serving.setdefault(folder_of[path], " -c CONFIG " in said)
        yield results
    for folder in (f for f, any_checked in checked.items() if not any_checked):
        skipped = sum(f == folder for f in folder_of.values())
        # (serve's out folder, given as the messages received: where those are)
        saved = "" if folder not in serving else "; " + _SAVED_BY_SERVE.format(
            id="ID", config=" -c CONFIG" if serving[folder] else "",
            whose=" (CONFIG: the configuration serve ran with)" if serving[folder] else "").replace("checks it", "checks one")
        yield [{"path": folder, "result": "unreadable", "message_type": None, "version": None, "deviations": [],
                "error": f"a folder with no MM7 message or capture in it ({skipped} file(s) skipped){saved}"}]


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        return _validate_paths(args)
    finally:  # (the stores the hints about serve's files looked into: opened once a run, not once a file)
        for store in _HINT_STORES.values():
            if store is not None:
                store.close()
        _HINT_STORES.clear()


def _validate_paths(args: argparse.Namespace) -> int:
    from .display import printable  # noqa: PLC0415
    from .jsonable import deviation_json  # noqa: PLC0415
    from .validation import without_namespaces  # noqa: PLC0415

    worst, found = EXIT_OK, []
    for results in _validations(args.paths, args.lenient):
        for f in results:
            worst = max(worst, {"unreadable": EXIT_UNREADABLE, "invalid": EXIT_INVALID}.get(f["result"], EXIT_OK))
            if args.json:
                f["deviations"] = [deviation_json(d) for d in f["deviations"]]
                found.append(f)
                continue
            where = printable(f["path"])  # (a file name in a folder given is anyone's)
            if "capture" in f:
                c = f["capture"]
                # (the packet its first byte came in: Wireshark's frame number, in FILE, to find it there)
                where += f" (packet {c['packet']}, {c['from']} → {c['to']}: {printable(c['start_line'])})"
            # (errors and deviations quote what the file holds: no escape sequence reaches the terminal)
            if f["result"] == "unreadable":  # (each file as it is read: a big folder shows progress)
                print(f"{where}: unreadable: {printable(f['error'])}")
            elif f["result"] == "skipped":
                print(f"{where}: skipped: {f['error']}")
            elif f["result"] == "invalid":
                print(f"{where}: INVALID" + (f" ({f['message_type']}, {f['version']})" if f["message_type"] else ""))
            elif f["result"] == "accepted":
                print(f"{where}: accepted with {len(f['deviations'])} deviation(s) ({f['message_type']}, "
                      f"{f['version']})")
            else:
                print(f"{where}: valid ({f['message_type']}, {f['version']})")
            for d in f["deviations"]:
                print(f"  {printable(d)}")
                # (the validator's own words where our message rewords them; not the same again with
                # namespaces in)
                if d.details and without_namespaces(d.details) != d.message:
                    print(f"    libxml2: {printable(d.details)}")
    if args.json:
        print(_json(found, indent=2))
    return worst


def describe_part(part: Part, role: str) -> dict:
    out = {
        "role": role, "content_type": part.content_type, "charset": part.charset, "content_id": part.content_id,
        "content_location": part.content_location, "filename": part.filename, "size": part.size,
        "sha256": part.sha256(),
    }
    return {k: v for k, v in out.items() if v is not None}


def describe(env: Envelope) -> dict:
    from .jsonable import deviation_json, to_jsonable  # noqa: PLC0415

    body = env.body
    content: Content | None = getattr(body, "content", None)
    fields = to_jsonable(body)
    fields.pop("content", None)
    return {
        "version": env.version.name if env.version else None,
        "namespace": env.namespace or (env.version.namespace if env.version else None),
        "message_type": "Fault" if env.is_fault else body.ELEMENT,
        "transaction_id": env.transaction_id,
        "mm7_version": getattr(body.detail, "mm7_version", None) if env.is_fault else body.mm7_version,
        "encoding": env.encoding,
        "fields": fields,
        "attachments": [describe_part(p, "smil" if p is content.smil else "part") for p in content.all_parts()]
        if content else [],
        "deviations": [deviation_json(d) for d in env.deviations],
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    from .display import mask_headers, shown_start_line  # noqa: PLC0415
    from .pcap import is_packet_capture  # noqa: PLC0415

    if len(args.paths) > 1:  # (a ring buffer's files: read as one capture)
        unreadable = next((p for p in args.paths if p == "-" or not os.access(p, os.R_OK) or os.path.isdir(p)), None)
        if unreadable is not None:
            print(_json({"error": "OSError", "message": f"cannot read {unreadable}" + (
                " among several files (stdin is read alone)" if unreadable == "-" else "")}, indent=2))
            return EXIT_UNREADABLE
        others = [p for p in args.paths if p not in _captures_among([p])]
        if others:
            print(_json({"error": "DecodeError", "message": f"{others[0]} is no packet capture: several files are read "
                         "as one capture (each a pcap or pcapng file), other files one at a time "
                         f"(mm7bind inspect {shlex.quote(others[0])}; mm7bind validate reads several)"}, indent=2))
            return EXIT_UNREADABLE
        args.path = args.paths[0]
        return _inspect_capture(args, list(dict.fromkeys(args.paths)))
    args.path = args.paths[0]
    try:  # (what inspect prints is JSON, a file it cannot read or decode too: one shape for a script)
        data, file = _opened(args.path)
    except OSError as exc:
        print(_json({"error": type(exc).__name__, "message": f"cannot read {args.path}: {exc.strerror or exc}"},
                    indent=2))
        return EXIT_UNREADABLE
    except DecodeError as exc:
        print(_json({"error": type(exc).__name__, "message": str(exc)}, indent=2))
        return EXIT_UNREADABLE
    if file is not None:
        return _inspect_capture(args, file)
    if is_packet_capture(data):
        return _inspect_capture(args, data)
    try:
        env, start_line, headers, notes = _decode_capture(data)
    except DecodeError as exc:
        print(_json({"error": type(exc).__name__, "message": str(exc)}, indent=2))
        return EXIT_UNREADABLE
    out = describe(env)
    if start_line:  # (credentials masked, as in a log: what inspect prints gets pasted into tickets)
        out["http"] = ({"start_line": shown_start_line(start_line), "headers": mask_headers(headers)}
                       | ({"notes": notes} if notes else {}))
    if args.extract:
        out["extracted"] = _extract(env, args.extract, "inspect")
    print(_json(out, indent=2))
    return EXIT_OK


def _inspect_capture(args: argparse.Namespace, source) -> int:
    """inspect of a packet capture (its bytes, or its file), read once: every HTTP message in it,
    each MM7 one decoded as its connection is done and let go. --extract writes each one's parts
    into a folder named after its number, known at the capture's end: written as the message comes
    into a hidden folder in DIR, each is moved to its number's at the end (see _Extracting)."""
    from .codec import decode  # noqa: PLC0415
    from .display import mask_headers  # noqa: PLC0415
    from .mime import header_value  # noqa: PLC0415
    from .pcap import CaptureStream, capture_order  # noqa: PLC0415

    extracting = _Extracting(args.extract) if args.extract else None
    try:
        stream = CaptureStream(source)
        keys, shown = [], []
        for msg in stream:
            keys.append(capture_order(msg))
            entry: dict = {"number": 0, **_captured(msg)}
            entry["http"] = {"start_line": entry.pop("start_line"), "headers": mask_headers(msg.headers)}
            if msg.notes:
                entry["notes"] = msg.notes
            if msg.body and not _may_be_mm7(msg):
                entry["body"] = {"content_type": header_value(msg.headers, "content-type"), "size": len(msg.body)}
            elif msg.body:
                try:
                    env = decode(msg.body, header_value(msg.headers, "content-type"))
                    if msg.is_request:
                        _said_by_request(env, msg.headers)
                except DecodeError as exc:
                    entry["error"] = {"error": type(exc).__name__, "message": str(exc)}
                else:
                    entry.update(describe(env))
                    if extracting is not None:
                        extracting.stage(env, len(keys) - 1, entry)
            shown.append(entry)
        numbers = _in_order(keys)
        if extracting is not None:
            extracting.finish(numbers)
    except DecodeError as exc:
        print(_json({"error": type(exc).__name__, "message": str(exc)}, indent=2))
        return EXIT_UNREADABLE
    except OSError as exc:  # (read as it goes: a disk's error may come midway)
        print(_json({"error": type(exc).__name__, "message": f"cannot read {args.path}: {exc.strerror or exc}"},
                    indent=2))
        return EXIT_UNREADABLE
    finally:
        if hasattr(source, "close"):
            source.close()
        if extracting is not None:
            extracting.clean()
    for entry, number in zip(shown, numbers):
        entry["number"] = number
    shown = [entry for _, entry in sorted(zip(numbers, shown), key=itemgetter(0))]
    print(_json({"messages": shown, "notes": stream.notes}, indent=2))
    return EXIT_OK if any("message_type" in e for e in shown) else EXIT_UNREADABLE


class _Extracting:
    """inspect --extract DIR of a capture read once: a message's parts are written as it comes, into
    a hidden folder in DIR under its place in the reading (its number, its place in the capture, is
    known at the end), and each folder moved to DIR/<number> once the numbers are: renamed whole, or
    where that folder is there already, its files moved into it as Content.save writes them
    ("-2" for a name taken). Nothing is left in DIR of a reading that fails. The hidden folder's
    name holds its process (holders.this_process): one left by a run that was killed is removed by
    the next run extracting into DIR, one of a run still going (in another process) left alone."""

    PREFIX = ".mm7bind-extracting-"

    def __init__(self, folder: str):
        self.folder = folder
        self.staging: str | None = None  # (made with the first message to extract: DIR as before if none)
        self.staged: list[tuple[int, dict, list[str]]] = []  # (message's index, its entry, its parts' own names)

    def stage(self, env: Envelope, index: int, entry: dict) -> None:
        import tempfile  # noqa: PLC0415

        from .content import file_name  # noqa: PLC0415

        content = getattr(env.body, "content", None)
        if not content:
            entry["extracted"] = []
            return
        if self.staging is None:
            try:
                os.makedirs(self.folder, exist_ok=True)
                self._clear_left()
                self.staging = tempfile.mkdtemp(prefix=self._prefix(), dir=self.folder)
            except OSError as exc:
                print(f"mm7bind inspect: cannot write into {self.folder}: {_not_written(exc)}", file=sys.stderr)
                raise SystemExit(EXIT_USAGE) from None
        entry["extracted"] = _extract(env, os.path.join(self.staging, str(index)), "inspect", shown=self.folder)
        self.staged.append((index, entry, [file_name(p) for p in content.all_parts()]))

    @classmethod
    def _prefix(cls) -> str:
        from urllib.parse import quote  # noqa: PLC0415

        from .holders import this_process  # noqa: PLC0415

        holder = quote(this_process() or "", safe="")
        # (none where /proc does not tell, or too long for a name: such a folder is never taken for left)
        return f"{cls.PREFIX}{holder}-" if holder and len(holder) <= 200 else cls.PREFIX

    def _clear_left(self) -> None:
        """Hidden folders of runs into DIR that were killed (their process gone, as holders.gone
        tells it: any doubt, or a folder named by no process, and it stays)."""
        from urllib.parse import unquote  # noqa: PLC0415

        from .holders import gone  # noqa: PLC0415

        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not entry.name.startswith(self.PREFIX):
                    continue
                # (mkdtemp's own part, after the last "-", has none: the holder, quoted, is what precedes it)
                holder = unquote(entry.name[len(self.PREFIX) :].rpartition("-")[0])
                if holder and entry.is_dir(follow_symlinks=False) and gone(holder):
                    shutil.rmtree(entry.path, ignore_errors=True)

    def finish(self, numbers: list[int]) -> None:
        from .content import save_files  # noqa: PLC0415

        for index, entry, names in self.staged:
            staged, target = os.path.join(self.staging, str(index)), os.path.join(self.folder, str(numbers[index]))
            try:
                os.rename(staged, target)  # (onto nothing, or an empty folder: the names as they are)
                continue
            except OSError:
                pass
            try:  # (a folder with files, from an earlier run: they are kept, as Content.save keeps them)
                entry["extracted"] = save_files(target, [(name, functools.partial(open, os.path.join(staged, saved),
                                                                                   "rb"))
                                                         for name, saved in zip(names, entry["extracted"])])
            except OSError as exc:
                print(f"mm7bind inspect: cannot write into {target}: {_not_written(exc)}", file=sys.stderr)
                raise SystemExit(EXIT_USAGE) from None

    def clean(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)


def _extract(env: Envelope, folder: str, command: str, shown: str | None = None) -> list[str]:
    """--extract: the message's parts written into `folder` → their names; a usage error when the
    folder cannot be written (said as `shown`, if given)."""
    content = getattr(env.body, "content", None)
    try:
        return content.save(folder) if content else []
    except OSError as exc:
        print(f"mm7bind {command}: cannot write into {shown or folder}: {_not_written(exc)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def _not_written(exc: OSError) -> str:
    """Why --extract's folder could not be written: "File exists" for a DIR that is a file said
    what that means."""
    if isinstance(exc, FileExistsError) and exc.filename and Path(exc.filename).exists() \
            and not Path(exc.filename).is_dir():
        return "it is a file, not a folder"
    return exc.strerror or str(exc)


# ---------------------------------------------------------------------------------------------
# Sending


def _content(args) -> Content | None:
    from .content import Content, Part  # noqa: PLC0415

    content = Content()
    if args.text is not None:
        content.add_text(args.text, charset="utf-8")
    for path in args.attach or []:
        try:
            content.add_file(path)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot read the attachment {path}: {exc.strerror or exc}") from exc
    if args.smil:
        try:
            content.smil = Part.from_file(args.smil, "application/smil")
        except OSError as exc:  # (said as such: it is no attachment)
            raise OSError(exc.errno, f"cannot read the SMIL {args.smil}: {exc.strerror or exc}") from exc
        head = content.smil.blob.read()[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head.startswith(b"<") or b"<smil" not in head.lower():
            raise ValueError(f"--smil {args.smil} is not a SMIL document (no <smil> element at its start)")
    for part in [*content.parts, *([content.smil] if content.smil else [])]:
        if not part.size:  # (sent as it is, as the codec's warning says; said here, where -v is not given)
            which = "--text" if args.text is not None and content.parts and part is content.parts[0] else (
                "--smil" if part is content.smil else part.filename or part.content_location or "a part")
            print(f"mm7bind send: note: {which} holds no bytes: it is sent as it is, but no handset shows it",
                  file=sys.stderr)
    return content if content.parts or content.smil else None


def _mis_encoded_argument(args: argparse.Namespace, paths: tuple[str, ...]) -> str | None:
    """What to say of a text argument whose bytes are not in the locale's encoding: a terminal set
    to GBK under a UTF-8 locale (or the reverse) hands Python bytes it keeps as lone surrogates,
    which would be refused later as "U+DCC4 cannot be sent in XML". File names (`paths`) may hold
    any bytes: they are left alone."""
    for dest, value in vars(args).items():
        for text in (value if isinstance(value, list) else [value]):
            if dest in paths or not isinstance(text, str) or not any("\udc80" <= c <= "\udcff" for c in text):
                continue
            raw = os.fsencode(text)
            option = {"sender": "--from"}.get(dest, "--" + dest.replace("_", "-"))
            try:
                hint = f"; as GBK they read {raw.decode('gb18030')!r}"
            except UnicodeDecodeError:
                hint = ""
            return (f"{option} holds bytes that are not {sys.getfilesystemencoding()} (the locale's encoding, "
                    f"LANG or LC_ALL): {raw!r}{hint}; set the terminal and the locale to the same encoding")
    return None


class _SendUsage(Exception):
    """An argument of `send` that cannot be used, found before anything is sent: its words, said as
    `mm7bind send: <words>` with exit 2 by `cmd_send`, which the checks in their order end at."""


def cmd_send(args: argparse.Namespace) -> int:
    """`mm7bind send`: every argument checked before anything is sent or queued, then one message,
    the outbox's batches (--queue) or a campaign, said as each is."""
    from .bulk import send_bulk  # noqa: PLC0415

    store = None
    try:
        mis_encoded = _mis_encoded_argument(args, ("attach", "smil", "to_file", "config", "conn_config"))
        if mis_encoded:
            raise _SendUsage(mis_encoded)
        cfg = _config(args, uses=None)
        recipients = _send_recipients(args)
        content = _send_content(args)
        profile, simulator_by_default = _send_profile(args, cfg)
        _check_send_options(args)
        store = _store(cfg, command="send") if args.store or args.tag or args.queue else None
        template = _send_template(args, recipients, content)
    except _SendUsage as exc:
        if store is not None:  # (opened before the last checks: let go, as a send would)
            store.close()
        print(f"mm7bind send: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _before_sending(args, cfg, content)
    resend = True if args.resend_unanswered else None  # (None: as retry_on_timeout says)
    # (by the option, not the count: a --to-file of one recipient printed one send's JSON, and
    # a script reading a campaign's counts from it found none)
    single = len(recipients) == 1 and not args.to_file and not args.queue
    with _sigterm_as_ctrl_c(), cfg.make_client(store=store, profile=profile) as client:
        if not single:
            # A message that cannot be built is the arguments' fault, whatever the number of
            # recipients: exit 2 before any goes out or is queued, as for a single send (a campaign
            # failed each recipient with it, exit 1, and claimed each under its tag).
            try:
                client.prepare(template)
            except EncodeError as exc:
                return _not_sent(args, exc, f"mm7bind send: cannot build the message (nothing "
                                 f"{'queued' if args.queue else 'sent'})", EXIT_USAGE)
        if args.queue:
            return _send_queued(args, cfg, client, template, recipients, resend)
        if single:
            return _send_one(args, client, store, template, recipients[0], resend, simulator_by_default)
        bar = _Progress(enabled=not args.quiet and not args.json)
        try:
            result = send_bulk(client, template, recipients, concurrency=args.concurrency, progress=bar.update,
                               tag=args.tag, resend_unanswered=resend, stop_after_refused=args.stop_after_refused,
                               retry_refused=args.retry_refused)
        except STORE_ERRORS as exc:  # (the tag's records could not be read: nothing went out)
            return _not_sent(args, exc, "mm7bind send: not sent: the store failed", EXIT_UNREADABLE)
        bar.done(result)
    return _said_campaign(args, result, simulator_by_default)


def _send_recipients(args: argparse.Namespace) -> list:
    """The recipients of `send` (--to, then --to-file's), each written as the send API writes it, all
    checked before any is sent: a bad one raises _SendUsage."""
    from . import messages as m  # noqa: PLC0415
    from .bulk import read_recipients  # noqa: PLC0415

    recipients = list(args.to or [])
    if args.to_file:
        try:
            # (its refusals name a line of it: "standard input, line 3", not "-, line 3")
            stdin = args.to_file == "-"
            recipients += read_recipients("standard input" if stdin else args.to_file, _read("-") if stdin else None)
        except OSError as exc:
            raise _SendUsage(f"cannot read {args.to_file}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise _SendUsage(f"{exc}") from exc
    if not recipients:
        given = (f"no recipient: {'standard input' if args.to_file == '-' else args.to_file} lists none (its first "
                 "column, a header row left out)" if args.to_file else "give at least one recipient (--to or --to-file)")
        raise _SendUsage(given)
    if any(not r.strip() for r in recipients):
        raise _SendUsage("an empty recipient (--to '')")
    # (before any is sent: a bulk run would fail them one by one; --to-file's were checked as it was
    # read, naming their line)
    for i, r in enumerate(args.to or [], 1):
        if problem := m.address_problem(m.trimmed_address(r)):
            raise _SendUsage(f"--to #{i}: the address {m.trimmed_address(r)!r} {problem}")
        try:  # (one rule with the send API and recipient files: "abc" is refused, "Number:abc" sent as written)
            m.written_address(r)
        except ValueError as exc:
            raise _SendUsage(f"--to #{i}: {exc}") from exc
    return [m.written_address(r) for r in recipients]  # (a kind written before one: an Address of it)


def _send_content(args: argparse.Namespace):
    """`_content` for `send`: an attachment or SMIL that cannot be read, or a --smil that is no
    SMIL, raises _SendUsage."""
    try:
        return _content(args)
    except OSError as exc:
        raise _SendUsage(f"{exc.strerror or exc}") from exc
    except ValueError as exc:
        raise _SendUsage(f"{exc}") from exc


def _send_profile(args: argparse.Namespace, cfg):
    """The profile `send` goes with, the configuration's as --version and --no-smil change it (--mmsc
    set on `cfg`), and whether it goes to the simulator's address for want of --mmsc or [mmsc] urls
    (a failure to connect then says so)."""
    from . import versions  # noqa: PLC0415

    if args.mmsc:
        cfg.mmsc.urls = list(args.mmsc)
    # (a first run without --mmsc or [mmsc] urls goes to the simulator's address: say so when nothing is there)
    from . import config as config_module  # noqa: PLC0415

    simulator_by_default = cfg.mmsc.urls == [config_module.SIMULATOR_URL]
    profile = cfg.profile()
    if args.version:
        try:
            profile = profile.replace(version=versions.get(args.version).name)
        except KeyError as exc:
            raise _SendUsage(exc.args[0]) from exc
    if args.no_smil:
        if args.smil:
            raise _SendUsage("--no-smil and --smil exclude each other")
        profile = profile.replace(auto_smil=False)  # (content without a SMIL goes as multipart/mixed)
    return profile, simulator_by_default


def _check_send_options(args: argparse.Namespace) -> None:
    """The options of `send` that mean something only with another one: refused (_SendUsage) without it."""
    if args.at is not None and not args.queue:
        raise _SendUsage("--at needs --queue (the outbox holds the messages until then)")
    # (they choose what a run resumed under a tag sends again: without one they did nothing, unsaid,
    # and a user who meant to send those recipients again sent every one of the list)
    for given, flag in ((args.resend_unanswered, "--resend-unanswered"), (args.retry_refused, "--retry-refused")):
        if given and args.tag is None:
            raise _SendUsage(f"{flag} needs --tag (it chooses whom a run resumed under the tag sends to again)")


def _send_template(args: argparse.Namespace, recipients: list, content):
    """The SubmitReq `send` sends to each recipient (its first one in To, replaced by each in a
    campaign), with --from checked as --to is: a bad one raises _SendUsage."""
    from . import messages as m  # noqa: PLC0415

    if args.sender is not None and not args.sender.strip():
        raise _SendUsage("an empty --from")
    if args.sender is not None and (problem := m.address_problem(m.trimmed_address(args.sender))):
        raise _SendUsage(f"--from: the address {m.trimmed_address(args.sender)!r} {problem}")
    try:  # (read as --to is: "ShortCode:1065888", a VASP's usual sender, goes as one)
        sender = m.written_address(args.sender, recipient=False) if args.sender else None
    except ValueError as exc:
        raise _SendUsage(f"--from: {exc}") from exc
    return m.SubmitReq(subject=args.subject, delivery_report=args.delivery_report or None,
                       read_reply=args.read_reply or None, content=content, linked_id=args.linked_id,
                       recipients=m.Recipients(to=recipients[:1]), vaspid=args.vaspid, vasid=args.vasid,
                       service_code=args.service_code,
                       sender_address=m.Address.parse(sender) if sender else None)


def _before_sending(args: argparse.Namespace, cfg, content) -> None:
    """What `send` says once its arguments are all good, before anything goes (a message without
    content, the configuration's warnings), and where its transaction log goes."""
    if content is None and not args.json:  # (MM7 allows it, a SubmitReq of a subject alone: said, not refused)
        print("mm7bind send: note: no --text, --attach or --smil: the message goes without content",
              file=sys.stderr)
    # (what goes, as --mmsc's URLs: a send given --vaspid was warned that none was set)
    for name in ("vaspid", "vasid", "service_code"):
        if getattr(args, name) is not None:
            setattr(cfg.vasp, name, getattr(args, name))
    _say_warnings(cfg, ("sending",))  # (on stderr: a command's user is there, whatever the log's file)
    if args.verbose or cfg.logging.file:
        _setup_logging(cfg, args, "send")
    else:  # the outcome is printed by the command; the transaction log goes to stderr only with -v
        _command_log_handler("mm7bind", logging.NullHandler())


def _send_queued(args: argparse.Namespace, cfg, client, template, recipients: list,
                 resend: bool | None) -> int:
    """`send --queue`: the messages committed to the outbox in batches (sent by `serve`), what was
    committed said, and the exit status."""
    from .bulk import queue_bulk  # noqa: PLC0415
    from .display import shown_time  # noqa: PLC0415

    stop = threading.Event()
    try:
        with _stop_between_batches(stop):
            result = queue_bulk(cfg.make_outbox(client), template, recipients, tag=args.tag, at=args.at,
                                stop=stop, resend_unanswered=resend, retry_refused=args.retry_refused)
    except EncodeError as exc:  # (one recipient's: the rest of its batch and after not queued)
        return _not_queued(args, exc, ": cannot build the message", EXIT_USAGE)
    except MM7Error as exc:
        return _not_queued(args, exc, "", EXIT_REFUSED)
    except STORE_ERRORS as exc:  # (a store locked by another process past its wait, a full disk)
        return _not_queued(args, exc, ": the store failed", EXIT_UNREADABLE)
    left = result.total - result.sent  # (not queued: an interrupt came first)
    if args.json:  # the outbox items' ids, for `store outbox` and the send API's /queue/<id>
        print(_json({"queued": result.sent, "skipped": result.skipped, "repeated": result.repeated,
                     "maybe_delivered": result.maybe_delivered,
                     "maybe_delivered_to": result.maybe_delivered_to,
                     "refused_before": result.refused_before,
                     "refused_before_to": result.refused_before_to,
                     "at": args.at.isoformat() if args.at else None, "batches": result.batches,
                     "interrupted": result.interrupted, "not_queued": left,
                     "items": {r: int(v.removeprefix("queued #")) for r, v in result.message_ids.items()}}))
    else:
        when = f" for {shown_time(args.at)}" if args.at else ""
        print(f"queued {result.sent} message(s){when} in {cfg.store.path}")
        if result.skipped:
            print(f"skipped {_recipients(result.skipped)} already accepted or queued under tag {args.tag!r}")
        _say_held_back(result)
    if result.interrupted:
        print(f"mm7bind send: interrupted: {_committed(result, args.tag)}", file=sys.stderr)
    if not cfg.outbox.enabled:
        print("mm7bind send: note: [outbox] enabled is false here: nothing sends them until "
              "`mm7bind serve` runs with [outbox] enabled = true on this store", file=sys.stderr)
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


def _send_one(args: argparse.Namespace, client, store, template, recipient, resend: bool | None,
              simulator_by_default: bool) -> int:
    """`send` to one --to: the message sent (under --tag with a store, as a campaign of one: never
    twice), each way it can fail said by the rule a campaign's exit goes by, and the exit status."""
    from .arrival import MAY_HAVE_ARRIVED, interrupted_arrival, no_mmsc_answered, none_answered  # noqa: PLC0415
    from .bulk import MaybeDelivered, RefusedBefore, send_tagged  # noqa: PLC0415
    from .client import NoTimeLeft, new_transaction_id  # noqa: PLC0415
    from .display import printable  # noqa: PLC0415

    tid = new_transaction_id()  # (known before it goes: an interrupted send can name it)
    try:
        if args.tag is not None and store is not None:  # as a campaign of one: never sent twice
            tid = None  # (the tag's own, chosen as the campaign's are)
            try:
                r = send_tagged(client, template, args.tag, resend_unanswered=resend,
                                retry_refused=args.retry_refused)
            except (MaybeDelivered, RefusedBefore) as exc:  # (held back, as a campaign's would be)
                error, flag = (("maybe-delivered", "--resend-unanswered") if isinstance(exc, MaybeDelivered)
                               else ("refused-before", "--retry-refused"))
                if args.json:
                    print(_json(_outcome(args.tag, ok=False, error=error, message=str(exc))))
                else:
                    print(printable(f"mm7bind send: not sent: {exc}; {flag} sends it again"), file=sys.stderr)
                return EXIT_REFUSED
            if r is None:
                if args.json:
                    print(_json(_outcome(args.tag, ok=True, skipped=True)))
                else:
                    print(f"skipped: {recipient} was accepted (or is queued, or being sent) under tag "
                          f"{args.tag!r} already")
                return EXIT_OK
        else:
            r = client.submit(template, tag=args.tag, transaction_id=tid)
    except EncodeError as exc:  # our arguments, not the MMSC's doing: nothing went out
        return _not_sent(args, exc, "mm7bind send: cannot build the message", EXIT_USAGE)
    except MM7Error as exc:
        # (no MMSC answered, by the rule a campaign's exit goes by too, `_answers_exit`: a gateway's
        # 502, 503 or 504 and a connection lost exited 1, "refused", as if the MMSC had refused it)
        code = _answers_exit(1, none_answered(exc))
        if code == EXIT_UNREACHABLE:
            simulator_unreached = simulator_by_default and isinstance(exc, ConnectError)
            return _not_sent(args, exc, "mm7bind send: not sent", code,
                             hint=_simulator_hint(exc.hint) if simulator_unreached else "")
        # (an MMSC answered, if only an attempt before the last: 1, said as the last one ended)
        return _not_sent(args, exc, "mm7bind send: not sent" if no_mmsc_answered(exc) else "mm7bind send: refused",
                         code)
    except STORE_ERRORS as exc:  # (the claim could not be taken: nothing went out)
        return _not_sent(args, exc, "mm7bind send: not sent: the store failed", EXIT_UNREADABLE)
    except NoTimeLeft as exc:
        # (the rate limit's wait would outlast the claim on the recipient: nothing went out, the
        # claim is given back. A campaign counts it failed, not for want of an MMSC's answer:
        # exit 1 by the same rule, not a traceback)
        return _not_sent(args, exc, "mm7bind send: not sent", _answers_exit(1, 0),
                         hint=f"the same command (`--tag {args.tag}`) again sends it")
    except KeyboardInterrupt as exc:
        # (as the client recorded it: a request not yet gone out whole is one the MMSC cannot have)
        maybe = interrupted_arrival(exc) == MAY_HAVE_ARRIVED
        tid = tid or getattr(exc, "mm7_transaction_id", None)  # (under a tag: the one its claim chose)
        what = ("interrupted before the MMSC answered: it may have taken the message" if maybe else
                "interrupted before the message went out whole: the MMSC did not take it")
        if args.json:
            print(_json(_outcome(args.tag, ok=False, error="interrupted", message=what, may_have_arrived=maybe,
                                 transaction_id=tid)))
        else:
            again = "resumes it" if maybe else "sends it"
            under = f"tag {args.tag!r}: the same command again {again}" if args.tag is not None else ""
            named = ", ".join(filter(None, [f"TransactionID {tid}" if tid else "", under]))
            print(f"mm7bind send: {what} ({named})", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _said_sent(args, r)


def _said_sent(args: argparse.Namespace, r) -> int:
    """The outcome of `send` to one recipient that the MMSC answered: its MessageID alone on stdout
    (for scripts), a refusal on stderr, or --json's object; and the exit status."""
    from .display import printable  # noqa: PLC0415

    if r.earlier_unanswered and not args.json:  # (on stderr: stdout carries only a MessageID, for scripts)
        print(printable(f"mm7bind send: note: an earlier attempt got no answer: the MMSC may have taken the "
                        f"message twice (TransactionID {r.transaction_id})"), file=sys.stderr)
    if args.json:
        print(_json(_outcome(args.tag, ok=r.ok, message_id=r.message_id, transaction_id=r.transaction_id,
                             status=r.status.code, text=r.status.text, http_status=r.http_status,
                             earlier_unanswered=r.earlier_unanswered)))
    elif r.ok:
        print(printable(r.message_id))  # (the MMSC's words: no escape sequence reaches the terminal)
    else:  # (as a refusal in a Fault: stdout carries only a MessageID, for scripts)
        print(printable(f"mm7bind send: refused: {_status_words(r.status)}"), file=sys.stderr)
    return EXIT_OK if r.ok else EXIT_REFUSED


def _said_campaign(args: argparse.Namespace, result, simulator_by_default: bool) -> int:
    """The outcome of a campaign (`send` to a list), once its client is closed: its counts, why it
    stopped and what running it again does, the first failures; and the exit status."""
    from . import config as config_module  # noqa: PLC0415
    from .bulk import UNREACHABLE_STOP  # noqa: PLC0415
    from .display import printable  # noqa: PLC0415

    simulator = config_module.SIMULATOR_URL
    if args.json:
        shown = {k: v for k, v in dataclasses.asdict(result).items() if k != "keep"}
        # (not_tried: what an interruption or an unreachable MMSC left, which the text says and a
        # script had to work out from total, sent and failed)
        print(_json(shown | {"interrupted": result.interrupted,
                             "not_tried": result.total - result.sent - result.failed}))
        return _bulk_exit(result)
    print(f"sent {result.sent}, failed {result.failed}, {_recipients(result.total)} in {result.elapsed:.1f} s "
          f"({result.rate:.1f}/s)")
    if result.earlier_unanswered:  # (a second copy is what a demanding sender checks for)
        print(f"{result.earlier_unanswered} of the sent were accepted after an attempt that got no answer: the MMSC "
              "may have taken them twice")
    if result.may_have_arrived:  # (not to be sent again by other means: the MMSC may have them)
        again = f"`--tag {args.tag}` again sends them with the same TransactionID" if args.tag else "check before sending again"
        print(f"{result.may_have_arrived} of the failed got no answer: the MMSC may have taken them ({again})")
    # (the simulator's address, tried by default: said once, for the failure it was)
    hint = next((_simulator_hint(why) for _, why in result.failures if why.startswith("ConnectError")), "") \
        if simulator_by_default else ""
    if result.interrupted:
        left = result.total - result.sent - result.failed
        again = (f"`--tag {args.tag}` again sends only to those the MMSC has not accepted" if args.tag
                 else "give --tag NAME (with a store) to be able to resume where a run stopped")
        print(f"mm7bind send: interrupted: {_recipients(left)} not tried; {again}", file=sys.stderr)
    elif result.unreachable:
        left = result.total - result.sent - result.failed
        again = (f"the same command (`--tag {args.tag}`) sends only to those the MMSC has not accepted"
                 if args.tag else "give --tag NAME (with a store) to be able to resume where a run stopped")
        print(f"mm7bind send: stopped: no MMSC could be reached ({UNREACHABLE_STOP} requests in a row, each after "
              "its retries, met no connection, no answer or an MMSC unavailable); "
              f"{_recipients(left)} not tried; once it is back, {again}" + (f" ({simulator}: {hint})" if hint else ""),
              file=sys.stderr)
    elif result.stopped_by_refusal:
        left = result.total - result.sent - result.failed
        # (no flag: a refusal alike is never the address's, 2002 or 2003, the only ones a resumed run holds back)
        again = (f"once that is mended, the same command (`--tag {args.tag}`) sends to those refused and the "
                 f"{left} not tried" if args.tag else "give --tag NAME (with a store) to be able to resume where a "
                 "run stopped")
        print(printable(f"mm7bind send: stopped: the MMSC refused {args.stop_after_refused} requests in a row alike "
                        f"({result.stopped_by_refusal}); {_recipients(left)} not tried; {again}"), file=sys.stderr)
    else:
        if result.failed and not result.sent and result.unanswered == result.failed:
            # (a run too short to stop, none of whose requests an MMSC answered: exit 4, as a stopped
            # one, said as that one says it, with what running it again does)
            again = (f"the same command (`--tag {args.tag}`) sends to them" if args.tag
                     else "give --tag NAME (with a store) to be able to resume where a run stopped")
            print(f"mm7bind send: no MMSC answered: each of the {result.failed} requests, after its retries, met no "
                  f"connection, no answer or an MMSC unavailable; once it is back, {again}", file=sys.stderr)
        if hint:  # (a run too short to stop: the simulator's address, tried by default, said once all the same)
            print(f"mm7bind send: {simulator}: {hint}", file=sys.stderr)
    if result.skipped:
        # (not "accepted" alone: one waiting in the outbox, or another run's, may not have gone yet)
        print(f"skipped {_recipients(result.skipped)} already accepted, queued or being sent under tag {args.tag!r}")
    if result.repeated:
        print(f"{_recipients(result.repeated)} {'was' if result.repeated == 1 else 'were'} listed more than once, "
              "or one number written two ways (sent once)")
    _say_held_back(result)
    for rcpt, why in result.failures[:10]:
        print(printable(f"  failed {rcpt}: {why}"))
    if len(result.failures) > 10:
        print(f"  ... and {len(result.failures) - 10} more")
    return _bulk_exit(result)


@contextlib.contextmanager
def _sigterm_as_ctrl_c():
    """SIGTERM (`kill`, `timeout`, systemd, a container stopping) ends a send as Ctrl-C does: the
    requests in flight finish and are recorded, and the counts are printed. Killed outright, a
    campaign's accepted requests in flight went unrecorded (the resumed run sent them again) and
    its counts were lost. A second SIGTERM changes nothing: the first one's ending is under way."""
    if threading.current_thread() is not threading.main_thread():  # (only there can handlers be set)
        yield
        return

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _stop_between_batches(stop: threading.Event):
    """Ctrl-C or SIGTERM while a campaign is queued sets `stop`: the batch being committed is
    finished, none starts after it, and the counts are exact (an interrupt inside a commit left
    unknown whether it was in). A second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def asked(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    # (a signal ignored stays so: a job started in the background by a script ignores Ctrl-C)
    previous = {sig: signal.signal(sig, asked) for sig in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _recipients(count: int) -> str:
    """"1 recipient", "2 recipients": a count said as one reads it."""
    return f"{count} recipient{'' if count == 1 else 's'}"


def _committed(result, tag: str | None) -> str:
    """What a `send --queue` that stopped mid-way (interrupted, or failing) had committed, and what
    running it again does: what is committed stays queued, and is sent."""
    again = (f"`--queue --tag {tag}` again queues only those" if tag else "the same command again would queue "
             "every recipient again, those committed too: give --tag NAME to be able to resume")
    return (f"{result.sent} message(s) committed to the outbox in {result.batches} batch(es) before it stopped "
            f"(they will be sent); {_recipients(result.total - result.sent)} not queued; {again}")


def _not_queued(args: argparse.Namespace, exc: MM7Error, why: str, code: int) -> int:
    """A `send --queue` that failed: its error, and what its batches committed before (with --json,
    as `queued` and `batches`)."""
    result = getattr(exc, "queued", None)
    done = result is not None and result.sent
    _not_sent(args, exc, f"mm7bind send: {'stopped' if done else 'not queued'}{why}", code,
              queued=result.sent if result else 0, batches=result.batches if result else 0)
    if done and not args.json:
        print(f"mm7bind send: {_committed(result, args.tag)}", file=sys.stderr)
    return code


def _say_held_back(result) -> None:
    """The recipients a resumed campaign did not send to again: those whose request may have
    arrived, and those the MMSC refused for their address (ten of each named)."""
    from .display import printable  # noqa: PLC0415

    for count, names, label, why in (
            (result.maybe_delivered, result.maybe_delivered_to, "maybe delivered",
             "whose earlier request got no answer, the MMSC may have it (retry_on_timeout = false; "
             "--resend-unanswered sends them with the same TransactionID)"),
            (result.refused_before, result.refused_before_to, "refused before",
             "the MMSC refused for their address before (2002 or 2003; --retry-refused sends them again)")):
        if not count:
            continue
        print(f"not sent again: {_recipients(count)} {why}")
        for rcpt in names[:10]:
            print(printable(f"  {label} {rcpt}"))
        if count > 10:
            print(f"  ... and {count - 10} more")


def _simulator_hint(said: str | None) -> str:
    """What to say of a failure to connect to the simulator's address, tried for want of --mmsc or
    [mmsc] urls, by the client's words for it (`said`: its hint, or the whole error): "" for one
    neither refused nor unanswered there (a TLS failure, a proxy's: the client's own hint says it).
    A connection nobody answered is no "nothing listens": a process there not taking connections
    (hung), or a firewall dropping the packets."""
    from .client import REFUSED_HINT, SILENT_HINT  # noqa: PLC0415

    said = said or ""
    if "the proxy's address" in said:
        return ""
    where = "the simulator's address, tried for want of --mmsc or [mmsc] urls"
    if REFUSED_HINT in said:
        return f"nothing listens at {where}: is `mm7bind simulate` running?"
    if SILENT_HINT in said:
        return (f"nothing answered at {where}, within connect_timeout: is what listens there hung, or does a "
                "firewall drop the packets?")
    return ""


def _answers_exit(failed: int, unanswered: int, answered: int = 0, stopped: bool = False) -> int:
    """The exit status of requests made, by the one rule of send (one message or a campaign), probe
    and mo: EXIT_UNREACHABLE when no MMSC (for probe, the VASP; for mo, the simulator) answered — the
    run stopped for that (`stopped`), or every request failed (`failed` of them, none `answered` as
    it should be), each for want of an answer (`unanswered` of them: no connection, a timeout, a
    connection lost, a gateway's 502, 503 or 504, in every attempt: `arrival.none_answered`),
    however few; else EXIT_REFUSED for any failed, EXIT_OK for none."""
    if stopped or (failed and not answered and unanswered == failed):
        return EXIT_UNREACHABLE
    return EXIT_REFUSED if failed else EXIT_OK


def _bulk_exit(result) -> int:
    """A campaign's exit status (`_answers_exit`), EXIT_INTERRUPTED for one interrupted."""
    if result.interrupted:
        return EXIT_INTERRUPTED
    # (by the counts, not the failures' text: that took a connection refused or a timeout, not a
    # gateway's 502, 503 or 504 nor a connection lost, and only the first `keep` failures were read)
    return _answers_exit(result.failed, result.unanswered, answered=result.sent, stopped=result.unreachable)


def _outcome(tag: str | None, **given) -> dict:
    """send --json for one recipient: every key there whatever the outcome (None when it does not
    apply), so that a script reads result["message_id"] or result["error"] without a KeyError;
    `tag` the --tag given (`skipped`, `tag`: they were there only for a recipient skipped or held
    back under one)."""
    return {"ok": False, "message_id": None, "transaction_id": None, "status": None, "text": None, "error": None,
            "message": None, "http_status": None, "earlier_unanswered": False, "may_have_arrived": False,
            "skipped": False, "tag": tag} | given


def _not_sent(args: argparse.Namespace, exc: Exception, what: str, code: int, hint: str = "", **more) -> int:
    """A message not sent, refused, or not answered: one line on stderr, or with --json an object on
    stdout (with `more` keys). `hint`: what to look at, in place of the client's own (`SendError.hint`)."""
    from .arrival import may_have_arrived  # noqa: PLC0415
    from .display import printable  # noqa: PLC0415
    from .errors import FaultError, SendError  # noqa: PLC0415

    status = getattr(exc, "status", None)  # a Fault's MM7 status, or an HTTP error's status code
    mm7_status = None if status is None or isinstance(status, int) else status
    if isinstance(exc, SendError) and may_have_arrived(exc) and not isinstance(exc, FaultError):
        # (a timeout, a connection lost after the request went out: neither "not sent" nor "refused";
        # the error's words say the MMSC may have it, under which TransactionID)
        what = f"{what.split(':', 1)[0]}: no answer"
    # (the simulator's address, tried by default: its hint says more than the client's)
    said = exc.said(hint=hint or None) if isinstance(exc, SendError) else str(exc) + (f": {hint}" if hint else "")
    if args.json:
        print(_json(_outcome(args.tag, ok=False, error=type(exc).__name__, message=said,
                             transaction_id=getattr(exc, "transaction_id", None),
                             status=mm7_status.code if mm7_status else None,
                             text=mm7_status.text if mm7_status else None,
                             http_status=status if isinstance(status, int) else getattr(exc, "http_status", None),
                             earlier_unanswered=getattr(exc, "earlier_unanswered", False),
                             may_have_arrived=isinstance(exc, SendError) and may_have_arrived(exc), **more)))
    else:
        # (a Fault's status alone, unless an earlier attempt got no answer: then its words say the MMSC may have it)
        plain = mm7_status and not getattr(exc, "earlier_unanswered", False)
        said = f"{what}: {_status_words(mm7_status)}" if plain else f"{what}: {said}"
        print(printable(said), file=sys.stderr)
    return code


def _status_words(status) -> str:
    """An MMSC's status as a refusal line says it: its code, its text and, when it gave them, its
    Details — what was wrong, where the text is only the code's name (China Mobile's `标识不正确`)."""
    details = " ".join((status.details or "").split())
    said = f"{status.code} {status.text or ''}".rstrip()
    return said + (f" ({details})" if details and details != status.text else "")


class _Progress:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.last = 0.0
        self.shown = 0
        self.tty = sys.stderr.isatty()

    def update(self, r) -> None:
        now = time.monotonic()
        done, total = r.sent + r.failed, r.total  # (a recipient listed twice, or skipped under --tag, is not in total)
        if not self.enabled or (now - self.last < (0.2 if self.tty else 1.0) and done < total):
            return
        self.last, self.shown = now, done
        width = 30
        filled = int(width * done / total) if total else width
        rate = done / r.elapsed if r.elapsed else 0.0
        line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} sent {r.sent} failed {r.failed} {rate:.1f}/s"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def done(self, r) -> None:
        if self.enabled and self.shown != r.sent + r.failed:  # the last count, if not shown yet
            self.last = float("-inf")
            self.update(r)
        if self.enabled and self.tty:
            print(file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Serving, simulating


class _Signals:
    """SIGINT, SIGTERM and SIGHUP noted from its creation on, for `wait`: created before the start
    is announced ("Ctrl-C stops", which scripts and supervisors wait for), since a signal coming
    between the two met the default action, which ended the process on the spot, its store unclosed."""

    def __init__(self) -> None:
        self.wake, self.caught = threading.Event(), []
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._note)

    def _note(self, sig, _frame) -> None:
        self.caught.append(sig)
        self.wake.set()

    def wait(self, on_hangup=None) -> str:
        """Wait for SIGINT or SIGTERM (→ its name). With `on_hangup`, SIGHUP runs it (in this thread,
        not inside the signal handler) and the wait goes on; without, SIGHUP stops too — never the
        default, which ends the process on the spot (and a service manager counts that as a clean
        exit: not restarted)."""
        while True:
            self.wake.wait(0.5)
            self.wake.clear()
            while self.caught:
                sig = self.caught.pop(0)
                if sig == signal.SIGHUP and on_hangup is not None:
                    on_hangup()
                    continue
                return signal.Signals(sig).name

    def again(self) -> bool:
        """Whether SIGINT or SIGTERM came again after the one `wait` returned for."""
        return any(sig in (signal.SIGINT, signal.SIGTERM) for sig in self.caught)


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve  # noqa: PLC0415

    cfg = _config(args, uses=None)
    if args.host:
        cfg.receiver.host = args.host
    if args.port is not None:
        cfg.receiver.port = args.port
    _handling_options(cfg, args, "serve")
    _setup_logging(cfg, args, "serve")
    _log_waitress_as_mm7bind()
    sends = bool(cfg.api.path or cfg.outbox.enabled)  # (else [mmsc] is not used)
    _say_warnings(cfg, ("serving",) + (("sending",) if sends else ()) + (() if args.handler else ("handling",)))
    handler = _handler(cfg, args, "serve")
    store = _store(cfg, command="serve")
    _check_store_at_start(cfg, store)
    metrics = None
    if cfg.receiver.metrics_path:
        from .metrics import Metrics  # noqa: PLC0415

        try:
            metrics = Metrics(shared_dir=cfg.receiver.metrics_dir or None)
        except OSError as exc:  # (the folder cannot be made: said, not a traceback)
            _say_error(f"mm7bind serve: the metrics folder {cfg.receiver.metrics_dir} cannot be used: {exc} "
                       "(see [receiver] metrics_dir)", traceback_of=exc)
            raise SystemExit(EXIT_UNREADABLE) from None
    receiver = cfg.make_receiver(handler, store=store, metrics=metrics)
    client = cfg.make_client(store=store, metrics=metrics) if sends else None
    outbox = cfg.make_outbox(client) if cfg.outbox.enabled else None
    api = cfg.make_send_api(client, outbox) if cfg.api.path else None
    mounts = {}
    if api is not None:
        mounts[cfg.api.path] = api.wsgi_app
    def cannot(what: str, exc: Exception) -> int:
        print(f"mm7bind serve: {what}: {getattr(exc, 'reason', None) or getattr(exc, 'strerror', None) or exc}",
              file=sys.stderr)
        if client is not None:
            client.close()
        store.close()
        return EXIT_CONFIG

    from .client import TLSFileError  # noqa: PLC0415

    try:
        ssl_context = cfg.ssl_context()
    except TLSFileError as exc:  # (the client CA: named as such, not as the certificate)
        return cannot(f"receiver.{exc.setting}", ValueError(exc.why))
    except (OSError, ValueError) as exc:  # (an SSLError is an OSError: it read as a port problem)
        return cannot(f"cannot use the TLS certificate {cfg.receiver.tls_cert} with its key", exc)
    try:
        path = None if cfg.receiver.path == "*" else cfg.receiver.path  # None: any path
        srv = serve(receiver, cfg.receiver.host, cfg.receiver.port, path,
                    metrics_path=cfg.receiver.metrics_path or None, threads=cfg.receiver.threads, mounts=mounts,
                    health_path=cfg.receiver.health_path or None,
                    trusted_proxy=cfg.receiver.trusted_proxy or None,
                    ssl_context=ssl_context, backlog=cfg.receiver.backlog,
                    connection_limit=cfg.receiver.connection_limit,
                    request_timeout=cfg.receiver.request_timeout, keep_alive=cfg.receiver.keep_alive)
    except (OSError, ValueError) as exc:  # the port is taken or not ours to take; a host that is no address
        cannot(f"cannot listen on {cfg.receiver.host}:{cfg.receiver.port}", exc)
        port, host = (("mm7Config.xml's ListenPort", "ListenIP") if cfg.source.lower().endswith(".xml")  # (China Mobile's)
                      else ("[receiver] port", "[receiver] host"))
        return _listen_hint(exc, f"--port (or {port})", f"--host (or {host})")
    retention = cfg.retention(store)
    replay_at_start = cfg.receiver.replay_at_start and not args.no_replay_at_start
    left = _left_in_hand(store, taken=replay_at_start)
    if left:
        log.warning("messages a stopped run left half-handled are stored as 'processing' (the first #%d): "
                    "`mm7bind replay` hands them to the handler again", left[0])
    signals = _Signals()
    srv.start()
    stop_replay = threading.Event()
    closer = _LastCloses(store, client)
    replayer = threading.Thread(target=closer.after, args=(_replay_at_start, receiver, store, stop_replay),
                                name="mm7bind-replay-at-start", daemon=True) if replay_at_start else None
    why = None  # the signal that stops it
    try:
        if retention is not None:
            retention.start()
        if outbox is not None:
            outbox.start()
        if replayer is not None:  # (after the server: the MMSC is answered meanwhile)
            closer.users += 1
            replayer.start()
        _say_serving(cfg, args, srv, path, metrics, client, api, outbox)
        why = signals.wait(on_hangup=lambda: _reopen_logs(cfg, srv if ssl_context is not None else None))
    finally:
        cut_off = _stop_serving(cfg, why, signals, srv, retention, outbox, replayer, stop_replay, closer)
    return EXIT_CUT_OFF if cut_off else EXIT_OK


def _say_serving(cfg, args: argparse.Namespace, srv, path: str | None, metrics, client, api, outbox) -> None:
    """What a started serve listens for, on stdout ("Ctrl-C stops", which scripts and supervisors
    wait for) and in the log when that is elsewhere: the receiver, and the forward, metrics, health
    check, send API and outbox it runs."""
    from .display import shown_url  # noqa: PLC0415

    if not _log_shares_stdout(cfg):  # (else, a terminal, the journal: stdout's line below says it)
        log.info("mm7bind %s receiving MM7 at %s%s (store %s)", __version__, srv.url, path or "/",
                 cfg.store.path)
    _echo(f"receiving MM7 at {srv.url}{path or '/ (any path)'} (store {cfg.store.path}); Ctrl-C stops")
    if cfg.receiver.forward_url and not args.handler:
        _echo(f"forwarding to {shown_url(cfg.receiver.forward_url)}")
    if metrics is not None:
        _echo(f"metrics at {srv.url}{cfg.receiver.metrics_path}")
    if cfg.receiver.health_path:  # (the load balancer's check: where, as the metrics say theirs)
        _echo(f"health check at {srv.url}{cfg.receiver.health_path}")
    mmscs = ", ".join(map(shown_url, client.config.urls)) if client is not None else ""
    if api is not None:
        _echo(f"send API at {srv.url}{cfg.api.path.rstrip('/')}/send (to {mmscs})")
    if outbox is not None:
        _echo(f"sending what the outbox holds (to {mmscs})")


def _stop_serving(cfg, why: str | None, signals, srv, retention, outbox, replayer, stop_replay, closer) -> int:
    """serve's stop, on a signal (`why`) or an error: no new connections, the requests in hand, the
    replay at start and the retention and outbox workers given the grace to finish (a second signal
    ends the wait), what was left said, and the store closed by the last of its users. The number of
    requests it closed unanswered."""
    grace = _stop_grace(cfg)
    log.info("stopping%s: no new connections; requests in hand get %g s to finish%s",
             f" ({why})" if why else "", grace, f" ({why} again: stop at once)" if why else "")
    again: list[str] = []  # a second signal: nothing more is waited for

    def hurry(sig, _frame) -> None:
        again.append(signal.Signals(sig).name)
        srv.stop_now()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, hurry)
    if signals.again():  # (come before the line above)
        hurry(next(sig for sig in signals.caught if sig != signal.SIGHUP), None)
    for worker in (retention, outbox):
        if worker is not None:
            worker.stop(timeout=0)  # (told now, waited for below: they stop while the server does)
    stop_replay.set()  # (the message in hand is finished; the rest wait for the next start)
    deadline = time.monotonic() + grace + 5
    cut_off = srv.stop(grace=grace)  # requests the stop closed unanswered
    while replayer is not None and replayer.is_alive() and not again and time.monotonic() < deadline:
        replayer.join(0.1)
    if replayer is not None and replayer.is_alive():
        log.warning("replay at start: a message still in the handler was left; it stays 'processing' "
                    "and `mm7bind replay` hands it to the handler again (unless its outcome comes before "
                    "the process ends: the store is closed after it; a start does not: it cannot tell this "
                    "from a message whose handler crashed the process)")
    for worker in (retention, outbox):  # (in steps: a second signal ends the wait)
        while worker is not None and worker.running() and not again and time.monotonic() < deadline:
            worker.stop(timeout=0.1)
    if again:
        log.warning("%s again: stopped without waiting for what was in hand", again[0])
    if outbox is not None and outbox.running():
        log.warning("outbox: a send still waiting for its MMSC was left; it goes again, with the same "
                    "TransactionID, once its lease runs out")
    for worker in (retention, outbox):  # (a round not waited for: the store is closed once it ends)
        if worker is not None and worker.running():
            closer.start_after(worker.stop, None, name=f"{worker.name}-end")
    closer.done()
    log.info("stopped")
    return cut_off


class _LastCloses:
    """serve's store (and client), closed by the last of its users to end: the stop, the replay at
    start once started, and a retention or outbox round the stop did not wait for. A stop that gives
    up on a message in the replay's handler or on a worker's round (a second signal, or past the
    grace) closed the store under it: the outcome then opened it again, its connections never
    closed. The last of them closes it after recording its outcome, if the process has not ended
    meanwhile (then a message stays 'processing', for the next start; an outbox item 'sending',
    sent again with the same TransactionID once its lease runs out)."""

    def __init__(self, store, client=None) -> None:
        self.store, self.client, self.users, self._lock = store, client, 1, threading.Lock()

    def done(self) -> None:
        with self._lock:
            self.users -= 1
            last = self.users == 0
        if last:
            if self.client is not None:  # (the outbox's sends, and the client's records, ended)
                self.client.close()
            self.store.close()

    def after(self, fn, *args) -> None:
        """`fn(*args)`, then `done()`: a user's whole work."""
        try:
            fn(*args)
        finally:
            self.done()

    def start_after(self, fn, *args, name: str) -> None:
        """A user more, whose work is `fn(*args)` in a daemon thread of its own (the end of a
        worker's round the stop did not wait for: a second signal, or past the grace)."""
        with self._lock:
            self.users += 1
        threading.Thread(target=self.after, args=(fn, *args), name=name, daemon=True).start()


def _left_in_hand(store, taken: bool) -> list[int]:
    """The messages stored as 'processing' as serve starts (none is in hand of this run yet) that
    it leaves to the operator: all, or with the replay at start, those whose claim's process is not
    known to be gone (another host's, a boot before, one that runs: `holders.gone`)."""
    from .holders import gone  # noqa: PLC0415

    if not taken:
        return store.inbox_ids("processing")
    return [i for i, (_, holder) in _claims(store).items() if not gone(holder)]


def _claims(store) -> dict:
    """The claims of the messages in hand, id → (when claimed, holder), their bodies unread (a store
    of one's own without `claims`: read record by record)."""
    if hasattr(store, "claims"):
        return store.claims()
    recs = (store.inbox_get(i) for i in store.inbox_ids("processing"))
    return {r.id: (r.claimed_at or r.received_at, getattr(r, "holder", None)) for r in recs if r is not None}


def _replay_at_start(receiver, store, stop: threading.Event) -> None:
    """What a killed run of this host left 'processing' (answered 1000 maybe, so never sent again
    by the MMSC), handed to the handler as `mm7bind replay` does it, claim for claim: a message
    another process takes first (a second serve starting, a replay) is left to it. One line each,
    and a count."""
    from .display import printable  # noqa: PLC0415

    try:
        # (an infinite age: a claim is taken only when its process is known gone, never for its age)
        done = receiver.replay(stale_after=math.inf, states=("processing",), stop=stop, at_start=True)
    except Exception as exc:  # noqa: BLE001 (a thread's exception would go to stderr alone; serving goes on)
        log.error("replay at start failed: %s: %s", type(exc).__name__, printable(str(exc)))
        return
    if not done:
        log.debug("replay at start: %s", "stopped before it handed on any message" if stop.is_set()
                  else "no message a killed run of this host left 'processing'")
        return
    kept = store.unrecorded()
    for record_id, state in done:
        if state == "not handed again":  # (said once a start: what it is, and what to do)
            log.error("replay at start: #%d: not handed to the handler again: a start before did, and its "
                      "process ended before the outcome (the handler crashed it: out of memory, a fault in "
                      "native code? or it was killed then); it stays 'processing': `mm7bind replay --id %d` "
                      "hands it on once the cause is found", record_id, record_id)
            continue
        if state == "processing" and record_id in kept:
            state = f"{kept[record_id]}, not recorded yet (the store is busy): written with its next write"
        rec = store.inbox_get(record_id) if state in ("failed", "rejected") else None
        (log.info if state in ("handled", "gone") else log.warning)(
            "replay at start: #%d: %s%s", record_id, state,
            f" ({printable(rec.error)})" if rec is not None and rec.error else "")
    handed = [state for _, state in done if state != "not handed again"]
    handled = handed.count("handled")
    if handed:
        log.info("replay at start: %d message(s) a killed run left 'processing' handed to the handler again: "
                 "%d handled, %d not (`mm7bind replay` tries those again)", len(handed), handled,
                 len(handed) - handled)


def _stop_grace(cfg) -> float:
    """How long requests in hand get to finish when serve stops: 5 s, or while forwarding, the
    application's timeout and a second (a forward cut off would leave its message half-handled).
    A service manager's stop timeout must exceed this and 5 s more (examples/mm7bind.service)."""
    return max(5.0, cfg.receiver.forward_timeout + 1) if cfg.receiver.forward_url else 5.0


def _reopen_logs(cfg, tls_server=None) -> None:
    """SIGHUP: close the log file, to be opened again (by name) at the next line — what logrotate
    needs when it renames the file rather than copying and truncating it. Serving TLS
    (`tls_server`), its certificate and key are read again too, for the connections from then on:
    a renewed certificate needs no restart (one that cannot be used leaves the one in use)."""
    from .client import TLSFileError  # noqa: PLC0415
    from .config import reopen_log_files  # noqa: PLC0415

    reopened = reopen_log_files()
    done = [f"log file {cfg.logging.file} opened again"] if reopened else []
    if tls_server is not None:
        kept = "TLS settings not read again: still serving with the ones read before (see the error above)"
        try:
            context = cfg.ssl_context()
        except TLSFileError as exc:
            log.error("SIGHUP: receiver.%s: %s: still serving with the one read before", exc.setting, exc.why)
            done.append(kept)
        except (OSError, ValueError) as exc:
            why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            log.error("SIGHUP: the TLS certificate %s cannot be used with its key (%s): still serving the "
                      "one read before", cfg.receiver.tls_cert, why)
            done.append(kept)
        else:
            tls_server.use_ssl_context(context)
            done.append(f"TLS certificate {cfg.receiver.tls_cert} read again")
    # (a reload that failed says so here too: "nothing to do" would read as nothing tried)
    log.info("SIGHUP: %s", "; ".join(done) if done
             else "nothing to do (the log goes to standard error; configuration changes need a restart)")


def _command_log_handler(name: str, handler: logging.Handler) -> None:
    """`handler` on logger `name` for this command, in place of the one a command run before in
    this process put there (`main` called again by a test or a wrapper: each line once, not once
    a run so far). Handlers of the application's own are left."""
    logger = logging.getLogger(name)
    for old in [h for h in logger.handlers if getattr(h, "mm7bind_command", False)]:
        logger.removeHandler(old)
        old.close()
    handler.mm7bind_command = True  # type: ignore[attr-defined]
    logger.addHandler(handler)


def _setup_logging(cfg, args: argparse.Namespace, command: str) -> None:
    """The configured logging, or one line and exit 3 when its file cannot be opened."""
    try:
        cfg.setup_logging(args.verbose)
    except OSError as exc:
        print(f"mm7bind {command}: cannot write the log file {cfg.logging.file}: {exc.strerror or exc} "
              "(see [logging] file)", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _log_waitress_as_mm7bind() -> None:
    """What waitress says of a stop, in serve's log: the "mm7bind" logger's handlers on its logger
    too, each once; those a serve before in this process put there and that have gone from
    "mm7bind" since (replaced by `setup_logging`) are taken off, else each of its lines was
    written twice, or to a closed log."""
    ours, theirs = logging.getLogger("mm7bind").handlers, logging.getLogger("waitress")
    for handler in list(theirs.handlers):
        if getattr(handler, _SERVED, False) and handler not in ours:
            theirs.removeHandler(handler)
    for handler in ours:
        if handler not in theirs.handlers:
            setattr(handler, _SERVED, True)
            theirs.addHandler(handler)


_SERVED = "mm7bind_serve_log"  # marks a handler serve put on waitress's logger


def _log_shares_stdout(cfg=None) -> bool:
    """Whether the log (standard error, no [logging] file) goes where stdout does: one terminal,
    pipe, file or journal stream. A start line printed on stdout, the one scripts read, is then
    not logged too, which showed it twice; a log of its own (a file, stderr apart) still has it."""
    if cfg is not None and cfg.logging.file:
        return False
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # (no such stream, or one without a descriptor)
        return False
    return (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)


def _echo(text: str) -> None:
    from .display import printable  # noqa: PLC0415

    print(printable(text), flush=True)


def _handling_options(cfg, args: argparse.Namespace, command: str) -> None:
    """--out and --forward over the configuration's, for serve and for replay (which must hand a
    message to what serve would have: forwarding it, not saving it, when serve forwarded)."""
    if args.out:
        cfg.receiver.out_dir = args.out
    if args.forward:
        cfg.receiver.forward_url = args.forward
    if args.out and not args.handler and not cfg.receiver.forward_url:
        # (the file's out_dir is checked with the configuration; this one is seen only now, and
        # would otherwise fail every message, each answered with a Server fault)
        try:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            writable = os.access(args.out, os.W_OK)
        except OSError as exc:
            writable, why = False, exc.strerror or str(exc)
        else:
            why = "not writable"
        if not writable:
            print(f"mm7bind {command}: --out {args.out} cannot be created or written ({why})", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)


def _handler(cfg, args: argparse.Namespace, command: str):
    """The handler serve and replay run (--handler, else forwarding, else saving), or a usage error
    (a --handler whose module fails as it is imported: one line, its traceback with -v)."""
    try:
        return cfg.make_handler(args.handler)
    except ValueError as exc:
        _say_error(f"mm7bind {command}: {exc}", traceback_of=exc)
        raise SystemExit(EXIT_USAGE) from None


def cmd_replay(args: argparse.Namespace) -> int:
    from .display import printable  # noqa: PLC0415

    cfg = _config(args, uses=None)
    _handling_options(cfg, args, "replay")
    _say_warnings(cfg, () if args.handler else ("handling",))  # (on stderr, as send's)
    if args.verbose or cfg.logging.file:  # (what the handler does, as serve logs it)
        _setup_logging(cfg, args, "replay")
    else:  # each message's outcome is printed below; the log goes to stderr only with -v
        _command_log_handler("mm7bind", logging.NullHandler())
        # ... but for an outcome the store lost (locked past store_wait as the replay ends), which
        # the next replay hands to the handler again: no line printed below can say it.
        lost = logging.StreamHandler(sys.stderr)
        lost.setLevel(logging.ERROR)
        lost.setFormatter(logging.Formatter("mm7bind replay: %(message)s"))
        _command_log_handler("mm7bind.store", lost)
    handler = _handler(cfg, args, "replay")
    # A store another process keeps locked (a vacuum, a program holding a transaction) is waited
    # for as a request is, [receiver] store_wait, then said: never a silent wait without end. No
    # store there (another folder, a --config left out): said, not "nothing to replay" from a new one.
    store = _open_store(args, cfg, wait=cfg.receiver.store_wait)
    receiver = cfg.make_receiver(handler, store=store)
    if args.id is not None and store.inbox_get(args.id) is None:
        print(f"mm7bind replay: no stored message #{args.id}", file=sys.stderr)
        store.close()
        return EXIT_UNREADABLE
    looked = datetime.now(timezone.utc)  # (the claims older than --stale-after then were stale for this replay)
    done = receiver.replay(args.id, stale_after=args.stale_after)
    kept = store.unrecorded()  # (handled, but the store stayed locked past store_wait: "processing" in it)
    for record_id, state in done:
        if state == "processing" and record_id in kept:
            print(f"#{record_id}: {kept[record_id]}, but not recorded: the store could not write it within "
                  f"{cfg.receiver.store_wait:g} s ([receiver] store_wait; locked by another process, or its disk "
                  "full); tried once more as the replay ends")
            continue
        rec = store.inbox_get(record_id) if state in ("failed", "rejected") else None
        print(f"#{record_id}: {state}" + (f" ({printable(rec.error)})" if rec is not None and rec.error else ""))
    if not done:
        print("nothing to replay")
    if args.id is None and not any(state in ("store busy", "store error") for _, state in done):
        # What a run of another host (or before a reboot) had in hand is not stale yet right after
        # its crash: "nothing to replay" alone would read as nothing being left.
        from .holders import running_elsewhere  # noqa: PLC0415

        replayed = {record_id for record_id, _ in done}
        in_hand = {i: claim for i, claim in _claims(store).items() if i not in replayed}
        live = [i for i, (_, holder) in in_hand.items() if running_elsewhere(holder)]
        if live:  # (whatever --stale-after says: it may be at them right now)
            print(f"{len(live)} message(s) in hand ('processing', the first #{live[0]}) by a process of this host "
                  "that runs (serve, another replay): left to it")
        try:
            stale_before = looked - timedelta(seconds=args.stale_after)
        except OverflowError:  # (inf: no claim was stale)
            stale_before = datetime.min.replace(tzinfo=timezone.utc)
        # Said as what happened: a claim not stale as the replay looked; one made since (a worker
        # took a new message meanwhile); or one stale, left because its process ran then and has
        # ended since ("claimed less than 0 s ago" said those two with --stale-after 0).
        fresh, since, ended = [], [], []
        for i, (claimed_at, _) in in_hand.items():
            if i not in live:
                (since if claimed_at > looked else fresh if claimed_at > stale_before else ended).append(i)
        if fresh:
            print(f"{len(fresh)} message(s) in hand ('processing', the first #{fresh[0]}) claimed less than "
                  f"{args.stale_after:g} s ago: left to their worker (one of another host or of before a reboot, or "
                  "one here whose process cannot be read: if none runs, --stale-after 0 replays them)")
        if since:
            print(f"{len(since)} message(s) in hand ('processing', the first #{since[0]}) claimed while this replay "
                  "ran: left to their worker")
        if ended:
            print(f"{len(ended)} message(s) in hand ('processing', the first #{ended[0]}) by a process that ran as "
                  "this replay reached them and has ended since: `mm7bind replay` again replays them")
    if any(state == "store busy" for _, state in done):
        print(f"mm7bind replay: the store {cfg.store.path} stayed locked by another process for more than "
              f"{cfg.receiver.store_wait:g} s ([receiver] store_wait); the rest is left for the next replay",
              file=sys.stderr)
    elif any(state == "store error" for _, state in done):  # (check says a full disk as such)
        why = store.check(reserve=cfg.receiver.max_body) or "-v logs why"
        print(f"mm7bind replay: the store {cfg.store.path} could not be written ({printable(why)}); the rest "
              "is left for the next replay", file=sys.stderr)
    store.close()
    return EXIT_OK if all(state == "handled" for _, state in done) else EXIT_REFUSED


# ---------------------------------------------------------------------------------------------
# Looking into the store

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_KINDS = {"deliver": "DeliverReq", "delivery-report": "DeliveryReportReq", "report": "DeliveryReportReq",
          "read-reply": "ReadReplyReq"}


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A point in time from an age ("30d", "12h", "90m", "2w", "45s": that long ago) or an ISO 8601
    date or time ("2026-10-01", "2026-10-01T08:00", "...+08:00"; without a zone it is local time)."""
    text = text.strip()
    now = now or datetime.now(timezone.utc)
    unit = _UNITS.get(text[-1:].lower())
    if unit is not None:
        try:
            amount = float(text[:-1])
        except ValueError:
            amount = float("nan")
        if amount >= 0 and amount != float("inf"):
            try:
                return now - timedelta(seconds=amount * unit)
            except OverflowError:  # (before the year 1: "9999999d" for "everything")
                raise ValueError(f"{text!r} is out of the range of times the store compares") from None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an age (30d, 12h, 90m, 2w, 45s) nor an ISO 8601 date or time") from None
    when = when if when.tzinfo else when.astimezone()
    try:
        when.astimezone(timezone.utc)  # (as the store compares it)
    except OverflowError:  # the year 1 at +08:00, 9999-12-31 at -05:00
        raise ValueError(f"{text!r} is out of the range of times the store compares") from None
    return when


# The largest whole number a count or a record's number can be: SQLite's integers (a --limit or an
# ID past them failed with an OverflowError's traceback) and Python's slices stop there.
_WHOLE_MAX = 2**63 - 1


def _whole(text: str, least: int, most: int,
           unlike: str = "is not a whole number from {least} to {most}") -> int:
    """`text` as a whole number from `least` to `most`, else the argparse error `unlike` says."""
    try:
        n = int(text)
    except ValueError:
        n = None
    if n is None or not least <= n <= most:
        raise argparse.ArgumentTypeError(f"{text!r} " + unlike.format(least=least, most=most))
    return n


def _count(text: str) -> int:
    return _whole(text, 1, _WHOLE_MAX)


def _failures_arg(text: str) -> int:
    """simulate --auth-failures: 0 is no limit."""
    return _whole(text, 0, _WHOLE_MAX, "is not a whole number from {least} (no limit) to {most}")


def _cooldown(text: str) -> float:
    return _float_arg(text, lambda s: 0 < s <= 86_400, "a number of seconds, more than 0 and at most 86400 (a day)")


def _concurrency(text: str) -> int:
    """send --concurrency: each request in flight is a thread (and twice as many wait queued), and
    past the client's pool_size a send only waits for a connection; 10**9 was taken, a thread a recipient."""
    # (the most connections a client keeps: [mmsc] pool_size's bound)
    from .client import MAX_POOL_SIZE  # noqa: PLC0415

    return _whole(text, 1, MAX_POOL_SIZE)


def _refused_stop(text: str) -> int:
    """send --stop-after-refused: 0 never stops."""
    return _whole(text, 0, _WHOLE_MAX, "is not a whole number from {least} (never stop) to {most}")


def _record_id(text: str) -> int:
    return _whole(text, 1, _WHOLE_MAX, "is no record's number (a whole number from {least} to {most})")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:  # (the socket layer would take 99999 as 34463 without a word)
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535; 0 picks a free one)")
    return port


def _float_arg(text: str, fits: Callable[[float], bool], refusal: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")  # (fits nothing)
    if not fits(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {refusal}")
    return value


def _seconds(text: str) -> float:
    # (0, a negative or nan: a request must never wait forever; past a year, as the client refuses it)
    return _float_arg(text, lambda s: 0 < s <= MAX_TIMEOUT, f"a positive number of seconds, at most {MAX_TIMEOUT}")


def _age_seconds(text: str) -> float:
    # (nan too; a negative age would take what a live serve has in hand right now; inf: never stale)
    return _float_arg(text, lambda s: s >= 0, "a number of seconds (0 or more)")


def _delay(text: str) -> float:
    # (a negative one ended a timer thread in a traceback; past a year, as the simulator refuses it)
    return _float_arg(text, lambda s: 0 <= s <= MAX_TIMEOUT, f"a number of seconds from 0 to {MAX_TIMEOUT}")


def _listen_hint(exc: Exception, port: str, host: str) -> int:
    """After "cannot listen on ...": what to change, for the two mistakes it most often is (said on
    a line of its own); EXIT_CONFIG."""
    import errno  # noqa: PLC0415

    code = getattr(exc, "errno", None)
    if code == errno.EADDRINUSE:
        print(f"  (another program listens there — an earlier run still going? — give another {port}; "
              "0 picks a free one)", file=sys.stderr)
    elif code == errno.EADDRNOTAVAIL:
        print(f"  (no interface of this machine has that address: give one of its own as {host}, "
              "or 0.0.0.0 for all)", file=sys.stderr)
    elif code == errno.EACCES:
        print(f"  (a port below 1024 needs privileges: give one above it as {port})", file=sys.stderr)
    return EXIT_CONFIG


def _http_url(text: str) -> str:
    from .client import is_http_url, not_http_url  # noqa: PLC0415
    from .display import shown_url  # noqa: PLC0415

    if re.search(r"[,\s]\s*https?://", text):  # (else one URL, to the first one's host with the rest as its path)
        raise argparse.ArgumentTypeError(f"{shown_url(text)!r} is several URLs in one: give the option once for each")
    if not is_http_url(text):
        raise argparse.ArgumentTypeError(not_http_url(shown_url(text)))  # (stderr is often a log's)
    return text


def _readable_file(text: str) -> str:
    try:
        Path(text).open("rb").close()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror or exc}") from None
    return text


def _not_blank(what: str):
    """--vaspid, --vasid, --service-code: a blank one went out as an empty element (<VASPID></VASPID>,
    which MMSCs refuse: 4001), as ClientConfig refuses it. send --tag: see there."""
    def check(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{text!r} is blank: give {what}, or leave the option out")
        return text
    return check


def _written_address(recipient: bool):
    """An MO's recipient or sender (mo --to/--from, probe's, simulate --mo-to/--mo-from), read as
    `send` reads one: refused here, not by the simulator later (from simulate's thread, a traceback)."""
    def check(text: str) -> str:
        from .messages import written_address  # noqa: PLC0415

        try:
            written_address(text, recipient=recipient)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text
    return check


def _password_file(text: str) -> str:
    """--password-file: the password is the file's first line (its line end dropped), so that it is
    not on the command line, where any user of the machine sees it (ps, /proc/PID/cmdline)."""
    try:
        with Path(text).open(encoding="utf-8-sig", newline="") as f:
            line = f.readline()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise argparse.ArgumentTypeError(f"{text} is not UTF-8 text") from None
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:  # (an empty file, or a first line left blank: a password of none was surely not meant)
        raise argparse.ArgumentTypeError(f"{text}: its first line is empty (the password goes there)")
    return password


def _password_variable(command: str, option: str) -> str:
    """The environment variable that gives `command`'s password `option` (--vasp-password of simulate:
    MM7BIND_SIMULATE_VASP_PASSWORD); config.COMMAND_PASSWORDS lists them, as no setting of its."""
    return f"MM7BIND_{command.upper()}_{option.removeprefix('--').replace('-', '_').upper()}"


def _add_password(p: argparse.ArgumentParser, command: str, option: str, with_user: str) -> None:
    """--OPTION PASSWORD, or --OPTION-file FILE (the same setting; one or the other), else the
    command's variable for it (`_password_given`)."""
    either = p.add_mutually_exclusive_group()
    variable = _password_variable(command, option)
    either.add_argument(option, metavar="PASSWORD",
                        help=f"with {with_user} (any user of this machine can read it from the process list: "
                             f"{option}-file or the variable {variable} is safer)")
    either.add_argument(f"{option}-file", dest=option.removeprefix("--").replace("-", "_"), metavar="FILE",
                        type=_password_file, help=f"{option} read from FILE's first line")


def _password_given(args: argparse.Namespace, command: str, option: str, user: str) -> None:
    """The password of `option` when neither it nor its -file was given, and its username (`user`,
    the attribute) was: the command's variable's (MM7BIND_PROBE_PASSWORD), as the configuration's
    passwords come from MM7BIND_MMSC_PASSWORD and MM7BIND_RECEIVER_PASSWORD; so a script or a
    service passes it out of the process list and of any file. Set and empty, it gives none."""
    dest = option.removeprefix("--").replace("-", "_")
    if getattr(args, dest) is None and getattr(args, user) is not None:
        setattr(args, dest, os.environ.get(_password_variable(command, option)) or None)


def _kind_arg(text: str) -> str:
    """--kind: a short name or the element name; a typo is refused rather than matching nothing."""
    kind = _KINDS.get(text, text)
    if kind not in _KINDS.values():
        raise argparse.ArgumentTypeError(f"{text!r} is none of deliver, delivery-report, read-reply "
                                         f"({', '.join(sorted(set(_KINDS.values())))})")
    return kind


def _when_arg(text: str) -> datetime:
    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _when_at(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time") from None
    return when if when.tzinfo else when.astimezone()




def _summary(rec) -> str:
    """One line on what a stored request was: who sent what (decoded again from its body)."""
    from .display import printable  # noqa: PLC0415

    return printable(_what(rec))


def _what(rec) -> str:
    from .codec import decode  # noqa: PLC0415
    from .store import REPORT_KINDS  # noqa: PLC0415

    if rec.kind in REPORT_KINDS:
        return f"{rec.message_id or '?'} {rec.recipient or '?'}: {rec.status or '?'}"
    if not rec.body:
        return "(body purged)"
    try:
        msg = decode(rec.body, rec.content_type).body
    except DecodeError as exc:
        return f"(undecodable: {exc})"
    sender = getattr(msg, "sender", None)
    to = ", ".join(str(a) for a in (getattr(msg, "recipients", None) or []))
    subject = getattr(msg, "subject", None)
    return f"{sender or '?'} → {to or '?'}" + (f": {subject}" if subject else "")


def _fields_json(rec) -> dict:
    """Every field of a store's record as JSON, null (or [] or {}) when it holds none: each object of
    a listing has the same keys, so a script reads row["error"] or row["message_id"] of any row (to_jsonable
    leaves empty ones out, which suits a decoded message, not a table's rows)."""
    from .jsonable import to_jsonable  # noqa: PLC0415

    return {f.name: to_jsonable(getattr(rec, f.name)) for f in dataclasses.fields(rec) if not f.name.startswith("_")}


def _record_json(rec) -> dict:
    out = _fields_json(rec)
    out.pop("body", None)
    out["body_size"] = len(rec.body)
    return out


def _store(cfg, wait: float | None = None, *, say_busy: bool = True, read_only: bool = False, command: str):
    """The configured store, or a clear message (not a traceback) when its file cannot be used
    (or, with `wait`, another process kept it locked that long: StoreBusy raised unless `say_busy`)."""
    import sqlite3  # noqa: PLC0415

    from .store import StoreBusy  # noqa: PLC0415

    try:
        return cfg.open_store(wait=wait, read_only=read_only)
    except StoreBusy as exc:
        if not say_busy:
            raise
        print(f"mm7bind {command}: the store {cfg.store.path} is being written by another process ({exc}): "
              "try again once it is done", file=sys.stderr)
        raise SystemExit(EXIT_UNREADABLE) from None
    except (sqlite3.Error, OSError) as exc:
        _say_error(f"mm7bind {command}: the store {cfg.store.path} cannot be used: {exc} (see [store] path)",
                   traceback_of=exc)
        raise SystemExit(EXIT_UNREADABLE) from None


def _open_store(args, cfg=None, wait: float | None = None, *, say_busy: bool = True, reading: bool = False):
    """`reading`: for a command that only reads, which opens a file (or folder) this user cannot
    write read-only (a copy taken for inspection), rather than failing to."""
    cfg = cfg or _config(args)
    path = Path(cfg.store.path)
    if not path.exists():  # opening would create an empty one
        print(f"mm7bind {_named(args)}: no store at {cfg.store.path} (see [store] path in the configuration)",
              file=sys.stderr)
        raise SystemExit(EXIT_UNREADABLE)
    # Opened to write, the store needs to write the file, its lock file (made 0600 by its first user:
    # another one of the group cannot take it), its -wal and -shm; those missing, the folder.
    beside = [Path(f"{path}{end}") for end in (".lock", "-wal", "-shm")]
    writable = os.access(path, os.W_OK) and all(os.access(p if p.exists() else path.absolute().parent, os.W_OK)
                                                for p in beside)
    return _store(cfg, wait, say_busy=say_busy, read_only=reading and not writable, command=_named(args))


def cmd_store_inbox(args: argparse.Namespace) -> int:
    from .display import printable, shown_time  # noqa: PLC0415

    store = _open_store(args, reading=True)
    try:
        ids = store.inbox_ids(args.state, args.kind, message_id=args.message_id,
                              since=args.since, limit=args.limit, newest_first=True)
        ids.reverse()  # the latest LIMIT, listed in the order they came
        # Each record read when its line is written: a large --limit must not hold every body at once.
        found = (rec for rec in map(store.inbox_get, ids) if rec is not None)  # (None: purged meanwhile)
        if args.json:
            print(_json([_record_json(r) for r in found], indent=2))
            return EXIT_OK
        if not ids:
            print("no stored messages match")
            return EXIT_OK
        print(f"{'ID':>6}  {'RECEIVED':19}  {'KIND':17}  {'STATE':10}  {'CODE':>4}  WHAT")
        for r in found:
            code = "" if r.response_code is None else str(r.response_code)
            print(f"{r.id:>6}  {shown_time(r.received_at)}  {r.kind:17}  {r.state:10}  {code:>4}  {_summary(r)}")
            if r.error:  # why it failed (or was refused), and how often: what --json says, as store sent shows it
                tried = f"after {r.attempts} tries: " if r.attempts > 1 else ""
                print(f"{'':6}  {'':19}  {printable(tried + r.error)}")
        return EXIT_OK
    finally:
        store.close()


def cmd_store_show(args: argparse.Namespace) -> int:
    from .codec import decode  # noqa: PLC0415

    if args.raw == "-" and sys.stdout.isatty():
        # (the bytes as received, an image's among them: escape sequences the terminal would act on)
        print("mm7bind store show: --raw - writes the message's bytes as received, not for a terminal: pipe them "
              "(| mm7bind validate -) or give a FILE", file=sys.stderr)
        return EXIT_USAGE
    store = _open_store(args, reading=True)
    try:
        rec = store.inbox_get(args.id)
    finally:
        store.close()
    if rec is None:
        print(f"mm7bind store show: no stored message #{args.id}", file=sys.stderr)
        return EXIT_UNREADABLE
    out = {"record": _record_json(rec)}
    undecodable = None
    if not rec.body:
        out["message"] = None  # purged: the record is all there is
        if args.raw or args.extract:  # (a script asking for the file must not find it silently missing)
            if args.raw != "-":  # (stdout is for the message alone then)
                print(_json(out, indent=2))
            print(f"mm7bind store show: the body of #{rec.id} was purged: nothing to write", file=sys.stderr)
            return EXIT_REFUSED
    else:
        from .receiver import plain_body, said_by_http  # noqa: PLC0415

        try:
            env = decode(rec.body, rec.content_type)
        except DecodeError as exc:  # stored because it was accepted; decoding again should not fail
            out["message"] = {"error": type(exc).__name__, "message": str(exc)}
            undecodable = exc
        else:
            # (what the request's headers said wrong, as the receiver and a replay report it)
            said_by_http(env, rec.content_type, rec.headers, plain_body(rec.body, rec.headers, len(rec.body)))
            out["message"] = describe(env)
            if args.extract:
                out["extracted"] = _extract(env, args.extract, "store show")
        if args.raw:
            # As an HTTP capture, so that `inspect` and `validate` read it back with its content type:
            # the path it came on and its headers as stored (credentials were not), the body as taken
            # (dechunked, inflated: those headers left out, its length counted again).
            if rec.path is None:
                print(f"mm7bind store show: #{rec.id} was stored without the path it came on (an older record): "
                      "the request line says POST /", file=sys.stderr)
            skipped = ("content-type", "content-length", "transfer-encoding", "content-encoding")
            lines = [f"POST {_request_target(rec.path or '/')} HTTP/1.1",
                     f"Content-Type: {rec.content_type or 'text/xml'}",
                     *(f"{k}: {v}" for k, v in rec.headers.items() if k.lower() not in skipped),
                     f"Content-Length: {len(rec.body)}"]
            raw = "\r\n".join(lines).encode("latin-1", "replace") + b"\r\n\r\n" + rec.body
            if args.raw == "-":  # (to stdout, alone: `store show N --raw - | mm7bind validate -`)
                sys.stdout.flush()
                sys.stdout.buffer.write(raw)
                sys.stdout.buffer.flush()
            else:
                try:
                    _write_new_file(args.raw, raw)
                except FileExistsError:
                    print(f"mm7bind store show: {args.raw} exists: not written over (another name, or "
                          f"--raw - > {args.raw} to replace it)", file=sys.stderr)
                    return EXIT_USAGE
                except OSError as exc:
                    print(f"mm7bind store show: cannot write {args.raw}: {exc.strerror or exc}", file=sys.stderr)
                    return EXIT_USAGE
                out["raw"] = args.raw
    if args.raw != "-":
        print(_json(out, indent=2))
    if args.extract and undecodable is not None:  # (a script asking for the files must not find them
        # silently missing; --raw writes its bytes all the same)
        from .display import printable  # noqa: PLC0415

        # (the error quotes what the MMSC sent: its escape sequences are not the terminal's)
        print(f"mm7bind store show: #{rec.id} cannot be decoded ({printable(undecodable)}): nothing extracted",
              file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def _write_new_file(path: str, data: bytes) -> None:
    """`data` in a file made at `path`, FileExistsError where a regular file is already (as extracted
    parts are never written over one). What is not one, /dev/null or the pipe of a shell's >(...),
    is written to; a file left part-written (a full disk) is taken away."""
    try:
        out = open(path, "xb")  # noqa: SIM115 (made here or not at all, never through a link found there)
    except FileExistsError:
        if os.path.isfile(path) or os.path.islink(path) and not os.path.exists(path):
            raise
        with open(path, "wb") as stream:
            stream.write(data)
        return
    try:
        with out:
            out.write(data)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def cmd_store_sent(args: argparse.Namespace) -> int:
    from .display import printable, shown_time  # noqa: PLC0415
    from .store import latest_statuses, reports_about, unreported  # noqa: PLC0415

    if args.summary:
        return _tag_summary(args)
    store = _open_store(args, reading=True)
    try:
        found = store.sent(message_id=args.message_id, recipient=args.to, since=args.since, tag=args.tag,
                           limit=args.limit, newest_first=True)
        found.reverse()
        # Each record's own: a request tried again keeps its TransactionID (the outbox, a resumed
        # campaign), and the try that timed out has no MessageID, nor any report.
        reports = [reports_about(store, r) for r in found]
    finally:
        store.close()
    if args.json:
        rows = []
        for r, about in zip(found, reports, strict=True):
            row = _fields_json(r)
            row["reports"] = [_record_json(x) for x in about]
            rows.append(row)
        print(_json(rows, indent=2))
        return EXIT_OK
    if not found:
        if (args.message_id, args.to, args.since, args.tag) == (None, None, None, None):
            # (a first `send` records nothing: the store seemed not to work)
            print("no sent records: mm7bind send records what it sends with --store (or --tag)")
        else:
            print("no sent records match")
        return EXIT_OK
    # As wide as the longest MessageID shown (MMSCs' run to 30 characters and more: the simulator's
    # are 29), so the recipients stay under their heading.
    width = max([24, *(len(printable(r.message_id or "-")) for r in found)])
    print(f"{'SENT':19}  {'OPERATION':18}  {'STATUS':>6}  {'MESSAGE-ID':{width}}  RECIPIENTS / REPORTS")
    for r, about in zip(found, reports, strict=True):
        status = str(r.status_code) if r.status_code is not None else ("error" if r.error else "")
        mid = r.message_id or "-"
        mid += " " * (width - len(printable(mid)))  # (padded as it is shown: printable() escapes the line)
        line = f"{r.operation:18}  {status:>6}  {mid}  {', '.join(r.recipients)}"
        print(f"{shown_time(r.sent_at)}  {printable(line)}")
        if r.error:
            print(f"{'':19}  {printable(r.error)}")
        if r.earlier_unanswered:  # (accepted: perhaps twice; not accepted: taken all the same, perhaps)
            print(f"{'':19}  after an attempt that got no answer: the MMSC may have it"
                  + (" twice" if r.ok else ""))
        for x in about:
            what = "delivery report" if x.kind == "DeliveryReportReq" else "read reply"  # (MM7's names, as the help's)
            print(f"{'':19}  {what} {shown_time(x.received_at)}: {printable(_what(x))}")
        # (a record from before the flag was kept, None, says nothing: whether one is awaited is not known)
        left = unreported(r, latest_statuses(r, about)) if r.ok and r.operation == "SubmitReq" else 0
        if left and r.delivery_report:
            print(f"{'':19}  no report yet" + (f" for {left} of {len(r.recipients)} recipients"
                                                if left < len(r.recipients) else ""))
        elif left and r.delivery_report is False:
            print(f"{'':19}  no report asked")
    return EXIT_OK


def cmd_store_outbox(args: argparse.Namespace) -> int:
    from .display import printable, shown_time  # noqa: PLC0415

    store = _open_store(args, reading=True)
    try:
        ids = store.outbox_ids(args.state, tag=args.tag, limit=args.limit, newest_first=True)
        ids.reverse()
        # Each item (its request, attachments and all) read when its line is written, as store inbox does.
        found = (item for item in map(store.outbox_get, ids) if item is not None)  # (None: purged meanwhile)
        if args.json:
            internal = ("body", "lease_until", "fingerprint")
            items = [{k: v for k, v in _fields_json(i).items() if k not in internal} | _outbox_fate(store, i)
                     for i in found]
            print(_json(items, indent=2))
            return EXIT_OK
        if not ids:
            print("the outbox holds nothing that matches")
            return EXIT_OK
        print(f"{'ID':>6}  {'PUT IN':19}  {'STATE':8}  {'TRIES':>5}  {'STATUS':>6}  WHAT")
        for i in found:
            what = i.message_id if i.state == "sent" else (
                f"next {shown_time(i.next_at)}" if i.state == "queued" else "")
            if i.error and i.state != "sent":
                what = f"{what}  {i.error}".strip()
            fate = _outbox_fate(store, i)
            if fate["earlier_unanswered"] and i.state == "sent":
                what += "  (after an attempt that got no answer: the MMSC may have it twice)"
            elif fate["may_have_arrived"]:
                what += "  (no answer came: the MMSC may have it)"
            if i.earlier_rounds:  # (requeue starts the count again: the tries before are said here)
                what += f"  (queued again after {i.earlier_rounds} earlier round(s))"
            status = "" if i.status_code is None else str(i.status_code)
            # (whom it is for: a campaign's item is one recipient; a queued SubmitReq may name many)
            to = ", ".join(i.recipients[:2]) + (f" +{len(i.recipients) - 2}" if len(i.recipients) > 2 else "")
            label = f"{i.transaction_id} {i.tag or '-'} → {to or '?'} {what}"
            print(f"{i.id:>6}  {shown_time(i.created_at)}  {i.state:8}  {i.attempts:>5}  {status:>6}  {printable(label)}")
        _say_outbox_pause(store)
        return EXIT_OK
    finally:
        store.close()


def _say_outbox_pause(store) -> None:
    """The pause after refusals alike the outbox's worker kept in the store, while it lasts: why
    the queued items are not going (the worker's WARNING said it once, in a log perhaps not read)."""
    from .display import printable, shown_time  # noqa: PLC0415
    from .store import utcnow  # noqa: PLC0415

    pause = store.outbox_pause() if hasattr(store, "outbox_pause") else None
    try:
        until = datetime.fromisoformat(pause["until"]) if pause else None
    except (KeyError, TypeError, ValueError):
        return
    if until is not None and until > utcnow():
        print(f"sending paused until {shown_time(until)}: the MMSC refused requests in a row alike "
              f"({printable(str(pause.get('by')))}); once mended (the account, the URL), restarting the worker with "
              "the new settings sends at once")


def _outbox_fate(store, item) -> dict:
    """What the client's record of an outbox item's TransactionID says the MMSC may have:
    `earlier_unanswered` (an attempt before the last got no answer), `may_have_arrived` (not
    accepted, and it may have reached the MMSC: `mm7bind.arrival`)."""
    from .arrival import may_have_arrived  # noqa: PLC0415

    rec = store.sent_by_transaction_id(item.transaction_id)
    earlier = bool(rec is not None and rec.earlier_unanswered)
    maybe = rec is not None and not rec.ok and item.state != "sent" and (
        earlier or (rec.status_code is None and rec.error is not None and may_have_arrived(rec.error)))
    return {"earlier_unanswered": earlier, "may_have_arrived": bool(maybe)}


def cmd_store_requeue(args: argparse.Namespace) -> int:
    from .display import printable, shown_time  # noqa: PLC0415
    from .outbox import accepted_under_tag  # noqa: PLC0415
    from .store import utcnow  # noqa: PLC0415

    cfg = _config(args)
    expires_at = utcnow() + timedelta(hours=cfg.outbox.max_age_hours)
    store = _open_store(args, cfg)
    try:
        # A campaign's item whose recipient a direct run under its tag (send --tag) has reached since
        # it failed would be a second message: left alone, and said.
        items = [store.outbox_get(i) for i in dict.fromkeys(args.ids)]
        taken = accepted_under_tag(store, [i for i in items if i is not None and i.state in ("failed", "expired")],
                                   cfg.vasp.country_code or None)
        done = [i for i in args.ids if i not in taken and store.outbox_requeue(i, expires_at)]
    finally:
        store.close()
    for i in args.ids:
        if i in taken:
            rec = taken[i]
            print(printable(f"#{i}: left alone: {', '.join(rec.recipients)} was accepted under tag {rec.tag!r} "
                            f"(MessageID {rec.message_id}, {shown_time(rec.sent_at)}): queued again, they would "
                            "get it twice"))
        else:
            print(f"#{i}: queued again" if i in done else f"#{i}: not failed or expired (or no such item): left alone")
    return EXIT_OK if len(done) == len(args.ids) else EXIT_REFUSED


def _tag_summary(args: argparse.Namespace) -> int:
    from .display import printable  # noqa: PLC0415
    from .store import summarize  # noqa: PLC0415

    if not args.tag:
        print("mm7bind store sent: --summary needs --tag", file=sys.stderr)
        return EXIT_USAGE
    narrowed = [name for name, value in (("--since", args.since), ("--to", args.to), ("--message-id", args.message_id))
                if value is not None]
    if narrowed:  # (not counted over the whole tag without a word: a day's part read as the campaign's)
        print(f"mm7bind store sent: --summary counts the whole tag: {', '.join(narrowed)} would not narrow it",
              file=sys.stderr)
        return EXIT_USAGE
    store = _open_store(args, reading=True)
    try:
        s = summarize(store, args.tag)
    finally:
        store.close()
    if args.json:  # every count, 0 and {} too: a script reads s["delivery"] before any report came
        print(_json(dataclasses.asdict(s), indent=2))
        return EXIT_OK
    twice = (f" ({s.earlier_unanswered} after an attempt that got no answer: perhaps twice)"
             if s.earlier_unanswered else "")
    print(printable(f"tag {s.tag}: {s.requests} SubmitReq: {s.accepted} accepted{twice}, {s.refused} refused, "
                     f"{s.failed} without answer" + (f" ({s.may_have_arrived} of them may have reached the MMSC)"
                                                     if s.may_have_arrived else "")))
    delivery = ", ".join(f"{status} {n}" for status, n in sorted(s.delivery.items(), key=lambda i: -i[1]))
    print(printable(f"{_recipients(s.recipients)}: {delivery + ', ' if delivery else ''}no report yet {s.awaiting}"
                    + (f", no report asked {s.not_asked}" if s.not_asked else "")))
    if s.read:
        print(printable("read replies: " + ", ".join(f"{status} {n}" for status, n in sorted(s.read.items()))))
    if s.queued:
        print(f"{_recipients(s.queued)} queued in the outbox, not sent yet (see store outbox)")
    return EXIT_OK


def _request_target(path: str) -> str:
    """A stored path as a request line has it: percent-encoded again. (It is stored as the server
    gave it, decoded: "/vasp/my mo" made a request line of four words, which no reader takes; each
    character a WSGI path holds stands for a byte, as received.)"""
    from urllib.parse import quote  # noqa: PLC0415

    try:
        raw = path.encode("latin-1")
    except UnicodeEncodeError:  # (a path a program of one's own stored: its UTF-8)
        raw = path.encode("utf-8", "surrogateescape")
    return quote(raw, safe="/!$&'()*+,;=:@-._~")


def cmd_store_purge(args: argparse.Namespace) -> int:
    from .display import shown_time  # noqa: PLC0415
    from .errors import disk_full  # noqa: PLC0415
    from .store import PURGEABLE  # noqa: PLC0415

    before = args.older_than
    states = PURGEABLE + (("failed",) if args.include_failed else ())
    store = _open_store(args)
    done = None
    try:
        done = store.purge(before, states=states, bodies_only=args.bodies_only, sent=not args.keep_sent,
                           dry_run=args.dry_run)
        if args.vacuum and not args.dry_run:
            store.vacuum()
    except sqlite3.OperationalError as exc:
        if not disk_full(exc):
            raise
        # Deleting writes too: each batch's pages go to the -wal first, and a vacuum copies the file.
        what = ("the purge is done; the vacuum" if done is not None
                else "the purge (batches done so far stay done)")
        print(f"mm7bind store purge: the disk holding the store {store.path} is full: {what} could not write "
              "SQLite's write-ahead log (a vacuum also needs room for a copy of the file). Free some space there "
              "(a few MB for a purge, as much as the file for --vacuum) and run it again", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        store.close()
    verb = "would remove" if args.dry_run else "removed"
    if args.bodies_only:
        print(f"{verb} {done.bodies} bodies and their headers (every record kept) from before {shown_time(before)}")
        return EXIT_OK
    outbox = f", {done.outbox} {'finished' if args.include_failed else 'sent'} outbox items" if done.outbox else ""
    print(f"{verb} {done.inbox} received records and {done.sent} sent records{outbox} "
          f"from before {shown_time(before)}")
    if done.inbox and before > datetime.now(timezone.utc) - timedelta(days=1):
        # (as config check warns of keep_days under 1: the records are how repeats are recognised)
        sys.stdout.flush()
        print("mm7bind store purge: note: an age under a day: a copy of a purged message that an MMSC still sends "
              "(its answer lost on the way) is taken as new and handled again; --bodies-only keeps the records",
              file=sys.stderr)
    return EXIT_OK


def cmd_store_check(args: argparse.Namespace) -> int:
    from .display import printable  # noqa: PLC0415
    from .store import StoreBusy  # noqa: PLC0415

    cfg = _config(args)
    try:  # (a health check answers: it does not wait for a vacuum of minutes, as a message would not)
        store = _open_store(args, cfg, wait=cfg.receiver.store_wait, say_busy=False, reading=True)
    except StoreBusy as exc:
        print(f"takes messages: no, {exc}")
        print("file: not checked (another process is writing it: a vacuum, an upgrade)")
        return EXIT_REFUSED
    try:
        problem = store.check(reserve=cfg.receiver.max_body)
        if store.read_only:  # (why: _open_store found it so)
            problem = "opened read-only: this user cannot write it (its file, lock file, -wal, -shm or folder)"
        damage = store.integrity(full=args.full)
    finally:
        store.close()
    print("takes messages: " + ("yes" if problem is None else f"no, {problem}"))
    how = "integrity_check" if args.full else "quick_check"
    print(f"file: intact ({how})" if not damage else f"file: DAMAGED ({how}; restore a backup, or try sqlite3's .recover):")
    for line in damage[:20]:
        print(f"  {printable(line)}")
    if len(damage) > 20:
        print(f"  ... and {len(damage) - 20} more")
    return EXIT_OK if problem is None and not damage else EXIT_REFUSED


def _check_store_at_start(cfg, store) -> None:
    """[store] check_at_start: a damaged store found before any message is taken into it (exit 2)."""
    from .display import printable  # noqa: PLC0415

    if not cfg.store.check_at_start:
        return
    full = cfg.store.check_at_start == "full"
    log.info("checking the store %s (%s)", cfg.store.path, "integrity_check" if full else "quick_check")
    damage = store.integrity(full=full)
    if damage:
        store.close()
        print(f"mm7bind serve: the store {cfg.store.path} is damaged ({len(damage)} problem(s)), the first: "
              f"{printable(damage[0])}; `mm7bind store check` lists them (restore a backup, or try sqlite3's "
              ".recover)", file=sys.stderr)
        raise SystemExit(EXIT_UNREADABLE)


# SimulatorConfig's settings as simulate spells them: a setting its error names first is said as the
# option the user typed (its values, quoted after it, are left as they are).
_SIMULATE_OPTIONS = (("read_status", "--read-status"), ("report_status", "--report-status"),
                     ("recipient_status", "--recipient-status"), ("report_delay", "--report-delay"),
                     ("read_delay", "--read-delay"), ("report_retry_delay", "--report-retry-delay"),
                     ("vasp_timeout", "--vasp-timeout"),
                     ("report_attempts", "--report-attempts"), ("max_recipients", "--max-recipients"),
                     ("max_message_size", "--max-size"), ("max_messages", "--max-messages"),
                     ("vasp_cert", "--vasp-cert"), ("vasp_verify", "--vasp-ca"),
                     ("auth_failures", "--auth-failures"), ("auth_cooldown", "--auth-cooldown"),
                     ("accepted_versions", "--accept-version"), ("refused_recipients", "--refuse-recipient"),
                     ("unknown dialect", "--dialect: unknown dialect"))


def _as_option(problem: str, options: tuple[tuple[str, str], ...]) -> str:
    for setting, option in options:
        if re.match(re.escape(setting) + r"(?![\w-])", problem):
            return option + problem[len(setting):]
    return problem


# simulate's options that mean something only with another, their default when it is given
_MO_DEFAULTS = {"mo_from": "+8613800138000", "mo_to": "1065888", "mo_after": 1.0}
_AUTH_DEFAULTS = {"auth": "basic", "digest_qop": "auth", "digest_algorithm": "MD5", "auth_cooldown": 60.0}


def _simulate_combinations(args: argparse.Namespace) -> None:
    """An option given without the one it goes with, refused (ValueError) rather than ignored
    without a word (`--digest-algorithm SHA-256` without `--auth digest` offered Basic); then the
    defaults of those left out."""
    https = (args.vasp_url or "").lower().startswith("https:")
    for option, dest, given, needed in (
            ("--auth", "auth", args.username is not None, "--username (the credentials it asks for)"),
            ("--digest-qop", "digest_qop", args.auth == "digest", "--auth digest"),
            ("--digest-algorithm", "digest_algorithm", args.auth == "digest", "--auth digest"),
            ("--auth-failures", "auth_failures", args.username is not None,
             "--username (it counts wrong credentials)"),
            ("--auth-cooldown", "auth_cooldown", bool(args.auth_failures), "--auth-failures N (more than 0)"),
            ("--vasp-username", "vasp_username", bool(args.vasp_url), "--vasp-url"),
            ("--vasp-ca", "vasp_ca", https, "an https --vasp-url"),
            ("--vasp-cert", "vasp_cert", https, "an https --vasp-url"),
            ("--vasp-key", "vasp_key", args.vasp_cert is not None, "--vasp-cert"),
            *((option, dest, args.mo_text is not None, "--mo-text (the MO it shapes)") for option, dest in (
                ("--mo-from", "mo_from"), ("--mo-to", "mo_to"), ("--mo-subject", "mo_subject"),
                ("--mo-version", "mo_version"), ("--mo-after", "mo_after")))):
        value = getattr(args, dest)
        if value is not None and (value or dest != "auth_failures") and not given:  # (--auth-failures 0: none)
            raise ValueError(f"{option} goes with {needed}: without it, it would be ignored")
    if args.vasp_password is not None and args.vasp_username is None:
        raise ValueError("--vasp-password (or --vasp-password-file) goes with --vasp-username")
    if args.vasp_username is not None and args.vasp_password is None:
        raise ValueError("--vasp-username and --vasp-password (or --vasp-password-file, or "
                         "MM7BIND_SIMULATE_VASP_PASSWORD) go together")
    for dest, default in (_MO_DEFAULTS | _AUTH_DEFAULTS).items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)


def cmd_simulate(args: argparse.Namespace) -> int:
    from .auth import BasicAuth, DigestAuth  # noqa: PLC0415
    from .simulator import Simulator, SimulatorConfig  # noqa: PLC0415

    _password_given(args, "simulate", "--password", "username")
    _password_given(args, "simulate", "--vasp-password", "vasp_username")
    try:
        if (args.username is None) != (args.password is None):
            raise ValueError("--username and --password (or --password-file, or MM7BIND_SIMULATE_PASSWORD) go "
                             "together")
        if args.mo_text is not None and not args.vasp_url:  # (else a thread's traceback once --mo-after passed)
            raise ValueError(f"--mo-text sends an MO to the VASP: give --vasp-url too (`mm7bind serve` receives at "
                             f"{_serve_default_url()} unless configured otherwise)")
        _simulate_combinations(args)
        auth = None
        if args.username is not None:  # what the VASP must present, as a carrier's MMSC would ask
            auth = (DigestAuth(args.username, args.password, qop=args.digest_qop, algorithm=args.digest_algorithm)
                    if args.auth == "digest" else BasicAuth(args.username, args.password))
        recipient_status = {}
        for item in args.recipient_status or ():
            recipient, eq, status = item.rpartition("=")  # (rpartition: Nokia's "/TYPE=PLMN" has one too)
            if not eq or not recipient:
                raise ValueError(f"--recipient-status takes RECIPIENT=STATUS, not {item!r}")
            recipient_status[recipient] = status
        refused_recipients = {}
        for item in args.refuse_recipient or ():
            recipient, eq, code = item.rpartition("=")
            if not eq or not recipient or not (code.strip().isascii() and code.strip().isdigit()):
                raise ValueError(f"--refuse-recipient takes RECIPIENT=CODE (a status code: 2002, 3002...), "
                                 f"not {item!r}")
            refused_recipients[recipient] = int(code)
        if args.mo_version is not None:  # (checked now: the MO goes later, from a thread, unseen if refused then)
            from . import versions  # noqa: PLC0415

            try:
                args.mo_version = versions.get(args.mo_version).name
            except KeyError as exc:
                raise ValueError(f"--mo-version: {exc.args[0]}") from None
            if args.dialect != "standard":  # (as Simulator.deliver refuses it)
                raise ValueError(f"--mo-version: the {args.dialect} dialect sends its MO in its own version: a "
                                 "version is chosen in the standard dialect alone")
        config = SimulatorConfig(
            host=args.host, port=args.port, dialect=args.dialect, strict=args.strict, vasp_url=args.vasp_url,
            report_status=args.report_status, recipient_status=recipient_status, report_delay=args.report_delay,
            read_delay=args.read_delay, read_status=args.read_status, report_attempts=args.report_attempts,
            report_retry_delay=args.report_retry_delay, vasp_timeout=args.vasp_timeout,
            max_recipients=args.max_recipients,
            require_smil=args.require_smil, max_message_size=args.max_size, quirks=not args.no_quirks,
            vaspid=args.vaspid, vasid=args.vasid, vasp_short_code=args.vasp_short_code,
            vasp_username=args.vasp_username, vasp_password=args.vasp_password,
            vasp_verify=args.vasp_ca or True, auth=auth, max_messages=args.max_messages,
            auth_failures=args.auth_failures, auth_cooldown=args.auth_cooldown,
            vasp_cert=(args.vasp_cert, args.vasp_key) if args.vasp_key else args.vasp_cert,
            accepted_versions=tuple(args.accept_version) if args.accept_version else None,
            refused_recipients=refused_recipients,
        )
    except ValueError as exc:
        print(f"mm7bind simulate: {_as_option(str(exc), _SIMULATE_OPTIONS)}", file=sys.stderr)
        return EXIT_USAGE
    import logging  # noqa: PLC0415

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if _log_shares_stdout():  # (its start is printed below: said once)
        from .simulator import STARTED  # noqa: PLC0415

        logging.getLogger("mm7bind.simulator").addFilter(lambda record: record.msg is not STARTED)
    from .simulator import PATHLESS, pathless_vasp_url  # noqa: PLC0415

    if (pathless := pathless_vasp_url(args.vasp_url)) is not None:  # (said once, naming the option)
        print(f"mm7bind simulate: warning: --vasp-url {pathless}", file=sys.stderr)
        logging.getLogger("mm7bind.simulator").addFilter(lambda record: record.msg is not PATHLESS)
    sim = Simulator(config)
    signals = _Signals()
    try:
        sim.start()
    except (OSError, ValueError) as exc:  # the port is taken or not ours to take; a host that is no address
        print(f"mm7bind simulate: cannot listen on {args.host}:{args.port}: {getattr(exc, 'strerror', None) or exc}",
              file=sys.stderr)
        # (as serve: an address that cannot be listened on is a setting to change)
        return _listen_hint(exc, "--port", "--host")
    try:
        _echo(f"MMSC simulator ({args.dialect}) at {sim.url}; control at {sim.control_url}; Ctrl-C stops")
        if args.mo_text is not None:
            def later() -> None:
                time.sleep(args.mo_after)
                sim.deliver(args.mo_from, [args.mo_to], args.mo_subject, text=args.mo_text, version=args.mo_version)
            threading.Thread(target=later, daemon=True).start()
        signals.wait()
    finally:
        sim.stop()
    return EXIT_OK


def _serve_default_url() -> str:
    """Where `mm7bind serve` receives without a configuration: its [receiver] defaults."""
    from .config import ReceiverSection  # noqa: PLC0415

    defaults = ReceiverSection()
    return f"http://{defaults.host}:{defaults.port}{defaults.path}"


def cmd_mo(args: argparse.Namespace) -> int:
    import requests  # noqa: PLC0415

    base = args.simulator.rstrip("/")
    if base.endswith("/mm7"):
        base = base[: -len("/mm7")]
    payload = {"from": args.sender, "to": args.to or ["1065888"], "subject": args.subject, "text": args.text,
               "linked_id": args.linked_id, "priority": args.priority}
    if args.version is not None:  # (not sent otherwise: a simulator of a release before refuses a field it does not know)
        payload["version"] = args.version
    from .display import printable, shown_url  # noqa: PLC0415

    shown = shown_url(base)  # (what is said of it: a password in it never)

    def failed(why: str, code: int) -> int:
        # (with --json, as send --json: the one object on stdout, a script finding no JSON at all otherwise)
        if args.json:
            print(_json({"operation": "DeliverReq", "status": None, "error": why}))
        else:  # (the simulator's words among them: no escape sequence reaches the terminal)
            print(printable(f"mm7bind mo: {why}"), file=sys.stderr)
        return code

    session = requests.Session()
    session.trust_env = False  # (an http_proxy of the environment would take even a loopback simulator's requests)
    try:
        with session:
            # (the simulator answers once the VASP did, or gave up: with its defaults, a VASP that
            # never answers takes two attempts of vasp_timeout, a minute; a fixed 30 s blamed the simulator)
            r = session.post(base + "/control/deliver", json=payload, timeout=(min(5.0, args.timeout), args.timeout))
    except KeyboardInterrupt:
        # (the simulator goes on with the MO it was asked for: stopping mo stops no delivery)
        return failed("interrupted before the simulator's outcome: it may have sent the MO all the same, and goes on "
                      "trying the VASP", EXIT_INTERRUPTED)
    except requests.ReadTimeout:  # (no answer: exit 4, by send's rule, `_answers_exit`)
        return failed(f"the simulator at {shown} gave no outcome within {args.timeout:g} s: it may still be "
                      "waiting for the VASP's answer (its vasp_timeout, 30 s an attempt by default) — the MO may or "
                      "may not have arrived; --timeout waits longer", _answers_exit(1, 1))
    except requests.RequestException as exc:
        from .client import REFUSED_HINT, connection_refused, host_port, transport_reason  # noqa: PLC0415
        # (the words send uses, not urllib3's repr; what to look at first, as send says it)

        why = transport_reason(exc)
        if connection_refused(exc):
            why = (f"{REFUSED_HINT} {host_port(base)}: is `mm7bind simulate` running, and at that address "
                   f"(--simulator URL)? ({why})")
        return failed(f"cannot reach the simulator at {shown}: {why}", _answers_exit(1, 1))
    from .arrival import UNAVAILABLE_STATUSES  # noqa: PLC0415

    if r.status_code in UNAVAILABLE_STATUSES:  # (a proxy before it, finding none or too slow; the simulator's own
        # answers are 200 or 400: as send takes an MMSC's gateway's, no answer, exit 4)
        return failed(f"the simulator at {shown} did not answer: HTTP {r.status_code} {r.reason or ''}".rstrip()
                      + " (from a proxy or gateway before it)", _answers_exit(1, 1))
    try:
        answer = r.json()
    except ValueError:  # something else listens there (the VASP's own receiver, a web server)
        return failed(f"{shown} is not an mm7bind simulator: /control/deliver answered HTTP {r.status_code} "
                      "without JSON", EXIT_REFUSED)
    from .status import is_success, lookup  # noqa: PLC0415

    status = answer.get("status") if isinstance(answer, dict) else None
    taken = r.ok and isinstance(answer, dict) and "error" not in answer and isinstance(status, int) \
        and is_success(status)
    if not isinstance(answer, dict) or "operation" not in answer:  # (the simulator's own refusal: a 400)
        said = answer.get("error") if isinstance(answer, dict) else None
        from .simulator import NO_VASP_URL  # noqa: PLC0415

        if isinstance(said, str) and said.startswith(NO_VASP_URL):
            # (a simulator started without --vasp-url: the receiver this runs beside is most often
            # `mm7bind serve` as it starts by default)
            said += f"; for `mm7bind serve` as it starts by default: simulate --vasp-url {_serve_default_url()}"
        # (with --json, the object every failure gives: the simulator's {"error"} alone had no
        # operation nor status, and left out the hint)
        return failed(f"the simulator did not send it: {said or f'HTTP {r.status_code}'}", _answers_exit(1, 0))
    if args.json:
        print(_json(answer))
    else:
        tries = answer.get("attempts", 1)
        about = (f"TransactionID {answer.get('transaction_id')}, LinkedID {answer.get('linked_id')}, "
                 f"{tries} attempt{'' if tries == 1 else 's'}")
        words = f"{status} {lookup(status).text}" if isinstance(status, int) else None
        if taken:
            print(printable(f"delivered: the VASP answered {words} ({about})"))
        elif "error" in answer:  # (a Fault with a status: refused, else no answer to tell)
            said = "refused" if isinstance(status, int) else "not delivered"
            print(printable(f"mm7bind mo: {said}: {answer['error']} ({about})"), file=sys.stderr)
        else:
            print(printable(f"mm7bind mo: refused: the VASP answered {words} ({about})"), file=sys.stderr)
    return _answers_exit(0 if taken else 1, 0)  # (the simulator answered)


# (the hints of a probe's problems name its options, not the library's settings)
_PROBE_SETTINGS = {"verify": "--ca", "cert": "--cert", "credentials": "--username and --password"}


def cmd_probe(args: argparse.Namespace) -> int:
    from . import versions  # noqa: PLC0415
    from .client import ClientConfig  # noqa: PLC0415
    from .display import printable  # noqa: PLC0415
    from .probe import OPERATIONS, probe  # noqa: PLC0415

    _password_given(args, "probe", "--password", "username")
    if (args.username is None) != (args.password is None):
        print("mm7bind probe: --username and --password (or --password-file, or MM7BIND_PROBE_PASSWORD) go together",
              file=sys.stderr)
        return EXIT_USAGE
    if args.auth is not None and args.username is None:  # (ignored else: no credentials to present)
        print("mm7bind probe: --auth goes with --username (the credentials it presents): without it, it would be "
              "ignored", file=sys.stderr)
        return EXIT_USAGE
    https = args.url.lower().startswith("https:")
    for option, given in (("--ca", args.ca), ("--cert", args.cert)):
        if given is not None and not https:
            print(f"mm7bind probe: {option} goes with an https URL: without it, it would be ignored", file=sys.stderr)
            return EXIT_USAGE
    try:
        chosen = [versions.get(v).name for v in args.version] if args.version else None
    except KeyError as exc:
        print(f"mm7bind probe: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    names = {"deliver": "DeliverReq", "report": "DeliveryReportReq", "read-reply": "ReadReplyReq"}
    operations = tuple(names[o] for o in args.operation) if args.operation else OPERATIONS
    config = ClientConfig(urls=(args.url,), username=args.username, password=args.password, auth=args.auth or "auto",
                          verify=args.ca or True, cert=args.cert, connect_timeout=min(10.0, args.timeout),
                          read_timeout=args.timeout)
    # Each failure is in the probe's own report: the client's log lines (on stderr, in the library's
    # terms) said them again, out of order with it.
    _command_log_handler("mm7bind", logging.NullHandler())
    heard = []  # (what a Ctrl-C leaves: --json prints it, as it would have printed all)

    def said(r) -> None:
        heard.append(r)
        if args.json:
            return
        outcome = "ok" if r.ok else "FAILED"
        status = printable(f"{r.status} {r.status_text or ''}".strip()) if r.status is not None else "-"
        print(f"{r.version:<14} {r.operation + (' again' if r.repeat else ''):<24} {outcome:<6} {status} "
              f"({r.elapsed * 1000:.0f} ms)")
        for problem in r.problems:
            print(f"  {printable(problem)}")

    if args.ca or args.cert:  # (read before any request: else each would fail on them alike)
        from .client import TLSFileError, client_ssl_context  # noqa: PLC0415

        try:
            client_ssl_context(config.verify, config.cert)
        except TLSFileError as exc:
            print(f"mm7bind probe: {'--ca' if exc.setting == 'verify' else '--cert'}: {exc.why}", file=sys.stderr)
            return EXIT_USAGE

    def shown(results) -> str:
        return _json([dataclasses.asdict(r) | {"ok": r.ok, "unreachable": r.unreachable} for r in results], indent=2)

    try:
        results = probe(args.url, version_names=chosen, operations=operations, repeat=not args.no_repeat,
                        sender=args.sender, recipient=args.to, config=config, on_result=said,
                        setting_names=_PROBE_SETTINGS)
    except KeyboardInterrupt:  # (main says it, exit 130; the text lines were printed as they came)
        if args.json:
            print(shown(heard))
        raise
    failed = [r for r in results if not r.ok]
    if args.json:
        print(shown(results))
    else:
        print(f"{len(results) - len(failed)} of {len(results)} answered as they should")
    # (as send's: a 502, 503 or 504 from a proxy before the VASP, a connection lost, and a stop after
    # requests in a row unanswered in time exited 1, "not answered as they should")
    return _answers_exit(len(failed), sum(r.unanswered for r in failed), answered=len(results) - len(failed),
                         stopped=bool(results) and results[-1].stopped)


# ---------------------------------------------------------------------------------------------
# Configuration, version, demo


def cmd_config_check(args: argparse.Namespace) -> int:
    from .config import load  # noqa: PLC0415

    if args.file is not None and args.file.lower().endswith(".xml"):
        from .cmcc.config import check_cmcc  # noqa: PLC0415

        problems = check_cmcc(args.file, args.conn_config)
    elif args.conn_config:  # (as the other commands refuse it: it was left unchecked without a word)
        print("mm7bind config check: --conn-config goes with a China Mobile mm7Config.xml (a TOML configuration "
              "holds those settings itself)", file=sys.stderr)
        return EXIT_USAGE
    else:
        # (without FILE: what the commands run on without --config, the MM7BIND_ variables over the
        # defaults — a container's configuration — which could not be checked before it was used)
        _, problems = load(args.file)
    for p in problems:
        print(p)
    errors = sum(p.level == "error" for p in problems)
    warnings = len(problems) - errors
    named = args.file if args.file is not None else "the MM7BIND_ variables over the defaults (no FILE)"
    print(f"{named}: {errors} error(s), {warnings} warning(s)")
    return EXIT_CONFIG if errors else EXIT_OK


def cmd_version(args: argparse.Namespace) -> int:
    from . import versions  # noqa: PLC0415

    # (mm7bind.cmcc.API_VERSION, as the cmcc profile sends it: said without importing the China
    # Mobile layer, which imports everything else; a test keeps the three the same)
    print(f"mm7bind {__version__}")
    print(f"当前使用的MM7 API的版本为：mm7bind-{__version__}  (the MM7APIVersion header of the cmcc dialect)")
    print(f"schema versions: {', '.join(v.name for v in versions.all_versions())}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run  # noqa: PLC0415

    return run(out=sys.stdout)


_NOT_REPEATED = "not repeated: it may be a secret"  # (an error's words for a value typed)


def _unrecognized(unknown: list[str], options: list[str]) -> str:
    """argparse's "unrecognized arguments" naming the options alone: the values among them (`send
    --passwrd SECRET`, --passwrd=SECRET) counted, not repeated, and the nearest option of each named."""
    import difflib  # noqa: PLC0415

    names, values = [], 0
    for typed in unknown:
        if not typed.startswith("-") or typed == "-" or re.fullmatch(r"-\.?\d.*", typed):  # (-1: a number)
            values += 1
        elif typed.startswith("--"):
            name, given, _ = typed.partition("=")
            names.append(name)
            values += bool(given)
        else:  # (-pSECRET: a short option and its value written together)
            names.append(typed[:2])
            values += len(typed) > 2
    said = " ".join(names)
    if values:
        said += (" and " if names else "") + (f"1 value, {_NOT_REPEATED}" if values == 1 else
                                               f"{values} values, not repeated: one may be a secret")
    # (`send --too 1`, `--jsn`: the nearest option named, as a mistyped command is)
    near = [f"{name}: did you mean {m[0]}?" for name in names if name.startswith("--")
            for m in [difflib.get_close_matches(name, options, n=1, cutoff=0.7)] if m]
    return f"unrecognized arguments: {said}" + (f" ({'; '.join(near)})" if near else "")


class _Parser(argparse.ArgumentParser):
    """argparse's parser, saying what can be chosen where its words leave it out: a command or action
    missing (`mm7bind store`: the metavar hid the list) names them, and one mistyped (`mm7bind sned`)
    names the nearest. The parsers of commands and actions are of this class too (add_subparsers).
    `examples`: command lines shown at the end of --help as written (argparse would rewrap them)."""

    def __init__(self, *args, examples: tuple[str, ...] = (), notes: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.examples = examples
        self.notes = notes

    def format_help(self) -> str:
        text = super().format_help()
        if self.examples:
            text += "\nexamples:\n" + "".join(f"  {line}\n" for line in self.examples)
        return text + self.notes

    def _check_value(self, action: argparse.Action, value) -> None:
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError:
            import difflib  # noqa: PLC0415

            near = difflib.get_close_matches(str(value), [str(c) for c in action.choices or ()], n=1, cutoff=0.6)
            listed = ", ".join(map(str, action.choices))
            if not near and action.option_strings:  # (`--auth user:secret`, as curl -u takes it)
                raise argparse.ArgumentError(
                    action, f"invalid choice (the value is {_NOT_REPEATED}; choose from {listed})") from None
            if not near:
                raise
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r}: did you mean '{near[0]}'? (choose from {listed})") from None

    def error(self, message: str) -> None:
        # argparse's words that repeat a value typed, which may be a password (--pass=SECRET, --json=SECRET)
        if message.startswith("ambiguous option: ") and " could match " in message:
            typed, _, matches = message.removeprefix("ambiguous option: ").rpartition(" could match ")
            name, given, _ = typed.partition("=")
            message = (f"ambiguous option: {name} could match {matches}"
                       + (f" (its value is {_NOT_REPEATED})" if given else ""))
        elif (explicit := re.match(r"(argument [^:]*): ignored explicit argument ", message)) is not None:
            message = f"{explicit.group(1)}: takes no value (the one given is {_NOT_REPEATED})"
        subs = next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
        if subs is not None and message.startswith("the following arguments are required:") \
                and subs.metavar in message.split(":", 1)[1].replace(",", " ").split():
            message += (f" (one of: {', '.join(subs.choices)}; `{self.prog} --help` says what each does)")
        super().error(message)


class _ServeHelp(argparse.HelpFormatter):
    """serve --help (and simulate's, naming where serve receives) with the configuration's [receiver]
    defaults, read when the help is shown: parsing any command line need not import the configuration."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text and "{receiver." in text:
            from .config import ReceiverSection  # noqa: PLC0415

            text = text.format(receiver=ReceiverSection())
        return text


# What every command's exit status means (`mm7bind --help`; README "The command" says more of each)
_EXIT_MEANINGS = {
    EXIT_OK: "done",
    EXIT_REFUSED: "refused, some failed, or invalid (validate)",
    EXIT_USAGE: "bad arguments, or input that cannot be read (send: a message that cannot be built from them, "
                "one or a campaign's or queued, nothing sent)",
    EXIT_CONFIG: "bad configuration, or an address serve or simulate cannot listen on",
    EXIT_UNREACHABLE: "no MMSC answered: none reached, none in time, a connection lost, a 502/503/504 (probe: the "
                      "VASP; mo: the simulator)",
    EXIT_CUT_OFF: "serve stopped with requests in hand, closed unanswered",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C; for send, SIGTERM too)",
    EXIT_BROKEN_PIPE: "the output's reader went away (mm7bind store inbox | head)",
}

# What validate's exit status says of the files it read (the worst of them: an unreadable one over an
# invalid one), in `mm7bind validate --help`
_VALIDATE_EXITS = {
    EXIT_OK: "every message valid (with --lenient: or accepted); files in a folder that are no message skipped",
    EXIT_INVALID: "a file invalid (none unreadable)",
    EXIT_UNREADABLE: "a file unreadable (missing, or no message or capture that decodes; a folder with none), "
                     "or bad arguments",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_BROKEN_PIPE: "the output's reader went away (mm7bind validate captures/ | head)",
}

# probe's and mo's, by the rule `_answers_exit` says (`mm7bind probe --help`, `mm7bind mo --help`)
_PROBE_EXITS = {
    EXIT_OK: "every request answered as it should",
    EXIT_REFUSED: "one answered, but not as it should (a refusal, another version, a problem listed)",
    EXIT_USAGE: "bad arguments",
    EXIT_UNREACHABLE: "the VASP answered none: no connection, a timeout, the connection lost, a 502/503/504 "
                      "each; or the probe stopped for that (unreachable, 3 in a row not answered in time)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
_MO_EXITS = {
    EXIT_OK: "the VASP took it",
    EXIT_REFUSED: "the VASP refused it or did not answer the simulator, the simulator did not send it, or what "
                  "answered is no simulator",
    EXIT_USAGE: "bad arguments",
    EXIT_UNREACHABLE: "the simulator did not answer: nothing listens, no outcome within --timeout, a 502/503/504 "
                      "from a proxy before it",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C) before the simulator's outcome",
}


def _exit_notes(meanings: dict[int, str]) -> str:
    return "\nexit status:\n" + "".join(f"  {code:<4} {words}\n" for code, words in meanings.items())


_TOP_NOTES = (
    _exit_notes(_EXIT_MEANINGS)
    + "\nenvironment:\n"
      "  MM7BIND_<SECTION>_<KEY>   a setting of the configuration, over --config's file\n"
      "                            (MM7BIND_MMSC_URLS, MM7BIND_MMSC_PASSWORD, MM7BIND_RECEIVER_PORT ...)\n"
      "  MM7BIND_PROBE_PASSWORD, MM7BIND_SIMULATE_PASSWORD, MM7BIND_SIMULATE_VASP_PASSWORD\n"
      "                            a command's password, when its option and -file are not given\n"
    + "\n`mm7bind COMMAND --help` says what COMMAND takes, with examples.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mm7bind", description="MM7 (3GPP TS 23.140) toolkit for VASPs", notes=_TOP_NOTES)
    parser.add_argument("--version", action="version", version=f"mm7bind {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", "-c", metavar="FILE", help="mm7bind TOML, or China Mobile mm7Config.xml")
        p.add_argument("--conn-config", metavar="FILE", help="China Mobile ConnConfig.xml (with mm7Config.xml)")
        p.add_argument("--verbose", "-v", action="store_true",
                       help="debug log, and the Python traceback behind an error said in one line")

    p = sub.add_parser("demo", help="send, receive and report on loopback, on built-in defaults")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("send", help="send a multimedia message (SubmitReq) to one or many recipients",
                       examples=("mm7bind send --to +8613800138000 --subject Hello --text 'Hi there' --attach pic.jpg",
                                 "mm7bind send -c mm7bind.toml --to-file numbers.csv --tag nov-promo --text 'Offer'  "
                                 "# run again: resumes",
                                 "mm7bind send --mmsc https://mmsc.example/mm7 --version REL-5-MM7-1-2 --to 13800138000 "
                                 "--text hi --delivery-report"),
                       description="Send a SubmitReq to the MMSC of --mmsc or the configuration ([mmsc] urls; "
                                   "without either, the simulator's default http://127.0.0.1:9090/mm7).")
    with_config(p)
    p.add_argument("--to", action="append", metavar="ADDRESS", help="recipient (repeatable)")
    p.add_argument("--to-file", metavar="CSV", help="recipients, one per line (first column; '-' for stdin)")
    p.add_argument("--from", dest="sender", metavar="ADDRESS", help="SenderAddress (else the configuration's)")
    p.add_argument("--vaspid", metavar="ID", type=_not_blank("the VASP's ID (China Mobile: its enterprise code)"),
                   help="VASPID (China Mobile: enterprise code)")
    p.add_argument("--vasid", metavar="ID", type=_not_blank("the service's ID (China Mobile: its service code)"),
                   help="VASID (China Mobile: service code)")
    p.add_argument("--service-code", metavar="CODE", type=_not_blank("the service code (China Mobile: its business "
                                                                     "code)"),
                   help="ServiceCode (China Mobile: business code)")
    p.add_argument("--subject", help="the Subject")
    p.add_argument("--text", help="a text part")
    p.add_argument("--attach", action="append", metavar="FILE", help="an attachment (repeatable)")
    p.add_argument("--smil", metavar="FILE", help="the SMIL presentation (generated when absent)")
    p.add_argument("--no-smil", action="store_true",
                   help="generate no SMIL: the parts go as multipart/mixed (as some carriers want them)")
    p.add_argument("--mmsc", action="append", metavar="URL", type=_http_url,
                   help="MMSC URL (repeatable: fail-over order)")
    p.add_argument("--version", metavar="NAME", help="schema version to send, e.g. REL-6-MM7-1-0")
    p.add_argument("--delivery-report", action="store_true", help="ask for delivery reports")
    p.add_argument("--read-reply", action="store_true", help="ask for read replies")
    p.add_argument("--linked-id", metavar="ID", help="LinkedID of the MO message this answers")
    p.add_argument("--concurrency", type=_concurrency, default=4, metavar="N",
                   help="parallel requests in bulk mode, at most 10000 (default %(default)s)")
    p.add_argument("--store", action="store_true", help="record what was sent in the configured store")
    # (a blank one, `--tag "$CAMPAIGN"` with the variable unset, went without a store: nothing recorded,
    # and the run started again sent to every recipient again)
    p.add_argument("--tag", metavar="NAME", type=_not_blank("the campaign's name"),
                   help="record under this name (a campaign) in the store; a run started again skips recipients "
                        "already accepted under it")
    p.add_argument("--resend-unanswered", action="store_true",
                   help="with --tag and [mmsc] retry_on_timeout = false: send again, with the same TransactionID, "
                        "to recipients whose earlier request got no answer (the MMSC may have it)")
    p.add_argument("--retry-refused", action="store_true",
                   help="with --tag: send again to recipients the MMSC refused for their address before (2002 "
                        "Address Error, 2003 Address Not Found); a run started again skips them otherwise")
    p.add_argument("--stop-after-refused", type=_refused_stop, default=10, metavar="N",  # (bulk.REFUSED_STOP)
                   help="stop when the MMSC refused N requests in a row alike (one status code: wrong credentials "
                        "refuse every one); 0: never (default %(default)s)")
    p.add_argument("--queue", action="store_true",
                   help="put the messages in the store's outbox for `mm7bind serve` to send ([outbox] enabled)")
    p.add_argument("--at", metavar="TIME", type=_when_at, help="with --queue: not before this (ISO 8601, e.g. "
                   "2026-12-01T09:00; local time without a zone)")
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("serve", help="receive MO messages and reports (the VASP side)", formatter_class=_ServeHelp,
                       examples=("mm7bind serve --port 8088 --out received  # each message under received/",
                                 "mm7bind serve -c mm7bind.toml --handler myapp.mm7:Inbox  # your own mm7bind.Handler",
                                 "mm7bind serve --forward http://127.0.0.1:5000/mm7-in  # each message as JSON to "
                                 "your application"),
                       description="Receive DeliverReq, DeliveryReportReq and ReadReplyReq ([receiver] settings): "
                                   "each is stored before the answer, then saved under --out, passed to "
                                   "--handler or forwarded to --forward. The configuration (--config) adds "
                                   "TLS ([receiver] tls_cert and tls_key; tls_client_ca: the MMSC's certificate "
                                   "required), metrics_path (metrics_dir: the counts summed over runs and "
                                   "processes) and health_path, the HTTP send API ([api] path), "
                                   "sending what the outbox holds ([outbox] enabled) and purging old records "
                                   "([store] keep_days).")
    with_config(p)
    p.add_argument("--host", help="address to listen on (else [receiver] host; default {receiver.host})")
    p.add_argument("--port", type=_port, help="port to listen on (0: one the system picks; else [receiver] port; "
                   "default {receiver.port})")
    p.add_argument("--out", metavar="DIR", help="where received messages and content are written "
                                                "(else [receiver] out_dir; default {receiver.out_dir})")
    p.add_argument("--handler", metavar="MODULE:OBJECT", help="your own handler instead of saving to --out")
    p.add_argument("--forward", metavar="URL", type=_http_url, help="post each message as JSON to your application at URL")
    p.add_argument("--no-replay-at-start", action="store_true",
                   help="leave the messages a killed run of this host left 'processing' to `mm7bind replay` "
                        "(else [receiver] replay_at_start; by default they go to the handler as serve starts)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("replay", help="run the handler again for stored messages it failed on",
                       examples=("mm7bind replay -c mm7bind.toml --handler myapp.mm7:Inbox",
                                 "mm7bind replay --id 42 --out received  # one message, whatever its state"),
                       description="Hand failed (or, with --id, any) stored messages to the handler again: "
                                   "give the --handler, --forward or --out that serve ran with, else the "
                                   "configuration's forwarding or saving runs.")
    with_config(p)
    p.add_argument("--id", type=_record_id, help="one stored message (any state)")
    p.add_argument("--handler", metavar="MODULE:OBJECT",
                   help="the one serve runs (without it, as serve without it: forwarding or saving)")
    p.add_argument("--forward", metavar="URL", type=_http_url, help="forward to URL, as serve --forward does")
    p.add_argument("--out", metavar="DIR", help="save under DIR, as serve --out does")
    p.add_argument("--stale-after", type=_age_seconds, default=300.0, metavar="SECONDS",
                   help="a message 'processing' this long is taken as left by a dead run and replayed "
                        "(default %(default)g; at once when its process, on this host, is gone)")
    p.set_defaults(func=cmd_replay)

    def listing(p: argparse.ArgumentParser) -> None:
        p.add_argument("--since", metavar="AGE|TIME", type=_when_arg, help="e.g. 2h, 7d, 2026-11-01")
        p.add_argument("--limit", type=_count, default=50, metavar="N", help="at most this many, the latest (default %(default)s)")
        p.add_argument("--json", action="store_true", help="a JSON list, one object a record")

    p = sub.add_parser("store", help="look into the store: received and sent messages, reports; purge old ones")
    ssub = p.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    s = ssub.add_parser("inbox", help="list received messages and reports, the latest last (--limit keeps the latest)",
                        examples=("mm7bind store inbox --state failed --since 2h",
                                  "mm7bind store inbox --kind delivery-report --message-id SIM123 --json"))
    with_config(s)
    s.add_argument("--state", choices=["processing", "handled", "rejected", "failed"],
                   help="only those in this state (failed: what replay takes)")
    s.add_argument("--kind", type=_kind_arg,
                   help="deliver, delivery-report, read-reply (or the element name)")
    s.add_argument("--message-id", metavar="ID", help="reports about this MessageID")
    listing(s)
    s.set_defaults(func=cmd_store_inbox)
    s = ssub.add_parser("show", help="one received message as JSON: its record (headers, path, the answer its "
                                     "copies get) and the message decoded",
                        examples=("mm7bind store show 12 --extract parts/",
                                  "mm7bind store show 12 --raw - | mm7bind validate -  # checked as it came"))
    with_config(s)
    s.add_argument("id", type=_record_id, metavar="ID", help="its number (the ID column of store inbox)")
    s.add_argument("--extract", metavar="DIR", help="write its attachments into DIR")
    s.add_argument("--raw", metavar="FILE", help="write it as received, its path and headers as stored (an HTTP "
                   "capture inspect and validate read; never over a file already there; '-': to stdout, in "
                   "place of the JSON)")
    s.set_defaults(func=cmd_store_show)
    s = ssub.add_parser("sent", help="list sent requests with the delivery reports and read replies about them")
    with_config(s)
    s.add_argument("--message-id", metavar="ID", help="the request the MMSC gave this MessageID")
    s.add_argument("--to", metavar="ADDRESS", help="sent to this recipient")
    s.add_argument("--tag", metavar="NAME", help="sent under this tag (send --tag)")
    s.add_argument("--summary", action="store_true", help="with --tag: counts of outcomes and reports, not a list")
    listing(s)
    s.set_defaults(func=cmd_store_sent)
    s = ssub.add_parser("outbox", help="what the outbox holds (sent by serve with [outbox] enabled) and how each went")
    with_config(s)
    s.add_argument("--state", choices=["queued", "sending", "sent", "failed", "expired"],
                   help="only those in this state (failed, expired: what requeue takes)")
    s.add_argument("--tag", metavar="NAME", help="put in under this tag (send --queue --tag)")
    s.add_argument("--limit", type=_count, default=50, metavar="N", help="at most this many, the latest (default %(default)s)")
    s.add_argument("--json", action="store_true", help="a JSON list, one object an item")
    s.set_defaults(func=cmd_store_outbox)
    s = ssub.add_parser("requeue", help="put failed or expired outbox items back in the queue (sent by serve)")
    with_config(s)
    s.add_argument("ids", type=_record_id, nargs="+", metavar="ID", help="their numbers (the ID column of store outbox)")
    s.set_defaults(func=cmd_store_requeue)
    s = ssub.add_parser("purge", help="forget handled messages, sent records and sent outbox items older "
                                      "than an age (what a campaign in use or the outbox still needs stays)",
                        examples=("mm7bind store purge --older-than 30d --dry-run  # counts, changes nothing",
                                  "mm7bind store purge -c mm7bind.toml --older-than 2026-10-01 --vacuum"))
    with_config(s)
    s.add_argument("--older-than", required=True, metavar="AGE|TIME", type=_when_arg,
                   help="e.g. 30d, 12h, 2026-10-01")
    s.add_argument("--bodies-only", action="store_true",
                   help="keep the records (repeats still recognised), drop the message bodies and the "
                        "request headers stored with them")
    s.add_argument("--include-failed", action="store_true",
                   help="failed messages and failed or expired outbox items too (they can no longer be replayed "
                        "or requeued)")
    s.add_argument("--keep-sent", action="store_true", help="leave the sent records and outbox items")
    s.add_argument("--dry-run", action="store_true", help="count, change nothing")
    s.add_argument("--vacuum", action="store_true", help="then give the space back to the file system")
    s.set_defaults(func=cmd_store_purge)
    s = ssub.add_parser("check", help="whether the store takes messages and its file is intact (exit 1 if not)")
    with_config(s)
    s.add_argument("--full", action="store_true",
                   help="SQLite's integrity_check (indexes too; slower) rather than quick_check")
    s.set_defaults(func=cmd_store_check)

    p = sub.add_parser("simulate", help="run a fake MMSC on loopback", formatter_class=_ServeHelp,
                       examples=("mm7bind simulate --vasp-url http://127.0.0.1:8080/mm7",
                                 "mm7bind simulate --dialect cmcc --port 9090 --vasp-url http://127.0.0.1:8080/mm7 "
                                 "--mo-text 'hello' --mo-after 2",
                                 "mm7bind simulate --report-status Rejected --recipient-status +8613800138001=Expired"),
                       description="A fake MMSC: takes SubmitReq, CancelReq, ReplaceReq and the extended ones, "
                                   "answers in the dialect, sends delivery reports and read replies to --vasp-url, "
                                   "MO on request (POST /control/deliver, or `mm7bind mo`). Under /control/ a test "
                                   "also scripts trouble (fail: a status in a Fault, or with in_response in the "
                                   "operation's own response, an HTTP error, a delay, an answer dropped), sends "
                                   "a delivery report or read reply now (report, read) or one sent "
                                   "before again (resend), lists what came (messages, received), says it is "
                                   "up (health) and forgets it all (reset).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=_port, default=9090,
                   help="port to listen on (0: one the system picks; default %(default)s)")
    p.add_argument("--dialect", default="standard", help="standard, cmcc, cmcc-sdk or mbuni (default %(default)s)")
    p.add_argument("--strict", action="store_true", help="refuse messages that deviate from their schema")
    p.add_argument("--no-quirks", action="store_true",
                   help="send and answer in the schema's shape, without the dialect's known deviations (China "
                        "Mobile's MO and reports, Mbuni's Faults)")
    p.add_argument("--username", metavar="USER",
                   help="credentials the VASP must present (none asked by default)")
    _add_password(p, "simulate", "--password", "--username")
    # (the options below that only mean something with another default to None, so that one given
    # without it is refused, `_simulate_combinations`, rather than ignored; their defaults are said)
    p.add_argument("--auth", choices=("basic", "digest"),
                   help="with --username: how the VASP must present them (default basic)")
    p.add_argument("--digest-qop", choices=("auth", "auth-int", "auth,auth-int"), metavar="QOP",
                   help="with --auth digest: what a Digest challenge offers: auth, auth-int or auth,auth-int "
                        "(default auth; auth-int: the body signed too)")
    p.add_argument("--digest-algorithm", metavar="ALGORITHMS",
                   help="with --auth digest: the Digest algorithms offered, in order of preference, one challenge "
                        "each: MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256, SHA-512-256-sess, or several, "
                        "\"SHA-256, MD5\" (default MD5: what China Mobile's SDK and older clients answer)")
    p.add_argument("--auth-failures", type=_failures_arg, default=0, metavar="N",
                   help="with --username: wrong credentials from one address this many times within "
                        "--auth-cooldown seconds: its MM7 requests are answered 429 with Retry-After, unchecked, for "
                        "that long, as a hardened MMSC answers them (default %(default)s: no limit; /control/ asks "
                        "no credentials and is never throttled)")
    p.add_argument("--auth-cooldown", type=_cooldown, metavar="SECONDS",
                   help="with --auth-failures: the window it counts in, and the cool-down after (default 60)")
    p.add_argument("--vasp-url", metavar="URL", type=_http_url,
                   help="where delivery reports, read replies and MO go (none are sent without it; "
                        "`mm7bind serve` receives at http://{receiver.host}:{receiver.port}{receiver.path} "
                        "unless configured otherwise)")
    p.add_argument("--vasp-username", metavar="USER",
                   help="with --vasp-url: credentials for the VASP (Basic, or Digest when asked)")
    _add_password(p, "simulate", "--vasp-password", "--vasp-username")
    p.add_argument("--vasp-ca", metavar="FILE", type=_readable_file,
                   help="with an https --vasp-url: CA certificate(s) to trust (a self-signed test certificate)")
    p.add_argument("--vasp-cert", metavar="FILE", type=_readable_file,
                   help="with an https --vasp-url: a client certificate to present to it if it asks for one "
                        "(mutual TLS): PEM, with its key unless --vasp-key")
    p.add_argument("--vasp-key", metavar="FILE", type=_readable_file, help="the key of --vasp-cert, in a file apart")
    p.add_argument("--report-status", default="Retrieved", metavar="STATUS",
                   help="what delivery reports say: Retrieved, Rejected, Expired, Deferred, ... (default %(default)s)")
    p.add_argument("--recipient-status", action="append", metavar="RECIPIENT=STATUS",
                   help="one recipient's delivery status, as the submit wrote it (repeatable; the others: "
                        "--report-status)")
    p.add_argument("--refuse-recipient", action="append", metavar="RECIPIENT=CODE",
                   help="refuse this recipient at submit with this status, e.g. +8613800138009=2002 (repeatable; "
                        "a SubmitReq to others too is taken for them, answered 1100 Partial success)")
    p.add_argument("--report-delay", type=_delay, default=simdefaults.REPORT_DELAY, metavar="SECONDS",
                   help="delivery (and its report) after the SubmitReq, or its EarliestDeliveryTime "
                        "(default %(default)s)")
    p.add_argument("--max-recipients", type=_count, default=simdefaults.MAX_RECIPIENTS, metavar="N",
                   help="refuse a SubmitReq to more recipients with 3003, as MMSCs do (1: one per submit, as some "
                        "providers take; default %(default)s)")
    p.add_argument("--require-smil", action="store_true",
                   help="refuse content without a SMIL presentation with 2004, as some providers do")
    p.add_argument("--max-size", type=_count, metavar="BYTES",
                   help="refuse a larger request with 2004, as providers do (default: the dialect's, cmcc 100000, "
                        "mbuni 512000, standard none)")
    p.add_argument("--vaspid", metavar="ID", type=_not_blank("the VASPID to require"),
                   help="refuse a SubmitReq from another VASPID, or none, with 4001 (and a CancelReq or ReplaceReq "
                        "naming another)")
    p.add_argument("--vasid", metavar="ID", type=_not_blank("the VASID to require"), help="the same for VASID")
    p.add_argument("--accept-version", action="append", metavar="NAME",
                   help="take requests in this schema version alone, e.g. REL-6-MM7-1-0 (repeatable), as a carrier "
                        "is set up for a VASP: one in another, or whose MM7Version claims a later version than its "
                        "namespace goes with, is refused with 4002, Unsupported version, in its own (default: any)")
    p.add_argument("--vasp-short-code", metavar="CODE", default="1065888", type=_not_blank("the VASP's short code"),
                   help="the Sender of the reports and read replies about a SubmitReq naming no SenderAddress and "
                        "no VASID (mbuni: whatever VASID): the VASP's short code, as the MMSC has it provisioned "
                        "(default: %(default)s)")
    p.add_argument("--max-messages", type=_count, default=10_000, metavar="N",
                   help="messages kept (and requests received, MO outcomes and LinkedIDs), the oldest forgotten beyond "
                        "(default %(default)s)")
    p.add_argument("--report-attempts", type=_count, default=2, metavar="N",
                   help="tries of a report or MO the VASP does not take (down, timed out, HTTP 500, 502, 503, 504 or 429, a 3xxx "
                   "or 4006 status: as RetryPolicy retries), in all (default %(default)s)")
    p.add_argument("--report-retry-delay", type=_delay, default=0.2, metavar="SECONDS",
                   help="wait before the second try, doubling after (default %(default)s)")
    p.add_argument("--vasp-timeout", type=_seconds, default=simdefaults.VASP_TIMEOUT, metavar="SECONDS",
                   help="how long each try waits for the VASP's answer (default %(default)s)")
    p.add_argument("--read-status", default="Read", metavar="STATUS",
                   help="what read replies say: Read, Deleted or Indeterminate (default %(default)s)")
    p.add_argument("--read-delay", type=_delay, default=simdefaults.READ_DELAY, metavar="SECONDS",
                   help="after the SubmitReq, never before its delivery report (default %(default)s)")
    p.add_argument("--mo-text", metavar="TEXT", help="send one MO message with this text after start")
    p.add_argument("--mo-from", metavar="N", type=_written_address(False),
                   help=f"with --mo-text: its sender (default {_MO_DEFAULTS['mo_from']})")
    p.add_argument("--mo-to", metavar="N", type=_written_address(True),
                   help=f"with --mo-text: its recipient, a Number (ShortCode:N sends a ShortCode; default "
                        f"{_MO_DEFAULTS['mo_to']})")
    p.add_argument("--mo-subject", metavar="S", help="with --mo-text: the Subject of the MO message (none by default)")
    p.add_argument("--mo-version", metavar="NAME",
                   help="with --mo-text: the schema version it goes in, e.g. REL-5-MM7-1-2, as mm7bind mo --version "
                        "(default: the dialect's; the standard dialect's REL-6-MM7-1-4)")
    p.add_argument("--mo-after", type=_delay, metavar="SECONDS",
                   help=f"with --mo-text: how long after start it is sent (default {_MO_DEFAULTS['mo_after']:g})")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("mo", help="make a running simulator send an MO message (DeliverReq)",
                       examples=("mm7bind mo --text 'TD'",
                                 "mm7bind mo --from +8613800138001 --to 1065888 --text hi --version REL-5-MM7-1-2",
                                 "mm7bind mo --to ShortCode:1065888 --text hi  # <ShortCode> in its Recipients"),
                       notes=_exit_notes(_MO_EXITS))
    p.add_argument("--simulator", default="http://127.0.0.1:9090", metavar="URL", type=_http_url,
                   help="the simulator (default %(default)s)")
    p.add_argument("--from", dest="sender", default="+8613800138000", metavar="N", type=_written_address(False),
                   help="the handset (default %(default)s)")
    p.add_argument("--to", action="append", metavar="N", type=_written_address(True),
                   help="the service's number, sent as a Number, as China Mobile's MMSC writes it (ShortCode:N "
                        "sends a ShortCode; repeatable; default 1065888)")
    p.add_argument("--subject", help="the Subject (none by default)")
    p.add_argument("--text", default="hello", help="the text part (default %(default)s)")
    p.add_argument("--linked-id", metavar="ID", help="LinkedID (the message this answers)")
    p.add_argument("--priority", choices=("Low", "Normal", "High"),
                   help="its Priority (default: none; China Mobile's dialects Normal, as its MMSC writes one)")
    p.add_argument("--version", metavar="NAME",
                   help="the schema version it goes in, e.g. REL-5-MM7-1-2 (default: the dialect's; the standard "
                        "dialect's REL-6-MM7-1-4)")
    p.add_argument("--timeout", type=_seconds, default=120.0, metavar="SECONDS",
                   help="how long to wait for the simulator's outcome, which waits for the VASP's answer, each "
                        "attempt up to its vasp_timeout (default %(default)g)")
    p.add_argument("--json", action="store_true",
                   help="the simulator's outcome as one JSON object (operation, message_id: null, as an MO "
                        "has none, transaction_id, linked_id, attempts, status or error)")
    p.set_defaults(func=cmd_mo)

    p = sub.add_parser("probe", help="check a VASP's receiver answers every MMSC request in every version",
                       examples=("mm7bind probe http://127.0.0.1:8080/mm7",
                                 "mm7bind probe https://vasp.example/mm7 --version REL-5-MM7-1-2 --username mmsc "
                                 "--json  # its password from MM7BIND_PROBE_PASSWORD"),
                       description="Sends a DeliverReq, a DeliveryReportReq and a ReadReplyReq in each schema "
                                   "version to URL as an MMSC would (and the first again, as an MMSC that got no "
                                   "answer does), and checks each answer: the right response, success, in the "
                                   "request's version, its TransactionID echoed, nothing tolerated. The requests are "
                                   "real to the VASP (its handler runs): use a test instance.",
                       notes=_exit_notes(_PROBE_EXITS))
    p.add_argument("url", metavar="URL", type=_http_url, help="the VASP's MM7 endpoint")
    p.add_argument("--version", action="append", metavar="NAME",
                   help="only this schema version, e.g. REL-5-MM7-1-2 (repeatable; default: every one)")
    p.add_argument("--operation", action="append", choices=("deliver", "report", "read-reply"),
                   help="only this operation (repeatable; default: all three)")
    p.add_argument("--no-repeat", action="store_true", help="do not send a request again")
    p.add_argument("--from", dest="sender", default="+8613800138000", metavar="N", type=_written_address(False),
                   help="the handset (default %(default)s)")
    p.add_argument("--to", default="1065888", metavar="N", type=_written_address(True),
                   help="the service's number, a Number (ShortCode:N sends a ShortCode; default %(default)s)")
    p.add_argument("--username", metavar="USER", help="credentials the VASP asks for")
    _add_password(p, "probe", "--password", "--username")
    p.add_argument("--auth", choices=("auto", "basic", "digest"),
                   help="with --username: how to present them (default auto: Basic, or Digest when asked)")
    p.add_argument("--ca", metavar="FILE", type=_readable_file, help="CA certificate(s) to trust for https")
    p.add_argument("--cert", metavar="FILE", type=_readable_file,
                   help="a TLS client certificate and its key (PEM), for a VASP that asks the MMSC for one")
    p.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="for each answer (default 30)")
    p.add_argument("--json", action="store_true", help="a JSON list: each request's version, operation, "
                   "transaction_id, repeat, status, status_text, answered_version, problems, elapsed, timed_out, "
                   "unanswered, unreachable, ok")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("versions", help="list the MM7 schema versions")
    p.add_argument("--json", action="store_true", help="a JSON list, one object a version")
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("version", help="print mm7bind's version, the China Mobile API version it sends and the "
                       "schema versions")
    p.set_defaults(func=cmd_version)

    p = sub.add_parser("validate", help="check messages against their schema version",
                       examples=("mm7bind validate submit.xml", "mm7bind validate --lenient captures/",
                                 "mm7bind validate --json mm7.pcap  # tcpdump -w's, each HTTP message in it"),
                       notes=_exit_notes(_VALIDATE_EXITS))
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="SOAP XML, MIME bodies, raw HTTP captures or packet captures (pcap, pcapng: each "
                        "HTTP message in them); a directory: every file in it, those that are no message at all (notes, "
                        "READMEs, images, extracted SMIL) skipped ('-' for stdin)")
    p.add_argument("--lenient", action="store_true", help="accept tolerated deviations and list them")
    p.add_argument("--json", action="store_true", help="a JSON list: each file's path, result (valid, accepted, "
                   "invalid, unreadable, skipped), message_type, version, deviations or error (and a packet capture's "
                   "messages their capture: file, packet, connection, from, to, time, start_line)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("inspect", help="decode a message and print it as JSON",
                       examples=("mm7bind inspect submit.xml", "mm7bind inspect --extract parts/ capture.http",
                                 "mm7bind inspect mm7.pcap  # tcpdump -w's: every HTTP message in it"))
    p.add_argument("paths", nargs="+", metavar="PATH", help="SOAP XML, MIME body, raw HTTP capture or packet capture "
                   "(pcap, pcapng: {messages: every HTTP message in it, notes}) ('-' for stdin); several packet "
                   "capture files (a ring buffer's) are read as one capture, in time order")
    p.add_argument("--extract", metavar="DIR", help="write the attachments into DIR (a packet capture's: into "
                   "DIR/<message number>)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("config", help="configuration tools")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    c = csub.add_parser("check", help="report every problem in a configuration file",
                        examples=("mm7bind config check mm7bind.toml",
                                  "mm7bind config check mm7Config.xml --conn-config ConnConfig.xml",
                                  "mm7bind config check  # the MM7BIND_ variables alone, as the commands read them"))
    c.add_argument("file", metavar="FILE", nargs="?",
                   help="mm7bind TOML (the MM7BIND_ variables over it, as the commands read it), or China Mobile "
                        "mm7Config.xml; none: the variables over the defaults, what the commands use without "
                        "--config")
    c.add_argument("--conn-config", metavar="FILE", help="ConnConfig.xml to check with mm7Config.xml")
    c.set_defaults(func=cmd_config_check)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """A command or action without a description of its own shows its one-line help atop its
    --help (else `mm7bind mo --help` said nothing of what `mo` does)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if sub.description is None and helps.get(name):
                    sub.description = helps[name][0].upper() + helps[name][1:] + "."
                _describe(sub)


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command (and action: `store inbox`) that `args` were parsed for."""
    for dest in ("command", "store_command", "config_command"):
        chosen = getattr(args, dest, None)
        subs = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if chosen is None or subs is None or chosen not in subs.choices:
            continue
        parser = subs.choices[chosen]
    return parser


def main(argv: list[str] | None = None) -> int:
    _escape_what_stdout_cannot_encode()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # (argparse leaves them to the top level, whose usage lists commands, not the options of
        # the one given: `send --too 1` would not show send's)
        command = _command_parser(parser, args)
        command.error(_unrecognized(unknown, [o for a in command._actions for o in a.option_strings
                                              if o.startswith("--")]))
    with _logging_put_back():
        return _run(args)


# The loggers a command sets up for its run: the root one (simulate's basicConfig), the package's
# (its level, -v, the [logging] handler), the store's (replay's line for a lost outcome), the
# simulator's (a filter) and waitress's (serve's log on it).
_COMMAND_LOGGERS = ("", "mm7bind", "mm7bind.store", "mm7bind.simulator", "waitress")


@contextlib.contextmanager
def _logging_put_back():
    """The levels, handlers and filters of the loggers a command sets up, as they were before it
    ran; the handlers it added are closed (their files let go). `main` called by a program or a
    test would otherwise leave "mm7bind" at DEBUG, logging on to the command's stream or file."""
    saved = {name: (logger.level, list(logger.handlers), list(logger.filters))
             for name in _COMMAND_LOGGERS for logger in [logging.getLogger(name)]}
    try:
        yield
    finally:
        added: list[logging.Handler] = []
        for name, (level, handlers, filters) in saved.items():
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
                if handler not in handlers and handler not in added:
                    added.append(handler)
            for handler in handlers:  # (in their order; one the command replaced, back)
                logger.addHandler(handler)
            for kept in list(logger.filters):
                logger.removeFilter(kept)
            for kept in filters:
                logger.addFilter(kept)
            logger.setLevel(level)
        for handler in added:
            handler.close()


def _run(args: argparse.Namespace) -> int:
    global _verbose  # (one command a process)
    _verbose = getattr(args, "verbose", False)
    if _verbose and args.command == "store":  # (send, serve, replay and simulate set up their own log)
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        _command_log_handler("mm7bind", handler)
        logging.getLogger("mm7bind").setLevel(logging.DEBUG)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"mm7bind {_named(args)}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `mm7bind store inbox | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (no second error at exit's flush)
        return EXIT_BROKEN_PIPE
    except sqlite3.Error as exc:
        # A store that opened but fails mid-command (a damaged page, a disk error): one line that
        # says what to do, not a traceback. (Other commands' store trouble is their own to say.)
        if args.command not in ("store", "replay"):
            raise
        # (a lock held past SQLite's 30 s by another program, a sqlite3 shell or a backup tool in a
        # transaction: nothing is damaged, and a check would only wait for the same lock)
        hint = ("another program held it locked past SQLite's 30 s wait (a sqlite3 shell, a backup tool): try "
                "again once it lets go" if "locked" in str(exc) else
                "`mm7bind store check` says whether its file is damaged")
        _say_error(f"mm7bind {_named(args)}: the store failed: {type(exc).__name__}: {exc} ({hint})",
                   traceback_of=exc)
        return EXIT_UNREADABLE


if __name__ == "__main__":
    sys.exit(main())
