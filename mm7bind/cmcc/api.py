"""China Mobile's MM7 API (manual V1.5.1, SDK V1.5.3), the Python way, on top of mm7bind.

Same classes, same fields, same flow — `MM7Config` → `MM7Sender.send(req)` → `MM7SubmitRes` /
`MM7RSErrorRes`; subclass `MM7Receiver` and override `do_deliver` — with snake_case names (the
table of Java → Python names is in README.md). Underneath it is mm7bind's client, receiver and
codec, so the wire is correct where the SDK's was not (escaping, namespaces, real time-zone
offsets, Content href, TransactionID echoed, relative times).

API failures come back as `MM7RSErrorRes(status_code=-10x)`, the manual's §7 codes, as the SDK
returned them (so the manual's `instanceof` checks work unchanged), the exception as its `error`;
`MM7Sender(config, errors="raise")` raises them instead, as `APIError` subclasses with their negative `code`.
"""

from __future__ import annotations

import codecs
import copy
import dataclasses
import inspect
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from .. import gbk
from .. import messages as m
from ..arrival import may_have_arrived
from ..client import Client
from ..codec import MessageTooLargeError
from ..config import Config
from ..content import BytesBlob, Content, Part, decodes, id_name, location_name, named_id, sniff_blob_type
from ..content import text_charset as bytes_charset
from ..deadline import wait_limit
from ..display import html_page
from ..envelope import charset_label, transaction_id_text
from ..errors import (
    ConnectError,
    DecodeError,
    EncodeError,
    FaultError,
    HTTPStatusError,
    MimeError,
    MM7Error,
    ProtocolError,
    RequestTimeout,
    SendError,
    TransportError,
)
from ..hints import did_you_mean
from ..receiver import Context, Handler, Receiver
from ..server import EmbeddedServer, wsgi_app
from ..status import RequestStatus, is_retryable
from ..status import lookup as lookup_status
from . import status as st
from .charsets import JAVA_ALIASES, content_type_param, python_charset
from .config import load_cmcc
from .constants import ChargedParty, ContentType, MessageClass, MMContentType, Priority
from .logs import logging_for, logging_started, start_logging

log = logging.getLogger("mm7bind.cmcc")

# ---------------------------------------------------------------------------------------------
# The SDK's Java names


def java_name_hint(owner: object, name: str) -> str:
    """How the SDK's method `name` (setVASPID, getStatusCode, isContentIDExist, addSubContent) is
    written here, as a hint for an AttributeError; "" when it is none of them."""
    flat = {n.replace("_", "").lower(): n for n in dir(owner) if not n.startswith("_")}
    key = name.lower()
    if key in flat:  # addTo, createFromFile, getSubContentByID, setConnConfigName
        return f" (it is {flat[key]})"
    found = re.fullmatch(r"(get|set|is)(\w+?)(exist)?", key)
    target = flat.get(found[2]) if found else None
    if target is None:
        return ""
    static = inspect.getattr_static(owner, target, None)  # (a property is not run: it may load files)
    if callable(static) or isinstance(static, (classmethod, staticmethod)):
        return ""
    if found[1] == "set":
        return f" (set the field: .{target} = value)"
    return f" (.{target} is not None)" if found[3] else f" (read the field: .{target})"


_ABSENT = object()


class _JavaNames:
    """An SDK method called under its Java name (`req.setVASPID(...)`, the manual's flows copied as
    written) fails with an AttributeError naming the Python field or method, not a bare one."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # (copy, pickle and the like look for their own names)
            raise AttributeError(name)
        if inspect.getattr_static(self, name, _ABSENT) is not _ABSENT:
            # a property that failed with an AttributeError of its own: that one, not a hint
            return object.__getattribute__(self, name)
        raise AttributeError(f"{type(self).__name__} has no {name}{java_name_hint(self, name)}")


class _JavaNamesOfClass(type):
    """The same for the class's own methods (`MMContent.createFromFile(path)`)."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_") or inspect.getattr_static(cls, name, _ABSENT) is not _ABSENT:
            raise AttributeError(name)
        raise AttributeError(f"{cls.__name__} has no {name}{java_name_hint(cls, name)}")


# ---------------------------------------------------------------------------------------------
# Configuration


class MM7Config(_JavaNames):
    """mm7Config.xml (and ConnConfig.xml), as `MM7Config(path)` + `set_conn_config_name(path)`;
    `get(key)` and `set(key, value)` for the SDK's getters and setters."""

    def __init__(self, path: str | Path | None = None, conn_config: str | Path | None = None):
        self.path = path
        self.conn_config_name = conn_config
        self._config: Config | None = None
        self._set: dict[str, Any] = {}  # keys set in code (the SDK's setters), over the file's
        self._unfiled: list = []  # the files' warnings said before their log file was open

    def set_conn_config_name(self, path: str | Path) -> None:
        self.conn_config_name = path
        self._config = None

    def get_conn_config_name(self) -> str | Path | None:
        return self.conn_config_name

    def load(self, path: str | Path) -> None:
        """The SDK's `new MM7Config()` + `load(path)`: mm7Config.xml read from `path` (read again
        when it was read before); as there, the file's values replace those set in code before."""
        self.path = path
        self._set.clear()
        self._config, self._unfiled = None, []

    @property
    def config(self) -> Config:
        """The mm7bind `Config` these files describe (ConfigError if they cannot work). The files'
        warnings are logged now, and written into their log file too when the first sender or
        receiver using them opens it; those about sending, or receiving, by the sender or the
        receiver that uses them (into that file), each once."""
        if self._config is None:
            if self.path is None and not self._set:
                raise ValueError("MM7Config needs the path of mm7Config.xml (or its keys set in code: set(key, value))")
            cfg = load_cmcc(self.path, self.conn_config_name, say_warnings=False, overrides=self._set)
            with logging_for(cfg):  # (into its own log file if open, into no other MMSC's)
                said = cfg.say_warnings(())
            # Said before the file the operator reads was open, they would never reach it: kept
            # until a sender or a receiver opens it.
            self._config, self._unfiled = cfg, ([] if logging_started(cfg) else said)
        return self._config

    def _start_logging(self) -> None:
        """Open this configuration's log file (a sender's or receiver's first step), and write
        there the files' warnings said before it was open."""
        cfg = self.config
        handler = start_logging(cfg)
        unfiled, self._unfiled = self._unfiled, []
        if handler is not None:
            with logging_for(cfg):  # (the handler's own filter: this file's records)
                for problem in unfiled:  # (the handler alone: wherever else they went, they went)
                    handler.handle(logging.LogRecord("mm7bind.config", logging.WARNING, __file__, 0, "%s",
                                                     (problem,), None))

    def __getattr__(self, name: str) -> Any:
        # getMMSCURL(), setPassword(p): the SDK's getters and setters of the files' keys are get and set
        found = re.fullmatch(r"(get|set)([A-Za-z]+)", name)
        if found:
            from .config import CONN_KEYS, MM7_KEYS  # noqa: PLC0415

            key = self.GETTER_NAMES.get(found[2], found[2])
            if key in MM7_KEYS or (found[1] == "get" and key in CONN_KEYS):
                call = f'.get("{found[2]}")' if found[1] == "get" else f'.set("{found[2]}", value)'
                raise AttributeError(f"{type(self).__name__} has no {name} ({call})")
        return super().__getattr__(name)

    # The SDK's getters whose names are not their element's (getMMSCURL() reads <mmscURL>, ...).
    GETTER_NAMES = {"MMSCURL": "mmscURL", "MmscURL": "mmscURL", "MMSCIP": "mmscIP", "MmscIP": "mmscIP",
                    "MmscId": "MmscID", "MaxMsgSize": "MaxMessageSize", "CharSet": "Charset", "LogLevel": "logLevel"}

    def get(self, key: str) -> Any:
        """A key of mm7Config.xml or ConnConfig.xml as the SDK's getter gave it, by its element's
        name or its getter's — `get("mmscURL")` or `get("MMSCURL")` for `getMMSCURL()`,
        `get("mmscIP")` (a list) for `getMMSCIP()`, `get("MmscId")` for `getMmscId()` — typed as
        the manual says, the manual's default when the file leaves it out; KeyError for a key
        neither file has."""
        from .config import CONN_KEYS, MM7_KEYS, NAMESPACE, read_settings  # noqa: PLC0415

        name = self.GETTER_NAMES.get(key, key)
        if name in self._set:
            value = self._set[name]
            return list(value) if isinstance(value, list) else value
        for path, keys, root, ns in ((self.path, MM7_KEYS, "MM7Config", NAMESPACE),
                                     (self.conn_config_name, CONN_KEYS, "connection", None)):
            if name in keys:
                values = read_settings(path, keys, root, ns, []) if path is not None else {}
                value = values.get(name, keys[name][1])
                return list(value) if isinstance(value, list) else value  # (never the shared default)
        raise KeyError(f"{key!r} is a key of neither mm7Config.xml nor ConnConfig.xml")

    def set(self, key: str, value: Any) -> None:
        """The SDK's setters — `set("Password", p)` for `setPassword(p)`, `set("MMSCIP", [ip, ...])`
        for `setMMSCIP(list)`, `set("ListenPort", 8080)` — a key of mm7Config.xml, by its element's
        or its getter's name, set in code over what the file says (a password kept out of the file,
        say). Checked as the file's values are; senders and receivers configured afterwards use it.
        KeyError for a key mm7Config.xml has not, ValueError for a value of the wrong kind."""
        from .config import MM7_KEYS  # noqa: PLC0415

        name = self.GETTER_NAMES.get(key, key)
        if name not in MM7_KEYS:
            raise KeyError(f"{key!r} is no key of mm7Config.xml" + did_you_mean(name, list(MM7_KEYS)))
        kind = MM7_KEYS[name][0]
        if kind is list:
            value = [value] if isinstance(value, str) else list(value)
            if not all(isinstance(item, str) for item in value):
                raise ValueError(f"{name} is a list of addresses (strings)")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} is a whole number, not {value!r}")
        elif kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{name} is true or false, not {value!r}")
        elif not isinstance(value, str):  # (a password said by its kind: it may be the password, mistyped)
            raise ValueError(f"{name} is text, not " + (f"a {type(value).__name__}" if "password" in name.lower()
                                                         else repr(value)))
        self._set[name] = value
        self._config = None

    def add_mmsc_ip(self, address: str) -> None:
        """The SDK's `addMMSCIP(ip)`: one more MMSC address after those the file (or `set`) gives."""
        self.set("mmscIP", [*self.get("mmscIP"), address])

    def save(self, path: str | Path | None = None) -> None:
        """The SDK's `save(path)`: mm7Config.xml written with every key's value as `get` gives it
        (the file's, or set in code; the manual's default for one neither has), in the SDK's order,
        `path` by default the file read. Unlike the SDK's, the file reads back the same: `MmscID`
        spelt as `load` reads it, values escaped, the encoding declared (UTF-8), `UseSSL` as given
        (the SDK wrote its misreading, false). The password is written too, as there: a new file is
        readable by its owner alone, an existing one keeps its permissions. ConnConfig.xml is not
        written (nor was it by the SDK)."""
        import os  # noqa: PLC0415
        import tempfile  # noqa: PLC0415
        from xml.sax.saxutils import escape  # noqa: PLC0415

        from .config import MM7_KEYS, NAMESPACE  # noqa: PLC0415

        target = Path(path if path is not None else self.path or "")
        if not str(target) or target.is_dir():
            raise ValueError("save(path): where to write mm7Config.xml")
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<vasp:MM7Config xmlns:vasp="{NAMESPACE}">']
        for key in MM7_KEYS:
            value = self.get(key)
            for item in value if isinstance(value, list) else [value]:
                text = str(item).lower() if isinstance(item, bool) else str(item)
                lines.append(f"<{key}>{escape(text)}</{key}>")
        data = ("\r\n".join(lines) + "\r\n</vasp:MM7Config>\r\n").encode("utf-8")
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o600
        # (written beside it and moved over it: a failure half-way leaves the old file whole)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # The manual's getters, read-only views of the mapped settings:
    @property
    def mmsc_urls(self) -> list[str]:
        return list(self.config.mmsc.urls)

    @property
    def user_name(self) -> str:
        return self.config.mmsc.username

    @property
    def charset(self) -> str:
        return self.config.mmsc.charset or "UTF-8"

    @property
    def max_msg_size(self) -> int:
        return self.config.mmsc.max_message_size

    @property
    def listen_ip(self) -> str:
        return self.config.receiver.host

    @property
    def listen_port(self) -> int:
        return self.config.receiver.port

    @property
    def time_out(self) -> int:
        return int(self.config.mmsc.read_timeout * 1000)

    @property
    def re_send_count(self) -> int:
        return self.config.mmsc.max_attempts - 1

    @property
    def authentication_mode(self) -> int:
        return {"none": 0, "basic": 1, "digest": 2}[self.config.receiver.auth]

    @property
    def use_ssl(self) -> bool:
        """Whether the sender speaks TLS to the MMSC: only with mmscIP written as https:// URLs.
        UseSSL itself is ignored, as by the SDK, whose getUseSSL() misread it as always false;
        `get("UseSSL")` is what the file says."""
        urls = self.config.mmsc.urls
        return bool(urls) and all(url.lower().startswith("https://") for url in urls)


