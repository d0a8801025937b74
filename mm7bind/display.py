"""Text a peer chose, made safe to show on a terminal or in a log line."""

from __future__ import annotations

import json
import re
from datetime import datetime


def printable(text: object) -> str:
    """`text` with control characters shown as escapes: a line break in a TransactionID or an
    address would forge a log line or a table row; an escape sequence would drive the terminal."""
    text = "" if text is None else str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def json_text(value: object, **dumps_args) -> str:
    """`json.dumps(value, **dumps_args)` for a terminal: the characters `printable` escapes that
    JSON leaves as they are (C1 controls such as CSI, bidirectional overrides, line separators:
    the peer's, in a subject, a file name or a header) written as \\u escapes, which every JSON
    reader reads back as the same text. (Outside strings, JSON has only printable ASCII and line breaks.)"""
    text = json.dumps(value, **dumps_args)
    if text.replace("\n", "").isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else _json_escape(c) for c in text)


def _json_escape(c: str) -> str:
    code = ord(c)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def shown_time(when: datetime) -> str:
    """A point in time as a person reads it in a table or a log line: local time, to the second."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def shown_url(url: str | None) -> str | None:
    """`url` with the password of its user information (`http://sp:secret@mmsc/mm7`, a way
    carriers hand out Basic credentials) replaced by `***`: what logs, messages, error texts and
    records may hold. The user name stays, to tell which account was used. A query parameter
    named as a credential (`?password=`, `&access_token=`, `?sig=`: gateways that take them
    there) has its value replaced alike."""
    if not url:
        return url
    if "=" in url:
        url = _QUERY_PARAMETER.sub(_masked_parameter, url)
    if "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415

    try:
        parts = urlsplit(url)
    except ValueError:  # (an unbalanced [ in the host): keep only what surely holds no password
        return url.split("//", 1)[0] + "//***@" + url.rsplit("@", 1)[-1]
    if parts.password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        url = urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{host}"))
    # (what urlsplit takes for no authority — sp:secret@host/mm7 and http:/sp:secret@host, without
    # "//" — and a second URL in one text: said in the refusal of them)
    return _USER_PASSWORD.sub(r"\1\2:***@", url)


def shown_start_line(line: str) -> str:
    """An HTTP message's first line as output may show it: a request's target in absolute form
    (`POST http://sp:secret@mmsc/mm7 HTTP/1.1`, as a client sending through a proxy writes it)
    without its password (`shown_url`)."""
    if "@" not in line or line.startswith("HTTP/"):
        return line
    method, space, rest = line.partition(" ")
    if not space:
        return shown_url(line)
    target, space, version = rest.rpartition(" ")
    if not space:
        target, version = rest, ""
    return f"{method} {shown_url(target)}{space}{version}"


# A URL's query parameter (or path parameter, ;jsessionid=) and its value; those whose name says
# credential are masked.
# (A value ends at a comma before a blank or another URL: one text may list several.)
_QUERY_PARAMETER = re.compile(r"([?&;])([^=&#;\s/?]+)=((?:[^&#;\s,]|,(?!\s|[A-Za-z][A-Za-z0-9+.-]*://))+)")
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|auth|signature|session|^sig$|^sign$", re.IGNORECASE)


def _masked_parameter(m: re.Match) -> str:
    separator, name, value = m.groups()
    if not _SECRET_NAME.search(name) or value == "***":
        return m.group(0)
    # (a path parameter ends where the query begins: ;jsessionid=ABC?a=1)
    rest = "?" + value.partition("?")[2] if separator == ";" and "?" in value else ""
    return f"{separator}{name}=***{rest}"


# A user:password@ at the start of a URL (after its scheme and slashes, if any) at the start of
# the text or after a blank, a comma or a semicolon. (A password takes any "@" but the last.)
_USER_PASSWORD = re.compile(r"((?:^|(?<=[\s,;]))(?:[A-Za-z][A-Za-z0-9+.-]*:)?/{0,2})([^\s/?#@:,;\[\]]*):[^\s/?#,;]*@")


# Header names whose values are credentials (Authorization, a carrier's X-Auth-Token or API key, a
# session cookie): shown as "***" (an Authorization's scheme kept, to tell Basic from Digest).
_SECRET_HEADER_WORDS = ("authorization", "token", "key", "secret", "cookie", "password", "passwd",
                        "signature")


_SECRET_HEADER = re.compile("|".join(_SECRET_HEADER_WORDS), re.IGNORECASE)  # (asked of every request's headers)


def is_secret_header(name: str) -> bool:
    return _SECRET_HEADER.search(name) is not None


def shown_header(name: str, value: str) -> str:
    """A header's value as logs and reprs may show it: masked when the name looks secret."""
    if not is_secret_header(name):
        return value
    scheme, sep, _ = str(value).strip().partition(" ")
    return f"{scheme} ***" if sep and "authorization" in name.lower() else "***"


