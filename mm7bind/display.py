"""Text a peer chose, made safe to show on a terminal or in a log line."""

from __future__ import annotations


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