# ---------------------------------------------------------------------------------------------
# Content


class MMContent(_JavaNames, metaclass=_JavaNamesOfClass):
    """A content body (manual §4.2.3): a leaf part, or a container of sub-contents.

    The charset of a text part is its own `charset`, else the `charset=` of its content type
    ("text/plain;charset=GB2312"), else the configuration's `Charset` when it is sent (the SDK's
    default for text parts); text bytes no one named a charset for (a file, say) that are UTF-8
    beyond ASCII, or begin with a UTF-16 byte order mark, go labelled as what they are instead.
    """

    def __init__(self, content: bytes = b"", content_type: str | None = None, charset: str | None = None):
        if not isinstance(content, (bytes, bytearray, memoryview)):
            # (text read from a file opened without "b" failed only when sent, as a bare TypeError)
            raise TypeError(f"an MMContent holds bytes, not {type(content).__name__}: "
                            "MMContent.create_from_string(text) for a text, a file opened with 'rb' for a stream")
        self._data = bytes(content)
        self._text: str | None = None  # create_from_string: encoded when sent, in the charset then known
        self.content_type = content_type
        self.content_id: str | None = None
        self.content_location: str | None = None
        self.charset = charset
        self.sub_contents: list[MMContent] = []
        self._blob = None

    _FIELDS = frozenset({"content_id", "content_location", "charset", "sub_contents"})

    def __setattr__(self, name: str, value: Any) -> None:
        # A field set under its Java name (content.ContentID, setPresentionContent's) was kept and
        # never sent: the part went without its id or type. Said at once, as for the messages.
        # (a subclass's own attributes are its business)
        if type(self) is MMContent and not name.startswith("_") and name not in self._FIELDS and name not in vars(
                MMContent):
            fields = sorted(self._FIELDS | {"content_type"})
            same = next((f for f in fields if f.replace("_", "") == name.replace("_", "").lower()), None)
            hint = (" (the SDK's encoder never sent it either: add the SMIL with add_sub_content)"
                    if "presention" in name.lower() or "presentation" in name.lower()
                    else f" (the field is {same})" if same else did_you_mean(name, fields))
            raise AttributeError(f"{type(self).__name__} has no field {name}{hint}")
        super().__setattr__(name, value)

    @property
    def content_type(self) -> MMContentType | None:
        """The content type given (a string, or a constant of `ContentType`) as an `MMContentType`:
        `sub.content_type.primary_type`, as the SDK's `getContentType().getPrimaryType()`, and
        `sub.content_type.set_parameter("charset", "GB2312")` as its `setParameter` (a constant
        given is copied: its setters change this part's type alone)."""
        return self._content_type

    @content_type.setter
    def content_type(self, value: str | MMContentType | None) -> None:
        if isinstance(value, str):
            value = MMContentType(value) if value.strip() else None
        elif isinstance(value, MMContentType) and value.is_locked:
            value = value.copy()
        elif value is not None and not isinstance(value, MMContentType):
            raise TypeError(f"content_type is a string or an MMContentType, not {type(value).__name__}")
        self._content_type = value

    @classmethod
    def create_from_string(cls, text: str, charset: str | None = None) -> MMContent:
        # The SDK used the platform's default charset here and labelled the part with another;
        # here the bytes are in the charset the part says, or EncodeError says why not.
        if charset is not None:
            Part.text(text, python_charset(charset))  # a charset that cannot hold the text fails here
        c = cls(b"", ContentType.TEXT, charset)
        c._text = text
        return c

    @classmethod
    def create_from_bytes(cls, data: bytes) -> MMContent:
        return cls(data)

    @classmethod
    def create_from_file(cls, path: str | Path) -> MMContent:
        """Raises OSError when the file cannot be read (the SDK returned null)."""
        part = Part.from_file(path)
        c = cls(b"", part.content_type)
        c._blob = part.blob
        c.content_location = part.content_location  # (a name in GBK bytes as the name they spell: `Part.from_file`)
        return c

    @classmethod
    def create_from_stream(cls, stream: BinaryIO, length: int | None = None) -> MMContent:
        if length is None:
            return cls(stream.read())
        # (a pipe, a socket or a file opened unbuffered gives what it has at hand, fewer bytes than
        # asked: read on to `length` or the end, as the SDK's length promised)
        pieces, left = [stream.read(length)], length
        while pieces[-1] and (left := left - len(pieces[-1])) > 0 and isinstance(pieces[-1], bytes):
            pieces.append(stream.read(left))
        return cls(pieces[0] if len(pieces) == 1 else b"".join(pieces))

    @property
    def content(self) -> bytes:
        """The bytes (text made by create_from_string: in its charset, UTF-8 while it has none)."""
        if self._text is not None:
            charset = self.text_charset() or "UTF-8"
            try:  # (a charset set after create_from_string: said as sending says it, not a raw codec error)
                return self._text.encode(python_charset(charset))
            except LookupError:
                raise EncodeError(f"text {self.content_id or ''}: unknown charset {charset!r}") from None
            except UnicodeEncodeError:
                raise EncodeError(f"text {self.content_id or ''} cannot be written in {charset}") from None
        return self._blob.read() if self._blob is not None else self._data

    @property
    def size(self) -> int:
        if self._text is not None:
            return len(self.content)
        return self._blob.size if self._blob is not None else len(self._data)

    @property
    def content_as_string(self) -> str:
        """The text, in its charset; a charset Python does not know, or bytes that do not fit it
        (as received), read as `Part.text_value` reads them: never an error."""
        from ..content import text_of  # noqa: PLC0415

        if self._text is not None:
            return self._text
        label = self.text_charset() or "UTF-8"
        return text_of(self.content, JAVA_ALIASES.get(label.strip().lower(), label))

    def text_charset(self, default: str | None = None) -> str | None:
        """The charset this part is written in: its own, its content type's, else `default`."""
        return self.charset or content_type_param(self.content_type, "charset") or default

    @property
    def is_multipart(self) -> bool:
        return bool(self.sub_contents)

    def add_sub_content(self, sub: MMContent) -> None:
        self.sub_contents.append(sub)

    def get_sub_content_by_id(self, content_id: str) -> MMContent | None:
        """The first sub-content with this Content-ID, "<x>" or "x" (the SDK's compared the string
        as given), or named by a SMIL's `cid:` URL ("cid:x", "cid:%E5%9B%BE.gif"); then one whose id
        was sent as its UTF-8 escapes ("<%E5%9B%BE.gif>") by the name it spells; None for none."""
        if not content_id:  # (none names no part: not the first without an id)
            return None
        subs = [s for s in self.sub_contents if s.content_id]
        cid, named = content_id.strip("<>"), named_id(content_id)
        return (next((s for s in subs if s.content_id.strip("<>") == cid), None)
                or next((s for s in subs if s.content_id.strip("<>") == named), None)
                # (a part named in Chinese is sent as its UTF-8 escapes, "<%E5%9B%BE.gif>": `content.wire_id`)
                or next((s for s in subs if id_name(s.content_id.strip("<>")) in (cid, named)), None))

    def get_sub_content_by_location(self, location: str) -> MMContent | None:
        """The first sub-content with this Content-Location, as the SDK's: of parts of one location,
        the first in the order they came. Also as the URL a SMIL `src` writes ("%E6%96%B0.gif"),
        which a received part's location is read back from ("新.gif"; the SDK kept the header as
        written, so its SPs looked parts up by the URL), and a part located by a URL by the name it
        spells; a part of exactly the location given comes first. None for none."""
        if not location:
            return None
        subs = [s for s in self.sub_contents if s.content_location]
        name = location_name(location)
        # (a part located by exactly this string wins over one whose location only spells it the
        # other way, wherever they are: an SP's "%E6%96%B0.gif" is found by "新.gif" when no part has that)
        return (next((s for s in subs if s.content_location == location), None)
                or next((s for s in subs if s.content_location == name), None)
                or next((s for s in subs if location_name(s.content_location) == name), None))

    # -- to and from mm7bind --------------------------------------------------------------------

    def _type(self) -> str:
        if self.content_type:
            return str(self.content_type).split(";", 1)[0].strip()
        # §4.3: a part may leave out its type if it has a ContentID; the type follows from it
        # (from "2.txt" when given as the header writes it, "<2.txt>", as it is sent).
        named = self.content_id.strip("<>") if self.content_id else None
        return sniff_blob_type(self._blob or BytesBlob(self.content), named or self.content_location)

    def to_part(self, default_charset: str = "UTF-8") -> Part:
        """This part for mm7bind; `default_charset` (the configuration's) for text without one."""
        ctype = self._type()
        is_text = ctype.startswith("text/") or ctype == ContentType.SMIL
        charset = python_charset(self.text_charset(default_charset)) if is_text else None
        blob = self._blob or BytesBlob(self._data)
        if is_text and self._text is None and self.text_charset() is None:
            # Bytes (a file, say) whose charset no one named: the configuration's is for text in
            # no other; UTF-8 Chinese labelled GB2312 comes out garbled on the handset.
            # (ASCII alone keeps the configuration's charset: it holds ASCII as well)
            charset = bytes_charset(blob, if_ascii=None) or charset
        if self._text is not None:
            # (GB2312's U+2015 and U+30FB are written as bytes GBK readers take for other
            # characters: as unfit as a character it lacks, `gbk.AMBIGUOUS_IN_GB2312`)
            ambiguous = (charset is not None and codecs.lookup(charset).name == "gb2312"
                         and gbk.AMBIGUOUS_IN_GB2312.search(self._text))
            try:
                if ambiguous:
                    raise UnicodeEncodeError(charset, self._text, ambiguous.start(), ambiguous.end(),
                                             gbk.ambiguity(ambiguous.group()))
                blob = BytesBlob(self._text.encode(charset or "UTF-8"))
            except UnicodeEncodeError as exc:
                if self.text_charset() is not None:  # the SP chose it: said, never mislabelled
                    why = f" ({exc.reason})" if ambiguous else ""
                    raise EncodeError(f"text {self.content_id or ''} cannot be written in {charset}{why}") from None
                # only the configuration's default cannot hold it: UTF-8, labelled as such
                charset, blob = "UTF-8", BytesBlob(self._text.encode("utf-8"))
        if charset is not None and self.text_charset() is not None and charset == python_charset(self.text_charset()):
            # The SP's own, maybe a Java name ("Cp936", "ISO8859_1", "EUC_CN"): by its IANA name, as
            # the configuration's is (a handset knows GBK, not Cp936)
            charset = charset_label(charset)
        return Part(blob, ctype, charset=charset,
                    content_id=self.content_id.strip("<>") if self.content_id else None,
                    content_location=self.content_location)

    def to_content(self, default_charset: str = "UTF-8") -> Content:
        """The parts as the SP built them, as the multipart the root's type names (manual §4.2.3);
        a root without a multipart type goes as multipart/related with a SMIL part among them (the
        presentation, its start), else multipart/mixed. No SMIL is made up, as in the SDK. Nested
        sub-contents are flattened in order (mm7bind's content is one level deep)."""
        leaves = self._leaves() if self.sub_contents else [self]
        parts = [leaf.to_part(default_charset) for leaf in leaves]
        smil = next((p for p in parts if p.content_type == ContentType.SMIL), None)
        if smil is not None:
            parts.remove(smil)
        root_id = self.content_id.strip("<>") if self.sub_contents and self.content_id else None
        declared = str(self.content_type or "").split(";", 1)[0].strip().lower()
        # (the WAP_MULTIPART_* constants are MM1's names of multipart/mixed and related: meant as those)
        declared = declared.replace("application/vnd.wap.multipart.", "multipart/", 1)
        mtype = declared[len("multipart/"):] if declared.startswith("multipart/") else None
        return Content(parts=parts, smil=smil, content_id=root_id, multipart_type=mtype or ("related" if smil else "mixed"))

    def _leaves(self) -> list[MMContent]:
        out: list[MMContent] = []
        for sub in self.sub_contents:
            if sub.sub_contents:
                out += sub._leaves()
            elif "multipart" in str(sub.content_type or "").split(";", 1)[0].lower():
                # it would go out as an empty part (or raw bytes without their boundary)
                raise EncodeError(f"sub-content {sub.content_id or ''} is {sub.content_type} but has no "
                                  "sub-contents (add_sub_content)")
            else:
                out.append(sub)
        return out

    @classmethod
    def from_content(cls, content: Content | None) -> MMContent | None:
        if content is None:
            return None
        # The multipart it came as (forwarded, §4.3, it goes as that again); guessed only when unknown.
        received = (content.multipart_type or "").strip().lower()
        root = cls(b"", f"multipart/{received}" if received else
                   ContentType.MULTIPART_RELATED if content.smil else ContentType.MULTIPART_MIXED)
        root.content_id = content.content_id
        for part in content.all_parts():
            sub = cls(b"", part.content_type, _charset_of_bytes(part) if _is_text(part.content_type) else part.charset)
            sub._blob = part.blob
            sub.content_id, sub.content_location = part.content_id, part.content_location
            root.add_sub_content(sub)
        return root