def shown_headers(headers):
    """A mapping or (name, value) pairs, as given, with secret-looking values masked."""
    if hasattr(headers, "items"):
        return {k: shown_header(k, v) for k, v in headers.items()}
    return tuple((k, shown_header(k, v)) for k, v in headers)


def repr_showing_no_secret_header(obj) -> str:
    """A dataclass's repr with the values of its `headers` field masked, and the password of its
    URLs (fields named `url`, `urls`, `..._url`, and an HTTP `start_line`'s target) (`__repr__ =
    this`): reprs get logged and printed."""
    import dataclasses  # noqa: PLC0415

    shown = []
    for f in dataclasses.fields(obj):
        if f.repr:
            value = getattr(obj, f.name)
            if f.name == "headers" and value:
                value = shown_headers(value)
            elif f.name == "start_line" and isinstance(value, str):  # (a captured request's)
                value = shown_start_line(value)
            elif f.name.endswith("url") and isinstance(value, str):
                value = shown_url(value)
            elif f.name.endswith("urls") and isinstance(value, (list, tuple)):
                value = type(value)(shown_url(u) if isinstance(u, str) else u for u in value)
            shown.append(f"{f.name}={value!r}")
    return f"{type(obj).__qualname__}({', '.join(shown)})"


def mask_headers(headers) -> dict:
    """`headers` as a log may show them: secret-looking values masked (`shown_header`), a
    redirect's password too."""
    return {k: shown_url(v) if k.lower() == "location" else shown_header(k, v) for k, v in headers.items()}


_XML_ENCODING = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)")


def body_charset(headers, body: bytes) -> str:
    """The charset a body is written in, for showing it: its Content-Type's, else its XML
    declaration's (a multipart's SOAP part: GB2312 in China), else UTF-8."""
    # (imported here: printing a table or JSON, as the command's lightest uses do, needs no MIME or XML)
    from .mime import header_value  # noqa: PLC0415
    from .xmlsafe import charset_codec  # noqa: PLC0415

    ctype = header_value(headers, "content-type") or ""
    label = next((v.strip().strip('"') for k, _, v in (p.partition("=") for p in ctype.split(";")[1:])
                  if k.strip().lower() == "charset"), None)
    if label is None:
        found = _XML_ENCODING.search(body[:2000])
        label = found.group(1).decode("ascii") if found else None
    return charset_codec(label)[0] or "utf-8"


def shown_http(headers, body, limit: int = 4000) -> str:
    """An HTTP message for a DEBUG log: its headers (credentials masked), a blank line, and the
    start of its body in the charset it is written in, on one line."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body)
        text = body[:limit].decode(body_charset(headers, body), "replace")
        text = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
        shown = printable(text) + ("…" if len(body) > limit else "")  # (a peer's body: no escape sequence either)
    else:
        shown = f"<stream of {len(body)} bytes>"
    return "\n".join(printable(f"{k}: {v}") for k, v in mask_headers(headers).items()) + "\n\n" + shown


_HTML_START = re.compile(rb"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_UNSHOWN = re.compile(r"<(script|style|head)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def html_page(body: bytes, headers=None) -> bool:  # noqa: ANN001
    """Whether an answer is an HTML page: typed so, or beginning as one (whatever its type says)."""
    ctype = next((v for k, v in (headers or {}).items() if k.lower() == "content-type"), "") or ""
    return "html" in ctype.lower() or _HTML_START.match(bytes(body[:4096])) is not None


def excerpt(body: bytes, headers=None, limit: int = 120) -> str:  # noqa: ANN001
    """A peer's answer in a few readable words, for an error: an HTML page (a web server or proxy
    where an MM7 peer or an application was expected) as `an HTML page: "its title"` — its text
    without tags when it has no title —, other text on one line; in its charset, cut at `limit`.
    Not a bytes repr (b'...') nor the page's markup. A control character other than white space
    stays, as the peer sent it: what shows it (a log line, a terminal) makes it `printable`."""
    import html  # noqa: PLC0415

    head = bytes(body[:64 * 1024])
    text = head.decode(body_charset(headers or {}, head), "replace")
    page = html_page(head, headers)
    if page:
        title = _TITLE.search(text)
        text = title.group(1) if title and title.group(1).strip() else _TAG.sub(" ", _UNSHOWN.sub(" ", text))
        text = html.unescape(text)
    text = " ".join(text.split())
    if len(text) > limit or len(body) > len(head):
        text = text[:limit - 1].rstrip() + "…"
    return f'an HTML page: "{text}"' if page else text
