"""Text a peer chose, made safe to show on a terminal or in a log line."""

from __future__ import annotations

import re

from .xmlsafe import charset_codec


def printable(text: object) -> str:
    """`text` with control characters shown as escapes: a line break in a TransactionID or an
    address would forge a log line or a table row; an escape sequence would drive the terminal."""
    text = "" if text is None else str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown_url(url: str | None) -> str | None:
    """`url` with the password of its user information (`http://sp:secret@mmsc/mm7`, a way
    carriers hand out Basic credentials) replaced by `***`: what logs, messages, error texts and
    records may hold. The user name stays, to tell which account was used."""
    if not url or "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415

    try:
        parts = urlsplit(url)
    except ValueError:  # (an unbalanced [ in the host): keep only what surely holds no password
        return url.split("//", 1)[0] + "//***@" + url.rsplit("@", 1)[-1]
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{host}"))


_SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")
_SECRET_WORDS = ("token", "secret", "password", "passwd", "api-key", "apikey")  # (X-Api-Key, X-Auth-Token)


def mask_headers(headers) -> dict:
    """`headers` as a log may show them: credentials, session cookies and headers named as
    credentials (a carrier's `X-Api-Key` in `headers=`) as `***`, a redirect's password too."""
    def shown(name: str, value: str) -> str:
        lower = name.lower()
        if lower in _SECRET_HEADERS or any(w in lower for w in _SECRET_WORDS):
            return "***"
        return shown_url(value) if lower == "location" else value

    return {k: shown(k, v) for k, v in headers.items()}


_XML_ENCODING = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)")


def body_charset(headers, body: bytes) -> str:
    """The charset a body is written in, for showing it: its Content-Type's, else its XML
    declaration's (a multipart's SOAP part: GB2312 in China), else UTF-8."""
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
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
        text = body[:limit].decode(body_charset(headers, body), "replace").replace("\r", " ").replace("\n", " ")
        shown = text + ("…" if len(body) > limit else "")
    else:
        shown = f"<stream of {len(body)} bytes>"
    return "\n".join(f"{k}: {v}" for k, v in mask_headers(headers).items()) + "\n\n" + shown