def _is_text(content_type: str | None) -> bool:
    ctype = str(content_type or "").split(";", 1)[0].strip().lower()
    return ctype.startswith("text/") or ctype == ContentType.SMIL


def _charset_of_bytes(part: Part) -> str:
    """The charset a received text part is really in: its label when its bytes fit it, else what
    they were read as — GB2312 bytes that came without a label, UTF-8 labelled GB2312 (the SDK's
    slip), a label Python does not know — so that the part, forwarded (manual §4.3), says the truth."""
    from ..errors import DecodeError  # noqa: PLC0415
    from ..xmlsafe import charset_codec, decode_text  # noqa: PLC0415

    data = part.data
    try:
        _, codec, _ = decode_text(data, part.charset, None, "part")
    except DecodeError:  # in no charset known: as it was labelled
        return part.charset or "UTF-8"
    if part.charset and charset_codec(part.charset)[0] == codec:
        return part.charset
    if codec == "gb18030":  # (how GB2312 and GBK are read): the narrowest name that fits
        return next((name for name in ("GB2312", "GBK") if decodes(data, name)), "GB18030")
    return {"utf-8": "UTF-8", "utf-16-be": "UTF-16BE"}.get(codec, codec)


# ---------------------------------------------------------------------------------------------
# Requests from the VASP


def _content_of(content: MMContent | None, charset: str) -> Content | None:
    if content is not None and not isinstance(content, MMContent):
        # (the manual's §4.2.2.1 sample writes submitReq.setContent("多媒体消息的内容"), a string)
        raise TypeError(f"content must be an MMContent, not {type(content).__name__} "
                        "(MMContent.create_from_string(text) for a text)")
    # (a part named in Chinese, "图.gif", as the SDK let SPs name them, goes with an ASCII Content-ID and
    # the SMIL's references of it spelt alike: `codec.encode`'s, for any content)
    return content.to_content(charset) if content is not None else None


# A time written out: the manual's form (§4.2.2.1: "2004-02-09T10:21:07"), with a zone if any; and
# a relative one as MM7 writes it, an xs:duration ("P1D", "PT2H30M").
_WRITTEN_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?")
_WRITTEN_DURATION = re.compile(r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")


def _written(text: str, name: str, relative: bool) -> datetime | str:
    """A time given as text, as the value it means: the manual's "2004-02-09T10:21:07" as that
    datetime (local time without a zone, as a datetime without one is: the text and the datetime
    go the same), an xs:duration ("P1D") as written, where a relative time may go. The SDK's
    setters took a Date or a long, never text; passed on unread, text went out as it was (a
    TimeStamp without its zone) or failed as int("…"), or went as seconds ("20261201")."""
    written = text.strip()
    if _WRITTEN_TIME.fullmatch(written):
        try:
            return datetime.fromisoformat(written[:-1] + "+00:00" if written.endswith("Z") else written)
        except ValueError as exc:  # (2004-02-30T…)
            raise ValueError(f"{name} {text!r} is no time: {exc}") from None
    if relative and _WRITTEN_DURATION.fullmatch(written):
        return written
    forms = ('a datetime, the seconds from now (an int or a timedelta), "yyyy-MM-ddTHH:mm:ss" '
             '("2004-02-09T10:21:07", a zone after it if any) or a duration ("P1D", "PT2H")') if relative else (
             'a datetime or "yyyy-MM-ddTHH:mm:ss" ("2004-02-09T10:21:07", a zone after it if any)')
    digits = " (seconds from now are an int: int(text))" if relative and written.isdigit() else ""
    raise ValueError(f"{name} {text!r} is no time{digits}: {forms}")


def _when(value: datetime | int | timedelta | str | None, name: str = "time"):
    """Absolute (datetime) or relative (seconds, as the SDK's long) time; text as `_written` reads it."""
    if value is None or isinstance(value, (datetime, timedelta)):
        return value
    if isinstance(value, str):
        return _written(value, name, relative=True)
    if isinstance(value, bool):  # (an int to Python: True went as one second from now)
        raise ValueError(f"{value!r} is no time: a datetime, or the seconds from now (an int or a timedelta)")
    return timedelta(seconds=int(value))


def _stamp(value: datetime | str | None, name: str = "time_stamp") -> datetime | None:
    """A TimeStamp: a datetime, or text as `_written` reads an absolute time."""
    return _written(value, name, relative=False) if isinstance(value, str) else value


def _numbered(table: dict, value: int | None, name: str, meanings: str):
    """The MM7 value of one of the manual's numbers (a byte in the SDK), or a ValueError saying them."""
    if value is None:
        return None
    if isinstance(value, bool) or value not in table:
        raise ValueError(f"{name} {value!r} is none of the manual's numbers: {meanings}")
    return table[value]


def _flag(value: object, name: str, default: bool) -> bool:
    """A flag the layer itself reads (allow_adaptations, reply_charging) as the boolean it must be,
    None (left unset, as other fields) its default: text such as "false" (a value read from a
    properties file) is true to Python, and went out as allowAdaptations="true", or asked for no reply
    charging where "true" was written; None went as allowAdaptations="false". The flags the codec
    writes as given are refused there alike."""
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"{name} is True or False, not {value!r}")
    return value


def _message_class(value: str | None) -> str | None:
    """The MessageClass as the schema spells it: the SDK sent the SP's text as written ("personal",
    its own constant's "Advertisement "), which the schema's list does not hold."""
    if not value or not value.strip():
        return None
    text = value.strip()
    return next((known for known in MessageClass.TO_MM7 if known.lower() == text.lower()), text)


class DisplayOnly(str):
    """A recipient shown to the others and not delivered to: MM7's displayOnly, the manual's
    addresses "for reference only" (§4.2.2.1). In an `MM7DeliverReq`'s to, cc and bcc, those the
    MMSC marked so; in an `MM7SubmitReq`'s, sent with displayOnly="true". It is a str, so code
    treating recipients as text works unchanged. The SDK read and wrote addresses as plain text and
    lost the mark: a Submit copying an MO's recipients (§4.3) delivered to addresses only shown."""

    __slots__ = ()
    display_only = True

    def __repr__(self) -> str:
        return f"DisplayOnly({str.__repr__(self)})"


def _received(address: m.Address) -> str:
    return DisplayOnly(address.value) if address.display_only else str(address)


def _to_send(addresses: list) -> list:
    """The recipients as the core takes them, a `DisplayOnly` one marked so."""
    out = []
    for a in addresses:
        if isinstance(a, DisplayOnly):
            parsed = m.Address.parse(str(a))
            a = m.Address(parsed.value, parsed.kind, display_only=True)
        out.append(a)
    return out


@dataclass
class MM7Message(_JavaNames):
    transaction_id: str | None = None
    mm7_version: str | None = None  # the SDK fixed 6.3.0; the dialect's default here

    def __setattr__(self, name: str, value: Any) -> None:
        # A field set under its Java name (req.VASPID, res.StatusCode) or misspelt would be kept
        # beside the real one and never sent: said at once instead.
        if not name.startswith("_") and name not in self.__dataclass_fields__:
            fields = list(self.__dataclass_fields__)
            same = next((f for f in fields if f.replace("_", "") == name.replace("_", "").lower()), None)
            hint = f" (the field is {same})" if same else did_you_mean(name, fields)
            raise AttributeError(f"{type(self).__name__} has no field {name}{hint}")
        super().__setattr__(name, value)


@dataclass
class MM7VASPReq(MM7Message):
    """What the VASP sends (Submit, Cancel, Replace); the MMSC answers with an `MM7RSRes`."""


@dataclass
class MM7SubmitReq(MM7VASPReq):
    vaspid: str | None = None
    vasid: str | None = None
    service_code: str | None = None
    sender_address: str | None = None
    charged_party_id: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    linked_id: str | None = None
    message_class: str | None = None
    time_stamp: datetime | str | None = None
    expiry_date: datetime | int | timedelta | str | None = None
    earliest_delivery_time: datetime | int | timedelta | str | None = None
    delivery_report: bool | None = None
    read_reply: bool | None = None
    reply_charging: bool = False
    reply_deadline: datetime | int | timedelta | str | None = None
    reply_charging_size: int | None = None
    priority: int | None = None  # 0 low, 1 normal, 2 high
    subject: str | None = None
    allow_adaptations: bool = True
    charged_party: int | None = None  # 0 Sender, 1 Recipient, 2 Both, 3 Neither, 4 ThirdParty
    content: MMContent | None = None
    distribution_indicator: bool | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("to", "cc", "bcc") and (value is None or isinstance(value, str)):
            # The SDK's setTo/setCc/setBcc took a List; a number given as a str (to=deliver_req.sender)
            # was split into its characters, each sent as a recipient: it is the one address it is.
            value = [] if value is None else [value]
        elif name in ("to", "cc", "bcc") and not isinstance(value, list) and isinstance(value, Iterable):
            # A tuple (add_to failed on it: no append) or a generator or map (sent once: a second
            # send of the request went to no one): the list Java's List was.
            value = list(value)
        super().__setattr__(name, value)

    def add_to(self, address: str) -> None:
        self.to.append(address)

    def add_cc(self, address: str) -> None:
        self.cc.append(address)

    def add_bcc(self, address: str) -> None:
        self.bcc.append(address)

    def to_message(self, charset: str = "UTF-8") -> m.SubmitReq:
        """The message; `charset` (the configuration's) for text parts that name none."""
        rc = None
        # ReplyCharging asks the MMSC to charge replies to the SP: only when it says so. A deadline or
        # size alone asked for nothing in the SDK (it wrote them inside a ReplyCharging set with
        # setReplyCharging only), and reply_charging=False with them must not ask either.
        if _flag(self.reply_charging, "reply_charging", False):
            rc = m.ReplyCharging(size=self.reply_charging_size,
                                 deadline=_when(self.reply_deadline, "reply_deadline"))
        content = _content_of(self.content, charset)
        recipients = m.Recipients(to=_to_send(self.to), cc=_to_send(self.cc), bcc=_to_send(self.bcc))
        if len(recipients) and all(a.display_only for a in recipients):
            # (§4.2.2.1: at least one of To, Cc, Bcc; one only shown is delivered to no one)
            raise ValueError("every recipient is DisplayOnly: the message would be delivered to no one")
        return m.SubmitReq(
            mm7_version=self.mm7_version, vaspid=self.vaspid, vasid=self.vasid, service_code=self.service_code,
            sender_address=self.sender_address, charged_party_id=self.charged_party_id,
            recipients=recipients, linked_id=self.linked_id,
            message_class=_message_class(self.message_class), time_stamp=_stamp(self.time_stamp),
            expiry_date=_when(self.expiry_date, "expiry_date"),
            earliest_delivery_time=_when(self.earliest_delivery_time, "earliest_delivery_time"),
            delivery_report=self.delivery_report, read_reply=self.read_reply, reply_charging=rc,
            priority=_numbered(Priority.TO_MM7, self.priority, "priority", "0 (low), 1 (normal) or 2 (high)"),
            subject=self.subject,
            charged_party=_numbered(ChargedParty.TO_MM7, self.charged_party, "charged_party",
                                    "0 (Sender), 1 (Recipient), 2 (Both), 3 (Neither) or 4 (ThirdParty)"),
            distribution_indicator=self.distribution_indicator, content=content,
            # the href is the codec's to fill in; only allowAdaptations="false" needs saying here
            content_ref=m.ContentRef(href="cid:content", allow_adaptations=False)
            if content is not None and not _flag(self.allow_adaptations, "allow_adaptations", True) else None,
        )


@dataclass
class MM7CancelReq(MM7VASPReq):
    vaspid: str | None = None
    vasid: str | None = None
    sender_address: str | None = None
    message_id: str | None = None

    def to_message(self, charset: str = "UTF-8") -> m.CancelReq:
        return m.CancelReq(mm7_version=self.mm7_version, vaspid=self.vaspid, vasid=self.vasid,
                           sender_address=self.sender_address, message_id=self.message_id)


@dataclass
class MM7ReplaceReq(MM7VASPReq):
    vaspid: str | None = None
    vasid: str | None = None
    message_id: str | None = None
    service_code: str | None = None
    time_stamp: datetime | str | None = None
    earliest_delivery_time: datetime | int | timedelta | str | None = None
    read_reply: bool | None = None
    allow_adaptations: bool = True
    content: MMContent | None = None
    distribution_indicator: bool | None = None

    def to_message(self, charset: str = "UTF-8") -> m.ReplaceReq:
        return m.ReplaceReq(
            mm7_version=self.mm7_version, vaspid=self.vaspid, vasid=self.vasid, message_id=self.message_id,
            service_code=self.service_code, time_stamp=_stamp(self.time_stamp),
            earliest_delivery_time=_when(self.earliest_delivery_time, "earliest_delivery_time"),
            read_reply=self.read_reply,
            distribution_indicator=self.distribution_indicator,
            content=_content_of(self.content, charset),
            content_ref=m.ContentRef(href="cid:content", allow_adaptations=False)
            if self.content is not None and not _flag(self.allow_adaptations, "allow_adaptations", True) else None,
        )


# ---------------------------------------------------------------------------------------------
# Answers from the MMSC


@dataclass
class MM7RSRes(MM7Message):
    status_code: int | None = None
    status_text: str | None = None
    status_detail: str | None = None
    # Beyond the SDK, what mm7bind's Result says of the exchange: an attempt before the one
    # answered got no answer (the MMSC may have the message twice: the SDK re-sent unawares), how
    # the answer departed from MM7 (a transaction-id-mismatch taken, say), and the seconds its
    # Retry-After asked for (an MMSC busy: 4006).
    earlier_unanswered: bool = field(default=False, compare=False)
    deviations: list = field(default_factory=list, compare=False)
    retry_after: float | None = field(default=None, compare=False)
    # `transaction_id` is the answer's, as the SDK returned it: another than the request's only where
    # accept_transaction_id_mismatch took an MMSC's own. The request's stays here, to match the two.
    request_transaction_id: str | None = field(default=None, compare=False)

    @property
    def status_text_zh(self) -> str | None:
        """The manual's Chinese text of the status: §5.1 for the MMSC's codes, §7 for the API's own
        (mm7bind's translation for a code the manual does not list)."""
        if self.status_code is None:
            return None
        if self.status_code <= 0:
            error = st.API_ERRORS.get(self.status_code)
            return error.text_zh if error is not None else None
        return st.status_text(self.status_code)

    @property
    def status_text_sdk(self) -> str | None:
        """The StatusText SDK V1.5.3 gave: for the API's own negative codes its words, as its logs
        show them (−102 接收失败！, −110 "Server could not fulfill the request"), where `status_text`
        has the manual's §7 words (接收失败); the MMSC's text as it came, as the SDK passed it on."""
        error = st.API_ERRORS.get(self.status_code) if self.status_code is not None and self.status_code < 0 else None
        return error.text_sdk if error is not None else self.status_text


@dataclass
class MM7SubmitRes(MM7RSRes):
    message_id: str | None = None


@dataclass
class MM7CancelRes(MM7RSRes):
    pass


@dataclass
class MM7ReplaceRes(MM7RSRes):
    pass


@dataclass
class MM7RSErrorRes(MM7RSRes):
    """An RSErrorRsp from the MMSC, or (errors="return") one of the API's own negative codes.
    `error`: for the latter, the exception errors="raise" raises, so a failure is told apart as
    there: `isinstance(res.error, cmcc.status.SendTimeout)` for a timeout, whose `status_code`
    is -102 as every failure to receive an answer (SDK V1.5.3's); None for the MMSC's."""

    error: st.APIError | None = field(default=None, compare=False)
    # The API's own error after the request went out (a timeout, the connection lost, an answer
    # not read): the MMSC may have the message, and sending it again may deliver it twice.
    may_have_arrived: bool = field(default=False, compare=False)


class MM7Sender(_JavaNames):
    """`send(req)` → the MMSC's answer: `MM7SubmitRes` / `MM7CancelRes` / `MM7ReplaceRes`, or an
    `MM7RSErrorRes` (the MMSC's error, or the API's own negative code). Thread-safe: one sender can
    serve many threads. `errors="raise"`: the API's own errors raised instead; `store`: sends
    recorded there; `accept_transaction_id_mismatch=True`: an answer carrying a TransactionID other
    than the request's taken (an MMSC writing its own), not refused as -111."""

    def __init__(self, config: MM7Config | None = None, errors: str = "return", store=None,
                 accept_transaction_id_mismatch: bool = False):
        if errors not in ("raise", "return"):
            raise ValueError("errors must be 'raise' or 'return'")
        self.errors = errors
        self.store = store
        # The SDK never compared the answer's TransactionID with the request's; mm7bind refuses
        # another request's answer (−111) unless told the MMSC writes one of its own.
        self.accept_transaction_id_mismatch = accept_transaction_id_mismatch
        self.config: MM7Config | None = None
        self.client: Client | None = None
        self._said_missing: set[str] = set()  # the SubmitReq fields a warning was logged for
        # Sends in hand by client: one a set_config replaced is closed when its last send ends (closed
        # at once, a send another thread had begun on it ended in "the Client is closed").
        self._in_hand: dict[Client, int] = {}
        self._retired: set[Client] = set()
        self._clients = threading.Lock()
        if config is not None:
            self.set_config(config)

    def set_config(self, config: MM7Config) -> None:
        """The SDK's `new MM7Sender()` + `setConfig(cfg)`; ConfigError when the files cannot work."""
        settings = config.config.client_settings()
        if self.accept_transaction_id_mismatch:
            settings["accept_transaction_id_mismatch"] = True
        client = Client(store=self.store, **settings)
        config._start_logging()
        with logging_for(config.config):
            config.config.say_warnings(("sending",))
        with self._clients:
            old, self.config, self.client = self.client, config, client
            if old is not None and self._in_hand.get(old):
                self._retired.add(old)
                old = None
        if old is not None:
            old.close()

    def _taken(self) -> tuple[MM7Config | None, Client | None]:
        with self._clients:
            config, client = self.config, self.client
            if client is not None:
                self._in_hand[client] = self._in_hand.get(client, 0) + 1
        return config, client

    def _given_back(self, client: Client | None) -> None:
        if client is None:
            return
        with self._clients:
            left = self._in_hand[client] = self._in_hand[client] - 1
            if left:
                return
            del self._in_hand[client]
            if client not in self._retired:
                return
            self._retired.discard(client)
        client.close()

    def get_config(self) -> MM7Config | None:
        """The SDK's `getConfig()` (as `.config`): ported beside `set_config`, it is there too."""
        return self.config

    def send(self, req: MM7SubmitReq | MM7CancelReq | MM7ReplaceReq | None) -> MM7RSRes:
        config, client = self._taken()  # (the pair it starts with, whatever set_config does meanwhile)
        try:
            if config is None:
                return self._send(req, config, client)
            with logging_for(config.config):  # into this MMSC's log file, not another's
                return self._send(req, config, client)
        except st.APIError as exc:
            cause = exc.__cause__
            exc.earlier_unanswered = bool(getattr(cause, "earlier_unanswered", False))
            exc.may_have_arrived = isinstance(cause, SendError) and may_have_arrived(cause)
            if self.errors == "raise":
                raise
            # the TransactionID it went with (made up when the SP gave none), as the log names it
            try:  # (a number as it went out; a TransactionID of no kind was refused)
                tid = transaction_id_text(getattr(req, "transaction_id", None))
            except EncodeError:
                tid = None
            tid = tid or getattr(cause, "transaction_id", None)
            # (a copy without the traceback and cause, whose frames would hold the request and its content)
            error = type(exc)(exc.detail)
            error.earlier_unanswered, error.may_have_arrived = exc.earlier_unanswered, exc.may_have_arrived
            return MM7RSErrorRes(transaction_id=tid, request_transaction_id=tid, status_code=exc.code,
                                 status_text=exc.text_zh, status_detail=exc.detail, error=error,
                                 earlier_unanswered=exc.earlier_unanswered, may_have_arrived=exc.may_have_arrived)
        finally:
            self._given_back(client)

    # The manual's "required" codes of a SubmitReq that the SDK's encoder missed (§4.2.2.1): it
    # printed these words and sent the message all the same, as this does, saying them in the log
    # (once per sender for each) — the manual's own §4.2.5 example sets no VASPID. SenderAddress and
    # ChargedPartyID, "required" too, it sent without a word.
    _SDK_SAYS_MISSING = (("vaspid", "VASPID", "SP代码VASPID不许为空！", "the enterprise code China Mobile's MMSC "
                          "identifies and bills the SP by, answering 4001 without it (manual §2.1)"),
                         ("vasid", "VASID", "服务代码VASID不许为空！", "the service code China Mobile's MMSC routes "
                          "by and reports come back to (manual §2.2)"),
                         ("service_code", "ServiceCode", "业务代码ServiceCode不许为空！", "the business code China "
                          "Mobile bills by (manual §2.3)"))

    def _say_missing_codes(self, req: MM7SubmitReq, client: Client) -> None:
        for name, element, sdk_words, what in self._SDK_SAYS_MISSING:
            value = getattr(req, name)
            if value is None:
                value = getattr(client.config, name, None)  # (the configuration's [vasp] one fills it in)
            if name in self._said_missing or (value is not None and (not isinstance(value, str) or value.strip())):
                continue
            self._said_missing.add(name)
            log.warning("SubmitReq without a %s (%s, as the SDK said): sent as it is, as the SDK sent it; it is %s: "
                        "set %s (said once per sender)", element, sdk_words, what, name)

    def _send(self, req, config: MM7Config | None, client: Client | None) -> MM7RSRes:
        if client is None:
            raise st.SystemError_("no configuration: MM7Sender(config) or set_config(config) first")
        if req is None:
            raise st.EmptyMessage()
        if not isinstance(req, (MM7SubmitReq, MM7CancelReq, MM7ReplaceReq)):
            raise st.WrongMessage("没有匹配的消息，请确认要发送的消息是否正确！")
        vaspid = getattr(req, "vaspid", None)
        if isinstance(vaspid, str) and not vaspid.strip():
            # (it would go as <VASPID></VASPID>, the code of no SP, which MMSCs answer 4001; one left
            # unset goes without, as the SDK sent it, saying so: `_say_missing_codes`)
            raise st.WrongMessage("VASPID (企业代码) blank: give the enterprise code (set vaspid), or leave it unset")
        if isinstance(req, MM7SubmitReq):
            self._say_missing_codes(req, client)
        # An SP's counter goes as its digits, as the core client sends and matches it (its echo was
        # taken for another request's answer, -111, though the MMSC had the message).
        try:
            tid = transaction_id_text(req.transaction_id)
        except EncodeError:
            tid = req.transaction_id
            raise st.WrongMessage(f"transaction_id is text (or a whole number), not {type(tid).__name__}: "
                                  f"{tid!r}") from None
        try:
            message = req.to_message(config.charset)
        except (TypeError, ValueError, KeyError, AttributeError, LookupError) as exc:  # a field it cannot take
            raise st.WrongMessage(f"{type(exc).__name__}: {exc}") from exc
        try:
            result = client.send(message, transaction_id=tid)
        except MessageTooLargeError as exc:
            raise st.MessageTooLarge(str(exc)) from exc
        except EncodeError as exc:  # a message that cannot be written (a required field missing...)
            raise st.WrongMessage(str(exc)) from exc
        except FaultError as exc:
            status = exc.fault.status  # its RSErrorRsp's, or a code a peer put in faultstring alone
            if status is None:
                raise st.ServerFault(exc.fault.string) from exc
            return MM7RSErrorRes(transaction_id=exc.transaction_id, request_transaction_id=exc.transaction_id,
                                 status_code=status.code, status_text=status.text, status_detail=status.details,
                                 earlier_unanswered=exc.earlier_unanswered, retry_after=exc.retry_after)
        except ConnectError as exc:
            raise st.SocketUnreachable(str(exc)) from exc
        except RequestTimeout as exc:
            raise st.ReadTimeout(f"超时发送失败: {exc}") from exc
        except HTTPStatusError as exc:
            if exc.status == 401:  # credentials refused (again, after a Digest answer): the SDK's -102
                raise st.ReceiveFailed(f"HTTP 401: {exc}") from exc
            if not exc.body.strip():
                raise st.EmptyResponse(f"HTTP {exc.status}") from exc
            raise st.BadRequest(f"HTTP {exc.status}") from exc
        except ProtocolError as exc:
            text, unreadable = str(exc), exc.__cause__
            if "empty answer" in text:
                raise st.EmptyResponse(text) from exc
            if isinstance(unreadable, DecodeError):
                # The SDK's test: no XML in the answer at all (plain text, JSON, an HTML page) is
                # -108; XML it could not parse, -109.
                # (an HTML page told by its bytes, not by our error's words: one with a DOCTYPE was
                # "DOCTYPE or ENTITY declarations are not allowed", -109)
                if isinstance(unreadable, MimeError) or html_page(exc.body) or "root element html" in text.lower():
                    raise st.BadRequest(text) from exc
                raise st.XMLParseError(text) from exc
            if "expected" in text or "accept_transaction_id_mismatch" in text:
                # a well-formed answer, but not the response to this request (of another kind, or
                # carrying another request's TransactionID): parsed, so no -109
                raise st.ServerError(text) from exc
            raise st.XMLParseError(text) from exc
        except TransportError as exc:
            raise st.ReceiveFailed(str(exc)) from exc
        except (MM7Error, OSError) as exc:  # e.g. a content file gone since it was added
            raise st.SystemError_(f"{type(exc).__name__}: {exc}") from exc
        s = result.status
        # An answer without a TransactionID has the request's (its deviations say it carried none): the
        # SDK never handed over such an answer (no SOAP Header was its -111), so no port expects a None.
        common = {"transaction_id": result.answer_transaction_id or result.transaction_id,
                  "request_transaction_id": result.transaction_id, "mm7_version": result.response.mm7_version,
                  "status_code": s.code, "status_text": s.text, "status_detail": s.details,
                  "earlier_unanswered": result.earlier_unanswered, "deviations": list(result.deviations),
                  "retry_after": result.retry_after}
        if isinstance(req, MM7SubmitReq):
            return MM7SubmitRes(message_id=result.message_id, **common)
        if isinstance(req, MM7CancelReq):
            return MM7CancelRes(**common)
        return MM7ReplaceRes(**common)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


# ---------------------------------------------------------------------------------------------
# Requests from the MMSC, and the VASP's answers


@dataclass
class MM7RSReq(MM7Message):
    mms_relay_server_id: str | None = None


@dataclass
class MM7DeliverReq(MM7RSReq):
    linked_id: str | None = None
    sender: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    time_stamp: datetime | None = None
    reply_charging_id: str | None = None
    priority: int | None = None
    subject: str | None = None
    content: MMContent | None = None


@dataclass
class MM7DeliveryReportReq(MM7RSReq):
    message_id: str | None = None
    recipient: str | None = None
    sender: str | None = None
    time_stamp: datetime | None = None
    mm_status: int | None = None  # §5.2
    status_text: str | None = None
    # The MMStatus as the MMSC wrote it ("Deferred", "Unrecognised", "DeliveryConditionNotMet"...):
    # REL-6-MM7-1-0 has more than §5.2 numbers, and the SDK read every other one as 4, indeterminate
    # (a Deferred report, whose message may still arrive, looked final).
    mm7_status: str | None = None
    # China Mobile's and China Unicom's gateways write MMSStatusErrorCode after MMStatus (129 beside
    # Retrieved: MM1's X-Mms-Status code), an element of no schema: as written, None when absent.
    # The SDK's decoder never read it, so its reports had no getter for it.
    mms_status_error_code: str | None = None


@dataclass
class MM7ReadReplyReq(MM7RSReq):
    message_id: str | None = None
    recipient: str | None = None
    sender: str | None = None
    time_stamp: datetime | None = None
    mm_status: int | None = None  # §5.3
    status_text: str | None = None
    mm7_status: str | None = None  # the MMStatus as the MMSC wrote it ("Read", "Deleted", "Indeterminate")


@dataclass
class MM7VASPRes(MM7Message):
    status_code: int = 1000
    status_text: str | None = None
    status_detail: str | None = None


@dataclass
class MM7DeliverRes(MM7VASPRes):
    service_code: str | None = None


@dataclass
class MM7DeliveryReportRes(MM7VASPRes):
    pass


@dataclass
class MM7ReadReplyRes(MM7VASPRes):
    pass


@dataclass
class MM7VASPErrorRes(MM7VASPRes):
    status_code: int = 4000


def _addr(a) -> str | None:
    return str(a) if a is not None else None


def _status_word(value) -> str | None:
    """An MMStatus as written (a known one by its schema spelling, another as it came), None when absent."""
    text = str(getattr(value, "value", value) or "").strip()
    return text or None


def _vendor_text(msg: m.Message, name: str) -> str | None:
    """The text of a vendor element of the body (kept by the codec in `extras`), None when absent."""
    lowered = name.lower()
    for extra in msg.extras:
        if extra.name.lower() == lowered and extra.path.count("/") == 4:  # (/Envelope/Body/Req/Name)
            return (extra.text or "").strip() or None
    return None


def _deliver_req(msg: m.DeliverReq, ctx: Context) -> MM7DeliverReq:
    r = msg.recipients or m.Recipients()
    return MM7DeliverReq(
        transaction_id=ctx.transaction_id, mm7_version=msg.mm7_version, mms_relay_server_id=msg.relay_server_id,
        linked_id=msg.linked_id, sender=_addr(msg.sender), to=[_received(a) for a in r.to],
        cc=[_received(a) for a in r.cc], bcc=[_received(a) for a in r.bcc], time_stamp=msg.time_stamp, reply_charging_id=msg.reply_charging_id,
        priority=Priority.FROM_MM7.get(msg.priority) if isinstance(msg.priority, m.Priority) else None,
        subject=msg.subject, content=MMContent.from_content(msg.content),
    )


def _report_req(msg: m.DeliveryReportReq, ctx: Context) -> MM7DeliveryReportReq:
    return MM7DeliveryReportReq(
        transaction_id=ctx.transaction_id, mm7_version=msg.mm7_version, mms_relay_server_id=msg.relay_server_id,
        message_id=msg.message_id, recipient=_addr(msg.recipient), sender=_addr(msg.sender), time_stamp=msg.date,
        mm_status=st.MMStatus.from_mm7(msg.mm_status, msg.mm_status_extension), status_text=msg.status_text,
        mm7_status=_status_word(msg.mm_status), mms_status_error_code=_vendor_text(msg, "MMSStatusErrorCode"),
    )


def _read_req(msg: m.ReadReplyReq, ctx: Context) -> MM7ReadReplyReq:
    return MM7ReadReplyReq(
        transaction_id=ctx.transaction_id, mm7_version=msg.mm7_version, mms_relay_server_id=msg.relay_server_id,
        message_id=msg.message_id, recipient=_addr(msg.recipient), sender=_addr(msg.sender),
        time_stamp=msg.time_stamp, mm_status=st.ReadStatusCode.from_mm7(msg.mm_status), status_text=msg.status_text,
        mm7_status=_status_word(msg.mm_status),
    )


def _manual_text(code: int) -> str:
    """The StatusText of an answer the SP gave none: the manual's (§5.1, Chinese) where it lists the
    code, else the English one. The SDK wrote none, which the schema does not allow (StatusText is
    mandatory); its §5.1 table is the text China Mobile's side gives each code."""
    info = lookup_status(code)
    return info.text_zh if info.zh_from_manual else info.text


class _Bridge(Handler):
    """Turns mm7bind's handler calls into the SDK's do_* calls and their results back."""

    def __init__(self, target):
        self.target = target
        self._warned_success_error = False

    def _answer(self, callback: str, res: MM7VASPRes | None, rsp_cls):
        from ..receiver import Reject, Unavailable  # noqa: PLC0415

        if res is None:  # (a callback without a return: success, as the SDK's own default callbacks answered)
            return rsp_cls(status=m.Status(1000, _manual_text(1000)))
        # Said as such: an int, a dict or an MMSC's answer (MM7SubmitRes) returned here failed
        # later as an AttributeError, or went out as whatever status it happened to hold.
        owner = f"{type(self.target).__name__}.{callback}"
        if not isinstance(res, MM7VASPRes):
            raise TypeError(f"{owner} returned {res!r} ({type(res).__name__}); it must return an MM7VASPRes "
                            f"(MM7DeliverRes, MM7DeliveryReportRes, MM7ReadReplyRes, MM7VASPErrorRes) or None")
        code = res.status_code
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise TypeError(f"{owner} returned {type(res).__name__} with status_code {code!r} "
                            f"({type(code).__name__}); it must be an int (RequestStatus) or None")
        if code and not 1000 <= code <= 4999:  # (0: Java's unset int, as None)
            # Went out as it was (a DeliverRsp saying 5, a Fault saying 5000), which no MMSC can read.
            raise ValueError(f"{owner} returned {type(res).__name__} with status_code {code}; an MM7 status "
                             "code is 1000-4999 (RequestStatus: 1000 success, 2000 or more an error)")
        if not code and isinstance(res, MM7VASPErrorRes):
            # An error answer whose code was left unset (None, or Java's 0) is still an error: its
            # class's default (4000), not the success that an unset code means on other answers.
            code = type(res).status_code or int(RequestStatus.GENERAL_SERVICE_ERROR)
        # The code decides, whatever the class (the SDK wrote every code into its response): 2000
        # or more is an error, a Fault; an MM7VASPErrorRes carrying a success code answers as a
        # success, not as a Fault saying 1000, which an MMSC reads as a refusal.
        code = code or 1000
        text = _manual_text(code) if res.status_text is None else res.status_text
        if code >= 2000:
            if is_retryable(code):
                # "Try later" (4006, a 3xxx): as a Reject, a store would keep the message rejected
                # and answer every copy the MMSC sends again so, never calling back: lost. Failed,
                # the next copy (or a replay) is handed to the callback again.
                raise Unavailable(f"{owner} answered {code} {res.status_text or ''}".rstrip()
                                  + ": the MMSC is asked to send it again")
            raise Reject(code, text, res.status_detail)
        if isinstance(res, MM7VASPErrorRes) and not self._warned_success_error:
            self._warned_success_error = True
            log.warning("%s returned MM7VASPErrorRes with the success code %s: answered as a success", owner, code)
        kwargs: dict[str, Any] = {"status": m.Status(code, text, res.status_detail)}
        # Only a DeliverRsp has a ServiceCode: an MM7DeliverRes returned for a report (all are
        # MM7VASPRes to the SDK) answers it without one, not with a Fault the MMSC retries for ever.
        if isinstance(res, MM7DeliverRes) and res.service_code and rsp_cls is m.DeliverRsp:
            kwargs["service_code"] = res.service_code
        return rsp_cls(**kwargs)

    def on_deliver(self, msg, ctx):
        return self._answer("do_deliver", self.target.do_deliver(_deliver_req(msg, ctx)), m.DeliverRsp)

    def on_delivery_report(self, msg, ctx):
        return self._answer("do_delivery_report", self.target.do_delivery_report(_report_req(msg, ctx)),
                            m.DeliveryReportRsp)

    def on_read_reply(self, msg, ctx):
        return self._answer("do_read_reply", self.target.do_read_reply(_read_req(msg, ctx)), m.ReadReplyRsp)


class MM7AbstractReceiver(_JavaNames):
    """The SDK's interface of the callbacks an SP implements, shared by `MM7Receiver` and
    `MM7ReceiveServlet`. do_* default to success (the SDK's default doDeliveryReport/doReadReply
    returned no status)."""

    # (class defaults: a subclass may set its configuration in its own constructor, as the SDK's
    # examples do, without calling this one's)
    config: MM7Config | None = None
    store = None

    # A callback under its Java name (doDeliver) or a slip of the manual's (§4.4.2 doDelivery, §5.1
    # "DeliverReportReq") would never be called: every message would be answered 1000 by the default, and lost.
    _CALLBACKS = {"dodeliver": "do_deliver", "dodeliveryreport": "do_delivery_report",
                  "dodelivery": "do_delivery_report", "dodeliverreport": "do_delivery_report",
                  "doreadreply": "do_read_reply"}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():
            meant = cls._CALLBACKS.get(name.replace("_", "").lower())
            if meant and name != meant and callable(value):
                raise TypeError(f"{cls.__name__}.{name} would never be called: the callback is {meant}")

    def do_deliver(self, req: MM7DeliverReq) -> MM7VASPRes:
        return MM7DeliverRes()

    def do_delivery_report(self, req: MM7DeliveryReportReq) -> MM7VASPRes:
        return MM7DeliveryReportRes()

    def do_read_reply(self, req: MM7ReadReplyReq) -> MM7VASPRes:
        return MM7ReadReplyRes()

    def set_config(self, config: MM7Config) -> None:
        self.config = config

    def get_config(self) -> MM7Config | None:
        """The SDK's `getConfig()` (as `.config`; a servlet's `Config` field when that is what was set)."""
        if self.config is None and isinstance(getattr(self, "Config", None), MM7Config):
            return self.Config
        return self.config

    def _receiver(self, store=None) -> Receiver:
        self.config = self.get_config()  # (the SDK servlet's Config field, set as its examples set it)
        if self.config is None:
            raise ValueError("no configuration: set_config(MM7Config(path)) first, or set self.config "
                             "in the constructor")
        self.config._start_logging()
        with logging_for(self.config.config):
            self.config.config.say_warnings(("serving", "handling"))
        return self.config.config.make_receiver(_Bridge(self), store=store)

    def _wsgi(self, receiver: Receiver) -> Callable:
        """The WSGI application of `receiver`, logging into this configuration's file only."""
        app, cfg = wsgi_app(receiver), self.config.config

        def logged(environ: dict, start_response: Callable) -> Iterable[bytes]:
            with logging_for(cfg):
                return app(environ, start_response)

        return logged


def _cannot_listen(exc: OSError, host: str, port: int, config: MM7Config, from_file: tuple[str, ...]) -> OSError:
    """The error of a receiver that cannot listen, saying where it tried, which settings of the file
    name that place, and what to change for the usual causes; of the same kind (errno, class), so
    code catching the OSError, or PermissionError, still catches it. Bare ("[Errno 99] Cannot assign
    requested address"), it said none of them: a file copied from the production server names that
    server's ListenIP, and the SDK's receiver may still hold its ListenPort."""
    import errno  # noqa: PLC0415

    keys = " and ".join(from_file)
    source = ("as given to start()" if not from_file else f"{keys} of {config.path}" if config.path is not None
              else keys) + (", the rest given to start()" if len(from_file) == 1 else "")
    hint = {
        errno.EADDRINUSE: "another program listens there (the SDK's receiver, or an earlier run, still going?): "
                          "stop it, or give another ListenPort",
        errno.EADDRNOTAVAIL: "no interface of this machine has that address (a file from another machine names "
                             "its address): give one of this machine's as ListenIP, or 0.0.0.0 for all",
        errno.EACCES: "a port below 1024 needs privileges: give one above it as ListenPort "
                      "(and the MMSC the new address)",
    }.get(exc.errno)
    shown = f"[{host}]" if ":" in host else host
    text = f"cannot listen on {shown}:{port} ({source}): {exc.strerror or exc}" + (f"; {hint}" if hint else "")
    return OSError(exc.errno, text) if exc.errno is not None else OSError(text)


class MM7Receiver(MM7AbstractReceiver):
    """The standalone listener (manual §4.1.1, 方式1): subclass, `set_config`, `start()`.

    Beyond the SDK, which spoke plain HTTP only: TLS with `tls_cert` and `tls_key` (PEM files), and
    the MMSC's client certificate required with `tls_client_ca` (its CA), as `serve`'s [receiver]
    settings of the same names (which a configuration's `.config.receiver` may hold instead)."""

    server: EmbeddedServer | None = None
    tls_cert = tls_key = tls_client_ca = ""  # (class defaults: a subclass's constructor need not call this one)

    def __init__(self, config: MM7Config | None = None, store=None, *, tls_cert: str | Path = "",
                 tls_key: str | Path = "", tls_client_ca: str | Path = ""):
        self.config = config
        self.store = store
        self.server: EmbeddedServer | None = None
        self.tls_cert, self.tls_key, self.tls_client_ca = str(tls_cert), str(tls_key), str(tls_client_ca)

    def _ssl_context(self, cfg: Config):
        """The TLS context of these settings (over the configuration's [receiver] ones), or None."""
        r = dataclasses.replace(cfg.receiver, tls_cert=self.tls_cert or cfg.receiver.tls_cert,
                                tls_key=self.tls_key or cfg.receiver.tls_key,
                                tls_client_ca=self.tls_client_ca or cfg.receiver.tls_client_ca)
        if bool(r.tls_cert) != bool(r.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        if r.tls_client_ca and not r.tls_cert:
            raise ValueError("tls_client_ca (the MMSC's client certificate) needs the receiver to serve TLS: "
                             "tls_cert and tls_key")
        tls = copy.copy(cfg)
        tls.receiver = r
        return tls.ssl_context()

    def start(self, host: str | None = None, port: int | None = None) -> MM7Receiver:
        if self.server is not None:  # (a second server would leave the first one serving, out of stop()'s reach)
            raise RuntimeError(f"the receiver is already serving at {self.server.url}: stop() it first")
        receiver = self._receiver(self.store)  # (first: it says when there is no configuration)
        cfg = self.config.config
        r = cfg.receiver

        def too_large(peer: str | None, size: int | None):
            # A body the server refuses before reading it, logged and counted as by `serve`
            # (into this configuration's log file): an MMSC's large MO is otherwise lost unseen.
            with logging_for(cfg):
                return receiver.too_large(peer, size)

        def incomplete(*args):  # (a request cut short: likewise into the configuration's log file)
            with logging_for(cfg):
                return receiver.incomplete(*args)

        ssl_context = self._ssl_context(cfg)
        from_file = tuple(key for key, given in (("ListenIP", host or None), ("ListenPort", port)) if given is None)
        host, port = host or r.host, r.port if port is None else port
        try:
            server = EmbeddedServer(self._wsgi(receiver), host, port,
                                    threads=r.threads, max_body=r.max_body, backlog=r.backlog,
                                    ssl_context=ssl_context,
                                    connection_limit=r.connection_limit, request_timeout=r.request_timeout,
                                    keep_alive=r.keep_alive, on_too_large=too_large, on_incomplete=incomplete)
        except OSError as exc:
            raise _cannot_listen(exc, host, port, self.config, from_file) from exc
        self.server = server.start()
        return self

    @property
    def url(self) -> str:
        return self.server.url if self.server else ""

    def join(self, timeout: float | None = None) -> bool:
        """Wait while the receiver serves: the manual's `for(;;);` after `start()`, which a program
        needs because the listening thread, as in the SDK, does not keep it alive. Returns True once
        the receiver has stopped (`stop()` from another thread, or Ctrl-C, which stops
        it: requests in hand are answered first), False when `timeout` seconds passed first."""
        server = self.server
        if server is None or server.thread is None:
            return True
        try:
            server.thread.join(wait_limit(timeout))
        except KeyboardInterrupt:
            self.stop()
            return True
        return not server.thread.is_alive()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class MM7ReceiveServlet(MM7AbstractReceiver):
    """The web-application variant (manual §4.1.2, 方式2) as a WSGI application: subclass, set
    `config`, and serve the instance under any WSGI server (or mount it)."""

    _app: Callable | None = None

    _app_lock = threading.Lock()  # (class-wide: a subclass's constructor need not call this one)

    def __init__(self, config: MM7Config | None = None, store=None):
        self.config = config
        self.store = store
        self._app: Callable | None = None

    def set_config(self, config: MM7Config) -> None:
        # The application is built at the first request: one set afterwards (a reloaded file)
        # was kept and never used.
        with self._app_lock:
            self.config, self._app = config, None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        app = self._app
        if app is None:
            with self._app_lock:  # (the server's first requests arrive together: one receiver)
                if self._app is None:
                    self._app = self._wsgi(self._receiver(self.store))
                app = self._app
        return app(environ, start_response)


__all__ = [
    "DisplayOnly", "MM7Config", "MMContent", "MM7Message", "MM7VASPReq", "MM7SubmitReq", "MM7CancelReq",
    "MM7ReplaceReq", "MM7RSRes",
    "MM7SubmitRes", "MM7CancelRes", "MM7ReplaceRes", "MM7RSErrorRes", "MM7Sender", "MM7RSReq", "MM7DeliverReq",
    "MM7DeliveryReportReq", "MM7ReadReplyReq", "MM7VASPRes", "MM7DeliverRes", "MM7DeliveryReportRes",
    "MM7ReadReplyRes", "MM7VASPErrorRes", "MM7AbstractReceiver", "MM7Receiver", "MM7ReceiveServlet",
]  # fmt: skip
